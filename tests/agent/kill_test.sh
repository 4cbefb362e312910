#!/bin/sh
# tests/agent/kill_test.sh BUILD_DIR SRC_DIR: SIGKILL of the receiving agent
# in the middle of a large initial stream, then restart: the databases
# converge (identical canonical dumps) with no duplicate row; SIGKILL of the
# sender in the middle too.
. "$(dirname "$0")/lib.sh"

newdb a
newdb b
sh "$src/sql/demo/generate.sh" "$tmp/a.db" 600 2 7 >/dev/null 2>&1 || fail "generate"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Martin --device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
total=$(q a "SELECT count(*) FROM patient")
[ "$total" = 600 ] || fail "generator made $total patients"

start a
start b --peer "127.0.0.1:$(port a)"
# wait for part of the stream, then kill -9 the receiver
i=0
while [ "$(q b "SELECT count(*) FROM patient")" -lt 200 ]; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "nothing arrived in 30 s"
	sleep 0.05
done
stop b KILL
n=$(q b "SELECT count(*) FROM patient")
[ "$n" -lt "$total" ] || echo "note: the stream ended before the kill ($n rows)"
start b --peer "127.0.0.1:$(port a)"
# and kill -9 the sender in the middle of what is left
sleep 0.3
pa_port=$(port a)
stop a KILL
start a --port "$pa_port"
until_eq 120 'canon b' "$(canon a)"
[ "$(q b "SELECT count(*) FROM patient")" = "$total" ] || fail "patient count differs"
[ "$(q b "SELECT count(*) FROM (SELECT nom, prenom, date_naissance, count(*) c FROM patient
        GROUP BY 1, 2, 3 HAVING c > 1)")" = "$(q a "SELECT count(*) FROM (SELECT nom, prenom,
        date_naissance, count(*) c FROM patient GROUP BY 1, 2, 3 HAVING c > 1)")" ] ||
	fail "duplicates on b"
[ "$(q b "SELECT count(*) FROM consultation")" = "$(q a "SELECT count(*) FROM consultation")" ] ||
	fail "consultation count differs"
echo ok
