/* vigil config check: validate a config and say what it will do. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/banned.h"

int cmd_config(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	int c;

	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return cmd_usage_error("config", "the only sub-command is 'check'");
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'h': cmd_print_usage("config", false); return EXIT_OK;
		default: return cmd_usage_error("config", "bad option");
		}
	}
	int usage = cmd_options_done("config", argc, argv, config_path);
	if (usage)
		return usage;

	struct config_problems problems;
	struct config *cfg = config_load(config_path, &problems);
	config_problems_print(&problems, stderr);
	if (!cfg) {
		fprintf(stderr, "%s: %zu error%s\n", config_path, problems.errors,
			problems.errors == 1 ? "" : "s");
		config_problems_release(&problems);
		return EXIT_NOT_OK;
	}
	config_problems_release(&problems);
	printf("%s: ok\n", config_path);
	printf("recorder %s%s%s%s\n", cfg->recorder_id, *cfg->site ? " (" : "", cfg->site,
	       *cfg->site ? ")" : "");
	printf("storage  %s\ncatalog  %s\n", cfg->storage_path, cfg->catalog_path);
	printf("retain   %d days (delete after %d, on full: %s)\n", cfg->retain_days,
	       cfg->delete_after_days, config_on_full_name(cfg->on_full));
	printf("mqtt     %s:%d prefix %s\n", cfg->mqtt_host, cfg->mqtt_port, cfg->mqtt_prefix);
	printf("cameras  %zu\n", cfg->ncameras);
	for (size_t i = 0; i < cfg->ncameras; i++) {
		const struct camera_config *cam = &cfg->cameras[i];
		printf("  %-16s %s  segment %ds, retain %d days%s%s\n", cam->id, cam->display_url,
		       cam->segment_seconds, cam->retain_days, *cam->location ? ", " : "",
		       cam->location);
	}
	config_free(&cfg);
	return EXIT_OK;
}
