/*
 * Unit tests of discovery/avpoll: the AvahiPoll adapter on a real libuv loop,
 * with a pipe and a socketpair standing in for D-Bus's socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/mem.h"
#include "discovery/avpoll.h"

struct fix {
	uv_loop_t loop;
	struct cs_avpoll p;
	const AvahiPoll *api;
	int fds[2];
	long mem0;
};

struct hits {
	int n;
	AvahiWatchEvent last;
	AvahiWatchEvent got_events; /* watch_get_events() inside the callback */
	const AvahiPoll *api;
	AvahiWatch *other; /* freed from inside the callback when set */
	int free_self;
	int fd;
};

static int
setup_pipe(void **state)
{
	struct fix *f = cs_calloc(1, sizeof(*f));

	assert_non_null(f);
	f->mem0 = cs_mem_live();
	assert_int_equal(uv_loop_init(&f->loop), 0);
	cs_avpoll_init(&f->p, &f->loop);
	f->api = cs_avpoll_api(&f->p);
	assert_int_equal(pipe(f->fds), 0);
	*state = f;
	return 0;
}

static int
setup_socketpair(void **state)
{
	struct fix *f = cs_calloc(1, sizeof(*f));

	assert_non_null(f);
	f->mem0 = cs_mem_live();
	assert_int_equal(uv_loop_init(&f->loop), 0);
	cs_avpoll_init(&f->p, &f->loop);
	f->api = cs_avpoll_api(&f->p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->fds), 0);
	*state = f;
	return 0;
}

static void
closed(struct cs_avpoll *p, void *ctx)
{
	(void)p;
	++*(int *)ctx;
}

/* Close the adapter, run the loop dry: every handle freed, nothing leaked. */
static int
teardown(void **state)
{
	struct fix *f = *state;
	int done = 0;

	cs_avpoll_close(&f->p, closed, &done);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(done, 1);
	assert_int_equal(uv_loop_close(&f->loop), 0); /* UV_EBUSY: a handle leaked */
	close(f->fds[0]);
	close(f->fds[1]);
	assert_int_equal(cs_mem_live(), f->mem0);
	cs_free(f);
	return 0;
}

static void
on_watch(AvahiWatch *w, int fd, AvahiWatchEvent ev, void *ud)
{
	struct hits *h = ud;
	char c;

	h->n++;
	h->last = ev;
	h->got_events = h->api->watch_get_events(w);
	if (ev & AVAHI_WATCH_IN)
		assert_int_equal(read(fd, &c, 1), 1);
	if (h->other != NULL) {
		h->api->watch_free(h->other);
		h->other = NULL;
	}
	if (h->free_self)
		h->api->watch_free(w);
}

static void
test_avpoll_watch_fires_when_readable_and_frees_itself(void **state)
{
	struct fix *f = *state;
	struct hits h = {.api = f->api, .free_self = 1};

	assert_non_null(f->api->watch_new(f->api, f->fds[0], AVAHI_WATCH_IN, on_watch, &h));
	assert_int_equal(cs_avpoll_live(&f->p), 1);
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	uv_run(&f->loop, UV_RUN_DEFAULT); /* ends: the watch freed its handle */
	assert_int_equal(h.n, 1);
	assert_int_equal(h.last & AVAHI_WATCH_IN, AVAHI_WATCH_IN);
	assert_int_equal(h.got_events, h.last);
	assert_int_equal(cs_avpoll_live(&f->p), 0);
}

static void
stop_loop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Run the loop for ms milliseconds of wall time. */
static void
run_for(uv_loop_t *loop, uint64_t ms)
{
	uv_timer_t t;

	uv_timer_init(loop, &t);
	uv_timer_start(&t, stop_loop, ms, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

static void
test_avpoll_watch_update_to_nothing_silences_it(void **state)
{
	struct fix *f = *state;
	struct hits h = {.api = f->api};
	AvahiWatch *w;

	w = f->api->watch_new(f->api, f->fds[0], 0, on_watch, &h);
	assert_non_null(w);
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	run_for(&f->loop, 50);
	assert_int_equal(h.n, 0);
	f->api->watch_update(w, AVAHI_WATCH_IN);
	run_for(&f->loop, 50);
	assert_int_equal(h.n, 1);
	f->api->watch_free(w);
}

/*
 * Two watches on one fd (D-Bus's read and write watches): one uv_poll,
 * both served; one frees the other from inside its callback.
 */
static void
test_avpoll_two_watches_share_one_fd(void **state)
{
	struct fix *f = *state;
	struct hits in = {.api = f->api}, out = {.api = f->api};
	AvahiWatch *wi, *wo;

	wi = f->api->watch_new(f->api, f->fds[0], AVAHI_WATCH_IN, on_watch, &in);
	wo = f->api->watch_new(f->api, f->fds[0], AVAHI_WATCH_OUT, on_watch, &out);
	assert_non_null(wi);
	assert_non_null(wo);
	assert_int_equal(f->p.handles, 1); /* one uv_poll for the fd */
	run_for(&f->loop, 30);
	assert_true(out.n >= 1); /* a socket is writable at once */
	assert_int_equal(out.last & AVAHI_WATCH_OUT, AVAHI_WATCH_OUT);
	assert_int_equal(in.n, 0);
	in.other = wo; /* the reader frees the writer */
	assert_int_equal(write(f->fds[1], "y", 1), 1);
	out.n = 0;
	run_for(&f->loop, 30);
	assert_int_equal(in.n, 1);
	assert_true(out.n <= 1); /* at most the dispatch it was freed in */
	assert_int_equal(cs_avpoll_live(&f->p), 1);
	f->api->watch_free(wi);
	assert_int_equal(cs_avpoll_live(&f->p), 0);
}

struct tmo {
	int n;
	int rearm; /* times to re-arm from the callback */
	int free_self;
	uint64_t fired_ns;
	const AvahiPoll *api;
};

static void
set_tv(struct timeval *tv, long ms)
{
	gettimeofday(tv, NULL);
	tv->tv_sec += ms / 1000;
	tv->tv_usec += (ms % 1000) * 1000;
	if (tv->tv_usec >= 1000000) {
		tv->tv_sec++;
		tv->tv_usec -= 1000000;
	}
}

static void
on_timeout(AvahiTimeout *t, void *ud)
{
	struct tmo *x = ud;
	struct timeval tv;

	x->n++;
	x->fired_ns = uv_hrtime();
	if (x->rearm > 0) {
		x->rearm--;
		set_tv(&tv, 10);
		x->api->timeout_update(t, &tv);
	} else if (x->free_self) {
		x->api->timeout_free(t);
	}
}

static void
test_avpoll_timeout_fires_at_its_time(void **state)
{
	struct fix *f = *state;
	struct tmo x = {.api = f->api, .free_self = 1};
	struct timeval tv;
	uint64_t t0, ms;

	t0 = uv_hrtime();
	set_tv(&tv, 80);
	assert_non_null(f->api->timeout_new(f->api, &tv, on_timeout, &x));
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(x.n, 1);
	ms = (x.fired_ns - t0) / 1000000;
	assert_true(ms >= 79); /* never early (1 ms for the two clocks) */
	assert_true(ms < 1000);
	assert_int_equal(cs_avpoll_live(&f->p), 0);
}

static void
test_avpoll_timeout_in_the_past_fires_at_once(void **state)
{
	struct fix *f = *state;
	struct tmo x = {.api = f->api, .free_self = 1};
	struct timeval tv;

	set_tv(&tv, 0);
	tv.tv_sec -= 10;
	assert_non_null(f->api->timeout_new(f->api, &tv, on_timeout, &x));
	run_for(&f->loop, 20);
	assert_int_equal(x.n, 1);
}

static void
test_avpoll_timeout_disabled_then_rearmed_from_callback(void **state)
{
	struct fix *f = *state;
	struct tmo x = {.api = f->api, .rearm = 2, .free_self = 1};
	struct timeval tv;
	AvahiTimeout *t;

	t = f->api->timeout_new(f->api, NULL, on_timeout, &x);
	assert_non_null(t);
	run_for(&f->loop, 30);
	assert_int_equal(x.n, 0); /* NULL: disabled */
	set_tv(&tv, 5);
	f->api->timeout_update(t, &tv);
	f->api->timeout_update(t, NULL); /* disabled again before it fires */
	run_for(&f->loop, 30);
	assert_int_equal(x.n, 0);
	f->api->timeout_update(t, &tv);
	uv_run(&f->loop, UV_RUN_DEFAULT); /* fires, re-arms twice, frees itself */
	assert_int_equal(x.n, 3);
	assert_int_equal(cs_avpoll_live(&f->p), 0);
}

/* Close with a watch and a timeout still live: both closed, loop clean. */
static void
test_avpoll_close_ends_live_handles(void **state)
{
	struct fix *f = *state;
	struct hits h = {.api = f->api};
	struct tmo x = {.api = f->api};
	struct timeval tv;

	assert_non_null(f->api->watch_new(f->api, f->fds[0], AVAHI_WATCH_IN, on_watch, &h));
	set_tv(&tv, 10000);
	assert_non_null(f->api->timeout_new(f->api, &tv, on_timeout, &x));
	assert_int_equal(cs_avpoll_live(&f->p), 2);
	/* teardown() closes, runs the loop and checks uv_loop_close() == 0 */
}

static void
test_avpoll_refuses_new_handles_when_closing(void **state)
{
	struct fix *f = *state;
	struct hits h = {.api = f->api};
	int done = 0;

	cs_avpoll_close(&f->p, closed, &done);
	assert_int_equal(done, 1); /* nothing pending: at once */
	assert_null(f->api->watch_new(f->api, f->fds[0], AVAHI_WATCH_IN, on_watch, &h));
	assert_null(f->api->timeout_new(f->api, NULL, NULL, NULL));
	f->p.closing = false; /* let teardown() close it again */
}

static void
test_avpoll_survives_allocation_failures(void **state)
{
	struct fix *f = *state;
	struct hits h = {.api = f->api};
	struct tmo x = {.api = f->api};
	AvahiWatch *w;
	AvahiTimeout *t;
	long n;

	for (n = 0; n < 3; n++) {
		cs_mem_fail_after(n, 1);
		w = f->api->watch_new(f->api, f->fds[0], AVAHI_WATCH_IN, on_watch, &h);
		t = f->api->timeout_new(f->api, NULL, on_timeout, &x);
		cs_mem_fail_after(-1, 0);
		if (w != NULL)
			f->api->watch_free(w);
		if (t != NULL)
			f->api->timeout_free(t);
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(cs_avpoll_live(&f->p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_avpoll_watch_fires_when_readable_and_frees_itself,
	        setup_pipe, teardown),
	    cmocka_unit_test_setup_teardown(test_avpoll_watch_update_to_nothing_silences_it,
	        setup_pipe, teardown),
	    cmocka_unit_test_setup_teardown(test_avpoll_two_watches_share_one_fd, setup_socketpair,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_avpoll_timeout_fires_at_its_time, setup_pipe,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_avpoll_timeout_in_the_past_fires_at_once,
	        setup_pipe, teardown),
	    cmocka_unit_test_setup_teardown(test_avpoll_timeout_disabled_then_rearmed_from_callback,
	        setup_pipe, teardown),
	    cmocka_unit_test_setup_teardown(test_avpoll_close_ends_live_handles, setup_pipe,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_avpoll_refuses_new_handles_when_closing,
	        setup_pipe, teardown),
	    cmocka_unit_test_setup_teardown(test_avpoll_survives_allocation_failures, setup_pipe,
	        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
