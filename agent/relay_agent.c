/*
 * agent/relay_agent.c: the daemon's relay driver (see relay_agent.h).
 */
#include "agent/relay_agent.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/relay_folder.h"
#include "agent/relay_json.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "sql/audit.h"
#include "sql/engine.h"
#include "sql/share.h"

#define MAX_LOG   24
#define MAX_IMP   64
#define NAME_MAX_ 160 /* a Storage object name of ours */
#define MAX_NAMES 256

enum job_kind { J_CYCLE = 0, J_IMPORT, J_SEAL, J_RECORD, J_LOAD };

/* A bundle sealed for Supabase, waiting for its upload. */
struct sc_out {
	char name[NAME_MAX_];
	long recip_no;
	char tag[33];
	struct cs_relay_sealed sb;
	struct cs_relay_outb ob;
	uint32_t rows;
	struct cs_audit_acc acc; /* sync-out counts, flushed once uploaded */
	int64_t rec_last;        /* the last share record it carries */
	char *shares;            /* JSON rows of cabinet_patient_sync to upsert, or NULL */
	size_t shares_len;
};

struct relay_job {
	struct cs_dbw_job j;
	struct cs_relay_agent *r;
	struct cs_home home; /* copy: the loop may reload the roster meanwhile */
	struct cs_relay_peerview view[CS_HOME_MAX_DEVICES];
	uint8_t to[CS_HOME_MAX_DEVICES];
	uint64_t now;
	/* results, for the loop */
	struct {
		uint8_t sender[CS_DEVID_LEN];
		uint64_t cursor;
		uint32_t applied;
	} imp[MAX_IMP];
	size_t nimp;
	struct {
		enum cs_log_level lvl;
		char text[256];
	} log[MAX_LOG];
	size_t nlog;
	enum job_kind kind;
	/* J_IMPORT: one downloaded bundle; result 0 / 1 / -1 as import_one */
	char idhex[33];
	uint8_t *buf;
	size_t len;
	int result;
	/* J_SEAL: my bundle rows on the server in, rows to delete and bundles out */
	char (*sent)[NAME_MAX_];
	size_t nsent;
	char (*del)[NAME_MAX_];
	size_t ndel;
	struct sc_out *outs;
	size_t nouts;
	/* J_RECORD: an uploaded bundle to record */
	struct sc_out *rec;
};

static void jlog(struct relay_job *x, enum cs_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The worker never logs itself: the loop logs the job's lines in order. */
static void
jlog(struct relay_job *x, enum cs_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (x->nlog >= MAX_LOG)
		return;
	va_start(ap, fmt);
	vsnprintf(x->log[x->nlog].text, sizeof(x->log[0].text), fmt, ap);
	va_end(ap);
	x->log[x->nlog++].lvl = lvl;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The relay's clock. CABSYNC_TEST_CLOCK_OFFSET_MS shifts it (tests only: a
 * sender living in the past writes bundles that are already expired).
 */
static uint64_t
relay_now(void)
{
	const char *o = getenv("CABSYNC_TEST_CLOCK_OFFSET_MS");
	int64_t now = wall_ms();

	if (o != NULL)
		now += strtoll(o, NULL, 10);
	return now > 0 ? (uint64_t)now : 0;
}

size_t
cs_relay_recipients(const struct cs_home *h, uint8_t *out)
{
	size_t i, n = 0;

	/*
	 * Every other active device is a candidate: the seal is scoped to what
	 * its practitioner may see (cs_relay_seal_req.sh), so a device whose
	 * practitioner has no share on a changed patient gets no bundle. The
	 * recipients of a change are thus per patient: the devices of its
	 * owner and of the practitioners it is shared with.
	 */
	for (i = 0; i < h->nroster; i++) {
		out[i] = !h->roster[i].revoked &&
		    memcmp(h->roster[i].id, h->device_id, CS_DEVID_LEN) != 0;
		n += out[i];
	}
	return n;
}

/*
 * The recipient device tag in object names: a keyed hash of the device id
 * (the server cannot link it to the device), 32 hex digits.
 */
static void
dev_tag(const struct cs_home *h, const uint8_t *dev, char out[33])
{
	uint8_t t[16], msg[20 + CS_DEVID_LEN];

	memcpy(msg, "cabsync relay tag v1", 20);
	memcpy(msg + 20, dev, CS_DEVID_LEN);
	crypto_generichash(t, sizeof(t), msg, sizeof(msg), h->sec->cabinet_key, CS_KEY_LEN);
	sodium_bin2hex(out, 33, t, sizeof(t));
}

/* The app's integer id of practitioner gid, 0 if the config maps none. */
static long
prac_no(const struct cs_relay_cfg *c, const struct cs_home *h, const uint8_t *gid)
{
	size_t i;

	if (memcmp(gid, h->practitioner, CS_GID_LEN) == 0 && c->practitioner_no > 0)
		return c->practitioner_no;
	for (i = 0; i < c->nmap; i++)
		if (memcmp(c->map[i].gid, gid, CS_GID_LEN) == 0)
			return c->map[i].no;
	return 0;
}

/* {cabinet}/{recipient practitioner}/{device tag}/{bundle id}; -1 if unmapped. */
static int
obj_name(const struct cs_relay_cfg *c, const struct cs_home *h, const uint8_t *dev,
    const uint8_t *id, char out[NAME_MAX_])
{
	const struct cs_roster_dev *d = NULL;
	char tag[33], idhex[33];
	size_t i;
	long no;

	for (i = 0; i < h->nroster; i++)
		if (memcmp(h->roster[i].id, dev, CS_DEVID_LEN) == 0)
			d = &h->roster[i];
	if (d == NULL || (no = prac_no(c, h, d->practitioner)) <= 0)
		return -1;
	dev_tag(h, dev, tag);
	cs_relay_idhex(id, idhex);
	snprintf(out, NAME_MAX_, "%ld/%ld/%s/%s", c->cabinet_no, no, tag, idhex);
	return 0;
}

/* Is bundle id for dev still on the relay? */
static int
bk_exists(struct relay_job *x, const uint8_t *dev, const uint8_t *id)
{
	char name[NAME_MAX_];
	size_t i;

	if (x->r->cfg.backend == CS_RELAY_FOLDER)
		return cs_relay_folder_exists(x->r->cfg.dir, x->home.cabinet_id, dev, id);
	if (obj_name(&x->r->cfg, &x->home, dev, id, name) != 0)
		return 0;
	for (i = 0; i < x->nsent; i++)
		if (strcmp(x->sent[i], name) == 0)
			return 1;
	return 0;
}

/* Take bundle id for dev off the relay (Supabase: its row; the object is the
 * recipient's or the sweep's to delete). */
static void
bk_remove(struct relay_job *x, const uint8_t *dev, const uint8_t *id)
{
	if (x->r->cfg.backend == CS_RELAY_FOLDER) {
		(void)cs_relay_folder_remove(x->r->cfg.dir, x->home.cabinet_id, dev, id);
		return;
	}
	if (x->del != NULL && x->ndel < MAX_NAMES &&
	    obj_name(&x->r->cfg, &x->home, dev, id, x->del[x->ndel]) == 0)
		x->ndel++;
}

/* Codes that say "try again later", not "this bundle is bad". */
static int
transient(int rc)
{
	return rc == CS_ENOMEM || rc == CS_EIO || rc == CS_ENOSPC || rc == CS_SQL_EBUSY ||
	    rc == CS_SQL_ESQLITE || rc == CS_SQL_EFULL || rc == CS_SQL_ENOTINST ||
	    rc == CS_SQL_ESCHEMA || rc == CS_ERANGE;
}

static void
short_dev(const uint8_t *id, char out[17])
{
	cs_home_hex(id, 8, out);
}

/*
 * Import one bundle (source: "folder", "supabase"). Returns 0 imported, 1
 * refused and quarantined (the caller deletes it from the relay), -1 try
 * again later (the caller leaves it).
 */
static int
import_one(struct relay_job *x, const char *idhex, const uint8_t *buf, size_t len,
    const char *source)
{
	struct cs_relay_agent *r = x->r;
	struct cs_relay_import_res res;
	char name[48], why[256], dev[17], det[320];
	int rc;

	snprintf(name, sizeof(name), "%s%s", idhex, CS_RELAY_FOLDER_SUFFIX);
	why[0] = '\0';
	rc = cs_relay_import(r->eng, &x->home, r->st, r->sh, &r->seen, buf, len, x->now,
	    r->cfg.lifetime_ms, source, &res, why, sizeof(why));
	if (rc == 0) {
		short_dev(res.info.sender_id, dev);
		jlog(x, CS_LOG_INFO,
		    "relay: imported bundle %s from device %s: %u rows (%u applied, %u refused, "
		    "%u conflicts, %u held), %u share record message(s)",
		    idhex, dev, res.rows, res.applied, res.refused, res.conflicts, res.held,
		    res.records);
		if (x->nimp < MAX_IMP) {
			memcpy(x->imp[x->nimp].sender, res.info.sender_id, CS_DEVID_LEN);
			x->imp[x->nimp].cursor = res.cursor;
			x->imp[x->nimp++].applied = res.applied;
		}
		return 0;
	}
	if (transient(rc)) {
		jlog(x, CS_LOG_WARNING, "relay bundle %s: %s (%s); retrying later", idhex,
		    why[0] != '\0' ? why : "import failed", cs_relay_strerror(rc));
		return -1;
	}
	if (why[0] == '\0')
		snprintf(why, sizeof(why), "%s", cs_relay_strerror(rc));
	if (cs_relay_quarantine(x->home.dir, name, buf, len, why) != 0)
		jlog(x, CS_LOG_ERR, "relay bundle %s: cannot write the quarantine copy", idhex);
	snprintf(det, sizeof(det), "relay bundle %s quarantined: %s", idhex, why);
	cs_relay_audit(r->eng, &x->home, CS_AUDIT_REFUSED, res.opened ? res.info.sender_id : NULL,
	    0, det);
	jlog(x, CS_LOG_WARNING, "%s (kept in %s/relay-quarantine, never applied)", det,
	    x->home.dir);
	return 1;
}

static void
import_folder(struct relay_job *x)
{
	struct cs_relay_agent *r = x->r;
	const struct cs_relay_cfg *c = &r->cfg;
	uint8_t(*ids)[CS_BUNDLE_ID_LEN] = NULL;
	uint8_t *buf;
	size_t i, n = 0, len;
	char path[CS_HOME_PATH_MAX], idhex[33], det[320];
	int rc;

	ids = cs_calloc(CS_RELAY_FOLDER_MAXLIST, sizeof(*ids));
	if (ids == NULL)
		return;
	rc = cs_relay_folder_list(c->dir, x->home.cabinet_id, x->home.device_id, ids,
	    CS_RELAY_FOLDER_MAXLIST, &n);
	if (rc == CS_EIO)
		jlog(x, CS_LOG_WARNING, "relay folder %s: cannot read my inbox; retrying later",
		    c->dir);
	for (i = 0; i < n; i++) {
		cs_relay_idhex(ids[i], idhex);
		if (cs_relay_folder_path(c->dir, x->home.cabinet_id, x->home.device_id, ids[i],
		        path, sizeof(path)) != 0)
			continue;
		rc = cs_relay_read_file(path, CS_RELAY_MAX_BUNDLE, &buf, &len);
		if (rc == CS_ENOENT)
			continue;
		if (rc == CS_ERANGE) {
			/* too big to be ours: refused without reading it */
			(void)cs_relay_folder_remove(c->dir, x->home.cabinet_id, x->home.device_id,
			    ids[i]);
			snprintf(det, sizeof(det), "relay bundle %s refused: larger than %d bytes",
			    idhex, CS_RELAY_MAX_BUNDLE);
			cs_relay_audit(r->eng, &x->home, CS_AUDIT_REFUSED, NULL, 0, det);
			jlog(x, CS_LOG_WARNING, "%s; deleted", det);
			continue;
		}
		if (rc != 0) {
			jlog(x, CS_LOG_WARNING,
			    "relay bundle %s: cannot read it (%s); retrying later", idhex,
			    cs_strerror(rc));
			continue;
		}
		if (import_one(x, idhex, buf, len, "folder") >= 0)
			(void)cs_relay_folder_remove(c->dir, x->home.cabinet_id, x->home.device_id,
			    ids[i]);
		cs_free(buf);
	}
	cs_free(ids);
}

struct requeue {
	const uint8_t *prac;
	uint64_t now_hlc;
	uint8_t (*v)[CS_GID_LEN];
	size_t n, cap;
};

static int
requeue_cb(void *ctx, const struct cs_share_row *r)
{
	struct requeue *q = ctx;

	if (strcmp(r->perm, "owner") == 0 || memcmp(r->practitioner, q->prac, CS_GID_LEN) != 0 ||
	    (r->has_end && r->end_hlc <= q->now_hlc))
		return 0;
	if (cs_grow(&q->v, &q->cap, q->n + 1, CS_GID_LEN) < 0)
		return CS_ENOMEM;
	memcpy(q->v[q->n++], r->patient, CS_GID_LEN);
	return 0;
}

/*
 * A bundle for d expired unread: the patients shared with d's practitioner
 * go from the start again (the expired bundle may have held the backfill of
 * a new share, which the main stream sealed again would not repeat).
 */
static void
requeue_shared(struct relay_job *x, const struct cs_roster_dev *d)
{
	sqlite3 *db = cs_engine_handle(x->r->eng);
	struct requeue q;
	size_t i;

	if (x->r->sh == NULL)
		return;
	memset(&q, 0, sizeof(q));
	q.prac = d->practitioner;
	q.now_hlc = CS_HLC_MAKE(x->now, 0xffffu);
	if (cs_share_list(db, NULL, requeue_cb, &q) == 0)
		for (i = 0; i < q.n; i++)
			if (cs_share_todo_add(db, d->id, q.v[i]) < 0)
				break;
	cs_free(q.v);
}

/* Settle dev's waiting bundles: delivered, acknowledged live, or expired. */
static int
settle_outbox(struct relay_job *x, const struct cs_roster_dev *d, const struct cs_relay_peerview *v)
{
	struct cs_relay_agent *r = x->r;
	struct cs_relay_out *o = &r->out;
	struct cs_relay_outb b;
	char idhex[33], dev[17], det[200];
	struct cs_relay_outb *done;
	size_t j, nd = 0;
	int changed = 0, there, progress;

	done = cs_calloc(CS_RELAY_OUT_MAX, sizeof(*done));
	if (done == NULL)
		return 0;
	short_dev(d->id, dev);
	if (v->acked_known && v->acked != cs_relay_out_acked(o, d->id)) {
		(void)cs_relay_out_set_acked(o, d->id, v->acked, 1); /* the device said so */
		changed = 1;
	}
	for (j = o->nb; j-- > 0;) {
		if (memcmp(o->b[j].dev, d->id, CS_DEVID_LEN) != 0)
			continue;
		b = o->b[j];
		cs_relay_idhex(b.id, idhex);
		there = bk_exists(x, d->id, b.id);
		if (v->acked_known && b.upto <= v->acked) {
			/* it has those changes from a live session: the bundle is moot */
			if (there)
				bk_remove(x, d->id, b.id);
			cs_relay_out_del(o, j);
			changed = 1;
		} else if (!there && x->now < b.expires_ms) {
			/* removed by its recipient before expiry: imported */
			if (nd < CS_RELAY_OUT_MAX)
				done[nd++] = b;
			cs_relay_out_del(o, j);
			changed = 1;
			snprintf(det, sizeof(det), "relay bundle %s delivered to device %s", idhex,
			    dev);
			cs_relay_audit(r->eng, &x->home, CS_AUDIT_NOTE, d->id, 0, det);
			jlog(x, CS_LOG_INFO, "relay: %s", det);
		} else if (x->now >= b.expires_ms) {
			if (there)
				bk_remove(x, d->id, b.id);
			cs_relay_out_del(o, j);
			(void)cs_relay_out_set_recs(o, d->id, 0); /* its records go again */
			requeue_shared(x, d);
			changed = 1;
			snprintf(det, sizeof(det),
			    "relay bundle %s for device %s expired unread; its changes are sealed "
			    "again",
			    idhex, dev);
			cs_relay_audit(r->eng, &x->home, CS_AUDIT_NOTE, d->id, 0, det);
			jlog(x, CS_LOG_NOTICE, "relay: %s", det);
		}
	}
	/* delivered ranges raise acked when they start at or below it, in any order */
	for (progress = 1; progress;) {
		progress = 0;
		for (j = 0; j < nd; j++) {
			if (done[j].upto > cs_relay_out_acked(o, d->id) &&
			    done[j].after <= cs_relay_out_acked(o, d->id)) {
				(void)cs_relay_out_set_acked(o, d->id, done[j].upto, 0);
				progress = 1;
			}
		}
	}
	cs_free(done);
	return changed;
}

/* ---------------------------------------------- cabinet_patient_sync rows */

#define SHARE_ROWS_MAX 1000 /* share rows upserted with one bundle */

static void iso_time(uint64_t ms, char out[32]);

/* A keyed hash the server cannot link to a patient: 32 hex digits. */
static void
share_hash(const struct cs_home *h, const char *what, const uint8_t *in, size_t len, char out[33])
{
	uint8_t k[32], t[16];
	crypto_generichash_state st;

	crypto_generichash(k, sizeof(k), (const uint8_t *)"cabsync supabase share hash v1", 30,
	    h->sec->cabinet_key, CS_KEY_LEN);
	crypto_generichash_init(&st, k, sizeof(k), sizeof(t));
	crypto_generichash_update(&st, (const uint8_t *)what, strlen(what) + 1);
	crypto_generichash_update(&st, in, len);
	crypto_generichash_final(&st, t, sizeof(t));
	sodium_bin2hex(out, 33, t, sizeof(t));
	sodium_memzero(k, sizeof(k));
	sodium_memzero(&st, sizeof(st));
}

struct share_pick {
	const struct cs_home *h;
	const uint8_t *recip;
	uint64_t now_hlc;
	int owner_me, found, active;
	uint64_t grant;
	char perm[8], key_hash[33];
};

/* One cs_shares row of the patient: am I its owner? recip's latest share. */
static int
share_pick_cb(void *ctx, const struct cs_share_row *r)
{
	struct share_pick *p = ctx;
	int live = !r->has_end || r->end_hlc > p->now_hlc;

	if (strcmp(r->perm, "owner") == 0) {
		if (live && memcmp(r->practitioner, p->h->practitioner, CS_GID_LEN) == 0 &&
		    r->patient_local != NULL) {
			p->owner_me = 1;
			share_hash(p->h, "local", (const uint8_t *)r->patient_local,
			    strlen(r->patient_local), p->key_hash);
		}
		return 0;
	}
	if (memcmp(r->practitioner, p->recip, CS_GID_LEN) != 0 ||
	    strlen(r->perm) >= sizeof(p->perm))
		return 0;
	/* an active share wins over an ended one, then the latest grant */
	if (p->found && (p->active > live || (p->active == live && p->grant > r->grant_hlc)))
		return 0;
	p->found = 1;
	p->active = live;
	p->grant = r->grant_hlc;
	snprintf(p->perm, sizeof(p->perm), "%s", r->perm);
	return 0;
}

/*
 * Worker: the cabinet_patient_sync rows (docs/RELAY.md "Supabase backend")
 * of the patients of bundle sb for device d: one per patient this
 * practitioner owns and shares with d's practitioner (is_active false once
 * revoked or expired). A JSON array (cs_malloc'd) or NULL when none.
 */
static char *
share_rows(struct relay_job *x, const struct cs_roster_dev *d, const struct cs_relay_sealed *sb,
    size_t *len)
{
	const struct cs_relay_cfg *c = &x->r->cfg;
	sqlite3 *db = cs_engine_handle(x->r->eng);
	struct share_pick p;
	char *js = NULL, hour[32], ph[33];
	size_t cap = 0, n = 0, i, rows = 0;
	long recip_no = prac_no(c, &x->home, d->practitioner);
	int w;

	*len = 0;
	if (x->r->sh == NULL || recip_no <= 0 ||
	    memcmp(d->practitioner, x->home.practitioner, CS_GID_LEN) == 0)
		return NULL;
	iso_time(x->now / 3600000 * 3600000, hour); /* the server learns the hour only */
	for (i = 0; i < sb->npats && rows < SHARE_ROWS_MAX; i++) {
		memset(&p, 0, sizeof(p));
		p.h = &x->home;
		p.recip = d->practitioner;
		p.now_hlc = CS_HLC_MAKE(x->now, 0xffffu);
		if (cs_share_list(db, sb->pats[i], share_pick_cb, &p) != 0 || !p.owner_me ||
		    !p.found)
			continue;
		share_hash(&x->home, "gid", sb->pats[i], CS_GID_LEN, ph);
		if (cs_grow(&js, &cap, n + 400, 1) < 0) {
			cs_free(js);
			return NULL;
		}
		w = snprintf(js + n, cap - n,
		    "%s{\"cabinet_id\":%ld,\"patient_key_hash\":\"%s\",\"owner_osteopath_id\":%ld,"
		    "\"shared_with_osteopath_id\":%ld,\"sync_permission\":\"%s\","
		    "\"patient_hash\":\"%s\",\"last_sync_timestamp\":\"%s\",\"is_active\":%s}",
		    rows == 0 ? "[" : ",", c->cabinet_no, p.key_hash, c->practitioner_no, recip_no,
		    p.perm, ph, hour, p.active ? "true" : "false");
		if (w < 0 || (size_t)w >= cap - n) {
			cs_free(js);
			return NULL;
		}
		n += (size_t)w;
		rows++;
	}
	if (rows == 0 || cs_grow(&js, &cap, n + 2, 1) < 0) {
		cs_free(js);
		return NULL;
	}
	js[n++] = ']';
	js[n] = '\0';
	*len = n;
	return js;
}

static int
rec_seq_cb(void *ctx, int64_t seq, const uint8_t *rec, size_t len)
{
	(void)rec;
	(void)len;
	*(int64_t *)ctx = seq;
	return 0;
}

/* The last share record stored here if newer than after (else 0). */
static int64_t
records_due(struct cs_relay_agent *r, int64_t after)
{
	int64_t last = 0;

	if (r->sh == NULL ||
	    cs_share_records_after(cs_engine_handle(r->eng), after, INT32_MAX, rec_seq_cb, &last) <
	        0)
		return 0;
	return last;
}

/* A patient newly shared with dev's practitioner waits to go from the start. */
static int
backfill_due(struct cs_relay_agent *r, const uint8_t *dev)
{
	uint8_t pat[CS_GID_LEN];
	uint64_t after;

	return r->sh != NULL && cs_share_todo_next(cs_engine_handle(r->eng), dev, pat, &after) > 0;
}

static void
send_bundles(struct relay_job *x)
{
	struct cs_relay_agent *r = x->r;
	const struct cs_relay_cfg *c = &r->cfg;
	struct cs_relay_out *o = &r->out;
	struct cs_relay_seal_req req;
	struct cs_relay_sealed sb;
	struct cs_relay_outb ob;
	struct cs_audit_acc acc;
	struct cs_audit_self self;
	const struct cs_roster_dev *d;
	const struct cs_relay_peerview *v;
	uint64_t covered, dbv = cs_engine_db_version(r->eng);
	int64_t since, recs, rec_new;
	char idhex[33], dev[17], det[200], msg[256];
	size_t i;
	int changed = 0, rc;

	for (i = 0; i < x->home.nroster; i++) {
		if (!x->to[i])
			continue;
		d = &x->home.roster[i];
		v = &x->view[i];
		short_dev(d->id, dev);
		changed |= settle_outbox(x, d, v);
		if (v->live)
			continue; /* the session sends it */
		since = v->seen_ms > r->started_ms ? v->seen_ms : r->started_ms;
		if ((int64_t)x->now - since < (int64_t)c->after_ms)
			continue;
		covered = cs_relay_out_covered(o, d->id);
		recs = cs_relay_out_recs(o, d->id);
		rec_new = records_due(r, recs);
		if (dbv <= covered && !backfill_due(r, d->id) && rec_new == 0)
			continue;
		memset(&req, 0, sizeof(req));
		req.to = d;
		req.after = covered;
		req.now_ms = x->now;
		req.lifetime_ms = c->lifetime_ms;
		req.sh = r->sh; /* records, scope, newly shared patients */
		req.rec_after = recs;
		cs_audit_acc_init(&acc, d->id, d->practitioner);
		msg[0] = '\0';
		rc = cs_relay_seal(r->eng, &x->home, &req, &acc, &sb, msg, sizeof(msg));
		if (rc != 0) {
			jlog(x, CS_LOG_ERR, "relay: sealing for device %s failed: %s", dev, msg);
			cs_audit_acc_free(&acc);
			continue;
		}
		if (sb.buf == NULL) {
			cs_audit_acc_free(&acc);
			/* the new records were none of its business: not looked at again */
			if (rec_new > recs && cs_relay_out_set_recs(o, d->id, rec_new) == 0)
				changed = 1;
			/* nothing it may see (or only its own changes) up to sb.upto: not
			 * extracted again (a later share goes by the backfill). Only with
			 * no bundle waiting: an expired one is sealed again from acked. */
			if (sb.upto > covered && covered == cs_relay_out_acked(o, d->id) &&
			    cs_relay_out_set_acked(o, d->id, sb.upto, 0) == 0)
				changed = 1;
			continue;
		}
		if (c->backend == CS_RELAY_SUPABASE && prac_no(c, &x->home, d->practitioner) <= 0) {
			jlog(x, CS_LOG_WARNING,
			    "relay: device %s: its practitioner has no map.ID = N in [relay]; "
			    "not relayed",
			    dev);
			cs_relay_sealed_free(&sb);
			cs_audit_acc_free(&acc);
			continue;
		}
		cs_relay_idhex(sb.id, idhex);
		if (c->backend == CS_RELAY_SUPABASE) {
			struct sc_out *so;

			if (x->outs == NULL || x->nouts >= CS_HOME_MAX_DEVICES) {
				cs_relay_sealed_free(&sb);
				cs_audit_acc_free(&acc);
				continue;
			}
			so = &x->outs[x->nouts++];
			(void)obj_name(c, &x->home, d->id, sb.id, so->name);
			so->recip_no = prac_no(c, &x->home, d->practitioner);
			dev_tag(&x->home, d->id, so->tag);
			so->ob.after = covered;
			so->ob.upto = sb.upto;
			so->ob.expires_ms = sb.expires_ms;
			memcpy(so->ob.dev, d->id, CS_DEVID_LEN);
			memcpy(so->ob.id, sb.id, CS_BUNDLE_ID_LEN);
			so->rows = sb.rows;
			so->rec_last = sb.rec_last > recs ? sb.rec_last : recs;
			so->shares = share_rows(x, d, &sb, &so->shares_len);
			so->sb = sb; /* the upload takes it */
			so->acc = acc;
			continue;
		}
		rc = cs_relay_folder_put(c->dir, x->home.cabinet_id, d->id, sb.id, sb.buf, sb.len);
		if (rc != 0) {
			jlog(x, CS_LOG_WARNING,
			    "relay folder %s: cannot write a bundle for device %s (%s); retrying "
			    "later",
			    c->dir, dev, cs_strerror(rc));
			cs_relay_sealed_free(&sb);
			cs_audit_acc_free(&acc);
			continue;
		}
		memset(&ob, 0, sizeof(ob));
		memcpy(ob.dev, d->id, CS_DEVID_LEN);
		memcpy(ob.id, sb.id, CS_BUNDLE_ID_LEN);
		ob.after = covered;
		ob.upto = sb.upto;
		ob.expires_ms = sb.expires_ms;
		if (cs_relay_out_add(o, &ob) != 0)
			jlog(x, CS_LOG_WARNING, "relay: too many bundles waiting; not tracked");
		if (sb.rec_last > recs)
			(void)cs_relay_out_set_recs(o, d->id, sb.rec_last);
		changed = 1;
		memset(&self, 0, sizeof(self));
		memcpy(self.device, x->home.device_id, CS_DEVID_LEN);
		memcpy(self.practitioner, x->home.practitioner, CS_GID_LEN);
		memcpy(self.sign_pk, x->home.sign_pk, CS_AUDIT_PK_LEN);
		self.sign_sk = x->home.sec->sign_sk;
		(void)cs_audit_acc_flush(&acc, cs_engine_handle(r->eng), &self, 0);
		cs_audit_acc_free(&acc);
		snprintf(det, sizeof(det), "relay bundle %s sealed for device %s (folder): %u rows",
		    idhex, dev, sb.rows);
		cs_relay_audit(r->eng, &x->home, CS_AUDIT_NOTE, d->id, sb.rows, det);
		jlog(x, CS_LOG_INFO, "relay: %s, %zu bytes", det, sb.len);
		cs_relay_sealed_free(&sb);
	}
	if (changed && (rc = cs_relay_out_save(o)) != 0)
		jlog(x, CS_LOG_ERR, "relay: cannot write %s: %s", o->path, cs_strerror(rc));
}

/* Worker: a bundle is on the server with its row: track it, audit it. */
static void
record_upload(struct relay_job *x)
{
	struct cs_relay_agent *r = x->r;
	struct sc_out *so = x->rec;
	struct cs_audit_self self;
	char idhex[33], dev[17], det[200];
	int rc;

	if (cs_relay_out_add(&r->out, &so->ob) != 0)
		jlog(x, CS_LOG_WARNING, "relay: too many bundles waiting; not tracked");
	if (so->rec_last > cs_relay_out_recs(&r->out, so->ob.dev))
		(void)cs_relay_out_set_recs(&r->out, so->ob.dev, so->rec_last);
	if ((rc = cs_relay_out_save(&r->out)) != 0)
		jlog(x, CS_LOG_ERR, "relay: cannot write %s: %s", r->out.path, cs_strerror(rc));
	memset(&self, 0, sizeof(self));
	memcpy(self.device, x->home.device_id, CS_DEVID_LEN);
	memcpy(self.practitioner, x->home.practitioner, CS_GID_LEN);
	memcpy(self.sign_pk, x->home.sign_pk, CS_AUDIT_PK_LEN);
	self.sign_sk = x->home.sec->sign_sk;
	(void)cs_audit_acc_flush(&so->acc, cs_engine_handle(r->eng), &self, 0);
	cs_relay_idhex(so->ob.id, idhex);
	short_dev(so->ob.dev, dev);
	snprintf(det, sizeof(det), "relay bundle %s sealed for device %s (supabase): %u rows",
	    idhex, dev, so->rows);
	cs_relay_audit(r->eng, &x->home, CS_AUDIT_NOTE, so->ob.dev, so->rows, det);
	jlog(x, CS_LOG_INFO, "relay: %s, %zu bytes uploaded", det, so->sb.len);
}

static void
cycle_run(struct cs_dbw_job *job, void *ctx)
{
	struct relay_job *x = (struct relay_job *)job;
	struct cs_relay_agent *r = x->r;
	int rc;

	(void)ctx;
	if (!r->loaded) {
		if ((rc = cs_relay_seen_load(&r->seen, x->home.dir)) != 0)
			jlog(x, CS_LOG_ERR,
			    "relay: %s/relay-seen unreadable (%s); replays are checked from now on",
			    x->home.dir, cs_strerror(rc));
		if ((rc = cs_relay_out_load(&r->out, x->home.dir)) != 0)
			jlog(x, CS_LOG_ERR,
			    "relay: %s/relay-out unreadable (%s); waiting bundles are sealed again",
			    x->home.dir, cs_strerror(rc));
		r->loaded = 1;
	}
	switch (x->kind) {
	case J_CYCLE:
		import_folder(x);
		send_bundles(x);
		break;
	case J_IMPORT:
		x->result = import_one(x, x->idhex, x->buf, x->len, "supabase");
		break;
	case J_SEAL:
		send_bundles(x);
		break;
	case J_RECORD:
		record_upload(x);
		break;
	case J_LOAD:
		break; /* the seen set and outbox were read above */
	}
}

static void cycle_post(struct cs_relay_agent *r);

/* The loop logs what the worker wrote down, and frees the job. */
static void
job_free(struct relay_job *x)
{
	size_t i;

	for (i = 0; i < x->nlog; i++)
		cs_log(x->log[i].lvl, "%s", x->log[i].text);
	if (x->outs != NULL) {
		for (i = 0; i < x->nouts; i++) {
			cs_relay_sealed_free(&x->outs[i].sb);
			cs_audit_acc_free(&x->outs[i].acc);
			cs_free(x->outs[i].shares);
		}
	}
	cs_free(x->outs);
	cs_free(x->sent);
	cs_free(x->del);
	cs_free(x->buf);
	sodium_memzero(&x->home, sizeof(x->home));
	cs_free(x);
}

static void
imports_done(struct cs_relay_agent *r, struct relay_job *x)
{
	size_t i;

	if (x->j.cancelled || r->closing)
		return;
	for (i = 0; i < x->nimp; i++)
		r->imported(r->ctx, x->imp[i].sender, x->imp[i].cursor, x->imp[i].applied);
}

/* The end of a cycle, whatever the backend. */
static void
cycle_end(struct cs_relay_agent *r)
{
	r->busy = 0;
	r->cycles++;
	if (r->again && !r->closing) {
		r->again = 0;
		cycle_post(r);
	}
}

static struct relay_job *
job_new(struct cs_relay_agent *r, enum job_kind kind, cs_dbw_done_fn done)
{
	struct relay_job *x;
	size_t i;

	x = cs_calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->j.run = cycle_run;
	x->j.done = done;
	x->r = r;
	x->kind = kind;
	x->home = *r->home;
	x->now = relay_now();
	cs_relay_recipients(&x->home, x->to);
	for (i = 0; i < x->home.nroster; i++)
		r->view(r->ctx, i, &x->view[i]);
	return x;
}

static void
cycle_done(struct cs_dbw_job *job)
{
	struct relay_job *x = (struct relay_job *)job;
	struct cs_relay_agent *r = x->r;

	imports_done(r, x);
	job_free(x);
	cycle_end(r);
}

/* ------------------------------------------------- the Supabase cycle */

/*
 * One cycle, step by step on the loop, each HTTP answer starting the next
 * step: my bundle rows (cheap) -> only if some: my folder's listing ->
 * download each -> import on the worker -> delete the object and the row;
 * then my sent rows -> settle and seal on the worker -> delete the rows of
 * expired bundles -> upload each (declared size) -> insert its row ->
 * record it on the worker. A failed step is logged and the cycle goes on
 * with the next one; the next cycle retries what is left.
 */
struct relay_sc {
	struct cs_relay_agent *r;
	char (*in)[NAME_MAX_];
	size_t nin, iin;
	struct relay_job *seal; /* the J_SEAL job's results, kept while uploading */
	size_t idel, iout;
	int quar; /* the current download was quarantined */
};

static void sc_next_in(struct relay_sc *sc);
static void sc_send(struct relay_sc *sc);
static void sc_next_del(struct relay_sc *sc);
static void sc_next_out(struct relay_sc *sc);

static void
sc_end(struct relay_sc *sc)
{
	struct cs_relay_agent *r = sc->r;

	if (sc->seal != NULL)
		job_free(sc->seal);
	cs_free(sc->in);
	cs_free(sc);
	r->sc = NULL;
	if (r->supa.auth_failed != r->login_needed && !r->closing) {
		r->login_needed = r->supa.auth_failed;
		if (r->login != NULL)
			r->login(r->ctx, r->login_needed, r->supa.errmsg);
	}
	cycle_end(r);
}

/* Log a failed call once, in words. */
static void
sc_fail(struct relay_sc *sc, const char *what, int status, const uint8_t *body, size_t len, int err)
{
	char why[240];

	if (err == CS_RELAY_EAUTH) {
		cs_log(CS_LOG_ERR, "relay: %s: %s", what, sc->r->supa.errmsg);
		return;
	}
	if (err != 0) {
		cs_log(CS_LOG_WARNING, "relay: %s: %s; retrying at the next cycle", what,
		    sc->r->supa.errmsg[0] != '\0' && err == CS_EIO ? "server unreachable"
		                                                   : cs_relay_strerror(err));
		return;
	}
	cs_supa_describe(status, body, len, why, sizeof(why));
	cs_log(CS_LOG_WARNING, "relay: %s: %s", what, why);
}

static int
sc_call(struct relay_sc *sc, const char *method, const char *path, const char *ctype,
    const uint8_t *body, size_t len, const char *const *hdr, cs_supa_cb cb)
{
	int rc = cs_supa_call(&sc->r->supa, method, path, ctype, body, len, hdr, cb, sc);

	if (rc != 0)
		sc_fail(sc, method, 0, NULL, 0, rc);
	return rc;
}

/* Names of an answer: key "object_name" (rows) or "name" (listing, files only). */
struct names_ctx {
	char (*v)[NAME_MAX_];
	size_t n, cap;
	const char *key;
	const char *prefix;
	size_t cur_elem;
	int cur_ok, cur_folder;
	char cur[NAME_MAX_];
};

static int
name_ok(const char *n)
{
	size_t i;

	for (i = 0; n[i] != '\0'; i++)
		if (!(n[i] >= '0' && n[i] <= '9') && !(n[i] >= 'a' && n[i] <= 'z') &&
		    !(n[i] >= 'A' && n[i] <= 'Z') && strchr("/_-.", n[i]) == NULL)
			return 0;
	return i > 0;
}

static void
names_flush(struct names_ctx *c)
{
	size_t i;

	if (!c->cur_ok || c->cur_folder || c->n >= c->cap)
		goto out;
	for (i = 0; i < c->n; i++)
		if (strcmp(c->v[i], c->cur) == 0)
			goto out;
	memcpy(c->v[c->n++], c->cur, NAME_MAX_);
out:
	c->cur_ok = 0;
	c->cur_folder = 0;
}

static int
names_member(void *ctx, size_t elem, const char *key, size_t klen, enum cs_rjson_type t,
    const char *v, size_t vlen)
{
	struct names_ctx *c = ctx;
	char buf[NAME_MAX_];
	int n;

	if (elem != c->cur_elem) {
		names_flush(c);
		c->cur_elem = elem;
	}
	if (cs_rjson_key(key, klen, "id") && t == CS_RJSON_NULL)
		c->cur_folder = 1; /* a sub-folder of the listing */
	if (!cs_rjson_key(key, klen, c->key) || t != CS_RJSON_STRING)
		return 0;
	n = cs_rjson_str(v, vlen, buf, sizeof(buf));
	if (n <= 0 || !name_ok(buf) || strstr(buf, "..") != NULL)
		return 0;
	if (snprintf(c->cur, sizeof(c->cur), "%s%s", c->prefix, buf) >= (int)sizeof(c->cur))
		return 0;
	c->cur_ok = 1;
	return 0;
}

/* Parse names into (*v) (allocated, MAX_NAMES). 0 or -1. */
static int
parse_names(const uint8_t *body, size_t len, const char *key, const char *prefix,
    char (**v)[NAME_MAX_], size_t *n)
{
	struct names_ctx c;

	memset(&c, 0, sizeof(c));
	c.v = cs_calloc(MAX_NAMES, NAME_MAX_);
	if (c.v == NULL)
		return -1;
	c.cap = MAX_NAMES;
	c.key = key;
	c.prefix = prefix;
	if (cs_rjson_walk((const char *)body, len, names_member, &c) != 0) {
		cs_free(c.v);
		return -1;
	}
	names_flush(&c);
	*v = c.v;
	*n = c.n;
	return 0;
}

static void
my_prefix(struct relay_sc *sc, char *out, size_t cap)
{
	struct cs_relay_agent *r = sc->r;
	char tag[33];

	dev_tag(r->home, r->home->device_id, tag);
	snprintf(out, cap, "%ld/%ld/%s/", r->cfg.cabinet_no, r->cfg.practitioner_no, tag);
}

static void
sc_list_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;
	char prefix[NAME_MAX_], (*v)[NAME_MAX_] = NULL;
	size_t i, j, n = 0;

	if (err != 0 || status != 200) {
		sc_fail(sc, "listing my relay folder", status, body, len, err);
	} else {
		my_prefix(sc, prefix, sizeof(prefix));
		if (parse_names(body, len, "name", prefix, &v, &n) != 0) {
			cs_log(CS_LOG_WARNING, "relay: the folder listing is malformed");
		} else {
			/* objects without a row (an interrupted sender) are imported too */
			for (i = 0; i < n && sc->nin < MAX_NAMES; i++) {
				for (j = 0; j < sc->nin; j++)
					if (strcmp(sc->in[j], v[i]) == 0)
						break;
				if (j == sc->nin)
					memcpy(sc->in[sc->nin++], v[i], NAME_MAX_);
			}
		}
		cs_free(v);
	}
	sc_next_in(sc);
}

static void
sc_rows_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;
	char path[256], prefix[NAME_MAX_], q[512];
	int n;

	if (err != 0 || status != 200) {
		sc_fail(sc, "reading my bundle rows", status, body, len, err);
		sc_send(sc);
		return;
	}
	if (parse_names(body, len, "object_name", "", &sc->in, &sc->nin) != 0) {
		cs_log(CS_LOG_WARNING, "relay: the bundle rows answer is malformed");
		sc_send(sc);
		return;
	}
	if (sc->nin == 0) {
		sc_send(sc);
		return;
	}
	my_prefix(sc, prefix, sizeof(prefix));
	snprintf(path, sizeof(path), "/storage/v1/object/list/cabinet-sync");
	n = snprintf(q, sizeof(q),
	    "{\"prefix\":\"%s\",\"limit\":%d,\"offset\":0,"
	    "\"sortBy\":{\"column\":\"created_at\",\"order\":\"asc\"}}",
	    prefix, MAX_NAMES);
	if (sc_call(sc, "POST", path, "application/json", (uint8_t *)q, (size_t)n, NULL,
	        sc_list_cb) != 0)
		sc_send(sc);
}

static void
sc_delrow_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;

	if (err != 0 || (status != 200 && status != 204))
		sc_fail(sc, "deleting a bundle row", status, body, len, err);
	sc->iin++;
	sc_next_in(sc);
}

static void
sc_delete_row(struct relay_sc *sc, const char *name, cs_supa_cb cb)
{
	char path[NAME_MAX_ + 128];

	snprintf(path, sizeof(path), "/rest/v1/cabinet_sync_bundle?object_name=eq.%s", name);
	if (sc_call(sc, "DELETE", path, NULL, NULL, 0, NULL, cb) != 0)
		cb(sc, 0, NULL, 0, CS_EIO);
}

static void
sc_delobj_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;

	if (err != 0 || (status != 200 && status != 404))
		sc_fail(sc, "deleting an imported bundle", status, body, len, err);
	sc_delete_row(sc, sc->in[sc->iin], sc_delrow_cb);
}

static void
sc_import_done(struct cs_dbw_job *job)
{
	struct relay_job *x = (struct relay_job *)job;
	struct cs_relay_agent *r = x->r;
	struct relay_sc *sc = r->sc;
	char path[NAME_MAX_ + 64];
	int result = x->j.cancelled ? -1 : x->result;

	imports_done(r, x);
	job_free(x);
	if (r->closing || sc == NULL)
		return;
	if (result < 0) {
		sc->iin++;
		sc_next_in(sc);
		return;
	}
	snprintf(path, sizeof(path), "/storage/v1/object/cabinet-sync/%s", sc->in[sc->iin]);
	if (sc_call(sc, "DELETE", path, NULL, NULL, 0, NULL, sc_delobj_cb) != 0) {
		sc->iin++;
		sc_next_in(sc);
	}
}

static void
sc_dl_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;
	struct cs_relay_agent *r = sc->r;
	struct relay_job *x;
	const char *slash;

	if (err == 0 && status == 404) {
		/* a row without its object (swept, or an interrupted upload) */
		sc_delete_row(sc, sc->in[sc->iin], sc_delrow_cb);
		return;
	}
	if (err != 0 || status != 200) {
		sc_fail(sc, "downloading a bundle", status, body, len, err);
		sc->iin++;
		sc_next_in(sc);
		return;
	}
	x = job_new(r, J_IMPORT, sc_import_done);
	if (x == NULL || (len > 0 && (x->buf = cs_memdup(body, len)) == NULL)) {
		if (x != NULL)
			job_free(x);
		sc->iin++;
		sc_next_in(sc);
		return;
	}
	x->len = len;
	slash = strrchr(sc->in[sc->iin], '/');
	snprintf(x->idhex, sizeof(x->idhex), "%.32s", slash != NULL ? slash + 1 : "bundle");
	cs_dbw_post(r->dbw, &x->j);
}

static void
sc_next_in(struct relay_sc *sc)
{
	char path[NAME_MAX_ + 64];

	if (sc->r->closing)
		return;
	if (sc->iin >= sc->nin) {
		sc_send(sc);
		return;
	}
	snprintf(path, sizeof(path), "/storage/v1/object/authenticated/cabinet-sync/%s",
	    sc->in[sc->iin]);
	if (sc_call(sc, "GET", path, NULL, NULL, 0, NULL, sc_dl_cb) != 0) {
		sc->iin++;
		sc_next_in(sc);
	}
}

/* -- send */

static void
sc_record_done(struct cs_dbw_job *job)
{
	struct relay_job *x = (struct relay_job *)job;
	struct cs_relay_agent *r = x->r;
	struct relay_sc *sc = r->sc;

	x->rec = NULL; /* the seal job owns it */
	job_free(x);
	if (r->closing || sc == NULL)
		return;
	sc->iout++;
	sc_next_out(sc);
}

static void sc_record(struct relay_sc *sc);

static void
sc_share_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;

	/* the share rows are the practice app's view; the bundle is sent anyway */
	if (err != 0 || (status != 201 && status != 200))
		sc_fail(sc, "upserting the share rows (cabinet_patient_sync)", status, body, len,
		    err);
	sc_record(sc);
}

static void
sc_row_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;
	struct sc_out *so = &sc->seal->outs[sc->iout];
	static const char *const hdr[] = {"Prefer: resolution=merge-duplicates,return=minimal",
	    NULL};

	if (err != 0 || (status != 201 && status != 200 && status != 409)) {
		/* the object stays without a row: the recipient's listing or the
		 * sweep takes it; a new bundle is sealed at the next cycle */
		sc_fail(sc, "inserting a bundle row", status, body, len, err);
		sc->iout++;
		sc_next_out(sc);
		return;
	}
	if (so->shares != NULL &&
	    sc_call(sc, "POST",
	        "/rest/v1/cabinet_patient_sync?on_conflict=cabinet_id,patient_hash,"
	        "owner_osteopath_id,shared_with_osteopath_id",
	        "application/json", (const uint8_t *)so->shares, so->shares_len, hdr,
	        sc_share_cb) == 0)
		return;
	sc_record(sc);
}

/* The bundle is on the server with its row: record it on the worker. */
static void
sc_record(struct relay_sc *sc)
{
	struct relay_job *x;

	x = job_new(sc->r, J_RECORD, sc_record_done);
	if (x == NULL) {
		sc->iout++;
		sc_next_out(sc);
		return;
	}
	x->rec = &sc->seal->outs[sc->iout];
	cs_dbw_post(sc->r->dbw, &x->j);
}

/* An ISO 8601 UTC timestamp of ms since the epoch. */
static void
iso_time(uint64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
sc_up_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;
	struct cs_relay_agent *r = sc->r;
	struct sc_out *so = &sc->seal->outs[sc->iout];
	static const char *const hdr[] = {"Prefer: return=minimal", NULL};
	char row[768], exp[32];
	int n;

	if (err != 0 || status != 200) {
		sc_fail(sc, "uploading a bundle", status, body, len, err);
		sc->iout++;
		sc_next_out(sc);
		return;
	}
	iso_time(so->sb.expires_ms, exp);
	n = snprintf(row, sizeof(row),
	    "{\"object_name\":\"%s\",\"cabinet_id\":%ld,\"sender_osteopath_id\":%ld,"
	    "\"recipient_osteopath_id\":%ld,\"recipient_device_tag\":\"%s\","
	    "\"expires_at\":\"%s\",\"size_bytes\":%zu}",
	    so->name, r->cfg.cabinet_no, r->cfg.practitioner_no, so->recip_no, so->tag, exp,
	    so->sb.len);
	if (sc_call(sc, "POST", "/rest/v1/cabinet_sync_bundle", "application/json", (uint8_t *)row,
	        (size_t)n, hdr, sc_row_cb) != 0) {
		sc->iout++;
		sc_next_out(sc);
	}
}

static void
sc_next_out(struct relay_sc *sc)
{
	struct sc_out *so;
	char path[NAME_MAX_ + 64];

	if (sc->r->closing)
		return;
	if (sc->seal == NULL || sc->iout >= sc->seal->nouts) {
		sc_end(sc);
		return;
	}
	so = &sc->seal->outs[sc->iout];
	snprintf(path, sizeof(path), "/storage/v1/object/cabinet-sync/%s", so->name);
	if (sc_call(sc, "POST", path, "application/octet-stream", so->sb.buf, so->sb.len, NULL,
	        sc_up_cb) != 0) {
		sc->iout++;
		sc_next_out(sc);
	}
}

static void
sc_del_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;

	if (err != 0 || (status != 200 && status != 204))
		sc_fail(sc, "deleting an expired bundle row", status, body, len, err);
	sc->idel++;
	sc_next_del(sc);
}

static void
sc_next_del(struct relay_sc *sc)
{
	char path[NAME_MAX_ + 128];

	if (sc->r->closing)
		return;
	if (sc->idel >= sc->seal->ndel) {
		sc_next_out(sc);
		return;
	}
	snprintf(path, sizeof(path), "/rest/v1/cabinet_sync_bundle?object_name=eq.%s",
	    sc->seal->del[sc->idel]);
	if (sc_call(sc, "DELETE", path, NULL, NULL, 0, NULL, sc_del_cb) != 0) {
		sc->idel++;
		sc_next_del(sc);
	}
}

static void
sc_seal_done(struct cs_dbw_job *job)
{
	struct relay_job *x = (struct relay_job *)job;
	struct cs_relay_agent *r = x->r;
	size_t i;

	for (i = 0; i < x->nlog; i++)
		cs_log(x->log[i].lvl, "%s", x->log[i].text);
	x->nlog = 0;
	if (x->j.cancelled || r->closing || r->sc == NULL) {
		job_free(x);
		return;
	}
	r->sc->seal = x;
	sc_next_del(r->sc);
}

static void
sc_sent_cb(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct relay_sc *sc = ctx;
	struct relay_job *x;

	if (err != 0 || status != 200) {
		/* without knowing what is still there, nothing is settled or sent */
		sc_fail(sc, "reading my sent bundle rows", status, body, len, err);
		sc_end(sc);
		return;
	}
	x = job_new(sc->r, J_SEAL, sc_seal_done);
	if (x == NULL)
		goto out;
	if (parse_names(body, len, "object_name", "", &x->sent, &x->nsent) != 0) {
		cs_log(CS_LOG_WARNING, "relay: the sent rows answer is malformed");
		goto out;
	}
	x->del = cs_calloc(MAX_NAMES, NAME_MAX_);
	x->outs = cs_calloc(CS_HOME_MAX_DEVICES, sizeof(*x->outs));
	if (x->del == NULL || x->outs == NULL)
		goto out;
	cs_dbw_post(sc->r->dbw, &x->j);
	return;
out:
	if (x != NULL)
		job_free(x);
	sc_end(sc); /* reached on failure only */
}

static void
sc_send(struct relay_sc *sc)
{
	struct cs_relay_agent *r = sc->r;
	char path[256];

	if (r->closing)
		return;
	snprintf(path, sizeof(path),
	    "/rest/v1/cabinet_sync_bundle?select=object_name&cabinet_id=eq.%ld"
	    "&sender_osteopath_id=eq.%ld&limit=1000",
	    r->cfg.cabinet_no, r->cfg.practitioner_no);
	if (sc_call(sc, "GET", path, NULL, NULL, 0, NULL, sc_sent_cb) != 0)
		sc_end(sc);
}

static void
sc_start(struct cs_relay_agent *r)
{
	struct relay_sc *sc;
	char path[256], tag[33];

	sc = cs_calloc(1, sizeof(*sc));
	if (sc == NULL) {
		cycle_end(r);
		return;
	}
	sc->r = r;
	r->sc = sc;
	dev_tag(r->home, r->home->device_id, tag);
	/* the cheap query: rows addressed to this device */
	snprintf(path, sizeof(path),
	    "/rest/v1/cabinet_sync_bundle?select=object_name&cabinet_id=eq.%ld"
	    "&recipient_osteopath_id=eq.%ld&recipient_device_tag=eq.%s"
	    "&order=created_at.asc&limit=%d",
	    r->cfg.cabinet_no, r->cfg.practitioner_no, tag, MAX_NAMES);
	if (sc_call(sc, "GET", path, NULL, NULL, 0, NULL, sc_rows_cb) != 0)
		sc_send(sc);
}

static void
load_done(struct cs_dbw_job *job)
{
	struct relay_job *x = (struct relay_job *)job;
	struct cs_relay_agent *r = x->r;

	job_free(x);
	if (r->closing)
		return;
	sc_start(r);
}

static void
cycle_post(struct cs_relay_agent *r)
{
	struct relay_job *x;

	if (r->closing)
		return;
	if (r->busy) {
		r->again = 1;
		return;
	}
	r->busy = 1;
	if (r->cfg.backend == CS_RELAY_SUPABASE) {
		if (r->loaded) {
			sc_start(r);
			return;
		}
		/* read the seen set and the outbox on the worker first */
		x = job_new(r, J_RECORD, load_done);
		if (x == NULL) {
			r->busy = 0;
			return;
		}
		x->kind = J_LOAD;
		cs_dbw_post(r->dbw, &x->j);
		return;
	}
	x = job_new(r, J_CYCLE, cycle_done);
	if (x == NULL) {
		r->busy = 0;
		return; /* the next tick tries again */
	}
	cs_dbw_post(r->dbw, &x->j);
}

static void
on_timer(uv_timer_t *t)
{
	cycle_post(t->data);
}

/* `cabsync relay sync` leaves a file; a stat a second, like the roster check. */
static void
on_kick_check(uv_timer_t *t)
{
	struct cs_relay_agent *r = t->data;
	char path[CS_HOME_PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", r->home->dir, CS_RELAY_KICK_FILE) >=
	    (int)sizeof(path))
		return;
	if (unlink(path) == 0) {
		cs_log(CS_LOG_INFO, "relay: sync asked");
		cycle_post(r);
	}
}

int
cs_relay_agent_start(struct cs_relay_agent *r, uv_loop_t *loop, struct cs_dbw *dbw,
    const struct cs_home *home, struct cs_engine *eng, struct cs_devstate *st, struct cs_shsync *sh,
    cs_relay_view_fn view, cs_relay_imported_fn imported, void *ctx)
{
	char msg[256];
	int rc;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->dbw = dbw;
	r->home = home;
	r->eng = eng;
	r->st = st;
	r->sh = sh;
	r->view = view;
	r->imported = imported;
	r->ctx = ctx;
	rc = cs_relay_cfg_load(home->dir, &r->cfg, msg, sizeof(msg));
	if (rc != 0) {
		cs_log(CS_LOG_ERR, "relay disabled: %s", msg);
		return rc;
	}
	if (r->cfg.backend == CS_RELAY_NONE)
		return 0;
	if (r->cfg.backend == CS_RELAY_SUPABASE) {
		if (r->cfg.practitioner_no <= 0) {
			cs_log(CS_LOG_ERR, "relay disabled: [relay] practitioner = N is missing");
			return CS_RELAY_ECONFIG;
		}
		rc = cs_supa_init(&r->supa, loop, dbw, &r->cfg, home->dir);
		if (rc != 0) {
			cs_log(CS_LOG_ERR, "relay disabled: %s", cs_relay_strerror(rc));
			return rc;
		}
		if (r->supa.tok->refresh[0] == '\0')
			cs_log(CS_LOG_WARNING,
			    "relay: not logged in to Supabase (run cabsync relay login); the LAN "
			    "works without it");
	}
	r->started_ms = (int64_t)relay_now();
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, on_timer, 0, r->cfg.interval_ms);
	uv_timer_init(loop, &r->kick);
	r->kick.data = r;
	uv_timer_start(&r->kick, on_kick_check, 1000, 1000);
	r->started = 1;
	cs_log(CS_LOG_INFO, "relay: %s %s, to devices not seen for %llu s, lifetime %llu s",
	    r->cfg.backend == CS_RELAY_FOLDER ? "folder" : "supabase",
	    r->cfg.backend == CS_RELAY_FOLDER ? r->cfg.dir : r->cfg.url,
	    (unsigned long long)(r->cfg.after_ms / 1000),
	    (unsigned long long)(r->cfg.lifetime_ms / 1000));
	return 0;
}

void
cs_relay_agent_kick(struct cs_relay_agent *r)
{
	if (r->started)
		cycle_post(r);
}

static void
on_timer_closed(uv_handle_t *h)
{
	(void)h;
}

void
cs_relay_agent_stop(struct cs_relay_agent *r)
{
	if (!r->started || r->closing)
		return;
	r->closing = 1;
	uv_close((uv_handle_t *)&r->timer, on_timer_closed);
	uv_close((uv_handle_t *)&r->kick, on_timer_closed);
	if (r->cfg.backend == CS_RELAY_SUPABASE)
		cs_supa_close(&r->supa, NULL); /* pending calls are dropped */
}

void
cs_relay_agent_free(struct cs_relay_agent *r)
{
	if (r == NULL)
		return;
	if (r->sc != NULL) {
		if (r->sc->seal != NULL)
			job_free(r->sc->seal);
		cs_free(r->sc->in);
		cs_free(r->sc);
		r->sc = NULL;
	}
	cs_relay_seen_free(&r->seen);
}
