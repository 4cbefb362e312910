/*
 * sql/patlabel.h: the patients of this database as the app shows them
 * (docs/PROTOCOL.md §8.4; docs/MERGE.md "Configuration": the `label`
 * expression of the patient table, `scope = self`, in the tracked-tables
 * config). For the tray's share dialogs only: the label is read from the
 * local database on demand and never stored, logged or sent to a peer.
 *
 * Threads: no state; runs on the thread that owns the engine (the agent's
 * database worker). SQL text lives here; no logging.
 */
#ifndef CS_SQL_PATLABEL_H
#define CS_SQL_PATLABEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/change.h"
#include "sql/engine.h"

/* One patient: the app's id (text), its label (the id when no label is
 * configured or the expression gives NULL), its gid (NULL: not tracked yet). */
struct cs_patlabel {
	const char *local;
	const char *label;
	const uint8_t *gid; /* CS_GID_LEN bytes or NULL */
};

/* cb's non-zero return stops the walk and is returned. */
typedef int (*cs_patlabel_cb)(void *ctx, const struct cs_patlabel *p);

/*
 * Walk the rows of the patient table ordered by label (case-insensitive),
 * then id, skipping the first `from`. Pointers live during the call. 0,
 * cb's value, CS_ENOENT (no patient table), CS_ENOMEM, CS_SQL_ESQLITE.
 */
int cs_patlabel_list(struct cs_engine *e, int64_t from, cs_patlabel_cb cb, void *ctx);

/* The label of the patient gid into out (cap bytes, cut). 0, CS_ENOENT, < 0. */
int cs_patlabel_of(struct cs_engine *e, const uint8_t gid[static CS_GID_LEN], char *out,
    size_t cap);

#endif
