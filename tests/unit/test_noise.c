/*
 * tests/unit/test_noise.c: wire/noise against the published test vectors
 * (../shared/vectors/noise/, every one of the 110, byte for byte), then the
 * failures cabsync relies on: wrong psk or prologue at message 1, flipped
 * bits, truncation, replays, nonce exhaustion, bad protocol names. Each
 * failure must give its own code and leave the session dead.
 *
 * Links cs_wire_noise_test (wire/noise.c built with CS_NOISE_TEST_HOOKS for
 * fixed ephemerals and nonces). The JSON vectors are flattened by
 * tests/unit/noise_vectors.py (Debian's /usr/bin/python3), read here.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "wire/noise.h"

#define MAXB    1024
#define MAXMSGS 16

static void assert_dead(struct cs_noise *n, int err);

struct field {
	uint8_t b[MAXB];
	size_t len;
	int present;
};

struct vec {
	char name[128];
	struct field init_prologue, resp_prologue, init_static, resp_static;
	struct field init_ephemeral, resp_ephemeral, init_remote_static, resp_remote_static;
	struct field handshake_hash;
	uint8_t init_psks[CS_NOISE_MAX_PSKS * 32], resp_psks[CS_NOISE_MAX_PSKS * 32];
	size_t n_init_psks, n_resp_psks;
	struct field payload[MAXMSGS], ciphertext[MAXMSGS];
	size_t nmsgs;
};

static int
unhex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(s), i;
	unsigned int v;

	if (strcmp(s, "-") == 0) {
		*len = 0;
		return 0;
	}
	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

static void
set_field(struct field *f, const char *hex)
{
	assert_int_equal(unhex(hex, f->b, sizeof(f->b), &f->len), 0);
	f->present = 1;
}

static const uint8_t *
opt(const struct field *f)
{
	return f->present ? f->b : NULL;
}

/* Cross-check both parties after the handshake (vectors README, step 4). */
static void
check_handshake_end(const struct vec *v, struct cs_noise *ini, struct cs_noise *res)
{
	uint8_t h1[CS_NOISE_HASH_LEN], h2[CS_NOISE_HASH_LEN], pub[32], rs[32];

	assert_true(cs_noise_handshake_done(ini));
	assert_true(cs_noise_handshake_done(res));
	assert_int_equal(cs_noise_handshake_hash(ini, h1), 0);
	assert_int_equal(cs_noise_handshake_hash(res, h2), 0);
	assert_memory_equal(h1, h2, sizeof(h1));
	if (v->handshake_hash.present) {
		assert_int_equal(v->handshake_hash.len, CS_NOISE_HASH_LEN);
		assert_memory_equal(h1, v->handshake_hash.b, CS_NOISE_HASH_LEN);
	}
	if (v->resp_static.present) {
		crypto_scalarmult_base(pub, v->resp_static.b);
		assert_int_equal(cs_noise_remote_static(ini, rs), 0);
		assert_memory_equal(rs, pub, 32);
	}
	if (v->init_static.present) {
		crypto_scalarmult_base(pub, v->init_static.b);
		assert_int_equal(cs_noise_remote_static(res, rs), 0);
		assert_memory_equal(rs, pub, 32);
	}
}

/* One-way patterns (a single message pattern): the initiator sends everything. */
static int
is_one_way(const char *name)
{
	return strncmp(name, "Noise_N_", 8) == 0 || strncmp(name, "Noise_K_", 8) == 0 ||
	    strncmp(name, "Noise_X_", 8) == 0 || strncmp(name, "Noise_Npsk", 10) == 0 ||
	    strncmp(name, "Noise_Kpsk", 10) == 0 || strncmp(name, "Noise_Xpsk", 10) == 0;
}

/* Both parties' configurations from a vector; the responder may get other psks. */
static void
vector_configs(const struct vec *v, struct cs_noise_config *ci, struct cs_noise_config *cr,
    const uint8_t *resp_psks)
{
	memset(ci, 0, sizeof(*ci));
	memset(cr, 0, sizeof(*cr));
	ci->protocol = cr->protocol = v->name;
	ci->initiator = true;
	ci->prologue = v->init_prologue.b;
	ci->prologue_len = v->init_prologue.len;
	ci->static_key = opt(&v->init_static);
	ci->remote_static = opt(&v->init_remote_static);
	ci->psks = v->init_psks;
	ci->psk_count = v->n_init_psks;
	cr->prologue = v->resp_prologue.b;
	cr->prologue_len = v->resp_prologue.len;
	cr->static_key = opt(&v->resp_static);
	cr->remote_static = opt(&v->resp_remote_static);
	cr->psks = resp_psks;
	cr->psk_count = v->n_resp_psks;
}

/*
 * README step 6 on one vector: a live exchange with the vector's keys and
 * payloads where message flip_at (if >= 0) has the low bit of its last byte
 * flipped in transit and, if bad_psk, the responder holds other psks. Returns
 * the first error (0 if none), its message index in *fail_at, and checks that
 * the side that failed is dead.
 */
static int
run_vector_mutated(const struct vec *v, int flip_at, int bad_psk, int *fail_at, int *in_hs)
{
	struct cs_noise ini, res, *snd, *rcv;
	struct cs_noise_config ci, cr;
	uint8_t out[MAXB], pt[MAXB], psks[sizeof(v->resp_psks)];
	size_t i, olen, plen;
	int one_way = is_one_way(v->name), rc = 0;

	memcpy(psks, v->resp_psks, sizeof(psks));
	if (bad_psk)
		for (i = 0; i < v->n_resp_psks; i++)
			psks[i * 32] ^= 0x80;
	vector_configs(v, &ci, &cr, psks);
	assert_int_equal(cs_noise_init(&ini, &ci), 0);
	assert_int_equal(cs_noise_init(&res, &cr), 0);
	*fail_at = -1;
	for (i = 0; i < v->nmsgs; i++) {
		const struct field *p = &v->payload[i];

		snd = (one_way || i % 2 == 0) ? &ini : &res;
		rcv = snd == &ini ? &res : &ini;
		*in_hs = !cs_noise_handshake_done(snd);
		if (*in_hs) {
			assert_int_equal(
			    cs_noise_write_message(snd, p->b, p->len, out, sizeof(out), &olen), 0);
			if ((int)i == flip_at)
				out[olen - 1] ^= 1;
			rc = cs_noise_read_message(rcv, out, olen, pt, sizeof(pt), &plen);
		} else {
			assert_int_equal(
			    cs_noise_encrypt(snd, p->b, p->len, out, sizeof(out), &olen), 0);
			if ((int)i == flip_at)
				out[olen - 1] ^= 1;
			rc = cs_noise_decrypt(rcv, out, olen, pt, sizeof(pt), &plen);
		}
		if (rc != 0) {
			*fail_at = (int)i;
			assert_dead(rcv, rc);
			break;
		}
		if ((int)i == flip_at)
			break; /* accepted: an unkeyed first message */
	}
	cs_noise_free(&ini);
	cs_noise_free(&res);
	return rc;
}

/* One vector, steps 1-5 of the README. Returns 1 when it passed. */
static int
run_vector(const struct vec *v)
{
	struct cs_noise ini, res, *snd, *rcv;
	struct cs_noise_config ci, cr;
	uint8_t out[MAXB], pt[MAXB];
	size_t i, olen, plen;
	int one_way, hs = 1;

	vector_configs(v, &ci, &cr, v->resp_psks);
	if (cs_noise_init(&ini, &ci) != 0 || cs_noise_init(&res, &cr) != 0) {
		print_error("%s: init failed\n", v->name);
		return 0;
	}
	if (v->init_ephemeral.present)
		assert_int_equal(cs_noise_test_set_ephemeral(&ini, v->init_ephemeral.b), 0);
	if (v->resp_ephemeral.present)
		assert_int_equal(cs_noise_test_set_ephemeral(&res, v->resp_ephemeral.b), 0);
	one_way = is_one_way(v->name);
	for (i = 0; i < v->nmsgs; i++) {
		const struct field *p = &v->payload[i], *c = &v->ciphertext[i];
		int ri, rr;

		snd = (one_way || i % 2 == 0) ? &ini : &res;
		rcv = snd == &ini ? &res : &ini;
		if (hs && cs_noise_handshake_done(snd)) {
			check_handshake_end(v, &ini, &res);
			hs = 0;
		}
		if (hs) {
			assert_int_equal(cs_noise_action(snd), CS_NOISE_WRITE);
			assert_int_equal(cs_noise_action(rcv), CS_NOISE_READ);
			assert_int_equal(cs_noise_write_len(snd, p->len), c->len);
			ri = cs_noise_write_message(snd, p->b, p->len, out, sizeof(out), &olen);
			rr = cs_noise_read_message(rcv, c->b, c->len, pt, sizeof(pt), &plen);
		} else {
			ri = cs_noise_encrypt(snd, p->b, p->len, out, sizeof(out), &olen);
			rr = cs_noise_decrypt(rcv, c->b, c->len, pt, sizeof(pt), &plen);
		}
		if (ri != 0 || rr != 0 || olen != c->len || memcmp(out, c->b, olen) != 0 ||
		    plen != p->len || memcmp(pt, p->b, plen) != 0) {
			print_error("%s: message %zu differs (write %d, read %d)\n", v->name, i, ri,
			    rr);
			cs_noise_free(&ini);
			cs_noise_free(&res);
			return 0;
		}
	}
	if (hs)
		check_handshake_end(v, &ini, &res);
	cs_noise_free(&ini);
	cs_noise_free(&res);
	return 1;
}

/*
 * README step 6 for every vector: a flipped bit in any message fails, except
 * in a first message that carries no tag (32 or 64 bytes around the payload:
 * e, or e and s, in clear); other psks fail, at message 1 with psk0.
 */
static int
check_vector_failures(const struct vec *v)
{
	size_t i, clear;
	int rc, at, hs;

	for (i = 0; i < v->nmsgs; i++) {
		clear = v->ciphertext[i].len - v->payload[i].len;
		rc = run_vector_mutated(v, (int)i, 0, &at, &hs);
		if (i == 0 && (clear == 32 || clear == 64)) {
			if (rc != 0)
				return 0;
			continue;
		}
		if (at != (int)i ||
		    rc !=
		        (!hs             ? CS_NOISE_EDECRYPT
		                : i == 0 ? CS_NOISE_EAUTH1
		                         : CS_NOISE_EAUTH)) {
			print_error("%s: flipped bit in message %zu: %d at %d\n", v->name, i, rc,
			    at);
			return 0;
		}
	}
	if (v->n_resp_psks > 0) {
		rc = run_vector_mutated(v, -1, 1, &at, &hs);
		if (rc == 0 ||
		    (strstr(v->name, "psk0") != NULL && (rc != CS_NOISE_EAUTH1 || at != 0))) {
			print_error("%s: other psks: %d at %d\n", v->name, rc, at);
			return 0;
		}
		/* psk3 on XX: nothing before message 3 depends on the psk */
		if (strcmp(v->name, "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b") == 0 &&
		    (rc != CS_NOISE_EAUTH || at != 2))
			return 0;
	}
	return 1;
}

static void
test_noise_vectors_all_pass(void **state)
{
	const char *src = getenv("CS_SOURCE_DIR"), *shared = getenv("CS_SHARED_DIR");
	char cmd[2048], *line = NULL, *sp;
	size_t cap = 0, seen = 0, passed = 0, failed_ok = 0, count = 0, expected = 0;
	struct vec *v;
	FILE *f;

	(void)state;
	assert_non_null(src);
	assert_non_null(shared);
	snprintf(cmd, sizeof(cmd),
	    "/usr/bin/python3 '%s/tests/unit/noise_vectors.py' '%s/vectors/noise/cacophony.json' "
	    "'%s/vectors/noise/snow.json'",
	    src, shared, shared);
	f = popen(cmd, "r");
	assert_non_null(f);
	v = calloc(1, sizeof(*v));
	assert_non_null(v);
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		sp = strchr(line, ' ');
		if (strcmp(line, "IP") == 0 || strcmp(line, "RP") == 0)
			continue; /* an empty psk list */
		if (strcmp(line, "END") == 0) {
			seen++;
			passed += (size_t)run_vector(v);
			failed_ok += (size_t)check_vector_failures(v);
			memset(v, 0, sizeof(*v));
			continue;
		}
		assert_non_null(sp);
		*sp++ = '\0';
		if (strcmp(line, "V") == 0) {
			assert_true(strlen(sp) < sizeof(v->name));
			strcpy(v->name, sp);
		} else if (strcmp(line, "COUNT") == 0) {
			count = strtoul(sp, NULL, 10);
			expected = 1;
		} else if (strcmp(line, "IP") == 0 || strcmp(line, "RP") == 0) {
			int init = line[0] == 'I';
			char *tok;

			for (tok = strtok(sp, " "); tok != NULL; tok = strtok(NULL, " ")) {
				size_t *np = init ? &v->n_init_psks : &v->n_resp_psks, l;
				uint8_t *dst = (init ? v->init_psks : v->resp_psks) + *np * 32;

				assert_true(*np < CS_NOISE_MAX_PSKS);
				assert_int_equal(unhex(tok, dst, 32, &l), 0);
				assert_int_equal(l, 32);
				(*np)++;
			}
		} else if (strcmp(line, "M") == 0) {
			char *ct = strchr(sp, ' ');

			assert_non_null(ct);
			*ct++ = '\0';
			assert_true(v->nmsgs < MAXMSGS);
			set_field(&v->payload[v->nmsgs], sp);
			set_field(&v->ciphertext[v->nmsgs], ct);
			v->nmsgs++;
		}
#define F(x) else if (strcmp(line, #x) == 0) set_field(&v->x, sp);
		F(init_prologue)
		F(resp_prologue)
		F(init_static)
		F(resp_static)
		F(init_ephemeral)
		F(resp_ephemeral)
		F(init_remote_static)
		F(resp_remote_static)
		F(handshake_hash)
#undef F
		else fail_msg("unknown line %s", line);
	}
	free(line);
	free(v);
	assert_int_equal(pclose(f), 0);
	assert_true(expected);
	printf("noise vectors: %zu/%zu passed (files list %zu); flipped bits and other psks "
	       "refused in %zu/%zu\n",
	    passed, seen, count, failed_ok, seen);
	/* Nothing may be skipped: all 110 published vectors of our suite. */
	assert_int_equal(count, 110);
	assert_int_equal(seen, 110);
	assert_int_equal(passed, 110);
	assert_int_equal(failed_ok, 110);
}

/* ---- cabsync's XXpsk0 and its failures ---- */

struct pair {
	struct cs_noise i, r;
	uint8_t si[32], sr[32];
	uint8_t msg[3][256];
	size_t len[3];
};

static void
pair_init(struct pair *p, const uint8_t psk_i[32], const uint8_t psk_r[32], const char *pro_i,
    const char *pro_r)
{
	struct cs_noise_config c = {0};

	memset(p, 0, sizeof(*p));
	randombytes_buf(p->si, 32);
	randombytes_buf(p->sr, 32);
	c.initiator = true;
	c.prologue = (const uint8_t *)pro_i;
	c.prologue_len = strlen(pro_i);
	c.static_key = p->si;
	c.psks = psk_i;
	c.psk_count = 1;
	assert_int_equal(cs_noise_init(&p->i, &c), 0);
	c.initiator = false;
	c.prologue = (const uint8_t *)pro_r;
	c.prologue_len = strlen(pro_r);
	c.static_key = p->sr;
	c.psks = psk_r;
	assert_int_equal(cs_noise_init(&p->r, &c), 0);
}

static void
pair_free(struct pair *p)
{
	cs_noise_free(&p->i);
	cs_noise_free(&p->r);
}

static const uint8_t PSK[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t PSK2[32] = {1, 2, 3, 4, 5, 6, 7, 8, 10};

/*
 * Run the handshake up to (not including) the read of message `upto`
 * (0..2); message `upto` is written into p->msg[upto]. upto = 3: complete.
 */
static void
pair_run(struct pair *p, int upto)
{
	uint8_t pl[64];
	size_t pl_len;
	int k;

	for (k = 0; k < 3; k++) {
		struct cs_noise *w = k % 2 == 0 ? &p->i : &p->r, *r = k % 2 == 0 ? &p->r : &p->i;

		assert_int_equal(cs_noise_write_message(w, (const uint8_t *)"hi", 2, p->msg[k],
		                     sizeof(p->msg[k]), &p->len[k]),
		    0);
		if (k == upto)
			return;
		assert_int_equal(
		    cs_noise_read_message(r, p->msg[k], p->len[k], pl, sizeof(pl), &pl_len), 0);
		assert_int_equal(pl_len, 2);
		assert_memory_equal(pl, "hi", 2);
	}
}

/* After a failure: dead, first error kept, every call refused. */
static void
assert_dead(struct cs_noise *n, int err)
{
	uint8_t buf[128], h[64];
	size_t len;

	assert_int_equal(cs_noise_action(n), CS_NOISE_FAILED);
	assert_int_equal(cs_noise_error(n), err);
	assert_null(n->st);
	assert_int_equal(cs_noise_write_message(n, NULL, 0, buf, sizeof(buf), &len),
	    CS_NOISE_EDEAD);
	assert_int_equal(cs_noise_read_message(n, buf, 64, buf, sizeof(buf), &len), CS_NOISE_EDEAD);
	assert_int_equal(cs_noise_encrypt(n, buf, 1, buf, sizeof(buf), &len), CS_NOISE_EDEAD);
	assert_int_equal(cs_noise_decrypt(n, buf, 17, buf, sizeof(buf), &len), CS_NOISE_EDEAD);
	assert_int_equal(cs_noise_handshake_hash(n, h), CS_NOISE_EDEAD);
	assert_int_equal(cs_noise_error(n), err);
}

static void
test_noise_xxpsk0_completes_with_expected_sizes(void **state)
{
	struct pair p;
	uint8_t h1[64], h2[64], rs[32], pub[32], buf[128], pt[128];
	size_t len, plen;

	(void)state;
	pair_init(&p, PSK, PSK, "pro", "pro");
	/* Empty payloads: 48, 96, 64 bytes (psk mode: message 1 is keyed). */
	assert_int_equal(cs_noise_write_len(&p.i, 0), 48);
	assert_int_equal(cs_noise_write_len(&p.r, 0), 0); /* not its turn */
	pair_run(&p, 2);
	assert_int_equal(p.len[1], 96 + 2);
	/* The initiator knows the responder's static after message 2, before writing 3. */
	assert_int_equal(cs_noise_remote_static(&p.i, rs), 0);
	crypto_scalarmult_base(pub, p.sr);
	assert_memory_equal(rs, pub, 32);
	assert_int_equal(cs_noise_remote_static(&p.r, rs), CS_ENOENT);
	/* The initiator is done once it has written message 3, the responder not yet. */
	assert_true(cs_noise_handshake_done(&p.i));
	assert_int_equal(cs_noise_handshake_hash(&p.r, h1), CS_NOISE_ENOTDONE);
	assert_int_equal(cs_noise_encrypt(&p.r, buf, 1, buf, sizeof(buf), &len), CS_NOISE_ENOTDONE);
	assert_dead(&p.r, CS_NOISE_ENOTDONE);
	pair_free(&p);

	pair_init(&p, PSK, PSK, "pro", "pro");
	pair_run(&p, 3);
	assert_int_equal(p.len[0], 48 + 2);
	assert_int_equal(p.len[2], 64 + 2);
	assert_true(cs_noise_handshake_done(&p.i));
	assert_true(cs_noise_handshake_done(&p.r));
	assert_int_equal(cs_noise_handshake_hash(&p.i, h1), 0);
	assert_int_equal(cs_noise_handshake_hash(&p.r, h2), 0);
	assert_memory_equal(h1, h2, 64);
	assert_int_equal(cs_noise_remote_static(&p.r, rs), 0);
	crypto_scalarmult_base(pub, p.si);
	assert_memory_equal(rs, pub, 32);
	assert_int_equal(cs_noise_local_static(&p.i, rs), 0);
	assert_memory_equal(rs, pub, 32);
	/* transport both ways, in place, then after a Rekey on both sides */
	memcpy(buf, "ping", 4);
	assert_int_equal(cs_noise_encrypt(&p.i, buf, 4, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 20);
	assert_int_equal(cs_noise_decrypt(&p.r, buf, len, buf, sizeof(buf), &plen), 0);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(cs_noise_encrypt(&p.r, (const uint8_t *)"pong", 4, buf, sizeof(buf), &len),
	    0);
	assert_int_equal(cs_noise_decrypt(&p.i, buf, len, pt, sizeof(pt), &plen), 0);
	assert_memory_equal(pt, "pong", 4);
	assert_int_equal(cs_noise_rekey(&p.i, true), 0);
	assert_int_equal(cs_noise_rekey(&p.r, false), 0);
	assert_int_equal(cs_noise_encrypt(&p.i, (const uint8_t *)"x", 1, buf, sizeof(buf), &len),
	    0);
	assert_int_equal(cs_noise_decrypt(&p.r, buf, len, pt, sizeof(pt), &plen), 0);
	assert_int_equal(plen, 1);
	/* Rekey on one side only: the next message fails. */
	assert_int_equal(cs_noise_rekey(&p.r, true), 0);
	assert_int_equal(cs_noise_encrypt(&p.r, (const uint8_t *)"x", 1, buf, sizeof(buf), &len),
	    0);
	assert_int_equal(cs_noise_decrypt(&p.i, buf, len, pt, sizeof(pt), &plen),
	    CS_NOISE_EDECRYPT);
	assert_dead(&p.i, CS_NOISE_EDECRYPT);
	pair_free(&p);
}

static void
test_noise_plain_xx_and_xxpsk0_differ(void **state)
{
	struct cs_noise a;
	struct cs_noise_config c = {0};
	uint8_t s[32] = {7};

	(void)state;
	c.protocol = CS_NOISE_XX;
	c.initiator = true;
	c.static_key = s;
	assert_int_equal(cs_noise_init(&a, &c), 0);
	assert_int_equal(cs_noise_write_len(&a, 0), 32); /* plain XX: no key in message 1 */
	cs_noise_free(&a);
}

static void
test_noise_wrong_psk_fails_at_message_1(void **state)
{
	struct pair p;
	uint8_t pl[64];
	size_t len;

	(void)state;
	pair_init(&p, PSK, PSK2, "pro", "pro");
	pair_run(&p, 0);
	assert_int_equal(cs_noise_read_message(&p.r, p.msg[0], p.len[0], pl, sizeof(pl), &len),
	    CS_NOISE_EAUTH1);
	assert_dead(&p.r, CS_NOISE_EAUTH1);
	pair_free(&p);
}

static void
test_noise_wrong_prologue_fails_at_message_1(void **state)
{
	struct pair p;
	uint8_t pl[64];
	size_t len;

	(void)state;
	pair_init(&p, PSK, PSK, "cabsync/1", "cabsync/2");
	pair_run(&p, 0);
	assert_int_equal(cs_noise_read_message(&p.r, p.msg[0], p.len[0], pl, sizeof(pl), &len),
	    CS_NOISE_EAUTH1);
	assert_dead(&p.r, CS_NOISE_EAUTH1);
	pair_free(&p);
}

static void
test_noise_flipped_bit_in_each_handshake_message_fails(void **state)
{
	struct pair p;
	uint8_t pl[64];
	size_t len, bit, nbits;
	int k;

	(void)state;
	for (k = 0; k < 3; k++) {
		pair_init(&p, PSK, PSK, "", "");
		pair_run(&p, k);
		nbits = p.len[k] * 8;
		pair_free(&p);
		for (bit = 0; bit < nbits; bit++) {
			struct cs_noise *r;

			pair_init(&p, PSK, PSK, "", "");
			pair_run(&p, k);
			r = k % 2 == 0 ? &p.r : &p.i;
			p.msg[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(
			    cs_noise_read_message(r, p.msg[k], p.len[k], pl, sizeof(pl), &len),
			    k == 0 ? CS_NOISE_EAUTH1 : CS_NOISE_EAUTH);
			assert_dead(r, k == 0 ? CS_NOISE_EAUTH1 : CS_NOISE_EAUTH);
			pair_free(&p);
		}
	}
}

static void
test_noise_flipped_bit_in_transport_message_fails(void **state)
{
	struct pair p;
	uint8_t m[64], pt[64];
	size_t len, plen, bit;

	(void)state;
	for (bit = 0; bit < (16 + 16) * 8; bit++) {
		pair_init(&p, PSK, PSK, "", "");
		pair_run(&p, 3);
		assert_int_equal(cs_noise_encrypt(&p.r, (const uint8_t *)"0123456789abcdef", 16, m,
		                     sizeof(m), &len),
		    0);
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(cs_noise_decrypt(&p.i, m, len, pt, sizeof(pt), &plen),
		    CS_NOISE_EDECRYPT);
		assert_dead(&p.i, CS_NOISE_EDECRYPT);
		pair_free(&p);
	}
}

static void
test_noise_truncated_messages_fail(void **state)
{
	struct pair p;
	uint8_t pl[64], m[64];
	size_t len, cut;
	int k;

	(void)state;
	for (k = 0; k < 3; k++) {
		for (cut = 0; cut < 40; cut++) {
			struct cs_noise *r;
			size_t full;
			int want;

			pair_init(&p, PSK, PSK, "", "");
			pair_run(&p, k);
			r = k % 2 == 0 ? &p.r : &p.i;
			full = p.len[k];
			if (cut >= full)
				break;
			/* Under the pattern's fixed part: ESHORT; into the payload: no tag match.
			 */
			want = full - cut - 1 < full - 2 ? CS_NOISE_ESHORT
			    : k == 0                     ? CS_NOISE_EAUTH1
			                                 : CS_NOISE_EAUTH;
			assert_int_equal(cs_noise_read_message(r, p.msg[k], full - cut - 1, pl,
			                     sizeof(pl), &len),
			    want);
			assert_dead(r, want);
			pair_free(&p);
		}
	}
	/* transport: under the tag, and one byte short */
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 3);
	assert_int_equal(cs_noise_encrypt(&p.i, (const uint8_t *)"abc", 3, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_decrypt(&p.r, m, 15, pl, sizeof(pl), &len), CS_NOISE_ESHORT);
	assert_dead(&p.r, CS_NOISE_ESHORT);
	pair_free(&p);
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 3);
	assert_int_equal(cs_noise_encrypt(&p.i, (const uint8_t *)"abc", 3, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_decrypt(&p.r, m, len - 1, pl, sizeof(pl), &len),
	    CS_NOISE_EDECRYPT);
	pair_free(&p);
}

static void
test_noise_replayed_messages_fail(void **state)
{
	struct pair p;
	uint8_t pl[64], m[64];
	size_t len;

	(void)state;
	/* message 1 again at the responder that has answered it: it waits for
	 * message 3 (64 + 2 bytes), so the 50-byte replay is a truncated message 3 */
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 1);
	assert_int_equal(cs_noise_read_message(&p.r, p.msg[0], p.len[0], pl, sizeof(pl), &len),
	    CS_NOISE_ESHORT);
	assert_dead(&p.r, CS_NOISE_ESHORT);
	pair_free(&p);
	/* ... and with 16 more bytes it has the length of message 3 but not its keys */
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 1);
	assert_int_equal(cs_noise_read_message(&p.r, p.msg[0], p.len[0] + 16, pl, sizeof(pl), &len),
	    CS_NOISE_EAUTH);
	assert_dead(&p.r, CS_NOISE_EAUTH);
	pair_free(&p);
	/* message 2 again at the initiator */
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 2);
	assert_int_equal(cs_noise_read_message(&p.i, p.msg[1], p.len[1], pl, sizeof(pl), &len),
	    CS_NOISE_EORDER);
	assert_dead(&p.i, CS_NOISE_EORDER);
	pair_free(&p);
	/* message 3 again once the responder is done */
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 3);
	assert_int_equal(cs_noise_read_message(&p.r, p.msg[2], p.len[2], pl, sizeof(pl), &len),
	    CS_NOISE_EORDER);
	assert_dead(&p.r, CS_NOISE_EORDER);
	pair_free(&p);
	/* message 1 of one handshake replayed into a fresh responder: its message 2
	 * goes to an initiator that has another ephemeral, which refuses it */
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 0);
	{
		struct pair q;
		uint8_t m2[256];
		size_t l2;

		pair_init(&q, PSK, PSK, "", "");
		pair_run(&q, 0);
		assert_int_equal(
		    cs_noise_read_message(&q.r, p.msg[0], p.len[0], pl, sizeof(pl), &len), 0);
		assert_int_equal(cs_noise_write_message(&q.r, NULL, 0, m2, sizeof(m2), &l2), 0);
		assert_int_equal(cs_noise_read_message(&q.i, m2, l2, pl, sizeof(pl), &len),
		    CS_NOISE_EAUTH);
		pair_free(&q);
	}
	pair_free(&p);
	/* a transport message replayed */
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 3);
	assert_int_equal(cs_noise_encrypt(&p.i, (const uint8_t *)"abc", 3, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_decrypt(&p.r, m, len, pl, sizeof(pl), &len), 0);
	assert_int_equal(cs_noise_decrypt(&p.r, m, 19, pl, sizeof(pl), &len), CS_NOISE_EDECRYPT);
	assert_dead(&p.r, CS_NOISE_EDECRYPT);
	pair_free(&p);
}

static void
test_noise_nonce_at_its_limit_fails(void **state)
{
	struct pair p;
	uint8_t m[64], pt[64];
	size_t len, plen;

	(void)state;
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 3);
	/* 2^64-2 is the last usable nonce; 2^64-1 is reserved (§5.1). */
	assert_int_equal(cs_noise_test_set_nonce(&p.i, true, UINT64_MAX - 1), 0);
	assert_int_equal(cs_noise_test_set_nonce(&p.r, false, UINT64_MAX - 1), 0);
	assert_int_equal(cs_noise_encrypt(&p.i, (const uint8_t *)"last", 4, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_decrypt(&p.r, m, len, pt, sizeof(pt), &plen), 0);
	assert_memory_equal(pt, "last", 4);
	assert_int_equal(cs_noise_encrypt(&p.i, (const uint8_t *)"more", 4, m, sizeof(m), &len),
	    CS_NOISE_ENONCE);
	assert_dead(&p.i, CS_NOISE_ENONCE);
	/* the receiver at the limit too: even a valid-looking message is refused */
	assert_int_equal(cs_noise_decrypt(&p.r, m, 20, pt, sizeof(pt), &plen), CS_NOISE_ENONCE);
	assert_dead(&p.r, CS_NOISE_ENONCE);
	pair_free(&p);
}

static void
test_noise_out_of_order_calls_fail(void **state)
{
	struct pair p;
	uint8_t m[128];
	size_t len;

	(void)state;
	pair_init(&p, PSK, PSK, "", "");
	assert_int_equal(cs_noise_action(&p.i), CS_NOISE_WRITE);
	assert_int_equal(cs_noise_action(&p.r), CS_NOISE_READ);
	assert_int_equal(cs_noise_read_message(&p.i, m, 48, m, sizeof(m), &len), CS_NOISE_EORDER);
	assert_dead(&p.i, CS_NOISE_EORDER);
	assert_int_equal(cs_noise_write_message(&p.r, NULL, 0, m, sizeof(m), &len),
	    CS_NOISE_EORDER);
	assert_dead(&p.r, CS_NOISE_EORDER);
	pair_free(&p);
	/* handshake over: no more handshake messages */
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 3);
	assert_int_equal(cs_noise_write_message(&p.i, NULL, 0, m, sizeof(m), &len),
	    CS_NOISE_EORDER);
	pair_free(&p);
}

static void
test_noise_size_limits(void **state)
{
	struct pair p;
	uint8_t *big;
	size_t len;

	(void)state;
	big = calloc(1, 70000);
	assert_non_null(big);
	pair_init(&p, PSK, PSK, "", "");
	assert_int_equal(cs_noise_write_message(&p.i, big, 65535 - 48 + 1, big, 70000, &len),
	    CS_NOISE_ETOOLONG);
	assert_dead(&p.i, CS_NOISE_ETOOLONG);
	assert_int_equal(cs_noise_read_message(&p.r, big, 65536, big, 70000, &len),
	    CS_NOISE_ETOOLONG);
	pair_free(&p);
	pair_init(&p, PSK, PSK, "", "");
	assert_int_equal(cs_noise_write_message(&p.i, big, 10, big + 100, 57, &len), CS_NOISE_EBUF);
	pair_free(&p);
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 3);
	assert_int_equal(cs_noise_encrypt(&p.i, big, CS_NOISE_MAX_PLAIN, big, 70000, &len), 0);
	assert_int_equal(len, 65535);
	assert_int_equal(cs_noise_decrypt(&p.r, big, len, big, 70000, &len), 0);
	assert_int_equal(cs_noise_encrypt(&p.i, big, CS_NOISE_MAX_PLAIN + 1, big, 70000, &len),
	    CS_NOISE_ETOOLONG);
	assert_int_equal(cs_noise_decrypt(&p.r, big, 65536, big, 70000, &len), CS_NOISE_ETOOLONG);
	pair_free(&p);
	free(big);
}

static void
test_noise_bad_configs_are_refused(void **state)
{
	static const char *bad[] = {"Noise_XXfallback_25519_ChaChaPoly_BLAKE2b",
	    "Noise_XX_25519_AESGCM_SHA256", "Noise_XX_448_ChaChaPoly_BLAKE2b",
	    "Noise_XXpsk4_25519_ChaChaPoly_BLAKE2b", "Noise_ZZ_25519_ChaChaPoly_BLAKE2b",
	    "Noise_XXpsk0+_25519_ChaChaPoly_BLAKE2b", "Noise_XXpsk_25519_ChaChaPoly_BLAKE2b",
	    "Noise__25519_ChaChaPoly_BLAKE2b", "Noise_XX_25519_ChaChaPoly_BLAKE2b_",
	    "noise_XX_25519_ChaChaPoly_BLAKE2b", "", "Noise_XXpsk0psk1_25519_ChaChaPoly_BLAKE2b",
	    "Noise_XXpsk99999999999999999999_25519_ChaChaPoly_BLAKE2b",
	    "Noise_XXpsk00_25519_ChaChaPoly_BLAKE2b", "Noise_XXpsk01_25519_ChaChaPoly_BLAKE2b",
	    "Noise_XXpsk0+fallback_25519_ChaChaPoly_BLAKE2b",
	    "Noise_NNpsk3_25519_ChaChaPoly_BLAKE2b", "Noise_xx_25519_ChaChaPoly_BLAKE2b",
	    "Noise_X1X1X1_25519_ChaChaPoly_BLAKE2b"};
	struct cs_noise n;
	struct cs_noise_config c = {0};
	uint8_t s[32] = {1}, psks[64] = {0};
	size_t i;

	(void)state;
	c.initiator = true;
	c.static_key = s;
	c.psks = psks;
	c.psk_count = 1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.protocol = bad[i];
		assert_int_equal(cs_noise_init(&n, &c), CS_NOISE_EPROTO);
		assert_int_equal(cs_noise_action(&n), CS_NOISE_FAILED);
		cs_noise_free(&n);
	}
	c.protocol = NULL; /* XXpsk0 */
	c.psk_count = 0;
	assert_int_equal(cs_noise_init(&n, &c), CS_NOISE_EPSKCOUNT);
	c.psk_count = 2;
	assert_int_equal(cs_noise_init(&n, &c), CS_NOISE_EPSKCOUNT);
	c.psk_count = 1;
	c.static_key = NULL;
	assert_int_equal(cs_noise_init(&n, &c), CS_NOISE_EKEY);
	c.static_key = s;
	c.remote_static = s; /* XX has no pre-message: it would never be checked */
	assert_int_equal(cs_noise_init(&n, &c), CS_NOISE_EKEY);
	c.protocol = "Noise_IK_25519_ChaChaPoly_BLAKE2b";
	c.remote_static = NULL;
	c.psk_count = 0;
	assert_int_equal(cs_noise_init(&n, &c), CS_NOISE_EKEY);
	assert_int_equal(cs_noise_init(NULL, &c), CS_EINVAL);
	assert_int_equal(cs_noise_init(&n, NULL), CS_EINVAL);
	cs_noise_free(NULL);
	cs_noise_free(&n);
	cs_noise_free(&n);
	for (i = 100; i < 120; i++)
		assert_string_not_equal(cs_noise_strerror(-(int)i), "");
	assert_string_equal(cs_noise_strerror(-1), "unknown noise error");
}

static void
test_noise_psk_and_prologues_match_design(void **state)
{
	/* Known answers from Python's hashlib.blake2b(msg, key=k, digest_size=32). */
	static const char want7[] =
	    "7d57d02b4ca3509ed7b21343c42cec2c0b7130cbddf08ab5e61868a7743e4ba1";
	static const char want_e[] =
	    "53e0de3d95a262a2bd3aaaf61eb5ac4a644c2d939aade5a43367798f6ffb6499";
	static const char want_inv[] =
	    "60a845739616a8684cc8572ed2873e626589ed9e38f58079c5bb799e9a238d65";
	uint8_t key[32], inv[16], psk[32], want[32], pro[CS_NOISE_PROLOGUE_MAX], id[16];
	size_t i, l;

	(void)state;
	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < 16; i++) {
		inv[i] = (uint8_t)(100 + i);
		id[i] = (uint8_t)(0xa0 + i);
	}
	assert_int_equal(cs_noise_session_psk(psk, key, 7), 0);
	assert_int_equal(unhex(want7, want, 32, &l), 0);
	assert_memory_equal(psk, want, 32);
	assert_int_equal(cs_noise_session_psk(psk, key, 0x01020304), 0);
	assert_int_equal(unhex(want_e, want, 32, &l), 0);
	assert_memory_equal(psk, want, 32);
	assert_int_equal(cs_noise_invite_psk(psk, inv, sizeof(inv)), 0);
	assert_int_equal(unhex(want_inv, want, 32, &l), 0);
	assert_memory_equal(psk, want, 32);
	assert_int_equal(cs_noise_invite_psk(psk, inv, 8), CS_EINVAL);
	assert_int_equal(cs_noise_session_prologue(pro, id), 26);
	assert_memory_equal(pro, "cabsync/1\0", 10);
	assert_memory_equal(pro + 10, id, 16);
	assert_int_equal(cs_noise_invite_prologue(pro), 17);
	assert_memory_equal(pro, "cabsync-invite/1\0", 17);
}

static void
test_noise_small_payload_buffer_fails(void **state)
{
	struct pair p;
	uint8_t pl[1];
	size_t len;

	(void)state;
	pair_init(&p, PSK, PSK, "", "");
	pair_run(&p, 0); /* message 1 carries "hi": 2 bytes do not fit in 1 */
	assert_int_equal(cs_noise_read_message(&p.r, p.msg[0], p.len[0], pl, sizeof(pl), &len),
	    CS_NOISE_EBUF);
	assert_dead(&p.r, CS_NOISE_EBUF);
	pair_free(&p);
}

static void
test_noise_one_way_pattern_sends_one_way(void **state)
{
	struct cs_noise i, r;
	struct cs_noise_config c = {0};
	uint8_t s_r[32] = {9}, pub_r[32], m[128], pt[128];
	size_t len, plen;

	(void)state;
	crypto_scalarmult_base(pub_r, s_r);
	c.protocol = "Noise_N_25519_ChaChaPoly_BLAKE2b";
	c.initiator = true;
	c.remote_static = pub_r;
	assert_int_equal(cs_noise_init(&i, &c), 0);
	c.initiator = false;
	c.remote_static = NULL;
	c.static_key = s_r;
	assert_int_equal(cs_noise_init(&r, &c), 0);
	assert_int_equal(cs_noise_write_message(&i, NULL, 0, m, sizeof(m), &len), 0);
	assert_int_equal(len, 48);
	assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen), 0);
	assert_true(cs_noise_handshake_done(&i));
	assert_true(cs_noise_handshake_done(&r));
	assert_int_equal(cs_noise_encrypt(&i, (const uint8_t *)"a", 1, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_decrypt(&r, m, len, pt, sizeof(pt), &plen), 0);
	assert_int_equal(cs_noise_encrypt(&r, (const uint8_t *)"a", 1, m, sizeof(m), &len),
	    CS_NOISE_EONEWAY);
	assert_dead(&r, CS_NOISE_EONEWAY);
	assert_int_equal(cs_noise_decrypt(&i, m, 17, pt, sizeof(pt), &plen), CS_NOISE_EONEWAY);
	assert_dead(&i, CS_NOISE_EONEWAY);
	cs_noise_free(&i);
	cs_noise_free(&r);
}

/* Session and enrollment inputs exactly as docs/PROTOCOL.md §1.3-§1.6. */
static void
init_cabsync(struct cs_noise *n, bool initiator, const uint8_t psk[32], const uint8_t *pro,
    size_t pro_len, const uint8_t s[32])
{
	struct cs_noise_config c = {0};

	c.initiator = initiator;
	c.prologue = pro;
	c.prologue_len = pro_len;
	c.static_key = s;
	c.psks = psk;
	c.psk_count = 1;
	assert_int_equal(cs_noise_init(n, &c), 0);
}

static void
test_noise_old_epoch_fails_at_message_1_then_old_psk_works(void **state)
{
	uint8_t key1[32], key2[32], psk1[32], psk2[32], id[16], pro[CS_NOISE_PROLOGUE_MAX];
	uint8_t si[32], sr[32], m[256], m2[256], pt[64], h1[64], h2[64];
	size_t pro_len, len, len2, plen;
	struct cs_noise i, r;

	(void)state;
	randombytes_buf(key1, 32);
	randombytes_buf(key2, 32);
	randombytes_buf(id, 16);
	randombytes_buf(si, 32);
	randombytes_buf(sr, 32);
	assert_int_equal(cs_noise_session_psk(psk1, key1, 1), 0);
	assert_int_equal(cs_noise_session_psk(psk2, key2, 2), 0);
	pro_len = cs_noise_session_prologue(pro, id);
	/* a laptop still on epoch 1 dials a device on epoch 2 */
	init_cabsync(&i, true, psk1, pro, pro_len, si);
	init_cabsync(&r, false, psk2, pro, pro_len, sr);
	assert_int_equal(cs_noise_write_message(&i, NULL, 0, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen), CS_NOISE_EAUTH1);
	assert_dead(&r, CS_NOISE_EAUTH1);
	cs_noise_free(&r);
	/* the responder tries the older epoch it still holds on the same message 1 */
	init_cabsync(&r, false, psk1, pro, pro_len, sr);
	assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen), 0);
	assert_int_equal(cs_noise_write_message(&r, NULL, 0, m2, sizeof(m2), &len2), 0);
	assert_int_equal(cs_noise_read_message(&i, m2, len2, pt, sizeof(pt), &plen), 0);
	assert_int_equal(cs_noise_write_message(&i, NULL, 0, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen), 0);
	assert_int_equal(cs_noise_handshake_hash(&i, h1), 0);
	assert_int_equal(cs_noise_handshake_hash(&r, h2), 0);
	assert_memory_equal(h1, h2, 64);
	cs_noise_free(&i);
	cs_noise_free(&r);

	/* enrollment: invite psk and prologue; another code fails at message 1 */
	{
		uint8_t code[16], other[16], ipsk[32], opsk[32];

		randombytes_buf(code, 16);
		memcpy(other, code, 16);
		other[15] ^= 1;
		assert_int_equal(cs_noise_invite_psk(ipsk, code, 16), 0);
		assert_int_equal(cs_noise_invite_psk(opsk, other, 16), 0);
		pro_len = cs_noise_invite_prologue(pro);
		init_cabsync(&i, true, opsk, pro, pro_len, si);
		init_cabsync(&r, false, ipsk, pro, pro_len, sr);
		assert_int_equal(cs_noise_write_message(&i, NULL, 0, m, sizeof(m), &len), 0);
		assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen),
		    CS_NOISE_EAUTH1);
		cs_noise_free(&i);
		cs_noise_free(&r);
		init_cabsync(&i, true, ipsk, pro, pro_len, si);
		init_cabsync(&r, false, ipsk, pro, pro_len, sr);
		assert_int_equal(cs_noise_write_message(&i, NULL, 0, m, sizeof(m), &len), 0);
		assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen), 0);
		cs_noise_free(&i);
		cs_noise_free(&r);
	}
}

/* Handshakes from several threads at once: the state cache is shared. */
static void *
handshake_thread(void *arg)
{
	int k, *ok = arg;

	for (k = 0; k < 100; k++) {
		struct cs_noise i, r;
		struct cs_noise_config c = {0};
		uint8_t si[32] = {1}, sr[32] = {2}, m[256], pt[64], h1[64], h2[64];
		size_t len, plen;
		int step, bad = 0;

		c.initiator = true;
		c.static_key = si;
		c.psks = PSK;
		c.psk_count = 1;
		bad |= cs_noise_init(&i, &c);
		c.initiator = false;
		c.static_key = sr;
		bad |= cs_noise_init(&r, &c);
		for (step = 0; step < 3 && bad == 0; step++) {
			struct cs_noise *w = step % 2 == 0 ? &i : &r, *rd = step % 2 == 0 ? &r : &i;

			bad |= cs_noise_write_message(w, NULL, 0, m, sizeof(m), &len);
			if (bad == 0)
				bad |= cs_noise_read_message(rd, m, len, pt, sizeof(pt), &plen);
		}
		if (bad == 0)
			bad |= cs_noise_handshake_hash(&i, h1) | cs_noise_handshake_hash(&r, h2);
		if (bad == 0 && memcmp(h1, h2, 64) != 0)
			bad = 1;
		cs_noise_free(&i);
		cs_noise_free(&r);
		if (bad != 0)
			return NULL;
	}
	*ok = 1;
	return NULL;
}

static void
test_noise_concurrent_sessions(void **state)
{
	pthread_t t[4];
	int ok[4] = {0}, k;

	(void)state;
	for (k = 0; k < 4; k++)
		assert_int_equal(pthread_create(&t[k], NULL, handshake_thread, &ok[k]), 0);
	for (k = 0; k < 4; k++) {
		assert_int_equal(pthread_join(t[k], NULL), 0);
		assert_int_equal(ok[k], 1);
	}
}

static void
test_noise_init_session_and_invite(void **state)
{
	uint8_t key[32], id[16], si[32], sr[32], code[16], m[256], pt[64], h1[64], h2[64];
	uint8_t psk[32], pro[CS_NOISE_PROLOGUE_MAX];
	struct cs_noise i, r, ref;
	struct cs_noise_config c = {0};
	size_t len, plen;

	(void)state;
	randombytes_buf(key, 32);
	randombytes_buf(id, 16);
	randombytes_buf(si, 32);
	randombytes_buf(sr, 32);
	randombytes_buf(code, 16);
	/* same epoch: completes */
	assert_int_equal(cs_noise_init_session(&i, true, si, key, 3, id), 0);
	assert_int_equal(cs_noise_init_session(&r, false, sr, key, 3, id), 0);
	assert_int_equal(cs_noise_write_message(&i, NULL, 0, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen), 0);
	assert_int_equal(cs_noise_write_message(&r, NULL, 0, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_read_message(&i, m, len, pt, sizeof(pt), &plen), 0);
	assert_int_equal(cs_noise_write_message(&i, NULL, 0, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen), 0);
	assert_int_equal(cs_noise_handshake_hash(&i, h1), 0);
	assert_int_equal(cs_noise_handshake_hash(&r, h2), 0);
	assert_memory_equal(h1, h2, 64);
	cs_noise_free(&i);
	cs_noise_free(&r);
	/* the wrapper is exactly psk + prologue of §1.3/§1.4: a responder built by
	 * hand from them accepts the wrapper's message 1 */
	assert_int_equal(cs_noise_init_session(&i, true, si, key, 3, id), 0);
	assert_int_equal(cs_noise_session_psk(psk, key, 3), 0);
	c.prologue = pro;
	c.prologue_len = cs_noise_session_prologue(pro, id);
	c.static_key = sr;
	c.psks = psk;
	c.psk_count = 1;
	assert_int_equal(cs_noise_init(&ref, &c), 0);
	assert_int_equal(cs_noise_write_message(&i, NULL, 0, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_read_message(&ref, m, len, pt, sizeof(pt), &plen), 0);
	cs_noise_free(&ref);
	/* other cabinet id: fails at message 1 */
	id[0] ^= 1;
	assert_int_equal(cs_noise_init_session(&r, false, sr, key, 3, id), 0);
	assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen), CS_NOISE_EAUTH1);
	cs_noise_free(&i);
	cs_noise_free(&r);
	/* invite */
	assert_int_equal(cs_noise_init_invite(&i, true, si, code, sizeof(code)), 0);
	assert_int_equal(cs_noise_init_invite(&r, false, sr, code, sizeof(code)), 0);
	assert_int_equal(cs_noise_write_message(&i, NULL, 0, m, sizeof(m), &len), 0);
	assert_int_equal(cs_noise_read_message(&r, m, len, pt, sizeof(pt), &plen), 0);
	cs_noise_free(&i);
	cs_noise_free(&r);
	assert_int_equal(cs_noise_init_invite(&i, true, si, code, 4), CS_EINVAL);
	assert_int_equal(cs_noise_init_session(NULL, true, si, key, 3, id), CS_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_noise_vectors_all_pass),
	    cmocka_unit_test(test_noise_xxpsk0_completes_with_expected_sizes),
	    cmocka_unit_test(test_noise_plain_xx_and_xxpsk0_differ),
	    cmocka_unit_test(test_noise_wrong_psk_fails_at_message_1),
	    cmocka_unit_test(test_noise_wrong_prologue_fails_at_message_1),
	    cmocka_unit_test(test_noise_flipped_bit_in_each_handshake_message_fails),
	    cmocka_unit_test(test_noise_flipped_bit_in_transport_message_fails),
	    cmocka_unit_test(test_noise_truncated_messages_fail),
	    cmocka_unit_test(test_noise_replayed_messages_fail),
	    cmocka_unit_test(test_noise_nonce_at_its_limit_fails),
	    cmocka_unit_test(test_noise_out_of_order_calls_fail),
	    cmocka_unit_test(test_noise_size_limits),
	    cmocka_unit_test(test_noise_bad_configs_are_refused),
	    cmocka_unit_test(test_noise_psk_and_prologues_match_design),
	    cmocka_unit_test(test_noise_small_payload_buffer_fails),
	    cmocka_unit_test(test_noise_one_way_pattern_sends_one_way),
	    cmocka_unit_test(test_noise_old_epoch_fails_at_message_1_then_old_psk_works),
	    cmocka_unit_test(test_noise_concurrent_sessions),
	    cmocka_unit_test(test_noise_init_session_and_invite),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
