/*
 * libFuzzer target: cs_relay_payload_decode (agent/relay.h), the decoder of
 * the plaintext inside an opened relay bundle. Any bytes: no crash, no read
 * past the input, no leak; an accepted payload is self-consistent (kind,
 * after <= upto, every batch's db_version <= upto, RECORDS messages only in
 * version 2, each inside the input and a valid RECORDS message) and a second
 * decode of the same bytes gives the same changesets and records.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/relay.h"
#include "base/err.h"
#include "wire/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cs_records_item items[CS_RECORDS_MAX];
	struct cs_relay_payload p, q;
	uint8_t *copy;
	uint32_t i;
	size_t n;
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
		if ((p.nrec > 0 && (p.version < 2 || p.rec == NULL)))
			abort();
		for (i = 0; i < p.nrec; i++)
			if (p.rec[i].p < copy || p.rec[i].len > size ||
			    (size_t)(p.rec[i].p - copy) > size - p.rec[i].len ||
			    cs_records_decode(p.rec[i].p, p.rec[i].len, items, CS_RECORDS_MAX,
			        &n) != 0)
				abort();
		if (cs_relay_payload_decode(copy, size, &q) != 0 || q.n != p.n || q.nrec != p.nrec)
			abort();
		for (i = 0; i < p.nrec; i++)
			if (q.rec[i].p != p.rec[i].p || q.rec[i].len != p.rec[i].len)
				abort();
		for (i = 0; i < p.n; i++)
			if (!cs_changeset_equal(&p.cs[i], &q.cs[i]))
				abort();
		cs_relay_payload_free(&q);
	} else if (p.n != 0 || p.cs != NULL || p.nrec != 0 || p.rec != NULL || rc > 0) {
		abort(); /* a refusal returns nothing */
	}
	cs_relay_payload_free(&p);
	free(copy);
	return 0;
}
