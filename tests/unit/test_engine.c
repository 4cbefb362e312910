/* Unit tests of sql/engine: capture, extract, apply, merge rules, conflicts. */
#include "engine_fixture.h"

#define A 0
#define B 1
#define C 2

static void
test_install_is_idempotent_and_uninstall_keeps_data(void **state)
{
	struct fx *f = fx_new(1);
	struct cs_engine *e = f->r[0].e;

	(void)state;
	fx_exec(e, "INSERT INTO patient(nom) VALUES('Durand')");
	assert_int_equal(cs_engine_install(e), 0);
	assert_int_equal(fx_int(e, "SELECT count(*) FROM cs_ids"), 1);
	assert_int_equal(fx_int(e, "SELECT v FROM cs_meta WHERE k='schema_version'"), 1);
	assert_true(cs_engine_installed(e));
	assert_int_equal(cs_engine_uninstall(e), 0);
	assert_int_equal(fx_int(e, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'cs_%'"), 0);
	assert_int_equal(fx_int(e, "SELECT count(*) FROM patient"), 1);
	assert_false(cs_engine_installed(e));
	/* rows written before install are registered as local inserts */
	fx_exec(e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'lombalgie')");
	assert_int_equal(cs_engine_install(e), 0);
	assert_int_equal(fx_int(e, "SELECT count(*) FROM cs_ids WHERE pat IS NOT NULL"), 2);
	fx_free(f);
}

static void
test_new_table_in_config_waits_for_install(void **state)
{
	struct fx *f = fx_new(1);
	struct cs_changeset cs;
	struct cs_engine_opts o = {0};
	char ini[1024];

	(void)state;
	cs_changeset_init(&cs);
	fx_exec(f->r[0].e,
	    "CREATE TABLE rdv(id INTEGER PRIMARY KEY, patient_id INTEGER, debut "
	    "TEXT); INSERT INTO patient(nom) VALUES('Durand'); INSERT INTO "
	    "rdv(patient_id, debut) VALUES(1, 'lundi')");
	cs_engine_close(f->r[0].e);
	snprintf(ini, sizeof(ini),
	    "%s[table rdv]\npk = id\nscope = patient_id\nfk = patient_id "
	    "-> patient\n",
	    fx_ini);
	fx_write(f->ini, ini);
	o.db_path = f->r[0].path;
	o.tables_ini = f->ini;
	o.device_id = f->r[0].dev;
	assert_int_equal(cs_engine_open(&f->r[0].e, &o), 0);
	assert_int_equal(cs_engine_extract(f->r[0].e, 0, NULL, NULL, 10, &cs), CS_SQL_ENOTINST);
	assert_non_null(strstr(cs_engine_errmsg(f->r[0].e), "rdv"));
	assert_int_equal(cs_engine_install(f->r[0].e), 0);
	assert_int_equal(cs_engine_extract(f->r[0].e, 0, NULL, NULL, 10, &cs), 0);
	assert_int_equal(cs.nrows, 2);
	cs_changeset_free(&cs);
	fx_free(f);
}

static void
test_newer_schema_is_refused(void **state)
{
	struct fx *f = fx_new(1);

	(void)state;
	fx_exec(f->r[0].e, "UPDATE cs_meta SET v=99 WHERE k='schema_version'");
	cs_engine_close(f->r[0].e);
	f->r[0].e = NULL;
	{
		struct cs_engine_opts o = {0};
		struct cs_engine *e = NULL;

		o.db_path = f->r[0].path;
		o.tables_ini = f->ini;
		o.device_id = f->r[0].dev;
		assert_int_equal(cs_engine_open(&e, &o), CS_SQL_ESCHEMA_NEW);
		assert_null(e);
		assert_non_null(strstr(cs_engine_open_errmsg(), "newer"));
	}
	f->n = 0;
	fx_free(f);
}

static void
expect_config_error(const char *ini, const char *needle)
{
	struct fx *f = fx_new(1);
	struct cs_engine_opts o = {0};
	struct cs_engine *e = NULL;

	fx_write(f->ini, ini);
	o.db_path = f->r[0].path;
	o.tables_ini = f->ini;
	o.device_id = f->r[0].dev;
	assert_int_equal(cs_engine_open(&e, &o), CS_SQL_ECONFIG);
	if (strstr(cs_engine_open_errmsg(), needle) == NULL)
		fail_msg("error '%s' lacks '%s'", cs_engine_open_errmsg(), needle);
	fx_free(f);
}

static void
test_config_errors_name_file_line_and_problem(void **state)
{
	(void)state;
	expect_config_error("[table patient]\nscope = self\n",
	    "tables.ini:1: [table patient] has no pk");
	expect_config_error("[table nosuch]\npk = id\nscope = self\n",
	    "tables.ini:1: table nosuch does not exist");
	expect_config_error("[table patient]\npk = idx\nscope = self\n", "has no column idx");
	expect_config_error(
	    "[table patient]\npk = id\nscope = self\n[table consultation]\npk = id\n"
	    "scope = patient_id\nfk = patient_id -> praticien\n",
	    "tables.ini:7: fk patient_id -> praticien points to a table that is not tracked");
	expect_config_error("[table patient]\npk = id\nscope = self\ncolour = blue\n",
	    "tables.ini:4: unknown key 'colour'");
	expect_config_error("[table patient]\npk = id\nscope = self\nlabel = nom ||| x\n",
	    "label of [table patient] is not a valid SQL expression");
	expect_config_error(
	    "[table patient]\npk = id\nscope = self\n[table consultation]\npk = id\n"
	    "scope = motif\n",
	    "tables.ini:6: scope column motif of consultation needs an fk");
}

static void
test_non_wal_database_is_refused_unless_asked(void **state)
{
	struct fx *f = fx_new(1);
	struct cs_engine_opts o = {0};
	struct cs_engine *e = NULL;
	char path[300];
	sqlite3 *db;

	(void)state;
	snprintf(path, sizeof(path), "%s/rollback.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, fx_schema + strlen("PRAGMA journal_mode=WAL;"), NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	o.db_path = path;
	o.tables_ini = f->ini;
	o.device_id = f->r[0].dev;
	assert_int_equal(cs_engine_open(&e, &o), CS_SQL_ENOTWAL);
	assert_non_null(strstr(cs_engine_open_errmsg(), "--enable-wal"));
	o.enable_wal = 1;
	assert_int_equal(cs_engine_open(&e, &o), 0);
	fx_assert_str(e, "PRAGMA journal_mode", "wal");
	cs_engine_close(e);
	fx_free(f);
}

static void
test_insert_records_one_whole_row_clock(void **state)
{
	struct fx *f = fx_new(1);
	struct cs_engine *e = f->r[0].e;

	(void)state;
	fx_exec(e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Léa')");
	assert_int_equal(fx_int(e, "SELECT count(*) FROM cs_ids"), 1);
	assert_int_equal(fx_int(e, "SELECT count(*) FROM cs_clock"), 0);
	assert_int_equal(fx_int(e, "SELECT cl FROM cs_ids"), 1);
	assert_int_equal(cs_engine_db_version(e), 1);
	/* patient scope: the patient's gid is its own */
	assert_int_equal(fx_int(e, "SELECT coalesce(pat, gid)=gid FROM cs_ids"), 1);
	fx_exec(e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'cervicalgie')");
	assert_int_equal(fx_int(e,
	                     "SELECT c.pat=p.gid FROM cs_ids c, cs_ids p WHERE c.rid=2 AND "
	                     "p.rid=1"),
	    1);
	assert_int_equal(cs_engine_db_version(e), 2);
	fx_free(f);
}

static void
test_update_records_only_changed_columns(void **state)
{
	struct fx *f = fx_new(1);
	struct cs_engine *e = f->r[0].e;
	uint64_t v;

	(void)state;
	fx_exec(e, "INSERT INTO patient(nom, prenom, email) VALUES('Durand', 'Léa', 'a@b')");
	fx_exec(e, "UPDATE patient SET nom='Durand', prenom='Lea', email='a@b'");
	assert_int_equal(fx_int(e, "SELECT count(*) FROM cs_clock"), 1);
	fx_assert_str(e,
	    "SELECT c.name FROM cs_clock k JOIN cs_cols c ON c.cid=k.cid AND "
	    "c.tid=1",
	    "prenom");
	v = cs_engine_db_version(e);
	fx_exec(e, "UPDATE patient SET nom='Durand'"); /* same value: nothing */
	assert_int_equal(cs_engine_db_version(e), v);
	fx_exec(e, "UPDATE patient SET prenom='Léa'"); /* in place, not a log */
	assert_int_equal(fx_int(e, "SELECT count(*) FROM cs_clock"), 1);
	assert_int_equal(cs_engine_db_version(e), v + 1);
	fx_free(f);
}

static void
test_delete_bumps_causal_length_and_drops_rowid_mapping(void **state)
{
	struct fx *f = fx_new(1);
	struct cs_engine *e = f->r[0].e;

	(void)state;
	fx_exec(e, "INSERT INTO patient(nom) VALUES('Durand'); UPDATE patient SET nom='D'");
	fx_exec(e, "DELETE FROM patient");
	assert_int_equal(fx_int(e, "SELECT cl FROM cs_ids"), 2);
	assert_int_equal(fx_int(e, "SELECT count(*) FROM cs_clock"), 0);
	fx_assert_str(e, "SELECT pk FROM cs_ids", "NULL");
	/* SQLite reuses rowid 1: a new row, a new gid */
	fx_exec(e, "INSERT INTO patient(nom) VALUES('Martin')");
	assert_int_equal(fx_int(e, "SELECT id FROM patient"), 1);
	assert_int_equal(fx_int(e, "SELECT count(*) FROM cs_ids"), 2);
	assert_int_equal(fx_int(e, "SELECT cl FROM cs_ids WHERE pk=1"), 1);
	fx_free(f);
}

static void
test_reinsert_on_tombstoned_pk_is_next_incarnation(void **state)
{
	struct fx *f = fx_new(1);
	struct cs_engine *e = f->r[0].e;

	(void)state;
	fx_exec(e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(e, "INSERT INTO document(uuid, patient_id, titre) VALUES('d1', 1, 'radio')");
	fx_exec(e, "DELETE FROM document");
	assert_int_equal(fx_int(e, "SELECT cl FROM cs_ids WHERE pk='d1'"), 2);
	fx_exec(e, "INSERT INTO document(uuid, patient_id, titre) VALUES('d1', 1, 'IRM')");
	assert_int_equal(fx_int(e, "SELECT cl FROM cs_ids WHERE pk='d1'"), 3);
	assert_int_equal(fx_int(e, "SELECT count(*) FROM cs_ids"), 2);
	/* INSERT OR REPLACE without recursive triggers: same gid, next odd CL */
	fx_exec(e, "INSERT OR REPLACE INTO document(uuid, patient_id, titre) VALUES('d1', 1, 'x')");
	assert_int_equal(fx_int(e, "SELECT cl FROM cs_ids WHERE pk='d1'"), 5);
	fx_exec(e, "PRAGMA recursive_triggers=ON");
	fx_exec(e, "INSERT OR REPLACE INTO document(uuid, patient_id, titre) VALUES('d1', 1, 'y')");
	assert_int_equal(fx_int(e, "SELECT cl FROM cs_ids WHERE pk='d1'"), 7);
	fx_free(f);
}

static void
test_insert_syncs_with_fk_translated(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r;

	(void)state;
	/* both PCs use id 1 for different patients: keys never collide */
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Léa')");
	fx_exec(f->r[A].e,
	    "INSERT INTO consultation(patient_id, motif, poids) VALUES(1, "
	    "'lombalgie', 61.5)");
	fx_exec(f->r[B].e, "INSERT INTO patient(nom, prenom) VALUES('Martin', 'Paul')");
	r = fx_sync(f, A, B);
	assert_int_equal(r.applied, 2);
	assert_int_equal(r.conflicts, 0);
	fx_sync(f, B, A);
	fx_assert_converged(f);
	fx_assert_str(f->r[B].e,
	    "SELECT p.nom FROM consultation c JOIN patient p ON "
	    "p.id=c.patient_id",
	    "Durand");
	fx_assert_str(f->r[B].e, "SELECT poids FROM consultation", "61.5");
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM patient"), 2);
	/* nothing applied is re-captured as a local edit of B */
	assert_int_equal(fx_int(f->r[B].e,
	                     "SELECT count(*) FROM cs_ids WHERE xs=(SELECT v FROM "
	                     "cs_meta WHERE k='site')"),
	    1);
	fx_free(f);
}

static void
test_same_batch_twice_is_applied_once(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	struct cs_apply_result r;
	uint64_t v;

	(void)state;
	cs_changeset_init(&cs);
	fx_exec(f->r[A].e,
	    "INSERT INTO patient(nom) VALUES('Durand'); UPDATE patient SET "
	    "prenom='Léa'");
	assert_int_equal(cs_engine_extract(f->r[A].e, 0, NULL, NULL, 100, &cs), 0);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, &r), 0);
	assert_int_equal(r.applied, 1);
	v = cs_engine_db_version(f->r[B].e);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, &r), 0);
	assert_int_equal(r.applied, 0);
	assert_int_equal(r.ignored, 1);
	assert_int_equal(cs_engine_db_version(f->r[B].e), v);
	fx_assert_converged(f);
	cs_changeset_free(&cs);
	fx_free(f);
}

static void
test_concurrent_edits_record_one_conflict_and_converge(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r1, r2;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Léa')");
	fx_sync(f, A, B);
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='Lea-A'");
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='Lea-B', email='b@x'");
	r1 = fx_sync(f, A, B);
	r2 = fx_sync(f, B, A);
	/* recorded on B, and on A unless B's record reached A first */
	assert_int_equal(r1.conflicts, 1);
	assert_true(r2.conflicts <= 1);
	fx_sync_all(f);
	fx_assert_converged(f);
	/* the conflict record is one row everywhere (keyed by the losing dot) */
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"), 1);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 1);
	fx_assert_str(f->r[A].e, "SELECT col FROM cs_conflicts", "prenom");
	/* B's email edit was not concurrent with anything */
	fx_assert_str(f->r[A].e, "SELECT email FROM patient", "b@x");
	{
		char *w = fx_q(f->r[A].e, "SELECT prenom FROM patient");
		char *l = fx_q(f->r[A].e, "SELECT lose_val FROM cs_conflicts");

		assert_true((strcmp(w, "Lea-A") == 0 && strcmp(l, "Lea-B") == 0) ||
		    (strcmp(w, "Lea-B") == 0 && strcmp(l, "Lea-A") == 0));
		free(w);
		free(l);
	}
	fx_free(f);
}

static void
test_sequential_edits_are_no_conflict(void **state)
{
	struct fx *f = fx_new(3);
	struct cs_apply_result r;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Léa')");
	fx_sync_all(f);
	/* A edits twice, B edits after seeing A's first edit only */
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='v1'");
	fx_sync(f, A, B);
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='v2'");
	fx_exec(f->r[B].e, "UPDATE patient SET nom='Dupont'");
	/* C skips v1 entirely and gets B's row first, then A's */
	r = fx_sync(f, B, C);
	assert_int_equal(r.conflicts, 0);
	r = fx_sync(f, A, C);
	assert_int_equal(r.conflicts, 0);
	fx_sync_all(f);
	fx_assert_converged(f);
	assert_int_equal(fx_int(f->r[C].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_assert_str(f->r[C].e, "SELECT prenom || nom FROM patient", "v2Dupont");
	fx_free(f);
}

static void
test_edit_vs_delete_records_conflict_and_delete_wins(void **state)
{
	struct fx *f = fx_new(2);

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'dos')");
	fx_sync(f, A, B);
	fx_exec(f->r[A].e, "DELETE FROM consultation");
	fx_exec(f->r[B].e, "UPDATE consultation SET notes='séance 2'");
	fx_sync_all(f);
	fx_assert_converged(f);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM consultation"), 0);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"), 1);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 1);
	fx_assert_str(f->r[A].e, "SELECT col || lose_val || win_del FROM cs_conflicts",
	    "notesséance 21");
	/* a delete that had seen the edit: no conflict */
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'genou')");
	fx_sync_all(f);
	fx_exec(f->r[B].e, "UPDATE consultation SET notes='x'");
	fx_sync_all(f);
	fx_exec(f->r[A].e, "DELETE FROM consultation");
	fx_sync_all(f);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 1);
	fx_assert_converged(f);
	fx_free(f);
}

static void
test_reinsert_after_remote_delete_converges(void **state)
{
	struct fx *f = fx_new(2);

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(f->r[A].e, "INSERT INTO document(uuid, patient_id, titre) VALUES('d1', 1, 'a')");
	fx_sync_all(f);
	fx_exec(f->r[A].e, "DELETE FROM document");
	fx_sync_all(f);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM document"), 0);
	fx_exec(f->r[B].e, "INSERT INTO document(uuid, patient_id, titre) VALUES('d1', 1, 'b')");
	assert_int_equal(fx_int(f->r[B].e, "SELECT cl FROM cs_ids WHERE pk='d1'"), 3);
	fx_sync_all(f);
	fx_assert_converged(f);
	fx_assert_str(f->r[A].e, "SELECT titre FROM document", "b");
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_free(f);
}

static void
test_blob_values_sync_byte_for_byte(void **state)
{
	struct fx *f = fx_new(2);
	sqlite3_stmt *st;
	uint8_t blob[300];
	int i;

	(void)state;
	for (i = 0; i < (int)sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7);
	blob[5] = 0;
	assert_int_equal(sqlite3_prepare_v2(cs_engine_handle(f->r[A].e),
	                     "INSERT INTO patient(nom, photo) VALUES('x', ?1)", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_blob(st, 1, blob, sizeof(blob), SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	fx_sync(f, A, B);
	assert_int_equal(sqlite3_prepare_v2(cs_engine_handle(f->r[B].e),
	                     "SELECT photo FROM patient", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(st, 0), SQLITE_BLOB);
	assert_int_equal(sqlite3_column_bytes(st, 0), sizeof(blob));
	assert_memory_equal(sqlite3_column_blob(st, 0), blob, sizeof(blob));
	sqlite3_finalize(st);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_install_is_idempotent_and_uninstall_keeps_data),
	    cmocka_unit_test(test_newer_schema_is_refused),
	    cmocka_unit_test(test_new_table_in_config_waits_for_install),
	    cmocka_unit_test(test_config_errors_name_file_line_and_problem),
	    cmocka_unit_test(test_non_wal_database_is_refused_unless_asked),
	    cmocka_unit_test(test_insert_records_one_whole_row_clock),
	    cmocka_unit_test(test_update_records_only_changed_columns),
	    cmocka_unit_test(test_delete_bumps_causal_length_and_drops_rowid_mapping),
	    cmocka_unit_test(test_reinsert_on_tombstoned_pk_is_next_incarnation),
	    cmocka_unit_test(test_insert_syncs_with_fk_translated),
	    cmocka_unit_test(test_same_batch_twice_is_applied_once),
	    cmocka_unit_test(test_concurrent_edits_record_one_conflict_and_converge),
	    cmocka_unit_test(test_sequential_edits_are_no_conflict),
	    cmocka_unit_test(test_edit_vs_delete_records_conflict_and_delete_wins),
	    cmocka_unit_test(test_reinsert_after_remote_delete_converges),
	    cmocka_unit_test(test_blob_values_sync_byte_for_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
