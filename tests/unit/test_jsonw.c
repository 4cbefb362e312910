/*
 * tests/unit/test_jsonw.c: JSON strings of device names in the control
 * answers (agent/jsonw.h): quotes, backslashes, control bytes, invalid UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/jsonw.h"
#include "base/err.h"

static const char *
js(const char *s)
{
	static char out[256];
	size_t len = 0;

	assert_int_equal(cs_jsonw_str(out, sizeof(out), &len, s), 0);
	assert_int_equal(len, strlen(out));
	return out;
}

static void
test_plain_and_utf8_pass_through(void **state)
{
	(void)state;
	assert_string_equal(js("desk"), "\"desk\"");
	assert_string_equal(js(""), "\"\"");
	assert_string_equal(js("Cabinet Hélène ✓"), "\"Cabinet Hélène ✓\"");
	assert_string_equal(js("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
}

static void
test_quotes_and_backslashes_escaped(void **state)
{
	(void)state;
	assert_string_equal(js("say \"hi\""), "\"say \\\"hi\\\"\"");
	assert_string_equal(js("C:\\pc\\"), "\"C:\\\\pc\\\\\"");
	assert_string_equal(js("\\\""), "\"\\\\\\\"\"");
}

static void
test_control_bytes_escaped(void **state)
{
	(void)state;
	assert_string_equal(js("a\nb\tc\rd"), "\"a\\nb\\tc\\rd\"");
	assert_string_equal(js("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
	assert_string_equal(js("\b\f"), "\"\\b\\f\"");
}

static void
test_invalid_utf8_replaced(void **state)
{
	(void)state;
	assert_string_equal(js("a\xff"
	                       "b"),
	    "\"a\xef\xbf\xbd"
	    "b\"");
	assert_string_equal(js("\xc3"), "\"\xef\xbf\xbd\"");                 /* truncated */
	assert_string_equal(js("\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong */
	assert_string_equal(js("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void
test_too_small_keeps_nothing(void **state)
{
	char out[8] = "xx";
	size_t len = 2;

	(void)state;
	assert_int_equal(cs_jsonw_str(out, sizeof(out), &len, "abcdef"), CS_ERANGE);
	assert_int_equal(len, 2);
	assert_int_equal(cs_jsonw_str(out, sizeof(out), &len, "abc"), 0);
	assert_string_equal(out, "xx\"abc\"");
	assert_int_equal(len, 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_and_utf8_pass_through),
	    cmocka_unit_test(test_quotes_and_backslashes_escaped),
	    cmocka_unit_test(test_control_bytes_escaped),
	    cmocka_unit_test(test_invalid_utf8_replaced),
	    cmocka_unit_test(test_too_small_keeps_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
