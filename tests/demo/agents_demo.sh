#!/bin/sh
# tests/demo/agents_demo.sh BUILD_DIR (./run demo): real cabsync agents on
# 127.0.0.1 in a temp folder, as on three PCs of a practice. Dr Martin's desk
# PC starts the cabinet with generated patients; her laptop and Dr Durand's PC
# join with an invite code; the laptop gets every patient, Dr Durand only
# those Dr Martin shares with him (one to write, one read-only); an edit made
# with the sqlite3 shell (as the app) on the desk arrives where it may; a concurrent edit of one field (the
# laptop paused meanwhile) ends in a conflict record; `cabsync status`.
# Under a minute. CS_DEMO_KEEP=1 keeps the folder.
set -eu
build=$(cd "${1:?usage: agents_demo.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
cabsync=$build/agent/cabsync
[ -x "$cabsync" ] || { echo "demo: $cabsync is missing (./run build)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "demo: the sqlite3 shell is missing" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/cabsync-agents-demo.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	if [ -n "${CS_DEMO_KEEP:-}" ]; then echo "demo: kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export CS_KEYRING=off CS_NO_MDNS=1 # the demo stays on loopback, keys in files
T0=$(date +%s%3N)
title() { printf '\n\033[1m== %s\033[0m  (%.1f s)\n' "$1" "$(echo "$(date +%s%3N) - $T0" | bc -l 2>/dev/null | awk '{print $1/1000}')"; }
q() { sqlite3 -cmd ".timeout 5000" "$dir/$1.db" "$2"; }
agent() {
	mkdir -p "$dir/x_$1"
	XDG_RUNTIME_DIR=$dir/x_$1 "$cabsync" agent --home "$dir/h_$1" --listen 127.0.0.1 \
		>>"$dir/$1.log" 2>&1 &
	pids="$pids $!"
	i=0
	while [ ! -s "$dir/h_$1/port" ]; do
		i=$((i + 1)); [ $i -le 200 ] || { echo "demo: agent $1 did not start" >&2; exit 1; }
		sleep 0.05
	done
}
ctl() { n=$1; shift; XDG_RUNTIME_DIR=$dir/x_$n "$cabsync" "$@"; }
# wait_for DB SQL WANT: poll (10 s at most), print how long it took
wait_for() {
	t=$(date +%s%3N)
	i=0
	while [ "$(q "$1" "$2" 2>/dev/null)" != "$3" ]; do
		i=$((i + 1)); [ $i -le 1000 ] || { echo "demo: $1 never showed '$3'" >&2; exit 1; }
		sleep 0.01
	done
	echo "   $1: '$3' after $(($(date +%s%3N) - t)) ms"
}
for n in desk laptop durand; do
	sqlite3 "$dir/$n.db" <"$src/sql/demo/schema.sql"
	sqlite3 "$dir/$n.db" "PRAGMA journal_mode=WAL" >/dev/null
done

title "Dr Martin's desk PC: 50 patients, cabsync init, agent started"
"$src/sql/demo/generate.sh" "$dir/desk.db" 50 2 42 "Claire Martin" >/dev/null
"$cabsync" init --home "$dir/h_desk" --db "$dir/desk.db" --tables "$src/sql/demo/tables.ini" \
	--cabinet "Cabinet Martin" --practitioner "Dr Martin" --device-name bureau 2>/dev/null
agent desk

title "Her laptop joins with an invite code (same practitioner)"
"$cabsync" invite --home "$dir/h_desk" --listen 127.0.0.1 >"$dir/inv.out" 2>>"$dir/inv.log" &
inv=$!
pids="$pids $inv"
while ! grep -q '^port: ' "$dir/inv.out" 2>/dev/null; do sleep 0.05; done
code=$(sed -n 's/^invite code: //p' "$dir/inv.out")
echo "   invite code: $code"
"$cabsync" join "$code" --home "$dir/h_laptop" --db "$dir/laptop.db" \
	--peer "127.0.0.1:$(sed -n 's/^port: //p' "$dir/inv.out")" --device-name portable | sed 's/^/   /'
wait "$inv"
agent laptop

title "Dr Durand's PC joins as a new practitioner"
"$cabsync" invite --home "$dir/h_desk" --listen 127.0.0.1 --practitioner "Dr Durand" \
	>"$dir/inv2.out" 2>>"$dir/inv.log" &
inv=$!
pids="$pids $inv"
while ! grep -q '^port: ' "$dir/inv2.out" 2>/dev/null; do sleep 0.05; done
code=$(sed -n 's/^invite code: //p' "$dir/inv2.out")
"$cabsync" join "$code" --home "$dir/h_durand" --db "$dir/durand.db" \
	--peer "127.0.0.1:$(sed -n 's/^port: //p' "$dir/inv2.out")" --device-name durand | sed 's/^/   /'
wait "$inv"
agent durand

title "Initial sync: the 50 patients reach her laptop; Dr Durand sees none yet"
wait_for laptop "SELECT count(*) FROM patient" 50
echo "   durand: $(q durand "SELECT count(*) FROM patient") patients (nothing shared with him)"

title "Dr Martin shares patient 1 (write) and patient 3 (read) with Dr Durand"
"$cabsync" share 1 --with "Dr Durand" --perm write --home "$dir/h_desk" | sed 's/^/   /'
"$cabsync" share 3 --with "Dr Durand" --perm read --home "$dir/h_desk" | sed 's/^/   /'
wait_for durand "SELECT count(*) FROM patient" 2
"$cabsync" shares --home "$dir/h_durand" | sed 's/^/   /'
p3=$(q durand "SELECT id FROM patient WHERE nom || '/' || prenom = '$(q desk "SELECT nom || '/' || prenom FROM patient WHERE id = 3")'")
echo "   the app on Dr Durand's PC tries to change the read-only patient:"
q durand "UPDATE patient SET ville = 'Nope' WHERE id = $p3" 2>&1 | sed 's/^/   /' || true

title "An edit on the desk (sqlite3 shell, as the app) arrives on the others"
q desk "UPDATE patient SET telephone = '02 40 00 00 01' WHERE id = 1"
wait_for laptop "SELECT telephone FROM patient WHERE id = 1" "02 40 00 00 01"
p1=$(q durand "SELECT id FROM patient WHERE nom || '/' || prenom = '$(q desk "SELECT nom || '/' || prenom FROM patient WHERE id = 1")'")
wait_for durand "SELECT telephone FROM patient WHERE id = $p1" "02 40 00 00 01"
q laptop "INSERT INTO patient(nom, prenom, date_naissance, sexe, cree_le) VALUES('Nouveau', 'Patient', '2001-05-05', 'F', '2024-06-01')"
echo "   a new patient typed on the laptop:"
wait_for desk "SELECT count(*) FROM patient WHERE nom = 'Nouveau'" 1
sleep 0.5
echo "   durand: $(q durand "SELECT count(*) FROM patient WHERE nom = 'Nouveau'") of it (not shared with him)"

title "A concurrent edit: the laptop is paused, both change patient 2's city"
ctl laptop pause --home "$dir/h_laptop" | sed 's/^/   /'
q desk "UPDATE patient SET ville = 'Nantes' WHERE id = 2"
sleep 0.2
q laptop "UPDATE patient SET ville = 'Rezé' WHERE id = 2"
ctl laptop resume --home "$dir/h_laptop" | sed 's/^/   /'
i=0
while [ "$(q desk "SELECT ville FROM patient WHERE id = 2")" != "$(q laptop "SELECT ville FROM patient WHERE id = 2")" ] ||
	[ "$(q laptop "SELECT count(*) FROM cs_conflicts")" = 0 ]; do
	i=$((i + 1)); [ $i -le 500 ] || { echo "demo: no convergence" >&2; exit 1; }
	sleep 0.02
done
echo "   both now show: $(q desk "SELECT ville FROM patient WHERE id = 2") (the later write wins)"
echo "   the conflict record, on the laptop:"
"$cabsync" db conflicts --db "$dir/laptop.db" | sed 's/^/   /'

title "cabsync status on the desk PC"
ctl desk status --home "$dir/h_desk" | sed 's/^/   /' || true
echo
echo "   as JSON (the tray reads this):"
ctl desk status --home "$dir/h_desk" --json | cut -c1-300 | sed 's/^/   /'
title "done: agents stopped, $dir removed"
