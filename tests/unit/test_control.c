/*
 * tests/unit/test_control.c: the control request decoder (agent/control.h,
 * PROTOCOL.md §8): every verb, incomplete lines, and each refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/control.h"
#include "base/err.h"

static int
parse(const char *s, int *verb)
{
	return cs_control_parse((const uint8_t *)s, strlen(s), verb);
}

static void
test_verbs(void **state)
{
	int v = 0;

	(void)state;
	assert_int_equal(parse("cabsync-control/1 status\n", &v), 0);
	assert_int_equal(v, CS_CTL_STATUS);
	assert_int_equal(parse("cabsync-control/1 peers\n", &v), 0);
	assert_int_equal(v, CS_CTL_PEERS);
	assert_int_equal(parse("cabsync-control/1 pause\n", &v), 0);
	assert_int_equal(v, CS_CTL_PAUSE);
	assert_int_equal(parse("cabsync-control/1 resume\n", &v), 0);
	assert_int_equal(v, CS_CTL_RESUME);
}

static void
test_incomplete(void **state)
{
	int v = 0;

	(void)state;
	assert_int_equal(parse("", &v), CS_EAGAIN);
	assert_int_equal(parse("cabsync-con", &v), CS_EAGAIN);
	assert_int_equal(parse("cabsync-control/1 stat", &v), CS_EAGAIN);
}

static void
test_refused(void **state)
{
	char longl[200];
	int v = 0;

	(void)state;
	assert_int_equal(parse("cabsync-control/2 status\n", &v), CS_CTL_EMAGIC);
	assert_int_equal(parse("status\n", &v), CS_CTL_EMAGIC);
	assert_int_equal(parse("cabsync-control/1\n", &v), CS_CTL_EMAGIC);
	assert_int_equal(parse("cabsync-control/1 stop\n", &v), CS_CTL_EVERB);
	assert_int_equal(parse("cabsync-control/1 status \n", &v), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 STATUS\n", &v), CS_CTL_EVERB);
	assert_int_equal(parse("cabsync-control/1 status\r\n", &v), CS_CTL_EBYTE);
	assert_int_equal(parse("cabsync-control/1 status\nx", &v), CS_CTL_ETRAILING);
	assert_int_equal(parse("cabsync-control/1 status\n\n", &v), CS_CTL_ETRAILING);
	assert_int_equal(cs_control_parse((const uint8_t *)"cabsync\0", 8, &v), CS_CTL_EBYTE);
	memset(longl, 'a', sizeof(longl));
	memcpy(longl, CS_CTL_MAGIC, strlen(CS_CTL_MAGIC));
	assert_int_equal(cs_control_parse((const uint8_t *)longl, sizeof(longl), &v),
	    CS_CTL_ETOOLONG);
	assert_string_equal(cs_control_strerror(CS_CTL_EVERB), "unknown verb");
}

static void
test_path(void **state)
{
	char p[512];

	(void)state;
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(cs_control_path("/h", 0, p, sizeof(p)), 0);
	assert_string_equal(p, "/run/user/1000/cabsync/control.sock");
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(cs_control_path("/h", 0, p, sizeof(p)), 0);
	assert_string_equal(p, "/h/control.sock");
	assert_int_equal(cs_control_path(NULL, 0, p, sizeof(p)), CS_ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verbs),
	    cmocka_unit_test(test_incomplete),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
