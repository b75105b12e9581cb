/*
 * vigil export: one camera's footage over a window as one MP4 with its
 * manifest.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cmd/cmd.h"
#include "retention/retention.h"
#include "util/timefmt.h"
#include "util/banned.h"

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
