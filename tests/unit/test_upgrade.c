/* Unit tests of sql/upgrade: app schema upgrades (ADD COLUMN, new tables,
 * the 12-step rebuild that drops the triggers, old-version receivers). */
#include "engine_fixture.h"

#include <errno.h>

#include "sql/upgrade.h"

#define A 0
#define B 1
#define C 2

/* Run the check with a small budget until nothing is pending; sum it up. */
static struct cs_upgrade_result
check_all(struct cs_engine *e, uint32_t budget_ms)
{
	struct cs_upgrade_result tot, r;
	int rounds = 0;

	memset(&tot, 0, sizeof(tot));
	do {
		if (cs_upgrade_check(e, budget_ms, &r) < 0)
			fail_msg("check: %s", cs_engine_errmsg(e));
		tot.schema_changed |= r.schema_changed;
		tot.tables_added += r.tables_added;
		tot.columns_added += r.columns_added;
		tot.tables_rebuilt += r.tables_rebuilt;
		tot.rows_checked += r.rows_checked;
		tot.rows_fixed += r.rows_fixed;
		assert_true(++rounds < 100000);
	} while (r.pending);
	return tot;
}

/* Run `sqlite3 DB < script` as a real child process (any writer is captured,
 * or found by the verification pass when the triggers are gone). */
static void
shell(struct fx *f, int i, const char *script)
{
	char path[300], cmd[700];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/script.sql", f->dir);
	if ((fp = fopen(path, "w")) == NULL)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	fputs(script, fp);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "sqlite3 -bail '%s' < '%s'", f->r[i].path, path);
	if (system(cmd) != 0)
		fail_msg("sqlite3 shell failed: %s", cmd);
}

static void
test_add_column_syncs_to_an_upgraded_replica(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_upgrade_result r;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand'), ('Martin')");
	fx_sync(f, A, B);
	fx_exec(f->r[A].e, "ALTER TABLE patient ADD COLUMN allergies TEXT");
	fx_exec(f->r[B].e, "ALTER TABLE patient ADD COLUMN allergies TEXT");
	/* written before the engine re-checked: the old triggers do not see it */
	fx_exec(f->r[A].e, "UPDATE patient SET allergies='pollen' WHERE nom='Durand'");
	r = check_all(f->r[A].e, 0);
	assert_true(r.schema_changed);
	assert_int_equal(r.columns_added, 1);
	assert_int_equal(r.rows_fixed, 1);
	/* ADD COLUMN wrote no clock row per row */
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_clock"), 1);
	fx_sync(f, A, B);
	fx_assert_str(f->r[B].e, "SELECT allergies FROM patient WHERE nom='Durand'", "pollen");
	fx_assert_str(f->r[B].e, "SELECT allergies FROM patient WHERE nom='Martin'", "NULL");
	/* after the re-check, edits of the new column are captured like any */
	fx_exec(f->r[B].e, "UPDATE patient SET allergies='latex' WHERE nom='Martin'");
	fx_sync(f, B, A);
	fx_assert_str(f->r[A].e, "SELECT allergies FROM patient WHERE nom='Martin'", "latex");
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"), 0);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_free(f);
}

static void
test_add_column_without_explicit_check_is_caught_by_the_sync(void **state)
{
	struct fx *f = fx_new(2);

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_sync(f, A, B);
	fx_exec(f->r[A].e, "ALTER TABLE patient ADD COLUMN taille INTEGER DEFAULT 170");
	fx_exec(f->r[B].e, "ALTER TABLE patient ADD COLUMN taille INTEGER DEFAULT 170");
	fx_exec(f->r[A].e, "UPDATE patient SET taille=182");
	/* no cs_upgrade_check call: extract's guard runs it */
	fx_sync(f, A, B);
	fx_assert_str(f->r[B].e, "SELECT taille FROM patient", "182");
	fx_free(f);
}

/* Prisma's "RedefineTables" for SQLite: new table, copy, drop, rename. */
static const char prisma_rebuild[] =
    "PRAGMA defer_foreign_keys=ON;\n"
    "PRAGMA foreign_keys=OFF;\n"
    "CREATE TABLE \"new_consultation\" (id INTEGER PRIMARY KEY, patient_id INTEGER REFERENCES "
    "patient(id) ON DELETE CASCADE, motif TEXT, notes TEXT, poids REAL, duree INTEGER NOT NULL "
    "DEFAULT 30);\n"
    "INSERT INTO \"new_consultation\" (id, patient_id, motif, notes, poids) SELECT id, "
    "patient_id, motif, notes, poids FROM \"consultation\";\n"
    "DROP TABLE \"consultation\";\n"
    "ALTER TABLE \"new_consultation\" RENAME TO \"consultation\";\n"
    "PRAGMA foreign_key_check;\n"
    "PRAGMA foreign_keys=ON;\n";

static void
test_prisma_rebuild_writes_before_reinstall_are_found(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_upgrade_result r;
	char script[4096];

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(f->r[A].e,
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600) "
	    "INSERT INTO consultation(patient_id, motif, poids) SELECT 1, 'suivi', 70.5 FROM n");
	fx_sync(f, A, B);
	assert_int_equal(cs_upgrade_check(f->r[A].e, 0, &r), 0);
	/* the app upgrades (rebuild drops the capture triggers), then writes
	 * before the engine notices: an edit, an insert and a delete */
	snprintf(script, sizeof(script),
	    "%sUPDATE consultation SET motif='lombalgie', duree=45 WHERE id=7;\n"
	    "INSERT INTO consultation(patient_id, motif) VALUES(1, 'nouvelle');\n"
	    "DELETE FROM consultation WHERE id=9;\n"
	    "UPDATE consultation SET notes='vu' WHERE id=599;\n",
	    prisma_rebuild);
	shell(f, A, script);
	assert_int_equal(fx_int(f->r[A].e,
	                     "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND "
	                     "tbl_name='consultation'"),
	    0);
	shell(f, B, prisma_rebuild);
	/* small budget: the pass is resumable across calls */
	r = check_all(f->r[A].e, 1);
	assert_int_equal(r.tables_rebuilt, 1);
	assert_int_equal(r.columns_added, 1);
	assert_int_equal(r.rows_checked, 600); /* 600 - 1 deleted + 1 new */
	assert_int_equal(r.rows_fixed, 4);
	assert_int_equal(fx_int(f->r[A].e,
	                     "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND "
	                     "tbl_name='consultation'"),
	    3);
	/* only the cells that differ became local edits */
	assert_int_equal(
	    fx_int(f->r[A].e,
	        "SELECT count(*) FROM cs_clock WHERE rid=(SELECT rid FROM cs_ids WHERE "
	        "tid=(SELECT tid FROM cs_tables WHERE name='consultation') AND pk=7)"),
	    2);
	fx_sync(f, A, B);
	fx_assert_str(f->r[B].e, "SELECT motif || duree FROM consultation WHERE id=7",
	    "lombalgie45");
	fx_assert_str(f->r[B].e, "SELECT notes FROM consultation WHERE id=599", "vu");
	fx_assert_str(f->r[B].e, "SELECT count(*) FROM consultation", "600");
	fx_assert_str(f->r[B].e, "SELECT count(*) FROM consultation WHERE motif='nouvelle'", "1");
	fx_assert_str(f->r[B].e, "SELECT count(*) FROM consultation WHERE id=9", "0");
	fx_assert_converged(f);
	/* and a second check finds nothing more */
	r = check_all(f->r[A].e, 0);
	assert_int_equal(r.rows_fixed, 0);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_free(f);
}

static void
test_rebuild_changing_a_column_type_syncs_the_converted_values(void **state)
{
	struct fx *f = fx_new(2);
	static const char retype[] =
	    "PRAGMA foreign_keys=OFF;\n"
	    "CREATE TABLE new_consultation(id INTEGER PRIMARY KEY, patient_id INTEGER, motif TEXT, "
	    "notes TEXT, poids TEXT);\n"
	    "INSERT INTO new_consultation SELECT id, patient_id, motif, notes, poids FROM "
	    "consultation;\n"
	    "DROP TABLE consultation;\n"
	    "ALTER TABLE new_consultation RENAME TO consultation;\n"
	    "UPDATE consultation SET poids='71,5 kg' WHERE motif='b';\n";

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(f->r[A].e,
	    "INSERT INTO consultation(patient_id, motif, poids) VALUES(1, 'a', 70.5), "
	    "(1, 'b', 71.5), (1, 'c', NULL)");
	fx_sync(f, A, B);
	shell(f, A, retype);
	check_all(f->r[A].e, 0);
	fx_sync(f, A, B);
	/* B still has poids REAL: it gets the text and keeps what SQLite makes of it */
	fx_assert_str(f->r[B].e, "SELECT poids FROM consultation WHERE motif='b'", "71,5 kg");
	fx_assert_str(f->r[B].e, "SELECT typeof(poids) FROM consultation WHERE motif='a'", "real");
	fx_assert_str(f->r[A].e, "SELECT typeof(poids) FROM consultation WHERE motif='a'", "text");
	fx_free(f);
}

static void
test_uninstall_removes_the_upgrade_tables(void **state)
{
	struct fx *f = fx_new(1);

	(void)state;
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_rowhash"), 0);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	check_all(f->r[A].e, 0);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_rowhash"), 1);
	assert_int_equal(cs_engine_uninstall(f->r[A].e), 0);
	assert_int_equal(fx_int(f->r[A].e,
	                     "SELECT count(*) FROM sqlite_master WHERE name LIKE "
	                     "'cs\\_%' ESCAPE '\\'"),
	    0);
	fx_free(f);
}

/* Reopen replica i with its own tables INI (another app version). */
static void
reopen_with_ini(struct fx *f, int i, const char *ini_text)
{
	struct cs_engine_opts o;
	char path[300];

	snprintf(path, sizeof(path), "%s/tables%d.ini", f->dir, i);
	fx_write(path, ini_text);
	cs_engine_close(f->r[i].e);
	memset(&o, 0, sizeof(o));
	o.db_path = f->r[i].path;
	o.tables_ini = path;
	o.device_id = f->r[i].dev;
	o.now_ms = fx_clock;
	o.now_ctx = f;
	if (cs_engine_open(&f->r[i].e, &o) < 0)
		fail_msg("open: %s", cs_engine_open_errmsg());
}

static void
test_old_version_receiver_gets_new_column_after_its_upgrade(void **state)
{
	struct fx *f = fx_new(3);
	struct cs_upgrade_result r;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand'), ('Martin')");
	fx_sync(f, A, B);
	fx_sync(f, A, C);
	/* A's app upgrades and writes the new column; B and C are still old */
	fx_exec(f->r[A].e, "ALTER TABLE patient ADD COLUMN allergies TEXT");
	check_all(f->r[A].e, 0);
	fx_exec(f->r[A].e,
	    "UPDATE patient SET allergies='pollen', prenom='Léa' WHERE nom='Durand'");
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, allergies) VALUES('Petit', 'latex')");
	/* B still receives the columns it knows */
	fx_sync(f, A, B);
	fx_assert_str(f->r[B].e, "SELECT prenom FROM patient WHERE nom='Durand'", "Léa");
	fx_assert_str(f->r[B].e, "SELECT count(*) FROM patient", "3");
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_xcell"), 2);
	/* B's own edits still flow back to A */
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='Paul' WHERE nom='Martin'");
	fx_sync(f, B, A);
	fx_assert_str(f->r[A].e, "SELECT prenom FROM patient WHERE nom='Martin'", "Paul");
	/* C (upgraded) only talks to B: the kept cells travel on through B */
	fx_exec(f->r[C].e, "ALTER TABLE patient ADD COLUMN allergies TEXT");
	check_all(f->r[C].e, 0);
	fx_sync(f, B, C);
	fx_assert_str(f->r[C].e, "SELECT allergies FROM patient WHERE nom='Durand'", "pollen");
	fx_assert_str(f->r[C].e, "SELECT allergies FROM patient WHERE nom='Petit'", "latex");
	/* B upgrades: nothing was lost while it waited */
	fx_exec(f->r[B].e, "ALTER TABLE patient ADD COLUMN allergies TEXT");
	r = check_all(f->r[B].e, 0);
	assert_int_equal(r.columns_added, 1);
	fx_assert_str(f->r[B].e, "SELECT allergies FROM patient WHERE nom='Durand'", "pollen");
	fx_assert_str(f->r[B].e, "SELECT allergies FROM patient WHERE nom='Petit'", "latex");
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_xcell"), 0);
	/* and a later edit of the column by B reaches everyone */
	fx_exec(f->r[B].e, "UPDATE patient SET allergies='aucune' WHERE nom='Martin'");
	fx_sync_all(f);
	fx_assert_str(f->r[A].e, "SELECT allergies FROM patient WHERE nom='Martin'", "aucune");
	fx_assert_str(f->r[C].e, "SELECT allergies FROM patient WHERE nom='Martin'", "aucune");
	fx_assert_str(f->r[A].e, "SELECT group_concat(allergies) FROM patient ORDER BY nom",
	    "pollen,aucune,latex");
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_free(f);
}

static const char rdv_ini[] = "[table rdv]\npk = id\nscope = patient_id\n"
                              "fk = patient_id -> patient\n";

static void
test_new_tracked_table_waits_on_old_receivers(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_upgrade_result r;
	char ini[2048];

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_sync(f, A, B);
	/* A's app adds a table and A's INI tracks it */
	fx_exec(f->r[A].e,
	    "CREATE TABLE rdv(id INTEGER PRIMARY KEY, patient_id INTEGER, debut "
	    "TEXT); INSERT INTO rdv(patient_id, debut) VALUES(1, 'lundi 9h')");
	snprintf(ini, sizeof(ini), "%s%s", fx_ini, rdv_ini);
	reopen_with_ini(f, A, ini);
	r = check_all(f->r[A].e, 0);
	assert_int_equal(r.tables_added, 1);
	fx_exec(f->r[A].e, "INSERT INTO rdv(patient_id, debut) VALUES(1, 'mardi 10h')");
	/* B (old app): the rdv rows wait, the rest syncs */
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='Léa'");
	fx_sync(f, A, B);
	fx_assert_str(f->r[B].e, "SELECT prenom FROM patient", "Léa");
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_held"), 2);
	/* B upgrades: table, INI; the held rows apply */
	fx_exec(f->r[B].e,
	    "CREATE TABLE rdv(id INTEGER PRIMARY KEY, patient_id INTEGER, debut "
	    "TEXT)");
	reopen_with_ini(f, B, ini);
	r = check_all(f->r[B].e, 0);
	assert_int_equal(r.tables_added, 1);
	fx_assert_str(f->r[B].e,
	    "SELECT group_concat(debut, ', ') FROM (SELECT debut FROM rdv "
	    "ORDER BY id)",
	    "lundi 9h, mardi 10h");
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_held"), 0);
	fx_free(f);
}

/* `cabsync db check` in another process while the agent's engine is open:
 * the open engine notices the check's fingerprint and re-reads the schema,
 * so it syncs the new column too, and nothing is checked twice. */
static void
test_check_by_another_process_reaches_the_open_engine(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_engine_opts o;
	struct cs_engine *other = NULL;
	struct cs_upgrade_result r;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand'), ('Martin')");
	fx_sync(f, A, B);
	fx_exec(f->r[B].e, "ALTER TABLE patient ADD COLUMN allergies TEXT");
	fx_exec(f->r[A].e, "ALTER TABLE patient ADD COLUMN allergies TEXT");
	fx_exec(f->r[A].e, "UPDATE patient SET allergies='pollen' WHERE nom='Durand'");
	memset(&o, 0, sizeof(o));
	o.db_path = f->r[A].path;
	o.tables_ini = f->ini;
	o.device_id = f->r[A].dev;
	assert_int_equal(cs_engine_open(&other, &o), 0);
	assert_int_equal(cs_upgrade_check(other, 0, &r), 0);
	assert_true(r.schema_changed);
	assert_int_equal(r.rows_fixed, 1);
	cs_engine_close(other);
	/* captured by the triggers the other engine re-created */
	fx_exec(f->r[A].e, "UPDATE patient SET allergies='latex' WHERE nom='Martin'");
	fx_sync(f, A, B);
	fx_assert_str(f->r[B].e, "SELECT allergies FROM patient WHERE nom='Durand'", "pollen");
	fx_assert_str(f->r[B].e, "SELECT allergies FROM patient WHERE nom='Martin'", "latex");
	/* the open engine found nothing more to record */
	assert_int_equal(cs_upgrade_check(f->r[A].e, 0, &r), 0);
	assert_int_equal(r.rows_fixed, 0);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_column_syncs_to_an_upgraded_replica),
	    cmocka_unit_test(test_add_column_without_explicit_check_is_caught_by_the_sync),
	    cmocka_unit_test(test_prisma_rebuild_writes_before_reinstall_are_found),
	    cmocka_unit_test(test_rebuild_changing_a_column_type_syncs_the_converted_values),
	    cmocka_unit_test(test_uninstall_removes_the_upgrade_tables),
	    cmocka_unit_test(test_old_version_receiver_gets_new_column_after_its_upgrade),
	    cmocka_unit_test(test_new_tracked_table_waits_on_old_receivers),
	    cmocka_unit_test(test_check_by_another_process_reaches_the_open_engine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
