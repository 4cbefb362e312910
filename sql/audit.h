/*
 * sql/audit.h: the tamper-evident audit trail (DESIGN.md "Audit";
 * docs/SECURITY.md "Audit trail").
 *
 * cs_audit in the app database holds one row per event: who (device,
 * practitioner), which patient (its gid, and the app's local id resolved from
 * cs_ids when the row is written), what action, when, a count and a short
 * non-sensitive detail. Rows are numbered 1, 2, 3... without gaps; each row
 * holds prev (the hash of the row before it), hash (BLAKE2b-256 over a
 * canonical encoding of the row, prev included) and sig (Ed25519 by this
 * device over hash). Triggers refuse UPDATE, DELETE and INSERT OR REPLACE
 * of an existing row from any writer.
 *
 * Heads: a signed (device, count, hash of row count, time) says "my trail had
 * these count rows". The device signs its head at least at every session end
 * (cs_audit_head_make) and keeps the latest one; peers keep each other's
 * latest heads (cs_audit_head_keep) in cs_audit_heads. cs_audit_verify()
 * recomputes the chain and checks it against every head of this device the
 * database holds (its own, and copies given back by peers), so it detects an
 * edited, inserted, reordered or deleted row, a dropped tail, and a chain
 * rewritten and re-signed with the device key (by a peer's older head).
 *
 * Threads: no state; every call takes the sqlite3 handle and runs on the
 * thread that owns it (the agent's database worker, or the CLI). Nothing is
 * kept after a call. The device's Ed25519 secret key is the caller's
 * (sodium_malloc in the agent), read during the call only, never copied.
 * SQL text lives here; no network, no libuv, no logging.
 */
#ifndef CS_SQL_AUDIT_H
#define CS_SQL_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "base/audit.h"
#include "base/change.h"
#include "base/err.h"

#define CS_AUDIT_HASH_LEN   32  /* BLAKE2b-256 */
#define CS_AUDIT_SIG_LEN    64  /* Ed25519 (RFC 8032) */
#define CS_AUDIT_PK_LEN     32  /* Ed25519 public key */
#define CS_AUDIT_SK_LEN     64  /* Ed25519 secret key (libsodium layout) */
#define CS_AUDIT_DETAIL_MAX 200 /* bytes of detail kept; longer is cut */
#define CS_AUDIT_HEAD_VER   1
/* version (1) || device (16) || count (8, BE) || hash (32) || at_ms (8, BE) || sig (64) */
#define CS_AUDIT_HEAD_LEN (1 + CS_DEVID_LEN + 8 + CS_AUDIT_HASH_LEN + 8 + CS_AUDIT_SIG_LEN)

/* Audit error codes (in the sql/ range of base/err.h). Stable. */
enum cs_audit_err {
	CS_AUDIT_EHEAD = -480,  /* signed head bytes malformed (length, version) */
	CS_AUDIT_ESIG = -481,   /* a head's signature does not verify */
	CS_AUDIT_EFORK = -482,  /* a peer's new head contradicts the one kept: rewritten */
	CS_AUDIT_ESQLITE = -483 /* an SQLite call failed */
};

/* A static English sentence for a CS_AUDIT_E... code (or a common code). */
const char *cs_audit_strerror(int err);

/* This device, as the writer and signer of its trail. */
struct cs_audit_self {
	uint8_t device[CS_DEVID_LEN];
	uint8_t practitioner[CS_GID_LEN];
	uint8_t sign_pk[CS_AUDIT_PK_LEN];
	/* CS_AUDIT_SK_LEN bytes owned by the caller; NULL where only reading. */
	const uint8_t *sign_sk;
};

/*
 * Open the app database at path for the audit commands (busy timeout 5 s,
 * foreign keys untouched, journal mode untouched). 0, CS_AUDIT_ESQLITE,
 * CS_ENOENT (no such file). Close with cs_audit_close (accepts NULL).
 */
int cs_audit_open(const char *path, sqlite3 **out);
void cs_audit_close(sqlite3 *db);

/*
 * Create cs_audit, cs_audit_heads and the append-only triggers (idempotent).
 * Call it after cs_engine_install() and cs_engine_install_triggers(): those
 * drop every cs_ trigger. The trail survives cs_engine_uninstall() (it is a
 * record of past accesses). Returns 0 or CS_AUDIT_ESQLITE, CS_EBUSY.
 */
int cs_audit_install(sqlite3 *db);

/*
 * Append one event. The row's device is ev->device or self->device when
 * NULL; its practitioner is practitioner (CS_GID_LEN bytes) or, when NULL
 * and the device is this one, self->practitioner, else NULL (unknown).
 * ev->patient's local id is looked up in cs_ids now (NULL when the engine
 * does not know it). ev->at_ms 0 = now. Runs in a savepoint (nests in the
 * caller's transaction). If id_out is not NULL it gets the new row id.
 * Returns 0 or CS_EINVAL (no secret key), CS_EBUSY, CS_AUDIT_ESQLITE, CS_ENOMEM.
 */
int cs_audit_append(sqlite3 *db, const struct cs_audit_self *self, const struct cs_audit_event *ev,
    const uint8_t *practitioner, int64_t *id_out);

/* ---- coalescing sync in/out: one row per patient and direction per session ---- */

struct cs_audit_acc_ent {
	uint8_t patient[CS_GID_LEN];
	int64_t in, out;
};

/*
 * The counts of one session with one peer device, kept in memory by the
 * caller and flushed at the session's end. Plain object: _init/_free.
 */
struct cs_audit_acc {
	uint8_t peer[CS_DEVID_LEN];
	uint8_t peer_practitioner[CS_GID_LEN];
	int has_practitioner;
	struct cs_audit_acc_ent *ent;
	size_t n, cap;
};

/* peer: CS_DEVID_LEN bytes; peer_practitioner may be NULL. */
void cs_audit_acc_init(struct cs_audit_acc *acc, const uint8_t *peer,
    const uint8_t *peer_practitioner);
/* Count n rows of patient in (CS_AUDIT_SYNC_IN) or out (CS_AUDIT_SYNC_OUT). 0, CS_EINVAL,
 * CS_ENOMEM. */
int cs_audit_acc_add(struct cs_audit_acc *acc, const uint8_t patient[static CS_GID_LEN],
    enum cs_audit_action dir, int64_t n);
#define CS_AUDIT_FLUSH_TX 16 /* patients per transaction of cs_audit_acc_flush */

/*
 * Append the accumulated rows (sync-in then sync-out per patient, in order of
 * first sight, who = the peer), then empty acc. Outside a transaction, in
 * transactions of CS_AUDIT_FLUSH_TX patients each (the write lock is never
 * held long: the app writes meanwhile); inside the caller's, in one
 * savepoint. On error the patients of the failed transaction and after are
 * not appended and stay in acc (a retry appends them, never twice); the
 * ones before are appended and gone from acc. Returns 0 or an error of
 * cs_audit_append.
 */
int cs_audit_acc_flush(struct cs_audit_acc *acc, sqlite3 *db, const struct cs_audit_self *self,
    int64_t at_ms);
/* Release acc's memory; accepts a zeroed or half-built object. */
void cs_audit_acc_free(struct cs_audit_acc *acc);

/* ---- signed heads ---- */

struct cs_audit_head {
	uint8_t device[CS_DEVID_LEN];
	int64_t count; /* rows in the trail (0: empty) */
	uint8_t hash[CS_AUDIT_HASH_LEN];
	int64_t at_ms;
	uint8_t sig[CS_AUDIT_SIG_LEN];
};

/*
 * Sign this device's current head (now_ms 0 = now), store it as its own
 * latest head in cs_audit_heads and return it in out. 0 or CS_EINVAL (no
 * secret key), CS_AUDIT_ESQLITE, CS_EBUSY.
 */
int cs_audit_head_make(sqlite3 *db, const struct cs_audit_self *self, int64_t now_ms,
    struct cs_audit_head *out);
/* 0 if h's signature verifies under sign_pk, else CS_AUDIT_ESIG. */
int cs_audit_head_check(const struct cs_audit_head *h,
    const uint8_t sign_pk[static CS_AUDIT_PK_LEN]);
/* Encode h into CS_AUDIT_HEAD_LEN bytes. Pure. */
void cs_audit_head_encode(const struct cs_audit_head *h, uint8_t out[static CS_AUDIT_HEAD_LEN]);
/*
 * Decode outside bytes (a peer's head); checks length, version and count >= 0,
 * not the signature. Pure, never reads past len. 0 or CS_AUDIT_EHEAD, CS_EINVAL.
 */
int cs_audit_head_decode(const uint8_t *buf, size_t len, struct cs_audit_head *out);

/*
 * Keep h (signed by h->device whose public key is sign_pk), received from
 * device from (CS_DEVID_LEN bytes), as the latest head of h->device held for
 * that source. A head older than the one kept (lower count) or with the same
 * count and another hash is refused with CS_AUDIT_EFORK and the kept head
 * stays (evidence that h->device's trail was truncated or rewritten); an
 * equal one is a no-op. Returns 0, CS_AUDIT_ESIG, CS_AUDIT_EFORK,
 * CS_AUDIT_ESQLITE, CS_EBUSY.
 */
int cs_audit_head_keep(sqlite3 *db, const struct cs_audit_head *h,
    const uint8_t sign_pk[static CS_AUDIT_PK_LEN], const uint8_t from[static CS_DEVID_LEN],
    int64_t now_ms);
/*
 * The kept head of device with the highest count (any source), for giving
 * it back to that device. 0, CS_ENOENT, CS_AUDIT_ESQLITE.
 */
int cs_audit_head_get(sqlite3 *db, const uint8_t device[static CS_DEVID_LEN],
    struct cs_audit_head *out);

/* ---- verification ---- */

struct cs_audit_verdict {
	int ok;          /* 1: the trail is intact and matches every head */
	int64_t rows;    /* rows read */
	int64_t bad_row; /* first bad row id (0 when ok) */
	int64_t heads;   /* heads of this device checked */
	int triggers;    /* 1 if both append-only triggers are present */
	char why[256];   /* one sentence naming the row and the fault (no row value) */
};

/*
 * Recompute the trail of self (device, sign_pk; sign_sk not needed) and
 * check each row (id sequence, prev, hash, signature), then every kept head
 * of self->device (own and given back by peers): a head's signature, its
 * count not beyond the last row (truncation) and the hash of row count.
 * extra (may be NULL) is one more head to check (a peer's copy given on the
 * command line). Returns 0 when the check ran (v->ok says the result), or
 * CS_AUDIT_ESQLITE / CS_ENOMEM.
 */
int cs_audit_verify(sqlite3 *db, const struct cs_audit_self *self,
    const struct cs_audit_head *extra, struct cs_audit_verdict *v);

/* ---- reading ---- */

struct cs_audit_row {
	int64_t id, at_ms;
	enum cs_audit_action action;
	const uint8_t *device;       /* CS_DEVID_LEN bytes or NULL */
	const uint8_t *practitioner; /* CS_GID_LEN bytes or NULL */
	const uint8_t *patient;      /* CS_GID_LEN bytes or NULL */
	const char *patient_local;   /* the app's id, or NULL */
	int64_t count;
	const char *detail; /* or NULL */
};

struct cs_audit_filter {
	const char *patient_local; /* NULL: every patient */
	int64_t since_ms;          /* 0: from the start */
};

/* Row callback: the row lives during the call. Non-zero stops and is returned. */
typedef int (*cs_audit_row_cb)(void *ctx, const struct cs_audit_row *r);

/*
 * The gid of the patient whose local id (the app's primary key, as text) is
 * local, from the engine's mapping. 0, CS_ENOENT (unknown here, or the engine
 * is not installed), CS_AUDIT_ESQLITE.
 */
int cs_audit_patient_gid(sqlite3 *db, const char *local, uint8_t gid[static CS_GID_LEN]);

/* Walk the rows in id order matching f (may be NULL). 0, cb's value, CS_AUDIT_ESQLITE. */
int cs_audit_list(sqlite3 *db, const struct cs_audit_filter *f, cs_audit_row_cb cb, void *ctx);

#endif
