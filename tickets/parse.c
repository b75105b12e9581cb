/*
 * Topic and payload parsing for the checker (see parse.h).  The order of
 * defences: size, then a byte scan for nesting depth, then jansson (which
 * checks UTF-8 and refuses duplicate keys), then one type-checked getter
 * per field.  Every refusal says what was wrong, for the checker's
 * rate-limited log line.
 */
#include "tickets/parse.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/redact.h"
#include "util/sha256.h"
#include "util/timefmt.h"
#include "util/banned.h"

bool health_valid_id(const char *s, size_t len)
{
	if (len == 0 || len >= TICKET_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

void health_clean_text(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;
	if (size == 0)
		return;
	for (size_t i = 0; i < len && s[i]; i++) {
		if (o + 1 >= size) {
			/* do not leave half a UTF-8 character behind */
			while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
				o--;
			if (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
				o--;
			break;
		}
		unsigned char c = (unsigned char)s[i];
		out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[o] = '\0';
	redact_clean_controls(out); /* and the C1 controls, U+0080..U+009F */
}

/* Copies one topic level [s, s+len) if it is an id. */
static bool take_id(const char *s, size_t len, char *out)
{
	if (!health_valid_id(s, len))
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	return true;
}

int health_topic_parse(const char *prefix, const char *topic, struct health_topic *out,
		       const char **why)
{
	size_t plen = strlen(prefix);
	const char *lv[5];
	size_t ll[5];
	int n = 0;

	memset(out, 0, sizeof(*out));
	if (strlen(topic) > 512) {
		*why = "topic too long";
		return -EINVAL;
	}
	if (strncmp(topic, prefix, plen) != 0 || topic[plen] != '/') {
		*why = "not under the prefix";
		return -EINVAL;
	}
	const char *p = topic + plen + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 5) {
			*why = "too many topic levels";
			return -EINVAL;
		}
		lv[n] = p;
		ll[n++] = len;
		if (!slash)
			break;
		p = slash + 1;
	}
	if (ll[0] == 7 && memcmp(lv[0], "tickets", 7) == 0) {
		out->kind = HEALTH_TOPIC_TICKET;
		return 0;
	}
	if (ll[0] == 6 && memcmp(lv[0], "bridge", 6) == 0) {
		if (n != 3 || ll[2] != 5 || memcmp(lv[2], "state", 5) != 0) {
			*why = "not a bridge topic (bridge/SITE/state)";
			return -EINVAL;
		}
		if (!take_id(lv[1], ll[1], out->recorder)) {
			*why = "the site level is not an id (letters, digits, '-', '_', at most "
			       "64)";
			return -EINVAL;
		}
		out->kind = HEALTH_TOPIC_BRIDGE;
		return 0;
	}
	if (!take_id(lv[0], ll[0], out->recorder)) {
		*why = "the recorder level is not an id (letters, digits, '-', '_', at most 64)";
		return -EINVAL;
	}
	if (n == 2 && ll[1] == 6 && memcmp(lv[1], "status", 6) == 0) {
		out->kind = HEALTH_TOPIC_STATUS;
		return 0;
	}
	if (n == 2 && ll[1] == 6 && memcmp(lv[1], "health", 6) == 0) {
		out->kind = HEALTH_TOPIC_RECORDER;
		return 0;
	}
	if (n == 2 && ll[1] == 9 && memcmp(lv[1], "inventory", 9) == 0) {
		out->kind = HEALTH_TOPIC_INVENTORY;
		return 0;
	}
	if (n == 4 && ll[1] == 6 && memcmp(lv[1], "camera", 6) == 0 && ll[3] == 6 &&
	    memcmp(lv[3], "health", 6) == 0) {
		if (!take_id(lv[2], ll[2], out->camera)) {
			*why = "the camera level is not an id (letters, digits, '-', '_', at most "
			       "64)";
			return -EINVAL;
		}
		out->kind = HEALTH_TOPIC_CAMERA;
		return 0;
	}
	*why = "not a vigil topic (REC/status, REC/health, REC/inventory, REC/camera/CAM/health, "
	       "bridge/SITE/state)";
	return -EINVAL;
}

int health_parse_status(const void *payload, size_t len, bool *online, char *why, size_t whylen)
{
	const char *s = payload;
	/* plain text, or the same as a JSON string */
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len == 6 && memcmp(s, "online", 6) == 0) {
		*online = true;
		return 0;
	}
	if (len == 7 && memcmp(s, "offline", 7) == 0) {
		*online = false;
		return 0;
	}
	snprintf(why, whylen, "status is neither online nor offline");
	return -EINVAL;
}

/* Refuses payloads too large or nested too deep, before any parsing. */
static int precheck(const void *payload, size_t len, size_t max, char *why, size_t whylen)
{
	const unsigned char *p = payload;
	int depth = 0;
	bool in_string = false, escaped = false;

	if (len > max) {
		snprintf(why, whylen, "payload of %zu bytes is over the %zu-byte limit", len, max);
		return -E2BIG;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > HEALTH_JSON_DEPTH_MAX) {
				snprintf(why, whylen, "JSON nested deeper than %d levels",
					 HEALTH_JSON_DEPTH_MAX);
				return -E2BIG;
			}
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 0;
}

static json_t *load_object_max(const void *payload, size_t len, size_t max, char *why,
			       size_t whylen, int *err)
{
	json_error_t jerr;
	if ((*err = precheck(payload, len, max, why, whylen)) < 0)
		return NULL;
	json_t *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char text[80];
		health_clean_text(jerr.text, strlen(jerr.text), text, sizeof(text));
		snprintf(why, whylen, "not JSON: %s at byte %d", text, jerr.position);
		*err = -EINVAL;
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(why, whylen, "not a JSON object");
		json_decref(root);
		*err = -EINVAL;
		return NULL;
	}
	return root;
}

static json_t *load_object(const void *payload, size_t len, char *why, size_t whylen, int *err)
{
	return load_object_max(payload, len, HEALTH_PAYLOAD_MAX, why, whylen, err);
}

/* Field getters: 0 when absent or null (the out value is left alone), 1
 * when set, -EINVAL with why when the type is wrong. */
static int get_string(json_t *o, const char *key, char *out, size_t size, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(why, whylen, "'%s' is not a string", key);
		return -EINVAL;
	}
	health_clean_text(json_string_value(v), json_string_length(v), out, size);
	return 1;
}

static int get_number(json_t *o, const char *key, double lo, double hi, double *out, char *why,
		      size_t whylen)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v)) {
		snprintf(why, whylen, "'%s' is not a number", key);
		return -EINVAL;
	}
	double d = json_number_value(v);
	if (!isfinite(d) || d < lo || d > hi) {
		snprintf(why, whylen, "'%s' is out of range", key);
		return -EINVAL;
	}
	*out = d;
	return 1;
}

static int get_bool(json_t *o, const char *key, bool *out, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(why, whylen, "'%s' is not true or false", key);
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 1;
}

static int get_time(json_t *o, const char *key, int64_t *out, char *why, size_t whylen)
{
	char text[64] = "";
	int ret = get_string(o, key, text, sizeof(text), why, whylen);
	if (ret <= 0)
		return ret;
	if (time_parse(text, out) < 0) {
		snprintf(why, whylen, "'%s' is not an RFC 3339 time", key);
		return -EINVAL;
	}
	return 1;
}

/* The payload must name its own topic's recorder (and camera), if it
 * names one at all. */
static int check_ids(json_t *o, const struct health_topic *t, char *why, size_t whylen)
{
	char id[TICKET_ID_MAX + 8];
	int ret;
	if ((ret = get_string(o, "recorder", id, sizeof(id), why, whylen)) < 0)
		return ret;
	if (ret > 0 && strcmp(id, t->recorder) != 0) {
		snprintf(why, whylen, "payload names recorder '%.64s', the topic '%s'", id,
			 t->recorder);
		return -EINVAL;
	}
	if (t->kind != HEALTH_TOPIC_CAMERA)
		return 0;
	if ((ret = get_string(o, "camera", id, sizeof(id), why, whylen)) < 0)
		return ret;
	if (ret > 0 && strcmp(id, t->camera) != 0) {
		snprintf(why, whylen, "payload names camera '%.64s', the topic '%s'", id,
			 t->camera);
		return -EINVAL;
	}
	return 0;
}

/* The inspection keys of camera health: "picture": {state, reason},
 * "clock_offset_s", "clock_fault", "degraded_by": [why, ...]. */
static int parse_inspection(json_t *o, struct health_camera_msg *out, char *why, size_t whylen)
{
	json_t *pic = json_object_get(o, "picture");
	if (pic && !json_is_null(pic)) {
		if (!json_is_object(pic)) {
			snprintf(why, whylen, "'picture' is not an object");
			return -EINVAL;
		}
		if (get_string(pic, "state", out->picture, sizeof(out->picture), why, whylen) < 0 ||
		    get_string(pic, "reason", out->picture_reason, sizeof(out->picture_reason), why,
			       whylen) < 0)
			return -EINVAL;
	}
	int ret = get_number(o, "clock_offset_s", -1e12, 1e12, &out->clock_offset_s, why, whylen);
	if (ret < 0)
		return ret;
	out->clock_known = ret > 0;
	if (get_bool(o, "clock_fault", &out->clock_fault, why, whylen) < 0)
		return -EINVAL;
	json_t *by = json_object_get(o, "degraded_by");
	out->frame_rate_low = out->state == HEALTH_CAM_DEGRADED;
	if (by && !json_is_null(by)) {
		if (!json_is_array(by)) {
			snprintf(why, whylen, "'degraded_by' is not an array");
			return -EINVAL;
		}
		out->frame_rate_low = false;
		size_t i;
		json_t *v;
		json_array_foreach(by, i, v)
		{
			if (json_is_string(v) && strcmp(json_string_value(v), "frame-rate") == 0)
				out->frame_rate_low = out->state == HEALTH_CAM_DEGRADED;
		}
	}
	return 0;
}

/* "audit_head": {seq, hash} or null: the newest entry of the camera's
 * audit chain. */
static int parse_audit_head(json_t *o, struct health_camera_msg *out, char *why, size_t whylen)
{
	json_t *head = json_object_get(o, "audit_head");
	if (!head || json_is_null(head))
		return 0;
	json_t *seq = json_is_object(head) ? json_object_get(head, "seq") : NULL;
	json_t *hash = json_is_object(head) ? json_object_get(head, "hash") : NULL;
	const char *hex = json_is_string(hash) ? json_string_value(hash) : "";
	if (!json_is_integer(seq) || json_integer_value(seq) < 1 ||
	    json_integer_value(seq) > (INT64_C(1) << 53) || !sha256_hex_is_valid(hex)) {
		snprintf(why, whylen, "'audit_head' is not {seq, hash}");
		return -EINVAL;
	}
	out->audit_seq = json_integer_value(seq);
	memcpy(out->audit_hash, hex, SHA256_HEX_SIZE);
	return 0;
}

int health_parse_camera(const struct health_topic *t, const void *payload, size_t len,
			struct health_camera_msg *out, char *why, size_t whylen)
{
	char state[32] = "";
	double d;
	int ret = -EINVAL;
	if (whylen)
		why[0] = '\0';
	json_t *o = load_object(payload, len, why, whylen, &ret);
	if (!o)
		return ret;

	memset(out, 0, sizeof(*out));
	out->since_us = out->gap_start_us = out->at_us = -1;
	ret = -EINVAL;
	if (check_ids(o, t, why, whylen) < 0)
		goto out;
	if (get_string(o, "state", state, sizeof(state), why, whylen) <= 0) {
		if (!*why)
			snprintf(why, whylen, "no 'state'");
		goto out;
	}
	if (health_camera_state_parse(state, &out->state) < 0) {
		snprintf(why, whylen, "unknown state '%.24s'", state);
		goto out;
	}
	if (get_time(o, "at", &out->at_us, why, whylen) <= 0) {
		if (!*why)
			snprintf(why, whylen, "no 'at' time");
		goto out;
	}
	if (get_time(o, "since", &out->since_us, why, whylen) < 0 ||
	    get_time(o, "gap_start", &out->gap_start_us, why, whylen) < 0)
		goto out;
	if (get_number(o, "fps", 0, 10000, &out->fps, why, whylen) < 0 ||
	    get_number(o, "expected_fps", 0, 10000, &out->expected_fps, why, whylen) < 0 ||
	    get_number(o, "kbps", 0, 1e9, &out->kbps, why, whylen) < 0)
		goto out;
	if ((ret = get_number(o, "reconnects", 0, 1e9, &d, why, whylen)) < 0)
		goto out;
	out->reconnects = ret > 0 ? (int)d : 0;
	if ((ret = get_number(o, "gaps_24h", 0, 1e9, &d, why, whylen)) < 0)
		goto out;
	out->gaps_24h = ret > 0 ? (int)d : 0;
	ret = -EINVAL;
	if (get_string(o, "site", out->site, sizeof(out->site), why, whylen) < 0 ||
	    get_string(o, "location", out->location, sizeof(out->location), why, whylen) < 0 ||
	    get_string(o, "last_error", out->last_error, sizeof(out->last_error), why, whylen) < 0)
		goto out;
	if ((ret = parse_inspection(o, out, why, whylen)) < 0 ||
	    (ret = parse_audit_head(o, out, why, whylen)) < 0)
		goto out;
	ret = -EINVAL;
	/* times the recorder says are after its own "now" are not believed */
	if (out->since_us > out->at_us)
		out->since_us = out->at_us;
	if (out->gap_start_us > out->at_us)
		out->gap_start_us = out->at_us;
	ret = 0;
out:
	json_decref(o);
	return ret;
}

int health_parse_recorder(const struct health_topic *t, const void *payload, size_t len,
			  struct health_recorder_msg *out, char *why, size_t whylen)
{
	double d;
	int ret = -EINVAL;
	if (whylen)
		why[0] = '\0';
	json_t *o = load_object(payload, len, why, whylen, &ret);
	if (!o)
		return ret;

	memset(out, 0, sizeof(*out));
	out->at_us = -1;
	out->forecast_days = -1;
	ret = -EINVAL;
	if (check_ids(o, t, why, whylen) < 0)
		goto out;
	if (get_time(o, "at", &out->at_us, why, whylen) <= 0) {
		if (!*why)
			snprintf(why, whylen, "no 'at' time");
		goto out;
	}
	if ((ret = get_number(o, "interval_s", 1, 86400, &d, why, whylen)) < 0)
		goto out;
	out->interval_s = ret > 0 ? (int)d : 0;
	if ((ret = get_number(o, "retain_days", 1, 36500, &d, why, whylen)) < 0)
		goto out;
	out->retain_days = ret > 0 ? (int)d : 0;
	ret = -EINVAL;
	if (get_number(o, "forecast_days", -1, 1e7, &out->forecast_days, why, whylen) < 0 ||
	    get_bool(o, "storage_error", &out->storage_error, why, whylen) < 0 ||
	    get_bool(o, "retention_at_risk", &out->retention_at_risk, why, whylen) < 0 ||
	    get_string(o, "site", out->site, sizeof(out->site), why, whylen) < 0 ||
	    get_string(o, "detail", out->detail, sizeof(out->detail), why, whylen) < 0)
		goto out;
	ret = 0;
out:
	json_decref(o);
	return ret;
}

int health_parse_bridge(const void *payload, size_t len, bool *up, char *why, size_t whylen)
{
	const char *s = payload;
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len == 1 && (s[0] == '0' || s[0] == '1')) {
		*up = s[0] == '1';
		return 0;
	}
	snprintf(why, whylen, "a bridge state is 1 or 0");
	return -EINVAL;
}

int health_sys_bridge_topic(const char *topic, char *key, size_t size)
{
	static const char head[] = "$SYS/broker/connection/", tail[] = "/state";
	size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1, len = strlen(topic);
	if (len <= hl + tl || strncmp(topic, head, hl) != 0 || strcmp(topic + len - tl, tail) != 0)
		return -EINVAL;
	const char *name = topic + hl;
	size_t nl = len - hl - tl;
	const char *dot = memchr(name, '.', nl);
	while (dot) {
		nl -= (size_t)(dot + 1 - name);
		name = dot + 1;
		dot = memchr(name, '.', nl);
	}
	if (!health_valid_id(name, nl) || nl >= size)
		return -EINVAL;
	memcpy(key, name, nl);
	key[nl] = '\0';
	return 0;
}

void health_inventory_release(struct ticket_inventory *inv)
{
	free(inv->cameras);
	inv->cameras = NULL;
	inv->ncameras = 0;
}

int health_parse_inventory(const struct health_topic *t, const void *payload, size_t len,
			   struct ticket_inventory *out, char *why, size_t whylen)
{
	char url[TICKET_URL_MAX + 8] = "";
	int ret = -EINVAL;
	if (whylen)
		why[0] = '\0';
	memset(out, 0, sizeof(*out));
	json_t *o = load_object_max(payload, len, INVENTORY_PAYLOAD_MAX, why, whylen, &ret);
	if (!o)
		return ret;
	ret = -EINVAL;
	snprintf(out->recorder, sizeof(out->recorder), "%s", t->recorder);
	if (check_ids(o, t, why, whylen) < 0 ||
	    get_string(o, "site", out->site, sizeof(out->site), why, whylen) < 0 ||
	    get_string(o, "version", out->version, sizeof(out->version), why, whylen) < 0 ||
	    get_string(o, "console_url", url, sizeof(url), why, whylen) < 0)
		goto out;
	if (url[0] && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(why, whylen, "'console_url' is not an http:// or https:// URL");
		goto out;
	}
	if (strlen(url) >= sizeof(out->console_url)) {
		snprintf(why, whylen, "'console_url' is too long");
		goto out;
	}
	snprintf(out->console_url, sizeof(out->console_url), "%s", url);
	redact_scrub(out->console_url, sizeof(out->console_url));
	json_t *cams = json_object_get(o, "cameras");
	if (cams && !json_is_null(cams)) {
		if (!json_is_array(cams)) {
			snprintf(why, whylen, "'cameras' is not an array");
			goto out;
		}
		size_t n = json_array_size(cams);
		if (n > INVENTORY_CAMERAS_MAX) {
			snprintf(why, whylen, "%zu cameras, more than %d", n,
				 INVENTORY_CAMERAS_MAX);
			goto out;
		}
		out->cameras = calloc(n ? n : 1, sizeof(*out->cameras));
		if (!out->cameras) {
			snprintf(why, whylen, "out of memory");
			ret = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *c = json_array_get(cams, i);
			struct ticket_inventory_camera *ic = &out->cameras[out->ncameras];
			char id[TICKET_ID_MAX + 8] = "";
			if (!json_is_object(c)) {
				snprintf(why, whylen, "a camera of 'cameras' is not an object");
				goto out;
			}
			if (get_string(c, "id", id, sizeof(id), why, whylen) <= 0 ||
			    !health_valid_id(id, strlen(id))) {
				if (!*why)
					snprintf(why, whylen,
						 "a camera of 'cameras' has no valid 'id'");
				goto out;
			}
			snprintf(ic->camera, sizeof(ic->camera), "%s", id);
			if (get_string(c, "site", ic->site, sizeof(ic->site), why, whylen) < 0 ||
			    get_string(c, "location", ic->location, sizeof(ic->location), why,
				       whylen) < 0)
				goto out;
			out->ncameras++;
		}
	}
	ret = 0;
out:
	if (ret < 0)
		health_inventory_release(out);
	json_decref(o);
	return ret;
}
