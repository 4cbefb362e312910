#include "tag.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"

/* Domain separation strings of docs/DISCOVERY.md §2 (NUL included). */
static const char cab_label[] = "cabsync mdns cab v1";
static const char dev_label[] = "cabsync mdns dev v1";

uint32_t
cs_tag_day(int64_t unix_seconds)
{
	if (unix_seconds < 0)
		return 0;
	return (uint32_t)(unix_seconds / CS_TAG_DAY_SECONDS);
}

int64_t
cs_tag_ms_to_next_day(int64_t unix_ms)
{
	const int64_t day_ms = (int64_t)CS_TAG_DAY_SECONDS * 1000;
	int64_t into;

	if (unix_ms < 0)
		unix_ms = 0;
	into = unix_ms % day_ms;
	return day_ms - into;
}

static void
put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* BLAKE2b-128(key, label || u32be(day) || extra): msg holds no secret. */
static int
derive(const char *label, size_t label_len, uint32_t day, const uint8_t *extra, size_t extra_len,
    const uint8_t key[static CS_TAG_KEY_LEN], uint8_t out[static CS_TAG_LEN])
{
	uint8_t msg[32 + 4 + CS_TAG_PK_LEN];
	size_t n = 0;
	int rc = 0;

	if (label_len + 4 + extra_len > sizeof(msg))
		return CS_EINVAL;
	memcpy(msg, label, label_len);
	n = label_len;
	put_u32be(msg + n, day);
	n += 4;
	if (extra_len > 0) {
		memcpy(msg + n, extra, extra_len);
		n += extra_len;
	}
	if (crypto_generichash(out, CS_TAG_LEN, msg, n, key, CS_TAG_KEY_LEN) != 0)
		rc = CS_EIO;
	sodium_memzero(msg, sizeof(msg));
	return rc;
}

int
cs_tag_cab(const uint8_t cab_key[static CS_TAG_KEY_LEN], uint32_t day,
    uint8_t out[static CS_TAG_LEN])
{
	return derive(cab_label, sizeof(cab_label), day, NULL, 0, cab_key, out);
}

int
cs_tag_dev(const uint8_t dev_pk[static CS_TAG_PK_LEN], const uint8_t cab_key[static CS_TAG_KEY_LEN],
    uint32_t day, uint8_t out[static CS_TAG_LEN])
{
	return derive(dev_label, sizeof(dev_label), day, dev_pk, CS_TAG_PK_LEN, cab_key, out);
}

int
cs_tag_set_make(const uint8_t dev_pk[static CS_TAG_PK_LEN],
    const uint8_t cab_key[static CS_TAG_KEY_LEN], uint32_t day, struct cs_tag_set *set)
{
	struct cs_tag_set s;
	int rc;

	if (set == NULL || day == 0)
		return CS_EINVAL;
	memset(&s, 0, sizeof(s));
	s.day = day;
	if ((rc = cs_tag_cab(cab_key, day, s.cab)) < 0)
		goto out;
	if ((rc = cs_tag_dev(dev_pk, cab_key, day, s.dev)) < 0)
		goto out;
	if ((rc = cs_tag_cab(cab_key, day - 1, s.cab_prev)) < 0)
		goto out;
	*set = s;
out:
	sodium_memzero(&s, sizeof(s));
	return rc;
}

int
cs_tag_cab_accepted(const struct cs_tag_set *set, const uint8_t cab[static CS_TAG_LEN])
{
	int cur, prev;

	/* Both compared every time: no early exit telling which one matched. */
	cur = sodium_memcmp(set->cab, cab, CS_TAG_LEN) == 0;
	prev = sodium_memcmp(set->cab_prev, cab, CS_TAG_LEN) == 0;
	return cur | prev;
}

void
cs_tag_hex(const uint8_t tag[static CS_TAG_LEN], char out[static CS_TAG_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < CS_TAG_LEN; i++) {
		out[2 * i] = digits[tag[i] >> 4];
		out[2 * i + 1] = digits[tag[i] & 15];
	}
	out[CS_TAG_HEX_LEN] = '\0';
}

static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
cs_tag_unhex(const char *s, size_t len, uint8_t out[static CS_TAG_LEN])
{
	uint8_t tmp[CS_TAG_LEN];
	size_t i;
	int hi, lo;

	if (s == NULL || len != CS_TAG_HEX_LEN)
		return CS_EINVAL;
	for (i = 0; i < CS_TAG_LEN; i++) {
		hi = nibble(s[2 * i]);
		lo = nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CS_EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, tmp, CS_TAG_LEN);
	return 0;
}

void
cs_tag_txt_items(const struct cs_tag_set *set, uint32_t version,
    char items[static 3][CS_TAG_TXT_MAX])
{
	char hex[CS_TAG_HEX_LEN + 1];

	snprintf(items[0], CS_TAG_TXT_MAX, "v=%u", (unsigned)version);
	cs_tag_hex(set->cab, hex);
	snprintf(items[1], CS_TAG_TXT_MAX, "cab=%s", hex);
	cs_tag_hex(set->dev, hex);
	snprintf(items[2], CS_TAG_TXT_MAX, "dev=%s", hex);
}

/* v=: 1 to 9 decimal digits, no sign, no leading zero (one spelling only). */
static int
parse_version(const uint8_t *v, size_t len, uint32_t *out)
{
	uint32_t n = 0;
	size_t i;

	if (len == 0 || len > 9 || (len > 1 && v[0] == '0'))
		return CS_EINVAL;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return CS_EINVAL;
		n = n * 10 + (uint32_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

int
cs_tag_record_add(struct cs_tag_record *rec, const uint8_t *item, size_t len)
{
	const uint8_t *eq, *val;
	size_t klen, vlen;
	unsigned bit;

	if (rec == NULL || (item == NULL && len > 0))
		return CS_EINVAL;
	eq = len > 0 ? memchr(item, '=', len) : NULL;
	if (eq == NULL)
		return 0; /* a boolean attribute: not one of ours */
	klen = (size_t)(eq - item);
	val = eq + 1;
	vlen = len - klen - 1;
	if (klen == 1 && item[0] == 'v')
		bit = CS_TAG_HAVE_V;
	else if (klen == 3 && memcmp(item, "cab", 3) == 0)
		bit = CS_TAG_HAVE_CAB;
	else if (klen == 3 && memcmp(item, "dev", 3) == 0)
		bit = CS_TAG_HAVE_DEV;
	else
		return 0;
	if (rec->have & bit)
		return CS_EINVAL; /* two values for one key: refuse, never pick one */
	switch (bit) {
	case CS_TAG_HAVE_V:
		if (parse_version(val, vlen, &rec->version) < 0)
			return CS_EINVAL;
		break;
	case CS_TAG_HAVE_CAB:
		if (cs_tag_unhex((const char *)val, vlen, rec->cab) < 0)
			return CS_EINVAL;
		break;
	default:
		if (cs_tag_unhex((const char *)val, vlen, rec->dev) < 0)
			return CS_EINVAL;
		break;
	}
	rec->have |= bit;
	return 0;
}
