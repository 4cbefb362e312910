/*
 * tests/unit/test_roster.c: the roster rules (agent/roster.h) on records
 * signed by hand: genesis by the founder only; a device of practitioner P
 * adds devices for P; adding a practitioner, giving the admin role or
 * revoking another practitioner's device needs an admin; nothing a device
 * signs after its revocation counts; keys never change; a bad signature is
 * refused; the state does not depend on the order records arrive in; two
 * rotations to one epoch elect the same winner everywhere; merging is
 * idempotent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "agent/home.h"
#include "agent/roster.h"
#include "base/err.h"
#include "base/mem.h"

struct dev {
	uint8_t id[16], dh[32], spk[32], ssk[64], pract[16];
	char name[16];
};

static uint8_t cabinet[16] = {7};
static struct dev founder, f2, durand, durand2, petit;
static uint8_t p_martin[16] = {1}, p_durand[16] = {2}, p_petit[16] = {3};

static void
dev_init(struct dev *d, const char *name, const uint8_t pract[16])
{
	randombytes_buf(d->id, 16);
	randombytes_buf(d->dh, 32);
	crypto_sign_keypair(d->spk, d->ssk);
	memcpy(d->pract, pract, 16);
	snprintf(d->name, sizeof(d->name), "%s", name);
}

/* A record about d signed by s. */
static struct cs_rrec
rec(const struct dev *d, const struct dev *s, int revoked, int admin, uint32_t epoch, uint64_t t)
{
	struct cs_rrec r;

	memset(&r, 0, sizeof(r));
	memcpy(r.cabinet, cabinet, 16);
	memcpy(r.device, d->id, 16);
	memcpy(r.dh_pk, d->dh, 32);
	memcpy(r.sign_pk, d->spk, 32);
	memcpy(r.practitioner, d->pract, 16);
	snprintf(r.practitioner_name, sizeof(r.practitioner_name), "P%d", d->pract[0]);
	snprintf(r.device_name, sizeof(r.device_name), "%s", d->name);
	r.state = revoked ? CS_RREC_REVOKED : CS_RREC_ACTIVE;
	r.role = admin ? CS_RREC_ROLE_ADMIN : 0;
	if (revoked) {
		r.epoch = epoch;
		randombytes_buf(r.key_id, sizeof(r.key_id));
	}
	r.time_ms = t;
	memcpy(r.signer, s->id, 16);
	assert_int_equal(cs_rrec_sign(&r, s->ssk), 0);
	return r;
}

static struct cs_roster *rs;
static struct cs_roster_dev *devs;
static int verdict[CS_RREC_MAX];

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	dev_init(&founder, "desk", p_martin);
	dev_init(&f2, "laptop", p_martin);
	dev_init(&durand, "durand", p_durand);
	dev_init(&durand2, "durand2", p_durand);
	dev_init(&petit, "petit", p_petit);
	rs = calloc(1, sizeof(*rs));
	devs = calloc(CS_HOME_MAX_DEVICES, sizeof(*devs));
	return rs == NULL || devs == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(rs);
	free(devs);
	return 0;
}

/* The usual start: founder (Martin, admin) adds Durand (member). */
static size_t
base(void)
{
	memset(rs, 0, sizeof(*rs));
	memcpy(rs->founder, founder.spk, 32);
	rs->recs[0] = rec(&founder, &founder, 0, 1, 0, 100);
	rs->recs[1] = rec(&durand, &founder, 0, 0, 0, 200);
	rs->n = 2;
	return cs_roster_replay(rs, devs, verdict);
}

static const struct cs_roster_dev *
find(const struct dev *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(devs[i].id, d->id, 16) == 0)
			return &devs[i];
	return NULL;
}

static void
test_roster_genesis_only_by_the_founder(void **state)
{
	size_t n;

	(void)state;
	n = base();
	assert_int_equal(n, 2);
	assert_int_equal(verdict[0], 0);
	assert_true(find(&founder, n)->admin);
	assert_false(find(&durand, n)->admin);
	/* petit signs itself in as admin: not the founder */
	rs->recs[rs->n++] = rec(&petit, &petit, 0, 1, 0, 300);
	n = cs_roster_replay(rs, devs, verdict);
	assert_int_equal(verdict[2], CS_ROSTER_EGENESIS);
	assert_null(find(&petit, n));
}

static void
test_roster_practitioner_adds_own_devices_only(void **state)
{
	size_t n;

	(void)state;
	base();
	rs->recs[rs->n++] = rec(&durand2, &durand, 0, 0, 0, 300); /* own practitioner: ok */
	rs->recs[rs->n++] = rec(&petit, &durand, 0, 0, 0, 400);   /* a new one: admin only */
	n = cs_roster_replay(rs, devs, verdict);
	assert_int_equal(verdict[2], 0);
	assert_int_equal(verdict[3], CS_ROSTER_EADMIN);
	assert_non_null(find(&durand2, n));
	assert_null(find(&petit, n));
	/* nor may a member give itself the admin role */
	rs->n = 2;
	rs->recs[rs->n++] = rec(&durand2, &durand, 0, 1, 0, 300);
	n = cs_roster_replay(rs, devs, verdict);
	assert_int_equal(verdict[2], CS_ROSTER_EADMIN);
	/* the admin may add a practitioner and name it admin */
	rs->n = 2;
	rs->recs[rs->n++] = rec(&petit, &founder, 0, 1, 0, 300);
	rs->recs[rs->n++] = rec(&durand2, &petit, 0, 0, 0, 400); /* petit is admin now */
	n = cs_roster_replay(rs, devs, verdict);
	assert_int_equal(verdict[2], 0);
	assert_int_equal(verdict[3], 0);
	assert_true(find(&petit, n)->admin);
}

static void
test_roster_revoking_another_practitioners_device_needs_admin(void **state)
{
	size_t n;

	(void)state;
	base();
	rs->recs[rs->n++] = rec(&f2, &founder, 0, 0, 0, 300);
	rs->recs[rs->n++] = rec(&f2, &durand, 1, 0, 2, 400); /* Durand revokes Martin's laptop */
	n = cs_roster_replay(rs, devs, verdict);
	assert_int_equal(verdict[3], CS_ROSTER_EADMIN);
	assert_false(find(&f2, n)->revoked);
	/* the admin may; so may a device of the same practitioner */
	rs->recs[3] = rec(&durand, &founder, 1, 0, 2, 400);
	rs->recs[rs->n++] = rec(&f2, &founder, 1, 0, 3, 500);
	n = cs_roster_replay(rs, devs, verdict);
	assert_int_equal(verdict[3], 0);
	assert_int_equal(verdict[4], 0);
	assert_true(find(&durand, n)->revoked);
	assert_true(find(&f2, n)->revoked);
	assert_int_equal(find(&durand, n)->revoked_epoch, 2);
}

static void
test_roster_nothing_signed_after_revocation_counts(void **state)
{
	size_t n;

	(void)state;
	base();
	rs->recs[rs->n++] = rec(&durand2, &durand, 0, 0, 0, 300); /* before: stays */
	rs->recs[rs->n++] = rec(&durand, &founder, 1, 0, 2, 400);
	rs->recs[rs->n++] = rec(&petit, &durand, 0, 0, 0, 500); /* the thief adds a device */
	n = cs_roster_replay(rs, devs, verdict);
	assert_int_equal(verdict[2], 0);
	assert_int_equal(verdict[3], 0);
	assert_int_equal(verdict[4], CS_ROSTER_ESIGNER);
	assert_non_null(find(&durand2, n));
	/* a revoked device cannot be brought back by a plain record */
	rs->recs[4] = rec(&durand, &founder, 0, 0, 0, 600);
	n = cs_roster_replay(rs, devs, verdict);
	assert_int_equal(verdict[4], CS_ROSTER_EREVOKED);
	assert_true(find(&durand, n)->revoked);
}

static void
test_roster_bad_signature_and_changed_keys_refused(void **state)
{
	struct cs_rrec r;
	size_t n;

	(void)state;
	base();
	r = rec(&f2, &founder, 0, 0, 0, 300);
	r.sig[5] ^= 1;
	rs->recs[rs->n++] = r;
	r = rec(&durand, &founder, 0, 0, 0, 400);
	r.dh_pk[0] ^= 1; /* a new X25519 key for an existing device */
	assert_int_equal(cs_rrec_sign(&r, founder.ssk), 0);
	rs->recs[rs->n++] = r;
	r = rec(&f2, &founder, 0, 0, 0, 500);
	memcpy(r.signer, petit.id, 16); /* a signer nobody knows */
	assert_int_equal(cs_rrec_sign(&r, petit.ssk), 0);
	rs->recs[rs->n++] = r;
	n = cs_roster_replay(rs, devs, verdict);
	assert_int_equal(verdict[2], CS_ROSTER_ESIG);
	assert_int_equal(verdict[3], CS_ROSTER_EKEYS);
	assert_int_equal(verdict[4], CS_ROSTER_ESIGNER);
	assert_int_equal(n, 2);
}

static void
test_roster_state_does_not_depend_on_arrival_order(void **state)
{
	struct cs_roster_dev *ref;
	size_t n, n2, i, k;

	(void)state;
	base();
	rs->recs[rs->n++] = rec(&f2, &founder, 0, 0, 0, 300);
	rs->recs[rs->n++] = rec(&petit, &founder, 0, 0, 0, 300); /* same time: hash order */
	rs->recs[rs->n++] = rec(&durand2, &durand, 0, 0, 0, 350);
	rs->recs[rs->n++] = rec(&durand, &founder, 1, 0, 2, 400);
	rs->recs[rs->n++] = rec(&petit, &durand, 1, 0, 2, 450); /* refused: after revocation */
	n = cs_roster_replay(rs, devs, verdict);
	ref = calloc(CS_HOME_MAX_DEVICES, sizeof(*ref));
	assert_non_null(ref);
	memcpy(ref, devs, n * sizeof(*devs));
	for (k = 0; k < 50; k++) {
		for (i = rs->n - 1; i > 0; i--) {
			size_t j = randombytes_uniform((uint32_t)i + 1);
			struct cs_rrec t = rs->recs[i];

			rs->recs[i] = rs->recs[j];
			rs->recs[j] = t;
		}
		n2 = cs_roster_replay(rs, devs, verdict);
		assert_int_equal(n2, n);
		for (i = 0; i < n; i++)
			assert_memory_equal(&devs[i], &ref[i], sizeof(*devs));
	}
	free(ref);
}

/* Two admins rotate to the same epoch at once: the lowest hash wins. */
static void
test_roster_concurrent_rotations_elect_one_winner(void **state)
{
	struct cs_home *h;
	struct cs_rrec a, b;
	uint8_t ha[32], hb[32];
	const struct cs_rrec *w;
	int v[2];

	(void)state;
	h = cs_calloc(1, sizeof(*h));
	assert_non_null(h);
	memcpy(h->cabinet_id, cabinet, 16);
	base();
	rs->recs[rs->n++] = rec(&petit, &founder, 0, 1, 0, 250);
	h->rs = *rs;
	cs_roster_refresh(h);
	a = rec(&durand, &founder, 1, 0, 2, 500);
	b = rec(&durand, &petit, 1, 0, 2, 500);
	assert_int_equal(cs_roster_merge(h, &b, 1, v, NULL), 0);
	assert_int_equal(cs_roster_merge(h, &a, 1, v, NULL), 0);
	assert_int_equal(v[0], 0);
	w = cs_roster_winner(h, 2);
	assert_non_null(w);
	assert_int_equal(cs_rrec_hash(&a, ha), 0);
	assert_int_equal(cs_rrec_hash(&b, hb), 0);
	assert_memory_equal(w->key_id, memcmp(ha, hb, 32) < 0 ? a.key_id : b.key_id, 32);
	assert_int_equal(cs_roster_max_epoch(h), 2);
	/* merging again changes nothing */
	{
		size_t before = h->rs.n, added = 9;

		assert_int_equal(cs_roster_merge(h, &a, 1, v, &added), 0);
		assert_int_equal(added, 0);
		assert_int_equal(h->rs.n, before);
	}
	cs_free(h);
}

/* KEYS: only the winner's key of an epoch, sealed to this device, is kept. */
static void
test_roster_delivered_key_kept_only_if_vouched_and_ours(void **state)
{
	struct cs_home *h;
	struct cs_rrec r;
	uint8_t k1[32], k2[32], bad[32], other_pk[32], other_sk[32];
	uint8_t ents[3 * CS_RREC_KEY_ENTRY_LEN];
	size_t got;
	int v;

	(void)state;
	h = cs_calloc(1, sizeof(*h));
	assert_non_null(h);
	assert_int_equal(cs_home_secrets_alloc(h), 0);
	memcpy(h->cabinet_id, cabinet, 16);
	crypto_box_keypair(h->dh_pk, h->sec->dh_sk);
	randombytes_buf(k1, 32);
	randombytes_buf(k2, 32);
	randombytes_buf(bad, 32);
	h->epoch = h->base_epoch = 1;
	memcpy(h->sec->cabinet_key, k1, 32);
	h->sec->keys[0].epoch = 1;
	memcpy(h->sec->keys[0].key, k1, 32);
	h->sec->nkeys = 1;
	base();
	h->rs = *rs;
	cs_roster_refresh(h);
	/* the admin revokes durand: epoch 2, key k2 */
	r = rec(&durand, &founder, 1, 0, 2, 500);
	cs_rrec_key_id(k2, 2, r.key_id);
	assert_int_equal(cs_rrec_sign(&r, founder.ssk), 0);
	assert_int_equal(cs_roster_merge(h, &r, 1, &v, NULL), 0);
	assert_int_equal(v, 0);
	assert_int_equal(h->epoch, 1); /* no key for epoch 2 yet */
	crypto_box_keypair(other_pk, other_sk);
	assert_int_equal(cs_rrec_key_seal(bad, 2, h->dh_pk, ents), 0); /* not the winner's */
	assert_int_equal(cs_rrec_key_seal(k2, 2, other_pk, ents + CS_RREC_KEY_ENTRY_LEN), 0);
	assert_int_equal(cs_roster_take_keys(h, ents, 2, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(h->epoch, 1);
	assert_int_equal(cs_rrec_key_seal(k2, 2, h->dh_pk, ents + 2 * CS_RREC_KEY_ENTRY_LEN), 0);
	assert_int_equal(cs_roster_take_keys(h, ents, 3, &got), 0);
	assert_int_equal(got, 1);
	assert_int_equal(h->epoch, 2);
	assert_memory_equal(h->sec->cabinet_key, k2, 32);
	/* the old key stays, for old-epoch peers */
	assert_non_null(cs_roster_key_find(h, 1, (cs_rrec_key_id(k1, 1, r.key_id), r.key_id)));
	/* what this device hands on: the vouched key only (epoch 1 is a base key) */
	{
		uint8_t *m = NULL;
		size_t len, n;
		const uint8_t *body;
		int type;

		assert_int_equal(cs_roster_keys_msg(h, other_pk, &m, &len), 0);
		assert_int_equal(cs_rrec_msg_decode(m, len, &type, &body, &n), 0);
		assert_int_equal(n, 1);
		cs_free(m);
	}
	cs_home_free(h);
	cs_free(h);
}

/* Every allocation of a merge failing in turn: CS_ENOMEM, nothing changed, nothing leaked. */
static void
test_roster_merge_out_of_memory_changes_nothing(void **state)
{
	struct cs_home *h;
	struct cs_rrec r;
	size_t before;
	long n, live;
	int rc, v;

	(void)state;
	h = cs_calloc(1, sizeof(*h));
	assert_non_null(h);
	memcpy(h->cabinet_id, cabinet, 16);
	base();
	h->rs = *rs;
	cs_roster_refresh(h);
	before = h->rs.n;
	r = rec(&f2, &founder, 0, 0, 0, 300);
	for (n = 0;; n++) {
		live = cs_mem_live();
		cs_mem_fail_after(n, 0);
		rc = cs_roster_merge(h, &r, 1, &v, NULL);
		cs_mem_fail_after(-1, 0);
		if (rc == 0)
			break;
		assert_int_equal(rc, CS_ENOMEM);
		assert_int_equal(cs_mem_live(), live);
		assert_int_equal(h->rs.n, before);
		assert_int_equal(h->nroster, 2);
	}
	assert_true(n > 0);
	assert_int_equal(h->rs.n, before + 1);
	cs_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roster_genesis_only_by_the_founder),
	    cmocka_unit_test(test_roster_practitioner_adds_own_devices_only),
	    cmocka_unit_test(test_roster_revoking_another_practitioners_device_needs_admin),
	    cmocka_unit_test(test_roster_nothing_signed_after_revocation_counts),
	    cmocka_unit_test(test_roster_bad_signature_and_changed_keys_refused),
	    cmocka_unit_test(test_roster_state_does_not_depend_on_arrival_order),
	    cmocka_unit_test(test_roster_concurrent_rotations_elect_one_winner),
	    cmocka_unit_test(test_roster_delivered_key_kept_only_if_vouched_and_ours),
	    cmocka_unit_test(test_roster_merge_out_of_memory_changes_nothing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
