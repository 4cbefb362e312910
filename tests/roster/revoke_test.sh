#!/bin/sh
# tests/roster/revoke_test.sh BUILD_DIR SRC_DIR: `cabsync device revoke` with
# real agents on 127.0.0.1 (docs/SECURITY.md "Lost or stolen laptop").
# A (admin) and B run; C (not revoked) and R1, R2 (to be revoked) are off.
# A revokes R1 then R2: two rotations (epoch 3), delivered to B over its
# session. Then R1, offline during the rotation and still holding the epoch 1
# key, cannot reconnect to A nor to B (refused by the roster check, audited),
# and gets nothing; C, offline across both rotations, reconnects on its old
# key, is handed the new keys (sealed to it) and syncs again (C is Durand's:
# Martin shares both patients with Durand, write).
. "$(dirname "$0")/../agent/lib.sh"
export CS_NO_MDNS=1

for n in a b c r1 r2; do newdb $n; done
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" --practitioner Martin \
	--device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init b"
"$cabsync" init --home "$tmp/h_c" --db "$tmp/c.db" --tables "$tables" --practitioner Durand \
	--device-name durand --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init c"
for n in r1 r2; do
	"$cabsync" init --home "$tmp/h_$n" --db "$tmp/$n.db" --tables "$tables" \
		--practitioner Martin --device-name $n --same-cabinet-as "$tmp/h_a" \
		>/dev/null 2>&1 || fail "init $n"
done
epoch() {
	"$cabsync" device list --home "$tmp/h_$1" --json | sed 's/.*"epoch":\([0-9]*\).*/\1/'
}
keyid() {
	"$cabsync" device list --home "$tmp/h_$1" --json | sed 's/.*"key_id":"\([0-9a-f]*\)".*/\1/'
}
revoked() { # revoked HOME NAME: true/false as HOME's roster says
	"$cabsync" device list --home "$tmp/h_$1" --json |
		sed 's/.*"name":"'"$2"'"[^}]*"revoked":\([a-z]*\).*/\1/'
}

start a
start b --peer "127.0.0.1:$(port a)"
start c --peer "127.0.0.1:$(port a)"
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Avant','A','1980-01-01','M','2024-01-01')"
"$cabsync" share 1 --with Durand --perm write --home "$tmp/h_a" >/dev/null || fail "share 1"
until_eq 20 'q b "SELECT count(*) FROM patient"' 1
until_eq 20 'q c "SELECT count(*) FROM patient"' 1
# b learnt the whole roster from a (it was made before r1 and r2 existed)
until_eq 10 'revoked b r2' false
stop c

# two rotations while c, r1 and r2 are off
"$cabsync" device revoke r1 --home "$tmp/h_a" >"$tmp/rev1.out" || fail "revoke r1"
grep -q "epoch 2" "$tmp/rev1.out" || fail "revoke r1: $(cat "$tmp/rev1.out")"
until_eq 20 'epoch b' 2
"$cabsync" device revoke r2 --home "$tmp/h_a" >/dev/null || fail "revoke r2"
until_eq 20 'epoch b' 3
[ "$(keyid b)" = "$(keyid a)" ] || fail "b's key of epoch 3 differs from a's"
[ "$(revoked b r1)" = true ] || fail "b does not know r1 is revoked"
[ "$(revoked b r2)" = true ] || fail "b does not know r2 is revoked"
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Apres','B','1980-01-01','F','2024-01-01')"
"$cabsync" share 2 --with Durand --perm write --home "$tmp/h_a" >/dev/null || fail "share 2"
until_eq 20 'q b "SELECT count(*) FROM patient"' 2
sqlite3 "$tmp/a.db" "SELECT detail FROM cs_audit" | grep -q "rotated to epoch 3" ||
	fail "rotation not in a's audit trail"

# r1 comes back with its old key: refused by a and by b, whatever psk
start r1 --peer "127.0.0.1:$(port a)" --peer "127.0.0.1:$(port b)"
until_eq 20 'grep -q "device revoked (after message 3)" "$tmp/a.log" && echo y' y
until_eq 20 'grep -q "device revoked (after message 3)" "$tmp/b.log" && echo y' y
sleep 1
[ "$(q r1 "SELECT count(*) FROM patient")" = 0 ] || fail "the revoked r1 got data"
[ "$(epoch r1)" = 1 ] || fail "the revoked r1 got a new key"
# a dialing r1 is refused too (r1 cannot read a's message 1 of epoch 3; a
# steps back to epoch 1 and refuses r1 after message 2)
stop r1
start r1
stop a
start a --peer "127.0.0.1:$(port r1)"
until_eq 30 'grep -q "device revoked (after message 2)" "$tmp/a.log" && echo y' y
stop r1

# c, off across both rotations and not revoked, reconnects and catches up
start c --peer "127.0.0.1:$(port a)"
until_eq 30 'epoch c' 3
[ "$(keyid c)" = "$(keyid a)" ] || fail "c's key of epoch 3 differs from a's"
until_eq 30 'q c "SELECT count(*) FROM patient"' 2
q c "UPDATE patient SET ville='Lyon' WHERE nom='Apres'"
until_eq 20 'q a "SELECT ville FROM patient WHERE nom='"'Apres'"'"' Lyon
grep -q "roster and keys only" "$tmp/a.log" || fail "no old-epoch session on a"

# a PC enrolled after the rotations gets the current key and the whole roster
newdb e
"$cabsync" invite --home "$tmp/h_a" --listen 127.0.0.1 >"$tmp/inv.out" 2>>"$tmp/inv.log" &
inv=$!
pids="$pids $inv"
until_eq 10 'grep -c "^port: " "$tmp/inv.out"' 1
"$cabsync" join "$(sed -n 's/^invite code: //p' "$tmp/inv.out")" --home "$tmp/h_e" \
	--db "$tmp/e.db" --peer "127.0.0.1:$(sed -n 's/^port: //p' "$tmp/inv.out")" \
	--device-name e >/dev/null 2>"$tmp/join.err" || fail "join: $(cat "$tmp/join.err")"
wait "$inv" || fail "invite"
[ "$(epoch e)" = 3 ] || fail "the new PC is not on epoch 3"
[ "$(revoked e r1)" = true ] || fail "the new PC does not know r1 is revoked"
start e
until_eq 30 'q e "SELECT count(*) FROM patient"' 2
echo ok
