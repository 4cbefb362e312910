/*
 * tests/sim/crash_main.c: cs_crash, the crash test with real processes
 * (issue 3 §4; tests/sim/README.md).
 *
 * A source replica holds a few thousand demo rows; an empty target replica
 * is the template. A writer process (this program re-executed with
 * --writer) streams the source into a copy of the target through the engine:
 * extract after its cursor, apply, one transaction per batch. The parent
 * SIGKILLs the writer at a random moment of its apply phase, then checks
 * PRAGMA integrity_check on the file, re-runs the writer uninterrupted on the
 * same file (the sender resends everything: apply is idempotent) and compares
 * the canonical dump with the dump of an uninterrupted run. Bounded: at most
 * --kills kills (default 60) and --seconds of wall time (default 200), and
 * at least 50 kills are required for a pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/change.h"
#include "base/mem.h"
#include "sim_db.h"
#include "sim_gen.h"
#include "sim_rng.h"
#include "sql/engine.h"

#ifndef CS_SOURCE_DIR
#define CS_SOURCE_DIR "."
#endif

static const uint8_t SRC_DEV[CS_DEVID_LEN] = {0xc5, 1, 2, 3};
static const uint8_t DST_DEV[CS_DEVID_LEN] = {0xd5, 4, 5, 6};

static char schema_sql[512], tables_ini[512];

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
engine_open(struct cs_engine **e, const char *path, const uint8_t *dev)
{
	struct cs_engine_opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.db_path = path;
	o.tables_ini = tables_ini;
	o.device_id = dev;
	o.enable_wal = 1;
	rc = cs_engine_open(e, &o);
	if (rc != 0)
		fprintf(stderr, "cs_crash: open %s: %d %s\n", path, rc, cs_engine_open_errmsg());
	return rc;
}

/*
 * The writer: stream every change of src into dst, batch_rows rows per
 * batch. Writes one byte to ready_fd when the apply phase starts.
 */
static int
writer(const char *src, const char *dst, int ready_fd, size_t batch_rows)
{
	struct cs_engine *se = NULL, *de = NULL;
	struct cs_changeset cs;
	uint64_t cur = 0;
	int more = 1, rc = 1;
	uint8_t site[CS_DEVID_LEN];

	cs_changeset_init(&cs);
	if (engine_open(&se, src, SRC_DEV) != 0 || engine_open(&de, dst, DST_DEV) != 0)
		goto out;
	cs_engine_site(se, site);
	if (ready_fd >= 0 && write(ready_fd, "R", 1) != 1)
		goto out;
	while (more == 1) {
		more = cs_engine_extract(se, cur, NULL, NULL, batch_rows, &cs);
		if (more < 0) {
			fprintf(stderr, "writer: extract: %d %s\n", more, cs_engine_errmsg(se));
			goto out;
		}
		if (cs.nrows > 0) {
			int a = cs_engine_apply(de, &cs, site, NULL);

			if (a != 0) {
				fprintf(stderr, "writer: apply: %d %s\n", a, cs_engine_errmsg(de));
				goto out;
			}
		}
		cur = cs.db_version;
	}
	rc = 0;
out:
	cs_changeset_free(&cs);
	cs_engine_close(se);
	cs_engine_close(de);
	return rc;
}

static int
copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = -1, out = -1, rc = -1;
	ssize_t n;

	in = open(from, O_RDONLY);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0)
		goto done;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto done;
	rc = n == 0 ? 0 : -1;
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

static void
remove_db(const char *path)
{
	char p[600];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

/*
 * Run the writer on dst. kill_after_us < 0: let it finish (returns its exit
 * status, 0 = success). Else SIGKILL it that long after it reported the
 * apply phase (returns 0 if it was killed or had finished).
 */
static int
run_writer(const char *self, const char *src, const char *dst, int64_t kill_after_us,
    int64_t *apply_us, int *killed)
{
	int fds[2], status = 0;
	char fdarg[16], rows[16];
	char ch;
	pid_t pid;
	int64_t t0;

	if (pipe(fds) != 0)
		return -1;
	snprintf(fdarg, sizeof(fdarg), "%d", fds[1]);
	snprintf(rows, sizeof(rows), "%d", 100);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		/* a fresh image, as the agent's writer would be: nothing inherited */
		execl(self, self, "--writer", src, dst, fdarg, rows, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	*killed = 0;
	if (read(fds[0], &ch, 1) != 1) {
		close(fds[0]);
		waitpid(pid, &status, 0);
		fprintf(stderr, "cs_crash: writer died before its apply phase (status %d)\n",
		    status);
		return -1;
	}
	t0 = now_us();
	if (kill_after_us >= 0) {
		struct timespec ts = {.tv_sec = kill_after_us / 1000000,
		    .tv_nsec = (kill_after_us % 1000000) * 1000};

		nanosleep(&ts, NULL);
		*killed = kill(pid, SIGKILL) == 0;
	}
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (apply_us != NULL)
		*apply_us = now_us() - t0;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return 0;
	*killed = 0; /* it had finished before the signal */
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
dump_of(const char *path, const struct sim_schema *schema, char **out, int check_integrity)
{
	sqlite3 *db = NULL;
	char msg[256];
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		goto out;
	if (check_integrity && !sim_db_integrity_ok(db, msg, sizeof(msg))) {
		fprintf(stderr, "cs_crash: integrity_check on %s: %s\n", path, msg);
		goto out;
	}
	if (out != NULL && sim_dump_canonical(db, schema, out) != 0)
		goto out;
	rc = 0;
out:
	sqlite3_close(db);
	return rc;
}

/* A new demo database at path with the engine installed (dev), rows from gen. */
static int
make_replica(const char *path, const uint8_t *dev, struct sim_rng *rng, int npat)
{
	struct cs_engine *e = NULL;
	sqlite3 *db = NULL;
	int rc = -1;

	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sim_db_exec(db, "PRAGMA journal_mode = WAL") != SQLITE_OK ||
	    sim_db_exec_file(db, schema_sql) != 0)
		goto out;
	sqlite3_close(db);
	db = NULL;
	if (engine_open(&e, path, dev) != 0 || cs_engine_install(e) != 0)
		goto out;
	cs_engine_close(e);
	e = NULL;
	if (npat > 0) {
		/* the app writes after install: captured by the triggers */
		if (sqlite3_open(path, &db) != SQLITE_OK ||
		    sim_db_exec(db, "PRAGMA foreign_keys = ON") != SQLITE_OK ||
		    sim_gen_practice(db, rng, npat, 3) != SQLITE_OK ||
		    sim_db_exec(db,
		        "UPDATE consultation SET diagnostic = 'Dysfonction L4-L5' "
		        "WHERE id % 5 = 0; DELETE FROM patient WHERE id % 17 = 0") != SQLITE_OK)
			goto out;
	}
	rc = 0;
out:
	if (rc != 0 && db != NULL)
		fprintf(stderr, "cs_crash: make %s: %s\n", path, sqlite3_errmsg(db));
	sqlite3_close(db);
	cs_engine_close(e);
	return rc;
}

int
main(int argc, char **argv)
{
	struct sim_schema schema;
	struct sim_rng rng;
	char dir[256], src[300], tpl[300], ref[300], tgt[300], err[256];
	char *expected = NULL, *got = NULL;
	const char *sdir = getenv("CS_SOURCE_DIR");
	uint64_t seed = 1;
	long max_kills = 60, min_kills = 50, kills = 0, mid = 0, none = 0, all = 0;
	int64_t seconds = 200, apply_us = 0, t_end;
	int npat = 300, i, killed, ret = 1;
	sqlite3 *db = NULL;
	char self[512];
	ssize_t self_len;

	if (sdir == NULL)
		sdir = CS_SOURCE_DIR;
	snprintf(schema_sql, sizeof(schema_sql), "%s/sql/demo/schema.sql", sdir);
	snprintf(tables_ini, sizeof(tables_ini), "%s/sql/demo/tables.ini", sdir);
	if (argc == 6 && strcmp(argv[1], "--writer") == 0)
		return writer(argv[2], argv[3], atoi(argv[4]), (size_t)atoi(argv[5]));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--kills") == 0 && i + 1 < argc)
			max_kills = atol(argv[++i]);
		else if (strcmp(argv[i], "--min-kills") == 0 && i + 1 < argc)
			min_kills = atol(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atol(argv[++i]);
		else if (strcmp(argv[i], "--patients") == 0 && i + 1 < argc)
			npat = atoi(argv[++i]);
		else {
			fprintf(stderr,
			    "usage: cs_crash [--seed S] [--kills N] [--min-kills N] "
			    "[--seconds T] [--patients P]\n");
			return 2;
		}
	}
	self_len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (self_len <= 0)
		return 1;
	self[self_len] = '\0';
	sim_rng_init(&rng, seed);
	snprintf(dir, sizeof(dir), "%s/cs_crash.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(src, sizeof(src), "%s/src.db", dir);
	snprintf(tpl, sizeof(tpl), "%s/tpl.db", dir);
	snprintf(ref, sizeof(ref), "%s/ref.db", dir);
	snprintf(tgt, sizeof(tgt), "%s/tgt.db", dir);
	if (make_replica(src, SRC_DEV, &rng, npat) != 0 || make_replica(tpl, DST_DEV, &rng, 0) != 0)
		goto out;
	if (sqlite3_open(tpl, &db) != SQLITE_OK ||
	    sim_schema_load(&schema, tables_ini, db, err, sizeof(err)) != 0) {
		fprintf(stderr, "cs_crash: schema: %s\n", err);
		goto out;
	}
	sqlite3_close(db);
	db = NULL;
	/* the uninterrupted run */
	if (copy_file(tpl, ref) != 0 || run_writer(self, src, ref, -1, &apply_us, &killed) != 0 ||
	    dump_of(ref, &schema, &expected, 1) != 0) {
		fprintf(stderr, "cs_crash: the uninterrupted run failed\n");
		goto out;
	}
	printf("cs_crash: seed %" PRIu64
	       ", %d patients, uninterrupted apply %.1f ms, dump %zu bytes\n",
	    seed, npat, (double)apply_us / 1000.0, strlen(expected));
	t_end = now_us() + seconds * 1000000;
	while (kills < max_kills && now_us() < t_end) {
		int64_t at = (int64_t)sim_rng_below(&rng, (uint64_t)apply_us + 1);

		remove_db(tgt);
		if (copy_file(tpl, tgt) != 0 ||
		    run_writer(self, src, tgt, at, NULL, &killed) != 0) {
			fprintf(stderr, "cs_crash: kill run %ld failed\n", kills);
			goto out;
		}
		if (!killed)
			continue; /* it finished first: not a kill */
		kills++;
		/* what the kill left: integrity first, then how far it had gone */
		if (dump_of(tgt, &schema, &got, 1) != 0) {
			fprintf(stderr,
			    "cs_crash: FAIL seed %" PRIu64 " kill %ld at %" PRId64
			    " us: database damaged\n",
			    seed, kills, at);
			goto out;
		}
		if (strcmp(got, expected) == 0)
			all++;
		else if (got[0] == '\0')
			none++;
		else
			mid++;
		cs_free(got);
		got = NULL;
		if (run_writer(self, src, tgt, -1, NULL, &killed) != 0 ||
		    dump_of(tgt, &schema, &got, 1) != 0) {
			fprintf(stderr,
			    "cs_crash: FAIL seed %" PRIu64 " kill %ld: re-apply failed\n", seed,
			    kills);
			goto out;
		}
		if (strcmp(got, expected) != 0) {
			fprintf(stderr,
			    "cs_crash: FAIL seed %" PRIu64 " kill %ld at %" PRId64
			    " us: the re-applied state differs from the uninterrupted run\n",
			    seed, kills, at);
			goto out;
		}
		cs_free(got);
		got = NULL;
	}
	printf("cs_crash: %ld kills (%ld before the first commit, %ld between commits, %ld after "
	       "the last): integrity ok and re-apply = uninterrupted state every time\n",
	    kills, none, mid, all);
	if (kills < min_kills) {
		fprintf(stderr, "cs_crash: only %ld kills within %" PRId64 " s (need %ld)\n", kills,
		    seconds, min_kills);
		goto out;
	}
	ret = 0;
out:
	sqlite3_close(db);
	cs_free(expected);
	cs_free(got);
	remove_db(src);
	remove_db(tpl);
	remove_db(ref);
	remove_db(tgt);
	rmdir(dir);
	return ret;
}
