/*
 * Writing the continuity and retention reports: text for people, JSON for
 * scripts (the keys of DESIGN.md), CSV for spreadsheets, and HTML: one
 * self-contained page (inline CSS and SVG, no scripts, no external files)
 * that prints well, with a timeline per camera for continuity and a 90-day
 * strip per camera for retention.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report.h"
#include "retention/retention.h"
#include "util/json.h"
#include "util/timefmt.h"

static void html_escape(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
	}
}

static void csv_field(FILE *out, const char *s)
{
	bool quote = strpbrk(s, ",\"\n\r") != NULL;
	if (!quote) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<title>%s</title>\n<style>\n"
	"body{font-family:sans-serif;margin:2em;color:#222}\n"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\n"
	"table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.25em "
	".6em;"
	"text-align:left;font-size:.9em}\n"
	".ok{color:#176b2c;font-weight:bold}.bad{color:#a51d1d;font-weight:bold}"
	".na{color:#666;font-weight:bold}\n"
	".note{color:#555;font-size:.85em}\n"
	"svg{display:block;margin:.3em 0}\n"
	"@media print{body{margin:1cm}h2{page-break-after:avoid}}\n"
	"</style></head><body>\n";

/* ---- continuity ------------------------------------------------------------- */

static void verdict_text(const struct continuity_camera *c, char *buf, size_t size)
{
	char longest[48];
	if (c->ngaps == 0) {
		snprintf(buf, size, "continuous");
		return;
	}
	duration_format(c->longest_gap_us, longest, sizeof(longest));
	snprintf(buf, size, "%zu gap%s, longest %s", c->ngaps, c->ngaps == 1 ? "" : "s", longest);
}

static void continuity_text(const struct continuity_report *rep, FILE *out)
{
	char from[40], to[40], rec[48], verdict[96], a[40], b[40], len[48];

	time_format_local(rep->from_us, from, sizeof(from));
	time_format_local(rep->to_us, to, sizeof(to));
	fprintf(out, "Continuity from %s to %s (local time)\n\n", from, to);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct continuity_camera *c = &rep->cameras[i];
		duration_format(c->recorded_us, rec, sizeof(rec));
		verdict_text(c, verdict, sizeof(verdict));
		fprintf(out, "%-16s %6.2f%% recorded (%s)  %s\n", c->camera, c->coverage_percent,
			rec, verdict);
		for (size_t g = 0; g < c->ngaps; g++) {
			const struct continuity_gap *x = &c->gaps[g];
			time_format_local(x->start_us, a, sizeof(a));
			time_format_local(x->end_us, b, sizeof(b));
			duration_format(x->end_us - x->start_us, len, sizeof(len));
			fprintf(out, "    %s - %s  %10s  %-18s %s\n", a, b, len, x->reason,
				x->detail);
		}
	}
}

static void continuity_json(const struct continuity_report *rep, FILE *out)
{
	struct json_writer w;
	char verdict[96];

	jw_init_file(&w, out, true);
	jw_begin_object(&w);
	jw_kv_time(&w, "from", rep->from_us);
	jw_kv_time(&w, "to", rep->to_us);
	jw_kv_time(&w, "generated", rep->generated_us);
	jw_key(&w, "cameras");
	jw_begin_array(&w);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct continuity_camera *c = &rep->cameras[i];
		verdict_text(c, verdict, sizeof(verdict));
		jw_begin_object(&w);
		jw_kv_string(&w, "camera", c->camera);
		jw_kv_double(&w, "coverage_percent", c->coverage_percent, 3);
		jw_kv_double(&w, "recorded_s", (double)c->recorded_us / 1e6, 3);
		jw_kv_string(&w, "verdict", c->ngaps ? "gaps" : "continuous");
		jw_kv_string(&w, "summary", verdict);
		jw_kv_double(&w, "longest_gap_s", (double)c->longest_gap_us / 1e6, 3);
		jw_key(&w, "gaps");
		jw_begin_array(&w);
		for (size_t g = 0; g < c->ngaps; g++) {
			const struct continuity_gap *x = &c->gaps[g];
			jw_begin_object(&w);
			jw_kv_time(&w, "start", x->start_us);
			jw_kv_time(&w, "end", x->end_us);
			jw_kv_double(&w, "seconds", (double)(x->end_us - x->start_us) / 1e6, 3);
			jw_kv_string(&w, "reason", x->reason);
			jw_kv_string(&w, "detail", x->detail);
			jw_end_object(&w);
		}
		jw_end_array(&w);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_end_object(&w);
	jw_finish(&w);
}

static void continuity_csv(const struct continuity_report *rep, FILE *out)
{
	char a[40], b[40];
	fputs("camera,coverage_percent,recorded_s,verdict,gap_start,gap_end,gap_seconds,reason,"
	      "detail\n",
	      out);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct continuity_camera *c = &rep->cameras[i];
		if (c->ngaps == 0) {
			csv_field(out, c->camera);
			fprintf(out, ",%.3f,%.3f,continuous,,,,,\n", c->coverage_percent,
				(double)c->recorded_us / 1e6);
		}
		for (size_t g = 0; g < c->ngaps; g++) {
			const struct continuity_gap *x = &c->gaps[g];
			time_format_utc(x->start_us, a, sizeof(a));
			time_format_utc(x->end_us, b, sizeof(b));
			csv_field(out, c->camera);
			fprintf(out, ",%.3f,%.3f,gaps,%s,%s,%.3f,", c->coverage_percent,
				(double)c->recorded_us / 1e6, a, b,
				(double)(x->end_us - x->start_us) / 1e6);
			csv_field(out, x->reason);
			fputc(',', out);
			csv_field(out, x->detail);
			fputc('\n', out);
		}
	}
}

static void continuity_html(const struct continuity_report *rep, FILE *out)
{
	char from[40], to[40], rec[48], verdict[96], a[40], b[40], len[48], gen[40];
	const double width = 900.0;
	double span = (double)(rep->to_us - rep->from_us);

	time_format_local(rep->from_us, from, sizeof(from));
	time_format_local(rep->to_us, to, sizeof(to));
	time_format_local(rep->generated_us, gen, sizeof(gen));
	fprintf(out, html_head, "vigil continuity report");
	fprintf(out,
		"<h1>Continuity report</h1>\n<p>From <b>%s</b> to <b>%s</b> (local time). "
		"Generated %s by vigil %s.</p>\n",
		from, to, gen, VIGIL_VERSION);
	fputs("<table><tr><th>camera</th><th>recorded</th><th>coverage</th><th>verdict</th></tr>\n",
	      out);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct continuity_camera *c = &rep->cameras[i];
		duration_format(c->recorded_us, rec, sizeof(rec));
		verdict_text(c, verdict, sizeof(verdict));
		fputs("<tr><td>", out);
		html_escape(out, c->camera);
		fprintf(out, "</td><td>%s</td><td>%.2f%%</td><td class=\"%s\">%s</td></tr>\n", rec,
			c->coverage_percent, c->ngaps ? "bad" : "ok", verdict);
	}
	fputs("</table>\n", out);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct continuity_camera *c = &rep->cameras[i];
		fputs("<h2>", out);
		html_escape(out, c->camera);
		fputs("</h2>\n", out);
		/* green where there is footage, red where there is none */
		fprintf(out,
			"<svg width=\"%.0f\" height=\"26\" role=\"img\">"
			"<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"20\" fill=\"#3c9a52\"/>",
			width, width);
		for (size_t g = 0; g < c->ngaps && span > 0; g++) {
			const struct continuity_gap *x = &c->gaps[g];
			double x0 = (double)(x->start_us - rep->from_us) / span * width;
			double w = (double)(x->end_us - x->start_us) / span * width;
			fprintf(out,
				"<rect x=\"%.2f\" y=\"0\" width=\"%.2f\" height=\"20\" fill=\"%s\">"
				"<title>%s</title></rect>",
				x0, w < 1 ? 1 : w,
				strcmp(x->reason, "not-recording") == 0 ? "#bbb" : "#c62828",
				x->reason);
		}
		fputs("</svg>\n", out);
		if (c->ngaps == 0) {
			fputs("<p class=\"ok\">continuous</p>\n", out);
			continue;
		}
		fputs("<table><tr><th>start</th><th>end</th><th>length</th><th>reason</th>"
		      "<th>detail</th></tr>\n",
		      out);
		for (size_t g = 0; g < c->ngaps; g++) {
			const struct continuity_gap *x = &c->gaps[g];
			time_format_local(x->start_us, a, sizeof(a));
			time_format_local(x->end_us, b, sizeof(b));
			duration_format(x->end_us - x->start_us, len, sizeof(len));
			fprintf(out, "<tr><td>%s</td><td>%s</td><td>%s</td><td>", a, b, len);
			html_escape(out, x->reason);
			fputs("</td><td>", out);
			html_escape(out, x->detail);
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
	}
	fputs("</body></html>\n", out);
}

int continuity_write(const struct continuity_report *rep, enum report_format f, FILE *out)
{
	switch (f) {
	case REPORT_TEXT: continuity_text(rep, out); break;
	case REPORT_JSON: continuity_json(rep, out); break;
	case REPORT_CSV: continuity_csv(rep, out); break;
	case REPORT_HTML: continuity_html(rep, out); break;
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

/* ---- retention ---------------------------------------------------------------- */

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
		csv_field(out, c->camera);
		fprintf(out,
			",%s,%s,%.2f,%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%d,%" PRId64 ",%.1f\n",
			c->verdict, oldest, c->days_covered, c->floor_days, counts[0], counts[1],
			counts[2], c->holds, c->live_bytes, rep->capacity.forecast_days);
	}
}

static void retention_html(const struct retention_report *rep, FILE *out)
{
	char gen[40], oldest[40], fc[96], total[32], freeb[32];
	int64_t today = rep->generated_us / DAY_US;

	time_format_local(rep->generated_us, gen, sizeof(gen));
	forecast_text(&rep->capacity, fc, sizeof(fc));
	gib(rep->capacity.total_bytes, total, sizeof(total));
	gib(rep->capacity.free_bytes, freeb, sizeof(freeb));
	fprintf(out, html_head, "vigil retention report");
	fprintf(out,
		"<h1>Retention report</h1>\n<p>Generated %s by vigil %s. Storage: %s free of "
		"%s. Capacity forecast: <span class=\"%s\">%s</span>.</p>\n",
		gen, VIGIL_VERSION, freeb, total, rep->capacity.at_risk ? "bad" : "ok", fc);
	fputs("<table><tr><th>camera</th><th>verdict</th><th>oldest footage</th><th>days "
	      "covered</th>"
	      "<th>floor</th><th>deleted in period</th><th>holds</th></tr>\n",
	      out);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct retention_camera_report *c = &rep->cameras[i];
		const char *cls = strcmp(c->verdict, "met") == 0	? "ok"
				  : strcmp(c->verdict, "breached") == 0 ? "bad"
									: "na";
		if (c->oldest_us >= 0)
			time_format_local(c->oldest_us, oldest, sizeof(oldest));
		else
			snprintf(oldest, sizeof(oldest), "none");
		fputs("<tr><td>", out);
		html_escape(out, c->camera);
		fprintf(out,
			"</td><td class=\"%s\">%s</td><td>%s</td><td>%.1f</td><td>%d days</td><td>",
			cls, c->verdict, oldest, c->days_covered, c->floor_days);
		if (!c->ndeleted)
			fputs("none", out);
		for (int d = 0; d < c->ndeleted; d++)
			fprintf(out, "%s%s: %" PRId64, d ? ", " : "", c->deleted[d].reason,
				c->deleted[d].segments);
		fprintf(out, "</td><td>%d</td></tr>\n", c->holds);
	}
	fputs("</table>\n<p class=\"note\">Each strip shows the last 90 days, oldest on the left: "
	      "the darker the green, the more of the day was recorded; red, nothing "
	      "recorded.</p>\n",
	      out);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct retention_camera_report *c = &rep->cameras[i];
		fputs("<h2>", out);
		html_escape(out, c->camera);
		fprintf(out, "</h2>\n<p class=\"note\">");
		html_escape(out, c->why);
		fputs("</p>\n<svg width=\"900\" height=\"34\" role=\"img\">", out);
		for (int d = 0; d < 90; d++) {
			double frac = (double)c->day_recorded_us[d] / (double)DAY_US;
			int64_t day = today - 89 + d;
			bool before = c->first_us < 0 || (day + 1) * DAY_US <= c->first_us;
			const char *fill;
			char color[16];
			if (before) {
				fill = "#e0e0e0";
			} else if (frac <= 0.0) {
				fill = "#c62828";
			} else {
				int g = 200 - (int)(frac * 120);
				snprintf(color, sizeof(color), "#2e%02x46",
					 g < 0	   ? 0
					 : g > 255 ? 255
						   : g);
				fill = color;
			}
			char date[40];
			time_format_utc_s(day * DAY_US, date, sizeof(date));
			date[10] = '\0';
			fprintf(out,
				"<rect x=\"%d\" y=\"0\" width=\"9\" height=\"24\" fill=\"%s\">"
				"<title>%s: %.1f%% recorded</title></rect>",
				d * 10, fill, date, frac * 100);
		}
		fputs("<text x=\"0\" y=\"33\" font-size=\"9\">90 days ago</text>"
		      "<text x=\"870\" y=\"33\" font-size=\"9\">today</text></svg>\n",
		      out);
	}
	if (rep->nholds) {
		fputs("<h2>Legal holds in "
		      "force</h2>\n<table><tr><th>#</th><th>camera</th><th>from</th>"
		      "<th>to</th><th>reason</th></tr>\n",
		      out);
		for (size_t h = 0; h < rep->nholds; h++) {
			char a[40], b[40];
			time_format_local(rep->holds[h].start_us, a, sizeof(a));
			time_format_local(rep->holds[h].end_us, b, sizeof(b));
			fprintf(out, "<tr><td>%" PRId64 "</td><td>", rep->holds[h].id);
			html_escape(out, rep->holds[h].camera);
			fprintf(out, "</td><td>%s</td><td>%s</td><td>", a, b);
			html_escape(out, rep->holds[h].reason);
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
	}
	fputs("</body></html>\n", out);
}

int retention_report_write(const struct retention_report *rep, enum report_format f, FILE *out)
{
	switch (f) {
	case REPORT_TEXT: retention_text(rep, out); break;
	case REPORT_JSON: retention_json(rep, out); break;
	case REPORT_CSV: retention_csv(rep, out); break;
	case REPORT_HTML: retention_html(rep, out); break;
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

int report_format_parse(const char *name, enum report_format *f)
{
	static const char *const names[] = { "text", "json", "csv", "html" };
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			*f = (enum report_format)i;
			return 0;
		}
	}
	return -EINVAL;
}
