/*
 * tests/share/forge.c: a test helper that plays a dishonest device. It
 * signs a share record with the device key of HOME (or claims another
 * signer, so that the signature cannot verify) and stores it straight into
 * cs_share_rec of HOME's database, bypassing every check: the agent then
 * sends it like any record, and receivers must refuse it.
 *
 *   share_forge HOME grant|revoke|transfer PERM PATIENT_LOCAL PRAC_HEX [SIGNER_HEX]
 *
 * PERM: read, write, full or none. SIGNER_HEX: a device id to write in the
 * record instead of HOME's (a bad signature). Exit 0 when stored.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/home.h"
#include "base/mem.h"
#include "sql/audit.h"
#include "sql/share.h"

int
main(int argc, char **argv)
{
	struct cs_home *h;
	struct cs_sharerec r;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint8_t buf[CS_SHAREREC_MAX], hash[CS_SHAREREC_HASH_LEN];
	size_t len;
	char msg[256];
	int rc = 1;

	if (argc < 6 || sodium_init() < 0) {
		fprintf(stderr,
		    "usage: share_forge HOME KIND PERM PATIENT PRAC_HEX [SIGNER_HEX]\n");
		return 2;
	}
	if ((h = cs_calloc(1, sizeof(*h))) == NULL || cs_home_load(h, argv[1], msg, sizeof(msg)))
		return 1;
	memset(&r, 0, sizeof(r));
	r.kind = strcmp(argv[2], "grant") == 0 ? CS_SHAREREC_GRANT
	    : strcmp(argv[2], "revoke") == 0   ? CS_SHAREREC_REVOKE
	    : strcmp(argv[2], "transfer") == 0 ? CS_SHAREREC_TRANSFER
	                                       : 0;
	if (strcmp(argv[3], "none") != 0 && cs_perm_parse(argv[3], &r.perm) != 0)
		goto out;
	if (cs_audit_open(h->db, &db) != 0 || cs_audit_patient_gid(db, argv[4], r.patient) != 0 ||
	    cs_home_unhex(argv[5], r.practitioner, CS_GID_LEN) != 0)
		goto out;
	r.hlc = cs_share_now_hlc((int64_t)time(NULL) * 1000);
	memcpy(r.signer, h->device_id, CS_DEVID_LEN);
	if (cs_sharerec_sign(&r, h->sec->sign_sk, buf, sizeof(buf), &len) != 0)
		goto out;
	if (argc > 6) {
		/* another signer's id over this device's signature */
		if (cs_home_unhex(argv[6], r.signer, CS_DEVID_LEN) != 0 ||
		    cs_sharerec_encode(&r, buf, sizeof(buf), &len) != 0)
			goto out;
	}
	cs_sharerec_hash(buf, len, hash);
	if (sqlite3_prepare_v2(db,
	        "INSERT INTO cs_share_rec(hash, rec, kind, perm, patient, practitioner, hlc, "
	        "until_ms, signer, at_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, 0)",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, buf, (int)len, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, r.kind);
	sqlite3_bind_int(st, 4, r.perm);
	sqlite3_bind_blob(st, 5, r.patient, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, r.practitioner, CS_GID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (int64_t)r.hlc);
	sqlite3_bind_blob(st, 8, r.signer, CS_DEVID_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "share_forge: failed (%s)\n", db ? sqlite3_errmsg(db) : msg);
	sqlite3_finalize(st);
	cs_audit_close(db);
	cs_home_free(h);
	cs_free(h);
	return rc;
}
