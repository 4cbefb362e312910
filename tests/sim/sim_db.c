#include "sim_db.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "base/mem.h"

void
sb_init(struct sbuf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

void
sb_free(struct sbuf *b)
{
	cs_free(b->p);
	sb_init(b);
}

static int
sb_reserve(struct sbuf *b, size_t more)
{
	if (b->err)
		return -1;
	if (cs_grow(&b->p, &b->cap, b->len + more + 1, 1) != 0) {
		b->err = 1;
		return -1;
	}
	return 0;
}

void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sb_reserve(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
sb_hex(struct sbuf *b, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	if (sb_reserve(b, 2 * n) != 0)
		return;
	for (i = 0; i < n; i++) {
		b->p[b->len++] = hx[p[i] >> 4];
		b->p[b->len++] = hx[p[i] & 15];
	}
	b->p[b->len] = '\0';
}

/* A value as unambiguous text: type tag, then the bytes. */
static void
sb_value(struct sbuf *b, sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		sb_printf(b, "N");
		break;
	case SQLITE_INTEGER:
		sb_printf(b, "I%lld", (long long)sqlite3_column_int64(st, i));
		break;
	case SQLITE_FLOAT:
		sb_printf(b, "R%.17g", sqlite3_column_double(st, i));
		break;
	case SQLITE_TEXT:
		sb_printf(b, "T");
		sb_hex(b, sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
		break;
	default:
		sb_printf(b, "B");
		sb_hex(b, sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i));
		break;
	}
}

struct ini_ctx {
	struct sim_schema *s;
	char *err;
	size_t errlen;
	int failed;
	/* fk lines are resolved after every table is known */
	char fk_col[SIM_MAX_TABLES * 4][64];
	char fk_parent[SIM_MAX_TABLES * 4][64];
	int fk_table[SIM_MAX_TABLES * 4];
	int nfk;
};

static void
trim_copy(char *dst, size_t n, const char *src, size_t len)
{
	while (len > 0 && isspace((unsigned char)*src)) {
		src++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)src[len - 1]))
		len--;
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int
schema_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *c = user;
	struct sim_schema *s = c->s;
	struct sim_table *t;
	const char *arrow;
	int ti;

	if (strncmp(section, "table ", 6) != 0)
		return 1; /* [engine] and the like: not ours */
	ti = sim_schema_table(s, section + 6);
	if (ti < 0) {
		if (s->nt == SIM_MAX_TABLES) {
			snprintf(c->err, c->errlen, "too many tables");
			c->failed = 1;
			return 0;
		}
		ti = s->nt++;
		memset(&s->t[ti], 0, sizeof(s->t[ti]));
		snprintf(s->t[ti].name, sizeof(s->t[ti].name), "%s", section + 6);
	}
	t = &s->t[ti];
	if (strcmp(name, "pk") == 0)
		snprintf(t->pk, sizeof(t->pk), "%s", value);
	else if (strcmp(name, "scope") == 0)
		snprintf(t->scope, sizeof(t->scope), "%s", value);
	else if (strcmp(name, "fk") == 0) {
		arrow = strstr(value, "->");
		if (arrow == NULL || c->nfk == SIM_MAX_TABLES * 4) {
			snprintf(c->err, c->errlen, "bad fk line '%s'", value);
			c->failed = 1;
			return 0;
		}
		trim_copy(c->fk_col[c->nfk], 64, value, (size_t)(arrow - value));
		trim_copy(c->fk_parent[c->nfk], 64, arrow + 2, strlen(arrow + 2));
		c->fk_table[c->nfk] = ti;
		c->nfk++;
	}
	return 1;
}

static void
upcase(char *p)
{
	for (; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
}

int
sim_schema_load(struct sim_schema *s, const char *ini_path, sqlite3 *db, char *err, size_t errlen)
{
	struct ini_ctx *c = NULL;
	sqlite3_stmt *st = NULL;
	char sql[256];
	int i, k, rc = -1;

	memset(s, 0, sizeof(*s));
	c = cs_calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	c->s = s;
	c->err = err;
	c->errlen = errlen;
	if (ini_parse(ini_path, schema_ini_line, c) != 0 || c->failed) {
		if (!c->failed)
			snprintf(err, errlen, "cannot parse %s", ini_path);
		goto out;
	}
	for (i = 0; i < s->nt; i++) {
		struct sim_table *t = &s->t[i];

		snprintf(sql, sizeof(sql), "PRAGMA table_info(\"%s\")", t->name);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(db));
			goto out;
		}
		t->pk_col = -1;
		while (sqlite3_step(st) == SQLITE_ROW && t->ncols < SIM_MAX_COLS) {
			struct sim_col *col = &t->cols[t->ncols];
			const char *ty = (const char *)sqlite3_column_text(st, 2);

			snprintf(col->name, sizeof(col->name), "%s",
			    (const char *)sqlite3_column_text(st, 1));
			snprintf(col->type, sizeof(col->type), "%s", ty != NULL ? ty : "");
			upcase(col->type);
			col->notnull = sqlite3_column_int(st, 3);
			col->has_dflt = sqlite3_column_type(st, 4) != SQLITE_NULL;
			col->pk = strcmp(col->name, t->pk) == 0;
			col->fk_table = -1;
			if (col->pk)
				t->pk_col = t->ncols;
			t->ncols++;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (t->ncols == 0 || t->pk_col < 0) {
			snprintf(err, errlen, "table %s missing or without pk %s", t->name, t->pk);
			goto out;
		}
	}
	for (k = 0; k < c->nfk; k++) {
		struct sim_table *t = &s->t[c->fk_table[k]];
		int ci = sim_schema_col(t, c->fk_col[k]);
		int pi = sim_schema_table(s, c->fk_parent[k]);

		if (ci < 0 || pi < 0) {
			snprintf(err, errlen, "fk %s.%s -> %s: unknown", t->name, c->fk_col[k],
			    c->fk_parent[k]);
			goto out;
		}
		t->cols[ci].fk_table = pi;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	cs_free(c);
	return rc;
}

int
sim_schema_table(const struct sim_schema *s, const char *name)
{
	int i;

	for (i = 0; i < s->nt; i++)
		if (strcmp(s->t[i].name, name) == 0)
			return i;
	return -1;
}

int
sim_schema_col(const struct sim_table *t, const char *name)
{
	int i;

	for (i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return i;
	return -1;
}

/* The engine's mapping table; see README.md "What the simulator reads". */
#define GID_SQL                                                                                    \
	"SELECT i.gid FROM cs_ids i JOIN cs_tables t ON t.tid = i.tid WHERE t.name = ?1 AND "      \
	"i.pk = ?2"

int
sim_db_gid(sqlite3 *db, const char *table, int64_t pk, uint8_t gid[16])
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, GID_SQL, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return -rc;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, pk);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16) {
		memcpy(gid, sqlite3_column_blob(st, 0), 16);
		rc = 1;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = -rc;
	}
	sqlite3_finalize(st);
	return rc;
}

struct lines {
	char **v;
	size_t n, cap;
};

static int
lines_add(struct lines *l, struct sbuf *line)
{
	if (line->err || cs_grow(&l->v, &l->cap, l->n + 1, sizeof(char *)) != 0)
		return -1;
	l->v[l->n++] = line->p != NULL ? line->p : cs_strdup("");
	sb_init(line); /* the array owns the text now */
	return l->v[l->n - 1] != NULL ? 0 : -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the lines and join them into *out, freeing the array. */
static int
lines_join(struct lines *l, char **out, int ok)
{
	struct sbuf b;
	size_t i;

	sb_init(&b);
	if (ok) {
		if (l->n > 1)
			qsort(l->v, l->n, sizeof(char *), cmp_str);
		sb_printf(&b, "%s", "");
		for (i = 0; i < l->n; i++)
			sb_printf(&b, "%s\n", l->v[i]);
	}
	for (i = 0; i < l->n; i++)
		cs_free(l->v[i]);
	cs_free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
	if (!ok || b.err) {
		sb_free(&b);
		*out = NULL;
		return -1;
	}
	*out = b.p;
	return 0;
}

#define GIDMAP_SQL                                                                                 \
	"SELECT i.pk, i.gid FROM cs_ids i JOIN cs_tables t ON t.tid = i.tid WHERE t.name = ?1 "    \
	"AND i.pk IS NOT NULL ORDER BY i.pk"

int
sim_gidmap_load(sqlite3 *db, const struct sim_schema *s, struct sim_gidmap *m)
{
	sqlite3_stmt *st = NULL;
	size_t cap;
	int t, rc = -1;

	memset(m, 0, sizeof(*m));
	if (sqlite3_prepare_v2(db, GIDMAP_SQL, -1, &st, NULL) != SQLITE_OK)
		return -1;
	for (t = 0; t < s->nt; t++) {
		cap = 0;
		sqlite3_bind_text(st, 1, s->t[t].name, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (sqlite3_column_bytes(st, 1) != 16)
				continue;
			if (cs_grow(&m->v[t], &cap, m->n[t] + 1, sizeof(struct sim_gident)) != 0)
				goto out;
			m->v[t][m->n[t]].pk = sqlite3_column_int64(st, 0);
			memcpy(m->v[t][m->n[t]].gid, sqlite3_column_blob(st, 1), 16);
			m->n[t]++;
		}
		sqlite3_reset(st);
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	if (rc != 0)
		sim_gidmap_free(m);
	return rc;
}

void
sim_gidmap_free(struct sim_gidmap *m)
{
	int t;

	for (t = 0; t < SIM_MAX_TABLES; t++)
		cs_free(m->v[t]);
	memset(m, 0, sizeof(*m));
}

int
sim_gidmap_find(const struct sim_gidmap *m, int table, int64_t pk, uint8_t gid[16])
{
	size_t lo = 0, hi;

	if (table < 0 || table >= SIM_MAX_TABLES)
		return 0;
	hi = m->n[table];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[table][mid].pk < pk)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->n[table] && m->v[table][lo].pk == pk) {
		memcpy(gid, m->v[table][lo].gid, 16);
		return 1;
	}
	return 0;
}

int
sim_dump_canonical(sqlite3 *db, const struct sim_schema *s, char **out)
{
	struct lines l = {0};
	struct sbuf line;
	struct sim_gidmap gm;
	sqlite3_stmt *st = NULL;
	char sql[256];
	uint8_t gid[16];
	int i, c, r, ok = 0;

	sb_init(&line);
	if (sim_gidmap_load(db, s, &gm) != 0)
		return lines_join(&l, out, 0);
	for (i = 0; i < s->nt; i++) {
		const struct sim_table *t = &s->t[i];

		snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", t->name);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			goto out;
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t pk = sqlite3_column_int64(st, t->pk_col);

			sb_printf(&line, "%s ", t->name);
			if (sim_gidmap_find(&gm, i, pk, gid) == 1)
				sb_hex(&line, gid, 16);
			else
				sb_printf(&line, "NOGID(pk=%lld)", (long long)pk);
			for (c = 0; c < t->ncols; c++) {
				if (c == t->pk_col)
					continue;
				sb_printf(&line, " %s=", t->cols[c].name);
				if (t->cols[c].fk_table >= 0 &&
				    sqlite3_column_type(st, c) == SQLITE_INTEGER) {
					if (sim_gidmap_find(&gm, t->cols[c].fk_table,
					        sqlite3_column_int64(st, c), gid) == 1) {
						sb_printf(&line, "G");
						sb_hex(&line, gid, 16);
					} else {
						sb_printf(&line, "DANGLING(%lld)",
						    (long long)sqlite3_column_int64(st, c));
					}
				} else {
					sb_value(&line, st, c);
				}
			}
			if (lines_add(&l, &line) != 0)
				goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (r != SQLITE_DONE)
			goto out;
	}
	ok = 1;
out:
	sqlite3_finalize(st);
	sb_free(&line);
	sim_gidmap_free(&gm);
	return lines_join(&l, out, ok);
}

int
sim_dump_full(sqlite3 *db, char **out)
{
	struct lines l = {0};
	struct lines names = {0};
	struct sbuf line;
	sqlite3_stmt *st = NULL;
	char sql[256];
	size_t k;
	int c, r, ok = 0;

	sb_init(&line);
	if (sqlite3_prepare_v2(db,
	        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
	        "'sqlite_stat%'",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		sb_printf(&line, "%s", (const char *)sqlite3_column_text(st, 0));
		if (lines_add(&names, &line) != 0)
			goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	for (k = 0; k < names.n; k++) {
		snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", names.v[k]);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			goto out;
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			sb_printf(&line, "%s", names.v[k]);
			for (c = 0; c < sqlite3_column_count(st); c++) {
				sb_printf(&line, " ");
				sb_value(&line, st, c);
			}
			if (lines_add(&l, &line) != 0)
				goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (r != SQLITE_DONE)
			goto out;
	}
	ok = 1;
out:
	sqlite3_finalize(st);
	sb_free(&line);
	for (k = 0; k < names.n; k++)
		cs_free(names.v[k]);
	cs_free(names.v);
	return lines_join(&l, out, ok);
}

int
sim_db_integrity_ok(sqlite3 *db, char *msg, size_t msglen)
{
	sqlite3_stmt *st = NULL;
	int ok = 0;

	snprintf(msg, msglen, "integrity_check did not run");
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
		snprintf(msg, msglen, "%s", sqlite3_errmsg(db));
		return 0;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		snprintf(msg, msglen, "%s", t != NULL ? t : "(null)");
		ok = t != NULL && strcmp(t, "ok") == 0;
	}
	sqlite3_finalize(st);
	return ok;
}

int
sim_db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

int
sim_db_exec_file(sqlite3 *db, const char *path)
{
	FILE *f = NULL;
	char *text = NULL;
	long n;
	int rc = -1;

	f = fopen(path, "rb");
	if (f == NULL)
		goto out;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	text = cs_malloc((size_t)n + 1);
	if (text == NULL || fread(text, 1, (size_t)n, f) != (size_t)n)
		goto out;
	text[n] = '\0';
	rc = sqlite3_exec(db, text, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
out:
	cs_free(text);
	if (f != NULL)
		fclose(f);
	return rc;
}
