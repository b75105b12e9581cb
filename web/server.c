/*
 * The HTTP server of vigil serve: one libmicrohttpd daemon, a thread per
 * connection (so a slow client, a live stream that waits for the next
 * fragment, or a long download holds only its own thread), bounded by a
 * connection limit per daemon and per address.  A request is read whole
 * (body up to WEB_BODY_MAX), its path checked, its route found, its session
 * and CSRF token checked, and only then does a handler see it.
 */
#include "web/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "tickets/tickets.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/timefmt.h"
#include "util/banned.h"

#define CONNECTIONS_MAX 256
#define CONNECTIONS_PER_ADDRESS 32
/* Request line and headers of one request must fit here; a larger header
 * is answered 431 by libmicrohttpd. */
#define CONNECTION_MEMORY (32 * 1024)
#define CONNECTION_TIMEOUT_S 30
#define THREAD_STACK (512 * 1024)
#define JSON_REPLY_MAX (64 * 1024 * 1024)

/* What one connection's request accumulates between calls of on_request. */
struct pending {
	struct buf body;
	bool too_large;
};

static const struct web_route *const route_tables[] = {
	web_auth_routes,
	web_api_routes,
	web_playback_routes,
	web_page_routes,
};

struct ticket_db *web_tickets(struct web *web)
{
	pthread_mutex_lock(&web->tickets_lock);
	if (!web->tickets) {
		char err[256];
		int ret = tickets_open_config(web->cfg, true, &web->tickets, err, sizeof(err));
		if (ret < 0 && ret != -ENOENT)
			log_warnx("tickets: %s", err);
	}
	struct ticket_db *db = web->tickets;
	pthread_mutex_unlock(&web->tickets_lock);
	return db;
}

const char *web_query(const struct web_request *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *web_header(const struct web_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static void add_common_headers(struct web_request *r, struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (strncmp(r->path, "/api/", 5) == 0 &&
	    !MHD_get_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->web->tls)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

enum MHD_Result web_reply_response(struct web_request *r, unsigned status,
				   struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	add_common_headers(r, resp);
	enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result web_reply_bytes(struct web_request *r, unsigned status, const char *type,
				const void *data, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return web_reply_response(r, status, resp);
}

enum MHD_Result web_reply_json(struct web_request *r, unsigned status, struct buf *body)
{
	size_t len = body->len;
	char *data = buf_detach(body);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, data ? data : (char *)"",
								    data ? MHD_RESPMEM_MUST_FREE
									 : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json; charset=utf-8");
	return web_reply_response(r, status, resp);
}

void web_json_begin(struct json_writer *w, struct buf *b)
{
	buf_init(b, JSON_REPLY_MAX);
	jw_init_buf(w, b);
}

enum MHD_Result web_reply_error(struct web_request *r, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct buf b;
	struct json_writer w;
	web_json_begin(&w, &b);
	jw_begin_object(&w);
	jw_kv_string(&w, "error", msg);
	jw_end_object(&w);
	if (jw_finish(&w) < 0) {
		buf_release(&b);
		return MHD_NO;
	}
	return web_reply_json(r, status, &b);
}

bool web_time_param(struct web_request *r, const char *name, int64_t *us, bool required)
{
	const char *v = web_query(r, name);
	if (!v || !*v) {
		if (!required)
			return true;
		web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"missing query parameter %s (a time, e.g. "
				"2026-11-02T14:00:00+08:00)",
				name);
		return false;
	}
	if (time_parse(v, us) < 0) {
		web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				"%s=%s is not a time (expected ISO 8601, "
				"e.g. 2026-11-02T14:00:00+08:00 or 2026-11-02)",
				name, v);
		return false;
	}
	return true;
}

bool web_camera_allowed(struct web_request *r, const char *camera)
{
	if (!config_camera(r->web->cfg, camera)) {
		web_reply_error(r, MHD_HTTP_NOT_FOUND, "no camera %s", camera);
		return false;
	}
	if (!web_user_sees_camera(&r->user, camera)) {
		web_reply_error(r, MHD_HTTP_FORBIDDEN, "user %s may not see camera %s",
				r->user.name, camera);
		return false;
	}
	return true;
}

bool web_role_at_least(struct web_request *r, enum web_role need)
{
	if (r->user.role >= need)
		return true;
	web_reply_error(r, MHD_HTTP_FORBIDDEN, "this needs the %s role; user %s is %s",
			web_role_name(need), r->user.name, web_role_name(r->user.role));
	return false;
}

/*
 * Matches path against pattern part by part; a "{}" part captures one
 * non-empty path part into the request's params (pointing into copy,
 * which the caller keeps alive).
 */
static bool route_matches(const char *pattern, char *copy, struct web_request *r)
{
	const char *p = pattern;
	char *s = copy;
	r->nparams = 0;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		const char *pend = strchr(p, '/');
		size_t plen = pend ? (size_t)(pend - p) : strlen(p);
		char *send = strchr(s, '/');
		size_t slen = send ? (size_t)(send - s) : strlen(s);
		if (plen == 2 && p[0] == '{' && p[1] == '}') {
			if (slen == 0 || r->nparams == WEB_MAX_PARAMS)
				return false;
			r->params[r->nparams++] = s;
			if (send)
				*send = '\0'; /* restored below for the next route */
		} else if (plen != slen || strncmp(p, s, plen) != 0) {
			return false;
		}
		p += plen;
		s += slen;
		if (send) {
			*send = '/';
			s = send;
		}
	}
	return *p == '\0' && *s == '\0';
}

/* Cuts the captured params out of copy now that the route is chosen. */
static void terminate_params(struct web_request *r)
{
	for (int i = 0; i < r->nparams; i++) {
		char *slash = strchr(r->params[i], '/');
		if (slash)
			*slash = '\0';
	}
}

static const struct web_route *find_route(struct web_request *r, char *copy, bool *path_known)
{
	*path_known = false;
	for (size_t t = 0; t < sizeof(route_tables) / sizeof(route_tables[0]); t++) {
		for (const struct web_route *rt = route_tables[t]; rt->method; rt++) {
			if (!route_matches(rt->pattern, copy, r))
				continue;
			*path_known = true;
			if (strcmp(rt->method, r->method) == 0 ||
			    (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
				terminate_params(r);
				return rt;
			}
		}
	}
	return NULL;
}

static bool path_is_clean(const char *path)
{
	if (path[0] != '/')
		return false;
	for (const char *s = path; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
			return false;
		if (s[0] == '/' && s[1] == '.' && s[2] == '.' && (s[3] == '/' || s[3] == '\0'))
			return false;
		if (s[0] == '/' && s[1] == '.' && (s[2] == '/' || s[2] == '\0'))
			return false;
	}
	return true;
}

static enum web_lang lang_from_accept(const char *accept)
{
	if (!accept)
		return WEB_LANG_EN;
	/* The first language the browser names decides: that is the user's
	 * own order of preference. */
	while (*accept == ' ')
		accept++;
	if (strncasecmp(accept, "zh", 2) == 0)
		return WEB_LANG_ZH;
	return WEB_LANG_EN;
}

static void client_address(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(out, size, "?");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  out, (socklen_t)size);
}

static bool changes_state(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

static enum MHD_Result dispatch(struct web *web, struct MHD_Connection *conn, const char *url,
				const char *method, struct pending *pending)
{
	struct web_request r = { .conn = conn, .web = web, .method = method, .path = url };
	r.body = pending->body.data ? pending->body.data : "";
	r.body_len = pending->body.len;
	client_address(conn, r.addr, sizeof(r.addr));
	r.lang = lang_from_accept(web_header(&r, MHD_HTTP_HEADER_ACCEPT_LANGUAGE));

	if (pending->too_large)
		return web_reply_error(&r, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %d bytes",
				       WEB_BODY_MAX);
	if (!path_is_clean(url))
		return web_reply_error(&r, MHD_HTTP_BAD_REQUEST,
				       "path %s is not allowed (no '.' or '..' parts, no control "
				       "characters)",
				       url);
	size_t n = strlen(url);
	if (n > 1024)
		return web_reply_error(&r, MHD_HTTP_URI_TOO_LONG, "path over 1024 bytes");
	char copy[1025];
	memcpy(copy, url, n + 1);
	bool path_known;
	const struct web_route *rt = find_route(&r, copy, &path_known);
	if (!rt) {
		if (path_known)
			return web_reply_error(&r, MHD_HTTP_METHOD_NOT_ALLOWED,
					       "%s is not allowed on %s", method, url);
		return web_reply_error(&r, MHD_HTTP_NOT_FOUND, "no such path: %s", url);
	}
	if (rt->access == WEB_SESSION) {
		if (web_authenticate(&r) < 0)
			return web_reply_error(&r, MHD_HTTP_UNAUTHORIZED,
					       "login required (POST /api/login, or an "
					       "Authorization: Bearer token)");
		if (changes_state(method) && !web_csrf_ok(&r))
			return web_reply_error(&r, MHD_HTTP_FORBIDDEN,
					       "missing or wrong CSRF token (send the X-CSRF-Token "
					       "header given at login)");
		if (strcmp(r.user.language, "zh-CN") == 0)
			r.lang = WEB_LANG_ZH;
		else if (strcmp(r.user.language, "en") == 0)
			r.lang = WEB_LANG_EN;
	} else {
		/* A public route may still know who asks (the login page). */
		(void)web_authenticate(&r);
	}
	return rt->handler(&r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct pending *pending = *con_cls;
	if (!pending) {
		pending = calloc(1, sizeof(*pending));
		if (!pending)
			return MHD_NO;
		buf_init(&pending->body, WEB_BODY_MAX);
		*con_cls = pending;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!pending->too_large &&
		    buf_append(&pending->body, upload_data, *upload_data_size) < 0)
			pending->too_large = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* Handlers read the body as a string. */
	if (!pending->too_large && buf_append(&pending->body, "", 1) == 0)
		pending->body.len--;
	else
		pending->too_large = true;
	return dispatch(cls, conn, url, method, pending);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct pending *pending = *con_cls;
	if (!pending)
		return;
	buf_release(&pending->body);
	free(pending);
	*con_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vmsg(LOG_LEVEL_WARN, fmt, ap);
}

static int listen_address(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
			  char *err, size_t errlen)
{
	char host[128];
	int port;
	if (config_parse_listen(listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "[web] listen = %s: expected HOST:PORT", listen);
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
	} else {
		snprintf(err, errlen, "[web] listen = %s: %s is not an IP address", listen, host);
		return -EINVAL;
	}
	return 0;
}

static char *read_pem(const char *path, const char *what, char *err, size_t errlen)
{
	struct buf b;
	buf_init(&b, 1024 * 1024);
	int ret = fs_read_file(path, &b, 1024 * 1024);
	if (ret < 0) {
		snprintf(err, errlen, "[web] %s = %s: %s", what, path, strerror(-ret));
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

int web_serve(const struct config *cfg, const volatile sig_atomic_t *stop,
	      void (*ready)(const char *url, void *ctx), void *ctx, char *err, size_t errlen)
{
	struct web web = { .cfg = cfg };
	int ret = -EIO;
	char *cert = NULL, *key = NULL;
	struct MHD_Daemon *d = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen;

	if ((ret = listen_address(cfg->web_listen, &ss, &sslen, err, errlen)) < 0)
		return ret;
	/* The console may start before the recorder has made its storage. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", cfg->catalog_path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if ((ret = fs_mkdir_p(dir, 0750)) < 0) {
			snprintf(err, errlen, "cannot create the folder of catalog '%s': %s",
				 cfg->catalog_path, strerror(-ret));
			return ret;
		}
	}
	/* A recorder starting at the same moment may be creating and migrating
	 * the catalog: wait for it rather than fail. */
	for (int tries = 0; tries < 50; tries++) {
		web.catalog = catalog_open(cfg->catalog_path, CATALOG_READ_WRITE, err, errlen);
		if (web.catalog || (!strstr(err, "locked") && !strstr(err, "busy")))
			break;
		usleep(200 * 1000);
	}
	if (!web.catalog)
		return -EIO;
	pthread_mutex_init(&web.tickets_lock, NULL);
	if (!web_tickets(&web))
		log_info("no ticket database yet (%s): the console shows tickets once vigil check "
			 "has made it",
			 cfg->checker_database);
	web.store = web_store_open(cfg, true, err, errlen);
	if (!web.store)
		goto out;

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	if (cfg->web_tls_cert) {
		cert = read_pem(cfg->web_tls_cert, "tls_cert", err, errlen);
		key = cert ? read_pem(cfg->web_tls_key, "tls_key", err, errlen) : NULL;
		if (!key)
			goto out;
		flags |= MHD_USE_TLS;
		web.tls = true;
	}
	if (((struct sockaddr *)&ss)->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;

	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, key },
		{ MHD_OPTION_END, 0, NULL },
	};
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &web, MHD_OPTION_EXTERNAL_LOGGER,
			     on_mhd_error, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONNECTIONS_PER_ADDRESS,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
			     MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK, MHD_OPTION_ARRAY,
			     web.tls ? tls_opts : &tls_opts[2], MHD_OPTION_END);
	if (!d) {
		snprintf(err, errlen, "[web] listen = %s: cannot listen there (%s)",
			 cfg->web_listen, strerror(errno ? errno : EADDRINUSE));
		ret = -EADDRINUSE;
		goto out;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char host[128];
	int port;
	config_parse_listen(cfg->web_listen, host, sizeof(host), &port);
	snprintf(web.url, sizeof(web.url), "%s://%s%s%s:%u/", web.tls ? "https" : "http",
		 strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
		 di ? di->port : (unsigned)port);
	log_info("serving the console on %s", web.url);
	if (ready)
		ready(web.url, ctx);
	while (!*stop)
		usleep(100 * 1000);
	log_info("stopping the console");
	ret = 0;
out:
	if (d)
		MHD_stop_daemon(d);
	free(cert);
	free(key);
	web_store_close(&web.store);
	ticket_db_close(&web.tickets);
	pthread_mutex_destroy(&web.tickets_lock);
	catalog_close(&web.catalog);
	return ret;
}
