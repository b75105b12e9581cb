/*
 * Catalog queries behind retention: legal holds, the delete protocol
 * (invariant I4 of catalog.h), per-camera totals, per-day statistics,
 * deletion counts and runs.
 *
 * Runs stay equal to the live segments as footage is deleted: deleting the
 * oldest segment of a run moves the run's start to the next live segment;
 * deleting one in the middle (which happens around held footage) splits the
 * run at the live neighbours.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/internal.h"
#include "util/banned.h"

#define DAY_US (86400 * INT64_C(1000000))

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- holds --------------------------------------------------------------- */

#define HOLD_COLUMNS "id, camera, start_us, end_us, reason, placed_us, released_us, release_reason"

static int read_hold(sqlite3_stmt *row, void *hold)
{
	struct catalog_hold *h = hold;
	memset(h, 0, sizeof(*h));
	h->id = sqlite3_column_int64(row, 0);
	db_column_text(row, 1, h->camera, sizeof(h->camera));
	h->start_us = sqlite3_column_int64(row, 2);
	h->end_us = sqlite3_column_int64(row, 3);
	db_column_text(row, 4, h->reason, sizeof(h->reason));
	h->placed_us = sqlite3_column_int64(row, 5);
	h->released_us = db_column_or(row, 6, -1);
	db_column_text(row, 7, h->release_reason, sizeof(h->release_reason));
	return 0;
}

static void hold_detail(const struct catalog_hold *h, char *out, size_t size)
{
	snprintf(out, size,
		 "hold=%" PRId64 " start=%" PRId64 " end=%" PRId64 " reason=%s release_reason=%s",
		 h->id, h->start_us, h->end_us, h->reason, h->release_reason);
}

int catalog_hold_add(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us,
		     const char *reason, int64_t now_us, int64_t *id)
{
	struct catalog_hold h = { .start_us = start_us, .end_us = end_us };
	char detail[1024];
	int ret;

	if (end_us <= start_us)
		return -EINVAL;
	if ((ret = db_begin(cat->db)) < 0)
		return ret;
	if ((ret = catalog_ensure_camera(cat, camera, now_us)) < 0)
		goto out;
	sqlite3_stmt *s = db_stmt(cat->db, "INSERT INTO hold (camera, start_us, end_us, "
					   "reason, placed_us) VALUES (?, ?, ?, ?, ?)");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, start_us);
	db_bind_int64(s, 3, end_us);
	db_bind_text(s, 4, reason);
	db_bind_int64(s, 5, now_us);
	if ((ret = db_run(cat->db, s, "add hold")) < 0)
		goto out;
	h.id = db_last_id(cat->db);
	snprintf(h.reason, sizeof(h.reason), "%s", reason);
	hold_detail(&h, detail, sizeof(detail));
	ret = catalog_audit_append(cat, camera, now_us, "hold-placed", -1, detail);
out:
	if ((ret = db_end(cat->db, ret)) == 0)
		*id = h.id;
	return ret;
}

static int hold_get(struct catalog *cat, int64_t id, struct catalog_hold *h)
{
	sqlite3_stmt *s = db_stmt(cat->db, "SELECT " HOLD_COLUMNS " FROM hold WHERE id = ?");
	db_bind_int64(s, 1, id);
	return db_one(cat->db, s, "read hold", read_hold, h);
}

int catalog_hold_release(struct catalog *cat, int64_t id, const char *reason, int64_t now_us)
{
	struct catalog_hold h;
	char detail[1024];
	int ret;

	if ((ret = db_begin(cat->db)) < 0)
		return ret;
	if ((ret = hold_get(cat, id, &h)) < 0)
		goto out;
	if (h.released_us >= 0) {
		ret = -EALREADY;
		goto out;
	}
	sqlite3_stmt *s = db_stmt(
		cat->db, "UPDATE hold SET released_us = ?, release_reason = ? WHERE id = ?");
	db_bind_int64(s, 1, now_us);
	db_bind_text(s, 2, reason ? reason : "");
	db_bind_int64(s, 3, id);
	if ((ret = db_run(cat->db, s, "release hold")) < 0)
		goto out;
	snprintf(h.release_reason, sizeof(h.release_reason), "%s", reason ? reason : "");
	hold_detail(&h, detail, sizeof(detail));
	ret = catalog_audit_append(cat, h.camera, now_us, "hold-released", -1, detail);
out:
	return db_end(cat->db, ret);
}

struct hold_walk {
	catalog_hold_fn fn;
	void *ctx;
};

static int hold_row(sqlite3_stmt *row, void *walk)
{
	struct hold_walk *w = walk;
	struct catalog_hold h;
	read_hold(row, &h);
	return w->fn(&h, w->ctx);
}

int catalog_holds_each(struct catalog *cat, const char *camera, bool include_released,
		       catalog_hold_fn fn, void *ctx)
{
	struct hold_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(cat->db, "SELECT " HOLD_COLUMNS " FROM hold "
					   "WHERE (?1 IS NULL OR camera = ?1) "
					   "AND (?2 OR released_us IS NULL) "
					   "ORDER BY camera, start_us, id");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, include_released);
	return db_each(cat->db, s, "list holds", hold_row, &w);
}

int catalog_is_held(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us)
{
	int64_t held = 0;
	sqlite3_stmt *s = db_stmt(
		cat->db,
		"SELECT EXISTS (SELECT 1 FROM hold WHERE camera = ? AND released_us IS NULL "
		"AND start_us < ? AND end_us > ?)");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, end_us);
	db_bind_int64(s, 3, start_us);
	int ret = db_int64(cat->db, s, "check holds", &held);
	return ret < 0 ? ret : held != 0;
}

/* ---- the delete protocol ------------------------------------------------- */

static int mark_deleting(struct catalog *cat, int64_t id, const char *reason, int64_t now_us)
{
	struct catalog_segment seg;
	int ret;

	if ((ret = catalog_segment_get(cat, id, &seg)) < 0)
		return ret;
	if (seg.state != SEGMENT_COMPLETE && seg.state != SEGMENT_RECOVERED)
		return -EALREADY;
	if ((ret = catalog_is_held(cat, seg.camera, seg.start_us, seg.end_us)) != 0)
		return ret > 0 ? -EPERM : ret;
	sqlite3_stmt *s = db_stmt(cat->db, "UPDATE segment SET state = 'deleting', deleted_us = ?, "
					   "delete_reason = ? WHERE id = ?");
	db_bind_int64(s, 1, now_us);
	db_bind_text(s, 2, reason);
	db_bind_int64(s, 3, id);
	return db_run(cat->db, s, "mark segment deleting");
}

struct span {
	int64_t start, end;
};

static int read_span(sqlite3_stmt *row, void *span)
{
	struct span *sp = span;
	sp->start = sqlite3_column_int64(row, 0);
	sp->end = sqlite3_column_int64(row, 1);
	return 0;
}

/* The live segment of camera just before (or after) start_us, inside
 * [lo, hi]; fills *seg, returns 1 found, 0 none, <0 error. */
static int live_neighbour(struct catalog *cat, const char *camera, int64_t start_us, bool before,
			  int64_t lo, int64_t hi, struct span *seg)
{
	const char *sql =
		before ? "SELECT start_us, end_us FROM segment WHERE camera = ?1 AND start_us < ?2 "
			 "AND start_us >= ?3 AND state IN ('complete', 'recovered') "
			 "ORDER BY start_us DESC LIMIT 1"
		       : "SELECT start_us, end_us FROM segment WHERE camera = ?1 AND start_us > ?2 "
			 "AND start_us <= ?4 AND state IN ('complete', 'recovered') "
			 "ORDER BY start_us LIMIT 1";
	sqlite3_stmt *s = db_stmt(cat->db, sql);
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, start_us);
	db_bind_int64(s, 3, lo);
	db_bind_int64(s, 4, hi);
	int ret = db_one(cat->db, s, "find neighbour segment", read_span, seg);
	return ret == 0 ? 1 : ret == -ENOENT ? 0 : ret;
}

static int count_live(struct catalog *cat, const char *camera, int64_t from, int64_t to, int64_t *n)
{
	sqlite3_stmt *s =
		db_stmt(cat->db, "SELECT count(*) FROM segment WHERE camera = ? AND start_us >= ? "
				 "AND start_us <= ? AND state IN ('complete', 'recovered')");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, from);
	db_bind_int64(s, 3, to);
	return db_int64(cat->db, s, "count segments", n);
}

struct run_row {
	int64_t id, start, end, count;
};

static int read_run_row(sqlite3_stmt *row, void *run)
{
	struct run_row *r = run;
	r->id = sqlite3_column_int64(row, 0);
	r->start = sqlite3_column_int64(row, 1);
	r->end = sqlite3_column_int64(row, 2);
	r->count = sqlite3_column_int64(row, 3);
	return 0;
}

/* Takes the (already tombstoned) segment [s, e) out of its run. */
static int run_remove(struct catalog *cat, const char *camera, int64_t s, int64_t e)
{
	struct run_row run;
	int ret;

	sqlite3_stmt *st =
		db_stmt(cat->db, "SELECT id, start_us, end_us, segments FROM run WHERE camera = ? "
				 "AND start_us <= ? AND end_us >= ? ORDER BY start_us LIMIT 1");
	db_bind_text(st, 1, camera);
	db_bind_int64(st, 2, s);
	db_bind_int64(st, 3, e);
	if ((ret = db_one(cat->db, st, "find run", read_run_row, &run)) < 0)
		return ret == -ENOENT ? 0 : ret;

	struct span prev = { 0, 0 }, next = { 0, 0 };
	int has_prev = live_neighbour(cat, camera, s, true, run.start, run.end, &prev);
	if (has_prev < 0)
		return has_prev;
	int has_next = live_neighbour(cat, camera, s, false, run.start, run.end, &next);
	if (has_next < 0)
		return has_next;

	st = db_stmt(cat->db, "DELETE FROM run WHERE id = ?");
	db_bind_int64(st, 1, run.id);
	if ((ret = db_run(cat->db, st, "drop run")) < 0)
		return ret;

	int64_t left = 0;
	if (has_prev && (ret = count_live(cat, camera, run.start, prev.start, &left)) < 0)
		return ret;
	int64_t right = run.count - 1 - left;
	struct {
		bool on;
		int64_t start, end, n;
	} parts[2] = { { has_prev == 1, run.start, prev.end, left },
		       { has_next == 1, next.start, run.end, right } };
	for (int i = 0; i < 2; i++) {
		if (!parts[i].on || parts[i].n <= 0 || parts[i].end <= parts[i].start)
			continue;
		st = db_stmt(cat->db, "INSERT INTO run (camera, start_us, end_us, segments) "
				      "VALUES (?, ?, ?, ?)");
		db_bind_text(st, 1, camera);
		db_bind_int64(st, 2, parts[i].start);
		db_bind_int64(st, 3, parts[i].end);
		db_bind_int64(st, 4, parts[i].n);
		if ((ret = db_run(cat->db, st, "split run")) < 0)
			return ret;
	}
	return 0;
}

static int mark_deleted(struct catalog *cat, int64_t id, int64_t now_us)
{
	struct catalog_segment seg;
	char detail[CATALOG_PATH_MAX + 256];
	int ret;

	if ((ret = catalog_segment_get(cat, id, &seg)) < 0)
		return ret;
	if (seg.state != SEGMENT_DELETING)
		return -EALREADY;
	sqlite3_stmt *s = db_stmt(cat->db, "UPDATE segment SET state = 'deleted' WHERE id = ?");
	db_bind_int64(s, 1, id);
	if ((ret = db_run(cat->db, s, "mark segment deleted")) < 0)
		return ret;

	snprintf(detail, sizeof(detail),
		 "path=%s start=%" PRId64 " end=%" PRId64 " bytes=%" PRId64 " sha256=%s reason=%s",
		 seg.path, seg.start_us, seg.end_us, seg.bytes, seg.sha256, seg.delete_reason);
	if ((ret = catalog_audit_append(cat, seg.camera, now_us, "segment-deleted", id, detail)) <
	    0)
		return ret;
	if ((ret = run_remove(cat, seg.camera, seg.start_us, seg.end_us)) < 0)
		return ret;

	s = db_stmt(cat->db, "UPDATE camera SET live_bytes = live_bytes - ?, "
			     "live_segments = live_segments - 1 WHERE id = ?");
	db_bind_int64(s, 1, seg.bytes);
	db_bind_text(s, 2, seg.camera);
	if ((ret = db_run(cat->db, s, "update camera totals")) < 0)
		return ret;

	s = db_stmt(cat->db,
		    "INSERT INTO deletion_stat (camera, day, reason, segments, bytes) "
		    "VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT (camera, day, reason) DO UPDATE SET "
		    "segments = segments + 1, bytes = bytes + excluded.bytes");
	db_bind_text(s, 1, seg.camera);
	db_bind_int64(s, 2, floor_div(now_us, DAY_US));
	db_bind_text(s, 3, seg.delete_reason);
	db_bind_int64(s, 4, seg.bytes);
	return db_run(cat->db, s, "count deletion");
}

/* Row-level refusals that do not spoil the rest of a batch. */
static bool refusal(int ret)
{
	return ret == -EALREADY || ret == -EPERM || ret == -ENOENT;
}

/* One transaction over the rows, marking each deleting (with reason) or
 * deleted; results[i] is each row's 0 or refusal. */
static int batch(struct catalog *cat, bool deleting, const int64_t *ids, int n, const char *reason,
		 int64_t now_us, int *results)
{
	int ret = db_begin(cat->db);
	if (ret < 0)
		return ret;
	for (int i = 0; i < n; i++) {
		ret = deleting ? mark_deleting(cat, ids[i], reason, now_us)
			       : mark_deleted(cat, ids[i], now_us);
		if (ret < 0 && !refusal(ret))
			break;
		results[i] = ret;
		ret = 0;
	}
	return db_end(cat->db, ret);
}

int catalog_segments_mark_deleting(struct catalog *cat, const int64_t *ids, int n,
				   const char *reason, int64_t now_us, int *results)
{
	return batch(cat, true, ids, n, reason, now_us, results);
}

int catalog_segments_mark_deleted(struct catalog *cat, const int64_t *ids, int n, int64_t now_us,
				  int *results)
{
	return batch(cat, false, ids, n, NULL, now_us, results);
}

int catalog_segment_mark_deleting(struct catalog *cat, int64_t id, const char *reason,
				  int64_t now_us)
{
	int result = 0;
	int ret = catalog_segments_mark_deleting(cat, &id, 1, reason, now_us, &result);
	return ret < 0 ? ret : result;
}

int catalog_segment_mark_deleted(struct catalog *cat, int64_t id, int64_t now_us)
{
	int result = 0;
	int ret = catalog_segments_mark_deleted(cat, &id, 1, now_us, &result);
	return ret < 0 ? ret : result;
}

/* Called by catalog_segment_finish inside its transaction. */
int catalog_stats_add_segment(struct catalog *cat, const struct catalog_segment *seg)
{
	int ret;
	sqlite3_stmt *s =
		db_stmt(cat->db,
			"UPDATE camera SET live_bytes = live_bytes + ?1, "
			"live_segments = live_segments + 1, "
			"first_footage_us = min(coalesce(first_footage_us, ?2), ?2) WHERE id = ?3");
	db_bind_int64(s, 1, seg->bytes);
	db_bind_int64(s, 2, seg->start_us);
	db_bind_text(s, 3, seg->camera);
	if ((ret = db_run(cat->db, s, "update camera totals")) < 0)
		return ret;

	/* recorded time goes to the days it covers; bytes to its first day */
	int64_t first_day = floor_div(seg->start_us, DAY_US);
	for (int64_t t = seg->start_us, day = first_day; t < seg->end_us; day++) {
		int64_t day_end = (day + 1) * DAY_US;
		int64_t part = (seg->end_us < day_end ? seg->end_us : day_end) - t;
		s = db_stmt(
			cat->db,
			"INSERT INTO day_stat (camera, day, recorded_us, bytes, segments) "
			"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (camera, day) DO UPDATE SET "
			"recorded_us = recorded_us + excluded.recorded_us, "
			"bytes = bytes + excluded.bytes, segments = segments + excluded.segments");
		db_bind_text(s, 1, seg->camera);
		db_bind_int64(s, 2, day);
		db_bind_int64(s, 3, part);
		db_bind_int64(s, 4, day == first_day ? seg->bytes : 0);
		db_bind_int64(s, 5, day == first_day ? 1 : 0);
		if ((ret = db_run(cat->db, s, "update day statistics")) < 0)
			return ret;
		t += part;
	}
	return 0;
}

/* ---- queries ------------------------------------------------------------- */

int catalog_oldest_segments(struct catalog *cat, const char *camera, int64_t after_us,
			    int64_t before_us, int limit, catalog_segment_fn fn, void *ctx)
{
	struct catalog_segment_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(
		cat->db,
		"SELECT " SEGMENT_COLUMNS " FROM segment INDEXED BY segment_live "
		"WHERE camera = ?1 AND state IN ('complete', 'recovered') "
		"AND start_us > ?4 AND (?2 = 0 OR end_us <= ?2) ORDER BY start_us LIMIT ?3");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, before_us);
	db_bind_int64(s, 3, limit);
	db_bind_int64(s, 4, after_us);
	return db_each(cat->db, s, "list oldest segments", catalog_segment_row, &w);
}

#define CAMERA_STATS_SQL                                                                           \
	"SELECT c.id, c.created_us, coalesce(c.first_footage_us, -1), "                            \
	"coalesce((SELECT min(start_us) FROM segment INDEXED BY segment_live "                     \
	"  WHERE camera = c.id AND state IN ('complete', 'recovered')), -1), "                     \
	"coalesce((SELECT end_us FROM segment INDEXED BY segment_live WHERE camera = c.id "        \
	"  AND state IN ('complete', 'recovered') ORDER BY start_us DESC LIMIT 1), -1), "          \
	"c.live_bytes, c.live_segments "                                                           \
	"FROM camera c "

static int read_camera_stats(sqlite3_stmt *row, void *stats)
{
	struct catalog_camera_stats *st = stats;
	memset(st, 0, sizeof(*st));
	db_column_text(row, 0, st->camera, sizeof(st->camera));
	st->created_us = sqlite3_column_int64(row, 1);
	st->first_footage_us = sqlite3_column_int64(row, 2);
	st->oldest_us = sqlite3_column_int64(row, 3);
	st->newest_us = sqlite3_column_int64(row, 4);
	st->live_bytes = sqlite3_column_int64(row, 5);
	st->live_segments = sqlite3_column_int64(row, 6);
	return 0;
}

struct camera_walk {
	catalog_camera_fn fn;
	void *ctx;
};

static int camera_row(sqlite3_stmt *row, void *walk)
{
	struct camera_walk *w = walk;
	struct catalog_camera_stats st;
	read_camera_stats(row, &st);
	return w->fn(&st, w->ctx);
}

int catalog_cameras_each(struct catalog *cat, catalog_camera_fn fn, void *ctx)
{
	struct camera_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(cat->db, CAMERA_STATS_SQL "ORDER BY c.id");
	return db_each(cat->db, s, "list cameras", camera_row, &w);
}

int catalog_camera_stats(struct catalog *cat, const char *camera, struct catalog_camera_stats *st)
{
	sqlite3_stmt *s = db_stmt(cat->db, CAMERA_STATS_SQL "WHERE c.id = ?");
	db_bind_text(s, 1, camera);
	return db_one(cat->db, s, "camera statistics", read_camera_stats, st);
}

struct run_walk {
	catalog_run_fn fn;
	void *ctx;
};

static int run_row(sqlite3_stmt *row, void *walk)
{
	struct run_walk *w = walk;
	struct catalog_run run = { .start_us = sqlite3_column_int64(row, 0),
				   .end_us = sqlite3_column_int64(row, 1),
				   .segments = sqlite3_column_int64(row, 2) };
	return w->fn(&run, w->ctx);
}

int catalog_runs_each(struct catalog *cat, const char *camera, int64_t from_us, int64_t to_us,
		      catalog_run_fn fn, void *ctx)
{
	struct run_walk w = { fn, ctx };
	sqlite3_stmt *s =
		db_stmt(cat->db, "SELECT start_us, end_us, segments FROM run WHERE camera = ?1 "
				 "AND end_us > ?2 AND start_us < ?3 ORDER BY start_us");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, from_us);
	db_bind_int64(s, 3, to_us > 0 ? to_us : INT64_MAX);
	return db_each(cat->db, s, "list runs", run_row, &w);
}

struct day_walk {
	catalog_day_fn fn;
	void *ctx;
};

static int day_row(sqlite3_stmt *row, void *walk)
{
	struct day_walk *w = walk;
	struct catalog_day d = { .day = sqlite3_column_int64(row, 0),
				 .recorded_us = sqlite3_column_int64(row, 1),
				 .bytes = sqlite3_column_int64(row, 2),
				 .segments = sqlite3_column_int64(row, 3) };
	return w->fn(&d, w->ctx);
}

int catalog_days_each(struct catalog *cat, const char *camera, int64_t from_day, int64_t to_day,
		      catalog_day_fn fn, void *ctx)
{
	struct day_walk w = { fn, ctx };
	sqlite3_stmt *s =
		db_stmt(cat->db, "SELECT day, recorded_us, bytes, segments FROM day_stat "
				 "WHERE camera = ? AND day >= ? AND day < ? ORDER BY day");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, from_day);
	db_bind_int64(s, 3, to_day);
	return db_each(cat->db, s, "list days", day_row, &w);
}

struct deletion_walk {
	catalog_deletion_fn fn;
	void *ctx;
};

static int deletion_row(sqlite3_stmt *row, void *walk)
{
	struct deletion_walk *w = walk;
	return w->fn((const char *)sqlite3_column_text(row, 0), sqlite3_column_int64(row, 1),
		     sqlite3_column_int64(row, 2), w->ctx);
}

int catalog_deletions_each(struct catalog *cat, const char *camera, int64_t from_day,
			   int64_t to_day, catalog_deletion_fn fn, void *ctx)
{
	struct deletion_walk w = { fn, ctx };
	sqlite3_stmt *s =
		db_stmt(cat->db, "SELECT reason, sum(segments), sum(bytes) FROM deletion_stat "
				 "WHERE (?1 IS NULL OR camera = ?1) AND day >= ?2 AND day < ?3 "
				 "GROUP BY reason ORDER BY reason");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, from_day);
	db_bind_int64(s, 3, to_day);
	return db_each(cat->db, s, "count deletions", deletion_row, &w);
}

int64_t catalog_file_bytes(struct catalog *cat)
{
	struct stat st;
	char wal[4200];
	int64_t total = 0;

	if (stat(db_path(cat->db), &st) == 0)
		total += st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", db_path(cat->db));
	if (stat(wal, &st) == 0)
		total += st.st_size;
	return total;
}
