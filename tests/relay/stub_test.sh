#!/bin/sh
# tests/relay/stub_test.sh: the Supabase test server (supabase_stub.py)
# seen through curl (issue 7 §4): a temp PostgreSQL 15 cluster with the
# stand-ins and the migration, the fixtures of two cabinets, the server, then
# stub_test.py drives curl against it.
# usage: stub_test.sh SOURCE_DIR
set -eu
SRC=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/relay/pgcluster.sh"
PY="/usr/bin/python3 -B"
STUB_PID=

cleanup() {
	if [ -n "$STUB_PID" ]; then
		kill "$STUB_PID" 2>/dev/null || true
		wait "$STUB_PID" 2>/dev/null || true
	fi
	pg_stop
}

pg_start
trap 'cleanup' EXIT
PSQL="$PG_BIN/psql -X -v ON_ERROR_STOP=1 -q"
$PSQL -f "$SRC/tests/relay/supabase_standins.sql" >/dev/null 2>&1
$PSQL -f "$SRC/sql/supabase/migration.sql" >/dev/null 2>&1
$PSQL -f "$SRC/tests/relay/stub_fixtures.sql" >/dev/null

mkdir "$PGTMP/stub"
$PY "$SRC/tests/relay/supabase_stub.py" --dsn "host=$PGTMP dbname=postgres user=postgres" \
	--dir "$PGTMP/stub" --ready "$PGTMP/stub.json" >"$PGTMP/stub.log" 2>&1 &
STUB_PID=$!
i=0
while [ ! -f "$PGTMP/stub.json" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$STUB_PID" 2>/dev/null; then
		cat "$PGTMP/stub.log" >&2
		echo "stub_test: the server did not start" >&2
		exit 1
	fi
	sleep 0.1
done
STUB_READY="$PGTMP/stub.json" STUB_OBJDIR="$PGTMP/stub/objects" PSQL="$PSQL" \
	$PY "$SRC/tests/relay/stub_test.py" || {
	echo "--- server log" >&2
	tail -n 30 "$PGTMP/stub.log" >&2
	exit 1
}
