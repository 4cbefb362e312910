/*
 * tests/unit/test_shsync_batch.c: the share-records phase of an initial
 * sync in batches (agent/share_sync.h, sql/share.h):
 * - cs_shsync_records_out claims a message's worth of new patients per call
 *   (one write transaction of CS_SHSYNC_CLAIMS_PER_TX claims: the app waits
 *   for none long, and the peer stores them while the next are made; it
 *   was every patient of the database in one transaction before the first
 *   record left), says "more" while claims remain, and the claim position
 *   never passes a patient not claimed yet (no row ahead of its claim);
 * - cs_shsync_records_in stores a RECORDS message in one transaction with
 *   cached statements: every record checked as before (a forged one among
 *   them refused and remembered), the same cs_shares as one cs_share_add
 *   at a time without the cache, the hlc floor raised to the latest record.
 */
/* the fixture's sync helpers are not used here */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "engine_fixture.h"

#include <pthread.h>
#include <sodium.h>

#include "agent/share_ops.h"
#include "agent/share_sync.h"
#include "wire/records.h"

#define NPAT 600 /* > 2 messages of claims */

static void
shsync_for(struct cs_shsync *s, const uint8_t dev[CS_DEVID_LEN], const uint8_t prac[CS_GID_LEN],
    const uint8_t pk[32], const uint8_t *sk)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(pthread_mutex_init(&s->mu, NULL), 0);
	s->mu_ok = 1;
	memcpy(s->device, dev, CS_DEVID_LEN);
	memcpy(s->practitioner, prac, CS_GID_LEN);
	memcpy(s->sign_pk, pk, 32);
	s->sign_sk = sk;
}

static void
roster_add(struct cs_shsync *s, const uint8_t dev[CS_DEVID_LEN], const uint8_t prac[CS_GID_LEN],
    const uint8_t pk[32])
{
	memcpy(s->dev[s->n].id, dev, CS_DEVID_LEN);
	memcpy(s->dev[s->n].practitioner, prac, CS_GID_LEN);
	memcpy(s->dev[s->n].sign_pk, pk, 32);
	s->n++;
}

static int
count_commit(void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static int64_t
one_int(struct cs_engine *e, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(cs_engine_handle(e), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Every cs_shares row of e as one string (to compare two databases). */
static void
shares_of(struct cs_engine *e, char *out, size_t cap)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0;

	out[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(cs_engine_handle(e),
	                     "SELECT hex(patient) || hex(practitioner) || perm || grant_hlc || "
	                     "coalesce(revoke_hlc, '-') FROM cs_shares ORDER BY 1",
	                     -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int k = snprintf(out + n, cap - n, "%s;", (const char *)sqlite3_column_text(st, 0));

		assert_true(k > 0 && (size_t)k < cap - n);
		n += (size_t)k;
	}
	sqlite3_finalize(st);
}

struct msgs {
	uint8_t *m[8];
	size_t len[8], n;
};

static void
test_claims_batched_and_stored_per_message(void **state)
{
	struct fx *f = fx_new(3);
	struct cs_shsync a, b;
	struct msgs ms;
	uint8_t sk[64], pk[32], prac[CS_GID_LEN], bdev[CS_DEVID_LEN], *msg;
	size_t len, i, nrec = 0;
	int64_t after = 0, last, claims, first_unclaimed;
	uint64_t pos;
	int rc, commits, changed;
	char sql[256], *s1, *s2;

	(void)state;
	assert_int_equal(sodium_init() >= 0, 1);
	crypto_sign_keypair(pk, sk);
	randombytes_buf(prac, sizeof(prac));
	randombytes_buf(bdev, sizeof(bdev));
	shsync_for(&a, f->r[0].dev, prac, pk, sk);
	roster_add(&a, f->r[0].dev, prac, pk);
	assert_int_equal(cs_shsync_install(&a, f->r[0].e), 0);
	snprintf(sql, sizeof(sql),
	    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
	    "INSERT INTO patient(id, nom) SELECT i, 'P' || i FROM c",
	    NPAT);
	fx_exec(f->r[0].e, sql);

	/* A: a message's worth of claims per call, in one transaction each */
	memset(&ms, 0, sizeof(ms));
	for (;;) {
		assert_true(ms.n < 8);
		commits = 0;
		sqlite3_commit_hook(cs_engine_handle(f->r[0].e), count_commit, &commits);
		rc = cs_shsync_records_out(&a, f->r[0].e, after, &msg, &len, &last, &pos);
		sqlite3_commit_hook(cs_engine_handle(f->r[0].e), NULL, NULL);
		assert_true(rc == 0 || rc == 1);
		assert_non_null(msg);
		ms.m[ms.n] = msg;
		ms.len[ms.n++] = len;
		claims = one_int(f->r[0].e, "SELECT count(*) FROM cs_share_rec WHERE kind = 1");
		assert_int_equal(commits, CS_SHSYNC_RECS_PER_MSG / CS_SHSYNC_CLAIMS_PER_TX);
		/* no row of a patient not claimed yet goes out: the position
		 * stays below it */
		first_unclaimed = one_int(f->r[0].e,
		    "SELECT coalesce(min(i.v), -1) FROM cs_ids i JOIN cs_tables t ON t.tid = i.tid "
		    "WHERE t.name = 'patient' AND NOT EXISTS (SELECT 1 FROM cs_shares s WHERE "
		    "s.patient = i.gid)");
		if (first_unclaimed >= 0)
			assert_true((int64_t)pos < first_unclaimed);
		after = last;
		if (rc == 0)
			break;
		assert_true(claims < NPAT);
		assert_int_equal(claims, (int64_t)ms.n * CS_SHSYNC_RECS_PER_MSG);
	}
	assert_int_equal(claims, NPAT);
	assert_int_equal(ms.n, (NPAT + CS_SHSYNC_RECS_PER_MSG - 1) / CS_SHSYNC_RECS_PER_MSG);
	assert_int_equal(one_int(f->r[0].e, "SELECT count(*) FROM cs_shares"), NPAT);
	assert_true(pos >= (uint64_t)one_int(f->r[0].e, "SELECT max(v) FROM cs_ids"));

	/* a forged record in the middle of the last message: re-encode it */
	{
		struct cs_records_item *v = cs_calloc(CS_RECORDS_MAX, sizeof(*v));
		uint8_t *copy, *out;
		size_t n, olen;

		assert_non_null(v);
		assert_int_equal(
		    cs_records_decode(ms.m[ms.n - 1], ms.len[ms.n - 1], v, CS_RECORDS_MAX, &n), 0);
		assert_true(n > 2);
		assert_non_null(copy = cs_malloc(v[1].len));
		memcpy(copy, v[1].p, v[1].len);
		copy[v[1].len - 1] ^= 1; /* the signature's last byte */
		v[1].p = copy;
		assert_non_null(out = cs_malloc(cs_records_size(n)));
		assert_int_equal(cs_records_encode(v, n, out, cs_records_size(n), &olen), 0);
		cs_free(ms.m[ms.n - 1]);
		ms.m[ms.n - 1] = out;
		ms.len[ms.n - 1] = olen;
		cs_free(copy);
		cs_free(v);
	}

	/* B: one transaction per message, every record checked */
	shsync_for(&b, bdev, prac, pk, NULL);
	roster_add(&b, f->r[0].dev, prac, pk);
	assert_int_equal(cs_shsync_install(&b, f->r[1].e), 0);
	for (i = 0; i < ms.n; i++) {
		commits = 0;
		sqlite3_commit_hook(cs_engine_handle(f->r[1].e), count_commit, &commits);
		assert_int_equal(
		    cs_shsync_records_in(&b, f->r[1].e, ms.m[i], ms.len[i], f->r[0].dev, &changed),
		    0);
		sqlite3_commit_hook(cs_engine_handle(f->r[1].e), NULL, NULL);
		assert_int_equal(changed, 1);
		assert_true(commits >= 1 && commits <= 2); /* + the read-only set when it changed */
	}
	assert_int_equal(one_int(f->r[1].e, "SELECT count(*) FROM cs_share_rec"), NPAT - 1);
	assert_int_equal(one_int(f->r[1].e, "SELECT count(*) FROM cs_share_bad"), 1);
	assert_int_equal(one_int(f->r[1].e, "SELECT count(*) FROM cs_shares"), NPAT - 1);
	/* the floor: the latest record's hlc */
	assert_int_equal(one_int(f->r[1].e, "SELECT v FROM cs_meta WHERE k = 'hlc'"),
	    one_int(f->r[1].e, "SELECT max(hlc) FROM cs_share_rec"));
	/* the same again: known, refused before; nothing changes */
	for (i = 0; i < ms.n; i++) {
		assert_int_equal(
		    cs_shsync_records_in(&b, f->r[1].e, ms.m[i], ms.len[i], f->r[0].dev, &changed),
		    0);
		assert_int_equal(changed, 0);
	}
	assert_int_equal(one_int(f->r[1].e, "SELECT count(*) FROM cs_share_rec"), NPAT - 1);

	/* C: one cs_share_add at a time without the cache: the same shares */
	assert_int_equal(cs_shsync_install(&b, f->r[2].e), 0);
	{
		struct cs_records_item *v = cs_calloc(CS_RECORDS_MAX, sizeof(*v));
		size_t n, j;

		assert_non_null(v);
		for (i = 0; i < ms.n; i++) {
			assert_int_equal(
			    cs_records_decode(ms.m[i], ms.len[i], v, CS_RECORDS_MAX, &n), 0);
			for (j = 0; j < n; j++) {
				struct cs_share_self self;
				uint8_t pr[CS_HOME_MAX_DEVICES][CS_GID_LEN];

				cs_shsync_self(&b, f->r[2].e, &self, pr);
				assert_null(self.c.cache);
				rc = cs_share_add(&self.c, v[j].p, v[j].len, NULL, NULL, 0);
				assert_true(rc == 0 || rc == CS_SHARE_EFORGED);
				nrec += rc == 0;
			}
		}
		cs_free(v);
	}
	assert_int_equal(nrec, NPAT - 1);
	assert_non_null(s1 = cs_malloc(NPAT * 128));
	assert_non_null(s2 = cs_malloc(NPAT * 128));
	shares_of(f->r[1].e, s1, NPAT * 128);
	shares_of(f->r[2].e, s2, NPAT * 128);
	assert_string_equal(s1, s2);
	cs_free(s1);
	cs_free(s2);

	for (i = 0; i < ms.n; i++)
		cs_free(ms.m[i]);
	cs_shsync_free(&a);
	cs_shsync_free(&b);
	sodium_memzero(sk, sizeof(sk));
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_claims_batched_and_stored_per_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
