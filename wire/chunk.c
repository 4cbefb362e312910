#include "chunk.h"

#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"

/* The reassembler's first allocation; it doubles from there up to the total. */
#define REASM_MIN_BUF (64u << 10)
/* A buffer bigger than this is not kept between messages. */
#define REASM_KEEP_BUF (256u << 10)

int
cs_chunk_split_init(struct cs_chunk_split *s, const uint8_t *msg, size_t len, size_t cap,
    size_t max_plain)
{
	if (s == NULL || msg == NULL)
		return CS_EINVAL;
	memset(s, 0, sizeof(*s));
	if (cap == 0 || cap > CS_CHUNK_MAX_CAP)
		cap = cap == 0 ? CS_CHUNK_DEFAULT_CAP : CS_CHUNK_MAX_CAP;
	if (max_plain == 0)
		max_plain = CS_CHUNK_MAX_PLAIN;
	if (max_plain <= CS_CHUNK_FIRST_HDR || max_plain > CS_CHUNK_MAX_PLAIN)
		return CS_EINVAL;
	if (len == 0)
		return CS_CHUNK_EEMPTY;
	if (len > cap)
		return CS_CHUNK_ETOTAL; /* the peer would refuse it: PROTOCOL.md §2.2 */
	s->msg = msg;
	s->len = len;
	s->max_plain = max_plain;
	return 0;
}

int
cs_chunk_split_next(struct cs_chunk_split *s, uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t hdr, n, left;
	uint8_t flags;

	if (s == NULL || out == NULL || out_len == NULL || s->msg == NULL)
		return CS_EINVAL;
	*out_len = 0;
	left = s->len - s->off;
	if (left == 0)
		return 0;
	hdr = s->off == 0 ? CS_CHUNK_FIRST_HDR : CS_CHUNK_NEXT_HDR;
	n = s->max_plain - hdr;
	if (n > left)
		n = left;
	if (out_cap < hdr || n > out_cap - hdr)
		return CS_ENOSPC;
	flags = (s->off == 0 ? CS_CHUNK_FIRST : 0) | (n == left ? CS_CHUNK_LAST : 0);
	out[0] = flags;
	if (s->off == 0) {
		out[1] = (uint8_t)(s->len >> 24);
		out[2] = (uint8_t)(s->len >> 16);
		out[3] = (uint8_t)(s->len >> 8);
		out[4] = (uint8_t)s->len;
	}
	memcpy(out + hdr, s->msg + s->off, n);
	s->off += n;
	*out_len = hdr + n;
	return 1;
}

size_t
cs_chunk_count(size_t len, size_t max_plain)
{
	size_t first, next;

	if (max_plain == 0)
		max_plain = CS_CHUNK_MAX_PLAIN;
	if (len == 0 || max_plain <= CS_CHUNK_FIRST_HDR)
		return 0;
	first = max_plain - CS_CHUNK_FIRST_HDR;
	next = max_plain - CS_CHUNK_NEXT_HDR;
	if (len <= first)
		return 1;
	return 1 + (len - first + next - 1) / next;
}

void
cs_chunk_reasm_init(struct cs_chunk_reasm *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	if (cap == 0)
		cap = CS_CHUNK_DEFAULT_CAP;
	r->cap = cap > CS_CHUNK_MAX_CAP ? CS_CHUNK_MAX_CAP : cap;
}

void
cs_chunk_reasm_free(struct cs_chunk_reasm *r)
{
	if (r == NULL)
		return;
	cs_free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Make room for want bytes of the current message (want <= r->total). */
static int
reasm_reserve(struct cs_chunk_reasm *r, size_t want)
{
	size_t n;
	uint8_t *p;

	if (want <= r->buf_cap)
		return 0;
	/* grow with what arrived, never to the announced total at once */
	n = r->buf_cap < REASM_MIN_BUF ? REASM_MIN_BUF : r->buf_cap;
	while (n < want)
		n = n > SIZE_MAX / 2 ? want : n * 2;
	if (n > r->total)
		n = r->total;
	p = cs_realloc(r->buf, n);
	if (p == NULL)
		return CS_ENOMEM;
	r->buf = p;
	r->buf_cap = n;
	return 0;
}

static int
reasm_fail(struct cs_chunk_reasm *r, int err)
{
	r->err = err;
	cs_free(r->buf);
	r->buf = NULL;
	r->buf_cap = r->len = r->total = 0;
	return err;
}

/*
 * PROTOCOL.md §2.2: check everything a chunk claims against the state and
 * the cap before copying or allocating anything.
 */
int
cs_chunk_reasm_feed(struct cs_chunk_reasm *r, const uint8_t *chunk, size_t len, const uint8_t **msg,
    size_t *msg_len)
{
	const uint8_t *data;
	size_t hdr, n, total;
	uint8_t flags;
	int rc;

	if (r == NULL || chunk == NULL || msg == NULL || msg_len == NULL || r->cap == 0)
		return CS_EINVAL;
	*msg = NULL;
	*msg_len = 0;
	if (r->err != 0)
		return r->err;
	if (len > CS_CHUNK_MAX_PLAIN)
		return reasm_fail(r, CS_CHUNK_ETOOBIG);
	if (len < CS_CHUNK_NEXT_HDR)
		return reasm_fail(r, CS_CHUNK_EHDR);
	flags = chunk[0];
	if ((flags & ~(CS_CHUNK_FIRST | CS_CHUNK_LAST)) != 0)
		return reasm_fail(r, CS_CHUNK_EFLAGS);
	if (r->total == 0) {
		/* between messages: drop a big buffer of the last one */
		if (r->buf_cap > REASM_KEEP_BUF) {
			cs_free(r->buf);
			r->buf = NULL;
			r->buf_cap = 0;
		}
		if (!(flags & CS_CHUNK_FIRST))
			return reasm_fail(r, CS_CHUNK_ESEQ);
		if (len < CS_CHUNK_FIRST_HDR)
			return reasm_fail(r, CS_CHUNK_EHDR);
		total = (size_t)chunk[1] << 24 | (size_t)chunk[2] << 16 | (size_t)chunk[3] << 8 |
		    chunk[4];
		if (total == 0)
			return reasm_fail(r, CS_CHUNK_EEMPTY);
		if (total > r->cap)
			return reasm_fail(r, CS_CHUNK_ETOTAL);
		hdr = CS_CHUNK_FIRST_HDR;
	} else {
		if (flags & CS_CHUNK_FIRST)
			return reasm_fail(r, CS_CHUNK_ESEQ);
		total = r->total;
		hdr = CS_CHUNK_NEXT_HDR;
	}
	data = chunk + hdr;
	n = len - hdr;
	if (n == 0)
		return reasm_fail(r, CS_CHUNK_EEMPTY);
	if (n > total - r->len)
		return reasm_fail(r, CS_CHUNK_EOVERRUN);
	if (!!(flags & CS_CHUNK_LAST) != (n == total - r->len))
		return reasm_fail(r, CS_CHUNK_ELAST);
	if (r->len == 0 && n == total) {
		/* the whole message in one chunk: hand it out in place */
		*msg = data;
		*msg_len = n;
		return 0;
	}
	r->total = total;
	if ((rc = reasm_reserve(r, r->len + n)) < 0)
		return reasm_fail(r, rc);
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	if (r->len < r->total)
		return CS_EAGAIN;
	*msg = r->buf;
	*msg_len = r->len;
	r->len = r->total = 0; /* the next feed starts a new message */
	return 0;
}
