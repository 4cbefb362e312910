/*
 * tests/interop/noise_peer.c: noise-peer, a test program that runs one
 * cabsync Noise session over TCP (docs/PROTOCOL.md §7). It links the shipped
 * cs_wire (no test hooks): what it proves about interop holds for cabsync.
 *
 *   noise-peer (--initiator HOST:PORT | --responder PORT) [--xx]
 *              [--psk-hex HEX] [--prologue STR | --prologue-hex HEX]
 *              [--static-key-file FILE] [--expect-remote HEX]
 *
 * Every Noise message travels with a 2-byte big-endian length. Prints
 * local_static=, then handshake_hash= and remote_static= (hex) once the
 * handshake is done; the responder then echoes every transport message back
 * until the peer closes, the initiator sends each line of stdin (without its
 * newline) and prints each reply on its own line. --responder 0 listens on a
 * free port and prints listening=PORT first. The static key file holds the
 * 32-byte X25519 private key in hex (a random key is used without it).
 * --expect-remote: the initiator checks the responder's static key right after
 * message 2 and closes before writing message 3, the responder checks after
 * message 3 (the roster rule of docs/PROTOCOL.md §1). Exit: 0 done, 1 usage
 * or I/O, 2 Noise failure, 3 unexpected remote static key.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "wire/noise.h"

#define IO_TIMEOUT_S 20

static int
unhex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	if (sodium_hex2bin(out, cap, s, n, NULL, len, NULL) != 0 || *len * 2 != n)
		return -1;
	return 0;
}

static void
print_hex(const char *label, const uint8_t *b, size_t len)
{
	char hex[2 * CS_NOISE_HASH_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), b, len);
	printf("%s=%s\n", label, hex);
	fflush(stdout);
}

static int
write_all(int fd, const uint8_t *b, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = send(fd, b, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

/* 1 = read all, 0 = clean EOF before the first byte, -1 = error / short. */
static int
read_all(int fd, uint8_t *b, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = recv(fd, b + got, len - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && got == 0)
			return 0;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 1;
}

static int
send_frame(int fd, const uint8_t *m, size_t len)
{
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};

	if (len > CS_NOISE_MAX_MSG)
		return -1;
	if (write_all(fd, hdr, 2) != 0 || write_all(fd, m, len) != 0)
		return -1;
	return 0;
}

/* 1 = frame in m (*len), 0 = EOF, -1 = error. */
static int
recv_frame(int fd, uint8_t *m, size_t *len)
{
	uint8_t hdr[2];
	int rc;

	rc = read_all(fd, hdr, 2);
	if (rc <= 0)
		return rc;
	*len = (size_t)hdr[0] << 8 | hdr[1];
	return read_all(fd, m, *len) == 1 || *len == 0 ? 1 : -1;
}

static void
set_timeouts(int fd)
{
	struct timeval tv = {IO_TIMEOUT_S, 0};
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
dial(const char *hostport)
{
	char host[256], *colon;
	struct addrinfo hints = {0}, *res = NULL, *ai;
	int fd = -1;

	if (strlen(hostport) >= sizeof(host))
		return -1;
	strcpy(host, hostport);
	colon = strrchr(host, ':');
	if (colon == NULL)
		return -1;
	*colon = '\0';
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		set_timeouts(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int
listen_accept(int port)
{
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof(sa);
	int lfd, fd, one = 1;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		return -1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
		close(lfd);
		return -1;
	}
	printf("listening=%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	set_timeouts(lfd); /* accept() waits IO_TIMEOUT_S at most */
	fd = accept(lfd, NULL, NULL);
	close(lfd);
	if (fd >= 0)
		set_timeouts(fd);
	return fd;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: noise-peer (--initiator HOST:PORT | --responder PORT) [--xx]\n"
	    "       [--psk-hex HEX] [--prologue STR | --prologue-hex HEX]\n"
	    "       [--static-key-file FILE] [--expect-remote HEX]\n");
}

int
main(int argc, char **argv)
{
	const char *dial_to = NULL, *psk_hex = NULL, *key_file = NULL, *expect_hex = NULL;
	uint8_t *secret = NULL; /* sodium_malloc: static key then psk */
	uint8_t prologue[1024], expect[32], rs[32], h[CS_NOISE_HASH_LEN];
	uint8_t *buf = NULL, *pt = NULL;
	size_t prologue_len = 0, len, plen, n;
	struct cs_noise noise = {0};
	struct cs_noise_config cfg = {0};
	int port = -1, xx = 0, fd = -1, rc, ret = 1, i, have_expect = 0;
	char *line = NULL;
	size_t line_cap = 0;
	ssize_t line_len;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--xx") == 0) {
			xx = 1;
			continue;
		}
		if (v == NULL) {
			usage();
			return 1;
		}
		i++;
		if (strcmp(a, "--initiator") == 0)
			dial_to = v;
		else if (strcmp(a, "--responder") == 0)
			port = atoi(v);
		else if (strcmp(a, "--psk-hex") == 0)
			psk_hex = v;
		else if (strcmp(a, "--prologue") == 0) {
			prologue_len = strlen(v);
			if (prologue_len > sizeof(prologue))
				return 1;
			memcpy(prologue, v, prologue_len);
		} else if (strcmp(a, "--prologue-hex") == 0) {
			if (unhex(v, prologue, sizeof(prologue), &prologue_len) != 0) {
				fprintf(stderr, "noise-peer: bad --prologue-hex\n");
				return 1;
			}
		} else if (strcmp(a, "--static-key-file") == 0)
			key_file = v;
		else if (strcmp(a, "--expect-remote") == 0)
			expect_hex = v;
		else {
			usage();
			return 1;
		}
	}
	if ((dial_to == NULL) == (port < 0) || (psk_hex != NULL) == (xx != 0)) {
		usage();
		return 1;
	}
	if (sodium_init() < 0)
		return 1;
	secret = sodium_malloc(64);
	buf = malloc(CS_NOISE_MAX_MSG);
	pt = malloc(CS_NOISE_MAX_MSG);
	if (secret == NULL || buf == NULL || pt == NULL)
		goto out;
	if (expect_hex != NULL) {
		if (unhex(expect_hex, expect, sizeof(expect), &n) != 0 || n != 32) {
			fprintf(stderr, "noise-peer: bad --expect-remote\n");
			goto out;
		}
		have_expect = 1;
	}
	if (key_file != NULL) {
		FILE *f = fopen(key_file, "r");
		char hex[80] = {0};

		if (f == NULL || fgets(hex, sizeof(hex), f) == NULL ||
		    unhex(hex, secret, 32, &n) != 0 || n != 32) {
			fprintf(stderr, "noise-peer: %s: want 64 hex characters\n", key_file);
			if (f != NULL)
				fclose(f);
			sodium_memzero(hex, sizeof(hex));
			goto out;
		}
		fclose(f);
		sodium_memzero(hex, sizeof(hex));
	} else {
		randombytes_buf(secret, 32);
	}
	if (psk_hex != NULL && (unhex(psk_hex, secret + 32, 32, &n) != 0 || n != 32)) {
		fprintf(stderr, "noise-peer: --psk-hex wants 64 hex characters\n");
		goto out;
	}
	cfg.protocol = xx ? CS_NOISE_XX : CS_NOISE_PROTOCOL;
	cfg.initiator = dial_to != NULL;
	cfg.prologue = prologue;
	cfg.prologue_len = prologue_len;
	cfg.static_key = secret;
	cfg.psks = xx ? NULL : secret + 32;
	cfg.psk_count = xx ? 0 : 1;
	rc = cs_noise_init(&noise, &cfg);
	sodium_memzero(secret, 64);
	if (rc != 0) {
		fprintf(stderr, "noise-peer: %s\n", cs_noise_strerror(rc));
		goto out;
	}
	if (cs_noise_local_static(&noise, rs) == 0)
		print_hex("local_static", rs, 32);

	fd = dial_to != NULL ? dial(dial_to) : listen_accept(port);
	if (fd < 0) {
		fprintf(stderr, "noise-peer: cannot connect / accept: %s\n", strerror(errno));
		goto out;
	}
	while (cs_noise_action(&noise) != CS_NOISE_DONE) {
		if (cs_noise_action(&noise) == CS_NOISE_WRITE) {
			/* the roster rule: check the responder's key before message 3 */
			if (have_expect && cs_noise_remote_static(&noise, rs) == 0 &&
			    sodium_memcmp(rs, expect, 32) != 0) {
				fprintf(stderr, "noise-peer: unexpected remote static key\n");
				ret = 3;
				goto out;
			}
			rc = cs_noise_write_message(&noise, NULL, 0, buf, CS_NOISE_MAX_MSG, &len);
			if (rc == 0 && send_frame(fd, buf, len) != 0) {
				fprintf(stderr, "noise-peer: send failed\n");
				goto out;
			}
		} else {
			if (recv_frame(fd, buf, &len) != 1) {
				fprintf(stderr, "noise-peer: connection closed during handshake\n");
				goto out;
			}
			rc = cs_noise_read_message(&noise, buf, len, pt, CS_NOISE_MAX_MSG, &plen);
		}
		if (rc != 0) {
			fprintf(stderr, "noise-peer: %s\n", cs_noise_strerror(rc));
			ret = 2;
			goto out;
		}
	}
	if (cs_noise_remote_static(&noise, rs) != 0 || cs_noise_handshake_hash(&noise, h) != 0)
		goto out;
	if (have_expect && sodium_memcmp(rs, expect, 32) != 0) {
		fprintf(stderr, "noise-peer: unexpected remote static key\n");
		ret = 3;
		goto out;
	}
	print_hex("handshake_hash", h, sizeof(h));
	print_hex("remote_static", rs, 32);

	if (dial_to == NULL) {
		/* responder: echo until the initiator closes */
		for (;;) {
			rc = recv_frame(fd, buf, &len);
			if (rc == 0)
				break;
			if (rc < 0)
				goto out;
			rc = cs_noise_decrypt(&noise, buf, len, pt, CS_NOISE_MAX_MSG, &plen);
			if (rc == 0)
				rc =
				    cs_noise_encrypt(&noise, pt, plen, buf, CS_NOISE_MAX_MSG, &len);
			if (rc != 0) {
				fprintf(stderr, "noise-peer: %s\n", cs_noise_strerror(rc));
				ret = 2;
				goto out;
			}
			if (send_frame(fd, buf, len) != 0)
				goto out;
		}
	} else {
		while ((line_len = getline(&line, &line_cap, stdin)) > 0) {
			if (line[line_len - 1] == '\n')
				line_len--;
			rc = cs_noise_encrypt(&noise, (const uint8_t *)line, (size_t)line_len, buf,
			    CS_NOISE_MAX_MSG, &len);
			if (rc == 0 &&
			    (send_frame(fd, buf, len) != 0 || recv_frame(fd, buf, &len) != 1)) {
				fprintf(stderr, "noise-peer: connection lost\n");
				goto out;
			}
			if (rc == 0)
				rc =
				    cs_noise_decrypt(&noise, buf, len, pt, CS_NOISE_MAX_MSG, &plen);
			if (rc != 0) {
				fprintf(stderr, "noise-peer: %s\n", cs_noise_strerror(rc));
				ret = 2;
				goto out;
			}
			fwrite(pt, 1, plen, stdout);
			putchar('\n');
			fflush(stdout);
		}
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	cs_noise_free(&noise);
	if (secret != NULL)
		sodium_free(secret);
	free(buf);
	free(pt);
	free(line);
	return ret;
}
