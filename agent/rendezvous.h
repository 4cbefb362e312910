/*
 * agent/rendezvous.h: how `cabsync join CODE` finds its inviter on the LAN
 * without an address (issue 5 §1; docs/DISCOVERY.md; docs/OPERATIONS.md
 * "Adding a PC").
 *
 * While `cabsync invite` waits, it publishes one more `_cabsync._tcp`
 * instance (random instance and host names, as the agent's: discovery/mdns.h)
 * on its invite port, whose TXT `cab=` is the lookup tag of the code
 *
 *   tag = BLAKE2b-128(key = the code's 20 secret bytes,
 *                     msg = "cabsync invite mdns v1")
 *
 * and whose `dev=` is random. Only a holder of the code can compute the tag,
 * so the record tells nobody else that an invite is open, nor for which
 * cabinet; it disappears with the invite. The joiner browses for that tag and
 * dials what resolves; the Noise handshake keyed by the code then proves both
 * sides (a record copied by someone else leads to a handshake that fails).
 *
 * Both sides run a private libuv loop inside their blocking command:
 * the inviter polls cs_rendezvous_fd() beside its listening socket and calls
 * cs_rendezvous_run() when it is readable or its timeout passed; the joiner
 * calls cs_rendezvous_find(), which blocks. Without an avahi-daemon the
 * inviter just is not findable (it says so once) and the joiner gives up
 * after its timeout with a sentence telling to use --peer.
 *
 * Ownership: struct cs_rendezvous is caller storage; start/stop on one
 * thread. Nothing here keeps the secret: only the tag (public once sent).
 */
#ifndef CS_AGENT_RENDEZVOUS_H
#define CS_AGENT_RENDEZVOUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "discovery/tag.h"

#define CS_RENDEZVOUS_SECRET_LEN 20 /* CS_INVITE_SECRET_LEN */

struct cs_mdns;

struct cs_rendezvous {
	uv_loop_t loop;
	struct cs_mdns *mdns;
	int loop_on;
	int said_nodaemon;
	/* joiner */
	int found;
	struct sockaddr_storage sa;
	char addr[64];
	uint16_t port;
};

/* The lookup tag of an invite secret. 0 or CS_EIO. */
int cs_rendezvous_tag(const uint8_t secret[static CS_RENDEZVOUS_SECRET_LEN],
    uint8_t tag[static CS_TAG_LEN]);

/*
 * Inviter: publish the invite on port. 0, or CS_EIO / CS_ENOMEM (then
 * nothing runs; the invite still works with --peer).
 */
int cs_rendezvous_publish(struct cs_rendezvous *r,
    const uint8_t secret[static CS_RENDEZVOUS_SECRET_LEN], uint16_t port);

/* The fd to poll for POLLIN, and the longest wait (ms) before running. */
int cs_rendezvous_fd(struct cs_rendezvous *r);
int cs_rendezvous_timeout(struct cs_rendezvous *r);

/* Run what is ready (never blocks). */
void cs_rendezvous_run(struct cs_rendezvous *r);

/*
 * Joiner: browse until an invite of this secret resolves (IPv4 preferred
 * when several addresses come within 300 ms) or timeout_ms passes. 0 with
 * r->sa / r->addr / r->port set, CS_ENOENT (not found: msg says what to do),
 * CS_EIO. r needs no stop afterwards.
 */
int cs_rendezvous_find(struct cs_rendezvous *r,
    const uint8_t secret[static CS_RENDEZVOUS_SECRET_LEN], int timeout_ms, char *msg, size_t cap);

/* Withdraw the record, close everything. Idempotent; r may be zeroed. */
void cs_rendezvous_stop(struct cs_rendezvous *r);

#endif
