/*
 * agent/roster.c: signed roster records, their rules, key epochs, and the
 * files that hold them (see roster.h).
 */
#include "agent/roster.h"
#include "agent/text.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#define ROSTER_PREFIX "device "

const char *
cs_roster_strerror(int err)
{
	switch (err) {
	case CS_ROSTER_ESIG:
		return "the record's signature does not verify";
	case CS_ROSTER_ESIGNER:
		return "the record's signer is not an active device of the roster";
	case CS_ROSTER_EADMIN:
		return "only a cabinet-admin may add a practitioner, give the admin role or "
		       "revoke another practitioner's device";
	case CS_ROSTER_EKEYS:
		return "the record changes a device's keys or practitioner, or reuses a key";
	case CS_ROSTER_EREVOKED:
		return "the device is revoked";
	case CS_ROSTER_EUNKNOWN:
		return "the record revokes a device that is not in the roster";
	case CS_ROSTER_EGENESIS:
		return "a self-signed record that is not the cabinet founder's";
	case CS_ROSTER_EFULL:
		return "the roster is full";
	case CS_ROSTER_ECABINET:
		return "a record of another cabinet";
	default:
		return cs_rrec_strerror(err);
	}
}

/* ------------------------------------------------------------------ replay */

struct order {
	size_t i;
	uint64_t t;
	uint8_t hash[CS_RREC_HASH_LEN];
};

static int
order_cmp(const void *pa, const void *pb)
{
	const struct order *a = pa, *b = pb;

	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return memcmp(a->hash, b->hash, CS_RREC_HASH_LEN);
}

static struct cs_roster_dev *
dev_find(struct cs_roster_dev *devs, size_t n, const uint8_t id[CS_DEVID_LEN])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(devs[i].id, id, CS_DEVID_LEN) == 0)
			return &devs[i];
	return NULL;
}

static int
pract_admin(const struct cs_roster_dev *devs, size_t n, const uint8_t p[CS_GID_LEN])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (devs[i].admin && memcmp(devs[i].practitioner, p, CS_GID_LEN) == 0)
			return 1;
	return 0;
}

static void
set_admin(struct cs_roster_dev *devs, size_t n, const uint8_t p[CS_GID_LEN])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(devs[i].practitioner, p, CS_GID_LEN) == 0)
			devs[i].admin = 1;
}

static const char *
pract_name(const struct cs_roster_dev *devs, size_t n, const uint8_t p[CS_GID_LEN])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(devs[i].practitioner, p, CS_GID_LEN) == 0)
			return devs[i].practitioner_name;
	return NULL;
}

/* Decide one record against the state devs[0..*n). 0 (applied) or the reason. */
static int
replay_one(const struct cs_roster *rs, const struct cs_rrec *r, struct cs_roster_dev *devs,
    size_t *n)
{
	struct cs_roster_dev *s, *d;
	const char *pn;
	size_t i;
	int same, admin, rc;

	s = dev_find(devs, *n, r->signer);
	d = dev_find(devs, *n, r->device);
	if (s == NULL) {
		/* genesis: the founder's first device, signing its own record */
		if (memcmp(r->signer, r->device, CS_DEVID_LEN) != 0)
			return CS_ROSTER_ESIGNER;
		if (sodium_memcmp(r->sign_pk, rs->founder, 32) != 0 || r->state != CS_RREC_ACTIVE ||
		    !(r->role & CS_RREC_ROLE_ADMIN))
			return CS_ROSTER_EGENESIS;
		if ((rc = cs_rrec_verify(r, r->sign_pk)) != 0)
			return rc == CS_RREC_ESIG ? CS_ROSTER_ESIG : rc;
		admin = 1;
		same = 1;
	} else {
		if (s->revoked)
			return CS_ROSTER_ESIGNER;
		if ((rc = cs_rrec_verify(r, s->sign_pk)) != 0)
			return rc == CS_RREC_ESIG ? CS_ROSTER_ESIG : rc;
		admin = pract_admin(devs, *n, s->practitioner);
		same = memcmp(s->practitioner, r->practitioner, CS_GID_LEN) == 0;
	}
	if (!same && !admin)
		return CS_ROSTER_EADMIN; /* another practitioner's device, or a new one */
	if ((r->role & CS_RREC_ROLE_ADMIN) && !admin)
		return CS_ROSTER_EADMIN;
	if (d == NULL) {
		if (r->state != CS_RREC_ACTIVE)
			return CS_ROSTER_EUNKNOWN;
		for (i = 0; i < *n; i++)
			if (sodium_memcmp(devs[i].dh_pk, r->dh_pk, 32) == 0 ||
			    sodium_memcmp(devs[i].sign_pk, r->sign_pk, 32) == 0)
				return CS_ROSTER_EKEYS;
		if (*n >= CS_HOME_MAX_DEVICES)
			return CS_ROSTER_EFULL;
		d = &devs[(*n)++];
		memset(d, 0, sizeof(*d));
		memcpy(d->id, r->device, CS_DEVID_LEN);
		memcpy(d->dh_pk, r->dh_pk, 32);
		memcpy(d->sign_pk, r->sign_pk, 32);
		memcpy(d->practitioner, r->practitioner, CS_GID_LEN);
		snprintf(d->name, sizeof(d->name), "%s", r->device_name);
		/* a practitioner keeps the name of its first record */
		pn = pract_name(devs, *n - 1, r->practitioner);
		snprintf(d->practitioner_name, sizeof(d->practitioner_name), "%s",
		    pn != NULL ? pn : r->practitioner_name);
		d->admin = pract_admin(devs, *n - 1, r->practitioner);
		memcpy(d->added_by, r->signer, CS_DEVID_LEN);
		d->added_ms = r->time_ms;
	} else {
		if (sodium_memcmp(d->dh_pk, r->dh_pk, 32) != 0 ||
		    sodium_memcmp(d->sign_pk, r->sign_pk, 32) != 0 ||
		    memcmp(d->practitioner, r->practitioner, CS_GID_LEN) != 0)
			return CS_ROSTER_EKEYS;
		if (d->revoked && r->state != CS_RREC_REVOKED)
			return CS_ROSTER_EREVOKED;
		if (r->state == CS_RREC_REVOKED) {
			if (!d->revoked) {
				d->revoked = 1;
				d->revoked_ms = r->time_ms;
			}
			if (r->epoch > d->revoked_epoch)
				d->revoked_epoch = r->epoch;
		} else {
			snprintf(d->name, sizeof(d->name), "%s", r->device_name);
		}
	}
	if (r->role & CS_RREC_ROLE_ADMIN)
		set_admin(devs, *n, r->practitioner);
	return 0;
}

/* The replay; CS_ENOMEM (nothing decided) or 0 with *ndev. */
static int
replay(const struct cs_roster *rs, struct cs_roster_dev *devs, int *verdict, size_t *ndev)
{
	struct order *o;
	size_t i, n = 0;
	int rc;

	o = cs_calloc(rs->n > 0 ? rs->n : 1, sizeof(*o));
	if (o == NULL) {
		/* cannot order: decide nothing rather than something unordered */
		for (i = 0; verdict != NULL && i < rs->n; i++)
			verdict[i] = CS_ENOMEM;
		return CS_ENOMEM;
	}
	for (i = 0; i < rs->n; i++) {
		o[i].i = i;
		o[i].t = rs->recs[i].time_ms;
		if (cs_rrec_hash(&rs->recs[i], o[i].hash) != 0)
			memset(o[i].hash, 0xff, CS_RREC_HASH_LEN);
	}
	qsort(o, rs->n, sizeof(*o), order_cmp);
	for (i = 0; i < rs->n; i++) {
		rc = replay_one(rs, &rs->recs[o[i].i], devs, &n);
		if (verdict != NULL)
			verdict[o[i].i] = rc;
	}
	cs_free(o);
	*ndev = n;
	return 0;
}

size_t
cs_roster_replay(const struct cs_roster *rs, struct cs_roster_dev *devs, int *verdict)
{
	size_t n = 0;

	return replay(rs, devs, verdict, &n) == 0 ? n : 0;
}

/* ---------------------------------------------------------------- epochs */

static void
sec_rw(struct cs_home *h)
{
	sodium_mprotect_readwrite(h->sec);
}

static void
sec_ro(struct cs_home *h)
{
	sodium_mprotect_readonly(h->sec);
}

const struct cs_rrec *
cs_roster_winner(const struct cs_home *h, uint32_t epoch)
{
	const struct cs_rrec *best = NULL;
	uint8_t bh[CS_RREC_HASH_LEN], rh[CS_RREC_HASH_LEN];
	size_t i;

	for (i = 0; i < h->rs.n; i++) {
		const struct cs_rrec *r = &h->rs.recs[i];

		if (r->state != CS_RREC_REVOKED || r->epoch != epoch)
			continue;
		if (cs_rrec_hash(r, rh) != 0)
			continue;
		if (best == NULL || memcmp(rh, bh, CS_RREC_HASH_LEN) < 0) {
			best = r;
			memcpy(bh, rh, CS_RREC_HASH_LEN);
		}
	}
	return best;
}

uint32_t
cs_roster_max_epoch(const struct cs_home *h)
{
	uint32_t m = 0;
	size_t i;

	for (i = 0; i < h->rs.n; i++)
		if (h->rs.recs[i].state == CS_RREC_REVOKED && h->rs.recs[i].epoch > m)
			m = h->rs.recs[i].epoch;
	return m;
}

const uint8_t *
cs_roster_key_find(const struct cs_home *h, uint32_t epoch,
    const uint8_t key_id[static CS_RREC_HASH_LEN])
{
	uint8_t id[CS_RREC_HASH_LEN];
	size_t i;

	for (i = 0; i < h->sec->nkeys; i++) {
		if (h->sec->keys[i].epoch != epoch)
			continue;
		cs_rrec_key_id(h->sec->keys[i].key, epoch, id);
		if (sodium_memcmp(id, key_id, CS_RREC_HASH_LEN) == 0)
			return h->sec->keys[i].key;
	}
	return NULL;
}

int
cs_roster_pick_epoch(struct cs_home *h)
{
	const uint8_t *best = NULL;
	uint32_t be = 0;
	size_t i;
	int changed;

	if (h->sec == NULL)
		return 0;
	for (i = 0; i < h->sec->nkeys; i++) {
		uint32_t e = h->sec->keys[i].epoch;
		const struct cs_rrec *w;
		uint8_t id[CS_RREC_HASH_LEN];

		if (e <= be)
			continue;
		w = cs_roster_winner(h, e);
		if (w != NULL) {
			cs_rrec_key_id(h->sec->keys[i].key, e, id);
			if (sodium_memcmp(id, w->key_id, CS_RREC_HASH_LEN) != 0)
				continue; /* a key of a rotation that lost */
		} else if (e != h->base_epoch) {
			continue; /* no record vouches for it */
		}
		be = e;
		best = h->sec->keys[i].key;
	}
	if (best == NULL)
		return 0;
	changed = be != h->epoch || sodium_memcmp(best, h->sec->cabinet_key, CS_KEY_LEN) != 0;
	if (changed) {
		sec_rw(h);
		memcpy(h->sec->cabinet_key, best, CS_KEY_LEN);
		sec_ro(h);
		h->epoch = be;
	}
	return changed;
}

int
cs_roster_key_add(struct cs_home *h, uint32_t epoch, const uint8_t key[static CS_KEY_LEN])
{
	size_t i;

	for (i = 0; i < h->sec->nkeys; i++)
		if (h->sec->keys[i].epoch == epoch &&
		    sodium_memcmp(h->sec->keys[i].key, key, CS_KEY_LEN) == 0)
			return 0;
	if (h->sec->nkeys >= CS_HOME_MAX_EPOCHS)
		return CS_ROSTER_EFULL;
	sec_rw(h);
	h->sec->keys[h->sec->nkeys].epoch = epoch;
	memcpy(h->sec->keys[h->sec->nkeys].key, key, CS_KEY_LEN);
	h->sec->nkeys++;
	sec_ro(h);
	return 1;
}

/* ----------------------------------------------------------------- merge */

void
cs_roster_refresh(struct cs_home *h)
{
	struct cs_roster_dev *devs = cs_calloc(CS_HOME_MAX_DEVICES, sizeof(*devs));
	size_t n;

	/* out of memory: the state in h stays as it was */
	if (devs != NULL && replay(&h->rs, devs, NULL, &n) == 0) {
		memcpy(h->roster, devs, n * sizeof(*devs));
		h->nroster = n;
	}
	cs_free(devs);
}

static int
rec_eq(const struct cs_rrec *a, const struct cs_rrec *b)
{
	uint8_t x[CS_RREC_LEN], y[CS_RREC_LEN];

	if (cs_rrec_encode(a, x) != 0 || cs_rrec_encode(b, y) != 0)
		return 0;
	return memcmp(x, y, CS_RREC_LEN) == 0;
}

/* Keep only the records the replay accepted (a refused one changed nothing). */
static void
prune(struct cs_roster *rs, const int *verdict)
{
	size_t i, k = 0;

	for (i = 0; i < rs->n; i++)
		if (verdict[i] == 0)
			rs->recs[k++] = rs->recs[i];
	rs->n = k;
}

int
cs_roster_merge(struct cs_home *h, const struct cs_rrec *in, size_t n, int *verdict, size_t *added)
{
	struct cs_roster *rs;
	struct cs_roster_dev *devs;
	int *v;
	size_t i, j, before = h->rs.n, *slot, nd = 0;
	int rc = 0;

	if (added != NULL)
		*added = 0;
	rs = cs_malloc(sizeof(*rs));
	devs = cs_calloc(CS_HOME_MAX_DEVICES, sizeof(*devs));
	v = cs_calloc(CS_RREC_MAX * 2 + 1, sizeof(*v));
	slot = cs_calloc(n + 1, sizeof(*slot));
	if (rs == NULL || devs == NULL || v == NULL || slot == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	*rs = h->rs;
	for (i = 0; i < n; i++) {
		slot[i] = (size_t)-1;
		if (verdict != NULL)
			verdict[i] = 0;
		if (memcmp(in[i].cabinet, h->cabinet_id, CS_CABINET_ID_LEN) != 0) {
			if (verdict != NULL)
				verdict[i] = CS_ROSTER_ECABINET;
			continue;
		}
		for (j = 0; j < rs->n; j++)
			if (rec_eq(&rs->recs[j], &in[i]))
				break;
		if (j < rs->n) {
			slot[i] = j;
			continue;
		}
		if (rs->n >= CS_RREC_MAX) {
			rc = CS_ROSTER_EFULL;
			goto out;
		}
		slot[i] = rs->n;
		rs->recs[rs->n++] = in[i];
	}
	if ((rc = replay(rs, devs, v, &nd)) != 0)
		goto out; /* h unchanged */
	for (i = 0; i < n; i++)
		if (verdict != NULL && slot[i] != (size_t)-1)
			verdict[i] = v[slot[i]];
	prune(rs, v);
	h->rs = *rs;
	memcpy(h->roster, devs, nd * sizeof(*devs));
	h->nroster = nd;
	if (added != NULL)
		*added = h->rs.n > before ? h->rs.n - before : 0;
	(void)cs_roster_pick_epoch(h);
out:
	cs_free(rs);
	cs_free(devs);
	cs_free(v);
	cs_free(slot);
	return rc;
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
cs_roster_make(struct cs_home *h, const struct cs_roster_dev *d, int revoke, int admin,
    uint32_t epoch, const uint8_t *key_id, struct cs_rrec *out)
{
	struct cs_rrec r;
	uint64_t t = wall_ms();
	size_t i;
	int rc, verdict;

	/* after every record we hold: a record sorts after what it builds on,
	 * even on a PC whose clock is behind */
	for (i = 0; i < h->rs.n; i++)
		if (h->rs.recs[i].time_ms >= t)
			t = h->rs.recs[i].time_ms + 1;
	memset(&r, 0, sizeof(r));
	memcpy(r.cabinet, h->cabinet_id, CS_CABINET_ID_LEN);
	memcpy(r.device, d->id, CS_DEVID_LEN);
	memcpy(r.dh_pk, d->dh_pk, 32);
	memcpy(r.sign_pk, d->sign_pk, 32);
	memcpy(r.practitioner, d->practitioner, CS_GID_LEN);
	snprintf(r.practitioner_name, sizeof(r.practitioner_name), "%s",
	    d->practitioner_name[0] != '\0' ? d->practitioner_name : "practitioner");
	snprintf(r.device_name, sizeof(r.device_name), "%s", d->name);
	r.state = revoke ? CS_RREC_REVOKED : CS_RREC_ACTIVE;
	r.role = admin ? CS_RREC_ROLE_ADMIN : 0;
	if (revoke) {
		r.epoch = epoch;
		memcpy(r.key_id, key_id, CS_RREC_HASH_LEN);
	}
	r.time_ms = t;
	memcpy(r.signer, h->device_id, CS_DEVID_LEN);
	if ((rc = cs_rrec_sign(&r, h->sec->sign_sk)) != 0)
		return rc;
	if ((rc = cs_roster_merge(h, &r, 1, &verdict, NULL)) != 0)
		return rc;
	if (verdict != 0)
		return verdict;
	if (out != NULL)
		*out = r;
	return 0;
}

int
cs_roster_genesis(struct cs_home *h)
{
	struct cs_roster_dev me;

	memset(&me, 0, sizeof(me));
	memcpy(me.id, h->device_id, CS_DEVID_LEN);
	memcpy(me.dh_pk, h->dh_pk, 32);
	memcpy(me.sign_pk, h->sign_pk, 32);
	memcpy(me.practitioner, h->practitioner, CS_GID_LEN);
	snprintf(me.practitioner_name, sizeof(me.practitioner_name), "%s", h->practitioner_name);
	snprintf(me.name, sizeof(me.name), "%s", h->device_name);
	memcpy(h->rs.founder, h->sign_pk, 32);
	return cs_roster_make(h, &me, 0, 1, 0, NULL, NULL);
}

/* ------------------------------------------------------------- lookups */

const struct cs_roster_dev *
cs_roster_find(const struct cs_home *h, const char *name, int *ambiguous)
{
	const struct cs_roster_dev *hit = NULL;
	char hex[2 * CS_DEVID_LEN + 1];
	size_t i, nl = strlen(name);
	int count = 0;

	*ambiguous = 0;
	for (i = 0; i < h->nroster; i++) {
		const struct cs_roster_dev *d = &h->roster[i];

		cs_home_hex(d->id, CS_DEVID_LEN, hex);
		if (strcmp(d->name, name) == 0 ||
		    (nl >= 4 && nl <= 2 * CS_DEVID_LEN && strncmp(hex, name, nl) == 0)) {
			hit = d;
			count++;
		}
	}
	if (count > 1) {
		*ambiguous = 1;
		return NULL;
	}
	return hit;
}

int
cs_roster_is_admin(const struct cs_home *h, const uint8_t p[static CS_GID_LEN])
{
	return pract_admin(h->roster, h->nroster, p);
}

/* ------------------------------------------------------------ roster.ini */

/* One section of roster.ini being parsed. */
struct pent {
	char sec[96];
	struct cs_rrec r;
	int has_sig, has_state, bad;
};

struct parse {
	struct cs_home *h;
	struct pent *e;
	size_t n;
	int legacy_fields; /* entries without a signature: an older roster */
	uint8_t founder[32];
	int has_founder;
};

static int
parse_cb(void *user, const char *sec, const char *key, const char *val)
{
	struct parse *p = user;
	struct pent *e = NULL;
	struct cs_rrec *r;
	uint64_t u;
	size_t i;

	if (strcmp(sec, "cabinet") == 0) {
		if (strcmp(key, "founder") == 0) {
			p->has_founder = 1;
			return cs_home_unhex(val, p->founder, 32) == 0;
		}
		return 1;
	}
	if (strncmp(sec, ROSTER_PREFIX, strlen(ROSTER_PREFIX)) != 0)
		return 1;
	for (i = 0; i < p->n; i++)
		if (strcmp(p->e[i].sec, sec) == 0)
			e = &p->e[i];
	if (e == NULL) {
		if (p->n >= CS_RREC_MAX || strlen(sec) >= sizeof(e->sec))
			return 0;
		e = &p->e[p->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->sec, sizeof(e->sec), "%s", sec);
		/* the device id is the section's first word after "device " */
		{
			char id[2 * CS_DEVID_LEN + 1];
			const char *s = sec + strlen(ROSTER_PREFIX);
			size_t k = strcspn(s, " ");

			if (k != 2 * CS_DEVID_LEN)
				return 0;
			memcpy(id, s, k);
			id[k] = '\0';
			if (cs_home_unhex(id, e->r.device, CS_DEVID_LEN) != 0)
				return 0;
		}
	}
	r = &e->r;
	if (strcmp(key, "name") == 0)
		return snprintf(r->device_name, sizeof(r->device_name), "%s", val) <
		    (int)sizeof(r->device_name);
	if (strcmp(key, "practitioner_name") == 0)
		return snprintf(r->practitioner_name, sizeof(r->practitioner_name), "%s", val) <
		    (int)sizeof(r->practitioner_name);
	if (strcmp(key, "practitioner") == 0)
		return cs_home_unhex(val, r->practitioner, CS_GID_LEN) == 0;
	if (strcmp(key, "dh") == 0)
		return cs_home_unhex(val, r->dh_pk, 32) == 0;
	if (strcmp(key, "sign") == 0)
		return cs_home_unhex(val, r->sign_pk, 32) == 0;
	if (strcmp(key, "signer") == 0)
		return cs_home_unhex(val, r->signer, CS_DEVID_LEN) == 0;
	if (strcmp(key, "key_id") == 0)
		return cs_home_unhex(val, r->key_id, CS_RREC_HASH_LEN) == 0;
	if (strcmp(key, "sig") == 0) {
		e->has_sig = 1;
		return cs_home_unhex(val, r->sig, CS_RREC_SIG_LEN) == 0;
	}
	if (strcmp(key, "role") == 0) {
		if (strcmp(val, "admin") == 0)
			r->role = CS_RREC_ROLE_ADMIN;
		else if (strcmp(val, "member") == 0)
			r->role = 0;
		else
			return 0;
		return 1;
	}
	if (strcmp(key, "state") == 0) {
		e->has_state = 1;
		if (strcmp(val, "active") == 0)
			r->state = CS_RREC_ACTIVE;
		else if (strcmp(val, "revoked") == 0)
			r->state = CS_RREC_REVOKED;
		else
			return 0;
		return 1;
	}
	if (strcmp(key, "epoch") == 0) {
		if (cs_parse_u64(val, &u) != 0 || u > 0xffffffffULL)
			return 0;
		r->epoch = (uint32_t)u;
		return 1;
	}
	if (strcmp(key, "time") == 0)
		return cs_parse_u64(val, &r->time_ms) == 0;
	return 1; /* a newer version's field */
}

/*
 * A roster.ini of an earlier version: unsigned device sections. This device
 * becomes the founder of its own copy and signs every entry; every
 * practitioner already there becomes cabinet-admin (there were no roles
 * before, so nobody loses a right). docs/OPERATIONS.md "Upgrading".
 */
static int
migrate(struct cs_home *h, struct parse *p)
{
	struct cs_roster_dev d;
	size_t i;
	int rc;

	h->rs.n = 0;
	if ((rc = cs_roster_genesis(h)) != 0)
		return rc;
	for (i = 0; i < p->n; i++) {
		const struct cs_rrec *r = &p->e[i].r;

		if (memcmp(r->device, h->device_id, CS_DEVID_LEN) == 0)
			continue;
		memset(&d, 0, sizeof(d));
		memcpy(d.id, r->device, CS_DEVID_LEN);
		memcpy(d.dh_pk, r->dh_pk, 32);
		memcpy(d.sign_pk, r->sign_pk, 32);
		memcpy(d.practitioner, r->practitioner, CS_GID_LEN);
		snprintf(d.name, sizeof(d.name), "%s", r->device_name);
		if (memcmp(d.practitioner, h->practitioner, CS_GID_LEN) == 0)
			snprintf(d.practitioner_name, sizeof(d.practitioner_name), "%s",
			    h->practitioner_name);
		else
			snprintf(d.practitioner_name, sizeof(d.practitioner_name), "%s",
			    "practitioner");
		rc = cs_roster_make(h, &d, 0, 1, 0, NULL, NULL);
		if (rc == 0 && r->state == CS_RREC_REVOKED) {
			uint8_t key_id[CS_RREC_HASH_LEN];

			/* revoked before signed rosters: keeps the epoch, no rotation;
			 * the key id of the current key marks "no new key" */
			cs_rrec_key_id(h->sec->cabinet_key, h->epoch + 1, key_id);
			rc = cs_roster_make(h, &d, 1, 0, h->epoch + 1, key_id, NULL);
		}
		if (rc != 0)
			cs_log(CS_LOG_WARNING, "roster migration: device \"%s\" not kept: %s",
			    d.name, cs_roster_strerror(rc));
	}
	cs_log(CS_LOG_NOTICE,
	    "roster.ini migrated to signed records (%zu devices); every practitioner already "
	    "in it is cabinet-admin",
	    h->nroster);
	return 0;
}

static int
keys_file_read(struct cs_home *h, char *msg, size_t msg_cap)
{
	char path[CS_HOME_PATH_MAX];
	uint8_t buf[4 + CS_KEY_LEN];
	struct stat sb;
	ssize_t r;
	int fd, rc = 0;

	if (cs_home_path(h, "cabinet.keys", path, sizeof(path)) != 0)
		return CS_ERANGE;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : CS_HOME_EKEYFILE;
	if (fstat(fd, &sb) != 0 || (sb.st_mode & 077) != 0) {
		cs_say(msg, msg_cap, "%s: the key file must be mode 0600 (chmod 600 it).", path);
		rc = CS_HOME_EKEYFILE;
		goto out;
	}
	for (;;) {
		r = read(fd, buf, sizeof(buf));
		if (r == 0)
			break;
		if (r != (ssize_t)sizeof(buf)) {
			cs_say(msg, msg_cap, "%s: the key file has the wrong size.", path);
			rc = CS_HOME_EKEYFILE;
			goto out;
		}
		if (cs_roster_key_add(h,
		        (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 |
		            buf[3],
		        buf + 4) < 0) {
			rc = CS_HOME_EKEYFILE;
			goto out;
		}
	}
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* Read roster.ini's records into h->rs (merged), and the keys. */
static int
load_files(struct cs_home *h, int *legacy, char *msg, size_t msg_cap)
{
	char path[CS_HOME_PATH_MAX];
	struct parse *p;
	struct cs_rrec *in = NULL;
	size_t i, k = 0, dropped = 0;
	int line, rc = 0, *verdict = NULL;

	*legacy = 0;
	if (cs_home_path(h, "roster.ini", path, sizeof(path)) != 0)
		return CS_ERANGE;
	p = cs_calloc(1, sizeof(*p));
	if (p != NULL)
		p->e = cs_calloc(CS_RREC_MAX, sizeof(*p->e));
	in = cs_calloc(CS_RREC_MAX, sizeof(*in));
	verdict = cs_calloc(CS_RREC_MAX, sizeof(*verdict));
	if (p == NULL || p->e == NULL || in == NULL || verdict == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	p->h = h;
	line = ini_parse(path, parse_cb, p);
	if (line != 0) {
		if (line < 0)
			cs_say(msg, msg_cap, "%s: cannot read the roster: %s.", path,
			    strerror(errno));
		else
			cs_say(msg, msg_cap, "%s: malformed roster (line %d).", path, line);
		rc = CS_HOME_ECONFIG;
		goto out;
	}
	if ((rc = keys_file_read(h, msg, msg_cap)) != 0)
		goto out;
	for (i = 0; i < p->n; i++)
		if (!p->e[i].has_sig)
			*legacy = 1;
	if (*legacy || !p->has_founder) {
		if (h->rs.n > 0) {
			/* a roster in memory already: unsigned entries on disk are
			 * nobody's word; keep ours (rewritten at the next save) */
			cs_log(CS_LOG_WARNING, "%s: unsigned entries ignored", path);
			*legacy = 0;
			goto out;
		}
		*legacy = 1;
		rc = migrate(h, p);
		goto out;
	}
	if (h->rs.n == 0)
		memcpy(h->rs.founder, p->founder, 32);
	else if (sodium_memcmp(h->rs.founder, p->founder, 32) != 0) {
		cs_say(msg, msg_cap, "%s: the roster's founder changed.", path);
		rc = CS_HOME_ECONFIG;
		goto out;
	}
	for (i = 0; i < p->n; i++) {
		struct cs_rrec *r = &p->e[i].r;
		uint8_t b[CS_RREC_LEN];

		memcpy(r->cabinet, h->cabinet_id, CS_CABINET_ID_LEN);
		if (cs_rrec_encode(r, b) != 0) {
			dropped++;
			continue;
		}
		in[k++] = *r;
	}
	rc = cs_roster_merge(h, in, k, verdict, NULL);
	if (rc != 0)
		goto out;
	for (i = 0; i < k; i++)
		if (verdict[i] != 0)
			dropped++;
	if (dropped > 0)
		cs_log(CS_LOG_WARNING,
		    "%s: %zu record(s) dropped (edited by hand, or refused by the roster rules)",
		    path, dropped);
out:
	if (p != NULL)
		cs_free(p->e);
	cs_free(p);
	cs_free(in);
	cs_free(verdict);
	return rc;
}

/* A growing text buffer. */
struct tbuf {
	char *p;
	size_t len, cap;
	int over;
};

static void tb_add(struct tbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
tb_add(struct tbuf *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->over = 1;
	else
		t->len += (size_t)n;
}

static void
roster_text(const struct cs_home *h, struct tbuf *t)
{
	char hex[2 * CS_RREC_SIG_LEN + 1];
	size_t i, j, nth;

	tb_add(t,
	    "# cabsync roster: signed records (docs/OPERATIONS.md). Do not edit: a\n"
	    "# changed line breaks its record's signature and the record is dropped.\n"
	    "# `cabsync device list` shows the state they give.\n");
	cs_home_hex(h->rs.founder, 32, hex);
	tb_add(t, "[cabinet]\nfounder = %s\n", hex);
	for (i = 0; i < h->rs.n; i++) {
		const struct cs_rrec *r = &h->rs.recs[i];

		for (nth = 1, j = 0; j < i; j++)
			if (memcmp(h->rs.recs[j].device, r->device, CS_DEVID_LEN) == 0)
				nth++;
		cs_home_hex(r->device, CS_DEVID_LEN, hex);
		if (nth == 1)
			tb_add(t, "\n[" ROSTER_PREFIX "%s]\n", hex);
		else
			tb_add(t, "\n[" ROSTER_PREFIX "%s %zu]\n", hex, nth);
		tb_add(t, "name = %s\n", r->device_name);
		cs_home_hex(r->practitioner, CS_GID_LEN, hex);
		tb_add(t, "practitioner = %s\npractitioner_name = %s\nrole = %s\n", hex,
		    r->practitioner_name, (r->role & CS_RREC_ROLE_ADMIN) ? "admin" : "member");
		cs_home_hex(r->dh_pk, 32, hex);
		tb_add(t, "dh = %s\n", hex);
		cs_home_hex(r->sign_pk, 32, hex);
		tb_add(t, "sign = %s\nstate = %s\n", hex,
		    r->state == CS_RREC_REVOKED ? "revoked" : "active");
		if (r->state == CS_RREC_REVOKED) {
			cs_home_hex(r->key_id, CS_RREC_HASH_LEN, hex);
			tb_add(t, "epoch = %u\nkey_id = %s\n", (unsigned)r->epoch, hex);
		}
		cs_home_hex(r->signer, CS_DEVID_LEN, hex);
		tb_add(t, "time = %llu\nsigner = %s\n", (unsigned long long)r->time_ms, hex);
		cs_home_hex(r->sig, CS_RREC_SIG_LEN, hex);
		tb_add(t, "sig = %s\n", hex);
	}
}

/* Write data to path through path.tmp + fsync + rename, mode 0600. */
static int
replace_file(const char *path, const void *data, size_t len)
{
	char tmp[CS_HOME_PATH_MAX + 8];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return CS_ERANGE;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return CS_EIO;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return CS_EIO;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return CS_EIO;
	}
	return 0;
}

static int
lock_home(const struct cs_home *h)
{
	char path[CS_HOME_PATH_MAX];
	int fd;

	if (cs_home_path(h, "roster.lock", path, sizeof(path)) != 0)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_files(struct cs_home *h)
{
	char path[CS_HOME_PATH_MAX];
	struct tbuf t;
	uint8_t *kb = NULL;
	size_t i, kl = 0;
	int rc;

	t.cap = 4096 + h->rs.n * 1024;
	t.len = 0;
	t.over = 0;
	t.p = cs_malloc(t.cap);
	if (t.p == NULL)
		return CS_ENOMEM;
	roster_text(h, &t);
	rc = CS_ERANGE;
	if (t.over || cs_home_path(h, "roster.ini", path, sizeof(path)) != 0)
		goto out;
	if ((rc = replace_file(path, t.p, t.len)) != 0)
		goto out;
	/* the keys of the epochs after the base one (cabinet.key holds that) */
	kb = sodium_malloc(CS_HOME_MAX_EPOCHS * (4 + CS_KEY_LEN));
	rc = CS_ENOMEM;
	if (kb == NULL)
		goto out;
	for (i = 0; i < h->sec->nkeys; i++) {
		uint32_t e = h->sec->keys[i].epoch;

		if (e == h->base_epoch)
			continue;
		kb[kl] = (uint8_t)(e >> 24);
		kb[kl + 1] = (uint8_t)(e >> 16);
		kb[kl + 2] = (uint8_t)(e >> 8);
		kb[kl + 3] = (uint8_t)e;
		memcpy(kb + kl + 4, h->sec->keys[i].key, CS_KEY_LEN);
		kl += 4 + CS_KEY_LEN;
	}
	rc = CS_ERANGE;
	if (cs_home_path(h, "cabinet.keys", path, sizeof(path)) != 0)
		goto out;
	rc = kl > 0 ? replace_file(path, kb, kl) : 0;
out:
	if (kb != NULL)
		sodium_free(kb);
	cs_free(t.p);
	return rc;
}

int
cs_roster_load(struct cs_home *h, char *msg, size_t msg_cap)
{
	int legacy = 0, rc, fd;

	fd = lock_home(h);
	rc = load_files(h, &legacy, msg, msg_cap);
	if (rc == 0 && legacy)
		rc = write_files(h);
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		(void)cs_roster_pick_epoch(h);
	return rc;
}

int
cs_roster_save(struct cs_home *h)
{
	int legacy = 0, rc, fd;
	char msg[256];

	fd = lock_home(h);
	if (fd < 0)
		return CS_EIO;
	/* union with what another process may have written meanwhile */
	rc = load_files(h, &legacy, msg, sizeof(msg));
	if (rc == CS_HOME_ECONFIG) {
		char path[CS_HOME_PATH_MAX];
		struct stat sb;

		/* no roster.ini yet (init, join): write ours */
		if (cs_home_path(h, "roster.ini", path, sizeof(path)) == 0 && stat(path, &sb) != 0)
			rc = 0;
	}
	if (rc == 0)
		rc = write_files(h);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------- messages */

int
cs_roster_msg(const struct cs_home *h, uint8_t **out, size_t *len)
{
	uint8_t *recs = NULL, *extra = NULL;
	size_t i, n = h->rs.n, ne = 0, cap;
	const char *inj = getenv("CS_TEST_ROSTER_INJECT");
	int rc;

	*out = NULL;
	if (inj != NULL) {
		FILE *f = fopen(inj, "rb");

		extra = cs_malloc(4 * CS_RREC_LEN);
		if (f != NULL && extra != NULL)
			ne = fread(extra, 1, 4 * CS_RREC_LEN, f) / CS_RREC_LEN;
		if (f != NULL)
			fclose(f);
	}
	if (n + ne > CS_RREC_MAX)
		ne = n < CS_RREC_MAX ? CS_RREC_MAX - n : 0;
	recs = cs_calloc(n + ne + 1, CS_RREC_LEN);
	cap = (n + ne) * CS_RREC_LEN + 16;
	*out = cs_malloc(cap);
	rc = CS_ENOMEM;
	if (recs == NULL || *out == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = cs_rrec_encode(&h->rs.recs[i], recs + i * CS_RREC_LEN)) != 0)
			goto out;
	if (ne > 0)
		memcpy(recs + n * CS_RREC_LEN, extra, ne * CS_RREC_LEN);
	rc = cs_rrec_roster_encode(recs, n + ne, *out, cap, len);
out:
	if (rc != 0) {
		cs_free(*out);
		*out = NULL;
	}
	cs_free(recs);
	cs_free(extra);
	return rc;
}

int
cs_roster_keys_msg(const struct cs_home *h, const uint8_t peer_dh[static 32], uint8_t **out,
    size_t *len)
{
	uint8_t *ents, id[CS_RREC_HASH_LEN];
	size_t i, n = 0, cap;
	int rc = 0;

	*out = NULL;
	ents = cs_calloc(CS_HOME_MAX_EPOCHS + 1, CS_RREC_KEY_ENTRY_LEN);
	cap = (CS_HOME_MAX_EPOCHS + 1) * CS_RREC_KEY_ENTRY_LEN + 16;
	*out = cs_malloc(cap);
	if (ents == NULL || *out == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	for (i = 0; i < h->sec->nkeys && n < CS_RREC_MAX_KEYS; i++) {
		uint32_t e = h->sec->keys[i].epoch;
		const struct cs_rrec *w = cs_roster_winner(h, e);

		if (w == NULL)
			continue; /* a base key: every device that joined at it has it */
		cs_rrec_key_id(h->sec->keys[i].key, e, id);
		if (sodium_memcmp(id, w->key_id, CS_RREC_HASH_LEN) != 0)
			continue; /* a key of a rotation that lost */
		if ((rc = cs_rrec_key_seal(h->sec->keys[i].key, e, peer_dh,
		         ents + n * CS_RREC_KEY_ENTRY_LEN)) != 0)
			goto out;
		n++;
	}
	rc = cs_rrec_keys_encode(ents, n, *out, cap, len);
out:
	if (rc != 0) {
		cs_free(*out);
		*out = NULL;
	}
	cs_free(ents);
	return rc;
}

int
cs_roster_take(struct cs_home *h, const uint8_t *body, size_t n, cs_roster_refused_cb refused,
    void *ctx, size_t *added)
{
	struct cs_rrec *in;
	int *verdict;
	size_t i, k = 0;
	int rc;

	*added = 0;
	in = cs_calloc(n + 1, sizeof(*in));
	verdict = cs_calloc(n + 1, sizeof(*verdict));
	if (in == NULL || verdict == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		rc = cs_rrec_decode(body + i * CS_RREC_LEN, CS_RREC_LEN, h->cabinet_id, &in[k]);
		if (rc != 0) {
			if (refused != NULL)
				refused(ctx, NULL, rc);
			continue;
		}
		k++;
	}
	rc = cs_roster_merge(h, in, k, verdict, added);
	if (rc != 0)
		goto out;
	for (i = 0; i < k; i++)
		if (verdict[i] != 0 && refused != NULL)
			refused(ctx, &in[i], verdict[i]);
out:
	cs_free(in);
	cs_free(verdict);
	return rc;
}

int
cs_roster_take_keys(struct cs_home *h, const uint8_t *body, size_t n, size_t *installed)
{
	uint8_t key[CS_KEY_LEN], id[CS_RREC_HASH_LEN];
	uint32_t epoch;
	size_t i;
	int rc = 0, r;

	*installed = 0;
	for (i = 0; i < n; i++) {
		const struct cs_rrec *w;

		if (cs_rrec_key_open(body + i * CS_RREC_KEY_ENTRY_LEN, h->dh_pk, h->sec->dh_sk,
		        &epoch, key, id) != 0)
			continue;
		w = cs_roster_winner(h, epoch);
		if (w != NULL && sodium_memcmp(w->key_id, id, CS_RREC_HASH_LEN) == 0) {
			r = cs_roster_key_add(h, epoch, key);
			if (r < 0)
				rc = r;
			else
				*installed += (size_t)r;
		}
		sodium_memzero(key, sizeof(key));
	}
	(void)cs_roster_pick_epoch(h);
	return rc;
}
