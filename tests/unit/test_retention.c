/* retention/: the rule as a table, and runs kept equal to live footage
 * through deletions (catalog delete protocol). */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "catalog/catalog.h"
#include "retention/retention.h"
#include "tests/unit/test.h"
#include "util/clock.h"

#define D DAY_US

static void decide_table(void)
{
	const struct retention_rule rule = { .retain_days = 90, .delete_after_days = 120 };
	const int64_t now = 1000 * D;
	static const struct {
		int64_t age;
		enum retention_pressure pressure;
		enum on_full_policy on_full;
		bool held;
		const char *want;
	} cases[] = {
		{ 0, PRESSURE_NONE, ON_FULL_PROTECT_RETENTION, false, NULL },
		{ 89 * D, PRESSURE_NONE, ON_FULL_PROTECT_RETENTION, false, NULL },
		{ 91 * D, PRESSURE_NONE, ON_FULL_PROTECT_RETENTION, false, NULL },
		{ 120 * D - 1, PRESSURE_NONE, ON_FULL_PROTECT_RETENTION, false, NULL },
		{ 120 * D, PRESSURE_NONE, ON_FULL_PROTECT_RETENTION, false, RETENTION_EXPIRED },
		{ 500 * D, PRESSURE_NONE, ON_FULL_KEEP_RECORDING, false, RETENTION_EXPIRED },
		{ 500 * D, PRESSURE_NONE, ON_FULL_PROTECT_RETENTION, true, NULL },
		/* pressure: older than the floor may go for space, younger never */
		{ 90 * D, PRESSURE_SPACE, ON_FULL_PROTECT_RETENTION, false, RETENTION_SPACE },
		{ 90 * D - 1, PRESSURE_SPACE, ON_FULL_PROTECT_RETENTION, false, NULL },
		{ 90 * D - 1, PRESSURE_SPACE, ON_FULL_KEEP_RECORDING, false, NULL },
		{ 100 * D, PRESSURE_SPACE, ON_FULL_PROTECT_RETENTION, true, NULL },
		{ 1 * D, PRESSURE_CRITICAL, ON_FULL_PROTECT_RETENTION, false, NULL },
		{ 1 * D, PRESSURE_CRITICAL, ON_FULL_KEEP_RECORDING, false, RETENTION_BELOW_FLOOR },
		{ 1 * D, PRESSURE_CRITICAL, ON_FULL_KEEP_RECORDING, true, NULL },
		{ 95 * D, PRESSURE_CRITICAL, ON_FULL_KEEP_RECORDING, false, RETENTION_SPACE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = retention_decide(now - cases[i].age, now, &rule, cases[i].pressure,
						   cases[i].on_full, cases[i].held);
		if (cases[i].want == NULL && got != NULL)
			test_fail(__FILE__, __LINE__, "case %zu: deleted (%s), expected kept", i, got);
		else if (cases[i].want != NULL && (got == NULL || strcmp(got, cases[i].want) != 0))
			test_fail(__FILE__, __LINE__, "case %zu: %s, expected %s", i, got ? got : "kept",
				  cases[i].want);
	}
}

static void rule_for_camera(void)
{
	struct camera_config cams[2] = {
		{ .id = "a", .retain_days = 30, .delete_after_days = 60 },
		{ .id = "b", .retain_days = 90, .delete_after_days = 90 },
	};
	struct config cfg = { .retain_days = 100, .delete_after_days = 110, .cameras = cams,
			      .ncameras = 2 };
	struct retention_rule r = retention_rule_for(&cfg, "a");
	CHECK_INT(r.retain_days, 30);
	CHECK_INT(r.delete_after_days, 60);
	r = retention_rule_for(&cfg, "gone"); /* removed from the config */
	CHECK_INT(r.retain_days, 100);
	CHECK_INT(r.delete_after_days, 110);
}

static int64_t add_segment(struct catalog *cat, int64_t start, int64_t end)
{
	int64_t id;
	char rel[CATALOG_PATH_MAX];
	struct segment_result r = { .end_us = end, .duration_us = end - start, .bytes = 100 };
	snprintf(r.sha256, sizeof(r.sha256), "%064d", 0);
	CHECK_INT(catalog_segment_begin(cat, "cam", start, "h264", 1, 1, false, &id, rel,
					sizeof(rel)),
		  0);
	CHECK_INT(catalog_segment_finish(cat, id, &r, SEGMENT_COMPLETE), 0);
	return id;
}

static int collect_run(const struct catalog_run *run, void *ctx)
{
	char *out = ctx;
	size_t len = strlen(out);
	snprintf(out + len, 512 - len, "[%" PRId64 ",%" PRId64 ")x%" PRId64 " ", run->start_us / USEC_PER_SEC,
		 run->end_us / USEC_PER_SEC, run->segments);
	return 0;
}

static const char *runs(struct catalog *cat)
{
	static char out[512];
	out[0] = '\0';
	CHECK_INT(catalog_runs_each(cat, "cam", 0, 0, collect_run, out), 0);
	return out;
}

static void delete_one(struct catalog *cat, int64_t id, int expect)
{
	int ret = catalog_segment_mark_deleting(cat, id, RETENTION_EXPIRED, 5000 * USEC_PER_SEC);
	CHECK_INT(ret, expect);
	if (ret == 0)
		CHECK_INT(catalog_segment_mark_deleted(cat, id, 5000 * USEC_PER_SEC), 0);
}

static void runs_follow_deletions(void)
{
	char err[256];
	struct catalog *cat = catalog_open(test_path("c.db"), CATALOG_READ_WRITE, err, sizeof(err));
	int64_t ids[6];
	int64_t hold;

	CHECK(cat != NULL);
	if (!cat)
		return;
	clock_set_now(1000 * USEC_PER_SEC);
	/* 0-60 60-120 120-180 | hole | 300-360 360-420 420-480 */
	for (int i = 0; i < 3; i++)
		ids[i] = add_segment(cat, i * 60 * USEC_PER_SEC, (i + 1) * 60 * USEC_PER_SEC);
	for (int i = 3; i < 6; i++)
		ids[i] = add_segment(cat, (i + 2) * 60 * USEC_PER_SEC, (i + 3) * 60 * USEC_PER_SEC);
	CHECK_STR(runs(cat), "[0,180)x3 [300,480)x3 ");

	delete_one(cat, ids[0], 0); /* the oldest: the run starts later */
	CHECK_STR(runs(cat), "[60,180)x2 [300,480)x3 ");
	delete_one(cat, ids[4], 0); /* the middle: the run splits */
	CHECK_STR(runs(cat), "[60,180)x2 [300,360)x1 [420,480)x1 ");
	delete_one(cat, ids[4], -EALREADY); /* twice: refused */

	/* held footage cannot even be marked */
	CHECK_INT(catalog_hold_add(cat, "cam", 130 * USEC_PER_SEC, 140 * USEC_PER_SEC, "case 1",
				   1000 * USEC_PER_SEC, &hold),
		  0);
	delete_one(cat, ids[2], -EPERM);
	CHECK_INT(catalog_is_held(cat, "cam", 120 * USEC_PER_SEC, 180 * USEC_PER_SEC), 1);
	CHECK_INT(catalog_hold_release(cat, hold, "done", 2000 * USEC_PER_SEC), 0);
	CHECK_INT(catalog_hold_release(cat, hold, "again", 2000 * USEC_PER_SEC), -EALREADY);
	delete_one(cat, ids[2], 0);
	CHECK_STR(runs(cat), "[60,120)x1 [300,360)x1 [420,480)x1 ");
	delete_one(cat, ids[1], 0);
	delete_one(cat, ids[3], 0);
	delete_one(cat, ids[5], 0);
	CHECK_STR(runs(cat), "");

	struct catalog_camera_stats st;
	CHECK_INT(catalog_camera_stats(cat, "cam", &st), 0);
	CHECK_INT(st.live_segments, 0);
	CHECK_INT(st.live_bytes, 0);
	CHECK_INT(st.first_footage_us, 0);
	CHECK_INT(st.oldest_us, -1);
	catalog_close(&cat);
}

const struct test_case retention_tests[] = {
	{ "decide_table", decide_table },
	{ "rule_for_camera", rule_for_camera },
	{ "runs_follow_deletions", runs_follow_deletions },
	{ NULL, NULL },
};
