/* Unit tests of the repair write after a late revoke (sql/engine.c
 * reassert_row; DESIGN.md "Scope and permissions", the one race): A1 and A2
 * are the owner's devices, C and C2 a colleague's with `write` until the
 * revoke. */
#include "engine_fixture.h"

#define A1 0
#define A2 1
#define C  2
#define C2 3

/* a0, a1: practitioner 11..; a2, a3: practitioner 22.. */
static int
roster(void *ctx, const uint8_t dev[CS_DEVID_LEN], uint8_t out[CS_GID_LEN])
{
	(void)ctx;
	if (dev[0] < 0xa0 || dev[0] > 0xa3)
		return 0;
	memset(out, dev[0] >= 0xa2 ? 0x22 : 0x11, CS_GID_LEN);
	return 1;
}

/* fx_sync, with the count of re-asserted rows too. */
static struct cs_apply_result
sync2(struct fx *f, int a, int b)
{
	struct cs_apply_result tot, r;
	struct cs_changeset cs;
	uint8_t site[CS_DEVID_LEN];
	int more, rounds = 0;

	memset(&tot, 0, sizeof(tot));
	cs_changeset_init(&cs);
	cs_engine_site(f->r[b].e, site);
	do {
		more = cs_engine_extract(f->r[a].e, f->cur[a][b], site, NULL, 1000, &cs);
		if (more < 0)
			fail_msg("extract: %s", cs_engine_errmsg(f->r[a].e));
		if (cs_engine_apply(f->r[b].e, &cs, f->r[a].dev, &r) < 0)
			fail_msg("apply: %s", cs_engine_errmsg(f->r[b].e));
		f->cur[a][b] = cs.db_version;
		tot.applied += r.applied;
		tot.conflicts += r.conflicts;
		tot.refused += r.refused;
		tot.reasserted += r.reasserted;
		assert_true(++rounds < 1000);
	} while (more);
	cs_changeset_free(&cs);
	return tot;
}

static void
reopen_with_rights(struct fx *f, int i)
{
	struct cs_engine_opts o = {0};

	cs_engine_close(f->r[i].e);
	o.db_path = f->r[i].path;
	o.tables_ini = f->ini;
	o.device_id = f->r[i].dev;
	o.practitioner_of = roster;
	assert_int_equal(cs_engine_open(&f->r[i].e, &o), 0);
}

static void
shares(struct fx *f, int i, const char *gid)
{
	char sql[400];

	snprintf(sql, sizeof(sql),
	    "INSERT INTO cs_shares VALUES(x'%s', x'11111111111111111111111111111111', 'owner', 0, "
	    "NULL), (x'%s', x'22222222222222222222222222222222', 'write', 0, NULL)",
	    gid, gid);
	fx_exec(f->r[i].e, sql);
}

/* The revoke, as the records give it: now. */
static void
revoke_c(struct fx *f, int i, int64_t hlc)
{
	char sql[200];

	snprintf(sql, sizeof(sql),
	    "UPDATE cs_shares SET revoke_hlc=%lld WHERE "
	    "practitioner=x'22222222222222222222222222222222'",
	    (long long)hlc);
	fx_exec(f->r[i].e, sql);
}

static void
test_owner_reasserts_and_a_replica_that_took_a_late_change_converges(void **state)
{
	struct fx *f = fx_new(3);
	struct cs_apply_result r;
	struct timespec ts = {0, 20 * 1000000L};
	int64_t rev;
	char *gid;
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		reopen_with_rights(f, i);
	fx_exec(f->r[A1].e, "INSERT INTO patient(nom) VALUES('Durand')");
	fx_exec(f->r[A1].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'm')");
	gid =
	    fx_q(f->r[A1].e, "SELECT hex(gid) FROM cs_ids WHERE tid=(SELECT min(tid) FROM cs_ids)");
	for (i = 0; i < 3; i++)
		shares(f, i, gid);
	fx_sync(f, A1, A2);
	fx_sync(f, A1, C);
	fx_assert_str(f->r[C].e, "SELECT nom FROM patient", "Durand");
	/* A1 revokes; nobody else knows yet */
	rev = (int64_t)fx_int(f->r[A1].e,
	          "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)") *
	    65536;
	revoke_c(f, A1, rev);
	nanosleep(&ts, NULL);
	/* C edits and adds a consultation after it; A2 accepts both */
	fx_exec(f->r[C].e, "UPDATE patient SET nom='Late'");
	fx_exec(f->r[C].e, "INSERT INTO consultation(patient_id, motif) VALUES(1, 'late')");
	r = sync2(f, C, A2);
	assert_int_equal(r.refused, 0);
	fx_assert_str(f->r[A2].e, "SELECT nom FROM patient", "Late");
	/* A1 refuses them and writes its values again */
	revoke_c(f, A2, rev);
	r = sync2(f, A2, A1);
	assert_int_equal(r.refused, 2);
	assert_int_equal(r.reasserted, 2);
	fx_assert_str(f->r[A1].e, "SELECT nom FROM patient", "Durand");
	assert_int_equal(fx_int(f->r[A1].e, "SELECT count(*) FROM consultation"), 1);
	/* A2 converges on them: the edit undone, the late consultation gone,
	 * no conflict (A1's dots cover C's) */
	r = sync2(f, A1, A2);
	assert_int_equal(r.conflicts, 0);
	fx_assert_str(f->r[A2].e, "SELECT nom FROM patient", "Durand");
	assert_int_equal(fx_int(f->r[A2].e, "SELECT count(*) FROM consultation"), 1);
	assert_int_equal(fx_int(f->r[A2].e, "SELECT count(*) FROM cs_conflicts"), 0);
	/* and the repair does not bounce: nothing refused on the way back */
	r = sync2(f, A2, A1);
	assert_int_equal(r.refused, 0);
	assert_int_equal(r.reasserted, 0);
	free(gid);
	fx_free(f);
}

static void
test_only_a_device_that_may_write_reasserts(void **state)
{
	struct fx *f = fx_new(4);
	struct cs_apply_result r;
	char *gid;
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		reopen_with_rights(f, i);
	fx_exec(f->r[A1].e, "INSERT INTO patient(nom) VALUES('Durand')");
	gid = fx_q(f->r[A1].e, "SELECT hex(gid) FROM cs_ids");
	for (i = 0; i < 4; i++)
		shares(f, i, gid);
	fx_sync(f, A1, C);
	fx_sync(f, A1, C2);
	for (i = 0; i < 4; i++)
		revoke_c(f, i, 1);
	/* C edits after its access ended: its own other device refuses the
	 * change and, its practitioner having no right left, re-asserts nothing */
	fx_exec(f->r[C].e, "UPDATE patient SET nom='Y'");
	r = sync2(f, C, C2);
	assert_int_equal(r.refused, 1);
	assert_int_equal(r.reasserted, 0);
	fx_assert_str(f->r[C2].e, "SELECT nom FROM patient", "Durand");
	/* A2 never had the row, whose insert (A1's) was valid: nothing to
	 * repair there either (no tombstone for a valid row) */
	r = sync2(f, C, A2);
	assert_int_equal(r.refused, 1);
	assert_int_equal(r.reasserted, 0);
	assert_int_equal(fx_int(f->r[A2].e, "SELECT count(*) FROM cs_ids"), 0);
	/* A1 has it: re-asserted, once */
	r = sync2(f, C, A1);
	assert_int_equal(r.refused, 1);
	assert_int_equal(r.reasserted, 1);
	fx_assert_str(f->r[A1].e, "SELECT nom FROM patient", "Durand");
	free(gid);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_owner_reasserts_and_a_replica_that_took_a_late_change_converges),
	    cmocka_unit_test(test_only_a_device_that_may_write_reasserts),
	};

	(void)fx_sync_all; /* the fixture's, unused here */
	(void)fx_assert_converged;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
