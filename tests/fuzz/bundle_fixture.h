/*
 * tests/fuzz/bundle_fixture.h: the fixed keys shared by the bundle fuzz
 * target (fuzz_bundle.c) and the program that writes its seed corpus
 * (gen_bundle_corpus.c), so that the checked-in seeds are real bundles the
 * target can open. Test code only: every key is derived from a constant seed.
 */
#ifndef CS_TESTS_BUNDLE_FIXTURE_H
#define CS_TESTS_BUNDLE_FIXTURE_H

#include <string.h>

#include <sodium.h>

#include "wire/bundle.h"

#define BFX_NOW_MS   1800000000000ULL /* the fixture's clock */
#define BFX_EPOCH    2                /* current epoch; 1 is retired */
#define BFX_LIFETIME (24ULL * 3600 * 1000)

struct bfx_device {
	uint8_t id[CS_BUNDLE_ID_LEN];
	uint8_t box_pk[crypto_box_PUBLICKEYBYTES];
	uint8_t box_sk[crypto_box_SECRETKEYBYTES];
	uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
};

struct bfx {
	uint8_t cabinet_id[CS_BUNDLE_ID_LEN];
	uint8_t key[3][CS_BUNDLE_KEY_LEN]; /* cabinet keys of epochs 0..2 */
	struct bfx_device dev[3];          /* 0 sender, 1 recipient, 2 revoked */
};

static inline void
bfx_device_init(struct bfx_device *d, uint8_t n)
{
	uint8_t seed[32];

	memset(d->id, 0xd0 + n, sizeof(d->id));
	memset(seed, 0x10 + n, sizeof(seed));
	crypto_box_seed_keypair(d->box_pk, d->box_sk, seed);
	memset(seed, 0x20 + n, sizeof(seed));
	crypto_sign_seed_keypair(d->sign_pk, d->sign_sk, seed);
}

static inline void
bfx_init(struct bfx *f)
{
	int i;

	memset(f->cabinet_id, 0xca, sizeof(f->cabinet_id));
	for (i = 0; i < 3; i++) {
		memset(f->key[i], 0x40 + i, sizeof(f->key[i]));
		bfx_device_init(&f->dev[i], (uint8_t)i);
	}
}

static inline int
bfx_sender_key(void *ctx, const uint8_t *device_id, uint8_t *pk_out)
{
	struct bfx *f = ctx;

	if (memcmp(device_id, f->dev[0].id, CS_BUNDLE_ID_LEN) == 0) {
		memcpy(pk_out, f->dev[0].sign_pk, crypto_sign_PUBLICKEYBYTES);
		return 0;
	}
	if (memcmp(device_id, f->dev[2].id, CS_BUNDLE_ID_LEN) == 0)
		return CS_BUNDLE_EREVOKED;
	return CS_BUNDLE_ESENDER;
}

static inline int
bfx_cabinet_key(void *ctx, uint32_t epoch, uint8_t *key_out)
{
	struct bfx *f = ctx;

	if (epoch == BFX_EPOCH) {
		memcpy(key_out, f->key[BFX_EPOCH], CS_BUNDLE_KEY_LEN);
		return 0;
	}
	return epoch < BFX_EPOCH ? CS_BUNDLE_EOLDEPOCH : CS_BUNDLE_EEPOCH;
}

static inline int
bfx_seen(void *ctx, const uint8_t *bundle_id)
{
	static const uint8_t replayed[CS_BUNDLE_ID_LEN] = {0xee, 0xee, 0xee, 0xee};

	(void)ctx;
	return memcmp(bundle_id, replayed, CS_BUNDLE_ID_LEN) == 0;
}

/* Open as device 1 (the recipient) at BFX_NOW_MS. */
static inline void
bfx_open_params(struct bfx *f, struct cs_bundle_open_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_len = 1 << 20;
	p->now_ms = BFX_NOW_MS;
	p->skew_ms = CS_BUNDLE_SKEW_DEFAULT_MS;
	p->cabinet_id = f->cabinet_id;
	p->device_id = f->dev[1].id;
	p->box_pk = f->dev[1].box_pk;
	p->box_sk = f->dev[1].box_sk;
	p->sender_key = bfx_sender_key;
	p->cabinet_key = bfx_cabinet_key;
	p->seen = bfx_seen;
	p->ctx = f;
}

/* Seal from device 0 to device 1 under the current epoch. */
static inline void
bfx_seal_params(struct bfx *f, struct cs_bundle_seal_params *p)
{
	memset(p, 0, sizeof(*p));
	p->cabinet_id = f->cabinet_id;
	p->cabinet_key = f->key[BFX_EPOCH];
	p->epoch = BFX_EPOCH;
	p->sender_id = f->dev[0].id;
	p->recipient_id = f->dev[1].id;
	p->recipient_pk = f->dev[1].box_pk;
	p->created_ms = BFX_NOW_MS - 1000;
	p->expires_ms = BFX_NOW_MS + BFX_LIFETIME;
}

/* Replace the signature with device d's signature over the bytes before it. */
static inline void
bfx_resign(uint8_t *buf, size_t len, const uint8_t *sign_sk)
{
	static const char dom[] = "cabsync bundle sig v1";
	uint8_t msg[sizeof(dom) - 1 + 64];

	if (len < CS_BUNDLE_SIG_LEN)
		return;
	memcpy(msg, dom, sizeof(dom) - 1);
	crypto_generichash(msg + sizeof(dom) - 1, 64, buf, len - CS_BUNDLE_SIG_LEN, NULL, 0);
	crypto_sign_detached(buf + len - CS_BUNDLE_SIG_LEN, NULL, msg, sizeof(msg), sign_sk);
}

#endif
