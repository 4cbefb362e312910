#!/bin/sh
# tests/demo/generate_test.sh SRC_DIR: sql/demo/generate.sh makes the rows it
# promises (N patients, N*M consultations, documents, appointments), keeps
# every foreign key valid, appends after existing rows, and is deterministic
# for a seed (and varies with it).
set -eu
src=$1
gen=$src/sql/demo/generate.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
q() {
	sqlite3 "$1" "$2"
}
dump() {
	sqlite3 "$1" .dump | sha256sum | cut -c1-64
}

"$gen" "$tmp/a.db" 40 3 7
[ "$(q "$tmp/a.db" 'SELECT count(*) FROM patient')" = 40 ] || fail "patients"
[ "$(q "$tmp/a.db" 'SELECT count(*) FROM consultation')" = 120 ] || fail "consultations"
nd=$(q "$tmp/a.db" 'SELECT count(*) FROM document')
[ "$nd" -gt 10 ] && [ "$nd" -lt 80 ] || fail "documents: $nd"
na=$(q "$tmp/a.db" 'SELECT count(*) FROM appointment')
[ "$na" -ge 40 ] && [ "$na" -le 80 ] || fail "appointments: $na"
[ -z "$(q "$tmp/a.db" 'PRAGMA foreign_key_check')" ] || fail "foreign keys"
[ "$(q "$tmp/a.db" "SELECT count(*) FROM document WHERE length(sha256) <> 64 OR patient_id <> (SELECT patient_id FROM consultation c WHERE c.id = consultation_id)")" = 0 ] || fail "documents inconsistent"
[ "$(q "$tmp/a.db" "SELECT count(DISTINCT motif) > 5 AND count(DISTINCT examen) > 20 FROM consultation")" = 1 ] || fail "text not varied"

"$gen" "$tmp/b.db" 40 3 7
[ "$(dump "$tmp/a.db")" = "$(dump "$tmp/b.db")" ] || fail "same seed, different data"
"$gen" "$tmp/c.db" 40 3 8
[ "$(dump "$tmp/a.db")" != "$(dump "$tmp/c.db")" ] || fail "seed has no effect"

# appending: ids continue, children point to the new patients
"$gen" "$tmp/a.db" 10 2 9 "Paul Durand"
[ "$(q "$tmp/a.db" 'SELECT count(*) FROM patient')" = 50 ] || fail "append patients"
[ "$(q "$tmp/a.db" "SELECT count(*) FROM consultation WHERE praticien = 'Paul Durand' AND patient_id > 40")" = 20 ] || fail "append consultations"
[ -z "$(q "$tmp/a.db" 'PRAGMA foreign_key_check')" ] || fail "foreign keys after append"

# bad arguments are refused
if "$gen" "$tmp/d.db" x 1 2>/dev/null; then fail "accepted a bad N"; fi
echo "generate: ok"
