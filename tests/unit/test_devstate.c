/*
 * tests/unit/test_devstate.c: the device state file beside a database
 * (agent/devstate.h): what is saved is loaded back, a missing file is
 * CS_ENOENT, a malformed one CS_ECORRUPT with its line, names are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/devstate.h"
#include "base/err.h"

static char dbpath[256];

static int
setup(void **state)
{
	(void)state;
	snprintf(dbpath, sizeof(dbpath), "/tmp/cs-test-devstate-%d.db", (int)getpid());
	return 0;
}

static int
teardown(void **state)
{
	char p[300];

	(void)state;
	snprintf(p, sizeof(p), "%s%s", dbpath, CS_DEVSTATE_SUFFIX);
	unlink(p);
	return 0;
}

static void
write_state(const char *text)
{
	char p[300];
	FILE *f;

	snprintf(p, sizeof(p), "%s%s", dbpath, CS_DEVSTATE_SUFFIX);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_devstate_round_trip(void **state)
{
	struct cs_devstate *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct cs_devpeer *p;
	uint8_t peer_id[CS_DEVID_LEN];
	struct stat sb;
	int line = -1;

	(void)state;
	assert_int_equal(cs_devstate_init(a, dbpath), 0);
	strcpy(a->name, "Dr Martin (bureau)");
	memset(a->id, 0xab, CS_DEVID_LEN);
	strcpy(a->tables, "/srv/cabinet/tables.ini");
	a->has_incarnation = 1;
	memset(a->incarnation, 0x01, CS_GID_LEN);
	a->db_version = 18446744073709551615ULL;
	memset(peer_id, 0x42, sizeof(peer_id));
	p = cs_devstate_peer(a, peer_id, 1);
	assert_non_null(p);
	strcpy(p->name, "Dr Durand (cabinet)");
	p->cursor = 1234;
	assert_int_equal(cs_devstate_save(a), 0);
	assert_int_equal(stat(a->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_int_equal(cs_devstate_init(b, dbpath), 0);
	assert_int_equal(cs_devstate_load(b, &line), 0);
	assert_string_equal(b->name, a->name);
	assert_memory_equal(b->id, a->id, CS_DEVID_LEN);
	assert_string_equal(b->tables, a->tables);
	assert_int_equal(b->has_incarnation, 1);
	assert_memory_equal(b->incarnation, a->incarnation, CS_GID_LEN);
	assert_true(b->db_version == a->db_version);
	assert_int_equal(b->npeers, 1);
	assert_memory_equal(b->peers[0].id, peer_id, CS_DEVID_LEN);
	assert_string_equal(b->peers[0].name, "Dr Durand (cabinet)");
	assert_int_equal(b->peers[0].has_incarnation, 0);
	assert_true(b->peers[0].cursor == 1234);
	assert_string_equal(cs_devstate_name_of(b, peer_id), "Dr Durand (cabinet)");
	assert_string_equal(cs_devstate_name_of(b, a->id), "Dr Martin (bureau)");
	assert_int_equal(cs_devstate_remove(b), 0);
	assert_int_equal(cs_devstate_load(b, &line), CS_ENOENT);
	free(a);
	free(b);
}

static void
test_devstate_missing_is_enoent(void **state)
{
	struct cs_devstate st;

	(void)state;
	assert_int_equal(cs_devstate_init(&st, dbpath), 0);
	assert_int_equal(cs_devstate_load(&st, NULL), CS_ENOENT);
	assert_int_equal(cs_devstate_remove(&st), 0);
}

static void
test_devstate_malformed_names_line(void **state)
{
	struct cs_devstate st;
	int line = 0;

	(void)state;
	write_state("[device]\nname = X\nid = 00112233445566778899aabbccddeeff\n"
	            "tables = /t.ini\ndb_version = -4\n");
	assert_int_equal(cs_devstate_init(&st, dbpath), 0);
	assert_int_equal(cs_devstate_load(&st, &line), CS_ECORRUPT);
	assert_int_equal(line, 5);

	write_state("[device]\nname = X\nid = 0011\ntables = /t.ini\n");
	assert_int_equal(cs_devstate_init(&st, dbpath), 0);
	assert_int_equal(cs_devstate_load(&st, &line), CS_ECORRUPT);
	assert_int_equal(line, 3);

	write_state("[peer zz]\ncursor = 1\n");
	assert_int_equal(cs_devstate_init(&st, dbpath), 0);
	assert_int_equal(cs_devstate_load(&st, &line), CS_ECORRUPT);

	/* no id: a state file must name the device */
	write_state("[device]\nname = X\ntables = /t.ini\n");
	assert_int_equal(cs_devstate_init(&st, dbpath), 0);
	assert_int_equal(cs_devstate_load(&st, &line), CS_ECORRUPT);

	/* unknown keys of a newer cabsync are ignored */
	write_state("[device]\nid = 00112233445566778899aabbccddeeff\ntables = /t.ini\n"
	            "colour = blue\n[future]\nx = 1\n");
	assert_int_equal(cs_devstate_init(&st, dbpath), 0);
	assert_int_equal(cs_devstate_load(&st, &line), 0);
}

static void
test_devstate_peer_table_full(void **state)
{
	struct cs_devstate st;
	uint8_t id[CS_DEVID_LEN];
	int i;

	(void)state;
	assert_int_equal(cs_devstate_init(&st, dbpath), 0);
	memset(id, 0, sizeof(id));
	for (i = 0; i < CS_DEVSTATE_MAX_PEERS; i++) {
		id[0] = (uint8_t)i;
		assert_non_null(cs_devstate_peer(&st, id, 1));
	}
	id[0] = 0xff;
	assert_null(cs_devstate_peer(&st, id, 1));
	assert_null(cs_devstate_peer(&st, id, 0));
	id[0] = 3;
	assert_ptr_equal(cs_devstate_peer(&st, id, 0), &st.peers[3]);
}

static void
test_devstate_name_rules(void **state)
{
	(void)state;
	assert_true(cs_devstate_name_ok("Dr Martin (portable)"));
	assert_true(cs_devstate_name_ok("Poste d'accueil é"));
	assert_false(cs_devstate_name_ok(""));
	assert_false(cs_devstate_name_ok(" lead"));
	assert_false(cs_devstate_name_ok("trail "));
	assert_false(cs_devstate_name_ok("a;b"));
	assert_false(cs_devstate_name_ok("a#b"));
	assert_false(cs_devstate_name_ok("[x]"));
	assert_false(cs_devstate_name_ok("a=b"));
	assert_false(cs_devstate_name_ok("a\nb"));
	assert_false(cs_devstate_name_ok(
	    "0123456789012345678901234567890123456789012345678901234567890123"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_devstate_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devstate_missing_is_enoent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devstate_malformed_names_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devstate_peer_table_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devstate_name_rules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
