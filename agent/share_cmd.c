/*
 * agent/share_cmd.c: `cabsync share|shares|transfer|revoke|practitioners`
 * (see share_cmd.h).
 */
#include "agent/share_cmd.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/home.h"
#include "agent/share_ops.h"
#include "base/err.h"
#include "base/mem.h"
#include "sql/audit.h"
#include "sql/share.h"

#define EXIT_OK   0
#define EXIT_FAIL 1
#define EXIT_USE  2

struct opts {
	const char *cmd, *home, *patient, *prac, *perm, *until, *note;
	int json;
};

void
cs_share_cmd_usage(FILE *f)
{
	fprintf(f,
	    "  cabsync share PATIENT --with PRACTITIONER --perm read|write|full\n"
	    "               [--until YYYY-MM-DD[THH:MM[:SS]]] [--note TEXT] --home DIR\n"
	    "  cabsync shares [--patient PATIENT] [--json] --home DIR\n"
	    "  cabsync transfer PATIENT --to PRACTITIONER --home DIR\n"
	    "  cabsync revoke PATIENT --from PRACTITIONER --home DIR\n"
	    "  cabsync practitioners [--json] --home DIR\n"
	    "  (PATIENT: the app's id of the patient here; times are UTC; share exit code 3:\n"
	    "  refused, no right or unknown patient/practitioner)\n");
}

int
cs_share_cmd_is(const char *name)
{
	return strcmp(name, "share") == 0 || strcmp(name, "shares") == 0 ||
	    strcmp(name, "transfer") == 0 || strcmp(name, "revoke") == 0 ||
	    strcmp(name, "practitioners") == 0;
}

static int
usage_error(const char *cmd, const char *what)
{
	fprintf(stderr, "cabsync %s: %s (see cabsync --help).\n", cmd, what);
	return EXIT_USE;
}

static int
parse(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->cmd = argv[0];
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (strcmp(a, "--json") == 0) {
			o->json = 1;
			continue;
		}
		if (strcmp(a, "--home") == 0)
			slot = &o->home;
		else if (strcmp(a, "--with") == 0 || strcmp(a, "--to") == 0 ||
		    strcmp(a, "--from") == 0)
			slot = &o->prac;
		else if (strcmp(a, "--perm") == 0)
			slot = &o->perm;
		else if (strcmp(a, "--until") == 0)
			slot = &o->until;
		else if (strcmp(a, "--note") == 0)
			slot = &o->note;
		else if (strcmp(a, "--patient") == 0)
			slot = &o->patient;
		if (slot == NULL) {
			if (a[0] == '-' || o->patient != NULL)
				return usage_error(o->cmd, "unexpected argument");
			o->patient = a;
			continue;
		}
		if (i + 1 >= argc)
			return usage_error(o->cmd, "an option needs a value");
		*slot = argv[++i];
	}
	if (o->home == NULL)
		return usage_error(o->cmd, "needs --home DIR");
	if (strcmp(o->cmd, "share") == 0 || strcmp(o->cmd, "transfer") == 0 ||
	    strcmp(o->cmd, "revoke") == 0) {
		if (o->patient == NULL || o->prac == NULL)
			return usage_error(o->cmd, "needs PATIENT and a practitioner");
	}
	if (strcmp(o->cmd, "share") == 0 && o->perm == NULL)
		return usage_error(o->cmd, "needs --perm read|write|full");
	return 0;
}

static void
fmt_hlc(uint64_t hlc, char *out, size_t cap)
{
	time_t t = (time_t)(CS_HLC_MS(hlc) / 1000);
	struct tm tm;

	if (hlc == 0) {
		snprintf(out, cap, "creation");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
lookup(void *ctx, const uint8_t dev[CS_DEVID_LEN], struct cs_share_dev *out)
{
	struct cs_home *h = ctx;
	const struct cs_roster_dev *d = cs_home_roster_by_id(h, dev);

	if (d == NULL)
		return 0;
	memcpy(out->practitioner, d->practitioner, CS_GID_LEN);
	memcpy(out->sign_pk, d->sign_pk, 32);
	return 1;
}

static size_t
devs_of(void *ctx, const uint8_t prac[CS_GID_LEN], uint8_t (*out)[CS_DEVID_LEN], size_t max)
{
	struct cs_home *h = ctx;
	size_t i, n = 0;

	for (i = 0; i < h->nroster && n < max; i++)
		if (memcmp(h->roster[i].practitioner, prac, CS_GID_LEN) == 0)
			memcpy(out[n++], h->roster[i].id, CS_DEVID_LEN);
	return n;
}

static int
table_ok(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int ok;

	/* the engine's table: installed by cabsync init / db install */
	if (sqlite3_table_column_metadata(db, NULL, "cs_shares", "perm", NULL, NULL, NULL, NULL,
	        NULL) != SQLITE_OK)
		return 0;
	ok = cs_share_install(db) == 0;
	sqlite3_finalize(st);
	return ok;
}

/* ---- share / transfer / revoke ---- */

static int
make_cmd(const struct cs_share_self *s, sqlite3 *db, const struct opts *o)
{
	struct cs_share_op op;
	int64_t now = wall_ms();
	char why[160], detail[CS_AUDIT_DETAIL_MAX];
	uint8_t perm = 0;
	int rc;

	memset(&op, 0, sizeof(op));
	op.patient = o->patient;
	if (strcmp(o->cmd, "share") == 0) {
		op.kind = CS_SHARE_OP_GRANT;
		if (cs_perm_parse(o->perm, &perm) != 0)
			return usage_error(o->cmd, "--perm is read, write or full");
		op.perm = perm;
		if (o->until != NULL &&
		    (cs_share_op_parse_date(o->until, &op.until_ms) != 0 || op.until_ms <= now))
			return usage_error(o->cmd,
			    "--until is a future UTC date YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]");
		if (o->note != NULL) {
			size_t i, n = strlen(o->note);

			if (n > CS_SHAREREC_NOTE_MAX)
				return usage_error(o->cmd, "--note is at most 64 bytes");
			for (i = 0; i < n; i++)
				if ((unsigned char)o->note[i] < 0x20 || o->note[i] == 0x7f)
					return usage_error(o->cmd,
					    "--note has a control character");
			op.note = o->note;
		}
	} else if (strcmp(o->cmd, "transfer") == 0) {
		op.kind = CS_SHARE_OP_TRANSFER;
	} else {
		op.kind = CS_SHARE_OP_REVOKE;
	}
	rc = cs_share_op_resolve(s, o->prac, op.practitioner);
	if (rc == CS_ENOENT || rc == CS_EEXIST) {
		fprintf(stderr,
		    rc == CS_EEXIST
		        ? "cabsync %s: '%s' names two practitioners; use the id (cabsync "
		          "practitioners).\n"
		        : "cabsync %s: no practitioner '%s' known here (cabsync practitioners).\n",
		    o->cmd, o->prac);
		return CS_SHARE_EXIT_REFUSED;
	}
	if (rc == 0)
		rc = cs_share_op_run(s, &op, now, why, sizeof(why), detail, sizeof(detail));
	switch (rc) {
	case 0:
		printf("patient %s: %s.\n", o->patient, detail);
		return EXIT_OK;
	case CS_SHARE_ENOPAT:
		fprintf(stderr, "cabsync %s: no patient %s in this database.\n", o->cmd,
		    o->patient);
		return CS_SHARE_EXIT_REFUSED;
	case CS_SHARE_ENORIGHT:
	case CS_EAGAIN:
		fprintf(stderr, "cabsync %s: refused: %s.\n", o->cmd,
		    why[0] ? why : "this device may not do that");
		return CS_SHARE_EXIT_REFUSED;
	case CS_EBUSY:
		fprintf(stderr, "cabsync %s: the database is busy (%s); try again.\n", o->cmd,
		    sqlite3_errmsg(db));
		return EXIT_FAIL;
	default:
		fprintf(stderr, "cabsync %s: %s (%s).\n", o->cmd, cs_share_strerror(rc),
		    sqlite3_errmsg(db));
		return EXIT_FAIL;
	}
}

/* ---- shares ---- */

struct list_ctx {
	sqlite3 *db;
	const struct cs_share_self *s;
	int json, n;
};

static void
json_str(const char *s)
{
	putchar('"');
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int
list_cb(void *ctx, const struct cs_share_row *r)
{
	struct list_ctx *l = ctx;
	char lbl[CS_HOME_NAME_MAX + 1], since[32], end[32], ph[33];

	/* every device holds every owner claim (the cabinet agrees on who owns
	 * what); a claim of a patient this database does not have is noise here */
	if (r->patient_local == NULL && strcmp(r->perm, "owner") == 0)
		return 0;
	cs_share_op_label(l->s, r->practitioner, lbl, sizeof(lbl));
	fmt_hlc(r->grant_hlc, since, sizeof(since));
	fmt_hlc(r->end_hlc, end, sizeof(end));
	cs_home_hex(r->patient, CS_GID_LEN, ph);
	if (l->json) {
		printf("%s{\"patient\":", l->n ? "," : "");
		if (r->patient_local != NULL)
			json_str(r->patient_local);
		else
			printf("null");
		printf(",\"patient_gid\":\"%.8s\",\"practitioner\":", ph);
		json_str(lbl);
		printf(",\"perm\":\"%s\",\"since\":\"%s\",\"until\":", r->perm, since);
		if (r->has_end)
			printf("\"%s\"", end);
		else
			printf("null");
		printf(",\"note\":");
		if (r->note != NULL)
			json_str(r->note);
		else
			printf("null");
		printf("}");
	} else {
		printf("patient %s  %-16s %-5s since %s%s%s%s%s\n",
		    r->patient_local != NULL ? r->patient_local : "(not here)", lbl, r->perm, since,
		    r->has_end ? "  until " : "", r->has_end ? end : "", r->note ? "  note: " : "",
		    r->note ? r->note : "");
	}
	l->n++;
	return 0;
}

static int
shares_cmd(const struct cs_share_self *s, sqlite3 *db, const struct opts *o)
{
	struct list_ctx l = {db, s, o->json, 0};
	uint8_t patient[CS_GID_LEN];
	int rc;

	if (o->patient != NULL && cs_audit_patient_gid(db, o->patient, patient) != 0) {
		fprintf(stderr, "cabsync shares: no patient %s in this database.\n", o->patient);
		return CS_SHARE_EXIT_REFUSED;
	}
	if (o->json)
		printf("[");
	rc = cs_share_list(db, o->patient != NULL ? patient : NULL, list_cb, &l);
	if (o->json)
		printf("]\n");
	if (rc != 0) {
		fprintf(stderr, "cabsync shares: %s.\n", cs_share_strerror(rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* ---- practitioners ---- */

struct prac_ctx {
	const struct cs_home *h;
	int json, n;
	uint8_t seen[CS_HOME_MAX_DEVICES + 64][CS_GID_LEN];
	size_t nseen;
};

static void
prac_line(struct prac_ctx *p, const uint8_t *prac, const char *name)
{
	char hex[33];
	size_t i, ndev = 0;
	int me = memcmp(prac, p->h->practitioner, CS_GID_LEN) == 0;

	for (i = 0; i < p->nseen; i++)
		if (memcmp(p->seen[i], prac, CS_GID_LEN) == 0)
			return;
	if (p->nseen < sizeof(p->seen) / sizeof(p->seen[0]))
		memcpy(p->seen[p->nseen++], prac, CS_GID_LEN);
	for (i = 0; i < p->h->nroster; i++)
		if (memcmp(p->h->roster[i].practitioner, prac, CS_GID_LEN) == 0)
			ndev++;
	cs_home_hex(prac, CS_GID_LEN, hex);
	if (me)
		name = p->h->practitioner_name;
	if (p->json) {
		printf("%s{\"id\":\"%s\",\"name\":", p->n ? "," : "", hex);
		if (name != NULL)
			json_str(name);
		else
			printf("null");
		printf(",\"devices\":%zu,\"you\":%s}", ndev, me ? "true" : "false");
	} else {
		printf("%s  %-20s %zu device(s)%s\n", hex,
		    name != NULL ? name : "(name not known yet)", ndev, me ? "  (you)" : "");
	}
	p->n++;
}

static int
names_cb(void *ctx, const uint8_t prac[CS_GID_LEN], const char *name)
{
	prac_line(ctx, prac, name);
	return 0;
}

static int
practitioners_cmd(struct cs_home *h, sqlite3 *db, const struct opts *o)
{
	struct prac_ctx *p = cs_calloc(1, sizeof(*p));
	size_t i;
	int rc;

	if (p == NULL)
		return EXIT_FAIL;
	p->h = h;
	p->json = o->json;
	if (o->json)
		printf("[");
	prac_line(p, h->practitioner, h->practitioner_name);
	rc = cs_share_names(db, names_cb, p);
	for (i = 0; rc == 0 && i < h->nroster; i++)
		prac_line(p, h->roster[i].practitioner, NULL);
	if (o->json)
		printf("]\n");
	cs_free(p);
	if (rc != 0) {
		fprintf(stderr, "cabsync practitioners: %s.\n", cs_share_strerror(rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int
cs_share_cmd(int argc, char **argv)
{
	struct cs_home *h = NULL;
	struct cs_share_self self;
	uint8_t pracs[CS_HOME_MAX_DEVICES][CS_GID_LEN];
	sqlite3 *db = NULL;
	struct opts o;
	size_t i;
	char msg[512];
	int rc;

	if ((rc = parse(argc, argv, &o)) != 0)
		return rc;
	if (sodium_init() < 0) {
		fprintf(stderr, "cabsync %s: libsodium failed to initialise.\n", o.cmd);
		return EXIT_FAIL;
	}
	if ((h = cs_calloc(1, sizeof(*h))) == NULL)
		return EXIT_FAIL;
	if (cs_home_load(h, o.home, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "cabsync %s: %s\n", o.cmd, msg);
		rc = EXIT_FAIL;
		goto out;
	}
	if (cs_audit_open(h->db, &db) != 0) {
		fprintf(stderr, "cabsync %s: cannot open the database %s.\n", o.cmd, h->db);
		rc = EXIT_FAIL;
		goto out;
	}
	if (!table_ok(db)) {
		fprintf(stderr, "cabsync %s: %s: cabsync is not installed in this database.\n",
		    o.cmd, h->db);
		rc = EXIT_FAIL;
		goto out;
	}
	/* the one view of this device the share operations take (agent/share_ops.h) */
	memset(&self, 0, sizeof(self));
	self.c.db = db;
	memcpy(self.c.device, h->device_id, CS_DEVID_LEN);
	memcpy(self.c.practitioner, h->practitioner, CS_GID_LEN);
	self.c.sign_sk = h->sec->sign_sk;
	self.c.lookup = lookup;
	self.c.devs = devs_of;
	self.c.cb_ctx = h;
	self.sign_pk = h->sign_pk;
	self.name = h->practitioner_name;
	for (i = 0; i < h->nroster && i < CS_HOME_MAX_DEVICES; i++)
		memcpy(pracs[i], h->roster[i].practitioner, CS_GID_LEN);
	self.pracs = (const uint8_t(*)[CS_GID_LEN])pracs;
	self.npracs = i;
	if (strcmp(o.cmd, "shares") == 0)
		rc = shares_cmd(&self, db, &o);
	else if (strcmp(o.cmd, "practitioners") == 0)
		rc = practitioners_cmd(h, db, &o);
	else
		rc = make_cmd(&self, db, &o);
out:
	cs_audit_close(db);
	cs_home_free(h);
	cs_free(h);
	return rc;
}
