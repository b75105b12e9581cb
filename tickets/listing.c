/*
 * The work of `vigil tickets`: listing and showing tickets, and a person's
 * acknowledgement or resolution.  Those two are events like the checker's
 * own: written with their outbox row in one transaction, so the running
 * checker publishes them on MQTT and its webhook delivers them, exactly as
 * it does its own.
 */
#include "tickets/tickets.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tickets/tickets.h"
#include "tickets/tickets.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/json.h"
#include "util/timefmt.h"

static struct ticket_db *open_db(const struct config *cfg, bool write, FILE *err, int *ret)
{
	char msg[512];
	if (access(cfg->checker_database, F_OK) < 0) {
		fprintf(err,
			"vigil tickets: no ticket database at '%s' (has vigil check run with this "
			"config?)\n",
			cfg->checker_database);
		*ret = -ENOENT;
		return NULL;
	}
	struct ticket_db *db = ticket_db_open(
		cfg->checker_database, write ? CATALOG_READ_WRITE : CATALOG_READ_ONLY,
		write && cfg->webhook_url ? config_webhook_format_name(cfg->webhook_format) : NULL,
		msg, sizeof(msg));
	if (!db) {
		fprintf(err, "vigil tickets: %s\n", msg);
		*ret = -EIO;
	}
	return db;
}

static void local_time(int64_t us, char *out, size_t size)
{
	if (us < 0)
		snprintf(out, size, "-");
	else
		time_format_local(us, out, size);
}

struct list_ctx {
	FILE *out;
	struct json_writer w;
	bool json;
	int count;
	int64_t now;
};

static int list_one(const struct ticket *t, void *arg)
{
	struct list_ctx *c = arg;
	char opened[40], text[1024];
	c->count++;
	if (c->json) {
		ticket_json(&c->w, t, c->now);
		return 0;
	}
	if (c->count == 1)
		fprintf(c->out, "%-6s %-5s %-12s %-17s %-16s %-16s %-16s %s\n", "ID", "LEVEL",
			"STATE", "KIND", "RECORDER", "CAMERA", "OPENED", "TEXT");
	time_format_local(t->opened_us, opened, sizeof(opened));
	opened[16] = '\0'; /* to the minute */
	ticket_text(t, c->now, text, sizeof(text));
	fprintf(c->out, "%-6" PRId64 " %-5d %-12s %-17s %-16s %-16s %-16s %s\n", t->id, t->level,
		ticket_state_name(t->state), ticket_kind_name(t->kind), t->recorder,
		t->camera[0] ? t->camera : "-", opened, text);
	return 0;
}

int tickets_list(const struct config *cfg, const struct tickets_opts *o, FILE *out, FILE *err)
{
	int ret = 0;
	struct ticket_db *db = open_db(cfg, false, err, &ret);
	struct ticket_filter f = { .include_resolved = o->all };
	struct list_ctx c = { .out = out, .json = o->json, .now = clock_wall_us() };

	if (!db)
		return ret;
	if (c.json) {
		jw_init_file(&c.w, out, true);
		jw_begin_array(&c.w);
	}
	ret = ticket_db_each(db, &f, list_one, &c);
	if (c.json) {
		jw_end_array(&c.w);
		if (jw_finish(&c.w) < 0 && ret == 0)
			ret = -EIO;
	} else if (ret == 0 && c.count == 0) {
		fprintf(out, o->all ? "no tickets\n" : "no open tickets\n");
	}
	if (ret < 0)
		fprintf(err, "vigil tickets: cannot read '%s': %s\n", cfg->checker_database,
			db_errmsg(ret));
	ticket_db_close(&db);
	return ret;
}

struct show_ctx {
	FILE *out;
	struct json_writer *w;
};

static int show_event(const struct ticket_event *ev, void *arg)
{
	struct show_ctx *c = arg;
	char at[40];
	if (c->w) {
		ticket_event_json(c->w, ev);
		return 0;
	}
	time_format_local(ev->at_us, at, sizeof(at));
	fprintf(c->out, "  %s  %-12s level %d  %-10s %s\n", at, ticket_event_kind_name(ev->kind),
		ev->level, ev->actor, ev->note);
	return 0;
}

int tickets_show(const struct config *cfg, int64_t id, const struct tickets_opts *o, FILE *out,
		 FILE *err)
{
	int ret = 0;
	struct ticket_db *db = open_db(cfg, false, err, &ret);
	struct ticket t;
	int64_t now = clock_wall_us();

	if (!db)
		return ret;
	if ((ret = ticket_db_get(db, id, &t)) < 0) {
		if (ret == -ENOENT)
			fprintf(err, "vigil tickets: no ticket %" PRId64 "\n", id);
		else
			fprintf(err, "vigil tickets: cannot read ticket %" PRId64 ": %s\n", id,
				db_errmsg(ret));
		goto out;
	}
	if (o->json) {
		struct json_writer w;
		struct show_ctx c = { out, &w };
		jw_init_file(&w, out, true);
		jw_begin_object(&w);
		ticket_json_fields(&w, &t, now);
		jw_key(&w, "events");
		jw_begin_array(&w);
		ret = ticket_db_events_each(db, id, 0, show_event, &c);
		jw_end_array(&w);
		jw_end_object(&w);
		if (jw_finish(&w) < 0 && ret == 0)
			ret = -EIO;
		goto out;
	}
	char text[1024], a[40], b[40], c1[40], d[40], e[40], f[40];
	ticket_text(&t, now, text, sizeof(text));
	local_time(t.fault_start_us, a, sizeof(a));
	local_time(t.fault_end_us, b, sizeof(b));
	local_time(t.opened_us, c1, sizeof(c1));
	local_time(t.escalated_us, d, sizeof(d));
	local_time(t.acknowledged_us, e, sizeof(e));
	local_time(t.resolved_us, f, sizeof(f));
	fprintf(out, "ticket %" PRId64 ": %s\n", t.id, text);
	fprintf(out, "  kind          %s\n", ticket_kind_name(t.kind));
	fprintf(out, "  level         %d\n", t.level);
	fprintf(out, "  state         %s\n", ticket_state_name(t.state));
	fprintf(out, "  recorder      %s\n", t.recorder);
	fprintf(out, "  camera        %s\n", t.camera[0] ? t.camera : "-");
	fprintf(out, "  site          %s\n", t.site[0] ? t.site : "-");
	fprintf(out, "  location      %s\n", t.location[0] ? t.location : "-");
	fprintf(out, "  fault start   %s\n", a);
	fprintf(out, "  fault end     %s\n", b);
	fprintf(out, "  opened        %s\n", c1);
	fprintf(out, "  escalated     %s\n", d);
	fprintf(out, "  acknowledged  %s%s%s\n", e, t.acknowledged_by[0] ? " by " : "",
		t.acknowledged_by);
	fprintf(out, "  resolved      %s%s%s\n", f, t.resolved_by[0] ? " by " : "", t.resolved_by);
	if (t.external_id[0])
		fprintf(out, "  external      %s %s\n", t.external_system, t.external_id);
	fprintf(out, "events:\n");
	struct show_ctx c = { out, NULL };
	ret = ticket_db_events_each(db, id, 0, show_event, &c);
out:
	ticket_db_close(&db);
	return ret;
}

/* Who acts: --by, else $USER, else "operator"; letters, digits and a few
 * signs, so it fits in a ticket and a log line as it is. */
static int actor(const struct tickets_opts *o, char *out, size_t size, FILE *err)
{
	const char *by = o->by ? o->by : getenv("USER");
	if (!by || !*by)
		by = "operator";
	if (strlen(by) >= size || strlen(by) > 64) {
		fprintf(err, "vigil tickets: --by: a name of at most 64 characters, please\n");
		return -EINVAL;
	}
	for (const char *p = by; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr("-_.@ ", *p)) {
			fprintf(err,
				"vigil tickets: --by: '%s' may hold only letters, digits, "
				"spaces and - _ . @\n",
				by);
			return -EINVAL;
		}
	}
	if (strcmp(by, "checker") == 0) {
		fprintf(err, "vigil tickets: --by: 'checker' is the checker's own name\n");
		return -EINVAL;
	}
	snprintf(out, size, "%s", by);
	return 0;
}

static int change(const struct config *cfg, int64_t id, const struct tickets_opts *o, bool resolve,
		  FILE *out, FILE *err)
{
	char by[TICKET_ID_MAX], note[TICKET_DETAIL_MAX], text[1024];
	struct ticket t;
	int ret = actor(o, by, sizeof(by), err);
	if (ret < 0)
		return ret;
	snprintf(note, sizeof(note), "%s", o->note ? o->note : "");
	struct ticket_db *db = open_db(cfg, true, err, &ret);
	if (!db)
		return ret;
	int64_t now = clock_wall_us();
	if (resolve)
		ret = ticket_db_resolve(db, id, now, -1, by, note, NULL);
	else
		ret = ticket_db_acknowledge(db, id, now, by, note, NULL);
	const char *verb = resolve ? "resolved" : "acknowledged";
	switch (ret) {
	case 0:
		ticket_db_get(db, id, &t);
		ticket_text(&t, now, text, sizeof(text));
		fprintf(out, "ticket %" PRId64 " %s by %s: %s\n", id, verb, by, text);
		break;
	case -ENOENT: fprintf(err, "vigil tickets: no ticket %" PRId64 "\n", id); break;
	case -EALREADY:
		ticket_db_get(db, id, &t);
		char when[40];
		local_time(resolve ? t.resolved_us : t.acknowledged_us, when, sizeof(when));
		fprintf(err, "vigil tickets: ticket %" PRId64 " was already %s at %s by %s\n", id,
			verb, when, resolve ? t.resolved_by : t.acknowledged_by);
		break;
	case -ESTALE:
		fprintf(err, "vigil tickets: ticket %" PRId64 " is resolved already\n", id);
		break;
	default:
		fprintf(err, "vigil tickets: cannot change ticket %" PRId64 " in '%s': %s\n", id,
			cfg->checker_database, db_errmsg(ret));
	}
	ticket_db_close(&db);
	return ret;
}

int tickets_ack(const struct config *cfg, int64_t id, const struct tickets_opts *o, FILE *out,
		FILE *err)
{
	return change(cfg, id, o, false, out, err);
}

int tickets_resolve(const struct config *cfg, int64_t id, const struct tickets_opts *o, FILE *out,
		    FILE *err)
{
	return change(cfg, id, o, true, out, err);
}
