/*
 * Writes the seed corpora of fuzz_msg (one encoded message per file) and
 * fuzz_frame (a stream of frames carrying chunked messages) from the
 * encoders. usage: gen_msg_corpus DIR   (DIR = tests/fuzz/corpus)
 * Run by hand after a format change; the files are checked in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/change.h"
#include "base/err.h"
#include "wire/chunk.h"
#include "wire/frame.h"
#include "wire/msg.h"

static void
put(const char *dir, const char *sub, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "gen_msg_corpus: cannot write %s\n", path);
		exit(1);
	}
}

/* msg as frames: chunks of max_plain bytes, each with a fake 16-byte tag. */
static void
put_frames(const char *dir, const char *name, uint8_t first, const uint8_t *msg, size_t len,
    size_t max_plain)
{
	static uint8_t stream[1 << 20], chunk[CS_CHUNK_MAX_PLAIN + CS_FRAME_TAG_LEN];
	struct cs_chunk_split s;
	size_t n = 1, cn, used;

	stream[0] = first;
	if (cs_chunk_split_init(&s, msg, len, 0, max_plain) != 0)
		exit(1);
	while (cs_chunk_split_next(&s, chunk, CS_CHUNK_MAX_PLAIN, &cn) == 1) {
		memset(chunk + cn, 0xee, CS_FRAME_TAG_LEN);
		if (cs_frame_write(stream + n, sizeof(stream) - n, chunk, cn + CS_FRAME_TAG_LEN,
		        &used) != 0)
			exit(1);
		n += used;
	}
	put(dir, "frame", name, stream, n);
}

int
main(int argc, char **argv)
{
	static const uint8_t dev[CS_DEVID_LEN] = {0xd0, 1, 2, 3};
	struct cs_msg_buf b;
	struct cs_hello h;
	struct cs_changeset cs;
	struct cs_stream main_stream = {.kind = CS_STREAM_MAIN};
	struct cs_cursor_entry e[2] = {{.stream.kind = CS_STREAM_MAIN, .after = 41},
	    {.stream.kind = CS_STREAM_PATIENT, .stream.patient = {7}, .after = 2}};
	struct cs_cursor c = {e, 2};
	struct cs_row row;
	struct cs_value v;
	char text[600];
	int t;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_msg_corpus DIR\n");
		return 2;
	}
	cs_msg_buf_init(&b, 0);
	cs_msg_hello_init(&h);
	memcpy(h.device, dev, sizeof(dev));
	h.epoch = 1;
	t = cs_changeset_table(&h.schema, "patient");
	cs_changeset_col(&h.schema, (uint32_t)t, "nom");
	cs_changeset_col(&h.schema, (uint32_t)t, "prénom");
	if (cs_msg_encode_hello(&b, &h) != 0)
		return 1;
	put(argv[1], "msg", "hello", b.p, b.len);
	put_frames(argv[1], "hello", 0, b.p, b.len, 0);
	if (cs_msg_encode_cursor(&b, &c) != 0)
		return 1;
	put(argv[1], "msg", "cursor", b.p, b.len);
	cs_msg_encode_ack(&b, &main_stream, 1042);
	put(argv[1], "msg", "ack", b.p, b.len);
	cs_msg_encode_ping(&b, 0x1122334455667788ull);
	put(argv[1], "msg", "ping", b.p, b.len);
	put_frames(argv[1], "ping", 3, b.p, b.len, 0);
	cs_msg_encode_pong(&b, 7);
	put(argv[1], "msg", "pong", b.p, b.len);
	cs_msg_encode_bye(&b, CS_BYE_VERSION_TOO_NEW, "I speak protocol 1..1");
	put(argv[1], "msg", "bye", b.p, b.len);

	cs_changeset_init(&cs);
	cs_changeset_dev(&cs, dev);
	t = cs_changeset_table(&cs, "consultation");
	cs_changeset_col(&cs, (uint32_t)t, "motif");
	cs_changeset_col(&cs, (uint32_t)t, "duree");
	cs_changeset_col(&cs, (uint32_t)t, "poids");
	cs_changeset_col(&cs, (uint32_t)t, "photo");
	cs_changeset_col(&cs, (uint32_t)t, "patient_id");
	memset(&row, 0, sizeof(row));
	row.cl = 1;
	row.ex_dot.n = 12;
	row.ex_hlc = CS_HLC_MAKE(1732700000000ull, 0);
	memset(text, 'e', sizeof(text));
	for (int i = 0; i < 40; i++) {
		row.gid[0] = (uint8_t)i;
		cs_changeset_row_begin(&cs, &row);
		v = (struct cs_value){.type = CS_V_TEXT,
		    .p = (const uint8_t *)text,
		    .len = (size_t)(i * 13 % 300)};
		cs_changeset_cell(&cs, 0, &v, row.ex_hlc, row.ex_dot);
		v = (struct cs_value){.type = CS_V_INT, .u.i = -i * 1000};
		cs_changeset_cell(&cs, 1, &v, row.ex_hlc + 1, row.ex_dot);
		v = (struct cs_value){.type = CS_V_REAL, .u.r = 70.5};
		cs_changeset_cell(&cs, 2, &v, row.ex_hlc, row.ex_dot);
		v = (struct cs_value){.type = CS_V_BLOB, .p = (const uint8_t *)text, .len = 3};
		cs_changeset_cell(&cs, 3, &v, row.ex_hlc, row.ex_dot);
		v = (struct cs_value){.type = CS_V_REF, .p = (const uint8_t *)text, .len = 16};
		cs_changeset_cell(&cs, 4, &v, row.ex_hlc, row.ex_dot);
		cs_changeset_vv(&cs, (struct cs_dot){0, 12});
		cs_changeset_row_end(&cs);
		if (i == 0) {
			if (cs_msg_encode_changes(&b, &main_stream, &cs) != 0)
				return 1;
			put(argv[1], "msg", "changes1", b.p, b.len);
		}
	}
	cs.db_version = 99;
	if (cs_msg_encode_changes(&b, &main_stream, &cs) != 0)
		return 1;
	put(argv[1], "msg", "changes40", b.p, b.len);
	/* several chunks in small Noise messages, read in odd sizes */
	put_frames(argv[1], "changes40", 5, b.p, b.len, 500);
	cs_changeset_free(&cs);
	cs_changeset_free(&h.schema);
	cs_msg_buf_free(&b);
	return 0;
}
