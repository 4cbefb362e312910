/*
 * wire/rrec.c: roster records, ROSTER and KEYS messages (see rrec.h and
 * docs/PROTOCOL.md §3.10-§3.12).
 *
 * Record layout (CS_RREC_LEN = 370 bytes, integers big-endian; the
 * signature covers bytes 0..305):
 *   0 magic "CSR1" (4)       4 cabinet id (16)       20 device id (16)
 *  36 X25519 public (32)    68 Ed25519 public (32)  100 practitioner id (16)
 * 116 practitioner name (64, NUL padded)            180 device name (64)
 * 244 state (1)            245 role (1)             246 epoch (4)
 * 250 key id (32)          282 time ms (8)          290 signer device id (16)
 * 306 Ed25519 signature (64)
 */
#include "wire/rrec.h"

#include <sodium.h>
#include <string.h>

#include "base/err.h"

/* Field offsets (PROTOCOL.md §3.10). */
#define O_MAGIC   0
#define O_CABINET 4
#define O_DEVICE  20
#define O_DH      36
#define O_SIGN    68
#define O_PRACT   100
#define O_PNAME   116
#define O_DNAME   180
#define O_STATE   244
#define O_ROLE    245
#define O_EPOCH   246
#define O_KEYID   250
#define O_TIME    282
#define O_SIGNER  290
#define O_SIG     306

_Static_assert(O_SIGNER + CS_DEVID_LEN == CS_RREC_SIGNED_LEN, "record layout");
_Static_assert(O_SIG + CS_RREC_SIG_LEN == CS_RREC_LEN, "record layout");

int
cs_rrec_name_ok(const char *s)
{
	size_t n, i;

	if (s == NULL)
		return 0;
	n = strnlen(s, CS_RREC_NAME_MAX);
	if (n == 0 || n >= CS_RREC_NAME_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || strchr(";#[]=", c) != NULL)
			return 0;
	}
	return 1;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A name field: 1..63 bytes of an allowed name, then zeros to the end. */
static int
get_name(const uint8_t *p, char out[CS_RREC_NAME_MAX])
{
	size_t n = 0, i;

	while (n < CS_RREC_NAME_MAX && p[n] != 0)
		n++;
	if (n == 0 || n >= CS_RREC_NAME_MAX)
		return CS_RREC_ENAME;
	for (i = n; i < CS_RREC_NAME_MAX; i++)
		if (p[i] != 0)
			return CS_RREC_ENAME; /* padding must be zeros: one encoding per record */
	memcpy(out, p, n);
	out[n] = '\0';
	return cs_rrec_name_ok(out) ? 0 : CS_RREC_ENAME;
}

int
cs_rrec_decode(const uint8_t *buf, size_t len, const uint8_t *cabinet, struct cs_rrec *r)
{
	int rc;

	if (r == NULL)
		return CS_EINVAL;
	memset(r, 0, sizeof(*r));
	if (buf == NULL)
		return CS_EINVAL;
	if (len != CS_RREC_LEN)
		return CS_RREC_ELENGTH;
	if (memcmp(buf + O_MAGIC, CS_RREC_MAGIC, 4) != 0)
		return CS_RREC_EMAGIC;
	if (cabinet != NULL && memcmp(buf + O_CABINET, cabinet, CS_RREC_CABINET_LEN) != 0)
		return CS_RREC_ECABINET;
	memcpy(r->cabinet, buf + O_CABINET, CS_RREC_CABINET_LEN);
	memcpy(r->device, buf + O_DEVICE, CS_DEVID_LEN);
	memcpy(r->dh_pk, buf + O_DH, 32);
	memcpy(r->sign_pk, buf + O_SIGN, 32);
	memcpy(r->practitioner, buf + O_PRACT, CS_GID_LEN);
	if ((rc = get_name(buf + O_PNAME, r->practitioner_name)) != 0 ||
	    (rc = get_name(buf + O_DNAME, r->device_name)) != 0)
		goto fail;
	r->state = buf[O_STATE];
	r->role = buf[O_ROLE];
	r->epoch = get32(buf + O_EPOCH);
	memcpy(r->key_id, buf + O_KEYID, CS_RREC_HASH_LEN);
	r->time_ms = (uint64_t)get32(buf + O_TIME) << 32 | get32(buf + O_TIME + 4);
	memcpy(r->signer, buf + O_SIGNER, CS_DEVID_LEN);
	memcpy(r->sig, buf + O_SIG, CS_RREC_SIG_LEN);
	rc = CS_RREC_EFIELD;
	if (r->state > CS_RREC_REVOKED || (r->role & ~CS_RREC_ROLE_ADMIN) != 0)
		goto fail;
	/* an epoch and a key id belong to a revocation only (the rotation it makes) */
	if (r->state == CS_RREC_REVOKED) {
		if (r->epoch < 2 || sodium_is_zero(r->key_id, CS_RREC_HASH_LEN))
			goto fail;
	} else if (r->epoch != 0 || !sodium_is_zero(r->key_id, CS_RREC_HASH_LEN)) {
		goto fail;
	}
	if (sodium_is_zero(r->device, CS_DEVID_LEN) || sodium_is_zero(r->signer, CS_DEVID_LEN))
		goto fail;
	return 0;
fail:
	memset(r, 0, sizeof(*r));
	return rc;
}

/* The bytes of r without checking them (the decoder checks the result). */
static void
raw_encode(const struct cs_rrec *r, uint8_t out[static CS_RREC_LEN])
{
	memset(out, 0, CS_RREC_LEN);
	memcpy(out + O_MAGIC, CS_RREC_MAGIC, 4);
	memcpy(out + O_CABINET, r->cabinet, CS_RREC_CABINET_LEN);
	memcpy(out + O_DEVICE, r->device, CS_DEVID_LEN);
	memcpy(out + O_DH, r->dh_pk, 32);
	memcpy(out + O_SIGN, r->sign_pk, 32);
	memcpy(out + O_PRACT, r->practitioner, CS_GID_LEN);
	memcpy(out + O_PNAME, r->practitioner_name,
	    strnlen(r->practitioner_name, CS_RREC_NAME_MAX - 1));
	memcpy(out + O_DNAME, r->device_name, strnlen(r->device_name, CS_RREC_NAME_MAX - 1));
	out[O_STATE] = r->state;
	out[O_ROLE] = r->role;
	put32(out + O_EPOCH, r->epoch);
	memcpy(out + O_KEYID, r->key_id, CS_RREC_HASH_LEN);
	put32(out + O_TIME, (uint32_t)(r->time_ms >> 32));
	put32(out + O_TIME + 4, (uint32_t)r->time_ms);
	memcpy(out + O_SIGNER, r->signer, CS_DEVID_LEN);
	memcpy(out + O_SIG, r->sig, CS_RREC_SIG_LEN);
}

int
cs_rrec_encode(const struct cs_rrec *r, uint8_t out[static CS_RREC_LEN])
{
	struct cs_rrec back;
	int rc;

	if (r == NULL || out == NULL)
		return CS_EINVAL;
	raw_encode(r, out);
	rc = cs_rrec_decode(out, CS_RREC_LEN, NULL, &back);
	if (rc != 0)
		memset(out, 0, CS_RREC_LEN);
	return rc;
}

int
cs_rrec_sign(struct cs_rrec *r, const uint8_t sign_sk[static 64])
{
	uint8_t buf[CS_RREC_LEN];
	int rc;

	if (r == NULL || sign_sk == NULL)
		return CS_EINVAL;
	memset(r->sig, 0, sizeof(r->sig));
	if ((rc = cs_rrec_encode(r, buf)) != 0)
		return rc;
	crypto_sign_detached(r->sig, NULL, buf, CS_RREC_SIGNED_LEN, sign_sk);
	return 0;
}

int
cs_rrec_verify(const struct cs_rrec *r, const uint8_t signer_pk[static 32])
{
	uint8_t buf[CS_RREC_LEN];
	int rc;

	if (r == NULL || signer_pk == NULL)
		return CS_EINVAL;
	if ((rc = cs_rrec_encode(r, buf)) != 0)
		return rc;
	if (crypto_sign_verify_detached(r->sig, buf, CS_RREC_SIGNED_LEN, signer_pk) != 0)
		return CS_RREC_ESIG;
	return 0;
}

int
cs_rrec_hash(const struct cs_rrec *r, uint8_t out[static CS_RREC_HASH_LEN])
{
	uint8_t buf[CS_RREC_LEN];
	int rc;

	if (r == NULL || out == NULL)
		return CS_EINVAL;
	if ((rc = cs_rrec_encode(r, buf)) != 0)
		return rc;
	crypto_generichash(out, CS_RREC_HASH_LEN, buf, sizeof(buf), NULL, 0);
	return 0;
}

void
cs_rrec_key_id(const uint8_t key[static CS_RREC_KEY_LEN], uint32_t epoch,
    uint8_t out[static CS_RREC_HASH_LEN])
{
	static const char label[] = "cabsync key id v1";
	uint8_t msg[sizeof(label) - 1 + 4];

	memcpy(msg, label, sizeof(label) - 1);
	put32(msg + sizeof(label) - 1, epoch);
	crypto_generichash(out, CS_RREC_HASH_LEN, msg, sizeof(msg), key, CS_RREC_KEY_LEN);
}

/* [type, bin(n x size)] in the shortest msgpack forms. */
static int
msg_encode(int type, const uint8_t *body, size_t n, size_t size, size_t max, uint8_t *out,
    size_t cap, size_t *out_len)
{
	size_t blen, hdr;

	if ((n > 0 && body == NULL) || out == NULL || out_len == NULL)
		return CS_EINVAL;
	if (n > max)
		return CS_RREC_ECOUNT;
	blen = n * size;
	hdr = 2 + (blen < 256 ? 2 : blen < 65536 ? 3 : 5);
	if (cap < hdr || blen > cap - hdr)
		return CS_ERANGE;
	out[0] = 0x92; /* fixarray of 2 */
	out[1] = (uint8_t)type;
	if (blen < 256) {
		out[2] = 0xc4;
		out[3] = (uint8_t)blen;
	} else if (blen < 65536) {
		out[2] = 0xc5;
		out[3] = (uint8_t)(blen >> 8);
		out[4] = (uint8_t)blen;
	} else {
		out[2] = 0xc6;
		put32(out + 3, (uint32_t)blen);
	}
	if (blen > 0)
		memcpy(out + hdr, body, blen);
	*out_len = hdr + blen;
	return 0;
}

int
cs_rrec_roster_encode(const uint8_t *recs, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	return msg_encode(CS_RREC_MSG_ROSTER, recs, n, CS_RREC_LEN, CS_RREC_MAX, out, cap, out_len);
}

int
cs_rrec_keys_encode(const uint8_t *entries, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	return msg_encode(CS_RREC_MSG_KEYS, entries, n, CS_RREC_KEY_ENTRY_LEN, CS_RREC_MAX_KEYS,
	    out, cap, out_len);
}

int
cs_rrec_msg_type(const uint8_t *msg, size_t len)
{
	if (msg == NULL || len < 2 || msg[0] != 0x92)
		return 0;
	if (msg[1] == CS_RREC_MSG_ROSTER || msg[1] == CS_RREC_MSG_KEYS)
		return msg[1];
	return 0;
}

int
cs_rrec_msg_decode(const uint8_t *msg, size_t len, int *type, const uint8_t **body, size_t *n)
{
	size_t blen, hdr, size, max;

	if (msg == NULL || type == NULL || body == NULL || n == NULL)
		return CS_EINVAL;
	*type = 0;
	*body = NULL;
	*n = 0;
	if (len < 4 || msg[0] != 0x92 ||
	    (msg[1] != CS_RREC_MSG_ROSTER && msg[1] != CS_RREC_MSG_KEYS))
		return CS_RREC_EMSG;
	switch (msg[2]) {
	case 0xc4:
		hdr = 4;
		blen = msg[3];
		break;
	case 0xc5:
		if (len < 5)
			return CS_RREC_EMSG;
		hdr = 5;
		blen = (size_t)msg[3] << 8 | msg[4];
		if (blen < 256)
			return CS_RREC_EMSG; /* not the shortest form */
		break;
	case 0xc6:
		if (len < 7)
			return CS_RREC_EMSG;
		hdr = 7;
		blen = get32(msg + 3);
		if (blen < 65536)
			return CS_RREC_EMSG;
		break;
	default:
		return CS_RREC_EMSG;
	}
	if (blen != len - hdr)
		return CS_RREC_EMSG; /* truncated, or trailing bytes */
	size = msg[1] == CS_RREC_MSG_ROSTER ? CS_RREC_LEN : CS_RREC_KEY_ENTRY_LEN;
	max = msg[1] == CS_RREC_MSG_ROSTER ? CS_RREC_MAX : CS_RREC_MAX_KEYS;
	if (blen % size != 0)
		return CS_RREC_EMSG;
	if (blen / size > max)
		return CS_RREC_ECOUNT;
	*type = msg[1];
	*body = msg + hdr;
	*n = blen / size;
	return 0;
}

int
cs_rrec_key_seal(const uint8_t key[static CS_RREC_KEY_LEN], uint32_t epoch,
    const uint8_t recipient_pk[static 32], uint8_t out[static CS_RREC_KEY_ENTRY_LEN])
{
	if (key == NULL || recipient_pk == NULL || out == NULL || epoch == 0)
		return CS_EINVAL;
	put32(out, epoch);
	cs_rrec_key_id(key, epoch, out + 4);
	if (crypto_box_seal(out + 4 + CS_RREC_HASH_LEN, key, CS_RREC_KEY_LEN, recipient_pk) != 0)
		return CS_EIO;
	return 0;
}

int
cs_rrec_key_open(const uint8_t entry[static CS_RREC_KEY_ENTRY_LEN], const uint8_t pk[static 32],
    const uint8_t sk[static 32], uint32_t *epoch, uint8_t key[static CS_RREC_KEY_LEN],
    uint8_t key_id[static CS_RREC_HASH_LEN])
{
	uint8_t id[CS_RREC_HASH_LEN];

	if (entry == NULL || pk == NULL || sk == NULL || epoch == NULL || key == NULL ||
	    key_id == NULL)
		return CS_EINVAL;
	*epoch = get32(entry);
	if (*epoch == 0 ||
	    crypto_box_seal_open(key, entry + 4 + CS_RREC_HASH_LEN, CS_RREC_SEALED_LEN, pk, sk) !=
	        0)
		goto fail;
	cs_rrec_key_id(key, *epoch, id);
	if (sodium_memcmp(id, entry + 4, CS_RREC_HASH_LEN) != 0)
		goto fail;
	memcpy(key_id, id, CS_RREC_HASH_LEN);
	return 0;
fail:
	sodium_memzero(key, CS_RREC_KEY_LEN);
	*epoch = 0;
	return CS_RREC_ESEAL;
}

const char *
cs_rrec_strerror(int err)
{
	switch (err) {
	case CS_RREC_ELENGTH:
		return "roster record of the wrong length";
	case CS_RREC_EMAGIC:
		return "not a roster record";
	case CS_RREC_ECABINET:
		return "roster record of another cabinet";
	case CS_RREC_ENAME:
		return "roster record with a malformed name";
	case CS_RREC_EFIELD:
		return "roster record with a field out of range";
	case CS_RREC_ESIG:
		return "roster record badly signed";
	case CS_RREC_EMSG:
		return "malformed ROSTER or KEYS message";
	case CS_RREC_ECOUNT:
		return "too many records or keys in one message";
	case CS_RREC_ESEAL:
		return "a delivered cabinet key does not open or does not match its id";
	default:
		return cs_strerror(err);
	}
}
