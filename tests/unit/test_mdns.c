/*
 * Unit tests of discovery/mdns that need no root and no avahi-daemon: the
 * "no daemon" paths (no system bus at all; a private bus with no avahi on
 * it, which drives the AvahiPoll adapter with real D-Bus watches), the
 * config checks and the close. Publishing and browsing with real daemons is
 * the LAN test (tests/lan/discovery-lan.sh).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "discovery/mdns.h"

struct fix {
	uv_loop_t loop;
	struct cs_mdns *m;
	int status[CS_MDNS_BROWSE_FAILED + 1];
	int n_status, n_events, closed;
	long mem0;
	char dir[64];
	long bus_pid;
};

static void
on_status(void *ctx, enum cs_mdns_status st, const char *detail)
{
	struct fix *f = ctx;

	assert_non_null(detail);
	assert_true(st <= CS_MDNS_BROWSE_FAILED);
	f->status[st]++;
	f->n_status++;
}

static void
on_event(void *ctx, const struct cs_mdns_event *ev)
{
	struct fix *f = ctx;

	(void)ev;
	f->n_events++;
}

static void
on_closed(void *ctx)
{
	((struct fix *)ctx)->closed++;
}

static void
config(struct fix *f, struct cs_mdns_config *cfg)
{
	static const uint8_t key[32] = {7}, pk[32] = {9};

	memset(cfg, 0, sizeof(*cfg));
	cfg->port = 7415;
	cfg->version = 1;
	cfg->retry_ms = 50;
	cfg->on_event = on_event;
	cfg->on_status = on_status;
	cfg->ctx = f;
	assert_int_equal(cs_tag_set_make(pk, key, 20000, &cfg->tags), 0);
}

static void
stop_loop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

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

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->mem0 = cs_mem_live();
	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/cabsync-test-bus", 1);
	*state = f;
	return 0;
}

/* Close m (if any), run the loop dry: closed once, no handle, no leak. */
static int
teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];
	int i;

	if (f->m != NULL) {
		cs_mdns_close(f->m, on_closed, f);
		uv_run(&f->loop, UV_RUN_DEFAULT);
		assert_int_equal(f->closed, 1);
	}
	assert_int_equal(uv_loop_close(&f->loop), 0);
	assert_int_equal(cs_mem_live(), f->mem0);
	if (f->bus_pid > 0) {
		kill((pid_t)f->bus_pid, SIGTERM);
		snprintf(cmd, sizeof(cmd), "/proc/%ld", f->bus_pid);
		for (i = 0; i < 50 && access(cmd, F_OK) == 0; i++)
			usleep(20000);
	}
	if (f->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			return -1;
	}
	free(f);
	return 0;
}

static void
test_mdns_without_bus_says_no_daemon_once(void **state)
{
	struct fix *f = *state;
	struct cs_mdns_config cfg;

	config(f, &cfg);
	assert_int_equal(cs_mdns_start(&f->m, &f->loop, &cfg), 0);
	assert_int_equal(f->n_status, 0); /* nothing from inside start */
	run_for(&f->loop, 400);           /* several 50 ms retries */
	assert_int_equal(f->status[CS_MDNS_NO_DAEMON], 1);
	assert_int_equal(f->n_status, 1);
	assert_int_equal(f->n_events, 0);
	assert_int_equal(cs_mdns_republish(f->m), CS_EAGAIN);
	assert_int_equal(cs_mdns_set_tags(f->m, &cfg.tags), 0);
	assert_int_equal(strlen(cs_mdns_instance(f->m)), 16);
}

/*
 * A bus without avahi on it: AVAHI_CLIENT_NO_FAIL makes a client in the
 * CONNECTING state, watching the bus through our adapter.
 */
static void
test_mdns_with_bus_but_no_daemon_waits_for_it(void **state)
{
	struct fix *f = *state;
	struct cs_mdns_config cfg;
	char cmd[256], addr[128];
	FILE *p;

	if (access("/usr/bin/dbus-daemon", X_OK) != 0 ||
	    access("/usr/share/dbus-1/session.conf", R_OK) != 0)
		skip(); /* package dbus (./run installs it) */
	snprintf(f->dir, sizeof(f->dir), "/tmp/cs-mdns-bus-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(cmd, sizeof(cmd),
	    "dbus-daemon --session --address=unix:path=%s/bus --fork --print-pid --nopidfile",
	    f->dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%ld", &f->bus_pid), 1);
	pclose(p);
	snprintf(addr, sizeof(addr), "unix:path=%s/bus", f->dir);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1);

	config(f, &cfg);
	assert_int_equal(cs_mdns_start(&f->m, &f->loop, &cfg), 0);
	run_for(&f->loop, 500);
	assert_int_equal(f->status[CS_MDNS_NO_DAEMON], 1);
	assert_int_equal(f->n_status, 1);
	assert_int_equal(f->n_events, 0);
}

static void
test_mdns_start_refuses_bad_config(void **state)
{
	struct fix *f = *state;
	struct cs_mdns_config cfg;
	struct cs_mdns *m = NULL;

	config(f, &cfg);
	cfg.port = 0;
	assert_int_equal(cs_mdns_start(&m, &f->loop, &cfg), CS_EINVAL);
	config(f, &cfg);
	cfg.n_ifindex = CS_MDNS_MAX_IF + 1;
	assert_int_equal(cs_mdns_start(&m, &f->loop, &cfg), CS_EINVAL);
	config(f, &cfg);
	cfg.on_event = NULL;
	assert_int_equal(cs_mdns_start(&m, &f->loop, &cfg), CS_EINVAL);
	config(f, &cfg);
	cfg.first_name = "";
	assert_int_equal(cs_mdns_start(&m, &f->loop, &cfg), CS_EINVAL);
	cfg.first_name = "0123456789012345678901234567890123456789012345678901234567890123";
	assert_int_equal(cs_mdns_start(&m, &f->loop, &cfg), CS_EINVAL);
	assert_null(m);
}

static void
test_mdns_close_at_once_reports_nothing(void **state)
{
	struct fix *f = *state;
	struct cs_mdns_config cfg;

	config(f, &cfg);
	assert_int_equal(cs_mdns_start(&f->m, &f->loop, &cfg), 0);
	cs_mdns_close(f->m, on_closed, f);
	cs_mdns_close(f->m, on_closed, f); /* idempotent */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->n_status, 0);
	f->m = NULL;
}

static void
test_mdns_start_survives_allocation_failures(void **state)
{
	struct fix *f = *state;
	struct cs_mdns_config cfg;
	long n;
	int rc;

	config(f, &cfg);
	for (n = 0; n < 4; n++) {
		cs_mem_fail_after(n, 1);
		rc = cs_mdns_start(&f->m, &f->loop, &cfg);
		cs_mem_fail_after(-1, 0);
		if (rc == 0)
			break;
		assert_int_equal(rc, CS_ENOMEM);
		assert_int_equal(cs_mem_live(), f->mem0);
	}
	assert_int_equal(rc, 0);
	run_for(&f->loop, 100);
	assert_int_equal(f->status[CS_MDNS_NO_DAEMON], 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mdns_without_bus_says_no_daemon_once, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_mdns_with_bus_but_no_daemon_waits_for_it, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_mdns_start_refuses_bad_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mdns_close_at_once_reports_nothing, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_mdns_start_survives_allocation_failures, setup,
	        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
