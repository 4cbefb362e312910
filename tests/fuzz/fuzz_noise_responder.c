/*
 * tests/fuzz/fuzz_noise_responder.c: a Noise responder (wire/noise) fed hostile
 * handshake and transport messages by an otherwise honest peer; the input
 * format and the invariants are in noise_fuzz.h.
 */
#define FUZZ_TARGET_INITIATOR 0
#include "noise_fuzz.h"
