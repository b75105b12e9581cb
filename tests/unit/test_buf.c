/* util/buf: growth, the hard maximum, printf, detach. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "tests/unit/test.h"
#include "util/buf.h"

static void grows_byte_by_byte(void)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	CHECK_INT(b.len, 0);
	for (int i = 0; i < 10000; i++) {
		char c = (char)('a' + i % 26);
		if (buf_append(&b, &c, 1) != 0) {
			test_fail(__FILE__, __LINE__, "append %d failed", i);
			break;
		}
	}
	CHECK_INT(b.len, 10000);
	CHECK(b.cap >= b.len + 1);
	CHECK_INT(strlen(b.data), 10000); /* NUL-terminated, no NUL inside */
	int bad = 0;
	for (int i = 0; i < 10000; i++)
		bad += b.data[i] != (char)('a' + i % 26);
	CHECK_INT(bad, 0);
	buf_release(&b);
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
}

static void append_binary_and_str(void)
{
	struct buf b;
	buf_init(&b, 100);
	CHECK_INT(buf_append(&b, "a\0b", 3), 0);
	CHECK_INT(b.len, 3);
	CHECK(memcmp(b.data, "a\0b", 4) == 0); /* terminated after the bytes */
	CHECK_INT(buf_append_str(&b, "cd"), 0);
	CHECK_INT(b.len, 5);
	CHECK(memcmp(b.data, "a\0bcd", 6) == 0);
	CHECK_INT(buf_append(&b, "", 0), 0);
	CHECK_INT(b.len, 5);
	buf_release(&b);
}

static void hard_maximum(void)
{
	struct buf b;
	buf_init(&b, 10);
	CHECK_INT(buf_append_str(&b, "12345678"), 0);
	CHECK_INT(buf_append_str(&b, "abc"), -E2BIG); /* 11 > 10 */
	CHECK_INT(b.len, 8);
	CHECK_STR(b.data, "12345678");
	CHECK_INT(buf_printf(&b, "%s", "abc"), -E2BIG);
	CHECK_STR(b.data, "12345678");
	CHECK_INT(buf_append_str(&b, "ab"), 0); /* exactly the maximum */
	CHECK_INT(b.len, 10);
	CHECK_STR(b.data, "12345678ab");
	CHECK(b.cap <= 11); /* never allocates past max + NUL */
	CHECK_INT(buf_append(&b, "x", 1), -E2BIG);
	CHECK_INT(buf_printf(&b, "x"), -E2BIG);
	CHECK_INT(buf_append(&b, "", 0), 0);
	CHECK_STR(b.data, "12345678ab");
	buf_release(&b);

	/* a zero maximum holds only the empty string */
	buf_init(&b, 0);
	CHECK_INT(buf_append(&b, "", 0), 0);
	CHECK_STR(b.data, "");
	CHECK_INT(buf_append_str(&b, "a"), -E2BIG);
	CHECK_INT(b.len, 0);
	buf_release(&b);
}

/* A length that would wrap len + n around must be refused, not believed. */
static void huge_length_refused(void)
{
	struct buf b;
	buf_init(&b, SIZE_MAX);
	CHECK_INT(buf_append_str(&b, "abcde"), 0);
	CHECK_INT(buf_append(&b, "x", SIZE_MAX - 3), -E2BIG);
	CHECK_INT(buf_append(&b, "x", SIZE_MAX), -E2BIG);
	CHECK_INT(b.len, 5);
	CHECK_STR(b.data, "abcde");
	buf_release(&b);

	buf_init(&b, 64);
	CHECK_INT(buf_append(&b, "x", SIZE_MAX), -E2BIG);
	CHECK_INT(b.len, 0);
	buf_release(&b);
}

static void printf_long_strings(void)
{
	struct buf b;
	char *big = malloc(5001);
	if (!big) {
		CHECK(big != NULL);
		return;
	}
	for (int i = 0; i < 5000; i++)
		big[i] = (char)('A' + i % 26);
	big[5000] = '\0';

	buf_init(&b, 1 << 16);
	CHECK_INT(buf_printf(&b, "<%s>", "x"), 0);
	CHECK_INT(buf_printf(&b, "[%s]%d", big, 42), 0); /* longer than the 256-byte fast path */
	CHECK_INT(b.len, 3 + 5000 + 4);
	CHECK(strncmp(b.data, "<x>[", 4) == 0);
	CHECK(memcmp(b.data + 4, big, 5000) == 0);
	CHECK_STR(b.data + 5004, "]42");
	CHECK_INT(strlen(b.data), b.len);
	buf_release(&b);

	/* around the 256-byte boundary of the fast path */
	for (int n = 250; n <= 262; n++) {
		buf_init(&b, 1000);
		CHECK_INT(buf_append_str(&b, "#"), 0);
		CHECK_INT(buf_printf(&b, "%.*s", n, big), 0);
		CHECK_INT(b.len, 1 + n);
		CHECK_INT(strlen(b.data), 1 + n);
		CHECK(memcmp(b.data + 1, big, (size_t)n) == 0);
		buf_release(&b);
	}

	/* a long printf over the maximum leaves the content as it was */
	buf_init(&b, 4000);
	CHECK_INT(buf_printf(&b, "head:"), 0);
	CHECK_INT(buf_printf(&b, "%s", big), -E2BIG);
	CHECK_INT(b.len, 5);
	CHECK_STR(b.data, "head:");
	/* and one that exactly fills it */
	CHECK_INT(buf_printf(&b, "%.*s", 3995, big), 0);
	CHECK_INT(b.len, 4000);
	CHECK_INT(strlen(b.data), 4000);
	buf_release(&b);
	free(big);
}

static void reset_keeps_memory(void)
{
	struct buf b;
	buf_init(&b, 1000);
	buf_reset(&b); /* on an empty buffer: no crash, nothing allocated */
	CHECK(b.data == NULL);
	CHECK_INT(buf_append_str(&b, "hello"), 0);
	size_t cap = b.cap;
	buf_reset(&b);
	CHECK_INT(b.len, 0);
	CHECK_STR(b.data, "");
	CHECK_INT(b.cap, cap);
	CHECK_INT(buf_append_str(&b, "again"), 0);
	CHECK_STR(b.data, "again");
	buf_release(&b);
}

static void detach(void)
{
	struct buf b;
	buf_init(&b, 100);
	CHECK_INT(buf_printf(&b, "id=%d", 7), 0);
	char *s = buf_detach(&b);
	CHECK_STR(s, "id=7");
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
	CHECK_INT(b.cap, 0);
	/* the buffer is usable again, independent of what was handed out */
	CHECK_INT(buf_append_str(&b, "next"), 0);
	CHECK_STR(b.data, "next");
	CHECK(b.data != s);
	CHECK_STR(s, "id=7");
	free(s);
	buf_release(&b);

	/* an empty buffer detaches as an allocated empty string */
	buf_init(&b, 100);
	s = buf_detach(&b);
	CHECK(s != NULL);
	CHECK_STR(s, "");
	free(s);
}

static void array_grows_and_keeps_items(void)
{
	int64_t *v = NULL;
	size_t n = 0, cap = 0;

	for (int64_t i = 0; i < 1000; i++) {
		CHECK_INT(array_reserve(&v, &cap, n + 1, sizeof(*v)), 0);
		v[n++] = i * 3;
	}
	CHECK(cap >= 1000 && cap < 2048);
	for (size_t i = 0; i < n; i++)
		CHECK(v[i] == (int64_t)i * 3);
	size_t before = cap;
	CHECK_INT(array_reserve(&v, &cap, 10, sizeof(*v)), 0); /* room already */
	CHECK(cap == before);
	free(v);
}

const struct test_case buf_tests[] = {
	{ "grows_byte_by_byte", grows_byte_by_byte },
	{ "append_binary_and_str", append_binary_and_str },
	{ "hard_maximum", hard_maximum },
	{ "huge_length_refused", huge_length_refused },
	{ "printf_long_strings", printf_long_strings },
	{ "reset_keeps_memory", reset_keeps_memory },
	{ "detach", detach },
	{ "array_grows_and_keeps_items", array_grows_and_keeps_items },
	{ NULL, NULL },
};
