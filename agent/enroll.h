/*
 * agent/enroll.h: enrollment of a new PC into the cabinet (DESIGN.md
 * "Identity and keys", Enrollment; docs/OPERATIONS.md "Adding a PC").
 *
 *   cabsync invite --home DIR [--same-practitioner | --practitioner NAME]
 *                  [--listen ADDR] [--port N]
 *   cabsync join CODE --home DIR --db APP.db [--peer HOST:PORT]
 *                [--device-name NAME] [--enable-wal]
 *
 * invite prints a single-use code: 160 random bits in RFC 4648 base32, in
 * groups of four, then one check character (5 bits of BLAKE2b of the
 * secret), e.g. ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567-K; it listens on
 * ADDR:N (default 0.0.0.0, any port; printed) and waits 15 minutes at most,
 * findable over mDNS by the code holder only (agent/rendezvous.h); join
 * without --peer looks it up there (10 s; CS_JOIN_FIND_MS for tests).
 * join derives the same psk (wire/noise.h cs_noise_invite_psk) and runs a
 * Noise_XXpsk0 handshake with the invite prologue as initiator. A wrong code
 * fails at message 1 on the inviter (audited; the joiner says "invalid or
 * expired code"); after 5 failures the code is cancelled; the first
 * successful join ends the invite: a code works once. After the deadline the
 * inviter keeps refusing attempts for one more minute, then exits.
 *
 * Message 3 carries the joiner's device id, name and Ed25519 key; the
 * inviter answers in one transport message with the cabinet (id, name, epoch,
 * key), the practitioner (the inviter's with --same-practitioner, the
 * default; a new one with --practitioner NAME, which needs the cabinet-admin
 * role), the roster (the founder's key and every signed record, the joiner's
 * own record signed by the inviter: agent/roster.h), the tracked
 * tables INI and the inviter's agent address (its port file), then adds the
 * joiner to its roster (the running agent reloads roster.ini when it
 * changes). The joiner writes its home, installs the engine, and its agent
 * dials the inviter's agent as a static peer.
 *
 * Blocking commands (poll with timeouts), not the daemon. Test knob:
 * CS_INVITE_TTL_MS overrides the 15-minute lifetime.
 */
#ifndef CS_AGENT_ENROLL_H
#define CS_AGENT_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#define CS_INVITE_SECRET_LEN 20
#define CS_INVITE_CODE_MAX   64
#define CS_INVITE_MAX_FAILS  5

/* Format a code for secret into out (>= CS_INVITE_CODE_MAX). */
void cs_invite_code_format(const uint8_t secret[CS_INVITE_SECRET_LEN], char *out);

/*
 * Parse a typed code (case-insensitive, '-' and spaces ignored) into secret.
 * 0, CS_EINVAL (wrong length or character), CS_ECORRUPT (check character
 * wrong: a typo).
 */
int cs_invite_code_parse(const char *code, uint8_t secret[CS_INVITE_SECRET_LEN]);

/* argv[0] is "invite" / "join". Exit codes of agent/ctl_cmd.h and db_cmd.h. */
int cs_invite_cmd(int argc, char **argv);
int cs_join_cmd(int argc, char **argv);

#endif
