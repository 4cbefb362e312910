/* Unit tests of base/: errors, allocator fault injection, changeset builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/audit.h"
#include "base/change.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

static void
test_strerror_names_common_codes(void **state)
{
	(void)state;
	assert_string_equal(cs_strerror(CS_ENOMEM), "out of memory");
	assert_string_equal(cs_strerror(CS_ENOSPC), "no space left on device");
	assert_string_equal(cs_strerror(-12345), "unknown error");
}

static void
test_mem_fail_after_fails_the_nth_allocation(void **state)
{
	void *a, *b, *c;

	(void)state;
	cs_mem_fail_after(1, 0);
	a = cs_malloc(8);
	b = cs_malloc(8);
	c = cs_malloc(8);
	cs_mem_fail_after(-1, 0);
	assert_non_null(a);
	assert_null(b);
	assert_non_null(c); /* repeat == 0: only one failure */
	assert_int_equal(cs_mem_failed_count(), 1);
	cs_free(a);
	cs_free(c);
}

static void
test_mem_fail_repeat_fails_every_later_allocation(void **state)
{
	void *a, *b;

	(void)state;
	cs_mem_fail_after(0, 1);
	a = cs_malloc(8);
	b = cs_calloc(2, 8);
	cs_mem_fail_after(-1, 0);
	assert_null(a);
	assert_null(b);
}

static void
test_mem_calloc_refuses_overflow(void **state)
{
	(void)state;
	assert_null(cs_calloc(SIZE_MAX / 2, 4));
}

static void
test_mem_live_counts_and_returns(void **state)
{
	long before = cs_mem_live();
	char *s;

	(void)state;
	s = cs_strdup("abc");
	assert_string_equal(s, "abc");
	assert_int_equal(cs_mem_live(), before + 1);
	cs_free(s);
	assert_int_equal(cs_mem_live(), before);
}

static const uint8_t dev_a[CS_DEVID_LEN] = {1};
static const uint8_t dev_b[CS_DEVID_LEN] = {2};

static int
build_one(struct cs_changeset *cs)
{
	struct cs_row r;
	struct cs_value v;
	int t, c0, c1, da, db, rc;

	t = cs_changeset_table(cs, "consultation");
	if (t < 0)
		return t;
	c0 = cs_changeset_col(cs, (uint32_t)t, "notes");
	c1 = cs_changeset_col(cs, (uint32_t)t, "weight");
	da = cs_changeset_dev(cs, dev_a);
	db = cs_changeset_dev(cs, dev_b);
	if (c0 < 0 || c1 < 0 || da < 0 || db < 0)
		return CS_ENOMEM;
	memset(&r, 0, sizeof(r));
	r.table = (uint32_t)t;
	r.gid[0] = 0x42;
	r.cl = 1;
	r.ex_dot.dev = (uint32_t)da;
	r.ex_dot.n = 7;
	r.ex_hlc = CS_HLC_MAKE(1000, 3);
	if ((rc = cs_changeset_row_begin(cs, &r)) < 0)
		return rc;
	v.type = CS_V_TEXT;
	v.p = (const uint8_t *)"douleur lombaire";
	v.len = 16;
	if ((rc = cs_changeset_cell(cs, (uint32_t)c0, &v, r.ex_hlc, r.ex_dot)) < 0)
		return rc;
	v.type = CS_V_REAL;
	v.u.r = 71.5;
	if ((rc = cs_changeset_cell(cs, (uint32_t)c1, &v, r.ex_hlc, r.ex_dot)) < 0)
		return rc;
	if ((rc = cs_changeset_vv(cs, (struct cs_dot){(uint32_t)db, 3})) < 0)
		return rc;
	return cs_changeset_row_end(cs);
}

static void
test_changeset_builds_and_compares(void **state)
{
	struct cs_changeset a, b;

	(void)state;
	cs_changeset_init(&a);
	cs_changeset_init(&b);
	assert_int_equal(build_one(&a), 0);
	assert_int_equal(build_one(&b), 0);
	assert_int_equal(a.nrows, 1);
	assert_int_equal(a.ncells, 2);
	assert_int_equal(a.ndevs, 2);
	assert_true(cs_changeset_equal(&a, &b));
	b.cells[1].v.u.r = 71.6;
	assert_false(cs_changeset_equal(&a, &b));
	cs_changeset_free(&a);
	cs_changeset_free(&b);
}

static void
test_changeset_refuses_index_outside_dictionary(void **state)
{
	struct cs_changeset cs;
	struct cs_row r;
	struct cs_value v = {.type = CS_V_NULL};

	(void)state;
	cs_changeset_init(&cs);
	memset(&r, 0, sizeof(r));
	assert_int_equal(cs_changeset_row_begin(&cs, &r), CS_EINVAL); /* no table */
	assert_true(cs_changeset_table(&cs, "t") == 0);
	assert_true(cs_changeset_dev(&cs, dev_a) == 0);
	assert_int_equal(cs_changeset_row_begin(&cs, &r), 0);
	assert_int_equal(cs_changeset_cell(&cs, 0, &v, 0, r.ex_dot), CS_EINVAL); /* no col */
	assert_int_equal(cs_changeset_vv(&cs, (struct cs_dot){5, 1}), CS_EINVAL);
	cs_changeset_free(&cs);
}

static void
test_changeset_build_fails_cleanly_at_every_allocation(void **state)
{
	long live = cs_mem_live();
	long n;
	int rc = -1;

	(void)state;
	for (n = 0; n < 100; n++) {
		struct cs_changeset cs;

		cs_changeset_init(&cs);
		cs_mem_fail_after(n, 1);
		rc = build_one(&cs);
		cs_mem_fail_after(-1, 0);
		cs_changeset_free(&cs);
		assert_int_equal(cs_mem_live(), live);
		if (rc == 0)
			break;
		assert_int_equal(rc, CS_ENOMEM);
	}
	assert_int_equal(rc, 0);
}

static int log_calls;
static char log_last[256];

static void
capture_sink(void *ctx, enum cs_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	log_calls++;
	strncpy(log_last, line, sizeof(log_last) - 1);
}

static void
test_log_keeps_one_line_and_filters_levels(void **state)
{
	(void)state;
	cs_log_set_sink(capture_sink, NULL);
	cs_log_set_level(CS_LOG_INFO);
	cs_log(CS_LOG_DEBUG, "hidden");
	assert_int_equal(log_calls, 0);
	cs_log(CS_LOG_ERR, "a\nforged line %d", 1);
	assert_int_equal(log_calls, 1);
	assert_string_equal(log_last, "a forged line 1");
	cs_log_set_sink(NULL, NULL);
}

static void
test_audit_action_names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(cs_audit_action_name(CS_AUDIT_SYNC_IN), "sync-in");
	assert_string_equal(cs_audit_action_name((enum cs_audit_action)999), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strerror_names_common_codes),
	    cmocka_unit_test(test_mem_fail_after_fails_the_nth_allocation),
	    cmocka_unit_test(test_mem_fail_repeat_fails_every_later_allocation),
	    cmocka_unit_test(test_mem_calloc_refuses_overflow),
	    cmocka_unit_test(test_mem_live_counts_and_returns),
	    cmocka_unit_test(test_changeset_builds_and_compares),
	    cmocka_unit_test(test_changeset_refuses_index_outside_dictionary),
	    cmocka_unit_test(test_changeset_build_fails_cleanly_at_every_allocation),
	    cmocka_unit_test(test_log_keeps_one_line_and_filters_levels),
	    cmocka_unit_test(test_audit_action_names_are_stable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
