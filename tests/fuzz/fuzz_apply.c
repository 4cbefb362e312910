/*
 * libFuzzer target: the path a peer's data takes into the database. The
 * input is one application message; when it decodes as CHANGES
 * (cs_msg_decode), its changeset is applied with cs_engine_apply() to an
 * engine on an in-memory database of the demo schema (apply_fixture.h),
 * from a fixed peer device. Invariants checked: no crash, leak or sanitizer
 * report; a refused batch (apply < 0) leaves the database unchanged: same
 * db_version and same row count in every table, app and cs_*. The engine is
 * created once and reopened on a fresh database every FA_REOPEN inputs so
 * that its state stays small and runs stay fast. CS_FUZZ_APPLY_VERBOSE=1 in
 * the environment prints the outcome of every apply (to check the seeds).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_fixture.h"
#include "wire/msg.h"

#define FA_REOPEN 500

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The sender of every batch: the device of gen_apply_corpus. */
static const uint8_t fa_peer[CS_DEVID_LEN] = {0xd0, 0xa1, 2, 3, 4, 5, 6, 7};
static const uint8_t fa_self[CS_DEVID_LEN] = {0x5e, 0x1f};

static struct fa fa;
static unsigned fa_inputs, fa_gen;
static int fa_verbose;          /* CS_FUZZ_APPLY_VERBOSE set: one line per applied batch */
static char fa_count_sql[8192]; /* the row count of every table, as one text */

static void
fa_fresh(void)
{
	sqlite3_stmt *st;
	size_t n;
	char name[32];

	if (fa.e != NULL)
		fa_close(&fa);
	snprintf(name, sizeof(name), "fuzz_apply_%u", fa_gen++);
	fa_open(&fa, name, fa_self);
	/* "SELECT (SELECT count(*) FROM t1) || ',' || ... " over every table */
	if (sqlite3_prepare_v2(cs_engine_handle(fa.e),
	        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1, &st,
	        NULL) != SQLITE_OK)
		abort();
	n = (size_t)snprintf(fa_count_sql, sizeof(fa_count_sql), "SELECT ''");
	while (sqlite3_step(st) == SQLITE_ROW) {
		n += (size_t)snprintf(fa_count_sql + n, sizeof(fa_count_sql) - n,
		    " || ',' || (SELECT count(*) FROM \"%s\")", sqlite3_column_text(st, 0));
		if (n >= sizeof(fa_count_sql))
			abort();
	}
	sqlite3_finalize(st);
}

/* db_version and every table's row count, as text (caller frees). */
static char *
fa_snapshot(void)
{
	sqlite3_stmt *st;
	char *s;

	if (sqlite3_prepare_v2(cs_engine_handle(fa.e), fa_count_sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		abort();
	s = malloc(strlen((const char *)sqlite3_column_text(st, 0)) + 32);
	if (s == NULL)
		abort();
	sprintf(s, "%llu:%s", (unsigned long long)cs_engine_db_version(fa.e),
	    (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return s;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fa_verbose = getenv("CS_FUZZ_APPLY_VERBOSE") != NULL;
	fa_fresh();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_apply_result res;
	struct cs_msg m;
	char *before, *after;
	int rc;

	if (++fa_inputs % FA_REOPEN == 0)
		fa_fresh();
	if (cs_msg_decode(data, size, &m) != 0)
		return 0;
	if (m.type != CS_MSG_CHANGES) {
		cs_msg_free(&m);
		return 0;
	}
	memset(&res, 0, sizeof(res));
	before = fa_snapshot();
	rc = cs_engine_apply(fa.e, &m.u.changes.cs, fa_peer, &res);
	if (fa_verbose)
		fprintf(stderr,
		    "apply: rc %d (%s) rows %u applied %u ignored %u conflicts %u held %u "
		    "quarantined %u refused %u\n",
		    rc, rc < 0 ? cs_engine_errmsg(fa.e) : "", m.u.changes.cs.nrows, res.applied,
		    res.ignored, res.conflicts, res.held, res.quarantined, res.refused);
	if (rc < 0) {
		after = fa_snapshot();
		if (strcmp(before, after) != 0) {
			fprintf(stderr,
			    "apply refused (%d: %s) but changed the database: %s -> %s\n", rc,
			    cs_engine_errmsg(fa.e), before, after);
			abort();
		}
		free(after);
	}
	free(before);
	cs_msg_free(&m);
	return 0;
}
