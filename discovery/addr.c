#include "addr.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

static int
parse_port(const char *s, uint16_t *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return CS_EINVAL;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return CS_EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int
cs_addr_parse(const char *s, uint16_t def_port, struct cs_peer_addr *out)
{
	const char *host, *colon, *end;
	size_t hlen;

	if (s == NULL || out == NULL || *s == '\0')
		return CS_EINVAL;
	out->port = def_port;
	if (*s == '[') {
		host = s + 1;
		end = strchr(host, ']');
		if (end == NULL)
			return CS_EINVAL;
		hlen = (size_t)(end - host);
		if (end[1] == ':') {
			if (parse_port(end + 2, &out->port) < 0)
				return CS_EINVAL;
		} else if (end[1] != '\0') {
			return CS_EINVAL;
		}
	} else {
		host = s;
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon)
			colon = NULL; /* a bare IPv6 address: no port */
		if (colon != NULL) {
			hlen = (size_t)(colon - s);
			if (parse_port(colon + 1, &out->port) < 0)
				return CS_EINVAL;
		} else {
			hlen = strlen(s);
		}
	}
	if (hlen == 0 || hlen > CS_ADDR_HOST_MAX || out->port == 0)
		return CS_EINVAL;
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	return 0;
}
