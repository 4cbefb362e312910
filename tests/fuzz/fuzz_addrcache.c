/*
 * libFuzzer target: the address-cache file parser (discovery/addrcache.h).
 * Any bytes: no crash; on success the image formats and parses back to the
 * same image (the format is canonical, so a loaded cache saves unchanged).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "discovery/addrcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_addrcache c, d;
	char *out = NULL, *out2 = NULL;
	size_t len = 0, len2 = 0, bad = 0;
	int rc;

	cs_addrcache_init(&c);
	cs_addrcache_init(&d);
	rc = cs_addrcache_parse(&c, (const char *)data, size, &bad);
	if (rc == 0) {
		if (bad != 0)
			abort();
		if (cs_addrcache_format(&c, &out, &len) != 0)
			abort();
		if (cs_addrcache_parse(&d, out, len, &bad) != 0 || d.n != c.n)
			abort();
		if (cs_addrcache_format(&d, &out2, &len2) != 0 || len2 != len ||
		    memcmp(out, out2, len) != 0)
			abort();
	} else if (rc != CS_ECORRUPT || bad == 0 || c.n != 0) {
		abort();
	}
	cs_free(out);
	cs_free(out2);
	cs_addrcache_free(&c);
	cs_addrcache_free(&d);
	return 0;
}
