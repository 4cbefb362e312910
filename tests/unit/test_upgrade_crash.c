/*
 * Crash atomicity of an apply that meets an app schema upgrade (sql/upgrade.h
 * "Crash atomicity"): the receiver's app added a column and rebuilt a table
 * (its capture triggers dropped) and wrote behind the engine's back; the
 * next cs_engine_apply finds it, re-installs the triggers, records the
 * missed writes, applies the batch and writes the row hashes. The apply is
 * cut at every write (or a spread of them) by the simulator's VFS crash
 * point (tests/sim/sim_vfs.h: a power cut as the files would show it);
 * after SQLite's recovery the whole file, schema included, must be exactly
 * as before or exactly as after the uninterrupted apply, and re-applying
 * must give the uninterrupted result. Also: an apply with no schema change
 * writes nothing outside its transaction even on a freshly opened engine.
 */
/* (the fixture's sync helpers are not used here) */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "engine_fixture.h"

#include <errno.h>

#include "sql/upgrade.h"
#include "tests/sim/sim_db.h"
#include "tests/sim/sim_vfs.h"

#define A        0
#define B        1
#define MAX_CUTS 48

/* The crash runs' clock: fixed (so that every run writes the same bytes),
 * a minute after the wall clock the fixture's engines use. */
static struct sim_vfs vfs;

static uint64_t
vfs_clock(void *ctx)
{
	(void)ctx;
	return vfs.now_ms;
}

static void
copy_file(const char *from, const char *to)
{
	char buf[65536];
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	size_t n;

	if (in == NULL || out == NULL)
		fail_msg("copy %s -> %s: %s", from, to, strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

/* A fresh working copy of the prepared receiver (no WAL left behind). */
static void
fresh_copy(const char *base, const char *work)
{
	char p[400];

	copy_file(base, work);
	snprintf(p, sizeof(p), "%s-wal", work);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", work);
	unlink(p);
}

/* The receiver's app upgrade, run by the app while the engine is open: ADD
 * COLUMN and a write to it, then a Prisma-style rebuild (the capture
 * triggers of consultation dropped) and an edit, an insert and a delete
 * that no trigger sees. */
static const char app_upgrade[] =
    "ALTER TABLE patient ADD COLUMN allergies TEXT;"
    "UPDATE patient SET allergies='pollen' WHERE nom='Durand';"
    "PRAGMA foreign_keys=OFF;"
    "CREATE TABLE new_consultation (id INTEGER PRIMARY KEY, patient_id INTEGER REFERENCES "
    "patient(id) ON DELETE CASCADE, motif TEXT, notes TEXT, poids REAL);"
    "INSERT INTO new_consultation SELECT id, patient_id, motif, notes, poids FROM consultation;"
    "DROP TABLE consultation;"
    "ALTER TABLE new_consultation RENAME TO consultation;"
    "PRAGMA foreign_keys=ON;"
    "UPDATE consultation SET motif='lombalgie' WHERE id=(SELECT min(id) + 6 FROM "
    "consultation);"
    "INSERT INTO consultation(patient_id, motif) VALUES((SELECT min(id) FROM patient), "
    "'nouvelle');"
    "DELETE FROM consultation WHERE id=(SELECT min(id) + 8 FROM consultation);";

static struct cs_engine *
open_via_vfs(const char *path, const char *ini, const uint8_t *dev, const char *app_sql)
{
	struct cs_engine_opts o;
	struct cs_engine *e = NULL;
	char uri[400];

	snprintf(uri, sizeof(uri), "file:%s?vfs=%s", path, vfs.name);
	memset(&o, 0, sizeof(o));
	o.db_path = uri;
	o.tables_ini = ini;
	o.device_id = dev;
	o.now_ms = vfs_clock;
	if (cs_engine_open(&e, &o) != 0)
		fail_msg("open %s: %s", uri, cs_engine_open_errmsg());
	if (app_sql != NULL) {
		fx_exec(e, app_sql);
		assert_int_equal(fx_int(e,
		                     "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND "
		                     "tbl_name='consultation'"),
		    0);
	}
	return e;
}

/* Every table (sim_dump_full) and the schema itself (triggers included). */
static char *
dump(sqlite3 *db)
{
	struct sbuf b;
	sqlite3_stmt *st = NULL;
	char *rows = NULL;

	if (sim_dump_full(db, &rows) != 0)
		fail_msg("dump failed");
	sb_init(&b);
	sb_printf(&b, "%s", rows);
	cs_free(rows);
	assert_int_equal(sqlite3_prepare_v2(db,
	                     "SELECT type, name, rootpage, sql FROM sqlite_master ORDER BY 1, 2",
	                     -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		sb_printf(&b, "schema %s %s %lld %s\n", sqlite3_column_text(st, 0),
		    sqlite3_column_text(st, 1), (long long)sqlite3_column_int64(st, 2),
		    sqlite3_column_type(st, 3) == SQLITE_NULL
		        ? "-"
		        : (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	assert_false(b.err);
	return b.p;
}

static int
apply_seeded(struct cs_engine *e, const struct cs_changeset *cs, const uint8_t *from)
{
	sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, 4242, NULL);
	return cs_engine_apply(e, cs, from, NULL);
}

/* 1 when some text cell of cs holds want. */
static int
has_text(const struct cs_changeset *cs, const char *want)
{
	uint32_t i;

	for (i = 0; i < cs->ncells; i++)
		if (cs->cells[i].v.type == CS_V_TEXT && cs->cells[i].v.len == strlen(want) &&
		    memcmp(cs->cells[i].v.p, want, strlen(want)) == 0)
			return 1;
	return 0;
}

/*
 * Open base (a receiver file), let its app run app_sql (or not), then cut
 * the apply of cs at every write (at most MAX_CUTS of them, spread); how
 * many cuts left "before" in *nb, "after" in *na.
 */
static void
cut_everywhere(struct fx *f, const char *base, const struct cs_changeset *cs, const char *app_sql,
    int *nb, int *na)
{
	char work[300], *before = NULL, *after = NULL, *now = NULL, msg[200];
	struct cs_engine *e;
	long w0, writes, k, step, cuts = 0;
	sqlite3 *db;
	char uri[400];

	snprintf(work, sizeof(work), "%s/work.db", f->dir);
	/* the reference: uninterrupted, on a freshly opened engine */
	fresh_copy(base, work);
	e = open_via_vfs(work, f->ini, f->r[B].dev, app_sql);
	before = dump(cs_engine_handle(e));
	w0 = vfs.writes;
	if (apply_seeded(e, cs, f->r[A].dev) != 0)
		fail_msg("reference apply: %s", cs_engine_errmsg(e));
	writes = vfs.writes - w0;
	after = dump(cs_engine_handle(e));
	assert_true(writes > 0);
	assert_string_not_equal(before, after);
	if (app_sql != NULL) {
		/* the apply did the upgrade work: the missed writes travel now */
		struct cs_changeset out;
		struct cs_upgrade_result r;

		cs_changeset_init(&out);
		assert_true(cs_engine_extract(e, 0, NULL, NULL, 100000, &out) >= 0);
		assert_true(has_text(&out, "pollen"));    /* after ADD COLUMN */
		assert_true(has_text(&out, "lombalgie")); /* after the rebuild */
		assert_true(has_text(&out, "nouvelle"));
		cs_changeset_free(&out);
		assert_int_equal(cs_upgrade_check(e, 0, &r), 0);
		assert_false(r.schema_changed);
		assert_int_equal(r.rows_fixed, 0);
		assert_int_equal(fx_int(e,
		                     "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND "
		                     "tbl_name='consultation' AND name LIKE 'cs%'"),
		    3);
	}
	cs_engine_close(e);
	step = writes > MAX_CUTS ? writes / MAX_CUTS : 1;
	*nb = *na = 0;
	for (k = 0; k < writes; k += step) {
		fresh_copy(base, work);
		e = open_via_vfs(work, f->ini, f->r[B].dev, app_sql);
		sim_vfs_crash_after(&vfs, k);
		(void)apply_seeded(e, cs, f->r[A].dev);
		cs_engine_close(e);
		sim_vfs_crash_after(&vfs, -1);
		/* reopen: SQLite's WAL recovery */
		snprintf(uri, sizeof(uri), "file:%s?vfs=%s", work, vfs.name);
		assert_int_equal(
		    sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL),
		    SQLITE_OK);
		if (!sim_db_integrity_ok(db, msg, sizeof(msg)))
			fail_msg("cut at write %ld of %ld: integrity_check: %s", k, writes, msg);
		now = dump(db);
		sqlite3_close(db);
		if (strcmp(now, before) == 0)
			(*nb)++;
		else if (strcmp(now, after) == 0)
			(*na)++;
		else
			fail_msg(
			    "cut at write %ld of %ld: the database is neither as before nor as "
			    "after the apply",
			    k, writes);
		cs_free(now);
		/* the agent restarts (its poll takes a committed upgrade in, as
		 * cabsync's daemon does at start) and the sender resends: the
		 * same result as without the crash */
		e = open_via_vfs(work, f->ini, f->r[B].dev, NULL);
		sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, 4242, NULL);
		if (cs_upgrade_poll(e, 0) != 0)
			fail_msg("poll after cut %ld: %s", k, cs_engine_errmsg(e));
		if (apply_seeded(e, cs, f->r[A].dev) != 0)
			fail_msg("re-apply after cut %ld: %s", k, cs_engine_errmsg(e));
		now = dump(cs_engine_handle(e));
		cs_engine_close(e);
		if (strcmp(now, after) != 0)
			fail_msg("cut at write %ld of %ld: re-applying gives another result", k,
			    writes);
		cs_free(now);
		cuts++;
	}
	assert_true(cuts > 0);
	cs_free(before);
	cs_free(after);
}

/* Prepare A's batch for B; B's file closed and copied to base. */
static void
prepare(struct fx *f, const char *base, struct cs_changeset *cs)
{
	uint8_t site[CS_DEVID_LEN];
	char wal[300];

	cs_engine_site(f->r[B].e, site);
	cs_changeset_init(cs);
	assert_true(cs_engine_extract(f->r[A].e, f->cur[A][B], site, NULL, 100000, cs) >= 0);
	assert_true(cs->nrows > 0);
	cs_engine_close(f->r[B].e);
	f->r[B].e = NULL;
	snprintf(wal, sizeof(wal), "%s-wal", f->r[B].path);
	assert_int_equal(access(wal, F_OK), -1); /* checkpointed at close */
	copy_file(f->r[B].path, base);
	assert_int_equal(fx_open_one(f, B), 0);
}

static void
seed_data(struct fx *f)
{
	fx_exec(f->r[A].e,
	    "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Anne'), "
	    "('Martin', 'Paul')");
	fx_exec(f->r[A].e,
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) "
	    "INSERT INTO consultation(patient_id, motif, poids) SELECT 1 + i % 2, 'suivi', 70.5 "
	    "FROM n");
	fx_sync(f, A, B);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM consultation"), 40);
}

static void
test_apply_after_an_upgrade_is_all_or_nothing(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	char base[300];
	int nb, na;

	(void)state;
	seed_data(f);
	/* the sender upgraded too and edits (the new column among others) */
	fx_exec(f->r[A].e, "ALTER TABLE patient ADD COLUMN allergies TEXT");
	assert_int_equal(cs_upgrade_check(f->r[A].e, 0, NULL), 0);
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='Paula', allergies='latex' WHERE id=2");
	fx_exec(f->r[A].e, "UPDATE consultation SET notes='revu' WHERE id IN (3, 4, 5)");
	fx_exec(f->r[A].e, "DELETE FROM consultation WHERE id=11");
	/* the receiver's app upgrades and writes before the engine notices
	 * (app_upgrade, in cut_everywhere), then the batch arrives */
	snprintf(base, sizeof(base), "%s/base.db", f->dir);
	prepare(f, base, &cs);
	cut_everywhere(f, base, &cs, app_upgrade, &nb, &na);
	print_message("upgrade + apply: %d cuts left 'before', %d 'after'\n", nb, na);
	assert_true(nb > 0);
	cs_changeset_free(&cs);
	fx_free(f);
}

static void
test_apply_without_schema_change_writes_only_its_transaction(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	char base[300];
	int nb, na;

	(void)state;
	seed_data(f);
	/* local captures on the receiver not hashed yet (the apply does it) */
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='Jean' WHERE id=1");
	fx_exec(f->r[A].e, "UPDATE consultation SET notes='revu' WHERE id IN (3, 4, 5)");
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Petit')");
	snprintf(base, sizeof(base), "%s/base.db", f->dir);
	prepare(f, base, &cs);
	cut_everywhere(f, base, &cs, NULL, &nb, &na);
	assert_true(nb > 0);
	cs_changeset_free(&cs);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apply_after_an_upgrade_is_all_or_nothing),
	    cmocka_unit_test(test_apply_without_schema_change_writes_only_its_transaction),
	};
	int rc;

	if (sim_vfs_register(&vfs, "u2crash") != SQLITE_OK)
		return 1;
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		vfs.now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 60000u;
	}
	sim_vfs_crash_after(&vfs, -1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	sim_vfs_unregister(&vfs);
	return rc;
}
