/*
 * agent/jsonw.h: writing JSON strings for the control socket answers
 * (docs/PROTOCOL.md §8). Device names come from roster.ini, which a person
 * may edit: any byte may be there. The writer escapes '"', '\\' and every
 * control byte (\n, \t, ... and \u00XX for the others, 0x7f included), and
 * replaces each byte that is not part of valid UTF-8 with U+FFFD, so the
 * answer is always one line of valid JSON in UTF-8.
 *
 * Pure; no allocation; any thread.
 */
#ifndef CS_AGENT_JSONW_H
#define CS_AGENT_JSONW_H

#include <stddef.h>

/*
 * Append s as a JSON string (with its quotes) at out[*len], NUL-terminated,
 * within cap bytes. 0, or CS_ERANGE (nothing of it kept: *len unchanged).
 */
int cs_jsonw_str(char *out, size_t cap, size_t *len, const char *s);

#endif
