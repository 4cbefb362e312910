/*
 * agent/daemon.c: the sync daemon (see daemon.h).
 */
#include "agent/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "agent/acked.h"
#include "agent/appschema.h"
#include "agent/audit_cmd.h"
#include "agent/clockoff.h"
#include "agent/control.h"
#include "agent/ctl_jobs.h"
#include "agent/ctl_share.h"
#include "agent/db_cmd.h"
#include "agent/dbw.h"
#include "agent/devstate.h"
#include "agent/home.h"
#include "agent/jsonw.h"
#include "agent/mono.h"
#include "agent/relay_agent.h"
#include "agent/roster.h"
#include "agent/roster_io.h"
#include "agent/share_sync.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "discovery/addr.h"
#include "discovery/addrcache.h"
#include "discovery/mdns.h"
#include "discovery/tag.h"
#include "sql/engine.h"
#include "sql/share.h"
#include "sql/upgrade.h"
#include "wire/chunk.h"
#include "wire/clockmsg.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/noise.h"
#include "wire/records.h"
#include "wire/rrec.h"
#include "wire/version.h"

#define HS_TIMEOUT_MS  10000
#define PING_AFTER_MS  10000
#define DEAD_AFTER_MS  30000
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
/*
 * A path that died under a live session (a partition, a cut cable): TCP's
 * retransmission backoff would keep a stalled session stuck long after the
 * heal, so the agent notices the stall itself and redials quickly
 * (docs/TESTING.md, lan_agents_partition).
 */
#define STALL_PING_MS 2000   /* changes unacknowledged and nothing heard: PING */
#define STALL_MS      5000   /* ... and still, on two ticks: close, redial */
#define CONNECT_MS    3500   /* SYN unanswered (first + 2 retransmits): redial */
#define FAST_MAX_MS   2000   /* backoff cap for a device in session ... */
#define FAST_FOR_MS   120000 /* ... less than 2 min ago */
#define REPUBLISH_MS  30000  /* at most one "network is back" re-publish per 30 s */
#define BUSY_RETRY_MS 5
/* 10 s of SQLITE_BUSY before giving up a batch; a time, not a count: each
 * try already waits the engine's busy timeout (5 s) for the lock */
#define BUSY_GIVEUP_MS 10000
#define FRAME_BUF      (CS_FRAME_HDR_LEN + CS_FRAME_MAX_BODY)
#define MAX_DIALERS    (2 * CS_HOME_MAX_PEERS)
#define TICK_MS        2000  /* liveness, roster file check, fallback change check */
#define POLITE_GAP_MS  30    /* free time between applies while the app writes */
#define APP_ACTIVE_MS  2000  /* the app counts as writing this long after a commit */
#define APPLY_HOLD_MS  20    /* aim: no apply transaction holds the lock longer */
#define PROGRESS_MIN   1000  /* a sync of at least this many rows logs its progress */
#define RECV_LOG_EVERY 10000 /* rows received between two progress lines */

enum sess_state { S_HANDSHAKE = 1, S_HELLO, S_LIVE, S_CLOSING };

struct agent;
struct dialer;

/* What the loop knows of one roster device. */
struct peerinfo {
	struct session *s;    /* the live session, or NULL */
	uint64_t recv_cursor; /* applied here up to this db_version of theirs */
	uint64_t acked;       /* they applied ours up to here (valid if acked_known) */
	int acked_known;
	int64_t last_sync_ms; /* last CHANGES applied or ACK received, 0 never */
	int version_said;     /* a version mismatch with it was logged (once) */
	/* progress (status, log): rows to send in this session's first run and
	 * sent so far; rows received in this session */
	uint64_t out_total, out_done, in_rows;
	unsigned out_pct_logged;
	int64_t last_in_ms;
	uint64_t rows_in, rows_out;
	int64_t lost_ms; /* cs_mono_ms() when its last session closed, 0 never */
	char addr[64];
	int clk_told; /* its clock being off was logged (until it is back in time) */
};

struct session {
	struct agent *a;
	uv_tcp_t tcp;
	struct cs_noise noise;
	int initiator;
	enum sess_state state;
	int refs; /* 1 for the handle + one per job in the worker */
	int handle_closed;
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *plain;
	struct cs_chunk_reasm reasm;
	struct cs_msg_buf mb;
	int peer_idx; /* roster index, -1 before the handshake check */
	struct dialer *dialer;
	char addr[64];
	uint64_t send_after;
	int have_cursor, extracting, inflight, more;
	int tcp_up, stall_pinged, stall_seen;
	int applying, read_paused; /* receive side: batches queued for apply */
	uint64_t sent_gen;
	int64_t started_ms, last_rx_ms, last_tx_ms;
	uint64_t ping_nonce;
	/* sync counts per patient for cs_audit: allocated at HELLO (loop), filled
	 * by the worker's jobs, handed at close to the session-end job (acc_given) */
	struct cs_audit_acc *acc;
	int acc_given;
	/* signed roster and key epochs (agent/roster.h, PROTOCOL.md §1.6, §3.10) */
	uint32_t epoch;       /* the epoch whose psk this session's handshake used */
	int key_current;      /* that psk is of this device's current key */
	int m1_sent, m2_seen; /* initiator: message 1 out, message 2 in */
	int m1_read;          /* responder: message 1 authenticated */
	int peer_roster;      /* the peer's HELLO has CS_RREC_FEATURE */
	int keymode;          /* an old-epoch session: roster and keys only */
	int sent_keys, got_keys;
	int64_t rec_sent; /* share records sent up to this seq (agent/share_sync.h) */
	/* rec_sent at each batch in flight: its ACK acknowledges those records */
	int64_t rec_q[CS_AGENT_INFLIGHT], rec_acked, rec_saved;
	int rec_qh, rec_loaded;
	/* the peer's app schema (HELLO), when it differs from ours: extract
	 * leaves out what it does not track (agent/appschema.h); read-only once
	 * LIVE, so the worker reads it too */
	struct cs_changeset peer_schema;
	int filter;
	int counted; /* the first extract counted the rows to send */

	/* CLOCK (wire/clockmsg.h, agent/clockoff.h) */
	int peer_clock;                   /* the peer's HELLO has CS_CLOCK_FEATURE */
	uint64_t clk_now;                 /* `now` of the last CLOCK received (0 none) */
	int64_t clk_rx_mono, clk_tx_mono; /* cs_mono_ms() at its receipt, at our last CLOCK */
	struct session *next;
};

struct dialer {
	struct agent *a;
	struct cs_peer_addr addr;
	uv_timer_t timer;
	uv_connect_t conn;
	struct session *s; /* the session this dial made, while it lives */
	uint32_t backoff_ms;
	int peer_idx; /* device reached last time, -1 unknown */
	int connecting;
	uint32_t back; /* epochs back from the newest key to dial with (PROTOCOL.md §1.6) */
};

struct agent {
	uv_loop_t loop;
	struct cs_home home;
	struct cs_devstate *st; /* worker only once started */
	struct cs_engine *eng;  /* worker only once started */
	struct cs_dbw dbw;
	uint8_t site[CS_DEVID_LEN], incarnation[CS_GID_LEN];
	uv_tcp_t listener;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t tick, settle;
	uv_fs_event_t watch;
	int watch_on, watch_ok, settle_stage;
	unsigned tick_n;
	char db_base[256];
	struct cs_control ctl;
	struct session *sessions;
	struct dialer dialers[MAX_DIALERS];
	size_t ndialers;
	struct peerinfo peers[CS_HOME_MAX_DEVICES];
	uint64_t local_gen, local_dbv;
	int paused, stopping, exit_code;
	struct cs_mdns *mdns;
	struct cs_tag_set tags;
	uint8_t dev_tags[CS_HOME_MAX_DEVICES][2][CS_TAG_LEN]; /* today, yesterday */
	uv_timer_t rotate;
	int mdns_said_nodaemon;
	int64_t republished_ms; /* cs_mono_ms() of the last "network is back" re-publish */
	struct dialer mdial[CS_HOME_MAX_DEVICES]; /* dials to where mDNS saw a device */
	struct cs_addrcache cache;
	int cache_dirty;
	int upgrade_polling;                                /* an upoll_job is queued */
	int64_t apply_start_ms, apply_end_ms, apply_dur_ms; /* worker only */
	int64_t app_active_until;                           /* worker only */
	uint64_t last_dv;                                   /* worker only */
	uint32_t apply_rows; /* rows per apply transaction (worker; adaptive) */
	int full_sync;       /* the engine synced at commit (NORMAL could not be set) */
	struct timespec roster_mtime;
	char listen_addr[64];
	int port;
	struct cs_relay_agent relay;          /* agent/relay_agent.h */
	int64_t seen_ms[CS_HOME_MAX_DEVICES]; /* last relay cycle that saw it live */
	int64_t nconflicts;                   /* open conflicts, -1 not counted yet */
	int refresh_busy, refresh_again;      /* ctl_refresh() job in flight / asked again */
	/* roster records refused already: audited once per run, not every session */
	uint8_t refused[32][CS_RREC_HASH_LEN];
	size_t nrefused;
	struct cs_shsync sh; /* shares: roster copy for the worker */
	int sh_busy, sh_ticks;
	struct cs_changeset schema; /* our tracked tables and columns (HELLO) */
	uint8_t schema_hash[CS_APPSCHEMA_HASH_LEN];
	uint32_t proto_max, proto_min; /* spoken versions (CS_TEST_PROTOCOL in tests) */
	int acked_dirty;
	/* this PC's clock against the cabinet's (agent/clockoff.h) */
	struct cs_clockoff clk;
	struct cs_clockoff_est clk_est; /* the last estimate */
	int64_t clk_pushed;             /* correction last given to the engine */
	int64_t clk_push_mono;          /* cs_mono_ms() of that push, 0 never */
	int64_t clk_said;               /* offset last logged, if clk_told */
	int clk_told;                   /* this PC's clock being off was logged */
	int clk_said_maj;               /* ... with or without a majority */
	int clk_busy;                   /* a clock job is queued */
	int clk_off;                    /* CS_TEST_NO_CLOCK: behave like an older build */
	/* the database could not be written or read by the last apply or
	 * extract (locked, full, unreadable): the status says so (tray: error)
	 * until one succeeds again; a fixed sentence, never patient data */
	char db_error[128];
	/* the relay's login was refused or is missing (agent/relay_agent.h):
	 * shown as the error when the database has none */
	char relay_error[272];
};

/* What the roster was before a change: device ids in roster order. */
struct roster_snap {
	uint8_t ids[CS_HOME_MAX_DEVICES][CS_DEVID_LEN];
	size_t n, nrecs;
	uint8_t kid[CS_RREC_HASH_LEN]; /* id of the current cabinet key */
	uint32_t epoch;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
devhex8(const uint8_t *id, char out[17])
{
	cs_home_hex(id, 8, out);
}

static const char *
peer_label(struct agent *a, int idx, char *buf, size_t cap)
{
	char hex[17];

	if (idx < 0)
		return "unknown device";
	devhex8(a->home.roster[idx].id, hex);
	snprintf(buf, cap, "%s (%.8s)", a->home.roster[idx].name, hex);
	return buf;
}

/* ---------------------------------------------------------------- sessions */

static void session_close(struct session *s, uint32_t bye, const char *why);
static void pump(struct session *s);
static void dialer_schedule(struct dialer *d);
static void cache_save(struct agent *a);
static void make_tags(struct agent *a);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void dial(uv_timer_t *t);
static void ctl_refresh(struct agent *a);
static void ctl_peer_event(struct agent *a, int idx, int online);
static int noise_start(struct session *s, uint32_t r);
static void send_roster(struct session *s);
static void send_clock(struct session *s);
static void clock_frame(struct session *s, const uint8_t *msg, size_t len);
static void clock_tick(struct agent *a);
static void send_keys(struct session *s);
struct roster_snap;
static void roster_snap_take(const struct agent *a, struct roster_snap *sn);
static void roster_changed(struct agent *a, const struct roster_snap *sn, const char *how);
static void acked_save(struct agent *a);
static void progress_out(struct session *s, int counted, uint64_t remaining, uint32_t nrows,
    int more);

static void
session_unref(struct session *s)
{
	if (--s->refs > 0)
		return;
	if (!s->acc_given && s->acc != NULL) {
		cs_audit_acc_free(s->acc);
		cs_free(s->acc);
	}
	cs_noise_free(&s->noise);
	cs_chunk_reasm_free(&s->reasm);
	cs_msg_buf_free(&s->mb);
	cs_changeset_free(&s->peer_schema);
	cs_free(s->rbuf);
	cs_free(s->plain);
	cs_free(s);
}

struct wreq {
	uv_write_t req;
	struct session *s;
	uint8_t *buf;
};

static void
on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct session *s = w->s;

	cs_free(w->buf);
	cs_free(w);
	if (status < 0 && s->state != S_CLOSING)
		session_close(s, 0, uv_strerror(status));
	session_unref(s);
}

/* Queue buf (len bytes, taken over) on the socket. */
static int
send_raw(struct session *s, uint8_t *buf, size_t len)
{
	struct wreq *w;
	uv_buf_t b;
	int rc;

	if (s->handle_closed) {
		cs_free(buf);
		return CS_EIO;
	}
	w = cs_malloc(sizeof(*w));
	if (w == NULL) {
		cs_free(buf);
		return CS_ENOMEM;
	}
	w->s = s;
	w->buf = buf;
	b = uv_buf_init((char *)buf, (unsigned)len);
	rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_written);
	if (rc != 0) {
		cs_free(buf);
		cs_free(w);
		return CS_EIO;
	}
	s->refs++;
	s->last_tx_ms = now_ms();
	return 0;
}

/* Encrypt an application message (chunks, Noise transport, frames) and send it. */
static int
send_app(struct session *s, const uint8_t *msg, size_t len)
{
	struct cs_chunk_split sp;
	uint8_t chunk[CS_CHUNK_MAX_PLAIN];
	uint8_t *out;
	size_t n, cap, used = 0, clen, elen, fl;
	int rc;

	n = cs_chunk_count(len, 0);
	cap = len + n * (CS_CHUNK_FIRST_HDR + CS_NOISE_TAG_LEN + CS_FRAME_HDR_LEN);
	out = cs_malloc(cap);
	if (out == NULL)
		return CS_ENOMEM;
	rc = cs_chunk_split_init(&sp, msg, len, 0, 0);
	while (rc == 0 && (rc = cs_chunk_split_next(&sp, chunk, sizeof(chunk), &clen)) == 1) {
		rc = cs_noise_encrypt(&s->noise, chunk, clen, out + used + CS_FRAME_HDR_LEN,
		    cap - used - CS_FRAME_HDR_LEN, &elen);
		if (rc == 0)
			rc = cs_frame_write(out + used, cap - used, out + used + CS_FRAME_HDR_LEN,
			    elen, &fl);
		if (rc == 0)
			used += fl;
	}
	sodium_memzero(chunk, sizeof(chunk));
	if (rc < 0) {
		cs_free(out);
		return rc;
	}
	return send_raw(s, out, used);
}

static int
send_mb(struct session *s)
{
	return send_app(s, s->mb.p, s->mb.len);
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct session *s = h->data;

	session_unref(s);
}

static void
session_unlink(struct session *s)
{
	struct session **pp;

	for (pp = &s->a->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
}

static void
after_bye(uv_shutdown_t *req, int status)
{
	struct session *s = req->data;

	(void)status;
	cs_free(req);
	if (!s->handle_closed) {
		s->handle_closed = 1;
		uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
	}
	session_unref(s);
}

/* This device as the signer of its audit trail (the key stays in home.sec). */
static void
audit_self(const struct agent *a, struct cs_audit_self *self)
{
	memset(self, 0, sizeof(*self));
	memcpy(self->device, a->home.device_id, CS_DEVID_LEN);
	memcpy(self->practitioner, a->home.practitioner, CS_GID_LEN);
	memcpy(self->sign_pk, a->home.sign_pk, CS_AUDIT_PK_LEN);
	self->sign_sk = a->home.sec->sign_sk;
}

/*
 * Close a session: a BYE first when the transport is up and bye > 0 (or 0
 * with CS_BYE_NORMAL requested through bye = 0x100), then the handle.
 */
/* A session closed with batches in flight: the share backfill is due again. */
struct rearm_job {
	struct cs_dbw_job j;
	uint8_t peer[CS_DEVID_LEN], peer_prac[CS_GID_LEN];
	int rc;
};

static void
rearm_run(struct cs_dbw_job *job, void *ctx)
{
	struct rearm_job *x = (struct rearm_job *)job;
	struct agent *a = ctx;

	x->rc = cs_shsync_rearm(a->eng, x->peer, x->peer_prac);
}

static void
rearm_done(struct cs_dbw_job *job)
{
	struct rearm_job *x = (struct rearm_job *)job;

	if (!x->j.cancelled && x->rc < 0)
		cs_log(CS_LOG_WARNING,
		    "re-arming the share backfill after a lost session failed: %s; the shared "
		    "patients are sent again at the next share change",
		    cs_share_strerror(x->rc));
	cs_free(x);
}

static void
rearm_post(struct agent *a, int peer_idx)
{
	struct rearm_job *x = cs_calloc(1, sizeof(*x));

	if (x == NULL) {
		cs_log(CS_LOG_WARNING, "out of memory: the share backfill is not re-armed");
		return;
	}
	x->j.run = rearm_run;
	x->j.done = rearm_done;
	memcpy(x->peer, a->home.roster[peer_idx].id, CS_DEVID_LEN);
	memcpy(x->peer_prac, a->home.roster[peer_idx].practitioner, CS_GID_LEN);
	cs_dbw_post(&a->dbw, &x->j);
}

static void
session_close(struct session *s, uint32_t bye, const char *why)
{
	struct agent *a = s->a;
	char lbl[96];
	int sent_bye = 0, lost = -1, refused_m1;

	if (s->state == S_CLOSING)
		return;
	if (s->peer_idx >= 0 && a->peers[s->peer_idx].s == s) {
		a->peers[s->peer_idx].s = NULL;
		a->peers[s->peer_idx].lost_ms = cs_mono_ms();
		lost = s->peer_idx;
		cs_log(CS_LOG_INFO, "session with %s closed: %s",
		    peer_label(a, s->peer_idx, lbl, sizeof(lbl)), why);
		/* after the extraction queued before (FIFO): its todo rows are gone */
		if (s->state == S_LIVE && (s->inflight > 0 || s->extracting))
			rearm_post(a, s->peer_idx);
		ctl_peer_event(a, s->peer_idx, 0);
	} else if (why != NULL) {
		cs_log(CS_LOG_DEBUG, "connection %s closed: %s", s->addr, why);
	}
	if (bye != 0 && !s->handle_closed && cs_noise_handshake_done(&s->noise) &&
	    s->state != S_HANDSHAKE) {
		uint32_t code = bye == 0x100 ? CS_BYE_NORMAL : bye;

		if (cs_msg_encode_bye(&s->mb, code, NULL) == 0 && send_mb(s) == 0) {
			/* the last write: close once it is out */
			uv_shutdown_t *sh = cs_malloc(sizeof(*sh));

			if (sh != NULL) {
				sh->data = s;
				uv_read_stop((uv_stream_t *)&s->tcp);
				if (uv_shutdown(sh, (uv_stream_t *)&s->tcp, after_bye) == 0) {
					s->refs++;
					sent_bye = 1;
				} else {
					cs_free(sh);
				}
			}
		}
	}
	if (s->acc != NULL && !s->acc_given) {
		struct cs_audit_self self;

		/* after every job of this session already queued (FIFO) */
		s->acc_given = 1;
		audit_self(a, &self);
		(void)cs_audit_post_session_end(&a->dbw, cs_engine_handle(a->eng), &self, s->acc);
	}
	/* message 1 out, no message 2: the peer is on another epoch, or is not
	 * of this cabinet; its dialer tries the next older key (§1.6) */
	refused_m1 = s->state == S_HANDSHAKE && s->m1_sent && !s->m2_seen;
	s->state = S_CLOSING;
	session_unlink(s);
	acked_save(a);
	if (s->dialer != NULL) {
		struct dialer *d = s->dialer;

		if (refused_m1)
			d->back++;
		d->s = NULL;
		s->dialer = NULL;
		if (!a->stopping)
			dialer_schedule(d);
	}
	if (lost >= 0 && lost < CS_HOME_MAX_DEVICES && !a->stopping && !a->paused &&
	    a->mdial[lost].a != NULL && a->mdial[lost].addr.port != 0 && a->mdial[lost].s == NULL &&
	    !a->home.roster[lost].revoked) {
		/* where mDNS last saw it: redial soon, not at the next 5 s check */
		a->mdial[lost].backoff_ms = BACKOFF_MIN_MS;
		dialer_schedule(&a->mdial[lost]);
	}
	if (!sent_bye && !s->handle_closed) {
		s->handle_closed = 1;
		uv_read_stop((uv_stream_t *)&s->tcp);
		uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
	}
}

static void
audit(struct agent *a, const char *what, const uint8_t *key, const char *addr)
{
	char hex[17] = "-";

	const struct cs_roster_dev *d = key != NULL ? cs_home_roster_by_key(&a->home, key) : NULL;
	struct cs_audit_event ev = {0};
	struct cs_audit_self self;
	char detail[CS_AUDIT_DETAIL_MAX];

	if (key != NULL)
		cs_home_hex(key, 8, hex);
	cs_log(CS_LOG_NOTICE, "audit: handshake-rejected key %.16s from %s: %s", hex, addr, what);
	/* and into cs_audit, appended by the database worker */
	snprintf(detail, sizeof(detail), "key %.16s from %s: %s", hex, addr, what);
	ev.action = CS_AUDIT_HANDSHAKE;
	ev.device = d != NULL ? d->id : NULL;
	ev.detail = detail;
	audit_self(a, &self);
	if (a->eng == NULL ||
	    cs_audit_post(&a->dbw, cs_engine_handle(a->eng), &self, &ev,
	        d != NULL ? d->practitioner : NULL) != 0)
		cs_log(CS_LOG_ERR, "audit: the handshake-rejected event is not in cs_audit");
}

static int
check_remote(struct session *s)
{
	struct agent *a = s->a;
	const struct cs_roster_dev *d;
	uint8_t pk[32];

	if (cs_noise_remote_static(&s->noise, pk) != 0)
		return -1;
	d = cs_home_roster_by_key(&a->home, pk);
	if (d == NULL) {
		audit(a,
		    s->initiator ? "device not in the roster (after message 2)"
		                 : "device not in the roster (after message 3)",
		    pk, s->addr);
		return -1;
	}
	if (d->revoked) {
		audit(a,
		    s->initiator ? "device revoked (after message 2)"
		                 : "device revoked (after message 3)",
		    pk, s->addr);
		return -1;
	}
	if (memcmp(d->id, a->home.device_id, CS_DEVID_LEN) == 0) {
		audit(a, "our own key", pk, s->addr);
		return -1;
	}
	s->peer_idx = (int)(d - a->home.roster);
	return 0;
}

static int
send_hello(struct session *s)
{
	struct agent *a = s->a;
	struct cs_hello h;
	int rc;

	cs_msg_hello_init(&h);
	h.version = a->proto_max;
	h.min_version = a->proto_min;
	memcpy(h.device, a->home.device_id, CS_DEVID_LEN);
	memcpy(h.incarnation, a->incarnation, CS_MSG_INCARNATION_LEN);
	h.epoch = a->home.epoch;
	h.features = CS_RREC_FEATURE | (a->clk_off ? 0 : CS_CLOCK_FEATURE);
	memcpy(h.schema_hash, a->schema_hash, CS_MSG_SCHEMA_HASH_LEN);
	rc = cs_appschema_copy(&a->schema, &h.schema);
	if (rc == 0)
		rc = cs_msg_encode_hello(&s->mb, &h);
	cs_changeset_free(&h.schema);
	if (rc == 0 && a->proto_max > CS_PROTOCOL_VERSION)
		rc = cs_appschema_hello_extend(&s->mb); /* tests: a newer build's HELLO */
	if (rc == 0)
		rc = send_mb(s);
	return rc;
}

/* Write the next handshake message (if it is our turn). */
static int
hs_write(struct session *s)
{
	uint8_t *out;
	size_t len;
	int rc;

	if (cs_noise_action(&s->noise) != CS_NOISE_WRITE)
		return 0;
	out = cs_malloc(FRAME_BUF);
	if (out == NULL)
		return CS_ENOMEM;
	rc = cs_noise_write_message(&s->noise, NULL, 0, out + CS_FRAME_HDR_LEN,
	    FRAME_BUF - CS_FRAME_HDR_LEN, &len);
	if (rc == 0)
		rc = cs_frame_hdr(out, len);
	if (rc != 0) {
		cs_free(out);
		return rc;
	}
	rc = send_raw(s, out, len + CS_FRAME_HDR_LEN);
	if (rc == 0 && cs_noise_handshake_done(&s->noise)) {
		s->state = S_HELLO;
		rc = send_hello(s);
	}
	return rc;
}

static void
handshake_frame(struct session *s, const uint8_t *body, size_t len)
{
	size_t plen;
	int rc;

	rc = cs_noise_read_message(&s->noise, body, len, s->plain, CS_NOISE_MAX_MSG, &plen);
	if (rc == CS_NOISE_EAUTH1 && !s->initiator && !s->m1_read) {
		/* an old-epoch peer (PROTOCOL.md §1.6): each older key in turn, no DH */
		uint32_t r;

		for (r = 1; rc == CS_NOISE_EAUTH1; r++) {
			if (noise_start(s, r) != 0) {
				rc = CS_NOISE_EAUTH1;
				break;
			}
			rc = cs_noise_read_message(&s->noise, body, len, s->plain, CS_NOISE_MAX_MSG,
			    &plen);
		}
	}
	if (rc == 0 && !s->initiator)
		s->m1_read = 1;
	if (rc == 0 && s->initiator)
		s->m2_seen = 1;
	if (rc != 0) {
		if (rc == CS_NOISE_EAUTH1)
			audit(s->a, "wrong cabinet key (message 1)", NULL, s->addr);
		session_close(s, 0, cs_noise_strerror(rc));
		return;
	}
	/* initiator: after message 2; responder: after message 3 */
	if ((s->initiator && cs_noise_action(&s->noise) == CS_NOISE_WRITE) ||
	    (!s->initiator && cs_noise_handshake_done(&s->noise))) {
		if (check_remote(s) != 0) {
			session_close(s, 0, "device refused");
			return;
		}
	}
	if (cs_noise_handshake_done(&s->noise)) {
		s->state = S_HELLO;
		if (send_hello(s) != 0)
			session_close(s, 0, "cannot send HELLO");
		return;
	}
	if ((rc = hs_write(s)) != 0)
		session_close(s, 0, cs_noise_strerror(rc));
}

/* ------------------------------------------------------------ worker jobs */

struct extract_job {
	struct cs_dbw_job j;
	struct session *s;
	uint8_t peer[CS_DEVID_LEN], peer_prac[CS_GID_LEN];
	uint64_t after, gen;
	int64_t rec_after, rec_ack;
	int rec_load, rec_ack_saved;
	int count; /* also count the rows still to send (progress) */
	/* results */
	uint64_t remaining;
	int rc, more, backfill;
	int64_t rec_last;
	uint8_t *rmsg; /* RECORDS to send first, or NULL */
	size_t rlen;
	uint64_t db_version, local_dbv;
	uint32_t nrows;
	struct cs_msg_buf mb;
	char err[256];
};

static void
extract_run(struct cs_dbw_job *job, void *ctx)
{
	struct extract_job *x = (struct extract_job *)job;
	struct agent *a = ctx;
	struct cs_changeset cs;
	struct cs_stream main_stream;
	uint64_t claim_pos = 0;

	cs_changeset_init(&cs);
	memset(&main_stream, 0, sizeof(main_stream));
	if (x->count && cs_engine_count_after(a->eng, x->after, &x->remaining) != 0)
		x->remaining = 0; /* progress unknown: nothing else depends on it */
	x->rec_ack_saved = cs_shsync_peer_cursor(&a->sh, a->eng, x->peer, x->rec_load, x->after,
	    x->rec_ack, &x->rec_after);
	/* shares: records first, a newly shared patient from the start, then
	 * only what the peer's practitioner may see (agent/share_sync.h) */
	x->rc = cs_shsync_records_out(&a->sh, a->eng, x->rec_after, &x->rmsg, &x->rlen,
	    &x->rec_last, &claim_pos);
	if (x->rc == 1) {
		x->rc = 0;
		x->more = 1; /* more records first: no change yet */
		goto out;
	}
	if (x->rc == 0)
		x->rc = cs_shsync_backfill(&a->sh, a->eng, x->peer, x->peer_prac, x->after, &cs);
	if (x->rc < 0) {
		snprintf(x->err, sizeof(x->err), "share records: %s (%s)", cs_share_strerror(x->rc),
		    cs_engine_errmsg(a->eng));
		goto out;
	}
	if (x->rc == 1) {
		x->rc = 0;
		x->backfill = x->more = 1;
	} else {
		struct cs_scope sc = {x->peer_prac, NULL};

		x->more =
		    cs_engine_extract(a->eng, x->after, x->peer, &sc, CS_AGENT_BATCH_ROWS, &cs);
		/* not past the claimed rows: a patient created since waits for its claim */
		if (x->more >= 0 && cs.db_version > claim_pos)
			cs.db_version = claim_pos > x->after ? claim_pos : x->after;
	}
	if (x->more < 0) {
		x->rc = x->more;
		snprintf(x->err, sizeof(x->err), "%s", cs_engine_errmsg(a->eng));
		goto out;
	}
	if (x->s->filter) {
		struct cs_changeset f;

		cs_changeset_init(&f);
		x->rc = cs_appschema_filter(&cs, &x->s->peer_schema, &f, NULL, NULL);
		cs_changeset_free(&cs);
		cs = f;
		if (x->rc != 0) {
			snprintf(x->err, sizeof(x->err), "filtering for the peer's schema: %s",
			    cs_strerror(x->rc));
			goto out;
		}
	}
	x->db_version = cs.db_version;
	x->nrows = cs.nrows;
	(void)cs_audit_count(x->s->acc, &cs, CS_AUDIT_SYNC_OUT); /* lost counts only */
	x->local_dbv = cs_engine_db_version(a->eng);
	if (cs.nrows > 0 || cs.db_version > x->after) {
		x->rc = cs_msg_encode_changes(&x->mb, &main_stream, &cs);
		if (x->rc != 0)
			snprintf(x->err, sizeof(x->err), "%s", cs_msg_strerror(x->rc));
	}
out:
	cs_changeset_free(&cs);
}

/* Set (rc != 0) or clear the database error the status shows. */
static void
db_error_set(struct agent *a, int rc, const char *what)
{
	if (rc == 0) {
		if (a->db_error[0] != '\0') {
			a->db_error[0] = '\0';
			cs_log(CS_LOG_INFO, "the database works again");
			cs_control_poke(&a->ctl);
		}
		return;
	}
	if (rc != CS_SQL_EBUSY && rc != CS_SQL_ESQLITE && rc != CS_SQL_EFULL && rc != CS_EIO &&
	    rc != CS_ENOMEM)
		return; /* not the database's state (a refused batch, a closed session) */
	snprintf(a->db_error, sizeof(a->db_error), "%s: %s", what,
	    rc == CS_SQL_EBUSY ? "the database is locked by another program" : cs_sql_strerror(rc));
	cs_control_poke(&a->ctl);
}

static void
extract_done(struct cs_dbw_job *job)
{
	struct extract_job *x = (struct extract_job *)job;
	struct session *s = x->s;
	struct agent *a = s->a;

	s->extracting = 0;
	if (x->j.cancelled || s->state != S_LIVE)
		goto out;
	if (x->rc != 0) {
		cs_log(CS_LOG_ERR, "extracting changes failed: %s", x->err);
		db_error_set(a, x->rc, "cannot read the changes to send");
		session_close(s, CS_BYE_INTERNAL, "extract failed");
		goto out;
	}
	db_error_set(a, 0, NULL);
	if (x->local_dbv > a->local_dbv)
		a->local_dbv = x->local_dbv;
	if (x->rmsg != NULL) {
		if (send_app(s, x->rmsg, x->rlen) != 0) {
			session_close(s, 0, "send failed");
			goto out;
		}
	}
	s->rec_sent = x->rec_last;
	s->rec_loaded = 1;
	if (x->rec_ack_saved)
		s->rec_saved = x->rec_ack;
	progress_out(s, x->count, x->remaining, x->nrows, x->more);
	if (x->mb.len > 0) {
		if (send_app(s, x->mb.p, x->mb.len) != 0) {
			session_close(s, 0, "send failed");
			goto out;
		}
		s->rec_q[(s->rec_qh + s->inflight) % CS_AGENT_INFLIGHT] = s->rec_sent;
		s->inflight++;
		s->send_after = x->db_version;
		a->peers[s->peer_idx].rows_out += x->nrows;
	}
	s->more = x->more;
	if (!x->more)
		s->sent_gen = x->gen;
	pump(s);
out:
	cs_msg_buf_free(&x->mb);
	cs_free(x->rmsg);
	cs_free(x);
	session_unref(s);
}

/*
 * The sender's progress of a long sync (the first run of a session: an
 * initial sync, or a peer back from a long absence): counted once, logged
 * every 10 %, shown by `cabsync status`.
 */
static void
progress_out(struct session *s, int counted, uint64_t remaining, uint32_t nrows, int more)
{
	struct agent *a = s->a;
	struct peerinfo *pi = &a->peers[s->peer_idx];
	unsigned pct;
	char lbl[96];

	if (counted) {
		pi->out_total = remaining;
		pi->out_done = 0;
		pi->out_pct_logged = 0;
		if (remaining >= PROGRESS_MIN)
			cs_log(CS_LOG_INFO, "sync to %s: %llu rows to send",
			    peer_label(a, s->peer_idx, lbl, sizeof(lbl)),
			    (unsigned long long)remaining);
	}
	if (pi->out_total == 0 || pi->out_done >= pi->out_total)
		return;
	pi->out_done += nrows;
	if (pi->out_done > pi->out_total || !more)
		pi->out_done = pi->out_total; /* rows changed meanwhile count once */
	if (pi->out_total < PROGRESS_MIN)
		return;
	pct = (unsigned)(pi->out_done * 100 / pi->out_total);
	if (pct / 10 > pi->out_pct_logged / 10 || pi->out_done == pi->out_total) {
		pi->out_pct_logged = pct;
		cs_log(CS_LOG_INFO, "sync to %s: %llu / %llu rows sent (%u %%)",
		    peer_label(a, s->peer_idx, lbl, sizeof(lbl)), (unsigned long long)pi->out_done,
		    (unsigned long long)pi->out_total, pct);
	}
}

static void
pump(struct session *s)
{
	struct agent *a = s->a;
	struct extract_job *x;

	if (s->state != S_LIVE || !s->have_cursor || a->paused || a->stopping || s->extracting ||
	    s->inflight >= CS_AGENT_INFLIGHT || (!s->more && s->sent_gen == a->local_gen))
		return;
	x = cs_calloc(1, sizeof(*x));
	if (x == NULL)
		return;
	x->j.run = extract_run;
	x->j.done = extract_done;
	x->s = s;
	memcpy(x->peer, a->home.roster[s->peer_idx].id, CS_DEVID_LEN);
	memcpy(x->peer_prac, a->home.roster[s->peer_idx].practitioner, CS_GID_LEN);
	x->after = s->send_after;
	x->rec_after = s->rec_sent;
	x->rec_load = !s->rec_loaded;
	x->rec_ack = s->rec_acked > s->rec_saved ? s->rec_acked : 0;
	x->gen = a->local_gen;
	x->count = !s->counted;
	s->counted = 1;
	cs_msg_buf_init(&x->mb, 0);
	s->extracting = 1;
	s->refs++;
	cs_dbw_post(&a->dbw, &x->j);
}

static void
pump_all(struct agent *a)
{
	struct session *s;

	for (s = a->sessions; s != NULL; s = s->next)
		pump(s);
}

static void
local_changed(struct agent *a)
{
	a->local_gen++;
	pump_all(a);
	ctl_refresh(a); /* db_version and conflicts for the status, even offline */
	if (!a->stopping && a->dbw.started) /* share events waiting for their rows */
		cs_ctl_share_events(&a->dbw, a->eng, &a->sh, &a->ctl);
}

/* ------------------------------------------------- local state, acked file */

struct acked_job {
	struct cs_dbw_job j;
	char path[CS_HOME_PATH_MAX];
	uint8_t ids[CS_HOME_MAX_DEVICES][CS_DEVID_LEN];
	uint64_t acked[CS_HOME_MAX_DEVICES];
	int known[CS_HOME_MAX_DEVICES];
	size_t n;
};

static void
acked_run(struct cs_dbw_job *job, void *ctx)
{
	struct acked_job *x = (struct acked_job *)job;

	(void)ctx;
	if (cs_acked_save(x->path, (const uint8_t(*)[CS_DEVID_LEN])x->ids, x->n, x->acked,
	        x->known) != 0)
		cs_log(CS_LOG_WARNING, "cannot write %s", x->path);
}

static void
acked_done(struct cs_dbw_job *job)
{
	cs_free(job);
}

static void
acked_fill(struct agent *a, struct acked_job *x)
{
	size_t i;

	x->n = a->home.nroster;
	for (i = 0; i < x->n; i++) {
		memcpy(x->ids[i], a->home.roster[i].id, CS_DEVID_LEN);
		x->acked[i] = a->peers[i].acked;
		x->known[i] = a->peers[i].acked_known;
	}
}

/* Keep the peers' acknowledgements in HOME/acked (on the worker: fsync). */
static void
acked_save(struct agent *a)
{
	struct acked_job *x;

	if (!a->acked_dirty || a->stopping || !a->dbw.started)
		return;
	x = cs_calloc(1, sizeof(*x));
	if (x == NULL)
		return;
	if (cs_home_path(&a->home, "acked", x->path, sizeof(x->path)) != 0) {
		cs_free(x);
		return;
	}
	acked_fill(a, x);
	a->acked_dirty = 0;
	x->j.run = acked_run;
	x->j.done = acked_done;
	cs_dbw_post(&a->dbw, &x->j);
}

struct apply_job {
	struct cs_dbw_job j;
	struct session *s;
	uint8_t peer[CS_DEVID_LEN];
	struct cs_msg m;
	int rc;
	struct cs_apply_result res;
	char err[256];
};

static void
save_state(struct agent *a)
{
	cs_engine_incarnation(a->eng, a->st->incarnation);
	a->st->has_incarnation = 1;
	a->st->db_version = cs_engine_db_version(a->eng);
	if (cs_devstate_save(a->st) != 0)
		cs_log(CS_LOG_ERR, "cannot write the device state file %s: %s", a->st->path,
		    strerror(errno));
}

/*
 * Leave the app room (issue 5 §2, docs/OPERATIONS.md): when the app committed
 * lately (PRAGMA data_version moved), the database stays free before each
 * apply transaction as long as the last one held it and at least
 * POLITE_GAP_MS, longer than the longest sleep of SQLite's busy handler
 * (25 ms), so that an app waiting with a busy timeout of 100 ms always finds
 * it free at one of its retries; otherwise a quarter of that (an initial
 * sync into a database nobody writes goes at full speed). A transaction over APPLY_HOLD_MS
 * halves the rows of the next one (a big batch is applied in parts), a quick
 * one doubles them back, up to the whole batch.
 */
static void
apply_pause(struct agent *a)
{
	int64_t gap, want, now = cs_mono_ms();
	uint64_t dv = 0;

	if (cs_engine_data_version(a->eng, &dv) == 0 && dv != a->last_dv) {
		if (a->last_dv != 0)
			a->app_active_until = now + APP_ACTIVE_MS;
		a->last_dv = dv;
	}
	if (now < a->app_active_until)
		want = a->apply_dur_ms > POLITE_GAP_MS ? a->apply_dur_ms : POLITE_GAP_MS;
	else
		want = a->apply_dur_ms / 4 + 1; /* nobody writing: a short breath */
	gap = now - a->apply_end_ms;
	if (gap < want) {
		struct timespec pause = {0, (long)(want - gap) * 1000000L};

		nanosleep(&pause, NULL);
	}
}

/* Apply rows [first, first + n) of cs in one transaction (retried while busy). */
static int
apply_part(struct agent *a, struct apply_job *x, const struct cs_changeset *cs, uint32_t first,
    uint32_t n)
{
	struct timespec ts = {0, BUSY_RETRY_MS * 1000000L};
	struct cs_changeset part;
	const struct cs_changeset *use = cs;
	struct cs_apply_result r;
	int64_t giveup;
	int rc;

	cs_changeset_init(&part);
	if (n < cs->nrows) {
		rc = cs_appschema_slice(cs, first, n, &part);
		if (rc != 0) {
			snprintf(x->err, sizeof(x->err), "splitting a batch: %s", cs_strerror(rc));
			goto out;
		}
		use = &part;
	}
	apply_pause(a);
	a->apply_start_ms = cs_mono_ms();
	giveup = a->apply_start_ms + BUSY_GIVEUP_MS;
	for (;;) {
		memset(&r, 0, sizeof(r));
		rc = cs_engine_apply(a->eng, use, x->peer, &r);
		if (rc != CS_SQL_EBUSY || cs_mono_ms() >= giveup)
			break;
		nanosleep(&ts, NULL);
	}
	a->apply_end_ms = cs_mono_ms();
	a->apply_dur_ms = a->apply_end_ms - a->apply_start_ms;
	if (a->apply_dur_ms > 100)
		a->apply_dur_ms = 100;
	(void)cs_engine_data_version(a->eng, &a->last_dv); /* ours do not move it */
	/* halved only while the app writes: else nobody waits for the lock,
	 * and small parts cost the initial sync (a load spike made them 16) */
	if (a->apply_dur_ms > APPLY_HOLD_MS && a->apply_rows > 16 &&
	    a->apply_end_ms < a->app_active_until)
		a->apply_rows /= 2;
	else if (a->apply_dur_ms < APPLY_HOLD_MS / 4 && a->apply_rows < CS_AGENT_APPLY_ROWS)
		a->apply_rows *= 2;
	if (rc != 0) {
		snprintf(x->err, sizeof(x->err), "%s", cs_engine_errmsg(a->eng));
		goto out;
	}
	x->res.applied += r.applied;
	x->res.ignored += r.ignored;
	x->res.conflicts += r.conflicts;
	x->res.held += r.held;
	x->res.quarantined += r.quarantined;
	x->res.released += r.released;
	x->res.refused += r.refused;
	x->res.reasserted += r.reasserted;
out:
	cs_changeset_free(&part);
	return rc;
}

/*
 * Durable before the ACK, without making the app wait for the disk: the
 * agent's connection commits with synchronous=NORMAL (its transactions hold
 * the write lock for their CPU time only), then, lock released, one fsync of
 * the -wal file makes every frame committed so far durable (fsync works on
 * the file, whichever descriptor wrote it). Frames a checkpoint already
 * moved into the database were synced by that checkpoint (SQLite, NORMAL:
 * "the database file is synchronized after each completed checkpoint").
 * Without a -wal file (checkpointed and removed) there is nothing to sync.
 */
static int
wal_sync(struct agent *a)
{
	char path[CS_HOME_PATH_MAX + 8];
	int fd, rc = 0;

	if (a->full_sync)
		return 0; /* the engine synced at commit */
	snprintf(path, sizeof(path), "%s-wal", a->home.db);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : CS_EIO;
	if (fsync(fd) != 0)
		rc = CS_EIO;
	close(fd);
	return rc;
}

static void
apply_run(struct cs_dbw_job *job, void *ctx)
{
	struct apply_job *x = (struct apply_job *)job;
	struct agent *a = ctx;
	struct cs_changeset *cs = &x->m.u.changes.cs;
	struct cs_devpeer *p;

	if (cs->nrows > 0) {
		uint32_t i, n;

		memset(&x->res, 0, sizeof(x->res));
		/* applies commit without fsync; wal_sync() syncs before the ACK;
		 * every other write of the agent (audit) keeps synchronous=FULL */
		a->full_sync = cs_engine_set_full_sync(a->eng, 0) != 0;
		for (i = 0; i < cs->nrows; i += n) {
			n = a->apply_rows;
			if (n > cs->nrows - i)
				n = cs->nrows - i;
			x->rc = apply_part(a, x, cs, i, n);
			if (x->rc != 0)
				break;
		}
		(void)cs_engine_set_full_sync(a->eng, 1);
		if (x->rc != 0)
			return;
		if ((x->rc = wal_sync(a)) != 0) {
			snprintf(x->err, sizeof(x->err), "cannot fsync %s-wal: %s", a->home.db,
			    strerror(errno));
			return;
		}
		(void)cs_audit_count(x->s->acc, cs, CS_AUDIT_SYNC_IN); /* lost counts only */
		if (x->res.refused > 0)
			cs_shsync_refused(&a->sh, a->eng, cs, x->peer, x->res.reasserted);
	}
	p = cs_devstate_peer(a->st, x->peer, 1);
	if (p == NULL) {
		x->rc = CS_ERANGE;
		snprintf(x->err, sizeof(x->err), "too many peers in the device state file");
		return;
	}
	if (cs->db_version > p->cursor) {
		p->cursor = cs->db_version;
		/* fsync + rename: durable before the ACK. A batch without rows
		 * changed nothing here: its cursor is saved with the next one (or
		 * at exit); lost in a crash, the peer sends that empty range again */
		if (cs->nrows > 0)
			save_state(a);
	}
}

static void
apply_done(struct cs_dbw_job *job)
{
	struct apply_job *x = (struct apply_job *)job;
	struct session *s = x->s;
	struct agent *a = s->a;
	struct peerinfo *pi;
	struct cs_stream st;
	char lbl[96];

	s->applying--;
	if (s->read_paused && s->applying < CS_AGENT_INFLIGHT && s->state != S_CLOSING &&
	    !s->handle_closed) {
		s->read_paused = 0;
		uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
	}
	if (x->j.cancelled || s->peer_idx < 0)
		goto out;
	pi = &a->peers[s->peer_idx];
	if (x->rc != 0) {
		cs_log(CS_LOG_ERR, "applying a batch from %s failed: %s",
		    peer_label(a, s->peer_idx, lbl, sizeof(lbl)), x->err);
		db_error_set(a, x->rc, "cannot apply received changes");
		if (s->state != S_CLOSING)
			session_close(s, x->rc == CS_SQL_EBATCH ? CS_BYE_REFUSED : CS_BYE_INTERNAL,
			    "apply failed");
		goto out;
	}
	db_error_set(a, 0, NULL);
	if (x->m.u.changes.cs.db_version > pi->recv_cursor)
		pi->recv_cursor = x->m.u.changes.cs.db_version;
	pi->rows_in += x->m.u.changes.cs.nrows;
	pi->last_sync_ms = now_ms();
	if (pi->in_rows / RECV_LOG_EVERY !=
	    (pi->in_rows + x->m.u.changes.cs.nrows) / RECV_LOG_EVERY)
		cs_log(CS_LOG_INFO, "sync from %s: %llu rows received",
		    peer_label(a, s->peer_idx, lbl, sizeof(lbl)),
		    (unsigned long long)(pi->in_rows + x->m.u.changes.cs.nrows));
	pi->in_rows += x->m.u.changes.cs.nrows;
	pi->last_in_ms = cs_mono_ms();
	if (x->res.conflicts > 0) {
		cs_log(CS_LOG_NOTICE, "%u concurrent edit(s) from %s recorded in cs_conflicts",
		    x->res.conflicts, peer_label(a, s->peer_idx, lbl, sizeof(lbl)));
		ctl_refresh(a); /* pushes the "conflict" event */
	}
	cs_control_poke(&a->ctl);
	if (s->state == S_LIVE) {
		memset(&st, 0, sizeof(st));
		if (cs_msg_encode_ack(&s->mb, &st, x->m.u.changes.cs.db_version) != 0 ||
		    send_mb(s) != 0)
			session_close(s, 0, "cannot send ACK");
	}
	if (x->res.reasserted > 0)
		cs_log(CS_LOG_NOTICE,
		    "%u refused row(s) from %s: the valid value is written again (late revoke)",
		    x->res.reasserted, peer_label(a, s->peer_idx, lbl, sizeof(lbl)));
	if (x->res.applied > 0 || x->res.released > 0 || x->res.reasserted > 0) {
		/* rows only of the batch's origin (nothing released, rewritten or
		 * in conflict) while more of its batches wait: nothing new for s,
		 * which was up to date; its last batch extracts for it as before
		 * (its ACK of our cursor keeps `pending` right). Without this,
		 * each batch of an initial sync made an extraction back to the
		 * sender that found nothing but its own rows. */
		int back = s->applying > 0 && !s->more && !s->extracting &&
		    s->sent_gen == a->local_gen && x->res.released == 0 && x->res.reasserted == 0 &&
		    x->res.conflicts == 0;

		a->local_gen++;
		if (back)
			s->sent_gen = a->local_gen;
		pump_all(a); /* forward to the other peers at once */
		ctl_refresh(a);
	}
out:
	cs_msg_free(&x->m);
	cs_free(x);
	session_unref(s);
}

/* ------------------------------------------------------------------ clock */
/*
 * This PC's clock against the cabinet's (agent/clockoff.h, docs/MERGE.md
 * "Far-future clock"): CLOCK messages (wire/clockmsg.h) with every peer that
 * speaks them, at session start and every CLOCK_EVERY_MS; the estimate goes
 * to the engine's future bound, raises the hlc floor of a late PC (so that
 * its own writes carry the cabinet's time) and is shown in the status.
 */
#define CLOCK_EVERY_MS 60000 /* a CLOCK to each peer this often */
#define CLOCK_FLOOR_MS 10000 /* a late PC's hlc floor is raised this often */
#define CLOCK_MOVE_MS  1000  /* a change of the correction worth a push */

struct clock_job {
	struct cs_dbw_job j;
	struct agent *a;
	int64_t corr;     /* cs_engine_set_clock_offset() */
	uint64_t floor;   /* hlc floor to raise to, 0 none */
	int rc, released; /* release of held rows */
};

static void
clock_run(struct cs_dbw_job *job, void *ctx)
{
	struct clock_job *x = (struct clock_job *)job;
	struct agent *a = ctx;
	struct cs_apply_result res;

	cs_engine_set_clock_offset(a->eng, x->corr);
	/* the triggers stamp max(wall clock, floor + 1): a late PC's writes
	 * then carry the cabinet's time, not its own (docs/MERGE.md) */
	if (x->floor != 0)
		(void)cs_share_seen_hlc(cs_engine_handle(a->eng), x->floor);
	memset(&res, 0, sizeof(res));
	x->rc = cs_engine_release_held(a->eng, &res);
	x->released = (int)res.released;
}

static void
clock_done(struct cs_dbw_job *job)
{
	struct clock_job *x = (struct clock_job *)job;
	struct agent *a = x->a;

	a->clk_busy = 0;
	if (!x->j.cancelled && x->released > 0) {
		cs_log(CS_LOG_INFO, "%d held row(s) applied with the cabinet's clock", x->released);
		local_changed(a); /* they travel on to the other peers */
	}
	cs_free(x);
}

static int
clock_counts(void *ctx, const uint8_t dev[CS_DEVID_LEN])
{
	struct agent *a = ctx;
	size_t i;

	for (i = 0; i < a->home.nroster; i++)
		if (memcmp(a->home.roster[i].id, dev, CS_DEVID_LEN) == 0)
			return !a->home.roster[i].revoked;
	return 0;
}

/* New estimate: tell the user if the clock is off, push it to the engine. */
static void
clock_update(struct agent *a, int floor_due)
{
	struct cs_clockoff_est *e = &a->clk_est;
	struct clock_job *x;
	int64_t off, d;
	char how[48];

	cs_clockoff_estimate(&a->clk, now_ms(), cs_mono_ms(), clock_counts, a, e);
	off = e->shown_ms;
	if ((off > CS_CLOCKOFF_WARN_MS || off < -CS_CLOCKOFF_WARN_MS) &&
	    (!a->clk_told || a->clk_said - off > 30000 || off - a->clk_said > 30000 ||
	        a->clk_said_maj != e->majority)) {
		/* off > 0: the others are ahead, this PC is late */
		cs_clockoff_describe(off, how, sizeof(how));
		if (!e->majority)
			cs_log(CS_LOG_WARNING,
			    "this PC's clock is %s compared with %s (%d other PC(s) measured, no "
			    "majority): cabsync cannot tell which clock is wrong; check the clocks "
			    "(date and time settings, or NTP); meanwhile it follows the later one",
			    how, e->npeers == 1 ? "the other PC's" : "half of the others",
			    e->npeers);
		else if (off > 0)
			cs_log(CS_LOG_WARNING,
			    "this PC's clock is %s compared with the cabinet (%d other PC(s)): "
			    "fix the clock (date and time settings, or NTP); meanwhile cabsync "
			    "accepts the others' changes with the cabinet's time%s",
			    how, e->npeers,
			    off > CS_CLOCKOFF_CAP_MS ? " up to 1 h ahead only" : "");
		else
			cs_log(CS_LOG_WARNING,
			    "this PC's clock is %s compared with the cabinet (%d other PC(s)): "
			    "fix the clock (date and time settings, or NTP); until then changes "
			    "made here more than 5 min ahead wait on the other PCs",
			    how, e->npeers);
		a->clk_told = 1;
		a->clk_said = off;
		a->clk_said_maj = e->majority;
		cs_control_poke(&a->ctl);
	} else if (a->clk_told && off <= CS_CLOCKOFF_WARN_MS / 2 &&
	    off >= -CS_CLOCKOFF_WARN_MS / 2) {
		cs_log(CS_LOG_NOTICE, "this PC's clock is in time with the cabinet again");
		a->clk_told = 0;
		cs_control_poke(&a->ctl);
	}
	d = e->correction_ms - a->clk_pushed;
	if (a->clk_busy || a->stopping || !a->dbw.started)
		return;
	if (d < CLOCK_MOVE_MS && d > -CLOCK_MOVE_MS && !floor_due)
		return;
	if ((x = cs_calloc(1, sizeof(*x))) == NULL)
		return; /* next tick */
	x->corr = e->correction_ms;
	if (x->corr >= CS_CLOCKOFF_WARN_MS)
		x->floor = CS_HLC_MAKE((uint64_t)(now_ms() + x->corr), 0);
	x->j.run = clock_run;
	x->j.done = clock_done;
	x->a = a;
	a->clk_busy = 1;
	a->clk_pushed = x->corr;
	a->clk_push_mono = cs_mono_ms();
	cs_dbw_post(&a->dbw, &x->j);
}

static void
send_clock(struct session *s)
{
	struct cs_clockmsg m;
	uint8_t buf[CS_CLOCK_MAX_LEN];
	size_t len;
	int64_t mono = cs_mono_ms();

	if (s->state != S_LIVE || !s->peer_clock)
		return;
	m.now = (uint64_t)now_ms();
	m.echo = s->clk_now;
	m.held = s->clk_now != 0 && mono > s->clk_rx_mono ? (uint64_t)(mono - s->clk_rx_mono) : 0;
	s->clk_tx_mono = mono;
	if (cs_clockmsg_encode(&m, buf, sizeof(buf), &len) != 0 || send_app(s, buf, len) != 0)
		session_close(s, CS_BYE_INTERNAL, "cannot send CLOCK");
}

static void
clock_frame(struct session *s, const uint8_t *msg, size_t len)
{
	struct agent *a = s->a;
	struct cs_clockmsg m;
	int64_t off, rtt, wall = now_ms(), mono = cs_mono_ms();
	struct peerinfo *pi;
	char lbl[96], how[48];
	int rc;

	if (s->state != S_LIVE) {
		session_close(s, CS_BYE_UNEXPECTED, "CLOCK before HELLO");
		return;
	}
	if ((rc = cs_clockmsg_decode(msg, len, &m)) != 0) {
		cs_log(CS_LOG_WARNING, "malformed CLOCK from %s", s->addr);
		session_close(s, CS_BYE_MALFORMED, "malformed message");
		return;
	}
	if (s->keymode)
		return;
	s->clk_now = m.now;
	s->clk_rx_mono = mono;
	if (m.echo == 0) {
		/* its first: answer at once, so that it gets a sample too */
		send_clock(s);
		return;
	}
	if (cs_clockmsg_sample(&m, (uint64_t)wall, &off, &rtt) != 0)
		return; /* a clock stepped meanwhile: the next one */
	(void)cs_clockoff_put(&a->clk, a->home.roster[s->peer_idx].id, off, rtt, wall, mono);
	pi = &a->peers[s->peer_idx];
	if ((off > CS_CLOCKOFF_WARN_MS || off < -CS_CLOCKOFF_WARN_MS) && !pi->clk_told) {
		/* off > 0: the peer's clock is ahead of ours */
		cs_clockoff_describe(-off, how, sizeof(how));
		cs_log(CS_LOG_NOTICE,
		    "%s's clock is %s compared with this PC's (round trip %lld ms)",
		    peer_label(a, s->peer_idx, lbl, sizeof(lbl)), how, (long long)rtt);
		pi->clk_told = 1;
	} else if (off <= CS_CLOCKOFF_WARN_MS / 2 && off >= -CS_CLOCKOFF_WARN_MS / 2) {
		pi->clk_told = 0;
	}
	clock_update(a, 0);
}

/* Every tick: periodic CLOCKs, a late PC's floor, samples growing old. */
static void
clock_tick(struct agent *a)
{
	struct session *s, *next;
	int64_t mono = cs_mono_ms();

	for (s = a->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == S_LIVE && s->peer_clock && !s->keymode &&
		    mono - s->clk_tx_mono >= CLOCK_EVERY_MS)
			send_clock(s);
	}
	clock_update(a,
	    a->clk_est.correction_ms >= CS_CLOCKOFF_WARN_MS &&
	        mono - a->clk_push_mono >= CLOCK_FLOOR_MS);
}

/* ----------------------------------------------------------- messages */

static void
on_hello(struct session *s, const struct cs_hello *h)
{
	struct agent *a = s->a;
	struct peerinfo *pi = &a->peers[s->peer_idx];
	struct session *old;
	struct cs_cursor c;
	struct cs_cursor_entry e;
	const uint8_t *me = a->home.device_id, *them = a->home.roster[s->peer_idx].id;
	uint32_t version;
	char lbl[96];
	int keep_new;

	if (s->state != S_HELLO) {
		session_close(s, CS_BYE_UNEXPECTED, "HELLO out of place");
		return;
	}
	/* PROTOCOL.md §5: v = min(ours, theirs), spoken by both */
	version = h->version < a->proto_max ? h->version : a->proto_max;
	if (version < h->min_version || version < a->proto_min) {
		if (!pi->version_said)
			cs_log(CS_LOG_NOTICE,
			    "%s speaks protocol %u..%u, this agent %u..%u: no session until one of "
			    "the two is upgraded (the others relay its changes)",
			    peer_label(a, s->peer_idx, lbl, sizeof(lbl)), h->min_version,
			    h->version, a->proto_min, a->proto_max);
		pi->version_said = 1;
		session_close(s,
		    version < h->min_version ? CS_BYE_VERSION_TOO_NEW : CS_BYE_VERSION_TOO_OLD,
		    "no common protocol version");
		return;
	}
	if (memcmp(h->device, them, CS_DEVID_LEN) != 0) {
		audit(a, "HELLO device differs from the roster entry of its key",
		    a->home.roster[s->peer_idx].dh_pk, s->addr);
		session_close(s, CS_BYE_UNAUTHORIZED, "device id mismatch");
		return;
	}
	s->peer_roster = (h->features & CS_RREC_FEATURE) != 0;
	s->peer_clock = (h->features & CS_CLOCK_FEATURE) != 0 && !a->clk_off;
	if (s->dialer != NULL)
		s->dialer->back = 0; /* next time, the current key first */
	if (h->epoch != a->home.epoch || s->epoch != a->home.epoch || !s->key_current) {
		/* an old-epoch session: roster and keys only, then close (§1.6) */
		if (!s->peer_roster) {
			session_close(s, CS_BYE_EPOCH, "cabinet key epoch mismatch");
			return;
		}
		s->keymode = 1;
		s->state = S_LIVE;
		cs_log(CS_LOG_INFO,
		    "session with %s on key epoch %u (mine %u, theirs %llu): roster and keys only",
		    peer_label(a, s->peer_idx, lbl, sizeof(lbl)), (unsigned)s->epoch,
		    (unsigned)a->home.epoch, (unsigned long long)h->epoch);
		send_roster(s);
		return;
	}
	old = pi->s;
	if (old != NULL && old != s) {
		/* DESIGN.md: the session initiated by the lower device id stays */
		const uint8_t *init_new = s->initiator ? me : them;

		keep_new = memcmp(init_new, memcmp(me, them, CS_DEVID_LEN) < 0 ? me : them,
		               CS_DEVID_LEN) == 0;
		/* nothing heard on the old one for a while: the peer dialed again
		 * because it lost it (a stall, a restart), not a crossed dial */
		if (now_ms() - old->last_rx_ms >= STALL_MS)
			keep_new = 1;
		if (!keep_new) {
			session_close(s, CS_BYE_DUPLICATE, "duplicate session");
			return;
		}
		pi->s = NULL;
		session_close(old, CS_BYE_DUPLICATE, "duplicate session");
	}
	pi->s = s;
	s->state = S_LIVE;
	ctl_peer_event(a, s->peer_idx, 1);
	/* back after an outage (partition, cut): a device that published
	 * meanwhile may not see us for up to an hour, as avahi's querier backs
	 * off; a new instance is announced at once (docs/DISCOVERY.md §4) */
	if (pi->lost_ms != 0 && cs_mono_ms() - pi->lost_ms >= STALL_MS && a->mdns != NULL &&
	    (a->republished_ms == 0 || cs_mono_ms() - a->republished_ms >= REPUBLISH_MS)) {
		a->republished_ms = cs_mono_ms();
		if (cs_mdns_republish(a->mdns) == 0)
			cs_log(CS_LOG_INFO, "mDNS: %s is back after %lld s: published again",
			    peer_label(a, s->peer_idx, lbl, sizeof(lbl)),
			    (long long)((cs_mono_ms() - pi->lost_ms) / 1000));
	}
	pi->version_said = 0;
	pi->out_total = pi->out_done = pi->in_rows = 0;
	if (cs_appschema_stated(h->schema_hash) &&
	    sodium_memcmp(h->schema_hash, a->schema_hash, CS_APPSCHEMA_HASH_LEN) != 0) {
		/* the message is freed after this call: keep its dictionary */
		s->peer_schema = h->schema;
		cs_changeset_init((struct cs_changeset *)&h->schema);
		s->filter = 1;
		cs_log(CS_LOG_NOTICE,
		    "%s runs another app schema: syncing the tables and columns both track",
		    peer_label(a, s->peer_idx, lbl, sizeof(lbl)));
	}
	if (s->acc == NULL && (s->acc = cs_calloc(1, sizeof(*s->acc))) != NULL)
		cs_audit_acc_init(s->acc, them, a->home.roster[s->peer_idx].practitioner);
	snprintf(pi->addr, sizeof(pi->addr), "%s", s->addr);
	if (s->dialer != NULL) {
		char id[2 * CS_DEVID_LEN + 1];

		s->dialer->backoff_ms = BACKOFF_MIN_MS;
		s->dialer->peer_idx = s->peer_idx;
		cs_home_hex(them, CS_DEVID_LEN, id);
		if (cs_addrcache_set(&a->cache, id, &s->dialer->addr, now_ms() / 1000) == 0)
			cache_save(a);
	}
	cs_log(CS_LOG_INFO, "session with %s up (%s, %s, protocol %u)",
	    peer_label(a, s->peer_idx, lbl, sizeof(lbl)), s->addr,
	    s->initiator ? "outgoing" : "incoming", version);
	memset(&e, 0, sizeof(e));
	e.stream.kind = CS_STREAM_MAIN;
	e.after = pi->recv_cursor;
	c.v = &e;
	c.n = 1;
	if (cs_msg_encode_cursor(&s->mb, &c) != 0 || send_mb(s) != 0) {
		session_close(s, 0, "cannot send CURSOR");
		return;
	}
	if (s->peer_clock)
		send_clock(s);
	if (s->peer_roster && s->state == S_LIVE)
		send_roster(s);
}

/* ------------------------------------------------- roster and key delivery */

static void
send_roster(struct session *s)
{
	uint8_t *m = NULL;
	size_t len;

	if (s->state == S_CLOSING || cs_roster_msg(&s->a->home, &m, &len) != 0 ||
	    send_app(s, m, len) != 0)
		session_close(s, CS_BYE_INTERNAL, "cannot send ROSTER");
	cs_free(m);
}

/* KEYS: every vouched key, sealed to the peer, if it is an active device. */
static void
send_keys(struct session *s)
{
	struct agent *a = s->a;
	const struct cs_roster_dev *d;
	uint8_t *m = NULL;
	size_t len;
	int rc;

	if (s->state == S_CLOSING || s->peer_idx < 0)
		return;
	d = &a->home.roster[s->peer_idx];
	if (d->revoked)
		return;
	rc = cs_roster_keys_msg(&a->home, d->dh_pk, &m, &len);
	if (rc == 0)
		rc = send_app(s, m, len);
	cs_free(m);
	if (rc != 0)
		session_close(s, CS_BYE_INTERNAL, "cannot send KEYS");
	else
		s->sent_keys = 1;
}

struct refused_ctx {
	struct session *s;
	size_t n;
};

/* A record of a peer's ROSTER that the rules refuse: logged and audited. */
static void
on_record_refused(void *ctx, const struct cs_rrec *r, int why)
{
	struct refused_ctx *rc = ctx;
	struct agent *a = rc->s->a;
	struct cs_audit_event ev = {0};
	struct cs_audit_self self;
	char detail[CS_AUDIT_DETAIL_MAX], dev[17] = "-", by[17] = "-", lbl[96];

	rc->n++;
	if (r != NULL) {
		uint8_t hash[CS_RREC_HASH_LEN];
		size_t i;

		if (cs_rrec_hash(r, hash) == 0) {
			for (i = 0; i < a->nrefused && i < 32; i++)
				if (memcmp(a->refused[i], hash, CS_RREC_HASH_LEN) == 0)
					return; /* every session sends it again: said once */
			memcpy(a->refused[a->nrefused++ % 32], hash, CS_RREC_HASH_LEN);
		}
		cs_home_hex(r->device, 8, dev);
		cs_home_hex(r->signer, 8, by);
	}
	cs_log(CS_LOG_NOTICE,
	    "audit: roster-record-refused from %s: record about %s signed by %s: %s",
	    peer_label(a, rc->s->peer_idx, lbl, sizeof(lbl)), dev, by, cs_roster_strerror(why));
	snprintf(detail, sizeof(detail), "roster record about %.16s signed by %.16s refused: %s",
	    dev, by, cs_roster_strerror(why));
	ev.action = CS_AUDIT_REFUSED;
	ev.device = rc->s->peer_idx >= 0 ? a->home.roster[rc->s->peer_idx].id : NULL;
	ev.detail = detail;
	audit_self(a, &self);
	if (a->eng != NULL)
		(void)cs_audit_post(&a->dbw, cs_engine_handle(a->eng), &self, &ev, NULL);
}

/* A ROSTER or KEYS message (wire/rrec.h, PROTOCOL.md §3.10-§3.12). */
static void
roster_frame(struct session *s, const uint8_t *msg, size_t len)
{
	struct agent *a = s->a;
	struct roster_snap *sn = NULL;
	struct refused_ctx rctx = {s, 0};
	const uint8_t *body;
	size_t n, got;
	int type, rc;

	if (s->state != S_LIVE) {
		session_close(s, CS_BYE_UNEXPECTED, "ROSTER or KEYS before HELLO");
		return;
	}
	rc = cs_rrec_msg_decode(msg, len, &type, &body, &n);
	if (rc != 0) {
		cs_log(CS_LOG_WARNING, "malformed message from %s: %s", s->addr,
		    cs_rrec_strerror(rc));
		session_close(s, CS_BYE_MALFORMED, "malformed message");
		return;
	}
	sn = cs_malloc(sizeof(*sn));
	if (sn == NULL) {
		session_close(s, CS_BYE_INTERNAL, "out of memory");
		return;
	}
	s->refs++; /* roster_changed may close it */
	roster_snap_take(a, sn);
	if (type == CS_RREC_MSG_ROSTER) {
		rc = cs_roster_take(&a->home, body, n, on_record_refused, &rctx, &got);
		if (rc != 0)
			cs_log(CS_LOG_ERR, "roster from %s not merged: %s", s->addr,
			    cs_roster_strerror(rc));
		roster_changed(a, sn, "merged from a peer");
		if (s->keymode && !s->sent_keys && s->state == S_LIVE)
			send_keys(s);
	} else {
		rc = cs_roster_take_keys(&a->home, body, n, &got);
		if (rc != 0)
			cs_log(CS_LOG_ERR, "keys from %s not all kept: %s", s->addr,
			    cs_roster_strerror(rc));
		s->got_keys = 1;
		roster_changed(a, sn, "key delivered by a peer");
	}
	if (s->keymode && s->sent_keys && s->got_keys && s->state != S_CLOSING)
		session_close(s, CS_BYE_EPOCH, "keys delivered");
	cs_free(sn);
	session_unref(s);
}

/* RECORDS (share records, docs/PROTOCOL.md §3.13): checked and stored in
 * order with the batches, on the worker, before the changes they allow */
struct records_job {
	struct cs_dbw_job j;
	struct session *s;
	uint8_t peer[CS_DEVID_LEN];
	uint8_t *buf;
	size_t len;
	int rc, changed;
};

static void
records_run(struct cs_dbw_job *job, void *ctx)
{
	struct records_job *x = (struct records_job *)job;
	struct agent *a = ctx;

	x->rc = cs_shsync_records_in(&a->sh, a->eng, x->buf, x->len, x->peer, &x->changed);
	if (x->changed)
		(void)cs_engine_release_held(a->eng, NULL); /* rows that waited for a record */
}

static void share_events(struct agent *a);

static void
records_done(struct cs_dbw_job *job)
{
	struct records_job *x = (struct records_job *)job;
	struct session *s = x->s;

	if (!x->j.cancelled && x->rc == CS_RECORDS_EMSG && s->state != S_CLOSING)
		session_close(s, CS_BYE_MALFORMED, "malformed RECORDS");
	else if (!x->j.cancelled && x->rc < 0) {
		cs_log(CS_LOG_ERR, "storing share records failed: %s", cs_share_strerror(x->rc));
		/* no ACK may follow: the sender counts records acknowledged */
		if (s->state != S_CLOSING)
			session_close(s, CS_BYE_INTERNAL, "storing share records failed");
	}
	if (!x->j.cancelled && x->changed)
		local_changed(s->a); /* forward them, recheck scopes */
	if (!x->j.cancelled)
		share_events(s->a);
	cs_free(x->buf);
	cs_free(x);
	session_unref(s);
}

/* Shares made or revoked for this practitioner: control events (§8.2). */
static void
share_events(struct agent *a)
{
	/* on the worker: a grant waits for its rows, so that a "subscribe
	 * labels" client gets the patient's label (agent/ctl_share.h) */
	if (!a->stopping && a->dbw.started)
		cs_ctl_share_events(&a->dbw, a->eng, &a->sh, &a->ctl);
}

static void
on_records(struct session *s, const uint8_t *buf, size_t len)
{
	struct records_job *x;

	if (s->state != S_LIVE) {
		session_close(s, CS_BYE_UNEXPECTED, "RECORDS before HELLO");
		return;
	}
	if ((x = cs_calloc(1, sizeof(*x))) == NULL || (x->buf = cs_malloc(len)) == NULL) {
		cs_free(x);
		session_close(s, CS_BYE_INTERNAL, "out of memory");
		return;
	}
	memcpy(x->buf, buf, len);
	x->len = len;
	x->s = s;
	memcpy(x->peer, s->a->home.roster[s->peer_idx].id, CS_DEVID_LEN);
	x->j.run = records_run;
	x->j.done = records_done;
	s->refs++;
	cs_dbw_post(&s->a->dbw, &x->j);
}

static void
on_message(struct session *s, const uint8_t *buf, size_t len)
{
	struct agent *a = s->a;
	struct peerinfo *pi;
	struct cs_msg m;
	struct apply_job *x;
	uint32_t i;
	int rc;

	if (cs_records_is(buf, len)) {
		on_records(s, buf, len);
		return;
	}
	rc = cs_msg_decode(buf, len, &m);
	if (rc == CS_MSG_EVERSION_NEW && s->peer_idx >= 0) {
		char lbl[96];
		uint32_t pv = 0, pmin = 0;

		(void)cs_msg_hello_peek(buf, len, &pv, &pmin);
		if (!a->peers[s->peer_idx].version_said)
			cs_log(CS_LOG_NOTICE,
			    "%s speaks only protocol %u..%u, newer than this agent's %u..%u: no "
			    "session until this PC is upgraded (the others relay its changes)",
			    peer_label(a, s->peer_idx, lbl, sizeof(lbl)), pmin, pv, a->proto_min,
			    a->proto_max);
		a->peers[s->peer_idx].version_said = 1;
		session_close(s, CS_BYE_VERSION_TOO_NEW, "no common protocol version");
		return;
	}
	if (rc != 0) {
		cs_log(CS_LOG_WARNING, "malformed message from %s: %s", s->addr,
		    cs_msg_strerror(rc));
		session_close(s, cs_msg_bye_code(rc), "malformed message");
		return;
	}
	if (m.type != CS_MSG_HELLO && m.type != CS_MSG_BYE && s->state != S_LIVE) {
		session_close(s, CS_BYE_UNEXPECTED, "message before HELLO");
		goto out;
	}
	pi = &a->peers[s->peer_idx];
	switch (m.type) {
	case CS_MSG_HELLO:
		on_hello(s, &m.u.hello);
		break;
	case CS_MSG_CURSOR:
		if (s->keymode)
			break; /* an old-epoch session carries no data */
		for (i = 0; i < m.u.cursor.n; i++) {
			if (m.u.cursor.v[i].stream.kind == CS_STREAM_MAIN) {
				s->send_after = m.u.cursor.v[i].after;
				s->have_cursor = 1;
				pi->acked = s->send_after;
				pi->acked_known = 1;
				a->acked_dirty = 1;
			}
		}
		pump(s);
		break;
	case CS_MSG_CHANGES:
		if (s->keymode) {
			session_close(s, CS_BYE_EPOCH, "CHANGES on an old-epoch session");
			break;
		}
		if (m.u.changes.stream.kind != CS_STREAM_MAIN) {
			session_close(s, CS_BYE_UNEXPECTED, "patient streams not supported yet");
			break;
		}
		x = cs_calloc(1, sizeof(*x));
		if (x == NULL) {
			session_close(s, CS_BYE_INTERNAL, "out of memory");
			break;
		}
		x->j.run = apply_run;
		x->j.done = apply_done;
		x->s = s;
		memcpy(x->peer, a->home.roster[s->peer_idx].id, CS_DEVID_LEN);
		x->m = m; /* the job owns the decoded batch now */
		memset(&m, 0, sizeof(m));
		s->refs++;
		cs_dbw_post(&a->dbw, &x->j);
		/* a peer that ignores the flow control waits for our worker */
		if (++s->applying >= 2 * CS_AGENT_INFLIGHT && !s->read_paused) {
			uv_read_stop((uv_stream_t *)&s->tcp);
			s->read_paused = 1;
		}
		break;
	case CS_MSG_ACK:
		if (s->inflight > 0) {
			if (s->rec_q[s->rec_qh] > s->rec_acked)
				s->rec_acked = s->rec_q[s->rec_qh];
			s->rec_qh = (s->rec_qh + 1) % CS_AGENT_INFLIGHT;
			s->inflight--;
		}
		if (m.u.ack.db_version > pi->acked || !pi->acked_known)
			pi->acked = m.u.ack.db_version;
		pi->acked_known = 1;
		a->acked_dirty = 1;
		pi->last_sync_ms = now_ms();
		pump(s);
		cs_control_poke(&a->ctl);
		break;
	case CS_MSG_PING:
		if (cs_msg_encode_pong(&s->mb, m.u.nonce) != 0 || send_mb(s) != 0)
			session_close(s, 0, "cannot send PONG");
		break;
	case CS_MSG_PONG:
		break;
	case CS_MSG_BYE:
		session_close(s, 0, cs_msg_bye_name(m.u.bye.code));
		break;
	}
out:
	cs_msg_free(&m);
}

static void
transport_frame(struct session *s, const uint8_t *body, size_t len)
{
	const uint8_t *msg;
	size_t plen, mlen;
	int rc;

	rc = cs_noise_decrypt(&s->noise, body, len, s->plain, CS_NOISE_MAX_MSG, &plen);
	if (rc != 0) {
		session_close(s, 0, cs_noise_strerror(rc));
		return;
	}
	rc = cs_chunk_reasm_feed(&s->reasm, s->plain, plen, &msg, &mlen);
	if (rc == CS_EAGAIN)
		return;
	if (rc != 0) {
		session_close(s, cs_msg_bye_code(rc), cs_msg_strerror(rc));
		return;
	}
	if (cs_rrec_msg_type(msg, mlen) != 0) {
		roster_frame(s, msg, mlen);
		return;
	}
	if (cs_clockmsg_is(msg, mlen)) {
		clock_frame(s, msg, mlen);
		return;
	}
	on_message(s, msg, mlen);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct session *s = h->data;
	size_t want = s->rlen + 65536;

	(void)suggested;
	if (s->rcap < want) {
		uint8_t *p = cs_realloc(s->rbuf, want);

		if (p == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		s->rbuf = p;
		s->rcap = want;
	}
	*buf = uv_buf_init((char *)s->rbuf + s->rlen, (unsigned)(s->rcap - s->rlen));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct session *s = st->data;
	struct cs_frame f;
	size_t off = 0;
	int rc;

	(void)buf;
	if (nread < 0) {
		session_close(s, 0,
		    nread == UV_EOF ? "peer closed the connection" : uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	s->rlen += (size_t)nread;
	s->last_rx_ms = now_ms();
	s->stall_pinged = s->stall_seen = 0;
	s->refs++; /* the session may close while we process */
	while (s->state != S_CLOSING) {
		rc = cs_frame_take(s->rbuf + off, s->rlen - off, &f);
		if (rc == CS_EAGAIN)
			break;
		if (rc != 0) {
			session_close(s, 0, "bad frame");
			break;
		}
		off += f.used;
		if (s->state == S_HANDSHAKE)
			handshake_frame(s, f.body, f.body_len);
		else
			transport_frame(s, f.body, f.body_len);
	}
	if (s->state != S_CLOSING && off > 0) {
		memmove(s->rbuf, s->rbuf + off, s->rlen - off);
		s->rlen -= off;
	}
	session_unref(s);
}

/* A new session on an initialised tcp handle (connected or accepted). */
static struct session *
session_new(struct agent *a, int initiator)
{
	struct session *s = cs_calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->plain = cs_malloc(CS_NOISE_MAX_MSG);
	if (s->plain == NULL) {
		cs_free(s);
		return NULL;
	}
	s->a = a;
	s->initiator = initiator;
	s->state = S_HANDSHAKE;
	s->refs = 1;
	s->peer_idx = -1;
	s->started_ms = s->last_rx_ms = s->last_tx_ms = now_ms();
	s->sent_gen = (uint64_t)-1; /* extract once the cursor is known */
	cs_chunk_reasm_init(&s->reasm, 0);
	cs_msg_buf_init(&s->mb, 0);
	if (uv_tcp_init(&a->loop, &s->tcp) != 0) {
		cs_free(s->plain);
		cs_free(s);
		return NULL;
	}
	s->tcp.data = s;
	s->next = a->sessions;
	a->sessions = s;
	return s;
}

static void
peer_name(uv_tcp_t *t, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char ip[64] = "?";
	int port = 0;

	if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	snprintf(out, cap, "%s:%d", ip, port);
}

/*
 * The key of rank r: 0 is the current key, then every other key this device
 * holds, newest epoch first (PROTOCOL.md §1.6). CS_ENOENT past the last.
 */
static int
key_by_rank(const struct agent *a, uint32_t r, uint32_t *epoch, const uint8_t **key)
{
	const struct cs_secrets *sec = a->home.sec;
	size_t idx[CS_HOME_MAX_EPOCHS], n = 0, i, j;

	if (r == 0) {
		*epoch = a->home.epoch;
		*key = sec->cabinet_key;
		return 0;
	}
	for (i = 0; i < sec->nkeys && i < CS_HOME_MAX_EPOCHS; i++) {
		if (sec->keys[i].epoch == a->home.epoch &&
		    sodium_memcmp(sec->keys[i].key, sec->cabinet_key, CS_KEY_LEN) == 0)
			continue;
		/* insertion sort, newest epoch first */
		for (j = n; j > 0 && sec->keys[idx[j - 1]].epoch < sec->keys[i].epoch; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
		n++;
	}
	if (r > n)
		return CS_ENOENT;
	*epoch = sec->keys[idx[r - 1]].epoch;
	*key = sec->keys[idx[r - 1]].key;
	return 0;
}

/* (Re)initialise s's handshake with the psk of the key of rank r. */
static int
noise_start(struct session *s, uint32_t r)
{
	struct agent *a = s->a;
	struct cs_noise_config cfg;
	uint8_t psk[CS_NOISE_PSK_LEN], prologue[CS_NOISE_PROLOGUE_MAX];
	const uint8_t *key;
	uint32_t epoch;
	int rc;

	if ((rc = key_by_rank(a, r, &epoch, &key)) != 0)
		return rc;
	cs_noise_free(&s->noise);
	memset(&cfg, 0, sizeof(cfg));
	cfg.initiator = s->initiator;
	cfg.prologue = prologue;
	cfg.prologue_len = cs_noise_session_prologue(prologue, a->home.cabinet_id);
	cfg.static_key = a->home.sec->dh_sk;
	rc = cs_noise_session_psk(psk, key, epoch);
	cfg.psks = psk;
	cfg.psk_count = 1;
	if (rc == 0)
		rc = cs_noise_init(&s->noise, &cfg);
	sodium_memzero(psk, sizeof(psk));
	s->epoch = epoch;
	s->key_current = r == 0;
	return rc;
}

/* Start the handshake on a connected session. */
static void
session_begin(struct session *s)
{
	int rc;

	peer_name(&s->tcp, s->addr, sizeof(s->addr));
	uv_tcp_nodelay(&s->tcp, 1);
	/* a dialer that was refused at message 1 tries the older epochs in turn */
	rc = noise_start(s, s->dialer != NULL ? s->dialer->back : 0);
	if (rc == CS_ENOENT && s->dialer != NULL) {
		s->dialer->back = 0;
		rc = noise_start(s, 0);
	}
	if (rc == 0 && uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) != 0)
		rc = CS_EIO;
	if (rc == 0 && s->initiator) {
		rc = hs_write(s);
		s->m1_sent = rc == 0;
	}
	if (rc != 0)
		session_close(s, 0, "cannot start the handshake");
}

/* ----------------------------------------------------------------- dialing */

static void
on_connected(uv_connect_t *req, int status)
{
	struct session *s = req->data;

	if (s->dialer != NULL)
		s->dialer->connecting = 0;
	if (status < 0) {
		session_close(s, 0, uv_strerror(status));
		return;
	}
	if (s->state == S_CLOSING)
		return;
	s->tcp_up = 1;
	session_begin(s);
}

static void
dial(uv_timer_t *t)
{
	struct dialer *d = t->data;
	struct agent *a = d->a;
	struct sockaddr_storage ss;
	struct session *s;

	if (a->stopping || a->paused || d->s != NULL)
		return;
	if (d->peer_idx >= 0 && a->peers[d->peer_idx].s != NULL) {
		/* already connected to that device by another way: check later */
		uv_timer_start(&d->timer, dial, 5000, 0);
		return;
	}
	if (uv_ip4_addr(d->addr.host, d->addr.port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(d->addr.host, d->addr.port, (struct sockaddr_in6 *)&ss) != 0) {
		cs_log(CS_LOG_ERR, "static peer %s: only numeric addresses are supported",
		    d->addr.host);
		return;
	}
	s = session_new(a, 1);
	if (s == NULL) {
		dialer_schedule(d);
		return;
	}
	s->dialer = d;
	d->s = s;
	d->connecting = 1;
	d->conn.data = s;
	snprintf(s->addr, sizeof(s->addr), "%s:%u", d->addr.host, d->addr.port);
	if (uv_tcp_connect(&d->conn, &s->tcp, (struct sockaddr *)&ss, on_connected) != 0) {
		d->connecting = 0;
		session_close(s, 0, "connect failed");
	}
}

static void
dialer_schedule(struct dialer *d)
{
	struct agent *a = d->a;
	uint32_t delay, cap = BACKOFF_MAX_MS;

	/* a device we were in session with a moment ago: its path probably
	 * comes back soon (partition, cable, reboot): keep trying often */
	if (d->peer_idx >= 0 && d->peer_idx < CS_HOME_MAX_DEVICES &&
	    a->peers[d->peer_idx].lost_ms != 0 &&
	    cs_mono_ms() - a->peers[d->peer_idx].lost_ms < FAST_FOR_MS)
		cap = FAST_MAX_MS;
	if (d->backoff_ms > cap)
		d->backoff_ms = cap;
	delay = d->backoff_ms;
	/* jitter: 75 % .. 125 % of the backoff */
	delay = delay * 3 / 4 + randombytes_uniform(delay / 2 + 1);
	d->backoff_ms = d->backoff_ms * 2 > cap ? cap : d->backoff_ms * 2;
	if (!d->a->stopping)
		uv_timer_start(&d->timer, dial, delay, 0);
}

static int
add_dialer(struct agent *a, const char *spec)
{
	struct dialer *d;

	if (a->ndialers >= MAX_DIALERS)
		return CS_ERANGE;
	d = &a->dialers[a->ndialers];
	memset(d, 0, sizeof(*d));
	if (cs_addr_parse(spec, 7433, &d->addr) != 0) {
		cs_log(CS_LOG_ERR, "static peer '%s' is not HOST:PORT; ignored", spec);
		return CS_EINVAL;
	}
	d->a = a;
	d->peer_idx = -1;
	d->backoff_ms = BACKOFF_MIN_MS;
	uv_timer_init(&a->loop, &d->timer);
	d->timer.data = d;
	a->ndialers++;
	uv_timer_start(&d->timer, dial, 0, 0);
	return 0;
}

/* ---------------------------------------------------- address cache, mDNS */

struct cache_job {
	struct cs_dbw_job j;
	struct cs_addrcache copy;
	char path[CS_HOME_PATH_MAX];
};

static void
cache_run(struct cs_dbw_job *job, void *ctx)
{
	struct cache_job *x = (struct cache_job *)job;

	(void)ctx;
	if (cs_addrcache_save(&x->copy, x->path) != 0)
		cs_log(CS_LOG_WARNING, "cannot write the address cache %s", x->path);
}

static void
cache_done(struct cs_dbw_job *job)
{
	struct cache_job *x = (struct cache_job *)job;

	cs_addrcache_free(&x->copy);
	cs_free(x);
}

/* Save a copy of the cache on the worker (the save fsyncs). */
static void
cache_save(struct agent *a)
{
	struct cache_job *x;
	char *img = NULL;
	size_t len, bad;

	if (a->stopping || !a->dbw.started)
		return;
	x = cs_calloc(1, sizeof(*x));
	if (x == NULL)
		return;
	cs_addrcache_init(&x->copy);
	if (cs_addrcache_format(&a->cache, &img, &len) != 0 ||
	    cs_addrcache_parse(&x->copy, img, len, &bad) != 0 ||
	    cs_home_path(&a->home, "addrcache", x->path, sizeof(x->path)) != 0) {
		cs_free(img);
		cs_addrcache_free(&x->copy);
		cs_free(x);
		return;
	}
	cs_free(img);
	x->j.run = cache_run;
	x->j.done = cache_done;
	cs_dbw_post(&a->dbw, &x->j);
}

static void
make_tags(struct agent *a)
{
	uint32_t day = cs_tag_day(now_ms() / 1000);
	size_t i;

	cs_tag_set_make(a->home.dh_pk, a->home.sec->cabinet_key, day, &a->tags);
	for (i = 0; i < a->home.nroster && i < CS_HOME_MAX_DEVICES; i++) {
		cs_tag_dev(a->home.roster[i].dh_pk, a->home.sec->cabinet_key, day,
		    a->dev_tags[i][0]);
		cs_tag_dev(a->home.roster[i].dh_pk, a->home.sec->cabinet_key, day - 1,
		    a->dev_tags[i][1]);
	}
}

static void
on_mdns_event(void *ctx, const struct cs_mdns_event *ev)
{
	struct agent *a = ctx;
	struct dialer *d;
	size_t i;
	char lbl[96];

	if (ev->kind != CS_MDNS_SEEN || a->stopping || a->paused)
		return;
	for (i = 0; i < a->home.nroster; i++) {
		if (sodium_memcmp(a->dev_tags[i][0], ev->dev_tag, CS_TAG_LEN) == 0 ||
		    sodium_memcmp(a->dev_tags[i][1], ev->dev_tag, CS_TAG_LEN) == 0)
			break;
	}
	if (i == a->home.nroster || a->home.roster[i].revoked ||
	    memcmp(a->home.roster[i].id, a->home.device_id, CS_DEVID_LEN) == 0)
		return;
	d = &a->mdial[i];
	snprintf(d->addr.host, sizeof(d->addr.host), "%s", ev->addr);
	d->addr.port = ev->port;
	cs_log(CS_LOG_DEBUG, "mDNS: %s seen at %s port %u", peer_label(a, (int)i, lbl, sizeof(lbl)),
	    ev->addr, ev->port);
	if (a->peers[i].s == NULL && d->s == NULL) {
		d->backoff_ms = BACKOFF_MIN_MS;
		uv_timer_start(&d->timer, dial, 0, 0);
	}
}

static void
on_mdns_status(void *ctx, enum cs_mdns_status st, const char *detail)
{
	struct agent *a = ctx;

	switch (st) {
	case CS_MDNS_NO_DAEMON:
		if (!a->mdns_said_nodaemon)
			cs_log(CS_LOG_NOTICE,
			    "no avahi-daemon: discovery is off; using static peers and the "
			    "addresses that worked before");
		a->mdns_said_nodaemon = 1;
		break;
	case CS_MDNS_PUBLISHED:
		cs_log(CS_LOG_INFO, "mDNS: published");
		break;
	case CS_MDNS_DAEMON_LOST:
		cs_log(CS_LOG_WARNING, "mDNS: avahi-daemon went away; reconnecting");
		break;
	case CS_MDNS_RUNNING:
		if (a->mdns_said_nodaemon)
			cs_log(CS_LOG_INFO, "mDNS: avahi-daemon is back");
		a->mdns_said_nodaemon = 0;
		break;
	default:
		cs_log(CS_LOG_INFO, "mDNS: %s%s%s", cs_mdns_status_name(st), detail ? ": " : "",
		    detail ? detail : "");
		break;
	}
}

static void
on_rotate(uv_timer_t *t)
{
	struct agent *a = t->data;

	make_tags(a);
	if (a->mdns != NULL)
		cs_mdns_set_tags(a->mdns, &a->tags);
	uv_timer_start(&a->rotate, on_rotate, (uint64_t)cs_tag_ms_to_next_day(now_ms()) + 1000, 0);
}

static void
mdns_start(struct agent *a)
{
	struct cs_mdns_config cfg;
	size_t i;
	int rc;

	for (i = 0; i < CS_HOME_MAX_DEVICES; i++) {
		struct dialer *d = &a->mdial[i];

		d->a = a;
		d->peer_idx = (int)i;
		d->backoff_ms = BACKOFF_MIN_MS;
		uv_timer_init(&a->loop, &d->timer);
		d->timer.data = d;
	}
	uv_timer_init(&a->loop, &a->rotate);
	a->rotate.data = a;
	make_tags(a);
	uv_timer_start(&a->rotate, on_rotate, (uint64_t)cs_tag_ms_to_next_day(now_ms()) + 1000, 0);
	if (getenv("CS_NO_MDNS") != NULL) {
		cs_log(CS_LOG_INFO, "mDNS disabled (CS_NO_MDNS)");
		return;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.port = (uint16_t)a->port;
	cfg.version = CS_PROTOCOL_VERSION;
	cfg.tags = a->tags;
	cfg.on_event = on_mdns_event;
	cfg.on_status = on_mdns_status;
	cfg.ctx = a;
	rc = cs_mdns_start(&a->mdns, &a->loop, &cfg);
	if (rc != 0) {
		cs_log(CS_LOG_WARNING, "mDNS could not start; static peers only");
		a->mdns = NULL;
	}
}

/* --------------------------------------------------------------- listener */

static void
on_accept(uv_stream_t *server, int status)
{
	struct agent *a = server->data;
	struct session *s;

	if (status < 0)
		return;
	s = session_new(a, 0);
	if (s == NULL)
		return;
	if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0 || a->stopping || a->paused) {
		session_close(s, 0, a->paused ? "paused" : "accept failed");
		return;
	}
	session_begin(s);
}

/* ------------------------------------------------------- watch and timers */

static void
on_settle(uv_timer_t *t)
{
	struct agent *a = t->data;

	local_changed(a);
	ctl_refresh(a);
	if (++a->settle_stage == 1)
		uv_timer_start(&a->settle, on_settle, 40, 0);
}

static void
on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct agent *a = h->data;
	size_t n = strlen(a->db_base);

	(void)events;
	if (status < 0 || filename == NULL)
		return;
	if (strncmp(filename, a->db_base, n) != 0 ||
	    (filename[n] != '\0' && strcmp(filename + n, "-wal") != 0))
		return;
	/* now, and again shortly after: the commit becomes visible (wal-index in
	 * the -shm mapping) a moment after its last WAL write */
	local_changed(a);
	a->settle_stage = 0;
	uv_timer_start(&a->settle, on_settle, 3, 0);
}

static void
roster_snap_take(const struct agent *a, struct roster_snap *sn)
{
	size_t i;

	sn->n = a->home.nroster;
	for (i = 0; i < sn->n; i++)
		memcpy(sn->ids[i], a->home.roster[i].id, CS_DEVID_LEN);
	sn->nrecs = a->home.rs.n;
	sn->epoch = a->home.epoch;
	cs_rrec_key_id(a->home.sec->cabinet_key, a->home.epoch, sn->kid);
}

/*
 * After the roster changed (reloaded, or records from a peer): the
 * per-device state follows the device ids; sessions of devices now revoked
 * or gone are closed.
 */
static void
roster_remap(struct agent *a, const struct roster_snap *sn)
{
	struct peerinfo *old;
	struct session *s, *next;
	size_t i, j;

	old = cs_malloc(sizeof(a->peers));
	if (old == NULL)
		return;
	memcpy(old, a->peers, sizeof(a->peers));
	cs_shsync_roster(&a->sh, &a->home);
	memset(a->peers, 0, sizeof(a->peers));
	for (s = a->sessions; s != NULL; s = s->next)
		s->peer_idx = s->peer_idx >= 0 && (size_t)s->peer_idx < sn->n ? -2 - s->peer_idx
		                                                              : s->peer_idx;
	for (j = 0; j < a->home.nroster; j++) {
		for (i = 0; i < sn->n; i++) {
			if (memcmp(sn->ids[i], a->home.roster[j].id, CS_DEVID_LEN) == 0) {
				a->peers[j] = old[i];
				for (s = a->sessions; s != NULL; s = s->next)
					if (s->peer_idx == -2 - (int)i)
						s->peer_idx = (int)j;
				break;
			}
		}
	}
	for (s = a->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->peer_idx < -1) {
			s->peer_idx = -1; /* its device left the roster */
			session_close(s, CS_BYE_UNAUTHORIZED, "device removed from the roster");
		} else if (s->peer_idx >= 0 && a->home.roster[s->peer_idx].revoked) {
			session_close(s, CS_BYE_UNAUTHORIZED, "device revoked");
		}
	}
	for (i = 0; i < a->ndialers; i++)
		a->dialers[i].peer_idx = -1;
	if (a->mdial[0].a != NULL)
		make_tags(a);
	cs_free(old);
}

/*
 * The roster or the keys changed (snapshot sn from before): remap, write
 * the home, tell the peers, and when the current key changed, deliver it to
 * every peer on a session and close them all (they are on the old key).
 */
static void
roster_changed(struct agent *a, const struct roster_snap *sn, const char *how)
{
	struct session *s, *next;
	uint8_t kid[CS_RREC_HASH_LEN];
	int epoch_moved, recs_moved, rc;

	cs_rrec_key_id(a->home.sec->cabinet_key, a->home.epoch, kid);
	epoch_moved = sodium_memcmp(kid, sn->kid, CS_RREC_HASH_LEN) != 0;
	recs_moved = a->home.rs.n != sn->nrecs;
	if (!epoch_moved && !recs_moved)
		return;
	roster_remap(a, sn);
	/* flock + fsync: on the worker, from a copy (agent/roster_io.h) */
	if ((rc = cs_roster_io_post(&a->dbw, &a->home)) != 0)
		cs_log(CS_LOG_ERR, "cannot write the roster in %s: %s", a->home.dir,
		    cs_strerror(rc));
	cs_log(CS_LOG_INFO, "roster %s: %zu devices, %zu records, cabinet key epoch %u", how,
	    a->home.nroster, a->home.rs.n, (unsigned)a->home.epoch);
	if (epoch_moved) {
		struct cs_audit_event ev = {0};
		struct cs_audit_self self;
		char detail[128];

		cs_log(CS_LOG_NOTICE, "audit: key-rotate: cabinet key now epoch %u (was %u)",
		    (unsigned)a->home.epoch, (unsigned)sn->epoch);
		snprintf(detail, sizeof(detail), "cabinet key now epoch %u (was %u), %s",
		    (unsigned)a->home.epoch, (unsigned)sn->epoch, how);
		ev.action = CS_AUDIT_KEY_ROTATE;
		ev.detail = detail;
		audit_self(a, &self);
		if (a->eng != NULL)
			(void)cs_audit_post(&a->dbw, cs_engine_handle(a->eng), &self, &ev, NULL);
		make_tags(a);
		if (a->mdns != NULL)
			cs_mdns_set_tags(a->mdns, &a->tags);
	}
	for (s = a->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == S_CLOSING)
			continue;
		if (s->state == S_LIVE && s->peer_roster && recs_moved)
			send_roster(s);
		if (!epoch_moved)
			continue;
		if (s->state == S_LIVE && s->peer_roster) {
			if (!recs_moved)
				send_roster(s);
			send_keys(s);
		}
		session_close(s, CS_BYE_EPOCH, "cabinet key rotated");
	}
}

/* Reload roster.ini and cabinet.keys (SIGHUP, or the file changed). */
static void
roster_reload(struct agent *a)
{
	struct roster_snap *sn = cs_malloc(sizeof(*sn));
	char msg[256];

	if (sn == NULL)
		return;
	roster_snap_take(a, sn);
	if (cs_home_load_roster(&a->home, msg, sizeof(msg)) != 0)
		cs_log(CS_LOG_ERR, "%s (the roster in memory stays)", msg);
	else
		roster_changed(a, sn, "reloaded");
	cs_free(sn);
}

/* Remember roster.ini's mtime; 1 if it changed since last time. */
static int
roster_check_mtime(struct agent *a)
{
	char path[CS_HOME_PATH_MAX];
	struct stat sb;

	if (cs_home_path(&a->home, "roster.ini", path, sizeof(path)) != 0 || stat(path, &sb) != 0)
		return 0;
	if (sb.st_mtim.tv_sec == a->roster_mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == a->roster_mtime.tv_nsec)
		return 0;
	a->roster_mtime = sb.st_mtim;
	return 1;
}

/* Reload roster.ini when it changed (an invite added a device, a revocation). */
static void
roster_check(struct agent *a)
{
	int first = a->roster_mtime.tv_sec == 0;

	if (roster_check_mtime(a) && !first)
		roster_reload(a);
}

/* Periodic share work on the worker: read-only triggers, purge after a revoke. */
struct maint_job {
	struct cs_dbw_job j;
	struct agent *a;
	struct cs_shsync_ack acks[CS_HOME_MAX_DEVICES];
	size_t nacks;
	int rc;
};

static void
maint_run(struct cs_dbw_job *job, void *ctx)
{
	struct maint_job *x = (struct maint_job *)job;
	struct agent *a = ctx;

	x->rc = cs_shsync_maintain(&a->sh, a->eng, x->acks, x->nacks, now_ms());
}

static void
maint_done(struct cs_dbw_job *job)
{
	struct maint_job *x = (struct maint_job *)job;

	x->a->sh_busy = 0;
	if (!x->j.cancelled && x->rc < 0 && x->rc != CS_EBUSY)
		cs_log(CS_LOG_ERR, "share maintenance failed: %s", cs_share_strerror(x->rc));
	cs_free(x);
}

/* An app upgrade (new column, rebuilt table): the triggers re-installed and
 * the missed writes found by budgeted checks on the worker, one job at a
 * time, 100 ms of work per tick at most (sql/upgrade.h). */
struct upoll_job {
	struct cs_dbw_job j;
	struct agent *a;
	int rc;
	char err[256];
};

static void
upoll_run(struct cs_dbw_job *job, void *ctx)
{
	struct upoll_job *x = (struct upoll_job *)job;
	struct agent *a = ctx;

	x->rc = cs_upgrade_poll(a->eng, 100);
	if (x->rc < 0)
		snprintf(x->err, sizeof(x->err), "%s", cs_engine_errmsg(a->eng));
}

static void
upoll_done(struct cs_dbw_job *job)
{
	struct upoll_job *x = (struct upoll_job *)job;

	x->a->upgrade_polling = 0;
	if (!x->j.cancelled && x->rc < 0 && x->rc != CS_SQL_EBUSY)
		cs_log(CS_LOG_WARNING, "app schema check: %s", x->err);
	cs_free(x);
}

static void
shares_tick(struct agent *a)
{
	struct maint_job *x;
	size_t i;

	if (a->sh_busy || a->stopping || ++a->sh_ticks % 2 != 0)
		return;
	if ((x = cs_calloc(1, sizeof(*x))) == NULL)
		return;
	x->a = a;
	for (i = 0; i < a->home.nroster && i < CS_HOME_MAX_DEVICES; i++) {
		if (!a->peers[i].acked_known)
			continue;
		memcpy(x->acks[x->nacks].dev, a->home.roster[i].id, CS_DEVID_LEN);
		x->acks[x->nacks++].acked = a->peers[i].acked;
	}
	x->j.run = maint_run;
	x->j.done = maint_done;
	a->sh_busy = 1;
	cs_dbw_post(&a->dbw, &x->j);
}

static void
upgrade_poll(struct agent *a)
{
	struct upoll_job *x;

	if (a->upgrade_polling || a->stopping || (x = cs_calloc(1, sizeof(*x))) == NULL)
		return;
	x->j.run = upoll_run;
	x->j.done = upoll_done;
	x->a = a;
	a->upgrade_polling = 1;
	cs_dbw_post(&a->dbw, &x->j);
}

static void
on_tick(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct session *s, *next;
	int64_t now = now_ms();

	for (s = a->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == S_HANDSHAKE && s->initiator && !s->tcp_up &&
		    now - s->started_ms > CONNECT_MS) {
			session_close(s, 0, "connect timeout");
			continue;
		}
		if (s->state == S_HANDSHAKE || s->state == S_HELLO) {
			if (now - s->started_ms > HS_TIMEOUT_MS) {
				cs_log(CS_LOG_INFO,
				    "connection %s: handshake timeout (10 s), closed", s->addr);
				session_close(s, 0, "handshake timeout");
			}
			continue;
		}
		if (now - s->last_rx_ms > DEAD_AFTER_MS) {
			session_close(s, CS_BYE_TIMEOUT, "no answer for 30 s");
			continue;
		}
		if (s->state == S_LIVE && s->inflight > 0 && now - s->last_rx_ms > STALL_PING_MS) {
			/* on two ticks in a row: timers run before the loop polls
			 * its sockets, so one late tick alone proves nothing */
			if (now - s->last_rx_ms > STALL_MS && s->stall_seen++ > 0) {
				session_close(s, 0,
				    "stalled: changes unacknowledged, nothing heard for 5 s");
				continue;
			}
			if (!s->stall_pinged) {
				s->stall_pinged = 1;
				if (cs_msg_encode_ping(&s->mb, ++s->ping_nonce) != 0 ||
				    send_mb(s) != 0)
					session_close(s, 0, "cannot send PING");
				continue;
			}
		}
		if (now - s->last_tx_ms > PING_AFTER_MS) {
			if (cs_msg_encode_ping(&s->mb, ++s->ping_nonce) != 0 || send_mb(s) != 0)
				session_close(s, 0, "cannot send PING");
		}
	}
	/* fallback when there is no watch (a filesystem without inotify); with
	 * one, an idle agent wakes only for this tick (issue 5 §6: <= 1/s) */
	if (!a->watch_ok || ++a->tick_n % 5 == 0)
		local_changed(a);
	roster_check(a);
	shares_tick(a);
	upgrade_poll(a);
	clock_tick(a);
}

/* ---------------------------------------------------------------- control */

static int
ctl_status(void *ctx, int verb, char *out, size_t cap)
{
	struct agent *a = ctx;
	size_t i, len = 0, online = 0, safe = 0;
	uint64_t best = 0;
	int n, first = 1, known = 0;
	char hex[33];
	const char *state;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		n = snprintf(out + len, cap - len, __VA_ARGS__);                                   \
		if (n < 0 || (size_t)n >= cap - len)                                               \
			return CS_ERANGE;                                                          \
		len += (size_t)n;                                                                  \
	} while (0)

	if (verb == CS_CTL_PAUSE || verb == CS_CTL_RESUME) {
		struct session *s, *next;

		if (verb == CS_CTL_PAUSE && !a->paused) {
			a->paused = 1;
			for (s = a->sessions; s != NULL; s = next) {
				next = s->next;
				session_close(s, 0x100, "paused");
			}
			cs_log(CS_LOG_NOTICE, "paused");
		} else if (verb == CS_CTL_RESUME && a->paused) {
			a->paused = 0;
			for (i = 0; i < a->ndialers; i++) {
				a->dialers[i].backoff_ms = BACKOFF_MIN_MS;
				uv_timer_start(&a->dialers[i].timer, dial, 0, 0);
			}
			cs_log(CS_LOG_NOTICE, "resumed");
		}
		ADD("{\"ok\":true,\"paused\":%s}", a->paused ? "true" : "false");
		return (int)len;
	}
	for (i = 0; i < a->home.nroster; i++) {
		struct peerinfo *p = &a->peers[i];

		if (memcmp(a->home.roster[i].id, a->home.device_id, CS_DEVID_LEN) == 0)
			continue;
		if (p->s != NULL)
			online++;
		if (p->acked_known && p->acked >= a->local_dbv)
			safe++;
		if (p->acked_known && !a->home.roster[i].revoked) {
			if (!known || p->acked > best)
				best = p->acked;
			known = 1;
		}
	}
	/* DESIGN.md: synced = every local change acknowledged (committed) by at
	 * least one other device of the cabinet: safe to shut down */
	if (a->paused)
		state = "paused";
	else if (safe > 0)
		state = online > 0 ? "synced" : "offline";
	else if (online == 0)
		state = "offline";
	else
		state = "syncing";
	cs_home_hex(a->home.device_id, CS_DEVID_LEN, hex);
	ADD("{\"state\":\"%s\",\"device\":\"%s\",\"name\":", state, hex);
	if (cs_jsonw_str(out, cap, &len, a->home.device_name) != 0)
		return CS_ERANGE;
	ADD(",\"port\":%d,\"db_version\":%llu,", a->port, (unsigned long long)a->local_dbv);
	/* tray (issue 8): local changes no other device has acknowledged, null
	 * while no acknowledgement is known; open conflicts once counted */
	if (known)
		ADD("\"pending\":%llu,",
		    (unsigned long long)(a->local_dbv > best ? a->local_dbv - best : 0));
	else
		ADD("\"pending\":null,");
	if (a->nconflicts >= 0)
		ADD("\"conflicts\":%lld,", (long long)a->nconflicts);
	/* the cabinet's clock minus this PC's (> 0: this PC is late), over
	 * clock_peers samples (agent/clockoff.h); 0 with none; without a
	 * majority (two PCs disagree), the difference with the other */
	ADD("\"clock_offset_ms\":%lld,\"clock_peers\":%d,\"clock_majority\":%s,",
	    (long long)a->clk_est.shown_ms, a->clk_est.npeers,
	    a->clk_est.majority ? "true" : "false");
	if (a->db_error[0] != '\0' || a->relay_error[0] != '\0') {
		ADD("\"error\":");
		if (cs_jsonw_str(out, cap, &len,
		        a->db_error[0] != '\0' ? a->db_error : a->relay_error) != 0)
			return CS_ERANGE;
		ADD(",");
	}
	ADD("\"peers\":[");
	for (i = 0; i < a->home.nroster; i++) {
		struct peerinfo *p = &a->peers[i];
		const struct cs_roster_dev *d = &a->home.roster[i];
		int receiving =
		    p->s != NULL && p->last_in_ms > 0 && cs_mono_ms() - p->last_in_ms < 2000;

		if (memcmp(d->id, a->home.device_id, CS_DEVID_LEN) == 0)
			continue;
		cs_home_hex(d->id, CS_DEVID_LEN, hex);
		/* replica: this device receives my changes (the practitioner's own
		 * devices and the share recipients) */
		ADD("%s{\"device\":\"%s\",\"name\":", first ? "" : ",", hex);
		if (cs_jsonw_str(out, cap, &len, d->name) != 0)
			return CS_ERANGE;
		ADD(",\"online\":%s,\"revoked\":%s,\"replica\":%s,\"addr\":",
		    p->s != NULL ? "true" : "false", d->revoked ? "true" : "false",
		    d->revoked ? "false" : "true");
		if (cs_jsonw_str(out, cap, &len, p->addr) != 0)
			return CS_ERANGE;
		ADD(",\"last_sync\":%lld,", (long long)(p->last_sync_ms / 1000));
		{
			/* its clock minus ours, null without a fresh sample */
			int64_t off;

			if (cs_clockoff_peer_now(&a->clk, d->id, now_ms(), cs_mono_ms(), &off))
				ADD("\"clock_offset_ms\":%lld,", (long long)off);
			else
				ADD("\"clock_offset_ms\":null,");
		}
		if (p->acked_known)
			ADD("\"pending\":%llu,",
			    (unsigned long long)(a->local_dbv > p->acked ? a->local_dbv - p->acked
			                                                 : 0));
		else
			ADD("\"pending\":null,");
		ADD("\"rows_in\":%llu,\"rows_out\":%llu,\"received_up_to\":%llu,",
		    (unsigned long long)p->rows_in, (unsigned long long)p->rows_out,
		    (unsigned long long)p->recv_cursor);
		/* progress of a long sync (PROTOCOL.md §8) */
		ADD("\"sending\":{\"done\":%llu,\"total\":%llu},\"receiving\":%s,"
		    "\"received_this_session\":%llu}",
		    (unsigned long long)p->out_done, (unsigned long long)p->out_total,
		    receiving ? "true" : "false", (unsigned long long)p->in_rows);
		first = 0;
	}
	ADD("]}");
#undef ADD
	return (int)len;
}

/* ------------------------------------------------------------------ relay */

static void
relay_view(void *ctx, size_t idx, struct cs_relay_peerview *out)
{
	struct agent *a = ctx;
	struct peerinfo *pi = &a->peers[idx];

	memset(out, 0, sizeof(*out));
	out->live = pi->s != NULL && pi->s->state == S_LIVE;
	if (out->live)
		a->seen_ms[idx] = now_ms();
	out->seen_ms = a->seen_ms[idx];
	out->acked_known = out->live && pi->acked_known;
	out->acked = pi->acked;
}

static void
relay_imported(void *ctx, const uint8_t *sender, uint64_t cursor, uint32_t applied)
{
	struct agent *a = ctx;
	size_t i;

	for (i = 0; i < a->home.nroster; i++)
		if (memcmp(a->home.roster[i].id, sender, CS_DEVID_LEN) == 0 &&
		    cursor > a->peers[i].recv_cursor)
			a->peers[i].recv_cursor = cursor;
	if (applied > 0)
		local_changed(a); /* forward to the peers online */
}

/* The relay needs a new login (needed) or works again: status error and event. */
static void
relay_login(void *ctx, int needed, const char *why)
{
	struct agent *a = ctx;
	char ev[400];
	size_t n;

	if (!needed) {
		a->relay_error[0] = '\0';
		cs_control_sticky(&a->ctl, NULL, 0);
		cs_log(CS_LOG_INFO, "relay: logged in again");
		cs_control_poke(&a->ctl);
		return;
	}
	if (why == NULL || why[0] == '\0')
		why = "login needed: run cabsync relay login";
	snprintf(a->relay_error, sizeof(a->relay_error), "relay: %s", why);
	n = (size_t)snprintf(ev, sizeof(ev),
	    "{\"event\":\"" CS_CTL_EV_RELAY_LOGIN "\",\"reason\":");
	if (cs_jsonw_str(ev, sizeof(ev), &n, why) == 0 && n + 1 < sizeof(ev)) {
		ev[n++] = '}';
		cs_control_sticky(&a->ctl, ev, n); /* a tray started later notifies it too */
	}
	cs_control_poke(&a->ctl);
}

/* The figures of a control job: db_version, open conflicts (loop thread). */
static void
ctl_figures(void *ctx, uint64_t dbv, int64_t nconf, int changed)
{
	struct agent *a = ctx;
	char ev[96];
	int n;

	if (dbv > a->local_dbv)
		a->local_dbv = dbv;
	if (nconf >= 0 && nconf != a->nconflicts) {
		n = snprintf(ev, sizeof(ev),
		    "{\"event\":\"" CS_CTL_EV_CONFLICT "\",\"open\":%lld,\"new\":%lld}",
		    (long long)nconf,
		    (long long)(a->nconflicts >= 0 && nconf > a->nconflicts ? nconf - a->nconflicts
		                                                            : 0));
		a->nconflicts = nconf;
		cs_control_publish(&a->ctl, ev, (size_t)n);
	}
	if (changed)
		local_changed(a); /* a resolution is a local edit: send it */
	cs_control_poke(&a->ctl);
}

static void
ctl_refreshed(void *ctx, uint64_t dbv, int64_t nconf, int changed)
{
	struct agent *a = ctx;

	a->refresh_busy = 0;
	ctl_figures(ctx, dbv, nconf, changed);
	if (a->refresh_again) {
		a->refresh_again = 0;
		ctl_refresh(a);
	}
}

/* Recount db_version and open conflicts on the worker; one job at a time. */
static void
ctl_refresh(struct agent *a)
{
	if (a->stopping || !a->dbw.started)
		return;
	if (a->refresh_busy) {
		a->refresh_again = 1;
		return;
	}
	if (cs_ctl_jobs_refresh(&a->dbw, a->eng, ctl_refreshed, a) == 0)
		a->refresh_busy = 1;
}

static int
ctl_async(void *ctx, const struct cs_ctl_req *req, uint64_t token)
{
	struct agent *a = ctx;

	if (a->stopping)
		return CS_EIO;
	if (cs_ctl_share_is(req->verb))
		return cs_ctl_share_post(&a->dbw, a->eng, &a->sh, &a->ctl, req, token, ctl_figures,
		    a);
	return cs_ctl_jobs_post(&a->dbw, a->eng, &a->ctl, req, token, ctl_figures, a);
}

/* A colleague's device came online or went. */
static void
ctl_peer_event(struct agent *a, int idx, int online)
{
	char ev[256], hex[33];
	size_t n;

	if (a->stopping)
		return;
	cs_home_hex(a->home.roster[idx].id, CS_DEVID_LEN, hex);
	n = (size_t)snprintf(ev, sizeof(ev),
	    "{\"event\":\"" CS_CTL_EV_PEER "\",\"device\":\"%s\",\"name\":\"", hex);
	if (cs_ctl_json_str(ev, sizeof(ev) - 24, &n, (const uint8_t *)a->home.roster[idx].name,
	        strlen(a->home.roster[idx].name)) != 0)
		return;
	n += (size_t)snprintf(ev + n, sizeof(ev) - n, "\",\"online\":%s}",
	    online ? "true" : "false");
	cs_control_publish(&a->ctl, ev, n);
	cs_control_poke(&a->ctl);
}

/* ----------------------------------------------------------- start / stop */

static void
on_closed_noop(uv_handle_t *h)
{
	(void)h;
}

static void
agent_stop(struct agent *a)
{
	struct session *s, *next;
	size_t i;

	if (a->stopping)
		return;
	a->stopping = 1;
	cs_log(CS_LOG_INFO, "stopping");
	for (s = a->sessions; s != NULL; s = next) {
		next = s->next;
		session_close(s, 0x100, "agent stopping");
	}
	for (i = 0; i < a->ndialers; i++)
		uv_close((uv_handle_t *)&a->dialers[i].timer, on_closed_noop);
	if (a->mdial[0].a != NULL) {
		for (i = 0; i < CS_HOME_MAX_DEVICES; i++)
			uv_close((uv_handle_t *)&a->mdial[i].timer, on_closed_noop);
		uv_close((uv_handle_t *)&a->rotate, on_closed_noop);
	}
	if (a->mdns != NULL) {
		cs_mdns_close(a->mdns, NULL, NULL);
		a->mdns = NULL;
	}
	uv_close((uv_handle_t *)&a->listener, on_closed_noop);
	uv_close((uv_handle_t *)&a->tick, on_closed_noop);
	uv_close((uv_handle_t *)&a->settle, on_closed_noop);
	uv_close((uv_handle_t *)&a->sigterm, on_closed_noop);
	uv_close((uv_handle_t *)&a->sigint, on_closed_noop);
	uv_close((uv_handle_t *)&a->sighup, on_closed_noop);
	if (a->watch_on)
		uv_close((uv_handle_t *)&a->watch, on_closed_noop);
	cs_control_stop(&a->ctl);
	cs_relay_agent_stop(&a->relay);
	/* the running job finishes (its transaction commits or rolls back);
	 * queued ones are cancelled: their batches are sent again next time */
	cs_dbw_close(&a->dbw, NULL);
}

static void
on_signal(uv_signal_t *sig, int signum)
{
	struct agent *a = sig->data;

	if (signum == SIGHUP) {
		roster_reload(a);
		return;
	}
	agent_stop(a);
}

static int
write_port_file(struct agent *a)
{
	char path[CS_HOME_PATH_MAX], tmp[CS_HOME_PATH_MAX + 8], txt[16];
	FILE *f;

	if (cs_home_path(&a->home, "port", path, sizeof(path)) != 0)
		return CS_ERANGE;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return CS_EIO;
	snprintf(txt, sizeof(txt), "%d\n", a->port);
	fputs(txt, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return CS_EIO;
	return 0;
}

/*
 * Our app schema for HELLO; when it changed since the last start (the app
 * was upgraded), ask every peer for everything again: what they left out
 * for our old schema comes now (PROTOCOL.md §5; duplicates are ignored).
 */
static int
appschema_start(struct agent *a)
{
	char path[CS_HOME_PATH_MAX];
	int rc, changed = 0;
	size_t i;

	cs_changeset_init(&a->schema);
	rc = cs_engine_schema(a->eng, &a->schema);
	if (rc == 0)
		rc = cs_appschema_hash(&a->schema, a->schema_hash);
	if (rc != 0)
		return rc;
	if (cs_home_path(&a->home, "appschema", path, sizeof(path)) != 0 ||
	    cs_appschema_remember(path, a->schema_hash, &changed) != 0)
		cs_log(CS_LOG_WARNING, "cannot keep the app schema hash in %s", a->home.dir);
	if (changed) {
		cs_log(CS_LOG_NOTICE,
		    "the app schema changed since the last start: asking every peer for all its "
		    "changes again, to get the new columns' values");
		for (i = 0; i < a->st->npeers; i++)
			a->st->peers[i].cursor = 0;
	}
	return 0;
}

static int
open_engine(struct agent *a)
{
	struct cs_engine_opts o;
	size_t i;
	int rc, line = 0;

	a->st = cs_calloc(1, sizeof(*a->st));
	if (a->st == NULL)
		return CS_ENOMEM;
	if (cs_devstate_init(a->st, a->home.db) != 0)
		return CS_ERANGE;
	rc = cs_devstate_load(a->st, &line);
	if (rc != 0) {
		cs_log(CS_LOG_ERR, "%s: cannot read the device state file %s (line %d)", a->home.db,
		    a->st->path, line);
		return rc;
	}
	if (memcmp(a->st->id, a->home.device_id, CS_DEVID_LEN) != 0) {
		cs_log(CS_LOG_ERR, "%s: the database belongs to another device than this home",
		    a->home.db);
		return CS_EPERM;
	}
	memset(&o, 0, sizeof(o));
	o.db_path = a->home.db;
	o.tables_ini = a->home.tables;
	o.device_id = a->st->id;
	o.expected_incarnation = a->st->has_incarnation ? a->st->incarnation : NULL;
	o.min_db_version = a->st->db_version;
	o.practitioner_of = cs_shsync_practitioner_of; /* DESIGN.md Scope and permissions */
	o.practitioner_ctx = &a->sh;
	rc = cs_engine_open(&a->eng, &o);
	if (rc != 0) {
		cs_log(CS_LOG_ERR, "%s: %s", a->home.db, cs_engine_open_errmsg());
		return rc;
	}
	if (!cs_engine_installed(a->eng)) {
		cs_log(CS_LOG_ERR, "%s: cabsync is not installed in this database", a->home.db);
		return CS_SQL_ENOTINST;
	}
	if ((rc = cs_audit_install(cs_engine_handle(a->eng))) != 0) {
		cs_log(CS_LOG_ERR, "%s: cannot install the audit trail: %s", a->home.db,
		    cs_audit_strerror(rc));
		return rc;
	}
	if ((rc = cs_shsync_install(&a->sh, a->eng)) != 0) {
		cs_log(CS_LOG_ERR, "%s: cannot install the share tables: %s", a->home.db,
		    cs_share_strerror(rc));
		return rc;
	}
	/* the app may have been upgraded while the agent was stopped */
	if (cs_upgrade_poll(a->eng, 200) < 0)
		cs_log(CS_LOG_WARNING, "%s: app schema check: %s", a->home.db,
		    cs_engine_errmsg(a->eng));
	if (cs_engine_reincarnated(a->eng)) {
		cs_log(CS_LOG_WARNING,
		    "%s: restored from a backup or copied: new identity, resync from peers",
		    a->home.db);
		for (i = 0; i < a->st->npeers; i++)
			a->st->peers[i].cursor = 0;
	}
	cs_engine_site(a->eng, a->site);
	cs_engine_incarnation(a->eng, a->incarnation);
	a->local_dbv = cs_engine_db_version(a->eng);
	if ((rc = appschema_start(a)) != 0)
		return rc;

	save_state(a);
	for (i = 0; i < a->home.nroster; i++) {
		struct cs_devpeer *p = cs_devstate_peer(a->st, a->home.roster[i].id, 0);

		if (p != NULL)
			a->peers[i].recv_cursor = p->cursor;
	}
	return 0;
}

static int
start(struct agent *a, const char *listen_addr, int port, const char **peers, size_t npeers)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc;
	char dir[CS_HOME_PATH_MAX], base[CS_HOME_PATH_MAX];
	size_t i;

	snprintf(dir, sizeof(dir), "%s", a->home.db);
	snprintf(base, sizeof(base), "%s", a->home.db);
	snprintf(a->db_base, sizeof(a->db_base), "%s", basename(base));
	if (uv_ip4_addr(listen_addr, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(listen_addr, port, (struct sockaddr_in6 *)&ss) != 0) {
		cs_log(CS_LOG_ERR, "listen address '%s' is not a numeric address", listen_addr);
		return CS_EINVAL;
	}
	uv_tcp_init(&a->loop, &a->listener);
	a->listener.data = a;
	rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&a->listener, 64, on_accept);
	if (rc != 0) {
		cs_log(CS_LOG_ERR, "cannot listen on %s port %d: %s", listen_addr, port,
		    uv_strerror(rc));
		return CS_EIO;
	}
	uv_tcp_getsockname(&a->listener, (struct sockaddr *)&ss, &len);
	a->port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
	                                  : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (write_port_file(a) != 0)
		cs_log(CS_LOG_WARNING, "cannot write the port file in %s", a->home.dir);
	roster_check(a);
	uv_timer_init(&a->loop, &a->tick);
	a->tick.data = a;
	/* 2 s: an idle agent wakes at most ~0.7 times a second (issue 5 §6) */
	uv_timer_start(&a->tick, on_tick, TICK_MS, TICK_MS);
	uv_timer_init(&a->loop, &a->settle);
	a->settle.data = a;
	uv_signal_init(&a->loop, &a->sigterm);
	uv_signal_init(&a->loop, &a->sigint);
	uv_signal_init(&a->loop, &a->sighup);
	a->sigterm.data = a->sigint.data = a->sighup.data = a;
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_signal_start(&a->sighup, on_signal, SIGHUP);
	if (uv_fs_event_init(&a->loop, &a->watch) == 0) {
		a->watch.data = a;
		a->watch_on = 1;
		if (uv_fs_event_start(&a->watch, on_fs_event, dirname(dir), 0) == 0)
			a->watch_ok = 1;
		else
			cs_log(CS_LOG_WARNING,
			    "cannot watch the database directory; local writes are noticed "
			    "within 1 s only");
	}
	rc = cs_control_start(&a->ctl, &a->loop, a->home.dir, ctl_status, a);
	if (rc != 0)
		cs_log(CS_LOG_WARNING, "no control socket: %s", a->ctl.errmsg);
	else
		cs_control_set_async(&a->ctl, ctl_async);
	ctl_refresh(a);
	for (i = 0; i < a->home.npeers; i++)
		add_dialer(a, a->home.peers[i]);
	for (i = 0; i < npeers; i++)
		add_dialer(a, peers[i]);
	{
		/* the addresses that worked before, after the static peers */
		char cpath[CS_HOME_PATH_MAX], spec[CS_ADDR_HOST_MAX + 16];
		size_t bad = 0, j, k;

		if (cs_home_path(&a->home, "addrcache", cpath, sizeof(cpath)) == 0 &&
		    cs_addrcache_load(&a->cache, cpath, &bad) != 0)
			cs_log(CS_LOG_WARNING, "%s: malformed (line %zu); starting empty", cpath,
			    bad);
		for (j = 0; j < a->cache.n; j++) {
			const struct cs_peer_addr *ca = &a->cache.v[j].addr;
			int dup = 0;

			for (k = 0; k < a->ndialers; k++)
				if (strcmp(a->dialers[k].addr.host, ca->host) == 0 &&
				    a->dialers[k].addr.port == ca->port)
					dup = 1;
			if (dup)
				continue;
			snprintf(spec, sizeof(spec), strchr(ca->host, ':') ? "[%s]:%u" : "%s:%u",
			    ca->host, ca->port);
			add_dialer(a, spec);
		}
	}
	{
		/* what each peer acknowledged last time: pending while offline */
		char apath[CS_HOME_PATH_MAX];
		uint8_t(*ids)[CS_DEVID_LEN] = cs_calloc(CS_HOME_MAX_DEVICES, CS_DEVID_LEN);
		uint64_t acked[CS_HOME_MAX_DEVICES] = {0};
		int known[CS_HOME_MAX_DEVICES] = {0};
		size_t j;

		if (ids != NULL && cs_home_path(&a->home, "acked", apath, sizeof(apath)) == 0) {
			for (j = 0; j < a->home.nroster; j++)
				memcpy(ids[j], a->home.roster[j].id, CS_DEVID_LEN);
			if (cs_acked_load(apath, (const uint8_t(*)[CS_DEVID_LEN])ids,
			        a->home.nroster, acked, known) == 0)
				for (j = 0; j < a->home.nroster; j++)
					if (known[j]) {
						a->peers[j].acked = acked[j];
						a->peers[j].acked_known = 1;
					}
		}
		cs_free(ids);
	}
	ctl_refresh(a);
	mdns_start(a);
	(void)cs_relay_agent_start(&a->relay, &a->loop, &a->dbw, &a->home, a->eng, a->st, &a->sh,
	    relay_view, relay_imported, a); /* a wrong [relay] is logged, the LAN works */
	a->relay.login = relay_login;
	cs_log(CS_LOG_INFO, "agent of device \"%s\" listening on %s port %d, %zu static peer(s)",
	    a->home.device_name, listen_addr, a->port, a->ndialers);
	return 0;
}

static void
walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int
cs_agent_cmd(int argc, char **argv)
{
	struct agent *a;
	const char *home = NULL, *listen_addr = "0.0.0.0", *port_s = NULL;
	const char *peers[CS_HOME_MAX_PEERS];
	size_t npeers = 0;
	char msg[512];
	int i, port, rc = CS_DB_EXIT_FAIL;

	for (i = 1; i < argc; i++) {
		const char **slot;

		if (strcmp(argv[i], "--home") == 0)
			slot = &home;
		else if (strcmp(argv[i], "--listen") == 0)
			slot = &listen_addr;
		else if (strcmp(argv[i], "--port") == 0)
			slot = &port_s;
		else if (strcmp(argv[i], "--peer") == 0 && npeers < CS_HOME_MAX_PEERS)
			slot = &peers[npeers++];
		else {
			fprintf(stderr,
			    "cabsync agent: unknown argument '%s' (see cabsync --help).\n",
			    argv[i]);
			return CS_DB_EXIT_USAGE;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "cabsync agent: option '%s' needs a value.\n", argv[i]);
			return CS_DB_EXIT_USAGE;
		}
		*slot = argv[++i];
	}
	if (home == NULL) {
		fprintf(stderr, "cabsync agent: needs --home DIR (see cabsync --help).\n");
		return CS_DB_EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "cabsync agent: libsodium failed to initialise.\n");
		return CS_DB_EXIT_FAIL;
	}
	signal(SIGPIPE, SIG_IGN);
	a = cs_calloc(1, sizeof(*a));
	if (a == NULL)
		return CS_DB_EXIT_FAIL;
	a->nconflicts = -1;
	if (cs_home_load(&a->home, home, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "cabsync agent: %s\n", msg);
		cs_free(a);
		return CS_DB_EXIT_FAIL;
	}
	port = a->home.port;
	if (port_s != NULL)
		port = atoi(port_s);
	a->apply_rows = CS_AGENT_APPLY_ROWS;
	a->proto_max = CS_PROTOCOL_VERSION;
	a->proto_min = CS_PROTOCOL_MIN_VERSION;
	if (getenv("CS_TEST_PROTOCOL") != NULL &&
	    sscanf(getenv("CS_TEST_PROTOCOL"), "%u:%u", &a->proto_max, &a->proto_min) != 2)
		a->proto_max = CS_PROTOCOL_VERSION;
	/* tests: an agent without CLOCK (an older build, PROTOCOL.md §3.14) */
	a->clk_off = getenv("CS_TEST_NO_CLOCK") != NULL;
	cs_clockoff_init(&a->clk);
	cs_addrcache_init(&a->cache);
	if (uv_loop_init(&a->loop) != 0)
		goto out;
	if (cs_shsync_init(&a->sh, &a->home) != 0 || open_engine(a) != 0)
		goto out_loop;
	if (cs_dbw_start(&a->dbw, &a->loop, a) != 0)
		goto out_loop;
	if (start(a, listen_addr, port, peers, npeers) != 0) {
		agent_stop(a);
		uv_run(&a->loop, UV_RUN_DEFAULT);
		goto out_loop;
	}
	uv_run(&a->loop, UV_RUN_DEFAULT);
	rc = 0;
out_loop:
	if (a->dbw.started)
		cs_dbw_close(&a->dbw, NULL);
	uv_walk(&a->loop, walk_close, NULL);
	uv_run(&a->loop, UV_RUN_DEFAULT);
	if (a->eng != NULL) {
		struct acked_job *x = cs_calloc(1, sizeof(*x));

		save_state(a);
		cs_engine_close(a->eng);
		if (x != NULL && cs_home_path(&a->home, "acked", x->path, sizeof(x->path)) == 0) {
			acked_fill(a, x);
			(void)cs_acked_save(x->path, (const uint8_t(*)[CS_DEVID_LEN])x->ids, x->n,
			    x->acked, x->known);
		}
		cs_free(x);
	}
	if (uv_loop_close(&a->loop) == UV_EBUSY) {
		cs_log(CS_LOG_ERR, "handles still open at exit");
		rc = CS_DB_EXIT_FAIL;
	}
out:
	cs_relay_agent_free(&a->relay);
	cs_addrcache_free(&a->cache);
	cs_shsync_free(&a->sh);
	cs_changeset_free(&a->schema);
	cs_free(a->st);
	cs_home_free(&a->home);
	cs_free(a);
	if (rc == 0)
		cs_log(CS_LOG_INFO, "stopped");
	return rc;
}
