#include "audit.h"

const char *
cs_audit_action_name(enum cs_audit_action a)
{
	static const char *const names[] = {"note", "sync-in", "sync-out", "share", "revoke",
	    "refused", "handshake-rejected", "conflict", "key-rotate", "enroll", "relay-import",
	    "held", "quarantine", "schema", "resync"};

	if ((unsigned)a >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[a];
}
