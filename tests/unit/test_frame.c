/* Unit tests of wire/frame (Noise message framing) and wire/chunk (message chunking). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "wire/chunk.h"
#include "wire/frame.h"

/* ---- frames ---- */

static void
test_frame_take_returns_body_and_used(void **state)
{
	uint8_t buf[2 + 20 + 5];
	struct cs_frame f;

	(void)state;
	memset(buf, 0xab, sizeof(buf));
	buf[0] = 0;
	buf[1] = 20;
	assert_int_equal(cs_frame_take(buf, sizeof(buf), &f), 0);
	assert_ptr_equal(f.body, buf + 2);
	assert_int_equal(f.body_len, 20);
	assert_int_equal(f.used, 22);
}

static void
test_frame_take_waits_for_more_bytes(void **state)
{
	uint8_t buf[2 + 300];
	struct cs_frame f;
	size_t cut;

	(void)state;
	memset(buf, 0x11, sizeof(buf));
	buf[0] = 300 >> 8;
	buf[1] = 300 & 0xff;
	/* a short read at every offset consumes nothing */
	for (cut = 0; cut < sizeof(buf); cut++)
		assert_int_equal(cs_frame_take(buf, cut, &f), CS_EAGAIN);
	assert_int_equal(cs_frame_take(buf, sizeof(buf), &f), 0);
	assert_int_equal(f.used, sizeof(buf));
}

static const uint8_t frame_under_tag[] = {0x00, 0x0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15};
static const uint8_t frame_empty[] = {0x00, 0x00};

static void
test_frame_take_refuses_body_shorter_than_tag(void **state)
{
	struct cs_frame f;

	(void)state;
	assert_int_equal(cs_frame_take(frame_under_tag, sizeof(frame_under_tag), &f),
	    CS_FRAME_ESHORT);
	assert_int_equal(cs_frame_take(frame_empty, sizeof(frame_empty), &f), CS_FRAME_ESHORT);
}

static void
test_frame_take_accepts_largest_noise_message(void **state)
{
	uint8_t *buf = malloc(2 + 65535);
	struct cs_frame f;

	(void)state;
	assert_non_null(buf);
	memset(buf, 0, 2 + 65535);
	buf[0] = 0xff;
	buf[1] = 0xff;
	assert_int_equal(cs_frame_take(buf, 2 + 65534, &f), CS_EAGAIN);
	assert_int_equal(cs_frame_take(buf, 2 + 65535, &f), 0);
	assert_int_equal(f.body_len, 65535);
	free(buf);
}

static void
test_frame_take_refuses_null(void **state)
{
	struct cs_frame f;

	(void)state;
	assert_int_equal(cs_frame_take(NULL, 4, &f), CS_EINVAL);
	assert_int_equal(cs_frame_take(frame_empty, 2, NULL), CS_EINVAL);
}

static void
test_frame_write_then_take_round_trips(void **state)
{
	uint8_t body[40], out[64];
	struct cs_frame f;
	size_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)i;
	assert_int_equal(cs_frame_write(out, sizeof(out), body, sizeof(body), &used), 0);
	assert_int_equal(used, 42);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 40);
	assert_int_equal(cs_frame_take(out, used, &f), 0);
	assert_memory_equal(f.body, body, sizeof(body));
}

static void
test_frame_write_handles_body_in_place(void **state)
{
	uint8_t out[2 + 32];
	struct cs_frame f;
	size_t used;

	(void)state;
	for (size_t i = 0; i < 32; i++)
		out[2 + i] = (uint8_t)(0x80 + i);
	assert_int_equal(cs_frame_write(out, sizeof(out), out + 2, 32, &used), 0);
	assert_int_equal(cs_frame_take(out, used, &f), 0);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(f.body[i], 0x80 + i);
}

static void
test_frame_write_refuses_bad_sizes(void **state)
{
	uint8_t out[64], hdr[2];
	size_t used;

	(void)state;
	assert_int_equal(cs_frame_write(out, sizeof(out), out, 15, &used), CS_FRAME_ESHORT);
	assert_int_equal(cs_frame_write(out, 20, out + 2, 40, &used), CS_ENOSPC);
	assert_int_equal(cs_frame_hdr(hdr, 65536), CS_FRAME_ETOOBIG);
	assert_int_equal(cs_frame_hdr(hdr, 65535), 0);
	assert_int_equal(hdr[0], 0xff);
	assert_int_equal(hdr[1], 0xff);
}

/* ---- chunks ---- */

static uint8_t *
pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n == 0 ? 1 : n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
	return p;
}

/* Split msg with chunks of max_plain bytes, reassemble, compare. Returns chunks. */
static size_t
split_and_join(const uint8_t *msg, size_t len, size_t max_plain)
{
	struct cs_chunk_split s;
	struct cs_chunk_reasm r;
	uint8_t *chunk = malloc(CS_CHUNK_MAX_PLAIN);
	const uint8_t *got = NULL;
	size_t n, got_len = 0, count = 0;
	int rc, fed = CS_EAGAIN;

	assert_non_null(chunk);
	assert_int_equal(cs_chunk_split_init(&s, msg, len, 0, max_plain), 0);
	cs_chunk_reasm_init(&r, 0);
	while ((rc = cs_chunk_split_next(&s, chunk, CS_CHUNK_MAX_PLAIN, &n)) == 1) {
		assert_true(n <= (max_plain == 0 ? CS_CHUNK_MAX_PLAIN : max_plain));
		assert_int_equal(fed, CS_EAGAIN); /* nothing complete before the last chunk */
		fed = cs_chunk_reasm_feed(&r, chunk, n, &got, &got_len);
		count++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(fed, 0);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, msg, len);
	assert_int_equal(count, cs_chunk_count(len, max_plain));
	cs_chunk_reasm_free(&r);
	free(chunk);
	return count;
}

static void
test_chunk_small_message_is_one_chunk(void **state)
{
	uint8_t *m = pattern(10, 1);

	(void)state;
	assert_int_equal(split_and_join(m, 10, 0), 1);
	free(m);
}

static void
test_chunk_boundaries_of_one_noise_message(void **state)
{
	size_t first = CS_CHUNK_MAX_PLAIN - CS_CHUNK_FIRST_HDR;
	uint8_t *m = pattern(3 * 65536, 2);

	(void)state;
	assert_int_equal(split_and_join(m, first, 0), 1);
	assert_int_equal(split_and_join(m, first + 1, 0), 2);
	assert_int_equal(split_and_join(m, first + CS_CHUNK_MAX_PLAIN - 1, 0), 2);
	assert_int_equal(split_and_join(m, first + CS_CHUNK_MAX_PLAIN, 0), 3);
	assert_int_equal(split_and_join(m, 3 * 65536, 0), 4);
	free(m);
}

static void
test_chunk_every_chunk_size_reassembles(void **state)
{
	uint8_t *m = pattern(200, 3);

	(void)state;
	for (size_t mp = CS_CHUNK_FIRST_HDR + 1; mp <= 210; mp++)
		split_and_join(m, 200, mp);
	free(m);
}

static void
test_chunk_reasm_single_chunk_points_into_input(void **state)
{
	static const uint8_t one[] = {0x03, 0, 0, 0, 3, 'a', 'b', 'c'};
	struct cs_chunk_reasm r;
	const uint8_t *m;
	size_t n;
	long live = cs_mem_live();

	(void)state;
	cs_chunk_reasm_init(&r, 0);
	assert_int_equal(cs_chunk_reasm_feed(&r, one, sizeof(one), &m, &n), 0);
	assert_ptr_equal(m, one + 5);
	assert_int_equal(n, 3);
	assert_int_equal(cs_mem_live(), live); /* nothing allocated */
	cs_chunk_reasm_free(&r);
}

/* Each malformed chunk (fed to a fresh reassembler after the prefix). */
static const uint8_t chunk_reserved_flags[] = {0x07, 0, 0, 0, 1, 'a'};
static const uint8_t chunk_no_first[] = {0x02, 'a'};
static const uint8_t chunk_short_header[] = {0x01, 0, 0};
static const uint8_t chunk_empty_input[] = {0x00};
static const uint8_t chunk_total_zero[] = {0x03, 0, 0, 0, 0, 'a'};
static const uint8_t chunk_no_data[] = {0x01, 0, 0, 0, 5};
static const uint8_t chunk_overrun[] = {0x03, 0, 0, 0, 1, 'a', 'b'};
static const uint8_t chunk_last_too_early[] = {0x03, 0, 0, 0, 2, 'a'};
static const uint8_t chunk_last_missing[] = {0x01, 0, 0, 0, 1, 'a'};
static const uint8_t chunk_total_4g[] = {0x01, 0xff, 0xff, 0xff, 0xff, 'a'};
static const uint8_t chunk_start_of_two[] = {0x01, 0, 0, 0, 3, 'a'};
static const uint8_t chunk_first_inside[] = {0x01, 0, 0, 0, 3, 'b'};
static const uint8_t chunk_next_no_data[] = {0x00};
static const uint8_t chunk_next_overrun[] = {0x02, 'b', 'c', 'd'};

static int
feed_one(const uint8_t *prefix, size_t plen, const uint8_t *c, size_t n, size_t cap)
{
	struct cs_chunk_reasm r;
	const uint8_t *m;
	size_t ml;
	int rc;

	cs_chunk_reasm_init(&r, cap);
	if (prefix != NULL)
		assert_int_equal(cs_chunk_reasm_feed(&r, prefix, plen, &m, &ml), CS_EAGAIN);
	rc = cs_chunk_reasm_feed(&r, c, n, &m, &ml);
	assert_null(m);
	/* sticky: a valid chunk after an error fails the same way */
	if (rc < 0 && rc != CS_EAGAIN) {
		static const uint8_t ok[] = {0x03, 0, 0, 0, 1, 'z'};

		assert_int_equal(cs_chunk_reasm_feed(&r, ok, sizeof(ok), &m, &ml), rc);
	}
	cs_chunk_reasm_free(&r);
	return rc;
}

#define FEED(c)     feed_one(NULL, 0, c, sizeof(c), 0)
#define FEED2(p, c) feed_one(p, sizeof(p), c, sizeof(c), 0)

static void
test_chunk_reasm_refuses_each_malformed_chunk(void **state)
{
	(void)state;
	assert_int_equal(FEED(chunk_reserved_flags), CS_CHUNK_EFLAGS);
	assert_int_equal(FEED(chunk_no_first), CS_CHUNK_ESEQ);
	assert_int_equal(FEED(chunk_short_header), CS_CHUNK_EHDR);
	assert_int_equal(feed_one(NULL, 0, chunk_empty_input, 0, 0), CS_CHUNK_EHDR);
	assert_int_equal(FEED(chunk_total_zero), CS_CHUNK_EEMPTY);
	assert_int_equal(FEED(chunk_no_data), CS_CHUNK_EEMPTY);
	assert_int_equal(FEED(chunk_overrun), CS_CHUNK_EOVERRUN);
	assert_int_equal(FEED(chunk_last_too_early), CS_CHUNK_ELAST);
	assert_int_equal(FEED(chunk_last_missing), CS_CHUNK_ELAST);
	assert_int_equal(FEED(chunk_total_4g), CS_CHUNK_ETOTAL);
	assert_int_equal(FEED2(chunk_start_of_two, chunk_first_inside), CS_CHUNK_ESEQ);
	assert_int_equal(FEED2(chunk_start_of_two, chunk_next_no_data), CS_CHUNK_EEMPTY);
	assert_int_equal(FEED2(chunk_start_of_two, chunk_next_overrun), CS_CHUNK_EOVERRUN);
}

static void
test_chunk_reasm_refuses_chunk_over_one_noise_message(void **state)
{
	uint8_t *c = calloc(1, CS_CHUNK_MAX_PLAIN + 1);

	(void)state;
	assert_non_null(c);
	c[0] = 0x01;
	c[3] = 0x10; /* total 1 MiB */
	assert_int_equal(feed_one(NULL, 0, c, CS_CHUNK_MAX_PLAIN + 1, 0), CS_CHUNK_ETOOBIG);
	free(c);
}

static void
test_chunk_reasm_checks_cap_before_allocating(void **state)
{
	static const uint8_t at_cap[] = {0x01, 0, 0, 0x10, 0x00, 'a'};   /* 4096 */
	static const uint8_t over_cap[] = {0x01, 0, 0, 0x10, 0x01, 'a'}; /* 4097 */
	static const uint8_t big[] = {0x01, 0x01, 0, 0, 0x00, 'a'};      /* 16 MiB */
	struct cs_chunk_reasm r;
	const uint8_t *m;
	size_t n;
	long live = cs_mem_live();

	(void)state;
	assert_int_equal(feed_one(NULL, 0, at_cap, sizeof(at_cap), 4096), CS_EAGAIN);
	cs_mem_fail_after(0, 1); /* any allocation would fail: none is tried */
	assert_int_equal(feed_one(NULL, 0, over_cap, sizeof(over_cap), 4096), CS_CHUNK_ETOTAL);
	cs_mem_fail_after(-1, 0);
	assert_int_equal(cs_mem_live(), live);
	/* a 16 MiB announcement costs what arrived, not 16 MiB */
	cs_chunk_reasm_init(&r, 0);
	assert_int_equal(cs_chunk_reasm_feed(&r, big, sizeof(big), &m, &n), CS_EAGAIN);
	assert_true(r.buf_cap <= 64 * 1024);
	cs_chunk_reasm_free(&r);
}

static void
test_chunk_reasm_fails_cleanly_at_every_allocation(void **state)
{
	uint8_t *msg = pattern(300000, 4), *chunk = malloc(CS_CHUNK_MAX_PLAIN);
	long live = cs_mem_live();

	(void)state;
	assert_non_null(chunk);
	for (long fail = 0;; fail++) {
		struct cs_chunk_split s;
		struct cs_chunk_reasm r;
		const uint8_t *m = NULL;
		size_t n, ml = 0;
		int rc = CS_EAGAIN;

		assert_int_equal(cs_chunk_split_init(&s, msg, 300000, 0, 0), 0);
		cs_chunk_reasm_init(&r, 0);
		cs_mem_fail_after(fail, 1);
		while (cs_chunk_split_next(&s, chunk, CS_CHUNK_MAX_PLAIN, &n) == 1) {
			rc = cs_chunk_reasm_feed(&r, chunk, n, &m, &ml);
			if (rc != CS_EAGAIN)
				break;
		}
		cs_mem_fail_after(-1, 0);
		if (rc == 0) {
			assert_int_equal(ml, 300000);
			assert_memory_equal(m, msg, 300000);
			cs_chunk_reasm_free(&r);
			assert_int_equal(cs_mem_live(), live);
			assert_true(fail > 0);
			break;
		}
		assert_int_equal(rc, CS_ENOMEM);
		assert_null(r.buf); /* nothing held after the failure */
		cs_chunk_reasm_free(&r);
		assert_int_equal(cs_mem_live(), live);
	}
	free(chunk);
	free(msg);
}

static void
test_chunk_reasm_takes_messages_back_to_back(void **state)
{
	static const uint8_t a1[] = {0x01, 0, 0, 0, 4, 'a', 'b'};
	static const uint8_t a2[] = {0x02, 'c', 'd'};
	static const uint8_t b1[] = {0x03, 0, 0, 0, 2, 'x', 'y'};
	struct cs_chunk_reasm r;
	const uint8_t *m;
	size_t n;

	(void)state;
	cs_chunk_reasm_init(&r, 0);
	assert_int_equal(cs_chunk_reasm_feed(&r, a1, sizeof(a1), &m, &n), CS_EAGAIN);
	assert_int_equal(cs_chunk_reasm_feed(&r, a2, sizeof(a2), &m, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(m, "abcd", 4);
	assert_int_equal(cs_chunk_reasm_feed(&r, b1, sizeof(b1), &m, &n), 0);
	assert_memory_equal(m, "xy", 2);
	cs_chunk_reasm_free(&r);
}

static void
test_chunk_split_refuses_empty_and_over_cap(void **state)
{
	struct cs_chunk_split s;
	uint8_t m[10], out[4];
	size_t n;

	(void)state;
	assert_int_equal(cs_chunk_split_init(&s, m, 0, 0, 0), CS_CHUNK_EEMPTY);
	assert_int_equal(cs_chunk_split_init(&s, m, 10, 9, 0), CS_CHUNK_ETOTAL);
	assert_int_equal(cs_chunk_split_init(&s, m, 10, 0, 5), CS_EINVAL);
	assert_int_equal(cs_chunk_split_init(&s, m, 10, 0, CS_CHUNK_MAX_PLAIN + 1), CS_EINVAL);
	assert_int_equal(cs_chunk_split_init(&s, m, 10, 0, 0), 0);
	assert_int_equal(cs_chunk_split_next(&s, out, sizeof(out), &n), CS_ENOSPC);
}

/*
 * The whole receive path at every short-read offset: message -> chunks ->
 * frames (a fake 16-byte tag stands for the encryption) -> one TCP byte
 * stream delivered in two reads cut at every offset.
 */
static void
test_stream_of_frames_reassembles_at_every_read_split(void **state)
{
	enum { MSG = 700, MAXP = 64 };
	uint8_t *msg = pattern(MSG, 5), stream[4096], chunk[MAXP], rx[4096];
	struct cs_chunk_split s;
	size_t slen = 0, n, used;

	(void)state;
	assert_int_equal(cs_chunk_split_init(&s, msg, MSG, 0, MAXP), 0);
	while (cs_chunk_split_next(&s, chunk, sizeof(chunk), &n) == 1) {
		uint8_t body[MAXP + CS_FRAME_TAG_LEN];

		memcpy(body, chunk, n);
		memset(body + n, 0xee, CS_FRAME_TAG_LEN);
		assert_int_equal(cs_frame_write(stream + slen, sizeof(stream) - slen, body,
		                     n + CS_FRAME_TAG_LEN, &used),
		    0);
		slen += used;
	}
	for (size_t cut = 0; cut <= slen; cut++) {
		struct cs_chunk_reasm r;
		size_t have = 0, off = 0, fed_total = 0;
		const uint8_t *m = NULL;
		size_t ml = 0;
		int done = 0;

		cs_chunk_reasm_init(&r, 0);
		for (int read = 0; read < 2; read++) {
			size_t take = read == 0 ? cut : slen - cut;

			memcpy(rx + have, stream + fed_total, take);
			have += take;
			fed_total += take;
			for (;;) {
				struct cs_frame f;
				int rc = cs_frame_take(rx + off, have - off, &f);

				if (rc == CS_EAGAIN)
					break;
				assert_int_equal(rc, 0);
				rc = cs_chunk_reasm_feed(&r, f.body, f.body_len - CS_FRAME_TAG_LEN,
				    &m, &ml);
				off += f.used;
				if (rc == 0) {
					assert_false(done);
					done = 1;
				} else {
					assert_int_equal(rc, CS_EAGAIN);
				}
			}
		}
		assert_true(done);
		assert_int_equal(off, slen);
		assert_int_equal(ml, MSG);
		assert_memory_equal(m, msg, MSG);
		cs_chunk_reasm_free(&r);
	}
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_take_returns_body_and_used),
	    cmocka_unit_test(test_frame_take_waits_for_more_bytes),
	    cmocka_unit_test(test_frame_take_refuses_body_shorter_than_tag),
	    cmocka_unit_test(test_frame_take_accepts_largest_noise_message),
	    cmocka_unit_test(test_frame_take_refuses_null),
	    cmocka_unit_test(test_frame_write_then_take_round_trips),
	    cmocka_unit_test(test_frame_write_handles_body_in_place),
	    cmocka_unit_test(test_frame_write_refuses_bad_sizes),
	    cmocka_unit_test(test_chunk_small_message_is_one_chunk),
	    cmocka_unit_test(test_chunk_boundaries_of_one_noise_message),
	    cmocka_unit_test(test_chunk_every_chunk_size_reassembles),
	    cmocka_unit_test(test_chunk_reasm_single_chunk_points_into_input),
	    cmocka_unit_test(test_chunk_reasm_refuses_each_malformed_chunk),
	    cmocka_unit_test(test_chunk_reasm_refuses_chunk_over_one_noise_message),
	    cmocka_unit_test(test_chunk_reasm_checks_cap_before_allocating),
	    cmocka_unit_test(test_chunk_reasm_fails_cleanly_at_every_allocation),
	    cmocka_unit_test(test_chunk_reasm_takes_messages_back_to_back),
	    cmocka_unit_test(test_chunk_split_refuses_empty_and_over_cap),
	    cmocka_unit_test(test_stream_of_frames_reassembles_at_every_read_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
