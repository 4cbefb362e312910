/*
 * tests/fuzz/noise_fuzz.h: the shared body of fuzz_noise_responder.c and
 * fuzz_noise_initiator.c (included once by each; FUZZ_TARGET_INITIATOR picks
 * the side under test). The side under test talks to an honest peer built
 * with fixed keys and fixed ephemerals (cs_wire_noise_test hooks), so runs are
 * deterministic and the fuzzer can reach every handshake state. The input
 * drives what the side under test receives:
 *
 *   byte 0           protocol (index into protos[], modulo)
 *   then chunks      op byte: 0 = deliver the honest message, 1 = deliver it
 *                    xored with the next 8 bytes at offset (next byte),
 *                    2 = truncate it to (next byte), 3 = replace it with raw
 *                    bytes (2-byte length, then the bytes), 4 = deliver the
 *                    previous message again (replay). Missing chunks = 0.
 *
 * After the handshake, each further chunk is a transport message of the honest
 * peer (a payload of the chunk's next byte count, mutated the same way), which
 * the side under test must decrypt and echo back.
 *
 * Invariants (abort = a finding): an unmodified honest message is always
 * accepted; any refusal leaves the side dead (every call CS_NOISE_EDEAD);
 * completed handshakes agree on the hash; echoed transport payloads match.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire/noise.h"

static const char *const protos[] = {
    CS_NOISE_PROTOCOL,
    CS_NOISE_XX,
    "Noise_NN_25519_ChaChaPoly_BLAKE2b",
    "Noise_IK_25519_ChaChaPoly_BLAKE2b",
    "Noise_XK1_25519_ChaChaPoly_BLAKE2b",
    "Noise_X1X1_25519_ChaChaPoly_BLAKE2b",
    "Noise_XXpsk0+psk1+psk2+psk3_25519_ChaChaPoly_BLAKE2b",
    "Noise_NNpsk2_25519_ChaChaPoly_BLAKE2b",
    "Noise_KK_25519_ChaChaPoly_BLAKE2b",
    "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b",
};

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t
take(struct input *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static size_t
count_psks(const char *name)
{
	size_t n = 0;
	const char *p = name;

	while ((p = strstr(p, "psk")) != NULL) {
		n++;
		p += 3;
	}
	return n;
}

static int
make(struct cs_noise *n, const char *name, bool initiator)
{
	static const uint8_t s_i[32] = {1}, s_r[32] = {2}, psks[4 * 32] = {3};
	uint8_t pub_i[32], pub_r[32];
	struct cs_noise_config c = {0};
	bool need_rs_i, need_rs_r;

	crypto_scalarmult_base(pub_i, s_i);
	crypto_scalarmult_base(pub_r, s_r);
	/* pre-messages: the initiator knows the responder's s in ?K/?K1/IK/N/X/K,
	 * the responder knows the initiator's in K? patterns */
	need_rs_i = strstr(name, "_IK") != NULL || strstr(name, "K_") != NULL ||
	    strstr(name, "K1_") != NULL;
	need_rs_r = strncmp(name, "Noise_K", 7) == 0;
	c.protocol = name;
	c.initiator = initiator;
	c.prologue = (const uint8_t *)"fuzz";
	c.prologue_len = 4;
	c.static_key = initiator ? s_i : s_r;
	c.remote_static = initiator ? (need_rs_i ? pub_r : NULL) : (need_rs_r ? pub_i : NULL);
	c.psks = psks;
	c.psk_count = count_psks(name);
	return cs_noise_init(n, &c);
}

static void
assert_dead(struct cs_noise *n)
{
	uint8_t b[64];
	size_t l;

	if (cs_noise_action(n) != CS_NOISE_FAILED || cs_noise_error(n) == 0 ||
	    cs_noise_write_message(n, NULL, 0, b, sizeof(b), &l) != CS_NOISE_EDEAD ||
	    cs_noise_read_message(n, b, 48, b, sizeof(b), &l) != CS_NOISE_EDEAD ||
	    cs_noise_encrypt(n, b, 1, b, sizeof(b), &l) != CS_NOISE_EDEAD ||
	    cs_noise_decrypt(n, b, 17, b, sizeof(b), &l) != CS_NOISE_EDEAD)
		abort();
}

/* Apply the next chunk's op to the honest message m (len) into out. */
static size_t
mutate(struct input *in, const uint8_t *m, size_t len, const uint8_t *prev, size_t prev_len,
    uint8_t *out, size_t cap, bool *modified)
{
	size_t i, off, n;

	switch (take(in) % 5) {
	case 1:
		memcpy(out, m, len);
		off = take(in);
		for (i = 0; i < 8; i++) {
			uint8_t x = take(in);

			if (len > 0)
				out[(off + i) % len] ^= x;
		}
		*modified = memcmp(out, m, len) != 0;
		return len;
	case 2:
		n = take(in);
		n = n < len ? n : len;
		memcpy(out, m, n);
		*modified = n != len;
		return n;
	case 3:
		n = (size_t)take(in) << 8;
		n |= take(in);
		n = n < in->left ? n : in->left;
		n = n < cap ? n : cap;
		memcpy(out, in->p, n);
		in->p += n;
		in->left -= n;
		*modified = n != len || memcmp(out, m, n) != 0;
		return n;
	case 4:
		if (prev_len > 0) {
			memcpy(out, prev, prev_len);
			*modified = prev_len != len || memcmp(out, m, len) != 0;
			return prev_len;
		}
		/* FALLTHROUGH */
	default:
		memcpy(out, m, len);
		*modified = false;
		return len;
	}
}

static uint8_t honest_buf[CS_NOISE_MAX_MSG], wire_buf[CS_NOISE_MAX_MSG], prev_buf[CS_NOISE_MAX_MSG];
static uint8_t plain_buf[CS_NOISE_MAX_MSG];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t e_i[32] = {4}, e_r[32] = {5};
	struct input in = {data, size};
	struct cs_noise target, honest;
	const char *name;
	uint8_t h1[CS_NOISE_HASH_LEN], h2[CS_NOISE_HASH_LEN];
	size_t len, wlen, plen, prev_len = 0;
	bool modified, tampered = false, target_init = FUZZ_TARGET_INITIATOR;
	int rc, rounds;

	if (sodium_init() < 0)
		abort();
	name = protos[take(&in) % (sizeof(protos) / sizeof(protos[0]))];
	if (make(&target, name, target_init) != 0 || make(&honest, name, !target_init) != 0)
		abort();
	cs_noise_test_set_ephemeral(&target, target_init ? e_i : e_r);
	cs_noise_test_set_ephemeral(&honest, target_init ? e_r : e_i);

	for (rounds = 0; rounds < 16 && !cs_noise_handshake_done(&target); rounds++) {
		if (cs_noise_action(&target) == CS_NOISE_WRITE) {
			if (cs_noise_write_message(&target, NULL, 0, wire_buf, sizeof(wire_buf),
			        &len) != 0) {
				/* e.g. CS_NOISE_EDH: a forged low-order e accepted unauthenticated
				 * in plain XX message 1 makes the DH of message 2 fail */
				if (!tampered)
					abort();
				assert_dead(&target);
				goto out;
			}
			if (cs_noise_read_message(&honest, wire_buf, len, plain_buf,
			        sizeof(plain_buf), &plen) != 0) {
				if (!tampered)
					abort(); /* an honest exchange must work */
				goto out;
			}
			continue;
		}
		/* the honest peer writes (a payload from the input), the target reads */
		plen = take(&in);
		plen = plen < in.left ? plen : in.left;
		if (cs_noise_write_message(&honest, in.p, plen, honest_buf, sizeof(honest_buf),
		        &len) != 0)
			abort();
		in.p += plen;
		in.left -= plen;
		wlen = mutate(&in, honest_buf, len, prev_buf, prev_len, wire_buf, sizeof(wire_buf),
		    &modified);
		memcpy(prev_buf, honest_buf, len);
		prev_len = len;
		rc = cs_noise_read_message(&target, wire_buf, wlen, plain_buf, sizeof(plain_buf),
		    &plen);
		if (rc != 0) {
			if (!modified && !tampered)
				abort(); /* the honest message was refused */
			assert_dead(&target);
			goto out;
		}
		tampered = tampered || modified; /* accepted, e.g. plain XX message 1 */
	}
	if (!cs_noise_handshake_done(&target))
		abort();
	if (cs_noise_handshake_done(&honest)) {
		if (cs_noise_handshake_hash(&target, h1) != 0 ||
		    cs_noise_handshake_hash(&honest, h2) != 0)
			abort();
		if (memcmp(h1, h2, sizeof(h1)) != 0 && !tampered)
			abort();
	} else {
		goto out; /* the target wrote the last message and is done */
	}
	/* transport: the honest peer sends, the target decrypts and echoes */
	while (in.left > 0 && strncmp(name, "Noise_N_", 8) != 0) {
		plen = take(&in);
		plen = plen < in.left ? plen : in.left;
		memcpy(plain_buf, in.p, plen);
		in.p += plen;
		in.left -= plen;
		if (cs_noise_encrypt(&honest, plain_buf, plen, honest_buf, sizeof(honest_buf),
		        &len) != 0)
			abort();
		wlen = mutate(&in, honest_buf, len, prev_buf, prev_len, wire_buf, sizeof(wire_buf),
		    &modified);
		memcpy(prev_buf, honest_buf, len);
		prev_len = len;
		rc = cs_noise_decrypt(&target, wire_buf, wlen, wire_buf, sizeof(wire_buf), &wlen);
		if (rc != 0) {
			if (!modified && !tampered)
				abort();
			assert_dead(&target);
			break;
		}
		/* AEAD: nothing but what the honest peer sent is ever accepted */
		if (wlen != plen || memcmp(wire_buf, plain_buf, plen) != 0)
			abort();
		if (cs_noise_encrypt(&target, wire_buf, wlen, wire_buf, sizeof(wire_buf), &len) !=
		    0)
			abort();
		if (cs_noise_decrypt(&honest, wire_buf, len, wire_buf, sizeof(wire_buf), &wlen) !=
		    0) {
			if (!tampered)
				abort();
			break;
		}
	}
out:
	cs_noise_free(&target);
	cs_noise_free(&honest);
	return 0;
}
