/*
 * The accounts part of the HTTP API: login and logout, who am I, the users
 * (admin only) and the access log (admin only), with the checks the server
 * runs before every handler (web_authenticate, web_csrf_ok).
 *
 * A browser holds its session in the cookie vigil_session (HttpOnly, so no
 * script reads it; SameSite=Strict, so no other site's page sends it;
 * Secure under TLS) and sends the session's CSRF token, which it got in
 * the login answer or from GET /api/me, in X-CSRF-Token on every request
 * that changes state.  A script sends Authorization: Bearer TOKEN instead,
 * which no other site can make a browser send, so it needs no CSRF token.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/jread.h"
#include "util/log.h"
#include "web/auth.h"
#include "web/internal.h"
#include "util/banned.h"

#define COOKIE_NAME "vigil_session"
#define ACCESS_LOG_ROWS_MAX 10000

/* ---- what the server checks --------------------------------------------- */

static const char *bearer_token(const struct web_request *r)
{
	const char *h = web_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h)
		return NULL;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return "";
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

static const char *session_cookie(const struct web_request *r)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, COOKIE_NAME);
}

int web_authenticate(struct web_request *r)
{
	const char *token = bearer_token(r);
	int ret;

	r->authenticated = false;
	r->via_token = false;
	/* a request that names a token stands or falls with it */
	if (token) {
		ret = web_token_user(r->web->store, token, &r->user);
		r->via_token = ret == 0;
	} else {
		const char *cookie = session_cookie(r);
		ret = cookie ? web_session_user(r->web->store, cookie, &r->user, NULL) : -EACCES;
	}
	if (ret < 0 && ret != -EACCES)
		log_error("cannot check a session: %s", db_errmsg(ret));
	if (ret < 0) {
		memset(&r->user, 0, sizeof(r->user));
		return -EACCES;
	}
	r->authenticated = true;
	return 0;
}

bool web_csrf_ok(const struct web_request *r)
{
	struct web_user u = { 0 };
	char csrf[WEB_SECRET_HEX];

	if (r->via_token)
		return true;
	const char *sent = web_header(r, "X-CSRF-Token");
	const char *cookie = session_cookie(r);
	if (!sent || !cookie || web_session_user(r->web->store, cookie, &u, csrf) < 0)
		return false;
	return web_secret_equal(sent, csrf);
}

/* ---- replies ------------------------------------------------------------ */

/* A JSON reply with one more header (Set-Cookie, Retry-After). */
static enum MHD_Result reply_with_header(struct web_request *r, unsigned status, struct buf *b,
					 const char *header, const char *value)
{
	size_t len = b->len;
	char *data = buf_detach(b);
	if (!data)
		return MHD_NO;
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json; charset=utf-8");
	MHD_add_response_header(resp, header, value);
	return web_reply_response(r, status, resp);
}

static void session_cookie_header(const struct web_request *r, const char *value, int64_t max_age,
				  char *out, size_t size)
{
	snprintf(out, size,
		 COOKIE_NAME "=%s; Path=/; Max-Age=%" PRId64 "; HttpOnly; SameSite=Strict%s", value,
		 max_age, r->web->tls ? "; Secure" : "");
}

static void write_cameras(struct json_writer *w, const char *cameras)
{
	char id[WEB_CAMERAS_MAX];
	jw_key(w, "cameras");
	jw_begin_array(w);
	for (const char *p = cameras; *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		snprintf(id, sizeof(id), "%.*s", (int)n, p);
		jw_string(w, id);
		if (!comma)
			break;
		p = comma + 1;
	}
	jw_end_array(w);
}

static void write_user(struct json_writer *w, const struct web_user *u)
{
	jw_kv_string(w, "user", u->name);
	jw_kv_string(w, "role", web_role_name(u->role));
	write_cameras(w, u->cameras);
}

static const char *language_of(const struct web_request *r)
{
	if (r->user.language[0])
		return r->user.language;
	return r->lang == WEB_LANG_ZH ? "zh-CN" : "en";
}

static enum MHD_Result reply_finished(struct web_request *r, unsigned status, struct json_writer *w,
				      struct buf *b)
{
	if (jw_finish(w) < 0) {
		buf_release(b);
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "answer too large");
	}
	return web_reply_json(r, status, b);
}

/* A string member of the body, or "" when there is none. */
static bool body_string(struct web_request *r, const char *key, char *out, size_t size)
{
	int ret = jread_scalar(r->body, r->body_len, key, out, size);
	if (ret == -EINVAL) {
		web_reply_error(r, MHD_HTTP_BAD_REQUEST, "the body is not JSON");
		return false;
	}
	if (ret < 0)
		out[0] = '\0';
	return true;
}

/* ---- login, logout, me -------------------------------------------------- */

static enum MHD_Result post_login(struct web_request *r)
{
	char name[WEB_NAME_MAX * 2], password[WEB_PASSWORD_MAX + 2], header[256];
	struct web_login l;
	struct json_writer w;
	struct buf b;

	if (!body_string(r, "user", name, sizeof(name)) ||
	    !body_string(r, "password", password, sizeof(password)))
		return MHD_YES;
	if (!name[0] || !password[0])
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				       "send {\"user\": NAME, \"password\": PASSWORD}");
	int ret = web_login(r->web->store, r->web->cfg, name, password, r->addr, &l);
	explicit_bzero(password, sizeof(password));
	if (ret == -EAGAIN) {
		web_json_begin(&w, &b);
		jw_begin_object(&w);
		jw_kv_string(&w, "error", "too many failed logins; try again later");
		jw_kv_int(&w, "retry_after", l.retry_after_s);
		jw_end_object(&w);
		if (jw_finish(&w) < 0) {
			buf_release(&b);
			return MHD_NO;
		}
		snprintf(header, sizeof(header), "%d", l.retry_after_s);
		return reply_with_header(r, MHD_HTTP_TOO_MANY_REQUESTS, &b,
					 MHD_HTTP_HEADER_RETRY_AFTER, header);
	}
	if (ret == -EACCES) {
		web_audit_as(r, name, "login-failed", NULL, 0, 0, "wrong user or password");
		return web_reply_error(r, MHD_HTTP_UNAUTHORIZED, "wrong user or password");
	}
	if (ret < 0) {
		log_error("login of '%s': %s", name, db_errmsg(ret));
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot log in now");
	}
	r->user = l.user;
	r->authenticated = true;
	r->via_token = false;
	web_audit(r, "login", NULL, 0, 0, "");

	web_json_begin(&w, &b);
	jw_begin_object(&w);
	jw_kv_string(&w, "csrf", l.csrf);
	write_user(&w, &l.user);
	jw_kv_string(&w, "language", language_of(r));
	jw_kv_time(&w, "expires", l.expires_us);
	jw_end_object(&w);
	if (jw_finish(&w) < 0) {
		buf_release(&b);
		return MHD_NO;
	}
	session_cookie_header(r, l.cookie, (l.expires_us - clock_wall_us()) / USEC_PER_SEC, header,
			      sizeof(header));
	explicit_bzero(&l, sizeof(l));
	return reply_with_header(r, MHD_HTTP_OK, &b, MHD_HTTP_HEADER_SET_COOKIE, header);
}

static enum MHD_Result post_logout(struct web_request *r)
{
	char header[256];
	struct json_writer w;
	struct buf b;
	const char *cookie = session_cookie(r);

	if (cookie && !r->via_token) {
		int ret = web_logout(r->web->store, cookie);
		if (ret < 0)
			log_error("logout of '%s': %s", r->user.name, db_errmsg(ret));
	}
	web_audit(r, "logout", NULL, 0, 0, r->via_token ? "token" : "");
	web_json_begin(&w, &b);
	jw_begin_object(&w);
	jw_kv_bool(&w, "ok", true);
	jw_end_object(&w);
	if (jw_finish(&w) < 0) {
		buf_release(&b);
		return MHD_NO;
	}
	session_cookie_header(r, "", 0, header, sizeof(header));
	return reply_with_header(r, MHD_HTTP_OK, &b, MHD_HTTP_HEADER_SET_COOKIE, header);
}

/* The site's zone for the pages: [web] time_zone, else the system's IANA
 * name (TZ, /etc/localtime's link, /etc/timezone), or NULL when unknown. */
static const char *site_zone(const struct web_request *r, char *buf, size_t size)
{
	const char *tz = getenv("TZ");
	if (r->web->cfg->web_time_zone)
		return r->web->cfg->web_time_zone;
	if (tz && *tz) {
		snprintf(buf, size, "%s", tz[0] == ':' ? tz + 1 : tz);
		return buf;
	}
	char link[256];
	ssize_t n = readlink("/etc/localtime", link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		const char *z = strstr(link, "zoneinfo/");
		if (z) {
			snprintf(buf, size, "%s", z + 9);
			return buf;
		}
	}
	FILE *f = fopen("/etc/timezone", "r");
	if (f) {
		bool ok = fgets(buf, (int)size, f) != NULL;
		fclose(f);
		buf[strcspn(buf, "\n")] = '\0';
		if (ok && *buf)
			return buf;
	}
	return NULL;
}

static enum MHD_Result get_me(struct web_request *r)
{
	struct web_user u = { 0 };
	char csrf[WEB_SECRET_HEX] = "";
	struct json_writer w;
	struct buf b;
	const char *cookie = session_cookie(r);

	if (!r->via_token && cookie)
		web_session_user(r->web->store, cookie, &u, csrf);
	web_json_begin(&w, &b);
	jw_begin_object(&w);
	write_user(&w, &r->user);
	jw_kv_string(&w, "language", language_of(r));
	jw_kv_string(&w, "csrf", csrf[0] ? csrf : NULL);
	jw_kv_bool(&w, "via_token", r->via_token);
	char zone[128];
	jw_kv_string(&w, "time_zone", site_zone(r, zone, sizeof(zone)));
	/* the offset now, for a browser that does not know the zone's name;
	 * the process's zone is the system's, so only then is it the site's */
	time_t now = (time_t)(clock_wall_us() / USEC_PER_SEC);
	struct tm tm;
	if (!r->web->cfg->web_time_zone && localtime_r(&now, &tm))
		jw_kv_int(&w, "utc_offset_s", tm.tm_gmtoff);
	else
		jw_kv_string(&w, "utc_offset_s", NULL);
	jw_end_object(&w);
	return reply_finished(r, MHD_HTTP_OK, &w, &b);
}

/* POST /api/me {"language": "en" | "zh-CN" | ""}: "" follows the browser. */
static enum MHD_Result post_me(struct web_request *r)
{
	char lang[32];
	if (!body_string(r, "language", lang, sizeof(lang)))
		return MHD_YES;
	if (*lang && strcmp(lang, "en") != 0 && strcmp(lang, "zh-CN") != 0)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				       "language %s is not one of en, zh-CN or \"\"", lang);
	int ret = web_store_user_set_language(r->web->store, r->user.id, lang);
	if (ret < 0) {
		log_error("language of '%s': %s", r->user.name, db_errmsg(ret));
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot save now");
	}
	snprintf(r->user.language, sizeof(r->user.language), "%s", lang);
	return get_me(r);
}

/* ---- users (admin) ------------------------------------------------------ */

static int user_json(const struct web_user *u, void *ctx)
{
	struct json_writer *w = ctx;
	jw_begin_object(w);
	jw_kv_string(w, "name", u->name);
	jw_kv_string(w, "role", web_role_name(u->role));
	write_cameras(w, u->cameras);
	jw_kv_string(w, "language", u->language);
	jw_kv_time(w, "created", u->created_us);
	jw_end_object(w);
	return 0;
}

static enum MHD_Result get_users(struct web_request *r)
{
	struct json_writer w;
	struct buf b;
	if (!web_role_at_least(r, WEB_ADMIN))
		return MHD_YES;
	web_json_begin(&w, &b);
	jw_begin_object(&w);
	jw_key(&w, "users");
	jw_begin_array(&w);
	int ret = web_store_user_each(r->web->store, user_json, &w);
	jw_end_array(&w);
	jw_end_object(&w);
	if (ret < 0) {
		buf_release(&b);
		log_error("list users: %s", db_errmsg(ret));
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot list users now");
	}
	return reply_finished(r, MHD_HTTP_OK, &w, &b);
}

/* "cameras" of the body as a list "a,b": a JSON array of ids or a string. */
static bool body_cameras(struct web_request *r, char *out, size_t size)
{
	char key[32], id[WEB_CAMERAS_MAX];
	size_t len = 0;

	out[0] = '\0';
	if (jread_scalar(r->body, r->body_len, "cameras", out, size) == 0)
		return true;
	for (int i = 0;; i++) {
		snprintf(key, sizeof(key), "cameras.%d", i);
		if (jread_scalar(r->body, r->body_len, key, id, sizeof(id)) < 0)
			return true;
		int n = snprintf(out + len, size - len, "%s%s", i ? "," : "", id);
		if (n < 0 || (size_t)n >= size - len) {
			web_reply_error(r, MHD_HTTP_BAD_REQUEST, "the camera list is too long");
			return false;
		}
		len += (size_t)n;
	}
}

/* POST /api/users {"name", "role", "password", "cameras": [ids]} */
static enum MHD_Result post_users(struct web_request *r)
{
	char name[WEB_NAME_MAX * 2], role_name[32], password[WEB_PASSWORD_MAX + 2];
	char cameras[WEB_CAMERAS_MAX], err[256], detail[WEB_CAMERAS_MAX + 64];
	enum web_role role;

	if (!web_role_at_least(r, WEB_ADMIN))
		return MHD_YES;
	if (!body_string(r, "name", name, sizeof(name)) ||
	    !body_string(r, "role", role_name, sizeof(role_name)) ||
	    !body_string(r, "password", password, sizeof(password)) ||
	    !body_cameras(r, cameras, sizeof(cameras)))
		return MHD_YES;
	if (web_role_parse(role_name, &role) < 0)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				       "role '%s' is not viewer, operator or admin", role_name);
	int ret = web_accounts_add(r->web->store, r->web->cfg, name, role, password, cameras, err,
				   sizeof(err));
	explicit_bzero(password, sizeof(password));
	if (ret == -EINVAL)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
	if (ret == -EEXIST)
		return web_reply_error(r, MHD_HTTP_CONFLICT, "%s", err);
	if (ret < 0) {
		log_error("add user '%s': %s", name, err);
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "cannot add the user now");
	}
	snprintf(detail, sizeof(detail), "%s %s cameras=%s", name, web_role_name(role),
		 cameras[0] ? cameras : "all");
	web_audit(r, "user-add", NULL, 0, 0, detail);

	struct web_user u = { 0 };
	struct json_writer w;
	struct buf b;
	if (web_store_user_get(r->web->store, name, &u, NULL, 0) < 0)
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "user added, not read");
	web_json_begin(&w, &b);
	user_json(&u, &w);
	return reply_finished(r, MHD_HTTP_CREATED, &w, &b);
}

static enum MHD_Result reply_ok(struct web_request *r)
{
	struct json_writer w;
	struct buf b;
	web_json_begin(&w, &b);
	jw_begin_object(&w);
	jw_kv_bool(&w, "ok", true);
	jw_end_object(&w);
	return reply_finished(r, MHD_HTTP_OK, &w, &b);
}

static enum MHD_Result post_user_delete(struct web_request *r)
{
	char err[256];
	const char *name = r->params[0];

	if (!web_role_at_least(r, WEB_ADMIN))
		return MHD_YES;
	if (strcmp(name, r->user.name) == 0)
		return web_reply_error(
			r, MHD_HTTP_BAD_REQUEST,
			"an admin does not delete their own account here (vigil user "
			"del does)");
	int ret = web_accounts_del(r->web->store, name, err, sizeof(err));
	if (ret == -ENOENT)
		return web_reply_error(r, MHD_HTTP_NOT_FOUND, "%s", err);
	if (ret < 0) {
		log_error("delete user '%s': %s", name, err);
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot delete now");
	}
	web_audit(r, "user-del", NULL, 0, 0, name);
	return reply_ok(r);
}

/* POST /api/users/NAME/password {"password"}: ends the user's sessions. */
static enum MHD_Result post_user_password(struct web_request *r)
{
	char password[WEB_PASSWORD_MAX + 2], err[256];
	const char *name = r->params[0];

	if (!web_role_at_least(r, WEB_ADMIN) ||
	    !body_string(r, "password", password, sizeof(password)))
		return MHD_YES;
	int ret = web_accounts_passwd(r->web->store, name, password, err, sizeof(err));
	explicit_bzero(password, sizeof(password));
	if (ret == -EINVAL)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
	if (ret == -ENOENT)
		return web_reply_error(r, MHD_HTTP_NOT_FOUND, "%s", err);
	if (ret < 0) {
		log_error("password of '%s': %s", name, err);
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot save now");
	}
	web_audit(r, "user-passwd", NULL, 0, 0, name);
	return reply_ok(r);
}

/* ---- the access log (admin) ----------------------------------------------- */

struct log_out {
	struct json_writer *w;
	int64_t rows;
};

static int log_row_json(const struct web_log_row *row, void *ctx)
{
	struct log_out *o = ctx;
	struct json_writer *w = o->w;
	o->rows++;
	jw_begin_object(w);
	jw_kv_int(w, "id", row->id);
	jw_kv_time(w, "at", row->at_us);
	jw_kv_string(w, "user", row->user);
	jw_kv_string(w, "addr", row->addr);
	jw_kv_string(w, "action", row->action);
	jw_kv_string(w, "camera", row->camera);
	if (row->from_us >= 0 && row->to_us >= 0) {
		jw_kv_time(w, "from", row->from_us);
		jw_kv_time(w, "to", row->to_us);
	} else {
		jw_kv_string(w, "from", NULL);
		jw_kv_string(w, "to", NULL);
	}
	jw_kv_string(w, "detail", row->detail);
	jw_kv_string(w, "hash", row->hash);
	jw_end_object(w);
	return 0;
}

static enum MHD_Result get_access_log(struct web_request *r)
{
	int64_t from = 0, to = INT64_MAX;
	struct json_writer w;
	struct buf b;

	if (!web_role_at_least(r, WEB_ADMIN) || !web_time_param(r, "from", &from, false) ||
	    !web_time_param(r, "to", &to, false))
		return MHD_YES;
	if (to <= from)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "to must be after from");
	const char *camera = web_query(r, "camera");
	if (camera && !*camera)
		camera = NULL;
	web_json_begin(&w, &b);
	jw_begin_object(&w);
	if (from > 0)
		jw_kv_time(&w, "from", from);
	else
		jw_kv_string(&w, "from", NULL);
	if (to < INT64_MAX)
		jw_kv_time(&w, "to", to);
	else
		jw_kv_string(&w, "to", NULL);
	jw_key(&w, "entries");
	jw_begin_array(&w);
	struct log_out o = { &w, 0 };
	int ret = web_store_log_each(r->web->store, from, to, camera, ACCESS_LOG_ROWS_MAX,
				     log_row_json, &o);
	jw_end_array(&w);
	jw_kv_bool(&w, "truncated", o.rows >= ACCESS_LOG_ROWS_MAX);
	jw_end_object(&w);
	if (ret < 0) {
		buf_release(&b);
		log_error("read access log: %s", db_errmsg(ret));
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "cannot read the log now");
	}
	return reply_finished(r, MHD_HTTP_OK, &w, &b);
}

const struct web_route web_auth_routes[] = {
	{ "POST", "/api/login", WEB_PUBLIC, post_login },
	{ "POST", "/api/logout", WEB_SESSION, post_logout },
	{ "GET", "/api/me", WEB_SESSION, get_me },
	{ "POST", "/api/me", WEB_SESSION, post_me },
	{ "GET", "/api/users", WEB_SESSION, get_users },
	{ "POST", "/api/users", WEB_SESSION, post_users },
	{ "POST", "/api/users/{}/delete", WEB_SESSION, post_user_delete },
	{ "POST", "/api/users/{}/password", WEB_SESSION, post_user_password },
	{ "GET", "/api/access-log", WEB_SESSION, get_access_log },
	{ NULL, NULL, WEB_PUBLIC, NULL },
};
