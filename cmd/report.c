/*
 * vigil report KIND: dispatch to the report kinds.  Continuity and
 * retention are here; each parses its flags, computes through retention/
 * and writes in the format asked for.  Exit status 1 when the report finds
 * what it checks not ok: a gap (continuity), a breach (retention).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "report/report.h"
#include "retention/retention.h"
#include "util/clock.h"
#include "util/db.h"

struct report_kind {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

static int report_continuity(int argc, char **argv);
static int report_retention(int argc, char **argv);

static const struct report_kind kinds[] = {
	{ "continuity", report_continuity,
	  "vigil report continuity -c FILE [--camera ID] --from T --to T [--format "
	  "text|json|csv|html] [-o OUT]" },
	{ "retention", report_retention,
	  "vigil report retention -c FILE [--since T] [--format text|json|csv|html] [-o OUT]" },
	{ "sla", cmd_report_sla,
	  "vigil report sla -c FILE --quarter 2026Q4 [--format text|json|html] [-o OUT]" },
	{ "inspection", cmd_report_inspection,
	  "vigil report inspection -c FILE --week 2026-W47 [--format text|json|html] [-o OUT]" },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static int report_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "vigil report: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nusage:\n");
	for (size_t i = 0; i < NKINDS; i++)
		fprintf(stderr, "  %s\n", kinds[i].usage);
	return EXIT_USAGE;
}

int cmd_report(int argc, char **argv)
{
	if (argc < 2)
		return report_usage("%s", "which report?");
	for (size_t i = 0; i < NKINDS; i++)
		if (strcmp(argv[1], kinds[i].name) == 0)
			return kinds[i].run(argc - 1, argv + 1);
	return report_usage("unknown report '%s'", argv[1]);
}

/* The flags both reports share. */
struct report_args {
	const char *config;
	const char *camera;
	const char *out;
	int64_t from, to, since;
	bool has_from, has_to, has_since;
	enum report_format format;
};

static int parse_report_args(const char *kind, int argc, char **argv, struct report_args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "camera", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 's' },
		{ "now", required_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->format = REPORT_TEXT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'C': a->camera = optarg; break;
		case 'o': a->out = optarg; break;
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
		case 's':
			if (cmd_parse_time("--since", optarg, &a->since) < 0)
				return EXIT_USAGE;
			a->has_since = true;
			break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'F':
			if (report_format_parse(optarg, &a->format) < 0) {
				fprintf(stderr,
					"vigil report %s: --format: '%s' is not text, json, csv or "
					"html\n",
					kind, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': a->format = REPORT_JSON; break;
		case 'h':
			for (size_t i = 0; i < NKINDS; i++)
				if (strcmp(kinds[i].name, kind) == 0)
					printf("usage: %s\n", kinds[i].usage);
			return EXIT_OK;
		default: return report_usage("bad option for '%s'", kind);
		}
	}
	if (optind < argc)
		return report_usage("unexpected argument '%s'", argv[optind]);
	if (!a->config)
		return report_usage("%s", "-c FILE is required");
	return -1;
}

static FILE *open_output(const char *path)
{
	if (!path || strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "vigil report: cannot write '%s': %s\n", path, strerror(errno));
	return f;
}

static int report_continuity(int argc, char **argv)
{
	struct report_args a;
	int ret = parse_report_args("continuity", argc, argv, &a);
	if (ret >= 0)
		return ret;
	if (!a.has_from || !a.has_to)
		return report_usage("%s", "continuity needs --from T and --to T");
	if (a.to <= a.from)
		return report_usage("%s", "--to must be after --from");

	struct config *cfg = cmd_load_config(a.config, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	struct continuity_report rep;
	int status = EXIT_NOT_OK;
	if (!cat)
		goto out;
	if (a.camera && !config_camera(cfg, a.camera)) {
		struct catalog_camera_stats st;
		if (catalog_camera_stats(cat, a.camera, &st) < 0) {
			fprintf(stderr, "vigil report continuity: unknown camera '%s'\n", a.camera);
			status = EXIT_USAGE;
			goto out;
		}
	}
	if ((ret = continuity_compute(cfg, cat, a.camera, a.from, a.to, clock_wall_us(), &rep)) <
	    0) {
		fprintf(stderr, "vigil report continuity: %s\n", db_errmsg(ret));
		goto out;
	}
	FILE *f = open_output(a.out);
	if (f) {
		if (continuity_write(&rep, a.format, f) == 0)
			status = continuity_ok(&rep) ? EXIT_OK : EXIT_NOT_OK;
		if (f != stdout)
			fclose(f);
	}
	continuity_release(&rep);
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}

static int report_retention(int argc, char **argv)
{
	struct report_args a;
	int ret = parse_report_args("retention", argc, argv, &a);
	if (ret >= 0)
		return ret;

	struct config *cfg = cmd_load_config(a.config, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	struct retention_report rep;
	int status = EXIT_NOT_OK;
	if (!cat)
		goto out;
	int64_t now = clock_wall_us();
	int64_t since = a.has_since ? a.since : now - (int64_t)cfg->retain_days * DAY_US;
	if ((ret = retention_report_compute(cfg, cat, now, since, &rep)) < 0) {
		fprintf(stderr, "vigil report retention: %s\n", db_errmsg(ret));
		goto out;
	}
	FILE *f = open_output(a.out);
	if (f) {
		if (retention_report_write(&rep, a.format, f) == 0)
			status = retention_report_ok(&rep) ? EXIT_OK : EXIT_NOT_OK;
		if (f != stdout)
			fclose(f);
	}
	retention_report_release(&rep);
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}
