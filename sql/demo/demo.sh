#!/bin/sh
# sql/demo/demo.sh BUILD_DIR (./run demo): the sync engine on three copies of
# a practice database. Dr Martin's desk PC, her laptop and Dr Durand's PC get
# cabsync, the desk PC gets generated patients, `cabsync db sync` spreads
# them; then edits made while the PCs are apart -- through the sqlite3 shell,
# as the practice app would write -- including two concurrent edits of one
# field and a delete against an edit; a second sync; the converged rows, the
# same canonical dump hash on every copy, and the recorded conflicts.
# CS_DEMO_DIR=DIR keeps the databases in DIR (tests/demo/demo_test.sh);
# CS_DEMO_PATIENTS / CS_DEMO_CONSULTS size the generated data.
set -eu
build=$(cd "${1:?usage: demo.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cabsync=$build/agent/cabsync
npat=${CS_DEMO_PATIENTS:-200}
ncons=${CS_DEMO_CONSULTS:-5}
[ -x "$cabsync" ] || { echo "demo: $cabsync is missing (./run build)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "demo: the sqlite3 shell is missing" >&2; exit 1; }

if [ -n "${CS_DEMO_DIR:-}" ]; then
	dir=$CS_DEMO_DIR
	mkdir -p "$dir"
	rm -f "$dir"/*.db "$dir"/*.db-*
else
	dir=$(mktemp -d "${TMPDIR:-/tmp}/cabsync-demo.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	trap 'exit 130' INT TERM
fi
tables=$here/tables.ini
desk=$dir/martin-bureau.db
laptop=$dir/martin-portable.db
durand=$dir/durand-cabinet.db

title() {
	printf '\n\033[1m== %s\033[0m\n' "$*"
}
# app WHO DB SQL: a write by the practice app (foreign keys on, as the app has them)
app() {
	printf '  %-22s %s\n' "$1:" "$4"
	sqlite3 -bail "$2" "PRAGMA foreign_keys = ON; $3"
}
q() {
	sqlite3 "$1" "$2"
}
canon() {
	sqlite3 "$1" <"$here/canonical.sql" | sha256sum | cut -c1-16
}

title "Three copies of the practice database (in $dir)"
for f in "$desk" "$laptop" "$durand"; do
	sqlite3 "$f" <"$here/schema.sql"
done
"$cabsync" db install --db "$desk" --tables "$tables" --device-name "Dr Martin (bureau)" --enable-wal
"$cabsync" db install --db "$laptop" --tables "$tables" --device-name "Dr Martin (portable)" --enable-wal
"$cabsync" db install --db "$durand" --tables "$tables" --device-name "Dr Durand (cabinet)" --enable-wal

title "Dr Martin's desk PC: $npat patients with $ncons consultations each (generate.sh)"
t0=$(date +%s.%N)
"$here/generate.sh" "$desk" "$npat" "$ncons" 42 "Claire Martin"
t1=$(date +%s.%N)
echo "  $(q "$desk" "SELECT count(*) FROM patient") patients, $(q "$desk" "SELECT count(*) FROM consultation") consultations," \
	"$(q "$desk" "SELECT count(*) FROM document") documents, $(q "$desk" "SELECT count(*) FROM appointment") appointments" \
	"($(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s, every row captured by the triggers)"

title "First sync: cabsync db sync (all changes, both ways, until nothing moves)"
"$cabsync" db sync --tables "$tables" "$desk" "$laptop" "$durand"

# The rows the edits touch, found by content: local ids differ between copies.
# Patients whose name is unique (the generator may repeat one), so that the
# printout names them without ambiguity.
UNIQ="cree_le NOT LIKE '2026-11-27%' AND (nom, prenom) IN (SELECT nom, prenom FROM patient GROUP BY nom, prenom HAVING count(*) = 1)"
P1="(SELECT id FROM patient WHERE $UNIQ ORDER BY nom, prenom, date_naissance LIMIT 1)"
P2="(SELECT id FROM patient WHERE $UNIQ ORDER BY nom, prenom, date_naissance LIMIT 1 OFFSET 1)"
P3="(SELECT id FROM patient WHERE $UNIQ ORDER BY nom, prenom, date_naissance LIMIT 1 OFFSET 2)"
C1="(SELECT id FROM consultation WHERE patient_id = $P1 ORDER BY date_consultation DESC LIMIT 1)"
C2="(SELECT id FROM consultation WHERE patient_id = $P2 ORDER BY date_consultation DESC LIMIT 1)"
C3="(SELECT id FROM consultation WHERE patient_id = $P3 ORDER BY date_consultation LIMIT 1)"
A1="(SELECT id FROM appointment WHERE patient_id = $P2 ORDER BY debut LIMIT 1)"
label() {
	q "$desk" "SELECT nom || ' ' || prenom FROM patient WHERE id = $1"
}
pat1=$(label "$P1")
pat2=$(label "$P2")
pat3=$(label "$P3")
# the document of C3's patient's first consultation, made sure to exist
sqlite3 "$desk" "INSERT INTO document (patient_id, consultation_id, nom_fichier, type_mime,
    taille_octets, sha256, description, ajoute_le)
  SELECT patient_id, id, 'bilan_initial.pdf', 'application/pdf', 183244,
    '9b7f3c2d8e1a4f6b0c5d9e2f7a3b8c1d4e6f0a2b5c8d1e3f6a9b2c4d7e0f1a3b', 'Bilan initial',
    date_consultation FROM consultation WHERE id = $C3"
"$cabsync" db sync --tables "$tables" "$desk" "$laptop" "$durand" >/dev/null

title "Edits while the three PCs are apart (sqlite3 shell, as the app writes)"
app "laptop (Dr Martin)" "$laptop" \
	"UPDATE consultation SET diagnostic = 'Dysfonction lombaire L5-S1, spasme du psoas droit' WHERE id = $C1" \
	"$pat1, last consultation: diagnostic := 'Dysfonction lombaire L5-S1, spasme du psoas droit'"
sleep 0.05
app "desk (Dr Martin)" "$desk" \
	"UPDATE consultation SET diagnostic = 'Dysfonction sacro-iliaque gauche, bassin en rotation' WHERE id = $C1" \
	"same consultation, same field, a moment later: diagnostic := 'Dysfonction sacro-iliaque gauche, bassin en rotation'"
app "laptop (Dr Martin)" "$laptop" \
	"UPDATE appointment SET note = 'Prévient d''un retard de 10 minutes' WHERE id = $A1" \
	"$pat2, next appointment: note := 'Prévient d'un retard de 10 minutes'"
app "PC (Dr Durand)" "$durand" "DELETE FROM appointment WHERE id = $A1" \
	"deletes that same appointment (the patient cancelled by phone)"
app "desk (Dr Martin)" "$desk" \
	"UPDATE consultation SET conseils = 'Marche quotidienne, éviter la position assise prolongée' WHERE id = $C2" \
	"$pat2, last consultation: conseils := 'Marche quotidienne, ...'"
app "PC (Dr Durand)" "$durand" \
	"UPDATE consultation SET traitement = 'Techniques viscérales, travail du diaphragme' WHERE id = $C2" \
	"same consultation, another field: traitement := 'Techniques viscérales, ...' (no conflict)"
app "PC (Dr Durand)" "$durand" "DELETE FROM consultation WHERE id = $C3" \
	"deletes $pat3's first consultation; ON DELETE CASCADE removes its documents"
app "desk (Dr Martin)" "$desk" \
	"INSERT INTO patient (nom, prenom, date_naissance, sexe, ville, cree_le) VALUES ('Lefort', 'Juliette', '1987-03-14', 'F', 'Lyon', '2026-11-27T10:00:00')" \
	"new patient Lefort Juliette (local id $(q "$desk" "SELECT seq + 1 FROM sqlite_sequence WHERE name = 'patient'"))"
app "PC (Dr Durand)" "$durand" \
	"INSERT INTO patient (nom, prenom, date_naissance, sexe, ville, cree_le) VALUES ('Bonnaire', 'Marc', '1979-09-02', 'M', 'Villeurbanne', '2026-11-27T10:05:00')" \
	"new patient Bonnaire Marc (local id $(q "$durand" "SELECT seq + 1 FROM sqlite_sequence WHERE name = 'patient'"): the same number, another patient)"

title "Second sync"
"$cabsync" db sync --tables "$tables" "$desk" "$laptop" "$durand"

title "Converged: the same rows on every copy"
printf '  %-22s %-18s %8s %13s %9s %12s\n' copy "canonical sha256" patients consultations documents appointments
for f in "$desk" "$laptop" "$durand"; do
	printf '  %-22s %-18s %8s %13s %9s %12s\n' "$(basename "$f" .db)" "$(canon "$f")" \
		"$(q "$f" "SELECT count(*) FROM patient")" "$(q "$f" "SELECT count(*) FROM consultation")" \
		"$(q "$f" "SELECT count(*) FROM document")" "$(q "$f" "SELECT count(*) FROM appointment")"
done
for f in "$desk" "$laptop" "$durand"; do
	echo "  $(basename "$f" .db):"
	q "$f" "SELECT '    $pat1, diagnostic:  ' || diagnostic FROM consultation WHERE id = $C1;
		SELECT '    $pat2, conseils:    ' || conseils || char(10) ||
		       '    $pat2, traitement:  ' || traitement FROM consultation WHERE id = $C2;
		SELECT '    $pat2, appointments: ' || count(*) FROM appointment WHERE patient_id = $P2;
		SELECT '    $pat3, consultations: ' || count(*) || ', documents: ' ||
		       (SELECT count(*) FROM document WHERE patient_id = $P3) FROM consultation WHERE patient_id = $P3;
		SELECT '    new patients: ' || group_concat(nom || ' ' || prenom || ' (id ' || id || ')', ', ')
		       FROM (SELECT * FROM patient WHERE cree_le LIKE '2026-11-27%' ORDER BY nom);"
done
h1=$(canon "$desk")
h2=$(canon "$laptop")
h3=$(canon "$durand")
if [ "$h1" = "$h2" ] && [ "$h2" = "$h3" ]; then
	echo "  => identical canonical dumps on the three copies"
else
	echo "  => THE COPIES DIFFER" >&2
	exit 1
fi

title "Recorded conflicts (Dr Durand's PC; every copy has them)"
"$cabsync" db conflicts --db "$durand"

title "Dr Martin settles the diagnostic on her desk PC: take the laptop's wording"
id=$("$cabsync" db conflicts --db "$desk" | sed -n 's/^conflict #\([0-9]*\) .*column diagnostic.*/\1/p' | head -n 1)
if [ -n "$id" ]; then
	"$cabsync" db resolve --db "$desk" "$id" take-theirs
	"$cabsync" db sync --tables "$tables" "$desk" "$laptop" "$durand"
	for f in "$desk" "$laptop" "$durand"; do
		printf '  %-22s %s\n' "$(basename "$f" .db):" "$(q "$f" "SELECT diagnostic FROM consultation WHERE id = $C1")   (canonical $(canon "$f"))"
	done
	echo "  open conflicts left on Dr Durand's PC:"
	"$cabsync" db conflicts --db "$durand" | sed 's/^/    /'
fi

# The offline hand-off through the shared-folder relay, with real agents
# (sql/demo/relay_demo.sh; docs/RELAY.md).
sh "$here/relay_demo.sh" "$build"
