/*
 * agent/relay_http.h: libcurl's multi interface driven by the libuv loop
 * (DESIGN.md "Threads": curl multi socket API on uv_poll + a uv_timer; no
 * blocking call, no extra thread), and the Supabase calls of the relay
 * (shared/supabase-api.md): the user's session (access token refreshed
 * with the stored single-use refresh token, the new one written to disk
 * before the access token is used), retries with backoff on network errors,
 * 5xx and 429, a refresh and one more try on an expired token, Storage's
 * HTTP-400-with-"statusCode" error bodies read as the real status.
 *
 * Threads: loop thread only, except cs_supa_login (a command: blocking).
 * Ownership: a call copies its path, query and body; the callback gets the
 * answer body for the duration of the call. The refresh token lives in
 * HOME/relay-token (0600) and in this object's memory (sodium_malloc'd,
 * wiped at close); it is never logged.
 */
#ifndef CS_AGENT_RELAY_HTTP_H
#define CS_AGENT_RELAY_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/dbw.h"
#include "agent/relay.h"

#define CS_SUPA_TOKEN_FILE  "relay-token"
#define CS_SUPA_MAX_TRIES   6   /* network error, 5xx, 429: tries per call */
#define CS_SUPA_BACKOFF_MS  250 /* first retry delay, doubled each time */
#define CS_SUPA_BACKOFF_MAX 8000
#define CS_SUPA_MAX_ANSWER  (CS_RELAY_MAX_BUNDLE + 4096)
#define CS_SUPA_TIMEOUT_MS  60000

struct cs_supa;
struct cs_supa_call;

/*
 * The end of a call: status is the effective status (Storage's JSON
 * "statusCode" when there is one, else the HTTP status; 0 after a network
 * failure that outlived the retries), body/len the answer, err 0 or a
 * negative code (CS_RELAY_EAUTH: log in again; CS_RELAY_EHTTP; CS_EIO).
 */
typedef void (*cs_supa_cb)(void *ctx, int status, const uint8_t *body, size_t len, int err);

struct cs_supa_sock;

struct cs_supa {
	uv_loop_t *loop;
	struct cs_dbw *dbw; /* the refresh token is written on the worker */
	void *multi;        /* CURLM */
	uv_timer_t timer;   /* curl's timeout */
	uv_timer_t retry;   /* calls waiting for their next try */
	int open_handles;
	const struct cs_relay_cfg *cfg;
	char token_path[CS_HOME_PATH_MAX];
	struct {
		char access[4096];
		char refresh[1024];
		char user[64];
	} * tok;               /* sodium_malloc */
	int64_t access_exp_ms; /* 0: no access token */
	int refreshing, auth_failed, closing;
	struct cs_supa_call *calls;   /* in flight or waiting */
	struct cs_supa_call *waiting; /* waiting for a token */
	uint64_t requests;            /* HTTP requests made (tests, status) */
	char errmsg[256];             /* the last auth failure, for the log */
};

/* Set up on loop; reads HOME/relay-token. 0, CS_ENOMEM, CS_EIO. */
int cs_supa_init(struct cs_supa *s, uv_loop_t *loop, struct cs_dbw *dbw,
    const struct cs_relay_cfg *cfg, const char *home_dir);

/*
 * One call: method GET|POST|DELETE|PATCH, path under the project URL
 * ("/rest/v1/...", "/storage/v1/..."), body (len bytes, may be NULL) with
 * content type ctype and its size always declared, extra header lines
 * (NULL-terminated array, may be NULL). cb runs later on the loop (never
 * inside this call). 0 or CS_ENOMEM / CS_RELAY_EAUTH (not logged in).
 */
int cs_supa_call(struct cs_supa *s, const char *method, const char *path, const char *ctype,
    const uint8_t *body, size_t len, const char *const *headers, cs_supa_cb cb, void *ctx);

/* Cancel every call (callbacks get CS_EIO... not called: dropped), close the handles. */
void cs_supa_close(struct cs_supa *s, void (*closed)(struct cs_supa *s));

/*
 * `cabsync relay login`: password grant (blocking; a command), then the
 * refresh token written to HOME/relay-token (0600). msg gets one sentence
 * on failure (never the password). 0, CS_RELAY_EAUTH (refused), CS_EIO.
 */
int cs_supa_login(const struct cs_relay_cfg *cfg, const char *home_dir, const char *email,
    const char *password, char *msg, size_t cap);

/* The Storage/PostgREST/Auth error of an answer as one short sentence. */
void cs_supa_describe(int status, const uint8_t *body, size_t len, char *out, size_t cap);

#endif
