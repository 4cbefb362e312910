/* Unit tests of wire/clockmsg: the CLOCK message's strict encoding and the
 * NTP-style sample it gives (docs/PROTOCOL.md §3.14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "wire/clockmsg.h"

static void
test_roundtrip_shortest_forms(void **state)
{
	static const uint64_t vals[] = {0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffffu,
	    0x100000000ull, 1764300000000ull, UINT64_MAX};
	uint8_t buf[CS_CLOCK_MAX_LEN], again[CS_CLOCK_MAX_LEN];
	struct cs_clockmsg m, d;
	size_t i, len, len2;

	(void)state;
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		m.now = vals[i];
		m.echo = vals[(i + 3) % 12];
		m.held = vals[(i + 7) % 12];
		assert_int_equal(cs_clockmsg_encode(&m, buf, sizeof(buf), &len), 0);
		assert_true(cs_clockmsg_is(buf, len));
		assert_int_equal(cs_clockmsg_decode(buf, len, &d), 0);
		assert_memory_equal(&m, &d, sizeof(m));
		/* canonical: decode then encode gives the same bytes */
		assert_int_equal(cs_clockmsg_encode(&d, again, sizeof(again), &len2), 0);
		assert_int_equal(len, len2);
		assert_memory_equal(buf, again, len);
	}
	/* the exact bytes of [11, 1764300000000, 5, 300] */
	{
		static const uint8_t want[] = {0x94, 0x0b, 0xcf, 0x00, 0x00, 0x01, 0x9a, 0xc8, 0x79,
		    0x8b, 0x00, 0x05, 0xcd, 0x01, 0x2c};

		m.now = 1764300000000ull;
		m.echo = 5;
		m.held = 300;
		assert_int_equal(cs_clockmsg_encode(&m, buf, sizeof(buf), &len), 0);
		assert_int_equal(len, sizeof(want));
		assert_memory_equal(buf, want, len);
	}
	assert_int_equal(cs_clockmsg_encode(&m, buf, 3, &len), CS_ERANGE);
	assert_int_equal(cs_clockmsg_encode(NULL, buf, sizeof(buf), &len), CS_EINVAL);
}

/* each malformed input, named */
static const uint8_t short0[] = {0x94, 0x0b, 0x01, 0x02};
static const uint8_t trailing0[] = {0x94, 0x0b, 0x01, 0x02, 0x03, 0x00};
static const uint8_t noncanon0[] = {0x94, 0x0b, 0xcc, 0x05, 0x02, 0x03};
static const uint8_t noncanon1[] = {0x94, 0x0b, 0xcd, 0x00, 0xff, 0x02, 0x03};
static const uint8_t negative0[] = {0x94, 0x0b, 0xff, 0x02, 0x03};
static const uint8_t str0[] = {0x94, 0x0b, 0xa1, 0x41, 0x02, 0x03};
static const uint8_t trunc64[] = {0x94, 0x0b, 0xcf, 0x00, 0x00, 0x01};
static const uint8_t wrongarr[] = {0x93, 0x0b, 0x01, 0x02};
static const uint8_t wrongtype[] = {0x94, 0x0a, 0x01, 0x02, 0x03};
static const uint8_t tooshort[] = {0x94};

static void
test_malformed_is_refused_whole(void **state)
{
	static const struct {
		const uint8_t *p;
		size_t n;
	} bad[] = {{short0, sizeof(short0)}, {trailing0, sizeof(trailing0)},
	    {noncanon0, sizeof(noncanon0)}, {noncanon1, sizeof(noncanon1)},
	    {negative0, sizeof(negative0)}, {str0, sizeof(str0)}, {trunc64, sizeof(trunc64)},
	    {wrongarr, sizeof(wrongarr)}, {wrongtype, sizeof(wrongtype)},
	    {tooshort, sizeof(tooshort)}};
	struct cs_clockmsg d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&d, 0x55, sizeof(d));
		assert_int_equal(cs_clockmsg_decode(bad[i].p, bad[i].n, &d), CS_CLOCK_EMSG);
		assert_true(d.now == 0 && d.echo == 0 && d.held == 0);
	}
	assert_false(cs_clockmsg_is(wrongtype, sizeof(wrongtype)));
	assert_int_equal(cs_clockmsg_decode(NULL, 4, &d), CS_EINVAL);
}

static void
test_sample_of_a_peer_10_min_ahead(void **state)
{
	struct cs_clockmsg m;
	int64_t off = 0, rtt = 0;
	const uint64_t t1 = 1764300000000ull, skew = 600000;

	(void)state;
	/* we sent at t1; 20 ms later it arrived at the peer (its clock +10 min),
	 * it answered 5 ms after that, we got it 20 ms later */
	m.echo = t1;
	m.held = 5;
	m.now = t1 + skew + 20 + 5;
	assert_int_equal(cs_clockmsg_sample(&m, t1 + 45, &off, &rtt), 0);
	assert_int_equal(rtt, 40);
	assert_int_equal(off, (int64_t)skew);
	/* asymmetric paths: the error stays within rtt / 2 */
	m.now = t1 + skew + 2 + 5;
	assert_int_equal(cs_clockmsg_sample(&m, t1 + 45, &off, &rtt), 0);
	assert_true(off >= (int64_t)skew - rtt / 2 && off <= (int64_t)skew + rtt / 2);
	/* a peer 10 min behind: negative */
	m.now = t1 - skew + 25;
	assert_int_equal(cs_clockmsg_sample(&m, t1 + 45, &off, &rtt), 0);
	assert_int_equal(off, -(int64_t)skew);
	/* held for a minute (a periodic CLOCK): the hold does not count */
	m.held = 60000;
	m.now = t1 + skew + 20 + 60000;
	assert_int_equal(cs_clockmsg_sample(&m, t1 + 60040, &off, &rtt), 0);
	assert_int_equal(rtt, 40);
	assert_int_equal(off, (int64_t)skew);
}

static void
test_unusable_samples(void **state)
{
	struct cs_clockmsg m = {1764300000000ull, 0, 0};
	int64_t off, rtt;

	(void)state;
	/* no echo: the first CLOCK of a session */
	assert_int_equal(cs_clockmsg_sample(&m, 1764300000000ull, &off, &rtt), CS_CLOCK_ERTT);
	/* our clock stepped back between send and receipt: negative round trip */
	m.echo = 1764300000000ull;
	m.held = 0;
	assert_int_equal(cs_clockmsg_sample(&m, 1764299999000ull, &off, &rtt), CS_CLOCK_ERTT);
	/* a round trip over the limit */
	assert_int_equal(
	    cs_clockmsg_sample(&m, 1764300000000ull + CS_CLOCK_MAX_RTT_MS + 1, &off, &rtt),
	    CS_CLOCK_ERTT);
	/* held longer than its own clock reads, absurd timestamps */
	m.held = m.now + 1;
	assert_int_equal(cs_clockmsg_sample(&m, 1764300000100ull, &off, &rtt), CS_CLOCK_ERTT);
	m.held = 0;
	m.now = UINT64_MAX;
	assert_int_equal(cs_clockmsg_sample(&m, 1764300000100ull, &off, &rtt), CS_CLOCK_ERTT);
	assert_int_equal(cs_clockmsg_sample(NULL, 1, &off, &rtt), CS_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_shortest_forms),
	    cmocka_unit_test(test_malformed_is_refused_whole),
	    cmocka_unit_test(test_sample_of_a_peer_10_min_ahead),
	    cmocka_unit_test(test_unusable_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
