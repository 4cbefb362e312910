/*
 * agent/relay_folder.h: the shared-folder relay backend (DESIGN.md "Relay":
 * a NAS share, the embedded default that needs no account).
 *
 * Layout: DIR/{cabinet id hex}/{recipient device id hex}/{bundle id hex}.csb,
 * each file written whole under a temporary name, fsync'd, then renamed
 * (cs_relay_write_file), so a reader never sees half a bundle. Only sealed
 * bundles are ever written there. Quarantined bundles go to the recipient's
 * own HOME/relay-quarantine/ with a .why file (the reason, no secret).
 *
 * Threads: blocking file calls: the agent's database worker or a command.
 * No allocation but what is documented; nothing kept after a call.
 */
#ifndef CS_AGENT_RELAY_FOLDER_H
#define CS_AGENT_RELAY_FOLDER_H

#include <stddef.h>
#include <stdint.h>

#include "agent/relay.h"

#define CS_RELAY_FOLDER_SUFFIX  ".csb"
#define CS_RELAY_FOLDER_MAXLIST 256

/* The folder of recipient dev (id NULL), or the file of bundle id in it. */
int cs_relay_folder_path(const char *dir, const uint8_t *cabinet, const uint8_t *dev,
    const uint8_t *id, char *out, size_t cap);

/* Write bundle id for dev (directories created 0700 as needed). 0 or CS_EIO/ENOSPC/ERANGE. */
int cs_relay_folder_put(const char *dir, const uint8_t *cabinet, const uint8_t *dev,
    const uint8_t *id, const uint8_t *buf, size_t len);

/* 1 if bundle id for dev is there, 0 if not. */
int cs_relay_folder_exists(const char *dir, const uint8_t *cabinet, const uint8_t *dev,
    const uint8_t *id);

/* Remove bundle id for dev; 0 also if absent, CS_EIO. */
int cs_relay_folder_remove(const char *dir, const uint8_t *cabinet, const uint8_t *dev,
    const uint8_t *id);

/*
 * The bundle ids waiting for dev (names that are exactly 32 hex digits +
 * .csb; anything else is ignored), at most max. *n gets the count. 0, or
 * CS_ENOENT (no folder yet: nothing waits), CS_EIO.
 */
int cs_relay_folder_list(const char *dir, const uint8_t *cabinet, const uint8_t *dev,
    uint8_t (*ids)[CS_BUNDLE_ID_LEN], size_t max, size_t *n);

/*
 * Keep a refused bundle in HOME/relay-quarantine/NAME (0600) with
 * NAME.why holding why (one line). 0 or CS_EIO.
 */
int cs_relay_quarantine(const char *home_dir, const char *name, const uint8_t *buf, size_t len,
    const char *why);

#endif
