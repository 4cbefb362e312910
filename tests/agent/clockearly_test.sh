#!/bin/sh
# tests/agent/clockearly_test.sh BUILD_DIR SRC_DIR: a PC whose clock is 10
# minutes EARLY (docs/MERGE.md "A single PC 10 min early"), agent and sqlite3
# writer under libfaketime. With two PCs there is no majority: they follow
# the later clock and converge both ways, and both are told to check the
# clocks. Once a third PC (in time) is up, the cabinet's median is the right
# time again: a new row of the early PC is held on the others (the bound
# protects them), it is told that its clock is 10 min early, and rows of
# the others still reach it.
. "$(dirname "$0")/lib.sh"

ftlib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ ! -f "$ftlib" ]; then
	echo "libfaketime missing (apt-get install faketime): skipped"
	exit 77
fi
# ASan's allocator must not read the (faked) clock inside libfaketime's
# constructor: see clockskew_test.sh
ftasan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:allocator_release_to_os_interval_ms=-1"
qe() {
	env LD_PRELOAD=$ftlib FAKETIME=+600 DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1 \
		ASAN_OPTIONS="$ftasan" sqlite3 -cmd ".timeout 5000" "$tmp/e.db" "$1"
}
start_early() {
	mkdir -p "$tmp/x_e"
	rm -f "$tmp/h_e/port"
	env XDG_RUNTIME_DIR="$tmp/x_e" LD_PRELOAD=$ftlib FAKETIME=+600 DONT_FAKE_MONOTONIC=1 \
		FAKETIME_DONT_RESET=1 ASAN_OPTIONS="$ftasan" \
		"$cabsync" agent --home "$tmp/h_e" --listen 127.0.0.1 "$@" >>"$tmp/e.log" 2>&1 &
	pid_e=$!
	pids="$pids $!"
	i=0
	while [ ! -s "$tmp/h_e/port" ]; do
		i=$((i + 1))
		[ $i -le 200 ] || fail "agent e did not start"
		sleep 0.05
	done
}
offset_of() {
	status "$1" | sed -n 's/.*"clock_offset_ms":\(-\{0,1\}[0-9]*\),"clock_peers".*/\1/p'
}

for n in a b e; do newdb $n; done
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
for n in b e; do
	"$cabsync" init --home "$tmp/h_$n" --db "$tmp/$n.db" --tables "$tables" \
		--practitioner Martin --device-name "pc$n" --same-cabinet-as "$tmp/h_a" \
		>/dev/null 2>&1 || fail "init $n"
done

# 1. two PCs, e 10 min early: no majority, both follow the later clock
start a
start_early --peer "127.0.0.1:$(port a)"
qe "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Early','Eve','1980-01-01','F','2024-01-01')"
until_eq 20 'q a "SELECT count(*) FROM patient WHERE nom=\"Early\""' 1
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Desk','Dan','1981-01-01','M','2024-01-01')"
until_eq 20 'qe "SELECT count(*) FROM patient WHERE nom=\"Desk\""' 1
until_eq 20 'status a | grep -o "\"clock_peers\":1,\"clock_majority\":false"' \
	'"clock_peers":1,"clock_majority":false'
off=$(offset_of a)
[ "$off" -ge 590000 ] && [ "$off" -le 610000 ] || fail "a's clock_offset_ms is '$off'"
off=$(offset_of e)
[ "$off" -ge -610000 ] && [ "$off" -le -590000 ] || fail "e's clock_offset_ms is '$off'"
XDG_RUNTIME_DIR=$tmp/x_a "$cabsync" status >"$tmp/st" || fail "status a"
grep -q "clock: this PC's clock is 10 min late compared with the other PC(s), no majority" \
	"$tmp/st" || fail "human status of a: $(cat "$tmp/st")"
grep -q "this PC's clock is 10 min early compared with the other PC's (1 other PC(s) measured, no majority)" \
	"$tmp/e.log" || fail "e not told to check the clocks"

# 2. a third PC in time: the majority says e is early; its new rows wait
start b --peer "127.0.0.1:$(port a)" --peer "127.0.0.1:$(port e)"
until_eq 30 'status a | grep -o "\"clock_peers\":2,\"clock_majority\":true"' \
	'"clock_peers":2,"clock_majority":true'
until_eq 30 'status e | grep -o "\"clock_peers\":2,\"clock_majority\":true"' \
	'"clock_peers":2,"clock_majority":true'
off=$(offset_of a)
[ "$off" -ge -5000 ] && [ "$off" -le 5000 ] || fail "a's clock_offset_ms is '$off' with b"
off=$(offset_of e)
[ "$off" -ge -610000 ] && [ "$off" -le -590000 ] || fail "e's clock_offset_ms is '$off'"
sleep 1 # a's engine gets its correction back to 0 (a job after the estimate)
qe "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Early2','Eve','1980-01-01','F','2024-01-01')"
until_eq 20 'q a "SELECT count(*) > 0 FROM cs_held WHERE reason LIKE \"hlc ahead%\""' 1
until_eq 20 'q b "SELECT count(*) > 0 FROM cs_held WHERE reason LIKE \"hlc ahead%\""' 1
[ "$(q a "SELECT count(*) FROM patient WHERE nom='Early2'")" = 0 ] ||
	fail "a applied a row 10 min ahead of the cabinet"
grep -q "this PC's clock is 10 min early compared with the cabinet (2 other PC(s))" \
	"$tmp/e.log" || fail "e not told that its clock is early"
XDG_RUNTIME_DIR=$tmp/x_e "$cabsync" status >"$tmp/st" || true
grep -q "clock: this PC's clock is 10 min early compared with the cabinet" "$tmp/st" ||
	fail "human status of e: $(cat "$tmp/st")"
# the others' rows still reach it
q b "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Third','Tom','1982-01-01','M','2024-01-01')"
until_eq 20 'qe "SELECT count(*) FROM patient WHERE nom=\"Third\""' 1

stop b
stop e
stop a
echo "ok"
