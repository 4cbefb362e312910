/*
 * agent/share_sync.h: the daemon's side of shares (DESIGN.md "Scope and
 * permissions"; docs/SECURITY.md "Shares and permissions"): what a session
 * sends to a peer (records first, then the changes its practitioner may
 * see, a newly shared patient from the start), what it does with the
 * RECORDS it receives, the audit of refused changes, and the periodic work
 * (read-only triggers, purge after a revoke or an expired --until).
 *
 * struct cs_shsync holds a copy of the roster (device -> practitioner and
 * signing key) guarded by a mutex: the loop thread refreshes it (start,
 * roster reload), the database worker reads it (the engine's
 * practitioner_of callback, record checks). Every other function runs on
 * the worker thread with the engine it owns. The device's signing key is
 * the home's (sodium_malloc), only pointed to.
 */
#ifndef CS_AGENT_SHARE_SYNC_H
#define CS_AGENT_SHARE_SYNC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/home.h"
#include "base/change.h"
#include "sql/audit.h"
#include "sql/engine.h"
#include "sql/share.h"

#define CS_SHSYNC_RECS_PER_MSG  256     /* records per RECORDS message */
#define CS_SHSYNC_CLAIMS_PER_TX 256     /* claims made per write transaction */
#define CS_SHSYNC_PURGE_GRACE   600000u /* ms after an end: purge even if unacked */

#define CS_SHSYNC_NOTES_MAX 16 /* notifications waiting for the loop */

/*
 * A share record about this device's practitioner, stored by records_in:
 * the loop turns it into a control event (share_received / share_revoked,
 * docs/PROTOCOL.md §8.2). No patient id: the record's hash names the share.
 */
struct cs_shsync_note {
	uint8_t kind, perm; /* CS_SHAREREC_GRANT, _REVOKE, _TRANSFER; perm of a grant */
	uint8_t from[CS_DEVID_LEN];
	uint8_t id[8]; /* first bytes of the record's hash */
	char from_name[CS_SHAREREC_NOTE_MAX + 1];
	/* kept in the agent, never in the event: the patient, whose local
	 * label only a "subscribe labels" client gets (agent/ctl_share.h) */
	uint8_t patient[CS_GID_LEN];
	int64_t noted_ms; /* wall clock when stored */
};

struct cs_shsync_dev {
	uint8_t id[CS_DEVID_LEN];
	uint8_t practitioner[CS_GID_LEN];
	uint8_t sign_pk[32];
};

struct cs_shsync {
	pthread_mutex_t mu;
	int mu_ok;
	struct cs_shsync_dev dev[CS_HOME_MAX_DEVICES];
	size_t n;
	uint8_t device[CS_DEVID_LEN], practitioner[CS_GID_LEN], sign_pk[32];
	char name[CS_HOME_NAME_MAX];
	const uint8_t *sign_sk;                           /* the home's; worker reads it */
	struct cs_shsync_note notes[CS_SHSYNC_NOTES_MAX]; /* under mu */
	size_t nnotes;
	int ev_posted; /* loop thread: agent/ctl_share.c's event job is queued */
};

/* Loop thread. 0 or CS_EIO. */
int cs_shsync_init(struct cs_shsync *s, const struct cs_home *h);
/* Loop thread: copy h's roster (start, reload). */
void cs_shsync_roster(struct cs_shsync *s, const struct cs_home *h);
void cs_shsync_free(struct cs_shsync *s);

/* The engine's practitioner_of callback (any thread). */
int cs_shsync_practitioner_of(void *ctx, const uint8_t dev[CS_DEVID_LEN], uint8_t out[CS_GID_LEN]);

/* Worker, at start: share tables and read-only triggers. 0 or an error. */
int cs_shsync_install(struct cs_shsync *s, struct cs_engine *e);

/*
 * Worker, before extracting for a peer: claim the new patients of this
 * device, then the RECORDS message of the records after rec_after (at most
 * CS_SHSYNC_RECS_PER_MSG) into *msg (cs_malloc'd, NULL if none), *rec_last
 * the last seq sent, *claim_pos the db_version up to which every patient
 * is claimed (cs_share_claim_pos: the main cursor sent must not pass it,
 * or a patient the app created meanwhile would be skipped). Returns 1 if more records remain (send
 * no change yet), 0, or a negative code.
 */
int cs_shsync_records_out(struct cs_shsync *s, struct cs_engine *e, int64_t rec_after,
    uint8_t **msg, size_t *len, int64_t *rec_last, uint64_t *claim_pos);

/*
 * Worker: claim the new patients of this device (as cs_shsync_records_out
 * does first); *claim_pos as there. 0 or a negative code.
 */
int cs_shsync_claim(struct cs_shsync *s, struct cs_engine *e, uint64_t *claim_pos);

/*
 * Worker: the share records a relay bundle for a device of practitioner
 * prac carries (docs/RELAY.md "Payload"): every NAME record, every record of
 * a patient in pats (the patients of the bundle's rows), and every record of
 * a patient granted, revoked or transferred to prac, in seq order (a record
 * after the ones it depends on). cb gets them as RECORDS messages of at most
 * CS_SHSYNC_RECS_PER_MSG records (its bytes live during the call). pats
 * (npats gids, the caller's) is sorted in place. *last gets the seq of the
 * last record given that is not a NAME record (0 none). Returns the number of messages, cb's
 * non-zero value, or a negative code.
 */
typedef int (*cs_shsync_msg_cb)(void *ctx, const uint8_t *msg, size_t len);
int cs_shsync_records_for(struct cs_shsync *s, struct cs_engine *e, const uint8_t prac[CS_GID_LEN],
    uint8_t (*pats)[CS_GID_LEN], size_t npats, cs_shsync_msg_cb cb, void *ctx, int64_t *last);

/*
 * Worker, before cs_shsync_records_out: the per-peer record cursor. ack > 0
 * (records the peer acknowledged: an ACK of a batch sent after them) is
 * stored first. With load (a session's first extract), *rec_after gets the
 * stored cursor, or 0 when the peer's data cursor main_after is 0 (a new or
 * reset peer: every record again). Returns 1 if ack was stored, else 0 (a
 * failure only costs records sent again).
 */
int cs_shsync_peer_cursor(struct cs_shsync *s, struct cs_engine *e,
    const uint8_t peer[CS_DEVID_LEN], int load, uint64_t main_after, int64_t ack,
    int64_t *rec_after);

/*
 * Worker: a session with peer closed with batches unacknowledged (or being
 * extracted): re-arm the backfill of every patient shared with peer_prac
 * (cs_share_todo_rearm), since a backfill batch lost with the session is
 * never sent again otherwise. 0 or a negative code.
 */
int cs_shsync_rearm(struct cs_engine *e, const uint8_t peer[CS_DEVID_LEN],
    const uint8_t peer_prac[CS_GID_LEN]);

/*
 * Worker: a batch of a patient newly shared with the peer's practitioner,
 * from the start, if one is due (cs_share_todo). cs gets the rows; its
 * db_version is set to main_after (the main cursor does not move). Returns
 * 1 if cs is a backfill batch to send, 0 if none is due, or an error.
 */
int cs_shsync_backfill(struct cs_shsync *s, struct cs_engine *e, const uint8_t peer[CS_DEVID_LEN],
    const uint8_t peer_prac[CS_GID_LEN], uint64_t main_after, struct cs_changeset *cs);

/*
 * Worker: a RECORDS message from peer from: check and store each record,
 * audit and log the refused ones and the shares that concern this device's
 * practitioner. *changed (may be NULL) = 1 if a record was stored (the
 * caller then forwards and rechecks held rows). 0 or CS_RECORDS_EMSG (the
 * session is closed), or another error.
 */
int cs_shsync_records_in(struct cs_shsync *s, struct cs_engine *e, const uint8_t *msg, size_t len,
    const uint8_t from[CS_DEVID_LEN], int *changed);

/* Loop thread: move the waiting notifications into out (at most max);
 * returns how many. Older ones beyond CS_SHSYNC_NOTES_MAX were dropped
 * (the log and the audit trail have every one). */
size_t cs_shsync_take_notes(struct cs_shsync *s, struct cs_shsync_note *out, size_t max);
/* Any thread: the notes waiting (0 none). */
size_t cs_shsync_notes_pending(struct cs_shsync *s);
/* Any thread: put a note taken back (it waits for its patient's rows); dropped when full. */
void cs_shsync_notes_putback(struct cs_shsync *s, const struct cs_shsync_note *no);

/*
 * Worker: this device as a share operation needs it (agent/share_ops.h), on
 * e's connection; pracs (CS_HOME_MAX_DEVICES entries, the caller's) gets a
 * copy of the roster's practitioners.
 */
struct cs_share_self;
void cs_shsync_self(struct cs_shsync *s, struct cs_engine *e, struct cs_share_self *self,
    uint8_t (*pracs)[CS_GID_LEN]);

/*
 * The roster's practitioners (a copy, repeats removed) into out (max), and
 * for each the number of its devices in ndev (may be NULL). Any thread.
 */
size_t cs_shsync_pracs(struct cs_shsync *s, uint8_t (*out)[CS_GID_LEN], size_t *ndev, size_t max);
/*
 * The control event line of a note (no newline): share_received (a grant,
 * permission read/write/full; a transfer, permission "owner") or
 * share_revoked, with share (the record's id), from (device hex) and
 * from_name. 0 or CS_ERANGE. Pure.
 */
int cs_shsync_note_json(const struct cs_shsync_note *no, char *out, size_t cap, size_t *len);

/*
 * Worker: after an apply that refused rows, audit them per patient and
 * writer, and the re-assertion (reasserted rows this device wrote its valid
 * value again for, cs_apply_result) as one more event.
 */
void cs_shsync_refused(struct cs_shsync *s, struct cs_engine *e, const struct cs_changeset *cs,
    const uint8_t from[CS_DEVID_LEN], uint32_t reasserted);

/* What a peer acknowledged, for the purge rule. */
struct cs_shsync_ack {
	uint8_t dev[CS_DEVID_LEN];
	uint64_t acked;
};

/*
 * Worker, periodically: refresh cs_readonly and the triggers, then purge
 * every patient whose rights ended for this device's practitioner, once a
 * device of its owner acknowledged this copy's rows (or after
 * CS_SHSYNC_PURGE_GRACE): audited. Returns the number purged or an error.
 */
int cs_shsync_maintain(struct cs_shsync *s, struct cs_engine *e, const struct cs_shsync_ack *acks,
    size_t nacks, int64_t now_ms);

#endif
