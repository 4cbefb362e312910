/*
 * tests/sim/sim_gen.h: demo practice rows written through plain SQL, as the
 * app writes them (so the engine's triggers capture them), for the crash
 * and allocation-failure tests. Deterministic for a given RNG state. The
 * simulator itself writes column by column (sim_main.c) instead.
 */
#ifndef CS_SIM_GEN_H
#define CS_SIM_GEN_H

#include <sqlite3.h>

#include "sim_rng.h"

/*
 * In one transaction on db (the demo schema): npatients patients, each with
 * ncons consultations, one document for every other consultation and one
 * appointment. Returns 0 or the SQLite error code.
 */
int sim_gen_practice(sqlite3 *db, struct sim_rng *rng, int npatients, int ncons);

#endif
