/* Streaming JSON writer; see json.h. */
#include "util/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "util/timefmt.h"
#include "util/banned.h"

void jw_init_file(struct json_writer *w, FILE *f, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->file = f;
	w->pretty = pretty;
	w->first[0] = true;
}

void jw_init_buf(struct json_writer *w, struct buf *b)
{
	memset(w, 0, sizeof(*w));
	w->buf = b;
	w->first[0] = true;
}

static void emit(struct json_writer *w, const char *s, size_t n)
{
	if (w->error)
		return;
	if (w->file) {
		if (fwrite(s, 1, n, w->file) != n)
			w->error = -EIO;
	} else if (w->buf) {
		int ret = buf_append(w->buf, s, n);
		if (ret < 0)
			w->error = ret;
	}
}

static void emits(struct json_writer *w, const char *s)
{
	emit(w, s, strlen(s));
}

static void newline(struct json_writer *w)
{
	if (!w->pretty)
		return;
	emit(w, "\n", 1);
	for (int i = 0; i < w->depth; i++)
		emit(w, "  ", 2);
}

/* Called before every value or key: writes the separating comma. */
static void before_value(struct json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		emit(w, ",", 1);
	w->first[w->depth] = false;
	if (w->depth > 0)
		newline(w);
}

static void open_container(struct json_writer *w, const char *c)
{
	before_value(w);
	emits(w, c);
	if (w->depth + 1 >= JSON_MAX_DEPTH) {
		w->error = -E2BIG;
		return;
	}
	w->depth++;
	w->first[w->depth] = true;
}

static void close_container(struct json_writer *w, const char *c)
{
	bool empty = w->first[w->depth];
	if (w->depth > 0)
		w->depth--;
	if (!empty)
		newline(w);
	emits(w, c);
}

void jw_begin_object(struct json_writer *w)
{
	open_container(w, "{");
}

void jw_end_object(struct json_writer *w)
{
	close_container(w, "}");
}

void jw_begin_array(struct json_writer *w)
{
	open_container(w, "[");
}

void jw_end_array(struct json_writer *w)
{
	close_container(w, "]");
}

static void write_escaped(struct json_writer *w, const char *s)
{
	char esc[8];
	const char *run = s;

	emit(w, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const char *rep = NULL;
		switch (*p) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				rep = esc;
			}
		}
		if (rep) {
			emit(w, run, (size_t)((const char *)p - run));
			emits(w, rep);
			run = (const char *)p + 1;
		}
	}
	emits(w, run);
	emit(w, "\"", 1);
}

void jw_key(struct json_writer *w, const char *key)
{
	before_value(w);
	write_escaped(w, key);
	emit(w, w->pretty ? ": " : ":", w->pretty ? 2 : 1);
	w->after_key = true;
}

void jw_string(struct json_writer *w, const char *s)
{
	if (!s) {
		jw_null(w);
		return;
	}
	before_value(w);
	write_escaped(w, s);
}

void jw_int(struct json_writer *w, int64_t v)
{
	char num[32];
	before_value(w);
	snprintf(num, sizeof(num), "%" PRId64, v);
	emits(w, num);
}

void jw_double(struct json_writer *w, double v, int decimals)
{
	char num[64];
	before_value(w);
	if (!isfinite(v)) {
		emits(w, "null");
		return;
	}
	snprintf(num, sizeof(num), "%.*f", decimals, v);
	emits(w, num);
}

void jw_bool(struct json_writer *w, bool v)
{
	before_value(w);
	emits(w, v ? "true" : "false");
}

void jw_null(struct json_writer *w)
{
	before_value(w);
	emits(w, "null");
}

void jw_time(struct json_writer *w, int64_t us)
{
	char t[40];
	time_format_utc(us, t, sizeof(t));
	jw_string(w, t);
}

void jw_kv_string(struct json_writer *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_string(w, s);
}

void jw_kv_int(struct json_writer *w, const char *key, int64_t v)
{
	jw_key(w, key);
	jw_int(w, v);
}

void jw_kv_double(struct json_writer *w, const char *key, double v, int decimals)
{
	jw_key(w, key);
	jw_double(w, v, decimals);
}

void jw_kv_bool(struct json_writer *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_bool(w, v);
}

void jw_kv_time(struct json_writer *w, const char *key, int64_t us)
{
	jw_key(w, key);
	jw_time(w, us);
}

int jw_finish(struct json_writer *w)
{
	if (w->file) {
		emit(w, "\n", 1);
		if (fflush(w->file) != 0 && !w->error)
			w->error = -EIO;
	}
	return w->error;
}

int jw_escape(struct buf *out, const char *s)
{
	struct json_writer w;
	jw_init_buf(&w, out);
	jw_string(&w, s);
	return w.error;
}
