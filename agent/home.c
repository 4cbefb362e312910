/*
 * agent/home.c: the home directory of a device (see home.h). Parsed with
 * inih, written with stdio; files replaced by rename(2) after fsync, key
 * files created with O_EXCL and mode 0600.
 */
#include "agent/home.h"

#include "agent/roster.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/keyring.h"
#include "agent/text.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

void
cs_home_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int
cs_home_unhex(const char *s, uint8_t *out, size_t n)
{
	size_t bin_len;

	if (strlen(s) != 2 * n)
		return -1;
	if (sodium_hex2bin(out, n, s, 2 * n, NULL, &bin_len, NULL) != 0 || bin_len != n)
		return -1;
	return 0;
}

const char *
cs_home_strerror(int err)
{
	switch (err) {
	case CS_HOME_EEXISTS:
		return "the home directory is already initialised";
	case CS_HOME_ENOHOME:
		return "no cabsync home there (run cabsync init)";
	case CS_HOME_ECONFIG:
		return "the configuration is malformed";
	case CS_HOME_EKEYFILE:
		return "a key file is missing, malformed or readable by others";
	default:
		return cs_strerror(err);
	}
}

int
cs_home_path(const struct cs_home *h, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", h->dir, name);

	if (n < 0 || (size_t)n >= cap)
		return CS_ERANGE;
	return 0;
}

static int
copy_str(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n + 1 > cap)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

static int
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
config_cb(void *user, const char *sec, const char *key, const char *val)
{
	struct cs_home *h = user;
	unsigned long u;

#define IS(s, k) (strcmp(sec, s) == 0 && strcmp(key, k) == 0)
	if (IS("cabinet", "id"))
		return cs_home_unhex(val, h->cabinet_id, CS_CABINET_ID_LEN) == 0;
	if (IS("cabinet", "name"))
		return copy_str(h->cabinet_name, sizeof(h->cabinet_name), val) == 0;
	if (IS("cabinet", "epoch")) {
		if (parse_uint(val, 0xffffffffUL, &u) != 0 || u == 0)
			return 0;
		h->epoch = (uint32_t)u;
		return 1;
	}
	if (IS("practitioner", "id"))
		return cs_home_unhex(val, h->practitioner, CS_GID_LEN) == 0;
	if (IS("practitioner", "name"))
		return copy_str(h->practitioner_name, sizeof(h->practitioner_name), val) == 0;
	if (IS("device", "id"))
		return cs_home_unhex(val, h->device_id, CS_DEVID_LEN) == 0;
	if (IS("device", "name"))
		return copy_str(h->device_name, sizeof(h->device_name), val) == 0;
	if (IS("device", "db"))
		return copy_str(h->db, sizeof(h->db), val) == 0;
	if (IS("device", "tables"))
		return copy_str(h->tables, sizeof(h->tables), val) == 0;
	if (IS("device", "keystore")) {
		h->keyring = strcmp(val, "keyring") == 0;
		return h->keyring || strcmp(val, "file") == 0;
	}
	if (IS("net", "port")) {
		if (parse_uint(val, 65535, &u) != 0)
			return 0;
		h->port = (uint16_t)u;
		return 1;
	}
	if (IS("net", "peer")) {
		if (h->npeers >= CS_HOME_MAX_PEERS)
			return 0;
		return copy_str(h->peers[h->npeers++], sizeof(h->peers[0]), val) == 0;
	}
#undef IS
	return 1; /* unknown keys: a newer version's settings, ignored */
}

int
cs_home_load_roster(struct cs_home *h, char *msg, size_t msg_cap)
{
	return cs_roster_load(h, msg, msg_cap);
}

/* Read exactly n bytes of a 0600 key file. */
static int
read_key_file(const char *path, uint8_t *out, size_t n, char *msg, size_t msg_cap)
{
	struct stat sb;
	uint8_t extra;
	ssize_t r;
	int fd, rc = CS_HOME_EKEYFILE;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		cs_say(msg, msg_cap, "%s: cannot open the key file: %s.", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &sb) != 0 || (sb.st_mode & 077) != 0) {
		cs_say(msg, msg_cap, "%s: the key file must be mode 0600 (chmod 600 it).", path);
		goto out;
	}
	r = read(fd, out, n);
	if (r != (ssize_t)n || read(fd, &extra, 1) != 0) {
		cs_say(msg, msg_cap, "%s: the key file has the wrong size.", path);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

int
cs_home_secrets_alloc(struct cs_home *h)
{
	h->sec = sodium_malloc(sizeof(*h->sec));
	if (h->sec == NULL)
		return CS_ENOMEM;
	sodium_memzero(h->sec, sizeof(*h->sec));
	return 0;
}

int
cs_home_load(struct cs_home *h, const char *dir, char *msg, size_t msg_cap)
{
	char path[CS_HOME_PATH_MAX];
	uint8_t buf[96];
	struct stat sb;
	int line, rc;

	memset(h, 0, sizeof(*h));
	if (copy_str(h->dir, sizeof(h->dir), dir) != 0) {
		cs_say(msg, msg_cap, "%s: home path too long.", dir);
		return CS_ERANGE;
	}
	if (cs_home_path(h, "cabsync.ini", path, sizeof(path)) != 0)
		return CS_ERANGE;
	if (stat(path, &sb) != 0) {
		cs_say(msg, msg_cap, "%s: not a cabsync home (no cabsync.ini; run cabsync init).",
		    dir);
		return CS_HOME_ENOHOME;
	}
	line = ini_parse(path, config_cb, h);
	if (line != 0) {
		cs_say(msg, msg_cap, "%s: malformed configuration (line %d).", path, line);
		return CS_HOME_ECONFIG;
	}
	if (h->epoch == 0 || h->db[0] == '\0' || h->tables[0] == '\0' ||
	    sodium_is_zero(h->device_id, CS_DEVID_LEN)) {
		cs_say(msg, msg_cap,
		    "%s: incomplete configuration (cabinet, device or db missing).", path);
		return CS_HOME_ECONFIG;
	}
	if ((rc = cs_home_secrets_alloc(h)) != 0)
		return rc;
	rc = CS_ERANGE;
	if (h->keyring) {
		char why[256];

		rc = cs_keyring_lookup(h->device_id, buf, why, sizeof(why));
		if (rc != 0) {
			cs_say(msg, msg_cap,
			    "cannot read the device keys from the login keyring: %s.", why);
			rc = CS_HOME_EKEYFILE;
			goto out;
		}
	} else {
		if (cs_home_path(h, "device.key", path, sizeof(path)) != 0)
			goto out;
		if ((rc = read_key_file(path, buf, 96, msg, msg_cap)) != 0)
			goto out;
	}
	memcpy(h->sec->dh_sk, buf, 32);
	memcpy(h->sec->sign_sk, buf + 32, 64);
	crypto_scalarmult_base(h->dh_pk, h->sec->dh_sk);
	memcpy(h->sign_pk, h->sec->sign_sk + 32, 32);
	if (cs_home_path(h, "cabinet.key", path, sizeof(path)) != 0)
		goto out;
	if ((rc = read_key_file(path, buf, 4 + CS_KEY_LEN, msg, msg_cap)) != 0)
		goto out;
	if (((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3]) !=
	    h->epoch) {
		cs_say(msg, msg_cap, "%s: the cabinet key epoch differs from the configuration.",
		    path);
		rc = CS_HOME_EKEYFILE;
		goto out;
	}
	memcpy(h->sec->cabinet_key, buf + 4, CS_KEY_LEN);
	h->base_epoch = h->epoch;
	h->sec->keys[0].epoch = h->epoch;
	memcpy(h->sec->keys[0].key, buf + 4, CS_KEY_LEN);
	h->sec->nkeys = 1;
	sodium_mprotect_readonly(h->sec);
	/* the signed roster and the keys of later epochs (agent/roster.h) */
	rc = cs_roster_load(h, msg, msg_cap);
out:
	sodium_memzero(buf, sizeof(buf));
	if (rc != 0)
		cs_home_free(h);
	return rc;
}

void
cs_home_free(struct cs_home *h)
{
	if (h == NULL || h->sec == NULL)
		return;
	sodium_mprotect_readwrite(h->sec);
	sodium_free(h->sec); /* sodium_free wipes the block */
	h->sec = NULL;
}

/* Write data to path (new, 0600): exclusive if excl, else via tmp + rename. */
static int
write_file(const char *path, const void *data, size_t len, int excl, char *msg, size_t msg_cap)
{
	char tmp[CS_HOME_PATH_MAX + 8];
	const char *target = path;
	int fd, rc = CS_EIO;

	if (!excl) {
		if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
			return CS_ERANGE;
		target = tmp;
		unlink(tmp);
	}
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		cs_say(msg, msg_cap, "%s: cannot create: %s.", target, strerror(errno));
		return errno == EEXIST ? CS_EEXIST : CS_EIO;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
		cs_say(msg, msg_cap, "%s: cannot write: %s.", target, strerror(errno));
		close(fd);
		unlink(target);
		return rc;
	}
	close(fd);
	if (!excl && rename(tmp, path) != 0) {
		cs_say(msg, msg_cap, "%s: cannot replace: %s.", path, strerror(errno));
		unlink(tmp);
		return rc;
	}
	return 0;
}

/* A growing text buffer for the INI files. */
struct tbuf {
	char p[64 * 1024];
	size_t len;
	int over;
};

static void tb_add(struct tbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
tb_add(struct tbuf *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, sizeof(t->p) - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(t->p) - t->len)
		t->over = 1;
	else
		t->len += (size_t)n;
}

int
cs_home_save_roster(struct cs_home *h)
{
	return cs_roster_save(h);
}

int
cs_home_save(struct cs_home *h, char *msg, size_t msg_cap)
{
	char path[CS_HOME_PATH_MAX], hex[65], label[CS_HOME_NAME_MAX + 32], why[256];
	uint8_t buf[96];
	struct tbuf *t;
	size_t i;
	int rc, in_keyring = 0;

	t = cs_malloc(sizeof(*t));
	if (t == NULL)
		return CS_ENOMEM;
	t->len = 0;
	t->over = 0;
	tb_add(t, "# cabsync configuration (docs/OPERATIONS.md). No secret in this file.\n");
	cs_home_hex(h->cabinet_id, CS_CABINET_ID_LEN, hex);
	tb_add(t, "[cabinet]\nid = %s\nname = %s\nepoch = %u\n\n", hex, h->cabinet_name,
	    (unsigned)h->epoch);
	cs_home_hex(h->practitioner, CS_GID_LEN, hex);
	tb_add(t, "[practitioner]\nid = %s\nname = %s\n\n", hex, h->practitioner_name);
	cs_home_hex(h->device_id, CS_DEVID_LEN, hex);
	tb_add(t, "[device]\nid = %s\nname = %s\ndb = %s\ntables = %s\n", hex, h->device_name,
	    h->db, h->tables);
	/* the device keys: the login keyring if one is usable, else device.key */
	rc = CS_ERANGE;
	if (cs_home_path(h, "device.key", path, sizeof(path)) != 0)
		goto out;
	memcpy(buf, h->sec->dh_sk, 32);
	memcpy(buf + 32, h->sec->sign_sk, 64);
	snprintf(label, sizeof(label), "cabsync device keys (%s)", h->device_name);
	if (cs_keyring_store(h->device_id, label, buf, why, sizeof(why)) == 0) {
		in_keyring = 1;
		tb_add(t,
		    "# the device keys are in the login keyring (Secret Service)\n"
		    "keystore = keyring\n\n");
	} else {
		cs_log(CS_LOG_WARNING,
		    "%s: the device keys go to %s (mode 0600), not to a login keyring; keep the "
		    "disk encrypted",
		    why, path);
		tb_add(t, "keystore = file\n\n");
		rc = write_file(path, buf, 96, 1, msg, msg_cap);
		if (rc != 0)
			goto out;
	}
	tb_add(t, "[net]\n# 0 = any free port (written to HOME/port at start)\nport = %u\n",
	    (unsigned)h->port);
	tb_add(t, "# static peers, one per line: peer = HOST:PORT\n");
	for (i = 0; i < h->npeers; i++)
		tb_add(t, "peer = %s\n", h->peers[i]);
	if (t->over) {
		rc = CS_ERANGE;
		goto out;
	}
	buf[0] = (uint8_t)(h->epoch >> 24);
	buf[1] = (uint8_t)(h->epoch >> 16);
	buf[2] = (uint8_t)(h->epoch >> 8);
	buf[3] = (uint8_t)h->epoch;
	memcpy(buf + 4, h->sec->cabinet_key, CS_KEY_LEN);
	rc = CS_ERANGE;
	if (cs_home_path(h, "cabinet.key", path, sizeof(path)) != 0)
		goto out;
	rc = write_file(path, buf, 4 + CS_KEY_LEN, 1, msg, msg_cap);
	if (rc != 0)
		goto out;
	rc = cs_roster_save(h);
	if (rc != 0) {
		cs_say(msg, msg_cap, "%s: cannot write roster.ini.", h->dir);
		goto out;
	}
	/* the config last: its presence marks a complete home */
	rc = CS_ERANGE;
	if (cs_home_path(h, "cabsync.ini", path, sizeof(path)) != 0)
		goto out;
	rc = write_file(path, t->p, t->len, 1, msg, msg_cap);
out:
	if (rc != 0 && in_keyring)
		(void)cs_keyring_clear(h->device_id, NULL, 0);
	sodium_memzero(buf, sizeof(buf));
	cs_free(t);
	return rc;
}

const struct cs_roster_dev *
cs_home_roster_by_key(const struct cs_home *h, const uint8_t pk[static 32])
{
	size_t i;

	for (i = 0; i < h->nroster; i++)
		if (sodium_memcmp(h->roster[i].dh_pk, pk, 32) == 0)
			return &h->roster[i];
	return NULL;
}

struct cs_roster_dev *
cs_home_roster_by_id(struct cs_home *h, const uint8_t id[static CS_DEVID_LEN])
{
	size_t i;

	for (i = 0; i < h->nroster; i++)
		if (memcmp(h->roster[i].id, id, CS_DEVID_LEN) == 0)
			return &h->roster[i];
	return NULL;
}

int
cs_home_roster_put(struct cs_home *h, const struct cs_roster_dev *d)
{
	int rc = cs_roster_make(h, d, 0, 0, 0, NULL, NULL);

	return rc == CS_ROSTER_EFULL ? CS_ERANGE : rc;
}
