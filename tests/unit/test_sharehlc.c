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

/* A session lost with batches in flight: every patient shared now with the
 * peer's practitioner is due again from the start, not the owner's rows,
 * not a revoked share, not another practitioner's. */
static void
test_share_todo_rearm(void **state)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	static const uint8_t peer[CS_DEVID_LEN] = {1}, prac[CS_GID_LEN] = {2};
	uint8_t pat[CS_GID_LEN];
	uint64_t after = 7;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                     "CREATE TABLE cs_shares(patient BLOB NOT NULL, practitioner BLOB "
	                     "NOT NULL, perm TEXT NOT NULL, grant_hlc INTEGER NOT NULL, "
	                     "revoke_hlc INTEGER, PRIMARY KEY(patient, practitioner, grant_hlc)) "
	                     "WITHOUT ROWID",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(cs_share_install(db), 0);
	/* nothing shared: nothing due */
	assert_int_equal(cs_share_todo_rearm(db, peer, prac), 0);
	assert_int_equal(cs_share_todo_next(db, peer, pat, &after), 0);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO cs_shares VALUES(?1, ?2, ?3, ?4, ?5)",
	                     -1, &st, NULL),
	    SQLITE_OK);
	{
		static const struct {
			uint8_t pat, prac;
			const char *perm;
			int grant, revoked;
		} rows[] = {
		    {10, 2, "read", 5, 0},  /* due */
		    {10, 2, "write", 9, 0}, /* the same patient, once */
		    {11, 2, "write", 5, 1}, /* revoked */
		    {12, 3, "read", 5, 0},  /* another practitioner */
		    {13, 2, "owner", 0, 0}, /* its own patient: the main stream */
		};
		size_t i;

		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			uint8_t p[CS_GID_LEN] = {0}, r[CS_GID_LEN] = {0};

			p[0] = rows[i].pat;
			r[0] = rows[i].prac;
			sqlite3_bind_blob(st, 1, p, CS_GID_LEN, SQLITE_TRANSIENT);
			sqlite3_bind_blob(st, 2, r, CS_GID_LEN, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 3, rows[i].perm, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 4, rows[i].grant);
			if (rows[i].revoked)
				sqlite3_bind_int(st, 5, 100);
			else
				sqlite3_bind_null(st, 5);
			assert_int_equal(sqlite3_step(st), SQLITE_DONE);
			sqlite3_reset(st);
		}
	}
	sqlite3_finalize(st);
	/* one was half sent (after = 40): back to the start */
	assert_int_equal(
	    sqlite3_exec(db,
	        "INSERT INTO cs_share_todo VALUES(x'01000000000000000000000000000000', "
	        "x'0a000000000000000000000000000000', 40)",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(cs_share_todo_rearm(db, peer, prac), 0);
	assert_int_equal(cs_share_todo_next(db, peer, pat, &after), 1);
	assert_int_equal(pat[0], 10);
	assert_int_equal(after, 0);
	assert_int_equal(cs_share_todo_set(db, peer, pat, 0, 0), 0);
	assert_int_equal(cs_share_todo_next(db, peer, pat, &after), 0);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_share_seen_hlc_raises_never_lowers),
	    cmocka_unit_test(test_share_todo_rearm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
