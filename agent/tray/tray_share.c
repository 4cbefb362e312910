/*
 * agent/tray/tray_share.c: the share windows of the tray (see tray_share.h).
 */
#include "agent/tray/tray_share.h"

#include <gtk/gtk.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/control.h"
#include "agent/tray/tray_ctl.h"
#include "agent/tray/tray_status.h"
#include "base/err.h"
#include "base/mem.h"

#define REQ_MS    5000 /* the database answers */
#define MAX_PAGES 64   /* of `patients`: 64 x ~800 patients */

enum { COL_ID, COL_LABEL, COL_RIGHTS, NCOLS };

struct cs_tray_share {
	const char *sock, *hook;
	char *answer; /* CS_CTL_MAX_RESP + 1 */
	struct cs_tray_rows *rows;
	/* share window */
	GtkWidget *win, *search, *tree, *with_box, *until_check, *until_entry, *share_btn, *msg;
	GtkWidget *perm[3];
	GtkListStore *store;
	GtkTreeModel *filter;
	/* manage window */
	GtkWidget *mwin, *mgrid, *mmsg;
	/* transfer window (from "Manage shares…") and its confirmation dialog */
	GtkWidget *twin, *tsearch, *ttree, *tto_box, *tbtn, *tmsg, *tdlg;
	GtkListStore *tstore;
	GtkTreeModel *tfilter;
	char tverb[CS_CTL_MAX_REQ]; /* the request the dialog confirms */
	int refreshing;             /* radio buttons set by code: no request */
	guint report_id;            /* tests: report_all() is due */
};

static const char *const perm_names[3] = {"read", "write", "full"};

/* Append a line to HOOK.suffix (tests only). */
static void
hook(struct cs_tray_share *ts, const char *suffix, const char *line)
{
	char path[1024];
	FILE *f;

	if (ts->hook == NULL ||
	    snprintf(path, sizeof(path), "%s.%s", ts->hook, suffix) >= (int)sizeof(path))
		return;
	if ((f = fopen(path, "a")) == NULL)
		return;
	fprintf(f, "%s\n", line);
	fclose(f);
}

/* Report where w's centre is on the screen, if it is a hooked control. */
static void
report_one(GtkWidget *w, gpointer data)
{
	struct cs_tray_share *ts = data;
	const char *what = g_object_get_data(G_OBJECT(w), "hook");
	const char *file = g_object_get_data(G_OBJECT(w), "hookfile");
	GtkWidget *top = gtk_widget_get_toplevel(w);
	GdkWindow *gw;
	GtkAllocation a;
	gint x = 0, y = 0, ox = 0, oy = 0;
	char line[256];

	if (GTK_IS_CONTAINER(w))
		gtk_container_forall(GTK_CONTAINER(w), report_one, ts);
	if (what == NULL || file == NULL || !gtk_widget_get_mapped(w) || top == NULL ||
	    (gw = gtk_widget_get_window(top)) == NULL)
		return;
	gtk_widget_get_allocation(w, &a);
	if (!gtk_widget_translate_coordinates(w, top, a.width / 2, a.height / 2, &x, &y))
		return;
	gdk_window_get_origin(gw, &ox, &oy);
	snprintf(line, sizeof(line), "at %s %d %d", what, ox + x, oy + y);
	hook(ts, file, line);
}

/* Tests: the places of the controls, a moment after a window changed. */
static gboolean
report_all(gpointer data)
{
	struct cs_tray_share *ts = data;

	ts->report_id = 0;
	if (ts->win != NULL && gtk_widget_get_visible(ts->win))
		report_one(ts->win, ts);
	if (ts->mwin != NULL && gtk_widget_get_visible(ts->mwin))
		report_one(ts->mwin, ts);
	if (ts->twin != NULL && gtk_widget_get_visible(ts->twin))
		report_one(ts->twin, ts);
	if (ts->tdlg != NULL && gtk_widget_get_visible(ts->tdlg))
		report_one(ts->tdlg, ts);
	return G_SOURCE_REMOVE;
}

static void
on_alloc(GtkWidget *w, GdkRectangle *al, gpointer data)
{
	struct cs_tray_share *ts = data;

	(void)w;
	(void)al;
	if (ts->report_id == 0)
		ts->report_id = g_timeout_add(300, report_all, ts);
}

static void
on_map(GtkWidget *w, gpointer data)
{
	on_alloc(w, NULL, data);
}

static void
hook_widget(struct cs_tray_share *ts, GtkWidget *w, const char *file, const char *what)
{
	if (ts->hook == NULL)
		return;
	g_object_set_data_full(G_OBJECT(w), "hook", g_strdup(what), g_free);
	g_object_set_data(G_OBJECT(w), "hookfile", (gpointer)file);
	g_signal_connect_after(w, "size-allocate", G_CALLBACK(on_alloc), ts);
	/* a window's first layout comes before it has a GdkWindow: again once mapped */
	g_signal_connect_after(w, "map", G_CALLBACK(on_map), ts);
}

static GtkWidget *
label(const char *text)
{
	gchar *v = g_utf8_make_valid(text, -1);
	GtkWidget *l = gtk_label_new(v);

	g_free(v);
	gtk_label_set_xalign(GTK_LABEL(l), 0);
	return l;
}

static void
say(struct cs_tray_share *ts, GtkWidget *msg, const char *file, const char *text)
{
	gchar *v = g_utf8_make_valid(text, -1);

	gtk_label_set_text(GTK_LABEL(msg), v);
	g_free(v);
	hook(ts, file, text);
}

/* One request; the answer in ts->answer. 0 or an error sentence in err. */
static int
ask(struct cs_tray_share *ts, const char *verb, char *err, size_t cap)
{
	int rc = cs_tray_ctl_request(ts->sock, verb, ts->answer, CS_CTL_MAX_RESP + 1, REQ_MS);

	if (rc != 0)
		snprintf(err, cap, "%s",
		    rc == CS_ENOENT ? "the cabsync agent is not running"
		                    : "the cabsync agent did not answer");
	return rc;
}

/* A list verb into ts->rows. 0 or an error sentence in err. */
static int
ask_rows(struct cs_tray_share *ts, const char *verb, const char *key, char *err, size_t cap)
{
	if (ask(ts, verb, err, cap) != 0)
		return CS_EIO;
	return cs_tray_rows_parse(ts->answer, strlen(ts->answer), key, ts->rows, err, cap);
}

/* "YYYY-MM-DD": the end of that day (UTC), as `cabsync share --until`. 0 or -1. */
static int64_t
parse_day(const char *s)
{
	struct tm tm;
	int y, m, d, n = 0;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || s[n] != '\0' || m < 1 || m > 12 ||
	    d < 1 || d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d + 1;
	t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t;
}

/* ------------------------------------------------------------ share window */

/* The filter of a patient list: data is its search entry. */
static gboolean
visible_row(GtkTreeModel *m, GtkTreeIter *it, gpointer data)
{
	const char *q = gtk_entry_get_text(GTK_ENTRY(data));
	gchar *lbl = NULL, *a, *b;
	gboolean ok;

	if (q == NULL || q[0] == '\0')
		return TRUE;
	gtk_tree_model_get(m, it, COL_LABEL, &lbl, -1);
	if (lbl == NULL)
		return FALSE;
	a = g_utf8_casefold(lbl, -1);
	b = g_utf8_casefold(q, -1);
	ok = strstr(a, b) != NULL;
	g_free(a);
	g_free(b);
	g_free(lbl);
	return ok;
}

/* The first patient shown in tree (filter) is selected: type a few letters, then act. */
static void
select_first_in(struct cs_tray_share *ts, GtkWidget *tree, GtkTreeModel *filter, const char *file)
{
	GtkTreeSelection *sel = gtk_tree_view_get_selection(GTK_TREE_VIEW(tree));
	GtkTreeIter it;
	gchar *lbl = NULL;
	char line[256];
	int n = 0;

	if (gtk_tree_model_get_iter_first(filter, &it)) {
		gtk_tree_selection_select_iter(sel, &it);
		gtk_tree_model_get(filter, &it, COL_LABEL, &lbl, -1);
		do
			n++;
		while (gtk_tree_model_iter_next(filter, &it));
	}
	snprintf(line, sizeof(line), "shown %d, selected: %s", n, lbl != NULL ? lbl : "none");
	hook(ts, file, line);
	g_free(lbl);
}

static void
select_first(struct cs_tray_share *ts)
{
	select_first_in(ts, ts->tree, ts->filter, "share");
}

static void
on_search(GtkEditable *e, gpointer data)
{
	struct cs_tray_share *ts = data;

	(void)e;
	gtk_tree_model_filter_refilter(GTK_TREE_MODEL_FILTER(ts->filter));
	select_first(ts);
}

static void
share_refresh(struct cs_tray_share *ts)
{
	char err[160], verb[64], line[256];
	GtkWidget *first = NULL, *b;
	GtkTreeIter it;
	GList *kids, *k;
	int64_t from = 0;
	size_t i, total = 0, ncol = 0;
	int page;

	gtk_list_store_clear(ts->store);
	kids = gtk_container_get_children(GTK_CONTAINER(ts->with_box));
	for (k = kids; k != NULL; k = k->next)
		gtk_widget_destroy(GTK_WIDGET(k->data));
	g_list_free(kids);
	gtk_widget_set_sensitive(ts->share_btn, FALSE);
	for (page = 0; page < MAX_PAGES; page++) {
		if (from == 0)
			snprintf(verb, sizeof(verb), "patients");
		else
			snprintf(verb, sizeof(verb), "patients %lld", (long long)from);
		if (ask_rows(ts, verb, "patients", err, sizeof(err)) != 0) {
			snprintf(line, sizeof(line), "Cannot list the patients: %s", err);
			say(ts, ts->msg, "share", line);
			return;
		}
		for (i = 0; i < ts->rows->n; i++) {
			const struct cs_tray_row *r = &ts->rows->v[i];

			/* only what this practitioner may share: owner, or full (re-share) */
			if (strcmp(r->rights, "owner") != 0 && strcmp(r->rights, "full") != 0)
				continue;
			gtk_list_store_append(ts->store, &it);
			gtk_list_store_set(ts->store, &it, COL_ID, r->id, COL_LABEL, r->label,
			    COL_RIGHTS, r->rights, -1);
			total++;
		}
		if ((from = ts->rows->next) == 0)
			break;
	}
	if (ask_rows(ts, "practitioners", "practitioners", err, sizeof(err)) != 0) {
		snprintf(line, sizeof(line), "Cannot list the colleagues: %s", err);
		say(ts, ts->msg, "share", line);
		return;
	}
	for (i = 0; i < ts->rows->n; i++) {
		const struct cs_tray_row *r = &ts->rows->v[i];
		gchar *v;

		if (r->you || strlen(r->id) != 32)
			continue;
		v = g_utf8_make_valid(r->name[0] != '\0' ? r->name : r->id, -1);
		b = first == NULL
		    ? gtk_radio_button_new_with_label(NULL, v)
		    : gtk_radio_button_new_with_label_from_widget(GTK_RADIO_BUTTON(first), v);
		g_free(v);
		if (first == NULL)
			first = b;
		g_object_set_data_full(G_OBJECT(b), "prac", g_strdup(r->id), g_free);
		snprintf(line, sizeof(line), "with %s", r->name[0] != '\0' ? r->name : r->id);
		hook_widget(ts, b, "share", line);
		gtk_box_pack_start(GTK_BOX(ts->with_box), b, FALSE, FALSE, 0);
		ncol++;
	}
	gtk_widget_show_all(ts->with_box);
	select_first(ts);
	snprintf(line, sizeof(line), "%zu patient%s you may share, %zu colleague%s.", total,
	    total == 1 ? "" : "s", ncol, ncol == 1 ? "" : "s");
	say(ts, ts->msg, "share", line);
	gtk_widget_set_sensitive(ts->share_btn, total > 0 && ncol > 0);
}

static void
on_share(GtkButton *btn, gpointer data)
{
	struct cs_tray_share *ts = data;
	GtkTreeSelection *sel = gtk_tree_view_get_selection(GTK_TREE_VIEW(ts->tree));
	GtkTreeModel *m;
	GtkTreeIter it;
	GList *kids, *k;
	gchar *id = NULL;
	const char *prac = NULL, *perm = NULL;
	char verb[CS_CTL_MAX_REQ], err[200], detail[200], line[320], until[32] = "";
	int64_t end;
	int i;

	(void)btn;
	if (!gtk_tree_selection_get_selected(sel, &m, &it)) {
		say(ts, ts->msg, "share", "Choose a patient first.");
		return;
	}
	gtk_tree_model_get(m, &it, COL_ID, &id, -1);
	kids = gtk_container_get_children(GTK_CONTAINER(ts->with_box));
	for (k = kids; k != NULL; k = k->next)
		if (gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(k->data)))
			prac = g_object_get_data(G_OBJECT(k->data), "prac");
	g_list_free(kids);
	for (i = 0; i < 3; i++)
		if (gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(ts->perm[i])))
			perm = perm_names[i];
	if (gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(ts->until_check))) {
		end = parse_day(gtk_entry_get_text(GTK_ENTRY(ts->until_entry)));
		if (end <= (int64_t)time(NULL)) {
			say(ts, ts->msg, "share",
			    "The end date must be a future day, written YYYY-MM-DD.");
			g_free(id);
			return;
		}
		snprintf(until, sizeof(until), " %lld", (long long)end);
	}
	if (id == NULL || prac == NULL || perm == NULL ||
	    snprintf(verb, sizeof(verb), "share %s %s %s%s", id, prac, perm, until) >=
	        (int)sizeof(verb)) {
		say(ts, ts->msg, "share", "Choose a patient and a colleague first.");
		g_free(id);
		return;
	}
	if (ask(ts, verb, err, sizeof(err)) == 0 &&
	    cs_tray_ok_parse(ts->answer, strlen(ts->answer), detail, sizeof(detail), err,
	        sizeof(err)) == 0)
		snprintf(line, sizeof(line), "Done: %s.", detail);
	else
		snprintf(line, sizeof(line), "Not shared: %s.", err);
	say(ts, ts->msg, "share", line);
	g_free(id);
}

static void
on_until_toggled(GtkToggleButton *b, gpointer data)
{
	struct cs_tray_share *ts = data;

	gtk_widget_set_sensitive(ts->until_entry, gtk_toggle_button_get_active(b));
}

static gboolean
on_delete(GtkWidget *w, GdkEvent *e, gpointer data)
{
	(void)e;
	(void)data;
	gtk_widget_hide(w);
	return TRUE; /* kept for the next time */
}

static void
build_share(struct cs_tray_share *ts)
{
	GtkWidget *vb, *hb, *sw, *b;
	GtkCellRenderer *cr;
	int i;

	ts->win = gtk_window_new(GTK_WINDOW_TOPLEVEL);
	gtk_window_set_title(GTK_WINDOW(ts->win), "cabsync: share a patient");
	gtk_window_set_default_size(GTK_WINDOW(ts->win), 560, 420);
	gtk_window_move(GTK_WINDOW(ts->win), 0, 40);
	vb = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
	gtk_container_set_border_width(GTK_CONTAINER(vb), 8);
	hb = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	gtk_box_pack_start(GTK_BOX(hb), label("Patient:"), FALSE, FALSE, 0);
	ts->search = gtk_search_entry_new();
	gtk_entry_set_placeholder_text(GTK_ENTRY(ts->search), "type a few letters of the name");
	g_signal_connect(ts->search, "changed", G_CALLBACK(on_search), ts);
	hook_widget(ts, ts->search, "share", "search");
	gtk_box_pack_start(GTK_BOX(hb), ts->search, TRUE, TRUE, 0);
	gtk_box_pack_start(GTK_BOX(vb), hb, FALSE, FALSE, 0);
	ts->store = gtk_list_store_new(NCOLS, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
	ts->filter = gtk_tree_model_filter_new(GTK_TREE_MODEL(ts->store), NULL);
	gtk_tree_model_filter_set_visible_func(GTK_TREE_MODEL_FILTER(ts->filter), visible_row,
	    ts->search, NULL);
	ts->tree = gtk_tree_view_new_with_model(ts->filter);
	cr = gtk_cell_renderer_text_new();
	gtk_tree_view_append_column(GTK_TREE_VIEW(ts->tree),
	    gtk_tree_view_column_new_with_attributes("Patient", cr, "text", COL_LABEL, NULL));
	gtk_tree_view_append_column(GTK_TREE_VIEW(ts->tree),
	    gtk_tree_view_column_new_with_attributes("Your right", gtk_cell_renderer_text_new(),
	        "text", COL_RIGHTS, NULL));
	sw = gtk_scrolled_window_new(NULL, NULL);
	gtk_widget_set_size_request(sw, -1, 140);
	gtk_container_add(GTK_CONTAINER(sw), ts->tree);
	gtk_box_pack_start(GTK_BOX(vb), sw, TRUE, TRUE, 0);
	hb = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	gtk_box_pack_start(GTK_BOX(hb), label("With:"), FALSE, FALSE, 0);
	ts->with_box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	gtk_box_pack_start(GTK_BOX(hb), ts->with_box, TRUE, TRUE, 0);
	gtk_box_pack_start(GTK_BOX(vb), hb, FALSE, FALSE, 0);
	hb = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	gtk_box_pack_start(GTK_BOX(hb), label("Permission:"), FALSE, FALSE, 0);
	for (i = 0; i < 3; i++) {
		char what[32];

		ts->perm[i] = i == 0 ? gtk_radio_button_new_with_label(NULL, perm_names[i])
		                     : gtk_radio_button_new_with_label_from_widget(
		                           GTK_RADIO_BUTTON(ts->perm[0]), perm_names[i]);
		snprintf(what, sizeof(what), "perm %s", perm_names[i]);
		hook_widget(ts, ts->perm[i], "share", what);
		gtk_box_pack_start(GTK_BOX(hb), ts->perm[i], FALSE, FALSE, 0);
	}
	gtk_box_pack_start(GTK_BOX(vb), hb, FALSE, FALSE, 0);
	hb = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	ts->until_check = gtk_check_button_new_with_label("Until (a locum), UTC:");
	hook_widget(ts, ts->until_check, "share", "until");
	g_signal_connect(ts->until_check, "toggled", G_CALLBACK(on_until_toggled), ts);
	gtk_box_pack_start(GTK_BOX(hb), ts->until_check, FALSE, FALSE, 0);
	ts->until_entry = gtk_entry_new();
	gtk_entry_set_placeholder_text(GTK_ENTRY(ts->until_entry), "YYYY-MM-DD");
	gtk_widget_set_sensitive(ts->until_entry, FALSE);
	hook_widget(ts, ts->until_entry, "share", "until_date");
	gtk_box_pack_start(GTK_BOX(hb), ts->until_entry, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(vb), hb, FALSE, FALSE, 0);
	hb = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	b = ts->share_btn = gtk_button_new_with_label("Share");
	g_signal_connect(b, "clicked", G_CALLBACK(on_share), ts);
	hook_widget(ts, b, "share", "button");
	gtk_box_pack_end(GTK_BOX(hb), b, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(vb), hb, FALSE, FALSE, 0);
	ts->msg = label("");
	gtk_label_set_line_wrap(GTK_LABEL(ts->msg), TRUE);
	gtk_box_pack_start(GTK_BOX(vb), ts->msg, FALSE, FALSE, 0);
	gtk_container_add(GTK_CONTAINER(ts->win), vb);
	g_signal_connect(ts->win, "delete-event", G_CALLBACK(on_delete), ts);
}

void
cs_tray_share_open(struct cs_tray_share *ts)
{
	if (ts->win == NULL)
		build_share(ts);
	gtk_widget_show_all(ts->win);
	share_refresh(ts);
	gtk_window_present(GTK_WINDOW(ts->win));
	gtk_widget_grab_focus(ts->search); /* type the patient's name at once */
}

/* ----------------------------------------------------------- manage window */

static void manage_refresh(struct cs_tray_share *ts);

/* The request of a manage control: "perm ..." or "revoke ...", then a refresh. */
static void
manage_act(struct cs_tray_share *ts, const char *verb)
{
	char err[200], detail[200], line[320];

	if (ask(ts, verb, err, sizeof(err)) == 0 &&
	    cs_tray_ok_parse(ts->answer, strlen(ts->answer), detail, sizeof(detail), err,
	        sizeof(err)) == 0)
		snprintf(line, sizeof(line), "Done: %s.", detail);
	else
		snprintf(line, sizeof(line), "Not done: %s.", err);
	manage_refresh(ts);
	say(ts, ts->mmsg, "manage", line);
}

static void
on_perm_toggled(GtkToggleButton *b, gpointer data)
{
	struct cs_tray_share *ts = data;

	if (ts->refreshing || !gtk_toggle_button_get_active(b))
		return;
	manage_act(ts, g_object_get_data(G_OBJECT(b), "verb"));
}

static void
on_revoke(GtkButton *b, gpointer data)
{
	manage_act(data, g_object_get_data(G_OBJECT(b), "verb"));
}

static void
manage_refresh(struct cs_tray_share *ts)
{
	char err[160], line[320], when[32], verb[CS_CTL_MAX_REQ], what[160], until[32];
	GtkWidget *first, *b;
	int64_t now = (int64_t)time(NULL) * 1000;
	int64_t from = 0;
	size_t i, n = 0;
	int row = 1, k, page;
	time_t tt;
	struct tm tm;

	ts->refreshing = 1;
	gtk_container_foreach(GTK_CONTAINER(ts->mgrid), (GtkCallback)gtk_widget_destroy, NULL);
	gtk_grid_attach(GTK_GRID(ts->mgrid), label("Patient"), 0, 0, 1, 1);
	gtk_grid_attach(GTK_GRID(ts->mgrid), label("Shared with"), 1, 0, 1, 1);
	gtk_grid_attach(GTK_GRID(ts->mgrid), label("Permission"), 2, 0, 3, 1);
	gtk_grid_attach(GTK_GRID(ts->mgrid), label("Until (UTC)"), 5, 0, 1, 1);
	/* every page of `shares` (PROTOCOL.md §8.4) */
	for (page = 0; page < MAX_PAGES; page++) {
		if (from == 0)
			snprintf(verb, sizeof(verb), "shares");
		else
			snprintf(verb, sizeof(verb), "shares %lld", (long long)from);
		if (ask_rows(ts, verb, "shares", err, sizeof(err)) != 0) {
			snprintf(line, sizeof(line), "Cannot list the shares: %s", err);
			say(ts, ts->mmsg, "manage", line);
			gtk_widget_show_all(ts->mgrid);
			ts->refreshing = 0;
			return;
		}
		for (i = 0; i < ts->rows->n; i++) {
			const struct cs_tray_row *r = &ts->rows->v[i];
			const char *who = r->name[0] != '\0' ? r->name : r->practitioner;
			const char *pl = r->label[0] != '\0' ? r->label : r->patient;
			/* a share to me is shown, not changed here: its owner does that */
			int here =
			    r->patient[0] != '\0' && strlen(r->practitioner) == 32 && !r->you;

			if (!r->active || strcmp(r->rights, "owner") == 0)
				continue;
			until[0] = '\0';
			snprintf(when, sizeof(when), "-");
			if (r->until > 0) {
				tt = (time_t)(r->until / 1000);
				if (gmtime_r(&tt, &tm) != NULL)
					strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
				if (r->until > now + 1000)
					snprintf(until, sizeof(until), " %lld",
					    (long long)(r->until / 1000));
			}
			gtk_grid_attach(GTK_GRID(ts->mgrid),
			    label(pl[0] != '\0' ? pl : "(not here)"), 0, row, 1, 1);
			gtk_grid_attach(GTK_GRID(ts->mgrid), label(who), 1, row, 1, 1);
			first = NULL;
			for (k = 0; k < 3; k++) {
				b = first == NULL
				    ? gtk_radio_button_new_with_label(NULL, perm_names[k])
				    : gtk_radio_button_new_with_label_from_widget(
				          GTK_RADIO_BUTTON(first), perm_names[k]);
				if (first == NULL)
					first = b;
				gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(b),
				    strcmp(r->rights, perm_names[k]) == 0);
				snprintf(verb, sizeof(verb), "perm %s %s %s%s", r->patient,
				    r->practitioner, perm_names[k], until);
				g_object_set_data_full(G_OBJECT(b), "verb", g_strdup(verb), g_free);
				g_signal_connect(b, "toggled", G_CALLBACK(on_perm_toggled), ts);
				gtk_widget_set_sensitive(b, here);
				snprintf(what, sizeof(what), "perm %s %s %s", pl, who,
				    perm_names[k]);
				hook_widget(ts, b, "manage", what);
				gtk_grid_attach(GTK_GRID(ts->mgrid), b, 2 + k, row, 1, 1);
			}
			gtk_grid_attach(GTK_GRID(ts->mgrid), label(when), 5, row, 1, 1);
			b = gtk_button_new_with_label("Revoke");
			snprintf(verb, sizeof(verb), "revoke %s %s", r->patient, r->practitioner);
			g_object_set_data_full(G_OBJECT(b), "verb", g_strdup(verb), g_free);
			g_signal_connect(b, "clicked", G_CALLBACK(on_revoke), ts);
			gtk_widget_set_sensitive(b, here);
			snprintf(what, sizeof(what), "revoke %s %s", pl, who);
			hook_widget(ts, b, "manage", what);
			gtk_grid_attach(GTK_GRID(ts->mgrid), b, 6, row, 1, 1);
			snprintf(line, sizeof(line), "share %s %s %s until %s", pl, who, r->rights,
			    when);
			hook(ts, "manage", line);
			row++;
			n++;
		}
		if ((from = ts->rows->next) == 0)
			break;
	}
	snprintf(line, sizeof(line), n == 0 ? "No share in force." : "%zu share%s in force.", n,
	    n == 1 ? "" : "s");
	say(ts, ts->mmsg, "manage", line);
	gtk_widget_show_all(ts->mgrid);
	ts->refreshing = 0;
}

/* --------------------------------------------------------- transfer window */

/*
 * "Transfer a patient…" (from "Manage shares…"): the patients this
 * practitioner owns, by label, a colleague from the roster, then a
 * confirmation dialog saying what happens, then the agent's `transfer`
 * (what `cabsync transfer` does, PROTOCOL.md §8.4).
 */
static void
transfer_refresh(struct cs_tray_share *ts)
{
	char err[160], verb[64], line[256];
	GtkWidget *first = NULL, *b;
	GtkTreeIter it;
	GList *kids, *k;
	int64_t from = 0;
	size_t i, total = 0, ncol = 0;
	int page;

	gtk_list_store_clear(ts->tstore);
	kids = gtk_container_get_children(GTK_CONTAINER(ts->tto_box));
	for (k = kids; k != NULL; k = k->next)
		gtk_widget_destroy(GTK_WIDGET(k->data));
	g_list_free(kids);
	gtk_widget_set_sensitive(ts->tbtn, FALSE);
	for (page = 0; page < MAX_PAGES; page++) {
		if (from == 0)
			snprintf(verb, sizeof(verb), "patients");
		else
			snprintf(verb, sizeof(verb), "patients %lld", (long long)from);
		if (ask_rows(ts, verb, "patients", err, sizeof(err)) != 0) {
			snprintf(line, sizeof(line), "Cannot list the patients: %s", err);
			say(ts, ts->tmsg, "transfer", line);
			return;
		}
		for (i = 0; i < ts->rows->n; i++) {
			const struct cs_tray_row *r = &ts->rows->v[i];

			/* only the owner may transfer (a full holder may not) */
			if (strcmp(r->rights, "owner") != 0)
				continue;
			gtk_list_store_append(ts->tstore, &it);
			gtk_list_store_set(ts->tstore, &it, COL_ID, r->id, COL_LABEL, r->label,
			    COL_RIGHTS, r->rights, -1);
			total++;
		}
		if ((from = ts->rows->next) == 0)
			break;
	}
	if (ask_rows(ts, "practitioners", "practitioners", err, sizeof(err)) != 0) {
		snprintf(line, sizeof(line), "Cannot list the colleagues: %s", err);
		say(ts, ts->tmsg, "transfer", line);
		return;
	}
	for (i = 0; i < ts->rows->n; i++) {
		const struct cs_tray_row *r = &ts->rows->v[i];
		const char *who = r->name[0] != '\0' ? r->name : r->id;
		gchar *v;

		if (r->you || strlen(r->id) != 32)
			continue;
		v = g_utf8_make_valid(who, -1);
		b = first == NULL
		    ? gtk_radio_button_new_with_label(NULL, v)
		    : gtk_radio_button_new_with_label_from_widget(GTK_RADIO_BUTTON(first), v);
		g_free(v);
		if (first == NULL)
			first = b;
		g_object_set_data_full(G_OBJECT(b), "prac", g_strdup(r->id), g_free);
		g_object_set_data_full(G_OBJECT(b), "name", g_strdup(who), g_free);
		snprintf(line, sizeof(line), "to %s", who);
		hook_widget(ts, b, "transfer", line);
		gtk_box_pack_start(GTK_BOX(ts->tto_box), b, FALSE, FALSE, 0);
		ncol++;
	}
	gtk_widget_show_all(ts->tto_box);
	select_first_in(ts, ts->ttree, ts->tfilter, "transfer");
	snprintf(line, sizeof(line), "%zu patient%s you own, %zu colleague%s.", total,
	    total == 1 ? "" : "s", ncol, ncol == 1 ? "" : "s");
	say(ts, ts->tmsg, "transfer", line);
	gtk_widget_set_sensitive(ts->tbtn, total > 0 && ncol > 0);
}

static void
on_tsearch(GtkEditable *e, gpointer data)
{
	struct cs_tray_share *ts = data;

	(void)e;
	gtk_tree_model_filter_refilter(GTK_TREE_MODEL_FILTER(ts->tfilter));
	select_first_in(ts, ts->ttree, ts->tfilter, "transfer");
}

/* The answer of the confirmation dialog: the transfer, or nothing. */
static void
on_transfer_response(GtkDialog *d, gint resp, gpointer data)
{
	struct cs_tray_share *ts = data;
	char err[200], detail[200], line[320];

	gtk_widget_destroy(GTK_WIDGET(d));
	ts->tdlg = NULL;
	if (resp != GTK_RESPONSE_ACCEPT) {
		say(ts, ts->tmsg, "transfer", "Not transferred: cancelled.");
		ts->tverb[0] = '\0';
		return;
	}
	if (ask(ts, ts->tverb, err, sizeof(err)) == 0 &&
	    cs_tray_ok_parse(ts->answer, strlen(ts->answer), detail, sizeof(detail), err,
	        sizeof(err)) == 0)
		snprintf(line, sizeof(line), "Done: %s.", detail);
	else
		snprintf(line, sizeof(line), "Not transferred: %s.", err);
	ts->tverb[0] = '\0';
	/* the patient is no longer ours: both lists change */
	transfer_refresh(ts);
	say(ts, ts->tmsg, "transfer", line);
	if (ts->mwin != NULL && gtk_widget_get_visible(ts->mwin)) {
		manage_refresh(ts);
		say(ts, ts->mmsg, "manage", line);
	}
}

static void
on_transfer(GtkButton *btn, gpointer data)
{
	struct cs_tray_share *ts = data;
	GtkTreeSelection *sel = gtk_tree_view_get_selection(GTK_TREE_VIEW(ts->ttree));
	GtkTreeModel *m;
	GtkTreeIter it;
	GList *kids, *k;
	gchar *id = NULL, *lbl = NULL, *text;
	const char *prac = NULL, *name = NULL;
	GtkWidget *b;

	(void)btn;
	if (ts->tdlg != NULL)
		return;
	if (!gtk_tree_selection_get_selected(sel, &m, &it)) {
		say(ts, ts->tmsg, "transfer", "Choose a patient first.");
		return;
	}
	gtk_tree_model_get(m, &it, COL_ID, &id, COL_LABEL, &lbl, -1);
	kids = gtk_container_get_children(GTK_CONTAINER(ts->tto_box));
	for (k = kids; k != NULL; k = k->next) {
		if (gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(k->data))) {
			prac = g_object_get_data(G_OBJECT(k->data), "prac");
			name = g_object_get_data(G_OBJECT(k->data), "name");
		}
	}
	g_list_free(kids);
	if (id == NULL || prac == NULL || name == NULL ||
	    snprintf(ts->tverb, sizeof(ts->tverb), "transfer %s %s", id, prac) >=
	        (int)sizeof(ts->tverb)) {
		ts->tverb[0] = '\0';
		say(ts, ts->tmsg, "transfer", "Choose a patient and a colleague first.");
		goto out;
	}
	/* what really happens (agent/share_ops.h, sql/share.c; tests/share/revoke_test.sh) */
	text = g_strdup_printf(
	    "%s becomes the owner of the patient %s.\n\n"
	    "Your computers first send your last changes of this patient, then delete their "
	    "copy of it (%s keeps every row). You will not have this patient any more, unless "
	    "%s shares it back with you. The colleagues it is shared with keep their access.\n\n"
	    "Only %s can give it back.",
	    name, lbl != NULL && lbl[0] != '\0' ? lbl : id, name, name, name);
	ts->tdlg = gtk_message_dialog_new(GTK_WINDOW(ts->twin),
	    GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT, GTK_MESSAGE_WARNING,
	    GTK_BUTTONS_NONE, "Transfer this patient to %s?", name);
	gtk_window_set_title(GTK_WINDOW(ts->tdlg), "cabsync: confirm the transfer");
	gtk_message_dialog_format_secondary_text(GTK_MESSAGE_DIALOG(ts->tdlg), "%s", text);
	b = gtk_dialog_add_button(GTK_DIALOG(ts->tdlg), "Cancel", GTK_RESPONSE_CANCEL);
	hook_widget(ts, b, "transfer", "cancel");
	b = gtk_dialog_add_button(GTK_DIALOG(ts->tdlg), "Transfer", GTK_RESPONSE_ACCEPT);
	hook_widget(ts, b, "transfer", "confirm");
	gtk_dialog_set_default_response(GTK_DIALOG(ts->tdlg), GTK_RESPONSE_CANCEL);
	g_signal_connect(ts->tdlg, "response", G_CALLBACK(on_transfer_response), ts);
	hook(ts, "transfer", "confirm? Transfer this patient to a colleague");
	{
		gchar **lines = g_strsplit(text, "\n", -1), **l;

		for (l = lines; *l != NULL; l++)
			if ((*l)[0] != '\0')
				hook(ts, "transfer", *l);
		g_strfreev(lines);
	}
	g_free(text);
	gtk_widget_show_all(ts->tdlg);
	gtk_window_present(GTK_WINDOW(ts->tdlg));
out:
	g_free(id);
	g_free(lbl);
}

static void
build_transfer(struct cs_tray_share *ts)
{
	GtkWidget *vb, *hb, *sw, *intro;
	GtkCellRenderer *cr;

	ts->twin = gtk_window_new(GTK_WINDOW_TOPLEVEL);
	gtk_window_set_title(GTK_WINDOW(ts->twin), "cabsync: transfer a patient");
	gtk_window_set_default_size(GTK_WINDOW(ts->twin), 560, 380);
	gtk_window_move(GTK_WINDOW(ts->twin), 40, 60);
	vb = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
	gtk_container_set_border_width(GTK_CONTAINER(vb), 8);
	intro = label("Hand one of your patients over to a colleague (who leaves the cabinet "
	              "hands over their patients). The colleague becomes its owner.");
	gtk_label_set_line_wrap(GTK_LABEL(intro), TRUE);
	gtk_label_set_max_width_chars(GTK_LABEL(intro), 60);
	gtk_box_pack_start(GTK_BOX(vb), intro, FALSE, FALSE, 0);
	hb = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	gtk_box_pack_start(GTK_BOX(hb), label("Patient:"), FALSE, FALSE, 0);
	ts->tsearch = gtk_search_entry_new();
	gtk_entry_set_placeholder_text(GTK_ENTRY(ts->tsearch), "type a few letters of the name");
	g_signal_connect(ts->tsearch, "changed", G_CALLBACK(on_tsearch), ts);
	hook_widget(ts, ts->tsearch, "transfer", "search");
	gtk_box_pack_start(GTK_BOX(hb), ts->tsearch, TRUE, TRUE, 0);
	gtk_box_pack_start(GTK_BOX(vb), hb, FALSE, FALSE, 0);
	ts->tstore = gtk_list_store_new(NCOLS, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
	ts->tfilter = gtk_tree_model_filter_new(GTK_TREE_MODEL(ts->tstore), NULL);
	gtk_tree_model_filter_set_visible_func(GTK_TREE_MODEL_FILTER(ts->tfilter), visible_row,
	    ts->tsearch, NULL);
	ts->ttree = gtk_tree_view_new_with_model(ts->tfilter);
	cr = gtk_cell_renderer_text_new();
	gtk_tree_view_append_column(GTK_TREE_VIEW(ts->ttree),
	    gtk_tree_view_column_new_with_attributes("Your patient", cr, "text", COL_LABEL, NULL));
	sw = gtk_scrolled_window_new(NULL, NULL);
	gtk_widget_set_size_request(sw, -1, 140);
	gtk_container_add(GTK_CONTAINER(sw), ts->ttree);
	gtk_box_pack_start(GTK_BOX(vb), sw, TRUE, TRUE, 0);
	hb = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	gtk_box_pack_start(GTK_BOX(hb), label("To:"), FALSE, FALSE, 0);
	ts->tto_box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	gtk_box_pack_start(GTK_BOX(hb), ts->tto_box, TRUE, TRUE, 0);
	gtk_box_pack_start(GTK_BOX(vb), hb, FALSE, FALSE, 0);
	hb = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	ts->tbtn = gtk_button_new_with_label("Transfer\xe2\x80\xa6");
	g_signal_connect(ts->tbtn, "clicked", G_CALLBACK(on_transfer), ts);
	hook_widget(ts, ts->tbtn, "transfer", "button");
	gtk_box_pack_end(GTK_BOX(hb), ts->tbtn, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(vb), hb, FALSE, FALSE, 0);
	ts->tmsg = label("");
	gtk_label_set_line_wrap(GTK_LABEL(ts->tmsg), TRUE);
	gtk_box_pack_start(GTK_BOX(vb), ts->tmsg, FALSE, FALSE, 0);
	gtk_container_add(GTK_CONTAINER(ts->twin), vb);
	g_signal_connect(ts->twin, "delete-event", G_CALLBACK(on_delete), ts);
}

/* "Transfer a patient…" of the manage window. */
static void
on_open_transfer(GtkButton *b, gpointer data)
{
	struct cs_tray_share *ts = data;

	(void)b;
	if (ts->twin == NULL)
		build_transfer(ts);
	gtk_widget_show_all(ts->twin);
	transfer_refresh(ts);
	gtk_window_present(GTK_WINDOW(ts->twin));
	gtk_widget_grab_focus(ts->tsearch);
}

void
cs_tray_manage_open(struct cs_tray_share *ts)
{
	GtkWidget *vb, *sw, *hb, *b;

	if (ts->mwin == NULL) {
		ts->mwin = gtk_window_new(GTK_WINDOW_TOPLEVEL);
		gtk_window_set_title(GTK_WINDOW(ts->mwin), "cabsync: manage shares");
		gtk_window_set_default_size(GTK_WINDOW(ts->mwin), 760, 300);
		gtk_window_move(GTK_WINDOW(ts->mwin), 0, 40);
		vb = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
		gtk_container_set_border_width(GTK_CONTAINER(vb), 8);
		ts->mmsg = label("");
		gtk_box_pack_start(GTK_BOX(vb), ts->mmsg, FALSE, FALSE, 0);
		hb = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
		b = gtk_button_new_with_label("Transfer a patient you own\xe2\x80\xa6");
		gtk_widget_set_tooltip_text(b,
		    "Hand one of your patients over to a colleague: the colleague becomes its "
		    "owner");
		g_signal_connect(b, "clicked", G_CALLBACK(on_open_transfer), ts);
		hook_widget(ts, b, "manage", "transfer");
		gtk_box_pack_start(GTK_BOX(hb), b, FALSE, FALSE, 0);
		gtk_box_pack_start(GTK_BOX(vb), hb, FALSE, FALSE, 0);
		sw = gtk_scrolled_window_new(NULL, NULL);
		ts->mgrid = gtk_grid_new();
		gtk_grid_set_row_spacing(GTK_GRID(ts->mgrid), 6);
		gtk_grid_set_column_spacing(GTK_GRID(ts->mgrid), 10);
		gtk_container_add(GTK_CONTAINER(sw), ts->mgrid);
		gtk_box_pack_start(GTK_BOX(vb), sw, TRUE, TRUE, 0);
		gtk_container_add(GTK_CONTAINER(ts->mwin), vb);
		g_signal_connect(ts->mwin, "delete-event", G_CALLBACK(on_delete), ts);
	}
	gtk_widget_show_all(ts->mwin);
	manage_refresh(ts);
	gtk_window_present(GTK_WINDOW(ts->mwin));
}

struct cs_tray_share *
cs_tray_share_new(const char *sock, const char *hookp)
{
	struct cs_tray_share *ts = cs_calloc(1, sizeof(*ts));

	if (ts == NULL)
		return NULL;
	ts->sock = sock;
	ts->hook = hookp;
	ts->answer = cs_malloc(CS_CTL_MAX_RESP + 1);
	ts->rows = cs_calloc(1, sizeof(*ts->rows));
	if (ts->answer == NULL || ts->rows == NULL) {
		cs_tray_share_free(ts);
		return NULL;
	}
	return ts;
}

void
cs_tray_share_free(struct cs_tray_share *ts)
{
	if (ts == NULL)
		return;
	if (ts->report_id != 0)
		g_source_remove(ts->report_id);
	if (ts->win != NULL)
		gtk_widget_destroy(ts->win);
	if (ts->mwin != NULL)
		gtk_widget_destroy(ts->mwin);
	if (ts->twin != NULL)
		gtk_widget_destroy(ts->twin); /* and its dialog, if open */
	if (ts->tfilter != NULL)
		g_object_unref(ts->tfilter);
	if (ts->tstore != NULL)
		g_object_unref(ts->tstore);
	if (ts->filter != NULL)
		g_object_unref(ts->filter);
	if (ts->store != NULL)
		g_object_unref(ts->store);
	cs_free(ts->answer);
	cs_free(ts->rows);
	cs_free(ts);
}
