/*
 * agent/relay_agent.h: the daemon's relay driver (DESIGN.md "Relay";
 * docs/RELAY.md "The agent's relay client").
 *
 * A timer on the loop (every [relay] interval, at start, and on demand with
 * cs_relay_kick: `cabsync relay sync`, a local change) runs one relay
 * cycle. The loop takes a snapshot of what it knows of each roster device
 * (online now? last seen when? what it acknowledged in a live session) and
 * posts one job to the database worker, which does the blocking part:
 *   - import: every bundle waiting for this device is read, opened
 *     (signature, outer layer, recipient, expiry, replay), applied through
 *     the engine, then deleted, and audited; a refused one is moved to
 *     HOME/relay-quarantine/ with its reason, audited, never retried;
 *   - send: for each device not seen on the LAN for [relay] after, the
 *     changes it lacks (after what it acknowledged or what our waiting
 *     bundles already cover) are sealed into a bundle and left for it; a
 *     bundle that disappeared before its expiry was imported (the device
 *     now has those changes); one still there at its expiry is removed and
 *     its changes sealed again.
 * Results (new receive cursors, log lines) come back to the loop in the
 * job's done callback. One cycle at a time; a kick during a cycle runs
 * another right after it.
 *
 * Recipients: cs_relay_recipients() says which devices a cycle may relay
 * to (every other active roster device); what each gets is scoped to its
 * practitioner's shares (cs_relay_seal with sh), so the recipients of a
 * change are the devices of the patient's owner and of the practitioners it
 * is shared with, and a bundle carries the share records its rows need.
 *
 * Threads: every function here on the loop thread. The worker job owns
 * copies of the home and the snapshot; the seen set and the outbox are
 * touched only by the worker (one job at a time).
 */
#ifndef CS_AGENT_RELAY_AGENT_H
#define CS_AGENT_RELAY_AGENT_H

#include <stdint.h>
#include <uv.h>

#include "agent/dbw.h"
#include "agent/home.h"
#include "agent/relay.h"
#include "agent/relay_http.h"

struct cs_engine;
struct cs_devstate;
struct cs_shsync;
struct relay_sc;

/* What the loop knows of roster device idx. */
struct cs_relay_peerview {
	int live;        /* a session is up now */
	int64_t seen_ms; /* wall clock of the last sign of life, 0 never */
	int acked_known; /* acked is from a live CURSOR/ACK */
	uint64_t acked;  /* our db_version it has applied */
};

typedef void (*cs_relay_view_fn)(void *ctx, size_t idx, struct cs_relay_peerview *out);
/* A bundle of sender was imported: its receive cursor here is now cursor (0: unchanged). */
typedef void (
    *cs_relay_imported_fn)(void *ctx, const uint8_t *sender, uint64_t cursor, uint32_t applied);
/*
 * The relay's login changed state at the end of a Supabase cycle: needed 1
 * (the session was refused or never made: why says so and how to log in,
 * never a token) or 0 (a cycle worked again after a new login).
 */
typedef void (*cs_relay_login_fn)(void *ctx, int needed, const char *why);

struct cs_relay_agent {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_timer_t kick; /* 1 s: HOME/relay-kick asks for a cycle now */
	struct cs_dbw *dbw;
	const struct cs_home *home;
	struct cs_engine *eng;  /* used on the worker only */
	struct cs_devstate *st; /* used on the worker only */
	struct cs_shsync *sh;   /* shares (the daemon's), worker only; may be NULL */
	struct cs_relay_cfg cfg;
	struct cs_relay_seen seen; /* worker only */
	struct cs_relay_out out;   /* worker only */
	int loaded;                /* seen and out read (worker) */
	int busy, again, started, closing;
	int64_t started_ms;
	uint64_t cycles;
	struct cs_supa supa; /* backend supabase: the HTTP client */
	struct relay_sc *sc; /* the Supabase cycle in progress */
	cs_relay_view_fn view;
	cs_relay_imported_fn imported;
	cs_relay_login_fn login; /* may be NULL: set after cs_relay_agent_start */
	int login_needed;        /* what login was last told */
	void *ctx;
};

/*
 * Read the [relay] configuration of home and, unless the backend is none,
 * start the timer (first cycle at once). 0 (also when disabled: r->started
 * is then 0) or CS_RELAY_ECONFIG (logged).
 */
int cs_relay_agent_start(struct cs_relay_agent *r, uv_loop_t *loop, struct cs_dbw *dbw,
    const struct cs_home *home, struct cs_engine *eng, struct cs_devstate *st, struct cs_shsync *sh,
    cs_relay_view_fn view, cs_relay_imported_fn imported, void *ctx);

/* Run a cycle now (or right after the running one). */
void cs_relay_agent_kick(struct cs_relay_agent *r);

/* Stop the timers and close them; the running job's result is dropped. Idempotent. */
void cs_relay_agent_stop(struct cs_relay_agent *r);

/* After the worker has stopped: release the seen set. Accepts a zeroed r. */
void cs_relay_agent_free(struct cs_relay_agent *r);

/* The file `cabsync relay sync` creates to ask the running agent for a cycle. */
#define CS_RELAY_KICK_FILE "relay-kick"

/*
 * Which roster devices a cycle may relay to: out[i] = 1 for device i: every
 * active device of the roster but this one (the scoped seal leaves out a
 * device that may see none of the changes). Returns how many.
 */
size_t cs_relay_recipients(const struct cs_home *h, uint8_t *out);

#endif
