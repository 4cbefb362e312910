-- sql/demo/canonical.sql: a canonical dump of the demo tables, for
-- comparing replicas (`sqlite3 DB < canonical.sql | sha256sum`).
-- Local INTEGER keys differ between copies (each PC hands out its own ids;
-- the engine maps them to global ids), so the dump leaves them out and
-- replaces every foreign key by the content of the row it points to: two
-- copies print the same lines iff they hold the same rows and the same links.
-- One line per row, sorted; values through quote(), so NULL, '' and 'NULL'
-- stay distinct and text is byte exact.
.headers off
.mode list
WITH
pk(id, k) AS (SELECT id, quote(nom) || ',' || quote(prenom) || ',' ||
	quote(date_naissance) || ',' || quote(cree_le) FROM patient),
ck(id, k) AS (SELECT c.id, coalesce(pk.k, 'orphan') || '/' || quote(c.date_consultation) ||
	'/' || quote(c.praticien) FROM consultation c LEFT JOIN pk ON pk.id = c.patient_id)
SELECT line FROM (
SELECT 'patient|' || quote(nom) || '|' || quote(prenom) || '|' || quote(date_naissance) ||
	'|' || quote(sexe) || '|' || quote(telephone) || '|' || quote(email) || '|' ||
	quote(adresse) || '|' || quote(code_postal) || '|' || quote(ville) || '|' ||
	quote(profession) || '|' || quote(medecin_traitant) || '|' || quote(antecedents) ||
	'|' || quote(cree_le) AS line FROM patient
UNION ALL
SELECT 'consultation|' || coalesce(pk.k, 'orphan') || '|' || quote(praticien) || '|' ||
	quote(date_consultation) || '|' || quote(duree_min) || '|' || quote(motif) || '|' ||
	quote(antecedents) || '|' || quote(examen) || '|' || quote(diagnostic) || '|' ||
	quote(traitement) || '|' || quote(conseils) || '|' || quote(tarif_cents)
	FROM consultation c LEFT JOIN pk ON pk.id = c.patient_id
UNION ALL
SELECT 'document|' || coalesce(pk.k, 'orphan') || '|' ||
	CASE WHEN d.consultation_id IS NULL THEN 'NULL' ELSE coalesce(ck.k, 'orphan') END ||
	'|' || quote(nom_fichier) || '|' || quote(type_mime) || '|' || quote(taille_octets) ||
	'|' || quote(sha256) || '|' || quote(description) || '|' || quote(ajoute_le)
	FROM document d LEFT JOIN pk ON pk.id = d.patient_id
	LEFT JOIN ck ON ck.id = d.consultation_id
UNION ALL
SELECT 'appointment|' || coalesce(pk.k, 'orphan') || '|' || quote(praticien) || '|' ||
	quote(debut) || '|' || quote(duree_min) || '|' || quote(statut) || '|' || quote(note)
	FROM appointment a LEFT JOIN pk ON pk.id = a.patient_id
) ORDER BY line;
