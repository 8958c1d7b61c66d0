/* log.h - leveled messages for people, on stderr, prefixed "mvm: ".
 *
 * Contract: log_err/log_warn always print; log_info prints unless quiet;
 * log_debug prints only when the level was raised (--debug, MVM_DEBUG=1).
 * Messages say what failed, naming the file or flag, and what to do.
 * Tests may install a sink to capture messages instead of printing them.
 *
 * Messages a guest can cause (a driver error, a port it pokes, a reset it
 * repeats) go through the *_rl forms: each call site has its own budget of
 * LOG_RL_BURST messages, refilled at one per LOG_RL_PERIOD_S seconds; what
 * is over budget is counted, and the next message that passes from that site
 * is preceded by "(N similar messages suppressed)". Thread-safe.
 */
#ifndef MVM_UTIL_LOG_H
#define MVM_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/ratelimit.h"

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Send messages to path (a file, appended, or a FIFO, non-blocking: a line
 * that does not fit is dropped) instead of stderr: Firecracker's
 * logger.log_path. with_level prefixes each line with its level
 * (logger.show_level). A new file is created 0600; a symbolic link as the
 * last component is refused (-ELOOP), so a link planted at the path cannot
 * redirect mvm's writes. 0 or -errno. */
int log_set_file(const char *path, bool with_level);
/* For people: what a log_set_file() error means ("is a symbolic link ...";
 * otherwise strerror). */
const char *log_file_strerror(int err);

/* Redirect messages (for unit tests); NULL restores stderr. */
typedef void (*log_sink_fn)(enum log_level level, const char *msg, void *ctx);
void log_set_sink(log_sink_fn sink, void *ctx);

#define LOG_RL_BURST    10
#define LOG_RL_PERIOD_S 5

/* One call site's budget; zero-initialized static storage is "not started". */
struct log_rl_site {
	struct ratelimit bucket;
	uint64_t suppressed;       /* dropped since the last message that passed */
	unsigned gen;              /* log_rl_reset() generation the bucket belongs to */
};

void log_msg_rl(struct log_rl_site *site, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Refill every call site's budget and forget what was suppressed (tests). */
void log_rl_reset(void);
/* The clock the budgets use (tests); NULL: CLOCK_MONOTONIC. */
void log_rl_set_clock(uint64_t (*now_ns)(void));

#define log_ratelimited(level, ...) do {                                  \
		static struct log_rl_site log_rl_site_;                   \
		log_msg_rl(&log_rl_site_, (level), __VA_ARGS__);          \
	} while (0)

#define log_err_rl(...)   log_ratelimited(LOG_ERR, __VA_ARGS__)
#define log_warn_rl(...)  log_ratelimited(LOG_WARN, __VA_ARGS__)
#define log_info_rl(...)  log_ratelimited(LOG_INFO, __VA_ARGS__)
#define log_debug_rl(...) log_ratelimited(LOG_DEBUG, __VA_ARGS__)

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
