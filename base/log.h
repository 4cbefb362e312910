/*
 * base/log.h: the log sink. Only agent/ (and test programs) log; sql/ and
 * wire/ return errors instead. Lines go to a sink set by the program; the
 * default writes one line per call to stderr, with an sd-daemon "<N>" level
 * prefix when stderr is the journal (JOURNAL_STREAM set), so journald keeps
 * the level. Never pass a key, a psk, an invite code, a row value or a patient
 * name or id: name a device by its fingerprint, a patient by its keyed hash.
 * Thread-safe as long as the sink is (the default is: one write(2) per line).
 */
#ifndef CS_BASE_LOG_H
#define CS_BASE_LOG_H

enum cs_log_level {
	CS_LOG_ERR = 3, /* syslog/sd-daemon numbering */
	CS_LOG_WARNING = 4,
	CS_LOG_NOTICE = 5,
	CS_LOG_INFO = 6,
	CS_LOG_DEBUG = 7
};

typedef void (*cs_log_sink)(void *ctx, enum cs_log_level level, const char *line);

/* Replace the sink (NULL restores the default). Not thread-safe: call at start. */
void cs_log_set_sink(cs_log_sink sink, void *ctx);
/* Lines above this level are dropped (default CS_LOG_INFO). */
void cs_log_set_level(enum cs_log_level max);
void cs_log(enum cs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
