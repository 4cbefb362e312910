/*
 * agent/share_cmd.h: the share commands (docs/OPERATIONS.md "Sharing
 * patients"; docs/SECURITY.md "Shares and permissions"):
 *
 *   cabsync share PATIENT --with PRACTITIONER --perm read|write|full
 *                 [--until DATE] [--note TEXT] --home DIR
 *   cabsync shares [--patient PATIENT] [--json] --home DIR
 *   cabsync transfer PATIENT --to PRACTITIONER --home DIR
 *   cabsync revoke PATIENT --from PRACTITIONER --home DIR
 *   cabsync practitioners [--json] --home DIR
 *
 * PATIENT is the app's local id of the patient on this device; PRACTITIONER
 * a name shown by `cabsync practitioners` or the start (8+ hex digits) of a
 * practitioner id. Each command writes a record signed with this device's
 * key into the app database (sql/share.h checks it exactly as a receiving
 * device would: a share this device may not make is refused here), appends
 * an audit row, and the running agent sends it to the cabinet. Runs on the
 * calling thread; never prints a key or a patient name.
 */
#ifndef CS_AGENT_SHARE_CMD_H
#define CS_AGENT_SHARE_CMD_H

#include <stdio.h>

/* Exit code when the record is refused (no right, unknown patient or practitioner). */
#define CS_SHARE_EXIT_REFUSED 3

/* argv[0] is the command name. Returns the process exit code. */
int cs_share_cmd(int argc, char **argv);

/* 1 if name is one of the commands above. */
int cs_share_cmd_is(const char *name);

/* The share part of `cabsync --help`. */
void cs_share_cmd_usage(FILE *f);

#endif
