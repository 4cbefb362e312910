/*
 * discovery/tag.h: the rotating tags published in the mDNS TXT record.
 *
 * docs/DISCOVERY.md §2, DESIGN.md "mDNS privacy": a laptop that leaves the
 * office must not be trackable by what it announces. So nothing stable goes
 * into the record: the instance name is random per start, and the TXT items
 * `cab=` and `dev=` are keyed BLAKE2b tags of the UTC day, rotated daily:
 *
 *   cab tag = BLAKE2b-128(key = cabinet key,
 *                         msg = "cabsync mdns cab v1" 0x00 || u32be(day))
 *   dev tag = BLAKE2b-128(key = cabinet key,
 *                         msg = "cabsync mdns dev v1" 0x00 || u32be(day) ||
 *                               device public key (32 bytes))
 *
 * day = floor(unix seconds / 86400). Only holders of the cabinet key can
 * compute or link them. A browser accepts the current and the previous day's
 * cab tag (a peer whose clock is a little behind, or that published before
 * midnight). The caller (agent/) passes the keys in; nothing here keeps a
 * copy: libsodium keys its state from the caller's buffer and every local
 * copy is wiped. Also the pure codec of the TXT items. Pure functions, any
 * thread, no allocation.
 */
#ifndef CS_DISCOVERY_TAG_H
#define CS_DISCOVERY_TAG_H

#include <stddef.h>
#include <stdint.h>

#define CS_TAG_LEN         16 /* bytes of a tag */
#define CS_TAG_HEX_LEN     (2 * CS_TAG_LEN)
#define CS_TAG_KEY_LEN     32 /* cabinet key */
#define CS_TAG_PK_LEN      32 /* device public key */
#define CS_TAG_DAY_SECONDS 86400
#define CS_TAG_TXT_MAX     48 /* longest TXT item we write ("dev=" + 32 hex) + room */

/*
 * What one device publishes and accepts on one day. Not secret: every tag
 * here is sent in clear on the LAN anyway.
 */
struct cs_tag_set {
	uint32_t day;                 /* UTC day the set was made for */
	uint8_t cab[CS_TAG_LEN];      /* published and accepted */
	uint8_t dev[CS_TAG_LEN];      /* published: this device's tag */
	uint8_t cab_prev[CS_TAG_LEN]; /* accepted too: the previous day's */
};

/* A parsed TXT record of a `_cabsync._tcp` instance. */
struct cs_tag_record {
	uint32_t version; /* v= protocol version of the publisher */
	uint8_t cab[CS_TAG_LEN];
	uint8_t dev[CS_TAG_LEN];
	unsigned have; /* CS_TAG_HAVE_* bits seen so far */
};
#define CS_TAG_HAVE_V   1u
#define CS_TAG_HAVE_CAB 2u
#define CS_TAG_HAVE_DEV 4u
#define CS_TAG_HAVE_ALL 7u

/* The UTC day of a unix time (negative times give day 0). */
uint32_t cs_tag_day(int64_t unix_seconds);

/* Milliseconds from unix_ms to the next UTC midnight (1 .. 86 400 000). */
int64_t cs_tag_ms_to_next_day(int64_t unix_ms);

/* The cab tag of day under cab_key. Returns 0 or CS_EIO (libsodium failed). */
int cs_tag_cab(const uint8_t cab_key[static CS_TAG_KEY_LEN], uint32_t day,
    uint8_t out[static CS_TAG_LEN]);

/* The dev tag of the device dev_pk on day under cab_key. 0 or CS_EIO. */
int cs_tag_dev(const uint8_t dev_pk[static CS_TAG_PK_LEN],
    const uint8_t cab_key[static CS_TAG_KEY_LEN], uint32_t day, uint8_t out[static CS_TAG_LEN]);

/* Fill set for day: cab and dev of day, cab_prev of day - 1. 0 or CS_EIO. */
int cs_tag_set_make(const uint8_t dev_pk[static CS_TAG_PK_LEN],
    const uint8_t cab_key[static CS_TAG_KEY_LEN], uint32_t day, struct cs_tag_set *set);

/* 1 if cab is set->cab or set->cab_prev, else 0. */
int cs_tag_cab_accepted(const struct cs_tag_set *set, const uint8_t cab[static CS_TAG_LEN]);

/* Lower-case hex of a tag into out (CS_TAG_HEX_LEN + 1 bytes, NUL-terminated). */
void cs_tag_hex(const uint8_t tag[static CS_TAG_LEN], char out[static CS_TAG_HEX_LEN + 1]);

/*
 * Decode exactly CS_TAG_HEX_LEN lower-case hex characters (len must be that).
 * 0 or CS_EINVAL; out is untouched on error.
 */
int cs_tag_unhex(const char *s, size_t len, uint8_t out[static CS_TAG_LEN]);

/* The three TXT items of set and version: "v=N", "cab=HEX", "dev=HEX". */
void cs_tag_txt_items(const struct cs_tag_set *set, uint32_t version,
    char items[static 3][CS_TAG_TXT_MAX]);

/*
 * Add one raw TXT item (bytes "key=value", not NUL-terminated) to rec.
 * Unknown keys are ignored (0), as DNS-SD asks; a known key with a bad value
 * or seen twice is CS_EINVAL. Start from a zeroed rec; it is complete
 * when rec->have == CS_TAG_HAVE_ALL.
 */
int cs_tag_record_add(struct cs_tag_record *rec, const uint8_t *item, size_t len);

#endif
