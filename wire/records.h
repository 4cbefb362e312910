/*
 * wire/records.h: the RECORDS message of a sync session (docs/PROTOCOL.md
 * §3.13): signed records (sql/sharerec.h share records) that must reach a
 * peer before the changes they allow, as opaque byte strings.
 *
 * Encoding: the msgpack array [10, [bin, ...]] (types 8 and 9 are the roster's
 * ROSTER and KEYS, agent/roster), strict and canonical like cs_msg_decode: shortest forms, no
 * trailing byte. A session tells it from the other messages by its first
 * two bytes (cs_records_is) before handing the rest to cs_msg_decode.
 *
 * Pure: no I/O, no clock, no logging, no allocation: decoded items point
 * into the caller's buffer.
 */
#ifndef CS_WIRE_RECORDS_H
#define CS_WIRE_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#define CS_RECORDS_MSG      10   /* message type of RECORDS (8, 9: ROSTER, KEYS) */
#define CS_RECORDS_MAX      1024 /* records of one RECORDS message */
#define CS_RECORDS_ITEM_MAX 1024 /* bytes of one record */

/* Error code (wire range of wire/msg.h, -200..-299). Stable. */
enum cs_records_err {
	CS_RECORDS_EMSG = -280 /* a RECORDS message is malformed */
};

/* One record inside a RECORDS message buffer. */
struct cs_records_item {
	const uint8_t *p;
	size_t len;
};

/*
 * Encode a RECORDS message of n records (n <= CS_RECORDS_MAX, each at most
 * CS_RECORDS_ITEM_MAX bytes) into out (cap bytes; cs_records_size(n) is always
 * enough). 0, CS_EINVAL or CS_ERANGE (cap too small).
 */
size_t cs_records_size(size_t n);
int cs_records_encode(const struct cs_records_item *v, size_t n, uint8_t *out, size_t cap,
    size_t *len);

/* 1 if buf starts like a RECORDS message (so the session hands it here, not to wire/msg.h). */
int cs_records_is(const uint8_t *buf, size_t len);

/*
 * Decode a RECORDS message: at most max items into v (pointing into buf),
 * *n gets the count. Each item is only cut out (lengths checked), not
 * decoded as a record. 0 or CS_RECORDS_EMSG, CS_EINVAL.
 */
int cs_records_decode(const uint8_t *buf, size_t len, struct cs_records_item *v, size_t max,
    size_t *n);

#endif
