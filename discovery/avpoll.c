#include "avpoll.h"

#include <assert.h>
#include <string.h>
#include <sys/time.h>

#include "base/mem.h"

/* The uv_poll of one fd, shared by every watch on it. */
struct cs_avpoll_fd {
	uv_poll_t poll;
	struct cs_avpoll *p;
	int fd;
	int uv_mask;         /* what the uv_poll waits for now */
	bool dispatching;    /* inside poll_cb: free watches later */
	AvahiWatch *watches; /* newest first */
	struct cs_avpoll_fd *next;
};

struct AvahiWatch {
	struct cs_avpoll_fd *f;
	AvahiWatchEvent events;  /* wanted */
	AvahiWatchEvent revents; /* during its callback: what happened */
	AvahiWatchCallback cb;
	void *userdata;
	bool dead; /* freed by Avahi during a dispatch */
	AvahiWatch *next;
};

struct AvahiTimeout {
	uv_timer_t timer;
	struct cs_avpoll *p;
	AvahiTimeoutCallback cb;
	void *userdata;
	AvahiTimeout *next, **prevp;
};

static void
maybe_closed(struct cs_avpoll *p)
{
	if (p->closing && p->handles == 0 && p->on_closed != NULL) {
		cs_avpoll_closed_cb cb = p->on_closed;

		p->on_closed = NULL;
		cb(p, p->closed_ctx);
	}
}

static void
fd_closed(uv_handle_t *h)
{
	struct cs_avpoll_fd *f = h->data;
	struct cs_avpoll *p = f->p;

	cs_free(f);
	p->handles--;
	maybe_closed(p);
}

static int
to_uv(AvahiWatchEvent ev)
{
	int m = 0;

	if (ev & AVAHI_WATCH_IN)
		m |= UV_READABLE | UV_DISCONNECT;
	if (ev & AVAHI_WATCH_OUT)
		m |= UV_WRITABLE;
	return m;
}

static AvahiWatchEvent
from_uv(int status, int events)
{
	int ev = 0;

	if (status < 0)
		return AVAHI_WATCH_ERR;
	if (events & UV_READABLE)
		ev |= AVAHI_WATCH_IN;
	if (events & UV_WRITABLE)
		ev |= AVAHI_WATCH_OUT;
	if (events & UV_DISCONNECT)
		ev |= AVAHI_WATCH_HUP;
	return (AvahiWatchEvent)ev;
}

static void poll_cb(uv_poll_t *h, int status, int events);

/*
 * Drop dead watches, then make the uv_poll wait for what the live ones want;
 * close it when none is left. Never called during the fd's dispatch.
 */
static void
sweep(struct cs_avpoll_fd *f)
{
	struct cs_avpoll *p = f->p;
	struct cs_avpoll_fd **fp;
	AvahiWatch **wp, *w;
	int mask = 0;

	assert(!f->dispatching);
	wp = &f->watches;
	while ((w = *wp) != NULL) {
		if (w->dead) {
			*wp = w->next;
			cs_free(w);
		} else {
			mask |= to_uv(w->events);
			wp = &w->next;
		}
	}
	if (f->watches == NULL) {
		for (fp = &p->fds; *fp != NULL; fp = &(*fp)->next) {
			if (*fp == f) {
				*fp = f->next;
				break;
			}
		}
		/* uv_close stops the watcher now: the fd number is free at once. */
		uv_close((uv_handle_t *)&f->poll, fd_closed);
		return;
	}
	if (mask == f->uv_mask)
		return;
	f->uv_mask = mask;
	if (mask == 0)
		uv_poll_stop(&f->poll);
	else
		uv_poll_start(&f->poll, mask, poll_cb);
}

static void
poll_cb(uv_poll_t *h, int status, int events)
{
	struct cs_avpoll_fd *f = h->data;
	AvahiWatchEvent got = from_uv(status, events);
	AvahiWatch *w;
	int ev;

	f->dispatching = true;
	/* New watches go to the head: this walk sees only the older ones. */
	for (w = f->watches; w != NULL; w = w->next) {
		if (w->dead)
			continue;
		ev = got & (w->events | AVAHI_WATCH_ERR | AVAHI_WATCH_HUP);
		if (ev == 0)
			continue;
		w->revents = (AvahiWatchEvent)ev;
		w->cb(w, f->fd, (AvahiWatchEvent)ev, w->userdata);
		w->revents = 0;
	}
	f->dispatching = false;
	sweep(f);
}

static AvahiWatch *
watch_new(const AvahiPoll *api, int fd, AvahiWatchEvent event, AvahiWatchCallback callback,
    void *userdata)
{
	struct cs_avpoll *p = api->userdata;
	struct cs_avpoll_fd *f;
	AvahiWatch *w = NULL;

	if (p->closing || fd < 0 || callback == NULL)
		return NULL;
	for (f = p->fds; f != NULL; f = f->next) {
		if (f->fd == fd)
			break;
	}
	if ((w = cs_calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if (f == NULL) {
		if ((f = cs_calloc(1, sizeof(*f))) == NULL) {
			cs_free(w);
			return NULL;
		}
		if (uv_poll_init(p->loop, &f->poll, fd) != 0) {
			cs_free(f);
			cs_free(w);
			return NULL;
		}
		f->poll.data = f;
		f->p = p;
		f->fd = fd;
		f->next = p->fds;
		p->fds = f;
		p->handles++;
	}
	w->f = f;
	w->events = event;
	w->cb = callback;
	w->userdata = userdata;
	w->next = f->watches;
	f->watches = w;
	if (!f->dispatching)
		sweep(f); /* recompute the mask */
	else if ((to_uv(event) & ~f->uv_mask) != 0) {
		f->uv_mask |= to_uv(event);
		uv_poll_start(&f->poll, f->uv_mask, poll_cb);
	}
	return w;
}

static void
watch_update(AvahiWatch *w, AvahiWatchEvent event)
{
	struct cs_avpoll_fd *f = w->f;

	w->events = event;
	if (!f->dispatching) {
		sweep(f);
	} else if ((to_uv(event) & ~f->uv_mask) != 0) {
		/* Widen now; narrowing waits for the sweep after the dispatch. */
		f->uv_mask |= to_uv(event);
		uv_poll_start(&f->poll, f->uv_mask, poll_cb);
	}
}

static AvahiWatchEvent
watch_get_events(AvahiWatch *w)
{
	return w->revents;
}

static void
watch_free(AvahiWatch *w)
{
	struct cs_avpoll_fd *f = w->f;

	w->dead = true;
	w->events = 0;
	if (!f->dispatching)
		sweep(f);
}

static void
timer_closed(uv_handle_t *h)
{
	AvahiTimeout *t = h->data;
	struct cs_avpoll *p = t->p;

	cs_free(t);
	p->handles--;
	maybe_closed(p);
}

static void
timer_cb(uv_timer_t *h)
{
	AvahiTimeout *t = h->data;

	/* One-shot: the timer is already stopped, the callback may re-arm or free. */
	t->cb(t, t->userdata);
}

/* Arm t for the absolute gettimeofday() time tv (Avahi's clock). */
static void
arm(AvahiTimeout *t, const struct timeval *tv)
{
	struct timeval now;
	int64_t us;
	uint64_t ms;

	gettimeofday(&now, NULL);
	us = ((int64_t)tv->tv_sec - now.tv_sec) * 1000000 + ((int64_t)tv->tv_usec - now.tv_usec);
	ms = us <= 0 ? 0 : (uint64_t)((us + 999) / 1000);
	/* The loop's cached time may lag: refresh so the delay is from now. */
	uv_update_time(t->p->loop);
	uv_timer_start(&t->timer, timer_cb, ms, 0);
}

static AvahiTimeout *
timeout_new(const AvahiPoll *api, const struct timeval *tv, AvahiTimeoutCallback callback,
    void *userdata)
{
	struct cs_avpoll *p = api->userdata;
	AvahiTimeout *t;

	if (p->closing || callback == NULL)
		return NULL;
	if ((t = cs_calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (uv_timer_init(p->loop, &t->timer) != 0) {
		cs_free(t);
		return NULL;
	}
	t->timer.data = t;
	t->p = p;
	t->cb = callback;
	t->userdata = userdata;
	t->next = p->timeouts;
	if (t->next != NULL)
		t->next->prevp = &t->next;
	t->prevp = &p->timeouts;
	p->timeouts = t;
	p->handles++;
	if (tv != NULL)
		arm(t, tv);
	return t;
}

static void
timeout_update(AvahiTimeout *t, const struct timeval *tv)
{
	uv_timer_stop(&t->timer);
	if (tv != NULL)
		arm(t, tv);
}

static void
timeout_free(AvahiTimeout *t)
{
	*t->prevp = t->next;
	if (t->next != NULL)
		t->next->prevp = t->prevp;
	uv_timer_stop(&t->timer);
	uv_close((uv_handle_t *)&t->timer, timer_closed);
}

void
cs_avpoll_init(struct cs_avpoll *p, uv_loop_t *loop)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->api.userdata = p;
	p->api.watch_new = watch_new;
	p->api.watch_update = watch_update;
	p->api.watch_get_events = watch_get_events;
	p->api.watch_free = watch_free;
	p->api.timeout_new = timeout_new;
	p->api.timeout_update = timeout_update;
	p->api.timeout_free = timeout_free;
}

const AvahiPoll *
cs_avpoll_api(struct cs_avpoll *p)
{
	return &p->api;
}

long
cs_avpoll_live(const struct cs_avpoll *p)
{
	const struct cs_avpoll_fd *f;
	const AvahiWatch *w;
	const AvahiTimeout *t;
	long n = 0;

	for (f = p->fds; f != NULL; f = f->next) {
		for (w = f->watches; w != NULL; w = w->next)
			n += !w->dead;
	}
	for (t = p->timeouts; t != NULL; t = t->next)
		n++;
	return n;
}

void
cs_avpoll_close(struct cs_avpoll *p, cs_avpoll_closed_cb on_closed, void *ctx)
{
	AvahiWatch *w;

	if (p->closing)
		return;
	p->closing = true;
	p->on_closed = on_closed;
	p->closed_ctx = ctx;
	while (p->timeouts != NULL)
		timeout_free(p->timeouts);
	while (p->fds != NULL) {
		/* Not inside a dispatch here: sweep() unlinks and closes f. */
		for (w = p->fds->watches; w != NULL; w = w->next)
			w->dead = true;
		sweep(p->fds);
	}
	maybe_closed(p);
}
