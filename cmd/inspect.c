/*
 * vigil inspect: picture checks on demand.  `now` checks each camera's
 * newest footage, read from its segment files (no recorder needed; with
 * one running, the result joins its history of checks); `accept` takes a
 * camera's current view as the reference its later pictures are judged
 * against.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "ingest/ingest.h"
#include "inspect/inspect.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/json.h"
#include "util/redact.h"
#include "util/timefmt.h"
#include "util/banned.h"

static void print_json(struct json_writer *w, const struct inspect_result *r)
{
	jw_begin_object(w);
	jw_kv_string(w, "camera", r->camera);
	jw_kv_string(w, "picture", inspect_picture_name(r->state));
	jw_kv_time(w, "checked", r->checked_us);
	jw_key(w, "clock_offset_s");
	jw_null(w); /* only the recorder hears the camera's sender reports */
	jw_kv_string(w, "reason", r->reason);
	if (r->frame_us >= 0)
		jw_kv_time(w, "frame", r->frame_us);
	else
		jw_kv_string(w, "frame", NULL);
	jw_kv_bool(w, "reference", r->reference);
	jw_key(w, "measures");
	jw_begin_object(w);
	jw_kv_double(w, "mean", r->m.mean, 1);
	jw_kv_double(w, "spread", r->m.spread, 1);
	jw_kv_double(w, "detail", r->m.detail, 2);
	jw_kv_double(w, "detail_ratio", r->m.detail_ratio, 3);
	jw_kv_double(w, "match", r->m.match, 3);
	jw_kv_int(w, "changed_blocks", r->m.changed_blocks);
	jw_end_object(w);
	char *b64 = NULL;
	size_t size = r->jpeg_len ? (r->jpeg_len + 2) / 3 * 4 + 1 : 0;
	if (size && (b64 = malloc(size)) && base64_encode(r->jpeg, r->jpeg_len, b64, size) == 0)
		jw_kv_string(w, "thumbnail", b64);
	else
		jw_kv_string(w, "thumbnail", NULL);
	free(b64);
	jw_end_object(w);
}

static int inspect_now(const struct config *cfg, struct catalog *cat, const char *camera, bool json)
{
	struct json_writer w;
	int status = EXIT_OK;
	if (json) {
		jw_init_file(&w, stdout, true);
		jw_begin_array(&w);
	}
	for (size_t i = 0; i < cfg->ncameras; i++) {
		const struct camera_config *cam = &cfg->cameras[i];
		struct inspect_result r;
		if (camera && strcmp(camera, cam->id) != 0)
			continue;
		int ret = inspect_camera(cfg, cat, cam, clock_wall_us(), &r);
		if (ret < 0) {
			fprintf(stderr, "vigil inspect: camera '%s': %s\n", cam->id,
				db_errmsg(ret));
			status = EXIT_NOT_OK;
			continue;
		}
		if (r.state != PICTURE_OK)
			status = EXIT_NOT_OK;
		if (json) {
			print_json(&w, &r);
		} else {
			char when[40];
			time_format_local(r.checked_us, when, sizeof(when));
			printf("%-12s %-8s %s%s%s\n", cam->id, inspect_picture_name(r.state), when,
			       r.reason[0] ? "  " : "", r.reason);
		}
		inspect_result_release(&r);
	}
	if (json) {
		jw_end_array(&w);
		jw_finish(&w);
	}
	return status;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "camera", required_argument, NULL, 'C' },
		{ "now", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *camera = NULL;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'C': camera = optarg; break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'j': json = true; break;
		case 'h': cmd_print_usage("inspect", false); return EXIT_OK;
		default: return cmd_usage_error("inspect", "bad option");
		}
	}
	if (!config_path)
		return cmd_usage_error("inspect", "no config given (-c FILE)");
	if (optind >= argc)
		return cmd_usage_error("inspect", "say 'now' or 'accept CAMERA'");
	const char *verb = argv[optind];
	bool accept = strcmp(verb, "accept") == 0;
	if (!accept && strcmp(verb, "now") != 0)
		return cmd_usage_error("inspect", "unknown action '%s'", verb);
	if (accept) {
		if (optind + 2 != argc)
			return cmd_usage_error("inspect", "accept takes one camera");
		camera = argv[optind + 1];
	} else if (optind + 1 != argc) {
		return cmd_usage_error("inspect", "unexpected argument '%s'", argv[optind + 1]);
	}

	struct config *cfg = cmd_load_config(config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	const struct camera_config *cam = camera ? config_camera(cfg, camera) : NULL;
	if (camera && !cam) {
		fprintf(stderr, "vigil inspect: no camera '%s' in %s\n", camera, config_path);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_WRITE);
	if (!cat) {
		config_free(&cfg);
		return EXIT_NOT_OK;
	}
	ingest_install_av_log(); /* a corrupt keyframe is a reason, not noise */
	int status;
	if (accept) {
		char err[256] = "";
		int ret = inspect_accept(cfg, cat, cam, clock_wall_us(), err, sizeof(err));
		if (ret < 0) {
			fprintf(stderr,
				"vigil inspect: camera '%s': cannot take the reference: %s\n",
				cam->id, err);
			status = EXIT_NOT_OK;
		} else {
			printf("camera '%s': the current view is its reference\n", cam->id);
			status = EXIT_OK;
		}
	} else {
		status = inspect_now(cfg, cat, camera, json);
	}
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}
