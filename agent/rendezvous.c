/*
 * agent/rendezvous.c: the invite's mDNS record and the joiner's lookup (see
 * rendezvous.h).
 */
#include "agent/rendezvous.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "discovery/mdns.h"
#include "wire/version.h"

#define TAG_CONTEXT "cabsync invite mdns v1"
#define SETTLE_MS   300 /* after the first address, wait for an IPv4 one */

int
cs_rendezvous_tag(const uint8_t secret[static CS_RENDEZVOUS_SECRET_LEN],
    uint8_t tag[static CS_TAG_LEN])
{
	if (crypto_generichash(tag, CS_TAG_LEN, (const uint8_t *)TAG_CONTEXT,
	        sizeof(TAG_CONTEXT) - 1, secret, CS_RENDEZVOUS_SECRET_LEN) != 0)
		return CS_EIO;
	return 0;
}

static void
on_status(void *ctx, enum cs_mdns_status st, const char *detail)
{
	struct cs_rendezvous *r = ctx;

	(void)detail;
	if (st == CS_MDNS_NO_DAEMON && !r->said_nodaemon) {
		r->said_nodaemon = 1;
		cs_log(CS_LOG_NOTICE,
		    "no avahi-daemon: the new PC cannot find this invite on the LAN; give it "
		    "--peer ADDRESS:PORT");
	}
}

static void
on_event_inviter(void *ctx, const struct cs_mdns_event *ev)
{
	(void)ctx;
	(void)ev; /* joiners browse, the inviter only publishes */
}

/* Set up the loop and mDNS with the invite's tags. */
static int
begin(struct cs_rendezvous *r, const uint8_t secret[static CS_RENDEZVOUS_SECRET_LEN], uint16_t port,
    cs_mdns_event_cb on_event)
{
	struct cs_mdns_config cfg;
	int rc;

	memset(r, 0, sizeof(*r));
	memset(&cfg, 0, sizeof(cfg));
	if (cs_rendezvous_tag(secret, cfg.tags.cab) != 0)
		return CS_EIO;
	memcpy(cfg.tags.cab_prev, cfg.tags.cab, CS_TAG_LEN);
	randombytes_buf(cfg.tags.dev, CS_TAG_LEN);
	if (uv_loop_init(&r->loop) != 0)
		return CS_EIO;
	r->loop_on = 1;
	cfg.port = port;
	cfg.browse_only = port == 0;
	cfg.version = CS_PROTOCOL_VERSION;
	cfg.retry_ms = 500;
	cfg.on_event = on_event;
	cfg.on_status = on_status;
	cfg.ctx = r;
	rc = cs_mdns_start(&r->mdns, &r->loop, &cfg);
	if (rc != 0) {
		r->mdns = NULL;
		cs_rendezvous_stop(r);
	}
	return rc;
}

int
cs_rendezvous_publish(struct cs_rendezvous *r,
    const uint8_t secret[static CS_RENDEZVOUS_SECRET_LEN], uint16_t port)
{
	if (port == 0)
		return CS_EINVAL;
	return begin(r, secret, port, on_event_inviter);
}

int
cs_rendezvous_fd(struct cs_rendezvous *r)
{
	return r->loop_on ? uv_backend_fd(&r->loop) : -1;
}

int
cs_rendezvous_timeout(struct cs_rendezvous *r)
{
	return r->loop_on ? uv_backend_timeout(&r->loop) : -1;
}

void
cs_rendezvous_run(struct cs_rendezvous *r)
{
	if (r->loop_on)
		uv_run(&r->loop, UV_RUN_NOWAIT);
}

static void
on_closed(uv_handle_t *h)
{
	(void)h;
}

static void
close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, on_closed);
}

void
cs_rendezvous_stop(struct cs_rendezvous *r)
{
	if (r == NULL || !r->loop_on)
		return;
	if (r->mdns != NULL)
		cs_mdns_close(r->mdns, NULL, NULL);
	r->mdns = NULL;
	uv_run(&r->loop, UV_RUN_DEFAULT); /* the close callbacks: goodbyes sent */
	uv_walk(&r->loop, close_any, NULL);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&r->loop);
	r->loop_on = 0;
}

/* ------------------------------------------------------------ joiner */

struct finder {
	struct cs_rendezvous *r;
	uv_timer_t deadline, settle;
};

static void
on_timer(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void
on_event_joiner(void *ctx, const struct cs_mdns_event *ev)
{
	struct cs_rendezvous *r = ctx;
	struct finder *f = r->loop.data;

	if (ev->kind != CS_MDNS_SEEN)
		return;
	if (r->found && !(r->sa.ss_family == AF_INET6 && ev->sa.ss_family == AF_INET))
		return; /* keep the first, unless an IPv4 address comes after an IPv6 one */
	memcpy(&r->sa, &ev->sa, sizeof(r->sa));
	snprintf(r->addr, sizeof(r->addr), "%s", ev->addr);
	r->port = ev->port;
	if (!r->found)
		uv_timer_start(&f->settle, on_timer, SETTLE_MS, 0);
	r->found = 1;
	if (ev->sa.ss_family == AF_INET)
		uv_stop(&r->loop);
}

int
cs_rendezvous_find(struct cs_rendezvous *r, const uint8_t secret[static CS_RENDEZVOUS_SECRET_LEN],
    int timeout_ms, char *msg, size_t cap)
{
	struct finder f;
	int rc;

	rc = begin(r, secret, 0, on_event_joiner);
	if (rc != 0) {
		snprintf(msg, cap, "mDNS could not start (%s)", cs_strerror(rc));
		return CS_EIO;
	}
	f.r = r;
	r->loop.data = &f;
	uv_timer_init(&r->loop, &f.deadline);
	uv_timer_init(&r->loop, &f.settle);
	uv_timer_start(&f.deadline, on_timer, (uint64_t)timeout_ms, 0);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	rc = r->found ? 0 : CS_ENOENT;
	if (!r->found)
		snprintf(msg, cap,
		    "no invite for this code found on the LAN over mDNS within %d s%s; check "
		    "that `cabsync invite` runs on the same network, or give its address with "
		    "--peer ADDRESS:PORT",
		    timeout_ms / 1000, r->said_nodaemon ? " (no avahi-daemon on this PC)" : "");
	cs_rendezvous_stop(r); /* closes the timers too */
	return rc;
}
