/*
 * wire/msg.h: the application messages of a sync session and their msgpack
 * encoding (docs/PROTOCOL.md §3-§5).
 *
 * A message is one msgpack array [type, fields...]: HELLO, CURSOR, CHANGES,
 * ACK, PING, PONG, BYE. Encoders write it with msgpack-c's packer into a
 * cs_msg_buf; the decoder is our own strict pull reader over the bytes, so
 * that hostile input costs no more memory than its size: every count and
 * length is checked against the bytes left and its limit before anything is
 * allocated (msgpack-c's unpacker would allocate count x 24 bytes up front).
 *
 * Strict: the value must be exactly one array of the right shape, every
 * integer, string, binary, array and ext in its shortest msgpack form (as
 * msgpack-c and every mainstream packer writes it), no trailing byte. Any
 * deviation gives a precise CS_MSG_E* code and leaves the output zeroed:
 * nothing is returned, nothing leaks. Because encodings are canonical, an
 * accepted message re-encodes to the same bytes (PROTOCOL.md §3.1).
 *
 * Ownership: a decoded cs_msg owns its memory (cs_malloc); cs_msg_free()
 * releases it. Encoders copy nothing they are given and keep no pointer.
 * Pure: no I/O, no clock, no logging; one thread per object.
 */
#ifndef CS_WIRE_MSG_H
#define CS_WIRE_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "base/change.h"
#include "wire/version.h"

/* Versions this build speaks (PROTOCOL.md §5): CS_PROTOCOL_VERSION (wire/version.h) down to this.
 */
#define CS_PROTOCOL_MIN_VERSION 1

#define CS_MSG_SCHEMA_HASH_LEN 32    /* HELLO app schema hash (BLAKE2b-256) */
#define CS_MSG_INCARNATION_LEN 16    /* HELLO database incarnation id */
#define CS_MSG_MAX_NAME        128   /* bytes of a table or column name */
#define CS_MSG_MAX_TABLES      128   /* tables of one dictionary */
#define CS_MSG_MAX_COLS        512   /* columns of one table */
#define CS_MSG_MAX_DICT_COLS   4096  /* columns of all tables of one dictionary */
#define CS_MSG_MAX_DEVS        1024  /* devices of one CHANGES dictionary */
#define CS_MSG_MAX_STREAMS     65536 /* entries of one CURSOR */
#define CS_MSG_MAX_BYE_TEXT    256   /* bytes of a BYE text */
#define CS_MSG_MAX_DEPTH       32    /* nesting of skipped HELLO extension values */
#define CS_MSG_REF_EXT         1     /* msgpack ext type of a REF value */

enum cs_msg_err {
	CS_MSG_ETRUNC = -220,
	CS_MSG_ETRAILING = -221,
	CS_MSG_ENOTARRAY = -222,
	CS_MSG_ETYPE = -223,
	CS_MSG_EFIELDS = -224,
	CS_MSG_EMSGPACK = -225,
	CS_MSG_ESIGN = -226,
	CS_MSG_ERANGE = -227,
	CS_MSG_ELENGTH = -228,
	CS_MSG_ECOUNT = -229,
	CS_MSG_EINDEX = -230,
	CS_MSG_EDUP = -231,
	CS_MSG_EORDER = -232,
	CS_MSG_ENONCANON = -233,
	CS_MSG_EBADBYTE = -234,
	CS_MSG_ENAME = -235,
	CS_MSG_EUTF8 = -236,
	CS_MSG_EVERSION = -237,
	CS_MSG_EVERSION_NEW = -238,
	CS_MSG_EVERSION_OLD = -239,
	CS_MSG_ETOOBIG = -240,
	CS_MSG_EDEPTH = -241
};

enum cs_msg_type {
	CS_MSG_HELLO = 1,
	CS_MSG_CURSOR = 2,
	CS_MSG_CHANGES = 3,
	CS_MSG_ACK = 4,
	CS_MSG_PING = 5,
	CS_MSG_PONG = 6,
	CS_MSG_BYE = 7
};

/* BYE reason codes (PROTOCOL.md §4). Unknown codes decode as they are. */
enum cs_bye_code {
	CS_BYE_NORMAL = 0,          /* session done, agent stopping */
	CS_BYE_VERSION_TOO_NEW = 1, /* your min_version is above every version I speak */
	CS_BYE_VERSION_TOO_OLD = 2, /* your version is below every version I speak */
	CS_BYE_MALFORMED = 3,       /* a message of yours failed to decode */
	CS_BYE_UNEXPECTED = 4,      /* a valid message out of place */
	CS_BYE_UNAUTHORIZED = 5,    /* device unknown or revoked */
	CS_BYE_EPOCH = 6,           /* cabinet key epoch mismatch */
	CS_BYE_DUPLICATE = 7,       /* another session between us wins the tie-break */
	CS_BYE_TIMEOUT = 8,         /* no PONG in time */
	CS_BYE_REFUSED = 9,         /* a batch was refused whole */
	CS_BYE_TOO_BIG = 10,        /* a message over my cap */
	CS_BYE_INTERNAL = 11        /* local failure (memory, disk) */
};

/* HELLO features bitmask: none defined in version 1; unknown bits are ignored. */

enum cs_stream_kind {
	CS_STREAM_MAIN = 0,   /* all changes of the sender, by db_version */
	CS_STREAM_PATIENT = 1 /* one patient's rows from the start (a new share) */
};

struct cs_stream {
	enum cs_stream_kind kind;
	uint8_t patient[CS_GID_LEN]; /* CS_STREAM_PATIENT only */
};

struct cs_hello {
	uint32_t version, min_version; /* highest and lowest protocol versions spoken */
	uint8_t device[CS_DEVID_LEN];
	uint8_t incarnation[CS_MSG_INCARNATION_LEN]; /* changes when the database is restored */
	uint64_t epoch;                              /* cabinet key epoch in use */
	uint8_t schema_hash[CS_MSG_SCHEMA_HASH_LEN];
	uint64_t features;
	/* tracked tables and their columns, as a changeset dictionary (no rows) */
	struct cs_changeset schema;
};

struct cs_cursor_entry {
	struct cs_stream stream;
	uint64_t after; /* send the changes after this db_version */
};

/* Entries strictly increasing by stream (cs_msg_stream_cmp); cs_msg_cursor_sort(). */
struct cs_cursor {
	struct cs_cursor_entry *v; /* cs_malloc'd when decoded */
	uint32_t n;
};

struct cs_changes {
	struct cs_stream stream;
	struct cs_changeset cs; /* cs.db_version: the db_version reached */
};

struct cs_ack {
	struct cs_stream stream;
	uint64_t db_version; /* durably applied up to here */
};

struct cs_bye {
	uint32_t code;
	size_t text_len;
	char text[CS_MSG_MAX_BYE_TEXT + 1]; /* NUL-terminated; untrusted: escape before logging */
};

struct cs_msg {
	enum cs_msg_type type;
	union {
		struct cs_hello hello;
		struct cs_cursor cursor;
		struct cs_changes changes;
		struct cs_ack ack;
		uint64_t nonce; /* PING, PONG */
		struct cs_bye bye;
	} u;
};

/* Output buffer of the encoders: grows through cs_realloc up to max. */
struct cs_msg_buf {
	uint8_t *p;
	size_t len, cap;
	size_t max; /* message cap; encoders fail CS_MSG_ETOOBIG past it */
	int err;    /* private */
};

/* max 0 = CS_CHUNK_DEFAULT_CAP (16 MiB). */
void cs_msg_buf_init(struct cs_msg_buf *b, size_t max);
void cs_msg_buf_free(struct cs_msg_buf *b);

/* A HELLO with this build's versions, everything else zero and an empty schema
 * (fill it with cs_changeset_table/col; release it with cs_changeset_free). */
void cs_msg_hello_init(struct cs_hello *h);

/*
 * Encoders: replace b's content with one message. Return 0, CS_ENOMEM,
 * CS_MSG_ETOOBIG (over b->max), or CS_EINVAL / a CS_MSG_E* code naming what in
 * the input the decoder would refuse (a limit, a bad index, a duplicate, an
 * empty name), so that we never send what a peer must reject.
 */
int cs_msg_encode(struct cs_msg_buf *b, const struct cs_msg *m);
int cs_msg_encode_hello(struct cs_msg_buf *b, const struct cs_hello *h);
int cs_msg_encode_cursor(struct cs_msg_buf *b, const struct cs_cursor *c);
int cs_msg_encode_changes(struct cs_msg_buf *b, const struct cs_stream *s,
    const struct cs_changeset *cs);
int cs_msg_encode_ack(struct cs_msg_buf *b, const struct cs_stream *s, uint64_t db_version);
int cs_msg_encode_ping(struct cs_msg_buf *b, uint64_t nonce);
int cs_msg_encode_pong(struct cs_msg_buf *b, uint64_t nonce);
/* text: NUL-terminated, at most CS_MSG_MAX_BYE_TEXT bytes of UTF-8, or NULL. */
int cs_msg_encode_bye(struct cs_msg_buf *b, uint32_t code, const char *text);

/*
 * Decode exactly one message from buf[0..len) (a reassembled message,
 * wire/chunk.h). Returns 0 and fills *out (free it with cs_msg_free), or
 * CS_ENOMEM, CS_EINVAL, or a CS_MSG_E* code with *out zeroed. A HELLO whose
 * min_version is above CS_PROTOCOL_VERSION gives CS_MSG_EVERSION_NEW after
 * reading only [type, version, min_version] (PROTOCOL.md §5): answer with
 * BYE CS_BYE_VERSION_TOO_NEW; cs_msg_hello_peek() tells the versions.
 */
int cs_msg_decode(const uint8_t *buf, size_t len, struct cs_msg *out);

/*
 * cs_msg_decode() for a session decoding message after message: out holds
 * the previous result (or is zeroed); a CHANGES message reuses the memory of
 * the previous CHANGES (cs_changeset_reset), so steady streaming stops
 * allocating. The previous content is gone either way. Same return codes;
 * on error out is freed and zeroed.
 */
int cs_msg_decode_again(const uint8_t *buf, size_t len, struct cs_msg *out);

/*
 * Read only the type and the two version fields of a HELLO: the part every
 * protocol version keeps (PROTOCOL.md §5). Returns 0, CS_MSG_ETYPE if buf is
 * not a HELLO, or a decoding error of those three elements.
 */
int cs_msg_hello_peek(const uint8_t *buf, size_t len, uint32_t *version, uint32_t *min_version);

/*
 * The version both sides speak: min(ours, peer's highest), if each side still
 * speaks it. Returns 0 with *version, CS_MSG_EVERSION_NEW (the peer only speaks
 * newer versions) or CS_MSG_EVERSION_OLD (only older ones).
 */
int cs_msg_negotiate(const struct cs_hello *peer, uint32_t *version);

/* Release what a decoded message owns; accepts NULL; leaves it zeroed. */
void cs_msg_free(struct cs_msg *m);

/* Order of streams in a CURSOR: MAIN first, then patients by gid bytes. <0, 0, >0. */
int cs_msg_stream_cmp(const struct cs_stream *a, const struct cs_stream *b);
/* Sort a cursor's entries into the order the encoder requires. */
void cs_msg_cursor_sort(struct cs_cursor *c);

/* BYE code to answer a decoding error err with (PROTOCOL.md §4). */
uint32_t cs_msg_bye_code(int err);
/* "HELLO", "CURSOR", ... for logs; "unknown" for anything else. */
const char *cs_msg_type_name(uint32_t type);
/* Stable English name of a BYE code ("unknown reason" for unknown codes). */
const char *cs_msg_bye_name(uint32_t code);
/* English sentence for a code of -200..-299 (frame, chunk, msg); "unknown error" else. */
const char *cs_msg_strerror(int err);

#endif
