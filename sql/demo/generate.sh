#!/bin/sh
# sql/demo/generate.sh DB N M [SEED] [PRATICIEN]
#
# Fill the demo practice database DB (schema.sql, created if missing) with N
# new patients, M consultations each, a document for about one consultation
# in three and one or two appointments per patient: realistic French clinical
# text, deterministic for a given SEED (default 1), appended after the rows
# already there. It writes through the sqlite3 shell, in one transaction, as
# the practice app would: if cabsync is installed, its triggers capture every
# row. Recursive CTEs, no per-row round trip: a million rows take seconds.
set -eu
usage() {
	echo "usage: generate.sh DB N M [SEED] [PRATICIEN]" >&2
	exit 2
}
[ $# -ge 3 ] || usage
db=$1
n=$2
m=$3
seed=${4:-1}
praticien=${5:-Claire Martin}
case "$n$m$seed" in *[!0-9]*) usage ;; esac
case "$praticien" in *\'*) echo "generate.sh: PRATICIEN must not contain a quote" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
command -v sqlite3 >/dev/null || { echo "generate.sh: the sqlite3 shell is missing (apt-get install sqlite3)" >&2; exit 1; }

# A word pool: a temp table NAME(i, v) from the lines of stdin, and the
# shell variable NAME_n with its size. SQL quotes are doubled.
pools=""
pool() {
	_name=$1
	_sql=$(sed -e '/^$/d' -e "s/'/''/g" -e "s/.*/('&')/" | paste -sd, -)
	_cnt=$(printf '%s\n' "$_sql" | tr -cd '(' | wc -c)
	pools="$pools
CREATE TEMP TABLE $_name(i INTEGER PRIMARY KEY, v TEXT NOT NULL);
INSERT INTO temp.$_name(v) VALUES $_sql;"
	eval "${_name}_n=$_cnt"
}

pool noms <<'EOF'
Martin
Bernard
Thomas
Petit
Robert
Richard
Durand
Dubois
Moreau
Laurent
Simon
Michel
Lefebvre
Leroy
Roux
David
Bertrand
Morel
Fournier
Girard
Bonnet
Dupont
Lambert
Fontaine
Rousseau
Vincent
Muller
Faure
Mercier
Blanc
Guerin
Boyer
Garnier
Chevalier
Legrand
Gauthier
Garcia
Perrin
Robin
Clement
Morin
Nicolas
Henry
Roussel
Mathieu
Masson
Marchand
Duval
Denis
Lemaire
EOF
pool prenoms_f <<'EOF'
Camille
Léa
Manon
Chloé
Inès
Sarah
Julie
Emma
Claire
Sophie
Nathalie
Isabelle
Catherine
Anne
Marie
Lucie
Pauline
Mathilde
Hélène
Céline
Agnès
Margaux
EOF
pool prenoms_m <<'EOF'
Lucas
Hugo
Thomas
Nicolas
Julien
Pierre
Antoine
Maxime
Alexandre
Louis
Paul
Nathan
Jean
Philippe
Laurent
Olivier
Stéphane
Christophe
Mathieu
Benoît
Jérôme
Gaël
EOF
pool villes <<'EOF'
69001 Lyon
69003 Lyon
69006 Lyon
69007 Lyon
69100 Villeurbanne
69500 Bron
69200 Vénissieux
69300 Caluire-et-Cuire
69130 Écully
69160 Tassin-la-Demi-Lune
69600 Oullins
69800 Saint-Priest
69120 Vaulx-en-Velin
69140 Rillieux-la-Pape
69390 Vourles
EOF
pool rues <<'EOF'
rue de la République
avenue Jean Jaurès
boulevard des Belges
rue Victor Hugo
place Bellecour
rue Garibaldi
cours Lafayette
rue de Créqui
chemin des Vignes
allée des Tilleuls
rue Paul Bert
avenue des Frères Lumière
montée de la Grande Côte
rue du Président Édouard Herriot
impasse des Lilas
EOF
pool professions <<'EOF'
enseignante
infirmier
développeur
comptable
retraitée
étudiant
maçon
cadre commercial
agricultrice
boulanger
aide-soignante
chauffeur routier
secrétaire médicale
architecte
musicien
coiffeuse
électricien
ingénieure
caissière
sans profession
EOF
pool atcd_patient <<'EOF'
Appendicectomie en 2009.
Fracture du poignet droit en 2015, consolidée.
Asthme dans l'enfance, plus de traitement.
Hypertension artérielle traitée.
Entorses de la cheville gauche à répétition.
Accouchement par voie basse en 2019.
Migraines depuis l'adolescence.
Hernie discale L5-S1 en 2018, non opérée.
Aucun antécédent notable.
Scoliose lombaire légère.
Syndrome du canal carpien droit.
Reflux gastro-œsophagien.
Accident de la voie publique en 2012 (coup du lapin).
Tendinite de l'épaule droite.
Diabète de type 2 sous metformine.
Hypothyroïdie traitée.
Ligamentoplastie du genou gauche (LCA) en 2016.
Césarienne en 2020.
Chute dans les escaliers il y a six mois.
Céphalées de tension, port de lunettes.
EOF
pool motifs <<'EOF'
Lombalgie aiguë après un port de charge
Cervicalgie avec raideur matinale
Dorsalgie en position assise prolongée
Sciatalgie droite depuis trois semaines
Céphalées de tension
Douleur de l'épaule gauche à l'élévation du bras
Suivi de grossesse, douleurs sacrées
Entorse de cheville en voie de consolidation
Troubles digestifs et ballonnements
Bilan postural après reprise du sport
Douleur costale après une toux persistante
Torticolis au réveil
Gêne de la mâchoire, bruxisme
Douleur du genou droit en course à pied
Contrôle à un mois
Vertiges positionnels
Coccygodynie après une chute
Tensions liées au stress, troubles du sommeil
Nourrisson : plagiocéphalie
Pubalgie chez un footballeur
EOF
pool atcd_consult <<'EOF'
RAS depuis la dernière séance.
Amélioration partielle après la dernière séance.
Reprise de la course à pied il y a quinze jours.
Nouvel emploi en télétravail, poste non aménagé.
Chute à vélo le week-end dernier.
Anti-inflammatoires pendant cinq jours, peu d'effet.
Séances de kinésithérapie en cours.
Radiographie lombaire normale (compte rendu apporté).
Déménagement récent, port de cartons.
Grossesse de 28 semaines, sans complication.
IRM : protrusion discale L4-L5.
Pas d'événement nouveau.
Douleur réveillée par le jardinage.
Arrêt de travail de trois jours.
EOF
pool examens <<'EOF'
Test de Lasègue négatif.
Flexion lombaire limitée, distance doigts-sol 20 cm.
Restriction de mobilité C5-C6 à droite.
Spasme des paravertébraux lombaires gauches.
Bassin en antériorité iliaque droite.
Diaphragme tendu, respiration haute.
Rotation cervicale gauche douloureuse en fin d'amplitude.
Palpation sensible de la sacro-iliaque droite.
Pas de signe neurologique déficitaire.
Épaule : abduction active limitée à 120°.
Cheville : tiroir antérieur négatif, œdème résiduel.
Tension des muscles sous-occipitaux.
Dysfonction de la charnière thoraco-lombaire.
Côte 6 droite bloquée en inspiration.
Appui unipodal instable à gauche.
Ouverture buccale déviée à droite.
Abdomen souple, zone épigastrique sensible.
Réflexes ostéo-tendineux présents et symétriques.
EOF
pool diagnostics <<'EOF'
Dysfonction somatique lombaire L4-L5
Dysfonction sacro-iliaque droite
Dysfonction cervicale haute C1-C2
Dysfonction thoracique T4-T6 avec restriction costale
Tension diaphragmatique, dysfonction de la charnière
Dysfonction de l'articulation temporo-mandibulaire
Dysfonction iliaque antérieure droite
Compensation posturale après entorse de cheville
Dysfonction viscérale de l'étage sus-mésocolique
Dysfonction de la ceinture scapulaire gauche
Dysfonction crânienne, tension de la faux du cerveau
Dysfonction du coccyx en flexion
EOF
pool traitements <<'EOF'
Techniques myotensives lombaires et mobilisation du bassin.
Thrust sur T5, travail diaphragmatique.
Techniques fonctionnelles cervicales, détente sous-occipitale.
Mobilisation articulaire de la cheville, drainage.
Techniques viscérales abdominales douces.
Traitement crânien et de l'ATM.
Techniques de Jones sur les points sensibles.
Équilibration du bassin et du sacrum.
Techniques d'énergie musculaire sur l'épaule.
Travail tissulaire des fascias thoraciques.
EOF
pool conseils <<'EOF'
Éviter le port de charges lourdes pendant 48 h.
Reprise progressive de l'activité sportive.
Étirements quotidiens des ischio-jambiers.
Hydratation, marche 30 minutes par jour.
Adapter la hauteur de l'écran au poste de travail.
Chaleur sur la zone lombaire le soir.
Revoir dans un mois si pas d'amélioration.
Consulter le médecin traitant en cas de douleur nocturne ou de fièvre.
Respiration abdominale avant le coucher.
Changer d'oreiller, dormir sur le côté.
EOF
pool docs <<'EOF'
radio_lombaire|application/pdf|Compte rendu de radiographie lombaire
irm_rachis|application/pdf|Compte rendu d'IRM du rachis
ordonnance|application/pdf|Ordonnance du médecin traitant
courrier_medecin|application/pdf|Courrier au médecin traitant
photo_posture|image/jpeg|Photo de posture debout, face et profil
radio_bassin|image/png|Cliché du bassin
echographie|application/pdf|Compte rendu d'échographie
note_honoraires|application/pdf|Note d'honoraires
EOF

# H(x, salt): a deterministic hash in [0, 2^31-1) of an integer expression x
# (< 2^40), this seed and a salt: a MINSTD step, then two squarings mod the
# prime (a linear hash would tie the columns of a row together). Every
# product stays below 2^63, so SQLite's integers never overflow to reals.
H() {
	_r1="((($1) * 48271 + $seed * 7919 + $2 * 104729) % 2147483647)"
	_r2="(($_r1 * $_r1 + $2) % 2147483647)"
	echo "(($_r2 * $_r2 + $_r1) % 2147483647)"
}
# P(pool, x, salt): the pool's word picked by H(x, salt).
P() {
	eval "_c=\$${1}_n"
	echo "(SELECT v FROM temp.$1 WHERE i = 1 + $(H "$2" "$3") % $_c)"
}

sqlite3 -bail "$db" <<SQL
.read '$here/schema.sql'
PRAGMA foreign_keys = ON;
$pools
CREATE TEMP TABLE g AS SELECT
    (SELECT coalesce(max(id), 0) FROM patient) AS pbase,
    (SELECT coalesce(max(id), 0) FROM consultation) AS cbase;
CREATE TEMP TABLE seqm(k INTEGER PRIMARY KEY);
WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < $m)
INSERT INTO temp.seqm SELECT k FROM s WHERE $m > 0;

BEGIN;
-- Patients: sex first, the first name from the matching pool.
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $n),
r0 AS (SELECT (SELECT pbase FROM temp.g) + i AS x FROM s WHERE $n > 0),
r AS (SELECT x, CASE $(H x 1) % 2 WHEN 0 THEN 'F' ELSE 'M' END AS sexe FROM r0),
q AS (SELECT x, sexe, $(P noms x 2) AS nom,
    CASE sexe WHEN 'F' THEN $(P prenoms_f x 3) ELSE $(P prenoms_m x 3) END AS prenom,
    $(P villes x 4) AS ville FROM r)
INSERT INTO patient (nom, prenom, date_naissance, sexe, telephone, email, adresse,
    code_postal, ville, profession, medecin_traitant, antecedents, cree_le)
SELECT nom, prenom,
    date('1938-01-01', '+' || ($(H x 5) % 30000) || ' days'),
    sexe,
    printf('0%d %02d %02d %02d %02d', 6 + $(H x 6) % 2, $(H x 7) % 100, $(H x 8) % 100,
        $(H x 9) % 100, $(H x 10) % 100),
    CASE WHEN $(H x 11) % 5 = 0 THEN NULL ELSE
        replace(replace(replace(replace(replace(lower(prenom || '.' || nom), 'é', 'e'),
            'è', 'e'), 'ë', 'e'), 'ô', 'o'), 'î', 'i') || '@exemple.fr' END,
    (1 + $(H x 12) % 120) || ' ' || $(P rues x 13),
    substr(ville, 1, 5), substr(ville, 7),
    $(P professions x 14),
    'Dr ' || $(P noms x 15),
    $(P atcd_patient x 16),
    strftime('%Y-%m-%dT%H:%M:%S', '2018-01-02 09:00', '+' || ($(H x 17) % 2500) || ' days')
FROM q ORDER BY x;

-- Consultations: M per new patient, about five weeks apart.
INSERT INTO consultation (patient_id, praticien, date_consultation, duree_min, motif,
    antecedents, examen, diagnostic, traitement, conseils, tarif_cents)
SELECT id, '$praticien',
    strftime('%Y-%m-%dT%H:%M', '2019-01-07 08:00', '+' || (k * 35 + $(H x 20) % 21) || ' days',
        '+' || (($(H x 21) % 20) * 30) || ' minutes'),
    30 + ($(H x 22) % 3) * 15,
    $(P motifs x 23),
    CASE WHEN k = 1 THEN NULL ELSE $(P atcd_consult x 24) END,
    $(P examens x 25) || ' ' || $(P examens x 26) || ' ' || $(P examens x 27),
    $(P diagnostics x 28),
    $(P traitements x 29) || ' ' || $(P traitements x 30),
    $(P conseils x 31) || ' ' || $(P conseils x 32),
    5500 + ($(H x 33) % 4) * 500
FROM (SELECT p.id, s.k, p.id * 4096 + s.k AS x FROM patient p, temp.seqm s
      WHERE p.id > (SELECT pbase FROM temp.g) ORDER BY p.id, s.k);

-- Documents (metadata only): about one consultation in three.
INSERT INTO document (patient_id, consultation_id, nom_fichier, type_mime, taille_octets,
    sha256, description, ajoute_le)
SELECT patient_id, id,
    substr(d, 1, instr(d, '|') - 1) || '_' || substr(date_consultation, 1, 10) ||
        CASE WHEN instr(d, 'image/jpeg') THEN '.jpg' WHEN instr(d, 'image/png') THEN '.png'
        ELSE '.pdf' END,
    substr(d, instr(d, '|') + 1, instr(substr(d, instr(d, '|') + 1), '|') - 1),
    20000 + $(H x 41) % 4000000,
    printf('%016x%016x%016x%016x', $(H x 42) * 2147483647 + $(H x 43),
        $(H x 44) * 2147483647 + $(H x 45), $(H x 46) * 2147483647 + $(H x 47),
        $(H x 48) * 2147483647 + $(H x 49)),
    substr(d, instr(d, '|') + 1 + instr(substr(d, instr(d, '|') + 1), '|')),
    date_consultation
FROM (SELECT c.*, c.id AS x, $(P docs c.id 40) AS d FROM consultation c
      WHERE c.id > (SELECT cbase FROM temp.g) AND $(H c.id 39) % 3 = 0);

-- Appointments: one or two per new patient, in the coming weeks.
INSERT INTO appointment (patient_id, praticien, debut, duree_min, statut, note)
SELECT id, '$praticien',
    strftime('%Y-%m-%dT%H:%M', '2026-12-01 08:00', '+' || ($(H x 50) % 90) || ' days',
        '+' || (($(H x 51) % 20) * 30) || ' minutes'),
    45,
    CASE $(H x 52) % 4 WHEN 0 THEN 'confirme' ELSE 'prevu' END,
    CASE WHEN $(H x 53) % 4 = 0 THEN 'Apporter les derniers examens' END
FROM (SELECT p.id, p.id * 4 + k AS x FROM patient p, (SELECT 1 AS k UNION ALL SELECT 2)
      WHERE p.id > (SELECT pbase FROM temp.g) AND (k = 1 OR $(H p.id 54) % 2 = 0)
      ORDER BY p.id, k);
COMMIT;
SQL
