# tests/lan/netlib.sh: a simulated cabinet LAN for tests and benchmarks
# (bash, root). Source it: `. tests/lan/netlib.sh`. See docs/TESTING.md.
#
# Every host is a network namespace on one bridge (itself in a "switch"
# namespace), with its own /run, dbus-daemon and avahi-daemon, as measured in
# ../shared/testing-lan.md. mDNS never leaves these namespaces. Everything made
# here (namespaces, daemons, agents, temp dir) is removed by name and by pid
# on every exit path (EXIT/INT/TERM trap), also when a test fails.
#
# Setup and teardown
#   net_init NAME            temp dir $NET_TMP, the switch namespace, the trap.
#                            Skips (exit 77, message) without root or netns.
#                            Call it once, at the top level of the script.
#   net_host N [noavahi]     host N (1..200): namespace ${NET_P}hN, eth0 =
#                            10.77.0.N/24 on the bridge (switch port pN), own
#                            /run, dbus-daemon, avahi-daemon (unless noavahi)
#   net_cleanup              what the trap runs (idempotent)
#   net_fail MSG...          print MSG, the tails of every log in $NET_TMP, exit 1
#                            (inside $(...) it ends only that subshell: test
#                            the substitution's status, `v=$(f) || net_fail`)
#   net_log MSG...           timestamped line on stderr
#
# Running things in a host
#   net_run N CMD...         CMD in host N (its net + mount namespaces, so the
#                            host's /run/dbus: avahi clients work), foreground
#   net_spawn N LOG CMD...   same in the background, output appended to LOG;
#                            its pid in $NET_PID, killed by the cleanup
#   net_stop PID [SIG]       send SIG (default TERM) to a pid started here and
#                            wait until it is gone (KILL after 5 s)
#
# avahi-daemon
#   net_avahi_start N / net_avahi_stop N [SIG] / net_avahi_restart N [SIG]
#                            (restart waits until the old pid is gone, as a
#                            daemon refuses to start beside its zombie)
#
# Faults (nftables; no netem on this machine kind: testing-lan.md)
#   net_cut N / net_uncut N  link of host N down / up (its browsers see it)
#   net_partition "A B" "C"  drop every frame between the two groups of hosts
#                            in the bridge; net_heal removes it
#   net_loss PCT [N...]      drop PCT % of the frames the bridge forwards (each
#                            copy once), only those from hosts N... if given;
#                            net_loss 0 removes it
#
# cabsync agents (homes in $NET_TMP/h_NAME, app DB $NET_TMP/NAME.db, log
# $NET_TMP/NAME.log, control socket under $NET_TMP/x_NAME)
#   ag_newdb NAME            an empty demo database (sql/demo/schema.sql), WAL
#   ag_cabinet NAME...       `cabsync init` each (first: a new cabinet, the
#                            others --same-cabinet-as it, practitioner Martin,
#                            device name = NAME, NO static peer), then the full
#                            roster copied to every home
#   ag_start NAME N [ARGS]   `cabsync agent` of NAME in host N; waits for its
#                            port file; pid in AG_PID[NAME], host in AG_HOST[NAME];
#                            every log line starts with a time stamp (HH:MM:SS.micros)
#   ag_stop NAME [SIG]       signal it (default TERM) and wait
#   ag_q NAME SQL            the sqlite3 shell on NAME's database (5 s busy timeout)
#   ag_canon NAME            sha256 of the canonical dump (sql/demo/canonical.sql)
#   ag_status NAME           `cabsync status --json` of NAME
#   ag_sessions NAME         number of roster peers NAME has a live session with
# Waiting (bounded; fail with the last value)
#   until_eq SECONDS 'CMD' WANT   poll CMD (eval'd) every 0.05 s until it prints WANT
#   until_ok SECONDS CMD...       poll CMD until it succeeds
#   ag_converged SECONDS NAME...  until every canonical dump equals the first one's
#   now_ms                        wall clock in ms
#
# Variables: NET_BUILD (build dir, for agent/cabsync) and NET_SRC (source
# dir) must be set before ag_*; CS_LAN_KEEP=1 keeps $NET_TMP.

NET_P=""
NET_SW=""
NET_TMP=""
NET_NSES=()
NET_PIDS=()
NET_DONE=0
declare -A NET_DBUS NET_AVAHI AG_PID AG_HOST

net_log() { printf '%s lan: %s\n' "$(date +%T.%3N)" "$*" >&2; }

now_ms() { date +%s%3N; }

net_skip() {
	echo "SKIPPED: $*"
	exit 77
}

net_fail() {
	local f
	net_log "FAIL: $*"
	for f in "$NET_TMP"/*.log; do
		[ -s "$f" ] || continue
		echo "----- $(basename "$f")" >&2
		tail -n 25 "$f" >&2
	done
	exit 1
}

# net_stop PID [SIG]
net_stop() {
	local pid=$1 sig=${2:-TERM} i
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	for i in $(seq 50); do
		[ -e "/proc/$pid" ] || break
		sleep 0.1
	done
	return 0
}

net_cleanup() {
	local pid ns i
	[ "$NET_DONE" = 1 ] && return 0
	NET_DONE=1
	trap - EXIT INT TERM
	# agents and helpers first (newest first), then avahi, then dbus
	for ((i = ${#NET_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${NET_PIDS[$i]}
		kill -KILL "$pid" 2>/dev/null
	done
	for pid in "${NET_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	for pid in "${NET_AVAHI[@]}"; do net_stop "$pid"; done
	for pid in "${NET_DBUS[@]}"; do net_stop "$pid"; done
	for ns in "${NET_NSES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	if [ -n "${CS_LAN_KEEP:-}" ]; then
		net_log "kept $NET_TMP"
	elif [ -n "$NET_TMP" ]; then
		rm -rf "$NET_TMP"
	fi
}

# net_init NAME
net_init() {
	[ "$(id -u)" -eq 0 ] || net_skip "$1: needs root to create network namespaces"
	command -v ip >/dev/null 2>&1 || net_skip "$1: no 'ip' command (iproute2)"
	ip netns list >/dev/null 2>&1 || net_skip "$1: 'ip netns' is unavailable here"
	local t
	for t in dbus-daemon avahi-daemon nsenter nft sqlite3; do
		command -v "$t" >/dev/null 2>&1 || { echo "$1: FAIL: $t missing (./run installs it)"; exit 1; }
	done
	NET_P="cs${1:0:8}$$" # unique per run (the pid): parallel runs never collide
	NET_SW="${NET_P}sw"
	NET_TMP=$(mktemp -d "/tmp/cs-$1-XXXXXX")
	trap net_cleanup EXIT
	trap 'exit 130' INT TERM
	ip netns add "$NET_SW" || net_skip "$1: 'ip netns add' failed: no network namespaces here"
	NET_NSES+=("$NET_SW")
	ip -n "$NET_SW" link add br0 type bridge || net_fail "bridge"
	ip -n "$NET_SW" link set br0 up
	ip -n "$NET_SW" link set lo up
	ip netns exec "$NET_SW" nft -f - <<NFT || net_fail "nft tables in the switch"
table bridge cslan {
	chain part { type filter hook forward priority -10; policy accept; }
	chain loss { type filter hook forward priority 0; policy accept; }
}
NFT
}

net_avahi_conf() {
	cat >"$NET_TMP/avahi-$1.conf" <<CONF
[server]
host-name=cabhost$1
use-ipv6=no
allow-interfaces=eth0
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-workstation=no
publish-aaaa-on-ipv4=no
CONF
}

net_avahi_start() {
	local n=$1
	nsenter -t "${NET_DBUS[$n]}" -m -n avahi-daemon -f "$NET_TMP/avahi-$n.conf" --no-rlimits \
		>>"$NET_TMP/avahi-$n.out" 2>&1 &
	NET_AVAHI[$n]=$!
}

net_avahi_stop() {
	net_stop "${NET_AVAHI[$1]:-}" "${2:-TERM}"
	unset "NET_AVAHI[$1]"
}

net_avahi_restart() {
	net_avahi_stop "$1" "${2:-TERM}"
	net_avahi_start "$1"
}

# net_host N [noavahi]
net_host() {
	local n=$1 ns="${NET_P}h$1" pid
	ip netns add "$ns" || net_fail "netns $ns"
	NET_NSES+=("$ns")
	ip -n "$NET_SW" link add "p$n" type veth peer name eth0 netns "$ns" || net_fail "veth $n"
	ip -n "$NET_SW" link set "p$n" master br0 up
	ip -n "$ns" addr add "10.77.0.$n/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	pid=$(ip netns exec "$ns" sh -c 'mount -t tmpfs -o mode=755 tmpfs /run &&
		mkdir /run/dbus && exec dbus-daemon --system --fork --print-pid') || net_fail "dbus $n"
	NET_DBUS[$n]=$(echo "$pid" | head -n1 | tr -dc 0-9)
	[ -n "${NET_DBUS[$n]}" ] || net_fail "no dbus pid on h$n"
	net_avahi_conf "$n"
	[ "${2:-}" = noavahi ] || net_avahi_start "$n"
}

net_run() {
	local n=$1
	shift
	nsenter -t "${NET_DBUS[$n]}" -m -n --wd="$PWD" "$@"
}

net_spawn() {
	local n=$1 log=$2
	shift 2
	nsenter -t "${NET_DBUS[$n]}" -m -n --wd="$PWD" "$@" >>"$log" 2>&1 &
	NET_PID=$!
	NET_PIDS+=("$NET_PID")
}

net_cut() { ip -n "${NET_P}h$1" link set eth0 down; }
net_uncut() { ip -n "${NET_P}h$1" link set eth0 up; }

# net_partition "A B" "C D"
net_partition() {
	local a b rules=""
	for a in $1; do
		for b in $2; do
			rules="$rules
add rule bridge cslan part iifname \"p$a\" oifname \"p$b\" drop
add rule bridge cslan part iifname \"p$b\" oifname \"p$a\" drop"
		done
	done
	echo "$rules" | ip netns exec "$NET_SW" nft -f - || net_fail "nft partition"
}

net_heal() { ip netns exec "$NET_SW" nft flush chain bridge cslan part; }

# net_loss PCT [N...]
net_loss() {
	local pct=$1 n rules=""
	shift
	ip netns exec "$NET_SW" nft flush chain bridge cslan loss
	[ "$pct" -gt 0 ] || return 0
	if [ $# -eq 0 ]; then
		rules="add rule bridge cslan loss numgen random mod 100 < $pct drop"
	else
		for n in "$@"; do
			rules="$rules
add rule bridge cslan loss iifname \"p$n\" numgen random mod 100 < $pct drop"
		done
	fi
	echo "$rules" | ip netns exec "$NET_SW" nft -f - || net_fail "nft loss"
}

# ------------------------------------------------------------------ agents

ag_bin() { echo "$NET_BUILD/agent/cabsync"; }

ag_newdb() {
	sqlite3 "$NET_TMP/$1.db" <"$NET_SRC/sql/demo/schema.sql" || net_fail "schema $1"
	sqlite3 "$NET_TMP/$1.db" "PRAGMA journal_mode=WAL" >/dev/null
}

ag_cabinet() {
	local first=$1 n
	"$(ag_bin)" init --home "$NET_TMP/h_$first" --db "$NET_TMP/$first.db" \
		--tables "$NET_SRC/sql/demo/tables.ini" --cabinet Cab --practitioner Martin \
		--device-name "$first" >>"$NET_TMP/init.out" 2>&1 || net_fail "init $first"
	shift
	for n in "$@"; do
		"$(ag_bin)" init --home "$NET_TMP/h_$n" --db "$NET_TMP/$n.db" \
			--tables "$NET_SRC/sql/demo/tables.ini" --practitioner Martin \
			--device-name "$n" --same-cabinet-as "$NET_TMP/h_$first" \
			>>"$NET_TMP/init.out" 2>&1 || net_fail "init $n"
	done
	# the last home has every device: the full roster everywhere
	for n in "$first" "$@"; do
		[ "$n" = "${!#}" ] && continue
		cp "$NET_TMP/h_${!#}/roster.ini" "$NET_TMP/h_$n/roster.ini"
	done
}

# ag_start NAME N [ARGS...]
ag_start() {
	local name=$1 n=$2 i
	shift 2
	mkdir -p "$NET_TMP/x_$name"
	chmod 700 "$NET_TMP/x_$name"
	rm -f "$NET_TMP/h_$name/port"
	# each log line gets a time stamp; exec: the pid is the agent's
	net_spawn "$n" "$NET_TMP/$name.log" bash -c 'x=$1 b=$2 h=$3
		shift 3
		exec env XDG_RUNTIME_DIR="$x" "$b" agent --home "$h" "$@" 2> >(while IFS= read -r l; do
			t=$EPOCHREALTIME
			printf "%(%T)T.%s %s\n" "${t%.*}" "${t#*.}" "$l"; done)' _ "$NET_TMP/x_$name" "$(ag_bin)" \
		"$NET_TMP/h_$name" "$@"
	AG_PID[$name]=$NET_PID
	AG_HOST[$name]=$n
	for i in $(seq 400); do
		[ -s "$NET_TMP/h_$name/port" ] && return 0
		kill -0 "$NET_PID" 2>/dev/null || net_fail "agent $name exited at start"
		sleep 0.05
	done
	net_fail "agent $name did not start in 20 s"
}

ag_stop() {
	net_stop "${AG_PID[$1]}" "${2:-TERM}"
}

ag_q() { sqlite3 -cmd ".timeout 5000" "$NET_TMP/$1.db" "$2"; }

ag_canon() {
	sqlite3 -cmd ".timeout 5000" "$NET_TMP/$1.db" <"$NET_SRC/sql/demo/canonical.sql" |
		sha256sum | cut -c1-64
}

ag_status() { XDG_RUNTIME_DIR="$NET_TMP/x_$1" "$(ag_bin)" status --json 2>/dev/null; }

ag_sessions() { ag_status "$1" | grep -o '"online":true' | wc -l; }

until_eq() {
	local t=$1 cmd=$2 want=$3 got i=0 end
	end=$(($(now_ms) + t * 1000))
	while :; do
		got=$(eval "$cmd" 2>/dev/null)
		[ "$got" = "$want" ] && return 0
		[ "$(now_ms)" -lt "$end" ] || net_fail "after ${t}s: '$cmd' gives '$got', want '$want'"
		sleep 0.05
	done
}

until_ok() {
	local t=$1 end
	shift
	end=$(($(now_ms) + t * 1000))
	until "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# ag_same NAME...: every canonical dump equals the first one's
ag_same() {
	local c0 n
	c0=$(ag_canon "$1")
	for n in "$@"; do
		[ "$(ag_canon "$n")" = "$c0" ] || return 1
	done
}

ag_converged() {
	local t=$1
	shift
	until_ok "$t" ag_same "$@" || net_fail "not converged after ${t}s: $*"
}
