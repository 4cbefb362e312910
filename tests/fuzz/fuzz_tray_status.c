/*
 * libFuzzer target: the tray's decoders of the agent's lines
 * (agent/tray/tray_status.h, PROTOCOL.md §8): the status answer, the events
 * pushed after `subscribe`, the `conflicts` and `audit` answers. Any bytes:
 * no crash, no read past the input, a valid state, NUL-terminated strings,
 * and a refused input leaves zeroed results.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tray/tray_status.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): the checks must hold in release builds (NDEBUG) too. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

static struct cs_tray_conflicts conf;
static struct cs_tray_audit aud;
static struct cs_tray_rows rows;

static int
nul(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_tray_status st;
	struct cs_tray_event ev;
	char err[128];
	char tip[2048];
	char *copy;
	size_t i;
	int rc;

	copy = malloc(size == 0 ? 1 : size); /* exact size for ASan */
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	rc = cs_tray_status_parse(copy, size, &st);
	check(rc == 0 || rc == CS_EINVAL);
	check(st.state >= 0 && st.state < CS_TRAY_NSTATES);
	check(rc == 0 || st.state == CS_TRAY_ERROR);
	check(st.npeers <= CS_TRAY_MAX_PEERS);
	check(memchr(st.agent_state, '\0', sizeof(st.agent_state)) != NULL);
	for (i = 0; i < st.npeers; i++)
		check(memchr(st.peers[i].name, '\0', sizeof(st.peers[i].name)) != NULL);
	cs_tray_status_tooltip(&st, 1700000000, tip, sizeof(tip));
	check(strlen(tip) < sizeof(tip));

	rc = cs_tray_event_parse(copy, size, &ev);
	check(rc == 0 || rc == CS_EINVAL);
	check(ev.kind >= CS_TRAY_EV_UNKNOWN && ev.kind <= CS_TRAY_EV_ERROR);
	check(rc == 0 || ev.kind == CS_TRAY_EV_UNKNOWN);
	check(nul(ev.name, sizeof(ev.name)) && nul(ev.error, sizeof(ev.error)) &&
	    nul(ev.permission, sizeof(ev.permission)));
	check(ev.open >= 0 && ev.added >= 0);

	rc = cs_tray_conflicts_parse(copy, size, &conf, err, sizeof(err));
	check(rc == 0 || rc == CS_EINVAL);
	check(conf.n <= CS_TRAY_MAX_CONFLICTS && nul(err, sizeof(err)));
	check(rc == 0 || (conf.n == 0 && err[0] != '\0'));
	for (i = 0; i < conf.n; i++)
		check(conf.v[i].id > 0 && nul(conf.v[i].mine, sizeof(conf.v[i].mine)) &&
		    nul(conf.v[i].theirs, sizeof(conf.v[i].theirs)) &&
		    nul(conf.v[i].table, sizeof(conf.v[i].table)) &&
		    nul(conf.v[i].column, sizeof(conf.v[i].column)));

	rc = cs_tray_audit_parse(copy, size, &aud, err, sizeof(err));
	check(rc == 0 || rc == CS_EINVAL);
	check(aud.n <= CS_TRAY_MAX_AUDIT && aud.total >= 0);
	check(rc == 0 || aud.n == 0);
	for (i = 0; i < aud.n; i++)
		check(nul(aud.v[i].action, sizeof(aud.v[i].action)) &&
		    nul(aud.v[i].detail, sizeof(aud.v[i].detail)) &&
		    nul(aud.v[i].patient, sizeof(aud.v[i].patient)));

	/* the share verbs' answers (PROTOCOL.md §8.4) */
	rc = cs_tray_rows_parse(copy, size, (size & 1) ? "patients" : "shares", &rows, err,
	    sizeof(err));
	check(rc == 0 || rc == CS_EINVAL);
	check(rows.n <= CS_TRAY_MAX_ROWS && rows.next >= 0);
	check(rc == 0 || (rows.n == 0 && rows.next == 0));
	for (i = 0; i < rows.n; i++)
		check(nul(rows.v[i].id, sizeof(rows.v[i].id)) &&
		    nul(rows.v[i].label, sizeof(rows.v[i].label)) &&
		    nul(rows.v[i].name, sizeof(rows.v[i].name)) &&
		    nul(rows.v[i].patient, sizeof(rows.v[i].patient)) &&
		    nul(rows.v[i].practitioner, sizeof(rows.v[i].practitioner)) &&
		    nul(rows.v[i].rights, sizeof(rows.v[i].rights)) &&
		    (rows.v[i].active == 0 || rows.v[i].active == 1));
	rc = cs_tray_ok_parse(copy, size, tip, 200, err, sizeof(err));
	check(rc == 0 || rc == CS_EINVAL);
	check(nul(tip, 200) && nul(err, sizeof(err)));
	check(rc != 0 || err[0] == '\0');
	free(copy);
	return 0;
}
