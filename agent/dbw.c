/*
 * agent/dbw.c: the database worker thread (see dbw.h).
 */
#include "agent/dbw.h"

#include <string.h>

#include "base/err.h"

static void *
worker_main(void *arg)
{
	struct cs_dbw *w = arg;
	struct cs_dbw_job *j;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->in_head == NULL && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stopping)
			break;
		j = w->in_head;
		w->in_head = j->next;
		if (w->in_head == NULL)
			w->in_tail = NULL;
		pthread_mutex_unlock(&w->mu);
		j->next = NULL;
		j->run(j, w->ctx);
		pthread_mutex_lock(&w->mu);
		if (w->out_tail != NULL)
			w->out_tail->next = j;
		else
			w->out_head = j;
		w->out_tail = j;
		pthread_mutex_unlock(&w->mu);
		uv_async_send(&w->async);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void
drain(struct cs_dbw *w)
{
	struct cs_dbw_job *j, *next;

	pthread_mutex_lock(&w->mu);
	j = w->out_head;
	w->out_head = w->out_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		w->queued--;
		j->done(j);
	}
}

static void
on_async(uv_async_t *a)
{
	drain(a->data);
}

int
cs_dbw_start(struct cs_dbw *w, uv_loop_t *loop, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->ctx = ctx;
	if (uv_async_init(loop, &w->async, on_async) != 0)
		return CS_EIO;
	w->async.data = w;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		uv_close((uv_handle_t *)&w->async, NULL);
		return CS_EIO;
	}
	w->started = 1;
	return 0;
}

void
cs_dbw_post(struct cs_dbw *w, struct cs_dbw_job *job)
{
	job->next = NULL;
	job->cancelled = 0;
	w->queued++;
	pthread_mutex_lock(&w->mu);
	if (w->in_tail != NULL)
		w->in_tail->next = job;
	else
		w->in_head = job;
	w->in_tail = job;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void
on_closed(uv_handle_t *h)
{
	struct cs_dbw *w = h->data;

	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	if (w->closed_cb != NULL)
		w->closed_cb(w);
}

void
cs_dbw_close(struct cs_dbw *w, void (*cb)(struct cs_dbw *w))
{
	struct cs_dbw_job *j, *next;

	if (!w->started)
		return;
	w->started = 0;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	drain(w);
	j = w->in_head;
	w->in_head = w->in_tail = NULL;
	for (; j != NULL; j = next) {
		next = j->next;
		j->cancelled = 1;
		w->queued--;
		j->done(j);
	}
	w->closed_cb = cb;
	uv_close((uv_handle_t *)&w->async, on_closed);
}
