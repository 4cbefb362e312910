/*
 * agent/main.c: the `cabsync` command line. Each subcommand is a function in
 * agent/; main() only dispatches and turns the result into an exit code
 * (docs/OPERATIONS.md, exit codes).
 */
#include <stdio.h>
#include <string.h>

#include "agent/audit_cmd.h"
#include "agent/ctl_cmd.h"
#include "agent/daemon.h"
#include "agent/db_cmd.h"
#include "agent/device_cmd.h"
#include "agent/enroll.h"
#include "agent/init_cmd.h"
#include "agent/relay_cmd.h"
#include "agent/share_cmd.h"
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
	    "\n"
	    "  cabsync init --home DIR --db APP.db --tables T.ini --cabinet NAME\n"
	    "               --practitioner NAME [--device-name NAME] [--enable-wal]\n"
	    "               [--port N] [--peer HOST:PORT]... [--same-cabinet-as HOME2]\n"
	    "  cabsync invite --home DIR [--same-practitioner | --practitioner NAME]\n"
	    "               [--listen ADDR] [--port N]\n"
	    "  cabsync join CODE --home DIR --db APP.db [--peer HOST:PORT]\n"
	    "               [--device-name NAME] [--enable-wal]\n"
	    "  cabsync agent --home DIR [--listen ADDR] [--port N] [--peer HOST:PORT]...\n"
	    "  cabsync status [--home DIR] [--json]\n"
	    "  cabsync peers [--home DIR] [--json]\n"
	    "  cabsync pause|resume [--home DIR]\n"
	    "exit codes: 0 ok; 1 failure; 2 bad command line; 3 refused (existing home,\n"
	    "  database needs an action first); 5 no agent running; 6 status: offline\n"
	    "  or paused.\n"
	    "\n");
	cs_db_cmd_usage(f);
	cs_audit_cmd_usage(f);
	cs_relay_cmd_usage(f);
	cs_device_cmd_usage(f);
	cs_share_cmd_usage(f);
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
	if (strcmp(argv[1], "init") == 0)
		return cs_init_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "invite") == 0)
		return cs_invite_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "join") == 0)
		return cs_join_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "agent") == 0)
		return cs_agent_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "peers") == 0 ||
	    strcmp(argv[1], "pause") == 0 || strcmp(argv[1], "resume") == 0)
		return cs_ctl_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "audit") == 0)
		return cs_audit_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "device") == 0)
		return cs_device_cmd(argc - 1, argv + 1);
	if (cs_share_cmd_is(argv[1]))
		return cs_share_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "db") == 0)
		return cs_db_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0 || strcmp(argv[1], "import") == 0 ||
	    strcmp(argv[1], "relay") == 0)
		return cs_relay_cmd(argc - 1, argv + 1);
	fprintf(stderr, "cabsync: unknown command '%s' (try cabsync --help)\n", argv[1]);
	return 2;
}
