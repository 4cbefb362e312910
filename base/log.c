#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cs_log_sink sink;
static void *sink_ctx;
static enum cs_log_level max_level = CS_LOG_INFO;

void
cs_log_set_sink(cs_log_sink s, void *ctx)
{
	sink = s;
	sink_ctx = ctx;
}

void
cs_log_set_level(enum cs_log_level max)
{
	max_level = max;
}

static const char *
level_name(enum cs_log_level level)
{
	switch (level) {
	case CS_LOG_ERR:
		return "error";
	case CS_LOG_WARNING:
		return "warning";
	case CS_LOG_NOTICE:
		return "notice";
	case CS_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void
default_sink(void *ctx, enum cs_log_level level, const char *line)
{
	char out[1100];
	int n;

	(void)ctx;
	if (getenv("JOURNAL_STREAM") != NULL)
		n = snprintf(out, sizeof(out), "<%d>%s\n", (int)level, line);
	else
		n = snprintf(out, sizeof(out), "cabsync: %s: %s\n", level_name(level), line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out))
		n = sizeof(out) - 1;
	/* one write per line so that lines of two threads never interleave */
	if (write(STDERR_FILENO, out, (size_t)n) < 0)
		return;
}

void
cs_log(enum cs_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	char *nl;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* a line is a line: never let a message forge a second log line */
	while ((nl = strchr(line, '\n')) != NULL)
		*nl = ' ';
	(sink != NULL ? sink : default_sink)(sink_ctx, level, line);
}
