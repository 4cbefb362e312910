#!/bin/sh
# tests/relay/export_test.sh BUILD_DIR SRC_DIR: the hand-carried export
# (issue 7 §3). A exports one patient for practitioner Durand's devices; B
# (Durand's laptop) imports the file: that patient's rows only, audited on
# both sides. Replayed, tampered, truncated, expired and not-for-this-device
# files are refused (exit 8), kept in quarantine with the reason, audited,
# and nothing of them is applied. The file never holds the canary in clear.
# Shares: patient 1 is shared with Durand and Petit; the file carries its
# share records (the importer applies them first: its rows are not held);
# patient 2, not shared, cannot be exported to them.
. "$(dirname "$0")/../agent/lib.sh"

canary=CanaryXylophoneQ
newdb a
newdb b
newdb c
q a "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('$canary','Jean','1980-01-01','M','2024-01-01');
     INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le)
     VALUES('Other','Anne','1990-01-01','F','2024-01-01');
     INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     VALUES(1,'Martin','2024-03-01','lombalgie $canary',5000);
     INSERT INTO consultation(patient_id,praticien,date_consultation,motif,tarif_cents)
     VALUES(2,'Martin','2024-03-02','entorse',4000)"
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
for p in b c; do
	"$cabsync" share 1 --with "$(pracid $p)" --perm read --home "$tmp/h_a" >/dev/null ||
		fail "share 1 with $p"
done
ex() { # ex FILE ARGS...: export from A
	f=$1
	shift
	"$cabsync" export "$@" -o "$f" --home "$tmp/h_a" >"$tmp/out" 2>"$tmp/err" ||
		fail "export: $(cat "$tmp/err")"
}
# refused FILE WHY: import at B exits 8 with WHY, quarantined, audited
nref=0
refused() {
	set +e
	"$cabsync" import "$1" --home "$tmp/h_b" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ $rc = 8 ] || fail "import of $1 exits $rc, want 8: $(cat "$tmp/err")"
	grep -qi "$2" "$tmp/err" || fail "import of $1: '$(cat "$tmp/err")', want '$2'"
	nref=$((nref + 1))
	[ "$(ls "$tmp/h_b/relay-quarantine" | grep -vc '\.why$')" = $nref ] ||
		fail "import of $1: not quarantined"
	grep -qi "$2" "$tmp/h_b/relay-quarantine/"*"$(basename "$1").why" ||
		fail "quarantine reason of $1"
	[ "$(q b "SELECT count(*) FROM cs_audit WHERE action=5 AND detail LIKE
		'export file refused: %'")" = $nref ] || fail "refusal of $1 not audited"
}

# usage errors
set +e
"$cabsync" export 1 -o "$tmp/x" --home "$tmp/h_a" 2>/dev/null
[ $? = 2 ] || fail "export without --to"
"$cabsync" export 1 --to nobody -o "$tmp/x" --home "$tmp/h_a" 2>/dev/null
[ $? = 2 ] || fail "export to an unknown practitioner"
"$cabsync" export 99 --to laptop -o "$tmp/x" --home "$tmp/h_a" 2>/dev/null
[ $? = 1 ] || fail "export of an unknown patient"
"$cabsync" export 2 --to laptop -o "$tmp/x" --home "$tmp/h_a" 2>"$tmp/err"
[ $? = 1 ] || fail "export of a patient not shared with Durand"
grep -q "share it first" "$tmp/err" || fail "no clear message: $(cat "$tmp/err")"
[ ! -e "$tmp/x" ] || fail "a file written for an unshared patient"
set -e

ex "$tmp/p1.csbx" 1 --to laptop
[ "$(stat -c %a "$tmp/p1.csbx")" = 600 ] || fail "export not 0600"
if grep -qa "$canary\|lombalgie\|Jean" "$tmp/p1.csbx"; then fail "canary in the export"; fi
cp "$tmp/p1.csbx" "$tmp/p1.copy"
"$cabsync" import "$tmp/p1.csbx" --home "$tmp/h_b" >"$tmp/out" 2>"$tmp/err" ||
	fail "import: $(cat "$tmp/err")"
[ "$(q b "SELECT nom FROM patient")" = "$canary" ] || fail "B: not the exported patient"
[ "$(q b "SELECT motif FROM consultation")" = "lombalgie $canary" ] || fail "B: consultation"
grep -q "(2 applied, 0 refused, 0 conflicts, 0 held)" "$tmp/out" || fail "B: $(cat "$tmp/out")"
[ "$(q b "SELECT count(*) FROM cs_held")" = 0 ] || fail "B: rows held (no claim?)"
"$cabsync" shares --home "$tmp/h_b" | grep -q "Durand  *read" || fail "B: the share record"
[ "$(q b "SELECT count(*) FROM cs_audit WHERE action=10 AND detail LIKE
	'relay import (export file) of bundle %: 2 rows'")" = 1 ] || fail "B: import not audited"
[ "$(q a "SELECT count(*) FROM cs_audit WHERE action=2 AND detail LIKE 'export bundle %'")" = 1 ] ||
	fail "A: export not audited"

# replayed
refused "$tmp/p1.copy" "already received"
# tampered: one byte in the middle
cp "$tmp/p1.copy" "$tmp/t.csbx"
off=$(($(stat -c %s "$tmp/t.csbx") / 2))
b=$(od -An -j$off -N1 -tu1 "$tmp/t.csbx" | tr -d ' ')
printf "$(printf '\\%03o' $(((b + 1) % 256)))" |
	dd of="$tmp/t.csbx" bs=1 seek=$off conv=notrunc 2>/dev/null
refused "$tmp/t.csbx" "signature"
# truncated
head -c 400 "$tmp/p1.copy" >"$tmp/trunc.csbx"
refused "$tmp/trunc.csbx" "malformed"
# expired: sealed by an A ten days in the past, valid one day
q a "UPDATE patient SET ville='Expired' WHERE id=1"
CABSYNC_TEST_CLOCK_OFFSET_MS=-864000000 ex "$tmp/old.csbx" 1 --to laptop --lifetime 1d
refused "$tmp/old.csbx" "expired"
# for another practitioner's device
ex "$tmp/forc.csbx" 1 --to nuc
refused "$tmp/forc.csbx" "no bundle for this device"
[ "$(q b "SELECT count(*) FROM patient")" = 1 ] || fail "a refused file applied rows"
[ "$(q b "SELECT ifnull(ville,'-') FROM patient")" = "-" ] || fail "a refused file applied rows"
# C can open its own
"$cabsync" import "$tmp/forc.csbx" --home "$tmp/h_c" >/dev/null 2>"$tmp/err" ||
	fail "C import: $(cat "$tmp/err")"
[ "$(q c "SELECT ville FROM patient")" = "Expired" ] || fail "C: not the latest value"
if grep -rqa "$canary" "$tmp/h_b/relay-quarantine"; then fail "canary in quarantine"; fi
echo "ok"
