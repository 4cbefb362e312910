/*
 * agent/ctl_cmd.c: the CLI side of the control socket (see ctl_cmd.h).
 */
#include "agent/ctl_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/control.h"
#include "agent/db_cmd.h"
#include "base/err.h"
#include "base/mem.h"

/* The value of "key": in obj (a string without quotes, or a bare token). */
static int
json_get(const char *obj, const char *end, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(obj, pat);
	if (p == NULL || p >= end)
		return -1;
	p += strlen(pat);
	if (*p == '"') {
		/* agent/jsonw.c escapes: \" \\ \n \t ... \u00XX; shown as '?' */
		p++;
		while (*p != '\0' && *p != '"' && n + 1 < cap) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
				out[n++] = (*p == '"' || *p == '\\' || *p == '/') ? *p : '?';
				if (*p == 'u') {
					size_t h = strspn(p + 1, "0123456789abcdefABCDEF");

					p += h > 4 ? 4 : h;
				}
				p++;
				continue;
			}
			out[n++] = *p++;
		}
	} else {
		while (*p != '\0' && *p != ',' && *p != '}' && *p != ']' && n + 1 < cap)
			out[n++] = *p++;
	}
	out[n] = '\0';
	return 0;
}

static void
print_human(const char *verb, const char *js)
{
	char v[128], err[300], name[128], online[16], last[32], pending[32], addr[80], rin[32], rout[32];
	const char *p, *e;
	time_t t;
	struct tm tm;

	if (strcmp(verb, "status") == 0) {
		json_get(js, js + strlen(js), "state", v, sizeof(v));
		printf("state: %s\n", v);
		json_get(js, js + strlen(js), "name", v, sizeof(v));
		printf("device: %s\n", v);
		json_get(js, js + strlen(js), "db_version", v, sizeof(v));
		printf("db_version: %s\n", v);
		if (json_get(js, js + strlen(js), "conflicts", v, sizeof(v)) == 0)
			printf("open conflicts: %s%s\n", v,
			    strcmp(v, "0") != 0 ? " (cabsync db conflicts --db APP.db)" : "");
		if (json_get(js, js + strlen(js), "error", err, sizeof(err)) == 0)
			printf("error: %s\n", err);
	}
	p = strstr(js, "\"peers\":[");
	if (p == NULL)
		return;
	p += strlen("\"peers\":[");
	while ((p = strchr(p, '{')) != NULL) {
		e = strchr(p, '}');
		if (e == NULL)
			break;
		json_get(p, e, "name", name, sizeof(name));
		json_get(p, e, "online", online, sizeof(online));
		json_get(p, e, "last_sync", last, sizeof(last));
		json_get(p, e, "pending", pending, sizeof(pending));
		json_get(p, e, "addr", addr, sizeof(addr));
		json_get(p, e, "rows_in", rin, sizeof(rin));
		json_get(p, e, "rows_out", rout, sizeof(rout));
		t = (time_t)strtoll(last, NULL, 10);
		if (t > 0) {
			localtime_r(&t, &tm);
			strftime(last, sizeof(last), "%Y-%m-%d %H:%M:%S", &tm);
		} else {
			snprintf(last, sizeof(last), "never");
		}
		printf("peer %s: %s%s%s, last sync %s, %s change(s) waiting, rows in %s / out %s\n",
		    name, strcmp(online, "true") == 0 ? "online" : "offline",
		    addr[0] != '\0' ? " at " : "", addr, last,
		    strcmp(pending, "null") == 0 ? "unknown" : pending, rin, rout);
		{
			/* the long-sync progress object closes before the peer's */
			char done[32] = "", total[32] = "", recv[16] = "", got[32] = "";
			const char *q = strstr(p, "\"sending\":{");

			if (q != NULL && q < e) {
				json_get(q, q + strlen(q), "done", done, sizeof(done));
				json_get(q, q + strlen(q), "total", total, sizeof(total));
				e = strchr(q + 11, '}');
				e = e != NULL ? strchr(e + 1, '}') : NULL;
				if (e == NULL)
					break;
				json_get(q, e, "receiving", recv, sizeof(recv));
				json_get(q, e, "received_this_session", got, sizeof(got));
				if (strcmp(total, "0") != 0 && strcmp(done, total) != 0)
					printf("  sending: %s / %s rows\n", done, total);
				if (strcmp(recv, "true") == 0)
					printf("  receiving: %s rows so far\n", got);
			}
		}
		p = e + 1;
	}
}

int
cs_ctl_cmd(int argc, char **argv)
{
	const char *verb = argv[0], *home = NULL;
	char path[512], *out;
	int i, json = 0, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
			home = argv[++i];
		else {
			fprintf(stderr, "cabsync %s: unknown argument '%s' (see cabsync --help).\n",
			    verb, argv[i]);
			return CS_DB_EXIT_USAGE;
		}
	}
	if (cs_control_path(home, 0, path, sizeof(path)) != 0) {
		fprintf(stderr,
		    "cabsync %s: XDG_RUNTIME_DIR is unset: give --home DIR to find the agent.\n",
		    verb);
		return CS_DB_EXIT_USAGE;
	}
	out = cs_malloc(CS_CTL_MAX_RESP + 1);
	if (out == NULL)
		return CS_DB_EXIT_FAIL;
	rc = cs_control_request(path, verb, out, CS_CTL_MAX_RESP + 1);
	if (rc == CS_ENOENT) {
		fprintf(stderr, "cabsync %s: no agent is running (no answer on %s).\n", verb, path);
		rc = CS_EXIT_NOAGENT;
		goto out;
	}
	if (rc != 0) {
		fprintf(stderr, "cabsync %s: the agent did not answer properly on %s.\n", verb,
		    path);
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (strncmp(out, "{\"error\"", 8) == 0) {
		fprintf(stderr, "cabsync %s: the agent refused: %s\n", verb, out);
		rc = CS_DB_EXIT_FAIL;
		goto out;
	}
	if (json || strcmp(verb, "pause") == 0 || strcmp(verb, "resume") == 0)
		printf("%s\n", out);
	else
		print_human(verb, out);
	rc = 0;
	if (strcmp(verb, "status") == 0 &&
	    (strstr(out, "\"state\":\"offline\"") != NULL ||
	        strstr(out, "\"state\":\"paused\"") != NULL))
		rc = CS_EXIT_OFFLINE;
out:
	cs_free(out);
	return rc;
}
