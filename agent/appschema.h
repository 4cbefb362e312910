/*
 * agent/appschema.h: the app schema a device announces in its HELLO, and
 * what a sender leaves out for a peer on another app schema (docs/PROTOCOL.md
 * §5 "Mixed app schemas"; issue 5 §2, PCs upgraded one at a time).
 *
 * The schema is the engine's dictionary of tracked tables and synced columns
 * (cs_engine_schema). Its hash, the HELLO's schema_hash, is
 *
 *   BLAKE2b-256("cabsync app schema v1" 0x00 ||
 *               for each table in order: name 0x00 || (column 0x00)* 0x01)
 *
 * so equal hashes mean the same tables and columns in the same order. An
 * all-zero hash means "not stated" (an agent from before this rule): nothing
 * is filtered for such a peer.
 *
 * cs_appschema_filter() copies a batch without the tables and columns the
 * peer did not announce, so that a receiver whose engine refuses unknown
 * names never refuses a batch for it (which would stop the session again and
 * again: a split cabinet). What is left out is not lost: a device whose own
 * schema changed asks every peer for everything again (agent/daemon.c resets
 * its receive cursors), and then announces the new columns.
 *
 * Pure functions over caller memory; any thread.
 */
#ifndef CS_AGENT_APPSCHEMA_H
#define CS_AGENT_APPSCHEMA_H

#include <stdint.h>

#include "base/change.h"

#define CS_APPSCHEMA_HASH_LEN 32

/* The hash of dictionary dict (its rows are ignored). 0 or CS_EIO. */
int cs_appschema_hash(const struct cs_changeset *dict, uint8_t out[static CS_APPSCHEMA_HASH_LEN]);

/* 1 if hash is stated (not all zero). */
int cs_appschema_stated(const uint8_t hash[static CS_APPSCHEMA_HASH_LEN]);

/*
 * Copy in into out (initialised, empty), leaving out every row of a table
 * that peer does not list and every cell of a column it does not list for
 * that table; the batch's db_version is kept (the cursor rule holds: those
 * rows were considered). *dropped_rows / *dropped_cells (may be NULL) count
 * what was left out. 0, CS_ENOMEM or CS_EINVAL (malformed in).
 */
int cs_appschema_filter(const struct cs_changeset *in, const struct cs_changeset *peer,
    struct cs_changeset *out, uint32_t *dropped_rows, uint32_t *dropped_cells);

/*
 * Rows [first, first + count) of in, whole, into out (initialised, empty),
 * with in's db_version: the agent applies a big batch in several short
 * transactions (docs/OPERATIONS.md). 0, CS_ENOMEM or CS_EINVAL.
 */
int cs_appschema_slice(const struct cs_changeset *in, uint32_t first, uint32_t count,
    struct cs_changeset *out);

/* Deep copy of dictionary src (tables and columns only) into dst (initialised). 0 or CS_ENOMEM. */
int cs_appschema_copy(const struct cs_changeset *src, struct cs_changeset *dst);

/*
 * Tests only (CS_TEST_PROTOCOL): turn the encoded version-1 HELLO in mb into
 * what a newer build sends, one extra field appended after the nine of
 * version 1 (PROTOCOL.md §5: peers skip it). 0, CS_EINVAL or CS_ENOMEM.
 */
struct cs_msg_buf;
int cs_appschema_hello_extend(struct cs_msg_buf *mb);

/*
 * Compare hash with the one kept in file path (hex, one line) and keep
 * hash there. *changed = 1 when the file held another hash (the app schema
 * changed since the last start), 0 when equal or absent (first start).
 * 0 or CS_EIO (then *changed = 0).
 */
int cs_appschema_remember(const char *path, const uint8_t hash[static CS_APPSCHEMA_HASH_LEN],
    int *changed);

#endif
