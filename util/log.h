/*
 * Logging in the style of OpenBSD's log.h: one line per event on stderr,
 * printf-checked formats, level checked before anything is formatted.
 * Every line passes through the redaction filter (util/redact.h), so a
 * credential that reaches a message is scrubbed before it is written.
 *
 * Thread safety: all functions may be called from any thread; each line is
 * written with a single write(2), so lines from different threads never
 * interleave.
 */
#ifndef VIGIL_UTIL_LOG_H
#define VIGIL_UTIL_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Sets the program name shown on each line and the most verbose level. */
void log_init(const char *ident, enum log_level level);
void log_set_level(enum log_level level);
/* Parses "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *level);
int log_enabled(enum log_level level);

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* log_warn and fatal append ": strerror(errno)"; the x forms do not. */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_vmsg(enum log_level level, const char *fmt, va_list ap) LOG_PRINTF(2, 0);
void log_msg(enum log_level level, const char *fmt, ...) LOG_PRINTF(2, 3);
__attribute__((noreturn)) void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
__attribute__((noreturn)) void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
