/*
 * The sweeper: applies the retention rule through the delete protocol.
 *
 * retention_sweep() is one pass, used by `vigil sweep` and by the sweeper
 * thread of `vigil record`.  Deletions go one segment at a time through the
 * protocol of catalog.h (mark deleting, unlink, fsync the folder, mark
 * deleted with its audit entry), so a crash at any step leaves a row that
 * retention_finish_deletions() completes, and the catalog lock is held only
 * for short transactions: recording never waits long.
 *
 * The thread (struct retention) wakes every few seconds to measure free
 * space and to watch the wall clock; it sweeps every sweep_interval_seconds,
 * at once under disk pressure, and in batches so one pass never runs long.
 * When the wall clock steps by more than max_clock_step_seconds, or vigil
 * starts long after it last ran, the rule is applied at the earlier of the
 * wall clock and the time the monotonic clock vouches for, and a clock
 * fault stays raised until an operator runs `vigil sweep --accept-clock`:
 * a clock that jumps forward never triggers mass deletion.
 *
 * Thread safety: struct retention's status is guarded by its mutex; the
 * catalog has its own lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "retention/retention.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/timefmt.h"
#include "util/buf.h"
#include "util/banned.h"

#define BATCH 64
#define THREAD_TICK_US (2 * USEC_PER_SEC)
#define PASS_LIMIT 2000 /* deletions per pass of the thread */
/* Rest between batches: longer than SQLite's longest busy-wait step
 * (100 ms), so a writer waiting on the catalog always gets in. */
#define SWEEP_PAUSE_US (120 * 1000)

/* ---- one pass ------------------------------------------------------------ */

struct camera_list {
	char (*ids)[CATALOG_CAMERA_MAX];
	size_t n, cap;
};

static int add_camera_id(struct camera_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->ids[i], id) == 0)
			return 0;
	if (array_reserve(&l->ids, &l->cap, l->n + 1, sizeof(*l->ids)) < 0)
		return -ENOMEM;
	snprintf(l->ids[l->n++], CATALOG_CAMERA_MAX, "%s", id);
	return 0;
}

static int collect_catalog_camera(const struct catalog_camera_stats *st, void *ctx)
{
	return add_camera_id(ctx, st->camera);
}

/* Cameras of the config and of the catalog (a camera removed from the
 * config keeps its footage under the global rule). */
static int all_cameras(const struct config *cfg, struct catalog *cat, struct camera_list *l)
{
	int ret;
	for (size_t i = 0; i < cfg->ncameras; i++)
		if ((ret = add_camera_id(l, cfg->cameras[i].id)) < 0)
			return ret;
	return catalog_cameras_each(cat, collect_catalog_camera, l);
}

static int64_t measure_free(const char *path, int64_t *total)
{
	struct statvfs vfs;
	if (statvfs(path, &vfs) < 0)
		return -errno;
	if (total)
		*total = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
	return (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
}

/* Removes now-empty day, month and year folders above a deleted file. */
static void prune_folders(const char *path, const char *storage)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	for (int depth = 0; depth < 3; depth++) {
		char *slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) <= strlen(storage))
			return;
		*slash = '\0';
		if (rmdir(dir) < 0)
			return;
		fs_fsync_parent(dir);
	}
}

struct batch {
	struct catalog_segment segs[BATCH];
	int n;
};

static int collect_batch(const struct catalog_segment *seg, void *ctx)
{
	struct batch *b = ctx;
	b->segs[b->n++] = *seg;
	return 0;
}

struct pass {
	const struct config *cfg;
	struct catalog *cat;
	const struct retention_sweep_options *opts;
	retention_sweep_fn fn;
	void *ctx;
	struct retention_sweep_result *r;
	int64_t free_bytes;
	int64_t reserve;
	/* deletions decided but not yet carried out, all for one reason */
	struct batch pending;
	const char *pending_reason;
};

static bool pass_full(const struct pass *p)
{
	return p->opts->max_deletions > 0 && p->r->deleted >= p->opts->max_deletions;
}

static void counted(struct pass *p, const struct catalog_segment *seg, const char *reason)
{
	p->r->deleted++;
	p->r->deleted_bytes += seg->bytes;
	if (strcmp(reason, RETENTION_BELOW_FLOOR) == 0)
		p->r->below_floor++;
	if (p->fn)
		p->fn(seg, reason, p->ctx);
}

/*
 * Carries out the pending deletions through the delete protocol, as one
 * batch: one transaction marks them all deleting, the files are unlinked
 * and their folders fsynced, one transaction marks them deleted (with
 * their audit entries).  A file that cannot be removed leaves its row in
 * deleting, for retention_finish_deletions.  Then the sweeper pauses, so a
 * recorder writing the catalog (this process or another) gets its turn.
 */
static int flush(struct pass *p)
{
	struct batch *b = &p->pending;
	int64_t ids[BATCH];
	int results[BATCH], ret;
	char path[PATH_MAX], synced[BATCH][PATH_MAX];
	bool synced_ok[BATCH];
	int nsynced = 0;

	if (b->n == 0)
		return 0;
	if (p->opts->dry_run) {
		for (int i = 0; i < b->n; i++)
			counted(p, &b->segs[i], p->pending_reason);
		b->n = 0;
		return 0;
	}
	for (int i = 0; i < b->n; i++)
		ids[i] = b->segs[i].id;
	if ((ret = catalog_segments_mark_deleting(p->cat, ids, b->n, p->pending_reason,
						  p->opts->now_us, results)) < 0)
		return ret;
	int keep = 0;
	for (int i = 0; i < b->n; i++) {
		if (results[i] < 0) { /* held since, or taken by another sweeper */
			p->r->held += results[i] == -EPERM;
			continue;
		}
		if (fs_join(path, sizeof(path), p->cfg->storage_path, b->segs[i].path) < 0 ||
		    (unlink(path) < 0 && errno != ENOENT)) {
			log_warn("camera '%s': cannot delete '%s'", b->segs[i].camera, path);
			p->r->failed++;
			continue;
		}
		b->segs[keep++] = b->segs[i];
	}
	/* every folder once, after all its unlinks: each unlink must be durable
	 * before its row says deleted (a folder synced after the first of its
	 * unlinks only would let the later ones come back after a power cut) */
	int unlinked = keep;
	keep = 0;
	for (int i = 0; i < unlinked; i++) {
		fs_join(path, sizeof(path), p->cfg->storage_path, b->segs[i].path);
		*strrchr(path, '/') = '\0';
		int k = 0;
		while (k < nsynced && strcmp(synced[k], path) != 0)
			k++;
		if (k == nsynced) {
			int err = fs_fsync_dir(path);
			synced_ok[k] = err == 0 || err == -ENOENT;
			if (!synced_ok[k])
				log_warnx("cannot sync folder '%s': %s", path, strerror(-err));
			snprintf(synced[nsynced++], PATH_MAX, "%s", path);
		}
		if (!synced_ok[k]) { /* left deleting, for retention_finish_deletions */
			p->r->failed++;
			continue;
		}
		ids[keep] = b->segs[i].id;
		b->segs[keep++] = b->segs[i];
	}
	if (keep > 0 &&
	    (ret = catalog_segments_mark_deleted(p->cat, ids, keep, p->opts->now_us, results)) < 0)
		return ret;
	for (int i = 0; i < keep; i++) {
		if (results[i] < 0)
			continue;
		counted(p, &b->segs[i], p->pending_reason);
		if (fs_join(path, sizeof(path), p->cfg->storage_path, b->segs[i].path) == 0)
			prune_folders(path, p->cfg->storage_path);
	}
	b->n = 0;
	if (p->opts->pause_us > 0) {
		struct timespec ts = { p->opts->pause_us / USEC_PER_SEC,
				       (p->opts->pause_us % USEC_PER_SEC) * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Queues one deletion the rule allows. */
static int take(struct pass *p, const struct catalog_segment *seg, const char *reason)
{
	int ret;
	if (p->pending.n == BATCH || (p->pending.n > 0 && strcmp(p->pending_reason, reason) != 0)) {
		if ((ret = flush(p)) < 0)
			return ret;
	}
	p->pending.segs[p->pending.n++] = *seg;
	p->pending_reason = reason;
	p->free_bytes += seg->bytes;
	return 0;
}

/* Deletions queued and done, for the limits. */
static int64_t planned(const struct pass *p)
{
	return p->r->deleted + p->pending.n;
}

/* Phase 1: everything past delete_after_days, camera by camera. */
static int sweep_expired(struct pass *p, const char *camera)
{
	struct retention_rule rule = retention_rule_for(p->cfg, camera);
	int64_t cutoff = p->opts->now_us - (int64_t)rule.delete_after_days * DAY_US;
	int64_t cursor = INT64_MIN;
	struct batch b;
	int ret;

	for (;;) {
		b.n = 0;
		if ((ret = catalog_oldest_segments(p->cat, camera, cursor, cutoff, BATCH,
						   collect_batch, &b)) < 0)
			return ret;
		for (int i = 0; i < b.n; i++) {
			if (p->opts->max_deletions > 0 && planned(p) >= p->opts->max_deletions)
				return flush(p);
			const struct catalog_segment *seg = &b.segs[i];
			cursor = seg->start_us;
			int held = catalog_is_held(p->cat, seg->camera, seg->start_us, seg->end_us);
			if (held < 0)
				return held;
			const char *reason = retention_decide(seg->end_us, p->opts->now_us, &rule,
							      PRESSURE_NONE, p->cfg->on_full, held);
			if (!reason) {
				p->r->held += held;
				continue;
			}
			if ((ret = take(p, seg, reason)) < 0)
				return ret;
		}
		if (b.n < BATCH)
			return flush(p);
	}
}

/* The oldest live segment of any camera that the rule lets go under
 * pressure, past each camera's cursor; found reports whether there is one. */
struct candidate {
	struct catalog_segment seg;
	const char *reason;
	size_t camera;
};

static int oldest_deletable(struct pass *p, struct camera_list *cams, int64_t *cursors,
			    enum retention_pressure pressure, struct candidate *best, bool *found)
{
	struct batch b;
	int ret;

	*found = false;
	for (size_t c = 0; c < cams->n; c++) {
		struct retention_rule rule = retention_rule_for(p->cfg, cams->ids[c]);
		for (;;) {
			b.n = 0;
			if ((ret = catalog_oldest_segments(p->cat, cams->ids[c], cursors[c], 0, 8,
							   collect_batch, &b)) < 0)
				return ret;
			bool settled = false;
			for (int i = 0; i < b.n; i++) {
				const struct catalog_segment *seg = &b.segs[i];
				int held = catalog_is_held(p->cat, seg->camera, seg->start_us,
							   seg->end_us);
				if (held < 0)
					return held;
				const char *reason =
					retention_decide(seg->end_us, p->opts->now_us, &rule,
							 pressure, p->cfg->on_full, held);
				if (!reason && held) {
					cursors[c] = seg->start_us; /* step over held footage */
					continue;
				}
				if (reason && (!*found || seg->start_us < best->seg.start_us)) {
					best->seg = *seg;
					best->reason = reason;
					best->camera = c;
					*found = true;
				}
				settled = true; /* the oldest unheld decides for this camera */
				break;
			}
			if (settled || b.n < 8)
				break;
		}
	}
	return 0;
}

/* Phases 2 and 3: while below the reserve, the oldest footage the rule
 * allows under that pressure, across cameras. */
static int sweep_for_space(struct pass *p, enum retention_pressure pressure)
{
	struct camera_list cams = { 0 };
	int64_t *cursors = NULL;
	int ret;

	if ((ret = all_cameras(p->cfg, p->cat, &cams)) < 0)
		goto out;
	cursors = malloc((cams.n ? cams.n : 1) * sizeof(*cursors));
	if (!cursors) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cams.n; i++)
		cursors[i] = INT64_MIN;
	int64_t target = 2 * p->reserve;
	while (p->free_bytes < target &&
	       !(p->opts->max_deletions > 0 && planned(p) >= p->opts->max_deletions)) {
		struct candidate best;
		bool found;
		if ((ret = oldest_deletable(p, &cams, cursors, pressure, &best, &found)) < 0)
			goto out;
		if (!found)
			break;
		/* queued, not yet deleted: step past it */
		cursors[best.camera] = best.seg.start_us;
		if ((ret = take(p, &best.seg, best.reason)) < 0)
			goto out;
		if (p->pending.n == 0 && !p->opts->dry_run) {
			int64_t measured = measure_free(p->cfg->storage_path, NULL);
			if (measured >= 0)
				p->free_bytes = measured;
		}
	}
	ret = flush(p);
	if (ret == 0 && !p->opts->dry_run) {
		int64_t measured = measure_free(p->cfg->storage_path, NULL);
		if (measured >= 0)
			p->free_bytes = measured;
	}
out:
	free(cams.ids);
	free(cursors);
	return ret;
}

int retention_sweep(const struct config *cfg, struct catalog *cat,
		    const struct retention_sweep_options *opts, retention_sweep_fn fn, void *ctx,
		    struct retention_sweep_result *result)
{
	struct camera_list cams = { 0 };
	struct pass p = { .cfg = cfg, .cat = cat, .opts = opts, .fn = fn, .ctx = ctx, .r = result };
	int ret;

	memset(result, 0, sizeof(*result));
	p.reserve = (int64_t)cfg->reserve_mb * 1024 * 1024;
	p.free_bytes =
		opts->free_bytes >= 0 ? opts->free_bytes : measure_free(cfg->storage_path, NULL);
	if (p.free_bytes < 0)
		p.free_bytes = INT64_MAX / 4; /* cannot measure: no pressure */

	if ((ret = all_cameras(cfg, cat, &cams)) < 0)
		goto out;
	for (size_t i = 0; i < cams.n && !pass_full(&p); i++)
		if ((ret = sweep_expired(&p, cams.ids[i])) < 0)
			goto out;
	if (p.free_bytes < p.reserve && (ret = sweep_for_space(&p, PRESSURE_SPACE)) < 0)
		goto out;
	if (p.free_bytes < p.reserve) {
		if (cfg->on_full == ON_FULL_KEEP_RECORDING &&
		    (ret = sweep_for_space(&p, PRESSURE_CRITICAL)) < 0)
			goto out;
		result->still_full = p.free_bytes < p.reserve;
	}
	ret = flush(&p);
	if (ret < 0)
		goto out;
	ret = 0;
out:
	free(cams.ids);
	return ret;
}

struct pending {
	struct catalog_segment rows[256];
	int n;
};

static int collect_pending(const struct catalog_segment *seg, void *ctx)
{
	struct pending *p = ctx;
	if (seg->state == SEGMENT_DELETING && p->n < 256)
		p->rows[p->n++] = *seg;
	return 0;
}

int retention_finish_deletions(const struct config *cfg, struct catalog *cat, int64_t older_than_us)
{
	struct pending *p = calloc(1, sizeof(*p));
	char path[PATH_MAX];
	int ret, done = 0;

	if (!p)
		return -ENOMEM;
	if ((ret = catalog_segments_unfinished(cat, collect_pending, p)) < 0)
		goto out;
	for (int i = 0; i < p->n; i++) {
		const struct catalog_segment *seg = &p->rows[i];
		if (seg->deleted_us >= older_than_us)
			continue;
		if (fs_join(path, sizeof(path), cfg->storage_path, seg->path) < 0)
			continue;
		/* durably gone before the row says so */
		int err = fs_unlink_durable(path);
		if (err < 0) {
			log_warnx("camera '%s': cannot delete '%s': %s", seg->camera, path,
				  strerror(-err));
			continue;
		}
		if ((err = catalog_segment_mark_deleted(cat, seg->id, clock_wall_us())) == 0) {
			done++;
			prune_folders(path, cfg->storage_path);
		} else if (err != -EALREADY && err != -ENOENT) {
			log_warnx("camera '%s': cannot mark segment %" PRId64 " deleted: %s",
				  seg->camera, seg->id, db_errmsg(err));
		}
	}
	if (done)
		log_info("finished %d deletions left half-done", done);
	ret = done;
out:
	free(p);
	return ret;
}

int retention_accept_clock(struct catalog *cat, int64_t now_us)
{
	char value[32];
	snprintf(value, sizeof(value), "%" PRId64, now_us);
	return catalog_meta_set(cat, "clock_accepted_us", value);
}

/* ---- the thread inside vigil record --------------------------------------- */

struct retention {
	const struct config *cfg;
	struct catalog *cat;
	struct retention_callbacks cb;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	bool woken;
	struct retention_status st;
	int64_t baseline_offset; /* clock_offset_us() that is trusted */
	int64_t fault_since_us;	 /* accepted-clock values before this do not count */
	int64_t last_full_sweep_mono;
	int64_t last_capacity_mono;
};

static int64_t meta_int(struct catalog *cat, const char *key)
{
	char value[32];
	if (catalog_meta_get(cat, key, value, sizeof(value)) < 0)
		return -1;
	return strtoll(value, NULL, 10);
}

static void notify(struct retention *r)
{
	if (r->cb.changed)
		r->cb.changed(r->cb.ctx);
}

/* The time the rule may be applied at: the earlier of the wall clock and
 * the wall clock corrected by any step not (yet) accepted. */
static int64_t rule_time(struct retention *r)
{
	int64_t wall = clock_wall_us();
	int64_t trusted = wall - (clock_offset_us() - r->baseline_offset);
	return trusted < wall ? trusted : wall;
}

static void watch_clock(struct retention *r)
{
	int64_t step = clock_offset_us() - r->baseline_offset;
	int64_t limit = (int64_t)r->cfg->max_clock_step_seconds * USEC_PER_SEC;
	int64_t accepted = meta_int(r->cat, "clock_accepted_us");

	pthread_mutex_lock(&r->lock);
	bool fault = r->st.clock_fault;
	if (fault && accepted > r->fault_since_us) {
		r->baseline_offset = clock_offset_us();
		r->st.clock_fault = false;
		r->st.clock_detail[0] = '\0';
		pthread_mutex_unlock(&r->lock);
		log_info("wall clock accepted by an operator: deletion resumes");
		notify(r);
		return;
	}
	if (!fault && (step > limit || step < -limit)) {
		char d[64];
		duration_format(step, d, sizeof(d));
		r->st.clock_fault = true;
		r->fault_since_us = clock_wall_us();
		snprintf(r->st.clock_detail, sizeof(r->st.clock_detail),
			 "the wall clock stepped by %s: deletion follows the monotonic clock until "
			 "an operator runs 'vigil sweep --accept-clock'",
			 d);
		pthread_mutex_unlock(&r->lock);
		log_warnx("%s", r->st.clock_detail);
		notify(r);
		return;
	}
	pthread_mutex_unlock(&r->lock);
}

static void update_capacity(struct retention *r)
{
	struct retention_capacity cap;
	if (retention_capacity(r->cfg, r->cat, clock_wall_us(), &cap) < 0)
		return;
	pthread_mutex_lock(&r->lock);
	bool risk_changed = cap.at_risk != r->st.capacity.at_risk;
	r->st.capacity = cap;
	pthread_mutex_unlock(&r->lock);
	if (risk_changed) {
		if (cap.at_risk)
			log_warnx("retention at risk: the storage holds %.1f days at the current "
				  "write "
				  "rate, below the %d-day floor",
				  cap.forecast_days, cap.floor_days);
		notify(r);
	}
}

static void set_blocked(struct retention *r, bool blocked, const char *why)
{
	pthread_mutex_lock(&r->lock);
	bool changed = r->st.storage_full != blocked;
	r->st.storage_full = blocked;
	pthread_mutex_unlock(&r->lock);
	if (!changed)
		return;
	if (blocked)
		log_warnx("storage full: %s", why);
	else
		log_info("storage has room again: recording resumes");
	if (r->cb.storage_blocked)
		r->cb.storage_blocked(r->cb.ctx, blocked, why);
	notify(r);
}

struct reason_counts {
	int64_t expired, space, below_floor;
};

static void count_reason(const struct catalog_segment *seg, const char *reason, void *ctx)
{
	struct reason_counts *c = ctx;
	(void)seg;
	if (strcmp(reason, RETENTION_EXPIRED) == 0)
		c->expired++;
	else if (strcmp(reason, RETENTION_SPACE) == 0)
		c->space++;
	else
		c->below_floor++;
}

static void run_pass(struct retention *r)
{
	struct reason_counts counts = { 0 };
	struct retention_sweep_options opts = {
		.now_us = rule_time(r),
		.free_bytes = -1,
		.max_deletions = PASS_LIMIT,
		.pause_us = SWEEP_PAUSE_US,
	};
	struct retention_sweep_result res;
	int ret = retention_sweep(r->cfg, r->cat, &opts, count_reason, &counts, &res);
	if (ret < 0) {
		log_warnx("retention sweep failed: %s", db_errmsg(ret));
		/* what was deleted before the failure still counts */
		pthread_mutex_lock(&r->lock);
		r->st.deleted_expired += counts.expired;
		r->st.deleted_space += counts.space;
		r->st.deleted_below_floor += counts.below_floor;
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (res.deleted)
		log_info("retention: deleted %" PRId64 " segments (%" PRId64 " MB)%s", res.deleted,
			 res.deleted_bytes / (1024 * 1024),
			 res.below_floor ? ", some younger than the floor (keep-recording)" : "");
	if (res.below_floor)
		log_warnx("retention floor breached: %" PRId64 " segments younger than the floor "
			  "deleted to keep recording (on_full = keep-recording)",
			  res.below_floor);
	pthread_mutex_lock(&r->lock);
	r->st.last_sweep_us = clock_wall_us();
	r->st.deleted_total += res.deleted;
	r->st.deleted_expired += counts.expired;
	r->st.deleted_space += counts.space;
	r->st.deleted_below_floor += counts.below_floor;
	bool clock_ok = !r->st.clock_fault;
	pthread_mutex_unlock(&r->lock);

	if (res.still_full && r->cfg->on_full == ON_FULL_PROTECT_RETENTION)
		set_blocked(r, true,
			    "no footage older than the floor is left to delete; recording stopped "
			    "to protect the floor (on_full = protect-retention)");
	else if (!res.still_full)
		set_blocked(r, false, NULL);
	if (clock_ok) {
		char value[32];
		snprintf(value, sizeof(value), "%" PRId64, clock_wall_us());
		int err = catalog_meta_set(r->cat, "sweeper_alive_us", value);
		if (err < 0)
			log_warnx("cannot note in the catalog that the sweeper runs: %s",
				  db_errmsg(err));
	}
	/* more to do: come back soon rather than in a whole interval */
	if (res.deleted >= PASS_LIMIT)
		retention_wake(r);
}

static void *sweeper_main(void *arg)
{
	struct retention *r = arg;
	int64_t interval = (int64_t)r->cfg->sweep_interval_seconds * USEC_PER_SEC;
	int64_t reserve = (int64_t)r->cfg->reserve_mb * 1024 * 1024;

	r->last_full_sweep_mono = clock_mono_us() - interval; /* sweep at once */
	for (;;) {
		pthread_mutex_lock(&r->lock);
		if (!r->stopping && !r->woken) {
			struct timespec until;
			int64_t end = clock_mono_us() + THREAD_TICK_US;
			until.tv_sec = end / USEC_PER_SEC;
			until.tv_nsec = (end % USEC_PER_SEC) * 1000;
			pthread_cond_timedwait(&r->cond, &r->lock, &until);
		}
		bool stop = r->stopping, woken = r->woken;
		r->woken = false;
		bool blocked = r->st.storage_full;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;

		watch_clock(r);
		int64_t now = clock_mono_us();
		int64_t free_bytes = measure_free(r->cfg->storage_path, NULL);
		bool pressure = free_bytes >= 0 && free_bytes < reserve;
		if (now - r->last_capacity_mono >= 30 * USEC_PER_SEC) {
			update_capacity(r);
			r->last_capacity_mono = now;
		}
		if (woken || pressure || (blocked && free_bytes >= 2 * reserve) ||
		    now - r->last_full_sweep_mono >= interval) {
			run_pass(r);
			r->last_full_sweep_mono = now;
			update_capacity(r);
			r->last_capacity_mono = clock_mono_us();
		}
	}
	return NULL;
}

struct retention *retention_new(const struct config *cfg, struct catalog *cat,
				const struct retention_callbacks *cb)
{
	struct retention *r = calloc(1, sizeof(*r));
	pthread_condattr_t attr;

	if (!r)
		return NULL;
	r->cfg = cfg;
	r->cat = cat;
	if (cb)
		r->cb = *cb;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &attr);
	pthread_condattr_destroy(&attr);
	r->st.capacity.forecast_days = -1;
	return r;
}

int retention_start(struct retention *r)
{
	int64_t wall = clock_wall_us();
	int64_t limit = (int64_t)r->cfg->max_clock_step_seconds * USEC_PER_SEC;
	int64_t alive = meta_int(r->cat, "sweeper_alive_us");
	int64_t accepted = meta_int(r->cat, "clock_accepted_us");
	int64_t ref = alive > accepted ? alive : accepted;

	r->baseline_offset = clock_offset_us();
	if (ref > 0 && wall - ref > limit) {
		/* vigil last ran long ago by this clock: until someone confirms the
		 * clock, apply the rule as if no more time had passed than vigil
		 * has seen pass itself */
		char d[64];
		duration_format(wall - ref, d, sizeof(d));
		r->baseline_offset -= wall - ref;
		r->st.clock_fault = true;
		r->fault_since_us = wall;
		snprintf(r->st.clock_detail, sizeof(r->st.clock_detail),
			 "the wall clock is %s ahead of the last time vigil ran: deletion is "
			 "limited "
			 "until an operator runs 'vigil sweep --accept-clock'",
			 d);
		log_warnx("%s", r->st.clock_detail);
	}
	int finished = retention_finish_deletions(r->cfg, r->cat, INT64_MAX);
	if (finished < 0)
		log_warnx("cannot finish deletions left half-done: %s", db_errmsg(finished));
	update_capacity(r);
	r->last_capacity_mono = clock_mono_us();
	int ret = pthread_create(&r->thread, NULL, sweeper_main, r);
	if (ret != 0)
		return -ret;
	r->started = true;
	return 0;
}

void retention_wake(struct retention *r)
{
	pthread_mutex_lock(&r->lock);
	r->woken = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void retention_stop(struct retention *r)
{
	if (!r || !r->started)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	r->started = false;
}

void retention_free(struct retention **rp)
{
	struct retention *r = *rp;
	if (!r)
		return;
	retention_stop(r);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
	*rp = NULL;
}

void retention_get_status(struct retention *r, struct retention_status *st)
{
	pthread_mutex_lock(&r->lock);
	*st = r->st;
	pthread_mutex_unlock(&r->lock);
}
