/*
 * libFuzzer target: every message decoder (wire/msg.h). The input is one
 * application message; its type field selects the decoder. Invariants
 * checked: no crash or leak; a refused input returns nothing; an accepted
 * one re-encodes to the same bytes (canonical encoding), except the skipped
 * extension fields of a newer peer's HELLO, and decodes again to the same,
 * also through cs_msg_decode_again() reusing a decoded message's memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "wire/msg.h"
#include "wire/version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cs_msg zero;
	struct cs_msg m, m2;
	struct cs_msg_buf b, b2;
	uint32_t v, minv;
	long live = cs_mem_live();
	int rc;

	(void)cs_msg_hello_peek(data, size, &v, &minv);
	rc = cs_msg_decode(data, size, &m);
	if (rc < 0) {
		if (memcmp(&m, &zero, sizeof(m)) != 0 || cs_mem_live() != live)
			abort();
		return 0;
	}
	cs_msg_buf_init(&b, 0);
	cs_msg_buf_init(&b2, 0);
	if (cs_msg_encode(&b, &m) != 0)
		abort();
	if (!(m.type == CS_MSG_HELLO && m.u.hello.version > CS_PROTOCOL_VERSION) &&
	    (b.len != size || memcmp(b.p, data, size) != 0))
		abort();
	if (cs_msg_decode(b.p, b.len, &m2) != 0 || cs_msg_encode(&b2, &m2) != 0 ||
	    b2.len != b.len || memcmp(b.p, b2.p, b.len) != 0)
		abort();
	/* decoding again into the same message (memory reuse) gives the same */
	if (cs_msg_decode_again(data, size, &m2) != 0 || cs_msg_encode(&b2, &m2) != 0 ||
	    b2.len != b.len || memcmp(b.p, b2.p, b.len) != 0)
		abort();
	cs_msg_free(&m2);
	cs_msg_free(&m);
	cs_msg_buf_free(&b);
	cs_msg_buf_free(&b2);
	if (cs_mem_live() != live)
		abort();
	return 0;
}
