/*
 * vigil serve: the web console and HTTP API (web/) until SIGTERM/SIGINT.
 * Loads the config without any camera's or broker's credentials (the
 * console needs neither), prints the URL it answers on, and hands over to
 * web_serve().
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/log.h"
#include "web/web.h"
#include "util/banned.h"

static void print_url(const char *url, void *ctx)
{
	(void)ctx;
	printf("vigil serve: console at %s\n", url);
	fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "now", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	bool verbose = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'v': verbose = true; break;
		case 'h': cmd_print_usage("serve", false); return EXIT_OK;
		default: return cmd_usage_error("serve", "bad option");
		}
	}
	int usage = cmd_options_done("serve", argc, argv, config_path);
	if (usage)
		return usage;

	struct config *cfg = cmd_load_config(config_path, true, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	log_set_level(verbose ? LOG_LEVEL_DEBUG : (enum log_level)cfg->log_level);
	cmd_install_stop_signals();

	char err[512] = "";
	int ret = web_serve(cfg, &cmd_stop_requested, print_url, NULL, err, sizeof(err));
	if (ret < 0)
		fprintf(stderr, "vigil serve: %s\n", err[0] ? err : strerror(-ret));
	config_free(&cfg);
	return ret < 0 ? EXIT_NOT_OK : EXIT_OK;
}
