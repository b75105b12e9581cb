/*
 * One SQLite database: opening and migrating it, the statement cache, the
 * finishing calls that step and reset, transactions and batches, and the
 * per-thread record of the last failure (see db.h).
 *
 * The lock is recursive because a transaction holds it while the
 * statements inside lend it again; each lend is paired with its finishing
 * call, each begin with its end, so the count always returns to zero.
 * Statements are prepared once (SQLITE_PREPARE_PERSISTENT) and kept until
 * the database closes: the cache is keyed by the address of the SQL text,
 * which every caller passes as a string constant.
 */
#include "util/db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/banned.h"

/* Transactions inside a batch are savepoints; a bulk load also commits its
 * batch every BULK_COMMIT_EVERY of them, to keep the WAL small. */
#define BULK_COMMIT_EVERY 20000

enum outer { OUTER_NONE, OUTER_BATCH, OUTER_BULK };

struct db {
	sqlite3 *sql;
	pthread_mutex_t lock;
	char *path;
	const char *kind;
	bool read_only;
	int depth;	  /* open transactions, the batch's included */
	enum outer outer; /* the batch that holds the lock, if any */
	int64_t bulk_ops; /* transactions in this bulk load */
	struct cached_stmt {
		const char *sql;
		sqlite3_stmt *stmt;
	} * cache;
	int ncached, cache_cap;
};

/* The last failure of this thread. */
static _Thread_local struct {
	int err;
	char msg[640];
} last;

static void clear_error(void)
{
	last.err = 0;
	last.msg[0] = '\0';
}

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_CONSTRAINT: return -EEXIST;
	case SQLITE_CANTOPEN: return -ENOENT;
	default: return -EIO;
	}
}

/* Records SQLite's failure rc while doing what; returns its errno. */
static int fail(struct db *db, int rc, const char *what)
{
	last.err = map_rc(rc);
	snprintf(last.msg, sizeof(last.msg), "%s '%s': %s: %s", db->kind, db->path, what,
		 db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc));
	return last.err;
}

int db_error(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last.msg, sizeof(last.msg), fmt, ap);
	va_end(ap);
	last.err = err;
	return err;
}

const char *db_errmsg(int err)
{
	if (err < 0 && err == last.err && last.msg[0])
		return last.msg;
	return strerror(err < 0 ? -err : err);
}

/* Runs SQL without rows or bindings (pragmas, transaction control). */
static int exec(struct db *db, const char *sql, const char *what)
{
	int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail(db, rc, what);
}

/* ---- statements ---------------------------------------------------------- */

sqlite3_stmt *db_stmt(struct db *db, const char *sql)
{
	pthread_mutex_lock(&db->lock);
	clear_error();
	for (int i = 0; i < db->ncached; i++)
		if (db->cache[i].sql == sql)
			return db->cache[i].stmt;
	if (db->ncached == db->cache_cap) {
		int cap = db->cache_cap ? db->cache_cap * 2 : 32;
		void *p = realloc(db->cache, (size_t)cap * sizeof(*db->cache));
		if (!p) {
			db_error(-ENOMEM, "%s '%s': out of memory for a statement", db->kind,
				 db->path);
			return NULL;
		}
		db->cache = p;
		db->cache_cap = cap;
	}
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
	if (rc != SQLITE_OK) {
		fail(db, rc, "prepare");
		return NULL;
	}
	db->cache[db->ncached].sql = sql;
	db->cache[db->ncached].stmt = stmt;
	db->ncached++;
	return stmt;
}

void db_bind_text(sqlite3_stmt *s, int col, const char *text)
{
	if (s)
		sqlite3_bind_text(s, col, text, -1, SQLITE_STATIC);
}

void db_bind_int64(sqlite3_stmt *s, int col, int64_t v)
{
	if (s)
		sqlite3_bind_int64(s, col, v);
}

void db_bind_opt_int64(sqlite3_stmt *s, int col, int64_t v)
{
	if (s && v >= 0)
		sqlite3_bind_int64(s, col, v);
	else if (s)
		sqlite3_bind_null(s, col);
}

/* Gives the statement and the lock back; returns ret. */
static int finish(struct db *db, sqlite3_stmt *s, int ret)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
	pthread_mutex_unlock(&db->lock);
	return ret;
}

/* What a NULL statement stands for: db_stmt's failure. */
static int prepare_failure(void)
{
	return last.err < 0 ? last.err : -EIO;
}

int db_run(struct db *db, sqlite3_stmt *s, const char *what)
{
	if (!s)
		return finish(db, s, prepare_failure());
	int rc = sqlite3_step(s);
	return finish(db, s, rc == SQLITE_DONE ? 0 : fail(db, rc, what));
}

int db_one(struct db *db, sqlite3_stmt *s, const char *what, db_row_fn fn, void *ctx)
{
	if (!s)
		return finish(db, s, prepare_failure());
	int rc = sqlite3_step(s), ret;
	if (rc == SQLITE_ROW)
		ret = fn ? fn(s, ctx) : 0;
	else
		ret = rc == SQLITE_DONE ? -ENOENT : fail(db, rc, what);
	return finish(db, s, ret);
}

static int read_int64(sqlite3_stmt *row, void *v)
{
	*(int64_t *)v = sqlite3_column_int64(row, 0);
	return 0;
}

int db_int64(struct db *db, sqlite3_stmt *s, const char *what, int64_t *v)
{
	return db_one(db, s, what, read_int64, v);
}

int db_each(struct db *db, sqlite3_stmt *s, const char *what, db_row_fn fn, void *ctx)
{
	if (!s)
		return finish(db, s, prepare_failure());
	int rc, ret = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = fn(s, ctx)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail(db, rc, what);
	return finish(db, s, ret);
}

int64_t db_last_id(struct db *db)
{
	return sqlite3_last_insert_rowid(db->sql);
}

void db_column_text(sqlite3_stmt *row, int col, char *dst, size_t size)
{
	const unsigned char *src = sqlite3_column_text(row, col);
	snprintf(dst, size, "%s", src ? (const char *)src : "");
}

int64_t db_column_or(sqlite3_stmt *row, int col, int64_t none)
{
	return sqlite3_column_type(row, col) == SQLITE_NULL ? none : sqlite3_column_int64(row, col);
}

/* ---- transactions -------------------------------------------------------- */

static int begin(struct db *db, const char *sql)
{
	int ret = 0;
	pthread_mutex_lock(&db->lock);
	clear_error();
	if (db->depth > 0) {
		/* a bulk load commits its batch now and then, between two
		 * transactions, so the WAL does not grow without end */
		if (db->outer == OUTER_BULK && db->depth == 1 &&
		    ++db->bulk_ops % BULK_COMMIT_EVERY == 0) {
			ret = exec(db, "COMMIT", "commit bulk load");
			if (ret == 0)
				ret = exec(db, "BEGIN", "begin bulk load");
		}
		if (ret == 0)
			ret = exec(db, "SAVEPOINT op", "begin");
	} else {
		ret = exec(db, sql, "begin");
	}
	if (ret < 0) {
		pthread_mutex_unlock(&db->lock);
		return ret;
	}
	db->depth++;
	return 0;
}

int db_begin(struct db *db)
{
	return begin(db, "BEGIN IMMEDIATE");
}

int db_begin_read(struct db *db)
{
	return begin(db, "BEGIN");
}

/* Undoes the open transaction (or savepoint); keeps the failure's message. */
static void rollback(struct db *db, bool nested)
{
	if (nested) {
		sqlite3_exec(db->sql, "ROLLBACK TO op", NULL, NULL, NULL);
		sqlite3_exec(db->sql, "RELEASE op", NULL, NULL, NULL);
	} else if (!sqlite3_get_autocommit(db->sql)) {
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	}
}

/* Commits the open transaction; rolls it back if the commit fails. */
static int commit(struct db *db, bool nested)
{
	if (nested)
		return exec(db, "RELEASE op", "commit");
	int ret = exec(db, "COMMIT", "commit");
	if (ret < 0)
		rollback(db, false);
	return ret;
}

int db_end(struct db *db, int ret)
{
	bool nested = db->depth > 1;
	if (ret < 0) {
		rollback(db, nested);
	} else {
		int c = commit(db, nested);
		if (c < 0)
			ret = c;
	}
	db->depth--;
	pthread_mutex_unlock(&db->lock);
	return ret;
}

int db_write(struct db *db, sqlite3_stmt *s, const char *what)
{
	if (!s)
		return finish(db, s, prepare_failure());
	int ret = db_begin(db);
	if (ret < 0)
		return finish(db, s, ret); /* not run */
	return db_end(db, db_run(db, s, what));
}

int db_batch_begin(struct db *db)
{
	pthread_mutex_lock(&db->lock);
	clear_error();
	int ret = db->depth > 0 ? -EINVAL : exec(db, "BEGIN IMMEDIATE", "begin batch");
	if (ret < 0) {
		pthread_mutex_unlock(&db->lock);
		return ret;
	}
	db->depth = 1;
	db->outer = OUTER_BATCH;
	return 0; /* the lock stays held until db_batch_end */
}

int db_batch_end(struct db *db)
{
	pthread_mutex_lock(&db->lock);
	if (db->outer != OUTER_BATCH || db->depth != 1) {
		pthread_mutex_unlock(&db->lock);
		return -EINVAL;
	}
	int ret = commit(db, false);
	db->depth = 0;
	db->outer = OUTER_NONE;
	pthread_mutex_unlock(&db->lock);
	pthread_mutex_unlock(&db->lock); /* the batch's */
	return ret;
}

int db_bulk_load(struct db *db, bool on)
{
	int ret = 0;
	pthread_mutex_lock(&db->lock);
	if (on && db->outer == OUTER_NONE && db->depth == 0) {
		ret = exec(db, "PRAGMA synchronous=OFF", "bulk load");
		if (ret == 0)
			ret = exec(db, "BEGIN", "begin bulk load");
		if (ret == 0) {
			db->depth = 1;
			db->outer = OUTER_BULK;
			db->bulk_ops = 0;
			return 0; /* the lock stays held until the load ends */
		}
	} else if (!on && db->outer == OUTER_BULK) {
		db->outer = OUTER_NONE;
		db->depth = 0;
		ret = exec(db, "COMMIT", "commit bulk load");
		sqlite3_exec(db->sql, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
		pthread_mutex_unlock(&db->lock); /* the load's */
	}
	pthread_mutex_unlock(&db->lock);
	return ret;
}

/* ---- opening ------------------------------------------------------------- */

static int read_user_version(struct db *db, int *version)
{
	int64_t v = -1;
	int ret = db_int64(db, db_stmt(db, "PRAGMA user_version"), "read schema version", &v);
	*version = (int)v;
	return ret;
}

int db_schema_version(struct db *db)
{
	int v = -1;
	int ret = read_user_version(db, &v);
	return ret < 0 ? ret : v;
}

int db_schema_latest(const struct db_migration *m, int count)
{
	int latest = 0;
	for (int i = 0; i < count; i++)
		if (m[i].version > latest)
			latest = m[i].version;
	return latest;
}

/* 0 when no row breaks a foreign key, -EINVAL when one does. */
static int foreign_keys_hold(struct db *db)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->sql, "PRAGMA foreign_key_check", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(db, rc, "check foreign keys");
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return -EINVAL;
	return rc == SQLITE_DONE ? 0 : fail(db, rc, "check foreign keys");
}

/* Applies every migration newer than the file, each in its own transaction
 * with the version bump, so an interrupted upgrade resumes cleanly. */
static int migrate(struct db *db, const struct db_migration *migrations, int n, char *err,
		   size_t errlen)
{
	int version, ret;

	for (int i = 0; i < n; i++) {
		const struct db_migration *m = &migrations[i];
		if ((ret = db_begin(db)) < 0) {
			snprintf(err, errlen, "cannot lock %s '%s' for upgrade: %s", db->kind,
				 db->path, db_errmsg(ret));
			return ret;
		}
		if ((ret = read_user_version(db, &version)) < 0) {
			snprintf(err, errlen, "%s", db_errmsg(ret));
			db_end(db, ret);
			return ret;
		}
		if (version >= m->version) {
			db_end(db, -EALREADY); /* nothing to do: roll back */
			continue;
		}
		if (version != m->version - 1) {
			snprintf(err, errlen, "%s '%s' is at schema %d and migration %s expects %d",
				 db->kind, db->path, version, m->name, m->version - 1);
			return db_end(db, -EINVAL);
		}
		char *msg = NULL;
		int rc = sqlite3_exec(db->sql, m->sql, NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s '%s': migration %s failed: %s", db->kind,
				 db->path, m->name, msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			return db_end(db, -EIO);
		}
		/* foreign keys are off while migrating (a table rebuilt to change
		 * a constraint is dropped and renamed under its children): check
		 * them all before the migration commits */
		if ((ret = foreign_keys_hold(db)) < 0) {
			snprintf(err, errlen, "%s '%s': migration %s breaks a foreign key",
				 db->kind, db->path, m->name);
			return db_end(db, ret);
		}
		char bump[64];
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", m->version);
		if ((ret = exec(db, bump, "set schema version")) < 0) {
			snprintf(err, errlen, "%s", db_errmsg(ret));
			return db_end(db, ret);
		}
		if ((ret = db_end(db, 0)) < 0) {
			snprintf(err, errlen, "%s '%s': cannot commit migration %s: %s", db->kind,
				 db->path, m->name, db_errmsg(ret));
			return ret;
		}
		log_info("%s '%s': upgraded to schema %d (%s)", db->kind, db->path, m->version,
			 m->name);
	}
	return 0;
}

/*
 * A new database file gets mode 0640 whatever the umask: it is created
 * here, before SQLite opens it (an empty file is an empty database), and
 * SQLite gives the -wal and -shm files it creates the database's mode.
 */
static int create_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return 0; /* there already, or SQLite says why it cannot be */
	int ret = fchmod(fd, 0640) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

struct db *db_open(const char *path, bool read_only, const char *kind, const char *writer,
		   const struct db_migration *migrations, int nmigrations, char *err, size_t errlen)
{
	struct db *db = calloc(1, sizeof(*db));
	pthread_mutexattr_t attr;
	int flags = SQLITE_OPEN_NOMUTEX;
	int version, ret;

	if (!db || !(db->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		free(db);
		return NULL;
	}
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&db->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	db->kind = kind;
	db->read_only = read_only;
	int latest = db_schema_latest(migrations, nmigrations);
	if (!read_only && (ret = create_private(path)) < 0) {
		snprintf(err, errlen, "cannot create %s '%s': %s", kind, path, strerror(-ret));
		goto fail;
	}
	flags |= read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc = sqlite3_open_v2(path, &db->sql, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s '%s': %s", kind, path,
			 db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(db->sql, 1);
	sqlite3_busy_timeout(db->sql, 10000);
	if (!read_only) {
		/* WAL so reports never block recording; FULL so a commit is durable
		 * before anything (an unlink) relies on it */
		/* Switching to WAL needs the file to itself, and SQLite answers
		 * busy at once rather than wait: two programs starting together
		 * (a recorder and its console) take turns here. */
		for (int tries = 0; tries < 100; tries++) {
			ret = exec(db, "PRAGMA journal_mode=WAL", "set WAL mode");
			int code = sqlite3_errcode(db->sql);
			if (ret == 0 || (code != SQLITE_BUSY && code != SQLITE_LOCKED))
				break;
			usleep(100 * 1000);
		}
		if (ret < 0 ||
		    (ret = exec(db, "PRAGMA synchronous=FULL", "set synchronous mode")) < 0) {
			snprintf(err, errlen, "cannot set up %s '%s': %s", kind, path,
				 sqlite3_errmsg(db->sql));
			goto fail;
		}
	}
	if (read_user_version(db, &version) < 0) {
		snprintf(err, errlen, "%s '%s' is not a readable SQLite database: %s", kind, path,
			 sqlite3_errmsg(db->sql));
		goto fail;
	}
	if (version > latest) {
		snprintf(err, errlen,
			 "%s '%s' has schema %d, newer than this vigil knows (%d): upgrade vigil",
			 kind, path, version, latest);
		goto fail;
	}
	if (read_only) {
		if (version < latest) {
			snprintf(err, errlen,
				 "%s '%s' has schema %d and needs upgrading to %d: run %s once",
				 kind, path, version, latest, writer);
			goto fail;
		}
	} else if (migrate(db, migrations, nmigrations, err, errlen) < 0) {
		goto fail;
	}
	if (exec(db, "PRAGMA foreign_keys=ON", "enable foreign keys") < 0) {
		snprintf(err, errlen, "cannot set up %s '%s': %s", kind, path,
			 sqlite3_errmsg(db->sql));
		goto fail;
	}
	return db;
fail:
	db_close(&db);
	return NULL;
}

const char *db_path(const struct db *db)
{
	return db->path;
}

void db_close(struct db **dbp)
{
	struct db *db = *dbp;
	if (!db)
		return;
	if (db->outer == OUTER_BULK) {
		db_bulk_load(db, false);
	} else if (db->outer == OUTER_BATCH) {
		/* a batch never ended is abandoned, as a crash would */
		rollback(db, false);
		db->outer = OUTER_NONE;
		db->depth = 0;
		pthread_mutex_unlock(&db->lock);
	}
	for (int i = 0; i < db->ncached; i++)
		sqlite3_finalize(db->cache[i].stmt);
	free(db->cache);
	if (db->sql)
		sqlite3_close_v2(db->sql);
	pthread_mutex_destroy(&db->lock);
	free(db->path);
	free(db);
	*dbp = NULL;
}
