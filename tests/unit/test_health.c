/* tickets/: the level table, the hysteresis state machine, topic and payload
 * parsing, quarters and ISO weeks, SLA scoring, mostly from tables of
 * cases; a person's acknowledgement and resolution. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tickets/rules.h"
#include "tickets/parse.h"
#include "tickets/tickets.h"
#include "tests/unit/test.h"
#include "util/clock.h"
#include "util/timefmt.h"

#define S USEC_PER_SEC
#define MIN MINUTE_US
#define H HOUR_US

#define HASH64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void level_table(void)
{
	static const struct {
		enum ticket_kind kind;
		int64_t age;
		int level;
	} cases[] = {
		/* fully interrupted: > 5 h, > 1 h, > 20 min, else 4 */
		{ TICKET_CAMERA_DOWN, 0, 4 },
		{ TICKET_CAMERA_DOWN, 60 * S, 4 },
		{ TICKET_CAMERA_DOWN, 20 * MIN, 4 }, /* "more than": exactly 20 min is not */
		{ TICKET_CAMERA_DOWN, 20 * MIN + 1, 3 },
		{ TICKET_CAMERA_DOWN, 1 * H, 3 },
		{ TICKET_CAMERA_DOWN, 1 * H + 1, 2 },
		{ TICKET_CAMERA_DOWN, 5 * H, 2 },
		{ TICKET_CAMERA_DOWN, 5 * H + 1, 1 },
		{ TICKET_CAMERA_DOWN, 400 * H, 1 },
		{ TICKET_RECORDER_OFFLINE, 21 * MIN, 3 },
		{ TICKET_RECORDER_OFFLINE, 6 * H, 1 },
		{ TICKET_STORAGE_ERROR, 2 * H, 2 },
		/* degraded: > 2 h -> 2, > 1 h -> 3, else 4; never 1 */
		{ TICKET_CAMERA_DEGRADED, 0, 4 },
		{ TICKET_CAMERA_DEGRADED, 30 * MIN, 4 },
		{ TICKET_CAMERA_DEGRADED, 1 * H, 4 },
		{ TICKET_CAMERA_DEGRADED, 1 * H + 1, 3 },
		{ TICKET_CAMERA_DEGRADED, 2 * H, 3 },
		{ TICKET_CAMERA_DEGRADED, 2 * H + 1, 2 },
		{ TICKET_CAMERA_DEGRADED, 100 * H, 2 },
		{ TICKET_RETENTION_AT_RISK, 3 * H, 2 },
		{ TICKET_RETENTION_AT_RISK, 10 * MIN, 4 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = ticket_level(cases[i].kind, cases[i].age);
		if (got != cases[i].level)
			test_fail(__FILE__, __LINE__,
				  "case %zu: %s after %lld us: level %d, expected %d", i,
				  ticket_kind_name(cases[i].kind), (long long)cases[i].age, got,
				  cases[i].level);
	}
}

/* One step of a scenario: at time t (seconds), an observation (1 active,
 * 0 clear, -1 none), then what fault_next must say, and its level. */
struct step {
	double t;
	int observe;
	double hint; /* seconds; < 0: none */
	enum fault_action expect;
	int level;
};

static void run_steps(const char *name, enum ticket_kind kind, const struct step *steps, size_t n,
		      int64_t grace, int64_t clear)
{
	struct ticket_fault f;
	struct fault_params p = { grace, clear };
	int64_t next_ticket = 100;

	memset(&f, 0, sizeof(f));
	fault_init(&f);
	f.kind = kind;
	for (size_t i = 0; i < n; i++) {
		int64_t now = (int64_t)(steps[i].t * S);
		if (steps[i].observe >= 0)
			fault_observe(&f, steps[i].observe == 1,
				      steps[i].hint >= 0 ? (int64_t)(steps[i].hint * S) : -1, now);
		int level = 0;
		enum fault_action a = fault_next(&f, &p, now, &level);
		if (a != steps[i].expect ||
		    (steps[i].level && a != FAULT_NOTHING && level != steps[i].level)) {
			test_fail(__FILE__, __LINE__,
				  "%s step %zu (t=%.0f): action %d level %d, "
				  "expected %d level %d",
				  name, i, steps[i].t, a, level, steps[i].expect, steps[i].level);
			return;
		}
		fault_apply(&f, a, level, a == FAULT_OPEN ? next_ticket++ : 0);
	}
}

#define RUN(name, kind, steps, grace, clear)                                                       \
	run_steps(name, kind, steps, sizeof(steps) / sizeof(steps[0]), grace, clear)

static void hysteresis_table(void)
{
	/* a plain outage: grace, then escalation 4 -> 3 -> 2 -> 1, then clear */
	static const struct step outage[] = {
		{ 0, 1, -1, FAULT_NOTHING, 0 },
		{ 59, -1, -1, FAULT_NOTHING, 0 },
		{ 60, -1, -1, FAULT_OPEN, 4 },
		{ 61, -1, -1, FAULT_NOTHING, 0 },
		{ 20 * 60 + 1, -1, -1, FAULT_ESCALATE, 3 },
		{ 3600 + 1, -1, -1, FAULT_ESCALATE, 2 },
		{ 5 * 3600 + 1, -1, -1, FAULT_ESCALATE, 1 },
		{ 6 * 3600, 0, -1, FAULT_NOTHING, 0 },
		{ 6 * 3600 + 119, -1, -1, FAULT_NOTHING, 0 },
		{ 6 * 3600 + 120, -1, -1, FAULT_RESOLVE, 0 },
		{ 6 * 3600 + 121, -1, -1, FAULT_NOTHING, 0 },
	};
	RUN("outage", TICKET_CAMERA_DOWN, outage, 60 * S, 120 * S);

	/* shorter than the grace: no ticket, dropped after the hold-down */
	static const struct step blip[] = {
		{ 0, 1, -1, FAULT_NOTHING, 0 },	   { 30, 0, -1, FAULT_NOTHING, 0 },
		{ 149, -1, -1, FAULT_NOTHING, 0 }, { 150, -1, -1, FAULT_DROP, 0 },
		{ 151, -1, -1, FAULT_NOTHING, 0 },
	};
	RUN("blip", TICKET_CAMERA_DOWN, blip, 60 * S, 120 * S);

	/* flapping every 10 s for 20 minutes: one ticket, one resolution */
	struct step flap[260];
	size_t n = 0;
	int opens = 0;
	for (int k = 0; k < 120; k++) {
		flap[n++] = (struct step){ k * 10.0, 1, -1, FAULT_NOTHING, 0 };
		flap[n++] = (struct step){ k * 10.0 + 5, 0, -1, FAULT_NOTHING, 0 };
	}
	/* the first active observation after the grace opens it */
	for (size_t i = 0; i < n; i++) {
		if (!opens && flap[i].t >= 60 && flap[i].observe == 1) {
			flap[i].expect = FAULT_OPEN;
			flap[i].level = 4;
			opens = 1;
		}
	}
	flap[n++] = (struct step){ 1195 + 119, -1, -1, FAULT_NOTHING, 0 };
	flap[n++] = (struct step){ 1195 + 120, -1, -1, FAULT_RESOLVE, 0 };
	run_steps("flap", TICKET_CAMERA_DOWN, flap, n, 60 * S, 120 * S);

	/* the recorder says the fault began 30 min ago: the ticket opens at
	 * level 3 at once */
	static const struct step hinted[] = {
		{ 4000, 1, 4000 - 1800, FAULT_OPEN, 3 },
	};
	RUN("hinted", TICKET_CAMERA_DOWN, hinted, 60 * S, 120 * S);

	/* a hint in the future is not believed */
	static const struct step future[] = {
		{ 100, 1, 500, FAULT_NOTHING, 0 },
		{ 160, -1, -1, FAULT_OPEN, 4 },
	};
	RUN("future", TICKET_CAMERA_DOWN, future, 60 * S, 120 * S);

	/* degraded escalates on its own table, never to 1 */
	static const struct step degraded[] = {
		{ 0, 1, -1, FAULT_NOTHING, 0 },		 { 60, -1, -1, FAULT_OPEN, 4 },
		{ 3600 + 1, -1, -1, FAULT_ESCALATE, 3 }, { 7200 + 1, -1, -1, FAULT_ESCALATE, 2 },
		{ 99999, -1, -1, FAULT_NOTHING, 0 },
	};
	RUN("degraded", TICKET_CAMERA_DEGRADED, degraded, 60 * S, 120 * S);

	/* no escalation while clear, then it goes on from the fault's start */
	static const struct step paused[] = {
		{ 0, 1, -1, FAULT_NOTHING, 0 },
		{ 60, -1, -1, FAULT_OPEN, 4 },
		{ 1100, 0, -1, FAULT_NOTHING, 0 },
		{ 1210, -1, -1, FAULT_NOTHING, 0 }, /* 20 min passed, but clear */
		{ 1215, 1, -1, FAULT_ESCALATE, 3 },
	};
	RUN("paused", TICKET_CAMERA_DOWN, paused, 60 * S, 120 * S);

	/* grace and hold-down of zero */
	static const struct step zero[] = {
		{ 0, 1, -1, FAULT_OPEN, 4 },
		{ 1, 0, -1, FAULT_RESOLVE, 0 },
	};
	RUN("zero", TICKET_CAMERA_DOWN, zero, 0, 0);
}

static void operator_resolve_and_reopen(void)
{
	struct ticket_fault f;
	struct fault_params p = { 60 * S, 120 * S };
	int level = 0;

	fault_init(&f);
	f.kind = TICKET_CAMERA_DOWN;
	fault_observe(&f, true, -1, 0);
	CHECK_INT(fault_next(&f, &p, 60 * S, &level), FAULT_OPEN);
	fault_apply(&f, FAULT_OPEN, level, 7);
	/* a person resolves it while the camera is still down */
	fault_operator_resolved(&f, 100 * S);
	CHECK_INT(fault_next(&f, &p, 120 * S, &level), FAULT_NOTHING);
	CHECK_INT(fault_next(&f, &p, 160 * S, &level), FAULT_REOPEN);
	fault_apply(&f, FAULT_REOPEN, level, 0);
	CHECK_INT(f.ticket_id, 7);
	CHECK_INT(f.operator_resolved_us, -1);
	/* resolved by a person, then the fault clears: the episode ends quietly */
	fault_operator_resolved(&f, 200 * S);
	fault_observe(&f, false, -1, 210 * S);
	CHECK_INT(fault_next(&f, &p, 329 * S, &level), FAULT_NOTHING);
	CHECK_INT(fault_next(&f, &p, 330 * S, &level), FAULT_DROP);
	fault_apply(&f, FAULT_DROP, 0, 0);
	CHECK_INT(f.start_us, -1);
	CHECK_INT(f.ticket_id, 0);
}

static void clear_hint(void)
{
	struct ticket_fault f;
	struct fault_params p = { 10 * S, 30 * S };
	int level;
	fault_init(&f);
	f.kind = TICKET_CAMERA_DOWN;
	fault_observe(&f, true, 100 * S, 100 * S);
	/* recording again since 150, said at 170 */
	fault_observe(&f, false, 150 * S, 170 * S);
	CHECK_INT(f.clear_since_us, 150 * S);
	CHECK_INT(fault_next(&f, &p, 180 * S, &level), FAULT_DROP);
	/* a clear hint before the episode began is not believed */
	fault_init(&f);
	fault_observe(&f, true, 100 * S, 100 * S);
	fault_observe(&f, false, 50 * S, 170 * S);
	CHECK_INT(f.clear_since_us, 170 * S);
}

static void topics(void)
{
	static const struct {
		const char *topic;
		int ok;
		enum health_topic_kind kind;
		const char *recorder, *camera;
	} cases[] = {
		{ "vigil/rec1/status", 1, HEALTH_TOPIC_STATUS, "rec1", "" },
		{ "vigil/rec1/health", 1, HEALTH_TOPIC_RECORDER, "rec1", "" },
		{ "vigil/rec-1_a/camera/gate3/health", 1, HEALTH_TOPIC_CAMERA, "rec-1_a", "gate3" },
		{ "vigil/tickets/12", 1, HEALTH_TOPIC_TICKET, "", "" },
		{ "vigil/tickets", 1, HEALTH_TOPIC_TICKET, "", "" },
		{ "vigilx/rec1/status", 0, 0, NULL, NULL },
		{ "other/rec1/status", 0, 0, NULL, NULL },
		{ "vigil", 0, 0, NULL, NULL },
		{ "vigil/", 0, 0, NULL, NULL },
		{ "vigil//status", 0, 0, NULL, NULL },
		{ "vigil/rec1/camera//health", 0, 0, NULL, NULL },
		{ "vigil/../status", 0, 0, NULL, NULL },
		{ "vigil/rec1/camera/../health", 0, 0, NULL, NULL },
		{ "vigil/rec 1/status", 0, 0, NULL, NULL },
		{ "vigil/+/status", 0, 0, NULL, NULL },
		{ "vigil/#/status", 0, 0, NULL, NULL },
		{ "vigil/rec1/camera/cam+/health", 0, 0, NULL, NULL },
		{ "vigil/rec1/statusx", 0, 0, NULL, NULL },
		{ "vigil/rec1/camera/gate3/health/x", 0, 0, NULL, NULL },
		{ "vigil/rec1/camera/gate3", 0, 0, NULL, NULL },
		{ "vigil/rec1/a/b/c/d/e/f", 0, 0, NULL, NULL },
		{ "vigil/r\xc3\xa9"
		  "c/status",
		  0, 0, NULL, NULL },
		/* 64 characters is the longest id, 65 too long */
		{ "vigil/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/status",
		  1, HEALTH_TOPIC_STATUS,
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "" },
		{ "vigil/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/status",
		  0, 0, NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct health_topic t;
		const char *why = NULL;
		int ret = health_topic_parse("vigil", cases[i].topic, &t, &why);
		if ((ret == 0) != cases[i].ok) {
			test_fail(__FILE__, __LINE__, "topic '%s': %s", cases[i].topic,
				  ret == 0 ? "accepted" : why);
			continue;
		}
		if (ret < 0) {
			CHECK(why != NULL && *why);
			continue;
		}
		CHECK_INT(t.kind, cases[i].kind);
		if (cases[i].kind != HEALTH_TOPIC_TICKET) {
			CHECK_STR(t.recorder, cases[i].recorder);
			CHECK_STR(t.camera, cases[i].camera);
		}
	}
	/* a prefix with levels of its own */
	struct health_topic t;
	const char *why;
	CHECK_INT(health_topic_parse("site/a/vigil", "site/a/vigil/r/health", &t, &why), 0);
	CHECK_STR(t.recorder, "r");
}

static void statuses(void)
{
	static const struct {
		const char *payload;
		int ok, online;
	} cases[] = {
		{ "online", 1, 1 },    { "offline", 1, 0 }, { "\"online\"", 1, 1 },
		{ "offline\n", 1, 0 }, { "ONLINE", 0, 0 },  { "on", 0, 0 },
		{ "", 0, 0 },	       { "{}", 0, 0 },	    { "onlinex", 0, 0 },
		{ "\"offline", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool online = false;
		char why[128];
		int ret = health_parse_status(cases[i].payload, strlen(cases[i].payload), &online,
					      why, sizeof(why));
		if ((ret == 0) != cases[i].ok || (ret == 0 && online != cases[i].online))
			test_fail(__FILE__, __LINE__, "status '%s': ret %d online %d",
				  cases[i].payload, ret, online);
	}
}

static const struct health_topic cam_topic = { HEALTH_TOPIC_CAMERA, "rec1", "gate3" };
static const struct health_topic rec_topic = { HEALTH_TOPIC_RECORDER, "rec1", "" };

static void camera_payloads(void)
{
	static const struct {
		const char *json;
		int ok;
		const char *why; /* part of the refusal */
	} cases[] = {
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"recording\"}", 1, NULL },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"recorder\":\"rec1\","
		  "\"camera\":\"gate3\",\"gap_start\":\"2026-11-02T05:30:00Z\",\"fps\":0,"
		  "\"site\":\"Zone 1\",\"location\":\"Gate 3\",\"reconnects\":4,\"extra\":[1,2]}",
		  1, NULL },
		{ "not json", 0, "not JSON" },
		{ "", 0, "not JSON" },
		{ "[]", 0, "not a JSON object" },
		{ "\"recording\"", 0, "not JSON" },
		{ "{\"state\":\"recording\"}", 0, "no 'at'" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\"}", 0, "no 'state'" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"exploded\"}", 0, "unknown state" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":7}", 0, "'state' is not a string" },
		{ "{\"at\":12,\"state\":\"down\"}", 0, "'at' is not a string" },
		{ "{\"at\":\"yesterday\",\"state\":\"down\"}", 0, "'at' is not an RFC 3339 time" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"fps\":\"fast\"}", 0,
		  "'fps' is not a number" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"fps\":-3}", 0,
		  "'fps' is out of range" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"site\":{}}", 0,
		  "'site' is not a string" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"camera\":\"gate4\"}", 0,
		  "payload names camera 'gate4'" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"recorder\":\"evil\"}", 0,
		  "payload names recorder 'evil'" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"state\":\"recording\"}", 0,
		  "not JSON" },
		{ "{\"a\":[[[[[[[[[[1]]]]]]]]]]}", 0, "nested deeper" },
		{ "{\"a\":\"[[[[[[[[[[[[[[[[[[\",\"at\":\"2026-11-02T06:00:00Z\",\"state\":"
		  "\"down\"}",
		  1, NULL },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"site\":\"a\\u0000b\"}", 0,
		  "not JSON" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"audit_head\":null}", 1,
		  NULL },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"audit_head\":{\"seq\":0,"
		  "\"hash\":\"" HASH64 "\"}}",
		  0, "'audit_head' is not {seq, hash}" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"audit_head\":{\"seq\":1.5,"
		  "\"hash\":\"" HASH64 "\"}}",
		  0, "'audit_head'" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"audit_head\":{\"seq\":3,"
		  "\"hash\":\"" HASH64 "0\"}}",
		  0, "'audit_head'" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"audit_head\":{\"seq\":3,"
		  "\"hash\":\"../../etc/passwd\"}}",
		  0, "'audit_head'" },
		{ "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"audit_head\":[3]}", 0,
		  "'audit_head'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct health_camera_msg m;
		char why[160];
		int ret = health_parse_camera(&cam_topic, cases[i].json, strlen(cases[i].json), &m,
					      why, sizeof(why));
		if ((ret == 0) != cases[i].ok) {
			test_fail(__FILE__, __LINE__, "case %zu '%s': ret %d (%s)", i,
				  cases[i].json, ret, ret ? why : "accepted");
			continue;
		}
		if (ret < 0 && cases[i].why && !strstr(why, cases[i].why))
			test_fail(__FILE__, __LINE__, "case %zu: reason '%s', expected '%s'", i,
				  why, cases[i].why);
	}
	/* the fields of a good one */
	struct health_camera_msg m;
	char why[160];
	const char *j = cases[1].json;
	CHECK_INT(health_parse_camera(&cam_topic, j, strlen(j), &m, why, sizeof(why)), 0);
	CHECK_INT(m.state, HEALTH_CAM_DOWN);
	CHECK_INT(m.at_us - m.gap_start_us, 1800 * S);
	CHECK_INT(m.reconnects, 4);
	CHECK_STR(m.site, "Zone 1");
	CHECK_STR(m.location, "Gate 3");
	CHECK_INT(m.since_us, -1);
	/* a camera's text reaches tickets and reports without its controls:
	 * C0 (a forged line), ESC, DEL and the C1 CSI */
	j = "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"last_error\":"
	    "\"401 Unauthorized\\r\\nX: y\\u001b[2J\\u007f\\u009b1m\\u00e9\"}";
	CHECK_INT(health_parse_camera(&cam_topic, j, strlen(j), &m, why, sizeof(why)), 0);
	CHECK_STR(m.last_error, "401 Unauthorized??X: y?[2J???1m\xc3\xa9");
	/* a gap said to start after the message is not believed */
	j = "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"gap_start\":\"2027-01-01T00:00:"
	    "00Z\"}";
	CHECK_INT(health_parse_camera(&cam_topic, j, strlen(j), &m, why, sizeof(why)), 0);
	CHECK_INT(m.gap_start_us, m.at_us);
	CHECK_INT(m.audit_seq, 0);
	/* the newest entry of the camera's audit chain */
	j = "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"recording\",\"audit_head\":{\"seq\":"
	    "9007199254740992,\"hash\":\"" HASH64 "\"}}";
	CHECK_INT(health_parse_camera(&cam_topic, j, strlen(j), &m, why, sizeof(why)), 0);
	CHECK_INT(m.audit_seq, INT64_C(9007199254740992));
	CHECK_STR(m.audit_hash, HASH64);
}

static void hostile_sizes(void)
{
	struct health_camera_msg m;
	char why[160];
	/* over the limit: refused unread */
	size_t n = HEALTH_PAYLOAD_MAX + 1;
	char *big = malloc(n);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	CHECK_INT(health_parse_camera(&cam_topic, big, n, &m, why, sizeof(why)), -E2BIG);
	CHECK_CONTAINS(why, "limit");
	/* deep nesting within the limit: refused before jansson */
	for (size_t i = 0; i < 5000; i++)
		big[i] = '[';
	CHECK_INT(health_parse_camera(&cam_topic, big, 5000, &m, why, sizeof(why)), -E2BIG);
	CHECK_CONTAINS(why, "nested");
	/* a long string is cut, not overflowed, and control characters go */
	char *p = big;
	p += snprintf(p, n,
		      "{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"location\":\"\\n");
	for (int i = 0; i < 1000; i++)
		*p++ = 'x';
	p += snprintf(p, 4, "\"}");
	CHECK_INT(health_parse_camera(&cam_topic, big, (size_t)(p - big), &m, why, sizeof(why)), 0);
	CHECK_INT(strlen(m.location), sizeof(m.location) - 1);
	CHECK_INT(m.location[0], '?');
	free(big);
	/* bytes that are not UTF-8 */
	const char bad[] =
		"{\"at\":\"2026-11-02T06:00:00Z\",\"state\":\"down\",\"site\":\"\xff\xfe\"}";
	CHECK(health_parse_camera(&cam_topic, bad, strlen(bad), &m, why, sizeof(why)) < 0);
}

static void recorder_payloads(void)
{
	struct health_recorder_msg m;
	char why[160];
	const char *j = "{\"at\":\"2026-11-02T06:00:00Z\",\"recorder\":\"rec1\",\"interval_s\":10,"
			"\"retention_at_risk\":true,\"forecast_days\":45.5,\"retain_days\":90,"
			"\"storage_error\":false,\"site\":\"Zone 1\",\"disk\":{\"free_bytes\":1}}";
	CHECK_INT(health_parse_recorder(&rec_topic, j, strlen(j), &m, why, sizeof(why)), 0);
	CHECK_INT(m.interval_s, 10);
	CHECK(m.retention_at_risk);
	CHECK(!m.storage_error);
	CHECK_INT((int)m.forecast_days, 45);
	CHECK_INT(m.retain_days, 90);
	CHECK_STR(m.site, "Zone 1");
	j = "{\"at\":\"2026-11-02T06:00:00Z\",\"storage_error\":\"yes\"}";
	CHECK(health_parse_recorder(&rec_topic, j, strlen(j), &m, why, sizeof(why)) < 0);
	CHECK_CONTAINS(why, "'storage_error' is not true or false");
	j = "{\"at\":\"2026-11-02T06:00:00Z\",\"interval_s\":0}";
	CHECK(health_parse_recorder(&rec_topic, j, strlen(j), &m, why, sizeof(why)) < 0);
	j = "{\"at\":\"2026-11-02T06:00:00Z\",\"recorder\":\"rec2\"}";
	CHECK(health_parse_recorder(&rec_topic, j, strlen(j), &m, why, sizeof(why)) < 0);
}

static void quarters_and_weeks(void)
{
	static const struct {
		const char *in;
		int ok;
		const char *from, *to; /* UTC, with TZ=UTC */
	} quarters[] = {
		{ "2026Q4", 1, "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z" },
		{ "2026-Q1", 1, "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z" },
		{ "2026q2", 1, "2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z" },
		{ "2026Q3", 1, "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z" },
		{ "2026Q5", 0, NULL, NULL },
		{ "2026Q0", 0, NULL, NULL },
		{ "Q4", 0, NULL, NULL },
		{ "2026", 0, NULL, NULL },
		{ "2026Q4x", 0, NULL, NULL },
		{ "26Q4", 0, NULL, NULL },
	};
	static const struct {
		const char *in;
		int ok;
		const char *from;
	} weeks[] = {
		{ "2026-W47", 1, "2026-11-16T00:00:00Z" },
		{ "2026-W01", 1, "2025-12-29T00:00:00Z" }, /* week 1 holds 4 January */
		{ "2026-W1", 1, "2025-12-29T00:00:00Z" },
		{ "2026-W53", 1, "2026-12-28T00:00:00Z" }, /* 2026 starts on a Thursday */
		{ "2025-W53", 0, NULL },		   /* 2025 has 52 weeks */
		{ "2020-W53", 1, "2020-12-28T00:00:00Z" }, /* leap year from a Wednesday */
		{ "2027-W01", 1, "2027-01-04T00:00:00Z" },
		{ "2026-W00", 0, NULL },
		{ "2026-W54", 0, NULL },
		{ "2026W47", 0, NULL },
		{ "2026-47", 0, NULL },
		{ "", 0, NULL },
	};
	char a[40], b[40];
	int64_t from, to;
	setenv("TZ", "UTC", 1);
	tzset();
	for (size_t i = 0; i < sizeof(quarters) / sizeof(quarters[0]); i++) {
		int ret = time_quarter_parse(quarters[i].in, &from, &to);
		if ((ret == 0) != quarters[i].ok) {
			test_fail(__FILE__, __LINE__, "quarter '%s': ret %d", quarters[i].in, ret);
			continue;
		}
		if (ret < 0)
			continue;
		time_format_utc_s(from, a, sizeof(a));
		time_format_utc_s(to, b, sizeof(b));
		CHECK_STR(a, quarters[i].from);
		CHECK_STR(b, quarters[i].to);
	}
	for (size_t i = 0; i < sizeof(weeks) / sizeof(weeks[0]); i++) {
		int ret = time_week_parse(weeks[i].in, &from, &to);
		if ((ret == 0) != weeks[i].ok) {
			test_fail(__FILE__, __LINE__, "week '%s': ret %d", weeks[i].in, ret);
			continue;
		}
		if (ret < 0)
			continue;
		time_format_utc_s(from, a, sizeof(a));
		CHECK_STR(a, weeks[i].from);
		CHECK_INT(to - from, 7 * 24 * H);
	}
	/* local time: a week in Shanghai starts at 16:00 UTC the day before */
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	CHECK_INT(time_week_parse("2026-W47", &from, &to), 0);
	time_format_utc_s(from, a, sizeof(a));
	CHECK_STR(a, "2026-11-15T16:00:00Z");
	unsetenv("TZ");
	tzset();
}

static void sla_scoring(void)
{
	static const struct {
		int counts[5];
		int score;
	} cases[] = {
		{ { 0, 0, 0, 0, 0 }, 100 }, { { 0, 1, 0, 0, 0 }, 80 }, { { 0, 0, 1, 0, 0 }, 85 },
		{ { 0, 0, 0, 1, 0 }, 90 },  { { 0, 0, 0, 0, 1 }, 95 }, { { 0, 1, 1, 1, 1 }, 50 },
		{ { 0, 2, 2, 1, 0 }, 20 },  { { 0, 5, 0, 0, 0 }, 0 },  { { 0, 9, 9, 9, 9 }, 0 },
		{ { 0, 0, 0, 0, 20 }, 0 },  { { 0, 0, 0, 0, 19 }, 5 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (ticket_sla_score(cases[i].counts) != cases[i].score)
			test_fail(__FILE__, __LINE__, "case %zu: score %d, expected %d", i,
				  ticket_sla_score(cases[i].counts), cases[i].score);
	CHECK_INT(ticket_sla_deduction(1), 20);
	CHECK_INT(ticket_sla_deduction(2), 15);
	CHECK_INT(ticket_sla_deduction(3), 10);
	CHECK_INT(ticket_sla_deduction(4), 5);

	static const struct {
		int64_t opened, acked, now;
		bool missed;
		int64_t response;
	} resp[] = {
		{ 0, 5 * MIN, H, false, 5 * MIN },
		{ 0, 10 * MIN, H, false, 10 * MIN }, /* exactly the target is met */
		{ 0, 10 * MIN + 1, H, true, 10 * MIN + 1 },
		{ 0, -1, 9 * MIN, false, -1 }, /* not yet due */
		{ 0, -1, 11 * MIN, true, -1 }, /* never acknowledged */
	};
	for (size_t i = 0; i < sizeof(resp) / sizeof(resp[0]); i++) {
		int64_t r = 0;
		bool m = ticket_response_missed(resp[i].opened, resp[i].acked, resp[i].now, &r);
		if (m != resp[i].missed || r != resp[i].response)
			test_fail(__FILE__, __LINE__, "response case %zu: missed %d (%lld)", i, m,
				  (long long)r);
	}
}

static void ticket_text_reads(void)
{
	struct ticket t;
	char text[512];
	memset(&t, 0, sizeof(t));
	setenv("TZ", "UTC", 1);
	tzset();
	t.id = 12;
	t.kind = TICKET_CAMERA_DOWN;
	t.level = 3;
	snprintf(t.recorder, sizeof(t.recorder), "zone1-rec1");
	snprintf(t.camera, sizeof(t.camera), "gate3");
	snprintf(t.location, sizeof(t.location), "Gate 3 inbound lane");
	snprintf(t.site, sizeof(t.site), "Zone 1 bonded warehouse");
	t.fault_start_us = INT64_C(1793599200) * S + 2 * MIN * 1; /* 06:02 */
	t.fault_end_us = -1;
	t.resolved_us = -1;
	ticket_text(&t, t.fault_start_us + 25 * MIN, text, sizeof(text));
	CHECK_STR(text, "Camera gate3 (Gate 3 inbound lane, Zone 1 bonded warehouse) down since "
			"06:02, 25 min");
	t.state = TICKET_RESOLVED;
	t.fault_end_us = t.fault_start_us + 38 * MIN;
	t.resolved_us = t.fault_end_us + 2 * MIN;
	ticket_text(&t, t.resolved_us + H, text, sizeof(text));
	CHECK_STR(text, "Camera gate3 (Gate 3 inbound lane, Zone 1 bonded warehouse) was down from "
			"06:02 to 06:40 (38 min)");
	t.state = TICKET_OPEN;
	t.kind = TICKET_RECORDER_OFFLINE;
	t.camera[0] = '\0';
	ticket_text(&t, t.fault_start_us + 26 * H, text, sizeof(text));
	CHECK_STR(text, "Recorder zone1-rec1 (Zone 1 bonded warehouse) offline since 2026-11-02 "
			"06:02, 1 d 2 h");
	ticket_title(&t, text, sizeof(text));
	CHECK_STR(text, "vigil #12: recorder zone1-rec1 offline (Zone 1 bonded warehouse)");
	unsetenv("TZ");
	tzset();
	char d[32];
	ticket_duration_text(65 * MIN, d, sizeof(d));
	CHECK_STR(d, "1 h 05 min");
	ticket_duration_text(40 * S, d, sizeof(d));
	CHECK_STR(d, "40 s");
}

/* tickets/operator.c: a person's acknowledgement and resolution return
 * what happened (the command says it); "checker" is not a person. */
static void a_person_acts(void)
{
	struct config cfg;
	struct ticket_db *db;
	struct ticket t;
	char err[512];

	memset(&cfg, 0, sizeof(cfg));
	cfg.checker_database = (char *)test_path("absent.db");
	CHECK_INT(tickets_open_config(&cfg, false, &db, err, sizeof(err)), -ENOENT);
	CHECK(db == NULL);
	CHECK_CONTAINS(err, "absent.db");

	cfg.checker_database = (char *)test_path("person.db");
	db = ticket_db_open(cfg.checker_database, CATALOG_READ_WRITE, NULL, err, sizeof(err));
	CHECK(db != NULL);
	memset(&t, 0, sizeof(t));
	t.kind = TICKET_CAMERA_DOWN;
	t.level = 4;
	snprintf(t.recorder, sizeof(t.recorder), "rec1");
	snprintf(t.camera, sizeof(t.camera), "gate1");
	t.fault_start_us = 1000;
	CHECK_INT(ticket_db_open_ticket(db, &t, 2000, NULL, NULL), 0);
	ticket_db_close(&db);

	CHECK_INT(tickets_open_config(&cfg, true, &db, err, sizeof(err)), 0);
	CHECK_INT(tickets_acknowledge(db, t.id, 3000, "checker", NULL), -EINVAL);
	CHECK_INT(tickets_acknowledge(db, t.id, 3000, "", NULL), -EINVAL);
	CHECK_INT(tickets_acknowledge(db, 999, 3000, "ana", NULL), -ENOENT);
	CHECK_INT(tickets_acknowledge(db, t.id, 3000, "ana", "on my way"), 0);
	CHECK_INT(tickets_acknowledge(db, t.id, 3100, "bo", NULL), -EALREADY);
	CHECK_INT(tickets_resolve(db, t.id, 4000, "ana", NULL), 0);
	CHECK_INT(tickets_resolve(db, t.id, 4100, "ana", NULL), -EALREADY);
	CHECK_INT(tickets_acknowledge(db, t.id, 4200, "ana", NULL), -ESTALE);
	CHECK_INT(ticket_db_get(db, t.id, &t), 0);
	CHECK_STR(t.acknowledged_by, "ana");
	CHECK_STR(t.resolved_by, "ana");
	CHECK_INT(t.state, TICKET_RESOLVED);
	ticket_db_close(&db);
}

const struct test_case health_tests[] = {
	{ "level_table", level_table },
	{ "hysteresis_table", hysteresis_table },
	{ "operator_resolve_and_reopen", operator_resolve_and_reopen },
	{ "clear_hint", clear_hint },
	{ "topics", topics },
	{ "statuses", statuses },
	{ "camera_payloads", camera_payloads },
	{ "hostile_sizes", hostile_sizes },
	{ "recorder_payloads", recorder_payloads },
	{ "quarters_and_weeks", quarters_and_weeks },
	{ "sla_scoring", sla_scoring },
	{ "ticket_text", ticket_text_reads },
	{ "a_person_acts", a_person_acts },
	{ NULL, NULL },
};
