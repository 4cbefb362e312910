/*
 * libFuzzer target: bundle open (docs/PROTOCOL.md §6.7) with the fixed keys of
 * bundle_fixture.h. Byte 0 of the input picks a mode, the rest is the bundle:
 *   bit 0: re-sign the bundle with the known sender's key first, so that the
 *          fuzzer plays a malicious enrolled sender and reaches the checks
 *          behind the signature (outer layer, recipient, lifetime, stream);
 *   bit 1: stream it chunk by chunk through cs_bundle_open_next() instead of
 *          the one-shot cs_bundle_open().
 * Invariants checked: success only with the final chunk, the payload length
 * announced by open_init is what comes out, no leak (cs_mem_live).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"
#include "bundle_fixture.h"
#include "wire/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bfx fx;

static void
stream_open(const uint8_t *buf, size_t len, struct cs_bundle_open_params *p)
{
	struct cs_bundle_opener o;
	struct cs_bundle_info info;
	uint8_t *chunk;
	uint64_t got = 0;
	size_t n;
	bool last = false;
	int rc;

	rc = cs_bundle_open_init(&o, buf, len, p, &info);
	if (rc != 0) {
		if (rc > -300 || rc < -399)
			abort(); /* only bundle codes come from an open */
		return;
	}
	chunk = malloc(info.chunk_size);
	if (chunk == NULL)
		abort();
	while (!last) {
		rc = cs_bundle_open_next(&o, chunk, info.chunk_size, &n, &last);
		if (rc != 0)
			break;
		got += n;
	}
	if (rc == 0 && got != info.payload_len)
		abort();
	if (cs_bundle_open_next(&o, chunk, info.chunk_size, &n, &last) != CS_BUNDLE_ESTATE)
		abort();
	cs_bundle_open_free(&o);
	free(chunk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct cs_bundle_open_params p;
	uint8_t *buf, *out = NULL;
	size_t len, out_len = 0;
	long live;
	int rc;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		bfx_init(&fx);
		ready = 1;
	}
	if (size < 1)
		return 0;
	len = size - 1;
	buf = malloc(len + 1);
	if (buf == NULL)
		abort();
	memcpy(buf, data + 1, len);
	if (data[0] & 1)
		bfx_resign(buf, len, fx.dev[0].sign_sk);
	bfx_open_params(&fx, &p);
	live = cs_mem_live();
	if (data[0] & 2) {
		stream_open(buf, len, &p);
	} else {
		rc = cs_bundle_open(buf, len, &p, NULL, &out, &out_len);
		if (rc != 0 && out != NULL)
			abort();
		cs_free(out);
	}
	if (cs_mem_live() != live)
		abort();
	free(buf);
	return 0;
}
