/*
 * agent/tray/tray_ctl.c: blocking, deadline-bounded control-socket client
 * (see tray_ctl.h; protocol: docs/PROTOCOL.md §8).
 */
#include "agent/tray/tray_ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/control.h"
#include "base/err.h"

int
cs_tray_ctl_path(const char *home_dir, char *out, size_t cap)
{
	struct sockaddr_un sa;
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (out == NULL || cap == 0)
		return CS_EINVAL;
	if (xdg != NULL && xdg[0] != '\0')
		n = snprintf(out, cap, "%s/cabsync/control.sock", xdg);
	else if (home_dir != NULL && home_dir[0] != '\0')
		n = snprintf(out, cap, "%s/control.sock", home_dir);
	else
		return CS_EINVAL;
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(sa.sun_path))
		return CS_ERANGE;
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline: 0 ready, CS_EAGAIN timed out. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p;
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return CS_EAGAIN;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return CS_EAGAIN;
		if (errno != EINTR)
			return CS_EIO;
	}
}

int
cs_tray_ctl_request(const char *path, const char *verb, char *out, size_t cap, int timeout_ms)
{
	struct sockaddr_un sa;
	char req[CS_CTL_MAX_REQ];
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0, sent = 0;
	ssize_t r;
	socklen_t sl;
	int fd = -1, n, rc, soerr;

	if (path == NULL || verb == NULL || out == NULL || cap < 2 || timeout_ms <= 0)
		return CS_EINVAL;
	out[0] = '\0';
	if (strlen(path) >= sizeof(sa.sun_path))
		return CS_ERANGE;
	n = snprintf(req, sizeof(req), CS_CTL_MAGIC "%s\n", verb);
	if (n < 0 || (size_t)n >= sizeof(req))
		return CS_EINVAL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return CS_EIO;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			/* ENOENT, ECONNREFUSED: no agent behind the path */
			rc = CS_ENOENT;
			goto out;
		}
		if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0)
			goto out;
		soerr = 0;
		sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			rc = CS_ENOENT;
			goto out;
		}
	}
	while (sent < (size_t)n) {
		r = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
		if (r > 0) {
			sent += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0)
				goto out;
			continue;
		}
		/* the agent died with our connection in its backlog */
		rc = (errno == EPIPE || errno == ECONNRESET) ? CS_ENOENT : CS_EIO;
		goto out;
	}
	for (;;) {
		if (len + 1 >= cap) {
			rc = CS_ERANGE;
			goto out;
		}
		r = read(fd, out + len, cap - 1 - len);
		if (r > 0) {
			len += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		if (errno == EAGAIN || errno == EINTR) {
			if ((rc = wait_fd(fd, POLLIN, deadline)) != 0)
				goto out;
			continue;
		}
		rc = errno == ECONNRESET ? CS_ENOENT : CS_EIO;
		goto out;
	}
	out[len] = '\0';
	/* exactly one line: ends in the newline, none inside (§8) */
	if (len == 0 || out[len - 1] != '\n' || memchr(out, '\n', len - 1) != NULL) {
		rc = CS_EIO;
		goto out;
	}
	out[len - 1] = '\0';
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		out[0] = '\0';
	return rc;
}
