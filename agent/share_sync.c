/*
 * agent/share_sync.c: the daemon's side of shares (see share_sync.h).
 */
#include "agent/share_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/control.h"
#include "agent/ctl_jobs.h"
#include "agent/share_ops.h"
#include "base/log.h"
#include "base/mem.h"
#include "wire/records.h"

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define BUSY_TRIES 2000 /* x 5 ms: 10 s of a busy database */
/* the engine's default future bound (sql/engine.h): a record further ahead
 * than that (of the clock corrected towards the cabinet's, like the engine's
 * bound: cs_engine_clock_offset) does not raise the local hlc floor */
#define SEEN_HLC_BOUND_MS 300000

static int
is_busy(int rc)
{
	return rc == CS_EBUSY || rc == CS_SQL_EBUSY;
}

static void
nap(void)
{
	struct timespec ts = {0, 5 * 1000000L};

	nanosleep(&ts, NULL);
}

int
cs_shsync_init(struct cs_shsync *s, const struct cs_home *h)
{
	memset(s, 0, sizeof(*s));
	if (pthread_mutex_init(&s->mu, NULL) != 0)
		return CS_EIO;
	s->mu_ok = 1;
	memcpy(s->device, h->device_id, CS_DEVID_LEN);
	memcpy(s->practitioner, h->practitioner, CS_GID_LEN);
	memcpy(s->sign_pk, h->sign_pk, 32);
	snprintf(s->name, sizeof(s->name), "%s", h->practitioner_name);
	s->sign_sk = h->sec != NULL ? h->sec->sign_sk : NULL;
	cs_shsync_roster(s, h);
	return 0;
}

void
cs_shsync_roster(struct cs_shsync *s, const struct cs_home *h)
{
	size_t i, n = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < h->nroster && n < CS_HOME_MAX_DEVICES; i++) {
		/* a revoked device's records and changes made before stay decidable:
		 * its rights are judged at their hlc like anyone's */
		memcpy(s->dev[n].id, h->roster[i].id, CS_DEVID_LEN);
		memcpy(s->dev[n].practitioner, h->roster[i].practitioner, CS_GID_LEN);
		memcpy(s->dev[n].sign_pk, h->roster[i].sign_pk, 32);
		n++;
	}
	s->n = n;
	pthread_mutex_unlock(&s->mu);
}

void
cs_shsync_free(struct cs_shsync *s)
{
	if (s == NULL)
		return;
	if (s->mu_ok)
		pthread_mutex_destroy(&s->mu);
	memset(s, 0, sizeof(*s));
}

static int
lookup(void *ctx, const uint8_t dev[CS_DEVID_LEN], struct cs_share_dev *out)
{
	struct cs_shsync *s = ctx;
	size_t i;
	int found = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->n; i++) {
		if (memcmp(s->dev[i].id, dev, CS_DEVID_LEN) == 0) {
			memcpy(out->practitioner, s->dev[i].practitioner, CS_GID_LEN);
			memcpy(out->sign_pk, s->dev[i].sign_pk, 32);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

static size_t
devs_of(void *ctx, const uint8_t prac[CS_GID_LEN], uint8_t (*out)[CS_DEVID_LEN], size_t max)
{
	struct cs_shsync *s = ctx;
	size_t i, n = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->n && n < max; i++)
		if (memcmp(s->dev[i].practitioner, prac, CS_GID_LEN) == 0)
			memcpy(out[n++], s->dev[i].id, CS_DEVID_LEN);
	pthread_mutex_unlock(&s->mu);
	return n;
}

int
cs_shsync_practitioner_of(void *ctx, const uint8_t dev[CS_DEVID_LEN], uint8_t out[CS_GID_LEN])
{
	struct cs_share_dev d;

	if (lookup(ctx, dev, &d) != 1)
		return 0;
	memcpy(out, d.practitioner, CS_GID_LEN);
	return 1;
}

static void
ctx_of(struct cs_shsync *s, struct cs_engine *e, struct cs_share_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->db = cs_engine_handle(e);
	memcpy(c->device, s->device, CS_DEVID_LEN);
	memcpy(c->practitioner, s->practitioner, CS_GID_LEN);
	c->sign_sk = s->sign_sk;
	c->lookup = lookup;
	c->devs = devs_of;
	c->cb_ctx = s;
}

size_t
cs_shsync_pracs(struct cs_shsync *s, uint8_t (*out)[CS_GID_LEN], size_t *ndev, size_t max)
{
	size_t i, j, n = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->n; i++) {
		for (j = 0; j < n; j++)
			if (memcmp(out[j], s->dev[i].practitioner, CS_GID_LEN) == 0)
				break;
		if (j == n) {
			if (n == max)
				continue;
			memcpy(out[n], s->dev[i].practitioner, CS_GID_LEN);
			if (ndev != NULL)
				ndev[n] = 0;
			n++;
		}
		if (ndev != NULL)
			ndev[j]++;
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

void
cs_shsync_self(struct cs_shsync *s, struct cs_engine *e, struct cs_share_self *self,
    uint8_t (*pracs)[CS_GID_LEN])
{
	memset(self, 0, sizeof(*self));
	ctx_of(s, e, &self->c);
	self->sign_pk = s->sign_pk;
	self->name = s->name;
	self->npracs = cs_shsync_pracs(s, pracs, NULL, CS_HOME_MAX_DEVICES);
	self->pracs = (const uint8_t(*)[CS_GID_LEN])pracs;
}

static void
self_of(struct cs_shsync *s, struct cs_audit_self *self)
{
	memset(self, 0, sizeof(*self));
	memcpy(self->device, s->device, CS_DEVID_LEN);
	memcpy(self->practitioner, s->practitioner, CS_GID_LEN);
	memcpy(self->sign_pk, s->sign_pk, CS_AUDIT_PK_LEN);
	self->sign_sk = s->sign_sk;
}

/* Append one event (a failure is logged: the event is then only in the log). */
static void
audit(struct cs_shsync *s, struct cs_engine *e, enum cs_audit_action act, const uint8_t *dev,
    const uint8_t *prac, const uint8_t *patient, int64_t count, const char *detail)
{
	struct cs_audit_self self;
	struct cs_audit_event ev;
	int rc;

	memset(&ev, 0, sizeof(ev));
	ev.action = act;
	ev.device = dev;
	ev.patient = patient;
	ev.count = count;
	ev.detail = detail;
	self_of(s, &self);
	for (int tries = 0;; tries++) {
		rc = cs_audit_append(cs_engine_handle(e), &self, &ev, prac, NULL);
		if (!is_busy(rc) || tries >= BUSY_TRIES)
			break;
		nap();
	}
	if (rc != 0)
		cs_log(CS_LOG_ERR, "audit: a %s event is not in cs_audit: %s",
		    cs_audit_action_name(act), cs_audit_strerror(rc));
}

int
cs_shsync_install(struct cs_shsync *s, struct cs_engine *e)
{
	int rc = cs_share_install(cs_engine_handle(e));

	if (rc == 0)
		rc = cs_share_readonly(e, s->practitioner, cs_share_now_hlc(wall_ms()));
	return rc < 0 ? rc : 0;
}

struct recs_out {
	struct cs_records_item v[CS_SHSYNC_RECS_PER_MSG];
	uint8_t *buf;
	size_t used, n;
	int64_t last;
};

static int
rec_out_cb(void *ctx, int64_t seq, const uint8_t *rec, size_t len)
{
	struct recs_out *o = ctx;

	if (len == 0 || len > CS_RECORDS_ITEM_MAX || o->n >= CS_SHSYNC_RECS_PER_MSG)
		return 0; /* never stored: cs_share_add checks the length */
	memcpy(o->buf + o->used, rec, len);
	o->v[o->n].p = o->buf + o->used;
	o->v[o->n].len = len;
	o->used += len;
	o->n++;
	o->last = seq;
	return 0;
}

/*
 * Claim up to max new patients (0: all), CS_SHSYNC_CLAIMS_PER_TX per write
 * transaction (the app waits for none longer than that). *pending: 1 if
 * some may remain. 0 or a negative code.
 */
static int
claim_upto(struct cs_shsync *s, struct cs_engine *e, size_t max, uint64_t *claim_pos, int *pending)
{
	struct cs_share_ctx c;
	size_t done = 0;
	int rc, more = 0, tries = 0;

	*claim_pos = 0;
	*pending = 0;
	ctx_of(s, e, &c);
	/* records travel before the changes they allow: claim first (the
	 * app may be writing: a busy database is retried, then left for later) */
	rc = cs_share_claim_needed(c.db, s->practitioner, s->name);
	if (rc < 0 && !is_busy(rc))
		return rc;
	/* the usual case skips this: no write lock per extraction */
	if (rc != 0 && (rc = cs_share_cache_open(&c)) < 0)
		return rc;
	while (c.cache != NULL) {
		rc = cs_share_begin(c.db);
		if (rc == 0 &&
		    (rc = cs_share_claim_some(&c, s->name, wall_ms(), CS_SHSYNC_CLAIMS_PER_TX,
		         &more)) >= 0)
			rc = cs_share_commit(c.db);
		if (rc >= 0) {
			done += CS_SHSYNC_CLAIMS_PER_TX;
			tries = 0;
			if (!more)
				break;
			if (max > 0 && done >= max) {
				*pending = 1;
				break;
			}
			continue;
		}
		cs_share_rollback(c.db);
		if (!is_busy(rc))
			goto out;
		if (++tries >= BUSY_TRIES)
			break;
		nap();
	}
	rc = cs_share_claim_pos(c.db, claim_pos);
out:
	cs_share_cache_close(&c);
	return rc < 0 ? rc : 0;
}

int
cs_shsync_claim(struct cs_shsync *s, struct cs_engine *e, uint64_t *claim_pos)
{
	int pending;

	return claim_upto(s, e, 0, claim_pos, &pending);
}

int
cs_shsync_records_out(struct cs_shsync *s, struct cs_engine *e, int64_t rec_after, uint8_t **msg,
    size_t *len, int64_t *rec_last, uint64_t *claim_pos)
{
	struct cs_share_ctx c;
	struct recs_out *o;
	size_t cap;
	int rc, got, pending;

	*msg = NULL;
	*len = 0;
	*rec_last = rec_after;
	ctx_of(s, e, &c);
	/* a message's worth of claims at a time: the peer verifies and stores
	 * these while the next ones are made (no row before all are sent) */
	if ((rc = claim_upto(s, e, CS_SHSYNC_RECS_PER_MSG, claim_pos, &pending)) < 0)
		return rc;
	if ((o = cs_calloc(1, sizeof(*o))) == NULL)
		return CS_ENOMEM;
	o->buf = cs_malloc((size_t)CS_SHSYNC_RECS_PER_MSG * CS_RECORDS_ITEM_MAX);
	if (o->buf == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	o->last = rec_after;
	/* one more than a message holds: tells whether more remain */
	got = cs_share_records_after(c.db, rec_after, CS_SHSYNC_RECS_PER_MSG + 1, rec_out_cb, o);
	if (got < 0) {
		rc = got;
		goto out;
	}
	if (o->n > 0) {
		cap = cs_records_size(o->n);
		if ((*msg = cs_malloc(cap)) == NULL) {
			rc = CS_ENOMEM;
			goto out;
		}
		if ((rc = cs_records_encode(o->v, o->n, *msg, cap, len)) != 0) {
			cs_free(*msg);
			*msg = NULL;
			*len = 0;
			goto out;
		}
	}
	*rec_last = o->last;
	/* the count, not the encoder's 0: more records (or claims to make)
	 * first, no rows yet */
	rc = got > CS_SHSYNC_RECS_PER_MSG || pending ? 1 : 0;
out:
	if (o != NULL)
		cs_free(o->buf);
	cs_free(o);
	return rc;
}

static int
gid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CS_GID_LEN);
}

struct recs_for {
	const uint8_t *prac;
	const uint8_t (*pats)[CS_GID_LEN];
	size_t npats;
	uint8_t (*extra)[CS_GID_LEN]; /* patients granted/revoked/transferred to prac */
	size_t nextra, cap;
	struct recs_out *o;
	uint8_t *msg;
	cs_shsync_msg_cb cb;
	void *ctx;
	size_t nmsg;
	int64_t last;
};

static int
has_gid(const uint8_t (*v)[CS_GID_LEN], size_t n, const uint8_t *g)
{
	return n > 0 && bsearch(g, v, n, CS_GID_LEN, gid_cmp) != NULL;
}

/* Pass 1: the patients whose rights for prac a record changes. */
static int
for_pass1(void *ctx, int64_t seq, const uint8_t *rec, size_t len)
{
	struct recs_for *f = ctx;
	struct cs_sharerec r;

	(void)seq;
	if (cs_sharerec_decode(rec, len, &r) != 0)
		return 0; /* stored records decode; a bad one is skipped, not sent */
	if ((r.kind != CS_SHAREREC_GRANT && r.kind != CS_SHAREREC_REVOKE &&
	        r.kind != CS_SHAREREC_TRANSFER) ||
	    memcmp(r.practitioner, f->prac, CS_GID_LEN) != 0)
		return 0;
	if (cs_grow(&f->extra, &f->cap, f->nextra + 1, CS_GID_LEN) < 0)
		return CS_ENOMEM;
	memcpy(f->extra[f->nextra++], r.patient, CS_GID_LEN);
	return 0;
}

static int
for_flush(struct recs_for *f)
{
	size_t len;
	int rc;

	if (f->o->n == 0)
		return 0;
	rc = cs_records_encode(f->o->v, f->o->n, f->msg, cs_records_size(CS_SHSYNC_RECS_PER_MSG),
	    &len);
	if (rc == 0)
		rc = f->cb(f->ctx, f->msg, len);
	f->o->n = 0;
	f->o->used = 0;
	f->nmsg++;
	return rc;
}

/* Pass 2: every NAME record and every record of a patient of the bundle. */
static int
for_pass2(void *ctx, int64_t seq, const uint8_t *rec, size_t len)
{
	struct recs_for *f = ctx;
	struct cs_sharerec r;
	int rc;

	if (cs_sharerec_decode(rec, len, &r) != 0)
		return 0;
	if (r.kind != CS_SHAREREC_NAME && !has_gid(f->pats, f->npats, r.patient) &&
	    !has_gid((const uint8_t(*)[CS_GID_LEN])f->extra, f->nextra, r.patient))
		return 0;
	if (f->o->n == CS_SHSYNC_RECS_PER_MSG && (rc = for_flush(f)) != 0)
		return rc;
	if (r.kind != CS_SHAREREC_NAME)
		f->last = seq;
	return rec_out_cb(f->o, seq, rec, len);
}

int
cs_shsync_records_for(struct cs_shsync *s, struct cs_engine *e, const uint8_t prac[CS_GID_LEN],
    uint8_t (*pats)[CS_GID_LEN], size_t npats, cs_shsync_msg_cb cb, void *ctx, int64_t *last)
{
	sqlite3 *db = cs_engine_handle(e);
	struct recs_for f;
	int rc;

	(void)s;
	*last = 0;
	memset(&f, 0, sizeof(f));
	f.prac = prac;
	f.cb = cb;
	f.ctx = ctx;
	if (npats > 1)
		qsort(pats, npats, CS_GID_LEN, gid_cmp);
	f.pats = (const uint8_t(*)[CS_GID_LEN])pats;
	f.npats = npats;
	if ((f.o = cs_calloc(1, sizeof(*f.o))) == NULL ||
	    (f.o->buf = cs_malloc((size_t)CS_SHSYNC_RECS_PER_MSG * CS_RECORDS_ITEM_MAX)) == NULL ||
	    (f.msg = cs_malloc(cs_records_size(CS_SHSYNC_RECS_PER_MSG))) == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	if ((rc = cs_share_records_after(db, 0, INT32_MAX, for_pass1, &f)) < 0)
		goto out;
	if (f.nextra > 1)
		qsort(f.extra, f.nextra, CS_GID_LEN, gid_cmp);
	if ((rc = cs_share_records_after(db, 0, INT32_MAX, for_pass2, &f)) < 0)
		goto out;
	if ((rc = for_flush(&f)) < 0)
		goto out;
	rc = (int)f.nmsg;
	*last = f.last;
out:
	if (f.o != NULL)
		cs_free(f.o->buf);
	cs_free(f.o);
	cs_free(f.msg);
	cs_free(f.extra);
	return rc;
}

int
cs_shsync_peer_cursor(struct cs_shsync *s, struct cs_engine *e, const uint8_t peer[CS_DEVID_LEN],
    int load, uint64_t main_after, int64_t ack, int64_t *rec_after)
{
	sqlite3 *db = cs_engine_handle(e);
	int64_t seq = 0;
	int saved = 0;

	(void)s;
	if (ack > 0 && cs_share_peer_ack(db, peer, ack) == 0)
		saved = 1;
	if (load) {
		*rec_after = 0;
		if (main_after > 0 && cs_share_peer_acked(db, peer, &seq) == 0)
			*rec_after = seq;
	}
	return saved;
}

int
cs_shsync_rearm(struct cs_engine *e, const uint8_t peer[CS_DEVID_LEN],
    const uint8_t peer_prac[CS_GID_LEN])
{
	int rc;

	for (int tries = 0;; tries++) {
		rc = cs_share_todo_rearm(cs_engine_handle(e), peer, peer_prac);
		if (!is_busy(rc) || tries >= BUSY_TRIES)
			return rc;
		nap();
	}
}

int
cs_shsync_backfill(struct cs_shsync *s, struct cs_engine *e, const uint8_t peer[CS_DEVID_LEN],
    const uint8_t peer_prac[CS_GID_LEN], uint64_t main_after, struct cs_changeset *cs)
{
	sqlite3 *db = cs_engine_handle(e);
	uint8_t patient[CS_GID_LEN];
	struct cs_scope sc;
	uint64_t after;
	int rc, more;

	(void)s;
	for (;;) {
		rc = cs_share_todo_next(db, peer, patient, &after);
		if (rc <= 0)
			return rc;
		sc.practitioner = peer_prac;
		sc.patient = patient;
		more = cs_engine_extract(e, after, peer, &sc, 128, cs);
		if (more < 0)
			return more;
		if ((rc = cs_share_todo_set(db, peer, patient, cs->db_version, more)) < 0)
			return rc;
		if (cs->nrows > 0) {
			cs->db_version = main_after; /* not a main-stream cursor */
			return 1;
		}
		/* nothing (left) to send of that patient: the next one */
	}
}

static void
hex8(const uint8_t *b, char out[17])
{
	cs_home_hex(b, 8, out);
}

struct notes {
	struct cs_shsync_note v[CS_SHSYNC_NOTES_MAX];
	size_t n;
};

static int records_in(struct cs_shsync *s, struct cs_engine *e, const struct cs_share_ctx *cc,
    const struct cs_records_item *v, size_t n, const uint8_t *from, const char *fh, int *anyp,
    int *rop, struct notes *nt);

size_t
cs_shsync_take_notes(struct cs_shsync *s, struct cs_shsync_note *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->nnotes < max ? s->nnotes : max;
	memcpy(out, s->notes, n * sizeof(*out));
	s->nnotes = 0;
	pthread_mutex_unlock(&s->mu);
	return n;
}

size_t
cs_shsync_notes_pending(struct cs_shsync *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->nnotes;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void
cs_shsync_notes_putback(struct cs_shsync *s, const struct cs_shsync_note *no)
{
	pthread_mutex_lock(&s->mu);
	if (s->nnotes < CS_SHSYNC_NOTES_MAX)
		s->notes[s->nnotes++] = *no;
	pthread_mutex_unlock(&s->mu);
}

int
cs_shsync_note_json(const struct cs_shsync_note *no, char *out, size_t cap, size_t *len)
{
	char id[17], dev[2 * CS_DEVID_LEN + 1];
	size_t n;
	int k;

	cs_home_hex(no->id, sizeof(no->id), id);
	cs_home_hex(no->from, CS_DEVID_LEN, dev);
	k = snprintf(out, cap,
	    "{\"event\":\"%s\",\"share\":\"%s\",\"from\":\"%s\",\"from_name\":\"",
	    no->kind == CS_SHAREREC_REVOKE ? CS_CTL_EV_SHARE_REVOKED : CS_CTL_EV_SHARE_RECV, id,
	    dev);
	if (k < 0 || (size_t)k >= cap)
		return CS_ERANGE;
	n = (size_t)k;
	if (cs_ctl_json_str(out, cap, &n, (const uint8_t *)no->from_name, strlen(no->from_name)) !=
	    0)
		return CS_ERANGE;
	if (no->kind == CS_SHAREREC_REVOKE)
		k = snprintf(out + n, cap - n, "\"}");
	else
		k = snprintf(out + n, cap - n, "\",\"permission\":\"%s\"}",
		    no->kind == CS_SHAREREC_TRANSFER ? "owner" : cs_perm_name(no->perm));
	if (k < 0 || (size_t)k >= cap - n)
		return CS_ERANGE;
	*len = n + (size_t)k;
	return 0;
}

/* After the commit: hand the notes to the loop (the oldest kept when full). */
static void
notes_push(struct cs_shsync *s, const struct notes *nt)
{
	size_t i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < nt->n && s->nnotes < CS_SHSYNC_NOTES_MAX; i++)
		s->notes[s->nnotes++] = nt->v[i];
	pthread_mutex_unlock(&s->mu);
}

int
cs_shsync_records_in(struct cs_shsync *s, struct cs_engine *e, const uint8_t *msg, size_t len,
    const uint8_t from[CS_DEVID_LEN], int *changed)
{
	struct cs_records_item *v;
	struct cs_share_ctx c;
	struct notes *nt = NULL;
	size_t n;
	int rc, any = 0, ro = 0;
	char fh[17];

	memset(&c, 0, sizeof(c));
	if (changed != NULL)
		*changed = 0;
	if ((v = cs_calloc(CS_RECORDS_MAX, sizeof(*v))) == NULL ||
	    (nt = cs_calloc(1, sizeof(*nt))) == NULL) {
		cs_free(v);
		return CS_ENOMEM;
	}
	rc = cs_records_decode(msg, len, v, CS_RECORDS_MAX, &n);
	if (rc != 0)
		goto out;
	ctx_of(s, e, &c);
	hex8(from, fh);
	if ((rc = cs_share_cache_open(&c)) < 0)
		goto out;
	/* one transaction for the message; a busy database: the whole again */
	for (int tries = 0;; tries++) {
		any = 0;
		nt->n = 0;
		if ((rc = cs_share_begin(c.db)) == 0) {
			rc = records_in(s, e, &c, v, n, from, fh, &any, &ro, nt);
			if (rc == 0)
				rc = cs_share_commit(c.db);
		}
		if (rc == 0)
			break;
		cs_share_rollback(c.db);
		if (!is_busy(rc) || tries >= BUSY_TRIES)
			goto out;
		nap();
	}
	notes_push(s, nt);
	/* the read-only set (a scan of every share) only when a record of the
	 * message can change it: not for the owner claims of an initial sync */
	if (ro)
		(void)cs_share_readonly(e, s->practitioner, cs_share_now_hlc(wall_ms()));
	if (any && changed != NULL)
		*changed = 1;
out:
	cs_share_cache_close(&c);
	cs_free(nt);
	cs_free(v);
	return rc;
}

static int
records_in(struct cs_shsync *s, struct cs_engine *e, const struct cs_share_ctx *cc,
    const struct cs_records_item *v, size_t n, const uint8_t *from, const char *fh, int *anyp,
    int *rop, struct notes *nt)
{
	const struct cs_share_ctx c = *cc;
	uint64_t seen = 0;
	size_t i;
	int rc, any = 0, ro = 0;
	char why[160], detail[CS_AUDIT_DETAIL_MAX], dh[17];

	for (i = 0; i < n; i++) {
		struct cs_sharerec r;

		memset(&r, 0, sizeof(r));
		rc = cs_share_add(&c, v[i].p, v[i].len, &r, why, sizeof(why));
		/* writes made here after a grant must be later than it, even on a
		 * late clock (a record too far ahead does not drag the clock): the
		 * floor is raised once, to the latest, before the commit */
		if (rc == 0 &&
		    CS_HLC_MS(r.hlc) <=
		        (uint64_t)(wall_ms() + cs_engine_clock_offset(e)) + SEEN_HLC_BOUND_MS &&
		    r.hlc > seen)
			seen = r.hlc;
		if (rc == 0) {
			any = 1;
			/* grants, revokes, transfers change who may write; a claim
			 * only when its patient's transfer is here already */
			if (r.kind == CS_SHAREREC_GRANT || r.kind == CS_SHAREREC_REVOKE ||
			    r.kind == CS_SHAREREC_TRANSFER)
				ro = 1;
			else if (r.kind == CS_SHAREREC_CLAIM && !ro &&
			    (rc = cs_share_has_transfer(c.db, r.patient)) != 0) {
				if (rc < 0)
					return rc;
				ro = 1;
			}
			if ((r.kind == CS_SHAREREC_GRANT || r.kind == CS_SHAREREC_REVOKE ||
			        r.kind == CS_SHAREREC_TRANSFER) &&
			    memcmp(r.practitioner, s->practitioner, CS_GID_LEN) == 0) {
				struct cs_share_dev d;
				const char *who = "a colleague";
				char nm[CS_SHAREREC_NOTE_MAX + 1] = "";

				if (lookup(s, r.signer, &d) == 1 &&
				    cs_share_names_one(c.db, d.practitioner, nm, sizeof(nm)) == 0)
					who = nm;
				if (nt->n < CS_SHSYNC_NOTES_MAX) {
					struct cs_shsync_note *no = &nt->v[nt->n++];
					uint8_t hash[CS_SHAREREC_HASH_LEN];

					memset(no, 0, sizeof(*no));
					no->kind = r.kind;
					no->perm = r.perm;
					memcpy(no->from, r.signer, CS_DEVID_LEN);
					cs_sharerec_hash(v[i].p, v[i].len, hash);
					memcpy(no->id, hash, sizeof(no->id));
					memcpy(no->patient, r.patient, CS_GID_LEN);
					no->noted_ms = wall_ms();
					snprintf(no->from_name, sizeof(no->from_name), "%s",
					    who == nm ? nm : "");
				}
				/* the notification line: no patient id or label in logs */
				if (r.kind == CS_SHAREREC_GRANT)
					cs_log(CS_LOG_NOTICE,
					    "Dr %s shared a patient with you, %s%s", who,
					    cs_perm_name(r.perm),
					    r.until_ms ? " (until a date)" : "");
				else if (r.kind == CS_SHAREREC_TRANSFER)
					cs_log(CS_LOG_NOTICE, "Dr %s transferred a patient to you",
					    who);
				else
					cs_log(CS_LOG_NOTICE,
					    "Dr %s revoked your access to a patient", who);
				snprintf(detail, sizeof(detail), "%s received: %s%s",
				    cs_sharerec_kind_name(r.kind),
				    r.kind == CS_SHAREREC_GRANT ? cs_perm_name(r.perm) : "",
				    r.kind == CS_SHAREREC_GRANT ? " for this practitioner" : "");
				audit(s, e,
				    r.kind == CS_SHAREREC_REVOKE ? CS_AUDIT_REVOKE : CS_AUDIT_SHARE,
				    r.signer, NULL, r.patient, 0, detail);
			}
			continue;
		}
		if (rc == 1 || rc == 2 || rc == CS_EAGAIN)
			continue; /* known, refused before (audited then), or later */
		if (rc == CS_SHARE_EFORGED || rc == CS_SHARE_ENORIGHT) {
			hex8(r.signer, dh);
			cs_log(CS_LOG_WARNING,
			    "audit: share record refused (%s, signer %.16s, from %.16s): %s",
			    cs_sharerec_kind_name(r.kind), dh, fh, why);
			snprintf(detail, sizeof(detail),
			    "share record refused (%s, from %.16s): %s",
			    cs_sharerec_kind_name(r.kind), fh, why);
			audit(s, e, CS_AUDIT_REFUSED, r.kind != 0 ? r.signer : from, NULL,
			    r.kind != 0 && r.kind != CS_SHAREREC_NAME ? r.patient : NULL, 1,
			    detail);
			continue;
		}
		return rc; /* a database error: retried, or the session later */
	}
	if (seen > 0 && (rc = cs_share_seen_hlc(c.db, seen)) < 0)
		return rc;
	*anyp = any;
	*rop = ro;
	return 0;
}

struct refusal {
	uint8_t patient[CS_GID_LEN], dev[CS_DEVID_LEN];
	int64_t n;
};

void
cs_shsync_refused(struct cs_shsync *s, struct cs_engine *e, const struct cs_changeset *cs,
    const uint8_t from[CS_DEVID_LEN], uint32_t reasserted)
{
	struct refusal *rf;
	size_t nrf = 0, j;
	uint32_t ri, k;
	char detail[CS_AUDIT_DETAIL_MAX], dh[17], fh[17];

	if ((rf = cs_calloc(cs->nrows + 1, sizeof(*rf))) == NULL) {
		cs_log(CS_LOG_ERR, "audit: refused changes not recorded (out of memory)");
		return;
	}
	for (ri = 0; ri < cs->nrows; ri++) {
		const struct cs_row *r = &cs->rows[ri];
		const char *tn = cs->tables[r->table].name;

		if (strncmp(tn, "cs_", 3) == 0 || (r->nvv == 0 && r->ncells == 0))
			continue;
		for (k = 0; k <= r->ncells; k++) {
			const struct cs_dot *d =
			    k < r->ncells ? &cs->cells[r->cell_first + k].dot : &r->ex_dot;
			uint64_t h = k < r->ncells ? cs->cells[r->cell_first + k].hlc : r->ex_hlc;
			uint8_t prac[CS_GID_LEN];

			if (cs_shsync_practitioner_of(s, cs->devs[d->dev], prac) != 1)
				continue;
			if (cs_engine_change_valid(e, r->patient, prac, h,
			        k == r->ncells && !(r->cl & 1)) != 0)
				continue;
			for (j = 0; j < nrf; j++)
				if (memcmp(rf[j].patient, r->patient, CS_GID_LEN) == 0 &&
				    memcmp(rf[j].dev, cs->devs[d->dev], CS_DEVID_LEN) == 0)
					break;
			if (j == nrf) {
				memcpy(rf[j].patient, r->patient, CS_GID_LEN);
				memcpy(rf[j].dev, cs->devs[d->dev], CS_DEVID_LEN);
				nrf++;
			}
			rf[j].n++;
			break; /* one refused write refuses the row */
		}
	}
	hex8(from, fh);
	for (j = 0; j < nrf; j++) {
		hex8(rf[j].dev, dh);
		cs_log(CS_LOG_WARNING,
		    "audit: refused %lld change(s) of a patient written by device %.16s (from "
		    "%.16s): no right on that patient at the change's time",
		    (long long)rf[j].n, dh, fh);
		snprintf(detail, sizeof(detail),
		    "change refused: writer %.16s had no right (received from %.16s)", dh, fh);
		audit(s, e, CS_AUDIT_REFUSED, rf[j].dev, NULL, rf[j].patient, rf[j].n, detail);
	}
	if (reasserted > 0) {
		/* the repair is an access too: audited (the patient when only one) */
		snprintf(detail, sizeof(detail),
		    "valid value written again over %u refused row(s) (late revoke)", reasserted);
		audit(s, e, CS_AUDIT_REFUSED, NULL, NULL, nrf == 1 ? rf[0].patient : NULL,
		    (int64_t)reasserted, detail);
	}
	cs_free(rf);
}

struct ended {
	uint8_t patient[CS_GID_LEN];
	uint64_t end_hlc, max_v;
};

struct ended_list {
	struct ended *v;
	size_t n, cap;
};

static int
ended_cb(void *ctx, const uint8_t patient[CS_GID_LEN], uint64_t end_hlc, uint64_t max_v)
{
	struct ended_list *l = ctx;

	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		void *p = cs_realloc(l->v, nc * sizeof(*l->v));

		if (p == NULL)
			return CS_ENOMEM;
		l->v = p;
		l->cap = nc;
	}
	memcpy(l->v[l->n].patient, patient, CS_GID_LEN);
	l->v[l->n].end_hlc = end_hlc;
	l->v[l->n].max_v = max_v;
	l->n++;
	return 0;
}

/*
 * 1 if a device of the patient's owner acknowledged up to max_v: this
 * copy's valid changes are then safe with the owner. A device that has no
 * session with any owner device (it reaches the owner through its own
 * practitioner's other devices) counts their acknowledgement: they forward
 * to the owner before they purge their own copy.
 */
static int
owner_has_it(struct cs_shsync *s, sqlite3 *db, const struct ended *en, uint64_t now_hlc,
    const struct cs_shsync_ack *acks, size_t nacks)
{
	uint8_t own[CS_GID_LEN];
	struct cs_share_dev d;
	size_t i;
	int owner_peer = 0;

	if (en->max_v == 0)
		return 1; /* no row here */
	if (cs_share_owner(db, en->patient, now_hlc, own) != 0)
		return 0;
	for (i = 0; i < nacks; i++) {
		if (lookup(s, acks[i].dev, &d) != 1 || memcmp(d.practitioner, own, CS_GID_LEN) != 0)
			continue;
		if (acks[i].acked >= en->max_v)
			return 1;
		owner_peer = 1;
	}
	for (i = 0; i < nacks && !owner_peer; i++)
		if (lookup(s, acks[i].dev, &d) == 1 &&
		    memcmp(d.practitioner, s->practitioner, CS_GID_LEN) == 0 &&
		    acks[i].acked >= en->max_v)
			return 1;
	return 0;
}

int
cs_shsync_maintain(struct cs_shsync *s, struct cs_engine *e, const struct cs_shsync_ack *acks,
    size_t nacks, int64_t now_ms)
{
	sqlite3 *db = cs_engine_handle(e);
	struct ended_list l = {0};
	uint64_t now_hlc;
	size_t i;
	int rc, purged = 0;
	char detail[CS_AUDIT_DETAIL_MAX];

	/* a late clock: a revoke received here is in force now (hlc floor) */
	if ((rc = cs_share_now_floor(db, now_ms, &now_hlc)) < 0)
		goto out;
	for (int tries = 0;; tries++) {
		rc = cs_share_readonly(e, s->practitioner, now_hlc);
		if (!is_busy(rc) || tries >= BUSY_TRIES)
			break;
		nap();
	}
	if (rc < 0)
		goto out;
	if ((rc = cs_share_ended(db, s->practitioner, now_hlc, ended_cb, &l)) < 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		struct ended *en = &l.v[i];
		int n;

		/* this copy's valid changes first: purge once the owner has them */
		if (!owner_has_it(s, db, en, now_hlc, acks, nacks) &&
		    (uint64_t)now_ms < CS_HLC_MS(en->end_hlc) + CS_SHSYNC_PURGE_GRACE)
			continue;
		if ((rc = cs_share_readonly_drop(db, en->patient)) < 0)
			goto out;
		/* audited while the app's id of the patient is still known here */
		snprintf(detail, sizeof(detail),
		    "access ended (revoke, expiry or transfer): local copy purged");
		audit(s, e, CS_AUDIT_REVOKE, NULL, NULL, en->patient, 0, detail);
		for (int tries = 0;; tries++) {
			n = cs_engine_purge_patient(e, en->patient);
			if (!is_busy(n) || tries >= BUSY_TRIES)
				break;
			nap();
		}
		if (n < 0) {
			rc = n;
			cs_log(CS_LOG_ERR, "purging a patient whose share ended failed: %s",
			    cs_engine_errmsg(e));
			goto out;
		}
		if ((rc = cs_share_mark_purged(db, en->patient, en->end_hlc)) < 0)
			goto out;
		cs_log(CS_LOG_NOTICE,
		    "audit: access to a patient ended: %d row(s) purged from this device", n);
		purged++;
	}
	rc = purged;
out:
	cs_free(l.v);
	return rc;
}
