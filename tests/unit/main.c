/*
 * Runs every unit-test suite.  `unit-tests [FILTER]` runs the cases whose
 * "suite/name" contains FILTER.  Each case runs in a fresh temporary folder
 * (test_dir()), created under $TMPDIR and removed afterwards, so two copies
 * of the suite can run at once.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "util/log.h"

#define SUITE(n) extern const struct test_case n##_tests[];
#include "tests/unit/suites.h"
#undef SUITE

static const struct test_suite suites[] = {
#define SUITE(n) { #n, n##_tests },
#include "tests/unit/suites.h"
#undef SUITE
};

static int failures_in_case;
static char case_dir[PATH_MAX];

void test_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (failures_in_case < 20)
		printf("  # %s:%d: %s\n", file, line, msg);
	failures_in_case++;
}

const char *test_dir(void)
{
	return case_dir;
}

const char *test_path(const char *name)
{
	static char path[PATH_MAX + 256];
	snprintf(path, sizeof(path), "%s/%s", case_dir, name);
	return path;
}

const char *test_write_file(const char *name, const char *text)
{
	const char *path = test_path(name);
	FILE *f = fopen(path, "w");
	if (!f) {
		test_fail(__FILE__, __LINE__, "cannot write %s", path);
		return path;
	}
	fputs(text, f);
	fclose(f);
	return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int passed = 0, failed = 0;

	log_init("unit", getenv("VIGIL_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
		for (const struct test_case *t = suites[s].cases; t->name; t++) {
			char full[256];
			snprintf(full, sizeof(full), "%s/%s", suites[s].name, t->name);
			if (filter && !strstr(full, filter))
				continue;
			snprintf(case_dir, sizeof(case_dir), "%s/vigil-unit-XXXXXX", tmp);
			if (!mkdtemp(case_dir)) {
				printf("not ok - %s\n  # cannot create a temporary folder: %s\n", full,
				       strerror(errno));
				failed++;
				continue;
			}
			failures_in_case = 0;
			t->fn();
			nftw(case_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
			if (failures_in_case) {
				printf("not ok - %s\n", full);
				failed++;
			} else {
				printf("ok - %s\n", full);
				passed++;
			}
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
