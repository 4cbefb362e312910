/*
 * agent/relay_folder.c: the shared-folder relay backend (see relay_folder.h).
 */
#include "agent/relay_folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

int
cs_relay_folder_path(const char *dir, const uint8_t *cabinet, const uint8_t *dev, const uint8_t *id,
    char *out, size_t cap)
{
	char cab[2 * CS_CABINET_ID_LEN + 1], d[2 * CS_DEVID_LEN + 1], b[33];
	int n;

	cs_home_hex(cabinet, CS_CABINET_ID_LEN, cab);
	cs_home_hex(dev, CS_DEVID_LEN, d);
	if (id != NULL) {
		cs_relay_idhex(id, b);
		n = snprintf(out, cap, "%s/%s/%s/%s%s", dir, cab, d, b, CS_RELAY_FOLDER_SUFFIX);
	} else {
		n = snprintf(out, cap, "%s/%s/%s", dir, cab, d);
	}
	return n < 0 || (size_t)n >= cap ? CS_ERANGE : 0;
}

static int
mkdir_one(const char *p)
{
	if (mkdir(p, 0700) == 0 || errno == EEXIST)
		return 0;
	return CS_EIO;
}

int
cs_relay_folder_put(const char *dir, const uint8_t *cabinet, const uint8_t *dev, const uint8_t *id,
    const uint8_t *buf, size_t len)
{
	char path[CS_HOME_PATH_MAX], *slash;
	int rc;

	if ((rc = cs_relay_folder_path(dir, cabinet, dev, NULL, path, sizeof(path))) != 0)
		return rc;
	/* DIR itself must exist (a mounted share); its two levels below are ours */
	slash = strrchr(path, '/');
	*slash = '\0';
	if (mkdir_one(path) != 0)
		return CS_EIO;
	*slash = '/';
	if (mkdir_one(path) != 0)
		return CS_EIO;
	if ((rc = cs_relay_folder_path(dir, cabinet, dev, id, path, sizeof(path))) != 0)
		return rc;
	return cs_relay_write_file(path, buf, len, 0600);
}

int
cs_relay_folder_exists(const char *dir, const uint8_t *cabinet, const uint8_t *dev,
    const uint8_t *id)
{
	char path[CS_HOME_PATH_MAX];
	struct stat sb;

	if (cs_relay_folder_path(dir, cabinet, dev, id, path, sizeof(path)) != 0)
		return 0;
	return stat(path, &sb) == 0;
}

int
cs_relay_folder_remove(const char *dir, const uint8_t *cabinet, const uint8_t *dev,
    const uint8_t *id)
{
	char path[CS_HOME_PATH_MAX];
	int rc;

	if ((rc = cs_relay_folder_path(dir, cabinet, dev, id, path, sizeof(path))) != 0)
		return rc;
	if (unlink(path) != 0 && errno != ENOENT)
		return CS_EIO;
	return 0;
}

int
cs_relay_folder_list(const char *dir, const uint8_t *cabinet, const uint8_t *dev,
    uint8_t (*ids)[CS_BUNDLE_ID_LEN], size_t max, size_t *n)
{
	char path[CS_HOME_PATH_MAX], hex[33];
	struct dirent *de;
	DIR *d;
	size_t sl = strlen(CS_RELAY_FOLDER_SUFFIX);
	int rc;

	*n = 0;
	if ((rc = cs_relay_folder_path(dir, cabinet, dev, NULL, path, sizeof(path))) != 0)
		return rc;
	d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? CS_ENOENT : CS_EIO;
	while (*n < max && (de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 32 + sl ||
		    strcmp(de->d_name + 32, CS_RELAY_FOLDER_SUFFIX) != 0)
			continue;
		memcpy(hex, de->d_name, 32);
		hex[32] = '\0';
		if (cs_home_unhex(hex, ids[*n], CS_BUNDLE_ID_LEN) != 0)
			continue;
		(*n)++;
	}
	closedir(d);
	return 0;
}

int
cs_relay_quarantine(const char *home_dir, const char *name, const uint8_t *buf, size_t len,
    const char *why)
{
	char path[CS_HOME_PATH_MAX], line[512];
	int n, rc;

	n = snprintf(path, sizeof(path), "%s/relay-quarantine", home_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return CS_ERANGE;
	if (mkdir_one(path) != 0)
		return CS_EIO;
	n = snprintf(path, sizeof(path), "%s/relay-quarantine/%s", home_dir, name);
	if (n < 0 || (size_t)n >= sizeof(path) - 8)
		return CS_ERANGE;
	if ((rc = cs_relay_write_file(path, buf, len, 0600)) != 0)
		return rc;
	strcat(path, ".why");
	n = snprintf(line, sizeof(line), "%s\n", why);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	return cs_relay_write_file(path, (const uint8_t *)line, (size_t)n, 0600);
}
