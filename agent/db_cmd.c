/*
 * agent/db_cmd.c: `cabsync db ...` (see db_cmd.h). Each subcommand opens
 * the engine on the database files it names, does one job, keeps the device
 * state file up to date and turns errors into one sentence and an exit code.
 */
#include "agent/db_cmd.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/devstate.h"
#include "base/mem.h"
#include "sql/engine.h"
#include "sql/upgrade.h"
#include "sql/version.h"

#define MAX_DBS        16
#define MAX_POS        (MAX_DBS + 2)
#define SYNC_BATCH     500 /* rows per changeset: one short apply transaction */
#define SYNC_MAX_ROUND 64  /* a correct engine is quiet after ndb rounds or so */
#define SHOW_VALUE_MAX 72  /* bytes of a text value shown by `conflicts` */

struct db_opts {
	const char *db, *tables, *name;
	int enable_wal, all;
	const char *pos[MAX_POS];
	int npos;
};

/* One opened database: its state file and engine. */
struct dbh {
	const char *db;
	struct cs_devstate *st;
	struct cs_engine *e;
	uint8_t site[CS_DEVID_LEN];
	uint8_t inc[CS_GID_LEN];
};

void
cs_db_cmd_usage(FILE *f)
{
	fprintf(f,
	    "cabsync db: the sync engine on local database files\n"
	    "  cabsync db install --db APP.db --tables T.ini --device-name NAME "
	    "[--enable-wal]\n"
	    "  cabsync db uninstall --db APP.db [--tables T.ini]\n"
	    "  cabsync db sync --tables T.ini A.db B.db [C.db ...]\n"
	    "  cabsync db conflicts --db APP.db [--all]\n"
	    "  cabsync db resolve --db APP.db ID keep-mine|take-theirs\n"
	    "  cabsync db status --db APP.db\n"
	    "  cabsync db check --db APP.db   (after an app upgrade: re-install the\n"
	    "    triggers, find the writes they missed)\n"
	    "exit codes: 0 ok; 1 the operation failed; 2 bad command line;\n"
	    "  3 the database needs an action first (cabsync not installed, not in WAL\n"
	    "    mode, on a network filesystem, installed by a newer cabsync);\n"
	    "  4 no such open conflict.\n");
}

static int
usage_error(const char *cmd, const char *what)
{
	fprintf(stderr, "cabsync db %s: %s (see cabsync --help).\n", cmd, what);
	return CS_DB_EXIT_USAGE;
}

static int
exit_code_of(int rc)
{
	switch (rc) {
	case CS_SQL_ENOTWAL:
	case CS_SQL_ENETFS:
	case CS_SQL_ESCHEMA_NEW:
	case CS_SQL_ENOTINST:
		return CS_DB_EXIT_REFUSED;
	case CS_SQL_ENOCONFLICT:
		return CS_DB_EXIT_NOTFOUND;
	default:
		return CS_DB_EXIT_FAIL;
	}
}

/* One sentence: "cabsync db CMD: DB: why." */
static int
report(const char *cmd, const char *db, int rc, const char *msg)
{
	size_t n;

	if (msg == NULL || msg[0] == '\0')
		msg = cs_sql_strerror(rc);
	n = strlen(msg);
	fprintf(stderr, "cabsync db %s: %s: %s%s\n", cmd, db, msg,
	    n > 0 && msg[n - 1] == '.' ? "" : ".");
	return exit_code_of(rc);
}

/* a is "--name" or "--name=value" (eq: its '=' or NULL). */
static int
opt_is(const char *a, const char *eq, const char *name)
{
	size_t n = eq != NULL ? (size_t)(eq - a) : strlen(a);

	return n == strlen(name) && strncmp(a, name, n) == 0;
}

static int
parse_opts(const char *cmd, int argc, char **argv, struct db_opts *o)
{
	const char **slot;
	const char *a, *eq;
	char what[160];
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 2; i < argc; i++) {
		a = argv[i];
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (o->npos == MAX_POS)
				return usage_error(cmd, "too many arguments");
			o->pos[o->npos++] = a;
			continue;
		}
		if (strcmp(a, "--enable-wal") == 0) {
			o->enable_wal = 1;
			continue;
		}
		if (strcmp(a, "--all") == 0) {
			o->all = 1;
			continue;
		}
		eq = strchr(a, '=');
		if (opt_is(a, eq, "--db"))
			slot = &o->db;
		else if (opt_is(a, eq, "--tables"))
			slot = &o->tables;
		else if (opt_is(a, eq, "--device-name"))
			slot = &o->name;
		else {
			snprintf(what, sizeof(what), "unknown option '%.100s'", a);
			return usage_error(cmd, what);
		}
		if (eq != NULL)
			*slot = eq + 1;
		else if (i + 1 < argc)
			*slot = argv[++i];
		else {
			snprintf(what, sizeof(what), "option '%.100s' needs a value", a);
			return usage_error(cmd, what);
		}
	}
	return 0;
}

static const char *
dev_label(const struct cs_devstate *st, const uint8_t id[static CS_DEVID_LEN], char *buf,
    size_t cap)
{
	char hex[2 * CS_DEVID_LEN + 1];
	const char *name = cs_devstate_name_of(st, id);

	if (name != NULL && name[0] != '\0')
		return name;
	cs_devstate_hex(id, CS_DEVID_LEN, hex);
	snprintf(buf, cap, "device %.8s", hex);
	return buf;
}

static void
dbh_close(struct dbh *h)
{
	cs_engine_close(h->e);
	h->e = NULL;
	cs_free(h->st);
	h->st = NULL;
}

/* Record what the engine says now (incarnation, db_version) in the state file. */
static int
dbh_save(struct dbh *h, const char *cmd)
{
	int rc;

	if (h->e != NULL) {
		cs_engine_incarnation(h->e, h->st->incarnation);
		h->st->has_incarnation = 1;
		h->st->db_version = cs_engine_db_version(h->e);
	}
	rc = cs_devstate_save(h->st);
	if (rc != 0) {
		fprintf(stderr, "cabsync db %s: %s: cannot write the device state file %s: %s.\n",
		    cmd, h->db, h->st->path, strerror(errno));
		return CS_DB_EXIT_FAIL;
	}
	return 0;
}

/* Load the state file of db (which must exist). Returns 0 or an exit code. */
static int
dbh_load(struct dbh *h, const char *db, const char *cmd)
{
	int rc, line = 0;

	memset(h, 0, sizeof(*h));
	h->db = db;
	h->st = cs_malloc(sizeof(*h->st));
	if (h->st == NULL) {
		fprintf(stderr, "cabsync db %s: out of memory.\n", cmd);
		return CS_DB_EXIT_FAIL;
	}
	if (cs_devstate_init(h->st, db) != 0)
		return usage_error(cmd, "database path too long");
	rc = cs_devstate_load(h->st, &line);
	if (rc == CS_ENOENT) {
		fprintf(stderr,
		    "cabsync db %s: %s: cabsync is not installed on this database "
		    "(no %s; run cabsync db install).\n",
		    cmd, db, h->st->path);
		return CS_DB_EXIT_REFUSED;
	}
	if (rc == CS_ECORRUPT) {
		fprintf(stderr,
		    "cabsync db %s: %s: the device state file %s is malformed (line %d).\n", cmd,
		    db, h->st->path, line);
		return CS_DB_EXIT_FAIL;
	}
	if (rc != 0) {
		fprintf(stderr, "cabsync db %s: %s: cannot read the device state file %s: %s.\n",
		    cmd, db, h->st->path, strerror(errno));
		return CS_DB_EXIT_FAIL;
	}
	return 0;
}

/* Open the engine on an already loaded dbh. Returns 0 or an exit code. */
static int
dbh_engine(struct dbh *h, const char *tables, int enable_wal, const char *cmd)
{
	struct cs_engine_opts o;
	size_t i;
	int rc;

	memset(&o, 0, sizeof(o));
	o.db_path = h->db;
	o.tables_ini = tables != NULL ? tables : h->st->tables;
	o.device_id = h->st->id;
	o.enable_wal = enable_wal;
	o.expected_incarnation = h->st->has_incarnation ? h->st->incarnation : NULL;
	o.min_db_version = h->st->db_version;
	rc = cs_engine_open(&h->e, &o);
	if (rc != 0)
		return report(cmd, h->db, rc, cs_engine_open_errmsg());
	if (cs_engine_reincarnated(h->e)) {
		/* A restored backup or a cloned disk: our cursors describe a
		 * database that no longer exists; receive everything again. */
		fprintf(stderr,
		    "cabsync db %s: %s: this database was restored from a backup or copied; "
		    "it takes a new identity and resyncs from its peers.\n",
		    cmd, h->db);
		for (i = 0; i < h->st->npeers; i++)
			h->st->peers[i].cursor = 0;
	}
	cs_engine_site(h->e, h->site);
	cs_engine_incarnation(h->e, h->inc);
	return 0;
}

static int
file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int
cmd_install(const struct db_opts *o)
{
	const char *cmd = "install";
	char tables[PATH_MAX], hex[2 * CS_DEVID_LEN + 1];
	struct dbh h;
	int rc, line;

	memset(&h, 0, sizeof(h));
	if (o->db == NULL || o->tables == NULL || o->name == NULL || o->npos != 0)
		return usage_error(cmd, "needs --db, --tables and --device-name");
	if (!cs_devstate_name_ok(o->name))
		return usage_error(cmd,
		    "the device name must be 1 to 63 bytes, without ; # [ ] = or control "
		    "characters");
	if (!file_exists(o->db)) {
		fprintf(stderr, "cabsync db install: %s: no such database file.\n", o->db);
		return CS_DB_EXIT_FAIL;
	}
	if (realpath(o->tables, tables) == NULL) {
		fprintf(stderr, "cabsync db install: %s: cannot read the tables file: %s.\n",
		    o->tables, strerror(errno));
		return CS_DB_EXIT_FAIL;
	}
	if (strpbrk(tables, ";#\n") != NULL)
		return usage_error(cmd, "the tables file path must not contain ; # or a newline");
	h.db = o->db;
	h.st = cs_malloc(sizeof(*h.st));
	if (h.st == NULL) {
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (cs_devstate_init(h.st, o->db) != 0) {
		rc = usage_error(cmd, "database path too long");
		goto out;
	}
	rc = cs_devstate_load(h.st, &line);
	if (rc == CS_ENOENT) {
		/* A new device: a random global id, kept beside the database
		 * before the engine uses it, so that a failure cannot leave
		 * dots of an id nobody remembers. */
		randombytes_buf(h.st->id, sizeof(h.st->id));
	} else if (rc != 0) {
		fprintf(stderr,
		    "cabsync db install: %s: the device state file %s is unreadable or "
		    "malformed; move it away to install as a new device.\n",
		    o->db, h.st->path);
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	memcpy(h.st->name, o->name, strlen(o->name) + 1);
	memcpy(h.st->tables, tables, strlen(tables) + 1);
	if ((rc = dbh_save(&h, cmd)) != 0)
		goto out;
	if ((rc = dbh_engine(&h, NULL, o->enable_wal, cmd)) != 0)
		goto out;
	rc = cs_engine_install(h.e);
	if (rc != 0) {
		rc = report(cmd, o->db, rc, cs_engine_errmsg(h.e));
		goto out;
	}
	if ((rc = dbh_save(&h, cmd)) != 0)
		goto out;
	cs_devstate_hex(h.st->id, CS_DEVID_LEN, hex);
	printf("installed cabsync on %s: device \"%s\" (id %.8s), db_version %llu.\n", o->db,
	    h.st->name, hex, (unsigned long long)cs_engine_db_version(h.e));
	rc = 0;
out:
	dbh_close(&h);
	return rc;
}

static int
cmd_uninstall(const struct db_opts *o)
{
	const char *cmd = "uninstall";
	struct dbh h;
	int rc;

	if (o->db == NULL || o->npos != 0)
		return usage_error(cmd, "needs --db");
	rc = dbh_load(&h, o->db, cmd);
	if (rc != 0)
		goto out;
	if ((rc = dbh_engine(&h, o->tables, 0, cmd)) != 0)
		goto out;
	rc = cs_engine_uninstall(h.e);
	if (rc != 0) {
		rc = report(cmd, o->db, rc, cs_engine_errmsg(h.e));
		goto out;
	}
	if (cs_devstate_remove(h.st) != 0) {
		fprintf(stderr, "cabsync db uninstall: %s: cannot remove %s: %s.\n", o->db,
		    h.st->path, strerror(errno));
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	printf("uninstalled cabsync from %s: its cs_ tables and triggers are gone, the app's "
	       "data is intact.\n",
	    o->db);
	rc = 0;
out:
	dbh_close(&h);
	return rc;
}

struct pair_stats {
	uint64_t applied, ignored, conflicts, held, quarantined, released, batches;
};

static void
add_stats(struct pair_stats *p, const struct cs_apply_result *r)
{
	p->applied += r->applied;
	p->ignored += r->ignored;
	p->conflicts += r->conflicts;
	p->held += r->held;
	p->quarantined += r->quarantined;
	p->released += r->released;
	p->batches++;
}

static int
count_conflict(void *ctx, const struct cs_conflict *c)
{
	(void)c;
	(*(uint64_t *)ctx)++;
	return 0;
}

/* Move every change of src that dst has not applied yet, batch by batch. */
static int
sync_pair(struct dbh *dst, struct dbh *src, struct pair_stats *ps)
{
	struct cs_changeset cs;
	struct cs_apply_result res;
	struct cs_devpeer *peer;
	int more, rc;

	cs_changeset_init(&cs);
	peer = cs_devstate_peer(dst->st, src->st->id, 1);
	if (peer == NULL) {
		fprintf(stderr, "cabsync db sync: %s: more than %d peer devices.\n", dst->db,
		    CS_DEVSTATE_MAX_PEERS);
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	for (;;) {
		more = cs_engine_extract(src->e, peer->cursor, dst->site, NULL, SYNC_BATCH, &cs);
		if (more < 0) {
			rc = report("sync", src->db, more, cs_engine_errmsg(src->e));
			goto out;
		}
		if (cs.nrows > 0) {
			memset(&res, 0, sizeof(res));
			rc = cs_engine_apply(dst->e, &cs, src->st->id, &res);
			if (rc != 0) {
				rc = report("sync", dst->db, rc, cs_engine_errmsg(dst->e));
				goto out;
			}
			add_stats(ps, &res);
		}
		peer->cursor = cs.db_version;
		if (more == 0)
			break;
	}
	rc = 0;
out:
	cs_changeset_free(&cs);
	return rc;
}

/* ", 3 rows applied" (singular for 1); nothing for 0. */
static void
print_count(const char *one, const char *many, uint64_t n, int *first)
{
	if (n == 0)
		return;
	printf("%s%llu %s", *first ? "" : ", ", (unsigned long long)n, n == 1 ? one : many);
	*first = 0;
}

static int
cmd_sync(const struct db_opts *o)
{
	const char *cmd = "sync";
	struct dbh h[MAX_DBS];
	struct pair_stats *ps = NULL;
	struct cs_devpeer *peer;
	uint64_t before[MAX_DBS], held, quar, open_c, tot_wait = 0;
	char b1[32], b2[32];
	int n = o->npos, i, j, round, rc, quiet = 0, first;

	memset(h, 0, sizeof(h));
	if (o->tables == NULL || o->db != NULL || n < 2)
		return usage_error(cmd, "needs --tables and at least two database files");
	if (n > MAX_DBS)
		return usage_error(cmd, "at most 16 database files");
	for (i = 0; i < n; i++) {
		if ((rc = dbh_load(&h[i], o->pos[i], cmd)) != 0)
			goto out;
		if ((rc = dbh_engine(&h[i], o->tables, 0, cmd)) != 0)
			goto out;
		for (j = 0; j < i; j++)
			if (memcmp(h[i].st->id, h[j].st->id, CS_DEVID_LEN) == 0) {
				fprintf(stderr,
				    "cabsync db sync: %s and %s have the same device id (a copied "
				    "database and state file?): uninstall one and install it "
				    "again as a new device.\n",
				    h[j].db, h[i].db);
				rc = CS_DB_EXIT_REFUSED;
				goto out;
			}
	}
	/* Learn the names of the others; a peer that took a new incarnation
	 * (restored, cloned) is received again from its start. */
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			if (i == j)
				continue;
			peer = cs_devstate_peer(h[i].st, h[j].st->id, 1);
			if (peer == NULL) {
				fprintf(stderr, "cabsync db sync: %s: more than %d peer devices.\n",
				    h[i].db, CS_DEVSTATE_MAX_PEERS);
				rc = CS_DB_EXIT_FAIL;
				goto out;
			}
			memcpy(peer->name, h[j].st->name, sizeof(peer->name));
			if (peer->has_incarnation &&
			    memcmp(peer->incarnation, h[j].inc, CS_GID_LEN) != 0)
				peer->cursor = 0;
			memcpy(peer->incarnation, h[j].inc, CS_GID_LEN);
			peer->has_incarnation = 1;
		}
	ps = cs_calloc((size_t)n * (size_t)n, sizeof(*ps));
	if (ps == NULL) {
		fprintf(stderr, "cabsync db sync: out of memory.\n");
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	for (round = 1; round <= SYNC_MAX_ROUND && !quiet; round++) {
		for (i = 0; i < n; i++)
			before[i] = cs_engine_db_version(h[i].e);
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++) {
				if (i == j)
					continue;
				rc = sync_pair(&h[i], &h[j], &ps[i * n + j]);
				if (rc != 0)
					goto out;
			}
		for (i = 0; i < n; i++)
			if ((rc = dbh_save(&h[i], cmd)) != 0)
				goto out;
		quiet = 1;
		for (i = 0; i < n; i++)
			if (cs_engine_db_version(h[i].e) != before[i])
				quiet = 0;
	}
	if (!quiet) {
		fprintf(stderr,
		    "cabsync db sync: the databases still changed after %d rounds; stopped "
		    "(run it again, and report it if it persists).\n",
		    SYNC_MAX_ROUND);
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			struct pair_stats *p = &ps[i * n + j];
			if (i == j ||
			    p->applied + p->conflicts + p->held + p->quarantined + p->released == 0)
				continue;
			printf("  %s -> %s: ", dev_label(h[i].st, h[j].st->id, b1, sizeof(b1)),
			    dev_label(h[i].st, h[i].st->id, b2, sizeof(b2)));
			first = 1;
			print_count("row applied", "rows applied", p->applied, &first);
			print_count("conflict recorded", "conflicts recorded", p->conflicts,
			    &first);
			print_count("row held", "rows held", p->held, &first);
			print_count("row quarantined", "rows quarantined", p->quarantined, &first);
			print_count("held row released", "held rows released", p->released, &first);
			printf("\n");
		}
	for (i = 0; i < n; i++) {
		held = quar = open_c = 0;
		rc = cs_engine_pending(h[i].e, &held, &quar);
		if (rc == 0)
			rc = cs_engine_conflicts(h[i].e, 1, count_conflict, &open_c);
		if (rc != 0) {
			rc = report(cmd, h[i].db, rc, cs_engine_errmsg(h[i].e));
			goto out;
		}
		tot_wait += held + quar;
		if (held + quar + open_c > 0)
			printf("  %s: %llu open conflict%s, %llu row%s held, %llu quarantined\n",
			    h[i].st->name, (unsigned long long)open_c, open_c == 1 ? "" : "s",
			    (unsigned long long)held, held == 1 ? "" : "s",
			    (unsigned long long)quar);
	}
	printf("sync: %d databases at rest after %d rounds%s.\n", n, round - 1,
	    tot_wait > 0 ? "; some rows wait (cabsync db status)" : "");
	rc = 0;
out:
	for (i = 0; i < n && i < MAX_DBS; i++)
		dbh_close(&h[i]);
	cs_free(ps);
	return rc;
}

/* Text for a value, shortened, control bytes shown as '?'. */
static void
fmt_value(const struct cs_value *v, char *buf, size_t cap)
{
	char hex[2 * CS_GID_LEN + 1];
	size_t n, i, k = 0;

	switch (v->type) {
	case CS_V_NULL:
		snprintf(buf, cap, "NULL");
		return;
	case CS_V_INT:
		snprintf(buf, cap, "%lld", (long long)v->u.i);
		return;
	case CS_V_REAL:
		snprintf(buf, cap, "%.17g", v->u.r);
		return;
	case CS_V_BLOB:
		snprintf(buf, cap, "<blob, %zu bytes>", v->len);
		return;
	case CS_V_REF:
		if (v->len == CS_GID_LEN) {
			cs_devstate_hex(v->p, CS_GID_LEN, hex);
			snprintf(buf, cap, "-> row %.8s", hex);
		} else
			snprintf(buf, cap, "-> row ?");
		return;
	case CS_V_TEXT:
		break;
	}
	n = v->len;
	if (n > SHOW_VALUE_MAX) {
		n = SHOW_VALUE_MAX;
		while (n > 0 && (v->p[n] & 0xc0) == 0x80)
			n--; /* do not cut a UTF-8 sequence */
	}
	if (cap < 8)
		return;
	buf[k++] = '"';
	for (i = 0; i < n && k + 6 < cap; i++)
		buf[k++] = v->p[i] < 0x20 ? '?' : (char)v->p[i];
	buf[k++] = '"';
	if (n < v->len) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = '\0';
}

static void
fmt_hlc(uint64_t hlc, char *buf, size_t cap)
{
	uint64_t ms = CS_HLC_MS(hlc);
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char d[32];

	if (gmtime_r(&t, &tm) == NULL || strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		snprintf(buf, cap, "hlc %llu", (unsigned long long)hlc);
		return;
	}
	snprintf(buf, cap, "%s.%03u UTC", d, (unsigned)(ms % 1000));
}

struct show_ctx {
	const struct cs_devstate *st;
	uint64_t count;
};

static int
show_conflict(void *ctx, const struct cs_conflict *c)
{
	struct show_ctx *sc = ctx;
	char hex[2 * CS_GID_LEN + 1], val[SHOW_VALUE_MAX + 16], when[48], who[32];

	sc->count++;
	cs_devstate_hex(c->row_gid, CS_GID_LEN, hex);
	printf("conflict #%lld  %s row %.8s, %s%s%s\n", (long long)c->id, c->table, hex,
	    c->column != NULL ? "column " : "", c->column != NULL ? c->column : "the row itself",
	    c->resolved ? "  (resolved)" : "");
	if (c->winner_is_delete)
		snprintf(val, sizeof(val), "deleted the row");
	else
		fmt_value(&c->winner, val, sizeof(val));
	fmt_hlc(c->winner_hlc, when, sizeof(when));
	printf("    kept: %s\n          by %s at %s\n", val,
	    dev_label(sc->st, c->winner_dev, who, sizeof(who)), when);
	if (c->loser_is_delete)
		snprintf(val, sizeof(val), "deleted the row");
	else
		fmt_value(&c->loser, val, sizeof(val));
	fmt_hlc(c->loser_hlc, when, sizeof(when));
	printf("    lost: %s\n          by %s at %s\n", val,
	    dev_label(sc->st, c->loser_dev, who, sizeof(who)), when);
	return 0;
}

static int
cmd_conflicts(const struct db_opts *o)
{
	const char *cmd = "conflicts";
	struct show_ctx sc;
	struct dbh h;
	int rc;

	if (o->db == NULL || o->npos != 0)
		return usage_error(cmd, "needs --db");
	if ((rc = dbh_load(&h, o->db, cmd)) != 0)
		goto out;
	if ((rc = dbh_engine(&h, NULL, 0, cmd)) != 0)
		goto out;
	memset(&sc, 0, sizeof(sc));
	sc.st = h.st;
	rc = cs_engine_conflicts(h.e, !o->all, show_conflict, &sc);
	if (rc != 0) {
		rc = report(cmd, o->db, rc, cs_engine_errmsg(h.e));
		goto out;
	}
	if (sc.count == 0)
		printf("no %sconflicts on %s.\n", o->all ? "" : "open ", o->db);
	else
		printf("%llu %sconflict%s; choose with: cabsync db resolve --db %s ID "
		       "keep-mine|take-theirs\n",
		    (unsigned long long)sc.count, o->all ? "" : "open ", sc.count > 1 ? "s" : "",
		    o->db);
	rc = dbh_save(&h, cmd);
out:
	dbh_close(&h);
	return rc;
}

static int
cmd_resolve(const struct db_opts *o)
{
	const char *cmd = "resolve";
	enum cs_resolve how;
	struct dbh h;
	long long id;
	char *end;
	int rc;

	memset(&h, 0, sizeof(h));
	if (o->db == NULL || o->npos != 2)
		return usage_error(cmd, "needs --db, a conflict ID and keep-mine or take-theirs");
	errno = 0;
	id = strtoll(o->pos[0], &end, 10);
	if (errno != 0 || *end != '\0' || id <= 0)
		return usage_error(cmd,
		    "the conflict ID is a positive number (cabsync db conflicts)");
	if (strcmp(o->pos[1], "keep-mine") == 0)
		how = CS_RESOLVE_KEEP_MINE;
	else if (strcmp(o->pos[1], "take-theirs") == 0)
		how = CS_RESOLVE_TAKE_THEIRS;
	else
		return usage_error(cmd, "choose keep-mine or take-theirs");
	if ((rc = dbh_load(&h, o->db, cmd)) != 0)
		goto out;
	if ((rc = dbh_engine(&h, NULL, 0, cmd)) != 0)
		goto out;
	rc = cs_engine_conflict_resolve(h.e, id, how);
	if (rc == CS_SQL_ENOCONFLICT) {
		fprintf(stderr, "cabsync db resolve: %s: no open conflict #%lld.\n", o->db, id);
		rc = CS_DB_EXIT_NOTFOUND;
		goto out;
	}
	if (rc != 0) {
		rc = report(cmd, o->db, rc, cs_engine_errmsg(h.e));
		goto out;
	}
	if ((rc = dbh_save(&h, cmd)) != 0)
		goto out;
	printf("conflict #%lld resolved (%s); the choice reaches the other devices at the next "
	       "sync.\n",
	    id, how == CS_RESOLVE_KEEP_MINE ? "kept mine" : "took theirs");
	rc = 0;
out:
	dbh_close(&h);
	return rc;
}

static int
cmd_status(const struct db_opts *o)
{
	const char *cmd = "status";
	char hex[2 * CS_DEVID_LEN + 1];
	uint64_t held = 0, quar = 0, open_c = 0, all_c = 0;
	struct dbh h;
	size_t i;
	int rc;

	if (o->db == NULL || o->npos != 0)
		return usage_error(cmd, "needs --db");
	if ((rc = dbh_load(&h, o->db, cmd)) != 0)
		goto out;
	if ((rc = dbh_engine(&h, NULL, 0, cmd)) != 0)
		goto out;
	cs_devstate_hex(h.st->id, CS_DEVID_LEN, hex);
	printf("database:   %s\n", o->db);
	printf("device:     %s (id %.8s)\n", h.st->name, hex);
	printf("tables:     %s\n", h.st->tables);
	if (!cs_engine_installed(h.e)) {
		printf("installed:  no (run cabsync db install)\n");
		rc = CS_DB_EXIT_REFUSED;
		goto out;
	}
	rc = cs_engine_pending(h.e, &held, &quar);
	if (rc == 0)
		rc = cs_engine_conflicts(h.e, 1, count_conflict, &open_c);
	if (rc == 0)
		rc = cs_engine_conflicts(h.e, 0, count_conflict, &all_c);
	if (rc != 0) {
		rc = report(cmd, o->db, rc, cs_engine_errmsg(h.e));
		goto out;
	}
	printf("installed:  yes (cs_ schema %d)\n", CS_SCHEMA_VERSION);
	printf("db_version: %llu\n", (unsigned long long)cs_engine_db_version(h.e));
	printf("waiting:    %llu rows held, %llu quarantined\n", (unsigned long long)held,
	    (unsigned long long)quar);
	printf("conflicts:  %llu open, %llu resolved\n", (unsigned long long)open_c,
	    (unsigned long long)(all_c - open_c));
	for (i = 0; i < h.st->npeers; i++) {
		cs_devstate_hex(h.st->peers[i].id, CS_DEVID_LEN, hex);
		printf("peer:       %s (id %.8s), received up to its db_version %llu\n",
		    h.st->peers[i].name[0] != '\0' ? h.st->peers[i].name : "?", hex,
		    (unsigned long long)h.st->peers[i].cursor);
	}
	rc = dbh_save(&h, cmd);
out:
	dbh_close(&h);
	return rc;
}

/* After an app upgrade: notice the schema change, re-install the triggers
 * and record the writes they missed (sql/upgrade.h), all of it now. */
static int
cmd_check(const struct db_opts *o)
{
	const char *cmd = "check";
	struct cs_upgrade_result r;
	struct dbh h;
	int rc;

	if (o->db == NULL || o->npos != 0)
		return usage_error(cmd, "needs --db");
	if ((rc = dbh_load(&h, o->db, cmd)) != 0)
		goto out;
	if ((rc = dbh_engine(&h, NULL, 0, cmd)) != 0)
		goto out;
	if ((rc = cs_upgrade_check(h.e, 0, &r)) != 0) {
		rc = report(cmd, o->db, rc, cs_engine_errmsg(h.e));
		goto out;
	}
	printf("schema:     %s\n",
	    r.schema_changed ? "changed, triggers re-installed" : "unchanged");
	printf("tables:     %u newly tracked, %u rebuilt; %u new columns\n", r.tables_added,
	    r.tables_rebuilt, r.columns_added);
	printf("verified:   %llu rows, %llu with missed writes recorded as local edits\n",
	    (unsigned long long)r.rows_checked, (unsigned long long)r.rows_fixed);
	rc = dbh_save(&h, cmd);
out:
	dbh_close(&h);
	return rc;
}

int
cs_db_cmd(int argc, char **argv)
{
	struct db_opts o;
	const char *sub;
	int rc;

	if (argc < 2) {
		cs_db_cmd_usage(stderr);
		return CS_DB_EXIT_USAGE;
	}
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		cs_db_cmd_usage(stdout);
		return 0;
	}
	if ((rc = parse_opts(sub, argc, argv, &o)) != 0)
		return rc;
	if (sodium_init() < 0) {
		fprintf(stderr, "cabsync db: libsodium failed to initialise.\n");
		return CS_DB_EXIT_FAIL;
	}
	if (strcmp(sub, "install") == 0)
		return cmd_install(&o);
	if (strcmp(sub, "uninstall") == 0)
		return cmd_uninstall(&o);
	if (strcmp(sub, "sync") == 0)
		return cmd_sync(&o);
	if (strcmp(sub, "conflicts") == 0)
		return cmd_conflicts(&o);
	if (strcmp(sub, "resolve") == 0)
		return cmd_resolve(&o);
	if (strcmp(sub, "status") == 0)
		return cmd_status(&o);
	if (strcmp(sub, "check") == 0)
		return cmd_check(&o);
	fprintf(stderr, "cabsync db: unknown command '%s' (see cabsync --help).\n", sub);
	return CS_DB_EXIT_USAGE;
}
