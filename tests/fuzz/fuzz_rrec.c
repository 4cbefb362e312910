/*
 * libFuzzer target: what a peer sends about the roster (wire/rrec.h): a
 * ROSTER or KEYS message, and each roster record in it. No crash, no read
 * past the input; an accepted record encodes back to the very same bytes
 * (one encoding per record: what is signed is what is stored), and its
 * signature check and a KEYS entry's opening never crash. The input is also
 * tried as one bare record.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire/rrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
one_record(const uint8_t *b, size_t len)
{
	static const uint8_t pk[32] = {1};
	struct cs_rrec r;
	uint8_t back[CS_RREC_LEN];

	if (cs_rrec_decode(b, len, NULL, &r) != 0)
		return;
	if (len != CS_RREC_LEN || cs_rrec_encode(&r, back) != 0 ||
	    memcmp(back, b, CS_RREC_LEN) != 0)
		abort();
	(void)cs_rrec_verify(&r, pk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pk[32], sk[32];
	static int init;
	const uint8_t *body;
	uint8_t *copy, key[32], id[32];
	uint32_t epoch;
	size_t n, i;
	int type;

	if (!init) {
		if (sodium_init() < 0)
			return 0;
		crypto_box_keypair(pk, sk);
		init = 1;
	}
	/* an exact-size heap copy: ASan catches a read one byte past */
	copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	one_record(copy, size);
	if (cs_rrec_msg_decode(copy, size, &type, &body, &n) == 0) {
		if (body < copy || body > copy + size)
			abort();
		for (i = 0; i < n; i++) {
			if (type == CS_RREC_MSG_ROSTER)
				one_record(body + i * CS_RREC_LEN, CS_RREC_LEN);
			else
				(void)cs_rrec_key_open(body + i * CS_RREC_KEY_ENTRY_LEN, pk, sk,
				    &epoch, key, id);
		}
	}
	free(copy);
	return 0;
}
