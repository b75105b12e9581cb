/*
 * vigil tickets: list, show, acknowledge and resolve maintenance tickets.
 * Checks the options and the --by name, reads the ticket database through
 * the store (tickets/tickets.h) and prints tickets as text or JSON; the
 * acknowledgement and resolution themselves are tickets/operator.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "tickets/tickets.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/json.h"
#include "util/timefmt.h"
#include "util/banned.h"

struct tickets_opts {
	bool json;
	bool all;	/* list: resolved tickets too */
	const char *by; /* ack/resolve: who */
	const char *note;
};

static int parse_id(const char *s, int64_t *id)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v <= 0)
		return -EINVAL;
	*id = v;
	return 0;
}

/* NULL after saying why; *ret: -ENOENT (no database yet) or -EIO. */
static struct ticket_db *open_db(const struct config *cfg, bool write, int *ret)
{
	struct ticket_db *db;
	char msg[512];

	*ret = tickets_open_config(cfg, write, &db, msg, sizeof(msg));
	if (*ret == -ENOENT)
		fprintf(stderr,
			"vigil tickets: no ticket database at '%s' (has vigil check run with this "
			"config?)\n",
			cfg->checker_database);
	else if (*ret < 0)
		fprintf(stderr, "vigil tickets: %s\n", msg);
	return db;
}

static void local_time(int64_t us, char *out, size_t size)
{
	if (us < 0)
		snprintf(out, size, "-");
	else
		time_format_local(us, out, size);
}

/* ---- list ---------------------------------------------------------------- */

struct list_ctx {
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
		printf("%-6s %-5s %-12s %-17s %-16s %-16s %-16s %s\n", "ID", "LEVEL", "STATE",
		       "KIND", "RECORDER", "CAMERA", "OPENED", "TEXT");
	time_format_local(t->opened_us, opened, sizeof(opened));
	opened[16] = '\0'; /* to the minute */
	ticket_text(t, c->now, text, sizeof(text));
	printf("%-6" PRId64 " %-5d %-12s %-17s %-16s %-16s %-16s %s\n", t->id, t->level,
	       ticket_state_name(t->state), ticket_kind_name(t->kind), t->recorder,
	       t->camera[0] ? t->camera : "-", opened, text);
	return 0;
}

static int list(const struct config *cfg, const struct tickets_opts *o)
{
	int ret = 0;
	struct ticket_db *db = open_db(cfg, false, &ret);
	struct ticket_filter f = { .include_resolved = o->all };
	struct list_ctx c = { .json = o->json, .now = clock_wall_us() };

	if (!db)
		return ret;
	if (c.json) {
		jw_init_file(&c.w, stdout, true);
		jw_begin_array(&c.w);
	}
	ret = ticket_db_each(db, &f, list_one, &c);
	if (c.json) {
		jw_end_array(&c.w);
		if (jw_finish(&c.w) < 0 && ret == 0)
			ret = -EIO;
	} else if (ret == 0 && c.count == 0) {
		printf(o->all ? "no tickets\n" : "no open tickets\n");
	}
	if (ret < 0)
		fprintf(stderr, "vigil tickets: cannot read '%s': %s\n", cfg->checker_database,
			db_errmsg(ret));
	ticket_db_close(&db);
	return ret;
}

/* ---- recorders ----------------------------------------------------------- */

/* The recorders are read whole first: a walk must not start another from
 * its callback, and the cameras are a walk of their own. */
struct recorders_ctx {
	struct ticket_recorder *rows;
	size_t n, cap;
};

static int collect_recorder(const struct ticket_recorder *r, void *arg)
{
	struct recorders_ctx *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct ticket_recorder *p = realloc(c->rows, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->rows = p;
		c->cap = cap;
	}
	c->rows[c->n++] = *r;
	return 0;
}

struct camera_print {
	struct json_writer *w; /* NULL: text */
	bool known;	       /* the recorder is online: its cameras' states hold */
};

/* A camera's state is only as good as its recorder's link: while the
 * recorder is offline or cut off, it is unknown, not down. */
static const char *camera_state(const struct ticket_recorder_camera *cam, bool known)
{
	return !known || !cam->state[0] ? "unknown" : cam->state;
}

static int print_camera(const struct ticket_recorder_camera *cam, void *arg)
{
	struct camera_print *p = arg;
	if (!p->w) {
		printf("    %-16s %-12s %s\n", cam->camera, camera_state(cam, p->known),
		       cam->location);
		return 0;
	}
	jw_begin_object(p->w);
	jw_kv_string(p->w, "camera", cam->camera);
	jw_kv_string(p->w, "site", cam->site);
	jw_kv_string(p->w, "location", cam->location);
	jw_kv_string(p->w, "state", camera_state(cam, p->known));
	jw_kv_bool(p->w, "inventoried", cam->inventoried);
	jw_end_object(p->w);
	return 0;
}

static void kv_time_or_null(struct json_writer *w, const char *key, int64_t us)
{
	if (us >= 0) {
		jw_kv_time(w, key, us);
	} else {
		jw_key(w, key);
		jw_null(w);
	}
}

static int recorders(const struct config *cfg, const struct tickets_opts *o)
{
	int ret = 0;
	struct ticket_db *db = open_db(cfg, false, &ret);
	struct recorders_ctx c = { 0 };
	struct json_writer w;
	char key[TICKET_ID_MAX], seen[40];

	if (!db)
		return ret;
	if ((ret = ticket_db_recorders_each(db, collect_recorder, &c)) < 0)
		goto out;
	if (o->json) {
		jw_init_file(&w, stdout, true);
		jw_begin_array(&w);
	} else if (c.n == 0) {
		printf("no recorders seen yet\n");
	}
	for (size_t i = 0; i < c.n && ret == 0; i++) {
		const struct ticket_recorder *r = &c.rows[i];
		bool new_site = i == 0 || strcmp(r->site, c.rows[i - 1].site) != 0;
		bool known = strcmp(r->state, "online") == 0;
		struct camera_print p = { o->json ? &w : NULL, known };
		ticket_site_key(r->site, key, sizeof(key));
		if (o->json) {
			if (new_site) {
				if (i > 0) {
					jw_end_array(&w);
					jw_end_object(&w);
				}
				jw_begin_object(&w);
				jw_kv_string(&w, "site", r->site);
				jw_kv_string(&w, "site_key", key);
				jw_key(&w, "recorders");
				jw_begin_array(&w);
			}
			jw_begin_object(&w);
			jw_kv_string(&w, "recorder", r->recorder);
			jw_kv_string(&w, "site", r->site);
			jw_kv_string(&w, "state", r->state[0] ? r->state : "unknown");
			kv_time_or_null(&w, "state_since", r->state_since_us);
			jw_kv_time(&w, "first_seen", r->first_seen_us);
			jw_kv_time(&w, "last_seen", r->last_seen_us);
			jw_kv_string(&w, "version", r->version[0] ? r->version : NULL);
			jw_kv_string(&w, "console_url", r->console_url[0] ? r->console_url : NULL);
			kv_time_or_null(&w, "inventory_at", r->inventory_us);
			jw_kv_int(&w, "ncameras", r->ncameras);
			jw_key(&w, "cameras");
			jw_begin_array(&w);
			ret = ticket_db_recorder_cameras_each(db, r->recorder, print_camera, &p);
			jw_end_array(&w);
			jw_end_object(&w);
			continue;
		}
		if (new_site)
			printf("%ssite %s (%s)\n", i > 0 ? "\n" : "", r->site[0] ? r->site : "-",
			       key[0] ? key : "no site key");
		time_format_local(r->last_seen_us, seen, sizeof(seen));
		seen[19] = '\0'; /* to the second */
		printf("  %-16s %-12s last seen %s  %d camera%s  %s  %s\n", r->recorder,
		       r->state[0] ? r->state : "unknown", seen, r->ncameras,
		       r->ncameras == 1 ? "" : "s", r->version[0] ? r->version : "-",
		       r->console_url[0] ? r->console_url : "no console");
		ret = ticket_db_recorder_cameras_each(db, r->recorder, print_camera, &p);
	}
	if (o->json) {
		if (c.n > 0) {
			jw_end_array(&w);
			jw_end_object(&w);
		}
		jw_end_array(&w);
		if (jw_finish(&w) < 0 && ret == 0)
			ret = -EIO;
	}
out:
	if (ret < 0)
		fprintf(stderr, "vigil tickets: cannot read '%s': %s\n", cfg->checker_database,
			db_errmsg(ret));
	free(c.rows);
	ticket_db_close(&db);
	return ret;
}

/* ---- show ---------------------------------------------------------------- */

static int show_event_text(const struct ticket_event *ev, void *arg)
{
	(void)arg;
	char at[40];
	time_format_local(ev->at_us, at, sizeof(at));
	printf("  %s  %-12s level %d  %-10s %s\n", at, ticket_event_kind_name(ev->kind), ev->level,
	       ev->actor, ev->note);
	return 0;
}

static int show_event_json(const struct ticket_event *ev, void *arg)
{
	ticket_event_json(arg, ev);
	return 0;
}

static int show_json(struct ticket_db *db, const struct ticket *t, int64_t now)
{
	struct json_writer w;
	jw_init_file(&w, stdout, true);
	jw_begin_object(&w);
	ticket_json_fields(&w, t, now);
	jw_key(&w, "events");
	jw_begin_array(&w);
	int ret = ticket_db_events_each(db, t->id, 0, show_event_json, &w);
	jw_end_array(&w);
	jw_end_object(&w);
	if (jw_finish(&w) < 0 && ret == 0)
		ret = -EIO;
	return ret;
}

struct held_ctx {
	int64_t ticket_id;
	int count;
};

/* The faults this ticket's cause holds back, each opening its own ticket
 * only if it outlasts the cause. */
static int show_held(const struct ticket_fault *f, void *arg)
{
	struct held_ctx *h = arg;
	char since[40];
	if (f->held_by != h->ticket_id || f->ticket_id > 0)
		return 0;
	if (h->count++ == 0)
		printf("holding back:\n");
	local_time(f->start_us, since, sizeof(since));
	printf("  %-17s %s%s%s  since %s%s\n", ticket_kind_name(f->kind), f->recorder,
	       f->camera[0] ? "/" : "", f->camera, since, f->active ? "" : " (clear)");
	return 0;
}

static int show_text(struct ticket_db *db, const struct ticket *t, int64_t now)
{
	char text[1024], a[40], b[40], c[40], d[40], e[40], f[40];
	ticket_text(t, now, text, sizeof(text));
	local_time(t->fault_start_us, a, sizeof(a));
	local_time(t->fault_end_us, b, sizeof(b));
	local_time(t->opened_us, c, sizeof(c));
	local_time(t->escalated_us, d, sizeof(d));
	local_time(t->acknowledged_us, e, sizeof(e));
	local_time(t->resolved_us, f, sizeof(f));
	printf("ticket %" PRId64 ": %s\n", t->id, text);
	printf("  kind          %s\n", ticket_kind_name(t->kind));
	printf("  level         %d\n", t->level);
	printf("  state         %s\n", ticket_state_name(t->state));
	printf("  recorder      %s\n", t->recorder);
	printf("  camera        %s\n", t->camera[0] ? t->camera : "-");
	printf("  site          %s\n", t->site[0] ? t->site : "-");
	printf("  location      %s\n", t->location[0] ? t->location : "-");
	printf("  fault start   %s\n", a);
	printf("  fault end     %s\n", b);
	printf("  opened        %s\n", c);
	printf("  escalated     %s\n", d);
	printf("  acknowledged  %s%s%s\n", e, t->acknowledged_by[0] ? " by " : "",
	       t->acknowledged_by);
	printf("  resolved      %s%s%s\n", f, t->resolved_by[0] ? " by " : "", t->resolved_by);
	if (t->external_id[0])
		printf("  external      %s %s\n", t->external_system, t->external_id);
	struct held_ctx h = { t->id, 0 };
	int ret = ticket_db_faults_each(db, show_held, &h);
	if (ret < 0)
		return ret;
	printf("events:\n");
	return ticket_db_events_each(db, t->id, 0, show_event_text, NULL);
}

static int show(const struct config *cfg, int64_t id, const struct tickets_opts *o)
{
	int ret = 0;
	struct ticket_db *db = open_db(cfg, false, &ret);
	struct ticket t;
	int64_t now = clock_wall_us();

	if (!db)
		return ret;
	if ((ret = ticket_db_get(db, id, &t)) < 0) {
		if (ret == -ENOENT)
			fprintf(stderr, "vigil tickets: no ticket %" PRId64 "\n", id);
		else
			fprintf(stderr, "vigil tickets: cannot read ticket %" PRId64 ": %s\n", id,
				db_errmsg(ret));
	} else {
		ret = o->json ? show_json(db, &t, now) : show_text(db, &t, now);
	}
	ticket_db_close(&db);
	return ret;
}

/* ---- ack and resolve ----------------------------------------------------- */

/* Who acts: --by, else $USER, else "operator"; letters, digits and a few
 * signs, so it fits in a ticket and a log line as it is. */
static int actor(const struct tickets_opts *o, char *out, size_t size)
{
	const char *by = o->by ? o->by : getenv("USER");
	if (!by || !*by)
		by = "operator";
	if (strlen(by) >= size || strlen(by) > 64) {
		fprintf(stderr, "vigil tickets: --by: a name of at most 64 characters, please\n");
		return -EINVAL;
	}
	for (const char *p = by; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr("-_.@ ", *p)) {
			fprintf(stderr,
				"vigil tickets: --by: '%s' may hold only letters, digits, "
				"spaces and - _ . @\n",
				by);
			return -EINVAL;
		}
	}
	if (strcmp(by, "checker") == 0) {
		fprintf(stderr, "vigil tickets: --by: 'checker' is the checker's own name\n");
		return -EINVAL;
	}
	snprintf(out, size, "%s", by);
	return 0;
}

static void say_changed(const struct config *cfg, struct ticket_db *db, int64_t id, bool resolve,
			const char *by, int ret, int64_t now)
{
	const char *verb = resolve ? "resolved" : "acknowledged";
	char text[1024], when[40];
	struct ticket t;

	switch (ret) {
	case 0:
		ticket_db_get(db, id, &t);
		ticket_text(&t, now, text, sizeof(text));
		printf("ticket %" PRId64 " %s by %s: %s\n", id, verb, by, text);
		break;
	case -ENOENT: fprintf(stderr, "vigil tickets: no ticket %" PRId64 "\n", id); break;
	case -EALREADY:
		ticket_db_get(db, id, &t);
		local_time(resolve ? t.resolved_us : t.acknowledged_us, when, sizeof(when));
		fprintf(stderr, "vigil tickets: ticket %" PRId64 " was already %s at %s by %s\n",
			id, verb, when, resolve ? t.resolved_by : t.acknowledged_by);
		break;
	case -ESTALE:
		fprintf(stderr, "vigil tickets: ticket %" PRId64 " is resolved already\n", id);
		break;
	default:
		fprintf(stderr, "vigil tickets: cannot change ticket %" PRId64 " in '%s': %s\n", id,
			cfg->checker_database, db_errmsg(ret));
	}
}

/* ---- heads: the audit chain heads witnessed, for `vigil verify --heads` ---- */

struct heads_print {
	struct json_writer *w; /* NULL: text */
	int n;
};

static int print_head(const struct ticket_chain_head *h, void *arg)
{
	struct heads_print *p = arg;
	char heard[40];
	p->n++;
	if (p->w) {
		jw_begin_object(p->w);
		jw_kv_string(p->w, "camera", h->camera);
		jw_kv_int(p->w, "seq", h->seq);
		jw_kv_string(p->w, "hash", h->hash);
		jw_kv_time(p->w, "first_heard", h->first_heard_us);
		jw_kv_time(p->w, "heard", h->heard_us);
		jw_end_object(p->w);
		return 0;
	}
	time_format_local(h->heard_us, heard, sizeof(heard));
	heard[19] = '\0'; /* to the second */
	printf("  %-16s entry %-10" PRId64 " %s  heard %s\n", h->camera, h->seq, h->hash, heard);
	return 0;
}

static int heads(const struct config *cfg, const char *recorder, const struct tickets_opts *o)
{
	int ret = 0;
	struct ticket_db *db = open_db(cfg, false, &ret);
	struct json_writer w;
	struct heads_print p = { o->json ? &w : NULL, 0 };

	if (!db)
		return ret;
	if (o->json) {
		/* the shape of `vigil verify --json`, which --heads reads */
		jw_init_file(&w, stdout, true);
		jw_begin_object(&w);
		jw_kv_string(&w, "recorder", recorder);
		jw_key(&w, "chain_heads");
		jw_begin_array(&w);
	} else {
		printf("audit chain heads of recorder %s, as heard by the checker:\n", recorder);
	}
	ret = ticket_db_witnessed_each(db, recorder, print_head, &p);
	if (o->json) {
		jw_end_array(&w);
		jw_end_object(&w);
		if (jw_finish(&w) < 0 && ret == 0)
			ret = -EIO;
	} else if (ret == 0 && p.n == 0) {
		printf("  none\n");
	}
	if (ret == 0 && p.n == 0) {
		fprintf(stderr, "vigil tickets: no audit chain heads heard from recorder '%s'\n",
			recorder);
		ret = -ENOENT;
	}
	ticket_db_close(&db);
	return ret;
}

static int change(const struct config *cfg, int64_t id, const struct tickets_opts *o, bool resolve)
{
	char by[TICKET_ID_MAX], note[TICKET_DETAIL_MAX];
	int ret = actor(o, by, sizeof(by));
	if (ret < 0)
		return ret;
	snprintf(note, sizeof(note), "%s", o->note ? o->note : "");
	struct ticket_db *db = open_db(cfg, true, &ret);
	if (!db)
		return ret;
	int64_t now = clock_wall_us();
	if (resolve)
		ret = tickets_resolve(db, id, now, by, note);
	else
		ret = tickets_acknowledge(db, id, now, by, note);
	say_changed(cfg, db, id, resolve, by, ret, now);
	ticket_db_close(&db);
	return ret;
}

/* ---- the command --------------------------------------------------------- */

int cmd_tickets(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },	    { "by", required_argument, NULL, 'b' },
		{ "note", required_argument, NULL, 'm' },   { "now", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },	    { NULL, 0, NULL, 0 },
	};
	struct tickets_opts o = { 0 };
	const char *config_path = NULL;
	int64_t id = 0;
	int c;

	while ((c = getopt_long(argc, argv, "c:jab:m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'j': o.json = true; break;
		case 'a': o.all = true; break;
		case 'b': o.by = optarg; break;
		case 'm': o.note = optarg; break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h': cmd_print_usage("tickets", false); return EXIT_OK;
		default: return cmd_usage_error("tickets", "bad option");
		}
	}
	const char *action = optind < argc ? argv[optind++] : "list";
	const char *recorder = NULL;
	bool is_heads = strcmp(action, "heads") == 0;
	bool needs_id =
		strcmp(action, "list") != 0 && strcmp(action, "recorders") != 0 && !is_heads;
	if (strcmp(action, "list") != 0 && strcmp(action, "show") != 0 &&
	    strcmp(action, "ack") != 0 && strcmp(action, "resolve") != 0 &&
	    strcmp(action, "recorders") != 0 && !is_heads)
		return cmd_usage_error(
			"tickets",
			"unknown action '%s' (list, show, ack, resolve, recorders, heads)", action);
	if (is_heads) {
		if (optind >= argc)
			return cmd_usage_error("tickets", "heads needs a recorder id");
		recorder = argv[optind++];
	}
	if (needs_id) {
		if (optind >= argc)
			return cmd_usage_error("tickets", "%s needs a ticket number", action);
		if (parse_id(argv[optind], &id) < 0)
			return cmd_usage_error("tickets", "'%s' is not a ticket number",
					       argv[optind]);
		optind++;
	}
	int usage = cmd_options_done("tickets", argc, argv, config_path);
	if (usage)
		return usage;

	struct config *cfg = cmd_load_config(config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	int ret;
	if (strcmp(action, "list") == 0)
		ret = list(cfg, &o);
	else if (strcmp(action, "recorders") == 0)
		ret = recorders(cfg, &o);
	else if (is_heads)
		ret = heads(cfg, recorder, &o);
	else if (strcmp(action, "show") == 0)
		ret = show(cfg, id, &o);
	else
		ret = change(cfg, id, &o, strcmp(action, "resolve") == 0);
	config_free(&cfg);
	switch (ret) {
	case 0:
	case -EALREADY: /* acknowledging twice changes nothing */ return EXIT_OK;
	case -EINVAL: return EXIT_USAGE;
	case -ENOENT: return needs_id ? EXIT_USAGE : EXIT_NOT_OK;
	default: return EXIT_NOT_OK;
	}
}
