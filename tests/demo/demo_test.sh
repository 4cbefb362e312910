#!/bin/sh
# tests/demo/demo_test.sh BUILD_DIR SRC_DIR: runs the demo (sql/demo/demo.sh)
# end to end on small data and checks, on the databases it leaves, what it
# claims: the three copies converged (identical canonical dumps), every
# scripted edit arrived, the concurrent diagnostic edit and the delete vs.
# edit are recorded as conflicts on every copy, the resolution reached all
# three, nothing is held or quarantined.
set -eu
build=$1
src=$2
cabsync=$build/agent/cabsync
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
canon() {
	sqlite3 "$1" <"$src/sql/demo/canonical.sql" | sha256sum | cut -c1-64
}

if ! CS_DEMO_DIR=$tmp/demo CS_DEMO_PATIENTS=30 CS_DEMO_CONSULTS=3 \
	sh "$src/sql/demo/demo.sh" "$build" >"$tmp/out" 2>&1; then
	cat "$tmp/out"
	fail "demo.sh failed"
fi
cat "$tmp/out"
desk=$tmp/demo/martin-bureau.db
laptop=$tmp/demo/martin-portable.db
durand=$tmp/demo/durand-cabinet.db

h=$(canon "$desk")
[ "$h" = "$(canon "$laptop")" ] || fail "desk and laptop differ"
[ "$h" = "$(canon "$durand")" ] || fail "desk and Dr Durand's PC differ"
grep -q "identical canonical dumps" "$tmp/out" || fail "the demo did not print convergence"

for f in "$desk" "$laptop" "$durand"; do
	n=$(basename "$f")
	[ "$(sqlite3 "$f" "SELECT count(*) FROM patient")" = 32 ] || fail "$n: patients"
	[ "$(sqlite3 "$f" "SELECT count(*) FROM patient WHERE nom IN ('Lefort', 'Bonnaire')")" = 2 ] ||
		fail "$n: the two new patients"
	[ "$(sqlite3 "$f" "SELECT count(*) FROM consultation WHERE diagnostic = 'Dysfonction lombaire L5-S1, spasme du psoas droit'")" = 1 ] ||
		fail "$n: the resolved diagnostic (take theirs) is not there"
	[ "$(sqlite3 "$f" "SELECT count(*) FROM consultation WHERE traitement = 'Techniques viscérales, travail du diaphragme' AND conseils LIKE 'Marche quotidienne%'")" = 1 ] ||
		fail "$n: the two edits of different fields of one row"
	[ "$(sqlite3 "$f" "SELECT count(*) FROM appointment WHERE note LIKE 'Prévient%'")" = 0 ] ||
		fail "$n: the deleted appointment came back"
	[ "$(sqlite3 "$f" "SELECT count(*) FROM document WHERE nom_fichier = 'bilan_initial.pdf'")" = 0 ] ||
		fail "$n: the cascade-deleted document is still there"
	[ -z "$(sqlite3 "$f" "PRAGMA foreign_key_check")" ] || fail "$n: dangling foreign keys"
	"$cabsync" db conflicts --db "$f" --all >"$tmp/c" || fail "$n: cabsync db conflicts"
	grep -q "column diagnostic" "$tmp/c" || fail "$n: the concurrent diagnostic edit is not recorded"
	grep -q "deleted the row" "$tmp/c" || fail "$n: the delete vs. edit is not recorded"
	grep -A4 "column diagnostic" "$tmp/c" | grep -q "(resolved)" ||
		grep -q "column diagnostic.*(resolved)" "$tmp/c" || fail "$n: the resolution did not arrive"
	"$cabsync" db status --db "$f" >"$tmp/s" || fail "$n: cabsync db status"
	grep -q "0 rows held, 0 quarantined" "$tmp/s" || fail "$n: rows wait: $(cat "$tmp/s")"
done
echo "demo: ok"
