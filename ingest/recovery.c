/*
 * Start-up recovery: restores the invariants written at the top of
 * catalog/catalog.h after a crash or a power cut.
 *
 * A segment left in state writing is the one a worker was filling when the
 * process died.  Its file holds whole fragments followed, perhaps, by a torn
 * one; the torn tail is cut off, the file and folder are fsynced, the rest
 * is read back with libavformat for its real frame count and duration, and
 * the row becomes recovered with its real end time, size and hash.  A row
 * whose file is missing or holds no whole fragment is removed with the file.
 *
 * Files the catalog does not know cannot come from a crash (rows are written
 * before files), so they are someone else's doing: they are moved, never
 * deleted, into STORAGE/.quarantine and reported.  Only the folders where
 * new footage lands (today's and yesterday's of each camera, and those of
 * recovered segments) are walked, so start-up stays fast with months of
 * footage; `vigil verify` walks everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/fmp4.h"
#include "ingest/ingest.h"
#include "ingest/probe.h"
#include "ingest/recovery.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/banned.h"

#define MAX_RECOVER 4096

struct recover_ctx {
	const struct config *cfg;
	struct catalog_segment *rows;
	size_t nrows;
};

static int collect_unfinished(const struct catalog_segment *seg, void *opaque)
{
	struct recover_ctx *ctx = opaque;
	if (ctx->nrows == MAX_RECOVER)
		return 0;
	ctx->rows[ctx->nrows++] = *seg;
	return 0;
}

/* Appends what recovery did to the camera's audit chain; a failure is
 * logged and recovery goes on. */
static void note_recovery(struct catalog *cat, const struct catalog_segment *seg,
			  const char *detail)
{
	int ret = catalog_record_recovery(cat, seg->camera, seg->id, detail);
	if (ret < 0)
		log_warnx("camera '%s': cannot chain the recovery of segment %" PRId64 ": %s",
			  seg->camera, seg->id, db_errmsg(ret));
}

/* Removes a row's file (if any) and then the row itself: a file that
 * cannot be removed keeps its row, so it never becomes unknown. */
static int drop_segment(struct catalog *cat, const struct catalog_segment *seg, const char *path,
			const char *why, struct ingest_recovery *r)
{
	int ret = fs_unlink_durable(path);
	if (ret < 0) {
		log_warnx("camera '%s': cannot remove '%s': %s", seg->camera, path, strerror(-ret));
		return ret;
	}
	log_info("camera '%s': segment %" PRId64 " dropped at recovery: %s", seg->camera, seg->id,
		 why);
	ret = catalog_segment_abandon(cat, seg->id);
	if (ret == 0) {
		r->segments_dropped++;
		char detail[CATALOG_PATH_MAX + 160];
		snprintf(detail, sizeof(detail), "dropped segment %" PRId64 " path=%s: %s", seg->id,
			 seg->path, why);
		note_recovery(cat, seg, detail);
	}
	return ret;
}

int recovery_settle_segment(const struct config *cfg, struct catalog *cat,
			    const struct catalog_segment *seg, struct ingest_recovery *r)
{
	char path[PATH_MAX];
	struct fmp4_scan scan;
	struct probe_result probe;
	struct segment_result res = { 0 };
	int ret;

	if (fs_join(path, sizeof(path), cfg->storage_path, seg->path) < 0)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		return drop_segment(cat, seg, path, "its file was never created", r);
	}
	ret = fmp4_scan_fd(fd, &scan);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	if (!scan.has_header || scan.fragments == 0) {
		close(fd);
		return drop_segment(cat, seg, path, "no complete fragment", r);
	}
	/* even at its own size: that frees the disk space the recorder
	 * reserved past the end of the data (segwriter.c) */
	if (ftruncate(fd, scan.keep_bytes) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	r->bytes_truncated += scan.file_size - scan.keep_bytes;
	if (fsync(fd) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	close(fd);
	if ((ret = fs_fsync_parent(path)) < 0)
		return ret;
	if ((ret = probe_segment(path, &probe)) < 0 || probe.frames == 0) {
		return drop_segment(cat, seg, path, "complete fragments hold no readable video", r);
	}
	if ((ret = sha256_file_hex(path, res.sha256, &res.bytes)) < 0)
		return ret;
	res.duration_us = probe.duration_us;
	res.end_us = seg->start_us + probe.duration_us;
	res.frames = probe.frames;
	res.keyframes = probe.keyframes;
	if ((ret = catalog_segment_finish(cat, seg->id, &res, SEGMENT_RECOVERED)) < 0)
		return ret;
	char detail[CATALOG_PATH_MAX + 160];
	snprintf(detail, sizeof(detail),
		 "recovered segment %" PRId64 " path=%s fragments=%d kept=%" PRId64
		 " truncated=%" PRId64,
		 seg->id, seg->path, scan.fragments, scan.keep_bytes,
		 scan.file_size - scan.keep_bytes);
	note_recovery(cat, seg, detail);
	log_info("camera '%s': recovered segment %" PRId64 " (%d fragments, %.1f s, %" PRId64
		 " torn bytes dropped)",
		 seg->camera, seg->id, scan.fragments, (double)probe.duration_us / 1e6,
		 scan.file_size - scan.keep_bytes);
	r->segments_recovered++;
	return 0;
}

static int quarantine(const struct config *cfg, const char *relpath)
{
	char from[PATH_MAX], to[PATH_MAX], qrel[PATH_MAX];
	int ret;

	int n = snprintf(qrel, sizeof(qrel), "%s/%s", LAYOUT_QUARANTINE, relpath);
	if (n < 0 || (size_t)n >= sizeof(qrel) ||
	    fs_join(from, sizeof(from), cfg->storage_path, relpath) < 0 ||
	    fs_join(to, sizeof(to), cfg->storage_path, qrel) < 0)
		return -ENAMETOOLONG;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", to);
	*strrchr(dir, '/') = '\0';
	if ((ret = fs_mkdir_p(dir, 0750)) < 0)
		return ret;
	if (rename(from, to) < 0)
		return -errno;
	fs_fsync_parent(from);
	fs_fsync_parent(to);
	log_warnx("footage file '%s' is not in the catalog: moved to '%s'", from, to);
	return 0;
}

struct scan_ctx {
	const struct config *cfg;
	struct catalog *cat;
	struct ingest_recovery *r;
};

/* One footage file: known to the catalog, or moved aside. */
static int check_known(const struct catalog_layout_entry *e, void *opaque)
{
	struct scan_ctx *s = opaque;
	struct catalog_layout_name name;
	struct catalog_segment seg;

	if (e->is_dir)
		return 0;
	bool known = catalog_layout_parse(e->relpath, &name) == 0 &&
		     catalog_segment_get(s->cat, name.id, &seg) == 0 &&
		     strcmp(seg.path, e->relpath) == 0 && seg.state != SEGMENT_DELETED;
	if (!known && quarantine(s->cfg, e->relpath) == 0)
		s->r->files_quarantined++;
	return 0;
}

/* Checks every footage file in the day folder of camera at us against the
 * catalog. */
static void scan_day(const struct config *cfg, struct catalog *cat, const char *camera, int64_t us,
		     struct ingest_recovery *r)
{
	struct scan_ctx s = { cfg, cat, r };
	char rel[PATH_MAX];

	if (catalog_layout_day_folder(camera, us, rel, sizeof(rel)) == 0)
		catalog_layout_walk(cfg->storage_path, rel, 0, check_known, &s);
}

int ingest_recover(const struct config *cfg, struct catalog *cat, struct ingest_recovery *r)
{
	struct recover_ctx ctx = { .cfg = cfg };
	int ret, failures = 0;

	memset(r, 0, sizeof(*r));
	ctx.rows = calloc(MAX_RECOVER, sizeof(*ctx.rows));
	if (!ctx.rows)
		return -ENOMEM;
	if ((ret = catalog_segments_unfinished(cat, collect_unfinished, &ctx)) < 0)
		goto out;
	for (size_t i = 0; i < ctx.nrows; i++) {
		const struct catalog_segment *seg = &ctx.rows[i];
		if (seg->state != SEGMENT_WRITING)
			continue; /* deleting rows belong to the retention sweeper */
		if ((ret = recovery_settle_segment(cfg, cat, seg, r)) < 0) {
			log_warnx("camera '%s': cannot recover segment %" PRId64 " '%s': %s",
				  seg->camera, seg->id, seg->path, db_errmsg(ret));
			failures++;
		}
	}

	int closed = catalog_gaps_close_all(cat, clock_wall_us(), "closed when vigil restarted");
	if (closed > 0)
		r->gaps_closed = closed;
	else if (closed < 0)
		log_warnx("cannot close the gaps left open: %s", db_errmsg(closed));

	/* unknown files, where new footage lands */
	int64_t now = clock_wall_us();
	for (size_t c = 0; c < cfg->ncameras; c++) {
		scan_day(cfg, cat, cfg->cameras[c].id, now, r);
		scan_day(cfg, cat, cfg->cameras[c].id, now - 86400 * USEC_PER_SEC, r);
	}
	for (size_t i = 0; i < ctx.nrows; i++)
		scan_day(cfg, cat, ctx.rows[i].camera, ctx.rows[i].start_us, r);
	ret = failures ? -EIO : 0;
out:
	free(ctx.rows);
	return ret;
}
