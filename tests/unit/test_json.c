/* util/json: commas, nesting, escaping, times, bounded output. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "tests/unit/test.h"
#include "util/json.h"

/* Runs the writer into a buffer and returns its text (static copy). */
static const char *text_of(struct buf *b)
{
	return b->data ? b->data : "";
}

/*
 * Decodes one JSON string literal at *p (quotes included) into out, the
 * way a reader would: returns the number of bytes decoded, or -1 when the
 * literal is not valid JSON (a raw control character, a bad escape).
 */
static int decode_literal(const char **p, char *out, size_t size)
{
	const char *s = *p;
	size_t o = 0;

	if (*s++ != '"')
		return -1;
	while (*s != '"') {
		unsigned char c = (unsigned char)*s;
		if (c == '\0' || c < 0x20)
			return -1;
		if (c == '\\') {
			s++;
			switch (*s) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case '/': c = '/'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				char hex[5];
				char *end;
				memcpy(hex, s + 1, 4);
				hex[4] = '\0';
				long v = strtol(hex, &end, 16);
				if (end != hex + 4 || v > 0xff)
					return -1; /* our writer escapes only single bytes */
				c = (unsigned char)v;
				s += 4;
				break;
			}
			default:
				return -1;
			}
		}
		if (o + 1 >= size)
			return -1;
		out[o++] = (char)c;
		s++;
	}
	out[o] = '\0';
	*p = s + 1;
	return (int)o;
}

static void scalars_and_commas(void)
{
	struct buf b;
	struct json_writer w;
	buf_init(&b, 4096);
	jw_init_buf(&w, &b);
	jw_begin_object(&w);
	jw_kv_string(&w, "s", "x");
	jw_kv_int(&w, "i", -42);
	jw_kv_int(&w, "max", INT64_MAX);
	jw_kv_int(&w, "min", INT64_MIN);
	jw_kv_double(&w, "d", 1.5, 2);
	jw_kv_double(&w, "d0", 2.0 / 3.0, 0);
	jw_kv_double(&w, "nan", NAN, 3);
	jw_kv_double(&w, "inf", INFINITY, 3);
	jw_kv_bool(&w, "t", true);
	jw_kv_bool(&w, "f", false);
	jw_key(&w, "n");
	jw_null(&w);
	jw_kv_string(&w, "null_string", NULL);
	jw_end_object(&w);
	CHECK_INT(jw_finish(&w), 0);
	CHECK_STR(text_of(&b), "{\"s\":\"x\",\"i\":-42,\"max\":9223372036854775807,"
			       "\"min\":-9223372036854775808,\"d\":1.50,\"d0\":1,\"nan\":null,"
			       "\"inf\":null,\"t\":true,\"f\":false,\"n\":null,\"null_string\":null}");
	buf_release(&b);
}

static void nesting_and_empty(void)
{
	struct buf b;
	struct json_writer w;
	buf_init(&b, 4096);
	jw_init_buf(&w, &b);
	jw_begin_array(&w);
	jw_begin_object(&w);
	jw_end_object(&w);
	jw_begin_array(&w);
	jw_end_array(&w);
	jw_begin_object(&w);
	jw_key(&w, "a");
	jw_begin_array(&w);
	jw_int(&w, 1);
	jw_begin_array(&w);
	jw_int(&w, 2);
	jw_int(&w, 3);
	jw_end_array(&w);
	jw_begin_object(&w);
	jw_key(&w, "b");
	jw_begin_array(&w);
	jw_end_array(&w);
	jw_key(&w, "c");
	jw_begin_object(&w);
	jw_end_object(&w);
	jw_end_object(&w);
	jw_end_array(&w);
	jw_kv_int(&w, "z", 0);
	jw_end_object(&w);
	jw_string(&w, "");
	jw_end_array(&w);
	CHECK_INT(jw_finish(&w), 0);
	CHECK_STR(text_of(&b), "[{},[],{\"a\":[1,[2,3],{\"b\":[],\"c\":{}}],\"z\":0},\"\"]");
	CHECK_INT(w.depth, 0);
	buf_release(&b);

	/* an empty top-level array and object */
	buf_init(&b, 64);
	jw_init_buf(&w, &b);
	jw_begin_array(&w);
	jw_end_array(&w);
	CHECK_INT(jw_finish(&w), 0);
	CHECK_STR(text_of(&b), "[]");
	buf_release(&b);
	buf_init(&b, 64);
	jw_init_buf(&w, &b);
	jw_begin_object(&w);
	jw_end_object(&w);
	CHECK_INT(jw_finish(&w), 0);
	CHECK_STR(text_of(&b), "{}");
	buf_release(&b);
}

static void escaping(void)
{
	struct buf b;
	struct json_writer w;
	buf_init(&b, 4096);
	jw_init_buf(&w, &b);
	jw_begin_object(&w);
	jw_kv_string(&w, "q\"k", "say \"hi\"");
	jw_kv_string(&w, "bs", "C:\\path\\");
	jw_kv_string(&w, "ws", "a\nb\rc\td");
	jw_kv_string(&w, "ctl", "\x01\x1f\x7f|\b\f");
	jw_kv_string(&w, "utf8", "Zo\xc3\xab \xe2\x82\xac");
	jw_kv_string(&w, "slash", "</script>");
	jw_end_object(&w);
	CHECK_INT(jw_finish(&w), 0);
	CHECK_STR(text_of(&b), "{\"q\\\"k\":\"say \\\"hi\\\"\",\"bs\":\"C:\\\\path\\\\\","
			       "\"ws\":\"a\\nb\\rc\\td\",\"ctl\":\"\\u0001\\u001f\\u007f|\\u0008\\u000c\","
			       "\"utf8\":\"Zo\xc3\xab \xe2\x82\xac\",\"slash\":\"</script>\"}");
	buf_release(&b);
}

/* Every byte value survives a round trip through json_escape and a
 * reader's decoding, and no raw control character reaches the output. */
static void escape_round_trip(void)
{
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';

	struct buf b;
	buf_init(&b, 4096);
	CHECK_INT(jw_escape(&b, all), 0);
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] < 0x20) {
			test_fail(__FILE__, __LINE__, "raw control byte 0x%02x at %zu",
				  (unsigned char)b.data[i], i);
			break;
		}
	const char *p = b.data;
	char back[512];
	CHECK_INT(decode_literal(&p, back, sizeof(back)), 255);
	CHECK(memcmp(back, all, 256) == 0);
	CHECK_INT(*p, '\0'); /* nothing after the literal */
	buf_release(&b);

	buf_init(&b, 64);
	CHECK_INT(jw_escape(&b, ""), 0);
	CHECK_STR(text_of(&b), "\"\"");
	buf_release(&b);
}

static void times(void)
{
	struct buf b;
	struct json_writer w;
	buf_init(&b, 4096);
	jw_init_buf(&w, &b);
	jw_begin_object(&w);
	jw_kv_time(&w, "start", INT64_C(1793599200) * 1000000);
	jw_kv_time(&w, "end", INT64_C(1793599200) * 1000000 + 42);
	jw_key(&w, "list");
	jw_begin_array(&w);
	jw_time(&w, 0);
	jw_time(&w, INT64_C(1767225599) * 1000000 + 999999);
	jw_end_array(&w);
	jw_end_object(&w);
	CHECK_INT(jw_finish(&w), 0);
	CHECK_STR(text_of(&b), "{\"start\":\"2026-11-02T06:00:00.000000Z\","
			       "\"end\":\"2026-11-02T06:00:00.000042Z\","
			       "\"list\":[\"1970-01-01T00:00:00.000000Z\","
			       "\"2025-12-31T23:59:59.999999Z\"]}");
	buf_release(&b);
}

static void pretty_file(void)
{
	const char *path = test_path("out.json");
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	struct json_writer w;
	jw_init_file(&w, f, true);
	jw_begin_object(&w);
	jw_kv_int(&w, "a", 1);
	jw_key(&w, "b");
	jw_begin_array(&w);
	jw_int(&w, 1);
	jw_int(&w, 2);
	jw_end_array(&w);
	jw_key(&w, "c");
	jw_begin_object(&w);
	jw_end_object(&w);
	jw_end_object(&w);
	CHECK_INT(jw_finish(&w), 0);
	fclose(f);

	char text[256] = "";
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	CHECK_STR(text, "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": {}\n}\n");
}

static ssize_t always_full(void *cookie, const char *data, size_t len)
{
	(void)cookie;
	(void)data;
	(void)len;
	errno = ENOSPC;
	return -1;
}

static void compact_file_and_write_error(void)
{
	/* compact output to a file ends with a newline */
	const char *path = test_path("c.json");
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	struct json_writer w;
	jw_init_file(&w, f, false);
	jw_begin_array(&w);
	jw_int(&w, 1);
	jw_string(&w, "x");
	jw_end_array(&w);
	CHECK_INT(jw_finish(&w), 0);
	fclose(f);
	f = fopen(path, "r");
	char text[64] = "";
	if (f) {
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		text[n] = '\0';
		fclose(f);
	}
	CHECK_STR(text, "[1,\"x\"]\n");

	/* a device that is always full (a stream whose every write fails with
	 * ENOSPC, as /dev/full's do, wherever the test runs): the error is
	 * reported, not lost */
	static const cookie_io_functions_t full_device = { .write = always_full };
	f = fopencookie(NULL, "w", full_device);
	CHECK(f != NULL);
	if (!f)
		return;
	jw_init_file(&w, f, false);
	jw_begin_array(&w);
	for (int i = 0; i < 10; i++)
		jw_string(&w, "some text that goes nowhere");
	jw_end_array(&w);
	CHECK_INT(jw_finish(&w), -EIO);
	fclose(f);
}

static void bounded_buffer(void)
{
	static const char full[] = "{\"key\":\"0123456789abcdef\",\"n\":1}";
	for (size_t max = 0; max < sizeof(full) - 1; max++) {
		struct buf b;
		struct json_writer w;
		buf_init(&b, max);
		jw_init_buf(&w, &b);
		jw_begin_object(&w);
		jw_kv_string(&w, "key", "0123456789abcdef");
		jw_kv_int(&w, "n", 1);
		jw_end_object(&w);
		int ret = jw_finish(&w);
		if (ret != -E2BIG || b.len > max || strncmp(text_of(&b), full, b.len) != 0 ||
		    strlen(text_of(&b)) != b.len)
			test_fail(__FILE__, __LINE__,
				  "max %zu: ret %d, len %zu, text '%s'", max, ret, b.len,
				  text_of(&b));
		buf_release(&b);
	}
	/* exactly enough */
	struct buf b;
	struct json_writer w;
	buf_init(&b, sizeof(full) - 1);
	jw_init_buf(&w, &b);
	jw_begin_object(&w);
	jw_kv_string(&w, "key", "0123456789abcdef");
	jw_kv_int(&w, "n", 1);
	jw_end_object(&w);
	CHECK_INT(jw_finish(&w), 0);
	CHECK_STR(text_of(&b), full);
	buf_release(&b);
}

static void depth_limit(void)
{
	struct buf b;
	struct json_writer w;
	buf_init(&b, 4096);
	jw_init_buf(&w, &b);
	for (int i = 0; i < JSON_MAX_DEPTH + 8; i++)
		jw_begin_array(&w);
	for (int i = 0; i < JSON_MAX_DEPTH + 8; i++)
		jw_end_array(&w);
	CHECK_INT(jw_finish(&w), -E2BIG);
	CHECK(w.depth >= 0 && w.depth < JSON_MAX_DEPTH);
	buf_release(&b);

	/* just inside the limit works */
	buf_init(&b, 4096);
	jw_init_buf(&w, &b);
	for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
		jw_begin_array(&w);
	for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
		jw_end_array(&w);
	CHECK_INT(jw_finish(&w), 0);
	CHECK_INT(b.len, 2 * (JSON_MAX_DEPTH - 1));
	buf_release(&b);
}

const struct test_case json_tests[] = {
	{ "scalars_and_commas", scalars_and_commas },
	{ "nesting_and_empty", nesting_and_empty },
	{ "escaping", escaping },
	{ "escape_round_trip", escape_round_trip },
	{ "times", times },
	{ "pretty_file", pretty_file },
	{ "compact_file_and_write_error", compact_file_and_write_error },
	{ "bounded_buffer", bounded_buffer },
	{ "depth_limit", depth_limit },
	{ NULL, NULL },
};
