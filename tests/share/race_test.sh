#!/bin/sh
# tests/share/race_test.sh BUILD_DIR SRC_DIR: a change and a revoke crossing
# (issue 6 §4 "Races"; DESIGN.md "Scope and permissions", the one race), with
# real agents on loopback. Martin has two devices a1 a2, Carol one (c). a1
# shares P2 with Carol (write), then revokes it while offline. Carol edits P2
# and adds a consultation after the revoke; a2, not knowing the revoke yet,
# accepts both. When a1 comes back, it refuses them (audited) and writes its
# valid value again: a2 converges on it (the edit undone, the late
# consultation deleted) without a conflict, and a1 never holds Carol's values.
. "$(dirname "$0")/../agent/lib.sh"

for n in a1 a2 c; do newdb $n; done
for p in P1 P2; do
	q a1 "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le,ville)
	     VALUES('Nom','$p','1980-01-01','F','2024-01-01','Lyon')"
done
q a1 "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     SELECT id,'Martin','2024-03-01','m-'||prenom,5000 FROM patient"
"$cabsync" init --home "$tmp/h_a1" --db "$tmp/a1.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name a1 >/dev/null 2>&1 || fail "init a1"
"$cabsync" init --home "$tmp/h_a2" --db "$tmp/a2.db" --tables "$tables" \
	--practitioner Martin --device-name a2 --same-cabinet-as "$tmp/h_a1" >/dev/null 2>&1 ||
	fail "init a2"
"$cabsync" init --home "$tmp/h_c" --db "$tmp/c.db" --tables "$tables" \
	--practitioner Carol --device-name c --same-cabinet-as "$tmp/h_a2" >/dev/null 2>&1 ||
	fail "init c"
for n in a1 a2; do cp "$tmp/h_c/roster.ini" "$tmp/h_$n/roster.ini"; done
cli() {
	"$cabsync" "$@" >>"$tmp/cli.log" 2>&1
}
p2=$(q a1 "SELECT id FROM patient WHERE prenom='P2'")
start a1
start a2 --peer "127.0.0.1:$(port a1)"
start c --peer "127.0.0.1:$(port a2)"
until_eq 20 '"$cabsync" practitioners --home "$tmp/h_a1" | grep -c "Carol"' 1
until_eq 20 'q a2 "SELECT count(*) FROM consultation"' 2
cli share "$p2" --with Carol --perm write --home "$tmp/h_a1" || fail "share P2"
until_eq 20 'q c "SELECT group_concat(prenom) FROM patient"' P2
until_eq 20 'q c "SELECT count(*) FROM consultation"' 1

# a1 goes offline and revokes there: nobody else knows yet
stop a1
cli revoke "$p2" --from Carol --home "$tmp/h_a1" || fail "revoke"
sleep 0.2
# Carol edits P2 and adds a consultation after the revoke; a2 accepts them
q c "UPDATE patient SET ville='Late'"
q c "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     SELECT id,'Carol','2024-07-01','late-carol',4000 FROM patient"
until_eq 20 'q a2 "SELECT ville FROM patient WHERE prenom=\"P2\""' Late
until_eq 20 'q a2 "SELECT count(*) FROM consultation WHERE motif=\"late-carol\""' 1
stop c

# a1 comes back: it refuses the crossed changes and writes its values again
start a1 --peer "127.0.0.1:$(port a2)"
until_eq 30 'q a1 "SELECT count(*) > 0 FROM cs_audit WHERE action=5 AND detail LIKE \"change refused%\""' 1
until_eq 30 'q a2 "SELECT ville FROM patient WHERE prenom=\"P2\""' Lyon
until_eq 30 'q a2 "SELECT count(*) FROM consultation WHERE motif=\"late-carol\""' 0
grep -q "written again (late revoke)" "$tmp/a1.log" || fail "a1 did not log the re-assertion"
q a1 "SELECT count(*) > 0 FROM cs_audit WHERE action=5 AND detail LIKE 'valid value written again over % refused row(s) (late revoke)'" |
	grep -qx 1 || fail "a1 did not audit the re-assertion"
# a1 never held Carol's late values; a2 recorded no conflict (a1's dot covers Carol's)
[ "$(q a1 "SELECT ville FROM patient WHERE prenom='P2'")" = Lyon ] || fail "a1 applied the late edit"
[ "$(q a1 "SELECT count(*) FROM consultation WHERE motif='late-carol'")" = 0 ] ||
	fail "a1 applied the late consultation"
[ "$(q a2 "SELECT count(*) FROM cs_conflicts")" = 0 ] || fail "a2 recorded a conflict"
# both of Martin's devices hold the same data, every row of both patients
[ "$(q a2 "SELECT count(*) FROM patient")/$(q a2 "SELECT count(*) FROM consultation")" = 2/2 ] ||
	fail "a2 lost rows"
until_eq 20 'canon a2' "$(canon a1)"
# the repair is one write, not a loop: a1's db_version settles
v1=$(q a1 "SELECT max(v) FROM cs_ids")
sleep 2
[ "$(q a1 "SELECT max(v) FROM cs_ids")" = "$v1" ] || fail "a1 keeps re-writing"
for n in a1 a2; do
	"$cabsync" audit verify --home "$tmp/h_$n" >/dev/null || fail "audit verify $n"
done
echo ok
