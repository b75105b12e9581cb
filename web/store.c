/*
 * The web database (web/migrations): users, sessions, API tokens, login
 * attempts and the access log, a util/db.h database like the catalog and
 * the ticket store.  The only SQL of web/.
 *
 * The access log is a hash chain.  Row n's hash is the SHA-256 of
 *
 *     "vigil-access-1\n" F(id) F(at_us) F(user) F(addr) F(action)
 *     F(camera) F(from_us) F(to_us) F(detail) prev_hash
 *
 * where F(v) is the decimal byte length of v, ":", v and "\n" (numbers in
 * decimal), and F(NULL) is "-\n" for a camera or an interval that is not
 * there; prev_hash is row n-1's hash, 64 zeros for row 1.  Lengths make the
 * encoding unambiguous whatever a field holds, and the id is hashed so a
 * row moved to another place no longer matches.  Ids are given by the
 * append (last id + 1), so they run 1, 2, 3 ... and a gap is a removal.
 * Removing the newest rows leaves a shorter chain that is still whole:
 * only a head noted elsewhere shows that.
 *
 * Writes are transactions of their own.  Thread safety: the database's
 * lock (util/db.h) serialises statements; an append holds it from reading
 * the last hash to its insert, so two threads never chain to the same row.
 */
#include "web/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/buf.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/sha256.h"
#include "web/internal.h"
#include "util/banned.h"

extern const struct db_migration web_migrations[];
extern const int web_migrations_count;

#define GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct web_store {
	struct db *db;
};

void web_store_path(const struct config *cfg, char *path, size_t size)
{
	if (cfg->web_database)
		snprintf(path, size, "%s", cfg->web_database);
	else
		snprintf(path, size, "%s/web.db", cfg->storage_path ? cfg->storage_path : ".");
}

struct web_store *web_store_open(const struct config *cfg, bool create, char *err, size_t errlen)
{
	char path[4096];
	struct web_store *st;

	web_store_path(cfg, path, sizeof(path));
	if (create) {
		/* `vigil user add` may come before the recorder made the storage. */
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		int ret;
		if (slash && slash != dir) {
			*slash = '\0';
			if ((ret = fs_mkdir_p(dir, 0750)) < 0) {
				snprintf(err, errlen,
					 "cannot create the folder of web database '%s': %s", path,
					 strerror(-ret));
				return NULL;
			}
		}
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->db = db_open(path, !create, "web database", "vigil serve", web_migrations,
			 web_migrations_count, err, errlen);
	if (!st->db) {
		free(st);
		return NULL;
	}
	return st;
}

void web_store_close(struct web_store **store)
{
	if (!*store)
		return;
	db_close(&(*store)->db);
	free(*store);
	*store = NULL;
}

/* ---- users -------------------------------------------------------------- */

#define USER_COLUMNS "u.id, u.name, u.role, u.cameras, u.language, u.created_us"

static void read_user(sqlite3_stmt *row, struct web_user *u)
{
	char role[16];

	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(row, 0);
	db_column_text(row, 1, u->name, sizeof(u->name));
	db_column_text(row, 2, role, sizeof(role));
	if (web_role_parse(role, &u->role) < 0)
		u->role = WEB_VIEWER; /* the schema's CHECK makes this unreachable */
	db_column_text(row, 3, u->cameras, sizeof(u->cameras));
	db_column_text(row, 4, u->language, sizeof(u->language));
	u->created_us = sqlite3_column_int64(row, 5);
}

int web_store_user_insert(struct web_store *st, const char *name, enum web_role role,
			  const char *pwhash, const char *cameras, int64_t created_us)
{
	sqlite3_stmt *s = db_stmt(st->db, "INSERT INTO users (name, role, password_hash, cameras, "
					  "created_us) VALUES (?, ?, ?, ?, ?)");
	db_bind_text(s, 1, name);
	db_bind_text(s, 2, web_role_name(role));
	db_bind_text(s, 3, pwhash);
	db_bind_text(s, 4, cameras ? cameras : "");
	db_bind_int64(s, 5, created_us);
	return db_write(st->db, s, "add user");
}

struct user_out {
	struct web_user *u;
	char *pwhash;
	size_t pwhash_size;
	char *csrf;
};

static int user_row(sqlite3_stmt *row, void *ctx)
{
	struct user_out *o = ctx;
	read_user(row, o->u);
	if (o->pwhash)
		db_column_text(row, 6, o->pwhash, o->pwhash_size);
	if (o->csrf)
		db_column_text(row, 6, o->csrf, WEB_CSRF_SIZE);
	return 0;
}

int web_store_user_get(struct web_store *st, const char *name, struct web_user *u, char *pwhash,
		       size_t pwhash_size)
{
	struct user_out o = { u, pwhash, pwhash_size, NULL };
	sqlite3_stmt *s = db_stmt(st->db, "SELECT " USER_COLUMNS
					  ", u.password_hash FROM users u WHERE u.name = ?");
	db_bind_text(s, 1, name);
	return db_one(st->db, s, "read user", user_row, &o);
}

int web_store_user_set_password(struct web_store *st, const char *name, const char *pwhash)
{
	int ret = db_begin(st->db);
	if (ret < 0)
		return ret;
	int64_t id;
	sqlite3_stmt *s = db_stmt(st->db, "SELECT id FROM users WHERE name = ?");
	db_bind_text(s, 1, name);
	if ((ret = db_int64(st->db, s, "find user", &id)) < 0)
		return db_end(st->db, ret);
	s = db_stmt(st->db, "UPDATE users SET password_hash = ? WHERE id = ?");
	db_bind_text(s, 1, pwhash);
	db_bind_int64(s, 2, id);
	if ((ret = db_run(st->db, s, "set password")) < 0)
		return db_end(st->db, ret);
	/* whoever knew the old password may hold a session: end them all */
	s = db_stmt(st->db, "DELETE FROM sessions WHERE user_id = ?");
	db_bind_int64(s, 1, id);
	ret = db_run(st->db, s, "end sessions");
	return db_end(st->db, ret);
}

int web_store_user_set_language(struct web_store *st, int64_t user_id, const char *language)
{
	sqlite3_stmt *s = db_stmt(st->db, "UPDATE users SET language = ? WHERE id = ?");
	db_bind_text(s, 1, language);
	db_bind_int64(s, 2, user_id);
	return db_write(st->db, s, "set language");
}

int web_store_user_delete(struct web_store *st, const char *name)
{
	/* foreign keys are off on the connection (util/db.h), so the cascade
	 * of the schema is done here */
	static const char *const sql[] = {
		"DELETE FROM sessions WHERE user_id = ?",
		"DELETE FROM tokens WHERE user_id = ?",
		"DELETE FROM users WHERE id = ?",
	};
	int64_t id;
	int ret = db_begin(st->db);
	if (ret < 0)
		return ret;
	sqlite3_stmt *s = db_stmt(st->db, "SELECT id FROM users WHERE name = ?");
	db_bind_text(s, 1, name);
	ret = db_int64(st->db, s, "find user", &id);
	for (size_t i = 0; ret >= 0 && i < sizeof(sql) / sizeof(sql[0]); i++) {
		s = db_stmt(st->db, sql[i]);
		db_bind_int64(s, 1, id);
		ret = db_run(st->db, s, "delete user");
	}
	return db_end(st->db, ret);
}

struct user_walk {
	web_user_fn fn;
	void *ctx;
};

static int user_each_row(sqlite3_stmt *row, void *ctx)
{
	struct user_walk *w = ctx;
	struct web_user u;
	read_user(row, &u);
	return w->fn(&u, w->ctx);
}

int web_store_user_each(struct web_store *st, web_user_fn fn, void *ctx)
{
	struct user_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(st->db, "SELECT " USER_COLUMNS " FROM users u ORDER BY u.name");
	return db_each(st->db, s, "list users", user_each_row, &w);
}

/* ---- sessions and tokens ------------------------------------------------- */

int web_store_session_insert(struct web_store *st, const char *token_hash, int64_t user_id,
			     const char *csrf, const char *addr, int64_t created_us,
			     int64_t expires_us)
{
	sqlite3_stmt *s = db_stmt(st->db, "INSERT INTO sessions (token_hash, user_id, csrf, addr, "
					  "created_us, expires_us) VALUES (?, ?, ?, ?, ?, ?)");
	db_bind_text(s, 1, token_hash);
	db_bind_int64(s, 2, user_id);
	db_bind_text(s, 3, csrf);
	db_bind_text(s, 4, addr);
	db_bind_int64(s, 5, created_us);
	db_bind_int64(s, 6, expires_us);
	return db_write(st->db, s, "add session");
}

int web_store_session_find(struct web_store *st, const char *token_hash, int64_t now_us,
			   struct web_user *u, char csrf[WEB_CSRF_SIZE])
{
	struct user_out o = { u, NULL, 0, csrf };
	sqlite3_stmt *s = db_stmt(st->db, "SELECT " USER_COLUMNS ", s.csrf FROM sessions s "
					  "JOIN users u ON u.id = s.user_id "
					  "WHERE s.token_hash = ? AND s.expires_us > ?");
	db_bind_text(s, 1, token_hash);
	db_bind_int64(s, 2, now_us);
	return db_one(st->db, s, "find session", user_row, &o);
}

int web_store_session_delete(struct web_store *st, const char *token_hash)
{
	sqlite3_stmt *s = db_stmt(st->db, "DELETE FROM sessions WHERE token_hash = ?");
	db_bind_text(s, 1, token_hash);
	return db_write(st->db, s, "end session");
}

int web_store_sessions_purge(struct web_store *st, int64_t now_us)
{
	sqlite3_stmt *s = db_stmt(st->db, "DELETE FROM sessions WHERE expires_us <= ?");
	db_bind_int64(s, 1, now_us);
	return db_write(st->db, s, "remove expired sessions");
}

int web_store_token_insert(struct web_store *st, int64_t user_id, const char *label,
			   const char *token_hash, int64_t created_us)
{
	sqlite3_stmt *s = db_stmt(st->db, "INSERT INTO tokens (user_id, label, token_hash, "
					  "created_us) VALUES (?, ?, ?, ?)");
	db_bind_int64(s, 1, user_id);
	db_bind_text(s, 2, label ? label : "");
	db_bind_text(s, 3, token_hash);
	db_bind_int64(s, 4, created_us);
	return db_write(st->db, s, "add token");
}

int web_store_token_find(struct web_store *st, const char *token_hash, struct web_user *u)
{
	struct user_out o = { u, NULL, 0, NULL };
	sqlite3_stmt *s =
		db_stmt(st->db, "SELECT " USER_COLUMNS " FROM tokens t "
				"JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?");
	db_bind_text(s, 1, token_hash);
	return db_one(st->db, s, "find token", user_row, &o);
}

/* ---- login attempts ------------------------------------------------------ */

int web_store_attempt_add(struct web_store *st, const char *user, const char *addr, int64_t at_us,
			  bool ok)
{
	sqlite3_stmt *s = db_stmt(
		st->db,
		"INSERT INTO login_attempts (user_name, addr, at_us, ok) VALUES (?, ?, ?, ?)");
	db_bind_text(s, 1, user);
	db_bind_text(s, 2, addr);
	db_bind_int64(s, 3, at_us);
	db_bind_int64(s, 4, ok ? 1 : 0);
	return db_write(st->db, s, "record login attempt");
}

struct count_out {
	int64_t *n, *oldest;
};

static int count_row(sqlite3_stmt *row, void *ctx)
{
	struct count_out *o = ctx;
	*o->n = sqlite3_column_int64(row, 0);
	*o->oldest = sqlite3_column_int64(row, 1);
	return 0;
}

int web_store_attempts_count(struct web_store *st, const char *user, const char *addr,
			     int64_t since_us, struct web_attempt_counts *out)
{
	struct count_out cu = { &out->user_failures, &out->user_oldest_us };
	struct count_out ca = { &out->addr_failures, &out->addr_oldest_us };
	int ret;

	memset(out, 0, sizeof(*out));
	sqlite3_stmt *s = db_stmt(
		st->db, "SELECT count(*), coalesce(min(at_us), 0) FROM login_attempts "
			"WHERE user_name = ?1 AND ok = 0 AND at_us >= max(?2, coalesce((SELECT "
			"max(at_us) FROM login_attempts WHERE user_name = ?1 AND ok = 1), 0))");
	db_bind_text(s, 1, user);
	db_bind_int64(s, 2, since_us);
	if ((ret = db_one(st->db, s, "count login failures", count_row, &cu)) < 0)
		return ret;
	s = db_stmt(st->db, "SELECT count(*), coalesce(min(at_us), 0) FROM login_attempts "
			    "WHERE addr = ? AND ok = 0 AND at_us >= ?");
	db_bind_text(s, 1, addr);
	db_bind_int64(s, 2, since_us);
	return db_one(st->db, s, "count login failures", count_row, &ca);
}

int web_store_attempts_purge(struct web_store *st, int64_t before_us)
{
	/* the newest success of each user is kept: it ends that user's count */
	sqlite3_stmt *s = db_stmt(
		st->db, "DELETE FROM login_attempts WHERE at_us < ? AND id NOT IN (SELECT max(id) "
			"FROM login_attempts WHERE ok = 1 GROUP BY user_name)");
	db_bind_int64(s, 1, before_us);
	return db_write(st->db, s, "forget old login attempts");
}

/* ---- the access log ------------------------------------------------------ */

static int put_text(struct buf *b, const char *v)
{
	if (!v)
		return buf_append_str(b, "-\n");
	return buf_printf(b, "%zu:%s\n", strlen(v), v);
}

static int put_int(struct buf *b, int64_t v, bool present)
{
	char n[32];
	if (!present)
		return buf_append_str(b, "-\n");
	snprintf(n, sizeof(n), "%" PRId64, v);
	return put_text(b, n);
}

static int row_hash(const struct web_log_row *r, char hash[SHA256_HEX_SIZE])
{
	struct buf b;
	int ret;
	bool interval = r->from_us >= 0 && r->to_us >= 0;

	buf_init(&b, 64 * 1024);
	ret = buf_append_str(&b, "vigil-access-1\n");
	if (!ret)
		ret = put_int(&b, r->id, true);
	if (!ret)
		ret = put_int(&b, r->at_us, true);
	if (!ret)
		ret = put_text(&b, r->user);
	if (!ret)
		ret = put_text(&b, r->addr);
	if (!ret)
		ret = put_text(&b, r->action);
	if (!ret)
		ret = put_text(&b, r->camera);
	if (!ret)
		ret = put_int(&b, r->from_us, interval);
	if (!ret)
		ret = put_int(&b, r->to_us, interval);
	if (!ret)
		ret = put_text(&b, r->detail);
	if (!ret)
		ret = buf_append_str(&b, r->prev_hash);
	if (!ret)
		sha256_hex(b.data, b.len, hash);
	buf_release(&b);
	return ret;
}

struct log_tail {
	int64_t id;
	char hash[SHA256_HEX_SIZE];
};

static int read_tail(sqlite3_stmt *row, void *ctx)
{
	struct log_tail *t = ctx;
	t->id = sqlite3_column_int64(row, 0);
	db_column_text(row, 1, t->hash, sizeof(t->hash));
	return 0;
}

int web_store_log_append(struct web_store *st, int64_t at_us, const char *user, const char *addr,
			 const char *action, const char *camera, int64_t from_us, int64_t to_us,
			 const char *detail)
{
	struct log_tail tail = { 0, GENESIS_HASH };
	char hash[SHA256_HEX_SIZE];
	bool interval = from_us >= 0 && to_us >= 0;
	int ret = db_begin(st->db);

	if (ret < 0)
		return ret;
	sqlite3_stmt *s =
		db_stmt(st->db, "SELECT id, hash FROM access_log ORDER BY id DESC LIMIT 1");
	ret = db_one(st->db, s, "read access log", read_tail, &tail);
	if (ret < 0 && ret != -ENOENT)
		return db_end(st->db, ret);
	struct web_log_row r = {
		.id = tail.id + 1,
		.at_us = at_us,
		.user = user ? user : "",
		.addr = addr ? addr : "",
		.action = action,
		.camera = camera,
		.from_us = interval ? from_us : -1,
		.to_us = interval ? to_us : -1,
		.detail = detail ? detail : "",
		.prev_hash = tail.hash,
	};
	if ((ret = row_hash(&r, hash)) < 0)
		return db_end(st->db, db_error(ret, "access log row too long"));
	s = db_stmt(st->db, "INSERT INTO access_log (id, at_us, user_name, addr, action, camera, "
			    "from_us, to_us, detail, prev_hash, hash) "
			    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	db_bind_int64(s, 1, r.id);
	db_bind_int64(s, 2, r.at_us);
	db_bind_text(s, 3, r.user);
	db_bind_text(s, 4, r.addr);
	db_bind_text(s, 5, r.action);
	db_bind_text(s, 6, r.camera);
	db_bind_opt_int64(s, 7, r.from_us);
	db_bind_opt_int64(s, 8, r.to_us);
	db_bind_text(s, 9, r.detail);
	db_bind_text(s, 10, r.prev_hash);
	db_bind_text(s, 11, hash);
	ret = db_run(st->db, s, "append to access log");
	return db_end(st->db, ret);
}

#define LOG_COLUMNS                                                                                \
	"id, at_us, user_name, addr, action, camera, coalesce(from_us, -1), coalesce(to_us, -1), " \
	"detail, prev_hash, hash"

static const char *col_text(sqlite3_stmt *row, int col)
{
	const char *t = (const char *)sqlite3_column_text(row, col);
	return t ? t : "";
}

static void read_log_row(sqlite3_stmt *row, struct web_log_row *r)
{
	r->id = sqlite3_column_int64(row, 0);
	r->at_us = sqlite3_column_int64(row, 1);
	r->user = col_text(row, 2);
	r->addr = col_text(row, 3);
	r->action = col_text(row, 4);
	r->camera = (const char *)sqlite3_column_text(row, 5);
	r->from_us = sqlite3_column_int64(row, 6);
	r->to_us = sqlite3_column_int64(row, 7);
	r->detail = col_text(row, 8);
	r->prev_hash = col_text(row, 9);
	r->hash = col_text(row, 10);
}

struct log_walk {
	web_log_fn fn;
	void *ctx;
};

static int log_each_row(sqlite3_stmt *row, void *ctx)
{
	struct log_walk *w = ctx;
	struct web_log_row r;
	read_log_row(row, &r);
	return w->fn(&r, w->ctx);
}

int web_store_log_each(struct web_store *st, int64_t from_us, int64_t to_us, const char *camera,
		       int64_t limit, web_log_fn fn, void *ctx)
{
	struct log_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(st->db, "SELECT " LOG_COLUMNS " FROM access_log "
					  "WHERE at_us >= ?1 AND at_us < ?2 AND "
					  "(?3 IS NULL OR camera = ?3) ORDER BY id LIMIT ?4");
	db_bind_int64(s, 1, from_us);
	db_bind_int64(s, 2, to_us);
	db_bind_text(s, 3, camera);
	db_bind_int64(s, 4, limit);
	return db_each(st->db, s, "read access log", log_each_row, &w);
}

struct verify_walk {
	web_log_problem_fn problem;
	void *ctx;
	int64_t rows, prev_id;
	char prev_hash[SHA256_HEX_SIZE];
	const struct web_log_head *noted;
	char noted_now[SHA256_HEX_SIZE]; /* the noted row's hash now, "" if gone */
};

static int verify_row(sqlite3_stmt *row, void *ctx)
{
	struct verify_walk *w = ctx;
	struct web_log_row r;
	char hash[SHA256_HEX_SIZE], detail[256];

	read_log_row(row, &r);
	w->rows++;
	if (r.id != w->prev_id + 1) {
		snprintf(detail, sizeof(detail),
			 "rows %" PRId64 " to %" PRId64 " of the access log are missing",
			 w->prev_id + 1, r.id - 1);
		w->problem(r.id, "access-log-row-removed", detail, w->ctx);
	} else if (strcmp(r.prev_hash, w->prev_hash) != 0) {
		snprintf(detail, sizeof(detail), "row %" PRId64 " does not link to row %" PRId64,
			 r.id, w->prev_id);
		w->problem(r.id, "access-log-chain-broken", detail, w->ctx);
	}
	if (row_hash(&r, hash) < 0 || strcmp(hash, r.hash) != 0) {
		snprintf(detail, sizeof(detail),
			 "row %" PRId64 " (%s by '%s') does not match its hash", r.id, r.action,
			 r.user);
		w->problem(r.id, "access-log-row-edited", detail, w->ctx);
	}
	if (w->noted && r.id == w->noted->id)
		snprintf(w->noted_now, sizeof(w->noted_now), "%s", r.hash);
	/* go on from what is stored, so one edit is one problem */
	snprintf(w->prev_hash, sizeof(w->prev_hash), "%s", r.hash);
	w->prev_id = r.id;
	return 0;
}

void web_store_log_check_noted(const struct web_log_head *noted, int64_t last_id,
			       const char *hash_now, web_log_problem_fn problem, void *ctx)
{
	char detail[256];
	if (last_id < noted->id) {
		snprintf(detail, sizeof(detail),
			 "row %" PRId64 ", noted earlier, is gone: the log ends at row %" PRId64,
			 noted->id, last_id);
		problem(noted->id, "access-log-cut-short", detail, ctx);
	} else if (!hash_now[0]) {
		snprintf(detail, sizeof(detail), "row %" PRId64 ", noted earlier, is gone",
			 noted->id);
		problem(noted->id, "access-log-rewritten", detail, ctx);
	} else if (strcmp(noted->hash, hash_now) != 0) {
		snprintf(detail, sizeof(detail),
			 "row %" PRId64 " has the hash %.16s..., noted earlier as %.16s...",
			 noted->id, hash_now, noted->hash);
		problem(noted->id, "access-log-rewritten", detail, ctx);
	}
}

int web_store_log_verify(struct web_store *st, const struct web_log_head *noted,
			 struct web_log_head *head, web_log_problem_fn problem, void *ctx)
{
	struct verify_walk w = { problem, ctx, 0, 0, GENESIS_HASH, noted, "" };
	sqlite3_stmt *s = db_stmt(st->db, "SELECT " LOG_COLUMNS " FROM access_log ORDER BY id");
	int ret = db_each(st->db, s, "walk access log", verify_row, &w);
	if (ret < 0)
		return ret;
	if (head) {
		head->id = w.prev_id;
		snprintf(head->hash, sizeof(head->hash), "%s", w.rows ? w.prev_hash : "");
	}
	if (noted && noted->id > 0)
		web_store_log_check_noted(noted, w.prev_id, w.noted_now, problem, ctx);
	return w.rows > INT32_MAX ? INT32_MAX : (int)w.rows;
}
