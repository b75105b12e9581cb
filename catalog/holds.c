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
#include "util/clock.h"
#include "util/log.h"

#define DAY_US (86400 * INT64_C(1000000))

static int step_done(struct catalog *cat, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);
	int ret = rc == SQLITE_DONE ? 0 : catalog_fail(cat, rc, what);
	catalog_reset(stmt);
	return ret;
}

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
	snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static int64_t column_or(sqlite3_stmt *stmt, int col, int64_t none)
{
	return sqlite3_column_type(stmt, col) == SQLITE_NULL ? none
							     : sqlite3_column_int64(stmt, col);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- holds --------------------------------------------------------------- */

static void read_hold(sqlite3_stmt *stmt, struct catalog_hold *h)
{
	memset(h, 0, sizeof(*h));
	h->id = sqlite3_column_int64(stmt, 0);
	copy_text(h->camera, sizeof(h->camera), sqlite3_column_text(stmt, 1));
	h->start_us = sqlite3_column_int64(stmt, 2);
	h->end_us = sqlite3_column_int64(stmt, 3);
	copy_text(h->reason, sizeof(h->reason), sqlite3_column_text(stmt, 4));
	h->placed_us = sqlite3_column_int64(stmt, 5);
	h->released_us = column_or(stmt, 6, -1);
	copy_text(h->release_reason, sizeof(h->release_reason), sqlite3_column_text(stmt, 7));
}

#define HOLD_COLUMNS "id, camera, start_us, end_us, reason, placed_us, released_us, release_reason"

static void hold_detail(const struct catalog_hold *h, char *out, size_t size)
{
	snprintf(out, size,
		 "hold=%" PRId64 " start=%" PRId64 " end=%" PRId64 " reason=%s release_reason=%s",
		 h->id, h->start_us, h->end_us, h->reason, h->release_reason);
}

int catalog_hold_add(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us,
		     const char *reason, int64_t now_us, int64_t *id)
{
	int ret;
	char detail[1024];

	if (end_us <= start_us)
		return -EINVAL;
	pthread_mutex_lock(&cat->lock);
	if ((ret = catalog_begin(cat)) < 0)
		goto out;
	if ((ret = catalog_ensure_camera(cat, camera, now_us)) < 0)
		goto fail;
	sqlite3_stmt *stmt = catalog_cached(cat, "INSERT INTO hold (camera, start_us, end_us, "
						 "reason, placed_us) VALUES (?, ?, ?, ?, ?)");
	if (!stmt) {
		ret = -EIO;
		goto fail;
	}
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, start_us);
	sqlite3_bind_int64(stmt, 3, end_us);
	sqlite3_bind_text(stmt, 4, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, now_us);
	if ((ret = step_done(cat, stmt, "add hold")) < 0)
		goto fail;
	struct catalog_hold h = { .id = sqlite3_last_insert_rowid(cat->db),
				  .start_us = start_us,
				  .end_us = end_us };
	snprintf(h.reason, sizeof(h.reason), "%s", reason);
	hold_detail(&h, detail, sizeof(detail));
	if ((ret = catalog_audit_append(cat, camera, now_us, "hold-placed", -1, detail)) < 0)
		goto fail;
	if ((ret = catalog_commit(cat)) == 0)
		*id = h.id;
	goto out;
fail:
	catalog_rollback(cat);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

static int hold_get_locked(struct catalog *cat, int64_t id, struct catalog_hold *h)
{
	sqlite3_stmt *stmt = catalog_cached(cat, "SELECT " HOLD_COLUMNS " FROM hold WHERE id = ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, id);
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW)
		read_hold(stmt, h);
	else
		ret = rc == SQLITE_DONE ? -ENOENT : catalog_fail(cat, rc, "read hold");
	catalog_reset(stmt);
	return ret;
}

int catalog_hold_get(struct catalog *cat, int64_t id, struct catalog_hold *h)
{
	pthread_mutex_lock(&cat->lock);
	int ret = hold_get_locked(cat, id, h);
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_hold_release(struct catalog *cat, int64_t id, const char *reason, int64_t now_us)
{
	struct catalog_hold h;
	char detail[1024];
	int ret;

	pthread_mutex_lock(&cat->lock);
	if ((ret = catalog_begin(cat)) < 0)
		goto out;
	if ((ret = hold_get_locked(cat, id, &h)) < 0)
		goto fail;
	if (h.released_us >= 0) {
		ret = -EALREADY;
		goto fail;
	}
	sqlite3_stmt *stmt = catalog_cached(
		cat, "UPDATE hold SET released_us = ?, release_reason = ? WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(stmt, 1, now_us);
	sqlite3_bind_text(stmt, 2, reason ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, id);
	if ((ret = step_done(cat, stmt, "release hold")) < 0)
		goto fail;
	snprintf(h.release_reason, sizeof(h.release_reason), "%s", reason ? reason : "");
	hold_detail(&h, detail, sizeof(detail));
	if ((ret = catalog_audit_append(cat, h.camera, now_us, "hold-released", -1, detail)) < 0)
		goto fail;
	ret = catalog_commit(cat);
	goto out;
fail:
	catalog_rollback(cat);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_holds_each(struct catalog *cat, const char *camera, bool include_released,
		       catalog_hold_fn fn, void *ctx)
{
	struct catalog_hold h;
	int ret = 0, rc;

	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(cat, "SELECT " HOLD_COLUMNS " FROM hold "
						 "WHERE (?1 IS NULL OR camera = ?1) "
						 "AND (?2 OR released_us IS NULL) "
						 "ORDER BY camera, start_us, id");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	if (camera)
		sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, include_released);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_hold(stmt, &h);
		if ((ret = fn(&h, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "list holds");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

static int is_held_locked(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us)
{
	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT EXISTS (SELECT 1 FROM hold WHERE camera = ? AND released_us IS NULL "
		     "AND start_us < ? AND end_us > ?)");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, end_us);
	sqlite3_bind_int64(stmt, 3, start_us);
	int rc = sqlite3_step(stmt);
	int ret = rc == SQLITE_ROW ? sqlite3_column_int(stmt, 0) != 0
				   : catalog_fail(cat, rc, "check holds");
	catalog_reset(stmt);
	return ret;
}

int catalog_is_held(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us)
{
	pthread_mutex_lock(&cat->lock);
	int ret = is_held_locked(cat, camera, start_us, end_us);
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

/* ---- the delete protocol ------------------------------------------------- */

static int mark_deleting_locked(struct catalog *cat, int64_t id, const char *reason, int64_t now_us)
{
	struct catalog_segment seg;
	int ret;

	if ((ret = catalog_segment_get_locked(cat, id, &seg)) < 0)
		return ret;
	if (seg.state != SEGMENT_COMPLETE && seg.state != SEGMENT_RECOVERED) {
		ret = -EALREADY;
		return ret;
	}
	if ((ret = is_held_locked(cat, seg.camera, seg.start_us, seg.end_us)) != 0) {
		ret = ret > 0 ? -EPERM : ret;
		return ret;
	}
	sqlite3_stmt *stmt =
		catalog_cached(cat, "UPDATE segment SET state = 'deleting', deleted_us = ?, "
				    "delete_reason = ? WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		return ret;
	}
	sqlite3_bind_int64(stmt, 1, now_us);
	sqlite3_bind_text(stmt, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, id);
	if ((ret = step_done(cat, stmt, "mark segment deleting")) < 0)
		return ret;
	return 0;
}

/* The live segment of camera just before (or after) start_us, inside
 * [lo, hi]; fills seg_start and seg_end, returns 1 found, 0 none, <0 error. */
static int live_neighbour(struct catalog *cat, const char *camera, int64_t start_us, bool before,
			  int64_t lo, int64_t hi, int64_t *seg_start, int64_t *seg_end)
{
	const char *sql =
		before ? "SELECT start_us, end_us FROM segment WHERE camera = ?1 AND start_us < ?2 "
			 "AND start_us >= ?3 AND state IN ('complete', 'recovered') "
			 "ORDER BY start_us DESC LIMIT 1"
		       : "SELECT start_us, end_us FROM segment WHERE camera = ?1 AND start_us > ?2 "
			 "AND start_us <= ?4 AND state IN ('complete', 'recovered') "
			 "ORDER BY start_us LIMIT 1";
	sqlite3_stmt *stmt = catalog_cached(cat, sql);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, start_us);
	sqlite3_bind_int64(stmt, 3, lo);
	sqlite3_bind_int64(stmt, 4, hi);
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW) {
		*seg_start = sqlite3_column_int64(stmt, 0);
		*seg_end = sqlite3_column_int64(stmt, 1);
		ret = 1;
	} else if (rc != SQLITE_DONE) {
		ret = catalog_fail(cat, rc, "find neighbour segment");
	}
	catalog_reset(stmt);
	return ret;
}

static int count_live(struct catalog *cat, const char *camera, int64_t from, int64_t to, int64_t *n)
{
	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT count(*) FROM segment WHERE camera = ? AND start_us >= ? "
		     "AND start_us <= ? AND state IN ('complete', 'recovered')");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, from);
	sqlite3_bind_int64(stmt, 3, to);
	int rc = sqlite3_step(stmt);
	int ret = rc == SQLITE_ROW ? 0 : catalog_fail(cat, rc, "count segments");
	if (ret == 0)
		*n = sqlite3_column_int64(stmt, 0);
	catalog_reset(stmt);
	return ret;
}

/* Takes the (already tombstoned) segment [s, e) out of its run. */
static int run_remove(struct catalog *cat, const char *camera, int64_t s, int64_t e)
{
	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT id, start_us, end_us, segments FROM run WHERE camera = ? "
		     "AND start_us <= ? AND end_us >= ? ORDER BY start_us LIMIT 1");
	int64_t run_id, rs, re, count;
	int ret;

	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, s);
	sqlite3_bind_int64(stmt, 3, e);
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		catalog_reset(stmt);
		return rc == SQLITE_DONE ? 0 : catalog_fail(cat, rc, "find run");
	}
	run_id = sqlite3_column_int64(stmt, 0);
	rs = sqlite3_column_int64(stmt, 1);
	re = sqlite3_column_int64(stmt, 2);
	count = sqlite3_column_int64(stmt, 3);
	catalog_reset(stmt);

	int64_t ps = 0, pe = 0, ns = 0, ne = 0;
	int has_prev = live_neighbour(cat, camera, s, true, rs, re, &ps, &pe);
	int has_next = live_neighbour(cat, camera, s, false, rs, re, &ns, &ne);
	if (has_prev < 0 || has_next < 0)
		return -EIO;

	stmt = catalog_cached(cat, "DELETE FROM run WHERE id = ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, run_id);
	if ((ret = step_done(cat, stmt, "drop run")) < 0)
		return ret;

	int64_t left = 0;
	if (has_prev && (ret = count_live(cat, camera, rs, ps, &left)) < 0)
		return ret;
	int64_t right = count - 1 - left;
	struct {
		bool on;
		int64_t start, end, n;
	} parts[2] = { { has_prev == 1, rs, pe, left }, { has_next == 1, ns, re, right } };
	for (int i = 0; i < 2; i++) {
		if (!parts[i].on || parts[i].n <= 0 || parts[i].end <= parts[i].start)
			continue;
		stmt = catalog_cached(cat, "INSERT INTO run (camera, start_us, end_us, segments) "
					   "VALUES (?, ?, ?, ?)");
		if (!stmt)
			return -EIO;
		sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, parts[i].start);
		sqlite3_bind_int64(stmt, 3, parts[i].end);
		sqlite3_bind_int64(stmt, 4, parts[i].n);
		if ((ret = step_done(cat, stmt, "split run")) < 0)
			return ret;
	}
	return 0;
}

static int mark_deleted_locked(struct catalog *cat, int64_t id, int64_t now_us)
{
	struct catalog_segment seg;
	char detail[CATALOG_PATH_MAX + 256];
	int ret;

	if ((ret = catalog_segment_get_locked(cat, id, &seg)) < 0)
		return ret;
	if (seg.state != SEGMENT_DELETING) {
		ret = -EALREADY;
		return ret;
	}
	sqlite3_stmt *stmt =
		catalog_cached(cat, "UPDATE segment SET state = 'deleted' WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		return ret;
	}
	sqlite3_bind_int64(stmt, 1, id);
	if ((ret = step_done(cat, stmt, "mark segment deleted")) < 0)
		return ret;

	snprintf(detail, sizeof(detail),
		 "path=%s start=%" PRId64 " end=%" PRId64 " bytes=%" PRId64 " sha256=%s reason=%s",
		 seg.path, seg.start_us, seg.end_us, seg.bytes, seg.sha256, seg.delete_reason);
	if ((ret = catalog_audit_append(cat, seg.camera, now_us, "segment-deleted", id, detail)) <
	    0)
		return ret;
	if ((ret = run_remove(cat, seg.camera, seg.start_us, seg.end_us)) < 0)
		return ret;

	stmt = catalog_cached(cat, "UPDATE camera SET live_bytes = live_bytes - ?, "
				   "live_segments = live_segments - 1 WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		return ret;
	}
	sqlite3_bind_int64(stmt, 1, seg.bytes);
	sqlite3_bind_text(stmt, 2, seg.camera, -1, SQLITE_STATIC);
	if ((ret = step_done(cat, stmt, "update camera totals")) < 0)
		return ret;

	stmt = catalog_cached(
		cat, "INSERT INTO deletion_stat (camera, day, reason, segments, bytes) "
		     "VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT (camera, day, reason) DO UPDATE SET "
		     "segments = segments + 1, bytes = bytes + excluded.bytes");
	if (!stmt) {
		ret = -EIO;
		return ret;
	}
	sqlite3_bind_text(stmt, 1, seg.camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, floor_div(now_us, DAY_US));
	sqlite3_bind_text(stmt, 3, seg.delete_reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, seg.bytes);
	if ((ret = step_done(cat, stmt, "count deletion")) < 0)
		return ret;
	return 0;
}

/* Row-level refusals that do not spoil the rest of a batch. */
static bool refusal(int ret)
{
	return ret == -EALREADY || ret == -EPERM || ret == -ENOENT;
}

typedef int (*row_fn)(struct catalog *cat, int64_t id, const char *reason, int64_t now_us);

static int mark_deleting_row(struct catalog *cat, int64_t id, const char *reason, int64_t now_us)
{
	return mark_deleting_locked(cat, id, reason, now_us);
}

static int mark_deleted_row(struct catalog *cat, int64_t id, const char *reason, int64_t now_us)
{
	(void)reason;
	return mark_deleted_locked(cat, id, now_us);
}

/* One transaction over the rows; results[i] is each row's 0 or refusal. */
static int batch(struct catalog *cat, row_fn fn, const int64_t *ids, int n, const char *reason,
		 int64_t now_us, int *results)
{
	int ret;
	pthread_mutex_lock(&cat->lock);
	if ((ret = catalog_begin(cat)) < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		ret = fn(cat, ids[i], reason, now_us);
		if (ret < 0 && !refusal(ret)) {
			catalog_rollback(cat);
			goto out;
		}
		results[i] = ret;
	}
	ret = catalog_commit(cat);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_segments_mark_deleting(struct catalog *cat, const int64_t *ids, int n,
				   const char *reason, int64_t now_us, int *results)
{
	return batch(cat, mark_deleting_row, ids, n, reason, now_us, results);
}

int catalog_segments_mark_deleted(struct catalog *cat, const int64_t *ids, int n, int64_t now_us,
				  int *results)
{
	return batch(cat, mark_deleted_row, ids, n, NULL, now_us, results);
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
	sqlite3_stmt *stmt = catalog_cached(
		cat, "UPDATE camera SET live_bytes = live_bytes + ?1, "
		     "live_segments = live_segments + 1, "
		     "first_footage_us = min(coalesce(first_footage_us, ?2), ?2) WHERE id = ?3");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, seg->bytes);
	sqlite3_bind_int64(stmt, 2, seg->start_us);
	sqlite3_bind_text(stmt, 3, seg->camera, -1, SQLITE_STATIC);
	if ((ret = step_done(cat, stmt, "update camera totals")) < 0)
		return ret;

	/* recorded time goes to the days it covers; bytes to its first day */
	int64_t first_day = floor_div(seg->start_us, DAY_US);
	for (int64_t t = seg->start_us, day = first_day; t < seg->end_us; day++) {
		int64_t day_end = (day + 1) * DAY_US;
		int64_t part = (seg->end_us < day_end ? seg->end_us : day_end) - t;
		stmt = catalog_cached(
			cat,
			"INSERT INTO day_stat (camera, day, recorded_us, bytes, segments) "
			"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (camera, day) DO UPDATE SET "
			"recorded_us = recorded_us + excluded.recorded_us, "
			"bytes = bytes + excluded.bytes, segments = segments + excluded.segments");
		if (!stmt)
			return -EIO;
		sqlite3_bind_text(stmt, 1, seg->camera, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, day);
		sqlite3_bind_int64(stmt, 3, part);
		sqlite3_bind_int64(stmt, 4, day == first_day ? seg->bytes : 0);
		sqlite3_bind_int64(stmt, 5, day == first_day ? 1 : 0);
		if ((ret = step_done(cat, stmt, "update day statistics")) < 0)
			return ret;
		t += part;
	}
	return 0;
}

/* ---- queries ------------------------------------------------------------- */

int catalog_oldest_segments(struct catalog *cat, const char *camera, int64_t after_us,
			    int64_t before_us, int limit, catalog_segment_fn fn, void *ctx)
{
	struct catalog_segment seg;
	int ret = 0, rc;

	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT " SEGMENT_COLUMNS " FROM segment INDEXED BY segment_live "
		     "WHERE camera = ?1 AND state IN ('complete', 'recovered') "
		     "AND start_us > ?4 AND (?2 = 0 OR end_us <= ?2) ORDER BY start_us LIMIT ?3");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, before_us);
	sqlite3_bind_int(stmt, 3, limit);
	sqlite3_bind_int64(stmt, 4, after_us);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		catalog_read_segment(stmt, &seg);
		if ((ret = fn(&seg, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "list oldest segments");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

#define CAMERA_STATS_SQL                                                                           \
	"SELECT c.id, c.created_us, coalesce(c.first_footage_us, -1), "                            \
	"coalesce((SELECT min(start_us) FROM segment INDEXED BY segment_live "                     \
	"  WHERE camera = c.id AND state IN ('complete', 'recovered')), -1), "                     \
	"coalesce((SELECT end_us FROM segment INDEXED BY segment_live WHERE camera = c.id "        \
	"  AND state IN ('complete', 'recovered') ORDER BY start_us DESC LIMIT 1), -1), "          \
	"c.live_bytes, c.live_segments "                                                           \
	"FROM camera c "

static void read_camera_stats(sqlite3_stmt *stmt, struct catalog_camera_stats *st)
{
	memset(st, 0, sizeof(*st));
	copy_text(st->camera, sizeof(st->camera), sqlite3_column_text(stmt, 0));
	st->created_us = sqlite3_column_int64(stmt, 1);
	st->first_footage_us = sqlite3_column_int64(stmt, 2);
	st->oldest_us = sqlite3_column_int64(stmt, 3);
	st->newest_us = sqlite3_column_int64(stmt, 4);
	st->live_bytes = sqlite3_column_int64(stmt, 5);
	st->live_segments = sqlite3_column_int64(stmt, 6);
}

int catalog_cameras_each(struct catalog *cat, catalog_camera_fn fn, void *ctx)
{
	struct catalog_camera_stats st;
	int ret = 0, rc;

	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(cat, CAMERA_STATS_SQL "ORDER BY c.id");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_camera_stats(stmt, &st);
		if ((ret = fn(&st, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "list cameras");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_camera_stats(struct catalog *cat, const char *camera, struct catalog_camera_stats *st)
{
	int ret = 0;
	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(cat, CAMERA_STATS_SQL "WHERE c.id = ?");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		read_camera_stats(stmt, st);
	else
		ret = rc == SQLITE_DONE ? -ENOENT : catalog_fail(cat, rc, "camera statistics");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_runs_each(struct catalog *cat, const char *camera, int64_t from_us, int64_t to_us,
		      catalog_run_fn fn, void *ctx)
{
	struct catalog_run run;
	int ret = 0, rc;

	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt =
		catalog_cached(cat, "SELECT start_us, end_us, segments FROM run WHERE camera = ?1 "
				    "AND end_us > ?2 AND start_us < ?3 ORDER BY start_us");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, from_us);
	sqlite3_bind_int64(stmt, 3, to_us > 0 ? to_us : INT64_MAX);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		run.start_us = sqlite3_column_int64(stmt, 0);
		run.end_us = sqlite3_column_int64(stmt, 1);
		run.segments = sqlite3_column_int64(stmt, 2);
		if ((ret = fn(&run, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "list runs");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_days_each(struct catalog *cat, const char *camera, int64_t from_day, int64_t to_day,
		      catalog_day_fn fn, void *ctx)
{
	struct catalog_day d;
	int ret = 0, rc;

	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT day, recorded_us, bytes, segments FROM day_stat WHERE camera = ? "
		     "AND day >= ? AND day < ? ORDER BY day");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, from_day);
	sqlite3_bind_int64(stmt, 3, to_day);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		d.day = sqlite3_column_int64(stmt, 0);
		d.recorded_us = sqlite3_column_int64(stmt, 1);
		d.bytes = sqlite3_column_int64(stmt, 2);
		d.segments = sqlite3_column_int64(stmt, 3);
		if ((ret = fn(&d, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "list days");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_deletions_each(struct catalog *cat, const char *camera, int64_t from_day,
			   int64_t to_day, catalog_deletion_fn fn, void *ctx)
{
	int ret = 0, rc;

	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt =
		catalog_cached(cat, "SELECT reason, sum(segments), sum(bytes) FROM deletion_stat "
				    "WHERE (?1 IS NULL OR camera = ?1) AND day >= ?2 AND day < ?3 "
				    "GROUP BY reason ORDER BY reason");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	if (camera)
		sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, from_day);
	sqlite3_bind_int64(stmt, 3, to_day);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((ret = fn((const char *)sqlite3_column_text(stmt, 0),
			      sqlite3_column_int64(stmt, 1), sqlite3_column_int64(stmt, 2), ctx)) !=
		    0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "count deletions");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int64_t catalog_file_bytes(struct catalog *cat)
{
	struct stat st;
	char wal[4200];
	int64_t total = 0;

	if (stat(cat->path, &st) == 0)
		total += st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", cat->path);
	if (stat(wal, &st) == 0)
		total += st.st_size;
	return total;
}
