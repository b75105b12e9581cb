/*
 * fuzz_health_parse.c: libFuzzer target for what the checker reads off
 * the broker: topic names and health payloads (tickets/parse.h).
 *
 * The input is a topic, a NUL byte, then the payload (no NUL: the whole
 * input is a payload under a valid camera topic).  The topic is split as
 * the checker splits it; the payload is parsed as the topic's kind says,
 * and also as each other kind, since a hostile publisher chooses both.
 * Invariants: a parsed topic has valid ids; parsed text has no control
 * characters; what health_clean_text writes is terminated and cut inside
 * the buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickets/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n == size)
		abort(); /* not terminated */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char topic[512] = "vigil/rec-1/camera/gate3/health", why[256], clean[64];
	const uint8_t *payload = data;
	size_t plen = size;
	const char *reason = NULL;
	struct health_topic t;
	struct health_camera_msg cm;
	struct health_recorder_msg rm;
	bool online;

	const uint8_t *nul = memchr(data, 0, size);
	if (nul) {
		size_t tlen = (size_t)(nul - data);
		if (tlen >= sizeof(topic))
			return -1;
		memcpy(topic, data, tlen);
		topic[tlen] = '\0';
		payload = nul + 1;
		plen = size - tlen - 1;
	}
	if (health_topic_parse("vigil", topic, &t, &reason) == 0) {
		if (t.kind != HEALTH_TOPIC_TICKET &&
		    !health_valid_id(t.recorder, strlen(t.recorder)))
			abort();
		if (t.kind == HEALTH_TOPIC_CAMERA && !health_valid_id(t.camera, strlen(t.camera)))
			abort();
	} else {
		if (!reason)
			abort();
		memset(&t, 0, sizeof(t));
		snprintf(t.recorder, sizeof(t.recorder), "rec-1");
		snprintf(t.camera, sizeof(t.camera), "gate3");
	}
	health_parse_status(payload, plen, &online, why, sizeof(why));
	t.kind = HEALTH_TOPIC_CAMERA;
	if (health_parse_camera(&t, payload, plen, &cm, why, sizeof(why)) == 0) {
		check_text(cm.site, sizeof(cm.site));
		check_text(cm.location, sizeof(cm.location));
		check_text(cm.last_error, sizeof(cm.last_error));
		if ((unsigned)cm.state >= HEALTH_CAM_STATE_COUNT)
			abort();
	}
	t.kind = HEALTH_TOPIC_RECORDER;
	if (health_parse_recorder(&t, payload, plen, &rm, why, sizeof(why)) == 0) {
		check_text(rm.site, sizeof(rm.site));
		check_text(rm.detail, sizeof(rm.detail));
	}
	health_clean_text((const char *)payload, plen, clean, sizeof(clean));
	check_text(clean, sizeof(clean));
	health_clean_text((const char *)payload, plen, clean, 1);
	return 0;
}
