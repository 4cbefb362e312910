/*
 * libFuzzer target: the TXT record of a browsed `_cabsync._tcp` instance
 * (discovery/tag.h cs_tag_record_add), bytes any host on the LAN can send.
 * The input is cut like a DNS TXT rdata: a length byte, then that many bytes,
 * repeated. No crash; an accepted value formats back to what was parsed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/tag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_tag_record rec, again;
	struct cs_tag_set set;
	char items[3][CS_TAG_TXT_MAX];
	size_t off = 0, len;
	int bad = 0;

	memset(&rec, 0, sizeof(rec));
	while (off < size) {
		len = data[off++];
		if (len > size - off)
			len = size - off;
		if (cs_tag_record_add(&rec, data + off, len) < 0)
			bad = 1;
		off += len;
	}
	if (rec.have & ~CS_TAG_HAVE_ALL)
		abort();
	if (bad || rec.have != CS_TAG_HAVE_ALL)
		return 0;
	/* A complete record is one we could have published: round trip it. */
	memset(&set, 0, sizeof(set));
	memcpy(set.cab, rec.cab, CS_TAG_LEN);
	memcpy(set.dev, rec.dev, CS_TAG_LEN);
	cs_tag_txt_items(&set, rec.version, items);
	memset(&again, 0, sizeof(again));
	for (len = 0; len < 3; len++) {
		if (cs_tag_record_add(&again, (const uint8_t *)items[len], strlen(items[len])) != 0)
			abort();
	}
	if (again.have != CS_TAG_HAVE_ALL || again.version != rec.version ||
	    memcmp(again.cab, rec.cab, CS_TAG_LEN) != 0 ||
	    memcmp(again.dev, rec.dev, CS_TAG_LEN) != 0)
		abort();
	return 0;
}
