/*
 * wire/version.h: the protocol version this build speaks (docs/PROTOCOL.md).
 * A peer announcing a higher version is refused cleanly with a BYE saying so.
 */
#ifndef CS_WIRE_VERSION_H
#define CS_WIRE_VERSION_H

#define CS_PROTOCOL_VERSION 1

/* The version as a string for --version output. */
const char *cs_wire_version_string(void);

#endif
