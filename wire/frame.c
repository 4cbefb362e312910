#include "frame.h"

#include <string.h>

#include "base/err.h"

/*
 * Take one frame off buf: a 2-byte big-endian length, then one Noise message
 * (docs/PROTOCOL.md §2.1). Noise rev. 34 §3: at most 65535 bytes (the prefix
 * guarantees it) and never under the 16 bytes of AEAD data a transport
 * message carries; handshake messages are longer. Pure: no I/O, no malloc.
 */
int
cs_frame_take(const uint8_t *buf, size_t len, struct cs_frame *out)
{
	size_t body;

	if (buf == NULL || out == NULL)
		return CS_EINVAL;
	if (len < CS_FRAME_HDR_LEN)
		return CS_EAGAIN; /* short read: consume nothing, wait */
	body = (size_t)buf[0] << 8 | buf[1];
	if (body < CS_FRAME_TAG_LEN)
		return CS_FRAME_ESHORT; /* no honest peer sends this */
	if (body > len - CS_FRAME_HDR_LEN)
		return CS_EAGAIN; /* body not all here yet */
	out->body = buf + CS_FRAME_HDR_LEN;
	out->body_len = body;
	out->used = CS_FRAME_HDR_LEN + body;
	return 0;
}

int
cs_frame_hdr(uint8_t hdr[static CS_FRAME_HDR_LEN], size_t body_len)
{
	if (body_len < CS_FRAME_TAG_LEN)
		return CS_FRAME_ESHORT;
	if (body_len > CS_FRAME_MAX_BODY)
		return CS_FRAME_ETOOBIG;
	hdr[0] = (uint8_t)(body_len >> 8);
	hdr[1] = (uint8_t)body_len;
	return 0;
}

int
cs_frame_write(uint8_t *out, size_t cap, const uint8_t *body, size_t body_len, size_t *used)
{
	uint8_t hdr[CS_FRAME_HDR_LEN];
	int rc;

	if (out == NULL || body == NULL || used == NULL)
		return CS_EINVAL;
	*used = 0;
	if ((rc = cs_frame_hdr(hdr, body_len)) < 0)
		return rc;
	if (cap < CS_FRAME_HDR_LEN || body_len > cap - CS_FRAME_HDR_LEN)
		return CS_ENOSPC;
	/* body first: it may sit where the prefix goes */
	memmove(out + CS_FRAME_HDR_LEN, body, body_len);
	memcpy(out, hdr, CS_FRAME_HDR_LEN);
	*used = CS_FRAME_HDR_LEN + body_len;
	return 0;
}
