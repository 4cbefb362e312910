/*
 * Writes the seed corpus of fuzz_bundle (tests/fuzz/corpus/bundle/) from real
 * sealed bundles with the fixture's keys: valid bundles of several payload
 * sizes and chunk sizes, plus bundles that fail each later check (other
 * recipient, expired, old epoch, replayed id), each in the four input modes.
 * usage: gen_bundle_corpus DIR. Test tool: writes files, prints nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"
#include "bundle_fixture.h"
#include "wire/bundle.h"

static int
emit(const char *dir, const char *name, const struct cs_bundle_seal_params *sp,
    const uint8_t *sign_sk, size_t payload_len)
{
	uint8_t *payload, *b = NULL;
	size_t blen = 0, i;
	char path[4096];
	FILE *f;
	uint8_t mode;
	int rc;

	payload = malloc(payload_len + 1);
	if (payload == NULL)
		return -1;
	for (i = 0; i < payload_len; i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	rc = cs_bundle_seal(sp, sign_sk, payload, payload_len, &b, &blen);
	free(payload);
	if (rc != 0)
		return rc;
	for (mode = 0; mode < 4; mode++) {
		snprintf(path, sizeof(path), "%s/%s-m%u", dir, name, mode);
		f = fopen(path, "wb");
		if (f == NULL || fwrite(&mode, 1, 1, f) != 1 || fwrite(b, 1, blen, f) != blen) {
			rc = -1;
			if (f != NULL)
				fclose(f);
			break;
		}
		if (fclose(f) != 0)
			rc = -1;
	}
	cs_free(b);
	return rc;
}

int
main(int argc, char **argv)
{
	static const uint8_t replayed[CS_BUNDLE_ID_LEN] = {0xee, 0xee, 0xee, 0xee};
	static const uint8_t fixed_id[CS_BUNDLE_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct bfx fx;
	struct cs_bundle_seal_params sp;
	int rc = 0;

	if (argc != 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: gen_bundle_corpus DIR\n");
		return 2;
	}
	bfx_init(&fx);
	bfx_seal_params(&fx, &sp);
	sp.bundle_id = fixed_id;
	sp.chunk_size = 16;
	rc |= emit(argv[1], "empty", &sp, fx.dev[0].sign_sk, 0);
	rc |= emit(argv[1], "one-chunk", &sp, fx.dev[0].sign_sk, 10);
	rc |= emit(argv[1], "full-chunk", &sp, fx.dev[0].sign_sk, 16);
	rc |= emit(argv[1], "multi-chunk", &sp, fx.dev[0].sign_sk, 100);
	sp.chunk_size = 1024;
	rc |= emit(argv[1], "chunk1k", &sp, fx.dev[0].sign_sk, 3000);
	sp.chunk_size = 16;
	sp.recipient_id = fx.dev[2].id;
	sp.recipient_pk = fx.dev[2].box_pk;
	rc |= emit(argv[1], "other-recipient", &sp, fx.dev[0].sign_sk, 20);
	sp.recipient_id = fx.dev[1].id;
	sp.recipient_pk = fx.dev[2].box_pk;
	rc |= emit(argv[1], "sealed-to-other", &sp, fx.dev[0].sign_sk, 20);
	sp.recipient_pk = fx.dev[1].box_pk;
	sp.created_ms = BFX_NOW_MS - 2 * BFX_LIFETIME;
	sp.expires_ms = BFX_NOW_MS - BFX_LIFETIME;
	rc |= emit(argv[1], "expired", &sp, fx.dev[0].sign_sk, 20);
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = 16;
	sp.epoch = 1;
	sp.cabinet_key = fx.key[1];
	rc |= emit(argv[1], "old-epoch", &sp, fx.dev[0].sign_sk, 20);
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = 16;
	sp.bundle_id = replayed;
	rc |= emit(argv[1], "replayed", &sp, fx.dev[0].sign_sk, 20);
	bfx_seal_params(&fx, &sp);
	sp.chunk_size = 16;
	sp.sender_id = fx.dev[2].id;
	rc |= emit(argv[1], "revoked-sender", &sp, fx.dev[2].sign_sk, 20);
	return rc == 0 ? 0 : 1;
}
