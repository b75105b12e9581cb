/* main(): global set-up and dispatch to the sub-commands; nothing else. */
#include <libavformat/avformat.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "ingest/ingest.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/version.h"
#include "util/banned.h"

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "record", cmd_record, "run the recorder (ingest, retention, health)",
	  "vigil record -c FILE [--now T] [-v]" },
	{ "segments", cmd_segments, "list recorded segments",
	  "vigil segments -c FILE [--camera ID] [--from T --to T] [--all] [--json]" },
	{ "sweep", cmd_sweep, "apply the retention rule now",
	  "vigil sweep -c FILE [--dry-run] [--json] [--now T] [--accept-clock]" },
	{ "report", cmd_report, "continuity, retention, sla and inspection reports",
	  "vigil report continuity|retention|sla|inspection -c FILE ... (vigil report KIND "
	  "--help)" },
	{ "verify", cmd_verify, "check catalog, audit chain and files (or an export)",
	  "vigil verify -c FILE [--camera ID] [--from T --to T] [--no-hash] [--heads HEADS.json] "
	  "[--json] | --export OUT.mp4" },
	{ "export", cmd_export, "one camera's footage over a window as one MP4 with a manifest",
	  "vigil export -c FILE --camera ID --from T --to T -o OUT.mp4" },
	{ "hold", cmd_hold, "legal holds: footage that must not be deleted",
	  "vigil hold -c FILE add --camera ID --from T --to T --reason TEXT | release N [--reason "
	  "TEXT] | list [--all] [--json]" },
	{ "check", cmd_check, "run the checker: MQTT health to maintenance tickets",
	  "vigil check -c FILE [--now T] [-v]" },
	{ "tickets", cmd_tickets, "list, show, acknowledge or resolve maintenance tickets",
	  "vigil tickets -c FILE [list [--all] | show N | ack N | resolve N | recorders | heads "
	  "RECORDER] [--json] "
	  "[--by NAME] "
	  "[--note TEXT]" },
	{ "user", cmd_user, "accounts of the web console (vigil serve)",
	  "vigil user -c FILE add NAME --role viewer|operator|admin [--cameras a,b] "
	  "[--password-file F] | passwd NAME [--password-file F] | del NAME | list [--json] | "
	  "token NAME [--label L]" },
	{ "serve", cmd_serve, "run the web console and HTTP API",
	  "vigil serve -c FILE [--now T] [-v]" },
	{ "inspect", cmd_inspect, "check each camera's picture now, or accept its view",
	  "vigil inspect -c FILE now [--camera ID] [--json] | accept CAMERA" },
	{ "config", cmd_config, "validate a config file", "vigil config check -c FILE" },
	{ "help", cmd_help, "show help for a command", "vigil help [COMMAND]" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

void cmd_print_usage(const char *name, bool to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (name && strcmp(commands[i].name, name) == 0) {
			fprintf(f, "usage: %s\n  %s\n", commands[i].usage, commands[i].summary);
			return;
		}
	}
	fprintf(f, "usage: vigil COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\nvigil help COMMAND shows a command's options; vigil --version its version.\n"
		"Times are ISO 8601 (2026-11-02T14:00:00+08:00; a bare date is local midnight).\n");
}

static int cmd_help(int argc, char **argv)
{
	cmd_print_usage(argc > 1 ? argv[1] : NULL, false);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	log_init("vigil", LOG_LEVEL_INFO);
	if (argc < 2) {
		cmd_print_usage(NULL, true);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("vigil %s (libavformat %s, sqlite %s)\n", vigil_version,
		       AV_STRINGIFY(LIBAVFORMAT_VERSION), catalog_sqlite_version());
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(argc - 1, argv + 1);
	if (clock_init_from_env() < 0)
		return EXIT_USAGE;
	/* every command's libavformat messages go through vigil's scrubbing log */
	ingest_install_av_log();
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "vigil: unknown command '%s'\n", argv[1]);
	cmd_print_usage(NULL, true);
	return EXIT_USAGE;
}
