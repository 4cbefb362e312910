# tests/agent/lib.sh: helpers of the agent integration tests (sourced).
# Real processes on 127.0.0.1 only; every process started is killed by pid
# and the temp dir removed on exit, also on failure.
set -eu
build=$1
src=$2
cabsync=$build/agent/cabsync
tables=$src/sql/demo/tables.ini
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do
		kill -9 "$p" 2>/dev/null || true
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() {
	echo "FAIL: $*" >&2
	# diag_dbs="a b ...": what each database holds (patients, held rows, shares)
	for _d in ${diag_dbs:-}; do
		{
			echo "--- $_d.db: patients, held rows, shares"
			sqlite3 "$tmp/$_d.db" "SELECT id, prenom FROM patient;
				SELECT 'held', count(*) FROM cs_held;" 2>&1
			"$cabsync" shares --home "$tmp/h_$_d" 2>&1
		} >&2
	done
	for f in "$tmp"/*.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; } >&2
	done
	exit 1
}
# newdb NAME: an empty demo database in WAL mode
newdb() {
	sqlite3 "$tmp/$1.db" <"$src/sql/demo/schema.sql"
	sqlite3 "$tmp/$1.db" "PRAGMA journal_mode=WAL" >/dev/null
}
# start NAME [ARGS...]: start the agent of home $tmp/h_NAME, log in $tmp/NAME.log
start() {
	n=$1
	shift
	mkdir -p "$tmp/x_$n"
	rm -f "$tmp/h_$n/port"
	XDG_RUNTIME_DIR=$tmp/x_$n "$cabsync" agent --home "$tmp/h_$n" --listen 127.0.0.1 "$@" \
		>>"$tmp/$n.log" 2>&1 &
	eval "pid_$n=$!"
	pids="$pids $!"
	i=0
	while [ ! -s "$tmp/h_$n/port" ]; do
		i=$((i + 1))
		[ $i -le 200 ] || fail "agent $n did not start"
		sleep 0.05
	done
}
port() {
	cat "$tmp/h_$1/port"
}
# stop NAME [SIG]: signal the agent and wait for it
stop() {
	eval "_sp=\$pid_$1"
	kill -"${2:-TERM}" "$_sp" 2>/dev/null || true
	wait "$_sp" 2>/dev/null || true
}
q() {
	sqlite3 -cmd ".timeout 5000" "$tmp/$1.db" "$2"
}
# until_eq SECONDS CMD EXPECTED: poll until CMD prints EXPECTED
until_eq() {
	t=$1
	want=$3
	i=0
	while :; do
		got=$(eval "$2" 2>/dev/null || true)
		[ "$got" = "$want" ] && return 0
		i=$((i + 1))
		[ $i -le $((t * 20)) ] || fail "after ${t}s: '$2' gives '$got', want '$want'"
		sleep 0.05
	done
}
status() {
	XDG_RUNTIME_DIR=$tmp/x_$1 "$cabsync" status --json
}
canon() {
	sqlite3 "$tmp/$1.db" <"$src/sql/demo/canonical.sql" | sha256sum | cut -c1-64
}
