/*
 * tests/unit/test_sim_oracle.c: the simulator's own parts, tested apart from
 * the engine, so that a green simulator run means something: the RNG is the
 * published xoshiro256** (values from an independent Python transcription),
 * the causality oracle calls concurrent exactly what it should, the VFS shim
 * gives SQLite the fake clock and cuts writes at the crash point with the
 * database recovering to its last commit.
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
#include <sqlite3.h>

#include "base/mem.h"
#include "tests/sim/sim_db.h"
#include "tests/sim/sim_oracle.h"
#include "tests/sim/sim_rng.h"
#include "tests/sim/sim_vfs.h"

static void
test_rng_matches_reference_xoshiro256starstar(void **state)
{
	struct sim_rng r;

	(void)state;
	sim_rng_init(&r, 0);
	assert_true(sim_rng_next(&r) == 0x99ec5f36cb75f2b4ull);
	assert_true(sim_rng_next(&r) == 0xbf6e1f784956452aull);
	assert_true(sim_rng_next(&r) == 0x1a5f849d4933e6e0ull);
	sim_rng_init(&r, 42);
	assert_true(sim_rng_next(&r) == 0x15780b2e0c2ec716ull);
	assert_true(sim_rng_next(&r) == 0x6104d9866d113a7eull);
}

static void
test_rng_below_stays_in_range_and_replays(void **state)
{
	struct sim_rng a, b;
	int i, seen[7] = {0};

	(void)state;
	sim_rng_init(&a, 7);
	sim_rng_init(&b, 7);
	for (i = 0; i < 1000; i++) {
		uint64_t x = sim_rng_below(&a, 7);

		assert_true(x < 7);
		assert_true(x == sim_rng_below(&b, 7));
		seen[x]++;
	}
	for (i = 0; i < 7; i++)
		assert_true(seen[i] > 0);
	assert_true(sim_rng_below(&a, 0) == 0);
	assert_true(sim_rng_range(&a, 5, 5) == 5);
}

static const uint8_t DA[16] = {1}, DB[16] = {2}, GID[16] = {9, 9};

/* A and B write the same cell without seeing each other: concurrent. */
static void
test_oracle_independent_writes_are_concurrent(void **state)
{
	struct sim_oracle o;
	long row, a, b;

	(void)state;
	oracle_init(&o, 2);
	row = oracle_row(&o, 0, GID);
	assert_true(row >= 0);
	a = oracle_write(&o, 0, row, 3, DA, 100, 1, 1);
	assert_int_equal(oracle_seen(&o, 0, a), 0);
	b = oracle_write(&o, 1, row, 3, DB, 101, 1, 1);
	assert_int_equal(oracle_seen(&o, 1, b), 0);
	assert_false(oracle_saw(&o, b, a));
	assert_false(oracle_saw(&o, a, b));
	assert_false(oracle_superseded(&o, a));
	assert_false(oracle_superseded(&o, b));
	oracle_free(&o);
}

/* B writes after integrating A's history: B saw A, A is superseded. */
static void
test_oracle_write_after_integrate_saw_it(void **state)
{
	struct sim_oracle o;
	struct bits snap = {0};
	long row, a, b;

	(void)state;
	oracle_init(&o, 3);
	row = oracle_row(&o, 0, GID);
	a = oracle_write(&o, 0, row, 2, DA, 100, 1, 1);
	oracle_seen(&o, 0, a);
	assert_int_equal(bits_copy(&snap, &o.rows[row].hist[0]), 0); /* extraction */
	a = oracle_write(&o, 0, row, 2, DA, 150, 2, 1);              /* after the snapshot */
	oracle_seen(&o, 0, a);
	assert_int_equal(oracle_integrate(&o, 1, row, &snap), 0); /* apply at B */
	b = oracle_write(&o, 1, row, 2, DB, 200, 1, 1);
	oracle_seen(&o, 1, b);
	assert_true(oracle_saw(&o, b, 0));     /* the first write of A */
	assert_false(oracle_saw(&o, b, a));    /* A's second came after the snapshot */
	assert_true(oracle_superseded(&o, 0)); /* replaced by A itself and by B */
	assert_false(oracle_superseded(&o, a));
	/* knowledge is transitive: C learns A's first write through B */
	assert_int_equal(bits_copy(&snap, &o.rows[row].hist[1]), 0);
	oracle_integrate(&o, 2, row, &snap);
	assert_true(bits_test(&o.rows[row].hist[2], 0));
	assert_true(bits_test(&o.rows[row].hist[2], (size_t)b));
	assert_false(bits_test(&o.rows[row].hist[2], (size_t)a));
	bits_free(&snap);
	oracle_free(&o);
}

/* A delete that saw an edit supersedes it; one that did not, does not. */
static void
test_oracle_delete_supersedes_only_what_it_saw(void **state)
{
	struct sim_oracle o;
	long row, e1, e2, del;

	(void)state;
	oracle_init(&o, 2);
	row = oracle_row(&o, 1, GID);
	e1 = oracle_write(&o, 0, row, 4, DA, 10, 1, 1);
	oracle_seen(&o, 0, e1);
	oracle_seen(&o, 1, e1); /* B has it */
	e2 = oracle_write(&o, 0, row, 5, DA, 20, 2, 1);
	oracle_seen(&o, 0, e2);
	del = oracle_write(&o, 1, row, OR_EXIST, DB, 30, 1, 2);
	oracle_seen(&o, 1, del);
	assert_true(oracle_superseded(&o, e1));
	assert_false(oracle_superseded(&o, e2)); /* edit vs delete: must be recorded */
	assert_int_equal(oracle_find(&o, row, OR_EXIST, DB, 30), del);
	assert_int_equal(oracle_find(&o, row, 5, DA, 20), e2);
	assert_int_equal(oracle_find(&o, row, 5, DB, 20), -1);
	oracle_free(&o);
}

/* Two cells of one transaction do not see each other. */
static void
test_oracle_same_transaction_writes_share_history(void **state)
{
	struct sim_oracle o;
	long row, a, b;

	(void)state;
	oracle_init(&o, 1);
	row = oracle_row(&o, 0, GID);
	a = oracle_write(&o, 0, row, 1, DA, 10, 1, 1);
	b = oracle_write(&o, 0, row, 2, DA, 10, 1, 1);
	oracle_seen(&o, 0, a);
	oracle_seen(&o, 0, b);
	assert_false(oracle_saw(&o, b, a));
	assert_int_equal(oracle_row(&o, 0, GID), row);
	oracle_free(&o);
}

/*
 * A parent's delete credits a receiver's cascade with what its writer had
 * seen of a child only if its transaction deleted the child too (sim bug
 * 7, cs_sim --seed 8394 paged): a deleter that had the child under
 * another parent (moved here concurrently) did not delete it.
 */
static void
test_oracle_txn_deleted_is_per_transaction(void **state)
{
	static const uint8_t PARENT[16] = {7}, CHILD[16] = {8}, OTHER[16] = {6};
	struct sim_oracle o;
	long parent, child, other, del, del2, ins;

	(void)state;
	oracle_init(&o, 2);
	parent = oracle_row(&o, 0, PARENT);
	child = oracle_row(&o, 1, CHILD);
	other = oracle_row(&o, 0, OTHER);
	oracle_next_txn(&o);
	ins = oracle_write(&o, 0, child, OR_EXIST, DA, 5, 1, 1);
	oracle_seen(&o, 0, ins);
	/* one transaction: the parent and its child (ON DELETE CASCADE) */
	oracle_next_txn(&o);
	del = oracle_write(&o, 0, parent, OR_EXIST, DA, 10, 2, 2);
	oracle_write(&o, 0, child, OR_EXIST, DA, 10, 3, 2);
	/* another transaction deletes another parent only */
	oracle_next_txn(&o);
	del2 = oracle_write(&o, 0, other, OR_EXIST, DA, 20, 4, 2);
	assert_true(oracle_txn_deleted(&o, del, child));
	assert_false(oracle_txn_deleted(&o, del2, child));
	/* the insert of the child is no delete of it */
	assert_false(oracle_txn_deleted(&o, ins, child));
	oracle_free(&o);
}

static int64_t
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
make_path(char *dir, size_t dlen, char *uri, size_t ulen, const char *vfs)
{
	snprintf(dir, dlen, "/tmp/cs_simvfs.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(uri, ulen, "file:%s/t.db?vfs=%s", dir, vfs);
}

static void
remove_db(const char *dir)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/t.db", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/t.db-wal", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/t.db-shm", dir);
	unlink(p);
	rmdir(dir);
}

/* julianday('now') in a trigger sees the replica's fake clock. */
static void
test_vfs_clock_is_what_sqlite_now_returns(void **state)
{
	struct sim_vfs v;
	sqlite3 *db = NULL;
	char dir[64], uri[160];
	int64_t ms;

	(void)state;
	assert_int_equal(sim_vfs_register(&v, "cssimtestclock"), SQLITE_OK);
	make_path(dir, sizeof(dir), uri, sizeof(uri), v.name);
	v.now_ms = 1790000123456ull;
	assert_int_equal(sqlite3_open_v2(uri, &db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL),
	    SQLITE_OK);
	ms = query_int(db,
	    "SELECT CAST(round((julianday('now') - 2440587.5) * 86400000) AS "
	    "INTEGER)");
	assert_true(ms == 1790000123456ll);
	v.now_ms -= 60000; /* a clock stepped back a minute */
	ms = query_int(db,
	    "SELECT CAST(round((julianday('now') - 2440587.5) * 86400000) AS "
	    "INTEGER)");
	assert_true(ms == 1790000063456ll);
	sqlite3_close(db);
	remove_db(dir);
	sim_vfs_unregister(&v);
}

/* A crash at any write of a transaction leaves the last commit after recovery. */
static void
test_vfs_crash_point_recovers_to_last_commit(void **state)
{
	struct sim_vfs v;
	sqlite3 *db = NULL;
	char dir[64], uri[160], msg[128];
	long total, k;
	int rc;

	(void)state;
	assert_int_equal(sim_vfs_register(&v, "cssimtestcrash"), SQLITE_OK);
	make_path(dir, sizeof(dir), uri, sizeof(uri), v.name);
	for (k = 0;; k++) {
		assert_int_equal(sqlite3_open_v2(uri, &db,
		                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
		                     NULL),
		    SQLITE_OK);
		if (k == 0) {
			assert_int_equal(sim_db_exec(db,
			                     "PRAGMA journal_mode = WAL; "
			                     "CREATE TABLE t(a INTEGER PRIMARY KEY, b); "
			                     "INSERT INTO t(b) VALUES ('committed')"),
			    SQLITE_OK);
		}
		total = v.writes;
		sim_vfs_crash_after(&v, k);
		rc = sim_db_exec(db,
		    "BEGIN; INSERT INTO t(b) SELECT randomblob(3000) FROM "
		    "(SELECT 1 UNION SELECT 2 UNION SELECT 3); COMMIT");
		total = v.writes - total;
		sqlite3_close(db);
		sim_vfs_crash_after(&v, -1);
		assert_int_equal(
		    sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL),
		    SQLITE_OK);
		assert_true(sim_db_integrity_ok(db, msg, sizeof(msg)));
		if (rc == SQLITE_OK) {
			/* k reached past the last write of the commit: all of it is there */
			assert_true(query_int(db, "SELECT count(*) FROM t") >= 4);
			sqlite3_close(db);
			break;
		}
		assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 1);
		sqlite3_close(db);
		assert_true(k < 100);
	}
	assert_true(k > 1); /* several crash points were really inside the commit */
	(void)total;
	remove_db(dir);
	sim_vfs_unregister(&v);
}

/* The full dump sorts rows, so insertion order does not matter. */
static void
test_full_dump_is_order_independent(void **state)
{
	sqlite3 *a = NULL, *b = NULL;
	char *da = NULL, *db = NULL;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &a), SQLITE_OK);
	assert_int_equal(sqlite3_open(":memory:", &b), SQLITE_OK);
	assert_int_equal(sim_db_exec(a,
	                     "CREATE TABLE t(x, y); INSERT INTO t VALUES (1, 'a'), "
	                     "(2, x'00ff'), (NULL, 2.5)"),
	    SQLITE_OK);
	assert_int_equal(sim_db_exec(b,
	                     "CREATE TABLE t(x, y); INSERT INTO t VALUES (NULL, 2.5), "
	                     "(1, 'a'), (2, x'00ff')"),
	    SQLITE_OK);
	assert_int_equal(sim_dump_full(a, &da), 0);
	assert_int_equal(sim_dump_full(b, &db), 0);
	assert_string_equal(da, db);
	cs_free(da);
	cs_free(db);
	assert_int_equal(sim_db_exec(b, "UPDATE t SET y = 'b' WHERE x = 1"), SQLITE_OK);
	assert_int_equal(sim_dump_full(b, &db), 0);
	assert_int_equal(sim_dump_full(a, &da), 0);
	assert_string_not_equal(da, db);
	cs_free(da);
	cs_free(db);
	sqlite3_close(a);
	sqlite3_close(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rng_matches_reference_xoshiro256starstar),
	    cmocka_unit_test(test_rng_below_stays_in_range_and_replays),
	    cmocka_unit_test(test_oracle_independent_writes_are_concurrent),
	    cmocka_unit_test(test_oracle_write_after_integrate_saw_it),
	    cmocka_unit_test(test_oracle_delete_supersedes_only_what_it_saw),
	    cmocka_unit_test(test_oracle_same_transaction_writes_share_history),
	    cmocka_unit_test(test_oracle_txn_deleted_is_per_transaction),
	    cmocka_unit_test(test_vfs_clock_is_what_sqlite_now_returns),
	    cmocka_unit_test(test_vfs_crash_point_recovers_to_last_commit),
	    cmocka_unit_test(test_full_dump_is_order_independent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
