/*
 * sql/engine.h: the sync engine inside the application's own SQLite database
 * (DESIGN.md "Data model", "Merge rules, precisely"; docs/MERGE.md).
 *
 * The engine owns the cs_* tables and the capture triggers on the tracked
 * tables named in a tables INI file. It extracts local changes as changesets
 * (base/change.h) and applies a peer's changesets with the exact merge rules
 * of DESIGN.md: per-cell dots and per-row version vectors, causal-length
 * deletes, conflicts recorded in cs_conflicts, orphans and far-future hlcs
 * held in cs_held, rows that cannot apply for a local reason quarantined.
 *
 * Threads: a struct cs_engine owns one SQLite connection and is used by one
 * thread at a time (the agent's database worker). Nothing here blocks on the
 * network or touches libuv. The library does not log: every failing call
 * returns a negative code (base/err.h common range, or CS_SQL_E... below) and
 * cs_engine_errmsg() gives one precise sentence (table, column, file, line:
 * never a row value, never a patient id).
 *
 * Ownership: the engine copies what it keeps from the options. Changesets
 * passed in are read only during the call; changesets filled by the engine
 * belong to the caller (cs_changeset_free()). Strings returned by the engine
 * stay valid until the next call on the same engine.
 *
 * The capture triggers are plain SQL (no function of ours): any writer of the
 * database file (the practice app, the sqlite3 shell) is captured, with or
 * without the engine open.
 */
#ifndef CS_SQL_ENGINE_H
#define CS_SQL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "base/change.h"
#include "base/err.h"

/* Engine error codes (base/err.h range -400 .. -599). Stable: never renumber. */
enum cs_sql_err {
	CS_SQL_ECONFIG = -400,     /* the tables INI is wrong (errmsg: file, line, problem) */
	CS_SQL_ENOTWAL = -401,     /* database not in WAL mode and enable_wal not set */
	CS_SQL_ENETFS = -402,      /* database on a network filesystem (NFS/SMB/CIFS) */
	CS_SQL_ESCHEMA_NEW = -403, /* cs_* schema is newer than this build: upgrade cabsync */
	CS_SQL_ENOTINST = -404,    /* cs_* schema not installed (call cs_engine_install) */
	CS_SQL_EBATCH = -405,      /* hostile or malformed changeset: refused whole */
	CS_SQL_ESQLITE = -406,     /* an SQLite call failed (errmsg says which and why) */
	CS_SQL_EBUSY = -407,       /* database locked by another writer: retry later */
	CS_SQL_ENOCONFLICT = -408, /* no such open conflict */
	CS_SQL_ESCHEMA = -409,     /* the app schema no longer matches the tables INI */
	CS_SQL_EFULL = -410        /* disk full while writing */
};

/* A static English sentence for a CS_SQL_E... code (or a common code). */
const char *cs_sql_strerror(int err);

struct cs_engine;

struct cs_engine_opts {
	/* Path of the app's database, or an SQLite URI ("file:x?mode=memory&cache=shared")
	 * or ":memory:" for tests (then only cs_engine_handle() can write to it). */
	const char *db_path;
	/* Path of the tracked-tables INI (format in docs/MERGE.md "Configuration"). */
	const char *tables_ini;
	/* This device's global id (CS_DEVID_LEN bytes). It names the dots of the
	 * first incarnation of this database; see cs_engine_incarnation(). */
	const uint8_t *device_id;
	/* Switch a non-WAL database to WAL (the user asked: `init --enable-wal`).
	 * 0: a non-WAL database is refused with CS_SQL_ENOTWAL. */
	int enable_wal;
	/* Future bound for remote hlcs in ms; 0 = the INI's [engine] future_bound_ms,
	 * else 300000 (5 min). A change further ahead is held, never rewritten. */
	uint64_t future_bound_ms;
	/* Wall clock in ms since the epoch for apply (future bound, hlc). NULL = the
	 * real clock. Capture triggers always use SQLite's julianday('now'): the
	 * local hlc is max(that, last local hlc + 1, highest received hlc + 1). */
	uint64_t (*now_ms)(void *ctx);
	void *now_ctx;
	/* Incarnation check (restored backup / cloned disk, DESIGN.md Data model):
	 * the incarnation id (CS_GID_LEN bytes) and db_version the agent stored
	 * beside its keys after its last commit, or NULL / 0 on first use. If the
	 * database's incarnation differs, or its db_version is lower than
	 * min_db_version, the engine takes a new incarnation and a new site id
	 * (new dots) and cs_engine_reincarnated() returns 1: the agent must then
	 * reset every peer cursor (resync from 0 both ways). */
	const uint8_t *expected_incarnation;
	uint64_t min_db_version;
	/* Scope check of incoming changes (DESIGN.md Scope and permissions):
	 * the practitioner (CS_GID_LEN bytes) of a writing device, from the
	 * roster: return 1 and fill out, 0 if the device is not known yet (the
	 * row is held), < 0 on error. NULL: no check (every change is valid). */
	int (*practitioner_of)(void *ctx, const uint8_t device[CS_DEVID_LEN],
	    uint8_t out[CS_GID_LEN]);
	void *practitioner_ctx;
};

/*
 * Open the database and read the tables INI. Checks: WAL (or switches it
 * if enable_wal), not on a network filesystem, the INI against the app
 * schema. Does not install anything (cs_engine_install): until the schema
 * is installed, and while the INI names a table or column that was not
 * installed yet, open succeeds but extract/apply return CS_SQL_ENOTINST /
 * CS_SQL_ESCHEMA with a message, so that the caller can install. On error *out is
 * NULL and, when the engine object could be built, the message is lost:
 * use cs_engine_open_errmsg() for the sentence of the last failed open on
 * this thread. Returns 0 or CS_SQL_ECONFIG, CS_SQL_ENOTWAL, CS_SQL_ENETFS,
 * CS_SQL_ESCHEMA_NEW, CS_SQL_ESQLITE, CS_ENOMEM, CS_EINVAL.
 */
int cs_engine_open(struct cs_engine **out, const struct cs_engine_opts *o);
/* The sentence of the last failed cs_engine_open() on this thread. */
const char *cs_engine_open_errmsg(void);
/* Close the connection and free everything. Accepts NULL. */
void cs_engine_close(struct cs_engine *e);
/* One sentence about the last error of a call on e ("" if none). */
const char *cs_engine_errmsg(const struct cs_engine *e);

/*
 * The engine's own connection. For tests and the simulator to make "app
 * writes" when the database is in memory or a second connection is not
 * wanted: writes through it are captured by the triggers exactly like the
 * app's. Do not use it inside an engine call; do not close it.
 */
sqlite3 *cs_engine_handle(struct cs_engine *e);

/*
 * Install or upgrade the cs_* schema and the capture triggers (idempotent:
 * a second call changes nothing). Existing rows of the tracked tables are
 * registered as local inserts so they sync. Returns 0, CS_SQL_ESCHEMA_NEW
 * (a newer cabsync installed it), CS_SQL_ESQLITE, CS_ENOMEM.
 */
int cs_engine_install(struct cs_engine *e);
/* Re-create the capture triggers only (after an app schema change). */
int cs_engine_install_triggers(struct cs_engine *e);
/* Remove every cs_* trigger and table; app data stays intact. */
int cs_engine_uninstall(struct cs_engine *e);
/* 1 if the cs_* schema is installed at this build's version, else 0. */
int cs_engine_installed(struct cs_engine *e);

/* This database's current db_version (0 before any change). */
uint64_t cs_engine_db_version(struct cs_engine *e);
/* The database incarnation id (CS_GID_LEN bytes) to store beside the keys. */
void cs_engine_incarnation(struct cs_engine *e, uint8_t out[static CS_GID_LEN]);
/* The global id of this incarnation's dots (its "site"); = device_id at first. */
void cs_engine_site(struct cs_engine *e, uint8_t out[static CS_DEVID_LEN]);
/* 1 if open found a restored or cloned database and took a new incarnation. */
int cs_engine_reincarnated(const struct cs_engine *e);

/*
 * What a receiving practitioner may see (DESIGN.md Scope and permissions).
 * practitioner: CS_GID_LEN bytes; a patient is visible if a cs_shares record
 * for (patient, practitioner) is in force now (perm owner/read/write/full).
 * patient: optional CS_GID_LEN bytes; when set, only that patient's rows
 * (a new share: extract with after_db_version = 0).
 */
struct cs_scope {
	const uint8_t *practitioner;
	const uint8_t *patient;
};

/*
 * Extract the rows changed after after_db_version into *out (reset first),
 * at most max_rows rows (> 0), in order of their latest change, each row
 * whole: causal length, existence entry, every cell (values read from the
 * base table, foreign keys as CS_V_REF gids) and this device's row vector
 * (docs/MERGE.md "Extraction" says why whole rows). Cells whose dot
 * belongs to for_device (CS_DEVID_LEN bytes, may be NULL) are left out, and
 * rows made only of them. scope NULL = everything; with a scope, a row that
 * moved out of it comes as a removal marker (no cell, no vector).
 * out->db_version is the cursor the receiver stores once the batch is
 * durably applied.
 * Returns 1 if more rows remain after this batch, 0 if this batch reaches
 * the end (it may be empty), or a negative code.
 */
int cs_engine_extract(struct cs_engine *e, uint64_t after_db_version, const uint8_t *for_device,
    const struct cs_scope *scope, size_t max_rows, struct cs_changeset *out);

struct cs_apply_result {
	uint32_t applied;     /* rows whose state changed */
	uint32_t ignored;     /* rows already known (duplicates, older) */
	uint32_t conflicts;   /* conflict records written */
	uint32_t held;        /* rows held (orphan, far-future hlc, undecidable scope) */
	uint32_t quarantined; /* rows that cannot apply locally (UNIQUE, NOT NULL...) */
	uint32_t released;    /* earlier held rows applied during this call */
	uint32_t refused;     /* rows refused: a write the writer had no right to make */
	uint32_t reasserted;  /* refused rows this device wrote its valid value again for */
};

/*
 * Apply one changeset from from_device (CS_DEVID_LEN bytes: the peer of
 * the session) in one transaction with synchronous=FULL. The whole batch is
 * checked first: an unknown table or column, a bad value type or index, a
 * REF of the wrong length, an even/odd mismatch... refuses it whole with
 * CS_SQL_EBATCH and nothing is written. Rows held earlier that can now
 * apply (their parent came, the clock caught up) are applied in the same
 * transaction. res may be NULL. Returns 0 or a negative code; on error the
 * database is unchanged.
 */
int cs_engine_apply(struct cs_engine *e, const struct cs_changeset *cs,
    const uint8_t from_device[static CS_DEVID_LEN], struct cs_apply_result *res);

/* Apply the held rows that can apply now (clock caught up). Returns the
 * number released or a negative code. */
int cs_engine_release_held(struct cs_engine *e, struct cs_apply_result *res);

/* The largest clock correction cs_engine_set_clock_offset() takes: 1 h. */
#define CS_ENGINE_MAX_CLOCK_CORRECTION_MS 3600000

/*
 * Correct the clock of the future bound (docs/MERGE.md "Far-future clock"):
 * a remote row is held while its hlc is more than the bound ahead of
 * (wall clock + offset_ms), and released (next apply or
 * cs_engine_release_held) once it no longer is. offset_ms is how far the
 * cabinet's clock is ahead of this PC's, as the agent measured it
 * (agent/clockoff.h); it is clamped to [0, CS_ENGINE_MAX_CLOCK_CORRECTION_MS]:
 * the correction only relaxes the bound, by at most an hour. Nothing else
 * uses it: hlcs of local writes (the triggers, the engine's own) still come
 * from the wall clock and the received-hlc floor. Default 0. Worker thread.
 */
void cs_engine_set_clock_offset(struct cs_engine *e, int64_t offset_ms);
/* The correction in force (after clamping). */
int64_t cs_engine_clock_offset(const struct cs_engine *e);

/* One recorded conflict: the losing value of a truly concurrent write. */
struct cs_conflict {
	int64_t id;        /* local id for cs_engine_conflict_resolve */
	const char *table; /* tracked table */
	uint8_t row_gid[CS_GID_LEN];
	const char *column;            /* NULL: the row's existence (edit vs delete) */
	struct cs_value winner, loser; /* values (loser's value NULL for a delete) */
	uint8_t winner_dev[CS_DEVID_LEN], loser_dev[CS_DEVID_LEN];
	uint64_t winner_hlc, loser_hlc;
	int loser_is_delete, winner_is_delete;
	int resolved; /* 0 open, 1 resolved */
};

typedef int (*cs_conflict_cb)(void *ctx, const struct cs_conflict *c);

/*
 * Call cb for each conflict (only open ones if open_only), oldest first.
 * The struct and its strings/values live during the callback only. A
 * non-zero return from cb stops the walk and is returned. Returns 0 or a
 * negative code.
 */
int cs_engine_conflicts(struct cs_engine *e, int open_only, cs_conflict_cb cb, void *ctx);

enum cs_resolve {
	CS_RESOLVE_KEEP_MINE = 1,  /* keep the value this replica shows now */
	CS_RESOLVE_TAKE_THEIRS = 2 /* write the other value, as a new local edit */
};

/*
 * Resolve conflict id: write the chosen value as a new local edit (a dot
 * that dominates both) and mark the record resolved; both sync like data,
 * so the resolution reaches every replica. Returns 0, CS_SQL_ENOCONFLICT,
 * CS_EUNSUPPORTED (take theirs on a row that no longer exists), or an error.
 */
int cs_engine_conflict_resolve(struct cs_engine *e, int64_t id, enum cs_resolve how);

/* Number of rows waiting in cs_held and in cs_quarantine. */
int cs_engine_pending(struct cs_engine *e, uint64_t *held, uint64_t *quarantined);

/*
 * The tracked tables and their synced columns, as a changeset dictionary
 * (no rows) appended to *out: what a HELLO announces (docs/PROTOCOL.md §5,
 * mixed app schemas). No SQL runs. 0 or CS_ENOMEM.
 */
int cs_engine_schema(struct cs_engine *e, struct cs_changeset *out);

/*
 * Number of rows a cs_engine_extract(after_db_version, scope NULL) stream
 * still has to send (rows whose latest change is after it): the total of
 * an initial sync's progress. 0 or a negative code.
 */
int cs_engine_count_after(struct cs_engine *e, uint64_t after_db_version, uint64_t *n);

/*
 * PRAGMA data_version of the main database: it changes when another
 * connection (the app) commits, never for this connection's own commits.
 * The agent uses it to see that the app is writing and leave it room.
 * 0 or a negative code.
 */
int cs_engine_data_version(struct cs_engine *e, uint64_t *v);

/*
 * Durability of the next commits: full (the default, synchronous=FULL: each
 * commit fsyncs the WAL) or not (NORMAL: the WAL is written, not synced).
 * The agent applies a big batch in parts with full = 0 but the last one:
 * that commit's fsync makes the whole WAL, so every part, durable before
 * the ACK, and the app waits for one fsync per batch instead of one per
 * part. 0 or a negative code.
 */
int cs_engine_set_full_sync(struct cs_engine *e, int full);

/* Number of open conflict records. 0 or a negative code. */
int cs_engine_count_conflicts(struct cs_engine *e, uint64_t *n);

/*
 * Purge every row of a patient from this replica (a share to this
 * device's practitioner was revoked; DESIGN.md Scope and permissions): the
 * base rows are deleted in apply mode (not captured, nothing propagates) and
 * their row records dropped, so a later share applies them anew. The
 * caller sends this device's unacknowledged changes first. Returns the
 * number of rows purged or a negative code.
 */
int cs_engine_purge_patient(struct cs_engine *e, const uint8_t patient[static CS_GID_LEN]);

/*
 * Validity of a change by practitioner p on patient at hlc (DESIGN.md Scope
 * and permissions): 1 valid (p owns the patient, or a share to p with
 * grant_hlc <= hlc < revoke_hlc and a writing permission), 0 invalid,
 * CS_EAGAIN undecidable (no share record for the patient yet: hold).
 * need_full: the change deletes or re-shares. Pure function of cs_shares.
 */
int cs_engine_change_valid(struct cs_engine *e, const uint8_t patient[static CS_GID_LEN],
    const uint8_t practitioner[static CS_GID_LEN], uint64_t hlc, int need_full);

/* A tracked table as the share module needs it (read-only triggers). */
struct cs_engine_table {
	const char *name, *pk; /* valid until the engine is closed */
	int tid;               /* cs_tables id (cs_ids.tid) */
	int patient_table;     /* 1: scope = self */
	const char *scope_col; /* scope = a column holding the patient's pk, else NULL */
	int internal;          /* an engine table (cs_conflicts): no app writes */
	const char *label;     /* the [table] label expression (patient table), or NULL */
};

/* The i-th tracked table (0, 1, ...). 0, CS_ENOENT past the last, CS_EINVAL. */
int cs_engine_table_info(struct cs_engine *e, int i, struct cs_engine_table *out);

#endif
