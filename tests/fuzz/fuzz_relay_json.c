/*
 * libFuzzer target: cs_rjson_walk / cs_rjson_str (agent/relay_json.h), the
 * JSON reader of the Supabase answers (tokens, rows, listings, error
 * bodies). Any bytes: no crash, no read past the input; every member handed
 * out lies inside the input; a decoded string fits its buffer; a text
 * accepted once is accepted again with the same members.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/relay_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fctx {
	const char *base;
	size_t size, n;
	unsigned long sum;
};

static int
member(void *ctx, size_t elem, const char *key, size_t klen, enum cs_rjson_type t, const char *v,
    size_t vlen)
{
	struct fctx *c = ctx;
	char out[64];
	int n;

	if (key < c->base || klen > c->size || (size_t)(key - c->base) > c->size - klen)
		abort();
	if (v < c->base || vlen > c->size || (size_t)(v - c->base) > c->size - vlen)
		abort();
	if (t < CS_RJSON_STRING || t > CS_RJSON_ARRAY)
		abort();
	if (t == CS_RJSON_STRING) {
		n = cs_rjson_str(v, vlen, out, sizeof(out));
		if (n >= (int)sizeof(out) || (n >= 0 && out[n] != '\0'))
			abort();
	}
	c->n++;
	c->sum += elem * 31 + klen * 7 + vlen + (unsigned long)t;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fctx a, b;
	char *copy;
	int rc;

	copy = malloc(size == 0 ? 1 : size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	memset(&a, 0, sizeof(a));
	a.base = copy;
	a.size = size;
	rc = cs_rjson_walk(copy, size, member, &a);
	if (rc == 0) {
		memset(&b, 0, sizeof(b));
		b.base = copy;
		b.size = size;
		if (cs_rjson_walk(copy, size, member, &b) != 0 || a.n != b.n || a.sum != b.sum)
			abort();
	}
	free(copy);
	return 0;
}
