#!/bin/sh
# tests/relay/stub_test.sh: the Supabase test server (supabase_stub.py)
# seen through curl (issue 7 §4): a temp PostgreSQL 15 cluster with the
# stand-ins, the migration and the fixtures of two cabinets (stubenv.sh),
# the server, then stub_test.py drives curl against it; last, the server is
# stopped and started again on the same port: tokens and objects survive.
# usage: stub_test.sh SOURCE_DIR
set -eu
SRC=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/relay/stubenv.sh"

fail() {
	echo "stub_test: FAIL: $*" >&2
	echo "--- server log" >&2
	tail -n 30 "$PGTMP/stub.log" >&2
	exit 1
}

stub_setup "$SRC/tests/relay/stub_fixtures.sql"
stub_start
STUB_OBJDIR="$PGTMP/stub/objects" STUB_SAVE="$PGTMP/saved.json" \
	PSQL="$PG_BIN/psql -X -v ON_ERROR_STOP=1 -q" \
	/usr/bin/python3 -B "$SRC/tests/relay/stub_test.py" || fail "(above)"

# a restart on the same port: same keys, the old token, the stored object
port=$STUB_PORT
anon=$STUB_ANON_KEY
stub_stop
code=$(curl -s -o /dev/null -w '%{http_code}' "$STUB_URL/admin/health" || true)
[ "$code" = 000 ] || fail "the server still answers after stub_stop ($code)"
stub_start "$port"
[ "$STUB_PORT" = "$port" ] && [ "$STUB_ANON_KEY" = "$anon" ] || fail "the restarted server has other keys"
tok=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bob"])' "$PGTMP/saved.json")
out=$(curl -sS -H "apikey: $anon" -H "Authorization: Bearer $tok" \
	"$STUB_URL/storage/v1/object/authenticated/cabinet-sync/5/2/devB/dropped" | wc -c)
[ "$out" = 3000 ] || fail "after a restart bob's token and his object are still there (got $out bytes)"
echo "stub_test: the restarted server kept keys, tokens and objects"
