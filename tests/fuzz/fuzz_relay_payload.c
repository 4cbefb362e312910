/*
 * libFuzzer target: cs_relay_payload_decode (agent/relay.h), the decoder of
 * the plaintext inside an opened relay bundle. Any bytes: no crash, no read
 * past the input, no leak; an accepted payload is self-consistent (kind,
 * after <= upto, every batch's db_version <= upto) and a second decode of the
 * same bytes gives the same changesets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/relay.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_relay_payload p, q;
	uint8_t *copy;
	uint32_t i;
	int rc;

	copy = malloc(size == 0 ? 1 : size); /* exact size: ASan sees overreads */
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	rc = cs_relay_payload_decode(copy, size, &p);
	if (rc == 0) {
		if ((p.kind != CS_RELAY_KIND_MAIN && p.kind != CS_RELAY_KIND_PATIENT) ||
		    p.after > p.upto || (p.n > 0 && p.cs == NULL))
			abort();
		for (i = 0; i < p.n; i++)
			if (p.cs[i].db_version > p.upto)
				abort();
		if (cs_relay_payload_decode(copy, size, &q) != 0 || q.n != p.n)
			abort();
		for (i = 0; i < p.n; i++)
			if (!cs_changeset_equal(&p.cs[i], &q.cs[i]))
				abort();
		cs_relay_payload_free(&q);
	} else if (p.n != 0 || p.cs != NULL || rc > 0) {
		abort(); /* a refusal returns nothing */
	}
	cs_relay_payload_free(&p);
	free(copy);
	return 0;
}
