/*
 * sql/sharerec.c: signed share records (see sharerec.h).
 */
#include "sql/sharerec.h"

#include <sodium.h>
#include <string.h>

#include "base/err.h"

static const char sig_domain[] = "cabsync share record v1";

const char *
cs_sharerec_strerror(int err)
{
	switch (err) {
	case CS_SHAREREC_EFORMAT:
		return "not a valid share record (length, version, kind or permission)";
	case CS_SHAREREC_ESIG:
		return "the share record's signature does not verify";
	default:
		return cs_strerror(err);
	}
}

const char *
cs_perm_name(int perm)
{
	switch (perm) {
	case CS_PERM_READ:
		return "read";
	case CS_PERM_WRITE:
		return "write";
	case CS_PERM_FULL:
		return "full";
	default:
		return "none";
	}
}

int
cs_perm_parse(const char *s, uint8_t *perm)
{
	if (s == NULL || perm == NULL)
		return CS_EINVAL;
	if (strcmp(s, "read") == 0)
		*perm = CS_PERM_READ;
	else if (strcmp(s, "write") == 0)
		*perm = CS_PERM_WRITE;
	else if (strcmp(s, "full") == 0)
		*perm = CS_PERM_FULL;
	else
		return CS_EINVAL;
	return 0;
}

const char *
cs_sharerec_kind_name(int kind)
{
	switch (kind) {
	case CS_SHAREREC_CLAIM:
		return "claim";
	case CS_SHAREREC_GRANT:
		return "grant";
	case CS_SHAREREC_REVOKE:
		return "revoke";
	case CS_SHAREREC_TRANSFER:
		return "transfer";
	case CS_SHAREREC_NAME:
		return "name";
	default:
		return "unknown";
	}
}

static void
put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* The domain rules both the encoder and the decoder apply. */
static int
fields_ok(const struct cs_sharerec *r)
{
	size_t i;

	if (r->kind < CS_SHAREREC_CLAIM || r->kind > CS_SHAREREC_NAME)
		return 0;
	if (r->kind == CS_SHAREREC_GRANT) {
		if (r->perm < CS_PERM_READ || r->perm > CS_PERM_FULL)
			return 0;
	} else if (r->perm != CS_PERM_NONE || r->until_ms != 0) {
		return 0;
	}
	if ((r->kind == CS_SHAREREC_NAME) != all_zero(r->patient, CS_GID_LEN))
		return 0;
	if (r->kind == CS_SHAREREC_NAME && r->note_len == 0)
		return 0;
	if (r->note_len > CS_SHAREREC_NOTE_MAX)
		return 0;
	for (i = 0; i < r->note_len; i++)
		if ((unsigned char)r->note[i] < 0x20 || r->note[i] == 0x7f)
			return 0;
	return 1;
}

/* The signed bytes: everything before sig. Returns their length. */
static size_t
body(const struct cs_sharerec *r, uint8_t *out)
{
	size_t o = 0;

	out[o++] = CS_SHAREREC_VERSION;
	out[o++] = r->kind;
	out[o++] = r->perm;
	memcpy(out + o, r->patient, CS_GID_LEN);
	o += CS_GID_LEN;
	memcpy(out + o, r->practitioner, CS_GID_LEN);
	o += CS_GID_LEN;
	put64(out + o, r->hlc);
	o += 8;
	put64(out + o, r->until_ms);
	o += 8;
	memcpy(out + o, r->signer, CS_DEVID_LEN);
	o += CS_DEVID_LEN;
	out[o++] = r->note_len;
	memcpy(out + o, r->note, r->note_len);
	return o + r->note_len;
}

static void
to_sign(const uint8_t *b, size_t blen, uint8_t *out)
{
	memcpy(out, sig_domain, sizeof(sig_domain) - 1);
	memcpy(out + sizeof(sig_domain) - 1, b, blen);
}

int
cs_sharerec_encode(const struct cs_sharerec *r, uint8_t *out, size_t cap, size_t *len)
{
	size_t n;

	if (r == NULL || out == NULL || len == NULL || !fields_ok(r) ||
	    cap < CS_SHAREREC_FIXED + r->note_len)
		return CS_EINVAL;
	n = body(r, out);
	memcpy(out + n, r->sig, CS_SHAREREC_SIG_LEN);
	*len = n + CS_SHAREREC_SIG_LEN;
	return 0;
}

int
cs_sharerec_sign(struct cs_sharerec *r, const uint8_t sk[static CS_SHAREREC_SK_LEN], uint8_t *out,
    size_t cap, size_t *len)
{
	uint8_t msg[sizeof(sig_domain) + CS_SHAREREC_MAX];
	size_t n;

	if (r == NULL || out == NULL || len == NULL || !fields_ok(r) ||
	    cap < CS_SHAREREC_FIXED + r->note_len)
		return CS_EINVAL;
	r->note[r->note_len] = '\0';
	n = body(r, out);
	to_sign(out, n, msg);
	crypto_sign_detached(r->sig, NULL, msg, sizeof(sig_domain) - 1 + n, sk);
	memcpy(out + n, r->sig, CS_SHAREREC_SIG_LEN);
	*len = n + CS_SHAREREC_SIG_LEN;
	return 0;
}

int
cs_sharerec_decode(const uint8_t *buf, size_t len, struct cs_sharerec *out)
{
	struct cs_sharerec r;
	size_t o = 0;

	if (buf == NULL || out == NULL)
		return CS_EINVAL;
	memset(out, 0, sizeof(*out));
	if (len < CS_SHAREREC_FIXED || len > CS_SHAREREC_MAX)
		return CS_SHAREREC_EFORMAT;
	memset(&r, 0, sizeof(r));
	if (buf[o++] != CS_SHAREREC_VERSION)
		return CS_SHAREREC_EFORMAT;
	r.kind = buf[o++];
	r.perm = buf[o++];
	memcpy(r.patient, buf + o, CS_GID_LEN);
	o += CS_GID_LEN;
	memcpy(r.practitioner, buf + o, CS_GID_LEN);
	o += CS_GID_LEN;
	r.hlc = get64(buf + o);
	o += 8;
	r.until_ms = get64(buf + o);
	o += 8;
	memcpy(r.signer, buf + o, CS_DEVID_LEN);
	o += CS_DEVID_LEN;
	r.note_len = buf[o++];
	/* exactly the note and the signature are left */
	if (r.note_len > CS_SHAREREC_NOTE_MAX ||
	    len - o != (size_t)r.note_len + CS_SHAREREC_SIG_LEN)
		return CS_SHAREREC_EFORMAT;
	memcpy(r.note, buf + o, r.note_len);
	r.note[r.note_len] = '\0';
	o += r.note_len;
	memcpy(r.sig, buf + o, CS_SHAREREC_SIG_LEN);
	if (!fields_ok(&r))
		return CS_SHAREREC_EFORMAT;
	*out = r;
	return 0;
}

int
cs_sharerec_verify(const struct cs_sharerec *r, const uint8_t pk[static CS_SHAREREC_PK_LEN])
{
	uint8_t b[CS_SHAREREC_MAX], msg[sizeof(sig_domain) + CS_SHAREREC_MAX];
	size_t n;

	if (r == NULL || !fields_ok(r))
		return CS_SHAREREC_ESIG;
	n = body(r, b);
	to_sign(b, n, msg);
	if (crypto_sign_verify_detached(r->sig, msg, sizeof(sig_domain) - 1 + n, pk) != 0)
		return CS_SHAREREC_ESIG;
	return 0;
}

void
cs_sharerec_hash(const uint8_t *buf, size_t len, uint8_t out[static CS_SHAREREC_HASH_LEN])
{
	crypto_generichash(out, CS_SHAREREC_HASH_LEN, buf, len, NULL, 0);
}
