/*
 * tests/bench/bench_busy.c: the app never notices the agent (issue 5 §2).
 * A real `cabsync agent` applies a 100 K-row initial sync into a database
 * while an app writer writes into it continuously: one short transaction
 * (BEGIN IMMEDIATE, one INSERT, COMMIT) every 2 ms, busy timeout 100 ms, as a
 * well-behaved app does. Reported: the SQLITE_BUSY errors it got (goal 0)
 * and its transaction latency, beside the same writer alone on a database
 * (the raw baseline, same run). A second initial sync, to another fresh
 * device, runs with a writer using deferred transactions (BEGIN, a SELECT,
 * then the INSERT, COMMIT): what it sees is reported too (SQLITE_BUSY
 * without waiting when a commit landed between its read and its write:
 * SQLite cannot upgrade a stale read snapshot).
 * CS_BENCH_SMALL=1: 5 000 rows, and exit 1 if the IMMEDIATE writer got any
 * SQLITE_BUSY (ctest agent_busy).
 */
#include <pthread.h>

#include "agent_bench.h"
#include "bench_goal.h"

#define MAX_LAT 2000000

struct writer {
	const char *db;
	int deferred;
	volatile int stop;
	pthread_t th;
	/* results */
	double *lat;
	long n, busy, busy_snapshot, other;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	sqlite3 *db = ab_open(w->db, 100);
	const char *ins = "INSERT INTO patient(nom, prenom, date_naissance, sexe, cree_le) "
	                  "VALUES('App', 'Writer', '1970-01-01', 'F', '2024-01-01')";
	double t0;
	int rc;

	sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	while (!w->stop) {
		t0 = ab_now();
		rc = sqlite3_exec(db, w->deferred ? "BEGIN" : "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc == SQLITE_OK && w->deferred)
			rc = sqlite3_exec(db, "SELECT count(*) FROM patient WHERE nom = 'App'",
			    NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, ins, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			int ext = sqlite3_extended_errcode(db);

			if (ext == SQLITE_BUSY_SNAPSHOT)
				w->busy_snapshot++;
			else if ((ext & 0xff) == SQLITE_BUSY)
				w->busy++;
			else
				w->other++;
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		} else if (w->n < MAX_LAT) {
			w->lat[w->n++] = ab_now() - t0;
		}
		usleep(2000);
	}
	sqlite3_close(db);
	return NULL;
}

static void
writer_start(struct writer *w, const char *db, int deferred)
{
	memset(w, 0, sizeof(*w));
	w->db = db;
	w->deferred = deferred;
	w->lat = calloc(MAX_LAT, sizeof(double));
	if (w->lat == NULL || pthread_create(&w->th, NULL, writer_main, w) != 0)
		ab_die("writer");
}

static void
writer_stop(struct writer *w)
{
	w->stop = 1;
	pthread_join(w->th, NULL);
	qsort(w->lat, (size_t)w->n, sizeof(double), ab_cmp_d);
}

static double
pct(const struct writer *w, int p)
{
	if (w->n == 0)
		return 0;
	return w->lat[(w->n - 1) * p / 100] * 1e3;
}

/* Initial sync of device NAME from a (slot i): seconds. */
static double
sync_with_writer(int i, const char *name, int aport, long n, struct writer *w, int deferred)
{
	char dbname[32], sql[128];
	sqlite3 *rd;
	double t0, t;

	snprintf(dbname, sizeof(dbname), "%s.db", name);
	rd = ab_open(dbname, 5000);
	writer_start(w, dbname, deferred);
	usleep(200000); /* the writer alone first */
	t0 = ab_now();
	ab_agent(i, name, 0, aport);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM patient WHERE nom <> 'App'");
	t = ab_wait(rd, sql, n, 900, 0.05);
	writer_stop(w);
	if (t < 0)
		ab_die("the initial sync did not finish within 900 s");
	sqlite3_close(rd);
	ab_stop(i);
	return ab_now() - t0;
}

int
main(void)
{
	long n = ab_small() ? 5000 : 100000;
	struct writer raw, imm, def;
	double t_imm, t_def, t0;
	int aport;

	ab_setup("busy");
	ab_newdb("a");
	ab_fill("a", 1, n);
	ab_init("a", NULL);
	ab_newdb("b");
	ab_init("b", "a");
	ab_newdb("c");
	ab_init("c", "a");
	ab_newdb("raw");
	/* raw baseline: the writer alone for 2 s */
	writer_start(&raw, "raw.db", 0);
	t0 = ab_now();
	while (ab_now() - t0 < (ab_small() ? 0.5 : 2.0))
		usleep(10000);
	writer_stop(&raw);
	ab_agent(0, "a", 0, 0);
	aport = ab_port("a");
	t_imm = sync_with_writer(1, "b", aport, n, &imm, 0);
	t_def = sync_with_writer(2, "c", aport, n, &def, 1);
	printf("## The app during a %ld-row initial sync: SQLITE_BUSY and write latency\n\n", n);
	printf(
	    "| figure | raw (the writer alone) | during the sync, BEGIN IMMEDIATE | ratio | goal | "
	    "during the sync, deferred BEGIN |\n");
	printf("|---|---|---|---|---|---|\n");
	printf("| transactions committed | %ld | %ld | | | %ld |\n", raw.n, imm.n, def.n);
	printf("| SQLITE_BUSY errors (busy timeout 100 ms) | %ld | %ld | | 0 | %ld + %ld "
	       "BUSY_SNAPSHOT |\n",
	    raw.busy + raw.busy_snapshot, imm.busy + imm.busy_snapshot, def.busy,
	    def.busy_snapshot);
	printf("| write latency p50 | %.2f ms | %.2f ms | %.1fx | | %.2f ms |\n", pct(&raw, 50),
	    pct(&imm, 50), pct(&imm, 50) / (pct(&raw, 50) > 0 ? pct(&raw, 50) : 1e-9),
	    pct(&def, 50));
	printf("| write latency p99 | %.2f ms | %.2f ms | %.1fx | < 100 ms (no BUSY) | %.2f ms |\n",
	    pct(&raw, 99), pct(&imm, 99),
	    pct(&imm, 99) / (pct(&raw, 99) > 0 ? pct(&raw, 99) : 1e-9), pct(&def, 99));
	printf("| write latency max | %.2f ms | %.2f ms | | | %.2f ms |\n", pct(&raw, 100),
	    pct(&imm, 100), pct(&def, 100));
	printf("| initial sync time | | %.1f s (%.0f rows/s) | | | %.1f s |\n", t_imm, n / t_imm,
	    t_def);
	cs_bench_goal("app (BEGIN IMMEDIATE) during an initial sync: SQLITE_BUSY errors",
	    (double)(imm.busy + imm.busy_snapshot), "<=", 0, "");
	cs_bench_goal("app (BEGIN IMMEDIATE) during an initial sync: write latency p99",
	    pct(&imm, 99), "<=", 100, "ms");
	printf(
	    "\nMeasured: a real agent applies a %ld-patient initial sync (from a second agent "
	    "over 127.0.0.1) into a database in which an app thread commits one INSERT every "
	    "2 ms (BEGIN IMMEDIATE, busy timeout 100 ms, synchronous=NORMAL); latency from BEGIN "
	    "to COMMIT returned. Raw: the same writer alone on a database of the same schema. "
	    "Deferred: the same writer with BEGIN + SELECT + INSERT (a read snapshot upgraded "
	    "to a write), during a second initial sync to another fresh device.\n",
	    n);
	ab_cleanup();
	free(raw.lat);
	free(imm.lat);
	free(def.lat);
	if (ab_small() && imm.busy + imm.busy_snapshot > 0) {
		fprintf(stderr, "bench: busy: the IMMEDIATE writer got %ld SQLITE_BUSY\n",
		    imm.busy + imm.busy_snapshot);
		return 1;
	}
	return 0;
}
