#include "change.h"

#include <string.h>

#include "err.h"
#include "mem.h"

/* Arena: a list of chunks; values never move once copied. */
struct cs_arena_chunk {
	struct cs_arena_chunk *next;
	size_t used, cap;
	uint8_t data[];
};

#define ARENA_CHUNK 16384

void
cs_changeset_init(struct cs_changeset *cs)
{
	memset(cs, 0, sizeof(*cs));
}

static void
arena_free(struct cs_arena_chunk *c)
{
	while (c != NULL) {
		struct cs_arena_chunk *n = c->next;

		cs_free(c);
		c = n;
	}
}

void
cs_changeset_free(struct cs_changeset *cs)
{
	if (cs == NULL)
		return;
	cs_free(cs->tables);
	cs_free(cs->devs);
	cs_free(cs->rows);
	cs_free(cs->cells);
	cs_free(cs->vv);
	arena_free(cs->arena);
	memset(cs, 0, sizeof(*cs));
}

void
cs_changeset_reset(struct cs_changeset *cs)
{
	struct cs_arena_chunk *c;

	cs->ntables = cs->ndevs = cs->nrows = cs->ncells = cs->nvv = 0;
	cs->db_version = 0;
	cs->open_row = 0;
	/* keep the first chunk, free the rest */
	if (cs->arena != NULL) {
		c = cs->arena;
		arena_free(c->next);
		c->next = NULL;
		c->used = 0;
	}
}

void *
cs_changeset_alloc(struct cs_changeset *cs, size_t n)
{
	struct cs_arena_chunk *c = cs->arena;
	size_t need = (n + 7) & ~(size_t)7;
	void *p;

	if (need < n)
		return NULL;
	if (c == NULL || need > c->cap - c->used) {
		size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		if (cap > SIZE_MAX - sizeof(*c))
			return NULL;
		c = cs_malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->cap = cap;
		c->used = 0;
		/* a big one-off chunk goes behind the current one, so that the
		 * current chunk's free space stays in use */
		if (cs->arena != NULL && need > ARENA_CHUNK) {
			c->next = cs->arena->next;
			cs->arena->next = c;
		} else {
			c->next = cs->arena;
			cs->arena = c;
		}
	}
	p = c->data + c->used;
	c->used += need;
	return p;
}

static char *
arena_str(struct cs_changeset *cs, const char *s, size_t len)
{
	char *p = cs_changeset_alloc(cs, len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int
cs_changeset_dev(struct cs_changeset *cs, const uint8_t id[static CS_DEVID_LEN])
{
	uint32_t i;

	for (i = 0; i < cs->ndevs; i++)
		if (memcmp(cs->devs[i], id, CS_DEVID_LEN) == 0)
			return (int)i;
	if (cs->ndevs >= INT32_MAX)
		return CS_ERANGE;
	if (cs_grow(&cs->devs, &cs->devs_cap, cs->ndevs + 1, CS_DEVID_LEN) < 0)
		return CS_ENOMEM;
	memcpy(cs->devs[cs->ndevs], id, CS_DEVID_LEN);
	return (int)cs->ndevs++;
}

int
cs_changeset_add_tabdef(struct cs_changeset *cs, const char *name, size_t name_len,
    uint32_t ncols)
{
	struct cs_tabdef *t;

	if (cs->ntables >= INT32_MAX)
		return CS_ERANGE;
	if (cs_grow(&cs->tables, &cs->tables_cap, cs->ntables + 1, sizeof(*cs->tables)) < 0)
		return CS_ENOMEM;
	t = &cs->tables[cs->ntables];
	memset(t, 0, sizeof(*t));
	t->name = arena_str(cs, name, name_len);
	if (t->name == NULL)
		return CS_ENOMEM;
	if (ncols > 0) {
		t->cols = cs_changeset_alloc(cs, (size_t)ncols * sizeof(char *));
		if (t->cols == NULL)
			return CS_ENOMEM;
		memset(t->cols, 0, (size_t)ncols * sizeof(char *));
	}
	t->ncols = ncols;
	return (int)cs->ntables++;
}

int
cs_changeset_set_col(struct cs_changeset *cs, uint32_t t, uint32_t c, const char *name,
    size_t name_len)
{
	if (t >= cs->ntables || c >= cs->tables[t].ncols)
		return CS_EINVAL;
	cs->tables[t].cols[c] = arena_str(cs, name, name_len);
	return cs->tables[t].cols[c] == NULL ? CS_ENOMEM : 0;
}

int
cs_changeset_table(struct cs_changeset *cs, const char *name)
{
	uint32_t i;

	for (i = 0; i < cs->ntables; i++)
		if (strcmp(cs->tables[i].name, name) == 0)
			return (int)i;
	return cs_changeset_add_tabdef(cs, name, strlen(name), 0);
}

int
cs_changeset_col(struct cs_changeset *cs, uint32_t t, const char *name)
{
	struct cs_tabdef *td;
	char **cols;
	uint32_t i;

	if (t >= cs->ntables)
		return CS_EINVAL;
	td = &cs->tables[t];
	for (i = 0; i < td->ncols; i++)
		if (strcmp(td->cols[i], name) == 0)
			return (int)i;
	/* column lists are short: copy to a bigger arena array */
	cols = cs_changeset_alloc(cs, ((size_t)td->ncols + 1) * sizeof(char *));
	if (cols == NULL)
		return CS_ENOMEM;
	if (td->ncols > 0)
		memcpy(cols, td->cols, (size_t)td->ncols * sizeof(char *));
	cols[td->ncols] = arena_str(cs, name, strlen(name));
	if (cols[td->ncols] == NULL)
		return CS_ENOMEM;
	td->cols = cols;
	return (int)td->ncols++;
}

int
cs_changeset_row_begin(struct cs_changeset *cs, const struct cs_row *hdr)
{
	struct cs_row *r;

	if (cs->open_row || hdr->table >= cs->ntables || hdr->ex_dot.dev >= cs->ndevs)
		return CS_EINVAL;
	if (cs_grow(&cs->rows, &cs->rows_cap, (size_t)cs->nrows + 1, sizeof(*cs->rows)) < 0)
		return CS_ENOMEM;
	r = &cs->rows[cs->nrows];
	*r = *hdr;
	r->cell_first = cs->ncells;
	r->ncells = 0;
	r->vv_first = cs->nvv;
	r->nvv = 0;
	cs->open_row = 1;
	return 0;
}

int
cs_changeset_cell(struct cs_changeset *cs, uint32_t col, const struct cs_value *v, uint64_t hlc,
    struct cs_dot dot)
{
	struct cs_row *r;
	struct cs_cell *c;

	if (!cs->open_row)
		return CS_EINVAL;
	r = &cs->rows[cs->nrows];
	if (col >= cs->tables[r->table].ncols || dot.dev >= cs->ndevs ||
	    v->type > CS_V_REF || (v->type == CS_V_REF && v->len != CS_GID_LEN))
		return CS_EINVAL;
	if (cs_grow(&cs->cells, &cs->cells_cap, (size_t)cs->ncells + 1, sizeof(*cs->cells)) < 0)
		return CS_ENOMEM;
	c = &cs->cells[cs->ncells];
	c->col = col;
	c->v = *v;
	c->hlc = hlc;
	c->dot = dot;
	if (v->type == CS_V_TEXT || v->type == CS_V_BLOB || v->type == CS_V_REF) {
		uint8_t *p = cs_changeset_alloc(cs, v->len);

		if (p == NULL)
			return CS_ENOMEM;
		if (v->len > 0)
			memcpy(p, v->p, v->len);
		c->v.p = p;
	} else {
		c->v.p = NULL;
		c->v.len = 0;
	}
	cs->ncells++;
	r->ncells++;
	return 0;
}

int
cs_changeset_vv(struct cs_changeset *cs, struct cs_dot e)
{
	if (!cs->open_row || e.dev >= cs->ndevs)
		return CS_EINVAL;
	if (cs_grow(&cs->vv, &cs->vv_cap, (size_t)cs->nvv + 1, sizeof(*cs->vv)) < 0)
		return CS_ENOMEM;
	cs->vv[cs->nvv++] = e;
	cs->rows[cs->nrows].nvv++;
	return 0;
}

int
cs_changeset_row_end(struct cs_changeset *cs)
{
	if (!cs->open_row)
		return CS_EINVAL;
	cs->open_row = 0;
	cs->nrows++;
	return 0;
}

int
cs_value_equal(const struct cs_value *a, const struct cs_value *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case CS_V_NULL:
		return 1;
	case CS_V_INT:
		return a->u.i == b->u.i;
	case CS_V_REAL:
		/* bitwise: a replica must store the same bytes */
		return memcmp(&a->u.r, &b->u.r, sizeof(double)) == 0;
	default:
		return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
	}
}

int
cs_changeset_equal(const struct cs_changeset *a, const struct cs_changeset *b)
{
	uint32_t i, j;

	if (a->ntables != b->ntables || a->ndevs != b->ndevs || a->nrows != b->nrows ||
	    a->ncells != b->ncells || a->nvv != b->nvv || a->db_version != b->db_version)
		return 0;
	for (i = 0; i < a->ntables; i++) {
		if (strcmp(a->tables[i].name, b->tables[i].name) != 0 ||
		    a->tables[i].ncols != b->tables[i].ncols)
			return 0;
		for (j = 0; j < a->tables[i].ncols; j++)
			if (strcmp(a->tables[i].cols[j], b->tables[i].cols[j]) != 0)
				return 0;
	}
	if (a->ndevs > 0 && memcmp(a->devs, b->devs, (size_t)a->ndevs * CS_DEVID_LEN) != 0)
		return 0;
	for (i = 0; i < a->nrows; i++) {
		const struct cs_row *x = &a->rows[i], *y = &b->rows[i];

		if (x->table != y->table || memcmp(x->gid, y->gid, CS_GID_LEN) != 0 ||
		    memcmp(x->patient, y->patient, CS_GID_LEN) != 0 || x->cl != y->cl ||
		    x->ex_dot.dev != y->ex_dot.dev || x->ex_dot.n != y->ex_dot.n ||
		    x->ex_hlc != y->ex_hlc || x->cell_first != y->cell_first ||
		    x->ncells != y->ncells || x->vv_first != y->vv_first || x->nvv != y->nvv)
			return 0;
	}
	for (i = 0; i < a->ncells; i++) {
		const struct cs_cell *x = &a->cells[i], *y = &b->cells[i];

		if (x->col != y->col || x->hlc != y->hlc || x->dot.dev != y->dot.dev ||
		    x->dot.n != y->dot.n || !cs_value_equal(&x->v, &y->v))
			return 0;
	}
	for (i = 0; i < a->nvv; i++)
		if (a->vv[i].dev != b->vv[i].dev || a->vv[i].n != b->vv[i].n)
			return 0;
	return 1;
}
