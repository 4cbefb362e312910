#!/bin/sh
# tests/share/wire_test.sh BUILD_DIR SRC_DIR: what crosses the test LAN
# (issue 6 §4). Bob's agent dials Martin's through a recording TCP relay on
# 127.0.0.1 (tests/share/tap.py): every byte of every session is captured.
# A canary in an unshared patient never appears in the capture, nor in Bob's
# database or WAL files; the values of the patient shared with Bob reach his
# database but never appear in clear in the capture (Noise sessions). Then
# the share records (300 patients' claims) are sent once: a reconnect sends
# only the records Bob has not acknowledged (a per-peer record cursor); the
# same reconnect with that cursor forgotten (the old behaviour) is the
# baseline. Prints the byte counts. Bob's control socket gets share_received
# and share_revoked events (no patient id).
. "$(dirname "$0")/../agent/lib.sh"

canary=CANARY-7f3a9e-secret
shared=SHARED-4d2c-value
newdb a
newdb b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le,antecedents)
     VALUES('Un','P1','1980-01-01','M','2024-01-01','$shared'),
           ('Trois','P3','1980-01-01','M','2024-01-01','$canary')"
q a "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     VALUES(1,'Martin','2024-03-01','$shared-motif',5000),(2,'Martin','2024-03-03','$canary',5000)"
# 300 more patients: 300 claim records that every device of the cabinet gets
q a "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<300)
     INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     SELECT 'X','Q'||i,'1980-01-01','F','2024-01-01' FROM n"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name a >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Bob --device-name b --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init b"
cp "$tmp/h_b/roster.ini" "$tmp/h_a/roster.ini"
start a
python3 "$src/tests/share/tap.py" "$tmp/tap.port" "$(port a)" "$tmp/capture.bin" \
	"$tmp/counts" >>"$tmp/tap.log" 2>&1 &
tap_pid=$!
pids="$pids $tap_pid"
i=0
while [ ! -s "$tmp/tap.port" ]; do
	i=$((i + 1))
	[ $i -le 200 ] || fail "tap did not start"
	sleep 0.05
done
tp=$(cat "$tmp/tap.port")
start b --peer "127.0.0.1:$tp"
# Bob's tray side: the control socket's events (docs/PROTOCOL.md §8.2)
python3 "$src/tests/tray/ctl_client.py" "$tmp/x_b/cabsync/control.sock" subscribe "$tmp/ev" &
pids="$pids $!"
until_eq 10 'grep -c "\"event\":\"status\"" "$tmp/ev" | grep -q "^[1-9]" && echo y' y
# Bob's name (his NAME record) must have reached a before a shares with "Bob"
until_eq 20 '"$cabsync" practitioners --home "$tmp/h_a" | grep -c " Bob "' 1
"$cabsync" share 1 --with Bob --perm read --home "$tmp/h_a" >>"$tmp/cli.log" 2>&1 || fail "share"
until_eq 30 'q b "SELECT antecedents FROM patient"' "$shared"
until_eq 30 'q b "SELECT count(*) FROM consultation"' 1
# the notification: who, which permission, no patient id or label
evre='^\{"event":"share_received","share":"[0-9a-f]{16}","from":"[0-9a-f]{32}","from_name":"Martin","permission":"read"\}$'
until_eq 10 'grep -c -E "$evre" "$tmp/ev"' 1
# the claims reached b (records), with no row of those patients
until_eq 30 'q b "SELECT count(*) FROM cs_share_rec"' "$(q a "SELECT count(*) FROM cs_share_rec")"
sleep 2
stop b
sleep 0.5
# --- what crossed the wire ---
[ -s "$tmp/capture.bin" ] || fail "nothing captured: b did not sync through the tap"
for v in "$canary" "$shared" Trois; do
	if grep -a -q -- "$v" "$tmp/capture.bin"; then
		fail "'$v' found in clear in the captured traffic"
	fi
done
for f in "$tmp"/b.db*; do
	if grep -a -q -- "$canary" "$f"; then fail "the canary is in $f"; fi
done
grep -a -q -- "$shared" "$tmp/b.db" "$tmp/b.db-wal" 2>/dev/null ||
	fail "the shared value is not in b's files (the test would prove nothing)"
[ "$(q b "SELECT count(*) FROM patient")" = 1 ] || fail "b has other patients"

# --- record cursor: a reconnect sends only what b has not acknowledged ---
# (down = bytes from a to b on that connection)
down() {
	sed -n "${1}p" "$tmp/counts" | cut -d' ' -f3
}
n0=$(wc -l <"$tmp/counts")
first=$(awk '{s+=$3} END {print s}' "$tmp/counts")
start b --peer "127.0.0.1:$tp"
sleep 4
stop b
until_eq 10 'wc -l <"$tmp/counts"' $((n0 + 1))
after=$(down $((n0 + 1)))
# the baseline: the same reconnect with a's record cursor for b forgotten
q a "DELETE FROM cs_share_peer"
start b --peer "127.0.0.1:$tp"
sleep 4
stop b
until_eq 10 'wc -l <"$tmp/counts"' $((n0 + 2))
before=$(down $((n0 + 2)))
echo "share records: $(q a "SELECT count(*) FROM cs_share_rec") records; first session" \
	"$first B to b; reconnect $after B (record cursor) vs $before B (records again)"
[ "$after" -lt "$before" ] || fail "a reconnect sent as much as without the record cursor"
[ $((after * 3)) -lt "$before" ] || fail "a reconnect sends more than a third of the baseline"
# a revoke reaches Bob's tray too
start b --peer "127.0.0.1:$tp"
: >"$tmp/ev"
python3 "$src/tests/tray/ctl_client.py" "$tmp/x_b/cabsync/control.sock" subscribe "$tmp/ev" &
pids="$pids $!"
until_eq 10 'grep -c "\"event\":\"status\"" "$tmp/ev" | grep -q "^[1-9]" && echo y' y
"$cabsync" revoke 1 --from Bob --home "$tmp/h_a" >>"$tmp/cli.log" 2>&1 || fail "revoke"
evre='^\{"event":"share_revoked","share":"[0-9a-f]{16}","from":"[0-9a-f]{32}","from_name":"Martin"\}$'
until_eq 20 'grep -c -E "$evre" "$tmp/ev"' 1
until_eq 30 'q b "SELECT count(*) FROM patient"' 0
"$cabsync" audit verify --home "$tmp/h_a" >/dev/null || fail "audit verify a"
echo ok
