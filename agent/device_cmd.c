/*
 * agent/device_cmd.c: `cabsync device list|revoke` (see device_cmd.h).
 */
#include "agent/device_cmd.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/audit_cmd.h"
#include "agent/db_cmd.h"
#include "agent/home.h"
#include "agent/roster.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

void
cs_device_cmd_usage(FILE *f)
{
	fprintf(f,
	    "  cabsync device list --home DIR [--json]\n"
	    "  cabsync device revoke DEVICE --home DIR   (a lost or stolen PC: rotates "
	    "the cabinet key)\n"
	    "  cabsync device admin DEVICE --home DIR    (DEVICE's practitioner becomes "
	    "cabinet-admin)\n");
}

static const char *
dev_name_of(const struct cs_home *h, const uint8_t id[CS_DEVID_LEN])
{
	size_t i;

	for (i = 0; i < h->nroster; i++)
		if (memcmp(h->roster[i].id, id, CS_DEVID_LEN) == 0)
			return h->roster[i].name;
	return "?";
}

static void
fmt_time(uint64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(out, cap, "-");
	else
		strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

/* JSON string: names are checked (no quote, backslash or control byte). */
static void
list(const struct cs_home *h, int json)
{
	char hex[2 * CS_DEVID_LEN + 1], when[32];
	uint8_t kid[CS_RREC_HASH_LEN];
	size_t i;

	if (json)
		printf("{\"epoch\":%u,\"devices\":[", (unsigned)h->epoch);
	else
		printf("%-20s %-8s %-20s %-6s %-8s %-20s %s\n", "DEVICE", "ID", "PRACTITIONER",
		    "ROLE", "STATE", "ADDED BY", "ADDED");
	for (i = 0; i < h->nroster; i++) {
		const struct cs_roster_dev *d = &h->roster[i];
		int me = memcmp(d->id, h->device_id, CS_DEVID_LEN) == 0;

		cs_home_hex(d->id, CS_DEVID_LEN, hex);
		fmt_time(d->added_ms, when, sizeof(when));
		if (json) {
			printf("%s{\"device\":\"%s\",\"name\":\"%s\",\"practitioner\":\"%s\","
			       "\"admin\":%s,\"revoked\":%s,\"this\":%s,\"added_by\":\"%s\","
			       "\"added_ms\":%llu,\"revoked_ms\":%llu}",
			    i ? "," : "", hex, d->name, d->practitioner_name,
			    d->admin ? "true" : "false", d->revoked ? "true" : "false",
			    me ? "true" : "false", dev_name_of(h, d->added_by),
			    (unsigned long long)d->added_ms, (unsigned long long)d->revoked_ms);
		} else {
			printf("%-20s %-8.8s %-20s %-6s %-8s %-20s %s%s\n", d->name, hex,
			    d->practitioner_name, d->admin ? "admin" : "member",
			    d->revoked ? "revoked" : "active", dev_name_of(h, d->added_by), when,
			    me ? "  (this PC)" : "");
		}
	}
	cs_rrec_key_id(h->sec->cabinet_key, h->epoch, kid);
	cs_home_hex(kid, 4, hex);
	if (json)
		printf("],\"key_id\":\"%s\",\"records\":%zu}\n", hex, h->rs.n);
	else
		printf("cabinet key epoch %u (key id %s); %zu signed record(s)\n",
		    (unsigned)h->epoch, hex, h->rs.n);
}

static int
revoke(struct cs_home *h, const char *name)
{
	const struct cs_roster_dev *d;
	struct cs_roster_dev target;
	struct cs_audit_event ev = {0};
	uint8_t key[CS_KEY_LEN], key_id[CS_RREC_HASH_LEN];
	char detail[160], hex[2 * CS_DEVID_LEN + 1];
	uint32_t epoch;
	int amb, rc;

	d = cs_roster_find(h, name, &amb);
	if (d == NULL) {
		fprintf(stderr, "cabsync device revoke: %s: %s (see cabsync device list).\n", name,
		    amb ? "several devices match; give more of its id" : "no such device");
		return CS_DB_EXIT_USAGE;
	}
	if (memcmp(d->id, h->device_id, CS_DEVID_LEN) == 0) {
		fprintf(stderr,
		    "cabsync device revoke: %s is this PC; revoke it from another device of the "
		    "cabinet.\n",
		    name);
		return CS_DB_EXIT_REFUSED;
	}
	if (d->revoked)
		printf("%s is already revoked: rotating the cabinet key again.\n", d->name);
	target = *d;
	epoch = h->epoch > cs_roster_max_epoch(h) ? h->epoch : cs_roster_max_epoch(h);
	if (epoch == UINT32_MAX) {
		fprintf(stderr, "cabsync device revoke: no epoch left.\n");
		return CS_DB_EXIT_FAIL;
	}
	epoch++;
	randombytes_buf(key, sizeof(key));
	cs_rrec_key_id(key, epoch, key_id);
	rc = cs_roster_make(h, &target, 1, 0, epoch, key_id, NULL);
	if (rc != 0) {
		sodium_memzero(key, sizeof(key));
		fprintf(stderr, "cabsync device revoke: refused: %s.\n", cs_roster_strerror(rc));
		return rc == CS_ROSTER_EADMIN ? CS_DB_EXIT_REFUSED : CS_DB_EXIT_FAIL;
	}
	rc = cs_roster_key_add(h, epoch, key);
	sodium_memzero(key, sizeof(key));
	if (rc < 0) {
		fprintf(stderr, "cabsync device revoke: too many key epochs kept.\n");
		return CS_DB_EXIT_FAIL;
	}
	(void)cs_roster_pick_epoch(h);
	if ((rc = cs_roster_save(h)) != 0) {
		fprintf(stderr, "cabsync device revoke: cannot write the roster in %s: %s.\n",
		    h->dir, cs_strerror(rc));
		return CS_DB_EXIT_FAIL;
	}
	cs_home_hex(target.id, CS_DEVID_LEN, hex);
	snprintf(detail, sizeof(detail),
	    "device \"%s\" (%.16s) revoked; cabinet key rotated to epoch %u", target.name, hex,
	    (unsigned)epoch);
	ev.action = CS_AUDIT_KEY_ROTATE;
	ev.device = target.id;
	ev.detail = detail;
	if ((rc = cs_audit_record(h, &ev, target.practitioner)) != 0)
		fprintf(stderr, "cabsync device revoke: warning: not in the audit trail: %s.\n",
		    cs_audit_strerror(rc));
	printf("device \"%s\" revoked; cabinet key rotated to epoch %u.\n"
	       "the running agent delivers the new key to the other devices; the revoked PC\n"
	       "can no longer connect to any device that has heard of this.\n",
	    target.name, (unsigned)epoch);
	return 0;
}

/* Sign a record giving DEVICE's practitioner the cabinet-admin role. */
static int
make_admin(struct cs_home *h, const char *name)
{
	const struct cs_roster_dev *d;
	struct cs_roster_dev target;
	int amb, rc;

	d = cs_roster_find(h, name, &amb);
	if (d == NULL) {
		fprintf(stderr, "cabsync device admin: %s: %s (see cabsync device list).\n", name,
		    amb ? "several devices match; give more of its id" : "no such device");
		return CS_DB_EXIT_USAGE;
	}
	if (d->admin) {
		printf("%s is already cabinet-admin.\n", d->practitioner_name);
		return 0;
	}
	target = *d;
	rc = cs_roster_make(h, &target, 0, 1, 0, NULL, NULL);
	if (rc != 0) {
		fprintf(stderr, "cabsync device admin: refused: %s.\n", cs_roster_strerror(rc));
		return rc == CS_ROSTER_EADMIN || rc == CS_ROSTER_EREVOKED ? CS_DB_EXIT_REFUSED
		                                                          : CS_DB_EXIT_FAIL;
	}
	if ((rc = cs_roster_save(h)) != 0) {
		fprintf(stderr, "cabsync device admin: cannot write the roster in %s: %s.\n",
		    h->dir, cs_strerror(rc));
		return CS_DB_EXIT_FAIL;
	}
	printf("%s (practitioner of %s) is now cabinet-admin.\n", target.practitioner_name,
	    target.name);
	return 0;
}

int
cs_device_cmd(int argc, char **argv)
{
	const char *home = NULL, *verb = NULL, *target = NULL;
	struct cs_home *h = NULL;
	char msg[512];
	int i, json = 0, rc = CS_DB_EXIT_FAIL;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
			home = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (argv[i][0] != '-' && verb == NULL)
			verb = argv[i];
		else if (argv[i][0] != '-' && target == NULL)
			target = argv[i];
		else {
			fprintf(stderr, "cabsync device: bad argument '%s' (see cabsync --help).\n",
			    argv[i]);
			return CS_DB_EXIT_USAGE;
		}
	}
	if (home == NULL || verb == NULL ||
	    (strcmp(verb, "list") != 0 && strcmp(verb, "revoke") != 0 &&
	        strcmp(verb, "admin") != 0) ||
	    (strcmp(verb, "list") != 0) != (target != NULL)) {
		fprintf(stderr, "usage:\n");
		cs_device_cmd_usage(stderr);
		return CS_DB_EXIT_USAGE;
	}
	if (sodium_init() < 0)
		return CS_DB_EXIT_FAIL;
	h = cs_calloc(1, sizeof(*h));
	if (h == NULL)
		return CS_DB_EXIT_FAIL;
	if (cs_home_load(h, home, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "cabsync device: %s\n", msg);
		goto out;
	}
	if (strcmp(verb, "list") == 0) {
		list(h, json);
		rc = 0;
	} else if (strcmp(verb, "revoke") == 0) {
		rc = revoke(h, target);
	} else {
		rc = make_admin(h, target);
	}
out:
	cs_home_free(h);
	cs_free(h);
	return rc;
}
