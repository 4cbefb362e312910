/*
 * agent/audit_cmd.c: `cabsync audit ...` and the daemon's append job (see
 * audit_cmd.h).
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include "agent/audit_cmd.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/home.h"
#include "base/change.h"
#include "base/log.h"
#include "base/mem.h"

#define MAX_TEXT 200 /* bytes of `audit add` text (CS_AUDIT_DETAIL_MAX) */

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct audit_opts {
	const char *verb, *home, *patient, *since, *head, *of, *text;
	int json;
};

void
cs_audit_cmd_usage(FILE *f)
{
	fprintf(f,
	    "cabsync audit: the tamper-evident audit trail of this device\n"
	    "  cabsync audit --home DIR [--patient P] [--since YYYY-MM-DD[THH:MM]] [--json]\n"
	    "  cabsync audit verify --home DIR [--head HEX]\n"
	    "  cabsync audit add --home DIR [--patient P] TEXT\n"
	    "  cabsync audit head --home DIR [--of DEVICE]\n"
	    "  cabsync audit keep --home DIR [--from DEVICE] HEX\n"
	    "exit codes: 0 ok; 1 failure; 2 bad command line; 7 verify: the trail was\n"
	    "  tampered with (the first bad row is named).\n");
}

static int
usage_error(const char *verb, const char *what)
{
	fprintf(stderr, "cabsync audit%s%s: %s (see cabsync --help).\n", verb[0] ? " " : "", verb,
	    what);
	return EXIT_USAGE;
}

static int
is_verb(const char *a)
{
	return strcmp(a, "verify") == 0 || strcmp(a, "add") == 0 || strcmp(a, "head") == 0 ||
	    strcmp(a, "keep") == 0;
}

static int
parse(int argc, char **argv, struct audit_opts *o)
{
	const char *a;
	int i;

	memset(o, 0, sizeof(*o));
	o->verb = "";
	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--json") == 0) {
			o->json = 1;
			continue;
		}
		if (strncmp(a, "--", 2) == 0 && i + 1 >= argc)
			return usage_error(o->verb, "an option lacks its value");
		if (strcmp(a, "--home") == 0)
			o->home = argv[++i];
		else if (strcmp(a, "--patient") == 0)
			o->patient = argv[++i];
		else if (strcmp(a, "--since") == 0)
			o->since = argv[++i];
		else if (strcmp(a, "--head") == 0)
			o->head = argv[++i];
		else if (strcmp(a, "--of") == 0 || strcmp(a, "--from") == 0)
			o->of = argv[++i]; /* head --of DEVICE, keep --from DEVICE */
		else if (strncmp(a, "--", 2) == 0)
			return usage_error(o->verb, "unknown option");
		else if (o->verb[0] == '\0' && o->text == NULL && is_verb(a))
			o->verb = a; /* the subcommand, before or after --home */
		else if (o->verb[0] == '\0' && o->text == NULL)
			return usage_error("", "unknown subcommand");
		else if (o->text == NULL)
			o->text = a;
		else
			return usage_error(o->verb, "too many arguments");
	}
	if (o->home == NULL)
		return usage_error(o->verb, "needs --home DIR");
	if ((strcmp(o->verb, "add") == 0 || strcmp(o->verb, "keep") == 0) != (o->text != NULL))
		return usage_error(o->verb,
		    o->text == NULL ? "needs its argument" : "takes no argument");
	if (o->text != NULL && strcmp(o->verb, "add") == 0 &&
	    (o->text[0] == '\0' || strlen(o->text) > MAX_TEXT))
		return usage_error(o->verb, "the text must be 1 to 200 bytes");
	return 0;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM" (or a space), local time, to ms. */
static int
parse_since(const char *s, int64_t *ms)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL)
		return -1;
	if (*end == 'T' || *end == ' ') {
		end = strptime(end + 1, "%H:%M", &tm);
		if (end == NULL)
			return -1;
	}
	if (*end != '\0')
		return -1;
	tm.tm_isdst = -1;
	if ((t = mktime(&tm)) == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000;
	return 0;
}

static void
fmt_time(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static void
self_of(const struct cs_home *h, struct cs_audit_self *self)
{
	memset(self, 0, sizeof(*self));
	memcpy(self->device, h->device_id, CS_DEVID_LEN);
	memcpy(self->practitioner, h->practitioner, CS_GID_LEN);
	memcpy(self->sign_pk, h->sign_pk, CS_AUDIT_PK_LEN);
	self->sign_sk = h->sec->sign_sk;
}

/* "name (ab12cd34)" for a device of the roster, else its id's first bytes. */
static void
device_label(struct cs_home *h, const uint8_t *dev, char *out, size_t cap)
{
	struct cs_roster_dev *d;
	char hex[2 * CS_DEVID_LEN + 1];

	if (dev == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	cs_home_hex(dev, CS_DEVID_LEN, hex);
	d = cs_home_roster_by_id(h, dev);
	if (memcmp(dev, h->device_id, CS_DEVID_LEN) == 0)
		snprintf(out, cap, "%s (%.8s)", h->device_name, hex);
	else if (d != NULL)
		snprintf(out, cap, "%s (%.8s)", d->name, hex);
	else
		snprintf(out, cap, "unknown device %.8s", hex);
}

static void
practitioner_label(const struct cs_home *h, const uint8_t *p, char *out, size_t cap)
{
	char hex[2 * CS_GID_LEN + 1];

	if (p == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	if (memcmp(p, h->practitioner, CS_GID_LEN) == 0) {
		snprintf(out, cap, "%s", h->practitioner_name);
		return;
	}
	cs_home_hex(p, CS_GID_LEN, hex);
	snprintf(out, cap, "practitioner %.8s", hex);
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void
json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Text from the database shown to a person: control bytes as '?'. */
static void
plain_str(FILE *f, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

struct list_ctx {
	struct cs_home *h;
	int json, n;
};

static int
print_row(void *ctx, const struct cs_audit_row *r)
{
	struct list_ctx *c = ctx;
	char when[32], dev[CS_HOME_NAME_MAX + 32], pr[CS_HOME_NAME_MAX + 32];
	char hex[2 * CS_GID_LEN + 1];

	fmt_time(r->at_ms, when, sizeof(when));
	device_label(c->h, r->device, dev, sizeof(dev));
	practitioner_label(c->h, r->practitioner, pr, sizeof(pr));
	if (c->json) {
		printf("%s{\"id\":%lld,\"at\":\"%s\",\"at_ms\":%lld,\"action\":\"%s\",",
		    c->n > 0 ? ",\n " : "", (long long)r->id, when, (long long)r->at_ms,
		    cs_audit_action_name(r->action));
		fputs("\"practitioner\":", stdout);
		json_str(stdout, pr);
		fputs(",\"device\":", stdout);
		json_str(stdout, dev);
		fputs(",\"patient\":", stdout);
		json_str(stdout, r->patient_local);
		if (r->patient != NULL) {
			cs_home_hex(r->patient, CS_GID_LEN, hex);
			printf(",\"patient_gid\":\"%s\"", hex);
		} else {
			fputs(",\"patient_gid\":null", stdout);
		}
		printf(",\"count\":%lld,\"detail\":", (long long)r->count);
		json_str(stdout, r->detail);
		fputs("}", stdout);
	} else {
		printf("#%lld  %s  %-18s  %s, %s", (long long)r->id, when,
		    cs_audit_action_name(r->action), pr, dev);
		if (r->patient_local != NULL) {
			fputs("  patient ", stdout);
			plain_str(stdout, r->patient_local);
		} else if (r->patient != NULL) {
			fputs("  patient (not on this device)", stdout);
		}
		if (r->count != 0)
			printf("  %lld row(s)", (long long)r->count);
		if (r->detail != NULL && r->detail[0] != '\0') {
			fputs("  \"", stdout);
			plain_str(stdout, r->detail);
			fputs("\"", stdout);
		}
		fputc('\n', stdout);
	}
	c->n++;
	return 0;
}

static int
cmd_list(struct cs_home *h, sqlite3 *db, const struct audit_opts *o)
{
	struct cs_audit_filter f = {0};
	struct list_ctx c = {0};
	int rc;

	if (o->since != NULL && parse_since(o->since, &f.since_ms) != 0)
		return usage_error("", "--since takes YYYY-MM-DD or YYYY-MM-DDTHH:MM");
	f.patient_local = o->patient;
	c.h = h;
	c.json = o->json;
	if (c.json)
		fputs("[", stdout);
	rc = cs_audit_list(db, &f, print_row, &c);
	if (c.json)
		fputs("]\n", stdout);
	else if (rc == 0 && c.n == 0)
		printf("no audit event%s\n",
		    o->patient != NULL || o->since != NULL ? " matches" : " yet");
	if (rc != 0) {
		fprintf(stderr, "cabsync audit: %s: reading the trail failed: %s (%s).\n", h->db,
		    cs_audit_strerror(rc), sqlite3_errmsg(db));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int
head_from_hex(const char *hex, struct cs_audit_head *out)
{
	uint8_t buf[CS_AUDIT_HEAD_LEN];

	if (strlen(hex) != 2 * CS_AUDIT_HEAD_LEN || cs_home_unhex(hex, buf, CS_AUDIT_HEAD_LEN) != 0)
		return CS_AUDIT_EHEAD;
	return cs_audit_head_decode(buf, sizeof(buf), out);
}

static int
cmd_verify(struct cs_home *h, sqlite3 *db, const struct audit_opts *o)
{
	struct cs_audit_self self;
	struct cs_audit_verdict v;
	struct cs_audit_head given;
	int rc;

	if (o->head != NULL && head_from_hex(o->head, &given) != 0)
		return usage_error("verify", "--head is not a signed audit head");
	self_of(h, &self);
	rc = cs_audit_verify(db, &self, o->head != NULL ? &given : NULL, &v);
	if (rc != 0) {
		fprintf(stderr, "cabsync audit verify: %s: %s (%s).\n", h->db,
		    cs_audit_strerror(rc), sqlite3_errmsg(db));
		return EXIT_FAIL;
	}
	if (!v.triggers)
		fprintf(stderr,
		    "cabsync audit verify: warning: the append-only triggers of cs_audit are "
		    "missing (restart the agent to restore them).\n");
	if (!v.ok) {
		printf("audit trail NOT intact: first bad row %lld: %s\n", (long long)v.bad_row,
		    v.why);
		return CS_AUDIT_EXIT_TAMPERED;
	}
	printf("audit trail intact: %lld row(s), %lld signed head(s) checked\n", (long long)v.rows,
	    (long long)v.heads);
	return EXIT_OK;
}

static int
cmd_add(struct cs_home *h, sqlite3 *db, const struct audit_opts *o)
{
	struct cs_audit_self self;
	struct cs_audit_event ev = {0};
	uint8_t gid[CS_GID_LEN];
	int64_t id = 0;
	int rc;

	if (o->patient != NULL) {
		rc = cs_audit_patient_gid(db, o->patient, gid);
		if (rc == CS_ENOENT) {
			fprintf(stderr,
			    "cabsync audit add: no patient with this id is known to "
			    "cabsync in %s.\n",
			    h->db);
			return EXIT_FAIL;
		}
		if (rc != 0)
			goto fail;
		ev.patient = gid;
	}
	self_of(h, &self);
	ev.action = CS_AUDIT_NOTE;
	ev.detail = o->text;
	if ((rc = cs_audit_install(db)) != 0 ||
	    (rc = cs_audit_append(db, &self, &ev, NULL, &id)) != 0)
		goto fail;
	printf("audit row %lld added\n", (long long)id);
	return EXIT_OK;
fail:
	fprintf(stderr, "cabsync audit add: %s: %s (%s).\n", h->db, cs_audit_strerror(rc),
	    sqlite3_errmsg(db));
	return EXIT_FAIL;
}

/* DEVICE: a roster name or a device id in hex. */
static struct cs_roster_dev *
find_device(struct cs_home *h, const char *s)
{
	uint8_t id[CS_DEVID_LEN];
	size_t i;

	if (strlen(s) == 2 * CS_DEVID_LEN && cs_home_unhex(s, id, CS_DEVID_LEN) == 0)
		return cs_home_roster_by_id(h, id);
	for (i = 0; i < h->nroster; i++)
		if (strcmp(h->roster[i].name, s) == 0)
			return &h->roster[i];
	return NULL;
}

static void
print_head(const struct cs_audit_head *hd)
{
	uint8_t buf[CS_AUDIT_HEAD_LEN];
	char hex[2 * CS_AUDIT_HEAD_LEN + 1];

	cs_audit_head_encode(hd, buf);
	cs_home_hex(buf, sizeof(buf), hex);
	printf("%s\n", hex);
}

static int
cmd_head(struct cs_home *h, sqlite3 *db, const struct audit_opts *o)
{
	struct cs_audit_self self;
	struct cs_audit_head hd;
	struct cs_roster_dev *d;
	int rc;

	if (o->of != NULL) {
		if ((d = find_device(h, o->of)) == NULL)
			return usage_error("head", "--of names no device of the roster");
		rc = cs_audit_head_get(db, d->id, &hd);
		if (rc == CS_ENOENT) {
			fprintf(stderr, "cabsync audit head: no head of %s is kept here.\n",
			    d->name);
			return EXIT_FAIL;
		}
	} else {
		self_of(h, &self);
		if ((rc = cs_audit_install(db)) == 0)
			rc = cs_audit_head_make(db, &self, 0, &hd);
	}
	if (rc != 0) {
		fprintf(stderr, "cabsync audit head: %s: %s.\n", h->db, cs_audit_strerror(rc));
		return rc == CS_AUDIT_EFORK ? CS_AUDIT_EXIT_TAMPERED : EXIT_FAIL;
	}
	print_head(&hd);
	return EXIT_OK;
}

static int
cmd_keep(struct cs_home *h, sqlite3 *db, const struct audit_opts *o)
{
	struct cs_audit_head hd;
	struct cs_roster_dev *d, *f;
	uint8_t src[CS_DEVID_LEN];
	int rc;

	if (head_from_hex(o->text, &hd) != 0)
		return usage_error("keep", "the argument is not a signed audit head");
	d = cs_home_roster_by_id(h, hd.device);
	if (d == NULL) {
		fprintf(stderr, "cabsync audit keep: the head is of a device not in the roster.\n");
		return EXIT_FAIL;
	}
	/*
	 * The source slot: --from DEVICE (the peer that held it), else the device
	 * the head names, except for a head of this very device given back by
	 * hand: the zero id, so that it never replaces this device's own head.
	 */
	memset(src, 0, sizeof(src));
	if (o->of != NULL) {
		if ((f = find_device(h, o->of)) == NULL)
			return usage_error("keep", "--from names no device of the roster");
		memcpy(src, f->id, CS_DEVID_LEN);
	} else if (memcmp(hd.device, h->device_id, CS_DEVID_LEN) != 0) {
		memcpy(src, hd.device, CS_DEVID_LEN);
	}
	if ((rc = cs_audit_install(db)) == 0)
		rc = cs_audit_head_keep(db, &hd, d->sign_pk, src, 0);
	if (rc != 0) {
		fprintf(stderr, "cabsync audit keep: %s: %s.\n", d->name, cs_audit_strerror(rc));
		return rc == CS_AUDIT_EFORK ? CS_AUDIT_EXIT_TAMPERED : EXIT_FAIL;
	}
	printf("kept the audit head of %s: %lld row(s)\n", d->name, (long long)hd.count);
	return EXIT_OK;
}

int
cs_audit_cmd(int argc, char **argv)
{
	struct audit_opts o;
	struct cs_home *h = NULL;
	sqlite3 *db = NULL;
	char msg[512];
	int rc;

	if ((rc = parse(argc, argv, &o)) != 0)
		return rc;
	if (sodium_init() < 0) {
		fprintf(stderr, "cabsync audit: libsodium cannot start.\n");
		return EXIT_FAIL;
	}
	if ((h = cs_calloc(1, sizeof(*h))) == NULL) {
		fprintf(stderr, "cabsync audit: out of memory.\n");
		return EXIT_FAIL;
	}
	msg[0] = '\0';
	if (cs_home_load(h, o.home, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "cabsync audit: %s\n", msg[0] ? msg : "cannot load the home.");
		rc = EXIT_FAIL;
		goto out;
	}
	if ((rc = cs_audit_open(h->db, &db)) != 0) {
		fprintf(stderr, "cabsync audit: %s: cannot open the database: %s.\n", h->db,
		    cs_audit_strerror(rc));
		rc = EXIT_FAIL;
		goto out;
	}
	if (strcmp(o.verb, "verify") == 0)
		rc = cmd_verify(h, db, &o);
	else if (strcmp(o.verb, "add") == 0)
		rc = cmd_add(h, db, &o);
	else if (strcmp(o.verb, "head") == 0)
		rc = cmd_head(h, db, &o);
	else if (strcmp(o.verb, "keep") == 0)
		rc = cmd_keep(h, db, &o);
	else
		rc = cmd_list(h, db, &o);
out:
	cs_audit_close(db);
	cs_home_free(h);
	cs_free(h);
	return rc;
}

int
cs_audit_record(const struct cs_home *h, const struct cs_audit_event *ev,
    const uint8_t *practitioner)
{
	struct cs_audit_self self;
	sqlite3 *db = NULL;
	int rc;

	if (h == NULL || h->sec == NULL || ev == NULL)
		return CS_EINVAL;
	self_of(h, &self);
	if ((rc = cs_audit_open(h->db, &db)) == 0 && (rc = cs_audit_install(db)) == 0)
		rc = cs_audit_append(db, &self, ev, practitioner, NULL);
	cs_audit_close(db);
	return rc;
}

/* ---- the daemon's append job ---- */

struct post_job {
	struct cs_dbw_job j;
	sqlite3 *db;
	struct cs_audit_self self;
	struct cs_audit_event ev;
	uint8_t device[CS_DEVID_LEN], patient[CS_GID_LEN], practitioner[CS_GID_LEN];
	int has_practitioner, rc;
	char detail[CS_AUDIT_DETAIL_MAX + 1];
};

static void
post_run(struct cs_dbw_job *job, void *ctx)
{
	struct post_job *x = (struct post_job *)job;
	struct timespec ts = {0, 5 * 1000000L};
	int tries = 0;

	(void)ctx;
	for (;;) {
		x->rc = cs_audit_append(x->db, &x->self, &x->ev,
		    x->has_practitioner ? x->practitioner : NULL, NULL);
		if (x->rc != CS_EBUSY || ++tries >= 200)
			break;
		nanosleep(&ts, NULL);
	}
}

static void
post_done(struct cs_dbw_job *job)
{
	struct post_job *x = (struct post_job *)job;

	if (x->j.cancelled)
		cs_log(CS_LOG_WARNING, "audit: %s event not recorded (agent stopping)",
		    cs_audit_action_name(x->ev.action));
	else if (x->rc != 0)
		cs_log(CS_LOG_ERR, "audit: recording a %s event failed: %s",
		    cs_audit_action_name(x->ev.action), cs_audit_strerror(x->rc));
	cs_free(x);
}

int
cs_audit_post(struct cs_dbw *w, sqlite3 *db, const struct cs_audit_self *self,
    const struct cs_audit_event *ev, const uint8_t *practitioner)
{
	struct post_job *x;

	if (w == NULL || db == NULL || self == NULL || ev == NULL)
		return CS_EINVAL;
	if ((x = cs_calloc(1, sizeof(*x))) == NULL)
		return CS_ENOMEM;
	x->j.run = post_run;
	x->j.done = post_done;
	x->db = db;
	x->self = *self;
	x->ev = *ev;
	if (x->ev.at_ms == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		x->ev.at_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	if (ev->device != NULL) {
		memcpy(x->device, ev->device, CS_DEVID_LEN);
		x->ev.device = x->device;
	}
	if (ev->patient != NULL) {
		memcpy(x->patient, ev->patient, CS_GID_LEN);
		x->ev.patient = x->patient;
	}
	if (ev->detail != NULL) {
		snprintf(x->detail, sizeof(x->detail), "%s", ev->detail);
		x->ev.detail = x->detail;
	}
	if (practitioner != NULL) {
		memcpy(x->practitioner, practitioner, CS_GID_LEN);
		x->has_practitioner = 1;
	}
	cs_dbw_post(w, &x->j);
	return 0;
}

int
cs_audit_count(struct cs_audit_acc *acc, const struct cs_changeset *cs, enum cs_audit_action dir)
{
	uint32_t i;
	int rc;

	if (acc == NULL || cs == NULL)
		return 0;
	for (i = 0; i < cs->nrows; i++)
		if ((rc = cs_audit_acc_add(acc, cs->rows[i].patient, dir, 1)) != 0)
			return rc;
	return 0;
}

struct end_job {
	struct cs_dbw_job j;
	sqlite3 *db;
	struct cs_audit_self self;
	struct cs_audit_acc *acc;
	int rc_flush, rc_head;
};

static void
end_run(struct cs_dbw_job *job, void *ctx)
{
	struct end_job *x = (struct end_job *)job;
	struct cs_audit_head h;
	struct timespec ts = {0, 5 * 1000000L};
	int tries = 0;

	(void)ctx;
	for (;;) {
		x->rc_flush = cs_audit_acc_flush(x->acc, x->db, &x->self, 0);
		if (x->rc_flush != CS_EBUSY || ++tries >= 200)
			break;
		nanosleep(&ts, NULL);
	}
	/* the head covers what the session just did; peers get it later */
	x->rc_head = cs_audit_head_make(x->db, &x->self, 0, &h);
}

static void
end_done(struct cs_dbw_job *job)
{
	struct end_job *x = (struct end_job *)job;

	if (x->j.cancelled)
		cs_log(CS_LOG_WARNING,
		    "audit: the sync counts of a session were not recorded "
		    "(agent stopping)");
	else if (x->rc_flush != 0)
		cs_log(CS_LOG_ERR, "audit: recording the sync counts of a session failed: %s",
		    cs_audit_strerror(x->rc_flush));
	else if (x->rc_head == CS_AUDIT_EFORK)
		cs_log(CS_LOG_ERR,
		    "audit: this device's trail is shorter than its last signed "
		    "head: it was truncated or rewritten (cabsync audit verify)");
	else if (x->rc_head != 0)
		cs_log(CS_LOG_ERR, "audit: signing the trail's head failed: %s",
		    cs_audit_strerror(x->rc_head));
	cs_audit_acc_free(x->acc);
	cs_free(x->acc);
	cs_free(x);
}

int
cs_audit_post_session_end(struct cs_dbw *w, sqlite3 *db, const struct cs_audit_self *self,
    struct cs_audit_acc *acc)
{
	struct end_job *x;

	if ((x = cs_calloc(1, sizeof(*x))) == NULL) {
		cs_log(CS_LOG_ERR, "audit: out of memory: the sync counts of a session are lost");
		cs_audit_acc_free(acc);
		cs_free(acc);
		return CS_ENOMEM;
	}
	x->j.run = end_run;
	x->j.done = end_done;
	x->db = db;
	x->self = *self;
	x->acc = acc;
	cs_dbw_post(w, &x->j);
	return 0;
}
