/*
 * agent/mono.h: the monotonic clock the agent's timeouts and retry bounds
 * use (never the wall clock, which a user or NTP may set back or forward).
 */
#ifndef CS_AGENT_MONO_H
#define CS_AGENT_MONO_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin). Any thread. */
int64_t cs_mono_ms(void);

#endif
