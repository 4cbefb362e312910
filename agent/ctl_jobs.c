/*
 * agent/ctl_jobs.c: database-backed control requests (see ctl_jobs.h).
 */
#include "agent/ctl_jobs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/audit.h"
#include "base/err.h"
#include "base/mem.h"
#include "sql/audit.h"
#include "sql/engine.h"

struct ctl_job {
	struct cs_dbw_job j;
	struct cs_engine *eng;
	struct cs_control *c;
	struct cs_ctl_req req;
	uint64_t token;
	int answer; /* 0: refresh only */
	cs_ctl_jobs_cb cb;
	void *ctx;
	/* results (worker) */
	char *out;
	size_t len, cap;
	int rc, changed, cut;
	uint64_t dbv;
	int64_t nconf;
};

int
cs_ctl_json_str(char *out, size_t cap, size_t *n, const uint8_t *p, size_t len)
{
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		if (*n + 7 >= cap)
			return CS_ERANGE;
		if (p[i] == '"' || p[i] == '\\') {
			out[(*n)++] = '\\';
			out[(*n)++] = (char)p[i];
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			k = snprintf(out + *n, cap - *n, "\\u%04x", p[i]);
			*n += (size_t)k;
		} else {
			out[(*n)++] = (char)p[i];
		}
	}
	out[*n] = '\0';
	return 0;
}

static int putf(struct ctl_job *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append to the answer; CS_ERANGE when it does not fit. */
static int
putf(struct ctl_job *x, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(x->out + x->len, x->cap - x->len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= x->cap - x->len)
		return CS_ERANGE;
	x->len += (size_t)k;
	return 0;
}

static int
hex(struct ctl_job *x, const uint8_t *p, size_t n)
{
	size_t i;

	if (n * 2 + 1 >= x->cap - x->len)
		return CS_ERANGE;
	for (i = 0; i < n; i++)
		x->len += (size_t)snprintf(x->out + x->len, 3, "%02x", p[i]);
	return 0;
}

static int
value(struct ctl_job *x, const struct cs_value *v, int deleted)
{
	char num[64];

	if (deleted)
		return putf(x, "{\"deleted\":true}");
	switch (v->type) {
	case CS_V_INT:
		snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
		return putf(x, "\"%s\"", num);
	case CS_V_REAL:
		snprintf(num, sizeof(num), "%.17g", v->u.r);
		return putf(x, "\"%s\"", num);
	case CS_V_TEXT:
		if (putf(x, "\"") != 0 ||
		    cs_ctl_json_str(x->out, x->cap, &x->len, v->p, v->len) != 0)
			return CS_ERANGE;
		return putf(x, "\"");
	case CS_V_BLOB:
	case CS_V_REF:
		snprintf(num, sizeof(num), "<%zu bytes>", v->len);
		return putf(x, "\"%s\"", num);
	default:
		return putf(x, "null");
	}
}

/* One conflict: mine is the value this replica shows (the winner), theirs the other. */
static int
conflict_cb(void *ctx, const struct cs_conflict *cf)
{
	struct ctl_job *x = ctx;
	size_t start = x->len;
	int rc;

	if (x->req.verb != CS_CTL_CONFLICTS) {
		x->nconf++;
		return 0;
	}
	rc = putf(x, "%s", x->nconf > 0 ? "," : "");
	if (rc == 0)
		rc = putf(x, "{\"id\":%lld,\"table\":\"", (long long)cf->id);
	if (rc == 0)
		rc = cs_ctl_json_str(x->out, x->cap, &x->len, (const uint8_t *)cf->table,
		    strlen(cf->table));
	if (rc == 0 && cf->column != NULL) {
		rc = putf(x, "\",\"column\":\"");
		if (rc == 0)
			rc = cs_ctl_json_str(x->out, x->cap, &x->len, (const uint8_t *)cf->column,
			    strlen(cf->column));
		if (rc == 0)
			rc = putf(x, "\"");
	} else if (rc == 0) {
		rc = putf(x, "\",\"column\":null");
	}
	if (rc == 0)
		rc = putf(x, ",\"row\":\"");
	if (rc == 0)
		rc = hex(x, cf->row_gid, 8);
	if (rc == 0)
		rc = putf(x, "\",\"mine\":");
	if (rc == 0)
		rc = value(x, &cf->winner, cf->winner_is_delete);
	if (rc == 0)
		rc = putf(x, ",\"theirs\":");
	if (rc == 0)
		rc = value(x, &cf->loser, cf->loser_is_delete);
	if (rc == 0)
		rc = putf(x, ",\"mine_device\":\"");
	if (rc == 0)
		rc = hex(x, cf->winner_dev, CS_DEVID_LEN);
	if (rc == 0)
		rc = putf(x, "\",\"their_device\":\"");
	if (rc == 0)
		rc = hex(x, cf->loser_dev, CS_DEVID_LEN);
	if (rc == 0)
		rc = putf(x, "\"}");
	if (rc != 0) {
		/* the answer is full: the list says it is cut */
		x->len = start;
		x->out[x->len] = '\0';
		x->cut = 1;
		return 1;
	}
	x->nconf++;
	return 0;
}

struct audit_ring {
	struct ctl_job *x;
	char **rows; /* CS_CTL_AUDIT_ROWS lines, a ring */
	size_t n;    /* rows seen */
	int rc;
};

static int
audit_cb(void *ctx, const struct cs_audit_row *r)
{
	struct audit_ring *ar = ctx;
	char line[1024], dev[2 * CS_DEVID_LEN + 1] = "";
	size_t n = 0, i;
	int k;

	if (r->device != NULL)
		for (i = 0; i < 8; i++)
			snprintf(dev + 2 * i, 3, "%02x", r->device[i]);
	k = snprintf(line, sizeof(line),
	    "{\"id\":%lld,\"at_ms\":%lld,\"action\":\"%s\",\"device\":\"%s\",\"count\":%lld,"
	    "\"patient\":\"",
	    (long long)r->id, (long long)r->at_ms, cs_audit_action_name(r->action), dev,
	    (long long)r->count);
	if (k < 0 || (size_t)k >= sizeof(line))
		return CS_ERANGE;
	n = (size_t)k;
	if (r->patient_local != NULL &&
	    cs_ctl_json_str(line, sizeof(line) - 32, &n, (const uint8_t *)r->patient_local,
	        strlen(r->patient_local)) != 0)
		return CS_ERANGE;
	k = snprintf(line + n, sizeof(line) - n, "\",\"detail\":\"");
	n += (size_t)k;
	if (r->detail != NULL &&
	    cs_ctl_json_str(line, sizeof(line) - 4, &n, (const uint8_t *)r->detail,
	        strlen(r->detail)) != 0)
		return CS_ERANGE;
	snprintf(line + n, sizeof(line) - n, "\"}");
	i = ar->n % CS_CTL_AUDIT_ROWS;
	cs_free(ar->rows[i]);
	if ((ar->rows[i] = cs_strdup(line)) == NULL)
		return CS_ENOMEM;
	ar->n++;
	return 0;
}

static void
run_audit(struct ctl_job *x)
{
	struct audit_ring ar;
	size_t i, first, cnt;
	int rc;

	memset(&ar, 0, sizeof(ar));
	ar.x = x;
	ar.rows = cs_calloc(CS_CTL_AUDIT_ROWS, sizeof(*ar.rows));
	if (ar.rows == NULL) {
		x->rc = CS_ENOMEM;
		return;
	}
	rc = cs_audit_list(cs_engine_handle(x->eng), NULL, audit_cb, &ar);
	if (rc != 0) {
		x->rc = rc < 0 ? rc : CS_EIO;
		goto out;
	}
	cnt = ar.n < CS_CTL_AUDIT_ROWS ? ar.n : CS_CTL_AUDIT_ROWS;
	first = ar.n - cnt;
	x->rc = putf(x, "{\"total\":%lld,\"audit\":[", (long long)ar.n);
	for (i = 0; i < cnt && x->rc == 0; i++)
		x->rc = putf(x, "%s%s", i > 0 ? "," : "", ar.rows[(first + i) % CS_CTL_AUDIT_ROWS]);
	if (x->rc == 0)
		x->rc = putf(x, "]}");
out:
	for (i = 0; i < CS_CTL_AUDIT_ROWS; i++)
		cs_free(ar.rows[i]);
	cs_free(ar.rows);
}

static void
job_run(struct cs_dbw_job *job, void *ctx)
{
	struct ctl_job *x = (struct ctl_job *)job;
	int rc;

	(void)ctx;
	if (x->answer) {
		x->cap = CS_CTL_MAX_RESP - 1;
		x->out = cs_malloc(x->cap);
		if (x->out == NULL) {
			x->rc = CS_ENOMEM;
			return;
		}
		x->out[0] = '\0';
	}
	if (x->answer && x->req.verb == CS_CTL_AUDIT) {
		run_audit(x);
	} else if (x->answer && x->req.verb == CS_CTL_RESOLVE) {
		rc = cs_engine_conflict_resolve(x->eng, x->req.id,
		    x->req.how == CS_CTL_MINE ? CS_RESOLVE_KEEP_MINE : CS_RESOLVE_TAKE_THEIRS);
		if (rc == 0) {
			x->changed = 1;
			x->rc = putf(x, "{\"ok\":true,\"id\":%lld}", (long long)x->req.id);
		} else if (rc == CS_SQL_ENOCONFLICT) {
			x->rc = putf(x, "{\"error\":\"no such open conflict\"}");
		} else if (rc == CS_EUNSUPPORTED) {
			x->rc = putf(x,
			    "{\"error\":\"cannot take theirs: the row no longer exists here\"}");
		} else {
			x->rc = putf(x, "{\"error\":\"resolve failed: %s\"}", cs_strerror(rc));
		}
	} else if (x->answer) {
		x->rc = putf(x, "{\"conflicts\":[");
		if (x->rc == 0) {
			rc = cs_engine_conflicts(x->eng, 1, conflict_cb, x);
			if (rc < 0)
				x->rc = rc;
			else
				x->rc = putf(x, "],\"truncated\":%s}", x->cut ? "true" : "false");
		}
	}
	/* the figures of the status, after whatever the job did */
	x->dbv = cs_engine_db_version(x->eng);
	{
		struct cs_ctl_req keep = x->req;

		x->req.verb = 0; /* count only */
		x->nconf = 0;
		if (cs_engine_conflicts(x->eng, 1, conflict_cb, x) < 0)
			x->nconf = -1;
		x->req = keep;
	}
}

static void
job_done(struct cs_dbw_job *job)
{
	struct ctl_job *x = (struct ctl_job *)job;
	char err[160];
	int n;

	if (x->j.cancelled) {
		if (x->answer) {
			n = snprintf(err, sizeof(err), "{\"error\":\"the agent is stopping\"}");
			(void)cs_control_answer(x->c, x->token, err, (size_t)n);
		}
		goto out;
	}
	if (x->answer) {
		if (x->rc != 0) {
			n = snprintf(err, sizeof(err), "{\"error\":\"%s\"}",
			    x->rc == CS_ERANGE ? "answer too large" : cs_strerror(x->rc));
			(void)cs_control_answer(x->c, x->token, err, (size_t)n);
		} else {
			(void)cs_control_answer(x->c, x->token, x->out, x->len);
		}
	}
	if (x->cb != NULL)
		x->cb(x->ctx, x->dbv, x->nconf, x->changed);
out:
	cs_free(x->out);
	cs_free(x);
}

static struct ctl_job *
job_new(struct cs_engine *eng, cs_ctl_jobs_cb cb, void *ctx)
{
	struct ctl_job *x = cs_calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->j.run = job_run;
	x->j.done = job_done;
	x->eng = eng;
	x->cb = cb;
	x->ctx = ctx;
	return x;
}

int
cs_ctl_jobs_post(struct cs_dbw *w, struct cs_engine *eng, struct cs_control *c,
    const struct cs_ctl_req *req, uint64_t token, cs_ctl_jobs_cb cb, void *ctx)
{
	struct ctl_job *x;

	if (req->verb != CS_CTL_CONFLICTS && req->verb != CS_CTL_AUDIT &&
	    req->verb != CS_CTL_RESOLVE)
		return CS_EINVAL;
	if ((x = job_new(eng, cb, ctx)) == NULL)
		return CS_ENOMEM;
	x->c = c;
	x->req = *req;
	x->token = token;
	x->answer = 1;
	cs_dbw_post(w, &x->j);
	return 0;
}

int
cs_ctl_jobs_refresh(struct cs_dbw *w, struct cs_engine *eng, cs_ctl_jobs_cb cb, void *ctx)
{
	struct ctl_job *x;

	if ((x = job_new(eng, cb, ctx)) == NULL)
		return CS_ENOMEM;
	cs_dbw_post(w, &x->j);
	return 0;
}
