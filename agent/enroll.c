/*
 * agent/enroll.c: invite and join (see enroll.h).
 */
#include "agent/enroll.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/audit_cmd.h"
#include "agent/db_cmd.h"
#include "agent/devstate.h"
#include "agent/home.h"
#include "agent/init_cmd.h"
#include "agent/mono.h"
#include "agent/rendezvous.h"
#include "agent/roster.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "discovery/addr.h"
#include "wire/frame.h"
#include "wire/noise.h"

#define B32           "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define IO_TIMEOUT_MS 10000
#define MAX_PAYLOAD   CS_NOISE_MAX_PLAIN
#define GRACE_MS      60000
#define FIND_MS       10000 /* join without --peer: mDNS lookup of the inviter */

static uint8_t
check_char(const uint8_t secret[CS_INVITE_SECRET_LEN])
{
	uint8_t h[16];

	crypto_generichash(h, sizeof(h), secret, CS_INVITE_SECRET_LEN, NULL, 0);
	return (uint8_t)B32[h[0] & 31];
}

void
cs_invite_code_format(const uint8_t secret[CS_INVITE_SECRET_LEN], char *out)
{
	size_t i, o = 0;
	unsigned bits = 0, acc = 0, nch = 0;

	for (i = 0; i < CS_INVITE_SECRET_LEN; i++) {
		acc = (acc << 8) | secret[i];
		bits += 8;
		while (bits >= 5) {
			if (nch > 0 && nch % 4 == 0)
				out[o++] = '-';
			out[o++] = B32[(acc >> (bits - 5)) & 31];
			bits -= 5;
			nch++;
		}
	}
	out[o++] = '-';
	out[o++] = (char)check_char(secret);
	out[o] = '\0';
}

int
cs_invite_code_parse(const char *code, uint8_t secret[CS_INVITE_SECRET_LEN])
{
	char clean[CS_INVITE_CODE_MAX];
	size_t n = 0, i, o = 0;
	unsigned acc = 0, bits = 0;
	const char *p;

	for (; *code != '\0'; code++) {
		char c = *code;

		if (c == '-' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (strchr(B32, c) == NULL || c == '\0' || n + 1 >= sizeof(clean))
			return CS_EINVAL;
		clean[n++] = c;
	}
	if (n != 33)
		return CS_EINVAL;
	for (i = 0; i < 32; i++) {
		p = strchr(B32, clean[i]);
		acc = (acc << 5) | (unsigned)(p - B32);
		bits += 5;
		if (bits >= 8) {
			secret[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	if (check_char(secret) != (uint8_t)clean[32]) {
		sodium_memzero(secret, CS_INVITE_SECRET_LEN);
		return CS_ECORRUPT;
	}
	return 0;
}

/* Read exactly n bytes within the deadline. 0 or -1. */
static int
read_full(int fd, uint8_t *buf, size_t n, int64_t deadline)
{
	struct pollfd pf = {fd, POLLIN, 0};
	ssize_t r;
	size_t got = 0;

	while (got < n) {
		int64_t left = deadline - cs_mono_ms();

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return -1;
		r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int
recv_frame(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t hdr[2];
	int64_t deadline = cs_mono_ms() + IO_TIMEOUT_MS;

	if (read_full(fd, hdr, 2, deadline) != 0)
		return -1;
	*len = (size_t)hdr[0] << 8 | hdr[1];
	if (*len == 0 || *len > cap)
		return -1;
	return read_full(fd, buf, *len, deadline);
}

static int
send_frame(int fd, const uint8_t *body, size_t len)
{
	uint8_t hdr[2];

	if (cs_frame_hdr(hdr, len) != 0)
		return -1;
	if (send(fd, hdr, 2, MSG_NOSIGNAL) != 2 ||
	    send(fd, body, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	return 0;
}

/* Noise setup for enrollment. */
static int
noise_begin(struct cs_noise *n, int initiator, const uint8_t secret[CS_INVITE_SECRET_LEN],
    const uint8_t *static_sk)
{
	struct cs_noise_config cfg;
	uint8_t psk[CS_NOISE_PSK_LEN], prologue[CS_NOISE_PROLOGUE_MAX];
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.initiator = initiator;
	cfg.prologue = prologue;
	cfg.prologue_len = cs_noise_invite_prologue(prologue);
	cfg.static_key = static_sk;
	rc = cs_noise_invite_psk(psk, secret, CS_INVITE_SECRET_LEN);
	cfg.psks = psk;
	cfg.psk_count = 1;
	if (rc == 0)
		rc = cs_noise_init(n, &cfg);
	sodium_memzero(psk, sizeof(psk));
	return rc;
}

/* ------------------------------------------------------ payload lines */

/* Find "key=" at a line start in text; copy the value (to newline) into out. */
static int
line_get(const char *text, size_t len, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key), i = 0, j;

	while (i < len) {
		size_t e = i;

		while (e < len && text[e] != '\n')
			e++;
		if (e - i > kl && memcmp(text + i, key, kl) == 0 && text[i + kl] == '=') {
			j = e - i - kl - 1;
			if (j + 1 > cap)
				return -1;
			memcpy(out, text + i + kl + 1, j);
			out[j] = '\0';
			return 0;
		}
		i = e + 1;
	}
	return -1;
}

static int
safe_name(const char *s)
{
	return cs_devstate_name_ok(s);
}

/* ------------------------------------------------------------- invite */

struct invite_opts {
	const char *home, *practitioner, *listen, *port;
};

/* Into cs_audit as well as the log line (the device that joined, or none). */
static void
enroll_audit(const struct cs_home *h, enum cs_audit_action a, const uint8_t *dev,
    const uint8_t *practitioner, const char *detail)
{
	struct cs_audit_event ev = {0};
	int rc;

	ev.action = a;
	ev.device = dev;
	ev.detail = detail;
	if ((rc = cs_audit_record(h, &ev, practitioner)) != 0)
		cs_log(CS_LOG_ERR, "audit: cannot record the %s event: %s", cs_audit_action_name(a),
		    cs_audit_strerror(rc));
}

static int
serve_one(int fd, struct cs_home *h, const uint8_t secret[CS_INVITE_SECRET_LEN],
    const struct invite_opts *o, int *failed_msg1, int agent_port, const char *tables_text)
{
	struct cs_noise n;
	uint8_t *buf = NULL, *plain = NULL;
	char *txt = NULL, hex[129], name[CS_HOME_NAME_MAX], line[256];
	struct cs_roster_dev joiner, *r;
	struct cs_roster *saved_rs = NULL;
	uint8_t new_pract[CS_GID_LEN];
	int mrc;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	size_t len, plen, tl = 0, i, txt_cap = MAX_PAYLOAD;
	int rc = -1;

	*failed_msg1 = 0;
	memset(&n, 0, sizeof(n));
	buf = cs_malloc(CS_FRAME_MAX_BODY);
	plain = cs_malloc(CS_FRAME_MAX_BODY);
	txt = cs_malloc(txt_cap);
	if (buf == NULL || plain == NULL || txt == NULL)
		goto out;
	if (noise_begin(&n, 0, secret, h->sec->dh_sk) != 0)
		goto out;
	if (recv_frame(fd, buf, CS_FRAME_MAX_BODY, &len) != 0)
		goto out;
	if (cs_noise_read_message(&n, buf, len, plain, CS_FRAME_MAX_BODY, &plen) != 0) {
		*failed_msg1 = 1;
		goto out;
	}
	if (cs_noise_write_message(&n, NULL, 0, buf, CS_FRAME_MAX_BODY, &len) != 0 ||
	    send_frame(fd, buf, len) != 0)
		goto out;
	if (recv_frame(fd, buf, CS_FRAME_MAX_BODY, &len) != 0 ||
	    cs_noise_read_message(&n, buf, len, plain, CS_FRAME_MAX_BODY - 1, &plen) != 0)
		goto out;
	/* the joiner: id, name, sign key (its X25519 key is the Noise static) */
	memset(&joiner, 0, sizeof(joiner));
	if (line_get((char *)plain, plen, "id", hex, sizeof(hex)) != 0 ||
	    cs_home_unhex(hex, joiner.id, CS_DEVID_LEN) != 0 ||
	    line_get((char *)plain, plen, "sign", hex, sizeof(hex)) != 0 ||
	    cs_home_unhex(hex, joiner.sign_pk, 32) != 0 ||
	    line_get((char *)plain, plen, "name", name, sizeof(name)) != 0 || !safe_name(name) ||
	    cs_noise_remote_static(&n, joiner.dh_pk) != 0) {
		cs_log(CS_LOG_WARNING, "invite: the joiner sent a malformed identity");
		goto out;
	}
	if (cs_home_roster_by_id(h, joiner.id) != NULL) {
		cs_log(CS_LOG_WARNING, "invite: the joiner's device id is already in the roster");
		goto out;
	}
	snprintf(joiner.name, sizeof(joiner.name), "%s", name);
	if (o->practitioner != NULL) {
		randombytes_buf(new_pract, CS_GID_LEN);
		memcpy(joiner.practitioner, new_pract, CS_GID_LEN);
		snprintf(joiner.practitioner_name, sizeof(joiner.practitioner_name), "%s",
		    o->practitioner);
	} else {
		memcpy(joiner.practitioner, h->practitioner, CS_GID_LEN);
		snprintf(joiner.practitioner_name, sizeof(joiner.practitioner_name), "%s",
		    h->practitioner_name);
	}
	/* the joiner's record, signed by this device (agent/roster.h rules);
	 * kept in memory only until the joiner confirms */
	saved_rs = cs_malloc(sizeof(*saved_rs));
	if (saved_rs == NULL)
		goto out;
	*saved_rs = h->rs;
	if ((mrc = cs_roster_make(h, &joiner, 0, 0, 0, NULL, NULL)) != 0) {
		cs_log(CS_LOG_WARNING, "invite: cannot add the joiner: %s",
		    cs_roster_strerror(mrc));
		goto out;
	}
#define ADD(...)                                                                                   \
	do {                                                                                       \
		int k_ = snprintf(txt + tl, txt_cap - tl, __VA_ARGS__);                            \
		if (k_ < 0 || (size_t)k_ >= txt_cap - tl)                                          \
			goto out;                                                                  \
		tl += (size_t)k_;                                                                  \
	} while (0)
	cs_home_hex(h->cabinet_id, CS_CABINET_ID_LEN, hex);
	ADD("cabinet_id=%s\ncabinet_name=%s\nepoch=%u\n", hex, h->cabinet_name, (unsigned)h->epoch);
	cs_home_hex(h->sec->cabinet_key, CS_KEY_LEN, hex);
	ADD("cabinet_key=%s\n", hex);
	sodium_memzero(hex, sizeof(hex));
	cs_home_hex(joiner.practitioner, CS_GID_LEN, hex);
	ADD("practitioner_id=%s\npractitioner_name=%s\n", hex,
	    o->practitioner != NULL ? o->practitioner : h->practitioner_name);
	if (agent_port > 0 && getsockname(fd, (struct sockaddr *)&sa, &salen) == 0 &&
	    sa.sin_family == AF_INET) {
		inet_ntop(AF_INET, &sa.sin_addr, line, sizeof(line));
		ADD("peer=%s:%d\n", line, agent_port);
	}
	cs_home_hex(h->rs.founder, 32, hex);
	ADD("founder=%s\n", hex);
	for (i = 0; i < h->rs.n; i++) {
		uint8_t rb[CS_RREC_LEN];

		if (cs_rrec_encode(&h->rs.recs[i], rb) != 0 || tl + 16 + 2 * CS_RREC_LEN > txt_cap)
			goto out;
		ADD("rec%zu=", i);
		cs_home_hex(rb, CS_RREC_LEN, txt + tl);
		tl += 2 * CS_RREC_LEN;
		ADD("\n");
	}
	/* the tables INI, hex-encoded on one line */
	if (tl + 8 + 2 * strlen(tables_text) + 2 > txt_cap)
		goto out;
	ADD("tables=");
	cs_home_hex((const uint8_t *)tables_text, strlen(tables_text), txt + tl);
	tl += 2 * strlen(tables_text);
	ADD("\n");
#undef ADD
	if (cs_noise_encrypt(&n, (uint8_t *)txt, tl, buf, CS_FRAME_MAX_BODY, &len) != 0 ||
	    send_frame(fd, buf, len) != 0)
		goto out;
	/* the joiner confirms it wrote its home */
	if (recv_frame(fd, buf, CS_FRAME_MAX_BODY, &len) != 0 ||
	    cs_noise_decrypt(&n, buf, len, plain, CS_FRAME_MAX_BODY, &plen) != 0 || plen != 2 ||
	    memcmp(plain, "ok", 2) != 0) {
		cs_log(CS_LOG_WARNING, "invite: the joiner did not confirm");
		goto out;
	}
	if (cs_home_save_roster(h) != 0) {
		cs_log(CS_LOG_ERR, "invite: cannot add the new device to roster.ini");
		goto out;
	}
	r = cs_home_roster_by_id(h, joiner.id);
	cs_home_hex(joiner.id, 8, hex);
	cs_log(CS_LOG_NOTICE, "audit: enroll device \"%s\" (%.16s)", r->name, hex);
	enroll_audit(h, CS_AUDIT_ENROLL, r->id, r->practitioner, "device enrolled by invite");
	rc = 0;
out:
	if (rc != 0 && saved_rs != NULL)
		h->rs = *saved_rs; /* the joiner never confirmed: forget its record */
	if (rc != 0)
		cs_roster_refresh(h);
	cs_free(saved_rs);
	if (txt != NULL) {
		sodium_memzero(txt, txt_cap);
		cs_free(txt);
	}
	if (plain != NULL) {
		sodium_memzero(plain, CS_FRAME_MAX_BODY);
		cs_free(plain);
	}
	cs_free(buf);
	cs_noise_free(&n);
	return rc;
}

static char *
read_text_file(const char *path, size_t max)
{
	FILE *f = fopen(path, "r");
	char *t;
	size_t n;

	if (f == NULL)
		return NULL;
	t = cs_malloc(max + 1);
	if (t == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(t, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		cs_free(t);
		return NULL;
	}
	t[n] = '\0';
	return t;
}

int
cs_invite_cmd(int argc, char **argv)
{
	struct invite_opts o;
	struct cs_home *h;
	uint8_t secret[CS_INVITE_SECRET_LEN];
	char code[CS_INVITE_CODE_MAX], msg[512], path[CS_HOME_PATH_MAX], *tables = NULL;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	int i, lfd = -1, fd, fails = 0, rc = CS_DB_EXIT_FAIL, agent_port = 0, one = 1, f1;
	int64_t ttl = 15 * 60 * 1000, start, now;
	const char *e;
	FILE *pf;
	struct cs_rendezvous rv;

	memset(&rv, 0, sizeof(rv));
	memset(&o, 0, sizeof(o));
	o.listen = "0.0.0.0";
	for (i = 1; i < argc; i++) {
		const char **slot = NULL;

		if (strcmp(argv[i], "--same-practitioner") == 0)
			continue;
		if (strcmp(argv[i], "--home") == 0)
			slot = &o.home;
		else if (strcmp(argv[i], "--practitioner") == 0)
			slot = &o.practitioner;
		else if (strcmp(argv[i], "--listen") == 0)
			slot = &o.listen;
		else if (strcmp(argv[i], "--port") == 0)
			slot = &o.port;
		if (slot == NULL || i + 1 >= argc) {
			fprintf(stderr, "cabsync invite: bad argument '%s' (see cabsync --help).\n",
			    argv[i]);
			return CS_DB_EXIT_USAGE;
		}
		*slot = argv[++i];
	}
	if (o.home == NULL) {
		fprintf(stderr, "cabsync invite: needs --home DIR.\n");
		return CS_DB_EXIT_USAGE;
	}
	if (o.practitioner != NULL && !safe_name(o.practitioner)) {
		fprintf(stderr,
		    "cabsync invite: the practitioner name must be 1 to 63 bytes, "
		    "without ; # [ ] = or control characters.\n");
		return CS_DB_EXIT_USAGE;
	}
	e = getenv("CS_INVITE_TTL_MS");
	if (e != NULL && atoll(e) > 0)
		ttl = atoll(e);
	if (sodium_init() < 0)
		return CS_DB_EXIT_FAIL;
	h = cs_calloc(1, sizeof(*h));
	if (h == NULL)
		return CS_DB_EXIT_FAIL;
	if (cs_home_load(h, o.home, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "cabsync invite: %s\n", msg);
		goto out;
	}
	if (o.practitioner != NULL && !cs_roster_is_admin(h, h->practitioner)) {
		fprintf(stderr,
		    "cabsync invite: only a device of a cabinet-admin may add a practitioner "
		    "(%s is not one); ask an admin, or invite with --same-practitioner.\n",
		    h->practitioner_name);
		rc = CS_DB_EXIT_REFUSED;
		goto out;
	}
	tables = read_text_file(h->tables, 16 * 1024);
	if (tables == NULL) {
		fprintf(stderr,
		    "cabsync invite: %s: cannot read the tables file (or over 16 KiB).\n",
		    h->tables);
		goto out;
	}
	if (cs_home_path(h, "port", path, sizeof(path)) == 0 && (pf = fopen(path, "r")) != NULL) {
		if (fscanf(pf, "%d", &agent_port) != 1)
			agent_port = 0;
		fclose(pf);
	}
	if (agent_port == 0)
		agent_port = h->port;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)(o.port != NULL ? atoi(o.port) : 0));
	if (lfd < 0 || inet_pton(AF_INET, o.listen, &sa.sin_addr) != 1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 4) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
		fprintf(stderr, "cabsync invite: cannot listen on %s: %s.\n", o.listen,
		    strerror(errno));
		goto out;
	}
	randombytes_buf(secret, sizeof(secret));
	cs_invite_code_format(secret, code);
	printf("invite code: %s\n", code);
	printf("on the new PC: cabsync join %s --home DIR --db APP.db [--peer ADDRESS:%d]\n", code,
	    ntohs(sa.sin_port));
	printf("port: %d\nthe code works once and expires in %lld minute(s).\n", ntohs(sa.sin_port),
	    (long long)(ttl + 59999) / 60000);
	fflush(stdout);
	/* findable over mDNS by the code holder only (agent/rendezvous.h) */
	if (getenv("CS_NO_MDNS") == NULL &&
	    cs_rendezvous_publish(&rv, secret, ntohs(sa.sin_port)) != 0)
		cs_log(CS_LOG_WARNING, "invite: mDNS could not start; the new PC needs --peer");
	start = cs_mono_ms();
	for (;;) {
		struct pollfd pfd[2] = {{lfd, POLLIN, 0}, {cs_rendezvous_fd(&rv), POLLIN, 0}};
		int wait_ms = cs_rendezvous_timeout(&rv), np;

		now = cs_mono_ms();
		if (now - start > ttl + GRACE_MS) {
			fprintf(stderr, "cabsync invite: the code expired; nobody joined.\n");
			rc = CS_DB_EXIT_FAIL;
			break;
		}
		if (wait_ms < 0 || wait_ms > 1000)
			wait_ms = 1000;
		np = poll(pfd, pfd[1].fd >= 0 ? 2 : 1, wait_ms);
		cs_rendezvous_run(&rv);
		if (np <= 0 || !(pfd[0].revents & POLLIN))
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (cs_mono_ms() - start > ttl) {
			/* expired: refuse at message 1, as for a wrong code */
			uint8_t *m1 = cs_malloc(CS_FRAME_MAX_BODY);
			size_t m1len;

			if (m1 != NULL)
				(void)recv_frame(fd, m1, CS_FRAME_MAX_BODY, &m1len);
			cs_free(m1);
			cs_log(CS_LOG_NOTICE,
			    "audit: enroll-refused: attempt after the code expired");
			enroll_audit(h, CS_AUDIT_HANDSHAKE, NULL, NULL,
			    "enrollment refused: invite code expired");
			close(fd);
			continue;
		}
		if (serve_one(fd, h, secret, &o, &f1, agent_port, tables) == 0) {
			close(fd);
			printf("joined: the new device is in the roster.\n");
			rc = 0;
			break;
		}
		close(fd);
		if (f1) {
			fails++;
			cs_log(CS_LOG_NOTICE,
			    "audit: enroll-refused: wrong code at message 1 (%d of %d)", fails,
			    CS_INVITE_MAX_FAILS);
			enroll_audit(h, CS_AUDIT_HANDSHAKE, NULL, NULL,
			    "enrollment refused: wrong invite code at message 1");
			if (fails >= CS_INVITE_MAX_FAILS) {
				fprintf(stderr,
				    "cabsync invite: %d failed attempts: the code is "
				    "cancelled.\n",
				    fails);
				rc = CS_DB_EXIT_FAIL;
				break;
			}
		}
	}
out:
	cs_rendezvous_stop(&rv);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(code, sizeof(code));
	if (lfd >= 0)
		close(lfd);
	cs_free(tables);
	cs_home_free(h);
	cs_free(h);
	return rc;
}

/* --------------------------------------------------------------- join */

static int
connect_sa(const struct sockaddr_storage *ss)
{
	socklen_t len =
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)ss, len) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
connect_to(const char *spec)
{
	struct cs_peer_addr pa;
	struct sockaddr_storage ss;
	struct sockaddr_in *sa = (struct sockaddr_in *)&ss;

	if (cs_addr_parse(spec, 7433, &pa) != 0)
		return -1;
	memset(&ss, 0, sizeof(ss));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(pa.port);
	if (inet_pton(AF_INET, pa.host, &sa->sin_addr) != 1)
		return -1;
	return connect_sa(&ss);
}

/* Apply the inviter's payload to h. 0 or -1. */
static int
take_payload(struct cs_home *h, const char *t, size_t len, char **tables_out)
{
	char v[512], key[16], *tables;
	struct cs_rrec *recs = NULL;
	struct cs_roster_dev *me;
	uint8_t *rb = NULL;
	size_t i, tl, nrec = 0;
	unsigned long ep;
	int *verdict = NULL;

	if (line_get(t, len, "cabinet_id", v, sizeof(v)) != 0 ||
	    cs_home_unhex(v, h->cabinet_id, CS_CABINET_ID_LEN) != 0)
		return -1;
	if (line_get(t, len, "cabinet_name", v, sizeof(v)) != 0 || !safe_name(v))
		return -1;
	snprintf(h->cabinet_name, sizeof(h->cabinet_name), "%s", v);
	if (line_get(t, len, "epoch", v, sizeof(v)) != 0)
		return -1;
	ep = strtoul(v, NULL, 10);
	if (ep == 0 || ep > 0xffffffffUL)
		return -1;
	h->epoch = (uint32_t)ep;
	if (line_get(t, len, "cabinet_key", v, sizeof(v)) != 0 ||
	    cs_home_unhex(v, h->sec->cabinet_key, CS_KEY_LEN) != 0) {
		sodium_memzero(v, sizeof(v));
		return -1;
	}
	sodium_memzero(v, sizeof(v));
	if (line_get(t, len, "practitioner_id", v, sizeof(v)) != 0 ||
	    cs_home_unhex(v, h->practitioner, CS_GID_LEN) != 0)
		return -1;
	if (line_get(t, len, "practitioner_name", v, sizeof(v)) != 0 || !safe_name(v))
		return -1;
	snprintf(h->practitioner_name, sizeof(h->practitioner_name), "%s", v);
	if (line_get(t, len, "peer", v, sizeof(v)) == 0 && h->npeers < CS_HOME_MAX_PEERS &&
	    strpbrk(v, ";#\n") == NULL)
		snprintf(h->peers[h->npeers++], sizeof(h->peers[0]), "%s", v);
	/* the signed roster: the founder's key, then every record */
	if (line_get(t, len, "founder", v, sizeof(v)) != 0 ||
	    cs_home_unhex(v, h->rs.founder, 32) != 0)
		return -1;
	h->base_epoch = h->epoch;
	h->sec->keys[0].epoch = h->epoch;
	memcpy(h->sec->keys[0].key, h->sec->cabinet_key, CS_KEY_LEN);
	h->sec->nkeys = 1;
	recs = cs_calloc(CS_RREC_MAX, sizeof(*recs));
	verdict = cs_calloc(CS_RREC_MAX, sizeof(*verdict));
	rb = cs_malloc(CS_RREC_LEN * 2 + 2);
	if (recs == NULL || verdict == NULL || rb == NULL)
		goto bad;
	for (i = 0; i < CS_RREC_MAX; i++) {
		snprintf(key, sizeof(key), "rec%zu", i);
		if (line_get(t, len, key, (char *)rb, CS_RREC_LEN * 2 + 2) != 0)
			break;
		if (cs_home_unhex((char *)rb, rb, CS_RREC_LEN) != 0 ||
		    cs_rrec_decode(rb, CS_RREC_LEN, h->cabinet_id, &recs[nrec]) != 0)
			goto bad;
		nrec++;
	}
	if (cs_roster_merge(h, recs, nrec, verdict, NULL) != 0)
		goto bad;
	for (i = 0; i < nrec; i++)
		if (verdict[i] != 0)
			goto bad; /* the inviter sends only records its rules accepted */
	me = cs_home_roster_by_id(h, h->device_id);
	if (me == NULL || me->revoked || sodium_memcmp(me->dh_pk, h->dh_pk, 32) != 0 ||
	    sodium_memcmp(me->sign_pk, h->sign_pk, 32) != 0)
		goto bad; /* the inviter did not sign us in */
	cs_free(recs);
	cs_free(verdict);
	cs_free(rb);
	recs = NULL;
	verdict = NULL;
	rb = NULL;
	/* tables: the hex line, decoded */
	{
		const char *p = NULL;
		size_t k = 0;

		while (k < len) {
			size_t end = k;

			while (end < len && t[end] != '\n')
				end++;
			if (end - k >= 7 && memcmp(t + k, "tables=", 7) == 0) {
				p = t + k + 7;
				tl = end - k - 7;
				break;
			}
			k = end + 1;
		}
		if (p == NULL || tl % 2 != 0 || tl == 0)
			return -1;
		tables = cs_malloc(tl / 2 + 1);
		if (tables == NULL)
			return -1;
		{
			size_t bl;

			if (sodium_hex2bin((uint8_t *)tables, tl / 2, p, tl, NULL, &bl, NULL) !=
			        0 ||
			    bl != tl / 2 || memchr(tables, '\0', bl) != NULL) {
				cs_free(tables);
				return -1;
			}
		}
		tables[tl / 2] = '\0';
		*tables_out = tables;
	}
	return 0;
bad:
	cs_free(recs);
	cs_free(verdict);
	cs_free(rb);
	return -1;
}

int
cs_join_cmd(int argc, char **argv)
{
	const char *code = NULL, *home = NULL, *db = NULL, *peer = NULL, *dname = NULL;
	uint8_t secret[CS_INVITE_SECRET_LEN];
	struct cs_home *h = NULL;
	struct cs_noise n;
	uint8_t *buf = NULL, *plain = NULL;
	char hex[65], ident[256], path[CS_HOME_PATH_MAX], host[256], msg[512], *tables = NULL;
	char found[96];
	size_t len, plen;
	struct stat sb;
	int i, fd = -1, rc = CS_DB_EXIT_FAIL, enable_wal = 0, prc;
	FILE *f;

	memset(&n, 0, sizeof(n));
	for (i = 1; i < argc; i++) {
		const char **slot = NULL;

		if (strcmp(argv[i], "--enable-wal") == 0) {
			enable_wal = 1;
			continue;
		}
		if (strncmp(argv[i], "--", 2) != 0 && code == NULL) {
			code = argv[i];
			continue;
		}
		if (strcmp(argv[i], "--home") == 0)
			slot = &home;
		else if (strcmp(argv[i], "--db") == 0)
			slot = &db;
		else if (strcmp(argv[i], "--peer") == 0)
			slot = &peer;
		else if (strcmp(argv[i], "--device-name") == 0)
			slot = &dname;
		if (slot == NULL || i + 1 >= argc) {
			fprintf(stderr, "cabsync join: bad argument '%s' (see cabsync --help).\n",
			    argv[i]);
			return CS_DB_EXIT_USAGE;
		}
		*slot = argv[++i];
	}
	if (code == NULL || home == NULL || db == NULL) {
		fprintf(stderr, "cabsync join: needs CODE, --home DIR and --db APP.db.\n");
		return CS_DB_EXIT_USAGE;
	}
	if (dname == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "pc");
		host[CS_HOME_NAME_MAX - 1] = '\0';
		dname = host;
	}
	if (!safe_name(dname)) {
		fprintf(stderr,
		    "cabsync join: the device name must be 1 to 63 bytes, without ; # [ ] "
		    "= or control characters.\n");
		return CS_DB_EXIT_USAGE;
	}
	prc = cs_invite_code_parse(code, secret);
	if (prc == CS_ECORRUPT) {
		fprintf(stderr,
		    "cabsync join: the code has a typo (its check character does not "
		    "match); type it again.\n");
		return CS_DB_EXIT_USAGE;
	}
	if (prc != 0) {
		fprintf(stderr,
		    "cabsync join: this is not an invite code (33 characters A-Z, 2-7, "
		    "in groups).\n");
		return CS_DB_EXIT_USAGE;
	}
	if (sodium_init() < 0)
		goto out;
	h = cs_calloc(1, sizeof(*h));
	buf = cs_malloc(CS_FRAME_MAX_BODY);
	plain = cs_malloc(CS_FRAME_MAX_BODY + 1);
	if (h == NULL || buf == NULL || plain == NULL || cs_home_secrets_alloc(h) != 0)
		goto out;
	if (mkdir(home, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "cabsync join: %s: cannot create the home directory: %s.\n", home,
		    strerror(errno));
		goto out;
	}
	if (realpath(home, h->dir) == NULL) {
		fprintf(stderr, "cabsync join: %s: the home is not a directory.\n", home);
		goto out;
	}
	if (cs_home_path(h, "cabsync.ini", path, sizeof(path)) == 0 && stat(path, &sb) == 0) {
		fprintf(stderr,
		    "cabsync join: %s: this home is already initialised; it is never "
		    "overwritten.\n",
		    home);
		rc = CS_DB_EXIT_REFUSED;
		goto out;
	}
	if (realpath(db, h->db) == NULL) {
		fprintf(stderr, "cabsync join: %s: no such database file.\n", db);
		goto out;
	}
	snprintf(h->device_name, sizeof(h->device_name), "%s", dname);
	randombytes_buf(h->device_id, CS_DEVID_LEN);
	randombytes_buf(h->sec->dh_sk, 32);
	crypto_scalarmult_base(h->dh_pk, h->sec->dh_sk);
	crypto_sign_keypair(h->sign_pk, h->sec->sign_sk);
	if (peer == NULL) {
		/* no address: look the invite up over mDNS (agent/rendezvous.h) */
		struct cs_rendezvous rv;
		const char *e = getenv("CS_JOIN_FIND_MS");

		if (cs_rendezvous_find(&rv, secret, e != NULL && atoi(e) > 0 ? atoi(e) : FIND_MS,
		        msg, sizeof(msg)) != 0) {
			fprintf(stderr, "cabsync join: %s.\n", msg);
			goto out;
		}
		snprintf(found, sizeof(found), "%s port %u", rv.addr, rv.port);
		peer = found;
		printf("found the inviter on the LAN at %s\n", found);
		fflush(stdout);
		fd = connect_sa(&rv.sa);
	} else {
		fd = connect_to(peer);
	}
	if (fd < 0) {
		fprintf(stderr, "cabsync join: cannot reach the inviter at %s.\n", peer);
		goto out;
	}
	if (noise_begin(&n, 1, secret, h->sec->dh_sk) != 0 ||
	    cs_noise_write_message(&n, NULL, 0, buf, CS_FRAME_MAX_BODY, &len) != 0 ||
	    send_frame(fd, buf, len) != 0)
		goto fail_io;
	if (recv_frame(fd, buf, CS_FRAME_MAX_BODY, &len) != 0) {
		/* the inviter closed after message 1: wrong psk, or expired */
		fprintf(stderr, "cabsync join: invalid or expired code.\n");
		goto out;
	}
	if (cs_noise_read_message(&n, buf, len, plain, CS_FRAME_MAX_BODY, &plen) != 0) {
		fprintf(stderr, "cabsync join: invalid or expired code.\n");
		goto out;
	}
	cs_home_hex(h->device_id, CS_DEVID_LEN, hex);
	snprintf(ident, sizeof(ident), "id=%s\nname=%s\n", hex, dname);
	cs_home_hex(h->sign_pk, 32, hex);
	snprintf(ident + strlen(ident), sizeof(ident) - strlen(ident), "sign=%s\n", hex);
	if (cs_noise_write_message(&n, (uint8_t *)ident, strlen(ident), buf, CS_FRAME_MAX_BODY,
	        &len) != 0 ||
	    send_frame(fd, buf, len) != 0)
		goto fail_io;
	if (recv_frame(fd, buf, CS_FRAME_MAX_BODY, &len) != 0 ||
	    cs_noise_decrypt(&n, buf, len, plain, CS_FRAME_MAX_BODY, &plen) != 0)
		goto fail_io;
	plain[plen] = '\0';
	if (take_payload(h, (char *)plain, plen, &tables) != 0) {
		fprintf(stderr, "cabsync join: the inviter sent a malformed enrollment.\n");
		goto out;
	}
	/* the tracked tables, as the cabinet defines them */
	if (cs_home_path(h, "tables.ini", h->tables, sizeof(h->tables)) != 0)
		goto out;
	f = fopen(h->tables, "wx");
	if (f == NULL || fputs(tables, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "cabsync join: %s: cannot write the tables file: %s.\n", h->tables,
		    strerror(errno));
		goto out;
	}
	rc = cs_init_install(h, enable_wal, "join");
	if (rc != 0)
		goto out;
	rc = CS_DB_EXIT_FAIL;
	msg[0] = '\0';
	if (cs_home_save(h, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "cabsync join: %s\n", msg[0] ? msg : "cannot write the home.");
		goto out;
	}
	if (cs_noise_encrypt(&n, (const uint8_t *)"ok", 2, buf, CS_FRAME_MAX_BODY, &len) != 0 ||
	    send_frame(fd, buf, len) != 0)
		goto fail_io;
	printf("joined cabinet \"%s\" as practitioner \"%s\", device \"%s\"; start the agent: "
	       "cabsync agent --home %s\n",
	    h->cabinet_name, h->practitioner_name, h->device_name, h->dir);
	rc = 0;
	goto out;
fail_io:
	fprintf(stderr,
	    "cabsync join: the enrollment with %s failed (connection lost or "
	    "refused).\n",
	    peer);
out:
	sodium_memzero(secret, sizeof(secret));
	if (plain != NULL) {
		sodium_memzero(plain, CS_FRAME_MAX_BODY + 1);
		cs_free(plain);
	}
	cs_free(buf);
	cs_free(tables);
	cs_noise_free(&n);
	if (fd >= 0)
		close(fd);
	if (h != NULL)
		cs_home_free(h);
	cs_free(h);
	return rc;
}
