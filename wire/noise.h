/*
 * wire/noise.h: the Noise Protocol Framework (revision 34) for cabsync's
 * suite 25519 / ChaChaPoly / BLAKE2b, on libsodium (docs/PROTOCOL.md §1).
 *
 * cabsync speaks Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b. The HandshakeState is
 * token-driven: it parses any protocol name of the suite whose pattern is one
 * of the spec's one-way (§7.4), fundamental (§7.5) or deferred (§7.6)
 * patterns, with any number of pskN modifiers (§9), so that plain XX, XXpsk0
 * and every psk placement come from the same code and the published test
 * vectors check all of it.
 *
 * One struct cs_noise carries a session from the first handshake message to
 * the end of the transport phase: the handshake (cs_noise_write_message /
 * cs_noise_read_message), then, once cs_noise_handshake_done() is true, the two
 * transport CipherStates of Split() (cs_noise_encrypt / cs_noise_decrypt).
 *
 * Ownership and memory: struct cs_noise lives in caller-owned storage; every
 * secret (keys, chaining key, cipher states, psks) lives in one sodium_malloc
 * block it points to, wiped and released by cs_noise_free() and on failure
 * (released blocks, wiped, are kept in a small locked cache for the next
 * session: sodium_malloc costs more than a handshake). Input pointers are
 * never kept after a call returns.
 *
 * Failure: every error of a handshake or transport call kills the session:
 * its secrets are wiped at once and every later call returns CS_NOISE_EDEAD
 * (cs_noise_error() tells the first error). A failed handshake therefore
 * never leaves a usable state behind.
 *
 * Pure: no I/O, no clock, no logging; randomness only from libsodium's
 * randombytes (ephemeral keys). Not thread-safe per object; distinct objects
 * may be used from distinct threads (the block cache has its own mutex).
 * sodium_init() must have succeeded.
 */
#ifndef CS_WIRE_NOISE_H
#define CS_WIRE_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define CS_NOISE_PROTOCOL  "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b"
#define CS_NOISE_XX        "Noise_XX_25519_ChaChaPoly_BLAKE2b"
#define CS_NOISE_MAX_MSG   65535 /* Noise rev. 34 §3: every message */
#define CS_NOISE_DH_LEN    32    /* Noise rev. 34 §12.1: 25519 DHLEN */
#define CS_NOISE_KEY_LEN   32    /* §5.1 cipher key, and the psk length (§9) */
#define CS_NOISE_PSK_LEN   32    /* §9: a psk is 32 bytes */
#define CS_NOISE_HASH_LEN  64    /* §12.8: BLAKE2b HASHLEN */
#define CS_NOISE_TAG_LEN   16    /* §12.3: ChaChaPoly tag */
#define CS_NOISE_MAX_PSKS  8     /* psk modifiers in one protocol name */
#define CS_NOISE_MAX_PLAIN (CS_NOISE_MAX_MSG - CS_NOISE_TAG_LEN) /* transport payload */

/* cabsync's handshake inputs (docs/PROTOCOL.md §1, DESIGN.md "Wire"). */
#define CS_NOISE_CABINET_ID_LEN   16
#define CS_NOISE_PROLOGUE_MAX     32
#define CS_NOISE_SESSION_PROLOGUE "cabsync/1"
#define CS_NOISE_INVITE_PROLOGUE  "cabsync-invite/1"

enum cs_noise_err {
	CS_NOISE_EDECRYPT = -100,  /* a transport message failed authentication */
	CS_NOISE_EAUTH1 = -101,    /* message 1 failed authentication: wrong psk/prologue */
	CS_NOISE_EAUTH = -102,     /* a later handshake message failed authentication */
	CS_NOISE_ESHORT = -103,    /* message shorter than its pattern requires */
	CS_NOISE_ETOOLONG = -104,  /* message would exceed 65535 bytes */
	CS_NOISE_EBUF = -105,      /* the caller's output buffer is too small */
	CS_NOISE_EORDER = -106,    /* out of order: not this side's turn, or phase over */
	CS_NOISE_EDEAD = -107,     /* the session failed earlier; nothing works any more */
	CS_NOISE_ENONCE = -108,    /* nonce exhausted (2^64-1 is reserved) */
	CS_NOISE_EPROTO = -109,    /* unknown or unsupported protocol name */
	CS_NOISE_EKEY = -110,      /* a key the pattern needs is missing, or one too many */
	CS_NOISE_EDH = -111,       /* DH with a low-order public key (all-zero output) */
	CS_NOISE_EPSKCOUNT = -112, /* psk count differs from the name's psk modifiers */
	CS_NOISE_EONEWAY = -113,   /* one-way pattern: this side only sends / receives */
	CS_NOISE_ENOTDONE = -114,  /* transport call before the handshake completed */
};

/* What the session expects next. */
enum cs_noise_action {
	CS_NOISE_WRITE = 1, /* call cs_noise_write_message */
	CS_NOISE_READ,      /* call cs_noise_read_message */
	CS_NOISE_DONE,      /* handshake complete: transport calls only */
	CS_NOISE_FAILED,    /* dead after an error (or never initialised / freed) */
};

struct cs_noise_state; /* opaque, in sodium_malloc memory */

struct cs_noise {
	struct cs_noise_state *st; /* NULL when free or dead */
	int err;                   /* first error that killed it, 0 if none */
};

/*
 * Handshake inputs. Keys are copied into secure memory by cs_noise_init();
 * the caller may wipe its copies right after.
 */
struct cs_noise_config {
	const char *protocol;    /* full Noise protocol name; NULL = CS_NOISE_PROTOCOL */
	bool initiator;          /* true: this side writes message 1 */
	const uint8_t *prologue; /* may be NULL when prologue_len == 0 */
	size_t prologue_len;
	const uint8_t *static_key;    /* 32-byte X25519 private key, NULL if the pattern has none */
	const uint8_t *remote_static; /* 32-byte public key known in advance (pre-message) */
	const uint8_t *psks;          /* psk_count * 32 bytes, in the order of the name's pskN */
	size_t psk_count;
};

/*
 * Initialise n for one handshake. n is zeroed first, so a failed init leaves
 * it free (cs_noise_free is still safe). Returns 0, CS_EINVAL, CS_ENOMEM
 * (sodium_malloc), CS_NOISE_EPROTO (name not understood), CS_NOISE_EKEY (a
 * static or remote static the pattern needs is missing, or a remote static it
 * cannot use is given), CS_NOISE_EPSKCOUNT.
 */
int cs_noise_init(struct cs_noise *n, const struct cs_noise_config *cfg);

/* Wipe and release everything; accepts NULL and half-built objects; leaves n zeroed. */
void cs_noise_free(struct cs_noise *n);

/* What to do next (enum cs_noise_action). */
int cs_noise_action(const struct cs_noise *n);
bool cs_noise_handshake_done(const struct cs_noise *n);
/* The error that killed n, 0 if it is alive. */
int cs_noise_error(const struct cs_noise *n);

/*
 * Size of the next handshake message for a payload of payload_len bytes, or
 * 0 if the next action is not CS_NOISE_WRITE.
 */
size_t cs_noise_write_len(const struct cs_noise *n, size_t payload_len);

/*
 * WriteMessage (§5.3): write the next handshake message carrying payload into
 * out (cap bytes); *out_len gets its length. out must not overlap payload.
 * Errors (all kill n): CS_EINVAL, CS_NOISE_EORDER, CS_NOISE_ETOOLONG,
 * CS_NOISE_EBUF, CS_NOISE_EDH, CS_NOISE_EDEAD.
 */
int cs_noise_write_message(struct cs_noise *n, const uint8_t *payload, size_t payload_len,
    uint8_t *out, size_t cap, size_t *out_len);

/*
 * ReadMessage (§5.3): read a handshake message, decrypting its payload into
 * payload (cap bytes; may be NULL when cap is 0); *payload_len gets its length.
 * Errors (all kill n): CS_EINVAL, CS_NOISE_EORDER, CS_NOISE_ESHORT,
 * CS_NOISE_ETOOLONG, CS_NOISE_EBUF, CS_NOISE_EAUTH1 (message 1 did not
 * authenticate: with psk0, a wrong psk or prologue), CS_NOISE_EAUTH,
 * CS_NOISE_EDH, CS_NOISE_EDEAD.
 */
int cs_noise_read_message(struct cs_noise *n, const uint8_t *msg, size_t msg_len, uint8_t *payload,
    size_t cap, size_t *payload_len);

/*
 * The handshake hash h (§5.2 GetHandshakeHash, for channel binding): valid
 * once the handshake is done. Returns 0, CS_NOISE_ENOTDONE or CS_NOISE_EDEAD.
 */
int cs_noise_handshake_hash(const struct cs_noise *n, uint8_t out[static CS_NOISE_HASH_LEN]);

/*
 * The peer's static public key, as soon as it is known (pre-message or read
 * from a handshake message; the initiator of XX knows it after message 2, so
 * it can check it before writing message 3). CS_ENOENT if not (yet) known.
 */
int cs_noise_remote_static(const struct cs_noise *n, uint8_t out[static CS_NOISE_DH_LEN]);

/* This side's static public key. CS_ENOENT if it has none. */
int cs_noise_local_static(const struct cs_noise *n, uint8_t out[static CS_NOISE_DH_LEN]);

/*
 * Transport (after Split, §5.2): encrypt len bytes (≤ CS_NOISE_MAX_PLAIN)
 * into out (cap ≥ len + 16; out may equal plain for in-place), empty AD.
 * Errors (all kill n): CS_EINVAL, CS_NOISE_ENOTDONE, CS_NOISE_ETOOLONG,
 * CS_NOISE_EBUF, CS_NOISE_ENONCE, CS_NOISE_EONEWAY, CS_NOISE_EDEAD.
 */
int cs_noise_encrypt(struct cs_noise *n, const uint8_t *plain, size_t len, uint8_t *out, size_t cap,
    size_t *out_len);

/*
 * Decrypt one transport message (16..65535 bytes) into out (cap ≥ len - 16;
 * out may equal msg). Errors (all kill n): CS_EINVAL, CS_NOISE_ENOTDONE,
 * CS_NOISE_ESHORT, CS_NOISE_ETOOLONG, CS_NOISE_EBUF, CS_NOISE_EDECRYPT,
 * CS_NOISE_ENONCE, CS_NOISE_EONEWAY, CS_NOISE_EDEAD.
 */
int cs_noise_decrypt(struct cs_noise *n, const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
    size_t *out_len);

/* Rekey() (§4.2, §11.3) the sending (send = true) or receiving CipherState. */
int cs_noise_rekey(struct cs_noise *n, bool send);

/* A static sentence for a noise code (-100..-199); "unknown noise error" otherwise. */
const char *cs_noise_strerror(int err);

/*
 * cabsync's psk and prologues (DESIGN.md "Wire", docs/PROTOCOL.md §1).
 * Session psk = BLAKE2b-256(key = cabinet key of epoch E,
 *                           msg = "cabsync psk v1" || u32be(E)).
 */
int cs_noise_session_psk(uint8_t psk[static CS_NOISE_PSK_LEN],
    const uint8_t cabinet_key[static CS_NOISE_KEY_LEN], uint32_t epoch);

/*
 * Enrollment psk = BLAKE2b-256(key = the invite code's secret bytes,
 * msg = "cabsync invite v1"); secret_len 16..64 (crypto_generichash key).
 */
int cs_noise_invite_psk(uint8_t psk[static CS_NOISE_PSK_LEN], const uint8_t *secret,
    size_t secret_len);

/*
 * Prologues: "cabsync/1" 0x00 || cabinet id (26 bytes), and
 * "cabsync-invite/1" 0x00 (17 bytes). out has CS_NOISE_PROLOGUE_MAX bytes;
 * returns the length written.
 */
size_t cs_noise_session_prologue(uint8_t out[static CS_NOISE_PROLOGUE_MAX],
    const uint8_t cabinet_id[static CS_NOISE_CABINET_ID_LEN]);
size_t cs_noise_invite_prologue(uint8_t out[static CS_NOISE_PROLOGUE_MAX]);

/*
 * cs_noise_init() for cabsync's two handshakes (docs/PROTOCOL.md §1):
 * Noise_XXpsk0 with the session psk of (cabinet_key, epoch) and the session
 * prologue of cabinet_id, or with the enrollment psk of the invite secret and
 * the invite prologue. The derived psk never leaves secure memory and the
 * stack copy is wiped. Returns what cs_noise_init() returns, or CS_EINVAL.
 */
int cs_noise_init_session(struct cs_noise *n, bool initiator,
    const uint8_t static_key[static CS_NOISE_DH_LEN],
    const uint8_t cabinet_key[static CS_NOISE_KEY_LEN], uint32_t epoch,
    const uint8_t cabinet_id[static CS_NOISE_CABINET_ID_LEN]);
int cs_noise_init_invite(struct cs_noise *n, bool initiator,
    const uint8_t static_key[static CS_NOISE_DH_LEN], const uint8_t *secret, size_t secret_len);

#ifdef CS_NOISE_TEST_HOOKS
/*
 * Test builds only (cs_wire_noise_test, compiled with -DCS_NOISE_TEST_HOOKS;
 * the shipped cs_wire has neither function): use priv as the next ephemeral
 * key instead of a random one (test vectors), and set a transport nonce
 * (exhaustion tests).
 */
int cs_noise_test_set_ephemeral(struct cs_noise *n, const uint8_t priv[static CS_NOISE_DH_LEN]);
int cs_noise_test_set_nonce(struct cs_noise *n, bool send, uint64_t nonce);
#endif

#endif
