/* Helpers shared by the sub-commands: config, catalog, flags. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/clock.h"
#include "util/timefmt.h"
#include "util/banned.h"

int cmd_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "vigil %s: ", command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	cmd_print_usage(command, true);
	return EXIT_USAGE;
}

struct config *cmd_load_config(const char *path, bool print_warnings, unsigned flags)
{
	struct config_problems problems;
	struct config *cfg = config_load_flags(path, flags, &problems);
	if (!cfg || print_warnings)
		config_problems_print(&problems, stderr);
	config_problems_release(&problems);
	return cfg;
}

int cmd_parse_time(const char *flag, const char *value, int64_t *us)
{
	if (time_parse(value, us) < 0) {
		fprintf(stderr,
			"vigil: %s: cannot parse time '%s' (use ISO 8601, e.g. "
			"2026-11-02T14:00:00+08:00 or 2026-11-02)\n",
			flag, value);
		return -1;
	}
	return 0;
}

int cmd_set_now(const char *value)
{
	int64_t now;
	if (cmd_parse_time("--now", value, &now) < 0)
		return -1;
	clock_set_now(now);
	return 0;
}

int cmd_options_done(const char *command, int argc, char **argv, const char *config_path)
{
	if (optind < argc)
		return cmd_usage_error(command, "unexpected argument '%s'", argv[optind]);
	if (!config_path)
		return cmd_usage_error(command, "-c FILE is required");
	return 0;
}

struct catalog *cmd_open_catalog(const struct config *cfg, enum catalog_open_mode mode)
{
	char err[512];
	if (mode == CATALOG_READ_ONLY && access(cfg->catalog_path, F_OK) < 0) {
		fprintf(stderr,
			"vigil: no catalog at '%s' (has vigil record run with this config?)\n",
			cfg->catalog_path);
		return NULL;
	}
	struct catalog *cat = catalog_open(cfg->catalog_path, mode, err, sizeof(err));
	if (!cat)
		fprintf(stderr, "vigil: %s\n", err);
	return cat;
}

volatile sig_atomic_t cmd_stop_requested;

static void on_stop_signal(int sig)
{
	cmd_stop_requested = sig;
}

void cmd_install_stop_signals(void)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}
