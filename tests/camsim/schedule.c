/*
 * schedule.c: faults given on the command line, fired from the main loop.
 *
 * Every schedule option is turned into timed events (camera, action, time
 * after camsim start):
 *   --down  camN@A-B              down at A, up at B
 *   --stall camN@A-B              stall at A, resume at B
 *   --flap  camN@S:COUNT:DOWN:UP  COUNT times: down for DOWN, then up for UP,
 *                                 the first down at S
 *   --jump  camN@T+OFFSET         RTP timestamps jump forward by OFFSET at T
 * Times take an "s" or "ms" suffix; without one, A, B, S, T and OFFSET are
 * seconds and DOWN and UP milliseconds.  Fractions are allowed ("1.5s").
 *
 * The events are sorted once (stably: two events at the same moment fire in
 * the order given) and one GLib timer is armed for the next due event, each
 * time computed from the start time, so the schedule does not drift.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camsim.h"

#define MAX_EVENTS 1000000
#define MAX_TIME_MS ((int64_t)1000 * 1000 * 1000 * 1000) /* ~31 years */

int parse_cam_name(const char *s, size_t len)
{
	long id = 0;

	if (len < 4 || strncmp(s, "cam", 3) != 0 || s[3] == '0')
		return -EINVAL;
	for (size_t i = 3; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		id = id * 10 + (s[i] - '0');
		if (id > CAMSIM_MAX_CAMERAS)
			return -EINVAL;
	}
	return (int)id;
}

/* Parses a time at *p ("10", "1.5s", "250ms"), in unit_ms units when it has
 * no suffix, and advances *p past it.  Returns 0 or -EINVAL. */
static int parse_time(const char **p, int64_t unit_ms, int64_t *out_ms)
{
	const char *s = *p;
	int64_t whole = 0, milli = 0, scale = 100;
	int digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		whole = whole * 10 + (*s - '0');
		if (whole > MAX_TIME_MS)
			return -EINVAL;
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
			milli += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (digits == 0)
		return -EINVAL;
	if (strncmp(s, "ms", 2) == 0) {
		unit_ms = 1;
		s += 2;
	} else if (*s == 's') {
		unit_ms = 1000;
		s++;
	}
	*out_ms = whole * unit_ms + milli * unit_ms / 1000;
	if (*out_ms > MAX_TIME_MS)
		return -EINVAL;
	*p = s;
	return 0;
}

/* Parses an unsigned count at *p and advances *p. */
static int parse_count(const char **p, int64_t max, int64_t *out)
{
	const char *s = *p;
	int64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	*p = s;
	return 0;
}

static int add_event(struct schedule *sc, int64_t at_ms, int cam,
		     enum cam_action a, int64_t arg)
{
	struct schedule_event *e;

	if (sc->n >= MAX_EVENTS)
		return -E2BIG;
	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? sc->cap * 2 : 64;
		sc->ev = g_renew(struct schedule_event, sc->ev, sc->cap);
	}
	e = &sc->ev[sc->n];
	e->at_ms = at_ms;
	e->cam = cam;
	e->action = a;
	e->arg = arg;
	e->seq = sc->n;
	sc->n++;
	return 0;
}

int schedule_add(struct schedule *sc, const char *kind, const char *spec,
		 char *err, size_t errsize)
{
	const char *at = strchr(spec, '@'), *p;
	int64_t a = 0, b = 0, count = 0, down = 0, up = 0;
	int cam;
	const char *form;

	if (strcmp(kind, "flap") == 0)
		form = "camN@START:COUNT:DOWN_MS:UP_MS";
	else if (strcmp(kind, "jump") == 0)
		form = "camN@Ts+OFFSETs";
	else
		form = "camN@STARTs-ENDs";
	if (!at || (cam = parse_cam_name(spec, (size_t)(at - spec))) < 0)
		goto bad;
	p = at + 1;
	if (strcmp(kind, "down") == 0 || strcmp(kind, "stall") == 0) {
		if (parse_time(&p, 1000, &a) < 0 || *p++ != '-' ||
		    parse_time(&p, 1000, &b) < 0 || *p != '\0')
			goto bad;
		if (b <= a) {
			snprintf(err, errsize,
				 "bad --%s '%s': end must come after start",
				 kind, spec);
			return -EINVAL;
		}
		if (kind[0] == 'd') {
			if (add_event(sc, a, cam, CAM_DOWN, 0) < 0 ||
			    add_event(sc, b, cam, CAM_UP, 0) < 0)
				goto too_many;
		} else {
			if (add_event(sc, a, cam, CAM_STALL, 0) < 0 ||
			    add_event(sc, b, cam, CAM_RESUME, 0) < 0)
				goto too_many;
		}
		return 0;
	}
	if (strcmp(kind, "flap") == 0) {
		if (parse_time(&p, 1000, &a) < 0 || *p++ != ':' ||
		    parse_count(&p, MAX_EVENTS / 2, &count) < 0 ||
		    *p++ != ':' || parse_time(&p, 1, &down) < 0 ||
		    *p++ != ':' || parse_time(&p, 1, &up) < 0 || *p != '\0')
			goto bad;
		if (count == 0 || down == 0 || up == 0) {
			snprintf(err, errsize,
				 "bad --flap '%s': COUNT, DOWN_MS and UP_MS "
				 "must be positive",
				 spec);
			return -EINVAL;
		}
		if (a + count * (down + up) > MAX_TIME_MS)
			goto bad;
		for (int64_t i = 0; i < count; i++) {
			int64_t t = a + i * (down + up);

			if (add_event(sc, t, cam, CAM_DOWN, 0) < 0 ||
			    add_event(sc, t + down, cam, CAM_UP, 0) < 0)
				goto too_many;
		}
		return 0;
	}
	if (strcmp(kind, "jump") == 0) {
		if (parse_time(&p, 1000, &a) < 0 || *p++ != '+' ||
		    parse_time(&p, 1000, &b) < 0 || *p != '\0' || b == 0)
			goto bad;
		if (add_event(sc, a, cam, CAM_JUMP, b) < 0)
			goto too_many;
		return 0;
	}
bad:
	snprintf(err, errsize, "bad --%s '%s': expected %s", kind, spec, form);
	return -EINVAL;
too_many:
	snprintf(err, errsize, "too many scheduled events (at most %d)",
		 MAX_EVENTS);
	return -EINVAL;
}

int schedule_parse_slow(const char *spec, int *cam, unsigned *ms, char *err,
			size_t errsize)
{
	const char *at = strchr(spec, '@'), *p;
	int64_t v;

	if (!at || (*cam = parse_cam_name(spec, (size_t)(at - spec))) < 0)
		goto bad;
	p = at + 1;
	if (parse_time(&p, 1, &v) < 0 || *p != '\0' || v > 600000)
		goto bad;
	*ms = (unsigned)v;
	return 0;
bad:
	snprintf(err, errsize,
		 "bad --slow '%s': expected camN@MS (at most 600000)", spec);
	return -EINVAL;
}

int schedule_check(const struct schedule *sc, int cameras, char *err,
		   size_t errsize)
{
	for (size_t i = 0; i < sc->n; i++) {
		if (sc->ev[i].cam > cameras) {
			snprintf(err, errsize,
				 "schedule names cam%d but there are only %d "
				 "cameras",
				 sc->ev[i].cam, cameras);
			return -EINVAL;
		}
	}
	return 0;
}

static int cmp_event(const void *pa, const void *pb)
{
	const struct schedule_event *a = pa, *b = pb;

	if (a->at_ms != b->at_ms)
		return a->at_ms < b->at_ms ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static gboolean fire(gpointer data);

static void arm(struct schedule *sc)
{
	int64_t now_ms, delay;

	if (sc->next >= sc->n)
		return;
	now_ms = (g_get_monotonic_time() - sc->start_us) / 1000;
	delay = sc->ev[sc->next].at_ms - now_ms;
	if (delay < 0)
		delay = 0;
	sc->timer = g_timeout_add((guint)MIN(delay, (int64_t)G_MAXUINT), fire,
				  sc);
}

static gboolean fire(gpointer data)
{
	struct schedule *sc = data;
	int64_t now_ms = (g_get_monotonic_time() - sc->start_us) / 1000;
	char err[128];

	sc->timer = 0;
	while (sc->next < sc->n && sc->ev[sc->next].at_ms <= now_ms) {
		const struct schedule_event *e = &sc->ev[sc->next++];

		if (server_act(sc->server, e->cam, e->action, e->arg, err,
			       sizeof(err)) < 0)
			log_warnx("schedule at %" G_GINT64_FORMAT " ms: %s",
				  e->at_ms, err);
	}
	arm(sc);
	return G_SOURCE_REMOVE;
}

void schedule_start(struct schedule *sc, struct server *s, int64_t start_us)
{
	if (sc->n > 1)
		qsort(sc->ev, sc->n, sizeof(*sc->ev), cmp_event);
	sc->server = s;
	sc->start_us = start_us;
	sc->next = 0;
	arm(sc);
}

void schedule_release(struct schedule *sc)
{
	if (sc->timer)
		g_source_remove(sc->timer);
	g_free(sc->ev);
	memset(sc, 0, sizeof(*sc));
}
