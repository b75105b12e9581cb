/*
 * vigil report sla and vigil report inspection: flag parsing for the two
 * reports health/ writes.  Exit status 0 when the report was written, 2 for
 * bad usage or input, 1 when it could not be made (no ticket database for
 * the SLA report, a catalog that cannot be read).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "report/report.h"
#include "util/clock.h"

struct health_report_args {
	const char *config;
	const char *period; /* the quarter or the week */
	const char *out;
	enum health_report_format format;
};

/* Returns -1 to go on, or an exit status. */
static int parse_args(const char *kind, const char *period_flag, int argc, char **argv,
		      struct health_report_args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "quarter", required_argument, NULL, 'q' },
		{ "week", required_argument, NULL, 'w' },
		{ "format", required_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "now", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	bool quarter = strcmp(period_flag, "--quarter") == 0;

	memset(a, 0, sizeof(*a));
	a->format = HEALTH_REPORT_TEXT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'o': a->out = optarg; break;
		case 'q':
		case 'w':
			if ((c == 'q') != quarter) {
				fprintf(stderr, "vigil report %s: use %s\n", kind, period_flag);
				return EXIT_USAGE;
			}
			a->period = optarg;
			break;
		case 'F':
			if (health_report_format_parse(optarg, &a->format) < 0) {
				fprintf(stderr,
					"vigil report %s: --format: '%s' is not text, json or "
					"html\n",
					kind, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': a->format = HEALTH_REPORT_JSON; break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h':
			printf("usage: vigil report %s -c FILE %s %s [--format text|json|html] [-o "
			       "OUT]\n",
			       kind, period_flag, quarter ? "2026Q4" : "2026-W47");
			return EXIT_OK;
		default: fprintf(stderr, "vigil report %s: bad option\n", kind); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vigil report %s: unexpected argument '%s'\n", kind, argv[optind]);
		return EXIT_USAGE;
	}
	if (!a->config) {
		fprintf(stderr, "vigil report %s: -c FILE is required\n", kind);
		return EXIT_USAGE;
	}
	if (!a->period) {
		fprintf(stderr, "vigil report %s: %s is required (e.g. %s %s)\n", kind, period_flag,
			period_flag, quarter ? "2026Q4" : "2026-W47");
		return EXIT_USAGE;
	}
	return -1;
}

static FILE *open_out(const char *kind, const char *path)
{
	if (!path || strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "vigil report %s: cannot write '%s': %s\n", kind, path,
			strerror(errno));
	return f;
}

int cmd_report_sla(int argc, char **argv)
{
	struct health_report_args a;
	int64_t from, to;
	int ret = parse_args("sla", "--quarter", argc, argv, &a);
	if (ret >= 0)
		return ret;
	if (health_quarter_range(a.period, &from, &to) < 0) {
		fprintf(stderr, "vigil report sla: --quarter: '%s' is not a quarter like 2026Q4\n",
			a.period);
		return EXIT_USAGE;
	}
	struct config *cfg = cmd_load_config(a.config, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	FILE *f = open_out("sla", a.out);
	ret = EXIT_NOT_OK;
	if (f) {
		if (health_report_sla(cfg, a.period, from, to, a.format, f, stderr) == 0)
			ret = EXIT_OK;
		if (f != stdout)
			fclose(f);
	}
	config_free(&cfg);
	return ret;
}

int cmd_report_inspection(int argc, char **argv)
{
	struct health_report_args a;
	int64_t from, to;
	int ret = parse_args("inspection", "--week", argc, argv, &a);
	if (ret >= 0)
		return ret;
	if (health_week_range(a.period, &from, &to) < 0) {
		fprintf(stderr,
			"vigil report inspection: --week: '%s' is not an ISO week like 2026-W47\n",
			a.period);
		return EXIT_USAGE;
	}
	struct config *cfg = cmd_load_config(a.config, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	ret = EXIT_NOT_OK;
	if (cat) {
		FILE *f = open_out("inspection", a.out);
		if (f) {
			if (health_report_inspection(cfg, cat, a.period, from, to, a.format, f,
						     stderr) == 0)
				ret = EXIT_OK;
			if (f != stdout)
				fclose(f);
		}
	}
	catalog_close(&cat);
	config_free(&cfg);
	return ret;
}
