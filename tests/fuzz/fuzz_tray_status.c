/*
 * libFuzzer target: cs_tray_status_parse (agent/tray/tray_status.h), the
 * tray's decoder of the agent's status line (PROTOCOL.md §8). Any bytes: no
 * crash, no read past the input, a valid state, NUL-terminated strings.
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_tray_status st;
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
	free(copy);
	return 0;
}
