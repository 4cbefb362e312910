#!/bin/sh
# sql/demo/relay_demo.sh BUILD_DIR (a step of ./run demo): an offline
# hand-off through the shared-folder relay (docs/RELAY.md). Dr Martin's desk
# PC and Dr Durand's PC never run at the same time: Durand's PC is off,
# Martin edits a patient, her agent seals the changes into the shared folder
# (a NAS share; here a temp dir) and stops; Durand's PC starts alone and
# imports them. Only ciphertext ever sits in the folder. Real agents on
# 127.0.0.1; every process started is stopped by its pid.
set -eu
build=$(cd "${1:?usage: relay_demo.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cabsync=$build/agent/cabsync
tables=$here/tables.ini
[ -x "$cabsync" ] || { echo "relay demo: $cabsync is missing (./run build)" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/cabsync-relay-demo.XXXXXX")
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

title() {
	printf '\n\033[1m== %s\033[0m\n' "$*"
}
q() {
	sqlite3 -cmd ".timeout 5000" "$1" "$2"
}
# agent NAME: start the agent of home $dir/NAME in the background
agent() {
	mkdir -p "$dir/run-$1"
	rm -f "$dir/$1/port"
	XDG_RUNTIME_DIR=$dir/run-$1 "$cabsync" agent --home "$dir/$1" --listen 127.0.0.1 \
		>>"$dir/$1.log" 2>&1 &
	pid=$!
	i=0
	while [ ! -s "$dir/$1/port" ]; do
		i=$((i + 1))
		[ $i -le 200 ] || { echo "relay demo: the agent did not start" >&2; exit 1; }
		sleep 0.05
	done
}
halt() {
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
}
# wait_for SECONDS CMD: poll until CMD succeeds
wait_for() {
	i=0
	until eval "$2" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -le $(($1 * 10)) ] || { echo "relay demo: timed out: $2" >&2; exit 1; }
		sleep 0.1
	done
}

title "Relay: two PCs that are never on at the same time (shared folder $dir/nas)"
mkdir -p "$dir/nas"
for db in martin durand; do
	sqlite3 "$dir/$db.db" <"$here/schema.sql"
	sqlite3 "$dir/$db.db" "PRAGMA journal_mode=WAL" >/dev/null
done
q "$dir/martin.db" "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
	VALUES('Lefebvre','Camille','1984-05-12','F','2026-11-27');
	INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
	VALUES('Moreau','Lucie','1971-02-03','F','2026-11-27')"
"$cabsync" init --home "$dir/martin" --db "$dir/martin.db" --tables "$tables" \
	--cabinet "Cabinet du Port" --practitioner "Claire Martin" --device-name bureau 2>/dev/null
"$cabsync" init --home "$dir/durand" --db "$dir/durand.db" --tables "$tables" \
	--practitioner "Paul Durand" --device-name cabinet --same-cabinet-as "$dir/martin" 2>/dev/null
for h in martin durand; do
	cat >>"$dir/$h/cabsync.ini" <<EOF

[relay]
backend = folder
dir = $dir/nas
# relay to a colleague not seen on the LAN for 2 s (default 10 min)
after = 2s
interval = 1s
lifetime = 24h
EOF
done
echo "  [relay] backend = folder, dir = $dir/nas, after = 2s (default 10m), lifetime = 24h"
durand_id=$(sed -n '/^\[practitioner\]/,/^\[/s/^id = //p' "$dir/durand/cabsync.ini")
"$cabsync" share 1 --with "$durand_id" --perm write --home "$dir/martin" >/dev/null
echo "  Dr Martin shares Camille Lefebvre with Dr Durand (write); Lucie Moreau stays hers alone"

title "Dr Durand's PC is off; Dr Martin works"
agent martin
q "$dir/martin.db" "UPDATE patient SET telephone='06 12 34 56 78' WHERE nom='Lefebvre';
	INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
	SELECT id,'Claire Martin','2026-11-27','cervicalgie',6000 FROM patient WHERE nom='Lefebvre'"
echo "  Dr Martin: new phone number and a consultation for Camille Lefebvre"
wait_for 20 "[ \"\$(q '$dir/martin.db' \"SELECT ifnull(sum(count), 0) >= 2 FROM cs_audit
	WHERE detail LIKE 'relay bundle % sealed for device %'\")\" = 1 ]"
sleep 1.5
echo "  her agent, not seeing Dr Durand's PC, sealed the changes into the shared folder:"
find "$dir/nas" -name '*.csb' | while read -r f; do
	printf '    %s (%s bytes)\n' "${f#"$dir/nas/"}" "$(stat -c %s "$f")"
done
if grep -rqa "Lefebvre\|cervicalgie" "$dir/nas"; then
	echo "  THE FOLDER HOLDS CLEAR TEXT" >&2
	exit 1
fi
echo "  grep Lefebvre / cervicalgie in the folder: nothing (sealed, signed, encrypted twice)"
halt
echo "  Dr Martin shuts her PC down"

title "Later, Dr Durand's PC starts alone"
[ "$(q "$dir/durand.db" "SELECT count(*) FROM patient")" = 0 ] || exit 1
agent durand
wait_for 20 "[ \"\$(q '$dir/durand.db' \"SELECT count(*) FROM consultation\")\" = 1 ]"
q "$dir/durand.db" "SELECT '  Dr Durand sees: ' || nom || ' ' || prenom || ', tel ' || telephone ||
	', ' || (SELECT count(*) FROM consultation) || ' consultation (' ||
	(SELECT motif FROM consultation) || ')' FROM patient"
wait_for 10 "[ \$(find '$dir/nas' -name '*.csb' | wc -l) = 0 ]"
[ "$(q "$dir/durand.db" "SELECT count(*) FROM patient WHERE nom='Moreau'")" = 0 ] || {
	echo "  THE UNSHARED PATIENT REACHED DR DURAND" >&2
	exit 1
}
echo "  Lucie Moreau (not shared) is not on Dr Durand's PC: each bundle holds only what he may see"
echo "  the bundles were deleted from the folder once imported"
halt
echo "  audit of Dr Durand's PC (cabsync audit):"
"$cabsync" audit --home "$dir/durand" 2>/dev/null | grep -i "relay" | sed 's/^/    /' | head -n 4
