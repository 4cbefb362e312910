/*
 * agent/tray/tray_ctl.h: the tray's client side of the agent's control socket
 * (docs/PROTOCOL.md §8). The tray links neither cs_agent nor libuv: this is
 * a small blocking client of its own; it reuses only the protocol constants
 * of agent/control.h (CS_CTL_MAGIC, CS_CTL_MAX_REQ, CS_CTL_MAX_RESP).
 *
 * Called from the GTK main thread. Every call is bounded in time: connect,
 * write and read share one deadline (timeout_ms), so a stuck agent cannot
 * freeze the tray for longer than that. Holds nothing between calls.
 */
#ifndef CS_TRAY_CTL_H
#define CS_TRAY_CTL_H

#include <stddef.h>

/*
 * The socket path: $XDG_RUNTIME_DIR/cabsync/control.sock, or
 * HOME_DIR/control.sock when XDG_RUNTIME_DIR is unset (home_dir may be NULL
 * then only if XDG_RUNTIME_DIR is set). 0, CS_EINVAL (no way to find it),
 * CS_ERANGE (too long for out or for a Unix socket address).
 */
int cs_tray_ctl_path(const char *home_dir, char *out, size_t cap);

/*
 * Send "cabsync-control/1 VERB\n" on path and read the one answer line into
 * out (NUL-terminated, the newline removed). 0; CS_ENOENT nobody answers
 * (no socket file, connection refused or reset: the agent is not running);
 * CS_EAGAIN the deadline passed; CS_EIO a short or unterminated answer;
 * CS_ERANGE the answer does not fit in cap; CS_EINVAL a bad verb or path.
 */
int cs_tray_ctl_request(const char *path, const char *verb, char *out, size_t cap, int timeout_ms);

#endif
