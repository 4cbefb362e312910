/*
 * tests/unit/test_engine_oom_txn.c: sim bug 4 (tests/sim/README.md), the
 * engine under allocation failure (cs_mem_fail_after reaches SQLite too).
 *
 * Found by unit_apply_oom: a failed apply left its transaction open (the
 * ROLLBACK itself could not be prepared), an apply that SQLite got through
 * wrote clocks with a stale db_version (the max(v) read failed and counted as
 * 0), a text/blob bind that failed left NULL in its place. These tests pin
 * the three consequences down on a small schema: after any failure the
 * connection is out of its transaction and the next call works on the same
 * engine; an apply either fails or equals the clean result; an extraction
 * either fails or returns exactly the clean batch (a row silently dropped
 * from a batch would be lost: the cursor moves past it).
 */
#include "engine_fixture.h"

#define A 0
#define B 1

#define MAX_INDEX 100000

static void
fill_a(struct fx *f)
{
	fx_exec(f->r[A].e,
	    "INSERT INTO patient(nom, prenom, email) VALUES('Durand', 'Léa', 'lea@x'), "
	    "('Petit', 'Jean', 'jean@x'), ('Moreau', 'Anne', NULL);"
	    "INSERT INTO consultation(patient_id, motif, notes, poids) VALUES(1, 'dos', "
	    "'lombalgie', 61.5), (1, 'cou', NULL, 61.0), (2, 'genou', 'entorse', 80.2);"
	    "INSERT INTO document(uuid, patient_id, titre) VALUES('d-1', 1, 'radio'), "
	    "('d-2', 3, 'courrier');"
	    "UPDATE patient SET prenom='Jean-Luc' WHERE id=2; DELETE FROM consultation WHERE "
	    "id=2;");
}

/* The row gids of cs, concatenated (to compare batches). */
static void
gids_of(const struct cs_changeset *cs, uint8_t *out, size_t cap)
{
	uint32_t i;

	assert_true(cs->nrows * CS_GID_LEN <= cap);
	for (i = 0; i < cs->nrows; i++)
		memcpy(out + (size_t)i * CS_GID_LEN, cs->rows[i].gid, CS_GID_LEN);
}

static void
extract_under_failures(int repeat)
{
	struct fx *f = fx_new(2);
	struct cs_changeset ref, cs;
	uint8_t rg[64 * CS_GID_LEN], g[64 * CS_GID_LEN];
	long i, failed = 0, errors = 0;
	int more_ref, more;

	fill_a(f);
	cs_changeset_init(&ref);
	cs_changeset_init(&cs);
	/* a bounded batch in the middle of the stream, and its clean result */
	more_ref = cs_engine_extract(f->r[A].e, 2, NULL, NULL, 3, &ref);
	assert_int_equal(more_ref, 1);
	gids_of(&ref, rg, sizeof(rg));
	for (i = 0; i < MAX_INDEX; i++) {
		cs_mem_fail_after(i, repeat);
		more = cs_engine_extract(f->r[A].e, 2, NULL, NULL, 3, &cs);
		cs_mem_fail_after(-1, 0);
		if (cs_mem_failed_count() == 0) {
			assert_int_equal(more, more_ref);
			break;
		}
		failed++;
		if (!sqlite3_get_autocommit(cs_engine_handle(f->r[A].e)))
			fail_msg("allocation %ld failed: extract left its read transaction open",
			    i);
		if (more < 0) {
			errors++;
			if (more != CS_ENOMEM && more != CS_SQL_ESQLITE)
				fail_msg("allocation %ld failed: extract -> %d (%s)", i, more,
				    cs_engine_errmsg(f->r[A].e));
			continue;
		}
		/* it went through: the very same batch, no row left out */
		if (more != more_ref || cs.nrows != ref.nrows || cs.db_version != ref.db_version)
			fail_msg(
			    "allocation %ld failed: extract returned %d with %u rows up to %llu, "
			    "not %d with %u rows up to %llu",
			    i, more, cs.nrows, (unsigned long long)cs.db_version, more_ref,
			    ref.nrows, (unsigned long long)ref.db_version);
		gids_of(&cs, g, sizeof(g));
		assert_memory_equal(g, rg, (size_t)ref.nrows * CS_GID_LEN);
		assert_int_equal(cs.ncells, ref.ncells);
	}
	assert_true(i < MAX_INDEX);
	assert_true(failed > 10);
	assert_true(errors > 0);
	/* the engine is still usable: the whole stream applies at B */
	fx_sync_n(f, A, B, 2);
	fx_sync_all(f);
	fx_assert_converged(f);
	cs_changeset_free(&ref);
	cs_changeset_free(&cs);
	fx_free(f);
}

static void
test_extract_fails_cleanly_or_returns_the_whole_batch(void **state)
{
	(void)state;
	extract_under_failures(1);
	extract_under_failures(0);
}

/* Copy a closed database file (its WAL was checkpointed away on close). */
static void
copy_db(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out;
	char buf[65536], p[320];
	size_t n;

	assert_non_null(in);
	snprintf(p, sizeof(p), "%s-wal", to);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", to);
	unlink(p);
	assert_non_null(out = fopen(to, "wb"));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

static void
hex_add(char **p, size_t *len, size_t *cap, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (*len + 3 > *cap) {
			*cap = *cap * 2 + 256;
			assert_non_null(*p = realloc(*p, *cap));
		}
		*len += (size_t)snprintf(*p + *len, *cap - *len, "%02x", b[i]);
	}
}

static void
num_add(char **p, size_t *len, size_t *cap, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	hex_add(p, len, cap, b, 8);
}

/* Everything an extraction says (rows, dots, hlcs, values, vectors) as text. */
static char *
cs_text(const struct cs_changeset *cs)
{
	char *p = NULL;
	size_t len = 0, cap = 0;
	uint32_t i, k;

	hex_add(&p, &len, &cap, (const uint8_t *)"", 0);
	num_add(&p, &len, &cap, cs->db_version);
	for (i = 0; i < cs->nrows; i++) {
		const struct cs_row *r = &cs->rows[i];

		hex_add(&p, &len, &cap, (const uint8_t *)cs->tables[r->table].name,
		    strlen(cs->tables[r->table].name));
		hex_add(&p, &len, &cap, r->gid, CS_GID_LEN);
		num_add(&p, &len, &cap, r->cl);
		hex_add(&p, &len, &cap, cs->devs[r->ex_dot.dev], CS_DEVID_LEN);
		num_add(&p, &len, &cap, r->ex_dot.n);
		num_add(&p, &len, &cap, r->ex_hlc);
		for (k = 0; k < r->ncells; k++) {
			const struct cs_cell *c = &cs->cells[r->cell_first + k];
			const char *cn = cs->tables[r->table].cols[c->col];

			hex_add(&p, &len, &cap, (const uint8_t *)cn, strlen(cn));
			hex_add(&p, &len, &cap, cs->devs[c->dot.dev], CS_DEVID_LEN);
			num_add(&p, &len, &cap, c->dot.n);
			num_add(&p, &len, &cap, c->hlc);
			num_add(&p, &len, &cap, (uint64_t)c->v.type);
			if (c->v.type == CS_V_INT)
				num_add(&p, &len, &cap, (uint64_t)c->v.u.i);
			else if (c->v.len > 0)
				hex_add(&p, &len, &cap, c->v.p, c->v.len);
		}
		for (k = 0; k < r->nvv; k++) {
			hex_add(&p, &len, &cap, cs->devs[cs->vv[r->vv_first + k].dev],
			    CS_DEVID_LEN);
			num_add(&p, &len, &cap, cs->vv[r->vv_first + k].n);
		}
	}
	return p;
}

static char *
extract_text(struct cs_engine *e)
{
	struct cs_changeset cs;
	char *t;

	cs_changeset_init(&cs);
	assert_int_equal(cs_engine_extract(e, 0, NULL, NULL, 1000, &cs), 0);
	t = cs_text(&cs);
	cs_changeset_free(&cs);
	return t;
}

/*
 * For each allocation index: B (a fresh copy of its state) applies A's batch
 * with that allocation (and every later one) failing, then again with none
 * on the same engine. The failed call leaves no transaction open and nothing
 * written; the clean one succeeds (the site cache and the statements survived
 * the rollback) and B's own extraction is then exactly that of a reference
 * copy that applied once, cleanly: same rows, dots, hlcs, vectors and local
 * db_versions (a stale db_version on a clock hides the cell's dot).
 */
static void
test_apply_after_a_failed_apply_is_whole(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	char tpl[300], *want, *want_b;
	uint64_t want_v;
	long i, failed = 0;
	int rc;

	(void)state;
	f->fake_now = (uint64_t)time(NULL) * 1000;
	fill_a(f);
	/* B edits what A edits too: conflicts are recorded during the apply */
	fx_sync(f, A, B);
	fx_exec(f->r[A].e,
	    "UPDATE patient SET email='lea@a' WHERE id=1; "
	    "DELETE FROM patient WHERE id=3; "
	    "INSERT INTO patient(nom) VALUES('Neuf')");
	fx_exec(f->r[B].e,
	    "UPDATE patient SET email='lea@b' WHERE id=1; "
	    "UPDATE document SET titre='courrier B' WHERE uuid='d-2'");
	cs_changeset_init(&cs);
	assert_int_equal(cs_engine_extract(f->r[A].e, f->cur[A][B], NULL, NULL, 1000, &cs), 0);
	assert_true(cs.nrows >= 3);
	cs_engine_close(f->r[B].e);
	f->r[B].e = NULL;
	snprintf(tpl, sizeof(tpl), "%s/b-before.db", f->dir);
	copy_db(f->r[B].path, tpl);
	/* the reference: one clean apply */
	assert_int_equal(fx_open_one(f, B), 0);
	assert_int_equal(cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL), 0);
	assert_true(fx_int(f->r[B].e, "SELECT count(*) FROM cs_conflicts") > 0);
	fx_assert_str(f->r[B].e, "SELECT prenom FROM patient WHERE nom='Petit'", "Jean-Luc");
	want = extract_text(f->r[B].e);
	want_b = fx_dump(f->r[B].e);
	want_v = cs_engine_db_version(f->r[B].e);
	cs_engine_close(f->r[B].e);
	f->r[B].e = NULL;
	/* every index where the transaction opens and closes, then a stride
	 * (unit_apply_oom fails every index of a bigger batch) */
	for (i = 0; i < MAX_INDEX; i += i < 80 ? 1 : 5) {
		uint64_t v0;
		char *got;

		copy_db(tpl, f->r[B].path);
		assert_int_equal(fx_open_one(f, B), 0);
		v0 = cs_engine_db_version(f->r[B].e);
		cs_mem_fail_after(i, 1);
		rc = cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL);
		cs_mem_fail_after(-1, 0);
		if (cs_mem_failed_count() == 0) {
			assert_int_equal(rc, 0);
			break;
		}
		failed++;
		if (!sqlite3_get_autocommit(cs_engine_handle(f->r[B].e)))
			fail_msg("allocation %ld failed (apply -> %d): transaction left open", i,
			    rc);
		if (rc < 0)
			assert_int_equal(cs_engine_db_version(f->r[B].e), v0); /* nothing written */
		rc = cs_engine_apply(f->r[B].e, &cs, f->r[A].dev, NULL);
		if (rc != 0)
			fail_msg("allocation %ld failed, then a clean apply -> %d (%s)", i, rc,
			    cs_engine_errmsg(f->r[B].e));
		got = fx_dump(f->r[B].e);
		if (strcmp(got, want_b) != 0)
			fail_msg("allocation %ld failed: B's tables differ from the reference", i);
		free(got);
		got = extract_text(f->r[B].e);
		if (strcmp(got, want) != 0)
			fail_msg("allocation %ld failed: B's clocks differ from the reference", i);
		free(got);
		assert_int_equal(cs_engine_db_version(f->r[B].e), want_v);
		cs_engine_close(f->r[B].e);
		f->r[B].e = NULL;
	}
	assert_true(i < MAX_INDEX);
	assert_true(failed > 10);
	free(want);
	free(want_b);
	cs_changeset_free(&cs);
	fx_free(f);
}

int
main(void)
{
	struct cs_engine_opts o;
	struct cs_engine *probe = NULL;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_extract_fails_cleanly_or_returns_the_whole_batch),
	    cmocka_unit_test(test_apply_after_a_failed_apply_is_whole),
	};

	/* the engine's first open routes SQLite through cs_malloc: before any
	 * other SQLite call, or the failures would not reach SQLite */
	memset(&o, 0, sizeof(o));
	o.db_path = "/nonexistent-dir-cs-oom-txn/x.db";
	o.tables_ini = "/nonexistent-dir-cs-oom-txn/tables.ini";
	o.device_id = (const uint8_t *)"0123456789abcdef";
	if (cs_engine_open(&probe, &o) == 0)
		cs_engine_close(probe);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
