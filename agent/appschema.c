/*
 * agent/appschema.c: schema hash and per-peer filtering (see appschema.h).
 */
#include "agent/appschema.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"
#include "wire/msg.h"

#define CONTEXT "cabsync app schema v1"

int
cs_appschema_hash(const struct cs_changeset *dict, uint8_t out[static CS_APPSCHEMA_HASH_LEN])
{
	crypto_generichash_state st;
	static const uint8_t nul = 0, end = 1;
	uint32_t t, c;
	int rc = CS_EIO;

	if (crypto_generichash_init(&st, NULL, 0, CS_APPSCHEMA_HASH_LEN) != 0)
		goto out;
	crypto_generichash_update(&st, (const uint8_t *)CONTEXT, sizeof(CONTEXT));
	for (t = 0; t < dict->ntables; t++) {
		const struct cs_tabdef *d = &dict->tables[t];

		crypto_generichash_update(&st, (const uint8_t *)d->name, strlen(d->name));
		crypto_generichash_update(&st, &nul, 1);
		for (c = 0; c < d->ncols; c++) {
			crypto_generichash_update(&st, (const uint8_t *)d->cols[c],
			    strlen(d->cols[c]));
			crypto_generichash_update(&st, &nul, 1);
		}
		crypto_generichash_update(&st, &end, 1);
	}
	if (crypto_generichash_final(&st, out, CS_APPSCHEMA_HASH_LEN) != 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(&st, sizeof(st));
	return rc;
}

int
cs_appschema_stated(const uint8_t hash[static CS_APPSCHEMA_HASH_LEN])
{
	return !sodium_is_zero(hash, CS_APPSCHEMA_HASH_LEN);
}

static int
find_table(const struct cs_changeset *cs, const char *name)
{
	uint32_t i;

	for (i = 0; i < cs->ntables; i++)
		if (strcmp(cs->tables[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
has_col(const struct cs_tabdef *d, const char *name)
{
	uint32_t i;

	for (i = 0; i < d->ncols; i++)
		if (strcmp(d->cols[i], name) == 0)
			return 1;
	return 0;
}

/* Copy rows [first, first + count) of in, filtered by peer's dictionary (NULL: all). */
static int
copy_rows(const struct cs_changeset *in, const struct cs_changeset *peer, uint32_t first,
    uint32_t count, struct cs_changeset *out, uint32_t *dropped_rows, uint32_t *dropped_cells)
{
	int32_t *tmap = NULL, **cmap = NULL;
	uint32_t t, c, r, k, drows = 0, dcells = 0;
	int rc = CS_ENOMEM, pt, idx;

	tmap = cs_calloc(in->ntables + 1, sizeof(*tmap));
	cmap = cs_calloc(in->ntables + 1, sizeof(*cmap));
	if (tmap == NULL || cmap == NULL)
		goto out;
	/* the output dictionary: the peer's tables, our columns that it lists */
	for (t = 0; t < in->ntables; t++) {
		const struct cs_tabdef *d = &in->tables[t];

		tmap[t] = -1;
		pt = peer != NULL ? find_table(peer, d->name) : 0;
		if (pt < 0)
			continue;
		cmap[t] = cs_calloc(d->ncols + 1, sizeof(**cmap));
		if (cmap[t] == NULL)
			goto out;
		idx = cs_changeset_table(out, d->name);
		if (idx < 0) {
			rc = idx;
			goto out;
		}
		tmap[t] = idx;
		for (c = 0; c < d->ncols; c++) {
			cmap[t][c] = -1;
			if (peer != NULL && !has_col(&peer->tables[pt], d->cols[c]))
				continue;
			idx = cs_changeset_col(out, (uint32_t)tmap[t], d->cols[c]);
			if (idx < 0) {
				rc = idx;
				goto out;
			}
			cmap[t][c] = idx;
		}
	}
	if (first > in->nrows || count > in->nrows - first) {
		rc = CS_EINVAL;
		goto out;
	}
	for (r = first; r < first + count; r++) {
		const struct cs_row *row = &in->rows[r];
		struct cs_dot dot;

		rc = CS_EINVAL;
		if (row->table >= in->ntables || row->cell_first > in->ncells ||
		    row->ncells > in->ncells - row->cell_first || row->vv_first > in->nvv ||
		    row->nvv > in->nvv - row->vv_first || row->ex_dot.dev >= in->ndevs)
			goto out;
		if (tmap[row->table] < 0) {
			drows++;
			dcells += row->ncells;
			continue;
		}
		{
			struct cs_row hdr = *row;
			int di;

			hdr.table = (uint32_t)tmap[row->table];
			di = cs_changeset_dev(out, in->devs[row->ex_dot.dev]);
			if (di < 0) {
				rc = di;
				goto out;
			}
			hdr.ex_dot.dev = (uint32_t)di;
			if ((rc = cs_changeset_row_begin(out, &hdr)) != 0)
				goto out;
		}
		for (k = 0; k < row->ncells; k++) {
			const struct cs_cell *cell = &in->cells[row->cell_first + k];
			int di;

			rc = CS_EINVAL;
			if (cell->col >= in->tables[row->table].ncols || cell->dot.dev >= in->ndevs)
				goto out;
			if (cmap[row->table][cell->col] < 0) {
				dcells++;
				continue;
			}
			di = cs_changeset_dev(out, in->devs[cell->dot.dev]);
			if (di < 0) {
				rc = di;
				goto out;
			}
			dot.dev = (uint32_t)di;
			dot.n = cell->dot.n;
			rc = cs_changeset_cell(out, (uint32_t)cmap[row->table][cell->col], &cell->v,
			    cell->hlc, dot);
			if (rc != 0)
				goto out;
		}
		for (k = 0; k < row->nvv; k++) {
			const struct cs_dot *e = &in->vv[row->vv_first + k];
			int di;

			rc = CS_EINVAL;
			if (e->dev >= in->ndevs)
				goto out;
			di = cs_changeset_dev(out, in->devs[e->dev]);
			if (di < 0) {
				rc = di;
				goto out;
			}
			dot.dev = (uint32_t)di;
			dot.n = e->n;
			if ((rc = cs_changeset_vv(out, dot)) != 0)
				goto out;
		}
		if ((rc = cs_changeset_row_end(out)) != 0)
			goto out;
	}
	out->db_version = in->db_version;
	if (dropped_rows != NULL)
		*dropped_rows = drows;
	if (dropped_cells != NULL)
		*dropped_cells = dcells;
	rc = 0;
out:
	if (cmap != NULL)
		for (t = 0; t < in->ntables; t++)
			cs_free(cmap[t]);
	cs_free(cmap);
	cs_free(tmap);
	return rc;
}

int
cs_appschema_filter(const struct cs_changeset *in, const struct cs_changeset *peer,
    struct cs_changeset *out, uint32_t *dropped_rows, uint32_t *dropped_cells)
{
	return copy_rows(in, peer, 0, in->nrows, out, dropped_rows, dropped_cells);
}

int
cs_appschema_slice(const struct cs_changeset *in, uint32_t first, uint32_t count,
    struct cs_changeset *out)
{
	return copy_rows(in, NULL, first, count, out, NULL, NULL);
}

int
cs_appschema_remember(const char *path, const uint8_t hash[static CS_APPSCHEMA_HASH_LEN],
    int *changed)
{
	char hex[2 * CS_APPSCHEMA_HASH_LEN + 2], old[2 * CS_APPSCHEMA_HASH_LEN + 2] = "";
	char tmp[4096 + 8];
	FILE *f;

	*changed = 0;
	sodium_bin2hex(hex, sizeof(hex), hash, CS_APPSCHEMA_HASH_LEN);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fgets(old, sizeof(old), f) == NULL)
			old[0] = '\0';
		fclose(f);
		old[strcspn(old, "\n")] = '\0';
		if (strcmp(old, hex) == 0)
			return 0;
		*changed = old[0] != '\0';
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return CS_EIO;
	f = fopen(tmp, "w");
	if (f == NULL)
		return CS_EIO;
	fprintf(f, "%s\n", hex);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		return CS_EIO;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return CS_EIO;
	return 0;
}

int
cs_appschema_copy(const struct cs_changeset *src, struct cs_changeset *dst)
{
	uint32_t t, c;
	int ti, rc;

	for (t = 0; t < src->ntables; t++) {
		ti = cs_changeset_table(dst, src->tables[t].name);
		if (ti < 0)
			return ti;
		for (c = 0; c < src->tables[t].ncols; c++) {
			rc = cs_changeset_col(dst, (uint32_t)ti, src->tables[t].cols[c]);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int
cs_appschema_hello_extend(struct cs_msg_buf *mb)
{
	/* fixarray of 9 -> of 10; the new field: {"x": 1} (fixmap, fixstr, fixint) */
	static const uint8_t field[] = {0x81, 0xa1, 'x', 0x01};
	uint8_t *p;

	if (mb->len == 0 || mb->p[0] != 0x99)
		return CS_EINVAL;
	p = cs_realloc(mb->p, mb->len + sizeof(field));
	if (p == NULL)
		return CS_ENOMEM;
	mb->p = p;
	mb->cap = mb->len + sizeof(field);
	mb->p[0] = 0x9a;
	memcpy(mb->p + mb->len, field, sizeof(field));
	mb->len += sizeof(field);
	return 0;
}
