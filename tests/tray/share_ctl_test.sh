#!/bin/sh
# tests/tray/share_ctl_test.sh BUILD_DIR SRC_DIR: the control socket's share
# verbs and events (docs/PROTOCOL.md §8.2, §8.4) against real agents: A
# (Martin) lists its patients by label and the practitioners, shares a
# patient with B (Leroy) through the socket, changes the permission, revokes;
# `cabsync shares` agrees at each step, B gets the rows, then loses them;
# B's subscribers get share_received / share_revoked, the patient's label
# only for the one that subscribed with "labels". Refusals: unknown patient,
# unknown practitioner, a colleague re-sharing a read share.
. "$(dirname "$0")/../agent/lib.sh"

cli=$src/tests/tray/ctl_client.py
newdb a
newdb b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01'),
           ('Martin','Anne','1975-02-02','F','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Leroy --device-name office --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
cp "$tmp/h_b/roster.ini" "$tmp/h_a/roster.ini"
start a
start b --peer "127.0.0.1:$(port a)"
ctl() { # ctl NAME VERB...: one request on NAME's socket
	n=$1
	shift
	python3 "$cli" "$tmp/x_$n/cabsync/control.sock" request "$@"
}
js() { # js EXPR: evaluate EXPR on the JSON read on stdin (as j)
	python3 -c "import json,sys; j=json.load(sys.stdin); print(($1))"
}
until_eq 20 'ctl a practitioners | js "sorted(p[\"name\"] for p in j[\"practitioners\"])"' \
	"['Leroy', 'Martin']"
leroy=$(ctl a practitioners | js '[p["id"] for p in j["practitioners"] if p["name"]=="Leroy"][0]')
[ "$(ctl a practitioners | js '[p["you"] for p in j["practitioners"] if p["name"]=="Martin"][0]')" = True ] ||
	fail "practitioners: you"
# patients by label (the tables.ini label: nom || ' ' || prenom), sorted
[ "$(ctl a patients | js '[(p["id"],p["label"],p["rights"]) for p in j["patients"]]')" = \
	"[('1', 'Dupont Jean', 'owner'), ('2', 'Martin Anne', 'owner')]" ] ||
	fail "patients: $(ctl a patients)"
[ "$(ctl a patients 1 | js '[p["label"] for p in j["patients"]], j["next"]')" = \
	"(['Martin Anne'], None)" ] || fail "patients 1: $(ctl a patients 1)"
# B's subscribers: one asked for labels, one did not
python3 "$cli" "$tmp/x_b/cabsync/control.sock" subscribe "$tmp/ev_plain" &
pids="$pids $!"
python3 "$cli" "$tmp/x_b/cabsync/control.sock" subscribe "$tmp/ev_labels" labels &
pids="$pids $!"
until_eq 10 'grep -c "\"event\":\"status\"" "$tmp/ev_labels" | grep -q "^[1-9]" && echo y' y
until_eq 10 'grep -c "\"event\":\"status\"" "$tmp/ev_plain" | grep -q "^[1-9]" && echo y' y

# refusals
[ "$(ctl a share 99 "$leroy" read | js 'j["error"]')" = "no such patient here" ] ||
	fail "unknown patient"
[ "$(ctl a share 1 0123456789abcdef0123456789abcdef read | js 'j["error"]')" = \
	"no such practitioner in the roster" ] || fail "unknown practitioner"
[ "$(ctl a share 1 "$leroy" read 1000 | js 'j["error"]')" = \
	"the end date must be in the future" ] || fail "until in the past"
[ "$(ctl a perm 1 "$leroy" write | js 'j["error"]')" = \
	"refused: no share in force to that practitioner" ] || fail "perm without a share"
ctl a share 1 "$leroy" read "bad" | grep -q '"error":"missing, extra or malformed argument"' ||
	fail "malformed until"

# share through the socket: what `cabsync share` does
[ "$(ctl a share 1 "$leroy" read | js 'j["ok"], j["detail"]')" = \
	"(True, 'shared read with Leroy')" ] || fail "share"
"$cabsync" shares --home "$tmp/h_a" | grep -q "^patient 1  Leroy  *read " ||
	fail "cabsync shares: $("$cabsync" shares --home "$tmp/h_a")"
until_eq 20 'q b "SELECT nom FROM patient"' Dupont
[ "$(q b "SELECT count(*) FROM patient")" = 1 ] || fail "b got an unshared patient"
q a "SELECT detail FROM cs_audit WHERE action=(SELECT action FROM cs_audit WHERE detail LIKE 'shared read with Leroy%' LIMIT 1)" |
	grep -q "shared read with Leroy" || fail "no audit row"
until_eq 20 'grep -c "\"event\":\"share_received\"" "$tmp/ev_labels"' 1
until_eq 20 'grep -c "\"event\":\"share_received\"" "$tmp/ev_plain"' 1
grep "share_received" "$tmp/ev_labels" | js 'j["from_name"], j["permission"], j["patient_label"]' \
	>"$tmp/got"
[ "$(cat "$tmp/got")" = "('Martin', 'read', 'Dupont Jean')" ] || fail "labelled event: $(cat "$tmp/ev_labels")"
grep -q "Dupont\|Jean\|patient_label" "$tmp/ev_plain" && fail "a label without labels: $(cat "$tmp/ev_plain")"
# the list on both sides, with labels
[ "$(ctl a shares | js '[(s["patient"],s["label"],s["name"],s["perm"],s["active"]) for s in j["shares"] if s["perm"]!="owner"]')" = \
	"[('1', 'Dupont Jean', 'Leroy', 'read', True)]" ] || fail "shares on a: $(ctl a shares)"
until_eq 10 'ctl b shares | js "[(s[\"label\"],s[\"perm\"]) for s in j[\"shares\"] if s[\"perm\"]!=\"owner\"]"' \
	"[('Dupont Jean', 'read')]"
# B has read only: it may not share on
[ "$(ctl b share "$(q b "SELECT id FROM patient")" "$(ctl b practitioners | js '[p["id"] for p in j["practitioners"] if p["name"]=="Martin"][0]')" read | js 'j["error"][:8]')" = "refused:" ] ||
	fail "b re-shared a read share"

# change the permission: the old grant ends, the new one is in force
[ "$(ctl a perm 1 "$leroy" write | js 'j["ok"], j["detail"]')" = \
	"(True, 'permission changed to write with Leroy')" ] || fail "perm"
[ "$(ctl a shares | js '[s["perm"] for s in j["shares"] if s["active"] and s["perm"]!="owner"]')" = \
	"['write']" ] || fail "perm not in force: $(ctl a shares)"
"$cabsync" shares --home "$tmp/h_a" | grep -q "^patient 1  Leroy  *write " || fail "cabsync shares: write"
until_eq 20 'ctl b shares | js "[s[\"perm\"] for s in j[\"shares\"] if s[\"active\"] and s[\"perm\"]!=\"owner\"]"' \
	"['write']"
# one event for a change, not a revoke and a grant
until_eq 20 'grep -c "\"event\":\"share_received\"" "$tmp/ev_labels"' 2
[ "$(grep -c '"event":"share_revoked"' "$tmp/ev_labels")" = 0 ] || fail "a change gave a revoke event"
# B may write now: the read-only triggers go at its next maintenance
until_eq 30 'sqlite3 -cmd ".timeout 2000" "$tmp/b.db" "UPDATE patient SET ville=\"Lyon\"" 2>/dev/null && echo ok' ok
until_eq 20 'q a "SELECT ville FROM patient WHERE id=1"' Lyon

# revoke
[ "$(ctl a revoke 1 "$leroy" | js 'j["ok"], j["detail"]')" = "(True, 'revoked from Leroy')" ] ||
	fail "revoke"
"$cabsync" shares --home "$tmp/h_a" | grep -q "^patient 1  Leroy  *write .* until " ||
	fail "cabsync shares after revoke: $("$cabsync" shares --home "$tmp/h_a")"
until_eq 20 'grep -c "\"event\":\"share_revoked\"" "$tmp/ev_labels"' 1
until_eq 20 'grep -c "\"event\":\"share_revoked\"" "$tmp/ev_plain"' 1
grep "share_revoked" "$tmp/ev_labels" | js 'j["from_name"], j["patient_label"]' >"$tmp/got"
[ "$(cat "$tmp/got")" = "('Martin', 'Dupont Jean')" ] || fail "revoke event: $(cat "$tmp/ev_labels")"
grep -q "Dupont\|Jean\|patient_label" "$tmp/ev_plain" && fail "a label without labels"
until_eq 60 'q b "SELECT count(*) FROM patient"' 0
[ "$(q a "SELECT count(*) FROM patient")" = 2 ] || fail "a lost a patient"
echo ok
