/*
 * agent/audit_cmd.h: `cabsync audit ...`, the audit trail on the command
 * line (docs/OPERATIONS.md "Audit trail", docs/SECURITY.md "Audit trail"),
 * and the daemon's way to append an event from the loop thread.
 *
 *   cabsync audit --home DIR [--patient P] [--since DATE] [--json]
 *   cabsync audit verify --home DIR [--head HEX]
 *   cabsync audit add --home DIR [--patient P] TEXT
 *   cabsync audit head --home DIR [--of DEVICE]
 *   cabsync audit keep --home DIR [--from DEVICE] HEX
 *
 * The commands open the app database named by the home's configuration and
 * sign with the device key of the home (held in its sodium_malloc block,
 * never printed). Everything SQL goes through sql/audit.h. Results on
 * stdout, one sentence per error on stderr; no key, no patient name is ever
 * printed (a patient is shown by the app's local id).
 *
 * cs_audit_post() is for the daemon: it copies the event and appends it on
 * the database worker thread (agent/dbw.h); a failure is logged there.
 */
#ifndef CS_AGENT_AUDIT_CMD_H
#define CS_AGENT_AUDIT_CMD_H

#include <sqlite3.h>
#include <stdio.h>

#include "agent/dbw.h"
#include "sql/audit.h"

/* Exit code of `cabsync audit verify` when the trail is not intact. */
#define CS_AUDIT_EXIT_TAMPERED 7

/* argv[0] is "audit". Returns the process exit code. */
int cs_audit_cmd(int argc, char **argv);

/* The `cabsync audit` part of `cabsync --help`. */
void cs_audit_cmd_usage(FILE *f);

/*
 * For the commands that are not the daemon (invite): open the home's
 * database, make sure the trail is installed, append ev signed with the
 * home's device key, close. Returns 0 or a negative code; the caller logs.
 */
struct cs_home;
int cs_audit_record(const struct cs_home *h, const struct cs_audit_event *ev,
    const uint8_t *practitioner);

/*
 * Loop thread: queue the append of ev (copied: device, patient, detail) to
 * db on worker w. self is copied; self->sign_sk must stay valid until the
 * worker has stopped (the home's secrets). practitioner may be NULL.
 * Returns 0 or CS_ENOMEM (the event is then only logged by the caller).
 */
int cs_audit_post(struct cs_dbw *w, sqlite3 *db, const struct cs_audit_self *self,
    const struct cs_audit_event *ev, const uint8_t *practitioner);

/*
 * Worker thread: count the rows of cs per patient into acc (sync-in or
 * sync-out of one session). acc may be NULL (nothing counted). 0 or CS_ENOMEM.
 */
struct cs_changeset;
int cs_audit_count(struct cs_audit_acc *acc, const struct cs_changeset *cs,
    enum cs_audit_action dir);

/*
 * Loop thread, at a session's end: queue on w the flush of acc (one row per
 * patient and direction) and the signing of this device's head. acc is
 * taken (allocated with cs_calloc, released by the job) and must not be
 * touched by jobs posted after this one. 0, or CS_ENOMEM (acc is then
 * released here, the counts lost and logged).
 */
int cs_audit_post_session_end(struct cs_dbw *w, sqlite3 *db, const struct cs_audit_self *self,
    struct cs_audit_acc *acc);

#endif
