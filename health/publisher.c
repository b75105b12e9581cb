/*
 * The health publisher inside `vigil record`.  One thread owns the MQTT
 * connection (util/mqtt.c) and samples the cameras through ingest's
 * status call: every second, and at once when ingest reports a state
 * change through health_publisher_notify().  A camera whose state changed
 * is published at once; everything (status, recorder, every camera) is
 * published every interval_seconds and on each (re)connection.  While the
 * broker is away nothing is queued: the current state is recomputed and
 * published whole when it comes back, so memory does not grow with an
 * outage, and recording never waits on any of this.
 *
 * Degraded: a camera that records but whose measured frame rate (ingest's
 * 10-second average) stays below 90 % of its expected_fps for 3
 * consecutive one-second samples, once it has recorded for a full window;
 * it is healthy again after 3 samples at or above.
 *
 * The inventory (PREFIX/REC/inventory, retained: version, site, cameras
 * with their location, the console URL) is published on each
 * (re)connection only: it changes with the config, which needs a restart,
 * and a retained copy answers every checker and console that comes later.
 *
 * Payloads carry no camera URL and no credential: camera errors come from ingest
 * already redacted, and each payload is scrubbed once more before it
 * leaves.
 *
 * Thread safety: `stop` and `notified` are atomics set by other threads
 * (record's main thread, ingest's workers); everything else belongs to the
 * publisher's thread once it has started.
 */
#include "health/health.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mqtt.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/version.h"
#include "util/banned.h"

#define SAMPLE_US USEC_PER_SEC
#define LOOP_MS 100
/* ingest's rate window: fps means nothing before a camera has recorded
 * this long */
#define FPS_WINDOW_US (11 * USEC_PER_SEC)
#define DEGRADED_SAMPLES 3
#define DEGRADED_RATIO 0.9
#define PAYLOAD_MAX 8192
#define INVENTORY_MAX (1024 * 1024)
#define TOPIC_MAX 512

struct cam_track {
	struct ingest_camera_status st; /* the newest sample */
	enum health_camera_state state; /* as published */
	bool changed;			/* to publish */
	int64_t recording_since_mono;	/* -1: not recording */
	int below, above;		/* consecutive samples vs expected fps */
	bool degraded;
	int64_t degraded_since_us;
	int gaps_24h;
	struct health_camera_picture picture; /* inspection's, as published */
	bool picture_fault;
	bool clock_known;      /* under clock_lock */
	double clock_offset_s; /* under clock_lock */
	bool clock_fault;      /* as published */
};

struct health_publisher {
	const struct config *cfg;
	struct catalog *cat;
	health_recorder_status_fn status_fn;
	void *status_ctx;
	struct ingest *ing;
	struct mqttc *mq;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_bool notified;
	bool republish; /* set on (re)connection */
	struct cam_track *cams;
	size_t ncams;
	int64_t start_mono;
	int64_t next_sample_mono;
	int64_t next_full_mono;
	char status_topic[TOPIC_MAX];
	char health_topic[TOPIC_MAX];
	char inventory_topic[TOPIC_MAX];
	bool inventory_due; /* set on (re)connection */
	struct buf payload;
	health_picture_fn picture_fn;
	void *picture_ctx;
	pthread_mutex_t clock_lock;
	struct buf inventory;
};

struct health_publisher *health_publisher_new(const struct config *cfg, struct catalog *cat,
					      health_recorder_status_fn status, void *status_ctx)
{
	struct health_publisher *pub = calloc(1, sizeof(*pub));
	if (!pub)
		return NULL;
	pub->cfg = cfg;
	pub->cat = cat;
	pub->status_fn = status;
	pub->status_ctx = status_ctx;
	pub->ncams = cfg->ncameras;
	pub->cams = calloc(pub->ncams ? pub->ncams : 1, sizeof(*pub->cams));
	if (!pub->cams) {
		free(pub);
		return NULL;
	}
	for (size_t i = 0; i < pub->ncams; i++) {
		pub->cams[i].state = HEALTH_CAM_STARTING;
		pub->cams[i].recording_since_mono = -1;
		pub->cams[i].picture.checked_us = -1;
	}
	pthread_mutex_init(&pub->clock_lock, NULL);
	snprintf(pub->status_topic, sizeof(pub->status_topic), "%s/%s/status", cfg->mqtt_prefix,
		 cfg->recorder_id);
	snprintf(pub->health_topic, sizeof(pub->health_topic), "%s/%s/health", cfg->mqtt_prefix,
		 cfg->recorder_id);
	snprintf(pub->inventory_topic, sizeof(pub->inventory_topic), "%s/%s/inventory",
		 cfg->mqtt_prefix, cfg->recorder_id);
	buf_init(&pub->payload, PAYLOAD_MAX);
	buf_init(&pub->inventory, INVENTORY_MAX);
	return pub;
}

void health_publisher_notify(void *p, const char *camera)
{
	struct health_publisher *pub = p;
	(void)camera;
	atomic_store(&pub->notified, true);
}

void health_publisher_set_picture(struct health_publisher *pub, health_picture_fn fn, void *ctx)
{
	pub->picture_fn = fn;
	pub->picture_ctx = ctx;
}

void health_publisher_clock_offset(void *p, const char *camera, double offset_s)
{
	struct health_publisher *pub = p;
	for (size_t i = 0; i < pub->ncams; i++) {
		if (strcmp(pub->cfg->cameras[i].id, camera) != 0)
			continue;
		pthread_mutex_lock(&pub->clock_lock);
		bool was = pub->cams[i].clock_known &&
			   fabs(pub->cams[i].clock_offset_s) > pub->cfg->max_clock_offset_seconds;
		pub->cams[i].clock_known = true;
		pub->cams[i].clock_offset_s = offset_s;
		pthread_mutex_unlock(&pub->clock_lock);
		if (was != (fabs(offset_s) > pub->cfg->max_clock_offset_seconds))
			atomic_store(&pub->notified, true);
		return;
	}
}

/* Picture faults: what makes a recording camera degraded. */
static bool picture_is_fault(const char *state)
{
	return !strcmp(state, "black") || !strcmp(state, "frozen") || !strcmp(state, "covered") ||
	       !strcmp(state, "blurred") || !strcmp(state, "moved");
}

/* Reads inspection's verdict and the clock offset into tr; true when what
 * is published changes. */
static bool sample_inspection(struct health_publisher *pub, size_t i, struct cam_track *tr)
{
	bool changed = false;
	struct health_camera_picture pic = { .checked_us = -1 };
	if (pub->picture_fn && pub->picture_fn(pub->picture_ctx, i, &pic) == 0) {
		if (strcmp(pic.state, tr->picture.state) != 0)
			changed = true;
		tr->picture = pic;
	}
	tr->picture_fault = picture_is_fault(tr->picture.state);
	pthread_mutex_lock(&pub->clock_lock);
	bool fault =
		tr->clock_known && fabs(tr->clock_offset_s) > pub->cfg->max_clock_offset_seconds;
	pthread_mutex_unlock(&pub->clock_lock);
	if (fault != tr->clock_fault) {
		tr->clock_fault = fault;
		changed = true;
	}
	return changed;
}

static void on_connected(void *ctx)
{
	struct health_publisher *pub = ctx;
	pub->republish = true;
	pub->inventory_due = true;
}

/* The state to publish for a camera's sample. */
static enum health_camera_state effective_state(const struct cam_track *tr)
{
	switch (tr->st.state) {
	case CAMERA_STARTING: return HEALTH_CAM_STARTING;
	case CAMERA_RECORDING:
		return tr->degraded || tr->picture_fault || tr->clock_fault ? HEALTH_CAM_DEGRADED
									    : HEALTH_CAM_RECORDING;
	case CAMERA_RECONNECTING: return HEALTH_CAM_RECONNECTING;
	case CAMERA_DOWN: return HEALTH_CAM_DOWN;
	case CAMERA_STORAGE_ERROR: return HEALTH_CAM_STORAGE_ERROR;
	case CAMERA_STOPPED:
	default: return HEALTH_CAM_STOPPED;
	}
}

/* Reads every camera; periodic samples also advance the degraded
 * counters.  Returns true when some camera's state changed. */
static bool sample(struct health_publisher *pub, bool periodic)
{
	int64_t now = clock_mono_us();
	bool any = false;

	for (size_t i = 0; i < pub->ncams; i++) {
		struct cam_track *tr = &pub->cams[i];
		const struct camera_config *cam = &pub->cfg->cameras[i];
		if (ingest_camera_status(pub->ing, i, &tr->st) < 0)
			continue;
		if (tr->st.state != CAMERA_RECORDING) {
			tr->recording_since_mono = -1;
			tr->below = tr->above = 0;
			tr->degraded = false;
		} else {
			if (tr->recording_since_mono < 0)
				tr->recording_since_mono = now;
			if (periodic && cam->expected_fps > 0 &&
			    now - tr->recording_since_mono >= FPS_WINDOW_US) {
				if (tr->st.fps < cam->expected_fps * DEGRADED_RATIO) {
					tr->below++;
					tr->above = 0;
				} else {
					tr->above++;
					tr->below = 0;
				}
				if (!tr->degraded && tr->below >= DEGRADED_SAMPLES) {
					tr->degraded = true;
					tr->degraded_since_us = clock_wall_us();
					log_warnx("camera '%s': degraded: %.1f fps, %.1f expected",
						  cam->id, tr->st.fps, cam->expected_fps);
				} else if (tr->degraded && tr->above >= DEGRADED_SAMPLES) {
					tr->degraded = false;
					log_info("camera '%s': frame rate back to %.1f fps",
						 cam->id, tr->st.fps);
				}
			}
		}
		if (sample_inspection(pub, i, tr)) {
			tr->changed = true;
			any = true;
		}
		enum health_camera_state s = effective_state(tr);
		if (s != tr->state) {
			if (s == HEALTH_CAM_DEGRADED && !tr->degraded)
				tr->degraded_since_us = clock_wall_us();
			tr->state = s;
			tr->changed = true;
			any = true;
		}
	}
	return any;
}

static int count_gap(const struct catalog_gap *g, void *ctx)
{
	struct health_publisher *pub = ctx;
	for (size_t i = 0; i < pub->ncams; i++) {
		if (strcmp(pub->cfg->cameras[i].id, g->camera) == 0) {
			pub->cams[i].gaps_24h++;
			break;
		}
	}
	return 0;
}

/* Gaps of the last 24 hours, per camera, from the catalog. */
static void count_gaps(struct health_publisher *pub)
{
	int64_t now = clock_wall_us();
	struct catalog_filter f = { .from_us = now - 24 * 3600 * USEC_PER_SEC, .to_us = now + 1 };
	for (size_t i = 0; i < pub->ncams; i++)
		pub->cams[i].gaps_24h = 0;
	if (pub->cat)
		catalog_gaps_each(pub->cat, &f, count_gap, pub);
}

static void kv_time_or_null(struct json_writer *w, const char *key, int64_t us)
{
	if (us >= 0) {
		jw_kv_time(w, key, us);
	} else {
		jw_key(w, key);
		jw_null(w);
	}
}

static void kv_number_or_null(struct json_writer *w, const char *key, double v, int decimals,
			      bool known)
{
	if (known) {
		jw_kv_double(w, key, v, decimals);
	} else {
		jw_key(w, key);
		jw_null(w);
	}
}

/* Publishes the payload built in pub->payload, scrubbed. */
static void send_payload(struct health_publisher *pub, const char *topic)
{
	if (!pub->payload.data)
		return;
	redact_scrub(pub->payload.data, pub->payload.len + 1);
	int ret = mqttc_publish(pub->mq, topic, pub->payload.data, strlen(pub->payload.data), true);
	if (ret < 0 && ret != -ENOTCONN)
		log_debug("health: cannot publish '%s': %s", topic, strerror(-ret));
}

static void publish_camera(struct health_publisher *pub, size_t i)
{
	struct cam_track *tr = &pub->cams[i];
	const struct camera_config *cam = &pub->cfg->cameras[i];
	const struct ingest_camera_status *st = &tr->st;
	struct json_writer w;
	char topic[TOPIC_MAX];

	buf_reset(&pub->payload);
	jw_init_buf(&w, &pub->payload);
	jw_begin_object(&w);
	jw_kv_time(&w, "at", clock_wall_us());
	jw_kv_string(&w, "recorder", pub->cfg->recorder_id);
	jw_kv_string(&w, "camera", cam->id);
	jw_kv_string(&w, "state", health_camera_state_name(tr->state));
	kv_time_or_null(&w, "since",
			tr->state == HEALTH_CAM_DEGRADED ? tr->degraded_since_us
							 : st->state_since_us);
	jw_kv_double(&w, "fps", st->fps, 1);
	kv_number_or_null(&w, "expected_fps", cam->expected_fps, 1, cam->expected_fps > 0);
	jw_kv_double(&w, "kbps", st->kbps, 1);
	kv_time_or_null(&w, "last_frame", st->last_frame_us);
	kv_time_or_null(&w, "gap_start", st->gap_start_us);
	jw_kv_int(&w, "gaps_24h", tr->gaps_24h);
	jw_kv_string(&w, "site", cam->site ? cam->site : "");
	jw_kv_string(&w, "location", cam->location ? cam->location : "");
	jw_kv_int(&w, "reconnects", st->reconnects);
	jw_kv_string(&w, "last_error", st->last_error);
	jw_kv_string(&w, "codec", st->codec[0] ? st->codec : NULL);
	jw_kv_int(&w, "width", st->width);
	jw_kv_int(&w, "height", st->height);
	jw_kv_int(&w, "frames", st->frames_total);
	jw_kv_int(&w, "segments", st->segments_total);
	jw_kv_int(&w, "interval_s", pub->cfg->mqtt_interval_seconds);
	/* the newest entry of the camera's audit chain, for the checker to
	 * note off this machine: a chain cut short or rewritten later is
	 * whole by itself, and only a head noted elsewhere shows it */
	struct catalog_chain_head head = { .seq = 0 };
	jw_key(&w, "audit_head");
	if (pub->cat && catalog_chain_head(pub->cat, cam->id, &head) == 0) {
		jw_begin_object(&w);
		jw_kv_int(&w, "seq", head.seq);
		jw_kv_string(&w, "hash", head.hash);
		jw_end_object(&w);
	} else {
		jw_null(&w);
	}
	/* inspection: the picture, the camera's clock, and what degrades it */
	jw_key(&w, "picture");
	jw_begin_object(&w);
	jw_kv_string(&w, "state", tr->picture.state[0] ? tr->picture.state : "unknown");
	kv_time_or_null(&w, "checked", tr->picture.checked_us);
	jw_kv_string(&w, "reason", tr->picture.reason);
	jw_end_object(&w);
	pthread_mutex_lock(&pub->clock_lock);
	bool clock_known = tr->clock_known;
	double offset = tr->clock_offset_s;
	pthread_mutex_unlock(&pub->clock_lock);
	kv_number_or_null(&w, "clock_offset_s", offset, 3, clock_known);
	jw_kv_bool(&w, "clock_fault", tr->clock_fault);
	jw_key(&w, "degraded_by");
	jw_begin_array(&w);
	if (tr->state == HEALTH_CAM_DEGRADED) {
		if (tr->degraded)
			jw_string(&w, "frame-rate");
		if (tr->picture_fault)
			jw_string(&w, "picture");
		if (tr->clock_fault)
			jw_string(&w, "camera-clock");
	}
	jw_end_array(&w);
	jw_end_object(&w);
	if (jw_finish(&w) < 0) {
		log_debug("health: camera '%s': payload too large", cam->id);
		return;
	}
	snprintf(topic, sizeof(topic), "%s/%s/camera/%s/health", pub->cfg->mqtt_prefix,
		 pub->cfg->recorder_id, cam->id);
	send_payload(pub, topic);
	tr->changed = false;
}

static void publish_recorder(struct health_publisher *pub)
{
	struct health_recorder_status rs = {
		.disk_total_bytes = -1,
		.disk_free_bytes = -1,
		.write_bytes_per_s = -1,
		.forecast_days = -1,
		.oldest_footage_us = -1,
		.index_bytes = -1,
	};
	int counts[HEALTH_CAM_STATE_COUNT] = { 0 };
	const char *camera_error = NULL;
	struct json_writer w;

	if (pub->status_fn && pub->status_fn(pub->status_ctx, &rs) < 0)
		log_debug("health: recorder status unavailable");
	for (size_t i = 0; i < pub->ncams; i++) {
		counts[pub->cams[i].state]++;
		if (pub->cams[i].state == HEALTH_CAM_STORAGE_ERROR && !camera_error)
			camera_error = pub->cams[i].st.last_error;
	}
	bool storage_error = rs.storage_error || camera_error;

	buf_reset(&pub->payload);
	jw_init_buf(&w, &pub->payload);
	jw_begin_object(&w);
	jw_kv_time(&w, "at", clock_wall_us());
	jw_kv_string(&w, "recorder", pub->cfg->recorder_id);
	jw_kv_string(&w, "site", pub->cfg->site ? pub->cfg->site : "");
	jw_kv_string(&w, "version", vigil_version);
	jw_kv_int(&w, "uptime_s", (clock_mono_us() - pub->start_mono) / USEC_PER_SEC);
	jw_kv_int(&w, "interval_s", pub->cfg->mqtt_interval_seconds);
	jw_kv_int(&w, "workers", (int64_t)pub->ncams);
	jw_key(&w, "cameras");
	jw_begin_object(&w);
	jw_kv_int(&w, "total", (int64_t)pub->ncams);
	for (int s = 0; s < HEALTH_CAM_STATE_COUNT; s++)
		jw_kv_int(&w, health_camera_state_name((enum health_camera_state)s), counts[s]);
	jw_end_object(&w);
	jw_key(&w, "disk");
	jw_begin_object(&w);
	jw_kv_string(&w, "path", pub->cfg->storage_path);
	kv_number_or_null(&w, "total_bytes", (double)rs.disk_total_bytes, 0,
			  rs.disk_total_bytes >= 0);
	kv_number_or_null(&w, "free_bytes", (double)rs.disk_free_bytes, 0, rs.disk_free_bytes >= 0);
	kv_number_or_null(&w, "used_percent",
			  rs.disk_total_bytes > 0
				  ? 100.0 * (double)(rs.disk_total_bytes - rs.disk_free_bytes) /
					    (double)rs.disk_total_bytes
				  : 0,
			  1, rs.disk_total_bytes > 0 && rs.disk_free_bytes >= 0);
	jw_end_object(&w);
	kv_number_or_null(&w, "write_bytes_per_s", rs.write_bytes_per_s, 0,
			  rs.write_bytes_per_s >= 0);
	kv_number_or_null(&w, "forecast_days", rs.forecast_days, 1, rs.forecast_days >= 0);
	jw_kv_int(&w, "retain_days", pub->cfg->retain_days);
	jw_kv_bool(&w, "retention_at_risk", rs.retention_at_risk);
	kv_time_or_null(&w, "oldest_footage", rs.oldest_footage_us);
	kv_number_or_null(&w, "index_bytes", (double)rs.index_bytes, 0, rs.index_bytes >= 0);
	jw_kv_bool(&w, "storage_error", storage_error);
	jw_kv_bool(&w, "clock_fault", rs.clock_fault);
	jw_kv_string(&w, "detail", rs.detail[0] ? rs.detail : camera_error ? camera_error : "");
	jw_end_object(&w);
	if (jw_finish(&w) < 0) {
		log_debug("health: recorder payload too large");
		return;
	}
	send_payload(pub, pub->health_topic);
}

/* What this recorder records, for the central checker and console. */
static void publish_inventory(struct health_publisher *pub)
{
	const struct config *cfg = pub->cfg;
	struct json_writer w;

	buf_reset(&pub->inventory);
	jw_init_buf(&w, &pub->inventory);
	jw_begin_object(&w);
	jw_kv_time(&w, "at", clock_wall_us());
	jw_kv_string(&w, "recorder", cfg->recorder_id);
	jw_kv_string(&w, "version", vigil_version);
	jw_kv_string(&w, "site", cfg->site ? cfg->site : "");
	jw_kv_string(&w, "console_url", cfg->console_url); /* null without one */
	jw_kv_int(&w, "interval_s", cfg->mqtt_interval_seconds);
	jw_key(&w, "cameras");
	jw_begin_array(&w);
	for (size_t i = 0; i < cfg->ncameras; i++) {
		const struct camera_config *cam = &cfg->cameras[i];
		jw_begin_object(&w);
		jw_kv_string(&w, "id", cam->id);
		jw_kv_string(&w, "site", cam->site ? cam->site : "");
		jw_kv_string(&w, "location", cam->location ? cam->location : "");
		jw_kv_int(&w, "segment_seconds", cam->segment_seconds);
		jw_kv_int(&w, "retain_days", cam->retain_days);
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_end_object(&w);
	if (jw_finish(&w) < 0) {
		log_warnx("health: the inventory of %zu cameras is over %d bytes: not published",
			  cfg->ncameras, INVENTORY_MAX);
		return;
	}
	redact_scrub(pub->inventory.data, pub->inventory.len + 1);
	int ret = mqttc_publish(pub->mq, pub->inventory_topic, pub->inventory.data,
				strlen(pub->inventory.data), true);
	if (ret == 0)
		pub->inventory_due = false;
	else if (ret != -ENOTCONN)
		log_debug("health: cannot publish '%s': %s", pub->inventory_topic, strerror(-ret));
}

static void publish_status(struct health_publisher *pub, const char *status)
{
	int ret = mqttc_publish(pub->mq, pub->status_topic, status, strlen(status), true);
	if (ret < 0 && ret != -ENOTCONN)
		log_debug("health: cannot publish '%s': %s", pub->status_topic, strerror(-ret));
}

static void publish_all(struct health_publisher *pub, const char *status)
{
	if (!mqttc_connected(pub->mq))
		return;
	count_gaps(pub);
	publish_status(pub, status);
	if (pub->inventory_due)
		publish_inventory(pub);
	publish_recorder(pub);
	for (size_t i = 0; i < pub->ncams; i++)
		publish_camera(pub, i);
}

static void publish_changed(struct health_publisher *pub)
{
	if (!mqttc_connected(pub->mq))
		return; /* republished whole on reconnection */
	count_gaps(pub);
	for (size_t i = 0; i < pub->ncams; i++)
		if (pub->cams[i].changed)
			publish_camera(pub, i);
	publish_recorder(pub);
}

static void *publisher_main(void *arg)
{
	struct health_publisher *pub = arg;
	const int64_t interval = (int64_t)pub->cfg->mqtt_interval_seconds * USEC_PER_SEC;

	while (!atomic_load(&pub->stop)) {
		mqttc_run(pub->mq, LOOP_MS);
		int64_t now = clock_mono_us();
		bool periodic = now >= pub->next_sample_mono;
		bool full = pub->republish || now >= pub->next_full_mono;
		bool changed = false;
		if (atomic_exchange(&pub->notified, false) || periodic || full) {
			changed = sample(pub, periodic);
			if (periodic)
				pub->next_sample_mono = now + SAMPLE_US;
		}
		if (full) {
			pub->republish = false;
			pub->next_full_mono = now + interval;
			publish_all(pub, "online");
		} else if (changed) {
			publish_changed(pub);
		}
	}
	/* the cameras' last state (stopped, after ingest_stop), then offline:
	 * a clean stop says so rather than leaving it to the will */
	sample(pub, false);
	publish_all(pub, "offline");
	mqttc_close(pub->mq, 2000);
	return NULL;
}

int health_publisher_start(struct health_publisher *pub, struct ingest *ing)
{
	struct mqttc_callbacks cb = { .connected = on_connected, .ctx = pub };
	int ret;

	if (strcmp(pub->cfg->recorder_id, "tickets") == 0)
		log_warnx(
			"health: recorder id 'tickets' collides with the topic '%s/tickets/': the "
			"checker will not see this recorder",
			pub->cfg->mqtt_prefix);
	pub->ing = ing;
	pub->start_mono = clock_mono_us();
	struct mqtt_options mo;

	config_mqtt_options(pub->cfg, &mo);
	pub->mq = mqttc_new(&mo, pub->cfg->mqtt_client_id, pub->status_topic, "offline", &cb);
	if (!pub->mq)
		return -ENOMEM;
	if ((ret = pthread_create(&pub->thread, NULL, publisher_main, pub)) != 0) {
		log_warnx("health: cannot start the publisher thread: %s", strerror(ret));
		mqttc_free(&pub->mq);
		return -ret;
	}
	pub->started = true;
	log_info("health: publishing to broker '%s:%d' under '%s/%s/' every %d s",
		 pub->cfg->mqtt_host, pub->cfg->mqtt_port, pub->cfg->mqtt_prefix,
		 pub->cfg->recorder_id, pub->cfg->mqtt_interval_seconds);
	return 0;
}

void health_publisher_stop(struct health_publisher *pub)
{
	if (!pub || !pub->started)
		return;
	atomic_store(&pub->stop, true);
	pthread_join(pub->thread, NULL);
	pub->started = false;
}

void health_publisher_free(struct health_publisher **pp)
{
	struct health_publisher *pub = *pp;
	if (!pub)
		return;
	health_publisher_stop(pub);
	mqttc_free(&pub->mq);
	buf_release(&pub->payload);
	pthread_mutex_destroy(&pub->clock_lock);
	buf_release(&pub->inventory);
	free(pub->cams);
	free(pub);
	*pp = NULL;
}
