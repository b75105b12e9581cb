/*
 * Catalog: opening, migrations, segments, gaps and runs.  The invariants it
 * keeps are written at the top of catalog.h.
 *
 * A struct catalog is one util/db.h database opened with the catalog's
 * migrations: its lock, cached statements and transactions are db's, and so
 * is the record of a failure, which every function here returns rather than
 * logs (the caller that handles it reads db_errmsg()).
 */
#include "catalog/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/migrations.h"
#include "util/clock.h"
#include "util/banned.h"

static const char *const state_names[] = { "writing", "complete", "recovered", "deleting",
					   "deleted" };
static const char *const reason_names[] = { "camera-unreachable", "stream-stalled", "stream-error",
					    "recorder-down",	  "storage-error",  "storage-full",
					    "recovered-partial" };

const char *catalog_segment_state_name(enum segment_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

static enum segment_state parse_state(const char *s)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (s && strcmp(s, state_names[i]) == 0)
			return (enum segment_state)i;
	return SEGMENT_WRITING;
}

const char *catalog_gap_reason_name(enum gap_reason r)
{
	return (unsigned)r < GAP_REASON_COUNT ? reason_names[r] : "?";
}

int catalog_gap_reason_parse(const char *name, enum gap_reason *r)
{
	for (int i = 0; i < GAP_REASON_COUNT; i++) {
		if (strcmp(name, reason_names[i]) == 0) {
			*r = (enum gap_reason)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *catalog_sqlite_version(void)
{
	return sqlite3_libversion();
}

int catalog_schema_latest(void)
{
	return db_schema_latest(catalog_migrations, catalog_migrations_count);
}

int catalog_schema_version(struct catalog *cat)
{
	return db_schema_version(cat->db);
}

struct catalog *catalog_open(const char *path, enum catalog_open_mode mode, char *err,
			     size_t errlen)
{
	struct catalog *cat = calloc(1, sizeof(*cat));
	if (!cat) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cat->db = db_open(path, mode == CATALOG_READ_ONLY, "catalog", "vigil record",
			  catalog_migrations, catalog_migrations_count, err, errlen);
	if (!cat->db) {
		free(cat);
		return NULL;
	}
	return cat;
}

void catalog_close(struct catalog **catp)
{
	struct catalog *cat = *catp;
	if (!cat)
		return;
	db_close(&cat->db);
	free(cat);
	*catp = NULL;
}

int catalog_bulk_load(struct catalog *cat, bool on)
{
	return db_bulk_load(cat->db, on);
}

int catalog_ensure_camera(struct catalog *cat, const char *camera, int64_t now_us)
{
	sqlite3_stmt *s =
		db_stmt(cat->db, "INSERT OR IGNORE INTO camera (id, created_us) VALUES (?, ?)");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, now_us);
	return db_run(cat->db, s, "add camera");
}

void catalog_read_segment(sqlite3_stmt *row, struct catalog_segment *seg)
{
	memset(seg, 0, sizeof(*seg));
	seg->id = sqlite3_column_int64(row, 0);
	db_column_text(row, 1, seg->camera, sizeof(seg->camera));
	db_column_text(row, 2, seg->path, sizeof(seg->path));
	seg->state = parse_state((const char *)sqlite3_column_text(row, 3));
	seg->start_us = sqlite3_column_int64(row, 4);
	seg->end_us = db_column_or(row, 5, -1);
	seg->duration_us = db_column_or(row, 6, 0);
	seg->bytes = db_column_or(row, 7, 0);
	seg->frames = db_column_or(row, 8, 0);
	seg->keyframes = db_column_or(row, 9, 0);
	db_column_text(row, 10, seg->sha256, sizeof(seg->sha256));
	db_column_text(row, 11, seg->codec, sizeof(seg->codec));
	seg->width = sqlite3_column_int(row, 12);
	seg->height = sqlite3_column_int(row, 13);
	seg->has_audio = sqlite3_column_int(row, 14) != 0;
	seg->deleted_us = db_column_or(row, 15, -1);
	db_column_text(row, 16, seg->delete_reason, sizeof(seg->delete_reason));
}

int catalog_segment_row(sqlite3_stmt *row, void *walk)
{
	struct catalog_segment_walk *w = walk;
	struct catalog_segment seg;
	catalog_read_segment(row, &seg);
	return w->fn(&seg, w->ctx);
}

int catalog_segment_begin(struct catalog *cat, const char *camera, int64_t start_us,
			  const char *codec, int width, int height, bool has_audio, int64_t *id,
			  char *relpath, size_t relpath_size)
{
	sqlite3_stmt *s;
	int ret;

	if ((ret = db_begin(cat->db)) < 0)
		return ret;
	if ((ret = catalog_ensure_camera(cat, camera, clock_wall_us())) < 0)
		goto out;
	/* the path holds the id, so the row is inserted first with a unique
	 * placeholder and given its real path in the same transaction */
	s = db_stmt(cat->db, "INSERT INTO segment (camera, path, state, start_us, codec, "
			     "width, height, has_audio) VALUES (?, hex(randomblob(16)), "
			     "'writing', ?, ?, ?, ?, ?)");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, start_us);
	db_bind_text(s, 3, codec ? codec : "");
	db_bind_int64(s, 4, width);
	db_bind_int64(s, 5, height);
	db_bind_int64(s, 6, has_audio);
	if ((ret = db_run(cat->db, s, "add segment")) < 0)
		goto out;
	*id = db_last_id(cat->db);
	if ((ret = catalog_segment_relpath(camera, start_us, *id, relpath, relpath_size)) < 0)
		goto out;
	s = db_stmt(cat->db, "UPDATE segment SET path = ? WHERE id = ?");
	db_bind_text(s, 1, relpath);
	db_bind_int64(s, 2, *id);
	ret = db_run(cat->db, s, "name segment");
out:
	return db_end(cat->db, ret);
}

static int read_segment_row(sqlite3_stmt *row, void *seg)
{
	catalog_read_segment(row, seg);
	return 0;
}

int catalog_segment_get(struct catalog *cat, int64_t id, struct catalog_segment *seg)
{
	sqlite3_stmt *s = db_stmt(cat->db, "SELECT " SEGMENT_COLUMNS " FROM segment WHERE id = ?");
	db_bind_int64(s, 1, id);
	return db_one(cat->db, s, "read segment", read_segment_row, seg);
}

/* The span [lo, hi] and segment count of the runs that touch a new one. */
struct run_span {
	int64_t lo, hi, count;
};

static int read_run_span(sqlite3_stmt *row, void *span)
{
	struct run_span *r = span;
	if (sqlite3_column_int64(row, 3) > 0) {
		int64_t rs = sqlite3_column_int64(row, 0), re = sqlite3_column_int64(row, 1);
		r->lo = rs < r->lo ? rs : r->lo;
		r->hi = re > r->hi ? re : r->hi;
		r->count += sqlite3_column_int64(row, 2);
	}
	return 0;
}

/*
 * Merges [start, end) into the camera's runs: every run that touches it
 * (within the tolerance) is absorbed into one.
 */
static int run_add(struct catalog *cat, const char *camera, int64_t start, int64_t end)
{
	struct run_span span = { start, end, 1 };
	int ret;
	sqlite3_stmt *s = db_stmt(
		cat->db, "SELECT min(start_us), max(end_us), sum(segments), count(*) FROM run "
			 "WHERE camera = ?1 AND end_us >= ?2 AND start_us <= ?3");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, start - CATALOG_RUN_TOLERANCE_US);
	db_bind_int64(s, 3, end + CATALOG_RUN_TOLERANCE_US);
	if ((ret = db_one(cat->db, s, "find runs", read_run_span, &span)) < 0)
		return ret;

	s = db_stmt(cat->db, "DELETE FROM run WHERE camera = ?1 AND end_us >= ?2 AND "
			     "start_us <= ?3");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, start - CATALOG_RUN_TOLERANCE_US);
	db_bind_int64(s, 3, end + CATALOG_RUN_TOLERANCE_US);
	if ((ret = db_run(cat->db, s, "merge runs")) < 0)
		return ret;
	s = db_stmt(cat->db, "INSERT INTO run (camera, start_us, end_us, segments) "
			     "VALUES (?, ?, ?, ?)");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, span.lo);
	db_bind_int64(s, 3, span.hi);
	db_bind_int64(s, 4, span.count);
	return db_run(cat->db, s, "add run");
}

int catalog_segment_finish(struct catalog *cat, int64_t id, const struct segment_result *r,
			   enum segment_state state)
{
	struct catalog_segment seg;
	char detail[512];
	int ret;

	if (state != SEGMENT_COMPLETE && state != SEGMENT_RECOVERED)
		return -EINVAL;
	if ((ret = db_begin(cat->db)) < 0)
		return ret;
	if ((ret = catalog_segment_get(cat, id, &seg)) < 0)
		goto out;
	if (seg.state != SEGMENT_WRITING) {
		ret = db_error(-EINVAL, "catalog: segment %" PRId64 " is %s, not writing", id,
			       catalog_segment_state_name(seg.state));
		goto out;
	}
	sqlite3_stmt *s =
		db_stmt(cat->db, "UPDATE segment SET state = ?, end_us = ?, duration_us = ?, "
				 "bytes = ?, frames = ?, keyframes = ?, sha256 = ? WHERE id = ?");
	db_bind_text(s, 1, state_names[state]);
	db_bind_int64(s, 2, r->end_us);
	db_bind_int64(s, 3, r->duration_us);
	db_bind_int64(s, 4, r->bytes);
	db_bind_int64(s, 5, r->frames);
	db_bind_int64(s, 6, r->keyframes);
	db_bind_text(s, 7, r->sha256);
	db_bind_int64(s, 8, id);
	if ((ret = db_run(cat->db, s, "finish segment")) < 0)
		goto out;

	seg.state = state;
	seg.end_us = r->end_us;
	seg.duration_us = r->duration_us;
	seg.bytes = r->bytes;
	seg.frames = r->frames;
	seg.keyframes = r->keyframes;
	snprintf(seg.sha256, sizeof(seg.sha256), "%s", r->sha256);
	catalog_audit_segment_detail(&seg, detail, sizeof(detail));
	if ((ret = catalog_audit_append(cat, seg.camera, clock_wall_us(), "segment-added", id,
					detail)) < 0)
		goto out;
	if (r->end_us > seg.start_us &&
	    (ret = run_add(cat, seg.camera, seg.start_us, r->end_us)) < 0)
		goto out;
	ret = catalog_stats_add_segment(cat, &seg);
out:
	return db_end(cat->db, ret);
}

int catalog_record_recovery(struct catalog *cat, const char *camera, int64_t segment_id,
			    const char *detail)
{
	int ret = db_begin(cat->db);
	if (ret < 0)
		return ret;
	ret = catalog_audit_append(cat, camera, clock_wall_us(), "recovery", segment_id, detail);
	return db_end(cat->db, ret);
}

int catalog_segment_abandon(struct catalog *cat, int64_t id)
{
	sqlite3_stmt *s =
		db_stmt(cat->db, "DELETE FROM segment WHERE id = ? AND state = 'writing'");
	db_bind_int64(s, 1, id);
	return db_run(cat->db, s, "abandon segment");
}

int catalog_segments_each(struct catalog *cat, const struct catalog_filter *f,
			  catalog_segment_fn fn, void *ctx)
{
	/* A writing segment has no end yet: it counts as reaching "now".  One
	 * statement for one camera and one for all: SQLite plans a statement
	 * once, and "?1 IS NULL OR camera = ?1" made it walk the whole index
	 * even for one camera. */
#define SEGMENTS_WHERE                                                                             \
	"AND coalesce(end_us, 9223372036854775807) > ?2 AND start_us < ?3 "                        \
	"AND (?4 OR state NOT IN ('deleting', 'deleted')) "                                        \
	"ORDER BY camera, start_us, id"
	static const char one[] = "SELECT " SEGMENT_COLUMNS " FROM segment "
				  "WHERE camera = ?1 " SEGMENTS_WHERE;
	static const char all[] = "SELECT " SEGMENT_COLUMNS " FROM segment "
				  "WHERE ?1 IS NULL " SEGMENTS_WHERE;
#undef SEGMENTS_WHERE
	struct catalog_filter none = { 0 };
	struct catalog_segment_walk w = { fn, ctx };

	if (!f)
		f = &none;
	sqlite3_stmt *s = db_stmt(cat->db, f->camera ? one : all);
	db_bind_text(s, 1, f->camera);
	db_bind_int64(s, 2, f->from_us);
	db_bind_int64(s, 3, f->to_us > 0 ? f->to_us : INT64_MAX);
	db_bind_int64(s, 4, f->include_deleted);
	return db_each(cat->db, s, "list segments", catalog_segment_row, &w);
}

int catalog_segments_unfinished(struct catalog *cat, catalog_segment_fn fn, void *ctx)
{
	struct catalog_segment_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(cat->db, "SELECT " SEGMENT_COLUMNS " FROM segment "
					   "WHERE state IN ('writing', 'deleting') ORDER BY id");
	return db_each(cat->db, s, "list segments", catalog_segment_row, &w);
}

static void gap_detail(const struct catalog_gap *g, char *out, size_t size)
{
	snprintf(out, size, "start=%" PRId64 " end=%" PRId64 " reason=%s detail=%s", g->start_us,
		 g->end_us, catalog_gap_reason_name(g->reason), g->detail);
}

#define GAP_COLUMNS "id, camera, start_us, end_us, reason, detail"

static int read_gap(sqlite3_stmt *row, void *gap)
{
	struct catalog_gap *g = gap;
	memset(g, 0, sizeof(*g));
	g->id = sqlite3_column_int64(row, 0);
	db_column_text(row, 1, g->camera, sizeof(g->camera));
	g->start_us = sqlite3_column_int64(row, 2);
	g->end_us = db_column_or(row, 3, -1);
	catalog_gap_reason_parse((const char *)sqlite3_column_text(row, 4), &g->reason);
	db_column_text(row, 5, g->detail, sizeof(g->detail));
	return 0;
}

/* Inserts a gap (end_us -1: still open) and chains it when it is closed;
 * inside a transaction. */
static int gap_insert(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us,
		      enum gap_reason reason, const char *detail, int64_t *gap_id)
{
	int ret;
	if ((ret = catalog_ensure_camera(cat, camera, clock_wall_us())) < 0)
		return ret;
	sqlite3_stmt *s = db_stmt(cat->db, "INSERT INTO gap (camera, start_us, end_us, "
					   "reason, detail) VALUES (?, ?, ?, ?, ?)");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, start_us);
	db_bind_opt_int64(s, 3, end_us);
	db_bind_text(s, 4, reason_names[reason]);
	db_bind_text(s, 5, detail ? detail : "");
	if ((ret = db_run(cat->db, s, "add gap")) < 0)
		return ret;
	if (gap_id)
		*gap_id = db_last_id(cat->db);
	if (end_us >= 0) {
		struct catalog_gap g = { .start_us = start_us, .end_us = end_us, .reason = reason };
		char text[512];
		snprintf(g.detail, sizeof(g.detail), "%s", detail ? detail : "");
		gap_detail(&g, text, sizeof(text));
		ret = catalog_audit_append(cat, camera, clock_wall_us(), "gap", -1, text);
	}
	return ret;
}

int catalog_gap_open(struct catalog *cat, const char *camera, int64_t start_us,
		     enum gap_reason reason, const char *detail, int64_t *gap_id)
{
	int ret = db_begin(cat->db);
	if (ret < 0)
		return ret;
	ret = gap_insert(cat, camera, start_us, -1, reason, detail, gap_id);
	return db_end(cat->db, ret);
}

int catalog_gap_add(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us,
		    enum gap_reason reason, const char *detail)
{
	if (end_us < start_us)
		return -EINVAL;
	int ret = db_begin(cat->db);
	if (ret < 0)
		return ret;
	ret = gap_insert(cat, camera, start_us, end_us, reason, detail, NULL);
	return db_end(cat->db, ret);
}

/* Closes one open gap and chains it; inside a transaction. */
static int gap_close(struct catalog *cat, int64_t gap_id, int64_t end_us, const char *note)
{
	struct catalog_gap g;
	char text[512];
	int ret;

	sqlite3_stmt *s = db_stmt(cat->db, "SELECT " GAP_COLUMNS " FROM gap WHERE id = ?");
	db_bind_int64(s, 1, gap_id);
	if ((ret = db_one(cat->db, s, "read gap", read_gap, &g)) < 0)
		return ret;
	if (g.end_us >= 0)
		return 0; /* already closed */
	if (end_us < g.start_us)
		end_us = g.start_us;
	if (note && *note) {
		size_t len = strlen(g.detail);
		snprintf(g.detail + len, sizeof(g.detail) - len, "%s%s", len ? "; " : "", note);
	}
	s = db_stmt(cat->db, "UPDATE gap SET end_us = ?, detail = ? WHERE id = ?");
	db_bind_int64(s, 1, end_us);
	db_bind_text(s, 2, g.detail);
	db_bind_int64(s, 3, gap_id);
	if ((ret = db_run(cat->db, s, "close gap")) < 0)
		return ret;
	g.end_us = end_us;
	gap_detail(&g, text, sizeof(text));
	return catalog_audit_append(cat, g.camera, clock_wall_us(), "gap", -1, text);
}

int catalog_gap_close(struct catalog *cat, int64_t gap_id, int64_t end_us)
{
	int ret = db_begin(cat->db);
	if (ret < 0)
		return ret;
	ret = gap_close(cat, gap_id, end_us, NULL);
	return db_end(cat->db, ret);
}

#define CLOSE_BATCH 256

struct id_list {
	int64_t ids[CLOSE_BATCH];
	int n;
};

static int collect_id(sqlite3_stmt *row, void *list)
{
	struct id_list *l = list;
	l->ids[l->n++] = sqlite3_column_int64(row, 0);
	return 0;
}

int catalog_gaps_close_all(struct catalog *cat, int64_t end_us, const char *note)
{
	struct id_list open;
	int ret, total = 0;

	do {
		open.n = 0;
		if ((ret = db_begin(cat->db)) < 0)
			break;
		sqlite3_stmt *s =
			db_stmt(cat->db, "SELECT id FROM gap WHERE end_us IS NULL LIMIT 256");
		ret = db_each(cat->db, s, "list open gaps", collect_id, &open);
		for (int i = 0; i < open.n && ret == 0; i++)
			ret = gap_close(cat, open.ids[i], end_us, note);
		ret = db_end(cat->db, ret);
		total += open.n;
	} while (ret == 0 && open.n == CLOSE_BATCH);
	return ret < 0 ? ret : total;
}

struct gap_walk {
	catalog_gap_fn fn;
	void *ctx;
};

static int gap_row(sqlite3_stmt *row, void *walk)
{
	struct gap_walk *w = walk;
	struct catalog_gap g;
	read_gap(row, &g);
	return w->fn(&g, w->ctx);
}

int catalog_gaps_each(struct catalog *cat, const struct catalog_filter *f, catalog_gap_fn fn,
		      void *ctx)
{
	/* one statement per shape, as for segments */
#define GAPS_WHERE                                                                                 \
	"AND coalesce(end_us, 9223372036854775807) > ?2 AND start_us < ?3 "                        \
	"ORDER BY camera, start_us, id"
	static const char one[] = "SELECT " GAP_COLUMNS " FROM gap WHERE camera = ?1 " GAPS_WHERE;
	static const char all[] = "SELECT " GAP_COLUMNS " FROM gap WHERE ?1 IS NULL " GAPS_WHERE;
#undef GAPS_WHERE
	struct catalog_filter none = { 0 };
	struct gap_walk w = { fn, ctx };

	if (!f)
		f = &none;
	sqlite3_stmt *s = db_stmt(cat->db, f->camera ? one : all);
	db_bind_text(s, 1, f->camera);
	db_bind_int64(s, 2, f->from_us);
	db_bind_int64(s, 3, f->to_us > 0 ? f->to_us : INT64_MAX);
	return db_each(cat->db, s, "list gaps", gap_row, &w);
}

int catalog_camera_last_covered(struct catalog *cat, const char *camera, int64_t *us)
{
	sqlite3_stmt *s = db_stmt(
		cat->db, "SELECT max(coalesce((SELECT max(end_us) FROM segment WHERE camera = ?1 "
			 "AND state IN ('complete', 'recovered')), -1), "
			 "coalesce((SELECT max(end_us) FROM gap WHERE camera = ?1), -1))");
	db_bind_text(s, 1, camera);
	return db_int64(cat->db, s, "last covered time", us);
}

int catalog_meta_set(struct catalog *cat, const char *key, const char *value)
{
	sqlite3_stmt *s =
		db_stmt(cat->db, "INSERT INTO meta (key, value) VALUES (?, ?) "
				 "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
	db_bind_text(s, 1, key);
	db_bind_text(s, 2, value);
	return db_run(cat->db, s, "set meta");
}

/* Copies column 0 into the buffer of a struct text_out. */
struct text_out {
	char *buf;
	size_t size;
};

static int read_text(sqlite3_stmt *row, void *out)
{
	struct text_out *t = out;
	db_column_text(row, 0, t->buf, t->size);
	return 0;
}

int catalog_meta_get(struct catalog *cat, const char *key, char *value, size_t size)
{
	struct text_out out = { value, size };
	sqlite3_stmt *s = db_stmt(cat->db, "SELECT value FROM meta WHERE key = ?");
	db_bind_text(s, 1, key);
	return db_one(cat->db, s, "get meta", read_text, &out);
}

int catalog_integrity_check(struct catalog *cat, char *msg, size_t size)
{
	struct text_out out = { msg, size };
	int ret = db_one(cat->db, db_stmt(cat->db, "PRAGMA integrity_check"), "check integrity",
			 read_text, &out);
	if (ret < 0)
		return ret == -ENOENT ? -EIO : ret;
	return strcmp(msg, "ok") == 0 ? 0 : -EIO;
}
