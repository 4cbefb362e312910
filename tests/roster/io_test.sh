#!/bin/sh
# tests/roster/io_test.sh BUILD_DIR SRC_DIR: the agent writes roster.ini on
# its database worker, never on the loop thread (agent/roster_io.h). While a
# CLI holds c's roster lock (flock), a roster record from a peer reaches c:
# c's agent takes it at once (logged, its control socket answers), and its
# roster.ini gets it once the lock is released. (The database worker waits
# for the lock meanwhile: sync resumes after it; the loop never waits.)
. "$(dirname "$0")/../agent/lib.sh"
export CS_NO_MDNS=1

for n in a b c; do newdb $n; done
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Nom','P1','1980-01-01','F','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" --practitioner Martin \
	--device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init b"
"$cabsync" init --home "$tmp/h_c" --db "$tmp/c.db" --tables "$tables" --practitioner Durand \
	--device-name durand --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init c"
for n in a b; do cp "$tmp/h_c/roster.ini" "$tmp/h_$n/roster.ini"; done
admin_of() {
	"$cabsync" device list --home "$tmp/h_$1" --json |
		sed 's/.*"name":"'"$2"'"[^}]*"admin":\([a-z]*\).*/\1/'
}
start a
start b --peer "127.0.0.1:$(port a)"
start c --peer "127.0.0.1:$(port a)"
until_eq 20 '"$cabsync" practitioners --home "$tmp/h_c" | grep -c "Martin"' 1
[ "$(admin_of c durand)" = false ] || fail "durand admin from the start"
n0=$(grep -c "roster merged from a peer" "$tmp/c.log" || true)

sum0=$(cksum <"$tmp/h_c/roster.ini")
# a CLI holds c's roster lock for 15 s
flock "$tmp/h_c/roster.lock" sleep 15 &
lock_pid=$!
pids="$pids $lock_pid"
sleep 0.3
"$cabsync" device admin durand --home "$tmp/h_b" >/dev/null 2>&1 || fail "device admin"
# c's agent takes the record at once, its loop free
until_eq 5 '[ "$(grep -c "roster merged from a peer" "$tmp/c.log")" -gt "$n0" ] && echo y' y
timeout 2 env XDG_RUNTIME_DIR="$tmp/x_c" "$cabsync" status --json >/dev/null ||
	fail "c's control socket does not answer while the roster lock is held"
# the file waits for the lock (the worker's write is blocked, not lost)
kill -0 "$lock_pid" 2>/dev/null || fail "the lock ended too early for this test to mean anything"
[ "$(cksum <"$tmp/h_c/roster.ini")" = "$sum0" ] || fail "roster.ini written through the lock"
wait "$lock_pid" || true
until_eq 20 'admin_of c durand' true
# the agent still works after the write
"$cabsync" share 1 --with Durand --perm read --home "$tmp/h_a" >>"$tmp/cli.log" 2>&1 ||
	fail "share"
until_eq 20 'q c "SELECT group_concat(prenom) FROM patient"' P1
grep -q "cannot write the roster" "$tmp/c.log" && fail "c failed to write its roster"
echo ok
