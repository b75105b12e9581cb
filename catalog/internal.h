/*
 * What the catalog's own .c files share; nothing outside catalog/ includes
 * this header.  The database itself (lock, statements, transactions,
 * migrations) is util/db.h's.
 */
#ifndef VIGIL_CATALOG_INTERNAL_H
#define VIGIL_CATALOG_INTERNAL_H

#include <stdint.h>

#include "catalog/catalog.h"
#include "util/db.h"

struct catalog {
	struct db *db;
};

/* Appends an entry to the camera's audit chain; inside a transaction. */
int catalog_audit_append(struct catalog *cat, const char *camera, int64_t at_us, const char *kind,
			 int64_t segment_id, const char *detail);

/* The canonical audit detail of a finished segment, shared by the writer of
 * the chain and by verify. */
void catalog_audit_segment_detail(const struct catalog_segment *seg, char *out, size_t size);

/* Adds a finished segment to its camera's totals and day statistics;
 * inside a transaction. */
int catalog_stats_add_segment(struct catalog *cat, const struct catalog_segment *seg);

/* Makes the camera row exist; inside a transaction. */
int catalog_ensure_camera(struct catalog *cat, const char *camera, int64_t now_us);

/* The columns of a segment row, for SELECTs read by catalog_read_segment. */
#define SEGMENT_COLUMNS                                                                            \
	"id, camera, path, state, start_us, end_us, duration_us, bytes, frames, keyframes, "       \
	"sha256, codec, width, height, has_audio, deleted_us, delete_reason"
void catalog_read_segment(sqlite3_stmt *row, struct catalog_segment *seg);

/* A segment walk: db_each's row callback that reads the row into a
 * segment and passes it to fn. */
struct catalog_segment_walk {
	catalog_segment_fn fn;
	void *ctx;
};
int catalog_segment_row(sqlite3_stmt *row, void *walk);

#endif
