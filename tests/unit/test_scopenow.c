/*
 * tests/unit/test_scopenow.c: extraction for a practitioner on a PC whose
 * clock is late (docs/TESTING.md, soak bug 4, second cause). "Shares in
 * force now" compared the records' hlcs with the wall clock alone: a
 * patient whose owner record came from a PC with a correct clock was
 * invisible on a PC 4 minutes late, so its own edits of that patient were
 * left out of the batch while the cursor passed them: lost to the owner.
 */
#include "engine_fixture.h"
#include "sql/share.h"

enum { A = 0, B = 1 };

#define T0     1800000000000ull /* A's (correct) clock, ms */
#define LATE   240000ull        /* B is 4 minutes late */
#define PRAC_A "x'11111111111111111111111111111111'"
#define PRAC_B "x'22222222222222222222222222222222'"

static void
test_late_pc_sends_its_edit_of_a_patient_created_minutes_ahead(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	struct cs_scope sc;
	uint8_t prac_a[CS_GID_LEN];
	char sql[400];
	uint64_t cur;
	int i;

	(void)state;
	memset(prac_a, 0x11, sizeof(prac_a));
	cs_changeset_init(&cs);
	sc.practitioner = prac_a;
	sc.patient = NULL;
	/* A creates the patient, owns it and lets B's practitioner write; B,
	 * late, gets the row and the records (they raise its hlc floor) */
	f->fake_now = T0;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Léa')");
	for (i = 0; i < 2; i++) {
		if (i == B) {
			f->fake_now = T0 - LATE + 1000;
			fx_sync(f, A, B);
		}
		snprintf(sql, sizeof(sql),
		    "INSERT INTO cs_shares(patient, practitioner, perm, grant_hlc) SELECT gid, %s, "
		    "'owner', %llu FROM cs_ids; INSERT INTO cs_shares(patient, practitioner, perm, "
		    "grant_hlc) SELECT gid, %s, 'write', %llu FROM cs_ids",
		    PRAC_A, (unsigned long long)CS_HLC_MAKE(T0, 0), PRAC_B,
		    (unsigned long long)CS_HLC_MAKE(T0, 0));
		fx_exec(f->r[i].e, sql);
	}
	assert_int_equal(cs_share_seen_hlc(cs_engine_handle(f->r[B].e), CS_HLC_MAKE(T0, 0)), 0);
	cur = cs_engine_db_version(f->r[B].e);
	fx_exec(f->r[B].e, "UPDATE patient SET prenom='Lea-B'");
	/* B's batch for A's practitioner carries the edit, or its cursor
	 * does not pass it */
	assert_true(cs_engine_extract(f->r[B].e, cur, f->r[A].dev, &sc, 100, &cs) >= 0);
	if (cs.nrows == 0)
		assert_int_equal(cs.db_version, cur);
	assert_int_equal(cs.nrows, 1);
	assert_int_equal(cs_engine_apply(f->r[A].e, &cs, f->r[B].dev, NULL), 0);
	f->fake_now = T0 + 1000;
	fx_assert_str(f->r[A].e, "SELECT prenom FROM patient", "Lea-B");
	fx_assert_converged(f);
	assert_int_equal(fx_int(f->r[A].e, "SELECT count(*) FROM cs_conflicts"), 0);
	cs_changeset_free(&cs);
	(void)fx_sync_all;
	fx_free(f);
}

/*
 * The other way: A revokes B's practitioner; on the late B, the revoke's
 * hlc is in the future of its wall clock, and a batch for that practitioner
 * (another PC of it) still carried the patient, A's post-revoke edit
 * included (soak, seed 9: a post-revoke canary on the revoked PC).
 */
static void
test_late_pc_does_not_send_a_patient_revoked_minutes_ahead(void **state)
{
	struct fx *f = fx_new(2);
	struct cs_changeset cs;
	struct cs_scope sc;
	uint8_t prac_b[CS_GID_LEN];
	char sql[400];
	uint64_t cur;
	int i;

	(void)state;
	memset(prac_b, 0x22, sizeof(prac_b));
	cs_changeset_init(&cs);
	sc.practitioner = prac_b;
	sc.patient = NULL;
	f->fake_now = T0;
	fx_exec(f->r[A].e, "INSERT INTO patient(nom, prenom) VALUES('Durand', 'Léa')");
	for (i = 0; i < 2; i++) {
		if (i == B) {
			f->fake_now = T0 - LATE + 1000;
			fx_sync(f, A, B);
		}
		snprintf(sql, sizeof(sql),
		    "INSERT INTO cs_shares(patient, practitioner, perm, grant_hlc, revoke_hlc) "
		    "SELECT gid, %s, 'owner', 1, NULL FROM cs_ids; INSERT INTO cs_shares(patient, "
		    "practitioner, perm, grant_hlc, revoke_hlc) SELECT gid, %s, 'write', 1, %llu "
		    "FROM cs_ids",
		    PRAC_A, PRAC_B, (unsigned long long)CS_HLC_MAKE(T0 + 10, 0));
		fx_exec(f->r[i].e, sql);
	}
	/* A's edit after the revoke reaches B (A's other PCs may see it) */
	f->fake_now = T0 + 20;
	fx_exec(f->r[A].e, "UPDATE patient SET prenom='after the revoke'");
	f->fake_now = T0 - LATE + 2000;
	cur = cs_engine_db_version(f->r[B].e);
	fx_sync(f, A, B);
	assert_int_equal(cs_share_seen_hlc(cs_engine_handle(f->r[B].e), CS_HLC_MAKE(T0 + 10, 0)),
	    0);
	assert_true(cs_engine_extract(f->r[B].e, cur, NULL, &sc, 100, &cs) >= 0);
	assert_int_equal(cs.nrows, 0);
	cs_changeset_free(&cs);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_late_pc_sends_its_edit_of_a_patient_created_minutes_ahead),
	    cmocka_unit_test(test_late_pc_does_not_send_a_patient_revoked_minutes_ahead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
