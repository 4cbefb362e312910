/*
 * tests/bench/bench_capture.c: what cabsync's capture triggers cost the
 * practice app (issue 3 §5). The demo `consultation` table (sql/demo/
 * schema.sql, ~450 bytes of text per row), written by the app's own
 * connection (WAL, synchronous=NORMAL, prepared statements: the method of
 * ../shared/baselines/bench_sqlite.c), once on a plain database (the raw
 * baseline, measured in this same run) and once with the engine installed.
 *
 * Scenarios: N inserts in transactions of 1 000 rows; S inserts in
 * single-row transactions; U updates of 1-3 columns (as an app edits a
 * consultation: the advice; the examination and diagnosis; the treatment,
 * advice and fee), in random row order, in transactions of 1 000; U
 * updates rewriting all 10 columns but the patient with new values; S
 * single-row 1-3 column updates. Goals: inserts <= 1.3x raw, updates
 * <= 1.5x raw. N = 1 000 000, U = 200 000, S = 20 000 (CS_BENCH_SMALL=1:
 * 2 000 / 500 / 200; CS_BENCH_SCALE=K divides them by K).
 */
#include "tests/bench/bench_goal.h"
#include "tests/bench/demo_bench.h"

struct capture_run {
	double ins_batch, ins_single, upd_batch, upd_all, upd_single; /* rows/s */
	double clock_mb, db_mb;
};

/* Bytes (in MB) an aggregate query reports; -1 if this SQLite lacks dbstat. */
static double
size_of(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	double mb = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		mb = (double)sqlite3_column_int64(s, 0) / 1e6;
	sqlite3_finalize(s);
	return mb;
}

static void
run(int tracked, int64_t n, int64_t nu, int64_t ns, int64_t npat, struct capture_run *out)
{
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *u[3], *all, *ins;
	struct bench_row r;
	int64_t *perm, i, id, pid;
	double t0;

	/* inserts, batches of 1 000, into a table that grows to n rows */
	bench_path(path, sizeof(path), tracked ? "cap-t" : "cap-r");
	db = bench_open(path);
	bench_schema(db);
	if (tracked)
		cs_engine_close(bench_engine(path, 0x11));
	bench_patients(db, npat);
	bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	t0 = bench_now();
	bench_consultations(db, n, npat, 1000);
	out->ins_batch = (double)n / (bench_now() - t0);

	bench_edit_prepare(db, u);
	all = bench_prep(db,
	    "UPDATE consultation SET patient_id = ?1, praticien = ?2, date_consultation = ?3, "
	    "duree_min = ?4, motif = ?5, antecedents = ?6, examen = ?7, diagnostic = ?8, "
	    "traitement = ?9, conseils = ?10, tarif_cents = ?11 WHERE id = ?12");
	perm = bench_perm(n);

	/* updates of 1-3 columns, batches of 1 000 */
	bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	t0 = bench_now();
	for (i = 0; i < nu; i++) {
		if (i % 1000 == 0)
			bench_exec(db, "BEGIN");
		bench_edit_run(db, u, perm[i % n], i, npat);
		if ((i + 1) % 1000 == 0 || i + 1 == nu)
			bench_exec(db, "COMMIT");
	}
	out->upd_batch = (double)nu / (bench_now() - t0);

	/* all columns rewritten (an ORM saving the whole object), new values */
	bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	t0 = bench_now();
	for (i = 0; i < nu; i++) {
		if (i % 1000 == 0)
			bench_exec(db, "BEGIN");
		id = perm[(i + nu) % n];
		bench_row(&r, id, npat, 0);
		pid = r.patient_id; /* kept: a scope move is another, rarer thing */
		bench_row(&r, id, npat, 1000003 + (uint64_t)i);
		r.patient_id = pid;
		bench_bind_row(all, 1, &r);
		sqlite3_bind_int64(all, 12, id);
		bench_step(db, all);
		if ((i + 1) % 1000 == 0 || i + 1 == nu)
			bench_exec(db, "COMMIT");
	}
	out->upd_all = (double)nu / (bench_now() - t0);

	/* single-row transactions: one edit, one commit */
	bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	t0 = bench_now();
	for (i = 0; i < ns; i++) {
		bench_exec(db, "BEGIN");
		bench_edit_run(db, u, perm[(i * 7 + 3) % n], i + 2 * nu, npat);
		bench_exec(db, "COMMIT");
	}
	out->upd_single = (double)ns / (bench_now() - t0);
	if (tracked)
		out->clock_mb = size_of(db,
		    "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'cs!_%' ESCAPE '!'");
	out->db_mb =
	    (double)bench_int(db,
	        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()") /
	    1e6;
	for (i = 0; i < 3; i++)
		sqlite3_finalize(u[i]);
	sqlite3_finalize(all);
	free(perm);
	sqlite3_close(db);
	bench_unlink(path);

	/* inserts in single-row transactions, on a fresh database */
	bench_path(path, sizeof(path), tracked ? "caps-t" : "caps-r");
	db = bench_open(path);
	bench_schema(db);
	if (tracked)
		cs_engine_close(bench_engine(path, 0x12));
	bench_patients(db, npat);
	bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	ins = bench_prep(db,
	    "INSERT INTO consultation (" BENCH_CONSULT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	    "?7, ?8, ?9, ?10, ?11)");
	t0 = bench_now();
	for (i = 1; i <= ns; i++) {
		bench_exec(db, "BEGIN");
		bench_row(&r, i, npat, 0);
		bench_bind_row(ins, 1, &r);
		bench_step(db, ins);
		bench_exec(db, "COMMIT");
	}
	out->ins_single = (double)ns / (bench_now() - t0);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	bench_unlink(path);
}

static void
line(const char *what, double raw, double cab, const char *goal, double goal_x)
{
	char a[32], b[32];
	double ratio = raw / cab;

	printf("| %s | %s rows/s | %s rows/s | %.2fx | %s%s |\n", what,
	    bench_rate(a, sizeof(a), raw), bench_rate(b, sizeof(b), cab), ratio, goal,
	    goal_x <= 0           ? ""
	        : ratio <= goal_x ? " (met)"
	                          : " (missed)");
	if (goal_x > 0)
		cs_bench_goal(what, ratio, "<=", goal_x, "x slower");
}

int
main(void)
{
	int small = bench_small();
	int64_t n = bench_scaled(small ? 2000 : 1000000), nu = bench_scaled(small ? 500 : 200000);
	int64_t ns = bench_scaled(small ? 200 : 20000), npat = bench_scaled(small ? 100 : 20000);
	struct capture_run raw, cab;
	char t[64];

	memset(&raw, 0, sizeof(raw));
	memset(&cab, 0, sizeof(cab));
	run(0, n, nu, ns, npat, &raw);
	run(1, n, nu, ns, npat, &cab);

	printf("## Change capture: cabsync triggers vs. raw SQLite\n\n");
	printf("| scenario | raw SQLite | with cabsync | slowdown | goal |\n");
	printf("|---|---|---|---|---|\n");
	snprintf(t, sizeof(t), "insert %lld rows, transactions of 1 000", (long long)n);
	line(t, raw.ins_batch, cab.ins_batch, "<= 1.3x", 1.3);
	snprintf(t, sizeof(t), "insert %lld rows, one transaction each", (long long)ns);
	line(t, raw.ins_single, cab.ins_single, "<= 1.3x", 1.3);
	snprintf(t, sizeof(t), "update 1-3 columns, %lld rows, transactions of 1 000",
	    (long long)nu);
	line(t, raw.upd_batch, cab.upd_batch, "<= 1.5x", 1.5);
	snprintf(t, sizeof(t), "update all 10 columns, %lld rows, transactions of 1 000",
	    (long long)nu);
	line(t, raw.upd_all, cab.upd_all, "<= 1.5x", 1.5);
	snprintf(t, sizeof(t), "update 1-3 columns, %lld rows, one transaction each",
	    (long long)ns);
	line(t, raw.upd_single, cab.upd_single, "<= 1.5x", 1.5);
	printf("\nMeasured: the demo `consultation` table (sql/demo/schema.sql, 12 columns, ~450 "
	       "bytes of text a row, %lld patients), written by the app's own connection with "
	       "prepared statements, WAL and synchronous=NORMAL, default cache, the raw baseline "
	       "on a database without cabsync in the same run. Inserts fill an empty table to "
	       "%lld rows; updates hit random rows of it (1-3 columns: advice / examination + "
	       "diagnosis / treatment + advice + fee, in turn; all columns: every column but the "
	       "patient rewritten with new values); single-row runs use %lld rows. With cabsync "
	       "the cs_ tables take %.0f MB of the %.0f MB file (raw: %.0f MB).%s\n",
	    (long long)npat, (long long)n, (long long)ns, cab.clock_mb, cab.db_mb, raw.db_mb,
	    small ? " SMALL RUN (CS_BENCH_SMALL): sizes are tiny, figures mean nothing." : "");
	return 0;
}
