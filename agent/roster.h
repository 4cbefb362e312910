/*
 * agent/roster.h: the cabinet's roster as signed records (wire/rrec.h), the
 * rules that decide which records count (DESIGN.md "Identity and keys"), the
 * cabinet key epochs they rotate to, and HOME/roster.ini and
 * HOME/cabinet.keys on disk (docs/OPERATIONS.md, docs/SECURITY.md).
 *
 * Records only accumulate. The state (struct cs_home's roster[]: devices,
 * their practitioner, admin role, revoked or not) is a pure function of the
 * set of records and the founder's Ed25519 key: cs_roster_replay() sorts the
 * records by (time, hash) and accepts each one that the state built so far
 * allows:
 *  - the founder's first device signs its own record (genesis, admin);
 *  - any other record is signed by a device already in the state and not
 *    revoked (so nothing a stolen laptop signs after its revocation counts);
 *  - a device of practitioner P may add a device for P, rename one, or revoke
 *    one; adding a device of another or a new practitioner, revoking another
 *    practitioner's device, or giving the admin role needs a signer whose
 *    practitioner is cabinet-admin;
 *  - a device's keys and practitioner never change; a revoked device stays
 *    revoked (a later revocation of it only rotates the key again).
 * Every device holding the same records computes the same state, so merging
 * (set union, then replay) converges; a record the replay refuses is dropped
 * and reported (the caller audits it).
 *
 * Key epochs: a revocation names epoch E and the id of a fresh key. When two
 * revocations name the same epoch (concurrent rotations), the one with the
 * lowest record hash wins on every device; the current epoch of a device is
 * the highest E whose winning key it holds (or its base key, the one of
 * cabinet.key, when no record rotates to that epoch).
 *
 * Keys live in h->sec (sodium_malloc): every epoch's key that this device
 * knows, so that an old-epoch peer can still be answered (PROTOCOL.md §1.6).
 *
 * Loop thread or a command; not thread-safe. Files are replaced by rename(2)
 * under an flock(2) on HOME/roster.lock, merged with what is on disk first,
 * so that the agent and a command writing at once lose nothing.
 */
#ifndef CS_AGENT_ROSTER_H
#define CS_AGENT_ROSTER_H

#include <stddef.h>
#include <stdint.h>

#include "agent/home.h"
#include "wire/rrec.h"

/* Why the replay refused a record (base/err.h agent range -640..-659). */
enum cs_roster_err {
	CS_ROSTER_ESIG = -640,     /* the signature does not verify */
	CS_ROSTER_ESIGNER = -641,  /* signer unknown, or revoked before it signed */
	CS_ROSTER_EADMIN = -642,   /* needs the cabinet-admin role */
	CS_ROSTER_EKEYS = -643,    /* keys/practitioner differ from the device's, or reused */
	CS_ROSTER_EREVOKED = -644, /* the device is revoked: nothing but a revocation */
	CS_ROSTER_EUNKNOWN = -645, /* revokes a device that is not in the roster */
	CS_ROSTER_EGENESIS = -646, /* self-signed, not by the cabinet's founder */
	CS_ROSTER_EFULL = -647,    /* too many records or devices */
	CS_ROSTER_ECABINET = -648, /* a record of another cabinet */
};

/*
 * Compute the state of rs into devs (CS_HOME_MAX_DEVICES entries), in the
 * order devices were accepted; verdict (rs->n entries, may be NULL) gets 0
 * or the CS_ROSTER_E* code of each record. Pure. Returns the device count.
 */
size_t cs_roster_replay(const struct cs_roster *rs, struct cs_roster_dev *devs, int *verdict);

/*
 * Merge n records into h's roster: union, replay, keep the accepted ones,
 * recompute h->roster and the current epoch (cs_roster_pick_epoch). verdict
 * (n entries, may be NULL) gets 0 for a record accepted (new or known) or
 * the reason it was refused. *added (may be NULL) gets the number of new
 * accepted records. 0 or CS_ROSTER_EFULL (nothing changed then).
 */
int cs_roster_merge(struct cs_home *h, const struct cs_rrec *in, size_t n, int *verdict,
    size_t *added);

/* Recompute h->roster / h->nroster from h->rs (after loading). */
void cs_roster_refresh(struct cs_home *h);

/*
 * The winning revocation of epoch (lowest hash), or NULL if no record
 * rotates to it.
 */
const struct cs_rrec *cs_roster_winner(const struct cs_home *h, uint32_t epoch);

/* Highest epoch any accepted record rotates to (0 if none). */
uint32_t cs_roster_max_epoch(const struct cs_home *h);

/*
 * Choose the current epoch: the highest one whose key this device holds and
 * is the winner's (or a base key); sets h->epoch and h->sec->cabinet_key.
 * Returns 1 if they changed, 0 if not.
 */
int cs_roster_pick_epoch(struct cs_home *h);

/*
 * Add the key of epoch to h->sec's keyring (kept if already there). Returns
 * 1 if added, 0 if known, CS_ROSTER_EFULL.
 */
int cs_roster_key_add(struct cs_home *h, uint32_t epoch, const uint8_t key[static CS_KEY_LEN]);

/* The held key of epoch whose id is key_id, or NULL. */
const uint8_t *cs_roster_key_find(const struct cs_home *h, uint32_t epoch,
    const uint8_t key_id[static CS_RREC_HASH_LEN]);

/*
 * Build a record about device d signed by this device (h's keys), time = now
 * (or later than every record of h, so it sorts after them), and merge it.
 * For a revocation, epoch/key_id name the new key. Returns 0 or the reason
 * the rules refuse it (CS_ROSTER_E*: nothing changed then), CS_ROSTER_EFULL.
 */
int cs_roster_make(struct cs_home *h, const struct cs_roster_dev *d, int revoke, int admin,
    uint32_t epoch, const uint8_t *key_id, struct cs_rrec *out);

/* The genesis record of a new cabinet (this device, founder, admin). 0 or an error. */
int cs_roster_genesis(struct cs_home *h);

/*
 * Read HOME/roster.ini (signed records; a roster of an older version, with
 * no signatures, is migrated: see roster.c) and HOME/cabinet.keys, then
 * pick the epoch. Records that do not verify are dropped with a warning.
 * Needs h->sec loaded (device keys, base cabinet key). 0,
 * CS_HOME_ECONFIG, CS_ERANGE, CS_ENOMEM.
 */
int cs_roster_load(struct cs_home *h, char *msg, size_t msg_cap);

/*
 * Write HOME/roster.ini and HOME/cabinet.keys: merged first with what the
 * files hold now (under the lock), so that nothing another process wrote is
 * lost. h is updated with what was merged. 0, CS_EIO, CS_ERANGE, CS_ENOMEM.
 */
int cs_roster_save(struct cs_home *h);

/* The roster device named name (its name, or a prefix of 4+ hex digits of its id), or NULL.
 * *ambiguous is set when several match. */
const struct cs_roster_dev *cs_roster_find(const struct cs_home *h, const char *name,
    int *ambiguous);

/* True if practitioner p is cabinet-admin in h's roster. */
int cs_roster_is_admin(const struct cs_home *h, const uint8_t p[static CS_GID_LEN]);

/* ---- what sessions exchange (docs/PROTOCOL.md §3.10-§3.12) ---- */

/*
 * A ROSTER message with every record of h, and the raw records of the file
 * named by $CS_TEST_ROSTER_INJECT if set (a test knob: a forged record sent
 * as if it were ours). *out is cs_malloc'd. 0, CS_ENOMEM, CS_RREC_ECOUNT.
 */
int cs_roster_msg(const struct cs_home *h, uint8_t **out, size_t *len);

/*
 * A KEYS message for the device whose X25519 key is peer_dh: the key of
 * every epoch this device holds that a record vouches for (the winner's),
 * each sealed to peer_dh. *out is cs_malloc'd. 0, CS_ENOMEM, CS_EIO.
 */
int cs_roster_keys_msg(const struct cs_home *h, const uint8_t peer_dh[static 32], uint8_t **out,
    size_t *len);

/* Called for each record of a ROSTER that the rules refused (or that does not decode). */
typedef void (*cs_roster_refused_cb)(void *ctx, const struct cs_rrec *r, int why);

/*
 * Take the body of a ROSTER (n records, cs_rrec_msg_decode): decode, merge
 * (cs_roster_merge); refused(ctx, record or NULL, reason) for each one
 * refused. *added gets the new accepted records. 0, CS_ENOMEM,
 * CS_ROSTER_EFULL.
 */
int cs_roster_take(struct cs_home *h, const uint8_t *body, size_t n, cs_roster_refused_cb refused,
    void *ctx, size_t *added);

/*
 * Take the body of a KEYS (n entries): open each with this device's X25519
 * key, keep the keys a record vouches for (the winner of their epoch), then
 * pick the epoch. *installed gets the new keys kept. 0, CS_ROSTER_EFULL.
 */
int cs_roster_take_keys(struct cs_home *h, const uint8_t *body, size_t n, size_t *installed);

/* A static sentence for a CS_ROSTER_E* code (else cs_rrec_strerror). */
const char *cs_roster_strerror(int err);

#endif
