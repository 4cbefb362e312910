/*
 * tests/bench/agent_bench.h: what the agent benchmarks (bench_busy,
 * bench_initsync, bench_reconnect, bench_idle) share: a temp dir, homes made
 * with `cabsync init`, real `cabsync agent` processes on 127.0.0.1, their
 * logs, a demo database of N patients made as the app would (SQL through the
 * sqlite3 shell), polling a count, timing. Header-only (static inline), one
 * .c per bench. Bench programs exit on the first failure with a message.
 */
#ifndef CS_TESTS_AGENT_BENCH_H
#define CS_TESTS_AGENT_BENCH_H

#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CS_CABSYNC_BIN
#error "CS_CABSYNC_BIN must name the cabsync binary"
#endif
#ifndef CS_DEMO_DIR
#error "CS_DEMO_DIR must name sql/demo"
#endif

#define AB_MAX_AGENTS 4

static char ab_tmp[256];
static pid_t ab_pids[AB_MAX_AGENTS];
static const char *ab_name = "bench";

static inline double
ab_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int
ab_small(void)
{
	const char *s = getenv("CS_BENCH_SMALL");

	return s != NULL && s[0] != '\0' && s[0] != '0';
}

static inline void
ab_stop(int i)
{
	if (ab_pids[i] > 0) {
		kill(ab_pids[i], SIGTERM);
		waitpid(ab_pids[i], NULL, 0);
		ab_pids[i] = 0;
	}
}

static inline void
ab_cleanup(void)
{
	char cmd[512];
	int i;

	for (i = 0; i < AB_MAX_AGENTS; i++)
		ab_stop(i);
	if (ab_tmp[0] != '\0' && getenv("CS_BENCH_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ab_tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: cannot remove %s\n", ab_tmp);
	}
}

static inline void
ab_die(const char *what)
{
	fprintf(stderr, "bench: %s: %s (logs in %s)\n", ab_name, what, ab_tmp);
	setenv("CS_BENCH_KEEP", "1", 1);
	ab_cleanup();
	exit(1);
}

static inline void
ab_run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "bench: command failed: %s\n", cmd);
		ab_die("setup");
	}
}

static inline void
ab_setup(const char *name)
{
	ab_name = name;
	snprintf(ab_tmp, sizeof(ab_tmp), "/tmp/cs-bench-%s-XXXXXX", name);
	if (mkdtemp(ab_tmp) == NULL)
		ab_die("mkdtemp");
	setenv("CS_KEYRING", "off", 1);
	setenv("CS_NO_MDNS", "1", 1);
}

static inline sqlite3 *
ab_open(const char *name, int busy_ms)
{
	char path[300];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/%s", ab_tmp, name);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		ab_die("sqlite3_open");
	sqlite3_busy_timeout(db, busy_ms);
	return db;
}

/* An empty demo database NAME.db in WAL mode. */
static inline void
ab_newdb(const char *name)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && sqlite3 %s.db < '%s/schema.sql' && sqlite3 %s.db 'PRAGMA journal_mode=WAL' "
	    ">/dev/null",
	    ab_tmp, name, CS_DEMO_DIR, name);
	ab_run(cmd);
}

/* Add n patients (first id first) to NAME.db through the sqlite3 shell, as the app. */
static inline void
ab_fill(const char *name, long first, long n)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && sqlite3 %s.db \"WITH RECURSIVE s(i) AS (SELECT %ld UNION ALL SELECT i + 1 "
	    "FROM s WHERE i < %ld) INSERT INTO patient(nom, prenom, date_naissance, sexe, "
	    "telephone, email, adresse, code_postal, ville, profession, cree_le) SELECT "
	    "'Nom' || i, 'Prenom' || i, '1980-01-01', CASE i %% 2 WHEN 0 THEN 'F' ELSE 'M' END, "
	    "'06 12 34 56 78', 'patient' || i || '@example.org', i || ' rue de la Paix', '44000', "
	    "'Nantes', 'Osteopathe', '2024-01-01' FROM s\"",
	    ab_tmp, name, first, first + n - 1);
	ab_run(cmd);
}

/* cabsync init of home h_NAME on NAME.db; same: the home whose cabinet it joins, or NULL. */
static inline void
ab_init(const char *name, const char *same)
{
	char cmd[2048];

	if (same == NULL)
		snprintf(cmd, sizeof(cmd),
		    "cd '%s' && '%s' init --home h_%s --db %s.db --tables '%s/tables.ini' "
		    "--cabinet C "
		    "--practitioner P --device-name %s >/dev/null 2>&1",
		    ab_tmp, CS_CABSYNC_BIN, name, name, CS_DEMO_DIR, name);
	else
		snprintf(cmd, sizeof(cmd),
		    "cd '%s' && '%s' init --home h_%s --db %s.db --tables '%s/tables.ini' "
		    "--practitioner P --device-name %s --same-cabinet-as h_%s >/dev/null 2>&1",
		    ab_tmp, CS_CABSYNC_BIN, name, name, CS_DEMO_DIR, name, same);
	ab_run(cmd);
}

/* Start the agent of h_NAME as slot i (port 0 = any), dialing peer_port if > 0. */
static inline pid_t
ab_agent(int i, const char *name, int port, int peer_port)
{
	char h[300], x[300], log[300], ps[16], peer[32];
	pid_t pid;

	snprintf(h, sizeof(h), "%s/h_%s", ab_tmp, name);
	snprintf(x, sizeof(x), "%s/x_%s", ab_tmp, name);
	snprintf(log, sizeof(log), "%s/%s.log", ab_tmp, name);
	snprintf(ps, sizeof(ps), "%d", port);
	snprintf(peer, sizeof(peer), "127.0.0.1:%d", peer_port);
	mkdir(x, 0700);
	pid = fork();
	if (pid == 0) {
		if (freopen(log, "a", stderr) == NULL)
			_exit(127);
		setenv("XDG_RUNTIME_DIR", x, 1);
		if (peer_port > 0)
			execl(CS_CABSYNC_BIN, "cabsync", "agent", "--home", h, "--listen",
			    "127.0.0.1", "--port", ps, "--peer", peer, (char *)NULL);
		else
			execl(CS_CABSYNC_BIN, "cabsync", "agent", "--home", h, "--listen",
			    "127.0.0.1", "--port", ps, (char *)NULL);
		_exit(127);
	}
	ab_pids[i] = pid;
	return pid;
}

/* The port the agent of h_NAME listens on (waits for its port file, 10 s). */
static inline int
ab_port(const char *name)
{
	char path[300];
	FILE *f;
	int port = 0, i;

	snprintf(path, sizeof(path), "%s/h_%s/port", ab_tmp, name);
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
	if (port == 0)
		ab_die("an agent did not start");
	return port;
}

/* Remove the port file of h_NAME (before a restart, so ab_port waits). */
static inline void
ab_forget_port(const char *name)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/h_%s/port", ab_tmp, name);
	unlink(path);
}

/* Poll `sql` (one integer) on db until it gives want; seconds, or -1 on timeout. */
static inline double
ab_wait(sqlite3 *db, const char *sql, long long want, double timeout_s, double poll_s)
{
	sqlite3_stmt *st;
	double t0 = ab_now();
	long long got = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		ab_die("prepare");
	while (ab_now() - t0 < timeout_s) {
		if (sqlite3_step(st) == SQLITE_ROW)
			got = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (got == want) {
			sqlite3_finalize(st);
			return ab_now() - t0;
		}
		usleep((useconds_t)(poll_s * 1e6));
	}
	sqlite3_finalize(st);
	return -1;
}

static inline int
ab_cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
