#!/bin/sh
# tests/tray/tray_test.sh BUILD_DIR SRC_DIR: cabsync-tray under Xvfb with a
# real XEmbed tray host (trayer), against real agents: a lone device shows
# "local", an agent whose colleague is down "offline", two agents "synced",
# edits with the peer stopped "offline" with the count waiting, pause
# "paused", the agent killed "error" (never a stale green), the agent back
# "offline" again (reconnect). Each state is asserted twice: the state file
# the tray writes (--state-file) and the pixels of the tray area in a
# screenshot (import -window root), which must be the expected icon's colour.
# The tray follows the agent through its events (subscribe, PROTOCOL.md §8.2).
# Screenshots are kept in BUILD_DIR/tray-shots/ (docs/img/ has copies).
. "$(dirname "$0")/../agent/lib.sh"

tray=$build/agent/tray/cabsync-tray
icons=$src/agent/tray/icons
shots=$build/tray-shots
mkdir -p "$shots"
for c in Xvfb trayer import convert python3; do
	command -v $c >/dev/null 2>&1 || fail "$c is not installed (./run installs it)"
done

# A private X server on a free display number, and the tray host.
Xvfb -displayfd 3 -screen 0 320x120x24 -nolisten tcp 3>"$tmp/disp" 2>"$tmp/xvfb.log" &
pids="$pids $!"
until_eq 10 'test -s "$tmp/disp" && echo yes' yes
DISPLAY=:$(cat "$tmp/disp")
export DISPLAY
# no session bus: the tray must choose the XEmbed icon by itself
unset DBUS_SESSION_BUS_ADDRESS
trayer --edge top --align left --widthtype pixel --width 160 --heighttype pixel --height 48 \
	--SetDockType false --transparent false --tint 0xffffff >"$tmp/trayer.log" 2>&1 &
pids="$pids $!"
until_eq 10 'xwininfo -root -tree | grep -c "\"panel\"" | grep -q "^[1-9]" && echo yes' yes

# tray_start NAME: the tray of agent NAME's runtime dir
tray_start() {
	rm -f "$tmp/state"
	XDG_RUNTIME_DIR=$tmp/x_$1 ASAN_OPTIONS=detect_leaks=0 "$tray" --backend auto \
		--icon-dir "$icons" --poll-ms 300 --state-file "$tmp/state" >>"$tmp/tray.log" 2>&1 &
	pid_tray=$!
	pids="$pids $!"
}
tray_stop() {
	kill -TERM "$pid_tray"
	wait "$pid_tray" || fail "cabsync-tray exited non-zero on SIGTERM"
}
expect() {
	until_eq 20 'head -n 1 "$tmp/state"' "$1"
}
# shot NAME ICON: the tray area must show ICON's colour (retry while GTK draws)
shot() {
	i=0
	while :; do
		import -window root "$shots/root-$1.png"
		got=$(python3 "$src/tests/tray/icon_colour.py" "$shots/root-$1.png" "$icons" 0 0 160 48)
		[ "${got%% *}" = "$2" ] && break
		i=$((i + 1))
		[ $i -le 30 ] || fail "screenshot $1: the tray shows '$got', want icon $2"
		sleep 0.2
	done
	convert "$shots/root-$1.png" -crop 48x48+0+0 +repage "$shots/tray-$1.png"
	echo "state $1: icon $got"
}

# 1. a practitioner alone, no other device: "local", never green
newdb c
"$cabsync" init --home "$tmp/h_c" --db "$tmp/c.db" --tables "$tables" --cabinet Solo \
	--practitioner Alone >/dev/null 2>&1 || fail "init c"
start c
tray_start c
expect local
shot local local
tray_stop
stop c

# 2. two devices of one cabinet
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
tray_start a
expect offline
shot offline offline

start b --peer "127.0.0.1:$(port a)"
until_eq 10 'q b "SELECT nom FROM patient"' Dupont
expect synced
shot synced synced
sed -n 3,9p "$tmp/state" | grep -q "^Colleagues online: laptop$" || fail "tooltip: laptop online"
grep -q "^laptop: online, last sync just now$" "$tmp/state" || fail "tooltip: last sync"

# 3. the colleague's PC is off, work goes on here: offline (never green),
# with the count of changes no colleague has (the agent recounts its commits
# while offline, PROTOCOL.md §8.1)
stop b
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Martin','Anne','1990-02-02','F','2024-01-02')"
q a "UPDATE patient SET ville='Lyon' WHERE nom='Dupont'"
expect offline
until_eq 20 'sed -n 2p "$tmp/state"' "Offline: 2 changes waiting"
shot offline-pending offline

# 4. pause from the CLI: the tray says paused (offline icon), resume: offline
XDG_RUNTIME_DIR=$tmp/x_a "$cabsync" pause >/dev/null || fail "pause"
expect paused
shot paused offline
XDG_RUNTIME_DIR=$tmp/x_a "$cabsync" resume >/dev/null || fail "resume"
expect offline

# 5. the peer back: the pending changes go, synced again
start b --peer "127.0.0.1:$(port a)"
until_eq 10 'q b "SELECT count(*) FROM patient"' 2
expect synced

# 6. the agent killed: error at once (never the last green), then back
stop a KILL
expect error
until_eq 10 'sed -n 2p "$tmp/state"' "Error: the cabsync agent is not running"
shot error error
# back (on a new port, so laptop cannot find it): the tray reconnects
start a
expect offline
tray_stop
# it followed the agent by its events, not by polling: subscribed at start
# and again after the restart
[ "$(grep -c "subscribed to the agent's events" "$tmp/tray.log")" -ge 3 ] ||
	fail "the tray did not subscribe"
grep -q "polling every" "$tmp/tray.log" && fail "the tray polled a subscribing agent"
stop a
stop b
echo "ok"
