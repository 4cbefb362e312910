/*
 * libFuzzer target: the CLOCK message decoder and its sample
 * (wire/clockmsg.h). Invariants checked: no crash, a refused input leaves
 * the output zeroed, an accepted one re-encodes to exactly the same bytes
 * (canonical), and a sample, when there is one, has a round trip within
 * [0, CS_CLOCK_MAX_RTT_MS].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "wire/clockmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cs_clockmsg zero;
	uint8_t again[CS_CLOCK_MAX_LEN];
	struct cs_clockmsg m;
	int64_t off, rtt;
	size_t len;
	uint64_t t4 = 0;
	size_t i;

	/* the last 8 bytes also serve as the receipt time of the sample */
	for (i = 0; i < 8 && i < size; i++)
		t4 = t4 << 8 | data[size - 1 - i];
	if (cs_clockmsg_decode(data, size, &m) != 0) {
		if (memcmp(&m, &zero, sizeof(m)) != 0)
			abort();
		return 0;
	}
	if (cs_clockmsg_encode(&m, again, sizeof(again), &len) != 0 || len != size ||
	    memcmp(again, data, size) != 0)
		abort();
	if (cs_clockmsg_sample(&m, t4 >> 12, &off, &rtt) == 0 &&
	    (rtt < 0 || rtt > CS_CLOCK_MAX_RTT_MS))
		abort();
	return 0;
}
