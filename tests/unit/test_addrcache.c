/* Unit tests of discovery/addrcache: the last-known-address file. */
#include <dirent.h>
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

#include "base/err.h"
#include "base/mem.h"
#include "discovery/addrcache.h"

struct fix {
	char dir[64];
	char path[96];
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cs-addrcache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/peers", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;
	char p[160];
	DIR *d;
	struct dirent *e;

	if ((d = opendir(f->dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static size_t
count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static struct cs_peer_addr
addr(const char *s)
{
	struct cs_peer_addr a;

	assert_int_equal(cs_addr_parse(s, 0, &a), 0);
	return a;
}

static void
fill(struct cs_addrcache *c)
{
	struct cs_peer_addr a = addr("10.77.0.2:7415");
	struct cs_peer_addr b = addr("[fe80::1%eth0]:7000");

	assert_int_equal(cs_addrcache_set(c, "dev-a1", &a, 1764201600), 0);
	assert_int_equal(cs_addrcache_set(c, "dev-b2", &b, 0), 0);
}

static void
test_addrcache_formats_and_parses_back(void **state)
{
	struct cs_addrcache c, d;
	const struct cs_addrcache_entry *e;
	char *buf = NULL;
	size_t len = 0, bad = 99;

	(void)state;
	cs_addrcache_init(&c);
	cs_addrcache_init(&d);
	fill(&c);
	assert_int_equal(cs_addrcache_format(&c, &buf, &len), 0);
	assert_string_equal(buf,
	    "# cabsync addrcache v1\n"
	    "dev-a1 10.77.0.2:7415 1764201600\n"
	    "dev-b2 [fe80::1%eth0]:7000 0\n");
	assert_int_equal(cs_addrcache_parse(&d, buf, len, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(d.n, 2);
	e = cs_addrcache_get(&d, "dev-b2");
	assert_non_null(e);
	assert_string_equal(e->addr.host, "fe80::1%eth0");
	assert_int_equal(e->addr.port, 7000);
	assert_null(cs_addrcache_get(&d, "dev-c3"));
	cs_free(buf);
	cs_addrcache_free(&c);
	cs_addrcache_free(&d);
}

static void
test_addrcache_set_replaces_and_remove_forgets(void **state)
{
	struct cs_addrcache c;
	struct cs_peer_addr a = addr("10.0.0.9:1");

	(void)state;
	cs_addrcache_init(&c);
	fill(&c);
	assert_int_equal(cs_addrcache_set(&c, "dev-a1", &a, 5), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(cs_addrcache_get(&c, "dev-a1")->addr.host, "10.0.0.9");
	assert_int_equal(cs_addrcache_get(&c, "dev-a1")->when, 5);
	assert_int_equal(cs_addrcache_remove(&c, "dev-a1"), 0);
	assert_int_equal(cs_addrcache_remove(&c, "dev-a1"), CS_ENOENT);
	assert_int_equal(c.n, 1);
	assert_non_null(cs_addrcache_get(&c, "dev-b2"));
	cs_addrcache_free(&c);
}

static void
test_addrcache_set_refuses_what_the_file_cannot_hold(void **state)
{
	struct cs_addrcache c;
	struct cs_peer_addr a = addr("10.0.0.9:1");
	struct cs_peer_addr sp = a;

	(void)state;
	cs_addrcache_init(&c);
	assert_int_equal(cs_addrcache_set(&c, "", &a, 1), CS_EINVAL);
	assert_int_equal(cs_addrcache_set(&c, "a b", &a, 1), CS_EINVAL);
	assert_int_equal(cs_addrcache_set(&c, "a\n", &a, 1), CS_EINVAL);
	assert_int_equal(cs_addrcache_set(&c, "ok", &a, -1), CS_EINVAL);
	strcpy(sp.host, "bad host");
	assert_int_equal(cs_addrcache_set(&c, "ok", &sp, 1), CS_EINVAL);
	strcpy(sp.host, "x]");
	assert_int_equal(cs_addrcache_set(&c, "ok", &sp, 1), CS_EINVAL);
	sp = a;
	sp.port = 0;
	assert_int_equal(cs_addrcache_set(&c, "ok", &sp, 1), CS_EINVAL);
	assert_int_equal(c.n, 0);
	cs_addrcache_free(&c);
}

static void
test_addrcache_saves_atomically_and_loads_back(void **state)
{
	struct fix *f = *state;
	struct cs_addrcache c, d;
	struct cs_peer_addr a = addr("192.168.1.20:7415");
	struct stat st;
	size_t bad;

	cs_addrcache_init(&c);
	cs_addrcache_init(&d);
	fill(&c);
	assert_int_equal(cs_addrcache_save(&c, f->path), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(count_files(f->dir), 1); /* no temporary left */
	/* A second save replaces the file as a whole. */
	assert_int_equal(cs_addrcache_set(&c, "dev-a1", &a, 42), 0);
	assert_int_equal(cs_addrcache_remove(&c, "dev-b2"), 0);
	assert_int_equal(cs_addrcache_save(&c, f->path), 0);
	assert_int_equal(count_files(f->dir), 1);
	assert_int_equal(cs_addrcache_load(&d, f->path, &bad), 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(cs_addrcache_get(&d, "dev-a1")->addr.host, "192.168.1.20");
	assert_int_equal(cs_addrcache_get(&d, "dev-a1")->when, 42);
	cs_addrcache_free(&c);
	cs_addrcache_free(&d);
}

static void
test_addrcache_missing_file_is_empty(void **state)
{
	struct fix *f = *state;
	struct cs_addrcache c;

	cs_addrcache_init(&c);
	fill(&c);
	assert_int_equal(cs_addrcache_load(&c, f->path, NULL), 0);
	assert_int_equal(c.n, 0);
	cs_addrcache_free(&c);
}

static void
test_addrcache_save_into_missing_dir_fails_cleanly(void **state)
{
	struct fix *f = *state;
	struct cs_addrcache c;
	char p[160];

	cs_addrcache_init(&c);
	fill(&c);
	snprintf(p, sizeof(p), "%s/nodir/peers", f->dir);
	assert_int_equal(cs_addrcache_save(&c, p), CS_EIO);
	assert_int_equal(count_files(f->dir), 0);
	cs_addrcache_free(&c);
}

/* Each corrupt image: CS_ECORRUPT, the line at fault, the cache unchanged. */
static const struct {
	const char *text;
	size_t len; /* 0: strlen */
	size_t line;
} corrupt[] = {
    {"", 0, 1},
    {"# cabsync addrcache v2\n", 0, 1},
    {"# cabsync addrcache v1", 0, 1},                                 /* no newline */
    {"# cabsync addrcache v1\na 1.2.3.4:5 6", 0, 2},                  /* torn last line */
    {"# cabsync addrcache v1\na 1.2.3.4:5 6\na 1.2.3.4:5 7\n", 0, 3}, /* duplicate */
    {"# cabsync addrcache v1\na 1.2.3.4 6\n", 0, 2},                  /* no port */
    {"# cabsync addrcache v1\na 1.2.3.4:0 6\n", 0, 2},                /* port 0 */
    {"# cabsync addrcache v1\na 1.2.3.4:5  6\n", 0, 2},               /* two spaces */
    {"# cabsync addrcache v1\na 1.2.3.4:5 -6\n", 0, 2},
    {"# cabsync addrcache v1\na 1.2.3.4:5 06\n", 0, 2},
    {"# cabsync addrcache v1\na 1.2.3.4:5 99999999999999999999\n", 0, 2},
    {"# cabsync addrcache v1\na/b 1.2.3.4:5 6\n", 0, 2},
    {"# cabsync addrcache v1\n\n", 0, 2},
    {"# cabsync addrcache v1\na [::1:5 6\n", 0, 2},
    {"# cabsync addrcache v1\na 1.2\0.4:5 6\n", 37, 2}, /* NUL byte */
    {"# cabsync addrcache v1\r\na 1.2.3.4:5 6\n", 0, 1},
};

static void
test_addrcache_corrupt_file_is_a_clear_error(void **state)
{
	struct cs_addrcache c;
	size_t i, bad, len;

	(void)state;
	cs_addrcache_init(&c);
	fill(&c);
	for (i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		len = corrupt[i].len != 0 ? corrupt[i].len : strlen(corrupt[i].text);
		bad = 0;
		if (cs_addrcache_parse(&c, corrupt[i].text, len, &bad) != CS_ECORRUPT)
			fail_msg("corrupt[%zu] accepted", i);
		if (bad != corrupt[i].line)
			fail_msg("corrupt[%zu]: line %zu, want %zu", i, bad, corrupt[i].line);
		assert_int_equal(c.n, 2);
		assert_non_null(cs_addrcache_get(&c, "dev-a1"));
	}
	cs_addrcache_free(&c);
}

static void
test_addrcache_corrupt_file_on_disk(void **state)
{
	struct fix *f = *state;
	struct cs_addrcache c;
	FILE *fp;
	size_t bad = 0;

	fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs("# cabsync addrcache v1\ndev-a1 10.0.0.1:7 1\ngarbage\n", fp);
	fclose(fp);
	cs_addrcache_init(&c);
	assert_int_equal(cs_addrcache_load(&c, f->path, &bad), CS_ECORRUPT);
	assert_int_equal(bad, 3);
	assert_int_equal(c.n, 0);
	/* Too large: refused without reading it all into the cache. */
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs("# cabsync addrcache v1\n", fp);
	for (bad = 0; bad < CS_ADDRCACHE_FILE_MAX / 14 + 1; bad++)
		fputs("a 1.2.3.4:5 6\n", fp); /* 14 bytes */
	fclose(fp);
	assert_int_equal(cs_addrcache_load(&c, f->path, &bad), CS_ECORRUPT);
	assert_int_equal(bad, 1);
	cs_addrcache_free(&c);
}

static void
test_addrcache_parse_survives_allocation_failures(void **state)
{
	const char *text = "# cabsync addrcache v1\na 1.2.3.4:5 6\nb 1.2.3.4:5 6\n"
	                   "c 1.2.3.4:5 6\nd 1.2.3.4:5 6\ne 1.2.3.4:5 6\nf 1.2.3.4:5 6\n"
	                   "g 1.2.3.4:5 6\nh 1.2.3.4:5 6\ni 1.2.3.4:5 6\n";
	struct cs_addrcache c;
	long n, live;
	int rc;

	(void)state;
	cs_addrcache_init(&c);
	live = cs_mem_live();
	for (n = 0; n < 8; n++) {
		cs_mem_fail_after(n, 1);
		rc = cs_addrcache_parse(&c, text, strlen(text), NULL);
		cs_mem_fail_after(-1, 0);
		if (rc == 0) {
			assert_int_equal(c.n, 9);
			cs_addrcache_free(&c);
			break;
		}
		assert_int_equal(rc, CS_ENOMEM);
		assert_int_equal(c.n, 0);
		assert_int_equal(cs_mem_live(), live);
	}
	assert_true(n < 8);
	assert_int_equal(cs_mem_live(), live);
}

static void
test_addrcache_targets_put_static_peers_first_then_recent(void **state)
{
	struct cs_addrcache c;
	struct cs_peer_addr statics[2], out[8];
	struct cs_peer_addr a = addr("10.0.0.1:7000"), b = addr("10.0.0.2:7000");
	struct cs_peer_addr d = addr("desk-pc:7415"), e = addr("10.0.0.3:1");
	size_t n = 99;

	(void)state;
	cs_addrcache_init(&c);
	statics[0] = d;
	statics[1] = a;
	assert_int_equal(cs_addrcache_set(&c, "old", &b, 100), 0);
	assert_int_equal(cs_addrcache_set(&c, "dup", &a, 500), 0); /* also static */
	assert_int_equal(cs_addrcache_set(&c, "new", &e, 900), 0);
	assert_int_equal(cs_addrcache_targets(&c, statics, 2, out, 8, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(out[0].host, "desk-pc");
	assert_string_equal(out[1].host, "10.0.0.1");
	assert_string_equal(out[2].host, "10.0.0.3"); /* most recent cached */
	assert_string_equal(out[3].host, "10.0.0.2");
	/* Bounded by cap; no cache at all is fine. */
	assert_int_equal(cs_addrcache_targets(&c, statics, 2, out, 3, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(cs_addrcache_targets(NULL, statics, 1, out, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(cs_addrcache_targets(&c, NULL, 1, out, 8, &n), CS_EINVAL);
	cs_addrcache_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addrcache_formats_and_parses_back),
	    cmocka_unit_test(test_addrcache_set_replaces_and_remove_forgets),
	    cmocka_unit_test(test_addrcache_set_refuses_what_the_file_cannot_hold),
	    cmocka_unit_test_setup_teardown(test_addrcache_saves_atomically_and_loads_back, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_addrcache_missing_file_is_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_addrcache_save_into_missing_dir_fails_cleanly,
	        setup, teardown),
	    cmocka_unit_test(test_addrcache_corrupt_file_is_a_clear_error),
	    cmocka_unit_test_setup_teardown(test_addrcache_corrupt_file_on_disk, setup, teardown),
	    cmocka_unit_test(test_addrcache_parse_survives_allocation_failures),
	    cmocka_unit_test(test_addrcache_targets_put_static_peers_first_then_recent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
