/*
 * CHANGES codec benchmark (issue 4 §5): encode + decode of ~100 K column
 * changes in CHANGES messages of 1000 consultation rows x 9 columns (French
 * text, ints, a REF, a REAL; hlc and dot per cell), against raw msgpack-c
 * pack + unpack (reused zone) + walk of the same values, in the same run.
 * Also the bytes per column change, in the message and on the wire.
 * Prints one Markdown section (tests/bench/run-all.sh gathers it).
 */
#include <malloc.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/change.h"
#include "base/err.h"
#include "bench_goal.h"
#include "wire/chunk.h"
#include "wire/frame.h"
#include "wire/msg.h"

#define ROWS_PER_BATCH 1000
#define COLS           9
#define TOTAL_CHANGES  100000
#define NBATCH         ((TOTAL_CHANGES + ROWS_PER_BATCH * COLS - 1) / (ROWS_PER_BATCH * COLS))
#define TRIALS         11
#define REPS           4 /* passes over the 100 K changes per timed trial */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static const char *const words[] = {"douleur", "lombaire", "cervicale", "aiguë", "chronique",
    "depuis", "semaines", "suite", "à", "une", "chute", "sport", "posture", "tension", "musculaire",
    "mobilisation", "articulaire", "bassin", "épaule", "genou", "entorse", "migraine", "stress",
    "technique", "fonctionnelle", "crânienne", "amélioration", "revoir", "conseils", "étirements",
    "patiente", "signale", "matin", "rotation", "flexion", "limitée", "palpation", "L4-L5",
    "diaphragme", "nourrisson", "grossesse", "séance", "côté", "gauche", "droit", "très", "légère",
    "gêne", "résiduelle"};

static char *
text(int lo, int hi, size_t *len)
{
	int target = lo + (int)(rnd() % (uint64_t)(hi - lo + 1)), n = 0;
	char *s = malloc((size_t)target + 32);

	if (s == NULL)
		abort();
	while (n < target) {
		const char *w = words[rnd() % (sizeof(words) / sizeof(words[0]))];
		int wl = (int)strlen(w);

		if (n + wl + 1 > target && n > 0)
			break;
		if (n > 0)
			s[n++] = ' ';
		memcpy(s + n, w, (size_t)wl);
		n += wl;
	}
	s[n] = '\0';
	*len = (size_t)n;
	return s;
}

static double
best(const double *t, int n)
{
	double m = t[0];

	for (int i = 1; i < n; i++)
		if (t[i] < m)
			m = t[i];
	return m;
}

/*
 * consultation(patient_id REF, date_ms INT, motif TEXT, anamnese TEXT,
 * examen TEXT, traitement TEXT, duree_min INT, tarif REAL, notes TEXT|NULL).
 * 70 % of rows are new (every cell carries the row's clock), 30 % are edits
 * on another device (later hlc and dot on 2-4 cells).
 */
static void
build_batch(struct cs_changeset *cs, int rows, uint64_t *dbv)
{
	static const char *const cols[COLS] = {"patient_id", "date_ms", "motif", "anamnese",
	    "examen", "traitement", "duree_min", "tarif", "notes"};
	uint8_t dev[CS_DEVID_LEN];
	int t;

	cs_changeset_init(cs);
	for (int d = 0; d < 3; d++) {
		memset(dev, 0x10 * (d + 1), sizeof(dev));
		cs_changeset_dev(cs, dev);
	}
	t = cs_changeset_table(cs, "consultation");
	for (int c = 0; c < COLS; c++)
		cs_changeset_col(cs, (uint32_t)t, cols[c]);
	for (int r = 0; r < rows; r++) {
		struct cs_row row;
		struct cs_value v[COLS];
		char *txt[COLS] = {0};
		uint8_t ref[CS_GID_LEN];
		int edited = rnd() % 10 < 3;
		size_t len;

		memset(&row, 0, sizeof(row));
		for (int k = 0; k < CS_GID_LEN; k++) {
			row.gid[k] = (uint8_t)rnd();
			ref[k] = (uint8_t)(k < 8 ? rnd() : 0);
		}
		memcpy(row.patient, ref, CS_GID_LEN);
		row.cl = 1;
		row.ex_dot = (struct cs_dot){0, ++*dbv};
		row.ex_hlc = CS_HLC_MAKE(1732700000000ull + *dbv * 1500, 0);
		if (cs_changeset_row_begin(cs, &row) != 0)
			abort();
		v[0] = (struct cs_value){.type = CS_V_REF, .p = ref, .len = CS_GID_LEN};
		v[1] = (struct cs_value){.type = CS_V_INT,
		    .u.i = (int64_t)(1700000000000ull + rnd() % 40000000000ull)};
		txt[2] = text(12, 40, &len);
		v[2] = (struct cs_value){.type = CS_V_TEXT, .p = (uint8_t *)txt[2], .len = len};
		txt[3] = text(80, 220, &len);
		v[3] = (struct cs_value){.type = CS_V_TEXT, .p = (uint8_t *)txt[3], .len = len};
		txt[4] = text(40, 120, &len);
		v[4] = (struct cs_value){.type = CS_V_TEXT, .p = (uint8_t *)txt[4], .len = len};
		txt[5] = text(20, 80, &len);
		v[5] = (struct cs_value){.type = CS_V_TEXT, .p = (uint8_t *)txt[5], .len = len};
		v[6] = (struct cs_value){.type = CS_V_INT, .u.i = 30 + (int64_t)(rnd() % 4) * 15};
		v[7] =
		    (struct cs_value){.type = CS_V_REAL, .u.r = 55.0 + (double)(rnd() % 5) * 5.0};
		if (rnd() % 3 == 0) {
			v[8] = (struct cs_value){.type = CS_V_NULL};
		} else {
			txt[8] = text(10, 60, &len);
			v[8] = (struct cs_value){.type = CS_V_TEXT,
			    .p = (uint8_t *)txt[8],
			    .len = len};
		}
		for (int c = 0; c < COLS; c++) {
			uint64_t hlc = row.ex_hlc;
			struct cs_dot dot = row.ex_dot;

			if (edited && (c == 3 || c == 5 || c == 8)) {
				hlc = row.ex_hlc + CS_HLC_MAKE(86400000ull * (1 + rnd() % 30), 0);
				dot = (struct cs_dot){1, 5000 + rnd() % 1000};
			}
			if (cs_changeset_cell(cs, (uint32_t)c, &v[c], hlc, dot) != 0)
				abort();
		}
		cs_changeset_vv(cs, row.ex_dot);
		if (edited)
			cs_changeset_vv(cs, (struct cs_dot){1, 5999});
		cs_changeset_row_end(cs);
		for (int c = 0; c < COLS; c++)
			free(txt[c]);
	}
	cs->db_version = *dbv;
}

/* ---- raw msgpack of the same values: no delta, no dictionary check ---- */

static int
sb_write(void *data, const char *buf, size_t len)
{
	return msgpack_sbuffer_write(data, buf, len);
}

static void
raw_pack(msgpack_packer *pk, const struct cs_changeset *cs)
{
	msgpack_pack_array(pk, cs->nrows);
	for (uint32_t i = 0; i < cs->nrows; i++) {
		const struct cs_row *r = &cs->rows[i];

		msgpack_pack_array(pk, 9);
		msgpack_pack_uint32(pk, r->table);
		msgpack_pack_bin(pk, CS_GID_LEN);
		msgpack_pack_bin_body(pk, r->gid, CS_GID_LEN);
		msgpack_pack_bin(pk, CS_GID_LEN);
		msgpack_pack_bin_body(pk, r->patient, CS_GID_LEN);
		msgpack_pack_uint64(pk, r->cl);
		msgpack_pack_uint32(pk, r->ex_dot.dev);
		msgpack_pack_uint64(pk, r->ex_dot.n);
		msgpack_pack_uint64(pk, r->ex_hlc);
		msgpack_pack_array(pk, (size_t)r->ncells * 5);
		for (uint32_t j = 0; j < r->ncells; j++) {
			const struct cs_cell *c = &cs->cells[r->cell_first + j];

			msgpack_pack_uint32(pk, c->col);
			switch (c->v.type) {
			case CS_V_NULL:
				msgpack_pack_nil(pk);
				break;
			case CS_V_INT:
				msgpack_pack_int64(pk, c->v.u.i);
				break;
			case CS_V_REAL:
				msgpack_pack_double(pk, c->v.u.r);
				break;
			case CS_V_TEXT:
				msgpack_pack_str(pk, c->v.len);
				msgpack_pack_str_body(pk, c->v.p, c->v.len);
				break;
			case CS_V_BLOB:
				msgpack_pack_bin(pk, c->v.len);
				msgpack_pack_bin_body(pk, c->v.p, c->v.len);
				break;
			case CS_V_REF:
				msgpack_pack_ext(pk, CS_GID_LEN, 1);
				msgpack_pack_ext_body(pk, c->v.p, CS_GID_LEN);
				break;
			}
			msgpack_pack_uint64(pk, c->hlc);
			msgpack_pack_uint32(pk, c->dot.dev);
			msgpack_pack_uint64(pk, c->dot.n);
		}
		msgpack_pack_array(pk, (size_t)r->nvv * 2);
		for (uint32_t j = 0; j < r->nvv; j++) {
			msgpack_pack_uint32(pk, cs->vv[r->vv_first + j].dev);
			msgpack_pack_uint64(pk, cs->vv[r->vv_first + j].n);
		}
	}
}

/* Touch every value the way a decoder filling the changeset would read it. */
static uint64_t
raw_walk(const msgpack_object *o)
{
	uint64_t acc = 0;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		abort();
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *row = o->via.array.ptr[i].via.array.ptr;
		const msgpack_object *cells = &row[7], *vv = &row[8];

		acc += row[0].via.u64 + row[1].via.bin.size + (uint8_t)row[1].via.bin.ptr[0] +
		    row[2].via.bin.size + row[3].via.u64 + row[4].via.u64 + row[5].via.u64 +
		    row[6].via.u64;
		for (uint32_t j = 0; j < cells->via.array.size; j++) {
			const msgpack_object *x = &cells->via.array.ptr[j];

			switch (x->type) {
			case MSGPACK_OBJECT_STR:
				acc += x->via.str.size + (uint8_t)x->via.str.ptr[0];
				break;
			case MSGPACK_OBJECT_BIN:
				acc += x->via.bin.size;
				break;
			case MSGPACK_OBJECT_EXT:
				acc += x->via.ext.size + (uint8_t)x->via.ext.ptr[0];
				break;
			case MSGPACK_OBJECT_FLOAT64:
				acc += (uint64_t)x->via.f64;
				break;
			default:
				acc += x->via.u64;
				break;
			}
		}
		for (uint32_t j = 0; j < vv->via.array.size; j++)
			acc += vv->via.array.ptr[j].via.u64;
	}
	return acc;
}

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * One message both ways: 0 ours (decoding into reused memory), 1 ours
 * (decoding into fresh memory), 2 raw msgpack-c (pack, unpack with a reused
 * zone, walk). Returns a value to keep the work observable.
 */
static uint64_t
run_variant(int which, struct cs_msg_buf *b, msgpack_sbuffer *sb, const struct cs_changeset *cs,
    msgpack_zone *zone, struct cs_msg *dm)
{
	static const struct cs_stream main_stream = {.kind = CS_STREAM_MAIN};
	struct cs_msg m;
	msgpack_packer pk;
	msgpack_object o;
	size_t off = 0;
	uint64_t n;

	switch (which) {
	case 0:
		if (cs_msg_encode_changes(b, &main_stream, cs) != 0 ||
		    cs_msg_decode_again(b->p, b->len, dm) != 0)
			abort();
		return dm->u.changes.cs.ncells;
	case 1:
		if (cs_msg_encode_changes(b, &main_stream, cs) != 0 ||
		    cs_msg_decode(b->p, b->len, &m) != 0)
			abort();
		n = m.u.changes.cs.ncells;
		cs_msg_free(&m);
		return n;
	default:
		msgpack_sbuffer_clear(sb);
		msgpack_packer_init(&pk, sb, sb_write);
		raw_pack(&pk, cs);
		if (msgpack_unpack(sb->data, sb->size, &off, zone, &o) != MSGPACK_UNPACK_SUCCESS)
			abort();
		n = raw_walk(&o);
		msgpack_zone_clear(zone);
		return n;
	}
}

int
main(void)
{
	struct cs_changeset batches[NBATCH];
	struct cs_msg_buf b[NBATCH];
	msgpack_sbuffer sb[NBATCH];
	msgpack_zone *zone;
	struct cs_msg dm;
	double t_ours[TRIALS], t_fresh[TRIALS], t_raw[TRIALS], m_ours, m_fresh, m_raw;
	volatile uint64_t sink = 0;
	uint64_t dbv = 0;
	size_t changes = 0, msg_bytes = 0, raw_bytes = 0, wire_bytes = 0, value_bytes = 0;
	int rows_left = TOTAL_CHANGES / COLS + (TOTAL_CHANGES % COLS != 0);

	/*
	 * Keep freed memory in the process: otherwise glibc's adaptive mmap
	 * threshold decides which side pays page faults for its big blocks
	 * (msgpack-c's zone chunks, our arrays), and the ratio measures that.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	for (int i = 0; i < NBATCH; i++) {
		int rows = rows_left < ROWS_PER_BATCH ? rows_left : ROWS_PER_BATCH;

		build_batch(&batches[i], rows, &dbv);
		rows_left -= rows;
		changes += batches[i].ncells;
		cs_msg_buf_init(&b[i], 0);
		msgpack_sbuffer_init(&sb[i]);
	}
	zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
	memset(&dm, 0, sizeof(dm));
	/*
	 * The machine is shared and noisy: time is this thread's CPU time, and
	 * the three variants alternate message by message in a rotating order,
	 * so that cache state and load spread evenly over them. Each figure is
	 * the best of the trials.
	 */
	for (int k = 0; k < TRIALS; k++) {
		double sum[3] = {0, 0, 0};

		for (int rep = 0; rep < REPS; rep++)
			for (int i = 0; i < NBATCH; i++)
				for (int v = 0; v < 3; v++) {
					int which = (k + i + v) % 3;
					double t0 = cpu_s();

					sink += run_variant(which, &b[i], &sb[i], &batches[i], zone,
					    &dm);
					sum[which] += cpu_s() - t0;
				}
		t_ours[k] = sum[0] / REPS;
		t_fresh[k] = sum[1] / REPS;
		t_raw[k] = sum[2] / REPS;
	}
	/* check once that what we measured decodes to what was sent */
	for (int i = 0; i < NBATCH; i++) {
		struct cs_msg m;

		if (cs_msg_decode(b[i].p, b[i].len, &m) != 0 ||
		    !cs_changeset_equal(&m.u.changes.cs, &batches[i]))
			abort();
		cs_msg_free(&m);
		msg_bytes += b[i].len;
		raw_bytes += sb[i].size;
		/* chunk headers, AEAD tags and frame prefixes */
		wire_bytes += b[i].len + CS_CHUNK_FIRST_HDR +
		    (cs_chunk_count(b[i].len, 0) - 1) * CS_CHUNK_NEXT_HDR +
		    cs_chunk_count(b[i].len, 0) * (CS_FRAME_TAG_LEN + CS_FRAME_HDR_LEN);
	}
	m_ours = best(t_ours, TRIALS);
	m_raw = best(t_raw, TRIALS);
	m_fresh = best(t_fresh, TRIALS);
	for (int i = 0; i < NBATCH; i++)
		for (uint32_t j = 0; j < batches[i].ncells; j++) {
			const struct cs_value *v = &batches[i].cells[j].v;

			value_bytes += v->type == CS_V_INT || v->type == CS_V_REAL ? 8 : v->len;
		}

	printf("## CHANGES codec (wire/msg)\n\n");
	printf("| figure | cabsync | raw msgpack-c, same run | ratio | goal |\n");
	printf("|---|---|---|---|---|\n");
	printf("| encode + decode, column changes/s | %.2f M/s | %.2f M/s | %.0f %% | >= 70 %% |\n",
	    changes / m_ours / 1e6, changes / m_raw / 1e6, 100.0 * m_raw / m_ours);
	cs_bench_goal("encode + decode, column changes/s, vs. raw msgpack-c",
	    100.0 * m_raw / m_ours, ">=", 70, "%");
	printf("| same, decoding into fresh memory each message | %.2f M/s | %.2f M/s | %.0f %% | "
	       "|\n",
	    changes / m_fresh / 1e6, changes / m_raw / 1e6, 100.0 * m_raw / m_fresh);
	printf("| bytes per column change, message | %.2f B | %.2f B | %.2f | compact |\n",
	    (double)msg_bytes / changes, (double)raw_bytes / changes,
	    (double)msg_bytes / raw_bytes);
	printf("| bytes per column change, on the wire (chunks, tags, frames) | %.2f B | | | |\n",
	    (double)wire_bytes / changes);
	printf(
	    "| of which the value itself (text bytes, 8 per INT/REAL, 16 per REF) | %.1f B | | | "
	    "|\n",
	    (double)value_bytes / changes);
	printf("\nMeasured: %zu column changes in %d CHANGES messages of up to %d `consultation` "
	       "rows x %d columns (French text 10-220 B, ints, a REF, a REAL; 30 %% of rows "
	       "edited on a second device), each message encoded with `cs_msg_encode_changes` and "
	       "decoded by `cs_msg_decode_again` into an owned changeset (memory reused from "
	       "message to message); raw = msgpack-c %s packing the "
	       "same values (full hlc and dot per cell) and `msgpack_unpack` with a reused zone + "
	       "a walk of every value. glibc malloc keeps freed memory for both (no page faults "
	       "measured). Time is the thread's CPU time (the machine is shared), the three "
	       "variants alternating message by message; best of %d trials of %d passes; message "
	       "average %.0f KiB.\n",
	    changes, NBATCH, ROWS_PER_BATCH, COLS, msgpack_version(), TRIALS, REPS,
	    (double)msg_bytes / NBATCH / 1024);
	for (int i = 0; i < NBATCH; i++) {
		cs_msg_buf_free(&b[i]);
		msgpack_sbuffer_destroy(&sb[i]);
		cs_changeset_free(&batches[i]);
	}
	msgpack_zone_free(zone);
	cs_msg_free(&dm);
	return sink == 42;
}
