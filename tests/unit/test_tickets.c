/* tickets/store: the ticket database's rules (one open ticket per fault,
 * levels only escalate, events with idempotency keys and outbox rows in
 * the same transaction), the checker state, batches. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tickets/tickets.h"
#include "tests/unit/test.h"
#include "util/clock.h"
#include "util/db.h"

static struct ticket_db *open_db(const char *outbox)
{
	char err[512];
	struct ticket_db *db = ticket_db_open(test_path("tickets.db"), CATALOG_READ_WRITE, outbox,
					      err, sizeof(err));
	if (!db)
		test_fail(__FILE__, __LINE__, "open: %s", err);
	return db;
}

static void fill(struct ticket *t, enum ticket_kind kind, const char *camera, int level)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->level = level;
	snprintf(t->recorder, sizeof(t->recorder), "rec1");
	snprintf(t->camera, sizeof(t->camera), "%s", camera);
	snprintf(t->site, sizeof(t->site), "Zone 1");
	snprintf(t->location, sizeof(t->location), "Gate 3");
	t->fault_start_us = 1000;
}

static int count_events(const struct ticket_event *ev, void *ctx)
{
	(void)ev;
	(*(int *)ctx)++;
	return 0;
}

static int count_tickets(const struct ticket *t, void *ctx)
{
	(void)t;
	(*(int *)ctx)++;
	return 0;
}

static void life_of_a_ticket(void)
{
	struct ticket_db *db = open_db("json");
	struct ticket t, u, got;
	struct ticket_event ev;
	if (!db)
		return;
	CHECK_INT(strlen(ticket_db_instance(db)), 16);

	fill(&t, TICKET_CAMERA_DOWN, "gate3", 4);
	CHECK_INT(ticket_db_open_ticket(db, &t, 2000, "grace over", &ev), 0);
	CHECK(t.id > 0);
	CHECK_INT(ev.kind, TICKET_EV_OPENED);
	char key[TICKET_KEY_MAX];
	snprintf(key, sizeof(key), "vigil-%s-%lld", ticket_db_instance(db), (long long)ev.id);
	CHECK_STR(ev.key, key);

	/* T1: one ticket per fault that is not resolved */
	fill(&u, TICKET_CAMERA_DOWN, "gate3", 4);
	CHECK_INT(ticket_db_open_ticket(db, &u, 2001, NULL, NULL), -EEXIST);
	fill(&u, TICKET_CAMERA_DEGRADED, "gate3", 4);
	CHECK_INT(ticket_db_open_ticket(db, &u, 2002, NULL, NULL), 0);
	fill(&u, TICKET_CAMERA_DOWN, "gate4", 4);
	CHECK_INT(ticket_db_open_ticket(db, &u, 2003, NULL, NULL), 0);

	/* levels only escalate */
	CHECK_INT(ticket_db_escalate(db, t.id, 3, 3000, "still down", &ev), 0);
	CHECK_INT(ev.level, 3);
	CHECK_STR(ev.note, "level 4 to 3");
	CHECK_INT(ticket_db_escalate(db, t.id, 3, 3001, NULL, NULL), -EINVAL);
	CHECK_INT(ticket_db_escalate(db, t.id, 4, 3001, NULL, NULL), -EINVAL);
	CHECK_INT(ticket_db_escalate(db, t.id, 0, 3001, NULL, NULL), -EINVAL);
	CHECK_INT(ticket_db_escalate(db, 999, 2, 3001, NULL, NULL), -ENOENT);
	CHECK_INT(ticket_db_get(db, t.id, &got), 0);
	CHECK_INT(got.level, 3);
	CHECK_INT(got.escalated_us, 3000);
	CHECK_STR(got.detail, "still down");

	/* acknowledged once */
	CHECK_INT(ticket_db_acknowledge(db, t.id, 4000, "ana", "on my way", &ev), 0);
	CHECK_STR(ev.actor, "ana");
	CHECK_INT(ticket_db_acknowledge(db, t.id, 4001, "bob", NULL, NULL), -EALREADY);
	CHECK_INT(ticket_db_get(db, t.id, &got), 0);
	CHECK_INT(got.state, TICKET_ACKNOWLEDGED);
	CHECK_INT(got.acknowledged_us, 4000);
	CHECK_STR(got.acknowledged_by, "ana");

	/* resolved once; nothing more happens to it */
	CHECK_INT(ticket_db_resolve(db, t.id, 5000, 4900, "checker", "clear", &ev), 0);
	CHECK_INT(ticket_db_resolve(db, t.id, 5001, 4901, "checker", NULL, NULL), -EALREADY);
	CHECK_INT(ticket_db_escalate(db, t.id, 1, 5002, NULL, NULL), -ESTALE);
	CHECK_INT(ticket_db_acknowledge(db, t.id, 5003, "bob", NULL, NULL), -ESTALE);
	CHECK_INT(ticket_db_get(db, t.id, &got), 0);
	CHECK_INT(got.state, TICKET_RESOLVED);
	CHECK_INT(got.fault_end_us, 4900);
	CHECK_INT(got.resolved_us, 5000);

	/* a new episode of the same fault may open a new ticket */
	fill(&u, TICKET_CAMERA_DOWN, "gate3", 4);
	CHECK_INT(ticket_db_open_ticket(db, &u, 6000, NULL, NULL), 0);
	/* so the old one cannot be reopened now */
	CHECK_INT(ticket_db_reopen(db, t.id, 6001, NULL, NULL), -EEXIST);
	CHECK_INT(ticket_db_resolve(db, u.id, 6002, -1, "ana", NULL, NULL), 0);
	CHECK_INT(ticket_db_get(db, u.id, &got), 0);
	CHECK_INT(got.fault_end_us, -1);
	CHECK_INT(ticket_db_reopen(db, t.id, 6003, "went on", &ev), 0);
	CHECK_INT(ev.kind, TICKET_EV_REOPENED);
	CHECK_INT(ticket_db_get(db, t.id, &got), 0);
	CHECK_INT(got.state, TICKET_ACKNOWLEDGED); /* it had been acknowledged */
	CHECK_INT(got.resolved_us, -1);
	CHECK_INT(ticket_db_reopen(db, t.id, 6004, NULL, NULL), -EINVAL);

	/* events: every change, in order, each with its own key and outbox row */
	int n = 0;
	CHECK_INT(ticket_db_events_each(db, t.id, 0, count_events, &n), 0);
	CHECK_INT(n, 5); /* opened, escalated, acknowledged, resolved, reopened */
	int64_t last;
	CHECK_INT(ticket_db_last_event(db, &last), 0);
	n = 0;
	CHECK_INT(ticket_db_events_each(db, 0, 0, count_events, &n), 0);
	CHECK_INT(n, last);
	int64_t pending = 0, delivered = 0;
	CHECK_INT(ticket_db_outbox_counts(db, &pending, &delivered), 0);
	CHECK_INT(pending, last);
	CHECK_INT(delivered, 0);

	/* listings */
	struct ticket_filter f = { 0 };
	n = 0;
	CHECK_INT(ticket_db_each(db, &f, count_tickets, &n), 0);
	CHECK_INT(n, 3); /* t (reopened), degraded gate3, gate4 */
	f.include_resolved = true;
	n = 0;
	CHECK_INT(ticket_db_each(db, &f, count_tickets, &n), 0);
	CHECK_INT(n, 4);
	struct ticket_filter r = { .resolved_from_us = 6000, .resolved_to_us = 7000 };
	n = 0;
	CHECK_INT(ticket_db_each(db, &r, count_tickets, &n), 0);
	CHECK_INT(n, 1);
	struct ticket_filter o = { .include_resolved = true,
				   .opened_from_us = 2001,
				   .opened_to_us = 2003,
				   .camera = "gate3" };
	n = 0;
	CHECK_INT(ticket_db_each(db, &o, count_tickets, &n), 0);
	CHECK_INT(n, 1);
	ticket_db_close(&db);
	CHECK(db == NULL);
}

static void outbox_order(void)
{
	struct ticket_db *db = open_db("glpi");
	struct ticket a, b;
	struct ticket_outbox rows[8];
	if (!db)
		return;
	fill(&a, TICKET_CAMERA_DOWN, "a", 4);
	fill(&b, TICKET_CAMERA_DOWN, "b", 4);
	CHECK_INT(ticket_db_open_ticket(db, &a, 1, NULL, NULL), 0);
	CHECK_INT(ticket_db_escalate(db, a.id, 3, 2, NULL, NULL), 0);
	CHECK_INT(ticket_db_open_ticket(db, &b, 3, NULL, NULL), 0);
	/* the head of each ticket only, oldest first */
	int n = ticket_db_outbox_pending(db, rows, 8);
	CHECK_INT(n, 2);
	CHECK_INT(rows[0].ticket_id, a.id);
	CHECK_INT(rows[1].ticket_id, b.id);
	CHECK_STR(rows[0].format, "glpi");
	int64_t first = rows[0].id;
	/* an attempt that may have created the external ticket stays inflight */
	CHECK_INT(ticket_db_outbox_attempt(db, first, 10, true), 0);
	CHECK_INT(ticket_db_outbox_failed(db, first, "timeout", true), 0);
	n = ticket_db_outbox_pending(db, rows, 8);
	CHECK_INT(rows[0].id, first);
	CHECK(rows[0].inflight);
	CHECK_INT(rows[0].attempts, 1);
	CHECK_INT(ticket_db_outbox_failed(db, first, "refused", false), 0);
	n = ticket_db_outbox_pending(db, rows, 8);
	CHECK(!rows[0].inflight);
	CHECK_INT(ticket_db_outbox_done(db, first, 11, false), 0);
	n = ticket_db_outbox_pending(db, rows, 8);
	CHECK_INT(n, 2);
	CHECK_INT(rows[0].ticket_id, a.id); /* now its escalation */
	CHECK(rows[0].id > first);
	CHECK_INT(ticket_db_set_external(db, a.id, "glpi", "123"), 0);
	struct ticket got;
	CHECK_INT(ticket_db_get(db, a.id, &got), 0);
	CHECK_STR(got.external_id, "123");
	CHECK_STR(got.external_system, "glpi");
	ticket_db_close(&db);

	/* without an outbox format, no outbox rows */
	db = open_db(NULL);
	struct ticket c;
	fill(&c, TICKET_STORAGE_ERROR, "", 4);
	CHECK_INT(ticket_db_open_ticket(db, &c, 5, NULL, NULL), 0);
	int64_t pending = -1;
	CHECK_INT(ticket_db_outbox_counts(db, &pending, NULL), 0);
	CHECK_INT(pending, 2); /* the two still pending from before, not this one */
	ticket_db_close(&db);
}

static int collect_fault(const struct ticket_fault *f, void *ctx)
{
	*(struct ticket_fault *)ctx = *f;
	return 0;
}

static int count_observed(const struct ticket_observed *o, void *ctx)
{
	(void)o;
	(*(int *)ctx)++;
	return 0;
}

static void checker_state(void)
{
	struct ticket_db *db = open_db(NULL);
	struct ticket_fault f, got;
	if (!db)
		return;
	memset(&f, 0, sizeof(f));
	f.kind = TICKET_CAMERA_DEGRADED;
	snprintf(f.recorder, sizeof(f.recorder), "rec1");
	snprintf(f.camera, sizeof(f.camera), "gate3");
	f.active = false;
	f.start_us = 100;
	f.clear_since_us = 150;
	f.operator_resolved_us = -1;
	f.level = 0;
	snprintf(f.detail, sizeof(f.detail), "12 fps of 25");
	CHECK_INT(ticket_db_fault_save(db, &f), 0);
	f.clear_since_us = 160; /* saved again: replaced */
	CHECK_INT(ticket_db_fault_save(db, &f), 0);
	memset(&got, 0, sizeof(got));
	CHECK_INT(ticket_db_faults_each(db, collect_fault, &got), 0);
	CHECK_INT(got.kind, TICKET_CAMERA_DEGRADED);
	CHECK_STR(got.camera, "gate3");
	CHECK_INT(got.start_us, 100);
	CHECK_INT(got.clear_since_us, 160);
	CHECK_INT(got.ticket_id, 0);
	CHECK_INT(got.operator_resolved_us, -1);
	CHECK_STR(got.detail, "12 fps of 25");
	CHECK_INT(ticket_db_fault_delete(db, f.kind, "rec1", "gate3"), 0);
	memset(&got, 0, sizeof(got));
	CHECK_INT(ticket_db_faults_each(db, collect_fault, &got), 0);
	CHECK_INT(got.start_us, 0);

	struct ticket_observed o = { .since_us = 5, .updated_us = 6 };
	snprintf(o.recorder, sizeof(o.recorder), "rec1");
	snprintf(o.state, sizeof(o.state), "online");
	CHECK_INT(ticket_db_observed_save(db, &o, "{\"at\":1}"), 0);
	snprintf(o.state, sizeof(o.state), "offline");
	CHECK_INT(ticket_db_observed_save(db, &o, NULL), 0); /* payload kept */
	char payload[64];
	int64_t updated;
	CHECK_INT(ticket_db_recorder_payload(db, "rec1", payload, sizeof(payload), &updated), 0);
	CHECK_STR(payload, "{\"at\":1}");
	CHECK_INT(ticket_db_recorder_payload(db, "rec2", payload, sizeof(payload), NULL), -ENOENT);
	snprintf(o.camera, sizeof(o.camera), "gate3");
	snprintf(o.state, sizeof(o.state), "down");
	CHECK_INT(ticket_db_observed_save(db, &o, NULL), 0);
	int n = 0;
	CHECK_INT(ticket_db_observed_each(db, count_observed, &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(ticket_db_observed_forget(db, "rec1", "gate3"), 0);
	n = 0;
	CHECK_INT(ticket_db_observed_each(db, count_observed, &n), 0);
	CHECK_INT(n, 1);

	CHECK_INT(ticket_db_meta_set(db, "mqtt_cursor", "42"), 0);
	char v[16];
	CHECK_INT(ticket_db_meta_get(db, "mqtt_cursor", v, sizeof(v)), 0);
	CHECK_STR(v, "42");
	CHECK_INT(ticket_db_meta_get(db, "nothing", v, sizeof(v)), -ENOENT);
	ticket_db_close(&db);
}

static void batches(void)
{
	struct ticket_db *db = open_db("json");
	struct ticket t, u;
	if (!db)
		return;
	CHECK_INT(ticket_db_batch_begin(db), 0);
	CHECK_INT(ticket_db_batch_begin(db), -EINVAL);
	fill(&t, TICKET_CAMERA_DOWN, "a", 4);
	CHECK_INT(ticket_db_open_ticket(db, &t, 1, NULL, NULL), 0);
	/* a refused change inside a batch undoes only itself */
	fill(&u, TICKET_CAMERA_DOWN, "a", 4);
	CHECK_INT(ticket_db_open_ticket(db, &u, 2, NULL, NULL), -EEXIST);
	CHECK_INT(ticket_db_escalate(db, t.id, 3, 3, NULL, NULL), 0);
	CHECK_INT(ticket_db_batch_end(db), 0);
	CHECK_INT(ticket_db_batch_end(db), -EINVAL);
	ticket_db_close(&db);

	/* everything survived, and only once */
	db = open_db(NULL);
	struct ticket got;
	CHECK_INT(ticket_db_get(db, t.id, &got), 0);
	CHECK_INT(got.level, 3);
	int n = 0;
	CHECK_INT(ticket_db_events_each(db, 0, 0, count_events, &n), 0);
	CHECK_INT(n, 2);
	int64_t pending;
	CHECK_INT(ticket_db_outbox_counts(db, &pending, NULL), 0);
	CHECK_INT(pending, 2);

	/* a batch left open by a crash (closed without its end) is rolled back */
	CHECK_INT(ticket_db_batch_begin(db), 0);
	fill(&u, TICKET_CAMERA_DOWN, "b", 4);
	CHECK_INT(ticket_db_open_ticket(db, &u, 4, NULL, NULL), 0);
	ticket_db_close(&db);
	db = open_db(NULL);
	CHECK_INT(ticket_db_get(db, u.id, &got), -ENOENT);
	ticket_db_close(&db);
}

static void read_only(void)
{
	char err[512];
	struct ticket_db *db =
		ticket_db_open(test_path("none.db"), CATALOG_READ_ONLY, NULL, err, sizeof(err));
	CHECK(db == NULL);
	CHECK_CONTAINS(err, "none.db");
	db = open_db(NULL);
	ticket_db_close(&db);
	db = ticket_db_open(test_path("tickets.db"), CATALOG_READ_ONLY, NULL, err, sizeof(err));
	CHECK(db != NULL);
	struct ticket t;
	if (db) {
		fill(&t, TICKET_CAMERA_DOWN, "a", 4);
		CHECK(ticket_db_open_ticket(db, &t, 1, NULL, NULL) < 0);
	}
	ticket_db_close(&db);
	enum ticket_kind k;
	CHECK_INT(ticket_kind_parse("recorder-offline", &k), 0);
	CHECK_INT(k, TICKET_RECORDER_OFFLINE);
	CHECK_INT(ticket_kind_parse("camera-exploded", &k), -EINVAL);
}

/* Tickets name cameras, sites and people: the database is 0640 whatever
 * the umask. */
static void file_is_private(void)
{
	mode_t old = umask(0);
	struct ticket_db *db = open_db(NULL);
	umask(old);
	if (!db)
		return;
	struct stat st;
	CHECK_INT(stat(test_path("tickets.db"), &st), 0);
	CHECK_INT(st.st_mode & 07777, 0640);
	ticket_db_close(&db);
}

extern const struct db_migration ticket_migrations[];

/* A database of schema 1, with a ticket, its event, its outbox row and a
 * fault, upgraded to the kinds of schema 2: every row kept, and the new
 * kinds accepted by the constraints that refused them. */
static void upgrade_keeps_rows_and_takes_new_kinds(void)
{
	char err[256];
	struct db *old = db_open(test_path("tickets.db"), false, "ticket database", "vigil check",
				 ticket_migrations, 1, err, sizeof(err));
	if (!old) {
		test_fail(__FILE__, __LINE__, "open at schema 1: %s", err);
		return;
	}
	sqlite3_stmt *s =
		db_stmt(old, "INSERT INTO ticket (id, kind, recorder, camera, level, state, "
			     "fault_start_us, opened_us) VALUES (7, 'camera-down', 'rec1', "
			     "'gate3', 3, 'open', 10, 20)");
	CHECK_INT(db_run(old, s, "insert"), 0);
	s = db_stmt(old, "INSERT INTO ticket_event (ticket_id, kind, at_us, level, actor, "
			 "idempotency_key) VALUES (7, 'opened', 20, 3, 'checker', 'k1')");
	CHECK_INT(db_run(old, s, "insert"), 0);
	s = db_stmt(old, "INSERT INTO outbox (event_id, ticket_id, format, created_us) "
			 "VALUES (1, 7, 'json', 20)");
	CHECK_INT(db_run(old, s, "insert"), 0);
	s = db_stmt(old, "INSERT INTO fault (kind, recorder, camera, active, start_us, ticket_id) "
			 "VALUES ('camera-down', 'rec1', 'gate3', 1, 10, 7)");
	CHECK_INT(db_run(old, s, "insert"), 0);
	s = db_stmt(old, "INSERT INTO ticket (kind, recorder, level, state, fault_start_us, "
			 "opened_us) VALUES ('site-unreachable', 'rec1', 1, 'open', 1, 2)");
	CHECK(db_run(old, s, "insert") < 0); /* schema 1 does not know the kind */
	db_close(&old);

	struct ticket_db *db = open_db("json");
	if (!db)
		return;
	struct ticket got;
	CHECK_INT(ticket_db_get(db, 7, &got), 0);
	CHECK_INT(got.kind, TICKET_CAMERA_DOWN);
	CHECK_STR(got.camera, "gate3");
	int64_t pending = 0;
	CHECK_INT(ticket_db_outbox_counts(db, &pending, NULL), 0);
	CHECK_INT(pending, 1);
	int n = 0;
	CHECK_INT(ticket_db_events_each(db, 7, 0, count_events, &n), 0);
	CHECK_INT(n, 1);
	struct ticket t;
	for (int k = TICKET_SITE_UNREACHABLE; k < TICKET_KIND_COUNT; k++) {
		fill(&t, (enum ticket_kind)k, k == TICKET_SITE_UNREACHABLE ? "" : "gate3", 4);
		CHECK_INT(ticket_db_open_ticket(db, &t, 3000, NULL, NULL), 0);
		CHECK_INT(ticket_db_get(db, t.id, &got), 0);
		CHECK_INT(got.kind, k);
		enum ticket_kind parsed;
		CHECK_INT(ticket_kind_parse(ticket_kind_name((enum ticket_kind)k), &parsed), 0);
		CHECK_INT(parsed, k);
	}
	ticket_db_close(&db);
}

const struct test_case tickets_tests[] = {
	{ "life_of_a_ticket", life_of_a_ticket },
	{ "outbox_order", outbox_order },
	{ "checker_state", checker_state },
	{ "batches", batches },
	{ "read_only", read_only },
	{ "file_is_private", file_is_private },
	{ "upgrade_keeps_rows_and_takes_new_kinds", upgrade_keeps_rows_and_takes_new_kinds },
	{ NULL, NULL },
};
