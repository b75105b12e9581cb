/*
 * Capacity forecast: how many days of footage the storage can hold.
 *
 * The write rate is each camera's bitrate while it records (bytes per
 * recorded second over its last two days of day statistics) times a full
 * day, so a camera that was down part of the day is not taken for a cheap
 * one.  The room is the footage already stored plus the free space, less the
 * reserve: days = room / bytes per day.  Below the largest floor of any
 * camera, retention is at risk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "retention/retention.h"
#include "util/buf.h"
#include "util/banned.h"

struct rate_sum {
	int64_t bytes, recorded_us;
};

static int add_day(const struct catalog_day *d, void *ctx)
{
	struct rate_sum *s = ctx;
	s->bytes += d->bytes;
	s->recorded_us += d->recorded_us;
	return 0;
}

struct capacity_walk {
	const struct config *cfg;
	struct catalog *cat;
	int64_t today;
	struct retention_capacity *cap;
};

static int add_camera(const struct catalog_camera_stats *st, void *ctx)
{
	struct capacity_walk *w = ctx;
	struct rate_sum sum = { 0 };
	struct retention_rule rule = retention_rule_for(w->cfg, st->camera);

	w->cap->footage_bytes += st->live_bytes;
	if (st->oldest_us >= 0 && (w->cap->oldest_us < 0 || st->oldest_us < w->cap->oldest_us))
		w->cap->oldest_us = st->oldest_us;
	/* cameras no longer configured do not record any more */
	if (!config_camera(w->cfg, st->camera))
		return 0;
	if (rule.retain_days > w->cap->floor_days)
		w->cap->floor_days = rule.retain_days;
	int ret = catalog_days_each(w->cat, st->camera, w->today - 1, w->today + 1, add_day, &sum);
	if (ret < 0)
		return ret;
	if (sum.recorded_us > 0)
		w->cap->bytes_per_day +=
			(double)sum.bytes / ((double)sum.recorded_us / 1e6) * 86400.0;
	return 0;
}

struct stats_list {
	struct catalog_camera_stats *v;
	size_t n, cap;
};

static int collect_stats(const struct catalog_camera_stats *st, void *ctx)
{
	struct stats_list *l = ctx;
	if (array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return -ENOMEM;
	l->v[l->n++] = *st;
	return 0;
}

int retention_capacity(const struct config *cfg, struct catalog *cat, int64_t now_us,
		       struct retention_capacity *cap)
{
	struct statvfs vfs;
	struct stats_list stats = { 0 };
	int ret;

	memset(cap, 0, sizeof(*cap));
	cap->forecast_days = -1;
	cap->oldest_us = -1;
	cap->reserve_bytes = (int64_t)cfg->reserve_mb * 1024 * 1024;
	if (statvfs(cfg->storage_path, &vfs) < 0)
		return -errno;
	cap->total_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
	cap->free_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
	cap->index_bytes = catalog_file_bytes(cat);
	for (size_t i = 0; i < cfg->ncameras; i++) {
		struct retention_rule rule = retention_rule_for(cfg, cfg->cameras[i].id);
		if (rule.retain_days > cap->floor_days)
			cap->floor_days = rule.retain_days;
	}
	struct capacity_walk w = { cfg, cat, now_us / DAY_US, cap };
	/* collected first: a catalog callback must not query the catalog */
	ret = catalog_cameras_each(cat, collect_stats, &stats);
	for (size_t i = 0; ret == 0 && i < stats.n; i++)
		ret = add_camera(&stats.v[i], &w);
	free(stats.v);
	if (ret < 0)
		return ret;
	if (cap->bytes_per_day > 0) {
		double room = (double)(cap->footage_bytes + cap->free_bytes - cap->reserve_bytes);
		cap->forecast_days = room > 0 ? room / cap->bytes_per_day : 0;
		cap->at_risk = cap->forecast_days < cap->floor_days;
	}
	return 0;
}
