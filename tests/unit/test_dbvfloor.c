/*
 * tests/unit/test_dbvfloor.c: a device's db_version never goes back
 * (docs/TESTING.md, soak bug 4). The db_version is the highest v in cs_ids;
 * a purge (revoke) or a removal (scope move) deletes row records, and when
 * those held the highest v, the next local writes reused db_versions that
 * peers' cursors had already passed: the writes never left the device.
 */
#include "engine_fixture.h"

enum { A = 0, B = 1 };

static void
gid_of(struct cs_engine *e, const char *nom, uint8_t out[CS_GID_LEN])
{
	sqlite3_stmt *st;
	char sql[200];

	snprintf(sql, sizeof(sql),
	    "SELECT gid FROM cs_ids i JOIN patient p ON p.id=i.pk AND i.tid=(SELECT tid "
	    "FROM cs_tables WHERE name='patient') WHERE p.nom='%s'",
	    nom);
	assert_int_equal(sqlite3_prepare_v2(cs_engine_handle(e), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	memcpy(out, sqlite3_column_blob(st, 0), CS_GID_LEN);
	sqlite3_finalize(st);
}

/*
 * B holds its own patient (v 1) and receives A's patient with three
 * consultations (v 2..5 here); A's cursor on B passes 5 (B sends A
 * nothing new, only its cursor moves). The share of A's patient with B
 * is revoked: B purges it. B's next edit of its own patient must still
 * reach A.
 */
static void
test_purge_of_the_newest_rows_does_not_reuse_db_versions(void **state)
{
	struct fx *f = fx_new(2);
	uint8_t pat[CS_GID_LEN];
	uint64_t before;

	(void)state;
	fx_exec(f->r[B].e, "INSERT INTO patient(nom, prenom) VALUES('Bmine', 'x')");
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Ashared')");
	fx_exec(f->r[A].e,
	    "INSERT INTO consultation(patient_id, motif) VALUES(1, 'a'), "
	    "(1, 'b'), (1, 'c')");
	fx_sync(f, B, A);
	fx_sync(f, A, B);
	fx_sync(f, B, A); /* A's cursor on B: B's whole db_version */
	before = cs_engine_db_version(f->r[B].e);
	assert_true(before >= 5);
	assert_int_equal(f->cur[B][A], before);
	gid_of(f->r[B].e, "Ashared", pat);
	assert_int_equal(cs_engine_purge_patient(f->r[B].e, pat), 4);
	assert_true(cs_engine_db_version(f->r[B].e) >= before);
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='edited' WHERE nom='Bmine'");
	assert_true(cs_engine_db_version(f->r[B].e) > before);
	fx_sync(f, B, A);
	fx_assert_str(f->r[A].e, "SELECT prenom FROM patient WHERE nom='Bmine'", "edited");
	fx_free(f);
}

/*
 * The same through a removal: B sees A's consultation through a share of
 * its patient; A moves it to a patient B may not see, B drops its copy
 * (the removal marker takes the row record, which held B's highest v).
 */
static void
test_removal_of_the_newest_row_does_not_reuse_db_versions(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	struct cs_scope sc;
	uint8_t prac[CS_GID_LEN];
	uint64_t before;

	(void)state;
	memset(prac, 0x42, sizeof(prac));
	cs_changeset_init(&cs);
	sc.practitioner = prac;
	sc.patient = NULL;
	fx_exec(f->r[B].e, "INSERT INTO patient(nom, prenom) VALUES('Bmine', 'x')");
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('shared'), ('private')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'a')");
	fx_exec(f->r[A].e,
	    "INSERT INTO cs_shares(patient, practitioner, perm, grant_hlc) SELECT "
	    "gid, x'42424242424242424242424242424242', 'write', 0 FROM cs_ids WHERE "
	    "pk=1 AND tid=1");
	assert_int_equal(cs_engine_extract(f->r[A].e, 0, NULL, &sc, 100, &cs), 0);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL), 0);
	f->cur[A][B] = cs.db_version;
	fx_sync(f, B, A);
	before = cs_engine_db_version(f->r[B].e);
	assert_int_equal(before, 3);
	assert_int_equal(f->cur[B][A], before);
	/* the consultation moves to the private patient: a removal for B */
	fx_exec(f->r[A].e, "UPDATE consultation SET patient_id=2");
	assert_int_equal(cs_engine_extract(f->r[A].e, f->cur[A][B], NULL, &sc, 100, &cs), 0);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL), 0);
	f->cur[A][B] = cs.db_version;
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM consultation"), 0);
	assert_true(cs_engine_db_version(f->r[B].e) >= before);
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='edited' WHERE nom='Bmine'");
	assert_true(cs_engine_db_version(f->r[B].e) > before);
	fx_sync(f, B, A);
	fx_assert_str(f->r[A].e, "SELECT prenom FROM patient WHERE nom='Bmine'", "edited");
	/* everything to everyone (no scope): one state */
	f->cur[A][B] = 0;
	fx_sync_all(f);
	fx_assert_converged(f);
	cs_changeset_free(&cs);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_purge_of_the_newest_rows_does_not_reuse_db_versions),
	    cmocka_unit_test(test_removal_of_the_newest_row_does_not_reuse_db_versions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
