/* log.c - leveled messages on stderr with an optional test sink. */
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;
static log_sink_fn current_sink;
static void *current_sink_ctx;
static int current_fd = -1;     /* logger.log_path; -1: stderr */
static bool show_level;

/* Guards every call site's budget (sites are static, shared by threads). */
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned rl_gen = 1;     /* a site whose gen differs starts afresh */
static uint64_t (*rl_clock)(void);

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

int log_set_file(const char *path, bool with_level)
{
	/* Non-blocking: a FIFO nobody reads must not stall a vCPU that logs.
	 * NOFOLLOW: mvm often runs as root; a link planted where the log goes
	 * must not make it append to another file. */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW |
			    O_NOCTTY, 0600);

	if (fd < 0)
		return -errno;
	if (current_fd >= 0)
		close(current_fd);
	current_fd = fd;
	show_level = with_level;
	return 0;
}

const char *log_file_strerror(int err)
{
	if (err == -ELOOP)
		return "the path is a symbolic link; mvm does not follow one for its log, "
		       "give the file's own path";
	return strerror(err < 0 ? -err : err);
}

void log_set_sink(log_sink_fn sink, void *ctx)
{
	current_sink = sink;
	current_sink_ctx = ctx;
}

static void log_emit(enum log_level level, const char *buf)
{
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

void log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_emit(level, buf);
}

static uint64_t log_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void log_msg_rl(struct log_rl_site *site, enum log_level level, const char *fmt, ...)
{
	uint64_t now = rl_clock ? rl_clock() : log_now_ns(), dropped;
	char buf[1024];
	va_list ap;
	bool pass;

	/* A message the level hides spends nothing. */
	if (level > current_level)
		return;
	pthread_mutex_lock(&rl_lock);
	if (site->gen != rl_gen) {
		ratelimit_init_period(&site->bucket, LOG_RL_PERIOD_S * 1000000000ull, LOG_RL_BURST,
				      now);
		site->suppressed = 0;
		site->gen = rl_gen;
	}
	pass = ratelimit_take(&site->bucket, now);
	dropped = site->suppressed;
	if (pass)
		site->suppressed = 0;
	else
		site->suppressed++;
	pthread_mutex_unlock(&rl_lock);
	if (!pass)
		return;
	if (dropped) {
		snprintf(buf, sizeof(buf), "(%llu similar messages suppressed)",
			 (unsigned long long)dropped);
		log_emit(level, buf);
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_emit(level, buf);
}

void log_rl_reset(void)
{
	pthread_mutex_lock(&rl_lock);
	if (++rl_gen == 0)
		rl_gen = 1;
	pthread_mutex_unlock(&rl_lock);
}

void log_rl_set_clock(uint64_t (*now_ns)(void))
{
	rl_clock = now_ns;
}
