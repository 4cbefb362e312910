/*
 * agent/devstate.c: the device state file beside an app database (see
 * devstate.h). Parsed with inih, written with stdio, replaced by rename(2)
 * so that a crash leaves the old file or the new one, never half of one.
 */
#include "agent/devstate.h"
#include "agent/text.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

#define PEER_PREFIX "peer "

void
cs_devstate_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2n hex digits into n bytes. 0 or -1. */
static int
unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		hi = hexval(s[2 * i]);
		lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int
copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

int
cs_devstate_name_ok(const char *name)
{
	size_t n, i;

	if (name == NULL)
		return 0;
	n = strlen(name);
	if (n == 0 || n >= CS_DEVSTATE_NAME_MAX || name[0] == ' ' || name[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || strchr(";#[]=", c) != NULL)
			return 0;
	}
	return 1;
}

int
cs_devstate_init(struct cs_devstate *st, const char *db)
{
	int n;

	memset(st, 0, sizeof(*st));
	n = snprintf(st->path, sizeof(st->path), "%s%s", db, CS_DEVSTATE_SUFFIX);
	if (n < 0 || (size_t)n >= sizeof(st->path))
		return CS_ERANGE;
	return 0;
}

struct cs_devpeer *
cs_devstate_peer(struct cs_devstate *st, const uint8_t id[static CS_DEVID_LEN], int create)
{
	struct cs_devpeer *p;
	size_t i;

	for (i = 0; i < st->npeers; i++)
		if (memcmp(st->peers[i].id, id, CS_DEVID_LEN) == 0)
			return &st->peers[i];
	if (!create || st->npeers == CS_DEVSTATE_MAX_PEERS)
		return NULL;
	p = &st->peers[st->npeers++];
	memset(p, 0, sizeof(*p));
	memcpy(p->id, id, CS_DEVID_LEN);
	return p;
}

const char *
cs_devstate_name_of(const struct cs_devstate *st, const uint8_t id[static CS_DEVID_LEN])
{
	size_t i;

	if (memcmp(st->id, id, CS_DEVID_LEN) == 0)
		return st->name;
	for (i = 0; i < st->npeers; i++)
		if (memcmp(st->peers[i].id, id, CS_DEVID_LEN) == 0 && st->peers[i].name[0] != '\0')
			return st->peers[i].name;
	return NULL;
}

struct parse_ctx {
	struct cs_devstate *st;
	int seen_id, seen_tables;
};

/* inih handler: 1 = ok, 0 = error on this line. Unknown keys are ignored
 * (a newer cabsync may add some); malformed known values are errors. */
static int
on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct parse_ctx *pc = user;
	struct cs_devstate *st = pc->st;
	struct cs_devpeer *p;
	uint8_t id[CS_DEVID_LEN];

	if (strcmp(section, "device") == 0) {
		if (strcmp(key, "name") == 0)
			return copy_str(st->name, sizeof(st->name), value) == 0;
		if (strcmp(key, "id") == 0) {
			pc->seen_id = 1;
			return unhex(value, st->id, CS_DEVID_LEN) == 0;
		}
		if (strcmp(key, "tables") == 0) {
			pc->seen_tables = 1;
			return copy_str(st->tables, sizeof(st->tables), value) == 0;
		}
		if (strcmp(key, "incarnation") == 0) {
			st->has_incarnation = 1;
			return unhex(value, st->incarnation, CS_GID_LEN) == 0;
		}
		if (strcmp(key, "db_version") == 0)
			return cs_parse_u64(value, &st->db_version) == 0;
		return 1;
	}
	if (strncmp(section, PEER_PREFIX, strlen(PEER_PREFIX)) == 0) {
		if (unhex(section + strlen(PEER_PREFIX), id, CS_DEVID_LEN) != 0)
			return 0;
		p = cs_devstate_peer(st, id, 1);
		if (p == NULL)
			return 0;
		if (strcmp(key, "name") == 0)
			return copy_str(p->name, sizeof(p->name), value) == 0;
		if (strcmp(key, "incarnation") == 0) {
			p->has_incarnation = 1;
			return unhex(value, p->incarnation, CS_GID_LEN) == 0;
		}
		if (strcmp(key, "cursor") == 0)
			return cs_parse_u64(value, &p->cursor) == 0;
		return 1;
	}
	return 1;
}

int
cs_devstate_load(struct cs_devstate *st, int *bad_line)
{
	struct parse_ctx pc;
	FILE *f = NULL;
	int rc, line;

	memset(&pc, 0, sizeof(pc));
	pc.st = st;
	if (bad_line != NULL)
		*bad_line = 0;
	f = fopen(st->path, "r");
	if (f == NULL) {
		rc = errno == ENOENT ? CS_ENOENT : CS_EIO;
		goto out;
	}
	line = ini_parse_file(f, on_entry, &pc);
	if (line < 0) {
		rc = CS_EIO;
		goto out;
	}
	if (line > 0 || !pc.seen_id || !pc.seen_tables) {
		if (bad_line != NULL)
			*bad_line = line;
		rc = CS_ECORRUPT;
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	return rc;
}

int
cs_devstate_save(const struct cs_devstate *st)
{
	char tmp[CS_DEVSTATE_PATH_MAX + 8], hex[2 * CS_DEVID_LEN + 1];
	FILE *f = NULL;
	size_t i;
	int fd = -1, rc = CS_EIO, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", st->path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return CS_ERANGE;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	f = fdopen(fd, "w");
	if (f == NULL)
		goto out;
	fd = -1;
	fprintf(f,
	    "; cabsync device state of this database: written by `cabsync db`,\n"
	    "; do not edit. Removing it makes cabsync forget this device.\n"
	    "[device]\nname = %s\n",
	    st->name);
	cs_devstate_hex(st->id, CS_DEVID_LEN, hex);
	fprintf(f, "id = %s\ntables = %s\n", hex, st->tables);
	if (st->has_incarnation) {
		cs_devstate_hex(st->incarnation, CS_GID_LEN, hex);
		fprintf(f, "incarnation = %s\n", hex);
	}
	fprintf(f, "db_version = %llu\n", (unsigned long long)st->db_version);
	for (i = 0; i < st->npeers; i++) {
		const struct cs_devpeer *p = &st->peers[i];
		cs_devstate_hex(p->id, CS_DEVID_LEN, hex);
		fprintf(f, "\n[" PEER_PREFIX "%s]\n", hex);
		if (p->name[0] != '\0')
			fprintf(f, "name = %s\n", p->name);
		if (p->has_incarnation) {
			cs_devstate_hex(p->incarnation, CS_GID_LEN, hex);
			fprintf(f, "incarnation = %s\n", hex);
		}
		fprintf(f, "cursor = %llu\n", (unsigned long long)p->cursor);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto out;
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (rename(tmp, st->path) != 0)
		goto out;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
cs_devstate_remove(const struct cs_devstate *st)
{
	if (unlink(st->path) != 0 && errno != ENOENT)
		return CS_EIO;
	return 0;
}
