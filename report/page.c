/*
 * The page frame, escaper and CSV writer every report shares.  The pages are
 * self-contained (inline CSS and SVG, no scripts, no external files) so one
 * file can be mailed, archived and printed as it is.
 */
#include "report/page.h"

#include "report/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "tickets/tickets.h"
#include "util/timefmt.h"
#include "util/banned.h"

static const char style[] =
	"body{font-family:sans-serif;margin:2em;color:#222}\n"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\n"
	"table{border-collapse:collapse;margin:.5em 0}\n"
	"th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;font-size:.9em}\n"
	"th{background:#eee}.num{text-align:right}\n"
	".ok{color:#176b2c;font-weight:bold}.bad{color:#a51d1d;font-weight:bold}"
	".na{color:#666;font-weight:bold}\n"
	".note,.small{color:#555;font-size:.85em}.score{font-size:2.5em;font-weight:bold}\n"
	"svg{display:block;margin:.3em 0}\n"
	".legend span{display:inline-block;margin-right:1.2em;font-size:.85em}\n"
	".legend i{display:inline-block;width:1em;height:.8em;margin-right:.3em;"
	"border:1px solid #999;vertical-align:middle}\n"
	"@media print{body{margin:1cm}h2{page-break-after:avoid}tr{page-break-inside:avoid}"
	"th{background:#ddd!important}"
	"svg rect,.legend i{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

void page_html_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
	}
}

void page_html_head(FILE *out, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", out);
	page_html_text(out, title);
	fputs("</title>\n<style>\n", out);
	fputs(style, out);
	fputs("</style></head><body>\n", out);
}

void page_html_end(FILE *out)
{
	fputs("</body></html>\n", out);
}

void page_csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
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

int page_finish(FILE *out)
{
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

void page_local_min(int64_t us, char *out, size_t size)
{
	if (us < 0) {
		snprintf(out, size, "-");
		return;
	}
	time_format_local(us, out, size);
	if (strlen(out) > 16)
		out[16] = '\0';
}

void page_json_time_or_null(struct json_writer *w, const char *key, int64_t us)
{
	if (us >= 0) {
		jw_kv_time(w, key, us);
	} else {
		jw_key(w, key);
		jw_null(w);
	}
}

struct ticket_db *page_open_tickets(const struct config *cfg, int *ret, char *err, size_t errlen)
{
	if (access(cfg->checker_database, F_OK) < 0) {
		snprintf(err, errlen,
			 "no ticket database at '%s' (has vigil check run with this config?)",
			 cfg->checker_database);
		*ret = -ENOENT;
		return NULL;
	}
	struct ticket_db *db =
		ticket_db_open(cfg->checker_database, CATALOG_READ_ONLY, NULL, err, errlen);
	*ret = db ? 0 : -EIO;
	return db;
}

void page_html_ticket_row(FILE *out, const struct ticket *t, int64_t now_us)
{
	char o[40], r[40], text[1024];

	page_local_min(t->opened_us, o, sizeof(o));
	page_local_min(t->resolved_us, r, sizeof(r));
	ticket_text(t, now_us, text, sizeof(text));
	fprintf(out, "<tr><td>#%" PRId64 "</td><td>%d</td><td>", t->id, t->level);
	page_html_text(out, text);
	fprintf(out, "</td><td>%s</td><td>%s</td></tr>\n", o, r);
}
