/*
 * tests/roster/forge.c: a test helper that signs a roster record the rules
 * should refuse, as a device that went rogue would: forge HOME TARGET OUT
 * [--bad-sig | --add-practitioner]. Loads HOME (its device key signs),
 * builds a revocation of device TARGET (or, with --add-practitioner, a new
 * device of a new practitioner) without asking the rules, and appends the
 * 370 raw bytes to OUT; the agent sends them with CS_TEST_ROSTER_INJECT=OUT.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/home.h"
#include "agent/roster.h"
#include "base/mem.h"
#include "wire/rrec.h"

int
main(int argc, char **argv)
{
	struct cs_home *h;
	const struct cs_roster_dev *d;
	struct cs_rrec r;
	uint8_t b[CS_RREC_LEN];
	char msg[512];
	FILE *f;
	int amb, bad = argc > 4 && strcmp(argv[4], "--bad-sig") == 0;
	int add = argc > 4 && strcmp(argv[4], "--add-practitioner") == 0;

	if (argc < 4 || sodium_init() < 0)
		return 2;
	h = cs_calloc(1, sizeof(*h));
	if (h == NULL || cs_home_load(h, argv[1], msg, sizeof(msg)) != 0) {
		fprintf(stderr, "forge: %s\n", msg);
		return 1;
	}
	memset(&r, 0, sizeof(r));
	memcpy(r.cabinet, h->cabinet_id, CS_CABINET_ID_LEN);
	if (add) {
		randombytes_buf(r.device, sizeof(r.device));
		randombytes_buf(r.dh_pk, sizeof(r.dh_pk));
		randombytes_buf(r.sign_pk, sizeof(r.sign_pk));
		randombytes_buf(r.practitioner, sizeof(r.practitioner));
		snprintf(r.practitioner_name, sizeof(r.practitioner_name), "Intrus");
		snprintf(r.device_name, sizeof(r.device_name), "%s", argv[2]);
	} else {
		d = cs_roster_find(h, argv[2], &amb);
		if (d == NULL) {
			fprintf(stderr, "forge: no device %s\n", argv[2]);
			return 1;
		}
		memcpy(r.device, d->id, CS_DEVID_LEN);
		memcpy(r.dh_pk, d->dh_pk, 32);
		memcpy(r.sign_pk, d->sign_pk, 32);
		memcpy(r.practitioner, d->practitioner, CS_GID_LEN);
		snprintf(r.practitioner_name, sizeof(r.practitioner_name), "%s",
		    d->practitioner_name);
		snprintf(r.device_name, sizeof(r.device_name), "%s", d->name);
		r.state = CS_RREC_REVOKED;
		r.epoch = h->epoch + 1;
		randombytes_buf(r.key_id, sizeof(r.key_id));
	}
	r.time_ms = (uint64_t)time(NULL) * 1000;
	memcpy(r.signer, h->device_id, CS_DEVID_LEN);
	if (cs_rrec_sign(&r, h->sec->sign_sk) != 0)
		return 1;
	if (bad)
		r.sig[7] ^= 0x40;
	if (cs_rrec_encode(&r, b) != 0)
		return 1;
	f = fopen(argv[3], "ab");
	if (f == NULL || fwrite(b, 1, sizeof(b), f) != sizeof(b) || fclose(f) != 0)
		return 1;
	cs_home_free(h);
	cs_free(h);
	return 0;
}
