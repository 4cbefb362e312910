#!/bin/sh
# tests/share/basic_test.sh BUILD_DIR SRC_DIR: shares between three
# practitioners with real agents on loopback (issue 6 §4). A (Martin) shares
# P1 with B (Bob) read and P2 with C (Carol, two devices c1 c2) write. B and
# C get exactly those patients' rows; B's app cannot write P1 (a clear
# error); a change of P1 forged on B (read-only trigger dropped) is refused
# by A and audited; C's edits of P2 reach A; B re-sharing P1 is refused, so
# are forged share records (no right; bad signature); a canary in an
# unshared patient never reaches B's or C's database or WAL files; a
# consultation moved from P1 to an unshared patient leaves B (A keeps it).
. "$(dirname "$0")/../agent/lib.sh"

for n in a b c1 c2; do newdb $n; done
: >"$tmp/cli.log"
pat() {
	q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le,antecedents)
	     VALUES('$1','$2','1980-01-01','M','2024-01-01','$3')"
}
pat Un P1 'rien'
pat Deux P2 'rien'
pat Trois P3 'CANARY-7f3a9e-secret'
q a "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     VALUES(1,'Martin','2024-03-01','c1-p1',5000),(2,'Martin','2024-03-02','c2-p2',5000),
           (3,'Martin','2024-03-03','c3-p3 CANARY-7f3a9e-secret',5000)"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name a >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Bob --device-name b --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init b"
"$cabsync" init --home "$tmp/h_c1" --db "$tmp/c1.db" --tables "$tables" \
	--practitioner Carol --device-name c1 --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init c1"
"$cabsync" init --home "$tmp/h_c2" --db "$tmp/c2.db" --tables "$tables" \
	--practitioner Carol --device-name c2 --same-cabinet-as "$tmp/h_c1" >/dev/null 2>&1 || fail "init c2"
# c2's roster holds all four devices: every device gets it
for n in a b c1; do cp "$tmp/h_c2/roster.ini" "$tmp/h_$n/roster.ini"; done
sh_() {
	echo "+ $*" >>"$tmp/cli.log"
	"$cabsync" "$@" 2>>"$tmp/cli.log"
}
start a
start b --peer "127.0.0.1:$(port a)"
start c1 --peer "127.0.0.1:$(port a)"
start c2 --peer "127.0.0.1:$(port c1)"
# every device learns every practitioner's name (NAME records)
until_eq 20 '"$cabsync" practitioners --home "$tmp/h_a" | grep -c "Bob\|Carol"' 2
# nothing is visible to a colleague before a share
sleep 1
[ "$(q b "SELECT count(*) FROM patient")" = 0 ] || fail "b sees a patient before any share"
sh_ share 1 --with Bob --perm read --home "$tmp/h_a" --note "avis" >/dev/null || fail "share P1"
sh_ share 2 --with Carol --perm write --home "$tmp/h_a" >/dev/null || fail "share P2"
until_eq 20 'q b "SELECT group_concat(prenom) FROM patient"' P1
until_eq 20 'q b "SELECT group_concat(motif) FROM consultation"' c1-p1
until_eq 20 'q c1 "SELECT group_concat(prenom) FROM patient"' P2
until_eq 20 'q c2 "SELECT group_concat(prenom) FROM patient"' P2
until_eq 20 'q c2 "SELECT group_concat(motif) FROM consultation"' c2-p2

# exactly the shared patients' rows
[ "$(q b "SELECT count(*) FROM patient")/$(q b "SELECT count(*) FROM consultation")" = 1/1 ] ||
	fail "b has other rows"
for n in c1 c2; do
	[ "$(q $n "SELECT count(*) FROM patient")/$(q $n "SELECT count(*) FROM consultation")" = 1/1 ] ||
		fail "$n has other rows"
done
"$cabsync" shares --home "$tmp/h_b" | grep -q "Bob  *read .*note: avis" || fail "shares on b"

# read: B's app cannot write P1's rows (BEFORE triggers, a clear message)
p1b=$(q b "SELECT id FROM patient")
if sqlite3 -cmd ".timeout 5000" "$tmp/b.db" "UPDATE patient SET ville='Nope' WHERE id=$p1b" 2>"$tmp/err"; then
	fail "b wrote a read-only patient"
fi
grep -q "patient shared read-only" "$tmp/err" || fail "no clear message: $(cat "$tmp/err")"
if sqlite3 -cmd ".timeout 5000" "$tmp/b.db" "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,
	tarif_cents) VALUES($p1b,'Bob','2024-05-05','x',1)" 2>"$tmp/err"; then
	fail "b added a consultation to a read-only patient"
fi
grep -q "patient shared read-only" "$tmp/err" || fail "no clear message (insert)"
# a change forged on B (trigger dropped): A refuses it and audits it
sqlite3 -cmd ".timeout 5000" "$tmp/b.db" "DROP TRIGGER cs_ro_1_u; UPDATE patient SET ville='Forged' WHERE id=$p1b" ||
	fail "forging on b"
until_eq 20 'q a "SELECT count(*) > 0 FROM cs_audit WHERE action=5 AND detail LIKE \"change refused%\""' 1
[ "$(q a "SELECT ifnull(ville,'-') FROM patient WHERE prenom='P1'")" = - ] || fail "a applied a forged change"
"$cabsync" audit --home "$tmp/h_a" --patient 1 | grep -q "refused" || fail "audit list: no refusal"

# write: C's edits of P2 reach A, both devices of C
q c2 "UPDATE patient SET ville='Lyon'"
until_eq 20 'q a "SELECT ville FROM patient WHERE prenom=\"P2\""' Lyon
q c1 "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
      SELECT id,'Carol','2024-06-01','by-carol',4000 FROM patient"
until_eq 20 'q a "SELECT count(*) FROM consultation WHERE motif=\"by-carol\""' 1

# B may not re-share P1: refused locally
set +e
"$cabsync" share "$p1b" --with Carol --perm read --home "$tmp/h_b" >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ $rc = 3 ] || fail "b re-sharing P1 exits $rc, want 3"
grep -q "refused" "$tmp/err" || fail "re-share: no sentence"
# ... and a forged record (stored on B bypassing the checks) is refused by A
carol=$(sed -n '/^\[practitioner\]/,/^$/s/^id = //p' "$tmp/h_c1/cabsync.ini")
adev=$(sed -n '/^\[device\]/,/^$/s/^id = //p' "$tmp/h_a/cabsync.ini")
"$build/tests/share_forge" "$tmp/h_b" grant write "$p1b" "$carol" || fail "forge 1"
until_eq 20 'q a "SELECT count(*) FROM cs_audit WHERE action=5 AND detail LIKE \"share record refused (grant%no right%\" OR detail LIKE \"share record refused (grant%only the owner%\""' 1
# ... and one that claims to be signed by A (bad signature)
"$build/tests/share_forge" "$tmp/h_b" grant full "$p1b" "$carol" "$adev" || fail "forge 2"
until_eq 20 'q a "SELECT count(*) FROM cs_audit WHERE action=5 AND detail LIKE \"%signature does not verify%\""' 1
sleep 1
[ "$(q c1 "SELECT count(*) FROM patient")" = 1 ] || fail "a forged share reached c1"
[ "$(q a "SELECT count(*) FROM cs_shares WHERE perm != 'owner'")" = 2 ] || fail "a stored a forged share"

# a consultation moved from P1 (shared) to P3 (not shared): B loses it, A keeps it
q a "UPDATE consultation SET patient_id=3 WHERE motif='c1-p1'"
until_eq 20 'q b "SELECT count(*) FROM consultation"' 0
[ "$(q a "SELECT count(*) FROM consultation WHERE patient_id=3")" = 2 ] || fail "a lost the moved row"

# the canary of the unshared patient never reached B or C (database and WAL)
for n in b c1 c2; do
	for f in "$tmp/$n.db" "$tmp/$n.db-wal"; do
		[ -f "$f" ] || continue
		if grep -q "CANARY-7f3a9e" "$f"; then fail "canary found in $f"; fi
	done
done
grep -q "CANARY-7f3a9e" "$tmp/a.db" "$tmp/a.db-wal" || fail "the canary check is blind"
# the audit trail of every device is intact
for n in a b c1 c2; do
	"$cabsync" audit verify --home "$tmp/h_$n" >/dev/null || fail "audit verify $n"
done
echo ok
