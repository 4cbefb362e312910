/*
 * agent/roster_io.h: the agent's roster.ini / cabinet.keys rewrite on the
 * database worker (STYLE.md §6: nothing blocks the loop thread). A save takes
 * the home's lock (flock, which waits for a CLI holding it), merges with the
 * files and writes them with fsync + rename (agent/roster.h cs_roster_save):
 * tens of ms on a busy disk, unbounded while another process holds the lock.
 *
 * cs_roster_io_post() copies the home (the roster, and the secrets into a
 * private sodium_malloc block, wiped and freed when the job ends) and posts
 * the save; the worker writes the copy. Saves run in post order, each from a
 * newer copy (the roster only accumulates), so the files end with the
 * newest. What another process wrote meanwhile is merged into the copy and
 * the files; the agent learns it by its roster.ini watch (the file's mtime
 * changes), as before. A job cancelled at shutdown saves on the loop thread
 * then (the loop is ending: nothing is lost). Without a started worker, the
 * save is synchronous.
 *
 * Threads: cs_roster_io_post from the loop thread only. h is only read
 * during the call.
 */
#ifndef CS_AGENT_ROSTER_IO_H
#define CS_AGENT_ROSTER_IO_H

#include "agent/dbw.h"
#include "agent/home.h"

/* Save h's roster and keys on w's worker (see above). 0 if posted or saved,
 * else CS_ENOMEM or the synchronous save's error (logged by the caller). */
int cs_roster_io_post(struct cs_dbw *w, const struct cs_home *h);

#endif
