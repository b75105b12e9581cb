/*
 * The weekly inspection record: per camera the uptime over the part of the
 * week it existed (continuity's count of recorded time, so it agrees with
 * the continuity report) and the gaps the recorder logged; the tickets of
 * the recorder opened and closed in the week; the disk and forecast as the
 * recorder last reported them (or, without a report, the storage as it is
 * now); per camera its picture inspection over the week (the latest
 * check's state, how many checks failed, the camera's clock offset and the
 * newest thumbnail); and, from the ticket database, every recorder the
 * checker has seen, by site.  Computed into a struct; written as text, JSON
 * or a printable HTML page with a line to sign.  The page stays one
 * self-contained file: the thumbnails are inline data: images.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "report/page.h"
#include "report/report.h"
#include "util/buf.h"
#include "util/db.h"
#include "util/clock.h"
#include "util/jread.h"
#include "util/json.h"
#include "util/redact.h"
#include "util/timefmt.h"
#include "util/banned.h"

/* ---- compute ------------------------------------------------------------ */

struct ticket_list {
	struct ticket *v;
	size_t n, cap;
};

static int collect_ticket(const struct ticket *t, void *ctx)
{
	struct ticket_list *l = ctx;
	if (array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return -ENOMEM;
	l->v[l->n++] = *t;
	return 0;
}

struct build {
	const struct config *cfg;
	struct inspection_report *rep;
	size_t cap;
	int64_t *created; /* per camera, -1: not in the catalog */
	size_t created_cap;
};

static int camera_add(struct build *b, const char *camera, int64_t created_us)
{
	struct inspection_report *rep = b->rep;
	for (size_t i = 0; i < rep->ncameras; i++) {
		if (strcmp(rep->cameras[i].camera, camera) == 0) {
			b->created[i] = created_us;
			return 0;
		}
	}
	if (array_reserve(&rep->cameras, &b->cap, rep->ncameras + 1, sizeof(*rep->cameras)) < 0 ||
	    array_reserve(&b->created, &b->created_cap, rep->ncameras + 1, sizeof(*b->created)) < 0)
		return -ENOMEM;
	struct inspection_camera *c = &rep->cameras[rep->ncameras];
	const struct camera_config *cc = config_camera(b->cfg, camera);
	memset(c, 0, sizeof(*c));
	snprintf(c->camera, sizeof(c->camera), "%s", camera);
	c->site = cc && cc->site ? cc->site : "";
	c->location = cc && cc->location ? cc->location : "";
	c->checked_us = c->thumbnail_us = -1;
	b->created[rep->ncameras++] = created_us;
	return 0;
}

static int add_catalog_camera(const struct catalog_camera_stats *st, void *ctx)
{
	return camera_add(ctx, st->camera, st->created_us);
}

static int add_gap(const struct catalog_gap *g, void *ctx)
{
	struct inspection_camera *c = ctx;
	struct inspection_gap *p = realloc(c->gaps, (c->ngaps + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	c->gaps = p;
	p[c->ngaps++] = (struct inspection_gap){ g->start_us, g->end_us, g->reason };
	return 0;
}

/* The camera's picture inspection over the week. */
static int measure_picture(struct catalog *cat, const struct inspection_report *rep,
			   struct inspection_camera *c)
{
	struct catalog_inspection_summary sum;
	int ret = catalog_inspection_summary(cat, c->camera, rep->from_us, rep->to_us, true, &sum);
	if (ret < 0)
		return ret;
	c->checks = sum.checks;
	c->failed = sum.failed;
	c->checked_us = sum.latest.checked_us;
	if (c->checked_us >= 0) {
		snprintf(c->picture, sizeof(c->picture), "%s", sum.latest.state);
		snprintf(c->picture_reason, sizeof(c->picture_reason), "%s", sum.latest.reason);
		c->clock_known = sum.latest.clock_known;
		c->clock_offset_s = (double)sum.latest.clock_offset_us / USEC_PER_SEC;
	} else {
		snprintf(c->picture, sizeof(c->picture), "unknown");
		snprintf(c->picture_reason, sizeof(c->picture_reason), "no check in the week");
	}
	c->thumbnail = sum.thumbnail;
	c->thumbnail_len = sum.thumbnail_len;
	c->thumbnail_us = sum.thumbnail_us;
	return 0;
}

/* Uptime over the part of the week the camera existed, up to now, as the
 * continuity report counts it; and the gap rows of the week. */
static int measure_camera(struct catalog *cat, const struct inspection_report *rep,
			  int64_t created_us, struct inspection_camera *c)
{
	int64_t from = rep->from_us,
		to = rep->to_us < rep->generated_us ? rep->to_us : rep->generated_us;
	if (created_us > from)
		from = created_us;
	c->window_us = to > from ? to - from : 0;
	if (c->window_us > 0) {
		struct continuity_camera cc;
		int ret =
			continuity_compute_camera(cat, c->camera, from, to, rep->generated_us, &cc);
		if (ret < 0)
			return ret;
		free(cc.gaps);
		c->recorded_us = cc.recorded_us > c->window_us ? c->window_us : cc.recorded_us;
	}
	struct catalog_filter g = { .camera = c->camera,
				    .from_us = rep->from_us,
				    .to_us = rep->to_us };
	int ret = catalog_gaps_each(cat, &g, add_gap, c);
	if (ret < 0)
		return ret;
	return measure_picture(cat, rep, c);
}

static int count_camera(const struct ticket *v, size_t n, const char *camera)
{
	int count = 0;
	for (size_t k = 0; k < n; k++)
		count += strcmp(v[k].camera, camera) == 0;
	return count;
}

/* This recorder's tickets opened and closed in the week. */
static int read_tickets(struct ticket_db *db, const struct config *cfg,
			struct inspection_report *rep)
{
	struct ticket_filter o = { .include_resolved = true,
				   .opened_from_us = rep->from_us,
				   .opened_to_us = rep->to_us,
				   .recorder = cfg->recorder_id };
	struct ticket_filter c = { .include_resolved = true,
				   .resolved_from_us = rep->from_us,
				   .resolved_to_us = rep->to_us,
				   .recorder = cfg->recorder_id };
	struct ticket_list opened = { 0 }, closed = { 0 };
	int ret;

	if ((ret = ticket_db_each(db, &o, collect_ticket, &opened)) == 0)
		ret = ticket_db_each(db, &c, collect_ticket, &closed);
	rep->opened = opened.v;
	rep->nopened = opened.n;
	rep->closed = closed.v;
	rep->nclosed = closed.n;
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < rep->ncameras; i++) {
		struct inspection_camera *cam = &rep->cameras[i];
		cam->opened = count_camera(rep->opened, rep->nopened, cam->camera);
		cam->closed = count_camera(rep->closed, rep->nclosed, cam->camera);
	}
	return 0;
}

/* ---- the fleet ------------------------------------------------------------ */

struct fleet_build {
	struct inspection_report *rep;
	size_t site_cap, rec_cap; /* of the fleet, and of its last site's recorders */
};

static int count_down(const struct ticket_recorder_camera *c, void *ctx)
{
	int *down = ctx;
	/* degraded still records; a camera never heard of is not counted */
	if (c->state[0] && strcmp(c->state, "recording") != 0 && strcmp(c->state, "degraded") != 0)
		(*down)++;
	return 0;
}

static int add_recorder(const struct ticket_recorder *r, void *ctx)
{
	struct fleet_build *b = ctx;
	struct inspection_report *rep = b->rep;
	struct inspection_site *site = rep->nfleet ? &rep->fleet[rep->nfleet - 1] : NULL;
	/* recorders_each comes by site, so a site is one run */
	if (!site || strcmp(site->site, r->site) != 0) {
		if (array_reserve(&rep->fleet, &b->site_cap, rep->nfleet + 1, sizeof(*rep->fleet)) <
		    0)
			return -ENOMEM;
		site = &rep->fleet[rep->nfleet++];
		memset(site, 0, sizeof(*site));
		snprintf(site->site, sizeof(site->site), "%s", r->site);
		b->rec_cap = 0;
	}
	if (array_reserve(&site->recorders, &b->rec_cap, site->nrecorders + 1,
			  sizeof(*site->recorders)) < 0)
		return -ENOMEM;
	struct inspection_recorder *e = &site->recorders[site->nrecorders++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", r->recorder);
	snprintf(e->state, sizeof(e->state), "%s", r->state);
	snprintf(e->console_url, sizeof(e->console_url), "%s", r->console_url);
	e->last_seen_us = r->last_seen_us;
	e->cameras = r->ncameras;
	/* callbacks of one each must not nest in another: counted after */
	return 0;
}

static int count_cameras_down(struct ticket_db *db, struct inspection_report *rep)
{
	for (size_t i = 0; i < rep->nfleet; i++) {
		struct inspection_site *site = &rep->fleet[i];
		for (size_t k = 0; k < site->nrecorders; k++) {
			struct inspection_recorder *e = &site->recorders[k];
			int ret = ticket_db_recorder_cameras_each(db, e->id, count_down,
								  &e->cameras_down);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* Every recorder the checker has seen, grouped by site. */
static int read_fleet(struct ticket_db *db, struct inspection_report *rep)
{
	struct fleet_build b = { .rep = rep };
	int ret = ticket_db_recorders_each(db, add_recorder, &b);
	if (ret == 0)
		ret = count_cameras_down(db, rep);
	rep->fleet_known = ret == 0;
	return ret;
}

/* The disk and forecast of the recorder's last health message. */
static void recorder_reported(struct ticket_db *db, const char *recorder,
			      struct inspection_report *rep)
{
	char payload[16384], v[64];
	int64_t updated;
	if (!db || ticket_db_recorder_payload(db, recorder, payload, sizeof(payload), &updated) < 0)
		return;
	size_t len = strlen(payload);
	rep->reported = true;
	rep->reported_us = updated;
	if (jread_scalar(payload, len, "at", v, sizeof(v)) == 0)
		time_parse(v, &rep->reported_us);
	if (jread_scalar(payload, len, "disk.total_bytes", v, sizeof(v)) == 0)
		rep->disk_total = strtoll(v, NULL, 10);
	if (jread_scalar(payload, len, "disk.free_bytes", v, sizeof(v)) == 0)
		rep->disk_free = strtoll(v, NULL, 10);
	if (jread_scalar(payload, len, "forecast_days", v, sizeof(v)) == 0)
		rep->forecast_days = strtod(v, NULL);
	if (jread_scalar(payload, len, "oldest_footage", v, sizeof(v)) == 0)
		time_parse(v, &rep->oldest_us);
}

/* Without a health message: the storage and the catalog as they are now. */
static void storage_now(const struct config *cfg, struct catalog *cat,
			struct inspection_report *rep)
{
	struct statvfs vfs;
	if (statvfs(cfg->storage_path, &vfs) == 0) {
		rep->disk_total = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
		rep->disk_free = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
	}
	for (size_t i = 0; i < rep->ncameras; i++) {
		struct catalog_camera_stats st;
		if (catalog_camera_stats(cat, rep->cameras[i].camera, &st) == 0 &&
		    st.oldest_us >= 0 && (rep->oldest_us < 0 || st.oldest_us < rep->oldest_us))
			rep->oldest_us = st.oldest_us;
	}
}

static void report_init(const struct config *cfg, const char *week, int64_t from_us, int64_t to_us,
			int64_t now_us, struct inspection_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	snprintf(rep->week, sizeof(rep->week), "%s", week);
	rep->recorder = cfg->recorder_id;
	rep->site = cfg->site ? cfg->site : "";
	rep->from_us = from_us;
	rep->to_us = to_us;
	rep->generated_us = now_us;
	rep->disk_total = rep->disk_free = -1;
	rep->forecast_days = -1;
	rep->oldest_us = -1;
}

/* The cameras of the config, then those only the catalog knows, each
 * measured over the week. */
static int cameras(const struct config *cfg, struct catalog *cat, struct inspection_report *rep,
		   char *err, size_t errlen)
{
	struct build b = { .cfg = cfg, .rep = rep };
	int ret = 0;

	for (size_t i = 0; i < cfg->ncameras && ret == 0; i++)
		ret = camera_add(&b, cfg->cameras[i].id, -1);
	if (ret < 0) {
		snprintf(err, errlen, "%s", db_errmsg(ret));
		goto out;
	}
	if ((ret = catalog_cameras_each(cat, add_catalog_camera, &b)) < 0)
		goto fail;
	for (size_t i = 0; i < rep->ncameras; i++)
		if ((ret = measure_camera(cat, rep, b.created[i], &rep->cameras[i])) < 0)
			goto fail;
	goto out;
fail:
	snprintf(err, errlen, "cannot read the catalog '%s': %s", cfg->catalog_path,
		 db_errmsg(ret));
out:
	free(b.created);
	return ret;
}

int inspection_report_compute(const struct config *cfg, struct catalog *cat, const char *week,
			      int64_t from_us, int64_t to_us, int64_t now_us,
			      struct inspection_report *rep, char *err, size_t errlen)
{
	int ret;

	report_init(cfg, week, from_us, to_us, now_us, rep);
	err[0] = '\0';
	if ((ret = cameras(cfg, cat, rep, err, errlen)) < 0)
		goto out;
	/* no ticket database: a recorder without a checker, the record is
	 * made from the catalog alone */
	struct ticket_db *db = page_open_tickets(cfg, &ret, rep->warning, sizeof(rep->warning));
	if (!db && ret == -ENOENT)
		rep->warning[0] = '\0';
	else if (!db && !rep->warning[0])
		snprintf(rep->warning, sizeof(rep->warning), "cannot open '%s'",
			 cfg->checker_database);
	ret = 0;
	if (db && (ret = read_tickets(db, cfg, rep)) < 0)
		snprintf(err, errlen, "cannot read '%s': %s", cfg->checker_database,
			 db_errmsg(ret));
	if (db && ret == 0 && (ret = read_fleet(db, rep)) < 0)
		snprintf(err, errlen, "cannot read the recorders of '%s': %s",
			 cfg->checker_database, db_errmsg(ret));
	if (ret == 0) {
		recorder_reported(db, cfg->recorder_id, rep);
		if (!rep->reported)
			storage_now(cfg, cat, rep);
	}
	ticket_db_close(&db);
out:
	if (ret < 0)
		inspection_report_release(rep);
	return ret;
}

void inspection_report_release(struct inspection_report *rep)
{
	for (size_t i = 0; i < rep->ncameras; i++) {
		free(rep->cameras[i].gaps);
		free(rep->cameras[i].thumbnail);
	}
	free(rep->cameras);
	for (size_t i = 0; i < rep->nfleet; i++)
		free(rep->fleet[i].recorders);
	free(rep->fleet);
	rep->fleet = NULL;
	rep->nfleet = 0;
	rep->fleet_known = false;
	free(rep->opened);
	free(rep->closed);
	rep->cameras = NULL;
	rep->opened = rep->closed = NULL;
	rep->ncameras = rep->nopened = rep->nclosed = 0;
}

/* ---- writers ------------------------------------------------------------ */

static double percent(int64_t part, int64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 0;
}

static void local_sec(int64_t us, char *out, size_t size)
{
	if (us < 0)
		snprintf(out, size, "-");
	else
		time_format_local(us, out, size);
}

static int64_t gap_length(const struct inspection_report *rep, const struct inspection_gap *g)
{
	return (g->end_us >= 0 ? g->end_us : rep->generated_us) - g->start_us;
}

static void bytes_text(int64_t b, char *out, size_t size)
{
	if (b < 0)
		snprintf(out, size, "unknown");
	else
		snprintf(out, size, "%.1f GB", (double)b / 1e9);
}

/* The recorder's figures as people read them. */
struct recorder_text {
	char total[32], freeb[32], reported[40], oldest[40], forecast[32];
};

static void recorder_text(const struct inspection_report *rep, struct recorder_text *t)
{
	bytes_text(rep->disk_total, t->total, sizeof(t->total));
	bytes_text(rep->disk_free, t->freeb, sizeof(t->freeb));
	page_local_min(rep->reported ? rep->reported_us : -1, t->reported, sizeof(t->reported));
	page_local_min(rep->oldest_us, t->oldest, sizeof(t->oldest));
	if (rep->forecast_days >= 0)
		snprintf(t->forecast, sizeof(t->forecast), "%.0f days", rep->forecast_days);
	else
		snprintf(t->forecast, sizeof(t->forecast), "unknown");
}

static void text_camera(const struct inspection_report *rep, const struct inspection_camera *c,
			FILE *out)
{
	char up[16], rec[32];
	if (c->window_us > 0)
		snprintf(up, sizeof(up), "%.2f%%", percent(c->recorded_us, c->window_us));
	else
		snprintf(up, sizeof(up), "-");
	ticket_duration_text(c->recorded_us, rec, sizeof(rec));
	fprintf(out, "%-16s %9s %10s %5zu %7d %7d  %s\n", c->camera, up, rec, c->ngaps, c->opened,
		c->closed, c->location);
	for (size_t g = 0; g < c->ngaps; g++) {
		const struct inspection_gap *gr = &c->gaps[g];
		char s[40], e[40], d[32];
		local_sec(gr->start_us, s, sizeof(s));
		local_sec(gr->end_us, e, sizeof(e));
		ticket_duration_text(gap_length(rep, gr), d, sizeof(d));
		fprintf(out, "    gap %s to %s (%s): %s\n", s, gr->end_us >= 0 ? e : "now", d,
			catalog_gap_reason_name(gr->reason));
	}
}

/* "+0.021 s", or "-" when unknown */
static void clock_text(const struct inspection_camera *c, char *out, size_t size)
{
	if (c->clock_known)
		snprintf(out, size, "%+.3f s", c->clock_offset_s);
	else
		snprintf(out, size, "-");
}

/* One line per camera: its picture and its clock. */
static void text_pictures(const struct inspection_report *rep, FILE *out)
{
	fprintf(out, "%-16s %-8s %-19s %7s %7s %10s  %s\n", "CAMERA", "PICTURE", "CHECKED",
		"CHECKS", "FAILED", "CLOCK", "REASON");
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct inspection_camera *c = &rep->cameras[i];
		char at[40], clock[32];
		local_sec(c->checked_us, at, sizeof(at));
		clock_text(c, clock, sizeof(clock));
		fprintf(out, "%-16s %-8s %-19s %7" PRId64 " %7" PRId64 " %10s  %s\n", c->camera,
			c->picture, at, c->checks, c->failed, clock,
			strcmp(c->picture, "ok") != 0 ? c->picture_reason : "");
	}
}

static void text_fleet(const struct inspection_report *rep, FILE *out)
{
	if (!rep->fleet_known)
		return;
	fprintf(out, "recorders seen by the checker, by site:%s\n", rep->nfleet ? "" : " none");
	for (size_t i = 0; i < rep->nfleet; i++) {
		const struct inspection_site *site = &rep->fleet[i];
		fprintf(out, "  site %s\n", site->site[0] ? site->site : "(none)");
		for (size_t k = 0; k < site->nrecorders; k++) {
			const struct inspection_recorder *e = &site->recorders[k];
			char seen[40];
			page_local_min(e->last_seen_us, seen, sizeof(seen));
			fprintf(out,
				"    %-16s %-12s last seen %s  cameras %d, %d not recording%s%s\n",
				e->id, e->state[0] ? e->state : "unknown", seen, e->cameras,
				e->cameras_down, e->console_url[0] ? "  " : "", e->console_url);
		}
	}
}

static void text_tickets(const struct inspection_report *rep, FILE *out)
{
	fprintf(out, "tickets opened: %zu, closed: %zu\n", rep->nopened, rep->nclosed);
	for (int pass = 0; pass < 2; pass++) {
		const struct ticket *v = pass ? rep->closed : rep->opened;
		size_t n = pass ? rep->nclosed : rep->nopened;
		for (size_t i = 0; i < n; i++) {
			char text[1024];
			ticket_text(&v[i], rep->generated_us, text, sizeof(text));
			fprintf(out, "  %s #%-5" PRId64 " level %d  %s\n",
				pass ? "closed" : "opened", v[i].id, v[i].level, text);
		}
	}
}

static void inspection_text(const struct inspection_report *rep, FILE *out)
{
	char a[40], b[40];
	struct recorder_text t;

	page_local_min(rep->from_us, a, sizeof(a));
	page_local_min(rep->to_us, b, sizeof(b));
	recorder_text(rep, &t);
	fprintf(out, "Inspection record, week %s (%s to %s, local time)\n", rep->week, a, b);
	fprintf(out, "recorder %s%s%s%s\n", rep->recorder, *rep->site ? " (" : "", rep->site,
		*rep->site ? ")" : "");
	fprintf(out, "disk: %s free of %s; forecast %s; oldest footage %s%s%s\n", t.freeb, t.total,
		t.forecast, t.oldest, rep->reported ? "; as reported " : " (storage now)",
		rep->reported ? t.reported : "");
	fprintf(out, "%-16s %9s %10s %5s %7s %7s  %s\n", "CAMERA", "UPTIME", "RECORDED", "GAPS",
		"OPENED", "CLOSED", "LOCATION");
	for (size_t i = 0; i < rep->ncameras; i++)
		text_camera(rep, &rep->cameras[i], out);
	text_pictures(rep, out);
	text_tickets(rep, out);
	text_fleet(rep, out);
}

static void json_null_unless(struct json_writer *w, const char *key, bool known, int64_t v)
{
	if (known) {
		jw_kv_int(w, key, v);
	} else {
		jw_key(w, key);
		jw_null(w);
	}
}

static void json_recorder(struct json_writer *w, const struct inspection_report *rep)
{
	jw_key(w, "recorder");
	jw_begin_object(w);
	jw_kv_string(w, "id", rep->recorder);
	jw_kv_string(w, "site", rep->site);
	jw_kv_string(w, "source", rep->reported ? "health" : "storage");
	page_json_time_or_null(w, "reported", rep->reported ? rep->reported_us : -1);
	json_null_unless(w, "disk_total_bytes", rep->disk_total >= 0, rep->disk_total);
	json_null_unless(w, "disk_free_bytes", rep->disk_free >= 0, rep->disk_free);
	if (rep->forecast_days >= 0) {
		jw_kv_double(w, "forecast_days", rep->forecast_days, 1);
	} else {
		jw_key(w, "forecast_days");
		jw_null(w);
	}
	page_json_time_or_null(w, "oldest_footage", rep->oldest_us);
	jw_end_object(w);
}

static void json_camera(struct json_writer *w, const struct inspection_report *rep,
			const struct inspection_camera *c)
{
	jw_begin_object(w);
	jw_kv_string(w, "camera", c->camera);
	jw_kv_string(w, "site", c->site);
	jw_kv_string(w, "location", c->location);
	if (c->window_us > 0) {
		jw_kv_double(w, "uptime_percent", percent(c->recorded_us, c->window_us), 3);
	} else {
		jw_key(w, "uptime_percent");
		jw_null(w);
	}
	jw_kv_double(w, "recorded_s", (double)c->recorded_us / USEC_PER_SEC, 3);
	jw_kv_double(w, "observed_s", (double)c->window_us / USEC_PER_SEC, 3);
	jw_key(w, "gaps");
	jw_begin_array(w);
	for (size_t g = 0; g < c->ngaps; g++) {
		const struct inspection_gap *gr = &c->gaps[g];
		jw_begin_object(w);
		jw_kv_time(w, "start", gr->start_us);
		page_json_time_or_null(w, "end", gr->end_us);
		jw_kv_double(w, "seconds", (double)gap_length(rep, gr) / USEC_PER_SEC, 3);
		jw_kv_string(w, "reason", catalog_gap_reason_name(gr->reason));
		jw_end_object(w);
	}
	jw_end_array(w);
	jw_kv_int(w, "tickets_opened", c->opened);
	jw_kv_int(w, "tickets_closed", c->closed);
	jw_key(w, "picture");
	jw_begin_object(w);
	jw_kv_string(w, "state", c->picture);
	page_json_time_or_null(w, "checked", c->checked_us);
	jw_kv_string(w, "reason", c->picture_reason);
	jw_kv_int(w, "checks", c->checks);
	jw_kv_int(w, "failed", c->failed);
	jw_end_object(w);
	if (c->clock_known) {
		jw_kv_double(w, "clock_offset_s", c->clock_offset_s, 3);
	} else {
		jw_key(w, "clock_offset_s");
		jw_null(w);
	}
	/* the picture itself only in the HTML: the JSON stays small */
	jw_kv_bool(w, "has_thumbnail", c->thumbnail != NULL);
	jw_end_object(w);
}

static void json_fleet(struct json_writer *w, const struct inspection_report *rep)
{
	jw_key(w, "fleet");
	if (!rep->fleet_known) {
		jw_null(w);
		return;
	}
	jw_begin_array(w);
	for (size_t i = 0; i < rep->nfleet; i++) {
		const struct inspection_site *site = &rep->fleet[i];
		jw_begin_object(w);
		jw_kv_string(w, "site", site->site);
		jw_key(w, "recorders");
		jw_begin_array(w);
		for (size_t k = 0; k < site->nrecorders; k++) {
			const struct inspection_recorder *e = &site->recorders[k];
			jw_begin_object(w);
			jw_kv_string(w, "id", e->id);
			jw_kv_string(w, "state", e->state[0] ? e->state : "unknown");
			page_json_time_or_null(w, "last_seen", e->last_seen_us);
			jw_kv_int(w, "cameras", e->cameras);
			jw_kv_int(w, "cameras_down", e->cameras_down);
			jw_kv_string(w, "console_url", e->console_url);
			jw_end_object(w);
		}
		jw_end_array(w);
		jw_end_object(w);
	}
	jw_end_array(w);
}

static void inspection_json(const struct inspection_report *rep, FILE *out)
{
	struct json_writer w;
	jw_init_file(&w, out, true);
	jw_begin_object(&w);
	jw_kv_string(&w, "week", rep->week);
	jw_kv_time(&w, "from", rep->from_us);
	jw_kv_time(&w, "to", rep->to_us);
	jw_kv_time(&w, "generated", rep->generated_us);
	json_recorder(&w, rep);
	jw_key(&w, "cameras");
	jw_begin_array(&w);
	for (size_t i = 0; i < rep->ncameras; i++)
		json_camera(&w, rep, &rep->cameras[i]);
	jw_end_array(&w);
	jw_key(&w, "tickets");
	jw_begin_object(&w);
	jw_key(&w, "opened");
	jw_begin_array(&w);
	for (size_t i = 0; i < rep->nopened; i++)
		ticket_json(&w, &rep->opened[i], rep->generated_us);
	jw_end_array(&w);
	jw_key(&w, "closed");
	jw_begin_array(&w);
	for (size_t i = 0; i < rep->nclosed; i++)
		ticket_json(&w, &rep->closed[i], rep->generated_us);
	jw_end_array(&w);
	jw_end_object(&w);
	json_fleet(&w, rep);
	jw_end_object(&w);
	jw_finish(&w);
}

static void html_recorder(const struct inspection_report *rep, FILE *out)
{
	struct recorder_text t;
	recorder_text(rep, &t);
	/* the figures' words in the report's language */
	if (rep->disk_total < 0)
		snprintf(t.total, sizeof(t.total), "%s", page_tr("unknown"));
	if (rep->disk_free < 0)
		snprintf(t.freeb, sizeof(t.freeb), "%s", page_tr("unknown"));
	if (rep->forecast_days >= 0)
		page_snprintf(t.forecast, sizeof(t.forecast), "%.0f days", rep->forecast_days);
	else
		snprintf(t.forecast, sizeof(t.forecast), "%s", page_tr("unknown"));
	fputs("<h2>", out);
	page_html_tr(out, "Recorder ");
	page_html_text(out, rep->recorder);
	page_printf(out, "</h2>\n<table><tr><th>%s</th><td>", page_tr("site"));
	page_html_text(out, rep->site);
	page_printf(out, "</td></tr>\n<tr><th>%s</th><td>", page_tr("disk"));
	page_printf(out, "%s free of %s", t.freeb, t.total);
	page_printf(out, "</td></tr>\n<tr><th>%s</th><td>%s</td></tr>\n", page_tr("forecast"),
		    t.forecast);
	page_printf(out, "<tr><th>%s</th><td>%s</td></tr>\n", page_tr("oldest footage"), t.oldest);
	page_printf(out, "<tr><th>%s</th><td>%s</td></tr></table>\n", page_tr("reported"),
		    rep->reported ? t.reported : page_tr("storage, at the time of this report"));
}

/* ticket_duration_text in the report's language */
static void duration_html(int64_t us, char *out, size_t size)
{
	ticket_duration_text_lang(
		us, report_get_lang() == REPORT_LANG_ZH ? TICKET_LANG_ZH : TICKET_LANG_EN, out,
		size);
}

static void html_camera(const struct inspection_report *rep, const struct inspection_camera *c,
			FILE *out)
{
	char rec[48];
	duration_html(c->recorded_us, rec, sizeof(rec));
	fprintf(out, "<tr><td>");
	page_html_text(out, c->camera);
	fprintf(out, "</td><td>");
	page_html_text(out, c->location);
	if (c->window_us > 0)
		fprintf(out, "</td><td class=\"num%s\">%.2f%%</td>",
			c->recorded_us < c->window_us ? " bad" : "",
			percent(c->recorded_us, c->window_us));
	else
		fprintf(out, "</td><td class=\"num\">-</td>");
	fprintf(out, "<td class=\"num\">%s</td><td>", rec);
	for (size_t g = 0; g < c->ngaps; g++) {
		const struct inspection_gap *gr = &c->gaps[g];
		char s[40], d[48];
		local_sec(gr->start_us, s, sizeof(s));
		duration_html(gap_length(rep, gr), d, sizeof(d));
		fputs(g ? "<br>" : "", out);
		page_printf(out, "%s, %s (%s)", s, d, page_tr(catalog_gap_reason_name(gr->reason)));
	}
	fprintf(out, "</td><td class=\"num\">%d</td><td class=\"num\">%d</td></tr>\n", c->opened,
		c->closed);
}

/* The thumbnail as an inline image: the page stays one file to mail and
 * archive, and the console's report CSP allows img-src data:. */
static void html_thumbnail(const struct inspection_camera *c, FILE *out)
{
	if (!c->thumbnail) {
		page_printf(out, "<span class=\"na\">%s</span>", page_tr("no picture"));
		return;
	}
	size_t size = (c->thumbnail_len + 2) / 3 * 4 + 1;
	char *b64 = malloc(size);
	if (!b64 || base64_encode(c->thumbnail, c->thumbnail_len, b64, size) < 0) {
		free(b64);
		page_printf(out, "<span class=\"na\">%s</span>", page_tr("no picture"));
		return;
	}
	char at[40], alt[200];
	local_sec(c->thumbnail_us, at, sizeof(at));
	page_snprintf(alt, sizeof(alt), "%s at %s", c->camera, at);
	fputs("<img class=\"thumb\" width=\"160\" alt=\"", out);
	page_html_text(out, alt);
	fprintf(out, "\" src=\"data:image/jpeg;base64,%s\">", b64);
	free(b64);
}

static bool picture_fault(const char *state)
{
	return strcmp(state, "ok") != 0 && strcmp(state, "unknown") != 0;
}

/* Per camera: the latest check's verdict, the week's checks, the clock and
 * the newest picture. */
static void html_pictures(const struct inspection_report *rep, FILE *out)
{
	page_printf(out,
		    "<h2>%s</h2>\n<table><tr><th>%s</th><th>%s</th><th>%s</th>"
		    "<th class=\"num\">%s</th><th class=\"num\">%s</th>"
		    "<th class=\"num\">%s</th><th>%s</th></tr>\n",
		    page_tr("Picture and clock"), page_tr("camera"), page_tr("picture"),
		    page_tr("last check"), page_tr("checks"), page_tr("failed checks"),
		    page_tr("clock offset"), page_tr("latest picture"));
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct inspection_camera *c = &rep->cameras[i];
		char at[40], clock[32];
		local_sec(c->checked_us, at, sizeof(at));
		fputs("<tr><td>", out);
		page_html_text(out, c->camera);
		fputs("</td><td data-picture=\"", out);
		page_html_text(out, c->picture);
		fprintf(out, "\"><span class=\"%s\">",
			picture_fault(c->picture)	? "bad"
			: strcmp(c->picture, "ok") == 0 ? "ok"
							: "na");
		page_html_tr(out, c->picture);
		fputs("</span>", out);
		if (strcmp(c->picture, "ok") != 0 && c->picture_reason[0]) {
			/* the inspector's own words, as the log and health say them */
			fputs("<br><span class=\"small\">", out);
			page_html_tr(out, c->picture_reason);
			fputs("</span>", out);
		}
		fprintf(out, "</td><td>%s</td><td class=\"num\">%" PRId64 "</td>", at, c->checks);
		fprintf(out, "<td class=\"num%s\">%" PRId64 "</td>", c->failed ? " bad" : "",
			c->failed);
		clock_text(c, clock, sizeof(clock));
		if (!c->clock_known)
			snprintf(clock, sizeof(clock), "%s", page_tr("unknown"));
		fprintf(out, "<td class=\"num\">%s</td><td>", clock);
		html_thumbnail(c, out);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* Every recorder the checker has seen, site by site. */
static void html_fleet(const struct inspection_report *rep, FILE *out)
{
	if (!rep->fleet_known)
		return;
	page_printf(out, "<h2>%s</h2>\n", page_tr("Recorders seen by the checker"));
	if (rep->nfleet == 0) {
		page_printf(out, "<p>%s</p>\n", page_tr("none"));
		return;
	}
	for (size_t i = 0; i < rep->nfleet; i++) {
		const struct inspection_site *site = &rep->fleet[i];
		fputs("<h3>", out);
		page_html_tr(out, "Site ");
		page_html_text(out, site->site[0] ? site->site : "-");
		page_printf(out,
			    "</h3>\n<table><tr><th>%s</th><th>%s</th><th>%s</th>"
			    "<th class=\"num\">%s</th><th class=\"num\">%s</th><th>%s</th></tr>\n",
			    page_tr("recorder"), page_tr("state"), page_tr("last seen"),
			    page_tr("cameras"), page_tr("not recording"), page_tr("console"));
		for (size_t k = 0; k < site->nrecorders; k++) {
			const struct inspection_recorder *e = &site->recorders[k];
			const char *state = e->state[0] ? e->state : "unknown";
			char seen[40];
			page_local_min(e->last_seen_us, seen, sizeof(seen));
			fputs("<tr><td>", out);
			page_html_text(out, e->id);
			fprintf(out, "</td><td data-state=\"");
			page_html_text(out, state);
			fputs("\">", out);
			page_html_tr(out, state);
			fprintf(out, "</td><td>%s</td><td class=\"num\">%d</td>", seen, e->cameras);
			fprintf(out, "<td class=\"num%s\">%d</td><td>",
				e->cameras_down ? " bad" : "", e->cameras_down);
			/* text, not a link: the page refers to nothing outside itself */
			page_html_text(out, e->console_url[0] ? e->console_url : "-");
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
	}
}

/* One row per ticket: those opened in the week, then those closed in it
 * that were opened before. */
static void html_tickets(const struct inspection_report *rep, FILE *out)
{
	page_printf(
		out,
		"<h2>%s</h2>\n<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
		"</tr>\n",
		page_tr("Tickets"), page_tr("ticket"), page_tr("level"), page_tr("fault"),
		page_tr("opened"), page_tr("resolved"));
	for (int pass = 0; pass < 2; pass++) {
		const struct ticket *v = pass ? rep->closed : rep->opened;
		size_t n = pass ? rep->nclosed : rep->nopened;
		for (size_t i = 0; i < n; i++) {
			const struct ticket *t = &v[i];
			if (pass && t->opened_us >= rep->from_us && t->opened_us < rep->to_us)
				continue; /* listed with the opened */
			page_html_ticket_row(out, t, rep->generated_us);
		}
	}
	fprintf(out, "</table>\n");
}

static void inspection_html(const struct inspection_report *rep, FILE *out)
{
	char a[40], b[40], gen[40], title[128];

	page_local_min(rep->from_us, a, sizeof(a));
	page_local_min(rep->to_us, b, sizeof(b));
	page_local_min(rep->generated_us, gen, sizeof(gen));
	page_snprintf(title, sizeof(title), "Inspection record %s", rep->week);
	page_html_head(out, title);
	fputs("<h1>", out);
	page_html_tr(out, "Weekly inspection record, week ");
	page_html_text(out, rep->week);
	fprintf(out, "</h1>\n<p class=\"small\">");
	page_printf(out, "%s to %s (local time) &middot; generated %s", a, b, gen);
	fputs("</p>\n", out);
	html_recorder(rep, out);
	page_printf(out,
		    "<h2>%s</h2>\n<table><tr><th>%s</th><th>%s</th>"
		    "<th class=\"num\">%s</th><th class=\"num\">%s</th>"
		    "<th>%s</th><th class=\"num\">%s</th>"
		    "<th class=\"num\">%s</th></tr>\n",
		    page_tr("Cameras"), page_tr("camera"), page_tr("location"), page_tr("uptime"),
		    page_tr("recorded"), page_tr("gaps"), page_tr("tickets opened"),
		    page_tr("tickets closed"));
	for (size_t i = 0; i < rep->ncameras; i++)
		html_camera(rep, &rep->cameras[i], out);
	fprintf(out, "</table>\n");
	html_pictures(rep, out);
	html_tickets(rep, out);
	html_fleet(rep, out);
	fputs("<p class=\"small\">", out);
	page_printf(out, "%s",
		    page_tr("Inspected by: ____________________ &nbsp; "
			    "Date: ____________"));
	fputs("</p>\n", out);
	page_html_end(out);
}

int inspection_report_write(const struct inspection_report *rep, enum report_format f, FILE *out)
{
	switch (f) {
	case REPORT_TEXT: inspection_text(rep, out); break;
	case REPORT_JSON: inspection_json(rep, out); break;
	case REPORT_HTML: inspection_html(rep, out); break;
	case REPORT_CSV: return -ENOTSUP;
	}
	return page_finish(out);
}
