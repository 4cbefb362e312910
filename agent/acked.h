/*
 * agent/acked.h: what each peer device last acknowledged of this device's
 * changes (its ACK / CURSOR db_version), kept in HOME/acked so that
 * `cabsync status` can count the changes waiting for a peer while it is
 * offline, also after a restart (docs/PROTOCOL.md §8, "pending").
 *
 * A hint for the status only, never a cursor: sync always starts from the
 * CURSOR the peer sends. Lines "HEXID DB_VERSION"; unknown or malformed
 * lines are ignored. Written with write + fsync + rename. No secret.
 * Plain functions; the caller's thread (the agent: its worker, or the main
 * thread after the loop ended).
 */
#ifndef CS_AGENT_ACKED_H
#define CS_AGENT_ACKED_H

#include <stddef.h>
#include <stdint.h>

#include "base/change.h"

/*
 * For each of the n ids, set acked[i] and known[i] = 1 when the file has a
 * line for it (others untouched). 0, or CS_ENOENT (no file) / CS_EIO.
 */
int cs_acked_load(const char *path, const uint8_t (*ids)[CS_DEVID_LEN], size_t n, uint64_t *acked,
    int *known);

/* Write the known entries. 0 or CS_EIO / CS_ERANGE. */
int cs_acked_save(const char *path, const uint8_t (*ids)[CS_DEVID_LEN], size_t n,
    const uint64_t *acked, const int *known);

#endif
