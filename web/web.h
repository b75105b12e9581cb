/*
 * vigil serve: the web console and the HTTP API, in a process of its own
 * so that web load or a web fault never touches recording.  It reads the
 * catalog and the ticket database (WAL readers), writes holds and ticket
 * actions through the same functions as the command line, and owns one
 * database of its own (users, sessions, API tokens, the access log).
 *
 * This header is what cmd/ sees of web/.  Every function returns 0 (or a
 * count) or a negative errno with a message in err.
 */
#ifndef VIGIL_WEB_WEB_H
#define VIGIL_WEB_WEB_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/sha256.h"

struct config;

/* Serves until *stop becomes non-zero.  ready, when not NULL, is called
 * once the socket listens, with the URL it answers on. */
int web_serve(const struct config *cfg, const volatile sig_atomic_t *stop,
	      void (*ready)(const char *url, void *ctx), void *ctx, char *err, size_t errlen);

/* ---- accounts (vigil user) ---------------------------------------------- */

enum web_role { WEB_VIEWER = 0, WEB_OPERATOR, WEB_ADMIN };
const char *web_role_name(enum web_role r);
int web_role_parse(const char *name, enum web_role *r);

#define WEB_NAME_MAX 64
#define WEB_CAMERAS_MAX 512 /* comma-separated camera ids; "" means all */

struct web_user {
	int64_t id;
	char name[WEB_NAME_MAX];
	enum web_role role;
	char cameras[WEB_CAMERAS_MAX];
	char language[16]; /* "" (from the browser), "en" or "zh-CN" */
	int64_t created_us;
};

/* Adds a user, or with replace sets the password of an existing one.
 * cameras NULL or "" means every camera. */
int web_user_add(const struct config *cfg, const char *name, enum web_role role,
		 const char *password, const char *cameras, char *err, size_t errlen);
int web_user_passwd(const struct config *cfg, const char *name, const char *password, char *err,
		    size_t errlen);
int web_user_del(const struct config *cfg, const char *name, char *err, size_t errlen);
typedef int (*web_user_fn)(const struct web_user *u, void *ctx);
int web_user_each(const struct config *cfg, web_user_fn fn, void *ctx, char *err, size_t errlen);
/* A new API token for scripts (Authorization: Bearer TOKEN), printed once;
 * only its hash is kept. */
int web_token_new(const struct config *cfg, const char *name, const char *label, char *token,
		  size_t token_size, char *err, size_t errlen);

/* ---- the access log ----------------------------------------------------- */

/* A row of the access log and its hash: the head (the newest row) an
 * auditor notes, to show later that the log was not cut short or
 * rewritten since (what the chain alone cannot show). */
struct web_log_head {
	int64_t id; /* 0: an empty log */
	char hash[SHA256_HEX_SIZE];
};

/* Checks the access log's hash chain.  Calls problem for each row that was
 * edited, removed or reordered, and, when noted is not NULL, when the row
 * noted earlier is gone (access-log-cut-short) or has another hash now
 * (access-log-rewritten).  *head (may be NULL) receives the newest row.
 * Returns the number of rows checked, or a negative errno.  A missing web
 * database is 0 rows, not an error. */
typedef void (*web_log_problem_fn)(int64_t row, const char *kind, const char *detail, void *ctx);
int web_access_log_verify(const struct config *cfg, const struct web_log_head *noted,
			  struct web_log_head *head, web_log_problem_fn problem, void *ctx,
			  char *err, size_t errlen);

#endif
