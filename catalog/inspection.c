/*
 * Catalog queries behind picture inspection (section 8 of catalog.h): the
 * log of checks, each camera's latest check with the plane the next check
 * compares against, and each camera's reference picture.  The blobs are
 * opaque here.  A check row keeps its thumbnail only where the state
 * changed, so 90 days of checks every five minutes stay small; the latest
 * row always has one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/internal.h"
#include "util/banned.h"

void catalog_inspection_release(struct catalog_inspection *r)
{
	free(r->plane);
	free(r->thumbnail);
	r->plane = r->thumbnail = NULL;
	r->plane_len = r->thumbnail_len = 0;
}

static void bind_blob(sqlite3_stmt *s, int col, const uint8_t *b, size_t len)
{
	if (!s)
		return;
	if (b && len > 0 && len <= CATALOG_INSPECT_BLOB_MAX)
		sqlite3_bind_blob(s, col, b, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, col);
}

static void bind_opt_double(sqlite3_stmt *s, int col, double v, bool known)
{
	if (!s)
		return;
	if (known)
		sqlite3_bind_double(s, col, v);
	else
		sqlite3_bind_null(s, col);
}

/* A copy of a blob column, or NULL. */
static int column_blob(sqlite3_stmt *row, int col, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	int n = sqlite3_column_bytes(row, col);
	const void *b = sqlite3_column_blob(row, col);
	if (!b || n <= 0)
		return 0;
	if (!(*out = malloc((size_t)n)))
		return -ENOMEM;
	memcpy(*out, b, (size_t)n);
	*len = (size_t)n;
	return 0;
}

static double column_double_or(sqlite3_stmt *row, int col, double none)
{
	return sqlite3_column_type(row, col) == SQLITE_NULL ? none
							    : sqlite3_column_double(row, col);
}

int catalog_inspection_add(struct catalog *cat, const struct catalog_inspection *r,
			   bool keep_thumbnail)
{
	int ret;
	if ((ret = db_begin(cat->db)) < 0)
		return ret;
	sqlite3_stmt *s = db_stmt(
		cat->db, "INSERT INTO inspection (camera, checked_us, frame_us, state, reason, "
			 "mean, spread, detail_ratio, match, changed_blocks, clock_offset_us, "
			 "thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	db_bind_text(s, 1, r->camera);
	db_bind_int64(s, 2, r->checked_us);
	db_bind_opt_int64(s, 3, r->frame_us);
	db_bind_text(s, 4, r->state);
	db_bind_text(s, 5, r->reason);
	bind_opt_double(s, 6, r->mean, r->frame_us >= 0);
	bind_opt_double(s, 7, r->spread, r->frame_us >= 0);
	bind_opt_double(s, 8, r->detail_ratio, r->detail_ratio >= 0);
	bind_opt_double(s, 9, r->match, r->match >= -1 && r->detail_ratio >= 0);
	db_bind_opt_int64(s, 10, r->changed_blocks);
	if (s && r->clock_known)
		sqlite3_bind_int64(s, 11, r->clock_offset_us);
	else if (s)
		sqlite3_bind_null(s, 11);
	bind_blob(s, 12, keep_thumbnail ? r->thumbnail : NULL, r->thumbnail_len);
	if ((ret = db_run(cat->db, s, "add inspection")) < 0)
		goto out;
	s = db_stmt(cat->db, "INSERT OR REPLACE INTO inspection_latest (camera, checked_us, "
			     "frame_us, frame_key, state, reason, healthy_since_us, plane, "
			     "thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	db_bind_text(s, 1, r->camera);
	db_bind_int64(s, 2, r->checked_us);
	db_bind_opt_int64(s, 3, r->frame_us);
	db_bind_text(s, 4, r->frame_key);
	db_bind_text(s, 5, r->state);
	db_bind_text(s, 6, r->reason);
	db_bind_opt_int64(s, 7, r->healthy_since_us);
	bind_blob(s, 8, r->plane, r->plane_len);
	bind_blob(s, 9, r->thumbnail, r->thumbnail_len);
	ret = db_run(cat->db, s, "set latest inspection");
out:
	return db_end(cat->db, ret);
}

static int read_latest(sqlite3_stmt *row, void *out)
{
	struct catalog_inspection *r = out;
	r->checked_us = sqlite3_column_int64(row, 0);
	r->frame_us = db_column_or(row, 1, -1);
	db_column_text(row, 2, r->frame_key, sizeof(r->frame_key));
	db_column_text(row, 3, r->state, sizeof(r->state));
	db_column_text(row, 4, r->reason, sizeof(r->reason));
	r->healthy_since_us = db_column_or(row, 5, -1);
	int ret = column_blob(row, 6, &r->plane, &r->plane_len);
	if (ret == 0)
		ret = column_blob(row, 7, &r->thumbnail, &r->thumbnail_len);
	return ret;
}

int catalog_inspection_latest(struct catalog *cat, const char *camera, struct catalog_inspection *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->camera, sizeof(r->camera), "%s", camera);
	r->detail_ratio = r->match = -1;
	r->changed_blocks = -1;
	sqlite3_stmt *s =
		db_stmt(cat->db, "SELECT checked_us, frame_us, frame_key, state, reason, "
				 "healthy_since_us, plane, thumbnail FROM inspection_latest "
				 "WHERE camera = ?");
	db_bind_text(s, 1, camera);
	int ret = db_one(cat->db, s, "get latest inspection", read_latest, r);
	if (ret < 0)
		catalog_inspection_release(r);
	return ret;
}

struct inspection_walk {
	catalog_inspection_fn fn;
	void *ctx;
};

/* The columns of INSPECTION_COLUMNS into *r (no blobs). */
#define INSPECTION_COLUMNS                                                                         \
	"camera, checked_us, frame_us, state, reason, mean, spread, detail_ratio, match, "         \
	"changed_blocks, clock_offset_us"

static void read_check(sqlite3_stmt *row, struct catalog_inspection *r)
{
	memset(r, 0, sizeof(*r));
	r->healthy_since_us = -1;
	db_column_text(row, 0, r->camera, sizeof(r->camera));
	r->checked_us = sqlite3_column_int64(row, 1);
	r->frame_us = db_column_or(row, 2, -1);
	db_column_text(row, 3, r->state, sizeof(r->state));
	db_column_text(row, 4, r->reason, sizeof(r->reason));
	r->mean = column_double_or(row, 5, -1);
	r->spread = column_double_or(row, 6, -1);
	r->detail_ratio = column_double_or(row, 7, -1);
	r->match = column_double_or(row, 8, -1);
	r->changed_blocks = (int)db_column_or(row, 9, -1);
	r->clock_known = sqlite3_column_type(row, 10) != SQLITE_NULL;
	r->clock_offset_us = r->clock_known ? sqlite3_column_int64(row, 10) : 0;
}

static int inspection_row(sqlite3_stmt *row, void *ctx)
{
	struct inspection_walk *w = ctx;
	struct catalog_inspection r;
	read_check(row, &r);
	return w->fn(&r, w->ctx);
}

int catalog_inspections_each(struct catalog *cat, const char *camera, int64_t from_us,
			     int64_t to_us, catalog_inspection_fn fn, void *ctx)
{
	struct inspection_walk w = { fn, ctx };
	sqlite3_stmt *s =
		db_stmt(cat->db, "SELECT " INSPECTION_COLUMNS " FROM inspection "
				 "WHERE (?1 IS NULL OR camera = ?1) AND checked_us >= ?2 "
				 "AND (?3 = 0 OR checked_us < ?3) ORDER BY camera, checked_us");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, from_us);
	db_bind_int64(s, 3, to_us);
	return db_each(cat->db, s, "list inspections", inspection_row, &w);
}

static int read_counts(sqlite3_stmt *row, void *ctx)
{
	struct catalog_inspection_summary *o = ctx;
	o->checks = sqlite3_column_int64(row, 0);
	o->failed = db_column_or(row, 1, 0);
	return 0;
}

static int read_latest_check(sqlite3_stmt *row, void *ctx)
{
	read_check(row, ctx);
	return 0;
}

static int read_thumbnail(sqlite3_stmt *row, void *ctx)
{
	struct catalog_inspection_summary *o = ctx;
	o->thumbnail_us = sqlite3_column_int64(row, 0);
	return column_blob(row, 1, &o->thumbnail, &o->thumbnail_len);
}

void catalog_inspection_summary_release(struct catalog_inspection_summary *s)
{
	free(s->thumbnail);
	s->thumbnail = NULL;
	s->thumbnail_len = 0;
}

/*
 * Three reads: the counts, the latest row, and the newest thumbnail, which
 * is the latest check's own (inspection_latest) when that check falls in
 * the span, else the newest a row of the span kept (rows keep theirs only
 * where the state changed).
 */
int catalog_inspection_summary(struct catalog *cat, const char *camera, int64_t from_us,
			       int64_t to_us, bool want_thumbnail,
			       struct catalog_inspection_summary *out)
{
	memset(out, 0, sizeof(*out));
	out->latest.checked_us = -1;
	out->thumbnail_us = -1;
	int ret = db_begin_read(cat->db);
	if (ret < 0)
		return ret;
	sqlite3_stmt *s =
		db_stmt(cat->db, "SELECT count(*), sum(state != 'ok') FROM inspection "
				 "WHERE camera = ?1 AND checked_us >= ?2 AND checked_us < ?3");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, from_us);
	db_bind_int64(s, 3, to_us);
	if ((ret = db_one(cat->db, s, "count inspections", read_counts, out)) < 0)
		goto out;
	if (out->checks == 0)
		goto out;
	s = db_stmt(cat->db, "SELECT " INSPECTION_COLUMNS " FROM inspection WHERE camera = ?1 "
			     "AND checked_us >= ?2 AND checked_us < ?3 "
			     "ORDER BY checked_us DESC, id DESC LIMIT 1");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, from_us);
	db_bind_int64(s, 3, to_us);
	if ((ret = db_one(cat->db, s, "get the span's latest inspection", read_latest_check,
			  &out->latest)) < 0)
		goto out;
	if (!want_thumbnail)
		goto out;
	s = db_stmt(cat->db, "SELECT checked_us, thumbnail FROM inspection_latest "
			     "WHERE camera = ?1 AND checked_us >= ?2 AND checked_us < ?3 "
			     "AND thumbnail IS NOT NULL "
			     "UNION ALL SELECT checked_us, thumbnail FROM inspection "
			     "WHERE camera = ?1 AND checked_us >= ?2 AND checked_us < ?3 "
			     "AND thumbnail IS NOT NULL ORDER BY 1 DESC LIMIT 1");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, from_us);
	db_bind_int64(s, 3, to_us);
	ret = db_one(cat->db, s, "get the span's newest thumbnail", read_thumbnail, out);
	if (ret == -ENOENT)
		ret = 0;
out:
	ret = db_end(cat->db, ret);
	if (ret < 0)
		catalog_inspection_summary_release(out);
	return ret;
}

int catalog_inspections_prune(struct catalog *cat, const char *camera, int64_t before_us)
{
	int ret;
	if ((ret = db_begin(cat->db)) < 0)
		return ret;
	sqlite3_stmt *s =
		db_stmt(cat->db, "DELETE FROM inspection WHERE camera = ? AND checked_us < ?");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, before_us);
	ret = db_run(cat->db, s, "prune inspections");
	int n = ret == 0 ? sqlite3_changes(sqlite3_db_handle(s)) : 0;
	ret = db_end(cat->db, ret);
	return ret < 0 ? ret : n;
}

int catalog_inspection_reference_set(struct catalog *cat, const char *camera, int64_t taken_us,
				     const char *by, const uint8_t *plane, size_t plane_len,
				     const uint8_t *thumbnail, size_t thumbnail_len)
{
	if (!plane || plane_len == 0)
		return -EINVAL;
	sqlite3_stmt *s = db_stmt(cat->db, "INSERT OR REPLACE INTO inspection_reference (camera, "
					   "taken_us, taken_by, plane, thumbnail) VALUES "
					   "(?, ?, ?, ?, ?)");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, taken_us);
	db_bind_text(s, 3, by);
	bind_blob(s, 4, plane, plane_len);
	bind_blob(s, 5, thumbnail, thumbnail_len);
	return db_write(cat->db, s, "set inspection reference");
}

struct ref_out {
	uint8_t **plane;
	size_t *len;
	int64_t *taken_us;
};

static int read_ref(sqlite3_stmt *row, void *ctx)
{
	struct ref_out *o = ctx;
	*o->taken_us = sqlite3_column_int64(row, 0);
	return column_blob(row, 1, o->plane, o->len);
}

int catalog_inspection_reference_get(struct catalog *cat, const char *camera, uint8_t **plane,
				     size_t *plane_len, int64_t *taken_us)
{
	struct ref_out o = { plane, plane_len, taken_us };
	*plane = NULL;
	*plane_len = 0;
	sqlite3_stmt *s = db_stmt(
		cat->db, "SELECT taken_us, plane FROM inspection_reference WHERE camera = ?");
	db_bind_text(s, 1, camera);
	return db_one(cat->db, s, "get inspection reference", read_ref, &o);
}
