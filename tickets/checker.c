/*
 * The checker (`vigil check`): subscribes to PREFIX/#, keeps the state of
 * every recorder and camera it hears about, and turns faults into tickets
 * with the rules of tickets/rules.c.
 *
 * One thread does the MQTT work and the ticking; the webhook has its own
 * (tickets/webhook.c).  Messages update entities (a recorder, or a camera of
 * a recorder) and feed observations to their fault episodes.  Every 100 ms
 * of real time a tick asks each live episode what it needs (open,
 * escalate, resolve ...) at the current wall time, carries all of it out in
 * one transaction together with the state that changed (fault rows,
 * observed states), and only after the commit hands the new events to the
 * sinks: MQTT PREFIX/tickets/ID, the log, and the webhook's outbox (written
 * in the same transaction).  Events written by someone else (`vigil tickets
 * ack|resolve`) are found by the same event cursor and published alike.
 *
 * Times: episodes are timed in wall time (clock_wall_us(), so --now and
 * VIGIL_TIME_SCALE drive escalation), from the start the recorder reports
 * (its own "now" minus the payload's age, so clock skew between hosts does
 * not matter).  Real intervals (ticks, a silent recorder) use the monotonic
 * clock.
 *
 * Restart: the fault rows and the open tickets are loaded at start, then
 * the broker's retained messages bring each recorder and camera up to
 * date; an episode already known continues with the same ticket, and the
 * unique index on open tickets refuses a duplicate whatever happens.
 *
 * Root causes (several recorders, one view): recorders are grouped by site
 * (the site key of ticket_site_key).  A site is unreachable while its
 * bridge says so (PREFIX/bridge/SITE/state or mosquitto's own
 * $SYS/broker/connection/NAME/state is 0) or while every recorder of a
 * site of two or more went silent at once; a recorder is offline by its
 * will or its silence.  A root cause holds back the tickets below it: a
 * site its recorders' and cameras', a recorder its cameras' (and its
 * storage and retention faults).  Held episodes keep being timed from
 * their true start, so when the cause clears, a fault that is still there
 * (the recorder republishes its state on reconnection) opens its own
 * ticket at once, dated from when it really began.  A recorder silent in a
 * site of several waits one more interval before its own ticket opens, to
 * see whether the whole site is going quiet; the cameras of a recorder
 * that came back wait for its first message (and a second more, the burst
 * of its republished state) before theirs.
 *
 * Inventory: PREFIX/REC/inventory (retained) says what a recorder records;
 * it is kept in the ticket database with every recorder heard of, for
 * `vigil tickets recorders` and the reports.
 *
 * Hostile input: topics and payloads are checked by tickets/parse.c; what is
 * refused is counted and logged at most once per 10 s.  The number of
 * recorders and cameras is bounded.
 *
 * Thread safety: everything here belongs to the checker's thread.
 */
#include "tickets/tickets.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickets/parse.h"
#include "tickets/rules.h"
#include "tickets/webhook.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/mqtt.h"
#include "util/redact.h"
#include "util/banned.h"

#define TICK_US (100 * INT64_C(1000))
#define POLL_US USEC_PER_SEC
#define SILENCE_CHECK_US USEC_PER_SEC
#define SILENT_INTERVALS 3
#define REJECT_LOG_US (10 * USEC_PER_SEC)
#define MAX_RECORDERS 4096
#define MAX_SITES 4096
/* cameras of a recorder that came back wait this long after its first
 * message: the rest of its republished state */
#define RETURN_SETTLE_US USEC_PER_SEC
/* a recorder's last seen time is saved at most this often */
#define SEEN_SAVE_US (5 * USEC_PER_SEC)
#define MAX_CAMERAS_PER_RECORDER 4096
#define MAX_CAMERAS 262144
#define MAX_AGE_US (366 * 24 * 3600 * USEC_PER_SEC)
#define TOPIC_MAX 512
#define METRICS_US (2 * USEC_PER_SEC)
#define LEVELS 4

struct entity;

struct fault_ent {
	struct ticket_fault f;
	struct entity *ent;
	struct fault_ent *prev, *next; /* the live list */
	bool dirty;
	bool end_now; /* its camera was removed: end the episode at once */
};

struct entity {
	struct entity *hnext;
	struct entity *rec; /* a camera's recorder; NULL for a recorder */
	char recorder[TICKET_ID_MAX];
	char camera[TICKET_ID_MAX]; /* "" for a recorder */
	char site[TICKET_TEXT_MAX];
	char location[TICKET_TEXT_MAX];
	char state[24];
	int64_t since_us;
	struct fault_ent *faults[TICKET_KIND_COUNT];
	struct entity *dirty_next;
	bool dirty;
	bool forget; /* removed: delete its observed row */

	/* sites: not in the hash (a site key may equal a recorder id) */
	bool is_site;
	bool link_known, link_up; /* what its bridge last said */
	int nrec;		  /* recorders of the site */

	/* recorders */
	struct entity *site_ent; /* NULL without a site */
	bool was_offline;	 /* offline, silent or cut off, as last seen */
	bool await_fresh;	 /* its site came back: cameras wait for its first message */
	int64_t silent_mono, release_mono;
	int64_t returned_from;	 /* the ticket of the cause it came back from (0: none) */
	int64_t seen_saved_wall; /* last seen time saved up to here */
	bool seen_dirty;
	struct ticket_inventory *inv; /* an inventory to save */
	bool status_known, online, silent, health_known;
	int64_t last_heard_mono, last_heard_wall;
	int interval_s;
	bool storage_error, retention_at_risk;
	char detail[160];
	int ncameras, cameras_storage_error;
	char *payload; /* the last health payload, to save */

	/* cameras */
	bool cam_known;
	enum health_camera_state cam_state;
	/* the newest entry of its audit chain, as last said; seq 0: never */
	int64_t audit_seq;
	char audit_hash[SHA256_HEX_SIZE];
	int64_t audit_heard_wall;
	bool audit_dirty; /* to note */
};

struct action {
	struct fault_ent *fe;
	enum fault_action a;
	int level;
};

struct ticket_checker {
	const struct config *cfg;
	struct ticket_db *db;
	struct mqttc *mq;
	struct webhook *wh;
	struct fault_params params;
	char prefix[TOPIC_MAX];

	struct entity **buckets;
	size_t nbuckets, nentities, ncameras;
	struct entity **recorders;
	size_t nrecorders;
	struct entity **sites;
	size_t nsites;
	bool site_busy; /* a site is being updated: no recursion */
	struct fault_ent *live;
	size_t nlive;
	struct entity *dirty;

	struct action *actions;
	size_t actions_cap;

	int64_t cursor; /* newest event handed to the sinks */
	bool republish; /* (re)connected: publish every open ticket */
	int64_t next_tick_mono, next_poll_mono, next_silence_mono;
	int64_t rejected, suppressed, reject_log_mono;
	int64_t messages;
	struct buf out;

	/* metrics (all NULL without them) */
	struct metrics *metrics;
	struct metric *open[TICKET_KIND_COUNT][LEVELS];
	struct metric_histogram *open_delay;
	struct metric *outbox_pending, *messages_total, *rejected_total, *connected;
	int64_t next_metrics_mono, messages_counted, rejected_counted;
};

/* ---- entities ----------------------------------------------------------- */

static uint64_t hash_key(const char *recorder, const char *camera)
{
	uint64_t h = 1469598103934665603u;
	for (const char *p = recorder; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	h = (h ^ 0x1f) * 1099511628211u;
	for (const char *p = camera; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	return h;
}

static struct entity *entity_find(struct ticket_checker *chk, const char *recorder,
				  const char *camera)
{
	struct entity *e = chk->buckets[hash_key(recorder, camera) & (chk->nbuckets - 1)];
	for (; e; e = e->hnext)
		if (strcmp(e->recorder, recorder) == 0 && strcmp(e->camera, camera) == 0)
			return e;
	return NULL;
}

static int grow_buckets(struct ticket_checker *chk)
{
	size_t n = chk->nbuckets * 2;
	struct entity **b = calloc(n, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < chk->nbuckets; i++) {
		struct entity *e = chk->buckets[i];
		while (e) {
			struct entity *next = e->hnext;
			size_t k = hash_key(e->recorder, e->camera) & (n - 1);
			e->hnext = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(chk->buckets);
	chk->buckets = b;
	chk->nbuckets = n;
	return 0;
}

static void mark_dirty(struct ticket_checker *chk, struct entity *e)
{
	if (e->dirty)
		return;
	e->dirty = true;
	e->dirty_next = chk->dirty;
	chk->dirty = e;
}

/* The recorder (camera "") or camera entity, created when allowed. */
static struct entity *entity_get(struct ticket_checker *chk, const char *recorder,
				 const char *camera, const char **why)
{
	struct entity *e = entity_find(chk, recorder, camera), *rec = NULL;
	if (e)
		return e;
	if (camera[0]) {
		rec = entity_get(chk, recorder, "", why);
		if (!rec)
			return NULL;
		if (rec->ncameras >= MAX_CAMERAS_PER_RECORDER || chk->ncameras >= MAX_CAMERAS) {
			*why = "too many cameras: ignoring new ones";
			return NULL;
		}
	} else if (chk->nrecorders >= MAX_RECORDERS) {
		*why = "too many recorders: ignoring new ones";
		return NULL;
	}
	if (chk->nentities >= chk->nbuckets && grow_buckets(chk) < 0) {
		*why = "out of memory";
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		*why = "out of memory";
		return NULL;
	}
	if (!camera[0]) {
		struct entity **r = realloc(chk->recorders, (chk->nrecorders + 1) * sizeof(*r));
		if (!r) {
			free(e);
			*why = "out of memory";
			return NULL;
		}
		chk->recorders = r;
		r[chk->nrecorders++] = e;
		e->last_heard_mono = clock_mono_us();
		e->last_heard_wall = -1;
	} else {
		e->rec = rec;
		rec->ncameras++;
		chk->ncameras++;
	}
	snprintf(e->recorder, sizeof(e->recorder), "%s", recorder);
	snprintf(e->camera, sizeof(e->camera), "%s", camera);
	e->since_us = -1;
	size_t k = hash_key(recorder, camera) & (chk->nbuckets - 1);
	e->hnext = chk->buckets[k];
	chk->buckets[k] = e;
	chk->nentities++;
	return e;
}

/* The site of key (created; text names it when known), or NULL. */
static struct entity *site_get(struct ticket_checker *chk, const char *key, const char *text)
{
	for (size_t i = 0; i < chk->nsites; i++) {
		struct entity *site = chk->sites[i];
		if (strcmp(site->recorder, key) == 0) {
			if (text && text[0] && strcmp(site->site, text) != 0)
				snprintf(site->site, sizeof(site->site), "%s", text);
			return site;
		}
	}
	if (chk->nsites >= MAX_SITES)
		return NULL;
	struct entity *site = calloc(1, sizeof(*site));
	struct entity **a = realloc(chk->sites, (chk->nsites + 1) * sizeof(*a));
	if (!site || !a) {
		free(site);
		if (a)
			chk->sites = a;
		return NULL;
	}
	chk->sites = a;
	a[chk->nsites++] = site;
	site->is_site = true;
	site->since_us = -1;
	snprintf(site->recorder, sizeof(site->recorder), "%s", key);
	snprintf(site->site, sizeof(site->site), "%s", text && text[0] ? text : key);
	return site;
}

/* The recorder says its site is text. */
static void recorder_site(struct ticket_checker *chk, struct entity *rec, const char *text)
{
	char key[TICKET_ID_MAX];
	if (rec->site_ent && strcmp(rec->site, text) == 0)
		return;
	/* a site said after the recorder's row was saved (its status came
	 * first) is saved at once, not with the next message after
	 * SEEN_SAVE_US, which a quiet recorder may never send */
	if (text[0] && strcmp(rec->site, text) != 0) {
		rec->seen_dirty = true;
		mark_dirty(chk, rec);
	}
	snprintf(rec->site, sizeof(rec->site), "%s", text);
	ticket_site_key(text, key, sizeof(key));
	struct entity *site = key[0] ? site_get(chk, key, text) : NULL;
	if (site == rec->site_ent)
		return;
	if (rec->site_ent)
		rec->site_ent->nrec--;
	rec->site_ent = site;
	if (site)
		site->nrec++;
}

/* ---- faults ------------------------------------------------------------- */

static struct fault_ent *fault_new(struct ticket_checker *chk, struct entity *e,
				   enum ticket_kind kind)
{
	struct fault_ent *fe = calloc(1, sizeof(*fe));
	if (!fe)
		return NULL;
	fault_init(&fe->f);
	fe->f.kind = kind;
	snprintf(fe->f.recorder, sizeof(fe->f.recorder), "%s", e->recorder);
	snprintf(fe->f.camera, sizeof(fe->f.camera), "%s", e->camera);
	fe->ent = e;
	fe->next = chk->live;
	if (chk->live)
		chk->live->prev = fe;
	chk->live = fe;
	chk->nlive++;
	e->faults[kind] = fe;
	return fe;
}

static void fault_free(struct ticket_checker *chk, struct fault_ent *fe)
{
	if (fe->prev)
		fe->prev->next = fe->next;
	else
		chk->live = fe->next;
	if (fe->next)
		fe->next->prev = fe->prev;
	if (fe->ent->faults[fe->f.kind] == fe)
		fe->ent->faults[fe->f.kind] = NULL;
	chk->nlive--;
	free(fe);
}

static struct fault_ent *fault_by_ticket(struct ticket_checker *chk, int64_t ticket_id)
{
	for (struct fault_ent *fe = chk->live; fe; fe = fe->next)
		if (fe->f.ticket_id == ticket_id)
			return fe;
	return NULL;
}

/* Feeds an observation to one of an entity's faults.  hint: when the
 * condition observed began (-1: now). */
static void observe(struct ticket_checker *chk, struct entity *e, enum ticket_kind kind,
		    bool active, int64_t hint, const char *detail)
{
	struct fault_ent *fe = e->faults[kind];
	int64_t now = clock_wall_us();
	if (!fe) {
		if (!active)
			return;
		if (!(fe = fault_new(chk, e, kind))) {
			log_warnx("checker: out of memory for a fault of '%s/%s'", e->recorder,
				  e->camera);
			return;
		}
	}
	bool was = fe->f.active;
	int64_t start = fe->f.start_us, clear = fe->f.clear_since_us;
	fault_observe(&fe->f, active, hint, now);
	if (fe->f.active != was || fe->f.start_us != start || fe->f.clear_since_us != clear)
		fe->dirty = true;
	if (detail && active && strcmp(fe->f.detail, detail) != 0) {
		snprintf(fe->f.detail, sizeof(fe->f.detail), "%s", detail);
		redact_scrub(fe->f.detail, sizeof(fe->f.detail));
		fe->dirty = true;
	}
	const struct entity *where = e;
	if (strcmp(fe->f.site, where->site) != 0 || strcmp(fe->f.location, where->location) != 0) {
		snprintf(fe->f.site, sizeof(fe->f.site), "%s", where->site);
		snprintf(fe->f.location, sizeof(fe->f.location), "%s", where->location);
		fe->dirty = true;
	}
}

/* Turns "the payload, stamped at by the sender, says this began at since"
 * into a time on our clock, or -1. */
static int64_t our_time(int64_t at_us, int64_t since_us)
{
	if (at_us < 0 || since_us < 0)
		return -1;
	int64_t age = at_us - since_us;
	if (age < 0)
		age = 0;
	if (age > MAX_AGE_US)
		return -1;
	return clock_wall_us() - age;
}

static void set_state(struct ticket_checker *chk, struct entity *e, const char *state,
		      int64_t since)
{
	if (strcmp(e->state, state) != 0 || e->forget) {
		snprintf(e->state, sizeof(e->state), "%s", state);
		e->since_us = since >= 0 ? since : clock_wall_us();
		e->forget = false;
		mark_dirty(chk, e);
	}
}

static bool site_down(const struct entity *site)
{
	const struct fault_ent *fe = site ? site->faults[TICKET_SITE_UNREACHABLE] : NULL;
	return fe && fe->f.active;
}

static bool rec_offline(const struct entity *rec)
{
	return (rec->status_known && !rec->online) || rec->silent;
}

static void site_update(struct ticket_checker *chk, struct entity *site);

static void recorder_state(struct ticket_checker *chk, struct entity *rec)
{
	if (rec->status_known || rec->health_known)
		set_state(chk, rec,
			  !rec_offline(rec)	     ? "online"
			  : site_down(rec->site_ent) ? "unreachable"
						     : "offline",
			  -1);
}

static void recorder_faults(struct ticket_checker *chk, struct entity *rec)
{
	bool offline = rec_offline(rec);
	if (offline != rec->was_offline) {
		rec->was_offline = offline;
		const struct fault_ent *own = rec->faults[TICKET_RECORDER_OFFLINE];
		if (!offline) { /* back: its cameras' faults wait for the rest of its state */
			rec->release_mono = clock_mono_us() + RETURN_SETTLE_US;
			if (own && own->f.ticket_id > 0)
				rec->returned_from = own->f.ticket_id;
		} else {
			rec->returned_from = 0;
		}
		if (rec->site_ent && !chk->site_busy)
			site_update(chk, rec->site_ent);
	}
	char detail[96] = "";
	if (rec->silent)
		snprintf(detail, sizeof(detail), "no health message for %d intervals of %d s",
			 SILENT_INTERVALS, rec->interval_s);
	else if (offline)
		snprintf(detail, sizeof(detail), "status offline");
	observe(chk, rec, TICKET_RECORDER_OFFLINE, offline,
		offline && rec->last_heard_wall >= 0 ? rec->last_heard_wall : -1, detail);
	recorder_state(chk, rec);
	if (!rec->health_known)
		return;
	observe(chk, rec, TICKET_STORAGE_ERROR,
		rec->storage_error || rec->cameras_storage_error > 0, -1, rec->detail);
	observe(chk, rec, TICKET_RETENTION_AT_RISK, rec->retention_at_risk, -1, rec->detail);
}

/* A message from the recorder; returns true when it had been silent. */
static bool heard(struct ticket_checker *chk, struct entity *rec)
{
	bool was = rec->silent;
	rec->last_heard_mono = clock_mono_us();
	rec->last_heard_wall = clock_wall_us();
	rec->silent = false;
	if (rec->await_fresh) {
		rec->await_fresh = false;
		rec->release_mono = rec->last_heard_mono + RETURN_SETTLE_US;
	}
	if (!rec->seen_dirty && rec->last_heard_wall - rec->seen_saved_wall >= SEEN_SAVE_US) {
		rec->seen_dirty = true;
		mark_dirty(chk, rec);
	}
	return was;
}

/* A site's link came back: its recorders were cut off, not silent; their
 * silence is timed again from now, and their cameras wait for their
 * first message. */
static void site_returned(struct ticket_checker *chk, struct entity *site)
{
	int64_t now = clock_mono_us();
	for (size_t i = 0; i < chk->nrecorders; i++) {
		struct entity *rec = chk->recorders[i];
		if (rec->site_ent != site)
			continue;
		rec->last_heard_mono = now;
		rec->await_fresh = true;
		const struct fault_ent *fe = site->faults[TICKET_SITE_UNREACHABLE];
		if (fe && fe->f.ticket_id > 0)
			rec->returned_from = fe->f.ticket_id;
		if (rec->silent) {
			rec->silent = false;
			recorder_faults(chk, rec);
		}
	}
}

/* Decides whether a site is unreachable: its bridge says so, or every
 * recorder of it (two or more) went silent within one interval. */
static void site_update(struct ticket_checker *chk, struct entity *site)
{
	int n = 0, silent = 0, interval = 0;
	int64_t lo = INT64_MAX, hi = INT64_MIN, last_wall = -1;
	bool was = site_down(site);

	chk->site_busy = true;
	for (size_t i = 0; i < chk->nrecorders; i++) {
		const struct entity *rec = chk->recorders[i];
		if (rec->site_ent != site || !(rec->status_known || rec->health_known))
			continue;
		if (rec->last_heard_wall > last_wall)
			last_wall = rec->last_heard_wall;
		if (rec->status_known && !rec->online && !rec->silent)
			continue; /* said so itself, through its site's broker */
		n++;
		int iv = rec->interval_s > 0 ? rec->interval_s : chk->cfg->mqtt_interval_seconds;
		if (iv > interval)
			interval = iv;
		if (rec->silent) {
			silent++;
			if (rec->last_heard_mono < lo)
				lo = rec->last_heard_mono;
			if (rec->last_heard_mono > hi)
				hi = rec->last_heard_mono;
		}
	}
	bool link_down = site->link_known && !site->link_up;
	bool all_silent =
		silent >= 2 && silent == n && hi - lo <= (int64_t)(interval + 2) * USEC_PER_SEC;
	char detail[128] = "";
	if (link_down)
		snprintf(detail, sizeof(detail), "its bridge to the central broker is down");
	else if (all_silent)
		snprintf(detail, sizeof(detail), "all %d of its recorders went silent at once",
			 silent);
	observe(chk, site, TICKET_SITE_UNREACHABLE, link_down || all_silent, last_wall, detail);
	bool now_down = site_down(site);
	if (was != now_down) {
		if (now_down)
			log_warnx("checker: site '%s' unreachable: %s", site->recorder, detail);
		else
			log_info("checker: site '%s' reachable again", site->recorder);
		if (!now_down)
			site_returned(chk, site);
		for (size_t i = 0; i < chk->nrecorders; i++)
			if (chk->recorders[i]->site_ent == site)
				recorder_state(chk, chk->recorders[i]);
	}
	chk->site_busy = false;
}

/* ---- refusals ----------------------------------------------------------- */

static void reject(struct ticket_checker *chk, const char *topic, const char *why)
{
	char shown[96];
	int64_t now = clock_mono_us();
	chk->rejected++;
	if (chk->reject_log_mono && now - chk->reject_log_mono < REJECT_LOG_US) {
		chk->suppressed++;
		return;
	}
	health_clean_text(topic, strlen(topic), shown, sizeof(shown));
	if (chk->suppressed)
		log_warnx("checker: ignored a message on '%s': %s (and %" PRId64
			  " more refused since the last report)",
			  shown, why, chk->suppressed);
	else
		log_warnx("checker: ignored a message on '%s': %s", shown, why);
	chk->suppressed = 0;
	chk->reject_log_mono = now;
}

/* ---- messages ----------------------------------------------------------- */

static void on_status(struct ticket_checker *chk, const struct health_topic *t, const char *topic,
		      const void *payload, size_t len)
{
	const char *why = NULL;
	char text[128];
	bool online;
	struct entity *rec;

	if (len == 0) {
		/* a retained status cleared by hand: the recorder is retired */
		rec = entity_find(chk, t->recorder, "");
		if (!rec)
			return;
		log_info("checker: recorder '%s' retired (its status was cleared)", rec->recorder);
		rec->status_known = rec->health_known = false;
		rec->silent = false;
		rec->storage_error = rec->retention_at_risk = false;
		rec->cameras_storage_error = 0;
		observe(chk, rec, TICKET_RECORDER_OFFLINE, false, -1, NULL);
		observe(chk, rec, TICKET_STORAGE_ERROR, false, -1, NULL);
		observe(chk, rec, TICKET_RETENTION_AT_RISK, false, -1, NULL);
		rec->forget = true;
		if (rec->site_ent) {
			rec->site_ent->nrec--;
			rec->site_ent = NULL;
		}
		mark_dirty(chk, rec);
		return;
	}
	if (health_parse_status(payload, len, &online, text, sizeof(text)) < 0) {
		reject(chk, topic, text);
		return;
	}
	if (!(rec = entity_get(chk, t->recorder, "", &why))) {
		reject(chk, topic, why);
		return;
	}
	rec->status_known = true;
	rec->online = online;
	if (online)
		heard(chk, rec);
	recorder_faults(chk, rec);
}

static void on_recorder(struct ticket_checker *chk, const struct health_topic *t, const char *topic,
			const void *payload, size_t len)
{
	struct health_recorder_msg m;
	const char *why = NULL;
	char text[160];
	struct entity *rec;

	if (len == 0)
		return;
	if (health_parse_recorder(t, payload, len, &m, text, sizeof(text)) < 0) {
		reject(chk, topic, text);
		return;
	}
	if (!(rec = entity_get(chk, t->recorder, "", &why))) {
		reject(chk, topic, why);
		return;
	}
	heard(chk, rec);
	rec->health_known = true;
	if (m.interval_s > 0)
		rec->interval_s = m.interval_s;
	recorder_site(chk, rec, m.site);
	rec->storage_error = m.storage_error;
	rec->retention_at_risk = m.retention_at_risk;
	snprintf(rec->detail, sizeof(rec->detail), "%s", m.detail);
	if (m.retention_at_risk && !m.detail[0] && m.forecast_days >= 0)
		snprintf(rec->detail, sizeof(rec->detail),
			 "the storage holds %.0f days of footage, the floor is %d", m.forecast_days,
			 m.retain_days);
	char *copy = malloc(len + 1);
	if (copy) {
		memcpy(copy, payload, len);
		copy[len] = '\0';
		free(rec->payload);
		rec->payload = copy;
		mark_dirty(chk, rec);
	}
	recorder_faults(chk, rec);
}

static void camera_removed(struct ticket_checker *chk, struct entity *cam)
{
	int64_t now = clock_wall_us();
	log_info("checker: camera '%s' of recorder '%s' removed (its health was cleared)",
		 cam->camera, cam->recorder);
	for (int k = 0; k < TICKET_KIND_COUNT; k++) {
		struct fault_ent *fe = cam->faults[k];
		if (!fe)
			continue;
		/* resolved (or dropped) at the next tick, without the hold-down */
		if (fe->f.active || fe->f.clear_since_us < 0)
			fe->f.clear_since_us = now;
		fe->f.active = false;
		fe->end_now = true;
		fe->dirty = true;
	}
	if (cam->cam_known && cam->cam_state == HEALTH_CAM_STORAGE_ERROR &&
	    cam->rec->cameras_storage_error > 0)
		cam->rec->cameras_storage_error--;
	cam->cam_known = false;
	cam->forget = true;
	cam->state[0] = '\0';
	mark_dirty(chk, cam);
}

/* Feeds a camera message to the camera's own faults: down, degraded. */
static void camera_faults(struct ticket_checker *chk, struct entity *cam,
			  const struct health_camera_msg *m, int64_t since)
{
	/* camera down: reconnecting or down; clear once it records again */
	bool down = m->state == HEALTH_CAM_RECONNECTING || m->state == HEALTH_CAM_DOWN;
	bool up = m->state == HEALTH_CAM_RECORDING || m->state == HEALTH_CAM_DEGRADED ||
		  m->state == HEALTH_CAM_STORAGE_ERROR;
	if (down || up) {
		int64_t hint = down ? our_time(m->at_us,
					       m->gap_start_us >= 0 ? m->gap_start_us : m->since_us)
				    : since;
		observe(chk, cam, TICKET_CAMERA_DOWN, down, hint, m->last_error);
	}
	/* degraded: recording below the expected frame rate */
	if (m->state != HEALTH_CAM_STARTING && m->state != HEALTH_CAM_STOPPED) {
		bool degraded = m->state == HEALTH_CAM_DEGRADED && m->frame_rate_low;
		char detail[96] = "";
		if (degraded && m->expected_fps > 0)
			snprintf(detail, sizeof(detail), "%.1f fps of %.1f expected", m->fps,
				 m->expected_fps);
		observe(chk, cam, TICKET_CAMERA_DEGRADED, degraded, degraded ? since : -1, detail);
	}
	/* picture inspection and the camera's clock: a ticket kind each */
	bool active[TICKET_KIND_COUNT];
	if (ticket_inspection_faults(m, active)) {
		for (int i = 0; i < 5; i++) {
			enum ticket_kind k = ticket_inspection_kinds[i];
			char detail[192] = "";
			if (active[k] && k == TICKET_CAMERA_CLOCK)
				snprintf(detail, sizeof(detail),
					 "camera clock %+.1f s off the recorder's",
					 m->clock_offset_s);
			else if (active[k])
				snprintf(detail, sizeof(detail), "picture %s: %s", m->picture,
					 m->picture_reason);
			observe(chk, cam, k, active[k], active[k] ? since : -1, detail);
		}
	}
}

static void on_camera(struct ticket_checker *chk, const struct health_topic *t, const char *topic,
		      const void *payload, size_t len)
{
	struct health_camera_msg m;
	const char *why = NULL;
	char text[160];
	struct entity *cam;

	if (len == 0) {
		if ((cam = entity_find(chk, t->recorder, t->camera)))
			camera_removed(chk, cam);
		return;
	}
	if (health_parse_camera(t, payload, len, &m, text, sizeof(text)) < 0) {
		reject(chk, topic, text);
		return;
	}
	if (!(cam = entity_get(chk, t->recorder, t->camera, &why))) {
		reject(chk, topic, why);
		return;
	}
	struct entity *rec = cam->rec;
	if (heard(chk, rec))
		recorder_faults(chk, rec);
	snprintf(cam->site, sizeof(cam->site), "%s", m.site);
	snprintf(cam->location, sizeof(cam->location), "%s", m.location);
	bool was_storage = cam->cam_known && cam->cam_state == HEALTH_CAM_STORAGE_ERROR;
	bool is_storage = m.state == HEALTH_CAM_STORAGE_ERROR;
	cam->cam_known = true;
	cam->cam_state = m.state;
	int64_t since = our_time(m.at_us, m.since_us);
	set_state(chk, cam, health_camera_state_name(m.state), since);

	if (m.audit_seq > 0 &&
	    (m.audit_seq != cam->audit_seq || strcmp(m.audit_hash, cam->audit_hash) != 0)) {
		cam->audit_seq = m.audit_seq;
		memcpy(cam->audit_hash, m.audit_hash, sizeof(cam->audit_hash));
		cam->audit_heard_wall = clock_wall_us();
		cam->audit_dirty = true;
		mark_dirty(chk, cam);
	}

	camera_faults(chk, cam, &m, since);
	/* storage errors are the recorder's fault, counted over its cameras */
	if (was_storage != is_storage) {
		rec->cameras_storage_error += is_storage ? 1 : -1;
		if (is_storage && m.last_error[0])
			snprintf(rec->detail, sizeof(rec->detail), "%s", m.last_error);
		recorder_faults(chk, rec);
	}
}

/* What a recorder records: kept for the listing and the reports. */
static void on_inventory(struct ticket_checker *chk, const struct health_topic *t,
			 const char *topic, const void *payload, size_t len)
{
	struct ticket_inventory inv;
	const char *why = NULL;
	char text[160];
	struct entity *rec;

	if (len == 0)
		return; /* withdrawn: the last one stays on record */
	if (health_parse_inventory(t, payload, len, &inv, text, sizeof(text)) < 0) {
		reject(chk, topic, text);
		return;
	}
	if (!(rec = entity_get(chk, t->recorder, "", &why))) {
		health_inventory_release(&inv);
		reject(chk, topic, why);
		return;
	}
	if (heard(chk, rec))
		recorder_faults(chk, rec);
	if (inv.site[0])
		recorder_site(chk, rec, inv.site);
	inv.at_us = clock_wall_us();
	if (rec->inv) {
		health_inventory_release(rec->inv);
		free(rec->inv);
	}
	rec->inv = malloc(sizeof(*rec->inv));
	if (!rec->inv) {
		health_inventory_release(&inv);
		return;
	}
	*rec->inv = inv;
	mark_dirty(chk, rec);
}

/* A bridge's connection state: key names the site. */
static void on_bridge(struct ticket_checker *chk, const char *key, const char *topic,
		      const void *payload, size_t len)
{
	char text[96];
	bool up = false;
	struct entity *site;

	if (len > 0 && health_parse_bridge(payload, len, &up, text, sizeof(text)) < 0) {
		reject(chk, topic, text);
		return;
	}
	if (!(site = site_get(chk, key, NULL))) {
		reject(chk, topic, "too many sites: ignoring new ones");
		return;
	}
	bool known = len > 0; /* a cleared retained state: the bridge is retired */
	if (site->link_known == known && site->link_up == up)
		return;
	site->link_known = known;
	site->link_up = up;
	if (known)
		log_info("checker: site '%s': bridge %s", key, up ? "connected" : "disconnected");
	site_update(chk, site);
}

/* A retained ticket message from the broker: clear it if the ticket is no
 * longer open (it was resolved while we were away from the broker). */
static void on_ticket(struct ticket_checker *chk, const char *topic, size_t len, bool retained)
{
	struct ticket t;
	const char *id_text = strrchr(topic, '/');
	char *end;
	if (!retained || len == 0 || !id_text)
		return;
	long long id = strtoll(id_text + 1, &end, 10);
	if (*end || id <= 0)
		return;
	if (ticket_db_get(chk->db, id, &t) == 0 && t.state != TICKET_RESOLVED)
		return;
	mqttc_publish(chk->mq, topic, "", 0, true);
}

static void on_message(void *ctx, const char *topic, const void *payload, size_t len, bool retained)
{
	struct ticket_checker *chk = ctx;
	struct health_topic t;
	const char *why = NULL;

	chk->messages++;
	if (topic[0] == '$') {
		char key[TICKET_ID_MAX];
		if (health_sys_bridge_topic(topic, key, sizeof(key)) == 0)
			on_bridge(chk, key, topic, payload, len);
		return;
	}
	if (health_topic_parse(chk->cfg->mqtt_prefix, topic, &t, &why) < 0) {
		reject(chk, topic, why);
		return;
	}
	switch (t.kind) {
	case HEALTH_TOPIC_STATUS: on_status(chk, &t, topic, payload, len); break;
	case HEALTH_TOPIC_RECORDER: on_recorder(chk, &t, topic, payload, len); break;
	case HEALTH_TOPIC_CAMERA: on_camera(chk, &t, topic, payload, len); break;
	case HEALTH_TOPIC_TICKET: on_ticket(chk, topic, len, retained); break;
	case HEALTH_TOPIC_INVENTORY: on_inventory(chk, &t, topic, payload, len); break;
	case HEALTH_TOPIC_BRIDGE: on_bridge(chk, t.recorder, topic, payload, len); break;
	}
}

static void on_connected(void *ctx)
{
	struct ticket_checker *chk = ctx;
	char pattern[TOPIC_MAX];
	int64_t now = clock_mono_us();

	snprintf(pattern, sizeof(pattern), "%s/#", chk->cfg->mqtt_prefix);
	mqttc_subscribe(chk->mq, pattern);
	/* the bridges' own notifications, where mosquitto puts them by default
	 * ('#' does not reach $SYS) */
	mqttc_subscribe(chk->mq, "$SYS/broker/connection/+/state");
	/* we were deaf, not they silent; and a recorder's "offline" heard just
	 * before we lost the broker is most often the broker itself going
	 * down (it delivers every client's will as it closes): it counts again
	 * only when the broker, or the recorder, says it now */
	for (size_t i = 0; i < chk->nrecorders; i++) {
		struct entity *rec = chk->recorders[i];
		rec->last_heard_mono = now;
		if (rec->status_known && !rec->online) {
			rec->status_known = false;
			recorder_faults(chk, rec);
		}
	}
	chk->republish = true;
}

/* ---- sinks -------------------------------------------------------------- */

static void publish_ticket(struct ticket_checker *chk, const struct ticket *t,
			   const struct ticket_event *ev)
{
	char topic[TOPIC_MAX];
	struct json_writer w;
	int64_t now = clock_wall_us();

	if (!mqttc_connected(chk->mq))
		return; /* reconciled on reconnection */
	buf_reset(&chk->out);
	jw_init_buf(&w, &chk->out);
	jw_begin_object(&w);
	ticket_json_fields_lang(&w, t, now, (enum ticket_lang)chk->cfg->tickets_language);
	if (ev) {
		jw_key(&w, "event");
		ticket_event_json(&w, ev);
	}
	jw_end_object(&w);
	if (jw_finish(&w) < 0)
		return;
	snprintf(topic, sizeof(topic), "%s/tickets/%" PRId64, chk->cfg->mqtt_prefix, t->id);
	if (t->state == TICKET_RESOLVED) {
		/* say it once, then clear the retained copy: the retained set is
		 * the open tickets */
		mqttc_publish(chk->mq, topic, chk->out.data, chk->out.len, false);
		mqttc_publish(chk->mq, topic, "", 0, true);
	} else {
		mqttc_publish(chk->mq, topic, chk->out.data, chk->out.len, true);
	}
}

static int republish_one(const struct ticket *t, void *ctx)
{
	publish_ticket(ctx, t, NULL);
	return 0;
}

/* One new event: every sink, and what it means for our own state when
 * someone else wrote it. */
static int on_event(const struct ticket_event *ev, void *ctx)
{
	struct ticket_checker *chk = ctx;
	struct ticket t;
	char text[1024];

	chk->cursor = ev->id;
	if (ticket_db_get(chk->db, ev->ticket_id, &t) < 0)
		return 0;
	ticket_text(&t, clock_wall_us(), text, sizeof(text));
	if (strcmp(ev->actor, "checker") == 0)
		log_info("ticket %" PRId64 " %s (level %d): %s", t.id,
			 ticket_event_kind_name(ev->kind), ev->level, text);
	else
		log_info("ticket %" PRId64 " %s by %s (level %d): %s", t.id,
			 ticket_event_kind_name(ev->kind), ev->actor, ev->level, text);
	publish_ticket(chk, &t, ev);
	if (ev->kind == TICKET_EV_RESOLVED && strcmp(ev->actor, "checker") != 0) {
		struct fault_ent *fe = fault_by_ticket(chk, t.id);
		if (fe) {
			fault_operator_resolved(&fe->f, clock_wall_us());
			fe->dirty = true;
		}
	}
	return 0;
}

/* The ticket store returns its failures; the checker logs them here and
 * goes on (what failed is retried or reloaded). */
static int warn_db(int ret, const char *what)
{
	if (ret < 0)
		log_warnx("checker: cannot %s: %s", what, db_errmsg(ret));
	return ret;
}

static void process_events(struct ticket_checker *chk)
{
	int64_t before = chk->cursor;
	warn_db(ticket_db_events_each(chk->db, 0, chk->cursor, on_event, chk),
		"read the ticket events");
	if (chk->cursor != before) {
		char v[32];
		snprintf(v, sizeof(v), "%" PRId64, chk->cursor);
		warn_db(ticket_db_meta_set(chk->db, "mqtt_cursor", v), "save the event cursor");
		if (chk->wh)
			webhook_wake(chk->wh);
	}
}

/* ---- actions ------------------------------------------------------------ */

static void fill_ticket(const struct fault_ent *fe, int level, struct ticket *t)
{
	memset(t, 0, sizeof(*t));
	t->kind = fe->f.kind;
	t->level = level;
	snprintf(t->recorder, sizeof(t->recorder), "%s", fe->f.recorder);
	snprintf(t->camera, sizeof(t->camera), "%s", fe->f.camera);
	snprintf(t->site, sizeof(t->site), "%s", fe->f.site);
	snprintf(t->location, sizeof(t->location), "%s", fe->f.location);
	snprintf(t->detail, sizeof(t->detail), "%s", fe->f.detail);
	t->fault_start_us = fe->f.start_us;
}

static int adopt_ticket(const struct ticket *t, void *ctx)
{
	struct fault_ent *fe = ctx;
	if (t->kind == fe->f.kind && t->state != TICKET_RESOLVED) {
		fe->f.ticket_id = t->id;
		fe->f.level = t->level;
		return 1;
	}
	return 0;
}

static int do_open(struct ticket_checker *chk, struct fault_ent *fe, int level, int64_t now)
{
	struct ticket t;
	char note[160];

	fill_ticket(fe, level, &t);
	if (fe->f.held_by > 0)
		snprintf(note, sizeof(note),
			 "fault for more than %" PRId64 " s, held back by ticket %" PRId64
			 " until its cause cleared",
			 chk->params.grace_us / USEC_PER_SEC, fe->f.held_by);
	else
		snprintf(note, sizeof(note), "fault for more than %" PRId64 " s",
			 chk->params.grace_us / USEC_PER_SEC);
	int ret = ticket_db_open_ticket(chk->db, &t, now, note, NULL);
	if (ret == -EEXIST) {
		/* a ticket we did not know about: carry on with it */
		struct ticket_filter f = { .recorder = fe->f.recorder, .camera = fe->f.camera };
		warn_db(ticket_db_each(chk->db, &f, adopt_ticket, fe),
			"find the ticket of a fault");
		return 0;
	}
	if (ret == 0) {
		fault_apply(&fe->f, FAULT_OPEN, level, t.id);
		if (fe->f.start_us >= 0 && now >= fe->f.start_us)
			metric_observe(chk->open_delay, (double)(now - fe->f.start_us) / 1e6);
	}
	return ret;
}

static int do_escalate(struct ticket_checker *chk, struct fault_ent *fe, int level, int64_t now)
{
	struct ticket t;
	int ret = ticket_db_escalate(chk->db, fe->f.ticket_id, level, now, fe->f.detail, NULL);
	if (ret == -ESTALE) {
		fault_operator_resolved(&fe->f, now);
		ret = 0;
	} else if (ret == -EINVAL && ticket_db_get(chk->db, fe->f.ticket_id, &t) == 0) {
		fe->f.level = t.level; /* already at least that high */
		ret = 0;
	} else if (ret == 0) {
		fault_apply(&fe->f, FAULT_ESCALATE, level, 0);
	}
	return ret;
}

static int do_resolve(struct ticket_checker *chk, struct fault_ent *fe, int64_t now)
{
	char note[96];

	if (fe->end_now)
		snprintf(note, sizeof(note), "camera removed from the recorder");
	else
		snprintf(note, sizeof(note), "clear for %" PRId64 " s",
			 chk->params.clear_us / USEC_PER_SEC);
	int ret = ticket_db_resolve(chk->db, fe->f.ticket_id, now, fe->f.clear_since_us, "checker",
				    note, NULL);
	if (ret == -EALREADY || ret == -ENOENT)
		ret = 0;
	if (ret == 0)
		fault_apply(&fe->f, FAULT_RESOLVE, 0, 0);
	return ret;
}

static int do_reopen(struct ticket_checker *chk, struct fault_ent *fe, int level, int64_t now)
{
	int ret = ticket_db_reopen(chk->db, fe->f.ticket_id, now, "the fault went on", NULL);
	if (ret == -EEXIST || ret == -ENOENT) {
		fe->f.ticket_id = 0; /* open a new one */
		fe->f.operator_resolved_us = -1;
		ret = 0;
	} else if (ret == -EINVAL) {
		ret = 0; /* not resolved after all */
	}
	if (ret == 0)
		fault_apply(&fe->f, FAULT_REOPEN, level, 0);
	return ret;
}

/* Carries out one action inside the tick's batch; a failure is logged and
 * the action comes again on the next tick. */
static void do_action(struct ticket_checker *chk, const struct action *a, int64_t now)
{
	struct fault_ent *fe = a->fe;
	int ret = 0;

	switch (a->a) {
	case FAULT_OPEN: ret = do_open(chk, fe, a->level, now); break;
	case FAULT_ESCALATE: ret = do_escalate(chk, fe, a->level, now); break;
	case FAULT_RESOLVE: ret = do_resolve(chk, fe, now); break;
	case FAULT_DROP: fault_apply(&fe->f, FAULT_DROP, 0, 0); break;
	case FAULT_REOPEN: ret = do_reopen(chk, fe, a->level, now); break;
	case FAULT_NOTHING: return;
	}
	if (ret < 0)
		log_warnx("checker: cannot %s the ticket of %s '%s%s%s': %s; retrying",
			  a->a == FAULT_OPEN	   ? "open"
			  : a->a == FAULT_ESCALATE ? "escalate"
			  : a->a == FAULT_RESOLVE  ? "resolve"
						   : "reopen",
			  ticket_kind_name(fe->f.kind), fe->f.recorder, fe->f.camera[0] ? "/" : "",
			  fe->f.camera, db_errmsg(ret));
	fe->dirty = true;
}

/* Writes the fault rows that changed; frees episodes that ended. */
static int flush_faults(struct ticket_checker *chk)
{
	int ret = 0;
	struct fault_ent *next;
	for (struct fault_ent *fe = chk->live; fe; fe = next) {
		next = fe->next;
		if (!fe->dirty)
			continue;
		if (fe->f.start_us < 0) {
			int r = ticket_db_fault_delete(chk->db, fe->f.kind, fe->f.recorder,
						       fe->f.camera);
			if (r < 0)
				ret = warn_db(r, "delete a fault");
			fault_free(chk, fe);
			continue;
		}
		int r = ticket_db_fault_save(chk->db, &fe->f);
		if (r < 0)
			ret = warn_db(r, "save a fault");
		fe->dirty = false;
	}
	return ret;
}

/* Notes the head of a camera's audit chain; one that contradicts the head
 * heard before is said at once: the chain was cut short or rewritten on
 * the recorder (or its catalog replaced), and `vigil verify --heads` with
 * what `vigil tickets heads` prints shows where. */
static void note_chain_head(struct ticket_checker *chk, struct entity *cam)
{
	struct ticket_chain_head h = { .seq = cam->audit_seq, .heard_us = cam->audit_heard_wall };
	struct ticket_chain_head before;
	snprintf(h.recorder, sizeof(h.recorder), "%s", cam->recorder);
	snprintf(h.camera, sizeof(h.camera), "%s", cam->camera);
	memcpy(h.hash, cam->audit_hash, sizeof(h.hash));
	int r = ticket_db_witness_head(chk->db, &h, &before);
	if (r < 0)
		warn_db(r, "note a chain head");
	else if (r == 1 && before.seq > h.seq)
		log_error("checker: camera '%s' of recorder '%s': its audit chain went back from "
			  "entry %" PRId64 " to %" PRId64 ": cut short on the recorder",
			  h.camera, h.recorder, before.seq, h.seq);
	else if (r == 1)
		log_error("checker: camera '%s' of recorder '%s': entry %" PRId64
			  " of its audit chain has another hash than when first heard: "
			  "rewritten on the recorder",
			  h.camera, h.recorder, h.seq);
	cam->audit_dirty = false;
}

/* Writes the observed states that changed, and forgets removed ones. */
static int flush_observed(struct ticket_checker *chk)
{
	int ret = 0;
	while (chk->dirty) {
		struct entity *e = chk->dirty;
		chk->dirty = e->dirty_next;
		e->dirty = false;
		int r = 0;
		if (!e->camera[0] && !e->is_site && !e->forget) {
			if (e->seen_dirty && e->last_heard_wall >= 0) {
				r = ticket_db_recorder_seen(chk->db, e->recorder, e->site,
							    e->last_heard_wall);
				if (r < 0)
					ret = warn_db(r, "save a recorder");
				e->seen_saved_wall = e->last_heard_wall;
			}
			e->seen_dirty = false;
			if (e->inv) {
				r = ticket_db_recorder_inventory(chk->db, e->inv);
				if (r < 0)
					ret = warn_db(r, "save an inventory");
				health_inventory_release(e->inv);
				free(e->inv);
				e->inv = NULL;
			}
		}
		if (e->audit_dirty && !e->forget)
			note_chain_head(chk, e);
		if (e->forget) {
			r = ticket_db_observed_forget(chk->db, e->recorder, e->camera);
			if (r == 0 && !e->camera[0])
				r = ticket_db_recorder_forget(chk->db, e->recorder);
		} else if (e->state[0]) {
			struct ticket_observed o = { .since_us = e->since_us,
						     .updated_us = clock_wall_us() };
			snprintf(o.recorder, sizeof(o.recorder), "%s", e->recorder);
			snprintf(o.camera, sizeof(o.camera), "%s", e->camera);
			snprintf(o.state, sizeof(o.state), "%s", e->state);
			snprintf(o.site, sizeof(o.site), "%s", e->site);
			snprintf(o.location, sizeof(o.location), "%s", e->location);
			r = ticket_db_observed_save(chk->db, &o, e->payload);
			free(e->payload);
			e->payload = NULL;
		} else {
			continue;
		}
		if (r < 0)
			ret = warn_db(r, "save what was observed");
	}
	return ret;
}

/* Writes what changed.  Inside the batch. */
static int flush(struct ticket_checker *chk)
{
	int r1 = flush_faults(chk);
	int r2 = flush_observed(chk);
	return r1 < 0 ? r1 : r2;
}

static int load_fault(const struct ticket_fault *f, void *ctx);

/* After a failed commit the memory is ahead of the database: start again
 * from what the database holds. */
static void reload_faults(struct ticket_checker *chk)
{
	while (chk->live) {
		chk->live->dirty = false;
		fault_free(chk, chk->live);
	}
	warn_db(ticket_db_faults_each(chk->db, load_fault, chk), "reload the faults");
}

static void check_silence(struct ticket_checker *chk)
{
	int64_t now = clock_mono_us();
	if (!mqttc_connected(chk->mq))
		return;
	for (size_t i = 0; i < chk->nrecorders; i++) {
		struct entity *rec = chk->recorders[i];
		if (rec->silent || !(rec->status_known || rec->health_known))
			continue;
		if (rec->status_known && !rec->online)
			continue; /* said so itself */
		int interval =
			rec->interval_s > 0 ? rec->interval_s : chk->cfg->mqtt_interval_seconds;
		if (now - rec->last_heard_mono >
		    SILENT_INTERVALS * interval * USEC_PER_SEC + USEC_PER_SEC) {
			rec->silent = true;
			rec->silent_mono = now;
			rec->interval_s = interval;
			log_warnx("checker: recorder '%s' silent for %d s", rec->recorder,
				  SILENT_INTERVALS * interval);
			recorder_faults(chk, rec);
		}
	}
}

/* The entity whose fault holds fe's ticket back at mono, or NULL. */
static const struct entity *holder(const struct ticket_checker *chk, const struct fault_ent *fe,
				   int64_t mono)
{
	const struct entity *e = fe->ent;
	if (e->is_site)
		return NULL;
	const struct entity *rec = e->rec ? e->rec : e;
	if (site_down(rec->site_ent))
		return rec->site_ent;
	if (e->rec) /* a camera: while its recorder is away, and just after */
		return rec_offline(rec) || rec->await_fresh || mono < rec->release_mono ? rec
											: NULL;
	if (fe->f.kind != TICKET_RECORDER_OFFLINE)
		return rec_offline(rec) ? rec : NULL;
	/* silent in a site of several: is the whole site going quiet? */
	if (rec->silent && rec->site_ent && rec->site_ent->nrec >= 2) {
		int iv = rec->interval_s > 0 ? rec->interval_s : chk->cfg->mqtt_interval_seconds;
		if (mono - rec->silent_mono < (int64_t)(iv + 2) * USEC_PER_SEC)
			return rec;
	}
	return NULL;
}

/* The ticket of the root cause h, 0 while it has none; for a recorder
 * back from an outage, the outage's. */
static int64_t root_ticket(const struct entity *h)
{
	const struct fault_ent *fe =
		h->faults[h->is_site ? TICKET_SITE_UNREACHABLE : TICKET_RECORDER_OFFLINE];
	if (!h->is_site && !rec_offline(h))
		return h->returned_from;
	return fe && fe->f.operator_resolved_us < 0 ? fe->f.ticket_id : 0;
}

/* Asks each live episode what it needs at now; fills chk->actions and
 * returns how many.  *dirty becomes true when an episode waits to be
 * saved. */
static size_t collect_actions(struct ticket_checker *chk, int64_t now, bool *dirty)
{
	size_t n = 0;
	int64_t mono = clock_mono_us();

	for (struct fault_ent *fe = chk->live; fe; fe = fe->next) {
		*dirty = *dirty || fe->dirty;
		int level = 0;
		enum fault_action a = fault_next(&fe->f, &chk->params, now, &level);
		if (fe->end_now && fe->f.start_us >= 0)
			a = fe->f.ticket_id > 0 && fe->f.operator_resolved_us < 0 ? FAULT_RESOLVE
										  : FAULT_DROP;
		if (a == FAULT_NOTHING)
			continue;
		/* deaf, we would open a ticket on what we last heard, which may
		 * have ended since: opening waits for the broker (a fault that is
		 * still there is republished then, with its start) */
		if ((a == FAULT_OPEN || a == FAULT_REOPEN) && !mqttc_connected(chk->mq))
			continue;
		/* a root cause holds its dependents' tickets back */
		if (a == FAULT_OPEN || a == FAULT_REOPEN) {
			const struct entity *h = holder(chk, fe, mono);
			if (h) {
				int64_t id = root_ticket(h);
				if (id > 0 && fe->f.held_by != id) {
					fe->f.held_by = id;
					fe->dirty = *dirty = true;
				}
				continue;
			}
		}
		if (n == chk->actions_cap) {
			size_t cap = chk->actions_cap ? chk->actions_cap * 2 : 64;
			struct action *p = realloc(chk->actions, cap * sizeof(*p));
			if (!p)
				break;
			chk->actions = p;
			chk->actions_cap = cap;
		}
		chk->actions[n++] = (struct action){ fe, a, level };
	}
	return n;
}

/* Carries out the n actions and saves what changed, in one transaction. */
static void save_actions(struct ticket_checker *chk, size_t n, int64_t now)
{
	int ret = ticket_db_batch_begin(chk->db);
	if (ret == 0) {
		for (size_t i = 0; i < n; i++)
			do_action(chk, &chk->actions[i], now);
		flush(chk);
		ret = ticket_db_batch_end(chk->db);
	}
	if (ret < 0) {
		log_warnx("checker: cannot save to the ticket database '%s': %s; "
			  "reloading its state",
			  chk->cfg->checker_database, db_errmsg(ret));
		reload_faults(chk);
	}
}

/* ---- metrics ------------------------------------------------------------ */

static int count_open(const struct ticket *t, void *ctx)
{
	int64_t(*counts)[LEVELS] = ctx;
	if ((unsigned)t->kind < TICKET_KIND_COUNT && t->level >= 1 && t->level <= LEVELS)
		counts[t->kind][t->level - 1]++;
	return 0;
}

/* The figures a scrape reads, from the database on this thread. */
static void update_metrics(struct ticket_checker *chk)
{
	int64_t counts[TICKET_KIND_COUNT][LEVELS] = { { 0 } };
	int64_t pending = 0;

	if (warn_db(ticket_db_each(chk->db, NULL, count_open, counts), "count the open tickets") ==
	    0)
		for (int k = 0; k < TICKET_KIND_COUNT; k++)
			for (int l = 0; l < LEVELS; l++)
				metric_set(chk->open[k][l], (double)counts[k][l]);
	if (warn_db(ticket_db_outbox_counts(chk->db, &pending, NULL), "count the outbox") == 0)
		metric_set(chk->outbox_pending, (double)pending);
	metric_add(chk->messages_total, (double)(chk->messages - chk->messages_counted));
	metric_add(chk->rejected_total, (double)(chk->rejected - chk->rejected_counted));
	chk->messages_counted = chk->messages;
	chk->rejected_counted = chk->rejected;
	metric_set(chk->connected, mqttc_connected(chk->mq));
}

int ticket_checker_set_metrics(struct ticket_checker *chk, struct metrics *m)
{
	/* from the grace period (60 s by default) to the hours a broker
	 * outage can hold a ticket back */
	static const double bounds[] = { 1, 5, 15, 30, 60, 90, 120, 180, 300, 600, 1800, 3600 };
	char level[4];

	chk->metrics = m;
	for (int k = 0; k < TICKET_KIND_COUNT; k++)
		for (int l = 0; l < LEVELS; l++) {
			snprintf(level, sizeof(level), "%d", l + 1);
			const char *labels[] = { "kind", ticket_kind_name((enum ticket_kind)k),
						 "level", level, NULL };
			if (!(chk->open[k][l] = metrics_gauge(
				      m, "vigil_tickets_open",
				      "Tickets not resolved, by kind and level.", labels)))
				return -ENOMEM;
		}
	chk->open_delay =
		metrics_histogram(m, "vigil_ticket_open_delay_seconds",
				  "Time from a fault's start to the opening of its ticket.", bounds,
				  sizeof(bounds) / sizeof(bounds[0]), NULL);
	chk->outbox_pending = metrics_gauge(m, "vigil_webhook_outbox_pending",
					    "Ticket events waiting for the webhook.", NULL);
	struct metric *delivered = metrics_counter(m, "vigil_webhook_deliveries_total",
						   "Ticket events the webhook delivered.", NULL);
	struct metric *failures = metrics_counter(m, "vigil_webhook_failures_total",
						  "Webhook delivery attempts that failed.", NULL);
	chk->messages_total = metrics_counter(m, "vigil_checker_messages_total",
					      "MQTT messages the checker read.", NULL);
	chk->rejected_total = metrics_counter(m, "vigil_checker_rejected_messages_total",
					      "MQTT messages the checker refused.", NULL);
	chk->connected = metrics_gauge(m, "vigil_checker_broker_connected",
				       "1 while the checker is connected to the broker.", NULL);
	if (!chk->open_delay || !chk->outbox_pending || !delivered || !failures ||
	    !chk->messages_total || !chk->rejected_total || !chk->connected)
		return -ENOMEM;
	if (chk->wh)
		webhook_set_metrics(chk->wh, delivered, failures);
	return 0;
}

static void tick(struct ticket_checker *chk)
{
	int64_t now = clock_wall_us();
	int64_t mono = clock_mono_us();
	bool dirty = chk->dirty != NULL;

	if (mono >= chk->next_silence_mono) {
		check_silence(chk);
		chk->next_silence_mono = mono + SILENCE_CHECK_US;
	}
	size_t n = collect_actions(chk, now, &dirty);
	if (n > 0 || dirty)
		save_actions(chk, n, now);
	if (n > 0 || mono >= chk->next_poll_mono) {
		process_events(chk);
		chk->next_poll_mono = mono + POLL_US;
	}
	if (chk->republish && mqttc_connected(chk->mq)) {
		struct ticket_filter f = { 0 };
		chk->republish = false;
		warn_db(ticket_db_each(chk->db, &f, republish_one, chk), "list the tickets");
	}
	if (chk->metrics && (n > 0 || mono >= chk->next_metrics_mono)) {
		update_metrics(chk);
		chk->next_metrics_mono = mono + METRICS_US;
	}
}

/* ---- life --------------------------------------------------------------- */

static int load_fault(const struct ticket_fault *f, void *ctx)
{
	struct ticket_checker *chk = ctx;
	const char *why = NULL;
	struct entity *e = f->kind == TICKET_SITE_UNREACHABLE
				   ? site_get(chk, f->recorder, f->site)
				   : entity_get(chk, f->recorder, f->camera, &why);
	struct ticket t;
	if (!e)
		return 0;
	struct fault_ent *fe = fault_new(chk, e, f->kind);
	if (!fe)
		return -ENOMEM;
	fe->f = *f;
	if (!e->site[0])
		snprintf(e->site, sizeof(e->site), "%s", f->site);
	if (!e->location[0])
		snprintf(e->location, sizeof(e->location), "%s", f->location);
	/* resolved by a person while we were not running */
	if (f->ticket_id > 0 && f->operator_resolved_us < 0 &&
	    ticket_db_get(chk->db, f->ticket_id, &t) == 0 && t.state == TICKET_RESOLVED) {
		fe->f.operator_resolved_us = t.resolved_us;
		fe->dirty = true;
	}
	return 0;
}

/* An open ticket without an episode (should not happen): its fault is
 * taken to go on until a message says otherwise. */
static int load_orphan(const struct ticket *t, void *ctx)
{
	struct ticket_checker *chk = ctx;
	const char *why = NULL;
	struct entity *e = t->kind == TICKET_SITE_UNREACHABLE
				   ? site_get(chk, t->recorder, t->site)
				   : entity_get(chk, t->recorder, t->camera, &why);
	if (!e || e->faults[t->kind])
		return 0;
	struct fault_ent *fe = fault_new(chk, e, t->kind);
	if (!fe)
		return -ENOMEM;
	fe->f.active = true;
	fe->f.start_us = t->fault_start_us;
	fe->f.ticket_id = t->id;
	fe->f.level = t->level;
	snprintf(fe->f.site, sizeof(fe->f.site), "%s", t->site);
	snprintf(fe->f.location, sizeof(fe->f.location), "%s", t->location);
	fe->dirty = true;
	return 0;
}

static int load_observed(const struct ticket_observed *o, void *ctx)
{
	struct ticket_checker *chk = ctx;
	const char *why = NULL;
	struct entity *e = entity_get(chk, o->recorder, o->camera, &why);
	if (!e)
		return 0;
	snprintf(e->state, sizeof(e->state), "%s", o->state);
	e->since_us = o->since_us;
	if (!e->site[0])
		snprintf(e->site, sizeof(e->site), "%s", o->site);
	if (!e->location[0])
		snprintf(e->location, sizeof(e->location), "%s", o->location);
	if (!o->camera[0]) {
		/* silence is timed from our start; a recorder cut off with its
		 * site said nothing about itself */
		e->status_known = strcmp(o->state, "unreachable") != 0;
		e->online = strcmp(o->state, "online") == 0;
		e->was_offline = e->status_known && !e->online;
		recorder_site(chk, e, o->site);
	} else if (health_camera_state_parse(o->state, &e->cam_state) == 0) {
		e->cam_known = true;
		if (e->cam_state == HEALTH_CAM_STORAGE_ERROR)
			e->rec->cameras_storage_error++;
	}
	return 0;
}

/* Loads the episodes, open tickets, observed states and the event cursor
 * the last run left in the database. */
static int restore(struct ticket_checker *chk, char *err, size_t errlen)
{
	char v[32];
	int ret;

	if ((ret = ticket_db_faults_each(chk->db, load_fault, chk)) < 0 ||
	    (ret = ticket_db_each(chk->db, NULL, load_orphan, chk)) < 0 ||
	    (ret = ticket_db_observed_each(chk->db, load_observed, chk)) < 0) {
		snprintf(err, errlen, "cannot load the checker state from '%s': %s",
			 chk->cfg->checker_database, db_errmsg(ret));
		return ret;
	}
	if (ticket_db_meta_get(chk->db, "mqtt_cursor", v, sizeof(v)) == 0)
		chk->cursor = strtoll(v, NULL, 10);
	else
		ticket_db_last_event(chk->db, &chk->cursor);
	return 0;
}

struct ticket_checker *ticket_checker_new(const struct config *cfg, char *err, size_t errlen)
{
	struct ticket_checker *chk = calloc(1, sizeof(*chk));
	char client[160];

	if (!chk) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	chk->cfg = cfg;
	chk->params.grace_us = (int64_t)cfg->checker_grace_seconds * USEC_PER_SEC;
	chk->params.clear_us = (int64_t)cfg->checker_clear_seconds * USEC_PER_SEC;
	chk->nbuckets = 1024;
	chk->buckets = calloc(chk->nbuckets, sizeof(*chk->buckets));
	buf_init(&chk->out, 16384);
	if (!chk->buckets) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	chk->db = ticket_db_open(cfg->checker_database, CATALOG_READ_WRITE,
				 cfg->webhook_url ? config_webhook_format_name(cfg->webhook_format)
						  : NULL,
				 err, errlen);
	if (!chk->db || restore(chk, err, errlen) < 0)
		goto fail;
	if (cfg->webhook_url) {
		chk->wh = webhook_new(cfg, err, errlen);
		if (!chk->wh)
			goto fail;
	}
	struct mqttc_callbacks cb = { .connected = on_connected,
				      .message = on_message,
				      .ctx = chk };
	snprintf(client, sizeof(client), "%s-checker", cfg->mqtt_client_id);
	struct mqtt_options mo;

	config_mqtt_options(cfg, &mo);
	chk->mq = mqttc_new(&mo, client, NULL, NULL, &cb);
	if (!chk->mq) {
		snprintf(err, errlen, "cannot set up the MQTT client");
		goto fail;
	}
	return chk;
fail:
	ticket_checker_free(&chk);
	return NULL;
}

int ticket_checker_run(struct ticket_checker *chk, volatile sig_atomic_t *stop)
{
	if (chk->wh && webhook_start(chk->wh) < 0)
		return -EIO;
	log_info("checker: watching '%s/#' on broker '%s:%d'; %zu episodes in progress, "
		 "grace %d s, clear %d s",
		 chk->cfg->mqtt_prefix, chk->cfg->mqtt_host, chk->cfg->mqtt_port, chk->nlive,
		 chk->cfg->checker_grace_seconds, chk->cfg->checker_clear_seconds);
	chk->next_tick_mono = clock_mono_us();
	while (!*stop) {
		mqttc_run(chk->mq, 20);
		int64_t now = clock_mono_us();
		if (now >= chk->next_tick_mono) {
			tick(chk);
			chk->next_tick_mono = now + TICK_US;
		}
	}
	tick(chk);
	log_info("checker: stopping (%" PRId64 " messages, %" PRId64 " refused)", chk->messages,
		 chk->rejected);
	return 0;
}

void ticket_checker_free(struct ticket_checker **cp)
{
	struct ticket_checker *chk = *cp;
	if (!chk)
		return;
	if (chk->wh) {
		webhook_stop(chk->wh);
		webhook_free(&chk->wh);
	}
	if (chk->mq) {
		mqttc_close(chk->mq, 1000);
		mqttc_free(&chk->mq);
	}
	while (chk->live)
		fault_free(chk, chk->live);
	for (size_t i = 0; i < chk->nbuckets && chk->buckets; i++) {
		struct entity *e = chk->buckets[i];
		while (e) {
			struct entity *next = e->hnext;
			free(e->payload);
			if (e->inv) {
				health_inventory_release(e->inv);
				free(e->inv);
			}
			free(e);
			e = next;
		}
	}
	for (size_t i = 0; i < chk->nsites; i++)
		free(chk->sites[i]);
	free(chk->sites);
	free(chk->buckets);
	free(chk->recorders);
	free(chk->actions);
	buf_release(&chk->out);
	ticket_db_close(&chk->db);
	free(chk);
	*cp = NULL;
}
