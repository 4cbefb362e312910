#!/bin/sh
# tests/agent/refuse_test.sh BUILD_DIR SRC_DIR: a device that holds the
# cabinet key but is not in the peer's roster is refused (and audited), so
# is a revoked one; a device with another cabinet's key fails at message 1.
# Nothing of the refused device's data arrives.
. "$(dirname "$0")/lib.sh"

for n in a c d; do newdb $n; done
q c "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Intrus','X','1980-01-01','M','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_c" --db "$tmp/c.db" --tables "$tables" \
	--practitioner Martin --device-name rogue --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init c"
"$cabsync" init --home "$tmp/h_d" --db "$tmp/d.db" --tables "$tables" --cabinet Other \
	--practitioner Eve --device-name other >/dev/null 2>&1 || fail "init d"
# take c out of a's roster (as if never enrolled there)
cp "$tmp/h_a/roster.ini" "$tmp/roster.full"
awk '/^\[device /{keep = ($0 ~ /^\[device '"$(sed -n 's/^id = //p' "$tmp/h_a/cabsync.ini" | sed -n 3p)"'/)} keep' \
	"$tmp/roster.full" >"$tmp/h_a/roster.ini"
grep -c '^\[device ' "$tmp/h_a/roster.ini" | grep -qx 1 || fail "roster edit"

start a
# c dials a: a (responder) refuses after message 3
start c --peer "127.0.0.1:$(port a)"
until_eq 10 'grep -q "audit: handshake-rejected.*device not in the roster (after message 3)" "$tmp/a.log" && echo y' y
# a dials c: a (initiator) refuses after message 2
stop a
start a --peer "127.0.0.1:$(port c)"
until_eq 10 'grep -q "device not in the roster (after message 2)" "$tmp/a.log" && echo y' y
sleep 0.5
[ "$(q a "SELECT count(*) FROM patient")" = 0 ] || fail "data of a refused device arrived"
status a | grep -q '"peers":\[\]' || fail "a lists a refused device"

# revoked: back in the roster, then revoked by a signed record (the key
# rotates: a dials c with the new key, is refused at message 1, steps back to
# the old epoch and refuses c after message 2)
stop a
cp "$tmp/roster.full" "$tmp/h_a/roster.ini"
"$cabsync" device revoke rogue --home "$tmp/h_a" >/dev/null || fail "device revoke"
grep -q 'state = revoked' "$tmp/h_a/roster.ini" || fail "revoke not in roster.ini"
start a --peer "127.0.0.1:$(port c)"
until_eq 20 'grep -q "device revoked (after message 2)" "$tmp/a.log" && echo y' y
sleep 0.5
[ "$(q a "SELECT count(*) FROM patient")" = 0 ] || fail "data of a revoked device arrived"

# another cabinet: fails at message 1 on the responder
start d --peer "127.0.0.1:$(port a)"
until_eq 10 'grep -q "wrong cabinet key (message 1)" "$tmp/a.log" && echo y' y
[ "$(q a "SELECT count(*) FROM patient")" = 0 ] || fail "data of another cabinet arrived"
echo ok
