/*
 * tests/unit/test_appschema.c: the app schema hash and the per-peer filter
 * of agent/appschema.h (PROTOCOL.md §5, mixed app schemas).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/appschema.h"
#include "base/err.h"
#include "base/mem.h"

/* patient(nom, prenom, mutuelle) and invoice(amount) */
static void
dict_new(struct cs_changeset *cs, int with_new)
{
	int t;

	cs_changeset_init(cs);
	t = cs_changeset_table(cs, "patient");
	assert_true(t >= 0);
	assert_true(cs_changeset_col(cs, (uint32_t)t, "nom") >= 0);
	assert_true(cs_changeset_col(cs, (uint32_t)t, "prenom") >= 0);
	if (!with_new)
		return;
	assert_true(cs_changeset_col(cs, (uint32_t)t, "mutuelle") >= 0);
	t = cs_changeset_table(cs, "invoice");
	assert_true(t >= 0);
	assert_true(cs_changeset_col(cs, (uint32_t)t, "amount") >= 0);
}

static void
add_row(struct cs_changeset *cs, const char *table, uint8_t id, int ncols)
{
	struct cs_row r;
	struct cs_value v;
	struct cs_dot d;
	uint8_t dev[CS_DEVID_LEN];
	int c, di, t = cs_changeset_table(cs, table);

	memset(dev, 0xd0, sizeof(dev));
	di = cs_changeset_dev(cs, dev);
	assert_true(di >= 0);
	memset(&r, 0, sizeof(r));
	r.table = (uint32_t)t;
	memset(r.gid, id, CS_GID_LEN);
	r.cl = 1;
	r.ex_dot.dev = (uint32_t)di;
	r.ex_dot.n = id;
	assert_int_equal(cs_changeset_row_begin(cs, &r), 0);
	for (c = 0; c < ncols; c++) {
		memset(&v, 0, sizeof(v));
		v.type = CS_V_INT;
		v.u.i = 100 * id + c;
		d.dev = (uint32_t)di;
		d.n = id;
		assert_int_equal(cs_changeset_cell(cs, (uint32_t)c, &v, 7, d), 0);
	}
	d.dev = (uint32_t)di;
	d.n = id;
	assert_int_equal(cs_changeset_vv(cs, d), 0);
	assert_int_equal(cs_changeset_row_end(cs), 0);
}

static void
test_hash_equal_for_equal_schemas(void **state)
{
	struct cs_changeset a, b, c;
	uint8_t ha[32], hb[32], hc[32];

	(void)state;
	dict_new(&a, 1);
	dict_new(&b, 1);
	dict_new(&c, 0);
	assert_int_equal(cs_appschema_hash(&a, ha), 0);
	assert_int_equal(cs_appschema_hash(&b, hb), 0);
	assert_int_equal(cs_appschema_hash(&c, hc), 0);
	assert_memory_equal(ha, hb, 32);
	assert_memory_not_equal(ha, hc, 32);
	assert_true(cs_appschema_stated(ha));
	memset(ha, 0, sizeof(ha));
	assert_false(cs_appschema_stated(ha));
	cs_changeset_free(&a);
	cs_changeset_free(&b);
	cs_changeset_free(&c);
}

/* "ab" + "c" and "a" + "bc" are different schemas */
static void
test_hash_separates_names(void **state)
{
	struct cs_changeset a, b;
	uint8_t ha[32], hb[32];

	(void)state;
	cs_changeset_init(&a);
	cs_changeset_init(&b);
	assert_true(cs_changeset_col(&a, (uint32_t)cs_changeset_table(&a, "ab"), "c") >= 0);
	assert_true(cs_changeset_col(&b, (uint32_t)cs_changeset_table(&b, "a"), "bc") >= 0);
	assert_int_equal(cs_appschema_hash(&a, ha), 0);
	assert_int_equal(cs_appschema_hash(&b, hb), 0);
	assert_memory_not_equal(ha, hb, 32);
	cs_changeset_free(&a);
	cs_changeset_free(&b);
}

static void
test_filter_drops_unknown_tables_and_columns(void **state)
{
	struct cs_changeset in, peer, out;
	uint32_t drows = 0, dcells = 0;

	(void)state;
	dict_new(&in, 1);
	dict_new(&peer, 0);
	add_row(&in, "patient", 1, 3);
	add_row(&in, "invoice", 2, 1);
	add_row(&in, "patient", 3, 2);
	in.db_version = 42;
	cs_changeset_init(&out);
	assert_int_equal(cs_appschema_filter(&in, &peer, &out, &drows, &dcells), 0);
	assert_int_equal(drows, 1);
	assert_int_equal(dcells, 2); /* the invoice cell, patient 1's mutuelle */
	assert_int_equal(out.db_version, 42);
	assert_int_equal(out.ntables, 1);
	assert_string_equal(out.tables[0].name, "patient");
	assert_int_equal(out.tables[0].ncols, 2);
	assert_int_equal(out.nrows, 2);
	assert_int_equal(out.rows[0].gid[0], 1);
	assert_int_equal(out.rows[0].ncells, 2);
	assert_int_equal(out.cells[out.rows[0].cell_first + 1].v.u.i, 101);
	assert_int_equal(out.rows[1].gid[0], 3);
	assert_int_equal(out.rows[1].nvv, 1);
	assert_int_equal(out.ndevs, 1);
	cs_changeset_free(&in);
	cs_changeset_free(&peer);
	cs_changeset_free(&out);
}

static void
test_filter_same_schema_is_identity(void **state)
{
	struct cs_changeset in, peer, out;

	(void)state;
	dict_new(&in, 1);
	dict_new(&peer, 1);
	add_row(&in, "patient", 1, 3);
	add_row(&in, "invoice", 2, 1);
	cs_changeset_init(&out);
	assert_int_equal(cs_appschema_filter(&in, &peer, &out, NULL, NULL), 0);
	assert_true(cs_changeset_equal(&in, &out));
	cs_changeset_free(&in);
	cs_changeset_free(&peer);
	cs_changeset_free(&out);
}

static void
test_filter_out_of_memory_leaks_nothing(void **state)
{
	struct cs_changeset in, peer, out;
	int n, rc;

	(void)state;
	dict_new(&in, 1);
	dict_new(&peer, 0);
	add_row(&in, "patient", 1, 3);
	add_row(&in, "invoice", 2, 1);
	for (n = 0; n < 200; n++) {
		long live = cs_mem_live();

		cs_changeset_init(&out);
		cs_mem_fail_after(n, 0);
		rc = cs_appschema_filter(&in, &peer, &out, NULL, NULL);
		cs_mem_fail_after(-1, 0);
		cs_changeset_free(&out);
		assert_int_equal(cs_mem_live(), live);
		if (rc == 0)
			break;
		assert_int_equal(rc, CS_ENOMEM);
	}
	assert_true(n < 200);
	cs_changeset_free(&in);
	cs_changeset_free(&peer);
}

static void
test_remember_says_when_the_schema_changed(void **state)
{
	char dir[] = "/tmp/cs-appschema-XXXXXX", path[64];
	uint8_t h1[32], h2[32];
	int changed = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/appschema", dir);
	memset(h1, 1, sizeof(h1));
	memset(h2, 2, sizeof(h2));
	assert_int_equal(cs_appschema_remember(path, h1, &changed), 0);
	assert_int_equal(changed, 0); /* first start */
	assert_int_equal(cs_appschema_remember(path, h1, &changed), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(cs_appschema_remember(path, h2, &changed), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(cs_appschema_remember(path, h2, &changed), 0);
	assert_int_equal(changed, 0);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_equal_for_equal_schemas),
	    cmocka_unit_test(test_hash_separates_names),
	    cmocka_unit_test(test_filter_drops_unknown_tables_and_columns),
	    cmocka_unit_test(test_filter_same_schema_is_identity),
	    cmocka_unit_test(test_filter_out_of_memory_leaks_nothing),
	    cmocka_unit_test(test_remember_says_when_the_schema_changed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
