#!/bin/sh
# tests/audit/events_test.sh BUILD_DIR SRC_DIR: the running agent writes its
# events into cs_audit. A device of another cabinet dials A: A refuses it at
# message 1, and `cabsync audit` on A shows a handshake-rejected row (who:
# unknown device, detail: why). B (same cabinet) syncs a patient from A;
# when B goes away, A writes one sync-out line for that patient with its
# count (coalesced per session) and signs its head; verify passes.
. "$(dirname "$0")/../agent/lib.sh"

newdb a
newdb b
newdb d
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01');
     INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     VALUES(1,'Martin','2024-03-01','lombalgie',5000),(1,'Martin','2024-03-08','suivi',5000)"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Martin --device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
"$cabsync" init --home "$tmp/h_d" --db "$tmp/d.db" --tables "$tables" --cabinet Other \
	--practitioner Eve --device-name other >/dev/null 2>&1 || fail "init d"
# init installs the trail: the app's writes to it are refused from the start
if q a "DELETE FROM cs_audit" 2>/dev/null; then :; fi
[ "$(q a "SELECT count(*) FROM sqlite_master WHERE name LIKE 'cs_audit_no_%'")" = 3 ] ||
	fail "init did not install the append-only triggers"

start a
start d --peer "127.0.0.1:$(port a)"
until_eq 10 '"$cabsync" audit --home "$tmp/h_a" | grep -q "handshake-rejected.*wrong cabinet key" && echo y' y
"$cabsync" audit --home "$tmp/h_a" --json | grep -q '"action":"handshake-rejected"' ||
	fail "json"
stop d

start b --peer "127.0.0.1:$(port a)"
until_eq 10 'q b "SELECT count(*) FROM consultation"' 2
stop b
# the patient's 3 rows (the patient and its 2 consultations) on one line
until_eq 10 '"$cabsync" audit --home "$tmp/h_a" | grep -c "sync-out .*Durand\|sync-out .*laptop"' 1
"$cabsync" audit --home "$tmp/h_a" --patient 1 >"$tmp/out"
grep -q "sync-out .*laptop .*patient 1  3 row(s)" "$tmp/out" || fail "sync-out line: $(cat "$tmp/out")"
stop a
"$cabsync" audit verify --home "$tmp/h_a" >"$tmp/out" || fail "verify: $(cat "$tmp/out")"
grep -q "signed head" "$tmp/out" || fail "verify: $(cat "$tmp/out")"
[ "$("$cabsync" audit --home "$tmp/h_a" | grep -c 'signed head\|^#')" -ge 2 ] || fail "rows"
echo "audit events: ok"
