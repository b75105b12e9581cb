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

int catalog_audit_append(struct catalog *cat, const char *camera, int64_t at_us,
			 const char *kind, int64_t segment_id, const char *detail)
{
	char prev[SHA256_HEX_SIZE] = GENESIS_HASH;
	char hash[SHA256_HEX_SIZE];
	int64_t seq = 1;
	int ret;

	sqlite3_stmt *stmt = catalog_prepare(
		cat, "SELECT seq, hash FROM audit WHERE camera = ? ORDER BY seq DESC LIMIT 1");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, camera, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(stmt, 0) + 1;
		snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(stmt, 1));
	} else if (rc != SQLITE_DONE) {
		sqlite3_finalize(stmt);
		return catalog_fail(cat, rc, "read audit chain");
	}
	sqlite3_finalize(stmt);

	if ((ret = entry_hash(camera, seq, at_us, kind, segment_id, detail, prev, hash)) < 0)
		return ret;
	stmt = catalog_prepare(cat, "INSERT INTO audit (camera, seq, at_us, kind, segment_id, "
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
	sqlite3_finalize(stmt);
	return ret;
}
