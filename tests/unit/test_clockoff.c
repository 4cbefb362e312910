/* Unit tests of agent/clockoff: this PC's clock against the cabinet's
 * (median of the peers' samples and this PC, upper middle for an even count,
 * correction clamped to [0, 1 h], own clock steps, expiry). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/clockoff.h"
#include "base/err.h"

#define MIN_MS 60000
#define WALL0  1764300000000ll /* wall clock at mono 0 */

static uint8_t dev[8][CS_DEVID_LEN];

static int
setup(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 8; i++)
		memset(dev[i], 0x10 + i, CS_DEVID_LEN);
	return 0;
}

static void
put(struct cs_clockoff *c, int d, int64_t off, int64_t mono)
{
	assert_int_equal(cs_clockoff_put(c, dev[d], off, 3, WALL0 + mono, mono), 0);
}

static struct cs_clockoff_est
est(const struct cs_clockoff *c, int64_t mono)
{
	struct cs_clockoff_est e;

	cs_clockoff_estimate(c, WALL0 + mono, mono, NULL, NULL, &e);
	return e;
}

static void
test_no_peer_no_correction(void **state)
{
	static struct cs_clockoff c;
	struct cs_clockoff_est e;

	(void)state;
	cs_clockoff_init(&c);
	e = est(&c, 1000);
	assert_int_equal(e.npeers, 0);
	assert_int_equal(e.offset_ms, 0);
	assert_int_equal(e.correction_ms, 0);
}

static void
test_late_pc_among_two_correct_peers(void **state)
{
	static struct cs_clockoff c;
	struct cs_clockoff_est e;

	(void)state;
	cs_clockoff_init(&c);
	/* both peers read 10 min more than this PC (give or take a few ms) */
	put(&c, 0, 10 * MIN_MS + 4, 1000);
	put(&c, 1, 10 * MIN_MS - 3, 1000);
	e = est(&c, 2000);
	assert_int_equal(e.npeers, 2);
	/* sorted {0, 10 min - 3, 10 min + 4}: the middle one */
	assert_int_equal(e.offset_ms, 10 * MIN_MS - 3);
	assert_int_equal(e.correction_ms, 10 * MIN_MS - 3);
	assert_int_equal(e.majority, 1);
	assert_int_equal(e.shown_ms, 10 * MIN_MS - 3);
}

static void
test_one_bad_clock_cannot_move_three(void **state)
{
	static struct cs_clockoff c;
	struct cs_clockoff_est e;

	(void)state;
	cs_clockoff_init(&c);
	/* this PC and one peer agree; a third is 10 min early (ahead) */
	put(&c, 0, 120, 1000);
	put(&c, 1, 10 * MIN_MS, 1000);
	e = est(&c, 1000);
	assert_int_equal(e.offset_ms, 120);
	/* even 50 peers' worth of a rogue clock is one vote: add a second
	 * correct peer and a rogue one 3 days ahead */
	put(&c, 2, -80, 1000);
	put(&c, 3, 3 * 24 * 60 * MIN_MS, 1000);
	e = est(&c, 1000);
	assert_int_equal(e.npeers, 4);
	/* sorted {-80, 0, 120, 10 min, 3 d}: the middle one */
	assert_int_equal(e.offset_ms, 120);
	/* the early PC's own view: everyone else 10 min behind it */
	cs_clockoff_init(&c);
	put(&c, 0, -10 * MIN_MS, 1000);
	put(&c, 1, -10 * MIN_MS - 120, 1000);
	e = est(&c, 1000);
	assert_int_equal(e.offset_ms, -10 * MIN_MS);
	/* it is early: no correction (never stricter than its own clock) */
	assert_int_equal(e.correction_ms, 0);
}

static void
test_two_devices_take_the_later_clock(void **state)
{
	static struct cs_clockoff c;
	struct cs_clockoff_est e;

	(void)state;
	/* late PC, one peer: it follows the peer */
	cs_clockoff_init(&c);
	put(&c, 0, 10 * MIN_MS, 1000);
	e = est(&c, 1000);
	assert_int_equal(e.offset_ms, 10 * MIN_MS);
	assert_int_equal(e.correction_ms, 10 * MIN_MS);
	/* no majority: the user is told the difference, "check both" */
	assert_int_equal(e.majority, 0);
	assert_int_equal(e.shown_ms, 10 * MIN_MS);
	/* the early PC itself: no correction, but it is told it is 10 min
	 * early compared with the other (and its peer accepts its rows) */
	put(&c, 0, -10 * MIN_MS, 1000);
	e = est(&c, 1000);
	assert_int_equal(e.offset_ms, 0);
	assert_int_equal(e.correction_ms, 0);
	assert_int_equal(e.majority, 0);
	assert_int_equal(e.shown_ms, -10 * MIN_MS);
	/* four clocks, two and two: the later pair */
	cs_clockoff_init(&c);
	put(&c, 0, 0, 1000);
	put(&c, 1, 10 * MIN_MS, 1000);
	put(&c, 2, 10 * MIN_MS + 5, 1000);
	e = est(&c, 1000);
	assert_int_equal(e.offset_ms, 10 * MIN_MS);
	assert_int_equal(e.majority, 0);
	/* two clocks that agree: a majority of one */
	cs_clockoff_init(&c);
	put(&c, 0, 0, 1000);
	e = est(&c, 1000);
	assert_int_equal(e.majority, 1);
	assert_int_equal(e.shown_ms, 0);
}

static void
test_correction_capped_at_one_hour(void **state)
{
	static struct cs_clockoff c;
	struct cs_clockoff_est e;

	(void)state;
	cs_clockoff_init(&c);
	put(&c, 0, 5 * 60 * MIN_MS, 1000);
	put(&c, 1, 5 * 60 * MIN_MS, 1000);
	e = est(&c, 1000);
	assert_int_equal(e.offset_ms, 5 * 60 * MIN_MS);
	assert_int_equal(e.correction_ms, CS_CLOCKOFF_CAP_MS);
}

static void
test_own_clock_step_shifts_every_sample(void **state)
{
	static struct cs_clockoff c;
	struct cs_clockoff_est e;
	int64_t off;

	(void)state;
	cs_clockoff_init(&c);
	put(&c, 0, 10 * MIN_MS, 1000);
	put(&c, 1, 10 * MIN_MS, 1000);
	/* the user sets this PC's clock 10 min forward at mono 5000 */
	cs_clockoff_estimate(&c, WALL0 + 6000 + 10 * MIN_MS, 6000, NULL, NULL, &e);
	assert_int_equal(e.offset_ms, 0);
	assert_int_equal(e.correction_ms, 0);
	assert_int_equal(cs_clockoff_peer_now(&c, dev[1], WALL0 + 6000 + 10 * MIN_MS, 6000, &off),
	    1);
	assert_int_equal(off, 0);
}

static void
test_samples_expire_and_are_replaced(void **state)
{
	static struct cs_clockoff c;
	struct cs_clockoff_est e;
	int64_t off;

	(void)state;
	cs_clockoff_init(&c);
	put(&c, 0, 10 * MIN_MS, 1000);
	/* a new sample replaces the old one */
	put(&c, 0, 7 * MIN_MS, 2000);
	e = est(&c, 2000);
	assert_int_equal(e.npeers, 1);
	assert_int_equal(e.offset_ms, 7 * MIN_MS);
	/* an hour later without a new sample, it counts no more */
	e = est(&c, 2000 + CS_CLOCKOFF_MAX_AGE_MS + 1);
	assert_int_equal(e.npeers, 0);
	assert_int_equal(e.offset_ms, 0);
	assert_int_equal(
	    cs_clockoff_peer_now(&c, dev[0], WALL0, 2000 + CS_CLOCKOFF_MAX_AGE_MS + 1, &off), 0);
	/* a revoked device is forgotten */
	cs_clockoff_forget(&c, dev[0]);
	e = est(&c, 2000);
	assert_int_equal(e.npeers, 0);
	assert_int_equal(cs_clockoff_put(&c, dev[0], 1, -1, WALL0, 0), CS_EINVAL);
}

static int
only_even(void *ctx, const uint8_t d[CS_DEVID_LEN])
{
	(void)ctx;
	return (d[0] & 1) == 0;
}

static void
test_filter_and_full_table(void **state)
{
	static struct cs_clockoff c;
	struct cs_clockoff_est e;
	uint8_t id[CS_DEVID_LEN];
	int i;

	(void)state;
	cs_clockoff_init(&c);
	put(&c, 0, 10 * MIN_MS, 1000); /* 0x10: counts */
	put(&c, 1, 10 * MIN_MS, 1000); /* 0x11: filtered out (e.g. revoked) */
	cs_clockoff_estimate(&c, WALL0 + 1000, 1000, only_even, NULL, &e);
	assert_int_equal(e.npeers, 1);
	/* more devices than slots: the oldest sample makes room */
	cs_clockoff_init(&c);
	memset(id, 0, sizeof(id));
	for (i = 0; i < CS_CLOCKOFF_MAX_PEERS; i++) {
		id[0] = (uint8_t)i;
		id[1] = (uint8_t)(i >> 8);
		assert_int_equal(cs_clockoff_put(&c, id, 5, 1, WALL0 + i, i), 0);
	}
	id[2] = 1;
	assert_int_equal(cs_clockoff_put(&c, id, 5, 1, WALL0 + 999, 999), CS_ERANGE);
	e = est(&c, 1000);
	assert_int_equal(e.npeers, CS_CLOCKOFF_MAX_PEERS);
}

static void
test_describe(void **state)
{
	char b[64];

	(void)state;
	cs_clockoff_describe(600000, b, sizeof(b));
	assert_string_equal(b, "10 min late");
	cs_clockoff_describe(-600400, b, sizeof(b));
	assert_string_equal(b, "10 min early");
	cs_clockoff_describe(125000, b, sizeof(b));
	assert_string_equal(b, "2 min 5 s late");
	cs_clockoff_describe(-42000, b, sizeof(b));
	assert_string_equal(b, "42 s early");
	cs_clockoff_describe(300, b, sizeof(b));
	assert_string_equal(b, "in time");
	cs_clockoff_describe(2 * 3600000 + 3 * 60000, b, sizeof(b));
	assert_string_equal(b, "2 h 3 min late");
	cs_clockoff_describe(INT64_MIN, b, sizeof(b));
	assert_true(strstr(b, "early") != NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_peer_no_correction),
	    cmocka_unit_test(test_late_pc_among_two_correct_peers),
	    cmocka_unit_test(test_one_bad_clock_cannot_move_three),
	    cmocka_unit_test(test_two_devices_take_the_later_clock),
	    cmocka_unit_test(test_correction_capped_at_one_hour),
	    cmocka_unit_test(test_own_clock_step_shifts_every_sample),
	    cmocka_unit_test(test_samples_expire_and_are_replaced),
	    cmocka_unit_test(test_filter_and_full_table),
	    cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
