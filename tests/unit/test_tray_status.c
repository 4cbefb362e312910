/*
 * tests/unit/test_tray_status.c: the tray's status decoder and state choice
 * (agent/tray/tray_status.h) and its control-socket client
 * (agent/tray/tray_ctl.h) against a real Unix socket served by a child.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/tray/tray_ctl.h"
#include "agent/tray/tray_status.h"
#include "base/err.h"

/* What agent/daemon.c writes, two colleagues. */
#define PEER_LAPTOP(online, pending)                                                               \
	"{\"device\":\"aa\",\"name\":\"laptop\",\"online\":" online ",\"revoked\":false,"          \
	"\"addr\":\"127.0.0.1:1\",\"last_sync\":1700000000,\"pending\":" pending ",\"rows_in\":1," \
	"\"rows_out\":2,\"received_up_to\":3}"
#define PEER_DESK(online, pending)                                                                 \
	"{\"device\":\"bb\",\"name\":\"desk\",\"online\":" online                                  \
	",\"revoked\":false,\"addr\":\"\","                                                        \
	"\"last_sync\":0,\"pending\":" pending                                                     \
	",\"rows_in\":0,\"rows_out\":0,\"received_up_to\":0}"
#define STATUS(state, peers)                                                                       \
	"{\"state\":\"" state "\",\"device\":\"cc\",\"name\":\"reception\",\"port\":7433,"         \
	"\"db_version\":12,\"peers\":[" peers "]}"

static int
parse(const char *s, struct cs_tray_status *st)
{
	return cs_tray_status_parse(s, strlen(s), st);
}

static void
test_tray_synced_when_a_colleague_acknowledged_everything(void **state)
{
	struct cs_tray_status st;

	(void)state;
	assert_int_equal(parse(STATUS("synced", PEER_LAPTOP("true", "0")), &st), 0);
	assert_int_equal(st.state, CS_TRAY_SYNCED);
	assert_string_equal(cs_tray_state_name(st.state), "synced");
	assert_int_equal(st.db_version, 12);
	assert_string_equal(st.device_name, "reception");
	assert_int_equal(st.npeers, 1);
	assert_string_equal(st.peers[0].name, "laptop");
	assert_int_equal(st.peers[0].last_sync, 1700000000);
	/* the agent says syncing (desk has not acked) but laptop has it all: safe */
	assert_int_equal(
	    parse(STATUS("syncing", PEER_LAPTOP("false", "0") "," PEER_DESK("true", "4")), &st), 0);
	assert_int_equal(st.state, CS_TRAY_SYNCED);
	assert_int_equal(st.online, 1);
	assert_int_equal(st.pending, 0);
}

static void
test_tray_syncing_while_changes_wait(void **state)
{
	struct cs_tray_status st;
	char head[128];

	(void)state;
	assert_int_equal(parse(STATUS("syncing", PEER_LAPTOP("true", "3")), &st), 0);
	assert_int_equal(st.state, CS_TRAY_SYNCING);
	cs_tray_status_headline(&st, head, sizeof(head));
	assert_string_equal(head, "Syncing: 3 changes to send");
	/* acknowledgements not known yet (a session just opened): not synced */
	assert_int_equal(parse(STATUS("syncing", PEER_LAPTOP("true", "null")), &st), 0);
	assert_int_equal(st.state, CS_TRAY_SYNCING);
	assert_int_equal(st.pending, -1);
}

static void
test_tray_local_only_without_another_device(void **state)
{
	struct cs_tray_status st;
	char head[128];

	(void)state;
	assert_int_equal(parse(STATUS("offline", ""), &st), 0);
	assert_int_equal(st.state, CS_TRAY_LOCAL);
	cs_tray_status_headline(&st, head, sizeof(head));
	assert_string_equal(head, "Local only: no other device, nothing is backed up");
	/* a revoked device is no colleague: still local, never green */
	assert_int_equal(parse("{\"state\":\"synced\",\"peers\":[{\"name\":\"old\",\"online\":"
	                       "true,\"revoked\":true,\"pending\":0}]}",
	                     &st),
	    0);
	assert_int_equal(st.state, CS_TRAY_LOCAL);
}

static void
test_tray_offline_counts_changes_waiting(void **state)
{
	struct cs_tray_status st;
	char head[128];

	(void)state;
	assert_int_equal(
	    parse(STATUS("offline", PEER_LAPTOP("false", "2") "," PEER_DESK("false", "5")), &st),
	    0);
	assert_int_equal(st.state, CS_TRAY_OFFLINE);
	assert_int_equal(st.pending, 2);
	cs_tray_status_headline(&st, head, sizeof(head));
	assert_string_equal(head, "Offline: 2 changes waiting");
	assert_int_equal(parse(STATUS("offline", PEER_LAPTOP("false", "1")), &st), 0);
	cs_tray_status_headline(&st, head, sizeof(head));
	assert_string_equal(head, "Offline: 1 change waiting");
	assert_int_equal(parse(STATUS("offline", PEER_LAPTOP("false", "null")), &st), 0);
	cs_tray_status_headline(&st, head, sizeof(head));
	assert_string_equal(head, "Offline: no colleague reachable");
}

static void
test_tray_paused(void **state)
{
	struct cs_tray_status st;

	(void)state;
	assert_int_equal(parse(STATUS("paused", PEER_LAPTOP("false", "0")), &st), 0);
	assert_int_equal(st.state, CS_TRAY_PAUSED);
}

static void
test_tray_conflicts_field_wins(void **state)
{
	struct cs_tray_status st;
	char head[128];

	(void)state;
	assert_int_equal(
	    parse("{\"state\":\"synced\",\"conflicts\":2,\"peers\":[" PEER_LAPTOP("true", "0") "]}",
	        &st),
	    0);
	assert_int_equal(st.state, CS_TRAY_CONFLICT);
	cs_tray_status_headline(&st, head, sizeof(head));
	assert_string_equal(head, "2 conflicts to review");
	assert_int_equal(
	    parse("{\"state\":\"synced\",\"conflicts\":0,\"peers\":[" PEER_LAPTOP("true", "0") "]}",
	        &st),
	    0);
	assert_int_equal(st.state, CS_TRAY_SYNCED);
	assert_int_equal(st.conflicts, 0);
	/* absent: unknown, not zero */
	assert_int_equal(parse(STATUS("synced", PEER_LAPTOP("true", "0")), &st), 0);
	assert_int_equal(st.conflicts, -1);
	/* a conflict count that is not a count */
	assert_int_equal(parse("{\"state\":\"synced\",\"conflicts\":-1,\"peers\":[]}", &st),
	    CS_EINVAL);
	assert_int_equal(parse("{\"state\":\"synced\",\"conflicts\":\"2\",\"peers\":[]}", &st),
	    CS_EINVAL);
}

static void
test_tray_agent_error_is_error(void **state)
{
	struct cs_tray_status st;

	(void)state;
	assert_int_equal(parse("{\"error\":\"database locked\"}", &st), 0);
	assert_int_equal(st.state, CS_TRAY_ERROR);
	assert_string_equal(st.error, "the agent reports an error: database locked");
	assert_int_equal(parse(STATUS("exploded", PEER_LAPTOP("true", "0")), &st), 0);
	assert_int_equal(st.state, CS_TRAY_ERROR);
	assert_string_equal(st.error, "the agent reports an unknown state");
}

static void
test_tray_every_truncation_is_refused(void **state)
{
	const char *full = STATUS("synced", PEER_LAPTOP("true", "0") "," PEER_DESK("false", "1"));
	struct cs_tray_status st;
	size_t n, len = strlen(full);
	char *copy;

	(void)state;
	for (n = 0; n < len; n++) {
		copy = malloc(n + 1); /* exact size: ASan catches a read past n */
		assert_non_null(copy);
		memcpy(copy, full, n);
		assert_int_equal(cs_tray_status_parse(copy, n, &st), CS_EINVAL);
		assert_int_equal(st.state, CS_TRAY_ERROR);
		assert_string_equal(st.error, "the agent's status answer is unreadable");
		free(copy);
	}
	assert_int_equal(cs_tray_status_parse(full, len, &st), 0);
}

static void
test_tray_malformed_answers_are_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "null",
	    "[]",
	    "{}",                                    /* no state, no peers */
	    "{\"state\":\"synced\"}",                /* no peers */
	    "{\"state\":\"synced\",\"peers\":{}}",   /* peers not an array */
	    "{\"state\":1,\"peers\":[]}",            /* state not a string */
	    "{\"state\":\"synced\",\"peers\":[]} x", /* trailing bytes */
	    "{\"state\":\"synced\",\"peers\":[],}",  /* trailing comma */
	    "{\"state\":\"synced\",\"peers\":[{\"online\":1}]}",
	    "{\"state\":\"synced\",\"peers\":[{\"pending\":-3}]}",
	    "{\"state\":\"synced\",\"peers\":[{\"last_sync\":1.5}]}",
	    "{\"state\":\"syn\x01\",\"peers\":[]}", /* raw control byte */
	    "{\"state\":\"synced\",\"peers\":[],\"peers\":[]}",
	    "{\"state\":\"synced\",\"peers\":[],\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}",
	    "{\"state\":\"\\q\",\"peers\":[]}",
	    "{\"state\":\"\\u12\",\"peers\":[]}",
	    "{\"state\":\"synced\",\"peers\":[],\"x\":-}",
	    "{\"state\":\"synced\",\"peers\":[],\"x\":1e}",
	    "{\"state\":\"synced\",\"peers\":[],\"x\":tru}",
	};
	struct cs_tray_status st;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &st) != CS_EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(st.state, CS_TRAY_ERROR);
	}
}

static void
test_tray_unknown_fields_are_skipped(void **state)
{
	struct cs_tray_status st;

	(void)state;
	assert_int_equal(
	    parse(" {\"future\":{\"a\":[1,2.5e3,-7,true,false,null,\"s\\\"\"]},"
	          "\"state\":\"synced\",\"peers\":[{\"name\":\"lap\\u0074op \\\"2\\\"\","
	          "\"online\":true,\"pending\":0,\"more\":{}}],\"big\":"
	          "123456789012345678901234567890} \n",
	        &st),
	    0);
	assert_int_equal(st.state, CS_TRAY_SYNCED);
	assert_string_equal(st.peers[0].name, "laptop \"2\"");
}

static void
test_tray_long_name_is_cut_on_a_character(void **state)
{
	char js[512], name[CS_TRAY_NAME_LEN + 8];
	struct cs_tray_status st;
	size_t i;

	(void)state;
	/* "é" (2 bytes) repeated past the field: the cut never splits one */
	for (i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	name[i] = '\0';
	snprintf(js, sizeof(js), "{\"state\":\"offline\",\"peers\":[{\"name\":\"%s\"}]}", name);
	assert_int_equal(parse(js, &st), 0);
	assert_int_equal(strlen(st.peers[0].name) % 2, 0);
	assert_true(strlen(st.peers[0].name) < CS_TRAY_NAME_LEN);
}

static void
test_tray_many_peers_are_counted(void **state)
{
	char js[8192];
	struct cs_tray_status st;
	size_t n = 0, i;

	(void)state;
	n += (size_t)snprintf(js + n, sizeof(js) - n, "{\"state\":\"syncing\",\"peers\":[");
	for (i = 0; i < CS_TRAY_MAX_PEERS + 3; i++)
		n += (size_t)snprintf(js + n, sizeof(js) - n,
		    "%s{\"name\":\"p%zu\",\"online\":%s,\"pending\":%zu}", i ? "," : "", i,
		    i == CS_TRAY_MAX_PEERS + 2 ? "true" : "false", i + 1);
	snprintf(js + n, sizeof(js) - n, "]}");
	assert_int_equal(parse(js, &st), 0);
	assert_int_equal(st.npeers, CS_TRAY_MAX_PEERS);
	assert_int_equal(st.nextra, 3);
	assert_int_equal(st.colleagues, CS_TRAY_MAX_PEERS + 3);
	assert_int_equal(st.online, 1); /* the one beyond the kept list still counts */
	assert_int_equal(st.state, CS_TRAY_SYNCING);
}

static void
test_tray_tooltip_lines(void **state)
{
	struct cs_tray_status st;
	char tip[1024], small[20];

	(void)state;
	assert_int_equal(
	    parse(STATUS("syncing", PEER_LAPTOP("true", "0") "," PEER_DESK("false", "3")), &st), 0);
	cs_tray_status_tooltip(&st, 1700000030, tip, sizeof(tip));
	assert_string_equal(tip,
	    "cabsync: Synced: safe to shut down\n"
	    "Colleagues online: laptop\n"
	    "laptop: online, last sync just now\n"
	    "desk: offline, last sync never\n"
	    "Changes waiting: 0");
	cs_tray_status_tooltip(&st, 1700000000 + 600, tip, sizeof(tip));
	assert_non_null(strstr(tip, "laptop: online, last sync 10 min ago"));
	cs_tray_status_tooltip(&st, 0, small, sizeof(small));
	assert_string_equal(small, "cabsync: Synced: sa");
	parse("", &st);
	cs_tray_status_tooltip(&st, 0, tip, sizeof(tip));
	assert_string_equal(tip, "cabsync: Error: the agent's status answer is unreadable");
}

/* ------------------------------------------------ control socket client */

static char sockdir[64];
static char sockpath[128];

/* A child that accepts one connection, checks the request, then acts. */
static pid_t
serve(const char *answer, int hang)
{
	struct sockaddr_un sa;
	char req[64];
	ssize_t r;
	size_t n = 0;
	size_t len = strlen(answer);
	pid_t pid;
	int fd, c;

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	unlink(sockpath);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid > 0) {
		close(fd);
		return pid;
	}
	c = accept(fd, NULL, NULL);
	if (c < 0)
		_exit(1);
	while (n < sizeof(req) - 1 && (r = read(c, req + n, 1)) == 1 && req[n] != '\n')
		n++;
	req[n] = '\0';
	if (strcmp(req, "cabsync-control/1 status") != 0)
		_exit(2);
	if (hang)
		sleep(3);
	if (write(c, answer, len) != (ssize_t)len)
		_exit(3);
	close(c);
	_exit(0);
}

static int
reap(pid_t pid)
{
	int ws = 0;

	kill(pid, SIGKILL);
	waitpid(pid, &ws, 0);
	return ws;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(sockdir, sizeof(sockdir), "/tmp/cs_tray_XXXXXX");
	if (mkdtemp(sockdir) == NULL)
		return -1;
	snprintf(sockpath, sizeof(sockpath), "%s/control.sock", sockdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(sockpath);
	rmdir(sockdir);
	return 0;
}

static void
test_tray_ctl_roundtrip(void **state)
{
	char out[256];
	pid_t pid;
	int ws;

	(void)state;
	pid = serve("{\"state\":\"offline\",\"peers\":[]}\n", 0);
	assert_int_equal(cs_tray_ctl_request(sockpath, "status", out, sizeof(out), 2000), 0);
	assert_string_equal(out, "{\"state\":\"offline\",\"peers\":[]}");
	waitpid(pid, &ws, 0);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

static void
test_tray_ctl_no_agent(void **state)
{
	char out[64];
	struct sockaddr_un sa;
	int fd;

	(void)state;
	unlink(sockpath);
	assert_int_equal(cs_tray_ctl_request(sockpath, "status", out, sizeof(out), 500), CS_ENOENT);
	/* a stale socket file nobody listens on: refused, also "no agent" */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(cs_tray_ctl_request(sockpath, "status", out, sizeof(out), 500), CS_ENOENT);
}

static void
test_tray_ctl_stuck_agent_times_out(void **state)
{
	struct timespec a, b;
	char out[64];
	pid_t pid;
	long ms;

	(void)state;
	pid = serve("{}\n", 1);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(cs_tray_ctl_request(sockpath, "status", out, sizeof(out), 300), CS_EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 250 && ms < 2000);
	reap(pid);
}

static void
test_tray_ctl_bad_answers(void **state)
{
	char out[16], longverb[200];
	pid_t pid;

	(void)state;
	pid = serve("{\"a\":1}", 0); /* no newline */
	assert_int_equal(cs_tray_ctl_request(sockpath, "status", out, sizeof(out), 2000), CS_EIO);
	reap(pid);
	pid = serve("{}\n{}\n", 0); /* two lines */
	assert_int_equal(cs_tray_ctl_request(sockpath, "status", out, sizeof(out), 2000), CS_EIO);
	reap(pid);
	pid = serve("{\"aaaaaaaaaaaaaaaaaaaa\":1}\n", 0); /* longer than out */
	assert_int_equal(cs_tray_ctl_request(sockpath, "status", out, sizeof(out), 2000),
	    CS_ERANGE);
	assert_string_equal(out, "");
	reap(pid);
	memset(longverb, 'v', sizeof(longverb) - 1);
	longverb[sizeof(longverb) - 1] = '\0';
	assert_int_equal(cs_tray_ctl_request(sockpath, longverb, out, sizeof(out), 2000),
	    CS_EINVAL);
}

static void
test_tray_ctl_path(void **state)
{
	char p[64];

	(void)state;
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(cs_tray_ctl_path(NULL, p, sizeof(p)), 0);
	assert_string_equal(p, "/run/user/1000/cabsync/control.sock");
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(cs_tray_ctl_path(NULL, p, sizeof(p)), CS_EINVAL);
	assert_int_equal(cs_tray_ctl_path("/h", p, sizeof(p)), 0);
	assert_string_equal(p, "/h/control.sock");
	assert_int_equal(cs_tray_ctl_path("/a/very/long/home/directory/name/indeed", p, 20),
	    CS_ERANGE);
}

static void
test_tray_top_level_pending_wins(void **state)
{
	struct cs_tray_status st;
	const char *s = "{\"state\":\"offline\",\"db_version\":9,\"pending\":3,\"conflicts\":0,"
	                "\"peers\":[" PEER_LAPTOP("false", "null") "]}";

	(void)state;
	assert_int_equal(parse(s, &st), 0);
	assert_int_equal(st.state, CS_TRAY_OFFLINE);
	assert_int_equal(st.pending, 3);
	/* null at the top: unknown, even if a peer says 0 */
	assert_int_equal(parse("{\"state\":\"offline\",\"pending\":null,\"peers\":[" PEER_LAPTOP(
	                           "false", "0") "]}",
	                     &st),
	    0);
	assert_int_equal(st.pending, -1);
	/* offline with nothing waiting says so, never "synced" */
	assert_int_equal(
	    parse("{\"state\":\"offline\",\"pending\":0,\"peers\":[" PEER_LAPTOP("false", "0") "]}",
	        &st),
	    0);
	assert_int_equal(st.state, CS_TRAY_OFFLINE);
	{
		char head[128];

		cs_tray_status_headline(&st, head, sizeof(head));
		assert_string_equal(head, "Offline: no colleague reachable, nothing waiting");
	}
	assert_int_equal(parse("{\"state\":\"offline\",\"pending\":-2,\"peers\":[]}", &st),
	    CS_EINVAL);
	assert_int_equal(
	    parse("{\"state\":\"offline\",\"pending\":1,\"pending\":1,\"peers\":[]}", &st),
	    CS_EINVAL);
}

static void
test_tray_local_when_no_replica(void **state)
{
	struct cs_tray_status st;

	(void)state;
	/* a colleague's device that does not receive my changes backs nothing up */
	assert_int_equal(parse("{\"state\":\"synced\",\"pending\":0,\"peers\":[{\"device\":\"ab\","
	                       "\"name\":\"other\",\"online\":true,\"revoked\":false,"
	                       "\"replica\":false,\"pending\":0}]}",
	                     &st),
	    0);
	assert_int_equal(st.state, CS_TRAY_LOCAL);
	assert_string_equal(st.peers[0].device, "ab");
	assert_int_equal(st.peers[0].replica, 0);
	assert_int_equal(parse("{\"state\":\"synced\",\"peers\":[{\"replica\":1}]}", &st),
	    CS_EINVAL);
}

static int
evparse(const char *s, struct cs_tray_event *ev)
{
	return cs_tray_event_parse(s, strlen(s), ev);
}

static void
test_tray_events(void **state)
{
	struct cs_tray_event ev;
	struct cs_tray_status st;
	const char *s =
	    "{\"event\":\"status\",\"state\":\"synced\",\"pending\":0,\"peers\":[" PEER_LAPTOP(
	        "true", "0") "]}";

	(void)state;
	assert_int_equal(evparse(s, &ev), 0);
	assert_int_equal(ev.kind, CS_TRAY_EV_STATUS);
	assert_int_equal(parse(s, &st), 0);
	assert_int_equal(st.state, CS_TRAY_SYNCED);
	assert_int_equal(evparse("{\"event\":\"peer\",\"device\":\"aa\",\"name\":\"laptop\","
	                         "\"online\":true}",
	                     &ev),
	    0);
	assert_int_equal(ev.kind, CS_TRAY_EV_PEER);
	assert_string_equal(ev.name, "laptop");
	assert_int_equal(ev.online, 1);
	assert_int_equal(evparse("{\"event\":\"conflict\",\"open\":3,\"new\":2}", &ev), 0);
	assert_int_equal(ev.kind, CS_TRAY_EV_CONFLICT);
	assert_int_equal(ev.open, 3);
	assert_int_equal(ev.added, 2);
	assert_int_equal(evparse("{\"event\":\"share_received\",\"share\":4,\"from\":\"aa\","
	                         "\"from_name\":\"Dr B\",\"permission\":\"read\"}",
	                     &ev),
	    0);
	assert_int_equal(ev.kind, CS_TRAY_EV_SHARE_RECV);
	assert_string_equal(ev.name, "Dr B");
	assert_string_equal(ev.permission, "read");
	assert_int_equal(evparse("{\"event\":\"share_revoked\",\"from_name\":\"Dr B\"}", &ev), 0);
	assert_int_equal(ev.kind, CS_TRAY_EV_SHARE_REVOKED);
	assert_int_equal(evparse("{\"event\":\"relay_login\",\"reason\":\"expired\"}", &ev), 0);
	assert_int_equal(ev.kind, CS_TRAY_EV_RELAY_LOGIN);
	assert_int_equal(evparse("{\"event\":\"stopping\"}", &ev), 0);
	assert_int_equal(ev.kind, CS_TRAY_EV_STOPPING);
	assert_int_equal(evparse("{\"event\":\"from_the_future\",\"x\":[1,{}]}", &ev), 0);
	assert_int_equal(ev.kind, CS_TRAY_EV_UNKNOWN);
	assert_int_equal(evparse("{\"error\":\"unknown verb\"}", &ev), 0);
	assert_int_equal(ev.kind, CS_TRAY_EV_ERROR);
	assert_string_equal(ev.error, "unknown verb");
	/* refused: no event, wrong types, two events, trailing bytes, truncations */
	assert_int_equal(evparse("{}", &ev), CS_EINVAL);
	assert_int_equal(evparse("{\"event\":1}", &ev), CS_EINVAL);
	assert_int_equal(evparse("{\"event\":\"peer\",\"online\":\"yes\"}", &ev), CS_EINVAL);
	assert_int_equal(evparse("{\"event\":\"conflict\",\"open\":-1}", &ev), CS_EINVAL);
	assert_int_equal(evparse("{\"event\":\"peer\",\"event\":\"peer\"}", &ev), CS_EINVAL);
	assert_int_equal(evparse("{\"event\":\"stopping\"}x", &ev), CS_EINVAL);
	assert_int_equal(evparse("{\"event\":\"stopping\",}", &ev), CS_EINVAL);
	assert_int_equal(evparse("[\"event\"]", &ev), CS_EINVAL);
	{
		const char *full = "{\"event\":\"peer\",\"name\":\"x\",\"online\":false}";
		size_t i;

		for (i = 0; i < strlen(full); i++)
			assert_int_equal(cs_tray_event_parse(full, i, &ev), CS_EINVAL);
	}
}

static void
test_tray_conflicts_answer(void **state)
{
	static struct cs_tray_conflicts c;
	char err[128];
	const char *s = "{\"conflicts\":[{\"id\":7,\"table\":\"patient\",\"column\":\"email\","
	                "\"row\":\"0011\",\"mine\":\"a@x.fr\",\"theirs\":\"b\\\"@x.fr\","
	                "\"mine_device\":\"aa\",\"their_device\":\"bb\"},{\"id\":8,\"table\":"
	                "\"consultation\",\"column\":null,\"mine\":{\"deleted\":true},\"theirs\":"
	                "null}],\"truncated\":false}";
	size_t i;

	(void)state;
	assert_int_equal(cs_tray_conflicts_parse(s, strlen(s), &c, err, sizeof(err)), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.v[0].id, 7);
	assert_string_equal(c.v[0].table, "patient");
	assert_string_equal(c.v[0].column, "email");
	assert_string_equal(c.v[0].mine, "a@x.fr");
	assert_string_equal(c.v[0].theirs, "b\"@x.fr");
	assert_string_equal(c.v[0].their_device, "bb");
	assert_string_equal(c.v[1].column, "");
	assert_string_equal(c.v[1].mine, "(deleted)");
	assert_string_equal(c.v[1].theirs, "(empty)");
	assert_int_equal(c.truncated, 0);
	for (i = 0; i < strlen(s); i++)
		assert_int_equal(cs_tray_conflicts_parse(s, i, &c, NULL, 0), CS_EINVAL);
	s = "{\"error\":\"this agent does not support the verb\"}";
	assert_int_equal(cs_tray_conflicts_parse(s, strlen(s), &c, err, sizeof(err)), CS_EINVAL);
	assert_string_equal(err, "this agent does not support the verb");
	s = "{\"conflicts\":[{\"id\":0}]}";
	assert_int_equal(cs_tray_conflicts_parse(s, strlen(s), &c, err, sizeof(err)), CS_EINVAL);
	assert_string_equal(err, "the agent's answer is unreadable");
	s = "{\"conflicts\":[{\"id\":1,\"mine\":{\"deleted\":false}}]}";
	assert_int_equal(cs_tray_conflicts_parse(s, strlen(s), &c, NULL, 0), CS_EINVAL);
	s = "{\"conflicts\":[{\"id\":1,\"mine\":{\"deleted\":true,}}]}";
	assert_int_equal(cs_tray_conflicts_parse(s, strlen(s), &c, NULL, 0), CS_EINVAL);
	s = "{\"truncated\":true}";
	assert_int_equal(cs_tray_conflicts_parse(s, strlen(s), &c, NULL, 0), CS_EINVAL);
}

static void
test_tray_audit_answer(void **state)
{
	static struct cs_tray_audit a;
	const char *s =
	    "{\"total\":12,\"audit\":[{\"id\":11,\"at_ms\":1700000000000,\"action\":"
	    "\"sync-in\",\"device\":\"0011223344556677\",\"count\":3,\"patient\":\"42\","
	    "\"detail\":\"\"},{\"id\":12,\"at_ms\":1,\"action\":\"x\",\"device\":\"\","
	    "\"count\":0,\"patient\":\"\",\"detail\":\"d\"}]}";
	size_t i;

	(void)state;
	assert_int_equal(cs_tray_audit_parse(s, strlen(s), &a, NULL, 0), 0);
	assert_int_equal(a.total, 12);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.v[0].action, "sync-in");
	assert_string_equal(a.v[0].patient, "42");
	assert_int_equal(a.v[0].count, 3);
	assert_string_equal(a.v[1].detail, "d");
	for (i = 0; i < strlen(s); i++)
		assert_int_equal(cs_tray_audit_parse(s, i, &a, NULL, 0), CS_EINVAL);
	s = "{\"total\":-1,\"audit\":[]}";
	assert_int_equal(cs_tray_audit_parse(s, strlen(s), &a, NULL, 0), CS_EINVAL);
}

static struct cs_tray_rows rows;

static void
test_tray_share_answers(void **state)
{
	static const char pat[] =
	    "{\"patients\":[{\"id\":\"1\",\"label\":\"Dupont Jean\",\"rights\":\"owner\"},"
	    "{\"id\":\"2\",\"label\":\"M\u00e9o\",\"rights\":\"read\",\"x\":[1]}],"
	    "\"next\":2}";
	static const char sh[] =
	    "{\"shares\":[{\"patient\":\"1\",\"label\":null,\"practitioner\":"
	    "\"0123456789abcdef0123456789abcdef\",\"name\":\"Leroy\",\"perm\":\"write\","
	    "\"since\":1700000000000,\"until\":null,\"active\":true,\"note\":null}],"
	    "\"next\":null}";
	char err[128], detail[128];

	(void)state;
	assert_int_equal(cs_tray_rows_parse(pat, strlen(pat), "patients", &rows, err, sizeof(err)),
	    0);
	assert_int_equal(rows.n, 2);
	assert_int_equal(rows.next, 2);
	assert_string_equal(rows.v[0].label, "Dupont Jean");
	assert_string_equal(rows.v[1].rights, "read");
	assert_int_equal(cs_tray_rows_parse(sh, strlen(sh), "shares", &rows, err, sizeof(err)), 0);
	assert_int_equal(rows.n, 1);
	assert_int_equal(rows.next, 0);
	assert_string_equal(rows.v[0].rights, "write");
	assert_string_equal(rows.v[0].label, "");
	assert_int_equal(rows.v[0].until, -1);
	assert_int_equal(rows.v[0].active, 1);
	assert_int_equal(rows.v[0].since, 1700000000000LL);
	/* the wrong list, a broken one, an error answer */
	assert_int_equal(cs_tray_rows_parse(sh, strlen(sh), "patients", &rows, err, sizeof(err)),
	    CS_EINVAL);
	assert_int_equal(
	    cs_tray_rows_parse(pat, strlen(pat) - 1, "patients", &rows, err, sizeof(err)),
	    CS_EINVAL);
	assert_int_equal(rows.n, 0);
	assert_int_equal(cs_tray_rows_parse("{\"error\":\"no such patient here\"}", 32, "shares",
	                     &rows, err, sizeof(err)),
	    CS_EINVAL);
	assert_string_equal(err, "no such patient here");
	assert_int_equal(cs_tray_ok_parse("{\"ok\":true,\"detail\":\"shared read with Leroy\"}", 45,
	                     detail, sizeof(detail), err, sizeof(err)),
	    0);
	assert_string_equal(detail, "shared read with Leroy");
	assert_int_equal(
	    cs_tray_ok_parse("{\"ok\":false}", 12, detail, sizeof(detail), err, sizeof(err)),
	    CS_EINVAL);
	assert_int_equal(cs_tray_ok_parse("{\"error\":\"refused: x\"}", 22, detail, sizeof(detail),
	                     err, sizeof(err)),
	    CS_EINVAL);
	assert_string_equal(err, "refused: x");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tray_synced_when_a_colleague_acknowledged_everything),
	    cmocka_unit_test(test_tray_syncing_while_changes_wait),
	    cmocka_unit_test(test_tray_local_only_without_another_device),
	    cmocka_unit_test(test_tray_offline_counts_changes_waiting),
	    cmocka_unit_test(test_tray_paused),
	    cmocka_unit_test(test_tray_conflicts_field_wins),
	    cmocka_unit_test(test_tray_agent_error_is_error),
	    cmocka_unit_test(test_tray_every_truncation_is_refused),
	    cmocka_unit_test(test_tray_malformed_answers_are_refused),
	    cmocka_unit_test(test_tray_unknown_fields_are_skipped),
	    cmocka_unit_test(test_tray_long_name_is_cut_on_a_character),
	    cmocka_unit_test(test_tray_many_peers_are_counted),
	    cmocka_unit_test(test_tray_tooltip_lines),
	    cmocka_unit_test(test_tray_top_level_pending_wins),
	    cmocka_unit_test(test_tray_local_when_no_replica),
	    cmocka_unit_test(test_tray_events),
	    cmocka_unit_test(test_tray_conflicts_answer),
	    cmocka_unit_test(test_tray_audit_answer),
	    cmocka_unit_test(test_tray_share_answers),
	    cmocka_unit_test_setup_teardown(test_tray_ctl_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tray_ctl_no_agent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tray_ctl_stuck_agent_times_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tray_ctl_bad_answers, setup, teardown),
	    cmocka_unit_test(test_tray_ctl_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
