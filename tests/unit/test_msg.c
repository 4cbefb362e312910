/*
 * Unit and property tests of wire/msg: every message round-trips, each
 * malformed input (a named byte array) fails with its precise code and
 * returns nothing, allocation failures at every index leak nothing, version
 * negotiation refuses a newer peer cleanly. Property tests use a seeded RNG:
 * CS_SEED=<n> replays a run; the seed is printed when a property fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/change.h"
#include "base/err.h"
#include "base/mem.h"
#include "wire/chunk.h"
#include "wire/msg.h"
#include "wire/version.h"

/* ---- helpers ---- */

static uint64_t rng_state, seed;

static uint64_t
rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static uint32_t
rnd_below(uint32_t n)
{
	return n == 0 ? 0 : (uint32_t)(rnd() % n);
}

static void
seed_rng(void)
{
	const char *e = getenv("CS_SEED");

	seed =
	    e != NULL ? strtoull(e, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (seed == 0)
		seed = 1;
	rng_state = seed;
}

#define PROP(cond, iter)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error("property failed: %s (seed CS_SEED=%llu, iteration %d)\n",     \
			    #cond, (unsigned long long)seed, (int)(iter));                         \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

static const uint8_t dev_a[CS_DEVID_LEN] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
    0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0};
static const uint8_t dev_b[CS_DEVID_LEN] = {0xb1};

/* A changeset with one row of each value type, two devices, a vector. */
static void
sample_changes(struct cs_changeset *cs)
{
	struct cs_row row;
	struct cs_value v;
	static const uint8_t ref[CS_GID_LEN] = {9, 9, 9};
	int t, a;

	cs_changeset_init(cs);
	a = cs_changeset_dev(cs, dev_a);
	assert_true(cs_changeset_dev(cs, dev_b) == 1);
	t = cs_changeset_table(cs, "consultation");
	assert_true(cs_changeset_col(cs, t, "motif") == 0);
	assert_true(cs_changeset_col(cs, t, "duree") == 1);
	assert_true(cs_changeset_col(cs, t, "poids") == 2);
	assert_true(cs_changeset_col(cs, t, "photo") == 3);
	assert_true(cs_changeset_col(cs, t, "patient_id") == 4);
	assert_true(cs_changeset_col(cs, t, "note") == 5);
	memset(&row, 0, sizeof(row));
	row.table = (uint32_t)t;
	memset(row.gid, 0x33, CS_GID_LEN);
	memset(row.patient, 0x44, CS_GID_LEN);
	row.cl = 1;
	row.ex_dot = (struct cs_dot){(uint32_t)a, 1000};
	row.ex_hlc = CS_HLC_MAKE(1732700000000ull, 3);
	assert_int_equal(cs_changeset_row_begin(cs, &row), 0);
	v = (struct cs_value){.type = CS_V_TEXT,
	    .p = (const uint8_t *)"Lombalgie aiguë",
	    .len = 16};
	assert_int_equal(cs_changeset_cell(cs, 0, &v, row.ex_hlc, row.ex_dot), 0);
	v = (struct cs_value){.type = CS_V_INT, .u.i = -45};
	assert_int_equal(cs_changeset_cell(cs, 1, &v, row.ex_hlc + 7, (struct cs_dot){1, 12}), 0);
	v = (struct cs_value){.type = CS_V_REAL, .u.r = 71.5};
	assert_int_equal(cs_changeset_cell(cs, 2, &v, row.ex_hlc - 1, row.ex_dot), 0);
	v = (struct cs_value){.type = CS_V_BLOB, .p = (const uint8_t *)"\0\1\2", .len = 3};
	assert_int_equal(cs_changeset_cell(cs, 3, &v, row.ex_hlc, row.ex_dot), 0);
	v = (struct cs_value){.type = CS_V_REF, .p = ref, .len = CS_GID_LEN};
	assert_int_equal(cs_changeset_cell(cs, 4, &v, row.ex_hlc, row.ex_dot), 0);
	v = (struct cs_value){.type = CS_V_NULL};
	assert_int_equal(cs_changeset_cell(cs, 5, &v, row.ex_hlc, row.ex_dot), 0);
	assert_int_equal(cs_changeset_vv(cs, (struct cs_dot){0, 1000}), 0);
	assert_int_equal(cs_changeset_vv(cs, (struct cs_dot){1, 12}), 0);
	assert_int_equal(cs_changeset_row_end(cs), 0);
	/* a deleted row: no cells */
	memset(row.gid, 0x55, CS_GID_LEN);
	row.cl = 2;
	assert_int_equal(cs_changeset_row_begin(cs, &row), 0);
	assert_int_equal(cs_changeset_row_end(cs), 0);
	cs->db_version = 1042;
}

static void
sample_hello(struct cs_hello *h)
{
	int t;

	cs_msg_hello_init(h);
	memcpy(h->device, dev_a, CS_DEVID_LEN);
	memset(h->incarnation, 0x5a, sizeof(h->incarnation));
	h->epoch = 3;
	memset(h->schema_hash, 0xc3, sizeof(h->schema_hash));
	h->features = 0x5;
	t = cs_changeset_table(&h->schema, "patient");
	assert_true(t >= 0);
	assert_true(cs_changeset_col(&h->schema, (uint32_t)t, "nom") >= 0);
	assert_true(cs_changeset_col(&h->schema, (uint32_t)t, "prénom") >= 0);
	assert_true(cs_changeset_table(&h->schema, "consultation") >= 0);
}

static int
hello_equal(const struct cs_hello *a, const struct cs_hello *b)
{
	return a->version == b->version && a->min_version == b->min_version &&
	    memcmp(a->device, b->device, CS_DEVID_LEN) == 0 &&
	    memcmp(a->incarnation, b->incarnation, sizeof(a->incarnation)) == 0 &&
	    a->epoch == b->epoch &&
	    memcmp(a->schema_hash, b->schema_hash, sizeof(a->schema_hash)) == 0 &&
	    a->features == b->features && cs_changeset_equal(&a->schema, &b->schema);
}

static int
msg_equal(const struct cs_msg *a, const struct cs_msg *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case CS_MSG_HELLO:
		return hello_equal(&a->u.hello, &b->u.hello);
	case CS_MSG_CURSOR:
		if (a->u.cursor.n != b->u.cursor.n)
			return 0;
		for (uint32_t i = 0; i < a->u.cursor.n; i++)
			if (cs_msg_stream_cmp(&a->u.cursor.v[i].stream, &b->u.cursor.v[i].stream) !=
			        0 ||
			    a->u.cursor.v[i].after != b->u.cursor.v[i].after)
				return 0;
		return 1;
	case CS_MSG_CHANGES:
		return cs_msg_stream_cmp(&a->u.changes.stream, &b->u.changes.stream) == 0 &&
		    cs_changeset_equal(&a->u.changes.cs, &b->u.changes.cs);
	case CS_MSG_ACK:
		return cs_msg_stream_cmp(&a->u.ack.stream, &b->u.ack.stream) == 0 &&
		    a->u.ack.db_version == b->u.ack.db_version;
	case CS_MSG_PING:
	case CS_MSG_PONG:
		return a->u.nonce == b->u.nonce;
	case CS_MSG_BYE:
		return a->u.bye.code == b->u.bye.code && a->u.bye.text_len == b->u.bye.text_len &&
		    memcmp(a->u.bye.text, b->u.bye.text, a->u.bye.text_len) == 0;
	}
	return 0;
}

/* Decode buf and expect err with nothing returned (out all zero). */
static void
expect_refused(const uint8_t *buf, size_t len, int err)
{
	static const struct cs_msg zero;
	struct cs_msg m;
	long live = cs_mem_live();
	int rc;

	memset(&m, 0x5c, sizeof(m));
	rc = cs_msg_decode(buf, len, &m);
	if (rc != err)
		print_error("expected %d (%s), got %d (%s)\n", err, cs_msg_strerror(err), rc,
		    cs_msg_strerror(rc));
	assert_int_equal(rc, err);
	assert_memory_equal(&m, &zero, sizeof(m));
	assert_int_equal(cs_mem_live(), live);
}

#define REFUSED(arr, err) expect_refused(arr, sizeof(arr), err)

/* Decode buf, expect success, re-encode: the very same bytes (canonical). */
static void
expect_identical_reencode(const uint8_t *buf, size_t len)
{
	struct cs_msg m;
	struct cs_msg_buf b;

	assert_int_equal(cs_msg_decode(buf, len, &m), 0);
	cs_msg_buf_init(&b, 0);
	assert_int_equal(cs_msg_encode(&b, &m), 0);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.p, buf, len);
	cs_msg_buf_free(&b);
	cs_msg_free(&m);
}

/* ---- round trips ---- */

static void
roundtrip(const struct cs_msg *m)
{
	struct cs_msg_buf b, b2;
	struct cs_msg d;

	cs_msg_buf_init(&b, 0);
	cs_msg_buf_init(&b2, 0);
	assert_int_equal(cs_msg_encode(&b, m), 0);
	assert_int_equal(cs_msg_decode(b.p, b.len, &d), 0);
	assert_true(msg_equal(m, &d));
	assert_int_equal(cs_msg_encode(&b2, &d), 0);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.p, b2.p, b.len);
	cs_msg_free(&d);
	cs_msg_buf_free(&b);
	cs_msg_buf_free(&b2);
}

static void
test_hello_round_trips(void **state)
{
	struct cs_msg m = {.type = CS_MSG_HELLO};

	(void)state;
	sample_hello(&m.u.hello);
	roundtrip(&m);
	cs_msg_free(&m);
}

static void
test_cursor_round_trips(void **state)
{
	struct cs_cursor_entry e[3];
	struct cs_msg m = {.type = CS_MSG_CURSOR};

	(void)state;
	memset(e, 0, sizeof(e));
	e[0].stream.kind = CS_STREAM_PATIENT;
	memset(e[0].stream.patient, 0x20, CS_GID_LEN);
	e[0].after = 5;
	e[1].stream.kind = CS_STREAM_MAIN;
	e[1].after = 1ull << 40;
	e[2].stream.kind = CS_STREAM_PATIENT;
	memset(e[2].stream.patient, 0x10, CS_GID_LEN);
	m.u.cursor.v = e;
	m.u.cursor.n = 3;
	cs_msg_cursor_sort(&m.u.cursor);
	assert_int_equal(e[0].stream.kind, CS_STREAM_MAIN);
	assert_int_equal(e[1].stream.patient[0], 0x10);
	roundtrip(&m);
	m.u.cursor.n = 0; /* an empty cursor is valid: nothing wanted yet */
	roundtrip(&m);
}

static void
test_changes_round_trips_every_value_type(void **state)
{
	struct cs_msg m = {.type = CS_MSG_CHANGES};

	(void)state;
	sample_changes(&m.u.changes.cs);
	roundtrip(&m);
	m.u.changes.stream.kind = CS_STREAM_PATIENT;
	memset(m.u.changes.stream.patient, 0x44, CS_GID_LEN);
	roundtrip(&m);
	cs_msg_free(&m);
}

static void
test_ack_ping_pong_bye_round_trip(void **state)
{
	struct cs_msg m;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = CS_MSG_ACK;
	m.u.ack.db_version = UINT64_MAX;
	roundtrip(&m);
	memset(&m, 0, sizeof(m));
	m.type = CS_MSG_PING;
	m.u.nonce = 0x0123456789abcdefull;
	roundtrip(&m);
	m.type = CS_MSG_PONG;
	roundtrip(&m);
	memset(&m, 0, sizeof(m));
	m.type = CS_MSG_BYE;
	m.u.bye.code = CS_BYE_TIMEOUT;
	strcpy(m.u.bye.text, "pas de réponse");
	m.u.bye.text_len = strlen(m.u.bye.text);
	roundtrip(&m);
}

static void
test_small_messages_have_their_documented_bytes(void **state)
{
	static const uint8_t ping[] = {0x92, 0x05, 0x2a};
	static const uint8_t ack[] = {0x93, 0x04, 0xc0, 0xcd, 0x01, 0x00};
	static const uint8_t bye[] = {0x93, 0x07, 0x00, 0xa2, 'o', 'k'};
	struct cs_msg_buf b;
	struct cs_stream main_stream = {.kind = CS_STREAM_MAIN};

	(void)state;
	cs_msg_buf_init(&b, 0);
	assert_int_equal(cs_msg_encode_ping(&b, 42), 0);
	assert_int_equal(b.len, sizeof(ping));
	assert_memory_equal(b.p, ping, sizeof(ping));
	assert_int_equal(cs_msg_encode_ack(&b, &main_stream, 256), 0);
	assert_int_equal(b.len, sizeof(ack));
	assert_memory_equal(b.p, ack, sizeof(ack));
	assert_int_equal(cs_msg_encode_bye(&b, CS_BYE_NORMAL, "ok"), 0);
	assert_int_equal(b.len, sizeof(bye));
	assert_memory_equal(b.p, bye, sizeof(bye));
	cs_msg_buf_free(&b);
}

/* ---- malformed input: one named array per error ---- */

static const uint8_t msg_nothing[] = {0};
static const uint8_t msg_not_array[] = {0x05};
static const uint8_t msg_map[] = {0x81, 0x01, 0x02};
static const uint8_t msg_empty_array[] = {0x90};
static const uint8_t msg_type_zero[] = {0x92, 0x00, 0x00};
static const uint8_t msg_type_unknown[] = {0x92, 0x08, 0x00};
static const uint8_t msg_type_negative[] = {0x92, 0xff, 0x00};
static const uint8_t msg_type_string[] = {0x92, 0xa1, '5', 0x00};
static const uint8_t ping_missing_nonce[] = {0x91, 0x05};
static const uint8_t ping_extra_field[] = {0x93, 0x05, 0x01, 0x02};
static const uint8_t ping_nonce_string[] = {0x92, 0x05, 0xa1, 'x'};
static const uint8_t ping_nonce_negative[] = {0x92, 0x05, 0xd0, 0x80};
static const uint8_t ping_nonce_long_form[] = {0x92, 0x05, 0xcc, 0x05};
static const uint8_t ping_nonce_truncated[] = {0x92, 0x05, 0xcd, 0x01};
static const uint8_t ping_trailing_byte[] = {0x92, 0x05, 0x01, 0x00};
static const uint8_t ping_nonce_c1[] = {0x92, 0x05, 0xc1};
static const uint8_t ping_array_long_form[] = {0xdc, 0x00, 0x02, 0x05, 0x01};
static const uint8_t ping_count_over_input[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x05, 0x01};
static const uint8_t ack_stream_15_bytes[] = {0x93, 0x04, 0xc4, 0x0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    11, 12, 13, 14, 15, 0x01};
static const uint8_t ack_stream_string[] = {0x93, 0x04, 0xa1, 'm', 0x01};
static const uint8_t ack_bin_length_over_input[] = {0x93, 0x04, 0xc6, 0x7f, 0xff, 0xff, 0xff, 0x01};
static const uint8_t bye_code_over_u32[] = {0x93, 0x07, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0};
static const uint8_t bye_text_nul[] = {0x93, 0x07, 0x00, 0xa3, 'a', 0, 'b'};
static const uint8_t bye_text_bad_utf8[] = {0x93, 0x07, 0x00, 0xa2, 0xc3, 0x28};
static const uint8_t bye_text_overlong_utf8[] = {0x93, 0x07, 0x00, 0xa2, 0xc0, 0xaf};
static const uint8_t bye_text_str8_short[] = {0x93, 0x07, 0x00, 0xd9, 0x01, 'a'};
static const uint8_t cursor_odd_count[] = {0x92, 0x02, 0x93, 0xc0, 0x01, 0xc0};
static const uint8_t cursor_duplicate_main[] = {0x92, 0x02, 0x94, 0xc0, 0x01, 0xc0, 0x02};
#define P16(x) 0xc4, 0x10, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const uint8_t cursor_out_of_order[] = {0x92, 0x02, 0x94, P16(2), 0x01, P16(1), 0x02};
static const uint8_t cursor_main_after_patient[] = {0x92, 0x02, 0x94, P16(2), 0x01, 0xc0, 0x02};

static void
test_decode_refuses_malformed_envelopes(void **state)
{
	(void)state;
	expect_refused(msg_nothing, 0, CS_MSG_ETRUNC);
	REFUSED(msg_not_array, CS_MSG_ENOTARRAY);
	REFUSED(msg_map, CS_MSG_ENOTARRAY);
	REFUSED(msg_empty_array, CS_MSG_EFIELDS);
	REFUSED(msg_type_zero, CS_MSG_ETYPE);
	REFUSED(msg_type_unknown, CS_MSG_ETYPE);
	REFUSED(msg_type_negative, CS_MSG_ESIGN);
	REFUSED(msg_type_string, CS_MSG_EMSGPACK);
	REFUSED(ping_count_over_input, CS_MSG_ETRUNC);
	REFUSED(ping_array_long_form, CS_MSG_ENONCANON);
	REFUSED(ping_trailing_byte, CS_MSG_ETRAILING);
}

static void
test_decode_refuses_malformed_fields(void **state)
{
	(void)state;
	REFUSED(ping_missing_nonce, CS_MSG_EFIELDS);
	REFUSED(ping_extra_field, CS_MSG_EFIELDS);
	REFUSED(ping_nonce_string, CS_MSG_EMSGPACK);
	REFUSED(ping_nonce_negative, CS_MSG_ESIGN);
	REFUSED(ping_nonce_long_form, CS_MSG_ENONCANON);
	REFUSED(ping_nonce_truncated, CS_MSG_ETRUNC);
	REFUSED(ping_nonce_c1, CS_MSG_EBADBYTE);
	REFUSED(ack_stream_15_bytes, CS_MSG_ELENGTH);
	REFUSED(ack_stream_string, CS_MSG_EMSGPACK);
	REFUSED(ack_bin_length_over_input, CS_MSG_ETRUNC);
	REFUSED(bye_code_over_u32, CS_MSG_ERANGE);
	REFUSED(bye_text_nul, CS_MSG_ENAME);
	REFUSED(bye_text_bad_utf8, CS_MSG_EUTF8);
	REFUSED(bye_text_overlong_utf8, CS_MSG_EUTF8);
	REFUSED(bye_text_str8_short, CS_MSG_ENONCANON);
	REFUSED(cursor_odd_count, CS_MSG_ECOUNT);
	REFUSED(cursor_duplicate_main, CS_MSG_EDUP);
	REFUSED(cursor_out_of_order, CS_MSG_EORDER);
	REFUSED(cursor_main_after_patient, CS_MSG_EORDER);
}

static void
test_decode_refuses_bye_text_over_limit(void **state)
{
	uint8_t buf[3 + 3 + 257];

	(void)state;
	buf[0] = 0x93;
	buf[1] = 0x07;
	buf[2] = 0x00;
	buf[3] = 0xda; /* str 16 */
	buf[4] = 0x01;
	buf[5] = 0x01; /* 257 */
	memset(buf + 6, 'a', 257);
	REFUSED(buf, CS_MSG_ELENGTH);
	buf[5] = 0x00; /* 256: the limit itself is fine */
	expect_identical_reencode(buf, sizeof(buf) - 1);
}

/*
 * A minimal valid CHANGES, then one variant per error:
 * [3, nil, 5, [["t", ["a"]]], [dev], [[0, gid, patient, 1, 0, 7, 100,
 *   [0, 42, 0, 0, 0], [0, 0]]]]
 */
#define CH_HEAD       0x96, 0x03, 0xc0, 0x05
#define CH_TABLES     0x91, 0x92, 0xa1, 't', 0x91, 0xa1, 'a'
#define CH_DEVS       0x91, P16(0xd0)
#define ROW(t, exdev) 0x99, t, P16(0x61), P16(0x70), 0x01, exdev, 0x07, 0x64
#define CELLS_OK      0x95, 0x00, 0x2a, 0x00, 0x00, 0x00
#define VV_OK         0x92, 0x00, 0x00
static const uint8_t changes_ok[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), CELLS_OK, VV_OK};
static const uint8_t changes_row_table_out[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(1, 0),
    CELLS_OK, VV_OK};
static const uint8_t changes_row_dev_out[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 1),
    CELLS_OK, VV_OK};
static const uint8_t changes_cell_col_out[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x95,
    0x01, 0x2a, 0x00, 0x00, 0x00, VV_OK};
static const uint8_t changes_cell_dev_out[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x95,
    0x00, 0x2a, 0x00, 0x01, 0x00, VV_OK};
static const uint8_t changes_vv_dev_out[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), CELLS_OK,
    0x92, 0x05, 0x00};
static const uint8_t changes_cell_twice[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x9a,
    0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, VV_OK};
static const uint8_t changes_vv_dev_twice[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0),
    CELLS_OK, 0x94, 0x00, 0x00, 0x00, 0x01};
static const uint8_t changes_cells_not_5[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x94,
    0x00, 0x2a, 0x00, 0x00, VV_OK};
static const uint8_t changes_vv_odd[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), CELLS_OK,
    0x91, 0x00};
static const uint8_t changes_dev_twice[] = {CH_HEAD, CH_TABLES, 0x92, P16(0xd0), P16(0xd0), 0x90};
static const uint8_t changes_dev_short[] = {CH_HEAD, CH_TABLES, 0x91, 0xc4, 0x01, 0xd0, 0x90};
static const uint8_t changes_table_twice[] = {CH_HEAD, 0x92, 0x92, 0xa1, 't', 0x90, 0x92, 0xa1, 't',
    0x90, 0x90, 0x90};
static const uint8_t changes_column_twice[] = {CH_HEAD, 0x91, 0x92, 0xa1, 't', 0x92, 0xa1, 'a',
    0xa1, 'a', 0x90, 0x90};
static const uint8_t changes_table_name_empty[] = {CH_HEAD, 0x91, 0x92, 0xa0, 0x90, 0x90, 0x90};
static const uint8_t changes_table_name_nul[] = {CH_HEAD, 0x91, 0x92, 0xa2, 't', 0, 0x90, 0x90,
    0x90};
static const uint8_t changes_table_not_pair[] = {CH_HEAD, 0x91, 0x93, 0xa1, 't', 0x90, 0x00, 0x90,
    0x90};
static const uint8_t changes_row_short[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, 0x98, 0x00,
    P16(0x61), P16(0x70), 0x01, 0x00, 0x07, 0x64, 0x90};
static const uint8_t changes_value_float32[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x95,
    0x00, 0xca, 0x3f, 0x80, 0, 0, 0x00, 0x00, 0x00, VV_OK};
static const uint8_t changes_value_map[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x95,
    0x00, 0x80, 0x00, 0x00, 0x00, VV_OK};
static const uint8_t changes_value_bool[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x95,
    0x00, 0xc3, 0x00, 0x00, 0x00, VV_OK};
static const uint8_t changes_value_int_over_int64[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0),
    0x95, 0x00, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00, VV_OK};
static const uint8_t changes_ref_other_ext[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x95,
    0x00, 0xd8, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0x00, 0x00, 0x00,
    VV_OK};
static const uint8_t changes_ref_8_bytes[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x95,
    0x00, 0xd7, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x00, 0x00, VV_OK};
static const uint8_t changes_ref_ext8_form[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0x95,
    0x00, 0xc7, 0x10, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0x00, 0x00, 0x00,
    VV_OK};
static const uint8_t changes_cl_negative[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, 0x99, 0x00,
    P16(0x61), P16(0x70), 0xff, 0x00, 0x07, 0x64, CELLS_OK, VV_OK};
static const uint8_t changes_truncated_in_row[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0),
    0x95, 0x00};

/* Counts far beyond the input: refused before any allocation is tried. */
static const uint8_t changes_rows_4g[] = {CH_HEAD, 0x90, 0x90, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x99};
static const uint8_t changes_cells_4g[] = {CH_HEAD, CH_TABLES, CH_DEVS, 0x91, ROW(0, 0), 0xdd, 0x7f,
    0xff, 0xff, 0xff, 0x00};
static const uint8_t cursor_entries_4g[] = {0x92, 0x02, 0xdd, 0xff, 0xff, 0xff, 0xfe, 0xc0};
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const uint8_t hello_tables_4g[] = {0x99, 0x01, 0x01, 0x01, P16(1), P16(2), 0x01, 0xc4, 0x20,
    R16(3), R16(4), 0x00, 0xdd, 0x00, 0x10, 0x00, 0x00, 0x90};

/* Decode with every allocation failing: an attempt would show as CS_ENOMEM. */
static int
decode_without_memory(const uint8_t *buf, size_t len)
{
	struct cs_msg m;
	int rc;

	cs_mem_fail_after(0, 1);
	rc = cs_msg_decode(buf, len, &m);
	cs_mem_fail_after(-1, 0);
	return rc;
}

#define NOMEM_DECODE(arr) decode_without_memory(arr, sizeof(arr))

static void
test_decode_checks_counts_before_allocating(void **state)
{
	(void)state;
	assert_int_equal(NOMEM_DECODE(changes_rows_4g), CS_MSG_ETRUNC);
	assert_int_equal(NOMEM_DECODE(cursor_entries_4g), CS_MSG_ETRUNC);
	assert_int_equal(NOMEM_DECODE(hello_tables_4g), CS_MSG_ETRUNC);
	REFUSED(changes_cells_4g, CS_MSG_ETRUNC);
}

static void
test_changes_minimal_is_canonical(void **state)
{
	(void)state;
	expect_identical_reencode(changes_ok, sizeof(changes_ok));
}

static void
test_decode_refuses_changes_index_outside_dictionary(void **state)
{
	(void)state;
	REFUSED(changes_row_table_out, CS_MSG_EINDEX);
	REFUSED(changes_row_dev_out, CS_MSG_EINDEX);
	REFUSED(changes_cell_col_out, CS_MSG_EINDEX);
	REFUSED(changes_cell_dev_out, CS_MSG_EINDEX);
	REFUSED(changes_vv_dev_out, CS_MSG_EINDEX);
}

static void
test_decode_refuses_changes_duplicates(void **state)
{
	(void)state;
	REFUSED(changes_cell_twice, CS_MSG_EDUP);
	REFUSED(changes_vv_dev_twice, CS_MSG_EDUP);
	REFUSED(changes_dev_twice, CS_MSG_EDUP);
	REFUSED(changes_table_twice, CS_MSG_EDUP);
	REFUSED(changes_column_twice, CS_MSG_EDUP);
}

static void
test_decode_refuses_changes_bad_shapes(void **state)
{
	(void)state;
	REFUSED(changes_cells_not_5, CS_MSG_ECOUNT);
	REFUSED(changes_vv_odd, CS_MSG_ECOUNT);
	REFUSED(changes_dev_short, CS_MSG_ELENGTH);
	REFUSED(changes_table_name_empty, CS_MSG_ENAME);
	REFUSED(changes_table_name_nul, CS_MSG_ENAME);
	REFUSED(changes_table_not_pair, CS_MSG_EFIELDS);
	REFUSED(changes_row_short, CS_MSG_EFIELDS);
	REFUSED(changes_cl_negative, CS_MSG_ESIGN);
	REFUSED(changes_truncated_in_row, CS_MSG_ETRUNC);
}

static void
test_decode_refuses_changes_bad_values(void **state)
{
	(void)state;
	REFUSED(changes_value_float32, CS_MSG_EMSGPACK);
	REFUSED(changes_value_map, CS_MSG_EMSGPACK);
	REFUSED(changes_value_bool, CS_MSG_EMSGPACK);
	REFUSED(changes_value_int_over_int64, CS_MSG_ERANGE);
	REFUSED(changes_ref_other_ext, CS_MSG_EMSGPACK);
	REFUSED(changes_ref_8_bytes, CS_MSG_ELENGTH);
	REFUSED(changes_ref_ext8_form, CS_MSG_ENONCANON);
}

static void
test_decode_refuses_dictionary_over_limits(void **state)
{
	/* 129 tables of one column-less entry each: over CS_MSG_MAX_TABLES */
	uint8_t buf[16 + 129 * 5];
	size_t n = 0;

	(void)state;
	buf[n++] = 0x96;
	buf[n++] = 0x03;
	buf[n++] = 0xc0;
	buf[n++] = 0x05;
	buf[n++] = 0xdc;
	buf[n++] = 0x00;
	buf[n++] = 129;
	for (int i = 0; i < 129; i++) {
		buf[n++] = 0x92;
		buf[n++] = 0xa2;
		buf[n++] = (uint8_t)('a' + i / 26);
		buf[n++] = (uint8_t)('a' + i % 26);
		buf[n++] = 0x90;
	}
	buf[n++] = 0x90;
	buf[n++] = 0x90;
	expect_refused(buf, n, CS_MSG_ECOUNT);
	buf[6] = 128; /* drop the last table: at the limit it decodes */
	memmove(buf + 7 + 128 * 5, buf + 7 + 129 * 5, 2);
	expect_identical_reencode(buf, n - 5);
}

/* ---- HELLO and version negotiation ---- */

/* A HELLO's encoding with its version fields changed and extra appended. */
static size_t
hello_bytes(uint8_t *out, size_t cap, uint32_t version, uint32_t min_version, const uint8_t *extra,
    size_t extra_len, int extra_count)
{
	struct cs_hello h;
	struct cs_msg_buf b;
	size_t n;

	sample_hello(&h);
	h.version = version;
	h.min_version = min_version;
	cs_msg_buf_init(&b, 0);
	assert_int_equal(cs_msg_encode_hello(&b, &h), 0);
	n = b.len + extra_len;
	assert_true(n <= cap);
	memcpy(out, b.p, b.len);
	memcpy(out + b.len, extra, extra_len);
	assert_int_equal(out[0], 0x99); /* fixarray of 9 */
	out[0] = (uint8_t)(0x90 + 9 + extra_count);
	cs_msg_buf_free(&b);
	cs_changeset_free(&h.schema);
	return n;
}

static void
test_hello_from_newer_peer_that_speaks_ours_is_accepted(void **state)
{
	static const uint8_t extra[] = {0x82, 0x01, 0x92, 0xc3, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1,
	    'x', 0xd6, 0x05, 1, 2, 3, 4, 0x07};
	uint8_t buf[512];
	struct cs_msg m;
	uint32_t v;
	size_t n;

	(void)state;
	n = hello_bytes(buf, sizeof(buf), CS_PROTOCOL_VERSION + 1, CS_PROTOCOL_VERSION, extra,
	    sizeof(extra), 2);
	assert_int_equal(cs_msg_decode(buf, n, &m), 0);
	assert_int_equal(m.u.hello.version, CS_PROTOCOL_VERSION + 1);
	assert_int_equal(m.u.hello.epoch, 3);
	assert_int_equal(m.u.hello.schema.ntables, 2);
	assert_int_equal(cs_msg_negotiate(&m.u.hello, &v), 0);
	assert_int_equal(v, CS_PROTOCOL_VERSION);
	cs_msg_free(&m);
}

static void
test_hello_requiring_newer_version_is_refused_before_reading_further(void **state)
{
	/* [1, 3, 2, <0xc1: not even msgpack>] */
	static const uint8_t hello_v3_only[] = {0x99, 0x01, 0x03, 0x02, 0xc1, 0xc1, 0xc1, 0xc1,
	    0xc1, 0xc1};
	struct cs_msg_buf b;
	struct cs_msg bye;
	uint32_t v, minv;
	char text[64];

	(void)state;
	REFUSED(hello_v3_only, CS_MSG_EVERSION_NEW);
	assert_int_equal(cs_msg_hello_peek(hello_v3_only, sizeof(hello_v3_only), &v, &minv), 0);
	assert_int_equal(v, 3);
	assert_int_equal(minv, 2);
	/* we tell the peer so, and it understands our BYE */
	assert_int_equal(cs_msg_bye_code(CS_MSG_EVERSION_NEW), CS_BYE_VERSION_TOO_NEW);
	snprintf(text, sizeof(text), "I speak protocol %d..%d", CS_PROTOCOL_MIN_VERSION,
	    CS_PROTOCOL_VERSION);
	cs_msg_buf_init(&b, 0);
	assert_int_equal(cs_msg_encode_bye(&b, CS_BYE_VERSION_TOO_NEW, text), 0);
	assert_int_equal(cs_msg_decode(b.p, b.len, &bye), 0);
	assert_int_equal(bye.type, CS_MSG_BYE);
	assert_int_equal(bye.u.bye.code, CS_BYE_VERSION_TOO_NEW);
	assert_string_equal(bye.u.bye.text, text);
	assert_string_equal(cs_msg_bye_name(bye.u.bye.code), "peer's protocol version is too new");
	cs_msg_free(&bye);
	cs_msg_buf_free(&b);
}

static void
test_hello_of_our_version_with_extra_field_is_refused(void **state)
{
	static const uint8_t extra[] = {0x00};
	uint8_t buf[512];
	size_t n;

	(void)state;
	n = hello_bytes(buf, sizeof(buf), CS_PROTOCOL_VERSION, CS_PROTOCOL_MIN_VERSION, extra,
	    sizeof(extra), 1);
	expect_refused(buf, n, CS_MSG_EFIELDS);
}

static void
test_hello_refuses_invalid_version_fields(void **state)
{
	static const uint8_t hello_version_zero[] = {0x93, 0x01, 0x00, 0x00};
	static const uint8_t hello_min_above_version[] = {0x93, 0x01, 0x02, 0x03};
	static const uint8_t hello_min_zero[] = {0x93, 0x01, 0x01, 0x00};
	static const uint8_t hello_only_version[] = {0x92, 0x01, 0x01};
	static const uint8_t hello_v1_missing_fields[] = {0x93, 0x01, 0x01, 0x01};
	static const uint8_t hello_version_over_u32[] = {0x93, 0x01, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0,
	    0x01};
	uint32_t v, minv;

	(void)state;
	REFUSED(hello_version_zero, CS_MSG_EVERSION);
	REFUSED(hello_min_above_version, CS_MSG_EVERSION);
	REFUSED(hello_min_zero, CS_MSG_EVERSION);
	REFUSED(hello_only_version, CS_MSG_EFIELDS);
	REFUSED(hello_v1_missing_fields, CS_MSG_EFIELDS);
	REFUSED(hello_version_over_u32, CS_MSG_ERANGE);
	assert_int_equal(
	    cs_msg_hello_peek(ping_missing_nonce, sizeof(ping_missing_nonce), &v, &minv),
	    CS_MSG_ETYPE);
}

static void
test_hello_extension_nested_too_deep_is_refused(void **state)
{
	uint8_t extra[CS_MSG_MAX_DEPTH + 2], buf[512];
	size_t n;

	(void)state;
	memset(extra, 0x91, sizeof(extra));
	extra[sizeof(extra) - 1] = 0x00;
	n = hello_bytes(buf, sizeof(buf), CS_PROTOCOL_VERSION + 1, CS_PROTOCOL_VERSION, extra,
	    sizeof(extra), 1);
	expect_refused(buf, n, CS_MSG_EDEPTH);
}

static void
test_negotiate_picks_the_common_version(void **state)
{
	struct cs_hello h;
	uint32_t v = 0;

	(void)state;
	cs_msg_hello_init(&h);
	assert_int_equal(cs_msg_negotiate(&h, &v), 0);
	assert_int_equal(v, CS_PROTOCOL_VERSION);
	h.version = CS_PROTOCOL_VERSION + 5;
	h.min_version = CS_PROTOCOL_VERSION;
	assert_int_equal(cs_msg_negotiate(&h, &v), 0);
	assert_int_equal(v, CS_PROTOCOL_VERSION);
	h.min_version = CS_PROTOCOL_VERSION + 1;
	assert_int_equal(cs_msg_negotiate(&h, &v), CS_MSG_EVERSION_NEW);
}

/* ---- encoders refuse what a peer would refuse ---- */

static void
test_encoders_refuse_invalid_input(void **state)
{
	struct cs_msg_buf b;
	struct cs_changeset cs;
	struct cs_hello h;
	struct cs_cursor_entry e[2];
	struct cs_cursor c = {e, 2};
	struct cs_stream s = {.kind = CS_STREAM_MAIN};
	char text[CS_MSG_MAX_BYE_TEXT + 2];

	(void)state;
	cs_msg_buf_init(&b, 0);
	cs_changeset_init(&cs);
	assert_true(cs_changeset_add_tabdef(&cs, "t", 1, 0) == 0);
	assert_true(cs_changeset_add_tabdef(&cs, "t", 1, 0) == 1);
	assert_int_equal(cs_msg_encode_changes(&b, &s, &cs), CS_MSG_EDUP);
	cs_changeset_free(&cs);
	assert_true(cs_changeset_add_tabdef(&cs, "", 0, 0) == 0);
	assert_int_equal(cs_msg_encode_changes(&b, &s, &cs), CS_MSG_ENAME);
	cs_changeset_free(&cs);
	for (int i = 0; i <= CS_MSG_MAX_TABLES; i++) {
		char name[8];

		snprintf(name, sizeof(name), "t%d", i);
		assert_true(cs_changeset_table(&cs, name) == i);
	}
	assert_int_equal(cs_msg_encode_changes(&b, &s, &cs), CS_MSG_ECOUNT);
	cs_changeset_free(&cs);
	memset(e, 0, sizeof(e));
	e[0].stream.kind = CS_STREAM_PATIENT;
	assert_int_equal(cs_msg_encode_cursor(&b, &c), CS_MSG_EORDER);
	e[0].stream.kind = CS_STREAM_MAIN;
	assert_int_equal(cs_msg_encode_cursor(&b, &c), CS_MSG_EDUP);
	cs_msg_hello_init(&h);
	h.min_version = 0;
	assert_int_equal(cs_msg_encode_hello(&b, &h), CS_MSG_EVERSION);
	memset(text, 'a', sizeof(text));
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(cs_msg_encode_bye(&b, 0, text), CS_MSG_ELENGTH);
	assert_int_equal(cs_msg_encode_bye(&b, 0, "\xff"), CS_MSG_EUTF8);
	assert_int_equal(b.len, 0);
	cs_msg_buf_free(&b);
}

static void
test_encoder_refuses_message_over_cap(void **state)
{
	struct cs_msg_buf b;
	struct cs_changeset cs;
	struct cs_stream s = {.kind = CS_STREAM_MAIN};

	(void)state;
	sample_changes(&cs);
	cs_msg_buf_init(&b, 64);
	assert_int_equal(cs_msg_encode_changes(&b, &s, &cs), CS_MSG_ETOOBIG);
	assert_int_equal(b.len, 0);
	assert_true(b.cap <= 64);
	cs_msg_buf_free(&b);
	cs_changeset_free(&cs);
}

/* ---- allocation failure at every index ---- */

static void
decode_at_every_failure(const uint8_t *buf, size_t len)
{
	static const struct cs_msg zero;
	long live = cs_mem_live();

	for (long fail = 0;; fail++) {
		struct cs_msg m;
		int rc;

		cs_mem_fail_after(fail, 1);
		rc = cs_msg_decode(buf, len, &m);
		cs_mem_fail_after(-1, 0);
		if (rc == 0) {
			cs_msg_free(&m);
			assert_int_equal(cs_mem_live(), live);
			break;
		}
		assert_int_equal(rc, CS_ENOMEM);
		assert_memory_equal(&m, &zero, sizeof(m));
		assert_int_equal(cs_mem_live(), live);
		assert_true(fail < 100000);
	}
}

static void
test_decoders_fail_cleanly_at_every_allocation(void **state)
{
	struct cs_msg_buf b;
	struct cs_msg m;
	struct cs_cursor_entry e[2] = {{.stream.kind = CS_STREAM_MAIN, .after = 3},
	    {.stream.kind = CS_STREAM_PATIENT, .after = 4}};

	(void)state;
	cs_msg_buf_init(&b, 0);
	memset(&m, 0, sizeof(m));
	m.type = CS_MSG_CHANGES;
	sample_changes(&m.u.changes.cs);
	assert_int_equal(cs_msg_encode(&b, &m), 0);
	decode_at_every_failure(b.p, b.len);
	cs_msg_free(&m);
	m.type = CS_MSG_HELLO;
	sample_hello(&m.u.hello);
	assert_int_equal(cs_msg_encode(&b, &m), 0);
	decode_at_every_failure(b.p, b.len);
	cs_msg_free(&m);
	m.type = CS_MSG_CURSOR;
	m.u.cursor.v = e;
	m.u.cursor.n = 2;
	assert_int_equal(cs_msg_encode(&b, &m), 0);
	decode_at_every_failure(b.p, b.len);
	cs_msg_buf_free(&b);
}

static void
test_encoders_fail_cleanly_at_every_allocation(void **state)
{
	struct cs_changeset cs;
	struct cs_stream s = {.kind = CS_STREAM_MAIN};
	long live;

	(void)state;
	sample_changes(&cs);
	live = cs_mem_live();
	for (long fail = 0;; fail++) {
		struct cs_msg_buf b;
		int rc;

		cs_msg_buf_init(&b, 0);
		cs_mem_fail_after(fail, 1);
		rc = cs_msg_encode_changes(&b, &s, &cs);
		cs_mem_fail_after(-1, 0);
		cs_msg_buf_free(&b);
		assert_int_equal(cs_mem_live(), live);
		if (rc == 0)
			break;
		assert_int_equal(rc, CS_ENOMEM);
	}
	cs_changeset_free(&cs);
}

/* ---- property tests ---- */

static const char *const words[] = {"Lombalgie", "cervicalgie", "entorse", "cheville", "séance",
    "à", "revoir", "dans", "3 semaines", "douleur", "épaule", "gauche", "ÉVA 6/10", "torticolis",
    "nourrisson", "plagiocéphalie", "grossesse", "€", "🙂"};

static void
rnd_text(uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = 0, target;
	uint32_t pick = rnd_below(10);

	/* lengths around every str header boundary now and then */
	target = pick == 0 ? 31 + rnd_below(3) : pick == 1 ? 255 + rnd_below(3) : rnd_below(60);
	if (rnd_below(200) == 0)
		target = 65535 + rnd_below(3);
	if (target > cap)
		target = cap;
	while (n < target) {
		const char *w = words[rnd_below(sizeof(words) / sizeof(words[0]))];
		size_t wl = strlen(w);

		if (wl + 1 > target - n) {
			memset(buf + n, 'x', target - n);
			n = target;
			break;
		}
		memcpy(buf + n, w, wl);
		n += wl;
		buf[n++] = ' ';
	}
	*len = n;
}

static int64_t
rnd_int(void)
{
	static const int64_t edges[] = {0, 1, -1, 127, 128, 255, 256, 65535, 65536, -32, -33, -128,
	    -129, -32768, -32769, INT32_MAX, (int64_t)INT32_MAX + 1, INT32_MIN,
	    (int64_t)INT32_MIN - 1, UINT32_MAX, (int64_t)UINT32_MAX + 1, INT64_MAX, INT64_MIN};

	if (rnd_below(3) == 0)
		return edges[rnd_below(sizeof(edges) / sizeof(edges[0]))];
	return (int64_t)(rnd() >> rnd_below(64));
}

static uint64_t
rnd_u64(void)
{
	return rnd() >> rnd_below(64);
}

static void
rnd_value(struct cs_value *v, uint8_t *scratch, size_t cap)
{
	uint64_t bits;

	memset(v, 0, sizeof(*v));
	v->type = (enum cs_vtype)rnd_below(6);
	switch (v->type) {
	case CS_V_NULL:
		break;
	case CS_V_INT:
		v->u.i = rnd_int();
		break;
	case CS_V_REAL:
		bits = rnd(); /* every bit pattern: NaNs, infinities, subnormals */
		memcpy(&v->u.r, &bits, sizeof(bits));
		break;
	case CS_V_TEXT:
		rnd_text(scratch, cap, &v->len);
		v->p = scratch;
		break;
	case CS_V_BLOB:
		v->len = rnd_below(4) == 0 ? 256 + rnd_below(8) : rnd_below(40);
		for (size_t i = 0; i < v->len; i++)
			scratch[i] = (uint8_t)rnd();
		v->p = scratch;
		break;
	case CS_V_REF:
		for (size_t i = 0; i < CS_GID_LEN; i++)
			scratch[i] = (uint8_t)rnd();
		v->p = scratch;
		v->len = CS_GID_LEN;
		break;
	}
}

static void
rnd_name(char *buf, size_t cap)
{
	size_t n = 1 + rnd_below(rnd_below(8) == 0 ? CS_MSG_MAX_NAME : 12);

	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + rnd_below(26));
	buf[n] = '\0';
}

/* Random tables/columns into cs (unique names, as a real schema has). */
static void
rnd_dict(struct cs_changeset *cs)
{
	uint32_t nt = rnd_below(5);
	char name[CS_MSG_MAX_NAME + 1];

	for (uint32_t i = 0; i < nt; i++) {
		uint32_t nc = rnd_below(12);
		int t;

		rnd_name(name, sizeof(name));
		t = cs_changeset_table(cs, name);
		assert_true(t >= 0);
		for (uint32_t j = 0; j < nc; j++) {
			rnd_name(name, sizeof(name));
			assert_true(cs_changeset_col(cs, (uint32_t)t, name) >= 0);
		}
	}
}

static void
rnd_changes(struct cs_changeset *cs, uint8_t *scratch, size_t cap)
{
	uint32_t ndev, nrows;
	uint8_t dev[CS_DEVID_LEN];

	cs_changeset_init(cs);
	rnd_dict(cs);
	ndev = 1 + rnd_below(6);
	for (uint32_t i = 0; i < ndev; i++) {
		for (size_t k = 0; k < CS_DEVID_LEN; k++)
			dev[k] = (uint8_t)rnd();
		assert_true(cs_changeset_dev(cs, dev) >= 0);
	}
	cs->db_version = rnd_u64();
	nrows = cs->ntables == 0 ? 0 : rnd_below(12);
	for (uint32_t r = 0; r < nrows; r++) {
		struct cs_row row;
		uint32_t ncols, nvv;
		uint8_t used[CS_MSG_MAX_COLS] = {0}, dused[16] = {0};

		memset(&row, 0, sizeof(row));
		row.table = rnd_below(cs->ntables);
		for (size_t k = 0; k < CS_GID_LEN; k++) {
			row.gid[k] = (uint8_t)rnd();
			row.patient[k] = (uint8_t)rnd();
		}
		row.cl = rnd_u64();
		row.ex_dot.dev = rnd_below(cs->ndevs);
		row.ex_dot.n = rnd_u64();
		row.ex_hlc = rnd_u64();
		assert_int_equal(cs_changeset_row_begin(cs, &row), 0);
		ncols = cs->tables[row.table].ncols;
		for (uint32_t c = 0; c < ncols; c++) {
			uint32_t col = rnd_below(ncols);
			struct cs_value v;
			struct cs_dot d;
			uint64_t hlc;

			if (used[col] || rnd_below(3) == 0)
				continue;
			used[col] = 1;
			rnd_value(&v, scratch, cap);
			hlc = rnd_below(2) ? row.ex_hlc + rnd_below(100) : rnd_u64();
			d.dev = rnd_below(cs->ndevs);
			d.n = rnd_below(2) ? row.ex_dot.n + rnd_below(5) : rnd_u64();
			assert_int_equal(cs_changeset_cell(cs, col, &v, hlc, d), 0);
		}
		nvv = rnd_below(cs->ndevs + 1);
		for (uint32_t k = 0; k < nvv; k++) {
			uint32_t dv = rnd_below(cs->ndevs);

			if (dused[dv])
				continue;
			dused[dv] = 1;
			assert_int_equal(cs_changeset_vv(cs, (struct cs_dot){dv, rnd_u64()}), 0);
		}
		assert_int_equal(cs_changeset_row_end(cs), 0);
	}
}

static void
rnd_stream(struct cs_stream *s)
{
	memset(s, 0, sizeof(*s));
	if (rnd_below(2)) {
		s->kind = CS_STREAM_PATIENT;
		for (size_t k = 0; k < CS_GID_LEN; k++)
			s->patient[k] = (uint8_t)rnd();
	}
}

/* A random message of a random type; free with rnd_msg_free. */
static void
rnd_msg(struct cs_msg *m, uint8_t *scratch, size_t cap)
{
	memset(m, 0, sizeof(*m));
	m->type = (enum cs_msg_type)(1 + rnd_below(7));
	switch (m->type) {
	case CS_MSG_HELLO:
		cs_msg_hello_init(&m->u.hello);
		m->u.hello.version = 1 + rnd_below(3);
		m->u.hello.min_version = 1 + rnd_below(m->u.hello.version);
		if (m->u.hello.min_version > CS_PROTOCOL_VERSION)
			m->u.hello.min_version = CS_PROTOCOL_VERSION;
		for (size_t k = 0; k < CS_DEVID_LEN; k++)
			m->u.hello.device[k] = (uint8_t)rnd();
		m->u.hello.epoch = rnd_u64();
		m->u.hello.features = rnd_u64();
		m->u.hello.schema_hash[rnd_below(CS_MSG_SCHEMA_HASH_LEN)] = (uint8_t)rnd();
		rnd_dict(&m->u.hello.schema);
		break;
	case CS_MSG_CURSOR:
		m->u.cursor.n = rnd_below(6);
		m->u.cursor.v = calloc(m->u.cursor.n + 1, sizeof(*m->u.cursor.v));
		assert_non_null(m->u.cursor.v);
		for (uint32_t i = 0; i < m->u.cursor.n; i++) {
			rnd_stream(&m->u.cursor.v[i].stream);
			if (i > 0 && m->u.cursor.v[i].stream.kind == CS_STREAM_MAIN) {
				/* one MAIN at most; random gids are unique */
				m->u.cursor.v[i].stream.kind = CS_STREAM_PATIENT;
				for (size_t k = 0; k < CS_GID_LEN; k++)
					m->u.cursor.v[i].stream.patient[k] = (uint8_t)rnd();
			}
			m->u.cursor.v[i].after = rnd_u64();
		}
		cs_msg_cursor_sort(&m->u.cursor);
		break;
	case CS_MSG_CHANGES:
		rnd_stream(&m->u.changes.stream);
		rnd_changes(&m->u.changes.cs, scratch, cap);
		break;
	case CS_MSG_ACK:
		rnd_stream(&m->u.ack.stream);
		m->u.ack.db_version = rnd_u64();
		break;
	case CS_MSG_PING:
	case CS_MSG_PONG:
		m->u.nonce = rnd_u64();
		break;
	case CS_MSG_BYE: {
		size_t n;

		m->u.bye.code = (uint32_t)rnd_u64();
		rnd_text((uint8_t *)m->u.bye.text, CS_MSG_MAX_BYE_TEXT, &n);
		m->u.bye.text[n] = '\0';
		m->u.bye.text_len = n;
		break;
	}
	}
}

static void
rnd_msg_free(struct cs_msg *m)
{
	if (m->type == CS_MSG_CURSOR) {
		free(m->u.cursor.v); /* built with the test's own allocator */
		memset(m, 0, sizeof(*m));
	} else {
		cs_msg_free(m);
	}
}

enum { SCRATCH = 70000 };

static void
test_property_encode_decode_is_identity(void **state)
{
	uint8_t *scratch = malloc(SCRATCH);
	struct cs_msg_buf b, b2;

	(void)state;
	assert_non_null(scratch);
	seed_rng();
	cs_msg_buf_init(&b, 0);
	cs_msg_buf_init(&b2, 0);
	for (int it = 0; it < 3000; it++) {
		struct cs_msg m, d;
		int rc;

		rnd_msg(&m, scratch, SCRATCH);
		rc = cs_msg_encode(&b, &m);
		if (rc != 0)
			print_error("type %d: %s\n", m.type, cs_msg_strerror(rc));
		PROP(rc == 0, it);
		PROP(cs_msg_decode(b.p, b.len, &d) == 0, it);
		PROP(msg_equal(&m, &d), it);
		PROP(cs_msg_encode(&b2, &d) == 0, it);
		PROP(b.len == b2.len && memcmp(b.p, b2.p, b.len) == 0, it);
		cs_msg_free(&d);
		rnd_msg_free(&m);
	}
	cs_msg_buf_free(&b);
	cs_msg_buf_free(&b2);
	free(scratch);
}

/*
 * Random byte flips, truncations and insertions: never a crash (ASan/UBSan
 * watch), and whatever still decodes re-encodes to the very same bytes
 * (canonical encoding), except a newer HELLO's skipped extension fields.
 */
static void
test_property_mutations_fail_or_reencode_identically(void **state)
{
	uint8_t *scratch = malloc(SCRATCH), *mut = malloc(2 * CS_CHUNK_MAX_PLAIN);
	struct cs_msg_buf b, b2;
	long accepted = 0, refused = 0;

	(void)state;
	assert_non_null(scratch);
	assert_non_null(mut);
	seed_rng();
	cs_msg_buf_init(&b, 0);
	cs_msg_buf_init(&b2, 0);
	for (int it = 0; it < 3000; it++) {
		struct cs_msg m, d, d2;
		size_t n;
		int rc;

		rnd_msg(&m, scratch, SCRATCH);
		PROP(cs_msg_encode(&b, &m) == 0, it);
		rnd_msg_free(&m);
		if (b.len > 2 * CS_CHUNK_MAX_PLAIN - 8)
			continue;
		memcpy(mut, b.p, b.len);
		n = b.len;
		for (uint32_t k = 1 + rnd_below(3); k > 0; k--) {
			uint32_t op = rnd_below(4), at = rnd_below((uint32_t)n);

			if (op == 0 || op == 1)
				mut[at] ^= (uint8_t)(1u << rnd_below(8));
			else if (op == 2)
				n = at; /* truncate */
			else if (n < 2 * CS_CHUNK_MAX_PLAIN - 1) {
				memmove(mut + at + 1, mut + at, n - at);
				mut[at] = (uint8_t)rnd();
				n++;
			}
			if (n == 0)
				break;
		}
		rc = cs_msg_decode(mut, n, &d);
		if (rc < 0) {
			PROP(rc != CS_ENOMEM && rc < CS_ERR_FRAME_FIRST + 1 &&
			        rc > CS_ERR_BUNDLE_FIRST,
			    it);
			refused++;
			continue;
		}
		accepted++;
		PROP(cs_msg_encode(&b2, &d) == 0, it);
		if (!(d.type == CS_MSG_HELLO && d.u.hello.version > CS_PROTOCOL_VERSION))
			PROP(b2.len == n && memcmp(b2.p, mut, n) == 0, it);
		PROP(cs_msg_decode(b2.p, b2.len, &d2) == 0, it);
		PROP(msg_equal(&d, &d2), it);
		cs_msg_free(&d);
		cs_msg_free(&d2);
	}
	print_message("mutations: %ld refused, %ld still valid (seed %llu)\n", refused, accepted,
	    (unsigned long long)seed);
	assert_true(refused > 0);
	cs_msg_buf_free(&b);
	cs_msg_buf_free(&b2);
	free(mut);
	free(scratch);
}

/* Every decoder cut short at every offset: a truncation is always refused. */
static void
test_every_truncation_is_refused(void **state)
{
	struct cs_msg_buf b;
	struct cs_msg m;

	(void)state;
	cs_msg_buf_init(&b, 0);
	memset(&m, 0, sizeof(m));
	m.type = CS_MSG_CHANGES;
	sample_changes(&m.u.changes.cs);
	assert_int_equal(cs_msg_encode(&b, &m), 0);
	cs_msg_free(&m);
	for (size_t cut = 0; cut < b.len; cut++)
		expect_refused(b.p, cut, CS_MSG_ETRUNC);
	m.type = CS_MSG_HELLO;
	sample_hello(&m.u.hello);
	assert_int_equal(cs_msg_encode(&b, &m), 0);
	cs_msg_free(&m);
	for (size_t cut = 0; cut < b.len; cut++)
		expect_refused(b.p, cut, CS_MSG_ETRUNC);
	cs_msg_buf_free(&b);
}

static void
test_decode_again_reuses_changes_and_switches_types(void **state)
{
	static const struct cs_msg zero;
	struct cs_msg_buf b1, b2;
	struct cs_msg m, want;
	long live;

	(void)state;
	cs_msg_buf_init(&b1, 0);
	cs_msg_buf_init(&b2, 0);
	memset(&want, 0, sizeof(want));
	want.type = CS_MSG_CHANGES;
	sample_changes(&want.u.changes.cs);
	assert_int_equal(cs_msg_encode(&b1, &want), 0);
	assert_int_equal(cs_msg_encode_ping(&b2, 9), 0);
	memset(&m, 0, sizeof(m));
	assert_int_equal(cs_msg_decode_again(b1.p, b1.len, &m), 0);
	live = cs_mem_live();
	/* the second CHANGES reuses the first one's memory: no new allocation */
	assert_int_equal(cs_msg_decode_again(b1.p, b1.len, &m), 0);
	assert_int_equal(cs_mem_live(), live);
	assert_true(msg_equal(&m, &want));
	assert_int_equal(cs_msg_decode_again(b2.p, b2.len, &m), 0);
	assert_int_equal(m.type, CS_MSG_PING);
	assert_int_equal(m.u.nonce, 9);
	assert_int_equal(cs_msg_decode_again(b1.p, b1.len, &m), 0);
	assert_true(msg_equal(&m, &want));
	/* an error frees the previous content and returns nothing */
	assert_int_equal(cs_msg_decode_again(b1.p, b1.len - 1, &m), CS_MSG_ETRUNC);
	assert_memory_equal(&m, &zero, sizeof(m));
	cs_msg_free(&want);
	cs_msg_buf_free(&b1);
	cs_msg_buf_free(&b2);
}

/* A CHANGES of several Noise messages: encode, chunk, reassemble, decode. */
static void
test_large_changes_travel_in_chunks(void **state)
{
	static uint8_t chunk[CS_CHUNK_MAX_PLAIN];
	struct cs_changeset cs;
	struct cs_msg_buf b;
	struct cs_chunk_split sp;
	struct cs_chunk_reasm r;
	struct cs_stream st = {.kind = CS_STREAM_MAIN};
	struct cs_msg m;
	struct cs_value v;
	struct cs_row row;
	uint8_t text[1000];
	const uint8_t *got = NULL;
	size_t n, got_len = 0, nchunks = 0;
	int rc = CS_EAGAIN, t;

	(void)state;
	cs_changeset_init(&cs);
	assert_int_equal(cs_changeset_dev(&cs, dev_a), 0);
	t = cs_changeset_table(&cs, "consultation");
	assert_int_equal(cs_changeset_col(&cs, (uint32_t)t, "anamnese"), 0);
	memset(text, 'e', sizeof(text));
	memset(&row, 0, sizeof(row));
	row.cl = 1;
	for (int i = 0; i < 300; i++) {
		row.gid[0] = (uint8_t)i;
		row.gid[1] = (uint8_t)(i >> 8);
		assert_int_equal(cs_changeset_row_begin(&cs, &row), 0);
		v = (struct cs_value){.type = CS_V_TEXT, .p = text, .len = sizeof(text)};
		assert_int_equal(cs_changeset_cell(&cs, 0, &v, 1, row.ex_dot), 0);
		assert_int_equal(cs_changeset_row_end(&cs), 0);
	}
	cs_msg_buf_init(&b, 0);
	assert_int_equal(cs_msg_encode_changes(&b, &st, &cs), 0);
	assert_true(b.len > 4 * CS_CHUNK_MAX_PLAIN);
	assert_int_equal(cs_chunk_split_init(&sp, b.p, b.len, 0, 0), 0);
	cs_chunk_reasm_init(&r, 0);
	while (cs_chunk_split_next(&sp, chunk, sizeof(chunk), &n) == 1) {
		assert_int_equal(rc, CS_EAGAIN);
		rc = cs_chunk_reasm_feed(&r, chunk, n, &got, &got_len);
		nchunks++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(nchunks, cs_chunk_count(b.len, 0));
	assert_int_equal(cs_msg_decode(got, got_len, &m), 0);
	assert_true(cs_changeset_equal(&m.u.changes.cs, &cs));
	cs_msg_free(&m);
	cs_chunk_reasm_free(&r);
	cs_msg_buf_free(&b);
	cs_changeset_free(&cs);
}

/* ---- error names ---- */

static void
test_strerror_names_every_code_once(void **state)
{
	const char *seen[100] = {0};
	int n = 0;

	(void)state;
	for (int e = -200; e >= -299; e--) {
		const char *s = cs_msg_strerror(e);

		if (strcmp(s, "unknown error") == 0)
			continue;
		for (int i = 0; i < n; i++)
			assert_string_not_equal(seen[i], s);
		seen[n++] = s;
	}
	assert_int_equal(n, 2 + 8 + 22); /* frame, chunk, msg codes */
	assert_string_equal(cs_msg_strerror(CS_MSG_EINDEX),
	    "index outside the message's dictionary");
	assert_string_equal(cs_msg_strerror(-12), "unknown error");
}

static void
test_bye_code_for_each_error(void **state)
{
	(void)state;
	assert_int_equal(cs_msg_bye_code(CS_MSG_EVERSION_NEW), CS_BYE_VERSION_TOO_NEW);
	assert_int_equal(cs_msg_bye_code(CS_MSG_EVERSION_OLD), CS_BYE_VERSION_TOO_OLD);
	assert_int_equal(cs_msg_bye_code(CS_CHUNK_ETOTAL), CS_BYE_TOO_BIG);
	assert_int_equal(cs_msg_bye_code(CS_MSG_EINDEX), CS_BYE_MALFORMED);
	assert_int_equal(cs_msg_bye_code(CS_CHUNK_ESEQ), CS_BYE_MALFORMED);
	assert_int_equal(cs_msg_bye_code(CS_ENOMEM), CS_BYE_INTERNAL);
	assert_string_equal(cs_msg_bye_name(999), "unknown reason");
}

static void
test_type_names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(cs_msg_type_name(CS_MSG_HELLO), "HELLO");
	assert_string_equal(cs_msg_type_name(CS_MSG_CHANGES), "CHANGES");
	assert_string_equal(cs_msg_type_name(CS_MSG_BYE), "BYE");
	assert_string_equal(cs_msg_type_name(0), "unknown");
	assert_string_equal(cs_msg_type_name(8), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_round_trips),
	    cmocka_unit_test(test_cursor_round_trips),
	    cmocka_unit_test(test_changes_round_trips_every_value_type),
	    cmocka_unit_test(test_ack_ping_pong_bye_round_trip),
	    cmocka_unit_test(test_small_messages_have_their_documented_bytes),
	    cmocka_unit_test(test_decode_refuses_malformed_envelopes),
	    cmocka_unit_test(test_decode_refuses_malformed_fields),
	    cmocka_unit_test(test_decode_refuses_bye_text_over_limit),
	    cmocka_unit_test(test_changes_minimal_is_canonical),
	    cmocka_unit_test(test_decode_checks_counts_before_allocating),
	    cmocka_unit_test(test_decode_refuses_changes_index_outside_dictionary),
	    cmocka_unit_test(test_decode_refuses_changes_duplicates),
	    cmocka_unit_test(test_decode_refuses_changes_bad_shapes),
	    cmocka_unit_test(test_decode_refuses_changes_bad_values),
	    cmocka_unit_test(test_decode_refuses_dictionary_over_limits),
	    cmocka_unit_test(test_hello_from_newer_peer_that_speaks_ours_is_accepted),
	    cmocka_unit_test(test_hello_requiring_newer_version_is_refused_before_reading_further),
	    cmocka_unit_test(test_hello_of_our_version_with_extra_field_is_refused),
	    cmocka_unit_test(test_hello_refuses_invalid_version_fields),
	    cmocka_unit_test(test_hello_extension_nested_too_deep_is_refused),
	    cmocka_unit_test(test_negotiate_picks_the_common_version),
	    cmocka_unit_test(test_encoders_refuse_invalid_input),
	    cmocka_unit_test(test_encoder_refuses_message_over_cap),
	    cmocka_unit_test(test_decoders_fail_cleanly_at_every_allocation),
	    cmocka_unit_test(test_encoders_fail_cleanly_at_every_allocation),
	    cmocka_unit_test(test_property_encode_decode_is_identity),
	    cmocka_unit_test(test_property_mutations_fail_or_reencode_identically),
	    cmocka_unit_test(test_every_truncation_is_refused),
	    cmocka_unit_test(test_decode_again_reuses_changes_and_switches_types),
	    cmocka_unit_test(test_large_changes_travel_in_chunks),
	    cmocka_unit_test(test_strerror_names_every_code_once),
	    cmocka_unit_test(test_bye_code_for_each_error),
	    cmocka_unit_test(test_type_names_are_stable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
