/*
 * agent/main.c: the `cabsync` command line. Each subcommand is a function in
 * agent/; main() only dispatches and turns the result into an exit code
 * (docs/OPERATIONS.md, exit codes).
 */
#include <stdio.h>
#include <string.h>

#include "agent/db_cmd.h"
#include "sql/version.h"
#include "wire/version.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: cabsync [--help] [--version] COMMAND [ARGS]\n"
	    "\n"
	    "cabsync shares patient records between the PCs of a practice over the LAN,\n"
	    "end-to-end encrypted. See docs/OPERATIONS.md.\n"
	    "\n");
	cs_db_cmd_usage(f);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("cabsync %s (%s, SQLite %s)\n", CS_VERSION, cs_wire_version_string(),
		    cs_sql_library_version());
		return 0;
	}
	if (strcmp(argv[1], "db") == 0)
		return cs_db_cmd(argc - 1, argv + 1);
	fprintf(stderr, "cabsync: unknown command '%s' (try cabsync --help)\n", argv[1]);
	return 2;
}
