/*
 * agent/control.h: the control socket of the agent, used by the CLI and
 * the tray (DESIGN.md "Control and tray"; docs/PROTOCOL.md §8).
 *
 * Path: $XDG_RUNTIME_DIR/cabsync/control.sock (directory 0700, socket
 * 0600); when XDG_RUNTIME_DIR is unset, HOME_DIR/control.sock.
 *
 * Protocol (one request per connection): the client sends one line
 *   "cabsync-control/1 VERB[ ARGS]\n"
 * of at most CS_CTL_MAX_REQ bytes, printable ASCII; VERB = status | peers |
 * pause | resume | subscribe [labels] | conflicts | audit | resolve ID
 * mine|theirs | patients [FROM] | practitioners | shares [FROM] | share
 * PATIENT PRAC PERM [UNTIL] | perm PATIENT PRAC PERM [UNTIL] | revoke PATIENT
 * PRAC | transfer PATIENT PRAC (docs/PROTOCOL.md §8.4 for the share verbs).
 * The agent answers one line of JSON ending in "\n" and closes; after
 * `subscribe` it keeps the connection and pushes one JSON line per event
 * (docs/PROTOCOL.md §8.2). A malformed request gets {"error":"..."} and the
 * connection is closed.
 *
 * The decoder cs_control_parse_req() is pure (fuzzed: tests/fuzz/fuzz_control.c).
 * The server (cs_control_start/stop) runs on the loop thread. Answers to
 * status/peers/pause/resume are built by the caller's callback,
 * synchronously, from loop-thread state; conflicts/audit/resolve need the
 * database worker: the async callback takes a token and the agent answers
 * later with cs_control_answer().
 *
 * Events: cs_control_publish() writes one line to every subscriber. Each
 * subscriber has a bounded output queue (CS_CTL_MAX_QUEUE bytes written but
 * not yet taken by the client): a client that does not read is dropped, it
 * never blocks the agent nor grows its memory. cs_control_poke() says "the
 * status may have changed": within CS_CTL_POKE_MS the status is recomputed
 * and pushed as a "status" event when it differs from the last one pushed.
 */
#ifndef CS_AGENT_CONTROL_H
#define CS_AGENT_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define CS_CTL_MAGIC    "cabsync-control/1 "
#define CS_CTL_MAX_REQ  160 /* the longest: share with a 64-byte patient id */
#define CS_CTL_MAX_RESP (64 * 1024)
/* Output bytes queued to one subscriber before it is dropped (4 full statuses). */
#define CS_CTL_MAX_QUEUE   (256 * 1024)
#define CS_CTL_MAX_SUBS    16   /* subscribers at once; the next one is refused */
#define CS_CTL_MAX_CLIENTS 64   /* connections at once (any kind); more are closed at once */
#define CS_CTL_POKE_MS     100  /* status push latency after cs_control_poke */
#define CS_CTL_CHECK_MS    1000 /* status re-check period while someone subscribes */
/* Conflict ids of `resolve`: 1 .. 2^53 - 1 (exact in a JSON double). */
#define CS_CTL_MAX_ID 9007199254740991LL
/* PATIENT of the share verbs: the app's id, 1..64 of [A-Za-z0-9_.:-]. */
#define CS_CTL_MAX_PATIENT 64
/* PRAC: a practitioner id, exactly 32 lower-case hex digits. */
#define CS_CTL_PRAC_HEX 32
/* UNTIL: unix seconds, 1..99999999999 (an hlc holds it in milliseconds). */
#define CS_CTL_MAX_UNTIL 99999999999LL

enum cs_ctl_verb {
	CS_CTL_STATUS = 1,
	CS_CTL_PEERS,
	CS_CTL_PAUSE,
	CS_CTL_RESUME,
	CS_CTL_SUBSCRIBE, /* keep the connection, push events */
	CS_CTL_CONFLICTS, /* the open conflicts (async) */
	CS_CTL_AUDIT,     /* the latest audit rows (async) */
	CS_CTL_RESOLVE,   /* "resolve ID mine|theirs" (async) */
	CS_CTL_PATIENTS,  /* "patients [FROM]": patients and their labels (async) */
	CS_CTL_PRACS,     /* "practitioners": the cabinet's practitioners (async) */
	CS_CTL_SHARES,    /* "shares [FROM]": the shares known here (async) */
	CS_CTL_SHARE,     /* "share PATIENT PRAC PERM [UNTIL]" (async) */
	CS_CTL_PERM,      /* "perm PATIENT PRAC PERM [UNTIL]": change a share (async) */
	CS_CTL_REVOKE,    /* "revoke PATIENT PRAC" (async) */
	CS_CTL_TRANSFER,  /* "transfer PATIENT PRAC": hand the patient over (async) */
	CS_CTL_NVERBS
};

/* How a `resolve` request chooses (same values as sql/engine.h cs_resolve). */
enum cs_ctl_how { CS_CTL_MINE = 1, CS_CTL_THEIRS = 2 };

/* PERM of the share verbs (same values as sql/sharerec.h enum cs_perm). */
enum cs_ctl_perm { CS_CTL_READ = 1, CS_CTL_WRITE = 2, CS_CTL_FULL = 3 };

/*
 * A decoded request: verb; for resolve its id and choice; for patients and
 * shares the first row wanted (id, 0 when absent); for subscribe whether
 * the share events carry the patient's label; for the share verbs the
 * patient (NUL-terminated), practitioner, permission and end (0: none).
 */
struct cs_ctl_req {
	int verb;
	int64_t id;
	int how;
	int labels;
	char patient[CS_CTL_MAX_PATIENT + 1];
	char prac[CS_CTL_PRAC_HEX + 1];
	int perm;
	int64_t until;
};

/*
 * Event names pushed to subscribers (PROTOCOL.md §8.2); every event line is
 * an object whose first key is "event".
 */
#define CS_CTL_EV_STATUS        "status"         /* the whole status object */
#define CS_CTL_EV_PEER          "peer"           /* a colleague's device up or down */
#define CS_CTL_EV_CONFLICT      "conflict"       /* conflicts recorded or resolved */
#define CS_CTL_EV_SHARE_RECV    "share_received" /* a patient newly shared with me */
#define CS_CTL_EV_SHARE_REVOKED "share_revoked"  /* a share to me revoked */
#define CS_CTL_EV_RELAY_LOGIN   "relay_login"    /* the relay needs a new login */
#define CS_CTL_EV_STOPPING      "stopping"       /* the agent stops (last line) */

enum cs_ctl_err {
	CS_CTL_ETOOLONG = -620,  /* no newline within CS_CTL_MAX_REQ bytes */
	CS_CTL_EBYTE = -621,     /* a byte that is not printable ASCII */
	CS_CTL_EMAGIC = -622,    /* not "cabsync-control/1 " */
	CS_CTL_EVERB = -623,     /* unknown verb */
	CS_CTL_ETRAILING = -624, /* bytes after the newline */
	CS_CTL_EARG = -625,      /* missing, extra or malformed argument */
	CS_CTL_EBUSY = -626,     /* too many subscribers */
	CS_CTL_EUNSUP = -627     /* this agent has no handler for the verb */
};

/*
 * Parse buf[0..len): 0 and *req when it holds exactly one complete
 * request, CS_EAGAIN when the line is not complete yet (and could still
 * be valid), or a CS_CTL_E... code. Never reads past len. Arguments, one
 * space between fields, numbers decimal without a leading zero:
 * "resolve ID mine|theirs" (ID 1..CS_CTL_MAX_ID), "patients [FROM]" and
 * "shares [FROM]" (FROM 1..CS_CTL_MAX_ID), "subscribe [labels]", "share|perm
 * PATIENT PRAC read|write|full [UNTIL]", "revoke|transfer PATIENT PRAC"; any other
 * verb takes none.
 */
int cs_control_parse_req(const uint8_t *buf, size_t len, struct cs_ctl_req *req);
/* The same, giving the verb only. */
int cs_control_parse(const uint8_t *buf, size_t len, int *verb);

/* A static sentence for a CS_CTL_E... code. */
const char *cs_control_strerror(int err);

/*
 * The socket path for home_dir into out. Creates the 0700 directory if
 * mkdir_it. 0 or CS_ERANGE / CS_EIO.
 */
int cs_control_path(const char *home_dir, int mkdir_it, char *out, size_t cap);

/* Writes the JSON answer to verb into out; returns its length or < 0. */
typedef int (*cs_control_fn)(void *ctx, int verb, char *out, size_t cap);
/*
 * Starts the work for an async verb (conflicts, audit, resolve): returns 0
 * and later calls cs_control_answer(token, ...) exactly once, or returns a
 * negative code (answered at once as an error).
 */
typedef int (*cs_control_async_fn)(void *ctx, const struct cs_ctl_req *req, uint64_t token);

struct cs_ctl_client;

struct cs_control {
	uv_pipe_t pipe;
	uv_timer_t timer; /* status push (poke) and periodic re-check */
	int on;
	char path[512];
	char errmsg[256];
	cs_control_fn fn;
	cs_control_async_fn afn;
	void *ctx;
	struct cs_ctl_client *clients; /* every open connection */
	size_t nclients, nsubs;
	uint64_t next_token;
	uint64_t dropped; /* subscribers dropped for not reading */
	char *last;       /* the last status pushed (NUL-terminated), or NULL */
	char sticky[512]; /* an event every new subscriber gets after the status, or "" */
};

/* Listen on the path of home_dir. 0 or CS_EIO / CS_EEXIST (an agent is
 * already answering there) with errmsg set. */
int cs_control_start(struct cs_control *c, uv_loop_t *loop, const char *home_dir, cs_control_fn fn,
    void *ctx);
/* Set the handler of the async verbs (after start); NULL: refused. */
void cs_control_set_async(struct cs_control *c, cs_control_async_fn afn);
/*
 * Answer the async request token with json[0..len) (no newline). A client
 * gone meanwhile is not an error: the answer is dropped. 0 or CS_ENOENT.
 */
int cs_control_answer(struct cs_control *c, uint64_t token, const char *json, size_t len);
/*
 * Push one event line json[0..len) (an object, no newline) to every
 * subscriber. A subscriber whose queue would pass CS_CTL_MAX_QUEUE is
 * dropped (c->dropped counts them). Loop thread; never blocks.
 */
void cs_control_publish(struct cs_control *c, const char *json, size_t len);
/*
 * The same, but the subscribers that asked for labels ("subscribe labels")
 * get json_labels[0..len_labels) instead (json_labels NULL: json to all).
 */
void cs_control_publish2(struct cs_control *c, const char *json, size_t len,
    const char *json_labels, size_t len_labels);
/*
 * Publish json[0..len) and keep it: every later subscriber gets it right
 * after its first status (a state that lasts, e.g. "relay login needed"),
 * until cs_control_sticky(c, NULL, 0) clears it. Longer than 511 bytes:
 * cleared and not sent.
 */
void cs_control_sticky(struct cs_control *c, const char *json, size_t len);
/* The status may have changed: push it (if changed) within CS_CTL_POKE_MS. */
void cs_control_poke(struct cs_control *c);
/*
 * Push a "stopping" event to the subscribers, close every connection and
 * the listener, remove the socket file. Idempotent.
 */
void cs_control_stop(struct cs_control *c);

/*
 * Client side (blocking, for the CLI): send verb, read the answer into out
 * (NUL-terminated). 0, CS_ENOENT (no agent running), CS_EIO.
 */
int cs_control_request(const char *path, const char *verb, char *out, size_t cap);

#endif
