#!/bin/sh
# tests/roster/rules_test.sh BUILD_DIR SRC_DIR: the roster rules with real
# agents (DESIGN.md "Identity and keys"). C is a device of Durand, who is not
# cabinet-admin. C may add a device for Durand (D), which reaches A through
# C's session; C may not revoke Martin's laptop, add a practitioner (invite,
# init), locally (exit 3) nor by sending forged records over its session:
# A refuses and audits each one (not admin, badly signed) and its roster does
# not change; B never hears of them. A non-admin may revoke a device of its
# own practitioner, and may not name itself admin; once an admin names it,
# it may revoke another practitioner's device.
. "$(dirname "$0")/../agent/lib.sh"
export CS_NO_MDNS=1
forge=$build/tests/rrec_forge

for n in a b c d; do newdb $n; done
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" --practitioner Martin \
	--device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init b"
"$cabsync" init --home "$tmp/h_c" --db "$tmp/c.db" --tables "$tables" --practitioner Durand \
	--device-name durand --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init c"
# a practitioner adds its own device
"$cabsync" init --home "$tmp/h_d" --db "$tmp/d.db" --tables "$tables" --practitioner Durand \
	--device-name durand2 --same-cabinet-as "$tmp/h_c" >/dev/null 2>&1 || fail "init d by c"
devjson() {
	"$cabsync" device list --home "$tmp/h_$1" --json
}
revoked() { # revoked HOME NAME
	devjson "$1" | sed 's/.*"name":"'"$2"'"[^}]*"revoked":\([a-z]*\).*/\1/'
}

# the non-admin, locally: refused with exit 3 and a clear sentence
set +e
"$cabsync" device revoke laptop --home "$tmp/h_c" 2>"$tmp/err"
rc=$?
set -e
[ $rc = 3 ] || fail "non-admin revoke: exit $rc"
grep -q "cabinet-admin" "$tmp/err" || fail "non-admin revoke: $(cat "$tmp/err")"
set +e
"$cabsync" invite --home "$tmp/h_c" --practitioner Nouveau --listen 127.0.0.1 \
	>/dev/null 2>"$tmp/err"
rc=$?
set -e
[ $rc = 3 ] || fail "non-admin invite of a practitioner: exit $rc"
grep -q "cabinet-admin" "$tmp/err" || fail "non-admin invite: $(cat "$tmp/err")"
newdb e
set +e
"$cabsync" init --home "$tmp/h_e" --db "$tmp/e.db" --tables "$tables" --practitioner Autre \
	--device-name e --same-cabinet-as "$tmp/h_c" >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ $rc = 3 ] || fail "non-admin init of a practitioner: exit $rc"
[ ! -f "$tmp/h_e/cabsync.ini" ] || fail "a refused init left a home"

# the non-admin over the wire: forged records sent by c's agent
"$forge" "$tmp/h_c" laptop "$tmp/forged" || fail "forge revoke"
"$forge" "$tmp/h_c" intrus "$tmp/forged" --add-practitioner || fail "forge add"
"$forge" "$tmp/h_c" durand2 "$tmp/forged" --bad-sig || fail "forge bad sig"
start a
start b --peer "127.0.0.1:$(port a)"
CS_TEST_ROSTER_INJECT=$tmp/forged start c --peer "127.0.0.1:$(port a)"
until_eq 20 'grep -c "roster-record-refused" "$tmp/a.log"' 3
grep -q "roster-record-refused.*only a cabinet-admin" "$tmp/a.log" || fail "no admin refusal"
grep -q "roster-record-refused.*signature does not verify" "$tmp/a.log" ||
	fail "no signature refusal"
# d, added by c, reached a through c's session; the forged ones did not count
until_eq 20 'devjson a | grep -c "\"name\":\"durand2\""' 1
[ "$(revoked a laptop)" = false ] || fail "a accepted a forged revocation"
[ "$(revoked a durand2)" = false ] || fail "a accepted a badly signed record"
devjson a | grep -q Intrus && fail "a accepted a practitioner added by a non-admin"
until_eq 20 'sqlite3 "$tmp/a.db" "SELECT count(*) FROM cs_audit WHERE detail LIKE '"'roster record%refused%'"'"' 3
# the session goes on: data still flows from c to a and on to b (Durand
# shares the patient with Martin)
q c "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Durand','P','1980-01-01','M','2024-01-01')"
"$cabsync" share 1 --with Martin --perm read --home "$tmp/h_c" >/dev/null || fail "share"
until_eq 20 'q b "SELECT count(*) FROM patient"' 1
until_eq 10 'devjson b | grep -c "\"name\":\"durand2\""' 1
devjson b | grep -q Intrus && fail "b heard of a forged record"
[ "$(revoked b laptop)" = false ] || fail "b accepted a forged revocation"
grep -q "roster-record-refused" "$tmp/b.log" && fail "a forwarded a refused record"

# a non-admin may revoke a device of its own practitioner
"$cabsync" device revoke durand2 --home "$tmp/h_c" >/dev/null || fail "own-practitioner revoke"
until_eq 20 'revoked a durand2' true
until_eq 20 'revoked b durand2' true

# only an admin names an admin; then Durand's device may revoke Martin's laptop
set +e
"$cabsync" device admin durand --home "$tmp/h_c" >/dev/null 2>&1
rc=$?
set -e
[ $rc = 3 ] || fail "a non-admin made itself admin: exit $rc"
"$cabsync" device admin durand --home "$tmp/h_a" >/dev/null || fail "device admin"
admin_of() {
	devjson "$1" | sed 's/.*"name":"'"$2"'"[^}]*"admin":\([a-z]*\).*/\1/'
}
until_eq 20 'admin_of c durand' true
"$cabsync" device revoke laptop --home "$tmp/h_c" >/dev/null || fail "new admin cannot revoke"
until_eq 20 'revoked a laptop' true
echo ok
