/*
 * tests/unit/test_engine_capture_dots.c: sim bug 6 (tests/sim/README.md),
 * "an unchanged value captured as a change" (cs_sim --seed 14, 121, 898).
 *
 * A local update captures only the cells whose value changed, with this
 * device's dot (self, m > the db_version before the write). Rows travel whole,
 * so an extraction after that db_version also carries the row's received
 * cells, whose dots belong to other devices: their n counts the other
 * device's db_versions and may well be above ours. The simulator's capture
 * judge mistook such a received cell for a local capture; these tests pin
 * down what the engine really records.
 */
#include "engine_fixture.h"

#define A 0
#define B 1

/* Cells of patient rows in cs with a dot of dev newer than v0; *col_* = col's dot. */
static int
own_cells_after(const struct cs_changeset *cs, const uint8_t *dev, uint64_t v0, const char *col,
    int *has_col, uint64_t *col_n, const uint8_t **col_dev)
{
	uint32_t i, k;
	int n = 0;

	*has_col = 0;
	for (i = 0; i < cs->nrows; i++) {
		const struct cs_row *r = &cs->rows[i];

		if (strcmp(cs->tables[r->table].name, "patient") != 0)
			continue;
		for (k = 0; k < r->ncells; k++) {
			const struct cs_cell *c = &cs->cells[r->cell_first + k];

			if (strcmp(cs->tables[r->table].cols[c->col], col) == 0) {
				*has_col = 1;
				*col_n = c->dot.n;
				*col_dev = cs->devs[c->dot.dev];
			}
			if (c->dot.n > v0 && memcmp(cs->devs[c->dot.dev], dev, CS_DEVID_LEN) == 0)
				n++;
		}
	}
	return n;
}

/*
 * A's edits give A's dot of prenom a large n; B receives it with a small
 * local db_version, then edits another column. The extraction after B's
 * db_version holds the row whole: prenom with A's dot (n above B's v0, value
 * unchanged by B), and exactly one cell with B's own dot: the edited one.
 */
static void
test_received_cell_is_not_a_local_capture(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	uint8_t site_a[CS_DEVID_LEN], site_b[CS_DEVID_LEN];
	const uint8_t *pdev = NULL;
	uint64_t v0, pn = 0;
	int has = 0, i;

	(void)state;
	cs_changeset_init(&cs);
	cs_engine_site(f->r[A].e, site_a);
	cs_engine_site(f->r[B].e, site_b);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Lea')");
	for (i = 0; i < 6; i++)
		fx_exec(f->r[A].e,
		    "UPDATE patient SET email='l' || (SELECT count(*) FROM cs_ids) "
		    "|| random() WHERE id=1");
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='Léa' WHERE id=1");
	fx_sync(f, A, B);
	v0 = cs_engine_db_version(f->r[B].e);
	assert_true(cs_engine_db_version(f->r[A].e) > v0 + 2);
	fx_exec(f->r[B].e, "UPDATE patient SET nom='Durand-Martin' WHERE id=1");
	/* an update writing the same value captures nothing */
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='Léa' WHERE id=1");
	assert_int_equal(cs_engine_extract(f->r[B].e, v0, NULL, NULL, 1000, &cs), 0);
	assert_int_equal(cs.nrows, 1);
	assert_int_equal(own_cells_after(&cs, site_b, v0, "prenom", &has, &pn, &pdev), 1);
	assert_true(has);
	assert_memory_equal(pdev, site_a, CS_DEVID_LEN); /* still A's write */
	assert_true(pn > v0);                            /* the n that the judge misread */
	assert_int_equal(fx_int(f->r[B].e,
	                     "SELECT count(*) FROM cs_clock c JOIN cs_cols k ON k.cid=c.cid AND "
	                     "k.tid=(SELECT tid FROM cs_tables WHERE name='patient') WHERE "
	                     "k.name='prenom' AND c.s=(SELECT site FROM cs_sites WHERE "
	                     "dev=x'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1')"), /* B's own */
	    0);
	fx_assert_str(f->r[B].e, "SELECT prenom FROM patient WHERE id=1", "Léa");
	/* A gets B's edit and nothing else: its prenom stays its own write */
	fx_sync_all(f);
	fx_assert_converged(f);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"), 0);
	cs_changeset_free(&cs);
	fx_free(f);
}

/* The same for an update that sets every column to its current value: nothing. */
static void
test_noop_update_of_a_received_row_captures_nothing(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	uint64_t v0;

	(void)state;
	cs_changeset_init(&cs);
	fx_exec(f->r[A].e,
	    "INSERT INTO patient(nom, prenom, email) VALUES('Petit', 'Jean', 'j@x')");
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='Jean-Luc' WHERE id=1");
	fx_sync(f, A, B);
	v0 = cs_engine_db_version(f->r[B].e);
	fx_exec(f->r[B].e, "UPDATE patient SET nom=nom, prenom=prenom, email=email, photo=photo");
	assert_int_equal(cs_engine_db_version(f->r[B].e), v0);
	assert_int_equal(cs_engine_extract(f->r[B].e, v0, NULL, NULL, 1000, &cs), 0);
	assert_int_equal(cs.nrows, 0);
	cs_changeset_free(&cs);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_received_cell_is_not_a_local_capture),
	    cmocka_unit_test(test_noop_update_of_a_received_row_captures_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
