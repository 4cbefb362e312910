/*
 * agent/keyring.h: the device's secret keys in the user's login keyring
 * (DESIGN.md "Identity and keys"; docs/OPERATIONS.md "Where things are on
 * disk"), through libsecret and the freedesktop Secret Service (GNOME
 * Keyring, KWallet, KeePassXC).
 *
 * One item per device, schema CS_KEYRING_SCHEMA with one attribute,
 * "device" = the device id in lower-case hex; the secret is the 96 bytes of
 * HOME/device.key (X25519 secret || Ed25519 secret) in hex. The cabinet key
 * stays in HOME/cabinet.key (0600): it is rotated by the agent itself.
 *
 * When the keyring is used: a session bus is set (DBUS_SESSION_BUS_ADDRESS),
 * CS_KEYRING is not "off", a Secret Service already owns its bus name (it is
 * never started by D-Bus activation: a keyring daemon started that way has
 * no unlocked collection and would prompt), and its default collection
 * exists and is unlocked (no prompt is ever shown). Otherwise the caller
 * falls back to the 0600 file and warns once.
 *
 * Blocking calls (D-Bus round trips); called before the event loop runs
 * (init, join, agent start), never from the loop. The hex secret passes
 * through stack buffers wiped before return; libsecret's copy of a looked-up
 * secret is in its non-pageable memory and freed with wiping. Builds without
 * libsecret (CS_HAVE_LIBSECRET undefined) always answer
 * CS_KEYRING_EUNAVAIL.
 */
#ifndef CS_AGENT_KEYRING_H
#define CS_AGENT_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "base/change.h"

#define CS_KEYRING_SCHEMA     "org.cabsync.DeviceKey"
#define CS_KEYRING_SECRET_LEN 96

enum cs_keyring_err {
	CS_KEYRING_EUNAVAIL = -770, /* no usable login keyring (msg says why) */
};

/*
 * Store the secret of device id in the default collection. label is shown
 * by keyring managers (no secret in it). 0, or CS_KEYRING_EUNAVAIL with msg set to
 * why the keyring is not usable (no session bus, no Secret Service, no or a
 * locked default collection), or CS_EIO (the service refused).
 */
int cs_keyring_store(const uint8_t id[static CS_DEVID_LEN], const char *label,
    const uint8_t secret[static CS_KEYRING_SECRET_LEN], char *msg, size_t cap);

/*
 * Look the secret of device id up into secret. 0, CS_KEYRING_EUNAVAIL (keyring not
 * usable: msg says why, e.g. locked), CS_ENOENT (no such item), CS_EIO
 * (malformed item, service error). secret is wiped on every error.
 */
int cs_keyring_lookup(const uint8_t id[static CS_DEVID_LEN],
    uint8_t secret[static CS_KEYRING_SECRET_LEN], char *msg, size_t cap);

/* Remove the item of device id (if any). 0, CS_KEYRING_EUNAVAIL or CS_EIO. */
int cs_keyring_clear(const uint8_t id[static CS_DEVID_LEN], char *msg, size_t cap);

#endif
