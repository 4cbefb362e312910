/*
 * agent/relay_json.c: strict JSON reader for the Supabase answers (see
 * relay_json.h). RFC 8259 grammar; recursion bounded by CS_RJSON_MAX_DEPTH.
 */
#include "agent/relay_json.h"

#include <string.h>

#include "agent/relay.h"

struct rj {
	const char *p;
	size_t len, off;
	cs_rjson_fn fn;
	void *ctx;
	int stop; /* fn's non-zero value */
};

static void
ws(struct rj *r)
{
	while (r->off < r->len &&
	    (r->p[r->off] == ' ' || r->p[r->off] == '\t' || r->p[r->off] == '\n' ||
	        r->p[r->off] == '\r'))
		r->off++;
}

static int
hexd(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* At a '"': skip the string; *s and *n get its raw content. */
static int
str(struct rj *r, const char **s, size_t *n)
{
	size_t start;
	unsigned char c;
	int i;

	if (r->off >= r->len || r->p[r->off] != '"')
		return -1;
	start = ++r->off;
	while (r->off < r->len) {
		c = (unsigned char)r->p[r->off];
		if (c == '"') {
			*s = r->p + start;
			*n = r->off - start;
			r->off++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (r->len - r->off < 2)
				return -1;
			c = (unsigned char)r->p[r->off + 1];
			if (c == 'u') {
				if (r->len - r->off < 6)
					return -1;
				for (i = 2; i < 6; i++)
					if (hexd(r->p[r->off + i]) < 0)
						return -1;
				r->off += 6;
				continue;
			}
			if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
				return -1;
			r->off += 2;
			continue;
		}
		r->off++;
	}
	return -1;
}

static int
digits(struct rj *r)
{
	size_t s = r->off;

	while (r->off < r->len && r->p[r->off] >= '0' && r->p[r->off] <= '9')
		r->off++;
	return r->off > s ? 0 : -1;
}

static int
number(struct rj *r)
{
	if (r->off < r->len && r->p[r->off] == '-')
		r->off++;
	if (r->off < r->len && r->p[r->off] == '0')
		r->off++;
	else if (digits(r) != 0)
		return -1;
	if (r->off < r->len && r->p[r->off] == '.') {
		r->off++;
		if (digits(r) != 0)
			return -1;
	}
	if (r->off < r->len && (r->p[r->off] == 'e' || r->p[r->off] == 'E')) {
		r->off++;
		if (r->off < r->len && (r->p[r->off] == '+' || r->p[r->off] == '-'))
			r->off++;
		if (digits(r) != 0)
			return -1;
	}
	return 0;
}

static int
word(struct rj *r, const char *w)
{
	size_t n = strlen(w);

	if (r->len - r->off < n || memcmp(r->p + r->off, w, n) != 0)
		return -1;
	r->off += n;
	return 0;
}

static int value(struct rj *r, int depth, enum cs_rjson_type *t);

static int
object(struct rj *r, int depth, long elem)
{
	const char *k, *v;
	size_t kn, start;
	enum cs_rjson_type t;

	r->off++; /* '{' */
	ws(r);
	if (r->off < r->len && r->p[r->off] == '}') {
		r->off++;
		return 0;
	}
	for (;;) {
		ws(r);
		if (str(r, &k, &kn) != 0)
			return -1;
		ws(r);
		if (r->off >= r->len || r->p[r->off] != ':')
			return -1;
		r->off++;
		ws(r);
		start = r->off;
		if (value(r, depth + 1, &t) != 0)
			return -1;
		if (elem >= 0 && r->stop == 0) {
			v = r->p + start;
			if (t == CS_RJSON_STRING)
				r->stop = r->fn(r->ctx, (size_t)elem, k, kn, t, v + 1,
				    r->off - start - 2);
			else
				r->stop = r->fn(r->ctx, (size_t)elem, k, kn, t, v, r->off - start);
		}
		ws(r);
		if (r->off >= r->len)
			return -1;
		if (r->p[r->off] == ',') {
			r->off++;
			continue;
		}
		if (r->p[r->off] == '}') {
			r->off++;
			return 0;
		}
		return -1;
	}
}

static int
array(struct rj *r, int depth, int top)
{
	enum cs_rjson_type t;
	size_t i = 0;

	r->off++; /* '[' */
	ws(r);
	if (r->off < r->len && r->p[r->off] == ']') {
		r->off++;
		return 0;
	}
	for (;; i++) {
		ws(r);
		if (top) {
			if (r->off >= r->len || r->p[r->off] != '{')
				return -1; /* the top-level array holds objects */
			if (depth + 1 > CS_RJSON_MAX_DEPTH || object(r, depth + 1, (long)i) != 0)
				return -1;
		} else if (value(r, depth + 1, &t) != 0) {
			return -1;
		}
		ws(r);
		if (r->off >= r->len)
			return -1;
		if (r->p[r->off] == ',') {
			r->off++;
			continue;
		}
		if (r->p[r->off] == ']') {
			r->off++;
			return 0;
		}
		return -1;
	}
}

static int
value(struct rj *r, int depth, enum cs_rjson_type *t)
{
	const char *s;
	size_t n;

	if (depth > CS_RJSON_MAX_DEPTH || r->off >= r->len)
		return -1;
	switch (r->p[r->off]) {
	case '"':
		*t = CS_RJSON_STRING;
		return str(r, &s, &n);
	case '{':
		*t = CS_RJSON_OBJECT;
		return object(r, depth, -1);
	case '[':
		*t = CS_RJSON_ARRAY;
		return array(r, depth, 0);
	case 't':
		*t = CS_RJSON_BOOL;
		return word(r, "true");
	case 'f':
		*t = CS_RJSON_BOOL;
		return word(r, "false");
	case 'n':
		*t = CS_RJSON_NULL;
		return word(r, "null");
	default:
		*t = CS_RJSON_NUMBER;
		return number(r);
	}
}

int
cs_rjson_walk(const char *buf, size_t len, cs_rjson_fn fn, void *ctx)
{
	struct rj r = {buf, len, 0, fn, ctx, 0};
	int rc;

	if (buf == NULL || fn == NULL)
		return CS_RELAY_EHTTP;
	ws(&r);
	if (r.off >= r.len)
		return CS_RELAY_EHTTP;
	if (r.p[r.off] == '{')
		rc = object(&r, 1, 0);
	else if (r.p[r.off] == '[')
		rc = array(&r, 1, 1);
	else
		return CS_RELAY_EHTTP;
	if (rc != 0)
		return CS_RELAY_EHTTP;
	ws(&r);
	if (r.off != r.len)
		return CS_RELAY_EHTTP;
	return r.stop;
}

int
cs_rjson_key(const char *key, size_t klen, const char *name)
{
	return strlen(name) == klen && memcmp(key, name, klen) == 0;
}

int
cs_rjson_str(const char *v, size_t vlen, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	int c, k, d;

	if (cap == 0)
		return -1;
	while (i < vlen) {
		c = (unsigned char)v[i++];
		if (c == '\\') {
			if (i >= vlen)
				return -1;
			c = v[i++];
			switch (c) {
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case '"':
			case '\\':
			case '/':
				break;
			case 'u':
				if (vlen - i < 4)
					return -1;
				for (c = 0, k = 0; k < 4; k++) {
					if ((d = hexd(v[i + k])) < 0)
						return -1;
					c = c * 16 + d;
				}
				i += 4;
				if (c == 0 || c > 0x7f)
					return -1;
				break;
			default:
				return -1;
			}
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}
