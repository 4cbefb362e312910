/*
 * libFuzzer target: cs_addr_parse (discovery/addr.h), the static-peer and
 * --peer syntax. Any bytes: no crash, and an accepted address has a host of
 * bounded length and a non-zero port.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[1024];
	struct cs_peer_addr a;

	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (cs_addr_parse(buf, 7415, &a) == 0) {
		if (a.port == 0 || a.host[0] == '\0' || strlen(a.host) > CS_ADDR_HOST_MAX)
			abort();
	}
	return 0;
}
