#!/bin/sh
# tests/relay/supa_test.sh BUILD_DIR SRC_DIR: the Supabase relay client with
# real agents and the test server (supabase_stub.py over PostgreSQL 15 with
# the migration's RLS deciding; tests/relay/stubenv.sh). A is alice
# (osteopath 1), B is bob (osteopath 2), cabinet 5; they never meet on the LAN.
# - relay login: a refresh token 0600; a wrong password is refused clearly;
# - A edits while B is offline: the upload declares its size, a dropped
#   upload and 503s are retried; A stops; B starts alone and has A's edits;
#   the objects and rows are gone; both audits say so;
# - no stored byte holds the canary, the metadata no local id;
# - a dropped download, expired access tokens and a server stopped and
#   started again are retried: nothing lost, nothing imported twice;
# - a refused session is said clearly, a new login is picked up;
# - a bundle that expired unread is sealed again.
. "$(dirname "$0")/../agent/lib.sh"
SRC=$src
. "$SRC/tests/relay/stubenv.sh"
stub_setup "$SRC/tests/relay/stub_fixtures.sql"
trap 'stub_cleanup; cleanup' EXIT
stub_start
psql() {
	$PG_BIN/psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}
admin() { # admin PATH JSON
	curl -sS -f -X POST -H 'Content-Type: application/json' -d "$2" "$STUB_URL$1" >/dev/null ||
		fail "admin $1"
}
admin /admin/users '{"email":"alice@cab.fr","password":"pw-alice","id":"a0000000-0000-0000-0000-000000000001"}'
admin /admin/users '{"email":"bob@cab.fr","password":"pw-bob","id":"b0000000-0000-0000-0000-000000000002"}'

canary=CanaryZanzibarQ
newdb a
newdb b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('$canary','Jean','1980-01-01','M','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Alice --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Bob --device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
pgid() {
	sed -n '/^\[practitioner\]/,/^\[/s/^id = //p' "$tmp/h_$1/cabsync.ini"
}
ga=$(pgid a)
gb=$(pgid b)
# Alice shares her patient with Bob: the bundles carry the share records
"$cabsync" share 1 --with "$gb" --perm write --home "$tmp/h_a" >/dev/null || fail "share"
# relay NAME EMAIL NO: the [relay] section of a home
relay() {
	cat >>"$tmp/h_$1/cabsync.ini" <<EOF
[relay]
backend = supabase
url = $STUB_URL
key = $STUB_PUBLISHABLE_KEY
email = $2
cabinet = 5
practitioner = $3
map.$ga = 1
map.$gb = 2
after = 0
interval = 500ms
lifetime = 1h
EOF
}
relay a alice@cab.fr 1
relay b bob@cab.fr 2

# --- login
set +e
CABSYNC_RELAY_PASSWORD=wrong "$cabsync" relay login --home "$tmp/h_a" 2>"$tmp/err"
rc=$?
set -e
[ $rc = 1 ] || fail "a wrong password: exit $rc"
grep -q "login refused.*invalid_credentials" "$tmp/err" || fail "wrong password: $(cat "$tmp/err")"
if grep -q "wrong" "$tmp/err"; then fail "the password was printed"; fi
CABSYNC_RELAY_PASSWORD=pw-alice "$cabsync" relay login --home "$tmp/h_a" >/dev/null 2>"$tmp/err" ||
	fail "login a: $(cat "$tmp/err")"
echo pw-bob | "$cabsync" relay login --home "$tmp/h_b" >/dev/null 2>"$tmp/err" ||
	fail "login b: $(cat "$tmp/err")"
[ "$(stat -c %a "$tmp/h_a/relay-token")" = 600 ] || fail "relay-token not 0600"

log() {
	curl -sS "$STUB_URL/admin/log"
}
logcount() { # logcount METHOD PATHPREFIX STATUS
	log | /usr/bin/python3 -c 'import json,sys
m,p,s=sys.argv[1:4]
print(sum(1 for e in json.load(sys.stdin) if e["method"]==m and e["path"].startswith(p) and str(e["status"])==s))' "$@"
}
rows() {
	psql "SELECT count(*) FROM public.cabinet_sync_bundle"
}
objs() {
	psql "SELECT count(*) FROM storage.objects WHERE bucket_id='cabinet-sync'"
}

# --- 1. A alone; the first upload is dropped halfway, the first row insert gets 503
admin /admin/fault '{"kind":"drop","count":1,"path":"/storage/v1/object/cabinet-sync/","method":"POST"}'
admin /admin/fault '{"kind":"status","status":503,"count":2,"path":"/rest/v1/cabinet_sync_bundle","method":"POST"}'
start a
until_eq 20 rows 1
q a "UPDATE patient SET telephone='0102030405' WHERE nom='$canary'"
until_eq 20 "q a \"SELECT sum(count) FROM cs_audit WHERE action=0 AND detail LIKE
	'relay bundle % sealed for device % (supabase)%'\"" 2
nb=$(rows)
[ "$(objs)" = "$nb" ] || fail "objects $(objs) != rows $nb"
[ "$(logcount POST /storage/v1/object/cabinet-sync/ dropped)" = 1 ] || fail "no dropped upload"
[ "$(logcount POST /rest/v1/cabinet_sync_bundle 503)" = 2 ] || fail "no 503 on the row insert"
# every upload declared its size, none was chunked
log | /usr/bin/python3 -c 'import json,sys
for e in json.load(sys.stdin):
    if e["method"]=="POST" and e["path"].startswith("/storage/v1/object/cabinet-sync/"):
        assert e["content_length"] and not e["chunked"], e' || fail "an upload without a declared size"
if grep -rqa "$canary" "$PGTMP/stub"; then fail "canary in the stored objects"; fi
if psql "SELECT * FROM public.cabinet_sync_bundle" | grep -q "$canary"; then fail "canary in rows"; fi
# the metadata: object names {cabinet}/{osteopath}/{tag}/{bundle}, no local id
psql "SELECT object_name FROM public.cabinet_sync_bundle" | grep -qv '^5/2/[0-9a-f]\{32\}/[0-9a-f]\{32\}$' &&
	fail "unexpected object names: $(psql "SELECT object_name FROM public.cabinet_sync_bundle")"
# the share row (cabinet_patient_sync): one per share, keyed hashes, the hour only
until_eq 20 'psql "SELECT count(*) FROM public.cabinet_patient_sync"' 1
[ "$(psql "SELECT cabinet_id, owner_osteopath_id, shared_with_osteopath_id, sync_permission,
	is_active, to_char(last_sync_timestamp AT TIME ZONE 'UTC', 'MI:SS.US')
	FROM public.cabinet_patient_sync")" = "5|1|2|write|t|00:00.000000" ] ||
	fail "share row: $(psql "SELECT * FROM public.cabinet_patient_sync")"
psql "SELECT patient_key_hash || ' ' || patient_hash FROM public.cabinet_patient_sync" |
	grep -q '^[0-9a-f]\{32\} [0-9a-f]\{32\}$' || fail "share row hashes"
[ "$(psql "SELECT count(*) FROM public.cabinet_patient_sync WHERE patient_key_hash IN
	('1', encode(sha256('1'), 'hex'))")" = 0 ] || fail "a local id in the share row"
[ "$(logcount POST /rest/v1/cabinet_patient_sync 201)" -ge 1 ] || fail "no upsert"
stop a

# --- 2. B alone: the first download is dropped halfway, the first row poll gets 503
admin /admin/fault '{"kind":"status","status":503,"count":1,"path":"/rest/v1/cabinet_sync_bundle","method":"GET"}'
admin /admin/fault '{"kind":"drop","count":1,"path":"/storage/v1/object/authenticated/cabinet-sync/","method":"GET"}'
start b
until_eq 20 'q b "SELECT telephone FROM patient"' 0102030405
until_eq 10 rows 0
until_eq 10 objs 0
[ "$(q b "SELECT count(*) FROM cs_audit WHERE action=10 AND detail LIKE 'relay import (supabase)%'")" = "$nb" ] ||
	fail "B: import audits"
[ "$(logcount GET /storage/v1/object/authenticated/cabinet-sync/ 200)" = "$nb" ] || fail "downloads"
[ "$(ls "$tmp/h_b/relay-quarantine" 2>/dev/null | wc -l)" = 0 ] || fail "B quarantined a good bundle"
[ "$(q b "SELECT count(*) FROM cs_held")" = 0 ] || fail "B holds rows (share records missing?)"
stop b
start a
until_eq 20 "q a \"SELECT count(*) FROM cs_audit WHERE action=0 AND detail LIKE
	'relay bundle % delivered to device %'\"" "$nb"
stop a

# --- 3. both running (no LAN between them): expired tokens, a server restart
start b
start a
q a "UPDATE patient SET ville='Nantes' WHERE nom='$canary'"
until_eq 20 'q b "SELECT ville FROM patient"' Nantes
before=$(logcount POST /auth/v1/token 200)
admin /admin/expire-tokens '{}'
q a "UPDATE patient SET ville='Brest' WHERE nom='$canary'"
until_eq 20 'q b "SELECT ville FROM patient"' Brest
[ "$(logcount POST /auth/v1/token 200)" -gt "$before" ] || fail "no refresh after the tokens expired"
port=$STUB_PORT
stub_stop
q a "UPDATE patient SET ville='Quimper' WHERE nom='$canary'"
sleep 2
stub_start "$port"
until_eq 30 'q b "SELECT ville FROM patient"' Quimper
until_eq 10 rows 0
stop a
stop b
# --- 4. a refused session: a clear message, the LAN unaffected; a new login is picked up
printf 'not-a-valid-token\n' >"$tmp/h_b/relay-token"
q a "UPDATE patient SET ville='Vannes' WHERE nom='$canary'"
start a
start b
python3 "$SRC/tests/tray/ctl_client.py" "$tmp/x_b/cabsync/control.sock" subscribe "$tmp/ev" &
pids="$pids $!"
until_eq 20 "grep -q 'the Supabase session ended (HTTP 400 refresh_token_not_found' \
	'$tmp/b.log' && echo yes" yes
grep -q "run cabsync relay login" "$tmp/b.log" || fail "no advice after a refused session"
# the tray's error state and its "relay login needed" notification (issue 8)
until_eq 20 'grep -c "^{\"event\":\"relay_login\",\"reason\":\"the Supabase session ended" "$tmp/ev"' 1
status b | grep -q '"error":"relay: the Supabase session ended' || fail "status: no relay error"
XDG_RUNTIME_DIR=$tmp/x_b "$cabsync" status | grep -q "^error: relay: .*run cabsync relay login" ||
	fail "human status: no relay error"
echo pw-bob | "$cabsync" relay login --home "$tmp/h_b" >/dev/null 2>"$tmp/err" ||
	fail "login b again: $(cat "$tmp/err")"
until_eq 20 'q b "SELECT ville FROM patient"' Vannes
until_eq 20 'status b | grep -c "\"error\""' 0
grep -q "relay: logged in again" "$tmp/b.log" || fail "no line for the new login"
until_eq 10 rows 0
stop a
stop b

# --- 5. a 3 s lifetime: A's unread bundle expires, A deletes its row and seals again;
# B (back later) gets everything; the objects left behind are imported and deleted too
sed -i 's/^lifetime = 1h$/lifetime = 3s/' "$tmp/h_a/cabsync.ini"
q a "UPDATE patient SET ville='Lorient' WHERE nom='$canary'"
sealed() {
	q a "SELECT count(*) FROM cs_audit WHERE action=0 AND detail LIKE
		'relay bundle % sealed for device % (supabase)%'"
}
n0=$(sealed)
start a
until_eq 30 "q a \"SELECT count(*) > 0 FROM cs_audit WHERE action=0 AND detail LIKE
	'relay bundle % expired unread; its changes are sealed again'\"" 1
# the bundle sealed again is uploaded with its row before A stops (A offline
# between the two would simply seal again when it comes back)
until_eq 30 "[ \$(sealed) -ge $((n0 + 2)) ] && echo yes" yes
stop a
sed -i 's/^lifetime = 3s$/lifetime = 1h/' "$tmp/h_a/cabsync.ini"
start b
until_eq 20 'q b "SELECT ville FROM patient"' Lorient
until_eq 10 rows 0
until_eq 10 objs 0
stop b

# nothing imported twice: one import per bundle ever uploaded
ups=$(psql "SELECT count(*) FROM storage.objects") # 0: all deleted
[ "$ups" = 0 ] || fail "objects left: $ups"
[ "$(q b "SELECT count(*) FROM cs_audit WHERE action=5")" = 0 ] || fail "B refused something"
[ "$(canon a)" = "$(canon b)" ] || fail "A and B differ"
# every bundle upserted the same share row: still one, active
r=$(psql "SELECT count(*) || ' ' || bool_and(is_active) FROM public.cabinet_patient_sync")
[ "$r" = "1 true" ] ||
	fail "share rows after the upserts: $r"
tok=$(cat "$tmp/h_a/relay-token")
if grep -qF "$tok" "$tmp/a.log" "$tmp/b.log"; then fail "a refresh token in the log"; fi
if grep -q "pw-alice\|pw-bob" "$tmp/a.log" "$tmp/b.log"; then fail "a password in the log"; fi
[ -n "${RELAY_DEBUG:-}" ] && cat "$tmp/a.log" "$tmp/b.log" && log | head -c 3000
echo "ok"
