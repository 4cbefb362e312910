/*
 * tests/bench/bench_idle.c: an idle agent (issue 5 §6): two agents synced and
 * connected, nothing changes; over 60 s, A's resident memory (VmRSS) and its
 * wake-ups per second (context switches of all its threads, voluntary and
 * not, from /proc/PID/task/TID/status). Goals: <= 8 MB, <= 1 wake-up/s.
 * Baseline, same run: `sleep`, a process that never wakes.
 * CS_BENCH_SMALL=1: 5 s.
 */
#include <dirent.h>

#include "agent_bench.h"
#include "bench_goal.h"

static long
status_field(const char *path, const char *key)
{
	char line[256];
	long v = -1, k;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0 &&
		    sscanf(line + strlen(key), " %ld", &k) == 1)
			v = k;
	fclose(f);
	return v;
}

/* Context switches of every thread of pid. */
static long
switches(pid_t pid)
{
	char dir[64], path[320];
	struct dirent *e;
	long total = 0, v;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/status", dir, e->d_name);
		if ((v = status_field(path, "voluntary_ctxt_switches:")) > 0)
			total += v;
		if ((v = status_field(path, "nonvoluntary_ctxt_switches:")) > 0)
			total += v;
	}
	closedir(d);
	return total;
}

int
main(void)
{
	double secs = ab_small() ? 5 : 60, t0, t;
	char path[64];
	long s0, s1, b0, b1, rss, hwm;
	pid_t pa, sl;
	sqlite3 *rd;
	int aport;

	ab_setup("idle");
	ab_newdb("a");
	ab_fill("a", 1, 1000);
	ab_init("a", NULL);
	ab_newdb("b");
	ab_init("b", "a");
	pa = ab_agent(0, "a", 0, 0);
	aport = ab_port("a");
	ab_agent(1, "b", 0, aport);
	rd = ab_open("b.db", 5000);
	if (ab_wait(rd, "SELECT count(*) FROM patient", 1000, 120, 0.1) < 0)
		ab_die("no initial sync");
	sqlite3_close(rd);
	sleep(3); /* settle: ACKs, audit, address cache */
	sl = fork();
	if (sl == 0) {
		execlp("sleep", "sleep", "3600", (char *)NULL);
		_exit(127);
	}
	usleep(100000);
	s0 = switches(pa);
	b0 = switches(sl);
	t0 = ab_now();
	while (ab_now() - t0 < secs)
		usleep(200000);
	s1 = switches(pa);
	b1 = switches(sl);
	t = ab_now() - t0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pa);
	rss = status_field(path, "VmRSS:");
	hwm = status_field(path, "VmHWM:");
	kill(sl, SIGTERM);
	waitpid(sl, NULL, 0);
	ab_cleanup();
	printf("## Idle agent: memory and wake-ups (connected to one peer, nothing changes)\n\n");
	printf("| figure | `sleep` (never wakes) | cabsync agent | ratio | goal |\n");
	printf("|---|---|---|---|---|\n");
	printf("| wake-ups/s over %.0f s | %.2f | %.2f | | <= 1 |\n", t, (b1 - b0) / t,
	    (s1 - s0) / t);
	printf("| resident memory (VmRSS) | | %.1f MB | | <= 8 MB |\n", rss / 1024.0);
	printf("| peak resident memory (VmHWM) | | %.1f MB | | |\n", hwm / 1024.0);
	cs_bench_goal("idle agent: wake-ups/s", (s1 - s0) / t, "<=", 1, "/s");
	cs_bench_goal("idle agent: resident memory (VmRSS)", rss / 1024.0, "<=", 8, "MB");
	printf("\nMeasured: agent A of two agents synced over 127.0.0.1 (1 000 rows), session "
	       "open, no change; context switches (voluntary + involuntary) of all A's threads "
	       "(loop, database worker) from /proc/PID/task/*/status over %.0f s; VmRSS at the "
	       "end. Release build; mDNS off (no avahi-daemon here).\n",
	    t);
	return 0;
}
