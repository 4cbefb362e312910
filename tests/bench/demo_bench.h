/*
 * tests/bench/demo_bench.h: what the engine benchmarks (bench_capture,
 * bench_apply, bench_extract) share: the demo schema (sql/demo/schema.sql,
 * read at run time from CS_DEMO_DIR), deterministic consultation rows of
 * realistic size (~420 bytes of French text, like sql/demo/generate.sh),
 * the app's connection (WAL, synchronous=NORMAL, default cache: the method
 * of ../shared/baselines/bench_sqlite.c), timing and Markdown output.
 *
 * Header-only (static inline) so that each bench stays one .c file. Bench
 * programs exit on the first failure with a message: they are not library
 * code.
 */
#ifndef CS_TESTS_DEMO_BENCH_H
#define CS_TESTS_DEMO_BENCH_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sql/engine.h"

#ifndef CS_DEMO_DIR
#error "CS_DEMO_DIR must name sql/demo (tests/demo.cmake sets it)"
#endif

static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CS_BENCH_SMALL=1: tiny sizes, for the smoke test that keeps benches alive. */
static inline int
bench_small(void)
{
	const char *s = getenv("CS_BENCH_SMALL");

	return s != NULL && s[0] != '\0' && s[0] != '0';
}

/*
 * CS_BENCH_SCALE=K: divide the sizes by K (default 1), for a machine or an
 * engine build on which the full sizes take too long. Each bench prints the
 * sizes it used.
 */
static inline int64_t
bench_scaled(int64_t n)
{
	const char *s = getenv("CS_BENCH_SCALE");
	long k = s != NULL ? strtol(s, NULL, 10) : 1;

	if (k <= 1)
		return n;
	return n / k > 10 ? n / k : 10;
}

static inline void
bench_die(const char *what, sqlite3 *db)
{
	fprintf(stderr, "bench: %s: %s\n", what, db != NULL ? sqlite3_errmsg(db) : "");
	exit(1);
}

static inline void
bench_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench: SQL error: %s\n  in: %.200s\n", err != NULL ? err : "?",
		    sql);
		exit(1);
	}
}

static inline sqlite3_stmt *
bench_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		bench_die(sql, db);
	return s;
}

static inline void
bench_step(sqlite3 *db, sqlite3_stmt *s)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		bench_die("step", db);
	sqlite3_reset(s);
}

static inline int64_t
bench_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = bench_prep(db, sql);
	int64_t v;

	if (sqlite3_step(s) != SQLITE_ROW)
		bench_die(sql, db);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* A scratch database path (removed first, with its -wal and -shm). */
static inline void
bench_path(char *out, size_t cap, const char *tag)
{
	const char *dir = getenv("TMPDIR");
	char p[600];

	snprintf(out, cap, "%s/cs-bench-%d-%s.db", dir != NULL ? dir : "/tmp", (int)getpid(), tag);
	unlink(out);
	snprintf(p, sizeof(p), "%s-wal", out);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", out);
	unlink(p);
}

static inline void
bench_unlink(const char *path)
{
	char p[600];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

/* The app's connection: WAL, synchronous=NORMAL, like the baselines. */
static inline sqlite3 *
bench_open(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		bench_die("open", db);
	bench_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
	return db;
}

/* Run sql/demo/schema.sql on db. */
static inline void
bench_schema(sqlite3 *db)
{
	char path[512], *sql;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/schema.sql", CS_DEMO_DIR);
	f = fopen(path, "r");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "bench: cannot read %s\n", path);
		exit(1);
	}
	sql = malloc((size_t)n + 1);
	if (sql == NULL || fread(sql, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "bench: cannot read %s\n", path);
		exit(1);
	}
	sql[n] = '\0';
	fclose(f);
	bench_exec(db, sql);
	free(sql);
}

/* Open the engine on path (WAL already), install, return it. */
static inline struct cs_engine *
bench_engine(const char *path, uint8_t dev_byte)
{
	struct cs_engine_opts o;
	struct cs_engine *e = NULL;
	uint8_t dev[CS_DEVID_LEN];
	char ini[512];
	int rc;

	memset(dev, dev_byte, sizeof(dev));
	snprintf(ini, sizeof(ini), "%s/tables.ini", CS_DEMO_DIR);
	memset(&o, 0, sizeof(o));
	o.db_path = path;
	o.tables_ini = ini;
	o.device_id = dev;
	rc = cs_engine_open(&e, &o);
	if (rc != 0) {
		fprintf(stderr, "bench: engine open: %s\n", cs_engine_open_errmsg());
		exit(1);
	}
	rc = cs_engine_install(e);
	if (rc != 0) {
		fprintf(stderr, "bench: engine install: %s\n", cs_engine_errmsg(e));
		exit(1);
	}
	return e;
}

/* ---- deterministic rows ---- */

static inline uint64_t
bench_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static const char *const bench_motifs[] = {"Lombalgie aiguë après un port de charge",
    "Cervicalgie avec raideur matinale", "Dorsalgie en position assise prolongée",
    "Sciatalgie droite depuis trois semaines", "Céphalées de tension",
    "Douleur de l'épaule gauche à l'élévation du bras", "Suivi de grossesse, douleurs sacrées",
    "Entorse de cheville en voie de consolidation", "Troubles digestifs et ballonnements",
    "Bilan postural après reprise du sport", "Torticolis au réveil",
    "Gêne de la mâchoire, bruxisme"};
static const char *const bench_examens[] = {"Test de Lasègue négatif.",
    "Flexion lombaire limitée, distance doigts-sol 20 cm.",
    "Restriction de mobilité C5-C6 à droite.", "Spasme des paravertébraux lombaires gauches.",
    "Bassin en antériorité iliaque droite.", "Diaphragme tendu, respiration haute.",
    "Palpation sensible de la sacro-iliaque droite.", "Pas de signe neurologique déficitaire.",
    "Tension des muscles sous-occipitaux.", "Côte 6 droite bloquée en inspiration."};
static const char *const bench_diags[] = {"Dysfonction somatique lombaire L4-L5",
    "Dysfonction sacro-iliaque droite", "Dysfonction cervicale haute C1-C2",
    "Dysfonction thoracique T4-T6 avec restriction costale",
    "Tension diaphragmatique, dysfonction de la charnière", "Dysfonction iliaque antérieure droite",
    "Dysfonction de la ceinture scapulaire gauche"};
static const char *const bench_traits[] = {
    "Techniques myotensives lombaires et mobilisation du bassin.",
    "Thrust sur T5, travail diaphragmatique.",
    "Techniques fonctionnelles cervicales, détente sous-occipitale.",
    "Mobilisation articulaire de la cheville, drainage.",
    "Techniques viscérales abdominales douces.", "Équilibration du bassin et du sacrum."};
static const char *const bench_conseils[] = {"Éviter le port de charges lourdes pendant 48 h.",
    "Reprise progressive de l'activité sportive.", "Étirements quotidiens des ischio-jambiers.",
    "Hydratation, marche 30 minutes par jour.",
    "Adapter la hauteur de l'écran au poste de travail.",
    "Revoir dans un mois si pas d'amélioration."};
static const char *const bench_atcd[] = {"RAS depuis la dernière séance.",
    "Amélioration partielle après la dernière séance.",
    "Reprise de la course à pied il y a quinze jours.", "Séances de kinésithérapie en cours."};
#define BENCH_PICK(arr, h) (arr[(h) % (sizeof(arr) / sizeof(arr[0]))])

/* Columns of consultation after id, in schema order. */
#define BENCH_CONSULT_COLS                                                                         \
	"patient_id, praticien, date_consultation, duree_min, motif, antecedents, examen, "        \
	"diagnostic, traitement, conseils, tarif_cents"

struct bench_row {
	int64_t patient_id, duree, tarif;
	const char *praticien, *motif, *atcd, *diag;
	char date[24], examen[256], trait[256], conseils[256];
};

/* Consultation number id (1-based), version salt (0 = as inserted). */
static inline void
bench_row(struct bench_row *r, int64_t id, int64_t npatients, uint64_t salt)
{
	uint64_t h = bench_mix((uint64_t)id * 0x9E3779B97F4A7C15ULL ^ salt);
	uint64_t d = bench_mix(h + 1);

	r->patient_id = 1 + (int64_t)(h % (uint64_t)npatients);
	r->praticien = (h >> 20) % 2 ? "Claire Martin" : "Paul Durand";
	snprintf(r->date, sizeof(r->date), "20%02d-%02d-%02dT%02d:%02d", (int)(19 + d % 7),
	    (int)(1 + (d >> 8) % 12), (int)(1 + (d >> 16) % 28), (int)(8 + (d >> 24) % 11),
	    (int)((d >> 32) % 2) * 30);
	r->duree = 30 + (int64_t)((h >> 8) % 3) * 15;
	r->motif = BENCH_PICK(bench_motifs, h >> 3);
	r->atcd = BENCH_PICK(bench_atcd, h >> 7);
	snprintf(r->examen, sizeof(r->examen), "%s %s %s", BENCH_PICK(bench_examens, h >> 11),
	    BENCH_PICK(bench_examens, h >> 17), BENCH_PICK(bench_examens, h >> 23));
	r->diag = BENCH_PICK(bench_diags, h >> 29);
	snprintf(r->trait, sizeof(r->trait), "%s %s", BENCH_PICK(bench_traits, h >> 31),
	    BENCH_PICK(bench_traits, h >> 37));
	snprintf(r->conseils, sizeof(r->conseils), "%s %s (séance %lld)",
	    BENCH_PICK(bench_conseils, h >> 41), BENCH_PICK(bench_conseils, h >> 47),
	    (long long)(salt % 1000));
	r->tarif = 5500 + (int64_t)((h >> 53) % 4) * 500;
}

/* Bind the 11 columns of BENCH_CONSULT_COLS at parameters first..first+10. */
static inline void
bench_bind_row(sqlite3_stmt *s, int first, const struct bench_row *r)
{
	sqlite3_bind_int64(s, first, r->patient_id);
	sqlite3_bind_text(s, first + 1, r->praticien, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, first + 2, r->date, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, first + 3, r->duree);
	sqlite3_bind_text(s, first + 4, r->motif, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, first + 5, r->atcd, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, first + 6, r->examen, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, first + 7, r->diag, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, first + 8, r->trait, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, first + 9, r->conseils, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, first + 10, r->tarif);
}

/*
 * An app edit of 1-3 columns of consultation id, kind i % 3: 0 the advice;
 * 1 the examination and diagnosis; 2 the treatment, advice and fee. r is
 * the row before (bench_row(id, 0) for a row not edited since insert); it
 * gets the new values. Returns the kind.
 */
static inline int
bench_edit(struct bench_row *r, int64_t id, int64_t i, int64_t npat)
{
	struct bench_row n;

	bench_row(&n, id, npat, (uint64_t)i + 1);
	switch (i % 3) {
	case 0:
		memcpy(r->conseils, n.conseils, sizeof(r->conseils));
		return 0;
	case 1:
		memcpy(r->examen, n.examen, sizeof(r->examen));
		r->diag = n.diag;
		return 1;
	default:
		memcpy(r->trait, n.trait, sizeof(r->trait));
		memcpy(r->conseils, n.conseils, sizeof(r->conseils));
		r->tarif = n.tarif + 100;
		return 2;
	}
}

/* The three statements of bench_edit, to finalize with sqlite3_finalize. */
static inline void
bench_edit_prepare(sqlite3 *db, sqlite3_stmt *u[3])
{
	u[0] = bench_prep(db, "UPDATE consultation SET conseils = ?1 WHERE id = ?2");
	u[1] = bench_prep(db, "UPDATE consultation SET examen = ?1, diagnostic = ?2 WHERE id = ?3");
	u[2] = bench_prep(db,
	    "UPDATE consultation SET traitement = ?1, conseils = ?2, tarif_cents = ?3 WHERE id = "
	    "?4");
}

/* Make edit i of row id through the app's connection. */
static inline void
bench_edit_run(sqlite3 *db, sqlite3_stmt *const u[3], int64_t id, int64_t i, int64_t npat)
{
	struct bench_row r;
	sqlite3_stmt *s;
	int kind;

	bench_row(&r, id, npat, 0);
	kind = bench_edit(&r, id, i, npat);
	s = u[kind];
	switch (kind) {
	case 0:
		sqlite3_bind_text(s, 1, r.conseils, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 2, id);
		break;
	case 1:
		sqlite3_bind_text(s, 1, r.examen, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, r.diag, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, id);
		break;
	default:
		sqlite3_bind_text(s, 1, r.trait, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, r.conseils, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 3, r.tarif);
		sqlite3_bind_int64(s, 4, id);
		break;
	}
	bench_step(db, s);
}

/* Insert n patients (ids 1..n) in one transaction, as the app would. */
static inline void
bench_patients(sqlite3 *db, int64_t n)
{
	sqlite3_stmt *s = bench_prep(db,
	    "INSERT INTO patient (nom, prenom, date_naissance, sexe, telephone, ville, "
	    "antecedents, cree_le) VALUES (?1, ?2, ?3, ?4, '06 12 34 56 78', 'Lyon', "
	    "'Aucun antécédent notable.', '2024-01-02T09:00:00')");
	char nom[32], date[16];
	int64_t i;

	bench_exec(db, "BEGIN");
	for (i = 1; i <= n; i++) {
		uint64_t h = bench_mix((uint64_t)i);
		snprintf(nom, sizeof(nom), "Patient%lld", (long long)i);
		snprintf(date, sizeof(date), "19%02d-%02d-%02d", (int)(40 + h % 60),
		    (int)(1 + (h >> 8) % 12), (int)(1 + (h >> 16) % 28));
		sqlite3_bind_text(s, 1, nom, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, (h >> 30) % 2 ? "Camille" : "Lucas", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, date, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 4, (h >> 30) % 2 ? "F" : "M", -1, SQLITE_STATIC);
		bench_step(db, s);
	}
	bench_exec(db, "COMMIT");
	sqlite3_finalize(s);
}

/* Insert consultations 1..n (ids by AUTOINCREMENT, from an empty table) in
 * transactions of batch rows. */
static inline void
bench_consultations(sqlite3 *db, int64_t n, int64_t npatients, int64_t batch)
{
	sqlite3_stmt *s = bench_prep(db,
	    "INSERT INTO consultation (" BENCH_CONSULT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?8, ?9, ?10, ?11)");
	struct bench_row r;
	int64_t i;

	for (i = 1; i <= n; i++) {
		if ((i - 1) % batch == 0)
			bench_exec(db, "BEGIN");
		bench_row(&r, i, npatients, 0);
		bench_bind_row(s, 1, &r);
		bench_step(db, s);
		if (i % batch == 0 || i == n)
			bench_exec(db, "COMMIT");
	}
	sqlite3_finalize(s);
}

/* A random permutation of 1..n (fixed seed: both runs update the same rows). */
static inline int64_t *
bench_perm(int64_t n)
{
	int64_t *p = malloc((size_t)n * sizeof(*p)), i, j, t;
	uint64_t r = 12345;

	if (p == NULL)
		exit(1);
	for (i = 0; i < n; i++)
		p[i] = i + 1;
	for (i = n - 1; i > 0; i--) {
		r = bench_mix(r + 1);
		j = (int64_t)(r % (uint64_t)(i + 1));
		t = p[i];
		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

/* "47.2 K" style figures. */
static inline const char *
bench_rate(char *buf, size_t cap, double per_s)
{
	if (per_s >= 1e6)
		snprintf(buf, cap, "%.2f M", per_s / 1e6);
	else if (per_s >= 1e3)
		snprintf(buf, cap, "%.1f K", per_s / 1e3);
	else
		snprintf(buf, cap, "%.0f", per_s);
	return buf;
}

#endif
