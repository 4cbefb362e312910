/*
 * sql/share.c: share records in the app database (see share.h).
 */
#include "sql/share.h"

#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "sql/engine_int.h"

static const char install_sql[] =
    "CREATE TABLE IF NOT EXISTS cs_share_rec(seq INTEGER PRIMARY KEY, "
    " hash BLOB NOT NULL UNIQUE, rec BLOB NOT NULL, kind INTEGER NOT NULL, "
    " perm INTEGER NOT NULL, patient BLOB NOT NULL, practitioner BLOB NOT NULL, "
    " hlc INTEGER NOT NULL, until_ms INTEGER NOT NULL, signer BLOB NOT NULL, note TEXT, "
    " at_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS cs_share_rec_pat ON cs_share_rec(patient, kind);"
    "CREATE TABLE IF NOT EXISTS cs_share_bad(hash BLOB PRIMARY KEY, why TEXT) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cs_share_todo(peer BLOB NOT NULL, patient BLOB NOT NULL, "
    " after INTEGER NOT NULL, PRIMARY KEY(peer, patient)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cs_share_purged(patient BLOB PRIMARY KEY, "
    " end_hlc INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cs_readonly(patient BLOB PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cs_share_meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cs_share_peer(peer BLOB PRIMARY KEY, "
    " acked INTEGER NOT NULL) WITHOUT ROWID;";

/* A right in force at ?3 (an hlc): granted at or before, not ended yet. */
#define IN_FORCE "grant_hlc <= ?3 AND (revoke_hlc IS NULL OR revoke_hlc > ?3)"

const char *
cs_share_strerror(int err)
{
	switch (err) {
	case CS_SHARE_EFORGED:
		return "share record malformed or badly signed";
	case CS_SHARE_ENORIGHT:
		return "the signer had no right to make this share record";
	case CS_SHARE_ESQLITE:
		return "a database call failed (share records)";
	case CS_SHARE_ENOPAT:
		return "no such patient in this database";
	default:
		return cs_sharerec_strerror(err);
	}
}

static void
say(char *why, size_t cap, const char *s)
{
	if (why != NULL && cap > 0)
		snprintf(why, cap, "%s", s);
}

static int
sqerr(int rc)
{
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? CS_EBUSY : CS_SHARE_ESQLITE;
}

static int
prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);

	return rc == SQLITE_OK ? 0 : sqerr(rc);
}

/* Step a statement that returns no row; finalizes it. */
static int
run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqerr(rc);
}

/* The statements cs_share_add and what it calls run per record. */
enum {
	Q_SP,
	Q_RELEASE,
	Q_ROLLBACK_TO,
	Q_KNOWN_REC,
	Q_KNOWN_BAD,
	Q_OWNER_AT,
	Q_CLAIMED,
	Q_PERM_AT,
	Q_FIRST,
	Q_FIRST_STRICT,
	Q_PUT_SHARE,
	Q_END_OWNER,
	Q_END_PRAC,
	Q_STORE,
	Q_BAD,
	Q_TODO,
	Q_N
};

struct cs_share_cache {
	sqlite3 *db;
	sqlite3_stmt *st[Q_N];
};

/*
 * Statement id of k's cache, prepared once per cache (k NULL, or not of
 * db: prepared now, finalized by sdone).
 */
static int
sprep(struct cs_share_cache *k, int id, sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	int rc;

	if (k == NULL || k->db != db)
		return prep(db, sql, st);
	if (k->st[id] == NULL && (rc = prep(db, sql, &k->st[id])) < 0)
		return rc;
	*st = k->st[id];
	return 0;
}

/* Done with st: a cached statement is reset for its next use, another finalized. */
static void
sdone(struct cs_share_cache *k, sqlite3_stmt *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; k != NULL && i < Q_N; i++) {
		if (k->st[i] == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	}
	sqlite3_finalize(st);
}

/* Step a statement that returns no row; done with it (sdone). */
static int
srun(struct cs_share_cache *k, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sdone(k, st);
	return rc == SQLITE_DONE ? 0 : sqerr(rc);
}

/* Run one fixed statement without a row (a savepoint) through k. */
static int
sexec(struct cs_share_cache *k, int id, sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sprep(k, id, db, sql, &st)) < 0)
		return rc;
	return srun(k, st);
}

int
cs_share_cache_open(struct cs_share_ctx *c)
{
	if (c == NULL || c->db == NULL)
		return CS_EINVAL;
	if (c->cache != NULL)
		return 0;
	if ((c->cache = cs_calloc(1, sizeof(*c->cache))) == NULL)
		return CS_ENOMEM;
	c->cache->db = c->db;
	return 0;
}

void
cs_share_cache_close(struct cs_share_ctx *c)
{
	int i;

	if (c == NULL || c->cache == NULL)
		return;
	for (i = 0; i < Q_N; i++)
		sqlite3_finalize(c->cache->st[i]);
	cs_free(c->cache);
	c->cache = NULL;
}

int
cs_share_install(sqlite3 *db)
{
	int rc = sqlite3_exec(db, install_sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sqerr(rc);
}

int
cs_share_begin(sqlite3 *db)
{
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sqerr(rc);
}

int
cs_share_commit(sqlite3 *db)
{
	int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sqerr(rc);
}

void
cs_share_rollback(sqlite3 *db)
{
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

uint64_t
cs_share_now_hlc(int64_t now_ms)
{
	return CS_HLC_MAKE((uint64_t)now_ms, 0);
}

int
cs_share_seen_hlc(sqlite3 *db, uint64_t hlc)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (hlc > (uint64_t)INT64_MAX)
		return CS_EINVAL;
	if ((rc = prep(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='cs_meta'",
	         &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : sqerr(rc);
	if ((rc = prep(db,
	         "INSERT INTO cs_meta(k, v) VALUES('hlc', ?1) ON CONFLICT(k) DO UPDATE "
	         "SET v = max(coalesce(v, 0), excluded.v)",
	         &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)hlc);
	return run(st);
}

int
cs_share_now_floor(sqlite3 *db, int64_t now_ms, uint64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*out = cs_share_now_hlc(now_ms);
	if ((rc = prep(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='cs_meta'",
	         &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : sqerr(rc);
	if ((rc = prep(db, "SELECT v FROM cs_meta WHERE k='hlc' AND typeof(v)='integer'", &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (uint64_t)sqlite3_column_int64(st, 0) > *out)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqerr(rc);
}

/* The owner of patient at hlc into out (may be NULL): 1 found, 0 none, < 0 error. */
static int
owner_at(struct cs_share_cache *k, sqlite3 *db, const uint8_t *patient, uint64_t hlc, uint8_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sprep(k, Q_OWNER_AT, db,
	         "SELECT practitioner FROM cs_shares WHERE patient=?1 AND perm='owner' AND "
	         "?2=?2 AND " IN_FORCE " ORDER BY grant_hlc DESC LIMIT 1",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, 0);
	sqlite3_bind_int64(st, 3, (int64_t)hlc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (out != NULL && sqlite3_column_bytes(st, 0) == CS_GID_LEN)
			memcpy(out, sqlite3_column_blob(st, 0), CS_GID_LEN);
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : sqerr(rc);
	}
	sdone(k, st);
	return rc;
}

/* 1 if patient has any owner row (claimed), 0 if not, < 0 error. */
static int
claimed(struct cs_share_cache *k, sqlite3 *db, const uint8_t *patient, uint8_t *who)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sprep(k, Q_CLAIMED, db,
	         "SELECT practitioner FROM cs_shares WHERE patient=?1 AND perm='owner' "
	         "ORDER BY grant_hlc LIMIT 1",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (who != NULL && sqlite3_column_bytes(st, 0) == CS_GID_LEN)
			memcpy(who, sqlite3_column_blob(st, 0), CS_GID_LEN);
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : sqerr(rc);
	}
	sdone(k, st);
	return rc;
}

/* The best non-owner permission of prac on patient in force at hlc. */
static int
perm_at(struct cs_share_cache *k, sqlite3 *db, const uint8_t *patient, const uint8_t *prac,
    uint64_t hlc)
{
	sqlite3_stmt *st = NULL;
	int rc, best = CS_PERM_NONE;

	if ((rc = sprep(k, Q_PERM_AT, db,
	         "SELECT perm FROM cs_shares WHERE patient=?1 AND practitioner=?2 AND "
	         "perm != 'owner' AND " IN_FORCE,
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, prac, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)hlc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t p = CS_PERM_NONE;
		const char *s = (const char *)sqlite3_column_text(st, 0);

		if (s != NULL && cs_perm_parse(s, &p) == 0 && p > best)
			best = p;
	}
	sdone(k, st);
	return rc == SQLITE_DONE ? best : sqerr(rc);
}

int
cs_share_rights(sqlite3 *db, const uint8_t patient[static CS_GID_LEN],
    const uint8_t prac[static CS_GID_LEN], uint64_t now_hlc)
{
	uint8_t own[CS_GID_LEN];
	int rc;

	if ((rc = owner_at(NULL, db, patient, now_hlc, own)) < 0)
		return rc;
	if (rc == 1 && memcmp(own, prac, CS_GID_LEN) == 0)
		return CS_SHARE_OWNER;
	return perm_at(NULL, db, patient, prac, now_hlc);
}

int
cs_share_owner(sqlite3 *db, const uint8_t patient[static CS_GID_LEN], uint64_t hlc,
    uint8_t out[static CS_GID_LEN])
{
	int rc = owner_at(NULL, db, patient, hlc, out);

	return rc == 1 ? 0 : rc == 0 ? CS_ENOENT : rc;
}

/* The lowest hlc >= from of records of kind on (patient [, prac]), or 0. */
static int
first_after(struct cs_share_cache *k, sqlite3 *db, int kind, const uint8_t *patient,
    const uint8_t *prac, uint64_t from, int strict, uint64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*out = 0;
	if ((rc = sprep(k, strict ? Q_FIRST_STRICT : Q_FIRST, db,
	         strict ? "SELECT min(hlc) FROM cs_share_rec WHERE patient=?1 AND kind=?2 AND "
	                  "(?3 IS NULL OR practitioner=?3) AND hlc > ?4"
	                : "SELECT min(hlc) FROM cs_share_rec WHERE patient=?1 AND kind=?2 AND "
	                  "(?3 IS NULL OR practitioner=?3) AND hlc >= ?4",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, kind);
	if (prac != NULL)
		sqlite3_bind_blob(st, 3, prac, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)from);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	sdone(k, st);
	return rc == SQLITE_ROW ? 0 : sqerr(rc);
}

/* Insert a cs_shares row (ignored if the same (patient, prac, grant) is there). */
static int
put_share(struct cs_share_cache *k, sqlite3 *db, const uint8_t *patient, const uint8_t *prac,
    const char *perm, uint64_t grant, uint64_t end)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sprep(k, Q_PUT_SHARE, db,
	         "INSERT OR IGNORE INTO cs_shares(patient, practitioner, perm, grant_hlc, "
	         "revoke_hlc) VALUES(?1, ?2, ?3, ?4, ?5)",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, prac, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, perm, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)grant);
	if (end != 0)
		sqlite3_bind_int64(st, 5, (int64_t)end);
	return srun(k, st);
}

/* End the rows of patient (of prac, or the owner rows when owner) granted at or before h. */
static int
end_shares(struct cs_share_cache *k, sqlite3 *db, const uint8_t *patient, const uint8_t *prac,
    int owner, uint64_t h)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sprep(k, owner ? Q_END_OWNER : Q_END_PRAC, db,
	         owner
	             ? "UPDATE cs_shares SET revoke_hlc=?3 WHERE patient=?1 AND perm='owner' AND "
	               "?2 IS NULL AND grant_hlc <= ?3 AND (revoke_hlc IS NULL OR revoke_hlc > ?3)"
	             : "UPDATE cs_shares SET revoke_hlc=?3 WHERE patient=?1 AND practitioner=?2 "
	               "AND perm != 'owner' AND grant_hlc <= ?3 AND (revoke_hlc IS NULL OR "
	               "revoke_hlc > ?3)",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	if (!owner)
		sqlite3_bind_blob(st, 2, prac, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)h);
	return srun(k, st);
}

/* Queue the backfill of patient to every device of prac but this one. */
static int
queue_backfill(const struct cs_share_ctx *c, const uint8_t *patient, const uint8_t *prac)
{
	uint8_t(*ids)[CS_DEVID_LEN] = NULL;
	sqlite3_stmt *st = NULL;
	size_t n, i;
	int rc = 0;

	if (c->devs == NULL)
		return 0;
	if ((ids = cs_calloc(64, sizeof(*ids))) == NULL)
		return CS_ENOMEM;
	n = c->devs(c->cb_ctx, prac, ids, 64);
	if ((rc = sprep(c->cache, Q_TODO, c->db,
	         "INSERT OR REPLACE INTO cs_share_todo(peer, patient, after) VALUES(?1, ?2, 0)",
	         &st)) < 0)
		goto out;
	for (i = 0; i < n && rc == 0; i++) {
		if (memcmp(ids[i], c->device, CS_DEVID_LEN) == 0)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_blob(st, 1, ids[i], CS_DEVID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, patient, CS_GID_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqerr(sqlite3_errcode(c->db));
	}
out:
	sdone(c->cache, st);
	cs_free(ids);
	return rc;
}

/* Derive cs_shares from an accepted record (order-independent, see share.h). */
static int
derive(const struct cs_share_ctx *c, const struct cs_sharerec *r)
{
	sqlite3 *db = c->db;
	struct cs_share_cache *k = c->cache;
	uint64_t end = 0, until;
	int rc = 0;

	switch (r->kind) {
	case CS_SHAREREC_CLAIM:
		/* the creator's claim: owner from the start until a transfer */
		if ((rc = first_after(k, db, CS_SHAREREC_TRANSFER, r->patient, NULL, 0, 1, &end)) <
		    0)
			return rc;
		return put_share(k, db, r->patient, r->practitioner, "owner", 0, end);
	case CS_SHAREREC_GRANT:
		if ((rc = first_after(k, db, CS_SHAREREC_REVOKE, r->patient, r->practitioner,
		         r->hlc, 0, &end)) < 0)
			return rc;
		until = r->until_ms != 0 ? CS_HLC_MAKE(r->until_ms, 0) : 0;
		if (until != 0 && (end == 0 || until < end))
			end = until;
		if ((rc = put_share(k, db, r->patient, r->practitioner, cs_perm_name(r->perm),
		         r->hlc, end)) < 0)
			return rc;
		return queue_backfill(c, r->patient, r->practitioner);
	case CS_SHAREREC_REVOKE:
		return end_shares(k, db, r->patient, r->practitioner, 0, r->hlc);
	case CS_SHAREREC_TRANSFER:
		if ((rc = end_shares(k, db, r->patient, NULL, 1, r->hlc)) < 0)
			return rc;
		if ((rc = first_after(k, db, CS_SHAREREC_TRANSFER, r->patient, NULL, r->hlc, 1,
		         &end)) < 0)
			return rc;
		if ((rc = put_share(k, db, r->patient, r->practitioner, "owner", r->hlc, end)) < 0)
			return rc;
		return queue_backfill(c, r->patient, r->practitioner);
	default:
		return 0; /* NAME: nothing derived */
	}
}

/* May the signer's practitioner sp make r? 1 yes, 0 no (why), CS_EAGAIN undecidable. */
static int
may(struct cs_share_cache *k, sqlite3 *db, const struct cs_sharerec *r, const uint8_t *sp,
    char *why, size_t cap)
{
	uint8_t own[CS_GID_LEN];
	int rc, p;

	switch (r->kind) {
	case CS_SHAREREC_NAME:
		if (memcmp(sp, r->practitioner, CS_GID_LEN) != 0) {
			say(why, cap, "a device named another practitioner");
			return 0;
		}
		return 1;
	case CS_SHAREREC_CLAIM:
		if (memcmp(sp, r->practitioner, CS_GID_LEN) != 0) {
			say(why, cap, "a device claimed a patient for another practitioner");
			return 0;
		}
		if ((rc = claimed(k, db, r->patient, own)) < 0)
			return rc;
		if (rc == 1 && memcmp(own, r->practitioner, CS_GID_LEN) != 0) {
			say(why, cap, "a claim on a patient another practitioner owns");
			return 0;
		}
		return 1;
	default:
		break;
	}
	if ((rc = claimed(k, db, r->patient, NULL)) < 0)
		return rc;
	if (rc == 0)
		return CS_EAGAIN; /* the claim travels first: not here yet */
	if ((rc = owner_at(k, db, r->patient, r->hlc, own)) < 0)
		return rc;
	if (rc == 1 && memcmp(own, sp, CS_GID_LEN) == 0) {
		if (r->kind != CS_SHAREREC_REVOKE &&
		    memcmp(own, r->practitioner, CS_GID_LEN) == 0) {
			say(why, cap, "a share to the patient's own owner");
			return 0;
		}
		return 1; /* the owner may grant, revoke and transfer */
	}
	if ((p = perm_at(k, db, r->patient, sp, r->hlc)) < 0)
		return p;
	if (p == CS_PERM_FULL && r->kind == CS_SHAREREC_GRANT && r->perm <= CS_PERM_WRITE &&
	    !(rc == 1 && memcmp(own, r->practitioner, CS_GID_LEN) == 0))
		return 1; /* full re-shares with at most write */
	if (p == CS_PERM_FULL && r->kind == CS_SHAREREC_REVOKE)
		return 1;
	if (p == CS_PERM_FULL && r->kind == CS_SHAREREC_GRANT)
		say(why, cap, "a 'full' holder may re-share with at most write");
	else if (r->kind == CS_SHAREREC_TRANSFER)
		say(why, cap, "only the owner may transfer a patient");
	else
		say(why, cap, "only the owner or a 'full' holder may share or revoke");
	return 0;
}

static int
remember_bad(struct cs_share_cache *k, sqlite3 *db, const uint8_t *hash, const char *why)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sprep(k, Q_BAD, db,
	         "INSERT OR IGNORE INTO cs_share_bad(hash, why) VALUES(?1, ?2)", &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, hash, CS_SHAREREC_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
	return srun(k, st);
}

/* 1 if hash is in table (cs_share_rec or cs_share_bad), 0 if not. */
static int
known(struct cs_share_cache *k, int id, sqlite3 *db, const char *sql, const uint8_t *hash)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sprep(k, id, db, sql, &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, hash, CS_SHAREREC_HASH_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sdone(k, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sqerr(rc);
}

static int
store(struct cs_share_cache *k, sqlite3 *db, const uint8_t *hash, const uint8_t *buf, size_t len,
    const struct cs_sharerec *r)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sprep(k, Q_STORE, db,
	         "INSERT INTO cs_share_rec(hash, rec, kind, perm, patient, practitioner, hlc, "
	         "until_ms, signer, note, at_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
	         "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, hash, CS_SHAREREC_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, buf, (int)len, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, r->kind);
	sqlite3_bind_int(st, 4, r->perm);
	sqlite3_bind_blob(st, 5, r->patient, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, r->practitioner, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (int64_t)r->hlc);
	sqlite3_bind_int64(st, 8, (int64_t)r->until_ms);
	sqlite3_bind_blob(st, 9, r->signer, CS_DEVID_LEN, SQLITE_STATIC);
	if (r->note_len > 0)
		sqlite3_bind_text(st, 10, r->note, r->note_len, SQLITE_STATIC);
	return srun(k, st);
}

int
cs_share_add(const struct cs_share_ctx *c, const uint8_t *buf, size_t len, struct cs_sharerec *rec,
    char *why, size_t whycap)
{
	struct cs_sharerec r;
	struct cs_share_dev dev;
	uint8_t hash[CS_SHAREREC_HASH_LEN];
	int rc, sp = 0;

	say(why, whycap, "");
	if (c == NULL || c->db == NULL || c->lookup == NULL || buf == NULL)
		return CS_EINVAL;
	if (len == 0 || len > CS_SHAREREC_MAX) {
		say(why, whycap, "not a share record (length)");
		return CS_SHARE_EFORGED; /* not remembered: no hash worth keeping */
	}
	cs_sharerec_hash(buf, len, hash);
	if ((rc = known(c->cache, Q_KNOWN_REC, c->db, "SELECT 1 FROM cs_share_rec WHERE hash=?1",
	         hash)) != 0)
		return rc;
	if ((rc = known(c->cache, Q_KNOWN_BAD, c->db, "SELECT 1 FROM cs_share_bad WHERE hash=?1",
	         hash)) != 0)
		return rc == 1 ? 2 : rc;
	if ((rc = sexec(c->cache, Q_SP, c->db, "SAVEPOINT cs_share")) < 0)
		return rc;
	sp = 1;
	if (cs_sharerec_decode(buf, len, &r) != 0) {
		say(why, whycap, "not a share record (format)");
		rc = CS_SHARE_EFORGED;
		goto refuse;
	}
	if (rec != NULL)
		*rec = r;
	rc = c->lookup(c->cb_ctx, r.signer, &dev);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		say(why, whycap, "signed by a device not in the roster (yet)");
		rc = CS_EAGAIN;
		goto out;
	}
	if (cs_sharerec_verify(&r, dev.sign_pk) != 0) {
		say(why, whycap, "the signature does not verify under the signer's key");
		rc = CS_SHARE_EFORGED;
		goto refuse;
	}
	rc = may(c->cache, c->db, &r, dev.practitioner, why, whycap);
	if (rc == CS_EAGAIN) {
		say(why, whycap, "the patient's claim is not known here yet");
		goto out;
	}
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = CS_SHARE_ENORIGHT;
		goto refuse;
	}
	if ((rc = store(c->cache, c->db, hash, buf, len, &r)) < 0 || (rc = derive(c, &r)) < 0)
		goto out;
	rc = 0;
	goto out;
refuse : {
	int rc2 = remember_bad(c->cache, c->db, hash, why != NULL ? why : "");

	if (rc2 < 0)
		rc = rc2;
}
out:
	if (sp) {
		if (rc < 0 && rc != CS_SHARE_EFORGED && rc != CS_SHARE_ENORIGHT)
			(void)sexec(c->cache, Q_ROLLBACK_TO, c->db, "ROLLBACK TO cs_share");
		(void)sexec(c->cache, Q_RELEASE, c->db, "RELEASE cs_share");
	}
	return rc;
}

int
cs_share_make(const struct cs_share_ctx *c, struct cs_sharerec *r, int64_t now_ms, char *why,
    size_t whycap)
{
	uint8_t buf[CS_SHAREREC_MAX];
	size_t len;
	int rc;

	if (c == NULL || r == NULL || c->sign_sk == NULL)
		return CS_EINVAL;
	r->hlc = cs_share_now_hlc(now_ms);
	memcpy(r->signer, c->device, CS_DEVID_LEN);
	if ((rc = cs_sharerec_sign(r, c->sign_sk, buf, sizeof(buf), &len)) != 0)
		return rc;
	/* a refused record made here is not remembered: the user may fix the cause */
	rc = cs_share_add(c, buf, len, NULL, why, whycap);
	if (rc == 2 || rc == CS_SHARE_ENORIGHT || rc == CS_SHARE_EFORGED) {
		sqlite3_stmt *st = NULL;
		uint8_t hash[CS_SHAREREC_HASH_LEN];

		cs_sharerec_hash(buf, len, hash);
		if (prep(c->db, "DELETE FROM cs_share_bad WHERE hash=?1", &st) == 0) {
			sqlite3_bind_blob(st, 1, hash, CS_SHAREREC_HASH_LEN, SQLITE_STATIC);
			(void)run(st);
		}
		if (rc == 2)
			rc = CS_SHARE_ENORIGHT;
	}
	return rc;
}

static int
meta_get(sqlite3 *db, const char *k, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*v = 0;
	if ((rc = prep(db, "SELECT v FROM cs_share_meta WHERE k=?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqerr(rc);
}

static int
meta_put(sqlite3 *db, const char *k, int64_t v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db, "INSERT OR REPLACE INTO cs_share_meta(k, v) VALUES(?1, ?2)", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	return run(st);
}

/* 1 if a record of kind on patient is stored here, 0 if not, < 0 error. */
static int
known_kind(sqlite3 *db, const uint8_t *patient, int kind)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db, "SELECT 1 FROM cs_share_rec WHERE patient=?1 AND kind=?2 LIMIT 1",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, kind);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sqerr(rc);
}

int
cs_share_claim_new(const struct cs_share_ctx *c, const char *name, int64_t now_ms)
{
	return cs_share_claim_some(c, name, now_ms, 0, NULL);
}

/* A name record has a zero patient (sql/sharerec.c): the (patient, kind) index finds it. */
#define NAME_REC "patient = zeroblob(16) AND kind = 5"

int
cs_share_claim_some(const struct cs_share_ctx *c, const char *name, int64_t now_ms, size_t max,
    int *more)
{
	struct cs_sharerec r;
	sqlite3_stmt *st = NULL;
	uint8_t(*gids)[CS_GID_LEN] = NULL;
	size_t n = 0, cap = 0, i, seen = 0;
	int64_t last = 0, maxv = 0;
	int rc, made = 0;

	if (more != NULL)
		*more = 0;
	if (c == NULL || c->db == NULL || max > INT32_MAX)
		return CS_EINVAL;
	if (name != NULL && name[0] != '\0' && strlen(name) <= CS_SHAREREC_NOTE_MAX) {
		if ((rc = prep(c->db,
		         "SELECT 1 FROM cs_share_rec WHERE " NAME_REC " AND practitioner=?1 AND "
		         "note=?2",
		         &st)) < 0)
			return rc;
		sqlite3_bind_blob(st, 1, c->practitioner, CS_GID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (rc == SQLITE_DONE) {
			memset(&r, 0, sizeof(r));
			r.kind = CS_SHAREREC_NAME;
			memcpy(r.practitioner, c->practitioner, CS_GID_LEN);
			r.note_len = (uint8_t)strlen(name);
			memcpy(r.note, name, r.note_len);
			rc = cs_share_make(c, &r, now_ms, NULL, 0);
			if (rc < 0 && rc != CS_EAGAIN)
				return rc;
			made += rc == 0;
		} else if (rc != SQLITE_ROW) {
			return sqerr(rc);
		}
	}
	if ((rc = meta_get(c->db, "claim_v", &last)) < 0)
		return rc;
	/* patient rows (no scope column: pat NULL) of app tables, alive, unowned */
	if ((rc = prep(c->db,
	         "SELECT i.gid, i.v FROM cs_ids i WHERE i.v > ?1 AND (i.pat IS NULL OR i.pat = "
	         "i.gid) AND "
	         "(i.cl & 1) = 1 AND i.tid NOT IN (SELECT tid FROM cs_tables WHERE "
	         "substr(name, 1, 3) = 'cs_') AND NOT EXISTS (SELECT 1 FROM cs_shares s WHERE "
	         "s.patient = i.gid AND s.perm = 'owner') ORDER BY i.v LIMIT ?2",
	         &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, last);
	sqlite3_bind_int64(st, 2, max > 0 ? (int64_t)max : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		seen++;
		maxv = sqlite3_column_int64(st, 1);
		if (sqlite3_column_bytes(st, 0) != CS_GID_LEN)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			void *p = cs_realloc(gids, nc * sizeof(*gids));

			if (p == NULL) {
				rc = CS_ENOMEM;
				goto out;
			}
			gids = p;
			cap = nc;
		}
		memcpy(gids[n++], sqlite3_column_blob(st, 0), CS_GID_LEN);
	}
	if (rc != SQLITE_DONE) {
		rc = sqerr(rc);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.kind = CS_SHAREREC_CLAIM;
		memcpy(r.patient, gids[i], CS_GID_LEN);
		memcpy(r.practitioner, c->practitioner, CS_GID_LEN);
		rc = cs_share_make(c, &r, now_ms, NULL, 0);
		if (rc < 0 && rc != CS_SHARE_ENORIGHT)
			goto out;
		made += rc == 0;
	}
	/* the scan position: the engine's db_version only grows */
	if (max > 0 && seen == max) {
		/* a full run: rows of the last one's db_version may remain (a
		 * later run skips the claimed ones: owned) */
		if (more != NULL)
			*more = 1;
		if (maxv - 1 > last && (rc = meta_put(c->db, "claim_v", maxv - 1)) < 0)
			goto out;
	} else {
		int64_t v = 0;

		if ((rc = prep(c->db, "SELECT " CS_ENG_SQL_DBV, &st)) < 0)
			goto out;
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
		if (v < maxv)
			v = maxv;
		if (v > last && (rc = meta_put(c->db, "claim_v", v)) < 0)
			goto out;
	}
	rc = made;
out:
	sqlite3_finalize(st);
	cs_free(gids);
	return rc;
}

int
cs_share_has_transfer(sqlite3 *db, const uint8_t patient[static CS_GID_LEN])
{
	return known_kind(db, patient, CS_SHAREREC_TRANSFER);
}

int
cs_share_claim_needed(sqlite3 *db, const uint8_t prac[static CS_GID_LEN], const char *name)
{
	sqlite3_stmt *st = NULL;
	int64_t last = 0;
	int rc;

	if ((rc = meta_get(db, "claim_v", &last)) < 0)
		return rc;
	if ((rc = prep(db,
	         "SELECT " CS_ENG_SQL_DBV " > ?1 OR (?3 IS NOT NULL AND NOT EXISTS (SELECT 1 "
	         "FROM cs_share_rec WHERE " NAME_REC " AND practitioner = ?2 AND note = ?3))",
	         &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, last);
	sqlite3_bind_blob(st, 2, prac, CS_GID_LEN, SQLITE_STATIC);
	if (name != NULL && name[0] != '\0' && strlen(name) <= CS_SHAREREC_NOTE_MAX)
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : sqerr(rc);
	sqlite3_finalize(st);
	return rc;
}

int
cs_share_claim_pos(sqlite3 *db, uint64_t *pos)
{
	int64_t v = 0;
	int rc = meta_get(db, "claim_v", &v);

	*pos = rc == 0 && v > 0 ? (uint64_t)v : 0;
	return rc;
}

int
cs_share_records_after(sqlite3 *db, int64_t after, size_t max, cs_share_rec_cb cb, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	if (db == NULL || cb == NULL || max == 0 || max > INT32_MAX)
		return CS_EINVAL;
	if ((rc = prep(db, "SELECT seq, rec FROM cs_share_rec WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	         &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int r = cb(ctx, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1));

		if (r != 0) {
			sqlite3_finalize(st);
			return r;
		}
		n++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : sqerr(rc);
}

int
cs_share_list(sqlite3 *db, const uint8_t *patient, cs_share_row_cb cb, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (db == NULL || cb == NULL)
		return CS_EINVAL;
	if ((rc = prep(db,
	         "SELECT s.patient, s.practitioner, s.perm, s.grant_hlc, s.revoke_hlc, "
	         "(SELECT i.pk FROM cs_ids i WHERE i.gid = s.patient), (SELECT r.note FROM "
	         "cs_share_rec r WHERE r.kind = 2 AND r.patient = s.patient AND r.practitioner = "
	         "s.practitioner AND r.hlc = s.grant_hlc) FROM cs_shares s WHERE ?1 IS NULL OR "
	         "s.patient = ?1 ORDER BY s.patient, s.grant_hlc, s.practitioner",
	         &st)) < 0)
		return rc;
	if (patient != NULL)
		sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cs_share_row r;
		int x;

		if (sqlite3_column_bytes(st, 0) != CS_GID_LEN ||
		    sqlite3_column_bytes(st, 1) != CS_GID_LEN)
			continue;
		memset(&r, 0, sizeof(r));
		r.patient = sqlite3_column_blob(st, 0);
		r.practitioner = sqlite3_column_blob(st, 1);
		r.perm = (const char *)sqlite3_column_text(st, 2);
		r.grant_hlc = (uint64_t)sqlite3_column_int64(st, 3);
		r.has_end = sqlite3_column_type(st, 4) != SQLITE_NULL;
		r.end_hlc = (uint64_t)sqlite3_column_int64(st, 4);
		r.patient_local = (const char *)sqlite3_column_text(st, 5);
		r.note = (const char *)sqlite3_column_text(st, 6);
		if ((x = cb(ctx, &r)) != 0) {
			sqlite3_finalize(st);
			return x;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqerr(rc);
}

int
cs_share_names(sqlite3 *db, cs_share_name_cb cb, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (db == NULL || cb == NULL)
		return CS_EINVAL;
	/* SQLite: the bare column comes from the row of max() */
	if ((rc = prep(db,
	         "SELECT practitioner, note, max(hlc) FROM cs_share_rec WHERE kind = 5 "
	         "GROUP BY practitioner ORDER BY note",
	         &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int x;

		if (sqlite3_column_bytes(st, 0) != CS_GID_LEN)
			continue;
		if ((x = cb(ctx, sqlite3_column_blob(st, 0),
		         (const char *)sqlite3_column_text(st, 1))) != 0) {
			sqlite3_finalize(st);
			return x;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqerr(rc);
}

int
cs_share_names_one(sqlite3 *db, const uint8_t prac[static CS_GID_LEN], char *out, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db,
	         "SELECT note FROM cs_share_rec WHERE " NAME_REC " AND practitioner = ?1 "
	         "ORDER BY hlc DESC LIMIT 1",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, prac, CS_GID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL) {
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = 0;
	} else {
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? CS_ENOENT : sqerr(rc);
	}
	sqlite3_finalize(st);
	return rc;
}

struct byname {
	const char *name;
	uint8_t *out;
	int found;
};

static int
byname_cb(void *ctx, const uint8_t prac[CS_GID_LEN], const char *name)
{
	struct byname *b = ctx;

	if (name == NULL || strcmp(name, b->name) != 0)
		return 0;
	if (b->found && memcmp(b->out, prac, CS_GID_LEN) != 0)
		return CS_EEXIST;
	memcpy(b->out, prac, CS_GID_LEN);
	b->found = 1;
	return 0;
}

int
cs_share_prac_by_name(sqlite3 *db, const char *name, uint8_t out[static CS_GID_LEN])
{
	struct byname b = {name, out, 0};
	int rc = cs_share_names(db, byname_cb, &b);

	if (rc < 0)
		return rc;
	return b.found ? 0 : CS_ENOENT;
}

/* An SQL identifier, double-quoted. */
static int
ident(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	if (cap < 3)
		return CS_ERANGE;
	out[o++] = '"';
	for (; *s != '\0'; s++) {
		if (cap - o < 4)
			return CS_ERANGE;
		if (*s == '"')
			out[o++] = '"';
		out[o++] = *s;
	}
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

#define RO_MSG "'cabsync: patient shared read-only: this change is refused'"
#define RO_COND                                                                                    \
	"NOT EXISTS (SELECT 1 FROM cs_apply) AND EXISTS (SELECT 1 FROM cs_ids i JOIN "             \
	"cs_readonly r ON r.patient = i.gid WHERE i.tid = %d AND i.pk IN (%s))"

static int
ro_trigger(sqlite3 *db, int tid, const char *what, const char *event, const char *tab, int ptid,
    const char *keys)
{
	char sql[1024], cond[512];
	int n;

	n = snprintf(cond, sizeof(cond), RO_COND, ptid, keys);
	if (n < 0 || (size_t)n >= sizeof(cond))
		return CS_ERANGE;
	n = snprintf(sql, sizeof(sql),
	    "CREATE TRIGGER IF NOT EXISTS cs_ro_%d_%s BEFORE %s ON %s WHEN %s BEGIN SELECT "
	    "RAISE(ABORT, " RO_MSG "); END",
	    tid, what, event, tab, cond);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return CS_ERANGE;
	n = sqlite3_exec(db, sql, NULL, NULL, NULL);
	return n == SQLITE_OK ? 0 : sqerr(n);
}

/* The number of cs_ro_ triggers in the schema. */
static int
ro_count(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db,
	         "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
	         "substr(name, 1, 6) = 'cs_ro_'",
	         &st)) < 0)
		return rc;
	rc =
	    sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : sqerr(sqlite3_errcode(db));
	sqlite3_finalize(st);
	return rc;
}

static int
ro_triggers(struct cs_engine *e)
{
	sqlite3 *db = cs_engine_handle(e);
	struct cs_engine_table t;
	char tab[300], col[300], k1[400], k2[700];
	int i, rc, ptid = -1, want = 0;

	for (i = 0; cs_engine_table_info(e, i, &t) == 0; i++) {
		if (t.patient_table && !t.internal)
			ptid = t.tid;
		if (!t.internal)
			want += t.patient_table ? 2 : t.scope_col != NULL ? 3 : 0;
	}
	if (ptid < 0)
		return 0;
	/* all there (the usual case): no write, no WAL growth */
	if ((rc = ro_count(db)) < 0 || rc == want)
		return rc < 0 ? rc : 0;
	for (i = 0; (rc = cs_engine_table_info(e, i, &t)) == 0; i++) {
		if (t.internal)
			continue;
		if ((rc = ident(tab, sizeof(tab), t.name)) < 0)
			return rc;
		if (t.patient_table) {
			if ((rc = ident(col, sizeof(col), t.pk)) < 0)
				return rc;
			snprintf(k1, sizeof(k1), "+OLD.%s", col);
			if ((rc = ro_trigger(db, t.tid, "u", "UPDATE", tab, ptid, k1)) < 0 ||
			    (rc = ro_trigger(db, t.tid, "d", "DELETE", tab, ptid, k1)) < 0)
				return rc;
		} else if (t.scope_col != NULL) {
			if ((rc = ident(col, sizeof(col), t.scope_col)) < 0)
				return rc;
			snprintf(k1, sizeof(k1), "+NEW.%s", col);
			snprintf(k2, sizeof(k2), "+OLD.%s, +NEW.%s", col, col);
			if ((rc = ro_trigger(db, t.tid, "i", "INSERT", tab, ptid, k1)) < 0 ||
			    (rc = ro_trigger(db, t.tid, "u", "UPDATE", tab, ptid, k2)) < 0)
				return rc;
			snprintf(k1, sizeof(k1), "+OLD.%s", col);
			if ((rc = ro_trigger(db, t.tid, "d", "DELETE", tab, ptid, k1)) < 0)
				return rc;
		}
	}
	return rc == CS_ENOENT ? 0 : rc;
}

/* The patients ?1 may only read at ?3 (?2 a dummy 0). */
/*
 * Read-only here: a patient shared with ?1 'read' and nothing more, and one
 * whose rights ended (revoke, --until, transfer) and whose copy is not
 * purged yet (the purge waits for the owner's acknowledgement, or ten
 * minutes): nothing the app writes to it could be valid any more.
 */
#define RO_SET                                                                                     \
	"SELECT patient FROM (SELECT patient FROM cs_shares s WHERE practitioner = ?1 AND perm = " \
	"'read' AND ?2 = ?2 AND " IN_FORCE " AND NOT EXISTS (SELECT 1 FROM cs_shares w WHERE "     \
	"w.patient = s.patient AND w.practitioner = ?1 AND w.perm != 'read' AND w.grant_hlc <= "   \
	"?3 AND (w.revoke_hlc IS NULL OR w.revoke_hlc > ?3)) UNION SELECT patient FROM cs_shares " \
	"s WHERE practitioner = ?1 AND revoke_hlc IS NOT NULL AND revoke_hlc <= ?3 AND NOT "       \
	"EXISTS (SELECT 1 FROM cs_shares w WHERE w.patient = s.patient AND w.practitioner = ?1 "   \
	"AND w.perm != 'read' AND w.grant_hlc <= ?3 AND (w.revoke_hlc IS NULL OR w.revoke_hlc > "  \
	"?3)) AND revoke_hlc > coalesce((SELECT p.end_hlc FROM cs_share_purged p WHERE "           \
	"p.patient = s.patient), 0))"

int
cs_share_readonly(struct cs_engine *e, const uint8_t prac[static CS_GID_LEN], uint64_t now_hlc)
{
	sqlite3 *db = cs_engine_handle(e);
	sqlite3_stmt *st = NULL;
	int rc, n;

	if (sqlite3_exec(db, "SAVEPOINT cs_ro", NULL, NULL, NULL) != SQLITE_OK)
		return sqerr(sqlite3_errcode(db));
	if ((rc = ro_triggers(e)) < 0)
		goto out;
	/* rewritten only when the set changed: the tick must not write */
	if ((rc = prep(db,
	         "SELECT (SELECT count(*) FROM (" RO_SET
	         " EXCEPT SELECT patient FROM cs_readonly)) "
	         "+ (SELECT count(*) FROM (SELECT patient FROM cs_readonly EXCEPT " RO_SET "))",
	         &st)) < 0)
		goto out;
	sqlite3_bind_blob(st, 1, prac, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, 0);
	sqlite3_bind_int64(st, 3, (int64_t)now_hlc);
	rc = sqlite3_step(st);
	n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	st = NULL;
	if (n < 0) {
		rc = sqerr(rc);
		goto out;
	}
	if (n == 0) {
		rc = 0;
		goto out;
	}
	if (sqlite3_exec(db, "DELETE FROM cs_readonly", NULL, NULL, NULL) != SQLITE_OK) {
		rc = sqerr(sqlite3_errcode(db));
		goto out;
	}
	if ((rc = prep(db, "INSERT OR IGNORE INTO cs_readonly(patient) " RO_SET, &st)) < 0)
		goto out;
	sqlite3_bind_blob(st, 1, prac, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, 0);
	sqlite3_bind_int64(st, 3, (int64_t)now_hlc);
	if ((rc = run(st)) < 0)
		goto out;
	rc = sqlite3_changes(db);
out:
	if (rc < 0)
		sqlite3_exec(db, "ROLLBACK TO cs_ro", NULL, NULL, NULL);
	sqlite3_exec(db, "RELEASE cs_ro", NULL, NULL, NULL);
	return rc;
}

int
cs_share_readonly_drop(sqlite3 *db, const uint8_t patient[static CS_GID_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db, "DELETE FROM cs_readonly WHERE patient=?1", &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	return run(st);
}

int
cs_share_todo_next(sqlite3 *db, const uint8_t peer[static CS_DEVID_LEN],
    uint8_t patient[static CS_GID_LEN], uint64_t *after)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db, "SELECT patient, after FROM cs_share_todo WHERE peer=?1 LIMIT 1", &st)) <
	    0)
		return rc;
	sqlite3_bind_blob(st, 1, peer, CS_DEVID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CS_GID_LEN) {
		memcpy(patient, sqlite3_column_blob(st, 0), CS_GID_LEN);
		*after = (uint64_t)sqlite3_column_int64(st, 1);
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqerr(rc);
	}
	sqlite3_finalize(st);
	return rc;
}

int
cs_share_todo_rearm(sqlite3 *db, const uint8_t peer[static CS_DEVID_LEN],
    const uint8_t prac[static CS_GID_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db,
	         "INSERT OR REPLACE INTO cs_share_todo(peer, patient, after) SELECT DISTINCT ?1, "
	         "patient, 0 FROM cs_shares WHERE practitioner = ?2 AND perm != 'owner' AND "
	         "revoke_hlc IS NULL",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, peer, CS_DEVID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, prac, CS_GID_LEN, SQLITE_STATIC);
	return run(st);
}

int
cs_share_todo_add(sqlite3 *db, const uint8_t peer[static CS_DEVID_LEN],
    const uint8_t patient[static CS_GID_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db,
	         "INSERT OR REPLACE INTO cs_share_todo(peer, patient, after) VALUES(?1, ?2, 0)",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, peer, CS_DEVID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, patient, CS_GID_LEN, SQLITE_STATIC);
	return run(st);
}

int
cs_share_todo_set(sqlite3 *db, const uint8_t peer[static CS_DEVID_LEN],
    const uint8_t patient[static CS_GID_LEN], uint64_t after, int more)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db,
	         more ? "UPDATE cs_share_todo SET after=?3 WHERE peer=?1 AND patient=?2"
	              : "DELETE FROM cs_share_todo WHERE peer=?1 AND patient=?2 AND ?3=?3",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, peer, CS_DEVID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, patient, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)after);
	return run(st);
}

int
cs_share_ended(sqlite3 *db, const uint8_t prac[static CS_GID_LEN], uint64_t now_hlc,
    cs_share_ended_cb cb, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db,
	         "SELECT s.patient, max(s.revoke_hlc) AS e, (SELECT coalesce(max(i.v), 0) FROM "
	         "cs_ids i WHERE coalesce(i.pat, i.gid) = s.patient) FROM cs_shares s WHERE "
	         "s.practitioner = ?1 AND ?2 = ?2 AND s.revoke_hlc IS NOT NULL AND s.revoke_hlc "
	         "<= ?3 AND NOT EXISTS (SELECT 1 FROM cs_shares w WHERE w.patient = s.patient AND "
	         "w.practitioner = ?1 AND (w.revoke_hlc IS NULL OR w.revoke_hlc > ?3)) GROUP BY "
	         "s.patient HAVING e > coalesce((SELECT p.end_hlc FROM cs_share_purged p WHERE "
	         "p.patient = s.patient), 0) OR EXISTS (SELECT 1 FROM cs_ids i WHERE "
	         "coalesce(i.pat, i.gid) = s.patient)",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, prac, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, 0);
	sqlite3_bind_int64(st, 3, (int64_t)now_hlc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int x;

		if (sqlite3_column_bytes(st, 0) != CS_GID_LEN)
			continue;
		x = cb(ctx, sqlite3_column_blob(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
		    (uint64_t)sqlite3_column_int64(st, 2));
		if (x != 0) {
			sqlite3_finalize(st);
			return x;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqerr(rc);
}

int
cs_share_mark_purged(sqlite3 *db, const uint8_t patient[static CS_GID_LEN], uint64_t end_hlc)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(db,
	         "INSERT OR REPLACE INTO cs_share_purged(patient, end_hlc) VALUES(?1, ?2)", &st)) <
	    0)
		return rc;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)end_hlc);
	return run(st);
}

int
cs_share_peer_acked(sqlite3 *db, const uint8_t peer[CS_DEVID_LEN], int64_t *seq)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*seq = 0;
	if ((rc = prep(db, "SELECT acked FROM cs_share_peer WHERE peer=?1", &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, peer, CS_DEVID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
		*seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqerr(rc);
}

int
cs_share_peer_ack(sqlite3 *db, const uint8_t peer[CS_DEVID_LEN], int64_t seq)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (seq <= 0)
		return 0;
	if ((rc = prep(db,
	         "INSERT INTO cs_share_peer(peer, acked) VALUES(?1, ?2) ON CONFLICT(peer) "
	         "DO UPDATE SET acked=max(acked, excluded.acked)",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, peer, CS_DEVID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	return run(st);
}
