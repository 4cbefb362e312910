/*
 * tests/unit/test_rrec.c: roster records and the ROSTER / KEYS messages
 * (wire/rrec.h): a signed record round-trips byte for byte; every field the
 * decoder checks is refused with its code when it is off (one named case
 * each); a flipped byte anywhere breaks the signature; the messages are
 * strict (shortest forms, whole entries, no trailing byte, limits); a sealed
 * key opens only for its recipient and only with its id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "base/err.h"
#include "wire/rrec.h"

static uint8_t cabinet[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static uint8_t sk[64], pk[32];

static void
make(struct cs_rrec *r, int revoked)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->cabinet, cabinet, 16);
	randombytes_buf(r->device, sizeof(r->device));
	randombytes_buf(r->dh_pk, sizeof(r->dh_pk));
	memcpy(r->sign_pk, pk, 32);
	randombytes_buf(r->practitioner, sizeof(r->practitioner));
	strcpy(r->practitioner_name, "Dr Martin");
	strcpy(r->device_name, "desk");
	r->role = CS_RREC_ROLE_ADMIN;
	r->time_ms = 1700000000123ULL;
	memcpy(r->signer, r->device, 16);
	if (revoked) {
		r->state = CS_RREC_REVOKED;
		r->epoch = 2;
		memset(r->key_id, 0xab, sizeof(r->key_id));
	}
	assert_int_equal(cs_rrec_sign(r, sk), 0);
}

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	crypto_sign_keypair(pk, sk);
	return 0;
}

static void
test_rrec_round_trip(void **state)
{
	struct cs_rrec r, back;
	uint8_t b[CS_RREC_LEN], b2[CS_RREC_LEN];
	int rev;

	(void)state;
	for (rev = 0; rev <= 1; rev++) {
		make(&r, rev);
		assert_int_equal(cs_rrec_encode(&r, b), 0);
		assert_memory_equal(b, CS_RREC_MAGIC, 4);
		assert_int_equal(cs_rrec_decode(b, sizeof(b), cabinet, &back), 0);
		assert_int_equal(cs_rrec_encode(&back, b2), 0);
		assert_memory_equal(b, b2, CS_RREC_LEN);
		assert_string_equal(back.device_name, "desk");
		assert_int_equal(back.time_ms, 1700000000123ULL);
		assert_int_equal(cs_rrec_verify(&back, pk), 0);
	}
}

static void
test_rrec_any_flipped_byte_breaks_the_signature_or_decoding(void **state)
{
	struct cs_rrec r, back;
	uint8_t b[CS_RREC_LEN];
	size_t i;
	int rc;

	(void)state;
	make(&r, 0);
	assert_int_equal(cs_rrec_encode(&r, b), 0);
	for (i = 0; i < CS_RREC_LEN; i++) {
		b[i] ^= 0x01;
		rc = cs_rrec_decode(b, sizeof(b), cabinet, &back);
		if (rc == 0)
			rc = cs_rrec_verify(&back, pk);
		assert_int_not_equal(rc, 0);
		b[i] ^= 0x01;
	}
}

/* Named malformed records: each one field off. */
static void
test_rrec_decode_refuses_each_bad_field(void **state)
{
	struct cs_rrec r, back;
	uint8_t b[CS_RREC_LEN], other[16] = {9};

	(void)state;
	make(&r, 0);
	assert_int_equal(cs_rrec_encode(&r, b), 0);
	assert_int_equal(cs_rrec_decode(b, CS_RREC_LEN - 1, cabinet, &back), CS_RREC_ELENGTH);
	assert_int_equal(cs_rrec_decode(b, sizeof(b), other, &back), CS_RREC_ECABINET);
	{
		uint8_t bad_magic[CS_RREC_LEN];

		memcpy(bad_magic, b, sizeof(b));
		bad_magic[3] = '2';
		assert_int_equal(cs_rrec_decode(bad_magic, sizeof(b), NULL, &back), CS_RREC_EMAGIC);
	}
	{
		uint8_t name_not_padded[CS_RREC_LEN];

		memcpy(name_not_padded, b, sizeof(b));
		name_not_padded[180 + 10] = 'x'; /* after the NUL of "desk" */
		assert_int_equal(cs_rrec_decode(name_not_padded, sizeof(b), NULL, &back),
		    CS_RREC_ENAME);
	}
	{
		uint8_t name_empty[CS_RREC_LEN];

		memcpy(name_empty, b, sizeof(b));
		memset(name_empty + 116, 0, 64);
		assert_int_equal(cs_rrec_decode(name_empty, sizeof(b), NULL, &back), CS_RREC_ENAME);
	}
	{
		uint8_t name_bracket[CS_RREC_LEN];

		memcpy(name_bracket, b, sizeof(b));
		name_bracket[180] = '[';
		assert_int_equal(cs_rrec_decode(name_bracket, sizeof(b), NULL, &back),
		    CS_RREC_ENAME);
	}
	{
		uint8_t state_2[CS_RREC_LEN];

		memcpy(state_2, b, sizeof(b));
		state_2[244] = 2;
		assert_int_equal(cs_rrec_decode(state_2, sizeof(b), NULL, &back), CS_RREC_EFIELD);
	}
	{
		uint8_t role_bits[CS_RREC_LEN];

		memcpy(role_bits, b, sizeof(b));
		role_bits[245] = 0x82;
		assert_int_equal(cs_rrec_decode(role_bits, sizeof(b), NULL, &back), CS_RREC_EFIELD);
	}
	{
		uint8_t active_with_epoch[CS_RREC_LEN];

		memcpy(active_with_epoch, b, sizeof(b));
		active_with_epoch[249] = 3;
		assert_int_equal(cs_rrec_decode(active_with_epoch, sizeof(b), NULL, &back),
		    CS_RREC_EFIELD);
	}
	{
		uint8_t revoked_no_key[CS_RREC_LEN];

		memcpy(revoked_no_key, b, sizeof(b));
		revoked_no_key[244] = 1;
		revoked_no_key[249] = 2;
		assert_int_equal(cs_rrec_decode(revoked_no_key, sizeof(b), NULL, &back),
		    CS_RREC_EFIELD);
	}
	{
		uint8_t zero_signer[CS_RREC_LEN];

		memcpy(zero_signer, b, sizeof(b));
		memset(zero_signer + 290, 0, 16);
		assert_int_equal(cs_rrec_decode(zero_signer, sizeof(b), NULL, &back),
		    CS_RREC_EFIELD);
	}
	/* the encoder never writes what the decoder refuses */
	strcpy(r.device_name, "a=b");
	assert_int_equal(cs_rrec_encode(&r, b), CS_RREC_ENAME);
}

static void
test_rrec_verify_needs_the_signers_key(void **state)
{
	struct cs_rrec r;
	uint8_t pk2[32], sk2[64];

	(void)state;
	crypto_sign_keypair(pk2, sk2);
	make(&r, 1);
	assert_int_equal(cs_rrec_verify(&r, pk), 0);
	assert_int_equal(cs_rrec_verify(&r, pk2), CS_RREC_ESIG);
	r.epoch = 3; /* a changed field */
	assert_int_equal(cs_rrec_verify(&r, pk), CS_RREC_ESIG);
}

static void
test_rrec_roster_message(void **state)
{
	struct cs_rrec r[3], back;
	uint8_t recs[3 * CS_RREC_LEN], msg[4 * CS_RREC_LEN];
	const uint8_t *body;
	size_t len, n, i;
	int type;

	(void)state;
	for (i = 0; i < 3; i++) {
		make(&r[i], (int)(i & 1));
		assert_int_equal(cs_rrec_encode(&r[i], recs + i * CS_RREC_LEN), 0);
	}
	assert_int_equal(cs_rrec_roster_encode(recs, 3, msg, sizeof(msg), &len), 0);
	assert_int_equal(len, 5 + 3 * CS_RREC_LEN); /* [8, bin 16] */
	if (getenv("CS_WRITE_CORPUS") != NULL) {
		/* seeds of fuzz_rrec: CS_WRITE_CORPUS=tests/fuzz/corpus/rrec */
		char path[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s/roster3", getenv("CS_WRITE_CORPUS"));
		f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(msg, 1, len, f);
		fclose(f);
		snprintf(path, sizeof(path), "%s/record_revoked", getenv("CS_WRITE_CORPUS"));
		f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(recs + CS_RREC_LEN, 1, CS_RREC_LEN, f);
		fclose(f);
	}
	assert_int_equal(cs_rrec_msg_type(msg, len), CS_RREC_MSG_ROSTER);
	assert_int_equal(cs_rrec_msg_decode(msg, len, &type, &body, &n), 0);
	assert_int_equal(type, CS_RREC_MSG_ROSTER);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(
		    cs_rrec_decode(body + i * CS_RREC_LEN, CS_RREC_LEN, cabinet, &back), 0);
		assert_int_equal(cs_rrec_verify(&back, pk), 0);
	}
	/* truncated, trailing, a partial record, a non-shortest length */
	assert_int_equal(cs_rrec_msg_decode(msg, len - 1, &type, &body, &n), CS_RREC_EMSG);
	msg[len] = 0;
	assert_int_equal(cs_rrec_msg_decode(msg, len + 1, &type, &body, &n), CS_RREC_EMSG);
	{
		static const uint8_t partial[] = {0x92, 0x08, 0xc4, 0x01, 0x00};
		static const uint8_t bin16_short[] = {0x92, 0x08, 0xc5, 0x00, 0x00};
		static const uint8_t empty_ok[] = {0x92, 0x08, 0xc4, 0x00};
		static const uint8_t other_type[] = {0x92, 0x07, 0xc4, 0x00};
		static const uint8_t map_not_array[] = {0x82, 0x08, 0xc4, 0x00};

		assert_int_equal(cs_rrec_msg_decode(partial, sizeof(partial), &type, &body, &n),
		    CS_RREC_EMSG);
		assert_int_equal(
		    cs_rrec_msg_decode(bin16_short, sizeof(bin16_short), &type, &body, &n),
		    CS_RREC_EMSG);
		assert_int_equal(cs_rrec_msg_decode(empty_ok, sizeof(empty_ok), &type, &body, &n),
		    0);
		assert_int_equal(n, 0);
		assert_int_equal(cs_rrec_msg_type(other_type, sizeof(other_type)), 0);
		assert_int_equal(
		    cs_rrec_msg_decode(map_not_array, sizeof(map_not_array), &type, &body, &n),
		    CS_RREC_EMSG);
	}
	assert_int_equal(cs_rrec_roster_encode(recs, CS_RREC_MAX + 1, msg, sizeof(msg), &len),
	    CS_RREC_ECOUNT);
}

static void
test_rrec_sealed_key_opens_only_for_its_recipient(void **state)
{
	uint8_t key[32], got[32], id[32], id2[32], e[CS_RREC_KEY_ENTRY_LEN];
	uint8_t rpk[32], rsk[32], opk[32], osk[32], msg[256];
	const uint8_t *body;
	uint32_t epoch;
	size_t len, n;
	int type;

	(void)state;
	randombytes_buf(key, sizeof(key));
	crypto_box_keypair(rpk, rsk);
	crypto_box_keypair(opk, osk);
	assert_int_equal(cs_rrec_key_seal(key, 5, rpk, e), 0);
	assert_int_equal(cs_rrec_key_open(e, rpk, rsk, &epoch, got, id), 0);
	assert_int_equal(epoch, 5);
	assert_memory_equal(got, key, 32);
	cs_rrec_key_id(key, 5, id2);
	assert_memory_equal(id, id2, 32);
	cs_rrec_key_id(key, 6, id2);
	assert_memory_not_equal(id, id2, 32); /* the id binds the epoch */
	assert_int_equal(cs_rrec_key_open(e, opk, osk, &epoch, got, id), CS_RREC_ESEAL);
	e[1] ^= 1; /* another epoch than the key's id says */
	assert_int_equal(cs_rrec_key_open(e, rpk, rsk, &epoch, got, id), CS_RREC_ESEAL);
	e[1] ^= 1;
	e[10] ^= 1; /* a forged id */
	assert_int_equal(cs_rrec_key_open(e, rpk, rsk, &epoch, got, id), CS_RREC_ESEAL);
	e[10] ^= 1;
	assert_int_equal(cs_rrec_keys_encode(e, 1, msg, sizeof(msg), &len), 0);
	if (getenv("CS_WRITE_CORPUS") != NULL) {
		char path[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s/keys1", getenv("CS_WRITE_CORPUS"));
		f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(msg, 1, len, f);
		fclose(f);
	}
	assert_int_equal(cs_rrec_msg_decode(msg, len, &type, &body, &n), 0);
	assert_int_equal(type, CS_RREC_MSG_KEYS);
	assert_int_equal(n, 1);
	assert_memory_equal(body, e, sizeof(e));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rrec_round_trip),
	    cmocka_unit_test(test_rrec_any_flipped_byte_breaks_the_signature_or_decoding),
	    cmocka_unit_test(test_rrec_decode_refuses_each_bad_field),
	    cmocka_unit_test(test_rrec_verify_needs_the_signers_key),
	    cmocka_unit_test(test_rrec_roster_message),
	    cmocka_unit_test(test_rrec_sealed_key_opens_only_for_its_recipient),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
