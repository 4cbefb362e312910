/*
 * tests/unit/test_engine_cascade.c: sim bug 2 (tests/sim/README.md), the
 * conflicts of ON DELETE CASCADE during apply. When a batch deletes a parent,
 * the engine tombstones the live children itself and records what they lose:
 * the child's insert (which covers the cells it wrote) and every cell edited
 * after it (cs_sim --seed 176/178/382: such edits were lost unrecorded), but
 * not what the parent's deleter wrote itself (it had seen it: recording it
 * invented a conflict).
 */
#include "engine_fixture.h"

#define A 0
#define B 1

static int64_t
conflicts_on(struct cs_engine *e, const char *col)
{
	char sql[200];

	if (col == NULL)
		snprintf(sql, sizeof(sql),
		    "SELECT count(*) FROM cs_conflicts WHERE tbl='consultation' AND col IS NULL");
	else
		snprintf(sql, sizeof(sql),
		    "SELECT count(*) FROM cs_conflicts WHERE tbl='consultation' AND col='%s'", col);
	return fx_int(e, sql);
}

/*
 * B edits a consultation A has (A wrote it) while A deletes its patient: at
 * B the patient's tombstone cascades to the consultation. B's edit of notes
 * is lost to the delete and recorded, with its value; the insert is A's own
 * write, seen by A's delete: no conflict on the existence.
 */
static void
test_child_edit_lost_to_a_parent_delete_is_recorded(void **state)
{
	struct fx *f = fx_new(2);

	(void)state;
	fx_exec(f->r[A].e,
	    "INSERT INTO patient(id, nom) VALUES(1, 'Durand');"
	    "INSERT INTO consultation(id, patient_id, motif) VALUES(1, 1, 'dos')");
	fx_sync(f, A, B);
	fx_exec(f->r[B].e, "UPDATE consultation SET notes='vu par B', poids=70.5");
	/* A's connection enforces no foreign key: only the patient goes there
	 * (with ON DELETE CASCADE at A, A's own tombstone of the consultation
	 * would travel in the same stream and decide it by MR 2) */
	fx_exec(f->r[A].e, "DELETE FROM patient WHERE id=1");
	fx_sync_n(f, A, B, 1);
	fx_assert_str(f->r[B].e, "SELECT count(*) FROM consultation", "0");
	/* decided by B's cascade (B's tombstone wins the records) */
	fx_assert_str(f->r[B].e, "SELECT hex(win_dev) FROM cs_conflicts WHERE col='notes'",
	    "A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1");
	assert_int_equal(conflicts_on(f->r[B].e, "notes"), 1);
	assert_int_equal(conflicts_on(f->r[B].e, "poids"), 1);
	fx_assert_str(f->r[B].e,
	    "SELECT lose_val || '/' || win_del FROM cs_conflicts WHERE col='notes'", "vu par B/1");
	assert_int_equal(conflicts_on(f->r[B].e, NULL), 0);
	assert_int_equal(conflicts_on(f->r[B].e, "motif"), 0);
	/* A gets B's edit later: lost to its own tombstone (CL 2 > 1), the
	 * same records (same keys), converged */
	fx_sync_all(f);
	fx_assert_converged(f);
	assert_int_equal(conflicts_on(f->r[A].e, "notes"), 1);
	assert_int_equal(conflicts_on(f->r[A].e, "poids"), 1);
	assert_int_equal(conflicts_on(f->r[A].e, NULL), 0);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"),
	    fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"));
	fx_free(f);
}

/*
 * B inserts a consultation under a patient A deletes concurrently: the
 * insert is lost (one record on the existence, covering the cells it wrote),
 * and so is a later edit of it by B (its own record).
 */
static void
test_child_unseen_by_the_deleter_loses_insert_and_edits(void **state)
{
	struct fx *f = fx_new(2);

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(id, nom) VALUES(1, 'Durand')");
	fx_sync(f, A, B);
	fx_exec(f->r[B].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'genou')");
	fx_exec(f->r[B].e, "UPDATE consultation SET notes='entorse'");
	fx_exec(f->r[A].e, "DELETE FROM patient WHERE id=1");
	fx_sync(f, A, B);
	fx_assert_str(f->r[B].e, "SELECT count(*) FROM consultation", "0");
	assert_int_equal(conflicts_on(f->r[B].e, NULL), 1);
	assert_int_equal(conflicts_on(f->r[B].e, "notes"), 1);
	assert_int_equal(conflicts_on(f->r[B].e, "motif"), 0); /* covered by the insert */
	fx_sync_all(f);
	fx_assert_converged(f);
	fx_free(f);
}

/*
 * The deleter's own edits of the child are no conflict either: A inserts
 * and edits the consultation, B (which has both) edits another field, A
 * deletes the patient. At B: only B's field is recorded.
 */
static void
test_deleters_own_child_writes_are_no_conflict(void **state)
{
	struct fx *f = fx_new(2);

	(void)state;
	fx_exec(f->r[A].e,
	    "INSERT INTO patient(id, nom) VALUES(1, 'Durand');"
	    "INSERT INTO consultation(id, patient_id, motif) VALUES(1, 1, 'dos')");
	fx_exec(f->r[A].e, "UPDATE consultation SET notes='de A' WHERE id=1");
	fx_sync(f, A, B);
	fx_exec(f->r[B].e, "UPDATE consultation SET poids=60.0");
	fx_exec(f->r[A].e, "DELETE FROM patient WHERE id=1");
	fx_sync_n(f, A, B, 1);
	fx_assert_str(f->r[B].e, "SELECT hex(win_dev) FROM cs_conflicts WHERE col='poids'",
	    "A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1");
	assert_int_equal(conflicts_on(f->r[B].e, "notes"), 0);
	assert_int_equal(conflicts_on(f->r[B].e, NULL), 0);
	assert_int_equal(conflicts_on(f->r[B].e, "poids"), 1);
	fx_sync_all(f);
	fx_assert_converged(f);
	fx_assert_str(f->r[A].e, "SELECT count(*) FROM consultation", "0");
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_child_edit_lost_to_a_parent_delete_is_recorded),
	    cmocka_unit_test(test_child_unseen_by_the_deleter_loses_insert_and_edits),
	    cmocka_unit_test(test_deleters_own_child_writes_are_no_conflict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
