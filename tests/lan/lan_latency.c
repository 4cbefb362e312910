/*
 * tests/lan/lan_latency.c: edit-to-peer latency between two databases synced
 * by agents the caller runs (tests/lan/agents_bench.sh runs them in network
 * namespaces on a bridge; the files are shared, the traffic is not).
 *
 *   cs-lan-latency A.db B.db RAW.db N
 *
 * N autocommit UPDATEs of patient 1's telephone on A (SQLite API,
 * synchronous=NORMAL, as an app), each timed from just before its commit
 * until a second connection polling B every 0.1 ms sees the value; then the
 * same edit and poll on RAW.db alone (the floor of any sync: commit to
 * visible on another connection). Mirrors tests/bench/bench_latency.c
 * (loopback). Prints one line: "p50 p99 max raw_p50 raw_p99 raw_max" in ms.
 * Exit 1 if an edit takes more than 5 s. CS_BENCH_DATA=DIR (run-all.sh): the
 * samples also go to DIR/latency_lan.dat, as bench_latency's (the plot of
 * docs/PERFORMANCE.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static sqlite3 *
db_open(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK) {
		fprintf(stderr, "cs-lan-latency: cannot open %s\n", path);
		exit(1);
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* Poll sel until it returns want; seconds since t0, < 0 after 5 s. */
static double
wait_value(sqlite3_stmt *sel, const char *want, double t0)
{
	const unsigned char *v;
	int found;

	for (;;) {
		found = 0;
		if (sqlite3_step(sel) == SQLITE_ROW) {
			v = sqlite3_column_text(sel, 0);
			found = v != NULL && strcmp((const char *)v, want) == 0;
		}
		sqlite3_reset(sel);
		if (found)
			return now_s() - t0;
		if (now_s() - t0 > 5.0)
			return -1;
		usleep(100);
	}
}

/* n edits on wr, each waited for on rd; lat[] sorted. 0 or -1. */
static int
measure(sqlite3 *wr, sqlite3 *rd, int n, double *lat, int tag)
{
	sqlite3_stmt *upd = NULL, *sel = NULL;
	char val[32];
	double t0;
	int i, rc = -1;

	if (sqlite3_exec(wr, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(wr, "UPDATE patient SET telephone = ?1 WHERE id = 1", -1, &upd,
	        NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(rd, "SELECT telephone FROM patient WHERE id = 1", -1, &sel, NULL) !=
	        SQLITE_OK) {
		fprintf(stderr, "cs-lan-latency: prepare: %s\n", sqlite3_errmsg(wr));
		goto out;
	}
	for (i = 0; i < n; i++) {
		snprintf(val, sizeof(val), "07%d%08d", tag, i);
		sqlite3_bind_text(upd, 1, val, -1, SQLITE_TRANSIENT);
		t0 = now_s();
		if (sqlite3_step(upd) != SQLITE_DONE) {
			fprintf(stderr, "cs-lan-latency: update: %s\n", sqlite3_errmsg(wr));
			goto out;
		}
		sqlite3_reset(upd);
		lat[i] = wait_value(sel, val, t0);
		if (lat[i] < 0) {
			fprintf(stderr, "cs-lan-latency: edit %d did not arrive within 5 s\n", i);
			goto out;
		}
	}
	qsort(lat, (size_t)n, sizeof(double), cmp_d);
	rc = 0;
out:
	sqlite3_finalize(upd);
	sqlite3_finalize(sel);
	return rc;
}

static void
write_samples(const double *lat, const double *raw, int n)
{
	const char *dir = getenv("CS_BENCH_DATA");
	char path[512];
	FILE *f;
	int i;

	if (dir == NULL || dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/latency_lan.dat", dir);
	f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "cs-lan-latency: cannot write %s\n", path);
		return;
	}
	fprintf(f, "# fraction cabsync_ms raw_ms (%d single-row edits, namespace bridge)\n", n);
	for (i = 0; i < n; i++)
		fprintf(f, "%.5f %.4f %.4f\n", (i + 0.5) / n, lat[i] * 1e3, raw[i] * 1e3);
	if (fclose(f) != 0)
		fprintf(stderr, "cs-lan-latency: cannot write %s\n", path);
}

int
main(int argc, char **argv)
{
	sqlite3 *wa, *rb, *wr, *rr;
	double *lat, *raw;
	int n, rc;

	if (argc != 5 || (n = atoi(argv[4])) < 1 || n > 1000000) {
		fprintf(stderr, "usage: cs-lan-latency A.db B.db RAW.db N\n");
		return 2;
	}
	lat = calloc((size_t)n, sizeof(double));
	raw = calloc((size_t)n, sizeof(double));
	if (lat == NULL || raw == NULL)
		return 1;
	wa = db_open(argv[1]);
	rb = db_open(argv[2]);
	wr = db_open(argv[3]);
	rr = db_open(argv[3]);
	rc = measure(wr, rr, n, raw, 1) == 0 && measure(wa, rb, n, lat, 2) == 0 ? 0 : 1;
	if (rc == 0)
		write_samples(lat, raw, n);
	if (rc == 0)
		printf("%.3f %.3f %.3f %.3f %.3f %.3f\n", lat[n / 2] * 1e3,
		    lat[(n * 99) / 100] * 1e3, lat[n - 1] * 1e3, raw[n / 2] * 1e3,
		    raw[(n * 99) / 100] * 1e3, raw[n - 1] * 1e3);
	sqlite3_close(wa);
	sqlite3_close(rb);
	sqlite3_close(wr);
	sqlite3_close(rr);
	free(lat);
	free(raw);
	return rc;
}
