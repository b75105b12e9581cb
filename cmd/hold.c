/*
 * vigil hold: places, releases and lists legal holds (footage the retention
 * rule must not delete).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "report/report.h"
#include "retention/retention.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/json.h"
#include "util/timefmt.h"
#include "util/banned.h"

static int print_hold(const struct catalog_hold *h, void *ctx)
{
	struct json_writer *w = ctx;
	char a[40], b[40], placed[40];

	if (w) {
		jw_begin_object(w);
		jw_kv_int(w, "id", h->id);
		jw_kv_string(w, "camera", h->camera);
		jw_kv_time(w, "start", h->start_us);
		jw_kv_time(w, "end", h->end_us);
		jw_kv_string(w, "reason", h->reason);
		jw_kv_time(w, "placed", h->placed_us);
		if (h->released_us >= 0) {
			jw_kv_time(w, "released", h->released_us);
			jw_kv_string(w, "release_reason", h->release_reason);
		} else {
			jw_kv_string(w, "released", NULL);
		}
		jw_end_object(w);
		return 0;
	}
	time_format_local(h->start_us, a, sizeof(a));
	time_format_local(h->end_us, b, sizeof(b));
	time_format_local(h->placed_us, placed, sizeof(placed));
	printf("#%-4" PRId64 " %-12s %s - %s  placed %s%s  %s\n", h->id, h->camera, a, b, placed,
	       h->released_us >= 0 ? " (released)" : "", h->reason);
	return 0;
}

/* What the command line asks for. */
enum hold_action { HOLD_ADD, HOLD_RELEASE, HOLD_LIST };

struct hold_args {
	const char *config_path, *camera, *reason;
	int64_t from, to;
	bool has_from, has_to, json, all;
	enum hold_action action;
	int64_t id; /* release */
};

/* Options into *a: -1 to go on, or the exit status to return at once. */
static int hold_parse_options(int argc, char **argv, struct hold_args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "camera", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "reason", required_argument, NULL, 'r' },
		{ "now", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config_path = optarg; break;
		case 'C': a->camera = optarg; break;
		case 'r': a->reason = optarg; break;
		case 'j': a->json = true; break;
		case 'a': a->all = true; break;
		case 'f':
			if (cmd_parse_time("--from", optarg, &a->from) < 0)
				return EXIT_USAGE;
			a->has_from = true;
			break;
		case 't':
			if (cmd_parse_time("--to", optarg, &a->to) < 0)
				return EXIT_USAGE;
			a->has_to = true;
			break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h': cmd_print_usage("hold", false); return EXIT_OK;
		default: return cmd_usage_error("hold", "bad option");
		}
	}
	return -1; /* go on */
}

/* The action word and what it needs; 0, or the usage error's exit status. */
static int hold_check_action(int argc, char **argv, struct hold_args *a)
{
	if (optind >= argc)
		return cmd_usage_error("hold", "say add, release ID or list");
	const char *action = argv[optind];
	if (!a->config_path)
		return cmd_usage_error("hold", "-c FILE is required");

	if (strcmp(action, "add") == 0)
		a->action = HOLD_ADD;
	else if (strcmp(action, "release") == 0)
		a->action = HOLD_RELEASE;
	else if (strcmp(action, "list") == 0)
		a->action = HOLD_LIST;
	else
		return cmd_usage_error("hold", "unknown action '%s' (add, release, list)", action);
	if (a->action == HOLD_ADD &&
	    (!a->camera || !a->has_from || !a->has_to || !a->reason || !*a->reason))
		return cmd_usage_error("hold",
				       "add needs --camera ID --from T --to T --reason TEXT");
	if (a->action == HOLD_ADD && a->to <= a->from)
		return cmd_usage_error("hold", "--to must be after --from");
	if (a->action == HOLD_RELEASE) {
		char *end;
		if (optind + 1 >= argc)
			return cmd_usage_error("hold", "release needs the hold's number");
		a->id = strtoll(argv[optind + 1], &end, 10);
		if (*end || a->id <= 0)
			return cmd_usage_error("hold", "'%s' is not a hold number",
					       argv[optind + 1]);
	}
	return 0;
}

/* vigil hold add: places the hold and says how much of it has footage. */
static int hold_add(const struct config *cfg, struct catalog *cat, const struct hold_args *a)
{
	struct catalog_camera_stats st;
	int64_t id;
	int ret;

	if (!config_camera(cfg, a->camera) && catalog_camera_stats(cat, a->camera, &st) < 0) {
		fprintf(stderr, "vigil hold: unknown camera '%s'\n", a->camera);
		return EXIT_USAGE;
	}
	if ((ret = catalog_hold_add(cat, a->camera, a->from, a->to, a->reason, clock_wall_us(),
				    &id)) < 0) {
		fprintf(stderr, "vigil hold: cannot place the hold: %s\n", db_errmsg(ret));
		return EXIT_NOT_OK;
	}
	/* say at once if part of the window has no footage to hold */
	struct continuity_report rep;
	if (continuity_compute(cfg, cat, a->camera, a->from, a->to, clock_wall_us(), &rep) == 0) {
		printf("hold #%" PRId64 " placed on %s: %.1f%% of the window has footage\n", id,
		       a->camera, rep.ncameras ? rep.cameras[0].coverage_percent : 0.0);
		if (!continuity_ok(&rep))
			continuity_write(&rep, REPORT_TEXT, stdout);
		continuity_release(&rep);
	}
	return EXIT_OK;
}

/* vigil hold release N */
static int hold_release(struct catalog *cat, const struct hold_args *a)
{
	int ret = catalog_hold_release(cat, a->id, a->reason ? a->reason : "", clock_wall_us());

	if (ret == -ENOENT || ret == -EALREADY) {
		fprintf(stderr, "vigil hold: hold #%" PRId64 " %s\n", a->id,
			ret == -ENOENT ? "does not exist" : "is already released");
		return EXIT_USAGE;
	}
	if (ret < 0) {
		fprintf(stderr, "vigil hold: cannot release: %s\n", db_errmsg(ret));
		return EXIT_NOT_OK;
	}
	printf("hold #%" PRId64 " released\n", a->id);
	return EXIT_OK;
}

/* vigil hold list */
static int hold_list(struct catalog *cat, const struct hold_args *a)
{
	struct json_writer w;

	if (a->json) {
		jw_init_file(&w, stdout, true);
		jw_begin_array(&w);
	}
	int ret = catalog_holds_each(cat, a->camera, a->all, print_hold, a->json ? &w : NULL);
	if (a->json) {
		jw_end_array(&w);
		jw_finish(&w);
	}
	return ret < 0 ? EXIT_NOT_OK : EXIT_OK;
}

int cmd_hold(int argc, char **argv)
{
	struct hold_args a = { 0 };
	int status = hold_parse_options(argc, argv, &a);

	if (status >= 0)
		return status;
	if ((status = hold_check_action(argc, argv, &a)) != 0)
		return status;

	struct config *cfg = cmd_load_config(a.config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, a.action == HOLD_LIST ? CATALOG_READ_ONLY
									  : CATALOG_READ_WRITE);
	status = EXIT_NOT_OK;
	if (cat) {
		switch (a.action) {
		case HOLD_ADD: status = hold_add(cfg, cat, &a); break;
		case HOLD_RELEASE: status = hold_release(cat, &a); break;
		case HOLD_LIST: status = hold_list(cat, &a); break;
		}
	}
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}
