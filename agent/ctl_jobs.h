/*
 * agent/ctl_jobs.h: the control-socket requests that need the database
 * (docs/PROTOCOL.md §8.3): `conflicts` (the open conflicts), `resolve ID
 * mine|theirs` (cs_engine_conflict_resolve) and `audit` (the latest rows of
 * the audit trail), and the refresh of the figures the status shows while no
 * session runs (local db_version, open conflicts).
 *
 * Each is a database-worker job (agent/dbw.h): the loop thread posts it with
 * a copy of the request; the worker reads the engine and builds the JSON
 * answer; done() on the loop thread answers the waiting client through
 * cs_control_answer() (a client gone meanwhile is not an error) and reports
 * the figures through the done callback.
 *
 * Values in the `conflicts` answer are the row values of the local database:
 * the socket is the user's own (0600); they are never logged.
 */
#ifndef CS_AGENT_CTL_JOBS_H
#define CS_AGENT_CTL_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "agent/control.h"
#include "agent/dbw.h"

struct cs_engine;

#define CS_CTL_AUDIT_ROWS 200 /* rows in the `audit` answer: the latest */

/*
 * Called on the loop thread after a job: the local db_version and the open
 * conflicts (-1 when the count failed); changed = 1 after a resolve that
 * wrote.
 */
typedef void (*cs_ctl_jobs_cb)(void *ctx, uint64_t db_version, int64_t open_conflicts, int changed);

/*
 * Post the job answering req (CS_CTL_CONFLICTS, CS_CTL_AUDIT or
 * CS_CTL_RESOLVE) to token on c. eng is used on the worker only. cb may be
 * NULL. 0, CS_ENOMEM or CS_EINVAL (another verb).
 */
int cs_ctl_jobs_post(struct cs_dbw *w, struct cs_engine *eng, struct cs_control *c,
    const struct cs_ctl_req *req, uint64_t token, cs_ctl_jobs_cb cb, void *ctx);

/* Post the refresh job (no answer, cb only). 0 or CS_ENOMEM. */
int cs_ctl_jobs_refresh(struct cs_dbw *w, struct cs_engine *eng, cs_ctl_jobs_cb cb, void *ctx);

/*
 * JSON string body of bytes p[0..len) (no quotes) into out at *n, within
 * cap: '"', '\\' and control bytes escaped, other bytes as they are. 0 or
 * CS_ERANGE. Pure; unit-tested.
 */
int cs_ctl_json_str(char *out, size_t cap, size_t *n, const uint8_t *p, size_t len);

#endif
