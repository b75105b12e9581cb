/*
 * The retention report: per camera the oldest footage against the floor,
 * deletions by reason, holds, the last 90 days as a strip; the storage's
 * forecast.  The numbers only: report/continuity_retention.c writes them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "retention/retention.h"
#include "util/buf.h"

/* ---- retention ---------------------------------------------------------------- */

struct deletion_ctx {
	struct retention_camera_report *c;
};

static int add_deletion(const char *reason, int64_t segments, int64_t bytes, void *ctx)
{
	struct retention_camera_report *c = ctx;
	if (c->ndeleted >= (int)(sizeof(c->deleted) / sizeof(c->deleted[0])))
		return 0;
	snprintf(c->deleted[c->ndeleted].reason, sizeof(c->deleted[0].reason), "%s", reason);
	c->deleted[c->ndeleted].segments = segments;
	c->deleted[c->ndeleted].bytes = bytes;
	c->ndeleted++;
	return 0;
}

struct strip_ctx {
	struct retention_camera_report *c;
	int64_t first_day;
};

static int add_strip_day(const struct catalog_day *d, void *ctx)
{
	struct strip_ctx *s = ctx;
	int64_t i = d->day - s->first_day;
	if (i >= 0 && i < 90)
		s->c->day_recorded_us[i] = d->recorded_us;
	return 0;
}

static int count_hold(const struct catalog_hold *h, void *ctx)
{
	(void)h;
	(*(int *)ctx)++;
	return 0;
}

struct hold_list {
	struct catalog_hold *v;
	size_t n, cap;
};

static int collect_hold(const struct catalog_hold *h, void *ctx)
{
	struct hold_list *l = ctx;
	if (array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return -ENOMEM;
	l->v[l->n++] = *h;
	return 0;
}

static int retention_camera(const struct config *cfg, struct catalog *cat, const char *camera,
			    int64_t now, int64_t period_from, struct retention_camera_report *c)
{
	struct catalog_camera_stats st;
	struct retention_rule rule = retention_rule_for(cfg, camera);
	int ret;

	memset(c, 0, sizeof(*c));
	snprintf(c->camera, sizeof(c->camera), "%s", camera);
	c->floor_days = rule.retain_days;
	c->delete_after_days = rule.delete_after_days;
	c->oldest_us = c->first_us = -1;
	if (catalog_camera_stats(cat, camera, &st) == 0) {
		c->oldest_us = st.oldest_us;
		c->first_us = st.first_footage_us;
		c->live_bytes = st.live_bytes;
		c->live_segments = st.live_segments;
	}
	if (c->oldest_us >= 0)
		c->days_covered = (double)(now - c->oldest_us) / (double)DAY_US;
	int64_t today = now / DAY_US;
	if ((ret = catalog_deletions_each(cat, camera, period_from / DAY_US, today + 1,
					  add_deletion, c)) < 0)
		return ret;
	if ((ret = catalog_holds_each(cat, camera, false, count_hold, &c->holds)) < 0)
		return ret;
	struct strip_ctx sc = { c, today - 89 };
	if ((ret = catalog_days_each(cat, camera, today - 89, today + 1, add_strip_day, &sc)) < 0)
		return ret;

	int64_t below = 0;
	for (int i = 0; i < c->ndeleted; i++)
		if (strcmp(c->deleted[i].reason, RETENTION_BELOW_FLOOR) == 0)
			below += c->deleted[i].segments;
	int64_t floor_us = (int64_t)rule.retain_days * DAY_US;
	if (below > 0) {
		c->verdict = "breached";
		snprintf(c->why, sizeof(c->why),
			 "%" PRId64
			 " segments younger than the %d-day floor were deleted for space",
			 below, rule.retain_days);
	} else if (c->first_us < 0) {
		c->verdict = "not-applicable";
		snprintf(c->why, sizeof(c->why), "no footage recorded yet");
	} else if (now - c->first_us < floor_us) {
		c->verdict = "not-applicable";
		snprintf(c->why, sizeof(c->why),
			 "recording for %.1f days, less than the %d-day floor: nothing may be "
			 "deleted yet",
			 (double)(now - c->first_us) / (double)DAY_US, rule.retain_days);
	} else {
		/* within the floor, footage may be missing because the camera did
		 * not record (outages are continuity's business), never because
		 * it was deleted */
		struct continuity_camera within;
		int64_t from = now - floor_us > c->first_us ? now - floor_us : c->first_us;
		if ((ret = continuity_compute_camera(cat, camera, from, now, now, &within)) < 0)
			return ret;
		int64_t deleted_us = 0;
		for (size_t i = 0; i < within.ngaps; i++)
			if (strcmp(within.gaps[i].reason, "deleted") == 0)
				deleted_us += within.gaps[i].end_us - within.gaps[i].start_us;
		free(within.gaps);
		if (deleted_us > 0) {
			c->verdict = "breached";
			snprintf(c->why, sizeof(c->why),
				 "%.1f hours of footage younger than the %d-day floor are deleted",
				 (double)deleted_us / 3600e6, rule.retain_days);
		} else {
			c->verdict = "met";
			snprintf(c->why, sizeof(c->why),
				 "nothing younger than the %d-day floor was deleted; footage "
				 "reaches "
				 "back %.1f days",
				 rule.retain_days, c->days_covered);
		}
	}
	return 0;
}

int retention_report_compute(const struct config *cfg, struct catalog *cat, int64_t now_us,
			     int64_t period_from_us, struct retention_report *rep)
{
	char(*ids)[CATALOG_CAMERA_MAX] = NULL;
	size_t nids = 0;
	struct hold_list holds = { 0 };
	int ret;

	memset(rep, 0, sizeof(*rep));
	rep->generated_us = now_us;
	rep->period_from_us = period_from_us;
	if ((ret = retention_capacity(cfg, cat, now_us, &rep->capacity)) < 0)
		goto out;
	if ((ret = retention_camera_ids(cfg, cat, &ids, &nids)) < 0)
		goto out;
	rep->cameras = calloc(nids ? nids : 1, sizeof(*rep->cameras));
	if (!rep->cameras) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nids; i++) {
		if ((ret = retention_camera(cfg, cat, ids[i], now_us, period_from_us,
					    &rep->cameras[i])) < 0)
			goto out;
		rep->ncameras++;
	}
	if ((ret = catalog_holds_each(cat, NULL, false, collect_hold, &holds)) < 0)
		goto out;
	rep->holds = holds.v;
	rep->nholds = holds.n;
	holds.v = NULL;
out:
	free(ids);
	free(holds.v);
	if (ret < 0)
		retention_report_release(rep);
	return ret;
}

void retention_report_release(struct retention_report *rep)
{
	free(rep->cameras);
	free(rep->holds);
	rep->cameras = NULL;
	rep->holds = NULL;
	rep->ncameras = rep->nholds = 0;
}

bool retention_report_ok(const struct retention_report *rep)
{
	for (size_t i = 0; i < rep->ncameras; i++)
		if (strcmp(rep->cameras[i].verdict, "breached") == 0)
			return false;
	return true;
}
