/*
 * agent/share_ops.h: making a share record, the one code path behind both
 * `cabsync share|revoke|transfer` (agent/share_cmd.c, on the CLI's own
 * connection) and the control socket's share verbs (agent/ctl_share.c, on
 * the agent's database worker). docs/OPERATIONS.md "Sharing patients";
 * docs/PROTOCOL.md §8.4.
 *
 * In one transaction: claim this device's new patients (so that a patient
 * created since the last sync can be shared at once), find the patient by
 * the app's id, make and check the signed record (sql/share.h: refused
 * exactly as a receiving device would refuse it), append the audit row,
 * commit. A permission change is a revoke and a new grant, 1 ms later, in
 * the same transaction (rights are the best grant in force: a lower
 * permission needs the old grant ended).
 *
 * Threads: whichever owns the sqlite3 handle; no state; no logging (the
 * caller says what failed). The signing key is the caller's, read only
 * during the call. Never puts a patient id or label in an error sentence.
 */
#ifndef CS_AGENT_SHARE_OPS_H
#define CS_AGENT_SHARE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "sql/share.h"

/* This device, for a share operation (CLI: the home; agent: cs_shsync). */
struct cs_share_self {
	struct cs_share_ctx c;  /* db, device, practitioner, sign_sk, roster callbacks */
	const uint8_t *sign_pk; /* 32 bytes */
	const char *name;       /* this practitioner's name */
	const uint8_t (*pracs)[CS_GID_LEN]; /* the roster's practitioners (repeats allowed) */
	size_t npracs;
};

enum cs_share_op_kind {
	CS_SHARE_OP_GRANT = 1, /* cabsync share */
	CS_SHARE_OP_REVOKE,    /* cabsync revoke */
	CS_SHARE_OP_TRANSFER,  /* cabsync transfer */
	CS_SHARE_OP_CHANGE     /* revoke + grant: a share in force gets another permission */
};

struct cs_share_op {
	int kind;                         /* enum cs_share_op_kind */
	const char *patient;              /* the app's id of the patient here */
	uint8_t practitioner[CS_GID_LEN]; /* cs_share_op_resolve() */
	int perm;                         /* GRANT, CHANGE: CS_PERM_READ/WRITE/FULL */
	int64_t until_ms;                 /* GRANT, CHANGE: end (unix ms, future), 0 none */
	const char *note;                 /* GRANT: at most CS_SHAREREC_NOTE_MAX bytes, or NULL */
};

/*
 * A practitioner given by name (NAME records, or this practitioner's) or
 * 8..32 hex digits of a roster practitioner's id. 0, CS_ENOENT (unknown),
 * CS_EEXIST (ambiguous), or an SQLite error.
 */
int cs_share_op_resolve(const struct cs_share_self *s, const char *text,
    uint8_t out[static CS_GID_LEN]);

/* A practitioner's name (this one's, or a NAME record's), else 8 hex digits of its id. */
void cs_share_op_label(const struct cs_share_self *s, const uint8_t *prac, char *out, size_t cap);

/* YYYY-MM-DD (the end of that day) or YYYY-MM-DDTHH:MM[:SS][Z], UTC, to unix ms. 0 or CS_EINVAL. */
int cs_share_op_parse_date(const char *text, int64_t *ms);

/*
 * Do op now (now_ms, wall clock) in one transaction. detail (may be NULL)
 * gets the audit sentence ("shared read with Dr X", no patient id). Returns
 * 0 done; CS_SHARE_ENOPAT no such patient; CS_ENOENT (CHANGE) no share in
 * force to change; CS_SHARE_ENORIGHT or CS_EAGAIN refused (why says why);
 * CS_EINVAL a bad note or until; CS_EBUSY the database is locked (nothing
 * done: try again); another negative code (rolled back).
 */
int cs_share_op_run(const struct cs_share_self *s, const struct cs_share_op *op, int64_t now_ms,
    char *why, size_t whycap, char *detail, size_t dcap);

#endif
