/*
 * Audit trail benchmark: appending 2000 events to cs_audit in a WAL file
 * database (each its own transaction: BLAKE2b chain + Ed25519 signature per
 * row) against a plain INSERT of the same columns in the same run, and
 * `verify` (re-hash + signature check of every row) of 20 000 rows against a
 * plain SELECT walk of them. Prints one Markdown section.
 */
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_goal.h"
#include "sql/audit.h"

#define APPENDS 2000
#define ROWS    20000

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static sqlite3 *
open_db(const char *path)
{
	sqlite3 *db = NULL;

	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		exit(1);
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	return db;
}

int
main(void)
{
	char path[64], wal[80], shm[80];
	uint8_t sk[CS_AUDIT_SK_LEN], pat[CS_GID_LEN];
	struct cs_audit_self self;
	struct cs_audit_event ev = {0};
	struct cs_audit_verdict v;
	sqlite3 *db;
	sqlite3_stmt *st;
	double t0, t_app, t_base, t_ver, t_walk;
	int i, n = 0;

	if (sodium_init() < 0)
		return 1;
	snprintf(path, sizeof(path), "/tmp/bench_audit_%d.db", (int)getpid());
	snprintf(wal, sizeof(wal), "%s-wal", path);
	snprintf(shm, sizeof(shm), "%s-shm", path);
	memset(&self, 0, sizeof(self));
	crypto_sign_keypair(self.sign_pk, sk);
	randombytes_buf(self.device, sizeof(self.device));
	randombytes_buf(pat, sizeof(pat));
	self.sign_sk = sk;
	ev.action = CS_AUDIT_SYNC_IN;
	ev.patient = pat;
	ev.count = 12;
	ev.detail = "session end";

	/* baseline: the same columns inserted plainly, one transaction each */
	db = open_db(path);
	cs_audit_install(db);
	sqlite3_exec(db,
	    "CREATE TABLE plain(id INTEGER PRIMARY KEY, at_ms, action, device, "
	    "practitioner, patient, patient_local, count, detail, prev, hash, sig)",
	    NULL, NULL, NULL);
	sqlite3_prepare_v2(db,
	    "INSERT INTO plain VALUES(NULL,?1,1,?2,?2,?3,NULL,12,'session end',"
	    "zeroblob(32),zeroblob(32),zeroblob(64))",
	    -1, &st, NULL);
	t0 = now_s();
	for (i = 0; i < APPENDS; i++) {
		sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		sqlite3_bind_int64(st, 1, 1700000000000 + i);
		sqlite3_bind_blob(st, 2, self.device, CS_DEVID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, pat, CS_GID_LEN, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_reset(st);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	t_base = now_s() - t0;
	sqlite3_finalize(st);
	t0 = now_s();
	for (i = 0; i < APPENDS; i++)
		if (cs_audit_append(db, &self, &ev, NULL, NULL) != 0)
			return 1;
	t_app = now_s() - t0;
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (i = APPENDS; i < ROWS; i++)
		cs_audit_append(db, &self, &ev, NULL, NULL);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);

	t0 = now_s();
	if (cs_audit_verify(db, &self, NULL, &v) != 0 || !v.ok || v.rows != ROWS)
		return 1;
	t_ver = now_s() - t0;
	sqlite3_prepare_v2(db, "SELECT * FROM cs_audit ORDER BY id", -1, &st, NULL);
	t0 = now_s();
	while (sqlite3_step(st) == SQLITE_ROW)
		n += sqlite3_column_bytes(st, 11) > 0;
	t_walk = now_s() - t0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	unlink(path);
	unlink(wal);
	unlink(shm);
	sodium_memzero(sk, sizeof(sk));

	printf("## Audit trail (sql/audit)\n\n");
	printf("| figure | cabsync | raw baseline | ratio | goal |\n|---|---|---|---|---|\n");
	printf("| append one event (own transaction) | %.1f µs | %.1f µs (plain INSERT) | %.2f | "
	       "< 1 ms |\n",
	    t_app / APPENDS * 1e6, t_base / APPENDS * 1e6, t_app / t_base);
	printf(
	    "| verify %d rows | %.0f ms (%.1f µs/row) | %.1f ms (SELECT walk) | %.1f | < 5 s |\n",
	    ROWS, t_ver * 1e3, t_ver / ROWS * 1e6, t_walk * 1e3, t_ver / t_walk);
	cs_bench_goal("append one audit event (own transaction)", t_app / APPENDS * 1e3, "<=", 1,
	    "ms");
	{
		char f[64];

		snprintf(f, sizeof(f), "verify %d audit rows", ROWS);
		cs_bench_goal(f, t_ver, "<=", 5, "s");
	}
	printf(
	    "\nMeasured: %d appends through cs_audit_append (BLAKE2b-256 chain, Ed25519 per row, "
	    "BEGIN IMMEDIATE each) vs. the same INSERT without hashing or signing, WAL file in "
	    "/tmp, synchronous=NORMAL; cs_audit_verify of %d rows (%d walked).\n",
	    APPENDS, ROWS, n);
	return 0;
}
