/*
 * agent/control.h: the control socket of the agent, used by the CLI and
 * the tray (DESIGN.md "Control and tray"; docs/PROTOCOL.md §8).
 *
 * Path: $XDG_RUNTIME_DIR/cabsync/control.sock (directory 0700, socket
 * 0600); when XDG_RUNTIME_DIR is unset, HOME_DIR/control.sock.
 *
 * Protocol (one request per connection): the client sends one line
 *   "cabsync-control/1 VERB\n"   VERB = status | peers | pause | resume
 * of at most CS_CTL_MAX_REQ bytes, printable ASCII; the agent answers one
 * line of JSON ending in "\n" and closes. A malformed request gets
 * {"error":"..."} and the connection is closed.
 *
 * The decoder cs_control_parse() is pure (fuzzed: tests/fuzz/fuzz_control.c).
 * The server (cs_control_start/stop) runs on the loop thread; the answer is
 * built by the caller's callback, synchronously, from loop-thread state.
 */
#ifndef CS_AGENT_CONTROL_H
#define CS_AGENT_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define CS_CTL_MAGIC    "cabsync-control/1 "
#define CS_CTL_MAX_REQ  64
#define CS_CTL_MAX_RESP (64 * 1024)

enum cs_ctl_verb { CS_CTL_STATUS = 1, CS_CTL_PEERS, CS_CTL_PAUSE, CS_CTL_RESUME };

enum cs_ctl_err {
	CS_CTL_ETOOLONG = -620, /* no newline within CS_CTL_MAX_REQ bytes */
	CS_CTL_EBYTE = -621,    /* a byte that is not printable ASCII */
	CS_CTL_EMAGIC = -622,   /* not "cabsync-control/1 " */
	CS_CTL_EVERB = -623,    /* unknown verb */
	CS_CTL_ETRAILING = -624 /* bytes after the newline */
};

/*
 * Parse buf[0..len): 0 and *verb when it holds exactly one complete
 * request, CS_EAGAIN when the line is not complete yet (and could still
 * be valid), or a CS_CTL_E... code. Never reads past len.
 */
int cs_control_parse(const uint8_t *buf, size_t len, int *verb);

/* A static sentence for a CS_CTL_E... code. */
const char *cs_control_strerror(int err);

/*
 * The socket path for home_dir into out. Creates the 0700 directory if
 * mkdir_it. 0 or CS_ERANGE / CS_EIO.
 */
int cs_control_path(const char *home_dir, int mkdir_it, char *out, size_t cap);

/* Writes the JSON answer to verb into out; returns its length or < 0. */
typedef int (*cs_control_fn)(void *ctx, int verb, char *out, size_t cap);

struct cs_control {
	uv_pipe_t pipe;
	int on;
	char path[512];
	char errmsg[256];
	cs_control_fn fn;
	void *ctx;
};

/* Listen on the path of home_dir. 0 or CS_EIO / CS_EEXIST (an agent is
 * already answering there) with errmsg set. */
int cs_control_start(struct cs_control *c, uv_loop_t *loop, const char *home_dir, cs_control_fn fn,
    void *ctx);
/* Close the listener and remove the socket file. Idempotent. */
void cs_control_stop(struct cs_control *c);

/*
 * Client side (blocking, for the CLI): send verb, read the answer into out
 * (NUL-terminated). 0, CS_ENOENT (no agent running), CS_EIO.
 */
int cs_control_request(const char *path, const char *verb, char *out, size_t cap);

#endif
