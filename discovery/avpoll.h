/*
 * discovery/avpoll.h: Avahi's main-loop abstraction (AvahiPoll) on a libuv
 * loop, so that the Avahi client runs on the agent's one loop thread
 * (DESIGN.md, Threads) instead of avahi_simple_poll in a second thread.
 *
 * Watches become uv_poll handles, timeouts uv_timer handles. libuv allows
 * one uv_poll per file descriptor, and D-Bus makes two watches (read and
 * write) on its one socket, so watches on the same fd share one uv_poll whose
 * event mask is the union of theirs. Every handle is freed in its uv_close
 * callback (STYLE.md §6). Avahi may free or update any watch or timeout from
 * inside any callback: a freed watch is only marked during a dispatch and
 * swept after it.
 *
 * Ownership: struct cs_avpoll lives in caller-owned storage (embed it), it
 * keeps the loop pointer. Loop thread only.
 */
#ifndef CS_DISCOVERY_AVPOLL_H
#define CS_DISCOVERY_AVPOLL_H

#include <stdbool.h>

#include <avahi-common/watch.h>
#include <uv.h>

struct cs_avpoll;
struct cs_avpoll_fd;

typedef void (*cs_avpoll_closed_cb)(struct cs_avpoll *p, void *ctx);

struct cs_avpoll {
	AvahiPoll api; /* api.userdata == this */
	uv_loop_t *loop;
	struct cs_avpoll_fd *fds; /* one uv_poll per watched fd */
	AvahiTimeout *timeouts;   /* live timeouts, for a forced close */
	long handles;             /* uv handles not yet through their close callback */
	bool closing;
	cs_avpoll_closed_cb on_closed;
	void *closed_ctx;
};

/* Set p up on loop. Takes no resource; cannot fail. */
void cs_avpoll_init(struct cs_avpoll *p, uv_loop_t *loop);

/* The AvahiPoll to pass to avahi_client_new(); valid until the close ends. */
const AvahiPoll *cs_avpoll_api(struct cs_avpoll *p);

/*
 * End p: free the Avahi client first (it frees its watches and timeouts);
 * any watch or timeout still live is closed here. on_closed runs once every
 * uv handle went through its close callback — from inside this call when
 * none was pending, else from the loop. After it, p may be freed. Not from
 * inside an Avahi callback (discovery/mdns.c closes from a timer).
 */
void cs_avpoll_close(struct cs_avpoll *p, cs_avpoll_closed_cb on_closed, void *ctx);

/* Live watches and timeouts (tests: avahi_client_free() leaves none). */
long cs_avpoll_live(const struct cs_avpoll *p);

#endif
