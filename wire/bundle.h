/*
 * wire/bundle.h: sealed relay bundles (docs/PROTOCOL.md §6).
 *
 * A bundle carries one payload from one sender device to one recipient device
 * through a relay that learns only what §6.8 lists (sizes, device ids, epoch,
 * times, a keyed cabinet hash): a clear header, a key envelope (the random bundle key sealed to the
 * recipient's X25519 key, wrapped with the cabinet key of the epoch), the payload streamed with
 * crypto_secretstream_xchacha20poly1305 under a key derived from both the bundle key and the
 * cabinet key, and the sender's Ed25519 signature over a BLAKE2b-512 digest of every byte before
 * it.
 *
 * Pure functions over buffers: no files, sockets, clock or logging. Time
 * (now_ms, created/expires) is passed in; randomness comes from libsodium's
 * randombytes. Who knows which sender, which epoch key and which bundle ids
 * were seen is the caller's business: it answers through callbacks.
 *
 * Keys passed in are read during the call only, never copied into memory that
 * outlives it: the sealer takes the signing key at cs_bundle_seal_final(),
 * the cabinet key only at cs_bundle_seal_init(). What this module derives (the
 * bundle key, the outer key) is wiped with sodium_memzero on every exit
 * path; the stream key lives in the sealer's or opener's secretstream state,
 * in the caller's storage, until the final chunk or the _free function wipes
 * it: keep those objects short-lived (one bundle).
 *
 * Threads: any thread; a sealer or opener is used by one thread at a time.
 * libsodium must have been initialised (sodium_init()) by the program.
 */
#ifndef CS_WIRE_BUNDLE_H
#define CS_WIRE_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "base/err.h"

/* docs/PROTOCOL.md §6.1: the fixed layout. */
#define CS_BUNDLE_MAGIC_0      0x43 /* 'C' */
#define CS_BUNDLE_MAGIC_1      0x53 /* 'S' */
#define CS_BUNDLE_MAGIC_2      0x42 /* 'B' */
#define CS_BUNDLE_MAGIC_3      0x4e /* 'N' */
#define CS_BUNDLE_VERSION      1
#define CS_BUNDLE_ID_LEN       16  /* device ids, cabinet id, bundle id */
#define CS_BUNDLE_KEY_LEN      32  /* cabinet key, bundle key */
#define CS_BUNDLE_HEADER_LEN   112 /* §6.2 */
#define CS_BUNDLE_NONCE_LEN    24  /* outer XChaCha20-Poly1305 nonce */
#define CS_BUNDLE_SEALED_LEN   80  /* crypto_box_seal of a 32-byte key */
#define CS_BUNDLE_SSHDR_LEN    24  /* secretstream header */
#define CS_BUNDLE_ENVELOPE_LEN 104 /* sealed key || secretstream header */
#define CS_BUNDLE_TAG_LEN      16  /* outer Poly1305 tag */
#define CS_BUNDLE_PREFIX_LEN   256 /* header + nonce + envelope + tag */
#define CS_BUNDLE_CHUNK_ABYTES 17  /* secretstream per-chunk overhead */
#define CS_BUNDLE_SIG_LEN      64  /* Ed25519 */
/* Smallest bundle: the prefix, one empty final chunk, the signature. */
#define CS_BUNDLE_MIN_LEN (CS_BUNDLE_PREFIX_LEN + CS_BUNDLE_CHUNK_ABYTES + CS_BUNDLE_SIG_LEN)
/* Plaintext bytes per chunk: the sealer's default and the accepted range. */
#define CS_BUNDLE_CHUNK_DEFAULT 65536
#define CS_BUNDLE_CHUNK_MIN     16
#define CS_BUNDLE_CHUNK_MAX     (1024 * 1024)
/* Clock skew tolerated between sender and recipient by default. */
#define CS_BUNDLE_SKEW_DEFAULT_MS (5 * 60 * 1000)

/*
 * Errors, -300..-399 of base/err.h. Open checks in this order and returns the
 * first failure (docs/PROTOCOL.md §6.7).
 */
enum cs_bundle_err {
	CS_BUNDLE_ETOOBIG = -300,     /* longer than the caller's maximum */
	CS_BUNDLE_ESHORT = -301,      /* shorter than the smallest bundle */
	CS_BUNDLE_EMAGIC = -302,      /* not a bundle */
	CS_BUNDLE_EVERSION = -303,    /* a format version we do not know */
	CS_BUNDLE_EHEADER = -304,     /* reserved bits set, chunk size out of range */
	CS_BUNDLE_ELAYOUT = -305,     /* stream length not a valid chunk sequence */
	CS_BUNDLE_ESENDER = -306,     /* sender device unknown */
	CS_BUNDLE_EREVOKED = -307,    /* sender device revoked */
	CS_BUNDLE_ESIG = -308,        /* signature does not verify */
	CS_BUNDLE_EEPOCH = -309,      /* no cabinet key for this epoch */
	CS_BUNDLE_EOLDEPOCH = -310,   /* epoch retired (a key rotation since) */
	CS_BUNDLE_EOUTER = -311,      /* outer layer does not open with the key */
	CS_BUNDLE_ECABINET = -312,    /* cabinet hash is not our cabinet's */
	CS_BUNDLE_ERECIPIENT = -313,  /* addressed to another device */
	CS_BUNDLE_ELIFETIME = -314,   /* expires not after created, or too far after */
	CS_BUNDLE_EEXPIRED = -315,    /* past its expiry (+ skew) */
	CS_BUNDLE_EFUTURE = -316,     /* created later than now + skew */
	CS_BUNDLE_EREPLAY = -317,     /* bundle id already seen */
	CS_BUNDLE_ESEALED = -318,     /* sealed bundle key does not open with my key */
	CS_BUNDLE_ESTREAM = -319,     /* a payload chunk fails authentication */
	CS_BUNDLE_ENOFINAL = -320,    /* stream ends without the final tag */
	CS_BUNDLE_EEARLYFINAL = -321, /* final tag before the last chunk */
	CS_BUNDLE_ETAG = -322,        /* a chunk tag other than MESSAGE/FINAL */
	CS_BUNDLE_ESTATE = -323       /* API misuse: wrong call for the state */
};

/* A static English sentence for a CS_BUNDLE_E* code (or a common code). */
const char *cs_bundle_strerror(int err);

/*
 * Output of the sealer: called with consecutive pieces of the bundle, in
 * order, p valid during the call only. Return 0, or a negative code that
 * the sealer returns as it is (and becomes unusable); a positive return is
 * taken as CS_EIO.
 */
typedef int (*cs_bundle_write_fn)(void *ctx, const uint8_t *p, size_t n);

/* What the sealer needs. Pointers are read during cs_bundle_seal_init() only. */
struct cs_bundle_seal_params {
	const uint8_t *cabinet_id;  /* CS_BUNDLE_ID_LEN */
	const uint8_t *cabinet_key; /* CS_BUNDLE_KEY_LEN, key of epoch */
	uint32_t epoch;
	const uint8_t *sender_id;    /* CS_BUNDLE_ID_LEN */
	const uint8_t *recipient_id; /* CS_BUNDLE_ID_LEN */
	const uint8_t *recipient_pk; /* crypto_box_PUBLICKEYBYTES (X25519) */
	uint64_t created_ms;
	uint64_t expires_ms;      /* must be > created_ms */
	uint32_t chunk_size;      /* 0: CS_BUNDLE_CHUNK_DEFAULT */
	const uint8_t *bundle_id; /* NULL: random (tests may fix it) */
};

/*
 * A sealer, in caller-owned storage. Fields are private. Memory: one
 * cs_malloc block (BLAKE2b state and two chunk buffers), wiped and released
 * by cs_bundle_seal_free().
 */
struct cs_bundle_sealer {
	crypto_secretstream_xchacha20poly1305_state ss;
	void *mem;                      /* hash state, pending chunk, cipher chunk */
	crypto_generichash_state *hash; /* inside mem, 64-byte aligned */
	uint8_t *pending;               /* plaintext not yet sealed */
	uint8_t *ct;                    /* one sealed chunk */
	size_t pending_len;
	uint32_t chunk_size;
	uint8_t header[CS_BUNDLE_HEADER_LEN];
	uint8_t bundle_id[CS_BUNDLE_ID_LEN];
	uint64_t payload_len;
	cs_bundle_write_fn sink;
	void *sink_ctx;
	int first; /* next chunk is the first (header as AD) */
	int err;   /* sticky: once failed, every call returns it */
	int done;
};

/*
 * Start a bundle: writes the header, outer nonce, key envelope and outer tag
 * (CS_BUNDLE_PREFIX_LEN bytes) through write. A random bundle key is sealed
 * to p->recipient_pk and wiped before return. Returns 0, CS_EINVAL (NULL or
 * out-of-range parameter), CS_ENOMEM, or write's error. On error s is freed.
 */
int cs_bundle_seal_init(struct cs_bundle_sealer *s, const struct cs_bundle_seal_params *p,
    cs_bundle_write_fn write, void *write_ctx);

/*
 * Add n payload bytes (any split: n may be 0 or larger than a chunk). Full
 * chunks are sealed straight from p, the tail is kept until more comes, so
 * the payload is never held twice. Returns 0, CS_BUNDLE_ESTATE, or write's
 * error (then the sealer is dead: free it).
 */
int cs_bundle_seal_push(struct cs_bundle_sealer *s, const uint8_t *p, size_t n);

/*
 * Seal the last chunk (final tag), then sign everything with the sender's
 * Ed25519 secret key (crypto_sign_SECRETKEYBYTES, read now, not kept) and
 * write the signature. Returns 0 or as cs_bundle_seal_push(). Free s after.
 */
int cs_bundle_seal_final(struct cs_bundle_sealer *s, const uint8_t *sign_sk);

/* Wipe and release; accepts a zeroed, half-built or finished sealer. */
void cs_bundle_seal_free(struct cs_bundle_sealer *s);

/* The random (or given) id of the bundle being sealed. */
const uint8_t *cs_bundle_seal_id(const struct cs_bundle_sealer *s);

/*
 * Exact length of a sealed bundle of payload_len bytes (chunk_size 0: the
 * default), UINT64_MAX if it would not fit 64 bits.
 */
uint64_t cs_bundle_sealed_len(uint64_t payload_len, uint32_t chunk_size);

/*
 * One shot: seal payload into a new cs_malloc'd buffer (*out, *out_len; the
 * caller cs_free's it). Returns 0, CS_EINVAL, CS_ENOMEM, CS_ERANGE (the
 * bundle would not fit a size_t); nothing is returned on error.
 */
int cs_bundle_seal(const struct cs_bundle_seal_params *p, const uint8_t *sign_sk,
    const uint8_t *payload, size_t payload_len, uint8_t **out, size_t *out_len);

/*
 * Opener callbacks. Each returns 0 or one of the codes named; any other
 * negative code aborts the open and is returned as it is.
 *
 * sender_key: the Ed25519 public key of a device (copy into pk_out), or
 * CS_BUNDLE_ESENDER (unknown), CS_BUNDLE_EREVOKED (revoked).
 * cabinet_key: the cabinet key of an epoch (copy into key_out, which the
 * opener wipes), or CS_BUNDLE_EEPOCH (unknown), CS_BUNDLE_EOLDEPOCH
 * (retired: the caller no longer accepts that epoch).
 * seen: 0 if the bundle id was never accepted, 1 if it was (replay). The
 * opener records nothing: the caller records the id once it has applied the
 * payload (in the same transaction).
 */
typedef int (*cs_bundle_sender_fn)(void *ctx, const uint8_t *device_id, uint8_t *pk_out);
typedef int (*cs_bundle_epoch_fn)(void *ctx, uint32_t epoch, uint8_t *key_out);
typedef int (*cs_bundle_seen_fn)(void *ctx, const uint8_t *bundle_id);

struct cs_bundle_open_params {
	size_t max_len;            /* refuse longer bundles (CS_BUNDLE_ETOOBIG) */
	uint64_t now_ms;           /* the caller's clock */
	uint64_t skew_ms;          /* tolerated clock difference */
	uint64_t max_lifetime_ms;  /* refuse expires - created above it; 0: no limit */
	const uint8_t *cabinet_id; /* CS_BUNDLE_ID_LEN: my cabinet */
	const uint8_t *device_id;  /* CS_BUNDLE_ID_LEN: me */
	const uint8_t *box_pk;     /* my X25519 public key */
	const uint8_t *box_sk;     /* my X25519 secret key, read at init only */
	cs_bundle_sender_fn sender_key;
	cs_bundle_epoch_fn cabinet_key;
	cs_bundle_seen_fn seen;
	void *ctx; /* passed to the three callbacks */
};

/* The authenticated header, for the caller's audit and replay record. */
struct cs_bundle_info {
	uint8_t sender_id[CS_BUNDLE_ID_LEN];
	uint8_t recipient_id[CS_BUNDLE_ID_LEN];
	uint8_t bundle_id[CS_BUNDLE_ID_LEN];
	uint32_t epoch;
	uint64_t created_ms;
	uint64_t expires_ms;
	uint32_t chunk_size;
	uint64_t payload_len; /* exact, known from the layout */
	size_t chunks;
};

/* An opener, in caller-owned storage. Fields are private. Allocates nothing. */
struct cs_bundle_opener {
	crypto_secretstream_xchacha20poly1305_state ss;
	const uint8_t *buf; /* the caller's bundle, kept until free */
	size_t len;
	const uint8_t *header;
	size_t pos;        /* next chunk's offset in buf */
	size_t stream_end; /* offset of the signature */
	size_t chunk;      /* index of the next chunk */
	struct cs_bundle_info info;
	int err; /* sticky */
	int ready;
	int done;
};

/*
 * Read the clear header of buf[0..len) WITHOUT verifying anything but steps
 * 1-2 of docs/PROTOCOL.md §6.7 (size, magic, version, header fields, chunk
 * layout): for naming a refused bundle in the log, audit or quarantine only.
 * The fields are whatever the relay or an attacker put there; never act on
 * them. Returns 0 or the step 1-2 code. Allocates nothing.
 */
int cs_bundle_peek(const uint8_t *buf, size_t len, size_t max_len, struct cs_bundle_info *info);

/*
 * Verify a whole bundle in buf[0..len) in the order of docs/PROTOCOL.md §6.7
 * (size, magic/version/header, layout, sender and signature, epoch and outer
 * layer, cabinet, recipient, lifetime, replay, sealed key) and make ready to
 * stream. Nothing of the payload is decrypted yet. buf must stay valid and
 * unchanged until cs_bundle_open_free(). info (may be NULL) gets the header.
 * Returns 0 or the first failing check's code (see enum), CS_EINVAL, or a
 * callback's own code. On error o is wiped and needs no free (free is safe).
 */
int cs_bundle_open_init(struct cs_bundle_opener *o, const uint8_t *buf, size_t len,
    const struct cs_bundle_open_params *p, struct cs_bundle_info *info);

/*
 * Decrypt the next chunk into out (cap bytes; cap >= chunk_size is always
 * enough). *n gets its length (0 possible, e.g. an empty payload), *last is set
 * with the final chunk; only then is the payload complete: an error before it
 * (CS_BUNDLE_ESTREAM, CS_BUNDLE_ENOFINAL, CS_BUNDLE_EEARLYFINAL,
 * CS_BUNDLE_ETAG) means the bundle is bad and what was handed out must be
 * discarded. CS_ERANGE if cap is too small (nothing consumed),
 * CS_BUNDLE_ESTATE after the last chunk or an error.
 */
int cs_bundle_open_next(struct cs_bundle_opener *o, uint8_t *out, size_t cap, size_t *n,
    bool *last);

/* Wipe the stream state; accepts a zeroed, failed or finished opener. */
void cs_bundle_open_free(struct cs_bundle_opener *o);

/*
 * One shot: verify and decrypt the whole payload into a new cs_malloc'd
 * buffer (*out, *out_len; caller cs_free's). On any error nothing is
 * returned (the partial plaintext is wiped). info as cs_bundle_open_init().
 */
int cs_bundle_open(const uint8_t *buf, size_t len, const struct cs_bundle_open_params *p,
    struct cs_bundle_info *info, uint8_t **out, size_t *out_len);

#endif
