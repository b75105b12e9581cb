/*
 * The SLA and inspection reports.  Both gather their rows first (tickets
 * from the ticket database; uptime and gaps from the footage catalog), then
 * write them as text for people, JSON for scripts, or a self-contained,
 * printable HTML page.  The scoring rules are health/logic.c's.
 */
#include "report/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "tickets/tickets.h"
#include "util/jread.h"
#include "tickets/rules.h"
#include "tickets/tickets.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/json.h"
#include "util/timefmt.h"
#include "util/buf.h"

int health_report_format_parse(const char *s, enum health_report_format *out)
{
	static const char *const names[] = { "text", "json", "html" };
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum health_report_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

int health_quarter_range(const char *s, int64_t *from_us, int64_t *to_us)
{
	return time_quarter_parse(s, from_us, to_us);
}

int health_week_range(const char *s, int64_t *from_us, int64_t *to_us)
{
	return time_week_parse(s, from_us, to_us);
}

/* ---- shared helpers ----------------------------------------------------- */

static void html_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void html_head(FILE *f, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
	html_text(f, title);
	fputs("</title>\n<style>\n"
	      "body{font-family:sans-serif;margin:2em;color:#111}\n"
	      "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}\n"
	      "table{border-collapse:collapse;margin:.5em 0;width:100%}\n"
	      "th,td{border:1px solid #999;padding:.25em .5em;text-align:left;font-size:.9em}\n"
	      "th{background:#eee}.num{text-align:right}.bad{color:#a00;font-weight:bold}\n"
	      ".score{font-size:2.5em;font-weight:bold}.small{color:#555;font-size:.85em}\n"
	      "@media print{body{margin:0}th{background:#ddd!important}"
	      "tr{page-break-inside:avoid}}\n"
	      "</style></head><body>\n",
	      f);
}

static void local_min(int64_t us, char *out, size_t size)
{
	if (us < 0) {
		snprintf(out, size, "-");
		return;
	}
	time_format_local(us, out, size);
	if (strlen(out) > 16)
		out[16] = '\0';
}

static void local_sec(int64_t us, char *out, size_t size)
{
	if (us < 0)
		snprintf(out, size, "-");
	else
		time_format_local(us, out, size);
}

static void kv_time_or_null(struct json_writer *w, const char *key, int64_t us)
{
	if (us >= 0) {
		jw_kv_time(w, key, us);
	} else {
		jw_key(w, key);
		jw_null(w);
	}
}

static struct ticket_db *open_tickets(const struct config *cfg, FILE *err, bool quiet)
{
	char msg[512];
	if (access(cfg->checker_database, F_OK) < 0) {
		if (!quiet)
			fprintf(err,
				"vigil report: no ticket database at '%s' (has vigil check run "
				"with this config?)\n",
				cfg->checker_database);
		return NULL;
	}
	struct ticket_db *db =
		ticket_db_open(cfg->checker_database, CATALOG_READ_ONLY, NULL, msg, sizeof(msg));
	if (!db)
		fprintf(err, "vigil report: %s\n", msg);
	return db;
}

struct tickets {
	struct ticket *items;
	size_t n, cap;
};

static int collect_ticket(const struct ticket *t, void *ctx)
{
	struct tickets *ts = ctx;
	if (array_reserve(&ts->items, &ts->cap, ts->n + 1, sizeof(*ts->items)) < 0)
		return -ENOMEM;
	ts->items[ts->n++] = *t;
	return 0;
}

static const char *camera_or_dash(const struct ticket *t)
{
	return t->camera[0] ? t->camera : "-";
}

/* ---- SLA ---------------------------------------------------------------- */

int health_report_sla(const struct config *cfg, const char *quarter, int64_t from_us, int64_t to_us,
		      enum health_report_format fmt, FILE *out, FILE *err)
{
	struct ticket_db *db = open_tickets(cfg, err, false);
	struct tickets ts = { 0 };
	struct ticket_filter f = { .include_resolved = true,
				   .opened_from_us = from_us,
				   .opened_to_us = to_us };
	int counts[5] = { 0 }, ret, misses = 0;
	int64_t now = clock_wall_us();
	char a[40], b[40], gen[40];

	if (!db)
		return -ENOENT;
	if ((ret = ticket_db_each(db, &f, collect_ticket, &ts)) < 0) {
		fprintf(err, "vigil report sla: cannot read '%s': %s\n", cfg->checker_database,
			db_errmsg(ret));
		goto out;
	}
	bool *missed = calloc(ts.n ? ts.n : 1, sizeof(*missed));
	int64_t *response = calloc(ts.n ? ts.n : 1, sizeof(*response));
	if (!missed || !response) {
		free(missed);
		free(response);
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ts.n; i++) {
		const struct ticket *t = &ts.items[i];
		if (t->level >= 1 && t->level <= 4)
			counts[t->level]++;
		missed[i] =
			ticket_response_missed(t->opened_us, t->acknowledged_us, now, &response[i]);
		misses += missed[i];
	}
	int score = ticket_sla_score(counts);
	int deducted = 0;
	for (int l = 1; l <= 4; l++)
		deducted += counts[l] * ticket_sla_deduction(l);
	local_min(from_us, a, sizeof(a));
	local_min(to_us, b, sizeof(b));
	local_min(now, gen, sizeof(gen));

	if (fmt == HEALTH_REPORT_JSON) {
		struct json_writer w;
		jw_init_file(&w, out, true);
		jw_begin_object(&w);
		jw_kv_string(&w, "quarter", quarter);
		jw_kv_time(&w, "from", from_us);
		jw_kv_time(&w, "to", to_us);
		jw_kv_time(&w, "generated", now);
		jw_kv_int(&w, "score", score);
		jw_kv_int(&w, "faults", (int64_t)ts.n);
		jw_kv_int(&w, "deducted", deducted);
		jw_key(&w, "levels");
		jw_begin_object(&w);
		for (int l = 1; l <= 4; l++) {
			char k[4];
			snprintf(k, sizeof(k), "%d", l);
			jw_key(&w, k);
			jw_begin_object(&w);
			jw_kv_int(&w, "faults", counts[l]);
			jw_kv_int(&w, "deduction_each", ticket_sla_deduction(l));
			jw_kv_int(&w, "deducted", counts[l] * ticket_sla_deduction(l));
			jw_end_object(&w);
		}
		jw_end_object(&w);
		jw_kv_int(&w, "response_target_s", TICKET_RESPONSE_TARGET_US / USEC_PER_SEC);
		jw_key(&w, "response_misses");
		jw_begin_array(&w);
		for (size_t i = 0; i < ts.n; i++) {
			const struct ticket *t = &ts.items[i];
			if (!missed[i])
				continue;
			jw_begin_object(&w);
			jw_kv_int(&w, "id", t->id);
			jw_kv_string(&w, "kind", ticket_kind_name(t->kind));
			jw_kv_int(&w, "level", t->level);
			jw_kv_string(&w, "recorder", t->recorder);
			jw_kv_string(&w, "camera", t->camera[0] ? t->camera : NULL);
			jw_kv_string(&w, "site", t->site);
			jw_kv_time(&w, "opened", t->opened_us);
			kv_time_or_null(&w, "acknowledged", t->acknowledged_us);
			if (response[i] >= 0)
				jw_kv_int(&w, "response_s", response[i] / USEC_PER_SEC);
			else {
				jw_key(&w, "response_s");
				jw_null(&w);
			}
			jw_end_object(&w);
		}
		jw_end_array(&w);
		jw_key(&w, "tickets");
		jw_begin_array(&w);
		for (size_t i = 0; i < ts.n; i++) {
			jw_begin_object(&w);
			ticket_json_fields(&w, &ts.items[i], now);
			jw_kv_bool(&w, "response_missed", missed[i]);
			jw_end_object(&w);
		}
		jw_end_array(&w);
		jw_end_object(&w);
		ret = jw_finish(&w);
	} else if (fmt == HEALTH_REPORT_HTML) {
		char title[128];
		snprintf(title, sizeof(title), "SLA report %s", quarter);
		html_head(out, title);
		fprintf(out, "<h1>SLA report, quarter ");
		html_text(out, quarter);
		fprintf(out, "</h1>\n<p class=\"small\">");
		html_text(out, cfg->site ? cfg->site : "");
		fprintf(out, " &middot; %s to %s (local time) &middot; generated %s</p>\n", a, b,
			gen);
		fprintf(out, "<p>Score <span class=\"score%s\">%d</span> / 100</p>\n",
			score < 100 ? " bad" : "", score);
		fprintf(out,
			"<h2>Deductions</h2>\n<table><tr><th>level</th><th class=\"num\">faults"
			"</th><th class=\"num\">each</th><th class=\"num\">deducted</th></tr>\n");
		for (int l = 1; l <= 4; l++)
			fprintf(out,
				"<tr><td>%d</td><td class=\"num\">%d</td><td class=\"num\">-%d</td>"
				"<td class=\"num\">-%d</td></tr>\n",
				l, counts[l], ticket_sla_deduction(l),
				counts[l] * ticket_sla_deduction(l));
		fprintf(out, "</table>\n<h2>Response-time misses (target 10 min): %d</h2>\n",
			misses);
		if (misses) {
			fprintf(out, "<table><tr><th>ticket</th><th>fault</th><th>opened</th>"
				     "<th>acknowledged</th><th>response</th></tr>\n");
			for (size_t i = 0; i < ts.n; i++) {
				const struct ticket *t = &ts.items[i];
				char o[40], k[40], r[40], text[1024];
				if (!missed[i])
					continue;
				local_min(t->opened_us, o, sizeof(o));
				local_min(t->acknowledged_us, k, sizeof(k));
				if (response[i] >= 0)
					ticket_duration_text(response[i], r, sizeof(r));
				else
					snprintf(r, sizeof(r), "never");
				ticket_text(t, now, text, sizeof(text));
				fprintf(out, "<tr><td>#%" PRId64 "</td><td>", t->id);
				html_text(out, text);
				fprintf(out,
					"</td><td>%s</td><td>%s</td><td "
					"class=\"bad\">%s</td></tr>\n",
					o, k, r);
			}
			fprintf(out, "</table>\n");
		}
		fprintf(out, "<h2>Faults: %zu</h2>\n", ts.n);
		if (ts.n) {
			fprintf(out, "<table><tr><th>ticket</th><th>level</th><th>fault</th>"
				     "<th>opened</th><th>resolved</th></tr>\n");
			for (size_t i = 0; i < ts.n; i++) {
				const struct ticket *t = &ts.items[i];
				char o[40], r[40], text[1024];
				local_min(t->opened_us, o, sizeof(o));
				local_min(t->resolved_us, r, sizeof(r));
				ticket_text(t, now, text, sizeof(text));
				fprintf(out, "<tr><td>#%" PRId64 "</td><td>%d</td><td>", t->id,
					t->level);
				html_text(out, text);
				fprintf(out, "</td><td>%s</td><td>%s</td></tr>\n", o, r);
			}
			fprintf(out, "</table>\n");
		}
		fprintf(out, "</body></html>\n");
		ret = ferror(out) ? -EIO : 0;
	} else {
		fprintf(out, "SLA report, quarter %s (%s to %s, local time)\n", quarter, a, b);
		fprintf(out, "score: %d/100\n", score);
		fprintf(out, "faults: %zu (level 1: %d, level 2: %d, level 3: %d, level 4: %d)\n",
			ts.n, counts[1], counts[2], counts[3], counts[4]);
		fprintf(out, "deducted: %d", deducted);
		bool first = true;
		for (int l = 1; l <= 4; l++) {
			if (!counts[l])
				continue;
			fprintf(out, "%slevel %d x%d = -%d", first ? " (" : ", ", l, counts[l],
				counts[l] * ticket_sla_deduction(l));
			first = false;
		}
		fprintf(out, "%s\n", first ? "" : ")");
		fprintf(out, "response-time misses (target 10 min): %d\n", misses);
		for (size_t i = 0; i < ts.n; i++) {
			const struct ticket *t = &ts.items[i];
			char o[40], r[40];
			if (!missed[i])
				continue;
			local_min(t->opened_us, o, sizeof(o));
			if (response[i] >= 0)
				ticket_duration_text(response[i], r, sizeof(r));
			fprintf(out, "  #%-5" PRId64 " %-17s %s/%s  opened %s  %s%s\n", t->id,
				ticket_kind_name(t->kind), t->recorder, camera_or_dash(t), o,
				response[i] >= 0 ? "acknowledged after " : "never acknowledged",
				response[i] >= 0 ? r : "");
		}
		if (ts.n)
			fprintf(out, "tickets:\n");
		for (size_t i = 0; i < ts.n; i++) {
			char text[1024];
			ticket_text(&ts.items[i], now, text, sizeof(text));
			fprintf(out, "  #%-5" PRId64 " level %d  %s\n", ts.items[i].id,
				ts.items[i].level, text);
		}
		ret = ferror(out) ? -EIO : 0;
	}
	free(missed);
	free(response);
out:
	free(ts.items);
	ticket_db_close(&db);
	return ret;
}

/* ---- inspection --------------------------------------------------------- */

struct gap_row {
	int64_t start_us, end_us;
	enum gap_reason reason;
};

struct cam_row {
	char camera[CATALOG_CAMERA_MAX];
	const struct camera_config *cc;
	int64_t created_us;
	int64_t window_us;   /* the part of the week the camera existed, up to now */
	int64_t recorded_us; /* recorded within it */
	struct gap_row *gaps;
	size_t ngaps;
	int opened, closed;
};

struct inspection {
	const struct config *cfg;
	struct catalog *cat;
	int64_t from_us, to_us, now_us;
	struct cam_row *cams;
	size_t ncams;
	struct tickets opened, closed;
	/* the recorder, as last reported */
	bool reported;
	int64_t reported_us;
	int64_t disk_total, disk_free;
	double forecast_days;
	int64_t oldest_us;
};

static struct cam_row *cam_add(struct inspection *in, const char *camera)
{
	for (size_t i = 0; i < in->ncams; i++)
		if (strcmp(in->cams[i].camera, camera) == 0)
			return &in->cams[i];
	struct cam_row *p = realloc(in->cams, (in->ncams + 1) * sizeof(*p));
	if (!p)
		return NULL;
	in->cams = p;
	struct cam_row *c = &p[in->ncams++];
	memset(c, 0, sizeof(*c));
	snprintf(c->camera, sizeof(c->camera), "%s", camera);
	c->created_us = -1;
	c->cc = config_camera(in->cfg, camera);
	return c;
}

static int add_catalog_camera(const struct catalog_camera_stats *st, void *ctx)
{
	struct inspection *in = ctx;
	struct cam_row *c = cam_add(in, st->camera);
	if (!c)
		return -ENOMEM;
	c->created_us = st->created_us;
	return 0;
}

struct span {
	int64_t from, to, total;
};

static int add_run(const struct catalog_run *r, void *ctx)
{
	struct span *s = ctx;
	int64_t a = r->start_us > s->from ? r->start_us : s->from;
	int64_t b = r->end_us < s->to ? r->end_us : s->to;
	if (b > a)
		s->total += b - a;
	return 0;
}

/* The segment being written is not in a run yet: it counts up to now. */
static int add_writing(const struct catalog_segment *seg, void *ctx)
{
	struct span *s = ctx;
	if (seg->state != SEGMENT_WRITING)
		return 0;
	int64_t a = seg->start_us > s->from ? seg->start_us : s->from;
	int64_t b = s->to;
	if (b > a)
		s->total += b - a;
	return 0;
}

static int add_gap(const struct catalog_gap *g, void *ctx)
{
	struct cam_row *c = ctx;
	struct gap_row *p = realloc(c->gaps, (c->ngaps + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	c->gaps = p;
	p[c->ngaps++] = (struct gap_row){ g->start_us, g->end_us, g->reason };
	return 0;
}

static int measure_camera(struct inspection *in, struct cam_row *c)
{
	int64_t from = in->from_us, to = in->to_us < in->now_us ? in->to_us : in->now_us;
	if (c->created_us > from)
		from = c->created_us;
	c->window_us = to > from ? to - from : 0;
	if (c->window_us > 0) {
		struct span s = { from, to, 0 };
		int ret = catalog_runs_each(in->cat, c->camera, from, to, add_run, &s);
		if (ret < 0)
			return ret;
		/* a segment being written started at most a segment ago (an hour at most) */
		struct catalog_filter f = { .camera = c->camera,
					    .from_us = to - 3600 * USEC_PER_SEC > from
							       ? to - 3600 * USEC_PER_SEC
							       : from,
					    .to_us = to };
		if ((ret = catalog_segments_each(in->cat, &f, add_writing, &s)) < 0)
			return ret;
		c->recorded_us = s.total > c->window_us ? c->window_us : s.total;
	}
	struct catalog_filter g = { .camera = c->camera,
				    .from_us = in->from_us,
				    .to_us = in->to_us };
	return catalog_gaps_each(in->cat, &g, add_gap, c);
}

static void recorder_reported(struct inspection *in, struct ticket_db *db)
{
	char payload[16384], v[64];
	int64_t updated;
	if (!db || ticket_db_recorder_payload(db, in->cfg->recorder_id, payload, sizeof(payload),
					      &updated) < 0)
		return;
	size_t len = strlen(payload);
	in->reported = true;
	in->reported_us = updated;
	if (jread_scalar(payload, len, "at", v, sizeof(v)) == 0)
		time_parse(v, &in->reported_us);
	if (jread_scalar(payload, len, "disk.total_bytes", v, sizeof(v)) == 0)
		in->disk_total = strtoll(v, NULL, 10);
	if (jread_scalar(payload, len, "disk.free_bytes", v, sizeof(v)) == 0)
		in->disk_free = strtoll(v, NULL, 10);
	if (jread_scalar(payload, len, "forecast_days", v, sizeof(v)) == 0)
		in->forecast_days = strtod(v, NULL);
	if (jread_scalar(payload, len, "oldest_footage", v, sizeof(v)) == 0)
		time_parse(v, &in->oldest_us);
}

static double percent(int64_t part, int64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 0;
}

static void write_inspection_json(struct inspection *in, const char *week, FILE *out)
{
	struct json_writer w;
	jw_init_file(&w, out, true);
	jw_begin_object(&w);
	jw_kv_string(&w, "week", week);
	jw_kv_time(&w, "from", in->from_us);
	jw_kv_time(&w, "to", in->to_us);
	jw_kv_time(&w, "generated", in->now_us);
	jw_key(&w, "recorder");
	jw_begin_object(&w);
	jw_kv_string(&w, "id", in->cfg->recorder_id);
	jw_kv_string(&w, "site", in->cfg->site ? in->cfg->site : "");
	jw_kv_string(&w, "source", in->reported ? "health" : "storage");
	kv_time_or_null(&w, "reported", in->reported ? in->reported_us : -1);
	if (in->disk_total >= 0)
		jw_kv_int(&w, "disk_total_bytes", in->disk_total);
	else {
		jw_key(&w, "disk_total_bytes");
		jw_null(&w);
	}
	if (in->disk_free >= 0)
		jw_kv_int(&w, "disk_free_bytes", in->disk_free);
	else {
		jw_key(&w, "disk_free_bytes");
		jw_null(&w);
	}
	if (in->forecast_days >= 0)
		jw_kv_double(&w, "forecast_days", in->forecast_days, 1);
	else {
		jw_key(&w, "forecast_days");
		jw_null(&w);
	}
	kv_time_or_null(&w, "oldest_footage", in->oldest_us);
	jw_end_object(&w);
	jw_key(&w, "cameras");
	jw_begin_array(&w);
	for (size_t i = 0; i < in->ncams; i++) {
		const struct cam_row *c = &in->cams[i];
		jw_begin_object(&w);
		jw_kv_string(&w, "camera", c->camera);
		jw_kv_string(&w, "site", c->cc && c->cc->site ? c->cc->site : "");
		jw_kv_string(&w, "location", c->cc && c->cc->location ? c->cc->location : "");
		if (c->window_us > 0)
			jw_kv_double(&w, "uptime_percent", percent(c->recorded_us, c->window_us),
				     3);
		else {
			jw_key(&w, "uptime_percent");
			jw_null(&w);
		}
		jw_kv_double(&w, "recorded_s", (double)c->recorded_us / USEC_PER_SEC, 3);
		jw_kv_double(&w, "observed_s", (double)c->window_us / USEC_PER_SEC, 3);
		jw_key(&w, "gaps");
		jw_begin_array(&w);
		for (size_t g = 0; g < c->ngaps; g++) {
			const struct gap_row *gr = &c->gaps[g];
			int64_t end = gr->end_us >= 0 ? gr->end_us : in->now_us;
			jw_begin_object(&w);
			jw_kv_time(&w, "start", gr->start_us);
			kv_time_or_null(&w, "end", gr->end_us);
			jw_kv_double(&w, "seconds", (double)(end - gr->start_us) / USEC_PER_SEC, 3);
			jw_kv_string(&w, "reason", catalog_gap_reason_name(gr->reason));
			jw_end_object(&w);
		}
		jw_end_array(&w);
		jw_kv_int(&w, "tickets_opened", c->opened);
		jw_kv_int(&w, "tickets_closed", c->closed);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_key(&w, "tickets");
	jw_begin_object(&w);
	jw_key(&w, "opened");
	jw_begin_array(&w);
	for (size_t i = 0; i < in->opened.n; i++)
		ticket_json(&w, &in->opened.items[i], in->now_us);
	jw_end_array(&w);
	jw_key(&w, "closed");
	jw_begin_array(&w);
	for (size_t i = 0; i < in->closed.n; i++)
		ticket_json(&w, &in->closed.items[i], in->now_us);
	jw_end_array(&w);
	jw_end_object(&w);
	jw_end_object(&w);
	jw_finish(&w);
}

static void bytes_text(int64_t b, char *out, size_t size)
{
	if (b < 0)
		snprintf(out, size, "unknown");
	else
		snprintf(out, size, "%.1f GB", (double)b / 1e9);
}

static void write_inspection_text(struct inspection *in, const char *week, FILE *out, bool html)
{
	char a[40], b[40], gen[40], total[32], freeb[32], rep[40], oldest[40];
	local_min(in->from_us, a, sizeof(a));
	local_min(in->to_us, b, sizeof(b));
	local_min(in->now_us, gen, sizeof(gen));
	bytes_text(in->disk_total, total, sizeof(total));
	bytes_text(in->disk_free, freeb, sizeof(freeb));
	local_min(in->reported ? in->reported_us : -1, rep, sizeof(rep));
	local_min(in->oldest_us, oldest, sizeof(oldest));
	char forecast[32];
	if (in->forecast_days >= 0)
		snprintf(forecast, sizeof(forecast), "%.0f days", in->forecast_days);
	else
		snprintf(forecast, sizeof(forecast), "unknown");

	if (!html) {
		fprintf(out, "Inspection record, week %s (%s to %s, local time)\n", week, a, b);
		fprintf(out, "recorder %s%s%s%s\n", in->cfg->recorder_id,
			in->cfg->site && *in->cfg->site ? " (" : "",
			in->cfg->site ? in->cfg->site : "",
			in->cfg->site && *in->cfg->site ? ")" : "");
		fprintf(out, "disk: %s free of %s; forecast %s; oldest footage %s%s%s\n", freeb,
			total, forecast, oldest, in->reported ? "; as reported " : " (storage now)",
			in->reported ? rep : "");
		fprintf(out, "%-16s %9s %10s %5s %7s %7s  %s\n", "CAMERA", "UPTIME", "RECORDED",
			"GAPS", "OPENED", "CLOSED", "LOCATION");
		for (size_t i = 0; i < in->ncams; i++) {
			const struct cam_row *c = &in->cams[i];
			char up[16], rec[32];
			if (c->window_us > 0)
				snprintf(up, sizeof(up), "%.2f%%",
					 percent(c->recorded_us, c->window_us));
			else
				snprintf(up, sizeof(up), "-");
			ticket_duration_text(c->recorded_us, rec, sizeof(rec));
			fprintf(out, "%-16s %9s %10s %5zu %7d %7d  %s\n", c->camera, up, rec,
				c->ngaps, c->opened, c->closed,
				c->cc && c->cc->location ? c->cc->location : "");
			for (size_t g = 0; g < c->ngaps; g++) {
				const struct gap_row *gr = &c->gaps[g];
				char s[40], e[40], d[32];
				local_sec(gr->start_us, s, sizeof(s));
				local_sec(gr->end_us, e, sizeof(e));
				ticket_duration_text((gr->end_us >= 0 ? gr->end_us : in->now_us) -
							     gr->start_us,
						     d, sizeof(d));
				fprintf(out, "    gap %s to %s (%s): %s\n", s,
					gr->end_us >= 0 ? e : "now", d,
					catalog_gap_reason_name(gr->reason));
			}
		}
		fprintf(out, "tickets opened: %zu, closed: %zu\n", in->opened.n, in->closed.n);
		for (size_t i = 0; i < in->opened.n; i++) {
			char text[1024];
			ticket_text(&in->opened.items[i], in->now_us, text, sizeof(text));
			fprintf(out, "  opened #%-5" PRId64 " level %d  %s\n",
				in->opened.items[i].id, in->opened.items[i].level, text);
		}
		for (size_t i = 0; i < in->closed.n; i++) {
			char text[1024];
			ticket_text(&in->closed.items[i], in->now_us, text, sizeof(text));
			fprintf(out, "  closed #%-5" PRId64 " level %d  %s\n",
				in->closed.items[i].id, in->closed.items[i].level, text);
		}
		return;
	}

	char title[128];
	snprintf(title, sizeof(title), "Inspection record %s", week);
	html_head(out, title);
	fprintf(out, "<h1>Weekly inspection record, week ");
	html_text(out, week);
	fprintf(out, "</h1>\n<p class=\"small\">%s to %s (local time) &middot; generated %s</p>\n",
		a, b, gen);
	fprintf(out, "<h2>Recorder ");
	html_text(out, in->cfg->recorder_id);
	fprintf(out, "</h2>\n<table><tr><th>site</th><td>");
	html_text(out, in->cfg->site ? in->cfg->site : "");
	fprintf(out, "</td></tr>\n<tr><th>disk</th><td>%s free of %s</td></tr>\n", freeb, total);
	fprintf(out, "<tr><th>forecast</th><td>%s</td></tr>\n", forecast);
	fprintf(out, "<tr><th>oldest footage</th><td>%s</td></tr>\n", oldest);
	fprintf(out, "<tr><th>reported</th><td>%s</td></tr></table>\n",
		in->reported ? rep : "storage, at the time of this report");
	fprintf(out, "<h2>Cameras</h2>\n<table><tr><th>camera</th><th>location</th>"
		     "<th class=\"num\">uptime</th><th class=\"num\">recorded</th>"
		     "<th>gaps</th><th class=\"num\">tickets opened</th>"
		     "<th class=\"num\">tickets closed</th></tr>\n");
	for (size_t i = 0; i < in->ncams; i++) {
		const struct cam_row *c = &in->cams[i];
		char rec[32];
		ticket_duration_text(c->recorded_us, rec, sizeof(rec));
		fprintf(out, "<tr><td>");
		html_text(out, c->camera);
		fprintf(out, "</td><td>");
		html_text(out, c->cc && c->cc->location ? c->cc->location : "");
		if (c->window_us > 0)
			fprintf(out, "</td><td class=\"num%s\">%.2f%%</td>",
				c->recorded_us < c->window_us ? " bad" : "",
				percent(c->recorded_us, c->window_us));
		else
			fprintf(out, "</td><td class=\"num\">-</td>");
		fprintf(out, "<td class=\"num\">%s</td><td>", rec);
		for (size_t g = 0; g < c->ngaps; g++) {
			const struct gap_row *gr = &c->gaps[g];
			char s[40], d[32];
			local_sec(gr->start_us, s, sizeof(s));
			ticket_duration_text((gr->end_us >= 0 ? gr->end_us : in->now_us) -
						     gr->start_us,
					     d, sizeof(d));
			fprintf(out, "%s%s, %s (%s)", g ? "<br>" : "", s, d,
				catalog_gap_reason_name(gr->reason));
		}
		fprintf(out, "</td><td class=\"num\">%d</td><td class=\"num\">%d</td></tr>\n",
			c->opened, c->closed);
	}
	fprintf(out, "</table>\n<h2>Tickets</h2>\n<table><tr><th>ticket</th><th>level</th>"
		     "<th>fault</th><th>opened</th><th>resolved</th></tr>\n");
	for (int pass = 0; pass < 2; pass++) {
		struct tickets *ts = pass ? &in->closed : &in->opened;
		for (size_t i = 0; i < ts->n; i++) {
			const struct ticket *t = &ts->items[i];
			char o[40], r[40], text[1024];
			if (pass && t->opened_us >= in->from_us && t->opened_us < in->to_us)
				continue; /* listed with the opened */
			local_min(t->opened_us, o, sizeof(o));
			local_min(t->resolved_us, r, sizeof(r));
			ticket_text(t, in->now_us, text, sizeof(text));
			fprintf(out, "<tr><td>#%" PRId64 "</td><td>%d</td><td>", t->id, t->level);
			html_text(out, text);
			fprintf(out, "</td><td>%s</td><td>%s</td></tr>\n", o, r);
		}
	}
	fprintf(out, "</table>\n<p class=\"small\">Inspected by: ____________________ &nbsp; "
		     "Date: ____________</p>\n</body></html>\n");
}

int health_report_inspection(const struct config *cfg, struct catalog *cat, const char *week,
			     int64_t from_us, int64_t to_us, enum health_report_format fmt,
			     FILE *out, FILE *err)
{
	struct inspection in = { .cfg = cfg,
				 .cat = cat,
				 .from_us = from_us,
				 .to_us = to_us,
				 .now_us = clock_wall_us(),
				 .disk_total = -1,
				 .disk_free = -1,
				 .forecast_days = -1,
				 .oldest_us = -1 };
	struct ticket_db *db = open_tickets(cfg, err, true);
	int ret = 0;

	for (size_t i = 0; i < cfg->ncameras; i++)
		if (!cam_add(&in, cfg->cameras[i].id)) {
			ret = -ENOMEM;
			goto out;
		}
	if ((ret = catalog_cameras_each(cat, add_catalog_camera, &in)) < 0)
		goto fail;
	for (size_t i = 0; i < in.ncams; i++)
		if ((ret = measure_camera(&in, &in.cams[i])) < 0)
			goto fail;
	if (db) {
		struct ticket_filter o = { .include_resolved = true,
					   .opened_from_us = from_us,
					   .opened_to_us = to_us,
					   .recorder = cfg->recorder_id };
		struct ticket_filter c = { .include_resolved = true,
					   .resolved_from_us = from_us,
					   .resolved_to_us = to_us,
					   .recorder = cfg->recorder_id };
		if ((ret = ticket_db_each(db, &o, collect_ticket, &in.opened)) < 0 ||
		    (ret = ticket_db_each(db, &c, collect_ticket, &in.closed)) < 0) {
			fprintf(err, "vigil report inspection: cannot read '%s': %s\n",
				cfg->checker_database, db_errmsg(ret));
			goto out;
		}
		for (size_t i = 0; i < in.ncams; i++) {
			for (size_t k = 0; k < in.opened.n; k++)
				in.cams[i].opened +=
					strcmp(in.opened.items[k].camera, in.cams[i].camera) == 0;
			for (size_t k = 0; k < in.closed.n; k++)
				in.cams[i].closed +=
					strcmp(in.closed.items[k].camera, in.cams[i].camera) == 0;
		}
	}
	recorder_reported(&in, db);
	if (!in.reported) {
		struct statvfs vfs;
		if (statvfs(cfg->storage_path, &vfs) == 0) {
			in.disk_total = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
			in.disk_free = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
		}
		for (size_t i = 0; i < in.ncams; i++) {
			struct catalog_camera_stats st;
			if (catalog_camera_stats(cat, in.cams[i].camera, &st) == 0 &&
			    st.oldest_us >= 0 && (in.oldest_us < 0 || st.oldest_us < in.oldest_us))
				in.oldest_us = st.oldest_us;
		}
	}
	if (fmt == HEALTH_REPORT_JSON)
		write_inspection_json(&in, week, out);
	else
		write_inspection_text(&in, week, out, fmt == HEALTH_REPORT_HTML);
	ret = ferror(out) ? -EIO : 0;
	goto out;
fail:
	fprintf(err, "vigil report inspection: cannot read the catalog '%s': %s\n",
		cfg->catalog_path, db_errmsg(ret));
out:
	for (size_t i = 0; i < in.ncams; i++)
		free(in.cams[i].gaps);
	free(in.cams);
	free(in.opened.items);
	free(in.closed.items);
	ticket_db_close(&db);
	return ret;
}
