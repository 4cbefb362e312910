/*
 * discovery/addrcache.h: the last working address of each peer device, kept
 * in a small text file so that a restarted agent can redial at once, without
 * waiting for mDNS or when there is no avahi-daemon (docs/DISCOVERY.md §5).
 *
 * File format (UTF-8 text, every line ends in '\n'):
 *
 *   # cabsync addrcache v1
 *   ID ADDR WHEN
 *
 * ID: the caller's device id or tag, 1..64 of [A-Za-z0-9_.-]; ADDR: "HOST:PORT"
 * or "[IPV6]:PORT" (discovery/addr.h syntax, port required); WHEN: unix
 * seconds of the last success, decimal. One space between fields, no
 * duplicate id, at most CS_ADDRCACHE_MAX entries. Anything else is corrupt:
 * the parser says which line and changes nothing (the agent then starts with
 * an empty cache and overwrites the file). It holds no secret.
 *
 * Ownership: struct cs_addrcache lives in caller storage, entries in
 * cs_malloc memory. Not thread-safe; cs_addrcache_save() blocks (fsync) and
 * belongs on a worker thread, not the loop, with a copy of the cache.
 * No SQL here: plain files only.
 */
#ifndef CS_DISCOVERY_ADDRCACHE_H
#define CS_DISCOVERY_ADDRCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "discovery/addr.h"

#define CS_ADDRCACHE_ID_MAX   64
#define CS_ADDRCACHE_MAX      1024         /* devices: a cabinet has tens */
#define CS_ADDRCACHE_FILE_MAX (256 * 1024) /* larger is corrupt */
#define CS_ADDRCACHE_HEADER   "# cabsync addrcache v1"

struct cs_addrcache_entry {
	char id[CS_ADDRCACHE_ID_MAX + 1];
	struct cs_peer_addr addr;
	int64_t when;
};

struct cs_addrcache {
	struct cs_addrcache_entry *v;
	size_t n, cap;
};

void cs_addrcache_init(struct cs_addrcache *c);
/* Release the entries; c is left empty and reusable. Accepts NULL. */
void cs_addrcache_free(struct cs_addrcache *c);

/*
 * Replace c's contents with the file image buf[0..len). On error c is
 * unchanged and *bad_line (if not NULL) is the 1-based line at fault.
 * Returns 0, CS_ECORRUPT or CS_ENOMEM. Pure: no I/O.
 */
int cs_addrcache_parse(struct cs_addrcache *c, const char *buf, size_t len, size_t *bad_line);

/*
 * Load path into c. A missing file is an empty cache (0). Returns 0,
 * CS_ECORRUPT (with *bad_line), CS_EIO or CS_ENOMEM; c is unchanged on error.
 */
int cs_addrcache_load(struct cs_addrcache *c, const char *path, size_t *bad_line);

/* The file image of c in a new cs_malloc buffer (*out, *len). 0 or CS_ENOMEM. */
int cs_addrcache_format(const struct cs_addrcache *c, char **out, size_t *len);

/*
 * Write c to path atomically: a temporary file in the same directory
 * (mode 0600), fsync, rename over path, fsync of the directory. Readers see
 * the old file or the new one, never a mix. 0, CS_EIO or CS_ENOSPC; on
 * error path is untouched and no temporary file is left.
 */
int cs_addrcache_save(const struct cs_addrcache *c, const char *path);

/*
 * Remember that id worked at a, at unix time when (replaces its entry).
 * CS_EINVAL for an id or host the file could not hold (spaces, brackets,
 * control characters); CS_ERANGE when full; CS_ENOMEM.
 */
int cs_addrcache_set(struct cs_addrcache *c, const char *id, const struct cs_peer_addr *a,
    int64_t when);

/* The entry of id, or NULL. The pointer is valid until c changes. */
const struct cs_addrcache_entry *cs_addrcache_get(const struct cs_addrcache *c, const char *id);

/* Forget id: 0 or CS_ENOENT. */
int cs_addrcache_remove(struct cs_addrcache *c, const char *id);

/*
 * What to dial without mDNS (at start, with no avahi-daemon, after a
 * partition heals): the static peers of the config first, in their order,
 * then the cached addresses, most recently working first; each (host, port)
 * once. Up to cap addresses into out, their count in *n. c may be NULL.
 * Returns 0, CS_EINVAL or CS_ENOMEM.
 */
int cs_addrcache_targets(const struct cs_addrcache *c, const struct cs_peer_addr *statics,
    size_t n_static, struct cs_peer_addr *out, size_t cap, size_t *n);

#endif
