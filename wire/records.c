/*
 * wire/records.c: the RECORDS message (see records.h; docs/PROTOCOL.md §3.13).
 */
#include "wire/records.h"

#include <string.h>

#include "base/err.h"

/* ---- RECORDS message: [10, [bin, ...]] in canonical msgpack ---------------- */

size_t
cs_records_size(size_t n)
{
	/* array(2) + fixint + array header (5) + per item bin16 header (3) */
	return 2 + 5 + n * (3 + CS_RECORDS_ITEM_MAX);
}

int
cs_records_encode(const struct cs_records_item *v, size_t n, uint8_t *out, size_t cap, size_t *len)
{
	size_t o = 0, i;

	if ((v == NULL && n > 0) || out == NULL || len == NULL || n > CS_RECORDS_MAX)
		return CS_EINVAL;
	if (cap < 7)
		return CS_ERANGE;
	out[o++] = 0x92;
	out[o++] = CS_RECORDS_MSG;
	if (n < 16) {
		out[o++] = (uint8_t)(0x90 | n);
	} else {
		out[o++] = 0xdc;
		out[o++] = (uint8_t)(n >> 8);
		out[o++] = (uint8_t)n;
	}
	for (i = 0; i < n; i++) {
		size_t l = v[i].len;

		if (v[i].p == NULL || l == 0 || l > CS_RECORDS_ITEM_MAX)
			return CS_EINVAL;
		if (cap - o < 3 + l)
			return CS_ERANGE;
		if (l < 256) {
			out[o++] = 0xc4;
			out[o++] = (uint8_t)l;
		} else {
			out[o++] = 0xc5;
			out[o++] = (uint8_t)(l >> 8);
			out[o++] = (uint8_t)l;
		}
		memcpy(out + o, v[i].p, l);
		o += l;
	}
	*len = o;
	return 0;
}

int
cs_records_is(const uint8_t *buf, size_t len)
{
	return buf != NULL && len >= 2 && buf[0] == 0x92 && buf[1] == CS_RECORDS_MSG;
}

int
cs_records_decode(const uint8_t *buf, size_t len, struct cs_records_item *v, size_t max, size_t *n)
{
	size_t o = 0, cnt, i, l;

	if (buf == NULL || n == NULL || (v == NULL && max > 0))
		return CS_EINVAL;
	*n = 0;
	if (!cs_records_is(buf, len) || len < 3)
		return CS_RECORDS_EMSG;
	o = 2;
	if ((buf[o] & 0xf0) == 0x90) {
		cnt = buf[o++] & 0x0f;
	} else if (buf[o] == 0xdc) {
		if (len - o < 3)
			return CS_RECORDS_EMSG;
		cnt = (size_t)buf[o + 1] << 8 | buf[o + 2];
		o += 3;
		if (cnt < 16) /* not the shortest form */
			return CS_RECORDS_EMSG;
	} else {
		return CS_RECORDS_EMSG;
	}
	if (cnt > max || cnt > CS_RECORDS_MAX)
		return CS_RECORDS_EMSG;
	for (i = 0; i < cnt; i++) {
		if (len - o < 2)
			return CS_RECORDS_EMSG;
		if (buf[o] == 0xc4) {
			l = buf[o + 1];
			o += 2;
		} else if (buf[o] == 0xc5) {
			if (len - o < 3)
				return CS_RECORDS_EMSG;
			l = (size_t)buf[o + 1] << 8 | buf[o + 2];
			o += 3;
			if (l < 256)
				return CS_RECORDS_EMSG;
		} else {
			return CS_RECORDS_EMSG;
		}
		if (l == 0 || l > CS_RECORDS_ITEM_MAX || l > len - o)
			return CS_RECORDS_EMSG;
		v[i].p = buf + o;
		v[i].len = l;
		o += l;
	}
	if (o != len)
		return CS_RECORDS_EMSG;
	*n = cnt;
	return 0;
}
