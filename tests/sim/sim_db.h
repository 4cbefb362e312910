/*
 * tests/sim/sim_db.h: what the simulator, the crash test and the OOM test
 * know about a replica's database, without the engine's help.
 *
 *  - struct sim_schema: the tracked tables of a tables INI (parsed here with
 *    inih, independently of the engine) completed by PRAGMA table_info and
 *    foreign_key_list: columns, declared types, NOT NULL, foreign keys;
 *  - the canonical dump: the tracked tables' rows keyed by global id (local
 *    INTEGER keys differ per replica), foreign keys written as the parent's
 *    gid, lines sorted, so two converged replicas give the same bytes;
 *  - the full dump: every table of the file, cs_* included, rows sorted,
 *    for "the database is exactly as before" checks (atomicity, OOM);
 *  - a growable string buffer.
 *
 * The one thing read from the engine's private tables is the gid mapping
 * (cs_ids), through sim_db_gid(); see README.md.
 * Ownership: strings returned are the caller's (cs_free). One thread.
 */
#ifndef CS_SIM_DB_H
#define CS_SIM_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define SIM_MAX_TABLES 16
#define SIM_MAX_COLS   32

struct sim_col {
	char name[64];
	char type[32]; /* declared type, upper case */
	int notnull;
	int pk;
	int fk_table; /* index of the parent tracked table, or -1 */
	int has_dflt;
};

struct sim_table {
	char name[64];
	char pk[64];
	char scope[64]; /* "self" for the patient table */
	int pk_col;
	struct sim_col cols[SIM_MAX_COLS];
	int ncols;
};

struct sim_schema {
	struct sim_table t[SIM_MAX_TABLES];
	int nt;
};

struct sbuf {
	char *p;
	size_t len, cap;
	int err; /* an allocation failed: the content is truncated */
};

void sb_init(struct sbuf *b);
void sb_free(struct sbuf *b);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_hex(struct sbuf *b, const uint8_t *p, size_t n);

/* Read the tables INI, then the columns from db. 0 or -1 (message in err). */
int sim_schema_load(struct sim_schema *s, const char *ini_path, sqlite3 *db, char *err,
    size_t errlen);
/* Index of table name, or -1. */
int sim_schema_table(const struct sim_schema *s, const char *name);
/* Index of column name in table t, or -1. */
int sim_schema_col(const struct sim_table *t, const char *name);

/* Global id of (table, local pk): 1 found, 0 no mapping, < 0 SQLite error. */
int sim_db_gid(sqlite3 *db, const char *table, int64_t pk, uint8_t gid[16]);

/* Every (pk, gid) of the tracked tables, read at once (lookups in memory). */
struct sim_gidmap {
	struct sim_gident {
		int64_t pk;
		uint8_t gid[16];
	} * v[SIM_MAX_TABLES];
	size_t n[SIM_MAX_TABLES];
};

int sim_gidmap_load(sqlite3 *db, const struct sim_schema *s, struct sim_gidmap *m);
void sim_gidmap_free(struct sim_gidmap *m);
/* 1 found (gid filled), 0 not mapped. */
int sim_gidmap_find(const struct sim_gidmap *m, int table, int64_t pk, uint8_t gid[16]);

/* Canonical dump of the tracked tables into *out (NUL-terminated). 0 or -1. */
int sim_dump_canonical(sqlite3 *db, const struct sim_schema *s, char **out);
/* Full dump of every table (sqlite_sequence and sqlite_stat* excluded). */
int sim_dump_full(sqlite3 *db, char **out);
/* "ok" from PRAGMA integrity_check: 1 ok, 0 not ok (first line in msg). */
int sim_db_integrity_ok(sqlite3 *db, char *msg, size_t msglen);

/* Execute sql, 0 or the SQLite error code. */
int sim_db_exec(sqlite3 *db, const char *sql);
/* Run a whole script file (schema.sql). 0 or -1. */
int sim_db_exec_file(sqlite3 *db, const char *path);

#endif
