/*
 * agent/clockoff.h: this PC's clock against the cabinet's (docs/MERGE.md
 * "Far-future clock"). The engine holds a remote row whose hlc is more than
 * the future bound (5 min) ahead of "now"; with a PC whose clock is 10 min
 * late, "now" must be the cabinet's time, not the local wall clock, or that
 * PC holds every row of the others for ever.
 *
 * Each authenticated peer's offset (its clock minus ours) is measured over
 * the session with CLOCK messages (wire/clockmsg.h). The estimate is the
 * median of {0 (this PC)} and every fresh peer sample, the upper one of the
 * two middle values when their count is even (two devices: the later clock
 * wins, so that they converge whichever one is wrong). One peer among three
 * or more clocks cannot move it; the correction the engine applies is that
 * median clamped to [0, CS_CLOCKOFF_CAP_MS]: it only ever relaxes the bound
 * (a late PC accepts the cabinet's rows), never holds what the plain local
 * clock would accept, and never by more than an hour.
 *
 * A sample is kept with the local (wall - monotonic) difference of when it
 * was taken, so that a step of the local clock (the user fixes it) shifts the
 * peer's offset by exactly that step, at once, without waiting for a new
 * sample. A sample older than CS_CLOCKOFF_MAX_AGE_MS no longer counts.
 *
 * Pure (clocks are parameters), no allocation, no logging. One thread (the
 * agent's loop thread).
 */
#ifndef CS_AGENT_CLOCKOFF_H
#define CS_AGENT_CLOCKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "base/change.h"

#define CS_CLOCKOFF_CAP_MS     3600000 /* the correction never exceeds 1 h */
#define CS_CLOCKOFF_WARN_MS    60000   /* |offset| above 1 min: tell the user */
#define CS_CLOCKOFF_MAX_AGE_MS 3600000 /* a peer's sample counts for 1 h */
#define CS_CLOCKOFF_MAX_PEERS  256

struct cs_clockoff_peer {
	uint8_t dev[CS_DEVID_LEN];
	int64_t off_ms;  /* peer's clock minus ours when measured */
	int64_t rtt_ms;  /* round trip of that measure (error <= rtt / 2) */
	int64_t mono_ms; /* our monotonic clock when measured */
	int64_t base_ms; /* our wall minus monotonic clock then */
	int used;
};

struct cs_clockoff {
	struct cs_clockoff_peer p[CS_CLOCKOFF_MAX_PEERS];
};

struct cs_clockoff_est {
	int64_t offset_ms;     /* the cabinet's clock minus ours (median); > 0: this PC is late */
	int64_t correction_ms; /* what the engine adds to its clock: offset in [0, CAP] */
	int npeers;            /* fresh peer samples counted (0: no estimate, offset 0) */
	/* 0 when the count is even and the two middle values differ (two PCs
	 * whose clocks disagree): no majority says which clock is right */
	int majority;
	/* what to tell the user: offset_ms, or without a majority the one of
	 * the two middle values farther from this PC's clock */
	int64_t shown_ms;
};

/* Zero c: no sample. */
void cs_clockoff_init(struct cs_clockoff *c);

/*
 * Keep a sample of device dev: its clock is off_ms ahead of ours, measured
 * with round trip rtt_ms when our wall clock read wall_ms and our monotonic
 * clock mono_ms. Replaces that device's previous sample. 0, CS_EINVAL (NULL,
 * negative rtt), CS_ERANGE (table full: the oldest sample is replaced, so
 * this never happens with fewer than CS_CLOCKOFF_MAX_PEERS devices).
 */
int cs_clockoff_put(struct cs_clockoff *c, const uint8_t dev[CS_DEVID_LEN], int64_t off_ms,
    int64_t rtt_ms, int64_t wall_ms, int64_t mono_ms);

/* Drop dev's sample (a revoked device). */
void cs_clockoff_forget(struct cs_clockoff *c, const uint8_t dev[CS_DEVID_LEN]);

/*
 * dev's offset now (its sample corrected for a step of our clock since), if
 * it has a fresh sample: 1 and *off_ms, else 0.
 */
int cs_clockoff_peer_now(const struct cs_clockoff *c, const uint8_t dev[CS_DEVID_LEN],
    int64_t wall_ms, int64_t mono_ms, int64_t *off_ms);

/*
 * The estimate at (wall_ms, mono_ms) over the fresh samples of the devices
 * for which counts(ctx, dev) returns 1 (counts NULL: all).
 */
void cs_clockoff_estimate(const struct cs_clockoff *c, int64_t wall_ms, int64_t mono_ms,
    int (*counts)(void *ctx, const uint8_t dev[CS_DEVID_LEN]), void *ctx,
    struct cs_clockoff_est *out);

/*
 * "10 min late", "2 min 5 s early", "in time" (|off| < 1 s): how a clock
 * that is off_ms behind the reference (off_ms > 0 = late) reads, for logs and
 * `cabsync status`. Always NUL-terminates out (cap > 0).
 */
void cs_clockoff_describe(int64_t off_ms, char *out, size_t cap);

#endif
