/*
 * The weekly inspection record's writers on a report made by hand: the
 * picture inspection of each camera (state, checks, clock offset, the
 * thumbnail inline in the HTML only) and the fleet of recorders the
 * checker has seen, in English and Simplified Chinese.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/report.h"
#include "util/clock.h"
#include "util/jread.h"
#include "util/redact.h"
#include "tests/unit/test.h"
#include "util/banned.h"

#define S USEC_PER_SEC
#define H (3600 * S)
#define T0 (INT64_C(1795132800) * S) /* 2026-11-20 00:00:00 UTC */

/* a JPEG's first bytes are enough: the writers never decode it */
static const uint8_t jpeg[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00 };

struct week {
	struct inspection_camera cam[2];
	struct inspection_recorder rec[2];
	struct inspection_site site[1];
	struct inspection_report rep;
};

static void week_init(struct week *w)
{
	memset(w, 0, sizeof(*w));
	struct inspection_camera *c = &w->cam[0];
	snprintf(c->camera, sizeof(c->camera), "gate3");
	c->site = "Zone 1";
	c->location = "Gate 3 inbound lane";
	c->window_us = c->recorded_us = 24 * H;
	snprintf(c->picture, sizeof(c->picture), "black");
	snprintf(c->picture_reason, sizeof(c->picture_reason), "99%% of the picture is dark");
	c->checked_us = T0 + 23 * H;
	c->checks = 288;
	c->failed = 12;
	c->clock_known = true;
	c->clock_offset_s = 30.25;
	c->thumbnail = (uint8_t *)jpeg;
	c->thumbnail_len = sizeof(jpeg);
	c->thumbnail_us = T0 + 22 * H;

	c = &w->cam[1];
	snprintf(c->camera, sizeof(c->camera), "gate4");
	c->site = c->location = "";
	snprintf(c->picture, sizeof(c->picture), "unknown");
	snprintf(c->picture_reason, sizeof(c->picture_reason), "no check in the week");
	c->checked_us = c->thumbnail_us = -1;

	snprintf(w->rec[0].id, sizeof(w->rec[0].id), "zone1-rec1");
	snprintf(w->rec[0].state, sizeof(w->rec[0].state), "online");
	w->rec[0].last_seen_us = T0 + 23 * H;
	w->rec[0].cameras = 8;
	w->rec[0].cameras_down = 1;
	snprintf(w->rec[0].console_url, sizeof(w->rec[0].console_url), "https://rec1.zone1/");
	snprintf(w->rec[1].id, sizeof(w->rec[1].id), "zone1-rec2");
	w->rec[1].last_seen_us = T0 + 20 * H;
	w->rec[1].cameras = 4;
	snprintf(w->site[0].site, sizeof(w->site[0].site), "Zone 1");
	w->site[0].recorders = w->rec;
	w->site[0].nrecorders = 2;

	struct inspection_report *rep = &w->rep;
	snprintf(rep->week, sizeof(rep->week), "2026-W47");
	rep->recorder = "zone1-rec1";
	rep->site = "Zone 1";
	rep->from_us = T0 - 4 * 24 * H;
	rep->to_us = T0 + 3 * 24 * H;
	rep->generated_us = T0 + 24 * H;
	rep->cameras = w->cam;
	rep->ncameras = 2;
	rep->disk_total = rep->disk_free = -1;
	rep->forecast_days = -1;
	rep->oldest_us = -1;
	rep->fleet_known = true;
	rep->fleet = w->site;
	rep->nfleet = 1;
}

static char *render(const struct inspection_report *rep, enum report_format f)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out)
		return NULL;
	if (inspection_report_write(rep, f, out) < 0)
		test_fail(__FILE__, __LINE__, "inspection_report_write failed");
	fclose(out);
	return text;
}

static void check_key(const char *json, const char *path, const char *want)
{
	char v[256];
	int ret = jread_scalar(json, strlen(json), path, v, sizeof(v));
	if (ret != 0 || strcmp(v, want) != 0)
		test_fail(__FILE__, __LINE__, "%s: %d '%s', expected '%s'", path, ret,
			  ret == 0 ? v : "", want);
}

static void inspection_json_keys(void)
{
	struct week w;
	week_init(&w);
	char *json = render(&w.rep, REPORT_JSON);
	check_key(json, "cameras.0.picture.state", "black");
	check_key(json, "cameras.0.picture.checked", "2026-11-20T23:00:00.000000Z");
	check_key(json, "cameras.0.picture.reason", "99% of the picture is dark");
	check_key(json, "cameras.0.picture.checks", "288");
	check_key(json, "cameras.0.picture.failed", "12");
	check_key(json, "cameras.1.picture.state", "unknown");
	check_key(json, "cameras.1.picture.checks", "0");
	check_key(json, "fleet.0.site", "Zone 1");
	check_key(json, "fleet.0.recorders.0.id", "zone1-rec1");
	check_key(json, "fleet.0.recorders.0.state", "online");
	check_key(json, "fleet.0.recorders.0.cameras", "8");
	check_key(json, "fleet.0.recorders.0.cameras_down", "1");
	check_key(json, "fleet.0.recorders.0.console_url", "https://rec1.zone1/");
	check_key(json, "fleet.0.recorders.0.last_seen", "2026-11-20T23:00:00.000000Z");
	check_key(json, "fleet.0.recorders.1.state", "unknown");
	/* the types jread does not copy */
	CHECK_CONTAINS(json, "\"clock_offset_s\": 30.250");
	CHECK_CONTAINS(json, "\"clock_offset_s\": null");
	CHECK_CONTAINS(json, "\"has_thumbnail\": true");
	CHECK_CONTAINS(json, "\"has_thumbnail\": false");
	CHECK_CONTAINS(json, "\"checked\": null");
	/* the picture itself stays out of the JSON */
	CHECK(!strstr(json, "/9j/"));
	free(json);

	/* without a ticket database the fleet is unknown, not empty */
	w.rep.fleet_known = false;
	json = render(&w.rep, REPORT_JSON);
	CHECK_CONTAINS(json, "\"fleet\": null");
	free(json);
}

static void inspection_html_picture(void)
{
	struct week w;
	week_init(&w);
	setenv("TZ", "UTC", 1);
	tzset();
	char b64[64];
	CHECK_INT(base64_encode(jpeg, sizeof(jpeg), b64, sizeof(b64)), 0);
	char want[128];
	snprintf(want, sizeof(want), "src=\"data:image/jpeg;base64,%s\"", b64);

	report_set_lang(REPORT_LANG_EN);
	char *en = render(&w.rep, REPORT_HTML);
	report_set_lang(REPORT_LANG_ZH);
	char *zh = render(&w.rep, REPORT_HTML);
	report_set_lang(REPORT_LANG_EN);

	CHECK_CONTAINS(en, want);
	CHECK_CONTAINS(en, "<h2>Picture and clock</h2>");
	CHECK_CONTAINS(en, "data-picture=\"black\"><span class=\"bad\">black</span>");
	CHECK_CONTAINS(en, "99% of the picture is dark");
	CHECK_CONTAINS(en, "+30.250 s");
	CHECK_CONTAINS(en, "<h2>Recorders seen by the checker</h2>");
	CHECK_CONTAINS(en, "<h3>Site Zone 1</h3>");
	CHECK_CONTAINS(en, "<td>zone1-rec1</td><td data-state=\"online\">online</td>");
	CHECK_CONTAINS(en, "https://rec1.zone1/");
	/* self-contained: the console's address is text, nothing is loaded */
	CHECK(!strstr(en, "href="));
	CHECK(!strstr(en, "src=\"http"));

	CHECK_CONTAINS(zh, want);
	CHECK_CONTAINS(zh, "<h2>图像与时钟</h2>");
	CHECK_CONTAINS(zh, "<th>图像</th><th>最近检查</th>");
	CHECK_CONTAINS(zh, "data-picture=\"black\"><span class=\"bad\">黑屏</span>");
	CHECK_CONTAINS(zh, "本周未检查");
	CHECK_CONTAINS(zh, "<h2>巡检程序所见的录像机</h2>");
	CHECK_CONTAINS(zh, "data-state=\"online\">在线</td>");
	CHECK_CONTAINS(zh, "<th class=\"num\">未在录像</th>");
	CHECK(!strstr(zh, "Picture and clock"));

	/* without a ticket database, no fleet section */
	w.rep.fleet_known = false;
	char *none = render(&w.rep, REPORT_HTML);
	CHECK(!strstr(none, "Recorders seen by the checker"));
	free(none);
	free(en);
	free(zh);
	unsetenv("TZ");
	tzset();
}

static void inspection_text_lines(void)
{
	struct week w;
	week_init(&w);
	setenv("TZ", "UTC", 1);
	tzset();
	char *text = render(&w.rep, REPORT_TEXT);
	CHECK_CONTAINS(text, "CAMERA           PICTURE  CHECKED");
	CHECK_CONTAINS(text, "gate3            black    2026-11-20 23:00:00     288      12  "
			     "+30.250 s  99% of the picture is dark");
	CHECK_CONTAINS(text, "gate4            unknown  -                         0       0          "
			     "-  no check in the week");
	CHECK_CONTAINS(text, "recorders seen by the checker, by site:\n  site Zone 1\n");
	CHECK_CONTAINS(text, "zone1-rec1       online       last seen 2026-11-20 23:00  cameras 8, "
			     "1 not recording  https://rec1.zone1/");
	free(text);
	unsetenv("TZ");
	tzset();
}

const struct test_case inspection_report_tests[] = {
	{ "json_keys", inspection_json_keys },
	{ "html_picture", inspection_html_picture },
	{ "text_lines", inspection_text_lines },
	{ NULL, NULL },
};
