/*
 * tests/unit/test_patlabel.c: the patients and their labels (sql/patlabel.h):
 * the label expression of the tracked-tables config, ordered by label, pages
 * from an offset, a NULL label shown as the id, one patient's label by gid.
 */
/* the shared fixture has helpers this test does not need */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "engine_fixture.h"

#include "sql/patlabel.h"

struct seen {
	char v[16][64];
	int n, stop_at;
	uint8_t gid[CS_GID_LEN];
	int have_gid;
};

static int
cb(void *ctx, const struct cs_patlabel *p)
{
	struct seen *s = ctx;

	if (s->n == s->stop_at)
		return 7;
	snprintf(s->v[s->n], sizeof(s->v[s->n]), "%s=%s", p->local, p->label);
	if (strcmp(p->local, "2") == 0 && p->gid != NULL) {
		memcpy(s->gid, p->gid, CS_GID_LEN);
		s->have_gid = 1;
	}
	s->n++;
	return 0;
}

static void
test_patlabel_list_and_of(void **state)
{
	struct fx *f = fx_new(1);
	struct seen s;
	char out[64];

	(void)state;
	/* prenom NULL: the expression gives NULL, the id is shown */
	fx_exec(f->r[0].e,
	    "INSERT INTO patient(id, nom, prenom) VALUES(1, 'martin', 'Anne'), "
	    "(2, 'Dupont', 'Jean'), (3, 'Zola', NULL)");
	memset(&s, 0, sizeof(s));
	s.stop_at = -1;
	assert_int_equal(cs_patlabel_list(f->r[0].e, 0, cb, &s), 0);
	assert_int_equal(s.n, 3);
	/* 3 sorts first ("3" before letters), then case-insensitive */
	assert_string_equal(s.v[0], "3=3");
	assert_string_equal(s.v[1], "2=Dupont Jean");
	assert_string_equal(s.v[2], "1=martin Anne");
	assert_true(s.have_gid);
	/* a page from an offset, and cb's value stops the walk */
	memset(&s, 0, sizeof(s));
	s.stop_at = -1;
	assert_int_equal(cs_patlabel_list(f->r[0].e, 2, cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.v[0], "1=martin Anne");
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	assert_int_equal(cs_patlabel_list(f->r[0].e, 0, cb, &s), 7);
	/* one label by gid; an unknown gid */
	memset(&s, 0, sizeof(s));
	s.stop_at = -1;
	assert_int_equal(cs_patlabel_list(f->r[0].e, 0, cb, &s), 0);
	assert_int_equal(cs_patlabel_of(f->r[0].e, s.gid, out, sizeof(out)), 0);
	assert_string_equal(out, "Dupont Jean");
	assert_int_equal(cs_patlabel_of(f->r[0].e, s.gid, out, 5), 0);
	assert_string_equal(out, "Dupo");
	memset(s.gid, 0x5a, CS_GID_LEN);
	assert_int_equal(cs_patlabel_of(f->r[0].e, s.gid, out, sizeof(out)), CS_ENOENT);
	assert_int_equal(cs_patlabel_list(f->r[0].e, -1, cb, &s), CS_EINVAL);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patlabel_list_and_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
