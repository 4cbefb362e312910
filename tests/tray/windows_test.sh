#!/bin/sh
# tests/tray/windows_test.sh BUILD_DIR SRC_DIR: cabsync-tray's windows and
# notifications under Xvfb, with a private D-Bus session bus, a real
# notification server (notification-daemon) and dbus-monitor recording the
# org.freedesktop.Notifications.Notify calls:
# - a conflict recorded by a real agent: a "conflicts to review" notification
#   (no patient data in it); "Review conflicts…" lists it; a real click
#   (xdotool) on "Take theirs" resolves it through the agent: the other
#   value reaches both databases and the list is empty;
# - "Show audit…" lists the audit rows read through the agent;
# - a fake agent pushing share_received / share_revoked / relay_login: three
#   notifications, the patient's label in none of them unless tray.ini says
#   notify_patient_names = true.
# Screenshots in BUILD_DIR/tray-shots/ (docs/img/ has copies).
. "$(dirname "$0")/../agent/lib.sh"

tray=$build/agent/tray/cabsync-tray
icons=$src/agent/tray/icons
cli=$src/tests/tray/ctl_client.py
shots=$build/tray-shots
mkdir -p "$shots"
nd=/usr/lib/notification-daemon/notification-daemon
for c in Xvfb import python3 dbus-daemon dbus-monitor xdotool gdbus; do
	command -v $c >/dev/null 2>&1 || fail "$c is not installed (./run installs it)"
done
[ -x "$nd" ] || fail "notification-daemon is not installed (./run installs it)"

Xvfb -displayfd 3 -screen 0 800x480x24 -nolisten tcp 3>"$tmp/disp" 2>"$tmp/xvfb.log" &
pids="$pids $!"
until_eq 10 'test -s "$tmp/disp" && echo yes' yes
DISPLAY=:$(cat "$tmp/disp")
export DISPLAY
# a private session bus (killed by pid at exit)
dbus-daemon --session --fork --nopidfile --print-address=4 --print-pid=5 4>"$tmp/bus" \
	5>"$tmp/buspid"
pids="$pids $(cat "$tmp/buspid")"
DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$tmp/bus")
export DBUS_SESSION_BUS_ADDRESS
"$nd" --replace >"$tmp/nd.log" 2>&1 &
pids="$pids $!"
until_eq 20 'gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
	--method org.freedesktop.DBus.NameHasOwner org.freedesktop.Notifications' '(true,)'
dbus-monitor --session "type='method_call',interface='org.freedesktop.Notifications',member='Notify'" \
	>"$tmp/mon" 2>&1 &
pids="$pids $!"
sleep 1

# tray_start NAME [ARGS]: the tray of agent NAME's runtime dir
tray_start() {
	n=$1
	shift
	rm -f "$tmp/state" "$tmp/state.conflicts" "$tmp/state.audit" "$tmp/state.notify"
	XDG_RUNTIME_DIR=$tmp/x_$n XDG_CONFIG_HOME=$tmp/cfg ASAN_OPTIONS=detect_leaks=0 "$tray" \
		--backend xembed --icon-dir "$icons" --poll-ms 300 --state-file "$tmp/state" "$@" \
		>>"$tmp/tray.log" 2>&1 &
	pid_tray=$!
	pids="$pids $!"
}
tray_stop() {
	kill -TERM "$pid_tray"
	wait "$pid_tray" || fail "cabsync-tray exited non-zero on SIGTERM"
}
has() { # has FILE PATTERN: a line matches (grep -E)
	grep -q -E "$2" "$1" 2>/dev/null && echo yes
}

# 1. a conflict between two real agents
newdb a
newdb b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01')"
"$cabsync" init --home "$tmp/h_a" --db "$tmp/a.db" --tables "$tables" --cabinet Cab \
	--practitioner Martin --device-name desk >/dev/null 2>&1 || fail "init a"
"$cabsync" init --home "$tmp/h_b" --db "$tmp/b.db" --tables "$tables" \
	--practitioner Martin --device-name laptop --same-cabinet-as "$tmp/h_a" >/dev/null 2>&1 ||
	fail "init b"
start a
start b --peer "127.0.0.1:$(port a)"
until_eq 10 'q b "SELECT nom FROM patient"' Dupont
tray_start a
until_eq 20 'head -n 1 "$tmp/state"' synced
stop b
q a "UPDATE patient SET email='jean.dupont@desk.fr' WHERE nom='Dupont'"
q b "UPDATE patient SET email='jean.dupont@laptop.fr' WHERE nom='Dupont'"
start b --peer "127.0.0.1:$(port a)"
until_eq 20 'head -n 1 "$tmp/state"' conflict
until_eq 10 'has "$tmp/state.notify" "^cabsync: conflicts to review \| 1 edit made"' yes
until_eq 10 'has "$tmp/mon" "string \"cabsync: conflicts to review\""' yes
sleep 1
import -window root "$shots/notification-conflict.png"
grep -q -E "Dupont|Jean|jean|desk\.fr|laptop\.fr" "$tmp/state.notify" "$tmp/mon" &&
	fail "patient data in a notification"
tray_stop

# 2. the conflicts window: listed, "Take theirs" clicked for real
tray_start a --window conflicts
until_eq 20 'has "$tmp/state.conflicts" "^conflict [0-9]+ patient email$"' yes
until_eq 20 'has "$tmp/state.conflicts" "^button [0-9]+ theirs [0-9]+ [0-9]+$"' yes
id=$(sed -n 's/^conflict \([0-9]*\) patient email$/\1/p' "$tmp/state.conflicts" | head -n 1)
mine=$(q a "SELECT email FROM patient WHERE nom='Dupont'")
case "$mine" in
*desk.fr) theirs=jean.dupont@laptop.fr ;;
*) theirs=jean.dupont@desk.fr ;;
esac
sleep 1
import -window root "$shots/conflicts-window.png"
xy=$(grep "^button $id theirs " "$tmp/state.conflicts" | tail -n 1 | cut -d' ' -f4,5)
# shellcheck disable=SC2086
xdotool mousemove $xy click 1 || fail "xdotool click at $xy"
i=0
until [ "$(has "$tmp/state.conflicts" "^resolved $id theirs$")" = yes ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "no resolve after a click at $xy: $(cat "$tmp/state.conflicts")"
	sleep 0.2
done
until_eq 10 'has "$tmp/state.conflicts" "^No conflict to review.$"' yes
until_eq 10 'q a "SELECT email FROM patient WHERE nom=\"Dupont\""' "$theirs"
until_eq 10 'q b "SELECT email FROM patient WHERE nom=\"Dupont\""' "$theirs"
until_eq 20 'head -n 1 "$tmp/state"' synced
sleep 1
import -window root "$shots/conflicts-window-resolved.png"
tray_stop

# 3. the audit window, read-only through the agent
tray_start a --window audit
until_eq 20 'has "$tmp/state.audit" "^[0-9]+ events? in the audit trail"' yes
n=$(sed -n 's/^\([0-9]*\) events\{0,1\} in the audit trail.*/\1/p' "$tmp/state.audit" | head -n 1)
[ "$n" -gt 0 ] || fail "audit: no rows"
grep -q "^row " "$tmp/state.audit" || fail "audit: rows not listed"
sleep 1
import -window root "$shots/audit-window.png"
tray_stop
stop a
stop b

# 4. share / revoke / relay notifications, from a fake agent
mkdir -p "$tmp/x_f/cabsync" "$tmp/cfg/cabsync"
cat >"$tmp/events" <<'EV'
{"event":"share_received","share":4,"from":"aa","from_name":"Dr Leroy","permission":"write","patient_label":"MARTIN Anne"}
{"event":"share_revoked","share":4,"from":"aa","from_name":"Dr Leroy","patient_label":"MARTIN Anne"}
{"event":"relay_login","reason":"expired"}
{"event":"something_newer","x":1}
EV
python3 "$cli" "$tmp/x_f/cabsync/control.sock" fake-agent "$tmp/events" &
pid_fake=$!
pids="$pids $!"
until_eq 10 'test -S "$tmp/x_f/cabsync/control.sock" && echo yes' yes
: >"$tmp/mon.before"
tray_start f
until_eq 20 'grep -c "^cabsync: " "$tmp/state.notify"' 3
# (the count may include the conflict notification of part 2: wait for the last one too)
until_eq 20 'grep -c "^cabsync: relay login needed | " "$tmp/state.notify"' 1
grep -q "^cabsync: a patient was shared with you | Dr Leroy shared a patient with you (write)\.$" \
	"$tmp/state.notify" || fail "share notification: $(cat "$tmp/state.notify")"
grep -q "^cabsync: a share was revoked | Dr Leroy no longer shares a patient with you\.$" \
	"$tmp/state.notify" || fail "revoke notification"
grep -q "^cabsync: relay login needed | " "$tmp/state.notify" || fail "relay notification"
until_eq 10 'grep -c "string \"cabsync: a share was revoked\"" "$tmp/mon"' 1
grep -q "MARTIN" "$tmp/state.notify" "$tmp/mon" && fail "a patient label without the setting"
until_eq 10 'head -n 1 "$tmp/state"' synced
sleep 1
import -window root "$shots/notification-share.png"
tray_stop
# with the setting on: the label is in
printf '[notifications]\nnotify_patient_names = true\n' >"$tmp/cfg/cabsync/tray.ini"
rm -f "$tmp/state.notify"
tray_start f
until_eq 20 'grep -c "^cabsync: " "$tmp/state.notify"' 3
grep -q "Dr Leroy shared the patient MARTIN Anne with you (write)" "$tmp/state.notify" ||
	fail "label not shown with notify_patient_names = true"
tray_stop
kill "$pid_fake"
echo "ok"
