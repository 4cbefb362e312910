/*
 * tests/unit/test_sharehlc.c: a received share record raises the hlc floor
 * of the capture triggers (cs_share_seen_hlc, sql/share.h), found by the
 * soak test (issue 9): a PC whose clock is late wrote a patient just shared
 * with it at an hlc below the grant, and the owner refused the write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "sql/share.h"

static int64_t
floor_of(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT v FROM cs_meta WHERE k='hlc'", -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
test_share_seen_hlc_raises_never_lowers(void **state)
{
	sqlite3 *db = NULL;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	/* no engine installed: nothing to raise, no error; now is the wall clock */
	assert_int_equal(cs_share_seen_hlc(db, CS_HLC_MAKE(1000, 0)), 0);
	{
		uint64_t now = 0;

		assert_int_equal(cs_share_now_floor(db, 700, &now), 0);
		assert_int_equal(now, CS_HLC_MAKE(700, 0));
	}
	assert_int_equal(sqlite3_exec(db,
	                     "CREATE TABLE cs_meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID", NULL,
	                     NULL, NULL),
	    SQLITE_OK);
	/* no floor yet: set */
	assert_int_equal(cs_share_seen_hlc(db, CS_HLC_MAKE(1000, 3)), 0);
	assert_int_equal(floor_of(db), (int64_t)CS_HLC_MAKE(1000, 3));
	/* an older record does not lower it, a newer one raises it */
	assert_int_equal(cs_share_seen_hlc(db, CS_HLC_MAKE(900, 0)), 0);
	assert_int_equal(floor_of(db), (int64_t)CS_HLC_MAKE(1000, 3));
	assert_int_equal(cs_share_seen_hlc(db, CS_HLC_MAKE(2000, 0)), 0);
	assert_int_equal(floor_of(db), (int64_t)CS_HLC_MAKE(2000, 0));
	/* "now" for the rights: the later of the wall clock and the floor */
	{
		uint64_t now = 0;

		assert_int_equal(cs_share_now_floor(db, 1500, &now), 0);
		assert_int_equal(now, CS_HLC_MAKE(2000, 0));
		assert_int_equal(cs_share_now_floor(db, 2500, &now), 0);
		assert_int_equal(now, CS_HLC_MAKE(2500, 0));
	}
	/* out of the column's range */
	assert_int_equal(cs_share_seen_hlc(db, UINT64_MAX), CS_EINVAL);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_share_seen_hlc_raises_never_lowers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
