/*
 * agent/text.h: small text helpers the agent's modules share (messages into
 * a caller's buffer, strict number parsing of INI values).
 */
#ifndef CS_AGENT_TEXT_H
#define CS_AGENT_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* printf into msg (cap bytes, always terminated); nothing if msg is NULL or cap 0. */
void cs_say(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A decimal unsigned 64-bit number, digits only, nothing after: 0, else -1. */
int cs_parse_u64(const char *s, uint64_t *out);

#endif
