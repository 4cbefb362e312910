/*
 * agent/relay_cmd.c: cabsync export / import / relay sync (see relay_cmd.h).
 */
#include "agent/relay_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/devstate.h"
#include "agent/home.h"
#include "agent/relay.h"
#include "agent/relay_agent.h"
#include "agent/relay_folder.h"
#include "agent/relay_http.h"
#include "agent/share_sync.h"
#include "base/err.h"
#include "base/mem.h"
#include "sql/audit.h"
#include "sql/engine.h"

#define EXIT_OK      0
#define EXIT_FAIL    1
#define EXIT_USAGE   2
#define EXIT_REFUSED 8 /* import: the bundle failed a check (quarantined) */

void
cs_relay_cmd_usage(FILE *f)
{
	fprintf(f,
	    "  cabsync export PATIENT --to PRACTITIONER -o FILE [--home DIR] [--lifetime D]\n"
	    "               seal a patient's rows for each device of a practitioner (USB key)\n"
	    "  cabsync import FILE [--home DIR]\n"
	    "               apply an export addressed to this device (every check of the relay)\n"
	    "  cabsync relay login [--home DIR] [--email EMAIL]   (password on stdin)\n"
	    "               log in to the Supabase relay once; keeps a refresh token (0600)\n"
	    "  cabsync relay sync [--home DIR]\n"
	    "               ask the running agent to import and send relay bundles now\n"
	    "  export/import exit codes: 0 ok; 1 failure; 2 bad command line; 8 the file\n"
	    "  was refused (kept in HOME/relay-quarantine).\n");
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
cs_relay_export_pick(const uint8_t *buf, size_t len, const uint8_t *device, const uint8_t **out,
    size_t *out_len)
{
	struct cs_bundle_info info;
	size_t off = CS_RELAY_EXPORT_HDR, blen;
	unsigned i, n;
	int found = 0;

	*out = NULL;
	*out_len = 0;
	if (buf == NULL || len < CS_RELAY_EXPORT_HDR ||
	    memcmp(buf, CS_RELAY_EXPORT_MAGIC, 4) != 0 || buf[4] != 1)
		return CS_RELAY_EPAYLOAD;
	n = buf[5];
	if (n == 0 || n > CS_RELAY_EXPORT_MAXN)
		return CS_RELAY_EPAYLOAD;
	for (i = 0; i < n; i++) {
		if (len - off < 4)
			goto bad;
		blen = get_u32(buf + off);
		off += 4;
		if (blen > len - off)
			goto bad;
		if (cs_bundle_peek(buf + off, blen, CS_RELAY_MAX_BUNDLE, &info) != 0)
			goto bad;
		if (!found && memcmp(info.recipient_id, device, CS_DEVID_LEN) == 0) {
			*out = buf + off;
			*out_len = blen;
			found = 1;
		}
		off += blen;
	}
	if (off != len)
		goto bad;
	return found ? 0 : CS_RELAY_ENOTFOR;
bad:
	/* a bundle matched before a later one proved the file malformed */
	*out = NULL;
	*out_len = 0;
	return CS_RELAY_EPAYLOAD;
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;
	const char *o = getenv("CABSYNC_TEST_CLOCK_OFFSET_MS"); /* tests only */
	int64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (o != NULL)
		now += strtoll(o, NULL, 10);
	return now > 0 ? (uint64_t)now : 0;
}

static const char *
default_home(void)
{
	const char *h = getenv("CABSYNC_HOME");

	return h != NULL ? h : NULL;
}

/*
 * Load the home and open its database's engine (and the audit trail), with
 * the shares of a live session (sh: the roster view the permission checks
 * and the share records use; released with cs_shsync_free).
 */
static int
open_home(const char *cmd, const char *dir, struct cs_home *h, struct cs_engine **eng,
    struct cs_shsync *sh)
{
	struct cs_engine_opts o;
	char msg[512];
	int rc;

	*eng = NULL;
	if (dir == NULL) {
		fprintf(stderr, "cabsync %s: needs --home DIR (or CABSYNC_HOME).\n", cmd);
		return EXIT_USAGE;
	}
	if (cs_home_load(h, dir, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "cabsync %s: %s\n", cmd, msg);
		return EXIT_FAIL;
	}
	if (cs_shsync_init(sh, h) != 0) {
		fprintf(stderr, "cabsync %s: out of resources\n", cmd);
		return EXIT_FAIL;
	}
	memset(&o, 0, sizeof(o));
	o.db_path = h->db;
	o.tables_ini = h->tables;
	o.device_id = h->device_id;
	o.practitioner_of = cs_shsync_practitioner_of; /* the checks of a live session */
	o.practitioner_ctx = sh;
	rc = cs_engine_open(eng, &o);
	if (rc != 0) {
		fprintf(stderr, "cabsync %s: %s: %s\n", cmd, h->db, cs_engine_open_errmsg());
		return EXIT_FAIL;
	}
	if (!cs_engine_installed(*eng)) {
		fprintf(stderr, "cabsync %s: %s: cabsync is not installed in this database.\n", cmd,
		    h->db);
		return EXIT_FAIL;
	}
	if ((rc = cs_audit_install(cs_engine_handle(*eng))) != 0) {
		fprintf(stderr, "cabsync %s: %s: cannot install the audit trail: %s\n", cmd, h->db,
		    cs_audit_strerror(rc));
		return EXIT_FAIL;
	}
	if ((rc = cs_shsync_install(sh, *eng)) != 0) {
		fprintf(stderr, "cabsync %s: %s: cannot install the share tables: %s\n", cmd, h->db,
		    cs_share_strerror(rc));
		return EXIT_FAIL;
	}
	return 0;
}

static int
parse_ms(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || end == v)
		return -1;
	if (strcmp(end, "h") == 0)
		n *= 3600ULL * 1000;
	else if (strcmp(end, "d") == 0)
		n *= 24ULL * 3600 * 1000;
	else if (strcmp(end, "m") == 0)
		n *= 60ULL * 1000;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		n *= 1000;
	else
		return -1;
	*out = n;
	return 0;
}

static int
export_cmd(int argc, char **argv)
{
	struct cs_home *h = NULL;
	struct cs_engine *eng = NULL;
	struct cs_relay_seal_req req;
	struct cs_relay_sealed sb[CS_RELAY_EXPORT_MAXN];
	struct cs_shsync sh;
	uint8_t rcpt[CS_RELAY_EXPORT_MAXN][CS_DEVID_LEN];
	const char *patient = NULL, *to = NULL, *file = NULL, *home = default_home();
	uint8_t pgid[CS_GID_LEN], prac[CS_GID_LEN], *cont = NULL, len4[4];
	uint64_t lifetime = CS_RELAY_EXPORT_LIFETIME_MS, now = wall_ms();
	size_t i, nsb = 0, clen, off;
	char msg[256], det[200];
	int rc = EXIT_FAIL, found = 0, e, n;

	memset(sb, 0, sizeof(sb));
	memset(&sh, 0, sizeof(sh));
	for (n = 1; n < argc; n++) {
		if (strcmp(argv[n], "--to") == 0 && n + 1 < argc)
			to = argv[++n];
		else if (strcmp(argv[n], "-o") == 0 && n + 1 < argc)
			file = argv[++n];
		else if (strcmp(argv[n], "--home") == 0 && n + 1 < argc)
			home = argv[++n];
		else if (strcmp(argv[n], "--lifetime") == 0 && n + 1 < argc) {
			if (parse_ms(argv[++n], &lifetime) != 0 || lifetime < 1000 ||
			    lifetime > CS_RELAY_EXPORT_MAX_LIFETIME_MS) {
				fprintf(stderr, "cabsync export: --lifetime: 1s .. 31d.\n");
				return EXIT_USAGE;
			}
		} else if (argv[n][0] != '-' && patient == NULL)
			patient = argv[n];
		else {
			fprintf(stderr, "cabsync export: unexpected '%s' (see cabsync --help).\n",
			    argv[n]);
			return EXIT_USAGE;
		}
	}
	if (patient == NULL || to == NULL || file == NULL) {
		fprintf(stderr, "cabsync export: needs PATIENT --to PRACTITIONER -o FILE.\n");
		return EXIT_USAGE;
	}
	h = cs_calloc(1, sizeof(*h));
	if (h == NULL)
		return EXIT_FAIL;
	if ((rc = open_home("export", home, h, &eng, &sh)) != 0)
		goto out;
	rc = EXIT_FAIL;
	/* the practitioner: an id of the roster, or the name of one of their devices */
	if (cs_home_unhex(to, prac, CS_GID_LEN) != 0) {
		for (i = 0; i < h->nroster; i++) {
			if (strcmp(h->roster[i].name, to) == 0) {
				memcpy(prac, h->roster[i].practitioner, CS_GID_LEN);
				found = 1;
			}
		}
		if (!found) {
			fprintf(stderr,
			    "cabsync export: no practitioner id or device named '%s' in the "
			    "roster.\n",
			    to);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	e = cs_audit_patient_gid(cs_engine_handle(eng), patient, pgid);
	if (e != 0) {
		fprintf(stderr, "cabsync export: patient %s is not known to cabsync here.\n",
		    patient);
		goto out;
	}
	for (i = 0; i < h->nroster && nsb < CS_RELAY_EXPORT_MAXN; i++) {
		const struct cs_roster_dev *d = &h->roster[i];

		if (d->revoked || memcmp(d->practitioner, prac, CS_GID_LEN) != 0 ||
		    memcmp(d->id, h->device_id, CS_DEVID_LEN) == 0)
			continue;
		memset(&req, 0, sizeof(req));
		req.to = d;
		req.patient = pgid;
		req.sh = &sh; /* what that practitioner may see, with its records */
		req.now_ms = now;
		req.lifetime_ms = lifetime;
		msg[0] = '\0';
		e = cs_relay_seal(eng, h, &req, NULL, &sb[nsb], msg, sizeof(msg));
		if (e != 0) {
			fprintf(stderr, "cabsync export: %s\n",
			    msg[0] ? msg : cs_relay_strerror(e));
			goto out;
		}
		if (sb[nsb].buf == NULL) {
			fprintf(stderr,
			    "cabsync export: patient %s has no rows that practitioner may see "
			    "(share it first: cabsync share).\n",
			    patient);
			goto out;
		}
		memcpy(rcpt[nsb], d->id, CS_DEVID_LEN);
		nsb++;
	}
	if (nsb == 0) {
		fprintf(stderr,
		    "cabsync export: that practitioner has no active device in the roster but "
		    "this one.\n");
		goto out;
	}
	clen = CS_RELAY_EXPORT_HDR;
	for (i = 0; i < nsb; i++)
		clen += 4 + sb[i].len;
	cont = cs_malloc(clen);
	if (cont == NULL)
		goto out;
	memcpy(cont, CS_RELAY_EXPORT_MAGIC, 4);
	cont[4] = 1;
	cont[5] = (uint8_t)nsb;
	off = CS_RELAY_EXPORT_HDR;
	for (i = 0; i < nsb; i++) {
		len4[0] = (uint8_t)(sb[i].len >> 24);
		len4[1] = (uint8_t)(sb[i].len >> 16);
		len4[2] = (uint8_t)(sb[i].len >> 8);
		len4[3] = (uint8_t)sb[i].len;
		memcpy(cont + off, len4, 4);
		memcpy(cont + off + 4, sb[i].buf, sb[i].len);
		off += 4 + sb[i].len;
	}
	e = cs_relay_write_file(file, cont, clen, 0600);
	if (e != 0) {
		fprintf(stderr, "cabsync export: cannot write %s: %s\n", file, cs_strerror(e));
		goto out;
	}
	for (i = 0; i < nsb; i++) {
		char idhex[33], dev[17];

		cs_relay_idhex(sb[i].id, idhex);
		cs_home_hex(rcpt[i], 8, dev);
		snprintf(det, sizeof(det), "export bundle %s for device %s: %u rows", idhex, dev,
		    sb[i].rows);
		cs_relay_audit(eng, h, CS_AUDIT_SYNC_OUT, NULL, sb[i].rows, det);
	}
	printf("wrote %s: %zu bundle(s), valid for %llu h.\n", file, nsb,
	    (unsigned long long)(lifetime / 3600000));
	rc = EXIT_OK;
out:
	for (i = 0; i < CS_RELAY_EXPORT_MAXN; i++)
		cs_relay_sealed_free(&sb[i]);
	cs_free(cont);
	cs_engine_close(eng);
	cs_shsync_free(&sh);
	if (h != NULL)
		cs_home_free(h);
	cs_free(h);
	return rc;
}

static int
import_cmd(int argc, char **argv)
{
	struct cs_home *h = NULL;
	struct cs_engine *eng = NULL;
	struct cs_relay_seen seen;
	struct cs_relay_import_res res;
	struct cs_shsync sh;
	const char *file = NULL, *home = default_home(), *base;
	const uint8_t *b;
	uint8_t *buf = NULL;
	size_t len, blen;
	char why[256], det[320], name[128];
	int rc = EXIT_FAIL, e, n;

	memset(&seen, 0, sizeof(seen));
	memset(&sh, 0, sizeof(sh));
	for (n = 1; n < argc; n++) {
		if (strcmp(argv[n], "--home") == 0 && n + 1 < argc)
			home = argv[++n];
		else if (argv[n][0] != '-' && file == NULL)
			file = argv[n];
		else {
			fprintf(stderr, "cabsync import: unexpected '%s' (see cabsync --help).\n",
			    argv[n]);
			return EXIT_USAGE;
		}
	}
	if (file == NULL) {
		fprintf(stderr, "cabsync import: needs FILE.\n");
		return EXIT_USAGE;
	}
	h = cs_calloc(1, sizeof(*h));
	if (h == NULL)
		return EXIT_FAIL;
	if ((rc = open_home("import", home, h, &eng, &sh)) != 0)
		goto out;
	rc = EXIT_FAIL;
	e = cs_relay_read_file(file, (size_t)CS_RELAY_MAX_BUNDLE * 2, &buf, &len);
	if (e != 0) {
		fprintf(stderr, "cabsync import: cannot read %s: %s\n", file,
		    e == CS_ERANGE ? "too large" : cs_strerror(e));
		goto out;
	}
	if ((e = cs_relay_seen_load(&seen, h->dir)) != 0) {
		fprintf(stderr, "cabsync import: %s/relay-seen: %s\n", h->dir, cs_strerror(e));
		goto out;
	}
	why[0] = '\0';
	e = cs_relay_export_pick(buf, len, h->device_id, &b, &blen);
	if (e == 0)
		e = cs_relay_import(eng, h, NULL, &sh, &seen, b, blen, wall_ms(),
		    CS_RELAY_EXPORT_MAX_LIFETIME_MS, "export file", &res, why, sizeof(why));
	if (e == 0) {
		printf("imported %s: %u rows (%u applied, %u refused, %u conflicts, %u held).\n",
		    file, res.rows, res.applied, res.refused, res.conflicts, res.held);
		rc = EXIT_OK;
		goto out;
	}
	if (e == CS_ENOMEM || e == CS_EIO || e == CS_SQL_EBUSY || e == CS_SQL_ESQLITE ||
	    e == CS_SQL_EFULL) {
		fprintf(stderr, "cabsync import: %s: %s; try again.\n", file,
		    why[0] ? why : cs_relay_strerror(e));
		goto out;
	}
	if (why[0] == '\0')
		snprintf(why, sizeof(why), "%s", cs_relay_strerror(e));
	base = strrchr(file, '/');
	base = base != NULL ? base + 1 : file;
	snprintf(name, sizeof(name), "import-%llu-%.60s", (unsigned long long)wall_ms(), base);
	if (cs_relay_quarantine(h->dir, name, buf, len, why) != 0)
		fprintf(stderr, "cabsync import: cannot keep a copy in %s/relay-quarantine.\n",
		    h->dir);
	snprintf(det, sizeof(det), "export file refused: %s", why);
	cs_relay_audit(eng, h, CS_AUDIT_REFUSED, NULL, 0, det);
	fprintf(stderr,
	    "cabsync import: %s refused: %s (nothing applied; kept in %s/relay-quarantine).\n",
	    file, why, h->dir);
	rc = EXIT_REFUSED;
out:
	if (buf != NULL)
		sodium_memzero(buf, len);
	cs_free(buf);
	cs_relay_seen_free(&seen);
	cs_engine_close(eng);
	cs_shsync_free(&sh);
	if (h != NULL)
		cs_home_free(h);
	cs_free(h);
	return rc;
}

static int
sync_cmd(int argc, char **argv)
{
	const char *home = default_home();
	char path[4096], out[CS_CTL_MAX_RESP + 1];
	int n, fd;

	for (n = 2; n < argc; n++) {
		if (strcmp(argv[n], "--home") == 0 && n + 1 < argc)
			home = argv[++n];
		else {
			fprintf(stderr, "cabsync relay sync: unexpected '%s'.\n", argv[n]);
			return EXIT_USAGE;
		}
	}
	if (home == NULL) {
		fprintf(stderr, "cabsync relay sync: needs --home DIR (or CABSYNC_HOME).\n");
		return EXIT_USAGE;
	}
	if (cs_control_path(home, 0, path, sizeof(path)) != 0 ||
	    cs_control_request(path, "status", out, sizeof(out)) != 0) {
		fprintf(stderr, "cabsync relay sync: no agent is running for %s.\n", home);
		return 5;
	}
	if (snprintf(path, sizeof(path), "%s/%s", home, CS_RELAY_KICK_FILE) >= (int)sizeof(path))
		return EXIT_USAGE;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "cabsync relay sync: cannot write %s: %s\n", path, strerror(errno));
		return EXIT_FAIL;
	}
	close(fd);
	printf("asked the agent for a relay cycle (within a second).\n");
	return EXIT_OK;
}

/* `cabsync relay login`: the password from CABSYNC_RELAY_PASSWORD or stdin. */
static int
login_cmd(int argc, char **argv)
{
	struct cs_relay_cfg *cfg = NULL;
	const char *home = default_home(), *email = NULL, *env;
	char pw[512], msg[512];
	size_t n;
	int i, rc = EXIT_FAIL;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
			home = argv[++i];
		else if (strcmp(argv[i], "--email") == 0 && i + 1 < argc)
			email = argv[++i];
		else {
			fprintf(stderr, "cabsync relay login: unexpected '%s'.\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (home == NULL) {
		fprintf(stderr, "cabsync relay login: needs --home DIR (or CABSYNC_HOME).\n");
		return EXIT_USAGE;
	}
	cfg = cs_calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return EXIT_FAIL;
	if (cs_relay_cfg_load(home, cfg, msg, sizeof(msg)) != 0 ||
	    cfg->backend != CS_RELAY_SUPABASE) {
		fprintf(stderr, "cabsync relay login: %s\n",
		    cfg->backend != CS_RELAY_SUPABASE ? "[relay] backend is not supabase" : msg);
		goto out;
	}
	if (email == NULL)
		email = cfg->email;
	if (email[0] == '\0') {
		fprintf(stderr, "cabsync relay login: needs --email (or [relay] email).\n");
		rc = EXIT_USAGE;
		goto out;
	}
	env = getenv("CABSYNC_RELAY_PASSWORD");
	if (env != NULL) {
		snprintf(pw, sizeof(pw), "%s", env);
	} else {
		fprintf(stderr, "Supabase password for %s: ", email);
		if (fgets(pw, sizeof(pw), stdin) == NULL) {
			fprintf(stderr, "\ncabsync relay login: no password.\n");
			goto out;
		}
		n = strcspn(pw, "\r\n");
		pw[n] = '\0';
	}
	if (cs_supa_login(cfg, home, email, pw, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "cabsync relay login: %s\n", msg);
		goto out;
	}
	printf("logged in to %s as %s; the session is kept in %s/%s (0600).\n", cfg->url, email,
	    home, CS_SUPA_TOKEN_FILE);
	rc = EXIT_OK;
out:
	sodium_memzero(pw, sizeof(pw));
	cs_free(cfg);
	return rc;
}

int
cs_relay_cmd(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "cabsync: libsodium failed to initialise.\n");
		return EXIT_FAIL;
	}
	if (strcmp(argv[0], "export") == 0)
		return export_cmd(argc, argv);
	if (strcmp(argv[0], "import") == 0)
		return import_cmd(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "sync") == 0)
		return sync_cmd(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "login") == 0)
		return login_cmd(argc, argv);
	fprintf(stderr, "cabsync relay: unknown subcommand (sync, login).\n");
	return EXIT_USAGE;
}
