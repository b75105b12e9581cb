/*
 * tickets/ owns a ticket's life, from a health message to a ticket and its
 * sinks: parsing what recorders publish (parse.h), the fault rules and
 * levels (rules.h, and the pure rules below), the checker that turns
 * faults into tickets (`vigil check`), the ticket store (store.c) and the
 * sinks (MQTT, the webhook and GLPI, Zammad, Redmine: webhook.h).  This
 * header is its public face, in that order of sections: the store, the
 * rules, how a ticket reads, the checker, a person's part.
 *
 * The ticket database's SQL lives in tickets/store.c, the second owner of
 * SQL beside catalog/ (DESIGN.md allows it), built on util/db.h as the
 * catalog is; nothing else in tickets/ builds a query.
 *
 * The ticket database: tickets, their events, the webhook outbox and the
 * checker's state, in their own SQLite file ([checker] database).  The
 * checker, the tickets command and the reports call the functions below.
 *
 * INVARIANTS
 *  T1. At most one ticket per fault (kind, recorder, camera) is not
 *      resolved; a unique index enforces it, so no restart can duplicate.
 *  T2. Every change to a ticket is one transaction with its event row, and,
 *      when the database was opened with an outbox format, with the event's
 *      outbox row: an event is never lost between the ticket and the sinks.
 *  T3. A ticket's level only goes down in number (escalates); its times are
 *      set once (acknowledged_us, resolved_us), except that reopening a
 *      resolved ticket clears resolved_us and fault_end_us.
 *
 * Thread safety: one struct ticket_db is used by one thread at a time; a
 * second thread opens its own (SQLite in WAL mode lets them share the
 * file, and the busy timeout lets writers wait for each other).
 */
#ifndef VIGIL_TICKETS_TICKETS_H
#define VIGIL_TICKETS_TICKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <signal.h>

#include "catalog/catalog.h"
#include "util/sha256.h"
#include "config/config.h"
#include "util/json.h"
#include "util/metrics.h"

struct ticket_db;

#define TICKET_ID_MAX 65    /* recorder and camera ids: 64 characters */
#define TICKET_TEXT_MAX 129 /* site, location */
#define TICKET_DETAIL_MAX 256
#define TICKET_KEY_MAX 64 /* idempotency keys */

enum ticket_kind {
	TICKET_CAMERA_DOWN = 0,
	TICKET_CAMERA_DEGRADED,
	TICKET_RECORDER_OFFLINE,
	TICKET_STORAGE_ERROR,
	TICKET_RETENTION_AT_RISK,
	TICKET_SITE_UNREACHABLE, /* a site's link to the central broker is down */
	TICKET_PICTURE_BLACK,	 /* picture inspection: degraded service */
	TICKET_PICTURE_FROZEN,
	TICKET_PICTURE_COVERED, /* covered, sprayed or out of focus */
	TICKET_VIEW_MOVED,
	TICKET_CAMERA_CLOCK, /* the camera's clock is off the recorder's */
	TICKET_KIND_COUNT,
};

enum ticket_state {
	TICKET_OPEN = 0,
	TICKET_ACKNOWLEDGED,
	TICKET_RESOLVED,
};

enum ticket_event_kind {
	TICKET_EV_OPENED = 0,
	TICKET_EV_ESCALATED,
	TICKET_EV_ACKNOWLEDGED,
	TICKET_EV_RESOLVED,
	TICKET_EV_REOPENED,
};

struct ticket {
	int64_t id;
	enum ticket_kind kind;
	int level;
	enum ticket_state state;
	char recorder[TICKET_ID_MAX];
	char camera[TICKET_ID_MAX]; /* "" for a recorder-wide fault */
	char site[TICKET_TEXT_MAX];
	char location[TICKET_TEXT_MAX];
	int64_t fault_start_us;
	int64_t fault_end_us; /* -1 while the fault lasts */
	int64_t opened_us;
	int64_t escalated_us;	 /* -1: never */
	int64_t acknowledged_us; /* -1: not yet */
	char acknowledged_by[TICKET_ID_MAX];
	int64_t resolved_us; /* -1: open */
	char resolved_by[TICKET_ID_MAX];
	char detail[TICKET_DETAIL_MAX];
	char external_id[TICKET_ID_MAX]; /* "" until a ticket system gave one */
	char external_system[16];
};

struct ticket_event {
	int64_t id;
	int64_t ticket_id;
	enum ticket_event_kind kind;
	int64_t at_us;
	int level;
	char actor[TICKET_ID_MAX];
	char note[TICKET_DETAIL_MAX];
	char key[TICKET_KEY_MAX]; /* idempotency key */
};

/* A fault episode the checker is timing (see tickets/rules.h). */
struct ticket_fault {
	enum ticket_kind kind;
	char recorder[TICKET_ID_MAX];
	char camera[TICKET_ID_MAX];
	bool active;
	int64_t start_us;
	int64_t clear_since_us;	      /* -1 while active */
	int64_t ticket_id;	      /* 0: none yet */
	int64_t operator_resolved_us; /* -1 unless a person resolved it early */
	int level;		      /* 0 without a ticket */
	char site[TICKET_TEXT_MAX];
	char location[TICKET_TEXT_MAX];
	char detail[TICKET_DETAIL_MAX];
	int64_t held_by; /* the root cause's ticket holding this one back; 0: none */
};

/* One pending webhook delivery. */
struct ticket_outbox {
	int64_t id;
	int64_t event_id;
	int64_t ticket_id;
	char format[16];
	int attempts;
	bool inflight;
};

/* Which tickets a listing returns. */
struct ticket_filter {
	bool include_resolved;
	int64_t opened_from_us, opened_to_us;	  /* 0, 0: any */
	int64_t resolved_from_us, resolved_to_us; /* 0, 0: any; else resolved in it */
	const char *recorder;			  /* NULL: any */
	const char *camera;			  /* NULL: any */
};

const char *ticket_kind_name(enum ticket_kind k);
const char *ticket_state_name(enum ticket_state s);
const char *ticket_event_kind_name(enum ticket_event_kind k);
/* Each returns 0 and sets *out, or -EINVAL. */
int ticket_kind_parse(const char *name, enum ticket_kind *out);

/*
 * Opens (read-write: creates and migrates) the ticket database at path.
 * outbox_format: NULL, or "json", "glpi", "zammad", "redmine": every event
 * written through this handle then also gets an outbox row for that
 * format.  NULL with a message in err on failure.
 */
struct ticket_db *ticket_db_open(const char *path, enum catalog_open_mode mode,
				 const char *outbox_format, char *err, size_t errlen);
void ticket_db_close(struct ticket_db **db);

/* The database's random instance id (16 hex digits). */
const char *ticket_db_instance(const struct ticket_db *db);

/* Groups the calls until batch_end into one transaction (one fsync).
 * Calls made inside a batch do not commit on their own. */
int ticket_db_batch_begin(struct ticket_db *db);
int ticket_db_batch_end(struct ticket_db *db);

/*
 * Ticket life.  Each writes the ticket change and its event (and outbox
 * row) in one transaction and, when ev is not NULL, returns the event.
 *  open: t->id is set; -EEXIST if the fault already has a ticket that is
 *        not resolved (T1).
 *  escalate: to a lower level number; -ESTALE if the ticket is resolved.
 *  acknowledge: -EALREADY if already acknowledged, -ESTALE if resolved.
 *  resolve: -EALREADY if already resolved.  fault_end_us < 0: unknown.
 *  reopen: a resolved ticket whose fault came back; -EEXIST if the fault
 *        has another ticket open meanwhile.
 * -ENOENT for an id that does not exist.
 */
int ticket_db_open_ticket(struct ticket_db *db, struct ticket *t, int64_t at_us, const char *note,
			  struct ticket_event *ev);
int ticket_db_escalate(struct ticket_db *db, int64_t id, int level, int64_t at_us,
		       const char *detail, struct ticket_event *ev);
int ticket_db_acknowledge(struct ticket_db *db, int64_t id, int64_t at_us, const char *by,
			  const char *note, struct ticket_event *ev);
int ticket_db_resolve(struct ticket_db *db, int64_t id, int64_t at_us, int64_t fault_end_us,
		      const char *by, const char *note, struct ticket_event *ev);
int ticket_db_reopen(struct ticket_db *db, int64_t id, int64_t at_us, const char *note,
		     struct ticket_event *ev);
/* Records the id a ticket system gave the ticket. */
int ticket_db_set_external(struct ticket_db *db, int64_t id, const char *system,
			   const char *external_id);

/* Fills *t; -ENOENT if there is no such ticket. */
int ticket_db_get(struct ticket_db *db, int64_t id, struct ticket *t);

typedef int (*ticket_fn)(const struct ticket *t, void *ctx);
typedef int (*ticket_event_fn)(const struct ticket_event *ev, void *ctx);

/* Calls fn for each matching ticket, by id.  A non-zero return from fn
 * stops the walk and is returned. */
int ticket_db_each(struct ticket_db *db, const struct ticket_filter *f, ticket_fn fn, void *ctx);
/* Events of one ticket (ticket_id > 0) or of all tickets, with id > after. */
int ticket_db_events_each(struct ticket_db *db, int64_t ticket_id, int64_t after,
			  ticket_event_fn fn, void *ctx);
int ticket_db_event_get(struct ticket_db *db, int64_t event_id, struct ticket_event *ev);
/* The newest event id, 0 when there is none. */
int ticket_db_last_event(struct ticket_db *db, int64_t *id);

/* Fault episodes (checker state). */
typedef int (*ticket_fault_fn)(const struct ticket_fault *f, void *ctx);
int ticket_db_fault_save(struct ticket_db *db, const struct ticket_fault *f);
int ticket_db_fault_delete(struct ticket_db *db, enum ticket_kind kind, const char *recorder,
			   const char *camera);
int ticket_db_faults_each(struct ticket_db *db, ticket_fault_fn fn, void *ctx);

/* What the checker last saw.  camera "" is the recorder itself; payload
 * may be NULL (kept as it was). */
struct ticket_observed {
	char recorder[TICKET_ID_MAX];
	char camera[TICKET_ID_MAX];
	char state[24];
	char site[TICKET_TEXT_MAX];
	char location[TICKET_TEXT_MAX];
	int64_t since_us; /* -1: unknown */
	int64_t updated_us;
};
int ticket_db_observed_save(struct ticket_db *db, const struct ticket_observed *o,
			    const char *payload);
int ticket_db_observed_forget(struct ticket_db *db, const char *recorder, const char *camera);
typedef int (*ticket_observed_fn)(const struct ticket_observed *o, void *ctx);
int ticket_db_observed_each(struct ticket_db *db, ticket_observed_fn fn, void *ctx);
/* The last health payload of a recorder into out (NUL-terminated) and when
 * it was saved; -ENOENT if none. */
int ticket_db_recorder_payload(struct ticket_db *db, const char *recorder, char *out, size_t size,
			       int64_t *updated_us);

/*
 * The fleet: every recorder the checker has heard of (schema 3).  seen
 * records a message from it at seen_us (creating its row; site "" keeps
 * the one known).  inventory replaces what its last inventory said, its
 * cameras included.  forget removes it and its cameras.
 */
#define TICKET_VERSION_MAX 32
#define TICKET_URL_MAX 256
struct ticket_inventory_camera {
	char camera[TICKET_ID_MAX];
	char site[TICKET_TEXT_MAX];
	char location[TICKET_TEXT_MAX];
};
struct ticket_inventory {
	char recorder[TICKET_ID_MAX];
	char site[TICKET_TEXT_MAX];
	char version[TICKET_VERSION_MAX];
	char console_url[TICKET_URL_MAX]; /* "" when it serves none */
	int64_t at_us;			  /* when it arrived, on the checker's clock */
	size_t ncameras;
	struct ticket_inventory_camera *cameras; /* owned by whoever filled it */
};
int ticket_db_recorder_seen(struct ticket_db *db, const char *recorder, const char *site,
			    int64_t seen_us);
int ticket_db_recorder_inventory(struct ticket_db *db, const struct ticket_inventory *inv);
int ticket_db_recorder_forget(struct ticket_db *db, const char *recorder);

/* A recorder as `vigil tickets recorders` lists it: its row, its observed
 * state ("" when none), and how many cameras it has (the inventory's, or
 * those heard of when it sent none). */
struct ticket_recorder {
	char recorder[TICKET_ID_MAX];
	char site[TICKET_TEXT_MAX];
	char version[TICKET_VERSION_MAX];
	char console_url[TICKET_URL_MAX];
	char state[24];
	int64_t state_since_us; /* -1: unknown */
	int64_t first_seen_us, last_seen_us;
	int64_t inventory_us; /* -1: no inventory yet */
	int ncameras;
};
typedef int (*ticket_recorder_fn)(const struct ticket_recorder *r, void *ctx);
/* By site, then recorder id. */
int ticket_db_recorders_each(struct ticket_db *db, ticket_recorder_fn fn, void *ctx);

/* One camera of a recorder: from its inventory and/or what was observed. */
struct ticket_recorder_camera {
	char camera[TICKET_ID_MAX];
	char site[TICKET_TEXT_MAX];
	char location[TICKET_TEXT_MAX];
	char state[24]; /* "" when never observed */
	int64_t since_us;
	bool inventoried; /* in the recorder's last inventory */
};
typedef int (*ticket_recorder_camera_fn)(const struct ticket_recorder_camera *c, void *ctx);
int ticket_db_recorder_cameras_each(struct ticket_db *db, const char *recorder,
				    ticket_recorder_camera_fn fn, void *ctx);

/*
 * The checker as a witness of the recorders' audit chains (schema 4): the
 * newest entry of a camera's chain, as its health says.  witness_head
 * keeps it (see tickets/migrations/0004-witness.sql for which rows stay)
 * and returns 1 when it contradicts the head heard before (behind it, or
 * the same entry with another hash), with that head in *before; else 0,
 * or a negative errno.  witnessed_each: a recorder's rows, by camera, then
 * oldest first.
 */
struct ticket_chain_head {
	char recorder[TICKET_ID_MAX];
	char camera[TICKET_ID_MAX];
	int64_t seq;
	char hash[SHA256_HEX_SIZE];
	int64_t first_heard_us, heard_us;
};
int ticket_db_witness_head(struct ticket_db *db, const struct ticket_chain_head *h,
			   struct ticket_chain_head *before);
typedef int (*ticket_chain_head_fn)(const struct ticket_chain_head *h, void *ctx);
int ticket_db_witnessed_each(struct ticket_db *db, const char *recorder, ticket_chain_head_fn fn,
			     void *ctx);

/*
 * A site's key: the name its bridge is given in MQTT topics
 * (PREFIX/bridge/KEY/state): the site name in lower case, every run of
 * characters other than ASCII letters and digits turned into one '-'
 * ("Zone 1 bonded warehouse" -> "zone-1-bonded-warehouse"), at most 64
 * characters; a name with no ASCII letter or digit gets "site-" and 8 hex
 * digits of its hash.  "" for an empty name.
 */
void ticket_site_key(const char *site, char *out, size_t size);

/* Small key/value facts; get returns -ENOENT when unset. */
int ticket_db_meta_set(struct ticket_db *db, const char *key, const char *value);
int ticket_db_meta_get(struct ticket_db *db, const char *key, char *value, size_t size);

/*
 * The outbox.  pending lists up to max rows not yet delivered, at most the
 * oldest one per ticket (so a ticket's events go out in order), oldest
 * first; it returns how many, or a negative errno.  attempt marks the start
 * of an attempt (inflight when it may create an external ticket); done and
 * failed record its end.
 */
int ticket_db_outbox_pending(struct ticket_db *db, struct ticket_outbox *rows, int max);
int ticket_db_outbox_attempt(struct ticket_db *db, int64_t id, int64_t at_us, bool inflight);
int ticket_db_outbox_done(struct ticket_db *db, int64_t id, int64_t at_us, bool skipped);
/* outcome_unknown: a creation request may have reached the receiver (a
 * timeout after sending): the row stays inflight, so the next attempt looks
 * for the external ticket before creating one. */
int ticket_db_outbox_failed(struct ticket_db *db, int64_t id, const char *error,
			    bool outcome_unknown);
/* Counts of outbox rows still pending and delivered (either may be NULL). */
int ticket_db_outbox_counts(struct ticket_db *db, int64_t *pending, int64_t *delivered);

/* ---- the rules every ticket follows (pure) ------------------------------ */

#define MINUTE_US (60 * INT64_C(1000000))
#define HOUR_US (60 * MINUTE_US)

/* A fault that interrupts the service (nothing recorded) rather than
 * degrading it: camera down, recorder offline, storage error. */
bool ticket_kind_interrupts(enum ticket_kind kind);

/*
 * The level of a fault that has lasted age_us (DESIGN.md):
 *   interrupted: > 5 h -> 1, > 1 h -> 2, > 20 min -> 3, else 4
 *   degraded:    > 2 h -> 2, > 1 h -> 3, else 4
 */
int ticket_level(enum ticket_kind kind, int64_t age_us);

/* SLA: the deduction for one fault at its highest level (20, 15, 10, 5). */
int ticket_sla_deduction(int level);
/* 100 minus the deductions for counts[1..4] faults per level, floor 0. */
int ticket_sla_score(const int counts[5]);

#define TICKET_RESPONSE_TARGET_US (10 * MINUTE_US)
/*
 * A response-time miss: acknowledged more than 10 minutes after opening,
 * or never acknowledged (once 10 minutes have passed by now_us).  Sets
 * *response_us to the response time (-1: never acknowledged).
 */
bool ticket_response_missed(int64_t opened_us, int64_t acknowledged_us, int64_t now_us,
			    int64_t *response_us);

/* ---- how a ticket reads, for people and for machines -------------------- */

/*
 * The language of what a technician reads ([tickets] language): the
 * sentence, the title, the webhook's labels.  Machine fields (kind, level,
 * state, times, ids) are the same in every language.  The functions
 * without _lang write English.
 */
enum ticket_lang { TICKET_LANG_EN = 0, TICKET_LANG_ZH };
/* The Simplified Chinese of the English message en (a label or a format of
 * render.c's table, keeping en's conversions in order) for TICKET_LANG_ZH,
 * else en itself; en when the table does not have it. */
const char *ticket_tr(enum ticket_lang lang, const char *en);

/*
 * "Camera gate3 (Gate 3 inbound lane, Zone 1 bonded warehouse) down since
 * 14:02, 25 min", or for a resolved ticket "... was down from 14:02 to
 * 14:40 (38 min)".  Times are local; now_us gives the running duration.
 */
void ticket_text(const struct ticket *t, int64_t now_us, char *out, size_t size);
/* The same in lang: "摄像机 gate3（…）自 14:02 起离线，已持续 25 分钟". */
void ticket_text_lang(const struct ticket *t, int64_t now_us, enum ticket_lang lang, char *out,
		      size_t size);

/* A short title for ticket systems: "vigil #12: camera gate3 down (Gate 3
 * inbound lane, Zone 1 bonded warehouse)". */
void ticket_title(const struct ticket *t, char *out, size_t size);
void ticket_title_lang(const struct ticket *t, enum ticket_lang lang, char *out, size_t size);

/*
 * The ticket as one JSON object: the keys of DESIGN.md (id, kind, level,
 * state, recorder, camera, site, opened, acknowledged, resolved,
 * fault_start, fault_end; times RFC 3339 UTC or null) and more (location,
 * escalated, acknowledged_by, resolved_by, detail, text, duration_s,
 * external_id).
 */
void ticket_json(struct json_writer *w, const struct ticket *t, int64_t now_us);
/* The body of the ticket object without its braces, to extend it. */
void ticket_json_fields(struct json_writer *w, const struct ticket *t, int64_t now_us);
/* The same with "text" in lang (every other value as ticket_json's). */
void ticket_json_lang(struct json_writer *w, const struct ticket *t, int64_t now_us,
		      enum ticket_lang lang);
void ticket_json_fields_lang(struct json_writer *w, const struct ticket *t, int64_t now_us,
			     enum ticket_lang lang);

/* An event as a JSON object: {id, kind, at, level, actor, note, key}. */
void ticket_event_json(struct json_writer *w, const struct ticket_event *ev);

/* "14:02" (or "14:02:11" with seconds) when us falls on the same local day
 * as now_us, else "2026-11-02 14:02". */
void ticket_clock_text(int64_t us, int64_t now_us, bool seconds, char *out, size_t size);

/* "40 s", "25 min", "1 h 05 min", "2 d 3 h". */
void ticket_duration_text(int64_t us, char *out, size_t size);
/* The same in lang: "40 秒", "25 分钟", "1 小时 05 分钟", "2 天 3 小时". */
void ticket_duration_text_lang(int64_t us, enum ticket_lang lang, char *out, size_t size);

/* ---- the checker ------------------------------------------------------- */

struct ticket_checker;

/*
 * Creates the checker of cfg: opens (creating) the ticket database
 * [checker] database and restores its state.  NULL with a message in err
 * on failure.
 */
struct ticket_checker *ticket_checker_new(const struct config *cfg, char *err, size_t errlen);

/*
 * Keeps the checker's figures in m (its Prometheus series): open tickets
 * by kind and level, the time from a fault's start to its ticket, the
 * webhook outbox's depth, deliveries and failures, messages heard and
 * refused.  Counted on the checker's own thread (the open tickets and the
 * outbox every 2 s), so a scrape reads numbers, never the database.
 * Before ticket_checker_run; m must outlive the checker.  0 or -ENOMEM.
 */
int ticket_checker_set_metrics(struct ticket_checker *chk, struct metrics *m);

/* Runs until *stop becomes non-zero.  Returns 0 or a negative errno. */
int ticket_checker_run(struct ticket_checker *chk, volatile sig_atomic_t *stop);
void ticket_checker_free(struct ticket_checker **chk);

/* ---- a person's part (`vigil tickets`) ---------------------------------- */

/*
 * Opens cfg's ticket database ([checker] database): read-only, or
 * read-write to change tickets (with the webhook's outbox format, so a
 * person's events reach the sinks as the checker's do).  -ENOENT when
 * there is none yet (no checker has run), -EIO when it cannot be opened;
 * err says why.
 */
int tickets_open_config(const struct config *cfg, bool write, struct ticket_db **db, char *err,
			size_t errlen);

/*
 * A person (by, not "checker") acknowledges or resolves ticket id at now_us,
 * with a note (NULL: none).  Returns 0, -ENOENT (no such ticket),
 * -EALREADY (already done), -ESTALE (acknowledging a resolved ticket),
 * -EINVAL (by is not a person's name) or another negative errno.
 */
int tickets_acknowledge(struct ticket_db *db, int64_t id, int64_t now_us, const char *by,
			const char *note);
int tickets_resolve(struct ticket_db *db, int64_t id, int64_t now_us, const char *by,
		    const char *note);

#endif
