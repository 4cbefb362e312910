/*
 * agent/share_ops.c: one share operation (see share_ops.h).
 */
#include "agent/share_ops.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/home.h"
#include "base/err.h"
#include "sql/audit.h"

int
cs_share_op_parse_date(const char *s, int64_t *ms)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
	char z = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
		return CS_EINVAL;
	if (s[n] == '\0') {
		d++; /* the whole day counts */
	} else if (s[n] == 'T' || s[n] == ' ') {
		int m = 0, k = sscanf(s + n + 1, "%2d:%2d:%2d%n", &h, &mi, &se, &m);

		if (k != 3) {
			se = 0;
			if (sscanf(s + n + 1, "%2d:%2d%n", &h, &mi, &m) != 2)
				return CS_EINVAL;
		}
		z = s[n + 1 + m];
		if (z != '\0' && !(z == 'Z' && s[n + 2 + m] == '\0'))
			return CS_EINVAL;
	} else {
		return CS_EINVAL;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 32 || h > 23 || mi > 59 || se > 60)
		return CS_EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return CS_EINVAL;
	*ms = (int64_t)t * 1000;
	return 0;
}

void
cs_share_op_label(const struct cs_share_self *s, const uint8_t *prac, char *out, size_t cap)
{
	char hex[33];

	if (memcmp(prac, s->c.practitioner, CS_GID_LEN) == 0) {
		snprintf(out, cap, "%s", s->name);
		return;
	}
	if (cs_share_names_one(s->c.db, prac, out, cap) == 0)
		return;
	cs_home_hex(prac, CS_GID_LEN, hex);
	snprintf(out, cap, "%.8s", hex);
}

int
cs_share_op_resolve(const struct cs_share_self *s, const char *text, uint8_t out[static CS_GID_LEN])
{
	size_t i, n = strlen(text), found = 0;
	char hex[33];
	int rc;

	if (strcmp(text, s->name) == 0) {
		memcpy(out, s->c.practitioner, CS_GID_LEN);
		return 0;
	}
	rc = cs_share_prac_by_name(s->c.db, text, out);
	if (rc != CS_ENOENT)
		return rc;
	if (n < 8 || n > 32)
		return CS_ENOENT;
	for (i = 0; i < s->npracs; i++) {
		cs_home_hex(s->pracs[i], CS_GID_LEN, hex);
		if (strncasecmp(hex, text, n) == 0) {
			if (found && memcmp(out, s->pracs[i], CS_GID_LEN) != 0)
				return CS_EEXIST;
			memcpy(out, s->pracs[i], CS_GID_LEN);
			found = 1;
		}
	}
	return found ? 0 : CS_ENOENT;
}

static void
fmt_ms(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One record of kind for op at now_ms (the transaction is open). */
static int
make_one(const struct cs_share_self *s, const struct cs_share_op *op, int kind,
    const uint8_t patient[CS_GID_LEN], int64_t now_ms, char *why, size_t whycap)
{
	struct cs_sharerec r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.kind = (uint8_t)kind;
	memcpy(r.patient, patient, CS_GID_LEN);
	memcpy(r.practitioner, op->practitioner, CS_GID_LEN);
	if (kind == CS_SHAREREC_GRANT) {
		r.perm = (uint8_t)op->perm;
		r.until_ms = (uint64_t)op->until_ms;
		if (op->note != NULL) {
			r.note_len = (uint8_t)strlen(op->note);
			memcpy(r.note, op->note, r.note_len);
		}
	}
	rc = cs_share_make(&s->c, &r, now_ms, why, whycap);
	return rc == 1 ? 0 : rc;
}

int
cs_share_op_run(const struct cs_share_self *s, const struct cs_share_op *op, int64_t now_ms,
    char *why, size_t whycap, char *detail, size_t dcap)
{
	struct cs_audit_self self;
	struct cs_audit_event ev;
	uint8_t patient[CS_GID_LEN];
	char lbl[CS_HOME_NAME_MAX + 1], when[32], dt[CS_AUDIT_DETAIL_MAX];
	sqlite3 *db = s->c.db;
	size_t i;
	int rc, cur;

	if (why != NULL && whycap > 0)
		why[0] = '\0';
	if (op->kind == CS_SHARE_OP_GRANT || op->kind == CS_SHARE_OP_CHANGE) {
		if (op->perm < CS_PERM_READ || op->perm > CS_PERM_FULL ||
		    (op->until_ms != 0 && op->until_ms <= now_ms))
			return CS_EINVAL;
		if (op->note != NULL) {
			if (strlen(op->note) > CS_SHAREREC_NOTE_MAX)
				return CS_EINVAL;
			for (i = 0; op->note[i] != '\0'; i++)
				if ((unsigned char)op->note[i] < 0x20 || op->note[i] == 0x7f)
					return CS_EINVAL;
		}
	} else if (op->kind != CS_SHARE_OP_REVOKE && op->kind != CS_SHARE_OP_TRANSFER) {
		return CS_EINVAL;
	}
	if ((rc = cs_share_begin(db)) != 0)
		return rc;
	/* this device's new patients get their claim first (the agent would too) */
	if ((rc = cs_share_claim_new(&s->c, s->name, now_ms)) < 0)
		goto fail;
	if (cs_audit_patient_gid(db, op->patient, patient) != 0) {
		rc = CS_SHARE_ENOPAT;
		goto fail;
	}
	switch (op->kind) {
	case CS_SHARE_OP_GRANT:
		rc = make_one(s, op, CS_SHAREREC_GRANT, patient, now_ms, why, whycap);
		break;
	case CS_SHARE_OP_REVOKE:
		rc = make_one(s, op, CS_SHAREREC_REVOKE, patient, now_ms, why, whycap);
		break;
	case CS_SHARE_OP_TRANSFER:
		rc = make_one(s, op, CS_SHAREREC_TRANSFER, patient, now_ms, why, whycap);
		break;
	default:
		cur = cs_share_rights(db, patient, op->practitioner, cs_share_now_hlc(now_ms));
		if (cur < 0) {
			rc = cur;
			break;
		}
		if (cur == CS_PERM_NONE || cur == CS_SHARE_OWNER) {
			if (why != NULL)
				snprintf(why, whycap, "no share in force to that practitioner");
			rc = CS_ENOENT;
			break;
		}
		/* the old grant ends, the new one starts 1 ms later (rights: the best in force) */
		rc = make_one(s, op, CS_SHAREREC_REVOKE, patient, now_ms, why, whycap);
		if (rc == 0)
			rc = make_one(s, op, CS_SHAREREC_GRANT, patient, now_ms + 1, why, whycap);
		break;
	}
	if (rc != 0)
		goto fail;
	cs_share_op_label(s, op->practitioner, lbl, sizeof(lbl));
	if (op->kind == CS_SHARE_OP_GRANT || op->kind == CS_SHARE_OP_CHANGE) {
		if (op->until_ms != 0)
			fmt_ms(op->until_ms, when, sizeof(when));
		snprintf(dt, sizeof(dt), "%s %s with %s%s%s",
		    op->kind == CS_SHARE_OP_GRANT ? "shared" : "permission changed to",
		    cs_perm_name(op->perm), lbl, op->until_ms ? " until " : "",
		    op->until_ms ? when : "");
	} else {
		snprintf(dt, sizeof(dt), "%s %s",
		    op->kind == CS_SHARE_OP_TRANSFER ? "transferred to" : "revoked from", lbl);
	}
	memset(&ev, 0, sizeof(ev));
	ev.action = op->kind == CS_SHARE_OP_REVOKE ? CS_AUDIT_REVOKE : CS_AUDIT_SHARE;
	ev.patient = patient;
	ev.detail = dt;
	memset(&self, 0, sizeof(self));
	memcpy(self.device, s->c.device, CS_DEVID_LEN);
	memcpy(self.practitioner, s->c.practitioner, CS_GID_LEN);
	memcpy(self.sign_pk, s->sign_pk, CS_AUDIT_PK_LEN);
	self.sign_sk = s->c.sign_sk;
	if ((rc = cs_audit_install(db)) != 0 ||
	    (rc = cs_audit_append(db, &self, &ev, op->practitioner, NULL)) != 0)
		goto fail;
	if ((rc = cs_share_commit(db)) != 0)
		goto fail;
	if (detail != NULL)
		snprintf(detail, dcap, "%s", dt);
	return 0;
fail:
	cs_share_rollback(db);
	return rc;
}
