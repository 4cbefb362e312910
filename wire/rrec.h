/*
 * wire/rrec.h: signed roster records and the two session messages that carry
 * them and the cabinet keys (docs/PROTOCOL.md §3.10-§3.12, DESIGN.md
 * "Identity and keys").
 *
 * A roster record says one thing about one device of the cabinet: its keys,
 * its practitioner (id, name, cabinet-admin role), its name, its state
 * (active or revoked), made at a time by a signer device, signed with the
 * signer's Ed25519 key. A revocation also carries the cabinet key epoch it
 * rotates to and the id (a keyed hash) of the new key, so that every device
 * agrees on which key is the one of that epoch. The record is a fixed-size
 * byte string (CS_RREC_LEN), so that it is signed, hashed and compared as
 * bytes; the readable roster.ini is rebuilt from the decoded fields.
 *
 * Messages (msgpack arrays, docs/PROTOCOL.md §3.1 rules, sent only to a peer
 * whose HELLO has CS_RREC_FEATURE):
 *   ROSTER [8, records]  records: bin, n x CS_RREC_LEN bytes (n <= CS_RREC_MAX)
 *   KEYS   [9, entries]  entries: bin, n x CS_RREC_KEY_ENTRY_LEN bytes
 *                        (n <= CS_RREC_MAX_KEYS): u32be epoch || key id (32)
 *                        || crypto_box_seal(key (32), recipient X25519 key)
 *
 * Pure: no I/O, no clock, no logging, no allocation (callers own buffers).
 * What a record is allowed to say (who may sign what) is agent/roster.h's
 * business; this module checks bytes, signatures and sealed boxes only.
 * sodium_init() must have succeeded. Any thread.
 */
#ifndef CS_WIRE_RREC_H
#define CS_WIRE_RREC_H

#include <stddef.h>
#include <stdint.h>

#include "base/change.h"

#define CS_RREC_MAGIC         "CSR1"
#define CS_RREC_CABINET_LEN   16
#define CS_RREC_NAME_MAX      64 /* name field: 1..63 bytes, NUL padded */
#define CS_RREC_SIGNED_LEN    306
#define CS_RREC_SIG_LEN       64
#define CS_RREC_LEN           (CS_RREC_SIGNED_LEN + CS_RREC_SIG_LEN) /* 370 */
#define CS_RREC_HASH_LEN      32
#define CS_RREC_KEY_LEN       32
#define CS_RREC_SEALED_LEN    (48 + CS_RREC_KEY_LEN) /* crypto_box_SEALBYTES + key */
#define CS_RREC_KEY_ENTRY_LEN (4 + CS_RREC_HASH_LEN + CS_RREC_SEALED_LEN) /* 116 */
#define CS_RREC_MAX           170 /* records in one ROSTER (fits a bin 16) */
#define CS_RREC_MAX_KEYS      64  /* key entries in one KEYS */
#define CS_RREC_MSG_ROSTER    8
#define CS_RREC_MSG_KEYS      9
#define CS_RREC_FEATURE       1u /* HELLO features bit: speaks ROSTER and KEYS */

/* Error codes (base/err.h range -350..-369). */
enum cs_rrec_err {
	CS_RREC_ELENGTH = -350,  /* not CS_RREC_LEN bytes (or a message of the wrong size) */
	CS_RREC_EMAGIC = -351,   /* not a record of this format */
	CS_RREC_ECABINET = -352, /* a record of another cabinet */
	CS_RREC_ENAME = -353, /* a name empty, too long, not NUL padded, or with a forbidden byte */
	CS_RREC_EFIELD = -354, /* state, role, epoch or key id out of their values */
	CS_RREC_ESIG = -355,   /* the signature does not verify */
	CS_RREC_EMSG = -356,   /* a ROSTER/KEYS message malformed (layout, msgpack form) */
	CS_RREC_ECOUNT = -357, /* too many records or keys in one message */
	CS_RREC_ESEAL = -358,  /* a sealed key does not open, or its id does not match */
};

enum cs_rrec_state { CS_RREC_ACTIVE = 0, CS_RREC_REVOKED = 1 };
#define CS_RREC_ROLE_ADMIN 1u /* the device's practitioner is cabinet-admin */

struct cs_rrec {
	uint8_t cabinet[CS_RREC_CABINET_LEN];
	uint8_t device[CS_DEVID_LEN];
	uint8_t dh_pk[32];   /* X25519 (Noise static) */
	uint8_t sign_pk[32]; /* Ed25519 */
	uint8_t practitioner[CS_GID_LEN];
	char practitioner_name[CS_RREC_NAME_MAX]; /* NUL-terminated */
	char device_name[CS_RREC_NAME_MAX];       /* NUL-terminated */
	uint8_t state;                            /* enum cs_rrec_state */
	uint8_t role;                             /* CS_RREC_ROLE_* bits */
	uint32_t epoch; /* revoked: the epoch the cabinet key rotates to (>= 2); else 0 */
	uint8_t key_id[CS_RREC_HASH_LEN]; /* revoked: id of that epoch's key; else zeros */
	uint64_t time_ms;                 /* when the signer made it (Unix ms) */
	uint8_t signer[CS_DEVID_LEN];
	uint8_t sig[CS_RREC_SIG_LEN];
};

/*
 * Encode r into out (CS_RREC_LEN bytes), signature included as it is in r.
 * CS_EINVAL if a field could not be decoded back (the encoder never writes
 * what the decoder refuses): returns the decoder's code.
 */
int cs_rrec_encode(const struct cs_rrec *r, uint8_t out[static CS_RREC_LEN]);

/*
 * Decode exactly CS_RREC_LEN bytes into *r (zeroed on error) and check the
 * cabinet id against cabinet (NULL: any). The signature is NOT checked
 * (cs_rrec_verify with the signer's key). Returns 0, CS_EINVAL,
 * CS_RREC_ELENGTH, CS_RREC_EMAGIC, CS_RREC_ECABINET, CS_RREC_ENAME,
 * CS_RREC_EFIELD.
 */
int cs_rrec_decode(const uint8_t *buf, size_t len, const uint8_t *cabinet, struct cs_rrec *r);

/* Sign r (its signer field must be set) with the 64-byte Ed25519 secret sk. 0 or CS_RREC_E*. */
int cs_rrec_sign(struct cs_rrec *r, const uint8_t sign_sk[static 64]);

/* 0 if r's signature verifies under the signer's Ed25519 key, else CS_RREC_ESIG / decode codes. */
int cs_rrec_verify(const struct cs_rrec *r, const uint8_t signer_pk[static 32]);

/* BLAKE2b-256 of the encoded record: its identity, and the rotation tie-break. */
int cs_rrec_hash(const struct cs_rrec *r, uint8_t out[static CS_RREC_HASH_LEN]);

/* Key id of epoch E: BLAKE2b-256(key = cabinet key, msg = "cabsync key id v1" || u32be(E)). */
void cs_rrec_key_id(const uint8_t key[static CS_RREC_KEY_LEN], uint32_t epoch,
    uint8_t out[static CS_RREC_HASH_LEN]);

/*
 * A ROSTER message of n encoded records (recs: n x CS_RREC_LEN bytes) into
 * out (cap bytes); *out_len its length. 0, CS_RREC_ECOUNT, CS_ERANGE (cap).
 */
int cs_rrec_roster_encode(const uint8_t *recs, size_t n, uint8_t *out, size_t cap, size_t *out_len);

/*
 * A KEYS message of n entries (n x CS_RREC_KEY_ENTRY_LEN bytes). Same codes.
 */
int cs_rrec_keys_encode(const uint8_t *entries, size_t n, uint8_t *out, size_t cap,
    size_t *out_len);

/*
 * The type of msg if it is a ROSTER or KEYS message (8 or 9), else 0: a
 * session hands these to cs_rrec_msg_decode and the rest to wire/msg.h.
 */
int cs_rrec_msg_type(const uint8_t *msg, size_t len);

/*
 * Decode a ROSTER or KEYS message: *type gets 8 or 9, *body points into msg at
 * the n entries (CS_RREC_LEN or CS_RREC_KEY_ENTRY_LEN bytes each). Strict:
 * exactly [type, bin] in the shortest msgpack forms, no trailing byte, the
 * bin a whole number of entries within the limits. Each record must then be
 * decoded with cs_rrec_decode. 0, CS_EINVAL, CS_RREC_EMSG, CS_RREC_ECOUNT.
 */
int cs_rrec_msg_decode(const uint8_t *msg, size_t len, int *type, const uint8_t **body, size_t *n);

/*
 * One KEYS entry: the key of epoch sealed to the recipient's X25519 key.
 * 0 or CS_EINVAL / CS_EIO (libsodium).
 */
int cs_rrec_key_seal(const uint8_t key[static CS_RREC_KEY_LEN], uint32_t epoch,
    const uint8_t recipient_pk[static 32], uint8_t out[static CS_RREC_KEY_ENTRY_LEN]);

/*
 * Open one KEYS entry with this device's X25519 key pair: *epoch, key (the
 * caller wipes it) and the entry's key id, checked against the opened key.
 * 0, CS_EINVAL, CS_RREC_ESEAL.
 */
int cs_rrec_key_open(const uint8_t entry[static CS_RREC_KEY_ENTRY_LEN], const uint8_t pk[static 32],
    const uint8_t sk[static 32], uint32_t *epoch, uint8_t key[static CS_RREC_KEY_LEN],
    uint8_t key_id[static CS_RREC_HASH_LEN]);

/* True if s is a name a record may carry: 1..63 bytes, no control byte, none of ;#[]=. */
int cs_rrec_name_ok(const char *s);

/* A static sentence for a CS_RREC_E* code (others: cs_strerror). */
const char *cs_rrec_strerror(int err);

#endif
