#!/bin/sh
# tests/relay/colleague_test.sh BUILD_DIR SRC_DIR: a colleague who is never
# online with the owner gets a shared patient by the shared-folder relay
# only, and nothing of an unshared one (issue 7: recipients are per patient).
# A (Martin) owns P1 and P2; P1 is shared read with B (Durand), P2 is not and
# holds a canary. A and B never run at the same time:
# - B's bundles carry the share records (B applies them first: no row held),
#   P1's rows and edits; B's database and WAL never hold P2's canary, nor does
#   any byte of the folder; B's app cannot write P1 (read share);
# - a device of a practitioner with no share (C, Petit) gets no bundle;
# - A shares P2 later, with no new edit: A seals P2 from the start for B
#   (the backfill of a newly shared patient); that bundle expires unread and
#   A seals P2 from the start again; B gets it alone;
# - A revokes P1, with no edit: a bundle of share records only reaches B,
#   which stores the revocation (audited) and may no longer see P1.
. "$(dirname "$0")/../agent/lib.sh"

nas=$tmp/nas
mkdir -p "$nas"
canary=CanaryUnsharedOkapiZ
newdb a
newdb b
newdb c
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Partage','P1','1980-01-01','M','2024-01-01');
     INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le,antecedents)
     VALUES('Prive','P2','1981-01-01','F','2024-01-01','$canary');
     INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     VALUES(1,'Martin','2024-03-01','c-p1',5000),(2,'Martin','2024-03-02','c-p2 $canary',5000)"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Durand --device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
"$cabsync" init --home "$tmp/h_c" --db "$tmp/c.db" --tables "$tables" \
	--practitioner Petit --device-name nuc --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init c"
for h in a b c; do
	printf '[relay]\nbackend = folder\ndir = %s\nafter = 0\ninterval = 300ms\nlifetime = 1h\n' \
		"$nas" >>"$tmp/h_$h/cabsync.ini"
done
pracid() {
	sed -n '/^\[practitioner\]/,/^\[/s/^id = //p' "$tmp/h_$1/cabsync.ini"
}
devid() {
	sed -n '/^\[device\]/,/^\[/s/^id = //p' "$tmp/h_$1/cabsync.ini"
}
cab=$(sed -n 's/^id = //p' "$tmp/h_a/cabsync.ini" | head -1)
nfiles() {
	find "$nas/$cab/$1" -maxdepth 1 -name '*.csb' 2>/dev/null | wc -l
}
idb=$(devid b)
idc=$(devid c)
no_canary() { # no byte of B's database files, the folder, B's quarantine
	if grep -rqa "$canary" "$nas" "$tmp"/b.db* "$tmp/h_b"; then fail "canary: $1"; fi
}
"$cabsync" share 1 --with "$(pracid b)" --perm read --home "$tmp/h_a" >/dev/null || fail "share P1"

# --- 1. A alone: a bundle for B (P1 only), none for C
start a
until_eq 10 "nfiles $idb" 1
q a "UPDATE patient SET telephone='0102030405' WHERE prenom='P1';
     UPDATE patient SET telephone='0607080910', ville='$canary' WHERE prenom='P2'"
until_eq 10 "q a \"SELECT ifnull(sum(count),0) FROM cs_audit WHERE action=0 AND detail LIKE
	'relay bundle % sealed for device ${idb%????????????????}%'\"" 3
sleep 1
stop a
[ "$(nfiles "$idc")" = 0 ] || fail "C (no share) got a bundle"
no_canary "in the folder"
grep -q "sealed for device ${idc%????????????????}" "$tmp/a.log" && fail "A sealed for C"
# what C may not see is not extracted for it again: its point moved on
grep -q "^a $idc [1-9]" "$tmp/h_a/relay-out" || fail "C's relay point: $(cat "$tmp/h_a/relay-out")"

# --- 2. B alone: P1 with its edit, nothing of P2; the records came first
start b
until_eq 20 'q b "SELECT telephone FROM patient"' 0102030405
until_eq 10 "nfiles $idb" 0
stop b
[ "$(q b "SELECT group_concat(prenom) FROM patient")" = P1 ] || fail "B has other patients"
[ "$(q b "SELECT group_concat(motif) FROM consultation")" = c-p1 ] || fail "B has other rows"
[ "$(q b "SELECT count(*) FROM cs_held")" = 0 ] || fail "B holds rows"
[ "$(q b "SELECT count(*) FROM cs_audit WHERE action=5")" = 0 ] || fail "B refused something"
[ "$(q b "SELECT count(*) FROM cs_audit WHERE action=10")" -ge 1 ] || fail "B: import audit"
"$cabsync" shares --home "$tmp/h_b" | grep -q "Durand  *read" || fail "B: no share record"
if sqlite3 -cmd ".timeout 5000" "$tmp/b.db" "UPDATE patient SET ville='Nope'" 2>"$tmp/err"; then
	fail "B wrote a read-only patient"
fi
grep -q "patient shared read-only" "$tmp/err" || fail "no read-only refusal: $(cat "$tmp/err")"
no_canary "after the import"

# --- 3. A shares P2 later, no edit: P2 goes from the start to B. With a 2 s
# lifetime the bundle holding it expires unread: A seals P2 again from the start
sed -i 's/^lifetime = 1h$/lifetime = 2s/' "$tmp/h_a/cabsync.ini"
"$cabsync" share 2 --with "$(pracid b)" --perm read --home "$tmp/h_a" >/dev/null || fail "share P2"
start a
until_eq 10 "q a \"SELECT count(*) > 0 FROM cs_audit WHERE action=0 AND detail LIKE
	'relay bundle % delivered to device ${idb%????????????????}%'\"" 1
until_eq 15 "q a \"SELECT count(*) > 0 FROM cs_audit WHERE action=0 AND detail LIKE
	'relay bundle % for device ${idb%????????????????} expired unread%'\"" 1
until_eq 10 "nfiles $idb" 1
stop a
sed -i 's/^lifetime = 2s$/lifetime = 1h/' "$tmp/h_a/cabsync.ini"
[ "$(nfiles "$idc")" = 0 ] || fail "C got a bundle"
start b
until_eq 20 'q b "SELECT ville FROM patient WHERE prenom=\"P2\""' "$canary"
until_eq 10 "nfiles $idb" 0
stop b
[ "$(q b "SELECT count(*) FROM consultation")" = 2 ] || fail "B: P2's consultation"
[ "$(q b "SELECT count(*) FROM cs_held")" = 0 ] || fail "B holds rows"
[ "$(q c "SELECT count(*) FROM patient")" = 0 ] || fail "C has rows"

# --- 4. A revokes P1 (no edit): the record alone goes to B by the relay.
# (A's last 2 s bundle is past its expiry: A cannot tell that B imported it
# and would seal P2 again; B has it, so it is dropped from A's outbox.)
sed -i '/^b /d' "$tmp/h_a/relay-out"
"$cabsync" revoke 1 --from "$(pracid b)" --home "$tmp/h_a" >/dev/null || fail "revoke P1"
start a
until_eq 10 "nfiles $idb" 1
sleep 1
stop a
[ "$(nfiles "$idc")" = 0 ] || fail "C got a bundle"
start b
until_eq 20 'q b "SELECT count(*) FROM cs_audit WHERE action=4 AND detail LIKE \"revoke received%\""' 1
until_eq 10 "nfiles $idb" 0
stop b
[ "$(q b "SELECT count(*) FROM cs_audit WHERE action=5")" = 0 ] || fail "B refused something"
grep -q "imported bundle .*: 0 rows" "$tmp/b.log" || fail "no records-only bundle imported"
# nothing more to send once B has the records: A seals nothing again
start a
sleep 2
stop a
[ "$(nfiles "$idb")" = 0 ] || fail "A sealed the records again"
echo "ok"
