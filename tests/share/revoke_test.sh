#!/bin/sh
# tests/share/revoke_test.sh BUILD_DIR SRC_DIR: the end of a share with real
# agents on loopback (issue 6 §2, §4). A (Martin) shares P2 with C (Carol,
# devices c1 c2) write, C writes a consultation, then A revokes: an edit c1
# made offline after the revoke is refused by A and audited, both C devices
# purge their copy (audited) and A keeps every row, the consultation C wrote
# while allowed included; A's later edits do not reach C. A share --until a
# time ends by itself (B's copy purged, A's later edits stay away). A
# transfer hands P3 to B: B becomes the owner (it may share it), A's copy goes.
. "$(dirname "$0")/../agent/lib.sh"

diag_dbs="a b c1 c2"
for n in a b c1 c2; do newdb $n; done
for p in P1 P2 P3 P4; do
	q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
	     VALUES('Nom','$p','1980-01-01','F','2024-01-01')"
done
q a "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     SELECT id,'Martin','2024-03-01','m-'||prenom,5000 FROM patient"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name a >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Bob --device-name b --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init b"
"$cabsync" init --home "$tmp/h_c1" --db "$tmp/c1.db" --tables "$tables" \
	--practitioner Carol --device-name c1 --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init c1"
"$cabsync" init --home "$tmp/h_c2" --db "$tmp/c2.db" --tables "$tables" \
	--practitioner Carol --device-name c2 --same-cabinet-as "$tmp/h_c1" >/dev/null 2>&1 || fail "init c2"
for n in a b c1; do cp "$tmp/h_c2/roster.ini" "$tmp/h_$n/roster.ini"; done
cli() {
	"$cabsync" "$@" >>"$tmp/cli.log" 2>&1
}
pid() {
	q a "SELECT id FROM patient WHERE prenom='$1'"
}
start a
start b --peer "127.0.0.1:$(port a)"
start c1 --peer "127.0.0.1:$(port a)"
start c2 --peer "127.0.0.1:$(port c1)"
until_eq 20 '"$cabsync" practitioners --home "$tmp/h_a" | grep -c "Bob\|Carol"' 2

# --- revoke ---
cli share "$(pid P2)" --with Carol --perm write --home "$tmp/h_a" || fail "share P2"
until_eq 20 'q c2 "SELECT group_concat(prenom) FROM patient"' P2
q c1 "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
      SELECT id,'Carol','2024-06-01','by-carol',4000 FROM patient"
until_eq 20 'q a "SELECT count(*) FROM consultation WHERE motif=\"by-carol\""' 1
until_eq 20 'q c2 "SELECT count(*) FROM consultation WHERE motif=\"by-carol\""' 1
stop c1
cli revoke "$(pid P2)" --from Carol --home "$tmp/h_a" || fail "revoke"
q a "SELECT count(*) FROM cs_audit WHERE action=4" | grep -qx 1 || fail "revoke not audited on a"
sleep 0.2
# c1, offline, edits P2 after the revoke: refused everywhere
q c1 "UPDATE patient SET ville='Late'"
# (c1 listens on a new port now: it dials c2 itself, and b for the transfer below)
start c1 --peer "127.0.0.1:$(port a)" --peer "127.0.0.1:$(port c2)" --peer "127.0.0.1:$(port b)"
until_eq 30 'q a "SELECT count(*) > 0 FROM cs_audit WHERE action=5 AND detail LIKE \"change refused%\""' 1
for n in c1 c2; do
	until_eq 30 "q $n \"SELECT count(*) FROM patient\"" 0
	[ "$(q $n "SELECT count(*) FROM consultation")" = 0 ] || fail "$n kept consultations"
	q $n "SELECT count(*) FROM cs_audit WHERE action=4 AND detail LIKE '%purged%'" | grep -qx 1 ||
		fail "$n: purge not audited"
done
# A keeps every row, the consultation C wrote while allowed included
[ "$(q a "SELECT count(*) FROM patient")" = 4 ] || fail "a lost a patient"
[ "$(q a "SELECT count(*) FROM consultation")" = 5 ] || fail "a lost a consultation"
[ "$(q a "SELECT ifnull(ville,'-') FROM patient WHERE prenom='P2'")" = - ] || fail "a applied a late edit"
# A's later edits do not reach C
q a "UPDATE patient SET ville='After' WHERE prenom='P2'"
sleep 2
for n in c1 c2; do
	[ "$(q $n "SELECT count(*) FROM patient")" = 0 ] || fail "an edit after the revoke reached $n"
done

# --- --until: the share ends by itself ---
until=$(date -u -d "@$(($(date +%s) + 15))" +%Y-%m-%dT%H:%M:%S)
cli share "$(pid P1)" --with Bob --perm read --until "$until" --home "$tmp/h_a" || fail "share --until"
until_eq 20 'q b "SELECT group_concat(prenom) FROM patient"' P1
"$cabsync" shares --home "$tmp/h_b" | grep -q "until ${until}Z" || fail "shares: no end date"
until_eq 45 'q b "SELECT count(*) FROM patient"' 0
q a "UPDATE patient SET ville='Later' WHERE prenom='P1'"
sleep 2
[ "$(q b "SELECT count(*) FROM patient")" = 0 ] || fail "an edit after --until reached b"

# --- transfer: P3 to Bob ---
cli transfer "$(pid P3)" --to Bob --home "$tmp/h_a" || fail "transfer"
until_eq 20 'q b "SELECT group_concat(prenom) FROM patient"' P3
until_eq 30 'q a "SELECT count(*) FROM patient WHERE prenom=\"P3\""' 0
# the new owner may share it; the old one no longer has it
p3b=$(q b "SELECT id FROM patient WHERE prenom='P3'")
cli share "$p3b" --with Carol --perm read --home "$tmp/h_b" || fail "b shares its new patient"
until_eq 20 'q c2 "SELECT group_concat(prenom) FROM patient"' P3
for n in a b c1 c2; do
	"$cabsync" audit verify --home "$tmp/h_$n" >/dev/null || fail "audit verify $n"
done
echo ok
