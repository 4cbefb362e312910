/*
 * The engine's changesets through the wire codec: two replicas of the
 * engine fixture sync only through cs_msg_encode_changes -> chunks ->
 * reassembly -> cs_msg_decode, with inserts (French text, REAL, BLOB, FK as
 * REF), concurrent edits and deletes, and must converge. Built only where
 * sql/engine.h and the engine fixture exist (tests/msg.cmake).
 */
/* the fixture is header-only: helpers this test does not use are fine */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "tests/unit/engine_fixture.h"
#include "wire/chunk.h"
#include "wire/msg.h"

static size_t wire_bytes, wire_cells;

/* cs as the peer receives it: encoded, chunked, reassembled, decoded into out. */
static void
through_wire(const struct cs_changeset *cs, struct cs_msg *out)
{
	static uint8_t chunk[CS_CHUNK_MAX_PLAIN];
	struct cs_msg_buf b;
	struct cs_chunk_split sp;
	struct cs_chunk_reasm r;
	struct cs_stream st = {.kind = CS_STREAM_MAIN};
	const uint8_t *m = NULL;
	size_t n, ml = 0;
	int rc;

	cs_msg_buf_init(&b, 0);
	rc = cs_msg_encode_changes(&b, &st, cs);
	if (rc != 0)
		fail_msg("encode: %s", cs_msg_strerror(rc));
	wire_bytes += b.len;
	wire_cells += cs->ncells;
	assert_int_equal(cs_chunk_split_init(&sp, b.p, b.len, 0, 0), 0);
	cs_chunk_reasm_init(&r, 0);
	rc = CS_EAGAIN;
	while (cs_chunk_split_next(&sp, chunk, sizeof(chunk), &n) == 1)
		rc = cs_chunk_reasm_feed(&r, chunk, n, &m, &ml);
	assert_int_equal(rc, 0);
	rc = cs_msg_decode(m, ml, out);
	if (rc != 0)
		fail_msg("decode: %s", cs_msg_strerror(rc));
	assert_int_equal(out->type, CS_MSG_CHANGES);
	assert_true(cs_changeset_equal(&out->u.changes.cs, cs));
	cs_chunk_reasm_free(&r);
	cs_msg_buf_free(&b);
}

static void
wire_sync(struct fx *f, int a, int b)
{
	struct cs_changeset cs;
	struct cs_apply_result r;
	uint8_t site[CS_DEVID_LEN];
	int more, rounds = 0;

	cs_changeset_init(&cs);
	cs_engine_site(f->r[b].e, site);
	do {
		struct cs_msg m;

		more = cs_engine_extract(f->r[a].e, f->cur[a][b], site, NULL, 500, &cs);
		if (more < 0)
			fail_msg("extract: %s", cs_engine_errmsg(f->r[a].e));
		through_wire(&cs, &m);
		if (cs_engine_apply(f->r[b].e, &m.u.changes.cs, f->r[a].dev, &r) < 0)
			fail_msg("apply: %s", cs_engine_errmsg(f->r[b].e));
		f->cur[a][b] = m.u.changes.cs.db_version;
		cs_msg_free(&m);
		assert_true(++rounds < 10000);
	} while (more);
	cs_changeset_free(&cs);
}

static void
test_engine_changesets_survive_the_wire(void **state)
{
	struct fx *f = fx_new(2);
	char sql[512], *d0, *d1;

	(void)state;
	fx_exec(f->r[0].e, "BEGIN");
	for (int i = 1; i <= 300; i++) {
		snprintf(sql, sizeof(sql),
		    "INSERT INTO patient(id, nom, prenom, email, photo) VALUES (%d, 'Lefèvre%d', "
		    "'Hélène', 'h%d@ex.fr', x'00ff%02x');"
		    "INSERT INTO consultation(patient_id, motif, notes, poids) VALUES (%d, "
		    "'Lombalgie aiguë', 'Douleur L4-L5 depuis trois semaines, séance %d', %d.5);",
		    i, i, i, i % 256, i, i, 50 + i % 40);
		fx_exec(f->r[0].e, sql);
	}
	fx_exec(f->r[0].e, "COMMIT");
	wire_sync(f, 0, 1);
	fx_exec(f->r[1].e, "UPDATE consultation SET notes = 'revu à J+15' WHERE id % 7 = 0");
	fx_exec(f->r[0].e, "UPDATE consultation SET notes = 'autre avis' WHERE id % 21 = 0");
	fx_exec(f->r[0].e, "DELETE FROM patient WHERE id % 50 = 0");
	wire_sync(f, 0, 1);
	wire_sync(f, 1, 0);
	wire_sync(f, 0, 1);
	d0 = fx_dump(f->r[0].e);
	d1 = fx_dump(f->r[1].e);
	assert_string_equal(d0, d1);
	print_message("%zu column changes, %.1f bytes each on the wire codec\n", wire_cells,
	    (double)wire_bytes / (double)wire_cells);
	free(d0);
	free(d1);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_engine_changesets_survive_the_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
