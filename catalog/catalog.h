/*
 * The catalog: the SQLite file that knows every segment, every gap and the
 * audit chain.  This module owns the footage's SQL (the ticket store in
 * tickets/ owns its own): no other module builds a query, they call the
 * functions below, which say what they mean.  It does eight things, one
 * section each below:
 *
 *   1. open and close the file (creating and migrating it);
 *   2. segments: the life of a row from writing to complete, and listings;
 *   3. gaps and runs: the time with no footage, and the coalesced time with;
 *   4. the audit chain, and verifying the catalog against it;
 *   5. holds and the delete protocol (what retention may remove, and how);
 *   6. statistics: per camera, per day, deletions by reason;
 *   7. meta: small persistent facts;
 *   8. picture inspection: checks, each camera's latest and reference.
 *
 * Errors: every function returns 0 (or a count) or a negative errno, and
 * logs nothing; the caller that handles a failure logs db_errmsg(ret)
 * (util/db.h), which holds what was being done and SQLite's message.
 *
 * INVARIANTS (what must be true of storage + catalog at rest, and what
 * start-up recovery restores after a crash at any moment):
 *
 *  I1. Every segment row in state complete or recovered has its file at
 *      STORAGE/path, and that file has exactly the recorded size and SHA-256.
 *  I2. Every footage file under STORAGE has exactly one row.  A file is
 *      created only after its row exists (state writing), so a crash can
 *      leave a row without a file, never a file without a row.
 *  I3. A row becomes complete only after its file and the file's folder are
 *      fsynced, and the database runs with synchronous=FULL, so a power cut
 *      can never leave a complete row over a file that is not on disk, nor
 *      roll back a commit that a later unlink relied on.
 *  I4. A file is removed only through the delete protocol: mark the row
 *      deleting (commit), unlink, fsync the folder, mark it deleted and
 *      append the deletion to the audit chain (commit).  Recovery finishes
 *      any row left in deleting.
 *  I5. A row in state writing exists only while its recorder runs.  After a
 *      crash, recovery keeps every complete fragment of its file, truncates
 *      the torn tail, and marks the row recovered with the real end time,
 *      size and hash; a file with no complete fragment is removed with its
 *      row.  Loss per crash: at most the fragment being written (~1 s).
 *  I6. Segments of one camera never overlap in time; gaps of one camera
 *      never overlap segments.  Consecutive segments without a hole are
 *      coalesced in the run table, which always matches the live segments.
 *  I7. The audit chain of each camera is append-only: entry n carries the
 *      hash of entry n-1.  Every segment that was ever complete has a
 *      segment-added entry with its hash; every deletion has an entry.
 *
 * Thread safety: a struct catalog may be shared by threads; every call
 * takes its internal lock.  Callbacks of the *_each functions run with the
 * lock held and must not call back into the same catalog.
 */
#ifndef VIGIL_CATALOG_CATALOG_H
#define VIGIL_CATALOG_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/layout.h"

struct catalog;

#define CATALOG_CAMERA_MAX 65
#define CATALOG_PATH_MAX 256
#define CATALOG_HEX_SIZE 65

/* ---- 1. opening ------------------------------------------------------- */

enum catalog_open_mode {
	CATALOG_READ_ONLY,  /* reports and listings: never writes */
	CATALOG_READ_WRITE, /* creates the file (mode 0640) and migrates the schema */
};

/*
 * Opens (and in read-write mode creates and migrates) the catalog at path.
 * Returns NULL and a message in err on failure, including a schema newer
 * than this program knows.  close sets *cat to NULL.
 */
struct catalog *catalog_open(const char *path, enum catalog_open_mode mode, char *err,
			     size_t errlen);
void catalog_close(struct catalog **cat);

/* The SQLite library version, for --version. */
const char *catalog_sqlite_version(void);

/* The schema version of the open file, and the newest this program knows. */
int catalog_schema_version(struct catalog *cat);
int catalog_schema_latest(void);

/* SQLite's own consistency check: 0 when "ok", else -EIO with its first
 * complaint in msg. */
int catalog_integrity_check(struct catalog *cat, char *msg, size_t size);

/*
 * For building large synthetic catalogs (tests, benchmarks): while on,
 * writes are grouped into large transactions with synchronous=OFF, trading
 * durability for speed.  Never used by the recorder.
 */
int catalog_bulk_load(struct catalog *cat, bool on);

/* ---- 2. segments ------------------------------------------------------ */

enum segment_state {
	SEGMENT_WRITING = 0,
	SEGMENT_COMPLETE,
	SEGMENT_RECOVERED,
	SEGMENT_DELETING,
	SEGMENT_DELETED,
};

const char *catalog_segment_state_name(enum segment_state s);

struct catalog_segment {
	int64_t id;
	char camera[CATALOG_CAMERA_MAX];
	char path[CATALOG_PATH_MAX]; /* relative to the storage root */
	enum segment_state state;
	int64_t start_us;
	int64_t end_us; /* -1 while writing */
	int64_t duration_us;
	int64_t bytes;
	int64_t frames;
	int64_t keyframes;
	char sha256[CATALOG_HEX_SIZE]; /* "" while writing */
	char codec[16];
	int width, height;
	bool has_audio;
	int64_t deleted_us; /* -1 unless deleting/deleted */
	char delete_reason[32];
};

/* What the segment writer measured, to finish a segment. */
struct segment_result {
	int64_t end_us;
	int64_t duration_us;
	int64_t bytes;
	int64_t frames;
	int64_t keyframes;
	char sha256[CATALOG_HEX_SIZE];
};

/*
 * Segment life.  begin inserts a row in state writing (committed), chooses
 * its id and path, and returns both: the caller creates the file only after
 * this returns.  finish records what was written and moves the row to
 * complete or recovered, appending segment-added to the audit chain and
 * extending the camera's runs, in one transaction.  abandon removes a
 * writing row whose file holds nothing worth keeping (the caller has
 * already removed the file).
 */
int catalog_segment_begin(struct catalog *cat, const char *camera, int64_t start_us,
			  const char *codec, int width, int height, bool has_audio, int64_t *id,
			  char *relpath, size_t relpath_size);
int catalog_segment_finish(struct catalog *cat, int64_t id, const struct segment_result *r,
			   enum segment_state state);
int catalog_segment_abandon(struct catalog *cat, int64_t id);

/* Fills *seg; -ENOENT if there is no such row. */
int catalog_segment_get(struct catalog *cat, int64_t id, struct catalog_segment *seg);

/* Which rows a listing returns.  Zero values mean "no limit". */
struct catalog_filter {
	const char *camera; /* NULL: all cameras */
	int64_t from_us;    /* rows that end after from_us ... */
	int64_t to_us;	    /* ... and start before to_us; 0: no bound */
	bool include_deleted;
};

typedef int (*catalog_segment_fn)(const struct catalog_segment *seg, void *ctx);

/* Calls fn for each matching segment in (camera, start) order.  A non-zero
 * return from fn stops the walk and is returned (as for every *_each). */
int catalog_segments_each(struct catalog *cat, const struct catalog_filter *f,
			  catalog_segment_fn fn, void *ctx);
/* Segments left in writing or deleting: what recovery must look at. */
int catalog_segments_unfinished(struct catalog *cat, catalog_segment_fn fn, void *ctx);

/* ---- 3. gaps and runs ------------------------------------------------- */

enum gap_reason {
	GAP_CAMERA_UNREACHABLE = 0,
	GAP_STREAM_STALLED,
	GAP_STREAM_ERROR,
	GAP_RECORDER_DOWN,
	GAP_STORAGE_ERROR,
	GAP_STORAGE_FULL,
	GAP_RECOVERED_PARTIAL,
	GAP_REASON_COUNT,
};

const char *catalog_gap_reason_name(enum gap_reason r);
/* Returns 0 and sets *r, or -EINVAL. */
int catalog_gap_reason_parse(const char *name, enum gap_reason *r);

struct catalog_gap {
	int64_t id;
	char camera[CATALOG_CAMERA_MAX];
	int64_t start_us;
	int64_t end_us; /* -1 while open */
	enum gap_reason reason;
	char detail[256];
};

/*
 * Gaps.  open inserts a gap that is still going on (end NULL) and returns
 * its id; close sets its end.  add inserts a gap that is already over.
 * A closed gap is appended to the camera's audit chain.
 */
int catalog_gap_open(struct catalog *cat, const char *camera, int64_t start_us,
		     enum gap_reason reason, const char *detail, int64_t *gap_id);
int catalog_gap_close(struct catalog *cat, int64_t gap_id, int64_t end_us);
int catalog_gap_add(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us,
		    enum gap_reason reason, const char *detail);
/* Closes every open gap at end_us (start-up after a crash); returns how many
 * or a negative errno. */
int catalog_gaps_close_all(struct catalog *cat, int64_t end_us, const char *note);

typedef int (*catalog_gap_fn)(const struct catalog_gap *gap, void *ctx);
int catalog_gaps_each(struct catalog *cat, const struct catalog_filter *f, catalog_gap_fn fn,
		      void *ctx);

/*
 * The last instant known to be accounted for on this camera: the end of its
 * newest live segment or closed gap.  *us = -1 for a camera never seen.
 */
int catalog_camera_last_covered(struct catalog *cat, const char *camera, int64_t *us);

/* Two segments closer than this are one continuous recording. */
#define CATALOG_RUN_TOLERANCE_US 100000

struct catalog_run {
	int64_t start_us, end_us;
	int64_t segments;
};
typedef int (*catalog_run_fn)(const struct catalog_run *run, void *ctx);
/* Coalesced recorded spans of camera overlapping [from_us, to_us), in order;
 * kept equal to the live segments as they are added and deleted (I6). */
int catalog_runs_each(struct catalog *cat, const char *camera, int64_t from_us, int64_t to_us,
		      catalog_run_fn fn, void *ctx);

/* ---- 4. the audit chain and verify ------------------------------------ */

/* Segment and gap changes, holds and deletions append their own entries;
 * this appends a recovery event (what start-up recovery did to a segment)
 * to the camera's chain. */
int catalog_record_recovery(struct catalog *cat, const char *camera, int64_t segment_id,
			    const char *detail);

/* One thing wrong, as verify reports it.  kind is one of:
 * audit-entry-removed, audit-entry-edited, audit-chain-broken,
 * segment-row-removed, segment-row-edited, segment-row-unaudited,
 * deletion-unaudited, gap-row-changed, gap-row-unaudited. */
struct catalog_problem {
	const char *kind;
	char camera[CATALOG_CAMERA_MAX];
	int64_t segment_id; /* -1: none */
	char path[CATALOG_PATH_MAX];
	char detail[512];
};
typedef int (*catalog_problem_fn)(const struct catalog_problem *p, void *ctx);

/*
 * Walks the audit chain of camera (NULL: every camera), recomputing every
 * hash and link, and checks every segment and gap row against its entry,
 * in one read snapshot.  Calls fn for each problem; *entries receives how
 * many audit entries were checked.  Returns 0 (problems or not), or a
 * negative errno if the walk itself failed.
 */
int catalog_verify(struct catalog *cat, const char *camera, catalog_problem_fn fn, void *ctx,
		   int64_t *entries);

struct catalog_chain_head {
	char camera[CATALOG_CAMERA_MAX];
	int64_t seq;
	char hash[CATALOG_HEX_SIZE];
};
typedef int (*catalog_head_fn)(const struct catalog_chain_head *h, void *ctx);
/* The newest entry of each camera's chain: what an auditor writes down to
 * detect, later, a chain cut short. */
int catalog_chain_heads(struct catalog *cat, catalog_head_fn fn, void *ctx);
/* The newest entry of camera's chain into *h: 0, -ENOENT when it has none,
 * or a negative errno. */
int catalog_chain_head(struct catalog *cat, const char *camera, struct catalog_chain_head *h);
/* Entry seq of camera's chain: its hash into hash and 0, or -ENOENT when
 * there is none (the chain ends before it); *last_seq receives the chain's
 * newest entry (0: no chain).  Or a negative errno. */
int catalog_chain_entry(struct catalog *cat, const char *camera, int64_t seq,
			char hash[CATALOG_HEX_SIZE], int64_t *last_seq);

/* ---- 5. holds and the delete protocol --------------------------------- */

struct catalog_hold {
	int64_t id;
	char camera[CATALOG_CAMERA_MAX];
	int64_t start_us, end_us;
	char reason[256];
	int64_t placed_us;
	int64_t released_us; /* -1 while in force */
	char release_reason[256];
};

/* Places a hold on [start_us, end_us) of camera, appending hold-placed to the
 * camera's audit chain.  Returns 0 and *id, or a negative errno. */
int catalog_hold_add(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us,
		     const char *reason, int64_t now_us, int64_t *id);
/* Releases hold id (-ENOENT if unknown, -EALREADY if already released),
 * appending hold-released to the chain. */
int catalog_hold_release(struct catalog *cat, int64_t id, const char *reason, int64_t now_us);

typedef int (*catalog_hold_fn)(const struct catalog_hold *hold, void *ctx);
/* Holds of a camera (NULL: all), in force only unless include_released. */
int catalog_holds_each(struct catalog *cat, const char *camera, bool include_released,
		       catalog_hold_fn fn, void *ctx);
/* Is any hold in force over [start_us, end_us) of camera? 1 yes, 0 no, or a
 * negative errno. */
int catalog_is_held(struct catalog *cat, const char *camera, int64_t start_us, int64_t end_us);

/* Live segments of camera, oldest first, that start after after_us (a
 * cursor: INT64_MIN for the very first) and end at or before before_us (0:
 * any), at most limit of them: what a sweeper considers deleting. */
int catalog_oldest_segments(struct catalog *cat, const char *camera, int64_t after_us,
			    int64_t before_us, int limit, catalog_segment_fn fn, void *ctx);

/*
 * The delete protocol (invariant I4).  mark_deleting moves a live row to
 * deleting with the reason (committed; -EALREADY when the row is not live
 * any more, e.g. another sweeper took it).  The caller then unlinks the file
 * and fsyncs its folder, and calls mark_deleted, which tombstones the row,
 * appends segment-deleted to the audit chain, and updates runs and totals,
 * in one transaction.  A refusal to delete a held segment happens in
 * mark_deleting too (-EPERM), so no sweeper can race a new hold.
 */
int catalog_segment_mark_deleting(struct catalog *cat, int64_t id, const char *reason,
				  int64_t now_us);
int catalog_segment_mark_deleted(struct catalog *cat, int64_t id, int64_t now_us);
/* The same for n rows in one transaction each (a sweeper's batch):
 * results[i] is 0 or the row's refusal (-EALREADY, -EPERM, -ENOENT); the
 * return value is 0 or the catalog's failure, which undoes the batch. */
int catalog_segments_mark_deleting(struct catalog *cat, const int64_t *ids, int n,
				   const char *reason, int64_t now_us, int *results);
int catalog_segments_mark_deleted(struct catalog *cat, const int64_t *ids, int n, int64_t now_us,
				  int *results);

/* ---- 6. statistics ---------------------------------------------------- */

struct catalog_camera_stats {
	char camera[CATALOG_CAMERA_MAX];
	int64_t created_us;	  /* first seen by this catalog */
	int64_t first_footage_us; /* start of its first segment ever, -1: none */
	int64_t oldest_us;	  /* start of its oldest live segment, -1: none */
	int64_t newest_us;	  /* end of its newest finished segment, -1: none */
	int64_t live_bytes;
	int64_t live_segments;
};
typedef int (*catalog_camera_fn)(const struct catalog_camera_stats *st, void *ctx);
/* Every camera the catalog knows, by id; one camera's (-ENOENT: unknown). */
int catalog_cameras_each(struct catalog *cat, catalog_camera_fn fn, void *ctx);
int catalog_camera_stats(struct catalog *cat, const char *camera, struct catalog_camera_stats *st);

struct catalog_day {
	int64_t day; /* days since 1970-01-01 UTC */
	int64_t recorded_us;
	int64_t bytes;
	int64_t segments;
};
typedef int (*catalog_day_fn)(const struct catalog_day *day, void *ctx);
/* Per-day recording statistics of camera for days in [from_day, to_day). */
int catalog_days_each(struct catalog *cat, const char *camera, int64_t from_day, int64_t to_day,
		      catalog_day_fn fn, void *ctx);

typedef int (*catalog_deletion_fn)(const char *reason, int64_t segments, int64_t bytes, void *ctx);
/* Deletions of camera (NULL: all) on days in [from_day, to_day), summed by
 * reason. */
int catalog_deletions_each(struct catalog *cat, const char *camera, int64_t from_day,
			   int64_t to_day, catalog_deletion_fn fn, void *ctx);

/* Size of the catalog file and its WAL, in bytes. */
int64_t catalog_file_bytes(struct catalog *cat);

/* ---- 7. meta ---------------------------------------------------------- */

/* Small persistent facts (key/value); get returns -ENOENT when unset. */
int catalog_meta_set(struct catalog *cat, const char *key, const char *value);
int catalog_meta_get(struct catalog *cat, const char *key, char *value, size_t size);

/* ---- 8. picture inspection (inspect/) ---------------------------------- */

/* Blobs are opaque here: the luma plane and JPEG are inspect/'s. */
#define CATALOG_INSPECT_STATE_MAX 16
#define CATALOG_INSPECT_REASON_MAX 160
#define CATALOG_INSPECT_BLOB_MAX (1 << 20)

/* One check (row of inspection), or the newest check of a camera with what
 * the next one needs (inspection_latest).  Readers get malloc'd blobs
 * (plane, thumbnail; NULL when absent) that catalog_inspection_release
 * frees; writers lend theirs. */
struct catalog_inspection {
	char camera[CATALOG_CAMERA_MAX];
	int64_t checked_us;
	int64_t frame_us; /* -1: none */
	char frame_key[64];
	char state[CATALOG_INSPECT_STATE_MAX];
	char reason[CATALOG_INSPECT_REASON_MAX];
	double mean, spread;
	double detail_ratio, match; /* < 0: none */
	int changed_blocks;	    /* < 0: none */
	bool clock_known;	    /* the camera's clock offset was known at the check */
	int64_t clock_offset_us;    /* camera minus recorder, when clock_known */
	int64_t healthy_since_us;   /* -1: none (latest only) */
	uint8_t *plane;
	size_t plane_len;
	uint8_t *thumbnail;
	size_t thumbnail_len;
};
void catalog_inspection_release(struct catalog_inspection *r);

/*
 * Records a check: a row of inspection (with the thumbnail only when
 * keep_thumbnail) and the camera's latest (plane and thumbnail), in one
 * transaction.  0 or a negative errno.
 */
int catalog_inspection_add(struct catalog *cat, const struct catalog_inspection *r,
			   bool keep_thumbnail);
/* The latest check of camera into *r; -ENOENT if it was never checked. */
int catalog_inspection_latest(struct catalog *cat, const char *camera,
			      struct catalog_inspection *r);
typedef int (*catalog_inspection_fn)(const struct catalog_inspection *r, void *ctx);
/* Checks of camera (NULL: all) in [from_us, to_us) (0: no bound), oldest
 * first, without blobs. */
int catalog_inspections_each(struct catalog *cat, const char *camera, int64_t from_us,
			     int64_t to_us, catalog_inspection_fn fn, void *ctx);

/* A camera's checks over a span, for the weekly record. */
struct catalog_inspection_summary {
	int64_t checks; /* checks in the span */
	int64_t failed; /* of them, those whose state is not ok */
	/* the span's latest check (latest.checked_us -1: none), without blobs */
	struct catalog_inspection latest;
	/* the newest thumbnail of the span (malloc'd, NULL: none), and the
	 * check it was taken at; release with catalog_inspection_summary_release */
	uint8_t *thumbnail;
	size_t thumbnail_len;
	int64_t thumbnail_us;
};
/* Summarises the checks of camera in [from_us, to_us); the thumbnail only
 * when want_thumbnail.  0 or a negative errno. */
int catalog_inspection_summary(struct catalog *cat, const char *camera, int64_t from_us,
			       int64_t to_us, bool want_thumbnail,
			       struct catalog_inspection_summary *out);
void catalog_inspection_summary_release(struct catalog_inspection_summary *s);
/* Removes checks of camera older than before_us; returns how many, or a
 * negative errno. */
int catalog_inspections_prune(struct catalog *cat, const char *camera, int64_t before_us);

/* The reference picture: set replaces it (by: "operator", "automatic");
 * get fills plane (malloc'd, *plane_len) and *taken_us, -ENOENT without one. */
int catalog_inspection_reference_set(struct catalog *cat, const char *camera, int64_t taken_us,
				     const char *by, const uint8_t *plane, size_t plane_len,
				     const uint8_t *thumbnail, size_t thumbnail_len);
int catalog_inspection_reference_get(struct catalog *cat, const char *camera, uint8_t **plane,
				     size_t *plane_len, int64_t *taken_us);

#endif
