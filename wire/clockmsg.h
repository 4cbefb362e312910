/*
 * wire/clockmsg.h: the CLOCK message of a sync session (docs/PROTOCOL.md
 * §3.14): how far the peer's wall clock is from ours, measured the way NTP
 * does it (RFC 5905 §8: four timestamps, half the round trip as the error),
 * so that a PC whose clock is minutes off still accepts the cabinet's rows
 * (docs/MERGE.md "Far-future clock").
 *
 * Encoding: the msgpack array [11, now, echo, held], three uints in their
 * shortest form, strict like cs_msg_decode (nothing trailing). Sent only to a
 * peer whose HELLO has CS_CLOCK_FEATURE: a version 1 decoder without it
 * refuses type 11 (CS_MSG_ETYPE), so older peers never see one.
 *   now   the sender's wall clock when it sent the message (Unix ms);
 *   echo  the `now` of the last CLOCK the sender received from us (0: none);
 *   held  ms (monotonic clock) between that receipt and this send.
 *
 * Pure: no I/O, no clock, no logging, no allocation. Any thread.
 */
#ifndef CS_WIRE_CLOCKMSG_H
#define CS_WIRE_CLOCKMSG_H

#include <stddef.h>
#include <stdint.h>

#define CS_CLOCK_MSG     11 /* message type (8, 9: ROSTER, KEYS; 10: RECORDS) */
#define CS_CLOCK_FEATURE 2u /* HELLO features bit 1: speaks CLOCK */
#define CS_CLOCK_MAX_LEN 29 /* fixarray + fixint + 3 x uint 64 */
/* A sample whose round trip is longer than this is too uncertain to keep. */
#define CS_CLOCK_MAX_RTT_MS 30000

/* Error code (wire range of wire/msg.h, -200..-299). Stable. */
enum cs_clockmsg_err {
	CS_CLOCK_EMSG = -281, /* a CLOCK message is malformed */
	CS_CLOCK_ERTT = -282  /* a CLOCK's timestamps give no usable sample */
};

struct cs_clockmsg {
	uint64_t now, echo, held;
};

/* Encode m into out (cap bytes, CS_CLOCK_MAX_LEN always enough). 0, CS_EINVAL, CS_ERANGE. */
int cs_clockmsg_encode(const struct cs_clockmsg *m, uint8_t *out, size_t cap, size_t *len);

/* 1 if buf starts like a CLOCK message (the session hands it here, not to wire/msg.h). */
int cs_clockmsg_is(const uint8_t *buf, size_t len);

/* Decode a CLOCK message into *m (zeroed on error). 0, CS_EINVAL or CS_CLOCK_EMSG. */
int cs_clockmsg_decode(const uint8_t *buf, size_t len, struct cs_clockmsg *m);

/*
 * The sample a received CLOCK m gives, t4 being our wall clock (Unix ms) when
 * it arrived: with t1 = m->echo (our send time), t2 = m->now - m->held (its
 * receipt), t3 = m->now, *offset_ms = ((t2 - t1) + (t3 - t4)) / 2 = how far
 * the peer's clock is AHEAD of ours (negative: behind), and *rtt_ms =
 * (t4 - t1) - (t3 - t2), the round trip, so the true offset is within
 * rtt / 2 of the estimate. CS_CLOCK_ERTT when m carries no echo or the
 * round trip is negative or above CS_CLOCK_MAX_RTT_MS (a clock stepped
 * meanwhile, or a peer lying about its own timestamps), CS_EINVAL on NULL.
 */
int cs_clockmsg_sample(const struct cs_clockmsg *m, uint64_t t4, int64_t *offset_ms,
    int64_t *rtt_ms);

#endif
