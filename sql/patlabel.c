/*
 * sql/patlabel.c: the patients and their labels (see patlabel.h).
 */
#include "sql/patlabel.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"

/* An SQL identifier, double-quoted. */
static int
quote_id(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	if (cap < 3)
		return CS_ERANGE;
	out[o++] = '"';
	for (; *s != '\0'; s++) {
		if (cap - o < 4)
			return CS_ERANGE;
		if (*s == '"')
			out[o++] = '"';
		out[o++] = *s;
	}
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

/* The patient table (scope = self): name, pk, label expression, tid. */
static int
patient_table(struct cs_engine *e, struct cs_engine_table *out)
{
	int i, rc;

	for (i = 0;; i++) {
		rc = cs_engine_table_info(e, i, out);
		if (rc != 0)
			return rc;
		if (out->patient_table && !out->internal)
			return 0;
	}
}

/*
 * SELECT CAST(pk AS TEXT), coalesce(CAST((label) AS TEXT), CAST(pk AS TEXT)),
 * gid FROM table [WHERE gid = ?1] ...: into a new string.
 */
static char *
make_sql(const struct cs_engine_table *t, int one)
{
	char tab[256], pk[256], *q;
	size_t cap;
	const char *lbl;

	if (quote_id(tab, sizeof(tab), t->name) != 0 || quote_id(pk, sizeof(pk), t->pk) != 0)
		return NULL;
	lbl = t->label != NULL ? t->label : "NULL";
	cap = strlen(lbl) + 2 * strlen(pk) + strlen(tab) + 512;
	if ((q = cs_malloc(cap)) == NULL)
		return NULL;
	/* the app's row, its gid if the engine tracks it (cs_ids: tid, pk) */
	snprintf(q, cap,
	    "SELECT CAST(p.%s AS TEXT), coalesce(CAST((%s) AS TEXT), CAST(p.%s AS TEXT)), i.gid "
	    "FROM %s p LEFT JOIN cs_ids i ON i.tid = %d AND i.pk = p.%s %s",
	    pk, lbl, pk, tab, t->tid, pk,
	    one ? "WHERE i.gid = ?1" : "ORDER BY 2 COLLATE NOCASE, 2, 1 LIMIT -1 OFFSET ?1");
	return q;
}

int
cs_patlabel_list(struct cs_engine *e, int64_t from, cs_patlabel_cb cb, void *ctx)
{
	struct cs_engine_table t;
	struct cs_patlabel p;
	sqlite3_stmt *st = NULL;
	char *q = NULL;
	int rc;

	if (e == NULL || cb == NULL || from < 0)
		return CS_EINVAL;
	if ((rc = patient_table(e, &t)) != 0)
		return rc == CS_ENOENT ? CS_ENOENT : rc;
	if ((q = make_sql(&t, 0)) == NULL)
		return CS_ENOMEM;
	if (sqlite3_prepare_v2(cs_engine_handle(e), q, -1, &st, NULL) != SQLITE_OK) {
		rc = CS_SQL_ESQLITE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, from);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			continue;
		memset(&p, 0, sizeof(p));
		p.local = (const char *)sqlite3_column_text(st, 0);
		p.label = (const char *)sqlite3_column_text(st, 1);
		if (p.label == NULL)
			p.label = p.local;
		if (sqlite3_column_bytes(st, 2) == CS_GID_LEN)
			p.gid = sqlite3_column_blob(st, 2);
		if (p.local == NULL || p.label == NULL) {
			rc = CS_ENOMEM;
			goto out;
		}
		if ((rc = cb(ctx, &p)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : CS_SQL_ESQLITE;
out:
	sqlite3_finalize(st);
	cs_free(q);
	return rc;
}

int
cs_patlabel_of(struct cs_engine *e, const uint8_t gid[static CS_GID_LEN], char *out, size_t cap)
{
	struct cs_engine_table t;
	sqlite3_stmt *st = NULL;
	const char *v;
	char *q = NULL;
	int rc;

	if (e == NULL || out == NULL || cap == 0)
		return CS_EINVAL;
	out[0] = '\0';
	if ((rc = patient_table(e, &t)) != 0)
		return rc;
	if ((q = make_sql(&t, 1)) == NULL)
		return CS_ENOMEM;
	if (sqlite3_prepare_v2(cs_engine_handle(e), q, -1, &st, NULL) != SQLITE_OK) {
		rc = CS_SQL_ESQLITE;
		goto out;
	}
	sqlite3_bind_blob(st, 1, gid, CS_GID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (v = (const char *)sqlite3_column_text(st, 1)) != NULL) {
		snprintf(out, cap, "%s", v);
		rc = 0;
	} else {
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? CS_ENOENT : CS_SQL_ESQLITE;
	}
out:
	sqlite3_finalize(st);
	cs_free(q);
	return rc;
}
