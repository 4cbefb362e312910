/*
 * libFuzzer target: a peer's signed audit head (sql/audit.h
 * cs_audit_head_decode), bytes another device sends or a person pastes into
 * `cabsync audit keep`. No crash, no read past the input; an accepted head
 * encodes back to the same bytes, and its signature check (under a fixed
 * key) never crashes either.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sql/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pk[CS_AUDIT_PK_LEN] = {1};
	struct cs_audit_head h;
	uint8_t *copy, back[CS_AUDIT_HEAD_LEN];
	int rc;

	/* an exact-size heap copy: ASan catches a read one byte past */
	copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	rc = cs_audit_head_decode(copy, size, &h);
	if (rc == 0) {
		if (size != CS_AUDIT_HEAD_LEN || h.count < 0)
			abort();
		cs_audit_head_encode(&h, back);
		if (memcmp(back, copy, CS_AUDIT_HEAD_LEN) != 0)
			abort();
		if (sodium_init() >= 0)
			(void)cs_audit_head_check(&h, pk);
	} else if (rc != CS_AUDIT_EHEAD) {
		abort();
	}
	free(copy);
	return 0;
}
