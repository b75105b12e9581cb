/*
 * What the catalog's own .c files share; nothing outside catalog/ includes
 * this header.
 */
#ifndef VIGIL_CATALOG_INTERNAL_H
#define VIGIL_CATALOG_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "catalog/migrations.h"

/*
 * One SQLite database with its lock.  The catalog proper and the ticket
 * database are both this struct, each opened with its own migrations.
 */
struct catalog {
	sqlite3 *db;
	pthread_mutex_t lock;
	char *path;
	bool read_only;
	const struct catalog_migration *migrations;
	int nmigrations;
	const char *kind; /* "catalog", "ticket database": for messages */
	bool bulk;	  /* catalog_bulk_load: transactions become savepoints */
	int64_t bulk_ops;
	/* prepared statements, by the address of their SQL text */
	struct catalog_cached_stmt {
		const char *sql;
		sqlite3_stmt *stmt;
	} * cache;
	int ncached, cache_cap;
};

/* Opens a database at path with the given schema migrations (WAL,
 * synchronous=FULL, foreign keys, busy timeout), as catalog_open does.
 * kind names it in messages ("ticket database"); writer is the command
 * that creates and upgrades it ("vigil check"). */
struct catalog *catalog_open_schema(const char *path, enum catalog_open_mode mode, const char *kind,
				    const char *writer, const struct catalog_migration *migrations,
				    int nmigrations, char *err, size_t errlen);

/* Maps an SQLite result code to a negative errno, logging the database's
 * message with what was being done. */
int catalog_fail(struct catalog *cat, int rc, const char *what);

/* Runs a statement without results (used for BEGIN/COMMIT/ROLLBACK). */
int catalog_exec(struct catalog *cat, const char *sql);

/* Transactions; the lock must be held.  begin takes the write lock at once
 * (BEGIN IMMEDIATE), so a writer never deadlocks upgrading a read. */
int catalog_begin(struct catalog *cat);
int catalog_commit(struct catalog *cat);
void catalog_rollback(struct catalog *cat);

/* Prepares sql; on failure logs and returns NULL.  The caller finalizes. */
sqlite3_stmt *catalog_prepare(struct catalog *cat, const char *sql);

/* The prepared statement for sql (a string constant: it is cached by its
 * address), reset and with no bindings; NULL on failure.  The caller calls
 * catalog_reset, never sqlite3_finalize, when done. */
sqlite3_stmt *catalog_cached(struct catalog *cat, const char *sql);
void catalog_reset(sqlite3_stmt *stmt);

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

/* Reads the current row of stmt (from a SELECT of SEGMENT_COLUMNS). */
#define SEGMENT_COLUMNS                                                                            \
	"id, camera, path, state, start_us, end_us, duration_us, bytes, frames, keyframes, "       \
	"sha256, codec, width, height, has_audio, deleted_us, delete_reason"
void catalog_read_segment(sqlite3_stmt *stmt, struct catalog_segment *seg);
/* One segment by id, with cat->lock held; -ENOENT when there is none. */
int catalog_segment_get_locked(struct catalog *cat, int64_t id, struct catalog_segment *seg);

#endif
