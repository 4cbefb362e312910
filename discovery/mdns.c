#include "mdns.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/error.h>
#include <avahi-common/strlst.h>
#include <sodium.h>

#include "base/err.h"
#include "base/mem.h"
#include "discovery/avpoll.h"

#define DEFAULT_RETRY_MS  2000
#define MAX_PUB_ADDRS     32 /* addresses published for our host name */
#define MAX_COLLISIONS    16 /* in a row, before giving up until a republish */
#define RANDOM_NAME_BYTES 8  /* 16 hex characters */

/* One browsed instance: (interface, protocol, name, domain) is its key. */
struct seen {
	struct seen *next;
	struct cs_mdns *m;
	AvahiIfIndex iface;
	AvahiProtocol proto;
	char name[CS_MDNS_NAME_MAX];
	char domain[CS_MDNS_NAME_MAX];
	AvahiServiceResolver *resolver; /* kept: it reports record changes */
	bool resolved;                  /* rec, sa, addr, port are valid */
	struct cs_tag_record rec;
	bool rec_ok; /* the TXT record was complete and well formed */
	struct sockaddr_storage sa;
	char addr[CS_MDNS_ADDR_MAX];
	uint16_t port;
	bool announced;              /* SEEN sent: GONE owed */
	uint8_t ann_dev[CS_TAG_LEN]; /* tags given with that SEEN */
	uint8_t ann_cab[CS_TAG_LEN];
	uint32_t ann_version;
};

struct cs_mdns {
	uv_loop_t *loop;
	struct cs_avpoll poll;
	uv_timer_t timer; /* deferred connect, reconnect and teardown */
	struct cs_mdns_config cfg;
	AvahiClient *client;
	AvahiEntryGroup *group;
	AvahiServiceBrowser *browsers[CS_MDNS_MAX_IF];
	size_t n_browsers;
	struct seen *seen;
	size_t n_seen;
	char name[CS_MDNS_NAME_MAX]; /* random instance name */
	char host[CS_MDNS_NAME_MAX]; /* random host name, "<hex>.local" */
	enum cs_mdns_status status;
	uint64_t connected_at; /* uv_now() of the last client creation */
	unsigned collisions;
	bool closing;
	int pending; /* handles still closing during teardown */
	cs_mdns_closed_cb on_closed;
	void *closed_ctx;
};

static void publish(struct cs_mdns *m);

const char *
cs_mdns_status_name(enum cs_mdns_status st)
{
	switch (st) {
	case CS_MDNS_CONNECTING:
		return "connecting";
	case CS_MDNS_RUNNING:
		return "running";
	case CS_MDNS_PUBLISHED:
		return "published";
	case CS_MDNS_NO_DAEMON:
		return "no avahi-daemon";
	case CS_MDNS_DAEMON_LOST:
		return "avahi-daemon lost";
	case CS_MDNS_NO_ADDRESS:
		return "no address to publish";
	case CS_MDNS_PUBLISH_FAILED:
		return "publish failed";
	case CS_MDNS_BROWSE_FAILED:
		return "browse failed";
	}
	return "unknown";
}

/* Tell the owner about a change of state, once per change. */
static void __attribute__((format(printf, 3, 4)))
report(struct cs_mdns *m, enum cs_mdns_status st, const char *fmt, ...)
{
	char detail[200];
	va_list ap;

	if (m->closing || st == m->status)
		return;
	m->status = st;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (m->cfg.on_status != NULL)
		m->cfg.on_status(m->cfg.ctx, st, detail);
}

static void
random_hex(char *out, size_t cap, const char *suffix)
{
	uint8_t r[RANDOM_NAME_BYTES];
	size_t i;

	randombytes_buf(r, sizeof(r));
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, cap - 2 * i, "%02x", r[i]);
	snprintf(out + 2 * sizeof(r), cap - 2 * sizeof(r), "%s", suffix);
}

/* New random instance and host names: nothing stable, nothing from the machine. */
static void
new_names(struct cs_mdns *m)
{
	random_hex(m->name, sizeof(m->name), "");
	random_hex(m->host, sizeof(m->host), ".local");
}

static void
emit(struct cs_mdns *m, struct seen *s, enum cs_mdns_event_kind kind)
{
	struct cs_mdns_event ev;

	if (m->closing || m->cfg.on_event == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	memcpy(ev.dev_tag, s->ann_dev, CS_TAG_LEN);
	memcpy(ev.cab_tag, s->ann_cab, CS_TAG_LEN);
	ev.version = s->ann_version;
	ev.ifindex = s->iface;
	ev.instance = s->name;
	if (kind == CS_MDNS_SEEN) {
		ev.sa = s->sa;
		memcpy(ev.addr, s->addr, sizeof(ev.addr));
		ev.port = s->port;
	}
	m->cfg.on_event(m->cfg.ctx, &ev);
}

static void
withdraw(struct cs_mdns *m, struct seen *s)
{
	if (!s->announced)
		return;
	s->announced = false;
	emit(m, s, CS_MDNS_GONE);
}

/*
 * Decide what s means now: accepted (our cabinet's current or previous cab
 * tag, a complete record, not our own device tag) gives SEEN; a change of
 * device tag withdraws the old one first; no longer accepted gives GONE.
 * fresh: the record was just (re)resolved, so a SEEN is due even if one was
 * sent before (the address may have changed).
 */
static void
evaluate(struct cs_mdns *m, struct seen *s, bool fresh)
{
	bool ok;

	ok = s->resolved && s->rec_ok && s->rec.have == CS_TAG_HAVE_ALL &&
	    cs_tag_cab_accepted(&m->cfg.tags, s->rec.cab) &&
	    sodium_memcmp(s->rec.dev, m->cfg.tags.dev, CS_TAG_LEN) != 0;
	if (!ok) {
		withdraw(m, s);
		return;
	}
	if (s->announced && memcmp(s->ann_dev, s->rec.dev, CS_TAG_LEN) != 0)
		withdraw(m, s);
	if (s->announced && !fresh)
		return;
	memcpy(s->ann_dev, s->rec.dev, CS_TAG_LEN);
	memcpy(s->ann_cab, s->rec.cab, CS_TAG_LEN);
	s->ann_version = s->rec.version;
	s->announced = true;
	emit(m, s, CS_MDNS_SEEN);
}

static void
seen_free(struct seen *s)
{
	if (s->resolver != NULL)
		avahi_service_resolver_free(s->resolver);
	cs_free(s);
}

/*
 * Forget every instance and the Avahi objects (freed with the client),
 * with a GONE for what was announced (none once closing).
 */
static void
drop_client(struct cs_mdns *m)
{
	struct seen *s;

	while ((s = m->seen) != NULL) {
		m->seen = s->next;
		withdraw(m, s);
		s->resolver = NULL; /* avahi_client_free() frees it */
		seen_free(s);
	}
	m->n_seen = 0;
	m->n_browsers = 0;
	m->group = NULL;
	if (m->client != NULL)
		avahi_client_free(m->client);
	m->client = NULL;
}

static void timer_cb(uv_timer_t *t);

static void
schedule(struct cs_mdns *m, unsigned ms)
{
	uv_timer_start(&m->timer, timer_cb, ms, 0);
}

static bool
if_allowed(const struct cs_mdns *m, int idx)
{
	size_t i;

	if (m->cfg.n_ifindex == 0)
		return true;
	for (i = 0; i < m->cfg.n_ifindex; i++) {
		if (m->cfg.ifindex[i] == idx)
			return true;
	}
	return false;
}

struct pub_addr {
	int ifindex;
	AvahiAddress a;
};

/*
 * The addresses to publish for our host name: those of the allowed
 * interfaces; with no interface list, every non-loopback one, or the
 * loopback ones when there is nothing else (a test namespace with only lo).
 */
static size_t
collect_addrs(struct cs_mdns *m, struct pub_addr *out, size_t cap)
{
	uv_interface_address_t *ifs = NULL;
	size_t n = 0;
	int count = 0, i, pass, idx;

	if (uv_interface_addresses(&ifs, &count) != 0)
		return 0;
	for (pass = 0; pass < 2 && n == 0; pass++) {
		for (i = 0; i < count && n < cap; i++) {
			if (m->cfg.n_ifindex == 0 && (ifs[i].is_internal != 0) != (pass == 1))
				continue;
			idx = (int)if_nametoindex(ifs[i].name);
			if (idx == 0 || !if_allowed(m, idx))
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			out[n].ifindex = idx;
			if (ifs[i].address.address4.sin_family == AF_INET) {
				out[n].a.proto = AVAHI_PROTO_INET;
				out[n].a.data.ipv4.address =
				    ifs[i].address.address4.sin_addr.s_addr;
			} else if (ifs[i].address.address6.sin6_family == AF_INET6) {
				out[n].a.proto = AVAHI_PROTO_INET6;
				memcpy(out[n].a.data.ipv6.address,
				    &ifs[i].address.address6.sin6_addr, 16);
			} else {
				continue;
			}
			n++;
		}
		if (m->cfg.n_ifindex != 0)
			break; /* an explicit list is taken as it is */
	}
	uv_free_interface_addresses(ifs, count);
	return n;
}

/*
 * Fill the entry group: A/AAAA records of our random host on each address's
 * own interface (no reverse PTR: the address belongs to the machine's name
 * already), then the service on every (interface, protocol) that has one.
 * A local name collision picks new names and starts again (bounded).
 */
static int
fill_group(struct cs_mdns *m, AvahiEntryGroup *g, const struct pub_addr *addrs, size_t n)
{
	char items[3][CS_TAG_TXT_MAX];
	struct {
		int ifindex;
		AvahiProtocol proto;
	} where[MAX_PUB_ADDRS];
	AvahiStringList *txt = NULL;
	size_t i, j, nw = 0;
	int rc = 0;

	cs_tag_txt_items(&m->cfg.tags, m->cfg.version, items);
	txt = avahi_string_list_new(items[0], items[1], items[2], NULL);
	if (txt == NULL)
		return AVAHI_ERR_NO_MEMORY;
	for (i = 0; i < n; i++) {
		rc = avahi_entry_group_add_address(g, addrs[i].ifindex, addrs[i].a.proto,
		    AVAHI_PUBLISH_NO_REVERSE, m->host, &addrs[i].a);
		if (rc == AVAHI_ERR_COLLISION)
			goto out;
		if (rc < 0)
			continue; /* e.g. IPv6 off in the daemon: publish the rest */
		for (j = 0; j < nw; j++) {
			if (where[j].ifindex == addrs[i].ifindex &&
			    where[j].proto == addrs[i].a.proto)
				break;
		}
		if (j == nw) {
			where[nw].ifindex = addrs[i].ifindex;
			where[nw].proto = addrs[i].a.proto;
			nw++;
		}
	}
	if (nw == 0) {
		if (rc == 0)
			rc = AVAHI_ERR_INVALID_ADDRESS;
		goto out;
	}
	for (j = 0; j < nw; j++) {
		/*
		 * NO_COOKIE: with add-service-cookie=yes in the daemon's config,
		 * avahi would add its per-boot "local service cookie" to our
		 * TXT record: a stable number that links the rotating tags.
		 */
		rc = avahi_entry_group_add_service_strlst(g, where[j].ifindex, where[j].proto,
		    AVAHI_PUBLISH_NO_COOKIE, m->name, CS_MDNS_TYPE, NULL, m->host, m->cfg.port,
		    txt);
		if (rc < 0)
			goto out;
	}
	rc = avahi_entry_group_commit(g);
out:
	avahi_string_list_free(txt);
	return rc;
}

static void
group_cb(AvahiEntryGroup *g, AvahiEntryGroupState state, void *ud)
{
	struct cs_mdns *m = ud;

	if (m->closing)
		return;
	m->group = g; /* the first call comes from inside avahi_entry_group_new() */
	switch (state) {
	case AVAHI_ENTRY_GROUP_ESTABLISHED:
		m->collisions = 0;
		report(m, CS_MDNS_PUBLISHED, "published as a random instance");
		break;
	case AVAHI_ENTRY_GROUP_COLLISION:
		/* Someone on the LAN has the name: take new random ones. */
		if (++m->collisions > MAX_COLLISIONS) {
			report(m, CS_MDNS_PUBLISH_FAILED, "%u name collisions in a row",
			    m->collisions - 1);
			break;
		}
		new_names(m);
		publish(m);
		break;
	case AVAHI_ENTRY_GROUP_FAILURE:
		report(m, CS_MDNS_PUBLISH_FAILED, "%s",
		    avahi_strerror(avahi_client_errno(avahi_entry_group_get_client(g))));
		break;
	case AVAHI_ENTRY_GROUP_UNCOMMITED:
	case AVAHI_ENTRY_GROUP_REGISTERING:
		break;
	}
}

static void
publish(struct cs_mdns *m)
{
	struct pub_addr addrs[MAX_PUB_ADDRS];
	size_t n;
	int rc = 0, tries;

	if (m->closing || m->client == NULL || m->cfg.browse_only ||
	    avahi_client_get_state(m->client) != AVAHI_CLIENT_S_RUNNING)
		return;
	n = collect_addrs(m, addrs, MAX_PUB_ADDRS);
	if (n == 0) {
		if (m->group != NULL)
			avahi_entry_group_reset(m->group);
		report(m, CS_MDNS_NO_ADDRESS, "no address on the configured interfaces");
		return;
	}
	if (m->group == NULL) {
		m->group = avahi_entry_group_new(m->client, group_cb, m);
		if (m->group == NULL) {
			report(m, CS_MDNS_PUBLISH_FAILED, "%s",
			    avahi_strerror(avahi_client_errno(m->client)));
			return;
		}
	}
	if (m->status == CS_MDNS_PUBLISHED)
		m->status = CS_MDNS_RUNNING; /* silently: PUBLISHED is told again */
	for (tries = 0; tries < MAX_COLLISIONS; tries++) {
		avahi_entry_group_reset(m->group);
		rc = fill_group(m, m->group, addrs, n);
		if (rc != AVAHI_ERR_COLLISION)
			break;
		new_names(m); /* taken on this host already */
	}
	if (rc < 0) {
		avahi_entry_group_reset(m->group);
		report(m, CS_MDNS_PUBLISH_FAILED, "%s", avahi_strerror(rc));
	}
}

static struct seen *
find_seen(struct cs_mdns *m, AvahiIfIndex iface, AvahiProtocol proto, const char *name,
    const char *domain)
{
	struct seen *s;

	for (s = m->seen; s != NULL; s = s->next) {
		if (s->iface == iface && s->proto == proto && strcmp(s->name, name) == 0 &&
		    strcmp(s->domain, domain) == 0)
			return s;
	}
	return NULL;
}

static void
to_sockaddr(const AvahiAddress *a, AvahiIfIndex iface, uint16_t port, struct sockaddr_storage *sa)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

	memset(sa, 0, sizeof(*sa));
	if (a->proto == AVAHI_PROTO_INET) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = a->data.ipv4.address;
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->data.ipv6.address, 16);
		if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr))
			s6->sin6_scope_id = (uint32_t)iface; /* fe80:: needs its interface */
	}
}

static void
resolve_cb(AvahiServiceResolver *r, AvahiIfIndex iface, AvahiProtocol proto,
    AvahiResolverEvent event, const char *name, const char *type, const char *domain,
    const char *host, const AvahiAddress *a, uint16_t port, AvahiStringList *txt,
    AvahiLookupResultFlags flags, void *ud)
{
	struct seen *s = ud;
	struct cs_mdns *m = s->m;
	AvahiStringList *l;
	bool ok = true;

	(void)iface, (void)proto, (void)name, (void)type, (void)domain, (void)host, (void)flags;
	if (m->closing)
		return;
	if (event != AVAHI_RESOLVER_FOUND || a == NULL) {
		/* Timed out (a peer gone without goodbye): stop saying it is here. */
		avahi_service_resolver_free(r);
		s->resolver = NULL;
		s->resolved = false;
		withdraw(m, s);
		return;
	}
	memset(&s->rec, 0, sizeof(s->rec));
	for (l = txt; l != NULL; l = avahi_string_list_get_next(l)) {
		if (cs_tag_record_add(&s->rec, avahi_string_list_get_text(l),
		        avahi_string_list_get_size(l)) < 0)
			ok = false;
	}
	s->rec_ok = ok && s->rec.have == CS_TAG_HAVE_ALL;
	to_sockaddr(a, s->iface, port, &s->sa);
	avahi_address_snprint(s->addr, sizeof(s->addr), a);
	s->port = port;
	s->resolved = port != 0;
	evaluate(m, s, true);
}

static void
browse_cb(AvahiServiceBrowser *b, AvahiIfIndex iface, AvahiProtocol proto, AvahiBrowserEvent event,
    const char *name, const char *type, const char *domain, AvahiLookupResultFlags flags, void *ud)
{
	struct cs_mdns *m = ud;
	struct seen *s, **sp;

	if (m->closing)
		return;
	switch (event) {
	case AVAHI_BROWSER_NEW:
		/*
		 * OUR_OWN is this client's own instance. LOCAL alone is another
		 * process on this host (a second agent, a test probe): a peer
		 * like any other, resolved to the addresses it published.
		 */
		if (flags & AVAHI_LOOKUP_RESULT_OUR_OWN)
			return;
		if (strlen(name) >= CS_MDNS_NAME_MAX || strlen(domain) >= CS_MDNS_NAME_MAX)
			return; /* not one of ours: they are 16 hex characters */
		if (find_seen(m, iface, proto, name, domain) != NULL)
			return;
		if (m->n_seen >= CS_MDNS_MAX_SEEN)
			return; /* a flood of instances cannot grow memory */
		if ((s = cs_calloc(1, sizeof(*s))) == NULL)
			return;
		s->m = m;
		s->iface = iface;
		s->proto = proto;
		memcpy(s->name, name, strlen(name) + 1);
		memcpy(s->domain, domain, strlen(domain) + 1);
		/* Address of the browsed protocol only: no fe80:: over IPv4. */
		s->resolver = avahi_service_resolver_new(avahi_service_browser_get_client(b), iface,
		    proto, name, type, domain, proto, 0, resolve_cb, s);
		if (s->resolver == NULL) {
			cs_free(s);
			return;
		}
		s->next = m->seen;
		m->seen = s;
		m->n_seen++;
		break;
	case AVAHI_BROWSER_REMOVE:
		for (sp = &m->seen; (s = *sp) != NULL; sp = &s->next) {
			if (s->iface == iface && s->proto == proto && strcmp(s->name, name) == 0 &&
			    strcmp(s->domain, domain) == 0)
				break;
		}
		if (s == NULL)
			return;
		*sp = s->next;
		m->n_seen--;
		withdraw(m, s);
		seen_free(s);
		break;
	case AVAHI_BROWSER_FAILURE:
		report(m, CS_MDNS_BROWSE_FAILED, "%s",
		    avahi_strerror(avahi_client_errno(avahi_service_browser_get_client(b))));
		schedule(m, m->cfg.retry_ms); /* start over with a new client */
		break;
	case AVAHI_BROWSER_CACHE_EXHAUSTED:
	case AVAHI_BROWSER_ALL_FOR_NOW:
		break;
	}
}

static void
browse(struct cs_mdns *m)
{
	AvahiServiceBrowser *b;
	size_t i, n;
	int idx;

	if (m->n_browsers > 0)
		return;
	n = m->cfg.n_ifindex == 0 ? 1 : m->cfg.n_ifindex;
	for (i = 0; i < n; i++) {
		idx = m->cfg.n_ifindex == 0 ? AVAHI_IF_UNSPEC : m->cfg.ifindex[i];
		b = avahi_service_browser_new(m->client, idx, AVAHI_PROTO_UNSPEC, CS_MDNS_TYPE,
		    NULL, 0, browse_cb, m);
		if (b == NULL) {
			report(m, CS_MDNS_BROWSE_FAILED, "%s",
			    avahi_strerror(avahi_client_errno(m->client)));
			schedule(m, m->cfg.retry_ms);
			return;
		}
		m->browsers[m->n_browsers++] = b;
	}
}

static void
client_cb(AvahiClient *c, AvahiClientState state, void *ud)
{
	struct cs_mdns *m = ud;

	if (m->closing)
		return;
	m->client = c; /* the first call comes from inside avahi_client_new() */
	switch (state) {
	case AVAHI_CLIENT_S_RUNNING:
		report(m, CS_MDNS_RUNNING, "connected to avahi-daemon");
		publish(m);
		browse(m);
		break;
	case AVAHI_CLIENT_S_COLLISION:
	case AVAHI_CLIENT_S_REGISTERING:
		/* The daemon renames itself: withdraw; RUNNING publishes again. */
		if (m->group != NULL)
			avahi_entry_group_reset(m->group);
		break;
	case AVAHI_CLIENT_CONNECTING:
		/* After a loss, "lost, reconnecting" was said already. */
		if (m->status != CS_MDNS_DAEMON_LOST)
			report(m, CS_MDNS_NO_DAEMON,
			    "no avahi-daemon; waiting for it (static peers and cached addresses "
			    "only)");
		break;
	case AVAHI_CLIENT_FAILURE:
		/*
		 * AVAHI_ERR_DISCONNECTED even with NO_FAIL (a daemon restart):
		 * the client is dead. Free it outside its own callback.
		 */
		report(m, CS_MDNS_DAEMON_LOST, "%s; reconnecting",
		    avahi_strerror(avahi_client_errno(c)));
		/* At once, unless the last client died young: no busy loop. */
		schedule(m,
		    uv_now(m->loop) - m->connected_at < m->cfg.retry_ms ? m->cfg.retry_ms : 0);
		break;
	}
}

static void
connect_client(struct cs_mdns *m)
{
	AvahiClient *c;
	int err = 0;

	m->connected_at = uv_now(m->loop);
	c = avahi_client_new(cs_avpoll_api(&m->poll), AVAHI_CLIENT_NO_FAIL, client_cb, m, &err);
	if (c == NULL) {
		/* NO_FAIL still needs the system bus: retry until there is one. */
		if (m->status != CS_MDNS_DAEMON_LOST)
			report(m, CS_MDNS_NO_DAEMON,
			    "no avahi-daemon (%s); static peers and cached addresses only",
			    avahi_strerror(err));
		schedule(m, m->cfg.retry_ms);
		return;
	}
	m->client = c;
}

static void
teardown_done(struct cs_mdns *m)
{
	cs_mdns_closed_cb cb;
	void *ctx;

	if (--m->pending > 0)
		return;
	cb = m->on_closed;
	ctx = m->closed_ctx;
	sodium_memzero(&m->cfg.tags, sizeof(m->cfg.tags));
	cs_free(m);
	if (cb != NULL)
		cb(ctx);
}

static void
timer_closed(uv_handle_t *h)
{
	teardown_done(h->data);
}

static void
poll_closed(struct cs_avpoll *p, void *ctx)
{
	(void)p;
	teardown_done(ctx);
}

static void
timer_cb(uv_timer_t *t)
{
	struct cs_mdns *m = t->data;

	if (m->closing) {
		drop_client(m); /* no event: closing */
		m->pending = 2;
		uv_close((uv_handle_t *)&m->timer, timer_closed);
		cs_avpoll_close(&m->poll, poll_closed, m);
		return;
	}
	drop_client(m);
	if (m->closing)
		return; /* closed from a GONE callback: the timer runs again */
	connect_client(m);
}

int
cs_mdns_start(struct cs_mdns **out, uv_loop_t *loop, const struct cs_mdns_config *cfg)
{
	struct cs_mdns *m;

	if (out == NULL || loop == NULL || cfg == NULL || (cfg->port == 0 && !cfg->browse_only) ||
	    cfg->n_ifindex > CS_MDNS_MAX_IF || cfg->on_event == NULL ||
	    (cfg->first_name != NULL &&
	        (cfg->first_name[0] == '\0' || strlen(cfg->first_name) >= CS_MDNS_NAME_MAX)))
		return CS_EINVAL;
	if (sodium_init() < 0)
		return CS_EIO;
	if ((m = cs_calloc(1, sizeof(*m))) == NULL)
		return CS_ENOMEM;
	m->loop = loop;
	m->cfg = *cfg;
	if (m->cfg.retry_ms == 0)
		m->cfg.retry_ms = DEFAULT_RETRY_MS;
	if (uv_timer_init(loop, &m->timer) != 0) {
		cs_free(m);
		return CS_EIO;
	}
	m->timer.data = m;
	cs_avpoll_init(&m->poll, loop);
	new_names(m);
	if (cfg->first_name != NULL)
		memcpy(m->name, cfg->first_name, strlen(cfg->first_name) + 1);
	m->cfg.first_name = NULL; /* not kept: the caller's pointer */
	/* Connect from the loop: no callback runs before this returns. */
	schedule(m, 0);
	*out = m;
	return 0;
}

int
cs_mdns_set_tags(struct cs_mdns *m, const struct cs_tag_set *tags)
{
	struct seen *s;
	bool changed;

	if (m == NULL || tags == NULL || m->closing)
		return CS_EINVAL;
	changed = sodium_memcmp(m->cfg.tags.cab, tags->cab, CS_TAG_LEN) != 0 ||
	    sodium_memcmp(m->cfg.tags.dev, tags->dev, CS_TAG_LEN) != 0;
	m->cfg.tags = *tags;
	for (s = m->seen; s != NULL; s = s->next)
		evaluate(m, s, false);
	if (changed)
		(void)cs_mdns_republish(m); /* CS_EAGAIN: published on connect */
	return 0;
}

int
cs_mdns_republish(struct cs_mdns *m)
{
	if (m == NULL || m->closing)
		return CS_EINVAL;
	new_names(m);
	if (m->client == NULL || avahi_client_get_state(m->client) != AVAHI_CLIENT_S_RUNNING)
		return CS_EAGAIN;
	/* A new entry group: peers' caches hear a fresh announcement. */
	if (m->group != NULL)
		avahi_entry_group_free(m->group);
	m->group = NULL;
	m->collisions = 0;
	publish(m);
	return 0;
}

const char *
cs_mdns_instance(const struct cs_mdns *m)
{
	return m->name;
}

void
cs_mdns_close(struct cs_mdns *m, cs_mdns_closed_cb on_closed, void *ctx)
{
	if (m == NULL || m->closing)
		return;
	m->closing = true;
	m->on_closed = on_closed;
	m->closed_ctx = ctx;
	/* Tear down from the loop, never inside an Avahi callback. */
	schedule(m, 0);
}
