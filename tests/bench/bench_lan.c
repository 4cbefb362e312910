/*
 * bench_lan: real agents on the namespace LAN (issue 5 §6): start -> first
 * sync over mDNS and edit-to-peer latency over the bridge, each beside its raw
 * baseline measured in the same run. Runs tests/lan/agents_bench.sh (root:
 * network namespaces with their own avahi-daemons), which prints the Markdown
 * section; without root it prints why the figures are missing.
 * CS_BENCH_SMALL=1: 1 run and 50 edits (the smoke test).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CS_LAN_SCRIPT
#error "CS_LAN_SCRIPT: path of tests/lan/agents_bench.sh"
#endif

static void
missing(const char *why)
{
	printf("## Agents on the namespace LAN: start → first sync over mDNS, edit-to-peer "
	       "latency\n\nNot measured in this run: %s. See docs/PERFORMANCE.md and "
	       "docs/TESTING.md.\n",
	    why);
}

int
main(void)
{
	const char *small = getenv("CS_BENCH_SMALL");
	int is_small = small != NULL && small[0] == '1';
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		missing("needs root (network namespaces)");
		return 0;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		execl("/bin/bash", "bash", CS_LAN_SCRIPT, CS_BUILD_DIR, CS_SRC_DIR,
		    is_small ? "1" : "5", is_small ? "50" : "1000", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return 1;
	if (WEXITSTATUS(status) == 77) {
		missing("no network namespaces here");
		return 0;
	}
	return WEXITSTATUS(status);
}
