/*
 * tests/unit/test_relay.c: the relay client's pure parts (agent/relay.h,
 * relay_json.h, relay_cmd.h): the payload decoder (round trip, every
 * truncation, each refusal, every allocation failure), the export container,
 * the JSON reader on Supabase's answer shapes, the [relay] configuration,
 * the seen set and the outbox files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "agent/relay.h"
#include "agent/relay_cmd.h"
#include "agent/relay_json.h"
#include "base/err.h"
#include "base/mem.h"
#include "wire/msg.h"
#include "wire/records.h"

static const uint8_t dev_a[CS_DEVID_LEN] = {0xa1, 0xa2};

static void
sample(struct cs_changeset *cs, uint64_t dbv)
{
	struct cs_row row;
	struct cs_value v;
	int t;

	cs_changeset_init(cs);
	assert_int_equal(cs_changeset_dev(cs, dev_a), 0);
	t = cs_changeset_table(cs, "patient");
	assert_int_equal(cs_changeset_col(cs, (uint32_t)t, "nom"), 0);
	memset(&row, 0, sizeof(row));
	row.table = (uint32_t)t;
	memset(row.gid, 0x33, CS_GID_LEN);
	memset(row.patient, 0x33, CS_GID_LEN);
	row.cl = 1;
	row.ex_dot = (struct cs_dot){0, 7};
	row.ex_hlc = CS_HLC_MAKE(1732700000000ull, 1);
	assert_int_equal(cs_changeset_row_begin(cs, &row), 0);
	v = (struct cs_value){.type = CS_V_TEXT, .p = (const uint8_t *)"Dupont", .len = 6};
	assert_int_equal(cs_changeset_cell(cs, 0, &v, row.ex_hlc, row.ex_dot), 0);
	assert_int_equal(cs_changeset_vv(cs, (struct cs_dot){0, 7}), 0);
	assert_int_equal(cs_changeset_row_end(cs), 0);
	cs->db_version = dbv;
}

static void
put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A payload of n CHANGES messages (db_version 10, 20, ...), after 5, upto 10n. */
static uint8_t *
payload(uint32_t n, size_t *len)
{
	struct cs_changeset cs;
	struct cs_msg_buf mb;
	struct cs_stream st;
	uint8_t *p;
	size_t off;
	uint32_t i;

	p = malloc(CS_RELAY_PAYLOAD_HDR + n * 4096);
	assert_non_null(p);
	memcpy(p, CS_RELAY_PAYLOAD_MAGIC, 4);
	p[4] = 1;
	p[5] = CS_RELAY_KIND_MAIN;
	memset(p + 6, 0, CS_GID_LEN);
	put64(p + 6 + CS_GID_LEN, 5);
	put64(p + 14 + CS_GID_LEN, 10ull * n);
	put32(p + 22 + CS_GID_LEN, n);
	off = CS_RELAY_PAYLOAD_HDR;
	memset(&st, 0, sizeof(st));
	for (i = 0; i < n; i++) {
		sample(&cs, 10ull * (i + 1));
		cs_msg_buf_init(&mb, 0);
		assert_int_equal(cs_msg_encode_changes(&mb, &st, &cs), 0);
		assert_true(mb.len < 4000);
		put32(p + off, (uint32_t)mb.len);
		memcpy(p + off + 4, mb.p, mb.len);
		off += 4 + mb.len;
		cs_msg_buf_free(&mb);
		cs_changeset_free(&cs);
	}
	*len = off;
	return p;
}

static void
test_payload_round_trip(void **state)
{
	struct cs_relay_payload pl;
	struct cs_changeset cs;
	uint8_t *p;
	size_t len;

	(void)state;
	p = payload(3, &len);
	assert_int_equal(cs_relay_payload_decode(p, len, &pl), 0);
	assert_int_equal(pl.kind, CS_RELAY_KIND_MAIN);
	assert_int_equal(pl.after, 5);
	assert_int_equal(pl.upto, 30);
	assert_int_equal(pl.n, 3);
	sample(&cs, 20);
	assert_true(cs_changeset_equal(&pl.cs[1], &cs));
	cs_changeset_free(&cs);
	cs_relay_payload_free(&pl);
	assert_null(pl.cs);
	free(p);
}

static void
test_payload_every_truncation_refused(void **state)
{
	struct cs_relay_payload pl;
	uint8_t *p;
	size_t len, cut;

	(void)state;
	p = payload(2, &len);
	for (cut = 0; cut < len; cut++) {
		assert_int_not_equal(cs_relay_payload_decode(p, cut, &pl), 0);
		assert_int_equal(pl.n, 0);
		assert_null(pl.cs);
	}
	free(p);
}

static void
test_payload_refusals(void **state)
{
	struct cs_relay_payload pl;
	uint8_t *p, *q;
	size_t len;

	(void)state;
	p = payload(1, &len);
	q = malloc(len + 1);
	memcpy(q, p, len);
	q[0] = 'X'; /* magic */
	assert_int_equal(cs_relay_payload_decode(q, len, &pl), CS_RELAY_EPAYLOAD);
	memcpy(q, p, len);
	q[4] = 3; /* version */
	assert_int_equal(cs_relay_payload_decode(q, len, &pl), CS_RELAY_EPAYLOAD);
	memcpy(q, p, len);
	q[4] = 0; /* version */
	assert_int_equal(cs_relay_payload_decode(q, len, &pl), CS_RELAY_EPAYLOAD);
	memcpy(q, p, len);
	q[5] = 3; /* kind */
	assert_int_equal(cs_relay_payload_decode(q, len, &pl), CS_RELAY_EPAYLOAD);
	memcpy(q, p, len);
	q[6] = 1; /* a patient in a main-stream payload */
	assert_int_equal(cs_relay_payload_decode(q, len, &pl), CS_RELAY_EPAYLOAD);
	memcpy(q, p, len);
	put64(q + 14 + CS_GID_LEN, 4); /* upto < after */
	assert_int_equal(cs_relay_payload_decode(q, len, &pl), CS_RELAY_EPAYLOAD);
	memcpy(q, p, len);
	put64(q + 14 + CS_GID_LEN, 9); /* a batch beyond upto */
	assert_int_equal(cs_relay_payload_decode(q, len, &pl), CS_RELAY_EPAYLOAD);
	memcpy(q, p, len);
	put32(q + 22 + CS_GID_LEN, 0xffffffffu); /* a count the input cannot hold */
	assert_int_equal(cs_relay_payload_decode(q, len, &pl), CS_RELAY_EPAYLOAD);
	memcpy(q, p, len);
	q[len] = 0; /* a byte after the last message */
	assert_int_equal(cs_relay_payload_decode(q, len + 1, &pl), CS_RELAY_EPAYLOAD);
	free(q);
	free(p);
}

static void
test_payload_each_allocation_failure(void **state)
{
	struct cs_relay_payload pl;
	uint8_t *p;
	size_t len;
	long n, live;
	int rc;

	(void)state;
	p = payload(3, &len);
	for (n = 0;; n++) {
		live = cs_mem_live();
		cs_mem_fail_after(n, 0);
		rc = cs_relay_payload_decode(p, len, &pl);
		cs_mem_fail_after(-1, 0);
		if (rc == 0) {
			cs_relay_payload_free(&pl);
			break;
		}
		assert_int_equal(rc, CS_ENOMEM);
		assert_null(pl.cs);
		assert_int_equal(cs_mem_live(), live); /* nothing leaked */
		assert_true(n < 10000);
	}
	assert_true(n > 0);
	free(p);
}

/*
 * A version 2 payload: the messages named by kinds, 'R' a RECORDS message of
 * two records ("rec-one", "rec-two-22"), 'C' a CHANGES message; after 5,
 * upto 100.
 */
static uint8_t *
payload2(const char *kinds, size_t *len)
{
	static const struct cs_records_item items[2] = {{(const uint8_t *)"rec-one", 7},
	    {(const uint8_t *)"rec-two-22", 10}};
	struct cs_changeset cs;
	struct cs_msg_buf mb;
	struct cs_stream st;
	uint8_t *p, rm[64];
	size_t off, rlen, n = strlen(kinds), i;

	p = malloc(CS_RELAY_PAYLOAD_HDR + n * 4096);
	assert_non_null(p);
	memcpy(p, CS_RELAY_PAYLOAD_MAGIC, 4);
	p[4] = 2;
	p[5] = CS_RELAY_KIND_MAIN;
	memset(p + 6, 0, CS_GID_LEN);
	put64(p + 6 + CS_GID_LEN, 5);
	put64(p + 14 + CS_GID_LEN, 100);
	put32(p + 22 + CS_GID_LEN, (uint32_t)n);
	off = CS_RELAY_PAYLOAD_HDR;
	memset(&st, 0, sizeof(st));
	assert_int_equal(cs_records_encode(items, 2, rm, sizeof(rm), &rlen), 0);
	for (i = 0; i < n; i++) {
		if (kinds[i] == 'R') {
			put32(p + off, (uint32_t)rlen);
			memcpy(p + off + 4, rm, rlen);
			off += 4 + rlen;
			continue;
		}
		sample(&cs, 10ull * (i + 1));
		cs_msg_buf_init(&mb, 0);
		assert_int_equal(cs_msg_encode_changes(&mb, &st, &cs), 0);
		put32(p + off, (uint32_t)mb.len);
		memcpy(p + off + 4, mb.p, mb.len);
		off += 4 + mb.len;
		cs_msg_buf_free(&mb);
		cs_changeset_free(&cs);
	}
	*len = off;
	return p;
}

static void
test_payload_v2_records_first(void **state)
{
	struct cs_records_item v[4];
	struct cs_relay_payload pl;
	uint8_t *p;
	size_t len, cut, n;

	(void)state;
	p = payload2("RRCC", &len);
	assert_int_equal(cs_relay_payload_decode(p, len, &pl), 0);
	assert_int_equal(pl.version, 2);
	assert_int_equal(pl.nrec, 2);
	assert_int_equal(pl.n, 2);
	assert_true(pl.rec[1].p > pl.rec[0].p && pl.rec[1].p + pl.rec[1].len <= p + len);
	assert_int_equal(cs_records_decode(pl.rec[1].p, pl.rec[1].len, v, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(v[1].p, "rec-two-22", 10);
	cs_relay_payload_free(&pl);
	assert_null(pl.rec);
	/* every truncation refused, nothing left allocated */
	for (cut = 0; cut < len; cut++) {
		long live = cs_mem_live();

		assert_int_not_equal(cs_relay_payload_decode(p, cut, &pl), 0);
		assert_null(pl.rec);
		assert_null(pl.cs);
		assert_int_equal(cs_mem_live(), live);
	}
	free(p);
	/* records only (the rows came in an earlier bundle) are fine */
	p = payload2("R", &len);
	assert_int_equal(cs_relay_payload_decode(p, len, &pl), 0);
	assert_int_equal(pl.nrec, 1);
	assert_int_equal(pl.n, 0);
	cs_relay_payload_free(&pl);
	free(p);
}

static void
test_payload_v2_refusals(void **state)
{
	struct cs_relay_payload pl;
	uint8_t *p;
	size_t len;
	long n, live;
	int rc;

	(void)state;
	/* a record after a change: the rows would apply before their records */
	p = payload2("RCR", &len);
	assert_int_equal(cs_relay_payload_decode(p, len, &pl), CS_RELAY_EPAYLOAD);
	assert_null(pl.rec);
	free(p);
	/* a RECORDS message in a version 1 payload */
	p = payload2("RC", &len);
	p[4] = 1;
	assert_int_not_equal(cs_relay_payload_decode(p, len, &pl), 0);
	/* a malformed RECORDS message: its array says 3 records, holds 2 */
	p[4] = 2;
	assert_int_equal(p[CS_RELAY_PAYLOAD_HDR + 4 + 2] & 0xf0, 0x90);
	p[CS_RELAY_PAYLOAD_HDR + 4 + 2] = 0x93;
	assert_int_equal(cs_relay_payload_decode(p, len, &pl), CS_RELAY_EPAYLOAD);
	free(p);
	/* every allocation failure: CS_ENOMEM, nothing leaked */
	p = payload2("RRC", &len);
	for (n = 0;; n++) {
		live = cs_mem_live();
		cs_mem_fail_after(n, 0);
		rc = cs_relay_payload_decode(p, len, &pl);
		cs_mem_fail_after(-1, 0);
		if (rc == 0) {
			cs_relay_payload_free(&pl);
			break;
		}
		assert_int_equal(rc, CS_ENOMEM);
		assert_null(pl.rec);
		assert_int_equal(cs_mem_live(), live);
		assert_true(n < 10000);
	}
	assert_true(n > 0);
	free(p);
}

/* ---- export container */

static uint8_t *
sealed_for(const uint8_t *rcpt, size_t *len)
{
	struct cs_bundle_seal_params sp;
	uint8_t cab[16] = {1}, key[32] = {2}, sender[16] = {3}, pk[32], sk[32];
	uint8_t spk[32], ssk[64], *out = NULL;

	crypto_box_keypair(pk, sk);
	crypto_sign_keypair(spk, ssk);
	memset(&sp, 0, sizeof(sp));
	sp.cabinet_id = cab;
	sp.cabinet_key = key;
	sp.epoch = 1;
	sp.sender_id = sender;
	sp.recipient_id = rcpt;
	sp.recipient_pk = pk;
	sp.created_ms = 1000;
	sp.expires_ms = 2000;
	assert_int_equal(cs_bundle_seal(&sp, ssk, (const uint8_t *)"x", 1, &out, len), 0);
	return out;
}

static void
test_export_pick(void **state)
{
	uint8_t r1[16] = {0x11}, r2[16] = {0x22}, r3[16] = {0x33}, *b1, *b2, *c;
	const uint8_t *got;
	size_t l1, l2, clen, glen, cut;

	(void)state;
	b1 = sealed_for(r1, &l1);
	b2 = sealed_for(r2, &l2);
	clen = 6 + 4 + l1 + 4 + l2;
	c = malloc(clen);
	memcpy(c, "CSBX\x01\x02", 6);
	put32(c + 6, (uint32_t)l1);
	memcpy(c + 10, b1, l1);
	put32(c + 10 + l1, (uint32_t)l2);
	memcpy(c + 14 + l1, b2, l2);
	assert_int_equal(cs_relay_export_pick(c, clen, r2, &got, &glen), 0);
	assert_ptr_equal(got, c + 14 + l1);
	assert_int_equal(glen, l2);
	assert_int_equal(cs_relay_export_pick(c, clen, r3, &got, &glen), CS_RELAY_ENOTFOR);
	assert_null(got);
	for (cut = 0; cut < clen; cut += 7)
		assert_int_equal(cs_relay_export_pick(c, cut, r1, &got, &glen), CS_RELAY_EPAYLOAD);
	c[5] = 0; /* no bundle */
	assert_int_equal(cs_relay_export_pick(c, clen, r1, &got, &glen), CS_RELAY_EPAYLOAD);
	cs_free(b1);
	cs_free(b2);
	free(c);
}

/* ---- JSON */

struct jctx {
	char name[64], tok[64];
	int n, objs;
};

static int
jmember(void *ctx, size_t elem, const char *key, size_t klen, enum cs_rjson_type t, const char *v,
    size_t vlen)
{
	struct jctx *j = ctx;

	j->n++;
	if ((int)elem + 1 > j->objs)
		j->objs = (int)elem + 1;
	if (cs_rjson_key(key, klen, "name") && t == CS_RJSON_STRING)
		assert_true(cs_rjson_str(v, vlen, j->name, sizeof(j->name)) >= 0);
	if (cs_rjson_key(key, klen, "refresh_token") && t == CS_RJSON_STRING)
		assert_true(cs_rjson_str(v, vlen, j->tok, sizeof(j->tok)) >= 0);
	return 0;
}

static int
walk(const char *s, struct jctx *j)
{
	memset(j, 0, sizeof(*j));
	return cs_rjson_walk(s, strlen(s), jmember, j);
}

static void
test_json_answers(void **state)
{
	struct jctx j;
	char out[16];

	(void)state;
	assert_int_equal(walk("{\"access_token\":\"a.b.c\",\"expires_in\":3600,"
	                      "\"refresh_token\":\"r\\/1\",\"user\":{\"id\":\"u\",\"x\":[1,{}]}}",
	                     &j),
	    0);
	assert_string_equal(j.tok, "r/1");
	assert_int_equal(j.n, 4);
	assert_int_equal(
	    walk(" [ {\"name\":\"b1\",\"id\":\"x\"} , {\"name\":\"d\\u0041\",\"id\":null} ]", &j),
	    0);
	assert_int_equal(j.objs, 2);
	assert_string_equal(j.name, "dA");
	assert_int_equal(walk("[]", &j), 0);
	assert_int_equal(j.n, 0);
	/* refused: not an object or array of objects, bad syntax, too deep */
	assert_int_equal(walk("\"x\"", &j), CS_RELAY_EHTTP);
	assert_int_equal(walk("[1]", &j), CS_RELAY_EHTTP);
	assert_int_equal(walk("{\"a\":01}", &j), CS_RELAY_EHTTP);
	assert_int_equal(walk("{\"a\":1,}", &j), CS_RELAY_EHTTP);
	assert_int_equal(walk("{\"a\":\"\x01\"}", &j), CS_RELAY_EHTTP);
	assert_int_equal(walk("{\"a\":\"\\x\"}", &j), CS_RELAY_EHTTP);
	assert_int_equal(walk("{\"a\":tru}", &j), CS_RELAY_EHTTP);
	assert_int_equal(walk("{\"a\":1} x", &j), CS_RELAY_EHTTP);
	assert_int_equal(walk("{\"a\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}", &j), CS_RELAY_EHTTP);
	assert_int_equal(walk("upstream unavailable\n", &j), CS_RELAY_EHTTP);
	/* strings: \u0000 and non-ASCII escapes refused, the buffer respected */
	assert_int_equal(cs_rjson_str("\\u0000", 6, out, sizeof(out)), -1);
	assert_int_equal(cs_rjson_str("\\u00e9", 6, out, sizeof(out)), -1);
	assert_int_equal(cs_rjson_str("0123456789abcdef", 16, out, sizeof(out)), -1);
	assert_int_equal(cs_rjson_str("0123456789abcde", 15, out, sizeof(out)), 15);
}

/* ---- configuration and files */

static char home[64];

static int
mkhome(void **state)
{
	(void)state;
	snprintf(home, sizeof(home), "/tmp/cs_test_relay.XXXXXX");
	assert_non_null(mkdtemp(home));
	return 0;
}

static int
rmhome(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	return system(cmd) == 0 ? 0 : -1;
}

static int
cfg_of(const char *text, struct cs_relay_cfg *cfg)
{
	char path[128], msg[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cabsync.ini", home);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return cs_relay_cfg_load(home, cfg, msg, sizeof(msg));
}

static void
test_cfg(void **state)
{
	struct cs_relay_cfg *c = calloc(1, sizeof(*c));

	(void)state;
	assert_int_equal(cfg_of("[net]\nport = 1\n", c), 0);
	assert_int_equal(c->backend, CS_RELAY_NONE);
	assert_int_equal(c->after_ms, CS_RELAY_AFTER_DEFAULT_MS);
	assert_int_equal(cfg_of("[relay]\nbackend = folder\ndir = /srv/nas\nafter = 90s\n"
	                        "lifetime = 12h\ninterval = 500ms\n",
	                     c),
	    0);
	assert_int_equal(c->backend, CS_RELAY_FOLDER);
	assert_string_equal(c->dir, "/srv/nas");
	assert_int_equal(c->after_ms, 90000);
	assert_int_equal(c->lifetime_ms, 12 * 3600 * 1000ULL);
	assert_int_equal(c->interval_ms, 500);
	assert_int_equal(cfg_of("[relay]\nbackend = supabase\nurl = http://x/\nkey = k\n"
	                        "cabinet = 5\npractitioner = 1\n"
	                        "map.00112233445566778899aabbccddeeff = 2\n",
	                     c),
	    0);
	assert_string_equal(c->url, "http://x");
	assert_int_equal(c->nmap, 1);
	assert_int_equal(c->map[0].no, 2);
	assert_int_equal(cfg_of("[relay]\nbackend = ftp\n", c), CS_RELAY_ECONFIG);
	assert_int_equal(cfg_of("[relay]\nbackend = folder\ndir = relative\n", c),
	    CS_RELAY_ECONFIG);
	assert_int_equal(cfg_of("[relay]\nbackend = supabase\nurl = http://x\n", c),
	    CS_RELAY_ECONFIG);
	assert_int_equal(cfg_of("[relay]\nafter = 10 days\n", c), CS_RELAY_ECONFIG);
	assert_int_equal(cfg_of("[relay]\nmap.zz = 2\n", c), CS_RELAY_ECONFIG);
	free(c);
}

static void
test_seen_set(void **state)
{
	struct cs_relay_seen s, t;
	uint8_t a[16] = {1}, b[16] = {2}, c[16] = {3};

	(void)state;
	assert_int_equal(cs_relay_seen_load(&s, home), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(cs_relay_seen_add(&s, a, 1000000, 1000), 0);
	assert_int_equal(cs_relay_seen_add(&s, b, 2000000000, 1000), 0);
	assert_true(cs_relay_seen_has(&s, a));
	assert_false(cs_relay_seen_has(&s, c));
	/* a is forgotten once past its expiry + skew */
	assert_int_equal(
	    cs_relay_seen_add(&s, c, 2000000000, 1000000 + CS_BUNDLE_SKEW_DEFAULT_MS + 1), 0);
	assert_int_equal(cs_relay_seen_load(&t, home), 0);
	assert_false(cs_relay_seen_has(&t, a));
	assert_true(cs_relay_seen_has(&t, b));
	assert_true(cs_relay_seen_has(&t, c));
	cs_relay_seen_free(&s);
	cs_relay_seen_free(&t);
}

static void
test_outbox(void **state)
{
	struct cs_relay_out *o = calloc(1, sizeof(*o)), *p = calloc(1, sizeof(*p));
	struct cs_relay_outb b;
	uint8_t d1[16] = {1}, d2[16] = {2};

	(void)state;
	assert_int_equal(cs_relay_out_load(o, home), 0);
	assert_int_equal(cs_relay_out_set_acked(o, d1, 10, 0), 0);
	assert_int_equal(cs_relay_out_set_acked(o, d1, 5, 0), 0); /* never lowered */
	assert_int_equal(cs_relay_out_acked(o, d1), 10);
	memset(&b, 0, sizeof(b));
	memcpy(b.dev, d1, 16);
	b.id[0] = 9;
	b.after = 10;
	b.upto = 25;
	b.expires_ms = 99;
	assert_int_equal(cs_relay_out_add(o, &b), 0);
	assert_int_equal(cs_relay_out_covered(o, d1), 25);
	assert_int_equal(cs_relay_out_covered(o, d2), 0);
	assert_int_equal(cs_relay_out_recs(o, d1), 0);
	assert_int_equal(cs_relay_out_set_recs(o, d1, 7), 0);
	assert_int_equal(cs_relay_out_set_recs(o, d2, 3), 0); /* a device with no ack yet */
	assert_int_equal(cs_relay_out_acked(o, d2), 0);
	assert_int_equal(cs_relay_out_set_acked(o, d1, 10, 1), 0); /* keeps recs */
	assert_int_equal(cs_relay_out_save(o), 0);
	assert_int_equal(cs_relay_out_load(p, home), 0);
	assert_int_equal(p->nb, 1);
	assert_memory_equal(&p->b[0], &b, sizeof(b));
	assert_int_equal(cs_relay_out_acked(p, d1), 10);
	assert_int_equal(cs_relay_out_recs(p, d1), 7);
	assert_int_equal(cs_relay_out_recs(p, d2), 3);
	assert_int_equal(cs_relay_out_set_recs(p, d2, 0), 0); /* lowered: sent again */
	assert_int_equal(cs_relay_out_recs(p, d2), 0);
	cs_relay_out_del(p, 0);
	assert_int_equal(cs_relay_out_covered(p, d1), 10);
	free(o);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_payload_round_trip),
	    cmocka_unit_test(test_payload_every_truncation_refused),
	    cmocka_unit_test(test_payload_refusals),
	    cmocka_unit_test(test_payload_each_allocation_failure),
	    cmocka_unit_test(test_payload_v2_records_first),
	    cmocka_unit_test(test_payload_v2_refusals),
	    cmocka_unit_test(test_export_pick),
	    cmocka_unit_test(test_json_answers),
	    cmocka_unit_test_setup_teardown(test_cfg, mkhome, rmhome),
	    cmocka_unit_test_setup_teardown(test_seen_set, mkhome, rmhome),
	    cmocka_unit_test_setup_teardown(test_outbox, mkhome, rmhome),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
