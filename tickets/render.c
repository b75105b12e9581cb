/*
 * Ticket text and JSON (see render.h).  Everything that leaves the checker
 * about a ticket is built here, so a credential scrubbed here is scrubbed
 * for every sink: the text passes through the redaction filter last.
 */
#include "tickets/tickets.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/redact.h"
#include "util/banned.h"

void ticket_clock_text(int64_t us, int64_t now_us, bool seconds, char *out, size_t size)
{
	struct tm a, b;
	char hm[16];
	time_t t = (time_t)(us / USEC_PER_SEC), n = (time_t)(now_us / USEC_PER_SEC);
	localtime_r(&t, &a);
	localtime_r(&n, &b);
	if (seconds)
		snprintf(hm, sizeof(hm), "%02d:%02d:%02d", a.tm_hour, a.tm_min, a.tm_sec);
	else
		snprintf(hm, sizeof(hm), "%02d:%02d", a.tm_hour, a.tm_min);
	if (a.tm_year == b.tm_year && a.tm_yday == b.tm_yday)
		snprintf(out, size, "%s", hm);
	else
		snprintf(out, size, "%04d-%02d-%02d %s", a.tm_year + 1900, a.tm_mon + 1, a.tm_mday,
			 hm);
}

void ticket_duration_text(int64_t us, char *out, size_t size)
{
	int64_t s = us < 0 ? 0 : us / USEC_PER_SEC;
	if (s < 60)
		snprintf(out, size, "%" PRId64 " s", s);
	else if (s < 3600)
		snprintf(out, size, "%" PRId64 " min", s / 60);
	else if (s < 86400)
		snprintf(out, size, "%" PRId64 " h %02" PRId64 " min", s / 3600, s / 60 % 60);
	else
		snprintf(out, size, "%" PRId64 " d %" PRId64 " h", s / 86400, s / 3600 % 24);
}

/* What the fault is, now and in the past tense. */
static const char *what(enum ticket_kind k, bool past)
{
	switch (k) {
	case TICKET_CAMERA_DOWN: return past ? "was down" : "down";
	case TICKET_CAMERA_DEGRADED: return past ? "was degraded" : "degraded";
	case TICKET_RECORDER_OFFLINE: return past ? "was offline" : "offline";
	case TICKET_STORAGE_ERROR: return past ? "could not write footage" : "cannot write footage";
	case TICKET_RETENTION_AT_RISK:
		return past ? "had its retention at risk" : "has its retention at risk";
	case TICKET_SITE_UNREACHABLE: return past ? "was unreachable" : "unreachable";
	case TICKET_PICTURE_BLACK: return past ? "showed a black picture" : "shows a black picture";
	case TICKET_PICTURE_FROZEN:
		return past ? "showed a frozen picture" : "shows a frozen picture";
	case TICKET_PICTURE_COVERED:
		return past ? "was covered or out of focus" : "is covered or out of focus";
	case TICKET_VIEW_MOVED: return past ? "had its view moved" : "has its view moved";
	case TICKET_CAMERA_CLOCK: return past ? "had its clock off" : "has its clock off";
	case TICKET_KIND_COUNT: break;
	}
	return "?";
}

/* "(Gate 3 inbound lane, Zone 1 bonded warehouse)", or "" */
static void where(const struct ticket *t, char *out, size_t size)
{
	if (t->camera[0] && t->location[0] && t->site[0])
		snprintf(out, size, " (%s, %s)", t->location, t->site);
	else if (t->camera[0] && t->location[0])
		snprintf(out, size, " (%s)", t->location);
	else if (t->site[0])
		snprintf(out, size, " (%s)", t->site);
	else if (size)
		out[0] = '\0';
}

/* "Camera gate3 (Gate 3 inbound lane, Zone 1 bonded warehouse)" */
static void subject(const struct ticket *t, bool capital, char *out, size_t size)
{
	char w[2 * TICKET_TEXT_MAX + 8];
	where(t, w, sizeof(w));
	if (t->camera[0])
		snprintf(out, size, "%s %s%s", capital ? "Camera" : "camera", t->camera, w);
	else if (t->kind == TICKET_SITE_UNREACHABLE) /* recorder holds the site's key */
		snprintf(out, size, "%s %s%s", capital ? "Site" : "site", t->recorder, w);
	else
		snprintf(out, size, "%s %s%s", capital ? "Recorder" : "recorder", t->recorder, w);
}

void ticket_text(const struct ticket *t, int64_t now_us, char *out, size_t size)
{
	char who[3 * TICKET_TEXT_MAX + 32], from[32], to[32], dur[32];

	int64_t end = t->state != TICKET_RESOLVED ? now_us
		      : t->fault_end_us >= 0	  ? t->fault_end_us
						  : t->resolved_us;
	/* a short fault reads better to the second */
	bool seconds = end - t->fault_start_us < 10 * 60 * USEC_PER_SEC;

	subject(t, true, who, sizeof(who));
	ticket_clock_text(t->fault_start_us, now_us, seconds, from, sizeof(from));
	if (t->state == TICKET_RESOLVED) {
		ticket_clock_text(end, t->fault_start_us, seconds, to, sizeof(to));
		ticket_duration_text(end - t->fault_start_us, dur, sizeof(dur));
		snprintf(out, size, "%s %s from %s to %s (%s)", who, what(t->kind, true), from, to,
			 dur);
	} else {
		ticket_duration_text(now_us - t->fault_start_us, dur, sizeof(dur));
		snprintf(out, size, "%s %s since %s, %s%s%s", who, what(t->kind, false), from, dur,
			 t->detail[0] ? ": " : "", t->detail);
	}
	redact_scrub(out, size);
}

void ticket_title(const struct ticket *t, char *out, size_t size)
{
	char w[2 * TICKET_TEXT_MAX + 8];
	where(t, w, sizeof(w));
	snprintf(out, size, "vigil #%" PRId64 ": %s %s %s%s", t->id,
		 t->camera[0]			      ? "camera"
		 : t->kind == TICKET_SITE_UNREACHABLE ? "site"
						      : "recorder",
		 t->camera[0] ? t->camera : t->recorder, what(t->kind, false), w);
	redact_scrub(out, size);
}

static void kv_time_or_null(struct json_writer *w, const char *key, int64_t us)
{
	if (us >= 0)
		jw_kv_time(w, key, us);
	else {
		jw_key(w, key);
		jw_null(w);
	}
}

void ticket_json_fields(struct json_writer *w, const struct ticket *t, int64_t now_us)
{
	char text[1024], detail[TICKET_DETAIL_MAX];
	int64_t end = t->fault_end_us >= 0	    ? t->fault_end_us
		      : t->state == TICKET_RESOLVED ? t->resolved_us
						    : now_us;

	ticket_text(t, now_us, text, sizeof(text));
	snprintf(detail, sizeof(detail), "%s", t->detail);
	redact_scrub(detail, sizeof(detail));
	jw_kv_int(w, "id", t->id);
	jw_kv_string(w, "kind", ticket_kind_name(t->kind));
	jw_kv_int(w, "level", t->level);
	jw_kv_string(w, "state", ticket_state_name(t->state));
	jw_kv_string(w, "recorder", t->recorder);
	jw_kv_string(w, "camera", t->camera[0] ? t->camera : NULL);
	jw_kv_string(w, "site", t->site);
	jw_kv_string(w, "location", t->location);
	kv_time_or_null(w, "opened", t->opened_us);
	kv_time_or_null(w, "escalated", t->escalated_us);
	kv_time_or_null(w, "acknowledged", t->acknowledged_us);
	jw_kv_string(w, "acknowledged_by", t->acknowledged_by[0] ? t->acknowledged_by : NULL);
	kv_time_or_null(w, "resolved", t->resolved_us);
	jw_kv_string(w, "resolved_by", t->resolved_by[0] ? t->resolved_by : NULL);
	kv_time_or_null(w, "fault_start", t->fault_start_us);
	kv_time_or_null(w, "fault_end", t->fault_end_us);
	jw_kv_int(w, "duration_s", (end - t->fault_start_us) / USEC_PER_SEC);
	jw_kv_string(w, "detail", detail);
	jw_kv_string(w, "text", text);
	jw_kv_string(w, "external_id", t->external_id[0] ? t->external_id : NULL);
}

void ticket_json(struct json_writer *w, const struct ticket *t, int64_t now_us)
{
	jw_begin_object(w);
	ticket_json_fields(w, t, now_us);
	jw_end_object(w);
}

void ticket_event_json(struct json_writer *w, const struct ticket_event *ev)
{
	char note[TICKET_DETAIL_MAX];
	snprintf(note, sizeof(note), "%s", ev->note);
	redact_scrub(note, sizeof(note));
	jw_begin_object(w);
	jw_kv_int(w, "id", ev->id);
	jw_kv_string(w, "kind", ticket_event_kind_name(ev->kind));
	jw_kv_time(w, "at", ev->at_us);
	jw_kv_int(w, "level", ev->level);
	jw_kv_string(w, "actor", ev->actor);
	jw_kv_string(w, "note", note);
	jw_kv_string(w, "key", ev->key);
	jw_end_object(w);
}
