#include "sim_vfs.h"

#include <stdio.h>
#include <string.h>

/* The Julian day of the Unix epoch in ms, as SQLite's os_unix.c counts it. */
#define JD_UNIX_EPOCH_MS 210866760000000ll

struct sim_file {
	sqlite3_file base;
	struct sim_vfs *vfs;
	sqlite3_file *real; /* follows this struct in the same allocation */
};

static struct sim_vfs *
file_vfs(sqlite3_file *f)
{
	return ((struct sim_file *)f)->vfs;
}

static sqlite3_file *
file_real(sqlite3_file *f)
{
	return ((struct sim_file *)f)->real;
}

/* Counts a write; 1 when this write must not reach the disk. */
static int
write_blocked(struct sim_vfs *v)
{
	v->writes++;
	if (v->crashed)
		return 1;
	if (v->crash_countdown < 0)
		return 0;
	if (v->crash_countdown == 0) {
		v->crashed = 1;
		return 1;
	}
	v->crash_countdown--;
	return 0;
}

static int
f_close(sqlite3_file *f)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods != NULL ? r->pMethods->xClose(r) : SQLITE_OK;
}

static int
f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xRead(r, buf, n, off);
}

static int
f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	sqlite3_file *r = file_real(f);

	if (write_blocked(file_vfs(f)))
		return SQLITE_IOERR_WRITE;
	return r->pMethods->xWrite(r, buf, n, off);
}

static int
f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	sqlite3_file *r = file_real(f);

	if (file_vfs(f)->crashed)
		return SQLITE_IOERR_TRUNCATE;
	return r->pMethods->xTruncate(r, size);
}

static int
f_sync(sqlite3_file *f, int flags)
{
	sqlite3_file *r = file_real(f);

	if (file_vfs(f)->crashed)
		return SQLITE_IOERR_FSYNC;
	return r->pMethods->xSync(r, flags);
}

static int
f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xFileSize(r, size);
}

static int
f_lock(sqlite3_file *f, int lk)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xLock(r, lk);
}

static int
f_unlock(sqlite3_file *f, int lk)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xUnlock(r, lk);
}

static int
f_reserved(sqlite3_file *f, int *out)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xCheckReservedLock(r, out);
}

static int
f_fcntl(sqlite3_file *f, int op, void *arg)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xFileControl(r, op, arg);
}

static int
f_sector(sqlite3_file *f)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xSectorSize(r);
}

static int
f_devchar(sqlite3_file *f)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xDeviceCharacteristics(r);
}

static int
f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xShmMap(r, pg, pgsz, extend, pp);
}

static int
f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	sqlite3_file *r = file_real(f);

	return r->pMethods->xShmLock(r, off, n, flags);
}

static void
f_shm_barrier(sqlite3_file *f)
{
	sqlite3_file *r = file_real(f);

	r->pMethods->xShmBarrier(r);
}

static int
f_shm_unmap(sqlite3_file *f, int del)
{
	sqlite3_file *r = file_real(f);

	/* After a crash the -shm file stays, as a killed process leaves it. */
	return r->pMethods->xShmUnmap(r, file_vfs(f)->crashed ? 0 : del);
}

static int
f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	sqlite3_file *r = file_real(f);

	if (r->pMethods->iVersion < 3) {
		*pp = NULL;
		return SQLITE_OK;
	}
	return r->pMethods->xFetch(r, off, n, pp);
}

static int
f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	sqlite3_file *r = file_real(f);

	if (r->pMethods->iVersion < 3)
		return SQLITE_OK;
	return r->pMethods->xUnfetch(r, off, p);
}

static const sqlite3_io_methods sim_io = {
    .iVersion = 3,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_reserved,
    .xFileControl = f_fcntl,
    .xSectorSize = f_sector,
    .xDeviceCharacteristics = f_devchar,
    .xShmMap = f_shm_map,
    .xShmLock = f_shm_lock,
    .xShmBarrier = f_shm_barrier,
    .xShmUnmap = f_shm_unmap,
    .xFetch = f_fetch,
    .xUnfetch = f_unfetch,
};

static int
v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct sim_vfs *v = vfs->pAppData;
	struct sim_file *sf = (struct sim_file *)f;
	int rc;

	sf->vfs = v;
	sf->real = (sqlite3_file *)(sf + 1);
	rc = v->real->xOpen(v->real, name, sf->real, flags, out_flags);
	/* SQLite calls xClose only when pMethods is set: mirror the real file. */
	f->pMethods = sf->real->pMethods != NULL ? &sim_io : NULL;
	return rc;
}

static int
v_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
	struct sim_vfs *v = vfs->pAppData;

	if (v->crashed)
		return SQLITE_IOERR_DELETE;
	return v->real->xDelete(v->real, name, sync);
}

static int
v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	struct sim_vfs *v = vfs->pAppData;

	return v->real->xAccess(v->real, name, flags, out);
}

static int
v_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	struct sim_vfs *v = vfs->pAppData;

	return v->real->xFullPathname(v->real, name, n, out);
}

static void *
v_dlopen(sqlite3_vfs *vfs, const char *name)
{
	struct sim_vfs *v = vfs->pAppData;

	return v->real->xDlOpen(v->real, name);
}

static void
v_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	struct sim_vfs *v = vfs->pAppData;

	v->real->xDlError(v->real, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	struct sim_vfs *v = vfs->pAppData;

	return v->real->xDlSym(v->real, h, sym);
}

static void
v_dlclose(sqlite3_vfs *vfs, void *h)
{
	struct sim_vfs *v = vfs->pAppData;

	v->real->xDlClose(v->real, h);
}

static int
v_random(sqlite3_vfs *vfs, int n, char *out)
{
	struct sim_vfs *v = vfs->pAppData;

	return v->real->xRandomness(v->real, n, out);
}

static int
v_sleep(sqlite3_vfs *vfs, int us)
{
	struct sim_vfs *v = vfs->pAppData;

	return v->real->xSleep(v->real, us);
}

static int
v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	struct sim_vfs *v = vfs->pAppData;

	*out = JD_UNIX_EPOCH_MS + (sqlite3_int64)v->now_ms;
	return SQLITE_OK;
}

static int
v_time(sqlite3_vfs *vfs, double *out)
{
	sqlite3_int64 ms;

	v_time64(vfs, &ms);
	*out = (double)ms / 86400000.0;
	return SQLITE_OK;
}

static int
v_lasterr(sqlite3_vfs *vfs, int n, char *out)
{
	struct sim_vfs *v = vfs->pAppData;

	return v->real->xGetLastError != NULL ? v->real->xGetLastError(v->real, n, out) : 0;
}

int
sim_vfs_register(struct sim_vfs *v, const char *name)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);

	if (real == NULL)
		return SQLITE_ERROR;
	memset(&v->base, 0, sizeof(v->base));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->real = real;
	v->crash_countdown = -1;
	v->crashed = 0;
	v->writes = 0;
	v->base.iVersion = 2; /* up to xCurrentTimeInt64 */
	v->base.szOsFile = (int)sizeof(struct sim_file) + real->szOsFile;
	v->base.mxPathname = real->mxPathname;
	v->base.zName = v->name;
	v->base.pAppData = v;
	v->base.xOpen = v_open;
	v->base.xDelete = v_delete;
	v->base.xAccess = v_access;
	v->base.xFullPathname = v_fullpath;
	v->base.xDlOpen = v_dlopen;
	v->base.xDlError = v_dlerror;
	v->base.xDlSym = v_dlsym;
	v->base.xDlClose = v_dlclose;
	v->base.xRandomness = v_random;
	v->base.xSleep = v_sleep;
	v->base.xCurrentTime = v_time;
	v->base.xGetLastError = v_lasterr;
	v->base.xCurrentTimeInt64 = v_time64;
	return sqlite3_vfs_register(&v->base, 0);
}

void
sim_vfs_unregister(struct sim_vfs *v)
{
	sqlite3_vfs_unregister(&v->base);
}

void
sim_vfs_crash_after(struct sim_vfs *v, long n)
{
	v->crash_countdown = n;
	v->crashed = 0;
}
