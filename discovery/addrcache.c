#include "addrcache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"

#define LINE_MAX_LEN (CS_ADDRCACHE_ID_MAX + CS_ADDR_HOST_MAX + 40)

void
cs_addrcache_init(struct cs_addrcache *c)
{
	memset(c, 0, sizeof(*c));
}

void
cs_addrcache_free(struct cs_addrcache *c)
{
	if (c == NULL)
		return;
	cs_free(c->v);
	memset(c, 0, sizeof(*c));
}

static int
id_ok(const char *id, size_t len)
{
	size_t i;
	char ch;

	if (len == 0 || len > CS_ADDRCACHE_ID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		ch = id[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		        (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return 0;
	}
	return 1;
}

/* A host the ADDR field can hold and give back unchanged. */
static int
host_ok(const char *h)
{
	size_t i, len = strlen(h);

	if (len == 0 || len > CS_ADDR_HOST_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if ((unsigned char)h[i] <= ' ' || (unsigned char)h[i] >= 0x7f || h[i] == '[' ||
		    h[i] == ']')
			return 0;
	}
	return 1;
}

static struct cs_addrcache_entry *
find(const struct cs_addrcache *c, const char *id)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].id, id) == 0)
			return &c->v[i];
	}
	return NULL;
}

/* WHEN: 1..19 digits, no leading zero but "0" itself, fits int64. */
static int
parse_when(const char *s, size_t len, int64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
		return CS_ECORRUPT;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CS_ECORRUPT;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > INT64_MAX)
		return CS_ECORRUPT;
	*out = (int64_t)v;
	return 0;
}

/* One data line (no '\n') into e. */
static int
parse_line(const char *s, size_t len, struct cs_addrcache_entry *e)
{
	const char *sp1, *sp2;
	char tok[LINE_MAX_LEN + 1];
	size_t alen;

	if (len > LINE_MAX_LEN || memchr(s, '\0', len) != NULL)
		return CS_ECORRUPT;
	sp1 = memchr(s, ' ', len);
	if (sp1 == NULL)
		return CS_ECORRUPT;
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - s));
	if (sp2 == NULL)
		return CS_ECORRUPT;
	if (!id_ok(s, (size_t)(sp1 - s)))
		return CS_ECORRUPT;
	memset(e, 0, sizeof(*e));
	memcpy(e->id, s, (size_t)(sp1 - s));
	alen = (size_t)(sp2 - sp1 - 1);
	memcpy(tok, sp1 + 1, alen);
	tok[alen] = '\0';
	/* Port 0 as default: a missing port is refused by cs_addr_parse. */
	if (cs_addr_parse(tok, 0, &e->addr) < 0 || !host_ok(e->addr.host))
		return CS_ECORRUPT;
	return parse_when(sp2 + 1, len - (size_t)(sp2 + 1 - s), &e->when);
}

int
cs_addrcache_parse(struct cs_addrcache *c, const char *buf, size_t len, size_t *bad_line)
{
	struct cs_addrcache tmp;
	struct cs_addrcache_entry e;
	const char *p = buf, *nl;
	size_t line = 0, hlen = strlen(CS_ADDRCACHE_HEADER), left;
	int rc = 0;

	cs_addrcache_init(&tmp);
	if (bad_line != NULL)
		*bad_line = 0;
	if (c == NULL || (buf == NULL && len > 0))
		return CS_EINVAL;
	if (len > CS_ADDRCACHE_FILE_MAX) {
		line = 1;
		rc = CS_ECORRUPT;
		goto out;
	}
	left = len;
	while (left > 0) {
		line++;
		nl = memchr(p, '\n', left);
		if (nl == NULL) {
			rc = CS_ECORRUPT; /* a cut last line: a torn or foreign file */
			goto out;
		}
		if (line == 1) {
			if ((size_t)(nl - p) != hlen || memcmp(p, CS_ADDRCACHE_HEADER, hlen) != 0) {
				rc = CS_ECORRUPT;
				goto out;
			}
		} else {
			if ((rc = parse_line(p, (size_t)(nl - p), &e)) < 0)
				goto out;
			if (find(&tmp, e.id) != NULL || tmp.n >= CS_ADDRCACHE_MAX) {
				rc = CS_ECORRUPT;
				goto out;
			}
			if ((rc = cs_grow(&tmp.v, &tmp.cap, tmp.n + 1, sizeof(*tmp.v))) < 0)
				goto out;
			tmp.v[tmp.n++] = e;
		}
		left -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	if (line == 0) {
		line = 1; /* empty file: not even the header */
		rc = CS_ECORRUPT;
		goto out;
	}
	cs_addrcache_free(c);
	*c = tmp;
	cs_addrcache_init(&tmp);
out:
	if (rc == CS_ECORRUPT && bad_line != NULL)
		*bad_line = line;
	cs_addrcache_free(&tmp);
	return rc;
}

int
cs_addrcache_load(struct cs_addrcache *c, const char *path, size_t *bad_line)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd = -1, rc = 0;

	if (bad_line != NULL)
		*bad_line = 0;
	if (c == NULL || path == NULL)
		return CS_EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			cs_addrcache_free(c);
			return 0;
		}
		return CS_EIO;
	}
	/* One byte more than allowed: a larger file is seen as such. */
	if ((buf = cs_malloc(CS_ADDRCACHE_FILE_MAX + 1)) == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	for (;;) {
		r = read(fd, buf + len, CS_ADDRCACHE_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = CS_EIO;
			goto out;
		}
		if (r == 0 || (len += (size_t)r) == CS_ADDRCACHE_FILE_MAX + 1)
			break;
	}
	rc = cs_addrcache_parse(c, buf, len, bad_line);
out:
	cs_free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

int
cs_addrcache_format(const struct cs_addrcache *c, char **out, size_t *len)
{
	char *buf;
	size_t cap, off, i;
	int n;

	if (c == NULL || out == NULL || len == NULL)
		return CS_EINVAL;
	cap = strlen(CS_ADDRCACHE_HEADER) + 2 + c->n * (LINE_MAX_LEN + 2);
	if ((buf = cs_malloc(cap)) == NULL)
		return CS_ENOMEM;
	off = (size_t)snprintf(buf, cap, "%s\n", CS_ADDRCACHE_HEADER);
	for (i = 0; i < c->n; i++) {
		const struct cs_addrcache_entry *e = &c->v[i];
		int v6 = strchr(e->addr.host, ':') != NULL; /* IPv6: brackets */

		n = snprintf(buf + off, cap - off, "%s %s%s%s:%u %" PRId64 "\n", e->id,
		    v6 ? "[" : "", e->addr.host, v6 ? "]" : "", (unsigned)e->addr.port, e->when);
		if (n < 0 || (size_t)n >= cap - off) {
			cs_free(buf);
			return CS_ERANGE; /* cannot happen: lines are bounded */
		}
		off += (size_t)n;
	}
	*out = buf;
	*len = off;
	return 0;
}

static int
errno_to_cs(int e)
{
	return e == ENOSPC || e == EDQUOT ? CS_ENOSPC : CS_EIO;
}

int
cs_addrcache_save(const struct cs_addrcache *c, const char *path)
{
	char *buf = NULL, *tmp = NULL, *dir = NULL, *slash;
	size_t len = 0, off = 0, plen;
	ssize_t w;
	int fd = -1, dfd = -1, rc;

	if (c == NULL || path == NULL || *path == '\0')
		return CS_EINVAL;
	if ((rc = cs_addrcache_format(c, &buf, &len)) < 0)
		return rc;
	plen = strlen(path);
	if ((tmp = cs_malloc(plen + 16)) == NULL || (dir = cs_strdup(path)) == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) { /* mode 0600 */
		rc = errno_to_cs(errno);
		tmp[0] = '\0';
		goto out;
	}
	while (off < len) {
		w = write(fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = errno_to_cs(errno);
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = errno_to_cs(errno);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = errno_to_cs(errno);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = errno_to_cs(errno);
		goto out;
	}
	tmp[0] = '\0'; /* renamed: nothing to remove */
	/* The rename itself must survive a power cut: sync the directory. */
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) != 0)
		rc = CS_EIO;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp != NULL && tmp[0] != '\0' && rc < 0)
		unlink(tmp);
	cs_free(tmp);
	cs_free(dir);
	cs_free(buf);
	return rc;
}

int
cs_addrcache_set(struct cs_addrcache *c, const char *id, const struct cs_peer_addr *a, int64_t when)
{
	struct cs_addrcache_entry *e;
	int rc;

	if (c == NULL || id == NULL || a == NULL || !id_ok(id, strlen(id)) || !host_ok(a->host) ||
	    a->port == 0 || when < 0)
		return CS_EINVAL;
	if ((e = find(c, id)) == NULL) {
		if (c->n >= CS_ADDRCACHE_MAX)
			return CS_ERANGE;
		if ((rc = cs_grow(&c->v, &c->cap, c->n + 1, sizeof(*c->v))) < 0)
			return rc;
		e = &c->v[c->n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->id, id, strlen(id) + 1);
	}
	e->addr = *a;
	e->when = when;
	return 0;
}

const struct cs_addrcache_entry *
cs_addrcache_get(const struct cs_addrcache *c, const char *id)
{
	if (c == NULL || id == NULL)
		return NULL;
	return find(c, id);
}

int
cs_addrcache_remove(struct cs_addrcache *c, const char *id)
{
	struct cs_addrcache_entry *e;
	size_t i;

	if (c == NULL || id == NULL || (e = find(c, id)) == NULL)
		return CS_ENOENT;
	i = (size_t)(e - c->v);
	memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
	c->n--;
	return 0;
}

static int
same_addr(const struct cs_peer_addr *a, const struct cs_peer_addr *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Append a to out[0..*n) unless it is there already or out is full. */
static void
add_target(const struct cs_peer_addr *a, struct cs_peer_addr *out, size_t cap, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (same_addr(&out[i], a))
			return;
	}
	if (*n < cap)
		out[(*n)++] = *a;
}

int
cs_addrcache_targets(const struct cs_addrcache *c, const struct cs_peer_addr *statics,
    size_t n_static, struct cs_peer_addr *out, size_t cap, size_t *n)
{
	size_t *idx = NULL, i, j, k, count;

	if (n == NULL || (statics == NULL && n_static > 0) || (out == NULL && cap > 0))
		return CS_EINVAL;
	*n = 0;
	for (i = 0; i < n_static; i++)
		add_target(&statics[i], out, cap, n);
	count = c != NULL ? c->n : 0;
	if (count == 0)
		return 0;
	if ((idx = cs_calloc(count, sizeof(*idx))) == NULL)
		return CS_ENOMEM;
	/* Insertion sort, most recent first, stable: n is at most 1024. */
	for (i = 0; i < count; i++) {
		k = i;
		for (j = i; j > 0 && c->v[idx[j - 1]].when < c->v[k].when; j--)
			idx[j] = idx[j - 1];
		idx[j] = k;
	}
	for (i = 0; i < count; i++)
		add_target(&c->v[idx[i]].addr, out, cap, n);
	cs_free(idx);
	return 0;
}
