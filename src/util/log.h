/* log.h - leveled messages for people, on stderr, prefixed "mvm: ".
 *
 * Contract: log_err/log_warn always print; log_info prints unless quiet;
 * log_debug prints only when the level was raised (--debug, MVM_DEBUG=1).
 * Messages say what failed, naming the file or flag, and what to do.
 * Tests may install a sink to capture messages instead of printing them.
 */
#ifndef MVM_UTIL_LOG_H
#define MVM_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Send messages to path (a file, appended, or a FIFO, non-blocking: a line
 * that does not fit is dropped) instead of stderr: Firecracker's
 * logger.log_path. with_level prefixes each line with its level
 * (logger.show_level). 0 or -errno. */
int log_set_file(const char *path, bool with_level);

/* Redirect messages (for unit tests); NULL restores stderr. */
typedef void (*log_sink_fn)(enum log_level level, const char *msg, void *ctx);
void log_set_sink(log_sink_fn sink, void *ctx);

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
