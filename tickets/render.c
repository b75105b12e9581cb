/*
 * Ticket text and JSON (see render.h).  Everything that leaves the checker
 * about a ticket is built here, so a credential scrubbed here is scrubbed
 * for every sink: the text passes through the redaction filter last.  What
 * a technician reads comes in English or Simplified Chinese ([tickets]
 * language) from one message table; machine values are the same in both.
 */
#include "tickets/tickets.h"

#include <inttypes.h>
#include <stdarg.h>
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

/*
 * What a technician reads in Simplified Chinese: one table from the English
 * message to its translation.  A format takes the English arguments (the
 * Chinese may number them, %2$s, to put them in its own order), so the
 * English format is what the compiler checks.
 */
struct message {
	const char *en, *zh;
};

static const struct message messages[] = {
	/* units of ticket_duration_text */
	{ "%" PRId64 " s", "%" PRId64 " 秒" },
	{ "%" PRId64 " min", "%" PRId64 " 分钟" },
	{ "%" PRId64 " h %02" PRId64 " min", "%" PRId64 " 小时 %02" PRId64 " 分钟" },
	{ "%" PRId64 " d %" PRId64 " h", "%" PRId64 " 天 %" PRId64 " 小时" },
	/* who */
	{ "Camera", "摄像机" },
	{ "camera", "摄像机" },
	{ "Recorder", "录像机" },
	{ "recorder", "录像机" },
	/* the sentences */
	{ "%s %s from %s to %s (%s)", "%1$s 在 %3$s 至 %4$s 期间%2$s（%5$s）" },
	{ "%s %s since %s, %s%s%s", "%1$s 自 %3$s 起%2$s，已持续 %4$s%5$s%6$s" },
	{ ": ", "：" },
	{ "vigil #%" PRId64 ": %s %s %s%s", "vigil #%" PRId64 "：%s %s %s%s" },
	/* the webhook's text (webhook.c) */
	{ "Recorder: %s\nCamera: %s\nSite: %s\nLocation: %s\nLevel: %d\nFault since: %s\n",
	  "录像机：%s\n摄像机：%s\n站点：%s\n安装位置：%s\n故障等级：%d\n故障开始：%s\n" },
	{ "Escalated to level %d. %s", "已升级为 %d 级故障。%s" },
	{ "Acknowledged by %s%s%s. %s", "已由 %s 确认%s%s。%s" },
	{ "Resolved by %s%s%s. %s", "已由 %s 处理完毕%s%s。%s" },
	{ "Reopened: the fault went on. %s", "重新打开：故障仍在持续。%s" },
	/* a site's link (several recorders, one view) */
	{ "Site", "站点" },
	{ "Picture", "画面" },
	{ "site", "站点" },
};

const char *ticket_tr(enum ticket_lang lang, const char *en)
{
	if (lang != TICKET_LANG_ZH)
		return en;
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
		if (strcmp(messages[i].en, en) == 0)
			return messages[i].zh;
	return en;
}

/* snprintf with the translation of the English format en_fmt. */
static void __attribute__((format(printf, 4, 5)))
tr_snprintf(enum ticket_lang lang, char *out, size_t size, const char *en_fmt, ...)
{
	va_list ap;
	va_start(ap, en_fmt);
	vsnprintf(out, size, ticket_tr(lang, en_fmt), ap);
	va_end(ap);
}

void ticket_duration_text_lang(int64_t us, enum ticket_lang lang, char *out, size_t size)
{
	int64_t s = us < 0 ? 0 : us / USEC_PER_SEC;
	if (s < 60)
		tr_snprintf(lang, out, size, "%" PRId64 " s", s);
	else if (s < 3600)
		tr_snprintf(lang, out, size, "%" PRId64 " min", s / 60);
	else if (s < 86400)
		tr_snprintf(lang, out, size, "%" PRId64 " h %02" PRId64 " min", s / 3600,
			    s / 60 % 60);
	else
		tr_snprintf(lang, out, size, "%" PRId64 " d %" PRId64 " h", s / 86400,
			    s / 3600 % 24);
}

void ticket_duration_text(int64_t us, char *out, size_t size)
{
	ticket_duration_text_lang(us, TICKET_LANG_EN, out, size);
}

/* What the fault is, now and in the past tense (Chinese has one form: the
 * sentence around it says when). */
static const char *what(enum ticket_kind k, bool past, enum ticket_lang lang)
{
	bool zh = lang == TICKET_LANG_ZH;
	switch (k) {
	case TICKET_CAMERA_DOWN: return zh ? "离线" : past ? "was down" : "down";
	case TICKET_CAMERA_DEGRADED:
		return zh ? "视频流质量下降" : past ? "was degraded" : "degraded";
	case TICKET_RECORDER_OFFLINE: return zh ? "离线" : past ? "was offline" : "offline";
	case TICKET_STORAGE_ERROR:
		return zh     ? "无法写入录像"
		       : past ? "could not write footage"
			      : "cannot write footage";
	case TICKET_RETENTION_AT_RISK:
		return zh     ? "录像保留期限存在风险"
		       : past ? "had its retention at risk"
			      : "has its retention at risk";
	case TICKET_SITE_UNREACHABLE:
		return zh ? "无法连接" : past ? "was unreachable" : "unreachable";
	case TICKET_PICTURE_BLACK:
		return zh ? "画面黑屏" : past ? "showed a black picture" : "shows a black picture";
	case TICKET_PICTURE_FROZEN:
		return zh     ? "画面冻结"
		       : past ? "showed a frozen picture"
			      : "shows a frozen picture";
	case TICKET_PICTURE_COVERED:
		return zh     ? "镜头被遮挡或失焦"
		       : past ? "was covered or out of focus"
			      : "is covered or out of focus";
	case TICKET_VIEW_MOVED:
		return zh ? "监控视角偏移" : past ? "had its view moved" : "has its view moved";
	case TICKET_CAMERA_CLOCK:
		return zh ? "时钟偏差" : past ? "had its clock off" : "has its clock off";
	case TICKET_KIND_COUNT: break;
	}
	return "?";
}

/* "(Gate 3 inbound lane, Zone 1 bonded warehouse)", or "" */
static void where(const struct ticket *t, enum ticket_lang lang, char *out, size_t size)
{
	bool zh = lang == TICKET_LANG_ZH;
	const char *open = zh ? "（" : " (", *sep = zh ? "，" : ", ", *close = zh ? "）" : ")";
	if (t->camera[0] && t->location[0] && t->site[0])
		snprintf(out, size, "%s%s%s%s%s", open, t->location, sep, t->site, close);
	else if (t->camera[0] && t->location[0])
		snprintf(out, size, "%s%s%s", open, t->location, close);
	else if (t->site[0])
		snprintf(out, size, "%s%s%s", open, t->site, close);
	else if (size)
		out[0] = '\0';
}

/* "Camera gate3 (Gate 3 inbound lane, Zone 1 bonded warehouse)" */
static void subject(const struct ticket *t, enum ticket_lang lang, char *out, size_t size)
{
	char w[2 * TICKET_TEXT_MAX + 16];
	where(t, lang, w, sizeof(w));
	if (t->camera[0])
		snprintf(out, size, "%s %s%s", ticket_tr(lang, "Camera"), t->camera, w);
	else if (t->kind == TICKET_SITE_UNREACHABLE) /* recorder holds the site's key */
		snprintf(out, size, "%s %s%s", ticket_tr(lang, "Site"), t->recorder, w);
	else
		snprintf(out, size, "%s %s%s", ticket_tr(lang, "Recorder"), t->recorder, w);
}

void ticket_text_lang(const struct ticket *t, int64_t now_us, enum ticket_lang lang, char *out,
		      size_t size)
{
	char who[3 * TICKET_TEXT_MAX + 48], from[32], to[32], dur[48];

	int64_t end = t->state != TICKET_RESOLVED ? now_us
		      : t->fault_end_us >= 0	  ? t->fault_end_us
						  : t->resolved_us;
	/* a short fault reads better to the second */
	bool seconds = end - t->fault_start_us < 10 * 60 * USEC_PER_SEC;

	subject(t, lang, who, sizeof(who));
	ticket_clock_text(t->fault_start_us, now_us, seconds, from, sizeof(from));
	if (t->state == TICKET_RESOLVED) {
		ticket_clock_text(end, t->fault_start_us, seconds, to, sizeof(to));
		ticket_duration_text_lang(end - t->fault_start_us, lang, dur, sizeof(dur));
		tr_snprintf(lang, out, size, "%s %s from %s to %s (%s)", who,
			    what(t->kind, true, lang), from, to, dur);
	} else {
		ticket_duration_text_lang(now_us - t->fault_start_us, lang, dur, sizeof(dur));
		tr_snprintf(lang, out, size, "%s %s since %s, %s%s%s", who,
			    what(t->kind, false, lang), from, dur,
			    t->detail[0] ? ticket_tr(lang, ": ") : "", t->detail);
	}
	redact_scrub(out, size);
}

void ticket_text(const struct ticket *t, int64_t now_us, char *out, size_t size)
{
	ticket_text_lang(t, now_us, TICKET_LANG_EN, out, size);
}

void ticket_title_lang(const struct ticket *t, enum ticket_lang lang, char *out, size_t size)
{
	char w[2 * TICKET_TEXT_MAX + 16];
	where(t, lang, w, sizeof(w));
	tr_snprintf(lang, out, size, "vigil #%" PRId64 ": %s %s %s%s", t->id,
		    ticket_tr(lang, t->camera[0]			 ? "camera"
				    : t->kind == TICKET_SITE_UNREACHABLE ? "site"
									 : "recorder"),
		    t->camera[0] ? t->camera : t->recorder, what(t->kind, false, lang), w);
	redact_scrub(out, size);
}

void ticket_title(const struct ticket *t, char *out, size_t size)
{
	ticket_title_lang(t, TICKET_LANG_EN, out, size);
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

void ticket_json_fields_lang(struct json_writer *w, const struct ticket *t, int64_t now_us,
			     enum ticket_lang lang)
{
	char text[1024], detail[TICKET_DETAIL_MAX];
	int64_t end = t->fault_end_us >= 0	    ? t->fault_end_us
		      : t->state == TICKET_RESOLVED ? t->resolved_us
						    : now_us;

	ticket_text_lang(t, now_us, lang, text, sizeof(text));
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

void ticket_json_fields(struct json_writer *w, const struct ticket *t, int64_t now_us)
{
	ticket_json_fields_lang(w, t, now_us, TICKET_LANG_EN);
}

void ticket_json_lang(struct json_writer *w, const struct ticket *t, int64_t now_us,
		      enum ticket_lang lang)
{
	jw_begin_object(w);
	ticket_json_fields_lang(w, t, now_us, lang);
	jw_end_object(w);
}

void ticket_json(struct json_writer *w, const struct ticket *t, int64_t now_us)
{
	ticket_json_lang(w, t, now_us, TICKET_LANG_EN);
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
