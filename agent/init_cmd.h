/*
 * agent/init_cmd.h: `cabsync init`, creating a device's home (docs/OPERATIONS.md).
 *
 *   cabsync init --home DIR --db APP.db --tables T.ini --cabinet NAME
 *                --practitioner NAME [--device-name NAME] [--enable-wal]
 *                [--port N] [--peer HOST:PORT]... [--same-cabinet-as HOME2]
 *
 * Without --same-cabinet-as: a new cabinet (random 16-byte id, random 32-byte
 * cabinet key of epoch 1), a new practitioner (random id) and this device's
 * X25519 and Ed25519 keys; installs the engine into APP.db. With it: the
 * cabinet, key and roster of another home on the same machine and user
 * (tests, the demo, a second database on one PC); both rosters get the new
 * device. Another PC enrolls with invite/join instead.
 *
 * Runs on the calling thread. Refuses an existing home. Exit codes: those of
 * enum cs_db_exit (agent/db_cmd.h).
 */
#ifndef CS_AGENT_INIT_CMD_H
#define CS_AGENT_INIT_CMD_H

#include <stdint.h>

#include "agent/home.h"

/* argv[0] is "init". */
int cs_init_cmd(int argc, char **argv);

/*
 * Install the engine into h->db with the tables INI h->tables (realpath'd
 * by the caller), creating or reusing the device state file; sets
 * h->device_id (a new device takes h->device_id if it is not all zero,
 * else a random id). Prints one sentence on stderr on error. Returns 0 or an
 * exit code. Used by init and join.
 */
int cs_init_install(struct cs_home *h, int enable_wal, const char *cmd);

#endif
