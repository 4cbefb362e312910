/*
 * base/err.h: error codes shared by every layer.
 *
 * A function that can fail returns int: 0 or a negative code. The common codes
 * live here; each module that needs its own codes gets a range below and a
 * cs_<module>_strerror(). cs_strerror() knows the common range only; agent/
 * picks the module's strerror by range. Pure: no state, any thread.
 */
#ifndef CS_BASE_ERR_H
#define CS_BASE_ERR_H

enum cs_err {
	CS_OK = 0,
	CS_ENOMEM = -1,       /* an allocation failed */
	CS_EINVAL = -2,       /* a caller passed something invalid */
	CS_EIO = -3,          /* an I/O or library call failed */
	CS_ENOSPC = -4,       /* disk full */
	CS_EAGAIN = -5,       /* need more bytes / try again later */
	CS_ERANGE = -6,       /* a value or size is out of its bounds */
	CS_ENOENT = -7,       /* not found */
	CS_EEXIST = -8,       /* already exists */
	CS_EPERM = -9,        /* not allowed */
	CS_EBUSY = -10,       /* resource busy (database locked) */
	CS_ECORRUPT = -11,    /* stored data is inconsistent */
	CS_EUNSUPPORTED = -12 /* a newer format/version than we understand */
};

/*
 * Module ranges (inclusive), so that a code alone names its module:
 *   -1   .. -99   common (this file)
 *   -100 .. -199  wire/noise.h   CS_NOISE_E...
 *   -200 .. -299  wire/frame.h, wire/msg.h   CS_FRAME_E..., CS_MSG_E...
 *   -300 .. -399  wire/bundle.h  CS_BUNDLE_E... (-350 .. -369: wire/rrec.h CS_RREC_E...)
 *   -400 .. -599  sql/           CS_SQL_E..., CS_MERGE_E...
 *   -600 .. -799  agent/, discovery/ (-640 .. -659: agent/roster.h CS_ROSTER_E...)
 */
#define CS_ERR_NOISE_FIRST  (-100)
#define CS_ERR_FRAME_FIRST  (-200)
#define CS_ERR_BUNDLE_FIRST (-300)
#define CS_ERR_SQL_FIRST    (-400)
#define CS_ERR_AGENT_FIRST  (-600)

/* A static English sentence for a common code; "unknown error" otherwise. */
const char *cs_strerror(int err);

#endif
