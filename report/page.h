/*
 * What every report writer shares (internal to report/): the HTML page
 * frame (head and style sheet), the HTML escaper, the CSV field writer, and
 * the end of a write, and the few helpers the ticket reports share.  One
 * place, so every page looks and escapes alike.
 */
#ifndef VIGIL_REPORT_PAGE_H
#define VIGIL_REPORT_PAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "util/json.h"

/* The doctype, head (title escaped, inline style sheet, no scripts) and
 * the opening <body>; <html lang> is the thread's report language. */
void page_html_head(FILE *out, const char *title);
/* Closes the body and the page. */
void page_html_end(FILE *out);
/* s with < > & " escaped; NULL writes nothing. */
void page_html_text(FILE *out, const char *s);
/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line
 * break. */
void page_csv_field(FILE *out, const char *s);
/* Flushes out: 0, or -EIO when anything written to it failed. */
int page_finish(FILE *out);

/* Local time to the minute ("2026-11-02 14:02"), "-" for us < 0. */
void page_local_min(int64_t us, char *out, size_t size);
/* key: the time, or null for us < 0. */
void page_json_time_or_null(struct json_writer *w, const char *key, int64_t us);

/*
 * The message table (page.c).  page_tr returns the Simplified Chinese of
 * the English message en when the thread's report language is Chinese and
 * the table has it, else en itself.  A translated format keeps the
 * English conversions in the same order (a unit test checks every entry),
 * so page_printf and page_snprintf can be checked against the English.
 */
const char *page_tr(const char *en);
void page_printf(FILE *out, const char *en_fmt, ...) __attribute__((format(printf, 2, 3)));
void page_snprintf(char *buf, size_t size, const char *en_fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* page_html_text of page_tr(en). */
void page_html_tr(FILE *out, const char *en);
/* A gap's detail as people read it: the fixed sentences translated. */
void page_html_detail(FILE *out, const char *detail);
/* A length of time in the thread's language ("1h 02m 03s", "1小时02分03秒"). */
void page_duration(int64_t us, char *buf, size_t size);
/* The table's entries, for the test that checks the formats agree: the
 * English of entry i (NULL past the end) and its Chinese in *zh. */
const char *page_tr_entry(size_t i, const char **zh);

struct ticket;
/* ticket_text in the thread's report language. */
void page_ticket_text(const struct ticket *t, int64_t now_us, char *out, size_t size);
/* One ticket as a row of the tickets table (number, level, what, opened,
 * resolved); now_us gives a running fault its duration. */
void page_html_ticket_row(FILE *out, const struct ticket *t, int64_t now_us);

struct ticket_db;
/* Opens the ticket database of cfg read-only for a report; NULL with the
 * reason in err and *ret -ENOENT (there is none) or -EIO. */
struct ticket_db *page_open_tickets(const struct config *cfg, int *ret, char *err, size_t errlen);

#endif
