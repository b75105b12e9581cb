/*
 * Reports: every document vigil hands to a person, as a compute function
 * that fills a struct (no printing) and writers per format.
 *
 *  - continuity (computed by retention's continuity_compute, which the
 *    export manifest shares) and retention, from the footage catalog;
 *  - the quarterly SLA and the weekly inspection record, from the ticket
 *    database and the catalog.
 *
 * The writers share one format parser, one HTML page frame and escaper and
 * one CSV writer.  cmd/ and the web console call these; nothing here
 * prints on its own.
 */
#ifndef VIGIL_REPORT_REPORT_H
#define VIGIL_REPORT_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "retention/retention.h"

enum report_format { REPORT_TEXT, REPORT_JSON, REPORT_CSV, REPORT_HTML };
/* Parses "text", "json", "csv", "html"; returns 0 or -EINVAL. */
int report_format_parse(const char *name, enum report_format *f);

/* ---- continuity ---------------------------------------------------------- */

/* Writes the report; returns 0 or -EIO. */
int continuity_write(const struct continuity_report *rep, enum report_format f, FILE *out);

struct retention_camera_report {
	char camera[CATALOG_CAMERA_MAX];
	int64_t oldest_us;   /* oldest live footage, -1: none */
	int64_t first_us;    /* first footage ever, -1: none */
	double days_covered; /* now - oldest, in days */
	int floor_days;
	int delete_after_days;
	const char *verdict; /* "met", "not-applicable", "breached" */
	char why[200];
	int64_t live_bytes, live_segments;
	struct {
		char reason[32];
		int64_t segments, bytes;
	} deleted[8];
	int ndeleted;
	int holds;		     /* in force */
	int64_t day_recorded_us[90]; /* the last 90 days, oldest first */
};

struct retention_report {
	int64_t generated_us;
	int64_t period_from_us; /* deletions counted from here to generated */
	struct retention_capacity capacity;
	struct retention_camera_report *cameras;
	size_t ncameras;
	struct catalog_hold *holds; /* in force */
	size_t nholds;
};

int retention_report_compute(const struct config *cfg, struct catalog *cat, int64_t now_us,
			     int64_t period_from_us, struct retention_report *rep);
void retention_report_release(struct retention_report *rep);
int retention_report_write(const struct retention_report *rep, enum report_format f, FILE *out);
/* true when no camera is breached */
bool retention_report_ok(const struct retention_report *rep);

/* ---- SLA and inspection --------------------------------------------------- */

enum health_report_format {
	HEALTH_REPORT_TEXT,
	HEALTH_REPORT_JSON,
	HEALTH_REPORT_HTML,
};

/* Parses "text", "json", "html"; returns 0 or -EINVAL. */
int health_report_format_parse(const char *s, enum health_report_format *out);

/* "2026Q4" and "2026-W47" into [from, to) in local time; 0 or -EINVAL. */
int health_quarter_range(const char *s, int64_t *from_us, int64_t *to_us);
int health_week_range(const char *s, int64_t *from_us, int64_t *to_us);

/*
 * The quarterly SLA report over the ticket database: score out of 100,
 * deductions by level, response-time misses.  Returns 0, or a negative
 * errno after printing the reason on err (-ENOENT: no ticket database).
 */
int health_report_sla(const struct config *cfg, const char *quarter, int64_t from_us, int64_t to_us,
		      enum health_report_format fmt, FILE *out, FILE *err);

/*
 * The weekly inspection record: every camera's uptime and gaps from the
 * footage catalog cat, tickets opened and closed from the ticket database
 * (if there is one), and the recorder's disk and forecast as last reported
 * (or, without a ticket database, the storage as it is now).  Returns 0, or
 * a negative errno after printing the reason on err.
 */
int health_report_inspection(const struct config *cfg, struct catalog *cat, const char *week,
			     int64_t from_us, int64_t to_us, enum health_report_format fmt,
			     FILE *out, FILE *err);

#endif
