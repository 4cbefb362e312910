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
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "sql/audit.h"
#include "sql/engine.h"

#define MAX_LOG 24
#define MAX_IMP 64

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

	for (i = 0; i < h->nroster; i++) {
		out[i] = !h->roster[i].revoked &&
		    memcmp(h->roster[i].id, h->device_id, CS_DEVID_LEN) != 0;
		n += out[i];
	}
	return n;
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

static void
import_folder(struct relay_job *x)
{
	struct cs_relay_agent *r = x->r;
	const struct cs_relay_cfg *c = &r->cfg;
	uint8_t(*ids)[CS_BUNDLE_ID_LEN] = NULL;
	struct cs_relay_import_res res;
	uint8_t *buf;
	size_t i, n = 0, len;
	char path[CS_HOME_PATH_MAX], name[48], idhex[33], why[256], dev[17], det[320];
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
		snprintf(name, sizeof(name), "%s%s", idhex, CS_RELAY_FOLDER_SUFFIX);
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
		why[0] = '\0';
		rc = cs_relay_import(r->eng, &x->home, r->st, &r->seen, buf, len, x->now,
		    c->lifetime_ms, "folder", &res, why, sizeof(why));
		if (rc == 0) {
			(void)cs_relay_folder_remove(c->dir, x->home.cabinet_id, x->home.device_id,
			    ids[i]);
			short_dev(res.info.sender_id, dev);
			jlog(x, CS_LOG_INFO,
			    "relay: imported bundle %s from device %s: %u rows (%u applied, %u "
			    "refused, %u conflicts)",
			    idhex, dev, res.rows, res.applied, res.refused, res.conflicts);
			if (x->nimp < MAX_IMP) {
				memcpy(x->imp[x->nimp].sender, res.info.sender_id, CS_DEVID_LEN);
				x->imp[x->nimp].cursor = res.cursor;
				x->imp[x->nimp++].applied = res.applied;
			}
		} else if (transient(rc)) {
			jlog(x, CS_LOG_WARNING, "relay bundle %s: %s (%s); retrying later", idhex,
			    why[0] != '\0' ? why : "import failed", cs_relay_strerror(rc));
		} else {
			if (why[0] == '\0')
				snprintf(why, sizeof(why), "%s", cs_relay_strerror(rc));
			if (cs_relay_quarantine(x->home.dir, name, buf, len, why) != 0)
				jlog(x, CS_LOG_ERR,
				    "relay bundle %s: cannot write the quarantine copy", idhex);
			(void)cs_relay_folder_remove(c->dir, x->home.cabinet_id, x->home.device_id,
			    ids[i]);
			snprintf(det, sizeof(det), "relay bundle %s quarantined: %s", idhex, why);
			cs_relay_audit(r->eng, &x->home, CS_AUDIT_REFUSED,
			    res.opened ? res.info.sender_id : NULL, 0, det);
			jlog(x, CS_LOG_WARNING, "%s (kept in %s/relay-quarantine, never applied)",
			    det, x->home.dir);
		}
		cs_free(buf);
	}
	cs_free(ids);
}

/* Settle dev's waiting bundles: delivered, acknowledged live, or expired. */
static int
settle_outbox(struct relay_job *x, const struct cs_roster_dev *d, const struct cs_relay_peerview *v)
{
	struct cs_relay_agent *r = x->r;
	struct cs_relay_out *o = &r->out;
	const struct cs_relay_cfg *c = &r->cfg;
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
		there = cs_relay_folder_exists(c->dir, x->home.cabinet_id, d->id, b.id);
		if (v->acked_known && b.upto <= v->acked) {
			/* it has those changes from a live session: the bundle is moot */
			if (there)
				(void)cs_relay_folder_remove(c->dir, x->home.cabinet_id, d->id,
				    b.id);
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
				(void)cs_relay_folder_remove(c->dir, x->home.cabinet_id, d->id,
				    b.id);
			cs_relay_out_del(o, j);
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

static void
send_folder(struct relay_job *x)
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
	int64_t since;
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
		if (dbv <= covered)
			continue;
		memset(&req, 0, sizeof(req));
		req.to = d;
		req.after = covered;
		req.now_ms = x->now;
		req.lifetime_ms = c->lifetime_ms;
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
			continue; /* only its own changes: nothing to relay */
		}
		cs_relay_idhex(sb.id, idhex);
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
	if (r->cfg.backend == CS_RELAY_FOLDER) {
		import_folder(x);
		send_folder(x);
	}
}

static void cycle_post(struct cs_relay_agent *r);

static void
cycle_done(struct cs_dbw_job *job)
{
	struct relay_job *x = (struct relay_job *)job;
	struct cs_relay_agent *r = x->r;
	size_t i;

	r->busy = 0;
	for (i = 0; i < x->nlog; i++)
		cs_log(x->log[i].lvl, "%s", x->log[i].text);
	if (!x->j.cancelled && !r->closing) {
		for (i = 0; i < x->nimp; i++)
			r->imported(r->ctx, x->imp[i].sender, x->imp[i].cursor, x->imp[i].applied);
		r->cycles++;
		if (r->again) {
			r->again = 0;
			cycle_post(r);
		}
	}
	sodium_memzero(&x->home, sizeof(x->home));
	cs_free(x);
}

static void
cycle_post(struct cs_relay_agent *r)
{
	struct relay_job *x;
	size_t i;

	if (r->closing)
		return;
	if (r->busy) {
		r->again = 1;
		return;
	}
	x = cs_calloc(1, sizeof(*x));
	if (x == NULL)
		return; /* the next tick tries again */
	x->j.run = cycle_run;
	x->j.done = cycle_done;
	x->r = r;
	x->home = *r->home;
	x->now = relay_now();
	cs_relay_recipients(&x->home, x->to);
	for (i = 0; i < x->home.nroster; i++)
		r->view(r->ctx, i, &x->view[i]);
	r->busy = 1;
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
    const struct cs_home *home, struct cs_engine *eng, struct cs_devstate *st,
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
		cs_log(CS_LOG_ERR, "relay disabled: backend supabase is not built in this agent");
		return CS_RELAY_ECONFIG;
	}
	r->started_ms = (int64_t)relay_now();
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, on_timer, 0, r->cfg.interval_ms);
	uv_timer_init(loop, &r->kick);
	r->kick.data = r;
	uv_timer_start(&r->kick, on_kick_check, 1000, 1000);
	r->started = 1;
	cs_log(CS_LOG_INFO, "relay: folder %s, to devices not seen for %llu s, lifetime %llu s",
	    r->cfg.dir, (unsigned long long)(r->cfg.after_ms / 1000),
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
}

void
cs_relay_agent_free(struct cs_relay_agent *r)
{
	if (r == NULL)
		return;
	cs_relay_seen_free(&r->seen);
}
