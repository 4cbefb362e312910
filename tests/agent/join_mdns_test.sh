#!/bin/bash
# tests/agent/join_mdns_test.sh BUILD_DIR SRC_DIR: `cabsync join CODE` with
# no --peer finds its inviter over mDNS (agent/rendezvous.h). Two network
# namespaces on a bridge, each with its own dbus-daemon and avahi-daemon
# (as tests/lan/discovery-lan.sh): h1 runs `cabsync invite`, h2 joins with
# the code only. Checks: the join works; the invite's record holds nothing
# but v=, the code's lookup tag and a random dev= (no host or cabinet name);
# a joiner with another code does not find it and says to use --peer.
# Root only; exit 77 (skipped) without network namespaces.
set -u
build=$1
src=$2
cabsync=$build/agent/cabsync
tables=$src/sql/demo/tables.ini
skip() {
	echo "agent_join_mdns: SKIPPED: $*"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null 2>&1 || skip "no ip command"
for t in dbus-daemon avahi-daemon avahi-browse nsenter; do
	command -v "$t" >/dev/null 2>&1 || skip "$t missing"
done
P="csj$$"
SW="${P}sw"
tmp=$(mktemp -d /tmp/cs-join-mdns-XXXXXX)
NSES=()
declare -A DBUS AVAHI
PIDS=()
FAILED=1
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
cleanup() {
	local k ns
	trap - EXIT INT TERM
	for k in "${PIDS[@]}"; do stop_pid "$k"; done
	for k in "${!AVAHI[@]}"; do stop_pid "${AVAHI[$k]}"; done
	for k in "${!DBUS[@]}"; do stop_pid "${DBUS[$k]}"; done
	for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	if [ "$FAILED" -ne 0 ]; then
		for f in "$tmp"/*.out "$tmp"/*.err "$tmp"/*.log; do
			[ -s "$f" ] && { echo "----- $(basename "$f")"; tail -n 30 "$f"; }
		done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
wait_until() {
	local t=$1 i
	shift
	for i in $(seq $((t * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}
in_h() {
	local n=$1
	shift
	nsenter -t "${DBUS[$n]}" -m -n "$@"
}

ip netns add "$SW" 2>/dev/null || skip "'ip netns add' failed"
NSES+=("$SW")
ip -n "$SW" link add br0 type bridge || fail bridge
ip -n "$SW" link set br0 up
for n in 1 2; do
	ns="${P}h$n"
	ip netns add "$ns" || fail "netns $ns"
	NSES+=("$ns")
	ip -n "$SW" link add "p$n" type veth peer name eth0 netns "$ns" || fail "veth $n"
	ip -n "$SW" link set "p$n" master br0 up
	ip -n "$ns" addr add "10.78.0.$n/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	pid=$(ip netns exec "$ns" sh -c 'mount -t tmpfs -o mode=755 tmpfs /run &&
		mkdir /run/dbus && exec dbus-daemon --system --fork --print-pid') || fail "dbus $n"
	DBUS[$n]=$(echo "$pid" | head -n1 | tr -dc 0-9)
	cat >"$tmp/avahi-$n.conf" <<CONF
[server]
host-name=joinhost$n
use-ipv6=no
allow-interfaces=eth0
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-workstation=no
CONF
	in_h "$n" avahi-daemon -f "$tmp/avahi-$n.conf" --no-rlimits >>"$tmp/avahi-$n.log" 2>&1 &
	AVAHI[$n]=$!
done
wait_until 10 in_h 1 avahi-browse -at >/dev/null 2>&1

# h1: the first PC of the cabinet, then an invite
sqlite3 "$tmp/a.db" <"$src/sql/demo/schema.sql"
sqlite3 "$tmp/a.db" "PRAGMA journal_mode=WAL" >/dev/null
sqlite3 "$tmp/b.db" <"$src/sql/demo/schema.sql"
sqlite3 "$tmp/b.db" "PRAGMA journal_mode=WAL" >/dev/null
sqlite3 "$tmp/c.db" <"$src/sql/demo/schema.sql"
sqlite3 "$tmp/c.db" "PRAGMA journal_mode=WAL" >/dev/null
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet "Cabinet Secret" \
	--practitioner Martin --device-name secretdesk >/dev/null 2>&1 || fail "init a"
in_h 1 "$cabsync" invite --home "$tmp/h_a" >"$tmp/inv.out" 2>"$tmp/inv.log" &
inv=$!
PIDS+=("$inv")
wait_until 5 grep -q '^port: ' "$tmp/inv.out" || fail "invite did not start"
code=$(sed -n 's/^invite code: //p' "$tmp/inv.out")
iport=$(sed -n 's/^port: //p' "$tmp/inv.out")

# what h2 sees on the LAN: one instance, only tags in its TXT
wait_until 15 sh -c "nsenter -t ${DBUS[2]} -m -n avahi-browse -rpt _cabsync._tcp 2>/dev/null |
	grep -q '^=;.*;$iport;'" || fail "the invite is not published"
rec=$(in_h 2 avahi-browse -rpt _cabsync._tcp 2>/dev/null | grep "^=;.*;$iport;")
echo "$rec" >"$tmp/record.out"
for w in joinhost Secret secretdesk Martin; do
	echo "$rec" | grep -q "$w" && fail "the record names '$w': $rec"
done
echo "$rec" | grep -Eq '"v=1"' || fail "no v= in $rec"
echo "$rec" | grep -Eq '"cab=[0-9a-f]{32}"' || fail "no cab tag in $rec"

# a joiner with another code finds nothing and says what to do
wrong=ABCDEFGHIJKLMNOPQRSTUVWXYZ234567
for c in A B C D E F G H; do
	if CS_JOIN_FIND_MS=3000 in_h 2 "$cabsync" join "$wrong$c" --home "$tmp/h_c" \
		--db "$tmp/c.db" >/dev/null 2>"$tmp/wrong.err"; then
		fail "a wrong code joined"
	fi
	grep -q typo "$tmp/wrong.err" || break
done
grep -q 'no invite for this code found on the LAN' "$tmp/wrong.err" ||
	fail "wrong code: $(cat "$tmp/wrong.err")"
grep -q -- '--peer' "$tmp/wrong.err" || fail "no hint to use --peer"

# the right code, no address
T0=$(date +%s%3N)
in_h 2 "$cabsync" join "$code" --home "$tmp/h_b" --db "$tmp/b.db" --device-name lap \
	>"$tmp/join.out" 2>"$tmp/join.err" || fail "join: $(cat "$tmp/join.err")"
T1=$(date +%s%3N)
grep -q "found the inviter on the LAN at 10.78.0.1 port $iport" "$tmp/join.out" ||
	fail "join did not say where: $(cat "$tmp/join.out")"
wait "$inv" || fail "invite did not exit 0"
grep -q 'name = lap' "$tmp/h_a/roster.ini" || fail "lap not in a's roster"
echo "join over mDNS took $((T1 - T0)) ms"
FAILED=0
echo ok
