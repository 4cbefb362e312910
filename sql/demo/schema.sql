-- sql/demo/schema.sql: the demo practice application's schema (a French
-- osteopathy practice), as the app itself would create it. cabsync does not
-- own these tables: it tracks them through sql/demo/tables.ini.
--
-- INTEGER PRIMARY KEY AUTOINCREMENT keys (two PCs hand out the same ids:
-- the engine maps them to global ids), foreign keys with ON DELETE CASCADE
-- where the app deletes the children with their parent, and a patient_id
-- scope column in every table but patient (DESIGN.md Scope and permissions).
-- Dates are ISO 8601 text, money in cents, as a careful app stores them.
-- Idempotent: the demo and the generator may run it on an existing file.

PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS patient (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	nom TEXT NOT NULL,
	prenom TEXT NOT NULL,
	date_naissance TEXT NOT NULL,
	sexe TEXT NOT NULL CHECK (sexe IN ('F', 'M')),
	telephone TEXT,
	email TEXT,
	adresse TEXT,
	code_postal TEXT,
	ville TEXT,
	profession TEXT,
	medecin_traitant TEXT,
	antecedents TEXT,
	cree_le TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS consultation (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
	praticien TEXT NOT NULL,
	date_consultation TEXT NOT NULL,
	duree_min INTEGER NOT NULL DEFAULT 45,
	motif TEXT NOT NULL,
	antecedents TEXT,
	examen TEXT,
	diagnostic TEXT,
	traitement TEXT,
	conseils TEXT,
	tarif_cents INTEGER NOT NULL CHECK (tarif_cents >= 0)
);
CREATE INDEX IF NOT EXISTS consultation_patient ON consultation (patient_id);

CREATE TABLE IF NOT EXISTS document (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
	consultation_id INTEGER REFERENCES consultation (id) ON DELETE CASCADE,
	nom_fichier TEXT NOT NULL,
	type_mime TEXT NOT NULL,
	taille_octets INTEGER NOT NULL CHECK (taille_octets >= 0),
	sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
	description TEXT,
	ajoute_le TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS document_patient ON document (patient_id);
CREATE INDEX IF NOT EXISTS document_consultation ON document (consultation_id);

CREATE TABLE IF NOT EXISTS appointment (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
	praticien TEXT NOT NULL,
	debut TEXT NOT NULL,
	duree_min INTEGER NOT NULL DEFAULT 45,
	statut TEXT NOT NULL DEFAULT 'prevu'
	    CHECK (statut IN ('prevu', 'confirme', 'honore', 'annule', 'absent')),
	note TEXT
);
CREATE INDEX IF NOT EXISTS appointment_patient ON appointment (patient_id);
CREATE INDEX IF NOT EXISTS appointment_debut ON appointment (debut);
