/*
 * agent/tray/tray_share.h: the tray's "Share a patient…" and "Manage
 * shares…" windows (issue 8 §1; docs/OPERATIONS.md "Desktop"). They act
 * only through the agent's control socket (docs/PROTOCOL.md §8.4): the
 * patients are listed by the label the app shows (`patients`, read by the
 * agent from the local database), the colleagues from the roster
 * (`practitioners`), and a share, a permission change or a revoke is the
 * agent's `share`, `perm`, `revoke` — what `cabsync share|revoke` does.
 * "Manage shares…" also opens "Transfer a patient…": a patient this
 * practitioner owns, a colleague, a confirmation dialog saying what happens
 * to this practitioner's copy, then the agent's `transfer` (`cabsync
 * transfer`); the answer or the error is shown in both windows.
 *
 * GTK main thread only; each request is bounded by the client's deadline.
 * With a hook path (the tray's --state-file), the windows write what they
 * show and where their controls are to HOOK.share / HOOK.manage /
 * HOOK.transfer (tests).
 */
#ifndef CS_TRAY_SHARE_H
#define CS_TRAY_SHARE_H

struct cs_tray_share;

/* sock: the agent's socket path; hook: NULL or the test hook path. Both kept. */
struct cs_tray_share *cs_tray_share_new(const char *sock, const char *hook);
/* Open (or raise and refresh) "Share a patient…". */
void cs_tray_share_open(struct cs_tray_share *ts);
/* Open (or raise and refresh) "Manage shares…". */
void cs_tray_manage_open(struct cs_tray_share *ts);
/* Destroy the windows and free ts (NULL accepted). */
void cs_tray_share_free(struct cs_tray_share *ts);

#endif
