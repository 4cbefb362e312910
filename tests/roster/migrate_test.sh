#!/bin/sh
# tests/roster/migrate_test.sh BUILD_DIR SRC_DIR: homes made before signed
# roster records (roster.ini sections without signatures) are migrated when
# loaded: each PC signs its copy, every practitioner already there is
# cabinet-admin, and the two agents still sync; the devices stay as they
# were (a revoked one stays refused).
. "$(dirname "$0")/../agent/lib.sh"
export CS_NO_MDNS=1

for n in a b r; do newdb $n; done
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" --practitioner Durand \
	--device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init b"
"$cabsync" init --home "$tmp/h_r" --db "$tmp/r.db" --tables "$tables" --practitioner Durand \
	--device-name old --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 || fail "init r"
cp "$tmp/h_a/roster.ini" "$tmp/h_b/roster.ini"
# the format of the previous version: [device ID] name practitioner dh sign state
for n in a b; do
	awk '/^\[cabinet\]/{skip=1; next} /^\[/{skip=0} skip{next}
	     /^(practitioner_name|role|time|signer|sig|epoch|key_id) =/{next} {print}' \
		"$tmp/h_$n/roster.ini" >"$tmp/legacy"
	sed -i '/name = old/,/^state/ s/^state = active/state = revoked/' "$tmp/legacy"
	cp "$tmp/legacy" "$tmp/h_$n/roster.ini"
	grep -q "^sig = " "$tmp/h_$n/roster.ini" && fail "legacy roster still signed"
done
grep -q "state = revoked" "$tmp/h_a/roster.ini" || fail "legacy revoked entry"
"$cabsync" device list --home "$tmp/h_a" --json >"$tmp/list.a" 2>"$tmp/mig.log" ||
	fail "device list on a legacy home"
grep -q "migrated to signed records" "$tmp/mig.log" || fail "no migration message"
grep -q "^sig = " "$tmp/h_a/roster.ini" || fail "roster.ini not rewritten signed"
grep -o '"admin":true' "$tmp/list.a" | wc -l | grep -qx 3 || fail "not every practitioner admin"
grep -q '"name":"old"[^}]*"revoked":true' "$tmp/list.a" || fail "revoked entry lost"
start a
start b --peer "127.0.0.1:$(port a)"
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Ancien','A','1980-01-01','M','2024-01-01')"
"$cabsync" share 1 --with Durand --perm write --home "$tmp/h_a" >/dev/null || fail "share"
until_eq 20 'q b "SELECT count(*) FROM patient"' 1
q b "UPDATE patient SET ville='Caen'"
until_eq 20 'q a "SELECT ville FROM patient"' Caen
grep -q "^sig = " "$tmp/h_b/roster.ini" || fail "b's roster not migrated"
# the revoked device stays out (a migrated revocation needs no new key)
start r --peer "127.0.0.1:$(port a)"
until_eq 20 'grep -q "device revoked" "$tmp/a.log" && echo y' y
[ "$(q r "SELECT count(*) FROM patient")" = 0 ] || fail "revoked device got data"
echo ok
