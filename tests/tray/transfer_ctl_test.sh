#!/bin/sh
# tests/tray/transfer_ctl_test.sh BUILD_DIR SRC_DIR: the control socket's
# `transfer PATIENT PRAC` (docs/PROTOCOL.md §8.4) against real agents A
# (Martin) and B (Leroy): what `cabsync transfer` does. Refusals first (an
# unknown patient, an unknown practitioner, a transfer to oneself, B - who
# holds a read share - transferring A's patient: "refused: only the owner
# may transfer a patient"; a malformed request), none of them leaves a record
# or an audit row; then A transfers patient 1 to B through the socket: the
# answer has the audit sentence, A's audit trail has it, B's `cabsync
# shares` shows Leroy owner, A's copy goes (B keeps every row), and B may
# share its new patient.
. "$(dirname "$0")/../agent/lib.sh"

diag_dbs="a b"
cli=$src/tests/tray/ctl_client.py
newdb a
newdb b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01'),
           ('Martin','Anne','1975-02-02','F','2024-01-01')"
q a "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     SELECT id,'Martin','2024-03-01','m-'||prenom,5000 FROM patient"
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
records() { # records NAME: share records and audit rows of share/revoke kind
	q "$1" "SELECT (SELECT count(*) FROM cs_share_rec) || ' ' ||
		(SELECT count(*) FROM cs_audit WHERE detail LIKE 'transferred%')"
}
until_eq 20 'ctl a practitioners | js "sorted(p[\"name\"] for p in j[\"practitioners\"])"' \
	"['Leroy', 'Martin']"
leroy=$(ctl a practitioners | js '[p["id"] for p in j["practitioners"] if p["name"]=="Leroy"][0]')
martin=$(ctl a practitioners | js '[p["id"] for p in j["practitioners"] if p["name"]=="Martin"][0]')

# patient 2 shared read with B: B holds it, does not own it
[ "$(ctl a share 2 "$leroy" read | js 'j["ok"]')" = True ] || fail "share 2"
until_eq 20 'q b "SELECT nom FROM patient"' Martin
p2b=$(q b "SELECT id FROM patient WHERE prenom='Anne'")
until_eq 20 'ctl b patients | js "[p[\"rights\"] for p in j[\"patients\"]]"' "['read']"
before_a=$(records a)
before_b=$(records b)

# refusals: clear sentences, nothing made
[ "$(ctl a transfer 99 "$leroy" | js 'j["error"]')" = "no such patient here" ] ||
	fail "unknown patient: $(ctl a transfer 99 "$leroy")"
[ "$(ctl a transfer 1 0123456789abcdef0123456789abcdef | js 'j["error"]')" = \
	"no such practitioner in the roster" ] || fail "unknown practitioner"
[ "$(ctl a transfer 1 "$martin" | js 'j["error"]')" = \
	"refused: a share to the patient's own owner" ] ||
	fail "transfer to oneself: $(ctl a transfer 1 "$martin")"
[ "$(ctl b transfer "$p2b" "$martin" | js 'j["error"]')" = \
	"refused: only the owner may transfer a patient" ] ||
	fail "not the owner: $(ctl b transfer "$p2b" "$martin")"
[ "$(ctl b transfer "$p2b" "$leroy" | js 'j["error"]')" = \
	"refused: only the owner may transfer a patient" ] ||
	fail "not the owner, to oneself: $(ctl b transfer "$p2b" "$leroy")"
[ "$(ctl a transfer 1 "$leroy" read | js 'j["error"]')" = \
	"missing, extra or malformed argument" ] || fail "transfer with a permission"
[ "$(ctl a transfer 1 Leroy | js 'j["error"]')" = \
	"missing, extra or malformed argument" ] || fail "transfer to a name"
[ "$(records a)" = "$before_a" ] || fail "a refused transfer left something on a"
[ "$(records b)" = "$before_b" ] || fail "a refused transfer left something on b"
"$cabsync" shares --home "$tmp/h_a" | grep -q "^patient 1  Martin  *owner " ||
	fail "a lost patient 1 on a refusal: $("$cabsync" shares --home "$tmp/h_a")"

# the transfer, through the socket
[ "$(ctl a transfer 1 "$leroy" | js 'j["ok"], j["detail"]')" = \
	"(True, 'transferred to Leroy')" ] || fail "transfer"
# audited as `cabsync transfer` audits it, and the trail still verifies
[ "$(q a "SELECT count(*) FROM cs_audit WHERE detail='transferred to Leroy'")" = 1 ] ||
	fail "no audit row for the transfer"
"$cabsync" audit --home "$tmp/h_a" | grep -q "transferred to Leroy" ||
	fail "cabsync audit: $("$cabsync" audit --home "$tmp/h_a")"
# A's share list says so at once (the patient: "1", or null once A purged it)
[ "$(ctl a shares | js 'sorted((s["name"],s["active"]) for s in j["shares"] if s["perm"]=="owner" and s["patient"]!="2")')" = \
	"[('Leroy', True), ('Martin', False)]" ] || fail "shares on a: $(ctl a shares)"
# B receives the patient with its rows and is its owner
until_eq 30 'q b "SELECT count(*) FROM patient WHERE prenom=\"Jean\""' 1
p1b=$(q b "SELECT id FROM patient WHERE prenom='Jean'")
until_eq 20 '"$cabsync" shares --home "$tmp/h_b" | grep -c "^patient $p1b  Leroy  *owner "' 1
until_eq 20 'ctl b patients | js "sorted(p[\"rights\"] for p in j[\"patients\"])"' \
	"['owner', 'read']"
until_eq 20 'q b "SELECT count(*) FROM consultation WHERE motif=\"m-Jean\""' 1
# A's copy goes; patient 2 (still A's) stays
until_eq 60 'q a "SELECT count(*) FROM patient WHERE prenom=\"Jean\""' 0
[ "$(q a "SELECT group_concat(prenom) FROM patient")" = Anne ] || fail "a lost patient 2"
# B, the owner now, may share its new patient (back to A: A learns the share)
[ "$(ctl b share "$p1b" "$martin" read | js 'j["ok"]')" = True ] ||
	fail "b shares its new patient: $(ctl b share "$p1b" "$martin" read)"
until_eq 20 'ctl a shares | js "[(s[\"name\"],s[\"perm\"],s[\"active\"],s[\"you\"]) for s in j[\"shares\"] if s[\"perm\"]==\"read\" and s[\"you\"]]"' \
	"[('Martin', 'read', True, True)]"
for n in a b; do
	"$cabsync" audit verify --home "$tmp/h_$n" >/dev/null || fail "audit verify $n"
done
echo ok
