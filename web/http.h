/*
 * Inside `vigil serve`: what a handler sees of a request and how it
 * answers.  Internal to web/: the server (server.c, on libmicrohttpd) owns
 * connections, limits, sessions and the access log; handlers (api_*.c,
 * playback.c, pages.c) are thin: check the request, call a module's
 * compute function, answer with one of the web_reply_* calls below.
 *
 * A route names a method, a path pattern with ":name" parts (matched
 * against one path segment each, never containing "/" or ".."), the least
 * role it needs (WEB_PUBLIC: no session) and whether it changes state
 * (then a session request must carry X-CSRF-Token, or use a Bearer token).
 * The server checks all of that before the handler runs, so a handler never
 * sees a request it should refuse for those reasons.
 *
 * Thread safety: handlers run on the server's worker threads, several at
 * once; struct web_ctx is shared and read-only after start, except through
 * its own locked members.
 */
#ifndef VIGIL_WEB_HTTP_H
#define VIGIL_WEB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "util/buf.h"

enum web_role {
	WEB_PUBLIC = 0, /* no session needed (login page, assets, /healthz) */
	WEB_VIEWER,	/* watch footage, read reports */
	WEB_OPERATOR,	/* + export, holds, acknowledge and resolve tickets */
	WEB_ADMIN,	/* + users and the access log */
};

#define WEB_NAME_MAX 65
#define WEB_PARAMS_MAX 4

struct web_user {
	int64_t id;
	char name[WEB_NAME_MAX];
	enum web_role role;
	/* the cameras this user may see; ncameras 0: every camera */
	char (*cameras)[CATALOG_CAMERA_MAX];
	size_t ncameras;
	char language[8]; /* "en", "zh-CN", "" (the browser's) */
};

/* What every handler may use; owned by the server. */
struct web_ctx {
	const struct config *cfg;
	struct catalog *cat; /* the footage catalog, read-only */
	const char *ticket_db_path; /* [checker] database, may not exist */
	struct web_store *store; /* web.db: users, sessions, tokens, exports, access log */
};

struct web_request {
	const char *method; /* "GET", "POST", "HEAD" */
	const char *path;   /* without the query string, percent-decoded */
	const char *params[WEB_PARAMS_MAX]; /* the route's :name parts, in order */
	int nparams;
	const char *body; /* POST body (NUL-terminated), at most WEB_BODY_MAX */
	size_t body_len;
	const struct web_user *user; /* NULL on a WEB_PUBLIC route without a session */
	const char *remote;	     /* the client's address, for the access log */
	const char *language;	     /* "en" or "zh-CN": the user's, else Accept-Language */
	struct web_ctx *ctx;
	void *conn; /* the server's own; handlers do not touch it */
};

#define WEB_BODY_MAX (64 * 1024)

/* A query parameter or a request header, or NULL when absent. */
const char *web_query(const struct web_request *rq, const char *name);
const char *web_header(const struct web_request *rq, const char *name);

/* May this user see this camera?  (role and camera scope) */
bool web_may_see(const struct web_user *u, const char *camera);

/*
 * Answers.  A handler calls exactly one of these and returns its result
 * (0, or a negative errno when the answer could not be queued).  Every
 * answer carries the hardening headers (CSP default-src 'self',
 * X-Content-Type-Options, frame-ancestors 'none', and Cache-Control
 * no-store on /api/).
 */
int web_reply_json(struct web_request *rq, int status, struct buf *json);
/* {"error": message} with status 400, 401, 403, 404, 409, 416, 429 or 500 */
int web_reply_error(struct web_request *rq, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int web_reply_bytes(struct web_request *rq, int status, const char *content_type,
		    const void *data, size_t len, bool copy);
/* A file (or a range of it) sent from the file, never read into memory
 * whole; the server honours Range on it.  fd is taken over. */
int web_reply_file(struct web_request *rq, const char *content_type, int fd, int64_t size,
		   const char *download_name);

/*
 * A body made by a producer as the client reads it: fill writes up to max
 * bytes at position pos into out and returns how many (0: the end, < 0:
 * an error that aborts the response); free releases ctx.  total is the
 * length when it is known in advance (-1: chunked), so Range can be
 * honoured: the server answers 206 and asks fill for the range only.
 */
struct web_stream {
	int64_t total;
	long (*fill)(void *ctx, uint64_t pos, char *out, size_t max);
	void (*free)(void *ctx);
	void *ctx;
};
int web_reply_stream(struct web_request *rq, int status, const char *content_type,
		     const struct web_stream *stream, const char *download_name);

/* Sets a header on the answer the handler is about to give. */
void web_set_header(struct web_request *rq, const char *name, const char *value);

/* A row of the access log (hash-chained in web.db): who did what to which
 * camera over which interval.  what: "login", "login-failed", "view",
 * "live", "export", "hold", "release", "ack", "resolve", "user", ... */
int web_audit(struct web_request *rq, const char *what, const char *camera, int64_t from_us,
	      int64_t to_us, const char *detail);

typedef int (*web_handler)(struct web_request *rq);

struct web_route {
	const char *method;
	const char *pattern; /* "/api/cameras/:id/spans" */
	enum web_role role;
	bool changes_state; /* CSRF token or Bearer required */
	web_handler handler;
};

/* The route tables of the handler files, which server.c walks in order. */
extern const struct web_route web_api_routes[];	     /* api_*.c: JSON API */
extern const struct web_route web_playback_routes[]; /* playback.c: video.mp4, live.mp4 */
extern const struct web_route web_page_routes[];     /* pages.c: pages and assets */

#endif
