#!/bin/sh
# tests/agent/dberror_test.sh BUILD_DIR SRC_DIR: a database the agent cannot
# write (another program holds the write lock past the agent's 10 s of
# retries) shows in `cabsync status` as an "error" (the tray's error state,
# issue 8) with a sentence that names no patient, and the error clears by
# itself once a batch applies again; nothing is lost.
. "$(dirname "$0")/lib.sh"
export CS_KEYRING=off CS_NO_MDNS=1
newdb a
newdb b
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" --practitioner Martin \
	--same-cabinet-as "$tmp/h_a" --device-name lap >/dev/null 2>&1 || fail "init b"
cp "$tmp/h_b/roster.ini" "$tmp/h_a/roster.ini"
start a
start b --peer "127.0.0.1:$(port a)"
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le) VALUES('Un','A','1980-01-01','M','2024-01-01')"
until_eq 30 'q b "SELECT count(*) FROM patient"' 1
# another program holds b's write lock for 25 s
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(25)
c.execute("COMMIT")' "$tmp/b.db" "$tmp/locked" &
pids="$pids $!"
until_eq 10 'test -f "$tmp/locked" && echo y' y
q a "UPDATE patient SET ville='Secretville'"
err() {
	status b | grep -o '"error":"[^"]*"' || echo -
}
until_eq 40 'err | grep -c "locked by another program"' 1
err | grep -q Secretville && fail "the error names patient data"
XDG_RUNTIME_DIR=$tmp/x_b "$cabsync" status | grep -q "^error: cannot apply received changes" ||
	fail "human status: no error line"
# the lock goes: the change arrives, the error clears
until_eq 60 'q b "SELECT ville FROM patient"' Secretville
until_eq 20 err -
grep -q "the database works again" "$tmp/b.log" || fail "no recovery line"
echo ok
