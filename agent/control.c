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
    {"subscribe", CS_CTL_SUBSCRIBE},
    {"conflicts", CS_CTL_CONFLICTS},
    {"audit", CS_CTL_AUDIT},
    {"resolve", CS_CTL_RESOLVE},
    {"patients", CS_CTL_PATIENTS},
    {"practitioners", CS_CTL_PRACS},
    {"shares", CS_CTL_SHARES},
    {"share", CS_CTL_SHARE},
    {"perm", CS_CTL_PERM},
    {"revoke", CS_CTL_REVOKE},
    {"transfer", CS_CTL_TRANSFER},
};

/* A decimal number 1..max at a[*i..n), no leading zero; *i moves past it. */
static int
parse_num(const uint8_t *a, size_t n, size_t *i, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (*i >= n || a[*i] < '1' || a[*i] > '9')
		return CS_CTL_EARG;
	for (; *i < n && a[*i] >= '0' && a[*i] <= '9'; (*i)++) {
		if (v > (max - (a[*i] - '0')) / 10)
			return CS_CTL_EARG;
		v = v * 10 + (a[*i] - '0');
	}
	*out = v;
	return 0;
}

/* The end of the field starting at a[i]: the next space or n. */
static size_t
field_end(const uint8_t *a, size_t n, size_t i)
{
	while (i < n && a[i] != ' ')
		i++;
	return i;
}

static int
patient_byte(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
	    b == '_' || b == '.' || b == ':' || b == '-';
}

/*
 * "PATIENT PRAC" then, when with_perm, " read|write|full" and an optional
 * " UNTIL", exactly, in a[0..n) (PROTOCOL.md §8.4).
 */
static int
parse_share(const uint8_t *a, size_t n, int with_perm, struct cs_ctl_req *req)
{
	static const char *const perms[] = {"read", "write", "full"};
	size_t i = 0, e, k;

	e = field_end(a, n, 0);
	if (e == 0 || e > CS_CTL_MAX_PATIENT)
		return CS_CTL_EARG;
	for (k = 0; k < e; k++)
		if (!patient_byte(a[k]))
			return CS_CTL_EARG;
	memcpy(req->patient, a, e);
	req->patient[e] = '\0';
	i = e + 1;
	if (e >= n)
		return CS_CTL_EARG;
	e = field_end(a, n, i);
	if (e - i != CS_CTL_PRAC_HEX)
		return CS_CTL_EARG;
	for (k = i; k < e; k++)
		if (!((a[k] >= '0' && a[k] <= '9') || (a[k] >= 'a' && a[k] <= 'f')))
			return CS_CTL_EARG;
	memcpy(req->prac, a + i, CS_CTL_PRAC_HEX);
	req->prac[CS_CTL_PRAC_HEX] = '\0';
	if (!with_perm)
		return e == n ? 0 : CS_CTL_EARG;
	if (e >= n)
		return CS_CTL_EARG;
	i = e + 1;
	e = field_end(a, n, i);
	for (k = 0; k < 3; k++)
		if (e - i == strlen(perms[k]) && memcmp(a + i, perms[k], e - i) == 0)
			req->perm = (int)k + CS_CTL_READ;
	if (req->perm == 0)
		return CS_CTL_EARG;
	if (e == n)
		return 0;
	i = e + 1;
	if (parse_num(a, n, &i, CS_CTL_MAX_UNTIL, &req->until) != 0 || i != n)
		return CS_CTL_EARG;
	return 0;
}

/* "ID mine|theirs" in a[0..n): exactly, or CS_CTL_EARG. */
static int
parse_resolve(const uint8_t *a, size_t n, struct cs_ctl_req *req)
{
	size_t i = 0;
	int64_t id = 0;

	if (parse_num(a, n, &i, CS_CTL_MAX_ID, &id) != 0)
		return CS_CTL_EARG;
	if (i >= n || a[i] != ' ')
		return CS_CTL_EARG;
	i++;
	if (n - i == 4 && memcmp(a + i, "mine", 4) == 0)
		req->how = CS_CTL_MINE;
	else if (n - i == 6 && memcmp(a + i, "theirs", 6) == 0)
		req->how = CS_CTL_THEIRS;
	else
		return CS_CTL_EARG;
	req->id = id;
	return 0;
}

/* The arguments of verb in a[0..n) (n == 0: none given). */
static int
parse_args(int verb, const uint8_t *a, size_t n, struct cs_ctl_req *req)
{
	size_t i = 0;

	switch (verb) {
	case CS_CTL_RESOLVE:
		return parse_resolve(a, n, req);
	case CS_CTL_PATIENTS:
	case CS_CTL_SHARES:
		if (n == 0)
			return 0;
		if (parse_num(a, n, &i, CS_CTL_MAX_ID, &req->id) != 0 || i != n)
			return CS_CTL_EARG;
		return 0;
	case CS_CTL_SUBSCRIBE:
		if (n == 0)
			return 0;
		if (n != 6 || memcmp(a, "labels", 6) != 0)
			return CS_CTL_EARG;
		req->labels = 1;
		return 0;
	case CS_CTL_SHARE:
	case CS_CTL_PERM:
	case CS_CTL_REVOKE:
	case CS_CTL_TRANSFER:
		return parse_share(a, n, verb == CS_CTL_SHARE || verb == CS_CTL_PERM, req);
	default:
		return n == 0 ? 0 : CS_CTL_EARG;
	}
}

int
cs_control_parse_req(const uint8_t *buf, size_t len, struct cs_ctl_req *req)
{
	size_t i, nl = len, mlen = strlen(CS_CTL_MAGIC), wl, vl;
	const uint8_t *w;
	int rc;

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
	w = buf + mlen;
	wl = nl - mlen;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		vl = strlen(verbs[i].name);
		if (wl < vl || memcmp(w, verbs[i].name, vl) != 0 || (wl > vl && w[vl] != ' '))
			continue;
		memset(req, 0, sizeof(*req));
		/* a verb and its space, then something: "status " has an empty argument */
		if (wl == vl + 1)
			return CS_CTL_EARG;
		rc = wl == vl ? parse_args(verbs[i].verb, w, 0, req)
		              : parse_args(verbs[i].verb, w + vl + 1, wl - vl - 1, req);
		if (rc != 0) {
			memset(req, 0, sizeof(*req));
			return rc;
		}
		req->verb = verbs[i].verb;
		return 0;
	}
	return CS_CTL_EVERB;
}

int
cs_control_parse(const uint8_t *buf, size_t len, int *verb)
{
	struct cs_ctl_req req;
	int rc = cs_control_parse_req(buf, len, &req);

	if (rc == 0)
		*verb = req.verb;
	return rc;
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
	case CS_CTL_EARG:
		return "missing, extra or malformed argument";
	case CS_CTL_EBUSY:
		return "too many subscribers";
	case CS_CTL_EUNSUP:
		return "this agent does not support the verb";
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

enum { CL_READING, CL_ANSWERING, CL_WAITING, CL_SUB };

struct cs_ctl_client {
	uv_pipe_t pipe;
	struct cs_control *c;
	uint8_t req[CS_CTL_MAX_REQ];
	size_t len;
	int mode; /* CL_... */
	int closing;
	int labels;     /* subscribed with "labels": share events may name the patient */
	uint64_t token; /* of the async request it waits for */
	size_t queued;  /* bytes handed to uv_write and not yet completed */
	struct cs_ctl_client *next;
};

/* One line in flight to a client. */
struct wreq {
	uv_write_t w;
	struct cs_ctl_client *cl;
	size_t len;
	int close_after;
	char data[];
};

static void
client_closed(uv_handle_t *h)
{
	cs_free(h->data);
}

static void
client_close(struct cs_ctl_client *cl)
{
	struct cs_control *c = cl->c;
	struct cs_ctl_client **pp;

	if (cl->closing)
		return;
	cl->closing = 1;
	for (pp = &c->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	if (cl->mode == CL_SUB)
		c->nsubs--;
	c->nclients--;
	uv_close((uv_handle_t *)&cl->pipe, client_closed);
}

static void
line_written(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct cs_ctl_client *cl = wr->cl;

	cl->queued -= wr->len;
	if ((status != 0 || wr->close_after) && !cl->closing)
		client_close(cl);
	cs_free(wr);
}

/*
 * Queue json[0..len) and a newline to cl. CS_ENOSPC when the client's
 * queue would pass CS_CTL_MAX_QUEUE (it does not read), CS_ENOMEM, CS_EIO.
 */
static int
send_line(struct cs_ctl_client *cl, const char *json, size_t len, int close_after)
{
	struct wreq *wr;
	uv_buf_t b;

	if (len + 1 > CS_CTL_MAX_QUEUE - cl->queued)
		return CS_ENOSPC;
	wr = cs_malloc(sizeof(*wr) + len + 1);
	if (wr == NULL)
		return CS_ENOMEM;
	wr->cl = cl;
	wr->len = len + 1;
	wr->close_after = close_after;
	memcpy(wr->data, json, len);
	wr->data[len] = '\n';
	b = uv_buf_init(wr->data, (unsigned)(len + 1));
	if (uv_write(&wr->w, (uv_stream_t *)&cl->pipe, &b, 1, line_written) != 0) {
		cs_free(wr);
		return CS_EIO;
	}
	cl->queued += len + 1;
	return 0;
}

/* The one answer of a request; the connection closes once it is out. */
static void
client_answer(struct cs_ctl_client *cl, const char *json, size_t len)
{
	cl->mode = CL_ANSWERING;
	uv_read_stop((uv_stream_t *)&cl->pipe);
	if (send_line(cl, json, len, 1) != 0)
		client_close(cl);
}

static void
client_error(struct cs_ctl_client *cl, int rc)
{
	char err[160];
	int n;

	n = snprintf(err, sizeof(err), "{\"error\":\"%s\"}", cs_control_strerror(rc));
	client_answer(cl, err, (size_t)n);
}

static void
client_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct cs_ctl_client *cl = h->data;

	(void)sz;
	*buf = uv_buf_init((char *)cl->req + cl->len, (unsigned)(sizeof(cl->req) - cl->len));
}

/* The status as an event line: {"event":"status",...} into a new buffer. */
static char *
status_event(struct cs_control *c, size_t *len)
{
	char *out, *ev = NULL;
	int n;

	out = cs_malloc(CS_CTL_MAX_RESP);
	if (out == NULL)
		return NULL;
	n = c->fn(c->ctx, CS_CTL_STATUS, out, CS_CTL_MAX_RESP - 1);
	if (n < 2 || out[0] != '{')
		goto out;
	out[n] = '\0';
	ev = cs_malloc((size_t)n + 32);
	if (ev == NULL)
		goto out;
	*len = (size_t)snprintf(ev, (size_t)n + 32, "{\"event\":\"" CS_CTL_EV_STATUS "\"%s%s",
	    n > 2 ? "," : "", out + 1);
out:
	cs_free(out);
	return ev;
}

static void on_timer(uv_timer_t *t);

static void
subscribe(struct cs_ctl_client *cl, int labels)
{
	struct cs_control *c = cl->c;
	char *ev;
	size_t len = 0;

	if (c->nsubs >= CS_CTL_MAX_SUBS) {
		client_error(cl, CS_CTL_EBUSY);
		return;
	}
	ev = status_event(c, &len);
	if (ev == NULL) {
		client_error(cl, CS_ENOMEM);
		return;
	}
	cl->mode = CL_SUB;
	cl->labels = labels;
	cl->len = 0;
	c->nsubs++;
	if (send_line(cl, ev, len, 0) != 0 ||
	    (c->sticky[0] != '\0' && send_line(cl, c->sticky, strlen(c->sticky), 0) != 0))
		client_close(cl);
	cs_free(ev);
	if (!uv_is_active((uv_handle_t *)&c->timer))
		uv_timer_start(&c->timer, on_timer, CS_CTL_CHECK_MS, CS_CTL_CHECK_MS);
}

static void
dispatch(struct cs_ctl_client *cl, const struct cs_ctl_req *req)
{
	struct cs_control *c = cl->c;
	char *out;
	int n, rc;

	switch (req->verb) {
	case CS_CTL_SUBSCRIBE:
		subscribe(cl, req->labels);
		return;
	case CS_CTL_CONFLICTS:
	case CS_CTL_AUDIT:
	case CS_CTL_RESOLVE:
	case CS_CTL_PATIENTS:
	case CS_CTL_PRACS:
	case CS_CTL_SHARES:
	case CS_CTL_SHARE:
	case CS_CTL_PERM:
	case CS_CTL_REVOKE:
	case CS_CTL_TRANSFER:
		if (c->afn == NULL) {
			client_error(cl, CS_CTL_EUNSUP);
			return;
		}
		/* keep reading: a client that leaves (or talks) meanwhile is closed */
		cl->mode = CL_WAITING;
		cl->len = 0;
		cl->token = ++c->next_token;
		rc = c->afn(c->ctx, req, cl->token);
		if (rc < 0 && cl->mode == CL_WAITING)
			client_error(cl, rc);
		return;
	default:
		break;
	}
	out = cs_malloc(CS_CTL_MAX_RESP);
	if (out == NULL) {
		client_close(cl);
		return;
	}
	n = c->fn(c->ctx, req->verb, out, CS_CTL_MAX_RESP - 1);
	if (n < 0)
		n = snprintf(out, CS_CTL_MAX_RESP, "{\"error\":\"internal error\"}");
	client_answer(cl, out, (size_t)n);
	cs_free(out);
	if (req->verb == CS_CTL_PAUSE || req->verb == CS_CTL_RESUME)
		cs_control_poke(c);
}

static void
client_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct cs_ctl_client *cl = st->data;
	struct cs_ctl_req req;
	int rc;

	(void)buf;
	if (cl->closing || cl->mode == CL_ANSWERING)
		return;
	if (nread == UV_EOF && cl->mode == CL_WAITING) {
		/* half-closed after its request: the answer may still go */
		uv_read_stop(st);
		return;
	}
	if (nread < 0 || (nread == 0 && cl->len == sizeof(cl->req))) {
		client_close(cl);
		return;
	}
	if (cl->mode == CL_SUB || cl->mode == CL_WAITING) {
		/* nothing may follow the request: bytes are refused */
		if (nread > 0)
			client_close(cl);
		return;
	}
	cl->len += (size_t)nread;
	rc = cs_control_parse_req(cl->req, cl->len, &req);
	if (rc == CS_EAGAIN && cl->len < sizeof(cl->req))
		return;
	if (rc != 0) {
		client_error(cl, rc == CS_EAGAIN ? CS_CTL_ETOOLONG : rc);
		return;
	}
	dispatch(cl, &req);
}

static void
on_conn(uv_stream_t *server, int status)
{
	struct cs_control *c = server->data;
	struct cs_ctl_client *cl;

	if (status < 0)
		return;
	cl = cs_calloc(1, sizeof(*cl));
	if (cl == NULL)
		return;
	cl->c = c;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	cl->next = c->clients;
	c->clients = cl;
	c->nclients++;
	/* a client that never finishes its request holds a slot: a bounded number */
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0 || c->nclients > CS_CTL_MAX_CLIENTS ||
	    uv_read_start((uv_stream_t *)&cl->pipe, client_alloc, client_read) != 0)
		client_close(cl);
}

void
cs_control_set_async(struct cs_control *c, cs_control_async_fn afn)
{
	c->afn = afn;
}

int
cs_control_answer(struct cs_control *c, uint64_t token, const char *json, size_t len)
{
	struct cs_ctl_client *cl;

	for (cl = c->clients; cl != NULL; cl = cl->next) {
		if (cl->mode == CL_WAITING && cl->token == token) {
			client_answer(cl, json, len);
			return 0;
		}
	}
	return CS_ENOENT;
}

void
cs_control_publish2(struct cs_control *c, const char *json, size_t len, const char *json_labels,
    size_t len_labels)
{
	struct cs_ctl_client *cl, *next;
	int rc;

	if (!c->on)
		return;
	for (cl = c->clients; cl != NULL; cl = next) {
		next = cl->next;
		if (cl->mode != CL_SUB)
			continue;
		if (cl->labels && json_labels != NULL)
			rc = send_line(cl, json_labels, len_labels, 0);
		else
			rc = send_line(cl, json, len, 0);
		if (rc != 0) {
			/* it does not read (or is gone): it must not hold the agent */
			c->dropped++;
			client_close(cl);
		}
	}
}

void
cs_control_sticky(struct cs_control *c, const char *json, size_t len)
{
	if (json == NULL || len >= sizeof(c->sticky)) {
		c->sticky[0] = '\0';
		return;
	}
	memcpy(c->sticky, json, len);
	c->sticky[len] = '\0';
	cs_control_publish(c, json, len);
}

void
cs_control_publish(struct cs_control *c, const char *json, size_t len)
{
	cs_control_publish2(c, json, len, NULL, 0);
}

static void
on_timer(uv_timer_t *t)
{
	struct cs_control *c = t->data;
	char *ev;
	size_t len = 0;

	if (c->nsubs == 0) {
		uv_timer_stop(t);
		return;
	}
	ev = status_event(c, &len);
	if (ev == NULL)
		return;
	if (c->last == NULL || strcmp(c->last, ev) != 0) {
		cs_control_publish(c, ev, len);
		cs_free(c->last);
		c->last = ev;
		return;
	}
	cs_free(ev);
}

void
cs_control_poke(struct cs_control *c)
{
	if (!c->on || c->nsubs == 0)
		return;
	if (!uv_is_active((uv_handle_t *)&c->timer) ||
	    uv_timer_get_due_in(&c->timer) > CS_CTL_POKE_MS)
		uv_timer_start(&c->timer, on_timer, CS_CTL_POKE_MS, CS_CTL_CHECK_MS);
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
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
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
	static const char bye[] = "{\"event\":\"" CS_CTL_EV_STOPPING "\"}";

	if (!c->on)
		return;
	/* the last line a subscriber reads: the agent goes, not a broken socket */
	cs_control_publish(c, bye, sizeof(bye) - 1);
	c->on = 0;
	while (c->clients != NULL)
		client_close(c->clients);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, NULL);
	uv_close((uv_handle_t *)&c->pipe, NULL);
	unlink(c->path);
	cs_free(c->last);
	c->last = NULL;
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
