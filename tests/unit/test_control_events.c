/*
 * tests/unit/test_control_events.c: the control socket's requests with
 * arguments, subscriptions and pushed events, async answers and the
 * bounded per-client queue (agent/control.h, PROTOCOL.md §8.2-§8.3). A real
 * Unix socket in a temp dir; the clients are non-blocking sockets driven
 * from the test between turns of the uv loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/control.h"
#include "agent/ctl_jobs.h"
#include "base/err.h"
#include "base/mem.h"

struct fx {
	uv_loop_t loop;
	struct cs_control c;
	char dir[64];
	char state[32];
	int statuses; /* fn calls for status */
	uint64_t token;
	int async_calls;
	struct cs_ctl_req last;
};

static int
status_fn(void *ctx, int verb, char *out, size_t cap)
{
	struct fx *f = ctx;

	if (verb == CS_CTL_STATUS)
		f->statuses++;
	return snprintf(out, cap, "{\"state\":\"%s\",\"peers\":[]}", f->state);
}

static int
async_fn(void *ctx, const struct cs_ctl_req *req, uint64_t token)
{
	struct fx *f = ctx;

	f->async_calls++;
	f->last = *req;
	f->token = token;
	if (req->verb == CS_CTL_AUDIT)
		return CS_EIO; /* refused at once */
	return 0;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Turn the loop for ms milliseconds (never blocking). */
static void
spin(struct fx *f, int ms)
{
	int64_t end = mono_ms() + ms;
	struct timespec t = {0, 2000000};

	do {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		nanosleep(&t, NULL);
	} while (mono_ms() < end);
}

/* Turn the loop until cond holds, at most 10 s (the machine may be loaded). */
#define SPIN_UNTIL(f, cond)                                                                        \
	do {                                                                                       \
		int64_t end_ = mono_ms() + 10000;                                                  \
		while (!(cond) && mono_ms() < end_)                                                \
			spin(f, 5);                                                                \
	} while (0)

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cs_ctlev_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	unsetenv("XDG_RUNTIME_DIR");
	snprintf(f->state, sizeof(f->state), "offline");
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(cs_control_start(&f->c, &f->loop, f->dir, status_fn, f), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	cs_control_stop(&f->c);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	rmdir(f->dir);
	free(f);
	assert_int_equal(cs_mem_live(), 0);
	return 0;
}

/* A non-blocking client that sent line. */
static int
client(struct fx *f, const char *line)
{
	struct sockaddr_un sa;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->c.path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	if (line != NULL)
		assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	return fd;
}

/* Append what fd has now to buf (NUL-terminated); 1 when EOF was seen. */
static int
drain(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t r;

	for (;;) {
		if (*len + 1 >= cap)
			return 0;
		r = read(fd, buf + *len, cap - 1 - *len);
		if (r > 0) {
			*len += (size_t)r;
			buf[*len] = '\0';
			continue;
		}
		if (r == 0)
			return 1;
		return errno == ECONNRESET;
	}
}

/* Read into buf (from empty) until a whole line or EOF came, at most 10 s of
 * loop turns; 1 when EOF was seen. */
static int
get(struct fx *f, int fd, char *buf, size_t cap, size_t *len)
{
	int64_t end = mono_ms() + 10000;
	int eof = 0;

	*len = 0;
	buf[0] = '\0';
	while (mono_ms() < end) {
		spin(f, 5);
		eof = drain(fd, buf, cap, len);
		if (eof || (*len > 0 && buf[*len - 1] == '\n'))
			break;
	}
	return eof;
}

static int
count_lines(const char *s, const char *pat)
{
	int n = 0;

	while ((s = strstr(s, pat)) != NULL) {
		n++;
		s += strlen(pat);
	}
	return n;
}

static int
parse(const char *s, struct cs_ctl_req *r)
{
	return cs_control_parse_req((const uint8_t *)s, strlen(s), r);
}

static void
test_parse_arguments(void **state)
{
	struct cs_ctl_req r;

	(void)state;
	assert_int_equal(parse("cabsync-control/1 subscribe\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_SUBSCRIBE);
	assert_int_equal(parse("cabsync-control/1 conflicts\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_CONFLICTS);
	assert_int_equal(parse("cabsync-control/1 audit\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_AUDIT);
	assert_int_equal(parse("cabsync-control/1 resolve 42 mine\n", &r), 0);
	assert_int_equal(r.verb, CS_CTL_RESOLVE);
	assert_int_equal(r.id, 42);
	assert_int_equal(r.how, CS_CTL_MINE);
	assert_int_equal(parse("cabsync-control/1 resolve 9007199254740991 theirs\n", &r), 0);
	assert_int_equal(r.id, CS_CTL_MAX_ID);
	assert_int_equal(r.how, CS_CTL_THEIRS);
	/* each malformed argument by name */
	assert_int_equal(parse("cabsync-control/1 resolve\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve \n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve 0 mine\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve 01 mine\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve -1 mine\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve 1 both\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve 1  mine\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve 1 mine \n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve 1 mine x\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve 1\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve 9007199254740992 mine\n", &r),
	    CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 resolve 99999999999999999999 mine\n", &r),
	    CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 status now\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 subscribe all\n", &r), CS_CTL_EARG);
	assert_int_equal(parse("cabsync-control/1 subscriber\n", &r), CS_CTL_EVERB);
	assert_int_equal(parse("cabsync-control/1 resolve 1 mine", &r), CS_EAGAIN);
	assert_string_equal(cs_control_strerror(CS_CTL_EARG),
	    "missing, extra or malformed argument");
}

static void
test_subscribe_gets_status_then_events(void **state)
{
	struct fx *f = *state;
	char buf[4096];
	size_t len = 0;
	int fd;

	fd = client(f, CS_CTL_MAGIC "subscribe\n");
	SPIN_UNTIL(f, f->c.nsubs == 1);
	assert_int_equal(f->c.nsubs, 1);
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "{\"event\":\"status\",\"state\":\"offline\",\"peers\":[]}\n");
	cs_control_publish(&f->c, "{\"event\":\"peer\",\"online\":true}", 30);
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "{\"event\":\"peer\",\"online\":true}\n");
	/* a state change pushed after a poke, once; an unchanged status is not */
	snprintf(f->state, sizeof(f->state), "synced");
	cs_control_poke(&f->c);
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "{\"event\":\"status\",\"state\":\"synced\",\"peers\":[]}\n");
	cs_control_poke(&f->c);
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	/* and without a poke, the periodic check finds a change too */
	snprintf(f->state, sizeof(f->state), "syncing");
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "{\"event\":\"status\",\"state\":\"syncing\",\"peers\":[]}\n");
	close(fd);
	SPIN_UNTIL(f, f->c.nsubs == 0);
	assert_int_equal(f->c.nsubs, 0);
}

static void
test_subscriber_that_sends_is_dropped(void **state)
{
	struct fx *f = *state;
	char buf[4096];
	size_t len = 0;
	int fd, i, eof = 0;

	fd = client(f, CS_CTL_MAGIC "subscribe\n");
	SPIN_UNTIL(f, f->c.nsubs == 1);
	assert_int_equal(f->c.nsubs, 1);
	assert_int_equal(write(fd, "x", 1), 1);
	SPIN_UNTIL(f, f->c.nsubs == 0);
	assert_int_equal(f->c.nsubs, 0);
	for (i = 0; i < 2000 && !eof; i++) {
		spin(f, 5);
		eof = drain(fd, buf, sizeof(buf), &len);
	}
	assert_int_equal(eof, 1);
	close(fd);
}

static void
test_slow_subscriber_dropped_others_served(void **state)
{
	struct fx *f = *state;
	static char ev[1024], got[64 * 1024];
	size_t len = 0, total = 0;
	int slow, fast, i, eof_fast = 0;
	int64_t t0, worst = 0, t;

	slow = client(f, CS_CTL_MAGIC "subscribe\n");
	fast = client(f, CS_CTL_MAGIC "subscribe\n");
	SPIN_UNTIL(f, f->c.nsubs == 2);
	assert_int_equal(f->c.nsubs, 2);
	memset(ev, 'x', sizeof(ev));
	memcpy(ev, "{\"event\":\"status\",\"pad\":\"", 25);
	memcpy(ev + sizeof(ev) - 2, "\"}", 2);
	/* 2000 events of 1 KiB: 2 MiB for a client that never reads */
	for (i = 0; i < 2000; i++) {
		t0 = mono_ms();
		cs_control_publish(&f->c, ev, sizeof(ev));
		t = mono_ms() - t0;
		if (t > worst)
			worst = t;
		if (i % 16 == 15) {
			uv_run(&f->loop, UV_RUN_NOWAIT);
			len = 0;
			eof_fast |= drain(fast, got, sizeof(got), &len);
			total += len;
			uv_run(&f->loop, UV_RUN_NOWAIT);
		}
	}
	for (i = 0; i < 2000 && total < 2000 * (sizeof(ev) + 1) && !eof_fast; i++) {
		spin(f, 5);
		len = 0;
		eof_fast |= drain(fast, got, sizeof(got), &len);
		total += len;
	}
	/* the reader got everything after its first status line; the other is gone */
	assert_int_equal(eof_fast, 0);
	assert_true(total >= 2000 * (sizeof(ev) + 1));
	assert_int_equal(f->c.nsubs, 1);
	assert_int_equal(f->c.dropped, 1);
	/* publishing never waited for the slow one (a blocking write would hang
	 * here forever; the bound is loose for a loaded machine) */
	assert_true(worst < 2000);
	close(slow);
	close(fast);
}

static void
test_too_many_subscribers(void **state)
{
	struct fx *f = *state;
	int fds[CS_CTL_MAX_SUBS + 1], i;
	char buf[512];
	size_t len = 0;

	for (i = 0; i <= CS_CTL_MAX_SUBS; i++) {
		fds[i] = client(f, CS_CTL_MAGIC "subscribe\n");
		if (i < CS_CTL_MAX_SUBS)
			SPIN_UNTIL(f, f->c.nsubs == (size_t)i + 1);
	}
	SPIN_UNTIL(f, f->c.nsubs == CS_CTL_MAX_SUBS);
	assert_int_equal(f->c.nsubs, CS_CTL_MAX_SUBS);
	assert_int_equal(get(f, fds[CS_CTL_MAX_SUBS], buf, sizeof(buf), &len), 1);
	assert_string_equal(buf, "{\"error\":\"too many subscribers\"}\n");
	for (i = 0; i <= CS_CTL_MAX_SUBS; i++)
		close(fds[i]);
	SPIN_UNTIL(f, f->c.nsubs == 0);
	assert_int_equal(f->c.nsubs, 0);
}

static void
test_connections_are_bounded(void **state)
{
	struct fx *f = *state;
	int fds[CS_CTL_MAX_CLIENTS + 1], i, fd;
	char buf[512];
	size_t len = 0;

	/* clients that never finish their request fill every slot... */
	for (i = 0; i <= CS_CTL_MAX_CLIENTS; i++) {
		fds[i] = client(f, CS_CTL_MAGIC "sta");
		if (i < CS_CTL_MAX_CLIENTS)
			SPIN_UNTIL(f, f->c.nclients == (size_t)i + 1);
	}
	SPIN_UNTIL(f, f->c.nclients == CS_CTL_MAX_CLIENTS);
	assert_int_equal(f->c.nclients, CS_CTL_MAX_CLIENTS);
	/* ...the one past them is closed at once */
	assert_int_equal(get(f, fds[CS_CTL_MAX_CLIENTS], buf, sizeof(buf), &len), 1);
	assert_int_equal(len, 0);
	/* one leaves: a request is served again */
	close(fds[0]);
	SPIN_UNTIL(f, f->c.nclients == CS_CTL_MAX_CLIENTS - 1);
	fd = client(f, CS_CTL_MAGIC "status\n");
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 1);
	assert_string_equal(buf, "{\"state\":\"offline\",\"peers\":[]}\n");
	close(fd);
	for (i = 1; i <= CS_CTL_MAX_CLIENTS; i++)
		close(fds[i]);
	SPIN_UNTIL(f, f->c.nclients == 0);
	assert_int_equal(f->c.nclients, 0);
}

static void
test_async_answer(void **state)
{
	struct fx *f = *state;
	char buf[512];
	size_t len = 0;
	int fd;

	/* no handler: refused */
	fd = client(f, CS_CTL_MAGIC "conflicts\n");
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 1);
	assert_string_equal(buf, "{\"error\":\"this agent does not support the verb\"}\n");
	close(fd);
	cs_control_set_async(&f->c, async_fn);
	fd = client(f, CS_CTL_MAGIC "resolve 7 theirs\n");
	SPIN_UNTIL(f, f->async_calls == 1);
	assert_int_equal(f->async_calls, 1);
	assert_int_equal(f->last.verb, CS_CTL_RESOLVE);
	assert_int_equal(f->last.id, 7);
	assert_int_equal(f->last.how, CS_CTL_THEIRS);
	len = 0;
	assert_int_equal(drain(fd, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0); /* waits */
	assert_int_equal(cs_control_answer(&f->c, f->token + 1, "{}", 2), CS_ENOENT);
	assert_int_equal(cs_control_answer(&f->c, f->token, "{\"ok\":true}", 11), 0);
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 1);
	assert_string_equal(buf, "{\"ok\":true}\n");
	close(fd);
	/* refused by the handler at once */
	fd = client(f, CS_CTL_MAGIC "audit\n");
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 1);
	assert_string_equal(buf, "{\"error\":\"input/output error\"}\n");
	close(fd);
	/* a client that half-closes after its request still gets the answer */
	fd = client(f, CS_CTL_MAGIC "conflicts\n");
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	SPIN_UNTIL(f, f->async_calls == 3);
	spin(f, 30); /* and the EOF read */
	assert_int_equal(cs_control_answer(&f->c, f->token, "{\"conflicts\":[]}", 16), 0);
	assert_int_equal(get(f, fd, buf, sizeof(buf), &len), 1);
	assert_string_equal(buf, "{\"conflicts\":[]}\n");
	close(fd);
	/* one that talks while it waits is closed: its answer has nowhere to go */
	fd = client(f, CS_CTL_MAGIC "conflicts\n");
	SPIN_UNTIL(f, f->async_calls == 4);
	assert_int_equal(write(fd, "?", 1), 1);
	SPIN_UNTIL(f, f->c.clients == NULL);
	assert_int_equal(cs_control_answer(&f->c, f->token, "{}", 2), CS_ENOENT);
	close(fd);
	/* one gone: the answer fails quietly, nothing leaks (teardown checks) */
	fd = client(f, CS_CTL_MAGIC "conflicts\n");
	SPIN_UNTIL(f, f->async_calls == 5);
	close(fd);
	spin(f, 30);
	(void)cs_control_answer(&f->c, f->token, "{}", 2);
	spin(f, 30);
}

static void
test_stop_says_stopping(void **state)
{
	struct fx *f = *state;
	char buf[512];
	size_t len = 0;
	int fd, i, eof = 0;

	fd = client(f, CS_CTL_MAGIC "subscribe\n");
	SPIN_UNTIL(f, f->c.nsubs == 1);
	cs_control_stop(&f->c);
	for (i = 0; i < 2000 && !eof; i++) {
		spin(f, 5);
		eof = drain(fd, buf, sizeof(buf), &len);
	}
	assert_int_equal(eof, 1);
	assert_int_equal(count_lines(buf, "\n"), 2);
	assert_non_null(strstr(buf, "\n{\"event\":\"stopping\"}\n"));
	close(fd);
	/* restart for the teardown */
	assert_int_equal(cs_control_start(&f->c, &f->loop, f->dir, status_fn, f), 0);
}

static void
test_json_str(void **state)
{
	char out[32];
	size_t n = 0;

	(void)state;
	assert_int_equal(cs_ctl_json_str(out, sizeof(out), &n, (const uint8_t *)"a\"b\\c\n\x7f", 7),
	    0);
	assert_string_equal(out, "a\\\"b\\\\c\\u000a\\u007f");
	n = 0;
	assert_int_equal(cs_ctl_json_str(out, 8, &n, (const uint8_t *)"abcdefgh", 8), CS_ERANGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_arguments),
	    cmocka_unit_test(test_json_str),
	    cmocka_unit_test_setup_teardown(test_subscribe_gets_status_then_events, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_subscriber_that_sends_is_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_subscriber_dropped_others_served, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_subscribers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connections_are_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_async_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_says_stopping, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* as the agent: a client gone is an error value */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
