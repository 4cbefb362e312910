/*
 * bench_bundle: seal and open of a 10 MB payload (wire/bundle, streaming API,
 * 64 KiB chunks, into preallocated buffers) against raw
 * crypto_secretstream_xchacha20poly1305 push / pull of the same payload with
 * the same chunk size, measured in the same process, interleaved, median of
 * RUNS. Also measures a BLAKE2b-512 pass over the same bytes: the digest the
 * signature covers (docs/PROTOCOL.md §6.6), the one pass a bundle adds.
 * Prints one Markdown section (tests/bench/run-all.sh gathers them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "../fuzz/bundle_fixture.h"
#include "base/mem.h"
#include "bench_goal.h"
#include "wire/bundle.h"

#define PAYLOAD (10u * 1000u * 1000u)
#define CHUNK   CS_BUNDLE_CHUNK_DEFAULT
#define RUNS    9

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

struct outbuf {
	uint8_t *p;
	size_t len, cap;
};

static int
out_write(void *ctx, const uint8_t *p, size_t n)
{
	struct outbuf *o = ctx;

	if (n > o->cap - o->len)
		return CS_ERANGE;
	memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

static size_t
raw_push(const uint8_t *in, uint8_t *out, const uint8_t *key)
{
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned long long clen;
	size_t off = 0, pos = crypto_secretstream_xchacha20poly1305_HEADERBYTES, n;

	crypto_secretstream_xchacha20poly1305_init_push(&st, out, key);
	do {
		n = PAYLOAD - off > CHUNK ? CHUNK : PAYLOAD - off;
		crypto_secretstream_xchacha20poly1305_push(&st, out + pos, &clen, in + off, n, NULL,
		    0,
		    off + n == PAYLOAD ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
		                       : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
		off += n;
		pos += (size_t)clen;
	} while (off < PAYLOAD);
	return pos;
}

static int
raw_pull(const uint8_t *in, size_t len, uint8_t *out, const uint8_t *key)
{
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned long long mlen;
	unsigned char tag = 0;
	size_t pos = crypto_secretstream_xchacha20poly1305_HEADERBYTES, off = 0, c;

	if (crypto_secretstream_xchacha20poly1305_init_pull(&st, in, key) != 0)
		return -1;
	while (pos < len) {
		c = len - pos > CHUNK + 17 ? CHUNK + 17 : len - pos;
		if (crypto_secretstream_xchacha20poly1305_pull(&st, out + off, &mlen, &tag,
		        in + pos, c, NULL, 0) != 0)
			return -1;
		pos += c;
		off += (size_t)mlen;
	}
	return tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL && off == PAYLOAD ? 0 : -1;
}

static int
bundle_seal(struct bfx *fx, const uint8_t *in, struct outbuf *o)
{
	struct cs_bundle_seal_params sp;
	struct cs_bundle_sealer s;
	int rc;

	bfx_seal_params(fx, &sp);
	o->len = 0;
	rc = cs_bundle_seal_init(&s, &sp, out_write, o);
	if (rc == 0)
		rc = cs_bundle_seal_push(&s, in, PAYLOAD);
	if (rc == 0)
		rc = cs_bundle_seal_final(&s, fx->dev[0].sign_sk);
	cs_bundle_seal_free(&s);
	return rc;
}

static int
bundle_open(struct bfx *fx, const struct outbuf *b, uint8_t *out)
{
	struct cs_bundle_open_params op;
	struct cs_bundle_opener o;
	size_t off = 0, n;
	bool last = false;
	int rc;

	bfx_open_params(fx, &op);
	op.max_len = b->len;
	rc = cs_bundle_open_init(&o, b->p, b->len, &op, NULL);
	while (rc == 0 && !last) {
		rc = cs_bundle_open_next(&o, out + off, PAYLOAD - off, &n, &last);
		off += n;
	}
	cs_bundle_open_free(&o);
	return rc == 0 && off == PAYLOAD ? 0 : -1;
}

int
main(void)
{
	static struct bfx fx;
	double t_push[RUNS], t_pull[RUNS], t_seal[RUNS], t_open[RUNS], t_hash[RUNS], t0;
	double push, pull, sealr, openr, hash;
	uint8_t key[32], digest[64];
	uint8_t *in, *raw, *plain;
	struct outbuf b;
	size_t raw_len = 0;
	int i;

	if (sodium_init() < 0)
		return 1;
	bfx_init(&fx);
	in = malloc(PAYLOAD);
	plain = malloc(PAYLOAD);
	b.cap = (size_t)cs_bundle_sealed_len(PAYLOAD, CHUNK);
	b.p = malloc(b.cap);
	raw = malloc(PAYLOAD + (PAYLOAD / CHUNK + 1) * 17 + 64);
	if (in == NULL || plain == NULL || b.p == NULL || raw == NULL)
		return 1;
	randombytes_buf(in, PAYLOAD);
	randombytes_buf(key, sizeof(key));
	/* touch every page once before timing */
	memset(plain, 0, PAYLOAD);
	memset(b.p, 0, b.cap);
	raw_len = raw_push(in, raw, key);
	for (i = 0; i < RUNS; i++) {
		t0 = now_s();
		raw_len = raw_push(in, raw, key);
		t_push[i] = now_s() - t0;
		t0 = now_s();
		if (bundle_seal(&fx, in, &b) != 0)
			return 1;
		t_seal[i] = now_s() - t0;
		t0 = now_s();
		if (raw_pull(raw, raw_len, plain, key) != 0)
			return 1;
		t_pull[i] = now_s() - t0;
		t0 = now_s();
		if (bundle_open(&fx, &b, plain) != 0 || memcmp(plain, in, PAYLOAD) != 0)
			return 1;
		t_open[i] = now_s() - t0;
		t0 = now_s();
		crypto_generichash(digest, sizeof(digest), b.p, b.len - 64, NULL, 0);
		t_hash[i] = now_s() - t0;
	}
	push = PAYLOAD / median(t_push, RUNS) / 1e6;
	pull = PAYLOAD / median(t_pull, RUNS) / 1e6;
	sealr = PAYLOAD / median(t_seal, RUNS) / 1e6;
	openr = PAYLOAD / median(t_open, RUNS) / 1e6;
	hash = PAYLOAD / median(t_hash, RUNS) / 1e6;
	printf("## Sealed relay bundles (wire/bundle)\n\n");
	printf("| figure | ours | raw baseline, same run | ratio | goal |\n");
	printf("|---|---|---|---|---|\n");
	printf("| seal 10 MB payload | %.0f MB/s | secretstream push %.0f MB/s | %.0f %% | ≥ 70 %% "
	       "|\n",
	    sealr, push, 100.0 * sealr / push);
	printf("| open 10 MB payload | %.0f MB/s | secretstream pull %.0f MB/s | %.0f %% | ≥ 70 %% "
	       "|\n",
	    openr, pull, 100.0 * openr / pull);
	cs_bench_goal("seal 10 MB, vs. raw secretstream push", 100.0 * sealr / push, ">=", 70, "%");
	cs_bench_goal("open 10 MB, vs. raw secretstream pull", 100.0 * openr / pull, ">=", 70, "%");
	printf("| BLAKE2b-512 of the same bytes (the signed digest) | %.0f MB/s | | | |\n", hash);
	printf("| ceiling for seal with one digest pass: 1 / (1/push + 1/BLAKE2b) | %.0f MB/s | "
	       "secretstream push %.0f MB/s | %.0f %% | |\n",
	    1.0 / (1.0 / push + 1.0 / hash), push, 100.0 / (1.0 + push / hash));
	printf("\nMeasured: one 10 MB random payload, 64 KiB chunks, sealed with the streaming API "
	       "(cs_bundle_seal_init/push/final into a preallocated buffer: header, key envelope, "
	       "secretstream, BLAKE2b-512 digest, Ed25519 signature) and opened with "
	       "cs_bundle_open_init/next into a preallocated buffer (digest + signature check, "
	       "outer layer, sealed key, secretstream pull), against raw secretstream push/pull "
	       "of the same payload and chunk size; median of %d interleaved runs. The signature "
	       "covers a BLAKE2b-512 digest of every byte (PROTOCOL.md §6.6): that one extra pass "
	       "bounds the ratio (last row).\n",
	    RUNS);
	free(in);
	free(plain);
	free(b.p);
	free(raw);
	return 0;
}
