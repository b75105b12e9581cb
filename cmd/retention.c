/*
 * vigil sweep, hold, verify and export: argument parsing and printing over
 * the retention module.
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

/* ---- vigil sweep ------------------------------------------------------------ */

struct sweep_print {
	struct json_writer *json;
	bool dry_run;
};

static void print_deletion(const struct catalog_segment *seg, const char *reason, void *ctx)
{
	struct sweep_print *p = ctx;
	char start[40], end[40];

	if (p->json) {
		jw_begin_object(p->json);
		jw_kv_int(p->json, "id", seg->id);
		jw_kv_string(p->json, "camera", seg->camera);
		jw_kv_string(p->json, "path", seg->path);
		jw_kv_time(p->json, "start", seg->start_us);
		jw_kv_time(p->json, "end", seg->end_us);
		jw_kv_int(p->json, "bytes", seg->bytes);
		jw_kv_string(p->json, "reason", reason);
		jw_end_object(p->json);
		return;
	}
	time_format_local(seg->start_us, start, sizeof(start));
	time_format_local(seg->end_us, end, sizeof(end));
	printf("%s %-8" PRId64 " %-12s %s - %s  %-18s %s\n",
	       p->dry_run ? "would delete" : "deleted", seg->id, seg->camera, start, end, reason,
	       seg->path);
}

int cmd_sweep(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "now", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "accept-clock", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	bool dry_run = false, json = false, accept = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'd': dry_run = true; break;
		case 'j': json = true; break;
		case 'a': accept = true; break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h': cmd_print_usage("sweep", false); return EXIT_OK;
		default: return cmd_usage_error("sweep", "bad option");
		}
	}
	int usage = cmd_options_done("sweep", argc, argv, config_path);
	if (usage)
		return usage;

	struct config *cfg = cmd_load_config(config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat =
		cmd_open_catalog(cfg, dry_run && !accept ? CATALOG_READ_ONLY : CATALOG_READ_WRITE);
	int status = EXIT_NOT_OK, ret;
	if (!cat)
		goto out;
	if (accept) {
		if ((ret = retention_accept_clock(cat, clock_wall_us())) < 0) {
			fprintf(stderr, "vigil sweep: cannot record the accepted clock: %s\n",
				db_errmsg(ret));
			goto out;
		}
		fprintf(stderr, "wall clock accepted: a running recorder resumes deleting\n");
	}
	if (!dry_run && (ret = retention_finish_deletions(cfg, cat, clock_wall_us())) < 0)
		fprintf(stderr, "vigil sweep: cannot finish deletions left half-done: %s\n",
			db_errmsg(ret));

	struct json_writer w;
	struct sweep_print p = { .dry_run = dry_run };
	if (json) {
		jw_init_file(&w, stdout, true);
		p.json = &w;
		jw_begin_object(&w);
		jw_kv_time(&w, "now", clock_wall_us());
		jw_kv_bool(&w, "dry_run", dry_run);
		jw_key(&w, "segments");
		jw_begin_array(&w);
	}
	/* batches rest 120 ms: a recorder running beside never waits long */
	struct retention_sweep_options opts = {
		.now_us = clock_wall_us(),
		.dry_run = dry_run,
		.free_bytes = -1,
		.pause_us = 120 * 1000,
	};
	struct retention_sweep_result res;
	ret = retention_sweep(cfg, cat, &opts, print_deletion, &p, &res);
	if (json) {
		jw_end_array(&w);
		jw_kv_int(&w, "deleted", res.deleted);
		jw_kv_int(&w, "deleted_bytes", res.deleted_bytes);
		jw_kv_int(&w, "held", res.held);
		jw_kv_int(&w, "below_floor", res.below_floor);
		jw_kv_int(&w, "failed", res.failed);
		jw_kv_bool(&w, "still_full", res.still_full);
		jw_end_object(&w);
		jw_finish(&w);
	} else {
		printf("%s %" PRId64 " segments (%.1f MB); %" PRId64 " kept by legal holds%s\n",
		       dry_run ? "would delete" : "deleted", res.deleted,
		       (double)res.deleted_bytes / (1024 * 1024), res.held,
		       res.still_full ? "; the storage is still below its reserve" : "");
	}
	if (ret < 0)
		fprintf(stderr, "vigil sweep: %s\n", db_errmsg(ret));
	else
		status = res.failed || res.below_floor ? EXIT_NOT_OK : EXIT_OK;
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}

/* ---- vigil hold ----------------------------------------------------------------- */

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

int cmd_hold(int argc, char **argv)
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
	const char *config_path = NULL, *camera = NULL, *reason = NULL;
	int64_t from = 0, to = 0;
	bool has_from = false, has_to = false, json = false, all = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'C': camera = optarg; break;
		case 'r': reason = optarg; break;
		case 'j': json = true; break;
		case 'a': all = true; break;
		case 'f':
			if (cmd_parse_time("--from", optarg, &from) < 0)
				return EXIT_USAGE;
			has_from = true;
			break;
		case 't':
			if (cmd_parse_time("--to", optarg, &to) < 0)
				return EXIT_USAGE;
			has_to = true;
			break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h': cmd_print_usage("hold", false); return EXIT_OK;
		default: return cmd_usage_error("hold", "bad option");
		}
	}
	if (optind >= argc)
		return cmd_usage_error("hold", "say add, release ID or list");
	const char *action = argv[optind];
	if (!config_path)
		return cmd_usage_error("hold", "-c FILE is required");

	bool add = strcmp(action, "add") == 0, release = strcmp(action, "release") == 0,
	     list = strcmp(action, "list") == 0;
	int64_t id = 0;
	if (!add && !release && !list)
		return cmd_usage_error("hold", "unknown action '%s' (add, release, list)", action);
	if (add && (!camera || !has_from || !has_to || !reason || !*reason))
		return cmd_usage_error("hold",
				       "add needs --camera ID --from T --to T --reason TEXT");
	if (add && to <= from)
		return cmd_usage_error("hold", "--to must be after --from");
	if (release) {
		char *end;
		if (optind + 1 >= argc)
			return cmd_usage_error("hold", "release needs the hold's number");
		id = strtoll(argv[optind + 1], &end, 10);
		if (*end || id <= 0)
			return cmd_usage_error("hold", "'%s' is not a hold number",
					       argv[optind + 1]);
	}

	struct config *cfg = cmd_load_config(config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, list ? CATALOG_READ_ONLY : CATALOG_READ_WRITE);
	int status = EXIT_NOT_OK, ret;
	if (!cat)
		goto out;
	if (add) {
		struct catalog_camera_stats st;
		if (!config_camera(cfg, camera) && catalog_camera_stats(cat, camera, &st) < 0) {
			fprintf(stderr, "vigil hold: unknown camera '%s'\n", camera);
			status = EXIT_USAGE;
			goto out;
		}
		if ((ret = catalog_hold_add(cat, camera, from, to, reason, clock_wall_us(), &id)) <
		    0) {
			fprintf(stderr, "vigil hold: cannot place the hold: %s\n", db_errmsg(ret));
			goto out;
		}
		/* say at once if part of the window has no footage to hold */
		struct continuity_report rep;
		if (continuity_compute(cfg, cat, camera, from, to, clock_wall_us(), &rep) == 0) {
			printf("hold #%" PRId64 " placed on %s: %.1f%% of the window has footage\n",
			       id, camera, rep.ncameras ? rep.cameras[0].coverage_percent : 0.0);
			if (!continuity_ok(&rep))
				continuity_write(&rep, REPORT_TEXT, stdout);
			continuity_release(&rep);
		}
		status = EXIT_OK;
	} else if (release) {
		ret = catalog_hold_release(cat, id, reason ? reason : "", clock_wall_us());
		if (ret == -ENOENT || ret == -EALREADY) {
			fprintf(stderr, "vigil hold: hold #%" PRId64 " %s\n", id,
				ret == -ENOENT ? "does not exist" : "is already released");
			status = EXIT_USAGE;
			goto out;
		}
		if (ret < 0) {
			fprintf(stderr, "vigil hold: cannot release: %s\n", db_errmsg(ret));
			goto out;
		}
		printf("hold #%" PRId64 " released\n", id);
		status = EXIT_OK;
	} else {
		struct json_writer w;
		if (json) {
			jw_init_file(&w, stdout, true);
			jw_begin_array(&w);
		}
		ret = catalog_holds_each(cat, camera, all, print_hold, json ? &w : NULL);
		if (json) {
			jw_end_array(&w);
			jw_finish(&w);
		}
		if (ret < 0)
			fprintf(stderr, "vigil hold: cannot list the holds: %s\n", db_errmsg(ret));
		status = ret < 0 ? EXIT_NOT_OK : EXIT_OK;
	}
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}

/* ---- vigil verify ------------------------------------------------------------------ */

struct problem_print {
	struct json_writer *json;
};

static int print_problem(const struct catalog_problem *p, void *ctx)
{
	struct problem_print *pp = ctx;
	if (pp->json) {
		jw_begin_object(pp->json);
		jw_kv_string(pp->json, "kind", p->kind);
		jw_kv_string(pp->json, "camera", p->camera);
		if (p->segment_id >= 0)
			jw_kv_int(pp->json, "segment", p->segment_id);
		else
			jw_kv_string(pp->json, "segment", NULL);
		jw_kv_string(pp->json, "path", p->path);
		jw_kv_string(pp->json, "detail", p->detail);
		jw_end_object(pp->json);
		return 0;
	}
	printf("%-22s %-12s %s%s%s\n", p->kind, *p->camera ? p->camera : "-", p->detail,
	       *p->path ? "  " : "", p->path);
	return 0;
}

static int print_head(const struct catalog_chain_head *h, void *ctx)
{
	struct json_writer *w = ctx;
	if (w) {
		jw_begin_object(w);
		jw_kv_string(w, "camera", h->camera);
		jw_kv_int(w, "seq", h->seq);
		jw_kv_string(w, "hash", h->hash);
		jw_end_object(w);
	} else {
		printf("  %-12s entry %" PRId64 " %s\n", h->camera, h->seq, h->hash);
	}
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "camera", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "export", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-hash", no_argument, NULL, 'H' },
		{ "now", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *export_path = NULL;
	struct verify_options opts = { .hash_files = true };
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'C': opts.camera = optarg; break;
		case 'e': export_path = optarg; break;
		case 'j': json = true; break;
		case 'H': opts.hash_files = false; break;
		case 'f':
			if (cmd_parse_time("--from", optarg, &opts.from_us) < 0)
				return EXIT_USAGE;
			break;
		case 't':
			if (cmd_parse_time("--to", optarg, &opts.to_us) < 0)
				return EXIT_USAGE;
			break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h': cmd_print_usage("verify", false); return EXIT_OK;
		default: return cmd_usage_error("verify", "bad option");
		}
	}
	int usage = cmd_options_done("verify", argc, argv, config_path);
	if (usage)
		return usage;

	struct config *cfg = cmd_load_config(config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	int status = EXIT_NOT_OK, ret;
	if (!cat)
		goto out;
	struct json_writer w;
	struct problem_print pp = { NULL };
	struct verify_counts counts = { 0 };
	if (json) {
		jw_init_file(&w, stdout, true);
		pp.json = &w;
		jw_begin_object(&w);
		jw_key(&w, "problems");
		jw_begin_array(&w);
	}
	if (export_path)
		ret = retention_verify_export(cfg, cat, export_path, print_problem, &pp, &counts);
	else
		ret = retention_verify(cfg, cat, &opts, print_problem, &pp, &counts);
	if (json) {
		jw_end_array(&w);
		jw_kv_bool(&w, "ok", ret == 0 && counts.problems == 0);
		jw_kv_int(&w, "checked", counts.segments);
		jw_kv_int(&w, "audit_entries", counts.entries);
		jw_kv_int(&w, "files", counts.files);
		if (!export_path) {
			jw_key(&w, "chain_heads");
			jw_begin_array(&w);
			catalog_chain_heads(cat, print_head, &w);
			jw_end_array(&w);
		}
		jw_end_object(&w);
		jw_finish(&w);
	} else if (ret == 0 && export_path) {
		printf("%s: the export and its %" PRId64 " source segments checked; %" PRId64
		       " problem%s\n",
		       counts.problems ? "NOT OK" : "ok", counts.segments, counts.problems,
		       counts.problems == 1 ? "" : "s");
	} else if (ret == 0) {
		printf("%s: %" PRId64 " segment files, %" PRId64 " audit entries, %" PRId64
		       " files on disk checked; %" PRId64 " problem%s\n",
		       counts.problems ? "NOT OK" : "ok", counts.segments, counts.entries,
		       counts.files, counts.problems, counts.problems == 1 ? "" : "s");
		if (!export_path) {
			printf("audit chain heads (note them to detect a chain cut short "
			       "later):\n");
			catalog_chain_heads(cat, print_head, NULL);
		}
	}
	if (ret < 0)
		fprintf(stderr, "vigil verify: %s\n", db_errmsg(ret));
	else
		status = counts.problems ? EXIT_NOT_OK : EXIT_OK;
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}

/* ---- vigil export --------------------------------------------------------------------- */

int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "camera", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "now", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct export_request req = { 0 };
	bool has_from = false, has_to = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'C': req.camera = optarg; break;
		case 'o': req.out_path = optarg; break;
		case 'f':
			if (cmd_parse_time("--from", optarg, &req.from_us) < 0)
				return EXIT_USAGE;
			has_from = true;
			break;
		case 't':
			if (cmd_parse_time("--to", optarg, &req.to_us) < 0)
				return EXIT_USAGE;
			has_to = true;
			break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h': cmd_print_usage("export", false); return EXIT_OK;
		default: return cmd_usage_error("export", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("export", "unexpected argument '%s'", argv[optind]);
	if (!config_path || !req.camera || !has_from || !has_to || !req.out_path)
		return cmd_usage_error(
			"export", "-c FILE --camera ID --from T --to T -o OUT.mp4 are required");
	if (req.to_us <= req.from_us)
		return cmd_usage_error("export", "--to must be after --from");

	struct config *cfg = cmd_load_config(config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	int status = EXIT_NOT_OK;
	char err[512];
	struct export_result res;
	if (!cat)
		goto out;
	int ret = retention_export(cfg, cat, &req, &res, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "vigil export: %s\n", err);
		status = ret == -EEXIST ? EXIT_USAGE : EXIT_NOT_OK;
		goto out;
	}
	char a[40], b[40];
	time_format_local(res.first_us, a, sizeof(a));
	time_format_local(res.last_us, b, sizeof(b));
	printf("%s: %d segments, %s to %s, %.1f s, %" PRId64 " bytes, %d gap%s\nsha256 %s\n"
	       "manifest %s\n",
	       req.out_path, res.segments, a, b, res.duration_s, res.bytes, res.gaps,
	       res.gaps == 1 ? "" : "s", res.sha256, res.manifest_path);
	status = EXIT_OK;
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}
