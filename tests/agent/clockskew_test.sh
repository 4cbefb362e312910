#!/bin/sh
# tests/agent/clockskew_test.sh BUILD_DIR SRC_DIR: a PC whose clock is 10
# minutes late still converges (docs/MERGE.md "Far-future clock"). Three
# agents of one practitioner on 127.0.0.1: a and b in time, l 10 min late
# under libfaketime (its agent AND its sqlite3 writer: the capture triggers
# take the hlc in the app's process), plus o, an agent without CLOCK (an
# older build) that must keep syncing. Checks: without CLOCK, l holds the
# others' rows (the bug); with it, rows converge both ways within 20 s, the
# rows held before are released, l's own writes carry the cabinet's time,
# a concurrent edit is decided the same everywhere and recorded, and the
# status (JSON and text) and the log say that l's clock is 10 min late.
. "$(dirname "$0")/lib.sh"

ftlib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ ! -f "$ftlib" ]; then
	echo "libfaketime missing (apt-get install faketime): skipped"
	exit 77
fi
# run CMD... 10 minutes late. Under ASan: libfaketime's constructor calls
# dlsym, which allocates, while ASan's allocator, releasing memory to the OS,
# reads the (faked, not yet initialised) clock: a deadlock in the allocator
# unless that release is off.
late() {
	env LD_PRELOAD=$ftlib FAKETIME=-600 DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:allocator_release_to_os_interval_ms=-1" \
		"$@"
}
ql() {
	late sqlite3 -cmd ".timeout 5000" "$tmp/l.db" "$1"
}
# start_late clock|noclock ARGS...: l's agent, 10 min late, with or without
# CLOCK (CS_TEST_NO_CLOCK: as an older build)
start_late() {
	nc=CS_TEST_X=1
	[ "$1" = noclock ] && nc=CS_TEST_NO_CLOCK=1
	shift
	mkdir -p "$tmp/x_l"
	rm -f "$tmp/h_l/port"
	# env execs the agent: $! is the agent's pid (a function in the
	# background would be a subshell, and stop would not reach the agent)
	env "$nc" XDG_RUNTIME_DIR="$tmp/x_l" LD_PRELOAD=$ftlib FAKETIME=-600 DONT_FAKE_MONOTONIC=1 \
		FAKETIME_DONT_RESET=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:allocator_release_to_os_interval_ms=-1" \
		"$cabsync" agent --home "$tmp/h_l" --listen 127.0.0.1 "$@" >>"$tmp/l.log" 2>&1 &
	pid_l=$!
	pids="$pids $!"
	i=0
	while [ ! -s "$tmp/h_l/port" ]; do
		i=$((i + 1))
		[ $i -le 200 ] || fail "agent l did not start"
		sleep 0.05
	done
}
# the hlc (ms part) of the newest row record of a database, and the real clock
newest_ms() {
	sqlite3 -cmd ".timeout 5000" "$tmp/$1.db" "SELECT max(h) >> 16 FROM cs_ids"
}
real_ms() {
	echo $(($(date +%s) * 1000))
}

[ "$(late date +%s)" -lt $(($(date +%s) - 590)) ] || fail "libfaketime does not apply"
for n in a b l o; do newdb $n; done
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
for n in b l o; do
	"$cabsync" init --home "$tmp/h_$n" --db "$tmp/$n.db" --tables "$tables" \
		--practitioner Martin --device-name "pc$n" --same-cabinet-as "$tmp/h_a" \
		>/dev/null 2>&1 || fail "init $n"
done

start a
start b --peer "127.0.0.1:$(port a)"
until_eq 20 'q b "SELECT nom FROM patient"' Dupont

# 1. the bug: l without CLOCK (as before) holds every row from the future
start_late noclock --peer "127.0.0.1:$(port a)" --peer "127.0.0.1:$(port b)"
until_eq 20 'ql "SELECT count(*) > 0 FROM cs_held WHERE reason LIKE \"hlc ahead%\""' 1
[ "$(ql "SELECT count(*) FROM patient")" = 0 ] || fail "l applied a row 10 min ahead"
stop l

# 2. with CLOCK: the held rows are released, new rows flow both ways
start_late clock --peer "127.0.0.1:$(port a)" --peer "127.0.0.1:$(port b)"
t0=$(date +%s)
until_eq 20 'ql "SELECT nom FROM patient"' Dupont
until_eq 5 'ql "SELECT count(*) FROM cs_held"' 0
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Martin','Anne','1990-02-02','F','2024-01-02')"
until_eq 20 'ql "SELECT count(*) FROM patient"' 2
ql "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     SELECT id,'Martin','2024-03-01','lombalgie',5000 FROM patient WHERE nom='Martin'"
until_eq 20 'q a "SELECT count(*) FROM consultation"' 1
until_eq 20 'q b "SELECT count(*) FROM consultation"' 1
echo "converged both ways $(($(date +%s) - t0)) s after the late agent started"

# 3. l's own writes carry the cabinet's time (received hlcs and the floor
# raised to its corrected clock), not its late wall clock
ql "UPDATE patient SET telephone='0102030405' WHERE nom='Dupont'"
lh=$(newest_ms l)
[ "$lh" -ge $(($(real_ms) - 60000)) ] ||
	fail "l's write has hlc $lh ms, more than 1 min behind the real clock $(real_ms)"
until_eq 20 'q a "SELECT telephone FROM patient WHERE nom=\"Dupont\""' 0102030405

# 4. a concurrent edit (l cut off meanwhile): one winner everywhere, the
# loser recorded on every device
stop l
q a "UPDATE patient SET ville='Lyon' WHERE nom='Martin'"
sleep 1
ql "UPDATE patient SET ville='Nantes' WHERE nom='Martin'"
start_late clock --peer "127.0.0.1:$(port a)" --peer "127.0.0.1:$(port b)"
until_eq 30 'canon l' "$(canon a)"
until_eq 20 'canon b' "$(canon a)"
until_eq 10 'q a "SELECT count(*) FROM cs_conflicts"' 1
until_eq 10 'ql "SELECT count(*) FROM cs_conflicts"' 1
[ "$(q a "SELECT ville FROM patient WHERE nom='Martin'")" = \
	"$(ql "SELECT ville FROM patient WHERE nom='Martin'")" ] || fail "ville differs"

# 5. the user is told: status JSON (the tray reads it) and text, and the log
until_eq 20 'status l | grep -o "\"clock_peers\":2"' '"clock_peers":2'
off=$(status l | sed -n 's/.*"clock_offset_ms":\(-\{0,1\}[0-9]*\),"clock_peers".*/\1/p')
[ "$off" -ge 590000 ] && [ "$off" -le 610000 ] || fail "l's clock_offset_ms is '$off'"
offa=$(status a | sed -n 's/.*"clock_offset_ms":\(-\{0,1\}[0-9]*\),"clock_peers".*/\1/p')
[ "$offa" -ge -5000 ] && [ "$offa" -le 5000 ] || fail "a's clock_offset_ms is '$offa'"
status a | grep -q '"name":"pcl","online":true,[^}]*"clock_offset_ms":-[56][0-9][0-9][0-9][0-9][0-9],' ||
	fail "a's status does not show pcl 10 min behind"
XDG_RUNTIME_DIR=$tmp/x_l "$cabsync" status >"$tmp/st" || fail "status l exit code"
grep -q "clock: this PC's clock is 10 min late compared with the cabinet" "$tmp/st" ||
	fail "human status of l: $(cat "$tmp/st")"
XDG_RUNTIME_DIR=$tmp/x_a "$cabsync" status >"$tmp/st" || fail "status a exit code"
if grep -q "^clock:" "$tmp/st"; then fail "a's status warns of its clock"; fi
grep -q "this PC.s clock is 10 min late compared with the cabinet ([12] other PC(s))" \
	"$tmp/l.log" || fail "no clock warning in l's log"
grep -q "pcl.*'s clock is 10 min late compared with this PC's" "$tmp/a.log" ||
	fail "no note of pcl's clock in a's log"

# 6. an agent without CLOCK (an older build) keeps syncing with the others
export CS_TEST_NO_CLOCK=1
start o --peer "127.0.0.1:$(port a)"
unset CS_TEST_NO_CLOCK
until_eq 30 'canon o' "$(canon a)"
status o | grep -q '"clock_offset_ms":0,"clock_peers":0' || fail "o measured a clock"
if grep -q "malformed" "$tmp/a.log" "$tmp/o.log"; then fail "a malformed message"; fi
q o "UPDATE patient SET ville='Brest' WHERE nom='Dupont'"
until_eq 20 'ql "SELECT ville FROM patient WHERE nom=\"Dupont\""' Brest

stop o
stop l
stop b
stop a
echo "ok"
