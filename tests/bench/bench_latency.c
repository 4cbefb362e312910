/*
 * tests/bench/bench_latency.c: edit-to-peer latency of two real `cabsync
 * agent` processes over loopback (issue 5 §6). 1000 single-row edits made on
 * A with the SQLite API (autocommit UPDATE, as the app does), each timed from
 * just before its commit until a second connection sees the new value in B's
 * database. The raw baseline, measured in the same run: the same edit and
 * poll on ONE database (commit to visible on another connection), the floor
 * of any sync. Syncthing's 1.204 s is from ../shared/baselines.md.
 * CS_BENCH_SMALL=1: 50 edits (the smoke test).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench_goal.h"

#ifndef CS_CABSYNC_BIN
#error "CS_CABSYNC_BIN must name the cabsync binary"
#endif

static char tmp[256];
static pid_t agents[2];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
cleanup(void)
{
	char cmd[512];
	int i;

	for (i = 0; i < 2; i++) {
		if (agents[i] > 0) {
			kill(agents[i], SIGTERM);
			waitpid(agents[i], NULL, 0);
			agents[i] = 0;
		}
	}
	if (tmp[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: cannot remove %s\n", tmp);
	}
}

static void
die(const char *what)
{
	fprintf(stderr, "bench: latency: %s\n", what);
	cleanup();
	exit(1);
}

static void
run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "bench: command failed: %s\n", cmd);
		die("setup");
	}
}

static sqlite3 *
db_open(const char *name)
{
	char path[300];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("sqlite3_open");
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void
exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench: %s: %s\n", sql, sqlite3_errmsg(db));
		die("sql");
	}
}

static pid_t
spawn_agent(const char *home, const char *xdg, const char *peer)
{
	char h[300], x[300], log[300];
	pid_t pid;

	snprintf(h, sizeof(h), "%s/%s", tmp, home);
	snprintf(x, sizeof(x), "%s/%s", tmp, xdg);
	snprintf(log, sizeof(log), "%s/%s.log", tmp, home);
	mkdir(x, 0700);
	pid = fork();
	if (pid == 0) {
		if (freopen(log, "w", stderr) == NULL)
			_exit(127);
		setenv("XDG_RUNTIME_DIR", x, 1);
		if (peer != NULL)
			execl(CS_CABSYNC_BIN, "cabsync", "agent", "--home", h, "--listen",
			    "127.0.0.1", "--peer", peer, (char *)NULL);
		else
			execl(CS_CABSYNC_BIN, "cabsync", "agent", "--home", h, "--listen",
			    "127.0.0.1", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int
read_port(const char *home)
{
	char path[300];
	FILE *f;
	int port = 0, i;

	snprintf(path, sizeof(path), "%s/%s/port", tmp, home);
	for (i = 0; i < 200 && port == 0; i++) {
		f = fopen(path, "r");
		if (f != NULL) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port == 0)
			usleep(50000);
	}
	return port;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Poll rd until patient 1's telephone is want; returns seconds, < 0 on timeout. */
static double
wait_value(sqlite3 *rd, sqlite3_stmt *sel, const char *want, double t0)
{
	const unsigned char *v;
	int found;

	(void)rd;
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

/* n edits on wr, each waited for on rd; fills lat[]. */
static void
measure(sqlite3 *wr, sqlite3 *rd, int n, double *lat, int tag)
{
	sqlite3_stmt *upd, *sel;
	char val[32];
	double t0;
	int i;

	if (sqlite3_prepare_v2(wr, "UPDATE patient SET telephone = ?1 WHERE id = 1", -1, &upd,
	        NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(rd, "SELECT telephone FROM patient WHERE id = 1", -1, &sel, NULL) !=
	        SQLITE_OK)
		die("prepare");
	for (i = 0; i < n; i++) {
		snprintf(val, sizeof(val), "06%d%08d", tag, i);
		sqlite3_bind_text(upd, 1, val, -1, SQLITE_TRANSIENT);
		t0 = now_s();
		if (sqlite3_step(upd) != SQLITE_DONE)
			die("update");
		sqlite3_reset(upd);
		lat[i] = wait_value(rd, sel, val, t0);
		if (lat[i] < 0)
			die("an edit did not arrive within 5 s");
	}
	sqlite3_finalize(upd);
	sqlite3_finalize(sel);
	qsort(lat, (size_t)n, sizeof(double), cmp_d);
}

/*
 * The samples for the plot of docs/PERFORMANCE.md: CS_BENCH_DATA=DIR (set by
 * run-all.sh) gets DIR/latency.dat, one line per edit: the cumulative
 * fraction, then cabsync's and the raw baseline's latency in ms (both sorted).
 */
static void
write_samples(const double *lat, const double *raw, int n)
{
	const char *dir = getenv("CS_BENCH_DATA");
	char path[512];
	FILE *f;
	int i;

	if (dir == NULL || dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/latency.dat", dir);
	f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "bench: latency: cannot write %s\n", path);
		return;
	}
	fprintf(f, "# fraction cabsync_ms raw_ms (%d single-row edits, loopback)\n", n);
	for (i = 0; i < n; i++)
		fprintf(f, "%.5f %.4f %.4f\n", (i + 0.5) / n, lat[i] * 1e3, raw[i] * 1e3);
	if (fclose(f) != 0)
		fprintf(stderr, "bench: latency: cannot write %s\n", path);
}

int
main(void)
{
	char cmd[2048], peer[64];
	const char *small = getenv("CS_BENCH_SMALL");
	int n = small != NULL && small[0] == '1' ? 50 : 1000, port;
	double *lat, *raw, p50, p99, r50, r99;
	sqlite3 *wa, *rb, *wr, *rr;

	snprintf(tmp, sizeof(tmp), "/tmp/cs-bench-latency-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		die("mkdtemp");
	lat = calloc((size_t)n, sizeof(double));
	raw = calloc((size_t)n, sizeof(double));
	if (lat == NULL || raw == NULL)
		die("memory");
	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && for d in a b raw; do sqlite3 $d.db < '%s/schema.sql' && "
	    "sqlite3 $d.db 'PRAGMA journal_mode=WAL' >/dev/null || exit 1; done && "
	    "sqlite3 a.db \"INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le) "
	    "VALUES('Bench','Patient','1980-01-01','M','2024-01-01')\" && "
	    "sqlite3 raw.db \"INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le) "
	    "VALUES('Bench','Patient','1980-01-01','M','2024-01-01')\" && "
	    "'%s' init --home ha --db a.db --tables '%s/tables.ini' --cabinet C "
	    "--practitioner P --device-name a >/dev/null 2>&1 && "
	    "'%s' init --home hb --db b.db --tables '%s/tables.ini' --practitioner P "
	    "--device-name b --same-cabinet-as ha >/dev/null 2>&1",
	    tmp, CS_DEMO_DIR, CS_CABSYNC_BIN, CS_DEMO_DIR, CS_CABSYNC_BIN, CS_DEMO_DIR);
	run(cmd);
	agents[0] = spawn_agent("ha", "xa", NULL);
	port = read_port("ha");
	if (port == 0)
		die("agent A did not start");
	snprintf(peer, sizeof(peer), "127.0.0.1:%d", port);
	agents[1] = spawn_agent("hb", "xb", peer);
	wa = db_open("a.db");
	rb = db_open("b.db");
	wr = db_open("raw.db");
	rr = db_open("raw.db");
	exec(wa, "PRAGMA synchronous=NORMAL");
	exec(wr, "PRAGMA synchronous=NORMAL");
	/* wait for the initial sync: patient 1 on B */
	{
		sqlite3_stmt *sel;
		double t0 = now_s();
		int ok = 0;

		if (sqlite3_prepare_v2(rb, "SELECT count(*) FROM patient", -1, &sel, NULL) !=
		    SQLITE_OK)
			die("prepare");
		while (!ok && now_s() - t0 < 30) {
			if (sqlite3_step(sel) == SQLITE_ROW && sqlite3_column_int(sel, 0) == 1)
				ok = 1;
			sqlite3_reset(sel);
			usleep(10000);
		}
		sqlite3_finalize(sel);
		if (!ok)
			die("the agents did not sync within 30 s");
	}
	measure(wr, rr, n, raw, 1);
	measure(wa, rb, n, lat, 2);
	write_samples(lat, raw, n);
	p50 = lat[n / 2] * 1e3;
	p99 = lat[(n * 99) / 100] * 1e3;
	r50 = raw[n / 2] * 1e3;
	r99 = raw[(n * 99) / 100] * 1e3;
	printf("## Edit-to-peer latency: two cabsync agents over loopback\n\n");
	printf("| figure | raw SQLite (same file, commit to visible) | cabsync A to B | "
	       "cabsync / raw | goal | Syncthing 1.19 (baselines.md) |\n");
	printf("|---|---|---|---|---|---|\n");
	printf("| p50 of %d single-row edits | %.3f ms | %.2f ms | %.0fx | <= 10 ms | 1204 ms |\n",
	    n, r50, p50, p50 / (r50 > 0 ? r50 : 1e-6));
	printf("| p99 | %.3f ms | %.2f ms | %.0fx | <= 50 ms | - |\n", r99, p99,
	    p99 / (r99 > 0 ? r99 : 1e-6));
	printf("| max | %.3f ms | %.2f ms | - | - | - |\n", raw[n - 1] * 1e3, lat[n - 1] * 1e3);
	cs_bench_goal("edit-to-peer p50, loopback", p50, "<=", 10, "ms");
	cs_bench_goal("edit-to-peer p99, loopback", p99, "<=", 50, "ms");
	printf("\nMeasured: %d autocommit UPDATEs of one cell on A's database (SQLite API, "
	       "synchronous=NORMAL, as an app), each timed until a second connection polling B's "
	       "database every 0.1 ms sees the value; the agents detect the write through inotify "
	       "on the -wal file, extract, encrypt (Noise), send over TCP 127.0.0.1, apply "
	       "(synchronous=FULL) and fsync the cursor. Raw: the same edit and poll on one "
	       "file. Syncthing: one row changed in a 50 MB database, whole-file sync.\n",
	    n);
	sqlite3_close(wa);
	sqlite3_close(rb);
	sqlite3_close(wr);
	sqlite3_close(rr);
	free(lat);
	free(raw);
	cleanup();
	return 0;
}
