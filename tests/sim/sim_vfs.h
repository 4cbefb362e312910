/*
 * tests/sim/sim_vfs.h: an SQLite VFS shim per simulated replica.
 *
 * It forwards everything to the default ("unix") VFS and adds two things the
 * simulator needs and the engine API cannot give:
 *  - a fake clock: xCurrentTimeInt64 returns the replica's simulated time, so
 *    the engine's capture triggers (julianday('now')) see the replica's skewed
 *    clock, exactly as a real PC with a wrong clock would;
 *  - a crash point: after N more xWrite calls every write, truncate, sync and
 *    delete fails and does nothing, so the files on disk stay exactly as a
 *    power cut at that write would leave them. Closing and reopening the
 *    database then runs SQLite's real WAL recovery.
 *
 * Ownership: the caller owns struct sim_vfs (it must outlive every connection
 * opened through it). One thread. Test code only.
 */
#ifndef CS_SIM_VFS_H
#define CS_SIM_VFS_H

#include <stdint.h>

#include <sqlite3.h>

struct sim_vfs {
	sqlite3_vfs base; /* registered under name */
	sqlite3_vfs *real;
	char name[32];
	uint64_t now_ms;      /* what the clock says (ms since the Unix epoch) */
	long crash_countdown; /* < 0: off; writes left before the crash */
	int crashed;          /* the crash point was reached: nothing more hits the disk */
	long writes;          /* xWrite calls so far (all files) */
};

/* Register a shim called name. Returns 0 or an SQLite error code. */
int sim_vfs_register(struct sim_vfs *v, const char *name);
void sim_vfs_unregister(struct sim_vfs *v);
/* Crash after n more writes (n >= 0), or never (n < 0); clears a past crash. */
void sim_vfs_crash_after(struct sim_vfs *v, long n);

#endif
