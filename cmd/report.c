/*
 * vigil report KIND: the report family.  Each kind parses the flags it
 * takes, computes its report through report/ (continuity through
 * retention/, which the export manifest shares) and writes it in the format
 * asked for.  Exit status 0 when the report was written and finds nothing
 * wrong; 1 when it finds what it checks not ok (a gap for continuity, a
 * breach for retention) or could not be made (no ticket database for the
 * SLA report, a catalog that cannot be read); 2 for bad usage or input.
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
#include "util/timefmt.h"
#include "util/banned.h"

/* The flags of the family; each kind takes some of them. */
enum {
	TAKES_CAMERA = 1 << 0,
	TAKES_FROM_TO = 1 << 1,
	TAKES_SINCE = 1 << 2,
	TAKES_QUARTER = 1 << 3,
	TAKES_WEEK = 1 << 4,
	TAKES_CSV = 1 << 5,
};

struct report_args {
	const char *config;
	const char *camera;
	const char *out;
	const char *period; /* the quarter or the week */
	int64_t from, to, since;
	bool has_from, has_to, has_since;
	enum report_format format;
};

struct report_kind {
	const char *name;
	int (*run)(const struct report_args *a);
	unsigned takes;
	const char *usage;
};

static int run_continuity(const struct report_args *a);
static int run_retention(const struct report_args *a);
static int run_sla(const struct report_args *a);
static int run_inspection(const struct report_args *a);

/* continuity and retention share their flags (each ignores the other's) */
#define CONTINUITY_RETENTION (TAKES_CAMERA | TAKES_FROM_TO | TAKES_SINCE | TAKES_CSV)

static const struct report_kind kinds[] = {
	{ "continuity", run_continuity, CONTINUITY_RETENTION,
	  "vigil report continuity -c FILE [--camera ID] --from T --to T [--format "
	  "text|json|csv|html] [--lang en|zh-CN] [-o OUT]" },
	{ "retention", run_retention, CONTINUITY_RETENTION,
	  "vigil report retention -c FILE [--since T] [--format text|json|csv|html] [--lang "
	  "en|zh-CN] [-o OUT]" },
	{ "sla", run_sla, TAKES_QUARTER,
	  "vigil report sla -c FILE --quarter 2026Q4 [--format text|json|html] [--lang en|zh-CN] "
	  "[-o OUT]" },
	{ "inspection", run_inspection, TAKES_WEEK,
	  "vigil report inspection -c FILE --week 2026-W47 [--format text|json|html] [--lang "
	  "en|zh-CN] [-o OUT]" },
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

/* ---- options ------------------------------------------------------------- */

static int parse_format(const struct report_kind *k, const char *value, struct report_args *a)
{
	bool csv = k->takes & TAKES_CSV;
	if (report_format_parse(value, &a->format) < 0 || (!csv && a->format == REPORT_CSV)) {
		fprintf(stderr, "vigil report %s: --format: '%s' is not text, json%s html\n",
			k->name, value, csv ? ", csv or" : " or");
		return EXIT_USAGE;
	}
	return -1;
}

/* The language of the HTML page (text, JSON and CSV are always English). */
static int parse_lang(const struct report_kind *k, const char *value)
{
	enum report_lang l;
	if (report_lang_parse(value, &l) < 0) {
		fprintf(stderr, "vigil report %s: --lang: '%s' is not en or zh-CN\n", k->name,
			value);
		return EXIT_USAGE;
	}
	report_set_lang(l);
	return -1;
}

/* --quarter or --week, whichever the kind takes. */
static int parse_period(const struct report_kind *k, int c, const char *value,
			struct report_args *a)
{
	bool quarter = k->takes & TAKES_QUARTER;
	if ((c == 'q') != quarter) {
		fprintf(stderr, "vigil report %s: use %s\n", k->name,
			quarter ? "--quarter" : "--week");
		return EXIT_USAGE;
	}
	a->period = value;
	return -1;
}

static int parse_time_flag(const char *flag, const char *value, int64_t *us, bool *has)
{
	if (cmd_parse_time(flag, value, us) < 0)
		return EXIT_USAGE;
	*has = true;
	return -1;
}

/* One option; -1 to go on, or an exit status. */
static int parse_option(const struct report_kind *k, int c, struct report_args *a)
{
	static const struct {
		int c;
		unsigned takes;
	} needs[] = { { 'C', TAKES_CAMERA },
		      { 'f', TAKES_FROM_TO },
		      { 't', TAKES_FROM_TO },
		      { 's', TAKES_SINCE },
		      { 'q', TAKES_QUARTER | TAKES_WEEK },
		      { 'w', TAKES_QUARTER | TAKES_WEEK } };
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++)
		if (c == needs[i].c && !(k->takes & needs[i].takes))
			return report_usage("bad option for '%s'", k->name);
	switch (c) {
	case 'c': a->config = optarg; return -1;
	case 'C': a->camera = optarg; return -1;
	case 'o': a->out = optarg; return -1;
	case 'f': return parse_time_flag("--from", optarg, &a->from, &a->has_from);
	case 't': return parse_time_flag("--to", optarg, &a->to, &a->has_to);
	case 's': return parse_time_flag("--since", optarg, &a->since, &a->has_since);
	case 'q':
	case 'w': return parse_period(k, c, optarg, a);
	case 'n': return cmd_set_now(optarg) < 0 ? EXIT_USAGE : -1;
	case 'F': return parse_format(k, optarg, a);
	case 'j': a->format = REPORT_JSON; return -1;
	case 'L': return parse_lang(k, optarg);
	case 'h': printf("usage: %s\n", k->usage); return EXIT_OK;
	default: return report_usage("bad option for '%s'", k->name);
	}
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(const struct report_kind *k, int argc, char **argv, struct report_args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "camera", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 's' },
		{ "quarter", required_argument, NULL, 'q' },
		{ "week", required_argument, NULL, 'w' },
		{ "now", required_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "lang", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	memset(a, 0, sizeof(*a));
	a->format = REPORT_TEXT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1)
		if ((ret = parse_option(k, c, a)) >= 0)
			return ret;
	if (optind < argc)
		return report_usage("unexpected argument '%s'", argv[optind]);
	if (!a->config)
		return report_usage("%s", "-c FILE is required");
	if ((k->takes & (TAKES_QUARTER | TAKES_WEEK)) && !a->period) {
		const char *flag = k->takes & TAKES_QUARTER ? "--quarter" : "--week";
		fprintf(stderr, "vigil report %s: %s is required (e.g. %s %s)\n", k->name, flag,
			flag, k->takes & TAKES_QUARTER ? "2026Q4" : "2026-W47");
		return EXIT_USAGE;
	}
	return -1;
}

int cmd_report(int argc, char **argv)
{
	struct report_args a;
	if (argc < 2)
		return report_usage("%s", "which report?");
	for (size_t i = 0; i < NKINDS; i++) {
		if (strcmp(argv[1], kinds[i].name) != 0)
			continue;
		int ret = parse_args(&kinds[i], argc - 1, argv + 1, &a);
		return ret >= 0 ? ret : kinds[i].run(&a);
	}
	return report_usage("unknown report '%s'", argv[1]);
}

/* ---- output -------------------------------------------------------------- */

static FILE *open_output(const char *kind, const char *path)
{
	if (!path || strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "vigil report %s: cannot write '%s': %s\n", kind, path,
			strerror(errno));
	return f;
}

static void close_output(FILE *f)
{
	if (f != stdout)
		fclose(f);
}

/* ---- the kinds ----------------------------------------------------------- */

static int run_continuity(const struct report_args *a)
{
	if (!a->has_from || !a->has_to)
		return report_usage("%s", "continuity needs --from T and --to T");
	if (a->to <= a->from)
		return report_usage("%s", "--to must be after --from");

	struct config *cfg = cmd_load_config(a->config, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	struct continuity_report rep;
	int status = EXIT_NOT_OK, ret;
	if (!cat)
		goto out;
	if (a->camera && !config_camera(cfg, a->camera)) {
		struct catalog_camera_stats st;
		if (catalog_camera_stats(cat, a->camera, &st) < 0) {
			fprintf(stderr, "vigil report continuity: unknown camera '%s'\n",
				a->camera);
			status = EXIT_USAGE;
			goto out;
		}
	}
	if ((ret = continuity_compute(cfg, cat, a->camera, a->from, a->to, clock_wall_us(), &rep)) <
	    0) {
		fprintf(stderr, "vigil report continuity: %s\n", db_errmsg(ret));
		goto out;
	}
	FILE *f = open_output("continuity", a->out);
	if (f) {
		if (continuity_write(&rep, a->format, f) == 0)
			status = continuity_ok(&rep) ? EXIT_OK : EXIT_NOT_OK;
		close_output(f);
	}
	continuity_release(&rep);
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}

static int run_retention(const struct report_args *a)
{
	struct config *cfg = cmd_load_config(a->config, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	struct retention_report rep;
	int status = EXIT_NOT_OK, ret;
	if (!cat)
		goto out;
	int64_t now = clock_wall_us();
	int64_t since = a->has_since ? a->since : now - (int64_t)cfg->retain_days * DAY_US;
	if ((ret = retention_report_compute(cfg, cat, now, since, &rep)) < 0) {
		fprintf(stderr, "vigil report retention: %s\n", db_errmsg(ret));
		goto out;
	}
	FILE *f = open_output("retention", a->out);
	if (f) {
		if (retention_report_write(&rep, a->format, f) == 0)
			status = retention_report_ok(&rep) ? EXIT_OK : EXIT_NOT_OK;
		close_output(f);
	}
	retention_report_release(&rep);
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}

static int run_sla(const struct report_args *a)
{
	int64_t from, to;
	char err[512];
	struct sla_report rep;
	int status = EXIT_NOT_OK;

	if (time_quarter_parse(a->period, &from, &to) < 0) {
		fprintf(stderr, "vigil report sla: --quarter: '%s' is not a quarter like 2026Q4\n",
			a->period);
		return EXIT_USAGE;
	}
	struct config *cfg = cmd_load_config(a->config, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	if (sla_report_compute(cfg, a->period, from, to, clock_wall_us(), &rep, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "vigil report sla: %s\n", err);
		goto out;
	}
	FILE *f = open_output("sla", a->out);
	if (f) {
		if (sla_report_write(&rep, a->format, f) == 0)
			status = EXIT_OK;
		close_output(f);
	}
	sla_report_release(&rep);
out:
	config_free(&cfg);
	return status;
}

static int run_inspection(const struct report_args *a)
{
	int64_t from, to;
	char err[512];
	struct inspection_report rep;
	int status = EXIT_NOT_OK;

	if (time_week_parse(a->period, &from, &to) < 0) {
		fprintf(stderr,
			"vigil report inspection: --week: '%s' is not an ISO week like 2026-W47\n",
			a->period);
		return EXIT_USAGE;
	}
	struct config *cfg = cmd_load_config(a->config, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	struct catalog *cat = cmd_open_catalog(cfg, CATALOG_READ_ONLY);
	if (!cat)
		goto out;
	if (inspection_report_compute(cfg, cat, a->period, from, to, clock_wall_us(), &rep, err,
				      sizeof(err)) < 0) {
		fprintf(stderr, "vigil report inspection: %s\n", err);
		goto out;
	}
	if (rep.warning[0])
		fprintf(stderr, "vigil report inspection: %s\n", rep.warning);
	FILE *f = open_output("inspection", a->out);
	if (f) {
		if (inspection_report_write(&rep, a->format, f) == 0)
			status = EXIT_OK;
		close_output(f);
	}
	inspection_report_release(&rep);
out:
	catalog_close(&cat);
	config_free(&cfg);
	return status;
}
