/*
 * libFuzzer target: the receive path below the codec. The input is a TCP
 * byte stream of frames (wire/frame.h); each frame body, less the last 16
 * bytes standing for the AEAD tag, is fed to the reassembler (wire/chunk.h);
 * each whole message is decoded (wire/msg.h). The first byte picks the
 * read size, so every short-read pattern is explored, and the message cap.
 * Invariants checked: no crash or leak, frames consume exactly what they
 * claim, a reassembled message re-splits and reassembles to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "wire/chunk.h"
#include "wire/frame.h"
#include "wire/msg.h"

static void
resplit(const uint8_t *msg, size_t len)
{
	static uint8_t chunk[CS_CHUNK_MAX_PLAIN];
	struct cs_chunk_split s;
	struct cs_chunk_reasm r;
	const uint8_t *m = NULL;
	size_t n, ml = 0;
	int rc = CS_EAGAIN;

	if (cs_chunk_split_init(&s, msg, len, 0, 0) != 0)
		abort();
	cs_chunk_reasm_init(&r, 0);
	while (cs_chunk_split_next(&s, chunk, sizeof(chunk), &n) == 1)
		rc = cs_chunk_reasm_feed(&r, chunk, n, &m, &ml);
	if (rc != 0 || ml != len || memcmp(m, msg, len) != 0)
		abort();
	cs_chunk_reasm_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_chunk_reasm r;
	size_t step, have = 0, off = 0;
	long live = cs_mem_live();
	int failed = 0;

	if (size < 1)
		return 0;
	step = 1 + data[0] % 64 * 97; /* 1 .. 6112-byte reads */
	cs_chunk_reasm_init(&r, data[0] & 0x80 ? 4096 : 0);
	data++;
	size--;
	while (have < size && !failed) {
		have += step < size - have ? step : size - have;
		for (;;) {
			struct cs_frame f;
			const uint8_t *m;
			size_t ml;
			int rc = cs_frame_take(data + off, have - off, &f);

			if (rc == CS_EAGAIN)
				break;
			if (rc < 0) {
				failed = 1;
				break;
			}
			if (f.used != CS_FRAME_HDR_LEN + f.body_len || f.used > have - off)
				abort();
			off += f.used;
			rc =
			    cs_chunk_reasm_feed(&r, f.body, f.body_len - CS_FRAME_TAG_LEN, &m, &ml);
			if (rc == 0) {
				struct cs_msg msg;

				resplit(m, ml);
				if (cs_msg_decode(m, ml, &msg) == 0)
					cs_msg_free(&msg);
			} else if (rc != CS_EAGAIN) {
				failed = 1;
				break;
			}
		}
	}
	cs_chunk_reasm_free(&r);
	if (cs_mem_live() != live)
		abort();
	return 0;
}
