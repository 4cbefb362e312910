/*
 * agent/devstate.h: the device state file kept beside an app database by the
 * `cabsync db` commands (docs/ARCHITECTURE.md, "Where each table lives").
 *
 * The engine takes this device's global id, and the database incarnation and
 * db_version the agent saw last, from its caller (sql/engine.h): they must
 * live outside the database, or a restored backup would carry them back.
 * This file, DB + "-cabsync.ini" (mode 0600, an INI read with inih), holds
 * them, the tracked-tables INI path, this device's display name, and per
 * peer device its name, the peer incarnation and the receive cursor (every
 * change of that peer up to db_version `cursor` is applied here). No secret,
 * no patient data.
 *
 * Plain data in caller-owned storage; no allocation; not thread-safe; the
 * file is replaced atomically (write + fsync + rename) by save.
 */
#ifndef CS_AGENT_DEVSTATE_H
#define CS_AGENT_DEVSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/change.h"

#define CS_DEVSTATE_SUFFIX    "-cabsync.ini"
#define CS_DEVSTATE_NAME_MAX  64 /* bytes, NUL included */
#define CS_DEVSTATE_PATH_MAX  4096
#define CS_DEVSTATE_MAX_PEERS 32

struct cs_devpeer {
	uint8_t id[CS_DEVID_LEN];
	char name[CS_DEVSTATE_NAME_MAX];
	int has_incarnation;
	uint8_t incarnation[CS_GID_LEN];
	uint64_t cursor;
};

struct cs_devstate {
	char path[CS_DEVSTATE_PATH_MAX]; /* the state file */
	char name[CS_DEVSTATE_NAME_MAX];
	uint8_t id[CS_DEVID_LEN];
	char tables[CS_DEVSTATE_PATH_MAX]; /* absolute path of the tables INI */
	int has_incarnation;
	uint8_t incarnation[CS_GID_LEN];
	uint64_t db_version;
	struct cs_devpeer peers[CS_DEVSTATE_MAX_PEERS];
	size_t npeers;
};

/* Zero st and set st->path for database db. CS_ERANGE if the path is too long. */
int cs_devstate_init(struct cs_devstate *st, const char *db);

/*
 * Read the state file of st->path (set by cs_devstate_init). Returns 0,
 * CS_ENOENT (no file: cabsync is not installed on this database), CS_EIO,
 * or CS_ECORRUPT (malformed; *bad_line, if not NULL, gets its line number).
 */
int cs_devstate_load(struct cs_devstate *st, int *bad_line);

/* Write st to st->path atomically. Returns 0 or CS_EIO / CS_ERANGE. */
int cs_devstate_save(const struct cs_devstate *st);

/* Remove the file (uninstall). Returns 0 (also if absent) or CS_EIO. */
int cs_devstate_remove(const struct cs_devstate *st);

/*
 * The peer entry of device id; with create, added (name empty, cursor 0)
 * if missing. NULL if missing and !create, or if the table is full.
 */
struct cs_devpeer *cs_devstate_peer(struct cs_devstate *st, const uint8_t id[static CS_DEVID_LEN],
    int create);

/* The display name of device id (this device or a peer), or NULL. */
const char *cs_devstate_name_of(const struct cs_devstate *st,
    const uint8_t id[static CS_DEVID_LEN]);

/*
 * 1 if name is acceptable as a device name: 1..63 bytes, no control byte,
 * none of ;#[]= (they would not survive the INI), no space at either end.
 */
int cs_devstate_name_ok(const char *name);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void cs_devstate_hex(const uint8_t *b, size_t n, char *out);

#endif
