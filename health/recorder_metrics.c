/*
 * The recorder's Prometheus metrics (health.h): what `vigil record` says on
 * /metrics.  Most of it is the same knowledge as the MQTT health, in
 * Prometheus's shape: base units (seconds, bytes), counters ending _total,
 * labels recorder, camera and reason.
 *
 * A scrape is cheap by design: the collector copies each camera's status
 * (ingest_camera_status: a mutex held for a struct copy) and the recorder's
 * (the provider: retention_get_status, the same), and reads the one thing
 * that lives only in the catalog, each camera's oldest footage, from a
 * cache that a thread of its own refreshes every minute.  The gap counter
 * adds the running outage to the ended ones, so it grows while a camera is
 * down; as an ended outage's length is measured to its first new frame,
 * which can be a little before the last scrape, each value is held at its
 * highest so that the counter never goes back.
 *
 * Thread safety: the collector runs on the listener's thread; hm->lock
 * guards the cache and the held gap values, and is never held across a
 * call into the catalog.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/version.h"
#include "util/banned.h"

#define REFRESH_US (60 * USEC_PER_SEC)
#define REFRESH_EMPTY_US (5 * USEC_PER_SEC)

struct cam_cache {
	int64_t oldest_us; /* -1: no footage */
	double gap_held[GAP_REASON_COUNT];
};

struct health_metrics {
	const struct config *cfg;
	struct catalog *cat;
	struct ingest *ing;
	health_recorder_status_fn status;
	void *status_ctx;
	struct metrics *m;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping, started;
	pthread_t thread;
	struct cam_cache *cams; /* one per config camera, in config order */
	size_t ncams;
	struct ingest_camera_status *scratch; /* the collector's copies */
	int floor_days;			      /* the largest floor of any camera */
};

/* ---- the catalog reader ---------------------------------------------------- */

struct oldest_walk {
	const struct config *cfg;
	int64_t *oldest;
};

static int note_oldest(const struct catalog_camera_stats *st, void *ctx)
{
	struct oldest_walk *w = ctx;
	for (size_t i = 0; i < w->cfg->ncameras; i++)
		if (strcmp(w->cfg->cameras[i].id, st->camera) == 0) {
			w->oldest[i] = st->oldest_us;
			break;
		}
	return 0;
}

static void refresh(struct health_metrics *hm)
{
	int64_t *oldest = malloc((hm->ncams ? hm->ncams : 1) * sizeof(*oldest));
	if (!oldest)
		return;
	for (size_t i = 0; i < hm->ncams; i++)
		oldest[i] = -1;
	struct oldest_walk w = { hm->cfg, oldest };
	int ret = catalog_cameras_each(hm->cat, note_oldest, &w);
	if (ret == 0) {
		pthread_mutex_lock(&hm->lock);
		for (size_t i = 0; i < hm->ncams; i++)
			hm->cams[i].oldest_us = oldest[i];
		pthread_mutex_unlock(&hm->lock);
	} else {
		log_debug("metrics: cannot read the oldest footage of the cameras: %d", ret);
	}
	free(oldest);
}

static void *reader_main(void *arg)
{
	struct health_metrics *hm = arg;
	pthread_mutex_lock(&hm->lock);
	while (!hm->stopping) {
		pthread_mutex_unlock(&hm->lock);
		refresh(hm);
		pthread_mutex_lock(&hm->lock);
		/* a camera without footage yet is looked at again soon: its
		 * first segment is a few seconds away */
		bool missing = false;
		for (size_t i = 0; i < hm->ncams; i++)
			missing = missing || hm->cams[i].oldest_us < 0;
		int64_t end = clock_mono_us() + (missing ? REFRESH_EMPTY_US : REFRESH_US);
		struct timespec until = { end / USEC_PER_SEC, (end % USEC_PER_SEC) * 1000 };
		while (!hm->stopping && clock_mono_us() < end)
			pthread_cond_timedwait(&hm->cond, &hm->lock, &until);
	}
	pthread_mutex_unlock(&hm->lock);
	return NULL;
}

/* ---- the collector ---------------------------------------------------------- */

static double seconds(int64_t us)
{
	return (double)us / 1e6;
}

/* One sample per camera of a family whose value is f(status). */
#define PER_CAMERA(w, name, type, help, expr)                                                      \
	do {                                                                                       \
		metrics_family(w, name, type, help);                                               \
		for (size_t i_ = 0; i_ < n; i_++) {                                                \
			const struct ingest_camera_status *st = &hm->scratch[i_];                  \
			const char *l_[] = { "recorder", rec, "camera", st->id, NULL };            \
			metrics_sample(w, name, l_, (double)(expr));                               \
		}                                                                                  \
	} while (0)

static void collect_cameras(struct health_metrics *hm, struct metrics_writer *w, int64_t now)
{
	const char *rec = hm->cfg->recorder_id;
	size_t n = ingest_camera_count(hm->ing);
	if (n > hm->ncams)
		n = hm->ncams;
	for (size_t i = 0; i < n; i++)
		if (ingest_camera_status(hm->ing, i, &hm->scratch[i]) < 0)
			memset(&hm->scratch[i], 0, sizeof(hm->scratch[i]));

	PER_CAMERA(w, "vigil_camera_up", METRIC_GAUGE, "1 while the camera is recording, else 0.",
		   st->state == CAMERA_RECORDING);
	metrics_family(w, "vigil_camera_state", METRIC_GAUGE,
		       "1 for the state the camera is in, 0 for the others.");
	for (size_t i = 0; i < n; i++) {
		const struct ingest_camera_status *st = &hm->scratch[i];
		for (int s = CAMERA_STARTING; s <= CAMERA_STOPPED; s++) {
			const char *l[] = {
				"recorder", rec,     "camera",
				st->id,	    "state", ingest_camera_state_name((enum camera_state)s),
				NULL
			};
			metrics_sample(w, "vigil_camera_state", l,
				       st->state == (enum camera_state)s);
		}
	}
	PER_CAMERA(w, "vigil_camera_received_frames_total", METRIC_COUNTER,
		   "Video frames received from the camera.", st->frames_received);
	PER_CAMERA(w, "vigil_camera_received_bytes_total", METRIC_COUNTER,
		   "Media bytes received from the camera.", st->bytes_received);
	PER_CAMERA(w, "vigil_camera_frames_total", METRIC_COUNTER,
		   "Video frames written to footage.", st->frames_total);
	PER_CAMERA(w, "vigil_camera_bytes_total", METRIC_COUNTER, "Media bytes written to footage.",
		   st->bytes_total);
	PER_CAMERA(w, "vigil_camera_segments_total", METRIC_COUNTER, "Segments finished.",
		   st->segments_total);
	PER_CAMERA(w, "vigil_camera_reconnects_total", METRIC_COUNTER,
		   "Connections to the camera lost.", st->reconnects);

	metrics_family(w, "vigil_camera_gap_seconds_total", METRIC_COUNTER,
		       "Time without footage since the recorder started, by reason.");
	pthread_mutex_lock(&hm->lock);
	for (size_t i = 0; i < n; i++) {
		const struct ingest_camera_status *st = &hm->scratch[i];
		int64_t from = st->gap_start_us;
		for (int r = 0; r < GAP_REASON_COUNT; r++) {
			double v = seconds(st->gap_us[r]);
			if (from >= 0 && (int)st->gap_reason == r && now > from)
				v += seconds(now - from);
			if (v < hm->cams[i].gap_held[r])
				v = hm->cams[i].gap_held[r];
			hm->cams[i].gap_held[r] = v;
			const char *l[] = { "recorder", rec,
					    "camera",	st->id,
					    "reason",	catalog_gap_reason_name((enum gap_reason)r),
					    NULL };
			metrics_sample(w, "vigil_camera_gap_seconds_total", l, v);
		}
	}
	pthread_mutex_unlock(&hm->lock);

	metrics_family(w, "vigil_camera_last_frame_age_seconds", METRIC_GAUGE,
		       "Time since the newest frame arrived (absent before the first).");
	for (size_t i = 0; i < n; i++) {
		const struct ingest_camera_status *st = &hm->scratch[i];
		const char *l[] = { "recorder", rec, "camera", st->id, NULL };
		if (st->last_frame_us >= 0)
			metrics_sample(w, "vigil_camera_last_frame_age_seconds", l,
				       now > st->last_frame_us ? seconds(now - st->last_frame_us)
							       : 0);
	}

	int64_t *oldest = NULL;
	pthread_mutex_lock(&hm->lock);
	if ((oldest = malloc((n ? n : 1) * sizeof(*oldest))))
		for (size_t i = 0; i < n; i++)
			oldest[i] = hm->cams[i].oldest_us;
	pthread_mutex_unlock(&hm->lock);
	if (!oldest)
		return;
	metrics_family(w, "vigil_camera_oldest_footage_timestamp_seconds", METRIC_GAUGE,
		       "Start of the camera's oldest footage, Unix time (read every minute).");
	for (size_t i = 0; i < n; i++) {
		const char *l[] = { "recorder", rec, "camera", hm->scratch[i].id, NULL };
		if (oldest[i] >= 0)
			metrics_sample(w, "vigil_camera_oldest_footage_timestamp_seconds", l,
				       seconds(oldest[i]));
	}
	metrics_family(w, "vigil_camera_retained_seconds", METRIC_GAUGE,
		       "Age of the camera's oldest footage: how far back it is kept.");
	for (size_t i = 0; i < n; i++) {
		const char *l[] = { "recorder", rec, "camera", hm->scratch[i].id, NULL };
		if (oldest[i] >= 0)
			metrics_sample(w, "vigil_camera_retained_seconds", l,
				       now > oldest[i] ? seconds(now - oldest[i]) : 0);
	}
	free(oldest);
	metrics_family(w, "vigil_camera_retention_floor_seconds", METRIC_GAUGE,
		       "The camera's retention floor (retain_days).");
	for (size_t i = 0; i < n; i++) {
		const char *l[] = { "recorder", rec, "camera", hm->scratch[i].id, NULL };
		metrics_sample(w, "vigil_camera_retention_floor_seconds", l,
			       (double)hm->cfg->cameras[i].retain_days * 86400);
	}
}

static void gauge(struct metrics_writer *w, const char *name, const char *help, const char *rec,
		  double v)
{
	const char *l[] = { "recorder", rec, NULL };
	metrics_family(w, name, METRIC_GAUGE, help);
	metrics_sample(w, name, l, v);
}

static void collect_recorder(struct health_metrics *hm, struct metrics_writer *w)
{
	const char *rec = hm->cfg->recorder_id;
	struct health_recorder_status s;

	{
		const char *l[] = { "recorder", rec,
				    "site",	hm->cfg->site ? hm->cfg->site : "",
				    "version",	vigil_version,
				    NULL };
		metrics_family(w, "vigil_recorder_info", METRIC_GAUGE,
			       "Always 1: the recorder's site and version.");
		metrics_sample(w, "vigil_recorder_info", l, 1);
	}
	gauge(w, "vigil_recorder_cameras", "Cameras configured.", rec, (double)hm->cfg->ncameras);
	gauge(w, "vigil_retention_floor_seconds", "The largest retention floor of any camera.", rec,
	      (double)hm->floor_days * 86400);
	memset(&s, 0, sizeof(s));
	s.disk_total_bytes = s.disk_free_bytes = s.oldest_footage_us = s.index_bytes = -1;
	s.forecast_days = -1;
	if (!hm->status || hm->status(hm->status_ctx, &s) < 0)
		return; /* not known yet: absent rather than wrong */
	if (s.disk_free_bytes >= 0 && s.disk_total_bytes > 0) {
		gauge(w, "vigil_storage_free_bytes", "Free space on the footage file system.", rec,
		      (double)s.disk_free_bytes);
		gauge(w, "vigil_storage_used_bytes", "Used space on the footage file system.", rec,
		      (double)(s.disk_total_bytes - s.disk_free_bytes));
		gauge(w, "vigil_storage_size_bytes", "Size of the footage file system.", rec,
		      (double)s.disk_total_bytes);
	}
	gauge(w, "vigil_storage_write_bytes_per_second",
	      "Footage written, averaged over the last two days.", rec, s.write_bytes_per_s);
	if (s.forecast_days >= 0)
		gauge(w, "vigil_retention_forecast_seconds",
		      "How much footage the storage can hold at the current write rate.", rec,
		      s.forecast_days * 86400);
	gauge(w, "vigil_retention_at_risk", "1 when the forecast is below the floor.", rec,
	      s.retention_at_risk);
	gauge(w, "vigil_storage_error", "1 when footage cannot be written.", rec, s.storage_error);
	gauge(w, "vigil_clock_fault", "1 while deletion is paused: the wall clock jumped.", rec,
	      s.clock_fault);
	if (s.oldest_footage_us >= 0)
		gauge(w, "vigil_oldest_footage_timestamp_seconds",
		      "Start of the oldest footage of any camera, Unix time.", rec,
		      seconds(s.oldest_footage_us));
	if (s.index_bytes >= 0)
		gauge(w, "vigil_catalog_size_bytes", "Size of the catalog file.", rec,
		      (double)s.index_bytes);
	metrics_family(w, "vigil_retention_deletions_total", METRIC_COUNTER,
		       "Segments the sweeper deleted since the recorder started, by reason.");
	const char *reasons[] = { "expired", "space", "space-below-floor" };
	const int64_t counts[] = { s.deleted_expired, s.deleted_space, s.deleted_below_floor };
	for (int i = 0; i < 3; i++) {
		const char *l[] = { "recorder", rec, "reason", reasons[i], NULL };
		metrics_sample(w, "vigil_retention_deletions_total", l, (double)counts[i]);
	}
}

static void collect(void *ctx, struct metrics_writer *w)
{
	struct health_metrics *hm = ctx;
	int64_t now = clock_wall_us();
	collect_recorder(hm, w);
	collect_cameras(hm, w, now);
}

/* ---- life -------------------------------------------------------------------- */

struct health_metrics *health_metrics_new(const struct config *cfg, struct catalog *cat,
					  struct ingest *ing, health_recorder_status_fn status,
					  void *status_ctx, struct metrics *m)
{
	/* fsync: from a fraction of a millisecond (SSD) to seconds (a dying disk) */
	static const double fsync_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					       0.1,    0.25,  0.5,    1,     2.5,  5,	  10 };
	struct health_metrics *hm = calloc(1, sizeof(*hm));
	if (!hm)
		return NULL;
	hm->cfg = cfg;
	hm->cat = cat;
	hm->ing = ing;
	hm->status = status;
	hm->status_ctx = status_ctx;
	hm->m = m;
	hm->ncams = cfg->ncameras;
	pthread_mutex_init(&hm->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&hm->cond, &attr);
	pthread_condattr_destroy(&attr);
	hm->cams = calloc(hm->ncams ? hm->ncams : 1, sizeof(*hm->cams));
	hm->scratch = calloc(hm->ncams ? hm->ncams : 1, sizeof(*hm->scratch));
	if (!hm->cams || !hm->scratch)
		goto fail;
	for (size_t i = 0; i < hm->ncams; i++) {
		hm->cams[i].oldest_us = -1;
		if (cfg->cameras[i].retain_days > hm->floor_days)
			hm->floor_days = cfg->cameras[i].retain_days;
	}
	const char *l[] = { "recorder", cfg->recorder_id, NULL };
	struct metric_histogram *h = metrics_histogram(
		m, "vigil_fsync_duration_seconds", "Time each fdatasync of a footage file took.",
		fsync_bounds, sizeof(fsync_bounds) / sizeof(fsync_bounds[0]), l);
	if (!h || metrics_add_collector(m, collect, hm) < 0)
		goto fail;
	ingest_set_fsync_histogram(ing, h);
	return hm;
fail:
	health_metrics_free(&hm);
	return NULL;
}

int health_metrics_start(struct health_metrics *hm)
{
	int ret = pthread_create(&hm->thread, NULL, reader_main, hm);
	if (ret != 0)
		return -ret;
	hm->started = true;
	return 0;
}

void health_metrics_free(struct health_metrics **hmp)
{
	struct health_metrics *hm = *hmp;
	if (!hm)
		return;
	if (hm->started) {
		pthread_mutex_lock(&hm->lock);
		hm->stopping = true;
		pthread_cond_signal(&hm->cond);
		pthread_mutex_unlock(&hm->lock);
		pthread_join(hm->thread, NULL);
	}
	pthread_cond_destroy(&hm->cond);
	pthread_mutex_destroy(&hm->lock);
	free(hm->cams);
	free(hm->scratch);
	free(hm);
	*hmp = NULL;
}
