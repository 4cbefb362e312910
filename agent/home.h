/*
 * agent/home.h: a device's home directory (docs/OPERATIONS.md "Where things
 * are on disk"): its configuration, its keys, the cabinet key and the roster.
 *
 *   HOME/cabsync.ini  configuration (inih): cabinet id and name, practitioner
 *                     id and name, device id and name, app database and
 *                     tables INI, listening port, static peers. No secret.
 *   HOME/device.key   mode 0600: X25519 secret (32) || Ed25519 secret (64),
 *                     unless they are in the login keyring (agent/keyring.h;
 *                     then cabsync.ini says "keystore = keyring").
 *   HOME/cabinet.key  mode 0600: u32be epoch || cabinet key (32).
 *   HOME/roster.ini   the signed roster records (agent/roster.h), one section
 *                     each: a device's X25519 and Ed25519 public keys,
 *                     practitioner, role, name, state (active|revoked), signer,
 *                     signature; the founder's key in [cabinet].
 *   HOME/cabinet.keys mode 0600: the keys of later epochs (after rotations),
 *                     u32be epoch || key (32), one after the other.
 *   HOME/port         the TCP port the running agent listens on (for tests
 *                     and the CLI), written at start.
 *
 * The device id is the one of the device state file beside the database
 * (agent/devstate.h), copied into the config at init.
 *
 * Secrets (device keys, cabinet key) are kept in one sodium_malloc block,
 * read-only once loaded, wiped by cs_home_free(). The device keys go to the
 * login keyring when one is usable at init/join, else to the 0600 file with
 * one warning; the cabinet key is always in its 0600 file.
 *
 * Not thread-safe: the loop thread owns a struct cs_home; it is loaded once
 * at start and read-only afterwards (except the roster, reloaded on SIGHUP).
 */
#ifndef CS_AGENT_HOME_H
#define CS_AGENT_HOME_H

#include <stddef.h>
#include <stdint.h>

#include "base/change.h"
#include "wire/rrec.h"

#define CS_HOME_PATH_MAX    4096
#define CS_HOME_NAME_MAX    64
#define CS_HOME_MAX_DEVICES 64
#define CS_HOME_MAX_PEERS   16
#define CS_CABINET_ID_LEN   16
#define CS_KEY_LEN          32
#define CS_HOME_MAX_EPOCHS  32 /* cabinet keys kept (every epoch this device knows) */

/* Agent error codes (base/err.h range -600..-799). */
enum cs_home_err {
	CS_HOME_EEXISTS = -600,  /* the home is already initialised */
	CS_HOME_ENOHOME = -601,  /* no cabsync.ini in the home */
	CS_HOME_ECONFIG = -602,  /* cabsync.ini / roster.ini malformed */
	CS_HOME_EKEYFILE = -603, /* a key file is missing, malformed or not 0600 */
};

struct cs_secrets {
	uint8_t dh_sk[32];               /* X25519 secret (Noise static) */
	uint8_t sign_sk[64];             /* Ed25519 secret */
	uint8_t cabinet_key[CS_KEY_LEN]; /* the current epoch's (h->epoch) */
	/* every epoch's key this device holds, for old-epoch peers (agent/roster.h) */
	struct {
		uint32_t epoch;
		uint8_t key[CS_KEY_LEN];
	} keys[CS_HOME_MAX_EPOCHS];
	size_t nkeys;
};

struct cs_roster_dev {
	uint8_t id[CS_DEVID_LEN];
	uint8_t dh_pk[32];
	uint8_t sign_pk[32];
	uint8_t practitioner[CS_GID_LEN];
	char name[CS_HOME_NAME_MAX];
	int revoked;
	/* from the signed records (agent/roster.h) */
	char practitioner_name[CS_HOME_NAME_MAX];
	int admin; /* its practitioner is cabinet-admin */
	uint8_t added_by[CS_DEVID_LEN];
	uint64_t added_ms, revoked_ms;
	uint32_t revoked_epoch;
};

/* The signed records the roster is made of (agent/roster.h). */
struct cs_roster {
	uint8_t founder[32]; /* Ed25519 key of the cabinet's first device */
	struct cs_rrec recs[CS_RREC_MAX];
	size_t n;
};

struct cs_home {
	char dir[CS_HOME_PATH_MAX];
	char cabinet_name[CS_HOME_NAME_MAX];
	uint8_t cabinet_id[CS_CABINET_ID_LEN];
	uint32_t epoch;
	char practitioner_name[CS_HOME_NAME_MAX];
	uint8_t practitioner[CS_GID_LEN];
	char device_name[CS_HOME_NAME_MAX];
	uint8_t device_id[CS_DEVID_LEN];
	uint8_t dh_pk[32], sign_pk[32];
	int keyring; /* the device keys are in the login keyring, not device.key */
	char db[CS_HOME_PATH_MAX];
	char tables[CS_HOME_PATH_MAX];
	uint16_t port; /* 0 = any */
	char peers[CS_HOME_MAX_PEERS][CS_HOME_NAME_MAX * 4];
	size_t npeers;
	struct cs_roster_dev roster[CS_HOME_MAX_DEVICES]; /* the state the records give */
	size_t nroster;
	struct cs_roster rs;
	uint32_t base_epoch;    /* the epoch of cabinet.key (the config's) */
	struct cs_secrets *sec; /* sodium_malloc; read-only once loaded */
};

/* dir/name into out (cap bytes). CS_ERANGE if too long. */
int cs_home_path(const struct cs_home *h, const char *name, char *out, size_t cap);

/*
 * Load the home dir: config, keys, roster. On error msg (if not NULL) gets
 * one sentence. Returns 0, CS_HOME_ENOHOME, CS_HOME_ECONFIG,
 * CS_HOME_EKEYFILE, CS_ENOMEM, CS_ERANGE; h is then left with no secret.
 */
int cs_home_load(struct cs_home *h, const char *dir, char *msg, size_t msg_cap);

/* Reload roster.ini and cabinet.keys, merged into what h holds (records only
 * accumulate: agent/roster.h). 0 or CS_HOME_ECONFIG / CS_ERANGE. */
int cs_home_load_roster(struct cs_home *h, char *msg, size_t msg_cap);

/* Wipe and release the secrets; h may be half-loaded; leaves sec NULL. */
void cs_home_free(struct cs_home *h);

/* Allocate h->sec (sodium_malloc, zeroed, read-write). 0 or CS_ENOMEM. */
int cs_home_secrets_alloc(struct cs_home *h);

/*
 * Write the device keys (login keyring, else device.key with one warning
 * logged), cabinet.key (0600, created exclusively), roster.ini and last
 * cabsync.ini (exclusively) from h. Used by init and join. 0 or CS_EIO /
 * CS_EEXIST / CS_ERANGE (msg says which file and why).
 */
int cs_home_save(struct cs_home *h, char *msg, size_t msg_cap);

/* Rewrite roster.ini (and cabinet.keys) atomically, merged with the files
 * (agent/roster.h cs_roster_save). 0 or CS_EIO / CS_ERANGE / CS_ENOMEM. */
int cs_home_save_roster(struct cs_home *h);

/* The roster entry of X25519 public key pk, or NULL. */
const struct cs_roster_dev *cs_home_roster_by_key(const struct cs_home *h,
    const uint8_t pk[static 32]);
/* The roster entry of device id, or NULL. */
struct cs_roster_dev *cs_home_roster_by_id(struct cs_home *h,
    const uint8_t id[static CS_DEVID_LEN]);
/*
 * Add device d (or rename it) by a record signed by this device (h's keys),
 * merged into the roster: agent/roster.h cs_roster_make. 0, CS_ERANGE
 * (roster full) or the CS_ROSTER_E* reason the rules refuse it.
 */
int cs_home_roster_put(struct cs_home *h, const struct cs_roster_dev *d);

/* Hex helpers (lower case); unhex: exactly 2n digits. 0 or -1. */
void cs_home_hex(const uint8_t *b, size_t n, char *out);
int cs_home_unhex(const char *s, uint8_t *out, size_t n);

/* A static sentence for a CS_HOME_E... code. */
const char *cs_home_strerror(int err);

#endif
