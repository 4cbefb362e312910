/*
 * libFuzzer target: a RECORDS message from a peer (wire/records.h) and the
 * share records inside it (sql/sharerec.h). No crash, no read past the
 * input; an accepted record encodes back to the same bytes and its
 * signature check (under a fixed key) never crashes; an accepted message
 * re-encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sql/sharerec.h"
#include "wire/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cs_records_item items[CS_RECORDS_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pk[CS_SHAREREC_PK_LEN] = {1};
	struct cs_sharerec r;
	uint8_t *copy, *back, rec[CS_SHAREREC_MAX];
	size_t n = 0, i, len;

	/* an exact-size heap copy: ASan catches a read one byte past */
	copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (cs_sharerec_decode(copy, size, &r) == 0) {
		(void)cs_sharerec_verify(&r, pk);
		if (cs_sharerec_encode(&r, rec, sizeof(rec), &len) != 0 || len != size ||
		    memcmp(rec, copy, size) != 0)
			abort();
	}
	if (cs_records_decode(copy, size, items, CS_RECORDS_MAX, &n) == 0) {
		back = malloc(cs_records_size(n));
		if (back != NULL) {
			if (cs_records_encode(items, n, back, cs_records_size(n), &len) != 0 ||
			    len != size || memcmp(back, copy, size) != 0)
				abort();
			free(back);
		}
		for (i = 0; i < n; i++)
			if (cs_sharerec_decode(items[i].p, items[i].len, &r) == 0)
				(void)cs_sharerec_verify(&r, pk);
	}
	free(copy);
	return 0;
}
