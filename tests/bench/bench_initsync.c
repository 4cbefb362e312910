/*
 * tests/bench/bench_initsync.c: initial sync of 100 K rows to a freshly
 * enrolled device, end to end (issue 5 §6): two real agents over 127.0.0.1,
 * timed from the start of the new device's agent until its database holds
 * every row. Raw baseline, same run: the same rows inserted by the sqlite3
 * shell into a database of the same schema without cabsync (what writing
 * them locally costs at least). Goal: >= 60 % of the raw rate.
 * CS_BENCH_SMALL=1: 2 000 rows; CS_BENCH_ROWS=N: N rows (a scale for
 * before/after runs on a loaded machine). Also printed: when B held every
 * share record (the records phase, before the rows they allow).
 */
#include "agent_bench.h"
#include "bench_goal.h"

/* Seconds from t0 until db holds n claim records (the table may not exist yet), -1 on timeout. */
static double
wait_records(sqlite3 *db, long n, double t0, double timeout_s)
{
	sqlite3_stmt *st;
	long long got;

	while (ab_now() - t0 < timeout_s) {
		got = -1;
		if (sqlite3_prepare_v2(db, "SELECT count(*) FROM cs_share_rec WHERE kind = 1", -1,
		        &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				got = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		if (got >= n)
			return ab_now() - t0;
		usleep(50000);
	}
	return -1;
}

int
main(void)
{
	long n = ab_small() ? 2000 : 100000;
	const char *rows = getenv("CS_BENCH_ROWS");
	double t0, raw, t, trec = -1;
	sqlite3 *rd;
	int aport;

	if (rows != NULL && atol(rows) > 0)
		n = atol(rows);
	ab_setup("initsync");
	ab_newdb("raw");
	t0 = ab_now();
	ab_fill("raw", 1, n);
	raw = ab_now() - t0;
	ab_newdb("a");
	ab_fill("a", 1, n);
	ab_init("a", NULL);
	ab_newdb("b");
	ab_init("b", "a");
	ab_agent(0, "a", 0, 0);
	aport = ab_port("a");
	rd = ab_open("b.db", 5000);
	t0 = ab_now();
	ab_agent(1, "b", 0, aport);
	/* the records phase: one owner claim per patient (+ the name record) */
	trec = wait_records(rd, n, t0, 1800);
	if (ab_wait(rd, "SELECT count(*) FROM patient", n, 1800, 0.05) < 0)
		ab_die("the initial sync did not finish in 30 min");
	t = ab_now() - t0;
	sqlite3_close(rd);
	ab_cleanup();
	printf("## Initial sync of %ld rows to a new device (two agents, loopback)\n\n", n);
	printf("| figure | raw SQLite insert (sqlite3 shell, no cabsync) | cabsync end to end | "
	       "ratio | goal |\n|---|---|---|---|---|\n");
	printf("| time | %.2f s | %.2f s | | |\n", raw, t);
	printf("| rows/s | %.0f | %.0f | %.2f %% | >= 60 %% |\n", n / raw, n / t,
	    100.0 * (n / t) / (n / raw));
	if (trec >= 0)
		printf("| share records phase (all %ld claims on B) | | %.2f s | | |\n", n, trec);
	{
		char f[96];

		snprintf(f, sizeof(f), "initial sync of %ld rows, rate vs. raw SQLite insert", n);
		cs_bench_goal(f, 100.0 * (n / t) / (n / raw), ">=", 60, "%");
	}
	printf("\nMeasured: %ld demo patients (13 columns, ~200 bytes each) on A; B freshly "
	       "enrolled (empty database); from the start of B's agent (process start, Noise "
	       "handshake, HELLO, CURSOR) until B's database counts all the rows: extraction on "
	       "A, 128-row CHANGES batches (at most 4 unacknowledged), Noise transport, apply on "
	       "B in transactions of up to 128 rows with the WAL fsynced once per batch, device "
	       "state fsynced before each ACK. Raw: one INSERT ... SELECT of the same rows by the "
	       "sqlite3 shell into a database without cabsync.\n",
	    n);
	return 0;
}
