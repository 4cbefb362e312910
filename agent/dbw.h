/*
 * agent/dbw.h: the database worker thread (DESIGN.md "Threads", STYLE.md §6).
 *
 * One thread owns every SQLite connection of the agent. The loop thread
 * posts jobs (cs_dbw_post); the worker runs job->run(job, ctx) in FIFO order
 * on its own thread, queues the job back and wakes the loop with uv_async;
 * the loop then calls job->done(job) for each finished job, in order.
 *
 * Ownership: a job is allocated by the poster (it embeds struct cs_dbw_job)
 * and owns copies of its inputs; done() releases it. The worker keeps no
 * pointer to a job after queueing it back. After cs_dbw_stop() the jobs
 * not started are handed back to done() with job->cancelled = 1.
 *
 * Threads: post/stop/close from the loop thread only; run() on the worker.
 */
#ifndef CS_AGENT_DBW_H
#define CS_AGENT_DBW_H

#include <pthread.h>
#include <uv.h>

struct cs_dbw_job;

typedef void (*cs_dbw_run_fn)(struct cs_dbw_job *job, void *ctx);
typedef void (*cs_dbw_done_fn)(struct cs_dbw_job *job);

struct cs_dbw_job {
	cs_dbw_run_fn run;   /* worker thread */
	cs_dbw_done_fn done; /* loop thread */
	int cancelled;       /* set when dropped at stop, run() not called */
	struct cs_dbw_job *next;
};

struct cs_dbw {
	uv_async_t async;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cs_dbw_job *in_head, *in_tail;   /* to run */
	struct cs_dbw_job *out_head, *out_tail; /* done, back to the loop */
	void *ctx;                              /* given to run() */
	int stopping, started;
	size_t queued; /* jobs posted and not yet done (loop side) */
	void (*closed_cb)(struct cs_dbw *w);
};

/* Start the worker on loop; run() gets ctx. 0 or CS_EIO. */
int cs_dbw_start(struct cs_dbw *w, uv_loop_t *loop, void *ctx);
/* Queue a job. */
void cs_dbw_post(struct cs_dbw *w, struct cs_dbw_job *job);
/*
 * Stop: the running job finishes, queued ones are cancelled, the thread is
 * joined (it only ever runs one short job), then every remaining job's done()
 * is called and the async handle is closed; cb runs from its close callback.
 */
void cs_dbw_close(struct cs_dbw *w, void (*cb)(struct cs_dbw *w));

#endif
