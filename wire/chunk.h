/*
 * wire/chunk.h: application messages over Noise transport messages
 * (docs/PROTOCOL.md §2.2).
 *
 * An application message (a msgpack array, wire/msg.h) can be far larger than
 * one Noise message (65535 bytes, 16 of them the AEAD tag). The sender cuts it
 * into chunks; each chunk is the plaintext of one Noise transport message:
 *
 *   first chunk:  flags (1 byte, FIRST set) | total length (u32be) | data
 *   later chunks: flags (1 byte, FIRST clear) | data
 *
 * LAST is set on the chunk that completes the message; every chunk carries
 * at least one data byte. The total is checked against the receiver's cap
 * (default 16 MiB) before anything is allocated, and memory grows with the
 * bytes actually received, so an announced total costs nothing by itself.
 *
 * Pure: no I/O, no clock. The reassembler allocates through cs_malloc and is
 * owned by one session (one thread). The splitter allocates nothing.
 */
#ifndef CS_WIRE_CHUNK_H
#define CS_WIRE_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "wire/frame.h"

/* Largest chunk: one Noise transport plaintext (Noise rev. 34 §3 less the tag). */
#define CS_CHUNK_MAX_PLAIN   (CS_FRAME_MAX_BODY - CS_FRAME_TAG_LEN) /* 65519 */
#define CS_CHUNK_FIRST       0x01u
#define CS_CHUNK_LAST        0x02u
#define CS_CHUNK_FIRST_HDR   5           /* flags + u32be total */
#define CS_CHUNK_NEXT_HDR    1           /* flags */
#define CS_CHUNK_DEFAULT_CAP (16u << 20) /* default hard cap of one message, 16 MiB */
#define CS_CHUNK_MAX_CAP     0xffffffffu /* the u32 total field */

enum cs_chunk_err {
	CS_CHUNK_EFLAGS = -210,   /* reserved flag bits set */
	CS_CHUNK_ESEQ = -211,     /* FIRST missing on a new message, or FIRST inside one */
	CS_CHUNK_ETOTAL = -212,   /* announced total over the cap */
	CS_CHUNK_EOVERRUN = -213, /* chunks carry more bytes than announced */
	CS_CHUNK_ELAST = -214,    /* LAST flag disagrees with the byte count */
	CS_CHUNK_EEMPTY = -215,   /* chunk without data, or total of 0 */
	CS_CHUNK_ETOOBIG = -216,  /* chunk longer than one Noise plaintext */
	CS_CHUNK_EHDR = -217      /* chunk shorter than its header */
};

/* Splitter: caller-owned, points into the caller's message (kept until done). */
struct cs_chunk_split {
	const uint8_t *msg;
	size_t len, off;
	size_t max_plain;
};

/*
 * Prepare to cut msg[0..len) into chunks of at most max_plain bytes
 * (0 = CS_CHUNK_MAX_PLAIN; at least CS_CHUNK_FIRST_HDR + 1). cap is the
 * message cap (0 = CS_CHUNK_DEFAULT_CAP). Returns 0, CS_CHUNK_EEMPTY (len 0),
 * CS_CHUNK_ETOTAL (len over cap) or CS_EINVAL.
 */
int cs_chunk_split_init(struct cs_chunk_split *s, const uint8_t *msg, size_t len, size_t cap,
    size_t max_plain);

/*
 * Write the next chunk into out[0..out_cap). Returns 1 and sets *out_len when
 * a chunk was written, 0 when the message is all out, CS_ENOSPC when out_cap
 * is under min(max_plain, what is left + header).
 */
int cs_chunk_split_next(struct cs_chunk_split *s, uint8_t *out, size_t out_cap, size_t *out_len);

/* Number of chunks a len-byte message takes with chunks of max_plain bytes. */
size_t cs_chunk_count(size_t len, size_t max_plain);

/* Reassembler: embed in the session, _init, feed each decrypted plaintext, _free. */
struct cs_chunk_reasm {
	uint8_t *buf;
	size_t buf_cap;
	size_t len;   /* bytes of the current message received */
	size_t total; /* its announced length; 0 = between messages */
	size_t cap;   /* hard cap of one message */
	int err;      /* first error; sticky */
};

/* cap 0 = CS_CHUNK_DEFAULT_CAP; larger than CS_CHUNK_MAX_CAP is clamped. */
void cs_chunk_reasm_init(struct cs_chunk_reasm *r, size_t cap);

/*
 * Feed one chunk (one decrypted transport payload). Returns 0 when it
 * completes a message: *msg and *msg_len give it, valid until the next feed
 * or free (into chunk itself when the message fit in one chunk, else into
 * r's buffer). CS_EAGAIN: absorbed, more chunks needed. Any error (CS_CHUNK_E*,
 * CS_ENOMEM) is sticky: every later feed returns it; the session must close.
 */
int cs_chunk_reasm_feed(struct cs_chunk_reasm *r, const uint8_t *chunk, size_t len,
    const uint8_t **msg, size_t *msg_len);

/* Release the buffer; accepts NULL; leaves r zeroed (feed then fails CS_EINVAL). */
void cs_chunk_reasm_free(struct cs_chunk_reasm *r);

#endif
