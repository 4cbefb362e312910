#!/bin/sh
# tests/tray/events_test.sh BUILD_DIR SRC_DIR: the control socket's events
# and database verbs against real agents (docs/PROTOCOL.md §8.2-§8.3):
# a subscriber sees the status first, a colleague's device coming and
# going, the status changing (offline with the count of changes waiting),
# a conflict recorded, listed by `conflicts`, resolved by `resolve` (the
# value written through the agent reaches the other copy), `audit`, and
# "stopping" then EOF when the agent stops (EOF alone when it is killed).
# Meanwhile a subscriber that never reads and a client that never finishes
# its request are connected: 3000 rows still sync.
. "$(dirname "$0")/../agent/lib.sh"

cli=$src/tests/tray/ctl_client.py
sock() {
	echo "$tmp/x_$1/cabsync/control.sock"
}
req() {
	python3 "$cli" "$(sock "$1")" request "$2" ${3:-} ${4:-}
}
# ev_wait SECONDS PATTERN: a line of the event file matches (grep -E)
ev_wait() {
	until_eq "$1" "grep -c -E '$2' '$tmp/ev' | grep -q '^[1-9]' && echo yes" yes
}

newdb a
newdb b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Martin --device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
start a
python3 "$cli" "$(sock a)" subscribe "$tmp/ev" &
pid_sub=$!
pids="$pids $!"
python3 "$cli" "$(sock a)" sleeper &
pids="$pids $!"
python3 "$cli" "$(sock a)" mute &
pids="$pids $!"
ev_wait 10 '^\{"event":"status","state":"offline",'
head -n 1 "$tmp/ev" | grep -q '"pending":null' || fail "first status: pending should be null"

# the colleague's device comes: a peer event, then synced
start b --peer "127.0.0.1:$(port a)"
ev_wait 10 '^\{"event":"peer","device":"[0-9a-f]{32}","name":"laptop","online":true\}$'
ev_wait 10 '^\{"event":"status","state":"synced",.*"pending":0,'
until_eq 10 'q b "SELECT nom FROM patient"' Dupont

# 3000 rows while a subscriber never reads and a request never ends
# (one patient's consultations: the audit trail adds one row per patient and
# session, so the session end stays short)
q a "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<3000)
     INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     SELECT (SELECT id FROM patient WHERE nom='Dupont'),'Martin','2024-03-01','c'||i,5000
     FROM n"
until_eq 60 'q b "SELECT count(*) FROM consultation"' 3000
ev_wait 20 '^\{"event":"status","state":"synced",.*"db_version":[0-9]+,"pending":0,'

# the colleague goes: peer down; edits here: offline with the count waiting
stop b
ev_wait 10 '"name":"laptop","online":false\}$'
q a "UPDATE patient SET ville='Lyon' WHERE nom='Dupont'"
q a "UPDATE consultation SET motif='x' WHERE motif='c1'"
ev_wait 10 '^\{"event":"status","state":"offline",.*"pending":2,'
status a | grep -q '"state":"offline".*"pending":2,' || fail "status a: offline, 2 pending"

# a conflict: both edit one cell while apart
q a "UPDATE patient SET email='a@x.fr' WHERE nom='Dupont'"
q b "UPDATE patient SET email='b@x.fr' WHERE nom='Dupont'"
start b --peer "127.0.0.1:$(port a)"
ev_wait 15 '^\{"event":"conflict","open":1,"new":1\}$'
ev_wait 10 '^\{"event":"status",.*"conflicts":1,'
req a conflicts >"$tmp/conf"
grep -q '^{"conflicts":\[{"id":[0-9]*,"table":"patient","column":"email",' "$tmp/conf" ||
	fail "conflicts answer: $(cat "$tmp/conf")"
grep -q '"truncated":false}$' "$tmp/conf" || fail "conflicts answer not complete"
id=$(sed 's/^{"conflicts":\[{"id":\([0-9]*\),.*/\1/' "$tmp/conf")
mine=$(q a "SELECT email FROM patient WHERE nom='Dupont'")
case "$mine" in
a@x.fr) theirs=b@x.fr ;;
*) theirs=a@x.fr ;;
esac
grep -q "\"mine\":\"$mine\",\"theirs\":\"$theirs\"" "$tmp/conf" || fail "mine/theirs: $(cat "$tmp/conf")"
[ "$(req a resolve 999999 mine)" = '{"error":"no such open conflict"}' ] ||
	fail "resolve of a missing conflict"
[ "$(req a resolve "$id" theirs)" = "{\"ok\":true,\"id\":$id}" ] || fail "resolve $id theirs"
ev_wait 10 '^\{"event":"conflict","open":0,"new":0\}$'
until_eq 10 'q a "SELECT email FROM patient WHERE nom=\"Dupont\""' "$theirs"
until_eq 10 'q b "SELECT email FROM patient WHERE nom=\"Dupont\""' "$theirs"
[ "$(req a conflicts)" = '{"conflicts":[],"truncated":false}' ] || fail "conflict still open"
[ "$(req a resolve "$id" mine)" = '{"error":"no such open conflict"}' ] || fail "resolved twice"

# the audit trail, read-only, through the agent
req a audit >"$tmp/audit"
grep -q '^{"total":[0-9]*,"audit":\[' "$tmp/audit" || fail "audit answer: $(head -c 300 "$tmp/audit")"
# a malformed request is refused with a sentence
[ "$(req a resolve 01 mine)" = '{"error":"missing, extra or malformed argument"}' ] ||
	fail "resolve 01 accepted"

# the slow clients never held anything; the sleeper may have been dropped
grep -q "^EOF$" "$tmp/ev" && fail "the reading subscriber was dropped"

# stop: "stopping" then EOF; killed: EOF alone
stop b
stop a
until_eq 10 'tail -n 2 "$tmp/ev" | tr "\n" " "' '{"event":"stopping"} EOF '
wait "$pid_sub" || true
start a
: >"$tmp/ev"
python3 "$cli" "$(sock a)" subscribe "$tmp/ev" &
pids="$pids $!"
ev_wait 10 '^\{"event":"status",'
stop a KILL
until_eq 10 'tail -n 1 "$tmp/ev"' EOF
grep -q stopping "$tmp/ev" && fail "a killed agent cannot say stopping"
echo "ok"
