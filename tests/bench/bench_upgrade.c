/*
 * tests/bench/bench_upgrade.c: the cost of an app schema upgrade on a large
 * table (issue 3 §2 "App upgrades"; cr-sqlite takes 672 s to alter a large
 * table, its issue #247). Goal: ALTER TABLE ADD COLUMN + the engine's
 * re-check under 1 s on a 1 M-row table.
 *
 * One database with N consultation rows (~200 bytes each) is built, copied
 * for the raw baseline, then the engine is installed on the original.
 * Timed, in the same run: the plain ALTER on the copy; the ALTER on the
 * engine's database plus cs_upgrade_check() until nothing is pending
 * (re-read the schema, re-create the triggers, scan the new column for
 * writes made before the re-check); and, for comparison, the verification
 * pass a rebuilt table needs (every row against its hash).
 * N = 1 000 000 (CS_BENCH_SMALL=1: 10 000).
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_goal.h"
#include "sql/engine.h"
#include "sql/upgrade.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench_upgrade: %s: %s\n", what, why);
	exit(1);
}

static void
run(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		die(sql, err != NULL ? err : "?");
}

static double
check_all(struct cs_engine *e, uint32_t budget, int *calls, struct cs_upgrade_result *tot)
{
	struct cs_upgrade_result r;
	double t0 = now_s();

	*calls = 0;
	memset(tot, 0, sizeof(*tot));
	do {
		if (cs_upgrade_check(e, budget, &r) < 0)
			die("check", cs_engine_errmsg(e));
		tot->rows_checked += r.rows_checked;
		tot->rows_fixed += r.rows_fixed;
		tot->columns_added += r.columns_added;
		tot->tables_rebuilt += r.tables_rebuilt;
		(*calls)++;
	} while (r.pending);
	return now_s() - t0;
}

int
main(void)
{
	const char *small = getenv("CS_BENCH_SMALL");
	long n = small != NULL && small[0] == '1' ? 10000 : 1000000;
	char dir[] = "/tmp/cs_bench_upgrade_XXXXXX", db[300], raw[300], ini[300], cmd[700],
	     sql[600];
	uint8_t dev[CS_DEVID_LEN];
	struct cs_engine_opts o;
	struct cs_engine *e = NULL;
	struct cs_upgrade_result tot;
	sqlite3 *h;
	double t0, t_raw, t_alter, t_check, t_build, t_inst, t_verify, t_first, t_apply;
	struct cs_changeset cs;
	uint8_t peer[CS_DEVID_LEN];
	int calls, calls_v;
	FILE *f;

	if (mkdtemp(dir) == NULL)
		die("mkdtemp", "failed");
	snprintf(db, sizeof(db), "%s/app.db", dir);
	snprintf(raw, sizeof(raw), "%s/raw.db", dir);
	snprintf(ini, sizeof(ini), "%s/tables.ini", dir);
	if ((f = fopen(ini, "w")) == NULL)
		die("ini", "cannot write");
	fputs("[table patient]\npk = id\nscope = self\n[table consultation]\npk = id\n"
	      "scope = patient_id\nfk = patient_id -> patient\n",
	    f);
	fclose(f);
	t0 = now_s();
	if (sqlite3_open(db, &h) != SQLITE_OK)
		die("open", db);
	run(h,
	    "PRAGMA journal_mode=WAL; CREATE TABLE patient(id INTEGER PRIMARY KEY, nom TEXT);"
	    "CREATE TABLE consultation(id INTEGER PRIMARY KEY, patient_id INTEGER REFERENCES "
	    "patient(id), motif TEXT, notes TEXT, poids REAL);"
	    "INSERT INTO patient(nom) VALUES('Durand');");
	snprintf(sql, sizeof(sql),
	    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %ld) "
	    "INSERT INTO consultation(patient_id, motif, notes, poids) SELECT 1, 'lombalgie "
	    "chronique ' || i, printf('%%.*c', 150, 'x') || i, 60 + (i %% 40) FROM s",
	    n);
	run(h, sql);
	sqlite3_close(h);
	t_build = now_s() - t0;
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", db, raw);
	if (system(cmd) != 0)
		die("cp", "failed");

	/* raw baseline: the plain ALTER on an identical copy */
	if (sqlite3_open(raw, &h) != SQLITE_OK)
		die("open", raw);
	t0 = now_s();
	run(h, "ALTER TABLE consultation ADD COLUMN duree INTEGER DEFAULT 30");
	t_raw = now_s() - t0;
	sqlite3_close(h);

	memset(dev, 0xb1, sizeof(dev));
	memset(&o, 0, sizeof(o));
	o.db_path = db;
	o.tables_ini = ini;
	o.device_id = dev;
	if (cs_engine_open(&e, &o) < 0)
		die("engine open", cs_engine_open_errmsg());
	t0 = now_s();
	if (cs_engine_install(e) < 0)
		die("install", cs_engine_errmsg(e));
	t_inst = now_s() - t0;
	check_all(e, 0, &calls, &tot);

	/* the app's ALTER on the engine's database, then the engine's re-check */
	t0 = now_s();
	run(cs_engine_handle(e), "ALTER TABLE consultation ADD COLUMN duree INTEGER DEFAULT 30");
	t_alter = now_s() - t0;
	t_first = now_s();
	{
		struct cs_upgrade_result r;

		if (cs_upgrade_check(e, 1, &r) < 0)
			die("check", cs_engine_errmsg(e));
		t_first = now_s() - t_first;
		t_check = t_first;
		if (r.pending) {
			t_check += check_all(e, 50, &calls, &tot);
			calls++;
		} else {
			calls = 1;
		}
	}

	/* the same with no check before the next apply: the whole check runs
	 * inside the apply's transaction (crash atomicity, upgrade.h) */
	run(cs_engine_handle(e), "ALTER TABLE consultation ADD COLUMN salle TEXT");
	memset(peer, 0xb2, sizeof(peer));
	cs_changeset_init(&cs);
	t0 = now_s();
	if (cs_engine_apply(e, &cs, peer, NULL) < 0)
		die("apply", cs_engine_errmsg(e));
	t_apply = now_s() - t0;
	cs_changeset_free(&cs);
	{
		struct cs_upgrade_result r;

		if (cs_upgrade_check(e, 0, &r) < 0 || r.schema_changed || r.pending)
			die("apply", "the check inside the apply left work");
	}

	/* for comparison: what a rebuilt table costs (every row against its hash) */
	run(cs_engine_handle(e),
	    "CREATE TABLE new_c(id INTEGER PRIMARY KEY, patient_id INTEGER, motif TEXT, notes "
	    "TEXT, "
	    "poids REAL, duree INTEGER DEFAULT 30, salle TEXT); INSERT INTO new_c SELECT * FROM "
	    "consultation; "
	    "DROP TABLE consultation; ALTER TABLE new_c RENAME TO consultation;");
	t_verify = check_all(e, 50, &calls_v, &tot);
	if (tot.rows_checked != (uint64_t)n || tot.rows_fixed != 0)
		die("verification", "unexpected row counts");

	printf("## App schema upgrade: ADD COLUMN on a %ld-row table\n\n", n);
	printf("| figure | raw SQLite | cabsync | cabsync / raw | goal |\n");
	printf("|---|---|---|---|---|\n");
	printf(
	    "| ALTER TABLE ADD COLUMN + engine re-check (%d calls of <= 50 ms) | %.4f s | %.4f s "
	    "| %.1fx | < 1 s |\n",
	    calls, t_raw, t_alter + t_check, (t_alter + t_check) / (t_raw > 0 ? t_raw : 1e-9));
	printf(
	    "| first re-check call (schema re-read, triggers re-created) | | %.4f s | | O(1) |\n",
	    t_first);
	printf("| ADD COLUMN, then the next apply (empty batch; the whole check inside its "
	       "transaction) | | %.4f s | | < 1 s |\n",
	    t_apply);
	cs_bench_goal("ALTER TABLE ADD COLUMN + engine re-check", t_alter + t_check, "<=", 1, "s");
	cs_bench_goal("ADD COLUMN, then the next apply", t_apply, "<=", 1, "s");
	printf("| verification of a rebuilt table (%d calls of <= 50 ms) | | %.2f s (%.2f us/row) "
	       "| | resumable |\n",
	    calls_v, t_verify, t_verify * 1e6 / (double)n);
	printf(
	    "\nMeasured: a %ld-row consultation table (built in %.1f s, engine install with the "
	    "hash baseline %.1f s); the plain ALTER on an identical copy vs. the same ALTER on the "
	    "engine's database followed by cs_upgrade_check() until nothing is pending (no clock "
	    "row written per row: the new cells carry each row's existence dot; the scan of the "
	    "new column finds writes made before the re-check). The rebuild line is the 12-step "
	    "rebuild's verification pass, not part of ADD COLUMN.\n",
	    n, t_build, t_inst);
	cs_engine_close(e);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_upgrade: cleanup of %s failed\n", dir);
	return 0;
}
