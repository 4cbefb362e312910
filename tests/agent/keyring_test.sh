#!/bin/sh
# tests/agent/keyring_test.sh BUILD_DIR SRC_DIR: with a login keyring (a
# private session bus from dbus-run-session and gnome-keyring-daemon
# unlocked with a test password), init and join put the device keys in the
# keyring: no device.key, "keystore = keyring", and the agents load them from
# there and sync. Without the Secret Service the agent refuses to start, in
# one sentence. Exit 77 (skipped) when dbus-run-session or
# gnome-keyring-daemon is not installed.
if [ -z "${CS_IN_DBUS:-}" ]; then
	command -v dbus-run-session >/dev/null 2>&1 || exit 77
	command -v gnome-keyring-daemon >/dev/null 2>&1 || exit 77
	CS_IN_DBUS=1 exec dbus-run-session -- sh "$0" "$@" 2>&1
fi
. "$(dirname "$0")/lib.sh"
# glib's one-time type registrations look like leaks to LeakSanitizer
export LSAN_OPTIONS="suppressions=$src/tests/agent/lsan-glib.supp:print_suppressions=0"
gk=""
kill_gk() {
	[ -n "$gk" ] && kill "$gk" 2>/dev/null || true
	gk=""
}
trap 'kill_gk; cleanup' EXIT INT TERM
export HOME=$tmp/user XDG_DATA_HOME=$tmp/user/data XDG_CONFIG_HOME=$tmp/user/config
mkdir -p "$HOME"
printf 'test-password' | gnome-keyring-daemon --unlock --components=secrets >"$tmp/gk.env" \
	2>"$tmp/gk.log" || fail "gnome-keyring-daemon did not start"
i=0
while [ -z "$gk" ]; do
	gk=$(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets \
		2>/dev/null | sed -n 's/.*uint32 //p')
	i=$((i + 1))
	[ $i -le 100 ] || fail "no Secret Service on the bus"
	[ -n "$gk" ] || sleep 0.05
done

newdb a
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>"$tmp/init.err" ||
	fail "init a: $(cat "$tmp/init.err")"
[ ! -s "$tmp/init.err" ] || fail "init warned with a keyring: $(cat "$tmp/init.err")"
[ ! -e "$tmp/h_a/device.key" ] || fail "device.key written although the keyring works"
grep -q '^keystore = keyring$' "$tmp/h_a/cabsync.ini" || fail "keystore not recorded"
# a second device through invite/join: its keys go to the keyring too
start a
"$cabsync" invite --home "$tmp/h_a" --listen 127.0.0.1 >"$tmp/inv.out" 2>>"$tmp/inv.log" &
inv=$!
pids="$pids $inv"
until_eq 5 'grep -c "^port: " "$tmp/inv.out"' 1
code=$(sed -n 's/^invite code: //p' "$tmp/inv.out")
iport=$(sed -n 's/^port: //p' "$tmp/inv.out")
newdb b
"$cabsync" join "$code" --home "$tmp/h_b" --db "$tmp/b.db" --peer "127.0.0.1:$iport" \
	--device-name lap >/dev/null 2>"$tmp/join.err" || fail "join: $(cat "$tmp/join.err")"
wait "$inv" || fail "invite did not end"
[ ! -e "$tmp/h_b/device.key" ] || fail "join wrote device.key"
grep -q '^keystore = keyring$' "$tmp/h_b/cabsync.ini" || fail "join: keystore not recorded"
# the two items are in the keyring under our schema, one per device
start b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
until_eq 20 'q b "SELECT nom FROM patient"' Dupont
# no Secret Service: the agent refuses to start, saying why
stop b
kill_gk
sleep 0.3
if "$cabsync" agent --home "$tmp/h_b" --listen 127.0.0.1 2>"$tmp/nokr.err"; then
	fail "agent started without its keys"
fi
grep -q 'cannot read the device keys from the login keyring: no Secret Service' "$tmp/nokr.err" ||
	fail "refusal not explained: $(cat "$tmp/nokr.err")"
[ "$(grep -c . "$tmp/nokr.err")" = 1 ] || fail "refusal is not one line: $(cat "$tmp/nokr.err")"
echo ok
