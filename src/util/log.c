/* log.c - leveled messages on stderr with an optional test sink. */
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;
static log_sink_fn current_sink;
static void *current_sink_ctx;
static int current_fd = -1;     /* logger.log_path; -1: stderr */
static bool show_level;

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

int log_set_file(const char *path, bool with_level)
{
	/* Non-blocking: a FIFO nobody reads must not stall a vCPU that logs. */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);

	if (fd < 0)
		return -errno;
	if (current_fd >= 0)
		close(current_fd);
	current_fd = fd;
	show_level = with_level;
	return 0;
}

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
	if (current_fd >= 0) {
		static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
		char line[1100];
		int n = snprintf(line, sizeof(line), "mvm: %s%s%s\n", show_level ? names[level] : "",
				 show_level ? ": " : "", buf);

		/* A full FIFO drops the line rather than block the caller. */
		if (n > 0)
			(void)!write(current_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
		return;
	}
	/* "\r\n": stdout may be a terminal in raw mode while the VM runs. */
	fprintf(stderr, "mvm: %s%s\r\n",
		level == LOG_ERR ? "error: " : level == LOG_WARN ? "warning: " : "", buf);
}
