/*
 * agent/keyring.c: device keys in the login keyring (see keyring.h).
 */
#include "agent/keyring.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#ifdef CS_HAVE_LIBSECRET
#include <libsecret/secret.h>

#define BUS_TIMEOUT_MS 3000

/* One attribute: the device id. Items are per device, not per home. */
static const SecretSchema schema = {
    CS_KEYRING_SCHEMA,
    SECRET_SCHEMA_NONE,
    {
        {"device", SECRET_SCHEMA_ATTRIBUTE_STRING},
        {NULL, 0},
    },
    0,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};

static void
say(char *msg, size_t cap, const char *what, GError *err)
{
	if (msg != NULL && cap > 0)
		snprintf(msg, cap, "%s%s%s", what, err != NULL ? ": " : "",
		    err != NULL ? err->message : "");
}

static void
hexid(const uint8_t id[static CS_DEVID_LEN], char out[2 * CS_DEVID_LEN + 1])
{
	sodium_bin2hex(out, 2 * CS_DEVID_LEN + 1, id, CS_DEVID_LEN);
}

/*
 * 0 when a Secret Service runs now and its default collection is unlocked;
 * never starts one (NameHasOwner, not activation) and never prompts.
 */
static int
usable(char *msg, size_t cap)
{
	GDBusConnection *bus = NULL;
	GVariant *r = NULL;
	SecretService *svc = NULL;
	SecretCollection *col = NULL;
	GError *err = NULL;
	const char *off = getenv("CS_KEYRING");
	gboolean owned = FALSE;
	int rc = CS_KEYRING_EUNAVAIL;

	if (off != NULL && strcmp(off, "off") == 0) {
		say(msg, cap, "the keyring is turned off (CS_KEYRING=off)", NULL);
		return rc;
	}
	if (getenv("DBUS_SESSION_BUS_ADDRESS") == NULL) {
		say(msg, cap, "no session bus (DBUS_SESSION_BUS_ADDRESS unset)", NULL);
		return rc;
	}
	bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &err);
	if (bus == NULL) {
		say(msg, cap, "cannot reach the session bus", err);
		goto out;
	}
	r = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
	    "org.freedesktop.DBus", "NameHasOwner", g_variant_new("(s)", "org.freedesktop.secrets"),
	    G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, BUS_TIMEOUT_MS, NULL, &err);
	if (r != NULL)
		g_variant_get(r, "(b)", &owned);
	if (!owned) {
		say(msg, cap, "no Secret Service (login keyring) runs on the session bus", err);
		goto out;
	}
	svc = secret_service_get_sync(SECRET_SERVICE_NONE, NULL, &err);
	if (svc == NULL) {
		say(msg, cap, "the Secret Service does not answer", err);
		goto out;
	}
	col = secret_collection_for_alias_sync(svc, SECRET_COLLECTION_DEFAULT,
	    SECRET_COLLECTION_NONE, NULL, &err);
	if (col == NULL) {
		say(msg, cap, "the keyring has no default collection", err);
		goto out;
	}
	if (secret_collection_get_locked(col)) {
		say(msg, cap, "the login keyring is locked (log in to the desktop to unlock it)",
		    NULL);
		goto out;
	}
	rc = 0;
out:
	if (err != NULL)
		g_error_free(err);
	if (r != NULL)
		g_variant_unref(r);
	if (col != NULL)
		g_object_unref(col);
	if (svc != NULL)
		g_object_unref(svc);
	if (bus != NULL)
		g_object_unref(bus);
	return rc;
}

int
cs_keyring_store(const uint8_t id[static CS_DEVID_LEN], const char *label,
    const uint8_t secret[static CS_KEYRING_SECRET_LEN], char *msg, size_t cap)
{
	char hex[2 * CS_KEYRING_SECRET_LEN + 1], idh[2 * CS_DEVID_LEN + 1];
	GError *err = NULL;
	int rc;

	rc = usable(msg, cap);
	if (rc != 0)
		goto out;
	hexid(id, idh);
	sodium_bin2hex(hex, sizeof(hex), secret, CS_KEYRING_SECRET_LEN);
	if (!secret_password_store_sync(&schema, SECRET_COLLECTION_DEFAULT, label, hex, NULL, &err,
	        "device", idh, NULL)) {
		say(msg, cap, "the keyring refused to store the device keys", err);
		rc = CS_EIO;
	}
out:
	sodium_memzero(hex, sizeof(hex));
	if (err != NULL)
		g_error_free(err);
	secret_service_disconnect();
	return rc;
}

int
cs_keyring_lookup(const uint8_t id[static CS_DEVID_LEN],
    uint8_t secret[static CS_KEYRING_SECRET_LEN], char *msg, size_t cap)
{
	char idh[2 * CS_DEVID_LEN + 1];
	gchar *pw = NULL;
	GError *err = NULL;
	size_t bl = 0;
	int rc;

	sodium_memzero(secret, CS_KEYRING_SECRET_LEN);
	rc = usable(msg, cap);
	if (rc != 0)
		goto out;
	hexid(id, idh);
	pw = secret_password_lookup_nonpageable_sync(&schema, NULL, &err, "device", idh, NULL);
	if (pw == NULL) {
		say(msg, cap,
		    err != NULL ? "the keyring lookup failed"
		                : "the login keyring holds no keys for this device",
		    err);
		rc = err != NULL ? CS_EIO : CS_ENOENT;
		goto out;
	}
	if (strlen(pw) != 2 * CS_KEYRING_SECRET_LEN ||
	    sodium_hex2bin(secret, CS_KEYRING_SECRET_LEN, pw, strlen(pw), NULL, &bl, NULL) != 0 ||
	    bl != CS_KEYRING_SECRET_LEN) {
		say(msg, cap, "the keyring item of this device is malformed", NULL);
		sodium_memzero(secret, CS_KEYRING_SECRET_LEN);
		rc = CS_EIO;
	}
out:
	if (pw != NULL)
		secret_password_free(pw); /* wipes */
	if (err != NULL)
		g_error_free(err);
	secret_service_disconnect();
	return rc;
}

int
cs_keyring_clear(const uint8_t id[static CS_DEVID_LEN], char *msg, size_t cap)
{
	char idh[2 * CS_DEVID_LEN + 1];
	GError *err = NULL;
	int rc;

	rc = usable(msg, cap);
	if (rc != 0)
		goto out;
	hexid(id, idh);
	(void)secret_password_clear_sync(&schema, NULL, &err, "device", idh, NULL);
	if (err != NULL) {
		say(msg, cap, "the keyring refused to remove the device keys", err);
		rc = CS_EIO;
	}
out:
	if (err != NULL)
		g_error_free(err);
	secret_service_disconnect();
	return rc;
}

#else /* !CS_HAVE_LIBSECRET */

static int
unavailable(char *msg, size_t cap)
{
	if (msg != NULL && cap > 0)
		snprintf(msg, cap, "this build has no libsecret");
	return CS_KEYRING_EUNAVAIL;
}

int
cs_keyring_store(const uint8_t id[static CS_DEVID_LEN], const char *label,
    const uint8_t secret[static CS_KEYRING_SECRET_LEN], char *msg, size_t cap)
{
	(void)id;
	(void)label;
	(void)secret;
	return unavailable(msg, cap);
}

int
cs_keyring_lookup(const uint8_t id[static CS_DEVID_LEN],
    uint8_t secret[static CS_KEYRING_SECRET_LEN], char *msg, size_t cap)
{
	(void)id;
	sodium_memzero(secret, CS_KEYRING_SECRET_LEN);
	return unavailable(msg, cap);
}

int
cs_keyring_clear(const uint8_t id[static CS_DEVID_LEN], char *msg, size_t cap)
{
	(void)id;
	return unavailable(msg, cap);
}

#endif
