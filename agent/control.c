/*
 * agent/control.c: the control socket (see control.h, PROTOCOL.md §8).
 */
#include "agent/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"

static const struct {
	const char *name;
	int verb;
} verbs[] = {
    {"status", CS_CTL_STATUS},
    {"peers", CS_CTL_PEERS},
    {"pause", CS_CTL_PAUSE},
    {"resume", CS_CTL_RESUME},
};

int
cs_control_parse(const uint8_t *buf, size_t len, int *verb)
{
	size_t i, nl = len, mlen = strlen(CS_CTL_MAGIC);

	for (i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			nl = i;
			break;
		}
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return CS_CTL_EBYTE;
		if (i < mlen && buf[i] != (uint8_t)CS_CTL_MAGIC[i])
			return CS_CTL_EMAGIC;
		if (i + 1 >= CS_CTL_MAX_REQ)
			return CS_CTL_ETOOLONG;
	}
	if (nl == len)
		return CS_EAGAIN;
	if (nl + 1 != len)
		return CS_CTL_ETRAILING;
	if (nl < mlen)
		return CS_CTL_EMAGIC;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		size_t vl = strlen(verbs[i].name);

		if (nl - mlen == vl && memcmp(buf + mlen, verbs[i].name, vl) == 0) {
			*verb = verbs[i].verb;
			return 0;
		}
	}
	return CS_CTL_EVERB;
}

const char *
cs_control_strerror(int err)
{
	switch (err) {
	case CS_CTL_ETOOLONG:
		return "request line too long";
	case CS_CTL_EBYTE:
		return "request contains a byte that is not printable ASCII";
	case CS_CTL_EMAGIC:
		return "request does not start with cabsync-control/1";
	case CS_CTL_EVERB:
		return "unknown verb";
	case CS_CTL_ETRAILING:
		return "bytes after the request line";
	default:
		return cs_strerror(err);
	}
}

int
cs_control_path(const char *home_dir, int mkdir_it, char *out, size_t cap)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (xdg != NULL && xdg[0] != '\0') {
		n = snprintf(out, cap, "%s/cabsync", xdg);
		if (n < 0 || (size_t)n >= cap)
			return CS_ERANGE;
		if (mkdir_it && mkdir(out, 0700) != 0 && errno != EEXIST)
			return CS_EIO;
		n = snprintf(out, cap, "%s/cabsync/control.sock", xdg);
	} else {
		if (home_dir == NULL)
			return CS_ENOENT;
		n = snprintf(out, cap, "%s/control.sock", home_dir);
	}
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return CS_ERANGE;
	return 0;
}

struct client {
	uv_pipe_t pipe;
	struct cs_control *c;
	uint8_t req[CS_CTL_MAX_REQ];
	size_t len;
	int answered;
	uv_write_t wr;
	char *resp;
};

static void
client_closed(uv_handle_t *h)
{
	struct client *cl = h->data;

	cs_free(cl->resp);
	cs_free(cl);
}

static void
client_written(uv_write_t *w, int status)
{
	struct client *cl = w->data;

	(void)status;
	uv_close((uv_handle_t *)&cl->pipe, client_closed);
}

static void
client_answer(struct client *cl, const char *json, size_t len)
{
	uv_buf_t b;

	cl->answered = 1;
	uv_read_stop((uv_stream_t *)&cl->pipe);
	cl->resp = cs_malloc(len + 1);
	if (cl->resp == NULL) {
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
		return;
	}
	memcpy(cl->resp, json, len);
	cl->resp[len] = '\n';
	b = uv_buf_init(cl->resp, (unsigned)len + 1);
	cl->wr.data = cl;
	if (uv_write(&cl->wr, (uv_stream_t *)&cl->pipe, &b, 1, client_written) != 0)
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
}

static void
client_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct client *cl = h->data;

	(void)sz;
	*buf = uv_buf_init((char *)cl->req + cl->len, (unsigned)(sizeof(cl->req) - cl->len));
}

static void
client_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct client *cl = st->data;
	char *out, err[160];
	int verb, rc, n;

	(void)buf;
	if (cl->answered)
		return;
	if (nread < 0 || (nread == 0 && cl->len == sizeof(cl->req))) {
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
		return;
	}
	cl->len += (size_t)nread;
	rc = cs_control_parse(cl->req, cl->len, &verb);
	if (rc == CS_EAGAIN && cl->len < sizeof(cl->req))
		return;
	if (rc != 0) {
		if (rc == CS_EAGAIN)
			rc = CS_CTL_ETOOLONG;
		n = snprintf(err, sizeof(err), "{\"error\":\"%s\"}", cs_control_strerror(rc));
		client_answer(cl, err, (size_t)n);
		return;
	}
	out = cs_malloc(CS_CTL_MAX_RESP);
	if (out == NULL) {
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
		return;
	}
	n = cl->c->fn(cl->c->ctx, verb, out, CS_CTL_MAX_RESP - 1);
	if (n < 0)
		n = snprintf(out, CS_CTL_MAX_RESP, "{\"error\":\"internal error\"}");
	client_answer(cl, out, (size_t)n);
	cs_free(out);
}

static void
on_conn(uv_stream_t *server, int status)
{
	struct cs_control *c = server->data;
	struct client *cl;

	if (status < 0)
		return;
	cl = cs_calloc(1, sizeof(*cl));
	if (cl == NULL)
		return;
	cl->c = c;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0 ||
	    uv_read_start((uv_stream_t *)&cl->pipe, client_alloc, client_read) != 0)
		uv_close((uv_handle_t *)&cl->pipe, client_closed);
}

/* 1 if an agent answers on path. */
static int
someone_listens(const char *path)
{
	struct sockaddr_un sa;
	int fd, ok;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int
cs_control_start(struct cs_control *c, uv_loop_t *loop, const char *home_dir, cs_control_fn fn,
    void *ctx)
{
	mode_t old;
	int rc;

	memset(c, 0, sizeof(*c));
	c->fn = fn;
	c->ctx = ctx;
	if (cs_control_path(home_dir, 1, c->path, sizeof(c->path)) != 0) {
		snprintf(c->errmsg, sizeof(c->errmsg), "cannot make the control socket directory");
		return CS_EIO;
	}
	if (someone_listens(c->path)) {
		snprintf(c->errmsg, sizeof(c->errmsg), "%s: another agent is answering there",
		    c->path);
		return CS_EEXIST;
	}
	unlink(c->path);
	uv_pipe_init(loop, &c->pipe, 0);
	c->pipe.data = c;
	c->on = 1;
	old = umask(0077);
	rc = uv_pipe_bind(&c->pipe, c->path);
	umask(old);
	if (rc == 0) {
		chmod(c->path, 0600);
		rc = uv_listen((uv_stream_t *)&c->pipe, 8, on_conn);
	}
	if (rc != 0) {
		snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s", c->path, uv_strerror(rc));
		cs_control_stop(c);
		return CS_EIO;
	}
	return 0;
}

void
cs_control_stop(struct cs_control *c)
{
	if (!c->on)
		return;
	c->on = 0;
	uv_close((uv_handle_t *)&c->pipe, NULL);
	unlink(c->path);
}

int
cs_control_request(const char *path, const char *verb, char *out, size_t cap)
{
	struct sockaddr_un sa;
	char req[CS_CTL_MAX_REQ];
	size_t len = 0;
	ssize_t r;
	int fd, n;

	if (strlen(path) >= sizeof(sa.sun_path))
		return CS_ERANGE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return CS_EIO;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return CS_ENOENT;
	}
	n = snprintf(req, sizeof(req), CS_CTL_MAGIC "%s\n", verb);
	if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
		close(fd);
		return CS_EIO;
	}
	while (len + 1 < cap && (r = read(fd, out + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	out[len] = '\0';
	if (len == 0 || out[len - 1] != '\n')
		return CS_EIO;
	out[len - 1] = '\0';
	return 0;
}
