#!/bin/sh
# tests/share/until_test.sh BUILD_DIR SRC_DIR: a locum's `--until` ends on
# their own device too, even offline (issue 6 §1; DESIGN.md "Scope and
# permissions"). Martin shares P1 with Bob `write --until` in a few seconds;
# Bob edits it (it reaches Martin). Martin's PC goes off: when the date
# passes, Bob's copy is read-only at once for his app (the trigger's clear
# error), though it waits to be purged until Martin's PC has the edit Bob
# made offline before the end; Martin back, Bob's copy goes, Martin keeps it.
. "$(dirname "$0")/../agent/lib.sh"

newdb a
newdb b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Un','P1','1980-01-01','M','2024-01-01'),('Deux','P2','1980-01-01','M','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name a >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Bob --device-name b --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init b"
cp "$tmp/h_b/roster.ini" "$tmp/h_a/roster.ini"
start a
start b --peer "127.0.0.1:$(port a)"
until_eq 20 '"$cabsync" practitioners --home "$tmp/h_a" | grep -c "Bob"' 1
end=$(($(date +%s) + 30))
until=$(date -u -d "@$end" +%Y-%m-%dT%H:%M:%S)
"$cabsync" share 1 --with Bob --perm write --until "$until" --home "$tmp/h_a" \
	>>"$tmp/cli.log" 2>&1 || fail "share --until"
until_eq 20 'q b "SELECT group_concat(prenom) FROM patient"' P1
# while the share lasts, Bob's app writes, and it reaches Martin
q b "UPDATE patient SET ville='ByBob'" || fail "b cannot write its write share"
until_eq 20 'q a "SELECT ville FROM patient WHERE prenom=\"P1\""' ByBob
stop a
# Bob, offline, edits again before the end: not acknowledged by anyone
[ "$(date +%s)" -lt $((end - 1)) ] || fail "too slow: the share ended before the offline edit"
q b "UPDATE patient SET ville='Offline'" || fail "b cannot write before the end"
# the date passes with Bob offline: his app's writes are refused at once
while [ "$(date +%s)" -le "$end" ]; do sleep 0.2; done
ro() {
	# (ville=ville: a no-op while writable, so polling changes nothing)
	if q b "UPDATE patient SET ville=ville" 2>"$tmp/err"; then
		echo writable
	else
		grep -q "patient shared read-only" "$tmp/err" && echo refused
	fi
}
until_eq 10 ro refused
q b "UPDATE patient SET ville='Late'" 2>/dev/null && fail "b's app wrote after --until"
[ "$(q b "SELECT ville FROM patient")" = Offline ] || fail "a write went through after --until"
# the copy waits for the owner to have Bob's last valid edit
sleep 3
[ "$(q b "SELECT count(*) FROM patient")" = 1 ] || fail "purged before the owner had Bob's edit"
start a
stop b
start b --peer "127.0.0.1:$(port a)"
until_eq 30 'q b "SELECT count(*) FROM patient"' 0
[ "$(q a "SELECT ville FROM patient WHERE prenom='P1'")" = Offline ] || fail "a lost Bob's edit"
[ "$(q a "SELECT count(*) FROM patient")" = 2 ] || fail "a lost a patient"
# Martin's later edits stay away from b
q a "UPDATE patient SET ville='AfterEnd' WHERE prenom='P1'"
sleep 2
[ "$(q b "SELECT count(*) FROM patient")" = 0 ] || fail "an edit after --until reached b"
"$cabsync" audit verify --home "$tmp/h_b" >/dev/null || fail "audit verify b"
echo ok
