/*
 * agent/device_cmd.h: `cabsync device ...`, the roster on the command line
 * (docs/OPERATIONS.md "Revoking a PC", docs/SECURITY.md "Lost or stolen
 * laptop").
 *
 *   cabsync device list --home DIR [--json]
 *   cabsync device revoke DEVICE --home DIR
 *
 * list prints the state the signed records give (agent/roster.h): each
 * device, its practitioner, role, state, who added it, and the cabinet key
 * epoch this device is on. revoke signs a revocation of DEVICE (a name or
 * 4+ hex digits of its id), rotates the cabinet key to a new epoch (a fresh
 * random key, kept in HOME/cabinet.keys), audits it, and writes the home;
 * the running agent notices the roster change within a second, closes the
 * revoked device's session and delivers the new key, sealed, to every other
 * device (docs/PROTOCOL.md §3.11). Refused (exit 3) when the rules say no:
 * revoking another practitioner's device needs the cabinet-admin role.
 * Revoking an already revoked device rotates the key again.
 *
 * A blocking command, not the daemon. Exit codes of agent/db_cmd.h.
 */
#ifndef CS_AGENT_DEVICE_CMD_H
#define CS_AGENT_DEVICE_CMD_H

#include <stdio.h>

/* argv[0] is "device". Returns the process exit code. */
int cs_device_cmd(int argc, char **argv);

/* The `cabsync device` part of `cabsync --help`. */
void cs_device_cmd_usage(FILE *f);

#endif
