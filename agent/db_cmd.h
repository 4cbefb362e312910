/*
 * agent/db_cmd.h: `cabsync db ...`, the engine's commands on local database
 * files, for the demo, the integration tests and operators:
 *
 *   install   --db APP.db --tables T.ini --device-name NAME [--enable-wal]
 *   uninstall --db APP.db [--tables T.ini]
 *   sync      --tables T.ini A.db B.db [C.db ...]
 *   conflicts --db APP.db [--all]
 *   resolve   --db APP.db ID keep-mine|take-theirs
 *   status    --db APP.db
 *
 * `sync` exchanges every change between the files through the engine's
 * extract/apply, pair by pair, until a whole round changes nothing. The
 * device state (id, incarnation, peer cursors) lives in the file beside each
 * database (agent/devstate.h). Everything SQL goes through sql/engine.h.
 *
 * Runs on the calling thread (a command, not the daemon). Messages: results
 * on stdout, one sentence per error on stderr. Never prints a key; prints
 * row values only where the user asked for them (`conflicts`).
 */
#ifndef CS_AGENT_DB_CMD_H
#define CS_AGENT_DB_CMD_H

#include <stdio.h>

/* Exit codes of `cabsync db` (also listed by `cabsync --help`). */
enum cs_db_exit {
	CS_DB_EXIT_OK = 0,
	CS_DB_EXIT_FAIL = 1,    /* the operation failed (database, file, engine error) */
	CS_DB_EXIT_USAGE = 2,   /* bad command line */
	CS_DB_EXIT_REFUSED = 3, /* the database needs an action first: not installed, not in
	                           WAL mode, on a network filesystem, newer cabsync schema */
	CS_DB_EXIT_NOTFOUND = 4 /* no such open conflict */
};

/* argv[0] is "db". Returns an exit code of enum cs_db_exit. */
int cs_db_cmd(int argc, char **argv);

/* The `cabsync db` part of `cabsync --help`. */
void cs_db_cmd_usage(FILE *f);

#endif
