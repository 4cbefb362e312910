/*
 * wire/clockmsg.c: the CLOCK message (see clockmsg.h; docs/PROTOCOL.md §3.14).
 */
#include "wire/clockmsg.h"

#include <string.h>

#include "base/err.h"

/* Timestamps above this are refused by the sample: no overflow in int64. */
#define TS_MAX (UINT64_C(1) << 52)

/* msgpack uint in its shortest form. */
static size_t
put_uint(uint8_t *p, uint64_t v)
{
	int i, n;

	if (v < 0x80) {
		p[0] = (uint8_t)v;
		return 1;
	}
	if (v <= 0xff) {
		p[0] = 0xcc;
		n = 1;
	} else if (v <= 0xffff) {
		p[0] = 0xcd;
		n = 2;
	} else if (v <= 0xffffffffu) {
		p[0] = 0xce;
		n = 4;
	} else {
		p[0] = 0xcf;
		n = 8;
	}
	for (i = 0; i < n; i++)
		p[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return (size_t)n + 1;
}

/* Read a uint in its shortest form at *o. 0 or CS_CLOCK_EMSG. */
static int
get_uint(const uint8_t *buf, size_t len, size_t *o, uint64_t *v)
{
	size_t n, i;
	uint8_t b;

	if (*o >= len)
		return CS_CLOCK_EMSG;
	b = buf[(*o)++];
	if (b < 0x80) {
		*v = b;
		return 0;
	}
	switch (b) {
	case 0xcc:
		n = 1;
		break;
	case 0xcd:
		n = 2;
		break;
	case 0xce:
		n = 4;
		break;
	case 0xcf:
		n = 8;
		break;
	default:
		return CS_CLOCK_EMSG;
	}
	if (len - *o < n)
		return CS_CLOCK_EMSG;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = *v << 8 | buf[*o + i];
	*o += n;
	/* canonical: the shortest form only (PROTOCOL.md §3.1) */
	if ((n == 1 && *v < 0x80) || (n == 2 && *v <= 0xff) || (n == 4 && *v <= 0xffff) ||
	    (n == 8 && *v <= 0xffffffffu))
		return CS_CLOCK_EMSG;
	return 0;
}

int
cs_clockmsg_encode(const struct cs_clockmsg *m, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t tmp[CS_CLOCK_MAX_LEN];
	size_t o = 0;

	if (m == NULL || out == NULL || len == NULL)
		return CS_EINVAL;
	tmp[o++] = 0x94;
	tmp[o++] = CS_CLOCK_MSG;
	o += put_uint(tmp + o, m->now);
	o += put_uint(tmp + o, m->echo);
	o += put_uint(tmp + o, m->held);
	if (cap < o)
		return CS_ERANGE;
	memcpy(out, tmp, o);
	*len = o;
	return 0;
}

int
cs_clockmsg_is(const uint8_t *buf, size_t len)
{
	return buf != NULL && len >= 2 && buf[0] == 0x94 && buf[1] == CS_CLOCK_MSG;
}

int
cs_clockmsg_decode(const uint8_t *buf, size_t len, struct cs_clockmsg *m)
{
	struct cs_clockmsg t;
	size_t o = 2;
	int rc;

	if (m != NULL)
		memset(m, 0, sizeof(*m));
	if (buf == NULL || m == NULL)
		return CS_EINVAL;
	if (!cs_clockmsg_is(buf, len))
		return CS_CLOCK_EMSG;
	if ((rc = get_uint(buf, len, &o, &t.now)) < 0 ||
	    (rc = get_uint(buf, len, &o, &t.echo)) < 0 ||
	    (rc = get_uint(buf, len, &o, &t.held)) < 0)
		return rc;
	if (o != len)
		return CS_CLOCK_EMSG;
	*m = t;
	return 0;
}

int
cs_clockmsg_sample(const struct cs_clockmsg *m, uint64_t t4, int64_t *offset_ms, int64_t *rtt_ms)
{
	int64_t t1, t2, t3, rtt;

	if (m == NULL || offset_ms == NULL || rtt_ms == NULL)
		return CS_EINVAL;
	if (m->echo == 0 || m->now >= TS_MAX || m->echo >= TS_MAX || m->held >= TS_MAX ||
	    t4 >= TS_MAX || m->held > m->now)
		return CS_CLOCK_ERTT;
	t1 = (int64_t)m->echo;
	t3 = (int64_t)m->now;
	t2 = t3 - (int64_t)m->held;
	rtt = ((int64_t)t4 - t1) - (t3 - t2);
	if (rtt < 0 || rtt > CS_CLOCK_MAX_RTT_MS)
		return CS_CLOCK_ERTT;
	*offset_ms = ((t2 - t1) + (t3 - (int64_t)t4)) / 2;
	*rtt_ms = rtt;
	return 0;
}
