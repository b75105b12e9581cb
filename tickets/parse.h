/*
 * Reading what arrives on the broker: topic names and health payloads.
 * Everything here treats its input as hostile: sizes and nesting are
 * bounded before jansson sees a byte, ids must look like config ids, every
 * field is type-checked, and a payload that names another recorder or
 * camera than its topic is refused.  Pure functions; internal to tickets/.
 */
#ifndef VIGIL_TICKETS_PARSE_H
#define VIGIL_TICKETS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/health.h"
#include "tickets/tickets.h"
#include "util/sha256.h"

/* Health payloads larger than this are refused unread. */
#define HEALTH_PAYLOAD_MAX 16384
/* JSON nested deeper than this is refused before parsing. */
#define HEALTH_JSON_DEPTH_MAX 8

enum health_topic_kind {
	HEALTH_TOPIC_STATUS,	/* PREFIX/REC/status */
	HEALTH_TOPIC_RECORDER,	/* PREFIX/REC/health */
	HEALTH_TOPIC_CAMERA,	/* PREFIX/REC/camera/CAM/health */
	HEALTH_TOPIC_TICKET,	/* PREFIX/tickets/... (ours) */
	HEALTH_TOPIC_INVENTORY, /* PREFIX/REC/inventory */
	HEALTH_TOPIC_BRIDGE,	/* PREFIX/bridge/SITE/state (a bridge's notification_topic);
				   the site key is in .recorder */
};

/* Inventory payloads (a recorder's cameras) may be larger than health. */
#define INVENTORY_PAYLOAD_MAX (1024 * 1024)
#define INVENTORY_CAMERAS_MAX 4096

struct health_topic {
	enum health_topic_kind kind;
	char recorder[TICKET_ID_MAX];
	char camera[TICKET_ID_MAX];
};

struct health_camera_msg {
	enum health_camera_state state;
	int64_t at_us;	      /* when the recorder published it */
	int64_t since_us;     /* the state began; -1: not said */
	int64_t gap_start_us; /* the current outage began; -1: none */
	double fps, expected_fps, kbps;
	int reconnects;
	int gaps_24h;
	char site[TICKET_TEXT_MAX];
	char location[TICKET_TEXT_MAX];
	char last_error[160];
	/* inspection (DESIGN.md "Inspection"); "" / false when not said */
	char picture[16];	  /* "ok", "black", ... "unknown" */
	char picture_reason[160]; /* what the check saw */
	bool clock_known;
	double clock_offset_s; /* camera minus recorder */
	bool clock_fault;      /* beyond the recorder's max_clock_offset_seconds */
	bool frame_rate_low;   /* degraded by its frame rate (all a recorder
				* without "degraded_by" can mean) */
	/* the newest entry of the camera's audit chain; seq 0: not said */
	int64_t audit_seq;
	char audit_hash[SHA256_HEX_SIZE];
};

struct health_recorder_msg {
	int64_t at_us;
	int interval_s; /* 0: not said */
	char site[TICKET_TEXT_MAX];
	bool storage_error;
	bool retention_at_risk;
	double forecast_days; /* -1: unknown */
	int retain_days;      /* 0: not said */
	char detail[160];     /* why storage fails or retention is at risk */
};

/* A valid recorder or camera id: 1-64 letters, digits, '-', '_'. */
bool health_valid_id(const char *s, size_t len);

/*
 * Splits topic under prefix.  Returns 0 and fills *out, or -EINVAL with
 * the reason in *why (a static string) for anything else: another prefix,
 * wrong levels, an id that is not an id ('+', '#', '..', too long ...).
 */
int health_topic_parse(const char *prefix, const char *topic, struct health_topic *out,
		       const char **why);

/*
 * Parses a status payload: online or offline, plain or as a JSON string.
 * Returns 0 and sets *online, or -EINVAL with why.
 */
int health_parse_status(const void *payload, size_t len, bool *online, char *why, size_t whylen);

/* Parse health payloads of the topic's recorder (and camera).  Return 0, or
 * -EINVAL (-E2BIG for size or depth) with the reason in why. */
int health_parse_camera(const struct health_topic *t, const void *payload, size_t len,
			struct health_camera_msg *out, char *why, size_t whylen);
int health_parse_recorder(const struct health_topic *t, const void *payload, size_t len,
			  struct health_recorder_msg *out, char *why, size_t whylen);

/*
 * A bridge's connection state, as mosquitto's `notifications` publish it:
 * "1" (connected) or "0".  Returns 0 and sets *up, or -EINVAL with why.
 */
int health_parse_bridge(const void *payload, size_t len, bool *up, char *why, size_t whylen);

/*
 * mosquitto's own topic for a bridge's state, $SYS/broker/connection/NAME/state:
 * 0 and the site key in key (NAME, after its last '.', since mosquitto's
 * default client id is HOST.CONNECTION), or -EINVAL when topic is not one.
 */
int health_sys_bridge_topic(const char *topic, char *key, size_t size);

/*
 * Parses PREFIX/REC/inventory into *out (its cameras allocated: free with
 * health_inventory_release); at_us is left for the caller.  Returns 0, or
 * -EINVAL / -E2BIG with why.
 */
int health_parse_inventory(const struct health_topic *t, const void *payload, size_t len,
			   struct ticket_inventory *out, char *why, size_t whylen);
void health_inventory_release(struct ticket_inventory *inv);

/* Copies s into out (size bytes) with control characters replaced by '?'
 * and cut at a character boundary, for text that came off the network. */
void health_clean_text(const char *s, size_t len, char *out, size_t size);

#endif
