/*
 * tests/bench/bench_initsync.c: initial sync of 100 K rows to a freshly
 * enrolled device, end to end (issue 5 §6): two real agents over 127.0.0.1,
 * timed from the start of the new device's agent until its database holds
 * every row. Raw baseline, same run: the same rows inserted by the sqlite3
 * shell into a database of the same schema without cabsync (what writing
 * them locally costs at least). Goal: >= 60 % of the raw rate.
 * CS_BENCH_SMALL=1: 2 000 rows.
 */
#include "agent_bench.h"
#include "bench_goal.h"

int
main(void)
{
	long n = ab_small() ? 2000 : 100000;
	double t0, raw, t;
	sqlite3 *rd;
	int aport;

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
