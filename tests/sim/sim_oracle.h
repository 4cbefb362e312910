/*
 * tests/sim/sim_oracle.h: the simulator's own causality oracle.
 *
 * It never asks the engine whether two writes are concurrent. Every write
 * (a cell of a row, or the row's existence: insert, re-insert, delete) is an
 * event; each replica keeps, per row, the set of the row's events it has
 * integrated (its causal history for the row). A local write records the
 * writer's history at that moment (what it had seen), then joins it. A row
 * received in a batch joins the sender's history of that row as it was when
 * the batch was extracted, at the moment the receiver integrates the row
 * (applied, or released from hold). Two writes are concurrent iff neither is
 * in the other's history. Sets are bitsets over event numbers.
 *
 * Ownership: the oracle owns its events and sets; one thread; cs_malloc.
 */
#ifndef CS_SIM_ORACLE_H
#define CS_SIM_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_REP 8
#define OR_EXIST    (-1) /* the column of an existence event */

struct bits {
	uint64_t *w;
	size_t nw;
};

void bits_free(struct bits *b);
int bits_copy(struct bits *dst, const struct bits *src);
int bits_or(struct bits *dst, const struct bits *src);
int bits_set(struct bits *b, size_t i);
int bits_test(const struct bits *b, size_t i);

struct or_event {
	int row;
	int col; /* column index in the row's table, or OR_EXIST */
	int rep; /* writing replica */
	uint8_t dev[16];
	uint64_t hlc, n;
	uint64_t cl;     /* existence: the causal length it set */
	int cascade;     /* a child's tombstone the engine wrote during an apply */
	long txn;        /* the transaction (app or apply) that wrote it */
	char *val;       /* a cell: the value written (sim_main's text form), or NULL */
	struct bits saw; /* the writer's history of the row before this write */
	/* a delete: the writer's history of every row at that moment, so that
	 * the tombstones a receiver's cascade writes for children can see what
	 * the parent's deleter had seen of them (and nothing more) */
	struct bits *rows_saw;
	size_t nrows_saw;
};

struct or_row {
	uint8_t gid[16];
	int table;
	struct bits hist[SIM_MAX_REP];
	size_t *ev; /* this row's events */
	size_t nev, cap;
};

struct sim_oracle {
	struct or_event *ev;
	size_t nev, evcap;
	struct or_row *rows;
	size_t nrows, rowcap;
	int nrep;
	long txn; /* the current transaction: oracle_next_txn() */
};

void oracle_init(struct sim_oracle *o, int nrep);
void oracle_free(struct sim_oracle *o);
/* The row of gid, created (for table) if new. Index or -1 (ENOMEM). */
long oracle_row(struct sim_oracle *o, int table, const uint8_t gid[16]);
/* The row of gid or -1. */
long oracle_find_row(const struct sim_oracle *o, const uint8_t gid[16]);
/*
 * A local write by rep: records the writer's current history as what the
 * write saw. The write joins rep's history only with oracle_seen(), so that
 * the writes of one transaction do not see each other. Index or -1.
 */
long oracle_write(struct sim_oracle *o, int rep, long row, int col, const uint8_t dev[16],
    uint64_t hlc, uint64_t n, uint64_t cl);
int oracle_seen(struct sim_oracle *o, int rep, long ev);
/* The writes that follow belong to a new transaction. */
void oracle_next_txn(struct sim_oracle *o);
/*
 * 1 if the transaction of event ev also deleted row (an existence event
 * with an even causal length): a delete of a parent whose writer deleted
 * the child with it (ON DELETE CASCADE), so the child was its descendant.
 */
int oracle_txn_deleted(const struct sim_oracle *o, long ev, long row);
/* Keep rep's history of every row in delete event ev (see rows_saw). */
int oracle_keep_rows_saw(struct sim_oracle *o, long ev, int rep);
/* What delete event ev's writer had seen of row, or NULL. */
const struct bits *oracle_rows_saw(const struct sim_oracle *o, long ev, long row);
/* Replace what event ev saw (a write made for someone else's cause). */
int oracle_set_saw(struct sim_oracle *o, long ev, const struct bits *saw);
/* rep integrates a sender's history of row (a snapshot). */
int oracle_integrate(struct sim_oracle *o, int rep, long row, const struct bits *snap);
/* The event of (row, col, dev, hlc) or -1. */
long oracle_find(const struct sim_oracle *o, long row, int col, const uint8_t dev[16],
    uint64_t hlc);
/* 1 if event b had seen event a when it was written. */
int oracle_saw(const struct sim_oracle *o, long b, long a);
/*
 * 1 if cell event a was seen by a later write to the same cell or to the
 * row's existence (so a's value was knowingly replaced, not lost).
 */
int oracle_superseded(const struct sim_oracle *o, long a);
/* 1 if the row of event a was ever tombstoned by an engine cascade. */
int oracle_row_cascaded(const struct sim_oracle *o, long a);

#endif
