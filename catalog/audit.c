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
#include "util/banned.h"

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

struct chain_tail {
	int64_t seq;
	char hash[SHA256_HEX_SIZE];
};

static int read_tail(sqlite3_stmt *row, void *tail)
{
	struct chain_tail *t = tail;
	t->seq = sqlite3_column_int64(row, 0);
	db_column_text(row, 1, t->hash, sizeof(t->hash));
	return 0;
}

int catalog_audit_append(struct catalog *cat, const char *camera, int64_t at_us, const char *kind,
			 int64_t segment_id, const char *detail)
{
	struct chain_tail prev = { 0, GENESIS_HASH };
	char hash[SHA256_HEX_SIZE];
	int ret;

	sqlite3_stmt *s = db_stmt(
		cat->db, "SELECT seq, hash FROM audit WHERE camera = ? ORDER BY seq DESC LIMIT 1");
	db_bind_text(s, 1, camera);
	if ((ret = db_one(cat->db, s, "read audit chain", read_tail, &prev)) < 0 && ret != -ENOENT)
		return ret;
	int64_t seq = prev.seq + 1;

	if ((ret = entry_hash(camera, seq, at_us, kind, segment_id, detail, prev.hash, hash)) < 0)
		return ret;
	s = db_stmt(cat->db, "INSERT INTO audit (camera, seq, at_us, kind, segment_id, "
			     "detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, seq);
	db_bind_int64(s, 3, at_us);
	db_bind_text(s, 4, kind);
	db_bind_opt_int64(s, 5, segment_id);
	db_bind_text(s, 6, detail);
	db_bind_text(s, 7, prev.hash);
	db_bind_text(s, 8, hash);
	return db_run(cat->db, s, "append audit entry");
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

/* What a walk of the chains carries from one entry to the next. */
struct chain_walk {
	catalog_problem_fn fn;
	void *ctx;
	int64_t *entries;
	char prev_camera[CATALOG_CAMERA_MAX];
	char prev_hash[SHA256_HEX_SIZE];
	int64_t prev_seq;
};

static int check_entry(sqlite3_stmt *row, void *walk)
{
	struct chain_walk *w = walk;
	char hash[SHA256_HEX_SIZE];
	const char *cam = (const char *)sqlite3_column_text(row, 0);
	int64_t seq = sqlite3_column_int64(row, 1);
	int64_t at = sqlite3_column_int64(row, 2);
	const char *kind = (const char *)sqlite3_column_text(row, 3);
	int64_t segment_id = sqlite3_column_int64(row, 4);
	const char *detail = (const char *)sqlite3_column_text(row, 5);
	const char *stored_prev = (const char *)sqlite3_column_text(row, 6);
	const char *stored_hash = (const char *)sqlite3_column_text(row, 7);
	int ret = 0;

	(*w->entries)++;
	if (strcmp(cam, w->prev_camera) != 0) {
		snprintf(w->prev_camera, sizeof(w->prev_camera), "%s", cam);
		snprintf(w->prev_hash, sizeof(w->prev_hash), "%s", GENESIS_HASH);
		w->prev_seq = 0;
	}
	if (seq != w->prev_seq + 1)
		ret = report(w->fn, w->ctx, "audit-entry-removed", cam, -1, NULL,
			     "entries %" PRId64 " to %" PRId64 " of the chain are missing",
			     w->prev_seq + 1, seq - 1);
	else if (strcmp(stored_prev, w->prev_hash) != 0)
		ret = report(w->fn, w->ctx, "audit-chain-broken", cam, -1, NULL,
			     "entry %" PRId64 " does not link to entry %" PRId64, seq, w->prev_seq);
	if (ret)
		return ret;
	if (entry_hash(cam, seq, at, kind, segment_id, detail, stored_prev, hash) < 0 ||
	    strcmp(hash, stored_hash) != 0)
		ret = report(w->fn, w->ctx, "audit-entry-edited", cam, segment_id, NULL,
			     "entry %" PRId64 " (%s) does not match its hash", seq, kind);
	if (ret)
		return ret;
	snprintf(w->prev_hash, sizeof(w->prev_hash), "%s", stored_hash);
	w->prev_seq = seq;
	return 0;
}

/* Every entry of the chains: seq contiguous, links and hashes right. */
static int verify_chains(struct catalog *cat, const char *camera, catalog_problem_fn fn, void *ctx,
			 int64_t *entries)
{
	struct chain_walk w = {
		.fn = fn, .ctx = ctx, .entries = entries, .prev_hash = GENESIS_HASH
	};
	sqlite3_stmt *s = db_stmt(
		cat->db,
		"SELECT camera, seq, at_us, kind, coalesce(segment_id, -1), detail, prev_hash, "
		"hash FROM audit WHERE (?1 IS NULL OR camera = ?1) ORDER BY camera, seq");
	db_bind_text(s, 1, camera);
	return db_each(cat->db, s, "walk audit chain", check_entry, &w);
}

struct problem_sink {
	catalog_problem_fn fn;
	void *ctx;
};

/* A finished segment row against its segment-added entry. */
static int check_segment(sqlite3_stmt *row, void *sink)
{
	struct problem_sink *p = sink;
	struct catalog_segment seg;
	char expected[1024];

	catalog_read_segment(row, &seg);
	const char *added = (const char *)sqlite3_column_text(row, 17);
	bool deleted_entry = sqlite3_column_int(row, 18) != 0;
	if (!added)
		return report(p->fn, p->ctx, "segment-row-unaudited", seg.camera, seg.id, seg.path,
			      "segment %" PRId64 " has no segment-added entry", seg.id);
	catalog_audit_segment_detail(&seg, expected, sizeof(expected));
	if (strcmp(expected, added) != 0)
		return report(p->fn, p->ctx, "segment-row-edited", seg.camera, seg.id, seg.path,
			      "segment %" PRId64 " no longer matches its audit entry", seg.id);
	if (seg.state == SEGMENT_DELETED && !deleted_entry)
		return report(p->fn, p->ctx, "deletion-unaudited", seg.camera, seg.id, seg.path,
			      "segment %" PRId64 " is marked deleted without an audit entry",
			      seg.id);
	return 0;
}

/* A segment-added entry whose row is gone. */
static int check_orphan_entry(sqlite3_stmt *row, void *sink)
{
	struct problem_sink *p = sink;
	const char *detail = (const char *)sqlite3_column_text(row, 2);
	char path[CATALOG_PATH_MAX] = "";
	const char *at = strstr(detail, "path=");
	if (at)
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(at + 5, " "), at + 5);
	return report(p->fn, p->ctx, "segment-row-removed",
		      (const char *)sqlite3_column_text(row, 0),
		      (int64_t)sqlite3_column_int64(row, 1), path,
		      "segment %" PRId64 " is in the audit chain but not in the catalog",
		      (int64_t)sqlite3_column_int64(row, 1));
}

/* Every finished segment row against its segment-added entry, and every
 * segment-added entry against its row. */
static int verify_segments(struct catalog *cat, const char *camera, catalog_problem_fn fn,
			   void *ctx)
{
	struct problem_sink sink = { fn, ctx };
	int ret;

	sqlite3_stmt *s = db_stmt(
		cat->db, "SELECT " SEGMENT_COLUMNS ", "
			 "(SELECT detail FROM audit a WHERE a.segment_id = s.id "
			 "  AND a.kind = 'segment-added' ORDER BY a.id LIMIT 1), "
			 "EXISTS (SELECT 1 FROM audit a WHERE a.segment_id = s.id "
			 "  AND a.kind = 'segment-deleted') "
			 "FROM segment s WHERE state <> 'writing' AND (?1 IS NULL OR camera = ?1)");
	db_bind_text(s, 1, camera);
	if ((ret = db_each(cat->db, s, "check segments", check_segment, &sink)) != 0)
		return ret;

	s = db_stmt(cat->db, "SELECT a.camera, a.segment_id, a.detail FROM audit a "
			     "WHERE a.kind = 'segment-added' AND (?1 IS NULL OR a.camera = ?1) "
			     "AND NOT EXISTS (SELECT 1 FROM segment s WHERE s.id = a.segment_id)");
	db_bind_text(s, 1, camera);
	return db_each(cat->db, s, "check segment entries", check_orphan_entry, &sink);
}

static int check_gap(sqlite3_stmt *row, void *sink)
{
	struct problem_sink *p = sink;
	const char *kind = (const char *)sqlite3_column_text(row, 0);
	return report(p->fn, p->ctx,
		      strcmp(kind, "gap-row-changed") == 0 ? "gap-row-changed"
							   : "gap-row-unaudited",
		      (const char *)sqlite3_column_text(row, 1), -1, NULL, "gap %s",
		      (const char *)sqlite3_column_text(row, 2));
}

/* Closed gaps against their gap entries, compared as multisets of details:
 * shrinking or removing a gap (hiding an outage) shows up as a difference. */
static int verify_gaps(struct catalog *cat, const char *camera, catalog_problem_fn fn, void *ctx)
{
	struct problem_sink sink = { fn, ctx };
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
	sqlite3_stmt *s = db_stmt(cat->db, sql);
	db_bind_text(s, 1, camera);
	return db_each(cat->db, s, "check gaps", check_gap, &sink);
}

int catalog_verify(struct catalog *cat, const char *camera, catalog_problem_fn fn, void *ctx,
		   int64_t *entries)
{
	int ret;
	*entries = 0;
	/* one read transaction: a consistent snapshot while the recorder writes */
	if ((ret = db_begin_read(cat->db)) < 0)
		return ret;
	ret = verify_chains(cat, camera, fn, ctx, entries);
	if (ret == 0)
		ret = verify_segments(cat, camera, fn, ctx);
	if (ret == 0)
		ret = verify_gaps(cat, camera, fn, ctx);
	/* the snapshot wrote nothing: its end cannot spoil the result */
	db_end(cat->db, 0);
	return ret;
}

struct head_walk {
	catalog_head_fn fn;
	void *ctx;
};

static int head_row(sqlite3_stmt *row, void *walk)
{
	struct head_walk *w = walk;
	struct catalog_chain_head h;
	db_column_text(row, 0, h.camera, sizeof(h.camera));
	h.seq = sqlite3_column_int64(row, 1);
	db_column_text(row, 2, h.hash, sizeof(h.hash));
	return w->fn(&h, w->ctx);
}

int catalog_chain_heads(struct catalog *cat, catalog_head_fn fn, void *ctx)
{
	struct head_walk w = { fn, ctx };
	sqlite3_stmt *s =
		db_stmt(cat->db,
			"SELECT camera, seq, hash FROM audit a WHERE seq = "
			"(SELECT max(seq) FROM audit b WHERE b.camera = a.camera) ORDER BY camera");
	return db_each(cat->db, s, "read chain heads", head_row, &w);
}

static int one_head_row(sqlite3_stmt *row, void *head)
{
	struct catalog_chain_head *h = head;
	h->seq = sqlite3_column_int64(row, 0);
	db_column_text(row, 1, h->hash, sizeof(h->hash));
	return 0;
}

int catalog_chain_head(struct catalog *cat, const char *camera, struct catalog_chain_head *h)
{
	snprintf(h->camera, sizeof(h->camera), "%s", camera);
	h->seq = 0;
	h->hash[0] = '\0';
	sqlite3_stmt *s = db_stmt(
		cat->db, "SELECT seq, hash FROM audit WHERE camera = ?1 ORDER BY seq DESC LIMIT 1");
	db_bind_text(s, 1, camera);
	return db_one(cat->db, s, "read a chain head", one_head_row, h);
}

static int chain_entry_row(sqlite3_stmt *row, void *hash)
{
	db_column_text(row, 0, hash, CATALOG_HEX_SIZE);
	return 0;
}

int catalog_chain_entry(struct catalog *cat, const char *camera, int64_t seq,
			char hash[CATALOG_HEX_SIZE], int64_t *last_seq)
{
	struct catalog_chain_head head = { .seq = 0 };
	int ret = catalog_chain_head(cat, camera, &head);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	*last_seq = head.seq; /* 0: no chain */
	sqlite3_stmt *s = db_stmt(cat->db, "SELECT hash FROM audit WHERE camera = ?1 AND seq = ?2");
	db_bind_text(s, 1, camera);
	db_bind_int64(s, 2, seq);
	hash[0] = '\0';
	return db_one(cat->db, s, "read a chain entry", chain_entry_row, hash);
}
