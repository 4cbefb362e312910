/*
 * sql/upgrade.h: app schema upgrades (issue 3 §2 "App upgrades";
 * docs/MERGE.md "App schema upgrades").
 *
 * The practice app changes its schema over the years: ALTER TABLE ADD
 * COLUMN, new tables (and new [table] sections in the tables INI), and the
 * 12-step rebuild (create new, copy, drop old, rename) that ORMs such as
 * Prisma run and that silently drops every trigger of the table. This
 * module notices such a change (PRAGMA schema_version, the INI, a table's
 * root page or capture triggers), re-reads the schema and re-creates the
 * capture triggers, then finds the writes the triggers missed meanwhile: a
 * scan of the new columns after ADD COLUMN, a verification pass over a
 * rebuilt table against per-row hashes (cs_rowhash) kept by the engine.
 * Missed writes are recorded as local edits of this device, only for the
 * cells whose value differs. ADD COLUMN costs O(1) here: no clock row is
 * written per row (a new column's cells carry the row's existence dot).
 *
 * Crash atomicity: an apply writes only inside its one transaction. The
 * schema is compared with fingerprints stored by the last check (read
 * only; nothing is written while the schema is unchanged); when it changed,
 * the whole check runs inside the apply's transaction, before its first
 * write, and the hashes of the rows an apply wrote are written before its
 * commit. A crash leaves the database exactly as before or as after.
 *
 * Threads: the engine's thread (same rules as engine.h). The engine calls
 * the hooks below itself; the agent calls cs_upgrade_poll() on a timer so
 * that the work is done, in short budgeted transactions, before a sync
 * needs it.
 */
#ifndef CS_SQL_UPGRADE_H
#define CS_SQL_UPGRADE_H

#include <stdint.h>

#include "engine.h"

struct cs_upgrade_result {
	int schema_changed;      /* the app schema or the INI changed since the last check */
	uint32_t tables_added;   /* tables newly tracked (INI), their rows registered */
	uint32_t columns_added;  /* new columns of tracked tables, now synced */
	uint32_t tables_rebuilt; /* tables found rebuilt (triggers dropped): verification */
	uint64_t rows_checked;   /* rows compared in this call */
	uint64_t rows_fixed;     /* rows whose missed writes were recorded as local edits */
	int pending;             /* verification not finished: call again */
};

/*
 * Check the app schema and do up to budget_ms of the verification work
 * (0 = all of it). Each call is one short write transaction, so the app is
 * never blocked for longer than the budget. res may be NULL. Returns 0 or a
 * negative code (CS_SQL_EBUSY: locked, retry; CS_SQL_ECONFIG: the INI no
 * longer matches the schema, the old description stays in force).
 */
int cs_upgrade_check(struct cs_engine *e, uint32_t budget_ms, struct cs_upgrade_result *res);

/*
 * For a timer: when the schema or the INI changed or a verification is
 * pending, one cs_upgrade_check(budget_ms); otherwise nothing is written
 * (one PRAGMA and one stat). 0 or a negative code as cs_upgrade_check.
 */
int cs_upgrade_poll(struct cs_engine *e, uint32_t budget_ms);

/*
 * Hooks called by sql/engine.c, not by the agent.
 * cs_upgrade_guard: before an extract; runs the check to the end (in
 * budgeted transactions) when the schema changed or work is pending, so
 * that no change is exposed before it was verified.
 * cs_upgrade_apply_begin: first thing inside an apply transaction (apply,
 * release of held rows): when needed, the whole check in that transaction,
 * so that nothing is overwritten before it was verified and a crash leaves
 * the database as before or as after the batch.
 * cs_upgrade_installed: inside cs_engine_install's transaction, after the
 * triggers: creates this module's tables and the per-row hash baseline.
 * cs_upgrade_applied: at the end of an apply transaction, before COMMIT:
 * the hashes of the rows it wrote (the engine knows these values).
 * cs_upgrade_rolled_back: after such a transaction was rolled back.
 * cs_upgrade_free: at close.
 */
int cs_upgrade_guard(struct cs_engine *e);
int cs_upgrade_apply_begin(struct cs_engine *e);
int cs_upgrade_installed(struct cs_engine *e);
int cs_upgrade_applied(struct cs_engine *e);
void cs_upgrade_rolled_back(struct cs_engine *e);
void cs_upgrade_free(struct cs_engine *e);

/*
 * Devices on an older app version (docs/MERGE.md "App schema upgrades"):
 * a table or column name of a changeset that this database does not track
 * yet is accepted if cs_upgrade_name_ok() (an identifier, at most 64 bytes,
 * not cs_*): the rows of such a table are held in cs_held until the INI
 * tracks it; the cells of such a column are kept aside in cs_xcell (merged
 * last-writer-wins on (CL, hlc, device)), sent on with the row to other
 * devices, and written into the column once the app's upgrade adds it.
 * cs_upgrade_check_foreign_row / _check_cell validate them (CS_SQL_EBATCH
 * with a sentence), cs_upgrade_keep_cells stores them (inside apply's
 * savepoint; cm maps the batch's columns to local ones, -1 unknown; rid is
 * the local row record or 0), cs_upgrade_extract_kept adds them to an
 * extracted row.
 */
int cs_upgrade_name_ok(const char *name);
int cs_upgrade_check_foreign_row(struct cs_engine *e, const struct cs_changeset *cs, uint32_t ri);
int cs_upgrade_check_cell(struct cs_engine *e, const struct cs_changeset *cs,
    const struct cs_cell *c, const char *table);
int cs_upgrade_keep_cells(struct cs_engine *e, const struct cs_changeset *cs, uint32_t ri,
    const int *cm, int64_t rid, uint64_t maxh);
int cs_upgrade_extract_kept(struct cs_engine *e, struct cs_changeset *out, uint32_t ti,
    const uint8_t gid[CS_GID_LEN], uint64_t cl, const uint8_t *for_dev);

/* Drops this module's cs_* tables (cs_engine_uninstall). */
extern const char cs_upgrade_uninstall_sql[];

#endif
