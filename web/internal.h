/*
 * Inside web/: what the server (server.c) hands a handler, and what the
 * parts share.  Not for other modules.
 *
 *   server.c    libmicrohttpd daemon, request parsing, the route table,
 *               sessions checked before a handler runs, errors as JSON
 *   store.c     the web database: users, sessions, tokens, login attempts,
 *               the access log (the only SQL of web/)
 *   accounts.c  password hashing (argon2id), login, sessions, CSRF, tokens,
 *               rate limiting, camera scope
 *   api*.c      the JSON API
 *   playback.c  video.mp4 and live.mp4 from the segment files
 *   pages.c     the pages and their assets, compiled into the binary
 *
 * Threads: libmicrohttpd runs a pool of threads; a handler may run on any
 * of them.  struct web is shared and read-only after start except through
 * the functions that lock (the catalog and ticket database take their own
 * locks; the web store takes its own).
 */
#ifndef VIGIL_WEB_INTERNAL_H
#define VIGIL_WEB_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/json.h"
#include "web/web.h"

struct catalog;
struct config;
struct ticket_db;
struct web_store;

struct web {
	const struct config *cfg;
	struct catalog *catalog;   /* read-write: holds are written through it */
	struct ticket_db *tickets; /* use web_tickets(): opened once the checker made it */
	pthread_mutex_t tickets_lock;
	struct web_store *store;
	bool tls;
	char url[192];
};

#define WEB_MAX_PARAMS 3
#define WEB_BODY_MAX (64 * 1024)

enum web_lang { WEB_LANG_EN = 0, WEB_LANG_ZH };

struct web_request {
	struct MHD_Connection *conn;
	struct web *web;
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* decoded, without the query */
	const char *body;   /* NUL-terminated; "" when none */
	size_t body_len;
	char addr[64]; /* the client's address */
	/* The path parts a route captured ({id}, {n}), in order. */
	const char *params[WEB_MAX_PARAMS];
	int nparams;
	/* Set by the server before a handler that needs a session runs. */
	struct web_user user;
	bool authenticated;
	bool via_token;
	enum web_lang lang; /* the user's setting, else Accept-Language */
};

/* The ticket database, opened on first use after the checker created it;
 * NULL while there is none. */
struct ticket_db *web_tickets(struct web *web);

/* A query parameter or request header, or NULL. */
const char *web_query(const struct web_request *r, const char *key);
const char *web_header(const struct web_request *r, const char *name);

/*
 * What a handler returns: the response has been queued (or will be) with
 * one of the reply functions below, which return MHD_YES/MHD_NO.  A handler
 * answers exactly once.
 */
typedef enum MHD_Result (*web_handler_fn)(struct web_request *r);

/* {"error": message} with status. */
enum MHD_Result web_reply_error(struct web_request *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A finished JSON document written with a struct json_writer into body;
 * takes the buffer's content. */
enum MHD_Result web_reply_json(struct web_request *r, unsigned status, struct buf *body);
/* Any bytes (copied), with a content type. */
enum MHD_Result web_reply_bytes(struct web_request *r, unsigned status, const char *type,
				const void *data, size_t len);
/* A prepared response: the server adds the common headers (no-store for
 * the API, the security headers) and queues it, then destroys it. */
enum MHD_Result web_reply_response(struct web_request *r, unsigned status,
				   struct MHD_Response *resp);

/* Starts a JSON body: jw_init_buf on b with a limit fit for API answers. */
void web_json_begin(struct json_writer *w, struct buf *b);

/* Parses a time parameter (RFC 3339, or what the command line accepts);
 * on failure answers 400 naming the parameter and returns false. */
bool web_time_param(struct web_request *r, const char *name, int64_t *us, bool required);

/* Whether the user may see camera id (limited users); false after answering
 * 403 naming the camera, or 404 when the camera is not configured. */
bool web_camera_allowed(struct web_request *r, const char *camera);
bool web_user_sees_camera(const struct web_user *u, const char *camera);
/* Whether the user's role reaches need; false after answering 403. */
bool web_role_at_least(struct web_request *r, enum web_role need);

/* Appends a row to the access log: action ("login", "view", "export",
 * "hold-add", "ticket-ack", ...), camera (or NULL), interval (0 0 when
 * none) and a short detail.  Failure is logged, never shown to the user. */
void web_audit(struct web_request *r, const char *action, const char *camera, int64_t from_us,
	       int64_t to_us, const char *detail);

/* ---- the store and sessions (store.c, accounts.c) --------------------- */

/* Opens [web] database (default STORAGE/web.db), creating and migrating it
 * when create; NULL with a message on failure. */
struct web_store *web_store_open(const struct config *cfg, bool create, char *err, size_t errlen);
void web_store_close(struct web_store **store);

/* Finds the session cookie or the Bearer token of r and fills r->user,
 * r->authenticated and r->via_token.  0 when authenticated, -EACCES when
 * there is none or it is expired or unknown. */
int web_authenticate(struct web_request *r);
/* For a state-changing request of a cookie session: whether X-CSRF-Token
 * matches the session's token.  Always true for a Bearer token. */
bool web_csrf_ok(const struct web_request *r);

/* ---- the route table, filled by each part ------------------------------ */

enum web_access {
	WEB_PUBLIC = 0, /* no session: /healthz, the login page and its assets */
	WEB_SESSION,	/* a session or a token; state-changing methods need CSRF */
};

struct web_route {
	const char *method;
	const char *pattern; /* "/api/cameras/{}/spans": {} captures one path part */
	enum web_access access;
	web_handler_fn handler;
};

/* Each part's routes, ending with a NULL method. */
extern const struct web_route web_api_routes[];
extern const struct web_route web_auth_routes[];
extern const struct web_route web_playback_routes[];
extern const struct web_route web_page_routes[];

#endif
