/*
 * tests/bench/bench_extract.c: extraction (issue 3 §5). (1) The rate of
 * extracting every change of a database of N consultation rows, from
 * cursor 0, in batches of 1 000 rows, against the raw rate of reading the
 * same rows (every column, keyset pages of 1 000 by primary key) in the same
 * run: the least any extraction must do. (2) The cost of extracting the
 * latest 10 changes (10 edited rows) from a database of N rows and from one
 * of N / 10 rows: O(changes) means both cost the same; a scan of the clock
 * tables would cost 10x more on the big one. Median of R rounds, against
 * reading those 10 rows by primary key. N = 1 000 000, R = 21
 * (CS_BENCH_SMALL=1: N = 5 000, R = 5; CS_BENCH_SCALE=K: N / K).
 */
#include "tests/bench/bench_goal.h"
#include "tests/bench/demo_bench.h"

struct build {
	char path[600];
	sqlite3 *db;
	struct cs_engine *e;
	int64_t n, npat;
};

static void
build(struct build *b, const char *tag, int64_t n)
{
	bench_path(b->path, sizeof(b->path), tag);
	b->n = n;
	b->npat = n / 50 > 0 ? n / 50 : 1;
	b->db = bench_open(b->path);
	bench_schema(b->db);
	/* rows first, then install (it registers them as local inserts): the
	 * capture triggers are measured by bench_capture, not here */
	bench_patients(b->db, b->npat);
	bench_consultations(b->db, n, b->npat, 10000);
	b->e = bench_engine(b->path, 0xE1);
	bench_exec(b->db, "PRAGMA wal_checkpoint(TRUNCATE)");
}

static void
unbuild(struct build *b)
{
	cs_engine_close(b->e);
	sqlite3_close(b->db);
	bench_unlink(b->path);
}

static const uint8_t peer[CS_DEVID_LEN] = {0x99};

/* Extract everything after cursor; returns rows, sets *cursor, *cells. */
static uint64_t
extract_from(struct cs_engine *e, uint64_t *cursor, uint64_t *cells)
{
	struct cs_changeset cs;
	uint64_t rows = 0;
	int more;

	cs_changeset_init(&cs);
	do {
		more = cs_engine_extract(e, *cursor, peer, NULL, 1000, &cs);
		if (more < 0) {
			fprintf(stderr, "bench: extract: %s\n", cs_engine_errmsg(e));
			exit(1);
		}
		rows += cs.nrows;
		if (cells != NULL)
			*cells += cs.ncells;
		*cursor = cs.db_version;
	} while (more == 1);
	cs_changeset_free(&cs);
	return rows;
}

/* The raw read: every column of every consultation, keyset pages of 1 000. */
static double
raw_scan(sqlite3 *db, int64_t n)
{
	sqlite3_stmt *s = bench_prep(db,
	    "SELECT id, " BENCH_CONSULT_COLS " FROM consultation WHERE id > ?1 ORDER BY id "
	    "LIMIT 1000");
	int64_t last = 0, rows = 0, bytes = 0;
	double t0;
	int got, c, rc;

	bench_exec(db, "BEGIN");
	t0 = bench_now();
	for (;;) {
		sqlite3_bind_int64(s, 1, last);
		got = 0;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			last = sqlite3_column_int64(s, 0);
			for (c = 1; c < 12; c++) {
				if (sqlite3_column_type(s, c) == SQLITE_TEXT) {
					sqlite3_column_text(s, c);
					bytes += sqlite3_column_bytes(s, c);
				} else
					bytes += 8 + 0 * sqlite3_column_int64(s, c);
			}
			got++;
		}
		if (rc != SQLITE_DONE)
			bench_die("scan", db);
		sqlite3_reset(s);
		rows += got;
		if (got < 1000)
			break;
	}
	t0 = bench_now() - t0;
	bench_exec(db, "COMMIT");
	sqlite3_finalize(s);
	if (rows != n || bytes == 0)
		bench_die("scan count", db);
	return (double)rows / t0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median seconds of: 10 app edits, then extract them (timed); and of reading
 * the same 10 rows by primary key (raw). */
static void
ten_changes(struct build *b, int rounds, double *cab_s, double *raw_s)
{
	sqlite3_stmt *u[3], *sel;
	double *tc = calloc((size_t)rounds, sizeof(double));
	double *tr = calloc((size_t)rounds, sizeof(double));
	uint64_t cursor = cs_engine_db_version(b->e), rows;
	int64_t ids[10];
	int r, k;
	double t0;

	if (tc == NULL || tr == NULL)
		exit(1);
	/* anything not extracted yet is not part of the measure */
	extract_from(b->e, &cursor, NULL);
	bench_edit_prepare(b->db, u);
	sel =
	    bench_prep(b->db, "SELECT id, " BENCH_CONSULT_COLS " FROM consultation WHERE id = ?1");
	for (r = 0; r < rounds; r++) {
		bench_exec(b->db, "BEGIN");
		for (k = 0; k < 10; k++) {
			ids[k] =
			    1 + (int64_t)(bench_mix((uint64_t)(r * 10 + k) + 77) % (uint64_t)b->n);
			bench_edit_run(b->db, u, ids[k], 5000000 + r * 10 + k, b->npat);
		}
		bench_exec(b->db, "COMMIT");
		t0 = bench_now();
		rows = extract_from(b->e, &cursor, NULL);
		tc[r] = bench_now() - t0;
		if (rows < 1 || rows > 10) {
			fprintf(stderr, "bench: extracted %llu rows for 10 edits\n",
			    (unsigned long long)rows);
			exit(1);
		}
		t0 = bench_now();
		bench_exec(b->db, "BEGIN");
		for (k = 0; k < 10; k++) {
			sqlite3_bind_int64(sel, 1, ids[k]);
			while (sqlite3_step(sel) == SQLITE_ROW)
				sqlite3_column_text(sel, 6);
			sqlite3_reset(sel);
		}
		bench_exec(b->db, "COMMIT");
		tr[r] = bench_now() - t0;
	}
	qsort(tc, (size_t)rounds, sizeof(double), cmp_double);
	qsort(tr, (size_t)rounds, sizeof(double), cmp_double);
	*cab_s = tc[rounds / 2];
	*raw_s = tr[rounds / 2];
	for (k = 0; k < 3; k++)
		sqlite3_finalize(u[k]);
	sqlite3_finalize(sel);
	free(tc);
	free(tr);
}

int
main(void)
{
	int small = bench_small(), rounds = small ? 5 : 21;
	int64_t n = bench_scaled(small ? 5000 : 1000000);
	struct build big, little;
	uint64_t cursor = 0, rows, cells = 0;
	double t0, cab_rate, raw_rate, big_c, big_r, lit_c, lit_r;
	char a1[32], a2[32];

	build(&big, "ext-big", n);
	raw_rate = raw_scan(big.db, n);
	t0 = bench_now();
	rows = extract_from(big.e, &cursor, &cells);
	cab_rate = (double)rows / (bench_now() - t0);
	if (rows != (uint64_t)(n + big.npat)) {
		fprintf(stderr, "bench: extracted %llu rows of %lld\n", (unsigned long long)rows,
		    (long long)(n + big.npat));
		return 1;
	}
	ten_changes(&big, rounds, &big_c, &big_r);
	unbuild(&big);
	build(&little, "ext-little", n / 10);
	ten_changes(&little, rounds, &lit_c, &lit_r);
	unbuild(&little);

	printf("## Extraction: changes read out for a peer\n\n");
	printf("| scenario | raw SQLite | cabsync extract | ratio | goal |\n");
	printf("|---|---|---|---|---|\n");
	printf("| every change of a %lld-row database (%llu rows, %llu cells), batches of 1 000 "
	       "rows | %s rows/s (read every row) | %s rows/s | %.2fx slower | (reported) |\n",
	    (long long)n, (unsigned long long)rows, (unsigned long long)cells,
	    bench_rate(a1, sizeof(a1), raw_rate), bench_rate(a2, sizeof(a2), cab_rate),
	    raw_rate / cab_rate);
	printf("| latest 10 changes, %lld-row database | %.0f µs (read 10 rows by key) | %.0f µs | "
	       "%.1fx | O(changes) |\n",
	    (long long)n, big_r * 1e6, big_c * 1e6, big_c / big_r);
	printf("| latest 10 changes, %lld-row database | %.0f µs (read 10 rows by key) | %.0f µs | "
	       "%.1fx | O(changes) |\n",
	    (long long)(n / 10), lit_r * 1e6, lit_c * 1e6, lit_c / lit_r);
	printf(
	    "| 10 changes: %lld rows vs. %lld rows | | %.2fx | | ~1x (a scan would be 10x)%s |\n",
	    (long long)n, (long long)(n / 10), big_c / lit_c,
	    big_c / lit_c < 2.0 ? " (met)" : " (missed)");
	cs_bench_goal("extract the latest 10 changes: 10x larger database costs (O(changes))",
	    big_c / lit_c, "<=", 2.0, "x");
	printf("\nMeasured: databases of the demo schema filled by the app's connection (WAL, "
	       "synchronous=NORMAL), one patient per 50 rows, then the engine installed (it "
	       "registers existing rows as local inserts); "
	       "extraction with cs_engine_extract into changesets (values read from the base "
	       "tables, FKs as global ids, row vectors), one read snapshot per batch. Raw: a "
	       "keyset scan of every column of consultation in one snapshot. 10 changes: 10 app "
	       "edits of random rows (1-3 columns), then extracting from the cursor before them; "
	       "median of %d rounds.%s\n",
	    rounds,
	    small ? " SMALL RUN (CS_BENCH_SMALL): sizes are tiny, figures mean nothing." : "");
	return 0;
}
