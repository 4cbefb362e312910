/* Unit tests of the engine's future bound with a corrected clock
 * (cs_engine_set_clock_offset, docs/MERGE.md "Far-future clock"): a PC whose
 * clock is 10 min late accepts the cabinet's rows, hlcs never rewritten, the
 * correction never stricter than the wall clock and capped at 1 h, and the
 * late PC's own writes after the floor was raised merge deterministically. */
#include "engine_fixture.h"
#include "sql/share.h"

#define A 0
#define B 1

#define MIN_MS 60000ull

static uint64_t
wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Replica i's clock runs ahead by ahead_ms: its hlc floor is raised (the
 * triggers then stamp its writes ahead of the real clock) and its future
 * bound counts from the same time (the fixture's clock is one for all
 * replicas, so the bound's correction stands in for i's own wall clock). */
static uint64_t
run_ahead(struct fx *f, int i, uint64_t ahead_ms)
{
	uint64_t h = CS_HLC_MAKE(wall() + ahead_ms, 0);

	assert_int_equal(cs_share_seen_hlc(cs_engine_handle(f->r[i].e), h), 0);
	if (cs_engine_clock_offset(f->r[i].e) < (int64_t)ahead_ms)
		cs_engine_set_clock_offset(f->r[i].e, (int64_t)ahead_ms);
	return h;
}

static struct cs_apply_result
send_all(struct fx *f, int from, int to, struct cs_changeset *keep)
{
	struct cs_apply_result r;
	struct cs_changeset cs;

	cs_changeset_init(&cs);
	assert_int_equal(cs_engine_extract(f->r[from].e, 0, NULL, NULL, 1000, &cs), 0);
	assert_int_equal(cs_engine_apply(f->r[to].e, &cs, f->r[from].dev, &r), 0);
	if (keep != NULL)
		*keep = cs;
	else
		cs_changeset_free(&cs);
	return r;
}

static void
test_late_pc_with_correction_accepts_rows_10_min_ahead(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	struct cs_apply_result r;
	uint64_t held = 1;

	(void)state;
	/* B is 10 min late: A (the cabinet) stamps 10 min ahead of B's clock */
	run_ahead(f, A, 10 * MIN_MS);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	cs_engine_set_clock_offset(f->r[B].e, (int64_t)(10 * MIN_MS));
	assert_int_equal(cs_engine_clock_offset(f->r[B].e), (int64_t)(10 * MIN_MS));
	r = send_all(f, A, B, &cs);
	assert_int_equal(r.held, 0);
	assert_int_equal(r.applied, 1);
	assert_int_equal(cs_engine_pending(f->r[B].e, &held, NULL), 0);
	assert_int_equal(held, 0);
	/* the hlc is kept as it was, never rewritten */
	assert_int_equal(fx_int(f->r[B].e, "SELECT xh FROM cs_ids"), (int64_t)cs.rows[0].ex_hlc);
	assert_true(CS_HLC_MS(cs.rows[0].ex_hlc) > wall() + 9 * MIN_MS);
	fx_assert_converged(f);
	cs_changeset_free(&cs);
	fx_free(f);
}

static void
test_rows_held_before_the_estimate_are_released_once_it_comes(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r;
	uint64_t held = 0;

	(void)state;
	run_ahead(f, A, 10 * MIN_MS);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'dos')");
	/* no estimate yet: the plain wall clock, 10 min behind, holds both */
	r = send_all(f, A, B, NULL);
	assert_int_equal(r.held, 2);
	assert_int_equal(cs_engine_pending(f->r[B].e, &held, NULL), 0);
	assert_int_equal(held, 2);
	assert_int_equal(cs_engine_release_held(f->r[B].e, &r), 0);
	assert_int_equal(r.released, 0);
	/* a correction of 4 min is not enough (10 - 4 > 5) */
	cs_engine_set_clock_offset(f->r[B].e, (int64_t)(4 * MIN_MS));
	assert_int_equal(cs_engine_release_held(f->r[B].e, &r), 0);
	assert_int_equal(r.released, 0);
	/* the agent measured the cabinet: 10 min */
	cs_engine_set_clock_offset(f->r[B].e, (int64_t)(10 * MIN_MS));
	assert_int_equal(cs_engine_release_held(f->r[B].e, &r), 0);
	assert_int_equal(r.released, 2);
	assert_int_equal(cs_engine_pending(f->r[B].e, &held, NULL), 0);
	assert_int_equal(held, 0);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM consultation"), 1);
	fx_assert_converged(f);
	fx_free(f);
}

static void
test_correction_is_never_negative_and_capped_at_one_hour(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r;

	(void)state;
	/* negative: as if 0 (an early PC never holds what its clock accepts) */
	cs_engine_set_clock_offset(f->r[B].e, -(int64_t)(10 * MIN_MS));
	assert_int_equal(cs_engine_clock_offset(f->r[B].e), 0);
	run_ahead(f, A, 4 * MIN_MS);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	r = send_all(f, A, B, NULL);
	assert_int_equal(r.held, 0);
	assert_int_equal(r.applied, 1);
	/* a rogue clock 2 h ahead: a 3 h "offset" is clamped to 1 h, still held */
	cs_engine_set_clock_offset(f->r[B].e, (int64_t)(180 * MIN_MS));
	assert_int_equal(cs_engine_clock_offset(f->r[B].e),
	    (int64_t)CS_ENGINE_MAX_CLOCK_CORRECTION_MS);
	run_ahead(f, A, 120 * MIN_MS);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Martin')");
	r = send_all(f, A, B, NULL);
	assert_int_equal(r.held, 1);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM patient"), 1);
	/* 1 h + the 5 min bound accepts up to 65 min ahead, not 120 */
	assert_int_equal(cs_engine_release_held(f->r[B].e, &r), 0);
	assert_int_equal(r.released, 0);
	/* the held row did not drag B's hlc floor 2 h ahead */
	assert_true(CS_HLC_MS((uint64_t)fx_int(f->r[B].e, "SELECT v FROM cs_meta WHERE k='hlc'")) <
	    wall() + 10 * MIN_MS);
	fx_free(f);
}

static void
test_late_pc_writes_after_receiving_future_rows_are_later(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r;
	uint64_t ah, bh;

	(void)state;
	run_ahead(f, A, 10 * MIN_MS);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'a0')");
	cs_engine_set_clock_offset(f->r[B].e, (int64_t)(10 * MIN_MS));
	r = send_all(f, A, B, NULL);
	assert_int_equal(r.applied, 1);
	/* B edits what it received: its hlc is above A's although its clock is
	 * 10 min behind (the received hlc raised B's floor) */
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='b1'");
	ah = (uint64_t)fx_int(f->r[A].e, "SELECT xh FROM cs_ids");
	bh = (uint64_t)fx_int(f->r[B].e, "SELECT max(h) FROM cs_ids");
	assert_true(bh > ah);
	fx_sync_all(f);
	fx_assert_str(f->r[A].e, "SELECT prenom FROM patient", "b1");
	/* a causal overwrite, no conflict */
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"), 0);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_assert_converged(f);
	fx_free(f);
}

static void
test_late_pc_with_raised_floor_wins_a_later_concurrent_edit(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r;
	struct timespec ms5 = {0, 5000000};

	(void)state;
	run_ahead(f, A, 10 * MIN_MS);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'a0')");
	cs_engine_set_clock_offset(f->r[B].e, (int64_t)(10 * MIN_MS));
	r = send_all(f, A, B, NULL);
	assert_int_equal(r.applied, 1);
	fx_sync_all(f);
	/* concurrent edits: A first (cabinet time), B 5 ms later; B's agent
	 * raised its floor to its corrected clock (agent/clockoff.h), so B's
	 * edit is the later one in the cabinet's time and wins everywhere */
	run_ahead(f, A, 10 * MIN_MS);
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='a1'");
	nanosleep(&ms5, NULL);
	run_ahead(f, B, 10 * MIN_MS);
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='b1'");
	fx_sync_all(f);
	fx_assert_str(f->r[A].e, "SELECT prenom FROM patient", "b1");
	fx_assert_str(f->r[B].e, "SELECT prenom FROM patient", "b1");
	/* the loser is recorded on both: no edit lost silently */
	fx_assert_str(f->r[A].e, "SELECT lose_val FROM cs_conflicts", "a1");
	fx_assert_str(f->r[B].e, "SELECT lose_val FROM cs_conflicts", "a1");
	fx_assert_converged(f);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_late_pc_with_correction_accepts_rows_10_min_ahead),
	    cmocka_unit_test(test_rows_held_before_the_estimate_are_released_once_it_comes),
	    cmocka_unit_test(test_correction_is_never_negative_and_capped_at_one_hour),
	    cmocka_unit_test(test_late_pc_writes_after_receiving_future_rows_are_later),
	    cmocka_unit_test(test_late_pc_with_raised_floor_wins_a_later_concurrent_edit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
