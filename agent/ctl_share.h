/*
 * agent/ctl_share.h: the control socket's share verbs and share events
 * (docs/PROTOCOL.md §8.2, §8.4), for the tray's "Share a patient…" and
 * "Manage shares…" dialogs:
 *
 *   patients [FROM]        the patients here with their label (the label
 *                          expression of the patient table in the tracked-
 *                          tables config, read locally, sql/patlabel.h) and
 *                          this practitioner's rights on each
 *   practitioners          the cabinet's practitioners (roster, NAME records)
 *   shares [FROM]          the shares known here (cabsync shares)
 *   share PATIENT PRAC PERM [UNTIL]   cabsync share
 *   perm PATIENT PRAC PERM [UNTIL]    change the permission of a share
 *   revoke PATIENT PRAC               cabsync revoke
 *   transfer PATIENT PRAC             cabsync transfer (ownership to PRAC)
 *
 * The four last go through agent/share_ops.h, the code path of the CLI
 * (same checks, same answers, the same audit row).
 * Each request is a database-worker job (agent/dbw.h) that owns a copy of
 * the request; done() answers the waiting client (cs_control_answer) and,
 * after a share record was made, calls cb with changed = 1 so that the agent
 * sends it to the cabinet.
 *
 * Events: share records received from a peer that grant, transfer or revoke
 * a share to this device's practitioner are queued by agent/share_sync.c;
 * cs_ctl_share_events() drains them on the worker (a grant waits up to
 * CS_CTL_SHARE_LABEL_WAIT_MS for its patient's rows, so that a subscriber
 * that asked for labels gets one) and publishes share_received /
 * share_revoked: the patient's label only to "subscribe labels" clients.
 *
 * Threads: post functions on the loop thread; the jobs read the engine on
 * the worker. Labels and patient ids go only to the user's own socket
 * (0600); never logged.
 */
#ifndef CS_AGENT_CTL_SHARE_H
#define CS_AGENT_CTL_SHARE_H

#include <stdint.h>

#include "agent/control.h"
#include "agent/ctl_jobs.h"
#include "agent/dbw.h"
#include "agent/share_sync.h"

#define CS_CTL_SHARE_LABEL_WAIT_MS 10000 /* a grant's event waits this long for the rows */
#define CS_CTL_SHARE_BUSY_TRIES    400   /* x 5 ms: a database locked by the app */

/* 1 if verb is one of the share verbs above. */
int cs_ctl_share_is(int verb);

/*
 * Post the job answering req to token on c. cb (may be NULL) is called with
 * db_version 0, conflicts -1 and changed = 1 when a record was made. 0,
 * CS_ENOMEM or CS_EINVAL (not a share verb).
 */
int cs_ctl_share_post(struct cs_dbw *w, struct cs_engine *eng, struct cs_shsync *sh,
    struct cs_control *c, const struct cs_ctl_req *req, uint64_t token, cs_ctl_jobs_cb cb,
    void *ctx);

/*
 * Loop thread: if share events wait and no drain job is queued, post one;
 * its done() publishes the ready events on c. Cheap when none wait.
 */
void cs_ctl_share_events(struct cs_dbw *w, struct cs_engine *eng, struct cs_shsync *sh,
    struct cs_control *c);

#endif
