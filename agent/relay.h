/*
 * agent/relay.h: relay bundles for devices that are never online together
 * (DESIGN.md "Relay"; docs/RELAY.md "The agent's relay client";
 * docs/PROTOCOL.md §6 for the sealed bundle).
 *
 * This module is the part of the relay that does not care where a bundle
 * waits: the [relay] configuration, the payload inside a bundle (the
 * CHANGES messages of one sender for one recipient), sealing the changes a
 * device lacks and importing a bundle through the engine with every check
 * of a live session, the record of bundle ids already imported (replay) and
 * the sender's outbox (which bundle covers which changes for whom).
 *
 * Threads: cs_relay_cfg_load on any thread. Seal, import, the seen set and
 * the outbox do blocking file and SQLite work: they run on the agent's
 * database worker (or in a command, which has no loop). Nothing here logs;
 * errors are negative codes (CS_RELAY_E... or the module's own) with a
 * sentence in a caller's buffer that never holds a key or patient data.
 *
 * Ownership: every function reads its pointer arguments during the call
 * only, except where a struct documents what it owns (cs_malloc'd buffers
 * released by the matching _free).
 */
#ifndef CS_AGENT_RELAY_H
#define CS_AGENT_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "agent/home.h"
#include "base/audit.h"
#include "base/change.h"
#include "wire/bundle.h"

struct cs_engine;
struct cs_devstate;
struct cs_shsync;
struct cs_audit_acc;

/* Agent error codes -740..-759 (base/err.h agent range). */
enum cs_relay_err {
	CS_RELAY_EPAYLOAD = -740, /* bundle payload malformed (after authentication) */
	CS_RELAY_ECONFIG = -741,  /* [relay] section wrong */
	CS_RELAY_EAPPLY = -742,   /* the engine refused the payload */
	CS_RELAY_EHTTP = -743,    /* an HTTP answer we cannot use */
	CS_RELAY_EAUTH = -744,    /* relay login needed or refused */
	CS_RELAY_ENOTFOR = -745   /* no bundle in the file for this device */
};

/* A static sentence for a CS_RELAY_E... code; the bundle's codes too. */
const char *cs_relay_strerror(int err);

enum cs_relay_backend { CS_RELAY_NONE = 0, CS_RELAY_FOLDER = 1, CS_RELAY_SUPABASE = 2 };

#define CS_RELAY_AFTER_DEFAULT_MS    (10 * 60 * 1000)
#define CS_RELAY_LIFETIME_DEFAULT_MS (24 * 3600 * 1000ULL)
#define CS_RELAY_INTERVAL_DEFAULT_MS (45 * 1000)
#define CS_RELAY_MAX_BUNDLE          (48 * 1024 * 1024) /* under the bucket's 50 MB */
#define CS_RELAY_URL_MAX             512
#define CS_RELAY_KEY_MAX             512

/* The [relay] section of HOME/cabsync.ini (docs/OPERATIONS.md). No secret. */
struct cs_relay_cfg {
	enum cs_relay_backend backend;
	char dir[CS_HOME_PATH_MAX]; /* folder: the shared directory */
	uint64_t after_ms;          /* relay to a device not seen for this long */
	uint64_t lifetime_ms;       /* bundle lifetime (expires - created) */
	uint64_t interval_ms;       /* inbox poll and outbox check period */
	char url[CS_RELAY_URL_MAX]; /* supabase: project URL */
	char key[CS_RELAY_KEY_MAX]; /* supabase: publishable (anon) key, not a secret */
	char email[CS_HOME_NAME_MAX * 2];
	long cabinet_no;      /* supabase: the app's "Cabinet".id */
	long practitioner_no; /* supabase: this practitioner's "Osteopath".id */
	/* supabase: the "Osteopath".id of every practitioner (gid -> integer) */
	struct {
		uint8_t gid[CS_GID_LEN];
		long no;
	} map[CS_HOME_MAX_DEVICES];
	size_t nmap;
};

/*
 * Read [relay] of HOME/cabsync.ini into cfg (defaults first: backend none).
 * Keys: backend = none|folder|supabase, dir, after, lifetime, interval
 * (a number with an optional unit ms|s|m|h), url, key, email, cabinet,
 * practitioner, and `map.PRACTITIONER_GID_HEX = N`. Returns 0 or
 * CS_RELAY_ECONFIG with a sentence in msg.
 */
int cs_relay_cfg_load(const char *home_dir, struct cs_relay_cfg *cfg, char *msg, size_t cap);

/* ------------------------------------------------------------ payload */

/*
 * The plaintext inside a bundle (docs/RELAY.md "Payload"): "CSRP", version
 * (1 or 2), a kind (1 the sender's main stream, 2 one patient from the
 * start), the patient gid (kind 2, else zeros), u64be after, u64be upto (the
 * cursor the recipient stores once everything is applied, when its cursor
 * was >= after), u32be count, then count times u32be length || one message.
 * Version 1: every message is a CHANGES message (wire/msg.h). Version 2 (what
 * cs_relay_seal writes): first zero or more RECORDS messages (the share
 * records the rows need, wire/records.h, docs/PROTOCOL.md §3.13), then the
 * CHANGES messages; a RECORDS message after a CHANGES one is refused.
 * Big-endian throughout.
 */
#define CS_RELAY_PAYLOAD_VERSION 2
#define CS_RELAY_PAYLOAD_MAGIC   "CSRP"
#define CS_RELAY_PAYLOAD_HDR     (4 + 1 + 1 + CS_GID_LEN + 8 + 8 + 4)
#define CS_RELAY_PAYLOAD_MAXN    65536
#define CS_RELAY_KIND_MAIN       1
#define CS_RELAY_KIND_PATIENT    2

/* A RECORDS message inside a payload: points into the decoded buffer. */
struct cs_relay_recmsg {
	const uint8_t *p;
	size_t len;
};

struct cs_relay_payload {
	int version, kind;
	uint8_t patient[CS_GID_LEN];
	uint64_t after, upto;
	uint32_t n;
	struct cs_changeset *cs; /* n decoded changesets, cs_malloc'd */
	uint32_t nrec;
	struct cs_relay_recmsg *rec; /* nrec RECORDS messages (cut out and checked
	                              * with cs_records_decode), pointing into the
	                              * buffer given to the decoder: valid while it is */
};

/*
 * Decode a whole payload (every message is decoded before anything may be
 * applied, so a bad one refuses the bundle whole). out->rec points into buf. 0 and *out filled
 * (release with cs_relay_payload_free), or CS_RELAY_EPAYLOAD, CS_ENOMEM,
 * or a wire/msg.h code; on error *out is zeroed.
 */
int cs_relay_payload_decode(const uint8_t *buf, size_t len, struct cs_relay_payload *out);
void cs_relay_payload_free(struct cs_relay_payload *p);

/* ---------------------------------------------------------- seen set */

/*
 * Bundle ids already imported (replay check), HOME/relay-seen: one line
 * "BUNDLEHEX EXPIRES_MS". An id is forgotten once its bundle would be refused
 * as expired anyway (expires + skew), so the file stays small.
 */
struct cs_relay_seen {
	char path[CS_HOME_PATH_MAX];
	struct {
		uint8_t id[CS_BUNDLE_ID_LEN];
		uint64_t expires_ms;
	} * v;
	size_t n, cap;
};

/* Load (a missing file is an empty set). 0, CS_ENOMEM, CS_EIO, CS_ECORRUPT. */
int cs_relay_seen_load(struct cs_relay_seen *s, const char *home_dir);
/* 1 if id is in the set, else 0. */
int cs_relay_seen_has(const struct cs_relay_seen *s, const uint8_t *id);
/* Add id and rewrite the file durably (temp, fsync, rename), dropping ids
 * expired before now_ms - skew. 0, CS_ENOMEM, CS_EIO. */
int cs_relay_seen_add(struct cs_relay_seen *s, const uint8_t *id, uint64_t expires_ms,
    uint64_t now_ms);
void cs_relay_seen_free(struct cs_relay_seen *s);

/* ---------------------------------------------------------- seal / import */

/* What to seal for one recipient device. */
struct cs_relay_seal_req {
	const struct cs_roster_dev *to;
	uint64_t after;         /* changes after this db_version of ours */
	const uint8_t *patient; /* NULL: the main stream; else this patient from 0 */
	/* With sh, main stream: a bundle without rows is still sealed when a
	 * share record for it is newer than this seq (a revoke, a grant). */
	int64_t rec_after;
	/* Shares (NULL: neither, the device's whole stream as before the shares):
	 * the extraction is scoped to what to->practitioner may see, the main
	 * stream first carries the patients newly shared with it from the start
	 * (agent/share_sync.h backfill), and the payload the share records the
	 * rows need (cs_shsync_records_for). */
	struct cs_shsync *sh;
	uint64_t now_ms, lifetime_ms;
	uint64_t max_len; /* 0: CS_RELAY_MAX_BUNDLE */
};

struct cs_relay_sealed {
	uint8_t *buf; /* cs_malloc'd bundle, NULL if there was nothing to send */
	size_t len;
	uint8_t id[CS_BUNDLE_ID_LEN];
	uint64_t upto; /* our db_version it covers */
	uint64_t expires_ms;
	uint32_t rows;
	uint8_t (*pats)[CS_GID_LEN]; /* the patients of its rows, sorted, distinct */
	size_t npats;
	int64_t rec_last; /* the last share record (seq, not a name) it carries, 0 none */
};

/*
 * Worker: extract what r->to lacks after r->after (rows written only by
 * that device are left out, as in a live session), encode, seal with the
 * home's keys, count rows per patient into acc (may be NULL). Returns 0 with
 * out->buf NULL when there is nothing to send (out->upto still tells how far
 * it looked), 0 with a bundle, or a negative code (msg says why).
 */
int cs_relay_seal(struct cs_engine *eng, const struct cs_home *h, const struct cs_relay_seal_req *r,
    struct cs_audit_acc *acc, struct cs_relay_sealed *out, char *msg, size_t cap);
void cs_relay_sealed_free(struct cs_relay_sealed *s);

struct cs_relay_import_res {
	struct cs_bundle_info info; /* authenticated header once opened */
	int opened;                 /* info is authentic */
	uint32_t rows, applied, refused, conflicts, held;
	uint32_t records; /* RECORDS messages checked and stored first */
	uint64_t cursor;  /* the sender's cursor stored here after import (0: unchanged) */
};

/*
 * Worker: open buf (size, signature against the roster, revoked sender,
 * epoch, outer layer, cabinet, recipient = this device, lifetime, expiry,
 * replay against seen, sealed key), decode the whole payload, check and
 * store its share records through sh (cs_shsync_records_in, as a live
 * session: signatures, rights; a refused record is audited and skipped; sh
 * NULL: records ignored), apply every batch through the engine (its
 * permission checks, as a live session: eng's practitioner_of), then
 * record the id in seen, advance the sender's cursor in st (may be NULL: a
 * command without the daemon's state is fine, it is saved) and append the
 * audit rows (per-patient sync-in and one relay-import row with the
 * source). Returns 0 or the first failing check's code: a bundle code
 * (wire/bundle.h), CS_RELAY_EPAYLOAD, CS_RELAY_EAPPLY (nothing applied in
 * the failing batch), or an I/O error. msg gets one sentence.
 * Audits a refusal too (relay bundle quarantined) when audit_refusal.
 */
int cs_relay_import(struct cs_engine *eng, const struct cs_home *h, struct cs_devstate *st,
    struct cs_shsync *sh, struct cs_relay_seen *seen, const uint8_t *buf, size_t len,
    uint64_t now_ms, uint64_t lifetime_ms, const char *source, struct cs_relay_import_res *res,
    char *msg, size_t cap);

/* Worker: append one audit row about the relay (detail is short, no secret). */
void cs_relay_audit(struct cs_engine *eng, const struct cs_home *h, enum cs_audit_action act,
    const uint8_t *device, int64_t count, const char *detail);

/* ---------------------------------------------------------- outbox */

/*
 * The sender's record, HOME/relay-out: per recipient device what it is
 * known to have (acked: from a live CURSOR/ACK, or a bundle of ours it
 * removed before expiry) and the bundles of ours waiting for it.
 *   "a DEVHEX ACKED [RECS]"  RECS: the last share record (seq) sealed for it
 *   "b DEVHEX BUNDLEHEX AFTER UPTO EXPIRES_MS"
 */
#define CS_RELAY_OUT_MAX 256
struct cs_relay_outb {
	uint8_t dev[CS_DEVID_LEN];
	uint8_t id[CS_BUNDLE_ID_LEN];
	uint64_t after, upto, expires_ms;
};
struct cs_relay_out {
	char path[CS_HOME_PATH_MAX];
	struct {
		uint8_t dev[CS_DEVID_LEN];
		uint64_t acked;
		int64_t recs;
	} acked[CS_HOME_MAX_DEVICES];
	size_t nacked;
	struct cs_relay_outb b[CS_RELAY_OUT_MAX];
	size_t nb;
};

int cs_relay_out_load(struct cs_relay_out *o, const char *home_dir);
int cs_relay_out_save(const struct cs_relay_out *o);
uint64_t cs_relay_out_acked(const struct cs_relay_out *o, const uint8_t *dev);
/* Raise dev's acked to v (never lowers unless force). 0 or CS_ERANGE. */
int cs_relay_out_set_acked(struct cs_relay_out *o, const uint8_t *dev, uint64_t v, int force);
/* The last share record (cs_share_rec seq) sealed for dev, 0 none. */
int64_t cs_relay_out_recs(const struct cs_relay_out *o, const uint8_t *dev);
/* Set it (lowered too: a bundle that expired unread). 0 or CS_ERANGE. */
int cs_relay_out_set_recs(struct cs_relay_out *o, const uint8_t *dev, int64_t seq);
/* Highest upto of dev's bundles still waiting, or its acked. */
uint64_t cs_relay_out_covered(const struct cs_relay_out *o, const uint8_t *dev);
int cs_relay_out_add(struct cs_relay_out *o, const struct cs_relay_outb *b);
void cs_relay_out_del(struct cs_relay_out *o, size_t i);

/* Lower-case hex name of a bundle id (33 bytes with the NUL). */
void cs_relay_idhex(const uint8_t *id, char out[33]);

/*
 * Write buf to path durably and atomically: path.tmp, fsync, rename, fsync
 * of the directory. mode: the file's permissions. 0 or CS_EIO / CS_ENOSPC.
 */
int cs_relay_write_file(const char *path, const uint8_t *buf, size_t len, int mode);

/* Read a whole file of at most max bytes into a cs_malloc'd buffer.
 * 0, CS_ENOENT, CS_ETOOBIG as CS_ERANGE, CS_EIO, CS_ENOMEM. */
int cs_relay_read_file(const char *path, size_t max, uint8_t **out, size_t *out_len);

#endif
