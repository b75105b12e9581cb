/*
 * vigil record: wires the recorder together.  Loads and checks the config,
 * takes the storage lock (one recorder per storage folder), opens the
 * catalog, runs start-up recovery, starts the camera workers and the
 * health publisher (MQTT), then waits for SIGTERM/SIGINT and stops
 * everything cleanly.
 *
 * Signals: the handler only sets a flag and writes a byte to a pipe
 * (the self-pipe trick); the main thread waits on that pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libavformat/avformat.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "health/health.h"
#include "ingest/ingest.h"
#include "retention/retention.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/log.h"

static volatile sig_atomic_t stop_requested;
static int wake_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	stop_requested = sig;
	if (wake_pipe[1] >= 0) {
		char b = 1;
		ssize_t w = write(wake_pipe[1], &b, 1);
		(void)w;
	}
	errno = saved;
}

static int install_signals(void)
{
	struct sigaction sa = { 0 };

	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

/* One recorder per storage folder: a second one would interleave segment
 * ids and fight over recovery. */
static int lock_storage(const struct config *cfg)
{
	char path[PATH_MAX];
	if (fs_join(path, sizeof(path), cfg->storage_path, ".vigil.lock") < 0)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		close(fd);
		return err == EWOULDBLOCK ? -EBUSY : -err;
	}
	return fd; /* held until exit */
}

/* Root is refused unless the config allows it or names a user to become. */
static int settle_privileges(const struct config *cfg)
{
	if (geteuid() != 0)
		return 0;
	if (cfg->run_as_user) {
		struct passwd pw, *res = NULL;
		char buf[4096];
		if (getpwnam_r(cfg->run_as_user, &pw, buf, sizeof(buf), &res) != 0 || !res) {
			log_warnx("[recorder] user '%s' does not exist", cfg->run_as_user);
			return -EINVAL;
		}
		if (initgroups(pw.pw_name, pw.pw_gid) < 0 || setgid(pw.pw_gid) < 0 ||
		    setuid(pw.pw_uid) < 0) {
			log_warn("cannot become user '%s'", cfg->run_as_user);
			return -EPERM;
		}
		if (setuid(0) == 0) {
			log_warnx("dropping privileges to '%s' did not stick", cfg->run_as_user);
			return -EPERM;
		}
		log_info("running as user '%s'", cfg->run_as_user);
		return 0;
	}
	if (!cfg->allow_root) {
		log_warnx("refusing to run as root: set [recorder] user = NAME to drop privileges, "
			  "or allow_root = true");
		return -EPERM;
	}
	log_warnx("running as root (allow_root = true)");
	return 0;
}

/*
 * The wiring between retention, ingest and health: retention blocks and
 * unblocks recording (on_full = protect-retention), and says when a fault
 * appears or clears; health reads retention's figures for the recorder's
 * payload.
 */
struct wiring {
	struct ingest *ing;
	struct health_publisher *pub;
	struct retention *retention;
};

/* retention -> ingest: the on_full = protect-retention policy */
static void storage_blocked(void *ctx, bool blocked, const char *why)
{
	struct wiring *w = ctx;
	ingest_set_storage_blocked(w->ing, blocked, why);
}

static void retention_changed(void *ctx)
{
	struct wiring *w = ctx;
	if (w->pub)
		health_publisher_notify(w->pub, NULL);
}

static int recorder_status(void *ctx, struct health_recorder_status *out)
{
	struct wiring *w = ctx;
	struct retention_status st;

	if (!w->retention)
		return -EAGAIN;
	retention_get_status(w->retention, &st);
	const struct retention_capacity *cap = &st.capacity;
	out->disk_total_bytes = cap->total_bytes;
	out->disk_free_bytes = cap->free_bytes;
	out->write_bytes_per_s = cap->bytes_per_day / 86400.0;
	out->forecast_days = cap->forecast_days;
	out->oldest_footage_us = cap->oldest_us;
	out->index_bytes = cap->index_bytes;
	out->retention_at_risk = cap->at_risk;
	out->storage_error = st.storage_full;
	out->clock_fault = st.clock_fault;
	if (st.clock_fault)
		snprintf(out->detail, sizeof(out->detail), "%.159s", st.clock_detail);
	else if (st.storage_full)
		snprintf(out->detail, sizeof(out->detail),
			 "storage full: recording stopped to protect the %d-day floor",
			 cap->floor_days);
	else if (cap->at_risk)
		snprintf(out->detail, sizeof(out->detail),
			 "the storage holds %.1f days at the current write rate, below the %d-day "
			 "floor",
			 cap->forecast_days, cap->floor_days);
	return 0;
}

static void wait_for_signal(void)
{
	struct pollfd pfd = { .fd = wake_pipe[0], .events = POLLIN };
	while (!stop_requested) {
		int n = poll(&pfd, 1, 1000);
		if (n > 0) {
			char b[16];
			while (read(wake_pipe[0], b, sizeof(b)) > 0)
				;
		}
	}
}

int cmd_record(int argc, char **argv)
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

	while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'v': verbose = true; break;
		case 'h': cmd_print_usage("record", false); return EXIT_OK;
		default: return cmd_usage_error("record", "bad option");
		}
	}
	int usage = cmd_options_done("record", argc, argv, config_path);
	if (usage)
		return usage;

	/* as many malloc arenas as cores, not glibc's eight per core: the
	 * camera threads allocate and free the same sizes all day, and every
	 * arena keeps its own high-water mark (bench/README.md: resident
	 * memory per camera); MALLOC_ARENA_MAX still has the last word */
	if (!getenv("MALLOC_ARENA_MAX")) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		mallopt(M_ARENA_MAX, ncpu > 0 ? (int)ncpu : 2);
	}

	struct config *cfg = cmd_load_config(config_path, true, 0);
	if (!cfg)
		return EXIT_USAGE;
	log_set_level(verbose ? LOG_LEVEL_DEBUG : (enum log_level)cfg->log_level);
	if (cfg->ncameras == 0)
		log_warnx("no cameras configured");

	struct catalog *cat = NULL;
	struct ingest *ing = NULL;
	struct retention *ret_sweeper = NULL;
	struct health_publisher *pub = NULL;
	struct wiring wiring = { 0 };
	struct ingest_recovery rec;
	int lock_fd = -1;
	int err;

	if (install_signals() < 0) {
		log_warn("cannot set up signal handling");
		goto out;
	}
	if (settle_privileges(cfg) < 0)
		goto out;
	if ((err = fs_mkdir_p(cfg->storage_path, 0750)) < 0) {
		log_warnx("cannot create storage folder '%s': %s", cfg->storage_path,
			  strerror(-err));
		goto out;
	}
	if ((lock_fd = lock_storage(cfg)) < 0) {
		if (lock_fd == -EBUSY)
			log_warnx("another vigil record is already using '%s'", cfg->storage_path);
		else
			log_warnx("cannot lock storage folder '%s': %s", cfg->storage_path,
				  strerror(-lock_fd));
		goto out;
	}
	if (!(cat = cmd_open_catalog(cfg, CATALOG_READ_WRITE)))
		goto out;

	ingest_install_av_log();
	avformat_network_init();
	if ((err = ingest_recover(cfg, cat, &rec)) < 0)
		log_warnx("start-up recovery was incomplete (%s): recording anyway; it is retried "
			  "at the next start",
			  db_errmsg(err));
	if (rec.segments_recovered || rec.segments_dropped || rec.gaps_closed ||
	    rec.files_quarantined)
		log_info("recovery: %d segments recovered, %d dropped, %lld torn bytes cut, "
			 "%d open gaps closed, %d unknown files quarantined",
			 rec.segments_recovered, rec.segments_dropped,
			 (long long)rec.bytes_truncated, rec.gaps_closed, rec.files_quarantined);

	if (!(pub = health_publisher_new(cfg, cat, recorder_status, &wiring))) {
		log_warnx("out of memory");
		goto out;
	}
	/* ingest -> health through a callback: ingest never includes health */
	struct ingest_callbacks icb = { .state_changed = health_publisher_notify, .ctx = pub };
	if (!(ing = ingest_new(cfg, cat, &icb))) {
		log_warnx("out of memory");
		goto out;
	}
	wiring.ing = ing;
	wiring.pub = pub;
	struct retention_callbacks rcb = { .storage_blocked = storage_blocked,
					   .changed = retention_changed,
					   .ctx = &wiring };
	if (!(ret_sweeper = retention_new(cfg, cat, &rcb))) {
		log_warnx("out of memory");
		goto out;
	}
	wiring.retention = ret_sweeper;
	/* the sweeper first: it finishes half-done deletions and may block
	 * writing before the first byte */
	if ((err = retention_start(ret_sweeper)) < 0) {
		log_warnx("cannot start the retention sweeper: %s", strerror(-err));
		goto out;
	}
	if (ingest_start(ing) < 0)
		goto out;
	/* health never holds recording up: the broker is tried in the
	 * background, and without a publisher the cameras still record */
	if ((err = health_publisher_start(pub, ing)) < 0)
		log_warnx("cannot start the health publisher (%s): recording without MQTT health",
			  strerror(-err));
	log_info("recording %zu cameras into '%s' (catalog '%s')", cfg->ncameras, cfg->storage_path,
		 cfg->catalog_path);

	wait_for_signal();
	log_info("stopping (signal %d): finishing the current segments", (int)stop_requested);
	ingest_stop(ing);
	health_publisher_stop(pub); /* the cameras' last state, then "offline" */
	retention_stop(ret_sweeper);
	ret = EXIT_OK;
out:
	retention_free(&ret_sweeper);
	ingest_free(&ing); /* before the publisher: its callback points there */
	health_publisher_free(&pub);
	catalog_close(&cat);
	if (lock_fd >= 0)
		close(lock_fd);
	config_free(&cfg);
	avformat_network_deinit();
	return ret;
}
