/*
 * wire/frame.h: Noise messages on a byte stream (docs/PROTOCOL.md §2.1).
 *
 * Every Noise message (handshake or transport) travels on TCP behind a 2-byte
 * big-endian length. cs_frame_take() cuts one frame off the front of a receive
 * buffer, incrementally: CS_EAGAIN until the whole frame is there, consuming
 * nothing. cs_frame_hdr()/cs_frame_write() produce frames.
 *
 * Pure functions over caller buffers: no I/O, no allocation, no state; any
 * thread. Returned pointers point into the caller's buffer.
 *
 * Errors of wire/frame.h, wire/chunk.h and wire/msg.h share the range
 * -200..-299 of base/err.h; cs_msg_strerror() (wire/msg.h) names them all.
 */
#ifndef CS_WIRE_FRAME_H
#define CS_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define CS_FRAME_HDR_LEN  2     /* u16be length prefix, PROTOCOL.md §2.1 */
#define CS_FRAME_MAX_BODY 65535 /* Noise rev. 34 §3: max Noise message length */
#define CS_FRAME_TAG_LEN  16    /* ChaChaPoly AEAD tag of a transport message */

enum cs_frame_err {
	CS_FRAME_ESHORT = -200, /* frame shorter than an AEAD tag */
	CS_FRAME_ETOOBIG = -201 /* body over 65535 bytes (writer) */
};

struct cs_frame {
	const uint8_t *body; /* the Noise message, inside the caller's buffer */
	size_t body_len;
	size_t used; /* bytes of the buffer this frame took (header + body) */
};

/*
 * Take one frame off buf[0..len). Returns 0 and fills *out (the caller then
 * drops out->used bytes), CS_EAGAIN when the frame is not complete yet
 * (nothing consumed), CS_FRAME_ESHORT for a frame under CS_FRAME_TAG_LEN
 * bytes (no Noise message is that short: close the connection), CS_EINVAL
 * for NULL arguments.
 */
int cs_frame_take(const uint8_t *buf, size_t len, struct cs_frame *out);

/* Write the length prefix of a body_len-byte Noise message into hdr.
 * Returns 0, CS_FRAME_ESHORT or CS_FRAME_ETOOBIG. */
int cs_frame_hdr(uint8_t hdr[static CS_FRAME_HDR_LEN], size_t body_len);

/*
 * Write one frame (prefix + body) into out[0..cap); body may overlap out
 * (e.g. a message encrypted in place at out + CS_FRAME_HDR_LEN). Sets *used.
 * Returns 0, CS_FRAME_ESHORT, CS_FRAME_ETOOBIG, CS_ENOSPC (cap too small)
 * or CS_EINVAL.
 */
int cs_frame_write(uint8_t *out, size_t cap, const uint8_t *body, size_t body_len, size_t *used);

#endif
