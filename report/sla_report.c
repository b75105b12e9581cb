/*
 * The quarterly SLA report: every ticket opened in the quarter, the score
 * out of 100 that their highest levels leave, and the tickets that missed
 * the response target.  The rules (deductions, the response target) are
 * the tickets module's; this file gathers the tickets and writes them as
 * text for people, JSON for scripts, or a printable HTML page.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/page.h"
#include "report/report.h"
#include "util/buf.h"
#include "util/db.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/timefmt.h"
#include "util/banned.h"

/* ---- compute ------------------------------------------------------------ */

struct sla_list {
	struct sla_ticket *v;
	size_t n, cap;
};

static int collect(const struct ticket *t, void *ctx)
{
	struct sla_list *l = ctx;
	if (array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return -ENOMEM;
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	l->v[l->n++].ticket = *t;
	return 0;
}

static void score(struct sla_report *rep)
{
	for (size_t i = 0; i < rep->ntickets; i++) {
		struct sla_ticket *s = &rep->tickets[i];
		if (s->ticket.level >= 1 && s->ticket.level <= 4)
			rep->counts[s->ticket.level]++;
		s->response_missed =
			ticket_response_missed(s->ticket.opened_us, s->ticket.acknowledged_us,
					       rep->generated_us, &s->response_us);
		rep->misses += s->response_missed;
	}
	rep->score = ticket_sla_score(rep->counts);
	for (int l = 1; l <= 4; l++)
		rep->deducted += rep->counts[l] * ticket_sla_deduction(l);
}

struct site_list {
	struct sla_site *v;
	size_t n, cap;
};

static struct sla_site *site_entry(struct site_list *l, const char *site)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].site, site) == 0)
			return &l->v[i];
	if (array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return NULL;
	struct sla_site *e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->site, sizeof(e->site), "%s", site);
	return e;
}

static int count_recorder(const struct ticket_recorder *r, void *ctx)
{
	struct sla_site *e = site_entry(ctx, r->site);
	if (!e)
		return -ENOMEM;
	e->recorders++;
	return 0;
}

static int cmp_site(const void *a, const void *b)
{
	return strcmp(((const struct sla_site *)a)->site, ((const struct sla_site *)b)->site);
}

/* The fleet per site: every recorder the checker has seen, with the
 * faults its site had in the quarter, so a site with none shows 100. */
static int score_sites(struct ticket_db *db, struct sla_report *rep)
{
	struct site_list l = { 0 };
	int ret = ticket_db_recorders_each(db, count_recorder, &l);
	for (size_t i = 0; ret == 0 && i < rep->ntickets; i++) {
		const struct ticket *t = &rep->tickets[i].ticket;
		struct sla_site *e = site_entry(&l, t->site);
		if (!e) {
			ret = -ENOMEM;
			break;
		}
		e->faults++;
		if (t->level >= 1 && t->level <= 4)
			e->counts[t->level]++;
	}
	if (ret < 0) {
		free(l.v);
		return ret;
	}
	for (size_t i = 0; i < l.n; i++)
		l.v[i].score = ticket_sla_score(l.v[i].counts);
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_site);
	rep->sites = l.v;
	rep->nsites = l.n;
	return 0;
}

int sla_report_compute(const struct config *cfg, const char *quarter, int64_t from_us,
		       int64_t to_us, int64_t now_us, struct sla_report *rep, char *err,
		       size_t errlen)
{
	struct ticket_filter f = { .include_resolved = true,
				   .opened_from_us = from_us,
				   .opened_to_us = to_us };
	struct sla_list l = { 0 };
	int ret;

	memset(rep, 0, sizeof(*rep));
	err[0] = '\0';
	snprintf(rep->quarter, sizeof(rep->quarter), "%s", quarter);
	rep->site = cfg->site ? cfg->site : "";
	rep->from_us = from_us;
	rep->to_us = to_us;
	rep->generated_us = now_us;
	struct ticket_db *db = page_open_tickets(cfg, &ret, err, errlen);
	if (!db) {
		if (!err[0])
			snprintf(err, errlen, "cannot open '%s'", cfg->checker_database);
		return ret;
	}
	if ((ret = ticket_db_each(db, &f, collect, &l)) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", cfg->checker_database,
			 db_errmsg(ret));
		free(l.v);
	} else {
		rep->tickets = l.v;
		rep->ntickets = l.n;
		score(rep);
		if ((ret = score_sites(db, rep)) < 0)
			snprintf(err, errlen, "cannot read the recorders of '%s': %s",
				 cfg->checker_database, db_errmsg(ret));
	}
	ticket_db_close(&db);
	return ret;
}

void sla_report_release(struct sla_report *rep)
{
	free(rep->tickets);
	rep->tickets = NULL;
	rep->ntickets = 0;
	free(rep->sites);
	rep->sites = NULL;
	rep->nsites = 0;
}

/* ---- writers ------------------------------------------------------------ */

static void sla_text(const struct sla_report *rep, FILE *out)
{
	char a[40], b[40];
	const int *counts = rep->counts;

	page_local_min(rep->from_us, a, sizeof(a));
	page_local_min(rep->to_us, b, sizeof(b));
	fprintf(out, "SLA report, quarter %s (%s to %s, local time)\n", rep->quarter, a, b);
	fprintf(out, "score: %d/100\n", rep->score);
	fprintf(out, "faults: %zu (level 1: %d, level 2: %d, level 3: %d, level 4: %d)\n",
		rep->ntickets, counts[1], counts[2], counts[3], counts[4]);
	fprintf(out, "deducted: %d", rep->deducted);
	bool first = true;
	for (int l = 1; l <= 4; l++) {
		if (!counts[l])
			continue;
		fprintf(out, "%slevel %d x%d = -%d", first ? " (" : ", ", l, counts[l],
			counts[l] * ticket_sla_deduction(l));
		first = false;
	}
	fprintf(out, "%s\n", first ? "" : ")");
	fprintf(out, "response-time misses (target 10 min): %d\n", rep->misses);
	for (size_t i = 0; i < rep->nsites; i++) {
		const struct sla_site *e = &rep->sites[i];
		fprintf(out, "site %s: score %d/100, %d faults, %d recorders\n",
			e->site[0] ? e->site : "-", e->score, e->faults, e->recorders);
	}
	for (size_t i = 0; i < rep->ntickets; i++) {
		const struct sla_ticket *s = &rep->tickets[i];
		const struct ticket *t = &s->ticket;
		char o[40], r[40] = "";
		if (!s->response_missed)
			continue;
		page_local_min(t->opened_us, o, sizeof(o));
		if (s->response_us >= 0)
			ticket_duration_text(s->response_us, r, sizeof(r));
		fprintf(out, "  #%-5" PRId64 " %-17s %s/%s  opened %s  %s%s\n", t->id,
			ticket_kind_name(t->kind), t->recorder, t->camera[0] ? t->camera : "-", o,
			s->response_us >= 0 ? "acknowledged after " : "never acknowledged", r);
	}
	if (rep->ntickets)
		fprintf(out, "tickets:\n");
	for (size_t i = 0; i < rep->ntickets; i++) {
		const struct ticket *t = &rep->tickets[i].ticket;
		char text[1024];
		ticket_text(t, rep->generated_us, text, sizeof(text));
		fprintf(out, "  #%-5" PRId64 " level %d  %s\n", t->id, t->level, text);
	}
}

static void sla_json_miss(struct json_writer *w, const struct sla_ticket *s)
{
	const struct ticket *t = &s->ticket;
	jw_begin_object(w);
	jw_kv_int(w, "id", t->id);
	jw_kv_string(w, "kind", ticket_kind_name(t->kind));
	jw_kv_int(w, "level", t->level);
	jw_kv_string(w, "recorder", t->recorder);
	jw_kv_string(w, "camera", t->camera[0] ? t->camera : NULL);
	jw_kv_string(w, "site", t->site);
	jw_kv_time(w, "opened", t->opened_us);
	page_json_time_or_null(w, "acknowledged", t->acknowledged_us);
	if (s->response_us >= 0) {
		jw_kv_int(w, "response_s", s->response_us / USEC_PER_SEC);
	} else {
		jw_key(w, "response_s");
		jw_null(w);
	}
	jw_end_object(w);
}

static void sla_json(const struct sla_report *rep, FILE *out)
{
	struct json_writer w;
	jw_init_file(&w, out, true);
	jw_begin_object(&w);
	jw_kv_string(&w, "quarter", rep->quarter);
	jw_kv_time(&w, "from", rep->from_us);
	jw_kv_time(&w, "to", rep->to_us);
	jw_kv_time(&w, "generated", rep->generated_us);
	jw_kv_int(&w, "score", rep->score);
	jw_kv_int(&w, "faults", (int64_t)rep->ntickets);
	jw_kv_int(&w, "deducted", rep->deducted);
	jw_key(&w, "levels");
	jw_begin_object(&w);
	for (int l = 1; l <= 4; l++) {
		char k[4];
		snprintf(k, sizeof(k), "%d", l);
		jw_key(&w, k);
		jw_begin_object(&w);
		jw_kv_int(&w, "faults", rep->counts[l]);
		jw_kv_int(&w, "deduction_each", ticket_sla_deduction(l));
		jw_kv_int(&w, "deducted", rep->counts[l] * ticket_sla_deduction(l));
		jw_end_object(&w);
	}
	jw_end_object(&w);
	jw_key(&w, "sites");
	jw_begin_array(&w);
	for (size_t i = 0; i < rep->nsites; i++) {
		const struct sla_site *e = &rep->sites[i];
		jw_begin_object(&w);
		jw_kv_string(&w, "site", e->site);
		jw_kv_int(&w, "recorders", e->recorders);
		jw_kv_int(&w, "faults", e->faults);
		jw_kv_int(&w, "score", e->score);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_kv_int(&w, "response_target_s", TICKET_RESPONSE_TARGET_US / USEC_PER_SEC);
	jw_key(&w, "response_misses");
	jw_begin_array(&w);
	for (size_t i = 0; i < rep->ntickets; i++)
		if (rep->tickets[i].response_missed)
			sla_json_miss(&w, &rep->tickets[i]);
	jw_end_array(&w);
	jw_key(&w, "tickets");
	jw_begin_array(&w);
	for (size_t i = 0; i < rep->ntickets; i++) {
		jw_begin_object(&w);
		ticket_json_fields(&w, &rep->tickets[i].ticket, rep->generated_us);
		jw_kv_bool(&w, "response_missed", rep->tickets[i].response_missed);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_end_object(&w);
	jw_finish(&w);
}

/* The same in the report's language, for the page. */
static void response_html(const struct sla_ticket *s, char *out, size_t size)
{
	if (s->response_us >= 0)
		ticket_duration_text_lang(s->response_us,
					  report_get_lang() == REPORT_LANG_ZH ? TICKET_LANG_ZH
									      : TICKET_LANG_EN,
					  out, size);
	else
		snprintf(out, size, "%s", page_tr("never"));
}

/* The header row of a table of tickets: n column names. */
static void th_row(FILE *out, const char *const *names, size_t n)
{
	fputs("<table><tr>", out);
	for (size_t i = 0; i < n; i++) {
		fputs("<th>", out);
		page_html_tr(out, names[i]);
		fputs("</th>", out);
	}
	fputs("</tr>\n", out);
}

static void sla_html_misses(const struct sla_report *rep, FILE *out)
{
	static const char *const cols[] = { "ticket", "fault", "opened", "acknowledged",
					    "response" };
	fputs("<h2>", out);
	page_printf(out, "Response-time misses (target 10 min): %d", rep->misses);
	fputs("</h2>\n", out);
	if (!rep->misses)
		return;
	th_row(out, cols, 5);
	for (size_t i = 0; i < rep->ntickets; i++) {
		const struct sla_ticket *s = &rep->tickets[i];
		char o[40], k[40], r[40], text[1024];
		if (!s->response_missed)
			continue;
		page_local_min(s->ticket.opened_us, o, sizeof(o));
		page_local_min(s->ticket.acknowledged_us, k, sizeof(k));
		response_html(s, r, sizeof(r));
		page_ticket_text(&s->ticket, rep->generated_us, text, sizeof(text));
		fprintf(out, "<tr><td>#%" PRId64 "</td><td>", s->ticket.id);
		page_html_text(out, text);
		fprintf(out, "</td><td>%s</td><td>%s</td><td class=\"bad\">%s</td></tr>\n", o, k,
			r);
	}
	fprintf(out, "</table>\n");
}

static void sla_html_faults(const struct sla_report *rep, FILE *out)
{
	static const char *const cols[] = { "ticket", "level", "fault", "opened", "resolved" };
	fputs("<h2>", out);
	page_printf(out, "Faults: %zu", rep->ntickets);
	fputs("</h2>\n", out);
	if (!rep->ntickets)
		return;
	th_row(out, cols, 5);
	for (size_t i = 0; i < rep->ntickets; i++) {
		page_html_ticket_row(out, &rep->tickets[i].ticket, rep->generated_us);
	}
	fprintf(out, "</table>\n");
}

static void sla_html_sites(const struct sla_report *rep, FILE *out)
{
	if (rep->nsites == 0)
		return;
	page_printf(out,
		    "<h2>%s</h2>\n<table><tr><th>%s</th><th class=\"num\">%s</th>"
		    "<th class=\"num\">%s</th><th class=\"num\">%s</th></tr>\n",
		    page_tr("Per site"), page_tr("site"), page_tr("recorders"), page_tr("faults"),
		    page_tr("score"));
	for (size_t i = 0; i < rep->nsites; i++) {
		const struct sla_site *e = &rep->sites[i];
		fputs("<tr><td>", out);
		page_html_text(out, e->site[0] ? e->site : "-");
		fprintf(out,
			"</td><td class=\"num\">%d</td><td class=\"num\">%d</td>"
			"<td class=\"num%s\">%d</td></tr>\n",
			e->recorders, e->faults, e->score < 100 ? " bad" : "", e->score);
	}
	fputs("</table>\n", out);
}

static void sla_html(const struct sla_report *rep, FILE *out)
{
	char a[40], b[40], gen[40], title[128];

	page_local_min(rep->from_us, a, sizeof(a));
	page_local_min(rep->to_us, b, sizeof(b));
	page_local_min(rep->generated_us, gen, sizeof(gen));
	page_snprintf(title, sizeof(title), "SLA report %s", rep->quarter);
	page_html_head(out, title);
	fputs("<h1>", out);
	page_html_tr(out, "SLA report, quarter ");
	page_html_text(out, rep->quarter);
	fprintf(out, "</h1>\n<p class=\"small\">");
	page_html_text(out, rep->site);
	page_printf(out, " &middot; %s to %s (local time) &middot; generated %s", a, b, gen);
	fputs("</p>\n<p>", out);
	page_printf(out, "Score <span class=\"score%s\">%d</span> / 100",
		    rep->score < 100 ? " bad" : "", rep->score);
	page_printf(out,
		    "</p>\n<h2>%s</h2>\n<table><tr><th>%s</th><th class=\"num\">%s</th>"
		    "<th class=\"num\">%s</th><th class=\"num\">%s</th></tr>\n",
		    page_tr("Deductions"), page_tr("level"), page_tr("faults"), page_tr("each"),
		    page_tr("deducted"));
	for (int l = 1; l <= 4; l++)
		fprintf(out,
			"<tr><td>%d</td><td class=\"num\">%d</td><td class=\"num\">-%d</td>"
			"<td class=\"num\">-%d</td></tr>\n",
			l, rep->counts[l], ticket_sla_deduction(l),
			rep->counts[l] * ticket_sla_deduction(l));
	fprintf(out, "</table>\n");
	sla_html_sites(rep, out);
	sla_html_misses(rep, out);
	sla_html_faults(rep, out);
	page_html_end(out);
}

int sla_report_write(const struct sla_report *rep, enum report_format f, FILE *out)
{
	switch (f) {
	case REPORT_TEXT: sla_text(rep, out); break;
	case REPORT_JSON: sla_json(rep, out); break;
	case REPORT_HTML: sla_html(rep, out); break;
	case REPORT_CSV: return -ENOTSUP;
	}
	return page_finish(out);
}
