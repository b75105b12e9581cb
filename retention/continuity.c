/*
 * Continuity: what was recorded over an interval and why the rest was not.
 * (report/ writes it; the export manifest lists its gaps.)
 *
 * Continuity works from the coalesced runs, so a 90-day window costs a
 * handful of rows per camera: the holes between runs are the gaps, and each
 * hole is explained by the gap rows that cover it, by the recorder being
 * stopped (see struct downtime), by footage deleted under the rule, or by
 * the camera not having recorded yet.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "retention/retention.h"
#include "util/buf.h"
#include "util/banned.h"

/* ---- camera lists ---------------------------------------------------------- */

struct names {
	char (*v)[CATALOG_CAMERA_MAX];
	size_t n, cap;
};

static int names_add(struct names *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], id) == 0)
			return 0;
	if (array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return -ENOMEM;
	snprintf(l->v[l->n++], CATALOG_CAMERA_MAX, "%s", id);
	return 0;
}

static int names_from_catalog(const struct catalog_camera_stats *st, void *ctx)
{
	return names_add(ctx, st->camera);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int camera_names(const struct config *cfg, struct catalog *cat, const char *only,
			struct names *l)
{
	int ret;
	if (only)
		return names_add(l, only);
	for (size_t i = 0; i < cfg->ncameras; i++)
		if ((ret = names_add(l, cfg->cameras[i].id)) < 0)
			return ret;
	if ((ret = catalog_cameras_each(cat, names_from_catalog, l)) < 0)
		return ret;
	qsort(l->v, l->n, sizeof(*l->v), cmp_names);
	return 0;
}

/* ---- continuity ------------------------------------------------------------- */

struct span {
	int64_t start, end;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

static int spans_add(struct spans *s, int64_t start, int64_t end)
{
	if (end <= start)
		return 0;
	if (array_reserve(&s->v, &s->cap, s->n + 1, sizeof(*s->v)) < 0)
		return -ENOMEM;
	s->v[s->n++] = (struct span){ start, end };
	return 0;
}

struct window {
	struct spans *spans;
	int64_t from, to;
};

static int add_run(const struct catalog_run *run, void *ctx)
{
	struct window *w = ctx;
	int64_t s = run->start_us > w->from ? run->start_us : w->from;
	int64_t e = run->end_us < w->to ? run->end_us : w->to;
	return spans_add(w->spans, s, e);
}

struct writing_ctx {
	struct window *w;
	int64_t now;
	const char *camera;
};

/* A segment being written counts as recorded up to now. */
static int add_writing(const struct catalog_segment *seg, void *ctx)
{
	struct writing_ctx *c = ctx;
	if (seg->state != SEGMENT_WRITING || strcmp(seg->camera, c->camera) != 0 ||
	    seg->start_us >= c->w->to)
		return 0;
	int64_t s = seg->start_us > c->w->from ? seg->start_us : c->w->from;
	int64_t e = c->now < c->w->to ? c->now : c->w->to;
	return spans_add(c->w->spans, s, e);
}

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorts and merges spans closer than the run tolerance. */
static void spans_merge(struct spans *s)
{
	size_t out = 0;
	if (s->n > 1) /* qsort of NULL is undefined even for 0 elements */
		qsort(s->v, s->n, sizeof(*s->v), cmp_span);
	for (size_t i = 0; i < s->n; i++) {
		if (out > 0 && s->v[i].start <= s->v[out - 1].end + CATALOG_RUN_TOLERANCE_US) {
			if (s->v[i].end > s->v[out - 1].end)
				s->v[out - 1].end = s->v[i].end;
		} else {
			s->v[out++] = s->v[i];
		}
	}
	s->n = out;
}

struct gap_list {
	struct continuity_gap *v;
	size_t n, cap;
};

static int gap_emit(struct gap_list *g, int64_t start, int64_t end, const char *reason,
		    const char *detail)
{
	if (end <= start)
		return 0;
	/* one entry for a stretch with one explanation */
	if (g->n > 0 && g->v[g->n - 1].end_us == start &&
	    strcmp(g->v[g->n - 1].reason, reason) == 0 &&
	    strcmp(g->v[g->n - 1].detail, detail) == 0) {
		g->v[g->n - 1].end_us = end;
		return 0;
	}
	if (array_reserve(&g->v, &g->cap, g->n + 1, sizeof(*g->v)) < 0)
		return -ENOMEM;
	struct continuity_gap *x = &g->v[g->n++];
	memset(x, 0, sizeof(*x));
	x->start_us = start;
	x->end_us = end;
	snprintf(x->reason, sizeof(x->reason), "%s", reason);
	snprintf(x->detail, sizeof(x->detail), "%s", detail);
	return 0;
}

struct deleted_probe {
	bool any;
	char reason[32];
};

static int find_deleted(const struct catalog_segment *seg, void *ctx)
{
	struct deleted_probe *d = ctx;
	if (seg->state == SEGMENT_DELETED || seg->state == SEGMENT_DELETING) {
		d->any = true;
		snprintf(d->reason, sizeof(d->reason), "%s", seg->delete_reason);
		return 1;
	}
	return 0;
}

/* Explains a stretch no gap row covers, the recorder's downtime aside. */
static int explain_unrecorded(struct catalog *cat, const char *camera, int64_t first_footage,
			      int64_t a, int64_t b, struct gap_list *g)
{
	if (first_footage < 0 || b <= first_footage)
		return gap_emit(g, a, b, "not-recording", "no footage from this camera yet");
	if (a < first_footage) {
		int ret = gap_emit(g, a, first_footage, "not-recording",
				   "no footage from this camera yet");
		if (ret < 0)
			return ret;
		a = first_footage;
	}
	struct deleted_probe d = { 0 };
	struct catalog_filter f = {
		.camera = camera, .from_us = a, .to_us = b, .include_deleted = true
	};
	int ret = catalog_segments_each(cat, &f, find_deleted, &d);
	if (ret < 0)
		return ret;
	if (d.any) {
		char detail[96];
		snprintf(detail, sizeof(detail), "footage deleted under the retention rule (%s)",
			 d.reason);
		return gap_emit(g, a, b, "deleted", detail);
	}
	return gap_emit(g, a, b, "unaccounted", "no footage and no recorded reason");
}

/*
 * A clean stop writes no gap row: its end is not known until the next start,
 * whose start-up gap (ingest) then covers the downtime.  Until then the
 * catalog says the recorder is stopped (recorder_state, kept by ingest) and
 * how (recorder_stop, "RUN_START_US DETAIL", written by vigil record when it
 * stops on a signal), and the time after a camera's last accounted instant
 * is recorder-down.  A camera the stopped run did not record (its accounting
 * ends before that run began, or within the run tolerance after) is not the
 * recorder's downtime.
 */
struct downtime {
	bool applies;
	int64_t from; /* the camera's last accounted instant */
	char detail[160];
};

static void read_downtime(struct catalog *cat, const char *camera, struct downtime *d)
{
	char state[32] = "", stop[192] = "";
	int64_t last = -1;

	memset(d, 0, sizeof(*d));
	if (catalog_meta_get(cat, "recorder_state", state, sizeof(state)) < 0 ||
	    strcmp(state, "stopped") != 0 || catalog_camera_last_covered(cat, camera, &last) < 0 ||
	    last < 0)
		return;
	d->from = last;
	char *end = NULL;
	long long run_start = -1;
	if (catalog_meta_get(cat, "recorder_stop", stop, sizeof(stop)) == 0 && *stop)
		run_start = strtoll(stop, &end, 10);
	if (end && end != stop && *end == ' ' && end[1]) {
		/* within the run tolerance: the footage of the run before may end
		 * a frame or two after the next run began, when the restart came
		 * at once */
		if (last < run_start + CATALOG_RUN_TOLERANCE_US)
			return;
		snprintf(d->detail, sizeof(d->detail), "%s", end + 1);
	} else {
		snprintf(d->detail, sizeof(d->detail), "vigil was not running");
	}
	d->applies = true;
}

/* Explains a stretch no gap row covers. */
static int explain_uncovered(struct catalog *cat, const char *camera, int64_t first_footage,
			     const struct downtime *down, int64_t a, int64_t b, struct gap_list *g)
{
	if (down->applies && b > down->from) {
		int ret = 0;
		if (a < down->from)
			ret = explain_unrecorded(cat, camera, first_footage, a, down->from, g);
		if (ret < 0)
			return ret;
		return gap_emit(g, a > down->from ? a : down->from, b, "recorder-down",
				down->detail);
	}
	return explain_unrecorded(cat, camera, first_footage, a, b, g);
}

struct gap_rows {
	struct catalog_gap *v;
	size_t n, cap;
};

static int collect_gap(const struct catalog_gap *gap, void *ctx)
{
	struct gap_rows *r = ctx;
	if (array_reserve(&r->v, &r->cap, r->n + 1, sizeof(*r->v)) < 0)
		return -ENOMEM;
	r->v[r->n++] = *gap;
	return 0;
}

/*
 * Explains the hole [hs, he) with gap rows, filling what they leave.  What
 * they leave is a gap only past the run tolerance, as a hole is: ingest
 * writes no gap for a hole that short (a restart whose first frame comes
 * within it of the moment the stop's gap was closed), and a sliver is not
 * footage missing.
 */
static int explain_hole(struct catalog *cat, const char *camera, int64_t first_footage,
			const struct downtime *down, int64_t hs, int64_t he, int64_t now,
			struct gap_list *g)
{
	struct gap_rows rows = { 0 };
	struct catalog_filter f = { .camera = camera, .from_us = hs, .to_us = he };
	int ret = catalog_gaps_each(cat, &f, collect_gap, &rows);
	int64_t pos = hs;

	for (size_t i = 0; ret == 0 && i < rows.n; i++) {
		const struct catalog_gap *r = &rows.v[i];
		int64_t s = r->start_us > pos ? r->start_us : pos;
		int64_t e = (r->end_us < 0 ? now : r->end_us);
		if (e > he)
			e = he;
		if (e <= s)
			continue;
		if (s - pos > CATALOG_RUN_TOLERANCE_US &&
		    (ret = explain_uncovered(cat, camera, first_footage, down, pos, s, g)) < 0)
			break;
		ret = gap_emit(g, s, e, catalog_gap_reason_name(r->reason), r->detail);
		pos = e;
	}
	if (ret == 0 && he - pos > CATALOG_RUN_TOLERANCE_US)
		ret = explain_uncovered(cat, camera, first_footage, down, pos, he, g);
	free(rows.v);
	return ret;
}

int continuity_compute_camera(struct catalog *cat, const char *camera, int64_t from, int64_t to,
			      int64_t now, struct continuity_camera *out)
{
	struct spans spans = { 0 };
	struct window w = { &spans, from, to };
	struct writing_ctx wc = { &w, now, camera };
	struct gap_list gaps = { 0 };
	struct catalog_camera_stats st;
	int ret;

	memset(out, 0, sizeof(*out));
	snprintf(out->camera, sizeof(out->camera), "%s", camera);
	int64_t first = catalog_camera_stats(cat, camera, &st) == 0 ? st.first_footage_us : -1;
	struct downtime down;
	read_downtime(cat, camera, &down);
	if ((ret = catalog_runs_each(cat, camera, from, to, add_run, &w)) < 0)
		goto out;
	/* the few rows being written, from their own index: scanning the
	 * window's segments for them would read months of rows */
	if ((ret = catalog_segments_unfinished(cat, add_writing, &wc)) < 0)
		goto out;
	spans_merge(&spans);

	int64_t pos = from;
	for (size_t i = 0; i <= spans.n; i++) {
		int64_t hole_end = i < spans.n ? spans.v[i].start : to;
		if (hole_end - pos > CATALOG_RUN_TOLERANCE_US &&
		    (ret = explain_hole(cat, camera, first, &down, pos, hole_end, now, &gaps)) < 0)
			goto out;
		if (i < spans.n) {
			out->recorded_us += spans.v[i].end - spans.v[i].start;
			pos = spans.v[i].end;
		}
	}
	out->coverage_percent =
		to > from ? 100.0 * (double)out->recorded_us / (double)(to - from) : 0;
	out->gaps = gaps.v;
	out->ngaps = gaps.n;
	gaps.v = NULL;
	for (size_t i = 0; i < out->ngaps; i++) {
		int64_t len = out->gaps[i].end_us - out->gaps[i].start_us;
		if (len > out->longest_gap_us)
			out->longest_gap_us = len;
	}
out:
	free(spans.v);
	free(gaps.v);
	return ret;
}

int continuity_compute(const struct config *cfg, struct catalog *cat, const char *camera,
		       int64_t from_us, int64_t to_us, int64_t now_us,
		       struct continuity_report *rep)
{
	struct names names = { 0 };
	int ret;

	memset(rep, 0, sizeof(*rep));
	rep->from_us = from_us;
	rep->to_us = to_us;
	rep->generated_us = now_us;
	/* the future is not a gap */
	int64_t to = to_us < now_us ? to_us : now_us;
	if (to < from_us)
		to = from_us;
	if ((ret = camera_names(cfg, cat, camera, &names)) < 0)
		goto out;
	rep->cameras = calloc(names.n ? names.n : 1, sizeof(*rep->cameras));
	if (!rep->cameras) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < names.n; i++) {
		if ((ret = continuity_compute_camera(cat, names.v[i], from_us, to, now_us,
						     &rep->cameras[i])) < 0)
			goto out;
		rep->ncameras++;
	}
out:
	free(names.v);
	if (ret < 0)
		continuity_release(rep);
	return ret;
}

void continuity_release(struct continuity_report *rep)
{
	for (size_t i = 0; i < rep->ncameras; i++)
		free(rep->cameras[i].gaps);
	free(rep->cameras);
	rep->cameras = NULL;
	rep->ncameras = 0;
}

bool continuity_ok(const struct continuity_report *rep)
{
	for (size_t i = 0; i < rep->ncameras; i++)
		if (rep->cameras[i].ngaps > 0)
			return false;
	return true;
}

int retention_camera_ids(const struct config *cfg, struct catalog *cat,
			 char (**ids)[CATALOG_CAMERA_MAX], size_t *n)
{
	struct names names = { 0 };
	int ret = camera_names(cfg, cat, NULL, &names);

	if (ret < 0) {
		free(names.v);
		return ret;
	}
	*ids = names.v;
	*n = names.n;
	return 0;
}
