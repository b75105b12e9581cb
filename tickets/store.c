/*
 * The ticket database (see tickets.h for its invariants): a util/db.h
 * database opened with the ticket migrations, so its opening, migrations,
 * statement cache and errors are db's; the queries are here.  This file and
 * catalog/ are the two owners of SQL.
 *
 * Writes are transactions of their own (BEGIN IMMEDIATE ... COMMIT), or,
 * inside ticket_db_batch_begin/end, savepoints of the batch's transaction,
 * so a failed call undoes exactly its own changes either way.  Failures are
 * returned, not logged: the caller logs db_errmsg(ret).
 *
 * Thread safety: one handle per thread (see tickets.h); the database's own
 * lock makes a shared handle safe too, but a batch holds it throughout.
 */
#include "tickets/tickets.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/db.h"
#include "util/banned.h"

/* The ticket schema, compiled in from tickets/migrations by tools/sql2c. */
extern const struct db_migration ticket_migrations[];
extern const int ticket_migrations_count;

struct ticket_db {
	struct db *db;
	char instance[24];
	char outbox_format[16]; /* "" : no outbox rows */
};

static const char *const kind_names[] = {
	"camera-down",	     "camera-degraded",	 "recorder-offline", "storage-error",
	"retention-at-risk", "site-unreachable", "picture-black",    "picture-frozen",
	"picture-covered",   "view-moved",	 "camera-clock",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == TICKET_KIND_COUNT,
	       "a name for every ticket kind");
static const char *const state_names[] = { "open", "acknowledged", "resolved" };
static const char *const event_names[] = { "opened", "escalated", "acknowledged", "resolved",
					   "reopened" };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *ticket_kind_name(enum ticket_kind k)
{
	return (unsigned)k < NELEM(kind_names) ? kind_names[k] : "?";
}

const char *ticket_state_name(enum ticket_state s)
{
	return (unsigned)s < NELEM(state_names) ? state_names[s] : "?";
}

const char *ticket_event_kind_name(enum ticket_event_kind k)
{
	return (unsigned)k < NELEM(event_names) ? event_names[k] : "?";
}

static int parse_name(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; name && i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

int ticket_kind_parse(const char *name, enum ticket_kind *out)
{
	int i = parse_name(name, kind_names, NELEM(kind_names));
	if (i < 0)
		return i;
	*out = (enum ticket_kind)i;
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* Text columns of the ticket database are never NULL: absent is "". */
static void bind_text(sqlite3_stmt *s, int col, const char *text)
{
	db_bind_text(s, col, text ? text : "");
}

int ticket_db_batch_begin(struct ticket_db *db)
{
	return db_batch_begin(db->db);
}

int ticket_db_batch_end(struct ticket_db *db)
{
	return db_batch_end(db->db);
}

struct text_out {
	char *buf;
	size_t size;
};

static int read_text(sqlite3_stmt *row, void *out)
{
	struct text_out *t = out;
	db_column_text(row, 0, t->buf, t->size);
	return 0;
}

/* ---- opening ------------------------------------------------------------ */

int ticket_db_meta_get(struct ticket_db *db, const char *key, char *value, size_t size)
{
	struct text_out out = { value, size };
	sqlite3_stmt *s = db_stmt(db->db, "SELECT value FROM meta WHERE key = ?");
	db_bind_text(s, 1, key);
	return db_one(db->db, s, "read meta", read_text, &out);
}

struct ticket_db *ticket_db_open(const char *path, enum catalog_open_mode mode,
				 const char *outbox_format, char *err, size_t errlen)
{
	struct ticket_db *db = calloc(1, sizeof(*db));
	if (!db) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	db->db = db_open(path, mode == CATALOG_READ_ONLY, "ticket database", "vigil check",
			 ticket_migrations, ticket_migrations_count, err, errlen);
	if (!db->db) {
		free(db);
		return NULL;
	}
	if (ticket_db_meta_get(db, "instance", db->instance, sizeof(db->instance)) < 0) {
		snprintf(err, errlen, "ticket database '%s' has no instance id", path);
		ticket_db_close(&db);
		return NULL;
	}
	if (outbox_format)
		snprintf(db->outbox_format, sizeof(db->outbox_format), "%s", outbox_format);
	return db;
}

void ticket_db_close(struct ticket_db **dbp)
{
	struct ticket_db *db = *dbp;
	if (!db)
		return;
	db_close(&db->db); /* an unfinished batch is rolled back */
	free(db);
	*dbp = NULL;
}

const char *ticket_db_instance(const struct ticket_db *db)
{
	return db->instance;
}

/* ---- tickets ------------------------------------------------------------ */

#define TICKET_COLUMNS                                                                             \
	"id, kind, level, state, recorder, camera, site, location, fault_start_us, "               \
	"fault_end_us, opened_us, escalated_us, acknowledged_us, acknowledged_by, "                \
	"resolved_us, resolved_by, detail, external_id, external_system"

static int read_ticket(sqlite3_stmt *row, void *ticket)
{
	struct ticket *t = ticket;
	int i;
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(row, 0);
	i = parse_name((const char *)sqlite3_column_text(row, 1), kind_names, NELEM(kind_names));
	t->kind = i < 0 ? TICKET_CAMERA_DOWN : (enum ticket_kind)i;
	t->level = sqlite3_column_int(row, 2);
	i = parse_name((const char *)sqlite3_column_text(row, 3), state_names, NELEM(state_names));
	t->state = i < 0 ? TICKET_OPEN : (enum ticket_state)i;
	db_column_text(row, 4, t->recorder, sizeof(t->recorder));
	db_column_text(row, 5, t->camera, sizeof(t->camera));
	db_column_text(row, 6, t->site, sizeof(t->site));
	db_column_text(row, 7, t->location, sizeof(t->location));
	t->fault_start_us = sqlite3_column_int64(row, 8);
	t->fault_end_us = db_column_or(row, 9, -1);
	t->opened_us = sqlite3_column_int64(row, 10);
	t->escalated_us = db_column_or(row, 11, -1);
	t->acknowledged_us = db_column_or(row, 12, -1);
	db_column_text(row, 13, t->acknowledged_by, sizeof(t->acknowledged_by));
	t->resolved_us = db_column_or(row, 14, -1);
	db_column_text(row, 15, t->resolved_by, sizeof(t->resolved_by));
	db_column_text(row, 16, t->detail, sizeof(t->detail));
	db_column_text(row, 17, t->external_id, sizeof(t->external_id));
	db_column_text(row, 18, t->external_system, sizeof(t->external_system));
	return 0;
}

int ticket_db_get(struct ticket_db *db, int64_t id, struct ticket *t)
{
	sqlite3_stmt *s = db_stmt(db->db, "SELECT " TICKET_COLUMNS " FROM ticket WHERE id = ?");
	db_bind_int64(s, 1, id);
	return db_one(db->db, s, "read ticket", read_ticket, t);
}

/* Appends an event (and its outbox row); inside a transaction. */
static int add_event(struct ticket_db *db, int64_t ticket_id, enum ticket_event_kind kind,
		     int64_t at_us, int level, const char *actor, const char *note,
		     struct ticket_event *ev)
{
	struct ticket_event e = { 0 };
	int ret;
	sqlite3_stmt *s = db_stmt(
		db->db, "INSERT INTO ticket_event (ticket_id, kind, at_us, level, actor, note, "
			"idempotency_key) VALUES (?, ?, ?, ?, ?, ?, 'new-' || hex(randomblob(8)))");
	db_bind_int64(s, 1, ticket_id);
	db_bind_text(s, 2, event_names[kind]);
	db_bind_int64(s, 3, at_us);
	db_bind_int64(s, 4, level);
	bind_text(s, 5, actor);
	bind_text(s, 6, note);
	if ((ret = db_run(db->db, s, "add ticket event")) < 0)
		return ret;
	e.id = db_last_id(db->db);
	e.ticket_id = ticket_id;
	e.kind = kind;
	e.at_us = at_us;
	e.level = level;
	snprintf(e.actor, sizeof(e.actor), "%s", actor ? actor : "");
	snprintf(e.note, sizeof(e.note), "%s", note ? note : "");
	snprintf(e.key, sizeof(e.key), "vigil-%s-%" PRId64, db->instance, e.id);
	s = db_stmt(db->db, "UPDATE ticket_event SET idempotency_key = ? WHERE id = ?");
	db_bind_text(s, 1, e.key);
	db_bind_int64(s, 2, e.id);
	if ((ret = db_run(db->db, s, "key ticket event")) < 0)
		return ret;
	if (db->outbox_format[0]) {
		s = db_stmt(db->db, "INSERT INTO outbox (event_id, ticket_id, format, "
				    "created_us) VALUES (?, ?, ?, ?)");
		db_bind_int64(s, 1, e.id);
		db_bind_int64(s, 2, ticket_id);
		db_bind_text(s, 3, db->outbox_format);
		db_bind_int64(s, 4, at_us);
		if ((ret = db_run(db->db, s, "queue webhook event")) < 0)
			return ret;
	}
	if (ev)
		*ev = e;
	return 0;
}

int ticket_db_open_ticket(struct ticket_db *db, struct ticket *t, int64_t at_us, const char *note,
			  struct ticket_event *ev)
{
	int ret;
	if (t->level < 1 || t->level > 4)
		return -EINVAL;
	if ((ret = db_begin(db->db)) < 0)
		return ret;
	sqlite3_stmt *s = db_stmt(
		db->db,
		"INSERT INTO ticket (kind, recorder, camera, site, location, level, state, "
		"fault_start_us, opened_us, detail) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)");
	db_bind_text(s, 1, kind_names[t->kind]);
	bind_text(s, 2, t->recorder);
	bind_text(s, 3, t->camera);
	bind_text(s, 4, t->site);
	bind_text(s, 5, t->location);
	db_bind_int64(s, 6, t->level);
	db_bind_int64(s, 7, t->fault_start_us);
	db_bind_int64(s, 8, at_us);
	bind_text(s, 9, t->detail);
	/* -EEXIST from the unique index: this fault already has a ticket */
	if ((ret = db_run(db->db, s, "open ticket")) < 0)
		goto out;
	t->id = db_last_id(db->db);
	t->state = TICKET_OPEN;
	t->opened_us = at_us;
	t->fault_end_us = t->escalated_us = t->acknowledged_us = t->resolved_us = -1;
	ret = add_event(db, t->id, TICKET_EV_OPENED, at_us, t->level, "checker", note, ev);
out:
	return db_end(db->db, ret);
}

/* Reads a ticket inside a transaction and checks it is not resolved. */
static int get_unresolved(struct ticket_db *db, int64_t id, struct ticket *t)
{
	int ret = ticket_db_get(db, id, t);
	if (ret == 0 && t->state == TICKET_RESOLVED)
		ret = -ESTALE;
	return ret;
}

int ticket_db_escalate(struct ticket_db *db, int64_t id, int level, int64_t at_us,
		       const char *detail, struct ticket_event *ev)
{
	struct ticket t;
	int ret;
	if (level < 1 || level > 4)
		return -EINVAL;
	if ((ret = db_begin(db->db)) < 0)
		return ret;
	if ((ret = get_unresolved(db, id, &t)) < 0)
		goto out;
	if (level >= t.level) {
		ret = -EINVAL; /* levels only escalate */
		goto out;
	}
	sqlite3_stmt *s = db_stmt(db->db, "UPDATE ticket SET level = ?, escalated_us = ?, "
					  "detail = coalesce(?, detail) WHERE id = ?");
	db_bind_int64(s, 1, level);
	db_bind_int64(s, 2, at_us);
	db_bind_text(s, 3, detail);
	db_bind_int64(s, 4, id);
	if ((ret = db_run(db->db, s, "escalate ticket")) < 0)
		goto out;
	char note[64];
	snprintf(note, sizeof(note), "level %d to %d", t.level, level);
	ret = add_event(db, id, TICKET_EV_ESCALATED, at_us, level, "checker", note, ev);
out:
	return db_end(db->db, ret);
}

int ticket_db_acknowledge(struct ticket_db *db, int64_t id, int64_t at_us, const char *by,
			  const char *note, struct ticket_event *ev)
{
	struct ticket t;
	int ret;
	if ((ret = db_begin(db->db)) < 0)
		return ret;
	if ((ret = get_unresolved(db, id, &t)) < 0)
		goto out;
	if (t.acknowledged_us >= 0) {
		ret = -EALREADY;
		goto out;
	}
	sqlite3_stmt *s = db_stmt(db->db, "UPDATE ticket SET state = 'acknowledged', "
					  "acknowledged_us = ?, acknowledged_by = ? WHERE id = ?");
	db_bind_int64(s, 1, at_us);
	bind_text(s, 2, by);
	db_bind_int64(s, 3, id);
	if ((ret = db_run(db->db, s, "acknowledge ticket")) < 0)
		goto out;
	ret = add_event(db, id, TICKET_EV_ACKNOWLEDGED, at_us, t.level, by, note, ev);
out:
	return db_end(db->db, ret);
}

int ticket_db_resolve(struct ticket_db *db, int64_t id, int64_t at_us, int64_t fault_end_us,
		      const char *by, const char *note, struct ticket_event *ev)
{
	struct ticket t;
	int ret;
	if ((ret = db_begin(db->db)) < 0)
		return ret;
	if ((ret = ticket_db_get(db, id, &t)) < 0)
		goto out;
	if (t.state == TICKET_RESOLVED) {
		ret = -EALREADY;
		goto out;
	}
	sqlite3_stmt *s = db_stmt(db->db, "UPDATE ticket SET state = 'resolved', resolved_us = ?, "
					  "resolved_by = ?, fault_end_us = ? WHERE id = ?");
	db_bind_int64(s, 1, at_us);
	bind_text(s, 2, by);
	db_bind_opt_int64(s, 3, fault_end_us);
	db_bind_int64(s, 4, id);
	if ((ret = db_run(db->db, s, "resolve ticket")) < 0)
		goto out;
	ret = add_event(db, id, TICKET_EV_RESOLVED, at_us, t.level, by, note, ev);
out:
	return db_end(db->db, ret);
}

int ticket_db_reopen(struct ticket_db *db, int64_t id, int64_t at_us, const char *note,
		     struct ticket_event *ev)
{
	struct ticket t;
	int ret;
	if ((ret = db_begin(db->db)) < 0)
		return ret;
	if ((ret = ticket_db_get(db, id, &t)) < 0)
		goto out;
	if (t.state != TICKET_RESOLVED) {
		ret = -EINVAL;
		goto out;
	}
	sqlite3_stmt *s = db_stmt(
		db->db, "UPDATE ticket SET state = CASE WHEN acknowledged_us IS NULL THEN 'open' "
			"ELSE 'acknowledged' END, resolved_us = NULL, resolved_by = NULL, "
			"fault_end_us = NULL WHERE id = ?");
	db_bind_int64(s, 1, id);
	/* -EEXIST from the unique index: the fault has another ticket open */
	if ((ret = db_run(db->db, s, "reopen ticket")) < 0)
		goto out;
	ret = add_event(db, id, TICKET_EV_REOPENED, at_us, t.level, "checker", note, ev);
out:
	return db_end(db->db, ret);
}

int ticket_db_set_external(struct ticket_db *db, int64_t id, const char *system,
			   const char *external_id)
{
	sqlite3_stmt *s = db_stmt(
		db->db, "UPDATE ticket SET external_system = ?, external_id = ? WHERE id = ?");
	bind_text(s, 1, system);
	bind_text(s, 2, external_id);
	db_bind_int64(s, 3, id);
	return db_write(db->db, s, "record external ticket id");
}

struct ticket_walk {
	ticket_fn fn;
	void *ctx;
};

static int ticket_row(sqlite3_stmt *row, void *walk)
{
	struct ticket_walk *w = walk;
	struct ticket t;
	read_ticket(row, &t);
	return w->fn(&t, w->ctx);
}

int ticket_db_each(struct ticket_db *db, const struct ticket_filter *f, ticket_fn fn, void *ctx)
{
	static const char sql[] =
		"SELECT " TICKET_COLUMNS " FROM ticket "
		"WHERE (?1 OR state != 'resolved') "
		"AND (?2 = 0 OR opened_us >= ?2) AND (?3 = 0 OR opened_us < ?3) "
		"AND (?4 = 0 OR resolved_us >= ?4) AND (?5 = 0 OR resolved_us < ?5) "
		"AND (?6 IS NULL OR recorder = ?6) AND (?7 IS NULL OR camera = ?7) "
		"ORDER BY id";
	struct ticket_filter none = { 0 };
	struct ticket_walk w = { fn, ctx };

	if (!f)
		f = &none;
	sqlite3_stmt *s = db_stmt(db->db, sql);
	db_bind_int64(s, 1, f->include_resolved || f->resolved_from_us || f->resolved_to_us);
	db_bind_int64(s, 2, f->opened_from_us);
	db_bind_int64(s, 3, f->opened_to_us);
	db_bind_int64(s, 4, f->resolved_from_us);
	db_bind_int64(s, 5, f->resolved_to_us);
	db_bind_text(s, 6, f->recorder);
	db_bind_text(s, 7, f->camera);
	return db_each(db->db, s, "list tickets", ticket_row, &w);
}

/* ---- events ------------------------------------------------------------- */

#define EVENT_COLUMNS "id, ticket_id, kind, at_us, level, actor, note, idempotency_key"

static int read_event(sqlite3_stmt *row, void *event)
{
	struct ticket_event *e = event;
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(row, 0);
	e->ticket_id = sqlite3_column_int64(row, 1);
	int i = parse_name((const char *)sqlite3_column_text(row, 2), event_names,
			   NELEM(event_names));
	e->kind = i < 0 ? TICKET_EV_OPENED : (enum ticket_event_kind)i;
	e->at_us = sqlite3_column_int64(row, 3);
	e->level = sqlite3_column_int(row, 4);
	db_column_text(row, 5, e->actor, sizeof(e->actor));
	db_column_text(row, 6, e->note, sizeof(e->note));
	db_column_text(row, 7, e->key, sizeof(e->key));
	return 0;
}

struct event_walk {
	ticket_event_fn fn;
	void *ctx;
};

static int event_row(sqlite3_stmt *row, void *walk)
{
	struct event_walk *w = walk;
	struct ticket_event e;
	read_event(row, &e);
	return w->fn(&e, w->ctx);
}

int ticket_db_events_each(struct ticket_db *db, int64_t ticket_id, int64_t after,
			  ticket_event_fn fn, void *ctx)
{
	struct event_walk w = { fn, ctx };
	sqlite3_stmt *s =
		db_stmt(db->db, "SELECT " EVENT_COLUMNS " FROM ticket_event "
				"WHERE (?1 = 0 OR ticket_id = ?1) AND id > ?2 ORDER BY id");
	db_bind_int64(s, 1, ticket_id);
	db_bind_int64(s, 2, after);
	return db_each(db->db, s, "list ticket events", event_row, &w);
}

int ticket_db_event_get(struct ticket_db *db, int64_t event_id, struct ticket_event *ev)
{
	sqlite3_stmt *s =
		db_stmt(db->db, "SELECT " EVENT_COLUMNS " FROM ticket_event WHERE id = ?");
	db_bind_int64(s, 1, event_id);
	return db_one(db->db, s, "read ticket event", read_event, ev);
}

int ticket_db_last_event(struct ticket_db *db, int64_t *id)
{
	return db_int64(db->db, db_stmt(db->db, "SELECT coalesce(max(id), 0) FROM ticket_event"),
			"read last ticket event", id);
}

/* ---- checker state ------------------------------------------------------ */

int ticket_db_fault_save(struct ticket_db *db, const struct ticket_fault *f)
{
	sqlite3_stmt *s = db_stmt(
		db->db, "INSERT OR REPLACE INTO fault (kind, recorder, camera, active, start_us, "
			"clear_since_us, ticket_id, operator_resolved_us, level, site, location, "
			"detail, held_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	db_bind_text(s, 1, kind_names[f->kind]);
	bind_text(s, 2, f->recorder);
	bind_text(s, 3, f->camera);
	db_bind_int64(s, 4, f->active);
	db_bind_int64(s, 5, f->start_us);
	db_bind_opt_int64(s, 6, f->active ? -1 : f->clear_since_us);
	db_bind_opt_int64(s, 7, f->ticket_id > 0 ? f->ticket_id : -1);
	db_bind_opt_int64(s, 8, f->operator_resolved_us);
	db_bind_int64(s, 9, f->level);
	bind_text(s, 10, f->site);
	bind_text(s, 11, f->location);
	bind_text(s, 12, f->detail);
	db_bind_opt_int64(s, 13, f->held_by > 0 ? f->held_by : -1);
	return db_write(db->db, s, "save fault");
}

int ticket_db_fault_delete(struct ticket_db *db, enum ticket_kind kind, const char *recorder,
			   const char *camera)
{
	sqlite3_stmt *s =
		db_stmt(db->db, "DELETE FROM fault WHERE kind = ? AND recorder = ? AND camera = ?");
	db_bind_text(s, 1, kind_names[kind]);
	bind_text(s, 2, recorder);
	bind_text(s, 3, camera);
	return db_write(db->db, s, "delete fault");
}

struct fault_walk {
	ticket_fault_fn fn;
	void *ctx;
};

static int fault_row(sqlite3_stmt *row, void *walk)
{
	struct fault_walk *w = walk;
	struct ticket_fault f;
	memset(&f, 0, sizeof(f));
	int i = parse_name((const char *)sqlite3_column_text(row, 0), kind_names,
			   NELEM(kind_names));
	if (i < 0)
		return 0;
	f.kind = (enum ticket_kind)i;
	db_column_text(row, 1, f.recorder, sizeof(f.recorder));
	db_column_text(row, 2, f.camera, sizeof(f.camera));
	f.active = sqlite3_column_int(row, 3) != 0;
	f.start_us = sqlite3_column_int64(row, 4);
	f.clear_since_us = db_column_or(row, 5, -1);
	f.ticket_id = db_column_or(row, 6, 0);
	f.operator_resolved_us = db_column_or(row, 7, -1);
	f.level = sqlite3_column_int(row, 8);
	db_column_text(row, 9, f.site, sizeof(f.site));
	db_column_text(row, 10, f.location, sizeof(f.location));
	db_column_text(row, 11, f.detail, sizeof(f.detail));
	f.held_by = db_column_or(row, 12, 0);
	return w->fn(&f, w->ctx);
}

int ticket_db_faults_each(struct ticket_db *db, ticket_fault_fn fn, void *ctx)
{
	struct fault_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(
		db->db, "SELECT kind, recorder, camera, active, start_us, clear_since_us, "
			"ticket_id, operator_resolved_us, level, site, location, detail, held_by "
			"FROM fault ORDER BY recorder, camera, kind");
	return db_each(db->db, s, "list faults", fault_row, &w);
}

int ticket_db_observed_save(struct ticket_db *db, const struct ticket_observed *o,
			    const char *payload)
{
	sqlite3_stmt *s = db_stmt(
		db->db, "INSERT INTO observed (recorder, camera, state, site, location, since_us, "
			"updated_us, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
			"ON CONFLICT (recorder, camera) DO UPDATE SET state = ?3, site = ?4, "
			"location = ?5, since_us = ?6, updated_us = ?7, "
			"payload = coalesce(?8, payload)");
	bind_text(s, 1, o->recorder);
	bind_text(s, 2, o->camera);
	bind_text(s, 3, o->state);
	bind_text(s, 4, o->site);
	bind_text(s, 5, o->location);
	db_bind_opt_int64(s, 6, o->since_us);
	db_bind_int64(s, 7, o->updated_us);
	db_bind_text(s, 8, payload);
	return db_write(db->db, s, "save observed state");
}

int ticket_db_observed_forget(struct ticket_db *db, const char *recorder, const char *camera)
{
	sqlite3_stmt *s = db_stmt(db->db, "DELETE FROM observed WHERE recorder = ? AND camera = ?");
	bind_text(s, 1, recorder);
	bind_text(s, 2, camera);
	return db_write(db->db, s, "forget observed state");
}

struct observed_walk {
	ticket_observed_fn fn;
	void *ctx;
};

static int observed_row(sqlite3_stmt *row, void *walk)
{
	struct observed_walk *w = walk;
	struct ticket_observed o;
	memset(&o, 0, sizeof(o));
	db_column_text(row, 0, o.recorder, sizeof(o.recorder));
	db_column_text(row, 1, o.camera, sizeof(o.camera));
	db_column_text(row, 2, o.state, sizeof(o.state));
	db_column_text(row, 3, o.site, sizeof(o.site));
	db_column_text(row, 4, o.location, sizeof(o.location));
	o.since_us = db_column_or(row, 5, -1);
	o.updated_us = sqlite3_column_int64(row, 6);
	return w->fn(&o, w->ctx);
}

int ticket_db_observed_each(struct ticket_db *db, ticket_observed_fn fn, void *ctx)
{
	struct observed_walk w = { fn, ctx };
	sqlite3_stmt *s =
		db_stmt(db->db, "SELECT recorder, camera, state, site, location, since_us, "
				"updated_us FROM observed ORDER BY recorder, camera");
	return db_each(db->db, s, "list observed states", observed_row, &w);
}

struct payload_out {
	char *buf;
	size_t size;
	int64_t updated_us;
};

static int read_payload(sqlite3_stmt *row, void *out)
{
	struct payload_out *p = out;
	db_column_text(row, 0, p->buf, p->size);
	p->updated_us = sqlite3_column_int64(row, 1);
	return 0;
}

int ticket_db_recorder_payload(struct ticket_db *db, const char *recorder, char *out, size_t size,
			       int64_t *updated_us)
{
	struct payload_out p = { out, size, 0 };
	sqlite3_stmt *s =
		db_stmt(db->db, "SELECT payload, updated_us FROM observed WHERE recorder = ? "
				"AND camera = '' AND payload IS NOT NULL");
	db_bind_text(s, 1, recorder);
	int ret = db_one(db->db, s, "read recorder payload", read_payload, &p);
	if (ret == 0 && updated_us)
		*updated_us = p.updated_us;
	return ret;
}

/* ---- the fleet ---------------------------------------------------------- */

void ticket_site_key(const char *site, char *out, size_t size)
{
	size_t o = 0;
	bool dash = false;
	if (size == 0)
		return;
	size_t max = size - 1 < TICKET_ID_MAX - 1 ? size - 1 : TICKET_ID_MAX - 1;
	for (const unsigned char *p = (const unsigned char *)site; *p && o < max; p++) {
		unsigned char c = *p;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			if (dash && o > 0 && o + 1 < max)
				out[o++] = '-';
			dash = false;
			out[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		} else {
			dash = true;
		}
	}
	out[o] = '\0';
	if (o == 0 && site[0]) {
		/* a name in another script: still one stable key */
		uint32_t h = 2166136261u;
		for (const unsigned char *p = (const unsigned char *)site; *p; p++)
			h = (h ^ *p) * 16777619u;
		snprintf(out, size, "site-%08x", (unsigned)h);
	}
}

static sqlite3_stmt *seen_stmt(struct ticket_db *db, const char *recorder, const char *site,
			       int64_t seen_us)
{
	sqlite3_stmt *s = db_stmt(
		db->db, "INSERT INTO recorder (recorder, site, first_seen_us, last_seen_us) "
			"VALUES (?1, ?2, ?3, ?3) ON CONFLICT (recorder) DO UPDATE SET "
			"site = CASE WHEN ?2 = '' THEN site ELSE ?2 END, "
			"last_seen_us = max(last_seen_us, ?3)");
	bind_text(s, 1, recorder);
	bind_text(s, 2, site);
	db_bind_int64(s, 3, seen_us);
	return s;
}

int ticket_db_recorder_seen(struct ticket_db *db, const char *recorder, const char *site,
			    int64_t seen_us)
{
	return db_write(db->db, seen_stmt(db, recorder, site, seen_us), "save recorder");
}

int ticket_db_recorder_inventory(struct ticket_db *db, const struct ticket_inventory *inv)
{
	int ret;
	if ((ret = db_begin(db->db)) < 0)
		return ret;
	if ((ret = db_run(db->db, seen_stmt(db, inv->recorder, inv->site, inv->at_us),
			  "save recorder")) < 0)
		goto out;
	sqlite3_stmt *s = db_stmt(db->db, "UPDATE recorder SET version = ?2, console_url = ?3, "
					  "inventory_us = ?4 WHERE recorder = ?1");
	bind_text(s, 1, inv->recorder);
	bind_text(s, 2, inv->version);
	bind_text(s, 3, inv->console_url);
	db_bind_int64(s, 4, inv->at_us);
	if ((ret = db_run(db->db, s, "save inventory")) < 0)
		goto out;
	s = db_stmt(db->db, "DELETE FROM recorder_camera WHERE recorder = ?");
	bind_text(s, 1, inv->recorder);
	if ((ret = db_run(db->db, s, "replace inventory cameras")) < 0)
		goto out;
	for (size_t i = 0; i < inv->ncameras; i++) {
		const struct ticket_inventory_camera *c = &inv->cameras[i];
		s = db_stmt(db->db, "INSERT OR REPLACE INTO recorder_camera (recorder, camera, "
				    "site, location) VALUES (?, ?, ?, ?)");
		bind_text(s, 1, inv->recorder);
		bind_text(s, 2, c->camera);
		bind_text(s, 3, c->site);
		bind_text(s, 4, c->location);
		if ((ret = db_run(db->db, s, "save inventory camera")) < 0)
			goto out;
	}
out:
	return db_end(db->db, ret);
}

int ticket_db_recorder_forget(struct ticket_db *db, const char *recorder)
{
	sqlite3_stmt *s = db_stmt(db->db, "DELETE FROM recorder WHERE recorder = ?");
	bind_text(s, 1, recorder);
	return db_write(db->db, s, "forget recorder");
}

/* ---- the audit chain heads witnessed ---------------------------------- */

#define WITNESS_ROW_US (3600 * USEC_PER_SEC)		 /* a row goes up for this long */
#define WITNESS_HOURLY_US (7 * 24 * 3600 * USEC_PER_SEC) /* then one a day is kept */
#define DAY_US (24 * 3600 * USEC_PER_SEC)

struct witness_row {
	int64_t id;
	struct ticket_chain_head h;
};

static int witness_row(sqlite3_stmt *row, void *out)
{
	struct witness_row *w = out;
	w->id = sqlite3_column_int64(row, 0);
	db_column_text(row, 1, w->h.recorder, sizeof(w->h.recorder));
	db_column_text(row, 2, w->h.camera, sizeof(w->h.camera));
	w->h.seq = sqlite3_column_int64(row, 3);
	db_column_text(row, 4, w->h.hash, sizeof(w->h.hash));
	w->h.first_heard_us = sqlite3_column_int64(row, 5);
	w->h.heard_us = sqlite3_column_int64(row, 6);
	return 0;
}

#define WITNESS_COLUMNS "id, recorder, camera, seq, hash, first_heard_us, heard_us"

static int witness_insert(struct ticket_db *db, const struct ticket_chain_head *h)
{
	sqlite3_stmt *s =
		db_stmt(db->db, "INSERT INTO chain_witness (recorder, camera, seq, hash, "
				"first_heard_us, heard_us) VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
	bind_text(s, 1, h->recorder);
	bind_text(s, 2, h->camera);
	db_bind_int64(s, 3, h->seq);
	bind_text(s, 4, h->hash);
	db_bind_int64(s, 5, h->heard_us);
	int ret = db_run(db->db, s, "note a chain head");
	if (ret < 0)
		return ret;
	/* past a week, the newest row of each day is checkpoint enough; a row
	 * a later head contradicted is the evidence, and stays */
	s = db_stmt(
		db->db,
		"DELETE FROM chain_witness WHERE recorder = ?1 AND camera = ?2 AND heard_us < ?3 "
		"AND NOT contradicted AND id NOT IN (SELECT max(id) FROM chain_witness WHERE "
		"recorder = ?1 AND camera = ?2 AND heard_us < ?3 GROUP BY first_heard_us / ?4)");
	bind_text(s, 1, h->recorder);
	bind_text(s, 2, h->camera);
	db_bind_int64(s, 3, h->heard_us - WITNESS_HOURLY_US);
	db_bind_int64(s, 4, DAY_US);
	return db_run(db->db, s, "thin the chain heads noted");
}

int ticket_db_witness_head(struct ticket_db *db, const struct ticket_chain_head *h,
			   struct ticket_chain_head *before)
{
	struct witness_row cur;
	int ret = db_begin(db->db);
	if (ret < 0)
		return ret;
	sqlite3_stmt *s = db_stmt(db->db, "SELECT " WITNESS_COLUMNS " FROM chain_witness "
					  "WHERE recorder = ?1 AND camera = ?2 "
					  "ORDER BY heard_us DESC, id DESC LIMIT 1");
	bind_text(s, 1, h->recorder);
	bind_text(s, 2, h->camera);
	ret = db_one(db->db, s, "read the chain head noted", witness_row, &cur);
	if (ret == -ENOENT) {
		ret = witness_insert(db, h);
		goto out;
	}
	if (ret < 0)
		goto out;
	bool same = h->seq == cur.h.seq && strcmp(h->hash, cur.h.hash) == 0;
	if (same || (h->seq > cur.h.seq && h->heard_us - cur.h.first_heard_us < WITNESS_ROW_US)) {
		s = db_stmt(db->db, "UPDATE chain_witness SET seq = ?2, hash = ?3, heard_us = ?4 "
				    "WHERE id = ?1");
		db_bind_int64(s, 1, cur.id);
		db_bind_int64(s, 2, h->seq);
		bind_text(s, 3, h->hash);
		db_bind_int64(s, 4, h->heard_us);
		ret = db_run(db->db, s, "note a chain head");
		goto out;
	}
	if (h->seq <= cur.h.seq) {
		s = db_stmt(db->db, "UPDATE chain_witness SET contradicted = 1 WHERE id = ?1");
		db_bind_int64(s, 1, cur.id);
		if ((ret = db_run(db->db, s, "keep a contradicted chain head")) < 0)
			goto out;
	}
	if ((ret = witness_insert(db, h)) < 0)
		goto out;
	if (h->seq <= cur.h.seq) {
		*before = cur.h;
		ret = 1;
	}
out:
	return db_end(db->db, ret);
}

struct witness_walk {
	ticket_chain_head_fn fn;
	void *ctx;
};

static int witnessed_row(sqlite3_stmt *row, void *walk)
{
	struct witness_walk *w = walk;
	struct witness_row r;
	witness_row(row, &r);
	return w->fn(&r.h, w->ctx);
}

int ticket_db_witnessed_each(struct ticket_db *db, const char *recorder, ticket_chain_head_fn fn,
			     void *ctx)
{
	struct witness_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(db->db, "SELECT " WITNESS_COLUMNS " FROM chain_witness WHERE "
					  "recorder = ?1 ORDER BY camera, heard_us, id");
	bind_text(s, 1, recorder);
	return db_each(db->db, s, "list the chain heads noted", witnessed_row, &w);
}

struct recorder_walk {
	ticket_recorder_fn fn;
	void *ctx;
};

static int recorder_row(sqlite3_stmt *row, void *walk)
{
	struct recorder_walk *w = walk;
	struct ticket_recorder r;
	memset(&r, 0, sizeof(r));
	db_column_text(row, 0, r.recorder, sizeof(r.recorder));
	db_column_text(row, 1, r.site, sizeof(r.site));
	db_column_text(row, 2, r.version, sizeof(r.version));
	db_column_text(row, 3, r.console_url, sizeof(r.console_url));
	r.inventory_us = db_column_or(row, 4, -1);
	r.first_seen_us = sqlite3_column_int64(row, 5);
	r.last_seen_us = sqlite3_column_int64(row, 6);
	db_column_text(row, 7, r.state, sizeof(r.state));
	r.state_since_us = db_column_or(row, 8, -1);
	r.ncameras = sqlite3_column_int(row, 9);
	return w->fn(&r, w->ctx);
}

int ticket_db_recorders_each(struct ticket_db *db, ticket_recorder_fn fn, void *ctx)
{
	/* the inventory's cameras, or those heard of when there is none */
	static const char sql[] =
		"SELECT r.recorder, r.site, r.version, r.console_url, r.inventory_us, "
		"r.first_seen_us, r.last_seen_us, coalesce(o.state, ''), o.since_us, "
		"CASE WHEN r.inventory_us IS NOT NULL "
		"THEN (SELECT count(*) FROM recorder_camera c WHERE c.recorder = r.recorder) "
		"ELSE (SELECT count(*) FROM observed x WHERE x.recorder = r.recorder "
		"AND x.camera != '') END "
		"FROM recorder r LEFT JOIN observed o ON o.recorder = r.recorder AND o.camera = '' "
		"ORDER BY r.site, r.recorder";
	struct recorder_walk w = { fn, ctx };
	return db_each(db->db, db_stmt(db->db, sql), "list recorders", recorder_row, &w);
}

struct recorder_camera_walk {
	ticket_recorder_camera_fn fn;
	void *ctx;
};

static int recorder_camera_row(sqlite3_stmt *row, void *walk)
{
	struct recorder_camera_walk *w = walk;
	struct ticket_recorder_camera c;
	memset(&c, 0, sizeof(c));
	db_column_text(row, 0, c.camera, sizeof(c.camera));
	db_column_text(row, 1, c.site, sizeof(c.site));
	db_column_text(row, 2, c.location, sizeof(c.location));
	db_column_text(row, 3, c.state, sizeof(c.state));
	c.since_us = db_column_or(row, 4, -1);
	c.inventoried = sqlite3_column_int(row, 5) != 0;
	return w->fn(&c, w->ctx);
}

int ticket_db_recorder_cameras_each(struct ticket_db *db, const char *recorder,
				    ticket_recorder_camera_fn fn, void *ctx)
{
	static const char sql[] =
		"SELECT c.camera, c.site, c.location, coalesce(o.state, ''), o.since_us, 1 "
		"FROM recorder_camera c LEFT JOIN observed o ON o.recorder = c.recorder "
		"AND o.camera = c.camera WHERE c.recorder = ?1 "
		"UNION ALL SELECT o.camera, o.site, o.location, o.state, o.since_us, 0 "
		"FROM observed o WHERE o.recorder = ?1 AND o.camera != '' AND NOT EXISTS "
		"(SELECT 1 FROM recorder_camera c WHERE c.recorder = o.recorder "
		"AND c.camera = o.camera) ORDER BY 1";
	struct recorder_camera_walk w = { fn, ctx };
	sqlite3_stmt *s = db_stmt(db->db, sql);
	bind_text(s, 1, recorder);
	return db_each(db->db, s, "list recorder cameras", recorder_camera_row, &w);
}

int ticket_db_meta_set(struct ticket_db *db, const char *key, const char *value)
{
	sqlite3_stmt *s = db_stmt(db->db, "INSERT INTO meta (key, value) VALUES (?, ?) "
					  "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
	db_bind_text(s, 1, key);
	db_bind_text(s, 2, value);
	return db_write(db->db, s, "set meta");
}

/* ---- outbox ------------------------------------------------------------- */

struct outbox_rows {
	struct ticket_outbox *rows;
	int n, max;
};

static int outbox_row(sqlite3_stmt *row, void *list)
{
	struct outbox_rows *l = list;
	if (l->n >= l->max)
		return 1;
	struct ticket_outbox *r = &l->rows[l->n++];
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(row, 0);
	r->event_id = sqlite3_column_int64(row, 1);
	r->ticket_id = sqlite3_column_int64(row, 2);
	db_column_text(row, 3, r->format, sizeof(r->format));
	r->attempts = sqlite3_column_int(row, 4);
	r->inflight = sqlite3_column_int(row, 5) != 0;
	return 0;
}

int ticket_db_outbox_pending(struct ticket_db *db, struct ticket_outbox *rows, int max)
{
	struct outbox_rows l = { rows, 0, max };
	sqlite3_stmt *s = db_stmt(
		db->db, "SELECT o.id, o.event_id, o.ticket_id, o.format, o.attempts, o.inflight "
			"FROM outbox o WHERE o.delivered_us IS NULL AND o.id = "
			"(SELECT min(p.id) FROM outbox p WHERE p.ticket_id = o.ticket_id "
			"AND p.delivered_us IS NULL) ORDER BY o.id LIMIT ?");
	db_bind_int64(s, 1, max);
	int ret = db_each(db->db, s, "list webhook outbox", outbox_row, &l);
	return ret < 0 ? ret : l.n;
}

/* Runs one UPDATE of an outbox row: ?1 is the row id, ?2 a time, ?3 a flag,
 * ?4 a text. */
static int outbox_update(struct ticket_db *db, const char *sql, int64_t id, int64_t a, int b,
			 const char *text)
{
	sqlite3_stmt *s = db_stmt(db->db, sql);
	db_bind_int64(s, 1, id);
	db_bind_int64(s, 2, a);
	db_bind_int64(s, 3, b);
	bind_text(s, 4, text);
	return db_write(db->db, s, "update webhook outbox");
}

int ticket_db_outbox_attempt(struct ticket_db *db, int64_t id, int64_t at_us, bool inflight)
{
	return outbox_update(db,
			     "UPDATE outbox SET attempts = attempts + 1, last_attempt_us = ?2, "
			     "inflight = ?3 WHERE id = ?1",
			     id, at_us, inflight, NULL);
}

int ticket_db_outbox_done(struct ticket_db *db, int64_t id, int64_t at_us, bool skipped)
{
	return outbox_update(db,
			     "UPDATE outbox SET delivered_us = ?2, inflight = 0, last_error = ?4, "
			     "outcome = CASE WHEN ?3 THEN 'skipped' ELSE 'delivered' END "
			     "WHERE id = ?1",
			     id, at_us, skipped, "");
}

int ticket_db_outbox_failed(struct ticket_db *db, int64_t id, const char *error,
			    bool outcome_unknown)
{
	return outbox_update(db, "UPDATE outbox SET inflight = ?3, last_error = ?4 WHERE id = ?1",
			     id, 0, outcome_unknown, error);
}

struct outbox_counts {
	int64_t *pending, *delivered;
};

static int read_counts(sqlite3_stmt *row, void *counts)
{
	struct outbox_counts *c = counts;
	if (c->pending)
		*c->pending = sqlite3_column_int64(row, 0);
	if (c->delivered)
		*c->delivered = sqlite3_column_int64(row, 1);
	return 0;
}

int ticket_db_outbox_counts(struct ticket_db *db, int64_t *pending, int64_t *delivered)
{
	struct outbox_counts c = { pending, delivered };
	sqlite3_stmt *s = db_stmt(db->db, "SELECT count(*) FILTER (WHERE delivered_us IS NULL), "
					  "count(*) FILTER (WHERE delivered_us IS NOT NULL) "
					  "FROM outbox");
	return db_one(db->db, s, "count webhook outbox", read_counts, &c);
}
