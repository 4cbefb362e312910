/* Unit tests of discovery/addr: the peer address syntax of the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "discovery/addr.h"

static void
test_addr_parses_host_and_port(void **state)
{
	struct cs_peer_addr a;

	(void)state;
	assert_int_equal(cs_addr_parse("127.0.0.1:7000", 1, &a), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 7000);
	assert_int_equal(cs_addr_parse("desk-pc", 7415, &a), 0);
	assert_string_equal(a.host, "desk-pc");
	assert_int_equal(a.port, 7415);
}

static void
test_addr_parses_ipv6(void **state)
{
	struct cs_peer_addr a;

	(void)state;
	assert_int_equal(cs_addr_parse("[::1]:9", 1, &a), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 9);
	assert_int_equal(cs_addr_parse("fe80::1", 5, &a), 0);
	assert_string_equal(a.host, "fe80::1");
	assert_int_equal(a.port, 5);
}

static void
test_addr_refuses_bad_input(void **state)
{
	struct cs_peer_addr a;

	(void)state;
	assert_int_equal(cs_addr_parse("", 1, &a), CS_EINVAL);
	assert_int_equal(cs_addr_parse("h:0", 1, &a), CS_EINVAL);
	assert_int_equal(cs_addr_parse("h:65536", 1, &a), CS_EINVAL);
	assert_int_equal(cs_addr_parse("h:12x", 1, &a), CS_EINVAL);
	assert_int_equal(cs_addr_parse("[::1", 1, &a), CS_EINVAL);
	assert_int_equal(cs_addr_parse("[::1]x", 1, &a), CS_EINVAL);
	assert_int_equal(cs_addr_parse(":80", 1, &a), CS_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_parses_host_and_port),
	    cmocka_unit_test(test_addr_parses_ipv6),
	    cmocka_unit_test(test_addr_refuses_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
