/*
 * A streaming JSON writer (jw_*, named apart from jansson, which parses):
 * values go straight to a FILE or a struct buf as
 * they are produced, so a listing of millions of rows never sits in memory.
 * The writer inserts commas and escapes strings; nesting is bounded.
 */
#ifndef VIGIL_UTIL_JSON_H
#define VIGIL_UTIL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"

#define JSON_MAX_DEPTH 32

struct json_writer {
	FILE *file; /* one of file or buf */
	struct buf *buf;
	bool pretty;
	int depth;
	bool first[JSON_MAX_DEPTH];
	bool after_key;
	int error; /* first error seen (negative errno), sticky */
};

void jw_init_file(struct json_writer *w, FILE *f, bool pretty);
void jw_init_buf(struct json_writer *w, struct buf *b);

void jw_begin_object(struct json_writer *w);
void jw_end_object(struct json_writer *w);
void jw_begin_array(struct json_writer *w);
void jw_end_array(struct json_writer *w);
void jw_key(struct json_writer *w, const char *key);
void jw_string(struct json_writer *w, const char *s); /* NULL writes null */
void jw_int(struct json_writer *w, int64_t v);
void jw_double(struct json_writer *w, double v, int decimals);
void jw_bool(struct json_writer *w, bool v);
void jw_null(struct json_writer *w);
/* A time in microseconds as an RFC 3339 UTC string. */
void jw_time(struct json_writer *w, int64_t us);

/* key + value shorthands */
void jw_kv_string(struct json_writer *w, const char *key, const char *s);
void jw_kv_int(struct json_writer *w, const char *key, int64_t v);
void jw_kv_double(struct json_writer *w, const char *key, double v, int decimals);
void jw_kv_bool(struct json_writer *w, const char *key, bool v);
void jw_kv_time(struct json_writer *w, const char *key, int64_t us);

/* Ends the document (newline for files).  Returns 0 or the first error. */
int jw_finish(struct json_writer *w);

/* Appends s as a JSON string literal, quotes included. */
int jw_escape(struct buf *out, const char *s);

#endif
