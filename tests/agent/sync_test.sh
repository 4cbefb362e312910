#!/bin/sh
# tests/agent/sync_test.sh BUILD_DIR SRC_DIR: two agents on loopback with a
# static peer. Edits made with the sqlite3 shell (as the app would) on A
# appear in B's database and back; a concurrent edit of one cell made while
# B is stopped ends in cs_conflicts on both after restart; status and
# pause/resume through the control socket; SIGTERM leaves no process.
. "$(dirname "$0")/lib.sh"

newdb a
newdb b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Martin --device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
# the keys are 0600, the home is never overwritten
[ "$(stat -c %a "$tmp/h_a/device.key")" = 600 ] || fail "device.key mode"
[ "$(stat -c %a "$tmp/h_a/cabinet.key")" = 600 ] || fail "cabinet.key mode"
if "$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin 2>"$tmp/err"; then fail "init overwrote a home"; fi
grep -q "already initialised" "$tmp/err" || fail "init: no clear sentence"

start a
start b --peer "127.0.0.1:$(port a)"
until_eq 10 'q b "SELECT nom FROM patient"' Dupont

# A -> B and B -> A, live
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Martin','Anne','1990-02-02','F','2024-01-02')"
until_eq 5 'q b "SELECT count(*) FROM patient"' 2
q b "UPDATE patient SET telephone='0102030405' WHERE nom='Dupont'"
until_eq 5 'q a "SELECT telephone FROM patient WHERE nom=\"Dupont\""' 0102030405
q b "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     SELECT id,'Martin','2024-03-01','lombalgie',5000 FROM patient WHERE nom='Martin'"
until_eq 5 'q a "SELECT count(*) FROM consultation"' 1

# status through the control socket
until_eq 5 'status a | grep -o "\"state\":\"synced\""' '"state":"synced"'
status b | grep -q '"name":"desk","online":true' || fail "status b: desk not online"
XDG_RUNTIME_DIR=$tmp/x_a "$cabsync" status >"$tmp/st" || fail "status exit code"
grep -q "peer laptop: online" "$tmp/st" || fail "human status"

# pause: nothing flows; resume: it does again
XDG_RUNTIME_DIR=$tmp/x_b "$cabsync" pause >/dev/null || fail "pause"
q a "UPDATE patient SET ville='Lyon' WHERE nom='Dupont'"
sleep 1
[ "$(q b "SELECT ifnull(ville,'-') FROM patient WHERE nom='Dupont'")" = "-" ] ||
	fail "an edit arrived while paused"
set +e
XDG_RUNTIME_DIR=$tmp/x_b "$cabsync" status >/dev/null
rc=$?
set -e
[ $rc = 6 ] || fail "status while paused exits $rc, want 6"
XDG_RUNTIME_DIR=$tmp/x_b "$cabsync" resume >/dev/null || fail "resume"
until_eq 10 'q b "SELECT ville FROM patient WHERE nom=\"Dupont\""' Lyon

# a concurrent edit: B stopped, both edit the same cell, B restarted
stop b
q a "UPDATE patient SET email='a@x.fr' WHERE nom='Dupont'"
q b "UPDATE patient SET email='b@x.fr' WHERE nom='Dupont'"
start b --peer "127.0.0.1:$(port a)"
until_eq 10 'q a "SELECT count(*) FROM cs_conflicts"' 1
until_eq 10 'q b "SELECT count(*) FROM cs_conflicts"' 1
until_eq 10 'canon b' "$(canon a)"
[ "$(q a "SELECT email FROM patient WHERE nom='Dupont'")" = \
	"$(q b "SELECT email FROM patient WHERE nom='Dupont'")" ] || fail "emails differ"

# clean shutdown: BYE, both exit 0
stop a
eval "p=\$pid_b"
kill -TERM "$p"
wait "$p" || fail "agent b exited non-zero on SIGTERM"
grep -q "closed: normal close\|closed: agent stopping" "$tmp/b.log" || fail "no BYE seen"
echo "ok"
