/*
 * bench_mdns: publish -> resolved by a peer on the namespace LAN, beside the
 * raw avahi tools measured in the same run. Runs tests/lan/discovery-lan.sh
 * --measure (root: network namespaces with their own avahi-daemons), which
 * prints the Markdown section; without root it prints why it is missing.
 */
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CS_LAN_SCRIPT
#error "CS_LAN_SCRIPT: path of tests/lan/discovery-lan.sh"
#endif
#ifndef CS_PROBE
#error "CS_PROBE: path of cs-mdns-probe"
#endif

#define RUNS "9"

static void
missing(const char *why)
{
	printf("## mDNS discovery: publish → resolved by a peer (namespace LAN)\n\n"
	       "Not measured in this run: %s. See docs/DISCOVERY.md §7 for the last "
	       "figures.\n",
	    why);
}

int
main(void)
{
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
		execl("/bin/bash", "bash", CS_LAN_SCRIPT, "--measure", CS_PROBE, RUNS,
		    (char *)NULL);
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
