/* Unit tests of discovery/tag: the rotating mDNS tags and the TXT codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "base/err.h"
#include "discovery/tag.h"

static const uint8_t key_a[CS_TAG_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key_b[CS_TAG_KEY_LEN] = {2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t pk_1[CS_TAG_PK_LEN] = {0xa1};
static const uint8_t pk_2[CS_TAG_PK_LEN] = {0xa2};

#define DAY 20419u /* 2025-11-27 */

static void
test_tag_day_is_the_utc_day(void **state)
{
	(void)state;
	assert_int_equal(cs_tag_day(0), 0);
	assert_int_equal(cs_tag_day(86399), 0);
	assert_int_equal(cs_tag_day(86400), 1);
	assert_int_equal(cs_tag_day(-5), 0);
	assert_int_equal(cs_tag_day((int64_t)DAY * 86400 + 3600), DAY);
	assert_int_equal(cs_tag_ms_to_next_day(0), 86400000);
	assert_int_equal(cs_tag_ms_to_next_day(86400000 - 1), 1);
	assert_int_equal(cs_tag_ms_to_next_day((int64_t)DAY * 86400000 + 1000), 86399000);
}

/* The documented formula, computed here independently of tag.c. */
static void
test_tag_matches_the_documented_derivation(void **state)
{
	uint8_t msg[64], want[CS_TAG_LEN], got[CS_TAG_LEN];
	const char cab_label[] = "cabsync mdns cab v1";
	const char dev_label[] = "cabsync mdns dev v1";
	size_t n;

	(void)state;
	n = sizeof(cab_label); /* NUL included */
	memcpy(msg, cab_label, n);
	msg[n] = (uint8_t)(DAY >> 24), msg[n + 1] = (uint8_t)(DAY >> 16);
	msg[n + 2] = (uint8_t)(DAY >> 8), msg[n + 3] = (uint8_t)DAY;
	crypto_generichash(want, sizeof(want), msg, n + 4, key_a, sizeof(key_a));
	assert_int_equal(cs_tag_cab(key_a, DAY, got), 0);
	assert_memory_equal(got, want, CS_TAG_LEN);

	n = sizeof(dev_label);
	memcpy(msg, dev_label, n);
	msg[n] = (uint8_t)(DAY >> 24), msg[n + 1] = (uint8_t)(DAY >> 16);
	msg[n + 2] = (uint8_t)(DAY >> 8), msg[n + 3] = (uint8_t)DAY;
	memcpy(msg + n + 4, pk_1, sizeof(pk_1));
	crypto_generichash(want, sizeof(want), msg, n + 4 + 32, key_a, sizeof(key_a));
	assert_int_equal(cs_tag_dev(pk_1, key_a, DAY, got), 0);
	assert_memory_equal(got, want, CS_TAG_LEN);
}

static void
test_tag_rotates_daily(void **state)
{
	uint8_t a[CS_TAG_LEN], b[CS_TAG_LEN], c[CS_TAG_LEN];

	(void)state;
	assert_int_equal(cs_tag_cab(key_a, DAY, a), 0);
	assert_int_equal(cs_tag_cab(key_a, DAY, c), 0);
	assert_memory_equal(a, c, CS_TAG_LEN); /* deterministic within a day */
	assert_int_equal(cs_tag_cab(key_a, DAY + 1, b), 0);
	assert_memory_not_equal(a, b, CS_TAG_LEN);
	assert_int_equal(cs_tag_dev(pk_1, key_a, DAY, a), 0);
	assert_int_equal(cs_tag_dev(pk_1, key_a, DAY + 1, b), 0);
	assert_memory_not_equal(a, b, CS_TAG_LEN);
}

static void
test_tag_differs_between_cabinets_and_devices(void **state)
{
	uint8_t a[CS_TAG_LEN], b[CS_TAG_LEN];

	(void)state;
	assert_int_equal(cs_tag_cab(key_a, DAY, a), 0);
	assert_int_equal(cs_tag_cab(key_b, DAY, b), 0);
	assert_memory_not_equal(a, b, CS_TAG_LEN);
	/* Same device key in two cabinets: unlinkable tags. */
	assert_int_equal(cs_tag_dev(pk_1, key_a, DAY, a), 0);
	assert_int_equal(cs_tag_dev(pk_1, key_b, DAY, b), 0);
	assert_memory_not_equal(a, b, CS_TAG_LEN);
	assert_int_equal(cs_tag_dev(pk_2, key_a, DAY, b), 0);
	assert_memory_not_equal(a, b, CS_TAG_LEN);
	/* A dev tag is not the cab tag. */
	assert_int_equal(cs_tag_cab(key_a, DAY, b), 0);
	assert_memory_not_equal(a, b, CS_TAG_LEN);
}

static void
test_tag_set_accepts_current_and_previous_day_only(void **state)
{
	struct cs_tag_set set;
	uint8_t t[CS_TAG_LEN];

	(void)state;
	assert_int_equal(cs_tag_set_make(pk_1, key_a, DAY, &set), 0);
	assert_int_equal(set.day, DAY);
	assert_int_equal(cs_tag_cab(key_a, DAY, t), 0);
	assert_true(cs_tag_cab_accepted(&set, t));
	assert_int_equal(cs_tag_cab(key_a, DAY - 1, t), 0);
	assert_true(cs_tag_cab_accepted(&set, t));
	assert_int_equal(cs_tag_cab(key_a, DAY - 2, t), 0);
	assert_false(cs_tag_cab_accepted(&set, t));
	assert_int_equal(cs_tag_cab(key_a, DAY + 1, t), 0);
	assert_false(cs_tag_cab_accepted(&set, t));
	assert_int_equal(cs_tag_cab(key_b, DAY, t), 0);
	assert_false(cs_tag_cab_accepted(&set, t));
	assert_int_equal(cs_tag_dev(pk_1, key_a, DAY, t), 0);
	assert_memory_equal(set.dev, t, CS_TAG_LEN);
	assert_false(cs_tag_cab_accepted(&set, t));
	/* Day 0 has no previous day. */
	assert_int_equal(cs_tag_set_make(pk_1, key_a, 0, &set), CS_EINVAL);
}

static void
test_tag_hex_round_trips_and_is_strict(void **state)
{
	uint8_t t[CS_TAG_LEN], u[CS_TAG_LEN];
	char hex[CS_TAG_HEX_LEN + 1];

	(void)state;
	assert_int_equal(cs_tag_cab(key_a, DAY, t), 0);
	cs_tag_hex(t, hex);
	assert_int_equal(strlen(hex), CS_TAG_HEX_LEN);
	assert_int_equal(cs_tag_unhex(hex, strlen(hex), u), 0);
	assert_memory_equal(t, u, CS_TAG_LEN);
	memset(u, 0x55, sizeof(u));
	hex[3] = 'A'; /* upper case: one spelling only */
	assert_int_equal(cs_tag_unhex(hex, CS_TAG_HEX_LEN, u), CS_EINVAL);
	assert_int_equal(u[0], 0x55); /* untouched on error */
	assert_int_equal(cs_tag_unhex("00", 2, u), CS_EINVAL);
	assert_int_equal(cs_tag_unhex(NULL, 0, u), CS_EINVAL);
}

static int
add(struct cs_tag_record *r, const char *item)
{
	return cs_tag_record_add(r, (const uint8_t *)item, strlen(item));
}

static void
test_tag_record_parses_what_we_publish(void **state)
{
	char items[3][CS_TAG_TXT_MAX];
	struct cs_tag_record r;
	struct cs_tag_set set;

	(void)state;
	assert_int_equal(cs_tag_set_make(pk_2, key_b, DAY, &set), 0);
	cs_tag_txt_items(&set, 7, items);
	assert_string_equal(items[0], "v=7");
	assert_int_equal(strncmp(items[1], "cab=", 4), 0);
	assert_int_equal(strlen(items[2]), 4 + CS_TAG_HEX_LEN);
	memset(&r, 0, sizeof(r));
	assert_int_equal(add(&r, "path=/x"), 0); /* foreign keys ignored */
	assert_int_equal(add(&r, "flag"), 0);
	assert_int_equal(add(&r, items[2]), 0);
	assert_int_equal(add(&r, items[0]), 0);
	assert_int_equal(r.have, CS_TAG_HAVE_V | CS_TAG_HAVE_DEV);
	assert_int_equal(add(&r, items[1]), 0);
	assert_int_equal(r.have, CS_TAG_HAVE_ALL);
	assert_int_equal(r.version, 7);
	assert_memory_equal(r.cab, set.cab, CS_TAG_LEN);
	assert_memory_equal(r.dev, set.dev, CS_TAG_LEN);
	/* A second value for a key is refused, never chosen. */
	assert_int_equal(add(&r, items[1]), CS_EINVAL);
}

static void
test_tag_record_refuses_bad_values(void **state)
{
	struct cs_tag_record r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(add(&r, "v="), CS_EINVAL);
	assert_int_equal(add(&r, "v=01"), CS_EINVAL);
	assert_int_equal(add(&r, "v=1a"), CS_EINVAL);
	assert_int_equal(add(&r, "v=-1"), CS_EINVAL);
	assert_int_equal(add(&r, "v=1234567890"), CS_EINVAL);
	assert_int_equal(add(&r, "cab=zz"), CS_EINVAL);
	assert_int_equal(add(&r, "dev=00112233445566778899aabbccddeeff00"), CS_EINVAL);
	assert_int_equal(r.have, 0);
	assert_int_equal(cs_tag_record_add(&r, (const uint8_t *)"v=0", 3), 0);
	assert_int_equal(r.version, 0);
	assert_int_equal(cs_tag_record_add(&r, NULL, 0), 0);
	assert_int_equal(cs_tag_record_add(NULL, NULL, 0), CS_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tag_day_is_the_utc_day),
	    cmocka_unit_test(test_tag_matches_the_documented_derivation),
	    cmocka_unit_test(test_tag_rotates_daily),
	    cmocka_unit_test(test_tag_differs_between_cabinets_and_devices),
	    cmocka_unit_test(test_tag_set_accepts_current_and_previous_day_only),
	    cmocka_unit_test(test_tag_hex_round_trips_and_is_strict),
	    cmocka_unit_test(test_tag_record_parses_what_we_publish),
	    cmocka_unit_test(test_tag_record_refuses_bad_values),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
