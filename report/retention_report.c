/*
 * The retention report: per camera the oldest footage against the floor,
 * deletions by reason, holds, the last 90 days as a strip; the storage's
 * forecast.  Computed into a struct, then written as text, JSON, CSV or a
 * printable HTML page with a 90-day strip per camera.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/page.h"
#include "report/report.h"
#include "retention/retention.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/timefmt.h"
#include "util/version.h"
#include "util/banned.h"

/* ---- compute ------------------------------------------------------------ */

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

/* The sentence of why, in English (tr false: the JSON, text and CSV) or in
 * the report's language (the page); each format is checked against its
 * arguments in both calls. */
#define WHY(fmt, ...)                                                                              \
	do {                                                                                       \
		if (tr)                                                                            \
			page_snprintf(buf, size, fmt, __VA_ARGS__);                                \
		else                                                                               \
			snprintf(buf, size, fmt, __VA_ARGS__);                                     \
	} while (0)

static void why_format(const struct retention_camera_report *c, bool tr, char *buf, size_t size)
{
	switch (c->why_kind) {
	case WHY_BELOW_FLOOR:
		WHY("%" PRId64 " segments younger than the %d-day floor were deleted for space",
		    c->why_segments, c->floor_days);
		break;
	case WHY_NO_FOOTAGE:
		WHY("%s", tr ? page_tr("no footage recorded yet") : "no footage recorded yet");
		break;
	case WHY_YOUNG:
		WHY("recording for %.1f days, less than the %d-day floor: nothing may be "
		    "deleted yet",
		    c->why_value, c->floor_days);
		break;
	case WHY_DELETED:
		WHY("%.1f hours of footage younger than the %d-day floor are deleted", c->why_value,
		    c->floor_days);
		break;
	case WHY_MET:
		WHY("nothing younger than the %d-day floor was deleted; footage reaches back %.1f "
		    "days",
		    c->floor_days, c->days_covered);
		break;
	}
}

/* The verdict on the floor and why: a breach when footage younger than the
 * floor was deleted, not applicable before the camera has recorded for
 * the floor's length, else met. */
static int retention_verdict(struct catalog *cat, const struct retention_rule *rule, int64_t now,
			     struct retention_camera_report *c)
{
	int64_t below = 0;
	for (int i = 0; i < c->ndeleted; i++)
		if (strcmp(c->deleted[i].reason, RETENTION_BELOW_FLOOR) == 0)
			below += c->deleted[i].segments;
	int64_t floor_us = (int64_t)rule->retain_days * DAY_US;
	if (below > 0) {
		c->verdict = "breached";
		c->why_kind = WHY_BELOW_FLOOR;
		c->why_segments = below;
	} else if (c->first_us < 0) {
		c->verdict = "not-applicable";
		c->why_kind = WHY_NO_FOOTAGE;
	} else if (now - c->first_us < floor_us) {
		c->verdict = "not-applicable";
		c->why_kind = WHY_YOUNG;
		c->why_value = (double)(now - c->first_us) / (double)DAY_US;
	} else {
		/* within the floor, footage may be missing because the camera did
		 * not record (outages are continuity's business), never because
		 * it was deleted */
		struct continuity_camera within;
		int64_t from = now - floor_us > c->first_us ? now - floor_us : c->first_us;
		int ret = continuity_compute_camera(cat, c->camera, from, now, now, &within);
		if (ret < 0)
			return ret;
		int64_t deleted_us = 0;
		for (size_t i = 0; i < within.ngaps; i++)
			if (strcmp(within.gaps[i].reason, "deleted") == 0)
				deleted_us += within.gaps[i].end_us - within.gaps[i].start_us;
		free(within.gaps);
		if (deleted_us > 0) {
			c->verdict = "breached";
			c->why_kind = WHY_DELETED;
			c->why_value = (double)deleted_us / 3600e6;
		} else {
			c->verdict = "met";
			c->why_kind = WHY_MET;
		}
	}
	why_format(c, false, c->why, sizeof(c->why));
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

	return retention_verdict(cat, &rule, now, c);
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

/* ---- writers ------------------------------------------------------------ */

static void gib(int64_t bytes, char *buf, size_t size)
{
	snprintf(buf, size, "%.1f GiB", (double)bytes / (1024.0 * 1024 * 1024));
}

static void forecast_text(const struct retention_capacity *cap, char *buf, size_t size)
{
	if (cap->forecast_days < 0)
		snprintf(buf, size, "unknown (no recording measured yet)");
	else
		snprintf(buf, size, "%.1f days at the current write rate%s", cap->forecast_days,
			 cap->at_risk ? " - RETENTION AT RISK" : "");
}

static void retention_text(const struct retention_report *rep, FILE *out)
{
	char gen[40], since[40], oldest[40], total[32], freeb[32], fc[96];

	time_format_local(rep->generated_us, gen, sizeof(gen));
	time_format_local(rep->period_from_us, since, sizeof(since));
	gib(rep->capacity.total_bytes, total, sizeof(total));
	gib(rep->capacity.free_bytes, freeb, sizeof(freeb));
	forecast_text(&rep->capacity, fc, sizeof(fc));
	fprintf(out, "Retention report, %s (deletions since %s)\n", gen, since);
	fprintf(out, "storage: %s free of %s; capacity forecast: %s\n\n", freeb, total, fc);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct retention_camera_report *c = &rep->cameras[i];
		if (c->oldest_us >= 0)
			time_format_local(c->oldest_us, oldest, sizeof(oldest));
		else
			snprintf(oldest, sizeof(oldest), "none");
		fprintf(out, "%-16s %-15s oldest %s (%.1f days), floor %d days\n", c->camera,
			c->verdict, oldest, c->days_covered, c->floor_days);
		fprintf(out, "%16s %s\n", "", c->why);
		if (c->ndeleted || c->holds) {
			fprintf(out, "%16s deleted:", "");
			if (!c->ndeleted)
				fputs(" none", out);
			for (int d = 0; d < c->ndeleted; d++)
				fprintf(out, " %s %" PRId64, c->deleted[d].reason,
					c->deleted[d].segments);
			fprintf(out, "; holds in force: %d\n", c->holds);
		}
	}
	if (rep->nholds) {
		fputs("\nlegal holds in force:\n", out);
		for (size_t h = 0; h < rep->nholds; h++) {
			char a[40], b[40];
			time_format_local(rep->holds[h].start_us, a, sizeof(a));
			time_format_local(rep->holds[h].end_us, b, sizeof(b));
			fprintf(out, "  #%" PRId64 " %s %s - %s: %s\n", rep->holds[h].id,
				rep->holds[h].camera, a, b, rep->holds[h].reason);
		}
	}
}

static void retention_json(const struct retention_report *rep, FILE *out)
{
	struct json_writer w;

	jw_init_file(&w, out, true);
	jw_begin_object(&w);
	jw_kv_time(&w, "generated", rep->generated_us);
	jw_kv_time(&w, "period_from", rep->period_from_us);
	jw_key(&w, "forecast_days");
	if (rep->capacity.forecast_days < 0)
		jw_null(&w);
	else
		jw_double(&w, rep->capacity.forecast_days, 1);
	jw_kv_bool(&w, "at_risk", rep->capacity.at_risk);
	jw_key(&w, "storage");
	jw_begin_object(&w);
	jw_kv_int(&w, "total_bytes", rep->capacity.total_bytes);
	jw_kv_int(&w, "free_bytes", rep->capacity.free_bytes);
	jw_kv_int(&w, "reserve_bytes", rep->capacity.reserve_bytes);
	jw_kv_int(&w, "footage_bytes", rep->capacity.footage_bytes);
	jw_kv_double(&w, "bytes_per_day", rep->capacity.bytes_per_day, 0);
	jw_end_object(&w);
	jw_key(&w, "cameras");
	jw_begin_array(&w);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct retention_camera_report *c = &rep->cameras[i];
		jw_begin_object(&w);
		jw_kv_string(&w, "camera", c->camera);
		if (c->oldest_us >= 0)
			jw_kv_time(&w, "oldest", c->oldest_us);
		else
			jw_kv_string(&w, "oldest", NULL);
		jw_kv_double(&w, "days_covered", c->days_covered, 2);
		jw_kv_int(&w, "floor_days", c->floor_days);
		jw_kv_int(&w, "delete_after_days", c->delete_after_days);
		jw_kv_string(&w, "verdict", c->verdict);
		jw_kv_string(&w, "why", c->why);
		jw_kv_int(&w, "bytes", c->live_bytes);
		jw_kv_int(&w, "segments", c->live_segments);
		jw_key(&w, "deleted");
		jw_begin_object(&w);
		for (int d = 0; d < c->ndeleted; d++)
			jw_kv_int(&w, c->deleted[d].reason, c->deleted[d].segments);
		jw_end_object(&w);
		jw_kv_int(&w, "holds", c->holds);
		jw_key(&w, "days");
		jw_begin_array(&w);
		for (int d = 0; d < 90; d++)
			jw_double(&w, (double)c->day_recorded_us[d] / (double)DAY_US, 4);
		jw_end_array(&w);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_key(&w, "holds");
	jw_begin_array(&w);
	for (size_t h = 0; h < rep->nholds; h++) {
		jw_begin_object(&w);
		jw_kv_int(&w, "id", rep->holds[h].id);
		jw_kv_string(&w, "camera", rep->holds[h].camera);
		jw_kv_time(&w, "start", rep->holds[h].start_us);
		jw_kv_time(&w, "end", rep->holds[h].end_us);
		jw_kv_string(&w, "reason", rep->holds[h].reason);
		jw_kv_time(&w, "placed", rep->holds[h].placed_us);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_end_object(&w);
	jw_finish(&w);
}

static void retention_csv(const struct retention_report *rep, FILE *out)
{
	char oldest[40];
	fputs("camera,verdict,oldest,days_covered,floor_days,deleted_expired,deleted_space,"
	      "deleted_below_floor,holds,bytes,forecast_days\n",
	      out);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct retention_camera_report *c = &rep->cameras[i];
		int64_t counts[3] = { 0, 0, 0 };
		const char *names[3] = { RETENTION_EXPIRED, RETENTION_SPACE,
					 RETENTION_BELOW_FLOOR };
		for (int d = 0; d < c->ndeleted; d++)
			for (int k = 0; k < 3; k++)
				if (strcmp(c->deleted[d].reason, names[k]) == 0)
					counts[k] += c->deleted[d].segments;
		oldest[0] = '\0';
		if (c->oldest_us >= 0)
			time_format_utc(c->oldest_us, oldest, sizeof(oldest));
		page_csv_field(out, c->camera);
		fprintf(out,
			",%s,%s,%.2f,%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%d,%" PRId64 ",%.1f\n",
			c->verdict, oldest, c->days_covered, c->floor_days, counts[0], counts[1],
			counts[2], c->holds, c->live_bytes, rep->capacity.forecast_days);
	}
}

/* forecast_text in the report's language */
static void forecast_html(const struct retention_capacity *cap, char *buf, size_t size)
{
	if (cap->forecast_days < 0)
		snprintf(buf, size, "%s", page_tr("unknown (no recording measured yet)"));
	else
		page_snprintf(buf, size, "%.1f days at the current write rate%s",
			      cap->forecast_days,
			      cap->at_risk ? page_tr(" - RETENTION AT RISK") : "");
}

static void retention_html_row(const struct retention_camera_report *c, FILE *out)
{
	char oldest[40];
	const char *cls = strcmp(c->verdict, "met") == 0	? "ok"
			  : strcmp(c->verdict, "breached") == 0 ? "bad"
								: "na";
	if (c->oldest_us >= 0)
		time_format_local(c->oldest_us, oldest, sizeof(oldest));
	else
		snprintf(oldest, sizeof(oldest), "%s", page_tr("none"));
	fputs("<tr><td>", out);
	page_html_text(out, c->camera);
	fprintf(out, "</td><td class=\"%s\">%s</td><td>%s</td><td>%.1f</td><td>", cls,
		page_tr(c->verdict), oldest, c->days_covered);
	page_printf(out, "%d days", c->floor_days);
	fputs("</td><td>", out);
	if (!c->ndeleted)
		fputs(page_tr("none"), out);
	for (int d = 0; d < c->ndeleted; d++) {
		fputs(d ? page_tr(", ") : "", out);
		page_html_tr(out, c->deleted[d].reason);
		page_printf(out, ": %" PRId64, c->deleted[d].segments);
	}
	fprintf(out, "</td><td>%d</td></tr>\n", c->holds);
}

/* A day of the 90-day strip: grey before the first footage, red when
 * nothing was recorded, else the darker the green the more. */
static void retention_day_fill(const struct retention_camera_report *c, int64_t day, double frac,
			       char *fill, size_t size)
{
	if (c->first_us < 0 || (day + 1) * DAY_US <= c->first_us) {
		snprintf(fill, size, "#e0e0e0");
	} else if (frac <= 0.0) {
		snprintf(fill, size, "#c62828");
	} else {
		int g = 200 - (int)(frac * 120);
		snprintf(fill, size, "#2e%02x46", g < 0 ? 0 : g > 255 ? 255 : g);
	}
}

static void retention_html_strip(const struct retention_camera_report *c, int64_t today, FILE *out)
{
	char why[sizeof(c->why) * 2];
	fputs("<h2>", out);
	page_html_text(out, c->camera);
	fprintf(out, "</h2>\n<p class=\"note\">");
	why_format(c, true, why, sizeof(why));
	page_html_text(out, why);
	fputs("</p>\n<svg width=\"900\" height=\"34\" role=\"img\">", out);
	for (int d = 0; d < 90; d++) {
		double frac = (double)c->day_recorded_us[d] / (double)DAY_US;
		int64_t day = today - 89 + d;
		char fill[16], date[40];
		retention_day_fill(c, day, frac, fill, sizeof(fill));
		time_format_utc_s(day * DAY_US, date, sizeof(date));
		date[10] = '\0';
		fprintf(out,
			"<rect x=\"%d\" y=\"0\" width=\"9\" height=\"24\" fill=\"%s\">"
			"<title>",
			d * 10, fill);
		page_printf(out, "%s: %.1f%% recorded", date, frac * 100);
		fputs("</title></rect>", out);
	}
	page_printf(out,
		    "<text x=\"0\" y=\"33\" font-size=\"9\">%s</text>"
		    "<text x=\"870\" y=\"33\" font-size=\"9\">%s</text></svg>\n",
		    page_tr("90 days ago"), page_tr("today"));
}

static void retention_html_holds(const struct retention_report *rep, FILE *out)
{
	if (!rep->nholds)
		return;
	page_printf(out,
		    "<h2>%s</h2>\n<table><tr><th>#</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
		    "</tr>\n",
		    page_tr("Legal holds in force"), page_tr("camera"), page_tr("from"),
		    page_tr("to"), page_tr("reason"));
	for (size_t h = 0; h < rep->nholds; h++) {
		char a[40], b[40];
		time_format_local(rep->holds[h].start_us, a, sizeof(a));
		time_format_local(rep->holds[h].end_us, b, sizeof(b));
		fprintf(out, "<tr><td>%" PRId64 "</td><td>", rep->holds[h].id);
		page_html_text(out, rep->holds[h].camera);
		fprintf(out, "</td><td>%s</td><td>%s</td><td>", a, b);
		page_html_text(out, rep->holds[h].reason);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void retention_html(const struct retention_report *rep, FILE *out)
{
	char gen[40], fc[96], total[32], freeb[32];

	time_format_local(rep->generated_us, gen, sizeof(gen));
	forecast_html(&rep->capacity, fc, sizeof(fc));
	gib(rep->capacity.total_bytes, total, sizeof(total));
	gib(rep->capacity.free_bytes, freeb, sizeof(freeb));
	page_html_head(out, page_tr("vigil retention report"));
	page_printf(out, "<h1>%s</h1>\n<p>", page_tr("Retention report"));
	page_printf(out,
		    "Generated %s by vigil %s. Storage: %s free of %s. Capacity forecast: <span "
		    "class=\"%s\">%s</span>.",
		    gen, vigil_version, freeb, total, rep->capacity.at_risk ? "bad" : "ok", fc);
	page_printf(out,
		    "</p>\n<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
		    "<th>%s</th><th>%s</th></tr>\n",
		    page_tr("camera"), page_tr("verdict"), page_tr("oldest footage"),
		    page_tr("days covered"), page_tr("floor"), page_tr("deleted in period"),
		    page_tr("holds"));
	for (size_t i = 0; i < rep->ncameras; i++)
		retention_html_row(&rep->cameras[i], out);
	page_printf(out, "</table>\n<p class=\"note\">%s</p>\n",
		    page_tr("Each strip shows the last 90 days, oldest on the left: the darker the "
			    "green, the more of the day was recorded; red, nothing recorded."));
	for (size_t i = 0; i < rep->ncameras; i++)
		retention_html_strip(&rep->cameras[i], rep->generated_us / DAY_US, out);
	retention_html_holds(rep, out);
	page_html_end(out);
}

int retention_report_write(const struct retention_report *rep, enum report_format f, FILE *out)
{
	switch (f) {
	case REPORT_TEXT: retention_text(rep, out); break;
	case REPORT_JSON: retention_json(rep, out); break;
	case REPORT_CSV: retention_csv(rep, out); break;
	case REPORT_HTML: retention_html(rep, out); break;
	}
	return page_finish(out);
}
