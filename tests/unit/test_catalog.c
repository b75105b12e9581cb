/* catalog: schema versions, segments, gaps, runs, the audit chain, threads.
 * The run and audit tables are read with sqlite3 directly, to check what is
 * really stored rather than what the catalog says about itself. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "tests/unit/test.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/sha256.h"

#define T0 (INT64_C(1793599200) * USEC_PER_SEC) /* 2026-11-02T06:00:00Z */
#define SEC USEC_PER_SEC

static struct catalog *open_mode(const char *name, enum catalog_open_mode mode)
{
	char err[512] = "";
	struct catalog *cat = catalog_open(test_path(name), mode, err, sizeof(err));
	if (!cat)
		test_fail(__FILE__, __LINE__, "cannot open %s: %s", name, err);
	return cat;
}

static struct catalog *open_rw(void)
{
	return open_mode("catalog.db", CATALOG_READ_WRITE);
}

static struct segment_result result_for(int64_t start, int64_t end, int64_t salt)
{
	struct segment_result r = { 0 };
	char text[64];
	r.end_us = end;
	r.duration_us = end - start;
	r.bytes = 1000 + salt;
	r.frames = (end - start) / 40000;
	r.keyframes = (end - start) / SEC;
	snprintf(text, sizeof(text), "segment %" PRId64, salt);
	sha256_hex(text, strlen(text), r.sha256);
	return r;
}

/* begin + finish; returns the id, or -1 after reporting the failure. */
static int64_t add_segment(struct catalog *cat, const char *camera, int64_t start, int64_t end)
{
	int64_t id = -1;
	char rel[CATALOG_PATH_MAX];
	int ret = catalog_segment_begin(cat, camera, start, "h264", 1920, 1080, false, &id, rel,
					sizeof(rel));
	if (ret < 0) {
		test_fail(__FILE__, __LINE__, "begin %s: %d", camera, ret);
		return -1;
	}
	struct segment_result r = result_for(start, end, id);
	ret = catalog_segment_finish(cat, id, &r, SEGMENT_COMPLETE);
	if (ret < 0) {
		test_fail(__FILE__, __LINE__, "finish %s/%" PRId64 ": %d", camera, id, ret);
		return -1;
	}
	return id;
}

/* ---- collectors for the *_each walks ---------------------------------- */

struct seg_list {
	struct catalog_segment items[256];
	int n;
};

static int collect_segment(const struct catalog_segment *seg, void *ctx)
{
	struct seg_list *l = ctx;
	if (l->n < 256)
		l->items[l->n] = *seg;
	l->n++;
	return 0;
}

struct gap_list {
	struct catalog_gap items[64];
	int n;
};

static int collect_gap(const struct catalog_gap *gap, void *ctx)
{
	struct gap_list *l = ctx;
	if (l->n < 64)
		l->items[l->n] = *gap;
	l->n++;
	return 0;
}

static int stop_after_two(const struct catalog_segment *seg, void *ctx)
{
	int *n = ctx;
	(void)seg;
	return ++*n == 2 ? 42 : 0;
}

static int count_segments(struct catalog *cat, const struct catalog_filter *f)
{
	struct seg_list *l = calloc(1, sizeof(*l));
	int n = -1;
	if (l && catalog_segments_each(cat, f, collect_segment, l) == 0)
		n = l->n;
	free(l);
	return n;
}

/* ---- direct SQLite access --------------------------------------------- */

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		test_fail(__FILE__, __LINE__, "sqlite3_open %s: %s", path,
			  db ? sqlite3_errmsg(db) : "?");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int64_t v = INT64_MIN;
	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	else
		test_fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(stmt);
	return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		test_fail(__FILE__, __LINE__, "%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
}

/* ---- schema ------------------------------------------------------------ */

static void create_at_latest_schema(void)
{
	struct stat st;
	CHECK(stat(test_path("catalog.db"), &st) < 0);
	struct catalog *cat = open_rw();
	CHECK(cat != NULL);
	if (!cat)
		return;
	CHECK(stat(test_path("catalog.db"), &st) == 0);
	CHECK(catalog_schema_latest() >= 1);
	CHECK_INT(catalog_schema_version(cat), catalog_schema_latest());
	CHECK(catalog_sqlite_version() != NULL && *catalog_sqlite_version());
	catalog_close(&cat);
	CHECK(cat == NULL);
	catalog_close(&cat); /* closing NULL is harmless */

	sqlite3 *db = raw_open(test_path("catalog.db"));
	if (!db)
		return;
	CHECK_INT(raw_int(db, "PRAGMA user_version"), catalog_schema_latest());
	/* the tables the design needs exist */
	CHECK_INT(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
			      "('camera', 'segment', 'gap', 'run', 'audit', 'meta')"),
		  6);
	sqlite3_close(db);
}

static void reopen_does_not_migrate(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	CHECK_INT(catalog_meta_set(cat, "marker", "kept"), 0);
	int64_t id = add_segment(cat, "gate3", T0, T0 + 60 * SEC);
	catalog_close(&cat);

	sqlite3 *db = raw_open(test_path("catalog.db"));
	if (!db)
		return;
	int64_t cookie = raw_int(db, "PRAGMA schema_version");
	sqlite3_close(db);

	for (int i = 0; i < 3; i++) {
		cat = open_rw();
		if (!cat)
			return;
		CHECK_INT(catalog_schema_version(cat), catalog_schema_latest());
		char value[32] = "";
		CHECK_INT(catalog_meta_get(cat, "marker", value, sizeof(value)), 0);
		CHECK_STR(value, "kept");
		struct catalog_segment seg;
		CHECK_INT(catalog_segment_get(cat, id, &seg), 0);
		catalog_close(&cat);
	}
	db = raw_open(test_path("catalog.db"));
	if (!db)
		return;
	/* any CREATE or ALTER would have moved the schema cookie */
	CHECK_INT(raw_int(db, "PRAGMA schema_version"), cookie);
	CHECK_INT(raw_int(db, "PRAGMA user_version"), catalog_schema_latest());
	sqlite3_close(db);
}

static void newer_schema_refused(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	catalog_close(&cat);
	int newer = catalog_schema_latest() + 1;
	sqlite3 *db = raw_open(test_path("catalog.db"));
	if (!db)
		return;
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newer);
	raw_exec(db, sql);
	sqlite3_close(db);

	char want_file[64], want_known[64];
	snprintf(want_file, sizeof(want_file), "schema %d", newer);
	snprintf(want_known, sizeof(want_known), "(%d)", catalog_schema_latest());
	for (int mode = 0; mode < 2; mode++) {
		char err[512] = "";
		cat = catalog_open(test_path("catalog.db"),
				   mode ? CATALOG_READ_WRITE : CATALOG_READ_ONLY, err, sizeof(err));
		CHECK(cat == NULL);
		catalog_close(&cat);
		CHECK_CONTAINS(err, want_file);
		CHECK_CONTAINS(err, want_known);
		CHECK_CONTAINS(err, "catalog.db");
	}
	db = raw_open(test_path("catalog.db"));
	if (!db)
		return;
	CHECK_INT(raw_int(db, "PRAGMA user_version"), newer); /* left as it was */
	sqlite3_close(db);
}

static void read_only_does_not_write(void)
{
	char err[512] = "";
	struct stat st;

	/* a missing file is not created by a read-only open */
	struct catalog *cat =
		catalog_open(test_path("none.db"), CATALOG_READ_ONLY, err, sizeof(err));
	CHECK(cat == NULL);
	catalog_close(&cat);
	CHECK(stat(test_path("none.db"), &st) < 0);
	CHECK(*err != '\0');

	/* an empty, never migrated file is refused, not upgraded */
	sqlite3 *db = NULL;
	if (sqlite3_open(test_path("old.db"), &db) == SQLITE_OK)
		raw_exec(db, "CREATE TABLE x (y INTEGER)");
	sqlite3_close(db);
	cat = catalog_open(test_path("old.db"), CATALOG_READ_ONLY, err, sizeof(err));
	CHECK(cat == NULL);
	catalog_close(&cat);
	CHECK_CONTAINS(err, "needs upgrading");

	cat = open_mode("ro.db", CATALOG_READ_WRITE);
	if (!cat)
		return;
	int64_t id = add_segment(cat, "gate3", T0, T0 + 60 * SEC);
	CHECK_INT(catalog_meta_set(cat, "k", "v"), 0);
	catalog_close(&cat);

	char before[SHA256_HEX_SIZE], after[SHA256_HEX_SIZE];
	int64_t size_before = 0, size_after = 0;
	CHECK_INT(sha256_file_hex(test_path("ro.db"), before, &size_before), 0);

	cat = open_mode("ro.db", CATALOG_READ_ONLY);
	if (!cat)
		return;
	CHECK_INT(catalog_schema_version(cat), catalog_schema_latest());
	struct catalog_segment seg;
	CHECK_INT(catalog_segment_get(cat, id, &seg), 0);
	CHECK_INT(count_segments(cat, NULL), 1);
	char value[8] = "";
	CHECK_INT(catalog_meta_get(cat, "k", value, sizeof(value)), 0);
	CHECK_STR(value, "v");
	/* every write is refused */
	CHECK(catalog_meta_set(cat, "k", "changed") < 0);
	int64_t id2;
	char rel[CATALOG_PATH_MAX];
	CHECK(catalog_segment_begin(cat, "gate3", T0 + 120 * SEC, "h264", 1, 1, false, &id2, rel,
				    sizeof(rel)) < 0);
	CHECK(catalog_gap_add(cat, "gate3", T0, T0 + SEC, GAP_STREAM_STALLED, "") < 0);
	char msg[64];
	CHECK_INT(catalog_integrity_check(cat, msg, sizeof(msg)), 0);
	catalog_close(&cat);

	CHECK_INT(sha256_file_hex(test_path("ro.db"), after, &size_after), 0);
	CHECK_STR(after, before);
	CHECK_INT(size_after, size_before);
	cat = open_mode("ro.db", CATALOG_READ_ONLY);
	if (cat) {
		CHECK_INT(catalog_meta_get(cat, "k", value, sizeof(value)), 0);
		CHECK_STR(value, "v");
		CHECK_INT(count_segments(cat, NULL), 1);
	}
	catalog_close(&cat);
}

/* ---- paths and names --------------------------------------------------- */

static void relpath_table(void)
{
	static const struct {
		const char *camera;
		int64_t start_us;
		int64_t id;
		const char *want;
	} cases[] = {
		{ "gate3", T0, 7, "gate3/2026/11/02/060000-7.mp4" },
		{ "gate3", T0 + 123456, 7, "gate3/2026/11/02/060000-7.mp4" },
		/* midnight and the last microsecond before it */
		{ "gate3", INT64_C(1793664000) * SEC, 8, "gate3/2026/11/03/000000-8.mp4" },
		{ "gate3", INT64_C(1793664000) * SEC - 1, 9, "gate3/2026/11/02/235959-9.mp4" },
		{ "gate3", INT64_C(1793663999) * SEC, 10, "gate3/2026/11/02/235959-10.mp4" },
		/* the turn of a year */
		{ "yard", INT64_C(1767225599) * SEC + 999999, 1, "yard/2025/12/31/235959-1.mp4" },
		{ "yard", INT64_C(1767225600) * SEC, 2, "yard/2026/01/01/000000-2.mp4" },
		/* leap days */
		{ "c-1", INT64_C(1835440496) * SEC, 3, "c-1/2028/02/29/123456-3.mp4" },
		{ "c_2", INT64_C(951868799) * SEC, 4, "c_2/2000/02/29/235959-4.mp4" },
		{ "epoch", 0, 5, "epoch/1970/01/01/000000-5.mp4" },
		{ "big", T0, INT64_C(9007199254740993),
		  "big/2026/11/02/060000-9007199254740993.mp4" },
	};
	const char *tz = getenv("TZ");
	char *saved = tz ? strdup(tz) : NULL;
	setenv("TZ", "Asia/Shanghai", 1); /* UTC+8: a local-time bug would show */
	tzset();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[CATALOG_PATH_MAX];
		CHECK_INT(catalog_segment_relpath(cases[i].camera, cases[i].start_us, cases[i].id,
						  out, sizeof(out)),
			  0);
		CHECK_STR(out, cases[i].want);
	}
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);

	char exact[sizeof("gate3/2026/11/02/060000-7.mp4")];
	CHECK_INT(catalog_segment_relpath("gate3", T0, 7, exact, sizeof(exact)), 0);
	CHECK_STR(exact, "gate3/2026/11/02/060000-7.mp4");
	CHECK_INT(catalog_segment_relpath("gate3", T0, 7, exact, sizeof(exact) - 1), -ENAMETOOLONG);
	CHECK_INT(catalog_segment_relpath("gate3", T0, 7, exact, 10), -ENAMETOOLONG);
}

static void names(void)
{
	static const char *const want[GAP_REASON_COUNT] = {
		"camera-unreachable", "stream-stalled", "stream-error",	     "recorder-down",
		"storage-error",      "storage-full",	"recovered-partial",
	};
	for (int i = 0; i < GAP_REASON_COUNT; i++) {
		CHECK_STR(catalog_gap_reason_name((enum gap_reason)i), want[i]);
		enum gap_reason r = GAP_REASON_COUNT;
		CHECK_INT(catalog_gap_reason_parse(want[i], &r), 0);
		CHECK_INT(r, i);
	}
	enum gap_reason r = GAP_STREAM_STALLED;
	CHECK_INT(catalog_gap_reason_parse("power-cut", &r), -EINVAL);
	CHECK_INT(catalog_gap_reason_parse("", &r), -EINVAL);
	CHECK_INT(r, GAP_STREAM_STALLED);
	CHECK_STR(catalog_gap_reason_name(GAP_REASON_COUNT), "?");
	CHECK_STR(catalog_segment_state_name(SEGMENT_WRITING), "writing");
	CHECK_STR(catalog_segment_state_name(SEGMENT_COMPLETE), "complete");
	CHECK_STR(catalog_segment_state_name(SEGMENT_RECOVERED), "recovered");
	CHECK_STR(catalog_segment_state_name(SEGMENT_DELETING), "deleting");
	CHECK_STR(catalog_segment_state_name(SEGMENT_DELETED), "deleted");
	CHECK_STR(catalog_segment_state_name((enum segment_state)99), "?");
}

/* ---- segments ---------------------------------------------------------- */

static void segment_lifecycle(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	int64_t id = 0;
	char rel[CATALOG_PATH_MAX] = "";
	CHECK_INT(catalog_segment_begin(cat, "gate3", T0 + 250000, "h264", 1920, 1080, true, &id,
					rel, sizeof(rel)),
		  0);
	CHECK(id > 0);
	char want[CATALOG_PATH_MAX];
	snprintf(want, sizeof(want), "gate3/2026/11/02/060000-%" PRId64 ".mp4", id);
	CHECK_STR(rel, want);

	struct catalog_segment seg;
	CHECK_INT(catalog_segment_get(cat, id, &seg), 0);
	CHECK_INT(seg.id, id);
	CHECK_STR(seg.camera, "gate3");
	CHECK_STR(seg.path, want);
	CHECK_INT(seg.state, SEGMENT_WRITING);
	CHECK_INT(seg.start_us, T0 + 250000);
	CHECK_INT(seg.end_us, -1);
	CHECK_STR(seg.sha256, "");
	CHECK_STR(seg.codec, "h264");
	CHECK_INT(seg.width, 1920);
	CHECK_INT(seg.height, 1080);
	CHECK(seg.has_audio);
	CHECK_INT(seg.deleted_us, -1);

	/* listed as unfinished, and in listings with end -1 */
	struct seg_list *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	CHECK_INT(catalog_segments_unfinished(cat, collect_segment, l), 0);
	CHECK_INT(l->n, 1);
	CHECK_INT(l->items[0].id, id);
	CHECK_INT(l->items[0].state, SEGMENT_WRITING);
	l->n = 0;
	CHECK_INT(catalog_segments_each(cat, NULL, collect_segment, l), 0);
	CHECK_INT(l->n, 1);
	CHECK_INT(l->items[0].end_us, -1);

	struct segment_result r = result_for(T0 + 250000, T0 + 60 * SEC + 250000, 99);
	r.bytes = 123456789;
	r.frames = 1500;
	r.keyframes = 60;
	CHECK_INT(catalog_segment_finish(cat, id, &r, SEGMENT_COMPLETE), 0);
	CHECK_INT(catalog_segment_get(cat, id, &seg), 0);
	CHECK_INT(seg.state, SEGMENT_COMPLETE);
	CHECK_INT(seg.start_us, T0 + 250000);
	CHECK_INT(seg.end_us, r.end_us);
	CHECK_INT(seg.duration_us, r.duration_us);
	CHECK_INT(seg.bytes, 123456789);
	CHECK_INT(seg.frames, 1500);
	CHECK_INT(seg.keyframes, 60);
	CHECK_STR(seg.sha256, r.sha256);
	CHECK_INT(strlen(seg.sha256), 64);
	CHECK_STR(seg.codec, "h264");
	CHECK_INT(seg.deleted_us, -1);

	/* the walk returns the same row */
	l->n = 0;
	CHECK_INT(catalog_segments_each(cat, NULL, collect_segment, l), 0);
	CHECK_INT(l->n, 1);
	CHECK(memcmp(&l->items[0], &seg, sizeof(seg)) == 0);
	l->n = 0;
	CHECK_INT(catalog_segments_unfinished(cat, collect_segment, l), 0);
	CHECK_INT(l->n, 0);

	/* recovered is the other finished state */
	int64_t id2;
	CHECK_INT(catalog_segment_begin(cat, "gate3", T0 + 120 * SEC, "hevc", 640, 480, false, &id2,
					rel, sizeof(rel)),
		  0);
	CHECK(id2 != id);
	r = result_for(T0 + 120 * SEC, T0 + 150 * SEC, 2);
	CHECK_INT(catalog_segment_finish(cat, id2, &r, SEGMENT_RECOVERED), 0);
	CHECK_INT(catalog_segment_get(cat, id2, &seg), 0);
	CHECK_INT(seg.state, SEGMENT_RECOVERED);
	CHECK_STR(seg.codec, "hevc");
	CHECK(!seg.has_audio);
	CHECK_INT(catalog_segment_get(cat, id2 + 1000, &seg), -ENOENT);
	free(l);
	catalog_close(&cat);
}

static void finish_rules(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	int64_t id = add_segment(cat, "gate3", T0, T0 + 60 * SEC);
	struct segment_result r = result_for(T0, T0 + 90 * SEC, 5);
	struct catalog_segment before, after;
	CHECK_INT(catalog_segment_get(cat, id, &before), 0);

	/* a complete row cannot be finished again, in either state */
	CHECK_INT(catalog_segment_finish(cat, id, &r, SEGMENT_COMPLETE), -EINVAL);
	CHECK_INT(catalog_segment_finish(cat, id, &r, SEGMENT_RECOVERED), -EINVAL);
	CHECK_INT(catalog_segment_get(cat, id, &after), 0);
	CHECK(memcmp(&before, &after, sizeof(before)) == 0);

	/* only complete and recovered are finished states */
	int64_t id2;
	char rel[CATALOG_PATH_MAX];
	CHECK_INT(catalog_segment_begin(cat, "gate3", T0 + 60 * SEC, "h264", 1, 1, false, &id2, rel,
					sizeof(rel)),
		  0);
	CHECK_INT(catalog_segment_finish(cat, id2, &r, SEGMENT_DELETED), -EINVAL);
	CHECK_INT(catalog_segment_finish(cat, id2, &r, SEGMENT_WRITING), -EINVAL);
	CHECK_INT(catalog_segment_finish(cat, id2, &r, SEGMENT_DELETING), -EINVAL);
	CHECK_INT(catalog_segment_get(cat, id2, &after), 0);
	CHECK_INT(after.state, SEGMENT_WRITING);
	/* an unknown id */
	CHECK_INT(catalog_segment_finish(cat, id2 + 100, &r, SEGMENT_COMPLETE), -ENOENT);

	/* a deleted row cannot come back */
	sqlite3 *db = raw_open(test_path("catalog.db"));
	if (db) {
		char sql[128];
		snprintf(sql, sizeof(sql),
			 "UPDATE segment SET state = 'deleted', deleted_us = 5 WHERE id = %" PRId64,
			 id);
		raw_exec(db, sql);
		sqlite3_close(db);
	}
	CHECK_INT(catalog_segment_finish(cat, id, &r, SEGMENT_COMPLETE), -EINVAL);
	CHECK_INT(catalog_segment_get(cat, id, &after), 0);
	CHECK_INT(after.state, SEGMENT_DELETED);
	CHECK_INT(after.deleted_us, 5);
	catalog_close(&cat);
}

static void abandon_only_writing(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	int64_t done = add_segment(cat, "gate3", T0, T0 + 60 * SEC);
	int64_t id;
	char rel[CATALOG_PATH_MAX];
	CHECK_INT(catalog_segment_begin(cat, "gate3", T0 + 60 * SEC, "h264", 1, 1, false, &id, rel,
					sizeof(rel)),
		  0);
	CHECK_INT(catalog_segment_abandon(cat, id), 0);
	struct catalog_segment seg;
	CHECK_INT(catalog_segment_get(cat, id, &seg), -ENOENT);
	/* a finished row stays */
	catalog_segment_abandon(cat, done);
	CHECK_INT(catalog_segment_get(cat, done, &seg), 0);
	CHECK_INT(seg.state, SEGMENT_COMPLETE);
	CHECK_INT(count_segments(cat, NULL), 1);
	/* and so does a deleting one */
	sqlite3 *db = raw_open(test_path("catalog.db"));
	if (db) {
		char sql[128];
		snprintf(sql, sizeof(sql),
			 "UPDATE segment SET state = 'deleting' WHERE id = %" PRId64, done);
		raw_exec(db, sql);
		sqlite3_close(db);
	}
	catalog_segment_abandon(cat, done);
	CHECK_INT(catalog_segment_get(cat, done, &seg), 0);
	CHECK_INT(seg.state, SEGMENT_DELETING);
	/* deleting rows are unfinished too */
	struct seg_list *l = calloc(1, sizeof(*l));
	if (l) {
		CHECK_INT(catalog_segments_unfinished(cat, collect_segment, l), 0);
		CHECK_INT(l->n, 1);
		CHECK_INT(l->items[0].id, done);
		free(l);
	}
	catalog_close(&cat);
}

static void listing_filters(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	/* gate3: [0,60) [60,120) [300,360) and a writing one from 400;
	 * yard: [30,90); dock: one that will be deleted, [0,60) */
	int64_t g1 = add_segment(cat, "gate3", T0, T0 + 60 * SEC);
	int64_t g2 = add_segment(cat, "gate3", T0 + 60 * SEC, T0 + 120 * SEC);
	int64_t g3 = add_segment(cat, "gate3", T0 + 300 * SEC, T0 + 360 * SEC);
	int64_t gw;
	char rel[CATALOG_PATH_MAX];
	CHECK_INT(catalog_segment_begin(cat, "gate3", T0 + 400 * SEC, "h264", 1, 1, false, &gw, rel,
					sizeof(rel)),
		  0);
	int64_t y1 = add_segment(cat, "yard", T0 + 30 * SEC, T0 + 90 * SEC);
	int64_t d1 = add_segment(cat, "dock", T0, T0 + 60 * SEC);
	sqlite3 *db = raw_open(test_path("catalog.db"));
	if (db) {
		char sql[160];
		snprintf(sql, sizeof(sql),
			 "UPDATE segment SET state = 'deleted', deleted_us = %" PRId64
			 ", delete_reason = 'policy' WHERE id = %" PRId64,
			 T0 + 100 * SEC, d1);
		raw_exec(db, sql);
		sqlite3_close(db);
	}

	struct seg_list *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	/* everything live, in (camera, start) order */
	CHECK_INT(catalog_segments_each(cat, NULL, collect_segment, l), 0);
	CHECK_INT(l->n, 5);
	if (l->n == 5) {
		CHECK_INT(l->items[0].id, g1);
		CHECK_INT(l->items[1].id, g2);
		CHECK_INT(l->items[2].id, g3);
		CHECK_INT(l->items[3].id, gw);
		CHECK_INT(l->items[3].end_us, -1);
		CHECK_INT(l->items[4].id, y1);
	}

	struct catalog_filter f = { .camera = "gate3" };
	CHECK_INT(count_segments(cat, &f), 4);
	f = (struct catalog_filter){ .camera = "yard" };
	CHECK_INT(count_segments(cat, &f), 1);
	f = (struct catalog_filter){ .camera = "nobody" };
	CHECK_INT(count_segments(cat, &f), 0);
	f = (struct catalog_filter){ .camera = "dock" };
	CHECK_INT(count_segments(cat, &f), 0);
	f.include_deleted = true;
	l->n = 0;
	CHECK_INT(catalog_segments_each(cat, &f, collect_segment, l), 0);
	CHECK_INT(l->n, 1);
	if (l->n == 1) {
		CHECK_INT(l->items[0].id, d1);
		CHECK_INT(l->items[0].state, SEGMENT_DELETED);
		CHECK_INT(l->items[0].deleted_us, T0 + 100 * SEC);
		CHECK_STR(l->items[0].delete_reason, "policy");
	}
	f = (struct catalog_filter){ .include_deleted = true };
	CHECK_INT(count_segments(cat, &f), 6);

	/* time windows: rows that end after from and start before to */
	static const struct {
		int64_t from_s, to_s;
		int want; /* gate3 rows */
	} windows[] = {
		{ 0, 0, 4 },	 /* no bounds */
		{ 60, 0, 3 },	 /* g1 ends exactly at 60: out */
		{ 59, 61, 2 },	 /* g1 and g2 */
		{ 120, 300, 0 }, /* the hole, edges excluded */
		{ 119, 301, 2 }, /* g2's last second and g3's first */
		{ 361, 399, 0 }, /* between g3 and the writing one */
		{ 10000, 0, 1 }, /* far future: only the writing row reaches it */
		{ 0, 1, 1 },	 /* only g1 */
	};
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		f = (struct catalog_filter){ .camera = "gate3",
					     .from_us = T0 + windows[i].from_s * SEC,
					     .to_us = windows[i].to_s ? T0 + windows[i].to_s * SEC
								      : 0 };
		if (windows[i].from_s == 0)
			f.from_us = 0;
		int got = count_segments(cat, &f);
		if (got != windows[i].want)
			test_fail(__FILE__, __LINE__,
				  "window [%" PRId64 ", %" PRId64 "): %d rows, want %d",
				  windows[i].from_s, windows[i].to_s, got, windows[i].want);
	}

	/* a non-zero return stops the walk and is passed back */
	int seen = 0;
	CHECK_INT(catalog_segments_each(cat, NULL, stop_after_two, &seen), 42);
	CHECK_INT(seen, 2);
	free(l);
	catalog_close(&cat);
}

/* ---- gaps -------------------------------------------------------------- */

static void gaps(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	int64_t gid = 0;
	CHECK_INT(catalog_gap_open(cat, "gate3", T0, GAP_CAMERA_UNREACHABLE, "connection refused",
				   &gid),
		  0);
	CHECK(gid > 0);
	struct gap_list *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	CHECK_INT(catalog_gaps_each(cat, NULL, collect_gap, l), 0);
	CHECK_INT(l->n, 1);
	CHECK_INT(l->items[0].id, gid);
	CHECK_STR(l->items[0].camera, "gate3");
	CHECK_INT(l->items[0].start_us, T0);
	CHECK_INT(l->items[0].end_us, -1);
	CHECK_INT(l->items[0].reason, GAP_CAMERA_UNREACHABLE);
	CHECK_STR(l->items[0].detail, "connection refused");

	CHECK_INT(catalog_gap_close(cat, gid, T0 + 30 * SEC), 0);
	/* closing again changes nothing */
	CHECK_INT(catalog_gap_close(cat, gid, T0 + 99 * SEC), 0);
	l->n = 0;
	CHECK_INT(catalog_gaps_each(cat, NULL, collect_gap, l), 0);
	CHECK_INT(l->n, 1);
	CHECK_INT(l->items[0].end_us, T0 + 30 * SEC);
	CHECK_STR(l->items[0].detail, "connection refused");
	CHECK(catalog_gap_close(cat, gid + 100, T0) < 0); /* no such gap */

	/* an end before the start is clamped to the start */
	int64_t g2;
	CHECK_INT(catalog_gap_open(cat, "gate3", T0 + 100 * SEC, GAP_STREAM_STALLED, NULL, &g2), 0);
	CHECK_INT(catalog_gap_close(cat, g2, T0 + 50 * SEC), 0);
	CHECK_INT(catalog_gap_add(cat, "yard", T0 + 10 * SEC, T0 + 20 * SEC, GAP_RECORDER_DOWN,
				  "power cut"),
		  0);
	CHECK_INT(catalog_gap_add(cat, "yard", T0 + 20 * SEC, T0 + 10 * SEC, GAP_RECORDER_DOWN, ""),
		  -EINVAL);
	CHECK_INT(catalog_gap_add(cat, "yard", T0 + 40 * SEC, T0 + 40 * SEC, GAP_STORAGE_FULL, ""),
		  0);

	l->n = 0;
	CHECK_INT(catalog_gaps_each(cat, NULL, collect_gap, l), 0);
	CHECK_INT(l->n, 4);
	if (l->n == 4) {
		CHECK_INT(l->items[1].id, g2);
		CHECK_INT(l->items[1].start_us, T0 + 100 * SEC);
		CHECK_INT(l->items[1].end_us, T0 + 100 * SEC);
		CHECK_STR(l->items[1].detail, "");
		CHECK_STR(l->items[2].camera, "yard");
		CHECK_INT(l->items[2].reason, GAP_RECORDER_DOWN);
		CHECK_STR(l->items[2].detail, "power cut");
		CHECK_INT(l->items[3].reason, GAP_STORAGE_FULL);
	}
	/* filters */
	struct catalog_filter f = { .camera = "yard" };
	l->n = 0;
	CHECK_INT(catalog_gaps_each(cat, &f, collect_gap, l), 0);
	CHECK_INT(l->n, 2);
	f = (struct catalog_filter){ .camera = "gate3", .from_us = T0 + 30 * SEC };
	l->n = 0;
	CHECK_INT(catalog_gaps_each(cat, &f, collect_gap, l), 0);
	CHECK_INT(l->n, 1); /* the first ends exactly at from */
	f = (struct catalog_filter){ .from_us = T0 + 15 * SEC, .to_us = T0 + 25 * SEC };
	l->n = 0;
	CHECK_INT(catalog_gaps_each(cat, &f, collect_gap, l), 0);
	CHECK_INT(l->n, 2); /* gate3 [0,30) and yard [10,20) */
	free(l);
	catalog_close(&cat);
}

static void gaps_close_all(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	int64_t a, b, c;
	CHECK_INT(catalog_gap_open(cat, "gate3", T0, GAP_CAMERA_UNREACHABLE, "no route", &a), 0);
	CHECK_INT(catalog_gap_open(cat, "yard", T0 + 5 * SEC, GAP_STREAM_STALLED, "", &b), 0);
	CHECK_INT(catalog_gap_open(cat, "dock", T0 + 500 * SEC, GAP_STREAM_ERROR, "x", &c), 0);
	CHECK_INT(catalog_gap_add(cat, "gate3", T0 - 100 * SEC, T0 - 50 * SEC, GAP_RECORDER_DOWN,
				  "closed already"),
		  0);
	CHECK_INT(catalog_gaps_close_all(cat, T0 + 100 * SEC, "recorder restarted"), 3);
	CHECK_INT(catalog_gaps_close_all(cat, T0 + 200 * SEC, "again"), 0);

	struct gap_list *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	CHECK_INT(catalog_gaps_each(cat, NULL, collect_gap, l), 0);
	CHECK_INT(l->n, 4);
	for (int i = 0; i < l->n && i < 64; i++) {
		const struct catalog_gap *g = &l->items[i];
		if (g->id == a) {
			CHECK_INT(g->end_us, T0 + 100 * SEC);
			CHECK_STR(g->detail, "no route; recorder restarted");
		} else if (g->id == b) {
			CHECK_INT(g->end_us, T0 + 100 * SEC);
			CHECK_STR(g->detail, "recorder restarted");
		} else if (g->id == c) {
			CHECK_INT(g->end_us, T0 + 500 * SEC); /* never before its start */
			CHECK_STR(g->detail, "x; recorder restarted");
		} else {
			CHECK_INT(g->end_us, T0 - 50 * SEC);
			CHECK_STR(g->detail, "closed already");
		}
	}
	free(l);
	/* without a note the detail stays as it was */
	int64_t d;
	CHECK_INT(catalog_gap_open(cat, "gate3", T0 + 300 * SEC, GAP_STREAM_STALLED, "kept", &d),
		  0);
	CHECK_INT(catalog_gaps_close_all(cat, T0 + 310 * SEC, NULL), 1);
	struct catalog_filter f = { .camera = "gate3", .from_us = T0 + 300 * SEC };
	struct gap_list one = { .n = 0 };
	CHECK_INT(catalog_gaps_each(cat, &f, collect_gap, &one), 0);
	CHECK_INT(one.n, 1);
	CHECK_STR(one.items[0].detail, "kept");
	catalog_close(&cat);
}

static void last_covered(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	int64_t us = 12345;
	CHECK_INT(catalog_camera_last_covered(cat, "gate3", &us), 0);
	CHECK_INT(us, -1);
	add_segment(cat, "gate3", T0, T0 + 60 * SEC);
	CHECK_INT(catalog_camera_last_covered(cat, "gate3", &us), 0);
	CHECK_INT(us, T0 + 60 * SEC);
	/* a writing segment and an open gap do not count */
	int64_t id, gid;
	char rel[CATALOG_PATH_MAX];
	CHECK_INT(catalog_segment_begin(cat, "gate3", T0 + 60 * SEC, "h264", 1, 1, false, &id, rel,
					sizeof(rel)),
		  0);
	CHECK_INT(catalog_gap_open(cat, "gate3", T0 + 70 * SEC, GAP_STREAM_STALLED, "", &gid), 0);
	CHECK_INT(catalog_camera_last_covered(cat, "gate3", &us), 0);
	CHECK_INT(us, T0 + 60 * SEC);
	/* a closed gap later than the footage does */
	CHECK_INT(catalog_gap_close(cat, gid, T0 + 90 * SEC), 0);
	CHECK_INT(catalog_camera_last_covered(cat, "gate3", &us), 0);
	CHECK_INT(us, T0 + 90 * SEC);
	/* and a recovered segment beyond it wins again */
	struct segment_result r = result_for(T0 + 60 * SEC, T0 + 95 * SEC, 1);
	CHECK_INT(catalog_segment_finish(cat, id, &r, SEGMENT_RECOVERED), 0);
	CHECK_INT(catalog_camera_last_covered(cat, "gate3", &us), 0);
	CHECK_INT(us, T0 + 95 * SEC);
	/* other cameras are separate */
	CHECK_INT(catalog_gap_add(cat, "yard", T0, T0 + 500 * SEC, GAP_RECORDER_DOWN, ""), 0);
	CHECK_INT(catalog_camera_last_covered(cat, "gate3", &us), 0);
	CHECK_INT(us, T0 + 95 * SEC);
	CHECK_INT(catalog_camera_last_covered(cat, "yard", &us), 0);
	CHECK_INT(us, T0 + 500 * SEC);
	us = 7;
	CHECK_INT(catalog_camera_last_covered(cat, "never", &us), 0);
	CHECK_INT(us, -1);
	catalog_close(&cat);
}

static void meta(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	char value[64] = "untouched";
	CHECK_INT(catalog_meta_get(cat, "recorder", value, sizeof(value)), -ENOENT);
	CHECK_STR(value, "untouched");
	CHECK_INT(catalog_meta_set(cat, "recorder", "zone1-rec1"), 0);
	CHECK_INT(catalog_meta_get(cat, "recorder", value, sizeof(value)), 0);
	CHECK_STR(value, "zone1-rec1");
	CHECK_INT(catalog_meta_set(cat, "recorder", "zone1-rec2"), 0); /* overwrite */
	CHECK_INT(catalog_meta_get(cat, "recorder", value, sizeof(value)), 0);
	CHECK_STR(value, "zone1-rec2");
	CHECK_INT(catalog_meta_set(cat, "empty", ""), 0);
	CHECK_INT(catalog_meta_get(cat, "empty", value, sizeof(value)), 0);
	CHECK_STR(value, "");
	char small[5];
	CHECK_INT(catalog_meta_get(cat, "recorder", small, sizeof(small)), 0);
	CHECK_STR(small, "zone"); /* truncated, terminated */
	catalog_close(&cat);
	cat = open_rw();
	if (!cat)
		return;
	CHECK_INT(catalog_meta_get(cat, "recorder", value, sizeof(value)), 0);
	CHECK_STR(value, "zone1-rec2");
	catalog_close(&cat);
}

static void integrity(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	add_segment(cat, "gate3", T0, T0 + 60 * SEC);
	CHECK_INT(
		catalog_gap_add(cat, "gate3", T0 + 60 * SEC, T0 + 70 * SEC, GAP_STREAM_STALLED, ""),
		0);
	char msg[128] = "";
	CHECK_INT(catalog_integrity_check(cat, msg, sizeof(msg)), 0);
	CHECK_STR(msg, "ok");
	catalog_close(&cat);
}

/* ---- runs -------------------------------------------------------------- */

struct run_row {
	int64_t start, end, segments;
};

static int read_runs(const char *camera, struct run_row *rows, int max)
{
	sqlite3 *db = raw_open(test_path("catalog.db"));
	sqlite3_stmt *stmt = NULL;
	int n = 0;
	if (!db)
		return -1;
	if (sqlite3_prepare_v2(db,
			       "SELECT start_us, end_us, segments FROM run WHERE camera = ? "
			       "ORDER BY start_us",
			       -1, &stmt, NULL) != SQLITE_OK) {
		test_fail(__FILE__, __LINE__, "run query: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		if (n < max)
			rows[n] = (struct run_row){ sqlite3_column_int64(stmt, 0),
						    sqlite3_column_int64(stmt, 1),
						    sqlite3_column_int64(stmt, 2) };
		n++;
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return n;
}

static void check_runs(int line, const char *camera, const struct run_row *want, int nwant)
{
	struct run_row got[16];
	int n = read_runs(camera, got, 16);
	bool same = n == nwant;
	for (int i = 0; same && i < n; i++)
		same = got[i].start == want[i].start && got[i].end == want[i].end &&
		       got[i].segments == want[i].segments;
	if (!same) {
		char text[1024] = "";
		size_t o = 0;
		for (int i = 0; i < n && i < 16 && o < sizeof(text); i++)
			o += (size_t)snprintf(text + o, sizeof(text) - o,
					      " [%+" PRId64 "s, %+" PRId64 "s) x%" PRId64,
					      (got[i].start - T0) / SEC, (got[i].end - T0) / SEC,
					      got[i].segments);
		test_fail(__FILE__, line, "runs of %s are:%s (%d, want %d)", camera, text, n,
			  nwant);
	}
}

static void runs_coalesce(void)
{
	const int64_t TOL = CATALOG_RUN_TOLERANCE_US;
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	add_segment(cat, "gate3", T0, T0 + 60 * SEC);
	add_segment(cat, "gate3", T0 + 60 * SEC, T0 + 120 * SEC);	 /* exact */
	add_segment(cat, "gate3", T0 + 120 * SEC + TOL, T0 + 180 * SEC); /* at tolerance */
	check_runs(__LINE__, "gate3", (struct run_row[]){ { T0, T0 + 180 * SEC, 3 } }, 1);

	/* a real hole starts a second run */
	add_segment(cat, "gate3", T0 + 300 * SEC, T0 + 360 * SEC);
	check_runs(__LINE__, "gate3",
		   (struct run_row[]){ { T0, T0 + 180 * SEC, 3 },
				       { T0 + 300 * SEC, T0 + 360 * SEC, 1 } },
		   2);
	/* just past the tolerance is a hole too */
	add_segment(cat, "gate3", T0 + 360 * SEC + TOL + 1, T0 + 420 * SEC);
	check_runs(__LINE__, "gate3",
		   (struct run_row[]){ { T0, T0 + 180 * SEC, 3 },
				       { T0 + 300 * SEC, T0 + 360 * SEC, 1 },
				       { T0 + 360 * SEC + TOL + 1, T0 + 420 * SEC, 1 } },
		   3);
	/* filling the holes joins everything into one run */
	add_segment(cat, "gate3", T0 + 180 * SEC, T0 + 300 * SEC);
	add_segment(cat, "gate3", T0 + 360 * SEC, T0 + 360 * SEC + TOL + 1);
	check_runs(__LINE__, "gate3", (struct run_row[]){ { T0, T0 + 420 * SEC, 7 } }, 1);

	/* a segment that ends slightly before the next began (within the
	 * tolerance, from the other side) joins too; other cameras are apart */
	add_segment(cat, "yard", T0 + 1000 * SEC, T0 + 1060 * SEC);
	add_segment(cat, "yard", T0 + 940 * SEC, T0 + 1000 * SEC - TOL);
	add_segment(cat, "yard", T0 + 2000 * SEC, T0 + 2060 * SEC);
	check_runs(__LINE__, "yard",
		   (struct run_row[]){ { T0 + 940 * SEC, T0 + 1060 * SEC, 2 },
				       { T0 + 2000 * SEC, T0 + 2060 * SEC, 1 } },
		   2);
	check_runs(__LINE__, "gate3", (struct run_row[]){ { T0, T0 + 420 * SEC, 7 } }, 1);

	/* a segment with no length (end == start) makes no run */
	add_segment(cat, "empty", T0, T0);
	check_runs(__LINE__, "empty", NULL, 0);
	/* a writing segment is not footage yet */
	int64_t id;
	char rel[CATALOG_PATH_MAX];
	CHECK_INT(catalog_segment_begin(cat, "gate3", T0 + 420 * SEC, "h264", 1, 1, false, &id, rel,
					sizeof(rel)),
		  0);
	check_runs(__LINE__, "gate3", (struct run_row[]){ { T0, T0 + 420 * SEC, 7 } }, 1);
	/* recovered segments extend runs like complete ones */
	struct segment_result r = result_for(T0 + 420 * SEC, T0 + 450 * SEC, 3);
	CHECK_INT(catalog_segment_finish(cat, id, &r, SEGMENT_RECOVERED), 0);
	check_runs(__LINE__, "gate3", (struct run_row[]){ { T0, T0 + 450 * SEC, 8 } }, 1);
	catalog_close(&cat);
}

/* ---- the audit chain --------------------------------------------------- */

#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* Recomputes the hash of an entry as catalog/audit.c describes it. */
static void audit_hash(const char *camera, int64_t seq, int64_t at_us, const char *kind,
		       bool has_segment, int64_t segment_id, const char *detail, const char *prev,
		       char hex[SHA256_HEX_SIZE])
{
	struct buf text;
	char segment[32] = "";
	if (has_segment)
		snprintf(segment, sizeof(segment), "%" PRId64, segment_id);
	buf_init(&text, 1 << 16);
	buf_printf(&text, "vigil-audit-1\n%s\n%" PRId64 "\n%" PRId64 "\n%s\n%s\n%s\n%s", camera,
		   seq, at_us, kind, segment, detail, prev);
	sha256_hex(text.data, text.len, hex);
	buf_release(&text);
}

struct chain_stats {
	int entries;
	int segment_added;
	int gaps;
	int recoveries;
};

/* Walks one camera's chain in the table; reports every broken link. */
static struct chain_stats verify_chain(sqlite3 *db, const char *camera)
{
	struct chain_stats st = { 0 };
	sqlite3_stmt *stmt = NULL;
	char prev[SHA256_HEX_SIZE] = GENESIS;
	if (sqlite3_prepare_v2(
		    db,
		    "SELECT seq, at_us, kind, segment_id, detail, prev_hash, hash FROM audit "
		    "WHERE camera = ? ORDER BY seq",
		    -1, &stmt, NULL) != SQLITE_OK) {
		test_fail(__FILE__, __LINE__, "audit query: %s", sqlite3_errmsg(db));
		return st;
	}
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(stmt, 0);
		int64_t at = sqlite3_column_int64(stmt, 1);
		const char *kind = (const char *)sqlite3_column_text(stmt, 2);
		bool has_segment = sqlite3_column_type(stmt, 3) != SQLITE_NULL;
		int64_t segment_id = sqlite3_column_int64(stmt, 3);
		const char *detail = (const char *)sqlite3_column_text(stmt, 4);
		const char *prev_hash = (const char *)sqlite3_column_text(stmt, 5);
		const char *hash = (const char *)sqlite3_column_text(stmt, 6);
		char want[SHA256_HEX_SIZE];

		st.entries++;
		if (seq != st.entries)
			test_fail(__FILE__, __LINE__, "%s: entry %d has seq %" PRId64, camera,
				  st.entries, seq);
		if (strcmp(prev_hash, prev) != 0)
			test_fail(__FILE__, __LINE__, "%s: seq %" PRId64 " prev_hash %s, want %s",
				  camera, seq, prev_hash, prev);
		audit_hash(camera, seq, at, kind, has_segment, segment_id, detail, prev_hash, want);
		if (strcmp(hash, want) != 0)
			test_fail(__FILE__, __LINE__, "%s: seq %" PRId64 " hash %s, recomputed %s",
				  camera, seq, hash, want);
		if (strcmp(kind, "segment-added") == 0) {
			st.segment_added++;
			CHECK(has_segment);
		} else if (strcmp(kind, "gap") == 0) {
			st.gaps++;
			CHECK(!has_segment);
		} else if (strcmp(kind, "recovery") == 0) {
			st.recoveries++;
		}
		snprintf(prev, sizeof(prev), "%s", hash);
	}
	sqlite3_finalize(stmt);
	return st;
}

#define PROBLEMS_MAX 16
struct problems {
	int n;
	char kind[PROBLEMS_MAX][40];
	char camera[PROBLEMS_MAX][CATALOG_CAMERA_MAX];
};

static int collect_problem(const struct catalog_problem *p, void *ctx)
{
	struct problems *ps = ctx;
	if (ps->n < PROBLEMS_MAX) {
		snprintf(ps->kind[ps->n], sizeof(ps->kind[0]), "%s", p->kind);
		snprintf(ps->camera[ps->n], sizeof(ps->camera[0]), "%s", p->camera);
	}
	ps->n++;
	return 0;
}

static void audit_chain(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	int64_t s1 = add_segment(cat, "gate3", T0, T0 + 60 * SEC);
	add_segment(cat, "yard", T0, T0 + 60 * SEC);
	CHECK_INT(catalog_gap_add(cat, "gate3", T0 + 60 * SEC, T0 + 65 * SEC, GAP_STREAM_STALLED,
				  "no packets for 5 s"),
		  0);
	int64_t gid;
	CHECK_INT(catalog_gap_open(cat, "gate3", T0 + 125 * SEC, GAP_CAMERA_UNREACHABLE, "refused",
				   &gid),
		  0);
	add_segment(cat, "gate3", T0 + 65 * SEC, T0 + 125 * SEC);
	CHECK_INT(catalog_gap_close(cat, gid, T0 + 200 * SEC), 0);
	CHECK_INT(catalog_record_recovery(cat, "gate3", s1, "checked"), 0);
	int64_t open_gap;
	CHECK_INT(catalog_gap_open(cat, "yard", T0 + 60 * SEC, GAP_RECORDER_DOWN, "", &open_gap),
		  0);
	CHECK_INT(catalog_gaps_close_all(cat, T0 + 300 * SEC, "restart"), 1);
	add_segment(cat, "yard", T0 + 300 * SEC, T0 + 360 * SEC);
	/* a writing segment and an abandoned one leave no entry */
	int64_t w;
	char rel[CATALOG_PATH_MAX];
	CHECK_INT(catalog_segment_begin(cat, "gate3", T0 + 400 * SEC, "h264", 1, 1, false, &w, rel,
					sizeof(rel)),
		  0);
	CHECK_INT(catalog_segment_abandon(cat, w), 0);
	catalog_close(&cat);

	sqlite3 *db = raw_open(test_path("catalog.db"));
	if (!db)
		return;
	struct chain_stats g = verify_chain(db, "gate3");
	CHECK_INT(g.entries, 5);
	CHECK_INT(g.segment_added, 2);
	CHECK_INT(g.gaps, 2);
	CHECK_INT(g.recoveries, 1);
	struct chain_stats y = verify_chain(db, "yard");
	CHECK_INT(y.entries, 3);
	CHECK_INT(y.segment_added, 2);
	CHECK_INT(y.gaps, 1);
	CHECK_INT(raw_int(db, "SELECT count(*) FROM audit"), 8);

	/* the segment entry records what identifies the file */
	struct segment_result r = result_for(T0, T0 + 60 * SEC, s1);
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM audit WHERE camera = 'gate3' AND segment_id = %" PRId64
		 " AND kind = 'segment-added' AND instr(detail, 'sha256=%s') > 0 "
		 "AND instr(detail, 'bytes=%" PRId64 "') > 0",
		 s1, r.sha256, r.bytes);
	CHECK_INT(raw_int(db, sql), 1);

	/* vigil's own verifier finds the chain intact, then the edited entry */
	sqlite3_close(db);
	struct problems none = { 0 };
	cat = open_rw();
	if (!cat)
		return;
	int64_t checked = 0;
	CHECK_INT(catalog_verify(cat, NULL, collect_problem, &none, &checked), 0);
	CHECK_INT(none.n, 0);
	CHECK_INT(checked, 8);
	catalog_close(&cat);
	db = raw_open(test_path("catalog.db"));
	if (!db)
		return;
	raw_exec(db, "UPDATE audit SET detail = detail || ' ' WHERE camera = 'gate3' AND seq = 2");
	sqlite3_close(db);
	cat = open_rw();
	if (!cat)
		return;
	struct problems found = { 0 };
	CHECK_INT(catalog_verify(cat, NULL, collect_problem, &found, &checked), 0);
	catalog_close(&cat);
	CHECK(found.n >= 1);
	int edited = 0;
	for (int i = 0; i < found.n && i < PROBLEMS_MAX; i++) {
		CHECK_STR(found.camera[i], "gate3");
		edited += strcmp(found.kind[i], "audit-entry-edited") == 0;
	}
	CHECK_INT(edited, 1);

	/* appending continues the chain after a reopen */
	cat = open_rw();
	if (!cat)
		return;
	add_segment(cat, "yard", T0 + 360 * SEC, T0 + 420 * SEC);
	catalog_close(&cat);
	db = raw_open(test_path("catalog.db"));
	if (!db)
		return;
	y = verify_chain(db, "yard");
	CHECK_INT(y.entries, 4);
	sqlite3_close(db);
}

/* ---- threads ----------------------------------------------------------- */

#define PER_THREAD 40

struct worker_arg {
	struct catalog *cat;
	const char *camera;
	int64_t ids[PER_THREAD];
	int failures;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	for (int i = 0; i < PER_THREAD; i++) {
		int64_t start = T0 + i * 60 * SEC;
		char rel[CATALOG_PATH_MAX];
		a->ids[i] = -1;
		if (catalog_segment_begin(a->cat, a->camera, start, "h264", 1, 1, false, &a->ids[i],
					  rel, sizeof(rel)) < 0) {
			a->failures++;
			continue;
		}
		struct segment_result r = result_for(start, start + 60 * SEC, a->ids[i]);
		if (catalog_segment_finish(a->cat, a->ids[i], &r, SEGMENT_COMPLETE) < 0)
			a->failures++;
		if (i % 10 == 0 && catalog_gap_add(a->cat, a->camera, start - SEC, start,
						   GAP_STREAM_STALLED, "t") < 0)
			a->failures++;
	}
	return NULL;
}

static void check_threads(struct catalog *cat1, struct catalog *cat2)
{
	struct worker_arg a = { .cat = cat1, .camera = "left" };
	struct worker_arg b = { .cat = cat2, .camera = "right" };
	pthread_t ta, tb;
	CHECK_INT(pthread_create(&ta, NULL, worker, &a), 0);
	CHECK_INT(pthread_create(&tb, NULL, worker, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK_INT(a.failures, 0);
	CHECK_INT(b.failures, 0);

	int dups = 0;
	for (int i = 0; i < PER_THREAD; i++)
		for (int j = 0; j < PER_THREAD; j++) {
			dups += a.ids[i] == b.ids[j];
			dups += j > i && a.ids[i] == a.ids[j];
			dups += j > i && b.ids[i] == b.ids[j];
		}
	CHECK_INT(dups, 0);
	struct catalog_filter f = { .camera = "left" };
	CHECK_INT(count_segments(cat1, &f), PER_THREAD);
	f.camera = "right";
	CHECK_INT(count_segments(cat1, &f), PER_THREAD);
	/* every row is complete and where it should be */
	for (int i = 0; i < PER_THREAD; i++) {
		struct catalog_segment seg;
		if (catalog_segment_get(cat1, b.ids[i], &seg) != 0 ||
		    seg.state != SEGMENT_COMPLETE || strcmp(seg.camera, "right") != 0 ||
		    seg.start_us != T0 + i * 60 * SEC) {
			test_fail(__FILE__, __LINE__, "row %" PRId64 " is wrong", b.ids[i]);
			break;
		}
	}
	check_runs(__LINE__, "left",
		   (struct run_row[]){ { T0, T0 + PER_THREAD * 60 * SEC, PER_THREAD } }, 1);
	check_runs(__LINE__, "right",
		   (struct run_row[]){ { T0, T0 + PER_THREAD * 60 * SEC, PER_THREAD } }, 1);
	sqlite3 *db = raw_open(test_path("catalog.db"));
	if (db) {
		struct chain_stats s = verify_chain(db, "left");
		CHECK_INT(s.entries, PER_THREAD + PER_THREAD / 10);
		s = verify_chain(db, "right");
		CHECK_INT(s.entries, PER_THREAD + PER_THREAD / 10);
		sqlite3_close(db);
	}
	char msg[64];
	CHECK_INT(catalog_integrity_check(cat1, msg, sizeof(msg)), 0);
}

static void two_threads_one_catalog(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	check_threads(cat, cat);
	catalog_close(&cat);
}

static void two_threads_two_connections(void)
{
	struct catalog *c1 = open_rw();
	struct catalog *c2 = open_rw();
	if (c1 && c2)
		check_threads(c1, c2);
	catalog_close(&c1);
	catalog_close(&c2);
}

/* A transaction that fails half-way leaves nothing of itself: finishing a
 * segment (state, audit entry, run, day statistics in one transaction) is
 * made to fail at its last step, and the row stays writing with no audit
 * entry and no run. */
static void failed_transaction_undone(void)
{
	struct catalog *cat = open_rw();
	if (!cat)
		return;
	int64_t id;
	char rel[CATALOG_PATH_MAX];
	CHECK_INT(catalog_segment_begin(cat, "cam1", 1000 * SEC, "h264", 640, 480, false, &id, rel,
					sizeof(rel)),
		  0);
	sqlite3 *db = raw_open(test_path("catalog.db"));
	if (!db) {
		catalog_close(&cat);
		return;
	}
	int audits = raw_int(db, "SELECT count(*) FROM audit");
	raw_exec(db, "CREATE TRIGGER no_stats BEFORE INSERT ON day_stat "
		     "BEGIN SELECT RAISE(ABORT, 'refused here'); END");
	struct segment_result r = result_for(1000 * SEC, 1060 * SEC, 1);
	CHECK(catalog_segment_finish(cat, id, &r, SEGMENT_COMPLETE) < 0);
	CHECK_INT(raw_int(db, "SELECT count(*) FROM audit"), audits);
	CHECK_INT(raw_int(db, "SELECT count(*) FROM run"), 0);
	struct catalog_segment seg;
	CHECK_INT(catalog_segment_get(cat, id, &seg), 0);
	CHECK_INT(seg.state, SEGMENT_WRITING);
	raw_exec(db, "DROP TRIGGER no_stats");
	CHECK_INT(catalog_segment_finish(cat, id, &r, SEGMENT_COMPLETE), 0);
	CHECK_INT(raw_int(db, "SELECT count(*) FROM run"), 1);
	sqlite3_close(db);
	catalog_close(&cat);
}

/* The catalog names every camera and its footage: created 0640 whatever
 * the umask, its -wal and -shm files too. */
static void files_are_private(void)
{
	mode_t old = umask(0);
	struct catalog *cat = open_rw();
	umask(old);
	if (!cat)
		return;
	int64_t id;
	char rel[CATALOG_PATH_MAX];
	CHECK_INT(catalog_segment_begin(cat, "cam1", 1000 * SEC, "h264", 640, 480, false, &id, rel,
					sizeof(rel)),
		  0);
	static const char *const names[] = { "catalog.db", "catalog.db-wal", "catalog.db-shm" };
	for (int i = 0; i < 3; i++) {
		struct stat st;
		CHECK_INT(stat(test_path(names[i]), &st), 0);
		if ((st.st_mode & 07777) != 0640)
			test_fail(__FILE__, __LINE__, "%s has mode %04o", names[i],
				  (unsigned)(st.st_mode & 07777));
	}
	catalog_close(&cat);
}

const struct test_case catalog_tests[] = {
	{ "create_at_latest_schema", create_at_latest_schema },
	{ "files_are_private", files_are_private },
	{ "failed_transaction_undone", failed_transaction_undone },
	{ "reopen_does_not_migrate", reopen_does_not_migrate },
	{ "newer_schema_refused", newer_schema_refused },
	{ "read_only_does_not_write", read_only_does_not_write },
	{ "relpath_table", relpath_table },
	{ "names", names },
	{ "segment_lifecycle", segment_lifecycle },
	{ "finish_rules", finish_rules },
	{ "abandon_only_writing", abandon_only_writing },
	{ "listing_filters", listing_filters },
	{ "gaps", gaps },
	{ "gaps_close_all", gaps_close_all },
	{ "last_covered", last_covered },
	{ "meta", meta },
	{ "integrity", integrity },
	{ "runs_coalesce", runs_coalesce },
	{ "audit_chain", audit_chain },
	{ "two_threads_one_catalog", two_threads_one_catalog },
	{ "two_threads_two_connections", two_threads_two_connections },
	{ NULL, NULL },
};
