#!/bin/bash
# tests/lan/agents_bench.sh BUILD_DIR SRC_DIR [RUNS] [EDITS]: benchmarks of real
# agents on the simulated cabinet LAN (tests/lan/netlib.sh), run by
# tests/bench/bench_lan.c (`./run bench lan`); prints ONE Markdown section.
#   - start -> first sync with mDNS (no static peer, no address cache):
#     "join": a new device's agent started while a peer runs (published);
#     "cold": both agents started at once (both must publish, probe, browse);
#     each from the spawn until the peer's row is in the new database;
#     RUNS of each (default 5), beside the raw mDNS floor measured in the same
#     run: avahi-publish spawned on h1 until avahi-browse -r (running) on h2
#     resolves it;
#   - edit-to-peer latency over the namespace bridge: EDITS (default 1000)
#     single-row edits on a, each timed until visible in b's database
#     (tests/lan/lan_latency.c), beside the same edit and poll on one file.
# Root only; exit 77 (skipped) without network namespaces.
set -u
NET_BUILD=$1
NET_SRC=$2
RUNS=${3:-5}
EDITS=${4:-1000}
LAT=$NET_BUILD/tests/cs-lan-latency
. "$(dirname "$0")/netlib.sh"
net_init agbench
net_log "namespaces ${NET_P}*, temp $NET_TMP"
[ -x "$LAT" ] || net_fail "no $LAT"
for n in 1 2; do net_host $n; done

devs="a"
for r in $(seq "$RUNS"); do devs="$devs j$r x$r y$r"; done
for n in $devs lat raw; do ag_newdb $n; done
seed() {
	ag_q "$1" "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
		VALUES('Seed','$1','1980-01-01','M','2024-01-01')"
}
seed a
seed raw
for r in $(seq "$RUNS"); do seed "x$r"; done
# shellcheck disable=SC2086
ag_cabinet $devs lat
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
has_row() { [ "$(sqlite3 "$NET_TMP/$1.db" "SELECT count(*) > 0 FROM patient" 2>/dev/null)" = 1 ]; }

# spawn_agent NAME HOST: like ag_start, without waiting for the port file
spawn_agent() {
	mkdir -p "$NET_TMP/x_$1"
	chmod 700 "$NET_TMP/x_$1"
	net_spawn "$2" "$NET_TMP/$1.log" env XDG_RUNTIME_DIR="$NET_TMP/x_$1" \
		"$(ag_bin)" agent --home "$NET_TMP/h_$1"
	AG_PID[$1]=$NET_PID
}
# first_sync T0 NAME: ms from T0 until NAME's database has the peer's row
first_sync() {
	local end
	end=$(($1 + 20000))
	until has_row "$2"; do
		[ "$(now_ms)" -lt "$end" ] || return 1 # (a subshell: the caller fails)
		sleep 0.005
	done
	echo $(($(now_ms) - $1))
}

ag_start a 1
until_ok 20 grep -q 'mDNS: published' "$NET_TMP/a.log" || net_fail "a did not publish"
# the raw floor: a browser runs on h2, avahi-publish starts on h1
setsid nsenter -t "${NET_DBUS[2]}" -m -n bash -c 'stdbuf -oL avahi-browse -rp _rawbench._tcp |
	while IFS= read -r l; do echo "$(date +%s%3N) $l"; done' >"$NET_TMP/browse.out" 2>&1 &
BROWSE=$!
NET_PIDS+=("$BROWSE")
sleep 1
JOIN=()
COLD=()
BASE=()
for r in $(seq "$RUNS"); do # join: a runs, a new device starts
	T0=$(now_ms)
	spawn_agent "j$r" 2
	v=$(first_sync "$T0" "j$r") || net_fail "join $r: no first sync"
	JOIN+=("$v")
	ag_stop "j$r"
	net_log "join $r: ${JOIN[-1]} ms"
done
ag_stop a
for r in $(seq "$RUNS"); do
	# cold: a new pair, both start now
	T0=$(now_ms)
	spawn_agent "x$r" 1
	spawn_agent "y$r" 2
	v=$(first_sync "$T0" "y$r") || net_fail "cold $r: no first sync"
	COLD+=("$v")
	ag_stop "x$r"
	ag_stop "y$r"
	# raw: avahi-publish -> resolved by avahi-browse on h2
	name="raw$r$RANDOM"
	T0=$(now_ms)
	net_spawn 1 "$NET_TMP/publish.out" avahi-publish -s "$name" _rawbench._tcp 7000 v=1
	pub=$NET_PID
	until_ok 10 grep -q "^[0-9]* =;.*;$name;" "$NET_TMP/browse.out" || net_fail "raw: not resolved"
	T1=$(awk -v n="$name" '$2 ~ "^=;" && index($0, ";" n ";") { print $1; exit }' "$NET_TMP/browse.out")
	BASE+=($((T1 - T0)))
	net_stop "$pub"
	net_log "cold $r: ${COLD[-1]} ms, raw mDNS ${BASE[-1]} ms"
done
kill -TERM -- "-$BROWSE" 2>/dev/null

# latency: a and lat, found over mDNS
ag_start a 1
ag_start lat 2
until_ok 20 has_row lat || net_fail "lat did not sync"
read -r p50 p99 max r50 r99 rmax < <("$LAT" "$NET_TMP/a.db" "$NET_TMP/lat.db" "$NET_TMP/raw.db" "$EDITS") ||
	net_fail "latency run failed"
[ -n "${p50:-}" ] || net_fail "latency run failed"
ag_stop lat
ag_stop a

jm=$(printf '%s\n' "${JOIN[@]}" | median)
cm=$(printf '%s\n' "${COLD[@]}" | median)
bm=$(printf '%s\n' "${BASE[@]}" | median)
range() { printf '%s\n' "$@" | sort -n | sed -n '1p;$p' | paste -sd- | sed 's/-/ – /'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 1e-9) }'; }
cat <<MD
## Agents on the namespace LAN: start → first sync over mDNS, edit-to-peer latency

| figure | cabsync | raw baseline (same run) | ratio | goal | Syncthing 1.19 (baselines.md) |
|---|---|---|---|---|---|
| start → first sync, new agent joins a running one (median of $RUNS) | $jm ms ($(range "${JOIN[@]}")) | mDNS alone: avahi-publish → resolved by avahi-browse -r: $bm ms ($(range "${BASE[@]}")) | $(ratio "$jm" "$bm") | ≤ 2000 ms | - |
| start → first sync, both agents started at once (median of $RUNS) | $cm ms ($(range "${COLD[@]}")) | same | $(ratio "$cm" "$bm") | ≤ 2000 ms | - |
| edit-to-peer p50 of $EDITS single-row edits, over the bridge | $p50 ms | one file, commit → visible: $r50 ms | $(ratio "$p50" "$r50")x | ≤ 10 ms | 1204 ms |
| edit-to-peer p99 | $p99 ms | $r99 ms | $(ratio "$p99" "$r99")x | ≤ 50 ms | - |
| edit-to-peer max | $max ms | $rmax ms | - | - | - |

Measured: two network namespaces on a Linux bridge, each with its own
dbus-daemon and avahi-daemon (tests/lan/netlib.sh); the agents have no static
peer and no address cache, they find each other through mDNS only. Start →
first sync: from the spawn of the new agent(s) until a poll of the new
database (every 5 ms, through the sqlite3 shell) sees the peer's row: mDNS
publish (RFC 6762 probing) or browse, resolve, TCP, Noise XXpsk0, HELLO,
CURSOR, one CHANGES batch, apply. Latency: tests/lan/lan_latency.c makes
autocommit UPDATEs on a's database (SQLite API, synchronous=NORMAL) and polls
b's every 0.1 ms; the agents notice the write (inotify on the -wal), extract,
encrypt, send over TCP across the bridge, apply, fsync the cursor. Raw: the
same edit and poll on one file. Syncthing: one row changed in a 50 MB
database, whole-file sync (../shared/baselines.md).
MD
# machine-readable goal lines for the summary of docs/PERFORMANCE.md
# (tests/bench/bench_goal.h has the format; run-all.sh removes them)
goal() { awk -v f="$1" -v v="$2" -v g="$3" -v u="$4" 'BEGIN {
	printf "<!-- cs-goal | %s | %s %s | <= %s %s | %s -->\n", f, v, u, g, u, (v + 0 <= g + 0) ? "met" : "missed" }'; }
goal "start → first sync over mDNS, joining a running agent (median)" "$jm" 2000 ms
goal "start → first sync over mDNS, both started at once (median)" "$cm" 2000 ms
goal "edit-to-peer p50, namespace bridge" "$p50" 10 ms
goal "edit-to-peer p99, namespace bridge" "$p99" 50 ms
