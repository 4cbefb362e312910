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
	char device[33]; /* hex id as the agent gives it (truncated) */
	int online;
	int revoked;
	int replica;       /* receives my changes ("replica"; absent: 1, older agents) */
	int64_t last_sync; /* unix seconds, 0 never */
	int64_t pending;   /* local changes not yet acknowledged by it, -1 unknown */
};

struct cs_tray_status {
	int state; /* enum cs_tray_state */
	char agent_state[16];
	char device_name[CS_TRAY_NAME_LEN];
	char device[33]; /* this device's hex id (truncated) */
	char error[160]; /* why, when state is CS_TRAY_ERROR */
	int64_t db_version;
	int64_t conflicts; /* -1: the agent does not report conflicts */
	size_t npeers;     /* listed below (at most CS_TRAY_MAX_PEERS) */
	size_t nextra;     /* further peers counted but not kept */
	struct cs_tray_peer peers[CS_TRAY_MAX_PEERS];
	size_t colleagues; /* non-revoked other devices that receive my changes */
	size_t online;     /* of which connected */
	/* changes of mine no replica has acknowledged: the agent's top-level
	 * "pending", else the least "pending" among replicas; -1 unknown */
	int64_t pending;
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

/* ---- events pushed after `subscribe` (PROTOCOL.md §8.2) ---- */

enum cs_tray_ev {
	CS_TRAY_EV_UNKNOWN = 0, /* a newer event: ignored */
	CS_TRAY_EV_STATUS,      /* parse the same line with cs_tray_status_parse */
	CS_TRAY_EV_PEER,
	CS_TRAY_EV_CONFLICT,
	CS_TRAY_EV_SHARE_RECV,
	CS_TRAY_EV_SHARE_REVOKED,
	CS_TRAY_EV_RELAY_LOGIN,
	CS_TRAY_EV_STOPPING,
	CS_TRAY_EV_ERROR /* an {"error":...} line: the agent refused the subscription */
};

struct cs_tray_event {
	int kind;                     /* enum cs_tray_ev */
	char name[CS_TRAY_NAME_LEN];  /* peer: "name"; shares: "from_name" */
	int online;                   /* peer */
	int64_t open, added;          /* conflict: "open", "new" */
	char permission[16];          /* share_received */
	char label[CS_TRAY_NAME_LEN]; /* shares: "patient_label" when the agent sends one */
	char error[128];              /* error: the agent's sentence */
};

/*
 * Decode one event line js[0..len) into ev. 0, or CS_EINVAL when it is not
 * an object, a known field has the wrong type, or "event" is missing. Unknown
 * keys are skipped. Never reads past len, never allocates.
 */
int cs_tray_event_parse(const char *js, size_t len, struct cs_tray_event *ev);

/* ---- answers of `conflicts` and `audit` (PROTOCOL.md §8.3) ---- */

#define CS_TRAY_MAX_CONFLICTS 64
#define CS_TRAY_VALUE_LEN     128

struct cs_tray_conflict {
	int64_t id;
	char table[CS_TRAY_NAME_LEN];
	char column[CS_TRAY_NAME_LEN]; /* "" for the row's existence */
	char mine[CS_TRAY_VALUE_LEN];  /* "(empty)" for null, "(deleted)" for a delete */
	char theirs[CS_TRAY_VALUE_LEN];
	char mine_device[33];
	char their_device[33];
};

struct cs_tray_conflicts {
	size_t n;      /* kept in v */
	size_t nextra; /* more listed than kept */
	int truncated; /* the agent cut its list */
	struct cs_tray_conflict v[CS_TRAY_MAX_CONFLICTS];
};

/*
 * Decode a `conflicts` answer. 0; CS_EINVAL (malformed, or an {"error":...}
 * answer: then its sentence is in err). err may be NULL.
 */
int cs_tray_conflicts_parse(const char *js, size_t len, struct cs_tray_conflicts *out, char *err,
    size_t errcap);

#define CS_TRAY_MAX_AUDIT 200

struct cs_tray_audit_row {
	int64_t id, at_ms, count;
	char action[32];
	char device[17];
	char patient[64];
	char detail[96];
};

struct cs_tray_audit {
	int64_t total;
	size_t n;
	size_t nextra;
	struct cs_tray_audit_row v[CS_TRAY_MAX_AUDIT];
};

/* Decode an `audit` answer; as cs_tray_conflicts_parse. */
int cs_tray_audit_parse(const char *js, size_t len, struct cs_tray_audit *out, char *err,
    size_t errcap);

/* ---- answers of the share verbs (PROTOCOL.md §8.4) ---- */

#define CS_TRAY_MAX_ROWS 1024

/*
 * One row of `patients` (id, label, rights), `practitioners` (id, name,
 * devices, you) or `shares` (patient, label, practitioner, name, perm,
 * since, until, active): the fields a list row may have; absent ones are
 * "" / -1 / 0.
 */
struct cs_tray_row {
	char id[CS_TRAY_NAME_LEN + 1]; /* patients, practitioners: "id" */
	char patient[CS_TRAY_NAME_LEN + 1];
	char label[CS_TRAY_VALUE_LEN];
	char name[CS_TRAY_NAME_LEN];
	char practitioner[33];
	char rights[16];               /* patients: "rights"; shares: "perm" */
	int64_t since, until, devices; /* until: -1 null */
	int active, you;
};

struct cs_tray_rows {
	size_t n, nextra;
	int64_t next; /* FROM of the next page, 0: none */
	struct cs_tray_row v[CS_TRAY_MAX_ROWS];
};

/*
 * Decode a list answer {"KEY":[{...},...],"next":N|null} (KEY "patients",
 * "practitioners" or "shares"); as cs_tray_conflicts_parse.
 */
int cs_tray_rows_parse(const char *js, size_t len, const char *key, struct cs_tray_rows *out,
    char *err, size_t errcap);

/*
 * A share verb's answer: 0 and the "detail" sentence for {"ok":true,...};
 * CS_EINVAL with the agent's sentence in err otherwise.
 */
int cs_tray_ok_parse(const char *js, size_t len, char *detail, size_t dcap, char *err,
    size_t errcap);

#endif
