/*
 * tests/unit/test_apply_oom.c: allocation failures on the apply path
 * (issue 3 §4, STYLE.md §7 "fail each allocation index in turn").
 *
 * The engine routes SQLite's allocator through cs_malloc (sqlite_setup() in
 * sql/engine.c, SQLITE_CONFIG_MALLOC, done by the first cs_engine_open of the
 * process: this test makes that call before touching SQLite itself), so
 * cs_mem_fail_after() reaches both the engine's and SQLite's allocations.
 *
 * The batch applied is a realistic one: new rows with their children, updates,
 * a cascaded delete, a cell edited concurrently on both sides (a conflict to
 * record) and an edit against a delete. For every allocation index i, the
 * i-th and every later allocation fail during cs_engine_apply: the call must
 * return a clean error (CS_ENOMEM, or CS_SQL_ESQLITE naming SQLITE_NOMEM),
 * and the whole database file (app tables and cs_* tables) must be exactly as
 * before. Then the same with a single failed allocation (SQLite may recover:
 * then the result must be exactly the uninterrupted one). The final run
 * succeeds and equals a reference apply on a byte copy; nothing leaks
 * (cs_mem_live() back to its level once everything is closed, and LSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/change.h"
#include "base/err.h"
#include "base/mem.h"
#include "sql/engine.h"
#include "tests/sim/sim_db.h"
#include "tests/sim/sim_gen.h"
#include "tests/sim/sim_rng.h"

static const uint8_t DEV_A[CS_DEVID_LEN] = {0xaa, 1};
static const uint8_t DEV_B[CS_DEVID_LEN] = {0xbb, 2};

struct fx {
	char dir[128], src[200], tgt[200], base[200], ref[200];
	char schema_sql[512], ini[512];
	uint64_t now;
	struct cs_changeset batch;
	uint8_t site_a[CS_DEVID_LEN];
	char *before, *after; /* full dumps of tgt before/after the batch */
	long live0;
};

static struct fx F;

static uint64_t
fixed_clock(void *ctx)
{
	return *(uint64_t *)ctx;
}

static int
open_engine(struct cs_engine **e, const char *path, const uint8_t *dev)
{
	struct cs_engine_opts o;

	memset(&o, 0, sizeof(o));
	o.db_path = path;
	o.tables_ini = F.ini;
	o.device_id = dev;
	o.enable_wal = 1;
	o.now_ms = fixed_clock;
	o.now_ctx = &F.now;
	return cs_engine_open(e, &o);
}

static void
exec_ok(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sim_db_exec(db, "PRAGMA foreign_keys = ON"), SQLITE_OK);
	if (sim_db_exec(db, sql) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static char *
full_dump(const char *path)
{
	sqlite3 *db = NULL;
	char *d = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sim_dump_full(db, &d), 0);
	sqlite3_close(db);
	return d;
}

static void
copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[65536];
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

static void
remove_db(const char *path)
{
	char p[300];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

/* tgt := the base state (closed, checkpointed file). */
static void
restore_tgt(void)
{
	remove_db(F.tgt);
	copy_file(F.base, F.tgt);
}

static void
make_db(const char *path, const uint8_t *dev)
{
	struct cs_engine *e = NULL;
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sim_db_exec(db, "PRAGMA journal_mode = WAL"), SQLITE_OK);
	assert_int_equal(sim_db_exec_file(db, F.schema_sql), 0);
	sqlite3_close(db);
	assert_int_equal(open_engine(&e, path, dev), 0);
	assert_int_equal(cs_engine_install(e), 0);
	cs_engine_close(e);
}

/* Stream all of src after *cursor into one changeset (out). */
static void
extract_all(struct cs_engine *se, uint64_t *cursor, struct cs_changeset *out)
{
	int more = cs_engine_extract(se, *cursor, NULL, NULL, 100000, out);

	assert_int_equal(more, 0);
	*cursor = out->db_version;
}

static int
setup(void **state)
{
	struct cs_engine *se = NULL, *te = NULL, *probe = NULL;
	struct cs_engine_opts o;
	struct sim_rng rng;
	const char *src_dir = getenv("CS_SOURCE_DIR");
	uint64_t cursor = 0;
	struct cs_changeset first;

	(void)state;
	memset(&F, 0, sizeof(F));
	snprintf(F.schema_sql, sizeof(F.schema_sql), "%s/sql/demo/schema.sql",
	    src_dir != NULL ? src_dir : ".");
	snprintf(F.ini, sizeof(F.ini), "%s/sql/demo/tables.ini", src_dir != NULL ? src_dir : ".");
	/* the engine's first open routes SQLite through cs_malloc: before any sqlite3 call */
	memset(&o, 0, sizeof(o));
	o.db_path = "/nonexistent-dir-cs-oom/x.db";
	o.tables_ini = F.ini;
	o.device_id = DEV_A;
	assert_int_not_equal(cs_engine_open(&probe, &o), 0);
	snprintf(F.dir, sizeof(F.dir), "/tmp/cs_oom.XXXXXX");
	assert_non_null(mkdtemp(F.dir));
	snprintf(F.src, sizeof(F.src), "%s/src.db", F.dir);
	snprintf(F.tgt, sizeof(F.tgt), "%s/tgt.db", F.dir);
	snprintf(F.base, sizeof(F.base), "%s/base.db", F.dir);
	snprintf(F.ref, sizeof(F.ref), "%s/ref.db", F.dir);
	F.now = (uint64_t)time(NULL) * 1000 + 60000;
	make_db(F.src, DEV_A);
	make_db(F.tgt, DEV_B);
	/* src writes a small practice; tgt receives it */
	{
		sqlite3 *db = NULL;

		sim_rng_init(&rng, 7);
		assert_int_equal(sqlite3_open(F.src, &db), SQLITE_OK);
		assert_int_equal(sim_gen_practice(db, &rng, 3, 2), SQLITE_OK);
		sqlite3_close(db);
	}
	assert_int_equal(open_engine(&se, F.src, DEV_A), 0);
	cs_engine_site(se, F.site_a);
	cs_changeset_init(&first);
	extract_all(se, &cursor, &first);
	assert_int_equal(open_engine(&te, F.tgt, DEV_B), 0);
	assert_int_equal(cs_engine_apply(te, &first, F.site_a, NULL), 0);
	cs_changeset_free(&first);
	cs_engine_close(te);
	/* concurrent edits on both sides */
	exec_ok(F.src,
	    "UPDATE consultation SET motif = 'Motif vu par A' WHERE id = 1;"
	    "UPDATE patient SET telephone = '06 11 22 33 44', ville = 'Villeurbanne' "
	    "WHERE id = 1;"
	    "DELETE FROM patient WHERE id = 3;"
	    "INSERT INTO patient (nom, prenom, date_naissance, sexe, cree_le) VALUES "
	    "('Nouveau', 'Patient', '1990-01-01', 'F', '2026-03-01');"
	    "INSERT INTO consultation (patient_id, praticien, date_consultation, motif, "
	    "tarif_cents) VALUES (last_insert_rowid(), 'Claire Martin', "
	    "'2026-03-02T10:00', 'Première consultation', 5500);");
	exec_ok(F.tgt,
	    "UPDATE consultation SET motif = 'Motif vu par B' WHERE id = 1;"
	    "UPDATE consultation SET examen = 'Complété par B' WHERE patient_id = 3;");
	cs_changeset_init(&F.batch);
	extract_all(se, &cursor, &F.batch);
	assert_true(F.batch.nrows >= 5);
	cs_engine_close(se);
	/* the base state of tgt, and the reference result on a copy */
	assert_int_equal(open_engine(&te, F.tgt, DEV_B), 0);
	cs_engine_close(te); /* last connection: checkpointed, WAL removed */
	copy_file(F.tgt, F.base);
	copy_file(F.base, F.ref);
	F.before = full_dump(F.tgt);
	assert_int_equal(open_engine(&te, F.ref, DEV_B), 0);
	assert_int_equal(cs_engine_apply(te, &F.batch, F.site_a, NULL), 0);
	cs_engine_close(te);
	F.after = full_dump(F.ref);
	assert_string_not_equal(F.before, F.after);
	F.live0 = cs_mem_live();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cs_changeset_free(&F.batch);
	cs_free(F.before);
	cs_free(F.after);
	remove_db(F.src);
	remove_db(F.tgt);
	remove_db(F.base);
	remove_db(F.ref);
	rmdir(F.dir);
	return 0;
}

/* The first line where two dumps differ, to say what changed. */
static void
show_first_difference(const char *a, const char *b)
{
	size_t i = 0, start = 0;

	while (a[i] != '\0' && a[i] == b[i]) {
		if (a[i] == '\n')
			start = i + 1;
		i++;
	}
	print_message("  expected: %.160s\n  found:    %.160s\n", a + start, b + start);
}

static int
clean_error(int rc)
{
	return rc == CS_ENOMEM || rc == CS_SQL_ESQLITE || rc == CS_SQL_EFULL;
}

/*
 * Fail allocation i (and every later one if repeat) inside cs_engine_apply,
 * for i = 0, 1, ... until an apply runs with no failure.
 */
static void
fail_each_index(int repeat)
{
	struct cs_engine *te = NULL;
	struct cs_apply_result res;
	long i, failures = 0, absorbed = 0, enomem = 0;
	char *now = NULL;
	int rc;

	restore_tgt();
	assert_int_equal(open_engine(&te, F.tgt, DEV_B), 0);
	for (i = 0; i < 200000; i++) {
		memset(&res, 0, sizeof(res));
		cs_mem_fail_after(i, repeat);
		rc = cs_engine_apply(te, &F.batch, F.site_a, &res);
		cs_mem_fail_after(-1, 0);
		if (cs_mem_failed_count() == 0) {
			/* i is past the last allocation of the call: the clean run */
			if (rc != 0)
				fail_msg("apply without failure: %d %s", rc, cs_engine_errmsg(te));
			break;
		}
		failures++;
		now = full_dump(F.tgt);
		if (rc == 0) {
			/* SQLite recovered from the failure by itself: all or nothing */
			absorbed++;
			if (strcmp(now, F.after) != 0)
				show_first_difference(F.after, now);
			if (strcmp(now, F.after) != 0)
				fail_msg(
				    "allocation %ld failed, apply returned 0, and the database "
				    "is not the uninterrupted result",
				    i);
			cs_free(now);
			cs_engine_close(te);
			restore_tgt();
			assert_int_equal(open_engine(&te, F.tgt, DEV_B), 0);
			continue;
		}
		if (!sqlite3_get_autocommit(cs_engine_handle(te)))
			fail_msg("allocation %ld failed (apply -> %d: %s): the engine left a "
			         "transaction open",
			    i, rc, cs_engine_errmsg(te));
		if (!clean_error(rc))
			fail_msg("allocation %ld failed: apply returned %d (%s), not a clean error",
			    i, rc, cs_engine_errmsg(te));
		enomem += rc == CS_ENOMEM;
		if (strcmp(now, F.before) != 0)
			show_first_difference(F.before, now);
		if (strcmp(now, F.before) != 0)
			fail_msg("allocation %ld failed (apply -> %d: %s): the database changed", i,
			    rc, cs_engine_errmsg(te));
		cs_free(now);
		now = NULL;
	}
	assert_true(i < 200000);
	assert_true(failures > 10); /* the path really allocates, the hook really works */
	now = full_dump(F.tgt);
	assert_string_equal(now, F.after);
	cs_free(now);
	cs_engine_close(te);
	assert_int_equal(cs_mem_live(), F.live0);
	print_message("apply: %ld allocation indices failed (%s), %ld CS_ENOMEM, %ld absorbed by "
	              "SQLite; database unchanged after each error\n",
	    failures, repeat ? "all later ones too" : "one at a time", enomem, absorbed);
}

static void
test_apply_fails_cleanly_at_every_allocation(void **state)
{
	(void)state;
	fail_each_index(1);
}

static void
test_apply_survives_any_single_failed_allocation(void **state)
{
	(void)state;
	fail_each_index(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apply_fails_cleanly_at_every_allocation),
	    cmocka_unit_test(test_apply_survives_any_single_failed_allocation),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
