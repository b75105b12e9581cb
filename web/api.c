/*
 * The JSON API of the console: cameras, spans and gaps, reports, tickets,
 * holds, exports, recorders.  Every answer comes from the functions the
 * command line uses (the catalog's listings, the report compute functions,
 * the ticket store, retention_export), so the console and `vigil report`
 * can never disagree.  A limited user sees only their cameras, in every
 * list as in every single lookup.
 */
#include "web/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "report/report.h"
#include "retention/retention.h"
#include "tickets/tickets.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/jread.h"
#include "util/log.h"
#include "util/timefmt.h"
#include "util/banned.h"

#define SPANS_MAX_INTERVAL_US (400LL * 86400 * 1000000)

static enum MHD_Result reply_catalog_error(struct web_request *r, const char *what, int ret)
{
	log_warnx("%s: %s", what, db_errmsg(ret));
	return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s failed (see the log)", what);
}

static enum MHD_Result finish_json(struct web_request *r, struct json_writer *w, struct buf *b)
{
	if (jw_finish(w) < 0) {
		buf_release(b);
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "answer too large");
	}
	return web_reply_json(r, MHD_HTTP_OK, b);
}

/* A string member of the JSON body into out; false after answering 400
 * when the body is not JSON or (required) the member is missing. */
static bool body_string(struct web_request *r, const char *name, char *out, size_t size,
			bool required)
{
	out[0] = '\0';
	if (r->body_len == 0) {
		if (!required)
			return true;
		web_reply_error(r, MHD_HTTP_BAD_REQUEST, "expected a JSON body with \"%s\"", name);
		return false;
	}
	int ret = jread_scalar(r->body, r->body_len, name, out, size);
	if (ret == -EINVAL) {
		web_reply_error(r, MHD_HTTP_BAD_REQUEST, "the request body is not JSON");
		return false;
	}
	if (ret < 0 && required) {
		web_reply_error(r, MHD_HTTP_BAD_REQUEST, "missing \"%s\" in the request body",
				name);
		return false;
	}
	return true;
}

static bool body_time(struct web_request *r, const char *name, int64_t *us)
{
	char v[80];
	if (!body_string(r, name, v, sizeof(v), true))
		return false;
	if (time_parse(v, us) < 0) {
		web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"\"%s\": \"%s\" is not a time (expected ISO 8601)", name, v);
		return false;
	}
	return true;
}

/* The interval of ?from=&to=, which both must be given, in order, and not
 * longer than max_us (0: any length). */
static bool interval_params(struct web_request *r, int64_t *from, int64_t *to, int64_t max_us)
{
	if (!web_time_param(r, "from", from, true) || !web_time_param(r, "to", to, true))
		return false;
	if (*to <= *from) {
		web_reply_error(r, MHD_HTTP_BAD_REQUEST, "to must be after from");
		return false;
	}
	if (max_us && *to - *from > max_us) {
		web_reply_error(r, MHD_HTTP_BAD_REQUEST, "interval longer than %lld days",
				(long long)(max_us / 86400000000LL));
		return false;
	}
	return true;
}

static bool parse_id(struct web_request *r, const char *s, int64_t *id)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0) {
		web_reply_error(r, MHD_HTTP_BAD_REQUEST, "%s is not a number", s);
		return false;
	}
	*id = v;
	return true;
}

static void time_or_null(struct json_writer *w, const char *key, int64_t us)
{
	jw_key(w, key);
	if (us > 0)
		jw_time(w, us);
	else
		jw_null(w);
}

/* ---- GET /healthz --------------------------------------------------------- */

static enum MHD_Result get_healthz(struct web_request *r)
{
	return web_reply_bytes(r, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3);
}

/* ---- GET /api/cameras ------------------------------------------------------ */

struct newest {
	struct catalog_segment seg;
	bool found;
};

static int keep_newest(const struct catalog_segment *seg, void *ctx)
{
	struct newest *n = ctx;
	n->seg = *seg;
	n->found = true;
	return 0;
}

struct open_gap {
	struct catalog_gap gap;
	bool found;
};

static int keep_open_gap(const struct catalog_gap *gap, void *ctx)
{
	struct open_gap *g = ctx;
	if (gap->end_us < 0) {
		g->gap = *gap;
		g->found = true;
	}
	return 0;
}

struct camera_ticket {
	const char *camera;
	int64_t id;
	int level;
	char kind[32];
};

static int find_camera_ticket(const struct ticket *t, void *ctx)
{
	struct camera_ticket *ct = ctx;
	if (strcmp(t->camera, ct->camera) != 0 || t->resolved_us >= 0)
		return 0;
	if (ct->id == 0 || t->level < ct->level) {
		ct->id = t->id;
		ct->level = t->level;
		snprintf(ct->kind, sizeof(ct->kind), "%s", ticket_kind_name(t->kind));
	}
	return 0;
}

/*
 * The camera's state as the footage shows it: recording while a segment is
 * being written and no gap is open, down (with the gap's reason) while one
 * is, stopped when neither (the recorder is not running).
 */
static void camera_json(struct web_request *r, struct json_writer *w,
			const struct camera_config *cam, int64_t now_us)
{
	struct web *web = r->web;
	struct catalog_camera_stats st;
	bool have_stats = catalog_camera_stats(web->catalog, cam->id, &st) == 0;
	/* Only the last day is looked at: a recording camera's newest segment
	 * and any open gap are in it.  The segments that end after the newest
	 * finished one ends, less a microsecond, are that one and the one
	 * being written: a day of 60 s segments would be 1,440 rows. */
	struct catalog_filter f = { .camera = cam->id, .from_us = now_us - 86400000000LL };
	if (have_stats && st.newest_us - 1 > f.from_us)
		f.from_us = st.newest_us - 1;
	struct newest newest = { 0 };
	catalog_segments_each(web->catalog, &f, keep_newest, &newest);
	struct open_gap gap = { 0 };
	struct catalog_filter gf = { .camera = cam->id };
	catalog_gaps_each(web->catalog, &gf, keep_open_gap, &gap);

	jw_begin_object(w);
	jw_kv_string(w, "id", cam->id);
	jw_kv_string(w, "location", cam->location ? cam->location : "");
	jw_kv_string(w, "site", cam->site ? cam->site : web->cfg->site);
	const char *state = "stopped";
	if (gap.found)
		state = "down";
	else if (newest.found && newest.seg.state == SEGMENT_WRITING)
		state = "recording";
	jw_kv_string(w, "state", state);
	if (gap.found) {
		jw_kv_string(w, "down_reason", catalog_gap_reason_name(gap.gap.reason));
		jw_kv_time(w, "down_since", gap.gap.start_us);
	}
	if (newest.found) {
		jw_kv_string(w, "codec", newest.seg.codec);
		jw_kv_int(w, "width", newest.seg.width);
		jw_kv_int(w, "height", newest.seg.height);
	} else {
		jw_key(w, "codec");
		jw_null(w);
		jw_key(w, "width");
		jw_null(w);
		jw_key(w, "height");
		jw_null(w);
	}
	jw_key(w, "oldest");
	if (have_stats && st.oldest_us >= 0)
		jw_time(w, st.oldest_us);
	else
		jw_null(w);
	jw_key(w, "last_footage");
	if (newest.found && newest.seg.state == SEGMENT_WRITING)
		jw_time(w, now_us < newest.seg.start_us ? newest.seg.start_us : now_us);
	else if (have_stats && st.newest_us >= 0)
		jw_time(w, st.newest_us);
	else
		jw_null(w);
	struct catalog_inspection in = { 0 };
	jw_key(w, "picture");
	if (catalog_inspection_latest(web->catalog, cam->id, &in) == 0) {
		jw_begin_object(w);
		jw_kv_string(w, "state", in.state);
		jw_kv_time(w, "checked", in.checked_us);
		jw_kv_string(w, "reason", in.reason);
		jw_end_object(w);
	} else {
		jw_null(w);
	}
	catalog_inspection_release(&in);
	jw_key(w, "open_ticket");
	struct camera_ticket ct = { .camera = cam->id };
	if (web_tickets(web)) {
		struct ticket_filter tf = { .camera = cam->id };
		ticket_db_each(web_tickets(web), &tf, find_camera_ticket, &ct);
	}
	if (ct.id) {
		jw_begin_object(w);
		jw_kv_int(w, "id", ct.id);
		jw_kv_int(w, "level", ct.level);
		jw_kv_string(w, "kind", ct.kind);
		jw_end_object(w);
	} else {
		jw_null(w);
	}
	jw_end_object(w);
}

static enum MHD_Result get_cameras(struct web_request *r)
{
	int64_t now_us = clock_wall_us();
	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	jw_begin_array(&w);
	for (size_t i = 0; i < r->web->cfg->ncameras; i++) {
		const struct camera_config *cam = &r->web->cfg->cameras[i];
		if (web_user_sees_camera(&r->user, cam->id))
			camera_json(r, &w, cam, now_us);
	}
	jw_end_array(&w);
	return finish_json(r, &w, &b);
}

/* ---- GET /api/cameras/ID/picture.jpg --------------------------------------- */

/* The thumbnail of the camera's latest inspection: what a technician's
 * picture ticket links to. */
static enum MHD_Result get_picture(struct web_request *r)
{
	const char *camera = r->params[0];
	if (!web_camera_allowed(r, camera))
		return MHD_YES;
	struct catalog_inspection in = { 0 };
	int ret = catalog_inspection_latest(r->web->catalog, camera, &in);
	if (ret == -ENOENT || (ret == 0 && !in.thumbnail_len)) {
		catalog_inspection_release(&in);
		return web_reply_error(r, MHD_HTTP_NOT_FOUND,
				       "camera %s has no inspection picture yet", camera);
	}
	if (ret < 0)
		return reply_catalog_error(r, "reading the inspection", ret);
	struct MHD_Response *resp = MHD_create_response_from_buffer(in.thumbnail_len, in.thumbnail,
								    MHD_RESPMEM_MUST_COPY);
	char checked[40];
	time_format_utc(in.checked_us, checked, sizeof(checked));
	if (resp) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "image/jpeg");
		MHD_add_response_header(resp, "X-Vigil-Checked", checked);
		MHD_add_response_header(resp, "X-Vigil-Picture", in.state);
	}
	catalog_inspection_release(&in);
	web_audit(r, "view", camera, 0, 0, "picture.jpg");
	return web_reply_response(r, MHD_HTTP_OK, resp);
}

/* ---- GET /api/cameras/ID/spans ------------------------------------------- */

/* The camera's segment being written, found among the unfinished ones (a
 * partial index) rather than by listing every segment of the interval,
 * which for 90 days is 130,000 rows. */
struct writing {
	const char *camera;
	struct catalog_segment seg;
	bool found;
};

static int keep_writing(const struct catalog_segment *seg, void *ctx)
{
	struct writing *w = ctx;
	if (seg->state == SEGMENT_WRITING && strcmp(seg->camera, w->camera) == 0 &&
	    (!w->found || seg->start_us > w->seg.start_us)) {
		w->seg = *seg;
		w->found = true;
	}
	return 0;
}

struct runs_in {
	struct json_writer *w;
	int64_t from_us, to_us;
};

/* A run cut to the interval asked for, as the strip draws it. */
static int write_run(const struct catalog_run *run, void *ctx)
{
	struct runs_in *ri = ctx;
	jw_begin_object(ri->w);
	jw_kv_time(ri->w, "start", run->start_us > ri->from_us ? run->start_us : ri->from_us);
	jw_kv_time(ri->w, "end", run->end_us < ri->to_us ? run->end_us : ri->to_us);
	jw_end_object(ri->w);
	return 0;
}

struct holds_in {
	struct json_writer *w;
	int64_t from_us, to_us;
};

static int write_hold(const struct catalog_hold *h, void *ctx)
{
	struct holds_in *hi = ctx;
	if (h->end_us <= hi->from_us || h->start_us >= hi->to_us)
		return 0;
	jw_begin_object(hi->w);
	jw_kv_int(hi->w, "id", h->id);
	jw_kv_time(hi->w, "start", h->start_us);
	jw_kv_time(hi->w, "end", h->end_us);
	jw_kv_string(hi->w, "reason", h->reason);
	jw_end_object(hi->w);
	return 0;
}

static enum MHD_Result get_spans(struct web_request *r)
{
	const char *camera = r->params[0];
	int64_t from, to;
	if (!web_camera_allowed(r, camera) ||
	    !interval_params(r, &from, &to, SPANS_MAX_INTERVAL_US))
		return MHD_YES;
	int64_t now_us = clock_wall_us();
	/* What lies after now is not a gap yet. */
	int64_t until = to < now_us ? to : now_us;
	struct continuity_camera cc = { 0 };
	int ret = until > from ? continuity_compute_camera(r->web->catalog, camera, from, until,
							   now_us, &cc)
			       : 0;
	if (ret < 0)
		return reply_catalog_error(r, "the spans query", ret);

	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	jw_begin_object(&w);
	jw_kv_string(&w, "camera", camera);
	jw_kv_time(&w, "from", from);
	jw_kv_time(&w, "to", to);
	jw_kv_int(&w, "recorded_s", cc.recorded_us / 1000000);
	jw_kv_double(&w, "coverage_percent", cc.coverage_percent, 3);
	jw_key(&w, "spans");
	jw_begin_array(&w);
	struct runs_in ri = { &w, from, to };
	ret = catalog_runs_each(r->web->catalog, camera, from, to, write_run, &ri);
	/* The runs hold finished segments; the one being written is footage
	 * too, up to now, and the page plays it (live.mp4 or video.mp4). */
	struct writing live = { .camera = camera };
	if (ret == 0)
		ret = catalog_segments_unfinished(r->web->catalog, keep_writing, &live);
	if (ret == 0 && live.found && live.seg.start_us < to) {
		jw_begin_object(&w);
		jw_kv_time(&w, "start", live.seg.start_us > from ? live.seg.start_us : from);
		jw_kv_time(&w, "end", now_us < to ? now_us : to);
		jw_kv_bool(&w, "live", true);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_key(&w, "gaps");
	jw_begin_array(&w);
	for (size_t i = 0; i < cc.ngaps; i++) {
		const struct continuity_gap *g = &cc.gaps[i];
		jw_begin_object(&w);
		jw_kv_time(&w, "start", g->start_us);
		jw_kv_time(&w, "end", g->end_us);
		jw_kv_double(&w, "seconds", (double)(g->end_us - g->start_us) / 1e6, 3);
		jw_kv_string(&w, "reason", g->reason);
		jw_kv_string(&w, "detail", g->detail);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	/* Footage the retention rule removed, which the strip marks apart
	 * from the gaps nobody chose. */
	jw_key(&w, "deletions");
	jw_begin_array(&w);
	for (size_t i = 0; i < cc.ngaps; i++) {
		const struct continuity_gap *g = &cc.gaps[i];
		if (strcmp(g->reason, "deleted") != 0)
			continue;
		jw_begin_object(&w);
		jw_kv_time(&w, "start", g->start_us);
		jw_kv_time(&w, "end", g->end_us);
		jw_kv_string(&w, "reason", g->detail);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_key(&w, "holds");
	jw_begin_array(&w);
	struct holds_in hi = { &w, from, to };
	if (ret == 0)
		ret = catalog_holds_each(r->web->catalog, camera, false, write_hold, &hi);
	jw_end_array(&w);
	jw_end_object(&w);
	free(cc.gaps);
	if (ret < 0) {
		buf_release(&b);
		return reply_catalog_error(r, "the spans query", ret);
	}
	return finish_json(r, &w, &b);
}

/* ---- reports ----------------------------------------------------------------- */

static bool format_param(struct web_request *r, enum report_format *f)
{
	const char *v = web_query(r, "format");
	*f = REPORT_JSON;
	if (!v)
		return true;
	if (report_format_parse(v, f) < 0) {
		web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"format=%s: expected json, html, csv or text", v);
		return false;
	}
	return true;
}

static const char *format_type(enum report_format f)
{
	switch (f) {
	case REPORT_JSON: return "application/json; charset=utf-8";
	case REPORT_HTML: return "text/html; charset=utf-8";
	case REPORT_CSV: return "text/csv; charset=utf-8";
	case REPORT_TEXT: break;
	}
	return "text/plain; charset=utf-8";
}

/* Runs a report writer into memory and answers with what it wrote. */
typedef int (*report_writer_fn)(const void *rep, enum report_format f, FILE *out);

static enum MHD_Result reply_report(struct web_request *r, report_writer_fn write, const void *rep,
				    enum report_format f)
{
	char *data = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&data, &len);
	if (!mem)
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	/* The printable page speaks the user's language (each request has its
	 * own thread, and the writers take the language of theirs). */
	report_set_lang(r->lang == WEB_LANG_ZH ? REPORT_LANG_ZH : REPORT_LANG_EN);
	int ret = write(rep, f, mem);
	report_set_lang(REPORT_LANG_EN);
	if (fclose(mem) != 0 && ret == 0)
		ret = -EIO;
	if (ret == -ENOTSUP) {
		free(data);
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "this report has no %s format",
				       f == REPORT_CSV ? "csv" : "such");
	}
	if (ret < 0) {
		free(data);
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "the report could not be written");
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, format_type(f));
	if (f == REPORT_HTML)
		/* The printable pages carry their own inline style. */
		MHD_add_response_header(resp, "Content-Security-Policy",
					"default-src 'none'; style-src 'unsafe-inline'; img-src "
					"data: 'self'");
	return web_reply_response(r, MHD_HTTP_OK, resp);
}

static int write_continuity(const void *rep, enum report_format f, FILE *out)
{
	return continuity_write(rep, f, out);
}

static int write_retention(const void *rep, enum report_format f, FILE *out)
{
	return retention_report_write(rep, f, out);
}

static int write_sla(const void *rep, enum report_format f, FILE *out)
{
	return sla_report_write(rep, f, out);
}

static int write_inspection(const void *rep, enum report_format f, FILE *out)
{
	return inspection_report_write(rep, f, out);
}

/* Removes from an array of n elements of size bytes, each starting with
 * its camera id, those the user may not see; returns the new count.  The
 * removed elements are overwritten: only for arrays whose elements own no
 * memory. */
static size_t keep_visible(const struct web_user *u, void *items, size_t n, size_t size)
{
	char *base = items;
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		const char *camera = base + i * size;
		if (!web_user_sees_camera(u, camera))
			continue;
		if (kept != i)
			memcpy(base + kept * size, base + i * size, size);
		kept++;
	}
	return kept;
}

static enum MHD_Result get_report_continuity(struct web_request *r)
{
	const char *camera = web_query(r, "camera");
	int64_t from, to;
	enum report_format f;
	if ((camera && !web_camera_allowed(r, camera)) || !interval_params(r, &from, &to, 0) ||
	    !format_param(r, &f))
		return MHD_YES;
	struct continuity_report rep;
	int ret = continuity_compute(r->web->cfg, r->web->catalog, camera, from, to,
				     clock_wall_us(), &rep);
	if (ret < 0)
		return reply_catalog_error(r, "the continuity report", ret);
	/* the struct's first member is the camera id */
	size_t kept = 0;
	for (size_t i = 0; i < rep.ncameras; i++) {
		if (web_user_sees_camera(&r->user, rep.cameras[i].camera)) {
			struct continuity_camera tmp = rep.cameras[kept];
			rep.cameras[kept++] = rep.cameras[i];
			rep.cameras[i] = tmp;
		}
	}
	size_t all = rep.ncameras;
	rep.ncameras = kept;
	enum MHD_Result res = reply_report(r, write_continuity, &rep, f);
	rep.ncameras = all;
	continuity_release(&rep);
	return res;
}

static enum MHD_Result get_report_retention(struct web_request *r)
{
	enum report_format f;
	if (!format_param(r, &f))
		return MHD_YES;
	int64_t now_us = clock_wall_us();
	int64_t period_from = 0;
	if (!web_time_param(r, "from", &period_from, false))
		return MHD_YES;
	struct retention_report rep;
	int ret = retention_report_compute(r->web->cfg, r->web->catalog, now_us,
					   period_from ? period_from : now_us - 90 * 86400000000LL,
					   &rep);
	if (ret < 0)
		return reply_catalog_error(r, "the retention report", ret);
	rep.ncameras = keep_visible(&r->user, rep.cameras, rep.ncameras, sizeof(rep.cameras[0]));
	size_t held = 0;
	for (size_t i = 0; i < rep.nholds; i++)
		if (web_user_sees_camera(&r->user, rep.holds[i].camera))
			rep.holds[held++] = rep.holds[i];
	rep.nholds = held;
	enum MHD_Result res = reply_report(r, write_retention, &rep, f);
	retention_report_release(&rep);
	return res;
}

static enum MHD_Result get_report_sla(struct web_request *r)
{
	enum report_format f;
	const char *quarter = web_query(r, "quarter");
	int64_t from, to;
	if (!format_param(r, &f) || !web_role_at_least(r, WEB_OPERATOR))
		return MHD_YES;
	if (!quarter || time_quarter_parse(quarter, &from, &to) < 0)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				       "quarter=%s: expected a quarter such as 2026Q4",
				       quarter ? quarter : "");
	struct sla_report rep;
	char err[256];
	int ret = sla_report_compute(r->web->cfg, quarter, from, to, clock_wall_us(), &rep, err,
				     sizeof(err));
	if (ret == -ENOENT)
		return web_reply_error(r, MHD_HTTP_NOT_FOUND, "%s", err);
	if (ret < 0)
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
	enum MHD_Result res = reply_report(r, write_sla, &rep, f);
	sla_report_release(&rep);
	return res;
}

static enum MHD_Result get_report_inspection(struct web_request *r)
{
	enum report_format f;
	const char *week = web_query(r, "week");
	int64_t from, to;
	if (!format_param(r, &f))
		return MHD_YES;
	if (!week || time_week_parse(week, &from, &to) < 0)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				       "week=%s: expected an ISO week such as 2026-W47",
				       week ? week : "");
	struct inspection_report rep;
	char err[256];
	int ret = inspection_report_compute(r->web->cfg, r->web->catalog, week, from, to,
					    clock_wall_us(), &rep, err, sizeof(err));
	if (ret < 0)
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
	struct inspection_camera *cams = rep.cameras;
	size_t kept = 0;
	for (size_t i = 0; i < rep.ncameras; i++) {
		if (web_user_sees_camera(&r->user, cams[i].camera)) {
			struct inspection_camera tmp = cams[kept];
			cams[kept++] = cams[i];
			cams[i] = tmp;
		}
	}
	size_t all = rep.ncameras;
	rep.ncameras = kept;
	enum MHD_Result res = reply_report(r, write_inspection, &rep, f);
	rep.ncameras = all;
	inspection_report_release(&rep);
	return res;
}

/* ---- tickets ------------------------------------------------------------------ */

struct ticket_list {
	struct json_writer *w;
	const struct web_user *user;
	int64_t now_us;
};

static int write_ticket(const struct ticket *t, void *ctx)
{
	struct ticket_list *tl = ctx;
	if (t->camera[0] && !web_user_sees_camera(tl->user, t->camera))
		return 0;
	jw_begin_object(tl->w);
	ticket_json_fields(tl->w, t, tl->now_us);
	char text[1024];
	ticket_text(t, tl->now_us, text, sizeof(text));
	jw_kv_string(tl->w, "text", text);
	jw_end_object(tl->w);
	return 0;
}

static bool have_tickets(struct web_request *r)
{
	if (web_tickets(r->web))
		return true;
	web_reply_error(r, MHD_HTTP_NOT_FOUND,
			"no ticket database yet (%s): vigil check has not run",
			r->web->cfg->checker_database);
	return false;
}

static enum MHD_Result get_tickets(struct web_request *r)
{
	const char *all = web_query(r, "all");
	if (!web_tickets(r->web)) {
		/* No checker has run: no tickets, which the pages show as such. */
		return web_reply_bytes(r, MHD_HTTP_OK, "application/json; charset=utf-8", "[]\n",
				       3);
	}
	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	struct ticket_list tl = { &w, &r->user, clock_wall_us() };
	struct ticket_filter f = { .include_resolved = all && strcmp(all, "1") == 0 };
	jw_begin_array(&w);
	int ret = ticket_db_each(web_tickets(r->web), &f, write_ticket, &tl);
	jw_end_array(&w);
	if (ret < 0) {
		buf_release(&b);
		return reply_catalog_error(r, "the ticket list", ret);
	}
	return finish_json(r, &w, &b);
}

static enum MHD_Result ticket_action(struct web_request *r, bool resolve)
{
	int64_t id;
	char note[512];
	if (!web_role_at_least(r, WEB_OPERATOR) || !have_tickets(r) ||
	    !parse_id(r, r->params[0], &id) || !body_string(r, "note", note, sizeof(note), false))
		return MHD_YES;
	struct ticket t;
	int ret = ticket_db_get(web_tickets(r->web), id, &t);
	if (ret == -ENOENT ||
	    (ret == 0 && t.camera[0] && !web_user_sees_camera(&r->user, t.camera)))
		return web_reply_error(r, MHD_HTTP_NOT_FOUND, "no ticket %" PRId64, id);
	if (ret < 0)
		return reply_catalog_error(r, "reading the ticket", ret);
	int64_t now_us = clock_wall_us();
	ret = resolve ? tickets_resolve(web_tickets(r->web), id, now_us, r->user.name,
					note[0] ? note : NULL)
		      : tickets_acknowledge(web_tickets(r->web), id, now_us, r->user.name,
					    note[0] ? note : NULL);
	const char *verb = resolve ? "resolved" : "acknowledged";
	if (ret == -EALREADY)
		return web_reply_error(r, MHD_HTTP_CONFLICT, "ticket %" PRId64 " is already %s", id,
				       verb);
	if (ret == -ESTALE)
		return web_reply_error(r, MHD_HTTP_CONFLICT,
				       "ticket %" PRId64 " is resolved; nothing to acknowledge",
				       id);
	if (ret == -EINVAL)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "%s is not a person's name",
				       r->user.name);
	if (ret < 0)
		return reply_catalog_error(r, "changing the ticket", ret);
	char detail[64];
	snprintf(detail, sizeof(detail), "ticket %" PRId64, id);
	web_audit(r, resolve ? "ticket-resolve" : "ticket-ack", t.camera[0] ? t.camera : NULL, 0, 0,
		  detail);
	ret = ticket_db_get(web_tickets(r->web), id, &t);
	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	if (ret == 0)
		ticket_json(&w, &t, now_us);
	else
		jw_null(&w);
	return finish_json(r, &w, &b);
}

static enum MHD_Result post_ticket_ack(struct web_request *r)
{
	return ticket_action(r, false);
}

static enum MHD_Result post_ticket_resolve(struct web_request *r)
{
	return ticket_action(r, true);
}

/* ---- holds ---------------------------------------------------------------------- */

static void hold_json(struct json_writer *w, const struct catalog_hold *h)
{
	jw_begin_object(w);
	jw_kv_int(w, "id", h->id);
	jw_kv_string(w, "camera", h->camera);
	jw_kv_time(w, "from", h->start_us);
	jw_kv_time(w, "to", h->end_us);
	jw_kv_string(w, "reason", h->reason);
	jw_kv_time(w, "placed", h->placed_us);
	jw_key(w, "released");
	if (h->released_us >= 0)
		jw_time(w, h->released_us);
	else
		jw_null(w);
	jw_kv_string(w, "release_reason", h->release_reason);
	jw_end_object(w);
}

struct hold_list {
	struct json_writer *w;
	const struct web_user *user;
};

static int write_hold_row(const struct catalog_hold *h, void *ctx)
{
	struct hold_list *hl = ctx;
	if (web_user_sees_camera(hl->user, h->camera))
		hold_json(hl->w, h);
	return 0;
}

static enum MHD_Result get_holds(struct web_request *r)
{
	const char *all = web_query(r, "all");
	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	struct hold_list hl = { &w, &r->user };
	jw_begin_array(&w);
	int ret = catalog_holds_each(r->web->catalog, NULL, all && strcmp(all, "1") == 0,
				     write_hold_row, &hl);
	jw_end_array(&w);
	if (ret < 0) {
		buf_release(&b);
		return reply_catalog_error(r, "the hold list", ret);
	}
	return finish_json(r, &w, &b);
}

static enum MHD_Result post_hold(struct web_request *r)
{
	char camera[CATALOG_CAMERA_MAX], reason[180];
	int64_t from, to;
	if (!web_role_at_least(r, WEB_OPERATOR) ||
	    !body_string(r, "camera", camera, sizeof(camera), true) ||
	    !web_camera_allowed(r, camera) || !body_time(r, "from", &from) ||
	    !body_time(r, "to", &to) || !body_string(r, "reason", reason, sizeof(reason), true))
		return MHD_YES;
	if (to <= from)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "to must be after from");
	int64_t now_us = clock_wall_us(), id;
	char why[256];
	snprintf(why, sizeof(why), "%s (by %s)", reason, r->user.name);
	int ret = catalog_hold_add(r->web->catalog, camera, from, to, why, now_us, &id);
	if (ret < 0)
		return reply_catalog_error(r, "placing the hold", ret);
	web_audit(r, "hold-add", camera, from, to, reason);
	struct catalog_hold h = {
		.id = id, .start_us = from, .end_us = to, .placed_us = now_us, .released_us = -1
	};
	snprintf(h.camera, sizeof(h.camera), "%s", camera);
	snprintf(h.reason, sizeof(h.reason), "%s", why);
	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	hold_json(&w, &h);
	if (jw_finish(&w) < 0) {
		buf_release(&b);
		return MHD_NO;
	}
	return web_reply_json(r, MHD_HTTP_CREATED, &b);
}

struct find_hold {
	int64_t id;
	struct catalog_hold hold;
	bool found;
};

static int match_hold(const struct catalog_hold *h, void *ctx)
{
	struct find_hold *fh = ctx;
	if (h->id != fh->id)
		return 0;
	fh->hold = *h;
	fh->found = true;
	return 1;
}

static enum MHD_Result post_hold_release(struct web_request *r)
{
	int64_t id;
	char reason[180];
	if (!web_role_at_least(r, WEB_OPERATOR) || !parse_id(r, r->params[0], &id) ||
	    !body_string(r, "reason", reason, sizeof(reason), true))
		return MHD_YES;
	struct find_hold fh = { .id = id };
	int ret = catalog_holds_each(r->web->catalog, NULL, true, match_hold, &fh);
	if (ret < 0)
		return reply_catalog_error(r, "finding the hold", ret);
	if (!fh.found || !web_user_sees_camera(&r->user, fh.hold.camera))
		return web_reply_error(r, MHD_HTTP_NOT_FOUND, "no hold %" PRId64, id);
	char why[256];
	snprintf(why, sizeof(why), "%s (by %s)", reason, r->user.name);
	ret = catalog_hold_release(r->web->catalog, id, why, clock_wall_us());
	if (ret == -EALREADY)
		return web_reply_error(r, MHD_HTTP_CONFLICT, "hold %" PRId64 " is already released",
				       id);
	if (ret < 0)
		return reply_catalog_error(r, "releasing the hold", ret);
	web_audit(r, "hold-release", fh.hold.camera, fh.hold.start_us, fh.hold.end_us, reason);
	fh.found = false;
	catalog_holds_each(r->web->catalog, NULL, true, match_hold, &fh);
	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	hold_json(&w, &fh.hold);
	return finish_json(r, &w, &b);
}

/* ---- exports -------------------------------------------------------------------- */

/*
 * Exports live in STORAGE/exports as N-CAMERA.mp4 with the manifest beside
 * each: the folder is the list, so nothing about them needs a database.
 * They stay until an operator deletes them from that folder.
 */
static int exports_dir(const struct config *cfg, char *out, size_t size)
{
	return fs_join(out, size, cfg->storage_path, "exports");
}

struct export_file {
	int64_t id;
	char camera[CATALOG_CAMERA_MAX];
	char name[CATALOG_PATH_MAX];
};

/* Calls fn for each export file (not the manifests), in no order. */
static int exports_each(const struct config *cfg, int (*fn)(const struct export_file *, void *),
			void *ctx)
{
	char dir[4096];
	if (exports_dir(cfg, dir, sizeof(dir)) < 0)
		return -ENAMETOOLONG;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	int ret = 0;
	while (ret == 0 && (de = readdir(d))) {
		struct export_file ef = { 0 };
		char *dash;
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".mp4") != 0 || n >= sizeof(ef.name))
			continue;
		ef.id = strtoll(de->d_name, &dash, 10);
		if (ef.id <= 0 || *dash != '-')
			continue;
		size_t clen = (size_t)(de->d_name + n - 4 - (dash + 1));
		if (clen == 0 || clen >= sizeof(ef.camera))
			continue;
		memcpy(ef.camera, dash + 1, clen);
		memcpy(ef.name, de->d_name, n + 1);
		ret = fn(&ef, ctx);
	}
	closedir(d);
	return ret < 0 ? ret : 0;
}

static int max_export_id(const struct export_file *ef, void *ctx)
{
	int64_t *max = ctx;
	if (ef->id > *max)
		*max = ef->id;
	return 0;
}

/* The manifest of an export, read whole (it is small). */
static int read_manifest(const struct config *cfg, const struct export_file *ef, struct buf *out)
{
	char dir[4096], path[4400];
	if (exports_dir(cfg, dir, sizeof(dir)) < 0)
		return -ENAMETOOLONG;
	snprintf(path, sizeof(path), "%s/%s.manifest.json", dir, ef->name);
	return fs_read_file(path, out, 16 * 1024 * 1024);
}

static pthread_mutex_t export_lock = PTHREAD_MUTEX_INITIALIZER;

static enum MHD_Result post_export(struct web_request *r)
{
	char camera[CATALOG_CAMERA_MAX];
	int64_t from, to;
	if (!web_role_at_least(r, WEB_OPERATOR) ||
	    !body_string(r, "camera", camera, sizeof(camera), true) ||
	    !web_camera_allowed(r, camera) || !body_time(r, "from", &from) ||
	    !body_time(r, "to", &to))
		return MHD_YES;
	if (to <= from)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "to must be after from");
	if (to - from > 24 * 3600 * 1000000LL)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				       "an export from the console is at most 24 hours; use vigil "
				       "export for longer");
	char dir[4096], path[4400];
	if (exports_dir(r->web->cfg, dir, sizeof(dir)) < 0 || fs_mkdir_p(dir, 0750) < 0)
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "cannot create the exports folder %s", dir);
	/* One export at a time: each is a remux that reads a lot of footage,
	 * and the id is the next free number. */
	pthread_mutex_lock(&export_lock);
	int64_t id = 0;
	exports_each(r->web->cfg, max_export_id, &id);
	id++;
	snprintf(path, sizeof(path), "%s/%" PRId64 "-%s.mp4", dir, id, camera);
	struct export_request req = {
		.camera = camera, .from_us = from, .to_us = to, .out_path = path
	};
	struct export_result res;
	char err[512];
	int ret = retention_export(r->web->cfg, r->web->catalog, &req, &res, err, sizeof(err));
	pthread_mutex_unlock(&export_lock);
	if (ret == -ENOENT || ret == -ENODATA)
		return web_reply_error(r, MHD_HTTP_NOT_FOUND, "%s", err);
	if (ret < 0)
		return web_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "%s", err);
	web_audit(r, "export", camera, from, to, res.sha256);

	struct export_file ef = { .id = id };
	snprintf(ef.camera, sizeof(ef.camera), "%s", camera);
	snprintf(ef.name, sizeof(ef.name), "%" PRId64 "-%s.mp4", id, camera);
	struct buf manifest;
	buf_init(&manifest, 16 * 1024 * 1024);
	read_manifest(r->web->cfg, &ef, &manifest);

	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	jw_begin_object(&w);
	jw_kv_int(&w, "id", id);
	jw_kv_string(&w, "camera", camera);
	jw_kv_time(&w, "from", from);
	jw_kv_time(&w, "to", to);
	jw_kv_string(&w, "sha256", res.sha256);
	jw_kv_int(&w, "bytes", res.bytes);
	jw_kv_int(&w, "segments", res.segments);
	jw_kv_int(&w, "gaps", res.gaps);
	jw_kv_double(&w, "duration_s", res.duration_s, 3);
	char url[128];
	snprintf(url, sizeof(url), "/api/exports/%" PRId64 "/file", id);
	jw_kv_string(&w, "file", url);
	snprintf(url, sizeof(url), "/api/exports/%" PRId64 "/manifest", id);
	jw_kv_string(&w, "manifest", url);
	jw_end_object(&w);
	buf_release(&manifest);
	if (jw_finish(&w) < 0) {
		buf_release(&b);
		return MHD_NO;
	}
	return web_reply_json(r, MHD_HTTP_CREATED, &b);
}

struct export_list {
	struct web_request *r;
	struct json_writer *w;
};

static int write_export(const struct export_file *ef, void *ctx)
{
	struct export_list *el = ctx;
	if (!web_user_sees_camera(&el->r->user, ef->camera))
		return 0;
	char dir[4096], path[4400];
	struct stat st;
	if (exports_dir(el->r->web->cfg, dir, sizeof(dir)) < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, ef->name);
	if (stat(path, &st) < 0)
		return 0;
	char sha[CATALOG_HEX_SIZE] = "";
	struct buf manifest;
	buf_init(&manifest, 16 * 1024 * 1024);
	if (read_manifest(el->r->web->cfg, ef, &manifest) == 0)
		jread_scalar(manifest.data, manifest.len, "output.sha256", sha, sizeof(sha));
	buf_release(&manifest);
	jw_begin_object(el->w);
	jw_kv_int(el->w, "id", ef->id);
	jw_kv_string(el->w, "camera", ef->camera);
	jw_kv_int(el->w, "bytes", st.st_size);
	jw_kv_time(el->w, "created", (int64_t)st.st_mtime * 1000000);
	jw_kv_string(el->w, "sha256", sha);
	jw_end_object(el->w);
	return 0;
}

static enum MHD_Result get_exports(struct web_request *r)
{
	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	struct export_list el = { r, &w };
	jw_begin_array(&w);
	int ret = exports_each(r->web->cfg, write_export, &el);
	jw_end_array(&w);
	if (ret < 0) {
		buf_release(&b);
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "cannot list the exports: %s", strerror(-ret));
	}
	return finish_json(r, &w, &b);
}

struct find_export {
	int64_t id;
	struct export_file ef;
	bool found;
};

static int match_export(const struct export_file *ef, void *ctx)
{
	struct find_export *fe = ctx;
	if (ef->id != fe->id)
		return 0;
	fe->ef = *ef;
	fe->found = true;
	return 1;
}

/* The export named by the path, if the user may see it; else answered. */
static bool lookup_export(struct web_request *r, struct export_file *ef)
{
	struct find_export fe;
	if (!parse_id(r, r->params[0], &fe.id))
		return false;
	fe.found = false;
	exports_each(r->web->cfg, match_export, &fe);
	if (!fe.found || !web_user_sees_camera(&r->user, fe.ef.camera)) {
		web_reply_error(r, MHD_HTTP_NOT_FOUND, "no export %s", r->params[0]);
		return false;
	}
	*ef = fe.ef;
	return true;
}

static enum MHD_Result reply_file(struct web_request *r, const char *path, const char *type,
				  const char *download_name)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return web_reply_error(r, MHD_HTTP_NOT_FOUND, "the file is gone");
	}
	/* libmicrohttpd sends it with sendfile and closes fd when done. */
	struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	char disp[400];
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", download_name);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	return web_reply_response(r, MHD_HTTP_OK, resp);
}

static enum MHD_Result get_export_file(struct web_request *r)
{
	struct export_file ef;
	if (!web_role_at_least(r, WEB_OPERATOR) || !lookup_export(r, &ef))
		return MHD_YES;
	char dir[4096], path[4400];
	exports_dir(r->web->cfg, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, ef.name);
	web_audit(r, "export-download", ef.camera, 0, 0, ef.name);
	return reply_file(r, path, "video/mp4", ef.name);
}

static enum MHD_Result get_export_manifest(struct web_request *r)
{
	struct export_file ef;
	if (!web_role_at_least(r, WEB_OPERATOR) || !lookup_export(r, &ef))
		return MHD_YES;
	char dir[4096], path[4400], name[CATALOG_PATH_MAX + 16];
	exports_dir(r->web->cfg, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s.manifest.json", dir, ef.name);
	snprintf(name, sizeof(name), "%s.manifest.json", ef.name);
	return reply_file(r, path, "application/json; charset=utf-8", name);
}

/* ---- recorders -------------------------------------------------------------------- */

struct recorder_list {
	struct ticket_db *db;
	struct json_writer *w;
};

static int count_down(const struct ticket_recorder_camera *c, void *ctx)
{
	int *down = ctx;
	if (c->state[0] && strcmp(c->state, "recording") != 0)
		(*down)++;
	return 0;
}

/* Every recorder the checker has seen (from their inventories and health),
 * with the link to each one's own console. */
static int write_recorder(const struct ticket_recorder *rec, void *ctx)
{
	struct recorder_list *l = ctx;
	struct json_writer *w = l->w;
	int down = 0;
	ticket_db_recorder_cameras_each(l->db, rec->recorder, count_down, &down);
	jw_begin_object(w);
	jw_kv_string(w, "id", rec->recorder);
	jw_kv_string(w, "site", rec->site);
	jw_kv_string(w, "state", rec->state[0] ? rec->state : "unknown");
	time_or_null(w, "since", rec->state_since_us);
	time_or_null(w, "last_seen", rec->last_seen_us);
	jw_kv_string(w, "version", rec->version);
	jw_kv_string(w, "console_url", rec->console_url);
	jw_kv_int(w, "cameras", rec->ncameras);
	jw_kv_int(w, "cameras_down", down);
	jw_end_object(w);
	return 0;
}

static enum MHD_Result get_recorders(struct web_request *r)
{
	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	struct recorder_list l = { web_tickets(r->web), &w };
	jw_begin_array(&w);
	int ret = l.db ? ticket_db_recorders_each(l.db, write_recorder, &l) : 0;
	jw_end_array(&w);
	if (ret < 0) {
		buf_release(&b);
		return reply_catalog_error(r, "the recorder list", ret);
	}
	return finish_json(r, &w, &b);
}

const struct web_route web_api_routes[] = {
	{ "GET", "/healthz", WEB_PUBLIC, get_healthz },
	{ "GET", "/api/cameras", WEB_SESSION, get_cameras },
	{ "GET", "/api/cameras/{}/spans", WEB_SESSION, get_spans },
	{ "GET", "/api/cameras/{}/picture.jpg", WEB_SESSION, get_picture },
	{ "GET", "/api/reports/continuity", WEB_SESSION, get_report_continuity },
	{ "GET", "/api/reports/retention", WEB_SESSION, get_report_retention },
	{ "GET", "/api/reports/sla", WEB_SESSION, get_report_sla },
	{ "GET", "/api/reports/inspection", WEB_SESSION, get_report_inspection },
	{ "GET", "/api/tickets", WEB_SESSION, get_tickets },
	{ "POST", "/api/tickets/{}/ack", WEB_SESSION, post_ticket_ack },
	{ "POST", "/api/tickets/{}/resolve", WEB_SESSION, post_ticket_resolve },
	{ "GET", "/api/holds", WEB_SESSION, get_holds },
	{ "POST", "/api/holds", WEB_SESSION, post_hold },
	{ "POST", "/api/holds/{}/release", WEB_SESSION, post_hold_release },
	{ "GET", "/api/exports", WEB_SESSION, get_exports },
	{ "POST", "/api/exports", WEB_SESSION, post_export },
	{ "GET", "/api/exports/{}/file", WEB_SESSION, get_export_file },
	{ "GET", "/api/exports/{}/manifest", WEB_SESSION, get_export_manifest },
	{ "GET", "/api/recorders", WEB_SESSION, get_recorders },
	{ NULL, NULL, WEB_PUBLIC, NULL },
};
