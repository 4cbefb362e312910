/*
 * sql/share.h: the share records of a cabinet in the app database
 * (DESIGN.md "Scope and permissions"; docs/SECURITY.md "Shares and
 * permissions"; record format in wire/sharerec.h).
 *
 * cs_share_rec holds every accepted record (claim, grant, revoke, transfer,
 * practitioner name) in local arrival order (seq): that order is the order
 * they are sent to peers, before any change (a record always arrives after
 * the records it depends on). The engine's cs_shares table is derived from
 * them: one row per (patient, practitioner, grant hlc) with its permission
 * ('owner' for a claim or a transfer) and the hlc where it ends (revoke,
 * --until, transfer), so cs_engine_change_valid() and the extraction scope
 * decide from it, identically on every device whatever the arrival order.
 *
 * A record is accepted when it decodes, its signer is a known device whose
 * Ed25519 key verifies the signature, and the signer's practitioner had the
 * right at the record's hlc: a claim or a name only for itself (and a claim
 * only while no other practitioner owns the patient), a grant, revoke or
 * transfer by the owner, a grant of at most write and a revoke by a holder
 * of 'full'. A refused record is remembered by hash (cs_share_bad) so that
 * it is audited once, not at every session.
 *
 * Also here: cs_readonly (the patients this device's practitioner may only
 * read) and the BEFORE triggers that refuse the app's writes to their rows,
 * the per-peer backfill of a newly shared patient (cs_share_todo), and the
 * purge bookkeeping after a revoke (cs_share_purged).
 *
 * Threads: no state; every call takes the sqlite3 handle and runs on the
 * thread that owns it (the agent's database worker, or the CLI). The signing
 * key is the caller's, read during the call only. SQL text lives here; no
 * network, no libuv, no logging.
 */
#ifndef CS_SQL_SHARE_H
#define CS_SQL_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "base/change.h"
#include "base/err.h"
#include "sql/engine.h"
#include "sql/sharerec.h"

/* Error codes (sql range -500..-519). Stable. */
enum cs_share_err {
	CS_SHARE_EFORGED = -500,  /* malformed record, or its signature does not verify */
	CS_SHARE_ENORIGHT = -501, /* the signer's practitioner had no right to make it */
	CS_SHARE_ESQLITE = -502,  /* an SQLite call failed */
	CS_SHARE_ENOPAT = -503    /* no such patient here */
};

const char *cs_share_strerror(int err);

/* What the module needs to know of a device (from the roster). */
struct cs_share_dev {
	uint8_t practitioner[CS_GID_LEN];
	uint8_t sign_pk[CS_SHAREREC_PK_LEN];
};

/* 1 and *out filled if dev is in the roster, 0 if unknown, < 0 on error. */
typedef int (
    *cs_share_lookup_fn)(void *ctx, const uint8_t dev[CS_DEVID_LEN], struct cs_share_dev *out);
/* The devices of practitioner prac: up to max ids into out; returns the count. */
typedef size_t (*cs_share_devs_fn)(void *ctx, const uint8_t prac[CS_GID_LEN],
    uint8_t (*out)[CS_DEVID_LEN], size_t max);

/* This device and its roster view. sign_sk may be NULL where nothing is signed. */
struct cs_share_ctx {
	sqlite3 *db;
	uint8_t device[CS_DEVID_LEN];
	uint8_t practitioner[CS_GID_LEN];
	const uint8_t *sign_sk; /* CS_SHAREREC_SK_LEN bytes, the caller's */
	cs_share_lookup_fn lookup;
	cs_share_devs_fn devs; /* may be NULL: no backfill queued */
	void *cb_ctx;
	struct cs_share_cache *cache; /* NULL, or cs_share_cache_open()'s */
};

/*
 * Prepared statements for a batch of cs_share_add() / cs_share_make() /
 * cs_share_claim_new() calls on c (a RECORDS message, a run of claims):
 * prepared once, kept in c->cache until cs_share_cache_close(), which must
 * come before c->db is closed. Nothing else changes: the same checks, the
 * same results. 0, CS_EINVAL or CS_ENOMEM; close is a no-op without a cache.
 */
struct cs_share_cache;
int cs_share_cache_open(struct cs_share_ctx *c);
void cs_share_cache_close(struct cs_share_ctx *c);

/* Create the cs_share_* tables (idempotent; cs_shares is the engine's). 0 or CS_SHARE_ESQLITE. */
int cs_share_install(sqlite3 *db);

/* The CLI's transaction: BEGIN IMMEDIATE / COMMIT / ROLLBACK. 0 or CS_EBUSY / CS_SHARE_ESQLITE. */
int cs_share_begin(sqlite3 *db);
int cs_share_commit(sqlite3 *db);
void cs_share_rollback(sqlite3 *db);

/* The current hlc for a record made now: CS_HLC_MAKE(now_ms, 0). */
uint64_t cs_share_now_hlc(int64_t now_ms);

/*
 * Check and store one record (outside bytes, or made here) in a savepoint.
 * rec (may be NULL) gets the decoded record. why (may be NULL) gets one
 * sentence on refusal (no patient id). Returns 0 stored, 1 already known,
 * CS_EAGAIN undecidable now (signer unknown, patient without owner: not
 * stored, it comes again), CS_SHARE_EFORGED / CS_SHARE_ENORIGHT refused
 * (remembered, 2 on a later call with the same bytes: refused before),
 * CS_SHARE_ESQLITE, CS_EBUSY.
 */
int cs_share_add(const struct cs_share_ctx *c, const uint8_t *buf, size_t len,
    struct cs_sharerec *rec, char *why, size_t whycap);

/*
 * A record stored here was made at hlc: raise the floor the capture triggers
 * take a local write's hlc from (cs_meta 'hlc', "highest received hlc",
 * docs/MERGE.md "Capture") to it, so that a write made here after receiving
 * a grant is later than the grant even when this PC's clock is late (else
 * the owner refuses it: "no right at the change's time"). Never lowers it;
 * a no-op without the engine's cs_meta table. 0 or a negative code.
 */
int cs_share_seen_hlc(sqlite3 *db, uint64_t hlc);

/*
 * "Now" as an hlc for the rights of this device's practitioner (read-only
 * guards, shares ended): the later of now_ms and the hlc floor (cs_meta
 * 'hlc'), so that a PC whose clock is late applies a revoke it received as
 * soon as it has it, not when its own clock reaches the revoke's time.
 * Without cs_meta, now_ms alone. 0 or a negative code.
 */
int cs_share_now_floor(sqlite3 *db, int64_t now_ms, uint64_t *out);

/*
 * Make a record on this device: r's kind, perm, patient, practitioner,
 * until_ms and note are the caller's; hlc (CS_HLC of now_ms), signer and
 * sig are set here; then cs_share_add(). Same returns.
 */
int cs_share_make(const struct cs_share_ctx *c, struct cs_sharerec *r, int64_t now_ms, char *why,
    size_t whycap);

/*
 * Claim every patient row of this database that has no owner yet (the
 * patients this device created since the last call), and name this
 * device's practitioner once (name NULL: no name record). Returns the number
 * of records made or a negative code.
 */
int cs_share_claim_new(const struct cs_share_ctx *c, const char *name, int64_t now_ms);

/*
 * cs_share_claim_new() for at most max patients (the first ones, in
 * db_version order; max 0: all): a caller commits between runs so that no
 * write transaction lasts long. *more (may be NULL) gets 1 if patients may
 * remain unclaimed (the run was full), 0 if not. The scan position
 * (cs_share_claim_pos) only passes rows looked at. Same returns.
 */
int cs_share_claim_some(const struct cs_share_ctx *c, const char *name, int64_t now_ms, size_t max,
    int *more);

/* 1 if a TRANSFER record of patient is stored here, 0 if not, < 0 error (a
 * claim stored after its patient's transfer ends an owner right at once). */
int cs_share_has_transfer(sqlite3 *db, const uint8_t patient[static CS_GID_LEN]);

/* 1 if cs_share_claim_new() has something to do (rows past the last scan,
 * or this practitioner's name not recorded), 0 if not (read only), < 0 error. */
int cs_share_claim_needed(sqlite3 *db, const uint8_t prac[static CS_GID_LEN], const char *name);

/* The db_version up to which every patient row here was looked at by the
 * last cs_share_claim_new(): a change past it may belong to a patient not
 * claimed yet, so a sender's cursor must not pass it. 0 or an error. */
int cs_share_claim_pos(sqlite3 *db, uint64_t *pos);

/*
 * The records with seq > after, in seq order, at most max: cb gets each
 * (its bytes live during the call). Returns the number given, cb's
 * non-zero value, or an error.
 */
typedef int (*cs_share_rec_cb)(void *ctx, int64_t seq, const uint8_t *rec, size_t len);
int cs_share_records_after(sqlite3 *db, int64_t after, size_t max, cs_share_rec_cb cb, void *ctx);

/*
 * The seq up to which peer acknowledged this device's records (an ACK of a
 * batch sent after them; agent/share_sync.h): a new session sends only the
 * records after it. Sender-side and only ever too low (a restored backup
 * sends more again), never too high. *seq 0 if none. 0 or an error.
 */
int cs_share_peer_acked(sqlite3 *db, const uint8_t peer[CS_DEVID_LEN], int64_t *seq);
/* Raise peer's acknowledged seq to seq (never lowers it). 0 or an error. */
int cs_share_peer_ack(sqlite3 *db, const uint8_t peer[CS_DEVID_LEN], int64_t seq);

/* A share as listed by `cabsync shares`. */
struct cs_share_row {
	const uint8_t *patient, *practitioner;
	const char *patient_local; /* the app's id here, or NULL */
	const char *perm;          /* owner, read, write, full */
	uint64_t grant_hlc;
	int has_end;
	uint64_t end_hlc;
	const char *note; /* or NULL */
};
typedef int (*cs_share_row_cb)(void *ctx, const struct cs_share_row *r);

/* Walk cs_shares (one patient if patient is not NULL). 0, cb's value or an error. */
int cs_share_list(sqlite3 *db, const uint8_t *patient, cs_share_row_cb cb, void *ctx);

/* A practitioner as listed by `cabsync practitioners`: id and latest name (or NULL). */
typedef int (*cs_share_name_cb)(void *ctx, const uint8_t prac[CS_GID_LEN], const char *name);
/* The names known from NAME records, latest per practitioner. */
int cs_share_names(sqlite3 *db, cs_share_name_cb cb, void *ctx);
/* The latest name of practitioner prac into out (cap bytes). 0 or CS_ENOENT. */
int cs_share_names_one(sqlite3 *db, const uint8_t prac[static CS_GID_LEN], char *out, size_t cap);
/* The practitioner called name (NAME records; exact match). 0, CS_ENOENT, CS_EEXIST (two). */
int cs_share_prac_by_name(sqlite3 *db, const char *name, uint8_t out[static CS_GID_LEN]);

/*
 * Rights of practitioner prac on patient now: CS_PERM_FULL+1 owner, else the
 * best of CS_PERM_FULL/WRITE/READ in force at now_hlc, CS_PERM_NONE.
 */
int cs_share_rights(sqlite3 *db, const uint8_t patient[static CS_GID_LEN],
    const uint8_t prac[static CS_GID_LEN], uint64_t now_hlc);
#define CS_SHARE_OWNER (CS_PERM_FULL + 1)

/*
 * Read-only protection (DESIGN.md: `read` is enforced where the write
 * happens): refill cs_readonly with the patients prac may only read at
 * now_hlc, and (re)create the BEFORE triggers of every tracked table of e,
 * which refuse an app write to those rows with "cabsync: patient shared
 * read-only". The engine's own apply is not refused (cs_apply flag). Returns
 * the number of read-only patients or a negative code.
 */
int cs_share_readonly(struct cs_engine *e, const uint8_t prac[static CS_GID_LEN], uint64_t now_hlc);
/* Drop a patient from cs_readonly (before it is purged). */
int cs_share_readonly_drop(sqlite3 *db, const uint8_t patient[static CS_GID_LEN]);

/* Backfill of a new share: the next patient to send to peer from the start. */
int cs_share_todo_next(sqlite3 *db, const uint8_t peer[static CS_DEVID_LEN],
    uint8_t patient[static CS_GID_LEN], uint64_t *after);
/*
 * Every patient shared now with prac is due again to peer from the start
 * (a session with peer closed with batches in flight: a backfill batch may
 * have been lost with it, its todo row being gone). Duplicates are ignored
 * by the receiver. 0 or a negative code.
 */
int cs_share_todo_rearm(sqlite3 *db, const uint8_t peer[static CS_DEVID_LEN],
    const uint8_t prac[static CS_GID_LEN]);
/* Queue patient for peer from the start again (a relay bundle that held its
 * backfill expired unread). 0 or an error. */
int cs_share_todo_add(sqlite3 *db, const uint8_t peer[static CS_DEVID_LEN],
    const uint8_t patient[static CS_GID_LEN]);
/* Progress (more != 0: keep it with the new cursor) or done (deleted). */
int cs_share_todo_set(sqlite3 *db, const uint8_t peer[static CS_DEVID_LEN],
    const uint8_t patient[static CS_GID_LEN], uint64_t after, int more);

/*
 * Patients whose every right of prac ended at or before now_hlc (revoke,
 * --until, transfer) and whose copy here was not purged since: cb gets each
 * with the hlc where the last right ended and the highest local db_version
 * of its rows here (what a peer must have acknowledged first). Rows of a
 * patient prac owns or may still see are never listed. A patient purged
 * before is listed again when rows of it came back (a colleague's device
 * forwarded its valid changes after this copy was purged).
 */
typedef int (*cs_share_ended_cb)(void *ctx, const uint8_t patient[CS_GID_LEN], uint64_t end_hlc,
    uint64_t max_v);
int cs_share_ended(sqlite3 *db, const uint8_t prac[static CS_GID_LEN], uint64_t now_hlc,
    cs_share_ended_cb cb, void *ctx);
/* Record that the copy of patient was purged for rights ended at end_hlc. */
int cs_share_mark_purged(sqlite3 *db, const uint8_t patient[static CS_GID_LEN], uint64_t end_hlc);

/* The owner (practitioner) of patient at hlc. 0, CS_ENOENT. */
int cs_share_owner(sqlite3 *db, const uint8_t patient[static CS_GID_LEN], uint64_t hlc,
    uint8_t out[static CS_GID_LEN]);

#endif
