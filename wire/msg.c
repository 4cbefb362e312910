#include "msg.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "wire/chunk.h"
#include "wire/frame.h"
#include "wire/version.h"

/* Fields of each message, type included (PROTOCOL.md §3). */
#define HELLO_FIELDS   9
#define CURSOR_FIELDS  2
#define CHANGES_FIELDS 6
#define ACK_FIELDS     3
#define PING_FIELDS    2
#define BYE_FIELDS     3
#define ROW_FIELDS     9
#define CELL_ELEMS     5 /* col, value, hlc delta, dev, n delta */
#define VV_ELEMS       2 /* dev, n delta */

/* ------------------------------------------------------------------ */
/* Helpers shared by both directions                                  */

/* UTF-8 as RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF. */
static int
utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t j, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (k > n - i - 1)
			return 0;
		for (j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* A table or column name: 1..CS_MSG_MAX_NAME bytes of UTF-8, no NUL. */
static int
name_check(const uint8_t *s, size_t n)
{
	if (n == 0 || memchr(s, 0, n) != NULL)
		return CS_MSG_ENAME;
	if (n > CS_MSG_MAX_NAME)
		return CS_MSG_ELENGTH;
	if (!utf8_valid(s, n))
		return CS_MSG_EUTF8;
	return 0;
}

/* Tables: unique names, unique columns per table, within the limits. */
static int
dict_tables_check(const struct cs_changeset *cs)
{
	uint32_t i, j, k, total = 0;
	int rc;

	if (cs->ntables > CS_MSG_MAX_TABLES)
		return CS_MSG_ECOUNT;
	for (i = 0; i < cs->ntables; i++) {
		const struct cs_tabdef *t = &cs->tables[i];

		if ((rc = name_check((const uint8_t *)t->name, strlen(t->name))) < 0)
			return rc;
		for (k = 0; k < i; k++)
			if (strcmp(cs->tables[k].name, t->name) == 0)
				return CS_MSG_EDUP;
		if (t->ncols > CS_MSG_MAX_COLS || t->ncols > CS_MSG_MAX_DICT_COLS - total)
			return CS_MSG_ECOUNT;
		total += t->ncols;
		for (j = 0; j < t->ncols; j++) {
			if ((rc = name_check((const uint8_t *)t->cols[j], strlen(t->cols[j]))) < 0)
				return rc;
			for (k = 0; k < j; k++)
				if (strcmp(t->cols[k], t->cols[j]) == 0)
					return CS_MSG_EDUP;
		}
	}
	return 0;
}

int
cs_msg_stream_cmp(const struct cs_stream *a, const struct cs_stream *b)
{
	if (a->kind != b->kind)
		return a->kind == CS_STREAM_MAIN ? -1 : 1;
	if (a->kind == CS_STREAM_MAIN)
		return 0;
	return memcmp(a->patient, b->patient, CS_GID_LEN);
}

static int
cursor_entry_cmp(const void *a, const void *b)
{
	return cs_msg_stream_cmp(&((const struct cs_cursor_entry *)a)->stream,
	    &((const struct cs_cursor_entry *)b)->stream);
}

void
cs_msg_cursor_sort(struct cs_cursor *c)
{
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), cursor_entry_cmp);
}

/* Two's complement without implementation-defined conversions. */
static int64_t
u2s(uint64_t x)
{
	return x <= (uint64_t)INT64_MAX ? (int64_t)x : -(int64_t)(~x) - 1;
}

/* ------------------------------------------------------------------ */
/* Encoding: msgpack-c's packer writing into a cs_msg_buf              */

void
cs_msg_buf_init(struct cs_msg_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max == 0 ? CS_CHUNK_DEFAULT_CAP : max;
}

void
cs_msg_buf_free(struct cs_msg_buf *b)
{
	if (b == NULL)
		return;
	cs_free(b->p);
	memset(b, 0, sizeof(*b));
}

/* msgpack_packer_write: the first failure sticks, later writes are dropped. */
static int
buf_append(void *data, const char *p, size_t n)
{
	struct cs_msg_buf *b = data;

	/* msgpack-c hands over 1..9-byte headers one by one: copy those inline
	 * rather than through a memcpy call each */
	if (n <= 9 && b->p != NULL && n <= b->cap - b->len && b->err == 0) {
		uint8_t *d = b->p + b->len;
		size_t i;

		for (i = 0; i < n; i++)
			d[i] = (uint8_t)p[i];
		b->len += n;
		return 0;
	}
	if (b->err != 0)
		return -1;
	if (n > b->cap - b->len) {
		size_t want, cap;
		uint8_t *q;

		if (n > b->max - b->len) {
			b->err = CS_MSG_ETOOBIG;
			return -1;
		}
		want = b->len + n;
		cap = b->cap < 256 ? 256 : b->cap;
		while (cap < want)
			cap = cap > SIZE_MAX / 2 ? want : cap * 2;
		if (cap > b->max)
			cap = b->max;
		q = cs_realloc(b->p, cap);
		if (q == NULL) {
			b->err = CS_ENOMEM;
			return -1;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int
enc_begin(struct cs_msg_buf *b, msgpack_packer *pk)
{
	if (b == NULL || b->max == 0)
		return CS_EINVAL;
	b->len = 0;
	b->err = 0;
	msgpack_packer_init(pk, b, buf_append);
	return 0;
}

static int
enc_end(struct cs_msg_buf *b)
{
	if (b->err != 0) {
		int rc = b->err;

		b->len = 0;
		b->err = 0;
		return rc;
	}
	return 0;
}

static void
pack_bytes(msgpack_packer *pk, const void *p, size_t n)
{
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, p, n);
}

static void
pack_string(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
pack_stream(msgpack_packer *pk, const struct cs_stream *s)
{
	if (s->kind == CS_STREAM_MAIN)
		msgpack_pack_nil(pk);
	else
		pack_bytes(pk, s->patient, CS_GID_LEN);
}

static int
stream_check(const struct cs_stream *s)
{
	return s->kind == CS_STREAM_MAIN || s->kind == CS_STREAM_PATIENT ? 0 : CS_EINVAL;
}

static void
pack_tables(msgpack_packer *pk, const struct cs_changeset *cs)
{
	uint32_t i, j;

	msgpack_pack_array(pk, cs->ntables);
	for (i = 0; i < cs->ntables; i++) {
		const struct cs_tabdef *t = &cs->tables[i];

		msgpack_pack_array(pk, 2);
		pack_string(pk, t->name, strlen(t->name));
		msgpack_pack_array(pk, t->ncols);
		for (j = 0; j < t->ncols; j++)
			pack_string(pk, t->cols[j], strlen(t->cols[j]));
	}
}

int
cs_msg_encode_hello(struct cs_msg_buf *b, const struct cs_hello *h)
{
	msgpack_packer pk;
	int rc;

	if (h == NULL || (rc = enc_begin(b, &pk)) < 0)
		return CS_EINVAL;
	if (h->version == 0 || h->min_version == 0 || h->min_version > h->version)
		return CS_MSG_EVERSION;
	if ((rc = dict_tables_check(&h->schema)) < 0)
		return rc;
	msgpack_pack_array(&pk, HELLO_FIELDS);
	msgpack_pack_uint64(&pk, CS_MSG_HELLO);
	msgpack_pack_uint64(&pk, h->version);
	msgpack_pack_uint64(&pk, h->min_version);
	pack_bytes(&pk, h->device, CS_DEVID_LEN);
	pack_bytes(&pk, h->incarnation, CS_MSG_INCARNATION_LEN);
	msgpack_pack_uint64(&pk, h->epoch);
	pack_bytes(&pk, h->schema_hash, CS_MSG_SCHEMA_HASH_LEN);
	msgpack_pack_uint64(&pk, h->features);
	pack_tables(&pk, &h->schema);
	return enc_end(b);
}

int
cs_msg_encode_cursor(struct cs_msg_buf *b, const struct cs_cursor *c)
{
	msgpack_packer pk;
	uint32_t i;
	int rc;

	if (c == NULL || (c->n > 0 && c->v == NULL) || (rc = enc_begin(b, &pk)) < 0)
		return CS_EINVAL;
	if (c->n > CS_MSG_MAX_STREAMS)
		return CS_MSG_ECOUNT;
	for (i = 0; i < c->n; i++) {
		if (stream_check(&c->v[i].stream) < 0)
			return CS_EINVAL;
		if (i > 0 && cs_msg_stream_cmp(&c->v[i - 1].stream, &c->v[i].stream) >= 0)
			return cs_msg_stream_cmp(&c->v[i - 1].stream, &c->v[i].stream) == 0
			    ? CS_MSG_EDUP
			    : CS_MSG_EORDER;
	}
	msgpack_pack_array(&pk, CURSOR_FIELDS);
	msgpack_pack_uint64(&pk, CS_MSG_CURSOR);
	msgpack_pack_array(&pk, (size_t)c->n * 2);
	for (i = 0; i < c->n; i++) {
		pack_stream(&pk, &c->v[i].stream);
		msgpack_pack_uint64(&pk, c->v[i].after);
	}
	return enc_end(b);
}

/* Everything in cs that the decoder checks, so that we never send it. */
static int
changes_check(const struct cs_changeset *cs)
{
	uint32_t seen_col[CS_MSG_MAX_COLS], seen_dev[CS_MSG_MAX_DEVS];
	uint32_t i, j, k;
	int rc;

	if (cs->open_row)
		return CS_EINVAL;
	if ((rc = dict_tables_check(cs)) < 0)
		return rc;
	if (cs->ndevs > CS_MSG_MAX_DEVS)
		return CS_MSG_ECOUNT;
	for (i = 0; i < cs->ndevs; i++)
		for (k = 0; k < i; k++)
			if (memcmp(cs->devs[i], cs->devs[k], CS_DEVID_LEN) == 0)
				return CS_MSG_EDUP;
	memset(seen_col, 0, sizeof(seen_col));
	memset(seen_dev, 0, sizeof(seen_dev));
	for (i = 0; i < cs->nrows; i++) {
		const struct cs_row *r = &cs->rows[i];
		uint32_t stamp = i + 1;

		if (r->table >= cs->ntables || r->ex_dot.dev >= cs->ndevs)
			return CS_MSG_EINDEX;
		if (r->ncells > cs->ncells - r->cell_first || r->cell_first > cs->ncells ||
		    r->vv_first > cs->nvv || r->nvv > cs->nvv - r->vv_first)
			return CS_EINVAL;
		for (j = 0; j < r->ncells; j++) {
			const struct cs_cell *c = &cs->cells[r->cell_first + j];

			if (c->col >= cs->tables[r->table].ncols || c->dot.dev >= cs->ndevs)
				return CS_MSG_EINDEX;
			if (seen_col[c->col] == stamp)
				return CS_MSG_EDUP;
			seen_col[c->col] = stamp;
			if (c->v.type > CS_V_REF ||
			    (c->v.type == CS_V_REF && c->v.len != CS_GID_LEN))
				return CS_EINVAL;
			if (c->v.type >= CS_V_TEXT && c->v.len > UINT32_MAX)
				return CS_MSG_ELENGTH;
		}
		for (j = 0; j < r->nvv; j++) {
			const struct cs_dot *d = &cs->vv[r->vv_first + j];

			if (d->dev >= cs->ndevs)
				return CS_MSG_EINDEX;
			if (seen_dev[d->dev] == stamp)
				return CS_MSG_EDUP;
			seen_dev[d->dev] = stamp;
		}
	}
	return 0;
}

static void
pack_value(msgpack_packer *pk, const struct cs_value *v)
{
	switch (v->type) {
	case CS_V_NULL:
		msgpack_pack_nil(pk);
		break;
	case CS_V_INT:
		msgpack_pack_int64(pk, v->u.i);
		break;
	case CS_V_REAL:
		msgpack_pack_double(pk, v->u.r);
		break;
	case CS_V_TEXT:
		pack_string(pk, (const char *)v->p, v->len);
		break;
	case CS_V_BLOB:
		pack_bytes(pk, v->p, v->len);
		break;
	case CS_V_REF:
		msgpack_pack_ext(pk, CS_GID_LEN, CS_MSG_REF_EXT);
		msgpack_pack_ext_body(pk, v->p, CS_GID_LEN);
		break;
	}
}

int
cs_msg_encode_changes(struct cs_msg_buf *b, const struct cs_stream *s,
    const struct cs_changeset *cs)
{
	msgpack_packer pk;
	uint32_t i, j;
	int rc;

	if (s == NULL || cs == NULL || stream_check(s) < 0 || (rc = enc_begin(b, &pk)) < 0)
		return CS_EINVAL;
	if ((rc = changes_check(cs)) < 0)
		return rc;
	msgpack_pack_array(&pk, CHANGES_FIELDS);
	msgpack_pack_uint64(&pk, CS_MSG_CHANGES);
	pack_stream(&pk, s);
	msgpack_pack_uint64(&pk, cs->db_version);
	pack_tables(&pk, cs);
	msgpack_pack_array(&pk, cs->ndevs);
	for (i = 0; i < cs->ndevs; i++)
		pack_bytes(&pk, cs->devs[i], CS_DEVID_LEN);
	msgpack_pack_array(&pk, cs->nrows);
	for (i = 0; i < cs->nrows && b->err == 0; i++) {
		const struct cs_row *r = &cs->rows[i];

		msgpack_pack_array(&pk, ROW_FIELDS);
		msgpack_pack_uint32(&pk, r->table);
		pack_bytes(&pk, r->gid, CS_GID_LEN);
		pack_bytes(&pk, r->patient, CS_GID_LEN);
		msgpack_pack_uint64(&pk, r->cl);
		msgpack_pack_uint32(&pk, r->ex_dot.dev);
		msgpack_pack_uint64(&pk, r->ex_dot.n);
		msgpack_pack_uint64(&pk, r->ex_hlc);
		/* PROTOCOL.md §3.4: a cell's clock relative to the row's
		 * existence entry, 1 byte when written with the row */
		msgpack_pack_array(&pk, (size_t)r->ncells * CELL_ELEMS);
		for (j = 0; j < r->ncells; j++) {
			const struct cs_cell *c = &cs->cells[r->cell_first + j];

			msgpack_pack_uint32(&pk, c->col);
			pack_value(&pk, &c->v);
			msgpack_pack_int64(&pk, u2s(c->hlc - r->ex_hlc));
			msgpack_pack_uint32(&pk, c->dot.dev);
			msgpack_pack_int64(&pk, u2s(c->dot.n - r->ex_dot.n));
		}
		msgpack_pack_array(&pk, (size_t)r->nvv * VV_ELEMS);
		for (j = 0; j < r->nvv; j++) {
			const struct cs_dot *d = &cs->vv[r->vv_first + j];

			msgpack_pack_uint32(&pk, d->dev);
			msgpack_pack_int64(&pk, u2s(d->n - r->ex_dot.n));
		}
	}
	return enc_end(b);
}

int
cs_msg_encode_ack(struct cs_msg_buf *b, const struct cs_stream *s, uint64_t db_version)
{
	msgpack_packer pk;

	if (s == NULL || stream_check(s) < 0 || enc_begin(b, &pk) < 0)
		return CS_EINVAL;
	msgpack_pack_array(&pk, ACK_FIELDS);
	msgpack_pack_uint64(&pk, CS_MSG_ACK);
	pack_stream(&pk, s);
	msgpack_pack_uint64(&pk, db_version);
	return enc_end(b);
}

static int
encode_nonce(struct cs_msg_buf *b, enum cs_msg_type type, uint64_t nonce)
{
	msgpack_packer pk;

	if (enc_begin(b, &pk) < 0)
		return CS_EINVAL;
	msgpack_pack_array(&pk, PING_FIELDS);
	msgpack_pack_uint64(&pk, type);
	msgpack_pack_uint64(&pk, nonce);
	return enc_end(b);
}

int
cs_msg_encode_ping(struct cs_msg_buf *b, uint64_t nonce)
{
	return encode_nonce(b, CS_MSG_PING, nonce);
}

int
cs_msg_encode_pong(struct cs_msg_buf *b, uint64_t nonce)
{
	return encode_nonce(b, CS_MSG_PONG, nonce);
}

int
cs_msg_encode_bye(struct cs_msg_buf *b, uint32_t code, const char *text)
{
	msgpack_packer pk;
	size_t n;

	if (enc_begin(b, &pk) < 0)
		return CS_EINVAL;
	if (text == NULL)
		text = "";
	n = strlen(text);
	if (n > CS_MSG_MAX_BYE_TEXT)
		return CS_MSG_ELENGTH;
	if (!utf8_valid((const uint8_t *)text, n))
		return CS_MSG_EUTF8;
	msgpack_pack_array(&pk, BYE_FIELDS);
	msgpack_pack_uint64(&pk, CS_MSG_BYE);
	msgpack_pack_uint32(&pk, code);
	pack_string(&pk, text, n);
	return enc_end(b);
}

int
cs_msg_encode(struct cs_msg_buf *b, const struct cs_msg *m)
{
	if (m == NULL)
		return CS_EINVAL;
	switch (m->type) {
	case CS_MSG_HELLO:
		return cs_msg_encode_hello(b, &m->u.hello);
	case CS_MSG_CURSOR:
		return cs_msg_encode_cursor(b, &m->u.cursor);
	case CS_MSG_CHANGES:
		return cs_msg_encode_changes(b, &m->u.changes.stream, &m->u.changes.cs);
	case CS_MSG_ACK:
		return cs_msg_encode_ack(b, &m->u.ack.stream, m->u.ack.db_version);
	case CS_MSG_PING:
		return cs_msg_encode_ping(b, m->u.nonce);
	case CS_MSG_PONG:
		return cs_msg_encode_pong(b, m->u.nonce);
	case CS_MSG_BYE:
		return cs_msg_encode_bye(b, m->u.bye.code, m->u.bye.text);
	}
	return CS_EINVAL;
}

/* ------------------------------------------------------------------ */
/* Decoding: a strict pull reader (PROTOCOL.md §3.1)                  */

struct rd {
	const uint8_t *p, *end;
};

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* The bytes after the tag: need n of them. */
static int
rd_need(const struct rd *r, size_t n)
{
	return (size_t)(r->end - r->p) - 1 < n ? CS_MSG_ETRUNC : 0;
}

/* Error for a tag that is not the expected kind. */
static int
rd_wrong(uint8_t t)
{
	return t == 0xc1 ? CS_MSG_EBADBYTE : CS_MSG_EMSGPACK;
}

/*
 * Any msgpack integer, as a sign flag and 64-bit magnitude pattern.
 * Canonical as msgpack-c writes it: non-negative values in the shortest of
 * fixint/uint8..uint64, negative ones in the shortest of negative fixint/
 * int8..int64. Returns 0, or CS_MSG_EMSGPACK if the tag is no integer.
 */
static int
rd_integer(struct rd *r, int *neg, uint64_t *u)
{
	uint8_t t;
	int64_t s;

	if (r->p == r->end)
		return CS_MSG_ETRUNC;
	t = r->p[0];
	if (t <= 0x7f) {
		*neg = 0;
		*u = t;
		r->p++;
		return 0;
	}
	if (t >= 0xe0) {
		*neg = 1;
		*u = (uint64_t)(int64_t)(int8_t)t;
		r->p++;
		return 0;
	}
	switch (t) {
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf: {
		static const uint64_t min[4] = {0x80, 0x100, 0x10000, 0x100000000ull};
		size_t n = (size_t)1 << (t - 0xcc);

		if (rd_need(r, n) < 0)
			return CS_MSG_ETRUNC;
		*u = n == 1  ? r->p[1]
		    : n == 2 ? be16(r->p + 1)
		    : n == 4 ? be32(r->p + 1)
		             : be64(r->p + 1);
		if (*u < min[t - 0xcc])
			return CS_MSG_ENONCANON;
		*neg = 0;
		r->p += 1 + n;
		return 0;
	}
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3: {
		static const int64_t max[4] = {-33, -129, -32769, -2147483649ll};
		size_t n = (size_t)1 << (t - 0xd0);

		if (rd_need(r, n) < 0)
			return CS_MSG_ETRUNC;
		s = n == 1   ? (int8_t)r->p[1]
		    : n == 2 ? (int16_t)be16(r->p + 1)
		    : n == 4 ? (int32_t)be32(r->p + 1)
		             : u2s(be64(r->p + 1));
		if (s > max[t - 0xd0])
			return CS_MSG_ENONCANON; /* fits a shorter form, or is >= 0 */
		*neg = 1;
		*u = (uint64_t)s;
		r->p += 1 + n;
		return 0;
	}
	}
	return rd_wrong(t);
}

static int
rd_uint(struct rd *r, uint64_t *v)
{
	int neg, rc;

	if ((rc = rd_integer(r, &neg, v)) < 0)
		return rc;
	return neg ? CS_MSG_ESIGN : 0;
}

static int
rd_u32(struct rd *r, uint32_t *v)
{
	uint64_t u;
	int rc;

	if ((rc = rd_uint(r, &u)) < 0)
		return rc;
	if (u > UINT32_MAX)
		return CS_MSG_ERANGE;
	*v = (uint32_t)u;
	return 0;
}

static int
rd_int(struct rd *r, int64_t *v)
{
	uint64_t u;
	int neg, rc;

	if ((rc = rd_integer(r, &neg, &u)) < 0)
		return rc;
	if (!neg && u > (uint64_t)INT64_MAX)
		return CS_MSG_ERANGE;
	*v = u2s(u);
	return 0;
}

/*
 * Array header; n checked against the bytes left (every element takes at
 * least one), so that no count is believed beyond the input.
 */
static int
rd_array(struct rd *r, uint32_t *n)
{
	uint8_t t;

	if (r->p == r->end)
		return CS_MSG_ETRUNC;
	t = r->p[0];
	if (t >= 0x90 && t <= 0x9f) {
		*n = t & 0x0f;
		r->p++;
	} else if (t == 0xdc) {
		if (rd_need(r, 2) < 0)
			return CS_MSG_ETRUNC;
		*n = be16(r->p + 1);
		if (*n < 16)
			return CS_MSG_ENONCANON;
		r->p += 3;
	} else if (t == 0xdd) {
		if (rd_need(r, 4) < 0)
			return CS_MSG_ETRUNC;
		*n = be32(r->p + 1);
		if (*n < 65536)
			return CS_MSG_ENONCANON;
		r->p += 5;
	} else {
		return rd_wrong(t);
	}
	if (*n > (size_t)(r->end - r->p))
		return CS_MSG_ETRUNC;
	return 0;
}

/* An array of exactly n elements. */
static int
rd_array_n(struct rd *r, uint32_t want)
{
	uint32_t n;
	int rc;

	if ((rc = rd_array(r, &n)) < 0)
		return rc;
	return n == want ? 0 : CS_MSG_EFIELDS;
}

/* Length + body of a str (str == 1) or bin; body checked against the input. */
static int
rd_raw(struct rd *r, int str, const uint8_t **p, uint32_t *n)
{
	uint8_t t;
	size_t h;

	if (r->p == r->end)
		return CS_MSG_ETRUNC;
	t = r->p[0];
	if (str && t >= 0xa0 && t <= 0xbf) {
		*n = t & 0x1f;
		h = 1;
	} else if ((str && t == 0xd9) || (!str && t == 0xc4)) {
		if (rd_need(r, 1) < 0)
			return CS_MSG_ETRUNC;
		*n = r->p[1];
		if (str && *n < 32)
			return CS_MSG_ENONCANON;
		h = 2;
	} else if ((str && t == 0xda) || (!str && t == 0xc5)) {
		if (rd_need(r, 2) < 0)
			return CS_MSG_ETRUNC;
		*n = be16(r->p + 1);
		if (*n < 256)
			return CS_MSG_ENONCANON;
		h = 3;
	} else if ((str && t == 0xdb) || (!str && t == 0xc6)) {
		if (rd_need(r, 4) < 0)
			return CS_MSG_ETRUNC;
		*n = be32(r->p + 1);
		if (*n < 65536)
			return CS_MSG_ENONCANON;
		h = 5;
	} else {
		return rd_wrong(t);
	}
	if (*n > (size_t)(r->end - r->p) - h)
		return CS_MSG_ETRUNC;
	*p = r->p + h;
	r->p += h + *n;
	return 0;
}

/* A bin of exactly len bytes, copied to out. */
static int
rd_fixbin(struct rd *r, uint8_t *out, uint32_t len)
{
	const uint8_t *p;
	uint32_t n;
	int rc;

	if ((rc = rd_raw(r, 0, &p, &n)) < 0)
		return rc;
	if (n != len)
		return CS_MSG_ELENGTH;
	memcpy(out, p, len);
	return 0;
}

/* A stream key: nil (main) or bin 16 (patient gid). */
static int
rd_stream(struct rd *r, struct cs_stream *s)
{
	if (r->p == r->end)
		return CS_MSG_ETRUNC;
	if (r->p[0] == 0xc0) {
		r->p++;
		s->kind = CS_STREAM_MAIN;
		memset(s->patient, 0, CS_GID_LEN);
		return 0;
	}
	s->kind = CS_STREAM_PATIENT;
	return rd_fixbin(r, s->patient, CS_GID_LEN);
}

static int
rd_name(struct rd *r, const uint8_t **p, uint32_t *n)
{
	int rc;

	if ((rc = rd_raw(r, 1, p, n)) < 0)
		return rc;
	return name_check(*p, *n);
}

/*
 * A cell value (PROTOCOL.md §3.4): nil NULL, integer INT, float 64 REAL,
 * str TEXT, bin BLOB, fixext 16 of type 1 REF. The bytes stay in the input;
 * the changeset copies them.
 */
static int
rd_value(struct rd *r, struct cs_value *v)
{
	const uint8_t *p;
	uint32_t n;
	uint8_t t;
	uint64_t bits;
	int rc;

	if (r->p == r->end)
		return CS_MSG_ETRUNC;
	t = r->p[0];
	v->p = NULL;
	v->len = 0;
	if (t == 0xc0) {
		v->type = CS_V_NULL;
		r->p++;
		return 0;
	}
	if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3)) {
		v->type = CS_V_INT;
		return rd_int(r, &v->u.i);
	}
	if (t == 0xcb) {
		if (rd_need(r, 8) < 0)
			return CS_MSG_ETRUNC;
		bits = be64(r->p + 1);
		v->type = CS_V_REAL;
		memcpy(&v->u.r, &bits, sizeof(bits));
		r->p += 9;
		return 0;
	}
	if ((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb)) {
		if ((rc = rd_raw(r, 1, &p, &n)) < 0)
			return rc;
		v->type = CS_V_TEXT;
		v->p = p;
		v->len = n;
		return 0;
	}
	if (t >= 0xc4 && t <= 0xc6) {
		if ((rc = rd_raw(r, 0, &p, &n)) < 0)
			return rc;
		v->type = CS_V_BLOB;
		v->p = p;
		v->len = n;
		return 0;
	}
	if (t == 0xd8) {
		if (rd_need(r, 1 + CS_GID_LEN) < 0)
			return CS_MSG_ETRUNC;
		if (r->p[1] != CS_MSG_REF_EXT)
			return CS_MSG_EMSGPACK;
		v->type = CS_V_REF;
		v->p = r->p + 2;
		v->len = CS_GID_LEN;
		r->p += 2 + CS_GID_LEN;
		return 0;
	}
	if (t >= 0xc7 && t <= 0xc9) {
		/* ext 8/16/32: a REF must use fixext 16 */
		size_t h = (size_t)1 << (t - 0xc7);

		if (rd_need(r, h + 1) < 0)
			return CS_MSG_ETRUNC;
		if (r->p[1 + h] != CS_MSG_REF_EXT)
			return CS_MSG_EMSGPACK;
		n = h == 1 ? r->p[1] : h == 2 ? be16(r->p + 1) : be32(r->p + 1);
		return n == CS_GID_LEN ? CS_MSG_ENONCANON : CS_MSG_ELENGTH;
	}
	if (t >= 0xd4 && t <= 0xd7) {
		if (rd_need(r, 1) < 0)
			return CS_MSG_ETRUNC;
		return r->p[1] == CS_MSG_REF_EXT ? CS_MSG_ELENGTH : CS_MSG_EMSGPACK;
	}
	return rd_wrong(t); /* float 32, map, array, bool */
}

/* Skip any one well-formed msgpack value (HELLO extensions, PROTOCOL.md §5). */
static int
rd_skip(struct rd *r, int depth)
{
	const uint8_t *p;
	uint64_t u;
	uint32_t n, i;
	uint8_t t;
	int neg, rc;
	size_t h, len;

	if (depth > CS_MSG_MAX_DEPTH)
		return CS_MSG_EDEPTH;
	if (r->p == r->end)
		return CS_MSG_ETRUNC;
	t = r->p[0];
	if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3))
		return rd_integer(r, &neg, &u);
	if ((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb))
		return rd_raw(r, 1, &p, &n);
	if (t >= 0xc4 && t <= 0xc6)
		return rd_raw(r, 0, &p, &n);
	if ((t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd || (t >= 0x80 && t <= 0x8f) ||
	    t == 0xde || t == 0xdf) {
		int map = (t >= 0x80 && t <= 0x8f) || t == 0xde || t == 0xdf;

		if (map) {
			h = t <= 0x8f ? 0 : t == 0xde ? 2 : 4;
			if (rd_need(r, h) < 0)
				return CS_MSG_ETRUNC;
			n = h == 0 ? (t & 0x0f) : h == 2 ? be16(r->p + 1) : be32(r->p + 1);
			if ((h == 2 && n < 16) || (h == 4 && n < 65536))
				return CS_MSG_ENONCANON;
			r->p += 1 + h;
			if (n > (size_t)(r->end - r->p) / 2)
				return CS_MSG_ETRUNC;
			n *= 2;
		} else if ((rc = rd_array(r, &n)) < 0) {
			return rc;
		}
		for (i = 0; i < n; i++)
			if ((rc = rd_skip(r, depth + 1)) < 0)
				return rc;
		return 0;
	}
	switch (t) {
	case 0xc0:
	case 0xc2:
	case 0xc3:
		r->p++;
		return 0;
	case 0xca:
	case 0xcb:
		len = t == 0xca ? 4 : 8;
		if (rd_need(r, len) < 0)
			return CS_MSG_ETRUNC;
		r->p += 1 + len;
		return 0;
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		len = (size_t)1 << (t - 0xd4);
		if (rd_need(r, 1 + len) < 0)
			return CS_MSG_ETRUNC;
		r->p += 2 + len;
		return 0;
	case 0xc7:
	case 0xc8:
	case 0xc9:
		h = (size_t)1 << (t - 0xc7);
		if (rd_need(r, h + 1) < 0)
			return CS_MSG_ETRUNC;
		len = h == 1 ? r->p[1] : h == 2 ? be16(r->p + 1) : be32(r->p + 1);
		if (len > (size_t)(r->end - r->p) - 2 - h)
			return CS_MSG_ETRUNC;
		r->p += 2 + h + len;
		return 0;
	}
	return CS_MSG_EBADBYTE; /* 0xc1 */
}

/* [[name, [col, ...]], ...] into cs's dictionary. */
static int
rd_tables(struct rd *r, struct cs_changeset *cs)
{
	const uint8_t *p;
	uint32_t nt, nc, i, j, k, n, total = 0;
	int rc, t;

	if ((rc = rd_array(r, &nt)) < 0)
		return rc;
	if (nt > CS_MSG_MAX_TABLES)
		return CS_MSG_ECOUNT;
	for (i = 0; i < nt; i++) {
		if ((rc = rd_array_n(r, 2)) < 0)
			return rc;
		if ((rc = rd_name(r, &p, &n)) < 0)
			return rc;
		for (k = 0; k < i; k++)
			if (strlen(cs->tables[k].name) == n &&
			    memcmp(cs->tables[k].name, p, n) == 0)
				return CS_MSG_EDUP;
		if ((rc = rd_array(r, &nc)) < 0)
			return rc;
		if (nc > CS_MSG_MAX_COLS || nc > CS_MSG_MAX_DICT_COLS - total)
			return CS_MSG_ECOUNT;
		total += nc;
		if ((t = cs_changeset_add_tabdef(cs, (const char *)p, n, nc)) < 0)
			return t;
		for (j = 0; j < nc; j++) {
			if ((rc = rd_name(r, &p, &n)) < 0)
				return rc;
			for (k = 0; k < j; k++) {
				const char *c = cs->tables[t].cols[k];

				if (strlen(c) == n && memcmp(c, p, n) == 0)
					return CS_MSG_EDUP;
			}
			if ((rc = cs_changeset_set_col(cs, (uint32_t)t, j, (const char *)p, n)) < 0)
				return rc;
		}
	}
	return 0;
}

/* Is the HELLO's min_version one we cannot speak? Reads [type, version, min]. */
static int
rd_hello_head(struct rd *r, uint32_t nfields, uint32_t *version, uint32_t *min_version)
{
	int rc;

	if (nfields < 3)
		return CS_MSG_EFIELDS;
	if ((rc = rd_u32(r, version)) < 0 || (rc = rd_u32(r, min_version)) < 0)
		return rc;
	if (*version == 0 || *min_version == 0 || *min_version > *version)
		return CS_MSG_EVERSION;
	return 0;
}

static int
dec_hello(struct rd *r, uint32_t nfields, struct cs_hello *h)
{
	uint32_t i;
	int rc;

	if ((rc = rd_hello_head(r, nfields, &h->version, &h->min_version)) < 0)
		return rc;
	/* PROTOCOL.md §5: past here a newer layout may differ; say so, read no further */
	if (h->min_version > CS_PROTOCOL_VERSION)
		return CS_MSG_EVERSION_NEW;
	/* a peer that still speaks our version keeps our fields and may append */
	if (nfields < HELLO_FIELDS ||
	    (h->version <= CS_PROTOCOL_VERSION && nfields != HELLO_FIELDS))
		return CS_MSG_EFIELDS;
	if ((rc = rd_fixbin(r, h->device, CS_DEVID_LEN)) < 0 ||
	    (rc = rd_fixbin(r, h->incarnation, CS_MSG_INCARNATION_LEN)) < 0 ||
	    (rc = rd_uint(r, &h->epoch)) < 0 ||
	    (rc = rd_fixbin(r, h->schema_hash, CS_MSG_SCHEMA_HASH_LEN)) < 0 ||
	    (rc = rd_uint(r, &h->features)) < 0 || (rc = rd_tables(r, &h->schema)) < 0)
		return rc;
	for (i = HELLO_FIELDS; i < nfields; i++)
		if ((rc = rd_skip(r, 1)) < 0)
			return rc;
	return 0;
}

static int
dec_cursor(struct rd *r, uint32_t nfields, struct cs_cursor *c)
{
	uint32_t n, i;
	int rc;

	if (nfields != CURSOR_FIELDS)
		return CS_MSG_EFIELDS;
	if ((rc = rd_array(r, &n)) < 0)
		return rc;
	if (n % 2 != 0)
		return CS_MSG_ECOUNT;
	n /= 2;
	if (n > CS_MSG_MAX_STREAMS)
		return CS_MSG_ECOUNT;
	if (n > 0 && (c->v = cs_calloc(n, sizeof(*c->v))) == NULL)
		return CS_ENOMEM;
	for (i = 0; i < n; i++) {
		if ((rc = rd_stream(r, &c->v[i].stream)) < 0 ||
		    (rc = rd_uint(r, &c->v[i].after)) < 0)
			return rc;
		if (i > 0 && cs_msg_stream_cmp(&c->v[i - 1].stream, &c->v[i].stream) >= 0)
			return cs_msg_stream_cmp(&c->v[i - 1].stream, &c->v[i].stream) == 0
			    ? CS_MSG_EDUP
			    : CS_MSG_EORDER;
		c->n = i + 1;
	}
	return 0;
}

static int
dec_row(struct rd *r, struct cs_changeset *cs, uint32_t stamp, uint32_t *seen_col,
    uint32_t *seen_dev)
{
	struct cs_row row;
	struct cs_value v;
	struct cs_dot dot;
	uint32_t n, j, col;
	int64_t dh, dn;
	int rc;

	memset(&row, 0, sizeof(row));
	if ((rc = rd_array_n(r, ROW_FIELDS)) < 0)
		return rc;
	if ((rc = rd_u32(r, &row.table)) < 0)
		return rc;
	if (row.table >= cs->ntables)
		return CS_MSG_EINDEX;
	if ((rc = rd_fixbin(r, row.gid, CS_GID_LEN)) < 0 ||
	    (rc = rd_fixbin(r, row.patient, CS_GID_LEN)) < 0 || (rc = rd_uint(r, &row.cl)) < 0 ||
	    (rc = rd_u32(r, &row.ex_dot.dev)) < 0)
		return rc;
	if (row.ex_dot.dev >= cs->ndevs)
		return CS_MSG_EINDEX;
	if ((rc = rd_uint(r, &row.ex_dot.n)) < 0 || (rc = rd_uint(r, &row.ex_hlc)) < 0)
		return rc;
	if ((rc = cs_changeset_row_begin(cs, &row)) < 0)
		return rc;
	if ((rc = rd_array(r, &n)) < 0)
		return rc;
	if (n % CELL_ELEMS != 0)
		return CS_MSG_ECOUNT;
	for (j = 0; j < n / CELL_ELEMS; j++) {
		if ((rc = rd_u32(r, &col)) < 0)
			return rc;
		if (col >= cs->tables[row.table].ncols)
			return CS_MSG_EINDEX;
		if (seen_col[col] == stamp)
			return CS_MSG_EDUP;
		seen_col[col] = stamp;
		if ((rc = rd_value(r, &v)) < 0 || (rc = rd_int(r, &dh)) < 0 ||
		    (rc = rd_u32(r, &dot.dev)) < 0)
			return rc;
		if (dot.dev >= cs->ndevs)
			return CS_MSG_EINDEX;
		if ((rc = rd_int(r, &dn)) < 0)
			return rc;
		dot.n = row.ex_dot.n + (uint64_t)dn;
		if ((rc = cs_changeset_cell(cs, col, &v, row.ex_hlc + (uint64_t)dh, dot)) < 0)
			return rc;
	}
	if ((rc = rd_array(r, &n)) < 0)
		return rc;
	if (n % VV_ELEMS != 0)
		return CS_MSG_ECOUNT;
	for (j = 0; j < n / VV_ELEMS; j++) {
		if ((rc = rd_u32(r, &dot.dev)) < 0)
			return rc;
		if (dot.dev >= cs->ndevs)
			return CS_MSG_EINDEX;
		if (seen_dev[dot.dev] == stamp)
			return CS_MSG_EDUP;
		seen_dev[dot.dev] = stamp;
		if ((rc = rd_int(r, &dn)) < 0)
			return rc;
		dot.n = row.ex_dot.n + (uint64_t)dn;
		if ((rc = cs_changeset_vv(cs, dot)) < 0)
			return rc;
	}
	return cs_changeset_row_end(cs);
}

static int
dec_changes(struct rd *r, uint32_t nfields, struct cs_changes *ch)
{
	uint32_t seen_col[CS_MSG_MAX_COLS], seen_dev[CS_MSG_MAX_DEVS];
	struct cs_changeset *cs = &ch->cs;
	uint8_t dev[CS_DEVID_LEN];
	uint32_t n, i, k;
	int rc;

	if (nfields != CHANGES_FIELDS)
		return CS_MSG_EFIELDS;
	if ((rc = rd_stream(r, &ch->stream)) < 0 || (rc = rd_uint(r, &cs->db_version)) < 0 ||
	    (rc = rd_tables(r, cs)) < 0)
		return rc;
	if ((rc = rd_array(r, &n)) < 0)
		return rc;
	if (n > CS_MSG_MAX_DEVS)
		return CS_MSG_ECOUNT;
	for (i = 0; i < n; i++) {
		if ((rc = rd_fixbin(r, dev, CS_DEVID_LEN)) < 0)
			return rc;
		for (k = 0; k < i; k++)
			if (memcmp(cs->devs[k], dev, CS_DEVID_LEN) == 0)
				return CS_MSG_EDUP;
		if ((rc = cs_changeset_dev(cs, dev)) < 0)
			return rc;
	}
	if ((rc = rd_array(r, &n)) < 0)
		return rc;
	memset(seen_col, 0, sizeof(seen_col));
	memset(seen_dev, 0, sizeof(seen_dev));
	for (i = 0; i < n; i++)
		if ((rc = dec_row(r, cs, i + 1, seen_col, seen_dev)) < 0)
			return rc;
	return 0;
}

static int
dec_bye(struct rd *r, uint32_t nfields, struct cs_bye *b)
{
	const uint8_t *p;
	uint32_t n;
	int rc;

	if (nfields != BYE_FIELDS)
		return CS_MSG_EFIELDS;
	if ((rc = rd_u32(r, &b->code)) < 0 || (rc = rd_raw(r, 1, &p, &n)) < 0)
		return rc;
	if (n > CS_MSG_MAX_BYE_TEXT)
		return CS_MSG_ELENGTH;
	if (memchr(p, 0, n) != NULL)
		return CS_MSG_ENAME;
	if (!utf8_valid(p, n))
		return CS_MSG_EUTF8;
	memcpy(b->text, p, n);
	b->text[n] = '\0';
	b->text_len = n;
	return 0;
}

/* [type, ...]: the array header and the type, shared by decode and peek. */
static int
rd_head(struct rd *r, uint32_t *nfields, uint32_t *type)
{
	int rc;

	if (r->p == r->end)
		return CS_MSG_ETRUNC;
	if ((rc = rd_array(r, nfields)) < 0)
		return rc == CS_MSG_EMSGPACK ? CS_MSG_ENOTARRAY : rc;
	if (*nfields == 0)
		return CS_MSG_EFIELDS;
	if ((rc = rd_u32(r, type)) < 0)
		return rc;
	if (*type < CS_MSG_HELLO || *type > CS_MSG_BYE)
		return CS_MSG_ETYPE;
	return 0;
}

/* keep: a reset changeset whose memory a CHANGES message reuses, or NULL. */
static int
decode(const uint8_t *buf, size_t len, struct cs_msg *out, struct cs_changeset *keep)
{
	struct rd r;
	uint32_t nfields, type;
	int rc;

	memset(out, 0, sizeof(*out));
	r.p = buf;
	r.end = buf + len;
	if ((rc = rd_head(&r, &nfields, &type)) < 0)
		goto out;
	out->type = (enum cs_msg_type)type;
	switch (out->type) {
	case CS_MSG_HELLO:
		rc = dec_hello(&r, nfields, &out->u.hello);
		break;
	case CS_MSG_CURSOR:
		rc = dec_cursor(&r, nfields, &out->u.cursor);
		break;
	case CS_MSG_CHANGES:
		if (keep != NULL) {
			out->u.changes.cs = *keep;
			keep = NULL;
		}
		rc = dec_changes(&r, nfields, &out->u.changes);
		break;
	case CS_MSG_ACK:
		if (nfields != ACK_FIELDS)
			rc = CS_MSG_EFIELDS;
		else if ((rc = rd_stream(&r, &out->u.ack.stream)) == 0)
			rc = rd_uint(&r, &out->u.ack.db_version);
		break;
	case CS_MSG_PING:
	case CS_MSG_PONG:
		rc = nfields != PING_FIELDS ? CS_MSG_EFIELDS : rd_uint(&r, &out->u.nonce);
		break;
	case CS_MSG_BYE:
		rc = dec_bye(&r, nfields, &out->u.bye);
		break;
	}
	if (rc == 0 && r.p != r.end)
		rc = CS_MSG_ETRAILING;
out:
	cs_changeset_free(keep); /* not taken by a CHANGES */
	if (rc < 0)
		cs_msg_free(out);
	return rc;
}

int
cs_msg_decode(const uint8_t *buf, size_t len, struct cs_msg *out)
{
	if (out == NULL)
		return CS_EINVAL;
	if (buf == NULL) {
		memset(out, 0, sizeof(*out));
		return CS_EINVAL;
	}
	return decode(buf, len, out, NULL);
}

int
cs_msg_decode_again(const uint8_t *buf, size_t len, struct cs_msg *out)
{
	struct cs_changeset keep;

	if (out == NULL)
		return CS_EINVAL;
	if (buf == NULL) {
		cs_msg_free(out);
		return CS_EINVAL;
	}
	if (out->type != CS_MSG_CHANGES) {
		cs_msg_free(out);
		return decode(buf, len, out, NULL);
	}
	keep = out->u.changes.cs;
	cs_changeset_reset(&keep);
	return decode(buf, len, out, &keep);
}

int
cs_msg_hello_peek(const uint8_t *buf, size_t len, uint32_t *version, uint32_t *min_version)
{
	struct rd r;
	uint32_t nfields, type;
	int rc;

	if (buf == NULL || version == NULL || min_version == NULL)
		return CS_EINVAL;
	r.p = buf;
	r.end = buf + len;
	if ((rc = rd_head(&r, &nfields, &type)) < 0)
		return rc;
	if (type != CS_MSG_HELLO)
		return CS_MSG_ETYPE;
	return rd_hello_head(&r, nfields, version, min_version);
}

int
cs_msg_negotiate(const struct cs_hello *peer, uint32_t *version)
{
	uint32_t v;

	if (peer == NULL || version == NULL)
		return CS_EINVAL;
	v = peer->version < CS_PROTOCOL_VERSION ? peer->version : CS_PROTOCOL_VERSION;
	if (v < peer->min_version)
		return CS_MSG_EVERSION_NEW;
	if (v < CS_PROTOCOL_MIN_VERSION)
		return CS_MSG_EVERSION_OLD;
	*version = v;
	return 0;
}

void
cs_msg_hello_init(struct cs_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->version = CS_PROTOCOL_VERSION;
	h->min_version = CS_PROTOCOL_MIN_VERSION;
	cs_changeset_init(&h->schema);
}

void
cs_msg_free(struct cs_msg *m)
{
	if (m == NULL)
		return;
	switch (m->type) {
	case CS_MSG_HELLO:
		cs_changeset_free(&m->u.hello.schema);
		break;
	case CS_MSG_CURSOR:
		cs_free(m->u.cursor.v);
		break;
	case CS_MSG_CHANGES:
		cs_changeset_free(&m->u.changes.cs);
		break;
	default:
		break;
	}
	memset(m, 0, sizeof(*m));
}

uint32_t
cs_msg_bye_code(int err)
{
	switch (err) {
	case CS_MSG_EVERSION_NEW:
		return CS_BYE_VERSION_TOO_NEW;
	case CS_MSG_EVERSION_OLD:
		return CS_BYE_VERSION_TOO_OLD;
	case CS_CHUNK_ETOTAL:
	case CS_MSG_ETOOBIG:
		return CS_BYE_TOO_BIG;
	default:
		break;
	}
	if (err <= CS_ERR_FRAME_FIRST && err > CS_ERR_BUNDLE_FIRST)
		return CS_BYE_MALFORMED;
	return CS_BYE_INTERNAL;
}

const char *
cs_msg_type_name(uint32_t type)
{
	static const char *const names[] = {
	    [CS_MSG_HELLO] = "HELLO",
	    [CS_MSG_CURSOR] = "CURSOR",
	    [CS_MSG_CHANGES] = "CHANGES",
	    [CS_MSG_ACK] = "ACK",
	    [CS_MSG_PING] = "PING",
	    [CS_MSG_PONG] = "PONG",
	    [CS_MSG_BYE] = "BYE",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type] != NULL)
		return names[type];
	return "unknown";
}

const char *
cs_msg_bye_name(uint32_t code)
{
	static const char *const names[] = {
	    [CS_BYE_NORMAL] = "normal close",
	    [CS_BYE_VERSION_TOO_NEW] = "peer's protocol version is too new",
	    [CS_BYE_VERSION_TOO_OLD] = "peer's protocol version is too old",
	    [CS_BYE_MALFORMED] = "malformed message",
	    [CS_BYE_UNEXPECTED] = "unexpected message",
	    [CS_BYE_UNAUTHORIZED] = "device not authorized",
	    [CS_BYE_EPOCH] = "cabinet key epoch mismatch",
	    [CS_BYE_DUPLICATE] = "duplicate session",
	    [CS_BYE_TIMEOUT] = "timeout",
	    [CS_BYE_REFUSED] = "batch refused",
	    [CS_BYE_TOO_BIG] = "message too big",
	    [CS_BYE_INTERNAL] = "internal error",
	};

	if (code < sizeof(names) / sizeof(names[0]) && names[code] != NULL)
		return names[code];
	return "unknown reason";
}

const char *
cs_msg_strerror(int err)
{
	switch (err) {
	case CS_FRAME_ESHORT:
		return "frame shorter than an AEAD tag";
	case CS_FRAME_ETOOBIG:
		return "frame body over 65535 bytes";
	case CS_CHUNK_EFLAGS:
		return "chunk with reserved flag bits set";
	case CS_CHUNK_ESEQ:
		return "chunk out of sequence";
	case CS_CHUNK_ETOTAL:
		return "message length over the cap";
	case CS_CHUNK_EOVERRUN:
		return "chunks longer than the announced message";
	case CS_CHUNK_ELAST:
		return "last-chunk flag disagrees with the length";
	case CS_CHUNK_EEMPTY:
		return "empty chunk or message";
	case CS_CHUNK_ETOOBIG:
		return "chunk longer than one Noise message";
	case CS_CHUNK_EHDR:
		return "chunk shorter than its header";
	case CS_MSG_ETRUNC:
		return "message truncated";
	case CS_MSG_ETRAILING:
		return "bytes after the end of the message";
	case CS_MSG_ENOTARRAY:
		return "message is not a msgpack array";
	case CS_MSG_ETYPE:
		return "unknown message type";
	case CS_MSG_EFIELDS:
		return "wrong number of fields";
	case CS_MSG_EMSGPACK:
		return "field of the wrong msgpack type";
	case CS_MSG_ESIGN:
		return "negative integer where an unsigned one is required";
	case CS_MSG_ERANGE:
		return "integer out of range";
	case CS_MSG_ELENGTH:
		return "string or binary of a wrong length";
	case CS_MSG_ECOUNT:
		return "array count over its limit or malformed";
	case CS_MSG_EINDEX:
		return "index outside the message's dictionary";
	case CS_MSG_EDUP:
		return "duplicate entry";
	case CS_MSG_EORDER:
		return "entries out of order";
	case CS_MSG_ENONCANON:
		return "msgpack value not in its shortest form";
	case CS_MSG_EBADBYTE:
		return "invalid msgpack byte";
	case CS_MSG_ENAME:
		return "empty name or text with a NUL byte";
	case CS_MSG_EUTF8:
		return "text is not valid UTF-8";
	case CS_MSG_EVERSION:
		return "invalid protocol version fields";
	case CS_MSG_EVERSION_NEW:
		return "peer requires a newer protocol version";
	case CS_MSG_EVERSION_OLD:
		return "peer speaks only an older protocol version";
	case CS_MSG_ETOOBIG:
		return "message over the size cap";
	case CS_MSG_EDEPTH:
		return "values nested too deep";
	default:
		return "unknown error";
	}
}
