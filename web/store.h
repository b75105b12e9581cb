/*
 * The web database's queries (store.c), for accounts.c and the auth API:
 * what each function means, never SQL.  Secrets never reach this layer:
 * passwords arrive as argon2id encoded strings, cookies and tokens as the
 * hex SHA-256 of their value.
 *
 * Every function returns 0 (or a count) or a negative errno; the message is
 * db_errmsg(ret) (util/db.h).  -ENOENT means no such row, -EEXIST a name
 * already taken.
 */
#ifndef VIGIL_WEB_STORE_H
#define VIGIL_WEB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/sha256.h"
#include "web/web.h"

struct web_store;

#define WEB_PWHASH_MAX 256 /* an argon2id encoded string */
#define WEB_ADDR_MAX 64
#define WEB_CSRF_SIZE SHA256_HEX_SIZE

struct config;

/* [web] database, or STORAGE/web.db when it is not set. */
void web_store_path(const struct config *cfg, char *path, size_t size);

/* ---- users -------------------------------------------------------------- */

int web_store_user_insert(struct web_store *st, const char *name, enum web_role role,
			  const char *pwhash, const char *cameras, int64_t created_us);
/* The user called name, and its password hash when pwhash is not NULL. */
int web_store_user_get(struct web_store *st, const char *name, struct web_user *u, char *pwhash,
		       size_t pwhash_size);
/* Sets the password hash and ends every session of the user. */
int web_store_user_set_password(struct web_store *st, const char *name, const char *pwhash);
int web_store_user_set_language(struct web_store *st, int64_t user_id, const char *language);
/* Removes the user with its sessions and tokens. */
int web_store_user_delete(struct web_store *st, const char *name);
int web_store_user_each(struct web_store *st, web_user_fn fn, void *ctx);

/* ---- sessions and tokens ------------------------------------------------- */

int web_store_session_insert(struct web_store *st, const char *token_hash, int64_t user_id,
			     const char *csrf, const char *addr, int64_t created_us,
			     int64_t expires_us);
/* The live session (expires after now) known by token_hash: its user and
 * CSRF token. */
int web_store_session_find(struct web_store *st, const char *token_hash, int64_t now_us,
			   struct web_user *u, char csrf[WEB_CSRF_SIZE]);
int web_store_session_delete(struct web_store *st, const char *token_hash);
/* Removes sessions that expired before now. */
int web_store_sessions_purge(struct web_store *st, int64_t now_us);

int web_store_token_insert(struct web_store *st, int64_t user_id, const char *label,
			   const char *token_hash, int64_t created_us);
int web_store_token_find(struct web_store *st, const char *token_hash, struct web_user *u);

/* ---- login attempts ------------------------------------------------------ */

int web_store_attempt_add(struct web_store *st, const char *user, const char *addr, int64_t at_us,
			  bool ok);

/* Failed attempts since since_us: for the user (only those after the
 * user's last successful login) and for the address, each with the time
 * of its oldest counted failure (0 when none). */
struct web_attempt_counts {
	int64_t user_failures, user_oldest_us;
	int64_t addr_failures, addr_oldest_us;
};
int web_store_attempts_count(struct web_store *st, const char *user, const char *addr,
			     int64_t since_us, struct web_attempt_counts *out);
/* Forgets attempts older than before_us: they no longer count. */
int web_store_attempts_purge(struct web_store *st, int64_t before_us);

/* ---- the access log ------------------------------------------------------ */

struct web_log_row {
	int64_t id;
	int64_t at_us;
	const char *user, *addr, *action;
	const char *camera;	/* NULL when none */
	int64_t from_us, to_us; /* -1 when none */
	const char *detail;
	const char *prev_hash, *hash;
};

/* Appends a row chained to the last one (see store.c for the hash).
 * camera NULL and from_us/to_us < 0 mean none. */
int web_store_log_append(struct web_store *st, int64_t at_us, const char *user, const char *addr,
			 const char *action, const char *camera, int64_t from_us, int64_t to_us,
			 const char *detail);
/* Rows with from_us <= at_us < to_us (and of camera, when not NULL), oldest
 * first, at most limit of them; fn's non-zero return stops the walk and is
 * returned. */
typedef int (*web_log_fn)(const struct web_log_row *row, void *ctx);
int web_store_log_each(struct web_store *st, int64_t from_us, int64_t to_us, const char *camera,
		       int64_t limit, web_log_fn fn, void *ctx);
/* Recomputes the chain, and checks the row noted (may be NULL) against it;
 * the newest row into *head (may be NULL); the number of rows checked. */
int web_store_log_verify(struct web_store *st, const struct web_log_head *noted,
			 struct web_log_head *head, web_log_problem_fn problem, void *ctx);
/* The problem, if any, of a row noted earlier against the log now: its
 * newest row's id, and the noted row's hash now ("" when it is gone). */
void web_store_log_check_noted(const struct web_log_head *noted, int64_t last_id,
			       const char *hash_now, web_log_problem_fn problem, void *ctx);

#endif
