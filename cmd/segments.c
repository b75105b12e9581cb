/* vigil segments: what was recorded, as a table or as JSON. */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/timefmt.h"
#include "util/banned.h"

struct listing {
	const struct config *cfg;
	struct json_writer *json;
	int64_t count;
};

static int print_segment(const struct catalog_segment *s, void *opaque)
{
	struct listing *l = opaque;
	char path[PATH_MAX];
	char start[40], end[40];

	if (fs_join(path, sizeof(path), l->cfg->storage_path, s->path) < 0)
		snprintf(path, sizeof(path), "%s", s->path);
	l->count++;
	if (l->json) {
		struct json_writer *w = l->json;
		jw_begin_object(w);
		jw_kv_int(w, "id", s->id);
		jw_kv_string(w, "camera", s->camera);
		jw_kv_string(w, "path", path);
		jw_kv_string(w, "relpath", s->path);
		jw_kv_time(w, "start", s->start_us);
		if (s->end_us >= 0)
			jw_kv_time(w, "end", s->end_us);
		else
			jw_kv_string(w, "end", NULL);
		jw_kv_double(w, "duration_s", (double)s->duration_us / 1e6, 3);
		jw_kv_int(w, "bytes", s->bytes);
		jw_kv_int(w, "frames", s->frames);
		jw_kv_int(w, "keyframes", s->keyframes);
		jw_kv_string(w, "sha256", s->end_us >= 0 ? s->sha256 : NULL);
		jw_kv_string(w, "state", catalog_segment_state_name(s->state));
		jw_kv_string(w, "codec", s->codec);
		jw_kv_int(w, "width", s->width);
		jw_kv_int(w, "height", s->height);
		jw_kv_bool(w, "audio", s->has_audio);
		if (s->deleted_us >= 0) {
			jw_kv_time(w, "deleted", s->deleted_us);
			jw_kv_string(w, "delete_reason", s->delete_reason);
		}
		jw_end_object(w);
		return 0;
	}
	time_format_local(s->start_us, start, sizeof(start));
	if (s->end_us >= 0)
		time_format_local(s->end_us, end, sizeof(end));
	else
		snprintf(end, sizeof(end), "(writing)");
	printf("%-8" PRId64 " %-12s %-19s  %-19s %8.1fs %10" PRId64 " %6" PRId64 "  %-9s %s\n",
	       s->id, s->camera, start, end, (double)s->duration_us / 1e6, s->bytes, s->frames,
	       catalog_segment_state_name(s->state), s->path);
	return 0;
}

int cmd_segments(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "camera", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "now", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct catalog_filter filter = { 0 };
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'C': filter.camera = optarg; break;
		case 'f':
			if (cmd_parse_time("--from", optarg, &filter.from_us) < 0)
				return EXIT_USAGE;
			break;
		case 't':
			if (cmd_parse_time("--to", optarg, &filter.to_us) < 0)
				return EXIT_USAGE;
			break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'j': json = true; break;
		case 'a': filter.include_deleted = true; break;
		case 'h': cmd_print_usage("segments", false); return EXIT_OK;
		default: return cmd_usage_error("segments", "bad option");
		}
	}
	int usage = cmd_options_done("segments", argc, argv, config_path);
	if (usage)
		return usage;
	if (filter.to_us && filter.from_us && filter.to_us <= filter.from_us)
		return cmd_usage_error("segments", "--to must be after --from");

	struct config *cfg = cmd_load_config(config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	if (filter.camera && !config_camera(cfg, filter.camera))
		fprintf(stderr, "vigil segments: note: camera '%s' is not in %s\n", filter.camera,
			config_path);
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	if (!cat) {
		config_free(&cfg);
		return EXIT_NOT_OK;
	}
	struct json_writer w;
	struct listing l = { .cfg = cfg };
	if (json) {
		jw_init_file(&w, stdout, true);
		l.json = &w;
		jw_begin_array(&w);
	}
	int ret = catalog_segments_each(cat, &filter, print_segment, &l);
	if (json) {
		jw_end_array(&w);
		jw_finish(&w);
	} else if (l.count == 0) {
		fprintf(stderr, "no segments\n");
	}
	if (ret < 0)
		fprintf(stderr, "vigil segments: %s\n", db_errmsg(ret));
	catalog_close(&cat);
	config_free(&cfg);
	return ret < 0 ? EXIT_NOT_OK : EXIT_OK;
}
