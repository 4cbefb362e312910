/*
 * wire/bundle.c: sealed relay bundles, docs/PROTOCOL.md §6.
 *
 * Layout (§6.1): header | outer nonce | key envelope | outer tag | chunks |
 * signature. One pass over the payload when sealing (secretstream push, and
 * the BLAKE2b digest the signature covers); two when opening (the digest,
 * verified before anything else, then secretstream pull).
 */
#include "bundle.h"

#include <string.h>

#include "base/mem.h"

/* §6.2 header offsets */
#define OFF_MAGIC     0
#define OFF_VERSION   4
#define OFF_RESERVED  5 /* 3 bytes, zero */
#define OFF_CHUNK     8
#define OFF_EPOCH     12
#define OFF_CABHASH   16
#define OFF_SENDER    48
#define OFF_RECIPIENT 64
#define OFF_BUNDLE_ID 80
#define OFF_CREATED   96
#define OFF_EXPIRES   104
#define CABHASH_LEN   32
/* §6.1 offsets after the header */
#define OFF_NONCE    CS_BUNDLE_HEADER_LEN
#define OFF_ENVELOPE (OFF_NONCE + CS_BUNDLE_NONCE_LEN)
#define OFF_OUTERTAG (OFF_ENVELOPE + CS_BUNDLE_ENVELOPE_LEN)
#define DIGEST_LEN   64

/* §6.3 domain-separation strings (ASCII, no terminator) */
static const char DOM_OUTER[] = "cabsync bundle outer v1";
static const char DOM_STREAM[] = "cabsync bundle stream v1";
static const char DOM_CABINET[] = "cabsync bundle cabinet v1";
static const char DOM_SIG[] = "cabsync bundle sig v1";
#define DOM_LEN(d) (sizeof(d) - 1)

_Static_assert(OFF_EXPIRES + 8 == CS_BUNDLE_HEADER_LEN, "header layout");
_Static_assert(OFF_OUTERTAG + CS_BUNDLE_TAG_LEN == CS_BUNDLE_PREFIX_LEN, "prefix layout");
_Static_assert(CS_BUNDLE_SEALED_LEN == CS_BUNDLE_KEY_LEN + crypto_box_SEALBYTES, "sealed");
_Static_assert(CS_BUNDLE_SSHDR_LEN == crypto_secretstream_xchacha20poly1305_HEADERBYTES, "sshdr");
_Static_assert(CS_BUNDLE_ENVELOPE_LEN == CS_BUNDLE_SEALED_LEN + CS_BUNDLE_SSHDR_LEN, "env");
_Static_assert(CS_BUNDLE_CHUNK_ABYTES == crypto_secretstream_xchacha20poly1305_ABYTES, "abytes");
_Static_assert(CS_BUNDLE_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");
_Static_assert(CS_BUNDLE_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag");
_Static_assert(CS_BUNDLE_SIG_LEN == crypto_sign_BYTES, "sig");
_Static_assert(CS_BUNDLE_KEY_LEN == crypto_secretstream_xchacha20poly1305_KEYBYTES, "key");
_Static_assert(CS_BUNDLE_CHUNK_MAX <= crypto_secretstream_xchacha20poly1305_MESSAGEBYTES_MAX,
    "chunk");

const char *
cs_bundle_strerror(int err)
{
	switch (err) {
	case CS_BUNDLE_ETOOBIG:
		return "bundle larger than allowed";
	case CS_BUNDLE_ESHORT:
		return "bundle too short (truncated)";
	case CS_BUNDLE_EMAGIC:
		return "not a cabsync bundle";
	case CS_BUNDLE_EVERSION:
		return "bundle format version not supported";
	case CS_BUNDLE_EHEADER:
		return "bundle header malformed";
	case CS_BUNDLE_ELAYOUT:
		return "bundle stream length is not a chunk sequence (truncated)";
	case CS_BUNDLE_ESENDER:
		return "bundle sender device unknown";
	case CS_BUNDLE_EREVOKED:
		return "bundle sender device revoked";
	case CS_BUNDLE_ESIG:
		return "bundle signature invalid (tampered or not from its sender)";
	case CS_BUNDLE_EEPOCH:
		return "bundle cabinet key epoch unknown";
	case CS_BUNDLE_EOLDEPOCH:
		return "bundle sealed under a retired cabinet key epoch";
	case CS_BUNDLE_EOUTER:
		return "bundle outer layer does not open with the cabinet key";
	case CS_BUNDLE_ECABINET:
		return "bundle belongs to another cabinet";
	case CS_BUNDLE_ERECIPIENT:
		return "bundle addressed to another device";
	case CS_BUNDLE_ELIFETIME:
		return "bundle lifetime invalid (expiry not after creation, or too long)";
	case CS_BUNDLE_EEXPIRED:
		return "bundle expired";
	case CS_BUNDLE_EFUTURE:
		return "bundle created in the future (clock skew)";
	case CS_BUNDLE_EREPLAY:
		return "bundle already received (replay)";
	case CS_BUNDLE_ESEALED:
		return "bundle key not sealed to this device's key";
	case CS_BUNDLE_ESTREAM:
		return "bundle payload chunk fails authentication";
	case CS_BUNDLE_ENOFINAL:
		return "bundle payload truncated (no final chunk)";
	case CS_BUNDLE_EEARLYFINAL:
		return "bundle payload has data after its final chunk";
	case CS_BUNDLE_ETAG:
		return "bundle payload chunk has an unexpected tag";
	case CS_BUNDLE_ESTATE:
		return "bundle call out of order";
	default:
		return cs_strerror(err);
	}
}

static void
put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
put_u64be(uint8_t *p, uint64_t v)
{
	put_u32be(p, (uint32_t)(v >> 32));
	put_u32be(p + 4, (uint32_t)v);
}

static uint32_t
get_u32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get_u64be(const uint8_t *p)
{
	return (uint64_t)get_u32be(p) << 32 | get_u32be(p + 4);
}

/*
 * BLAKE2b-256 keyed with the cabinet key over dom || extra (§6.3): the outer
 * key, the stream key and the cabinet hash all come from here.
 */
static void
cabinet_kdf(uint8_t out[static 32], const uint8_t cabinet_key[static CS_BUNDLE_KEY_LEN],
    const char *dom, size_t dom_len, const uint8_t *extra, size_t extra_len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, cabinet_key, CS_BUNDLE_KEY_LEN, 32);
	crypto_generichash_update(&st, (const uint8_t *)dom, dom_len);
	if (extra_len > 0)
		crypto_generichash_update(&st, extra, extra_len);
	crypto_generichash_final(&st, out, 32);
	sodium_memzero(&st, sizeof(st));
}

/* The message the Ed25519 signature covers: "cabsync bundle sig v1" || digest. */
static void
sig_message(uint8_t msg[static DOM_LEN(DOM_SIG) + DIGEST_LEN], const uint8_t digest[static 64])
{
	memcpy(msg, DOM_SIG, DOM_LEN(DOM_SIG));
	memcpy(msg + DOM_LEN(DOM_SIG), digest, DIGEST_LEN);
}

uint64_t
cs_bundle_sealed_len(uint64_t payload_len, uint32_t chunk_size)
{
	uint64_t chunks;

	const uint64_t fixed = CS_BUNDLE_PREFIX_LEN + CS_BUNDLE_SIG_LEN;

	if (chunk_size == 0)
		chunk_size = CS_BUNDLE_CHUNK_DEFAULT;
	chunks = payload_len / chunk_size + (payload_len % chunk_size != 0);
	if (chunks == 0)
		chunks = 1; /* the empty final chunk */
	if (payload_len > UINT64_MAX - fixed - chunks * CS_BUNDLE_CHUNK_ABYTES)
		return UINT64_MAX; /* no such bundle can exist: callers see it as too big */
	return fixed + payload_len + chunks * CS_BUNDLE_CHUNK_ABYTES;
}

const uint8_t *
cs_bundle_seal_id(const struct cs_bundle_sealer *s)
{
	return s->bundle_id;
}

void
cs_bundle_seal_free(struct cs_bundle_sealer *s)
{
	size_t memlen;

	if (s == NULL)
		return;
	if (s->mem != NULL) {
		memlen = 64 + sizeof(crypto_generichash_state) + 2 * (size_t)s->chunk_size +
		    CS_BUNDLE_CHUNK_ABYTES;
		sodium_memzero(s->mem, memlen); /* pending plaintext too */
		cs_free(s->mem);
	}
	sodium_memzero(s, sizeof(*s));
}

/* Hand bytes to the writer and to the digest the signature covers. */
static int
seal_emit(struct cs_bundle_sealer *s, const uint8_t *p, size_t n)
{
	int rc;

	crypto_generichash_update(s->hash, p, n);
	rc = s->sink(s->sink_ctx, p, n);
	if (rc > 0)
		rc = CS_EIO; /* a writer must return 0 or a negative code */
	return rc;
}

/* Seal one chunk (header as AD of the first, §6.5) and emit it. */
static int
seal_chunk(struct cs_bundle_sealer *s, const uint8_t *p, size_t n, unsigned char tag)
{
	unsigned long long clen = 0;
	const uint8_t *ad = NULL;
	size_t adlen = 0;

	if (s->first) {
		ad = s->header;
		adlen = CS_BUNDLE_HEADER_LEN;
		s->first = 0;
	}
	crypto_secretstream_xchacha20poly1305_push(&s->ss, s->ct, &clen, p, n, ad, adlen, tag);
	return seal_emit(s, s->ct, (size_t)clen);
}

int
cs_bundle_seal_init(struct cs_bundle_sealer *s, const struct cs_bundle_seal_params *p,
    cs_bundle_write_fn write, void *write_ctx)
{
	uint8_t bundle_key[CS_BUNDLE_KEY_LEN];
	uint8_t stream_key[CS_BUNDLE_KEY_LEN];
	uint8_t outer_key[32];
	uint8_t env[CS_BUNDLE_ENVELOPE_LEN];
	uint8_t prefix[CS_BUNDLE_PREFIX_LEN];
	uint8_t *h = prefix;
	uint32_t chunk;
	size_t memlen;
	uintptr_t a;
	int rc;

	if (s == NULL)
		return CS_EINVAL;
	memset(s, 0, sizeof(*s));
	if (p == NULL || write == NULL || p->cabinet_id == NULL || p->cabinet_key == NULL ||
	    p->sender_id == NULL || p->recipient_id == NULL || p->recipient_pk == NULL)
		return CS_EINVAL;
	chunk = p->chunk_size == 0 ? CS_BUNDLE_CHUNK_DEFAULT : p->chunk_size;
	if (chunk < CS_BUNDLE_CHUNK_MIN || chunk > CS_BUNDLE_CHUNK_MAX ||
	    p->expires_ms <= p->created_ms)
		return CS_EINVAL;

	s->chunk_size = chunk;
	memlen = 64 + sizeof(crypto_generichash_state) + 2 * (size_t)chunk + CS_BUNDLE_CHUNK_ABYTES;
	s->mem = cs_malloc(memlen);
	if (s->mem == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	/* crypto_generichash_state is declared 64-byte aligned; malloc gives 16. */
	a = ((uintptr_t)s->mem + 63) & ~(uintptr_t)63;
	s->hash = (crypto_generichash_state *)a;
	s->pending = (uint8_t *)(a + sizeof(crypto_generichash_state));
	s->ct = s->pending + chunk;
	s->sink = write;
	s->sink_ctx = write_ctx;
	s->first = 1;

	/* §6.2 header */
	memset(h, 0, CS_BUNDLE_HEADER_LEN);
	h[OFF_MAGIC] = CS_BUNDLE_MAGIC_0;
	h[OFF_MAGIC + 1] = CS_BUNDLE_MAGIC_1;
	h[OFF_MAGIC + 2] = CS_BUNDLE_MAGIC_2;
	h[OFF_MAGIC + 3] = CS_BUNDLE_MAGIC_3;
	h[OFF_VERSION] = CS_BUNDLE_VERSION;
	put_u32be(h + OFF_CHUNK, chunk);
	put_u32be(h + OFF_EPOCH, p->epoch);
	cabinet_kdf(h + OFF_CABHASH, p->cabinet_key, DOM_CABINET, DOM_LEN(DOM_CABINET),
	    p->cabinet_id, CS_BUNDLE_ID_LEN);
	memcpy(h + OFF_SENDER, p->sender_id, CS_BUNDLE_ID_LEN);
	memcpy(h + OFF_RECIPIENT, p->recipient_id, CS_BUNDLE_ID_LEN);
	if (p->bundle_id != NULL)
		memcpy(h + OFF_BUNDLE_ID, p->bundle_id, CS_BUNDLE_ID_LEN);
	else
		randombytes_buf(h + OFF_BUNDLE_ID, CS_BUNDLE_ID_LEN);
	put_u64be(h + OFF_CREATED, p->created_ms);
	put_u64be(h + OFF_EXPIRES, p->expires_ms);
	memcpy(s->header, h, CS_BUNDLE_HEADER_LEN);
	memcpy(s->bundle_id, h + OFF_BUNDLE_ID, CS_BUNDLE_ID_LEN);

	/* §6.3 keys; §6.4 envelope = box_seal(bundle key) || secretstream header */
	crypto_secretstream_xchacha20poly1305_keygen(bundle_key);
	if (crypto_box_seal(env, bundle_key, CS_BUNDLE_KEY_LEN, p->recipient_pk) != 0) {
		rc = CS_EINVAL; /* not a valid X25519 public key */
		goto out;
	}
	cabinet_kdf(stream_key, p->cabinet_key, DOM_STREAM, DOM_LEN(DOM_STREAM), bundle_key,
	    CS_BUNDLE_KEY_LEN);
	crypto_secretstream_xchacha20poly1305_init_push(&s->ss, env + CS_BUNDLE_SEALED_LEN,
	    stream_key);
	cabinet_kdf(outer_key, p->cabinet_key, DOM_OUTER, DOM_LEN(DOM_OUTER), NULL, 0);
	randombytes_buf(prefix + OFF_NONCE, CS_BUNDLE_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(prefix + OFF_ENVELOPE,
	    prefix + OFF_OUTERTAG, NULL, env, sizeof(env), h, CS_BUNDLE_HEADER_LEN, NULL,
	    prefix + OFF_NONCE, outer_key);

	crypto_generichash_init(s->hash, NULL, 0, DIGEST_LEN);
	rc = seal_emit(s, prefix, sizeof(prefix));
out:
	sodium_memzero(bundle_key, sizeof(bundle_key));
	sodium_memzero(stream_key, sizeof(stream_key));
	sodium_memzero(outer_key, sizeof(outer_key));
	sodium_memzero(env, sizeof(env));
	if (rc != 0)
		cs_bundle_seal_free(s);
	return rc;
}

int
cs_bundle_seal_push(struct cs_bundle_sealer *s, const uint8_t *p, size_t n)
{
	size_t take;
	int rc = 0;

	if (s == NULL || (p == NULL && n > 0))
		return CS_EINVAL;
	if (s->err != 0)
		return s->err;
	if (s->mem == NULL || s->done)
		return CS_BUNDLE_ESTATE;
	if (n == 0)
		return 0;
	s->payload_len += n;
	/*
	 * A full chunk is sealed only once a byte after it exists: the last
	 * chunk, full or not, must carry the final tag (§6.5).
	 */
	if (s->pending_len > 0 || n <= s->chunk_size) {
		take = s->chunk_size - s->pending_len;
		if (take > n)
			take = n;
		memcpy(s->pending + s->pending_len, p, take);
		s->pending_len += take;
		p += take;
		n -= take;
		if (n == 0)
			goto out;
		rc = seal_chunk(s, s->pending, s->chunk_size,
		    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
		s->pending_len = 0;
		if (rc != 0)
			goto out;
	}
	/* Straight from the caller's buffer: the payload is not copied. */
	while (n > s->chunk_size) {
		rc = seal_chunk(s, p, s->chunk_size,
		    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
		if (rc != 0)
			goto out;
		p += s->chunk_size;
		n -= s->chunk_size;
	}
	memcpy(s->pending, p, n);
	s->pending_len = n;
out:
	if (rc != 0)
		s->err = rc;
	return rc;
}

int
cs_bundle_seal_final(struct cs_bundle_sealer *s, const uint8_t *sign_sk)
{
	uint8_t digest[DIGEST_LEN];
	uint8_t msg[DOM_LEN(DOM_SIG) + DIGEST_LEN];
	uint8_t sig[CS_BUNDLE_SIG_LEN];
	int rc;

	if (s == NULL || sign_sk == NULL)
		return CS_EINVAL;
	if (s->err != 0)
		return s->err;
	if (s->mem == NULL || s->done)
		return CS_BUNDLE_ESTATE;
	rc = seal_chunk(s, s->pending, s->pending_len,
	    crypto_secretstream_xchacha20poly1305_TAG_FINAL);
	if (rc != 0)
		goto out;
	crypto_generichash_final(s->hash, digest, sizeof(digest));
	sig_message(msg, digest);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sign_sk);
	rc = s->sink(s->sink_ctx, sig, sizeof(sig));
	if (rc > 0)
		rc = CS_EIO;
out:
	sodium_memzero(&s->ss, sizeof(s->ss));
	s->done = 1;
	if (rc != 0)
		s->err = rc;
	return rc;
}

/* The one-shot sealer's writer: fills a buffer sized by cs_bundle_sealed_len(). */
struct membuf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static int
membuf_write(void *ctx, const uint8_t *p, size_t n)
{
	struct membuf *m = ctx;

	if (n > m->cap - m->len)
		return CS_ERANGE; /* cannot happen: the length is exact */
	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

int
cs_bundle_seal(const struct cs_bundle_seal_params *p, const uint8_t *sign_sk,
    const uint8_t *payload, size_t payload_len, uint8_t **out, size_t *out_len)
{
	struct cs_bundle_sealer s;
	struct membuf m = {NULL, 0, 0};
	uint64_t total;
	int rc;

	memset(&s, 0, sizeof(s));
	if (p == NULL || sign_sk == NULL || out == NULL || out_len == NULL ||
	    (payload == NULL && payload_len > 0))
		return CS_EINVAL;
	*out = NULL;
	*out_len = 0;
	total = cs_bundle_sealed_len(payload_len, p->chunk_size);
	if (total > SIZE_MAX)
		return CS_ERANGE;
	m.cap = (size_t)total;
	m.p = cs_malloc(m.cap);
	if (m.p == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	rc = cs_bundle_seal_init(&s, p, membuf_write, &m);
	if (rc != 0)
		goto out;
	rc = cs_bundle_seal_push(&s, payload, payload_len);
	if (rc != 0)
		goto out;
	rc = cs_bundle_seal_final(&s, sign_sk);
	if (rc != 0)
		goto out;
	if (m.len != m.cap) {
		rc = CS_ERANGE;
		goto out;
	}
	*out = m.p;
	*out_len = m.len;
	m.p = NULL;
out:
	cs_bundle_seal_free(&s);
	cs_free(m.p);
	return rc;
}

/* Opening (§6.7) */

void
cs_bundle_open_free(struct cs_bundle_opener *o)
{
	if (o == NULL)
		return;
	sodium_memzero(o, sizeof(*o));
}

/*
 * Steps 1–2 and the stream layout: structure only, before any key is looked
 * up. The chunk lengths follow from the stream length alone (§6.5).
 */
static int
open_structure(struct cs_bundle_opener *o, const uint8_t *buf, size_t len, size_t max_len)
{
	const uint8_t *h = buf;
	uint64_t chunk, full, stream, n, last;

	if (len > max_len)
		return CS_BUNDLE_ETOOBIG;
	if (len < OFF_VERSION + 1)
		return CS_BUNDLE_ESHORT;
	if (h[OFF_MAGIC] != CS_BUNDLE_MAGIC_0 || h[OFF_MAGIC + 1] != CS_BUNDLE_MAGIC_1 ||
	    h[OFF_MAGIC + 2] != CS_BUNDLE_MAGIC_2 || h[OFF_MAGIC + 3] != CS_BUNDLE_MAGIC_3)
		return CS_BUNDLE_EMAGIC;
	if (h[OFF_VERSION] != CS_BUNDLE_VERSION)
		return CS_BUNDLE_EVERSION;
	if (len < CS_BUNDLE_MIN_LEN)
		return CS_BUNDLE_ESHORT;
	if (h[OFF_RESERVED] != 0 || h[OFF_RESERVED + 1] != 0 || h[OFF_RESERVED + 2] != 0)
		return CS_BUNDLE_EHEADER;
	chunk = get_u32be(h + OFF_CHUNK);
	if (chunk < CS_BUNDLE_CHUNK_MIN || chunk > CS_BUNDLE_CHUNK_MAX)
		return CS_BUNDLE_EHEADER;
	stream = len - CS_BUNDLE_PREFIX_LEN - CS_BUNDLE_SIG_LEN; /* >= ABYTES */
	full = chunk + CS_BUNDLE_CHUNK_ABYTES;
	n = (stream + full - 1) / full;
	last = stream - (n - 1) * full;
	if (last < CS_BUNDLE_CHUNK_ABYTES)
		return CS_BUNDLE_ELAYOUT;
	o->info.chunk_size = (uint32_t)chunk;
	o->info.chunks = (size_t)n;
	o->info.payload_len = stream - n * CS_BUNDLE_CHUNK_ABYTES;
	o->info.epoch = get_u32be(h + OFF_EPOCH);
	memcpy(o->info.sender_id, h + OFF_SENDER, CS_BUNDLE_ID_LEN);
	memcpy(o->info.recipient_id, h + OFF_RECIPIENT, CS_BUNDLE_ID_LEN);
	memcpy(o->info.bundle_id, h + OFF_BUNDLE_ID, CS_BUNDLE_ID_LEN);
	o->info.created_ms = get_u64be(h + OFF_CREATED);
	o->info.expires_ms = get_u64be(h + OFF_EXPIRES);
	o->stream_end = len - CS_BUNDLE_SIG_LEN;
	return 0;
}

int
cs_bundle_peek(const uint8_t *buf, size_t len, size_t max_len, struct cs_bundle_info *info)
{
	struct cs_bundle_opener o;
	int rc;

	if (buf == NULL || info == NULL)
		return CS_EINVAL;
	memset(&o, 0, sizeof(o));
	rc = open_structure(&o, buf, len, max_len);
	if (rc == 0)
		*info = o.info;
	return rc;
}

/* Step 3: a known, unrevoked sender's signature over everything before it. */
static int
open_signature(const uint8_t *buf, size_t len, const struct cs_bundle_open_params *p)
{
	crypto_generichash_state st;
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t digest[DIGEST_LEN];
	uint8_t msg[DOM_LEN(DOM_SIG) + DIGEST_LEN];
	int rc;

	rc = p->sender_key(p->ctx, buf + OFF_SENDER, pk);
	if (rc > 0)
		rc = CS_EINVAL;
	if (rc != 0)
		goto out;
	crypto_generichash_init(&st, NULL, 0, DIGEST_LEN);
	crypto_generichash_update(&st, buf, len - CS_BUNDLE_SIG_LEN);
	crypto_generichash_final(&st, digest, sizeof(digest));
	sig_message(msg, digest);
	if (crypto_sign_verify_detached(buf + len - CS_BUNDLE_SIG_LEN, msg, sizeof(msg), pk) != 0)
		rc = CS_BUNDLE_ESIG;
out:
	sodium_memzero(pk, sizeof(pk));
	return rc;
}

int
cs_bundle_open_init(struct cs_bundle_opener *o, const uint8_t *buf, size_t len,
    const struct cs_bundle_open_params *p, struct cs_bundle_info *info)
{
	uint8_t cabinet_key[CS_BUNDLE_KEY_LEN];
	uint8_t outer_key[32];
	uint8_t cabhash[CABHASH_LEN];
	uint8_t env[CS_BUNDLE_ENVELOPE_LEN];
	uint8_t bundle_key[CS_BUNDLE_KEY_LEN];
	uint8_t stream_key[CS_BUNDLE_KEY_LEN];
	uint64_t now;
	int rc;

	if (o == NULL)
		return CS_EINVAL;
	memset(o, 0, sizeof(*o));
	if (buf == NULL || p == NULL || p->cabinet_id == NULL || p->device_id == NULL ||
	    p->box_pk == NULL || p->box_sk == NULL || p->sender_key == NULL ||
	    p->cabinet_key == NULL || p->seen == NULL) {
		rc = CS_EINVAL;
		goto out;
	}

	/* 1–2: size limits, magic, version, header fields, chunk layout */
	rc = open_structure(o, buf, len, p->max_len);
	if (rc != 0)
		goto out;
	/* 3: sender known and not revoked, signature over everything */
	rc = open_signature(buf, len, p);
	if (rc != 0)
		goto out;
	/* 4: outer layer with the cabinet key of the epoch, then the cabinet */
	rc = p->cabinet_key(p->ctx, o->info.epoch, cabinet_key);
	if (rc > 0)
		rc = CS_EINVAL;
	if (rc != 0)
		goto out;
	cabinet_kdf(outer_key, cabinet_key, DOM_OUTER, DOM_LEN(DOM_OUTER), NULL, 0);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(env, NULL, buf + OFF_ENVELOPE,
	        CS_BUNDLE_ENVELOPE_LEN, buf + OFF_OUTERTAG, buf, CS_BUNDLE_HEADER_LEN,
	        buf + OFF_NONCE, outer_key) != 0) {
		rc = CS_BUNDLE_EOUTER;
		goto out;
	}
	cabinet_kdf(cabhash, cabinet_key, DOM_CABINET, DOM_LEN(DOM_CABINET), p->cabinet_id,
	    CS_BUNDLE_ID_LEN);
	if (sodium_memcmp(cabhash, buf + OFF_CABHASH, CABHASH_LEN) != 0) {
		rc = CS_BUNDLE_ECABINET;
		goto out;
	}
	/* 5: addressed to me */
	if (sodium_memcmp(buf + OFF_RECIPIENT, p->device_id, CS_BUNDLE_ID_LEN) != 0) {
		rc = CS_BUNDLE_ERECIPIENT;
		goto out;
	}
	/* 6: lifetime against the caller's clock, with the allowed skew */
	now = p->now_ms;
	if (o->info.expires_ms <= o->info.created_ms ||
	    (p->max_lifetime_ms != 0 &&
	        o->info.expires_ms - o->info.created_ms > p->max_lifetime_ms)) {
		rc = CS_BUNDLE_ELIFETIME;
		goto out;
	}
	if (now > o->info.expires_ms && now - o->info.expires_ms > p->skew_ms) {
		rc = CS_BUNDLE_EEXPIRED;
		goto out;
	}
	if (o->info.created_ms > now && o->info.created_ms - now > p->skew_ms) {
		rc = CS_BUNDLE_EFUTURE;
		goto out;
	}
	/* 7: not seen before */
	rc = p->seen(p->ctx, buf + OFF_BUNDLE_ID);
	if (rc == 1)
		rc = CS_BUNDLE_EREPLAY;
	else if (rc > 0)
		rc = CS_EINVAL;
	if (rc != 0)
		goto out;
	/* 8: the bundle key, sealed to my X25519 key, then the stream key */
	if (crypto_box_seal_open(bundle_key, env, CS_BUNDLE_SEALED_LEN, p->box_pk, p->box_sk) !=
	    0) {
		rc = CS_BUNDLE_ESEALED;
		goto out;
	}
	cabinet_kdf(stream_key, cabinet_key, DOM_STREAM, DOM_LEN(DOM_STREAM), bundle_key,
	    CS_BUNDLE_KEY_LEN);
	if (crypto_secretstream_xchacha20poly1305_init_pull(&o->ss, env + CS_BUNDLE_SEALED_LEN,
	        stream_key) != 0) {
		rc = CS_BUNDLE_ESTREAM;
		goto out;
	}
	o->buf = buf;
	o->len = len;
	o->header = buf;
	o->pos = CS_BUNDLE_PREFIX_LEN;
	o->chunk = 0;
	o->ready = 1;
	if (info != NULL)
		*info = o->info;
out:
	sodium_memzero(cabinet_key, sizeof(cabinet_key));
	sodium_memzero(outer_key, sizeof(outer_key));
	sodium_memzero(env, sizeof(env));
	sodium_memzero(bundle_key, sizeof(bundle_key));
	sodium_memzero(stream_key, sizeof(stream_key));
	if (rc != 0) {
		cs_bundle_open_free(o);
		o->err = rc;
	}
	return rc;
}

int
cs_bundle_open_next(struct cs_bundle_opener *o, uint8_t *out, size_t cap, size_t *n, bool *last)
{
	unsigned long long mlen = 0;
	unsigned char tag = 0;
	size_t clen, want;
	const uint8_t *ad = NULL;
	size_t adlen = 0;
	int is_last;
	int rc = 0;

	if (o == NULL || n == NULL || last == NULL || (out == NULL && cap > 0))
		return CS_EINVAL;
	*n = 0;
	*last = false;
	if (o->err != 0 || !o->ready || o->done)
		return CS_BUNDLE_ESTATE;
	clen = o->stream_end - o->pos;
	is_last = clen <= (size_t)o->info.chunk_size + CS_BUNDLE_CHUNK_ABYTES;
	if (!is_last)
		clen = (size_t)o->info.chunk_size + CS_BUNDLE_CHUNK_ABYTES;
	want = clen - CS_BUNDLE_CHUNK_ABYTES;
	if (cap < want)
		return CS_ERANGE; /* nothing consumed: the caller may retry */
	if (want > 0 && out == NULL)
		return CS_EINVAL;
	if (o->chunk == 0) {
		ad = o->header;
		adlen = CS_BUNDLE_HEADER_LEN;
	}
	if (crypto_secretstream_xchacha20poly1305_pull(&o->ss, out, &mlen, &tag, o->buf + o->pos,
	        clen, ad, adlen) != 0) {
		rc = CS_BUNDLE_ESTREAM;
		goto out;
	}
	if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		if (!is_last) {
			rc = CS_BUNDLE_EEARLYFINAL;
			goto out;
		}
	} else if (tag == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
		if (is_last) {
			rc = CS_BUNDLE_ENOFINAL;
			goto out;
		}
	} else {
		rc = CS_BUNDLE_ETAG;
		goto out;
	}
	o->pos += clen;
	o->chunk++;
	*n = (size_t)mlen;
	if (is_last) {
		*last = true;
		o->done = 1;
		sodium_memzero(&o->ss, sizeof(o->ss));
	}
out:
	if (rc != 0) {
		if (mlen > 0)
			sodium_memzero(out, (size_t)mlen); /* never hand out an unverified chunk */
		sodium_memzero(&o->ss, sizeof(o->ss));
		o->err = rc;
	}
	return rc;
}

int
cs_bundle_open(const uint8_t *buf, size_t len, const struct cs_bundle_open_params *p,
    struct cs_bundle_info *info, uint8_t **out, size_t *out_len)
{
	struct cs_bundle_opener o;
	struct cs_bundle_info inf;
	uint8_t *plain = NULL;
	size_t total = 0, off = 0, n;
	bool last = false;
	int rc;

	memset(&o, 0, sizeof(o));
	if (out == NULL || out_len == NULL)
		return CS_EINVAL;
	*out = NULL;
	*out_len = 0;
	rc = cs_bundle_open_init(&o, buf, len, p, &inf);
	if (rc != 0)
		goto out;
	total = (size_t)inf.payload_len;
	plain = cs_malloc(total);
	if (plain == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	while (!last) {
		rc = cs_bundle_open_next(&o, plain + off, total - off, &n, &last);
		if (rc != 0)
			goto out;
		off += n;
	}
	if (info != NULL)
		*info = inf;
	*out = plain;
	*out_len = total;
	plain = NULL;
out:
	cs_bundle_open_free(&o);
	if (plain != NULL) {
		sodium_memzero(plain, total);
		cs_free(plain);
	}
	return rc;
}
