/*
 * agent/jsonw.c: JSON string writer (see jsonw.h; RFC 8259 §7).
 */
#include "agent/jsonw.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t k, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (k > n)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* no overlong form, no surrogate, nothing above U+10FFFF */
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

int
cs_jsonw_str(char *out, size_t cap, size_t *len, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = *len, k;
	char esc[8];
	const char *add;
	size_t alen;

	if (o >= cap)
		return CS_ERANGE;
	for (k = 0;; k = 0) {
		if (o == *len) {
			add = "\"";
			alen = 1;
		} else if (n == 0) {
			break;
		} else if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			add = esc;
			alen = 2;
			k = 1;
		} else if (*p < 0x20 || *p == 0x7f) {
			switch (*p) {
			case '\n':
				add = "\\n";
				break;
			case '\r':
				add = "\\r";
				break;
			case '\t':
				add = "\\t";
				break;
			case '\b':
				add = "\\b";
				break;
			case '\f':
				add = "\\f";
				break;
			default:
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				add = esc;
				break;
			}
			alen = strlen(add);
			k = 1;
		} else if ((k = utf8_len(p, n)) == 0) {
			add = "\xef\xbf\xbd"; /* U+FFFD for a byte that is not UTF-8 */
			alen = 3;
			k = 1;
		} else {
			add = (const char *)p;
			alen = k;
		}
		if (alen >= cap - o)
			return CS_ERANGE;
		memcpy(out + o, add, alen);
		o += alen;
		p += k;
		n -= k;
	}
	if (2 > cap - o)
		return CS_ERANGE;
	out[o++] = '"';
	out[o] = '\0';
	*len = o;
	return 0;
}
