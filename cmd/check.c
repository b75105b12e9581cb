/*
 * vigil check: runs the checker (tickets/checker.c) until SIGTERM/SIGINT.
 * Loads the config (broker and webhook credentials, not the cameras'),
 * makes sure the ticket database's folder exists, takes a lock so one
 * checker owns one ticket database, serves /metrics when [checker]
 * metrics_listen says so, and hands over to ticket_checker_run().
 *
 * Signals: the handler only sets a flag, which the checker's loop reads
 * every few milliseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "tickets/tickets.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/banned.h"

/* One checker per ticket database: two would open every ticket twice. */
static int lock_database(const char *db)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int ret;

	snprintf(dir, sizeof(dir), "%s", db);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if ((ret = fs_mkdir_p(dir, 0750)) < 0) {
			log_warnx("cannot create the folder of ticket database '%s': %s", db,
				  strerror(-ret));
			return ret;
		}
	}
	if (snprintf(path, sizeof(path), "%s.lock", db) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		ret = -errno;
		log_warnx("cannot open lock file '%s': %s", path, strerror(errno));
		return ret;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (ret == -EBUSY)
			log_warnx("another vigil check is already using ticket database '%s'", db);
		else
			log_warnx("cannot lock '%s': %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	return fd; /* held until exit */
}

/* [checker] metrics_listen: the checker's series, served.  Tickets matter
 * more than metrics: on failure this logs why and the checker runs without
 * them (its scrape target is then down, which the alert rules report). */
static void start_metrics(const struct config *cfg, struct ticket_checker *chk, struct metrics **m,
			  struct metrics_server **srv)
{
	char host[256], err[320] = "metrics: bad [checker] metrics_listen";
	int port;

	if (!cfg->checker_metrics_listen)
		return;
	if (!(*m = metrics_new()) || ticket_checker_set_metrics(chk, *m) < 0) {
		log_warnx("metrics: out of memory: checking without /metrics");
		return;
	}
	if (config_parse_listen(cfg->checker_metrics_listen, host, sizeof(host), &port) < 0 ||
	    !(*srv = metrics_server_start(*m, host, port, err, sizeof(err)))) {
		log_warnx("%s: checking without /metrics", err);
		return;
	}
	log_info("metrics: serving http://%s%s%s:%d/metrics", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", metrics_server_port(*srv));
}

int cmd_check(int argc, char **argv)
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
	int c, ret = EXIT_NOT_OK;
	char err[512];

	while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'v': verbose = true; break;
		case 'h': cmd_print_usage("check", false); return EXIT_OK;
		default: return cmd_usage_error("check", "bad option");
		}
	}
	int usage = cmd_options_done("check", argc, argv, config_path);
	if (usage)
		return usage;

	struct config *cfg = cmd_load_config(config_path, true, CONFIG_SKIP_CAMERA_CREDENTIALS);
	if (!cfg)
		return EXIT_USAGE;
	log_set_level(verbose ? LOG_LEVEL_DEBUG : (enum log_level)cfg->log_level);
	cmd_install_stop_signals();

	struct ticket_checker *chk = NULL;
	struct metrics *metrics = NULL;
	struct metrics_server *msrv = NULL;
	int lock_fd = lock_database(cfg->checker_database);
	if (lock_fd < 0)
		goto out;
	if (!(chk = ticket_checker_new(cfg, err, sizeof(err)))) {
		log_warnx("%s", err);
		goto out;
	}
	start_metrics(cfg, chk, &metrics, &msrv);
	if (ticket_checker_run(chk, &cmd_stop_requested) == 0)
		ret = EXIT_OK;
out:
	metrics_server_stop(&msrv); /* before what its scrapes read */
	ticket_checker_free(&chk);
	metrics_free(&metrics);
	if (lock_fd >= 0)
		close(lock_fd);
	config_free(&cfg);
	return ret;
}
