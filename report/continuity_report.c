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
#include "util/version.h"
#include "util/banned.h"

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

/* The same in the report's language, for the page. */
static void verdict_html(const struct continuity_camera *c, char *buf, size_t size)
{
	char longest[48];
	if (c->ngaps == 0) {
		snprintf(buf, size, "%s", page_tr("continuous"));
		return;
	}
	page_duration(c->longest_gap_us, longest, sizeof(longest));
	if (c->ngaps == 1)
		page_snprintf(buf, size, "%zu gap, longest %s", c->ngaps, longest);
	else
		page_snprintf(buf, size, "%zu gaps, longest %s", c->ngaps, longest);
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

/* ---- the HTML strip --------------------------------------------------------- */

/*
 * The strip of a camera is drawn from what continuity says, never from a
 * background colour: recorded time in green, each gap in its reason's
 * colour, and the part of the window after the report was made as "not
 * yet".  Recorded time is the window up to then minus the gaps (holes
 * shorter than the run tolerance are neither), drawn to its exact width; a
 * gap is drawn at least one pixel wide, over recorded time, so a short gap
 * still shows and a printed strip never shows footage that does not exist.
 */
struct strip_colour {
	const char *reason;
	const char *fill;
	const char *label;
};

#define STRIP_RECORDED "#3c9a52"
#define STRIP_FUTURE "#ffffff"
#define STRIP_WIDTH 900.0

static const struct strip_colour strip_colours[] = {
	{ "camera-unreachable", "#e65100", "camera unreachable" },
	{ "stream-stalled", "#f9a825", "stream stalled" },
	{ "stream-error", "#ad1457", "stream error" },
	{ "recorder-down", "#5d4037", "recorder down" },
	{ "storage-error", "#6a1b9a", "storage error" },
	{ "storage-full", "#283593", "storage full" },
	{ "recovered-partial", "#00838f", "recovered in part" },
	{ "deleted", "#37474f", "deleted under the retention rule" },
	{ "not-recording", "#bdbdbd", "no footage from the camera yet" },
	{ "unaccounted", "#c62828", "unaccounted" },
};
/* a reason this table does not know yet */
static const struct strip_colour strip_other = { "", "#880e4f", "other" };

static const struct strip_colour *strip_colour(const char *reason)
{
	for (size_t i = 0; i < sizeof(strip_colours) / sizeof(strip_colours[0]); i++)
		if (strcmp(reason, strip_colours[i].reason) == 0)
			return &strip_colours[i];
	return &strip_other;
}

/* The end of what the report could know: the window up to when it was
 * made (continuity_compute stops there too). */
static int64_t strip_known_end(const struct continuity_report *rep)
{
	int64_t end = rep->to_us < rep->generated_us ? rep->to_us : rep->generated_us;
	return end > rep->from_us ? end : rep->from_us;
}

static void strip_rect(const struct continuity_report *rep, FILE *out, const char *cls,
		       const char *reason, const char *fill, int64_t start, int64_t end,
		       double min_width)
{
	double span = (double)(rep->to_us - rep->from_us);
	double x = (double)(start - rep->from_us) / span * STRIP_WIDTH;
	double w = (double)(end - start) / span * STRIP_WIDTH;
	char a[40], b[40];

	if (w < min_width)
		w = min_width;
	time_format_local(start, a, sizeof(a));
	time_format_local(end, b, sizeof(b));
	fprintf(out, "<rect class=\"%s\" data-reason=\"", cls);
	page_html_text(out, reason);
	fprintf(out, "\" x=\"%.2f\" y=\"0\" width=\"%.2f\" height=\"20\" fill=\"%s\"><title>", x, w,
		fill);
	page_html_tr(out, reason);
	fprintf(out, " %s - %s</title></rect>", a, b);
}

static void strip_html(const struct continuity_report *rep, const struct continuity_camera *c,
		       FILE *out)
{
	int64_t known = strip_known_end(rep), pos = rep->from_us;

	fprintf(out, "<svg class=\"strip\" width=\"%.0f\" height=\"26\" role=\"img\">",
		STRIP_WIDTH);
	if (rep->to_us <= rep->from_us) {
		fputs("</svg>\n", out);
		return;
	}
	/* recorded: what lies between the gaps, up to what the report knew */
	for (size_t g = 0; g <= c->ngaps; g++) {
		int64_t end = g < c->ngaps ? c->gaps[g].start_us : known;
		if (end > known)
			end = known;
		if (end > pos)
			strip_rect(rep, out, "recorded", "recorded", STRIP_RECORDED, pos, end, 0);
		if (g < c->ngaps && c->gaps[g].end_us > pos)
			pos = c->gaps[g].end_us;
	}
	for (size_t g = 0; g < c->ngaps; g++) {
		const struct continuity_gap *x = &c->gaps[g];
		strip_rect(rep, out, "gap", x->reason, strip_colour(x->reason)->fill, x->start_us,
			   x->end_us, 1);
	}
	if (known < rep->to_us)
		strip_rect(rep, out, "future", "not-yet", STRIP_FUTURE, known, rep->to_us, 0);
	fprintf(out,
		"<rect class=\"frame\" x=\"0.5\" y=\"0.5\" width=\"%.0f\" height=\"19\" "
		"fill=\"none\" stroke=\"#999\" pointer-events=\"none\"/></svg>\n",
		STRIP_WIDTH - 1);
}

static void legend_item(FILE *out, const char *fill, const char *label)
{
	fprintf(out, "<span><i style=\"background:%s\"></i>", fill);
	page_html_tr(out, label);
	fputs("</span>", out);
}

/* What each colour of the strips means: recorded, the reasons of the gaps
 * the report has, and "not yet" when the window is not over. */
static void legend_html(const struct continuity_report *rep, FILE *out)
{
	char gen[40];
	size_t n = sizeof(strip_colours) / sizeof(strip_colours[0]);
	bool other = false;

	fputs("<p class=\"legend\">", out);
	legend_item(out, STRIP_RECORDED, "recorded");
	for (size_t k = 0; k <= n; k++) {
		bool used = false;
		for (size_t i = 0; i < rep->ncameras && !used; i++) {
			const struct continuity_camera *c = &rep->cameras[i];
			for (size_t g = 0; g < c->ngaps && !used; g++) {
				const struct strip_colour *sc = strip_colour(c->gaps[g].reason);
				used = k < n ? sc == &strip_colours[k] : sc == &strip_other;
			}
		}
		if (used && k < n)
			legend_item(out, strip_colours[k].fill, strip_colours[k].label);
		other |= used && k == n;
	}
	if (other)
		legend_item(out, strip_other.fill, strip_other.label);
	if (strip_known_end(rep) < rep->to_us) {
		time_format_local(rep->generated_us, gen, sizeof(gen));
		char label[80];
		page_snprintf(label, sizeof(label), "not yet (after %s)", gen);
		legend_item(out, STRIP_FUTURE, label);
	}
	fputs("</p>\n", out);
}

static void continuity_html_gaps(const struct continuity_camera *c, FILE *out)
{
	char a[40], b[40], len[48];

	if (c->ngaps == 0) {
		page_printf(out, "<p class=\"ok\">%s</p>\n", page_tr("continuous"));
		return;
	}
	page_printf(out,
		    "<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
		    page_tr("start"), page_tr("end"), page_tr("length"), page_tr("reason"),
		    page_tr("detail"));
	for (size_t g = 0; g < c->ngaps; g++) {
		const struct continuity_gap *x = &c->gaps[g];
		time_format_local(x->start_us, a, sizeof(a));
		time_format_local(x->end_us, b, sizeof(b));
		page_duration(x->end_us - x->start_us, len, sizeof(len));
		fprintf(out, "<tr><td>%s</td><td>%s</td><td>%s</td><td>", a, b, len);
		page_html_tr(out, x->reason);
		fputs("</td><td>", out);
		page_html_detail(out, x->detail);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void continuity_html(const struct continuity_report *rep, FILE *out)
{
	char from[40], to[40], rec[48], verdict[96], gen[40];

	time_format_local(rep->from_us, from, sizeof(from));
	time_format_local(rep->to_us, to, sizeof(to));
	time_format_local(rep->generated_us, gen, sizeof(gen));
	page_html_head(out, page_tr("vigil continuity report"));
	page_printf(out, "<h1>%s</h1>\n<p>", page_tr("Continuity report"));
	page_printf(out, "From <b>%s</b> to <b>%s</b> (local time). Generated %s by vigil %s.",
		    from, to, gen, vigil_version);
	page_printf(out, "</p>\n<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
		    page_tr("camera"), page_tr("recorded"), page_tr("coverage"),
		    page_tr("verdict"));
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct continuity_camera *c = &rep->cameras[i];
		page_duration(c->recorded_us, rec, sizeof(rec));
		verdict_html(c, verdict, sizeof(verdict));
		fputs("<tr><td>", out);
		page_html_text(out, c->camera);
		fprintf(out, "</td><td>%s</td><td>%.2f%%</td><td class=\"%s\">%s</td></tr>\n", rec,
			c->coverage_percent, c->ngaps ? "bad" : "ok", verdict);
	}
	fputs("</table>\n", out);
	legend_html(rep, out);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct continuity_camera *c = &rep->cameras[i];
		fputs("<h2>", out);
		page_html_text(out, c->camera);
		fputs("</h2>\n", out);
		strip_html(rep, c, out);
		continuity_html_gaps(c, out);
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
