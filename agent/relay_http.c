/*
 * agent/relay_http.c: curl multi on the libuv loop, and the Supabase
 * session and calls (see relay_http.h). The socket/timer glue follows
 * curl's docs/examples/multi-uv.c.
 */
#include "agent/relay_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/mono.h"
#include "agent/relay_json.h"
#include "base/err.h"
#include "base/mem.h"

#define MAX_HDRS 8

struct cs_supa_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct cs_supa *s;
};

struct cs_supa_call {
	struct cs_supa *s;
	CURL *easy;
	struct curl_slist *hdrs;
	char method[8];
	char *path;
	char *ctype;
	uint8_t *body;
	size_t len;
	char *extra[MAX_HDRS];
	uint8_t *resp;
	size_t rlen, rcap;
	int tries, refreshed, is_refresh, running;
	int64_t due_ms; /* waiting for a retry until then; 0 not waiting */
	cs_supa_cb cb;
	void *ctx;
	struct cs_supa_call *next;
};

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ answers */

struct err_ctx {
	char code[64], msg[160];
	int status; /* Storage's string statusCode, 0 if none */
};

static int
err_member(void *ctx, size_t elem, const char *key, size_t klen, enum cs_rjson_type t,
    const char *v, size_t vlen)
{
	struct err_ctx *e = ctx;
	char buf[16];

	(void)elem;
	if (t == CS_RJSON_STRING && cs_rjson_key(key, klen, "statusCode")) {
		if (cs_rjson_str(v, vlen, buf, sizeof(buf)) > 0)
			e->status = atoi(buf);
	} else if (t == CS_RJSON_STRING &&
	    (cs_rjson_key(key, klen, "code") || cs_rjson_key(key, klen, "error_code") ||
	        (cs_rjson_key(key, klen, "error") && e->code[0] == '\0'))) {
		(void)cs_rjson_str(v, vlen, e->code, sizeof(e->code));
	} else if (t == CS_RJSON_STRING &&
	    (cs_rjson_key(key, klen, "message") || cs_rjson_key(key, klen, "msg") ||
	        cs_rjson_key(key, klen, "error_description"))) {
		(void)cs_rjson_str(v, vlen, e->msg, sizeof(e->msg));
	}
	return 0;
}

static void
parse_err(const uint8_t *body, size_t len, struct err_ctx *e)
{
	memset(e, 0, sizeof(*e));
	if (cs_rjson_walk((const char *)body, len, err_member, e) != 0)
		memset(e, 0, sizeof(*e));
}

void
cs_supa_describe(int status, const uint8_t *body, size_t len, char *out, size_t cap)
{
	struct err_ctx e;
	size_t i;

	parse_err(body, len, &e);
	snprintf(out, cap, "HTTP %d%s%s%s%s", status, e.code[0] ? " " : "", e.code,
	    e.msg[0] ? ": " : "", e.msg);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?'; /* server text: printable only in the log */
}

struct tok_ctx {
	char access[4096], refresh[1024];
	long expires_in;
	int bad;
};

static int
tok_member(void *ctx, size_t elem, const char *key, size_t klen, enum cs_rjson_type t,
    const char *v, size_t vlen)
{
	struct tok_ctx *k = ctx;
	char num[24];

	(void)elem;
	if (cs_rjson_key(key, klen, "access_token") && t == CS_RJSON_STRING)
		k->bad |= cs_rjson_str(v, vlen, k->access, sizeof(k->access)) <= 0;
	else if (cs_rjson_key(key, klen, "refresh_token") && t == CS_RJSON_STRING)
		k->bad |= cs_rjson_str(v, vlen, k->refresh, sizeof(k->refresh)) <= 0;
	else if (cs_rjson_key(key, klen, "expires_in") && t == CS_RJSON_NUMBER &&
	    vlen < sizeof(num)) {
		memcpy(num, v, vlen);
		num[vlen] = '\0';
		k->expires_in = strtol(num, NULL, 10);
	}
	return 0;
}

/* A token answer: 0 and k filled, or CS_RELAY_EHTTP. */
static int
parse_token(const uint8_t *body, size_t len, struct tok_ctx *k)
{
	memset(k, 0, sizeof(*k));
	if (cs_rjson_walk((const char *)body, len, tok_member, k) != 0 || k->bad ||
	    k->access[0] == '\0' || k->refresh[0] == '\0' || k->expires_in <= 0 ||
	    strpbrk(k->refresh, "\r\n") != NULL || strpbrk(k->access, "\r\n") != NULL)
		return CS_RELAY_EHTTP;
	return 0;
}

/* -------------------------------------------------------- curl <-> uv */

static void check_done(struct cs_supa *s);

static void
on_handle_closed(uv_handle_t *h)
{
	struct cs_supa *s = h->data;

	s->open_handles--;
}

static void
on_sock_closed(uv_handle_t *h)
{
	struct cs_supa_sock *k = h->data;

	cs_free(k);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct cs_supa_sock *k = p->data;
	struct cs_supa *s = k->s;
	int running, flags = 0;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(s->multi, k->fd, flags, &running);
	check_done(s);
}

static int
on_socket(CURL *e, curl_socket_t fd, int action, void *userp, void *socketp)
{
	struct cs_supa *s = userp;
	struct cs_supa_sock *k = socketp;
	int events = 0;

	(void)e;
	switch (action) {
	case CURL_POLL_IN:
	case CURL_POLL_OUT:
	case CURL_POLL_INOUT:
		if (k == NULL) {
			k = cs_calloc(1, sizeof(*k));
			if (k == NULL)
				return -1;
			k->fd = fd;
			k->s = s;
			if (uv_poll_init_socket(s->loop, &k->poll, fd) != 0) {
				cs_free(k);
				return -1;
			}
			k->poll.data = k;
			curl_multi_assign(s->multi, fd, k);
		}
		if (action != CURL_POLL_OUT)
			events |= UV_READABLE;
		if (action != CURL_POLL_IN)
			events |= UV_WRITABLE;
		uv_poll_start(&k->poll, events, on_poll);
		break;
	case CURL_POLL_REMOVE:
		if (k != NULL) {
			uv_poll_stop(&k->poll);
			uv_close((uv_handle_t *)&k->poll, on_sock_closed);
			curl_multi_assign(s->multi, fd, NULL);
		}
		break;
	default:
		break;
	}
	return 0;
}

static void
on_curl_timeout(uv_timer_t *t)
{
	struct cs_supa *s = t->data;
	int running;

	curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(s);
}

static int
on_timer_set(CURLM *m, long timeout_ms, void *userp)
{
	struct cs_supa *s = userp;

	(void)m;
	if (s->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&s->timer);
	else
		uv_timer_start(&s->timer, on_curl_timeout,
		    timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t
on_data(char *p, size_t size, size_t n, void *ud)
{
	struct cs_supa_call *c = ud;
	size_t len = size * n;

	if (len > CS_SUPA_MAX_ANSWER - c->rlen)
		return 0; /* larger than any bundle: abort the transfer */
	if (cs_grow(&c->resp, &c->rcap, c->rlen + len + 1, 1) < 0)
		return 0;
	memcpy(c->resp + c->rlen, p, len);
	c->rlen += len;
	return len;
}

/* ------------------------------------------------------------ calls */

static void
call_free(struct cs_supa_call *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->hdrs);
	cs_free(c->path);
	cs_free(c->ctype);
	cs_free(c->body);
	for (i = 0; i < MAX_HDRS; i++)
		cs_free(c->extra[i]);
	cs_free(c->resp);
	cs_free(c);
}

static void
call_unlink(struct cs_supa *s, struct cs_supa_call *c)
{
	struct cs_supa_call **pp;

	for (pp = &s->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

static int
need_token(const struct cs_supa *s)
{
	return s->access_exp_ms == 0 || wall_ms() > s->access_exp_ms - 60000;
}

static void start_refresh(struct cs_supa *s);

/* Build and add the easy handle of c (a token is there unless c refreshes). */
static int
call_launch(struct cs_supa_call *c)
{
	struct cs_supa *s = c->s;
	struct curl_slist *l;
	char url[CS_RELAY_URL_MAX + 2048], line[4200];
	size_t i;

	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->hdrs);
	c->hdrs = NULL;
	c->rlen = 0;
	c->easy = curl_easy_init();
	if (c->easy == NULL)
		return CS_ENOMEM;
	snprintf(url, sizeof(url), "%s%s", s->cfg->url, c->path);
	snprintf(line, sizeof(line), "apikey: %s", s->cfg->key);
	l = curl_slist_append(NULL, line);
	if (!c->is_refresh) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", s->tok->access);
		l = l != NULL ? curl_slist_append(l, line) : NULL;
	}
	if (c->ctype != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s", c->ctype);
		l = l != NULL ? curl_slist_append(l, line) : NULL;
	}
	for (i = 0; i < MAX_HDRS && c->extra[i] != NULL; i++)
		l = l != NULL ? curl_slist_append(l, c->extra[i]) : NULL;
	sodium_memzero(line, sizeof(line));
	if (l == NULL)
		return CS_ENOMEM;
	c->hdrs = l;
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "cabsync/" CS_VERSION);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)CS_SUPA_TIMEOUT_MS);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	if (strcmp(c->method, "GET") != 0) {
		/* the size is always declared: Storage enforces limits only then */
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->len);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS,
		    c->body != NULL ? (char *)c->body : "");
		if (strcmp(c->method, "POST") != 0)
			curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, c->method);
	}
	c->running = 1;
	s->requests++;
	if (curl_multi_add_handle(s->multi, c->easy) != CURLM_OK) {
		c->running = 0;
		return CS_EIO;
	}
	return 0;
}

static void on_retry_timer(uv_timer_t *t);

static void
arm_retry(struct cs_supa *s)
{
	struct cs_supa_call *c;
	int64_t first = 0, now = cs_mono_ms();

	for (c = s->calls; c != NULL; c = c->next)
		if (c->due_ms != 0 && (first == 0 || c->due_ms < first))
			first = c->due_ms;
	if (first != 0 && !s->closing)
		uv_timer_start(&s->retry, on_retry_timer, first > now ? (uint64_t)(first - now) : 1,
		    0);
}

static void
finish(struct cs_supa_call *c, int status, int err)
{
	struct cs_supa *s = c->s;

	call_unlink(s, c);
	if (c->cb != NULL)
		c->cb(c->ctx, status, c->resp, c->rlen, err);
	call_free(c);
}

/* Start c now, or park it until a token is there. */
static void
go(struct cs_supa_call *c)
{
	struct cs_supa *s = c->s;
	int rc;

	if (!c->is_refresh && need_token(s)) {
		if (s->auth_failed) {
			finish(c, 0, CS_RELAY_EAUTH);
			return;
		}
		start_refresh(s);
		return; /* released when the refresh ends (due_ms stays 0, not running) */
	}
	if ((rc = call_launch(c)) != 0)
		finish(c, 0, rc);
}

static void
on_retry_timer(uv_timer_t *t)
{
	struct cs_supa *s = t->data;
	struct cs_supa_call *c, *next;
	int64_t now = cs_mono_ms();

	for (c = s->calls; c != NULL; c = next) {
		next = c->next;
		if (c->due_ms != 0 && c->due_ms <= now) {
			c->due_ms = 0;
			go(c);
		}
	}
	arm_retry(s);
}

static void
retry_later(struct cs_supa_call *c)
{
	int64_t d = CS_SUPA_BACKOFF_MS;
	int i;

	for (i = 1; i < c->tries && d < CS_SUPA_BACKOFF_MAX; i++)
		d *= 2;
	if (d > CS_SUPA_BACKOFF_MAX)
		d = CS_SUPA_BACKOFF_MAX;
	d += randombytes_uniform((uint32_t)d / 4 + 1); /* jitter */
	c->due_ms = cs_mono_ms() + d;
	arm_retry(c->s);
}

/* After a refresh: start or fail the calls that wait for a token. */
static void
release_waiting(struct cs_supa *s, int err)
{
	struct cs_supa_call *c, *next;

	for (c = s->calls; c != NULL; c = next) {
		next = c->next;
		if (c->running || c->due_ms != 0 || c->is_refresh)
			continue;
		if (err != 0)
			finish(c, 0, err);
		else
			go(c);
	}
}

struct tokjob {
	struct cs_dbw_job j;
	struct cs_supa *s;
	char path[CS_HOME_PATH_MAX];
	struct tok_ctx k;
	int rc;
};

static void
tokjob_run(struct cs_dbw_job *job, void *ctx)
{
	struct tokjob *x = (struct tokjob *)job;
	char line[1100];
	int n;

	(void)ctx;
	n = snprintf(line, sizeof(line), "%s\n", x->k.refresh);
	x->rc = cs_relay_write_file(x->path, (uint8_t *)line, (size_t)n, 0600);
	sodium_memzero(line, sizeof(line));
}

static void
tokjob_done(struct cs_dbw_job *job)
{
	struct tokjob *x = (struct tokjob *)job;
	struct cs_supa *s = x->s;

	s->refreshing = 0;
	if (x->j.cancelled) {
		/* stopping before the worker wrote it: the server already spent
		 * the old token, so write the new one now (shutdown, not the
		 * running loop) or the next start would be logged out */
		tokjob_run(&x->j, NULL);
		goto out;
	}
	if (s->closing)
		goto out;
	if (x->rc != 0) {
		/* the server already rotated: without the new token on disk, a
		 * restart would present a used one; keep going in memory */
		snprintf(s->errmsg, sizeof(s->errmsg), "cannot write %s: %s", x->path,
		    cs_strerror(x->rc));
	}
	memcpy(s->tok->access, x->k.access, sizeof(s->tok->access));
	memcpy(s->tok->refresh, x->k.refresh, sizeof(s->tok->refresh));
	s->access_exp_ms = wall_ms() + (int64_t)x->k.expires_in * 1000;
	release_waiting(s, 0);
out:
	sodium_memzero(&x->k, sizeof(x->k));
	cs_free(x);
}

static void
refresh_done(void *ctx, int status, const uint8_t *body, size_t len, int err)
{
	struct cs_supa *s = ctx;
	struct tokjob *x = NULL;
	char why[200];
	int fail = CS_EIO;

	if (s->closing)
		return;
	if (err == 0 && status == 200) {
		x = cs_calloc(1, sizeof(*x));
		if (x == NULL)
			goto out;
		x->j.run = tokjob_run;
		x->j.done = tokjob_done;
		x->s = s;
		snprintf(x->path, sizeof(x->path), "%s", s->token_path);
		if (parse_token(body, len, &x->k) != 0) {
			snprintf(s->errmsg, sizeof(s->errmsg),
			    "the Auth server's token answer is malformed");
			fail = CS_RELAY_EAUTH;
			goto out;
		}
		/* persisted before the access token is used (single-use rotation) */
		cs_dbw_post(s->dbw, &x->j);
		return;
	}
	if (err == 0 && (status == 400 || status == 401 || status == 403 || status == 422)) {
		cs_supa_describe(status, body, len, why, sizeof(why));
		snprintf(s->errmsg, sizeof(s->errmsg),
		    "the Supabase session ended (%s): run cabsync relay login", why);
		fail = CS_RELAY_EAUTH;
	} else {
		snprintf(s->errmsg, sizeof(s->errmsg),
		    "cannot reach the Auth server to refresh the session");
	}
out:
	if (x != NULL) {
		sodium_memzero(&x->k, sizeof(x->k));
		cs_free(x);
	}
	s->refreshing = 0;
	if (fail == CS_RELAY_EAUTH) {
		s->auth_failed = 1;
		s->access_exp_ms = 0;
	}
	release_waiting(s, fail);
}

static struct cs_supa_call *
call_new(struct cs_supa *s, const char *method, const char *path, const char *ctype,
    const uint8_t *body, size_t len, const char *const *headers, cs_supa_cb cb, void *ctx)
{
	struct cs_supa_call *c;
	size_t i;

	c = cs_calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->s = s;
	snprintf(c->method, sizeof(c->method), "%s", method);
	c->path = cs_strdup(path);
	c->ctype = ctype != NULL ? cs_strdup(ctype) : NULL;
	c->body = len > 0 ? cs_memdup(body, len) : NULL;
	c->len = len;
	for (i = 0; headers != NULL && headers[i] != NULL && i < MAX_HDRS; i++)
		if ((c->extra[i] = cs_strdup(headers[i])) == NULL)
			goto out;
	if (c->path == NULL || (ctype != NULL && c->ctype == NULL) || (len > 0 && c->body == NULL))
		goto out;
	c->cb = cb;
	c->ctx = ctx;
	c->next = s->calls;
	s->calls = c;
	return c;
out:
	call_free(c); /* reached on a failed copy only */
	return NULL;
}

static void
start_refresh(struct cs_supa *s)
{
	struct cs_supa_call *c;
	char body[1200];
	int n;

	if (s->refreshing || s->closing)
		return;
	if (s->tok->refresh[0] == '\0') {
		s->auth_failed = 1;
		snprintf(s->errmsg, sizeof(s->errmsg),
		    "not logged in to the relay: run cabsync relay login");
		release_waiting(s, CS_RELAY_EAUTH);
		return;
	}
	n = snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", s->tok->refresh);
	c = call_new(s, "POST", "/auth/v1/token?grant_type=refresh_token", "application/json",
	    (uint8_t *)body, (size_t)n, NULL, refresh_done, s);
	sodium_memzero(body, sizeof(body));
	if (c == NULL)
		return;
	c->is_refresh = 1;
	s->refreshing = 1;
	go(c);
}

/* A finished transfer: retry, refresh, or hand the answer over. */
static void
transfer_done(struct cs_supa_call *c, CURLcode res)
{
	struct cs_supa *s = c->s;
	struct err_ctx e;
	long http = 0;
	int status;

	c->running = 0;
	c->tries++;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &http);
	if (res != CURLE_OK || http == 0) {
		if (c->tries < CS_SUPA_MAX_TRIES) {
			retry_later(c);
			return;
		}
		finish(c, 0, CS_EIO);
		return;
	}
	status = (int)http;
	parse_err(c->resp, c->rlen, &e);
	if (http == 400 && e.status > 0)
		status = e.status; /* Storage: the real status is in the body */
	if ((status >= 500 || status == 429) && c->tries < CS_SUPA_MAX_TRIES) {
		retry_later(c);
		return;
	}
	/* an expired access token: PostgREST 401 PGRST30x, Storage 403 "exp" */
	if (!c->is_refresh && !c->refreshed &&
	    ((http == 401 && strncmp(e.code, "PGRST30", 7) == 0) ||
	        (status == 403 &&
	            (strstr(e.msg, "exp") != NULL || strstr(e.msg, "signature") != NULL)) ||
	        (http == 401 && strstr(e.msg, "JWT") != NULL))) {
		c->refreshed = 1;
		c->tries = 0;
		s->access_exp_ms = 0;
		go(c);
		return;
	}
	finish(c, status, 0);
}

static void
check_done(struct cs_supa *s)
{
	CURLMsg *m;
	struct cs_supa_call *c;
	int left;

	while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		c = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		curl_multi_remove_handle(s->multi, m->easy_handle);
		if (c != NULL)
			transfer_done(c, m->data.result);
	}
}

/*
 * After a refused session: has `cabsync relay login` written a new token?
 * One small read (like the roster's stat) at most once a cycle.
 */
static int
reread_token(struct cs_supa *s)
{
	uint8_t *buf = NULL;
	size_t len = 0, n;
	int rc = -1;

	if (cs_relay_read_file(s->token_path, sizeof(s->tok->refresh), &buf, &len) != 0)
		return -1;
	for (n = 0; n < len && buf[n] != '\n'; n++)
		;
	if (n > 0 && n < sizeof(s->tok->refresh) &&
	    (strlen(s->tok->refresh) != n || memcmp(s->tok->refresh, buf, n) != 0)) {
		memcpy(s->tok->refresh, buf, n);
		s->tok->refresh[n] = '\0';
		s->auth_failed = 0;
		s->access_exp_ms = 0;
		rc = 0;
	}
	sodium_memzero(buf, len);
	cs_free(buf);
	return rc;
}

int
cs_supa_call(struct cs_supa *s, const char *method, const char *path, const char *ctype,
    const uint8_t *body, size_t len, const char *const *headers, cs_supa_cb cb, void *ctx)
{
	struct cs_supa_call *c;

	if (s->closing)
		return CS_EIO;
	if (s->auth_failed && reread_token(s) != 0)
		return CS_RELAY_EAUTH;
	c = call_new(s, method, path, ctype, body, len, headers, cb, ctx);
	if (c == NULL)
		return CS_ENOMEM;
	/* never call back from inside: start on the next loop turn */
	c->due_ms = cs_mono_ms();
	arm_retry(s);
	return 0;
}

int
cs_supa_init(struct cs_supa *s, uv_loop_t *loop, struct cs_dbw *dbw, const struct cs_relay_cfg *cfg,
    const char *home_dir)
{
	uint8_t *buf = NULL;
	size_t len = 0, n;
	int rc;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->dbw = dbw;
	s->cfg = cfg;
	if (snprintf(s->token_path, sizeof(s->token_path), "%s/%s", home_dir, CS_SUPA_TOKEN_FILE) >=
	    (int)sizeof(s->token_path))
		return CS_ERANGE;
	s->tok = sodium_malloc(sizeof(*s->tok));
	if (s->tok == NULL)
		return CS_ENOMEM;
	sodium_memzero(s->tok, sizeof(*s->tok));
	rc = cs_relay_read_file(s->token_path, sizeof(s->tok->refresh), &buf, &len);
	if (rc == 0) {
		for (n = 0; n < len && buf[n] != '\n' && n + 1 < sizeof(s->tok->refresh); n++)
			s->tok->refresh[n] = (char)buf[n];
		sodium_memzero(buf, len);
		cs_free(buf);
	} else if (rc != CS_ENOENT) {
		snprintf(s->errmsg, sizeof(s->errmsg), "cannot read %s", s->token_path);
	}
	s->multi = curl_multi_init();
	if (s->multi == NULL) {
		sodium_free(s->tok);
		s->tok = NULL;
		return CS_ENOMEM;
	}
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	uv_timer_init(loop, &s->retry);
	s->retry.data = s;
	s->open_handles = 2;
	return 0;
}

void
cs_supa_close(struct cs_supa *s, void (*closed)(struct cs_supa *s))
{
	struct cs_supa_call *c, *next;

	(void)closed;
	if (s->multi == NULL || s->closing)
		return;
	s->closing = 1;
	for (c = s->calls; c != NULL; c = next) {
		next = c->next;
		if (c->running)
			curl_multi_remove_handle(s->multi, c->easy); /* closes its polls */
		call_free(c);
	}
	s->calls = NULL;
	curl_multi_cleanup(s->multi);
	s->multi = NULL;
	uv_close((uv_handle_t *)&s->timer, on_handle_closed);
	uv_close((uv_handle_t *)&s->retry, on_handle_closed);
	if (s->tok != NULL)
		sodium_free(s->tok); /* wipes */
	s->tok = NULL;
}

/* ------------------------------------------------------------ login */

static size_t
on_login_data(char *p, size_t size, size_t n, void *ud)
{
	struct cs_supa_call *c = ud;

	return on_data(p, size, n, c);
}

int
cs_supa_login(const struct cs_relay_cfg *cfg, const char *home_dir, const char *email,
    const char *password, char *msg, size_t cap)
{
	struct cs_supa_call c;
	struct tok_ctx k;
	struct curl_slist *l = NULL;
	char url[CS_RELAY_URL_MAX + 64], line[CS_RELAY_KEY_MAX + 16], path[CS_HOME_PATH_MAX];
	char *body = NULL, why[200];
	CURL *e = NULL;
	long http = 0;
	size_t blen;
	int rc = CS_EIO, n;

	memset(&c, 0, sizeof(c));
	memset(&k, 0, sizeof(k));
	e = curl_easy_init();
	if (e == NULL)
		return CS_ENOMEM;
	/* JSON strings: refuse what would need escaping rather than mis-escape */
	if (strpbrk(email, "\"\\") != NULL || strpbrk(password, "\"\\") != NULL) {
		snprintf(msg, cap,
		    "the email or password contains \" or \\, which the login does not send yet");
		rc = CS_EINVAL;
		goto out;
	}
	blen = strlen(email) + strlen(password) + 64;
	body = cs_malloc(blen);
	if (body == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	n = snprintf(body, blen, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
	snprintf(url, sizeof(url), "%s/auth/v1/token?grant_type=password", cfg->url);
	snprintf(line, sizeof(line), "apikey: %s", cfg->key);
	l = curl_slist_append(NULL, line);
	l = l != NULL ? curl_slist_append(l, "Content-Type: application/json") : NULL;
	if (l == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "cabsync/" CS_VERSION);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_login_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &c);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (curl_easy_perform(e) != CURLE_OK) {
		snprintf(msg, cap, "cannot reach %s", cfg->url);
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &http);
	if (http != 200) {
		cs_supa_describe((int)http, c.resp, c.rlen, why, sizeof(why));
		snprintf(msg, cap, "login refused (%s)", why);
		rc = CS_RELAY_EAUTH;
		goto out;
	}
	if (parse_token(c.resp, c.rlen, &k) != 0) {
		snprintf(msg, cap, "the Auth server's answer is malformed");
		rc = CS_RELAY_EHTTP;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", home_dir, CS_SUPA_TOKEN_FILE);
	n = snprintf(line, sizeof(line), "%s\n", k.refresh);
	if (n <= 0 || (size_t)n >= sizeof(line) ||
	    cs_relay_write_file(path, (uint8_t *)line, (size_t)n, 0600) != 0) {
		snprintf(msg, cap, "cannot write %s", path);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(line, sizeof(line));
	sodium_memzero(&k, sizeof(k));
	if (body != NULL)
		sodium_memzero(body, strlen(body));
	cs_free(body);
	if (c.resp != NULL)
		sodium_memzero(c.resp, c.rcap);
	cs_free(c.resp);
	curl_slist_free_all(l);
	curl_easy_cleanup(e);
	return rc;
}
