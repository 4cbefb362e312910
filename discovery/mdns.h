/*
 * discovery/mdns.h: publish and browse `_cabsync._tcp` through avahi-daemon,
 * on the agent's libuv loop (discovery/avpoll.h), and turn what is found into
 * address-book events: "device tag T seen at address A port P" and "gone".
 *
 * What is published (docs/DISCOVERY.md §2): an instance with a random name
 * (new per start, per collision, per re-publish), a random host name of our
 * own as SRV target with the interface addresses as A/AAAA records (so the
 * machine's host name is in none of our records), and the TXT items `v=`,
 * `cab=`, `dev=` of a struct cs_tag_set (discovery/tag.h). Instances whose
 * cab tag is not accepted (another cabinet, or garbage) give no event. One
 * device reachable over IPv4 and IPv6, or on two interfaces, gives one SEEN
 * per (interface, protocol); a GONE names the instance it ends. SEEN is a
 * hint where to dial, not an identity: the handshake and the roster decide.
 *
 * Daemon life (docs/DISCOVERY.md §4): without a daemon or a system bus the
 * module keeps retrying and says so once through the status callback; when
 * the daemon goes away (restart) the client is freed and made again with
 * AVAHI_CLIENT_NO_FAIL, then publishes and browses anew.
 *
 * It knows nothing of SQLite, the wire format or sync state, keeps no key
 * (only tags, which are public). Ownership: cs_mdns_start() allocates the
 * object; cs_mdns_close() ends it asynchronously. Loop thread only. The
 * callbacks run on the loop; they may call any function here, including
 * cs_mdns_close().
 */
#ifndef CS_DISCOVERY_MDNS_H
#define CS_DISCOVERY_MDNS_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "discovery/tag.h"

#define CS_MDNS_TYPE     "_cabsync._tcp"
#define CS_MDNS_MAX_IF   16  /* interfaces in a publish/browse list */
#define CS_MDNS_MAX_SEEN 128 /* instances tracked; more are ignored (bounded memory) */
#define CS_MDNS_NAME_MAX 64  /* a DNS label + NUL */
#define CS_MDNS_ADDR_MAX 64  /* a numeric address + NUL */

struct cs_mdns;

enum cs_mdns_status {
	CS_MDNS_CONNECTING = 0, /* before the first report */
	CS_MDNS_RUNNING,        /* connected to avahi-daemon, browsing, publishing */
	CS_MDNS_PUBLISHED,      /* our instance is established on the LAN */
	CS_MDNS_NO_DAEMON,      /* no avahi-daemon (or no system bus): waiting for one */
	CS_MDNS_DAEMON_LOST,    /* the daemon went away (restart?): reconnecting */
	CS_MDNS_NO_ADDRESS,     /* no usable address on the configured interfaces */
	CS_MDNS_PUBLISH_FAILED, /* publishing failed; browsing goes on */
	CS_MDNS_BROWSE_FAILED   /* browsing failed; retried with the client */
};

enum cs_mdns_event_kind {
	CS_MDNS_SEEN = 1, /* an accepted device resolved (again, or elsewhere) */
	CS_MDNS_GONE      /* an instance seen before was withdrawn or no longer resolves */
};

struct cs_mdns_event {
	enum cs_mdns_event_kind kind;
	uint8_t dev_tag[CS_TAG_LEN]; /* which device (the agent maps tags to devices) */
	uint8_t cab_tag[CS_TAG_LEN]; /* the accepted cab tag it carried */
	uint32_t version;            /* its v= */
	int ifindex;                 /* interface it was seen on */
	/* SEEN only: where to dial (port and IPv6 scope set) and its text form. */
	struct sockaddr_storage sa;
	char addr[CS_MDNS_ADDR_MAX];
	uint16_t port;
	const char *instance; /* the random instance name; valid during the call */
};

typedef void (*cs_mdns_event_cb)(void *ctx, const struct cs_mdns_event *ev);
/* detail: a short English phrase for the log (no secret, no host name). */
typedef void (*cs_mdns_status_cb)(void *ctx, enum cs_mdns_status st, const char *detail);
typedef void (*cs_mdns_closed_cb)(void *ctx);

struct cs_mdns_config {
	uint16_t port;    /* TCP port to publish (the agent's listener) */
	uint32_t version; /* v= protocol version */
	/* Publish and browse only on these interface indexes (0 entries: all). */
	int ifindex[CS_MDNS_MAX_IF];
	size_t n_ifindex;
	struct cs_tag_set tags; /* published and accepted (copied) */
	unsigned retry_ms;      /* reconnect delay without a bus; 0: 2000 */
	/* Publish nothing, only browse (port may then be 0): `cabsync join`
	 * looking for its inviter. */
	int browse_only;
	/*
	 * Tests only (the LAN test provokes a collision with it): the first
	 * instance name instead of a random one; any collision, re-publish or
	 * rotation goes back to random names. NULL in the agent. Copied.
	 */
	const char *first_name;
	cs_mdns_event_cb on_event;
	cs_mdns_status_cb on_status;
	void *ctx;
};

/*
 * Start publishing and browsing on loop. *out gets the object. Without a
 * daemon this still succeeds (status CS_MDNS_NO_DAEMON, retried).
 * Returns 0, CS_EINVAL (port 0 without browse_only, too many interfaces, no callback, a
 * first_name longer than a DNS label) or
 * CS_ENOMEM / CS_EIO (libuv).
 */
int cs_mdns_start(struct cs_mdns **out, uv_loop_t *loop, const struct cs_mdns_config *cfg);

/*
 * New tags (the agent calls it at UTC midnight): re-publishes under a new
 * random name if the published tags changed, and re-checks every instance
 * seen: one now accepted gives SEEN, one no longer accepted GONE.
 */
int cs_mdns_set_tags(struct cs_mdns *m, const struct cs_tag_set *tags);

/*
 * Withdraw our instance and publish a new one (new random names, addresses
 * read again): the agent calls it when the network comes back after a
 * partition or an address change, since peers' queriers may not ask again
 * for up to an hour (docs/DISCOVERY.md §4). 0, or CS_EAGAIN when no daemon
 * is connected (publishing happens when it is).
 */
int cs_mdns_republish(struct cs_mdns *m);

/* The current random instance name ("" before the first publish). */
const char *cs_mdns_instance(const struct cs_mdns *m);

/*
 * Stop: no event or status callback after this call; our records are
 * withdrawn (the client is freed, avahi sends goodbyes). on_closed(ctx) runs
 * from the loop once every handle is closed; m is freed before it. Idempotent.
 */
void cs_mdns_close(struct cs_mdns *m, cs_mdns_closed_cb on_closed, void *ctx);

/* A static English name of st ("no avahi-daemon", ...). */
const char *cs_mdns_status_name(enum cs_mdns_status st);

#endif
