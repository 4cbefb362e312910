/*
 * tests/unit/test_engine_stale_ref.c: sim bug 7, "stuck" (tests/sim/README.md;
 * cs_sim --seed 1224 and --seed 7928, paged streams). A stale copy of a row
 * whose reference names a parent deleted here waited in cs_held for ever
 * ("parent row deleted here (waits for a re-insert)") although the local row
 * had moved to another parent since and had seen that reference: MR 5 would
 * ignore the cell, so there is nothing to wait for. Such a copy is now
 * ignored when it arrives, and released (and ignored) when it was held
 * before the newer row arrived.
 */
#include "engine_fixture.h"

#define A 0
#define B 1
#define D 2

static uint64_t
held(struct cs_engine *e)
{
	uint64_t h = 0, q = 0;

	assert_int_equal(cs_engine_pending(e, &h, &q), 0);
	assert_int_equal(q, 0);
	return h;
}

/*
 * A writes patients 1 and 2 and a consultation of patient 1; B gets them,
 * moves the consultation to patient 2, then deletes patient 1. A's stream
 * sent to B again (a session restarted from cursor 0) carries the old copy
 * of the consultation, naming patient 1: B has seen it, nothing waits.
 */
static void
test_seen_reference_to_a_deleted_parent_does_not_wait(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r;

	(void)state;
	fx_exec(f->r[A].e,
	    "INSERT INTO patient(id, nom) VALUES(1, 'Durand'), (2, 'Martin');"
	    "INSERT INTO consultation(id, patient_id, motif) VALUES(1, 1, 'dos')");
	fx_sync(f, A, B);
	fx_exec(f->r[B].e, "UPDATE consultation SET patient_id=2 WHERE id=1");
	fx_exec(f->r[B].e, "DELETE FROM patient WHERE id=1");
	f->cur[A][B] = 0;
	r = fx_sync(f, A, B);
	assert_int_equal(r.held, 0);
	assert_int_equal(held(f->r[B].e), 0);
	fx_assert_str(f->r[B].e,
	    "SELECT p.nom || '/' || c.motif FROM consultation c JOIN patient p ON "
	    "p.id=c.patient_id",
	    "Martin/dos");
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_sync_all(f);
	fx_assert_converged(f);
	assert_int_equal(held(f->r[A].e), 0);
	fx_free(f);
}

/*
 * The same stale copy, held first: D gets B's tombstone of patient 1 alone,
 * then A's stream (the consultation under patient 1 waits: that patient is
 * deleted here), then B's moved consultation. The held copy is released and
 * ignored: nothing stays held, D equals B.
 */
static void
test_held_stale_copy_is_released_once_the_newer_row_arrives(void **state)
{
	struct fx *f = fx_new(3);
	struct cs_apply_result r;
	uint64_t before_delete;

	(void)state;
	fx_exec(f->r[A].e,
	    "INSERT INTO patient(id, nom) VALUES(1, 'Durand'), (2, 'Martin');"
	    "INSERT INTO consultation(id, patient_id, motif) VALUES(1, 1, 'dos')");
	fx_sync(f, A, B);
	fx_exec(f->r[B].e, "UPDATE consultation SET patient_id=2 WHERE id=1");
	before_delete = cs_engine_db_version(f->r[B].e);
	fx_exec(f->r[B].e, "DELETE FROM patient WHERE id=1");
	/* only what B wrote after the move: patient 1's tombstone */
	f->cur[B][D] = before_delete;
	r = fx_sync(f, B, D);
	assert_int_equal(r.applied, 1);
	r = fx_sync(f, A, D);
	assert_int_equal(r.held, 1);
	assert_int_equal(held(f->r[D].e), 1);
	/* B's whole stream: the moved consultation, newer than the held copy */
	f->cur[B][D] = 0;
	r = fx_sync(f, B, D);
	assert_int_equal(r.released, 1);
	assert_int_equal(held(f->r[D].e), 0);
	fx_assert_str(f->r[D].e,
	    "SELECT p.nom || '/' || c.motif FROM consultation c JOIN patient p ON "
	    "p.id=c.patient_id",
	    "Martin/dos");
	fx_sync_all(f);
	fx_assert_converged(f);
	fx_free(f);
}

/*
 * What still waits: a reference the local row has not seen (a concurrent
 * move to a parent deleted here) keeps the row held, as MR 2 says.
 */
static void
test_unseen_reference_to_a_deleted_parent_still_waits(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r;

	(void)state;
	fx_exec(f->r[A].e,
	    "INSERT INTO patient(id, nom) VALUES(1, 'Durand'), (2, 'Martin');"
	    "INSERT INTO consultation(id, patient_id, motif) VALUES(1, 2, 'dos')");
	fx_sync(f, A, B);
	fx_exec(f->r[A].e, "UPDATE consultation SET patient_id=1 WHERE id=1");
	fx_exec(f->r[B].e, "DELETE FROM patient WHERE id=1");
	r = fx_sync(f, A, B);
	assert_int_equal(r.held, 1);
	assert_int_equal(held(f->r[B].e), 1);
	/* another apply does not release it (nothing changed) */
	r = fx_sync(f, A, B);
	assert_int_equal(r.released, 0);
	assert_int_equal(held(f->r[B].e), 1);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seen_reference_to_a_deleted_parent_does_not_wait),
	    cmocka_unit_test(test_held_stale_copy_is_released_once_the_newer_row_arrives),
	    cmocka_unit_test(test_unseen_reference_to_a_deleted_parent_still_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
