/*
 * cs-mdns-probe: a test program for the LAN harness (tests/lan/discovery-lan.sh).
 * Runs discovery/mdns on a libuv loop with tags made from the given cabinet
 * key and device public key, and prints one line per happening on stdout:
 *
 *   MS self DEVTAG            at start (MS: unix time in milliseconds)
 *   MS status WORD DETAIL     running, published, no-daemon, daemon-lost, ...
 *   MS seen DEVTAG ADDR PORT IFINDEX INSTANCE
 *   MS gone DEVTAG INSTANCE
 *   MS exit                   after a clean close (SIGTERM, SIGINT, --seconds)
 *
 *   MS rotate DAY DEVTAG      after SIGUSR2: tags of the next day (a midnight)
 *
 * --name: the first instance name (to provoke a collision). SIGUSR1 re-publishes. Exit 0 after a
 * clean close, 3 if a handle leaked. Test keys only: this prints no secret it was not given on its
 * command line.
 */
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <sodium.h>
#include <uv.h>

#include "base/err.h"
#include "discovery/mdns.h"
#include "discovery/tag.h"

struct probe {
	uv_loop_t loop;
	uv_signal_t sigterm, sigint, sigusr1, sigusr2;
	uv_timer_t deadline;
	struct cs_mdns *m;
	int closing;
	uint32_t day;
	uint8_t cab_key[32], dev_pk[32]; /* test keys, kept for SIGUSR2 */
};

static long long
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const char *
status_word(enum cs_mdns_status st)
{
	switch (st) {
	case CS_MDNS_CONNECTING:
		return "connecting";
	case CS_MDNS_RUNNING:
		return "running";
	case CS_MDNS_PUBLISHED:
		return "published";
	case CS_MDNS_NO_DAEMON:
		return "no-daemon";
	case CS_MDNS_DAEMON_LOST:
		return "daemon-lost";
	case CS_MDNS_NO_ADDRESS:
		return "no-address";
	case CS_MDNS_PUBLISH_FAILED:
		return "publish-failed";
	case CS_MDNS_BROWSE_FAILED:
		return "browse-failed";
	}
	return "unknown";
}

static void
on_status(void *ctx, enum cs_mdns_status st, const char *detail)
{
	(void)ctx;
	printf("%lld status %s %s\n", now_ms(), status_word(st), detail);
	fflush(stdout);
}

static void
on_event(void *ctx, const struct cs_mdns_event *ev)
{
	char tag[CS_TAG_HEX_LEN + 1];

	(void)ctx;
	cs_tag_hex(ev->dev_tag, tag);
	if (ev->kind == CS_MDNS_SEEN)
		printf("%lld seen %s %s %u %d %s\n", now_ms(), tag, ev->addr, ev->port, ev->ifindex,
		    ev->instance);
	else
		printf("%lld gone %s %s\n", now_ms(), tag, ev->instance);
	fflush(stdout);
}

static void
handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void
mdns_closed(void *ctx)
{
	struct probe *p = ctx;

	uv_close((uv_handle_t *)&p->sigterm, handle_closed);
	uv_close((uv_handle_t *)&p->sigint, handle_closed);
	uv_close((uv_handle_t *)&p->sigusr1, handle_closed);
	uv_close((uv_handle_t *)&p->sigusr2, handle_closed);
	uv_close((uv_handle_t *)&p->deadline, handle_closed);
}

static void
stop(struct probe *p)
{
	if (p->closing)
		return;
	p->closing = 1;
	cs_mdns_close(p->m, mdns_closed, p);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct probe *p = s->data;
	int rc;

	if (signum == SIGUSR2) {
		struct cs_tag_set set;
		char tag[CS_TAG_HEX_LEN + 1];

		p->day++;
		if (cs_tag_set_make(p->dev_pk, p->cab_key, p->day, &set) < 0 ||
		    cs_mdns_set_tags(p->m, &set) < 0) {
			fprintf(stderr, "cs-mdns-probe: rotate failed\n");
			return;
		}
		cs_tag_hex(set.dev, tag);
		printf("%lld rotate %u %s\n", now_ms(), (unsigned)p->day, tag);
		fflush(stdout);
		return;
	}
	if (signum == SIGUSR1) {
		rc = cs_mdns_republish(p->m);
		printf("%lld republish %d %s\n", now_ms(), rc, cs_mdns_instance(p->m));
		fflush(stdout);
		return;
	}
	stop(p);
}

static void
on_deadline(uv_timer_t *t)
{
	stop(t->data);
}

static int
unhex32(const char *s, uint8_t out[32])
{
	size_t bin_len = 0;

	if (s == NULL || strlen(s) != 64)
		return -1;
	if (sodium_hex2bin(out, 32, s, 64, NULL, &bin_len, NULL) != 0 || bin_len != 32)
		return -1;
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cs-mdns-probe --cab HEX64 --dev HEX64 --port N [--if NAME]... "
	    "[--day N] [--seconds N] [--retry-ms N] [--name FIRST]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct probe p;
	struct cs_mdns_config cfg;
	uint8_t *cab_key = p.cab_key, *dev_pk = p.dev_pk;
	char tag[CS_TAG_HEX_LEN + 1];
	long day = -1, seconds = 120;
	int have_cab = 0, have_dev = 0, i, rc;
	unsigned idx;

	if (sodium_init() < 0)
		return 1;
	memset(&p, 0, sizeof(p));
	memset(&cfg, 0, sizeof(cfg));
	cfg.version = 1;
	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--cab") == 0) {
			if (unhex32(argv[++i], cab_key) < 0)
				usage();
			have_cab = 1;
		} else if (strcmp(argv[i], "--dev") == 0) {
			if (unhex32(argv[++i], dev_pk) < 0)
				usage();
			have_dev = 1;
		} else if (strcmp(argv[i], "--port") == 0) {
			cfg.port = (uint16_t)atoi(argv[++i]);
		} else if (strcmp(argv[i], "--if") == 0) {
			idx = if_nametoindex(argv[++i]);
			if (idx == 0 || cfg.n_ifindex >= CS_MDNS_MAX_IF) {
				fprintf(stderr, "cs-mdns-probe: no interface %s\n", argv[i]);
				return 2;
			}
			cfg.ifindex[cfg.n_ifindex++] = (int)idx;
		} else if (strcmp(argv[i], "--day") == 0) {
			day = atol(argv[++i]);
		} else if (strcmp(argv[i], "--seconds") == 0) {
			seconds = atol(argv[++i]);
		} else if (strcmp(argv[i], "--name") == 0) {
			cfg.first_name = argv[++i];
		} else if (strcmp(argv[i], "--retry-ms") == 0) {
			cfg.retry_ms = (unsigned)atoi(argv[++i]);
		} else {
			usage();
		}
	}
	if (!have_cab || !have_dev || cfg.port == 0 || seconds <= 0)
		usage();
	if (day < 0)
		day = (long)cs_tag_day((int64_t)time(NULL));
	p.day = (uint32_t)day;
	if (cs_tag_set_make(dev_pk, cab_key, p.day, &cfg.tags) < 0)
		return 1;
	cfg.on_event = on_event;
	cfg.on_status = on_status;
	cfg.ctx = &p;
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (uv_loop_init(&p.loop) != 0)
		return 1;
	uv_signal_init(&p.loop, &p.sigterm);
	uv_signal_init(&p.loop, &p.sigint);
	uv_signal_init(&p.loop, &p.sigusr1);
	uv_signal_init(&p.loop, &p.sigusr2);
	uv_timer_init(&p.loop, &p.deadline);
	p.sigterm.data = p.sigint.data = p.sigusr1.data = p.sigusr2.data = p.deadline.data = &p;
	uv_signal_start(&p.sigterm, on_signal, SIGTERM);
	uv_signal_start(&p.sigint, on_signal, SIGINT);
	uv_signal_start(&p.sigusr1, on_signal, SIGUSR1);
	uv_signal_start(&p.sigusr2, on_signal, SIGUSR2);
	uv_timer_start(&p.deadline, on_deadline, (uint64_t)seconds * 1000, 0);

	cs_tag_hex(cfg.tags.dev, tag);
	printf("%lld self %s\n", now_ms(), tag);
	if ((rc = cs_mdns_start(&p.m, &p.loop, &cfg)) < 0) {
		fprintf(stderr, "cs-mdns-probe: start: %s\n", cs_strerror(rc));
		return 1;
	}
	uv_run(&p.loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&p.loop);
	sodium_memzero(p.cab_key, sizeof(p.cab_key));
	printf("%lld exit %s\n", now_ms(), rc == 0 ? "clean" : "busy");
	return rc == 0 ? 0 : 3;
}
