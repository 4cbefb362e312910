/* Unit tests of sql/audit: the hash chain, row signatures, heads, verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "base/mem.h"
#include "sql/audit.h"

struct fx {
	sqlite3 *db;
	struct cs_audit_self self;
	uint8_t sk[CS_AUDIT_SK_LEN];
};

static const uint8_t pat1[CS_GID_LEN] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t pat2[CS_GID_LEN] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
static const uint8_t peer[CS_DEVID_LEN] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

static void
fx_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err != NULL ? err : "?");
	sqlite3_free(err);
}

static int
fx_exec_rc(sqlite3 *db, const char *sql, char *msg, size_t cap)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (msg != NULL)
		snprintf(msg, cap, "%s", err != NULL ? err : "");
	sqlite3_free(err);
	return rc;
}

static struct fx *
fx_new(void)
{
	static struct fx f;

	memset(&f, 0, sizeof(f));
	assert_int_equal(sqlite3_open(":memory:", &f.db), SQLITE_OK);
	crypto_sign_keypair(f.self.sign_pk, f.sk);
	randombytes_buf(f.self.device, CS_DEVID_LEN);
	randombytes_buf(f.self.practitioner, CS_GID_LEN);
	f.self.sign_sk = f.sk;
	assert_int_equal(cs_audit_install(f.db), 0);
	return &f;
}

static void
fx_free(struct fx *f)
{
	sqlite3_close(f->db);
	sodium_memzero(f->sk, sizeof(f->sk));
}

static void
add(struct fx *f, enum cs_audit_action a, const uint8_t *patient, int64_t count, const char *d)
{
	struct cs_audit_event ev = {0};

	ev.at_ms = 1700000000000;
	ev.action = a;
	ev.patient = patient;
	ev.count = count;
	ev.detail = d;
	assert_int_equal(cs_audit_append(f->db, &f->self, &ev, NULL, NULL), 0);
}

static void
fill(struct fx *f, int n)
{
	int i;

	for (i = 0; i < n; i++)
		add(f, i % 2 ? CS_AUDIT_NOTE : CS_AUDIT_SYNC_IN, i % 3 ? pat1 : NULL, i, "x");
}

static struct cs_audit_verdict
verify(struct fx *f, const struct cs_audit_head *extra)
{
	struct cs_audit_verdict v;

	assert_int_equal(cs_audit_verify(f->db, &f->self, extra, &v), 0);
	return v;
}

static void
expect_bad(struct fx *f, const struct cs_audit_head *extra, int64_t row, const char *needle)
{
	struct cs_audit_verdict v = verify(f, extra);

	assert_false(v.ok);
	assert_int_equal(v.bad_row, row);
	if (strstr(v.why, needle) == NULL)
		fail_msg("why '%s' lacks '%s'", v.why, needle);
}

static void
test_install_is_idempotent(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fill(f, 2);
	assert_int_equal(cs_audit_install(f->db), 0);
	assert_true(verify(f, NULL).ok);
	assert_int_equal(verify(f, NULL).rows, 2);
	fx_free(f);
}

static void
test_untouched_trail_verifies(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_verdict v;
	struct cs_audit_head h;

	(void)state;
	v = verify(f, NULL);
	assert_true(v.ok);
	assert_int_equal(v.rows, 0);
	fill(f, 20);
	assert_int_equal(cs_audit_head_make(f->db, &f->self, 0, &h), 0);
	assert_int_equal(h.count, 20);
	fill(f, 5); /* rows after the last head are fine */
	v = verify(f, NULL);
	assert_true(v.ok);
	assert_true(v.triggers);
	assert_int_equal(v.rows, 25);
	assert_int_equal(v.heads, 1);
	assert_int_equal(v.bad_row, 0);
	fx_free(f);
}

static void
test_triggers_refuse_update_and_delete(void **state)
{
	struct fx *f = fx_new();
	char msg[128];

	(void)state;
	fill(f, 3);
	assert_int_not_equal(
	    fx_exec_rc(f->db, "UPDATE cs_audit SET count=7 WHERE id=2", msg, sizeof(msg)),
	    SQLITE_OK);
	assert_string_equal(msg, "cs_audit is append-only");
	assert_int_not_equal(fx_exec_rc(f->db, "DELETE FROM cs_audit WHERE id=3", msg, sizeof(msg)),
	    SQLITE_OK);
	assert_string_equal(msg, "cs_audit is append-only");
	/* REPLACE would delete row 1 without firing the delete trigger */
	assert_int_not_equal(
	    fx_exec_rc(f->db,
	        "INSERT OR REPLACE INTO cs_audit SELECT id, at_ms, action, device, "
	        "practitioner, patient, patient_local, count+1, detail, prev, hash, "
	        "sig FROM cs_audit WHERE id=1",
	        msg, sizeof(msg)),
	    SQLITE_OK);
	assert_string_equal(msg, "cs_audit is append-only");
	assert_true(verify(f, NULL).ok);
	fx_free(f);
}

static void
drop_triggers(struct fx *f)
{
	fx_exec(f->db,
	    "DROP TRIGGER cs_audit_no_update; DROP TRIGGER cs_audit_no_delete;"
	    "DROP TRIGGER cs_audit_no_replace");
}

static void
test_edited_row_is_named(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_verdict v;

	(void)state;
	fill(f, 10);
	drop_triggers(f);
	v = verify(f, NULL);
	assert_true(v.ok);
	assert_false(v.triggers); /* said, but not a fault of the chain */
	fx_exec(f->db, "UPDATE cs_audit SET count=count+1 WHERE id=4");
	expect_bad(f, NULL, 4, "row 4 was edited");
	fx_free(f);
}

static void
test_edited_detail_of_last_row_is_named(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fill(f, 6);
	drop_triggers(f);
	fx_exec(f->db, "UPDATE cs_audit SET detail='y' WHERE id=6");
	expect_bad(f, NULL, 6, "row 6 was edited");
	fx_free(f);
}

static void
test_rehashed_row_fails_its_signature(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fill(f, 6);
	drop_triggers(f);
	/* the hash is public: an editor can recompute it, not the signature */
	fx_exec(f->db,
	    "UPDATE cs_audit SET hash=(SELECT hash FROM cs_audit WHERE id=2) WHERE id=5");
	expect_bad(f, NULL, 5, "row 5");
	fx_free(f);
}

static void
test_deleted_row_is_named(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fill(f, 10);
	drop_triggers(f);
	fx_exec(f->db, "DELETE FROM cs_audit WHERE id=7");
	expect_bad(f, NULL, 7, "row 7 is missing");
	fx_free(f);
}

static void
test_forged_row_is_named(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_self forger;
	uint8_t fsk[CS_AUDIT_SK_LEN];

	(void)state;
	fill(f, 4);
	/* a writer without the device key appends a well-chained row */
	forger = f->self;
	crypto_sign_keypair(forger.sign_pk, fsk);
	forger.sign_sk = fsk;
	{
		struct cs_audit_event ev = {0};

		ev.action = CS_AUDIT_NOTE;
		ev.detail = "forged";
		assert_int_equal(cs_audit_append(f->db, &forger, &ev, NULL, NULL), 0);
	}
	add(f, CS_AUDIT_NOTE, NULL, 0, "after");
	expect_bad(f, NULL, 5, "row 5 is not signed by this device");
	fx_free(f);
}

static void
test_copied_row_is_named(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fill(f, 4);
	/* a validly signed row copied at the end: its id is in its hash */
	fx_exec(f->db,
	    "INSERT INTO cs_audit SELECT 5, at_ms, action, device, practitioner, patient, "
	    "patient_local, count, detail, prev, hash, sig FROM cs_audit WHERE id=2");
	expect_bad(f, NULL, 5, "row 5 was edited");
	fx_free(f);
}

static void
test_reordered_rows_are_named(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fill(f, 6);
	drop_triggers(f);
	fx_exec(f->db,
	    "UPDATE cs_audit SET id=-id WHERE id IN (3, 4);"
	    "UPDATE cs_audit SET id=4 WHERE id=-3; UPDATE cs_audit SET id=3 WHERE id=-4");
	expect_bad(f, NULL, 3, "row 3");
	fx_free(f);
}

static void
test_dropped_tail_is_caught_by_own_head(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_head h;

	(void)state;
	fill(f, 8);
	assert_int_equal(cs_audit_head_make(f->db, &f->self, 0, &h), 0);
	drop_triggers(f);
	fx_exec(f->db, "DELETE FROM cs_audit WHERE id > 5");
	expect_bad(f, NULL, 6, "rows 6 to 8 are missing");
	/* and a later head may not hide it */
	assert_int_equal(cs_audit_head_make(f->db, &f->self, 0, &h), CS_AUDIT_EFORK);
	/* new rows reusing the ids do not either */
	fill(f, 4);
	expect_bad(f, NULL, 8, "row 8 differs from the own head");
	fx_free(f);
}

/* Rewrite the whole chain from row `from` on, re-signed with the device key. */
static void
rewrite(struct fx *f, int n, int edited)
{
	int i;

	drop_triggers(f);
	fx_exec(f->db, "DELETE FROM cs_audit; DELETE FROM cs_audit_heads");
	for (i = 0; i < n; i++)
		add(f, i % 2 ? CS_AUDIT_NOTE : CS_AUDIT_SYNC_IN, i % 3 ? pat1 : NULL,
		    i == edited ? 1000 : i, "x");
}

static void
test_rewritten_chain_is_caught_by_peer_head(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_head h, mine, held;
	uint8_t buf[CS_AUDIT_HEAD_LEN];

	(void)state;
	fill(f, 10);
	assert_int_equal(cs_audit_head_make(f->db, &f->self, 0, &h), 0);
	/* the peer keeps a copy (through its encoding, as it travels) */
	cs_audit_head_encode(&h, buf);
	assert_int_equal(cs_audit_head_decode(buf, sizeof(buf), &held), 0);
	/* the disk's holder rewrites everything and signs a new head */
	rewrite(f, 12, 3);
	assert_int_equal(cs_audit_head_make(f->db, &f->self, 0, &mine), 0);
	assert_true(verify(f, NULL).ok); /* locally consistent */
	/* given the peer's copy, the rewrite shows */
	expect_bad(f, &held, 10, "row 10 differs from the given peer-held head");
	/* kept from the peer, too */
	assert_int_equal(cs_audit_head_keep(f->db, &held, f->self.sign_pk, peer, 0), 0);
	expect_bad(f, NULL, 10, "peer-held head");
	fx_free(f);
}

static void
test_truncated_rewrite_is_caught_by_peer_head(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_head h;

	(void)state;
	fill(f, 10);
	assert_int_equal(cs_audit_head_make(f->db, &f->self, 0, &h), 0);
	rewrite(f, 7, -1);
	expect_bad(f, &h, 8, "rows 8 to 10 are missing");
	fx_free(f);
}

static void
test_peer_keeps_heads_and_refuses_a_fork(void **state)
{
	struct fx *a = fx_new();
	struct cs_audit_head h1, h2, old, got;
	sqlite3 *b;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &b), SQLITE_OK);
	assert_int_equal(cs_audit_install(b), 0);
	fill(a, 3);
	assert_int_equal(cs_audit_head_make(a->db, &a->self, 0, &h1), 0);
	assert_int_equal(cs_audit_head_keep(b, &h1, a->self.sign_pk, a->self.device, 0), 0);
	assert_int_equal(cs_audit_head_keep(b, &h1, a->self.sign_pk, a->self.device, 0), 0);
	fill(a, 2);
	assert_int_equal(cs_audit_head_make(a->db, &a->self, 0, &h2), 0);
	assert_int_equal(cs_audit_head_keep(b, &h2, a->self.sign_pk, a->self.device, 0), 0);
	assert_int_equal(cs_audit_head_get(b, a->self.device, &got), 0);
	assert_int_equal(got.count, 5);
	assert_memory_equal(got.hash, h2.hash, CS_AUDIT_HASH_LEN);
	/* an older head (a truncated trail) is refused, the kept one stays */
	assert_int_equal(cs_audit_head_keep(b, &h1, a->self.sign_pk, a->self.device, 0),
	    CS_AUDIT_EFORK);
	/* same count, other hash: a rewrite */
	old = h2;
	old.hash[0] ^= 1;
	assert_int_equal(cs_audit_head_check(&old, a->self.sign_pk), CS_AUDIT_ESIG);
	assert_int_equal(cs_audit_head_keep(b, &old, a->self.sign_pk, a->self.device, 0),
	    CS_AUDIT_ESIG);
	rewrite(a, 5, 2);
	assert_int_equal(cs_audit_head_make(a->db, &a->self, 0, &h1), 0);
	assert_int_equal(cs_audit_head_keep(b, &h1, a->self.sign_pk, a->self.device, 0),
	    CS_AUDIT_EFORK);
	assert_int_equal(cs_audit_head_get(b, a->self.device, &got), 0);
	assert_memory_equal(got.hash, h2.hash, CS_AUDIT_HASH_LEN);
	assert_int_equal(cs_audit_head_get(b, peer, &got), CS_ENOENT);
	sqlite3_close(b);
	fx_free(a);
}

static void
test_forged_head_signature_is_named(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_head h;

	(void)state;
	fill(f, 4);
	assert_int_equal(cs_audit_head_make(f->db, &f->self, 0, &h), 0);
	h.sig[3] ^= 0x40;
	expect_bad(f, &h, 4, "bad signature");
	fx_free(f);
}

static void
test_head_decode_rejects_bad_bytes(void **state)
{
	struct cs_audit_head h = {0}, out;
	uint8_t buf[CS_AUDIT_HEAD_LEN + 1];

	(void)state;
	h.count = 5;
	h.at_ms = 77;
	cs_audit_head_encode(&h, buf);
	assert_int_equal(cs_audit_head_decode(buf, CS_AUDIT_HEAD_LEN, &out), 0);
	assert_int_equal(out.count, 5);
	assert_int_equal(out.at_ms, 77);
	assert_int_equal(cs_audit_head_decode(buf, CS_AUDIT_HEAD_LEN - 1, &out), CS_AUDIT_EHEAD);
	assert_int_equal(cs_audit_head_decode(buf, CS_AUDIT_HEAD_LEN + 1, &out), CS_AUDIT_EHEAD);
	assert_int_equal(cs_audit_head_decode(NULL, 0, &out), CS_AUDIT_EHEAD);
	buf[0] = 2;
	assert_int_equal(cs_audit_head_decode(buf, CS_AUDIT_HEAD_LEN, &out), CS_AUDIT_EHEAD);
	buf[0] = 1;
	buf[1 + CS_DEVID_LEN] = 0x80; /* negative count */
	assert_int_equal(cs_audit_head_decode(buf, CS_AUDIT_HEAD_LEN, &out), CS_AUDIT_EHEAD);
}

struct seen {
	int n;
	int64_t ids[16];
	char local[16][16];
	int64_t counts[16];
	enum cs_audit_action act[16];
};

static int
collect(void *ctx, const struct cs_audit_row *r)
{
	struct seen *s = ctx;

	if (s->n < 16) {
		s->ids[s->n] = r->id;
		snprintf(s->local[s->n], sizeof(s->local[0]), "%s",
		    r->patient_local != NULL ? r->patient_local : "-");
		s->counts[s->n] = r->count;
		s->act[s->n] = r->action;
	}
	s->n++;
	return 0;
}

static void
test_local_patient_id_is_resolved_and_filtered(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_filter flt = {0};
	struct seen s = {0};
	char sql[256];

	(void)state;
	add(f, CS_AUDIT_NOTE, pat1, 0, "before the engine"); /* no cs_ids: unknown */
	fx_exec(f->db, "CREATE TABLE cs_ids(rid INTEGER PRIMARY KEY, tid, pk, gid BLOB, pat BLOB)");
	snprintf(sql, sizeof(sql), "INSERT INTO cs_ids(tid, pk, gid) VALUES(1, 42, x'%s')",
	    "01010101010101010101010101010101");
	fx_exec(f->db, sql);
	{
		uint8_t g[CS_GID_LEN];

		assert_int_equal(cs_audit_patient_gid(f->db, "42", g), 0);
		assert_memory_equal(g, pat1, CS_GID_LEN);
		assert_int_equal(cs_audit_patient_gid(f->db, "43", g), CS_ENOENT);
	}
	add(f, CS_AUDIT_SHARE, pat1, 0, NULL);
	add(f, CS_AUDIT_SHARE, pat2, 0, NULL);
	assert_int_equal(cs_audit_list(f->db, NULL, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.local[0], "-");
	assert_string_equal(s.local[1], "42");
	assert_string_equal(s.local[2], "-");
	memset(&s, 0, sizeof(s));
	flt.patient_local = "42";
	assert_int_equal(cs_audit_list(f->db, &flt, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ids[0], 2);
	memset(&s, 0, sizeof(s));
	flt.patient_local = NULL;
	flt.since_ms = 1700000000001;
	assert_int_equal(cs_audit_list(f->db, &flt, collect, &s), 0);
	assert_int_equal(s.n, 0);
	assert_true(verify(f, NULL).ok);
	fx_free(f);
}

static void
test_accumulator_coalesces_per_patient(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_acc acc;
	struct seen s = {0};
	uint8_t pr[CS_GID_LEN] = {5};
	int i;

	(void)state;
	cs_audit_acc_init(&acc, peer, pr);
	for (i = 0; i < 100; i++) {
		assert_int_equal(cs_audit_acc_add(&acc, i % 2 ? pat1 : pat2, CS_AUDIT_SYNC_IN, 1),
		    0);
		if (i % 4 == 0)
			assert_int_equal(cs_audit_acc_add(&acc, pat1, CS_AUDIT_SYNC_OUT, 2), 0);
	}
	assert_int_equal(cs_audit_acc_add(&acc, pat1, CS_AUDIT_NOTE, 1), CS_EINVAL);
	assert_int_equal(cs_audit_acc_flush(&acc, f->db, &f->self, 0), 0);
	assert_int_equal(acc.n, 0);
	assert_int_equal(cs_audit_acc_flush(&acc, f->db, &f->self, 0), 0); /* empty: nothing */
	assert_int_equal(cs_audit_list(f->db, NULL, collect, &s), 0);
	assert_int_equal(s.n, 3); /* pat2 in, pat1 in, pat1 out */
	assert_int_equal(s.act[0], CS_AUDIT_SYNC_IN);
	assert_int_equal(s.counts[0], 50);
	assert_int_equal(s.act[1], CS_AUDIT_SYNC_IN);
	assert_int_equal(s.counts[1], 50);
	assert_int_equal(s.act[2], CS_AUDIT_SYNC_OUT);
	assert_int_equal(s.counts[2], 50);
	assert_true(verify(f, NULL).ok);
	cs_audit_acc_free(&acc);
	cs_audit_acc_free(&acc);
	fx_free(f);
}

static void
test_missing_trail_is_named(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fill(f, 2);
	fx_exec(f->db, "DROP TABLE cs_audit");
	expect_bad(f, NULL, 1, "the audit trail is missing");
	fx_free(f);
}

static void
test_append_without_key_is_refused(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_self ro;
	struct cs_audit_event ev = {0};
	struct cs_audit_head h;

	(void)state;
	ro = f->self;
	ro.sign_sk = NULL;
	assert_int_equal(cs_audit_append(f->db, &ro, &ev, NULL, NULL), CS_EINVAL);
	assert_int_equal(cs_audit_head_make(f->db, &ro, 0, &h), CS_EINVAL);
	fx_free(f);
}

static void
test_append_fails_cleanly_when_out_of_memory(void **state)
{
	struct fx *f = fx_new();
	struct cs_audit_acc acc;
	long n;
	int rc, ok = 0;

	(void)state;
	fx_exec(f->db,
	    "CREATE TABLE cs_ids(rid INTEGER PRIMARY KEY, tid, pk, gid BLOB, pat BLOB);"
	    "INSERT INTO cs_ids(tid, pk, gid) VALUES(1, 42, x'01010101010101010101010101010101')");
	for (n = 0; n < 40 && !ok; n++) {
		cs_audit_acc_init(&acc, peer, NULL);
		cs_mem_fail_after(n, 1);
		rc = cs_audit_acc_add(&acc, pat1, CS_AUDIT_SYNC_IN, 3);
		if (rc == 0)
			rc = cs_audit_acc_flush(&acc, f->db, &f->self, 0);
		cs_mem_fail_after(-1, 0);
		if (rc == 0)
			ok = 1;
		else
			assert_int_equal(rc, CS_ENOMEM);
		cs_audit_acc_free(&acc);
		assert_true(verify(f, NULL).ok);
	}
	assert_true(ok);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_install_is_idempotent),
	    cmocka_unit_test(test_untouched_trail_verifies),
	    cmocka_unit_test(test_triggers_refuse_update_and_delete),
	    cmocka_unit_test(test_edited_row_is_named),
	    cmocka_unit_test(test_edited_detail_of_last_row_is_named),
	    cmocka_unit_test(test_rehashed_row_fails_its_signature),
	    cmocka_unit_test(test_deleted_row_is_named),
	    cmocka_unit_test(test_forged_row_is_named),
	    cmocka_unit_test(test_copied_row_is_named),
	    cmocka_unit_test(test_reordered_rows_are_named),
	    cmocka_unit_test(test_dropped_tail_is_caught_by_own_head),
	    cmocka_unit_test(test_rewritten_chain_is_caught_by_peer_head),
	    cmocka_unit_test(test_truncated_rewrite_is_caught_by_peer_head),
	    cmocka_unit_test(test_peer_keeps_heads_and_refuses_a_fork),
	    cmocka_unit_test(test_forged_head_signature_is_named),
	    cmocka_unit_test(test_head_decode_rejects_bad_bytes),
	    cmocka_unit_test(test_local_patient_id_is_resolved_and_filtered),
	    cmocka_unit_test(test_accumulator_coalesces_per_patient),
	    cmocka_unit_test(test_missing_trail_is_named),
	    cmocka_unit_test(test_append_without_key_is_refused),
	    cmocka_unit_test(test_append_fails_cleanly_when_out_of_memory),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
