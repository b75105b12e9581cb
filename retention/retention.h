/*
 * Retention: the 90-day rule and the proofs behind it.
 *
 *  - the policy (pure functions): what may be deleted, for what reason;
 *  - the sweeper: deletes what the policy allows through the crash-safe
 *    delete protocol of catalog.h, in small batches; inside `vigil record`
 *    it runs in its own thread, watches disk pressure and the wall clock,
 *    and blocks recording rather than delete footage younger than the floor
 *    (on_full = protect-retention);
 *  - capacity: how many days of footage the storage can hold at the
 *    measured write rate;
 *  - continuity: the recorded spans and the gaps, with reasons, of any
 *    interval (the export's manifest and every report build on it);
 *  - verify (catalog, audit chain, files) and export (a window of footage
 *    as one MP4 with a manifest).
 *
 * Retention reads and writes footage only through the catalog and the
 * storage folder; it never includes ingest or health (cmd/ wires them).
 */
#ifndef VIGIL_RETENTION_RETENTION_H
#define VIGIL_RETENTION_RETENTION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "config/config.h"

#define DAY_US (86400 * INT64_C(1000000))

/* ---- policy -------------------------------------------------------------- */

/* Reasons recorded with every deletion. */
#define RETENTION_EXPIRED "expired"		  /* older than delete_after_days */
#define RETENTION_SPACE "space"			  /* older than the floor, removed for room */
#define RETENTION_BELOW_FLOOR "space-below-floor" /* keep-recording: a breach */

struct retention_rule {
	int retain_days;       /* the floor */
	int delete_after_days; /* >= retain_days */
};

enum retention_pressure {
	PRESSURE_NONE = 0, /* enough free space */
	PRESSURE_SPACE,	   /* below the reserve: footage older than the floor may go */
	PRESSURE_CRITICAL, /* still below after that: on_full decides */
};

/*
 * What to do with one live segment that ends at end_us, now: returns the
 * deletion reason (one of the RETENTION_* strings) or NULL to keep it.
 * Held footage is kept whatever else holds.  Pure.
 */
const char *retention_decide(int64_t end_us, int64_t now_us, const struct retention_rule *rule,
			     enum retention_pressure pressure, enum on_full_policy on_full,
			     bool held);

/* The rule of a camera (its own keys, else the [retention] ones). */
struct retention_rule retention_rule_for(const struct config *cfg, const char *camera);

/* ---- sweeping ------------------------------------------------------------ */

struct retention_sweep_options {
	int64_t now_us;	    /* the time the rule is applied at */
	bool dry_run;	    /* decide and report, delete nothing */
	int64_t free_bytes; /* free space now; < 0: measure it */
	int max_deletions;  /* stop after this many (0: no limit) */
	int64_t pause_us;   /* rest between batches, so recording gets the catalog */
};

struct retention_sweep_result {
	int64_t deleted; /* segments deleted (or that would be, dry run) */
	int64_t deleted_bytes;
	int64_t held;	     /* expired segments kept by a legal hold */
	int64_t below_floor; /* deletions that breached the floor (keep-recording) */
	int64_t failed;	     /* deletions that failed (file system errors) */
	bool still_full;     /* no room could be made within the rule */
};

/* Called for each segment deleted, or that would be on a dry run. */
typedef void (*retention_sweep_fn)(const struct catalog_segment *seg, const char *reason,
				   void *ctx);

/*
 * Applies the rule once at opts->now_us: expired footage first, then, while
 * free space is below [storage] reserve_mb, footage older than the floor,
 * oldest first, then (keep-recording only) footage younger than the floor.
 * Each deletion goes through the delete protocol.  Returns 0 or a negative
 * errno (catalog failures; file failures are counted in result->failed).
 */
int retention_sweep(const struct config *cfg, struct catalog *cat,
		    const struct retention_sweep_options *opts, retention_sweep_fn fn, void *ctx,
		    struct retention_sweep_result *result);

/* Finishes deletions left in state deleting (a crash, or a sweeper that
 * died mid-way) that were marked before older_than_us.  Returns how many,
 * or a negative errno. */
int retention_finish_deletions(const struct config *cfg, struct catalog *cat,
			       int64_t older_than_us);

/* ---- capacity ------------------------------------------------------------ */

struct retention_capacity {
	int64_t total_bytes;   /* of the storage file system */
	int64_t free_bytes;    /* available to vigil */
	int64_t reserve_bytes; /* [storage] reserve_mb */
	int64_t footage_bytes; /* live footage */
	double bytes_per_day;  /* at the measured write rate, all cameras */
	double forecast_days;  /* days of footage the storage can hold; < 0: unknown */
	int floor_days;	       /* the largest floor of any camera */
	bool at_risk;	       /* forecast below the floor */
	int64_t oldest_us;     /* oldest live footage of any camera, -1: none */
	int64_t index_bytes;   /* the catalog file */
};

/* Measures free space and the write rate (the last two days of recording)
 * and forecasts.  Returns 0 or a negative errno. */
int retention_capacity(const struct config *cfg, struct catalog *cat, int64_t now_us,
		       struct retention_capacity *cap);

/* ---- the sweeper inside vigil record -------------------------------------- */

struct retention;

struct retention_callbacks {
	/* Recording must stop (blocked) or may resume: the on_full policy. */
	void (*storage_blocked)(void *ctx, bool blocked, const char *why);
	/* A fault appeared or cleared (clock, storage): health may publish. */
	void (*changed)(void *ctx);
	void *ctx;
};

struct retention_status {
	struct retention_capacity capacity;
	bool storage_full; /* recording blocked to protect the floor */
	bool clock_fault;  /* deletion paused: the wall clock jumped */
	char clock_detail[200];
	int64_t last_sweep_us;
	int64_t deleted_total; /* by this process */
	/* by this process, by reason: expired, space, space-below-floor */
	int64_t deleted_expired, deleted_space, deleted_below_floor;
};

/* NULL on allocation failure.  cfg and cat must outlive it. */
struct retention *retention_new(const struct config *cfg, struct catalog *cat,
				const struct retention_callbacks *cb);
int retention_start(struct retention *r);
/* Asks for a sweep at once (e.g. a write failed for lack of space). */
void retention_wake(struct retention *r);
void retention_stop(struct retention *r);
void retention_free(struct retention **r);
void retention_get_status(struct retention *r, struct retention_status *st);

/* Records that an operator confirmed the wall clock (vigil sweep
 * --accept-clock): a running sweeper resumes deleting. */
int retention_accept_clock(struct catalog *cat, int64_t now_us);

/* ---- continuity: what was recorded and what was not ------------------ */

struct continuity_gap {
	int64_t start_us, end_us;
	char reason[40];
	char detail[160];
};

struct continuity_camera {
	char camera[CATALOG_CAMERA_MAX];
	int64_t recorded_us;
	double coverage_percent;
	struct continuity_gap *gaps;
	size_t ngaps;
	int64_t longest_gap_us;
};

struct continuity_report {
	int64_t from_us, to_us, generated_us;
	struct continuity_camera *cameras;
	size_t ncameras;
};

/*
 * Answers "did these cameras record without a break over [from, to)?" from
 * the coalesced runs: every hole in the footage is a gap, with the reason
 * of the gap rows that cover it ("deleted" for footage removed by the rule,
 * "not-recording" before a camera's first footage, "unaccounted" for what
 * nothing explains).  camera NULL: every camera of the config and catalog.
 * Fills *rep (release it with continuity_release); returns 0 or -errno.
 */
int continuity_compute(const struct config *cfg, struct catalog *cat, const char *camera,
		       int64_t from_us, int64_t to_us, int64_t now_us,
		       struct continuity_report *rep);
void continuity_release(struct continuity_report *rep);
/* The same for one camera over [from_us, to_us) into *out (the caller
 * frees out->gaps); 0 or a negative errno. */
int continuity_compute_camera(struct catalog *cat, const char *camera, int64_t from_us,
			      int64_t to_us, int64_t now_us, struct continuity_camera *out);
/* Every camera of the config and the catalog, sorted, in *ids (the caller
 * frees it); 0 or a negative errno. */
int retention_camera_ids(const struct config *cfg, struct catalog *cat,
			 char (**ids)[CATALOG_CAMERA_MAX], size_t *n);
/* true when no camera has a gap */
bool continuity_ok(const struct continuity_report *rep);
/* ---- verify and export ----------------------------------------------------- */

struct verify_options {
	const char *camera;	/* NULL: all */
	int64_t from_us, to_us; /* segments overlapping; 0: no bound */
	bool hash_files;	/* re-hash every file (default); false: sizes only */
};

struct verify_counts {
	int64_t segments; /* segment files checked */
	int64_t entries;  /* audit entries checked */
	int64_t files;	  /* files found in the storage tree */
	int64_t problems;
};

/*
 * Checks the catalog against its audit chain (catalog_verify) and the files
 * against the catalog: a missing file, a changed file (size or SHA-256), a
 * footage file the catalog does not know, a file in quarantine.  Calls fn
 * for each problem.  Returns 0 (problems or not) or a negative errno.
 */
int retention_verify(const struct config *cfg, struct catalog *cat,
		     const struct verify_options *opts, catalog_problem_fn fn, void *ctx,
		     struct verify_counts *counts);

struct export_request {
	const char *camera;
	int64_t from_us, to_us;
	const char *out_path; /* the MP4; the manifest is OUT.manifest.json */
};

struct export_result {
	int segments;
	int gaps;
	int64_t bytes;
	double duration_s;
	int64_t first_us, last_us; /* wall time of the first and last frame exported */
	char sha256[CATALOG_HEX_SIZE];
	char manifest_path[4200];
};

/* Joins the segments covering the window into one MP4 (remux, no
 * transcoding), trimmed to the window at keyframe precision, and writes its
 * manifest.  Refuses to overwrite.  Returns 0, or a negative errno with the
 * reason in err. */
int retention_export(const struct config *cfg, struct catalog *cat,
		     const struct export_request *req, struct export_result *res, char *err,
		     size_t errlen);

/* Checks an export against its manifest and the catalog: the MP4's hash,
 * every source segment's hash in the catalog and on disk. */
int retention_verify_export(const struct config *cfg, struct catalog *cat, const char *out_path,
			    catalog_problem_fn fn, void *ctx, struct verify_counts *counts);

#endif
