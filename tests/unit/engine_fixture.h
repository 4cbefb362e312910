/*
 * tests/unit/engine_fixture.h: shared helpers of the engine unit tests
 * (replicas in a temp directory, a small practice schema, sync of two
 * replicas through extract/apply). Header-only, included by test_engine*.c.
 */
#ifndef CS_TEST_ENGINE_FIXTURE_H
#define CS_TEST_ENGINE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/change.h"
#include "base/err.h"
#include "base/mem.h"
#include "sql/engine.h"

#define FX_MAX 4

static const char fx_schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE patient(id INTEGER PRIMARY KEY, nom TEXT NOT NULL, prenom TEXT, "
    " email TEXT UNIQUE, photo BLOB);"
    "CREATE TABLE consultation(id INTEGER PRIMARY KEY, patient_id INTEGER REFERENCES "
    " patient(id) ON DELETE CASCADE, motif TEXT, notes TEXT, poids REAL);"
    "CREATE TABLE document(uuid TEXT PRIMARY KEY, patient_id INTEGER, titre TEXT);"
    "CREATE TABLE untracked(x);";

static const char fx_ini[] = "[engine]\n"
                             "future_bound_ms = 300000\n"
                             "[table patient]\n"
                             "pk = id\n"
                             "scope = self\n"
                             "label = nom || ' ' || prenom\n"
                             "[table consultation]\n"
                             "pk = id\n"
                             "scope = patient_id\n"
                             "fk = patient_id -> patient\n"
                             "[table document]\n"
                             "pk = uuid\n"
                             "scope = patient_id\n"
                             "fk = patient_id -> patient\n";

struct fx_rep {
	struct cs_engine *e;
	char path[256];
	uint8_t dev[CS_DEVID_LEN];
};

struct fx {
	char dir[128];
	char ini[256];
	int n;
	struct fx_rep r[FX_MAX];
	uint64_t cur[FX_MAX][FX_MAX]; /* cur[from][to]: to's cursor on from */
	uint64_t fake_now;            /* 0: wall clock */
};

static uint64_t
fx_clock(void *ctx)
{
	struct fx *f = ctx;
	struct timespec ts;

	if (f->fake_now != 0)
		return f->fake_now;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
fx_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
fx_exec(struct cs_engine *e, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(cs_engine_handle(e), sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		fail_msg("sql failed: %s: %s", sql, err ? err : "?");
}

static int
fx_open_one(struct fx *f, int i)
{
	struct cs_engine_opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.db_path = f->r[i].path;
	o.tables_ini = f->ini;
	o.device_id = f->r[i].dev;
	o.now_ms = fx_clock;
	o.now_ctx = f;
	rc = cs_engine_open(&f->r[i].e, &o);
	if (rc < 0)
		fail_msg("open: %s", cs_engine_open_errmsg());
	return rc;
}

/* n replicas with the schema, engine installed. */
static struct fx *
fx_new(int n)
{
	struct fx *f = calloc(1, sizeof(*f));
	int i;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cs_engine_test_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ini, sizeof(f->ini), "%s/tables.ini", f->dir);
	fx_write(f->ini, fx_ini);
	f->n = n;
	for (i = 0; i < n; i++) {
		sqlite3 *db;

		snprintf(f->r[i].path, sizeof(f->r[i].path), "%s/r%d.db", f->dir, i);
		memset(f->r[i].dev, 0xa0 + i, CS_DEVID_LEN);
		assert_int_equal(sqlite3_open(f->r[i].path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, fx_schema, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		assert_int_equal(fx_open_one(f, i), 0);
		if (cs_engine_install(f->r[i].e) != 0)
			fail_msg("install: %s", cs_engine_errmsg(f->r[i].e));
	}
	return f;
}

static void
fx_free(struct fx *f)
{
	char cmd[300];
	int i;

	for (i = 0; i < f->n; i++)
		cs_engine_close(f->r[i].e);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", f->dir);
	free(f);
}

/* Send everything new from replica a to replica b, in batches of max_rows. */
static struct cs_apply_result
fx_sync_n(struct fx *f, int a, int b, size_t max_rows)
{
	struct cs_apply_result tot, r;
	struct cs_changeset cs;
	uint8_t site[CS_DEVID_LEN];
	int more, rounds = 0;

	memset(&tot, 0, sizeof(tot));
	cs_changeset_init(&cs);
	cs_engine_site(f->r[b].e, site);
	do {
		more = cs_engine_extract(f->r[a].e, f->cur[a][b], site, NULL, max_rows, &cs);
		if (more < 0)
			fail_msg("extract: %s", cs_engine_errmsg(f->r[a].e));
		if (cs_engine_apply(f->r[b].e, &cs, f->r[a].dev, &r) < 0)
			fail_msg("apply: %s", cs_engine_errmsg(f->r[b].e));
		f->cur[a][b] = cs.db_version;
		tot.applied += r.applied;
		tot.ignored += r.ignored;
		tot.conflicts += r.conflicts;
		tot.held += r.held;
		tot.quarantined += r.quarantined;
		tot.released += r.released;
		tot.refused += r.refused;
		assert_true(++rounds < 100000);
	} while (more);
	cs_changeset_free(&cs);
	return tot;
}

static struct cs_apply_result
fx_sync(struct fx *f, int a, int b)
{
	return fx_sync_n(f, a, b, 1000);
}

/* Everyone with everyone until nothing moves. */
static void
fx_sync_all(struct fx *f)
{
	int round, i, j;

	for (round = 0; round < 4; round++)
		for (i = 0; i < f->n; i++)
			for (j = 0; j < f->n; j++)
				if (i != j)
					fx_sync(f, i, j);
}

/* One SQL value as text ("NULL" / the text / x'hex'), caller frees. */
static char *
fx_q(struct cs_engine *e, const char *sql)
{
	sqlite3_stmt *st;
	char *out = NULL;

	if (sqlite3_prepare_v2(cs_engine_handle(e), sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(cs_engine_handle(e)));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	else
		out = strdup("NULL");
	sqlite3_finalize(st);
	return out;
}

static int64_t
fx_int(struct cs_engine *e, const char *sql)
{
	char *s = fx_q(e, sql);
	int64_t v = strtoll(s, NULL, 10);

	free(s);
	return v;
}

static void
fx_assert_str(struct cs_engine *e, const char *sql, const char *want)
{
	char *s = fx_q(e, sql);

	if (strcmp(s, want) != 0)
		fail_msg("%s: got '%s', want '%s'", sql, s, want);
	free(s);
}

/* A canonical dump of the tracked tables, FKs shown as the parent's gid. */
static char *
fx_dump(struct cs_engine *e)
{
	return fx_q(e,
	    "SELECT group_concat(x, '|') FROM ("
	    "SELECT hex(i.gid) || ':' || quote(p.nom) || quote(p.prenom) || quote(p.email) || "
	    "quote(p.photo) AS x FROM patient p JOIN cs_ids i ON i.tid=(SELECT tid FROM "
	    "cs_tables WHERE name='patient') AND i.pk=p.id "
	    "UNION ALL SELECT hex(i.gid) || ':' || coalesce(hex(pi.gid), 'nil') || "
	    "quote(c.motif) || quote(c.notes) || quote(c.poids) FROM consultation c JOIN "
	    "cs_ids i ON i.tid=(SELECT tid FROM cs_tables WHERE name='consultation') AND "
	    "i.pk=c.id LEFT JOIN cs_ids pi ON pi.tid=(SELECT tid FROM cs_tables WHERE "
	    "name='patient') AND pi.pk=c.patient_id "
	    "UNION ALL SELECT hex(i.gid) || ':' || quote(d.uuid) || quote(d.titre) FROM "
	    "document d JOIN cs_ids i ON i.tid=(SELECT tid FROM cs_tables WHERE "
	    "name='document') AND i.pk=d.uuid ORDER BY 1)");
}

static void
fx_assert_converged(struct fx *f)
{
	char *d0 = fx_dump(f->r[0].e);
	int i;

	for (i = 1; i < f->n; i++) {
		char *d = fx_dump(f->r[i].e);

		if (strcmp(d0, d) != 0)
			fail_msg("replica %d differs:\n%s\nvs\n%s", i, d0, d);
		free(d);
	}
	free(d0);
}

#endif
