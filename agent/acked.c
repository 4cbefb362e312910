/*
 * agent/acked.c: the peers' last acknowledgements (see acked.h).
 */
#include "agent/acked.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"

int
cs_acked_load(const char *path, const uint8_t (*ids)[CS_DEVID_LEN], size_t n, uint64_t *acked,
    int *known)
{
	char line[128], hex[2 * CS_DEVID_LEN + 1];
	unsigned long long v;
	uint8_t id[CS_DEVID_LEN];
	size_t i, bl;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return CS_ENOENT;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%32s %llu", hex, &v) != 2 ||
		    sodium_hex2bin(id, sizeof(id), hex, strlen(hex), NULL, &bl, NULL) != 0 ||
		    bl != sizeof(id))
			continue;
		for (i = 0; i < n; i++) {
			if (memcmp(ids[i], id, CS_DEVID_LEN) == 0) {
				acked[i] = (uint64_t)v;
				known[i] = 1;
			}
		}
	}
	fclose(f);
	return 0;
}

int
cs_acked_save(const char *path, const uint8_t (*ids)[CS_DEVID_LEN], size_t n, const uint64_t *acked,
    const int *known)
{
	char tmp[4096 + 8], hex[2 * CS_DEVID_LEN + 1];
	size_t i;
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return CS_ERANGE;
	f = fopen(tmp, "w");
	if (f == NULL)
		return CS_EIO;
	fputs("# cabsync: the last db_version each peer acknowledged (status only)\n", f);
	for (i = 0; i < n; i++) {
		if (!known[i])
			continue;
		sodium_bin2hex(hex, sizeof(hex), ids[i], CS_DEVID_LEN);
		fprintf(f, "%s %llu\n", hex, (unsigned long long)acked[i]);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		return CS_EIO;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return CS_EIO;
	}
	return 0;
}
