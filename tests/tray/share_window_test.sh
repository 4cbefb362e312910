#!/bin/sh
# tests/tray/share_window_test.sh BUILD_DIR SRC_DIR: cabsync-tray's "Share a
# patient…" and "Manage shares…" windows under Xvfb against real agents A
# (Martin) and B (Leroy), driven by real clicks and typing (xdotool) at the
# places the windows report (--state-file hooks):
# - share: the patients listed by label, found by typing in the search
#   field; the colleague and the permission chosen; an end date typed;
#   "Share" makes the share on A (cabsync shares), it reaches B (rows), and
#   B's tray notifies it with the label (notify_patient_names = true there);
# - manage: the share listed; "write" clicked changes the permission (A and
#   B agree); "Revoke" clicked ends it: B's tray notifies, B's copy goes.
# Screenshots in BUILD_DIR/tray-shots/ (docs/img/ has copies).
. "$(dirname "$0")/../agent/lib.sh"

# a failure shows what the windows reported, too
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log "$tmp"/st?.*; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; } >&2
	done
	exit 1
}
tray=$build/agent/tray/cabsync-tray
icons=$src/agent/tray/icons
cli=$src/tests/tray/ctl_client.py
shots=$build/tray-shots
mkdir -p "$shots"
for c in Xvfb import python3 dbus-daemon xdotool; do
	command -v $c >/dev/null 2>&1 || fail "$c is not installed (./run installs it)"
done
Xvfb -displayfd 3 -screen 0 800x480x24 -nolisten tcp 3>"$tmp/disp" 2>"$tmp/xvfb.log" &
pids="$pids $!"
until_eq 10 'test -s "$tmp/disp" && echo yes' yes
DISPLAY=:$(cat "$tmp/disp")
export DISPLAY
dbus-daemon --session --fork --nopidfile --print-address=4 --print-pid=5 4>"$tmp/bus" \
	5>"$tmp/buspid"
pids="$pids $(cat "$tmp/buspid")"
DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$tmp/bus")
export DBUS_SESSION_BUS_ADDRESS

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
until_eq 20 '"$cabsync" practitioners --home "$tmp/h_a" | grep -c "Leroy"' 1

# tray_start NAME STATE [ARGS]: the tray of agent NAME, hooks at STATE
tray_start() {
	n=$1
	st=$2
	shift 2
	rm -f "$st" "$st".*
	XDG_RUNTIME_DIR=$tmp/x_$n XDG_CONFIG_HOME=$tmp/cfg_$n ASAN_OPTIONS=detect_leaks=0 "$tray" \
		--backend xembed --icon-dir "$icons" --poll-ms 300 --state-file "$st" "$@" \
		>>"$tmp/tray_$n.log" 2>&1 &
	eval "pid_tray_$n=$!"
	pids="$pids $!"
}
tray_stop() {
	eval "_tp=\$pid_tray_$1"
	kill -TERM "$_tp"
	wait "$_tp" || fail "cabsync-tray of $1 exited non-zero on SIGTERM"
}
has() { # has FILE PATTERN: a line matches (grep -E)
	grep -q -E "$2" "$1" 2>/dev/null && echo yes
}
# at FILE WHAT: the last place reported for WHAT
at() {
	grep "^at $2 [0-9]* [0-9]*$" "$1" | tail -n 1 | sed "s/^at $2 //"
}
click() { # click FILE WHAT
	_i=0
	while [ -z "$(at "$1" "$2")" ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || fail "no place reported for '$2'"
		sleep 0.2
	done
	# shellcheck disable=SC2046
	xdotool mousemove $(at "$1" "$2") click 1 || fail "xdotool click on $2"
}

# B's tray: notifications with the patient's label (tray.ini)
mkdir -p "$tmp/cfg_b/cabsync"
printf 'notify_patient_names = true\n' >"$tmp/cfg_b/cabsync/tray.ini"
tray_start b "$tmp/stb"
until_eq 20 'head -n 1 "$tmp/stb"' synced

# 1. "Share a patient…"
tray_start a "$tmp/sta" --window share
until_eq 20 'has "$tmp/sta.share" "^2 patients you may share, 1 colleague\.$"' yes
until_eq 10 'grep "^shown " "$tmp/sta.share" | tail -n 1' "shown 2, selected: Dupont Jean"
xdotool search --sync --name "cabsync: share a patient" windowfocus --sync ||
	fail "no share window"
click "$tmp/sta.share" search
sleep 0.5
xdotool type --delay 60 "anne" || fail "xdotool type"
until_eq 10 'grep "^shown " "$tmp/sta.share" | tail -n 1' "shown 1, selected: Martin Anne"
click "$tmp/sta.share" "with Leroy"
click "$tmp/sta.share" "perm write"
click "$tmp/sta.share" until
click "$tmp/sta.share" until_date
sleep 0.3
xdotool type --delay 60 "2099-12-31" || fail "xdotool type date"
sleep 0.5
import -window root "$shots/share-window.png"
click "$tmp/sta.share" button
until_eq 20 'has "$tmp/sta.share" "^Done: shared write with Leroy until 2100-01-01T00:00:00Z\.$"' yes
"$cabsync" shares --home "$tmp/h_a" | grep -q "^patient 2  Leroy  *write .* until 2100-01-01T00:00:00Z" ||
	fail "cabsync shares: $("$cabsync" shares --home "$tmp/h_a")"
until_eq 20 'q b "SELECT nom || \" \" || prenom FROM patient"' "Martin Anne"
until_eq 20 'has "$tmp/stb.notify" "^cabsync: a patient was shared with you \| Martin shared the patient Martin Anne with you \(write\)\.$"' yes
sleep 0.5
import -window root "$shots/share-window-done.png"
tray_stop a

# 2. "Manage shares…": change the permission, then revoke, by clicks
tray_start a "$tmp/sta" --window manage
until_eq 20 'has "$tmp/sta.manage" "^share Martin Anne Leroy write until 2100-01-01 00:00$"' yes
sleep 0.5
import -window root "$shots/manage-window.png"
click "$tmp/sta.manage" "perm Martin Anne Leroy read"
until_eq 20 'has "$tmp/sta.manage" "^Done: permission changed to read with Leroy until 2100-01-01T00:00:00Z\.$"' yes
"$cabsync" shares --home "$tmp/h_a" | grep "^patient 2 " | grep -v " until .* until " | grep -q "Leroy  *read " ||
	fail "cabsync shares after the change: $("$cabsync" shares --home "$tmp/h_a")"
until_eq 20 'python3 "$cli" "$tmp/x_b/cabsync/control.sock" request shares | python3 -c "import json,sys; print([s[\"perm\"] for s in json.load(sys.stdin)[\"shares\"] if s[\"active\"] and s[\"perm\"] != \"owner\"])"' "['read']"
# read on B: its app may not write the patient any more
until_eq 30 'sqlite3 -cmd ".timeout 2000" "$tmp/b.db" "UPDATE patient SET ville=\"X\"" 2>&1 | grep -c "shared read-only"' 1
click "$tmp/sta.manage" "revoke Martin Anne Leroy"
until_eq 20 'has "$tmp/sta.manage" "^Done: revoked from Leroy\.$"' yes
until_eq 10 'has "$tmp/sta.manage" "^No share in force\.$"' yes
until_eq 20 'has "$tmp/stb.notify" "^cabsync: a share was revoked \| Martin no longer shares the patient Martin Anne with you\.$"' yes
until_eq 60 'q b "SELECT count(*) FROM patient"' 0
[ "$(q a "SELECT count(*) FROM patient")" = 2 ] || fail "a lost a patient"
sleep 0.5
import -window root "$shots/manage-window-revoked.png"
tray_stop a
tray_stop b
echo ok
