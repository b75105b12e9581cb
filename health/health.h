/*
 * Health: the recorder's health publisher (MQTT), the checker that turns
 * health into maintenance tickets, the tickets command and the SLA and
 * inspection reports.
 *
 * The publisher runs inside `vigil record`: it reads live camera state
 * through ingest's header and learns of state changes through
 * health_publisher_notify(), which cmd/ wires in as ingest's state
 * callback (ingest never includes this header).  Recorder-wide numbers
 * that belong to retention (disk, write rate, forecast, oldest footage)
 * come from a provider callback that cmd/ supplies.
 *
 * Thread safety: health_publisher_notify may be called from any thread
 * (ingest's workers); every other function is called from one thread.
 */
#ifndef VIGIL_HEALTH_HEALTH_H
#define VIGIL_HEALTH_HEALTH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "ingest/ingest.h"

/* What the recorder knows about its storage; -1 (or false) when unknown. */
struct health_recorder_status {
	int64_t disk_total_bytes;
	int64_t disk_free_bytes;
	double write_bytes_per_s; /* footage written, averaged */
	double forecast_days;	  /* days of footage the storage can hold */
	int64_t oldest_footage_us;
	int64_t index_bytes;	/* the catalog's size on disk */
	bool retention_at_risk; /* the forecast is below the floor */
	bool storage_error;	/* footage cannot be written */
	bool clock_fault;	/* the wall clock jumped (retention stopped) */
	char detail[160];	/* why storage fails or retention is at risk */
};

/* Fills *out; returns 0 or a negative errno (the payload then says
 * unknown).  Called from the publisher's thread. */
typedef int (*health_recorder_status_fn)(void *ctx, struct health_recorder_status *out);

struct health_publisher;

/*
 * Creates the publisher of cfg's recorder (not started).  cfg and cat must
 * outlive it; status may be NULL.  Returns NULL on allocation failure.
 */
struct health_publisher *health_publisher_new(const struct config *cfg, struct catalog *cat,
					      health_recorder_status_fn status, void *status_ctx);

/* Starts its thread, which connects to the broker (retrying with backoff
 * from the first attempt; recording never waits for it) and publishes.
 * ing must outlive the publisher.  Returns 0 or a negative errno. */
int health_publisher_start(struct health_publisher *pub, struct ingest *ing);

/* A camera's state changed: publish at once.  Matches ingest_callbacks'
 * state_changed, with pub as ctx.  Never blocks. */
void health_publisher_notify(void *pub, const char *camera);

/* Publishes the final state and status "offline", disconnects, and joins
 * the thread (at most a few seconds when the broker is slow). */
void health_publisher_stop(struct health_publisher *pub);
void health_publisher_free(struct health_publisher **pub);

struct health_checker;

/*
 * Creates the checker of cfg: opens (creating) the ticket database
 * [checker] database and restores its state.  NULL with a message in err
 * on failure.
 */
struct health_checker *health_checker_new(const struct config *cfg, char *err, size_t errlen);

/* Runs until *stop becomes non-zero.  Returns 0 or a negative errno. */
int health_checker_run(struct health_checker *chk, volatile sig_atomic_t *stop);
void health_checker_free(struct health_checker **chk);

/*
 * The tickets command.  Each prints to out and returns 0, -ENOENT (no such
 * ticket or no ticket database), -EALREADY (already acknowledged or
 * resolved) or another negative errno, after printing the reason on err.
 */
struct health_tickets_opts {
	bool json;
	bool all;	/* list: resolved tickets too */
	const char *by; /* ack/resolve: who */
	const char *note;
};
int health_tickets_list(const struct config *cfg, const struct health_tickets_opts *o, FILE *out,
			FILE *err);
int health_tickets_show(const struct config *cfg, int64_t id, const struct health_tickets_opts *o,
			FILE *out, FILE *err);
int health_tickets_ack(const struct config *cfg, int64_t id, const struct health_tickets_opts *o,
		       FILE *out, FILE *err);
int health_tickets_resolve(const struct config *cfg, int64_t id,
			   const struct health_tickets_opts *o, FILE *out, FILE *err);

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
