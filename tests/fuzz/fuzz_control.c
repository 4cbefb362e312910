/*
 * libFuzzer target: cs_control_parse_req (agent/control.h), the decoder of
 * the control socket's requests (PROTOCOL.md §8). Any bytes: no crash, no
 * read past the input, and an accepted request is exactly one valid line:
 * printed back from the decoded request it gives the same bytes (one
 * spelling per request: no leading zero, single spaces, nothing after).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/control.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[CS_CTL_NVERBS] = {
    [CS_CTL_STATUS] = "status",
    [CS_CTL_PEERS] = "peers",
    [CS_CTL_PAUSE] = "pause",
    [CS_CTL_RESUME] = "resume",
    [CS_CTL_SUBSCRIBE] = "subscribe",
    [CS_CTL_CONFLICTS] = "conflicts",
    [CS_CTL_AUDIT] = "audit",
    [CS_CTL_RESOLVE] = "resolve",
    [CS_CTL_PATIENTS] = "patients",
    [CS_CTL_PRACS] = "practitioners",
    [CS_CTL_SHARES] = "shares",
    [CS_CTL_SHARE] = "share",
    [CS_CTL_PERM] = "perm",
    [CS_CTL_REVOKE] = "revoke",
    [CS_CTL_TRANSFER] = "transfer",
};

static const char *const perms[] = {"", "read", "write", "full"};

/* The share verbs' fields: within their limits, only their bytes. */
static void
check_share(const struct cs_ctl_req *req)
{
	size_t i, n = strlen(req->patient);

	if (n < 1 || n > CS_CTL_MAX_PATIENT || strlen(req->prac) != CS_CTL_PRAC_HEX)
		abort();
	for (i = 0; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-",
		        req->patient[i]) == NULL)
			abort();
	for (i = 0; i < CS_CTL_PRAC_HEX; i++)
		if (strchr("0123456789abcdef", req->prac[i]) == NULL)
			abort();
	if (req->verb == CS_CTL_REVOKE || req->verb == CS_CTL_TRANSFER) {
		if (req->perm != 0 || req->until != 0)
			abort();
	} else if (req->perm < CS_CTL_READ || req->perm > CS_CTL_FULL || req->until < 0 ||
	    req->until > CS_CTL_MAX_UNTIL) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_ctl_req req;
	uint8_t *copy;
	char back[2 * CS_CTL_MAX_REQ], until[32];
	int rc, verb = 0, n;

	/* an exact-size copy so that ASan sees any read past the end */
	copy = malloc(size == 0 ? 1 : size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	rc = cs_control_parse_req(copy, size, &req);
	if (rc == 0) {
		if (size > CS_CTL_MAX_REQ || req.verb < CS_CTL_STATUS || req.verb >= CS_CTL_NVERBS)
			abort();
		if (req.verb == CS_CTL_RESOLVE) {
			if (req.id < 1 || req.id > CS_CTL_MAX_ID ||
			    (req.how != CS_CTL_MINE && req.how != CS_CTL_THEIRS))
				abort();
			n = snprintf(back, sizeof(back), CS_CTL_MAGIC "resolve %lld %s\n",
			    (long long)req.id, req.how == CS_CTL_MINE ? "mine" : "theirs");
		} else if (req.verb == CS_CTL_PATIENTS || req.verb == CS_CTL_SHARES) {
			if (req.id < 0 || req.id > CS_CTL_MAX_ID)
				abort();
			if (req.id == 0)
				n = snprintf(back, sizeof(back), CS_CTL_MAGIC "%s\n",
				    names[req.verb]);
			else
				n = snprintf(back, sizeof(back), CS_CTL_MAGIC "%s %lld\n",
				    names[req.verb], (long long)req.id);
		} else if (req.verb == CS_CTL_SUBSCRIBE) {
			n = snprintf(back, sizeof(back), CS_CTL_MAGIC "subscribe%s\n",
			    req.labels ? " labels" : "");
		} else if (req.verb == CS_CTL_REVOKE || req.verb == CS_CTL_TRANSFER) {
			check_share(&req);
			n = snprintf(back, sizeof(back), CS_CTL_MAGIC "%s %s %s\n", names[req.verb],
			    req.patient, req.prac);
		} else if (req.verb == CS_CTL_SHARE || req.verb == CS_CTL_PERM) {
			check_share(&req);
			until[0] = '\0';
			if (req.until != 0)
				snprintf(until, sizeof(until), " %lld", (long long)req.until);
			n = snprintf(back, sizeof(back), CS_CTL_MAGIC "%s %s %s %s%s\n",
			    names[req.verb], req.patient, req.prac, perms[req.perm], until);
		} else {
			if (req.labels || req.id != 0 || req.patient[0] != '\0' || req.perm != 0)
				abort();
			n = snprintf(back, sizeof(back), CS_CTL_MAGIC "%s\n", names[req.verb]);
		}
		if (n < 0 || (size_t)n != size || memcmp(back, copy, size) != 0)
			abort();
		/* the verb-only wrapper agrees */
		if (cs_control_parse(copy, size, &verb) != 0 || verb != req.verb)
			abort();
	} else if (rc != CS_EAGAIN && (rc > CS_CTL_ETOOLONG || rc < CS_CTL_EARG)) {
		abort();
	}
	free(copy);
	return 0;
}
