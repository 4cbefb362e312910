#include "sim_oracle.h"

#include <string.h>

#include "base/mem.h"

void
bits_free(struct bits *b)
{
	cs_free(b->w);
	b->w = NULL;
	b->nw = 0;
}

static int
bits_reserve(struct bits *b, size_t nw)
{
	uint64_t *w;

	if (nw <= b->nw)
		return 0;
	w = cs_realloc(b->w, nw * sizeof(uint64_t));
	if (w == NULL)
		return -1;
	memset(w + b->nw, 0, (nw - b->nw) * sizeof(uint64_t));
	b->w = w;
	b->nw = nw;
	return 0;
}

int
bits_copy(struct bits *dst, const struct bits *src)
{
	bits_free(dst);
	if (bits_reserve(dst, src->nw) != 0)
		return -1;
	if (src->nw > 0)
		memcpy(dst->w, src->w, src->nw * sizeof(uint64_t));
	return 0;
}

int
bits_or(struct bits *dst, const struct bits *src)
{
	size_t i;

	if (bits_reserve(dst, src->nw) != 0)
		return -1;
	for (i = 0; i < src->nw; i++)
		dst->w[i] |= src->w[i];
	return 0;
}

int
bits_set(struct bits *b, size_t i)
{
	if (bits_reserve(b, i / 64 + 1) != 0)
		return -1;
	b->w[i / 64] |= 1ull << (i % 64);
	return 0;
}

int
bits_test(const struct bits *b, size_t i)
{
	return i / 64 < b->nw && (b->w[i / 64] >> (i % 64) & 1) != 0;
}

void
oracle_init(struct sim_oracle *o, int nrep)
{
	memset(o, 0, sizeof(*o));
	o->nrep = nrep;
}

void
oracle_free(struct sim_oracle *o)
{
	size_t i;
	int r;

	for (i = 0; i < o->nev; i++) {
		size_t k;

		bits_free(&o->ev[i].saw);
		cs_free(o->ev[i].val);
		for (k = 0; k < o->ev[i].nrows_saw; k++)
			bits_free(&o->ev[i].rows_saw[k]);
		cs_free(o->ev[i].rows_saw);
	}
	for (i = 0; i < o->nrows; i++) {
		for (r = 0; r < SIM_MAX_REP; r++)
			bits_free(&o->rows[i].hist[r]);
		cs_free(o->rows[i].ev);
	}
	cs_free(o->ev);
	cs_free(o->rows);
	memset(o, 0, sizeof(*o));
}

long
oracle_find_row(const struct sim_oracle *o, const uint8_t gid[16])
{
	size_t i;

	for (i = 0; i < o->nrows; i++)
		if (memcmp(o->rows[i].gid, gid, 16) == 0)
			return (long)i;
	return -1;
}

long
oracle_row(struct sim_oracle *o, int table, const uint8_t gid[16])
{
	long i = oracle_find_row(o, gid);
	struct or_row *r;

	if (i >= 0)
		return i;
	if (cs_grow(&o->rows, &o->rowcap, o->nrows + 1, sizeof(*o->rows)) != 0)
		return -1;
	r = &o->rows[o->nrows];
	memset(r, 0, sizeof(*r));
	memcpy(r->gid, gid, 16);
	r->table = table;
	return (long)o->nrows++;
}

long
oracle_write(struct sim_oracle *o, int rep, long row, int col, const uint8_t dev[16], uint64_t hlc,
    uint64_t n, uint64_t cl)
{
	struct or_row *r = &o->rows[row];
	struct or_event *e;

	if (cs_grow(&o->ev, &o->evcap, o->nev + 1, sizeof(*o->ev)) != 0 ||
	    cs_grow(&r->ev, &r->cap, r->nev + 1, sizeof(*r->ev)) != 0)
		return -1;
	e = &o->ev[o->nev];
	memset(e, 0, sizeof(*e));
	e->row = (int)row;
	e->col = col;
	e->rep = rep;
	memcpy(e->dev, dev, 16);
	e->hlc = hlc;
	e->n = n;
	e->cl = cl;
	e->txn = o->txn;
	if (bits_copy(&e->saw, &r->hist[rep]) != 0)
		return -1;
	r->ev[r->nev++] = o->nev;
	return (long)o->nev++;
}

void
oracle_next_txn(struct sim_oracle *o)
{
	o->txn++;
}

int
oracle_txn_deleted(const struct sim_oracle *o, long ev, long row)
{
	const struct or_row *r = &o->rows[row];
	size_t i;

	for (i = 0; i < r->nev; i++) {
		const struct or_event *x = &o->ev[r->ev[i]];

		if (x->col == OR_EXIST && (x->cl & 1) == 0 && x->txn == o->ev[ev].txn)
			return 1;
	}
	return 0;
}

int
oracle_seen(struct sim_oracle *o, int rep, long ev)
{
	return bits_set(&o->rows[o->ev[ev].row].hist[rep], (size_t)ev);
}

int
oracle_keep_rows_saw(struct sim_oracle *o, long ev, int rep)
{
	struct or_event *e = &o->ev[ev];
	size_t i;

	e->rows_saw = cs_calloc(o->nrows + 1, sizeof(struct bits));
	if (e->rows_saw == NULL)
		return -1;
	e->nrows_saw = o->nrows;
	for (i = 0; i < o->nrows; i++)
		if (bits_copy(&e->rows_saw[i], &o->rows[i].hist[rep]) != 0)
			return -1;
	return 0;
}

const struct bits *
oracle_rows_saw(const struct sim_oracle *o, long ev, long row)
{
	const struct or_event *e = &o->ev[ev];

	if (row < 0 || (size_t)row >= e->nrows_saw)
		return NULL;
	return &e->rows_saw[row];
}

int
oracle_set_saw(struct sim_oracle *o, long ev, const struct bits *saw)
{
	return bits_copy(&o->ev[ev].saw, saw);
}

int
oracle_integrate(struct sim_oracle *o, int rep, long row, const struct bits *snap)
{
	return bits_or(&o->rows[row].hist[rep], snap);
}

long
oracle_find(const struct sim_oracle *o, long row, int col, const uint8_t dev[16], uint64_t hlc)
{
	const struct or_row *r = &o->rows[row];
	size_t i;

	for (i = 0; i < r->nev; i++) {
		const struct or_event *e = &o->ev[r->ev[i]];

		if (e->col == col && e->hlc == hlc && memcmp(e->dev, dev, 16) == 0)
			return (long)r->ev[i];
	}
	return -1;
}

int
oracle_saw(const struct sim_oracle *o, long b, long a)
{
	return bits_test(&o->ev[b].saw, (size_t)a);
}

int
oracle_superseded(const struct sim_oracle *o, long a)
{
	const struct or_event *ea = &o->ev[a];
	const struct or_row *r = &o->rows[ea->row];
	size_t i;

	for (i = 0; i < r->nev; i++) {
		const struct or_event *e = &o->ev[r->ev[i]];

		if ((e->col == ea->col || e->col == OR_EXIST) && bits_test(&e->saw, (size_t)a))
			return 1;
	}
	return 0;
}

int
oracle_row_cascaded(const struct sim_oracle *o, long a)
{
	const struct or_row *r = &o->rows[o->ev[a].row];
	size_t i;

	for (i = 0; i < r->nev; i++)
		if (o->ev[r->ev[i]].cascade)
			return 1;
	return 0;
}
