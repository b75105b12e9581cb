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
 * the opening <body>. */
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

struct ticket;
/* One ticket as a row of the tickets table (number, level, what, opened,
 * resolved); now_us gives a running fault its duration. */
void page_html_ticket_row(FILE *out, const struct ticket *t, int64_t now_us);

struct ticket_db;
/* Opens the ticket database of cfg read-only for a report; NULL with the
 * reason in err and *ret -ENOENT (there is none) or -EIO. */
struct ticket_db *page_open_tickets(const struct config *cfg, int *ret, char *err, size_t errlen);

#endif
