/*
 * Accounts: password hashing (argon2id), logins with their rate limit,
 * sessions, API tokens, camera scope, and the access log's appends.
 *
 * Secrets: a password is kept only as an argon2id encoded string; a
 * session cookie, an API token and a CSRF token are 32 bytes from
 * getrandom() in hex, and the first two are kept only as their SHA-256, so
 * the database file alone lets no one in.  Secrets are compared in
 * constant time.
 *
 * Thread safety: logins are serialised by one mutex, so the rate limit
 * counts every attempt before the next is checked and at most one argon2
 * computation (19 MiB) runs at a time, whatever a flood of logins asks
 * for.  Everything else only calls the store, which locks.
 */
#include "web/auth.h"

#include <argon2.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "config/config.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/log.h"
#include "util/sha256.h"
#include "web/internal.h"
#include "util/banned.h"

#define ARGON2_T 2
#define ARGON2_M_KIB 19456
#define ARGON2_P 1
#define SALT_BYTES 16
#define HASH_BYTES 32

static const char *const role_names[] = { "viewer", "operator", "admin" };

const char *web_role_name(enum web_role r)
{
	return (unsigned)r < sizeof(role_names) / sizeof(role_names[0]) ? role_names[r] : "?";
}

int web_role_parse(const char *name, enum web_role *r)
{
	for (size_t i = 0; name && i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (strcmp(name, role_names[i]) == 0) {
			*r = (enum web_role)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- secrets ------------------------------------------------------------ */

static int random_bytes(void *out, size_t n)
{
	unsigned char *p = out;
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int web_random_hex(char out[WEB_SECRET_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[32];
	int ret = random_bytes(raw, sizeof(raw));
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

bool web_secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	/* walk the shorter length so nothing is read past either string */
	size_t n = la < lb ? la : lb;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

int web_password_hash(const char *password, char *encoded, size_t size)
{
	unsigned char salt[SALT_BYTES];
	int ret = random_bytes(salt, sizeof(salt));
	if (ret < 0)
		return ret;
	if (argon2_encodedlen(ARGON2_T, ARGON2_M_KIB, ARGON2_P, SALT_BYTES, HASH_BYTES, Argon2_id) >
	    size)
		return -ENOBUFS;
	ret = argon2id_hash_encoded(ARGON2_T, ARGON2_M_KIB, ARGON2_P, password, strlen(password),
				    salt, sizeof(salt), HASH_BYTES, encoded, size);
	return ret == ARGON2_OK ? 0 : (ret == ARGON2_MEMORY_ALLOCATION_ERROR ? -ENOMEM : -EINVAL);
}

int web_password_check(const char *encoded, const char *password)
{
	/* argon2id_verify compares the hashes in constant time */
	return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK ? 0 : -EACCES;
}

/* A hash of a password no one knows, checked for an unknown user so that
 * the answer takes as long as for a known one. */
static char dummy_hash[WEB_PWHASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy_hash(void)
{
	char pw[WEB_SECRET_HEX];
	if (web_random_hex(pw) < 0 || web_password_hash(pw, dummy_hash, sizeof(dummy_hash)) < 0)
		dummy_hash[0] = '\0';
}

/* ---- checks ------------------------------------------------------------- */

int web_check_name(const char *name, char *err, size_t errlen)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= WEB_NAME_MAX) {
		snprintf(err, errlen, "a user name has 1 to %d characters", WEB_NAME_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '@')) {
			snprintf(err, errlen,
				 "user name '%s' has a character other than letters, digits and "
				 "._-@",
				 name);
			return -EINVAL;
		}
	}
	return 0;
}

int web_check_password(const char *password, char *err, size_t errlen)
{
	size_t n = password ? strlen(password) : 0;
	if (n < WEB_PASSWORD_MIN || n > WEB_PASSWORD_MAX) {
		snprintf(err, errlen, "a password has %d to %d characters", WEB_PASSWORD_MIN,
			 WEB_PASSWORD_MAX);
		return -EINVAL;
	}
	return 0;
}

int web_check_cameras(const struct config *cfg, const char *cameras, char *err, size_t errlen)
{
	char id[WEB_CAMERAS_MAX];

	if (!cameras || !*cameras)
		return 0;
	if (strlen(cameras) >= WEB_CAMERAS_MAX) {
		snprintf(err, errlen, "the camera list is longer than %d characters",
			 WEB_CAMERAS_MAX - 1);
		return -EINVAL;
	}
	for (const char *p = cameras;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		snprintf(id, sizeof(id), "%.*s", (int)n, p);
		if (!*id || !config_camera(cfg, id)) {
			snprintf(err, errlen, "'%s' is not a camera of the config", id);
			return -EINVAL;
		}
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

bool web_user_sees_camera(const struct web_user *u, const char *camera)
{
	size_t len = strlen(camera);
	if (!u->cameras[0])
		return true;
	for (const char *p = u->cameras;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == len && strncmp(p, camera, n) == 0)
			return true;
		if (!comma)
			return false;
		p = comma + 1;
	}
}

/* ---- accounts on an open store ------------------------------------------ */

int web_accounts_add(struct web_store *st, const struct config *cfg, const char *name,
		     enum web_role role, const char *password, const char *cameras, char *err,
		     size_t errlen)
{
	char hash[WEB_PWHASH_MAX];
	int ret;

	if ((ret = web_check_name(name, err, errlen)) < 0 ||
	    (ret = web_check_password(password, err, errlen)) < 0 ||
	    (ret = web_check_cameras(cfg, cameras, err, errlen)) < 0)
		return ret;
	if ((ret = web_password_hash(password, hash, sizeof(hash))) < 0) {
		snprintf(err, errlen, "cannot hash the password: %s", strerror(-ret));
		return ret;
	}
	ret = web_store_user_insert(st, name, role, hash, cameras, clock_wall_us());
	if (ret == -EEXIST)
		snprintf(err, errlen, "user '%s' exists", name);
	else if (ret < 0)
		snprintf(err, errlen, "%s", db_errmsg(ret));
	return ret;
}

int web_accounts_passwd(struct web_store *st, const char *name, const char *password, char *err,
			size_t errlen)
{
	char hash[WEB_PWHASH_MAX];
	int ret;

	if ((ret = web_check_password(password, err, errlen)) < 0)
		return ret;
	if ((ret = web_password_hash(password, hash, sizeof(hash))) < 0) {
		snprintf(err, errlen, "cannot hash the password: %s", strerror(-ret));
		return ret;
	}
	ret = web_store_user_set_password(st, name, hash);
	if (ret == -ENOENT)
		snprintf(err, errlen, "no user '%s'", name);
	else if (ret < 0)
		snprintf(err, errlen, "%s", db_errmsg(ret));
	return ret;
}

int web_accounts_del(struct web_store *st, const char *name, char *err, size_t errlen)
{
	int ret = web_store_user_delete(st, name);
	if (ret == -ENOENT)
		snprintf(err, errlen, "no user '%s'", name);
	else if (ret < 0)
		snprintf(err, errlen, "%s", db_errmsg(ret));
	return ret;
}

int web_accounts_token(struct web_store *st, const char *name, const char *label,
		       char token[WEB_SECRET_HEX], char *err, size_t errlen)
{
	struct web_user u = { 0 };
	char hash[SHA256_HEX_SIZE];
	int ret = web_store_user_get(st, name, &u, NULL, 0);

	if (ret == -ENOENT) {
		snprintf(err, errlen, "no user '%s'", name);
		return ret;
	}
	if (ret < 0 || (ret = web_random_hex(token)) < 0)
		goto fail;
	sha256_hex(token, strlen(token), hash);
	if ((ret = web_store_token_insert(st, u.id, label, hash, clock_wall_us())) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s", db_errmsg(ret));
	token[0] = '\0';
	return ret;
}

/* ---- the functions of web.h: each opens the store ----------------------- */

int web_user_add(const struct config *cfg, const char *name, enum web_role role,
		 const char *password, const char *cameras, char *err, size_t errlen)
{
	struct web_store *st = web_store_open(cfg, true, err, errlen);
	if (!st)
		return -EIO;
	int ret = web_accounts_add(st, cfg, name, role, password, cameras, err, errlen);
	web_store_close(&st);
	return ret;
}

int web_user_passwd(const struct config *cfg, const char *name, const char *password, char *err,
		    size_t errlen)
{
	struct web_store *st = web_store_open(cfg, true, err, errlen);
	if (!st)
		return -EIO;
	int ret = web_accounts_passwd(st, name, password, err, errlen);
	web_store_close(&st);
	return ret;
}

int web_user_del(const struct config *cfg, const char *name, char *err, size_t errlen)
{
	struct web_store *st = web_store_open(cfg, true, err, errlen);
	if (!st)
		return -EIO;
	int ret = web_accounts_del(st, name, err, errlen);
	web_store_close(&st);
	return ret;
}

int web_user_each(const struct config *cfg, web_user_fn fn, void *ctx, char *err, size_t errlen)
{
	struct web_store *st = web_store_open(cfg, true, err, errlen);
	if (!st)
		return -EIO;
	int ret = web_store_user_each(st, fn, ctx);
	if (ret < 0)
		snprintf(err, errlen, "%s", db_errmsg(ret));
	web_store_close(&st);
	return ret;
}

int web_token_new(const struct config *cfg, const char *name, const char *label, char *token,
		  size_t token_size, char *err, size_t errlen)
{
	char t[WEB_SECRET_HEX];
	if (token_size < sizeof(t)) {
		snprintf(err, errlen, "no room for a token");
		return -ENOBUFS;
	}
	struct web_store *st = web_store_open(cfg, true, err, errlen);
	if (!st)
		return -EIO;
	int ret = web_accounts_token(st, name, label, t, err, errlen);
	web_store_close(&st);
	if (ret == 0)
		snprintf(token, token_size, "%s", t);
	explicit_bzero(t, sizeof(t));
	return ret;
}

int web_access_log_verify(const struct config *cfg, const struct web_log_head *noted,
			  struct web_log_head *head, web_log_problem_fn problem, void *ctx,
			  char *err, size_t errlen)
{
	char path[4096];
	web_store_path(cfg, path, sizeof(path));
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		if (head)
			*head = (struct web_log_head){ 0, "" };
		if (noted && noted->id > 0)
			web_store_log_check_noted(noted, 0, "", problem, ctx);
		return 0;
	}
	struct web_store *st = web_store_open(cfg, false, err, errlen);
	if (!st)
		return -EIO;
	int ret = web_store_log_verify(st, noted, head, problem, ctx);
	if (ret < 0)
		snprintf(err, errlen, "%s", db_errmsg(ret));
	web_store_close(&st);
	return ret;
}

/* ---- logins and sessions ------------------------------------------------ */

static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;

static int retry_after(int64_t oldest_us, int64_t now_us)
{
	int64_t s = (oldest_us + WEB_LOGIN_WINDOW_US - now_us + USEC_PER_SEC - 1) / USEC_PER_SEC;
	return s < 1 ? 1 : (int)s;
}

static int login_locked(struct web_store *st, const struct config *cfg, const char *name,
			const char *password, const char *addr, struct web_login *out)
{
	struct web_attempt_counts n;
	char pwhash[WEB_PWHASH_MAX], hash[SHA256_HEX_SIZE];
	int64_t now = clock_wall_us();
	int ret;

	/* housekeeping that keeps both tables small; failure changes nothing */
	web_store_attempts_purge(st, now - WEB_LOGIN_WINDOW_US);
	web_store_sessions_purge(st, now);

	if ((ret = web_store_attempts_count(st, name, addr, now - WEB_LOGIN_WINDOW_US, &n)) < 0)
		return ret;
	out->retry_after_s = 0;
	if (n.user_failures >= WEB_LOGIN_USER_FAILURES)
		out->retry_after_s = retry_after(n.user_oldest_us, now);
	if (n.addr_failures >= WEB_LOGIN_ADDR_FAILURES) {
		int r = retry_after(n.addr_oldest_us, now);
		if (r > out->retry_after_s)
			out->retry_after_s = r;
	}
	if (out->retry_after_s)
		return -EAGAIN;

	ret = web_store_user_get(st, name, &out->user, pwhash, sizeof(pwhash));
	if (ret == -ENOENT) {
		pthread_once(&dummy_once, make_dummy_hash);
		web_password_check(dummy_hash, password);
		ret = -EACCES;
	} else if (ret == 0) {
		ret = web_password_check(pwhash, password);
	}
	if (ret < 0 && ret != -EACCES)
		return ret;
	int rec = web_store_attempt_add(st, name, addr, now, ret == 0);
	if (ret < 0)
		return ret;
	if (rec < 0)
		return rec; /* a login that could not be counted is not granted */

	if ((ret = web_random_hex(out->cookie)) < 0 || (ret = web_random_hex(out->csrf)) < 0)
		return ret;
	sha256_hex(out->cookie, strlen(out->cookie), hash);
	out->expires_us =
		now + (int64_t)(cfg->web_session_hours > 0 ? cfg->web_session_hours : 12) * 3600 *
			      USEC_PER_SEC;
	return web_store_session_insert(st, hash, out->user.id, out->csrf, addr, now,
					out->expires_us);
}

int web_login(struct web_store *st, const struct config *cfg, const char *name,
	      const char *password, const char *addr, struct web_login *out)
{
	memset(out, 0, sizeof(*out));
	if (!name || !*name || strlen(name) >= WEB_NAME_MAX || !password ||
	    strlen(password) > WEB_PASSWORD_MAX)
		return -EACCES;
	pthread_mutex_lock(&login_lock);
	int ret = login_locked(st, cfg, name, password, addr ? addr : "", out);
	pthread_mutex_unlock(&login_lock);
	if (ret < 0 && ret != -EAGAIN) {
		int keep = out->retry_after_s;
		memset(out, 0, sizeof(*out));
		out->retry_after_s = keep;
	}
	return ret;
}

/* A cookie or token is 64 hex digits; anything else is not looked up. */
static bool well_formed(const char *secret)
{
	size_t n = 0;
	for (; secret && secret[n]; n++)
		if (!((secret[n] >= '0' && secret[n] <= '9') ||
		      (secret[n] >= 'a' && secret[n] <= 'f')))
			return false;
	return n == 64;
}

int web_session_user(struct web_store *st, const char *cookie, struct web_user *u,
		     char csrf[WEB_SECRET_HEX])
{
	char hash[SHA256_HEX_SIZE], token[WEB_SECRET_HEX];
	if (!well_formed(cookie))
		return -EACCES;
	sha256_hex(cookie, strlen(cookie), hash);
	int ret = web_store_session_find(st, hash, clock_wall_us(), u, token);
	if (ret == -ENOENT)
		return -EACCES;
	if (ret < 0)
		return ret;
	if (csrf)
		snprintf(csrf, WEB_SECRET_HEX, "%s", token);
	return 0;
}

int web_logout(struct web_store *st, const char *cookie)
{
	char hash[SHA256_HEX_SIZE];
	if (!well_formed(cookie))
		return 0;
	sha256_hex(cookie, strlen(cookie), hash);
	return web_store_session_delete(st, hash);
}

int web_token_user(struct web_store *st, const char *token, struct web_user *u)
{
	char hash[SHA256_HEX_SIZE];
	if (!well_formed(token))
		return -EACCES;
	sha256_hex(token, strlen(token), hash);
	int ret = web_store_token_find(st, hash, u);
	return ret == -ENOENT ? -EACCES : ret;
}

/* ---- the access log ------------------------------------------------------ */

void web_audit(struct web_request *r, const char *action, const char *camera, int64_t from_us,
	       int64_t to_us, const char *detail)
{
	web_audit_as(r, r->authenticated ? r->user.name : "", action, camera, from_us, to_us,
		     detail);
}

void web_audit_as(struct web_request *r, const char *user, const char *action, const char *camera,
		  int64_t from_us, int64_t to_us, const char *detail)
{
	bool interval = from_us != 0 || to_us != 0;
	int ret =
		web_store_log_append(r->web->store, clock_wall_us(), user, r->addr, action, camera,
				     interval ? from_us : -1, interval ? to_us : -1, detail);
	if (ret < 0)
		log_error("cannot append to the access log (%s by '%s'): %s", action, user,
			  db_errmsg(ret));
}
