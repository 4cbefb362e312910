/*
 * discovery/addr.h: peer addresses as the config and the CLI write them.
 *
 * "HOST:PORT", "[IPV6]:PORT" or "HOST" (default port). Static peers from the
 * config and `--peer` use it; the Avahi browser produces the same struct.
 * Pure: no resolution, no I/O.
 */
#ifndef CS_DISCOVERY_ADDR_H
#define CS_DISCOVERY_ADDR_H

#include <stdint.h>

#define CS_ADDR_HOST_MAX 255

struct cs_peer_addr {
	char host[CS_ADDR_HOST_MAX + 1];
	uint16_t port;
};

/* Parse s into out; port defaults to def_port when absent. 0 or CS_EINVAL. */
int cs_addr_parse(const char *s, uint16_t def_port, struct cs_peer_addr *out);

#endif
