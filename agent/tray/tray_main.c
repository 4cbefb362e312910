/*
 * agent/tray/tray_main.c: `cabsync-tray`, the status icon of the practice PC
 * (docs/OPERATIONS.md "Desktop"). GTK 3; the icon is an Ayatana AppIndicator
 * (StatusNotifierItem) when a StatusNotifierWatcher owns its name on the
 * session bus, else a GtkStatusIcon for XEmbed trays; chosen at run time.
 *
 * It talks to the agent only through the control socket: it subscribes
 * (PROTOCOL.md §8.2) and shows each status the agent pushes; when the
 * connection ends (agent stopped, killed, restarted) it shows error at once,
 * never the last good state, and reconnects every poll period. A liveness
 * probe (`status`, 1 s deadline, every LIVENESS_MS) catches an agent that is
 * stuck with the connection open. An older agent without `subscribe` is
 * polled instead. Events become desktop notifications
 * (org.freedesktop.Notifications over GDBus, what libnotify calls): conflicts
 * to review, a share received or revoked, relay login needed; never a patient
 * name unless tray.ini says notify_patient_names=true.
 *
 * "Review conflicts…" lists the open conflicts (`conflicts`) with keep mine /
 * take theirs (`resolve ID mine|theirs`, written by the agent); "Show
 * audit…" lists the latest audit rows (`audit`), read-only; "Share a
 * patient…" and "Manage shares…" are in tray_share.c. It holds no key and
 * opens no database.
 *
 * Single-threaded: everything runs in the GTK main loop; a request is
 * bounded by CTL_TIMEOUT_MS, the subscription is read without blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <gtk/gtk.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifdef CS_TRAY_AYATANA
#include <libayatana-appindicator/app-indicator.h>
#endif

#include "agent/control.h"
#include "agent/tray/tray_ctl.h"
#include "agent/tray/tray_share.h"
#include "agent/tray/tray_status.h"
#include "base/err.h"
#include "base/mem.h"

#define CTL_TIMEOUT_MS 1000
#define REQ_TIMEOUT_MS 5000 /* conflicts / audit / resolve: the database answers */
#define LIVENESS_MS    10000
#define MAX_PEER_LINES 8
#define SUB_LINE_MAX   (CS_CTL_MAX_RESP + 64)

struct tray {
	char sock[512];
	const char *state_file;
	const char *icon_dir;
	int poll_ms;
	int use_indicator;
	char *answer; /* CS_CTL_MAX_RESP + 1 bytes */
	struct cs_tray_status st;
	int shown; /* state currently shown, -1 none yet */
	char shown_head[256];
	int64_t sync_total; /* pending at the start of the current syncing run */
	GtkStatusIcon *icon;
#ifdef CS_TRAY_AYATANA
	AppIndicator *ind;
#endif
	GtkWidget *menu;
	GtkWidget *head_item;
	GtkWidget *peer_items[MAX_PEER_LINES];
	GtkWidget *pause_item;
	GtkWidget *conflicts_item;
	GtkWidget *audit_item;
	GtkWidget *share_item, *manage_item;
	struct cs_tray_share *share;
	/* the subscription (PROTOCOL.md §8.2) */
	int sub_fd;      /* -1 when not connected */
	guint sub_watch; /* GLib source of sub_fd */
	char *line;      /* SUB_LINE_MAX bytes: a partial event line */
	size_t line_len;
	int subscribed; /* got the first status of this connection */
	int stopping;   /* the agent said "stopping" */
	int poll_mode;  /* an agent without subscribe: poll status */
	guint retry_id; /* reconnect / poll timer */
	int64_t open_conflicts;
	/* notifications */
	GDBusConnection *bus;
	int names_in_notes; /* tray.ini notify_patient_names=true */
	/* windows */
	GtkWidget *conf_win, *conf_box, *conf_msg;
	GtkWidget *audit_win;
	GtkListStore *audit_store;
	GtkWidget *audit_msg;
	struct cs_tray_conflicts *conf; /* last list shown */
};

static const char *const descriptions[CS_TRAY_NSTATES] = {
    [CS_TRAY_ERROR] = "cabsync: error",
    [CS_TRAY_CONFLICT] = "cabsync: conflicts to review",
    [CS_TRAY_PAUSED] = "cabsync: paused",
    [CS_TRAY_LOCAL] = "cabsync: local only",
    [CS_TRAY_OFFLINE] = "cabsync: offline",
    [CS_TRAY_SYNCED] = "cabsync: synced",
    [CS_TRAY_SYNCING] = "cabsync: syncing",
};

/* The icon of a state: paused shares the offline icon (nothing leaves). */
static void
icon_name(int state, char *out, size_t cap)
{
	snprintf(out, cap, "cabsync-%s",
	    state == CS_TRAY_PAUSED ? "offline" : cs_tray_state_name(state));
}

/* Write the test hook file atomically: state name, headline, tooltip. */
static void
write_state_file(const struct tray *t, const char *tip)
{
	char tmp[1024];
	FILE *f;

	if (t->state_file == NULL)
		return;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", t->state_file) >= (int)sizeof(tmp))
		return;
	f = fopen(tmp, "w");
	if (f == NULL) {
		fprintf(stderr, "cabsync-tray: cannot write %s: %s\n", tmp, strerror(errno));
		return;
	}
	fprintf(f, "%s\n%s\n%s\n", cs_tray_state_name(t->st.state), t->shown_head, tip);
	if (fclose(f) != 0 || rename(tmp, t->state_file) != 0)
		fprintf(stderr, "cabsync-tray: cannot write %s: %s\n", t->state_file,
		    strerror(errno));
}

static void
set_icon(struct tray *t, int state)
{
	char name[64], path[1024];
	GdkPixbuf *pb;

	icon_name(state, name, sizeof(name));
#ifdef CS_TRAY_AYATANA
	if (t->ind != NULL) {
		app_indicator_set_icon_full(t->ind, name, descriptions[state]);
		app_indicator_set_title(t->ind, descriptions[state]);
		return;
	}
#endif
	pb = NULL;
	if (t->icon_dir != NULL) {
		snprintf(path, sizeof(path), "%s/%s.png", t->icon_dir, name);
		pb = gdk_pixbuf_new_from_file(path, NULL);
	}
	if (pb != NULL) {
		gtk_status_icon_set_from_pixbuf(t->icon, pb);
		g_object_unref(pb);
	} else {
		gtk_status_icon_set_from_icon_name(t->icon, name);
	}
	gtk_status_icon_set_title(t->icon, descriptions[state]);
}

/* Menu labels are plain text; make sure GTK gets valid UTF-8. */
static void
set_label(GtkWidget *item, const char *text)
{
	gchar *v = g_utf8_make_valid(text, -1);

	gtk_menu_item_set_label(GTK_MENU_ITEM(item), v);
	g_free(v);
}

static void
update_menu(struct tray *t, int64_t now)
{
	char line[256], w[64];
	size_t i, k = 0;
	struct cs_tray_peer *p;
	time_t tt;
	struct tm tm;

	set_label(t->head_item, t->shown_head);
	for (i = 0; i < t->st.npeers && k < MAX_PEER_LINES; i++) {
		p = &t->st.peers[i];
		if (p->revoked)
			continue;
		tt = (time_t)p->last_sync;
		if (p->last_sync <= 0 || localtime_r(&tt, &tm) == NULL ||
		    strftime(w, sizeof(w), "%Y-%m-%d %H:%M", &tm) == 0)
			snprintf(w, sizeof(w), "never");
		if (p->pending >= 0)
			snprintf(line, sizeof(line), "%s: %s, last sync %s, %lld waiting", p->name,
			    p->online ? "online" : "offline", w, (long long)p->pending);
		else
			snprintf(line, sizeof(line), "%s: %s, last sync %s", p->name,
			    p->online ? "online" : "offline", w);
		set_label(t->peer_items[k], line);
		gtk_widget_show(t->peer_items[k]);
		k++;
	}
	for (; k < MAX_PEER_LINES; k++)
		gtk_widget_hide(t->peer_items[k]);
	(void)now;
	/* pause/resume only when an agent answers */
	gtk_widget_set_sensitive(t->pause_item, t->st.state != CS_TRAY_ERROR);
	set_label(t->pause_item, t->st.state == CS_TRAY_PAUSED ? "Resume sync" : "Pause sync");
}

static void
show(struct tray *t)
{
	char head[256], tip[2048];
	int64_t now = (int64_t)time(NULL);
	size_t n;

	/* progress of a syncing run: how much of what waited at its start left */
	if (t->st.state == CS_TRAY_SYNCING && t->st.pending > 0) {
		if (t->sync_total < t->st.pending)
			t->sync_total = t->st.pending;
	} else if (t->st.state != CS_TRAY_SYNCING) {
		t->sync_total = 0;
	}
	cs_tray_status_headline(&t->st, head, sizeof(head));
	if (t->st.state == CS_TRAY_SYNCING && t->sync_total > 0 && t->st.pending >= 0) {
		n = strlen(head);
		snprintf(head + n, sizeof(head) - n, " (%lld%%)",
		    (long long)((t->sync_total - t->st.pending) * 100 / t->sync_total));
	}
	cs_tray_status_tooltip(&t->st, now, tip, sizeof(tip));
	if (t->icon != NULL) {
		gchar *v = g_utf8_make_valid(tip, -1);

		gtk_status_icon_set_tooltip_text(t->icon, v);
		g_free(v);
	}
	if (t->st.state != t->shown) {
		set_icon(t, t->st.state);
		if (t->shown >= 0 || t->st.state == CS_TRAY_ERROR)
			fprintf(stderr, "cabsync-tray: %s: %s\n", cs_tray_state_name(t->st.state),
			    head);
	}
	if (t->st.state != t->shown || strcmp(head, t->shown_head) != 0) {
		t->shown = t->st.state;
		snprintf(t->shown_head, sizeof(t->shown_head), "%s", head);
		write_state_file(t, tip);
	}
	update_menu(t, now);
}

/* Append a line to the test hook file PATH.SUFFIX (tests only). */
static void
hook_append(const struct tray *t, const char *suffix, const char *line)
{
	char path[1024];
	FILE *f;

	if (t->state_file == NULL ||
	    snprintf(path, sizeof(path), "%s.%s", t->state_file, suffix) >= (int)sizeof(path))
		return;
	f = fopen(path, "a");
	if (f == NULL)
		return;
	fprintf(f, "%s\n", line);
	fclose(f);
}

/* ---------------------------------------------------------- notifications */

/*
 * A desktop notification through org.freedesktop.Notifications.Notify (the
 * call libnotify makes), fire and forget. No session bus or no notification
 * server: nothing is shown, the tray icon still is.
 */
static void
notify(struct tray *t, const char *icon, const char *summary, const char *body)
{
	GVariantBuilder hints;
	char line[512];

	snprintf(line, sizeof(line), "%s | %s", summary, body);
	hook_append(t, "notify", line);
	fprintf(stderr, "cabsync-tray: notification: %s\n", summary);
	if (t->bus == NULL)
		return;
	g_variant_builder_init(&hints, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&hints, "{sv}", "urgency", g_variant_new_byte(1));
	g_variant_builder_add(&hints, "{sv}", "desktop-entry",
	    g_variant_new_string("cabsync-tray"));
	g_dbus_connection_call(t->bus, "org.freedesktop.Notifications",
	    "/org/freedesktop/Notifications", "org.freedesktop.Notifications", "Notify",
	    g_variant_new("(susssasa{sv}i)", "cabsync", 0u, icon, summary, body, NULL, &hints, -1),
	    NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL, NULL);
}

/* tray.ini: "notify_patient_names = true" lets a patient's label into notifications. */
static void
read_config(struct tray *t, const char *path)
{
	char line[256], *p, *v;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((p = strchr(line, '\n')) != NULL)
			*p = '\0';
		if ((v = strchr(line, '=')) == NULL)
			continue;
		*v++ = '\0';
		g_strstrip(line);
		g_strstrip(v);
		if (strcmp(line, "notify_patient_names") == 0)
			t->names_in_notes = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
	}
	fclose(f);
}

static void
on_event(struct tray *t, const struct cs_tray_event *ev)
{
	char body[384];
	const char *who = ev->name[0] != '\0' ? ev->name : "a colleague";

	switch (ev->kind) {
	case CS_TRAY_EV_CONFLICT:
		if (ev->added > 0) {
			snprintf(body, sizeof(body),
			    "%lld edit%s made at the same time on two devices need%s your choice "
			    "(%lld open). Open \xe2\x80\x9cReview "
			    "conflicts\xe2\x80\xa6\xe2\x80\x9d.",
			    (long long)ev->added, ev->added == 1 ? "" : "s",
			    ev->added == 1 ? "s" : "", (long long)ev->open);
			notify(t, "cabsync-conflict", "cabsync: conflicts to review", body);
		}
		t->open_conflicts = ev->open;
		break;
	case CS_TRAY_EV_SHARE_RECV:
		if (strcmp(ev->permission, "owner") == 0) {
			/* a transfer (PROTOCOL.md §8.2): the patient is mine now */
			if (t->names_in_notes && ev->label[0] != '\0')
				snprintf(body, sizeof(body),
				    "%s transferred the patient %s to you: you are its owner now.",
				    who, ev->label);
			else
				snprintf(body, sizeof(body),
				    "%s transferred a patient to you: you are its owner now.", who);
			notify(t, "cabsync-synced", "cabsync: a patient was transferred to you",
			    body);
			break;
		}
		if (t->names_in_notes && ev->label[0] != '\0')
			snprintf(body, sizeof(body), "%s shared the patient %s with you (%s).", who,
			    ev->label, ev->permission[0] != '\0' ? ev->permission : "read");
		else
			snprintf(body, sizeof(body), "%s shared a patient with you (%s).", who,
			    ev->permission[0] != '\0' ? ev->permission : "read");
		notify(t, "cabsync-synced", "cabsync: a patient was shared with you", body);
		break;
	case CS_TRAY_EV_SHARE_REVOKED:
		if (t->names_in_notes && ev->label[0] != '\0')
			snprintf(body, sizeof(body), "%s no longer shares the patient %s with you.",
			    who, ev->label);
		else
			snprintf(body, sizeof(body), "%s no longer shares a patient with you.",
			    who);
		notify(t, "cabsync-offline", "cabsync: a share was revoked", body);
		break;
	case CS_TRAY_EV_RELAY_LOGIN:
		notify(t, "cabsync-error", "cabsync: relay login needed",
		    "Log in to the relay again (cabsync relay login). Meanwhile changes sync on "
		    "the practice network only.");
		break;
	default:
		break;
	}
}

/* --------------------------------------------------------------- the agent */

static void sub_connect(struct tray *t);
static void conf_refresh(struct tray *t);
static void audit_refresh(struct tray *t);

static gboolean
on_retry(gpointer data)
{
	struct tray *t = data;

	t->retry_id = 0;
	sub_connect(t);
	return G_SOURCE_REMOVE;
}

static void
schedule_retry(struct tray *t)
{
	if (t->retry_id == 0)
		t->retry_id = g_timeout_add((guint)t->poll_ms, on_retry, t);
}

static void
set_error(struct tray *t, const char *why)
{
	memset(&t->st, 0, sizeof(t->st));
	t->st.conflicts = -1;
	t->st.pending = -1;
	cs_tray_status_set_error(&t->st, why);
	show(t);
}

/* The subscription ended: error now (never the last state), retry later. */
static void
sub_lost(struct tray *t, const char *why)
{
	if (t->sub_watch != 0)
		g_source_remove(t->sub_watch);
	t->sub_watch = 0;
	if (t->sub_fd >= 0)
		close(t->sub_fd);
	t->sub_fd = -1;
	t->line_len = 0;
	t->subscribed = 0;
	set_error(t, why);
	gtk_widget_set_sensitive(t->conflicts_item, FALSE);
	gtk_widget_set_sensitive(t->audit_item, FALSE);
	gtk_widget_set_sensitive(t->share_item, FALSE);
	gtk_widget_set_sensitive(t->manage_item, FALSE);
	schedule_retry(t);
}

/* One `status` request: the poll of an older agent, and the liveness probe. */
static void
poll_agent(struct tray *t)
{
	int rc;

	rc = cs_tray_ctl_request(t->sock, "status", t->answer, CS_CTL_MAX_RESP + 1, CTL_TIMEOUT_MS);
	if (rc == CS_ENOENT) {
		set_error(t, "the cabsync agent is not running");
	} else if (rc != 0) {
		set_error(t,
		    rc == CS_EAGAIN ? "the cabsync agent does not answer (busy or stuck)"
		                    : "the cabsync agent's answer is broken");
	} else {
		/* on failure the parser leaves the error state with its reason */
		(void)cs_tray_status_parse(t->answer, strlen(t->answer), &t->st);
		show(t);
	}
}

static void
handle_line(struct tray *t, const char *line, size_t len)
{
	struct cs_tray_event ev;

	if (cs_tray_event_parse(line, len, &ev) != 0) {
		sub_lost(t, "the cabsync agent's events are unreadable");
		return;
	}
	switch (ev.kind) {
	case CS_TRAY_EV_STATUS:
		(void)cs_tray_status_parse(line, len, &t->st);
		show(t);
		if (!t->subscribed) {
			t->subscribed = 1;
			fprintf(stderr, "cabsync-tray: subscribed to the agent's events\n");
			gtk_widget_set_sensitive(t->conflicts_item, TRUE);
			gtk_widget_set_sensitive(t->audit_item, TRUE);
			gtk_widget_set_sensitive(t->share_item, t->share != NULL);
			gtk_widget_set_sensitive(t->manage_item, t->share != NULL);
			/* an open window: again, now with the devices' names */
			if (t->conf_win != NULL && gtk_widget_get_visible(t->conf_win))
				conf_refresh(t);
			if (t->audit_win != NULL && gtk_widget_get_visible(t->audit_win))
				audit_refresh(t);
		}
		break;
	case CS_TRAY_EV_STOPPING:
		t->stopping = 1;
		break;
	case CS_TRAY_EV_ERROR:
		/* an agent older than subscribe, or too many subscribers: poll */
		fprintf(stderr, "cabsync-tray: no subscription (%s): polling every %d ms\n",
		    ev.error, t->poll_ms);
		if (t->sub_watch != 0)
			g_source_remove(t->sub_watch);
		t->sub_watch = 0;
		close(t->sub_fd);
		t->sub_fd = -1;
		t->poll_mode = 1;
		poll_agent(t);
		schedule_retry(t);
		break;
	default:
		on_event(t, &ev);
		break;
	}
}

static gboolean
on_sub_io(gint fd, GIOCondition cond, gpointer data)
{
	struct tray *t = data;
	char *nl;
	size_t used;
	ssize_t r;

	(void)cond;
	for (;;) {
		if (t->line_len >= SUB_LINE_MAX) {
			t->sub_watch = 0;
			sub_lost(t, "the cabsync agent's events are unreadable");
			return G_SOURCE_REMOVE;
		}
		r = read(fd, t->line + t->line_len, SUB_LINE_MAX - t->line_len);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return G_SOURCE_CONTINUE;
		if (r <= 0) {
			t->sub_watch = 0;
			sub_lost(t,
			    t->stopping ? "the cabsync agent stopped"
			                : "the cabsync agent is not running");
			return G_SOURCE_REMOVE;
		}
		t->line_len += (size_t)r;
		while ((nl = memchr(t->line, '\n', t->line_len)) != NULL) {
			used = (size_t)(nl - t->line) + 1;
			handle_line(t, t->line, used - 1);
			if (t->sub_fd != fd)
				return G_SOURCE_REMOVE; /* handle_line dropped it */
			memmove(t->line, t->line + used, t->line_len - used);
			t->line_len -= used;
		}
	}
}

/* Connect and subscribe; on failure: error and a retry after poll_ms. */
static void
sub_connect(struct tray *t)
{
	/* the patient's label in share events only when tray.ini allows it */
	const char *req =
	    t->names_in_notes ? CS_CTL_MAGIC "subscribe labels\n" : CS_CTL_MAGIC "subscribe\n";
	size_t rlen = strlen(req);
	struct sockaddr_un sa;
	int fd;

	if (t->poll_mode) {
		poll_agent(t);
		schedule_retry(t);
		return;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sub_lost(t, "cannot make a socket");
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->sock);
	/* a local socket connects or fails at once; the agent's backlog takes it */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, req, rlen, MSG_NOSIGNAL) != (ssize_t)rlen ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
		close(fd);
		sub_lost(t, "the cabsync agent is not running");
		return;
	}
	t->sub_fd = fd;
	t->line_len = 0;
	t->subscribed = 0;
	t->stopping = 0;
	t->sub_watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_sub_io, t);
}

/* Every LIVENESS_MS while subscribed: an agent stuck with the socket open. */
static gboolean
on_liveness(gpointer data)
{
	struct tray *t = data;
	int rc;

	if (t->sub_fd < 0 || !t->subscribed)
		return G_SOURCE_CONTINUE;
	rc = cs_tray_ctl_request(t->sock, "status", t->answer, CS_CTL_MAX_RESP + 1, CTL_TIMEOUT_MS);
	if (rc == CS_EAGAIN)
		set_error(t, "the cabsync agent does not answer (busy or stuck)");
	else if (rc != 0)
		sub_lost(t, "the cabsync agent is not running");
	else if (t->st.state == CS_TRAY_ERROR) {
		/* it answers again after being stuck: its status until the next event */
		(void)cs_tray_status_parse(t->answer, strlen(t->answer), &t->st);
		show(t);
	}
	return G_SOURCE_CONTINUE;
}

static void
on_pause(GtkMenuItem *item, gpointer data)
{
	struct tray *t = data;
	const char *verb = t->st.state == CS_TRAY_PAUSED ? "resume" : "pause";
	int rc;

	(void)item;
	rc = cs_tray_ctl_request(t->sock, verb, t->answer, CS_CTL_MAX_RESP + 1, CTL_TIMEOUT_MS);
	if (rc != 0 || strstr(t->answer, "\"ok\":true") == NULL)
		fprintf(stderr, "cabsync-tray: %s failed: the agent did not accept it\n", verb);
	if (t->poll_mode)
		poll_agent(t);
	/* subscribed: the agent pushes the new status */
}

/* ---------------------------------------------------------- conflicts window */

/* The colleague's device name for a hex id, from the last status. */
static const char *
device_name(const struct tray *t, const char *hex)
{
	size_t i;

	if (hex[0] != '\0' && strcmp(t->st.device, hex) == 0)
		return "this PC";
	for (i = 0; i < t->st.npeers; i++)
		if (hex[0] != '\0' && strcmp(t->st.peers[i].device, hex) == 0)
			return t->st.peers[i].name;
	return "another device";
}

static GtkWidget *
cell(const char *text, int wrap)
{
	gchar *v = g_utf8_make_valid(text, -1);
	GtkWidget *l = gtk_label_new(v);

	g_free(v);
	gtk_label_set_xalign(GTK_LABEL(l), 0);
	if (wrap) {
		gtk_label_set_line_wrap(GTK_LABEL(l), TRUE);
		gtk_label_set_max_width_chars(GTK_LABEL(l), 28);
	}
	return l;
}

/* The root position of a button's centre, for the tests (hook file). */
static void
hook_button(struct tray *t, GtkWidget *b, int64_t id, const char *how)
{
	GtkAllocation al;
	GdkWindow *w;
	gint x = 0, y = 0;
	char line[128];

	w = gtk_widget_get_window(b);
	if (w == NULL || t->state_file == NULL)
		return;
	gtk_widget_get_allocation(b, &al);
	gdk_window_get_origin(w, &x, &y);
	snprintf(line, sizeof(line), "button %lld %s %d %d", (long long)id, how,
	    x + al.x + al.width / 2, y + al.y + al.height / 2);
	hook_append(t, "conflicts", line);
}

static void
on_resolve(GtkButton *b, gpointer data)
{
	struct tray *t = data;
	const char *how = g_object_get_data(G_OBJECT(b), "how");
	int64_t id = (int64_t)(intptr_t)g_object_get_data(G_OBJECT(b), "id");
	char verb[64], msg[256];
	int rc;

	snprintf(verb, sizeof(verb), "resolve %lld %s", (long long)id, how);
	rc = cs_tray_ctl_request(t->sock, verb, t->answer, CS_CTL_MAX_RESP + 1, REQ_TIMEOUT_MS);
	if (rc != 0 || strncmp(t->answer, "{\"ok\":true", 10) != 0) {
		snprintf(msg, sizeof(msg), "Not resolved: %s",
		    rc != 0 ? "the agent did not answer" : t->answer);
		gtk_label_set_text(GTK_LABEL(t->conf_msg), msg);
		hook_append(t, "conflicts", msg);
		return;
	}
	snprintf(msg, sizeof(msg), "resolved %lld %s", (long long)id, how);
	hook_append(t, "conflicts", msg);
	conf_refresh(t);
}

/* Each time a button gets its place: where it is, for the tests' clicks. */
static void
on_button_alloc(GtkWidget *w, GdkRectangle *al, gpointer data)
{
	(void)al;
	hook_button(data, w, (int64_t)(intptr_t)g_object_get_data(G_OBJECT(w), "id"),
	    g_object_get_data(G_OBJECT(w), "how"));
}

static void
conf_refresh(struct tray *t)
{
	char err[160], where[160], mine[CS_TRAY_VALUE_LEN + 80], theirs[CS_TRAY_VALUE_LEN + 80];
	char line[512];
	GtkWidget *b;
	size_t i;
	int rc, row;

	if (t->conf_win == NULL)
		return;
	gtk_container_foreach(GTK_CONTAINER(t->conf_box), (GtkCallback)gtk_widget_destroy, NULL);
	rc = cs_tray_ctl_request(t->sock, "conflicts", t->answer, CS_CTL_MAX_RESP + 1,
	    REQ_TIMEOUT_MS);
	if (rc != 0)
		snprintf(err, sizeof(err), "the cabsync agent did not answer");
	else
		rc = cs_tray_conflicts_parse(t->answer, strlen(t->answer), t->conf, err,
		    sizeof(err));
	if (rc != 0) {
		snprintf(line, sizeof(line), "Cannot list the conflicts: %s", err);
		gtk_label_set_text(GTK_LABEL(t->conf_msg), line);
		hook_append(t, "conflicts", line);
		return;
	}
	snprintf(line, sizeof(line),
	    t->conf->n == 0 ? "No conflict to review."
	                    : "Edits made at the same time on two devices. "
	                      "Choose the value to keep:");
	gtk_label_set_text(GTK_LABEL(t->conf_msg), line);
	hook_append(t, "conflicts", line);
	gtk_grid_attach(GTK_GRID(t->conf_box), cell("Where", 0), 0, 0, 1, 1);
	gtk_grid_attach(GTK_GRID(t->conf_box), cell("Mine (shown now)", 0), 1, 0, 1, 1);
	gtk_grid_attach(GTK_GRID(t->conf_box), cell("Theirs (the other edit)", 0), 2, 0, 1, 1);
	for (i = 0, row = 1; i < t->conf->n; i++, row++) {
		const struct cs_tray_conflict *c = &t->conf->v[i];

		snprintf(where, sizeof(where), "%s \xc2\xb7 %s", c->table,
		    c->column[0] != '\0' ? c->column : "(the record)");
		snprintf(mine, sizeof(mine), "%s\n(%s)", c->mine, device_name(t, c->mine_device));
		snprintf(theirs, sizeof(theirs), "%s\n(%s)", c->theirs,
		    device_name(t, c->their_device));
		gtk_grid_attach(GTK_GRID(t->conf_box), cell(where, 0), 0, row, 1, 1);
		gtk_grid_attach(GTK_GRID(t->conf_box), cell(mine, 1), 1, row, 1, 1);
		gtk_grid_attach(GTK_GRID(t->conf_box), cell(theirs, 1), 2, row, 1, 1);
		b = gtk_button_new_with_label("Keep mine");
		g_object_set_data(G_OBJECT(b), "id", (gpointer)(intptr_t)c->id);
		g_object_set_data(G_OBJECT(b), "how", (gpointer) "mine");
		g_signal_connect(b, "clicked", G_CALLBACK(on_resolve), t);
		if (t->state_file != NULL)
			g_signal_connect_after(b, "size-allocate", G_CALLBACK(on_button_alloc), t);
		gtk_grid_attach(GTK_GRID(t->conf_box), b, 3, row, 1, 1);
		b = gtk_button_new_with_label("Take theirs");
		g_object_set_data(G_OBJECT(b), "id", (gpointer)(intptr_t)c->id);
		g_object_set_data(G_OBJECT(b), "how", (gpointer) "theirs");
		g_signal_connect(b, "clicked", G_CALLBACK(on_resolve), t);
		if (t->state_file != NULL)
			g_signal_connect_after(b, "size-allocate", G_CALLBACK(on_button_alloc), t);
		gtk_grid_attach(GTK_GRID(t->conf_box), b, 4, row, 1, 1);
		snprintf(line, sizeof(line), "conflict %lld %s %s", (long long)c->id, c->table,
		    c->column);
		hook_append(t, "conflicts", line);
	}
	if (t->conf->truncated || t->conf->nextra > 0)
		gtk_grid_attach(GTK_GRID(t->conf_box),
		    cell("More conflicts wait: resolve these first.", 0), 0, row, 5, 1);
	gtk_widget_show_all(t->conf_win);
}

static gboolean
on_win_delete(GtkWidget *w, GdkEvent *e, gpointer data)
{
	(void)e;
	(void)data;
	gtk_widget_hide(w);
	return TRUE; /* kept for the next time */
}

static void
open_conflicts(GtkMenuItem *item, gpointer data)
{
	struct tray *t = data;
	GtkWidget *vb, *sw;

	(void)item;
	if (t->conf_win == NULL) {
		t->conf_win = gtk_window_new(GTK_WINDOW_TOPLEVEL);
		gtk_window_set_title(GTK_WINDOW(t->conf_win), "cabsync: conflicts to review");
		gtk_window_set_default_size(GTK_WINDOW(t->conf_win), 780, 240);
		gtk_window_move(GTK_WINDOW(t->conf_win), 0, 60);
		vb = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
		gtk_container_set_border_width(GTK_CONTAINER(vb), 8);
		t->conf_msg = cell("", 1);
		gtk_box_pack_start(GTK_BOX(vb), t->conf_msg, FALSE, FALSE, 0);
		sw = gtk_scrolled_window_new(NULL, NULL);
		t->conf_box = gtk_grid_new();
		gtk_grid_set_row_spacing(GTK_GRID(t->conf_box), 6);
		gtk_grid_set_column_spacing(GTK_GRID(t->conf_box), 12);
		gtk_container_add(GTK_CONTAINER(sw), t->conf_box);
		gtk_box_pack_start(GTK_BOX(vb), sw, TRUE, TRUE, 0);
		gtk_container_add(GTK_CONTAINER(t->conf_win), vb);
		g_signal_connect(t->conf_win, "delete-event", G_CALLBACK(on_win_delete), t);
	}
	conf_refresh(t);
	gtk_window_present(GTK_WINDOW(t->conf_win));
}

/* -------------------------------------------------------------- audit window */

static void
audit_refresh(struct tray *t)
{
	static struct cs_tray_audit a;
	char err[160], when[32], dev[CS_TRAY_NAME_LEN], line[256];
	GtkTreeIter it;
	time_t tt;
	struct tm tm;
	size_t i, k;
	int rc;

	gtk_list_store_clear(t->audit_store);
	rc = cs_tray_ctl_request(t->sock, "audit", t->answer, CS_CTL_MAX_RESP + 1, REQ_TIMEOUT_MS);
	if (rc != 0)
		snprintf(err, sizeof(err), "the cabsync agent did not answer");
	else
		rc = cs_tray_audit_parse(t->answer, strlen(t->answer), &a, err, sizeof(err));
	if (rc != 0) {
		snprintf(line, sizeof(line), "Cannot read the audit trail: %s", err);
		gtk_label_set_text(GTK_LABEL(t->audit_msg), line);
		hook_append(t, "audit", line);
		return;
	}
	snprintf(line, sizeof(line),
	    "%lld event%s in the audit trail; the latest %zu, newest first.", (long long)a.total,
	    a.total == 1 ? "" : "s", a.n);
	gtk_label_set_text(GTK_LABEL(t->audit_msg), line);
	hook_append(t, "audit", line);
	for (i = a.n; i-- > 0;) {
		const struct cs_tray_audit_row *r = &a.v[i];

		tt = (time_t)(r->at_ms / 1000);
		if (localtime_r(&tt, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
			snprintf(when, sizeof(when), "?");
		snprintf(dev, sizeof(dev), "%s", r->device);
		for (k = 0; k < t->st.npeers; k++)
			if (r->device[0] != '\0' &&
			    strncmp(t->st.peers[k].device, r->device, 16) == 0)
				snprintf(dev, sizeof(dev), "%s", t->st.peers[k].name);
		gtk_list_store_append(t->audit_store, &it);
		gtk_list_store_set(t->audit_store, &it, 0, when, 1, r->action, 2, dev, 3,
		    r->patient, 4, (gint64)r->count, 5, r->detail, -1);
		snprintf(line, sizeof(line), "row %s %s", r->action, r->patient);
		hook_append(t, "audit", line);
	}
}

static void
open_audit(GtkMenuItem *item, gpointer data)
{
	static const char *const titles[] = {"When", "What", "Device", "Patient (app id)", "Count",
	    "Detail"};
	struct tray *t = data;
	GtkWidget *vb, *sw, *tv;
	size_t i;

	(void)item;
	if (t->audit_win == NULL) {
		t->audit_win = gtk_window_new(GTK_WINDOW_TOPLEVEL);
		gtk_window_set_title(GTK_WINDOW(t->audit_win), "cabsync: audit trail (read-only)");
		gtk_window_set_default_size(GTK_WINDOW(t->audit_win), 720, 300);
		gtk_window_move(GTK_WINDOW(t->audit_win), 0, 60);
		vb = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
		gtk_container_set_border_width(GTK_CONTAINER(vb), 8);
		t->audit_msg = cell("", 1);
		gtk_box_pack_start(GTK_BOX(vb), t->audit_msg, FALSE, FALSE, 0);
		t->audit_store = gtk_list_store_new(6, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
		    G_TYPE_STRING, G_TYPE_INT64, G_TYPE_STRING);
		tv = gtk_tree_view_new_with_model(GTK_TREE_MODEL(t->audit_store));
		for (i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
			gtk_tree_view_append_column(GTK_TREE_VIEW(tv),
			    gtk_tree_view_column_new_with_attributes(titles[i],
			        gtk_cell_renderer_text_new(), "text", (gint)i, NULL));
		sw = gtk_scrolled_window_new(NULL, NULL);
		gtk_container_add(GTK_CONTAINER(sw), tv);
		gtk_box_pack_start(GTK_BOX(vb), sw, TRUE, TRUE, 0);
		gtk_container_add(GTK_CONTAINER(t->audit_win), vb);
		g_signal_connect(t->audit_win, "delete-event", G_CALLBACK(on_win_delete), t);
	}
	audit_refresh(t);
	gtk_widget_show_all(t->audit_win);
	gtk_window_present(GTK_WINDOW(t->audit_win));
}

static void
open_share(GtkMenuItem *item, gpointer data)
{
	struct tray *t = data;

	(void)item;
	if (t->share != NULL)
		cs_tray_share_open(t->share);
}

static void
open_manage(GtkMenuItem *item, gpointer data)
{
	struct tray *t = data;

	(void)item;
	if (t->share != NULL)
		cs_tray_manage_open(t->share);
}

static void
on_quit(GtkMenuItem *item, gpointer data)
{
	(void)item;
	(void)data;
	gtk_main_quit();
}

static gboolean
on_signal(gpointer data)
{
	(void)data;
	gtk_main_quit();
	return G_SOURCE_REMOVE;
}

static void
on_popup(GtkStatusIcon *icon, guint button, guint when, gpointer data)
{
	struct tray *t = data;

	(void)icon;
	(void)button;
	(void)when;
	gtk_menu_popup_at_pointer(GTK_MENU(t->menu), NULL);
}

static void
on_activate(GtkStatusIcon *icon, gpointer data)
{
	on_popup(icon, 1, 0, data);
}

static GtkWidget *
add_item(GtkWidget *menu, const char *label, int sensitive)
{
	GtkWidget *it = gtk_menu_item_new_with_label(label);

	gtk_widget_set_sensitive(it, sensitive);
	gtk_menu_shell_append(GTK_MENU_SHELL(menu), it);
	gtk_widget_show(it);
	return it;
}

static void
build_menu(struct tray *t)
{
	GtkWidget *sep;
	int i;

	t->menu = gtk_menu_new();
	t->head_item = add_item(t->menu, "cabsync: starting", 0);
	for (i = 0; i < MAX_PEER_LINES; i++) {
		t->peer_items[i] = add_item(t->menu, "", 0);
		gtk_widget_hide(t->peer_items[i]);
	}
	sep = gtk_separator_menu_item_new();
	gtk_menu_shell_append(GTK_MENU_SHELL(t->menu), sep);
	gtk_widget_show(sep);
	t->pause_item = add_item(t->menu, "Pause sync", 0);
	g_signal_connect(t->pause_item, "activate", G_CALLBACK(on_pause), t);
	/* enabled while subscribed: the agent then has these verbs (§8.3) */
	t->conflicts_item = add_item(t->menu, "Review conflicts\xe2\x80\xa6", 0);
	g_signal_connect(t->conflicts_item, "activate", G_CALLBACK(open_conflicts), t);
	t->audit_item = add_item(t->menu, "Show audit\xe2\x80\xa6", 0);
	g_signal_connect(t->audit_item, "activate", G_CALLBACK(open_audit), t);
	t->share_item = add_item(t->menu, "Share a patient\xe2\x80\xa6", 0);
	g_signal_connect(t->share_item, "activate", G_CALLBACK(open_share), t);
	t->manage_item = add_item(t->menu, "Manage shares\xe2\x80\xa6", 0);
	g_signal_connect(t->manage_item, "activate", G_CALLBACK(open_manage), t);
	sep = gtk_separator_menu_item_new();
	gtk_menu_shell_append(GTK_MENU_SHELL(t->menu), sep);
	gtk_widget_show(sep);
	g_signal_connect(add_item(t->menu, "Quit tray", 1), "activate", G_CALLBACK(on_quit), t);
}

/* A StatusNotifierWatcher on the session bus: AppIndicator will be shown. */
static int
have_sni_watcher(void)
{
	GDBusConnection *bus;
	GVariant *r;
	gboolean owned = FALSE;

	bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, NULL);
	if (bus == NULL)
		return 0;
	r = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
	    "org.freedesktop.DBus", "NameHasOwner",
	    g_variant_new("(s)", "org.kde.StatusNotifierWatcher"), G_VARIANT_TYPE("(b)"),
	    G_DBUS_CALL_FLAGS_NONE, 1000, NULL, NULL);
	if (r != NULL) {
		g_variant_get(r, "(b)", &owned);
		g_variant_unref(r);
	}
	g_object_unref(bus);
	return owned ? 1 : 0;
}

/*
 * The PNGs installed beside the binary (PREFIX/bin/../share/icons/hicolor/
 * 48x48/status), found from /proc/self/exe so that `cmake --install
 * --prefix` anywhere works; "" when absent (the icon theme is used then).
 */
static void
default_icon_dir(char *out, size_t cap)
{
	char exe[768], *slash;
	ssize_t n;

	out[0] = '\0';
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return;
	*slash = '\0';
	if (snprintf(out, cap, "%s/../share/icons/hicolor/48x48/status", exe) >= (int)cap ||
	    access(out, R_OK) != 0)
		out[0] = '\0';
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: cabsync-tray [--home DIR] [--backend auto|indicator|xembed]\n"
	    "                    [--icon-dir DIR] [--poll-ms N] [--state-file PATH]\n"
	    "Shows the state of the cabsync agent in the system tray.\n"
	    "  --home DIR        the agent's home (needed only without XDG_RUNTIME_DIR)\n"
	    "  --backend         auto (default): AppIndicator when a StatusNotifierWatcher\n"
	    "                    runs on the session bus, else an XEmbed status icon\n"
	    "  --icon-dir DIR    PNG icons cabsync-STATE.png (default: the hicolor theme)\n"
	    "  --poll-ms N       reconnect period, and status poll period of an agent\n"
	    "                    without events (default 2000)\n"
	    "  --config PATH     settings (default $XDG_CONFIG_HOME/cabsync/tray.ini):\n"
	    "                    notify_patient_names = true lets patient labels into\n"
	    "                    notifications (off by default)\n"
	    "  --window conflicts|audit|share|manage  open that window at start\n"
	    "  --state-file PATH write the state name there at each change, and the\n"
	    "                    notifications and windows' content to PATH.notify,\n"
	    "                    PATH.conflicts, PATH.audit, PATH.share, PATH.manage\n"
	    "                    (tests; also\n"
	    "                    CABSYNC_TRAY_STATE_FILE)\n");
}

int
main(int argc, char **argv)
{
	struct tray t;
	const char *home = NULL, *backend = "auto", *config = NULL, *window = NULL;
	char icons[1024], cfg[1024];
	int i, rc = 1;

	memset(&t, 0, sizeof(t));
	t.poll_ms = 2000;
	t.shown = -1;
	t.sub_fd = -1;
	t.open_conflicts = -1;
	t.state_file = getenv("CABSYNC_TRAY_STATE_FILE");
	default_icon_dir(icons, sizeof(icons));
	t.icon_dir = icons[0] != '\0' ? icons : NULL;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("cabsync-tray %s\n", CS_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
			home = argv[++i];
		} else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
			backend = argv[++i];
		} else if (strcmp(argv[i], "--icon-dir") == 0 && i + 1 < argc) {
			t.icon_dir = argv[++i];
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc) {
			window = argv[++i];
			if (strcmp(window, "conflicts") != 0 && strcmp(window, "audit") != 0 &&
			    strcmp(window, "share") != 0 && strcmp(window, "manage") != 0) {
				fprintf(stderr,
				    "cabsync-tray: --window: conflicts, audit, share or "
				    "manage\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--state-file") == 0 && i + 1 < argc) {
			t.state_file = argv[++i];
		} else if (strcmp(argv[i], "--poll-ms") == 0 && i + 1 < argc) {
			t.poll_ms = atoi(argv[++i]);
			if (t.poll_ms < 100 || t.poll_ms > 60000) {
				fprintf(stderr, "cabsync-tray: --poll-ms: 100 to 60000\n");
				return 2;
			}
		} else {
			fprintf(stderr, "cabsync-tray: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (strcmp(backend, "auto") != 0 && strcmp(backend, "indicator") != 0 &&
	    strcmp(backend, "xembed") != 0) {
		fprintf(stderr, "cabsync-tray: --backend: auto, indicator or xembed\n");
		return 2;
	}
	if (cs_tray_ctl_path(home, t.sock, sizeof(t.sock)) != 0) {
		fprintf(stderr,
		    "cabsync-tray: XDG_RUNTIME_DIR is unset: give --home DIR to find "
		    "the agent.\n");
		return 2;
	}
	if (!gtk_init_check(&argc, &argv)) {
		fprintf(stderr, "cabsync-tray: cannot open the display (is DISPLAY set?)\n");
		return 1;
	}
	t.answer = cs_malloc(CS_CTL_MAX_RESP + 1);
	t.line = cs_malloc(SUB_LINE_MAX);
	t.conf = cs_calloc(1, sizeof(*t.conf));
	if (t.answer == NULL || t.line == NULL || t.conf == NULL)
		goto out;
	if (config == NULL) {
		const char *xc = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");

		cfg[0] = '\0';
		if (xc != NULL && xc[0] != '\0')
			snprintf(cfg, sizeof(cfg), "%s/cabsync/tray.ini", xc);
		else if (h != NULL)
			snprintf(cfg, sizeof(cfg), "%s/.config/cabsync/tray.ini", h);
		config = cfg;
	}
	read_config(&t, config);
	/* notifications: the session bus, if any */
	t.bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, NULL);
#ifdef CS_TRAY_AYATANA
	if (strcmp(backend, "indicator") == 0)
		t.use_indicator = 1;
	else if (strcmp(backend, "auto") == 0)
		t.use_indicator = have_sni_watcher();
#else
	if (strcmp(backend, "indicator") == 0) {
		fprintf(stderr, "cabsync-tray: built without Ayatana AppIndicator\n");
		rc = 2;
		goto out;
	}
	(void)have_sni_watcher;
#endif
	t.share = cs_tray_share_new(t.sock, t.state_file);
	build_menu(&t);
#ifdef CS_TRAY_AYATANA
	if (t.use_indicator) {
		t.ind = app_indicator_new("cabsync", "cabsync-error",
		    APP_INDICATOR_CATEGORY_APPLICATION_STATUS);
		if (t.icon_dir != NULL && access(t.icon_dir, R_OK) == 0)
			app_indicator_set_icon_theme_path(t.ind, t.icon_dir);
		app_indicator_set_status(t.ind, APP_INDICATOR_STATUS_ACTIVE);
		app_indicator_set_menu(t.ind, GTK_MENU(t.menu));
	}
#endif
	if (!t.use_indicator) {
		t.icon = gtk_status_icon_new();
		g_signal_connect(t.icon, "popup-menu", G_CALLBACK(on_popup), &t);
		g_signal_connect(t.icon, "activate", G_CALLBACK(on_activate), &t);
		gtk_status_icon_set_visible(t.icon, TRUE);
	}
	fprintf(stderr, "cabsync-tray: %s icon, agent socket %s\n",
	    t.use_indicator ? "AppIndicator (StatusNotifierItem)" : "XEmbed status", t.sock);
	sub_connect(&t);
	g_timeout_add(LIVENESS_MS, on_liveness, &t);
	if (window != NULL && strcmp(window, "conflicts") == 0)
		open_conflicts(NULL, &t);
	else if (window != NULL && strcmp(window, "share") == 0)
		open_share(NULL, &t);
	else if (window != NULL && strcmp(window, "manage") == 0)
		open_manage(NULL, &t);
	else if (window != NULL)
		open_audit(NULL, &t);
	g_unix_signal_add(SIGTERM, on_signal, NULL);
	g_unix_signal_add(SIGINT, on_signal, NULL);
	gtk_main();
	rc = 0;
out:
	if (t.icon != NULL)
		g_object_unref(t.icon);
#ifdef CS_TRAY_AYATANA
	if (t.ind != NULL)
		g_object_unref(t.ind);
#endif
	if (t.menu != NULL)
		gtk_widget_destroy(t.menu);
	if (t.conf_win != NULL)
		gtk_widget_destroy(t.conf_win);
	if (t.audit_win != NULL)
		gtk_widget_destroy(t.audit_win);
	cs_tray_share_free(t.share);
	if (t.sub_fd >= 0)
		close(t.sub_fd);
	if (t.bus != NULL) {
		g_dbus_connection_flush_sync(t.bus, NULL, NULL);
		g_object_unref(t.bus);
	}
	cs_free(t.answer);
	cs_free(t.line);
	cs_free(t.conf);
	return rc;
}
