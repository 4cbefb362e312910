#!/bin/sh
# tests/agent/keyfile_test.sh BUILD_DIR SRC_DIR: without a login keyring (no
# session bus, or CS_KEYRING=off) the device keys go to HOME/device.key, mode
# 0600, with exactly one warning line, and the agent loads them from there.
. "$(dirname "$0")/lib.sh"
unset DBUS_SESSION_BUS_ADDRESS
newdb a
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>"$tmp/init.err" || fail "init a"
[ "$(grep -c 'not to a login keyring' "$tmp/init.err")" = 1 ] ||
	fail "want one keyring warning, got: $(cat "$tmp/init.err")"
[ "$(grep -c . "$tmp/init.err")" = 1 ] || fail "more than one line on stderr: $(cat "$tmp/init.err")"
grep -q 'no session bus' "$tmp/init.err" || fail "the warning does not say why"
[ "$(stat -c %a "$tmp/h_a/device.key")" = 600 ] || fail "device.key mode"
[ "$(stat -c %s "$tmp/h_a/device.key")" = 96 ] || fail "device.key size"
grep -q '^keystore = file$' "$tmp/h_a/cabsync.ini" || fail "keystore not recorded"
# CS_KEYRING=off says so
newdb b
CS_KEYRING=off "$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Martin --same-cabinet-as "$tmp/h_a" --device-name lap >/dev/null \
	2>"$tmp/initb.err" || fail "init b"
grep -q 'CS_KEYRING=off' "$tmp/initb.err" || fail "CS_KEYRING=off not named: $(cat "$tmp/initb.err")"
# the agents load their keys from the files and sync
start a
start b --peer "127.0.0.1:$(port a)"
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
until_eq 20 'q b "SELECT nom FROM patient"' Dupont
# a key file readable by others is refused at start, in one sentence
stop a
chmod 644 "$tmp/h_a/device.key"
if "$cabsync" agent --home "$tmp/h_a" --listen 127.0.0.1 2>"$tmp/bad.err"; then
	fail "agent started with a 0644 key file"
fi
grep -q 'must be mode 0600' "$tmp/bad.err" || fail "mode not named: $(cat "$tmp/bad.err")"
echo ok
