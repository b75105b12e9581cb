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
			 "mean, spread, detail_ratio, match, changed_blocks, thumbnail) VALUES "
			 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
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
	bind_blob(s, 11, keep_thumbnail ? r->thumbnail : NULL, r->thumbnail_len);
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

static int inspection_row(sqlite3_stmt *row, void *ctx)
{
	struct inspection_walk *w = ctx;
	struct catalog_inspection r = { .healthy_since_us = -1 };
	db_column_text(row, 0, r.camera, sizeof(r.camera));
	r.checked_us = sqlite3_column_int64(row, 1);
	r.frame_us = db_column_or(row, 2, -1);
	db_column_text(row, 3, r.state, sizeof(r.state));
	db_column_text(row, 4, r.reason, sizeof(r.reason));
	r.mean = column_double_or(row, 5, -1);
	r.spread = column_double_or(row, 6, -1);
	r.detail_ratio = column_double_or(row, 7, -1);
	r.match = column_double_or(row, 8, -1);
	r.changed_blocks = (int)db_column_or(row, 9, -1);
	return w->fn(&r, w->ctx);
}

int catalog_inspections_each(struct catalog *cat, const char *camera, int64_t from_us,
			     int64_t to_us, catalog_inspection_fn fn, void *ctx)
{
	struct inspection_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(
		cat->db, "SELECT camera, checked_us, frame_us, state, reason, mean, spread, "
			 "detail_ratio, match, changed_blocks FROM inspection "
			 "WHERE (?1 IS NULL OR camera = ?1) AND checked_us >= ?2 "
			 "AND (?3 = 0 OR checked_us < ?3) ORDER BY camera, checked_us");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, from_us);
	db_bind_int64(s, 3, to_us);
	return db_each(cat->db, s, "list inspections", inspection_row, &w);
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
