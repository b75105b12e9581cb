/*
 * Catalog: opening, migrations, segments, gaps and runs.  The invariants it
 * keeps are written at the top of catalog.h.
 *
 * One SQLite connection per struct catalog, in WAL mode with
 * synchronous=FULL, guarded by a mutex (the connection is opened
 * SQLITE_OPEN_NOMUTEX: our lock also spans multi-statement transactions).
 * Statements are prepared per call: the catalog is written a few times per
 * segment, never per packet, so caching them would buy nothing.
 */
#include "catalog/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/migrations.h"
#include "util/clock.h"
#include "util/log.h"

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

int catalog_fail(struct catalog *cat, int rc, const char *what)
{
	int primary = rc & 0xff;
	log_warnx("%s '%s': %s: %s", cat->kind, cat->path, what,
		  cat->db ? sqlite3_errmsg(cat->db) : sqlite3_errstr(rc));
	switch (primary) {
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_CONSTRAINT: return -EEXIST;
	case SQLITE_CANTOPEN: return -ENOENT;
	default: return -EIO;
	}
}

int catalog_exec(struct catalog *cat, const char *sql)
{
	int rc = sqlite3_exec(cat->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : catalog_fail(cat, rc, sql);
}

int catalog_begin(struct catalog *cat)
{
	if (cat->bulk) {
		if (++cat->bulk_ops % 20000 == 0) {
			int ret = catalog_exec(cat, "COMMIT");
			if (ret == 0)
				ret = catalog_exec(cat, "BEGIN");
			if (ret < 0)
				return ret;
		}
		return catalog_exec(cat, "SAVEPOINT op");
	}
	return catalog_exec(cat, "BEGIN IMMEDIATE");
}

int catalog_commit(struct catalog *cat)
{
	if (cat->bulk)
		return catalog_exec(cat, "RELEASE op");
	int rc = sqlite3_exec(cat->db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return 0;
	int ret = catalog_fail(cat, rc, "commit");
	catalog_rollback(cat);
	return ret;
}

void catalog_rollback(struct catalog *cat)
{
	if (cat->bulk) {
		sqlite3_exec(cat->db, "ROLLBACK TO op", NULL, NULL, NULL);
		sqlite3_exec(cat->db, "RELEASE op", NULL, NULL, NULL);
		return;
	}
	if (!sqlite3_get_autocommit(cat->db))
		sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *catalog_prepare(struct catalog *cat, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(cat->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		catalog_fail(cat, rc, "prepare");
		return NULL;
	}
	return stmt;
}

sqlite3_stmt *catalog_cached(struct catalog *cat, const char *sql)
{
	for (int i = 0; i < cat->ncached; i++)
		if (cat->cache[i].sql == sql)
			return cat->cache[i].stmt;
	if (cat->ncached == cat->cache_cap) {
		int cap = cat->cache_cap ? cat->cache_cap * 2 : 32;
		void *p = realloc(cat->cache, (size_t)cap * sizeof(*cat->cache));
		if (!p)
			return NULL;
		cat->cache = p;
		cat->cache_cap = cap;
	}
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v3(cat->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
	if (rc != SQLITE_OK) {
		catalog_fail(cat, rc, "prepare");
		return NULL;
	}
	cat->cache[cat->ncached].sql = sql;
	cat->cache[cat->ncached].stmt = stmt;
	cat->ncached++;
	return stmt;
}

void catalog_reset(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

int catalog_bulk_load(struct catalog *cat, bool on)
{
	int ret = 0;
	pthread_mutex_lock(&cat->lock);
	if (on && !cat->bulk) {
		ret = catalog_exec(cat, "PRAGMA synchronous=OFF");
		if (ret == 0)
			ret = catalog_exec(cat, "BEGIN");
		cat->bulk = ret == 0;
		cat->bulk_ops = 0;
	} else if (!on && cat->bulk) {
		cat->bulk = false;
		ret = catalog_exec(cat, "COMMIT");
		catalog_exec(cat, "PRAGMA synchronous=FULL");
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

/* Runs a prepared statement that returns no rows, and finalizes it. */
static int step_done(struct catalog *cat, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);
	int ret = rc == SQLITE_DONE ? 0 : catalog_fail(cat, rc, what);
	catalog_reset(stmt);
	return ret;
}

const char *catalog_sqlite_version(void)
{
	return sqlite3_libversion();
}

static int latest_of(const struct catalog_migration *m, int count)
{
	int latest = 0;
	for (int i = 0; i < count; i++)
		if (m[i].version > latest)
			latest = m[i].version;
	return latest;
}

int catalog_schema_latest(void)
{
	return latest_of(catalog_migrations, catalog_migrations_count);
}

static int read_user_version(struct catalog *cat, int *version)
{
	sqlite3_stmt *stmt = catalog_prepare(cat, "PRAGMA user_version");
	if (!stmt)
		return -EIO;
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		return catalog_fail(cat, rc, "read schema version");
	}
	*version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

int catalog_schema_version(struct catalog *cat)
{
	int v = -1;
	pthread_mutex_lock(&cat->lock);
	read_user_version(cat, &v);
	pthread_mutex_unlock(&cat->lock);
	return v;
}

/* Applies every migration newer than the file, each in its own transaction
 * with the version bump, so an interrupted upgrade resumes cleanly. */
static int migrate(struct catalog *cat, char *err, size_t errlen)
{
	int version, ret;

	for (int i = 0; i < cat->nmigrations; i++) {
		const struct catalog_migration *m = &cat->migrations[i];
		if ((ret = catalog_begin(cat)) < 0) {
			snprintf(err, errlen, "cannot lock %s '%s' for upgrade", cat->kind,
				 cat->path);
			return ret;
		}
		if ((ret = read_user_version(cat, &version)) < 0)
			goto fail;
		if (version >= m->version) {
			catalog_rollback(cat);
			continue;
		}
		if (version != m->version - 1) {
			snprintf(err, errlen, "%s '%s' is at schema %d and migration %s expects %d",
				 cat->kind, cat->path, version, m->name, m->version - 1);
			ret = -EINVAL;
			goto fail;
		}
		char *msg = NULL;
		int rc = sqlite3_exec(cat->db, m->sql, NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s '%s': migration %s failed: %s", cat->kind,
				 cat->path, m->name, msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			ret = -EIO;
			goto fail;
		}
		char bump[64];
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", m->version);
		if ((ret = catalog_exec(cat, bump)) < 0)
			goto fail;
		if ((ret = catalog_commit(cat)) < 0) {
			snprintf(err, errlen, "%s '%s': cannot commit migration %s", cat->kind,
				 cat->path, m->name);
			return ret;
		}
		log_info("%s '%s': upgraded to schema %d (%s)", cat->kind, cat->path, m->version,
			 m->name);
	}
	return 0;
fail:
	catalog_rollback(cat);
	return ret;
}

struct catalog *catalog_open(const char *path, enum catalog_open_mode mode, char *err,
			     size_t errlen)
{
	return catalog_open_schema(path, mode, "catalog", "vigil record", catalog_migrations,
				   catalog_migrations_count, err, errlen);
}

struct catalog *catalog_open_schema(const char *path, enum catalog_open_mode mode, const char *kind,
				    const char *writer, const struct catalog_migration *migrations,
				    int nmigrations, char *err, size_t errlen)
{
	struct catalog *cat = calloc(1, sizeof(*cat));
	int flags = SQLITE_OPEN_NOMUTEX;
	int version;

	if (!cat) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cat->migrations = migrations;
	cat->nmigrations = nmigrations;
	cat->kind = kind;
	int latest = latest_of(migrations, nmigrations);
	pthread_mutex_init(&cat->lock, NULL);
	cat->path = strdup(path);
	cat->read_only = mode == CATALOG_READ_ONLY;
	flags |= cat->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc = sqlite3_open_v2(path, &cat->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s '%s': %s", kind, path,
			 cat->db ? sqlite3_errmsg(cat->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(cat->db, 1);
	sqlite3_busy_timeout(cat->db, 10000);
	if (!cat->read_only) {
		/* WAL so reports never block recording; FULL so a commit is durable
		 * before anything (an unlink) relies on it */
		if (catalog_exec(cat, "PRAGMA journal_mode=WAL") < 0 ||
		    catalog_exec(cat, "PRAGMA synchronous=FULL") < 0) {
			snprintf(err, errlen, "cannot set up %s '%s': %s", kind, path,
				 sqlite3_errmsg(cat->db));
			goto fail;
		}
	}
	if (catalog_exec(cat, "PRAGMA foreign_keys=ON") < 0) {
		snprintf(err, errlen, "cannot set up %s '%s'", kind, path);
		goto fail;
	}
	if (read_user_version(cat, &version) < 0) {
		snprintf(err, errlen, "%s '%s' is not a readable SQLite database: %s", kind, path,
			 sqlite3_errmsg(cat->db));
		goto fail;
	}
	if (version > latest) {
		snprintf(err, errlen,
			 "%s '%s' has schema %d, newer than this vigil knows (%d): upgrade vigil",
			 kind, path, version, latest);
		goto fail;
	}
	if (cat->read_only) {
		if (version < latest) {
			snprintf(err, errlen,
				 "%s '%s' has schema %d and needs upgrading to %d: run %s once",
				 kind, path, version, latest, writer);
			goto fail;
		}
	} else if (migrate(cat, err, errlen) < 0) {
		goto fail;
	}
	return cat;
fail:
	catalog_close(&cat);
	return NULL;
}

void catalog_close(struct catalog **catp)
{
	struct catalog *cat = *catp;
	if (!cat)
		return;
	if (cat->bulk)
		catalog_bulk_load(cat, false);
	for (int i = 0; i < cat->ncached; i++)
		sqlite3_finalize(cat->cache[i].stmt);
	free(cat->cache);
	if (cat->db)
		sqlite3_close_v2(cat->db);
	pthread_mutex_destroy(&cat->lock);
	free(cat->path);
	free(cat);
	*catp = NULL;
}

int catalog_ensure_camera(struct catalog *cat, const char *camera, int64_t now_us)
{
	sqlite3_stmt *stmt =
		catalog_cached(cat, "INSERT OR IGNORE INTO camera (id, created_us) VALUES (?, ?)");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now_us);
	return step_done(cat, stmt, "add camera");
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

void catalog_read_segment(sqlite3_stmt *stmt, struct catalog_segment *seg)
{
	memset(seg, 0, sizeof(*seg));
	seg->id = sqlite3_column_int64(stmt, 0);
	copy_text(seg->camera, sizeof(seg->camera), sqlite3_column_text(stmt, 1));
	copy_text(seg->path, sizeof(seg->path), sqlite3_column_text(stmt, 2));
	seg->state = parse_state((const char *)sqlite3_column_text(stmt, 3));
	seg->start_us = sqlite3_column_int64(stmt, 4);
	seg->end_us = column_or(stmt, 5, -1);
	seg->duration_us = column_or(stmt, 6, 0);
	seg->bytes = column_or(stmt, 7, 0);
	seg->frames = column_or(stmt, 8, 0);
	seg->keyframes = column_or(stmt, 9, 0);
	copy_text(seg->sha256, sizeof(seg->sha256), sqlite3_column_text(stmt, 10));
	copy_text(seg->codec, sizeof(seg->codec), sqlite3_column_text(stmt, 11));
	seg->width = sqlite3_column_int(stmt, 12);
	seg->height = sqlite3_column_int(stmt, 13);
	seg->has_audio = sqlite3_column_int(stmt, 14) != 0;
	seg->deleted_us = column_or(stmt, 15, -1);
	copy_text(seg->delete_reason, sizeof(seg->delete_reason), sqlite3_column_text(stmt, 16));
}

int catalog_segment_begin(struct catalog *cat, const char *camera, int64_t start_us,
			  const char *codec, int width, int height, bool has_audio, int64_t *id,
			  char *relpath, size_t relpath_size)
{
	sqlite3_stmt *stmt = NULL;
	int ret;

	pthread_mutex_lock(&cat->lock);
	if ((ret = catalog_begin(cat)) < 0)
		goto out;
	if ((ret = catalog_ensure_camera(cat, camera, clock_wall_us())) < 0)
		goto fail;
	/* the path holds the id, so the row is inserted first with a unique
	 * placeholder and given its real path in the same transaction */
	stmt = catalog_cached(cat, "INSERT INTO segment (camera, path, state, start_us, codec, "
				   "width, height, has_audio) VALUES (?, hex(randomblob(16)), "
				   "'writing', ?, ?, ?, ?, ?)");
	if (!stmt) {
		ret = -EIO;
		goto fail;
	}
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, start_us);
	sqlite3_bind_text(stmt, 3, codec ? codec : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, width);
	sqlite3_bind_int(stmt, 5, height);
	sqlite3_bind_int(stmt, 6, has_audio);
	if ((ret = step_done(cat, stmt, "add segment")) < 0)
		goto fail;
	*id = sqlite3_last_insert_rowid(cat->db);
	if ((ret = catalog_segment_relpath(camera, start_us, *id, relpath, relpath_size)) < 0)
		goto fail;
	stmt = catalog_cached(cat, "UPDATE segment SET path = ? WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		goto fail;
	}
	sqlite3_bind_text(stmt, 1, relpath, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, *id);
	if ((ret = step_done(cat, stmt, "name segment")) < 0)
		goto fail;
	ret = catalog_commit(cat);
	goto out;
fail:
	catalog_rollback(cat);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_segment_get_locked(struct catalog *cat, int64_t id, struct catalog_segment *seg)
{
	sqlite3_stmt *stmt =
		catalog_cached(cat, "SELECT " SEGMENT_COLUMNS " FROM segment WHERE id = ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, id);
	int rc = sqlite3_step(stmt);
	int ret = 0;
	if (rc == SQLITE_ROW)
		catalog_read_segment(stmt, seg);
	else if (rc == SQLITE_DONE)
		ret = -ENOENT;
	else
		ret = catalog_fail(cat, rc, "read segment");
	catalog_reset(stmt);
	return ret;
}

int catalog_segment_get(struct catalog *cat, int64_t id, struct catalog_segment *seg)
{
	pthread_mutex_lock(&cat->lock);
	int ret = catalog_segment_get_locked(cat, id, seg);
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

/*
 * Merges [start, end) into the camera's runs: every run that touches it
 * (within the tolerance) is absorbed into one.
 */
static int run_add(struct catalog *cat, const char *camera, int64_t start, int64_t end)
{
	int64_t lo = start, hi = end, count = 1;
	int ret;
	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT min(start_us), max(end_us), sum(segments), count(*) FROM run "
		     "WHERE camera = ?1 AND end_us >= ?2 AND start_us <= ?3");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, start - CATALOG_RUN_TOLERANCE_US);
	sqlite3_bind_int64(stmt, 3, end + CATALOG_RUN_TOLERANCE_US);
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		catalog_reset(stmt);
		return catalog_fail(cat, rc, "find runs");
	}
	if (sqlite3_column_int64(stmt, 3) > 0) {
		int64_t rs = sqlite3_column_int64(stmt, 0), re = sqlite3_column_int64(stmt, 1);
		lo = rs < lo ? rs : lo;
		hi = re > hi ? re : hi;
		count += sqlite3_column_int64(stmt, 2);
	}
	catalog_reset(stmt);

	stmt = catalog_cached(cat, "DELETE FROM run WHERE camera = ?1 AND end_us >= ?2 AND "
				   "start_us <= ?3");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, start - CATALOG_RUN_TOLERANCE_US);
	sqlite3_bind_int64(stmt, 3, end + CATALOG_RUN_TOLERANCE_US);
	if ((ret = step_done(cat, stmt, "merge runs")) < 0)
		return ret;
	stmt = catalog_cached(cat, "INSERT INTO run (camera, start_us, end_us, segments) "
				   "VALUES (?, ?, ?, ?)");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, lo);
	sqlite3_bind_int64(stmt, 3, hi);
	sqlite3_bind_int64(stmt, 4, count);
	return step_done(cat, stmt, "add run");
}

int catalog_segment_finish(struct catalog *cat, int64_t id, const struct segment_result *r,
			   enum segment_state state)
{
	struct catalog_segment seg;
	char detail[512];
	int ret;

	if (state != SEGMENT_COMPLETE && state != SEGMENT_RECOVERED)
		return -EINVAL;
	pthread_mutex_lock(&cat->lock);
	if ((ret = catalog_begin(cat)) < 0)
		goto out;
	if ((ret = catalog_segment_get_locked(cat, id, &seg)) < 0)
		goto fail;
	if (seg.state != SEGMENT_WRITING) {
		log_warnx("catalog: segment %" PRId64 " is %s, not writing", id,
			  catalog_segment_state_name(seg.state));
		ret = -EINVAL;
		goto fail;
	}
	sqlite3_stmt *stmt = catalog_cached(
		cat, "UPDATE segment SET state = ?, end_us = ?, duration_us = ?, bytes = ?, "
		     "frames = ?, keyframes = ?, sha256 = ? WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		goto fail;
	}
	sqlite3_bind_text(stmt, 1, state_names[state], -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, r->end_us);
	sqlite3_bind_int64(stmt, 3, r->duration_us);
	sqlite3_bind_int64(stmt, 4, r->bytes);
	sqlite3_bind_int64(stmt, 5, r->frames);
	sqlite3_bind_int64(stmt, 6, r->keyframes);
	sqlite3_bind_text(stmt, 7, r->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 8, id);
	if ((ret = step_done(cat, stmt, "finish segment")) < 0)
		goto fail;

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
		goto fail;
	if (r->end_us > seg.start_us &&
	    (ret = run_add(cat, seg.camera, seg.start_us, r->end_us)) < 0)
		goto fail;
	if ((ret = catalog_stats_add_segment(cat, &seg)) < 0)
		goto fail;
	ret = catalog_commit(cat);
	goto out;
fail:
	catalog_rollback(cat);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_record_recovery(struct catalog *cat, const char *camera, int64_t segment_id,
			    const char *detail)
{
	int ret;
	pthread_mutex_lock(&cat->lock);
	if ((ret = catalog_begin(cat)) == 0) {
		ret = catalog_audit_append(cat, camera, clock_wall_us(), "recovery", segment_id,
					   detail);
		ret = ret < 0 ? (catalog_rollback(cat), ret) : catalog_commit(cat);
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_segment_abandon(struct catalog *cat, int64_t id)
{
	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt =
		catalog_cached(cat, "DELETE FROM segment WHERE id = ? AND state = 'writing'");
	int ret = -EIO;
	if (stmt) {
		sqlite3_bind_int64(stmt, 1, id);
		ret = step_done(cat, stmt, "abandon segment");
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

static int segments_query(struct catalog *cat, const char *sql, const struct catalog_filter *f,
			  catalog_segment_fn fn, void *ctx)
{
	struct catalog_segment seg;
	int ret = 0, rc;

	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(cat, sql);
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	if (f) {
		if (f->camera)
			sqlite3_bind_text(stmt, 1, f->camera, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, f->from_us);
		sqlite3_bind_int64(stmt, 3, f->to_us > 0 ? f->to_us : INT64_MAX);
		sqlite3_bind_int(stmt, 4, f->include_deleted);
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		catalog_read_segment(stmt, &seg);
		if ((ret = fn(&seg, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "list segments");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_segments_each(struct catalog *cat, const struct catalog_filter *f,
			  catalog_segment_fn fn, void *ctx)
{
	/* a writing segment has no end yet: it counts as reaching "now" */
	static const char sql[] =
		"SELECT " SEGMENT_COLUMNS " FROM segment "
		"WHERE (?1 IS NULL OR camera = ?1) "
		"AND coalesce(end_us, 9223372036854775807) > ?2 AND start_us < ?3 "
		"AND (?4 OR state NOT IN ('deleting', 'deleted')) "
		"ORDER BY camera, start_us, id";
	struct catalog_filter none = { 0 };
	return segments_query(cat, sql, f ? f : &none, fn, ctx);
}

int catalog_segments_unfinished(struct catalog *cat, catalog_segment_fn fn, void *ctx)
{
	static const char sql[] = "SELECT " SEGMENT_COLUMNS " FROM segment "
				  "WHERE state IN ('writing', 'deleting') ORDER BY id";
	return segments_query(cat, sql, NULL, fn, ctx);
}

static void gap_detail(const struct catalog_gap *g, char *out, size_t size)
{
	snprintf(out, size, "start=%" PRId64 " end=%" PRId64 " reason=%s detail=%s", g->start_us,
		 g->end_us, catalog_gap_reason_name(g->reason), g->detail);
}

static int read_gap_locked(struct catalog *cat, int64_t id, struct catalog_gap *g)
{
	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT id, camera, start_us, end_us, reason, detail FROM gap WHERE id = ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, id);
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW) {
		g->id = sqlite3_column_int64(stmt, 0);
		copy_text(g->camera, sizeof(g->camera), sqlite3_column_text(stmt, 1));
		g->start_us = sqlite3_column_int64(stmt, 2);
		g->end_us = column_or(stmt, 3, -1);
		catalog_gap_reason_parse((const char *)sqlite3_column_text(stmt, 4), &g->reason);
		copy_text(g->detail, sizeof(g->detail), sqlite3_column_text(stmt, 5));
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : catalog_fail(cat, rc, "read gap");
	}
	catalog_reset(stmt);
	return ret;
}

static int gap_insert_locked(struct catalog *cat, const char *camera, int64_t start_us,
			     int64_t end_us, enum gap_reason reason, const char *detail,
			     int64_t *gap_id)
{
	int ret;
	if ((ret = catalog_ensure_camera(cat, camera, clock_wall_us())) < 0)
		return ret;
	sqlite3_stmt *stmt = catalog_cached(cat, "INSERT INTO gap (camera, start_us, end_us, "
						 "reason, detail) VALUES (?, ?, ?, ?, ?)");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, start_us);
	if (end_us >= 0)
		sqlite3_bind_int64(stmt, 3, end_us);
	else
		sqlite3_bind_null(stmt, 3);
	sqlite3_bind_text(stmt, 4, reason_names[reason], -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, detail ? detail : "", -1, SQLITE_STATIC);
	if ((ret = step_done(cat, stmt, "add gap")) < 0)
		return ret;
	if (gap_id)
		*gap_id = sqlite3_last_insert_rowid(cat->db);
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
	int ret;
	pthread_mutex_lock(&cat->lock);
	if ((ret = catalog_begin(cat)) == 0) {
		ret = gap_insert_locked(cat, camera, start_us, -1, reason, detail, gap_id);
		ret = ret < 0 ? (catalog_rollback(cat), ret) : catalog_commit(cat);
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_gap_add(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us,
		    enum gap_reason reason, const char *detail)
{
	int ret;
	if (end_us < start_us)
		return -EINVAL;
	pthread_mutex_lock(&cat->lock);
	if ((ret = catalog_begin(cat)) == 0) {
		ret = gap_insert_locked(cat, camera, start_us, end_us, reason, detail, NULL);
		ret = ret < 0 ? (catalog_rollback(cat), ret) : catalog_commit(cat);
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

/* Closes one open gap and chains it; inside a transaction. */
static int gap_close_locked(struct catalog *cat, int64_t gap_id, int64_t end_us, const char *note)
{
	struct catalog_gap g;
	char text[512];
	int ret;

	if ((ret = read_gap_locked(cat, gap_id, &g)) < 0)
		return ret;
	if (g.end_us >= 0)
		return 0; /* already closed */
	if (end_us < g.start_us)
		end_us = g.start_us;
	if (note && *note) {
		size_t len = strlen(g.detail);
		snprintf(g.detail + len, sizeof(g.detail) - len, "%s%s", len ? "; " : "", note);
	}
	sqlite3_stmt *stmt =
		catalog_cached(cat, "UPDATE gap SET end_us = ?, detail = ? WHERE id = ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, end_us);
	sqlite3_bind_text(stmt, 2, g.detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, gap_id);
	if ((ret = step_done(cat, stmt, "close gap")) < 0)
		return ret;
	g.end_us = end_us;
	gap_detail(&g, text, sizeof(text));
	return catalog_audit_append(cat, g.camera, clock_wall_us(), "gap", -1, text);
}

int catalog_gap_close(struct catalog *cat, int64_t gap_id, int64_t end_us)
{
	int ret;
	pthread_mutex_lock(&cat->lock);
	if ((ret = catalog_begin(cat)) == 0) {
		ret = gap_close_locked(cat, gap_id, end_us, NULL);
		ret = ret < 0 ? (catalog_rollback(cat), ret) : catalog_commit(cat);
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_gaps_close_all(struct catalog *cat, int64_t end_us, const char *note)
{
	int64_t ids[256];
	int n = 0, ret, total = 0;

	pthread_mutex_lock(&cat->lock);
	do {
		n = 0;
		if ((ret = catalog_begin(cat)) < 0)
			break;
		sqlite3_stmt *stmt =
			catalog_cached(cat, "SELECT id FROM gap WHERE end_us IS NULL LIMIT 256");
		if (!stmt) {
			catalog_rollback(cat);
			ret = -EIO;
			break;
		}
		while (sqlite3_step(stmt) == SQLITE_ROW)
			ids[n++] = sqlite3_column_int64(stmt, 0);
		catalog_reset(stmt);
		for (int i = 0; i < n && ret == 0; i++)
			ret = gap_close_locked(cat, ids[i], end_us, note);
		ret = ret < 0 ? (catalog_rollback(cat), ret) : catalog_commit(cat);
		total += n;
	} while (ret == 0 && n == 256);
	pthread_mutex_unlock(&cat->lock);
	return ret < 0 ? ret : total;
}

int catalog_gaps_each(struct catalog *cat, const struct catalog_filter *f, catalog_gap_fn fn,
		      void *ctx)
{
	static const char sql[] =
		"SELECT id, camera, start_us, end_us, reason, detail FROM gap "
		"WHERE (?1 IS NULL OR camera = ?1) "
		"AND coalesce(end_us, 9223372036854775807) > ?2 AND start_us < ?3 "
		"ORDER BY camera, start_us, id";
	struct catalog_filter none = { 0 };
	struct catalog_gap g;
	int ret = 0, rc;

	if (!f)
		f = &none;
	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(cat, sql);
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	if (f->camera)
		sqlite3_bind_text(stmt, 1, f->camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, f->from_us);
	sqlite3_bind_int64(stmt, 3, f->to_us > 0 ? f->to_us : INT64_MAX);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(&g, 0, sizeof(g));
		g.id = sqlite3_column_int64(stmt, 0);
		copy_text(g.camera, sizeof(g.camera), sqlite3_column_text(stmt, 1));
		g.start_us = sqlite3_column_int64(stmt, 2);
		g.end_us = column_or(stmt, 3, -1);
		catalog_gap_reason_parse((const char *)sqlite3_column_text(stmt, 4), &g.reason);
		copy_text(g.detail, sizeof(g.detail), sqlite3_column_text(stmt, 5));
		if ((ret = fn(&g, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "list gaps");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_camera_last_covered(struct catalog *cat, const char *camera, int64_t *us)
{
	static const char sql[] =
		"SELECT max(coalesce((SELECT max(end_us) FROM segment WHERE camera = ?1 "
		"AND state IN ('complete', 'recovered')), -1), "
		"coalesce((SELECT max(end_us) FROM gap WHERE camera = ?1), -1))";
	int ret = 0;

	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(cat, sql);
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*us = sqlite3_column_int64(stmt, 0);
	else
		ret = catalog_fail(cat, rc, "last covered time");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_meta_set(struct catalog *cat, const char *key, const char *value)
{
	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt =
		catalog_cached(cat, "INSERT INTO meta (key, value) VALUES (?, ?) "
				    "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
	int ret = -EIO;
	if (stmt) {
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
		ret = step_done(cat, stmt, "set meta");
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_meta_get(struct catalog *cat, const char *key, char *value, size_t size)
{
	int ret = -EIO;
	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(cat, "SELECT value FROM meta WHERE key = ?");
	if (stmt) {
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
		int rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			copy_text(value, size, sqlite3_column_text(stmt, 0));
			ret = 0;
		} else {
			ret = rc == SQLITE_DONE ? -ENOENT : catalog_fail(cat, rc, "get meta");
		}
		catalog_reset(stmt);
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_integrity_check(struct catalog *cat, char *msg, size_t size)
{
	int ret = -EIO;
	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_prepare(cat, "PRAGMA integrity_check");
	if (stmt) {
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			copy_text(msg, size, sqlite3_column_text(stmt, 0));
			ret = strcmp(msg, "ok") == 0 ? 0 : -EIO;
		}
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}
