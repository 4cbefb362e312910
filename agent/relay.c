/*
 * agent/relay.c: relay configuration, payload, seal and import, the seen set
 * and the outbox (see relay.h).
 */
#include "agent/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/audit_cmd.h"
#include "agent/devstate.h"
#include "agent/share_sync.h"
#include "agent/text.h"
#include "base/err.h"
#include "base/mem.h"
#include "sql/audit.h"
#include "sql/engine.h"
#include "wire/msg.h"
#include "wire/records.h"

#define BATCH_ROWS    128
#define BUSY_RETRY_MS 5
/* 10 s of SQLITE_BUSY; a time, not a count: each try already waits the
 * engine's busy timeout for the lock */
#define BUSY_GIVEUP_S 10

const char *
cs_relay_strerror(int err)
{
	switch (err) {
	case CS_RELAY_EPAYLOAD:
		return "the bundle's content is malformed";
	case CS_RELAY_ECONFIG:
		return "the [relay] configuration is wrong";
	case CS_RELAY_EAPPLY:
		return "the changes of the bundle were refused by the database";
	case CS_RELAY_EHTTP:
		return "the relay server gave an unexpected answer";
	case CS_RELAY_EAUTH:
		return "not logged in to the relay (run cabsync relay login)";
	case CS_RELAY_ENOTFOR:
		return "the file holds no bundle for this device";
	default:
		break;
	}
	if (err <= CS_ERR_BUNDLE_FIRST && err > CS_ERR_SQL_FIRST)
		return cs_bundle_strerror(err);
	if (err <= CS_ERR_FRAME_FIRST && err > CS_ERR_BUNDLE_FIRST)
		return cs_msg_strerror(err);
	if (err <= CS_ERR_SQL_FIRST && err > CS_ERR_AGENT_FIRST)
		return cs_sql_strerror(err);
	return cs_strerror(err);
}

void
cs_relay_idhex(const uint8_t *id, char out[33])
{
	sodium_bin2hex(out, 33, id, CS_BUNDLE_ID_LEN);
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ------------------------------------------------------------- files */

int
cs_relay_write_file(const char *path, const uint8_t *buf, size_t len, int mode)
{
	char tmp[CS_HOME_PATH_MAX + 16], dir[CS_HOME_PATH_MAX];
	size_t off = 0;
	ssize_t w;
	int fd = -1, dfd = -1, rc = CS_EIO;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp) ||
	    snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return CS_ERANGE;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return CS_EIO;
	while (off < len) {
		w = write(fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = errno == ENOSPC ? CS_ENOSPC : CS_EIO;
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd); /* the rename itself survives a power cut */
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
cs_relay_read_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	struct stat sb;
	uint8_t *buf = NULL;
	size_t off = 0;
	ssize_t r;
	int fd, rc = CS_EIO;

	*out = NULL;
	*out_len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? CS_ENOENT : CS_EIO;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		goto out;
	if ((uint64_t)sb.st_size > max) {
		rc = CS_ERANGE;
		goto out;
	}
	buf = cs_malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1);
	if (buf == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	while (off < (size_t)sb.st_size) {
		r = read(fd, buf + off, (size_t)sb.st_size - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto out; /* shrank while reading: a writer not using rename */
		off += (size_t)r;
	}
	*out = buf;
	*out_len = off;
	buf = NULL;
	rc = 0;
out:
	cs_free(buf);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------- config */

struct cfg_ctx {
	struct cs_relay_cfg *cfg;
	char *msg;
	size_t cap;
	int bad;
};

/* "90", "90s", "10m", "24h", "500ms" into milliseconds. */
static int
parse_dur(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || end == v)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		n *= 1000;
	else if (strcmp(end, "ms") == 0)
		;
	else if (strcmp(end, "m") == 0)
		n *= 60 * 1000;
	else if (strcmp(end, "h") == 0)
		n *= 3600 * 1000;
	else
		return -1;
	*out = n;
	return 0;
}

static int
copy_val(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int
cfg_cb(void *user, const char *sec, const char *key, const char *val)
{
	struct cfg_ctx *c = user;
	struct cs_relay_cfg *cfg = c->cfg;
	char *end;
	int ok = 1;

	if (strcmp(sec, "relay") != 0)
		return 1;
	if (strcmp(key, "backend") == 0) {
		if (strcmp(val, "none") == 0)
			cfg->backend = CS_RELAY_NONE;
		else if (strcmp(val, "folder") == 0)
			cfg->backend = CS_RELAY_FOLDER;
		else if (strcmp(val, "supabase") == 0)
			cfg->backend = CS_RELAY_SUPABASE;
		else
			ok = 0;
	} else if (strcmp(key, "dir") == 0) {
		ok = copy_val(cfg->dir, sizeof(cfg->dir), val) == 0;
	} else if (strcmp(key, "after") == 0) {
		ok = parse_dur(val, &cfg->after_ms) == 0;
	} else if (strcmp(key, "lifetime") == 0) {
		ok = parse_dur(val, &cfg->lifetime_ms) == 0 && cfg->lifetime_ms >= 1000;
	} else if (strcmp(key, "interval") == 0) {
		ok = parse_dur(val, &cfg->interval_ms) == 0 && cfg->interval_ms >= 100;
	} else if (strcmp(key, "url") == 0) {
		ok = copy_val(cfg->url, sizeof(cfg->url), val) == 0;
		while (ok && cfg->url[0] != '\0' && cfg->url[strlen(cfg->url) - 1] == '/')
			cfg->url[strlen(cfg->url) - 1] = '\0';
	} else if (strcmp(key, "key") == 0) {
		ok = copy_val(cfg->key, sizeof(cfg->key), val) == 0;
	} else if (strcmp(key, "email") == 0) {
		ok = copy_val(cfg->email, sizeof(cfg->email), val) == 0;
	} else if (strcmp(key, "cabinet") == 0) {
		cfg->cabinet_no = strtol(val, &end, 10);
		ok = *end == '\0' && cfg->cabinet_no > 0;
	} else if (strcmp(key, "practitioner") == 0) {
		cfg->practitioner_no = strtol(val, &end, 10);
		ok = *end == '\0' && cfg->practitioner_no > 0;
	} else if (strncmp(key, "map.", 4) == 0) {
		if (cfg->nmap >= CS_HOME_MAX_DEVICES ||
		    cs_home_unhex(key + 4, cfg->map[cfg->nmap].gid, CS_GID_LEN) != 0) {
			ok = 0;
		} else {
			cfg->map[cfg->nmap].no = strtol(val, &end, 10);
			ok = *end == '\0' && cfg->map[cfg->nmap].no > 0;
			cfg->nmap += ok;
		}
	}
	if (!ok && !c->bad) {
		c->bad = 1;
		cs_say(c->msg, c->cap, "[relay] %s: bad value", key);
	}
	return ok;
}

int
cs_relay_cfg_load(const char *home_dir, struct cs_relay_cfg *cfg, char *msg, size_t cap)
{
	struct cfg_ctx c = {cfg, msg, cap, 0};
	char path[CS_HOME_PATH_MAX];
	int line;

	memset(cfg, 0, sizeof(*cfg));
	cfg->after_ms = CS_RELAY_AFTER_DEFAULT_MS;
	cfg->lifetime_ms = CS_RELAY_LIFETIME_DEFAULT_MS;
	cfg->interval_ms = CS_RELAY_INTERVAL_DEFAULT_MS;
	if (snprintf(path, sizeof(path), "%s/cabsync.ini", home_dir) >= (int)sizeof(path))
		return CS_RELAY_ECONFIG;
	line = ini_parse(path, cfg_cb, &c);
	if (line != 0) {
		if (!c.bad)
			cs_say(msg, cap, "%s: cannot read the configuration (line %d)", path, line);
		return CS_RELAY_ECONFIG;
	}
	if (cfg->backend == CS_RELAY_FOLDER && cfg->dir[0] != '/') {
		cs_say(msg, cap, "[relay] backend = folder needs dir = an absolute path");
		return CS_RELAY_ECONFIG;
	}
	if (cfg->backend == CS_RELAY_SUPABASE &&
	    (cfg->url[0] == '\0' || cfg->key[0] == '\0' || cfg->cabinet_no <= 0)) {
		cs_say(msg, cap, "[relay] backend = supabase needs url, key and cabinet");
		return CS_RELAY_ECONFIG;
	}
	return 0;
}

/* ------------------------------------------------------------- payload */

void
cs_relay_payload_free(struct cs_relay_payload *p)
{
	uint32_t i;

	if (p == NULL)
		return;
	if (p->cs != NULL)
		for (i = 0; i < p->n; i++)
			cs_changeset_free(&p->cs[i]);
	cs_free(p->cs);
	cs_free(p->rec);
	memset(p, 0, sizeof(*p));
}

int
cs_relay_payload_decode(const uint8_t *buf, size_t len, struct cs_relay_payload *out)
{
	struct cs_records_item *items = NULL;
	struct cs_msg m;
	size_t off, nitems;
	uint32_t i, n, mlen;
	int rc = CS_RELAY_EPAYLOAD;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || len < CS_RELAY_PAYLOAD_HDR ||
	    memcmp(buf, CS_RELAY_PAYLOAD_MAGIC, 4) != 0 || buf[4] < 1 ||
	    buf[4] > CS_RELAY_PAYLOAD_VERSION)
		return CS_RELAY_EPAYLOAD;
	out->version = buf[4];
	out->kind = buf[5];
	if (out->kind != CS_RELAY_KIND_MAIN && out->kind != CS_RELAY_KIND_PATIENT)
		return CS_RELAY_EPAYLOAD;
	memcpy(out->patient, buf + 6, CS_GID_LEN);
	out->after = get_u64(buf + 6 + CS_GID_LEN);
	out->upto = get_u64(buf + 14 + CS_GID_LEN);
	n = get_u32(buf + 22 + CS_GID_LEN);
	if (n > CS_RELAY_PAYLOAD_MAXN || out->upto < out->after ||
	    (out->kind == CS_RELAY_KIND_MAIN && !sodium_is_zero(out->patient, CS_GID_LEN)))
		goto out;
	off = CS_RELAY_PAYLOAD_HDR;
	/* each message takes at least its 4-byte length: bound n by the input */
	if (n > (len - off) / 4)
		goto out;
	if (n > 0 && (out->cs = cs_calloc(n, sizeof(*out->cs))) == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (len - off < 4)
			goto out;
		mlen = get_u32(buf + off);
		off += 4;
		if (mlen > len - off)
			goto out;
		if (out->version >= 2 && cs_records_is(buf + off, mlen)) {
			/* share records: only before the first CHANGES message */
			if (out->n > 0)
				goto out;
			if (out->rec == NULL &&
			    ((out->rec = cs_calloc(n, sizeof(*out->rec))) == NULL ||
			        (items = cs_calloc(CS_RECORDS_MAX, sizeof(*items))) == NULL)) {
				rc = CS_ENOMEM;
				goto out;
			}
			if (cs_records_decode(buf + off, mlen, items, CS_RECORDS_MAX, &nitems) != 0)
				goto out;
			out->rec[out->nrec].p = buf + off;
			out->rec[out->nrec++].len = mlen;
			off += mlen;
			continue;
		}
		memset(&m, 0, sizeof(m));
		rc = cs_msg_decode(buf + off, mlen, &m);
		if (rc != 0)
			goto out;
		if (m.type != CS_MSG_CHANGES ||
		    (out->kind == CS_RELAY_KIND_MAIN) !=
		        (m.u.changes.stream.kind == CS_STREAM_MAIN) ||
		    m.u.changes.cs.db_version > out->upto) {
			cs_msg_free(&m);
			rc = CS_RELAY_EPAYLOAD;
			goto out;
		}
		out->cs[out->n++] = m.u.changes.cs; /* moved: the message no longer owns it */
		off += mlen;
		rc = CS_RELAY_EPAYLOAD; /* what a later refusal returns */
	}
	rc = off == len ? 0 : CS_RELAY_EPAYLOAD;
out:
	cs_free(items);
	if (rc != 0)
		cs_relay_payload_free(out);
	return rc;
}

/* ---------------------------------------------------------- seen set */

/* (Re)read s->path: the file is the truth, other processes add to it. */
static int
seen_read(struct cs_relay_seen *s)
{
	char line[128], hex[64];
	unsigned long long exp;
	FILE *f;
	int rc = 0;

	s->n = 0;
	f = fopen(s->path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 : CS_EIO;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%63s %llu", hex, &exp) != 2) {
			rc = CS_ECORRUPT;
			break;
		}
		if (cs_grow(&s->v, &s->cap, s->n + 1, sizeof(*s->v)) < 0) {
			rc = CS_ENOMEM;
			break;
		}
		if (cs_home_unhex(hex, s->v[s->n].id, CS_BUNDLE_ID_LEN) != 0) {
			rc = CS_ECORRUPT;
			break;
		}
		s->v[s->n++].expires_ms = exp;
	}
	fclose(f);
	return rc;
}

int
cs_relay_seen_load(struct cs_relay_seen *s, const char *home_dir)
{
	memset(s, 0, sizeof(*s));
	if (snprintf(s->path, sizeof(s->path), "%s/relay-seen", home_dir) >= (int)sizeof(s->path))
		return CS_ERANGE;
	return seen_read(s);
}

/* Serialise importers of one home (the agent, `cabsync import`). -1 if none. */
static int
seen_lock(const struct cs_relay_seen *s)
{
	char path[CS_HOME_PATH_MAX + 8];
	int fd;

	if (snprintf(path, sizeof(path), "%s.lock", s->path) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
cs_relay_seen_has(const struct cs_relay_seen *s, const uint8_t *id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (memcmp(s->v[i].id, id, CS_BUNDLE_ID_LEN) == 0)
			return 1;
	return 0;
}

int
cs_relay_seen_add(struct cs_relay_seen *s, const uint8_t *id, uint64_t expires_ms, uint64_t now_ms)
{
	char *txt = NULL, hex[33];
	size_t i, j, len = 0;
	int rc;

	if (cs_grow(&s->v, &s->cap, s->n + 1, sizeof(*s->v)) < 0)
		return CS_ENOMEM;
	memcpy(s->v[s->n].id, id, CS_BUNDLE_ID_LEN);
	s->v[s->n++].expires_ms = expires_ms;
	/* forget what the expiry check refuses anyway */
	for (i = j = 0; i < s->n; i++)
		if (s->v[i].expires_ms + CS_BUNDLE_SKEW_DEFAULT_MS >= now_ms)
			s->v[j++] = s->v[i];
	s->n = j;
	txt = cs_malloc(s->n * 56 + 1);
	if (txt == NULL)
		return CS_ENOMEM;
	for (i = 0; i < s->n; i++) {
		cs_relay_idhex(s->v[i].id, hex);
		len += (size_t)snprintf(txt + len, 56, "%s %llu\n", hex,
		    (unsigned long long)s->v[i].expires_ms);
	}
	rc = cs_relay_write_file(s->path, (uint8_t *)txt, len, 0600);
	cs_free(txt);
	return rc;
}

void
cs_relay_seen_free(struct cs_relay_seen *s)
{
	if (s == NULL)
		return;
	cs_free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------- outbox */

int
cs_relay_out_load(struct cs_relay_out *o, const char *home_dir)
{
	char line[256], dev[64], id[64];
	unsigned long long a, b, c;
	long long rs;
	int k;
	struct cs_relay_outb ob;
	FILE *f;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	if (snprintf(o->path, sizeof(o->path), "%s/relay-out", home_dir) >= (int)sizeof(o->path))
		return CS_ERANGE;
	f = fopen(o->path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 : CS_EIO;
	while (fgets(line, sizeof(line), f) != NULL) {
		memset(&ob, 0, sizeof(ob));
		rs = 0;
		if (line[0] == 'a' && (k = sscanf(line, "a %63s %llu %lld", dev, &a, &rs)) >= 2 &&
		    rs >= 0 && cs_home_unhex(dev, ob.dev, CS_DEVID_LEN) == 0) {
			if (cs_relay_out_set_acked(o, ob.dev, a, 1) != 0 ||
			    (k == 3 && cs_relay_out_set_recs(o, ob.dev, rs) != 0))
				rc = CS_ECORRUPT;
		} else if (line[0] == 'b' &&
		    sscanf(line, "b %63s %63s %llu %llu %llu", dev, id, &a, &b, &c) == 5 &&
		    cs_home_unhex(dev, ob.dev, CS_DEVID_LEN) == 0 &&
		    cs_home_unhex(id, ob.id, CS_BUNDLE_ID_LEN) == 0) {
			ob.after = a;
			ob.upto = b;
			ob.expires_ms = c;
			if (cs_relay_out_add(o, &ob) != 0)
				rc = CS_ECORRUPT;
		} else {
			rc = CS_ECORRUPT;
		}
		if (rc != 0)
			break;
	}
	fclose(f);
	return rc;
}

int
cs_relay_out_save(const struct cs_relay_out *o)
{
	char *txt, dev[33], id[33];
	size_t i, len = 0, cap = (o->nacked + o->nb) * 160 + 1;
	int rc;

	txt = cs_malloc(cap);
	if (txt == NULL)
		return CS_ENOMEM;
	for (i = 0; i < o->nacked; i++) {
		cs_home_hex(o->acked[i].dev, CS_DEVID_LEN, dev);
		len += (size_t)snprintf(txt + len, cap - len, "a %s %llu %lld\n", dev,
		    (unsigned long long)o->acked[i].acked, (long long)o->acked[i].recs);
	}
	for (i = 0; i < o->nb; i++) {
		cs_home_hex(o->b[i].dev, CS_DEVID_LEN, dev);
		cs_relay_idhex(o->b[i].id, id);
		len += (size_t)snprintf(txt + len, cap - len, "b %s %s %llu %llu %llu\n", dev, id,
		    (unsigned long long)o->b[i].after, (unsigned long long)o->b[i].upto,
		    (unsigned long long)o->b[i].expires_ms);
	}
	rc = cs_relay_write_file(o->path, (uint8_t *)txt, len, 0600);
	cs_free(txt);
	return rc;
}

uint64_t
cs_relay_out_acked(const struct cs_relay_out *o, const uint8_t *dev)
{
	size_t i;

	for (i = 0; i < o->nacked; i++)
		if (memcmp(o->acked[i].dev, dev, CS_DEVID_LEN) == 0)
			return o->acked[i].acked;
	return 0;
}

int
cs_relay_out_set_acked(struct cs_relay_out *o, const uint8_t *dev, uint64_t v, int force)
{
	size_t i;

	for (i = 0; i < o->nacked; i++) {
		if (memcmp(o->acked[i].dev, dev, CS_DEVID_LEN) == 0) {
			if (force || v > o->acked[i].acked)
				o->acked[i].acked = v;
			return 0;
		}
	}
	if (o->nacked >= CS_HOME_MAX_DEVICES)
		return CS_ERANGE;
	memset(&o->acked[o->nacked], 0, sizeof(o->acked[0]));
	memcpy(o->acked[o->nacked].dev, dev, CS_DEVID_LEN);
	o->acked[o->nacked++].acked = v;
	return 0;
}

int64_t
cs_relay_out_recs(const struct cs_relay_out *o, const uint8_t *dev)
{
	size_t i;

	for (i = 0; i < o->nacked; i++)
		if (memcmp(o->acked[i].dev, dev, CS_DEVID_LEN) == 0)
			return o->acked[i].recs;
	return 0;
}

int
cs_relay_out_set_recs(struct cs_relay_out *o, const uint8_t *dev, int64_t seq)
{
	size_t i;

	for (i = 0; i < o->nacked; i++) {
		if (memcmp(o->acked[i].dev, dev, CS_DEVID_LEN) == 0) {
			o->acked[i].recs = seq;
			return 0;
		}
	}
	if (o->nacked >= CS_HOME_MAX_DEVICES)
		return CS_ERANGE;
	memset(&o->acked[o->nacked], 0, sizeof(o->acked[0]));
	memcpy(o->acked[o->nacked].dev, dev, CS_DEVID_LEN);
	o->acked[o->nacked++].recs = seq;
	return 0;
}

uint64_t
cs_relay_out_covered(const struct cs_relay_out *o, const uint8_t *dev)
{
	uint64_t v = cs_relay_out_acked(o, dev);
	size_t i;

	for (i = 0; i < o->nb; i++)
		if (memcmp(o->b[i].dev, dev, CS_DEVID_LEN) == 0 && o->b[i].upto > v)
			v = o->b[i].upto;
	return v;
}

int
cs_relay_out_add(struct cs_relay_out *o, const struct cs_relay_outb *b)
{
	if (o->nb >= CS_RELAY_OUT_MAX)
		return CS_ERANGE;
	o->b[o->nb++] = *b;
	return 0;
}

void
cs_relay_out_del(struct cs_relay_out *o, size_t i)
{
	if (i >= o->nb)
		return;
	memmove(&o->b[i], &o->b[i + 1], (o->nb - i - 1) * sizeof(o->b[0]));
	o->nb--;
}

/* ------------------------------------------------------------- seal */

void
cs_relay_sealed_free(struct cs_relay_sealed *s)
{
	if (s == NULL)
		return;
	cs_free(s->buf);
	cs_free(s->pats);
	memset(s, 0, sizeof(*s));
}

/* Copy the rows of patient pat of in into out (same dictionaries). */
static int
filter_patient(const struct cs_changeset *in, const uint8_t *pat, struct cs_changeset *out)
{
	const struct cs_row *r;
	uint32_t i, j;
	int rc;

	for (i = 0; i < in->ntables; i++) {
		rc = cs_changeset_add_tabdef(out, in->tables[i].name, strlen(in->tables[i].name),
		    in->tables[i].ncols);
		if (rc < 0)
			return rc;
		for (j = 0; j < in->tables[i].ncols; j++) {
			rc = cs_changeset_set_col(out, i, j, in->tables[i].cols[j],
			    strlen(in->tables[i].cols[j]));
			if (rc < 0)
				return rc;
		}
	}
	for (i = 0; i < in->ndevs; i++)
		if ((rc = cs_changeset_dev(out, in->devs[i])) < 0)
			return rc;
	for (i = 0; i < in->nrows; i++) {
		r = &in->rows[i];
		if (memcmp(r->patient, pat, CS_GID_LEN) != 0)
			continue;
		if ((rc = cs_changeset_row_begin(out, r)) < 0)
			return rc;
		for (j = 0; j < r->ncells; j++) {
			const struct cs_cell *c = &in->cells[r->cell_first + j];

			if ((rc = cs_changeset_cell(out, c->col, &c->v, c->hlc, c->dot)) < 0)
				return rc;
		}
		for (j = 0; j < r->nvv; j++)
			if ((rc = cs_changeset_vv(out, in->vv[r->vv_first + j])) < 0)
				return rc;
		if ((rc = cs_changeset_row_end(out)) < 0)
			return rc;
	}
	out->db_version = in->db_version;
	return 0;
}

struct pbuf {
	uint8_t *p;
	size_t len, cap;
};

static int
pbuf_add(struct pbuf *b, const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > SIZE_MAX - b->len || cs_grow(&b->p, &b->cap, b->len + n, 1) < 0)
		return CS_ENOMEM;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int
gid_order(const void *a, const void *b)
{
	return memcmp(a, b, CS_GID_LEN);
}

/* What a seal gathers before the payload is put together. */
struct seal_acc {
	struct cs_msg_buf mb;
	struct pbuf chg, recs; /* u32be length || message, each */
	uint32_t nmsg;
	uint8_t (*pats)[CS_GID_LEN]; /* patients of the rows (for the records) */
	size_t npats, pcap;
	uint32_t rows;
};

/* Encode send as one CHANGES message of stream into a->chg. */
static int
seal_add(struct seal_acc *a, const struct cs_stream *stream, const struct cs_changeset *send,
    struct cs_audit_acc *acc, char *msg, size_t cap)
{
	uint8_t len4[4];
	uint32_t i;
	int rc;

	rc = cs_msg_encode_changes(&a->mb, stream, send);
	if (rc != 0) {
		cs_say(msg, cap, "encoding changes failed: %s", cs_msg_strerror(rc));
		return rc;
	}
	if (a->mb.len > UINT32_MAX || a->nmsg >= CS_RELAY_PAYLOAD_MAXN)
		return CS_ERANGE;
	put_u32(len4, (uint32_t)a->mb.len);
	if ((rc = pbuf_add(&a->chg, len4, 4)) != 0 ||
	    (rc = pbuf_add(&a->chg, a->mb.p, a->mb.len)) != 0)
		return rc;
	a->nmsg++;
	a->rows += send->nrows;
	for (i = 0; i < send->nrows; i++) {
		const uint8_t *pat = send->rows[i].patient;

		if (a->npats > 0 && memcmp(a->pats[a->npats - 1], pat, CS_GID_LEN) == 0)
			continue;
		if (cs_grow(&a->pats, &a->pcap, a->npats + 1, CS_GID_LEN) < 0)
			return CS_ENOMEM;
		memcpy(a->pats[a->npats++], pat, CS_GID_LEN);
	}
	if (acc != NULL)
		(void)cs_audit_count(acc, send, CS_AUDIT_SYNC_OUT);
	return 0;
}

static int
seal_rec_cb(void *ctx, const uint8_t *m, size_t len)
{
	struct seal_acc *a = ctx;
	uint8_t len4[4];
	int rc;

	if (len > UINT32_MAX || a->nmsg >= CS_RELAY_PAYLOAD_MAXN)
		return CS_ERANGE;
	put_u32(len4, (uint32_t)len);
	if ((rc = pbuf_add(&a->recs, len4, 4)) != 0 || (rc = pbuf_add(&a->recs, m, len)) != 0)
		return rc;
	a->nmsg++;
	return 0;
}

static int
seal_full(const struct seal_acc *a, uint64_t max_len)
{
	return cs_bundle_sealed_len(a->chg.len, 0) > max_len / 2 ||
	    a->nmsg >= CS_RELAY_PAYLOAD_MAXN - 64;
}

static void
pbuf_wipe(struct pbuf *b)
{
	if (b->p != NULL)
		sodium_memzero(b->p, b->cap); /* patient data in clear */
	cs_free(b->p);
	memset(b, 0, sizeof(*b));
}

int
cs_relay_seal(struct cs_engine *eng, const struct cs_home *h, const struct cs_relay_seal_req *r,
    struct cs_audit_acc *acc, struct cs_relay_sealed *out, char *msg, size_t cap)
{
	struct cs_changeset cs, filt;
	struct cs_stream stream, main_stream;
	struct cs_bundle_seal_params sp;
	struct cs_scope scope, *scp = NULL;
	struct seal_acc a;
	struct pbuf pb = {NULL, 0, 0};
	uint8_t hdr[CS_RELAY_PAYLOAD_HDR];
	uint64_t after = r->patient != NULL ? 0 : r->after, max_len, claim_pos = UINT64_MAX;
	int more, rc, capped = 0, full = 0;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	cs_changeset_init(&cs);
	cs_changeset_init(&filt);
	cs_msg_buf_init(&a.mb, 0);
	memset(&stream, 0, sizeof(stream));
	memset(&main_stream, 0, sizeof(main_stream));
	if (r->patient != NULL) {
		stream.kind = CS_STREAM_PATIENT;
		memcpy(stream.patient, r->patient, CS_GID_LEN);
	}
	max_len = r->max_len != 0 ? r->max_len : CS_RELAY_MAX_BUNDLE;
	if (r->sh != NULL) {
		/* as a live session: new patients claimed first, then only what the
		 * recipient's practitioner may see (agent/share_sync.h) */
		if ((rc = cs_shsync_claim(r->sh, eng, &claim_pos)) < 0) {
			cs_say(msg, cap, "claiming new patients failed: %s", cs_engine_errmsg(eng));
			goto out;
		}
		scope.practitioner = r->to->practitioner;
		scope.patient = r->patient;
		scp = &scope;
	}
	/* a main stream from 0 holds every patient the recipient may see: a
	 * pending backfill would only repeat it */
	while (r->sh != NULL && r->patient == NULL && r->after == 0) {
		uint8_t pat[CS_GID_LEN];
		uint64_t pa;

		rc = cs_share_todo_next(cs_engine_handle(eng), r->to->id, pat, &pa);
		if (rc == 0)
			break;
		if (rc > 0)
			rc = cs_share_todo_set(cs_engine_handle(eng), r->to->id, pat, pa, 0);
		if (rc < 0) {
			cs_say(msg, cap, "reading the pending shares failed: %s",
			    cs_share_strerror(rc));
			goto out;
		}
	}
	/* patients newly shared with the recipient's practitioner, from the start */
	while (r->sh != NULL && r->patient == NULL && !full) {
		cs_changeset_reset(&cs);
		more =
		    cs_shsync_backfill(r->sh, eng, r->to->id, r->to->practitioner, r->after, &cs);
		if (more < 0) {
			rc = more;
			cs_say(msg, cap, "extracting a newly shared patient failed: %s",
			    cs_engine_errmsg(eng));
			goto out;
		}
		if (more == 0)
			break;
		if ((rc = seal_add(&a, &main_stream, &cs, acc, msg, cap)) != 0)
			goto out;
		full = seal_full(&a, max_len);
	}
	while (!full) {
		const struct cs_changeset *send = &cs;

		cs_changeset_reset(&cs);
		more = cs_engine_extract(eng, after, r->to->id, scp, BATCH_ROWS, &cs);
		if (more < 0) {
			rc = more;
			cs_say(msg, cap, "extracting changes failed: %s", cs_engine_errmsg(eng));
			goto out;
		}
		/* not past the claimed rows: a patient created since waits for its claim */
		if (r->patient == NULL && cs.db_version > claim_pos) {
			cs.db_version = claim_pos > after ? claim_pos : after;
			capped = 1;
		}
		if (r->patient != NULL && scp == NULL) {
			cs_changeset_free(&filt);
			cs_changeset_init(&filt);
			if ((rc = filter_patient(&cs, r->patient, &filt)) != 0)
				goto out;
			send = &filt;
		}
		if (send->nrows > 0 && (rc = seal_add(&a, &stream, send, acc, msg, cap)) != 0)
			goto out;
		if (cs.db_version > after)
			after = cs.db_version;
		/* the rest goes into the next bundle */
		if (!more || capped || seal_full(&a, max_len))
			break;
	}
	out->upto = r->patient != NULL ? after : (after > r->after ? after : r->after);
	out->rows = a.rows;
	if (a.rows == 0 && (r->sh == NULL || r->patient != NULL)) {
		rc = 0;
		goto out;
	}
	if (a.npats > 1) {
		size_t i, j;

		qsort(a.pats, a.npats, CS_GID_LEN, gid_order);
		for (i = j = 1; i < a.npats; i++)
			if (memcmp(a.pats[i], a.pats[j - 1], CS_GID_LEN) != 0)
				memmove(a.pats[j++], a.pats[i], CS_GID_LEN);
		a.npats = j;
	}
	if (r->sh != NULL) {
		rc = cs_shsync_records_for(r->sh, eng, r->to->practitioner, a.pats, a.npats,
		    seal_rec_cb, &a, &out->rec_last);
		if (rc < 0) {
			cs_say(msg, cap, "reading the share records failed: %s",
			    rc == CS_ERANGE ? "too many" : cs_engine_errmsg(eng));
			goto out;
		}
		/* no row: a bundle only when a record is new for it (a revoke...) */
		if (a.rows == 0 && out->rec_last <= r->rec_after) {
			rc = 0;
			goto out;
		}
	}
	memcpy(hdr, CS_RELAY_PAYLOAD_MAGIC, 4);
	hdr[4] = CS_RELAY_PAYLOAD_VERSION;
	hdr[5] = r->patient != NULL ? CS_RELAY_KIND_PATIENT : CS_RELAY_KIND_MAIN;
	memset(hdr + 6, 0, CS_GID_LEN);
	if (r->patient != NULL)
		memcpy(hdr + 6, r->patient, CS_GID_LEN);
	put_u64(hdr + 6 + CS_GID_LEN, r->patient != NULL ? 0 : r->after);
	put_u64(hdr + 14 + CS_GID_LEN, out->upto);
	put_u32(hdr + 22 + CS_GID_LEN, a.nmsg);
	/* records first: the recipient stores them before the rows they allow */
	if ((rc = pbuf_add(&pb, hdr, sizeof(hdr))) != 0 ||
	    (a.recs.len > 0 && (rc = pbuf_add(&pb, a.recs.p, a.recs.len)) != 0) ||
	    (rc = pbuf_add(&pb, a.chg.p, a.chg.len)) != 0)
		goto out;
	memset(&sp, 0, sizeof(sp));
	sp.cabinet_id = h->cabinet_id;
	sp.cabinet_key = h->sec->cabinet_key;
	sp.epoch = h->epoch;
	sp.sender_id = h->device_id;
	sp.recipient_id = r->to->id;
	sp.recipient_pk = r->to->dh_pk;
	sp.created_ms = r->now_ms;
	sp.expires_ms = r->now_ms + r->lifetime_ms;
	randombytes_buf(out->id, sizeof(out->id));
	sp.bundle_id = out->id;
	rc = cs_bundle_seal(&sp, h->sec->sign_sk, pb.p, pb.len, &out->buf, &out->len);
	if (rc != 0) {
		cs_say(msg, cap, "sealing the bundle failed: %s", cs_bundle_strerror(rc));
		goto out;
	}
	out->expires_ms = sp.expires_ms;
	out->pats = a.pats; /* moved */
	out->npats = a.npats;
	a.pats = NULL;
out:
	pbuf_wipe(&pb);
	pbuf_wipe(&a.chg);
	pbuf_wipe(&a.recs);
	cs_free(a.pats);
	if (a.mb.p != NULL)
		sodium_memzero(a.mb.p, a.mb.cap);
	cs_msg_buf_free(&a.mb);
	cs_changeset_free(&cs);
	cs_changeset_free(&filt);
	if (rc != 0)
		cs_relay_sealed_free(out);
	return rc;
}

/* ------------------------------------------------------------- import */

struct open_ctx {
	const struct cs_home *h;
	const struct cs_relay_seen *seen;
};

static int
cb_sender(void *ctx, const uint8_t *device_id, uint8_t *pk_out)
{
	struct open_ctx *c = ctx;
	size_t i;

	for (i = 0; i < c->h->nroster; i++) {
		const struct cs_roster_dev *d = &c->h->roster[i];

		if (memcmp(d->id, device_id, CS_DEVID_LEN) != 0)
			continue;
		if (d->revoked)
			return CS_BUNDLE_EREVOKED;
		memcpy(pk_out, d->sign_pk, 32);
		return 0;
	}
	return CS_BUNDLE_ESENDER;
}

static int
cb_epoch(void *ctx, uint32_t epoch, uint8_t *key_out)
{
	struct open_ctx *c = ctx;

	if (epoch < c->h->epoch)
		return CS_BUNDLE_EOLDEPOCH; /* a key rotation since: not accepted */
	if (epoch != c->h->epoch)
		return CS_BUNDLE_EEPOCH;
	memcpy(key_out, c->h->sec->cabinet_key, CS_BUNDLE_KEY_LEN);
	return 0;
}

static int
cb_seen(void *ctx, const uint8_t *bundle_id)
{
	struct open_ctx *c = ctx;

	return c->seen != NULL && cs_relay_seen_has(c->seen, bundle_id);
}

void
cs_relay_audit(struct cs_engine *eng, const struct cs_home *h, enum cs_audit_action act,
    const uint8_t *device, int64_t count, const char *detail)
{
	struct cs_audit_self self;
	struct cs_audit_event ev;

	memset(&self, 0, sizeof(self));
	memcpy(self.device, h->device_id, CS_DEVID_LEN);
	memcpy(self.practitioner, h->practitioner, CS_GID_LEN);
	memcpy(self.sign_pk, h->sign_pk, CS_AUDIT_PK_LEN);
	self.sign_sk = h->sec->sign_sk;
	memset(&ev, 0, sizeof(ev));
	ev.action = act;
	ev.device = device;
	ev.count = count;
	ev.detail = detail;
	(void)cs_audit_append(cs_engine_handle(eng), &self, &ev, NULL, NULL); /* best effort */
}

static int
apply_retry(struct cs_engine *eng, const struct cs_changeset *cs, const uint8_t *from,
    struct cs_apply_result *res)
{
	struct timespec ts = {0, BUSY_RETRY_MS * 1000000L};
	time_t giveup = time(NULL) + BUSY_GIVEUP_S;
	int rc;

	for (;;) {
		rc = cs_engine_apply(eng, cs, from, res);
		if (rc != CS_SQL_EBUSY || time(NULL) >= giveup)
			return rc;
		nanosleep(&ts, NULL);
	}
}

int
cs_relay_import(struct cs_engine *eng, const struct cs_home *h, struct cs_devstate *st,
    struct cs_shsync *sh, struct cs_relay_seen *seen, const uint8_t *buf, size_t len,
    uint64_t now_ms, uint64_t lifetime_ms, const char *source, struct cs_relay_import_res *res,
    char *msg, size_t cap)
{
	struct cs_bundle_open_params op;
	struct open_ctx oc = {h, seen};
	struct cs_relay_payload pl;
	struct cs_apply_result ar;
	struct cs_audit_acc acc;
	struct cs_audit_self self;
	struct cs_devpeer *p;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	char sender[17], idhex[33], detail[160];
	uint32_t i;
	int rc, lockfd = -1;

	memset(res, 0, sizeof(*res));
	memset(&pl, 0, sizeof(pl));
	memset(&acc, 0, sizeof(acc));
	if (seen != NULL) {
		lockfd = seen_lock(seen);
		if ((rc = seen_read(seen)) != 0) {
			cs_say(msg, cap, "cannot read %s: %s", seen->path, cs_strerror(rc));
			rc = rc == CS_ECORRUPT ? CS_EIO : rc;
			goto out;
		}
	}
	memset(&op, 0, sizeof(op));
	op.max_len = CS_RELAY_MAX_BUNDLE;
	op.now_ms = now_ms;
	op.skew_ms = CS_BUNDLE_SKEW_DEFAULT_MS;
	/* a bundle may not claim a longer life than the relay gives it (+ skew) */
	op.max_lifetime_ms = lifetime_ms + CS_BUNDLE_SKEW_DEFAULT_MS;
	op.cabinet_id = h->cabinet_id;
	op.device_id = h->device_id;
	op.box_pk = h->dh_pk;
	op.box_sk = h->sec->dh_sk;
	op.sender_key = cb_sender;
	op.cabinet_key = cb_epoch;
	op.seen = cb_seen;
	op.ctx = &oc;
	rc = cs_bundle_open(buf, len, &op, &res->info, &plain, &plain_len);
	if (rc != 0) {
		cs_say(msg, cap, "%s", cs_bundle_strerror(rc));
		goto out;
	}
	res->opened = 1;
	cs_home_hex(res->info.sender_id, 8, sender);
	cs_relay_idhex(res->info.bundle_id, idhex);
	rc = cs_relay_payload_decode(plain, plain_len, &pl);
	if (rc != 0) {
		cs_say(msg, cap, "bundle %s from %s: %s", idhex, sender,
		    rc == CS_RELAY_EPAYLOAD ? cs_relay_strerror(rc) : cs_msg_strerror(rc));
		if (rc != CS_ENOMEM)
			rc = CS_RELAY_EPAYLOAD;
		goto out;
	}
	/* the share records first, with the checks of a live session (refused
	 * ones are audited there); the rows they allow apply after them */
	for (i = 0; sh != NULL && i < pl.nrec; i++) {
		int changed = 0;

		rc = cs_shsync_records_in(sh, eng, pl.rec[i].p, pl.rec[i].len, res->info.sender_id,
		    &changed);
		if (rc != 0) {
			cs_say(msg, cap, "bundle %s from %s: storing its share records failed: %s",
			    idhex, sender, cs_share_strerror(rc));
			if (rc == CS_RECORDS_EMSG)
				rc = CS_RELAY_EPAYLOAD;
			else if (rc == CS_EBUSY || rc == CS_SHARE_ESQLITE)
				rc = CS_SQL_EBUSY; /* not the bundle's fault: later */
			goto out;
		}
		res->records++;
	}
	cs_audit_acc_init(&acc, res->info.sender_id, NULL);
	for (i = 0; i < pl.n; i++) {
		memset(&ar, 0, sizeof(ar));
		rc = apply_retry(eng, &pl.cs[i], res->info.sender_id, &ar);
		if (rc != 0) {
			cs_say(msg, cap, "bundle %s from %s: batch %u refused: %s", idhex, sender,
			    i, cs_engine_errmsg(eng));
			rc = rc == CS_SQL_EBATCH ? CS_RELAY_EAPPLY : rc;
			goto out;
		}
		res->rows += pl.cs[i].nrows;
		res->applied += ar.applied;
		res->refused += ar.refused;
		res->conflicts += ar.conflicts;
		res->held += ar.held;
		(void)cs_audit_count(&acc, &pl.cs[i], CS_AUDIT_SYNC_IN);
		if (sh != NULL && ar.refused > 0)
			cs_shsync_refused(sh, eng, &pl.cs[i], res->info.sender_id, ar.reasserted);
	}
	/* rows held earlier for want of a record may apply now */
	if (sh != NULL && res->records > 0)
		(void)cs_engine_release_held(eng, NULL);
	if (seen != NULL &&
	    (rc = cs_relay_seen_add(seen, res->info.bundle_id, res->info.expires_ms, now_ms)) !=
	        0) {
		cs_say(msg, cap, "cannot record bundle %s as imported: %s", idhex, cs_strerror(rc));
		goto out;
	}
	if (st != NULL && pl.kind == CS_RELAY_KIND_MAIN) {
		p = cs_devstate_peer(st, res->info.sender_id, 1);
		if (p != NULL && pl.after <= p->cursor && pl.upto > p->cursor) {
			p->cursor = pl.upto;
			res->cursor = pl.upto;
			st->db_version = cs_engine_db_version(eng);
			(void)cs_devstate_save(st); /* at worst: the live session resends */
		}
	}
	memset(&self, 0, sizeof(self));
	memcpy(self.device, h->device_id, CS_DEVID_LEN);
	memcpy(self.practitioner, h->practitioner, CS_GID_LEN);
	memcpy(self.sign_pk, h->sign_pk, CS_AUDIT_PK_LEN);
	self.sign_sk = h->sec->sign_sk;
	(void)cs_audit_acc_flush(&acc, cs_engine_handle(eng), &self, 0);
	snprintf(detail, sizeof(detail), "relay import (%s) of bundle %s from %s: %u rows", source,
	    idhex, sender, res->rows);
	cs_relay_audit(eng, h, CS_AUDIT_RELAY_IMPORT, res->info.sender_id, res->rows, detail);
	rc = 0;
out:
	if (plain != NULL)
		sodium_memzero(plain, plain_len);
	cs_free(plain);
	cs_relay_payload_free(&pl);
	cs_audit_acc_free(&acc);
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
	return rc;
}
