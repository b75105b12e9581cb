/*
 * vigil sweep: applies the retention rule now (or says what it would
 * delete), printing each deletion as text or JSON.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "retention/retention.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/json.h"
#include "util/timefmt.h"
#include "util/banned.h"

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
