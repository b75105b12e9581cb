/*
 * vigil record: wires the recorder together.  Loads and checks the config,
 * takes the storage lock (one recorder per storage folder), opens the
 * catalog, runs start-up recovery, starts the camera workers and the
 * health publisher (MQTT) and, with [metrics] listen, the /metrics
 * listener, then waits for SIGTERM/SIGINT and stops everything cleanly.
 *
 * A clean stop is noted in the catalog ("stopped by SIGINT at ..."), so
 * that until the next start the time the recorder is down has its reason in
 * every report; the next start's recorder-down gap (ingest) then covers it.
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
#include "inspect/inspect.h"
#include "retention/retention.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timefmt.h"
#include "util/banned.h"

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
	struct inspector *inspector;
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
	out->deleted_expired = st.deleted_expired;
	out->deleted_space = st.deleted_space;
	out->deleted_below_floor = st.deleted_below_floor;
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

static const char *signal_name(int sig, char *buf, size_t size)
{
	switch (sig) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	default: snprintf(buf, size, "signal %d", sig); return buf;
	}
}

/*
 * The stop, for the reports: until the next start, the time after each
 * camera's footage is recorder-down with this detail (retention/continuity.c
 * reads it with ingest's recorder_state).  No gap row is written: its end is
 * not known, and the next start's recorder-down gap covers the same time.
 */
static void note_stop(struct catalog *cat, int64_t run_start_us, int sig, int64_t stop_us)
{
	char when[40], name[24], value[192];

	time_format_utc_s(stop_us, when, sizeof(when));
	snprintf(value, sizeof(value), "%lld stopped by %s at %s", (long long)run_start_us,
		 signal_name(sig, name, sizeof(name)), when);
	int ret = catalog_meta_set(cat, "recorder_stop", value);
	if (ret < 0)
		log_warnx("cannot record the stop in the catalog: %s", strerror(-ret));
}

/* Options: -1 to go on, or the exit status to return at once. */
static int record_parse_options(int argc, char **argv, const char **config_path, bool *verbose)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "now", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': *config_path = optarg; break;
		case 'n':
			if (cmd_set_now(optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'v': *verbose = true; break;
		case 'h': cmd_print_usage("record", false); return EXIT_OK;
		default: return cmd_usage_error("record", "bad option");
		}
	}
	int usage = cmd_options_done("record", argc, argv, *config_path);
	return usage ? usage : -1;
}

/* as many malloc arenas as cores, not glibc's eight per core: the camera
 * threads allocate and free the same sizes all day, and every arena keeps
 * its own high-water mark (bench/README.md: resident memory per camera);
 * MALLOC_ARENA_MAX still has the last word */
static void limit_malloc_arenas(void)
{
	if (!getenv("MALLOC_ARENA_MAX")) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		mallopt(M_ARENA_MAX, ncpu > 0 ? (int)ncpu : 2);
	}
}

/* ---- inspection: inspect -> health, by callbacks wired here ------------- */

static int picture_status(void *ctx, size_t i, struct health_camera_picture *out)
{
	struct inspect_status st;
	int ret = inspector_status(ctx, i, &st);
	if (ret < 0)
		return ret;
	snprintf(out->state, sizeof(out->state), "%s",
		 st.checked_us >= 0 ? inspect_picture_name(st.state) : "");
	out->checked_us = st.checked_us;
	snprintf(out->reason, sizeof(out->reason), "%s", st.reason);
	return 0;
}

/* ingest -> health and inspection: the camera's clock offset goes to health
 * (the clock fault) and to the inspector (stored with each check, for the
 * weekly record).  Both are set before ingest starts and outlive it. */
static void camera_state_changed(void *ctx, const char *camera)
{
	struct wiring *w = ctx;
	health_publisher_notify(w->pub, camera);
}

static void clock_offset(void *ctx, const char *camera, double offset_s)
{
	struct wiring *w = ctx;
	health_publisher_clock_offset(w->pub, camera, offset_s);
	inspector_set_clock_offset(w->inspector, camera, offset_s);
}

/* Everything a running recorder holds. */
struct recorder {
	struct config *cfg;
	struct catalog *cat;
	struct ingest *ing;
	struct retention *sweeper;
	struct health_publisher *pub;
	struct wiring wiring;
	struct metrics *metrics; /* NULL unless [metrics] listen is set */
	struct health_metrics *health_metrics;
	struct metrics_server *metrics_server;
	struct inspector *inspector;
	int lock_fd;
	int64_t run_start_us;
};

/* Signals, privileges, the storage folder and its lock, the catalog.
 * Returns 0, or -1 after logging why. */
static int recorder_open(struct recorder *r)
{
	const struct config *cfg = r->cfg;
	int err;

	if (install_signals() < 0) {
		log_warn("cannot set up signal handling");
		return -1;
	}
	if (settle_privileges(cfg) < 0)
		return -1;
	if ((err = fs_mkdir_p(cfg->storage_path, 0750)) < 0) {
		log_warnx("cannot create storage folder '%s': %s", cfg->storage_path,
			  strerror(-err));
		return -1;
	}
	if ((r->lock_fd = lock_storage(cfg)) < 0) {
		if (r->lock_fd == -EBUSY)
			log_warnx("another vigil record is already using '%s'", cfg->storage_path);
		else
			log_warnx("cannot lock storage folder '%s': %s", cfg->storage_path,
				  strerror(-r->lock_fd));
		return -1;
	}
	if (!(r->cat = cmd_open_catalog(cfg, CATALOG_READ_WRITE)))
		return -1;
	return 0;
}

/* Start-up recovery: never holds recording up. */
static void recorder_recover(struct recorder *r)
{
	struct ingest_recovery rec;
	int err;

	if ((err = ingest_recover(r->cfg, r->cat, &rec)) < 0)
		log_warnx("start-up recovery was incomplete (%s): recording anyway; it is retried "
			  "at the next start",
			  db_errmsg(err));
	if (rec.segments_recovered || rec.segments_dropped || rec.gaps_closed ||
	    rec.files_quarantined)
		log_info("recovery: %d segments recovered, %d dropped, %lld torn bytes cut, "
			 "%d open gaps closed, %d unknown files quarantined",
			 rec.segments_recovered, rec.segments_dropped,
			 (long long)rec.bytes_truncated, rec.gaps_closed, rec.files_quarantined);
}

/* The series of [metrics] listen, before the workers start (they time
 * their fsyncs into it).  Metrics never hold recording up: a failure is
 * logged and the recorder goes on without them. */
static void recorder_metrics_setup(struct recorder *r)
{
	if (!r->cfg->metrics_listen)
		return;
	if (!(r->metrics = metrics_new()) ||
	    !(r->health_metrics = health_metrics_new(r->cfg, r->cat, r->ing, recorder_status,
						     &r->wiring, r->metrics))) {
		log_warnx("metrics: out of memory: recording without /metrics");
		metrics_free(&r->metrics);
	}
}

static void recorder_metrics_start(struct recorder *r)
{
	char host[256], err[320] = "metrics: bad [metrics] listen";
	int port, ret;

	if (!r->metrics)
		return;
	if ((ret = health_metrics_start(r->health_metrics)) < 0)
		log_warnx("metrics: cannot start the catalog reader: %s", strerror(-ret));
	if (config_parse_listen(r->cfg->metrics_listen, host, sizeof(host), &port) < 0 ||
	    !(r->metrics_server = metrics_server_start(r->metrics, host, port, err, sizeof(err)))) {
		log_warnx("%s: recording without /metrics", err);
		return;
	}
	log_info("metrics: serving http://%s%s%s:%d/metrics", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", metrics_server_port(r->metrics_server));
}

/* The health publisher, the camera workers and the retention sweeper,
 * wired together and started.  Returns 0, or -1 after logging why. */
static int recorder_start(struct recorder *r)
{
	const struct config *cfg = r->cfg;
	int err;

	if (!(r->pub = health_publisher_new(cfg, r->cat, recorder_status, &r->wiring))) {
		log_warnx("out of memory");
		return -1;
	}
	r->wiring.pub = r->pub;
	struct inspect_callbacks incb = { .changed = health_publisher_notify, .ctx = r->pub };
	if (!(r->inspector = inspector_new(cfg, r->cat, &incb))) {
		log_warnx("out of memory");
		return -1;
	}
	r->wiring.inspector = r->inspector;
	health_publisher_set_picture(r->pub, picture_status, r->inspector);
	/* ingest -> health and inspection through callbacks: ingest includes
	 * neither */
	struct ingest_callbacks icb = { .state_changed = camera_state_changed,
					.clock_offset = clock_offset,
					.ctx = &r->wiring };
	if (!(r->ing = ingest_new(cfg, r->cat, &icb))) {
		log_warnx("out of memory");
		return -1;
	}
	r->wiring.ing = r->ing;
	struct retention_callbacks rcb = { .storage_blocked = storage_blocked,
					   .changed = retention_changed,
					   .ctx = &r->wiring };
	if (!(r->sweeper = retention_new(cfg, r->cat, &rcb))) {
		log_warnx("out of memory");
		return -1;
	}
	r->wiring.retention = r->sweeper;
	recorder_metrics_setup(r);
	/* the sweeper first: it finishes half-done deletions and may block
	 * writing before the first byte */
	if ((err = retention_start(r->sweeper)) < 0) {
		log_warnx("cannot start the retention sweeper: %s", strerror(-err));
		return -1;
	}
	/* a stop noted by the last run is over (note_stop) */
	r->run_start_us = clock_wall_us();
	catalog_meta_set(r->cat, "recorder_stop", "");
	if (ingest_start(r->ing) < 0)
		return -1;
	recorder_metrics_start(r);
	if ((err = inspector_start(r->inspector)) < 0)
		log_warnx("cannot start picture inspection (%s): recording without it",
			  strerror(-err));
	/* health never holds recording up: the broker is tried in the
	 * background, and without a publisher the cameras still record */
	if ((err = health_publisher_start(r->pub, r->ing)) < 0)
		log_warnx("cannot start the health publisher (%s): recording without MQTT health",
			  strerror(-err));
	log_info("recording %zu cameras into '%s' (catalog '%s')", cfg->ncameras, cfg->storage_path,
		 cfg->catalog_path);
	return 0;
}

/* The clean stop on signal sig: segments finished, the stop recorded, the
 * cameras' last state published, the sweeper stopped. */
static void recorder_stop(struct recorder *r, int sig)
{
	int64_t stop_us = clock_wall_us();

	log_info("stopping (signal %d): finishing the current segments", sig);
	note_stop(r->cat, r->run_start_us, sig, stop_us);
	inspector_stop(r->inspector);
	ingest_stop(r->ing);
	health_publisher_stop(r->pub); /* the cameras' last state, then "offline" */
	retention_stop(r->sweeper);
}

static void recorder_release(struct recorder *r)
{
	/* the listener first: its scrapes read everything below */
	metrics_server_stop(&r->metrics_server);
	health_metrics_free(&r->health_metrics);
	metrics_free(&r->metrics);
	retention_free(&r->sweeper);
	ingest_free(&r->ing); /* before the publisher and the inspector: its callbacks
			       * point there */
	inspector_free(&r->inspector);
	health_publisher_free(&r->pub);
	catalog_close(&r->cat);
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	config_free(&r->cfg);
}

int cmd_record(int argc, char **argv)
{
	const char *config_path = NULL;
	bool verbose = false;
	int usage = record_parse_options(argc, argv, &config_path, &verbose);

	if (usage >= 0)
		return usage;
	limit_malloc_arenas();

	struct recorder r = { .lock_fd = -1 };
	if (!(r.cfg = cmd_load_config(config_path, true, 0)))
		return EXIT_USAGE;
	log_set_level(verbose ? LOG_LEVEL_DEBUG : (enum log_level)r.cfg->log_level);
	if (r.cfg->ncameras == 0)
		log_warnx("no cameras configured");

	int status = EXIT_NOT_OK;
	if (recorder_open(&r) == 0) {
		ingest_install_av_log();
		avformat_network_init();
		recorder_recover(&r);
		if (recorder_start(&r) == 0) {
			wait_for_signal();
			recorder_stop(&r, (int)stop_requested);
			status = EXIT_OK;
		}
	}
	recorder_release(&r);
	avformat_network_deinit();
	return status;
}
