/*
 * tests/unit/test_sharerec.c: share records (sql/sharerec.h), their storage
 * and rights (sql/share.h) and the RECORDS message (wire/records.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "sql/share.h"
#include "sql/sharerec.h"
#include "wire/records.h"

/* three devices, one per practitioner: A owner, B, C */
struct dev {
	uint8_t id[CS_DEVID_LEN], prac[CS_GID_LEN], pk[32], sk[64];
};
static struct dev devs[3];
static uint8_t patient[CS_GID_LEN];

static int
lookup(void *ctx, const uint8_t id[CS_DEVID_LEN], struct cs_share_dev *out)
{
	int i;

	(void)ctx;
	for (i = 0; i < 3; i++) {
		if (memcmp(devs[i].id, id, CS_DEVID_LEN) == 0) {
			memcpy(out->practitioner, devs[i].prac, CS_GID_LEN);
			memcpy(out->sign_pk, devs[i].pk, 32);
			return 1;
		}
	}
	return 0;
}

static int
setup(void **state)
{
	sqlite3 *db;
	int i;

	assert_int_equal(sodium_init() >= 0, 1);
	for (i = 0; i < 3; i++) {
		randombytes_buf(devs[i].id, CS_DEVID_LEN);
		randombytes_buf(devs[i].prac, CS_GID_LEN);
		crypto_sign_keypair(devs[i].pk, devs[i].sk);
	}
	randombytes_buf(patient, CS_GID_LEN);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	/* the engine's table (sql/engine.c schema) */
	assert_int_equal(sqlite3_exec(db,
	                     "CREATE TABLE cs_shares(patient BLOB NOT NULL, practitioner BLOB "
	                     "NOT NULL, perm TEXT NOT NULL, grant_hlc INTEGER NOT NULL, "
	                     "revoke_hlc INTEGER, PRIMARY KEY(patient, practitioner, grant_hlc)) "
	                     "WITHOUT ROWID",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(cs_share_install(db), 0);
	*state = db;
	return 0;
}

static int
teardown(void **state)
{
	sqlite3_close(*state);
	return 0;
}

static void
ctx_for(sqlite3 *db, int who, struct cs_share_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->db = db;
	memcpy(c->device, devs[who].id, CS_DEVID_LEN);
	memcpy(c->practitioner, devs[who].prac, CS_GID_LEN);
	c->sign_sk = devs[who].sk;
	c->lookup = lookup;
}

/* Sign a record by device who and offer it to db (as if received). */
static int
offer(sqlite3 *db, int who, int kind, int perm, int to, uint64_t ms)
{
	struct cs_share_ctx c;
	struct cs_sharerec r;
	uint8_t buf[CS_SHAREREC_MAX];
	size_t len;

	memset(&r, 0, sizeof(r));
	r.kind = (uint8_t)kind;
	r.perm = (uint8_t)perm;
	memcpy(r.patient, patient, CS_GID_LEN);
	memcpy(r.practitioner, devs[to].prac, CS_GID_LEN);
	r.hlc = CS_HLC_MAKE(ms, 0);
	memcpy(r.signer, devs[who].id, CS_DEVID_LEN);
	assert_int_equal(cs_sharerec_sign(&r, devs[who].sk, buf, sizeof(buf), &len), 0);
	ctx_for(db, 0, &c);
	return cs_share_add(&c, buf, len, NULL, NULL, 0);
}

static void
test_sharerec_roundtrip_and_signature(void **state)
{
	struct cs_sharerec r, d;
	uint8_t buf[CS_SHAREREC_MAX];
	size_t len, i;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.kind = CS_SHAREREC_GRANT;
	r.perm = CS_PERM_WRITE;
	memcpy(r.patient, patient, CS_GID_LEN);
	memcpy(r.practitioner, devs[1].prac, CS_GID_LEN);
	r.hlc = CS_HLC_MAKE(1700000000000ull, 3);
	r.until_ms = 1800000000000ull;
	memcpy(r.signer, devs[0].id, CS_DEVID_LEN);
	r.note_len = 5;
	memcpy(r.note, "locum", 5);
	assert_int_equal(cs_sharerec_sign(&r, devs[0].sk, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, CS_SHAREREC_FIXED + 5);
	assert_int_equal(cs_sharerec_decode(buf, len, &d), 0);
	assert_int_equal(cs_sharerec_verify(&d, devs[0].pk), 0);
	assert_int_equal(cs_sharerec_verify(&d, devs[1].pk), CS_SHAREREC_ESIG);
	assert_string_equal(d.note, "locum");
	assert_int_equal(d.until_ms, r.until_ms);
	/* every short read is refused, never read past len */
	for (i = 0; i < len; i++)
		assert_int_equal(cs_sharerec_decode(buf, i, &d), CS_SHAREREC_EFORMAT);
	/* each flipped bit: refused by the decoder or by the signature */
	for (i = 0; i < len * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (cs_sharerec_decode(buf, len, &d) == 0)
			assert_int_equal(cs_sharerec_verify(&d, devs[0].pk), CS_SHAREREC_ESIG);
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
}

static void
test_sharerec_refuses_out_of_domain_fields(void **state)
{
	struct cs_sharerec r;
	uint8_t buf[CS_SHAREREC_MAX];
	size_t len;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.kind = CS_SHAREREC_REVOKE;
	r.perm = CS_PERM_READ; /* a revoke has no permission */
	memcpy(r.patient, patient, CS_GID_LEN);
	assert_int_equal(cs_sharerec_sign(&r, devs[0].sk, buf, sizeof(buf), &len), CS_EINVAL);
	r.perm = 0;
	r.note_len = 1;
	r.note[0] = '\n'; /* control byte */
	assert_int_equal(cs_sharerec_sign(&r, devs[0].sk, buf, sizeof(buf), &len), CS_EINVAL);
	r.note_len = 0;
	r.kind = 9;
	assert_int_equal(cs_sharerec_sign(&r, devs[0].sk, buf, sizeof(buf), &len), CS_EINVAL);
}

static void
test_share_rights_owner_read_full(void **state)
{
	sqlite3 *db = *state;

	/* no claim yet: a grant cannot be decided */
	assert_int_equal(offer(db, 0, CS_SHAREREC_GRANT, CS_PERM_READ, 1, 1000), CS_EAGAIN);
	assert_int_equal(offer(db, 0, CS_SHAREREC_CLAIM, 0, 0, 500), 0);
	assert_int_equal(offer(db, 0, CS_SHAREREC_CLAIM, 0, 0, 500), 1); /* the same bytes */
	/* another practitioner's claim on an owned patient */
	assert_int_equal(offer(db, 1, CS_SHAREREC_CLAIM, 0, 1, 600), CS_SHARE_ENORIGHT);
	assert_int_equal(offer(db, 0, CS_SHAREREC_GRANT, CS_PERM_READ, 1, 1000), 0);
	assert_int_equal(cs_share_rights(db, patient, devs[1].prac, CS_HLC_MAKE(2000, 0)),
	    CS_PERM_READ);
	assert_int_equal(cs_share_rights(db, patient, devs[0].prac, CS_HLC_MAKE(2000, 0)),
	    CS_SHARE_OWNER);
	/* read may not re-share */
	assert_int_equal(offer(db, 1, CS_SHAREREC_GRANT, CS_PERM_READ, 2, 1100), CS_SHARE_ENORIGHT);
	/* full re-shares with at most write */
	assert_int_equal(offer(db, 0, CS_SHAREREC_GRANT, CS_PERM_FULL, 2, 1200), 0);
	assert_int_equal(offer(db, 2, CS_SHAREREC_GRANT, CS_PERM_FULL, 1, 1300), CS_SHARE_ENORIGHT);
	assert_int_equal(offer(db, 2, CS_SHAREREC_GRANT, CS_PERM_WRITE, 1, 1301), 0);
	assert_int_equal(cs_share_rights(db, patient, devs[1].prac, CS_HLC_MAKE(2000, 0)),
	    CS_PERM_WRITE);
	/* revoke: B's rights end at 3000, not before */
	assert_int_equal(offer(db, 0, CS_SHAREREC_REVOKE, 0, 1, 3000), 0);
	assert_int_equal(cs_share_rights(db, patient, devs[1].prac, CS_HLC_MAKE(2999, 0)),
	    CS_PERM_WRITE);
	assert_int_equal(cs_share_rights(db, patient, devs[1].prac, CS_HLC_MAKE(3000, 0)),
	    CS_PERM_NONE);
	/* a refused record is remembered: the same bytes give 2, audited once */
	{
		struct cs_share_ctx c;
		struct cs_sharerec r;
		uint8_t buf[CS_SHAREREC_MAX];
		size_t len;

		memset(&r, 0, sizeof(r));
		r.kind = CS_SHAREREC_GRANT;
		r.perm = CS_PERM_FULL;
		memcpy(r.patient, patient, CS_GID_LEN);
		memcpy(r.practitioner, devs[1].prac, CS_GID_LEN);
		r.hlc = CS_HLC_MAKE(4000, 0);
		memcpy(r.signer, devs[1].id, CS_DEVID_LEN);
		assert_int_equal(cs_sharerec_sign(&r, devs[1].sk, buf, sizeof(buf), &len), 0);
		ctx_for(db, 0, &c);
		assert_int_equal(cs_share_add(&c, buf, len, NULL, NULL, 0), CS_SHARE_ENORIGHT);
		assert_int_equal(cs_share_add(&c, buf, len, NULL, NULL, 0), 2);
		/* signed by B, claiming to be A: forged */
		memcpy(r.signer, devs[0].id, CS_DEVID_LEN);
		r.hlc++;
		assert_int_equal(cs_sharerec_encode(&r, buf, sizeof(buf), &len), 0);
		assert_int_equal(cs_share_add(&c, buf, len, NULL, NULL, 0), CS_SHARE_EFORGED);
	}
}

/* Records arriving in another order derive the same cs_shares. */
static void
test_share_order_independent(void **state)
{
	sqlite3 *db = *state, *db2;
	sqlite3_stmt *st;
	char a[512] = "", b[512] = "";

	assert_int_equal(sqlite3_open(":memory:", &db2), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db2,
	                     "CREATE TABLE cs_shares(patient BLOB NOT NULL, practitioner BLOB "
	                     "NOT NULL, perm TEXT NOT NULL, grant_hlc INTEGER NOT NULL, "
	                     "revoke_hlc INTEGER, PRIMARY KEY(patient, practitioner, grant_hlc)) "
	                     "WITHOUT ROWID",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(cs_share_install(db2), 0);
	assert_int_equal(offer(db, 0, CS_SHAREREC_CLAIM, 0, 0, 500), 0);
	assert_int_equal(offer(db, 0, CS_SHAREREC_GRANT, CS_PERM_WRITE, 1, 1000), 0);
	assert_int_equal(offer(db, 0, CS_SHAREREC_REVOKE, 0, 1, 3000), 0);
	assert_int_equal(offer(db, 0, CS_SHAREREC_TRANSFER, 0, 2, 4000), 0);
	assert_int_equal(offer(db2, 0, CS_SHAREREC_CLAIM, 0, 0, 500), 0);
	assert_int_equal(offer(db2, 0, CS_SHAREREC_TRANSFER, 0, 2, 4000), 0);
	assert_int_equal(offer(db2, 0, CS_SHAREREC_REVOKE, 0, 1, 3000), 0);
	assert_int_equal(offer(db2, 0, CS_SHAREREC_GRANT, CS_PERM_WRITE, 1, 1000), 0);
	assert_int_equal(sqlite3_prepare_v2(db,
	                     "SELECT group_concat(hex(practitioner)||perm||grant_hlc||'-'||"
	                     "ifnull(revoke_hlc,'n'), ',') FROM (SELECT * FROM cs_shares ORDER BY "
	                     "practitioner, grant_hlc)",
	                     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(a, sizeof(a), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db2,
	                     "SELECT group_concat(hex(practitioner)||perm||grant_hlc||'-'||"
	                     "ifnull(revoke_hlc,'n'), ',') FROM (SELECT * FROM cs_shares ORDER BY "
	                     "practitioner, grant_hlc)",
	                     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(b, sizeof(b), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_string_equal(a, b);
	/* the old owner stops at the transfer, the new one starts there */
	assert_int_equal(cs_share_rights(db, patient, devs[0].prac, CS_HLC_MAKE(4000, 0)),
	    CS_PERM_NONE);
	assert_int_equal(cs_share_rights(db, patient, devs[2].prac, CS_HLC_MAKE(4000, 0)),
	    CS_SHARE_OWNER);
	/* only the owner transfers */
	assert_int_equal(offer(db, 0, CS_SHAREREC_TRANSFER, 0, 1, 5000), CS_SHARE_ENORIGHT);
	sqlite3_close(db2);
}

static void
test_records_message_roundtrip_and_truncation(void **state)
{
	struct cs_records_item v[20], d[20];
	uint8_t recs[20][300], out[8000];
	size_t n = 20, len, got, i;

	(void)state;
	for (i = 0; i < n; i++) {
		memset(recs[i], (int)i, sizeof(recs[i]));
		v[i].p = recs[i];
		v[i].len = i == 3 ? 300 : 100 + i; /* bin8 and bin16 */
	}
	assert_int_equal(cs_records_encode(v, n, out, sizeof(out), &len), 0);
	assert_int_equal(cs_records_is(out, len), 1);
	assert_int_equal(cs_records_decode(out, len, d, 20, &got), 0);
	assert_int_equal(got, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(d[i].len, v[i].len);
		assert_memory_equal(d[i].p, v[i].p, v[i].len);
	}
	for (i = 0; i < len; i++)
		assert_int_equal(cs_records_decode(out, i, d, 20, &got), CS_RECORDS_EMSG);
	out[len] = 0;
	assert_int_equal(cs_records_decode(out, len + 1, d, 20, &got), CS_RECORDS_EMSG);
	assert_int_equal(cs_records_decode(out, len, d, 19, &got), CS_RECORDS_EMSG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sharerec_roundtrip_and_signature, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sharerec_refuses_out_of_domain_fields, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_share_rights_owner_read_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_share_order_independent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_records_message_roundtrip_and_truncation, setup,
	        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
