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
#include "tickets/tickets.h"

enum report_format { REPORT_TEXT, REPORT_JSON, REPORT_CSV, REPORT_HTML };
/* Parses "text", "json", "csv", "html"; returns 0 or -EINVAL. */
int report_format_parse(const char *name, enum report_format *f);

/*
 * The language of the HTML pages: English, or Simplified Chinese for the
 * sites whose contracts are written in it.  Only HTML follows it: text,
 * JSON and CSV stay English, word for word, because scripts read them;
 * machine values in the HTML (data-reason, class names) never change.
 */
enum report_lang { REPORT_LANG_EN = 0, REPORT_LANG_ZH };
/* Parses "en", "zh-CN", "zh", "zh-Hans"; returns 0 or -EINVAL. */
int report_lang_parse(const char *name, enum report_lang *l);
/*
 * Sets the language of the report writers for the calling thread only
 * (thread-local; a thread starts in English).  The web server answers each
 * request on its own thread, so it calls this before every writer with
 * the language of that request (Accept-Language or the user's setting);
 * cmd/ calls it once for --lang.
 */
void report_set_lang(enum report_lang l);
/* The calling thread's report language. */
enum report_lang report_get_lang(void);

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
	char why[200];	     /* in English; the HTML page says it in its language */
	/* which sentence why is and its figures, to say it again */
	enum { WHY_BELOW_FLOOR, WHY_NO_FOOTAGE, WHY_YOUNG, WHY_DELETED, WHY_MET } why_kind;
	int64_t why_segments; /* WHY_BELOW_FLOOR */
	double why_value;     /* WHY_YOUNG: days recording; WHY_DELETED: hours deleted */
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

/* The SLA and inspection reports are written as text, JSON and HTML; their
 * writers return -ENOTSUP for CSV. */

/* One ticket of the quarter, and whether it missed the response target. */
struct sla_ticket {
	struct ticket ticket;
	bool response_missed;
	int64_t response_us; /* opened to acknowledged; -1: never acknowledged */
};

/* One site of the fleet: its recorders as the checker has seen them and
 * the score of its own faults. */
struct sla_site {
	char site[TICKET_TEXT_MAX];
	int recorders; /* seen by the checker */
	int counts[5];
	int faults;
	int score;
};

struct sla_report {
	char quarter[16];
	const char *site; /* [recorder] site: the config's, which must outlive this */
	int64_t from_us, to_us, generated_us;
	int counts[5]; /* faults per level, [1..4] */
	int score;     /* out of 100 */
	int deducted;
	int misses;		    /* response-time misses */
	struct sla_ticket *tickets; /* opened in the quarter, by id */
	size_t ntickets;
	/* every site of a recorder the checker has seen or of a ticket, by name */
	struct sla_site *sites;
	size_t nsites;
};

/*
 * The quarterly SLA report over the ticket database: score out of 100,
 * deductions by level, response-time misses, as of now_us.  quarter is the
 * name shown ("2026Q4"), [from_us, to_us) its span (time_quarter_parse).
 * Fills *rep (release it with sla_report_release); returns 0, or a negative
 * errno with the reason in err (-ENOENT: no ticket database).
 */
int sla_report_compute(const struct config *cfg, const char *quarter, int64_t from_us,
		       int64_t to_us, int64_t now_us, struct sla_report *rep, char *err,
		       size_t errlen);
void sla_report_release(struct sla_report *rep);
int sla_report_write(const struct sla_report *rep, enum report_format f, FILE *out);

/* A gap row of the catalog inside the week. */
struct inspection_gap {
	int64_t start_us, end_us; /* end -1: the gap lasts */
	enum gap_reason reason;
};

struct inspection_camera {
	char camera[CATALOG_CAMERA_MAX];
	/* the config's strings ("" when unset; cfg must outlive the report) */
	const char *site, *location;
	int64_t window_us;   /* the part of the week the camera existed, up to now */
	int64_t recorded_us; /* recorded within it (continuity's count) */
	struct inspection_gap *gaps;
	size_t ngaps;
	int opened, closed; /* its tickets opened and closed in the week */
	/* its picture inspection in the week: the latest check's state
	 * ("unknown" without a check), when (-1: no check) and why */
	char picture[CATALOG_INSPECT_STATE_MAX];
	int64_t checked_us;
	char picture_reason[CATALOG_INSPECT_REASON_MAX];
	int64_t checks, failed; /* checks in the week; failed: not ok */
	/* the camera's clock minus the recorder's at the latest check */
	bool clock_known;
	double clock_offset_s;
	/* the newest thumbnail of the week (JPEG, owned; NULL: none) and
	 * the check it is from */
	uint8_t *thumbnail;
	size_t thumbnail_len;
	int64_t thumbnail_us;
};

/* A recorder the checker has seen, as the fleet section lists it. */
struct inspection_recorder {
	char id[TICKET_ID_MAX];
	char state[24]; /* "" unknown */
	int64_t last_seen_us;
	int cameras, cameras_down; /* down: last seen neither recording nor degraded */
	char console_url[TICKET_URL_MAX];
};

/* One site of the fleet, its recorders by id. */
struct inspection_site {
	char site[TICKET_TEXT_MAX];
	struct inspection_recorder *recorders;
	size_t nrecorders;
};

struct inspection_report {
	char week[16];
	const char *recorder, *site; /* the config's */
	int64_t from_us, to_us, generated_us;
	struct inspection_camera *cameras; /* the config's, then the catalog's */
	size_t ncameras;
	struct ticket *opened, *closed; /* this recorder's tickets, in the week */
	size_t nopened, nclosed;
	/* the recorder's disk and forecast as last reported on MQTT
	 * (reported), else the storage as it is now; -1: unknown */
	bool reported;
	int64_t reported_us;
	int64_t disk_total, disk_free;
	double forecast_days;
	int64_t oldest_us;
	/* why the ticket database could not be read, when it exists but could
	 * not be opened (the report is made without tickets); "" otherwise */
	char warning[256];
	/* every recorder the checker has seen, by site (fleet_known: there is
	 * a ticket database to tell) */
	bool fleet_known;
	struct inspection_site *fleet;
	size_t nfleet;
};

/*
 * The weekly inspection record as of now_us: every camera's uptime and gaps
 * and its picture inspection (latest state, checks, clock offset,
 * thumbnail) from the footage catalog cat, tickets opened and closed and
 * the fleet the checker has seen from the ticket database (if there is
 * one), and the recorder's disk and forecast.  week
 * is the name shown ("2026-W47"), [from_us, to_us) its span
 * (time_week_parse).  Fills *rep (release it with
 * inspection_report_release); returns 0, or a negative errno with the
 * reason in err.
 */
int inspection_report_compute(const struct config *cfg, struct catalog *cat, const char *week,
			      int64_t from_us, int64_t to_us, int64_t now_us,
			      struct inspection_report *rep, char *err, size_t errlen);
void inspection_report_release(struct inspection_report *rep);
int inspection_report_write(const struct inspection_report *rep, enum report_format f, FILE *out);

#endif
