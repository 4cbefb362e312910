/*
 * agent/relay_cmd.h: the relay's commands (docs/RELAY.md "The agent's relay
 * client", "Hand-carried export"; docs/OPERATIONS.md):
 *
 *   cabsync export PATIENT --to PRACTITIONER -o FILE [--home DIR] [--lifetime D]
 *   cabsync import FILE [--home DIR]
 *   cabsync relay sync [--home DIR]
 *
 * export seals every row of patient PATIENT (the app's local id) from the
 * start into one bundle per active device of practitioner PRACTITIONER (a
 * practitioner id of the roster, or the name of one of their devices), and
 * writes them into FILE (an export container, below): a USB key when there
 * is no network. import picks the bundle addressed to this device and applies
 * it with every check of the relay path (signature, revoked sender, epoch,
 * outer layer, cabinet, recipient, lifetime, expiry, replay, payload,
 * engine); a refused file is copied to HOME/relay-quarantine/ and audited.
 * relay sync asks the running agent for a relay cycle now.
 *
 * Export container (docs/RELAY.md): "CSBX", version 1, u8 count (1..64),
 * then count times u32be length || one sealed bundle. Pure decoder
 * cs_relay_export_pick(), fuzzed (tests/fuzz/fuzz_relay_export.c).
 *
 * Runs on the calling thread (commands, no loop). Messages: one sentence
 * per error on stderr; no key, no patient data is ever printed.
 */
#ifndef CS_AGENT_RELAY_CMD_H
#define CS_AGENT_RELAY_CMD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CS_RELAY_EXPORT_MAGIC "CSBX"
#define CS_RELAY_EXPORT_HDR   6 /* magic, version, count */
#define CS_RELAY_EXPORT_MAXN  64
/* An export lives longer than a relay bundle: it travels by hand. */
#define CS_RELAY_EXPORT_LIFETIME_MS     (7 * 24 * 3600 * 1000ULL)
#define CS_RELAY_EXPORT_MAX_LIFETIME_MS (31 * 24 * 3600 * 1000ULL)

/*
 * Find, in the export container buf[0..len), the bundle whose clear header
 * names device (CS_DEVID_LEN bytes) as recipient; *out and *out_len point into
 * buf (nothing is verified but the container and the header layout:
 * cs_relay_import does the rest). Returns 0, CS_RELAY_ENOTFOR (a valid
 * container without a bundle for device), or CS_RELAY_EPAYLOAD (not a
 * well-formed container). Allocates nothing.
 */
int cs_relay_export_pick(const uint8_t *buf, size_t len, const uint8_t *device, const uint8_t **out,
    size_t *out_len);

/* argv[0] is "export", "import" or "relay". Returns the exit code. */
int cs_relay_cmd(int argc, char **argv);

/* The relay part of `cabsync --help`. */
void cs_relay_cmd_usage(FILE *f);

#endif
