/*
 * libFuzzer target: cs_control_parse (agent/control.h), the decoder of the
 * control socket's requests (PROTOCOL.md §8). Any bytes: no crash, no read
 * past the input, and an accepted request is exactly one valid line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/control.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	int verb = 0, rc;

	/* an exact-size copy so that ASan sees any read past the end */
	copy = malloc(size == 0 ? 1 : size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	rc = cs_control_parse(copy, size, &verb);
	if (rc == 0) {
		if (size > CS_CTL_MAX_REQ || size < strlen(CS_CTL_MAGIC) + 2 ||
		    copy[size - 1] != '\n' || memchr(copy, '\n', size - 1) != NULL ||
		    memcmp(copy, CS_CTL_MAGIC, strlen(CS_CTL_MAGIC)) != 0 || verb < CS_CTL_STATUS ||
		    verb > CS_CTL_RESUME)
			abort();
	} else if (rc != CS_EAGAIN && (rc > CS_CTL_ETOOLONG || rc < CS_CTL_ETRAILING)) {
		abort();
	}
	free(copy);
	return 0;
}
