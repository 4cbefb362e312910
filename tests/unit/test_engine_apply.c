/* Unit tests of sql/engine apply: held rows, refusals, quarantine, cascade,
 * resolutions, cursors, scope, incarnation, and a small random convergence. */
#include "engine_fixture.h"

#define A 0
#define B 1
#define C 2

static struct cs_changeset
extract_all(struct cs_engine *e)
{
	struct cs_changeset cs;

	cs_changeset_init(&cs);
	assert_int_equal(cs_engine_extract(e, 0, NULL, NULL, 1000, &cs), 0);
	return cs;
}

static void
test_orphan_child_waits_for_its_parent(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs = {0}, parent = {0}, child = {0};
	struct cs_apply_result r;
	uint64_t held = 0, q = 0;
	uint32_t i;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'dos')");
	cs = extract_all(f->r[A].e);
	assert_int_equal(cs.nrows, 2);
	/* split it: the child row first, alone */
	cs_changeset_init(&parent);
	cs_changeset_init(&child);
	for (i = 0; i < cs.nrows; i++) {
		struct cs_changeset *dst =
		    strcmp(cs.tables[cs.rows[i].table].name, "patient") == 0 ? &parent : &child;
		const struct cs_row *r0 = &cs.rows[i];
		struct cs_row h = *r0;
		uint32_t k;

		h.table = (uint32_t)cs_changeset_table(dst, cs.tables[r0->table].name);
		for (k = 0; k < cs.tables[r0->table].ncols; k++)
			cs_changeset_col(dst, h.table, cs.tables[r0->table].cols[k]);
		for (k = 0; k < cs.ndevs; k++)
			cs_changeset_dev(dst, cs.devs[k]);
		assert_int_equal(cs_changeset_row_begin(dst, &h), 0);
		for (k = 0; k < r0->ncells; k++) {
			const struct cs_cell *c = &cs.cells[r0->cell_first + k];

			assert_int_equal(cs_changeset_cell(dst, c->col, &c->v, c->hlc, c->dot), 0);
		}
		for (k = 0; k < r0->nvv; k++)
			assert_int_equal(cs_changeset_vv(dst, cs.vv[r0->vv_first + k]), 0);
		assert_int_equal(cs_changeset_row_end(dst), 0);
	}
	assert_int_equal(cs_engine_apply(f->r[B].e, &child, f->r[A].dev, &r), 0);
	assert_int_equal(r.held, 1);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM consultation"), 0);
	assert_int_equal(cs_engine_pending(f->r[B].e, &held, &q), 0);
	assert_int_equal(held, 1);
	assert_int_equal(cs_engine_apply(f->r[B].e, &parent, f->r[A].dev, &r), 0);
	assert_int_equal(r.applied, 1);
	assert_int_equal(r.released, 1);
	assert_int_equal(cs_engine_pending(f->r[B].e, &held, &q), 0);
	assert_int_equal(held, 0);
	fx_assert_converged(f);
	cs_changeset_free(&cs);
	cs_changeset_free(&parent);
	cs_changeset_free(&child);
	fx_free(f);
}

/* Apply a tampered copy; the batch must be refused and B unchanged. */
static void
expect_refused(struct fx *f, struct cs_changeset *cs, const char *needle)
{
	struct cs_apply_result r;
	char *before = fx_dump(f->r[B].e);
	char *after;
	uint64_t v = cs_engine_db_version(f->r[B].e);

	assert_int_equal(cs_engine_apply(f->r[B].e, cs, f->r[A].dev, &r), CS_SQL_EBATCH);
	if (strstr(cs_engine_errmsg(f->r[B].e), needle) == NULL)
		fail_msg("error '%s' lacks '%s'", cs_engine_errmsg(f->r[B].e), needle);
	after = fx_dump(f->r[B].e);
	assert_string_equal(before, after);
	assert_int_equal(cs_engine_db_version(f->r[B].e), v);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_sites"), 1);
	free(before);
	free(after);
}

static void
test_hostile_batches_are_refused_whole(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	char *saved;
	uint32_t saved32;
	uint64_t saved64;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Léa')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'dos')");
	cs = extract_all(f->r[A].e);
	assert_int_equal(cs.nrows, 2);

	saved = cs.tables[cs.rows[1].table].name;
	/* (a well-formed unknown name is a newer app version's: test_upgrade.c) */
	cs.tables[cs.rows[1].table].name = "no such";
	expect_refused(f, &cs, "table 'no such', not tracked here");
	cs.tables[cs.rows[1].table].name = saved;

	saved = cs.tables[0].cols[0];
	cs.tables[0].cols[0] = "colonne inconnue";
	expect_refused(f, &cs, "column 'colonne inconnue'");
	cs.tables[0].cols[0] = saved;

	saved32 = cs.cells[0].col;
	cs.cells[0].col = 999;
	expect_refused(f, &cs, "column index 999 outside the dictionary");
	cs.cells[0].col = saved32;

	saved32 = cs.rows[0].ncells;
	cs.rows[0].ncells = 1000;
	expect_refused(f, &cs, "cells outside the batch");
	cs.rows[0].ncells = saved32;

	saved64 = cs.rows[1].cl;
	cs.rows[1].cl = 2; /* deleted, with cells */
	expect_refused(f, &cs, "even causal length");
	cs.rows[1].cl = saved64;

	{
		uint32_t k;
		enum cs_vtype t = CS_V_NULL;

		for (k = 0; k < cs.ncells; k++)
			if (cs.cells[k].v.type == CS_V_REF) {
				t = cs.cells[k].v.type;
				cs.cells[k].v.type = CS_V_INT; /* FK as a plain int */
				expect_refused(f, &cs, "must be a reference or NULL");
				cs.cells[k].v.type = (enum cs_vtype)77;
				expect_refused(f, &cs, "unknown value type");
				cs.cells[k].v.type = t;
			}
		assert_int_equal(t, CS_V_REF);
	}
	cs.cells[0].v.type = CS_V_REF; /* a reference in a plain column */
	cs.cells[0].v.len = CS_GID_LEN;
	expect_refused(f, &cs, "not a foreign key");
	cs_changeset_free(&cs);
	cs = extract_all(f->r[A].e);
	/* a write its own vector does not cover */
	cs.vv[cs.rows[0].vv_first].n = 0;
	cs.vv[cs.rows[0].vv_first + cs.rows[0].nvv - 1].n = 0;
	expect_refused(f, &cs, "vector does not cover");
	cs_changeset_free(&cs);
	fx_free(f);
}

static void
test_far_future_hlc_is_held_until_the_clock_catches_up(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	struct cs_apply_result r;
	uint64_t held;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	cs = extract_all(f->r[A].e);
	/* B's clock is 10 min behind A's: beyond the 5 min bound */
	f->fake_now = CS_HLC_MS(cs.rows[0].ex_hlc) - 600000;
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, &r), 0);
	assert_int_equal(r.held, 1);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM patient"), 0);
	assert_int_equal(cs_engine_release_held(f->r[B].e, &r), 0);
	assert_int_equal(r.released, 0);
	f->fake_now += 400000; /* now within the bound */
	assert_int_equal(cs_engine_release_held(f->r[B].e, &r), 0);
	assert_int_equal(r.released, 1);
	assert_int_equal(cs_engine_pending(f->r[B].e, &held, NULL), 0);
	assert_int_equal(held, 0);
	/* the hlc was kept as it was, never rewritten */
	assert_int_equal(fx_int(f->r[B].e, "SELECT xh FROM cs_ids"), (int64_t)cs.rows[0].ex_hlc);
	fx_assert_converged(f);
	cs_changeset_free(&cs);
	fx_free(f);
}

static void
test_unique_clash_is_quarantined_and_does_not_stall(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r;
	uint64_t q;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, email) VALUES('Durand', 'x@y')");
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, email) VALUES('Petit', 'p@y')");
	fx_exec(f->r[B].e, "INSERT INTO patient(nom, email) VALUES('Martin', 'x@y')");
	r = fx_sync(f, A, B);
	assert_int_equal(r.quarantined, 1);
	assert_int_equal(r.applied, 1);
	assert_int_equal(cs_engine_pending(f->r[B].e, NULL, &q), 0);
	assert_int_equal(q, 1);
	fx_assert_str(f->r[B].e, "SELECT reason FROM cs_quarantine",
	    "refused by the local database: UNIQUE constraint failed: patient.email");
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM patient"), 2);
	fx_free(f);
}

static void
test_row_deleted_behind_the_triggers_is_quarantined_not_stalling(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_apply_result r;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand'), ('Martin')");
	fx_sync(f, A, B);
	/* B's row vanishes while the triggers are missing (an app rebuild) */
	fx_exec(f->r[B].e, "DROP TRIGGER cs_ad_1; DELETE FROM patient WHERE nom='Durand'");
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='x'");
	r = fx_sync(f, A, B);
	/* sql/upgrade.c's guard finds the missed delete before the apply: it is
	 * B's delete (edit vs delete, recorded), nothing is quarantined */
	assert_int_equal(r.quarantined, 0);
	fx_assert_str(f->r[B].e, "SELECT group_concat(prenom) FROM patient", "x");
	assert_true(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts") >= 1);
	/* B's own stream to A goes on past that row */
	fx_exec(f->r[B].e, "UPDATE patient SET nom='Martine'");
	fx_sync(f, B, A);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM patient WHERE nom='Martine'"), 1);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM patient"), 1);
	fx_free(f);
}

static void
test_remote_parent_delete_cascades_children_here(void **state)
{
	struct fx *f = fx_new(2);

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'dos')");
	fx_sync_all(f);
	/* B adds a consultation A never saw; A deletes the patient meanwhile */
	fx_exec(f->r[B].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'genou')");
	fx_exec(f->r[A].e, "PRAGMA foreign_keys=ON; DELETE FROM patient");
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM consultation"), 0);
	fx_sync_all(f);
	fx_assert_converged(f);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM consultation"), 0);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM patient"), 0);
	/* B's consultation lost to the delete: recorded, not silent */
	assert_true(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts WHERE win_del=1") >= 1);
	fx_free(f);
}

static int
first_conflict(void *ctx, const struct cs_conflict *c)
{
	int64_t *id = ctx;

	*id = c->id;
	assert_string_equal(c->table, "patient");
	assert_string_equal(c->column, "prenom");
	assert_int_equal(c->loser.type, CS_V_TEXT);
	return 1;
}

static void
test_conflict_resolution_reaches_every_replica(void **state)
{
	struct fx *f = fx_new(3);
	int64_t id = 0;
	char *loser;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Léa')");
	fx_sync_all(f);
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='A'");
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='B'");
	fx_sync_all(f);
	fx_assert_converged(f);
	assert_int_equal(cs_engine_conflicts(f->r[C].e, 1, first_conflict, &id), 1);
	loser = fx_q(f->r[C].e, "SELECT lose_val FROM cs_conflicts");
	assert_int_equal(cs_engine_conflict_resolve(f->r[C].e, id, CS_RESOLVE_TAKE_THEIRS), 0);
	assert_int_equal(cs_engine_conflict_resolve(f->r[C].e, id, CS_RESOLVE_KEEP_MINE),
	    CS_SQL_ENOCONFLICT);
	fx_sync_all(f);
	fx_assert_converged(f);
	fx_assert_str(f->r[A].e, "SELECT prenom FROM patient", loser);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts WHERE resolved=0"),
	    0);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts WHERE resolved=0"),
	    0);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 1);
	free(loser);
	fx_free(f);
}

static void
test_batches_are_bounded_and_the_cursor_is_safe(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	uint64_t cur = 0;
	int more, batches = 0;
	uint32_t total = 0;

	(void)state;
	cs_changeset_init(&cs);
	fx_exec(f->r[A].e,
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE "
	    "i<25) INSERT INTO patient(nom) SELECT 'p' || i FROM n");
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='x' WHERE id % 3 = 0");
	do {
		more = cs_engine_extract(f->r[A].e, cur, NULL, NULL, 4, &cs);
		assert_true(more >= 0);
		assert_true(cs.nrows <= 4);
		total += cs.nrows;
		assert_true(cs.db_version >= cur);
		cur = cs.db_version;
		assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL), 0);
		batches++;
	} while (more);
	assert_int_equal(total, 25);
	assert_int_equal(batches, 7);
	assert_int_equal(cur, cs_engine_db_version(f->r[A].e));
	/* nothing new: an empty batch, same cursor */
	assert_int_equal(cs_engine_extract(f->r[A].e, cur, NULL, NULL, 4, &cs), 0);
	assert_int_equal(cs.nrows, 0);
	assert_int_equal(cs.db_version, cur);
	fx_assert_converged(f);
	/* B sending back to A leaves out what A wrote itself */
	assert_int_equal(cs_engine_extract(f->r[B].e, 0, f->r[A].dev, NULL, 100, &cs), 0);
	assert_int_equal(cs.nrows, 0);
	cs_changeset_free(&cs);
	fx_free(f);
}

static void
test_extraction_filters_by_practitioner_scope(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	struct cs_scope sc;
	uint8_t prac[CS_GID_LEN];
	uint32_t i;

	(void)state;
	memset(prac, 0x42, sizeof(prac));
	cs_changeset_init(&cs);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('partagé'), ('privé')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'a'), (2, 'b')");
	fx_exec(f->r[A].e,
	    "INSERT INTO cs_shares(patient, practitioner, perm, grant_hlc) SELECT "
	    "gid, x'42424242424242424242424242424242', 'write', 0 FROM cs_ids WHERE "
	    "pk=1 AND tid=1");
	sc.practitioner = prac;
	sc.patient = NULL;
	assert_int_equal(cs_engine_extract(f->r[A].e, 0, NULL, &sc, 100, &cs), 0);
	assert_int_equal(cs.nrows, 2);
	for (i = 0; i < cs.nrows; i++)
		assert_memory_not_equal(cs.rows[i].patient, (uint8_t[CS_GID_LEN]){0}, CS_GID_LEN);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL), 0);
	fx_assert_str(f->r[B].e, "SELECT group_concat(nom) FROM patient", "partagé");
	fx_assert_str(f->r[B].e, "SELECT group_concat(motif) FROM consultation", "a");
	/* one (peer, patient) pair from zero */
	{
		uint8_t pat[CS_GID_LEN];
		sqlite3_stmt *st;

		sqlite3_prepare_v2(cs_engine_handle(f->r[A].e),
		    "SELECT gid FROM cs_ids WHERE tid=1 AND pk=1", -1, &st, NULL);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		memcpy(pat, sqlite3_column_blob(st, 0), CS_GID_LEN);
		sqlite3_finalize(st);
		sc.patient = pat;
		assert_int_equal(cs_engine_extract(f->r[A].e, 0, NULL, &sc, 100, &cs), 0);
		assert_int_equal(cs.nrows, 2);
		/* revoked: nothing */
		fx_exec(f->r[A].e, "UPDATE cs_shares SET revoke_hlc=1");
		assert_int_equal(cs_engine_extract(f->r[A].e, 0, NULL, &sc, 100, &cs), 0);
		assert_int_equal(cs.nrows, 0);
	}
	cs_changeset_free(&cs);
	fx_free(f);
}

static void
test_purge_removes_a_patient_here_only_and_a_new_share_restores_it(void **state)
{
	struct fx *f = fx_new(2);
	uint8_t pat[CS_GID_LEN];
	sqlite3_stmt *st;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand'), ('Martin')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'a'), (2, 'b')");
	fx_sync(f, A, B);
	sqlite3_prepare_v2(cs_engine_handle(f->r[B].e),
	    "SELECT gid FROM cs_ids i JOIN patient p ON p.id=i.pk AND i.tid=1 WHERE "
	    "p.nom='Durand'",
	    -1, &st, NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	memcpy(pat, sqlite3_column_blob(st, 0), CS_GID_LEN);
	sqlite3_finalize(st);
	assert_int_equal(cs_engine_purge_patient(f->r[B].e, pat), 2);
	fx_assert_str(f->r[B].e, "SELECT group_concat(nom) FROM patient", "Martin");
	fx_assert_str(f->r[B].e, "SELECT group_concat(motif) FROM consultation", "b");
	/* nothing propagates */
	f->cur[B][A] = 0;
	fx_sync(f, B, A);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM patient"), 2);
	/* shared again: from zero, as new rows */
	f->cur[A][B] = 0;
	fx_sync(f, A, B);
	fx_assert_converged(f);
	fx_free(f);
}

static void
test_scope_move_is_a_removal_for_who_loses_sight(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	struct cs_scope sc;
	uint8_t prac[CS_GID_LEN];
	uint64_t cur;

	(void)state;
	memset(prac, 0x42, sizeof(prac));
	cs_changeset_init(&cs);
	sc.practitioner = prac;
	sc.patient = NULL;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('partagé'), ('privé')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'a'), (2, 'b')");
	fx_exec(f->r[A].e,
	    "INSERT INTO cs_shares(patient, practitioner, perm, grant_hlc) SELECT "
	    "gid, x'42424242424242424242424242424242', 'write', 0 FROM cs_ids WHERE "
	    "pk=1 AND tid=1");
	assert_int_equal(cs_engine_extract(f->r[A].e, 0, NULL, &sc, 100, &cs), 0);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL), 0);
	cur = cs.db_version;
	fx_assert_str(f->r[B].e, "SELECT group_concat(motif) FROM consultation", "a");
	/* consultation 'a' moves to the private patient, 'b' to the shared one */
	fx_exec(f->r[A].e, "UPDATE consultation SET patient_id=3-patient_id");
	assert_int_equal(cs_engine_extract(f->r[A].e, cur, NULL, &sc, 100, &cs), 0);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL), 0);
	fx_assert_str(f->r[B].e, "SELECT group_concat(motif) FROM consultation", "b");
	fx_assert_str(f->r[B].e,
	    "SELECT p.nom FROM consultation c JOIN patient p ON "
	    "p.id=c.patient_id",
	    "partagé");
	/* the removal was not captured: B has nothing of its own to send */
	assert_int_equal(cs_engine_extract(f->r[B].e, 0, f->r[A].dev, NULL, 100, &cs), 0);
	assert_int_equal(cs.nrows, 0);
	cs_changeset_free(&cs);
	fx_free(f);
}

/* Roster of the test: device 0xa0.. is practitioner 0x11.., 0xa2.. is 0x22.. */
static int
roster(void *ctx, const uint8_t dev[CS_DEVID_LEN], uint8_t out[CS_GID_LEN])
{
	(void)ctx;
	if (dev[0] != 0xa0 && dev[0] != 0xa2)
		return 0;
	memset(out, dev[0] == 0xa0 ? 0x11 : 0x22, CS_GID_LEN);
	return 1;
}

static void
test_apply_checks_rights_holds_undecided_refuses_invalid(void **state)
{
	struct fx *f = fx_new(3);
	struct cs_engine_opts o = {0};
	struct cs_apply_result r;
	char sql[600];
	char *gid;

	(void)state;
	cs_engine_close(f->r[B].e);
	o.db_path = f->r[B].path;
	o.tables_ini = f->ini;
	o.device_id = f->r[B].dev;
	o.practitioner_of = roster;
	assert_int_equal(cs_engine_open(&f->r[B].e, &o), 0);
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	/* no share record yet at B: undecidable, held */
	r = fx_sync(f, A, B);
	assert_int_equal(r.held, 1);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM patient"), 0);
	/* A's practitioner owns the patient: the record arrives, the row goes */
	gid = fx_q(f->r[A].e, "SELECT hex(gid) FROM cs_ids");
	snprintf(sql, sizeof(sql),
	    "INSERT INTO cs_shares VALUES(x'%s', x'11111111111111111111111111111111', 'owner', 0, "
	    "NULL), (x'%s', x'22222222222222222222222222222222', 'read', 0, NULL)",
	    gid, gid);
	fx_exec(f->r[B].e, sql);
	assert_int_equal(cs_engine_release_held(f->r[B].e, &r), 0);
	assert_int_equal(r.released, 1);
	fx_assert_str(f->r[B].e, "SELECT nom FROM patient", "Durand");
	/* C's practitioner may only read: its edit is refused at B */
	fx_sync(f, A, C);
	fx_exec(f->r[C].e, "UPDATE patient SET nom='Dupont'");
	r = fx_sync(f, C, B);
	assert_int_equal(r.refused, 1);
	assert_int_equal(r.applied, 0);
	fx_assert_str(f->r[B].e, "SELECT nom FROM patient", "Durand");
	/* A's later edit is valid */
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='Léa'");
	r = fx_sync(f, A, B);
	assert_int_equal(r.applied, 1);
	free(gid);
	fx_free(f);
}

static void
test_change_validity_is_a_function_of_shares_and_hlc(void **state)
{
	struct fx *f = fx_new(1);
	struct cs_engine *e = f->r[0].e;
	uint8_t pat[CS_GID_LEN], p1[CS_GID_LEN], p2[CS_GID_LEN], p3[CS_GID_LEN];

	(void)state;
	memset(pat, 1, sizeof(pat));
	memset(p1, 0x11, sizeof(p1));
	memset(p2, 0x22, sizeof(p2));
	memset(p3, 0x33, sizeof(p3));
	assert_int_equal(cs_engine_change_valid(e, pat, p1, 100, 0), CS_EAGAIN);
	fx_exec(e,
	    "INSERT INTO cs_shares VALUES(x'01010101010101010101010101010101', "
	    "x'11111111111111111111111111111111', 'owner', 0, NULL),"
	    "(x'01010101010101010101010101010101', x'22222222222222222222222222222222', "
	    "'write', 100, 200),"
	    "(x'01010101010101010101010101010101', x'33333333333333333333333333333333', "
	    "'read', 0, NULL)");
	assert_int_equal(cs_engine_change_valid(e, pat, p1, 5, 1), 1);
	assert_int_equal(cs_engine_change_valid(e, pat, p2, 99, 0), 0);
	assert_int_equal(cs_engine_change_valid(e, pat, p2, 100, 0), 1);
	assert_int_equal(cs_engine_change_valid(e, pat, p2, 199, 0), 1);
	assert_int_equal(cs_engine_change_valid(e, pat, p2, 200, 0), 0);
	assert_int_equal(cs_engine_change_valid(e, pat, p2, 150, 1), 0); /* delete needs full */
	assert_int_equal(cs_engine_change_valid(e, pat, p3, 150, 0), 0); /* read only */
	fx_free(f);
}

static void
test_restored_database_takes_a_new_incarnation(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_engine_opts o = {0};
	uint8_t inc[CS_GID_LEN], site0[CS_DEVID_LEN], site1[CS_DEVID_LEN];

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	cs_engine_incarnation(f->r[A].e, inc);
	cs_engine_site(f->r[A].e, site0);
	assert_memory_equal(site0, f->r[A].dev, CS_DEVID_LEN);
	cs_engine_close(f->r[A].e);
	o.db_path = f->r[A].path;
	o.tables_ini = f->ini;
	o.device_id = f->r[A].dev;
	o.expected_incarnation = inc;
	o.min_db_version = 1;
	assert_int_equal(cs_engine_open(&f->r[A].e, &o), 0);
	assert_false(cs_engine_reincarnated(f->r[A].e));
	cs_engine_close(f->r[A].e);
	/* the agent saw db_version 5 before; the file says 1: a restored backup */
	o.min_db_version = 5;
	assert_int_equal(cs_engine_open(&f->r[A].e, &o), 0);
	assert_true(cs_engine_reincarnated(f->r[A].e));
	cs_engine_site(f->r[A].e, site1);
	assert_memory_not_equal(site0, site1, CS_DEVID_LEN);
	cs_engine_incarnation(f->r[A].e, o.expected_incarnation == inc ? site1 : site1);
	/* new writes use the new site; old rows keep their dots */
	fx_exec(f->r[A].e, "UPDATE patient SET nom='Dupont'");
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(DISTINCT s) FROM cs_clock"), 1);
	assert_int_equal(fx_int(f->r[A].e, "SELECT s FROM cs_clock"),
	    fx_int(f->r[A].e, "SELECT v FROM cs_meta WHERE k='site'"));
	fx_sync_all(f);
	fx_assert_converged(f);
	assert_int_equal(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts"), 0);
	fx_free(f);
}

static void
test_app_trigger_writes_during_apply_are_captured(void **state)
{
	struct fx *f = fx_new(2);

	(void)state;
	/* B's app bumps the patient's name when a consultation is added */
	fx_exec(f->r[B].e,
	    "CREATE TRIGGER app_touch AFTER INSERT ON consultation BEGIN UPDATE "
	    "patient SET prenom='vu' WHERE id=NEW.patient_id; END");
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_sync(f, A, B);
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'dos')");
	fx_sync(f, A, B);
	fx_assert_str(f->r[B].e, "SELECT prenom FROM patient", "vu");
	/* a local change of B: it travels back to A */
	fx_sync(f, B, A);
	fx_assert_str(f->r[A].e, "SELECT prenom FROM patient", "vu");
	fx_assert_converged(f);
	fx_free(f);
}

static void
test_apply_failing_allocation_leaves_database_unchanged(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	long n;
	int rc, ok = 0;

	(void)state;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(f->r[A].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'dos')");
	fx_exec(f->r[B].e, "INSERT INTO patient(nom) VALUES('Martin')");
	cs = extract_all(f->r[A].e);
	for (n = 0; n < 5000 && !ok; n += 7) {
		char *before = fx_dump(f->r[B].e);
		char *after;
		uint64_t v = cs_engine_db_version(f->r[B].e);

		cs_mem_fail_after(n, 1);
		rc = cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL);
		cs_mem_fail_after(-1, 0);
		after = fx_dump(f->r[B].e);
		if (rc == 0) {
			ok = 1;
		} else {
			assert_true(rc == CS_ENOMEM || rc == CS_SQL_ESQLITE);
			assert_string_equal(before, after);
			assert_int_equal(cs_engine_db_version(f->r[B].e), v);
		}
		free(before);
		free(after);
	}
	assert_true(ok);
	fx_sync(f, A, B);
	fx_assert_str(f->r[B].e, "SELECT count(*) FROM patient", "2");
	cs_changeset_free(&cs);
	fx_free(f);
}

/* A small random convergence run (the full simulator lives in tests/sim). */
static uint64_t rng_s;

static uint32_t
rnd(uint32_t n)
{
	rng_s = rng_s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_s >> 33) % n;
}

static void
random_op(struct fx *f, int i)
{
	char sql[300];
	int k = (int)rnd(12);

	switch (k) {
	case 0:
	case 1:
		snprintf(sql, sizeof(sql), "INSERT INTO patient(nom, prenom) VALUES('n%u', 'p%u')",
		    rnd(100), rnd(100));
		break;
	case 2:
	case 3:
		snprintf(sql, sizeof(sql),
		    "INSERT INTO consultation(patient_id, motif, poids) SELECT id, 'm%u', %u.5 "
		    "FROM patient ORDER BY random() LIMIT 1",
		    rnd(100), rnd(90));
		break;
	case 4:
	case 5:
		snprintf(sql, sizeof(sql),
		    "UPDATE patient SET prenom='u%u' WHERE id IN (SELECT id FROM patient ORDER BY "
		    "random() LIMIT 1)",
		    rnd(5));
		break;
	case 6:
		snprintf(sql, sizeof(sql),
		    "UPDATE consultation SET notes='n%u', motif='x%u' WHERE id IN (SELECT id FROM "
		    "consultation ORDER BY random() LIMIT 1)",
		    rnd(5), rnd(3));
		break;
	case 7:
		snprintf(sql, sizeof(sql),
		    "DELETE FROM consultation WHERE id IN (SELECT id FROM "
		    "consultation ORDER BY random() LIMIT 1)");
		break;
	case 8:
		snprintf(sql, sizeof(sql),
		    "INSERT OR REPLACE INTO document(uuid, patient_id, titre) SELECT 'd%d.%u', id, "
		    "'t%u' FROM patient ORDER BY random() LIMIT 1",
		    i, rnd(4), rnd(9));
		break;
	case 10:
		/* a scope move: the consultation now belongs to another patient */
		snprintf(sql, sizeof(sql),
		    "UPDATE consultation SET patient_id=(SELECT id FROM patient ORDER BY random() "
		    "LIMIT 1) WHERE id IN (SELECT id FROM consultation ORDER BY random() LIMIT 1)");
		break;
	case 11:
		if (rnd(3) != 0)
			return;
		snprintf(sql, sizeof(sql),
		    "PRAGMA foreign_keys=ON; DELETE FROM patient WHERE id IN (SELECT id FROM "
		    "patient "
		    "ORDER BY random() LIMIT 1); PRAGMA foreign_keys=OFF");
		break;
	default:
		/* natural keys are per replica here: two devices creating the same
		 * TEXT key is a UNIQUE clash, quarantined (see the quarantine test) */
		snprintf(sql, sizeof(sql), "DELETE FROM document WHERE uuid='d%u.%u'", rnd(3),
		    rnd(4));
		break;
	}
	fx_exec(f->r[i].e, sql);
}

static void
test_random_histories_converge(void **state)
{
	int seed, nseeds = getenv("CS_ENGINE_SEEDS") ? atoi(getenv("CS_ENGINE_SEEDS")) : 12;

	(void)state;
	for (seed = 1; seed <= nseeds; seed++) {
		struct fx *f = fx_new(3);
		int step;

		rng_s = (uint64_t)seed;
		fx_exec(f->r[0].e, "SELECT 1"); /* sqlite random() is not seeded: order only */
		for (step = 0; step < 60; step++) {
			int a = (int)rnd(3), b = (int)rnd(3);

			if (rnd(3) == 0 && a != b)
				fx_sync_n(f, a, b, 1 + rnd(5));
			else
				random_op(f, a);
		}
		fx_sync_all(f);
		if (getenv("CS_ENGINE_SEEDS"))
			fprintf(stderr, "seed %d\n", seed);
		fx_assert_converged(f);
		fx_free(f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_orphan_child_waits_for_its_parent),
	    cmocka_unit_test(test_hostile_batches_are_refused_whole),
	    cmocka_unit_test(test_far_future_hlc_is_held_until_the_clock_catches_up),
	    cmocka_unit_test(test_unique_clash_is_quarantined_and_does_not_stall),
	    cmocka_unit_test(test_remote_parent_delete_cascades_children_here),
	    cmocka_unit_test(test_row_deleted_behind_the_triggers_is_quarantined_not_stalling),
	    cmocka_unit_test(test_conflict_resolution_reaches_every_replica),
	    cmocka_unit_test(test_batches_are_bounded_and_the_cursor_is_safe),
	    cmocka_unit_test(test_extraction_filters_by_practitioner_scope),
	    cmocka_unit_test(test_change_validity_is_a_function_of_shares_and_hlc),
	    cmocka_unit_test(test_apply_checks_rights_holds_undecided_refuses_invalid),
	    cmocka_unit_test(test_scope_move_is_a_removal_for_who_loses_sight),
	    cmocka_unit_test(test_purge_removes_a_patient_here_only_and_a_new_share_restores_it),
	    cmocka_unit_test(test_restored_database_takes_a_new_incarnation),
	    cmocka_unit_test(test_app_trigger_writes_during_apply_are_captured),
	    cmocka_unit_test(test_apply_failing_allocation_leaves_database_unchanged),
	    cmocka_unit_test(test_random_histories_converge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
