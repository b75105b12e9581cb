/*
 * The webhook sender (see webhook.h).  Its thread reads the outbox of the
 * ticket database (its own connection), oldest first and at most the head
 * row of each ticket, so a ticket's events reach the receiver in order;
 * each delivery is one or a few HTTP requests with libcurl, bounded by
 * [tickets] timeout_seconds.  A failed delivery is retried after 1 s,
 * doubling to 5 min; the row stays in the outbox until the receiver
 * accepts it, so neither an outage of the receiver nor a checker restart
 * loses an event.
 *
 * Duplicates.  Every request carries the event's idempotency key (the
 * Idempotency-Key header, and in the body), so a plain-JSON receiver drops
 * a retry it has already seen (it may answer 2xx or 409).  Ticket systems
 * ignore such keys, and the one request that must never be repeated there
 * is the creation: before it, the row is marked inflight (committed), and a
 * creation whose outcome is unknown (a timeout after sending, or a crash)
 * is followed, on the next attempt, by a search for the ticket's marker
 * before anything is created again.
 *
 * Formats:
 *   json     POST webhook_url {idempotency_key, event, ticket, text}
 *   glpi     GET initSession (App-Token, Authorization: user_token TOKEN),
 *            POST Ticket {"input": {...}} / PUT Ticket/ID, GET killSession
 *   zammad   POST /api/v1/tickets / PUT /api/v1/tickets/ID
 *            (Authorization: Token token=TOKEN)
 *   redmine  POST /issues.json / PUT /issues/ID.json (X-Redmine-API-Key)
 *
 * Thread safety: `stop` and `woken` are guarded by `lock`; the rest is the
 * sender thread's.
 */
#include "tickets/webhook.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickets/tickets.h"
#include "util/jread.h"
#include "tickets/tickets.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/redact.h"
#include "util/timefmt.h"
#include "util/version.h"
#include "util/banned.h"

#define BATCH 32
#define POLL_US USEC_PER_SEC
#define RETRY_MIN_US USEC_PER_SEC
#define RETRY_MAX_US (300 * USEC_PER_SEC)
#define RESPONSE_MAX (256 * 1024)
#define URL_MAX 2048

struct retry {
	int64_t id;
	int64_t due_mono;
};

struct webhook {
	const struct config *cfg;
	struct ticket_db *db;
	CURL *curl;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, woken;
	struct retry *retries;
	size_t nretries;
	char base[URL_MAX];  /* webhook_url without a trailing '/' */
	char shown[URL_MAX]; /* the same, redacted, for messages */
	struct buf body;
	struct buf resp;
	char session[256];		     /* GLPI Session-Token */
	struct metric *delivered, *failures; /* may be NULL */
};

/* What one HTTP exchange came to. */
struct reply {
	long status;	 /* 0: no answer */
	bool maybe_sent; /* the request may have reached the receiver */
	char why[256];
};

/* ---- HTTP --------------------------------------------------------------- */

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;
	if (buf_append(b, data, size * n) < 0)
		return 0; /* too large: curl fails the transfer */
	return size * n;
}

/* One request; body NULL for GET.  Returns 0 when an HTTP answer came
 * back (any status), -EIO otherwise; r says which. */
static int http(struct webhook *wh, const char *method, const char *url, struct curl_slist *headers,
		const char *body, struct reply *r)
{
	char shown[URL_MAX];
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	buf_reset(&wh->resp);
	curl_easy_reset(wh->curl);
	curl_easy_setopt(wh->curl, CURLOPT_URL, url);
	curl_easy_setopt(wh->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(wh->curl, CURLOPT_TIMEOUT, (long)wh->cfg->webhook_timeout_seconds);
	curl_easy_setopt(wh->curl, CURLOPT_CONNECTTIMEOUT, (long)wh->cfg->webhook_timeout_seconds);
	curl_easy_setopt(wh->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(wh->curl, CURLOPT_USERAGENT, vigil_user_agent);
	curl_easy_setopt(wh->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(wh->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(wh->curl, CURLOPT_WRITEDATA, &wh->resp);
	if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(wh->curl, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(wh->curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(wh->curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
	}
	rc = curl_easy_perform(wh->curl);
	if (rc != CURLE_OK) {
		redact_url(url, shown, sizeof(shown));
		snprintf(r->why, sizeof(r->why), "%.6s %.160s: %s", method, shown,
			 curl_easy_strerror(rc));
		redact_scrub(r->why, sizeof(r->why));
		/* before the connection there is nothing the receiver could have seen */
		r->maybe_sent = rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST &&
				rc != CURLE_COULDNT_RESOLVE_PROXY &&
				rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT;
		return -EIO;
	}
	curl_easy_getinfo(wh->curl, CURLINFO_RESPONSE_CODE, &r->status);
	/* a refusal (4xx) means nothing was made; after a server error (5xx:
	 * perhaps a proxy that gave up on the server) nobody knows */
	r->maybe_sent = r->status >= 500;
	if (r->status < 200 || r->status > 299) {
		char text[96];
		redact_url(url, shown, sizeof(shown));
		snprintf(text, sizeof(text), "%.80s", wh->resp.data ? wh->resp.data : "");
		for (char *p = text; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
		snprintf(r->why, sizeof(r->why), "%.6s %.120s: HTTP %ld %s", method, shown,
			 r->status, text);
		redact_scrub(r->why, sizeof(r->why));
	}
	return 0;
}

static bool ok(const struct reply *r)
{
	return r->status >= 200 && r->status <= 299;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static struct curl_slist *add_header(struct curl_slist *h, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one header, never two: what the values came from was checked, this
	 * is the last guard */
	line[strcspn(line, "\r\n")] = '\0';
	struct curl_slist *n = curl_slist_append(h, line);
	return n ? n : h;
}

/* Headers every format sends, plus its own credentials. */
static struct curl_slist *base_headers(struct webhook *wh, const char *key)
{
	const char *token = wh->cfg->webhook_token;
	struct curl_slist *h = add_header(NULL, "Content-Type: application/json");
	h = add_header(h, "Accept: application/json");
	h = add_header(h, "Idempotency-Key: %s", key);
	switch (wh->cfg->webhook_format) {
	case WEBHOOK_JSON:
		if (token)
			h = add_header(h, "Authorization: Bearer %s", token);
		break;
	case WEBHOOK_GLPI:
		if (wh->cfg->webhook_app_token)
			h = add_header(h, "App-Token: %s", wh->cfg->webhook_app_token);
		if (wh->session[0])
			h = add_header(h, "Session-Token: %s", wh->session);
		break;
	case WEBHOOK_ZAMMAD:
		if (token)
			h = add_header(h, "Authorization: Token token=%s", token);
		break;
	case WEBHOOK_REDMINE:
		if (token)
			h = add_header(h, "X-Redmine-API-Key: %s", token);
		break;
	}
	return h;
}

/*
 * What a ticket system answers goes back into URL paths (/Ticket/ID) and
 * headers (Session-Token): an id must be a plain token (letters, digits,
 * '-', '_'), so that "1/../../User" or "1?x=" cannot steer the request; a
 * session token printable ASCII without spaces, so that CR/LF cannot add a
 * header.
 */
static bool plain_token(const char *s)
{
	if (!*s)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (!isalnum(*p) && *p != '-' && *p != '_')
			return false;
	return true;
}

static bool header_token(const char *s)
{
	if (!*s)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	return true;
}

/* Refuses an id the ticket system answered that is not a plain token. */
static int check_id(const char *id, struct reply *r)
{
	char shown[40];
	if (plain_token(id))
		return 0;
	snprintf(shown, sizeof(shown), "%.32s", id);
	redact_clean_controls(shown);
	snprintf(r->why, sizeof(r->why),
		 "the ticket system answered a ticket id '%s' that is not a plain token", shown);
	return -EIO;
}

/* A string or integer at path in the last answer; 0 or -ENOENT. */
static int answer(struct webhook *wh, const char *path, char *out, size_t size)
{
	return jread_scalar(wh->resp.data, wh->resp.len, path, out, size) == 0 ? 0 : -ENOENT;
}

/* ---- what is sent ------------------------------------------------------- */

/* The text every ticket system gets: the sentence, the facts, the marker
 * that finds the ticket again, and the event's key. */
struct console_of {
	const char *recorder;
	char url[TICKET_URL_MAX];
};

static int match_console(const struct ticket_recorder *r, void *ctx)
{
	struct console_of *c = ctx;
	if (strcmp(r->recorder, c->recorder) != 0)
		return 0;
	snprintf(c->url, sizeof(c->url), "%s", r->console_url);
	return 1;
}

/*
 * A picture ticket links the picture that raised it: the latest inspection
 * picture on the console of the camera's recorder (from its inventory),
 * which the checker itself never holds.  "" when the recorder serves no
 * console or the ticket is not about a picture.
 */
static void snapshot_url(struct webhook *wh, const struct ticket *t, char *out, size_t size)
{
	out[0] = '\0';
	if (!t->camera[0] || (t->kind != TICKET_PICTURE_BLACK && t->kind != TICKET_PICTURE_FROZEN &&
			      t->kind != TICKET_PICTURE_COVERED && t->kind != TICKET_VIEW_MOVED))
		return;
	struct console_of c = { .recorder = t->recorder };
	if (ticket_db_recorders_each(wh->db, match_console, &c) < 0 || !c.url[0])
		return;
	size_t n = strlen(c.url);
	snprintf(out, size, "%s%sapi/cameras/%s/picture.jpg", c.url,
		 n && c.url[n - 1] == '/' ? "" : "/", t->camera);
}

static void describe(struct webhook *wh, const struct ticket *t, const struct ticket_event *ev,
		     char *out, size_t size)
{
	char text[1024], facts[1024], start[40];
	enum ticket_lang lang = (enum ticket_lang)wh->cfg->tickets_language;
	ticket_text_lang(t, clock_wall_us(), lang, text, sizeof(text));
	time_format_utc_s(t->fault_start_us, start, sizeof(start));
	/* the facts in the technician's language; the marker lines stay as
	 * they are, since the search for a lost creation looks for them */
	snprintf(facts, sizeof(facts),
		 ticket_tr(lang, "Recorder: %s\nCamera: %s\nSite: %s\nLocation: %s\nLevel: %d\n"
				 "Fault since: %s\n"),
		 t->recorder, t->camera[0] ? t->camera : "-", t->site[0] ? t->site : "-",
		 t->location[0] ? t->location : "-", t->level, start);
	char snap[TICKET_URL_MAX + 128], line[TICKET_URL_MAX + 160] = "";
	snapshot_url(wh, t, snap, sizeof(snap));
	if (snap[0])
		snprintf(line, sizeof(line), "%s: %s\n", ticket_tr(lang, "Picture"), snap);
	snprintf(out, size,
		 "%.1000s\n\n%.900s%.400svigil ticket: vigil-%s-t%" PRId64 "\nvigil event: %s",
		 text, facts, line, ticket_db_instance(wh->db), t->id, ev->key);
	redact_scrub(out, size);
}

static void marker(struct webhook *wh, const struct ticket *t, char *out, size_t size)
{
	snprintf(out, size, "vigil-%s-t%" PRId64, ticket_db_instance(wh->db), t->id);
}

/* A note for an update: what happened, in words. */
static void event_note(struct webhook *wh, const struct ticket *t, const struct ticket_event *ev,
		       char *out, size_t size)
{
	char text[1024];
	enum ticket_lang lang = (enum ticket_lang)wh->cfg->tickets_language;
	const char *colon = ev->note[0] ? ticket_tr(lang, ": ") : "";
	ticket_text_lang(t, clock_wall_us(), lang, text, sizeof(text));
	switch (ev->kind) {
	case TICKET_EV_ESCALATED:
		snprintf(out, size, ticket_tr(lang, "Escalated to level %d. %s"), ev->level, text);
		break;
	case TICKET_EV_ACKNOWLEDGED:
		snprintf(out, size, ticket_tr(lang, "Acknowledged by %s%s%s. %s"), ev->actor, colon,
			 ev->note, text);
		break;
	case TICKET_EV_RESOLVED:
		snprintf(out, size, ticket_tr(lang, "Resolved by %s%s%s. %s"), ev->actor, colon,
			 ev->note, text);
		break;
	case TICKET_EV_REOPENED:
		snprintf(out, size, ticket_tr(lang, "Reopened: the fault went on. %s"), text);
		break;
	default: snprintf(out, size, "%s", text);
	}
	redact_scrub(out, size);
}

static int send_json(struct webhook *wh, const struct ticket *t, const struct ticket_event *ev,
		     struct reply *r)
{
	struct json_writer w;
	char text[1024];
	buf_reset(&wh->body);
	jw_init_buf(&w, &wh->body);
	jw_begin_object(&w);
	jw_kv_string(&w, "idempotency_key", ev->key);
	jw_kv_string(&w, "source", "vigil");
	jw_kv_string(&w, "instance", ticket_db_instance(wh->db));
	jw_key(&w, "event");
	ticket_event_json(&w, ev);
	jw_key(&w, "ticket");
	ticket_json_lang(&w, t, clock_wall_us(), (enum ticket_lang)wh->cfg->tickets_language);
	ticket_text_lang(t, clock_wall_us(), (enum ticket_lang)wh->cfg->tickets_language, text,
			 sizeof(text));
	jw_kv_string(&w, "text", text);
	char snap[TICKET_URL_MAX + 128];
	snapshot_url(wh, t, snap, sizeof(snap));
	if (snap[0])
		jw_kv_string(&w, "snapshot_url", snap);
	jw_end_object(&w);
	if (jw_finish(&w) < 0) {
		snprintf(r->why, sizeof(r->why), "event too large");
		return -E2BIG;
	}
	struct curl_slist *h = base_headers(wh, ev->key);
	int ret = http(wh, "POST", wh->base, h, wh->body.data, r);
	curl_slist_free_all(h);
	if (ret < 0)
		return ret;
	/* 409: the receiver already has this key */
	return ok(r) || r->status == 409 ? 0 : -EIO;
}

static const char *project(const struct config *cfg, const char *def)
{
	return cfg->webhook_project && *cfg->webhook_project ? cfg->webhook_project : def;
}

/* Level to each system's priority scale. */
static int glpi_priority(int level)
{
	static const int p[] = { 3, 6, 5, 4, 3 };
	return level >= 1 && level <= 4 ? p[level] : 3;
}

static int glpi_urgency(int level)
{
	static const int u[] = { 3, 5, 5, 4, 3 };
	return level >= 1 && level <= 4 ? u[level] : 3;
}

static int zammad_priority(int level)
{
	return level <= 2 ? 3 : 2;
}

static int redmine_priority(int level)
{
	static const int p[] = { 2, 5, 4, 3, 2 };
	return level >= 1 && level <= 4 ? p[level] : 2;
}

static void url_join(struct webhook *wh, char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void url_join(struct webhook *wh, char *out, size_t size, const char *fmt, ...)
{
	char path[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	snprintf(out, size, "%.1000s%.1000s", wh->base, path);
}

/* Reads the id of a created ticket out of the response; 0 or -EIO. */
static int created_id(struct webhook *wh, char *id, size_t size, struct reply *r)
{
	const char *path = wh->cfg->webhook_format == WEBHOOK_REDMINE ? "issue.id" : "id";
	if (answer(wh, path, id, size) == 0) {
		/* made, but with an id we will not use: the retry looks for it
		 * rather than making another */
		r->maybe_sent = !plain_token(id);
		return check_id(id, r);
	}
	snprintf(r->why, sizeof(r->why), "the answer to the creation has no ticket id");
	return -EIO;
}

/* After a creation of unknown outcome: does the system hold the ticket
 * already?  0 with *id set when found, -ENOENT when not, -EIO when the
 * search itself failed. */
static int search_existing(struct webhook *wh, const struct ticket *t, const char *key, char *id,
			   size_t size, struct reply *r)
{
	char mark[64], url[URL_MAX];
	marker(wh, t, mark, sizeof(mark));
	char *q = curl_easy_escape(wh->curl, mark, 0);
	if (!q)
		return -ENOMEM;
	switch (wh->cfg->webhook_format) {
	case WEBHOOK_GLPI:
		url_join(wh, url, sizeof(url),
			 "/search/Ticket?criteria[0][field]=21&criteria[0][searchtype]=contains"
			 "&criteria[0][value]=%s&forcedisplay[0]=2",
			 q);
		break;
	case WEBHOOK_ZAMMAD:
		url_join(wh, url, sizeof(url), "/api/v1/tickets/search?query=%s&limit=1", q);
		break;
	default:
		url_join(wh, url, sizeof(url), "/issues.json?status_id=*&description=~%s&limit=1",
			 q);
		break;
	}
	curl_free(q);
	struct curl_slist *h = base_headers(wh, key);
	int ret = http(wh, "GET", url, h, NULL, r);
	curl_slist_free_all(h);
	if (ret < 0)
		return ret;
	if (!ok(r))
		return -EIO;
	const char *path = wh->cfg->webhook_format == WEBHOOK_GLPI     ? "data.0.2"
			   : wh->cfg->webhook_format == WEBHOOK_ZAMMAD ? "tickets.0"
								       : "issues.0.id";
	if ((ret = answer(wh, path, id, size)) < 0)
		return ret;
	return check_id(id, r);
}

/* Sends the body built in wh->body; 0 when the answer is 2xx. */
static int send_body(struct webhook *wh, const char *method, const char *url, const char *key,
		     struct json_writer *w, struct reply *r)
{
	if (jw_finish(w) < 0) {
		snprintf(r->why, sizeof(r->why), "request too large");
		return -E2BIG;
	}
	struct curl_slist *h = base_headers(wh, key);
	int ret = http(wh, method, url, h, wh->body.data, r);
	curl_slist_free_all(h);
	if (ret < 0)
		return ret;
	return ok(r) ? 0 : -EIO;
}

/* The creation request of each system. */
static int create_external(struct webhook *wh, const struct ticket *t,
			   const struct ticket_event *ev, char *id, size_t size, struct reply *r)
{
	char title[512], text[3072], url[URL_MAX];
	struct json_writer w;
	int ret;

	ticket_title_lang(t, (enum ticket_lang)wh->cfg->tickets_language, title, sizeof(title));
	describe(wh, t, ev, text, sizeof(text));
	buf_reset(&wh->body);
	jw_init_buf(&w, &wh->body);
	jw_begin_object(&w);
	switch (wh->cfg->webhook_format) {
	case WEBHOOK_GLPI:
		url_join(wh, url, sizeof(url), "/Ticket");
		jw_key(&w, "input");
		jw_begin_object(&w);
		jw_kv_string(&w, "name", title);
		jw_kv_string(&w, "content", text);
		jw_kv_int(&w, "urgency", glpi_urgency(t->level));
		jw_kv_int(&w, "priority", glpi_priority(t->level));
		jw_kv_int(&w, "status", 1); /* new */
		jw_kv_int(&w, "type", 1);   /* incident */
		jw_end_object(&w);
		break;
	case WEBHOOK_ZAMMAD: {
		char customer[256];
		snprintf(customer, sizeof(customer), "guess:%s",
			 wh->cfg->webhook_customer && *wh->cfg->webhook_customer
				 ? wh->cfg->webhook_customer
				 : "vigil@localhost");
		url_join(wh, url, sizeof(url), "/api/v1/tickets");
		jw_kv_string(&w, "title", title);
		jw_kv_string(&w, "group", project(wh->cfg, "Users"));
		jw_kv_string(&w, "customer_id", customer);
		jw_kv_int(&w, "priority_id", zammad_priority(t->level));
		jw_kv_string(&w, "state", "new");
		jw_key(&w, "article");
		jw_begin_object(&w);
		jw_kv_string(&w, "subject", title);
		jw_kv_string(&w, "body", text);
		jw_kv_string(&w, "type", "note");
		jw_kv_string(&w, "content_type", "text/plain");
		jw_kv_bool(&w, "internal", false);
		jw_end_object(&w);
		break;
	}
	default:
		url_join(wh, url, sizeof(url), "/issues.json");
		jw_key(&w, "issue");
		jw_begin_object(&w);
		jw_kv_string(&w, "project_id", project(wh->cfg, "vigil"));
		jw_kv_string(&w, "subject", title);
		jw_kv_string(&w, "description", text);
		jw_kv_int(&w, "priority_id", redmine_priority(t->level));
		jw_end_object(&w);
		break;
	}
	jw_end_object(&w);
	if ((ret = send_body(wh, "POST", url, ev->key, &w, r)) < 0)
		return ret;
	return created_id(wh, id, size, r);
}

/* The update request of each system for an event after the creation. */
static int update_external(struct webhook *wh, const struct ticket *t,
			   const struct ticket_event *ev, struct reply *r)
{
	char note[1536], url[URL_MAX];
	struct json_writer w;
	const char *id = t->external_id;
	int ret;

	/* stored before ids were checked, or by another version */
	if ((ret = check_id(id, r)) < 0)
		return ret;
	event_note(wh, t, ev, note, sizeof(note));
	buf_reset(&wh->body);
	jw_init_buf(&w, &wh->body);
	jw_begin_object(&w);
	switch (wh->cfg->webhook_format) {
	case WEBHOOK_GLPI:
		url_join(wh, url, sizeof(url), "/Ticket/%s", id);
		jw_key(&w, "input");
		jw_begin_object(&w);
		jw_kv_int(&w, "id", strtoll(id, NULL, 10));
		if (ev->kind == TICKET_EV_ESCALATED) {
			jw_kv_int(&w, "urgency", glpi_urgency(ev->level));
			jw_kv_int(&w, "priority", glpi_priority(ev->level));
		} else {
			/* 5 solved, 2 processing (assigned) */
			jw_kv_int(&w, "status", ev->kind == TICKET_EV_RESOLVED ? 5 : 2);
		}
		jw_end_object(&w);
		break;
	case WEBHOOK_ZAMMAD:
		url_join(wh, url, sizeof(url), "/api/v1/tickets/%s", id);
		jw_kv_string(&w, "state", ev->kind == TICKET_EV_RESOLVED ? "closed" : "open");
		jw_kv_int(&w, "priority_id", zammad_priority(ev->level));
		jw_key(&w, "article");
		jw_begin_object(&w);
		jw_kv_string(&w, "subject", ticket_event_kind_name(ev->kind));
		jw_kv_string(&w, "body", note);
		jw_kv_string(&w, "type", "note");
		jw_kv_string(&w, "content_type", "text/plain");
		jw_kv_bool(&w, "internal", false);
		jw_end_object(&w);
		break;
	default:
		url_join(wh, url, sizeof(url), "/issues/%s.json", id);
		jw_key(&w, "issue");
		jw_begin_object(&w);
		jw_kv_string(&w, "notes", note);
		jw_kv_int(&w, "priority_id", redmine_priority(ev->level));
		if (ev->kind != TICKET_EV_ESCALATED)
			/* 3 resolved, 2 in progress */
			jw_kv_int(&w, "status_id", ev->kind == TICKET_EV_RESOLVED ? 3 : 2);
		jw_end_object(&w);
		break;
	}
	jw_end_object(&w);
	return send_body(wh, "PUT", url, ev->key, &w, r);
}

static int glpi_init(struct webhook *wh, const char *key, struct reply *r)
{
	char url[URL_MAX];
	url_join(wh, url, sizeof(url), "/initSession");
	wh->session[0] = '\0';
	struct curl_slist *h = base_headers(wh, key);
	if (wh->cfg->webhook_token)
		h = add_header(h, "Authorization: user_token %s", wh->cfg->webhook_token);
	int ret = http(wh, "GET", url, h, NULL, r);
	curl_slist_free_all(h);
	r->maybe_sent = false; /* nothing is created by a session */
	if (ret < 0)
		return ret;
	if (!ok(r))
		return -EIO;
	if (answer(wh, "session_token", wh->session, sizeof(wh->session)) == 0) {
		if (header_token(wh->session))
			return 0;
		wh->session[0] = '\0';
		snprintf(r->why, sizeof(r->why),
			 "GLPI initSession answered a session_token with spaces or control "
			 "characters");
		return -EIO;
	}
	snprintf(r->why, sizeof(r->why), "GLPI initSession answered without a session_token");
	return -EIO;
}

static void glpi_kill(struct webhook *wh, const char *key)
{
	char url[URL_MAX];
	struct reply r;
	if (!wh->session[0])
		return;
	url_join(wh, url, sizeof(url), "/killSession");
	struct curl_slist *h = base_headers(wh, key);
	http(wh, "GET", url, h, NULL, &r);
	curl_slist_free_all(h);
	wh->session[0] = '\0';
}

/* Delivers one event to a ticket system.  *skipped: there was nothing to
 * update (no external ticket). */
static int send_api(struct webhook *wh, const struct ticket_outbox *row, const struct ticket *t,
		    const struct ticket_event *ev, struct reply *r, bool *skipped)
{
	char id[TICKET_ID_MAX];
	int ret;
	bool create = ev->kind == TICKET_EV_OPENED && !t->external_id[0];

	if (!create && !t->external_id[0]) {
		*skipped = true; /* its creation was never delivered */
		return 0;
	}
	if (ev->kind == TICKET_EV_OPENED && !create)
		return 0; /* created already (found by a search) */
	if (wh->cfg->webhook_format == WEBHOOK_GLPI && (ret = glpi_init(wh, ev->key, r)) < 0)
		return ret;
	if (create) {
		ret = -ENOENT;
		if (row->inflight) {
			ret = search_existing(wh, t, ev->key, id, sizeof(id), r);
			if (ret == 0)
				log_info("webhook: ticket %" PRId64
					 " was already created as %s '%s'",
					 t->id, config_webhook_format_name(wh->cfg->webhook_format),
					 id);
		}
		if (ret == -ENOENT)
			ret = create_external(wh, t, ev, id, sizeof(id), r);
		if (ret == 0)
			ret = ticket_db_set_external(
				wh->db, t->id, config_webhook_format_name(wh->cfg->webhook_format),
				id);
	} else {
		ret = update_external(wh, t, ev, r);
	}
	if (wh->cfg->webhook_format == WEBHOOK_GLPI)
		glpi_kill(wh, ev->key);
	return ret;
}

/* ---- the outbox --------------------------------------------------------- */

static struct retry *retry_find(struct webhook *wh, int64_t id)
{
	for (size_t i = 0; i < wh->nretries; i++)
		if (wh->retries[i].id == id)
			return &wh->retries[i];
	return NULL;
}

static void retry_forget(struct webhook *wh, int64_t id)
{
	struct retry *r = retry_find(wh, id);
	if (r)
		*r = wh->retries[--wh->nretries];
}

static int64_t retry_set(struct webhook *wh, int64_t id, int attempts)
{
	int64_t delay = RETRY_MIN_US;
	for (int i = 1; i < attempts && delay < RETRY_MAX_US; i++)
		delay *= 2;
	if (delay > RETRY_MAX_US)
		delay = RETRY_MAX_US;
	struct retry *r = retry_find(wh, id);
	if (!r) {
		struct retry *p = realloc(wh->retries, (wh->nretries + 1) * sizeof(*p));
		if (!p)
			return delay;
		wh->retries = p;
		r = &wh->retries[wh->nretries++];
		r->id = id;
	}
	r->due_mono = clock_mono_us() + delay;
	return delay;
}

/* An outbox write that failed: logged, and the row is tried again later. */
static void warn_outbox(int ret, int64_t id)
{
	if (ret < 0)
		log_warnx("webhook: cannot update outbox row %" PRId64 ": %s", id, db_errmsg(ret));
}

static void deliver(struct webhook *wh, const struct ticket_outbox *row)
{
	struct ticket t;
	struct ticket_event ev;
	struct reply r = { 0 };
	bool skipped = false;
	int ret;

	if (ticket_db_get(wh->db, row->ticket_id, &t) < 0 ||
	    ticket_db_event_get(wh->db, row->event_id, &ev) < 0) {
		warn_outbox(ticket_db_outbox_done(wh->db, row->id, clock_wall_us(), true), row->id);
		return;
	}
	if (strcmp(row->format, config_webhook_format_name(wh->cfg->webhook_format)) != 0) {
		log_warnx("webhook: event %s was queued for %s, the webhook is now %s: skipped",
			  ev.key, row->format, config_webhook_format_name(wh->cfg->webhook_format));
		warn_outbox(ticket_db_outbox_done(wh->db, row->id, clock_wall_us(), true), row->id);
		return;
	}
	/* a creation is inflight from here: should it time out or should we
	 * crash, the next attempt searches before it creates */
	bool creating = wh->cfg->webhook_format != WEBHOOK_JSON && ev.kind == TICKET_EV_OPENED &&
			!t.external_id[0];
	warn_outbox(ticket_db_outbox_attempt(wh->db, row->id, clock_wall_us(), creating), row->id);
	if (wh->cfg->webhook_format == WEBHOOK_JSON)
		ret = send_json(wh, &t, &ev, &r);
	else
		ret = send_api(wh, row, &t, &ev, &r, &skipped);
	if (ret == 0) {
		warn_outbox(ticket_db_outbox_done(wh->db, row->id, clock_wall_us(), skipped),
			    row->id);
		retry_forget(wh, row->id);
		metric_inc(wh->delivered);
		log_debug("webhook: event %s (ticket %" PRId64 " %s) delivered%s", ev.key, t.id,
			  ticket_event_kind_name(ev.kind), skipped ? " (nothing to update)" : "");
		return;
	}
	if (!r.why[0])
		snprintf(r.why, sizeof(r.why), "%s", db_errmsg(ret));
	warn_outbox(ticket_db_outbox_failed(wh->db, row->id, r.why,
					    creating && (r.maybe_sent || row->inflight)),
		    row->id);
	int64_t delay = retry_set(wh, row->id, row->attempts + 1);
	metric_inc(wh->failures);
	log_warnx("webhook: cannot deliver event %s (ticket %" PRId64 " %s) to '%s': %s; retrying "
		  "in %" PRId64 " s",
		  ev.key, t.id, ticket_event_kind_name(ev.kind), wh->shown, r.why,
		  delay / USEC_PER_SEC);
}

static void *webhook_main(void *arg)
{
	struct webhook *wh = arg;
	struct ticket_outbox rows[BATCH];

	for (;;) {
		pthread_mutex_lock(&wh->lock);
		bool stop = wh->stop;
		wh->woken = false;
		pthread_mutex_unlock(&wh->lock);
		if (stop)
			break;

		int64_t next = clock_mono_us() + POLL_US;
		int n = ticket_db_outbox_pending(wh->db, rows, BATCH);
		if (n < 0)
			log_warnx("webhook: cannot read the outbox: %s", db_errmsg(n));
		for (int i = 0; i < n; i++) {
			struct retry *r = retry_find(wh, rows[i].id);
			if (r && r->due_mono > clock_mono_us()) {
				if (r->due_mono < next)
					next = r->due_mono;
				continue;
			}
			deliver(wh, &rows[i]);
			pthread_mutex_lock(&wh->lock);
			stop = wh->stop;
			pthread_mutex_unlock(&wh->lock);
			if (stop)
				break;
			next = clock_mono_us(); /* look again: the ticket's next row */
		}

		struct timespec until = { .tv_sec = next / USEC_PER_SEC,
					  .tv_nsec = (next % USEC_PER_SEC) * 1000 };
		pthread_mutex_lock(&wh->lock);
		while (!wh->stop && !wh->woken && clock_mono_us() < next)
			if (pthread_cond_timedwait(&wh->cond, &wh->lock, &until) == ETIMEDOUT)
				break;
		pthread_mutex_unlock(&wh->lock);
	}
	return NULL;
}

struct webhook *webhook_new(const struct config *cfg, char *err, size_t errlen)
{
	struct webhook *wh = calloc(1, sizeof(*wh));
	pthread_condattr_t attr;

	if (!wh) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	wh->cfg = cfg;
	pthread_mutex_init(&wh->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wh->cond, &attr);
	pthread_condattr_destroy(&attr);
	buf_init(&wh->body, 64 * 1024);
	buf_init(&wh->resp, RESPONSE_MAX);
	snprintf(wh->base, sizeof(wh->base), "%s", cfg->webhook_url);
	size_t len = strlen(wh->base);
	while (len > 0 && wh->base[len - 1] == '/')
		wh->base[--len] = '\0';
	redact_url(wh->base, wh->shown, sizeof(wh->shown));
	if (cfg->webhook_format != WEBHOOK_JSON && !cfg->webhook_token)
		log_warnx("webhook: [tickets] webhook_format %s without token_file or token_env: "
			  "the ticket system will likely refuse",
			  config_webhook_format_name(cfg->webhook_format));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(wh->curl = curl_easy_init())) {
		snprintf(err, errlen, "cannot set up libcurl");
		webhook_free(&wh);
		return NULL;
	}
	wh->db = ticket_db_open(cfg->checker_database, CATALOG_READ_WRITE,
				config_webhook_format_name(cfg->webhook_format), err, errlen);
	if (!wh->db) {
		webhook_free(&wh);
		return NULL;
	}
	return wh;
}

int webhook_start(struct webhook *wh)
{
	int ret = pthread_create(&wh->thread, NULL, webhook_main, wh);
	if (ret != 0) {
		log_warnx("webhook: cannot start its thread: %s", strerror(ret));
		return -ret;
	}
	wh->started = true;
	log_info("webhook: delivering ticket events to '%s' (%s)", wh->shown,
		 config_webhook_format_name(wh->cfg->webhook_format));
	return 0;
}

void webhook_set_metrics(struct webhook *wh, struct metric *delivered, struct metric *failures)
{
	wh->delivered = delivered;
	wh->failures = failures;
}

void webhook_wake(struct webhook *wh)
{
	pthread_mutex_lock(&wh->lock);
	wh->woken = true;
	pthread_cond_signal(&wh->cond);
	pthread_mutex_unlock(&wh->lock);
}

void webhook_stop(struct webhook *wh)
{
	if (!wh->started)
		return;
	pthread_mutex_lock(&wh->lock);
	wh->stop = true;
	pthread_cond_signal(&wh->cond);
	pthread_mutex_unlock(&wh->lock);
	pthread_join(wh->thread, NULL);
	wh->started = false;
}

void webhook_free(struct webhook **whp)
{
	struct webhook *wh = *whp;
	if (!wh)
		return;
	webhook_stop(wh);
	if (wh->curl)
		curl_easy_cleanup(wh->curl);
	ticket_db_close(&wh->db);
	buf_release(&wh->body);
	buf_release(&wh->resp);
	free(wh->retries);
	pthread_mutex_destroy(&wh->lock);
	pthread_cond_destroy(&wh->cond);
	free(wh);
	*whp = NULL;
}
