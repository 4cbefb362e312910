/*
 * sql/sharerec.h: the signed share records (the RECORDS message that
 * carries them is wire/records.h) (DESIGN.md "Scope and permissions", "Identity and keys";
 * docs/PROTOCOL.md §3.13; docs/SECURITY.md "Shares and permissions").
 *
 * A share record says one thing about one patient (or one practitioner),
 * signed with the Ed25519 key of the device that made it: a claim (the
 * practitioner of the device that created a patient owns it), a grant
 * (read / write / full to another practitioner, optionally until a date),
 * a revoke, a transfer of ownership, or the display name of a practitioner.
 * Records only accumulate; sql/share.h stores them and derives cs_shares.
 *
 * Layout (big-endian integers), CS_SHAREREC_FIXED + note_len bytes:
 *   version (1) = 1 | kind (1) | perm (1) | patient (16) | practitioner (16)
 *   | hlc (8) | until_ms (8) | signer device (16) | note_len (1) | note
 *   | sig (64)
 * sig = Ed25519(sign key of signer, "cabsync share record v1" || every byte
 * before sig). The decoder is strict: one valid encoding per record, so the
 * BLAKE2b hash of the bytes names a record.
 *
 * Pure: no I/O, no clock, no logging, no allocation.
 */
#ifndef CS_SQL_SHAREREC_H
#define CS_SQL_SHAREREC_H

#include <stddef.h>
#include <stdint.h>

#include "base/change.h"

#define CS_SHAREREC_VERSION  1
#define CS_SHAREREC_NOTE_MAX 64
#define CS_SHAREREC_SIG_LEN  64
#define CS_SHAREREC_PK_LEN   32
#define CS_SHAREREC_SK_LEN   64
#define CS_SHAREREC_HASH_LEN 32
/* every byte but the note */
#define CS_SHAREREC_FIXED (1 + 1 + 1 + CS_GID_LEN + CS_GID_LEN + 8 + 8 + CS_DEVID_LEN + 1 + 64)
#define CS_SHAREREC_MAX   (CS_SHAREREC_FIXED + CS_SHAREREC_NOTE_MAX)

/* Error codes (sql range, -520..-529). Stable. */
enum cs_sharerec_err {
	CS_SHAREREC_EFORMAT = -520, /* bytes are not a record (length, version, kind, perm) */
	CS_SHAREREC_ESIG = -521     /* the signature does not verify */
};

enum cs_sharerec_kind {
	CS_SHAREREC_CLAIM = 1,    /* practitioner owns patient (made by the creating device) */
	CS_SHAREREC_GRANT = 2,    /* perm on patient to practitioner from hlc (until until_ms) */
	CS_SHAREREC_REVOKE = 3,   /* practitioner's shares of patient end at hlc */
	CS_SHAREREC_TRANSFER = 4, /* practitioner owns patient from hlc; the old owner stops */
	CS_SHAREREC_NAME = 5      /* practitioner's display name is note (patient all zero) */
};

enum cs_perm { CS_PERM_NONE = 0, CS_PERM_READ = 1, CS_PERM_WRITE = 2, CS_PERM_FULL = 3 };

struct cs_sharerec {
	uint8_t kind, perm; /* perm: GRANT only, else CS_PERM_NONE */
	uint8_t patient[CS_GID_LEN];
	uint8_t practitioner[CS_GID_LEN];
	uint64_t hlc;      /* base/change.h hybrid logical clock */
	uint64_t until_ms; /* GRANT: end of the share (ms since the epoch), 0 none */
	uint8_t signer[CS_DEVID_LEN];
	uint8_t note_len;
	char note[CS_SHAREREC_NOTE_MAX + 1]; /* NUL-terminated; no control byte */
	uint8_t sig[CS_SHAREREC_SIG_LEN];
};

/* A static English sentence for a CS_SHAREREC_E... code (or a common code). */
const char *cs_sharerec_strerror(int err);
/* "read", "write", "full" (or "none"); parse: 0 or CS_EINVAL. */
const char *cs_perm_name(int perm);
int cs_perm_parse(const char *s, uint8_t *perm);
/* "claim", "grant", ... */
const char *cs_sharerec_kind_name(int kind);

/*
 * Sign r with sk (CS_SHAREREC_SK_LEN bytes, libsodium layout) and write its
 * encoding to out (cap >= CS_SHAREREC_MAX); r->sig is filled. *len gets the
 * length. Returns 0 or CS_EINVAL (a field out of its domain: the decoder
 * would refuse it).
 */
int cs_sharerec_sign(struct cs_sharerec *r, const uint8_t sk[static CS_SHAREREC_SK_LEN],
    uint8_t *out, size_t cap, size_t *len);

/* Encode r as it is (signature included). 0 or CS_EINVAL. */
int cs_sharerec_encode(const struct cs_sharerec *r, uint8_t *out, size_t cap, size_t *len);

/* Decode outside bytes (no signature check). 0 or CS_SHAREREC_EFORMAT, CS_EINVAL. */
int cs_sharerec_decode(const uint8_t *buf, size_t len, struct cs_sharerec *out);

/* 0 if r's signature verifies under pk (the signer's Ed25519 key), else CS_SHAREREC_ESIG. */
int cs_sharerec_verify(const struct cs_sharerec *r, const uint8_t pk[static CS_SHAREREC_PK_LEN]);

/* BLAKE2b-256 of the encoded bytes: a record's name. */
void cs_sharerec_hash(const uint8_t *buf, size_t len, uint8_t out[static CS_SHAREREC_HASH_LEN]);

#endif
