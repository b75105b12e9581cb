/*
 * Checking a camera (inspect_camera, shared by the recorder's thread and
 * `vigil inspect now`) and the recorder's inspector thread.
 *
 * A check reads the newest keyframe of the camera's newest segment (the
 * one before it when the newest has no whole keyframe yet), decodes it,
 * and compares it with the camera's latest check and reference from the
 * catalog.  A keyframe is named by its segment and offset: the same one
 * twice means no footage came since, which is not a frozen picture but no
 * picture at all (the camera's recording state says why), so the check is
 * unknown and the plane the next check compares against is kept.
 *
 * The thread: one per recorder, at a lower scheduling priority than the
 * workers (nice +10 on the thread), checking every camera in turn each
 * interval, so at most one decode is in flight.  It reads footage only
 * through the files and the catalog: ingest's workers never wait on it.
 *
 * Thread safety: the status array is guarded by `lock`; everything else
 * belongs to the thread once started.
 */
#include "inspect/inspect.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/db.h"
#include "util/log.h"
#include "util/banned.h"

#define HOUR_US (3600 * USEC_PER_SEC)
/* the first check comes this soon after start, when the interval is longer */
#define FIRST_CHECK_US (30 * USEC_PER_SEC)

void inspect_result_release(struct inspect_result *r)
{
	free(r->jpeg);
	r->jpeg = NULL;
	r->jpeg_len = 0;
}

/* The two newest segments of a camera, newest last. */
struct newest {
	struct catalog_segment seg[2];
	int n;
};

static int keep_newest(const struct catalog_segment *seg, void *ctx)
{
	struct newest *nw = ctx;
	if (nw->n == 2) {
		nw->seg[0] = nw->seg[1];
		nw->n = 1;
	}
	nw->seg[nw->n++] = *seg;
	return 0;
}

/* The newest whole keyframe of camera's footage: 0, or a negative errno
 * with the reason. */
static int newest_keyframe(const struct config *cfg, struct catalog *cat, const char *camera,
			   int64_t now_us, struct inspect_keyframe *kf, int64_t *frame_us,
			   char *key, size_t keysize, char *err, size_t errlen)
{
	struct newest nw = { .n = 0 };
	/* the newest segments: those that reach the last hour (a camera
	 * silent for longer has nothing new to inspect) */
	struct catalog_filter f = { .camera = camera, .from_us = now_us - HOUR_US };
	int ret = catalog_segments_each(cat, &f, keep_newest, &nw);
	if (ret < 0) {
		snprintf(err, errlen, "cannot list segments: %s", db_errmsg(ret));
		return ret;
	}
	if (nw.n == 0) {
		snprintf(err, errlen, "no footage in the last hour");
		return -ENOENT;
	}
	for (int i = nw.n - 1; i >= 0; i--) {
		const struct catalog_segment *s = &nw.seg[i];
		char path[CATALOG_PATH_MAX * 2 + 2];
		snprintf(path, sizeof(path), "%s/%s", cfg->storage_path, s->path);
		ret = inspect_read_keyframe(path, kf, err, errlen);
		if (ret == 0) {
			*frame_us = s->start_us + kf->media_us;
			snprintf(key, keysize, "%" PRId64 ":%" PRId64, s->id, kf->offset);
			return 0;
		}
		if (ret != -ENOENT)
			break;
	}
	return ret;
}

/* Reads and decodes the newest keyframe into *pic. */
static int newest_picture(const struct config *cfg, struct catalog *cat, const char *camera,
			  int64_t now_us, struct inspect_picture *pic, int64_t *frame_us, char *key,
			  size_t keysize, char *err, size_t errlen)
{
	struct inspect_keyframe kf;
	int ret =
		newest_keyframe(cfg, cat, camera, now_us, &kf, frame_us, key, keysize, err, errlen);
	if (ret < 0)
		return ret;
	ret = inspect_decode(kf.codec, kf.extradata, kf.extradata_len, kf.data, kf.len, pic, err,
			     errlen);
	inspect_keyframe_release(&kf);
	return ret;
}

static int store(struct catalog *cat, const struct inspect_result *r,
		 const struct catalog_inspection *prev, const char *key, const uint8_t *plane,
		 const uint8_t *jpeg, size_t jpeg_len, int64_t healthy_since)
{
	struct catalog_inspection row = {
		.checked_us = r->checked_us,
		.frame_us = r->frame_us,
		.mean = r->m.mean,
		.spread = r->m.spread,
		.detail_ratio = r->m.detail_ratio,
		.match = r->m.match,
		.changed_blocks = r->m.changed_blocks,
		.clock_known = isfinite(r->clock_offset_s),
		.clock_offset_us = isfinite(r->clock_offset_s)
					   ? (int64_t)llround(r->clock_offset_s * USEC_PER_SEC)
					   : 0,
		.healthy_since_us = healthy_since,
		.plane = (uint8_t *)plane,
		.plane_len = plane ? INSPECT_PLANE_BYTES : 0,
		.thumbnail = (uint8_t *)jpeg,
		.thumbnail_len = jpeg_len,
	};
	snprintf(row.camera, sizeof(row.camera), "%s", r->camera);
	snprintf(row.frame_key, sizeof(row.frame_key), "%s", key);
	snprintf(row.state, sizeof(row.state), "%s", inspect_picture_name(r->state));
	snprintf(row.reason, sizeof(row.reason), "%s", r->reason);
	bool changed = !prev || strcmp(prev->state, row.state) != 0;
	return catalog_inspection_add(cat, &row, changed);
}

int inspect_camera(const struct config *cfg, struct catalog *cat, const struct camera_config *cam,
		   int64_t now_us, struct inspect_result *r)
{
	return inspect_camera_clock(cfg, cat, cam, now_us, NAN, r);
}

int inspect_camera_clock(const struct config *cfg, struct catalog *cat,
			 const struct camera_config *cam, int64_t now_us, double clock_offset_s,
			 struct inspect_result *r)
{
	struct catalog_inspection latest;
	struct inspect_picture pic = { .jpeg = NULL };
	struct inspect_thresholds th;
	uint8_t *ref = NULL;
	size_t ref_len = 0;
	int64_t ref_taken = -1;
	char key[64] = "";
	int ret;

	memset(r, 0, sizeof(*r));
	snprintf(r->camera, sizeof(r->camera), "%s", cam->id);
	r->checked_us = now_us;
	r->frame_us = -1;
	r->m.detail_ratio = r->m.match = -1;
	r->m.changed_blocks = -1;
	r->clock_offset_s = clock_offset_s;
	inspect_thresholds_camera(cam, &th);

	ret = catalog_inspection_latest(cat, cam->id, &latest);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	bool have_latest = ret == 0;
	ret = catalog_inspection_reference_get(cat, cam->id, &ref, &ref_len, &ref_taken);
	if (ret < 0 && ret != -ENOENT)
		goto out;
	if (ref && ref_len != INSPECT_PLANE_BYTES) {
		free(ref);
		ref = NULL;
	}
	r->reference = ref != NULL;

	ret = newest_picture(cfg, cat, cam->id, now_us, &pic, &r->frame_us, key, sizeof(key),
			     r->reason, sizeof(r->reason));
	if (ret == 0 && have_latest && strcmp(key, latest.frame_key) == 0) {
		/* nothing new to judge: the last verdict stands (and no
		 * frozen from comparing a keyframe with itself) */
		enum picture_state last = PICTURE_UNKNOWN;
		inspect_picture_parse(latest.state, &last);
		r->state = last;
		static const char again[] = "no new keyframe since the last check";
		const char *was = latest.reason;
		if (!strncmp(was, again, sizeof(again) - 1))
			was += sizeof(again) - 1 + (was[sizeof(again) - 1] == ':' ? 2 : 0);
		snprintf(r->reason, sizeof(r->reason), "%s%s%.100s", again, *was ? ": " : "", was);
		ret = store(cat, r, &latest, latest.frame_key,
			    latest.plane_len == INSPECT_PLANE_BYTES ? latest.plane : NULL,
			    latest.thumbnail, latest.thumbnail_len, latest.healthy_since_us);
		goto out;
	}
	if (ret < 0) {
		/* a failed check: unknown, and the next one still compares
		 * against the last good plane */
		r->state = PICTURE_UNKNOWN;
		r->frame_us = -1;
		ret = store(cat, r, have_latest ? &latest : NULL,
			    have_latest ? latest.frame_key : "",
			    have_latest && latest.plane_len == INSPECT_PLANE_BYTES ? latest.plane
										   : NULL,
			    have_latest ? latest.thumbnail : NULL,
			    have_latest ? latest.thumbnail_len : 0, -1);
		goto out;
	}

	const uint8_t *prev =
		have_latest && latest.plane_len == INSPECT_PLANE_BYTES && latest.frame_key[0]
			? latest.plane
			: NULL;
	r->state = inspect_analyse(pic.plane, prev, ref, &th, &r->m, r->reason, sizeof(r->reason));

	int64_t healthy_since = -1;
	if (r->state == PICTURE_OK)
		healthy_since = have_latest && latest.healthy_since_us >= 0
					? latest.healthy_since_us
					: now_us;
	if (!ref && healthy_since >= 0 &&
	    now_us - healthy_since >= (int64_t)(cfg->reference_after_hours * HOUR_US)) {
		ret = catalog_inspection_reference_set(cat, cam->id, now_us, "automatic", pic.plane,
						       INSPECT_PLANE_BYTES, pic.jpeg, pic.jpeg_len);
		if (ret < 0)
			goto out;
		r->reference = true;
		log_info("camera '%s': inspection reference taken after %.1f h of healthy checks",
			 cam->id, (double)(now_us - healthy_since) / HOUR_US);
	}
	if ((ret = store(cat, r, have_latest ? &latest : NULL, key, pic.plane, pic.jpeg,
			 pic.jpeg_len, healthy_since)) < 0)
		goto out;
	r->jpeg = pic.jpeg;
	r->jpeg_len = pic.jpeg_len;
	pic.jpeg = NULL;

	struct catalog_camera_stats st;
	if (catalog_camera_stats(cat, cam->id, &st) == 0 && st.oldest_us > 0)
		catalog_inspections_prune(cat, cam->id, st.oldest_us);
	ret = 0;
out:
	if (ret == 0 && !r->jpeg && have_latest && latest.thumbnail) {
		/* a failed check shows the last picture seen */
		r->jpeg = latest.thumbnail;
		r->jpeg_len = latest.thumbnail_len;
		latest.thumbnail = NULL;
	}
	inspect_picture_release(&pic);
	if (have_latest)
		catalog_inspection_release(&latest);
	free(ref);
	return ret;
}

int inspect_accept(const struct config *cfg, struct catalog *cat, const struct camera_config *cam,
		   int64_t now_us, char *err, size_t errlen)
{
	struct inspect_picture pic;
	int64_t frame_us;
	char key[64];
	int ret = newest_picture(cfg, cat, cam->id, now_us, &pic, &frame_us, key, sizeof(key), err,
				 errlen);
	if (ret < 0)
		return ret;
	ret = catalog_inspection_reference_set(cat, cam->id, now_us, "operator", pic.plane,
					       INSPECT_PLANE_BYTES, pic.jpeg, pic.jpeg_len);
	if (ret < 0)
		snprintf(err, errlen, "%s", db_errmsg(ret));
	inspect_picture_release(&pic);
	return ret;
}

/* ---- the thread ---------------------------------------------------------- */

struct inspector {
	const struct config *cfg;
	struct catalog *cat;
	struct inspect_callbacks cb;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	struct inspect_status *status; /* per camera, under lock */
	/* per camera, under lock: the latest clock offset and when (mono) it
	 * came, -1: never */
	double *clock_s;
	int64_t *clock_mono;
	size_t n;
};

struct inspector *inspector_new(const struct config *cfg, struct catalog *cat,
				const struct inspect_callbacks *cb)
{
	struct inspector *in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->cfg = cfg;
	in->cat = cat;
	if (cb)
		in->cb = *cb;
	in->n = cfg->ncameras;
	in->status = calloc(in->n ? in->n : 1, sizeof(*in->status));
	in->clock_s = calloc(in->n ? in->n : 1, sizeof(*in->clock_s));
	in->clock_mono = calloc(in->n ? in->n : 1, sizeof(*in->clock_mono));
	if (!in->status || !in->clock_s || !in->clock_mono) {
		free(in->status);
		free(in->clock_s);
		free(in->clock_mono);
		free(in);
		return NULL;
	}
	for (size_t i = 0; i < in->n; i++) {
		in->status[i].checked_us = -1;
		in->clock_s[i] = NAN;
		in->clock_mono[i] = -1;
	}
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->wake, NULL);
	return in;
}

/* Waits until mono time `until` or a stop; true when stopped. */
static bool wait_until(struct inspector *in, int64_t until)
{
	pthread_mutex_lock(&in->lock);
	while (!in->stop) {
		int64_t now = clock_mono_us();
		if (now >= until)
			break;
		int64_t left = until - now;
		if (left > USEC_PER_SEC)
			left = USEC_PER_SEC; /* the monotonic clock may be scaled */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(left % USEC_PER_SEC) * 1000;
		ts.tv_sec += (time_t)(left / USEC_PER_SEC) + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&in->wake, &in->lock, &ts);
	}
	bool stop = in->stop;
	pthread_mutex_unlock(&in->lock);
	return stop;
}

static void check_all(struct inspector *in)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct camera_config *cam = &in->cfg->cameras[i];
		struct inspect_result r;
		if (!cam->inspect)
			continue;
		pthread_mutex_lock(&in->lock);
		bool stop = in->stop;
		/* a camera that stopped sending sender reports has no
		 * known offset, rather than the last one forever */
		double clock = in->clock_s[i];
		if (in->clock_mono[i] < 0 ||
		    clock_mono_us() - in->clock_mono[i] > INSPECT_CLOCK_STALE_S * USEC_PER_SEC)
			clock = NAN;
		pthread_mutex_unlock(&in->lock);
		if (stop)
			return;
		int ret = inspect_camera_clock(in->cfg, in->cat, cam, clock_wall_us(), clock, &r);
		if (ret < 0) {
			log_warnx("camera '%s': inspection: %s", cam->id, db_errmsg(ret));
			continue;
		}
		pthread_mutex_lock(&in->lock);
		struct inspect_status *st = &in->status[i];
		bool changed = st->state != r.state;
		st->state = r.state;
		st->checked_us = r.checked_us;
		snprintf(st->reason, sizeof(st->reason), "%s", r.reason);
		pthread_mutex_unlock(&in->lock);
		if (changed) {
			if (r.state == PICTURE_OK)
				log_info("camera '%s': picture ok", cam->id);
			else if (r.state == PICTURE_UNKNOWN)
				log_info("camera '%s': picture unknown: %s", cam->id, r.reason);
			else
				log_warnx("camera '%s': picture %s: %s", cam->id,
					  inspect_picture_name(r.state), r.reason);
			if (in->cb.changed)
				in->cb.changed(in->cb.ctx, cam->id);
		}
		inspect_result_release(&r);
	}
}

static void *inspector_main(void *arg)
{
	struct inspector *in = arg;
	const int64_t interval = (int64_t)in->cfg->inspection_interval_seconds * USEC_PER_SEC;

	/* below the workers: a decode never takes a core from recording */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	int64_t next = clock_mono_us() + (interval < FIRST_CHECK_US ? interval : FIRST_CHECK_US);
	while (!wait_until(in, next)) {
		check_all(in);
		next += interval;
		int64_t now = clock_mono_us();
		if (next < now)
			next = now + interval; /* fell behind: no burst of checks */
	}
	return NULL;
}

int inspector_start(struct inspector *in)
{
	if (in->cfg->inspection_interval_seconds <= 0)
		return 0;
	int ret = pthread_create(&in->thread, NULL, inspector_main, in);
	if (ret != 0) {
		log_warnx("inspection: cannot start the thread: %s", strerror(ret));
		return -ret;
	}
	in->started = true;
	log_info("inspection: checking every camera's picture every %d s",
		 in->cfg->inspection_interval_seconds);
	return 0;
}

void inspector_stop(struct inspector *in)
{
	if (!in || !in->started)
		return;
	pthread_mutex_lock(&in->lock);
	in->stop = true;
	pthread_cond_broadcast(&in->wake);
	pthread_mutex_unlock(&in->lock);
	pthread_join(in->thread, NULL);
	in->started = false;
}

void inspector_free(struct inspector **pin)
{
	struct inspector *in = *pin;
	if (!in)
		return;
	inspector_stop(in);
	pthread_mutex_destroy(&in->lock);
	pthread_cond_destroy(&in->wake);
	free(in->status);
	free(in->clock_s);
	free(in->clock_mono);
	free(in);
	*pin = NULL;
}

void inspector_set_clock_offset(struct inspector *in, const char *camera, double offset_s)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->n; i++) {
		if (strcmp(in->cfg->cameras[i].id, camera) != 0)
			continue;
		pthread_mutex_lock(&in->lock);
		in->clock_s[i] = offset_s;
		in->clock_mono[i] = isfinite(offset_s) ? clock_mono_us() : -1;
		pthread_mutex_unlock(&in->lock);
		return;
	}
}

int inspector_status(struct inspector *in, size_t i, struct inspect_status *out)
{
	if (!in || i >= in->n)
		return -ENOENT;
	pthread_mutex_lock(&in->lock);
	*out = in->status[i];
	pthread_mutex_unlock(&in->lock);
	return 0;
}
