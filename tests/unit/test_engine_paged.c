/*
 * tests/unit/test_engine_paged.c: sim bug 1 (tests/sim/README.md), paged
 * extraction. A session extracts bounded batches, each after the previous
 * batch's db_version. Rows come in order of their latest change, so a row
 * sorted after a batch boundary may hold older changes: with only its cells
 * newer than the cursor it lost its insert (cs_sim --seed 1: a partial row
 * quarantined for NOT NULL; --seed 7: divergence). Rows now travel whole.
 */
#include "engine_fixture.h"

#define A 0
#define B 1
#define C 2

static void
assert_nothing_waits(struct cs_engine *e)
{
	uint64_t held = 1, quar = 1;

	assert_int_equal(cs_engine_pending(e, &held, &quar), 0);
	assert_int_equal(held, 0);
	assert_int_equal(quar, 0);
}

/* The README case: X at db_version 1, Y at 2, X again at 3; batches of one row. */
static void
test_row_behind_a_batch_boundary_travels_whole(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	uint64_t cur = 0;

	(void)state;
	cs_changeset_init(&cs);
	fx_exec(f->r[A].e, "INSERT INTO patient(id, nom, prenom) VALUES(1, 'Xavier', 'x')");
	fx_exec(f->r[A].e, "INSERT INTO patient(id, nom, prenom) VALUES(2, 'Yves', 'y')");
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='x2' WHERE id=1");
	/* batch 1: Y (latest change 2), cursor 2 */
	assert_int_equal(cs_engine_extract(f->r[A].e, cur, NULL, NULL, 1, &cs), 1);
	assert_int_equal(cs.nrows, 1);
	assert_int_equal(cs.db_version, 2);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL), 0);
	cur = cs.db_version;
	/* batch 2: X after cursor 2 still carries its insert (nom, NOT NULL) */
	assert_int_equal(cs_engine_extract(f->r[A].e, cur, NULL, NULL, 1, &cs), 0);
	assert_int_equal(cs.nrows, 1);
	assert_int_equal(cs.rows[0].cl, 1);
	assert_int_equal(cs.rows[0].ncells, 4);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL), 0);
	assert_nothing_waits(f->r[B].e);
	fx_assert_str(f->r[B].e, "SELECT nom || prenom FROM patient WHERE nom='Xavier'",
	    "Xavierx2");
	fx_assert_converged(f);
	cs_changeset_free(&cs);
	fx_free(f);
}

/*
 * One session of several batches delivered out of order, one lost: the
 * receiver's cursor follows the applied prefix only; the next session
 * resends from there and everything arrives, nothing held or quarantined.
 */
static void
test_reordered_and_lost_batches_with_prefix_cursor(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs[6];
	uint64_t cur[7];
	int n = 0, more = 1, i;

	(void)state;
	fx_exec(f->r[A].e,
	    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i<9) "
	    "INSERT INTO patient(id, nom) SELECT i, 'p' || i FROM k");
	fx_exec(f->r[A].e,
	    "INSERT INTO consultation(patient_id, motif) SELECT id, 'm' FROM "
	    "patient WHERE id % 2 = 1");
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='z' WHERE id IN (1, 4, 7)");
	fx_exec(f->r[A].e, "DELETE FROM patient WHERE id=3");
	fx_exec(f->r[A].e, "UPDATE consultation SET notes='n' WHERE patient_id=1");
	cur[0] = 0;
	while (more == 1 && n < 6) {
		cs_changeset_init(&cs[n]);
		more = cs_engine_extract(f->r[A].e, cur[n], NULL, NULL, 3, &cs[n]);
		assert_true(more >= 0);
		cur[n + 1] = cs[n].db_version;
		n++;
	}
	assert_true(n >= 4);
	/* delivered 3, 0, 2 (1 lost): prefix = batch 0 only */
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs[3], f->r[A].dev, NULL), 0);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs[0], f->r[A].dev, NULL), 0);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs[2], f->r[A].dev, NULL), 0);
	f->cur[A][B] = cur[1];
	for (i = 0; i < n; i++)
		cs_changeset_free(&cs[i]);
	/* next session from the prefix cursor, pages of 2 */
	fx_sync_n(f, A, B, 2);
	assert_nothing_waits(f->r[B].e);
	fx_assert_converged(f);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_free(f);
}

/* Random writes on three replicas, synced in pages of 1-3 rows: convergence. */
static void
test_random_paged_sessions_converge(void **state)
{
	struct fx *f = fx_new(3);
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	int round, k;

	(void)state;
	for (k = 0; k < 3; k++)
		fx_exec(f->r[k].e, "INSERT INTO patient(nom) VALUES('base')");
	for (round = 0; round < 60; round++) {
		int r, a, b;
		char sql[200];

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		r = (int)((rng >> 33) % 3);
		switch ((rng >> 40) % 5) {
		case 0:
			snprintf(sql, sizeof(sql),
			    "INSERT INTO patient(nom, prenom) VALUES('n%d', 'p%d')", round, r);
			break;
		case 1:
			snprintf(sql, sizeof(sql),
			    "UPDATE patient SET prenom='u%d' WHERE id=(SELECT min(id) FROM "
			    "patient)",
			    round);
			break;
		case 2:
			snprintf(sql, sizeof(sql),
			    "INSERT INTO consultation(patient_id, motif) SELECT max(id), 'c%d' "
			    "FROM patient HAVING max(id) IS NOT NULL",
			    round);
			break;
		case 3:
			snprintf(sql, sizeof(sql),
			    "UPDATE consultation SET notes='x%d' WHERE id=(SELECT max(id) FROM "
			    "consultation)",
			    round);
			break;
		default:
			snprintf(sql, sizeof(sql), "UPDATE patient SET nom='m%d' WHERE id %% 3 = %d",
			    round, round % 3);
			break;
		}
		fx_exec(f->r[r].e, sql);
		a = (int)((rng >> 20) % 3);
		b = (a + 1 + (int)((rng >> 50) % 2)) % 3;
		fx_sync_n(f, a, b, (size_t)(1 + (rng >> 55) % 3));
	}
	for (round = 0; round < 3; round++)
		for (k = 0; k < 3; k++) {
			fx_sync_n(f, k, (k + 1) % 3, 2);
			fx_sync_n(f, k, (k + 2) % 3, 1);
		}
	for (k = 0; k < 3; k++)
		assert_nothing_waits(f->r[k].e);
	fx_assert_converged(f);
	fx_sync_all(f);
	fx_assert_str(f->r[C].e, "SELECT count(*) > 0 FROM patient", "1");
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_row_behind_a_batch_boundary_travels_whole),
	    cmocka_unit_test(test_reordered_and_lost_batches_with_prefix_cursor),
	    cmocka_unit_test(test_random_paged_sessions_converge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
