/* util/timefmt: ISO 8601 in, RFC 3339 out, durations. */
#include <stdlib.h>

#include "tests/unit/test.h"
#include "util/clock.h"
#include "util/timefmt.h"

static void parse_table(void)
{
	static const struct {
		const char *in;
		int ok;
		int64_t us; /* for zoned inputs */
	} cases[] = {
		{ "2026-11-02T14:00:00+08:00", 1, INT64_C(1793599200) * 1000000 },
		{ "2026-11-02T06:00:00Z", 1, INT64_C(1793599200) * 1000000 },
		{ "2026-11-02T06:00:00.5Z", 1, INT64_C(1793599200) * 1000000 + 500000 },
		{ "2026-11-02T06:00:00.123456Z", 1, INT64_C(1793599200) * 1000000 + 123456 },
		{ "2026-11-02T06:00Z", 1, INT64_C(1793599200) * 1000000 },
		{ "2026-11-02T01:00:00-05:00", 1, INT64_C(1793599200) * 1000000 },
		{ "2026-11-02T14:00:00+0800", 1, INT64_C(1793599200) * 1000000 },
		{ "2026-02-31", 0, 0 },
		{ "2026-13-01", 0, 0 },
		{ "2026-11-02T25:00:00Z", 0, 0 },
		{ "yesterday", 0, 0 },
		{ "2026-11-02T06:00:00Zjunk", 0, 0 },
		{ "", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t us = 0;
		int ret = time_parse(cases[i].in, &us);
		if (cases[i].ok) {
			CHECK_INT(ret, 0);
			CHECK_INT(us, cases[i].us);
		} else {
			CHECK(ret < 0);
		}
	}
}

static void bare_date_is_local_midnight(void)
{
	int64_t us;
	setenv("TZ", "Asia/Shanghai", 1);
	CHECK_INT(time_parse("2026-11-02", &us), 0);
	CHECK_INT(us, INT64_C(1793548800) * 1000000); /* 2026-11-01T16:00:00Z */
	setenv("TZ", "UTC", 1);
	CHECK_INT(time_parse("2026-11-02", &us), 0);
	CHECK_INT(us, INT64_C(1793577600) * 1000000);
	unsetenv("TZ");
}

static void format_utc(void)
{
	char buf[40];
	time_format_utc(INT64_C(1793599200) * 1000000 + 42, buf, sizeof(buf));
	CHECK_STR(buf, "2026-11-02T06:00:00.000042Z");
	time_format_utc_s(INT64_C(1793599200) * 1000000 + 999999, buf, sizeof(buf));
	CHECK_STR(buf, "2026-11-02T06:00:00Z");
	time_format_utc(-1, buf, sizeof(buf));
	CHECK_STR(buf, "1969-12-31T23:59:59.999999Z");
}

static void durations(void)
{
	int64_t us;
	CHECK_INT(duration_parse("90", &us), 0);
	CHECK_INT(us, 90 * USEC_PER_SEC);
	CHECK_INT(duration_parse("15m", &us), 0);
	CHECK_INT(us, 900 * USEC_PER_SEC);
	CHECK_INT(duration_parse("500ms", &us), 0);
	CHECK_INT(us, 500000);
	CHECK_INT(duration_parse("2h", &us), 0);
	CHECK_INT(us, 7200 * USEC_PER_SEC);
	CHECK(duration_parse("-1s", &us) < 0);
	CHECK(duration_parse("5 parsecs", &us) < 0);
	char buf[32];
	duration_format(3723 * USEC_PER_SEC, buf, sizeof(buf));
	CHECK_STR(buf, "1h 02m 03s");
}

const struct test_case timefmt_tests[] = {
	{ "parse_table", parse_table },
	{ "bare_date_is_local_midnight", bare_date_is_local_midnight },
	{ "format_utc", format_utc },
	{ "durations", durations },
	{ NULL, NULL },
};
