/*
 * Line logger.  Each message is formatted whole, scrubbed of registered
 * secrets, cleared of control characters (a camera's text must not forge a
 * line or drive a terminal), and only then cut to LOG_MSG_MAX: a secret
 * across the cut would otherwise leak in part.  It is then prefixed with
 * the time and level and written with one write(2) so concurrent lines
 * stay whole.
 */
#include "util/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/redact.h"
#include "util/timefmt.h"
#include "util/banned.h"

static const char *log_ident = "vigil";
static atomic_int log_max_level = LOG_LEVEL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_init(const char *ident, enum log_level level)
{
	log_ident = ident;
	atomic_store(&log_max_level, (int)level);
}

void log_set_level(enum log_level level)
{
	atomic_store(&log_max_level, (int)level);
}

int log_level_parse(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_enabled(enum log_level level)
{
	return (int)level <= atomic_load(&log_max_level);
}

#define LOG_MSG_MAX 2048

/*
 * Formats the message whole into msg (or a heap buffer when it is longer),
 * scrubs it with room for every mark to grow it, and cuts it after.
 * Returns the text to show, msg or the heap buffer in *heap.
 */
static const char *format_scrubbed(char *msg, size_t size, char **heap, const char *fmt, va_list ap)
{
	va_list again;

	*heap = NULL;
	va_copy(again, ap);
	int n = vsnprintf(msg, size, fmt, ap);
	/* a mark is at most three times what it replaces */
	if (n >= 0 && (size_t)n * 3 + 1 > size) {
		size_t room = (size_t)n * 3 + 1;
		*heap = malloc(room);
		if (*heap)
			vsnprintf(*heap, room, fmt, again);
	}
	va_end(again);
	char *text = *heap ? *heap : msg;
	size_t cap = *heap ? (size_t)n * 3 + 1 : size;
	redact_scrub(text, cap);
	redact_clean_controls(text);
	if (strlen(text) >= LOG_MSG_MAX)
		text[LOG_MSG_MAX - 1] = '\0';
	return text;
}

static void log_emit(enum log_level level, const char *errstr, const char *fmt, va_list ap)
{
	char buf[LOG_MSG_MAX];
	char line[LOG_MSG_MAX + 160];
	char when[40];
	char *heap;
	int n;

	const char *msg = format_scrubbed(buf, sizeof(buf), &heap, fmt, ap);
	time_format_utc_ms(clock_wall_us(), when, sizeof(when));
	if (errstr)
		n = snprintf(line, sizeof(line), "%s %s[%d] %s: %s: %s\n", when, log_ident,
			     (int)getpid(), level_names[level], msg, errstr);
	else
		n = snprintf(line, sizeof(line), "%s %s[%d] %s: %s\n", when, log_ident,
			     (int)getpid(), level_names[level], msg);
	free(heap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	ssize_t off = 0;
	while (off < n) {
		ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (log_enabled(level))
		log_emit(level, NULL, fmt, ap);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_emit(level, NULL, fmt, ap);
	va_end(ap);
}

#define LOG_BODY(level, errstr)                                                                    \
	do {                                                                                       \
		va_list ap;                                                                        \
		if (!log_enabled(level))                                                           \
			return;                                                                    \
		va_start(ap, fmt);                                                                 \
		log_emit(level, errstr, fmt, ap);                                                  \
		va_end(ap);                                                                        \
	} while (0)

/* _GNU_SOURCE gives the GNU strerror_r, which may return a static string. */
void log_warn(const char *fmt, ...)
{
	char buf[128];
	const char *err = strerror_r(errno, buf, sizeof(buf));
	LOG_BODY(LOG_LEVEL_WARN, err);
}

void log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, NULL);
}

void log_error(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, NULL);
}

void log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, NULL);
}

void log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, NULL);
}

void fatal(const char *fmt, ...)
{
	char buf[128];
	const char *err = strerror_r(errno, buf, sizeof(buf));
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, err, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
