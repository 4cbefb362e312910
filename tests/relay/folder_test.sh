#!/bin/sh
# tests/relay/folder_test.sh BUILD_DIR SRC_DIR: the shared-folder relay with
# real agents on loopback (issue 7 §5). A, B and C never meet on the LAN:
# - A edits while B is offline, A seals for B into the folder, A stops; B starts
#   alone and has A's edits; the bundles are gone; B's audit has the import and
#   A's (restarted) audit says they were delivered;
# - no stored byte of the folder holds the canary patient text;
# - a bundle that expired unread is removed and its changes sealed again;
# - tampered, truncated, expired, replayed, addressed to another device, from
#   a revoked device, of an old epoch: quarantined with the reason, audited,
#   nothing applied.
# A (Martin) shares the patient with B (Durand, write) and C (Petit, read):
# the bundles carry the share records, applied before the rows.
. "$(dirname "$0")/../agent/lib.sh"

nas=$tmp/nas
mkdir -p "$nas"
canary=CanaryQuetzalXy
newdb a
newdb b
newdb c
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('$canary','Jean','1980-01-01','M','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Durand --device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
"$cabsync" init --home "$tmp/h_c" --db "$tmp/c.db" --tables "$tables" \
	--practitioner Petit --device-name nuc --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init c"
pracid() { # the practitioner id of home NAME
	sed -n '/^\[practitioner\]/,/^\[/s/^id = //p' "$tmp/h_$1/cabsync.ini"
}
"$cabsync" share 1 --with "$(pracid b)" --perm write --home "$tmp/h_a" >/dev/null || fail "share b"
"$cabsync" share 1 --with "$(pracid c)" --perm read --home "$tmp/h_a" >/dev/null || fail "share c"
# relay [LIFETIME]: (re)write the [relay] section of every home
relay() {
	for h in a b c; do
		sed -i '/^\[relay\]/,$d' "$tmp/h_$h/cabsync.ini"
		printf '[relay]\nbackend = folder\ndir = %s\nafter = 0\ninterval = 300ms\nlifetime = %s\n' \
			"$nas" "${1:-1h}" >>"$tmp/h_$h/cabsync.ini"
	done
}
relay 1h
cab=$(sed -n 's/^id = //p' "$tmp/h_a/cabsync.ini" | head -1)
devid() {
	sed -n '/^\[device\]/,/^\[/s/^id = //p' "$tmp/h_$1/cabsync.ini"
}
ida=$(devid a)
idb=$(devid b)
idc=$(devid c)
inbox() {
	echo "$nas/$cab/$1"
}
nfiles() {
	find "$1" -maxdepth 1 -name '*.csb' 2>/dev/null | wc -l
}
quar() {
	find "$tmp/h_$1/relay-quarantine" -name '*.csb' 2>/dev/null | wc -l
}
audit_has() { # audit_has HOME ACTION LIKE
	q "$1" "SELECT count(*) FROM cs_audit WHERE action=$2 AND detail LIKE '$3'"
}

# --- 1. A alone: bundles for B and C appear, sealed (no canary in any byte)
start a
until_eq 10 "nfiles $(inbox "$idb")" 1
until_eq 10 "nfiles $(inbox "$idc")" 1
q a "UPDATE patient SET telephone='0102030405' WHERE nom='$canary'"
q a "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     SELECT id,'Martin','2024-03-01','lombalgie $canary',5000 FROM patient"
# the two edits go out in one bundle or two: 3 rows in all for B
until_eq 10 "q a \"SELECT sum(count) FROM cs_audit WHERE action=0 AND detail LIKE
	'relay bundle % sealed for device ${idb%????????????????}%'\"" 3
nb=$(nfiles "$(inbox "$idb")")
[ "$nb" -ge 2 ] || fail "B's inbox has $nb bundles"
if grep -rqa "$canary" "$nas"; then fail "canary text in the relay folder"; fi
if grep -rqa "lombalgie" "$nas"; then fail "record text in the relay folder"; fi
[ "$(stat -c %a "$(find "$(inbox "$idb")" -name '*.csb' | head -1)")" = 600 ] ||
	fail "bundle not 0600"
[ "$(audit_has a 0 'relay bundle % sealed for device %')" -ge 3 ] || fail "A: no seal audit"
mkdir -p "$tmp/saved"
cp "$(inbox "$idb")"/*.csb "$tmp/saved/"
c_bundle=$(ls "$(inbox "$idc")"/*.csb | head -1)
stop a

# --- 2. B alone gets A's edits from the folder; the bundles are deleted
start b
until_eq 10 'q b "SELECT telephone FROM patient"' 0102030405
until_eq 10 'q b "SELECT count(*) FROM consultation"' 1
until_eq 10 "nfiles $(inbox "$idb")" 0
[ "$(audit_has b 10 'relay import (folder) of bundle %')" = "$nb" ] || fail "B: no import audit"
[ "$(q b "SELECT count(*) FROM cs_audit WHERE action=1")" -ge 1 ] || fail "B: no sync-in audit"
[ "$(quar b)" = 0 ] || fail "B quarantined a good bundle"
[ "$(q b "SELECT count(*) FROM cs_held")" = 0 ] || fail "B holds rows (share records missing?)"
stop b
# A comes back: its bundles for B are gone before expiry = delivered
start a
until_eq 10 "audit_has a 0 'relay bundle % delivered to device ${idb%????????????????}'" "$nb"
sleep 1
stop a
# both ranges were delivered: nothing sealed again for B
[ "$(nfiles "$(inbox "$idb")")" = 0 ] || fail "A sealed again what B had"
grep -q "relay: imported bundle" "$tmp/b.log" || fail "B: no import log line"

# --- 3. refused bundles (B offline; put in its inbox; B starts)
# expect NAME WHY: B quarantines NAME (in its inbox now) with a reason matching WHY
n_q=0
expect() {
	n_q=$((n_q + 1))
	start b
	until_eq 10 "quar b" $n_q
	until_eq 5 "nfiles $(inbox "$idb")" 0
	stop b
	grep -qi "$2" "$tmp/h_b/relay-quarantine/$1.why" ||
		fail "$1 quarantined for '$(cat "$tmp/h_b/relay-quarantine/$1.why")', want '$2'"
	[ "$(audit_has b 5 "relay bundle ${1%.csb} quarantined: %")" = 1 ] ||
		fail "no refusal audit for $1"
}
hexname() {
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
	echo .csb
}
# replayed: a bundle B imported already, copied back
rp=$(ls "$tmp/saved" | head -1)
[ -f "$tmp/saved/$rp" ] || fail "no saved bundle"
cp "$tmp/saved/$rp" "$(inbox "$idb")/$rp"
expect "$rp" "already"
# addressed to another device (C's bundle, intact)
n=$(hexname)
cp "$c_bundle" "$(inbox "$idb")/$n"
expect "$n" "another device"
# tampered: one byte of the middle flipped
n=$(hexname)
cp "$c_bundle" "$tmp/t.csb"
size=$(stat -c %s "$tmp/t.csb")
off=$((size / 2))
b=$(od -An -j$off -N1 -tu1 "$tmp/t.csb" | tr -d ' ')
printf "$(printf '\\%03o' $(((b + 1) % 256)))" |
	dd of="$tmp/t.csb" bs=1 seek=$off conv=notrunc 2>/dev/null
cp "$tmp/t.csb" "$(inbox "$idb")/$n"
expect "$n" "signature"
# truncated
n=$(hexname)
head -c 300 "$c_bundle" >"$(inbox "$idb")/$n"
expect "$n" "short\|layout"
[ "$(q b "SELECT count(*) FROM patient")" = 1 ] || fail "a refused bundle applied rows"

# expired: A's clock two hours behind, lifetime 1 h: its bundle is already dead
q a "UPDATE patient SET ville='Expired' WHERE nom='$canary'"
CABSYNC_TEST_CLOCK_OFFSET_MS=-7200000 start a
until_eq 10 "nfiles $(inbox "$idb")" 1
stop a
n=$(basename "$(ls "$(inbox "$idb")"/*.csb)")
expect "$n" "expired"
[ "$(q b "SELECT ifnull(ville,'-') FROM patient")" = "-" ] || fail "expired bundle applied"

# from a revoked device: B's roster says A is revoked
q a "UPDATE patient SET ville='Revoked' WHERE nom='$canary'"
start a
until_eq 10 "nfiles $(inbox "$idb")" 1
stop a
# a real revocation: Martin (admin) names Durand admin, Durand's laptop
# revokes A (signed record, key rotated on B); B's home is restored after
cp -a "$tmp/h_b" "$tmp/h_b.saved"
"$cabsync" device admin laptop --home "$tmp/h_a" >/dev/null || fail "device admin"
cp "$tmp/h_a/roster.ini" "$tmp/h_b/roster.ini"
"$cabsync" device revoke desk --home "$tmp/h_b" >/dev/null || fail "revoke A on B"
"$cabsync" device list --home "$tmp/h_b" --json | grep -q '"name":"desk"[^}]*"revoked":true' ||
	fail "A not revoked in B's roster"
n=$(basename "$(ls "$(inbox "$idb")"/*.csb)")
expect "$n" "revoked"
mkdir -p "$tmp/h_b.saved/relay-quarantine"
cp -a "$tmp/h_b/relay-quarantine/." "$tmp/h_b.saved/relay-quarantine/"
rm -rf "$tmp/h_b"
mv "$tmp/h_b.saved" "$tmp/h_b"
[ "$(q b "SELECT ifnull(ville,'-') FROM patient")" = "-" ] || fail "revoked bundle applied"

# --- 4. expired unread -> sealed again; B back later gets everything
rm -f "$tmp/h_a/relay-out"
relay 2s
q a "UPDATE patient SET ville='Lyon' WHERE nom='$canary'"
start a
until_eq 15 "audit_has a 0 'relay bundle % for device ${idb%????????????????} expired unread%'" 1
until_eq 10 "nfiles $(inbox "$idb")" 1
stop a
relay 1h
start b
until_eq 10 'q b "SELECT ville FROM patient"' Lyon
until_eq 10 "nfiles $(inbox "$idb")" 0
stop b
[ "$(canon b)" = "$(canon a)" ] || fail "A and B differ after the relay"

# --- 5. old epoch: B moved to epoch 2 (a rotation A has not seen)
q a "UPDATE patient SET ville='OldEpoch' WHERE nom='$canary'"
start a
until_eq 10 "nfiles $(inbox "$idb")" 1
stop a
sed -i 's/^epoch = 1$/epoch = 2/' "$tmp/h_b/cabsync.ini"
{
	printf '\000\000\000\002'
	head -c 32 /dev/urandom
} >"$tmp/h_b/cabinet.key.new"
chmod 600 "$tmp/h_b/cabinet.key.new"
mv "$tmp/h_b/cabinet.key.new" "$tmp/h_b/cabinet.key"
n=$(basename "$(ls "$(inbox "$idb")"/*.csb)")
expect "$n" "retired\|epoch"
[ "$(q b "SELECT ville FROM patient")" = "Lyon" ] || fail "old-epoch bundle applied"
if grep -rqa "$canary" "$nas" "$tmp/h_b/relay-quarantine"; then fail "canary in stored bytes"; fi
echo "ok"
