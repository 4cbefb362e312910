/*
 * sql/upgrade.c: app schema upgrades (upgrade.h; docs/MERGE.md "App schema
 * upgrades").
 *
 * State in the database: cs_meta 'app_schema' (PRAGMA schema_version at the
 * last check), 'ini_hash', 'hash_v' (every row record with v <= hash_v has
 * a current cs_rowhash row), 'hash_key'; cs_upg_tab per tracked table (root
 * page and number of capture triggers at the last check, and the pending
 * verification: kind, resumable position, new column ids); cs_rowhash, one
 * 8-byte SipHash per column (slot = stable column id) per row record.
 */
#include "upgrade.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "base/mem.h"
#include "engine_int.h"

#define SLICE_ROWS 1024
#define SLOT       8

enum vkind {
	V_NONE = 0,
	V_ROWS = 1,   /* rebuilt table, phase 1: every base row against its hash */
	V_GONE = 2,   /* rebuilt table, phase 2: row records whose base row is gone */
	V_NEWCOL = 3, /* ADD COLUMN: rows whose new columns differ from the default */
};

struct cs_upgrade {
	/* PRAGMA schema_version when the database was last seen up to date
	 * (fingerprints equal to the stored ones, or a check committed): a
	 * cache only, -1 = read the database again (need_check) */
	int64_t cookie;
	int64_t fp_known;  /* schema_fp that the engine's description matches, 0 unknown */
	int pending;       /* a verification is pending (cs_upg_tab.kind <> 0) */
	int busy;          /* inside a check: the hooks stand aside */
	int force_reload;  /* a check was rolled back after a reload */
	int txn_checked;   /* the current apply transaction ran a check */
	int any_kept;      /* cs_xcell may hold cells (newer app version) */
	sqlite3_stmt *put; /* cached: INSERT OR REPLACE INTO cs_rowhash */
	struct timespec ini_mtime;
	off_t ini_size;
	uint8_t key[crypto_shorthash_KEYBYTES];
	int have_key;
};

const char cs_upgrade_uninstall_sql[] = "DROP TABLE IF EXISTS cs_rowhash;"
                                        "DROP TABLE IF EXISTS cs_upg_tab;"
                                        "DROP TABLE IF EXISTS cs_xcell;";

static const char upg_schema[] =
    "CREATE TABLE IF NOT EXISTS cs_rowhash(rid INTEGER PRIMARY KEY, h BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cs_upg_tab(tid INTEGER PRIMARY KEY, root INTEGER NOT NULL, "
    " ntrig INTEGER NOT NULL, known TEXT NOT NULL, kind INTEGER NOT NULL DEFAULT 0, pos, "
    " cids TEXT);"
    "CREATE TABLE IF NOT EXISTS cs_xcell(gid BLOB NOT NULL, tid INTEGER NOT NULL, "
    " col TEXT NOT NULL, cl INTEGER NOT NULL, t INTEGER NOT NULL, val, h INTEGER NOT NULL, "
    " dev BLOB NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(gid, col)) WITHOUT ROWID;";

/* ---- small helpers ----------------------------------------------------- */

static struct cs_upgrade *
up_get(struct cs_engine *e)
{
	struct cs_upgrade **slot = cs_eng_upgrade_slot(e);

	if (*slot == NULL) {
		*slot = cs_calloc(1, sizeof(**slot));
		if (*slot != NULL)
			(*slot)->cookie = -1;
	}
	return *slot;
}

void
cs_upgrade_free(struct cs_engine *e)
{
	struct cs_upgrade **slot = cs_eng_upgrade_slot(e);

	if (*slot != NULL) {
		sodium_memzero((*slot)->key, sizeof((*slot)->key));
		sqlite3_finalize((*slot)->put);
	}
	cs_free(*slot);
	*slot = NULL;
}

static int
xexec(struct cs_engine *e, const char *sql)
{
	int rc = sqlite3_exec(cs_engine_handle(e), sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : cs_eng_sqfail(e, rc, "schema upgrade statement failed");
}

static int
xprep(struct cs_engine *e, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(cs_engine_handle(e), sql, -1, st, NULL);

	return rc == SQLITE_OK ? 0 : cs_eng_sqfail(e, rc, "preparing a schema upgrade statement");
}

/* One integer from a query (0 when no row); < 0 on error. */
static int
qint(struct cs_engine *e, const char *sql, const char *bind_text, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*out = 0;
	if ((rc = xprep(e, sql, &st)) < 0)
		return rc;
	if (bind_text != NULL)
		sqlite3_bind_text(st, 1, bind_text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cs_eng_sqfail(e, rc, "reading the schema");
	sqlite3_finalize(st);
	return rc;
}

static int
meta_int(struct cs_engine *e, const char *k, int64_t *out)
{
	return qint(e, "SELECT v FROM cs_meta WHERE k=?1", k, out);
}

static int
meta_set(struct cs_engine *e, const char *k, int64_t v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = xprep(e, "INSERT OR REPLACE INTO cs_meta(k, v) VALUES(?1, ?2)", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : cs_eng_sqfail(e, rc, "writing cs_meta");
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The per-database SipHash key (not a secret: keyed so that an app cannot
 * craft two values with the same hash by accident or on purpose), read
 * only: u->have_key stays 0 when the database has none yet. */
static int
read_key(struct cs_engine *e, struct cs_upgrade *u)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (u->have_key)
		return 0;
	if ((rc = xprep(e, "SELECT v FROM cs_meta WHERE k='hash_key'", &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == (int)sizeof(u->key)) {
		memcpy(u->key, sqlite3_column_blob(st, 0), sizeof(u->key));
		u->have_key = 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cs_eng_sqfail(e, rc, "reading cs_meta");
}

/* The key, made and stored when the database has none (inside a write
 * transaction). */
static int
load_key(struct cs_engine *e, struct cs_upgrade *u)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = read_key(e, u)) < 0 || u->have_key)
		return rc;
	crypto_shorthash_keygen(u->key);
	if ((rc = xprep(e, "INSERT OR REPLACE INTO cs_meta(k, v) VALUES('hash_key', ?1)", &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, u->key, sizeof(u->key), SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cs_eng_sqfail(e, rc, "writing cs_meta");
	u->have_key = 1;
	return 0;
}

/* SipHash-2-4 of a value: its SQLite type byte, then its bytes. */
static int
vhash(const struct cs_upgrade *u, sqlite3_value *v, uint8_t out[SLOT])
{
	uint8_t small[512], *buf = small;
	const uint8_t *p = NULL;
	size_t n = 0;
	int type = sqlite3_value_type(v);
	uint64_t x;
	double d;
	int i;

	switch (type) {
	case SQLITE_INTEGER:
		x = (uint64_t)sqlite3_value_int64(v);
		for (i = 0; i < 8; i++)
			small[1 + i] = (uint8_t)(x >> (56 - 8 * i));
		n = 8;
		break;
	case SQLITE_FLOAT:
		d = sqlite3_value_double(v);
		memcpy(&x, &d, sizeof(x));
		for (i = 0; i < 8; i++)
			small[1 + i] = (uint8_t)(x >> (56 - 8 * i));
		n = 8;
		break;
	case SQLITE_TEXT:
	case SQLITE_BLOB:
		p = type == SQLITE_TEXT ? sqlite3_value_text(v) : sqlite3_value_blob(v);
		n = (size_t)sqlite3_value_bytes(v);
		if (p == NULL && n > 0)
			return CS_ENOMEM;
		if (n + 1 > sizeof(small) && (buf = cs_malloc(n + 1)) == NULL)
			return CS_ENOMEM;
		if (n > 0)
			memcpy(buf + 1, p, n);
		break;
	default:
		break;
	}
	buf[0] = (uint8_t)type;
	crypto_shorthash(out, buf, n + 1, u->key);
	if (buf != small)
		cs_free(buf);
	return 0;
}

/* ---- SQL text ----------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void
sadd(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->err)
		return;
	if (cs_grow(&b->p, &b->cap, b->len + n + 1, 1) < 0) {
		b->err = 1;
		return;
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

static void
sid(struct sbuf *b, const char *s)
{
	char one[2] = {0, 0};

	sadd(b, "\"");
	for (; *s != '\0'; s++) {
		one[0] = *s;
		sadd(b, *s == '"' ? "\"\"" : one);
	}
	sadd(b, "\"");
}

static void
sint(struct sbuf *b, long long v)
{
	char n[32];

	snprintf(n, sizeof(n), "%lld", v);
	sadd(b, n);
}

static void
sfree(struct sbuf *b)
{
	cs_free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- tables ------------------------------------------------------------- */

struct tinfo {
	int idx;
	struct cs_eng_tab t;
	struct cs_eng_col *cols;
	int maxcid;
};

static void
tinfo_free(struct tinfo *ti)
{
	cs_free(ti->cols);
	memset(ti, 0, sizeof(*ti));
}

static int
tinfo_load(struct cs_engine *e, int i, struct tinfo *ti)
{
	int c;

	memset(ti, 0, sizeof(*ti));
	ti->idx = i;
	cs_eng_tab(e, i, &ti->t);
	ti->cols = cs_calloc((size_t)(ti->t.ncols ? ti->t.ncols : 1), sizeof(*ti->cols));
	if (ti->cols == NULL)
		return CS_ENOMEM;
	ti->maxcid = -1;
	for (c = 0; c < ti->t.ncols; c++) {
		cs_eng_col(e, i, c, &ti->cols[c]);
		if (ti->cols[c].cid > ti->maxcid)
			ti->maxcid = ti->cols[c].cid;
	}
	return 0;
}

static int
tab_by_tid(struct cs_engine *e, int tid)
{
	struct cs_eng_tab t;
	int i;

	for (i = 0; i < cs_eng_ntabs(e); i++) {
		cs_eng_tab(e, i, &t);
		if (t.tid == tid)
			return i;
	}
	return -1;
}

/* "SELECT cols FROM t WHERE pk=?1" */
static int
prep_row_select(struct cs_engine *e, const struct tinfo *ti, sqlite3_stmt **st)
{
	struct sbuf q = {0};
	int c, rc;

	sadd(&q, "SELECT ");
	for (c = 0; c < ti->t.ncols; c++) {
		sadd(&q, c > 0 ? ", " : "");
		sid(&q, ti->cols[c].name);
	}
	if (ti->t.ncols == 0)
		sadd(&q, "1");
	sadd(&q, " FROM ");
	sid(&q, ti->t.name);
	sadd(&q, " WHERE ");
	sid(&q, ti->t.pk);
	sadd(&q, "=?1");
	rc = q.err ? CS_ENOMEM : xprep(e, q.p, st);
	sfree(&q);
	return rc;
}

/* The hash blob of a row: slot cid = hash of column cid; other slots 0. */
static int
row_blob(struct cs_upgrade *u, const struct tinfo *ti, sqlite3_stmt *st, int first, uint8_t **out,
    size_t *len)
{
	uint8_t *b;
	int c, rc;

	*len = (size_t)(ti->maxcid + 1) * SLOT;
	if ((b = cs_calloc(*len ? *len : 1, 1)) == NULL)
		return CS_ENOMEM;
	for (c = 0; c < ti->t.ncols; c++)
		if ((rc = vhash(u, sqlite3_column_value(st, first + c),
		         b + (size_t)ti->cols[c].cid * SLOT)) < 0) {
			cs_free(b);
			return rc;
		}
	*out = b;
	return 0;
}

static int
put_hash(struct cs_engine *e, struct cs_upgrade *u, int64_t rid, const uint8_t *b, size_t len)
{
	int rc;

	if (u->put == NULL &&
	    (rc = sqlite3_prepare_v3(cs_engine_handle(e),
	         "INSERT OR REPLACE INTO cs_rowhash(rid, h) VALUES(?1, ?2)", -1,
	         SQLITE_PREPARE_PERSISTENT, &u->put, NULL)) != SQLITE_OK)
		return cs_eng_sqfail(e, rc, "preparing a schema upgrade statement");
	sqlite3_reset(u->put);
	sqlite3_bind_int64(u->put, 1, rid);
	sqlite3_bind_blob(u->put, 2, b, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(u->put);
	sqlite3_reset(u->put);
	sqlite3_clear_bindings(u->put);
	if (rc != SQLITE_DONE) {
		sqlite3_finalize(u->put); /* the table may be gone (uninstall) */
		u->put = NULL;
		return cs_eng_sqfail(e, rc, "writing cs_rowhash");
	}
	return 0;
}

/* The hash of column c's declared default (what ADD COLUMN gave every row). */
static int
default_hash(struct cs_engine *e, struct cs_upgrade *u, const struct tinfo *ti, int c,
    uint8_t out[SLOT])
{
	sqlite3_stmt *st = NULL, *ev = NULL;
	struct sbuf q = {0};
	char *dflt = NULL;
	int rc;

	sadd(&q, "SELECT dflt_value FROM pragma_table_info(?1) WHERE name=?2");
	if (q.err)
		return CS_ENOMEM;
	if ((rc = xprep(e, q.p, &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, ti->t.name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ti->cols[c].name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
	    (dflt = cs_strdup((const char *)sqlite3_column_text(st, 0))) == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	sfree(&q);
	sadd(&q, "SELECT ");
	sadd(&q, dflt != NULL ? dflt : "NULL");
	if (q.err) {
		rc = CS_ENOMEM;
		goto out;
	}
	if (xprep(e, q.p, &ev) < 0 || sqlite3_step(ev) != SQLITE_ROW) {
		/* a default that is not a constant expression: compare with NULL */
		sqlite3_finalize(ev);
		ev = NULL;
		if ((rc = xprep(e, "SELECT NULL", &ev)) < 0)
			goto out;
		sqlite3_step(ev);
	}
	rc = vhash(u, sqlite3_column_value(ev, 0), out);
out:
	sqlite3_finalize(st);
	sqlite3_finalize(ev);
	cs_free(dflt);
	sfree(&q);
	return rc;
}

/* Next local db_version and hlc, as the capture triggers compute them. */
static int
next_mh(struct cs_engine *e, int64_t *m, int64_t *h)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = xprep(e,
	    "SELECT " CS_ENG_SQL_DBV " + 1, max(CAST((julianday('now') - 2440587.5) * "
	    "86400000.0 AS INTEGER) * 65536, coalesce((SELECT h FROM cs_ids ORDER BY v DESC "
	    "LIMIT 1), 0) + 1, coalesce((SELECT v FROM cs_meta WHERE k='hlc'), 0) + 1)",
	    &st);
	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	*m = sqlite3_column_int64(st, 0);
	*h = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : cs_eng_sqfail(e, rc, "reading cs_ids");
}

/* ---- recording missed writes as local edits ----------------------------- */

/* A base row with no live row record: a missed insert (CL to the next odd). */
static int
record_insert(struct cs_engine *e, const struct tinfo *ti, sqlite3_value *pk, sqlite3_value *scope,
    int64_t *rid)
{
	sqlite3_stmt *st = NULL;
	struct sbuf q = {0};
	int64_t m, h;
	int rc;

	if ((rc = next_mh(e, &m, &h)) < 0)
		return rc;
	sadd(&q,
	    "INSERT INTO cs_ids(tid, pk, gid, pat, cl, xs, xn, xh, xv, v, h) VALUES(?1, ?2, "
	    "randomblob(16), ");
	if (ti->t.scope_col >= 0) {
		sadd(&q, "(SELECT gid FROM cs_ids WHERE tid=");
		sint(&q, ti->t.scope_parent_tid);
		sadd(&q, " AND pk=+?6)");
	} else {
		sadd(&q, "NULL");
	}
	sadd(&q,
	    ", 1, ?3, ?4, ?5, ?4, ?4, ?5) ON CONFLICT(tid, pk) DO UPDATE SET "
	    "cl=cl+1+(cl&1), xs=excluded.xs, xn=excluded.xn, xh=excluded.xh, xv=excluded.xv, "
	    "v=excluded.v, h=excluded.h, pat=excluded.pat");
	if (q.err)
		return CS_ENOMEM;
	if ((rc = xprep(e, q.p, &st)) < 0)
		goto out;
	sqlite3_bind_int(st, 1, ti->t.tid);
	sqlite3_bind_value(st, 2, pk);
	sqlite3_bind_int64(st, 3, cs_eng_self_site(e));
	sqlite3_bind_int64(st, 4, m);
	sqlite3_bind_int64(st, 5, h);
	if (ti->t.scope_col >= 0)
		sqlite3_bind_value(st, 6, scope);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE) {
		rc = cs_eng_sqfail(e, rc, "recording a missed insert");
		goto out;
	}
	rc = xprep(e, "SELECT rid FROM cs_ids WHERE tid=?1 AND pk=?2", &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_int(st, 1, ti->t.tid);
	sqlite3_bind_value(st, 2, pk);
	rc = sqlite3_step(st) == SQLITE_ROW ? 0 : cs_eng_sqfail(e, SQLITE_ERROR, "reading cs_ids");
	*rid = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	sfree(&q);
	return rc;
}

/* Cells changed behind the triggers' back: one new local dot for them. */
static int
record_edit(struct cs_engine *e, const struct tinfo *ti, int64_t rid, const int *cols, int n,
    sqlite3_value *scope)
{
	sqlite3_stmt *st = NULL;
	struct sbuf q = {0};
	int64_t m, h;
	int i, rc, scope_moved = 0;

	if ((rc = next_mh(e, &m, &h)) < 0)
		return rc;
	if ((rc = xprep(e,
	         "INSERT OR REPLACE INTO cs_clock(rid, cid, s, n, h, v) "
	         "VALUES(?1, ?2, ?3, ?4, ?5, ?4)",
	         &st)) < 0)
		return rc;
	for (i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, rid);
		sqlite3_bind_int(st, 2, ti->cols[cols[i]].cid);
		sqlite3_bind_int64(st, 3, cs_eng_self_site(e));
		sqlite3_bind_int64(st, 4, m);
		sqlite3_bind_int64(st, 5, h);
		if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
			rc = cs_eng_sqfail(e, rc, "recording a missed edit");
			goto out;
		}
		if (cols[i] == ti->t.scope_col)
			scope_moved = 1;
	}
	sqlite3_finalize(st);
	st = NULL;
	sadd(&q, "UPDATE cs_ids SET v=?2, h=max(h, ?3)");
	if (scope_moved) {
		sadd(&q, ", pat=(SELECT gid FROM cs_ids WHERE tid=");
		sint(&q, ti->t.scope_parent_tid);
		sadd(&q, " AND pk=+?4)");
	}
	sadd(&q, " WHERE rid=?1");
	if (q.err) {
		rc = CS_ENOMEM;
		goto out;
	}
	if ((rc = xprep(e, q.p, &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int64(st, 2, m);
	sqlite3_bind_int64(st, 3, h);
	if (scope_moved)
		sqlite3_bind_value(st, 4, scope);
	rc = sqlite3_step(st) == SQLITE_DONE
	    ? 0
	    : cs_eng_sqfail(e, sqlite3_errcode(cs_engine_handle(e)), "recording a missed edit");
out:
	sqlite3_finalize(st);
	sfree(&q);
	return rc;
}

/* A live row record whose base row is gone: a missed delete. */
static int
record_delete(struct cs_engine *e, const struct tinfo *ti, int64_t rid)
{
	sqlite3_stmt *st = NULL;
	int64_t m, h;
	int rc;

	if ((rc = next_mh(e, &m, &h)) < 0)
		return rc;
	rc = xprep(e,
	    ti->t.rowid_pk
	        ? "UPDATE cs_ids SET cl=cl+1, xs=?2, xn=?3, xh=?4, xv=?3, v=?3, h=?4, pk=NULL "
	          "WHERE rid=?1 AND (cl&1)=1"
	        : "UPDATE cs_ids SET cl=cl+1, xs=?2, xn=?3, xh=?4, xv=?3, v=?3, h=?4 "
	          "WHERE rid=?1 AND (cl&1)=1",
	    &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int64(st, 2, cs_eng_self_site(e));
	sqlite3_bind_int64(st, 3, m);
	sqlite3_bind_int64(st, 4, h);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cs_eng_sqfail(e, rc, "recording a missed delete");
	if ((rc = xprep(e, "DELETE FROM cs_clock WHERE rid=?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rid);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cs_eng_sqfail(e, rc, "recording a missed delete");
	if ((rc = xprep(e, "DELETE FROM cs_rowhash WHERE rid=?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rid);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : cs_eng_sqfail(e, rc, "recording a missed delete");
}

/* ---- verification passes ------------------------------------------------ */

struct vstate {
	int tid, kind;
	sqlite3_value *pos; /* last pk done, NULL = from the start */
	char *cids;         /* V_NEWCOL: ",3,5," */
};

static int
save_vstate(struct cs_engine *e, const struct vstate *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = xprep(e, "UPDATE cs_upg_tab SET kind=?2, pos=?3, cids=?4 WHERE tid=?1", &st)) < 0)
		return rc;
	sqlite3_bind_int(st, 1, v->tid);
	sqlite3_bind_int(st, 2, v->kind);
	if (v->pos != NULL)
		sqlite3_bind_value(st, 3, v->pos);
	if (v->kind == V_NEWCOL && v->cids != NULL)
		sqlite3_bind_text(st, 4, v->cids, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : cs_eng_sqfail(e, rc, "writing cs_upg_tab");
}

static int
set_pos(struct vstate *v, sqlite3_value *pk)
{
	sqlite3_value_free(v->pos);
	v->pos = sqlite3_value_dup(pk);
	return v->pos == NULL ? CS_ENOMEM : 0;
}

static int
has_cid(const char *list, int cid)
{
	char pat[24];

	snprintf(pat, sizeof(pat), ",%d,", cid);
	return list != NULL && strstr(list, pat) != NULL;
}

/* Phase 1 of a rebuilt table: every base row against its hash. Returns 1
 * when the table is done, 0 when the slice ended first. */
static int
slice_rows(struct cs_engine *e, struct cs_upgrade *u, const struct tinfo *ti, struct vstate *v,
    struct cs_upgrade_result *res)
{
	sqlite3_stmt *st = NULL;
	struct sbuf q = {0};
	uint8_t *dh = NULL, cur[SLOT];
	int *diff = NULL;
	int c, rc, n = 0, nc = ti->t.ncols;

	diff = cs_calloc((size_t)(nc ? nc : 1), sizeof(int));
	dh = cs_calloc((size_t)(nc ? nc : 1), SLOT);
	if (diff == NULL || dh == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	for (c = 0; c < nc; c++)
		if ((rc = default_hash(e, u, ti, c, dh + (size_t)c * SLOT)) < 0)
			goto out;
	sadd(&q, "SELECT t.");
	sid(&q, ti->t.pk);
	for (c = 0; c < nc; c++) {
		sadd(&q, ", t.");
		sid(&q, ti->cols[c].name);
	}
	sadd(&q, ", i.rid, i.cl, h.h FROM ");
	sid(&q, ti->t.name);
	sadd(&q, " AS t LEFT JOIN cs_ids AS i ON i.tid=");
	sint(&q, ti->t.tid);
	sadd(&q, " AND i.pk=+t.");
	sid(&q, ti->t.pk);
	sadd(&q, " LEFT JOIN cs_rowhash AS h ON h.rid=i.rid");
	if (v->pos != NULL) {
		sadd(&q, " WHERE t.");
		sid(&q, ti->t.pk);
		sadd(&q, " > ?1");
	}
	sadd(&q, " ORDER BY t.");
	sid(&q, ti->t.pk);
	sadd(&q, " LIMIT ");
	sint(&q, SLICE_ROWS);
	if (q.err) {
		rc = CS_ENOMEM;
		goto out;
	}
	if ((rc = xprep(e, q.p, &st)) < 0)
		goto out;
	if (v->pos != NULL)
		sqlite3_bind_value(st, 1, v->pos);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_value *pk = sqlite3_column_value(st, 0);
		sqlite3_value *scope =
		    ti->t.scope_col >= 0 ? sqlite3_column_value(st, 1 + ti->t.scope_col) : NULL;
		int64_t rid = sqlite3_column_int64(st, nc + 1);
		int alive = sqlite3_column_type(st, nc + 1) != SQLITE_NULL &&
		    (sqlite3_column_int64(st, nc + 2) & 1) == 1;
		const uint8_t *hb = sqlite3_column_blob(st, nc + 3);
		size_t hlen = (size_t)sqlite3_column_bytes(st, nc + 3);
		uint8_t *blob = NULL;
		size_t blen;
		int nd = 0;

		n++;
		res->rows_checked++;
		if (!alive) {
			if ((rc = record_insert(e, ti, pk, scope, &rid)) < 0)
				goto out;
			res->rows_fixed++;
		} else {
			for (c = 0; c < nc; c++) {
				size_t off = (size_t)ti->cols[c].cid * SLOT;
				static const uint8_t zero[SLOT];
				const uint8_t *known = dh + (size_t)c * SLOT;

				if ((rc = vhash(u, sqlite3_column_value(st, 1 + c), cur)) < 0)
					goto out;
				if (hb == NULL) {
					diff[nd++] = c; /* no hash yet: every cell may differ */
					continue;
				}
				if (off + SLOT <= hlen && memcmp(hb + off, zero, SLOT) != 0)
					known = hb + off;
				if (memcmp(cur, known, SLOT) != 0)
					diff[nd++] = c;
			}
			if (nd > 0) {
				if ((rc = record_edit(e, ti, rid, diff, nd, scope)) < 0)
					goto out;
				res->rows_fixed++;
			}
		}
		if ((rc = row_blob(u, ti, st, 1, &blob, &blen)) < 0)
			goto out;
		rc = put_hash(e, u, rid, blob, blen);
		cs_free(blob);
		if (rc < 0 || (rc = set_pos(v, pk)) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = cs_eng_sqfail(e, rc, "verifying a rebuilt table");
		goto out;
	}
	rc = n < SLICE_ROWS;
out:
	sqlite3_finalize(st);
	sfree(&q);
	cs_free(diff);
	cs_free(dh);
	return rc;
}

/* Phase 2 of a rebuilt table: live row records whose base row is gone. */
static int
slice_gone(struct cs_engine *e, const struct tinfo *ti, struct vstate *v,
    struct cs_upgrade_result *res)
{
	sqlite3_stmt *st = NULL;
	struct sbuf q = {0};
	int rc, n = 0;

	sadd(&q, "SELECT i.rid, i.pk, EXISTS (SELECT 1 FROM ");
	sid(&q, ti->t.name);
	sadd(&q, " AS t WHERE t.");
	sid(&q, ti->t.pk);
	sadd(&q, "=i.pk) FROM cs_ids AS i WHERE i.tid=");
	sint(&q, ti->t.tid);
	sadd(&q, " AND i.pk IS NOT NULL");
	if (v->pos != NULL)
		sadd(&q, " AND i.pk > ?1");
	sadd(&q, " ORDER BY i.pk LIMIT ");
	sint(&q, SLICE_ROWS * 4);
	if (q.err) {
		rc = CS_ENOMEM;
		goto out;
	}
	if ((rc = xprep(e, q.p, &st)) < 0)
		goto out;
	if (v->pos != NULL)
		sqlite3_bind_value(st, 1, v->pos);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if ((rc = set_pos(v, sqlite3_column_value(st, 1))) < 0)
			goto out;
		if (sqlite3_column_int(st, 2))
			continue;
		/* a tombstone (even CL) keeps its pk on TEXT-key tables: skipped inside */
		if ((rc = record_delete(e, ti, sqlite3_column_int64(st, 0))) < 0)
			goto out;
		if (sqlite3_changes(cs_engine_handle(e)) > 0)
			res->rows_fixed++;
	}
	if (rc != SQLITE_DONE) {
		rc = cs_eng_sqfail(e, rc, "verifying a rebuilt table");
		goto out;
	}
	rc = n < SLICE_ROWS * 4;
out:
	sqlite3_finalize(st);
	sfree(&q);
	return rc;
}

/* ADD COLUMN: rows whose new cells differ from the default and that no
 * capture trigger recorded (written between the ALTER and the re-install). */
static int
slice_newcol(struct cs_engine *e, const struct tinfo *ti, struct vstate *v,
    struct cs_upgrade_result *res)
{
	sqlite3_stmt *st = NULL, *ck = NULL, *df = NULL, *wst = NULL;
	struct sbuf q = {0}, cond = {0}, any = {0}, wq = {0};
	int *cols = NULL, *diff = NULL;
	int c, k, nk = 0, rc;

	cols = cs_calloc((size_t)(ti->t.ncols ? ti->t.ncols : 1), sizeof(int));
	diff = cs_calloc((size_t)(ti->t.ncols ? ti->t.ncols : 1), sizeof(int));
	if (cols == NULL || diff == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	if ((rc = xprep(e, "SELECT dflt_value FROM pragma_table_info(?1) WHERE name=?2", &df)) < 0)
		goto out;
	for (c = 0; c < ti->t.ncols; c++) {
		if (!has_cid(v->cids, ti->cols[c].cid))
			continue;
		cols[nk++] = c;
		sqlite3_reset(df);
		sqlite3_bind_text(df, 1, ti->t.name, -1, SQLITE_STATIC);
		sqlite3_bind_text(df, 2, ti->cols[c].name, -1, SQLITE_STATIC);
		sadd(&cond, nk > 1 ? ", (t." : "(t.");
		sid(&cond, ti->cols[c].name);
		sadd(&cond, " IS NOT (");
		sadd(&cond,
		    sqlite3_step(df) == SQLITE_ROW && sqlite3_column_type(df, 0) != SQLITE_NULL
		        ? (const char *)sqlite3_column_text(df, 0)
		        : "NULL");
		sadd(&cond, "))");
		sadd(&any, nk > 1 ? " OR (t." : "(t.");
		sid(&any, ti->cols[c].name);
		sadd(&any, " IS NOT (");
		sadd(&any,
		    sqlite3_column_type(df, 0) != SQLITE_NULL
		        ? (const char *)sqlite3_column_text(df, 0)
		        : "NULL");
		sadd(&any, "))");
	}
	if (nk == 0) {
		rc = 1;
		goto out;
	}
	sadd(&q, "SELECT * FROM (SELECT t.");
	sid(&q, ti->t.pk);
	sadd(&q, " AS p, i.rid, i.xv, ");
	sadd(&q, cond.p);
	sadd(&q, ", t.");
	sid(&q, ti->t.scope_col >= 0 ? ti->cols[ti->t.scope_col].name : ti->t.pk);
	sadd(&q, " FROM ");
	sid(&q, ti->t.name);
	sadd(&q, " AS t JOIN cs_ids AS i ON i.tid=");
	sint(&q, ti->t.tid);
	sadd(&q, " AND i.pk=+t.");
	sid(&q, ti->t.pk);
	sadd(&q, " AND (i.cl&1)=1 WHERE (");
	sadd(&q, any.p);
	sadd(&q, ")");
	if (v->pos != NULL) {
		sadd(&q, " AND t.");
		sid(&q, ti->t.pk);
		sadd(&q, " > ?1");
	}
	sadd(&q, " AND t.");
	sid(&q, ti->t.pk);
	sadd(&q, " <= ?2 ORDER BY t.");
	sid(&q, ti->t.pk);
	sadd(&q, ")");
	/* one window of SLICE_ROWS * 64 base rows per slice (the filter above
	 * matches few rows: without a window one statement would read the
	 * whole table, beyond any budget) */
	sadd(&wq, "SELECT max(p) FROM (SELECT ");
	sid(&wq, ti->t.pk);
	sadd(&wq, " AS p FROM ");
	sid(&wq, ti->t.name);
	if (v->pos != NULL) {
		sadd(&wq, " WHERE ");
		sid(&wq, ti->t.pk);
		sadd(&wq, " > ?1");
	}
	sadd(&wq, " ORDER BY ");
	sid(&wq, ti->t.pk);
	sadd(&wq, " LIMIT ");
	sint(&wq, SLICE_ROWS * 64);
	sadd(&wq, ")");
	if (q.err || cond.err || any.err || wq.err) {
		rc = CS_ENOMEM;
		goto out;
	}
	if ((rc = xprep(e, wq.p, &wst)) < 0)
		goto out;
	if (v->pos != NULL)
		sqlite3_bind_value(wst, 1, v->pos);
	rc = sqlite3_step(wst);
	if (rc != SQLITE_ROW) {
		rc = cs_eng_sqfail(e, rc, "scanning new columns");
		goto out;
	}
	if (sqlite3_column_type(wst, 0) == SQLITE_NULL) {
		rc = 1; /* past the last row */
		goto out;
	}
	if ((rc = xprep(e, q.p, &st)) < 0 ||
	    (rc = xprep(e, "SELECT 1 FROM cs_clock WHERE rid=?1 AND cid=?2 AND v>=?3", &ck)) < 0)
		goto out;
	if (v->pos != NULL)
		sqlite3_bind_value(st, 1, v->pos);
	sqlite3_bind_value(st, 2, sqlite3_column_value(wst, 0));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t rid = sqlite3_column_int64(st, 1);
		int nd = 0;

		for (k = 0; k < nk; k++) {
			if (!sqlite3_column_int(st, 3 + k))
				continue;
			/* a clock of this cell: a capture after the re-install, the
			 * value travels with it */
			sqlite3_reset(ck);
			sqlite3_bind_int64(ck, 1, rid);
			sqlite3_bind_int(ck, 2, ti->cols[cols[k]].cid);
			sqlite3_bind_int64(ck, 3, sqlite3_column_int64(st, 2));
			if ((rc = sqlite3_step(ck)) == SQLITE_ROW)
				continue;
			if (rc != SQLITE_DONE) {
				rc = cs_eng_sqfail(e, rc, "reading cs_clock");
				goto out;
			}
			diff[nd++] = cols[k];
		}
		if (nd > 0) {
			res->rows_checked++;
			rc = record_edit(e, ti, rid, diff, nd, sqlite3_column_value(st, 3 + nk));
			if (rc < 0)
				goto out;
			res->rows_fixed++;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = cs_eng_sqfail(e, rc, "scanning new columns");
		goto out;
	}
	/* the window is done; the next slice starts after it */
	rc = set_pos(v, sqlite3_column_value(wst, 0));
out:
	sqlite3_finalize(wst);
	sqlite3_finalize(st);
	sqlite3_finalize(ck);
	sqlite3_finalize(df);
	sfree(&q);
	sfree(&wq);
	sfree(&cond);
	sfree(&any);
	cs_free(cols);
	cs_free(diff);
	return rc;
}

/* Run verification slices until none is pending or the deadline passes.
 * Sets u->pending. */
static int
run_pending(struct cs_engine *e, struct cs_upgrade *u, uint64_t deadline,
    struct cs_upgrade_result *res)
{
	sqlite3_stmt *st = NULL;
	struct vstate v;
	struct tinfo ti;
	int rc, i, done;

	memset(&v, 0, sizeof(v));
	memset(&ti, 0, sizeof(ti));
	u->pending = 0;
	for (;;) {
		sqlite3_value_free(v.pos);
		cs_free(v.cids);
		memset(&v, 0, sizeof(v));
		if ((rc = xprep(e,
		         "SELECT tid, kind, pos, cids FROM cs_upg_tab WHERE kind<>0 ORDER BY tid "
		         "LIMIT 1",
		         &st)) < 0)
			goto out;
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			rc = 0;
			goto out;
		}
		if (rc != SQLITE_ROW) {
			rc = cs_eng_sqfail(e, rc, "reading cs_upg_tab");
			goto out;
		}
		v.tid = sqlite3_column_int(st, 0);
		v.kind = sqlite3_column_int(st, 1);
		if (sqlite3_column_type(st, 2) != SQLITE_NULL &&
		    (v.pos = sqlite3_value_dup(sqlite3_column_value(st, 2))) == NULL) {
			rc = CS_ENOMEM;
			goto out;
		}
		if (sqlite3_column_type(st, 3) != SQLITE_NULL &&
		    (v.cids = cs_strdup((const char *)sqlite3_column_text(st, 3))) == NULL) {
			rc = CS_ENOMEM;
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (deadline != 0 && mono_ms() >= deadline) {
			u->pending = 1;
			rc = 0;
			goto out;
		}
		i = tab_by_tid(e, v.tid);
		if (i < 0) {
			v.kind = V_NONE; /* no longer tracked */
			if ((rc = save_vstate(e, &v)) < 0)
				goto out;
			continue;
		}
		if ((rc = tinfo_load(e, i, &ti)) < 0)
			goto out;
		done = v.kind == V_ROWS ? slice_rows(e, u, &ti, &v, res)
		    : v.kind == V_GONE  ? slice_gone(e, &ti, &v, res)
		                        : slice_newcol(e, &ti, &v, res);
		tinfo_free(&ti);
		if (done < 0) {
			rc = done;
			goto out;
		}
		if (done) {
			v.kind = v.kind == V_ROWS ? V_GONE : V_NONE;
			sqlite3_value_free(v.pos);
			v.pos = NULL;
		}
		if ((rc = save_vstate(e, &v)) < 0)
			goto out;
	}
out:
	sqlite3_finalize(st);
	sqlite3_value_free(v.pos);
	cs_free(v.cids);
	tinfo_free(&ti);
	return rc;
}

/*
 * Bring the hashes up to date: every row record changed since hash_v
 * (captured or applied while the triggers were in place, so the engine knows
 * these values). Only while no verification is pending: the old hashes are
 * what a verification compares with.
 */
static int
refresh(struct cs_engine *e, struct cs_upgrade *u, uint64_t deadline)
{
	sqlite3_stmt *st = NULL, **sel = NULL, *del = NULL;
	struct tinfo *tis = NULL;
	int64_t hv, last;
	int nt = cs_eng_ntabs(e), i, rc, more = 1;

	if ((rc = meta_int(e, "hash_v", &hv)) < 0)
		return rc;
	last = hv;
	sel = cs_calloc((size_t)nt, sizeof(*sel));
	tis = cs_calloc((size_t)nt, sizeof(*tis));
	if (sel == NULL || tis == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	for (i = 0; i < nt; i++)
		tis[i].idx = -1;
	if ((rc = xprep(e,
	         "SELECT rid, tid, pk, cl, v FROM cs_ids WHERE v > ?1 ORDER BY v LIMIT 512", &st)) <
	        0 ||
	    (rc = xprep(e, "DELETE FROM cs_rowhash WHERE rid=?1", &del)) < 0)
		goto out;
	while (more) {
		int n = 0;

		if (deadline != 0 && mono_ms() >= deadline)
			break;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, last);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t rid = sqlite3_column_int64(st, 0);
			int ti = tab_by_tid(e, sqlite3_column_int(st, 1));
			uint8_t *blob = NULL;
			size_t blen;

			n++;
			last = sqlite3_column_int64(st, 4);
			if (ti < 0)
				continue;
			if ((sqlite3_column_int64(st, 3) & 1) == 0 ||
			    sqlite3_column_type(st, 2) == SQLITE_NULL) {
				sqlite3_reset(del);
				sqlite3_bind_int64(del, 1, rid);
				if ((rc = sqlite3_step(del)) != SQLITE_DONE) {
					rc = cs_eng_sqfail(e, rc, "writing cs_rowhash");
					goto out;
				}
				continue;
			}
			if (tis[ti].idx < 0) {
				if ((rc = tinfo_load(e, ti, &tis[ti])) < 0)
					goto out;
				if (tis[ti].t.internal)
					continue;
				if ((rc = prep_row_select(e, &tis[ti], &sel[ti])) < 0)
					goto out;
			}
			if (tis[ti].t.internal)
				continue;
			sqlite3_reset(sel[ti]);
			if ((rc = sqlite3_bind_value(sel[ti], 1, sqlite3_column_value(st, 2))) !=
			    SQLITE_OK) {
				rc = cs_eng_sqfail(e, rc, "reading a row to hash");
				goto out;
			}
			/* an error here (SQLITE_NOMEM) may have rolled the whole
			 * transaction back: never taken for a missing row (bug 8) */
			if ((rc = sqlite3_step(sel[ti])) == SQLITE_DONE)
				continue; /* base row missing: a verification will see it */
			if (rc != SQLITE_ROW) {
				rc = cs_eng_sqfail(e, rc, "reading a row to hash");
				goto out;
			}
			rc = row_blob(u, &tis[ti], sel[ti], 0, &blob, &blen);
			if (rc == 0)
				rc = put_hash(e, u, rid, blob, blen);
			cs_free(blob);
			if (rc < 0)
				goto out;
		}
		if (rc != SQLITE_DONE) {
			rc = cs_eng_sqfail(e, rc, "reading cs_ids");
			goto out;
		}
		more = n == 512;
	}
	/* every caller runs this inside its write transaction: if SQLite rolled
	 * it back on an error, a write now would commit on its own */
	if (sqlite3_get_autocommit(cs_engine_handle(e))) {
		rc = cs_eng_fail(e, CS_SQL_ESQLITE, "the transaction was rolled back by SQLite");
		goto out;
	}
	rc = last != hv ? meta_set(e, "hash_v", last) : 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	if (sel != NULL)
		for (i = 0; i < nt; i++)
			sqlite3_finalize(sel[i]);
	if (tis != NULL)
		for (i = 0; i < nt; i++)
			tinfo_free(&tis[i]);
	cs_free(sel);
	cs_free(tis);
	return rc;
}

/* ---- detection ---------------------------------------------------------- */

static int
table_root(struct cs_engine *e, const char *name, int64_t *root, int64_t *ntrig)
{
	int rc;

	if ((rc = qint(e, "SELECT rootpage FROM sqlite_master WHERE type='table' AND name=?1", name,
	         root)) < 0)
		return rc;
	return qint(e,
	    "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND tbl_name=?1 AND "
	    "name LIKE 'cs\\_%' ESCAPE '\\' AND name NOT LIKE 'cs\\_ro\\_%' ESCAPE '\\'",
	    name, ntrig);
}

/* A 63-bit fingerprint of the tables INI (a change means: reload). */
static int64_t
ini_fingerprint(struct cs_engine *e, struct cs_upgrade *u)
{
	crypto_generichash_state h;
	uint8_t out[16], buf[4096];
	struct stat sb;
	FILE *f = fopen(cs_eng_ini_path(e), "r");
	size_t n;
	uint64_t v = 0;
	int i;

	if (f == NULL)
		return 0;
	if (fstat(fileno(f), &sb) == 0) {
		u->ini_mtime = sb.st_mtim;
		u->ini_size = sb.st_size;
	}
	crypto_generichash_init(&h, NULL, 0, sizeof(out));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crypto_generichash_update(&h, buf, n);
	fclose(f);
	crypto_generichash_final(&h, out, sizeof(out));
	for (i = 0; i < 8; i++)
		v = (v << 8) | out[i];
	return (int64_t)(v & INT64_MAX);
}

static int
ini_stat_changed(struct cs_engine *e, const struct cs_upgrade *u)
{
	struct stat sb;

	if (stat(cs_eng_ini_path(e), &sb) != 0)
		return 0;
	return sb.st_size != u->ini_size || sb.st_mtim.tv_sec != u->ini_mtime.tv_sec ||
	    sb.st_mtim.tv_nsec != u->ini_mtime.tv_nsec;
}

/*
 * Compare each tracked table with what the last check recorded: a new table
 * (register its rows, release rows held for it), a rebuilt one (root page
 * changed or capture triggers gone: full verification), new columns (scan
 * them). btid/bntrig: capture triggers per table id counted before they
 * were re-created (nb = 0: unknown, the root page alone decides).
 */
static int
reconcile(struct cs_engine *e, const int *btid, const int64_t *bntrig, int nb,
    struct cs_upgrade_result *res, int register_new)
{
	sqlite3_stmt *rd = NULL, *wr = NULL, *rel = NULL;
	struct tinfo ti;
	int i, c, rc = 0;

	memset(&ti, 0, sizeof(ti));
	if ((rc = xprep(e, "SELECT root, ntrig, known, kind, cids FROM cs_upg_tab WHERE tid=?1",
	         &rd)) < 0 ||
	    (rc = xprep(e,
	         "INSERT OR REPLACE INTO cs_upg_tab(tid, root, ntrig, known, kind, pos, cids) "
	         "VALUES(?1, ?2, ?3, ?4, ?5, (SELECT pos FROM cs_upg_tab WHERE tid=?1 AND "
	         "kind=?5), "
	         "?6)",
	         &wr)) < 0 ||
	    (rc = xprep(e,
	         "UPDATE cs_held SET until_ms=0 WHERE kind=0 AND tbl=?1 AND wait_gid IS NULL AND "
	         "until_ms IS NULL",
	         &rel)) < 0)
		goto out;
	for (i = 0; i < cs_eng_ntabs(e); i++) {
		struct sbuf known = {0}, added = {0};
		int64_t root, ntrig, kind = V_NONE;
		int found, rebuilt = 0, nadd = 0;
		const char *cids = NULL;

		if ((rc = tinfo_load(e, i, &ti)) < 0)
			goto out;
		if (ti.t.internal) {
			tinfo_free(&ti);
			continue;
		}
		if ((rc = table_root(e, ti.t.name, &root, &ntrig)) < 0)
			goto out2;
		sqlite3_reset(rd);
		sqlite3_bind_int(rd, 1, ti.t.tid);
		if ((rc = sqlite3_step(rd)) != SQLITE_ROW && rc != SQLITE_DONE) {
			rc = cs_eng_sqfail(e, rc, "reading cs_upg_tab");
			goto out2;
		}
		found = rc == SQLITE_ROW;
		sadd(&known, ",");
		sadd(&added, ",");
		for (c = 0; c < ti.t.ncols; c++) {
			sint(&known, ti.cols[c].cid);
			sadd(&known, ",");
			if (found &&
			    !has_cid((const char *)sqlite3_column_text(rd, 2), ti.cols[c].cid)) {
				sint(&added, ti.cols[c].cid);
				sadd(&added, ",");
				nadd++;
			}
		}
		if (!found) {
			if (register_new && (rc = cs_eng_register_existing(e, i)) < 0)
				goto out2;
			res->tables_added++;
		} else {
			kind = sqlite3_column_int64(rd, 3);
			rebuilt = sqlite3_column_int64(rd, 0) != root;
			for (c = 0; c < nb; c++)
				if (btid[c] == ti.t.tid && bntrig[c] < sqlite3_column_int64(rd, 1))
					rebuilt = 1;
			if (kind == V_NEWCOL && sqlite3_column_type(rd, 4) != SQLITE_NULL)
				sadd(&added, (const char *)sqlite3_column_text(rd, 4) + 1);
		}
		if (rebuilt) {
			kind = V_ROWS;
			res->tables_rebuilt++;
		} else if (nadd > 0 && (kind == V_NONE || kind == V_NEWCOL)) {
			kind = V_NEWCOL;
		}
		res->columns_added += (uint32_t)nadd;
		if (kind == V_NEWCOL)
			cids = added.p;
		/* rows that waited for this table to be tracked apply now */
		sqlite3_reset(rel);
		sqlite3_bind_text(rel, 1, ti.t.name, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(rel)) != SQLITE_DONE) {
			rc = cs_eng_sqfail(e, rc, "releasing held rows");
			goto out2;
		}
		sqlite3_reset(rd);
		sqlite3_reset(wr);
		sqlite3_clear_bindings(wr);
		sqlite3_bind_int(wr, 1, ti.t.tid);
		sqlite3_bind_int64(wr, 2, root);
		sqlite3_bind_int64(wr, 3, ntrig);
		sqlite3_bind_text(wr, 4, known.p, -1, SQLITE_STATIC);
		sqlite3_bind_int64(wr, 5, kind);
		if (cids != NULL)
			sqlite3_bind_text(wr, 6, cids, -1, SQLITE_STATIC);
		rc = known.err || added.err ? CS_ENOMEM : 0;
		if (rc == 0 && (rc = sqlite3_step(wr)) != SQLITE_DONE)
			rc = cs_eng_sqfail(e, rc, "writing cs_upg_tab");
		else if (rc == SQLITE_DONE)
			rc = 0;
		sqlite3_reset(wr);
		sqlite3_clear_bindings(wr);
out2:
		sfree(&known);
		sfree(&added);
		tinfo_free(&ti);
		if (rc < 0)
			goto out;
	}
out:
	sqlite3_finalize(rd);
	sqlite3_finalize(wr);
	sqlite3_finalize(rel);
	tinfo_free(&ti);
	return rc;
}

static int
ensure_tables(struct cs_engine *e, struct cs_upgrade *u)
{
	int64_t n;
	int rc;

	if ((rc = qint(e,
	         "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
	         "('cs_rowhash', 'cs_upg_tab', 'cs_xcell')",
	         NULL, &n)) < 0)
		return rc;
	if (n < 3) {
		sqlite3_finalize(u->put);
		u->put = NULL;
		u->have_key = 0;
		if ((rc = xexec(e, upg_schema)) < 0)
			return rc;
	}
	if ((rc = qint(e, "SELECT EXISTS (SELECT 1 FROM cs_xcell)", NULL, &n)) < 0)
		return rc;
	u->any_kept = n > 0;
	return load_key(e, u);
}

/*
 * A 63-bit fingerprint of the tracked tables' schema: for each table its
 * sqlite_master entries (the table with its root page, its indexes, its
 * triggers, the capture triggers among them), in a fixed order. ADD COLUMN
 * changes the table's SQL, a rebuild its root page and its triggers. Not
 * PRAGMA schema_version: that counter also moves when nothing the engine
 * cares about changed (another table, a backup copy, VACUUM), and a stored
 * copy of it would make the engine write to follow it.
 */
static int
schema_fp(struct cs_engine *e, int64_t *fp)
{
	crypto_generichash_state h;
	sqlite3_stmt *st = NULL;
	struct cs_eng_tab t;
	uint8_t out[16];
	uint64_t v = 0;
	int i, c, rc;

	*fp = 0;
	if ((rc = xprep(e,
	         "SELECT type, name, rootpage, sql FROM sqlite_master WHERE tbl_name=?1 "
	         "AND NOT (type='trigger' AND name LIKE 'cs\\_ro\\_%' ESCAPE '\\') "
	         "ORDER BY type, name",
	         &st)) < 0)
		return rc;
	crypto_generichash_init(&h, NULL, 0, sizeof(out));
	for (i = 0; i < cs_eng_ntabs(e); i++) {
		cs_eng_tab(e, i, &t);
		if (t.internal)
			continue;
		crypto_generichash_update(&h, (const uint8_t *)t.name, strlen(t.name) + 1);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, t.name, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			for (c = 0; c < 4; c++) {
				const uint8_t *p = sqlite3_column_text(st, c);
				size_t n = (size_t)sqlite3_column_bytes(st, c);

				if (p == NULL)
					p = (const uint8_t *)"";
				crypto_generichash_update(&h, p, n);
				crypto_generichash_update(&h, (const uint8_t *)"", 1);
			}
		if (rc != SQLITE_DONE) {
			sqlite3_finalize(st);
			return cs_eng_sqfail(e, rc, "reading the schema");
		}
	}
	sqlite3_finalize(st);
	crypto_generichash_final(&h, out, sizeof(out));
	for (i = 0; i < 8; i++)
		v = (v << 8) | out[i];
	*fp = (int64_t)(v & INT64_MAX);
	return 0;
}

/* After a check, inside its transaction: the fingerprints it leaves. */
static int
store_marks(struct cs_engine *e, struct cs_upgrade *u)
{
	int64_t cookie, fp;
	int rc;

	if ((rc = qint(e, "PRAGMA schema_version", NULL, &cookie)) < 0 ||
	    (rc = schema_fp(e, &fp)) < 0 || (rc = meta_set(e, "schema_fp", fp)) < 0 ||
	    (rc = meta_set(e, "ini_hash", ini_fingerprint(e, u))) < 0)
		return rc;
	u->cookie = cookie;
	u->fp_known = fp;
	return 0;
}

/*
 * Read only: 1 when a check has work to do (the tracked schema or the INI
 * differ from the stored fingerprints, this module's tables or key are
 * missing, a verification is pending), 0 when not, < 0 on error. The answer
 * is cached under PRAGMA schema_version and the INI's size and mtime, so the
 * usual call costs one pragma and one stat. Also loads pending, any_kept
 * and the key from the database.
 */
static int
need_check(struct cs_engine *e, struct cs_upgrade *u)
{
	int64_t cookie, n, fp, stored, ini_stored;
	int rc;

	if ((rc = qint(e, "PRAGMA schema_version", NULL, &cookie)) < 0)
		return rc;
	if (u->force_reload)
		return 1;
	if (cookie == u->cookie && !ini_stat_changed(e, u))
		return u->pending;
	u->cookie = -1;
	if ((rc = qint(e,
	         "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
	         "('cs_rowhash', 'cs_upg_tab', 'cs_xcell')",
	         NULL, &n)) < 0)
		return rc;
	if (n < 3)
		return 1;
	if ((rc = read_key(e, u)) < 0)
		return rc;
	if (!u->have_key)
		return 1;
	if ((rc = qint(e, "SELECT EXISTS (SELECT 1 FROM cs_upg_tab WHERE kind<>0)", NULL, &n)) < 0)
		return rc;
	u->pending = n > 0;
	if ((rc = qint(e, "SELECT EXISTS (SELECT 1 FROM cs_xcell)", NULL, &n)) < 0)
		return rc;
	u->any_kept = n > 0;
	if ((rc = schema_fp(e, &fp)) < 0 || (rc = meta_int(e, "schema_fp", &stored)) < 0 ||
	    (rc = meta_int(e, "ini_hash", &ini_stored)) < 0)
		return rc;
	if (fp != stored || ini_fingerprint(e, u) != ini_stored)
		return 1;
	if (u->fp_known != 0 && u->fp_known != fp) {
		/* another process (cabsync db check) took an upgrade in: this
		 * engine's description is older than the database's */
		u->force_reload = 1;
		return 1;
	}
	u->fp_known = fp;
	u->cookie = cookie;
	return u->pending;
}

/* ---- devices on an older app version ----------------------------------- */

int
cs_upgrade_name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || strncmp(name, "cs_", 3) == 0)
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (i >= 64 ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		        (i > 0 && c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

int
cs_upgrade_check_cell(struct cs_engine *e, const struct cs_changeset *cs, const struct cs_cell *c,
    const char *table)
{
	if (c->dot.dev >= cs->ndevs || c->dot.n == 0 || c->dot.n > INT64_MAX || c->hlc > INT64_MAX)
		return cs_eng_fail(e, CS_SQL_EBATCH, "batch refused: a cell of %s has a bad dot",
		    table);
	if (c->v.type > CS_V_REF)
		return cs_eng_fail(e, CS_SQL_EBATCH,
		    "batch refused: a cell of %s has an unknown value type", table);
	if ((c->v.type == CS_V_TEXT || c->v.type == CS_V_BLOB || c->v.type == CS_V_REF) &&
	    ((c->v.p == NULL && c->v.len > 0) || c->v.len > INT32_MAX ||
	        (c->v.type == CS_V_REF && c->v.len != CS_GID_LEN)))
		return cs_eng_fail(e, CS_SQL_EBATCH, "batch refused: a cell of %s has a bad value",
		    table);
	return 0;
}

int
cs_upgrade_check_foreign_row(struct cs_engine *e, const struct cs_changeset *cs, uint32_t ri)
{
	const struct cs_row *r = &cs->rows[ri];
	const struct cs_tabdef *td = &cs->tables[r->table];
	uint32_t k;
	int rc;

	if (r->cl == 0 || r->cl > INT64_MAX || r->ex_dot.dev >= cs->ndevs || r->ex_dot.n == 0 ||
	    r->ex_dot.n > INT64_MAX || r->ex_hlc > INT64_MAX)
		return cs_eng_fail(e, CS_SQL_EBATCH,
		    "batch refused: row %u of %s has a bad causal length or existence entry", ri,
		    td->name);
	if (r->ncells > cs->ncells || r->cell_first > cs->ncells - r->ncells || r->nvv > cs->nvv ||
	    r->vv_first > cs->nvv - r->nvv)
		return cs_eng_fail(e, CS_SQL_EBATCH,
		    "batch refused: row %u of %s has cells or a vector outside the batch", ri,
		    td->name);
	if ((r->cl & 1) == 0 && r->ncells > 0)
		return cs_eng_fail(e, CS_SQL_EBATCH,
		    "batch refused: row %u of %s is deleted (even causal length) but has cells", ri,
		    td->name);
	for (k = 0; k < r->nvv; k++)
		if (cs->vv[r->vv_first + k].dev >= cs->ndevs ||
		    cs->vv[r->vv_first + k].n > INT64_MAX)
			return cs_eng_fail(e, CS_SQL_EBATCH,
			    "batch refused: row %u of %s has a bad vector entry", ri, td->name);
	for (k = 0; k < r->ncells; k++) {
		const struct cs_cell *c = &cs->cells[r->cell_first + k];

		if (c->col >= td->ncols || !cs_upgrade_name_ok(td->cols[c->col]))
			return cs_eng_fail(e, CS_SQL_EBATCH,
			    "batch refused: a cell of %s names a bad column", td->name);
		if ((rc = cs_upgrade_check_cell(e, cs, c, td->name)) < 0)
			return rc;
	}
	return 0;
}

static void
bind_cell_value(sqlite3_stmt *st, int idx, const struct cs_value *v)
{
	switch (v->type) {
	case CS_V_INT:
		sqlite3_bind_int64(st, idx, v->u.i);
		break;
	case CS_V_REAL:
		sqlite3_bind_double(st, idx, v->u.r);
		break;
	case CS_V_TEXT:
		sqlite3_bind_text(st, idx, v->len ? (const char *)v->p : "", (int)v->len,
		    SQLITE_STATIC);
		break;
	case CS_V_BLOB:
	case CS_V_REF:
		sqlite3_bind_blob(st, idx, v->len ? (const void *)v->p : "", (int)v->len,
		    SQLITE_STATIC);
		break;
	default:
		sqlite3_bind_null(st, idx);
	}
}

int
cs_upgrade_keep_cells(struct cs_engine *e, const struct cs_changeset *cs, uint32_t ri,
    const int *cm, int64_t rid, uint64_t maxh)
{
	const struct cs_row *r = &cs->rows[ri];
	const struct cs_tabdef *td = &cs->tables[r->table];
	sqlite3_stmt *st = NULL;
	struct cs_upgrade *u;
	struct cs_eng_tab t;
	int ti, rc = 0, changed = 0;
	uint32_t k;

	for (k = 0; k < r->ncells; k++)
		if (cm[cs->cells[r->cell_first + k].col] < 0)
			break;
	if (k == r->ncells)
		return 0; /* the common case: every column known */
	if ((u = up_get(e)) == NULL)
		return CS_ENOMEM;
	if ((rc = ensure_tables(e, u)) < 0)
		return rc;
	ti = -1;
	for (ti = 0; ti < cs_eng_ntabs(e); ti++) {
		cs_eng_tab(e, ti, &t);
		if (strcmp(t.name, td->name) == 0)
			break;
	}
	if (ti == cs_eng_ntabs(e))
		return 0;
	/* last writer wins on (CL, hlc, device): a higher CL supersedes */
	rc = xprep(e,
	    "INSERT INTO cs_xcell(gid, tid, col, cl, t, val, h, dev, n) VALUES(?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, ?8, ?9) ON CONFLICT(gid, col) DO UPDATE SET tid=excluded.tid, "
	    "cl=excluded.cl, t=excluded.t, val=excluded.val, h=excluded.h, dev=excluded.dev, "
	    "n=excluded.n WHERE (excluded.cl, excluded.h, excluded.dev) > (cl, h, dev)",
	    &st);
	if (rc < 0)
		return rc;
	for (k = 0; k < r->ncells; k++) {
		const struct cs_cell *c = &cs->cells[r->cell_first + k];

		if (cm[c->col] >= 0)
			continue;
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_blob(st, 1, r->gid, CS_GID_LEN, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, t.tid);
		sqlite3_bind_text(st, 3, td->cols[c->col], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (int64_t)r->cl);
		sqlite3_bind_int(st, 5, (int)c->v.type);
		bind_cell_value(st, 6, &c->v);
		sqlite3_bind_int64(st, 7, (int64_t)c->hlc);
		sqlite3_bind_blob(st, 8, cs->devs[c->dot.dev], CS_DEVID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 9, (int64_t)c->dot.n);
		if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
			rc = cs_eng_sqfail(e, rc, "keeping a cell of a newer app version");
			goto out;
		}
		changed += sqlite3_changes(cs_engine_handle(e)) > 0;
		u->any_kept = 1;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = 0;
	if (changed && rid != 0) {
		/* a kept cell is news for a third device: the row travels on */
		if ((rc = xprep(e, "UPDATE cs_ids SET v=?2, h=max(h, ?3) WHERE rid=?1", &st)) < 0)
			goto out;
		sqlite3_bind_int64(st, 1, rid);
		sqlite3_bind_int64(st, 2, (int64_t)cs_eng_take_v(e));
		sqlite3_bind_int64(st, 3, (int64_t)maxh);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : cs_eng_sqfail(e, SQLITE_ERROR, "cs_ids");
	}
out:
	sqlite3_finalize(st);
	return rc;
}

int
cs_upgrade_extract_kept(struct cs_engine *e, struct cs_changeset *out, uint32_t ti,
    const uint8_t gid[CS_GID_LEN], uint64_t cl, const uint8_t *for_dev)
{
	struct cs_upgrade *u = up_get(e);
	sqlite3_stmt *st = NULL;
	int rc;

	if (u == NULL)
		return CS_ENOMEM;
	if (!u->any_kept)
		return 0;
	if ((rc = xprep(e, "SELECT col, t, val, h, dev, n FROM cs_xcell WHERE gid=?1 AND cl=?2",
	         &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, gid, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)cl);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cs_value v;
		struct cs_dot d;
		int c, dv;

		if (sqlite3_column_bytes(st, 4) != CS_DEVID_LEN)
			continue;
		if (for_dev != NULL &&
		    memcmp(sqlite3_column_blob(st, 4), for_dev, CS_DEVID_LEN) == 0)
			continue;
		memset(&v, 0, sizeof(v));
		v.type = (enum cs_vtype)sqlite3_column_int(st, 1);
		if (v.type == CS_V_INT)
			v.u.i = sqlite3_column_int64(st, 2);
		else if (v.type == CS_V_REAL)
			v.u.r = sqlite3_column_double(st, 2);
		else if (v.type == CS_V_TEXT || v.type == CS_V_BLOB || v.type == CS_V_REF) {
			v.p = v.type == CS_V_TEXT ? sqlite3_column_text(st, 2)
			                          : sqlite3_column_blob(st, 2);
			v.len = (size_t)sqlite3_column_bytes(st, 2);
		}
		c = cs_changeset_col(out, ti, (const char *)sqlite3_column_text(st, 0));
		dv = cs_changeset_dev(out, sqlite3_column_blob(st, 4));
		if (c < 0 || dv < 0) {
			rc = CS_ENOMEM;
			goto out;
		}
		d.dev = (uint32_t)dv;
		d.n = (uint64_t)sqlite3_column_int64(st, 5);
		if ((rc = cs_changeset_cell(out, (uint32_t)c, &v,
		         (uint64_t)sqlite3_column_int64(st, 3), d)) < 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : cs_eng_sqfail(e, rc, "reading cs_xcell");
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * After an upgrade added columns: the cells kept aside for them go into the
 * base table (apply mode: not captured), with their dots, unless a local
 * clock of the cell is newer (LWW on hlc, device). A REF whose parent is not
 * here yet stays aside for a later check. Only when no verification is
 * pending (a missed local write of the new column is recorded first).
 */
static int
bring_in(struct cs_engine *e, struct cs_upgrade *u)
{
	sqlite3_stmt *st = NULL, *q = NULL, *w = NULL;
	struct tinfo ti;
	struct sbuf sql = {0};
	int i, c, rc = 0, left = 0;

	memset(&ti, 0, sizeof(ti));
	if (!u->any_kept)
		return 0;
	for (i = 0; i < cs_eng_ntabs(e) && rc == 0; i++) {
		if ((rc = tinfo_load(e, i, &ti)) < 0)
			break;
		for (c = 0; c < ti.t.ncols && rc == 0; c++) {
			sfree(&sql);
			sadd(&sql, "UPDATE ");
			sid(&sql, ti.t.name);
			sadd(&sql, " SET ");
			sid(&sql, ti.cols[c].name);
			sadd(&sql,
			    ti.cols[c].fk_tid ? "=(SELECT pk FROM cs_ids WHERE gid=?1) WHERE "
			                      : "=?1 WHERE ");
			sid(&sql, ti.t.pk);
			sadd(&sql, "=?2");
			if (sql.err) {
				rc = CS_ENOMEM;
				break;
			}
			sqlite3_finalize(w);
			w = NULL;
			sqlite3_finalize(st);
			st = NULL;
			if ((rc = xprep(e, sql.p, &w)) < 0)
				break;
			rc = xprep(e,
			    "SELECT x.gid, x.t, x.val, x.h, x.dev, x.n, i.rid, i.pk, i.xs, i.xn, "
			    "i.xv, "
			    "(SELECT s.dev FROM cs_sites AS s WHERE s.site=i.xs), (SELECT site "
			    "FROM "
			    "cs_sites WHERE dev=x.dev), k.h, (SELECT s.dev FROM cs_sites AS s "
			    "WHERE "
			    "s.site=k.s), (x.t<>5 OR EXISTS (SELECT 1 FROM cs_ids AS p WHERE "
			    "p.gid=x.val "
			    "AND (p.cl&1)=1 AND p.pk IS NOT NULL)) FROM cs_xcell AS x JOIN cs_ids "
			    "AS i "
			    "ON i.gid=x.gid AND i.cl=x.cl AND i.pk IS NOT NULL LEFT JOIN cs_clock "
			    "AS k "
			    "ON k.rid=i.rid AND k.cid=?2 AND k.v>=i.xv WHERE x.tid=?1 AND x.col=?3",
			    &st);
			if (rc < 0)
				break;
			sqlite3_bind_int(st, 1, ti.t.tid);
			sqlite3_bind_int(st, 2, ti.cols[c].cid);
			sqlite3_bind_text(st, 3, ti.cols[c].name, -1, SQLITE_STATIC);
			while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				int take, same_ex;
				int64_t m, h;

				if (!sqlite3_column_int(st, 15)) {
					left++; /* parent not here yet */
					continue;
				}
				take = sqlite3_column_type(st, 13) == SQLITE_NULL;
				if (!take) {
					int64_t lh = sqlite3_column_int64(st, 13),
					        xh = sqlite3_column_int64(st, 3);

					take = xh > lh ||
					    (xh == lh &&
					        sqlite3_column_bytes(st, 14) == CS_DEVID_LEN &&
					        memcmp(sqlite3_column_blob(st, 4),
					            sqlite3_column_blob(st, 14), CS_DEVID_LEN) > 0);
				}
				if (!take)
					continue;
				sqlite3_reset(w);
				sqlite3_bind_value(w, 1, sqlite3_column_value(st, 2));
				sqlite3_bind_value(w, 2, sqlite3_column_value(st, 7));
				{
					char fl[80];

					snprintf(fl, sizeof(fl),
					    "INSERT OR IGNORE INTO cs_apply(tid, pk) VALUES(%d, "
					    "'*')",
					    ti.t.tid);
					if ((rc = xexec(e, fl)) < 0)
						goto out;
					rc = sqlite3_step(w);
					snprintf(fl, sizeof(fl),
					    "DELETE FROM cs_apply WHERE tid=%d", ti.t.tid);
					if (rc != SQLITE_DONE) {
						rc = cs_eng_sqfail(e, rc, "writing a kept cell");
						goto out;
					}
					if ((rc = xexec(e, fl)) < 0)
						goto out;
				}
				same_ex = sqlite3_column_bytes(st, 11) == CS_DEVID_LEN &&
				    memcmp(sqlite3_column_blob(st, 11), sqlite3_column_blob(st, 4),
				        CS_DEVID_LEN) == 0 &&
				    sqlite3_column_int64(st, 9) == sqlite3_column_int64(st, 5);
				if ((rc = next_mh(e, &m, &h)) < 0)
					goto out;
				if (!same_ex) {
					sqlite3_stmt *k = NULL;

					if ((rc = xprep(e,
					         "INSERT OR REPLACE INTO cs_clock(rid, cid, s, n, "
					         "h, v) "
					         "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
					         &k)) < 0)
						goto out;
					sqlite3_bind_int64(k, 1, sqlite3_column_int64(st, 6));
					sqlite3_bind_int(k, 2, ti.cols[c].cid);
					sqlite3_bind_value(k, 3, sqlite3_column_value(st, 12));
					sqlite3_bind_value(k, 4, sqlite3_column_value(st, 5));
					sqlite3_bind_value(k, 5, sqlite3_column_value(st, 3));
					sqlite3_bind_int64(k, 6, m);
					rc = sqlite3_step(k);
					sqlite3_finalize(k);
					if (rc != SQLITE_DONE) {
						rc = cs_eng_sqfail(e, rc,
						    "writing a kept cell's clock");
						goto out;
					}
				}
				{
					sqlite3_stmt *k = NULL;

					if ((rc = xprep(e, "UPDATE cs_ids SET v=?2 WHERE rid=?1",
					         &k)) < 0)
						goto out;
					sqlite3_bind_int64(k, 1, sqlite3_column_int64(st, 6));
					sqlite3_bind_int64(k, 2, m);
					rc = sqlite3_step(k);
					sqlite3_finalize(k);
					if (rc != SQLITE_DONE) {
						rc = cs_eng_sqfail(e, rc, "writing cs_ids");
						goto out;
					}
				}
			}
			if (rc != SQLITE_DONE) {
				rc = cs_eng_sqfail(e, rc, "reading cs_xcell");
				break;
			}
			rc = 0;
			/* taken, lost, or stale (another incarnation of the row) */
			sqlite3_finalize(q);
			q = NULL;
			if ((rc = xprep(e,
			         "DELETE FROM cs_xcell WHERE tid=?1 AND col=?2 AND NOT (t=5 AND "
			         "NOT EXISTS (SELECT 1 FROM cs_ids AS p WHERE p.gid=cs_xcell.val "
			         "AND "
			         "(p.cl&1)=1 AND p.pk IS NOT NULL) AND EXISTS (SELECT 1 FROM "
			         "cs_ids AS i "
			         "WHERE i.gid=cs_xcell.gid AND i.cl=cs_xcell.cl))",
			         &q)) < 0)
				break;
			sqlite3_bind_int(q, 1, ti.t.tid);
			sqlite3_bind_text(q, 2, ti.cols[c].name, -1, SQLITE_STATIC);
			if ((rc = sqlite3_step(q)) != SQLITE_DONE) {
				rc = cs_eng_sqfail(e, rc, "writing cs_xcell");
				break;
			}
			rc = 0;
		}
		tinfo_free(&ti);
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(q);
	sqlite3_finalize(w);
	tinfo_free(&ti);
	sfree(&sql);
	if (rc == 0) {
		int64_t n = 0;

		rc = qint(e, "SELECT count(*) FROM cs_xcell", NULL, &n);
		u->any_kept = n > 0;
	}
	(void)left;
	return rc;
}

int
cs_upgrade_installed(struct cs_engine *e)
{
	struct cs_upgrade *u = up_get(e);
	struct cs_upgrade_result res;
	int rc;

	if (u == NULL)
		return CS_ENOMEM;
	memset(&res, 0, sizeof(res));
	if ((rc = ensure_tables(e, u)) < 0 || (rc = reconcile(e, NULL, NULL, 0, &res, 0)) < 0 ||
	    (rc = run_pending(e, u, 0, &res)) < 0)
		return rc;
	if ((rc = refresh(e, u, 0)) < 0)
		return rc;
	return store_marks(e, u);
}

/*
 * Inside the apply transaction, before its commit: the hashes of every row
 * record written since hash_v (this apply's rows, and local captures made
 * since the last apply or check). cs_upgrade_apply_begin ran a check in
 * this same transaction when one was needed, so nothing is pending and the
 * capture triggers were in place for all of these writes.
 */
int
cs_upgrade_applied(struct cs_engine *e)
{
	struct cs_upgrade *u = up_get(e);

	if (u == NULL)
		return CS_ENOMEM;
	if (u->busy || u->pending || u->cookie < 0 || !u->have_key)
		return 0; /* (not installed) the hashes wait for the next check */
	return refresh(e, u, 0);
}

static int
check_txn(struct cs_engine *e, struct cs_upgrade *u, uint64_t deadline,
    struct cs_upgrade_result *res)
{
	int64_t fp, stored, ini_stored, *ntrig = NULL, root;
	int *tids = NULL;
	struct cs_eng_tab t;
	int rc, i, n = 0;

	if ((rc = ensure_tables(e, u)) < 0)
		return rc;
	if ((rc = schema_fp(e, &fp)) < 0 || (rc = meta_int(e, "schema_fp", &stored)) < 0 ||
	    (rc = meta_int(e, "ini_hash", &ini_stored)) < 0)
		return rc;
	if (fp != stored || ini_fingerprint(e, u) != ini_stored || u->force_reload) {
		res->schema_changed = 1;
		/* capture triggers present now, before they are re-created */
		n = cs_eng_ntabs(e);
		ntrig = cs_calloc((size_t)(n ? n : 1), sizeof(*ntrig));
		tids = cs_calloc((size_t)(n ? n : 1), sizeof(*tids));
		if (ntrig == NULL || tids == NULL) {
			rc = CS_ENOMEM;
			goto out;
		}
		for (i = 0; i < n; i++) {
			cs_eng_tab(e, i, &t);
			tids[i] = t.tid;
			if ((rc = table_root(e, t.name, &root, &ntrig[i])) < 0)
				goto out;
		}
		if ((rc = cs_eng_reload(e)) < 0 || (rc = reconcile(e, tids, ntrig, n, res, 1)) < 0)
			goto out;
	}
	if ((rc = run_pending(e, u, deadline, res)) < 0)
		goto out;
	if (!u->pending && (rc = refresh(e, u, deadline)) < 0)
		goto out;
	if (!u->pending && (rc = bring_in(e, u)) < 0)
		goto out;
	rc = store_marks(e, u);
	if (rc == 0)
		u->force_reload = 0;
out:
	cs_free(ntrig);
	cs_free(tids);
	return rc;
}

/* A check's transaction was rolled back: what this module and the engine
 * hold in memory may be ahead of the database (a reload, a new key). */
static void
forget(struct cs_upgrade *u, int reloaded)
{
	u->cookie = -1;
	u->have_key = 0;
	if (reloaded)
		u->force_reload = 1;
}

int
cs_upgrade_check(struct cs_engine *e, uint32_t budget_ms, struct cs_upgrade_result *res)
{
	struct cs_upgrade_result tmp;
	struct cs_upgrade *u = up_get(e);
	uint64_t deadline = budget_ms ? mono_ms() + budget_ms : 0;
	int rc;

	if (res == NULL)
		res = &tmp;
	memset(res, 0, sizeof(*res));
	if (u == NULL)
		return CS_ENOMEM;
	if (!cs_engine_installed(e))
		return cs_eng_fail(e, CS_SQL_ENOTINST,
		    "the cabsync schema is not installed: run install");
	u->busy = 1;
	if ((rc = xexec(e, "BEGIN IMMEDIATE")) == 0) {
		rc = check_txn(e, u, deadline, res);
		if (rc == 0)
			rc = xexec(e, "COMMIT");
		if (rc < 0) {
			sqlite3_exec(cs_engine_handle(e), "ROLLBACK", NULL, NULL, NULL);
			/* a rolled-back reload may have left ids in memory that the
			 * database no longer has: the next check reloads */
			forget(u, 1);
		}
	}
	u->busy = 0;
	/* rows held for a table tracked now apply (their own transaction; with
	 * a verification still pending, the next apply releases them) */
	if (rc == 0 && res->tables_added > 0 && !u->pending && cs_engine_release_held(e, NULL) < 0)
		rc = CS_SQL_EBUSY;
	res->pending = u->pending;
	return rc;
}

int
cs_upgrade_poll(struct cs_engine *e, uint32_t budget_ms)
{
	struct cs_upgrade *u = up_get(e);
	int rc;

	if (u == NULL)
		return CS_ENOMEM;
	if (u->busy)
		return 0;
	if ((rc = need_check(e, u)) <= 0)
		return rc;
	if (!cs_engine_installed(e))
		return 0;
	return cs_upgrade_check(e, budget_ms, NULL);
}

int
cs_upgrade_guard(struct cs_engine *e)
{
	struct cs_upgrade *u = up_get(e);
	struct cs_upgrade_result r;
	int rc, rounds;

	if (u == NULL)
		return CS_ENOMEM;
	if (u->busy)
		return 0;
	if ((rc = need_check(e, u)) <= 0)
		return rc;
	if (!cs_engine_installed(e))
		return 0; /* the engine reports "not installed" itself */
	for (rounds = 0; rounds < 1000000; rounds++) {
		if ((rc = cs_upgrade_check(e, 200, &r)) < 0)
			return rc;
		if (!r.pending)
			return 0;
	}
	return cs_eng_fail(e, CS_SQL_EBUSY, "schema verification did not finish: retry");
}

int
cs_upgrade_apply_begin(struct cs_engine *e)
{
	struct cs_upgrade *u = up_get(e);
	struct cs_upgrade_result r;
	int rc;

	if (u == NULL)
		return CS_ENOMEM;
	u->txn_checked = 0;
	if (u->busy)
		return 0;
	if ((rc = need_check(e, u)) <= 0)
		return rc;
	if (!cs_engine_installed(e))
		return 0; /* the engine reports "not installed" itself */
	memset(&r, 0, sizeof(r));
	u->busy = 1;
	u->txn_checked = 1;
	rc = check_txn(e, u, 0, &r); /* the whole of it: nothing left pending */
	u->busy = 0;
	return rc;
}

void
cs_upgrade_rolled_back(struct cs_engine *e)
{
	struct cs_upgrade *u = up_get(e);

	if (u == NULL)
		return;
	forget(u, u->txn_checked);
	u->txn_checked = 0;
}
