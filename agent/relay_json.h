/*
 * agent/relay_json.h: the small, strict JSON reader of the Supabase client
 * (Auth tokens, PostgREST rows, Storage listings and error bodies;
 * shared/supabase-api.md).
 *
 * The answers the client reads are a top-level object (a token, an error)
 * or a top-level array of objects (rows, a listing). cs_rjson_walk()
 * validates the whole text (RFC 8259 syntax, depth <= CS_RJSON_MAX_DEPTH)
 * and calls fn for each member of the top-level object (elem 0) or of each
 * object of the top-level array (elem = its index); values nested deeper are
 * validated and skipped. A string value is handed raw (between its quotes,
 * escapes not decoded): cs_rjson_str() decodes it.
 *
 * Pure: no allocation, no I/O; fuzzed (tests/fuzz/fuzz_relay_json.c).
 */
#ifndef CS_AGENT_RELAY_JSON_H
#define CS_AGENT_RELAY_JSON_H

#include <stddef.h>

#define CS_RJSON_MAX_DEPTH 16

enum cs_rjson_type {
	CS_RJSON_STRING = 1,
	CS_RJSON_NUMBER,
	CS_RJSON_BOOL,
	CS_RJSON_NULL,
	CS_RJSON_OBJECT, /* nested: v is its text */
	CS_RJSON_ARRAY
};

/* A member: key (raw, klen bytes), value text v (vlen bytes). Non-zero stops. */
typedef int (*cs_rjson_fn)(void *ctx, size_t elem, const char *key, size_t klen,
    enum cs_rjson_type t, const char *v, size_t vlen);

/*
 * Walk buf[0..len). Returns 0, fn's non-zero value, or CS_RELAY_EHTTP
 * (malformed, too deep, or neither an object nor an array of objects).
 * Nothing is called back for a malformed text... except members before
 * the error is found: callers keep results only when 0 is returned.
 */
int cs_rjson_walk(const char *buf, size_t len, cs_rjson_fn fn, void *ctx);

/* 1 if the raw key equals the NUL-terminated name. */
int cs_rjson_key(const char *key, size_t klen, const char *name);

/*
 * Decode a raw string value into out (cap bytes, NUL-terminated). \uXXXX
 * outside ASCII and \u0000 are refused. Returns the length or -1 (too long,
 * bad escape).
 */
int cs_rjson_str(const char *v, size_t vlen, char *out, size_t cap);

#endif
