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

static int
req(const char *s, struct cs_ctl_req *r)
{
	return cs_control_parse_req((const uint8_t *)s, strlen(s), r);
}

#define PRAC "0123456789abcdef0123456789abcdef"

static void
test_share_verbs(void **state)
{
	struct cs_ctl_req r;

	(void)state;
	assert_int_equal(req(CS_CTL_MAGIC "patients\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_PATIENTS);
	assert_int_equal(r.id, 0);
	assert_int_equal(req(CS_CTL_MAGIC "patients 250\n", &r), 0);
	assert_int_equal(r.id, 250);
	assert_int_equal(req(CS_CTL_MAGIC "shares 3\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_SHARES);
	assert_int_equal(r.id, 3);
	assert_int_equal(req(CS_CTL_MAGIC "practitioners\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_PRACS);
	assert_int_equal(req(CS_CTL_MAGIC "subscribe labels\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_SUBSCRIBE);
	assert_int_equal(r.labels, 1);
	assert_int_equal(req(CS_CTL_MAGIC "subscribe\n", &r), 0);
	assert_int_equal(r.labels, 0);
	assert_int_equal(req(CS_CTL_MAGIC "share 12 " PRAC " write\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_SHARE);
	assert_string_equal(r.patient, "12");
	assert_string_equal(r.prac, PRAC);
	assert_int_equal(r.perm, CS_CTL_WRITE);
	assert_int_equal(r.until, 0);
	assert_int_equal(req(CS_CTL_MAGIC "perm P-1.a:b_c " PRAC " full 1798761600\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_PERM);
	assert_string_equal(r.patient, "P-1.a:b_c");
	assert_int_equal(r.perm, CS_CTL_FULL);
	assert_int_equal(r.until, 1798761600LL);
	assert_int_equal(req(CS_CTL_MAGIC "revoke 7 " PRAC "\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_REVOKE);
	assert_string_equal(r.patient, "7");
	assert_int_equal(r.perm, 0);
	/* the longest: a 64-byte patient id and an 11-digit end */
	assert_int_equal(
	    req(CS_CTL_MAGIC
	        "share "
	        "0123456789012345678901234567890123456789012345678901234567890123 " PRAC
	        " read 99999999999\n",
	        &r),
	    0);
}

static void
test_share_verbs_refused(void **state)
{
	struct cs_ctl_req r;

	(void)state;
	assert_int_equal(req(CS_CTL_MAGIC "patients 0\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "patients 012\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "patients \n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "patients 1 2\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "practitioners 1\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "subscribe label\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "share 12 " PRAC "\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "share 12 " PRAC " admin\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "share 12 " PRAC " read \n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "share 12 " PRAC " read 0\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "share 12 " PRAC " read 100000000000\n", &r),
	    CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "share 12  " PRAC " read\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "share 1/2 " PRAC " read\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "share 12 0123456789ABCDEF0123456789abcdef read\n", &r),
	    CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "share 12 0123456789abcdef read\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "revoke 12 " PRAC " read\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "revoke 12\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "revoke\n", &r), CS_CTL_EARG);
	assert_int_equal(
	    req(CS_CTL_MAGIC
	        "share "
	        "01234567890123456789012345678901234567890123456789012345678901234 " PRAC " read\n",
	        &r),
	    CS_CTL_EARG);
	/* refused: nothing of it kept */
	assert_int_equal(r.verb, 0);
	assert_int_equal(r.patient[0], '\0');
}

/* transfer PATIENT PRAC: the arguments of revoke, exactly (PROTOCOL.md §8.4) */
static void
test_transfer_verb(void **state)
{
	struct cs_ctl_req r;

	(void)state;
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 " PRAC "\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_TRANSFER);
	assert_string_equal(r.patient, "7");
	assert_string_equal(r.prac, PRAC);
	assert_int_equal(r.perm, 0);
	assert_int_equal(r.until, 0);
	assert_int_equal(req(CS_CTL_MAGIC "transfer P-1.a:b_c " PRAC "\n", &r), 0);
	assert_string_equal(r.patient, "P-1.a:b_c");
	/* a 64-byte patient id */
	assert_int_equal(
	    req(CS_CTL_MAGIC
	        "transfer 0123456789012345678901234567890123456789012345678901234567890123 " PRAC
	        "\n",
	        &r),
	    0);
	assert_int_equal(r.verb, CS_CTL_TRANSFER);
	assert_int_equal(strlen(r.patient), 64);
	/* not complete yet */
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 " PRAC, &r), CS_EAGAIN);
	/* refused */
	assert_int_equal(req(CS_CTL_MAGIC "transfer\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer \n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 \n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 " PRAC " \n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 " PRAC " read\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 " PRAC " 1798761600\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer  7 " PRAC "\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7/8 " PRAC "\n", &r), CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 0123456789ABCDEF0123456789abcdef\n", &r),
	    CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 0123456789abcdef0123456789abcde\n", &r),
	    CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 0123456789abcdef0123456789abcdef0\n", &r),
	    CS_CTL_EARG);
	assert_int_equal(req(CS_CTL_MAGIC "transfer Martin Leroy\n", &r), CS_CTL_EARG);
	assert_int_equal(
	    req(CS_CTL_MAGIC
	        "transfer 01234567890123456789012345678901234567890123456789012345678901234 " PRAC
	        "\n",
	        &r),
	    CS_CTL_EARG);
	/* refused: nothing of it kept */
	assert_int_equal(r.verb, 0);
	assert_int_equal(r.patient[0], '\0');
	assert_int_equal(r.prac[0], '\0');
	assert_int_equal(req(CS_CTL_MAGIC "transfers 7 " PRAC "\n", &r), CS_CTL_EVERB);
	assert_int_equal(req(CS_CTL_MAGIC "Transfer 7 " PRAC "\n", &r), CS_CTL_EVERB);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 " PRAC "\t\n", &r), CS_CTL_EBYTE);
	assert_int_equal(req(CS_CTL_MAGIC "transfer 7 " PRAC "\n\n", &r), CS_CTL_ETRAILING);
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
	    cmocka_unit_test(test_share_verbs),
	    cmocka_unit_test(test_share_verbs_refused),
	    cmocka_unit_test(test_transfer_verb),
	    cmocka_unit_test(test_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
