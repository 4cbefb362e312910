/*
 * agent/tray/tray_status.c: decoder of the status answer and the icon state
 * (see tray_status.h). The JSON grammar accepted is RFC 8259 restricted to
 * what the agent writes (docs/PROTOCOL.md §8): one object; known keys are
 * type-checked, unknown keys are skipped (up to CS_TRAY_MAX_DEPTH nesting)
 * so that a newer agent adding fields still shows correctly.
 */
#include "agent/tray/tray_status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/err.h"

struct jp {
	const char *p;
	const char *end;
};

static void
ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int
eat(struct jp *j, char c)
{
	ws(j);
	if (j->p >= j->end || *j->p != c)
		return CS_EINVAL;
	j->p++;
	return 0;
}

static int
peek(struct jp *j)
{
	ws(j);
	return j->p < j->end ? (unsigned char)*j->p : -1;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A string into out (cap > 0; NULL to skip it), truncated to fit. Escapes
 * are decoded; \u of a non-ASCII or control code point and raw control
 * bytes become '?' (the text goes to a label, never to a shell).
 */
static int
str(struct jp *j, char *out, size_t cap)
{
	size_t n = 0;
	char c;
	int i, v, u;

	if (eat(j, '"') != 0)
		return CS_EINVAL;
	for (;;) {
		if (j->p >= j->end)
			return CS_EINVAL;
		c = *j->p++;
		if (c == '"')
			break;
		if ((unsigned char)c < 0x20)
			return CS_EINVAL; /* RFC 8259 §7: control characters are escaped */
		if (c == '\\') {
			if (j->p >= j->end)
				return CS_EINVAL;
			c = *j->p++;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				break;
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				c = '?';
				break;
			case 'u':
				if (j->end - j->p < 4)
					return CS_EINVAL;
				u = 0;
				for (i = 0; i < 4; i++) {
					if ((v = hexval(j->p[i])) < 0)
						return CS_EINVAL;
					u = u << 4 | v;
				}
				j->p += 4;
				c = (u >= 0x20 && u < 0x7f) ? (char)u : '?';
				break;
			default:
				return CS_EINVAL;
			}
		}
		if (out != NULL && n + 1 < cap)
			out[n++] = c;
	}
	if (out != NULL) {
		/* never cut a UTF-8 sequence in the middle: drop a partial tail */
		if (n + 1 >= cap) {
			while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
				n--;
			if (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0xc0)
				n--;
		}
		out[n] = '\0';
	}
	return 0;
}

/* A JSON number; *v gets it when it is an integer within int64_t. */
static int
num(struct jp *j, int64_t *v, int *is_int)
{
	int neg = 0, digits = 0, frac = 0;
	uint64_t a = 0;

	ws(j);
	*is_int = 0;
	if (j->p < j->end && *j->p == '-') {
		neg = 1;
		j->p++;
	}
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		if (a > (UINT64_MAX - 9) / 10)
			frac = 1; /* too large: still a number, not an integer we keep */
		else
			a = a * 10 + (uint64_t)(*j->p - '0');
		j->p++;
		digits++;
	}
	if (digits == 0)
		return CS_EINVAL;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		frac = 1;
		digits = 0;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
			j->p++;
			digits++;
		}
		if (digits == 0)
			return CS_EINVAL;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		frac = 1;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		digits = 0;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
			j->p++;
			digits++;
		}
		if (digits == 0)
			return CS_EINVAL;
	}
	if (!frac && a <= (uint64_t)INT64_MAX) {
		*v = neg ? -(int64_t)a : (int64_t)a;
		*is_int = 1;
	}
	return 0;
}

static int
word(struct jp *j, const char *w)
{
	size_t n = strlen(w);

	ws(j);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return CS_EINVAL;
	j->p += n;
	return 0;
}

/* 1 true, 0 false, CS_EINVAL otherwise */
static int
boolean(struct jp *j)
{
	if (peek(j) == 't')
		return word(j, "true") == 0 ? 1 : CS_EINVAL;
	if (peek(j) == 'f')
		return word(j, "false") == 0 ? 0 : CS_EINVAL;
	return CS_EINVAL;
}

static int
skip(struct jp *j, int depth)
{
	int64_t v;
	int c, isint;

	if (depth > CS_TRAY_MAX_DEPTH)
		return CS_EINVAL;
	c = peek(j);
	switch (c) {
	case '"':
		return str(j, NULL, 0);
	case 't':
		return word(j, "true");
	case 'f':
		return word(j, "false");
	case 'n':
		return word(j, "null");
	case '{':
	case '[':
		j->p++;
		if (peek(j) == (c == '{' ? '}' : ']')) {
			j->p++;
			return 0;
		}
		for (;;) {
			if (c == '{' && (str(j, NULL, 0) != 0 || eat(j, ':') != 0))
				return CS_EINVAL;
			if (skip(j, depth + 1) != 0)
				return CS_EINVAL;
			if (peek(j) == ',') {
				j->p++;
				continue;
			}
			return eat(j, c == '{' ? '}' : ']');
		}
	default:
		return num(j, &v, &isint);
	}
}

/* An integer field (or null → -1 when nullable). */
static int
intval(struct jp *j, int64_t *v, int nullable)
{
	int isint;

	if (nullable && peek(j) == 'n') {
		*v = -1;
		return word(j, "null");
	}
	if (num(j, v, &isint) != 0 || !isint)
		return CS_EINVAL;
	return 0;
}

static int
peer(struct jp *j, struct cs_tray_peer *pe)
{
	char key[32];
	int b;

	memset(pe, 0, sizeof(*pe));
	pe->pending = -1;
	pe->replica = 1;
	if (eat(j, '{') != 0)
		return CS_EINVAL;
	if (peek(j) == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		if (str(j, key, sizeof(key)) != 0 || eat(j, ':') != 0)
			return CS_EINVAL;
		if (strcmp(key, "name") == 0) {
			if (str(j, pe->name, sizeof(pe->name)) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "device") == 0) {
			if (str(j, pe->device, sizeof(pe->device)) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "online") == 0 || strcmp(key, "revoked") == 0 ||
		    strcmp(key, "replica") == 0) {
			if ((b = boolean(j)) < 0)
				return CS_EINVAL;
			if (key[0] == 'o')
				pe->online = b;
			else if (key[2] == 'v')
				pe->revoked = b;
			else
				pe->replica = b;
		} else if (strcmp(key, "last_sync") == 0) {
			if (intval(j, &pe->last_sync, 0) != 0 || pe->last_sync < 0)
				return CS_EINVAL;
		} else if (strcmp(key, "pending") == 0) {
			if (intval(j, &pe->pending, 1) != 0 || pe->pending < -1)
				return CS_EINVAL;
		} else if (skip(j, 2) != 0) {
			return CS_EINVAL;
		}
		if (peek(j) == ',') {
			j->p++;
			continue;
		}
		return eat(j, '}');
	}
}

static int
peers(struct jp *j, struct cs_tray_status *st)
{
	struct cs_tray_peer tmp;

	if (eat(j, '[') != 0)
		return CS_EINVAL;
	if (peek(j) == ']') {
		j->p++;
		return 0;
	}
	for (;;) {
		if (peer(j, &tmp) != 0)
			return CS_EINVAL;
		if (!tmp.revoked && tmp.replica) {
			st->colleagues++;
			if (tmp.online)
				st->online++;
			if (tmp.pending >= 0 && (st->pending < 0 || tmp.pending < st->pending))
				st->pending = tmp.pending;
		}
		if (st->npeers < CS_TRAY_MAX_PEERS)
			st->peers[st->npeers++] = tmp;
		else
			st->nextra++;
		if (peek(j) == ',') {
			j->p++;
			continue;
		}
		return eat(j, ']');
	}
}

void
cs_tray_status_set_error(struct cs_tray_status *st, const char *why)
{
	st->state = CS_TRAY_ERROR;
	snprintf(st->error, sizeof(st->error), "%s", why);
}

static void
decide(struct cs_tray_status *st)
{
	if (st->error[0] != '\0')
		st->state = CS_TRAY_ERROR;
	else if (st->conflicts > 0)
		st->state = CS_TRAY_CONFLICT;
	else if (strcmp(st->agent_state, "paused") == 0)
		st->state = CS_TRAY_PAUSED;
	else if (st->colleagues == 0)
		st->state = CS_TRAY_LOCAL;
	else if (st->online == 0)
		st->state = CS_TRAY_OFFLINE;
	else if (st->pending == 0)
		st->state = CS_TRAY_SYNCED;
	else
		st->state = CS_TRAY_SYNCING;
}

int
cs_tray_status_parse(const char *js, size_t len, struct cs_tray_status *st)
{
	struct jp j = {js, js + len};
	char key[32], agent_error[128];
	int64_t top_pending = -1;
	int seen_state = 0, seen_peers = 0, seen_pending = 0, rc = CS_EINVAL;

	memset(st, 0, sizeof(*st));
	st->conflicts = -1;
	st->pending = -1;
	agent_error[0] = '\0';
	if (js == NULL || eat(&j, '{') != 0)
		goto out;
	if (peek(&j) == '}') {
		j.p++;
		goto end;
	}
	for (;;) {
		if (str(&j, key, sizeof(key)) != 0 || eat(&j, ':') != 0)
			goto out;
		if (strcmp(key, "state") == 0) {
			if (str(&j, st->agent_state, sizeof(st->agent_state)) != 0)
				goto out;
			seen_state = 1;
		} else if (strcmp(key, "name") == 0) {
			if (str(&j, st->device_name, sizeof(st->device_name)) != 0)
				goto out;
		} else if (strcmp(key, "device") == 0) {
			if (str(&j, st->device, sizeof(st->device)) != 0)
				goto out;
		} else if (strcmp(key, "error") == 0) {
			if (str(&j, agent_error, sizeof(agent_error)) != 0)
				goto out;
			if (agent_error[0] == '\0')
				snprintf(agent_error, sizeof(agent_error), "unspecified");
		} else if (strcmp(key, "db_version") == 0) {
			if (intval(&j, &st->db_version, 0) != 0)
				goto out;
		} else if (strcmp(key, "conflicts") == 0) {
			if (intval(&j, &st->conflicts, 0) != 0 || st->conflicts < 0)
				goto out;
		} else if (strcmp(key, "pending") == 0) {
			if (seen_pending || intval(&j, &top_pending, 1) != 0 || top_pending < -1)
				goto out;
			seen_pending = 1;
		} else if (strcmp(key, "peers") == 0) {
			if (seen_peers || peers(&j, st) != 0)
				goto out;
			seen_peers = 1;
		} else if (skip(&j, 1) != 0) {
			goto out;
		}
		if (peek(&j) == ',') {
			j.p++;
			continue;
		}
		if (eat(&j, '}') != 0)
			goto out;
		break;
	}
end:
	ws(&j);
	if (j.p != j.end)
		goto out; /* one object and nothing after it */
	if (agent_error[0] != '\0') {
		snprintf(st->error, sizeof(st->error), "the agent reports an error: %s",
		    agent_error);
		st->state = CS_TRAY_ERROR;
		return 0;
	}
	if (!seen_state || !seen_peers)
		goto out;
	if (strcmp(st->agent_state, "synced") != 0 && strcmp(st->agent_state, "syncing") != 0 &&
	    strcmp(st->agent_state, "offline") != 0 && strcmp(st->agent_state, "paused") != 0) {
		snprintf(st->error, sizeof(st->error), "the agent reports an unknown state");
		st->state = CS_TRAY_ERROR;
		return 0;
	}
	/* the agent's own count (it knows what no device has) wins */
	if (seen_pending)
		st->pending = top_pending;
	decide(st);
	rc = 0;
out:
	if (rc != 0) {
		memset(st, 0, sizeof(*st));
		st->conflicts = -1;
		st->pending = -1;
		cs_tray_status_set_error(st, "the agent's status answer is unreadable");
	}
	return rc;
}

const char *
cs_tray_state_name(int state)
{
	static const char *const names[CS_TRAY_NSTATES] = {
	    [CS_TRAY_ERROR] = "error",
	    [CS_TRAY_CONFLICT] = "conflict",
	    [CS_TRAY_PAUSED] = "paused",
	    [CS_TRAY_LOCAL] = "local",
	    [CS_TRAY_OFFLINE] = "offline",
	    [CS_TRAY_SYNCED] = "synced",
	    [CS_TRAY_SYNCING] = "syncing",
	};

	if (state < 0 || state >= CS_TRAY_NSTATES)
		return "error";
	return names[state];
}

static const char *
plural(int64_t n)
{
	return n == 1 ? "" : "s";
}

void
cs_tray_status_headline(const struct cs_tray_status *st, char *out, size_t cap)
{
	switch (st->state) {
	case CS_TRAY_CONFLICT:
		snprintf(out, cap, "%lld conflict%s to review", (long long)st->conflicts,
		    plural(st->conflicts));
		break;
	case CS_TRAY_PAUSED:
		snprintf(out, cap, "Sync paused: changes stay on this PC");
		break;
	case CS_TRAY_LOCAL:
		snprintf(out, cap, "Local only: no other device, nothing is backed up");
		break;
	case CS_TRAY_OFFLINE:
		/* pending: the agent recounts its commits also while offline
		 * (PROTOCOL.md §8.1); unknown after a restart until an ACK */
		if (st->pending > 0)
			snprintf(out, cap, "Offline: %lld change%s waiting", (long long)st->pending,
			    plural(st->pending));
		else if (st->pending == 0)
			snprintf(out, cap, "Offline: no colleague reachable, nothing waiting");
		else
			snprintf(out, cap, "Offline: no colleague reachable");
		break;
	case CS_TRAY_SYNCED:
		snprintf(out, cap, "Synced: safe to shut down");
		break;
	case CS_TRAY_SYNCING:
		if (st->pending > 0)
			snprintf(out, cap, "Syncing: %lld change%s to send", (long long)st->pending,
			    plural(st->pending));
		else
			snprintf(out, cap, "Syncing");
		break;
	default:
		snprintf(out, cap, "Error: %s", st->error[0] != '\0' ? st->error : "unknown");
		break;
	}
}

static void
when(int64_t t, int64_t now, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(out, cap, "never");
		return;
	}
	if (now >= t && now - t < 60) {
		snprintf(out, cap, "just now");
		return;
	}
	if (now >= t && now - t < 3600) {
		snprintf(out, cap, "%lld min ago", (long long)((now - t) / 60));
		return;
	}
	if (localtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, cap, "?");
}

/* Append to out at *n, never past cap. */
static void
add(char *out, size_t cap, size_t *n, const char *s)
{
	size_t l = strlen(s);

	if (*n >= cap - 1)
		return;
	if (l > cap - 1 - *n)
		l = cap - 1 - *n;
	memcpy(out + *n, s, l);
	*n += l;
	out[*n] = '\0';
}

void
cs_tray_status_tooltip(const struct cs_tray_status *st, int64_t now, char *out, size_t cap)
{
	char line[256], w[48];
	size_t n = 0, i, k = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	add(out, cap, &n, "cabsync: ");
	cs_tray_status_headline(st, line, sizeof(line));
	add(out, cap, &n, line);
	if (st->state == CS_TRAY_ERROR)
		return;
	add(out, cap, &n, "\nColleagues online: ");
	for (i = 0; i < st->npeers; i++) {
		if (st->peers[i].revoked || !st->peers[i].online)
			continue;
		add(out, cap, &n, k++ > 0 ? ", " : "");
		add(out, cap, &n, st->peers[i].name);
	}
	if (k == 0)
		add(out, cap, &n, "none");
	for (i = 0; i < st->npeers; i++) {
		if (st->peers[i].revoked)
			continue;
		when(st->peers[i].last_sync, now, w, sizeof(w));
		snprintf(line, sizeof(line), "\n%s: %s, last sync %s", st->peers[i].name,
		    st->peers[i].online ? "online" : "offline", w);
		add(out, cap, &n, line);
	}
	if (st->nextra > 0) {
		snprintf(line, sizeof(line), "\n(%zu more devices)", st->nextra);
		add(out, cap, &n, line);
	}
	if (st->pending >= 0)
		snprintf(line, sizeof(line), "\nChanges waiting: %lld", (long long)st->pending);
	else
		snprintf(line, sizeof(line), "\nChanges waiting: unknown");
	add(out, cap, &n, line);
	if (st->conflicts >= 0) {
		snprintf(line, sizeof(line), "\nConflicts to review: %lld",
		    (long long)st->conflicts);
		add(out, cap, &n, line);
	}
}

/* ---------------------------------------------------------------- events */

static const struct {
	const char *name;
	int kind;
} evnames[] = {
    {"status", CS_TRAY_EV_STATUS},
    {"peer", CS_TRAY_EV_PEER},
    {"conflict", CS_TRAY_EV_CONFLICT},
    {"share_received", CS_TRAY_EV_SHARE_RECV},
    {"share_revoked", CS_TRAY_EV_SHARE_REVOKED},
    {"relay_login", CS_TRAY_EV_RELAY_LOGIN},
    {"stopping", CS_TRAY_EV_STOPPING},
};

/* "{" key ":" ... : the next key into key, 1 at the closing "}", CS_EINVAL. */
static int
next_key(struct jp *j, int *first, char *key, size_t cap)
{
	if (*first) {
		*first = 0;
		if (eat(j, '{') != 0)
			return CS_EINVAL;
		if (peek(j) == '}') {
			j->p++;
			return 1;
		}
	} else {
		if (peek(j) == '}') {
			j->p++;
			return 1;
		}
		if (eat(j, ',') != 0)
			return CS_EINVAL;
	}
	if (str(j, key, cap) != 0 || eat(j, ':') != 0)
		return CS_EINVAL;
	return 0;
}

/* Nothing but white space after the object. */
static int
at_end(struct jp *j)
{
	ws(j);
	return j->p == j->end ? 0 : CS_EINVAL;
}

int
cs_tray_event_parse(const char *js, size_t len, struct cs_tray_event *ev)
{
	struct jp j = {js, js + len};
	char key[32], name[32];
	int first = 1, rc, b, seen = 0;
	size_t i;

	memset(ev, 0, sizeof(*ev));
	if (js == NULL)
		return CS_EINVAL;
	while ((rc = next_key(&j, &first, key, sizeof(key))) == 0) {
		if (strcmp(key, "event") == 0) {
			if (seen || str(&j, name, sizeof(name)) != 0)
				goto bad;
			seen = 1;
			for (i = 0; i < sizeof(evnames) / sizeof(evnames[0]); i++)
				if (strcmp(name, evnames[i].name) == 0)
					ev->kind = evnames[i].kind;
		} else if (strcmp(key, "error") == 0) {
			if (str(&j, ev->error, sizeof(ev->error)) != 0)
				goto bad;
			seen = 2;
		} else if (strcmp(key, "name") == 0 || strcmp(key, "from_name") == 0) {
			if (str(&j, ev->name, sizeof(ev->name)) != 0)
				goto bad;
		} else if (strcmp(key, "online") == 0) {
			if ((b = boolean(&j)) < 0)
				goto bad;
			ev->online = b;
		} else if (strcmp(key, "open") == 0 || strcmp(key, "new") == 0) {
			int64_t v;

			if (intval(&j, &v, 0) != 0 || v < 0)
				goto bad;
			if (key[0] == 'o')
				ev->open = v;
			else
				ev->added = v;
		} else if (strcmp(key, "permission") == 0) {
			if (str(&j, ev->permission, sizeof(ev->permission)) != 0)
				goto bad;
		} else if (strcmp(key, "patient_label") == 0) {
			if (str(&j, ev->label, sizeof(ev->label)) != 0)
				goto bad;
		} else if (skip(&j, 1) != 0) {
			goto bad;
		}
	}
	if (rc < 0 || at_end(&j) != 0 || !seen)
		goto bad;
	if (seen == 2)
		ev->kind = CS_TRAY_EV_ERROR;
	return 0;
bad:
	memset(ev, 0, sizeof(*ev));
	return CS_EINVAL;
}

/* ---------------------------------------------------------------- answers */

/* An {"error":"..."} answer: its sentence into err, CS_EINVAL; else 0. */
static int
error_answer(const char *js, size_t len, char *err, size_t errcap)
{
	struct jp j = {js, js + len};
	char key[16], tmp[128];
	int first = 1;

	if (next_key(&j, &first, key, sizeof(key)) != 0 || strcmp(key, "error") != 0)
		return 0;
	if (str(&j, tmp, sizeof(tmp)) != 0 || next_key(&j, &first, key, sizeof(key)) != 1 ||
	    at_end(&j) != 0)
		return 0;
	/* an empty sentence is still a refusal: say so (fuzz_tray_status) */
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "%s", tmp[0] != '\0' ? tmp : "the agent refused it");
	return CS_EINVAL;
}

/* A conflict value: string, null, or {"deleted":true}. */
static int
cvalue(struct jp *j, char *out, size_t cap)
{
	char key[16];
	int first = 1, b, del = 0, rc;

	if (peek(j) == '"')
		return str(j, out, cap);
	if (peek(j) == 'n') {
		snprintf(out, cap, "(empty)");
		return word(j, "null");
	}
	while ((rc = next_key(j, &first, key, sizeof(key))) == 0) {
		if (strcmp(key, "deleted") != 0 || (b = boolean(j)) != 1)
			return CS_EINVAL;
		del = 1;
	}
	if (rc < 0 || !del)
		return CS_EINVAL;
	snprintf(out, cap, "(deleted)");
	return 0;
}

static int
conflict(struct jp *j, struct cs_tray_conflict *c)
{
	char key[32];
	int first = 1, rc, seen_id = 0;

	memset(c, 0, sizeof(*c));
	while ((rc = next_key(j, &first, key, sizeof(key))) == 0) {
		if (strcmp(key, "id") == 0) {
			if (intval(j, &c->id, 0) != 0 || c->id < 1)
				return CS_EINVAL;
			seen_id = 1;
		} else if (strcmp(key, "table") == 0) {
			if (str(j, c->table, sizeof(c->table)) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "column") == 0) {
			if (peek(j) == 'n') {
				if (word(j, "null") != 0)
					return CS_EINVAL;
			} else if (str(j, c->column, sizeof(c->column)) != 0) {
				return CS_EINVAL;
			}
		} else if (strcmp(key, "mine") == 0) {
			if (cvalue(j, c->mine, sizeof(c->mine)) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "theirs") == 0) {
			if (cvalue(j, c->theirs, sizeof(c->theirs)) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "their_device") == 0) {
			if (str(j, c->their_device, sizeof(c->their_device)) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "mine_device") == 0) {
			if (str(j, c->mine_device, sizeof(c->mine_device)) != 0)
				return CS_EINVAL;
		} else if (skip(j, 3) != 0) {
			return CS_EINVAL;
		}
	}
	return rc < 0 || !seen_id ? CS_EINVAL : 0;
}

int
cs_tray_conflicts_parse(const char *js, size_t len, struct cs_tray_conflicts *out, char *err,
    size_t errcap)
{
	struct jp j = {js, js + len};
	struct cs_tray_conflict tmp;
	char key[32];
	int first = 1, rc, b, seen = 0;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "the agent's answer is unreadable");
	if (js == NULL || error_answer(js, len, err, errcap) != 0)
		return CS_EINVAL;
	while ((rc = next_key(&j, &first, key, sizeof(key))) == 0) {
		if (strcmp(key, "conflicts") == 0) {
			if (seen || eat(&j, '[') != 0)
				goto bad;
			seen = 1;
			if (peek(&j) == ']') {
				j.p++;
				continue;
			}
			for (;;) {
				if (conflict(&j, &tmp) != 0)
					goto bad;
				if (out->n < CS_TRAY_MAX_CONFLICTS)
					out->v[out->n++] = tmp;
				else
					out->nextra++;
				if (peek(&j) == ',') {
					j.p++;
					continue;
				}
				if (eat(&j, ']') != 0)
					goto bad;
				break;
			}
		} else if (strcmp(key, "truncated") == 0) {
			if ((b = boolean(&j)) < 0)
				goto bad;
			out->truncated = b;
		} else if (skip(&j, 1) != 0) {
			goto bad;
		}
	}
	if (rc < 0 || at_end(&j) != 0 || !seen)
		goto bad;
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return CS_EINVAL;
}

static int
audit_row(struct jp *j, struct cs_tray_audit_row *r)
{
	char key[32];
	int first = 1, rc;

	memset(r, 0, sizeof(*r));
	while ((rc = next_key(j, &first, key, sizeof(key))) == 0) {
		if (strcmp(key, "id") == 0) {
			if (intval(j, &r->id, 0) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "at_ms") == 0) {
			if (intval(j, &r->at_ms, 0) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "count") == 0) {
			if (intval(j, &r->count, 0) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "action") == 0) {
			if (str(j, r->action, sizeof(r->action)) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "device") == 0) {
			if (str(j, r->device, sizeof(r->device)) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "patient") == 0) {
			if (str(j, r->patient, sizeof(r->patient)) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "detail") == 0) {
			if (str(j, r->detail, sizeof(r->detail)) != 0)
				return CS_EINVAL;
		} else if (skip(j, 3) != 0) {
			return CS_EINVAL;
		}
	}
	return rc < 0 ? CS_EINVAL : 0;
}

int
cs_tray_audit_parse(const char *js, size_t len, struct cs_tray_audit *out, char *err, size_t errcap)
{
	struct jp j = {js, js + len};
	struct cs_tray_audit_row tmp;
	char key[32];
	int first = 1, rc, seen = 0;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "the agent's answer is unreadable");
	if (js == NULL || error_answer(js, len, err, errcap) != 0)
		return CS_EINVAL;
	while ((rc = next_key(&j, &first, key, sizeof(key))) == 0) {
		if (strcmp(key, "audit") == 0) {
			if (seen || eat(&j, '[') != 0)
				goto bad;
			seen = 1;
			if (peek(&j) == ']') {
				j.p++;
				continue;
			}
			for (;;) {
				if (audit_row(&j, &tmp) != 0)
					goto bad;
				if (out->n < CS_TRAY_MAX_AUDIT)
					out->v[out->n++] = tmp;
				else
					out->nextra++;
				if (peek(&j) == ',') {
					j.p++;
					continue;
				}
				if (eat(&j, ']') != 0)
					goto bad;
				break;
			}
		} else if (strcmp(key, "total") == 0) {
			if (intval(&j, &out->total, 0) != 0 || out->total < 0)
				goto bad;
		} else if (skip(&j, 1) != 0) {
			goto bad;
		}
	}
	if (rc < 0 || at_end(&j) != 0 || !seen)
		goto bad;
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return CS_EINVAL;
}

/* ------------------------------------------------------- share verbs */

static int
list_row(struct jp *j, struct cs_tray_row *r)
{
	char key[32];
	int first = 1, rc, b;

	memset(r, 0, sizeof(*r));
	r->until = -1;
	while ((rc = next_key(j, &first, key, sizeof(key))) == 0) {
		char *s = NULL;
		size_t cap = 0;

		if (strcmp(key, "id") == 0) {
			s = r->id;
			cap = sizeof(r->id);
		} else if (strcmp(key, "patient") == 0) {
			s = r->patient;
			cap = sizeof(r->patient);
		} else if (strcmp(key, "label") == 0) {
			s = r->label;
			cap = sizeof(r->label);
		} else if (strcmp(key, "name") == 0) {
			s = r->name;
			cap = sizeof(r->name);
		} else if (strcmp(key, "practitioner") == 0) {
			s = r->practitioner;
			cap = sizeof(r->practitioner);
		} else if (strcmp(key, "rights") == 0 || strcmp(key, "perm") == 0) {
			s = r->rights;
			cap = sizeof(r->rights);
		}
		if (s != NULL) {
			/* null: absent */
			if (peek(j) == 'n') {
				if (word(j, "null") != 0)
					return CS_EINVAL;
			} else if (str(j, s, cap) != 0) {
				return CS_EINVAL;
			}
		} else if (strcmp(key, "since") == 0) {
			if (intval(j, &r->since, 0) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "until") == 0) {
			if (intval(j, &r->until, 1) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "devices") == 0) {
			if (intval(j, &r->devices, 0) != 0)
				return CS_EINVAL;
		} else if (strcmp(key, "active") == 0 || strcmp(key, "you") == 0) {
			if ((b = boolean(j)) < 0)
				return CS_EINVAL;
			if (key[0] == 'a')
				r->active = b;
			else
				r->you = b;
		} else if (skip(j, 3) != 0) {
			return CS_EINVAL;
		}
	}
	return rc < 0 ? CS_EINVAL : 0;
}

int
cs_tray_rows_parse(const char *js, size_t len, const char *lkey, struct cs_tray_rows *out,
    char *err, size_t errcap)
{
	struct jp j = {js, js + len};
	struct cs_tray_row tmp;
	char key[32];
	int first = 1, rc, seen = 0;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "the agent's answer is unreadable");
	if (js == NULL || lkey == NULL || error_answer(js, len, err, errcap) != 0)
		return CS_EINVAL;
	while ((rc = next_key(&j, &first, key, sizeof(key))) == 0) {
		if (strcmp(key, lkey) == 0) {
			if (seen || eat(&j, '[') != 0)
				goto bad;
			seen = 1;
			if (peek(&j) == ']') {
				j.p++;
				continue;
			}
			for (;;) {
				if (list_row(&j, &tmp) != 0)
					goto bad;
				if (out->n < CS_TRAY_MAX_ROWS)
					out->v[out->n++] = tmp;
				else
					out->nextra++;
				if (peek(&j) == ',') {
					j.p++;
					continue;
				}
				if (eat(&j, ']') != 0)
					goto bad;
				break;
			}
		} else if (strcmp(key, "next") == 0) {
			if (intval(&j, &out->next, 1) != 0 || out->next == 0 || out->next < -1)
				goto bad;
			if (out->next < 0)
				out->next = 0;
		} else if (skip(&j, 1) != 0) {
			goto bad;
		}
	}
	if (rc < 0 || at_end(&j) != 0 || !seen)
		goto bad;
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return CS_EINVAL;
}

int
cs_tray_ok_parse(const char *js, size_t len, char *detail, size_t dcap, char *err, size_t errcap)
{
	struct jp j = {js, js + len};
	char key[32];
	int first = 1, rc, ok = 0;

	if (detail != NULL && dcap > 0)
		detail[0] = '\0';
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "the agent's answer is unreadable");
	if (js == NULL || error_answer(js, len, err, errcap) != 0)
		return CS_EINVAL;
	while ((rc = next_key(&j, &first, key, sizeof(key))) == 0) {
		if (strcmp(key, "ok") == 0) {
			if ((ok = boolean(&j)) < 0)
				return CS_EINVAL;
		} else if (strcmp(key, "detail") == 0 && detail != NULL) {
			if (str(&j, detail, dcap) != 0)
				goto bad;
		} else if (skip(&j, 1) != 0) {
			goto bad;
		}
	}
	if (rc < 0 || at_end(&j) != 0 || ok != 1)
		goto bad;
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	return 0;
bad:
	if (detail != NULL && dcap > 0)
		detail[0] = '\0';
	return CS_EINVAL;
}
