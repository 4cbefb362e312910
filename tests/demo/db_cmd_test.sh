#!/bin/sh
# tests/demo/db_cmd_test.sh BUILD_DIR SRC_DIR: `cabsync db` as an operator
# meets it: exit codes and one-sentence errors for bad use, install that
# refuses a non-WAL database unless asked, idempotent re-install keeping the
# device id, sync of two files, status, resolve of a missing conflict, and
# uninstall that leaves the app's data intact.
set -eu
build=$1
src=$2
cs=$build/agent/cabsync
ini=$src/sql/demo/tables.ini
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
# expect CODE CMD...: run, check the exit code, keep stderr in $tmp/err
expect() {
	want=$1
	shift
	set +e
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	set -e
	[ "$got" = "$want" ] || fail "exit $got, want $want: $* ($(cat "$tmp/err"))"
}
one_line() {
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "stderr is not one sentence: $(cat "$tmp/err")"
}

a=$tmp/a.db
b=$tmp/b.db
sqlite3 "$a" <"$src/sql/demo/schema.sql"
sqlite3 "$b" <"$src/sql/demo/schema.sql"
"$src/sql/demo/generate.sh" "$a" 5 2 3

expect 0 "$cs" --help
grep -q "cabsync db sync" "$tmp/out" || fail "--help does not list db sync"
grep -q "exit codes" "$tmp/out" || fail "--help does not document exit codes"
expect 2 "$cs" db frobnicate
one_line
expect 2 "$cs" db install --db "$a"
one_line
expect 2 "$cs" db install --db "$a" --tables "$ini" --device-name "bad;name"
one_line
expect 2 "$cs" db sync --tables "$ini" "$a"
expect 2 "$cs" db resolve --db "$a" 1 maybe
expect 3 "$cs" db status --db "$a"
one_line
grep -q "not installed" "$tmp/err" || fail "status on a fresh database: $(cat "$tmp/err")"
expect 1 "$cs" db install --db "$tmp/missing.db" --tables "$ini" --device-name X
one_line

# a database in rollback-journal mode is refused until --enable-wal
[ "$(sqlite3 "$a" "PRAGMA journal_mode")" = delete ] || fail "test setup: journal mode"
expect 3 "$cs" db install --db "$a" --tables "$ini" --device-name "Poste A"
one_line
[ "$(sqlite3 "$a" "PRAGMA journal_mode")" = delete ] || fail "install switched to WAL unasked"
expect 0 "$cs" db install --db "$a" --tables "$ini" --device-name "Poste A" --enable-wal
[ "$(sqlite3 "$a" "PRAGMA journal_mode")" = wal ] || fail "--enable-wal did not switch"
id1=$(sed -n 's/^id = //p' "$a-cabsync.ini")
expect 0 "$cs" db install --db "$a" --tables "$ini" --device-name "Poste A" --enable-wal
[ "$id1" = "$(sed -n 's/^id = //p' "$a-cabsync.ini")" ] || fail "re-install changed the device id"
expect 0 "$cs" db install --db "$b" --tables "$ini" --device-name "Poste B" --enable-wal

# rows that existed before install sync too; then an edit on b comes back
expect 0 "$cs" db sync --tables "$ini" "$a" "$b"
[ "$(sqlite3 "$b" "SELECT count(*) FROM consultation")" = 10 ] || fail "sync did not copy"
sqlite3 "$b" "UPDATE patient SET telephone = '04 78 00 00 00' WHERE nom = (SELECT min(nom) FROM patient)"
expect 0 "$cs" db sync --tables "$ini" "$a" "$b"
[ "$(sqlite3 "$a" "SELECT count(*) FROM patient WHERE telephone = '04 78 00 00 00'")" -ge 1 ] ||
	fail "the edit did not come back"
expect 0 "$cs" db status --db "$a"
grep -q "peer:.*Poste B" "$tmp/out" || fail "status does not name the peer: $(cat "$tmp/out")"
expect 0 "$cs" db conflicts --db "$a"
grep -q "no open conflicts" "$tmp/out" || fail "conflicts out of nothing"
expect 4 "$cs" db resolve --db "$a" 999 keep-mine
one_line

# uninstall: cs_ objects gone, app rows intact, state file removed
before=$(sqlite3 "$a" "SELECT count(*) FROM consultation")
expect 0 "$cs" db uninstall --db "$a"
[ "$(sqlite3 "$a" "SELECT count(*) FROM sqlite_master WHERE name LIKE 'cs!_%' ESCAPE '!'")" = 0 ] ||
	fail "cs_ objects left after uninstall"
[ "$(sqlite3 "$a" "SELECT count(*) FROM consultation")" = "$before" ] || fail "uninstall lost rows"
[ ! -e "$a-cabsync.ini" ] || fail "state file left"
expect 3 "$cs" db sync --tables "$ini" "$a" "$b"
one_line
echo "db_cmd: ok"
