/*
 * agent/init_cmd.c: `cabsync init` (see init_cmd.h).
 */
#include "agent/init_cmd.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/db_cmd.h"
#include "agent/devstate.h"
#include "agent/roster.h"
#include "base/err.h"
#include "base/mem.h"
#include "sql/audit.h"
#include "sql/engine.h"

static int
usage_error(const char *what)
{
	fprintf(stderr, "cabsync init: %s (see cabsync --help).\n", what);
	return CS_DB_EXIT_USAGE;
}

int
cs_init_install(struct cs_home *h, int enable_wal, const char *cmd)
{
	struct cs_devstate *st;
	struct cs_engine_opts o;
	struct cs_engine *e = NULL;
	int rc, line = 0;

	st = cs_malloc(sizeof(*st));
	if (st == NULL) {
		fprintf(stderr, "cabsync %s: out of memory.\n", cmd);
		return CS_DB_EXIT_FAIL;
	}
	if (cs_devstate_init(st, h->db) != 0) {
		rc = usage_error("database path too long");
		goto out;
	}
	rc = cs_devstate_load(st, &line);
	if (rc == CS_ENOENT) {
		if (sodium_is_zero(h->device_id, CS_DEVID_LEN))
			randombytes_buf(st->id, sizeof(st->id));
		else
			memcpy(st->id, h->device_id, CS_DEVID_LEN);
	} else if (rc != 0) {
		fprintf(stderr,
		    "cabsync %s: %s: the device state file %s is unreadable or malformed "
		    "(line %d); move it away to install as a new device.\n",
		    cmd, h->db, st->path, line);
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	snprintf(st->name, sizeof(st->name), "%s", h->device_name);
	snprintf(st->tables, sizeof(st->tables), "%s", h->tables);
	if (cs_devstate_save(st) != 0) {
		fprintf(stderr, "cabsync %s: %s: cannot write the device state file %s: %s.\n", cmd,
		    h->db, st->path, strerror(errno));
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.db_path = h->db;
	o.tables_ini = h->tables;
	o.device_id = st->id;
	o.enable_wal = enable_wal;
	o.expected_incarnation = st->has_incarnation ? st->incarnation : NULL;
	o.min_db_version = st->db_version;
	rc = cs_engine_open(&e, &o);
	if (rc != 0) {
		fprintf(stderr, "cabsync %s: %s: %s\n", cmd, h->db, cs_engine_open_errmsg());
		rc = rc == CS_SQL_ENOTWAL || rc == CS_SQL_ENETFS || rc == CS_SQL_ESCHEMA_NEW
		    ? CS_DB_EXIT_REFUSED
		    : CS_DB_EXIT_FAIL;
		goto out;
	}
	rc = cs_engine_install(e);
	if (rc == 0 && (rc = cs_audit_install(cs_engine_handle(e))) != 0) {
		fprintf(stderr, "cabsync %s: %s: installing the audit trail: %s\n", cmd, h->db,
		    cs_audit_strerror(rc));
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (rc != 0) {
		fprintf(stderr, "cabsync %s: %s: %s\n", cmd, h->db, cs_engine_errmsg(e));
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	cs_engine_incarnation(e, st->incarnation);
	st->has_incarnation = 1;
	st->db_version = cs_engine_db_version(e);
	if (cs_devstate_save(st) != 0) {
		fprintf(stderr, "cabsync %s: %s: cannot write the device state file %s: %s.\n", cmd,
		    h->db, st->path, strerror(errno));
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	memcpy(h->device_id, st->id, CS_DEVID_LEN);
	rc = 0;
out:
	cs_engine_close(e);
	cs_free(st);
	return rc;
}

struct init_opts {
	const char *home, *db, *tables, *cabinet, *practitioner, *device_name, *port, *same;
	const char *peers[CS_HOME_MAX_PEERS];
	size_t npeers;
	int enable_wal;
};

static int
parse(int argc, char **argv, struct init_opts *o)
{
	const char **slot;
	char what[160];
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--enable-wal") == 0) {
			o->enable_wal = 1;
			continue;
		}
		if (strcmp(a, "--home") == 0)
			slot = &o->home;
		else if (strcmp(a, "--db") == 0)
			slot = &o->db;
		else if (strcmp(a, "--tables") == 0)
			slot = &o->tables;
		else if (strcmp(a, "--cabinet") == 0)
			slot = &o->cabinet;
		else if (strcmp(a, "--practitioner") == 0)
			slot = &o->practitioner;
		else if (strcmp(a, "--device-name") == 0)
			slot = &o->device_name;
		else if (strcmp(a, "--port") == 0)
			slot = &o->port;
		else if (strcmp(a, "--same-cabinet-as") == 0)
			slot = &o->same;
		else if (strcmp(a, "--peer") == 0) {
			if (o->npeers == CS_HOME_MAX_PEERS)
				return usage_error("too many --peer");
			slot = &o->peers[o->npeers++];
		} else {
			snprintf(what, sizeof(what), "unknown argument '%.100s'", a);
			return usage_error(what);
		}
		if (i + 1 >= argc) {
			snprintf(what, sizeof(what), "option '%.100s' needs a value", a);
			return usage_error(what);
		}
		*slot = argv[++i];
	}
	if (o->home == NULL || o->db == NULL || o->tables == NULL || o->practitioner == NULL ||
	    (o->cabinet == NULL && o->same == NULL))
		return usage_error("needs --home, --db, --tables, --cabinet and --practitioner");
	return 0;
}

static int
name_ok(const char *what, const char *s)
{
	char m[128];

	if (cs_devstate_name_ok(s))
		return 1;
	snprintf(m, sizeof(m),
	    "the %s name must be 1 to 63 bytes, without ; # [ ] = or control characters", what);
	usage_error(m);
	return 0;
}

int
cs_init_cmd(int argc, char **argv)
{
	struct init_opts o;
	struct cs_home *h = NULL, *other = NULL;
	struct cs_roster_dev me;
	char path[CS_HOME_PATH_MAX], msg[512], host[256];
	struct stat sb;
	unsigned long port = 0;
	char *end;
	size_t i;
	int rc;

	if ((rc = parse(argc, argv, &o)) != 0)
		return rc;
	if (o.device_name == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "pc");
		host[sizeof(host) - 1] = '\0';
		host[CS_HOME_NAME_MAX - 1] = '\0';
		o.device_name = host;
	}
	if (!name_ok("practitioner", o.practitioner) || !name_ok("device", o.device_name) ||
	    (o.cabinet != NULL && !name_ok("cabinet", o.cabinet)))
		return CS_DB_EXIT_USAGE;
	if (o.port != NULL) {
		errno = 0;
		port = strtoul(o.port, &end, 10);
		if (errno != 0 || *end != '\0' || port > 65535 || o.port[0] == '\0')
			return usage_error("--port must be a number from 0 to 65535");
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "cabsync init: libsodium failed to initialise.\n");
		return CS_DB_EXIT_FAIL;
	}
	h = cs_calloc(1, sizeof(*h));
	other = cs_calloc(1, sizeof(*other));
	if (h == NULL || other == NULL) {
		fprintf(stderr, "cabsync init: out of memory.\n");
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (mkdir(o.home, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "cabsync init: %s: cannot create the home directory: %s.\n", o.home,
		    strerror(errno));
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (realpath(o.home, h->dir) == NULL || stat(h->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "cabsync init: %s: the home is not a directory.\n", o.home);
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (cs_home_path(h, "cabsync.ini", path, sizeof(path)) == 0 && stat(path, &sb) == 0) {
		fprintf(stderr,
		    "cabsync init: %s: this home is already initialised; it is never "
		    "overwritten (choose another --home).\n",
		    o.home);
		rc = CS_DB_EXIT_REFUSED;
		goto out;
	}
	if (cs_home_path(h, "device.key", path, sizeof(path)) == 0 && stat(path, &sb) == 0) {
		fprintf(stderr,
		    "cabsync init: %s: a device.key is already there; move it away or choose "
		    "another --home.\n",
		    o.home);
		rc = CS_DB_EXIT_REFUSED;
		goto out;
	}
	if (realpath(o.db, h->db) == NULL) {
		fprintf(stderr, "cabsync init: %s: no such database file.\n", o.db);
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (realpath(o.tables, h->tables) == NULL) {
		fprintf(stderr, "cabsync init: %s: cannot read the tables file: %s.\n", o.tables,
		    strerror(errno));
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (strpbrk(h->db, ";#\n") != NULL || strpbrk(h->tables, ";#\n") != NULL) {
		rc = usage_error("the database and tables paths must not contain ; # or a newline");
		goto out;
	}
	if ((rc = cs_home_secrets_alloc(h)) != 0) {
		fprintf(stderr, "cabsync init: out of secure memory.\n");
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (o.same != NULL) {
		rc = cs_home_load(other, o.same, msg, sizeof(msg));
		if (rc != 0) {
			fprintf(stderr, "cabsync init: --same-cabinet-as: %s\n", msg);
			rc = CS_DB_EXIT_FAIL;
			goto out;
		}
		memcpy(h->cabinet_id, other->cabinet_id, sizeof(h->cabinet_id));
		snprintf(h->cabinet_name, sizeof(h->cabinet_name), "%s", other->cabinet_name);
		h->epoch = other->epoch;
		memcpy(h->sec->cabinet_key, other->sec->cabinet_key, CS_KEY_LEN);
		if (strcmp(other->practitioner_name, o.practitioner) == 0) {
			memcpy(h->practitioner, other->practitioner, CS_GID_LEN);
		} else if (!cs_roster_is_admin(other, other->practitioner)) {
			fprintf(stderr,
			    "cabsync init: %s: only a device of a cabinet-admin may add a "
			    "practitioner.\n",
			    o.same);
			rc = CS_DB_EXIT_REFUSED;
			goto out;
		} else {
			randombytes_buf(h->practitioner, CS_GID_LEN);
		}
	} else {
		randombytes_buf(h->cabinet_id, sizeof(h->cabinet_id));
		snprintf(h->cabinet_name, sizeof(h->cabinet_name), "%s", o.cabinet);
		h->epoch = 1;
		randombytes_buf(h->sec->cabinet_key, CS_KEY_LEN);
		randombytes_buf(h->practitioner, CS_GID_LEN);
	}
	snprintf(h->practitioner_name, sizeof(h->practitioner_name), "%s", o.practitioner);
	snprintf(h->device_name, sizeof(h->device_name), "%s", o.device_name);
	h->port = (uint16_t)port;
	for (i = 0; i < o.npeers; i++)
		snprintf(h->peers[h->npeers++], sizeof(h->peers[0]), "%s", o.peers[i]);
	randombytes_buf(h->sec->dh_sk, 32);
	crypto_scalarmult_base(h->dh_pk, h->sec->dh_sk);
	crypto_sign_keypair(h->sign_pk, h->sec->sign_sk);
	if ((rc = cs_init_install(h, o.enable_wal, "init")) != 0)
		goto out;
	h->base_epoch = h->epoch;
	h->sec->keys[0].epoch = h->epoch;
	memcpy(h->sec->keys[0].key, h->sec->cabinet_key, CS_KEY_LEN);
	h->sec->nkeys = 1;
	memset(&me, 0, sizeof(me));
	memcpy(me.id, h->device_id, CS_DEVID_LEN);
	memcpy(me.dh_pk, h->dh_pk, 32);
	memcpy(me.sign_pk, h->sign_pk, 32);
	memcpy(me.practitioner, h->practitioner, CS_GID_LEN);
	snprintf(me.name, sizeof(me.name), "%s", h->device_name);
	snprintf(me.practitioner_name, sizeof(me.practitioner_name), "%s", h->practitioner_name);
	if (o.same != NULL) {
		/* a device of the other home signs this one in (agent/roster.h rules) */
		rc = cs_roster_make(other, &me, 0, 0, 0, NULL, NULL);
		if (rc != 0) {
			fprintf(stderr, "cabsync init: %s cannot add this device: %s.\n", o.same,
			    cs_roster_strerror(rc));
			rc = rc == CS_ROSTER_EADMIN ? CS_DB_EXIT_REFUSED : CS_DB_EXIT_FAIL;
			goto out;
		}
		h->rs = other->rs;
		cs_roster_refresh(h);
	} else if ((rc = cs_roster_genesis(h)) != 0) {
		fprintf(stderr, "cabsync init: cannot sign the first roster record: %s.\n",
		    cs_roster_strerror(rc));
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	msg[0] = '\0';
	if (cs_home_save(h, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "cabsync init: %s\n", msg[0] ? msg : "cannot write the home.");
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (o.same != NULL && cs_roster_save(other) != 0) {
		fprintf(stderr, "cabsync init: %s: cannot add this device to its roster.\n",
		    o.same);
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	cs_home_hex(h->device_id, CS_DEVID_LEN, path);
	printf("initialised %s: cabinet \"%s\", practitioner \"%s\", device \"%s\" (id %.8s).\n",
	    h->dir, h->cabinet_name, h->practitioner_name, h->device_name, path);
	rc = 0;
out:
	if (h != NULL)
		cs_home_free(h);
	if (other != NULL)
		cs_home_free(other);
	cs_free(h);
	cs_free(other);
	return rc;
}
