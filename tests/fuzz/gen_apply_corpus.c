/*
 * Writes the seed corpus of fuzz_apply: real CHANGES messages extracted from
 * an engine on the demo schema holding a few rows (inserts, an update, a
 * delete), in batches of several sizes. usage: gen_apply_corpus DIR
 * (DIR = tests/fuzz/corpus/apply). Run by hand after a format change; the
 * files are checked in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_fixture.h"
#include "wire/msg.h"

/* The device fuzz_apply names as the sender. */
static const uint8_t gen_dev[CS_DEVID_LEN] = {0xd0, 0xa1, 2, 3, 4, 5, 6, 7};

static const char gen_rows[] =
    "INSERT INTO patient(nom, prenom, date_naissance, sexe, email, cree_le) VALUES "
    " ('Martin', 'Claire', '1980-02-03', 'F', 'c@example.org', '2026-01-01'),"
    " ('Durand', 'Paul', '1975-06-07', 'M', NULL, '2026-01-02');"
    "INSERT INTO consultation(patient_id, praticien, date_consultation, motif, tarif_cents,"
    " duree_min) VALUES (1, 'Dr A', '2026-02-01', 'lombalgie', 6000, 45),"
    " (2, 'Dr A', '2026-02-02', 'cervicalgie', 5500, 30);"
    "INSERT INTO document(patient_id, consultation_id, nom_fichier, type_mime,"
    " taille_octets, sha256, ajoute_le) VALUES (1, 1, 'radio.pdf', 'application/pdf', 1234,"
    " '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', '2026-02-01');"
    "INSERT INTO appointment(patient_id, praticien, debut, note) VALUES"
    " (1, 'Dr A', '2026-03-01T09:00', 'contrôle');";

static void
put(const char *dir, const char *name, const struct cs_changeset *cs)
{
	struct cs_stream s = {.kind = CS_STREAM_MAIN};
	struct cs_msg_buf b;
	char path[512];
	FILE *f;

	cs_msg_buf_init(&b, 0);
	if (cs_msg_encode_changes(&b, &s, cs) != 0) {
		fprintf(stderr, "gen_apply_corpus: encode failed\n");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(b.p, 1, b.len, f) != b.len || fclose(f) != 0) {
		fprintf(stderr, "gen_apply_corpus: cannot write %s\n", path);
		exit(1);
	}
	cs_msg_buf_free(&b);
}

static void
extract(struct fa *a, uint64_t after, size_t max_rows, struct cs_changeset *cs)
{
	if (cs_engine_extract(a->e, after, NULL, NULL, max_rows, cs) < 0) {
		fprintf(stderr, "extract: %s\n", cs_engine_errmsg(a->e));
		exit(1);
	}
}

static void
exec(struct fa *a, const char *sql)
{
	if (sqlite3_exec(cs_engine_handle(a->e), sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "sql: %s\n", sqlite3_errmsg(cs_engine_handle(a->e)));
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	struct cs_changeset cs;
	struct fa a;
	uint64_t v1;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_apply_corpus DIR\n");
		return 2;
	}
	fa_open(&a, "gen_apply", gen_dev);
	exec(&a, gen_rows);
	cs_changeset_init(&cs);
	extract(&a, 0, 1000, &cs);
	put(argv[1], "all", &cs);
	extract(&a, 0, 1, &cs);
	put(argv[1], "first", &cs);
	extract(&a, 0, 3, &cs);
	put(argv[1], "three", &cs);
	v1 = cs_engine_db_version(a.e);
	exec(&a,
	    "UPDATE patient SET telephone = '0102030405', antecedents = x'00ff' WHERE id = 2;"
	    "UPDATE consultation SET tarif_cents = 7000 WHERE id = 1;");
	extract(&a, v1, 1000, &cs);
	put(argv[1], "update", &cs);
	v1 = cs_engine_db_version(a.e);
	exec(&a, "DELETE FROM appointment; DELETE FROM consultation WHERE id = 2;");
	extract(&a, v1, 1000, &cs);
	put(argv[1], "delete", &cs);
	extract(&a, 0, 1000, &cs);
	put(argv[1], "all_after", &cs);
	cs_changeset_free(&cs);
	fa_close(&a);
	return 0;
}
