/*
 * tests/unit/test_shsync_more.c: cs_shsync_records_out (agent/share_sync.h)
 * says when more share records remain than one RECORDS message holds, so the
 * daemon sends them all before any row they allow (bench_smoke_reconnect
 * regression: it returned 0 every time, the rows of 5 000 patients went
 * ahead of their owner claims, which then trickled in at one message per
 * local change and the receiver held the rows for minutes). And the
 * session-end audit (sql/audit.h cs_audit_acc_flush) commits in short
 * transactions, not one per session.
 */
/* the fixture's sync helpers are not used here */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "engine_fixture.h"

#include <pthread.h>
#include <sodium.h>

#include "agent/share_sync.h"
#include "sql/audit.h"
#include "wire/records.h"

#define NPAT 600 /* > 2 messages of claims */

static void
test_records_out_more_until_all_sent(void **state)
{
	struct fx *f = fx_new(1);
	struct cs_shsync s;
	struct cs_records_item *v;
	uint8_t sk[64], *msg;
	size_t len, n, total = 0;
	int64_t after = 0, last;
	uint64_t pos;
	int rc, calls = 0, ones = 0;
	char sql[256];

	(void)state;
	assert_int_equal(sodium_init() >= 0, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(pthread_mutex_init(&s.mu, NULL), 0);
	s.mu_ok = 1;
	memcpy(s.device, f->r[0].dev, CS_DEVID_LEN);
	randombytes_buf(s.practitioner, CS_GID_LEN);
	crypto_sign_keypair(s.sign_pk, sk);
	s.sign_sk = sk;
	memcpy(s.dev[0].id, s.device, CS_DEVID_LEN);
	memcpy(s.dev[0].practitioner, s.practitioner, CS_GID_LEN);
	memcpy(s.dev[0].sign_pk, s.sign_pk, 32);
	s.n = 1;
	assert_int_equal(cs_shsync_install(&s, f->r[0].e), 0);
	snprintf(sql, sizeof(sql),
	    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
	    "INSERT INTO patient(id, nom) SELECT i, 'P' || i FROM c",
	    NPAT);
	fx_exec(f->r[0].e, sql);
	assert_non_null(v = cs_calloc(CS_RECORDS_MAX, sizeof(*v)));
	for (;;) {
		assert_true(++calls <= 2 * (NPAT / CS_SHSYNC_RECS_PER_MSG) + 4);
		msg = NULL;
		rc = cs_shsync_records_out(&s, f->r[0].e, after, &msg, &len, &last, &pos);
		assert_true(rc == 0 || rc == 1);
		if (msg != NULL) {
			assert_int_equal(cs_records_decode(msg, len, v, CS_RECORDS_MAX, &n), 0);
			assert_true(n <= CS_SHSYNC_RECS_PER_MSG);
			total += n;
			cs_free(msg);
		}
		assert_true(last >= after);
		after = last;
		if (rc == 0)
			break;
		ones++;
		/* a full message each time more remain */
		assert_int_equal(n, CS_SHSYNC_RECS_PER_MSG);
	}
	/* every claim sent, and "more" said until then (not after) */
	assert_int_equal(total, NPAT);
	assert_int_equal(ones, (NPAT - 1) / CS_SHSYNC_RECS_PER_MSG);
	assert_true(pos > 0);
	cs_free(v);
	cs_shsync_free(&s);
	sodium_memzero(sk, sizeof(sk));
	fx_free(f);
}

static int
count_commit(void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static int
count_row(void *ctx, const struct cs_audit_row *r)
{
	(void)r;
	(*(int *)ctx)++;
	return 0;
}

static void
test_audit_flush_in_short_transactions(void **state)
{
	struct fx *f = fx_new(1);
	sqlite3 *db = cs_engine_handle(f->r[0].e);
	struct cs_audit_self self;
	struct cs_audit_acc acc;
	uint8_t sk[64], peer[CS_DEVID_LEN], pat[CS_GID_LEN];
	int i, commits = 0, rows = 0, npat = 2 * CS_AUDIT_FLUSH_TX + 3;

	(void)state;
	assert_int_equal(sodium_init() >= 0, 1);
	memset(&self, 0, sizeof(self));
	crypto_sign_keypair(self.sign_pk, sk);
	randombytes_buf(self.device, CS_DEVID_LEN);
	randombytes_buf(self.practitioner, CS_GID_LEN);
	self.sign_sk = sk;
	randombytes_buf(peer, sizeof(peer));
	assert_int_equal(cs_audit_install(db), 0);
	cs_audit_acc_init(&acc, peer, NULL);
	for (i = 0; i < npat; i++) {
		memset(pat, 0, sizeof(pat));
		memcpy(pat, &i, sizeof(i));
		assert_int_equal(cs_audit_acc_add(&acc, pat, CS_AUDIT_SYNC_OUT, 2), 0);
	}
	sqlite3_commit_hook(db, count_commit, &commits);
	assert_int_equal(cs_audit_acc_flush(&acc, db, &self, 0), 0);
	sqlite3_commit_hook(db, NULL, NULL);
	assert_int_equal(acc.n, 0);
	/* one transaction per CS_AUDIT_FLUSH_TX patients, every row once */
	assert_int_equal(commits, (npat + CS_AUDIT_FLUSH_TX - 1) / CS_AUDIT_FLUSH_TX);
	assert_int_equal(cs_audit_list(db, NULL, count_row, &rows), 0);
	assert_int_equal(rows, npat);
	/* inside the caller's transaction: one savepoint, no commit of ours */
	for (i = 0; i < npat; i++) {
		memset(pat, 1, sizeof(pat));
		memcpy(pat, &i, sizeof(i));
		assert_int_equal(cs_audit_acc_add(&acc, pat, CS_AUDIT_SYNC_IN, 1), 0);
	}
	commits = 0;
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_commit_hook(db, count_commit, &commits);
	assert_int_equal(cs_audit_acc_flush(&acc, db, &self, 0), 0);
	assert_int_equal(commits, 0);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_commit_hook(db, NULL, NULL);
	assert_int_equal(commits, 1);
	rows = 0;
	assert_int_equal(cs_audit_list(db, NULL, count_row, &rows), 0);
	assert_int_equal(rows, 2 * npat);
	cs_audit_acc_free(&acc);
	sodium_memzero(sk, sizeof(sk));
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records_out_more_until_all_sent),
	    cmocka_unit_test(test_audit_flush_in_short_transactions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
