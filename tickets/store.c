/*
 * The ticket database (see tickets.h for its invariants).  It is a struct
 * catalog opened with the ticket migrations, so it shares the catalog's
 * opening, migration and error handling; the queries are here.
 *
 * Writes are transactions of their own (BEGIN IMMEDIATE ... COMMIT), or,
 * inside ticket_db_batch_begin/end, savepoints of the batch's transaction,
 * so a failed call undoes exactly its own changes either way.
 *
 * Thread safety: one handle per thread (see tickets.h); the handle's own
 * fields are never shared, so the catalog mutex is not taken here.
 */
#include "tickets/tickets.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/internal.h"
#include "util/log.h"

struct ticket_db {
	struct catalog *c;
	char instance[24];
	char outbox_format[16]; /* "" : no outbox rows */
	bool batch;
};

static const char *const kind_names[] = { "camera-down", "camera-degraded", "recorder-offline",
					  "storage-error", "retention-at-risk" };
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

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
	snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static int64_t column_or(sqlite3_stmt *stmt, int col, int64_t none)
{
	return sqlite3_column_type(stmt, col) == SQLITE_NULL ? none
							     : sqlite3_column_int64(stmt, col);
}

static void bind_opt_time(sqlite3_stmt *stmt, int col, int64_t us)
{
	if (us < 0)
		sqlite3_bind_null(stmt, col);
	else
		sqlite3_bind_int64(stmt, col, us);
}

static void bind_text(sqlite3_stmt *stmt, int col, const char *s)
{
	sqlite3_bind_text(stmt, col, s ? s : "", -1, SQLITE_TRANSIENT);
}

/* Runs a prepared statement that returns no rows and finalizes it; returns
 * the number of rows changed, or a negative errno. */
static int step_done(struct ticket_db *db, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);
	int ret = rc == SQLITE_DONE ? sqlite3_changes(db->c->db) : catalog_fail(db->c, rc, what);
	sqlite3_finalize(stmt);
	return ret;
}

static int tx_begin(struct ticket_db *db)
{
	return db->batch ? catalog_exec(db->c, "SAVEPOINT ticket_op") : catalog_begin(db->c);
}

static int tx_end(struct ticket_db *db, int ret)
{
	if (db->batch) {
		if (ret < 0)
			sqlite3_exec(db->c->db, "ROLLBACK TO ticket_op", NULL, NULL, NULL);
		sqlite3_exec(db->c->db, "RELEASE ticket_op", NULL, NULL, NULL);
		return ret;
	}
	if (ret < 0) {
		catalog_rollback(db->c);
		return ret;
	}
	int c = catalog_commit(db->c);
	return c < 0 ? c : ret;
}

int ticket_db_batch_begin(struct ticket_db *db)
{
	if (db->batch)
		return -EINVAL;
	int ret = catalog_begin(db->c);
	if (ret == 0)
		db->batch = true;
	return ret;
}

int ticket_db_batch_end(struct ticket_db *db)
{
	if (!db->batch)
		return -EINVAL;
	db->batch = false;
	return catalog_commit(db->c);
}

/* ---- opening ------------------------------------------------------------ */

static int meta_get(struct ticket_db *db, const char *key, char *value, size_t size)
{
	sqlite3_stmt *stmt = catalog_prepare(db->c, "SELECT value FROM meta WHERE key = ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW)
		copy_text(value, size, sqlite3_column_text(stmt, 0));
	else
		ret = rc == SQLITE_DONE ? -ENOENT : catalog_fail(db->c, rc, "read meta");
	sqlite3_finalize(stmt);
	return ret;
}

struct ticket_db *ticket_db_open(const char *path, enum catalog_open_mode mode,
				 const char *outbox_format, char *err, size_t errlen)
{
	struct ticket_db *db = calloc(1, sizeof(*db));
	if (!db) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	db->c = catalog_open_schema(path, mode, "ticket database", "vigil check", ticket_migrations,
				    ticket_migrations_count, err, errlen);
	if (!db->c) {
		free(db);
		return NULL;
	}
	if (meta_get(db, "instance", db->instance, sizeof(db->instance)) < 0) {
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
	if (db->batch)
		catalog_rollback(db->c);
	catalog_close(&db->c);
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

static void read_ticket(sqlite3_stmt *stmt, struct ticket *t)
{
	int i;
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(stmt, 0);
	i = parse_name((const char *)sqlite3_column_text(stmt, 1), kind_names, NELEM(kind_names));
	t->kind = i < 0 ? TICKET_CAMERA_DOWN : (enum ticket_kind)i;
	t->level = sqlite3_column_int(stmt, 2);
	i = parse_name((const char *)sqlite3_column_text(stmt, 3), state_names, NELEM(state_names));
	t->state = i < 0 ? TICKET_OPEN : (enum ticket_state)i;
	copy_text(t->recorder, sizeof(t->recorder), sqlite3_column_text(stmt, 4));
	copy_text(t->camera, sizeof(t->camera), sqlite3_column_text(stmt, 5));
	copy_text(t->site, sizeof(t->site), sqlite3_column_text(stmt, 6));
	copy_text(t->location, sizeof(t->location), sqlite3_column_text(stmt, 7));
	t->fault_start_us = sqlite3_column_int64(stmt, 8);
	t->fault_end_us = column_or(stmt, 9, -1);
	t->opened_us = sqlite3_column_int64(stmt, 10);
	t->escalated_us = column_or(stmt, 11, -1);
	t->acknowledged_us = column_or(stmt, 12, -1);
	copy_text(t->acknowledged_by, sizeof(t->acknowledged_by), sqlite3_column_text(stmt, 13));
	t->resolved_us = column_or(stmt, 14, -1);
	copy_text(t->resolved_by, sizeof(t->resolved_by), sqlite3_column_text(stmt, 15));
	copy_text(t->detail, sizeof(t->detail), sqlite3_column_text(stmt, 16));
	copy_text(t->external_id, sizeof(t->external_id), sqlite3_column_text(stmt, 17));
	copy_text(t->external_system, sizeof(t->external_system), sqlite3_column_text(stmt, 18));
}

static int get_ticket(struct ticket_db *db, int64_t id, struct ticket *t)
{
	sqlite3_stmt *stmt =
		catalog_prepare(db->c, "SELECT " TICKET_COLUMNS " FROM ticket WHERE id = ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, id);
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW)
		read_ticket(stmt, t);
	else
		ret = rc == SQLITE_DONE ? -ENOENT : catalog_fail(db->c, rc, "read ticket");
	sqlite3_finalize(stmt);
	return ret;
}

int ticket_db_get(struct ticket_db *db, int64_t id, struct ticket *t)
{
	return get_ticket(db, id, t);
}

/* Appends an event (and its outbox row); inside a transaction. */
static int add_event(struct ticket_db *db, int64_t ticket_id, enum ticket_event_kind kind,
		     int64_t at_us, int level, const char *actor, const char *note,
		     struct ticket_event *ev)
{
	struct ticket_event e = { 0 };
	int ret;
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "INSERT INTO ticket_event (ticket_id, kind, at_us, level, actor, note, "
		       "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, 'new-' || hex(randomblob(8)))");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, ticket_id);
	sqlite3_bind_text(stmt, 2, event_names[kind], -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, at_us);
	sqlite3_bind_int(stmt, 4, level);
	bind_text(stmt, 5, actor);
	bind_text(stmt, 6, note);
	if ((ret = step_done(db, stmt, "add ticket event")) < 0)
		return ret;
	e.id = sqlite3_last_insert_rowid(db->c->db);
	e.ticket_id = ticket_id;
	e.kind = kind;
	e.at_us = at_us;
	e.level = level;
	snprintf(e.actor, sizeof(e.actor), "%s", actor ? actor : "");
	snprintf(e.note, sizeof(e.note), "%s", note ? note : "");
	snprintf(e.key, sizeof(e.key), "vigil-%s-%" PRId64, db->instance, e.id);
	stmt = catalog_prepare(db->c, "UPDATE ticket_event SET idempotency_key = ? WHERE id = ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, e.key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, e.id);
	if ((ret = step_done(db, stmt, "key ticket event")) < 0)
		return ret;
	if (db->outbox_format[0]) {
		stmt = catalog_prepare(db->c, "INSERT INTO outbox (event_id, ticket_id, format, "
					      "created_us) VALUES (?, ?, ?, ?)");
		if (!stmt)
			return -EIO;
		sqlite3_bind_int64(stmt, 1, e.id);
		sqlite3_bind_int64(stmt, 2, ticket_id);
		sqlite3_bind_text(stmt, 3, db->outbox_format, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 4, at_us);
		if ((ret = step_done(db, stmt, "queue webhook event")) < 0)
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
	if ((ret = tx_begin(db)) < 0)
		return ret;
	sqlite3_stmt *stmt = catalog_prepare(
		db->c,
		"INSERT INTO ticket (kind, recorder, camera, site, location, level, state, "
		"fault_start_us, opened_us, detail) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_text(stmt, 1, kind_names[t->kind], -1, SQLITE_STATIC);
	bind_text(stmt, 2, t->recorder);
	bind_text(stmt, 3, t->camera);
	bind_text(stmt, 4, t->site);
	bind_text(stmt, 5, t->location);
	sqlite3_bind_int(stmt, 6, t->level);
	sqlite3_bind_int64(stmt, 7, t->fault_start_us);
	sqlite3_bind_int64(stmt, 8, at_us);
	bind_text(stmt, 9, t->detail);
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		/* the unique index: this fault already has a ticket */
		ret = (rc & 0xff) == SQLITE_CONSTRAINT ? -EEXIST
						       : catalog_fail(db->c, rc, "open ticket");
		sqlite3_finalize(stmt);
		goto out;
	}
	sqlite3_finalize(stmt);
	t->id = sqlite3_last_insert_rowid(db->c->db);
	t->state = TICKET_OPEN;
	t->opened_us = at_us;
	t->fault_end_us = t->escalated_us = t->acknowledged_us = t->resolved_us = -1;
	ret = add_event(db, t->id, TICKET_EV_OPENED, at_us, t->level, "checker", note, ev);
out:
	return tx_end(db, ret);
}

/* Reads a ticket inside a transaction and checks it is not resolved. */
static int get_unresolved(struct ticket_db *db, int64_t id, struct ticket *t)
{
	int ret = get_ticket(db, id, t);
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
	if ((ret = tx_begin(db)) < 0)
		return ret;
	if ((ret = get_unresolved(db, id, &t)) < 0)
		goto out;
	if (level >= t.level) {
		ret = -EINVAL; /* levels only escalate */
		goto out;
	}
	sqlite3_stmt *stmt = catalog_prepare(
		db->c,
		"UPDATE ticket SET level = ?, escalated_us = ?, detail = coalesce(?, detail) "
		"WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int(stmt, 1, level);
	sqlite3_bind_int64(stmt, 2, at_us);
	if (detail)
		sqlite3_bind_text(stmt, 3, detail, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, 3);
	sqlite3_bind_int64(stmt, 4, id);
	if ((ret = step_done(db, stmt, "escalate ticket")) < 0)
		goto out;
	char note[64];
	snprintf(note, sizeof(note), "level %d to %d", t.level, level);
	ret = add_event(db, id, TICKET_EV_ESCALATED, at_us, level, "checker", note, ev);
out:
	return tx_end(db, ret);
}

int ticket_db_acknowledge(struct ticket_db *db, int64_t id, int64_t at_us, const char *by,
			  const char *note, struct ticket_event *ev)
{
	struct ticket t;
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	if ((ret = get_unresolved(db, id, &t)) < 0)
		goto out;
	if (t.acknowledged_us >= 0) {
		ret = -EALREADY;
		goto out;
	}
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "UPDATE ticket SET state = 'acknowledged', acknowledged_us = ?, "
		       "acknowledged_by = ? WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(stmt, 1, at_us);
	bind_text(stmt, 2, by);
	sqlite3_bind_int64(stmt, 3, id);
	if ((ret = step_done(db, stmt, "acknowledge ticket")) < 0)
		goto out;
	ret = add_event(db, id, TICKET_EV_ACKNOWLEDGED, at_us, t.level, by, note, ev);
out:
	return tx_end(db, ret);
}

int ticket_db_resolve(struct ticket_db *db, int64_t id, int64_t at_us, int64_t fault_end_us,
		      const char *by, const char *note, struct ticket_event *ev)
{
	struct ticket t;
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	if ((ret = get_ticket(db, id, &t)) < 0)
		goto out;
	if (t.state == TICKET_RESOLVED) {
		ret = -EALREADY;
		goto out;
	}
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "UPDATE ticket SET state = 'resolved', resolved_us = ?, resolved_by = ?, "
		       "fault_end_us = ? WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(stmt, 1, at_us);
	bind_text(stmt, 2, by);
	bind_opt_time(stmt, 3, fault_end_us);
	sqlite3_bind_int64(stmt, 4, id);
	if ((ret = step_done(db, stmt, "resolve ticket")) < 0)
		goto out;
	ret = add_event(db, id, TICKET_EV_RESOLVED, at_us, t.level, by, note, ev);
out:
	return tx_end(db, ret);
}

int ticket_db_reopen(struct ticket_db *db, int64_t id, int64_t at_us, const char *note,
		     struct ticket_event *ev)
{
	struct ticket t;
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	if ((ret = get_ticket(db, id, &t)) < 0)
		goto out;
	if (t.state != TICKET_RESOLVED) {
		ret = -EINVAL;
		goto out;
	}
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "UPDATE ticket SET state = CASE WHEN acknowledged_us IS NULL THEN 'open' "
		       "ELSE 'acknowledged' END, resolved_us = NULL, resolved_by = NULL, "
		       "fault_end_us = NULL WHERE id = ?");
	if (!stmt) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(stmt, 1, id);
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		ret = (rc & 0xff) == SQLITE_CONSTRAINT ? -EEXIST
						       : catalog_fail(db->c, rc, "reopen ticket");
		sqlite3_finalize(stmt);
		goto out;
	}
	sqlite3_finalize(stmt);
	ret = add_event(db, id, TICKET_EV_REOPENED, at_us, t.level, "checker", note, ev);
out:
	return tx_end(db, ret);
}

int ticket_db_set_detail(struct ticket_db *db, int64_t id, const char *detail)
{
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	sqlite3_stmt *stmt = catalog_prepare(db->c, "UPDATE ticket SET detail = ? WHERE id = ?");
	ret = -EIO;
	if (stmt) {
		bind_text(stmt, 1, detail);
		sqlite3_bind_int64(stmt, 2, id);
		ret = step_done(db, stmt, "update ticket detail");
	}
	return tx_end(db, ret < 0 ? ret : 0);
}

int ticket_db_set_external(struct ticket_db *db, int64_t id, const char *system,
			   const char *external_id)
{
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "UPDATE ticket SET external_system = ?, external_id = ? WHERE id = ?");
	ret = -EIO;
	if (stmt) {
		bind_text(stmt, 1, system);
		bind_text(stmt, 2, external_id);
		sqlite3_bind_int64(stmt, 3, id);
		ret = step_done(db, stmt, "record external ticket id");
	}
	return tx_end(db, ret < 0 ? ret : 0);
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
	struct ticket t;
	int ret = 0, rc;

	if (!f)
		f = &none;
	sqlite3_stmt *stmt = catalog_prepare(db->c, sql);
	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, f->include_resolved || f->resolved_from_us || f->resolved_to_us);
	sqlite3_bind_int64(stmt, 2, f->opened_from_us);
	sqlite3_bind_int64(stmt, 3, f->opened_to_us);
	sqlite3_bind_int64(stmt, 4, f->resolved_from_us);
	sqlite3_bind_int64(stmt, 5, f->resolved_to_us);
	if (f->recorder)
		sqlite3_bind_text(stmt, 6, f->recorder, -1, SQLITE_STATIC);
	if (f->camera)
		sqlite3_bind_text(stmt, 7, f->camera, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_ticket(stmt, &t);
		if ((ret = fn(&t, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(db->c, rc, "list tickets");
	sqlite3_finalize(stmt);
	return ret;
}

/* ---- events ------------------------------------------------------------- */

#define EVENT_COLUMNS "id, ticket_id, kind, at_us, level, actor, note, idempotency_key"

static void read_event(sqlite3_stmt *stmt, struct ticket_event *e)
{
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(stmt, 0);
	e->ticket_id = sqlite3_column_int64(stmt, 1);
	int i = parse_name((const char *)sqlite3_column_text(stmt, 2), event_names,
			   NELEM(event_names));
	e->kind = i < 0 ? TICKET_EV_OPENED : (enum ticket_event_kind)i;
	e->at_us = sqlite3_column_int64(stmt, 3);
	e->level = sqlite3_column_int(stmt, 4);
	copy_text(e->actor, sizeof(e->actor), sqlite3_column_text(stmt, 5));
	copy_text(e->note, sizeof(e->note), sqlite3_column_text(stmt, 6));
	copy_text(e->key, sizeof(e->key), sqlite3_column_text(stmt, 7));
}

int ticket_db_events_each(struct ticket_db *db, int64_t ticket_id, int64_t after,
			  ticket_event_fn fn, void *ctx)
{
	struct ticket_event e;
	int ret = 0, rc;
	sqlite3_stmt *stmt =
		catalog_prepare(db->c, "SELECT " EVENT_COLUMNS " FROM ticket_event "
				       "WHERE (?1 = 0 OR ticket_id = ?1) AND id > ?2 ORDER BY id");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, ticket_id);
	sqlite3_bind_int64(stmt, 2, after);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_event(stmt, &e);
		if ((ret = fn(&e, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(db->c, rc, "list ticket events");
	sqlite3_finalize(stmt);
	return ret;
}

int ticket_db_event_get(struct ticket_db *db, int64_t event_id, struct ticket_event *ev)
{
	sqlite3_stmt *stmt =
		catalog_prepare(db->c, "SELECT " EVENT_COLUMNS " FROM ticket_event WHERE id = ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, event_id);
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW)
		read_event(stmt, ev);
	else
		ret = rc == SQLITE_DONE ? -ENOENT : catalog_fail(db->c, rc, "read ticket event");
	sqlite3_finalize(stmt);
	return ret;
}

int ticket_db_last_event(struct ticket_db *db, int64_t *id)
{
	sqlite3_stmt *stmt =
		catalog_prepare(db->c, "SELECT coalesce(max(id), 0) FROM ticket_event");
	if (!stmt)
		return -EIO;
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(stmt, 0);
	else
		ret = catalog_fail(db->c, rc, "read last ticket event");
	sqlite3_finalize(stmt);
	return ret;
}

/* ---- checker state ------------------------------------------------------ */

int ticket_db_fault_save(struct ticket_db *db, const struct ticket_fault *f)
{
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "INSERT OR REPLACE INTO fault (kind, recorder, camera, active, start_us, "
		       "clear_since_us, ticket_id, operator_resolved_us, level, site, location, "
		       "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	ret = -EIO;
	if (stmt) {
		sqlite3_bind_text(stmt, 1, kind_names[f->kind], -1, SQLITE_STATIC);
		bind_text(stmt, 2, f->recorder);
		bind_text(stmt, 3, f->camera);
		sqlite3_bind_int(stmt, 4, f->active);
		sqlite3_bind_int64(stmt, 5, f->start_us);
		bind_opt_time(stmt, 6, f->active ? -1 : f->clear_since_us);
		if (f->ticket_id > 0)
			sqlite3_bind_int64(stmt, 7, f->ticket_id);
		else
			sqlite3_bind_null(stmt, 7);
		bind_opt_time(stmt, 8, f->operator_resolved_us);
		sqlite3_bind_int(stmt, 9, f->level);
		bind_text(stmt, 10, f->site);
		bind_text(stmt, 11, f->location);
		bind_text(stmt, 12, f->detail);
		ret = step_done(db, stmt, "save fault");
	}
	return tx_end(db, ret < 0 ? ret : 0);
}

int ticket_db_fault_delete(struct ticket_db *db, enum ticket_kind kind, const char *recorder,
			   const char *camera)
{
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "DELETE FROM fault WHERE kind = ? AND recorder = ? AND camera = ?");
	ret = -EIO;
	if (stmt) {
		sqlite3_bind_text(stmt, 1, kind_names[kind], -1, SQLITE_STATIC);
		bind_text(stmt, 2, recorder);
		bind_text(stmt, 3, camera);
		ret = step_done(db, stmt, "delete fault");
	}
	return tx_end(db, ret < 0 ? ret : 0);
}

int ticket_db_faults_each(struct ticket_db *db, ticket_fault_fn fn, void *ctx)
{
	struct ticket_fault f;
	int ret = 0, rc;
	sqlite3_stmt *stmt = catalog_prepare(
		db->c,
		"SELECT kind, recorder, camera, active, start_us, clear_since_us, ticket_id, "
		"operator_resolved_us, level, site, location, detail FROM fault "
		"ORDER BY recorder, camera, kind");
	if (!stmt)
		return -EIO;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(&f, 0, sizeof(f));
		int i = parse_name((const char *)sqlite3_column_text(stmt, 0), kind_names,
				   NELEM(kind_names));
		if (i < 0)
			continue;
		f.kind = (enum ticket_kind)i;
		copy_text(f.recorder, sizeof(f.recorder), sqlite3_column_text(stmt, 1));
		copy_text(f.camera, sizeof(f.camera), sqlite3_column_text(stmt, 2));
		f.active = sqlite3_column_int(stmt, 3) != 0;
		f.start_us = sqlite3_column_int64(stmt, 4);
		f.clear_since_us = column_or(stmt, 5, -1);
		f.ticket_id = column_or(stmt, 6, 0);
		f.operator_resolved_us = column_or(stmt, 7, -1);
		f.level = sqlite3_column_int(stmt, 8);
		copy_text(f.site, sizeof(f.site), sqlite3_column_text(stmt, 9));
		copy_text(f.location, sizeof(f.location), sqlite3_column_text(stmt, 10));
		copy_text(f.detail, sizeof(f.detail), sqlite3_column_text(stmt, 11));
		if ((ret = fn(&f, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(db->c, rc, "list faults");
	sqlite3_finalize(stmt);
	return ret;
}

int ticket_db_observed_save(struct ticket_db *db, const struct ticket_observed *o,
			    const char *payload)
{
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "INSERT INTO observed (recorder, camera, state, site, location, since_us, "
		       "updated_us, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
		       "ON CONFLICT (recorder, camera) DO UPDATE SET state = ?3, site = ?4, "
		       "location = ?5, since_us = ?6, updated_us = ?7, "
		       "payload = coalesce(?8, payload)");
	ret = -EIO;
	if (stmt) {
		bind_text(stmt, 1, o->recorder);
		bind_text(stmt, 2, o->camera);
		bind_text(stmt, 3, o->state);
		bind_text(stmt, 4, o->site);
		bind_text(stmt, 5, o->location);
		bind_opt_time(stmt, 6, o->since_us);
		sqlite3_bind_int64(stmt, 7, o->updated_us);
		if (payload)
			sqlite3_bind_text(stmt, 8, payload, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(stmt, 8);
		ret = step_done(db, stmt, "save observed state");
	}
	return tx_end(db, ret < 0 ? ret : 0);
}

int ticket_db_observed_forget(struct ticket_db *db, const char *recorder, const char *camera)
{
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	sqlite3_stmt *stmt =
		catalog_prepare(db->c, "DELETE FROM observed WHERE recorder = ? AND camera = ?");
	ret = -EIO;
	if (stmt) {
		bind_text(stmt, 1, recorder);
		bind_text(stmt, 2, camera);
		ret = step_done(db, stmt, "forget observed state");
	}
	return tx_end(db, ret < 0 ? ret : 0);
}

int ticket_db_observed_each(struct ticket_db *db, ticket_observed_fn fn, void *ctx)
{
	struct ticket_observed o;
	int ret = 0, rc;
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "SELECT recorder, camera, state, site, location, since_us, updated_us "
		       "FROM observed ORDER BY recorder, camera");
	if (!stmt)
		return -EIO;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(&o, 0, sizeof(o));
		copy_text(o.recorder, sizeof(o.recorder), sqlite3_column_text(stmt, 0));
		copy_text(o.camera, sizeof(o.camera), sqlite3_column_text(stmt, 1));
		copy_text(o.state, sizeof(o.state), sqlite3_column_text(stmt, 2));
		copy_text(o.site, sizeof(o.site), sqlite3_column_text(stmt, 3));
		copy_text(o.location, sizeof(o.location), sqlite3_column_text(stmt, 4));
		o.since_us = column_or(stmt, 5, -1);
		o.updated_us = sqlite3_column_int64(stmt, 6);
		if ((ret = fn(&o, ctx)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = catalog_fail(db->c, rc, "list observed states");
	sqlite3_finalize(stmt);
	return ret;
}

int ticket_db_recorder_payload(struct ticket_db *db, const char *recorder, char *out, size_t size,
			       int64_t *updated_us)
{
	sqlite3_stmt *stmt = catalog_prepare(
		db->c,
		"SELECT payload, updated_us FROM observed WHERE recorder = ? AND camera = '' "
		"AND payload IS NOT NULL");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, recorder, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW) {
		copy_text(out, size, sqlite3_column_text(stmt, 0));
		if (updated_us)
			*updated_us = sqlite3_column_int64(stmt, 1);
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT
					: catalog_fail(db->c, rc, "read recorder payload");
	}
	sqlite3_finalize(stmt);
	return ret;
}

int ticket_db_meta_set(struct ticket_db *db, const char *key, const char *value)
{
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	sqlite3_stmt *stmt =
		catalog_prepare(db->c, "INSERT INTO meta (key, value) VALUES (?, ?) "
				       "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
	ret = -EIO;
	if (stmt) {
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
		ret = step_done(db, stmt, "set meta");
	}
	return tx_end(db, ret < 0 ? ret : 0);
}

int ticket_db_meta_get(struct ticket_db *db, const char *key, char *value, size_t size)
{
	return meta_get(db, key, value, size);
}

/* ---- outbox ------------------------------------------------------------- */

int ticket_db_outbox_pending(struct ticket_db *db, struct ticket_outbox *rows, int max)
{
	int n = 0, rc;
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "SELECT o.id, o.event_id, o.ticket_id, o.format, o.attempts, o.inflight "
		       "FROM outbox o WHERE o.delivered_us IS NULL AND o.id = "
		       "(SELECT min(p.id) FROM outbox p WHERE p.ticket_id = o.ticket_id "
		       "AND p.delivered_us IS NULL) ORDER BY o.id LIMIT ?");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, max);
	while (n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct ticket_outbox *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(stmt, 0);
		r->event_id = sqlite3_column_int64(stmt, 1);
		r->ticket_id = sqlite3_column_int64(stmt, 2);
		copy_text(r->format, sizeof(r->format), sqlite3_column_text(stmt, 3));
		r->attempts = sqlite3_column_int(stmt, 4);
		r->inflight = sqlite3_column_int(stmt, 5) != 0;
	}
	if (n < max && rc != SQLITE_DONE) {
		int ret = catalog_fail(db->c, rc, "list webhook outbox");
		sqlite3_finalize(stmt);
		return ret;
	}
	sqlite3_finalize(stmt);
	return n;
}

/* Runs one UPDATE of an outbox row: ?1 is the row id; bind sets the rest. */
static int outbox_update(struct ticket_db *db, const char *sql, int64_t id, int64_t a, int b,
			 const char *text)
{
	int ret;
	if ((ret = tx_begin(db)) < 0)
		return ret;
	sqlite3_stmt *stmt = catalog_prepare(db->c, sql);
	ret = -EIO;
	if (stmt) {
		sqlite3_bind_int64(stmt, 1, id);
		sqlite3_bind_int64(stmt, 2, a);
		sqlite3_bind_int(stmt, 3, b);
		bind_text(stmt, 4, text);
		ret = step_done(db, stmt, "update webhook outbox");
	}
	return tx_end(db, ret < 0 ? ret : 0);
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

int ticket_db_outbox_counts(struct ticket_db *db, int64_t *pending, int64_t *delivered)
{
	sqlite3_stmt *stmt = catalog_prepare(
		db->c, "SELECT count(*) FILTER (WHERE delivered_us IS NULL), "
		       "count(*) FILTER (WHERE delivered_us IS NOT NULL) FROM outbox");
	if (!stmt)
		return -EIO;
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW) {
		if (pending)
			*pending = sqlite3_column_int64(stmt, 0);
		if (delivered)
			*delivered = sqlite3_column_int64(stmt, 1);
	} else {
		ret = catalog_fail(db->c, rc, "count webhook outbox");
	}
	sqlite3_finalize(stmt);
	return ret;
}
