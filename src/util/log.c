/* log.c - leveled messages on stderr with an optional test sink. */
#include "util/log.h"

#include <stdio.h>
#include <string.h>

static enum log_level current_level = LOG_INFO;
static log_sink_fn current_sink;
static void *current_sink_ctx;

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

void log_set_sink(log_sink_fn sink, void *ctx)
{
	current_sink = sink;
	current_sink_ctx = ctx;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (current_sink) {
		current_sink(level, buf, current_sink_ctx);
		return;
	}
	/* "\r\n": stdout may be a terminal in raw mode while the VM runs. */
	fprintf(stderr, "mvm: %s%s\r\n",
		level == LOG_ERR ? "error: " : level == LOG_WARN ? "warning: " : "", buf);
}
