/*
 * sql/engine_int.h: the few engine internals that sql/upgrade.c needs (app
 * schema upgrades, docs/MERGE.md "App schema upgrades"). Not a public API:
 * only the sql/ modules include it. Same thread rules as engine.h (one thread at a
 * time per engine). Definitions sit at the end of sql/engine.c.
 */
#ifndef CS_SQL_ENGINE_INT_H
#define CS_SQL_ENGINE_INT_H

#include <stdint.h>

#include "engine.h"

struct cs_upgrade; /* sql/upgrade.c's state, owned by the engine */

/*
 * This device's db_version in plain SQL: the highest v of its row records,
 * or the floor kept in cs_meta ('vfloor') when a purge or a removal dropped
 * the row records that held it. It never goes back: a peer's cursor past a
 * db_version reused after such a drop would skip the new writes for good
 * (docs/TESTING.md, soak bug 4).
 */
#define CS_ENG_SQL_DBV                                                                             \
	"max(coalesce((SELECT max(v) FROM cs_ids), 0), "                                           \
	"coalesce((SELECT v FROM cs_meta WHERE k='vfloor'), 0))"

/* A tracked table as the engine sees it now (strings owned by the engine,
 * valid until the next cs_eng_reload). */
struct cs_eng_tab {
	const char *name, *pk;
	int tid, rowid_pk, internal, ncols;
	int scope_col;        /* column index of the patient column, or -1 */
	int scope_parent_tid; /* tid of the patient table for scope_col, or 0 */
	int scope_self;       /* the patient table itself */
};

struct cs_eng_col {
	const char *name;
	int cid;    /* stable column id (cs_cols) */
	int fk_tid; /* tid of the referenced tracked table, or 0 */
};

/* The slot where the engine keeps sql/upgrade.c's state (freed at close). */
struct cs_upgrade **cs_eng_upgrade_slot(struct cs_engine *e);
int cs_eng_ntabs(struct cs_engine *e);
void cs_eng_tab(struct cs_engine *e, int i, struct cs_eng_tab *out);
void cs_eng_col(struct cs_engine *e, int i, int c, struct cs_eng_col *out);
int64_t cs_eng_self_site(struct cs_engine *e);
const char *cs_eng_ini_path(struct cs_engine *e);
/* Set the engine's error sentence; returns code. */
int cs_eng_fail(struct cs_engine *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Map an SQLite code to ours with a sentence; returns the code. */
int cs_eng_sqfail(struct cs_engine *e, int rc, const char *what);
/*
 * Re-read the tables INI and the app's columns, give new tables and columns
 * their stable ids and re-create every capture trigger, inside the caller's
 * write transaction. On error the engine keeps its previous description
 * (the caller rolls back). Cached statements are finalized.
 */
int cs_eng_reload(struct cs_engine *e);
/* Inside an apply transaction: the next local db_version (unique per row). */
uint64_t cs_eng_take_v(struct cs_engine *e);
/* Register the rows of table i that have no row record as local inserts. */
int cs_eng_register_existing(struct cs_engine *e, int i);

#endif
