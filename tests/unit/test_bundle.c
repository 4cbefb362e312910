/*
 * Unit tests of wire/bundle (docs/PROTOCOL.md §6): round trips, every open
 * failure with its own code and in the documented order, a bundle built by
 * hand from the spec with raw libsodium, allocation failures, random flips.
 * Keys come from tests/fuzz/bundle_fixture.h: device 0 sends, device 1
 * receives, device 2 is revoked (and serves as "another device").
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

#include "../fuzz/bundle_fixture.h"
#include "base/err.h"
#include "base/mem.h"
#include "wire/bundle.h"

/* §6.1/§6.2 offsets, restated here from the spec (not taken from bundle.c) */
#define H_VERSION   4
#define H_RESERVED  5
#define H_CHUNK     8
#define H_EPOCH     12
#define H_CABHASH   16
#define H_SENDER    48
#define H_RECIPIENT 64
#define H_BUNDLE_ID 80
#define H_CREATED   96
#define H_EXPIRES   104
#define P_NONCE     112
#define P_ENVELOPE  136
#define P_TAG       240
#define P_STREAM    256

static struct bfx fx;

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	bfx_init(&fx);
	return 0;
}

static uint8_t *
make_payload(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n + 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
	return p;
}

/* Seal payload with params sp (or the fixture's defaults when NULL). */
static uint8_t *
seal(const struct cs_bundle_seal_params *sp, const uint8_t *payload, size_t n, size_t *len)
{
	struct cs_bundle_seal_params d;
	uint8_t *b = NULL;

	if (sp == NULL) {
		bfx_seal_params(&fx, &d);
		sp = &d;
	}
	assert_int_equal(cs_bundle_seal(sp, fx.dev[0].sign_sk, payload, n, &b, len), 0);
	assert_non_null(b);
	assert_int_equal(*len, cs_bundle_sealed_len(n, sp->chunk_size));
	return b;
}

static int
open_rc(const uint8_t *b, size_t len, struct cs_bundle_open_params *op)
{
	struct cs_bundle_open_params d;
	uint8_t *out = (uint8_t *)&d; /* must come back NULL on error */
	size_t out_len = 99;
	int rc;

	if (op == NULL) {
		bfx_open_params(&fx, &d);
		op = &d;
	}
	rc = cs_bundle_open(b, len, op, NULL, &out, &out_len);
	if (rc != 0) {
		assert_null(out);
		assert_int_equal(out_len, 0);
	}
	cs_free(out);
	return rc;
}

static void
round_trip(size_t n, uint32_t chunk)
{
	struct cs_bundle_seal_params sp;
	struct cs_bundle_open_params op;
	struct cs_bundle_info info;
	uint8_t *payload = make_payload(n, (uint32_t)n);
	uint8_t *b, *out = NULL;
	size_t len, out_len = 0;
	long live = cs_mem_live();

	bfx_seal_params(&fx, &sp);
	sp.chunk_size = chunk;
	b = seal(&sp, payload, n, &len);
	bfx_open_params(&fx, &op);
	op.max_len = len;
	assert_int_equal(cs_bundle_open(b, len, &op, &info, &out, &out_len), 0);
	assert_int_equal(out_len, n);
	if (n > 0)
		assert_memory_equal(out, payload, n);
	assert_int_equal(info.payload_len, n);
	assert_int_equal(info.epoch, BFX_EPOCH);
	assert_int_equal(info.chunk_size, chunk == 0 ? CS_BUNDLE_CHUNK_DEFAULT : chunk);
	assert_memory_equal(info.sender_id, fx.dev[0].id, CS_BUNDLE_ID_LEN);
	assert_memory_equal(info.recipient_id, fx.dev[1].id, CS_BUNDLE_ID_LEN);
	assert_true(info.created_ms == sp.created_ms);
	assert_true(info.expires_ms == sp.expires_ms);
	cs_free(out);
	cs_free(b);
	free(payload);
	assert_int_equal(cs_mem_live(), live);
}

static void
test_bundle_round_trip_empty(void **state)
{
	(void)state;
	round_trip(0, 0);
	round_trip(0, 16);
}

static void
test_bundle_round_trip_small(void **state)
{
	(void)state;
	round_trip(1, 0);
	round_trip(300, 0);
}

static void
test_bundle_round_trip_multi_chunk_at_every_boundary(void **state)
{
	static const size_t sizes[] = {15, 16, 17, 31, 32, 33, 47, 48, 49, 1000};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		round_trip(sizes[i], 16);
	round_trip(3 * 65536, 0);
	round_trip(3 * 65536 + 1, 0);
}

static void
test_bundle_round_trip_10mb(void **state)
{
	(void)state;
	round_trip(10 * 1000 * 1000, 0);
}

/* The sealer's writer for the streaming tests: appends to a growing buffer. */
struct sink {
	uint8_t *p;
	size_t len, cap;
	int fail_at_call; /* 0: never */
	int calls;
};

static int
sink_write(void *ctx, const uint8_t *p, size_t n)
{
	struct sink *s = ctx;

	if (++s->calls == s->fail_at_call)
		return CS_ENOSPC;
	if (n > s->cap - s->len) {
		s->cap = (s->len + n) * 2;
		s->p = realloc(s->p, s->cap);
		assert_non_null(s->p);
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	return 0;
}

static void
test_bundle_seal_streaming_any_split_gives_the_same_payload(void **state)
{
	static const size_t splits[] = {1, 3, 16, 17, 64, 1000};
	struct cs_bundle_seal_params sp;
	struct cs_bundle_sealer s;
	const size_t n = 1000;
	uint8_t *payload = make_payload(n, 7), *out = NULL;
	size_t i, off, step, out_len;
	struct sink k;

	(void)state;
	for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		memset(&k, 0, sizeof(k));
		bfx_seal_params(&fx, &sp);
		sp.chunk_size = 16;
		assert_int_equal(cs_bundle_seal_init(&s, &sp, sink_write, &k), 0);
		assert_int_equal(k.len, P_STREAM); /* the prefix is out at once */
		assert_int_equal(cs_bundle_seal_push(&s, NULL, 0), 0);
		for (off = 0; off < n; off += step) {
			step = splits[i] < n - off ? splits[i] : n - off;
			assert_int_equal(cs_bundle_seal_push(&s, payload + off, step), 0);
		}
		assert_int_equal(cs_bundle_seal_final(&s, fx.dev[0].sign_sk), 0);
		assert_int_equal(cs_bundle_seal_push(&s, payload, 1), CS_BUNDLE_ESTATE);
		assert_int_equal(cs_bundle_seal_final(&s, fx.dev[0].sign_sk), CS_BUNDLE_ESTATE);
		assert_memory_equal(k.p + H_BUNDLE_ID, cs_bundle_seal_id(&s), CS_BUNDLE_ID_LEN);
		cs_bundle_seal_free(&s);
		assert_int_equal(k.len, cs_bundle_sealed_len(n, 16));
		assert_int_equal(open_rc(k.p, k.len, NULL), 0);
		assert_int_equal(cs_bundle_open(k.p, k.len, &(struct cs_bundle_open_params){0},
		                     NULL, &out, &out_len),
		    CS_EINVAL);
		free(k.p);
	}
	free(payload);
}

static void
test_bundle_seal_writer_error_is_returned_and_sticks(void **state)
{
	struct cs_bundle_seal_params sp;
	struct cs_bundle_sealer s;
	uint8_t payload[64] = {0};
	struct sink k;
	long live = cs_mem_live();

	(void)state;
	memset(&k, 0, sizeof(k));
	k.fail_at_call = 2; /* prefix ok, first chunk fails */
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = 16;
	assert_int_equal(cs_bundle_seal_init(&s, &sp, sink_write, &k), 0);
	assert_int_equal(cs_bundle_seal_push(&s, payload, sizeof(payload)), CS_ENOSPC);
	assert_int_equal(cs_bundle_seal_push(&s, payload, 1), CS_ENOSPC);
	assert_int_equal(cs_bundle_seal_final(&s, fx.dev[0].sign_sk), CS_ENOSPC);
	cs_bundle_seal_free(&s);
	free(k.p);

	memset(&k, 0, sizeof(k));
	k.fail_at_call = 1; /* the prefix itself */
	assert_int_equal(cs_bundle_seal_init(&s, &sp, sink_write, &k), CS_ENOSPC);
	cs_bundle_seal_free(&s); /* safe after a failed init */
	free(k.p);
	assert_int_equal(cs_mem_live(), live);
}

static void
test_bundle_seal_refuses_bad_parameters(void **state)
{
	struct cs_bundle_seal_params sp;
	uint8_t *b = NULL;
	size_t len = 0;

	(void)state;
	bfx_seal_params(&fx, &sp);
	sp.expires_ms = sp.created_ms;
	assert_int_equal(cs_bundle_seal(&sp, fx.dev[0].sign_sk, NULL, 0, &b, &len), CS_EINVAL);
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = CS_BUNDLE_CHUNK_MIN - 1;
	assert_int_equal(cs_bundle_seal(&sp, fx.dev[0].sign_sk, NULL, 0, &b, &len), CS_EINVAL);
	sp.chunk_size = CS_BUNDLE_CHUNK_MAX + 1;
	assert_int_equal(cs_bundle_seal(&sp, fx.dev[0].sign_sk, NULL, 0, &b, &len), CS_EINVAL);
	assert_true(cs_bundle_sealed_len(UINT64_MAX - 100, 16) == UINT64_MAX);
	assert_true(cs_bundle_sealed_len(0, 16) == CS_BUNDLE_MIN_LEN);
	assert_true(cs_bundle_sealed_len(17, 16) == CS_BUNDLE_MIN_LEN + 17 + 17);
	bfx_seal_params(&fx, &sp);
	sp.recipient_pk = NULL;
	assert_int_equal(cs_bundle_seal(&sp, fx.dev[0].sign_sk, NULL, 0, &b, &len), CS_EINVAL);
	assert_null(b);
}

static void
test_bundle_open_streams_chunk_by_chunk(void **state)
{
	struct cs_bundle_seal_params sp;
	struct cs_bundle_open_params op;
	struct cs_bundle_opener o;
	struct cs_bundle_info info;
	const size_t n = 40; /* chunks of 16, 16, 8 */
	uint8_t *payload = make_payload(n, 3), *b;
	uint8_t out[16], zero[sizeof(o)];
	size_t len, got, off = 0;
	bool last = false;

	(void)state;
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = 16;
	b = seal(&sp, payload, n, &len);
	bfx_open_params(&fx, &op);
	assert_int_equal(cs_bundle_open_init(&o, b, len, &op, &info), 0);
	assert_int_equal(info.chunks, 3);
	assert_int_equal(info.payload_len, n);
	/* too small a buffer: refused, nothing consumed */
	assert_int_equal(cs_bundle_open_next(&o, out, 15, &got, &last), CS_ERANGE);
	assert_int_equal(cs_bundle_open_next(&o, out, 16, &got, &last), 0);
	assert_int_equal(got, 16);
	assert_false(last);
	assert_memory_equal(out, payload, 16);
	off += got;
	assert_int_equal(cs_bundle_open_next(&o, out, 16, &got, &last), 0);
	assert_memory_equal(out, payload + off, 16);
	off += got;
	assert_int_equal(cs_bundle_open_next(&o, out, 8, &got, &last), 0);
	assert_int_equal(got, 8);
	assert_true(last);
	assert_memory_equal(out, payload + off, 8);
	memset(zero, 0, sizeof(zero));
	assert_memory_equal(&o.ss, zero, sizeof(o.ss)); /* stream key wiped at the end */
	assert_int_equal(cs_bundle_open_next(&o, out, 16, &got, &last), CS_BUNDLE_ESTATE);
	cs_bundle_open_free(&o);
	memset(zero, 0, sizeof(zero));
	assert_memory_equal(&o, zero, sizeof(o)); /* stream state wiped */
	cs_free(b);
	free(payload);
}

static void
test_bundle_seal_free_wipes_the_sealer(void **state)
{
	struct cs_bundle_seal_params sp;
	struct cs_bundle_sealer s;
	uint8_t zero[sizeof(s)];
	struct sink k;

	(void)state;
	memset(&k, 0, sizeof(k));
	bfx_seal_params(&fx, &sp);
	assert_int_equal(cs_bundle_seal_init(&s, &sp, sink_write, &k), 0);
	assert_int_equal(cs_bundle_seal_push(&s, (const uint8_t *)"secret", 6), 0);
	cs_bundle_seal_free(&s);
	memset(zero, 0, sizeof(zero));
	assert_memory_equal(&s, zero, sizeof(s));
	cs_bundle_seal_free(&s); /* twice is fine */
	cs_bundle_seal_free(NULL);
	free(k.p);
}

/* A small valid bundle: 40 bytes in chunks of 16 (3 chunks). */
static uint8_t *
small_bundle(size_t *len)
{
	struct cs_bundle_seal_params sp;
	uint8_t payload[40];

	memset(payload, 0x5a, sizeof(payload));
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = 16;
	return seal(&sp, payload, sizeof(payload), len);
}

static void
test_bundle_flip_in_each_region_is_refused_with_its_code(void **state)
{
	struct region {
		const char *name;
		size_t from, to; /* [from, to) */
		int rc;
	} r[] = {
	    {"magic", 0, 4, CS_BUNDLE_EMAGIC},
	    {"version", H_VERSION, H_VERSION + 1, CS_BUNDLE_EVERSION},
	    {"reserved", H_RESERVED, H_CHUNK, CS_BUNDLE_EHEADER},
	    {"epoch", H_EPOCH, H_CABHASH, CS_BUNDLE_ESIG},
	    {"cabinet hash", H_CABHASH, H_SENDER, CS_BUNDLE_ESIG},
	    {"sender", H_SENDER, H_RECIPIENT, CS_BUNDLE_ESENDER},
	    {"recipient", H_RECIPIENT, H_BUNDLE_ID, CS_BUNDLE_ESIG},
	    {"bundle id", H_BUNDLE_ID, H_CREATED, CS_BUNDLE_ESIG},
	    {"times", H_CREATED, P_NONCE, CS_BUNDLE_ESIG},
	    {"outer nonce", P_NONCE, P_ENVELOPE, CS_BUNDLE_ESIG},
	    {"sealed key", P_ENVELOPE, P_ENVELOPE + 80, CS_BUNDLE_ESIG},
	    {"stream header", P_ENVELOPE + 80, P_TAG, CS_BUNDLE_ESIG},
	    {"outer tag", P_TAG, P_STREAM, CS_BUNDLE_ESIG},
	    {"stream", P_STREAM, 0, CS_BUNDLE_ESIG},
	    {"signature", 0, 0, CS_BUNDLE_ESIG},
	};
	size_t len, i, j;
	uint8_t *b = small_bundle(&len);
	int rc;

	(void)state;
	r[13].to = len - CS_BUNDLE_SIG_LEN;
	r[14].from = len - CS_BUNDLE_SIG_LEN;
	r[14].to = len;
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		for (j = r[i].from; j < r[i].to; j++) {
			b[j] ^= 0x01;
			rc = open_rc(b, len, NULL);
			b[j] ^= 0x01;
			if (rc != r[i].rc)
				fail_msg("flip in %s at %zu: %d (%s), want %d", r[i].name, j, rc,
				    cs_bundle_strerror(rc), r[i].rc);
		}
	}
	/* the chunk size field: out of range or a wrong layout, never opened */
	b[H_CHUNK] ^= 0x80;
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_EHEADER);
	b[H_CHUNK] ^= 0x80;
	b[H_CHUNK + 3] ^= 0x01; /* 17: 40 + 3*17 bytes is not a 17+17 sequence */
	rc = open_rc(b, len, NULL);
	assert_true(rc == CS_BUNDLE_ELAYOUT || rc == CS_BUNDLE_ESIG);
	b[H_CHUNK + 3] ^= 0x01;
	assert_int_equal(open_rc(b, len, NULL), 0);
	cs_free(b);
}

/*
 * A known sender that signs tampered bytes (the fuzzer's mode too): the
 * signature holds, so the layers behind it must catch each region.
 */
static void
test_bundle_flip_resigned_by_known_sender_is_caught_by_inner_layers(void **state)
{
	struct region {
		const char *name;
		size_t from, to;
		int rc;
	} r[] = {
	    {"epoch", H_EPOCH, H_CABHASH, CS_BUNDLE_EEPOCH},
	    {"cabinet hash", H_CABHASH, H_SENDER, CS_BUNDLE_EOUTER},
	    {"recipient", H_RECIPIENT, H_BUNDLE_ID, CS_BUNDLE_EOUTER},
	    {"bundle id", H_BUNDLE_ID, H_CREATED, CS_BUNDLE_EOUTER},
	    {"times", H_CREATED, P_NONCE, CS_BUNDLE_EOUTER},
	    {"outer nonce", P_NONCE, P_ENVELOPE, CS_BUNDLE_EOUTER},
	    {"sealed key", P_ENVELOPE, P_ENVELOPE + 80, CS_BUNDLE_EOUTER},
	    {"stream header", P_ENVELOPE + 80, P_TAG, CS_BUNDLE_EOUTER},
	    {"outer tag", P_TAG, P_STREAM, CS_BUNDLE_EOUTER},
	    {"stream", P_STREAM, 0, CS_BUNDLE_ESTREAM},
	};
	size_t len, i, j;
	uint8_t *b = small_bundle(&len), *c = malloc(len);
	int rc;

	(void)state;
	assert_non_null(c);
	r[9].to = len - CS_BUNDLE_SIG_LEN;
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		for (j = r[i].from; j < r[i].to; j++) {
			memcpy(c, b, len);
			c[j] ^= 0x01;
			bfx_resign(c, len, fx.dev[0].sign_sk);
			rc = open_rc(c, len, NULL);
			/* epoch 2 ^ bit 0 = 3: unknown; a high bit flip: also unknown */
			if (rc != r[i].rc && !(i == 0 && rc == CS_BUNDLE_EOLDEPOCH))
				fail_msg("resigned flip in %s at %zu: %d (%s), want %d", r[i].name,
				    j, rc, cs_bundle_strerror(rc), r[i].rc);
		}
	}
	/* the unchanged bytes re-signed still open: resign is faithful */
	memcpy(c, b, len);
	bfx_resign(c, len, fx.dev[0].sign_sk);
	assert_int_equal(open_rc(c, len, NULL), 0);
	free(c);
	cs_free(b);
}

static void
test_bundle_truncated_at_every_offset_is_refused(void **state)
{
	struct cs_bundle_open_params op;
	size_t len, cut;
	uint8_t *b = small_bundle(&len);
	int rc;

	(void)state;
	bfx_open_params(&fx, &op);
	for (cut = 0; cut < len; cut++) {
		rc = open_rc(b, cut, &op);
		if (cut < CS_BUNDLE_MIN_LEN)
			assert_int_equal(rc, CS_BUNDLE_ESHORT);
		else if (rc != CS_BUNDLE_ELAYOUT && rc != CS_BUNDLE_ESIG)
			fail_msg("truncated at %zu: %d (%s)", cut, rc, cs_bundle_strerror(rc));
	}
	/* a stream ending 10 bytes into a chunk is no chunk sequence */
	assert_int_equal(open_rc(b, P_STREAM + 66 + 10 + CS_BUNDLE_SIG_LEN, &op),
	    CS_BUNDLE_ELAYOUT);
	/* and with bytes appended */
	b = realloc(b, len + 40);
	assert_non_null(b);
	memset(b + len, 0, 40);
	for (cut = len + 1; cut <= len + 40; cut++) {
		rc = open_rc(b, cut, &op);
		assert_true(rc == CS_BUNDLE_ELAYOUT || rc == CS_BUNDLE_ESIG);
	}
	free(b);
}

/* Remove whole chunks from the end and re-sign: the final tag is missing. */
static void
test_bundle_stream_without_final_chunk_is_an_error(void **state)
{
	struct cs_bundle_open_params op;
	struct cs_bundle_opener o;
	size_t len, cut, n, handed = 0;
	uint8_t *b = small_bundle(&len), out[16];
	bool last = false;
	int rc;

	(void)state;
	/* 3 chunks of 33, 33, 25 bytes: keep the first two, then the first one */
	for (cut = 1; cut <= 2; cut++) {
		size_t keep = P_STREAM + cut * 33;

		memmove(b + keep, b + len - CS_BUNDLE_SIG_LEN, CS_BUNDLE_SIG_LEN);
		bfx_resign(b, keep + CS_BUNDLE_SIG_LEN, fx.dev[0].sign_sk);
		assert_int_equal(open_rc(b, keep + CS_BUNDLE_SIG_LEN, NULL), CS_BUNDLE_ENOFINAL);
		cs_free(b);
		b = small_bundle(&len);
	}
	/* streaming: the chunks before are handed out, then the error, never last */
	memmove(b + P_STREAM + 66, b + len - CS_BUNDLE_SIG_LEN, CS_BUNDLE_SIG_LEN);
	bfx_resign(b, P_STREAM + 66 + CS_BUNDLE_SIG_LEN, fx.dev[0].sign_sk);
	bfx_open_params(&fx, &op);
	assert_int_equal(cs_bundle_open_init(&o, b, P_STREAM + 66 + CS_BUNDLE_SIG_LEN, &op, NULL),
	    0);
	for (;;) {
		rc = cs_bundle_open_next(&o, out, sizeof(out), &n, &last);
		if (rc != 0)
			break;
		handed++;
		assert_false(last);
	}
	assert_int_equal(rc, CS_BUNDLE_ENOFINAL);
	assert_int_equal(handed, 1);
	assert_int_equal(cs_bundle_open_next(&o, out, sizeof(out), &n, &last), CS_BUNDLE_ESTATE);
	cs_bundle_open_free(&o);
	cs_free(b);
}

static void
test_bundle_expired_and_future_are_refused_with_skew(void **state)
{
	struct cs_bundle_seal_params sp;
	struct cs_bundle_open_params op;
	size_t len;
	uint8_t *b;

	(void)state;
	bfx_seal_params(&fx, &sp);
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	bfx_open_params(&fx, &op);
	op.skew_ms = 1000;
	op.now_ms = sp.expires_ms + 1000;
	assert_int_equal(open_rc(b, len, &op), 0); /* within the skew */
	op.now_ms = sp.expires_ms + 1001;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_EEXPIRED);
	op.now_ms = sp.created_ms - 1000;
	assert_int_equal(open_rc(b, len, &op), 0);
	op.now_ms = sp.created_ms - 1001;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_EFUTURE);
	op.now_ms = 0;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_EFUTURE);
	op.now_ms = UINT64_MAX;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_EEXPIRED);
	/* a lifetime longer than the caller accepts (bounds its replay memory) */
	bfx_open_params(&fx, &op);
	op.max_lifetime_ms = sp.expires_ms - sp.created_ms;
	assert_int_equal(open_rc(b, len, &op), 0);
	op.max_lifetime_ms--;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_ELIFETIME);
	cs_free(b);
}

static void
test_bundle_replayed_id_is_refused(void **state)
{
	static const uint8_t replayed[CS_BUNDLE_ID_LEN] = {0xee, 0xee, 0xee, 0xee};
	struct cs_bundle_seal_params sp;
	size_t len;
	uint8_t *b;

	(void)state;
	bfx_seal_params(&fx, &sp);
	sp.bundle_id = replayed;
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_memory_equal(b + H_BUNDLE_ID, replayed, CS_BUNDLE_ID_LEN);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_EREPLAY);
	cs_free(b);
}

static int
seen_fails(void *ctx, const uint8_t *bundle_id)
{
	(void)ctx;
	(void)bundle_id;
	return CS_EIO;
}

static void
test_bundle_callback_errors_pass_through(void **state)
{
	struct cs_bundle_open_params op;
	size_t len;
	uint8_t *b = small_bundle(&len);

	(void)state;
	bfx_open_params(&fx, &op);
	op.seen = seen_fails;
	assert_int_equal(open_rc(b, len, &op), CS_EIO);
	cs_free(b);
}

static void
test_bundle_random_ids_differ(void **state)
{
	size_t len1, len2;
	uint8_t *a = small_bundle(&len1), *b = small_bundle(&len2);

	(void)state;
	assert_memory_not_equal(a + H_BUNDLE_ID, b + H_BUNDLE_ID, CS_BUNDLE_ID_LEN);
	assert_memory_not_equal(a + P_NONCE, b + P_NONCE, 24);
	cs_free(a);
	cs_free(b);
}

static void
test_bundle_addressed_to_another_device_is_refused(void **state)
{
	struct cs_bundle_seal_params sp;
	struct cs_bundle_open_params op;
	size_t len;
	uint8_t *b;

	(void)state;
	/* to device 2: device 1 is told it is not the recipient */
	bfx_seal_params(&fx, &sp);
	sp.recipient_id = fx.dev[2].id;
	sp.recipient_pk = fx.dev[2].box_pk;
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_ERECIPIENT);
	/* device 2 itself opens it */
	bfx_open_params(&fx, &op);
	op.device_id = fx.dev[2].id;
	op.box_pk = fx.dev[2].box_pk;
	op.box_sk = fx.dev[2].box_sk;
	assert_int_equal(open_rc(b, len, &op), 0);
	cs_free(b);
	/* header names device 1 but the key is sealed to device 2's key */
	bfx_seal_params(&fx, &sp);
	sp.recipient_pk = fx.dev[2].box_pk;
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_ESEALED);
	cs_free(b);
}

static void
test_bundle_unknown_or_revoked_sender_is_refused(void **state)
{
	struct cs_bundle_seal_params sp;
	size_t len;
	uint8_t *b = NULL;
	uint8_t stranger[CS_BUNDLE_ID_LEN];

	(void)state;
	memset(stranger, 0x77, sizeof(stranger));
	bfx_seal_params(&fx, &sp);
	sp.sender_id = stranger;
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_ESENDER);
	cs_free(b);
	sp.sender_id = fx.dev[2].id;
	assert_int_equal(cs_bundle_seal(&sp, fx.dev[2].sign_sk, (const uint8_t *)"x", 1, &b, &len),
	    0);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_EREVOKED);
	cs_free(b);
	/* a known sender id with someone else's signature */
	bfx_seal_params(&fx, &sp);
	assert_int_equal(cs_bundle_seal(&sp, fx.dev[2].sign_sk, (const uint8_t *)"x", 1, &b, &len),
	    0);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_ESIG);
	cs_free(b);
}

static void
test_bundle_wrong_old_or_unknown_epoch_is_refused(void **state)
{
	struct cs_bundle_seal_params sp;
	uint8_t other_cabinet[CS_BUNDLE_ID_LEN];
	size_t len;
	uint8_t *b;

	(void)state;
	/* epoch 2 claimed, sealed with another key (e.g. epoch 1's) */
	bfx_seal_params(&fx, &sp);
	sp.cabinet_key = fx.key[1];
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_EOUTER);
	cs_free(b);
	/* sealed under the retired epoch 1 with its real key */
	bfx_seal_params(&fx, &sp);
	sp.epoch = 1;
	sp.cabinet_key = fx.key[1];
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_EOLDEPOCH);
	cs_free(b);
	/* a future epoch we do not have */
	bfx_seal_params(&fx, &sp);
	sp.epoch = 9;
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_EEPOCH);
	cs_free(b);
	/* right key, another cabinet's id */
	memset(other_cabinet, 0xcb, sizeof(other_cabinet));
	bfx_seal_params(&fx, &sp);
	sp.cabinet_id = other_cabinet;
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_ECABINET);
	cs_free(b);
}

static void
test_bundle_oversized_is_refused_before_anything(void **state)
{
	struct cs_bundle_open_params op;
	size_t len;
	uint8_t *b = small_bundle(&len);

	(void)state;
	bfx_open_params(&fx, &op);
	op.max_len = len;
	assert_int_equal(open_rc(b, len, &op), 0);
	op.max_len = len - 1;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_ETOOBIG);
	b[0] ^= 0xff; /* size comes before magic */
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_ETOOBIG);
	cs_free(b);
}

/* Several faults at once: the first check of §6.7 names the error. */
static void
test_bundle_checks_run_in_the_documented_order(void **state)
{
	static const uint8_t replayed[CS_BUNDLE_ID_LEN] = {0xee, 0xee, 0xee, 0xee};
	struct cs_bundle_seal_params sp;
	struct cs_bundle_open_params op;
	uint8_t stranger[CS_BUNDLE_ID_LEN];
	size_t len;
	uint8_t *b;

	(void)state;
	memset(stranger, 0x77, sizeof(stranger));
	/* replayed + expired + another recipient + old epoch, sealed to nobody */
	bfx_seal_params(&fx, &sp);
	sp.bundle_id = replayed;
	sp.created_ms = 1;
	sp.expires_ms = 2;
	sp.recipient_id = fx.dev[2].id;
	sp.recipient_pk = fx.dev[2].box_pk;
	sp.epoch = 1;
	sp.cabinet_key = fx.key[1];
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	bfx_open_params(&fx, &op);
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_EOLDEPOCH);
	b[len - 1] ^= 1;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_ESIG);
	b[H_SENDER] ^= 1;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_ESENDER);
	b[H_VERSION] = 2;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_EVERSION);
	b[0] = 'X';
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_EMAGIC);
	op.max_len = len - 1;
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_ETOOBIG);
	cs_free(b);

	/* current epoch: recipient before expiry before replay */
	bfx_seal_params(&fx, &sp);
	sp.bundle_id = replayed;
	sp.created_ms = 1;
	sp.expires_ms = 2;
	sp.recipient_id = fx.dev[2].id;
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_ERECIPIENT);
	cs_free(b);
	sp.recipient_id = fx.dev[1].id;
	sp.recipient_pk = fx.dev[2].box_pk;
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_EEXPIRED);
	cs_free(b);
	bfx_seal_params(&fx, &sp);
	sp.bundle_id = replayed;
	sp.recipient_pk = fx.dev[2].box_pk;
	b = seal(&sp, (const uint8_t *)"x", 1, &len);
	assert_int_equal(open_rc(b, len, NULL), CS_BUNDLE_EREPLAY);
	cs_free(b);
}

/*
 * docs/PROTOCOL.md §6 restated with raw libsodium: a bundle built by hand
 * from the spec alone. Lets the tests make what the sealer never makes
 * (other chunk tags, expires <= created, FINAL in the middle) and checks
 * the spec and the code agree byte for byte.
 */
struct hand_chunk {
	size_t len;
	unsigned char tag;
};

static size_t
hand_build(uint8_t *out, uint64_t created, uint64_t expires, const struct hand_chunk *chunks,
    size_t nchunks, uint32_t chunk_size)
{
	static const char d_outer[] = "cabsync bundle outer v1";
	static const char d_stream[] = "cabsync bundle stream v1";
	static const char d_cab[] = "cabsync bundle cabinet v1";
	uint8_t bk[32], sk[32], ok[32], env[104], m[48], plain[64];
	uint8_t *h = out;
	crypto_secretstream_xchacha20poly1305_state ss;
	crypto_generichash_state g;
	unsigned long long clen;
	size_t pos, i;

	assert_true(chunk_size <= sizeof(plain));
	memset(plain, 0x33, sizeof(plain));
	memset(h, 0, 112);
	memcpy(h, "CSBN", 4);
	h[4] = 1;
	h[8] = (uint8_t)(chunk_size >> 24);
	h[9] = (uint8_t)(chunk_size >> 16);
	h[10] = (uint8_t)(chunk_size >> 8);
	h[11] = (uint8_t)chunk_size;
	h[15] = BFX_EPOCH;
	memcpy(m, d_cab, sizeof(d_cab) - 1);
	memcpy(m + sizeof(d_cab) - 1, fx.cabinet_id, 16);
	crypto_generichash(h + 16, 32, m, sizeof(d_cab) - 1 + 16, fx.key[BFX_EPOCH], 32);
	memcpy(h + 48, fx.dev[0].id, 16);
	memcpy(h + 64, fx.dev[1].id, 16);
	randombytes_buf(h + 80, 16);
	for (i = 0; i < 8; i++) {
		h[96 + i] = (uint8_t)(created >> (56 - 8 * i));
		h[104 + i] = (uint8_t)(expires >> (56 - 8 * i));
	}
	randombytes_buf(bk, sizeof(bk));
	assert_int_equal(crypto_box_seal(env, bk, 32, fx.dev[1].box_pk), 0);
	crypto_generichash_init(&g, fx.key[BFX_EPOCH], 32, 32);
	crypto_generichash_update(&g, (const uint8_t *)d_stream, sizeof(d_stream) - 1);
	crypto_generichash_update(&g, bk, 32);
	crypto_generichash_final(&g, sk, 32);
	crypto_secretstream_xchacha20poly1305_init_push(&ss, env + 80, sk);
	crypto_generichash(ok, 32, (const uint8_t *)d_outer, sizeof(d_outer) - 1, fx.key[BFX_EPOCH],
	    32);
	randombytes_buf(out + 112, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out + 136, out + 240, NULL, env, 104, h,
	    112, NULL, out + 112, ok);
	pos = 256;
	for (i = 0; i < nchunks; i++) {
		crypto_secretstream_xchacha20poly1305_push(&ss, out + pos, &clen, plain,
		    chunks[i].len, i == 0 ? h : NULL, i == 0 ? 112 : 0, chunks[i].tag);
		pos += (size_t)clen;
	}
	bfx_resign(out, pos + 64, fx.dev[0].sign_sk);
	return pos + 64;
}

static void
test_bundle_built_by_hand_from_the_spec_opens(void **state)
{
	const unsigned char M = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
	const unsigned char F = crypto_secretstream_xchacha20poly1305_TAG_FINAL;
	struct hand_chunk ok[] = {{16, M}, {16, M}, {5, F}};
	struct hand_chunk empty_last[] = {{16, M}, {0, F}}; /* not what the sealer makes */
	struct hand_chunk push[] = {{16, crypto_secretstream_xchacha20poly1305_TAG_PUSH}, {5, F}};
	struct hand_chunk rekey[] = {{16, M}, {5, crypto_secretstream_xchacha20poly1305_TAG_REKEY}};
	struct hand_chunk early[] = {{16, F}, {5, F}};
	struct cs_bundle_info info;
	struct cs_bundle_open_params op;
	uint8_t buf[1024], *out = NULL;
	size_t len, out_len;
	uint64_t c = BFX_NOW_MS - 10, e = BFX_NOW_MS + 10;

	(void)state;
	bfx_open_params(&fx, &op);
	len = hand_build(buf, c, e, ok, 3, 16);
	assert_int_equal(cs_bundle_open(buf, len, &op, &info, &out, &out_len), 0);
	assert_int_equal(out_len, 37);
	assert_int_equal(info.chunks, 3);
	assert_true(out[0] == 0x33 && out[36] == 0x33);
	cs_free(out);
	len = hand_build(buf, c, e, empty_last, 2, 16);
	assert_int_equal(open_rc(buf, len, NULL), 0);
	len = hand_build(buf, c, e, push, 2, 16);
	assert_int_equal(open_rc(buf, len, NULL), CS_BUNDLE_ETAG);
	len = hand_build(buf, c, e, rekey, 2, 16);
	assert_int_equal(open_rc(buf, len, NULL), CS_BUNDLE_ETAG);
	len = hand_build(buf, c, e, early, 2, 16);
	assert_int_equal(open_rc(buf, len, NULL), CS_BUNDLE_EEARLYFINAL);
	len = hand_build(buf, c, c, ok, 3, 16);
	assert_int_equal(open_rc(buf, len, NULL), CS_BUNDLE_ELIFETIME);
	len = hand_build(buf, e, c, ok, 3, 16);
	assert_int_equal(open_rc(buf, len, NULL), CS_BUNDLE_ELIFETIME);
}

/* The sealer's output parsed by hand, from the spec: header fields and layers. */
static void
test_bundle_sealed_bytes_follow_the_spec(void **state)
{
	static const char d_outer[] = "cabsync bundle outer v1";
	static const char d_stream[] = "cabsync bundle stream v1";
	struct cs_bundle_seal_params sp;
	crypto_secretstream_xchacha20poly1305_state ss;
	crypto_generichash_state g;
	uint8_t ok[32], env[104], bk[32], sk[32], plain[64];
	unsigned long long mlen;
	unsigned char tag;
	size_t len;
	uint8_t *b;

	(void)state;
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = 64;
	b = seal(&sp, (const uint8_t *)"hello", 5, &len);
	assert_int_equal(len, 256 + 5 + 17 + 64);
	assert_memory_equal(b, "CSBN\x01\0\0\0\0\0\0\x40\0\0\0\x02", 16);
	assert_memory_equal(b + H_SENDER, fx.dev[0].id, 16);
	assert_memory_equal(b + H_RECIPIENT, fx.dev[1].id, 16);
	assert_true(b[H_CREATED + 7] == (uint8_t)sp.created_ms);
	assert_true(b[H_EXPIRES + 7] == (uint8_t)sp.expires_ms);
	crypto_generichash(ok, 32, (const uint8_t *)d_outer, sizeof(d_outer) - 1, fx.key[BFX_EPOCH],
	    32);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt_detached(env, NULL, b + 136,
	                     104, b + 240, b, 112, b + 112, ok),
	    0);
	assert_int_equal(crypto_box_seal_open(bk, env, 80, fx.dev[1].box_pk, fx.dev[1].box_sk), 0);
	crypto_generichash_init(&g, fx.key[BFX_EPOCH], 32, 32);
	crypto_generichash_update(&g, (const uint8_t *)d_stream, sizeof(d_stream) - 1);
	crypto_generichash_update(&g, bk, 32);
	crypto_generichash_final(&g, sk, 32);
	assert_int_equal(crypto_secretstream_xchacha20poly1305_init_pull(&ss, env + 80, sk), 0);
	assert_int_equal(crypto_secretstream_xchacha20poly1305_pull(&ss, plain, &mlen, &tag,
	                     b + 256, 22, b, 112),
	    0);
	assert_int_equal(mlen, 5);
	assert_int_equal(tag, crypto_secretstream_xchacha20poly1305_TAG_FINAL);
	assert_memory_equal(plain, "hello", 5);
	cs_free(b);
}

static void
test_bundle_allocation_failures_return_enomem_and_leak_nothing(void **state)
{
	struct cs_bundle_seal_params sp;
	struct cs_bundle_open_params op;
	struct cs_bundle_sealer s;
	uint8_t *payload = make_payload(100, 1), *b = NULL, *out = NULL;
	size_t len = 0, out_len = 0;
	long live = cs_mem_live(), i;
	struct sink k;
	int rc;

	(void)state;
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = 16;
	bfx_open_params(&fx, &op);
	for (i = 0;; i++) {
		cs_mem_fail_after(i, 1);
		rc = cs_bundle_seal(&sp, fx.dev[0].sign_sk, payload, 100, &b, &len);
		cs_mem_fail_after(-1, 0);
		if (rc == 0)
			break;
		assert_int_equal(rc, CS_ENOMEM);
		assert_null(b);
		assert_int_equal(cs_mem_live(), live);
		assert_true(i < 10);
	}
	assert_true(i >= 2); /* output buffer and sealer buffers */
	for (i = 0;; i++) {
		cs_mem_fail_after(i, 1);
		rc = cs_bundle_open(b, len, &op, NULL, &out, &out_len);
		cs_mem_fail_after(-1, 0);
		if (rc == 0)
			break;
		assert_int_equal(rc, CS_ENOMEM);
		assert_null(out);
		assert_int_equal(cs_mem_live(), live + 1);
		assert_true(i < 10);
	}
	assert_true(i >= 1);
	assert_memory_equal(out, payload, 100);
	cs_free(out);
	cs_free(b);
	/* streaming sealer: init is the only allocation */
	memset(&k, 0, sizeof(k));
	cs_mem_fail_after(0, 1);
	assert_int_equal(cs_bundle_seal_init(&s, &sp, sink_write, &k), CS_ENOMEM);
	cs_mem_fail_after(-1, 0);
	assert_int_equal(k.len, 0); /* nothing written */
	cs_bundle_seal_free(&s);
	assert_int_equal(cs_mem_live(), live);
	free(payload);
}

/*
 * Property: a random change anywhere (1 to 4 bytes xor'ed) never opens. The
 * seed is printed so that a failure replays.
 */
static void
test_bundle_random_flips_never_open(void **state)
{
	size_t len, i, k, pos;
	uint8_t *b = small_bundle(&len), *c = malloc(len);
	uint32_t seed = randombytes_uniform(1u << 30), r = seed;
	size_t skipped = 0;
	int rc, resign;

	(void)state;
	assert_non_null(c);
	print_message("random flips: seed %u\n", seed);
	for (i = 0; i < 3000; i++) {
		memcpy(c, b, len);
		for (k = 0; k <= i % 4; k++) {
			r = r * 1664525u + 1013904223u;
			pos = (r >> 8) % len;
			r = r * 1664525u + 1013904223u;
			c[pos] ^= (uint8_t)((r >> 16) % 255 + 1);
		}
		resign = (i % 2) == 1;
		if (resign) /* as a known sender would: the inner layers must hold */
			bfx_resign(c, len, fx.dev[0].sign_sk);
		/* flips that cancel out (or only hit a signature re-made) change nothing */
		if (memcmp(c, b, resign ? len - CS_BUNDLE_SIG_LEN : len) == 0) {
			skipped++;
			continue;
		}
		rc = open_rc(c, len, NULL);
		if (rc == 0)
			fail_msg("seed %u iteration %zu: a changed bundle opened", seed, i);
	}
	assert_true(skipped < 300);
	free(c);
	cs_free(b);
}

/* The checked-in fuzz seeds are real bundles for the fixture's keys. */
static void
test_bundle_fuzz_seeds_are_real_bundles(void **state)
{
	static const struct {
		const char *name;
		int rc;
	} seeds[] = {
	    {"empty", 0},
	    {"one-chunk", 0},
	    {"full-chunk", 0},
	    {"multi-chunk", 0},
	    {"chunk1k", 0},
	    {"other-recipient", CS_BUNDLE_ERECIPIENT},
	    {"sealed-to-other", CS_BUNDLE_ESEALED},
	    {"expired", CS_BUNDLE_EEXPIRED},
	    {"old-epoch", CS_BUNDLE_EOLDEPOCH},
	    {"replayed", CS_BUNDLE_EREPLAY},
	    {"revoked-sender", CS_BUNDLE_EREVOKED},
	};
	const char *src = getenv("CS_SOURCE_DIR");
	char path[4096];
	uint8_t buf[8192];
	size_t i, len;
	FILE *f;

	(void)state;
	if (src == NULL)
		skip();
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/bundle/%s-m0", src,
		    seeds[i].name);
		f = fopen(path, "rb");
		if (f == NULL)
			fail_msg("missing seed %s", path);
		len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		assert_true(len > 1 && len < sizeof(buf));
		assert_int_equal(buf[0], 0); /* mode byte */
		if (open_rc(buf + 1, len - 1, NULL) != seeds[i].rc)
			fail_msg("seed %s: %d, want %d", seeds[i].name,
			    open_rc(buf + 1, len - 1, NULL), seeds[i].rc);
	}
}

static void
test_bundle_peek_reads_the_clear_header_only(void **state)
{
	struct cs_bundle_info info;
	size_t len;
	uint8_t *b = small_bundle(&len);

	(void)state;
	b[len - 1] ^= 1; /* a bad signature does not stop a peek */
	assert_int_equal(cs_bundle_peek(b, len, len, &info), 0);
	assert_memory_equal(info.sender_id, fx.dev[0].id, CS_BUNDLE_ID_LEN);
	assert_memory_equal(info.bundle_id, b + H_BUNDLE_ID, CS_BUNDLE_ID_LEN);
	assert_int_equal(info.epoch, BFX_EPOCH);
	assert_int_equal(info.payload_len, 40);
	assert_int_equal(info.chunks, 3);
	assert_int_equal(cs_bundle_peek(b, len, len - 1, &info), CS_BUNDLE_ETOOBIG);
	assert_int_equal(cs_bundle_peek(b, 100, len, &info), CS_BUNDLE_ESHORT);
	b[0] ^= 1;
	assert_int_equal(cs_bundle_peek(b, len, len, &info), CS_BUNDLE_EMAGIC);
	cs_free(b);
}

/* True when the 32 bytes of key occur anywhere in [p, p + n). */
static int
contains_key(const void *p, size_t n, const uint8_t *key)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i + 32 <= n; i++)
		if (memcmp(b + i, key, 32) == 0)
			return 1;
	return 0;
}

/* Keys the caller passes are read during the call, never kept by the objects. */
static void
test_bundle_caller_keys_are_not_kept(void **state)
{
	struct cs_bundle_seal_params sp;
	struct cs_bundle_open_params op;
	struct cs_bundle_sealer s;
	struct cs_bundle_opener o;
	size_t memlen;
	struct sink k;
	uint8_t payload[100];

	(void)state;
	memset(payload, 0x11, sizeof(payload));
	memset(&k, 0, sizeof(k));
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = 16;
	assert_int_equal(cs_bundle_seal_init(&s, &sp, sink_write, &k), 0);
	assert_int_equal(cs_bundle_seal_push(&s, payload, sizeof(payload)), 0);
	memlen = 64 + sizeof(crypto_generichash_state) + 2 * 16 + 17;
	assert_false(contains_key(&s, sizeof(s), fx.key[BFX_EPOCH]));
	assert_false(contains_key(s.mem, memlen, fx.key[BFX_EPOCH]));
	assert_int_equal(cs_bundle_seal_final(&s, fx.dev[0].sign_sk), 0);
	assert_false(contains_key(&s, sizeof(s), fx.dev[0].sign_sk));
	assert_false(contains_key(s.mem, memlen, fx.dev[0].sign_sk));
	cs_bundle_seal_free(&s);

	bfx_open_params(&fx, &op);
	assert_int_equal(cs_bundle_open_init(&o, k.p, k.len, &op, NULL), 0);
	assert_false(contains_key(&o, sizeof(o), fx.key[BFX_EPOCH]));
	assert_false(contains_key(&o, sizeof(o), fx.dev[1].box_sk));
	cs_bundle_open_free(&o);
	free(k.p);
}

/* Both device 0 and device 2 are known, unrevoked senders. */
static int
two_senders(void *ctx, const uint8_t *device_id, uint8_t *pk_out)
{
	(void)ctx;
	if (memcmp(device_id, fx.dev[2].id, CS_BUNDLE_ID_LEN) == 0) {
		memcpy(pk_out, fx.dev[2].sign_pk, crypto_sign_PUBLICKEYBYTES);
		return 0;
	}
	return bfx_sender_key(&fx, device_id, pk_out);
}

/*
 * An enrolled device holding the cabinet key takes another device's bundle,
 * puts its own id as sender, re-makes the outer layer and re-signs: the first
 * chunk (header as AD, key known only to sender and recipient) refuses it
 * before any payload byte is handed out.
 */
static void
test_bundle_reattributed_by_an_insider_fails_at_the_first_chunk(void **state)
{
	static const char d_outer[] = "cabsync bundle outer v1";
	struct cs_bundle_open_params op;
	struct cs_bundle_opener o;
	uint8_t ok[32], env[104], out[16];
	size_t len, n;
	bool last = false;
	uint8_t *b = small_bundle(&len);

	(void)state;
	bfx_open_params(&fx, &op);
	op.sender_key = two_senders;
	crypto_generichash(ok, 32, (const uint8_t *)d_outer, sizeof(d_outer) - 1, fx.key[BFX_EPOCH],
	    32);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt_detached(env, NULL,
	                     b + P_ENVELOPE, 104, b + P_TAG, b, 112, b + P_NONCE, ok),
	    0);
	memcpy(b + H_SENDER, fx.dev[2].id, CS_BUNDLE_ID_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(b + P_ENVELOPE, b + P_TAG, NULL, env,
	    104, b, 112, NULL, b + P_NONCE, ok);
	bfx_resign(b, len, fx.dev[2].sign_sk);
	assert_int_equal(cs_bundle_open_init(&o, b, len, &op, NULL), 0);
	assert_int_equal(cs_bundle_open_next(&o, out, sizeof(out), &n, &last), CS_BUNDLE_ESTREAM);
	assert_int_equal(n, 0);
	cs_bundle_open_free(&o);
	assert_int_equal(open_rc(b, len, &op), CS_BUNDLE_ESTREAM);
	cs_free(b);
}

static void
test_bundle_strerror_names_every_code(void **state)
{
	int e;

	(void)state;
	for (e = CS_BUNDLE_ESTATE; e <= CS_BUNDLE_ETOOBIG; e++)
		assert_string_not_equal(cs_bundle_strerror(e), "unknown error");
	assert_string_equal(cs_bundle_strerror(CS_ENOMEM), "out of memory");
	assert_string_equal(cs_bundle_strerror(-399), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bundle_round_trip_empty),
	    cmocka_unit_test(test_bundle_round_trip_small),
	    cmocka_unit_test(test_bundle_round_trip_multi_chunk_at_every_boundary),
	    cmocka_unit_test(test_bundle_round_trip_10mb),
	    cmocka_unit_test(test_bundle_seal_streaming_any_split_gives_the_same_payload),
	    cmocka_unit_test(test_bundle_seal_writer_error_is_returned_and_sticks),
	    cmocka_unit_test(test_bundle_seal_refuses_bad_parameters),
	    cmocka_unit_test(test_bundle_open_streams_chunk_by_chunk),
	    cmocka_unit_test(test_bundle_seal_free_wipes_the_sealer),
	    cmocka_unit_test(test_bundle_flip_in_each_region_is_refused_with_its_code),
	    cmocka_unit_test(test_bundle_flip_resigned_by_known_sender_is_caught_by_inner_layers),
	    cmocka_unit_test(test_bundle_truncated_at_every_offset_is_refused),
	    cmocka_unit_test(test_bundle_stream_without_final_chunk_is_an_error),
	    cmocka_unit_test(test_bundle_expired_and_future_are_refused_with_skew),
	    cmocka_unit_test(test_bundle_replayed_id_is_refused),
	    cmocka_unit_test(test_bundle_callback_errors_pass_through),
	    cmocka_unit_test(test_bundle_random_ids_differ),
	    cmocka_unit_test(test_bundle_addressed_to_another_device_is_refused),
	    cmocka_unit_test(test_bundle_unknown_or_revoked_sender_is_refused),
	    cmocka_unit_test(test_bundle_wrong_old_or_unknown_epoch_is_refused),
	    cmocka_unit_test(test_bundle_oversized_is_refused_before_anything),
	    cmocka_unit_test(test_bundle_checks_run_in_the_documented_order),
	    cmocka_unit_test(test_bundle_built_by_hand_from_the_spec_opens),
	    cmocka_unit_test(test_bundle_sealed_bytes_follow_the_spec),
	    cmocka_unit_test(test_bundle_allocation_failures_return_enomem_and_leak_nothing),
	    cmocka_unit_test(test_bundle_random_flips_never_open),
	    cmocka_unit_test(test_bundle_fuzz_seeds_are_real_bundles),
	    cmocka_unit_test(test_bundle_peek_reads_the_clear_header_only),
	    cmocka_unit_test(test_bundle_caller_keys_are_not_kept),
	    cmocka_unit_test(test_bundle_reattributed_by_an_insider_fails_at_the_first_chunk),
	    cmocka_unit_test(test_bundle_strerror_names_every_code),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
