/*
 * base/change.h: the change record, what sql/ extracts and applies and what
 * wire/ encodes (DESIGN.md "Merge rules, precisely"; docs/MERGE.md).
 *
 * A changeset is one batch: a list of row changes, each carrying the row's
 * global id, patient gid, causal length, existence entry, the changed cells
 * and the sender's version vector for that row. Names are not repeated per
 * cell: the changeset has a small dictionary of tables (name + column names)
 * and of devices (16-byte global device ids), and rows, cells and dots refer
 * to them by index. Because the dictionary travels with the batch, two
 * devices on different app schema versions still agree on what a column is
 * (a receiver ignores, and holds, columns it does not know yet).
 *
 * Ownership: a changeset owns every byte it points to (an arena of its own,
 * through cs_malloc). Builders copy their inputs. cs_changeset_free() releases
 * all of it. Not thread-safe; no I/O.
 */
#ifndef CS_BASE_CHANGE_H
#define CS_BASE_CHANGE_H

#include <stddef.h>
#include <stdint.h>

#define CS_GID_LEN   16 /* global row id, random */
#define CS_DEVID_LEN 16 /* global device id */

/* Hybrid logical clock: 48-bit milliseconds since the epoch, 16-bit counter. */
#define CS_HLC_MS(h)       ((h) >> 16)
#define CS_HLC_CTR(h)      ((h)&0xffffu)
#define CS_HLC_MAKE(ms, c) (((uint64_t)(ms) << 16) | ((uint64_t)(c)&0xffffu))

enum cs_vtype {
	CS_V_NULL = 0,
	CS_V_INT = 1,
	CS_V_REAL = 2,
	CS_V_TEXT = 3,
	CS_V_BLOB = 4,
	CS_V_REF = 5 /* foreign key: the CS_GID_LEN-byte gid of a row of a tracked table */
};

struct cs_value {
	enum cs_vtype type;
	union {
		int64_t i;
		double r;
	} u;
	const uint8_t *p; /* TEXT (not NUL-terminated), BLOB, REF bytes */
	size_t len;
};

/* A write's identity: device (index into the changeset's device table) and
 * that device's db_version at the write. Also a version-vector entry. */
struct cs_dot {
	uint32_t dev;
	uint64_t n;
};

struct cs_cell {
	uint32_t col; /* index into the row's table's column list */
	struct cs_value v;
	uint64_t hlc;
	struct cs_dot dot;
};

struct cs_row {
	uint32_t table; /* index into cs->tables */
	uint8_t gid[CS_GID_LEN];
	uint8_t patient[CS_GID_LEN]; /* the row's patient scope (a patient row: its own gid) */
	uint64_t cl;                 /* causal length: odd alive, even deleted */
	struct cs_dot ex_dot;        /* existence entry */
	uint64_t ex_hlc;
	uint32_t cell_first, ncells; /* cs->cells[cell_first .. +ncells) */
	uint32_t vv_first, nvv;      /* cs->vv[vv_first .. +nvv): sender's row vector */
};

struct cs_tabdef {
	char *name;
	char **cols;
	uint32_t ncols;
};

struct cs_arena_chunk;

struct cs_changeset {
	struct cs_tabdef *tables;
	uint32_t ntables;
	uint8_t (*devs)[CS_DEVID_LEN];
	uint32_t ndevs;
	struct cs_row *rows;
	uint32_t nrows;
	struct cs_cell *cells;
	uint32_t ncells;
	struct cs_dot *vv;
	uint32_t nvv;
	/* The cursor the receiver may store once this batch is durably applied:
	 * every change of the sender up to this db_version is in this or an
	 * earlier batch of the stream (docs/MERGE.md, cursor rule). */
	uint64_t db_version;

	/* private */
	size_t tables_cap, devs_cap, rows_cap, cells_cap, vv_cap;
	struct cs_arena_chunk *arena;
	int open_row; /* a row is being built */
};

void cs_changeset_init(struct cs_changeset *cs);
/* Releases everything; accepts NULL and a half-built changeset; leaves it zeroed. */
void cs_changeset_free(struct cs_changeset *cs);
/* Empty it for reuse, keeping capacity. */
void cs_changeset_reset(struct cs_changeset *cs);

/* Index of device id in the dictionary, added if new. Returns index >= 0 or CS_ENOMEM. */
int cs_changeset_dev(struct cs_changeset *cs, const uint8_t id[static CS_DEVID_LEN]);
/* Index of table name, added if new (with no columns). */
int cs_changeset_table(struct cs_changeset *cs, const char *name);
/* Index of column name in table t, added if new. */
int cs_changeset_col(struct cs_changeset *cs, uint32_t t, const char *name);
/* Add a table with its whole column list at once (decoders). Returns its index. */
int cs_changeset_add_tabdef(struct cs_changeset *cs, const char *name, size_t name_len,
    uint32_t ncols);
int cs_changeset_set_col(struct cs_changeset *cs, uint32_t t, uint32_t c, const char *name,
    size_t name_len);

/*
 * Row building: row_begin copies *hdr (its cell/vv ranges are ignored), then
 * cells and vector entries are added to that row, then row_end. Values are
 * copied into the arena. Each returns 0 or CS_ENOMEM / CS_EINVAL (index out of
 * the dictionary, cell outside a row).
 */
int cs_changeset_row_begin(struct cs_changeset *cs, const struct cs_row *hdr);
int cs_changeset_cell(struct cs_changeset *cs, uint32_t col, const struct cs_value *v,
    uint64_t hlc, struct cs_dot dot);
int cs_changeset_vv(struct cs_changeset *cs, struct cs_dot e);
int cs_changeset_row_end(struct cs_changeset *cs);

/* Copy n bytes into the changeset's arena (decoders use it). NULL on ENOMEM. */
void *cs_changeset_alloc(struct cs_changeset *cs, size_t n);

/* Deep equality of two changesets (tests and property checks). 1 equal, 0 not. */
int cs_changeset_equal(const struct cs_changeset *a, const struct cs_changeset *b);
int cs_value_equal(const struct cs_value *a, const struct cs_value *b);

#endif
