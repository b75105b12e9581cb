/*
 * Inside web/: logins, sessions, tokens and passwords (accounts.c) as the
 * auth API (auth_api.c) and the unit tests use them, on an open store.
 */
#ifndef VIGIL_WEB_AUTH_H
#define VIGIL_WEB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/clock.h"
#include "web/store.h"
#include "web/web.h"

struct config;

/* A cookie value, an API token or a CSRF token: 32 random bytes in hex. */
#define WEB_SECRET_HEX 65

/* Rate limiting: a login is refused (429) once the user has this many
 * failures since its last success, or the address this many, within the
 * window; refused attempts are not counted, so the window does end. */
#define WEB_LOGIN_WINDOW_US (10 * 60 * USEC_PER_SEC)
#define WEB_LOGIN_USER_FAILURES 5
#define WEB_LOGIN_ADDR_FAILURES 20

#define WEB_PASSWORD_MIN 8
#define WEB_PASSWORD_MAX 1024

/* argon2id with the OWASP minimum (t=2, m=19 MiB, p=1): a login costs
 * about 50 ms of one core, which a 2-core recorder can afford and a
 * guesser with a stolen file cannot. */
int web_password_hash(const char *password, char *encoded, size_t size);
/* 0 when password matches encoded, -EACCES when not (or encoded is not an
 * argon2id string). */
int web_password_check(const char *encoded, const char *password);

/* 32 bytes of getrandom() as 64 hex digits. */
int web_random_hex(char out[WEB_SECRET_HEX]);
/* Whether two secrets are equal, in time that depends on their lengths
 * only. */
bool web_secret_equal(const char *a, const char *b);

/* Checks a new user's name, password and camera list against cfg;
 * 0 or -EINVAL with the reason. */
int web_check_name(const char *name, char *err, size_t errlen);
int web_check_password(const char *password, char *err, size_t errlen);
int web_check_cameras(const struct config *cfg, const char *cameras, char *err, size_t errlen);

/* web_user_add, web_user_passwd and web_token_new on an open store. */
int web_accounts_add(struct web_store *st, const struct config *cfg, const char *name,
		     enum web_role role, const char *password, const char *cameras, char *err,
		     size_t errlen);
int web_accounts_passwd(struct web_store *st, const char *name, const char *password, char *err,
			size_t errlen);
int web_accounts_del(struct web_store *st, const char *name, char *err, size_t errlen);
int web_accounts_token(struct web_store *st, const char *name, const char *label,
		       char token[WEB_SECRET_HEX], char *err, size_t errlen);

struct web_login {
	struct web_user user;
	char cookie[WEB_SECRET_HEX]; /* the session cookie's value */
	char csrf[WEB_SECRET_HEX];
	int64_t expires_us;
	int retry_after_s; /* when refused for too many failures */
};

/*
 * Checks name and password from addr and on success opens a session of
 * cfg's session_hours.  0; -EACCES for an unknown user or a wrong password
 * (the same answer, in about the same time); -EAGAIN when rate limited,
 * with out->retry_after_s; another negative errno on a database failure.
 * Every attempt that was checked is counted.
 */
int web_login(struct web_store *st, const struct config *cfg, const char *name,
	      const char *password, const char *addr, struct web_login *out);
/* The user of a live session cookie, and the session's CSRF token when
 * csrf is not NULL; -EACCES when unknown or expired. */
int web_session_user(struct web_store *st, const char *cookie, struct web_user *u,
		     char csrf[WEB_SECRET_HEX]);
/* Ends the session of cookie (nothing when there is none). */
int web_logout(struct web_store *st, const char *cookie);
/* The user of an API token; -EACCES when unknown. */
int web_token_user(struct web_store *st, const char *token, struct web_user *u);

struct web_request;

/* web_audit with the user named: a failed login has no user yet. */
void web_audit_as(struct web_request *r, const char *user, const char *action, const char *camera,
		  int64_t from_us, int64_t to_us, const char *detail);

#endif
