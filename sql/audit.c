/*
 * sql/audit.c: the hash-chained, signed audit trail (see audit.h).
 */
#include "sql/audit.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"

/*
 * Domain strings: a row hash, a row signature and a head signature can never
 * be mistaken for one another, nor for anything else the device key signs.
 */
static const char row_domain[] = "cabsync-audit-row-v1";
static const char genesis_domain[] = "cabsync-audit-genesis-v1";
static const char rowsig_domain[] = "cabsync-audit-rowsig-v1";
static const char headsig_domain[] = "cabsync-audit-head-v1";

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS cs_audit(id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, "
    " action INTEGER NOT NULL, device BLOB, practitioner BLOB, patient BLOB, "
    " patient_local TEXT, count INTEGER NOT NULL DEFAULT 0, detail TEXT, "
    " prev BLOB NOT NULL, hash BLOB NOT NULL, sig BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS cs_audit_pat ON cs_audit(patient_local);"
    "CREATE TABLE IF NOT EXISTS cs_audit_heads(device BLOB NOT NULL, src BLOB NOT NULL, "
    " count INTEGER NOT NULL, hash BLOB NOT NULL, at_ms INTEGER NOT NULL, sig BLOB NOT NULL, "
    " received_ms INTEGER NOT NULL, PRIMARY KEY(device, src)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS cs_audit_no_update BEFORE UPDATE ON cs_audit "
    " BEGIN SELECT RAISE(ABORT, 'cs_audit is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS cs_audit_no_delete BEFORE DELETE ON cs_audit "
    " BEGIN SELECT RAISE(ABORT, 'cs_audit is append-only'); END;"
    /* INSERT OR REPLACE deletes the old row without firing delete triggers
     * (recursive_triggers is off by default): refuse any id already used */
    "CREATE TRIGGER IF NOT EXISTS cs_audit_no_replace BEFORE INSERT ON cs_audit "
    " WHEN NEW.id <= (SELECT max(id) FROM cs_audit) "
    " BEGIN SELECT RAISE(ABORT, 'cs_audit is append-only'); END;";

#define ROW_COLS                                                                                   \
	"id, at_ms, action, device, practitioner, patient, patient_local, count, detail, prev, "   \
	"hash, sig"

const char *
cs_audit_strerror(int err)
{
	switch (err) {
	case CS_AUDIT_EHEAD:
		return "malformed signed audit head";
	case CS_AUDIT_ESIG:
		return "audit head signature does not verify";
	case CS_AUDIT_EFORK:
		return "audit head contradicts the one kept: the trail was truncated or rewritten";
	case CS_AUDIT_ESQLITE:
		return "audit: an SQLite call failed";
	default:
		return cs_strerror(err);
	}
}

static int
sqerr(int rc)
{
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return CS_EBUSY;
	if (rc == SQLITE_NOMEM)
		return CS_ENOMEM;
	if (rc == SQLITE_FULL)
		return CS_ENOSPC;
	return CS_AUDIT_ESQLITE;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
be64(uint8_t *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)u;
		u >>= 8;
	}
}

static int64_t
get_be64(const uint8_t *p)
{
	uint64_t u = 0;
	int i;

	for (i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)u;
}

int
cs_audit_open(const char *path, sqlite3 **out)
{
	sqlite3 *db = NULL;
	int rc;

	if (path == NULL || out == NULL)
		return CS_EINVAL;
	*out = NULL;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_close(db);
		return rc == SQLITE_CANTOPEN ? CS_ENOENT : sqerr(rc);
	}
	sqlite3_busy_timeout(db, 5000);
	*out = db;
	return 0;
}

void
cs_audit_close(sqlite3 *db)
{
	sqlite3_close(db);
}

static int
table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	int n = 0;

	if (sqlite3_prepare_v2(db,
	        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1", -1, &st,
	        NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return n > 0;
}

int
cs_audit_install(sqlite3 *db)
{
	int rc;

	if (db == NULL)
		return CS_EINVAL;
	rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sqerr(rc);
}

/* The prev of row 1: binds the trail to the device that signs it. */
static void
genesis(const uint8_t device[static CS_DEVID_LEN], uint8_t out[static CS_AUDIT_HASH_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, CS_AUDIT_HASH_LEN);
	crypto_generichash_update(&st, (const uint8_t *)genesis_domain, sizeof(genesis_domain));
	crypto_generichash_update(&st, device, CS_DEVID_LEN);
	crypto_generichash_final(&st, out, CS_AUDIT_HASH_LEN);
}

/* One optional field: a presence byte, a 4-byte length, the bytes. */
static void
hash_field(crypto_generichash_state *st, const void *p, size_t n)
{
	uint8_t hdr[5] = {0};

	if (p != NULL) {
		hdr[0] = 1;
		hdr[1] = (uint8_t)(n >> 24);
		hdr[2] = (uint8_t)(n >> 16);
		hdr[3] = (uint8_t)(n >> 8);
		hdr[4] = (uint8_t)n;
	}
	crypto_generichash_update(st, hdr, sizeof(hdr));
	if (p != NULL && n > 0)
		crypto_generichash_update(st, p, n);
}

/* A row's fields as stored (blob lengths as stored, so an edit of a length shows). */
struct rowv {
	int64_t id, at_ms, action, count;
	const void *device, *practitioner, *patient, *local, *detail;
	size_t ndevice, npractitioner, npatient, nlocal, ndetail;
	const uint8_t *prev;
};

/* The canonical encoding of a row, hashed (docs/SECURITY.md "Audit trail"). */
static void
row_hash(const struct rowv *r, uint8_t out[static CS_AUDIT_HASH_LEN])
{
	crypto_generichash_state st;
	uint8_t n[8];

	crypto_generichash_init(&st, NULL, 0, CS_AUDIT_HASH_LEN);
	crypto_generichash_update(&st, (const uint8_t *)row_domain, sizeof(row_domain));
	be64(n, r->id);
	crypto_generichash_update(&st, n, 8);
	be64(n, r->at_ms);
	crypto_generichash_update(&st, n, 8);
	be64(n, r->action);
	crypto_generichash_update(&st, n, 8);
	hash_field(&st, r->device, r->ndevice);
	hash_field(&st, r->practitioner, r->npractitioner);
	hash_field(&st, r->patient, r->npatient);
	hash_field(&st, r->local, r->nlocal);
	be64(n, r->count);
	crypto_generichash_update(&st, n, 8);
	hash_field(&st, r->detail, r->ndetail);
	crypto_generichash_update(&st, r->prev, CS_AUDIT_HASH_LEN);
	crypto_generichash_final(&st, out, CS_AUDIT_HASH_LEN);
}

static void
rowsig_msg(const uint8_t hash[static CS_AUDIT_HASH_LEN], uint8_t *msg)
{
	memcpy(msg, rowsig_domain, sizeof(rowsig_domain));
	memcpy(msg + sizeof(rowsig_domain), hash, CS_AUDIT_HASH_LEN);
}

#define ROWSIG_MSG_LEN  (sizeof(rowsig_domain) + CS_AUDIT_HASH_LEN)
#define HEADSIG_MSG_LEN (sizeof(headsig_domain) + CS_DEVID_LEN + 8 + CS_AUDIT_HASH_LEN + 8)

static void
headsig_msg(const struct cs_audit_head *h, uint8_t *msg)
{
	size_t o = 0;

	memcpy(msg, headsig_domain, sizeof(headsig_domain));
	o += sizeof(headsig_domain);
	memcpy(msg + o, h->device, CS_DEVID_LEN);
	o += CS_DEVID_LEN;
	be64(msg + o, h->count);
	o += 8;
	memcpy(msg + o, h->hash, CS_AUDIT_HASH_LEN);
	o += CS_AUDIT_HASH_LEN;
	be64(msg + o, h->at_ms);
}

/* The patient's local id (the app's pk) from the engine's mapping, or NULL. */
static char *
local_id(sqlite3 *db, const uint8_t *patient)
{
	sqlite3_stmt *st = NULL;
	char *out = NULL;
	const unsigned char *t;
	int n;

	if (patient == NULL)
		return NULL;
	/* no cs_ids (engine not installed): the id stays unknown */
	if (sqlite3_prepare_v2(db, "SELECT CAST(pk AS TEXT) FROM cs_ids WHERE gid=?1", -1, &st,
	        NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, patient, CS_GID_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && (t = sqlite3_column_text(st, 0)) != NULL) {
		n = sqlite3_column_bytes(st, 0);
		if ((out = cs_malloc((size_t)n + 1)) != NULL) {
			memcpy(out, t, (size_t)n);
			out[n] = '\0';
		}
	}
out:
	sqlite3_finalize(st);
	return out;
}

int
cs_audit_patient_gid(sqlite3 *db, const char *local, uint8_t gid[static CS_GID_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (db == NULL || local == NULL)
		return CS_EINVAL;
	if (!table_exists(db, "cs_ids"))
		return CS_ENOENT;
	/* a patient row scopes itself (pat NULL or its own gid); a CLI look-up: a scan is fine */
	rc = sqlite3_prepare_v2(db,
	    "SELECT gid FROM cs_ids WHERE (pat IS NULL OR pat=gid) AND pk IS NOT NULL "
	    "AND CAST(pk AS TEXT)=?1 "
	    "LIMIT 1",
	    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	sqlite3_bind_text(st, 1, local, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CS_GID_LEN) {
		memcpy(gid, sqlite3_column_blob(st, 0), CS_GID_LEN);
		rc = 0;
	} else {
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? CS_ENOENT : sqerr(rc);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Last row id and its stored hash (or 0 and the genesis). */
static int
last_row(sqlite3 *db, const uint8_t device[static CS_DEVID_LEN], int64_t *id,
    uint8_t hash[static CS_AUDIT_HASH_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT id, hash FROM cs_audit ORDER BY id DESC LIMIT 1", -1,
	    &st, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == CS_AUDIT_HASH_LEN) {
		*id = sqlite3_column_int64(st, 0);
		memcpy(hash, sqlite3_column_blob(st, 1), CS_AUDIT_HASH_LEN);
		rc = 0;
	} else if (rc == SQLITE_ROW) {
		rc = CS_AUDIT_ESQLITE; /* a stored hash of the wrong size: verify says where */
	} else if (rc == SQLITE_DONE) {
		*id = 0;
		genesis(device, hash);
		rc = 0;
	} else {
		rc = sqerr(rc);
	}
	sqlite3_finalize(st);
	return rc;
}

static int
append_one(sqlite3 *db, const struct cs_audit_self *self, const struct cs_audit_event *ev,
    const uint8_t *practitioner, int64_t *id_out)
{
	sqlite3_stmt *st = NULL;
	struct rowv r = {0};
	uint8_t prev[CS_AUDIT_HASH_LEN], hash[CS_AUDIT_HASH_LEN], sig[CS_AUDIT_SIG_LEN];
	uint8_t msg[ROWSIG_MSG_LEN];
	char *loc = NULL;
	int64_t last;
	int rc;

	if ((rc = last_row(db, self->device, &last, prev)) < 0)
		return rc;
	loc = local_id(db, ev->patient);
	r.id = last + 1;
	r.at_ms = ev->at_ms != 0 ? ev->at_ms : wall_ms();
	r.action = ev->action;
	r.count = ev->count;
	r.device = ev->device != NULL ? ev->device : self->device;
	r.ndevice = CS_DEVID_LEN;
	if (practitioner == NULL && ev->device == NULL)
		practitioner = self->practitioner;
	r.practitioner = practitioner;
	r.npractitioner = practitioner != NULL ? CS_GID_LEN : 0;
	r.patient = ev->patient;
	r.npatient = ev->patient != NULL ? CS_GID_LEN : 0;
	r.local = loc;
	r.nlocal = loc != NULL ? strlen(loc) : 0;
	r.detail = ev->detail;
	r.ndetail = ev->detail != NULL ? strnlen(ev->detail, CS_AUDIT_DETAIL_MAX) : 0;
	r.prev = prev;
	row_hash(&r, hash);
	rowsig_msg(hash, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), self->sign_sk);

	rc = sqlite3_prepare_v2(db,
	    "INSERT INTO cs_audit(" ROW_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)", -1,
	    &st, NULL);
	if (rc != SQLITE_OK) {
		rc = sqerr(rc);
		goto out;
	}
	sqlite3_bind_int64(st, 1, r.id);
	sqlite3_bind_int64(st, 2, r.at_ms);
	sqlite3_bind_int64(st, 3, r.action);
	sqlite3_bind_blob(st, 4, r.device, (int)r.ndevice, SQLITE_STATIC);
	if (r.practitioner != NULL)
		sqlite3_bind_blob(st, 5, r.practitioner, (int)r.npractitioner, SQLITE_STATIC);
	if (r.patient != NULL)
		sqlite3_bind_blob(st, 6, r.patient, (int)r.npatient, SQLITE_STATIC);
	if (loc != NULL)
		sqlite3_bind_text(st, 7, loc, (int)r.nlocal, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, r.count);
	if (r.detail != NULL)
		sqlite3_bind_text(st, 9, r.detail, (int)r.ndetail, SQLITE_STATIC);
	sqlite3_bind_blob(st, 10, prev, CS_AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 11, hash, CS_AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 12, sig, CS_AUDIT_SIG_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : sqerr(rc);
	if (rc == 0 && id_out != NULL)
		*id_out = r.id;
out:
	sqlite3_finalize(st);
	cs_free(loc);
	return rc;
}

/*
 * Outside a transaction, BEGIN IMMEDIATE: two writers (the agent and a
 * `cabsync audit add`) read the last row and append after it, so the write
 * lock is taken before the read (a deferred transaction could not upgrade
 * in WAL mode and would fail SQLITE_BUSY_SNAPSHOT). Inside the caller's
 * transaction, a savepoint.
 */
static int
sp_begin(sqlite3 *db)
{
	int rc;

	if (sqlite3_get_autocommit(db))
		rc =
		    sqlite3_exec(db, "BEGIN IMMEDIATE; SAVEPOINT cs_audit_outer", NULL, NULL, NULL);
	else
		rc = sqlite3_exec(db, "SAVEPOINT cs_audit", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sqerr(rc);
}

static int
sp_end(sqlite3 *db, int rc)
{
	int r, outer;

	/* the savepoint's name says who opened the transaction */
	outer = sqlite3_exec(db, "RELEASE cs_audit_outer", NULL, NULL, NULL) == SQLITE_OK;
	if (!outer && rc == 0) {
		r = sqlite3_exec(db, "RELEASE cs_audit", NULL, NULL, NULL);
		if (r == SQLITE_OK)
			return 0;
		rc = sqerr(r);
	}
	if (outer) {
		r = rc == 0 ? sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) : SQLITE_OK;
		if (rc == 0 && r == SQLITE_OK)
			return 0;
		if (rc == 0)
			rc = sqerr(r);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	sqlite3_exec(db, "ROLLBACK TO cs_audit", NULL, NULL, NULL);
	sqlite3_exec(db, "RELEASE cs_audit", NULL, NULL, NULL);
	return rc;
}

int
cs_audit_append(sqlite3 *db, const struct cs_audit_self *self, const struct cs_audit_event *ev,
    const uint8_t *practitioner, int64_t *id_out)
{
	int rc;

	if (db == NULL || self == NULL || self->sign_sk == NULL || ev == NULL)
		return CS_EINVAL;
	if ((rc = sp_begin(db)) < 0)
		return rc;
	rc = append_one(db, self, ev, practitioner, id_out);
	return sp_end(db, rc);
}

/* ---- coalescing ---- */

void
cs_audit_acc_init(struct cs_audit_acc *acc, const uint8_t *peer, const uint8_t *peer_practitioner)
{
	memset(acc, 0, sizeof(*acc));
	if (peer != NULL)
		memcpy(acc->peer, peer, CS_DEVID_LEN);
	if (peer_practitioner != NULL) {
		memcpy(acc->peer_practitioner, peer_practitioner, CS_GID_LEN);
		acc->has_practitioner = 1;
	}
}

int
cs_audit_acc_add(struct cs_audit_acc *acc, const uint8_t patient[static CS_GID_LEN],
    enum cs_audit_action dir, int64_t n)
{
	struct cs_audit_acc_ent *e = NULL, *ne;
	size_t i, cap;

	if (acc == NULL || (dir != CS_AUDIT_SYNC_IN && dir != CS_AUDIT_SYNC_OUT) || n < 0)
		return CS_EINVAL;
	/* a session touches few patients; the last one is the likely one */
	for (i = acc->n; i > 0; i--)
		if (memcmp(acc->ent[i - 1].patient, patient, CS_GID_LEN) == 0) {
			e = &acc->ent[i - 1];
			break;
		}
	if (e == NULL) {
		if (acc->n == acc->cap) {
			cap = acc->cap != 0 ? acc->cap * 2 : 8;
			if ((ne = cs_realloc(acc->ent, cap * sizeof(*ne))) == NULL)
				return CS_ENOMEM;
			acc->ent = ne;
			acc->cap = cap;
		}
		e = &acc->ent[acc->n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->patient, patient, CS_GID_LEN);
	}
	if (dir == CS_AUDIT_SYNC_IN)
		e->in += n;
	else
		e->out += n;
	return 0;
}

int
cs_audit_acc_flush(struct cs_audit_acc *acc, sqlite3 *db, const struct cs_audit_self *self,
    int64_t at_ms)
{
	struct cs_audit_event ev = {0};
	const uint8_t *pr;
	size_t i, end;
	int rc = 0, d, own;

	if (acc == NULL || db == NULL || self == NULL || self->sign_sk == NULL)
		return CS_EINVAL;
	ev.at_ms = at_ms != 0 ? at_ms : wall_ms();
	ev.device = acc->peer;
	pr = acc->has_practitioner ? acc->peer_practitioner : NULL;
	/* our own transactions: short ones (a 1 000-patient session held the
	 * write lock for seconds in one); inside the caller's, one savepoint */
	own = sqlite3_get_autocommit(db);
	while (acc->n > 0) {
		end = own && acc->n > CS_AUDIT_FLUSH_TX ? CS_AUDIT_FLUSH_TX : acc->n;
		if ((rc = sp_begin(db)) < 0)
			return rc;
		for (i = 0; i < end && rc == 0; i++)
			for (d = 0; d < 2 && rc == 0; d++) {
				ev.action = d == 0 ? CS_AUDIT_SYNC_IN : CS_AUDIT_SYNC_OUT;
				ev.count = d == 0 ? acc->ent[i].in : acc->ent[i].out;
				ev.patient = acc->ent[i].patient;
				if (ev.count > 0)
					rc = append_one(db, self, &ev, pr, NULL);
			}
		if ((rc = sp_end(db, rc)) != 0)
			return rc; /* what is left stays for a retry */
		memmove(acc->ent, acc->ent + end, (acc->n - end) * sizeof(*acc->ent));
		acc->n -= end;
	}
	return rc;
}

void
cs_audit_acc_free(struct cs_audit_acc *acc)
{
	if (acc == NULL)
		return;
	cs_free(acc->ent);
	memset(acc, 0, sizeof(*acc));
}

/* ---- heads ---- */

int
cs_audit_head_check(const struct cs_audit_head *h, const uint8_t sign_pk[static CS_AUDIT_PK_LEN])
{
	uint8_t msg[HEADSIG_MSG_LEN];

	if (h == NULL)
		return CS_EINVAL;
	headsig_msg(h, msg);
	if (crypto_sign_verify_detached(h->sig, msg, sizeof(msg), sign_pk) != 0)
		return CS_AUDIT_ESIG;
	return 0;
}

void
cs_audit_head_encode(const struct cs_audit_head *h, uint8_t out[static CS_AUDIT_HEAD_LEN])
{
	size_t o = 0;

	out[o++] = CS_AUDIT_HEAD_VER;
	memcpy(out + o, h->device, CS_DEVID_LEN);
	o += CS_DEVID_LEN;
	be64(out + o, h->count);
	o += 8;
	memcpy(out + o, h->hash, CS_AUDIT_HASH_LEN);
	o += CS_AUDIT_HASH_LEN;
	be64(out + o, h->at_ms);
	o += 8;
	memcpy(out + o, h->sig, CS_AUDIT_SIG_LEN);
}

int
cs_audit_head_decode(const uint8_t *buf, size_t len, struct cs_audit_head *out)
{
	struct cs_audit_head h;
	size_t o = 0;

	if (out == NULL || (buf == NULL && len > 0))
		return CS_EINVAL;
	if (len != CS_AUDIT_HEAD_LEN || buf[0] != CS_AUDIT_HEAD_VER)
		return CS_AUDIT_EHEAD;
	o = 1;
	memcpy(h.device, buf + o, CS_DEVID_LEN);
	o += CS_DEVID_LEN;
	h.count = get_be64(buf + o);
	o += 8;
	memcpy(h.hash, buf + o, CS_AUDIT_HASH_LEN);
	o += CS_AUDIT_HASH_LEN;
	h.at_ms = get_be64(buf + o);
	o += 8;
	memcpy(h.sig, buf + o, CS_AUDIT_SIG_LEN);
	if (h.count < 0 || h.at_ms < 0)
		return CS_AUDIT_EHEAD;
	*out = h;
	return 0;
}

/* Store h for (h->device, src) unless it contradicts what is kept. */
static int
keep_head(sqlite3 *db, const struct cs_audit_head *h, const uint8_t src[static CS_DEVID_LEN],
    int64_t now_ms)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db,
	    "SELECT count, hash FROM cs_audit_heads WHERE device=?1 AND src=?2", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	sqlite3_bind_blob(st, 1, h->device, CS_DEVID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, src, CS_DEVID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t kc = sqlite3_column_int64(st, 0);
		int same = sqlite3_column_bytes(st, 1) == CS_AUDIT_HASH_LEN &&
		    memcmp(sqlite3_column_blob(st, 1), h->hash, CS_AUDIT_HASH_LEN) == 0;

		if (h->count < kc || (h->count == kc && !same))
			rc = CS_AUDIT_EFORK;
		else if (h->count == kc)
			rc = 1; /* already kept */
		else
			rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? 0 : sqerr(rc);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = sqlite3_prepare_v2(db,
	    "INSERT OR REPLACE INTO cs_audit_heads(device, src, count, hash, at_ms, sig, "
	    "received_ms) VALUES(?1,?2,?3,?4,?5,?6,?7)",
	    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	sqlite3_bind_blob(st, 1, h->device, CS_DEVID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, src, CS_DEVID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, h->count);
	sqlite3_bind_blob(st, 4, h->hash, CS_AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, h->at_ms);
	sqlite3_bind_blob(st, 6, h->sig, CS_AUDIT_SIG_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now_ms != 0 ? now_ms : wall_ms());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqerr(rc);
}

int
cs_audit_head_make(sqlite3 *db, const struct cs_audit_self *self, int64_t now_ms,
    struct cs_audit_head *out)
{
	struct cs_audit_head h;
	uint8_t msg[HEADSIG_MSG_LEN];
	int rc;

	if (db == NULL || self == NULL || self->sign_sk == NULL || out == NULL)
		return CS_EINVAL;
	if ((rc = sp_begin(db)) < 0)
		return rc;
	memset(&h, 0, sizeof(h));
	memcpy(h.device, self->device, CS_DEVID_LEN);
	h.at_ms = now_ms != 0 ? now_ms : wall_ms();
	if ((rc = last_row(db, self->device, &h.count, h.hash)) < 0)
		goto out;
	headsig_msg(&h, msg);
	crypto_sign_detached(h.sig, NULL, msg, sizeof(msg), self->sign_sk);
	/* a kept own head beyond this one is evidence of truncation: keep it */
	if ((rc = keep_head(db, &h, self->device, h.at_ms)) < 0)
		goto out;
	*out = h;
out:
	return sp_end(db, rc);
}

int
cs_audit_head_keep(sqlite3 *db, const struct cs_audit_head *h,
    const uint8_t sign_pk[static CS_AUDIT_PK_LEN], const uint8_t from[static CS_DEVID_LEN],
    int64_t now_ms)
{
	int rc;

	if (db == NULL || h == NULL)
		return CS_EINVAL;
	if ((rc = cs_audit_head_check(h, sign_pk)) < 0)
		return rc;
	if ((rc = sp_begin(db)) < 0)
		return rc;
	rc = keep_head(db, h, from, now_ms);
	return sp_end(db, rc);
}

static int
head_from_row(sqlite3_stmt *st, int col, struct cs_audit_head *h)
{
	/* columns: device, count, hash, at_ms, sig */
	if (sqlite3_column_bytes(st, col) != CS_DEVID_LEN ||
	    sqlite3_column_bytes(st, col + 2) != CS_AUDIT_HASH_LEN ||
	    sqlite3_column_bytes(st, col + 4) != CS_AUDIT_SIG_LEN)
		return -1;
	memcpy(h->device, sqlite3_column_blob(st, col), CS_DEVID_LEN);
	h->count = sqlite3_column_int64(st, col + 1);
	memcpy(h->hash, sqlite3_column_blob(st, col + 2), CS_AUDIT_HASH_LEN);
	h->at_ms = sqlite3_column_int64(st, col + 3);
	memcpy(h->sig, sqlite3_column_blob(st, col + 4), CS_AUDIT_SIG_LEN);
	return 0;
}

int
cs_audit_head_get(sqlite3 *db, const uint8_t device[static CS_DEVID_LEN], struct cs_audit_head *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (db == NULL || out == NULL)
		return CS_EINVAL;
	rc = sqlite3_prepare_v2(db,
	    "SELECT device, count, hash, at_ms, sig FROM cs_audit_heads WHERE device=?1 "
	    "ORDER BY count DESC LIMIT 1",
	    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	sqlite3_bind_blob(st, 1, device, CS_DEVID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = head_from_row(st, 0, out) == 0 ? 0 : CS_AUDIT_EHEAD;
	else
		rc = rc == SQLITE_DONE ? CS_ENOENT : sqerr(rc);
	sqlite3_finalize(st);
	return rc;
}

/* ---- verification ---- */

static void
bad(struct cs_audit_verdict *v, int64_t row, const char *why)
{
	if (!v->ok)
		return; /* the first fault found names the row */
	v->ok = 0;
	v->bad_row = row;
	strncpy(v->why, why, sizeof(v->why) - 1);
	v->why[sizeof(v->why) - 1] = '\0';
}

static const void *
col_blob(sqlite3_stmt *st, int c, size_t *n)
{
	*n = (size_t)sqlite3_column_bytes(st, c);
	return sqlite3_column_type(st, c) == SQLITE_NULL ? NULL : sqlite3_column_blob(st, c);
}

static const void *
col_text(sqlite3_stmt *st, int c, size_t *n)
{
	const void *p =
	    sqlite3_column_type(st, c) == SQLITE_NULL ? NULL : sqlite3_column_text(st, c);

	*n = (size_t)sqlite3_column_bytes(st, c);
	return p;
}

/* Walk the rows; hashes[i] gets the recomputed hash of row i + 1. */
static int
verify_rows(sqlite3 *db, const struct cs_audit_self *self, struct cs_audit_verdict *v,
    uint8_t **hashes_out, int64_t *nhashes)
{
	sqlite3_stmt *st = NULL;
	struct rowv r;
	uint8_t expect_prev[CS_AUDIT_HASH_LEN], hash[CS_AUDIT_HASH_LEN], msg[ROWSIG_MSG_LEN];
	uint8_t *hashes = NULL, *nh;
	size_t cap = 0, n;
	char why[sizeof(v->why)];
	int64_t expect = 1;
	int rc;

	genesis(self->device, expect_prev);
	rc = sqlite3_prepare_v2(db, "SELECT " ROW_COLS " FROM cs_audit ORDER BY id", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.id = sqlite3_column_int64(st, 0);
		v->rows++;
		if (r.id != expect) {
			if (r.id > expect)
				snprintf(why, sizeof(why),
				    "row %lld is missing (deleted): the next row is %lld",
				    (long long)expect, (long long)r.id);
			else
				snprintf(why, sizeof(why),
				    "row %lld is out of sequence (inserted before row 1)",
				    (long long)r.id);
			bad(v, r.id > expect ? expect : r.id, why);
			break;
		}
		r.at_ms = sqlite3_column_int64(st, 1);
		r.action = sqlite3_column_int64(st, 2);
		r.device = col_blob(st, 3, &r.ndevice);
		r.practitioner = col_blob(st, 4, &r.npractitioner);
		r.patient = col_blob(st, 5, &r.npatient);
		r.local = col_text(st, 6, &r.nlocal);
		r.count = sqlite3_column_int64(st, 7);
		r.detail = col_text(st, 8, &r.ndetail);
		if (sqlite3_column_type(st, 9) != SQLITE_BLOB ||
		    sqlite3_column_bytes(st, 9) != CS_AUDIT_HASH_LEN ||
		    sqlite3_column_type(st, 10) != SQLITE_BLOB ||
		    sqlite3_column_bytes(st, 10) != CS_AUDIT_HASH_LEN ||
		    sqlite3_column_type(st, 11) != SQLITE_BLOB ||
		    sqlite3_column_bytes(st, 11) != CS_AUDIT_SIG_LEN) {
			snprintf(why, sizeof(why),
			    "row %lld was edited: its hash or signature is malformed",
			    (long long)r.id);
			bad(v, r.id, why);
			break;
		}
		r.prev = sqlite3_column_blob(st, 9);
		row_hash(&r, hash);
		if (memcmp(hash, sqlite3_column_blob(st, 10), CS_AUDIT_HASH_LEN) != 0) {
			snprintf(why, sizeof(why),
			    "row %lld was edited: its content does not match its hash",
			    (long long)r.id);
			bad(v, r.id, why);
			break;
		}
		rowsig_msg(hash, msg);
		if (crypto_sign_verify_detached(sqlite3_column_blob(st, 11), msg, sizeof(msg),
		        self->sign_pk) != 0) {
			snprintf(why, sizeof(why),
			    "row %lld is not signed by this device (forged, or edited and "
			    "re-hashed)",
			    (long long)r.id);
			bad(v, r.id, why);
			break;
		}
		if (memcmp(r.prev, expect_prev, CS_AUDIT_HASH_LEN) != 0) {
			snprintf(why, sizeof(why),
			    "row %lld does not follow row %lld (rows inserted, reordered or "
			    "replaced)",
			    (long long)r.id, (long long)(r.id - 1));
			bad(v, r.id, why);
			break;
		}
		memcpy(expect_prev, hash, CS_AUDIT_HASH_LEN);
		if ((size_t)(expect - 1) == cap) {
			cap = cap != 0 ? cap * 2 : 256;
			if ((nh = cs_realloc(hashes, cap * CS_AUDIT_HASH_LEN)) == NULL) {
				rc = CS_ENOMEM;
				goto out;
			}
			hashes = nh;
		}
		n = (size_t)(expect - 1);
		memcpy(hashes + n * CS_AUDIT_HASH_LEN, hash, CS_AUDIT_HASH_LEN);
		expect++;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqerr(rc);
out:
	sqlite3_finalize(st);
	if (rc < 0) {
		cs_free(hashes);
		return rc;
	}
	*hashes_out = hashes;
	*nhashes = expect - 1;
	return 0;
}

/* Check one head of this device against the verified prefix of the trail. */
static void
verify_head(const struct cs_audit_self *self, const struct cs_audit_head *h, const char *whose,
    const uint8_t *hashes, int64_t nhashes, int64_t rows_total, int chain_ok,
    struct cs_audit_verdict *v, int64_t *best, char *best_why, size_t why_cap)
{
	int64_t row;
	char why[sizeof(v->why)];

	v->heads++;
	if (cs_audit_head_check(h, self->sign_pk) != 0) {
		row = h->count > 0 ? h->count : 1;
		snprintf(why, sizeof(why),
		    "%s head of this device (row %lld) has a bad signature: head forged", whose,
		    (long long)h->count);
	} else if (h->count == 0) {
		return;
	} else if (h->count > rows_total && chain_ok) {
		row = rows_total + 1;
		snprintf(why, sizeof(why),
		    "rows %lld to %lld are missing: the tail was dropped (%s head signed %lld "
		    "rows)",
		    (long long)row, (long long)h->count, whose, (long long)h->count);
	} else if (h->count > nhashes) {
		return; /* beyond a break the chain walk already named */
	} else if (memcmp(hashes + (size_t)(h->count - 1) * CS_AUDIT_HASH_LEN, h->hash,
	               CS_AUDIT_HASH_LEN) != 0) {
		row = h->count;
		snprintf(why, sizeof(why),
		    "row %lld differs from the %s head: the trail up to row %lld was rewritten "
		    "and re-signed",
		    (long long)row, whose, (long long)row);
	} else {
		return;
	}
	if (*best == 0 || row < *best) {
		*best = row;
		strncpy(best_why, why, why_cap - 1);
		best_why[why_cap - 1] = '\0';
	}
}

static int
triggers_present(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int n = 0;

	if (sqlite3_prepare_v2(db,
	        "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND tbl_name='cs_audit' "
	        "AND name IN ('cs_audit_no_update', 'cs_audit_no_delete', "
	        "'cs_audit_no_replace')",
	        -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n == 3;
}

/* The kept heads of this device (own, and given back by peers). */
static int
verify_kept(sqlite3 *db, const struct cs_audit_self *self, const uint8_t *hashes, int64_t nhashes,
    int chain_ok, struct cs_audit_verdict *v, int64_t *best, char *best_why, size_t why_cap)
{
	sqlite3_stmt *st = NULL;
	struct cs_audit_head h;
	const char *whose;
	int rc;

	if (!table_exists(db, "cs_audit_heads"))
		return 0;
	rc = sqlite3_prepare_v2(db,
	    "SELECT device, count, hash, at_ms, sig, src FROM cs_audit_heads WHERE device=?1 "
	    "ORDER BY count",
	    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	sqlite3_bind_blob(st, 1, self->device, CS_DEVID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (head_from_row(st, 0, &h) != 0) {
			v->heads++;
			if (*best == 0) {
				*best = 1;
				snprintf(best_why, why_cap,
				    "a kept head of this device is malformed");
			}
			continue;
		}
		if (sqlite3_column_bytes(st, 5) == CS_DEVID_LEN &&
		    memcmp(sqlite3_column_blob(st, 5), self->device, CS_DEVID_LEN) == 0)
			whose = "own";
		else
			whose = "peer-held";
		verify_head(self, &h, whose, hashes, nhashes, v->rows, chain_ok, v, best, best_why,
		    why_cap);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqerr(rc);
}

int
cs_audit_verify(sqlite3 *db, const struct cs_audit_self *self, const struct cs_audit_head *extra,
    struct cs_audit_verdict *v)
{
	uint8_t *hashes = NULL;
	int64_t nhashes = 0, best = 0;
	char best_why[sizeof(v->why)] = "";
	int rc, chain_ok;

	if (db == NULL || self == NULL || v == NULL)
		return CS_EINVAL;
	memset(v, 0, sizeof(*v));
	v->ok = 1;
	/* one read transaction: rows and heads seen at the same instant */
	if ((rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
		return sqerr(rc);
	if (!table_exists(db, "cs_audit")) {
		bad(v, 1,
		    "the audit trail is missing (table cs_audit dropped, or never installed)");
		goto out;
	}
	if ((rc = verify_rows(db, self, v, &hashes, &nhashes)) < 0)
		goto out;
	chain_ok = v->ok;
	rc = verify_kept(db, self, hashes, nhashes, chain_ok, v, &best, best_why, sizeof(best_why));
	if (rc == 0 && extra != NULL) {
		if (memcmp(extra->device, self->device, CS_DEVID_LEN) != 0) {
			v->heads++;
			if (best == 0) {
				best = 1;
				snprintf(best_why, sizeof(best_why),
				    "the given head is of another device");
			}
		} else {
			verify_head(self, extra, "given peer-held", hashes, nhashes, v->rows,
			    chain_ok, v, &best, best_why, sizeof(best_why));
		}
	}
	if (rc == 0 && best != 0 && (v->ok || best < v->bad_row)) {
		v->ok = 1; /* let bad() take the earlier row */
		bad(v, best, best_why);
	}
	if (rc == 0)
		v->triggers = triggers_present(db);
out:
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	cs_free(hashes);
	return rc;
}

/* ---- reading ---- */

int
cs_audit_list(sqlite3 *db, const struct cs_audit_filter *f, cs_audit_row_cb cb, void *ctx)
{
	sqlite3_stmt *st = NULL;
	struct cs_audit_row r;
	int rc;

	if (db == NULL || cb == NULL)
		return CS_EINVAL;
	rc = sqlite3_prepare_v2(db,
	    "SELECT id, at_ms, action, device, practitioner, patient, patient_local, count, "
	    "detail FROM cs_audit WHERE (?1 IS NULL OR patient_local=?1) AND at_ms >= ?2 "
	    "ORDER BY id",
	    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	if (f != NULL && f->patient_local != NULL)
		sqlite3_bind_text(st, 1, f->patient_local, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, f != NULL ? f->since_ms : 0);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.id = sqlite3_column_int64(st, 0);
		r.at_ms = sqlite3_column_int64(st, 1);
		r.action = (enum cs_audit_action)sqlite3_column_int(st, 2);
		r.device =
		    sqlite3_column_bytes(st, 3) == CS_DEVID_LEN ? sqlite3_column_blob(st, 3) : NULL;
		r.practitioner =
		    sqlite3_column_bytes(st, 4) == CS_GID_LEN ? sqlite3_column_blob(st, 4) : NULL;
		r.patient =
		    sqlite3_column_bytes(st, 5) == CS_GID_LEN ? sqlite3_column_blob(st, 5) : NULL;
		r.patient_local = (const char *)sqlite3_column_text(st, 6);
		r.count = sqlite3_column_int64(st, 7);
		r.detail = (const char *)sqlite3_column_text(st, 8);
		if ((rc = cb(ctx, &r)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqerr(rc);
out:
	sqlite3_finalize(st);
	return rc;
}
