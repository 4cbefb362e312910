/*
 * agent/ctl_share.c: the control socket's share verbs and events (see
 * ctl_share.h).
 */
#include "agent/ctl_share.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/home.h"
#include "agent/jsonw.h"
#include "agent/share_ops.h"
#include "base/err.h"
#include "base/mem.h"
#include "sql/audit.h"
#include "sql/patlabel.h"
#include "sql/share.h"

#define ANSWER_CAP (CS_CTL_MAX_RESP - 1)
#define LIST_ROOM  512 /* kept free in a list answer for its end */

struct share_job {
	struct cs_dbw_job j;
	struct cs_engine *eng;
	struct cs_shsync *sh;
	struct cs_control *c;
	struct cs_ctl_req req;
	uint64_t token;
	cs_ctl_jobs_cb cb;
	void *ctx;
	/* results (worker) */
	char *out;
	size_t len;
	int rc, changed;
	int64_t n, next; /* list: rows given, the FROM of the next page (0: none) */
};

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap(void)
{
	struct timespec ts = {0, 5 * 1000000L};

	nanosleep(&ts, NULL);
}

int
cs_ctl_share_is(int verb)
{
	return verb == CS_CTL_PATIENTS || verb == CS_CTL_PRACS || verb == CS_CTL_SHARES ||
	    verb == CS_CTL_SHARE || verb == CS_CTL_PERM || verb == CS_CTL_REVOKE ||
	    verb == CS_CTL_TRANSFER;
}

static int putf(char *out, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Append to out; CS_ERANGE (nothing kept) when it does not fit. */
static int
putf(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(out + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= cap - *len) {
		out[*len] = '\0';
		return CS_ERANGE;
	}
	*len += (size_t)k;
	return 0;
}

static int put(struct share_job *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
put(struct share_job *x, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(x->out + x->len, ANSWER_CAP - x->len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= ANSWER_CAP - x->len) {
		x->out[x->len] = '\0';
		return CS_ERANGE;
	}
	x->len += (size_t)k;
	return 0;
}

/* A JSON string, or null for NULL. */
static int
put_str(struct share_job *x, const char *s)
{
	if (s == NULL)
		return put(x, "null");
	return cs_jsonw_str(x->out, ANSWER_CAP, &x->len, s);
}

static const char *
rights_name(int r)
{
	switch (r) {
	case CS_SHARE_OWNER:
		return "owner";
	case CS_PERM_FULL:
		return "full";
	case CS_PERM_WRITE:
		return "write";
	case CS_PERM_READ:
		return "read";
	default:
		return "none";
	}
}

/* ---- patients ---- */

struct pat_walk {
	struct share_job *x;
	sqlite3 *db;
	uint8_t prac[CS_GID_LEN];
	uint64_t now_hlc;
};

static int
patient_cb(void *ctx, const struct cs_patlabel *p)
{
	struct pat_walk *w = ctx;
	struct share_job *x = w->x;
	size_t start = x->len;
	uint8_t own[CS_GID_LEN];
	int r = CS_SHARE_OWNER, rc;

	if (p->gid != NULL) {
		r = cs_share_rights(w->db, p->gid, w->prac, w->now_hlc);
		if (r < 0)
			return r;
		/* created here and not claimed yet: the claim comes with the share */
		if (r == CS_PERM_NONE &&
		    cs_share_owner(w->db, p->gid, w->now_hlc, own) == CS_ENOENT)
			r = CS_SHARE_OWNER;
	}
	if (x->len + LIST_ROOM >= ANSWER_CAP)
		rc = CS_ERANGE;
	else if ((rc = put(x, "%s{\"id\":", x->n > 0 ? "," : "")) == 0 &&
	    (rc = put_str(x, p->local)) == 0 && (rc = put(x, ",\"label\":")) == 0 &&
	    (rc = put_str(x, p->label)) == 0)
		rc = put(x, ",\"rights\":\"%s\"}", rights_name(r));
	if (rc == CS_ERANGE) {
		x->len = start;
		x->out[x->len] = '\0';
		x->next = x->req.id + x->n;
		return 1; /* the page is full */
	}
	if (rc != 0)
		return rc;
	x->n++;
	return 0;
}

static void
run_patients(struct share_job *x)
{
	struct pat_walk w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.x = x;
	w.db = cs_engine_handle(x->eng);
	memcpy(w.prac, x->sh->practitioner, CS_GID_LEN);
	w.now_hlc = cs_share_now_hlc(wall_ms());
	if ((x->rc = put(x, "{\"patients\":[")) != 0)
		return;
	rc = cs_patlabel_list(x->eng, x->req.id, patient_cb, &w);
	if (rc == CS_ENOENT) {
		x->len = 0;
		x->rc = put(x,
		    "{\"error\":\"no patient table (scope = self) in the tracked "
		    "tables\"}");
		return;
	}
	if (rc < 0) {
		x->rc = rc;
		return;
	}
	if (x->next > 0)
		x->rc = put(x, "],\"next\":%lld}", (long long)x->next);
	else
		x->rc = put(x, "],\"next\":null}");
}

/* ---- practitioners ---- */

struct prac_walk {
	struct share_job *x;
	uint8_t (*seen)[CS_GID_LEN];
	size_t nseen;
	uint8_t (*roster)[CS_GID_LEN];
	size_t *ndev, nroster;
};

static int
prac_one(struct prac_walk *w, const uint8_t *prac, const char *name)
{
	struct share_job *x = w->x;
	char hex[33];
	size_t i, ndev = 0;
	int me = memcmp(prac, x->sh->practitioner, CS_GID_LEN) == 0, rc;

	for (i = 0; i < w->nseen; i++)
		if (memcmp(w->seen[i], prac, CS_GID_LEN) == 0)
			return 0;
	if (w->nseen == CS_HOME_MAX_DEVICES + 64)
		return 0;
	memcpy(w->seen[w->nseen++], prac, CS_GID_LEN);
	for (i = 0; i < w->nroster; i++)
		if (memcmp(w->roster[i], prac, CS_GID_LEN) == 0)
			ndev = w->ndev[i];
	if (me)
		name = x->sh->name;
	cs_home_hex(prac, CS_GID_LEN, hex);
	if ((rc = put(x, "%s{\"id\":\"%s\",\"name\":", w->nseen > 1 ? "," : "", hex)) != 0 ||
	    (rc = put_str(x, name)) != 0)
		return rc;
	return put(x, ",\"devices\":%zu,\"you\":%s}", ndev, me ? "true" : "false");
}

static int
names_cb(void *ctx, const uint8_t prac[CS_GID_LEN], const char *name)
{
	return prac_one(ctx, prac, name);
}

static void
run_pracs(struct share_job *x)
{
	struct prac_walk w;
	size_t i;
	int rc;

	memset(&w, 0, sizeof(w));
	w.x = x;
	w.seen = cs_calloc(CS_HOME_MAX_DEVICES + 64, CS_GID_LEN);
	w.roster = cs_calloc(CS_HOME_MAX_DEVICES, CS_GID_LEN);
	w.ndev = cs_calloc(CS_HOME_MAX_DEVICES, sizeof(*w.ndev));
	if (w.seen == NULL || w.roster == NULL || w.ndev == NULL) {
		x->rc = CS_ENOMEM;
		goto out;
	}
	w.nroster = cs_shsync_pracs(x->sh, w.roster, w.ndev, CS_HOME_MAX_DEVICES);
	/* the same list as `cabsync practitioners`: me, the named, the roster's */
	if ((rc = put(x, "{\"practitioners\":[")) == 0 &&
	    (rc = prac_one(&w, x->sh->practitioner, x->sh->name)) == 0)
		rc = cs_share_names(cs_engine_handle(x->eng), names_cb, &w);
	for (i = 0; rc == 0 && i < w.nroster; i++)
		rc = prac_one(&w, w.roster[i], NULL);
	if (rc == 0)
		rc = put(x, "]}");
	x->rc = rc;
out:
	cs_free(w.seen);
	cs_free(w.roster);
	cs_free(w.ndev);
}

/* ---- shares ---- */

struct share_walk {
	struct share_job *x;
	struct cs_share_self self;
	uint8_t (*pracs)[CS_GID_LEN];
	int64_t skip;
	uint64_t now_hlc;
};

static int
share_cb(void *ctx, const struct cs_share_row *r)
{
	struct share_walk *w = ctx;
	struct share_job *x = w->x;
	size_t start = x->len;
	char hex[33], name[CS_HOME_NAME_MAX + 1], label[256];
	int rc, active;

	if (w->skip > 0) {
		w->skip--;
		return 0;
	}
	cs_home_hex(r->practitioner, CS_GID_LEN, hex);
	cs_share_op_label(&w->self, r->practitioner, name, sizeof(name));
	active = !r->has_end || r->end_hlc > w->now_hlc;
	if (x->len + LIST_ROOM >= ANSWER_CAP)
		rc = CS_ERANGE;
	else if ((rc = put(x, "%s{\"patient\":", x->n > 0 ? "," : "")) == 0 &&
	    (rc = put_str(x, r->patient_local)) == 0 && (rc = put(x, ",\"label\":")) == 0) {
		if (cs_patlabel_of(x->eng, r->patient, label, sizeof(label)) == 0)
			rc = put_str(x, label);
		else
			rc = put(x, "null");
	}
	if (rc == 0 && (rc = put(x, ",\"practitioner\":\"%s\",\"name\":", hex)) == 0 &&
	    (rc = put_str(x, name)) == 0 &&
	    (rc = put(x, ",\"perm\":\"%s\",\"since\":%llu,\"until\":", r->perm,
	         (unsigned long long)CS_HLC_MS(r->grant_hlc))) == 0) {
		if (r->has_end)
			rc = put(x, "%llu", (unsigned long long)CS_HLC_MS(r->end_hlc));
		else
			rc = put(x, "null");
	}
	if (rc == 0 &&
	    (rc = put(x, ",\"active\":%s,\"you\":%s,\"note\":", active ? "true" : "false",
	         memcmp(r->practitioner, x->sh->practitioner, CS_GID_LEN) == 0 ? "true"
	                                                                       : "false")) == 0 &&
	    (rc = put_str(x, r->note)) == 0)
		rc = put(x, "}");
	if (rc == CS_ERANGE) {
		x->len = start;
		x->out[x->len] = '\0';
		x->next = x->req.id + x->n;
		return 1;
	}
	if (rc != 0)
		return rc;
	x->n++;
	return 0;
}

static void
run_shares(struct share_job *x)
{
	struct share_walk *w;
	int rc;

	if ((w = cs_calloc(1, sizeof(*w))) == NULL ||
	    (w->pracs = cs_calloc(CS_HOME_MAX_DEVICES, CS_GID_LEN)) == NULL) {
		x->rc = CS_ENOMEM;
		goto out;
	}
	w->x = x;
	w->skip = x->req.id;
	w->now_hlc = cs_share_now_hlc(wall_ms());
	cs_shsync_self(x->sh, x->eng, &w->self, w->pracs);
	if ((x->rc = put(x, "{\"shares\":[")) != 0)
		goto out;
	rc = cs_share_list(cs_engine_handle(x->eng), NULL, share_cb, w);
	if (rc < 0) {
		x->rc = rc;
		goto out;
	}
	if (x->next > 0)
		x->rc = put(x, "],\"next\":%lld}", (long long)x->next);
	else
		x->rc = put(x, "],\"next\":null}");
out:
	if (w != NULL)
		cs_free(w->pracs);
	cs_free(w);
}

/* ---- share / perm / revoke ---- */

static void
run_make(struct share_job *x)
{
	struct cs_share_self self;
	struct cs_share_op op;
	uint8_t(*pracs)[CS_GID_LEN];
	char why[160], detail[CS_AUDIT_DETAIL_MAX];
	int rc, tries;

	if ((pracs = cs_calloc(CS_HOME_MAX_DEVICES, CS_GID_LEN)) == NULL) {
		x->rc = CS_ENOMEM;
		return;
	}
	cs_shsync_self(x->sh, x->eng, &self, pracs);
	memset(&op, 0, sizeof(op));
	op.kind = x->req.verb == CS_CTL_SHARE ? CS_SHARE_OP_GRANT
	    : x->req.verb == CS_CTL_PERM      ? CS_SHARE_OP_CHANGE
	    : x->req.verb == CS_CTL_TRANSFER  ? CS_SHARE_OP_TRANSFER
	                                      : CS_SHARE_OP_REVOKE;
	op.patient = x->req.patient;
	op.perm = x->req.perm; /* CS_CTL_READ.. == CS_PERM_READ.. */
	op.until_ms = x->req.until * 1000;
	why[0] = '\0';
	rc = cs_share_op_resolve(&self, x->req.prac, op.practitioner);
	if (rc == CS_ENOENT || rc == CS_EEXIST) {
		x->rc = put(x, "{\"error\":\"no such practitioner in the roster\"}");
		goto out;
	}
	for (tries = 0; rc == 0; tries++) {
		/* the app may hold the write lock for a moment */
		rc = cs_share_op_run(&self, &op, wall_ms(), why, sizeof(why), detail,
		    sizeof(detail));
		if ((rc != CS_EBUSY && rc != CS_SQL_EBUSY) || tries >= CS_CTL_SHARE_BUSY_TRIES)
			break;
		rc = 0;
		nap();
	}
	switch (rc) {
	case 0:
		x->changed = 1;
		if ((x->rc = put(x, "{\"ok\":true,\"detail\":")) == 0 &&
		    (x->rc = put_str(x, detail)) == 0)
			x->rc = put(x, "}");
		break;
	case CS_SHARE_ENOPAT:
		x->rc = put(x, "{\"error\":\"no such patient here\"}");
		break;
	case CS_EINVAL:
		x->rc = put(x, "{\"error\":\"the end date must be in the future\"}");
		break;
	case CS_ENOENT:
	case CS_SHARE_ENORIGHT:
	case CS_EAGAIN:
		if ((x->rc = put(x, "{\"error\":")) == 0) {
			char msg[200];

			snprintf(msg, sizeof(msg), "refused: %s",
			    why[0] != '\0' ? why : "this device may not do that");
			if ((x->rc = put_str(x, msg)) == 0)
				x->rc = put(x, "}");
		}
		break;
	case CS_EBUSY:
	case CS_SQL_EBUSY:
		x->rc = put(x, "{\"error\":\"the database is busy; try again\"}");
		break;
	default:
		x->rc = put(x, "{\"error\":\"%s\"}", cs_share_strerror(rc));
		break;
	}
out:
	cs_free(pracs);
}

static void
job_run(struct cs_dbw_job *job, void *ctx)
{
	struct share_job *x = (struct share_job *)job;

	(void)ctx;
	if ((x->out = cs_malloc(ANSWER_CAP + 1)) == NULL) {
		x->rc = CS_ENOMEM;
		return;
	}
	x->out[0] = '\0';
	switch (x->req.verb) {
	case CS_CTL_PATIENTS:
		run_patients(x);
		break;
	case CS_CTL_PRACS:
		run_pracs(x);
		break;
	case CS_CTL_SHARES:
		run_shares(x);
		break;
	default:
		run_make(x);
		break;
	}
}

static void
job_done(struct cs_dbw_job *job)
{
	struct share_job *x = (struct share_job *)job;
	char err[160];
	int n;

	if (x->j.cancelled) {
		n = snprintf(err, sizeof(err), "{\"error\":\"the agent is stopping\"}");
		(void)cs_control_answer(x->c, x->token, err, (size_t)n);
		goto out;
	}
	if (x->rc != 0) {
		n = snprintf(err, sizeof(err), "{\"error\":\"%s\"}",
		    x->rc == CS_ERANGE ? "answer too large" : cs_strerror(x->rc));
		(void)cs_control_answer(x->c, x->token, err, (size_t)n);
	} else {
		(void)cs_control_answer(x->c, x->token, x->out, x->len);
	}
	if (x->changed && x->cb != NULL)
		x->cb(x->ctx, 0, -1, 1); /* the new record goes to the cabinet */
out:
	cs_free(x->out);
	cs_free(x);
}

int
cs_ctl_share_post(struct cs_dbw *w, struct cs_engine *eng, struct cs_shsync *sh,
    struct cs_control *c, const struct cs_ctl_req *req, uint64_t token, cs_ctl_jobs_cb cb,
    void *ctx)
{
	struct share_job *x;

	if (!cs_ctl_share_is(req->verb))
		return CS_EINVAL;
	if ((x = cs_calloc(1, sizeof(*x))) == NULL)
		return CS_ENOMEM;
	x->j.run = job_run;
	x->j.done = job_done;
	x->eng = eng;
	x->sh = sh;
	x->c = c;
	x->req = *req;
	x->token = token;
	x->cb = cb;
	x->ctx = ctx;
	cs_dbw_post(w, &x->j);
	return 0;
}

/* ---- events ---- */

#define EV_LINE 768

struct ev_job {
	struct cs_dbw_job j;
	struct cs_engine *eng;
	struct cs_shsync *sh;
	struct cs_control *c;
	size_t n;
	char plain[CS_SHSYNC_NOTES_MAX][EV_LINE];
	char labelled[CS_SHSYNC_NOTES_MAX][EV_LINE];
};

/*
 * The event line of a note (agent/share_sync.c, PROTOCOL.md §8.2) into
 * plain, and the same with "patient_label" (when label is not NULL) into
 * labelled. 0 or CS_ERANGE.
 */
static int
ev_lines(const struct cs_shsync_note *no, const char *label, char *plain, char *labelled)
{
	size_t len = 0, n;

	if (cs_shsync_note_json(no, plain, EV_LINE, &len) != 0 || len < 2 || plain[len - 1] != '}')
		return CS_ERANGE;
	memcpy(labelled, plain, len + 1);
	if (label == NULL)
		return 0;
	n = len - 1; /* before the closing brace */
	labelled[n] = '\0';
	if (putf(labelled, EV_LINE, &n, ",\"patient_label\":") != 0 ||
	    cs_jsonw_str(labelled, EV_LINE, &n, label) != 0 ||
	    putf(labelled, EV_LINE, &n, "}") != 0) {
		memcpy(labelled, plain, len + 1); /* too long: no label */
		return 0;
	}
	return 0;
}

static void
ev_run(struct cs_dbw_job *job, void *ctx)
{
	struct ev_job *x = (struct ev_job *)job;
	struct cs_shsync_note v[CS_SHSYNC_NOTES_MAX];
	int64_t now = wall_ms();
	char label[256];
	size_t n, i, k;
	int have;

	(void)ctx;
	n = cs_shsync_take_notes(x->sh, v, CS_SHSYNC_NOTES_MAX);
	for (i = 0; i < n; i++) {
		/* a permission change is a revoke and a grant: one share_received */
		for (k = i + 1; v[i].kind == CS_SHAREREC_REVOKE && k < n; k++)
			if (v[k].kind == CS_SHAREREC_GRANT &&
			    memcmp(v[k].patient, v[i].patient, CS_GID_LEN) == 0 &&
			    memcmp(v[k].from, v[i].from, CS_DEVID_LEN) == 0)
				break;
		if (v[i].kind == CS_SHAREREC_REVOKE && k < n)
			continue;
		have = cs_patlabel_of(x->eng, v[i].patient, label, sizeof(label)) == 0;
		/* a new share: its rows follow the record; wait for them a little */
		if (!have && v[i].kind != CS_SHAREREC_REVOKE &&
		    now - v[i].noted_ms < CS_CTL_SHARE_LABEL_WAIT_MS) {
			cs_shsync_notes_putback(x->sh, &v[i]);
			continue;
		}
		if (ev_lines(&v[i], have ? label : NULL, x->plain[x->n], x->labelled[x->n]) == 0)
			x->n++;
	}
}

static void
ev_done(struct cs_dbw_job *job)
{
	struct ev_job *x = (struct ev_job *)job;
	size_t i;

	x->sh->ev_posted = 0;
	for (i = 0; !x->j.cancelled && i < x->n; i++)
		cs_control_publish2(x->c, x->plain[i], strlen(x->plain[i]), x->labelled[i],
		    strlen(x->labelled[i]));
	cs_free(x);
}

void
cs_ctl_share_events(struct cs_dbw *w, struct cs_engine *eng, struct cs_shsync *sh,
    struct cs_control *c)
{
	struct ev_job *x;

	if (sh->ev_posted || cs_shsync_notes_pending(sh) == 0)
		return;
	if ((x = cs_calloc(1, sizeof(*x))) == NULL)
		return; /* the next call tries again */
	x->j.run = ev_run;
	x->j.done = ev_done;
	x->eng = eng;
	x->sh = sh;
	x->c = c;
	sh->ev_posted = 1;
	cs_dbw_post(w, &x->j);
}
