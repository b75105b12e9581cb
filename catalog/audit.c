/*
 * The audit chain: an append-only list of events per camera, each entry
 * holding the SHA-256 of the camera's previous entry.  The hash covers
 * every column of the entry, so editing an entry breaks its own hash,
 * removing one breaks the link of the next, and the segment-added entries
 * record each segment's file hash, size and times, so a segment row or a
 * file that changes later no longer matches its entry.
 *
 * Entry hash = SHA-256 of the text
 *     "vigil-audit-1\n" camera "\n" seq "\n" at_us "\n" kind "\n"
 *     segment_id "\n" detail "\n" prev_hash
 * with numbers in decimal and segment_id empty when there is none.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "catalog/internal.h"
#include "util/buf.h"
#include "util/sha256.h"

#define GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

void catalog_audit_segment_detail(const struct catalog_segment *seg, char *out, size_t size)
{
	snprintf(out, size,
		 "path=%s start=%" PRId64 " end=%" PRId64 " duration=%" PRId64 " bytes=%" PRId64
		 " frames=%" PRId64 " keyframes=%" PRId64 " sha256=%s",
		 seg->path, seg->start_us, seg->end_us, seg->duration_us, seg->bytes, seg->frames,
		 seg->keyframes, seg->sha256);
}

static int entry_hash(const char *camera, int64_t seq, int64_t at_us, const char *kind,
		      int64_t segment_id, const char *detail, const char *prev_hash,
		      char hash[SHA256_HEX_SIZE])
{
	struct buf text;
	char segment[32] = "";
	int ret;

	if (segment_id >= 0)
		snprintf(segment, sizeof(segment), "%" PRId64, segment_id);
	buf_init(&text, 64 * 1024);
	ret = buf_printf(&text, "vigil-audit-1\n%s\n%" PRId64 "\n%" PRId64 "\n%s\n%s\n%s\n%s",
			 camera, seq, at_us, kind, segment, detail, prev_hash);
	if (ret == 0)
		sha256_hex(text.data, text.len, hash);
	buf_release(&text);
	return ret;
}

int catalog_audit_append(struct catalog *cat, const char *camera, int64_t at_us, const char *kind,
			 int64_t segment_id, const char *detail)
{
	char prev[SHA256_HEX_SIZE] = GENESIS_HASH;
	char hash[SHA256_HEX_SIZE];
	int64_t seq = 1;
	int ret;

	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT seq, hash FROM audit WHERE camera = ? ORDER BY seq DESC LIMIT 1");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(stmt, 0) + 1;
		snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(stmt, 1));
	} else if (rc != SQLITE_DONE) {
		catalog_reset(stmt);
		return catalog_fail(cat, rc, "read audit chain");
	}
	catalog_reset(stmt);

	if ((ret = entry_hash(camera, seq, at_us, kind, segment_id, detail, prev, hash)) < 0)
		return ret;
	stmt = catalog_cached(cat, "INSERT INTO audit (camera, seq, at_us, kind, segment_id, "
				   "detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, seq);
	sqlite3_bind_int64(stmt, 3, at_us);
	sqlite3_bind_text(stmt, 4, kind, -1, SQLITE_STATIC);
	if (segment_id >= 0)
		sqlite3_bind_int64(stmt, 5, segment_id);
	else
		sqlite3_bind_null(stmt, 5);
	sqlite3_bind_text(stmt, 6, detail, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, prev, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 8, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : catalog_fail(cat, rc, "append audit entry");
	catalog_reset(stmt);
	return ret;
}

/* ---- verification -------------------------------------------------------- */

static int report(catalog_problem_fn fn, void *ctx, const char *kind, const char *camera,
		  int64_t segment_id, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static int report(catalog_problem_fn fn, void *ctx, const char *kind, const char *camera,
		  int64_t segment_id, const char *path, const char *fmt, ...)
{
	struct catalog_problem p = { .kind = kind, .segment_id = segment_id };
	va_list ap;

	snprintf(p.camera, sizeof(p.camera), "%s", camera ? camera : "");
	snprintf(p.path, sizeof(p.path), "%s", path ? path : "");
	va_start(ap, fmt);
	vsnprintf(p.detail, sizeof(p.detail), fmt, ap);
	va_end(ap);
	return fn(&p, ctx);
}

/* Every entry of the chains: seq contiguous, links and hashes right. */
static int verify_chains(struct catalog *cat, const char *camera, catalog_problem_fn fn, void *ctx,
			 int64_t *entries)
{
	char prev_camera[CATALOG_CAMERA_MAX] = "";
	char prev_hash[SHA256_HEX_SIZE] = GENESIS_HASH;
	char hash[SHA256_HEX_SIZE];
	int64_t prev_seq = 0;
	int ret = 0, rc;

	sqlite3_stmt *stmt = catalog_cached(
		cat,
		"SELECT camera, seq, at_us, kind, coalesce(segment_id, -1), detail, prev_hash, "
		"hash FROM audit WHERE (?1 IS NULL OR camera = ?1) ORDER BY camera, seq");
	if (!stmt)
		return -EIO;
	if (camera)
		sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *cam = (const char *)sqlite3_column_text(stmt, 0);
		int64_t seq = sqlite3_column_int64(stmt, 1);
		int64_t at = sqlite3_column_int64(stmt, 2);
		const char *kind = (const char *)sqlite3_column_text(stmt, 3);
		int64_t segment_id = sqlite3_column_int64(stmt, 4);
		const char *detail = (const char *)sqlite3_column_text(stmt, 5);
		const char *stored_prev = (const char *)sqlite3_column_text(stmt, 6);
		const char *stored_hash = (const char *)sqlite3_column_text(stmt, 7);

		(*entries)++;
		if (strcmp(cam, prev_camera) != 0) {
			snprintf(prev_camera, sizeof(prev_camera), "%s", cam);
			snprintf(prev_hash, sizeof(prev_hash), "%s", GENESIS_HASH);
			prev_seq = 0;
		}
		if (seq != prev_seq + 1)
			ret = report(fn, ctx, "audit-entry-removed", cam, -1, NULL,
				     "entries %" PRId64 " to %" PRId64 " of the chain are missing",
				     prev_seq + 1, seq - 1);
		else if (strcmp(stored_prev, prev_hash) != 0)
			ret = report(fn, ctx, "audit-chain-broken", cam, -1, NULL,
				     "entry %" PRId64 " does not link to entry %" PRId64, seq,
				     prev_seq);
		if (ret)
			break;
		if (entry_hash(cam, seq, at, kind, segment_id, detail, stored_prev, hash) < 0 ||
		    strcmp(hash, stored_hash) != 0)
			ret = report(fn, ctx, "audit-entry-edited", cam, segment_id, NULL,
				     "entry %" PRId64 " (%s) does not match its hash", seq, kind);
		if (ret)
			break;
		snprintf(prev_hash, sizeof(prev_hash), "%s", stored_hash);
		prev_seq = seq;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "walk audit chain");
	catalog_reset(stmt);
	return ret;
}

/* Every finished segment row against its segment-added entry, and every
 * segment-added entry against its row. */
static int verify_segments(struct catalog *cat, const char *camera, catalog_problem_fn fn,
			   void *ctx)
{
	struct catalog_segment seg;
	char expected[1024];
	int ret = 0, rc;

	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT " SEGMENT_COLUMNS ", "
		     "(SELECT detail FROM audit a WHERE a.segment_id = s.id "
		     "  AND a.kind = 'segment-added' ORDER BY a.id LIMIT 1), "
		     "EXISTS (SELECT 1 FROM audit a WHERE a.segment_id = s.id "
		     "  AND a.kind = 'segment-deleted') "
		     "FROM segment s WHERE state <> 'writing' AND (?1 IS NULL OR camera = ?1)");
	if (!stmt)
		return -EIO;
	if (camera)
		sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		catalog_read_segment(stmt, &seg);
		const char *added = (const char *)sqlite3_column_text(stmt, 17);
		bool deleted_entry = sqlite3_column_int(stmt, 18) != 0;
		if (!added) {
			ret = report(fn, ctx, "segment-row-unaudited", seg.camera, seg.id, seg.path,
				     "segment %" PRId64 " has no segment-added entry", seg.id);
			continue;
		}
		catalog_audit_segment_detail(&seg, expected, sizeof(expected));
		if (strcmp(expected, added) != 0)
			ret = report(fn, ctx, "segment-row-edited", seg.camera, seg.id, seg.path,
				     "segment %" PRId64 " no longer matches its audit entry",
				     seg.id);
		else if (seg.state == SEGMENT_DELETED && !deleted_entry)
			ret = report(fn, ctx, "deletion-unaudited", seg.camera, seg.id, seg.path,
				     "segment %" PRId64 " is marked deleted without an audit entry",
				     seg.id);
	}
	catalog_reset(stmt);
	if (ret)
		return ret;

	stmt = catalog_cached(cat,
			      "SELECT a.camera, a.segment_id, a.detail FROM audit a "
			      "WHERE a.kind = 'segment-added' AND (?1 IS NULL OR a.camera = ?1) "
			      "AND NOT EXISTS (SELECT 1 FROM segment s WHERE s.id = a.segment_id)");
	if (!stmt)
		return -EIO;
	if (camera)
		sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *detail = (const char *)sqlite3_column_text(stmt, 2);
		char path[CATALOG_PATH_MAX] = "";
		const char *p = strstr(detail, "path=");
		if (p)
			snprintf(path, sizeof(path), "%.*s", (int)strcspn(p + 5, " "), p + 5);
		ret = report(fn, ctx, "segment-row-removed",
			     (const char *)sqlite3_column_text(stmt, 0),
			     (int64_t)sqlite3_column_int64(stmt, 1), path,
			     "segment %" PRId64 " is in the audit chain but not in the catalog",
			     (int64_t)sqlite3_column_int64(stmt, 1));
	}
	catalog_reset(stmt);
	return ret;
}

/* Closed gaps against their gap entries, compared as multisets of details:
 * shrinking or removing a gap (hiding an outage) shows up as a difference. */
static int verify_gaps(struct catalog *cat, const char *camera, catalog_problem_fn fn, void *ctx)
{
	int ret = 0, rc;
	/* the gap entry detail is rebuilt in SQL exactly as gap_detail() in
	 * catalog.c writes it; EXCEPT ALL is emulated with counts */
	static const char sql[] =
		"WITH rows AS (SELECT camera, 'start=' || start_us || ' end=' || end_us || "
		"  ' reason=' || reason || ' detail=' || detail AS d FROM gap "
		"  WHERE end_us IS NOT NULL AND (?1 IS NULL OR camera = ?1)), "
		"entries AS (SELECT camera, detail AS d FROM audit WHERE kind = 'gap' "
		"  AND (?1 IS NULL OR camera = ?1)), "
		"r AS (SELECT camera, d, count(*) n FROM rows GROUP BY camera, d), "
		"e AS (SELECT camera, d, count(*) n FROM entries GROUP BY camera, d) "
		"SELECT 'gap-row-changed', e.camera, e.d FROM e LEFT JOIN r USING (camera, d) "
		"  WHERE coalesce(r.n, 0) < e.n "
		"UNION ALL SELECT 'gap-row-unaudited', r.camera, r.d FROM r LEFT JOIN e "
		"  USING (camera, d) WHERE coalesce(e.n, 0) < r.n";
	sqlite3_stmt *stmt = catalog_cached(cat, sql);
	if (!stmt)
		return -EIO;
	if (camera)
		sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(stmt, 0);
		ret = report(fn, ctx,
			     strcmp(kind, "gap-row-changed") == 0 ? "gap-row-changed"
								  : "gap-row-unaudited",
			     (const char *)sqlite3_column_text(stmt, 1), -1, NULL, "gap %s",
			     (const char *)sqlite3_column_text(stmt, 2));
	}
	catalog_reset(stmt);
	return ret;
}

int catalog_verify(struct catalog *cat, const char *camera, catalog_problem_fn fn, void *ctx,
		   int64_t *entries)
{
	int ret;
	*entries = 0;
	pthread_mutex_lock(&cat->lock);
	/* one read transaction: a consistent snapshot while the recorder writes */
	if ((ret = catalog_exec(cat, "BEGIN")) == 0) {
		ret = verify_chains(cat, camera, fn, ctx, entries);
		if (ret == 0)
			ret = verify_segments(cat, camera, fn, ctx);
		if (ret == 0)
			ret = verify_gaps(cat, camera, fn, ctx);
		catalog_exec(cat, "COMMIT");
	}
	pthread_mutex_unlock(&cat->lock);
	return ret;
}

int catalog_chain_heads(struct catalog *cat, catalog_head_fn fn, void *ctx)
{
	struct catalog_chain_head h;
	int ret = 0, rc;

	pthread_mutex_lock(&cat->lock);
	sqlite3_stmt *stmt = catalog_cached(
		cat, "SELECT camera, seq, hash FROM audit a WHERE seq = "
		     "(SELECT max(seq) FROM audit b WHERE b.camera = a.camera) ORDER BY camera");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		snprintf(h.camera, sizeof(h.camera), "%s",
			 (const char *)sqlite3_column_text(stmt, 0));
		h.seq = sqlite3_column_int64(stmt, 1);
		snprintf(h.hash, sizeof(h.hash), "%s", (const char *)sqlite3_column_text(stmt, 2));
		if ((ret = fn(&h, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(cat, rc, "read chain heads");
	catalog_reset(stmt);
out:
	pthread_mutex_unlock(&cat->lock);
	return ret;
}
