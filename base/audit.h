/*
 * base/audit.h: the minimal append-only audit API (DESIGN.md, Audit).
 *
 * An event says who (device, practitioner), what (action), on which patient
 * (its gid: the local id is resolved by sql/ when it writes the row, so no
 * layer has to pass patient ids around), when, and a short non-sensitive
 * detail. sql/audit.c appends events to cs_audit (hash-chained); layers that
 * must not touch SQLite report through a cs_audit_fn given by the agent.
 * Never put a row value, a key or a patient name in detail.
 */
#ifndef CS_BASE_AUDIT_H
#define CS_BASE_AUDIT_H

#include <stdint.h>

#include "change.h"

enum cs_audit_action {
	CS_AUDIT_NOTE = 0,        /* what the app logs through `cabsync audit add` */
	CS_AUDIT_SYNC_IN = 1,     /* rows of a patient received (count) */
	CS_AUDIT_SYNC_OUT = 2,    /* rows of a patient sent (count) */
	CS_AUDIT_SHARE = 3,       /* a share granted */
	CS_AUDIT_REVOKE = 4,      /* a share revoked */
	CS_AUDIT_REFUSED = 5,     /* a change refused (no right, malformed) */
	CS_AUDIT_HANDSHAKE = 6,   /* a handshake rejected */
	CS_AUDIT_CONFLICT = 7,    /* a concurrent edit recorded */
	CS_AUDIT_KEY_ROTATE = 8,  /* cabinet key rotated */
	CS_AUDIT_ENROLL = 9,      /* a device enrolled */
	CS_AUDIT_RELAY_IMPORT = 10,
	CS_AUDIT_HELD = 11,       /* a change held (far-future hlc, undecidable) */
	CS_AUDIT_QUARANTINE = 12, /* a row that cannot be applied locally */
	CS_AUDIT_SCHEMA = 13,     /* engine installed/upgraded/uninstalled */
	CS_AUDIT_RESYNC = 14      /* a restored/cloned database detected */
};

struct cs_audit_event {
	int64_t at_ms;                   /* wall clock of the event */
	enum cs_audit_action action;
	const uint8_t *device;           /* CS_DEVID_LEN bytes or NULL (this device) */
	const uint8_t *patient;          /* CS_GID_LEN bytes or NULL */
	int64_t count;                   /* rows concerned, 0 if not relevant */
	const char *detail;              /* short, non-sensitive, may be NULL */
};

typedef int (*cs_audit_fn)(void *ctx, const struct cs_audit_event *ev);

/* A stable lower-case name for the action ("sync-in", ...). */
const char *cs_audit_action_name(enum cs_audit_action a);

#endif
