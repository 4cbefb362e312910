#!/bin/sh
# tests/relay/pg_test.sh: sql/supabase/migration.sql on a real PostgreSQL 15
# (issue 7 §1). A temp cluster (tests/relay/pgcluster.sh), Supabase's auth/
# storage/net/vault/cron stand-ins (tests/relay/supabase_standins.sql), the
# migration applied twice, then tests/relay/pg_test.sql asserts RLS with
# real roles and request.jwt.claims, and the sweep. Also: the warnings on
# unsafe membership tables, camelCase column names, no pg_cron.
# usage: pg_test.sh SOURCE_DIR
set -eu
SRC=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/relay/pgcluster.sh"
MIG="$SRC/sql/supabase/migration.sql"
STANDINS="$SRC/tests/relay/supabase_standins.sql"

fail() {
	echo "pg_test: FAIL: $*" >&2
	exit 1
}

pg_start
PSQL="$PG_BIN/psql -X -v ON_ERROR_STOP=1 -q"

# 1. the main database: stand-ins, the migration twice, the assertions
$PSQL -f "$STANDINS" >/dev/null 2>&1
$PSQL -f "$MIG" >"$PGTMP/mig1.out" 2>&1 || { cat "$PGTMP/mig1.out"; fail "migration"; }
$PSQL -f "$MIG" >"$PGTMP/mig2.out" 2>&1 || { cat "$PGTMP/mig2.out"; fail "migration, second run"; }
grep -q 'users cannot add themselves' "$PGTMP/mig2.out" || fail "no membership check notice"
if grep -E 'WARNING|ERROR' "$PGTMP/mig1.out" "$PGTMP/mig2.out"; then
	fail "the migration warns on a safe project"
fi
$PSQL -f "$SRC/tests/relay/pg_test.sql" || fail "assertions (above)"

# 2. app tables present with RLS off, camelCase columns: applies, warns
# the other databases start from a template holding only the stand-ins
$PSQL -c "CREATE DATABASE standins" >/dev/null
PGDATABASE=standins $PSQL -f "$STANDINS" >/dev/null 2>&1
createdb() {
	$PSQL -c "CREATE DATABASE $1 TEMPLATE standins" >/dev/null
}
createdb insecure1
PGDATABASE=insecure1 $PSQL <<'SQL' >/dev/null
CREATE TABLE "Cabinet" (id int PRIMARY KEY);
CREATE TABLE "Osteopath" (id int PRIMARY KEY, "authId" uuid);
CREATE TABLE osteopath_cabinet ("osteopathId" int, "cabinetId" int);
INSERT INTO "Cabinet" VALUES (5);
INSERT INTO "Osteopath" VALUES (1, 'a0000000-0000-0000-0000-000000000001');
INSERT INTO osteopath_cabinet VALUES (1, 5);
SQL
PGDATABASE=insecure1 $PSQL -f "$MIG" >"$PGTMP/ins1.out" 2>&1 || { cat "$PGTMP/ins1.out"; fail "migration on insecure1"; }
grep -q 'UNSAFE MEMBERSHIP: public.osteopath_cabinet: row level security is OFF and role authenticated' "$PGTMP/ins1.out" ||
	{ cat "$PGTMP/ins1.out"; fail "no warning for osteopath_cabinet without RLS"; }
grep -q 'UNSAFE MEMBERSHIP: public."Osteopath": row level security is OFF' "$PGTMP/ins1.out" ||
	fail "no warning for Osteopath without RLS"
# the camelCase columns work: alice is a member of 5
out=$(PGDATABASE=insecure1 $PSQL -tA <<'SQL'
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"a0000000-0000-0000-0000-000000000001","role":"authenticated"}', false);
SELECT cabsync_private.is_member(5)::text || ',' || cabsync_private.is_member(6)::text;
SQL
)
[ "$(echo "$out" | tail -n 1)" = "true,false" ] || fail "camelCase membership: $out"

# 3. RLS on but a policy that lets users insert: warns, naming the policy
createdb insecure2
PGDATABASE=insecure2 $PSQL <<'SQL' >/dev/null
CREATE TABLE "Cabinet" (id int PRIMARY KEY);
CREATE TABLE "Osteopath" (id int PRIMARY KEY, "authId" uuid);
CREATE TABLE osteopath_cabinet (osteopath_id int, cabinet_id int);
ALTER TABLE "Cabinet" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Osteopath" ENABLE ROW LEVEL SECURITY;
ALTER TABLE osteopath_cabinet ENABLE ROW LEVEL SECURITY;
CREATE POLICY join_any ON osteopath_cabinet FOR INSERT TO authenticated WITH CHECK (true);
SQL
PGDATABASE=insecure2 $PSQL -f "$MIG" >"$PGTMP/ins2.out" 2>&1 || { cat "$PGTMP/ins2.out"; fail "migration on insecure2"; }
grep -q 'UNSAFE MEMBERSHIP: public.osteopath_cabinet: policy join_any lets role authenticated' "$PGTMP/ins2.out" ||
	{ cat "$PGTMP/ins2.out"; fail "no warning for a permissive INSERT policy"; }
grep -q 'Osteopath' "$PGTMP/ins2.out" && { cat "$PGTMP/ins2.out"; fail "a warning for a safe Osteopath"; }

# 4. no pg_cron, no pg_net, no Vault: the migration still applies and says
# that the sweep is not scheduled
createdb nocron
PGDATABASE=nocron $PSQL -c 'DROP SCHEMA cron CASCADE' -c 'DROP SCHEMA net CASCADE' \
	-c 'DROP SCHEMA vault CASCADE' >/dev/null 2>&1 || fail "dropping the cron/net/vault stand-ins"
PGDATABASE=nocron $PSQL -f "$MIG" >"$PGTMP/nocron.out" 2>&1 || { cat "$PGTMP/nocron.out"; fail "migration without pg_cron"; }
grep -q 'pg_cron is not available: the expiry sweep is NOT scheduled' "$PGTMP/nocron.out" ||
	{ cat "$PGTMP/nocron.out"; fail "no warning without pg_cron"; }
PGDATABASE=nocron $PSQL -f "$MIG" >/dev/null 2>&1 || fail "second run without pg_cron"
n=$(PGDATABASE=nocron $PSQL -tA -c "SELECT count(*) FROM pg_policies WHERE policyname LIKE 'cabsync_%'")
[ "$n" = 10 ] || fail "expected 10 cabsync policies without pg_cron, got $n"

echo "pg_test: all passed"
