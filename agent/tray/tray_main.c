/*
 * agent/tray/tray_main.c: `cabsync-tray`, the status icon of the practice PC
 * (docs/OPERATIONS.md "Desktop"). GTK 3; the icon is an Ayatana AppIndicator
 * (StatusNotifierItem) when a StatusNotifierWatcher owns its name on the
 * session bus, else a GtkStatusIcon for XEmbed trays; chosen at run time.
 *
 * It talks to the agent only through the control socket (tray_ctl.h): it
 * asks `status` every poll period (2 s), so it follows an agent that
 * restarts, and it shows error, never the last good state, as soon as the
 * agent does not answer. It holds no key and opens no database.
 *
 * Single-threaded: everything runs in the GTK main loop; a control request
 * is bounded by CTL_TIMEOUT_MS.
 */
#include <errno.h>
#include <glib-unix.h>
#include <gtk/gtk.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef CS_TRAY_AYATANA
#include <libayatana-appindicator/app-indicator.h>
#endif

#include "agent/control.h"
#include "agent/tray/tray_ctl.h"
#include "agent/tray/tray_status.h"
#include "base/err.h"
#include "base/mem.h"

#define CTL_TIMEOUT_MS 1000
#define MAX_PEER_LINES 8
/* The agent version whose control socket will carry these verbs. */
#define CONFLICTS_VERSION "0.2"
#define AUDIT_VERSION     "0.2"

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

static void
poll_agent(struct tray *t)
{
	int rc;

	rc = cs_tray_ctl_request(t->sock, "status", t->answer, CS_CTL_MAX_RESP + 1, CTL_TIMEOUT_MS);
	if (rc == CS_ENOENT) {
		memset(&t->st, 0, sizeof(t->st));
		cs_tray_status_set_error(&t->st, "the cabsync agent is not running");
	} else if (rc != 0) {
		memset(&t->st, 0, sizeof(t->st));
		cs_tray_status_set_error(&t->st,
		    rc == CS_EAGAIN ? "the cabsync agent does not answer (busy or stuck)"
		                    : "the cabsync agent's answer is broken");
	} else {
		/* on failure the parser leaves the error state with its reason */
		(void)cs_tray_status_parse(t->answer, strlen(t->answer), &t->st);
	}
	show(t);
}

static gboolean
on_tick(gpointer data)
{
	poll_agent(data);
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
	poll_agent(t);
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
	/* No fake actions: the agent has no verb for these yet (PROTOCOL.md §8). */
	t->conflicts_item = add_item(t->menu,
	    "Review conflicts\xe2\x80\xa6 (comes with cabsync " CONFLICTS_VERSION ")", 0);
	gtk_widget_set_tooltip_text(t->conflicts_item,
	    "This agent's control socket has no conflicts verb yet; cabsync " CONFLICTS_VERSION
	    " adds it. Meanwhile: cabsync db conflicts --db APP.db");
	t->audit_item =
	    add_item(t->menu, "Show audit\xe2\x80\xa6 (comes with cabsync " AUDIT_VERSION ")", 0);
	gtk_widget_set_tooltip_text(t->audit_item,
	    "The audit chain and its control verb come with cabsync " AUDIT_VERSION
	    "; audit events are in the agent's log meanwhile.");
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
	    "  --poll-ms N       status poll period (default 2000)\n"
	    "  --state-file PATH write the state name there at each change (tests;\n"
	    "                    also CABSYNC_TRAY_STATE_FILE)\n");
}

int
main(int argc, char **argv)
{
	struct tray t;
	const char *home = NULL, *backend = "auto";
	char icons[1024];
	int i, rc = 1;

	memset(&t, 0, sizeof(t));
	t.poll_ms = 2000;
	t.shown = -1;
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
	if (t.answer == NULL)
		goto out;
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
	poll_agent(&t);
	g_timeout_add((guint)t.poll_ms, on_tick, &t);
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
	cs_free(t.answer);
	return rc;
}
