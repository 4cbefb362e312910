/*
 * wire/noise.c: Noise rev. 34 (25519, ChaChaPoly, BLAKE2b) on libsodium.
 * See noise.h for the contract; docs/PROTOCOL.md §1 for how cabsync uses it.
 * Section numbers (§n) cite the Noise Protocol Framework, revision 34.
 */
#include "wire/noise.h"

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#define HASHLEN  CS_NOISE_HASH_LEN
#define BLOCKLEN 128 /* §12.8: BLAKE2b BLOCKLEN */
#define DHLEN    CS_NOISE_DH_LEN
#define KEYLEN   CS_NOISE_KEY_LEN
#define TAGLEN   CS_NOISE_TAG_LEN

#define MAX_MSGS   8  /* message patterns in one handshake (deferred: 4) */
#define MAX_TOKENS 16 /* tokens in one message pattern, psk tokens included */

/* §7.1 tokens */
enum token {
	TOK_E = 1,
	TOK_S,
	TOK_EE,
	TOK_ES,
	TOK_SE,
	TOK_SS,
	TOK_PSK,
};

/*
 * The spec's patterns (§7.4 one-way, §7.5 fundamental, §7.6 deferred):
 * pre-message tokens of the initiator and the responder, then the message
 * patterns separated by '|', tokens by spaces. Messages alternate, the
 * initiator first. Only "s" pre-messages occur here.
 */
struct pattern {
	const char *name;
	const char *pre_i;
	const char *pre_r;
	const char *msgs;
};

static const struct pattern patterns[] = {
    {"N", "", "s", "e es"},
    {"K", "s", "s", "e es ss"},
    {"X", "", "s", "e es s ss"},
    {"NN", "", "", "e|e ee"},
    {"NK", "", "s", "e es|e ee"},
    {"NX", "", "", "e|e ee s es"},
    {"XN", "", "", "e|e ee|s se"},
    {"XK", "", "s", "e es|e ee|s se"},
    {"XX", "", "", "e|e ee s es|s se"},
    {"KN", "s", "", "e|e ee se"},
    {"KK", "s", "s", "e es ss|e ee se"},
    {"KX", "s", "", "e|e ee se s es"},
    {"IN", "", "", "e s|e ee se"},
    {"IK", "", "s", "e es s ss|e ee se"},
    {"IX", "", "", "e s|e ee se s es"},
    {"NK1", "", "s", "e|e ee es"},
    {"NX1", "", "", "e|e ee s|es"},
    {"X1N", "", "", "e|e ee|s|se"},
    {"X1K", "", "s", "e es|e ee|s|se"},
    {"XK1", "", "s", "e|e ee es|s se"},
    {"X1K1", "", "s", "e|e ee es|s|se"},
    {"X1X", "", "", "e|e ee s es|s|se"},
    {"XX1", "", "", "e|e ee s|es s se"},
    {"X1X1", "", "", "e|e ee s|es s|se"},
    {"K1N", "s", "", "e|e ee|se"},
    {"K1K", "s", "s", "e es|e ee|se"},
    {"KK1", "s", "s", "e|e ee se es"},
    {"K1K1", "s", "s", "e|e ee es|se"},
    {"K1X", "s", "", "e|e ee s es|se"},
    {"KX1", "s", "", "e|e ee se s|es"},
    {"K1X1", "s", "", "e|e ee s|se es"},
    {"I1N", "", "", "e s|e ee|se"},
    {"I1K", "", "s", "e es s|e ee|se"},
    {"IK1", "", "s", "e s|e ee se es"},
    {"I1K1", "", "s", "e s|e ee es|se"},
    {"I1X", "", "", "e s|e ee s es|se"},
    {"IX1", "", "", "e s|e ee se s|es"},
    {"I1X1", "", "", "e s|e ee s|se es"},
};

/* §5.1 CipherState */
struct cipher {
	uint8_t k[KEYLEN];
	uint64_t n;
	bool has_key;
};

struct cs_noise_state {
	/* §5.2 SymmetricState */
	struct cipher cs;
	uint8_t ck[HASHLEN];
	uint8_t h[HASHLEN];
	/* §5.3 HandshakeState */
	uint8_t s[DHLEN], s_pub[DHLEN];
	uint8_t e[DHLEN], e_pub[DHLEN];
	uint8_t rs[DHLEN], re[DHLEN];
	uint8_t psks[CS_NOISE_MAX_PSKS][CS_NOISE_PSK_LEN];
	bool has_s, has_e, has_rs, has_re;
	bool initiator, psk_mode, one_way, done;
	size_t psk_count, psk_next;
	size_t msg_count, msg_next;
	uint8_t tokens[MAX_MSGS][MAX_TOKENS];
	size_t ntokens[MAX_MSGS];
	/* §5.2 Split(): the transport pair */
	struct cipher send, recv;
#ifdef CS_NOISE_TEST_HOOKS
	uint8_t fixed_e[DHLEN];
	bool has_fixed_e;
#endif
};

/* ---- HMAC-BLAKE2b and HKDF (§4.3) ---- */

/*
 * RFC 2104 HMAC over unkeyed BLAKE2b-512 with its 128-byte block: libsodium
 * has no HMAC-BLAKE2b, and BLAKE2b's own keyed mode is a different function.
 * key_len ≤ BLOCKLEN always (keys are HASHLEN bytes here).
 */
static void
hmac_blake2b(uint8_t out[HASHLEN], const uint8_t *key, size_t key_len, const uint8_t *d1, size_t l1,
    const uint8_t *d2, size_t l2)
{
	crypto_generichash_state st;
	uint8_t pad[BLOCKLEN], inner[HASHLEN];
	size_t i;

	memset(pad, 0, sizeof(pad));
	memcpy(pad, key, key_len);
	for (i = 0; i < BLOCKLEN; i++)
		pad[i] ^= 0x36;
	crypto_generichash_init(&st, NULL, 0, HASHLEN);
	crypto_generichash_update(&st, pad, BLOCKLEN);
	if (l1 > 0)
		crypto_generichash_update(&st, d1, l1);
	if (l2 > 0)
		crypto_generichash_update(&st, d2, l2);
	crypto_generichash_final(&st, inner, HASHLEN);
	for (i = 0; i < BLOCKLEN; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	crypto_generichash_init(&st, NULL, 0, HASHLEN);
	crypto_generichash_update(&st, pad, BLOCKLEN);
	crypto_generichash_update(&st, inner, HASHLEN);
	crypto_generichash_final(&st, out, HASHLEN);
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&st, sizeof(st));
}

/* §4.3 HKDF(chaining_key, input_key_material, num_outputs); o3 may be NULL. */
static void
hkdf(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t ikm_len, uint8_t o1[HASHLEN],
    uint8_t o2[HASHLEN], uint8_t o3[HASHLEN])
{
	static const uint8_t b1 = 0x01, b2 = 0x02, b3 = 0x03;
	uint8_t temp[HASHLEN];

	hmac_blake2b(temp, ck, HASHLEN, ikm, ikm_len, NULL, 0);
	hmac_blake2b(o1, temp, HASHLEN, &b1, 1, NULL, 0);
	hmac_blake2b(o2, temp, HASHLEN, o1, HASHLEN, &b2, 1);
	if (o3 != NULL)
		hmac_blake2b(o3, temp, HASHLEN, o2, HASHLEN, &b3, 1);
	sodium_memzero(temp, sizeof(temp));
}

/* ---- CipherState (§5.1, §12.3) ---- */

static void
cipher_init_key(struct cipher *c, const uint8_t k[KEYLEN])
{
	memcpy(c->k, k, KEYLEN);
	c->n = 0;
	c->has_key = true;
}

/* §12.3: 32 bits of zeros then the 64-bit nonce, little-endian. */
static void
nonce_bytes(uint8_t out[crypto_aead_chacha20poly1305_IETF_NPUBBYTES], uint64_t n)
{
	int i;

	memset(out, 0, 4);
	for (i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(n >> (8 * i));
}

/* §5.1 EncryptWithAd; out has len + TAGLEN bytes (may equal plain). */
static int
cipher_encrypt(struct cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *plain, size_t len,
    uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (!c->has_key) {
		if (out != plain && len > 0)
			memmove(out, plain, len);
		return 0;
	}
	if (c->n == UINT64_MAX)
		return CS_NOISE_ENONCE; /* §5.1: 2^64-1 is reserved for Rekey */
	nonce_bytes(nonce, c->n);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, plain, len, ad, ad_len, NULL, nonce,
	    c->k);
	c->n++;
	return 0;
}

/*
 * §5.1 DecryptWithAd: msg has len bytes (≥ TAGLEN when keyed), out gets
 * len - TAGLEN. The nonce advances only on success (README of the vectors).
 */
static int
cipher_decrypt(struct cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *msg, size_t len,
    uint8_t *out, int auth_err)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (!c->has_key) {
		if (out != msg && len > 0)
			memmove(out, msg, len);
		return 0;
	}
	if (c->n == UINT64_MAX)
		return CS_NOISE_ENONCE;
	nonce_bytes(nonce, c->n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, msg, len, ad, ad_len, nonce,
	        c->k) != 0)
		return auth_err;
	c->n++;
	return 0;
}

/* §4.2 REKEY: the first 32 bytes of ENCRYPT(k, maxnonce, zerolen, zeros). */
static void
cipher_rekey(struct cipher *c)
{
	uint8_t zeros[KEYLEN + TAGLEN], nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	memset(zeros, 0, sizeof(zeros));
	nonce_bytes(nonce, UINT64_MAX);
	crypto_aead_chacha20poly1305_ietf_encrypt(zeros, NULL, zeros, KEYLEN, NULL, 0, NULL, nonce,
	    c->k);
	memcpy(c->k, zeros, KEYLEN);
	sodium_memzero(zeros, sizeof(zeros));
}

/* ---- SymmetricState (§5.2) ---- */

static void
mix_hash(struct cs_noise_state *st, const uint8_t *data, size_t len)
{
	crypto_generichash_state g;

	crypto_generichash_init(&g, NULL, 0, HASHLEN);
	crypto_generichash_update(&g, st->h, HASHLEN);
	if (len > 0)
		crypto_generichash_update(&g, data, len);
	crypto_generichash_final(&g, st->h, HASHLEN);
}

static void
mix_key(struct cs_noise_state *st, const uint8_t *ikm, size_t len)
{
	uint8_t temp_k[HASHLEN];

	hkdf(st->ck, ikm, len, st->ck, temp_k, NULL);
	cipher_init_key(&st->cs, temp_k); /* §5.2: truncated to 32 bytes */
	sodium_memzero(temp_k, sizeof(temp_k));
}

static void
mix_key_and_hash(struct cs_noise_state *st, const uint8_t *ikm, size_t len)
{
	uint8_t temp_h[HASHLEN], temp_k[HASHLEN];

	hkdf(st->ck, ikm, len, st->ck, temp_h, temp_k);
	mix_hash(st, temp_h, HASHLEN);
	cipher_init_key(&st->cs, temp_k);
	sodium_memzero(temp_h, sizeof(temp_h));
	sodium_memzero(temp_k, sizeof(temp_k));
}

/* §5.2 EncryptAndHash: out has len (+ TAGLEN when keyed) bytes. */
static int
encrypt_and_hash(struct cs_noise_state *st, const uint8_t *plain, size_t len, uint8_t *out)
{
	size_t out_len = len + (st->cs.has_key ? TAGLEN : 0);
	int rc;

	rc = cipher_encrypt(&st->cs, st->h, HASHLEN, plain, len, out);
	if (rc != 0)
		return rc;
	mix_hash(st, out, out_len);
	return 0;
}

static int
decrypt_and_hash(struct cs_noise_state *st, const uint8_t *msg, size_t len, uint8_t *out,
    int auth_err)
{
	int rc;

	rc = cipher_decrypt(&st->cs, st->h, HASHLEN, msg, len, out, auth_err);
	if (rc != 0)
		return rc;
	mix_hash(st, msg, len);
	return 0;
}

/* ---- protocol name ---- */

static int
parse_tokens(const char *p, uint8_t *tok, size_t *ntok, size_t max)
{
	static const struct {
		const char *s;
		enum token t;
	} names[] = {{"ee", TOK_EE}, {"es", TOK_ES}, {"se", TOK_SE}, {"ss", TOK_SS}, {"e", TOK_E},
	    {"s", TOK_S}};
	size_t i, l;

	while (*p != '\0' && *p != '|') {
		if (*p == ' ') {
			p++;
			continue;
		}
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			l = strlen(names[i].s);
			if (strncmp(p, names[i].s, l) == 0 &&
			    (p[l] == ' ' || p[l] == '|' || p[l] == '\0'))
				break;
		}
		if (i == sizeof(names) / sizeof(names[0]) || *ntok >= max)
			return CS_NOISE_EPROTO;
		tok[(*ntok)++] = (uint8_t)names[i].t;
		p += l;
	}
	return 0;
}

/* Insert a psk token at position pos of message m. */
static int
insert_psk(struct cs_noise_state *st, size_t m, bool at_start)
{
	size_t pos;

	if (st->ntokens[m] >= MAX_TOKENS)
		return CS_NOISE_EPROTO;
	pos = at_start ? 0 : st->ntokens[m];
	memmove(&st->tokens[m][pos + 1], &st->tokens[m][pos], st->ntokens[m] - pos);
	st->tokens[m][pos] = TOK_PSK;
	st->ntokens[m]++;
	return 0;
}

/*
 * "Noise_" pattern modifiers "_25519_ChaChaPoly_BLAKE2b" (§8): the pattern is
 * the longest prefix of capitals and digits, then pskN modifiers joined by
 * '+' (§9.1: psk0 starts message 1, pskN ends message N). Fills the token
 * tables and points *pat at the pattern (whose pre-messages init reads).
 */
static int
parse_protocol(struct cs_noise_state *st, const char *name, const struct pattern **pat)
{
	static const char prefix[] = "Noise_", suffix[] = "_25519_ChaChaPoly_BLAKE2b";
	char base[8];
	const char *p, *end, *q;
	size_t len, blen, i, m;
	unsigned long idx;
	int rc;

	len = strnlen(name, 256);
	if (len >= 256 || len < sizeof(prefix) - 1 + sizeof(suffix) - 1 + 1 ||
	    strncmp(name, prefix, sizeof(prefix) - 1) != 0 ||
	    strcmp(name + len - (sizeof(suffix) - 1), suffix) != 0)
		return CS_NOISE_EPROTO;
	p = name + sizeof(prefix) - 1;
	end = name + len - (sizeof(suffix) - 1);
	for (q = p; q < end && ((*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9')); q++)
		;
	blen = (size_t)(q - p);
	if (blen == 0 || blen >= sizeof(base))
		return CS_NOISE_EPROTO;
	memcpy(base, p, blen);
	base[blen] = '\0';
	*pat = NULL;
	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (strcmp(patterns[i].name, base) == 0)
			*pat = &patterns[i];
	if (*pat == NULL)
		return CS_NOISE_EPROTO;

	st->msg_count = 0;
	p = (*pat)->msgs;
	for (;;) {
		if (st->msg_count >= MAX_MSGS)
			return CS_NOISE_EPROTO;
		rc = parse_tokens(p, st->tokens[st->msg_count], &st->ntokens[st->msg_count],
		    MAX_TOKENS);
		if (rc != 0)
			return rc;
		st->msg_count++;
		p = strchr(p, '|');
		if (p == NULL)
			break;
		p++;
	}
	st->one_way = st->msg_count == 1;

	/* modifiers */
	st->psk_count = 0;
	p = q;
	while (p < end) {
		if (end - p < 4 || strncmp(p, "psk", 3) != 0 || p[3] < '0' || p[3] > '9' ||
		    (p[3] == '0' && end - p > 4 && p[4] >= '0' && p[4] <= '9'))
			return CS_NOISE_EPROTO; /* fallback and others, psk01: unsupported */
		idx = 0;
		for (p += 3; p < end && *p >= '0' && *p <= '9'; p++) {
			idx = idx * 10 + (unsigned long)(*p - '0');
			if (idx > MAX_MSGS)
				return CS_NOISE_EPROTO;
		}
		if (idx > st->msg_count || st->psk_count >= CS_NOISE_MAX_PSKS)
			return CS_NOISE_EPROTO;
		m = idx == 0 ? 0 : idx - 1;
		rc = insert_psk(st, m, idx == 0);
		if (rc != 0)
			return rc;
		st->psk_count++;
		st->psk_mode = true;
		if (p < end) {
			if (*p != '+' || p + 1 == end)
				return CS_NOISE_EPROTO;
			p++;
		}
	}
	return 0;
}

/* ---- secure memory ---- */

/*
 * sodium_malloc() maps guard pages and mlock()s, so a fresh block and its
 * sodium_free() cost several system calls (about 0.4 ms on this project's
 * machine, more than a whole handshake's X25519 work). Released state blocks
 * are therefore wiped and kept, still locked and guarded, in a small cache for
 * the next session. The mutex only guards the cache; the states themselves
 * stay single-owner.
 */
#define STATE_CACHE 8

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cs_noise_state *cache[STATE_CACHE];
static size_t cache_len;

static struct cs_noise_state *
state_alloc(void)
{
	struct cs_noise_state *st = NULL;

	pthread_mutex_lock(&cache_lock);
	if (cache_len > 0)
		st = cache[--cache_len];
	pthread_mutex_unlock(&cache_lock);
	if (st == NULL)
		st = sodium_malloc(sizeof(*st));
	if (st != NULL)
		memset(st, 0, sizeof(*st));
	return st;
}

/* Wipe st, then keep it for reuse or give it back to libsodium. */
static void
state_release(struct cs_noise_state *st)
{
	if (st == NULL)
		return;
	sodium_memzero(st, sizeof(*st));
	pthread_mutex_lock(&cache_lock);
	if (cache_len < STATE_CACHE) {
		cache[cache_len++] = st;
		st = NULL;
	}
	pthread_mutex_unlock(&cache_lock);
	if (st != NULL)
		sodium_free(st);
}

/* ---- HandshakeState (§5.3) ---- */

static void
noise_kill(struct cs_noise *n, int err)
{
	state_release(n->st);
	n->st = NULL;
	if (n->err == 0)
		n->err = err;
}

static bool
has_token(const char *s, char c)
{
	return s[0] == c;
}

int
cs_noise_init(struct cs_noise *n, const struct cs_noise_config *cfg)
{
	struct cs_noise_state *st = NULL;
	const struct pattern *pat;
	const char *name;
	bool need_s, need_rs;
	size_t len, m, t;
	int rc;

	if (n == NULL)
		return CS_EINVAL;
	memset(n, 0, sizeof(*n));
	if (cfg == NULL || (cfg->prologue == NULL && cfg->prologue_len > 0) ||
	    (cfg->psks == NULL && cfg->psk_count > 0))
		return CS_EINVAL;
	name = cfg->protocol != NULL ? cfg->protocol : CS_NOISE_PROTOCOL;
	st = state_alloc();
	if (st == NULL)
		return CS_ENOMEM;
	st->initiator = cfg->initiator;
	rc = parse_protocol(st, name, &pat);
	if (rc != 0)
		goto out;
	if (cfg->psk_count != st->psk_count) {
		rc = CS_NOISE_EPSKCOUNT;
		goto out;
	}
	if (cfg->psk_count > 0)
		memcpy(st->psks, cfg->psks, cfg->psk_count * CS_NOISE_PSK_LEN);

	/* Which static keys the pattern uses on this side (§7.3 validity). */
	need_s = has_token(cfg->initiator ? pat->pre_i : pat->pre_r, 's');
	need_rs = has_token(cfg->initiator ? pat->pre_r : pat->pre_i, 's');
	for (m = 0; m < st->msg_count; m++) {
		bool mine = (m % 2 == 0) == cfg->initiator;

		for (t = 0; t < st->ntokens[m]; t++)
			if (mine && st->tokens[m][t] == TOK_S)
				need_s = true;
	}
	/* A DH token with s on our side needs s; §7.3 makes s precede it. */
	if (need_s && cfg->static_key == NULL) {
		rc = CS_NOISE_EKEY;
		goto out;
	}
	if (need_rs != (cfg->remote_static != NULL)) {
		rc = CS_NOISE_EKEY; /* missing, or given where it would never be checked */
		goto out;
	}
	if (need_s) {
		memcpy(st->s, cfg->static_key, DHLEN);
		crypto_scalarmult_base(st->s_pub, st->s);
		st->has_s = true;
	}
	if (need_rs) {
		memcpy(st->rs, cfg->remote_static, DHLEN);
		st->has_rs = true;
	}

	/* §5.2 InitializeSymmetric: a name ≤ HASHLEN is padded, not hashed. */
	len = strlen(name);
	if (len <= HASHLEN)
		memcpy(st->h, name, len);
	else
		crypto_generichash(st->h, HASHLEN, (const uint8_t *)name, len, NULL, 0);
	memcpy(st->ck, st->h, HASHLEN);
	mix_hash(st, cfg->prologue, cfg->prologue_len);
	/* §7.1 pre-messages: the initiator's first, then the responder's. */
	if (has_token(pat->pre_i, 's'))
		mix_hash(st, cfg->initiator ? st->s_pub : st->rs, DHLEN);
	if (has_token(pat->pre_r, 's'))
		mix_hash(st, cfg->initiator ? st->rs : st->s_pub, DHLEN);
	n->st = st;
	st = NULL;
	rc = 0;
out:
	state_release(st);
	return rc;
}

void
cs_noise_free(struct cs_noise *n)
{
	if (n == NULL)
		return;
	noise_kill(n, 0);
	memset(n, 0, sizeof(*n));
}

int
cs_noise_action(const struct cs_noise *n)
{
	const struct cs_noise_state *st;

	if (n == NULL || n->st == NULL)
		return CS_NOISE_FAILED;
	st = n->st;
	if (st->done)
		return CS_NOISE_DONE;
	return (st->msg_next % 2 == 0) == st->initiator ? CS_NOISE_WRITE : CS_NOISE_READ;
}

bool
cs_noise_handshake_done(const struct cs_noise *n)
{
	return cs_noise_action(n) == CS_NOISE_DONE;
}

int
cs_noise_error(const struct cs_noise *n)
{
	return n == NULL ? CS_EINVAL : n->err;
}

/*
 * Bytes a message pattern adds around its payload, given whether the
 * CipherState has a key on entry: e = 32 (psk mode: keys from here on),
 * s = 32 (+16 once keyed), DH and psk tokens key the state; the payload gets
 * a tag once keyed. Returns the overhead; *keyed is the state at the payload.
 */
static size_t
msg_overhead(const struct cs_noise_state *st, size_t m, bool *keyed)
{
	size_t t, len = 0;
	bool k = st->cs.has_key;

	for (t = 0; t < st->ntokens[m]; t++) {
		switch (st->tokens[m][t]) {
		case TOK_E:
			len += DHLEN;
			if (st->psk_mode)
				k = true;
			break;
		case TOK_S:
			len += DHLEN + (k ? TAGLEN : 0);
			break;
		default:
			k = true;
			break;
		}
	}
	*keyed = k;
	return len + (k ? TAGLEN : 0);
}

size_t
cs_noise_write_len(const struct cs_noise *n, size_t payload_len)
{
	bool keyed;

	if (cs_noise_action(n) != CS_NOISE_WRITE)
		return 0;
	return msg_overhead(n->st, n->st->msg_next, &keyed) + payload_len;
}

/* §7: which keys a DH token combines, for this side. */
static int
dh_token(struct cs_noise_state *st, uint8_t tok)
{
	const uint8_t *priv, *pub;
	uint8_t out[DHLEN];
	bool local_s, remote_s;
	int rc = 0;

	switch (tok) {
	case TOK_EE:
		local_s = remote_s = false;
		break;
	case TOK_ES: /* initiator's e, responder's s */
		local_s = !st->initiator;
		remote_s = st->initiator;
		break;
	case TOK_SE: /* initiator's s, responder's e */
		local_s = st->initiator;
		remote_s = !st->initiator;
		break;
	default:
		local_s = remote_s = true;
		break;
	}
	if ((local_s ? !st->has_s : !st->has_e) || (remote_s ? !st->has_rs : !st->has_re))
		return CS_NOISE_EKEY; /* cannot happen for a valid pattern */
	priv = local_s ? st->s : st->e;
	pub = remote_s ? st->rs : st->re;
	if (crypto_scalarmult(out, priv, pub) != 0) {
		rc = CS_NOISE_EDH;
		goto out;
	}
	mix_key(st, out, DHLEN);
out:
	sodium_memzero(out, sizeof(out));
	return rc;
}

/* §5.2 Split(), then wipe what only the handshake needed. */
static void
split(struct cs_noise_state *st)
{
	uint8_t k1[HASHLEN], k2[HASHLEN];

	hkdf(st->ck, NULL, 0, k1, k2, NULL);
	cipher_init_key(st->initiator ? &st->send : &st->recv, k1);
	cipher_init_key(st->initiator ? &st->recv : &st->send, k2);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	sodium_memzero(st->ck, sizeof(st->ck));
	sodium_memzero(&st->cs, sizeof(st->cs));
	sodium_memzero(st->s, sizeof(st->s));
	sodium_memzero(st->e, sizeof(st->e));
	sodium_memzero(st->psks, sizeof(st->psks));
	st->has_e = false;
	st->done = true;
}

static int
next_psk(struct cs_noise_state *st)
{
	if (st->psk_next >= st->psk_count)
		return CS_NOISE_EKEY;
	mix_key_and_hash(st, st->psks[st->psk_next], CS_NOISE_PSK_LEN);
	sodium_memzero(st->psks[st->psk_next], CS_NOISE_PSK_LEN);
	st->psk_next++;
	return 0;
}

static int
new_ephemeral(struct cs_noise_state *st)
{
#ifdef CS_NOISE_TEST_HOOKS
	if (st->has_fixed_e) {
		memcpy(st->e, st->fixed_e, DHLEN);
		sodium_memzero(st->fixed_e, DHLEN);
		st->has_fixed_e = false;
	} else
#endif
		randombytes_buf(st->e, DHLEN);
	if (crypto_scalarmult_base(st->e_pub, st->e) != 0)
		return CS_NOISE_EDH;
	st->has_e = true;
	return 0;
}

int
cs_noise_write_message(struct cs_noise *n, const uint8_t *payload, size_t payload_len, uint8_t *out,
    size_t cap, size_t *out_len)
{
	struct cs_noise_state *st;
	size_t m, t, off = 0, total;
	bool keyed;
	int rc;

	if (n == NULL)
		return CS_EINVAL;
	if (n->st == NULL)
		return CS_NOISE_EDEAD;
	st = n->st;
	if (out == NULL || out_len == NULL || (payload == NULL && payload_len > 0)) {
		rc = CS_EINVAL;
		goto out;
	}
	if (cs_noise_action(n) != CS_NOISE_WRITE) {
		rc = CS_NOISE_EORDER;
		goto out;
	}
	m = st->msg_next;
	total = msg_overhead(st, m, &keyed);
	if (payload_len > CS_NOISE_MAX_MSG - total) {
		rc = CS_NOISE_ETOOLONG;
		goto out;
	}
	total += payload_len;
	if (total > cap) {
		rc = CS_NOISE_EBUF;
		goto out;
	}
	for (t = 0; t < st->ntokens[m]; t++) {
		uint8_t tok = st->tokens[m][t];

		rc = 0;
		switch (tok) {
		case TOK_E:
			rc = new_ephemeral(st);
			if (rc != 0)
				break;
			memcpy(out + off, st->e_pub, DHLEN);
			off += DHLEN;
			mix_hash(st, st->e_pub, DHLEN);
			if (st->psk_mode)
				mix_key(st, st->e_pub, DHLEN); /* §9.2 */
			break;
		case TOK_S:
			keyed = st->cs.has_key;
			rc = encrypt_and_hash(st, st->s_pub, DHLEN, out + off);
			off += DHLEN + (keyed ? TAGLEN : 0);
			break;
		case TOK_PSK:
			rc = next_psk(st);
			break;
		default:
			rc = dh_token(st, tok);
			break;
		}
		if (rc != 0)
			goto out;
	}
	rc = encrypt_and_hash(st, payload, payload_len, out + off);
	if (rc != 0)
		goto out;
	off += payload_len + (st->cs.has_key ? TAGLEN : 0);
	*out_len = off;
	st->msg_next++;
	if (st->msg_next == st->msg_count)
		split(st);
	rc = 0;
out:
	if (rc != 0)
		noise_kill(n, rc);
	return rc;
}

int
cs_noise_read_message(struct cs_noise *n, const uint8_t *msg, size_t msg_len, uint8_t *payload,
    size_t cap, size_t *payload_len)
{
	struct cs_noise_state *st;
	size_t m, t, off = 0, overhead, plen, slen;
	bool keyed;
	int rc, auth;

	if (n == NULL)
		return CS_EINVAL;
	if (n->st == NULL)
		return CS_NOISE_EDEAD;
	st = n->st;
	if ((msg == NULL && msg_len > 0) || payload_len == NULL || (payload == NULL && cap > 0)) {
		rc = CS_EINVAL;
		goto out;
	}
	if (cs_noise_action(n) != CS_NOISE_READ) {
		rc = CS_NOISE_EORDER;
		goto out;
	}
	if (msg_len > CS_NOISE_MAX_MSG) {
		rc = CS_NOISE_ETOOLONG;
		goto out;
	}
	m = st->msg_next;
	overhead = msg_overhead(st, m, &keyed);
	if (msg_len < overhead) {
		rc = CS_NOISE_ESHORT;
		goto out;
	}
	plen = msg_len - overhead;
	if (plen > cap) {
		rc = CS_NOISE_EBUF;
		goto out;
	}
	auth = m == 0 ? CS_NOISE_EAUTH1 : CS_NOISE_EAUTH;
	for (t = 0; t < st->ntokens[m]; t++) {
		uint8_t tok = st->tokens[m][t];

		rc = 0;
		switch (tok) {
		case TOK_E:
			memcpy(st->re, msg + off, DHLEN);
			st->has_re = true;
			off += DHLEN;
			mix_hash(st, st->re, DHLEN);
			if (st->psk_mode)
				mix_key(st, st->re, DHLEN); /* §9.2 */
			break;
		case TOK_S:
			if (st->has_rs) {
				rc = CS_NOISE_EKEY; /* §7.3: a pattern never sends s twice */
				break;
			}
			slen = DHLEN + (st->cs.has_key ? TAGLEN : 0);
			rc = decrypt_and_hash(st, msg + off, slen, st->rs, auth);
			if (rc == 0)
				st->has_rs = true;
			off += slen;
			break;
		case TOK_PSK:
			rc = next_psk(st);
			break;
		default:
			rc = dh_token(st, tok);
			break;
		}
		if (rc != 0)
			goto out;
	}
	/* A payload of 0 bytes still carries a tag once keyed; payload may be NULL then. */
	if (plen == 0 && payload == NULL) {
		uint8_t dummy[1];

		rc = decrypt_and_hash(st, msg + off, msg_len - off, dummy, auth);
	} else {
		rc = decrypt_and_hash(st, msg + off, msg_len - off, payload, auth);
	}
	if (rc != 0)
		goto out;
	*payload_len = plen;
	st->msg_next++;
	if (st->msg_next == st->msg_count)
		split(st);
	rc = 0;
out:
	if (rc != 0) {
		if (payload != NULL && cap > 0)
			sodium_memzero(payload, cap < msg_len ? cap : msg_len);
		noise_kill(n, rc);
	}
	return rc;
}

int
cs_noise_handshake_hash(const struct cs_noise *n, uint8_t out[static CS_NOISE_HASH_LEN])
{
	if (n == NULL || out == NULL)
		return CS_EINVAL;
	if (n->st == NULL)
		return CS_NOISE_EDEAD;
	if (!n->st->done)
		return CS_NOISE_ENOTDONE;
	memcpy(out, n->st->h, HASHLEN);
	return 0;
}

int
cs_noise_remote_static(const struct cs_noise *n, uint8_t out[static CS_NOISE_DH_LEN])
{
	if (n == NULL || out == NULL)
		return CS_EINVAL;
	if (n->st == NULL)
		return CS_NOISE_EDEAD;
	if (!n->st->has_rs)
		return CS_ENOENT;
	memcpy(out, n->st->rs, DHLEN);
	return 0;
}

int
cs_noise_local_static(const struct cs_noise *n, uint8_t out[static CS_NOISE_DH_LEN])
{
	if (n == NULL || out == NULL)
		return CS_EINVAL;
	if (n->st == NULL)
		return CS_NOISE_EDEAD;
	if (!n->st->has_s)
		return CS_ENOENT;
	memcpy(out, n->st->s_pub, DHLEN);
	return 0;
}

/* Common checks of the transport calls; returns the cipher to use or NULL. */
static struct cipher *
transport(struct cs_noise *n, bool send, int *rc)
{
	struct cs_noise_state *st = n->st;

	if (st == NULL) {
		*rc = CS_NOISE_EDEAD;
		return NULL;
	}
	if (!st->done) {
		*rc = CS_NOISE_ENOTDONE;
		return NULL;
	}
	/* §7.4: after a one-way pattern only the initiator sends. */
	if (st->one_way && send != st->initiator) {
		*rc = CS_NOISE_EONEWAY;
		return NULL;
	}
	*rc = 0;
	return send ? &st->send : &st->recv;
}

int
cs_noise_encrypt(struct cs_noise *n, const uint8_t *plain, size_t len, uint8_t *out, size_t cap,
    size_t *out_len)
{
	struct cipher *c;
	int rc;

	if (n == NULL)
		return CS_EINVAL;
	if (n->st == NULL)
		return CS_NOISE_EDEAD;
	if ((plain == NULL && len > 0) || out == NULL || out_len == NULL) {
		rc = CS_EINVAL;
		goto out;
	}
	c = transport(n, true, &rc);
	if (c == NULL)
		goto out;
	if (len > CS_NOISE_MAX_PLAIN) {
		rc = CS_NOISE_ETOOLONG;
		goto out;
	}
	if (cap < len + TAGLEN) {
		rc = CS_NOISE_EBUF;
		goto out;
	}
	rc = cipher_encrypt(c, NULL, 0, plain, len, out);
	if (rc != 0)
		goto out;
	*out_len = len + TAGLEN;
out:
	if (rc != 0)
		noise_kill(n, rc);
	return rc;
}

int
cs_noise_decrypt(struct cs_noise *n, const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
    size_t *out_len)
{
	struct cipher *c;
	uint8_t dummy[1];
	int rc;

	if (n == NULL)
		return CS_EINVAL;
	if (n->st == NULL)
		return CS_NOISE_EDEAD;
	if ((msg == NULL && len > 0) || out_len == NULL || (out == NULL && cap > 0)) {
		rc = CS_EINVAL;
		goto out;
	}
	c = transport(n, false, &rc);
	if (c == NULL)
		goto out;
	if (len > CS_NOISE_MAX_MSG) {
		rc = CS_NOISE_ETOOLONG;
		goto out;
	}
	if (len < TAGLEN) {
		rc = CS_NOISE_ESHORT;
		goto out;
	}
	if (cap < len - TAGLEN) {
		rc = CS_NOISE_EBUF;
		goto out;
	}
	rc = cipher_decrypt(c, NULL, 0, msg, len, out != NULL ? out : dummy, CS_NOISE_EDECRYPT);
	if (rc != 0)
		goto out;
	*out_len = len - TAGLEN;
out:
	if (rc != 0)
		noise_kill(n, rc);
	return rc;
}

int
cs_noise_rekey(struct cs_noise *n, bool send)
{
	struct cipher *c;
	int rc;

	if (n == NULL)
		return CS_EINVAL;
	if (n->st == NULL)
		return CS_NOISE_EDEAD;
	c = transport(n, send, &rc);
	if (c == NULL) {
		noise_kill(n, rc);
		return rc;
	}
	cipher_rekey(c);
	return 0;
}

const char *
cs_noise_strerror(int err)
{
	switch (err) {
	case CS_NOISE_EDECRYPT:
		return "noise: transport message failed authentication (tampered, replayed or "
		       "reordered)";
	case CS_NOISE_EAUTH1:
		return "noise: handshake message 1 failed authentication (wrong psk or prologue: "
		       "another cabinet, key epoch or invite code)";
	case CS_NOISE_EAUTH:
		return "noise: handshake message failed authentication (tampered, or wrong key)";
	case CS_NOISE_ESHORT:
		return "noise: message truncated";
	case CS_NOISE_ETOOLONG:
		return "noise: message longer than 65535 bytes";
	case CS_NOISE_EBUF:
		return "noise: output buffer too small";
	case CS_NOISE_EORDER:
		return "noise: message out of order (not this side's turn, or handshake over)";
	case CS_NOISE_EDEAD:
		return "noise: session unusable after an earlier failure";
	case CS_NOISE_ENONCE:
		return "noise: nonce exhausted, session must end";
	case CS_NOISE_EPROTO:
		return "noise: unknown or unsupported protocol name";
	case CS_NOISE_EKEY:
		return "noise: a static key the pattern needs is missing, or one it cannot use "
		       "was given";
	case CS_NOISE_EDH:
		return "noise: peer sent a low-order public key";
	case CS_NOISE_EPSKCOUNT:
		return "noise: number of psks does not match the protocol name";
	case CS_NOISE_EONEWAY:
		return "noise: one-way pattern: this side may not send (or receive)";
	case CS_NOISE_ENOTDONE:
		return "noise: handshake not complete";
	default:
		return "unknown noise error";
	}
}

/* ---- cabsync psk and prologues (DESIGN.md "Wire", PROTOCOL.md §1) ---- */

int
cs_noise_session_psk(uint8_t psk[static CS_NOISE_PSK_LEN],
    const uint8_t cabinet_key[static CS_NOISE_KEY_LEN], uint32_t epoch)
{
	static const char label[] = "cabsync psk v1";
	uint8_t msg[sizeof(label) - 1 + 4];

	if (psk == NULL || cabinet_key == NULL)
		return CS_EINVAL;
	memcpy(msg, label, sizeof(label) - 1);
	msg[sizeof(label) - 1] = (uint8_t)(epoch >> 24);
	msg[sizeof(label)] = (uint8_t)(epoch >> 16);
	msg[sizeof(label) + 1] = (uint8_t)(epoch >> 8);
	msg[sizeof(label) + 2] = (uint8_t)epoch;
	if (crypto_generichash(psk, CS_NOISE_PSK_LEN, msg, sizeof(msg), cabinet_key,
	        CS_NOISE_KEY_LEN) != 0)
		return CS_EIO;
	return 0;
}

int
cs_noise_invite_psk(uint8_t psk[static CS_NOISE_PSK_LEN], const uint8_t *secret, size_t secret_len)
{
	static const char label[] = "cabsync invite v1";

	if (psk == NULL || secret == NULL || secret_len < crypto_generichash_KEYBYTES_MIN ||
	    secret_len > crypto_generichash_KEYBYTES_MAX)
		return CS_EINVAL;
	if (crypto_generichash(psk, CS_NOISE_PSK_LEN, (const uint8_t *)label, sizeof(label) - 1,
	        secret, secret_len) != 0)
		return CS_EIO;
	return 0;
}

size_t
cs_noise_session_prologue(uint8_t out[static CS_NOISE_PROLOGUE_MAX],
    const uint8_t cabinet_id[static CS_NOISE_CABINET_ID_LEN])
{
	static const char label[] = CS_NOISE_SESSION_PROLOGUE;

	memcpy(out, label, sizeof(label)); /* with its 0x00 */
	memcpy(out + sizeof(label), cabinet_id, CS_NOISE_CABINET_ID_LEN);
	return sizeof(label) + CS_NOISE_CABINET_ID_LEN;
}

size_t
cs_noise_invite_prologue(uint8_t out[static CS_NOISE_PROLOGUE_MAX])
{
	static const char label[] = CS_NOISE_INVITE_PROLOGUE;

	memcpy(out, label, sizeof(label));
	return sizeof(label);
}

int
cs_noise_init_session(struct cs_noise *n, bool initiator,
    const uint8_t static_key[static CS_NOISE_DH_LEN],
    const uint8_t cabinet_key[static CS_NOISE_KEY_LEN], uint32_t epoch,
    const uint8_t cabinet_id[static CS_NOISE_CABINET_ID_LEN])
{
	struct cs_noise_config c = {0};
	uint8_t psk[CS_NOISE_PSK_LEN], pro[CS_NOISE_PROLOGUE_MAX];
	int rc;

	if (n == NULL)
		return CS_EINVAL;
	memset(n, 0, sizeof(*n)); /* free-able whatever happens, as after cs_noise_init */
	if (static_key == NULL || cabinet_key == NULL || cabinet_id == NULL)
		return CS_EINVAL;
	rc = cs_noise_session_psk(psk, cabinet_key, epoch);
	if (rc != 0)
		goto out;
	c.initiator = initiator;
	c.prologue = pro;
	c.prologue_len = cs_noise_session_prologue(pro, cabinet_id);
	c.static_key = static_key;
	c.psks = psk;
	c.psk_count = 1;
	rc = cs_noise_init(n, &c);
out:
	sodium_memzero(psk, sizeof(psk));
	return rc;
}

int
cs_noise_init_invite(struct cs_noise *n, bool initiator,
    const uint8_t static_key[static CS_NOISE_DH_LEN], const uint8_t *secret, size_t secret_len)
{
	struct cs_noise_config c = {0};
	uint8_t psk[CS_NOISE_PSK_LEN], pro[CS_NOISE_PROLOGUE_MAX];
	int rc;

	if (n == NULL)
		return CS_EINVAL;
	memset(n, 0, sizeof(*n));
	if (static_key == NULL)
		return CS_EINVAL;
	rc = cs_noise_invite_psk(psk, secret, secret_len);
	if (rc != 0)
		goto out;
	c.initiator = initiator;
	c.prologue = pro;
	c.prologue_len = cs_noise_invite_prologue(pro);
	c.static_key = static_key;
	c.psks = psk;
	c.psk_count = 1;
	rc = cs_noise_init(n, &c);
out:
	sodium_memzero(psk, sizeof(psk));
	return rc;
}

#ifdef CS_NOISE_TEST_HOOKS
int
cs_noise_test_set_ephemeral(struct cs_noise *n, const uint8_t priv[static CS_NOISE_DH_LEN])
{
	if (n == NULL || n->st == NULL || priv == NULL)
		return CS_EINVAL;
	memcpy(n->st->fixed_e, priv, DHLEN);
	n->st->has_fixed_e = true;
	return 0;
}

int
cs_noise_test_set_nonce(struct cs_noise *n, bool send, uint64_t nonce)
{
	if (n == NULL || n->st == NULL || !n->st->done)
		return CS_EINVAL;
	(send ? &n->st->send : &n->st->recv)->n = nonce;
	return 0;
}
#endif
