/*
 * The two languages of what people read: the HTML reports (report_set_lang,
 * per thread) and the ticket text for technicians ([tickets] language).
 * English must come out exactly as before, scripts' formats (JSON) in no
 * language but English, and every translated format must take the English
 * arguments.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "report/page.h"
#include "report/report.h"
#include "tickets/tickets.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"
#include "tests/unit/test.h"
#include "util/banned.h"

#define S USEC_PER_SEC
#define MIN (60 * S)
#define H (60 * MIN)
#define T0 (INT64_C(1795478400) * S) /* 2026-11-24 00:00:00 UTC */

static void lang_parse(void)
{
	static const struct {
		const char *name;
		int ret;
		enum report_lang lang;
	} cases[] = {
		{ "en", 0, REPORT_LANG_EN },	      { "zh-CN", 0, REPORT_LANG_ZH },
		{ "zh", 0, REPORT_LANG_ZH },	      { "zh-Hans", 0, REPORT_LANG_ZH },
		{ "fr", -EINVAL, REPORT_LANG_EN },    { "", -EINVAL, REPORT_LANG_EN },
		{ "zh-TW", -EINVAL, REPORT_LANG_EN }, { "EN", -EINVAL, REPORT_LANG_EN },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum report_lang l = REPORT_LANG_EN;
		int ret = report_lang_parse(cases[i].name, &l);
		if (ret != cases[i].ret || (ret == 0 && l != cases[i].lang))
			test_fail(__FILE__, __LINE__, "report_lang_parse('%s') = %d, lang %d",
				  cases[i].name, ret, (int)l);
	}
}

/* A day of one camera, unreachable 06:00-06:10, the report made at noon. */
struct day {
	struct continuity_gap gap;
	struct continuity_camera cam;
	struct continuity_report rep;
};

static void day_init(struct day *d)
{
	memset(d, 0, sizeof(*d));
	d->gap.start_us = T0 + 6 * H;
	d->gap.end_us = T0 + 6 * H + 10 * MIN;
	snprintf(d->gap.reason, sizeof(d->gap.reason), "camera-unreachable");
	snprintf(d->gap.detail, sizeof(d->gap.detail), "no footage and no recorded reason");
	snprintf(d->cam.camera, sizeof(d->cam.camera), "gate3");
	d->cam.recorded_us = 12 * H - 10 * MIN;
	d->cam.coverage_percent = 98.6;
	d->cam.gaps = &d->gap;
	d->cam.ngaps = 1;
	d->cam.longest_gap_us = 10 * MIN;
	d->rep.from_us = T0;
	d->rep.to_us = T0 + 24 * H;
	d->rep.generated_us = T0 + 12 * H;
	d->rep.cameras = &d->cam;
	d->rep.ncameras = 1;
}

/* The report as f writes it in the thread's language (the caller frees). */
static char *render(const struct continuity_report *rep, enum report_format f)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out)
		return NULL;
	if (continuity_write(rep, f, out) < 0)
		test_fail(__FILE__, __LINE__, "continuity_write failed");
	fclose(out);
	return text;
}

static bool has_han(const char *s)
{
	/* the CJK block starts at U+4E00: lead bytes 0xE4-0xE9 */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0xE4 && *p <= 0xE9)
			return true;
	return false;
}

static void continuity_html_zh(void)
{
	struct day d;
	day_init(&d);
	setenv("TZ", "UTC", 1);
	tzset();

	report_set_lang(REPORT_LANG_EN);
	char *en = render(&d.rep, REPORT_HTML);
	char *en_json = render(&d.rep, REPORT_JSON);
	report_set_lang(REPORT_LANG_ZH);
	CHECK_INT(report_get_lang(), REPORT_LANG_ZH);
	char *zh = render(&d.rep, REPORT_HTML);
	char *zh_json = render(&d.rep, REPORT_JSON);
	char *zh_csv = render(&d.rep, REPORT_CSV);
	report_set_lang(REPORT_LANG_EN);
	char *en2 = render(&d.rep, REPORT_HTML);

	/* English: as it always was, no Chinese anywhere */
	CHECK_CONTAINS(en, "<html lang=\"en\">");
	CHECK_CONTAINS(en, "<h1>Continuity report</h1>");
	CHECK_CONTAINS(en, "<th>camera</th><th>recorded</th><th>coverage</th><th>verdict</th>");
	CHECK_CONTAINS(en, "<td>camera-unreachable</td>");
	CHECK_CONTAINS(en, "1 gap, longest 10m 00s");
	CHECK_CONTAINS(en, "camera unreachable</span>");
	CHECK(!has_han(en));
	CHECK_STR(en2, en);

	/* Chinese: the headings, labels, verdict and the gap's reason */
	CHECK_CONTAINS(zh, "<html lang=\"zh-CN\">");
	CHECK_CONTAINS(zh, "<title>vigil 连续性报告</title>");
	CHECK_CONTAINS(zh, "<h1>连续性报告</h1>");
	CHECK_CONTAINS(zh, "<th>摄像机</th><th>已录制</th><th>覆盖率</th><th>结论</th>");
	CHECK_CONTAINS(zh, "有中断：1 处，最长 10分00秒");
	CHECK_CONTAINS(zh, "<th>开始</th><th>结束</th><th>时长</th><th>原因</th><th>详情</th>");
	CHECK_CONTAINS(zh, "<td>摄像机无法连接</td>");
	CHECK_CONTAINS(zh, "摄像机无法连接</span>");
	CHECK_CONTAINS(zh, "无录像，且无记录在案的原因");
	CHECK_CONTAINS(zh, "（当地时间）");
	/* the machine values stay */
	CHECK_CONTAINS(zh, "data-reason=\"camera-unreachable\"");
	CHECK_CONTAINS(zh, "class=\"gap\"");
	CHECK_CONTAINS(zh, "class=\"bad\"");
	CHECK(!strstr(zh, "Continuity report"));
	CHECK(!strstr(zh, "<th>camera</th>"));

	/* scripts read JSON and CSV: not a byte changes */
	CHECK_STR(zh_json, en_json);
	CHECK(!has_han(zh_csv));
	CHECK_CONTAINS(zh_csv, "camera-unreachable");

	free(en);
	free(en2);
	free(zh);
	free(en_json);
	free(zh_json);
	free(zh_csv);
	unsetenv("TZ");
	tzset();
}

static void *other_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)report_get_lang();
}

/* The web server sets the language per request thread: one thread's
 * setting is not another's. */
static void lang_per_thread(void)
{
	pthread_t th;
	void *got = NULL;
	report_set_lang(REPORT_LANG_ZH);
	CHECK_INT(pthread_create(&th, NULL, other_thread, NULL), 0);
	pthread_join(th, &got);
	CHECK_INT((intptr_t)got, REPORT_LANG_EN);
	CHECK_STR(page_tr("camera"), "摄像机");
	report_set_lang(REPORT_LANG_EN);
	CHECK_STR(page_tr("camera"), "camera");
	CHECK_STR(page_tr("a message of no table"), "a message of no table");
}

/*
 * The conversions of a printf format, as the argument each takes: "%1$s"
 * and "%s" alike give 's' at its argument's place.  Returns how many
 * arguments, -1 when the format mixes numbered and unnumbered ones.
 */
static int conversions(const char *fmt, char args[16][8])
{
	int n = 0, max = 0, numbered = -1;
	memset(args, 0, 16 * 8);
	for (const char *p = fmt; *p; p++) {
		if (*p != '%')
			continue;
		if (*++p == '%')
			continue;
		int pos = 0;
		const char *q = p;
		while (isdigit((unsigned char)*q))
			pos = pos * 10 + (*q++ - '0');
		bool has_pos = *q == '$' && pos > 0;
		if (numbered >= 0 && numbered != has_pos)
			return -1;
		numbered = has_pos;
		p = has_pos ? q + 1 : p;
		while (strchr("-+ #0123456789.", *p))
			p++;
		char spec[8] = { 0 };
		size_t k = 0;
		while (*p && strchr("hljztL", *p) && k < 6)
			spec[k++] = *p++;
		spec[k] = *p;
		int at = has_pos ? pos : ++n;
		if (at < 1 || at > 16)
			return -1;
		memcpy(args[at - 1], spec, sizeof(spec));
		max = at > max ? at : max;
	}
	return max;
}

static void formats_agree(const char *en, const char *zh)
{
	char a[16][8], b[16][8];
	int na = conversions(en, a), nb = conversions(zh, b);
	if (na != nb || memcmp(a, b, sizeof(a)) != 0)
		test_fail(__FILE__, __LINE__, "'%s' and '%s' take other arguments", en, zh);
	if (!*zh || (strcmp(en, zh) == 0 && has_han(en)))
		test_fail(__FILE__, __LINE__, "'%s' has no translation", en);
}

static void report_table_formats(void)
{
	const char *en, *zh;
	size_t i = 0;
	for (; (en = page_tr_entry(i, &zh)) != NULL; i++) {
		formats_agree(en, zh);
		/* one English message, one translation */
		for (size_t j = 0; j < i; j++) {
			const char *other, *z;
			other = page_tr_entry(j, &z);
			if (strcmp(other, en) == 0)
				test_fail(__FILE__, __LINE__, "'%s' is in the table twice", en);
		}
	}
	CHECK(i > 50);
	/* the checker itself: a reordered or a changed argument is caught */
	char a[16][8], b[16][8];
	CHECK_INT(conversions("%s at %d", a), 2);
	CHECK_INT(conversions("%2$d 的 %1$s", b), 2);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	CHECK_INT(conversions("%1$d 的 %2$s", b), 2);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK_INT(conversions("%1$s %d", b), -1);
}

static void zh_ticket(struct ticket *t)
{
	memset(t, 0, sizeof(*t));
	t->id = 12;
	t->kind = TICKET_CAMERA_DOWN;
	t->level = 3;
	snprintf(t->recorder, sizeof(t->recorder), "zone1-rec1");
	snprintf(t->camera, sizeof(t->camera), "gate3");
	snprintf(t->location, sizeof(t->location), "3号闸口入境车道");
	snprintf(t->site, sizeof(t->site), "一区保税仓库");
	t->fault_start_us = T0 + 6 * H + 2 * MIN;
	t->fault_end_us = -1;
	t->resolved_us = -1;
	t->opened_us = t->fault_start_us + MIN;
}

static void ticket_text_zh(void)
{
	struct ticket t;
	char text[512];
	setenv("TZ", "UTC", 1);
	tzset();
	zh_ticket(&t);

	ticket_text_lang(&t, t.fault_start_us + 25 * MIN, TICKET_LANG_ZH, text, sizeof(text));
	CHECK_STR(text, "摄像机 gate3（3号闸口入境车道，一区保税仓库） 自 06:02 起离线，已持续 25 "
			"分钟");
	snprintf(t.detail, sizeof(t.detail), "cannot connect: Connection refused");
	ticket_text_lang(&t, t.fault_start_us + 25 * MIN, TICKET_LANG_ZH, text, sizeof(text));
	CHECK_STR(text, "摄像机 gate3（3号闸口入境车道，一区保税仓库） 自 06:02 起离线，已持续 25 "
			"分钟：cannot connect: Connection refused");
	/* English is the same as ticket_text's */
	char en[512];
	ticket_text_lang(&t, t.fault_start_us + 25 * MIN, TICKET_LANG_EN, text, sizeof(text));
	ticket_text(&t, t.fault_start_us + 25 * MIN, en, sizeof(en));
	CHECK_STR(text, en);
	CHECK_CONTAINS(en, "Camera gate3 (3号闸口入境车道, 一区保税仓库) down since 06:02, 25 min");
	t.detail[0] = '\0';

	t.state = TICKET_RESOLVED;
	t.fault_end_us = t.fault_start_us + 38 * MIN;
	t.resolved_us = t.fault_end_us + 2 * MIN;
	ticket_text_lang(&t, t.resolved_us + H, TICKET_LANG_ZH, text, sizeof(text));
	CHECK_STR(text,
		  "摄像机 gate3（3号闸口入境车道，一区保税仓库） 在 06:02 至 06:40 期间离线（38 "
		  "分钟）");

	t.state = TICKET_OPEN;
	t.kind = TICKET_RECORDER_OFFLINE;
	t.camera[0] = '\0';
	t.fault_end_us = t.resolved_us = -1;
	ticket_text_lang(&t, t.fault_start_us + 26 * H, TICKET_LANG_ZH, text, sizeof(text));
	CHECK_STR(text, "录像机 zone1-rec1（一区保税仓库） 自 2026-11-24 06:02 起离线，已持续 1 天 "
			"2 小时");
	ticket_title_lang(&t, TICKET_LANG_ZH, text, sizeof(text));
	CHECK_STR(text, "vigil #12：录像机 zone1-rec1 离线（一区保税仓库）");
	ticket_title_lang(&t, TICKET_LANG_EN, text, sizeof(text));
	CHECK_STR(text, "vigil #12: recorder zone1-rec1 offline (一区保税仓库)");

	/* every kind has its Chinese */
	zh_ticket(&t);
	for (int k = 0; k < TICKET_KIND_COUNT; k++) {
		t.kind = (enum ticket_kind)k;
		ticket_title_lang(&t, TICKET_LANG_ZH, text, sizeof(text));
		if (strchr(text, '?') || strstr(text, " down") || !has_han(text + 20))
			test_fail(__FILE__, __LINE__, "kind %d: '%s'", k, text);
	}

	/* the webhook's labels and notes: Chinese taking the English arguments */
	static const char *const webhook[] = {
		"Recorder: %s\nCamera: %s\nSite: %s\nLocation: %s\nLevel: %d\nFault since: %s\n",
		"Escalated to level %d. %s",
		"Acknowledged by %s%s%s. %s",
		"Resolved by %s%s%s. %s",
		"Reopened: the fault went on. %s",
		"%s %s from %s to %s (%s)",
		"%s %s since %s, %s%s%s",
	};
	for (size_t i = 0; i < sizeof(webhook) / sizeof(webhook[0]); i++) {
		const char *zh = ticket_tr(TICKET_LANG_ZH, webhook[i]);
		CHECK(zh != webhook[i] && has_han(zh));
		formats_agree(webhook[i], zh);
		CHECK(ticket_tr(TICKET_LANG_EN, webhook[i]) == webhook[i]);
	}

	/* machine fields stay; only "text" speaks Chinese */
	zh_ticket(&t);
	struct buf b;
	struct json_writer w;
	buf_init(&b, 1 << 16);
	jw_init_buf(&w, &b);
	ticket_json_lang(&w, &t, t.fault_start_us + 25 * MIN, TICKET_LANG_ZH);
	CHECK_INT(jw_finish(&w), 0);
	CHECK_CONTAINS(b.data, "\"kind\":\"camera-down\"");
	CHECK_CONTAINS(b.data, "\"state\":\"open\"");
	CHECK_CONTAINS(b.data, "\"level\":3");
	CHECK_CONTAINS(b.data, "\"text\":\"摄像机 gate3");
	buf_release(&b);
	unsetenv("TZ");
	tzset();
}

/* [tickets] language: en by default, zh-CN taken, anything else an error
 * with its file and line. */
static void config_language(void)
{
	struct config_problems pr = { 0 };
	char text[1024], storage[512];
	/* test_path's buffer is test_write_file's too */
	snprintf(storage, sizeof(storage), "%s", test_path("footage"));
	static const struct {
		const char *line;
		int lang;
	} cases[] = { { "", TICKET_LANG_EN },
		      { "language = en", TICKET_LANG_EN },
		      { "language = zh-CN", TICKET_LANG_ZH } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[storage]\npath = %s\n[tickets]\n%s\n", storage,
			 cases[i].line);
		struct config *cfg = config_load(test_write_file("vigil.ini", text), &pr);
		CHECK(cfg != NULL);
		if (cfg)
			CHECK_INT(cfg->tickets_language, cases[i].lang);
		config_free(&cfg);
		config_problems_release(&pr);
	}
	snprintf(text, sizeof(text), "[storage]\npath = %s\n[tickets]\nlanguage = fr\n", storage);
	const char *path = test_write_file("vigil.ini", text);
	struct config *cfg = config_load(path, &pr);
	CHECK(cfg == NULL);
	char *msg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&msg, &len);
	config_problems_print(&pr, f);
	fclose(f);
	char want[600];
	snprintf(want, sizeof(want), "%s:4: error: ", path);
	CHECK_CONTAINS(msg, want);
	CHECK_CONTAINS(msg, "language: 'fr' is not one of: en, zh-CN");
	free(msg);
	config_free(&cfg);
	config_problems_release(&pr);
}

const struct test_case i18n_tests[] = {
	{ "config_language", config_language },
	{ "lang_parse", lang_parse },
	{ "continuity_html_zh", continuity_html_zh },
	{ "lang_per_thread", lang_per_thread },
	{ "report_table_formats", report_table_formats },
	{ "ticket_text_zh", ticket_text_zh },
	{ NULL, NULL },
};
