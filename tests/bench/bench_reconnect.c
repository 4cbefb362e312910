/*
 * tests/bench/bench_reconnect.c: a device back after an absence gets only what
 * changed (issue 5 §6): B was synced, stopped; A makes 10 single-row edits;
 * B's agent starts again. Measured for two database sizes (10x apart): the
 * bytes on the wire (TCP payload both ways, from the kernel's counters of the
 * session's socket: handshake, HELLO with the schema, CURSOR, CHANGES, ACKs)
 * and the time from B's start until B sees the 10th edit. O(changes): the
 * same for both sizes. The baseline column is the smaller database.
 * CS_BENCH_SMALL=1: 1 000 and 5 000 rows.
 */
#include "agent_bench.h"
#include "bench_goal.h"

struct result {
	long rows;
	double t;
	long long bytes;
};

/* TCP payload bytes both ways of B's established connection(s) to aport. */
static long long
wire_bytes(int aport)
{
	char cmd[256], line[4096];
	long long total = 0, v;
	FILE *p;
	char *s;

	snprintf(cmd, sizeof(cmd), "ss -tinH state established '( dport = :%d )' 2>/dev/null",
	    aport);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	while (fgets(line, sizeof(line), p) != NULL) {
		if ((s = strstr(line, "bytes_sent:")) != NULL &&
		    sscanf(s, "bytes_sent:%lld", &v) == 1)
			total += v;
		if ((s = strstr(line, "bytes_received:")) != NULL &&
		    sscanf(s, "bytes_received:%lld", &v) == 1)
			total += v;
	}
	pclose(p);
	return total;
}

static void
one(long rows, int k, struct result *r)
{
	char a[16], b[16], sql[256];
	sqlite3 *wa, *rb;
	int aport, i;

	snprintf(a, sizeof(a), "a%d", k);
	snprintf(b, sizeof(b), "b%d", k);
	ab_newdb(a);
	ab_fill(a, 1, rows);
	ab_init(a, NULL);
	ab_newdb(b);
	ab_init(b, a);
	ab_agent(0, a, 0, 0);
	aport = ab_port(a);
	ab_agent(1, b, 0, aport);
	snprintf(sql, sizeof(sql), "%s.db", b);
	rb = ab_open(sql, 5000);
	if (ab_wait(rb, "SELECT count(*) FROM patient", rows, 1800, 0.1) < 0)
		ab_die("the initial sync did not finish");
	usleep(500000);
	ab_stop(1);
	/* A appends one sync-out audit row per patient at the session's end, in
	 * one write transaction (sql/audit.c): let it finish first */
	sleep(2);
	snprintf(sql, sizeof(sql), "%s.db", a);
	wa = ab_open(sql, 60000);
	for (i = 1; i <= 10; i++) {
		snprintf(sql, sizeof(sql), "UPDATE patient SET ville = 'Ville%d' WHERE id = %ld", i,
		    1 + (rows / 10) * (i - 1));
		if (sqlite3_exec(wa, sql, NULL, NULL, NULL) != SQLITE_OK) {
			fprintf(stderr, "bench: %s: %s\n", sql, sqlite3_errmsg(wa));
			ab_die("update");
		}
	}
	r->t = ab_now();
	ab_agent(1, b, 0, aport);
	if (ab_wait(rb, "SELECT count(*) FROM patient WHERE ville LIKE 'Ville%'", 10, 120, 0.002) <
	    0)
		ab_die("the 10 edits did not arrive");
	r->t = ab_now() - r->t;
	usleep(300000); /* the ACKs */
	r->bytes = wire_bytes(aport);
	r->rows = rows;
	sqlite3_close(wa);
	sqlite3_close(rb);
	ab_stop(1);
	ab_stop(0);
}

int
main(void)
{
	struct result s, l;

	ab_setup("reconnect");
	one(ab_small() ? 1000 : 10000, 1, &s);
	one(ab_small() ? 5000 : 100000, 2, &l);
	ab_cleanup();
	printf("## Reconnect after 10 changes: cost grows with the changes, not the database\n\n");
	printf("| figure | %ld-row database | %ld-row database | ratio | goal |\n", s.rows, l.rows);
	printf("|---|---|---|---|---|\n");
	printf("| bytes on the wire (both ways) | %lld | %lld | %.2f | ~1 (O(changes)) |\n",
	    s.bytes, l.bytes, s.bytes > 0 ? (double)l.bytes / (double)s.bytes : 0);
	printf("| time, agent start to the 10th edit visible | %.0f ms | %.0f ms | %.2f | ~1 |\n",
	    s.t * 1e3, l.t * 1e3, s.t > 0 ? l.t / s.t : 0);
	cs_bench_goal("reconnect after 10 changes: bytes, 10x larger database (O(changes))",
	    s.bytes > 0 ? (double)l.bytes / (double)s.bytes : 0, "<=", 2, "x");
	printf("\nMeasured: B synced with A, B's agent stopped, 10 single-row UPDATEs on A, B's "
	       "agent started; bytes: TCP payload sent + received on B's connection to A (ss -ti) "
	       "once the edits arrived and were acknowledged, handshake and HELLO (with the app "
	       "schema) included; time: from spawning B's agent (process start, handshake) until "
	       "B's database shows the 10 edits.\n");
	return 0;
}
