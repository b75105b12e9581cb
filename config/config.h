/*
 * The configuration: one INI file (see README.md for every key), parsed into
 * a new struct config, validated as a whole, and only then handed out.  A
 * config that has any error is never returned, so a bad file can never
 * start a half-working recorder.
 *
 * The struct is a plain value: callers read its fields and never change
 * them.  Credentials (camera passwords, the broker password) are resolved
 * from url_file, password_file or password_env at load time and registered
 * with util/redact.h, so they never reach a log line.
 */
#ifndef VIGIL_CONFIG_CONFIG_H
#define VIGIL_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/mqtt.h"

enum on_full_policy {
	ON_FULL_PROTECT_RETENTION = 0, /* stop writing the newest, raise a fault */
	ON_FULL_KEEP_RECORDING,	       /* delete the oldest, recorded as a breach */
};

enum webhook_format {
	WEBHOOK_JSON = 0,
	WEBHOOK_GLPI,
	WEBHOOK_ZAMMAD,
	WEBHOOK_REDMINE,
};

enum camera_transport {
	TRANSPORT_UDP = 0,
	TRANSPORT_TCP, /* the default: survives NAT and lossy links */
};

struct camera_config {
	char *id;	   /* [camera ID]: letters, digits, '-', '_' (also a folder name) */
	char *url;	   /* with credentials: pass to libavformat only */
	char *display_url; /* the same with the password redacted */
	char *url_file;	   /* where url came from, if not inline */
	char *username;
	char *password_env;
	char *password_file;
	char *site;
	char *location;
	enum camera_transport transport;
	bool allow_basic_auth; /* Basic (password in clear) over plain RTSP */
	int segment_seconds;
	int retain_days;
	int delete_after_days;
	double expected_fps; /* 0: not set */
	/* [camera] picture inspection thresholds (inspect/inspect.h) */
	bool inspect;		      /* inspect this camera's picture */
	double picture_black_luma;    /* a pixel at or below is dark */
	double picture_covered_ratio; /* detail share of the reference: covered */
	double picture_blurred_ratio; /* ... blurred */
	double picture_moved_match;   /* edge match with the reference: moved */
	int line;		      /* line of the section header, for messages */
};

struct config {
	char *path; /* the file it came from */

	/* [recorder] */
	char *recorder_id;
	char *site;
	char *console_url; /* its console/API, for the fleet inventory; NULL: none */
	int log_level;	   /* an enum log_level from util/log.h */
	char *run_as_user; /* drop privileges to this user after start-up */
	bool allow_root;   /* run as root without dropping privileges */
	int stall_seconds; /* no packet for this long: the stream is dead */
	int connect_timeout_seconds;
	int reconnect_min_seconds; /* first retry delay, doubling ... */
	int reconnect_max_seconds; /* ... up to this cap */
	int io_threads;		   /* event-loop threads for the cameras, 0: one per core */
	bool thread_per_camera;	   /* a thread per camera instead (as before the loops) */

	/* [storage] */
	char *storage_path;
	char *catalog_path;
	int fsync_seconds;
	int reserve_mb; /* free space kept on the storage file system */

	/* [retention] */
	int retain_days;
	int delete_after_days;
	enum on_full_policy on_full;
	int sweep_interval_seconds;
	int max_clock_step_seconds;

	/* [mqtt] */
	char *mqtt_host;
	int mqtt_port;
	int mqtt_keepalive;
	char *mqtt_prefix;
	char *mqtt_client_id;
	char *mqtt_username;
	char *mqtt_password; /* inline, or resolved from the two below */
	char *mqtt_password_file;
	char *mqtt_password_env;
	char *mqtt_tls_ca;
	char *mqtt_tls_cert;
	char *mqtt_tls_key;
	int mqtt_interval_seconds;

	/* [checker] */
	char *checker_database;
	int checker_grace_seconds;
	int checker_clear_seconds;

	/* [tickets] */
	char *webhook_url;
	enum webhook_format webhook_format;
	char *webhook_token; /* resolved from token_file / token_env */
	char *webhook_token_file;
	char *webhook_token_env;
	char *webhook_app_token; /* GLPI App-Token, not a secret on its own */
	int webhook_timeout_seconds;
	char *webhook_project;	/* Redmine project id, Zammad group */
	char *webhook_customer; /* Zammad customer (an e-mail address) */
	int tickets_language;	/* what technicians read: an enum ticket_lang (0 en, 1 zh-CN) */

	/* [web] (vigil serve) */
	char *web_listen;
	char *web_tls_cert;
	char *web_tls_key;
	char *web_database; /* default STORAGE/web.db */
	int web_session_hours;
	char *web_time_zone; /* the site's zone for the pages; default the system's */

	/* [metrics] and [checker] metrics_listen: /metrics, off when NULL */
	char *metrics_listen;
	char *checker_metrics_listen;

	/* [inspection] picture and camera-clock checks */
	int inspection_interval_seconds; /* 0: off */
	double max_clock_offset_seconds;
	double reference_after_hours; /* healthy this long: the reference is taken */

	struct camera_config *cameras;
	size_t ncameras;
};

/* One problem found in a config file. */
struct config_problem {
	char *file;
	int line;     /* 0 when the problem is not tied to a line */
	bool warning; /* worth saying, but the config is usable */
	char *message;
};

struct config_problems {
	struct config_problem *items;
	size_t count;
	size_t errors;
};

/*
 * Loads and validates the config at path.  On success returns a new config
 * (free with config_free) and problems may still hold warnings.  On any
 * error returns NULL and problems holds every problem found.  The caller
 * owns problems and releases it with config_problems_release.
 */
struct config *config_load(const char *path, struct config_problems *problems);

/* Flags for config_load_flags. */
#define CONFIG_SKIP_CREDENTIALS                                                                    \
	1u /* commands that only read the catalog: do                                              \
	    * not read url_file, password_file,                                                    \
	    * password_env (url stays as written) */
#define CONFIG_SKIP_CAMERA_CREDENTIALS                                                             \
	2u /* the checker: broker and webhook                                                      \
	    * credentials yes, cameras' no */

struct config *config_load_flags(const char *path, unsigned flags,
				 struct config_problems *problems);

/* The built-in defaults with no cameras, for `make run` style wiring;
 * NULL on allocation failure. */
struct config *config_new_default(void);

void config_free(struct config **cfg);
void config_problems_release(struct config_problems *problems);

/* Prints every problem as "file:line: error: message" on f. */
void config_problems_print(const struct config_problems *problems, FILE *f);

/* The camera with this id, or NULL. */
const struct camera_config *config_camera(const struct config *cfg, const char *id);

/* The [mqtt] section as the MQTT connection takes it; the strings stay
 * owned by cfg. */
void config_mqtt_options(const struct config *cfg, struct mqtt_options *out);

/* Splits a listen address HOST:PORT ([v6]:PORT); 0 or -EINVAL. */
int config_parse_listen(const char *value, char *host, size_t host_size, int *port);

const char *config_on_full_name(enum on_full_policy p);
const char *config_webhook_format_name(enum webhook_format f);

#endif
