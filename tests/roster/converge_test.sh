#!/bin/sh
# tests/roster/converge_test.sh BUILD_DIR SRC_DIR: two concurrent rotations.
# A and B (both devices of the admin Martin) are apart; A revokes Y, B
# revokes Z: each makes its own key for epoch 2. When they meet again (with
# X, which heard of neither), every device keeps the rotation whose signed
# record has the lowest hash, the winner's key is delivered, and all three end
# on one key (same key id), with Y and Z revoked everywhere and data syncing.
. "$(dirname "$0")/../agent/lib.sh"
export CS_NO_MDNS=1

for n in a b x y z; do newdb $n; done
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" --practitioner Martin \
	--device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init b"
"$cabsync" init --home "$tmp/h_x" --db "$tmp/x.db" --tables "$tables" --practitioner Durand \
	--device-name x --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init x"
for n in y z; do
	"$cabsync" init --home "$tmp/h_$n" --db "$tmp/$n.db" --tables "$tables" \
		--practitioner Durand --device-name $n --same-cabinet-as "$tmp/h_a" \
		>/dev/null 2>&1 || fail "init $n"
done
# everyone knows everyone (signed records: a plain copy is fine)
for n in b x; do cp "$tmp/h_a/roster.ini" "$tmp/h_$n/roster.ini"; done
devjson() {
	"$cabsync" device list --home "$tmp/h_$1" --json
}
epoch() {
	devjson "$1" | sed 's/.*"epoch":\([0-9]*\).*/\1/'
}
keyid() {
	devjson "$1" | sed 's/.*"key_id":"\([0-9a-f]*\)".*/\1/'
}
revoked() {
	devjson "$1" | sed 's/.*"name":"'"$2"'"[^}]*"revoked":\([a-z]*\).*/\1/'
}

# apart: two rotations to epoch 2
"$cabsync" device revoke y --home "$tmp/h_a" >/dev/null || fail "revoke y on a"
"$cabsync" device revoke z --home "$tmp/h_b" >/dev/null || fail "revoke z on b"
[ "$(epoch a)" = 2 ] && [ "$(epoch b)" = 2 ] || fail "not both at epoch 2"
[ "$(keyid a)" != "$(keyid b)" ] || fail "the two rotations made the same key"
ka=$(keyid a)
kb=$(keyid b)

start a
start b --peer "127.0.0.1:$(port a)"
start x --peer "127.0.0.1:$(port a)" --peer "127.0.0.1:$(port b)"
until_eq 30 'echo $(epoch a) $(epoch b) $(epoch x)' "2 2 2"
until_eq 30 'echo $(keyid b) $(keyid x)' "$(keyid a) $(keyid a)"
k=$(keyid a)
[ "$k" = "$ka" ] || [ "$k" = "$kb" ] || fail "the key is neither rotation's"
for n in a b x; do
	[ "$(revoked $n y)" = true ] || fail "$n: y not revoked"
	[ "$(revoked $n z)" = true ] || fail "$n: z not revoked"
done
# one key everywhere: sessions carry data again (x is Durand's: shared)
q b "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Apres','B','1980-01-01','F','2024-01-01')"
"$cabsync" share 1 --with Durand --perm read --home "$tmp/h_b" >/dev/null || fail "share"
until_eq 30 'q a "SELECT count(*) FROM patient"' 1
until_eq 30 'q x "SELECT count(*) FROM patient"' 1
# and it stays that way after restarts
stop a
stop b
start a
start b --peer "127.0.0.1:$(port a)"
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Encore','A','1980-01-01','F','2024-01-01')"
until_eq 30 'q b "SELECT count(*) FROM patient"' 2
[ "$(keyid b)" = "$k" ] || fail "b changed key after a restart"
echo ok
