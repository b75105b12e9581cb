/*
 * Writing the continuity report (retention's continuity_compute fills it):
 * text for people, JSON for scripts (the keys of DESIGN.md), CSV for
 * spreadsheets, and a self-contained printable HTML page with a strip per
 * camera that draws recorded time, each gap in its reason's colour, and the
 * part of the window still to come.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report/page.h"
#include "report/report.h"
#include "retention/retention.h"
#include "util/timefmt.h"
#include "util/json.h"

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
			page_csv_field(out, c->camera);
			fprintf(out, ",%.3f,%.3f,continuous,,,,,\n", c->coverage_percent,
				(double)c->recorded_us / 1e6);
		}
		for (size_t g = 0; g < c->ngaps; g++) {
			const struct continuity_gap *x = &c->gaps[g];
			time_format_utc(x->start_us, a, sizeof(a));
			time_format_utc(x->end_us, b, sizeof(b));
			page_csv_field(out, c->camera);
			fprintf(out, ",%.3f,%.3f,gaps,%s,%s,%.3f,", c->coverage_percent,
				(double)c->recorded_us / 1e6, a, b,
				(double)(x->end_us - x->start_us) / 1e6);
			page_csv_field(out, x->reason);
			fputc(',', out);
			page_csv_field(out, x->detail);
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
	page_html_head(out, "vigil continuity report");
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
		page_html_text(out, c->camera);
		fprintf(out, "</td><td>%s</td><td>%.2f%%</td><td class=\"%s\">%s</td></tr>\n", rec,
			c->coverage_percent, c->ngaps ? "bad" : "ok", verdict);
	}
	fputs("</table>\n", out);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct continuity_camera *c = &rep->cameras[i];
		fputs("<h2>", out);
		page_html_text(out, c->camera);
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
			page_html_text(out, x->reason);
			fputs("</td><td>", out);
			page_html_text(out, x->detail);
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
	}
	page_html_end(out);
}

int continuity_write(const struct continuity_report *rep, enum report_format f, FILE *out)
{
	switch (f) {
	case REPORT_TEXT: continuity_text(rep, out); break;
	case REPORT_JSON: continuity_json(rep, out); break;
	case REPORT_CSV: continuity_csv(rep, out); break;
	case REPORT_HTML: continuity_html(rep, out); break;
	}
	return page_finish(out);
}
