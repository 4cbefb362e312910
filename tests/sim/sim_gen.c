#include "sim_gen.h"

#include <inttypes.h>
#include <stdio.h>

static const char *const noms[] = {"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard",
    "Petit", "Durand", "Leroy", "Moreau"};
static const char *const prenoms[] = {"Camille", "Léa", "Hugo", "Louis", "Chloé", "Inès", "Jules",
    "Manon", "Lucas", "Zoé"};
static const char *const motifs[] = {"Lombalgie aiguë depuis trois jours",
    "Cervicalgie après un faux mouvement", "Entorse de la cheville droite, suivi",
    "Douleurs dorsales liées au poste de travail", "Suivi de grossesse, 7e mois",
    "Bilan postural d'un nourrisson"};

int
sim_gen_practice(sqlite3 *db, struct sim_rng *rng, int npatients, int ncons)
{
	sqlite3_stmt *p = NULL, *c = NULL, *d = NULL, *a = NULL;
	char buf[128], sha[65];
	int i, k, rc;
	int64_t pid, cid;

	rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto out;
	if ((rc = sqlite3_prepare_v2(db,
	         "INSERT INTO patient (nom, prenom, date_naissance, sexe, telephone, ville, "
	         "antecedents, cree_le) VALUES (?, ?, ?, ?, ?, 'Lyon', ?, '2026-01-05')",
	         -1, &p, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db,
	         "INSERT INTO consultation (patient_id, praticien, date_consultation, duree_min, "
	         "motif, examen, tarif_cents) VALUES (?, 'Claire Martin', ?, 45, ?, ?, 6000)",
	         -1, &c, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db,
	         "INSERT INTO document (patient_id, consultation_id, nom_fichier, type_mime, "
	         "taille_octets, sha256, ajoute_le) VALUES (?, ?, ?, 'application/pdf', ?, ?, "
	         "'2026-02-01')",
	         -1, &d, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db,
	         "INSERT INTO appointment (patient_id, praticien, debut, note) VALUES (?, "
	         "'Claire Martin', ?, ?)",
	         -1, &a, NULL)) != SQLITE_OK)
		goto out;
	for (i = 0; i < npatients; i++) {
		sqlite3_bind_text(p, 1, noms[sim_rng_below(rng, 10)], -1, SQLITE_STATIC);
		sqlite3_bind_text(p, 2, prenoms[sim_rng_below(rng, 10)], -1, SQLITE_STATIC);
		snprintf(buf, sizeof(buf), "19%02d-%02d-%02d", (int)sim_rng_range(rng, 40, 99),
		    (int)sim_rng_range(rng, 1, 12), (int)sim_rng_range(rng, 1, 28));
		sqlite3_bind_text(p, 3, buf, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(p, 4, sim_rng_chance(rng, 50) ? "F" : "M", -1, SQLITE_STATIC);
		snprintf(buf, sizeof(buf), "06 %02d %02d %02d %02d", (int)sim_rng_below(rng, 100),
		    (int)sim_rng_below(rng, 100), (int)sim_rng_below(rng, 100),
		    (int)sim_rng_below(rng, 100));
		sqlite3_bind_text(p, 5, buf, -1, SQLITE_TRANSIENT);
		if (sim_rng_chance(rng, 50))
			sqlite3_bind_text(p, 6, "Appendicectomie en 2004", -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(p, 6);
		if ((rc = sqlite3_step(p)) != SQLITE_DONE)
			goto out;
		sqlite3_reset(p);
		pid = sqlite3_last_insert_rowid(db);
		for (k = 0; k < ncons; k++) {
			sqlite3_bind_int64(c, 1, pid);
			snprintf(buf, sizeof(buf), "2026-%02d-%02dT%02d:00",
			    (int)sim_rng_range(rng, 1, 12), (int)sim_rng_range(rng, 1, 28),
			    (int)sim_rng_range(rng, 8, 19));
			sqlite3_bind_text(c, 2, buf, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(c, 3, motifs[sim_rng_below(rng, 6)], -1, SQLITE_STATIC);
			snprintf(buf, sizeof(buf),
			    "Examen n°%" PRIu64 ": mobilité réduite, tests négatifs",
			    sim_rng_below(rng, 1000000));
			sqlite3_bind_text(c, 4, buf, -1, SQLITE_TRANSIENT);
			if ((rc = sqlite3_step(c)) != SQLITE_DONE)
				goto out;
			sqlite3_reset(c);
			cid = sqlite3_last_insert_rowid(db);
			if (k % 2 == 0) {
				sqlite3_bind_int64(d, 1, pid);
				sqlite3_bind_int64(d, 2, cid);
				snprintf(buf, sizeof(buf), "compte-rendu-%lld.pdf", (long long)cid);
				sqlite3_bind_text(d, 3, buf, -1, SQLITE_TRANSIENT);
				sqlite3_bind_int64(d, 4, (int64_t)sim_rng_range(rng, 1000, 900000));
				snprintf(sha, sizeof(sha),
				    "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64,
				    sim_rng_next(rng), sim_rng_next(rng), sim_rng_next(rng),
				    sim_rng_next(rng));
				sqlite3_bind_text(d, 5, sha, -1, SQLITE_TRANSIENT);
				if ((rc = sqlite3_step(d)) != SQLITE_DONE)
					goto out;
				sqlite3_reset(d);
			}
		}
		sqlite3_bind_int64(a, 1, pid);
		snprintf(buf, sizeof(buf), "2027-%02d-%02dT%02d:30", (int)sim_rng_range(rng, 1, 12),
		    (int)sim_rng_range(rng, 1, 28), (int)sim_rng_range(rng, 8, 19));
		sqlite3_bind_text(a, 2, buf, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(a, 3, "Rappeler la veille", -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(a)) != SQLITE_DONE)
			goto out;
		sqlite3_reset(a);
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
out:
	if (rc != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(p);
	sqlite3_finalize(c);
	sqlite3_finalize(d);
	sqlite3_finalize(a);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}
