/*
 * tests/unit/test_enroll.c: invite codes (agent/enroll.h): the format (8
 * groups of 4 base32 characters and a check character), a round trip, case
 * and separators ignored, any single-character typo caught by the check
 * character or refused, wrong lengths and characters refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "agent/enroll.h"
#include "base/err.h"

static void
test_round_trip(void **state)
{
	uint8_t secret[CS_INVITE_SECRET_LEN], back[CS_INVITE_SECRET_LEN];
	char code[CS_INVITE_CODE_MAX], low[CS_INVITE_CODE_MAX];
	size_t i;
	int k;

	(void)state;
	for (k = 0; k < 200; k++) {
		randombytes_buf(secret, sizeof(secret));
		cs_invite_code_format(secret, code);
		assert_int_equal(strlen(code), 8 * 5 + 1);
		for (i = 0; i < 8; i++)
			assert_int_equal(code[5 * i + 4], '-');
		assert_int_equal(cs_invite_code_parse(code, back), 0);
		assert_memory_equal(secret, back, sizeof(secret));
		for (i = 0; code[i] != '\0'; i++)
			low[i] = (char)(code[i] >= 'A' && code[i] <= 'Z' ? code[i] - 'A' + 'a'
			                                                 : code[i]);
		low[i] = '\0';
		assert_int_equal(cs_invite_code_parse(low, back), 0);
		assert_memory_equal(secret, back, sizeof(secret));
	}
}

static void
test_typos(void **state)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t secret[CS_INVITE_SECRET_LEN], back[CS_INVITE_SECRET_LEN];
	char code[CS_INVITE_CODE_MAX], bad[CS_INVITE_CODE_MAX];
	size_t i, j, caught = 0, total = 0;

	(void)state;
	randombytes_buf(secret, sizeof(secret));
	cs_invite_code_format(secret, code);
	for (i = 0; code[i] != '\0'; i++) {
		if (code[i] == '-')
			continue;
		for (j = 0; j < 32; j++) {
			if (b32[j] == code[i])
				continue;
			memcpy(bad, code, sizeof(bad));
			bad[i] = b32[j];
			total++;
			if (cs_invite_code_parse(bad, back) == CS_ECORRUPT)
				caught++;
			else
				assert_memory_not_equal(secret, back, sizeof(secret));
		}
	}
	/* 5 check bits: about 31 typos in 32 are caught locally */
	assert_true(caught * 100 >= total * 90);
}

static void
test_refused(void **state)
{
	uint8_t back[CS_INVITE_SECRET_LEN];

	(void)state;
	assert_int_equal(cs_invite_code_parse("", back), CS_EINVAL);
	assert_int_equal(cs_invite_code_parse("ABCD-EFGH", back), CS_EINVAL);
	assert_int_equal(cs_invite_code_parse("ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567-AB", back),
	    CS_EINVAL);
	assert_int_equal(cs_invite_code_parse("ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4561-A", back),
	    CS_EINVAL);
	assert_int_equal(cs_invite_code_parse("ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-456!-A", back),
	    CS_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_typos),
	    cmocka_unit_test(test_refused),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
