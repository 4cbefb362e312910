/*
 * tests/fuzz/apply_fixture.h: an engine on an in-memory database of the demo
 * schema (sql/demo/schema.sql + sql/demo/tables.ini), for fuzz_apply and its
 * corpus generator gen_apply_corpus. Header-only.
 *
 * SQLite's ":memory:" cannot hold the app tables before cs_engine_open()
 * checks the INI against them, so a keeper connection opens a named shared
 * in-memory database, creates the schema and stays open for as long as the
 * engine (the database lives while one connection holds it).
 */
#ifndef CS_TEST_APPLY_FIXTURE_H
#define CS_TEST_APPLY_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "base/change.h"
#include "base/err.h"
#include "base/mem.h"
#include "sql/engine.h"

struct fa {
	sqlite3 *keeper;
	struct cs_engine *e;
	char uri[96];
};

/* Fixed clock of apply (2027-01-01), later than any hlc the generator captured. */
static uint64_t
fa_clock(void *ctx)
{
	(void)ctx;
	return 1798761600000ull;
}

static char *
fa_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	p = malloc((size_t)n + 1);
	if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	p[n] = '\0';
	fclose(f);
	return p;
}

/* Open a fresh database named name (unique in the process), engine installed. */
static void
fa_open(struct fa *a, const char *name, const uint8_t dev[CS_DEVID_LEN])
{
	static char *schema;
	struct cs_engine_opts o;

	if (schema == NULL)
		schema = fa_read(CS_DEMO_DIR "/schema.sql");
	memset(a, 0, sizeof(*a));
	snprintf(a->uri, sizeof(a->uri), "file:%s?mode=memory&cache=shared", name);
	if (sqlite3_open_v2(a->uri, &a->keeper,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL) != SQLITE_OK ||
	    sqlite3_exec(a->keeper, schema, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "schema: %s\n", sqlite3_errmsg(a->keeper));
		exit(1);
	}
	memset(&o, 0, sizeof(o));
	o.db_path = a->uri;
	o.tables_ini = CS_DEMO_DIR "/tables.ini";
	o.device_id = dev;
	o.now_ms = fa_clock;
	if (cs_engine_open(&a->e, &o) != 0) {
		fprintf(stderr, "open: %s\n", cs_engine_open_errmsg());
		exit(1);
	}
	if (cs_engine_install(a->e) != 0) {
		fprintf(stderr, "install: %s\n", cs_engine_errmsg(a->e));
		exit(1);
	}
}

static void
fa_close(struct fa *a)
{
	cs_engine_close(a->e);
	sqlite3_close(a->keeper);
	memset(a, 0, sizeof(*a));
}

#endif
