#!/bin/sh
# tests/tray/transfer_window_test.sh BUILD_DIR SRC_DIR: the "Transfer a
# patient you own…" action of cabsync-tray's "Manage shares…" window, under
# Xvfb against real agents A (Martin) and B (Leroy), driven by real clicks and
# typing (xdotool) at the places the windows report (--state-file hooks):
# - the transfer window lists only A's own patients (not the one B shared
#   with A), found by typing; the colleague chosen; "Transfer…" opens a
#   confirmation dialog that says what happens; "Cancel" does nothing;
# - "Transfer" confirmed: the agent's `transfer` runs (the answer shown in
#   both windows, audited on A), B's `cabsync shares` shows Leroy owner,
#   B's tray notifies the transfer, A's copy goes, and the patient leaves
#   A's transfer list;
# - a refusal (the patient transferred meanwhile by `cabsync transfer`) is
#   shown in both windows, and nothing more is audited.
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
diag_dbs="a b"
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Dupont','Jean','1980-01-01','M','2024-01-01'),
           ('Martin','Anne','1975-02-02','F','2024-01-01')"
q a "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     SELECT id,'Martin','2024-03-01','m-'||prenom,5000 FROM patient"
q b "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Bernard','Paul','1990-03-03','M','2024-01-01')"
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
# B shares its patient with A (read): A sees it, may not transfer it
"$cabsync" share 1 --with Martin --perm read --home "$tmp/h_b" >/dev/null || fail "b shares"
until_eq 30 'q a "SELECT count(*) FROM patient WHERE nom=\"Bernard\""' 1

tray_start a "$tmp/sta" --window manage
# the share B made to A is listed (not changeable here)
until_eq 20 'has "$tmp/sta.manage" "^1 share in force\.$"' yes
xdotool search --sync --name "cabsync: manage shares" >/dev/null || fail "no manage window"
click "$tmp/sta.manage" transfer
until_eq 20 'has "$tmp/sta.transfer" "^2 patients you own, 1 colleague\.$"' yes
until_eq 10 'grep "^shown " "$tmp/sta.transfer" | tail -n 1' "shown 2, selected: Dupont Jean"
xdotool search --sync --name "cabsync: transfer a patient" windowfocus --sync ||
	fail "no transfer window"
click "$tmp/sta.transfer" search
sleep 0.5
xdotool type --delay 60 "jean" || fail "xdotool type"
until_eq 10 'grep "^shown " "$tmp/sta.transfer" | tail -n 1' "shown 1, selected: Dupont Jean"
click "$tmp/sta.transfer" "to Leroy"
# 1. "Transfer…", then "Cancel": nothing happens
click "$tmp/sta.transfer" button
until_eq 10 'has "$tmp/sta.transfer" "^Leroy becomes the owner of the patient Dupont Jean\.$"' yes
grep -q "^Your computers first send your last changes of this patient, then delete their copy of it (Leroy keeps every row)\. You will not have this patient any more, unless Leroy shares it back with you\." "$tmp/sta.transfer" ||
	fail "the dialog does not say what happens"
click "$tmp/sta.transfer" cancel
until_eq 10 'has "$tmp/sta.transfer" "^Not transferred: cancelled\.$"' yes
[ "$(q a "SELECT count(*) FROM cs_audit WHERE detail LIKE 'transferred%'")" = 0 ] ||
	fail "a cancelled transfer was made"
"$cabsync" shares --home "$tmp/h_a" | grep -q "^patient 1  Martin  *owner " ||
	fail "cancelled, yet: $("$cabsync" shares --home "$tmp/h_a")"
# 2. "Transfer…", then "Transfer"
sed -i '/^at confirm /d; /^at cancel /d' "$tmp/sta.transfer"
click "$tmp/sta.transfer" button
until_eq 10 'grep -c "^Leroy becomes the owner of the patient Dupont Jean\.$" "$tmp/sta.transfer"' 2
sleep 0.5
import -window root "$shots/transfer-confirm.png"
click "$tmp/sta.transfer" confirm
until_eq 20 'has "$tmp/sta.transfer" "^Done: transferred to Leroy\.$"' yes
until_eq 10 'has "$tmp/sta.manage" "^Done: transferred to Leroy\.$"' yes
# gone from A's list of its own patients
until_eq 10 'grep "patients\? you own" "$tmp/sta.transfer" | tail -n 1' "1 patient you own, 1 colleague."
[ "$(q a "SELECT count(*) FROM cs_audit WHERE detail='transferred to Leroy'")" = 1 ] ||
	fail "the transfer is not audited on a"
# A's share list says so (the patient: "1", or null once A purged it)
python3 "$cli" "$tmp/x_a/cabsync/control.sock" request shares | python3 -c "
import json, sys
j = json.load(sys.stdin)
print(sorted((s['name'], s['active']) for s in j['shares']
             if s['perm'] == 'owner' and s['patient'] in ('1', None)))" >"$tmp/got"
[ "$(cat "$tmp/got")" = "[('Leroy', True), ('Martin', False)]" ] || fail "shares on a: $(cat "$tmp/got")"
# B owns it (its rows came with it) and its tray says so
until_eq 30 'q b "SELECT count(*) FROM patient WHERE nom=\"Dupont\""' 1
pb=$(q b "SELECT id FROM patient WHERE nom='Dupont'")
until_eq 20 '"$cabsync" shares --home "$tmp/h_b" | grep -c "^patient $pb  Leroy  *owner "' 1
until_eq 20 'q b "SELECT count(*) FROM consultation WHERE motif=\"m-Jean\""' 1
until_eq 20 'has "$tmp/stb.notify" "^cabsync: a patient was transferred to you \| Martin transferred the patient Dupont Jean to you: you are its owner now\.$"' yes
# A's copy goes; A keeps its other patient and B's share
until_eq 60 'q a "SELECT count(*) FROM patient WHERE nom=\"Dupont\""' 0
[ "$(q a "SELECT group_concat(nom) FROM patient ORDER BY nom")" = "Martin,Bernard" ] ||
	[ "$(q a "SELECT group_concat(nom) FROM patient ORDER BY nom")" = "Bernard,Martin" ] ||
	fail "a: $(q a "SELECT group_concat(nom) FROM patient")"
sleep 0.5
import -window root "$shots/transfer-done.png"
# 3. a refusal is shown too: the other patient, transferred meanwhile by the
# CLI while the window still lists it
xdotool search --sync --name "cabsync: transfer a patient" windowfocus --sync ||
	fail "no transfer window"
click "$tmp/sta.transfer" search
sleep 0.3
xdotool key --delay 60 ctrl+a BackSpace || fail "xdotool key"
xdotool type --delay 60 "anne" || fail "xdotool type"
until_eq 10 'grep "^shown " "$tmp/sta.transfer" | tail -n 1' "shown 1, selected: Martin Anne"
"$cabsync" transfer 2 --to Leroy --home "$tmp/h_a" >/dev/null || fail "cabsync transfer 2"
sed -i '/^at confirm /d; /^at cancel /d' "$tmp/sta.transfer"
click "$tmp/sta.transfer" button
until_eq 10 'has "$tmp/sta.transfer" "^Leroy becomes the owner of the patient Martin Anne\.$"' yes
click "$tmp/sta.transfer" confirm
until_eq 20 'has "$tmp/sta.transfer" "^Not transferred: (no such patient here|refused: only the owner may transfer a patient)\.$"' yes
until_eq 10 'has "$tmp/sta.manage" "^Not transferred: (no such patient here|refused: only the owner may transfer a patient)\.$"' yes
[ "$(q a "SELECT count(*) FROM cs_audit WHERE detail='transferred to Leroy'")" = 2 ] ||
	fail "the refused transfer was audited, or the CLI's was not"
until_eq 10 'grep "patients\? you own" "$tmp/sta.transfer" | tail -n 1' "0 patients you own, 1 colleague."
for n in a b; do
	"$cabsync" audit verify --home "$tmp/h_$n" >/dev/null || fail "audit verify $n"
done
tray_stop a
tray_stop b
echo ok
