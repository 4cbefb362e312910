# tests/relay/stubenv.sh: sourced by tests that need the Supabase test
# server (supabase_stub.py) on a throw-away PostgreSQL 15 cluster. Sources
# pgcluster.sh.
#   stub_setup [FIXTURES.sql]  start the cluster, apply the stand-ins, the
#                              migration and the fixtures; installs the EXIT
#                              trap that stops the server and the cluster
#   stub_start [PORT]          start the server (port 0: any free port), wait
#                              until it listens; sets STUB_PID, STUB_URL,
#                              STUB_PORT, STUB_ANON_KEY, STUB_PUBLISHABLE_KEY,
#                              STUB_SERVICE_KEY, STUB_READY (the JSON file)
#   stub_stop                  stop it (the objects, keys, sessions and tokens
#                              stay: `stub_start "$STUB_PORT"` brings the same
#                              server back, e.g. to test a client across an
#                              outage)
# STUB_ARGS adds options (e.g. --jwt-exp 5). Set SRC (the source dir)
# before sourcing.

: "${SRC:?stubenv.sh: set SRC to the source directory first}"
. "$SRC/tests/relay/pgcluster.sh"
STUB_PY="$SRC/tests/relay/supabase_stub.py"
STUB_PID=

stub_stop() {
	if [ -n "$STUB_PID" ]; then
		kill "$STUB_PID" 2>/dev/null || true
		wait "$STUB_PID" 2>/dev/null || true
		STUB_PID=
	fi
}

stub_cleanup() {
	stub_stop
	pg_stop
}

stub_setup() {
	pg_start
	trap 'stub_cleanup' EXIT
	_psql="$PG_BIN/psql -X -v ON_ERROR_STOP=1 -q"
	$_psql -f "$SRC/tests/relay/supabase_standins.sql" >/dev/null 2>&1 || {
		echo "stubenv: the stand-ins failed" >&2
		exit 1
	}
	$_psql -f "$SRC/sql/supabase/migration.sql" >"$PGTMP/migration.log" 2>&1 || {
		cat "$PGTMP/migration.log" >&2
		exit 1
	}
	if [ -n "${1:-}" ]; then
		$_psql -f "$1" >/dev/null
	fi
	mkdir -p "$PGTMP/stub"
}

stub_start() {
	rm -f "$PGTMP/stub.json"
	# shellcheck disable=SC2086
	/usr/bin/python3 -B "$STUB_PY" --dsn "host=$PGTMP dbname=postgres user=postgres" \
		--dir "$PGTMP/stub" --state "$PGTMP/stub/state.json" --port "${1:-0}" \
		--ready "$PGTMP/stub.json" ${STUB_ARGS:-} >>"$PGTMP/stub.log" 2>&1 &
	STUB_PID=$!
	_i=0
	while [ ! -f "$PGTMP/stub.json" ]; do
		_i=$((_i + 1))
		if [ $_i -gt 150 ] || ! kill -0 "$STUB_PID" 2>/dev/null; then
			cat "$PGTMP/stub.log" >&2
			echo "stubenv: the server did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
	STUB_READY="$PGTMP/stub.json"
	_get() {
		/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$STUB_READY" "$1"
	}
	STUB_URL=$(_get url)
	STUB_PORT=${STUB_URL##*:}
	STUB_ANON_KEY=$(_get anon_key)
	STUB_PUBLISHABLE_KEY=$(_get publishable_key)
	STUB_SERVICE_KEY=$(_get service_key)
	export STUB_READY STUB_URL STUB_PORT STUB_ANON_KEY STUB_PUBLISHABLE_KEY STUB_SERVICE_KEY
}
