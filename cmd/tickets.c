/* vigil tickets: list, show, acknowledge and resolve maintenance tickets. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "tickets/tickets.h"
#include "util/clock.h"

static int parse_id(const char *s, int64_t *id)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v <= 0)
		return -EINVAL;
	*id = v;
	return 0;
}

int cmd_tickets(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },	    { "by", required_argument, NULL, 'b' },
		{ "note", required_argument, NULL, 'm' },   { "now", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },	    { NULL, 0, NULL, 0 },
	};
	struct tickets_opts o = { 0 };
	const char *config_path = NULL;
	int64_t id = 0;
	int c;

	while ((c = getopt_long(argc, argv, "c:jab:m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'j': o.json = true; break;
		case 'a': o.all = true; break;
		case 'b': o.by = optarg; break;
		case 'm': o.note = optarg; break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h': cmd_print_usage("tickets", false); return EXIT_OK;
		default: return cmd_usage_error("tickets", "bad option");
		}
	}
	const char *action = optind < argc ? argv[optind++] : "list";
	bool needs_id = strcmp(action, "list") != 0;
	if (strcmp(action, "list") != 0 && strcmp(action, "show") != 0 &&
	    strcmp(action, "ack") != 0 && strcmp(action, "resolve") != 0)
		return cmd_usage_error("tickets", "unknown action '%s' (list, show, ack, resolve)",
				       action);
	if (needs_id) {
		if (optind >= argc)
			return cmd_usage_error("tickets", "%s needs a ticket number", action);
		if (parse_id(argv[optind], &id) < 0)
			return cmd_usage_error("tickets", "'%s' is not a ticket number",
					       argv[optind]);
		optind++;
	}
	int usage = cmd_options_done("tickets", argc, argv, config_path);
	if (usage)
		return usage;

	struct config *cfg = cmd_load_config(config_path, false, CONFIG_SKIP_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	int ret;
	if (strcmp(action, "list") == 0)
		ret = tickets_list(cfg, &o, stdout, stderr);
	else if (strcmp(action, "show") == 0)
		ret = tickets_show(cfg, id, &o, stdout, stderr);
	else if (strcmp(action, "ack") == 0)
		ret = tickets_ack(cfg, id, &o, stdout, stderr);
	else
		ret = tickets_resolve(cfg, id, &o, stdout, stderr);
	config_free(&cfg);
	switch (ret) {
	case 0:
	case -EALREADY: /* acknowledging twice changes nothing */ return EXIT_OK;
	case -EINVAL: return EXIT_USAGE;
	case -ENOENT: return needs_id ? EXIT_USAGE : EXIT_NOT_OK;
	default: return EXIT_NOT_OK;
	}
}
