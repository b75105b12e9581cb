/*
 * Config parsing and validation.
 *
 * inih does the tokenising; a line reader wrapped around it counts lines
 * (Debian's inih is built without line numbers in the handler), sees every
 * section header and catches what inih would pass over silently: lines too
 * long for its buffer, continuation lines, malformed lines.  A table of keys
 * (section, name, type, field, default, limits) drives the parsing, as
 * redis's static_configs[] does.  Every problem is collected with its line;
 * the config is handed out only when there is none.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/redact.h"
#include "util/banned.h"

#define DEFAULT_STORAGE "/var/lib/vigil/footage"
#define SECRET_FILE_MAX 4096

enum key_type { KEY_STRING, KEY_INT, KEY_BOOL, KEY_DOUBLE, KEY_ENUM };

enum key_owner { OWNER_CONFIG, OWNER_CAMERA };

struct key_spec {
	const char *section; /* "camera" for [camera ID] */
	const char *name;
	enum key_type type;
	size_t offset;
	const char *def; /* default as text; NULL: none */
	long min, max;
	const char *const *choices; /* KEY_ENUM: index is the stored value */
};

static const char *const on_full_names[] = { "protect-retention", "keep-recording", NULL };
static const char *const webhook_names[] = { "json", "glpi", "zammad", "redmine", NULL };
static const char *const transport_names[] = { "udp", "tcp", NULL };
static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const language_names[] = { "en", "zh-CN", NULL }; /* enum ticket_lang */

#define C(field) offsetof(struct config, field)
#define K(field) offsetof(struct camera_config, field)

/* Camera keys whose default comes from a global key use -1 ("inherit"). */
static const struct key_spec key_table[] = {
	{ "recorder", "id", KEY_STRING, C(recorder_id), "vigil", 0, 0, NULL },
	{ "recorder", "site", KEY_STRING, C(site), "", 0, 0, NULL },
	{ "recorder", "console_url", KEY_STRING, C(console_url), NULL, 0, 0, NULL },
	{ "recorder", "log_level", KEY_ENUM, C(log_level), "info", 0, 0, log_level_names },
	{ "recorder", "user", KEY_STRING, C(run_as_user), NULL, 0, 0, NULL },
	{ "recorder", "allow_root", KEY_BOOL, C(allow_root), "false", 0, 0, NULL },
	{ "recorder", "stall_seconds", KEY_INT, C(stall_seconds), "5", 1, 300, NULL },
	{ "recorder", "connect_timeout_seconds", KEY_INT, C(connect_timeout_seconds), "10", 1, 300,
	  NULL },
	{ "recorder", "reconnect_min_seconds", KEY_INT, C(reconnect_min_seconds), "1", 1, 3600,
	  NULL },
	{ "recorder", "reconnect_max_seconds", KEY_INT, C(reconnect_max_seconds), "5", 1, 3600,
	  NULL },
	{ "recorder", "io_threads", KEY_INT, C(io_threads), "0", 0, 256, NULL },
	{ "recorder", "thread_per_camera", KEY_BOOL, C(thread_per_camera), "false", 0, 0, NULL },

	{ "storage", "path", KEY_STRING, C(storage_path), DEFAULT_STORAGE, 0, 0, NULL },
	{ "storage", "catalog", KEY_STRING, C(catalog_path), NULL, 0, 0, NULL },
	{ "storage", "fsync_seconds", KEY_INT, C(fsync_seconds), "5", 0, 3600, NULL },
	{ "storage", "reserve_mb", KEY_INT, C(reserve_mb), "1024", 1, 1024 * 1024, NULL },

	{ "retention", "retain_days", KEY_INT, C(retain_days), "90", 1, 36500, NULL },
	{ "retention", "delete_after_days", KEY_INT, C(delete_after_days), NULL, 1, 36500, NULL },
	{ "retention", "on_full", KEY_ENUM, C(on_full), "protect-retention", 0, 0, on_full_names },
	{ "retention", "sweep_interval_seconds", KEY_INT, C(sweep_interval_seconds), "60", 1, 86400,
	  NULL },
	{ "retention", "max_clock_step_seconds", KEY_INT, C(max_clock_step_seconds), "3600", 1,
	  86400 * 365, NULL },

	{ "mqtt", "host", KEY_STRING, C(mqtt_host), "127.0.0.1", 0, 0, NULL },
	{ "mqtt", "port", KEY_INT, C(mqtt_port), "1883", 1, 65535, NULL },
	{ "mqtt", "keepalive", KEY_INT, C(mqtt_keepalive), "30", 5, 3600, NULL },
	{ "mqtt", "prefix", KEY_STRING, C(mqtt_prefix), "vigil", 0, 0, NULL },
	{ "mqtt", "client_id", KEY_STRING, C(mqtt_client_id), NULL, 0, 0, NULL },
	{ "mqtt", "username", KEY_STRING, C(mqtt_username), NULL, 0, 0, NULL },
	{ "mqtt", "password", KEY_STRING, C(mqtt_password), NULL, 0, 0, NULL },
	{ "mqtt", "password_file", KEY_STRING, C(mqtt_password_file), NULL, 0, 0, NULL },
	{ "mqtt", "password_env", KEY_STRING, C(mqtt_password_env), NULL, 0, 0, NULL },
	{ "mqtt", "tls_ca", KEY_STRING, C(mqtt_tls_ca), NULL, 0, 0, NULL },
	{ "mqtt", "tls_cert", KEY_STRING, C(mqtt_tls_cert), NULL, 0, 0, NULL },
	{ "mqtt", "tls_key", KEY_STRING, C(mqtt_tls_key), NULL, 0, 0, NULL },
	{ "mqtt", "interval_seconds", KEY_INT, C(mqtt_interval_seconds), "10", 1, 3600, NULL },

	{ "checker", "database", KEY_STRING, C(checker_database), NULL, 0, 0, NULL },
	{ "checker", "grace_seconds", KEY_INT, C(checker_grace_seconds), "60", 0, 86400, NULL },
	{ "checker", "clear_seconds", KEY_INT, C(checker_clear_seconds), "120", 0, 86400, NULL },

	{ "tickets", "webhook_url", KEY_STRING, C(webhook_url), NULL, 0, 0, NULL },
	{ "tickets", "webhook_format", KEY_ENUM, C(webhook_format), "json", 0, 0, webhook_names },
	{ "tickets", "token_file", KEY_STRING, C(webhook_token_file), NULL, 0, 0, NULL },
	{ "tickets", "token_env", KEY_STRING, C(webhook_token_env), NULL, 0, 0, NULL },
	{ "tickets", "app_token", KEY_STRING, C(webhook_app_token), NULL, 0, 0, NULL },
	{ "tickets", "timeout_seconds", KEY_INT, C(webhook_timeout_seconds), "10", 1, 300, NULL },
	{ "tickets", "project", KEY_STRING, C(webhook_project), NULL, 0, 0, NULL },
	{ "tickets", "customer", KEY_STRING, C(webhook_customer), NULL, 0, 0, NULL },
	{ "tickets", "language", KEY_ENUM, C(tickets_language), "en", 0, 0, language_names },

	{ "web", "listen", KEY_STRING, C(web_listen), "127.0.0.1:8080", 0, 0, NULL },
	{ "web", "tls_cert", KEY_STRING, C(web_tls_cert), NULL, 0, 0, NULL },
	{ "web", "tls_key", KEY_STRING, C(web_tls_key), NULL, 0, 0, NULL },
	{ "web", "database", KEY_STRING, C(web_database), NULL, 0, 0, NULL },
	{ "web", "session_hours", KEY_INT, C(web_session_hours), "12", 1, 24 * 90, NULL },
	{ "web", "time_zone", KEY_STRING, C(web_time_zone), NULL, 0, 0, NULL },

	{ "metrics", "listen", KEY_STRING, C(metrics_listen), NULL, 0, 0, NULL },
	{ "checker", "metrics_listen", KEY_STRING, C(checker_metrics_listen), NULL, 0, 0, NULL },

	/* [inspection]: picture and camera-clock checks (inspect/) */
	{ "inspection", "interval_seconds", KEY_INT, C(inspection_interval_seconds), "300", 0,
	  86400, NULL },
	{ "inspection", "max_clock_offset_seconds", KEY_DOUBLE, C(max_clock_offset_seconds), "5", 0,
	  86400, NULL },
	{ "inspection", "reference_after_hours", KEY_DOUBLE, C(reference_after_hours), "24", 0,
	  8760, NULL },
	{ "camera", "inspect", KEY_BOOL, K(inspect), "true", 0, 0, NULL },
	{ "camera", "picture_black_luma", KEY_DOUBLE, K(picture_black_luma), "32", 0, 255, NULL },
	{ "camera", "picture_covered_ratio", KEY_DOUBLE, K(picture_covered_ratio), "0.15", 0, 1,
	  NULL },
	{ "camera", "picture_blurred_ratio", KEY_DOUBLE, K(picture_blurred_ratio), "0.45", 0, 1,
	  NULL },
	{ "camera", "picture_moved_match", KEY_DOUBLE, K(picture_moved_match), "0.5", 0, 1, NULL },

	{ "camera", "url", KEY_STRING, K(url), NULL, 0, 0, NULL },
	{ "camera", "url_file", KEY_STRING, K(url_file), NULL, 0, 0, NULL },
	{ "camera", "username", KEY_STRING, K(username), NULL, 0, 0, NULL },
	{ "camera", "password_env", KEY_STRING, K(password_env), NULL, 0, 0, NULL },
	{ "camera", "password_file", KEY_STRING, K(password_file), NULL, 0, 0, NULL },
	{ "camera", "transport", KEY_ENUM, K(transport), "tcp", 0, 0, transport_names },
	{ "camera", "allow_basic_auth", KEY_BOOL, K(allow_basic_auth), "false", 0, 0, NULL },
	{ "camera", "segment_seconds", KEY_INT, K(segment_seconds), "60", 2, 3600, NULL },
	{ "camera", "retain_days", KEY_INT, K(retain_days), "-1", 1, 36500, NULL },
	{ "camera", "delete_after_days", KEY_INT, K(delete_after_days), "-1", 1, 36500, NULL },
	{ "camera", "expected_fps", KEY_DOUBLE, K(expected_fps), "0", 0, 1000, NULL },
	{ "camera", "site", KEY_STRING, K(site), NULL, 0, 0, NULL },
	{ "camera", "location", KEY_STRING, K(location), "", 0, 0, NULL },
};
#define NKEYS (sizeof(key_table) / sizeof(key_table[0]))

static const char *const global_sections[] = { "recorder",   "storage", "retention", "mqtt",
					       "checker",    "tickets", "web",	     "metrics",
					       "inspection", NULL };

/* Parse state shared by the line reader and the inih handler. */
struct parse {
	const char *file;
	FILE *fp;
	struct config *cfg;
	struct config_problems *problems;
	bool skip_credentials;	      /* CONFIG_SKIP_CREDENTIALS */
	bool skip_camera_credentials; /* CONFIG_SKIP_CAMERA_CREDENTIALS */
	int line;
	int error_line; /* a line the reader already reported */

	/* the section the last header opened */
	char section[128];
	int section_line;
	bool section_known;
	bool section_ignored; /* a duplicate or bad camera: keys not stored */
	struct camera_config *camera;
	/* the line that set each key, for duplicates and for messages about
	 * values: global keys here, camera keys in camera_lines[] parallel to
	 * cfg->cameras; 0 when the key was not set (its default holds) */
	int key_line[NKEYS];
	int (*camera_lines)[NKEYS];
	size_t camera_cap;
	int inline_secret_line; /* a line of the file that holds a password */
};

static void add_problem(struct config_problems *problems, const char *file, int line, bool warning,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_problem(struct config_problems *problems, const char *file, int line, bool warning,
			const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	redact_scrub(msg, sizeof(msg));
	struct config_problem *items =
		realloc(problems->items, (problems->count + 1) * sizeof(*items));
	if (!items)
		return;
	problems->items = items;
	items[problems->count] = (struct config_problem){
		.file = strdup(file ? file : "-"),
		.line = line,
		.warning = warning,
		.message = strdup(msg),
	};
	problems->count++;
	if (!warning)
		problems->errors++;
}

#define ERR(p, line, ...) add_problem((p)->problems, (p)->file, (line), false, __VA_ARGS__)
#define WARN(p, line, ...) add_problem((p)->problems, (p)->file, (line), true, __VA_ARGS__)

void config_problems_release(struct config_problems *problems)
{
	for (size_t i = 0; i < problems->count; i++) {
		free(problems->items[i].file);
		free(problems->items[i].message);
	}
	free(problems->items);
	memset(problems, 0, sizeof(*problems));
}

void config_problems_print(const struct config_problems *problems, FILE *f)
{
	for (size_t i = 0; i < problems->count; i++) {
		const struct config_problem *pr = &problems->items[i];
		const char *kind = pr->warning ? "warning" : "error";
		if (pr->line > 0)
			fprintf(f, "%s:%d: %s: %s\n", pr->file, pr->line, kind, pr->message);
		else
			fprintf(f, "%s: %s: %s\n", pr->file, kind, pr->message);
	}
}

static const struct key_spec *find_key(const char *section, const char *name, size_t *index)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(key_table[i].section, section) == 0 &&
		    strcmp(key_table[i].name, name) == 0) {
			*index = i;
			return &key_table[i];
		}
	}
	return NULL;
}

static bool valid_id(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
	return true;
}

/* Stores a value; returns 0 or -EINVAL with the reason in why. */
static int store_value(const struct key_spec *k, void *base, const char *value, char *why,
		       size_t whylen)
{
	char *field = (char *)base + k->offset;
	char *end;

	switch (k->type) {
	case KEY_STRING: {
		char *copy = strdup(value);
		if (!copy) {
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case KEY_INT: {
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < k->min || v > k->max) {
			/* -1 is the internal "inherit" marker, never valid input */
			snprintf(why, whylen, "'%s' is not a whole number from %ld to %ld", value,
				 k->min, k->max);
			return -EINVAL;
		}
		*(int *)field = (int)v;
		return 0;
	}
	case KEY_DOUBLE: {
		errno = 0;
		double v = strtod(value, &end);
		if (errno || end == value || *end || v < (double)k->min || v > (double)k->max) {
			snprintf(why, whylen, "'%s' is not a number from %ld to %ld", value, k->min,
				 k->max);
			return -EINVAL;
		}
		memcpy(field, &v,
		       sizeof(v)); /* field is only char-aligned as far as the compiler knows */
		return 0;
	}
	case KEY_BOOL:
		if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") ||
		    !strcmp(value, "1")) {
			*(bool *)field = true;
			return 0;
		}
		if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") ||
		    !strcmp(value, "0")) {
			*(bool *)field = false;
			return 0;
		}
		snprintf(why, whylen, "'%s' is not true or false", value);
		return -EINVAL;
	case KEY_ENUM:
		for (int i = 0; k->choices[i]; i++) {
			if (strcmp(value, k->choices[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		{
			struct buf choices;
			buf_init(&choices, 256);
			for (int i = 0; k->choices[i]; i++)
				buf_printf(&choices, "%s%s", i ? ", " : "", k->choices[i]);
			snprintf(why, whylen, "'%s' is not one of: %s", value,
				 choices.data ? choices.data : "");
			buf_release(&choices);
		}
		return -EINVAL;
	}
	return -EINVAL;
}

static void apply_defaults(const char *section, void *base)
{
	char why[256];
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *k = &key_table[i];
		if (strcmp(k->section, section) != 0)
			continue;
		if (!k->def)
			continue;
		if (k->type == KEY_INT && strcmp(k->def, "-1") == 0) {
			*(int *)((char *)base + k->offset) = -1;
			continue;
		}
		store_value(k, base, k->def, why, sizeof(why));
	}
}

static bool is_global_section(const char *name)
{
	for (int i = 0; global_sections[i]; i++)
		if (strcmp(global_sections[i], name) == 0)
			return true;
	return false;
}

static struct camera_config *add_camera(struct parse *p, const char *id)
{
	struct config *cfg = p->cfg;
	if (cfg->ncameras == p->camera_cap) {
		size_t cap = p->camera_cap ? p->camera_cap * 2 : 8;
		struct camera_config *c = realloc(cfg->cameras, cap * sizeof(*c));
		if (!c)
			return NULL;
		cfg->cameras = c;
		int(*lines)[NKEYS] = realloc(p->camera_lines, cap * sizeof(*lines));
		if (!lines)
			return NULL;
		p->camera_lines = lines;
		p->camera_cap = cap;
	}
	struct camera_config *cam = &cfg->cameras[cfg->ncameras];
	memset(p->camera_lines[cfg->ncameras], 0, sizeof(p->camera_lines[0]));
	memset(cam, 0, sizeof(*cam));
	cam->id = strdup(id);
	if (!cam->id)
		return NULL;
	cam->line = p->line;
	apply_defaults("camera", cam);
	cfg->ncameras++;
	return cam;
}

/* Called by the reader for each section header line. */
static void open_section(struct parse *p, const char *name)
{
	snprintf(p->section, sizeof(p->section), "%s", name);
	p->section_line = p->line;
	p->section_known = true;
	p->section_ignored = false;
	p->camera = NULL;

	if (strncmp(name, "camera", 6) == 0 &&
	    (name[6] == '\0' || isspace((unsigned char)name[6]))) {
		const char *id = name + 6;
		while (isspace((unsigned char)*id))
			id++;
		if (!*id) {
			ERR(p, p->line, "camera section needs an id: [camera ID]");
			p->section_ignored = true;
			return;
		}
		if (!valid_id(id)) {
			ERR(p, p->line,
			    "camera id '%s' may hold only letters, digits, '-' and '_' (at most "
			    "64)",
			    id);
			p->section_ignored = true;
			return;
		}
		const struct camera_config *dup = config_camera(p->cfg, id);
		if (dup) {
			ERR(p, p->line, "duplicate camera '%s' (first defined at line %d)", id,
			    dup->line);
			p->section_ignored = true;
			return;
		}
		p->camera = add_camera(p, id);
		if (!p->camera) {
			ERR(p, p->line, "out of memory");
			p->section_ignored = true;
		}
		return;
	}
	if (!is_global_section(name)) {
		ERR(p, p->line, "unknown section [%s]", name);
		p->section_known = false;
	}
}

/*
 * inih's reader callback: returns one physical line, checking its syntax
 * and tracking the line number and current section on the way.
 */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;

	if (!fgets(str, num, p->fp))
		return NULL;
	p->line++;
	size_t len = strlen(str);
	if (len > 0 && str[len - 1] != '\n' && !feof(p->fp)) {
		int c;
		while ((c = fgetc(p->fp)) != EOF && c != '\n')
			;
		ERR(p, p->line, "line longer than %d characters (use url_file for long URLs)",
		    num - 2);
		p->error_line = p->line;
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}

	const char *s = str;
	if (p->line == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
	    (unsigned char)s[2] == 0xBF)
		s += 3;
	bool indented = isspace((unsigned char)*s) && *s != '\n' && *s != '\r';
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		return str;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close) {
			ERR(p, p->line, "section header without ']'");
			p->error_line = p->line;
			p->section_known = false;
			str[0] = '\n';
			str[1] = '\0';
			return str;
		}
		char name[128];
		const char *b = s + 1;
		while (b < close && isspace((unsigned char)*b))
			b++;
		const char *e = close;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		snprintf(name, sizeof(name), "%.*s", (int)(e - b), b);
		open_section(p, name);
		return str;
	}
	if (indented && !strchr(s, '=')) {
		ERR(p, p->line, "continuation lines are not supported; put the value on one line");
		p->error_line = p->line;
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	if (!strchr(s, '=') && !strchr(s, ':')) {
		ERR(p, p->line, "expected 'key = value'");
		p->error_line = p->line;
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	if (p->section[0] == '\0' && p->section_line == 0) {
		ERR(p, p->line, "key outside any section");
		p->error_line = p->line;
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	/* inih takes an indented line for the continuation of the previous
	 * value (INI_ALLOW_MULTILINE); continuations are refused above, so an
	 * indented key line is handed over without its indentation */
	if (s != str)
		memmove(str, s, strlen(s) + 1);
	return str;
}

static int handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char why[300];
	size_t idx;

	(void)section; /* the reader tracks the section with its line */
	if (!p->section_known || p->section_ignored)
		return 1;
	bool camera = p->camera != NULL;
	const struct key_spec *k = find_key(camera ? "camera" : p->section, name, &idx);
	if (!k) {
		if (camera)
			ERR(p, p->line, "unknown key '%s' in [camera %s]", name, p->camera->id);
		else
			ERR(p, p->line, "unknown key '%s' in [%s]", name, p->section);
		return 1;
	}
	int *lines = camera ? p->camera_lines[p->camera - p->cfg->cameras] : p->key_line;
	if (lines[idx]) {
		ERR(p, p->line, "duplicate key '%s' (first set at line %d)", name, lines[idx]);
		return 1;
	}
	lines[idx] = p->line;
	if (*value == '\0' && k->type != KEY_STRING) {
		ERR(p, p->line, "%s: empty value", name);
		return 1;
	}
	void *base = camera ? (void *)p->camera : (void *)p->cfg;
	if (store_value(k, base, value, why, sizeof(why)) < 0)
		ERR(p, p->line, "%s: %s", name, why);
	return 1;
}

/* The line that set a global key, or 0 when its default holds. */
static int key_line(const struct parse *p, const char *section, const char *name)
{
	size_t idx;
	return find_key(section, name, &idx) ? p->key_line[idx] : 0;
}

/* The line that set a camera key, or the camera's header line. */
static int camera_key_line(const struct parse *p, const struct camera_config *cam, const char *name)
{
	size_t idx;
	int line = 0;
	if (find_key("camera", name, &idx))
		line = p->camera_lines[cam - p->cfg->cameras][idx];
	return line ? line : cam->line;
}

static int max_line(int a, int b)
{
	return a > b ? a : b;
}

/* Reads a one-line secret from a file: the first line, without its end. */
static char *read_secret_file(const char *path, char *why, size_t whylen)
{
	struct buf b;
	int ret = fs_read_file(path, &b, SECRET_FILE_MAX);
	if (ret < 0) {
		snprintf(why, whylen, "cannot read '%s': %s", path, strerror(-ret));
		return NULL;
	}
	b.data[strcspn(b.data, "\r\n")] = '\0';
	return buf_detach(&b);
}

/* A secret others can read is a secret no longer: say so (the config still
 * loads, as the operator may have reasons, e.g. a read-only bind mount). */
static void check_secret_mode(struct parse *p, int line, const char *what, const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		WARN(p, line, "%s '%s' is readable by every user (mode %04o): chmod o-r it", what,
		     path, (unsigned)(st.st_mode & 07777));
}

/* The registration of a secret for redaction failed: the config must not
 * load, or the secret would reach the log. */
static void registration_failed(struct parse *p, int line, const char *whose, int ret)
{
	ERR(p, line, "%s: cannot register the secret for redaction: %s", whose, strerror(-ret));
}

/* Is the host of url (or host itself when url has no "://") this machine? */
static bool host_is_loopback(const char *url)
{
	const char *s = strstr(url, "://");
	s = s ? s + 3 : url;
	size_t n = strcspn(s, "/?#");
	const char *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '@')
			at = s + i;
	if (at) {
		n -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	char host[256];
	if (*s == '[') {
		size_t e = strcspn(s, "]");
		snprintf(host, sizeof(host), "%.*s", (int)(e > 1 ? e - 1 : 0), s + 1);
	} else {
		size_t e = strcspn(s, ":/?#");
		snprintf(host, sizeof(host), "%.*s", (int)(e < n ? e : n), s);
	}
	return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	       strcmp(host, "::1") == 0;
}

/* Builds scheme://user:password@rest from a URL and credentials. */
static char *url_with_credentials(const char *url, const char *user, const char *password)
{
	char euser[512], epass[1024];
	const char *scheme_end = strstr(url, "://");
	if (!scheme_end)
		return NULL;
	const char *auth = scheme_end + 3;
	const char *auth_end = auth + strcspn(auth, "/?#");
	const char *host = auth;
	const char *url_user = NULL;
	size_t url_user_len = 0;

	for (const char *q = auth; q < auth_end; q++) {
		if (*q == '@')
			host = q + 1;
	}
	if (host != auth) {
		url_user = auth;
		const char *colon = memchr(auth, ':', (size_t)(host - 1 - auth));
		url_user_len = (size_t)((colon ? colon : host - 1) - auth);
	}
	if (url_encode_userinfo(user ? user : "", euser, sizeof(euser)) < 0 ||
	    url_encode_userinfo(password, epass, sizeof(epass)) < 0)
		return NULL;
	struct buf b;
	buf_init(&b, 8192);
	buf_append(&b, url, (size_t)(auth - url));
	if (user)
		buf_append_str(&b, euser);
	else if (url_user)
		buf_append(&b, url_user, url_user_len);
	buf_append_str(&b, ":");
	buf_append_str(&b, epass);
	buf_append_str(&b, "@");
	if (buf_append_str(&b, host) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* Percent-decodes the password in a URL's userinfo, for registering it.
 * Returns 1 when the URL holds a password, 0 when not, or -ENOMEM. */
static int register_url_password(const char *url)
{
	int ret;
	const char *scheme_end = strstr(url, "://");
	if (!scheme_end)
		return 0;
	const char *auth = scheme_end + 3;
	const char *auth_end = auth + strcspn(auth, "/?#");
	const char *at = NULL;
	for (const char *q = auth; q < auth_end; q++)
		if (*q == '@')
			at = q;
	if (!at)
		return 0;
	const char *colon = memchr(auth, ':', (size_t)(at - auth));
	if (!colon || colon + 1 == at)
		return 0;
	char user[512], pass[1024];
	size_t ul = 0, pl = 0;
	for (const char *q = auth; q < colon && ul + 1 < sizeof(user); q++)
		user[ul++] = *q;
	user[ul] = '\0';
	for (const char *q = colon + 1; q < at && pl + 1 < sizeof(pass); q++) {
		if (*q == '%' && q + 2 < at && isxdigit((unsigned char)q[1]) &&
		    isxdigit((unsigned char)q[2])) {
			char hex[3] = { q[1], q[2], 0 };
			pass[pl++] = (char)strtol(hex, NULL, 16);
			q += 2;
		} else {
			pass[pl++] = *q;
		}
	}
	pass[pl] = '\0';
	if ((ret = redact_add_credentials(user, pass)) < 0)
		return ret;
	/* the encoded form as written, in case it differs from our encoding */
	char raw[1024];
	snprintf(raw, sizeof(raw), "%.*s", (int)(at - colon - 1), colon + 1);
	if ((ret = redact_add_secret(raw)) < 0)
		return ret;
	return 1;
}

/* Registers the password of a camera's URL; an inline one (not from
 * url_file) marks the config file as holding a secret. */
static void camera_url_password(struct parse *p, struct camera_config *cam)
{
	char whose[160];
	int ret = register_url_password(cam->url);
	snprintf(whose, sizeof(whose), "camera '%s'", cam->id);
	if (ret < 0)
		registration_failed(p, cam->line, whose, ret);
	else if (ret > 0 && !cam->url_file && !p->inline_secret_line)
		p->inline_secret_line = camera_key_line(p, cam, "url");
}

static void resolve_camera(struct parse *p, struct camera_config *cam)
{
	struct config *cfg = p->cfg;
	char why[600];

	if (cam->segment_seconds < 0)
		cam->segment_seconds = 60;
	if (cam->retain_days < 0)
		cam->retain_days = cfg->retain_days;
	if (cam->delete_after_days < 0)
		cam->delete_after_days = cam->retain_days > cfg->delete_after_days
						 ? cam->retain_days
						 : cfg->delete_after_days;
	if (!cam->site)
		cam->site = strdup(cfg->site ? cfg->site : "");

	if (cam->url && cam->url_file) {
		ERR(p,
		    max_line(camera_key_line(p, cam, "url"), camera_key_line(p, cam, "url_file")),
		    "camera '%s': set url or url_file, not both", cam->id);
		return;
	}
	if (p->skip_credentials || p->skip_camera_credentials) {
		if (!cam->url && !cam->url_file)
			ERR(p, cam->line, "camera '%s' has no url (set url or url_file)", cam->id);
		if (cam->url)
			camera_url_password(p, cam);
		char shown[2048];
		redact_url(cam->url ? cam->url : "(in url_file)", shown, sizeof(shown));
		cam->display_url = strdup(shown);
		return;
	}
	if (cam->url_file) {
		char *url = read_secret_file(cam->url_file, why, sizeof(why));
		if (!url) {
			ERR(p, camera_key_line(p, cam, "url_file"), "camera '%s': url_file: %s",
			    cam->id, why);
			return;
		}
		cam->url = url;
		check_secret_mode(p, camera_key_line(p, cam, "url_file"), "url_file",
				  cam->url_file);
	}
	if (!cam->url || !*cam->url) {
		ERR(p, cam->line, "camera '%s' has no url (set url or url_file)", cam->id);
		return;
	}
	camera_url_password(p, cam);
	if (strncmp(cam->url, "rtsp://", 7) != 0 && strncmp(cam->url, "rtsps://", 8) != 0) {
		char shown[1024];
		redact_url(cam->url, shown, sizeof(shown));
		ERR(p, camera_key_line(p, cam, cam->url_file ? "url_file" : "url"),
		    "camera '%s': url '%s' is not rtsp:// or rtsps://", cam->id, shown);
		return;
	}
	if (cam->password_env && cam->password_file) {
		ERR(p,
		    max_line(camera_key_line(p, cam, "password_env"),
			     camera_key_line(p, cam, "password_file")),
		    "camera '%s': set password_env or password_file, not both", cam->id);
		return;
	}
	char *password = NULL;
	if (cam->password_env) {
		const char *v = getenv(cam->password_env);
		if (!v) {
			ERR(p, camera_key_line(p, cam, "password_env"),
			    "camera '%s': environment variable %s is not set", cam->id,
			    cam->password_env);
			return;
		}
		password = strdup(v);
	} else if (cam->password_file) {
		password = read_secret_file(cam->password_file, why, sizeof(why));
		if (!password) {
			ERR(p, camera_key_line(p, cam, "password_file"),
			    "camera '%s': password_file: %s", cam->id, why);
			return;
		}
		check_secret_mode(p, camera_key_line(p, cam, "password_file"), "password_file",
				  cam->password_file);
	}
	if (password || cam->username) {
		int ret = redact_add_credentials(cam->username ? cam->username : "",
						 password ? password : "");
		if (ret < 0) {
			char whose[160];
			snprintf(whose, sizeof(whose), "camera '%s'", cam->id);
			registration_failed(p, cam->line, whose, ret);
			free(password);
			return;
		}
		char *full =
			url_with_credentials(cam->url, cam->username, password ? password : "");
		free(password);
		if (!full) {
			ERR(p, cam->line, "camera '%s': url or credentials too long", cam->id);
			return;
		}
		free(cam->url);
		cam->url = full;
	}
	char shown[2048];
	redact_url(cam->url, shown, sizeof(shown));
	cam->display_url = strdup(shown);
	if (cam->delete_after_days < cam->retain_days)
		ERR(p, camera_key_line(p, cam, "delete_after_days"),
		    "camera '%s': delete_after_days (%d) is below retain_days (%d), the floor",
		    cam->id, cam->delete_after_days, cam->retain_days);
	if (cam->retain_days < 90)
		WARN(p, camera_key_line(p, cam, "retain_days"),
		     "camera '%s': retain_days %d is below the 90-day minimum of customs contracts",
		     cam->id, cam->retain_days);
}

/* The storage folder must exist and be writable, or be creatable. */
static void check_storage(struct parse *p)
{
	struct config *cfg = p->cfg;
	struct stat st;
	char parent[PATH_MAX];
	const char *path = cfg->storage_path;
	int line = key_line(p, "storage", "path");

	if (!path || !*path) {
		ERR(p, line, "[storage] path is empty");
		return;
	}
	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			ERR(p, line, "[storage] path '%s' is not a folder", path);
		else if (access(path, R_OK | W_OK | X_OK) < 0)
			ERR(p, line, "[storage] path '%s' is not writable: %s", path,
			    strerror(errno));
		return;
	}
	if (errno != ENOENT) {
		ERR(p, line, "[storage] path '%s': %s", path, strerror(errno));
		return;
	}
	/* find the nearest existing ancestor: it must let us create the rest */
	snprintf(parent, sizeof(parent), "%s", path);
	for (;;) {
		char *slash = strrchr(parent, '/');
		if (!slash) {
			snprintf(parent, sizeof(parent), ".");
			break;
		}
		if (slash == parent) {
			parent[1] = '\0';
			break;
		}
		*slash = '\0';
		if (stat(parent, &st) == 0)
			break;
	}
	if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode) || access(parent, W_OK | X_OK) < 0)
		ERR(p, line, "[storage] path '%s' does not exist and cannot be created under '%s'",
		    path, parent);
}

/* A listen address: HOST:PORT, with [v6]:PORT for IPv6. */
static void check_listen(struct parse *p, const char *section, const char *key, const char *value)
{
	if (!value)
		return;
	char host[128];
	int port;
	if (config_parse_listen(value, host, sizeof(host), &port) < 0)
		ERR(p, key_line(p, section, key),
		    "[%s] %s = %s: expected HOST:PORT (e.g. 127.0.0.1:8080) with a port 1-65535",
		    section, key, value);
}

static void resolve_global(struct parse *p)
{
	struct config *cfg = p->cfg;
	char why[600];

	if (!valid_id(cfg->recorder_id))
		ERR(p, key_line(p, "recorder", "id"),
		    "[recorder] id '%s' may hold only letters, digits, '-' and '_'",
		    cfg->recorder_id);
	if (cfg->delete_after_days < 0)
		cfg->delete_after_days = cfg->retain_days;
	if (cfg->delete_after_days < cfg->retain_days)
		ERR(p, key_line(p, "retention", "delete_after_days"),
		    "[retention] delete_after_days (%d) is below retain_days (%d), the floor",
		    cfg->delete_after_days, cfg->retain_days);
	if (cfg->retain_days < 90)
		WARN(p, key_line(p, "retention", "retain_days"),
		     "[retention] retain_days %d is below the 90-day minimum of customs contracts",
		     cfg->retain_days);
	if (cfg->reconnect_max_seconds < cfg->reconnect_min_seconds)
		ERR(p,
		    max_line(key_line(p, "recorder", "reconnect_max_seconds"),
			     key_line(p, "recorder", "reconnect_min_seconds")),
		    "[recorder] reconnect_max_seconds (%d) is below reconnect_min_seconds (%d)",
		    cfg->reconnect_max_seconds, cfg->reconnect_min_seconds);
	if (!cfg->catalog_path) {
		char path[PATH_MAX];
		if (fs_join(path, sizeof(path), cfg->storage_path, "catalog.db") < 0)
			ERR(p, key_line(p, "storage", "path"), "[storage] path is too long");
		else
			cfg->catalog_path = strdup(path);
	}
	if (!cfg->checker_database) {
		char path[PATH_MAX];
		if (fs_join(path, sizeof(path), cfg->storage_path, "tickets.db") == 0)
			cfg->checker_database = strdup(path);
	}
	if (!cfg->web_database) {
		char path[PATH_MAX];
		if (fs_join(path, sizeof(path), cfg->storage_path, "web.db") == 0)
			cfg->web_database = strdup(path);
	}
	check_listen(p, "web", "listen", cfg->web_listen);
	check_listen(p, "metrics", "listen", cfg->metrics_listen);
	check_listen(p, "checker", "metrics_listen", cfg->checker_metrics_listen);
	if (!cfg->web_tls_cert != !cfg->web_tls_key)
		ERR(p, key_line(p, "web", cfg->web_tls_cert ? "tls_cert" : "tls_key"),
		    "[web] tls_cert and tls_key go together: set both for HTTPS, or neither");
	if (!cfg->mqtt_client_id) {
		char id[128];
		snprintf(id, sizeof(id), "vigil-%s", cfg->recorder_id);
		cfg->mqtt_client_id = strdup(id);
	}
	if (strchr(cfg->mqtt_prefix, '#') || strchr(cfg->mqtt_prefix, '+') || !*cfg->mqtt_prefix)
		ERR(p, key_line(p, "mqtt", "prefix"),
		    "[mqtt] prefix '%s' must be a non-empty topic without '+' or '#'",
		    cfg->mqtt_prefix);
	int sources = !!cfg->mqtt_password + !!cfg->mqtt_password_file + !!cfg->mqtt_password_env;
	int password_line = max_line(key_line(p, "mqtt", "password"),
				     max_line(key_line(p, "mqtt", "password_file"),
					      key_line(p, "mqtt", "password_env")));
	if (p->skip_credentials)
		; /* reading the catalog needs no broker password */
	else if (sources > 1)
		ERR(p, password_line,
		    "[mqtt] set only one of password, password_file, password_env");
	else if (cfg->mqtt_password_file) {
		cfg->mqtt_password = read_secret_file(cfg->mqtt_password_file, why, sizeof(why));
		if (!cfg->mqtt_password)
			ERR(p, key_line(p, "mqtt", "password_file"), "[mqtt] password_file: %s",
			    why);
		else
			check_secret_mode(p, key_line(p, "mqtt", "password_file"),
					  "[mqtt] password_file", cfg->mqtt_password_file);
	} else if (cfg->mqtt_password_env) {
		const char *v = getenv(cfg->mqtt_password_env);
		if (!v)
			ERR(p, key_line(p, "mqtt", "password_env"),
			    "[mqtt] environment variable %s is not set", cfg->mqtt_password_env);
		else
			cfg->mqtt_password = strdup(v);
	}
	int ret;
	if (cfg->mqtt_password &&
	    (ret = redact_add_credentials(cfg->mqtt_username, cfg->mqtt_password)) < 0)
		registration_failed(p, password_line, "[mqtt] password", ret);
	if (cfg->mqtt_password && key_line(p, "mqtt", "password") && !p->inline_secret_line)
		p->inline_secret_line = key_line(p, "mqtt", "password");
	/* without TLS the password crosses the network as it is */
	if (cfg->mqtt_password && !cfg->mqtt_tls_ca && !cfg->mqtt_tls_cert &&
	    !host_is_loopback(cfg->mqtt_host))
		WARN(p, password_line,
		     "[mqtt] the password would be sent in clear to '%s' (plain MQTT): set tls_ca",
		     cfg->mqtt_host);
	if (cfg->mqtt_password && !cfg->mqtt_username)
		ERR(p, password_line, "[mqtt] a password needs a username");
	if ((cfg->mqtt_tls_cert != NULL) != (cfg->mqtt_tls_key != NULL))
		ERR(p, max_line(key_line(p, "mqtt", "tls_cert"), key_line(p, "mqtt", "tls_key")),
		    "[mqtt] tls_cert and tls_key go together");
	const char *tls_files[] = { cfg->mqtt_tls_ca, cfg->mqtt_tls_cert, cfg->mqtt_tls_key };
	const char *tls_keys[] = { "tls_ca", "tls_cert", "tls_key" };
	for (int i = 0; i < 3; i++)
		if (tls_files[i] && access(tls_files[i], R_OK) < 0)
			ERR(p, key_line(p, "mqtt", tls_keys[i]), "[mqtt] %s: cannot read '%s': %s",
			    tls_keys[i], tls_files[i], strerror(errno));

	if (p->skip_credentials)
		;
	else if (cfg->webhook_token_file && cfg->webhook_token_env)
		ERR(p,
		    max_line(key_line(p, "tickets", "token_file"),
			     key_line(p, "tickets", "token_env")),
		    "[tickets] set token_file or token_env, not both");
	else if (cfg->webhook_token_file) {
		cfg->webhook_token = read_secret_file(cfg->webhook_token_file, why, sizeof(why));
		if (!cfg->webhook_token)
			ERR(p, key_line(p, "tickets", "token_file"), "[tickets] token_file: %s",
			    why);
		else
			check_secret_mode(p, key_line(p, "tickets", "token_file"),
					  "[tickets] token_file", cfg->webhook_token_file);
	} else if (cfg->webhook_token_env) {
		const char *v = getenv(cfg->webhook_token_env);
		if (!v)
			ERR(p, key_line(p, "tickets", "token_env"),
			    "[tickets] environment variable %s is not set", cfg->webhook_token_env);
		else
			cfg->webhook_token = strdup(v);
	}
	if (cfg->webhook_token && (ret = redact_add_secret(cfg->webhook_token)) < 0)
		registration_failed(p, key_line(p, "tickets", "token_file"), "[tickets] token",
				    ret);
	if (cfg->console_url && strncmp(cfg->console_url, "http://", 7) != 0 &&
	    strncmp(cfg->console_url, "https://", 8) != 0)
		ERR(p, key_line(p, "recorder", "console_url"),
		    "[recorder] console_url must start with http:// or https://");
	if (cfg->webhook_url && strncmp(cfg->webhook_url, "http://", 7) != 0 &&
	    strncmp(cfg->webhook_url, "https://", 8) != 0)
		ERR(p, key_line(p, "tickets", "webhook_url"),
		    "[tickets] webhook_url must start with http:// or https://");
	int url_secret = cfg->webhook_url ? register_url_password(cfg->webhook_url) : 0;
	if (url_secret < 0)
		registration_failed(p, key_line(p, "tickets", "webhook_url"),
				    "[tickets] webhook_url", url_secret);
	if (url_secret > 0 && !p->inline_secret_line)
		p->inline_secret_line = key_line(p, "tickets", "webhook_url");
	if (cfg->webhook_url && (cfg->webhook_token || url_secret > 0) &&
	    strncmp(cfg->webhook_url, "http://", 7) == 0 && !host_is_loopback(cfg->webhook_url))
		WARN(p, key_line(p, "tickets", "webhook_url"),
		     "[tickets] the token would be sent in clear over http:// to a remote host: "
		     "use "
		     "https://");
}

struct config *config_new_default(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	for (int i = 0; global_sections[i]; i++)
		apply_defaults(global_sections[i], cfg);
	cfg->delete_after_days = -1;
	return cfg;
}

struct config *config_load(const char *path, struct config_problems *problems)
{
	return config_load_flags(path, 0, problems);
}

struct config *config_load_flags(const char *path, unsigned flags, struct config_problems *problems)
{
	struct parse p = { 0 };
	struct config *cfg = NULL;

	memset(problems, 0, sizeof(*problems));
	p.file = path;
	p.problems = problems;
	p.skip_credentials = flags & CONFIG_SKIP_CREDENTIALS;
	p.skip_camera_credentials = flags & CONFIG_SKIP_CAMERA_CREDENTIALS;
	p.fp = fopen(path, "r");
	if (!p.fp) {
		add_problem(problems, path, 0, false, "cannot open config: %s", strerror(errno));
		return NULL;
	}
	cfg = config_new_default();
	if (!cfg) {
		fclose(p.fp);
		add_problem(problems, path, 0, false, "out of memory");
		return NULL;
	}
	cfg->path = strdup(path);
	p.cfg = cfg;

	int ret = ini_parse_stream(read_line, &p, handle_key, &p);
	if (ferror(p.fp))
		ERR(&p, 0, "read error");
	fclose(p.fp);
	if (ret > 0 && ret != p.error_line)
		ERR(&p, ret, "syntax error");

	resolve_global(&p);
	for (size_t i = 0; i < cfg->ncameras; i++)
		resolve_camera(&p, &cfg->cameras[i]);
	check_storage(&p);
	if (p.inline_secret_line)
		check_secret_mode(&p, p.inline_secret_line, "the config (it holds a password)",
				  path);
	if (cfg->ncameras == 0)
		WARN(&p, 0, "no [camera ID] section: nothing will be recorded");

	free(p.camera_lines);
	if (problems->errors > 0)
		config_free(&cfg);
	return cfg;
}

static void free_strings(const char *section, void *base)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *k = &key_table[i];
		if (strcmp(k->section, section) != 0)
			continue;
		if (k->type == KEY_STRING) {
			char **field = (char **)((char *)base + k->offset);
			free(*field);
			*field = NULL;
		}
	}
}

void config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->ncameras; i++) {
		struct camera_config *cam = &cfg->cameras[i];
		free_strings("camera", cam);
		free(cam->id);
		free(cam->display_url);
	}
	free(cfg->cameras);
	for (int i = 0; global_sections[i]; i++)
		free_strings(global_sections[i], cfg);
	free(cfg->path);
	free(cfg->webhook_token);
	free(cfg);
	*cfgp = NULL;
}

const struct camera_config *config_camera(const struct config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->ncameras; i++)
		if (strcmp(cfg->cameras[i].id, id) == 0)
			return &cfg->cameras[i];
	return NULL;
}

const char *config_on_full_name(enum on_full_policy policy)
{
	return on_full_names[policy];
}

const char *config_webhook_format_name(enum webhook_format f)
{
	return webhook_names[f];
}

void config_mqtt_options(const struct config *cfg, struct mqtt_options *out)
{
	*out = (struct mqtt_options){
		.host = cfg->mqtt_host,
		.port = cfg->mqtt_port,
		.keepalive = cfg->mqtt_keepalive,
		.username = cfg->mqtt_username,
		.password = cfg->mqtt_password,
		.tls_ca = cfg->mqtt_tls_ca,
		.tls_cert = cfg->mqtt_tls_cert,
		.tls_key = cfg->mqtt_tls_key,
	};
}

int config_parse_listen(const char *value, char *host, size_t host_size, int *port)
{
	const char *colon = strrchr(value, ':');
	if (!colon || colon == value)
		return -EINVAL;
	const char *h = value;
	size_t hlen = (size_t)(colon - value);
	if (h[0] == '[') {
		if (hlen < 3 || h[hlen - 1] != ']')
			return -EINVAL;
		h++;
		hlen -= 2;
	}
	if (hlen >= host_size)
		return -EINVAL;
	char *end;
	errno = 0;
	long n = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || n < 1 || n > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)n;
	return 0;
}
