/*
 * A small unit-test runner in the spirit of redis's testhelp.h: each suite
 * file defines a table of cases, main.c runs them all and prints one line
 * per case ("ok - suite/name" or "not ok - suite/name" with the failed
 * checks under it) and a closing "N passed, N failed".
 */
#ifndef VIGIL_TESTS_UNIT_TEST_H
#define VIGIL_TESTS_UNIT_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

struct test_suite {
	const char *name;
	const struct test_case *cases; /* ends with { NULL, NULL } */
};

void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A fresh empty folder for the running case, removed after it. */
const char *test_dir(void);
/* test_dir()/name, in a static buffer that the next call overwrites. */
const char *test_path(const char *name);
/* Writes text to test_dir()/name and returns the path (static buffer). */
const char *test_write_file(const char *name, const char *text);

#define CHECK(cond)                                               \
	do {                                                      \
		if (!(cond))                                      \
			test_fail(__FILE__, __LINE__, "%s", #cond); \
	} while (0)

#define CHECK_INT(a, b)                                                                  \
	do {                                                                             \
		long long a_ = (long long)(a), b_ = (long long)(b);                      \
		if (a_ != b_)                                                            \
			test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, \
				  a_, #b, b_);                                           \
	} while (0)

#define CHECK_STR(a, b)                                                                   \
	do {                                                                              \
		const char *a_ = (a), *b_ = (b);                                          \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                    \
			test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, \
				  a_ ? a_ : "(null)", b_ ? b_ : "(null)");                \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                    \
	do {                                                                           \
		const char *h_ = (hay), *n_ = (needle);                                \
		if (!h_ || !strstr(h_, n_))                                            \
			test_fail(__FILE__, __LINE__, "%s does not contain \"%s\": \"%s\"", \
				  #hay, n_, h_ ? h_ : "(null)");                       \
	} while (0)

#endif
