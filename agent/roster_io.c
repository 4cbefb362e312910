/*
 * agent/roster_io.c: the roster rewrite on the database worker (see
 * roster_io.h).
 */
#include "agent/roster_io.h"

#include <sodium.h>
#include <string.h>

#include "agent/roster.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

struct roster_io_job {
	struct cs_dbw_job j;
	struct cs_home copy; /* copy.sec: its own sodium_malloc block */
	int rc;
};

static void
job_free(struct roster_io_job *x)
{
	cs_home_free(&x->copy); /* wipes the copied secrets */
	cs_free(x);
}

static void
io_run(struct cs_dbw_job *job, void *ctx)
{
	struct roster_io_job *x = (struct roster_io_job *)job;

	(void)ctx;
	x->rc = cs_roster_save(&x->copy);
}

static void
io_done(struct cs_dbw_job *job)
{
	struct roster_io_job *x = (struct roster_io_job *)job;

	if (job->cancelled)
		x->rc = cs_roster_save(&x->copy); /* shutdown: the loop is ending */
	if (x->rc != 0)
		cs_log(CS_LOG_ERR, "cannot write the roster in %s: %s", x->copy.dir,
		    cs_strerror(x->rc));
	job_free(x);
}

int
cs_roster_io_post(struct cs_dbw *w, const struct cs_home *h)
{
	struct roster_io_job *x;
	int rc;

	if ((x = cs_calloc(1, sizeof(*x))) == NULL)
		return CS_ENOMEM;
	memcpy(&x->copy, h, sizeof(x->copy));
	x->copy.sec = NULL;
	if (h->sec != NULL) {
		if ((rc = cs_home_secrets_alloc(&x->copy)) != 0) {
			job_free(x);
			return rc;
		}
		memcpy(x->copy.sec, h->sec, sizeof(*h->sec));
	}
	if (!w->started || w->stopping) {
		rc = cs_roster_save(&x->copy);
		job_free(x);
		return rc;
	}
	x->j.run = io_run;
	x->j.done = io_done;
	cs_dbw_post(w, &x->j);
	return 0;
}
