/*
 * agent/clockoff.c: this PC's clock against the cabinet's (see clockoff.h).
 */
#include "agent/clockoff.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"

void
cs_clockoff_init(struct cs_clockoff *c)
{
	if (c != NULL)
		memset(c, 0, sizeof(*c));
}

static struct cs_clockoff_peer *
find(const struct cs_clockoff *c, const uint8_t *dev)
{
	size_t i;

	for (i = 0; i < CS_CLOCKOFF_MAX_PEERS; i++)
		if (c->p[i].used && memcmp(c->p[i].dev, dev, CS_DEVID_LEN) == 0)
			return (struct cs_clockoff_peer *)&c->p[i];
	return NULL;
}

int
cs_clockoff_put(struct cs_clockoff *c, const uint8_t dev[CS_DEVID_LEN], int64_t off_ms,
    int64_t rtt_ms, int64_t wall_ms, int64_t mono_ms)
{
	struct cs_clockoff_peer *p;
	size_t i, oldest = 0;
	int rc = 0;

	if (c == NULL || dev == NULL || rtt_ms < 0)
		return CS_EINVAL;
	if ((p = find(c, dev)) == NULL) {
		for (i = 0; i < CS_CLOCKOFF_MAX_PEERS; i++) {
			if (!c->p[i].used)
				break;
			if (c->p[i].mono_ms < c->p[oldest].mono_ms)
				oldest = i;
		}
		if (i == CS_CLOCKOFF_MAX_PEERS) {
			i = oldest;
			rc = CS_ERANGE;
		}
		p = &c->p[i];
		memcpy(p->dev, dev, CS_DEVID_LEN);
		p->used = 1;
	}
	p->off_ms = off_ms;
	p->rtt_ms = rtt_ms;
	p->mono_ms = mono_ms;
	p->base_ms = wall_ms - mono_ms;
	return rc;
}

void
cs_clockoff_forget(struct cs_clockoff *c, const uint8_t dev[CS_DEVID_LEN])
{
	struct cs_clockoff_peer *p;

	if (c != NULL && dev != NULL && (p = find(c, dev)) != NULL)
		memset(p, 0, sizeof(*p));
}

/* p's offset now: our clock stepped by (wall - mono) - base since, so the
 * peer is that much less ahead of us */
static int
peer_now(const struct cs_clockoff_peer *p, int64_t wall_ms, int64_t mono_ms, int64_t *off)
{
	if (!p->used || mono_ms - p->mono_ms > CS_CLOCKOFF_MAX_AGE_MS || mono_ms < p->mono_ms)
		return 0;
	*off = p->off_ms - ((wall_ms - mono_ms) - p->base_ms);
	return 1;
}

int
cs_clockoff_peer_now(const struct cs_clockoff *c, const uint8_t dev[CS_DEVID_LEN], int64_t wall_ms,
    int64_t mono_ms, int64_t *off_ms)
{
	const struct cs_clockoff_peer *p;

	if (c == NULL || dev == NULL || off_ms == NULL || (p = find(c, dev)) == NULL)
		return 0;
	return peer_now(p, wall_ms, mono_ms, off_ms);
}

void
cs_clockoff_estimate(const struct cs_clockoff *c, int64_t wall_ms, int64_t mono_ms,
    int (*counts)(void *ctx, const uint8_t dev[CS_DEVID_LEN]), void *ctx,
    struct cs_clockoff_est *out)
{
	int64_t v[CS_CLOCKOFF_MAX_PEERS + 1], x;
	size_t n = 0, i, j;

	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	out->majority = 1;
	if (c == NULL)
		return;
	v[n++] = 0; /* this PC's own clock is one vote */
	for (i = 0; i < CS_CLOCKOFF_MAX_PEERS; i++) {
		if (!peer_now(&c->p[i], wall_ms, mono_ms, &x))
			continue;
		if (counts != NULL && counts(ctx, c->p[i].dev) != 1)
			continue;
		/* insertion sort: at most a few dozen devices */
		for (j = n; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
		n++;
		out->npeers++;
	}
	/* the middle one, or the upper of the two middle ones */
	out->offset_ms = v[n / 2];
	out->majority = n % 2 == 1 || v[n / 2 - 1] == v[n / 2];
	out->shown_ms = out->offset_ms;
	if (!out->majority &&
	    (v[n / 2 - 1] < 0 ? -v[n / 2 - 1] : v[n / 2 - 1]) >
	        (v[n / 2] < 0 ? -v[n / 2] : v[n / 2]))
		out->shown_ms = v[n / 2 - 1];
	x = out->offset_ms;
	out->correction_ms = x < 0 ? 0 : x > CS_CLOCKOFF_CAP_MS ? CS_CLOCKOFF_CAP_MS : x;
}

void
cs_clockoff_describe(int64_t off_ms, char *out, size_t cap)
{
	uint64_t a = off_ms < 0 ? (uint64_t)(-(off_ms + 1)) + 1 : (uint64_t)off_ms;
	uint64_t s = (a + 500) / 1000, m = s / 60, h = m / 60;
	const char *way = off_ms > 0 ? "late" : "early";

	if (out == NULL || cap == 0)
		return;
	if (s == 0)
		snprintf(out, cap, "in time");
	else if (h > 0)
		snprintf(out, cap, "%llu h %llu min %s", (unsigned long long)h,
		    (unsigned long long)(m % 60), way);
	else if (m > 0 && s % 60 != 0)
		snprintf(out, cap, "%llu min %llu s %s", (unsigned long long)m,
		    (unsigned long long)(s % 60), way);
	else if (m > 0)
		snprintf(out, cap, "%llu min %s", (unsigned long long)m, way);
	else
		snprintf(out, cap, "%llu s %s", (unsigned long long)s, way);
}
