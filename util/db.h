/*
 * One SQLite database with its lock, its schema migrations and its cached
 * statements: what the catalog and the ticket store are built on, so each
 * of them writes only its queries.
 *
 * A query reads as lend, bind, finish:
 *
 *     sqlite3_stmt *s = db_stmt(db, "UPDATE gap SET end_us = ? WHERE id = ?");
 *     db_bind_int64(s, 1, end_us);
 *     db_bind_int64(s, 2, id);
 *     return db_run(db, s, "close gap");
 *
 * db_stmt lends the statement prepared for that SQL text (cached by the
 * text's address, so pass a string constant) together with the database's
 * lock; exactly one finishing call (db_run, db_one, db_int64, db_each)
 * (or db_write, below) steps it, resets it and gives both back.  If preparing failed, db_stmt
 * returns NULL, the bind calls do nothing and the finishing call returns
 * the failure, so no caller checks in between.
 *
 * Writes that belong together go between db_begin and db_end, which commits
 * when the work succeeded and rolls back when it did not.  Inside a batch
 * (db_batch_begin, db_bulk_load) a transaction becomes a savepoint of the
 * batch's, so a failed call still undoes exactly its own changes.
 *
 * Errors: every function returns 0 (or a count) or a negative errno
 * (SQLITE_FULL -ENOSPC, BUSY/LOCKED -EBUSY, NOMEM -ENOMEM, READONLY -EROFS,
 * CONSTRAINT -EEXIST, CANTOPEN -ENOENT, anything else -EIO) and logs
 * nothing.  What was being done and SQLite's message are kept, per thread,
 * for the one caller that handles the error: db_errmsg(ret).
 *
 * Thread safety: a struct db may be shared by threads.  Its lock is a
 * recursive mutex held from db_stmt to the finishing call, from db_begin to
 * db_end and from db_batch_begin to db_batch_end, so a statement, a
 * transaction or a batch is never interleaved with another thread's (the
 * connection is opened SQLITE_OPEN_NOMUTEX: this lock is the one that
 * counts).  Row callbacks run with the lock held, in the same thread: they
 * may run other statements of the database, never the one being stepped
 * (a walk must not start itself again from its own callback).  The error
 * message is _Thread_local: a thread reads the message of its own last
 * failure, never another's, and no lock guards it.
 */
#ifndef VIGIL_UTIL_DB_H
#define VIGIL_UTIL_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

/* One schema migration, compiled in by tools/sql2c. */
struct db_migration {
	int version; /* the schema version after this migration */
	const char *name;
	const char *sql;
};

/*
 * Opens the database at path.  Read-write: creates the file (mode 0640,
 * whatever the umask; its -wal and -shm files take the same mode), sets WAL
 * and synchronous=FULL, and applies every migration newer than the file,
 * each in its own transaction with the version bump.  Read-only: refuses a
 * file whose schema is older than the migrations (writer names the command
 * that upgrades it, "vigil record").  Both refuse a newer schema.  kind
 * names the database in messages ("catalog").  NULL with a message in err
 * on failure.
 */
struct db *db_open(const char *path, bool read_only, const char *kind, const char *writer,
		   const struct db_migration *migrations, int nmigrations, char *err,
		   size_t errlen);
/* Closes db and sets *db to NULL.  An open bulk load is committed; an open
 * batch is rolled back, as a crash would leave it. */
void db_close(struct db **db);

const char *db_path(const struct db *db);
/* The schema version (PRAGMA user_version) of the file, or a negative
 * errno. */
int db_schema_version(struct db *db);
/* The newest version among migrations. */
int db_schema_latest(const struct db_migration *migrations, int nmigrations);

/* ---- statements ---------------------------------------------------------- */

/* Lends the cached statement for sql with the lock (see above); NULL when
 * it cannot be prepared, which the finishing call returns. */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

/* Bindings (1-based).  Text is not copied: it must live until the
 * finishing call.  NULL text binds SQL NULL; db_bind_opt_int64 binds NULL
 * for a negative value ("none", "still open"). */
void db_bind_text(sqlite3_stmt *s, int col, const char *text);
void db_bind_int64(sqlite3_stmt *s, int col, int64_t v);
void db_bind_opt_int64(sqlite3_stmt *s, int col, int64_t v);

/* Finishing calls.  run: a statement without rows; 0 or a negative errno.
 * one: the first row, passed to fn (may be NULL); fn's return, -ENOENT for
 * no row, or a negative errno.  int64: column 0 of the first row into *v;
 * 0 or -ENOENT or a negative errno.  each: fn for each row until it
 * returns non-zero, which is returned; else 0 or a negative errno. */
typedef int (*db_row_fn)(sqlite3_stmt *row, void *ctx);
int db_run(struct db *db, sqlite3_stmt *s, const char *what);
int db_one(struct db *db, sqlite3_stmt *s, const char *what, db_row_fn fn, void *ctx);
int db_int64(struct db *db, sqlite3_stmt *s, const char *what, int64_t *v);
int db_each(struct db *db, sqlite3_stmt *s, const char *what, db_row_fn fn, void *ctx);

/* The rowid of the last INSERT; call it before db_end. */
int64_t db_last_id(struct db *db);

/* Column readers: text copied into dst (NUL-terminated, "" for NULL), an
 * integer or none for NULL. */
void db_column_text(sqlite3_stmt *row, int col, char *dst, size_t size);
int64_t db_column_or(sqlite3_stmt *row, int col, int64_t none);

/* ---- transactions -------------------------------------------------------- */

/* begin takes the write lock at once (BEGIN IMMEDIATE), so a writer never
 * deadlocks upgrading a read; begin_read opens a read snapshot (BEGIN).
 * end commits when ret >= 0 and rolls back otherwise, and returns ret, or
 * the commit's failure.  Each begin that returned 0 has exactly one end. */
int db_begin(struct db *db);
int db_begin_read(struct db *db);
int db_end(struct db *db, int ret);

/* Finishes s (from db_stmt) as db_run does, in a transaction of its own:
 * inside a batch, a savepoint that its failure undoes. */
int db_write(struct db *db, sqlite3_stmt *s, const char *what);

/* Groups every transaction until batch_end into one (one fsync); a failed
 * commit at the end undoes the batch.  -EINVAL when one is already open. */
int db_batch_begin(struct db *db);
int db_batch_end(struct db *db);

/* A batch with synchronous=OFF, committed every 20000 transactions: for
 * building large synthetic databases, never for real footage. */
int db_bulk_load(struct db *db, bool on);

/* ---- errors -------------------------------------------------------------- */

/* Records a failure that is not SQLite's ("segment 4 is complete, not
 * writing") the same way, and returns err. */
int db_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What this thread's last failure was, as "catalog '/x/catalog.db': add gap:
 * database or disk is full", when err is that failure's code; otherwise
 * strerror(-err).  Valid until this thread's next database call. */
const char *db_errmsg(int err);

#endif
