/*
 * agent/tray/tray_status.h: what the tray shows, computed from the agent's
 * `status` answer (docs/PROTOCOL.md §8). No GTK, no I/O: the decoder of the
 * JSON line and the choice of the icon state are pure, so that they are
 * unit-tested (tests/unit/test_tray_status.c) and fuzzed
 * (tests/fuzz/fuzz_tray_status.c).
 *
 * States, in order of precedence (docs/OPERATIONS.md, "Desktop"):
 *   error    no agent, an answer that is not a status, an "error" field;
 *   conflict the status carries "conflicts": N > 0 (field planned with the
 *            sharing work; absent = unknown, never guessed);
 *   paused   the user paused sync (shown with the offline icon);
 *   local    no other device in the roster: nothing is backed up anywhere,
 *            so never the green of "synced";
 *   offline  no colleague's device connected;
 *   synced   some other device has acknowledged every local change
 *            (its "pending" is 0): safe to shut down;
 *   syncing  a colleague is connected and changes are still on their way.
 *
 * The caller owns struct cs_tray_status (plain storage, no pointers kept).
 */
#ifndef CS_TRAY_STATUS_H
#define CS_TRAY_STATUS_H

#include <stddef.h>
#include <stdint.h>

enum cs_tray_state {
	CS_TRAY_ERROR = 0,
	CS_TRAY_CONFLICT,
	CS_TRAY_PAUSED,
	CS_TRAY_LOCAL,
	CS_TRAY_OFFLINE,
	CS_TRAY_SYNCED,
	CS_TRAY_SYNCING,
	CS_TRAY_NSTATES
};

#define CS_TRAY_MAX_PEERS 32
#define CS_TRAY_NAME_LEN  64
#define CS_TRAY_MAX_DEPTH 16 /* nesting of unknown values the decoder skips */

struct cs_tray_peer {
	char name[CS_TRAY_NAME_LEN];
	int online;
	int revoked;
	int64_t last_sync; /* unix seconds, 0 never */
	int64_t pending;   /* local changes not yet acknowledged by it, -1 unknown */
};

struct cs_tray_status {
	int state; /* enum cs_tray_state */
	char agent_state[16];
	char device_name[CS_TRAY_NAME_LEN];
	char error[160]; /* why, when state is CS_TRAY_ERROR */
	int64_t db_version;
	int64_t conflicts; /* -1: the agent does not report conflicts */
	size_t npeers;     /* listed below (at most CS_TRAY_MAX_PEERS) */
	size_t nextra;     /* further peers counted but not kept */
	struct cs_tray_peer peers[CS_TRAY_MAX_PEERS];
	size_t colleagues; /* non-revoked other devices */
	size_t online;     /* of which connected */
	int64_t pending;   /* least "pending" among colleagues, -1 unknown */
};

/*
 * Decode one status answer js[0..len) (no NUL needed) into st and set
 * st->state. 0, or CS_EINVAL when it is not a well-formed status object
 * (st is then set to the error state with a sentence in st->error). Never
 * reads past len, never allocates.
 */
int cs_tray_status_parse(const char *js, size_t len, struct cs_tray_status *st);

/* Put st in the error state with the sentence why. */
void cs_tray_status_set_error(struct cs_tray_status *st, const char *why);

/* "synced", "syncing", "offline", "local", "paused", "conflict", "error". */
const char *cs_tray_state_name(int state);

/* One line for the top of the menu: "Synced: safe to shut down", ... */
void cs_tray_status_headline(const struct cs_tray_status *st, char *out, size_t cap);

/*
 * The tooltip: headline, colleagues online, last sync per colleague, changes
 * waiting; lines separated by '\n'. now is the current unix time (for "3 min
 * ago"). Truncated to cap (always NUL-terminated).
 */
void cs_tray_status_tooltip(const struct cs_tray_status *st, int64_t now, char *out, size_t cap);

#endif
