/*
 * libFuzzer target: cs_relay_export_pick (agent/relay_cmd.h), the decoder of
 * a hand-carried export file. Any bytes: no crash, no read past the input;
 * a picked bundle lies inside the input and its clear header names the
 * device asked for; any other answer is one of the two refusals.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/relay.h"
#include "agent/relay_cmd.h"
#include "base/err.h"
#include "wire/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_bundle_info info;
	const uint8_t *b;
	uint8_t *copy, dev[CS_DEVID_LEN];
	size_t blen;
	int rc;

	copy = malloc(size == 0 ? 1 : size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	/* ask for the recipient of the first bundle when there is one */
	memset(dev, 0, sizeof(dev));
	if (size >= 10 + CS_BUNDLE_HEADER_LEN &&
	    cs_bundle_peek(copy + 10, size - 10, CS_RELAY_MAX_BUNDLE, &info) == 0)
		memcpy(dev, info.recipient_id, CS_DEVID_LEN);
	rc = cs_relay_export_pick(copy, size, dev, &b, &blen);
	if (rc == 0) {
		if (b < copy || blen > size || (size_t)(b - copy) > size - blen)
			abort();
		if (cs_bundle_peek(b, blen, CS_RELAY_MAX_BUNDLE, &info) != 0 ||
		    memcmp(info.recipient_id, dev, CS_DEVID_LEN) != 0)
			abort();
	} else if ((rc != CS_RELAY_ENOTFOR && rc != CS_RELAY_EPAYLOAD) || b != NULL) {
		abort();
	}
	free(copy);
	return 0;
}
