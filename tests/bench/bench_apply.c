/*
 * tests/bench/bench_apply.c: how fast a replica applies a peer's changes
 * (issue 3 §5), against raw SQLite upserts of the same rows in this run.
 *
 * Device A (engine installed) gets P patients and N consultations from its
 * app, then one 1-3 column edit of every consultation; each phase is
 * extracted from A (not timed) in batches of BATCH rows. Timed: an empty
 * replica B applying the new rows with cs_engine_apply, then the edits.
 * Raw baseline: the same rows upserted into a plain copy of the schema with
 * a row version column -- INSERT ... ON CONFLICT(id) DO UPDATE SET every
 * column WHERE excluded.ver > ver, what the simplest row-level LWW sync
 * would run -- in transactions of BATCH rows with synchronous=FULL, as the
 * engine's apply connection has. Goal: >= 60 % of the raw rate.
 * N = 100 000, P = N / 50 (CS_BENCH_SMALL=1: N = 1 000; CS_BENCH_SCALE=K: N / K).
 */
#include "tests/bench/bench_goal.h"
#include "tests/bench/demo_bench.h"

#define BATCH 500 /* rows per changeset: ~20 ms transactions at the target rate */

struct cset_list {
	struct cs_changeset *v;
	size_t n, cap;
	uint64_t rows;
};

static void
extract_all(struct cs_engine *a, uint64_t *cursor, const uint8_t *for_dev, struct cset_list *l)
{
	int more;

	do {
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 64;
			l->v = realloc(l->v, l->cap * sizeof(*l->v));
			if (l->v == NULL)
				exit(1);
		}
		cs_changeset_init(&l->v[l->n]);
		more = cs_engine_extract(a, *cursor, for_dev, NULL, BATCH, &l->v[l->n]);
		if (more < 0) {
			fprintf(stderr, "bench: extract: %s\n", cs_engine_errmsg(a));
			exit(1);
		}
		*cursor = l->v[l->n].db_version;
		l->rows += l->v[l->n].nrows;
		l->n++;
	} while (more == 1);
}

static void
list_free(struct cset_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		cs_changeset_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Apply every changeset of l to b; returns rows/s; checks nothing was held. */
static double
apply_all(struct cs_engine *b, const struct cset_list *l, const uint8_t *from, uint64_t *applied)
{
	struct cs_apply_result res, sum;
	double t0, dt;
	size_t i;

	memset(&sum, 0, sizeof(sum));
	t0 = bench_now();
	for (i = 0; i < l->n; i++) {
		if (l->v[i].nrows == 0)
			continue;
		if (cs_engine_apply(b, &l->v[i], from, &res) != 0) {
			fprintf(stderr, "bench: apply: %s\n", cs_engine_errmsg(b));
			exit(1);
		}
		sum.applied += res.applied;
		sum.held += res.held;
		sum.quarantined += res.quarantined;
		sum.conflicts += res.conflicts;
	}
	dt = bench_now() - t0;
	if (sum.held != 0 || sum.quarantined != 0 || sum.conflicts != 0) {
		fprintf(stderr, "bench: apply held %u, quarantined %u, conflicts %u rows\n",
		    sum.held, sum.quarantined, sum.conflicts);
		exit(1);
	}
	*applied = sum.applied;
	return (double)l->rows / dt;
}

/* Raw baseline: the same rows as LWW upserts with a row version. */
static void
raw(int64_t n, int64_t npat, double *new_rate, double *upd_rate)
{
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *pu, *cu;
	struct bench_row r;
	int64_t *perm, i, k;
	char nom[32];
	double t0;

	bench_path(path, sizeof(path), "apply-raw");
	db = bench_open(path);
	bench_exec(db, "PRAGMA synchronous=FULL");
	bench_schema(db);
	bench_exec(db,
	    "ALTER TABLE patient ADD COLUMN ver INTEGER NOT NULL DEFAULT 0;"
	    "ALTER TABLE consultation ADD COLUMN ver INTEGER NOT NULL DEFAULT 0;");
	pu = bench_prep(db,
	    "INSERT INTO patient (id, nom, prenom, date_naissance, sexe, telephone, ville, "
	    "antecedents, cree_le, ver) VALUES (?1, ?2, 'Camille', '1970-01-01', 'F', "
	    "'06 12 34 56 78', 'Lyon', 'Aucun antécédent notable.', '2024-01-02T09:00:00', ?3) "
	    "ON CONFLICT (id) DO UPDATE SET nom = excluded.nom, prenom = excluded.prenom, "
	    "date_naissance = excluded.date_naissance, sexe = excluded.sexe, telephone = "
	    "excluded.telephone, ville = excluded.ville, antecedents = excluded.antecedents, "
	    "cree_le = excluded.cree_le, ver = excluded.ver WHERE excluded.ver > patient.ver");
	cu = bench_prep(db,
	    "INSERT INTO consultation (id, " BENCH_CONSULT_COLS ", ver) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (id) DO UPDATE SET "
	    "patient_id = excluded.patient_id, praticien = excluded.praticien, "
	    "date_consultation = excluded.date_consultation, duree_min = excluded.duree_min, "
	    "motif = excluded.motif, antecedents = excluded.antecedents, examen = "
	    "excluded.examen, diagnostic = excluded.diagnostic, traitement = excluded.traitement, "
	    "conseils = excluded.conseils, tarif_cents = excluded.tarif_cents, ver = excluded.ver "
	    "WHERE excluded.ver > consultation.ver");
	bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");

	/* new rows: patients then consultations, BATCH rows a transaction */
	t0 = bench_now();
	for (k = 0; k < npat + n; k++) {
		if (k % BATCH == 0)
			bench_exec(db, "BEGIN");
		if (k < npat) {
			snprintf(nom, sizeof(nom), "Patient%lld", (long long)(k + 1));
			sqlite3_bind_int64(pu, 1, k + 1);
			sqlite3_bind_text(pu, 2, nom, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(pu, 3, 1);
			bench_step(db, pu);
		} else {
			i = k - npat + 1;
			bench_row(&r, i, npat, 0);
			sqlite3_bind_int64(cu, 1, i);
			bench_bind_row(cu, 2, &r);
			sqlite3_bind_int64(cu, 13, 1);
			bench_step(db, cu);
		}
		if ((k + 1) % BATCH == 0 || k + 1 == npat + n)
			bench_exec(db, "COMMIT");
	}
	*new_rate = (double)(npat + n) / (bench_now() - t0);

	/* newer versions of every consultation (the whole row: a row-level
	 * sync does not know which columns changed), in A's edit order */
	perm = bench_perm(n);
	bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	t0 = bench_now();
	for (k = 0; k < n; k++) {
		if (k % BATCH == 0)
			bench_exec(db, "BEGIN");
		i = perm[k];
		bench_row(&r, i, npat, 0);
		bench_edit(&r, i, k, npat);
		sqlite3_bind_int64(cu, 1, i);
		bench_bind_row(cu, 2, &r);
		sqlite3_bind_int64(cu, 13, 2);
		bench_step(db, cu);
		if (sqlite3_changes(db) != 1)
			bench_die("raw upsert did not apply", db);
		if ((k + 1) % BATCH == 0 || k + 1 == n)
			bench_exec(db, "COMMIT");
	}
	*upd_rate = (double)n / (bench_now() - t0);
	free(perm);
	sqlite3_finalize(pu);
	sqlite3_finalize(cu);
	sqlite3_close(db);
	bench_unlink(path);
}

int
main(void)
{
	int small = bench_small();
	int64_t n = bench_scaled(small ? 1000 : 100000), npat = n / 50, i, *perm;
	char pa[600], pb[600], a1[32], a2[32];
	uint8_t dev_a[CS_DEVID_LEN], dev_b[CS_DEVID_LEN];
	struct cs_engine *ea, *eb;
	struct cset_list l;
	sqlite3 *dba, *dbb;
	sqlite3_stmt *u[3];
	uint64_t cursor = 0, applied;
	double raw_new, raw_upd, cab_new, cab_upd;
	uint64_t new_rows, upd_rows, new_cells = 0, upd_cells = 0;
	size_t k;

	memset(&l, 0, sizeof(l));
	memset(dev_a, 0xA1, sizeof(dev_a));
	memset(dev_b, 0xB2, sizeof(dev_b));
	raw(n, npat, &raw_new, &raw_upd);

	bench_path(pa, sizeof(pa), "apply-a");
	dba = bench_open(pa);
	bench_schema(dba);
	bench_patients(dba, npat);
	bench_consultations(dba, n, npat, 1000);
	ea = bench_engine(pa, 0xA1); /* registers the rows as local inserts */

	bench_path(pb, sizeof(pb), "apply-b");
	dbb = bench_open(pb);
	bench_schema(dbb);
	eb = bench_engine(pb, 0xB2);
	bench_exec(dbb, "PRAGMA wal_checkpoint(TRUNCATE)");

	extract_all(ea, &cursor, dev_b, &l);
	for (k = 0; k < l.n; k++)
		new_cells += l.v[k].ncells;
	new_rows = l.rows;
	cab_new = apply_all(eb, &l, dev_a, &applied);
	list_free(&l);
	if (applied != (uint64_t)(n + npat) ||
	    bench_int(dbb, "SELECT count(*) FROM consultation") != n) {
		fprintf(stderr, "bench: replica has %lld consultations, %llu rows applied\n",
		    (long long)bench_int(dbb, "SELECT count(*) FROM consultation"),
		    (unsigned long long)applied);
		return 1;
	}

	/* every consultation edited once on A (1-3 columns), in random order */
	perm = bench_perm(n);
	bench_edit_prepare(dba, u);
	for (i = 0; i < n; i++) {
		if (i % 1000 == 0)
			bench_exec(dba, "BEGIN");
		bench_edit_run(dba, u, perm[i], i, npat);
		if ((i + 1) % 1000 == 0 || i + 1 == n)
			bench_exec(dba, "COMMIT");
	}
	for (i = 0; i < 3; i++)
		sqlite3_finalize(u[i]);
	free(perm);
	extract_all(ea, &cursor, dev_b, &l);
	for (k = 0; k < l.n; k++)
		upd_cells += l.v[k].ncells;
	upd_rows = l.rows;
	bench_exec(dbb, "PRAGMA wal_checkpoint(TRUNCATE)");
	cab_upd = apply_all(eb, &l, dev_a, &applied);
	list_free(&l);
	/* an edit that wrote the values already there changed nothing and was
	 * not captured (a few in 100 000): every captured one must apply */
	if (applied != upd_rows || upd_rows < (uint64_t)n - (uint64_t)n / 1000) {
		fprintf(stderr, "bench: %llu of %llu extracted edits applied (%lld made)\n",
		    (unsigned long long)applied, (unsigned long long)upd_rows, (long long)n);
		return 1;
	}

	printf("## Apply: a replica merging a peer's changes vs. raw SQLite upserts\n\n");
	printf("| scenario | raw SQLite upsert | cabsync apply | cabsync / raw | goal |\n");
	printf("|---|---|---|---|---|\n");
	printf("| %lld new rows (%lld consultations + %lld patients) into an empty replica | %s "
	       "rows/s | %s rows/s | %.0f %% | >= 60 %%%s |\n",
	    (long long)(n + npat), (long long)n, (long long)npat,
	    bench_rate(a1, sizeof(a1), raw_new), bench_rate(a2, sizeof(a2), cab_new),
	    100 * cab_new / raw_new, cab_new / raw_new >= 0.6 ? " (met)" : " (missed)");
	printf("| %lld newer edits (1-3 columns each) of existing rows | %s rows/s | %s rows/s | "
	       "%.0f %% | >= 60 %%%s |\n",
	    (long long)n, bench_rate(a1, sizeof(a1), raw_upd), bench_rate(a2, sizeof(a2), cab_upd),
	    100 * cab_upd / raw_upd, cab_upd / raw_upd >= 0.6 ? " (met)" : " (missed)");
	cs_bench_goal("new rows into an empty replica, vs. raw upsert", 100 * cab_new / raw_new,
	    ">=", 60, "%");
	cs_bench_goal("newer edits of existing rows, vs. raw upsert", 100 * cab_upd / raw_upd,
	    ">=", 60, "%");
	printf("\nMeasured: device A got the rows from its app, then the engine (install registers "
	       "them), then one app edit of every consultation; its changes "
	       "were extracted (not timed) in batches of %d rows (%llu rows, %llu cells new; "
	       "%llu rows, %llu cells of edits) and applied to a replica with cs_engine_apply, "
	       "one transaction a batch, synchronous=FULL, global ids, FK translation and "
	       "version vectors included. Raw baseline in the same run: the same rows as "
	       "INSERT ... ON CONFLICT(id) DO UPDATE ... WHERE excluded.ver > ver upserts (whole "
	       "rows, explicit ids, no id mapping), same batch size, synchronous=FULL, WAL.%s\n",
	    BATCH, (unsigned long long)new_rows, (unsigned long long)new_cells,
	    (unsigned long long)upd_rows, (unsigned long long)upd_cells,
	    small ? " SMALL RUN (CS_BENCH_SMALL): sizes are tiny, figures mean nothing." : "");

	cs_engine_close(ea);
	cs_engine_close(eb);
	sqlite3_close(dba);
	sqlite3_close(dbb);
	bench_unlink(pa);
	bench_unlink(pb);
	return 0;
}
