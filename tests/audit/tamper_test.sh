#!/bin/sh
# tests/audit/tamper_test.sh BUILD_DIR SRC_DIR: the audit trail against the
# sqlite3 shell (issue 6 §4). Two devices A and B of one cabinet; A's app
# logs notes through `cabsync audit add`, B keeps A's signed head. Then each
# tampering, made on a fresh copy of A's database, must make `cabsync audit
# verify` exit 7 and name the first bad row: an edited row, a deleted row, a
# forged row, a dropped tail, triggers dropped then the last row edited, the
# whole chain rewritten and re-signed with A's device key (caught by B's
# copy of the head). The untouched trail passes.
. "$(dirname "$0")/../agent/lib.sh"

newdb a
newdb b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Durand --device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
pid=$(q a "SELECT id FROM patient")

A() {
	"$cabsync" audit --home "$tmp/h_a" "$@"
}
# verify_bad ROW [ARGS...]: verify fails with exit 7 and names row ROW
verify_bad() {
	row=$1
	shift
	set +e
	A verify "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" -eq 7 ] || fail "verify exit $rc, want 7: $(cat "$tmp/out" "$tmp/err")"
	grep -q "first bad row $row:" "$tmp/out" || fail "verify names no row $row: $(cat "$tmp/out")"
}
verify_ok() {
	A verify "$@" >"$tmp/out" 2>"$tmp/err" || fail "verify failed: $(cat "$tmp/out" "$tmp/err")"
	grep -q "audit trail intact" "$tmp/out" || fail "verify: $(cat "$tmp/out")"
}
restore() {
	sqlite3 "$tmp/a.db" ".restore $tmp/pristine.db"
}
untrigger() {
	q a "DROP TRIGGER cs_audit_no_update; DROP TRIGGER cs_audit_no_delete;
	     DROP TRIGGER cs_audit_no_replace"
}

# the app logs; a person reads
for i in 1 2 3 4 5; do
	A add "note $i" >/dev/null || fail "audit add $i"
done
A add --patient "$pid" "record opened" >/dev/null || fail "audit add --patient"
if A add --patient 999 "x" 2>"$tmp/err"; then fail "add: unknown patient accepted"; fi
A >"$tmp/list" || fail "audit list"
[ "$(grep -c '^#' "$tmp/list")" -eq 6 ] || fail "list: $(cat "$tmp/list")"
grep -q "^#6 .* note .*Martin, desk .*patient $pid .*\"record opened\"" "$tmp/list" ||
	fail "list line: $(cat "$tmp/list")"
[ "$(A --patient "$pid" | grep -c '^#')" -eq 1 ] || fail "--patient"
A --since 2000-01-01 | grep -q '^#1 ' || fail "--since past"
A --since 2999-01-01T10:00 | grep -q 'no audit event matches' || fail "--since future"
A --json >"$tmp/json"
python3 -c "
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 6, rows
assert rows[5]['action'] == 'note' and rows[5]['patient'] == sys.argv[2], rows[5]
assert rows[5]['detail'] == 'record opened' and rows[0]['count'] == 0
" "$tmp/json" "$pid" || fail "--json: $(cat "$tmp/json")"

# B keeps A's head of 6 rows (the exchange a session end makes)
head6=$(A head) || fail "audit head"
"$cabsync" audit keep --home "$tmp/h_b" "$head6" >/dev/null || fail "B keeps A's head"
A add "note 7" >/dev/null
A add "note 8" >/dev/null
A head >/dev/null || fail "head 8" # A's own head: 8 rows
verify_ok
grep -q "8 row(s), 1 signed head" "$tmp/out" || fail "verify counts: $(cat "$tmp/out")"
sqlite3 "$tmp/a.db" ".backup $tmp/pristine.db"

# the triggers refuse the shell's edits
for sql in "UPDATE cs_audit SET count=9 WHERE id=2" "DELETE FROM cs_audit WHERE id=8" \
	"INSERT OR REPLACE INTO cs_audit SELECT * FROM cs_audit WHERE id=3"; do
	if q a "$sql" 2>"$tmp/err"; then fail "allowed: $sql"; fi
	grep -q "cs_audit is append-only" "$tmp/err" || fail "$sql: $(cat "$tmp/err")"
done
verify_ok

# an edited row
untrigger
q a "UPDATE cs_audit SET count=count+5 WHERE id=3"
verify_bad 3
grep -q "row 3 was edited" "$tmp/out" || fail "edit: $(cat "$tmp/out")"
grep -q "triggers of cs_audit are missing" "$tmp/err" || fail "no trigger warning"
restore

# a deleted row
untrigger
q a "DELETE FROM cs_audit WHERE id=5"
verify_bad 5
grep -q "row 5 is missing" "$tmp/out" || fail "delete: $(cat "$tmp/out")"
restore

# a forged row at the end (inserts need no dropped trigger), well chained
q a "INSERT INTO cs_audit SELECT 9, at_ms, 0, device, practitioner, NULL, NULL, 0,
     'forged', hash, randomblob(32), randomblob(64) FROM cs_audit WHERE id=8"
verify_bad 9
restore
# a validly signed row copied to a new place
q a "INSERT INTO cs_audit SELECT 9, at_ms, action, device, practitioner, patient,
     patient_local, count, detail, prev, hash, sig FROM cs_audit WHERE id=4"
verify_bad 9
restore

# the tail dropped: caught by A's own head (8 rows)
untrigger
q a "DELETE FROM cs_audit WHERE id > 6"
verify_bad 7
grep -q "rows 7 to 8 are missing" "$tmp/out" || fail "tail: $(cat "$tmp/out")"
restore

# triggers dropped, the last row's detail edited
untrigger
q a "UPDATE cs_audit SET detail='nothing happened' WHERE id=8"
verify_bad 8
restore
verify_ok

# the whole chain rewritten and re-signed by someone holding A's disk (and
# so its device key): A alone cannot tell, B's copy of the head can
untrigger
q a "DELETE FROM cs_audit; DELETE FROM cs_audit_heads"
for i in 1 2 3 4 5 6 7 8 9; do
	A add "rewritten $i" >/dev/null
done
newhead=$(A head) || fail "head after rewrite"
verify_ok
held=$("$cabsync" audit head --home "$tmp/h_b" --of desk) || fail "B's copy"
[ "$held" = "$head6" ] || fail "B does not hold the head it was given"
verify_bad 6 --head "$held"
grep -q "rewritten and re-signed" "$tmp/out" || fail "rewrite: $(cat "$tmp/out")"
# once B's copy is kept on A, a plain verify fails too
A keep --from laptop "$held" >/dev/null || fail "A keeps B's copy"
verify_bad 6
grep -q "peer-held head" "$tmp/out" || fail "kept: $(cat "$tmp/out")"
restore

# a shorter rewrite: B refuses the new head (it would hide rows it saw)
untrigger
q a "DELETE FROM cs_audit; DELETE FROM cs_audit_heads"
A add "only row" >/dev/null
short=$(A head)
set +e
"$cabsync" audit keep --home "$tmp/h_b" "$short" >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -eq 7 ] || fail "B kept a shorter head (exit $rc)"
grep -q "truncated or rewritten" "$tmp/err" || fail "keep: $(cat "$tmp/err")"
verify_bad 2 --head "$head6"
restore

# a head that is not one, or of a device outside the roster
if A keep "00ff" 2>/dev/null; then fail "keep accepted garbage"; fi
if A verify --head "zz" 2>/dev/null; then fail "verify accepted a garbage head"; fi
verify_ok
echo "audit tamper: ok"
