/* config: a complete file, defaults, overrides, credentials, and a broken
 * file whose every problem is reported with its line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/unit/test.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/redact.h"

/* A config file built line by line, so tests know every line number. */
struct cfgfile {
	struct buf text;
	int lines;
};

static void cf_init(struct cfgfile *f)
{
	buf_init(&f->text, 1 << 20);
	f->lines = 0;
}

/* Appends one line and returns its number. */
static int cf_line(struct cfgfile *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cf_line(struct cfgfile *f, const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	buf_append_str(&f->text, line);
	buf_append_str(&f->text, "\n");
	return ++f->lines;
}

/* Writes the file to test_dir()/name, releases the text, returns the path
 * (a copy the caller frees).  Private, as a config holding a password
 * should be (a readable one is warned about). */
static char *cf_write(struct cfgfile *f, const char *name)
{
	char *path = strdup(test_write_file(name, f->text.data ? f->text.data : ""));
	chmod(path, 0600);
	buf_release(&f->text);
	return path;
}

/* A secret file as an operator should leave it. */
static void write_secret(const char *name, const char *text)
{
	chmod(test_write_file(name, text), 0600);
}

/* How many problems are at line and contain needle, of the given kind. */
static int count_problems(const struct config_problems *pr, int line, const char *needle,
			  bool warning)
{
	int n = 0;
	for (size_t i = 0; i < pr->count; i++)
		if (pr->items[i].line == line && pr->items[i].warning == warning &&
		    strstr(pr->items[i].message, needle))
			n++;
	return n;
}

static void dump_problems(const struct config_problems *pr)
{
	for (size_t i = 0; i < pr->count; i++)
		printf("  #   problem: %d: %s: %s\n", pr->items[i].line,
		       pr->items[i].warning ? "warning" : "error", pr->items[i].message);
}

static char *path_in_test_dir(const char *name)
{
	return strdup(test_path(name));
}

static void design_example(void)
{
	struct cfgfile f;
	struct config_problems pr;
	char *footage = path_in_test_dir("footage");
	char *catalog = path_in_test_dir("catalog.db");
	char *tickets = path_in_test_dir("tickets.db");
	char *mqtt_pass = path_in_test_dir("mqtt.pass");

	redact_reset();
	write_secret("mqtt.pass", "mqtt-S3cret\n");
	mkdir(footage, 0750);
	setenv("VIGIL_TEST_GATE3_PASS", "Gate3-Pa55", 1);

	cf_init(&f);
	cf_line(&f, "[recorder]");
	cf_line(&f,
		"id = zone1-rec1                 ; names this recorder in MQTT topics and tickets");
	cf_line(&f, "site = Zone 1 bonded warehouse");
	cf_line(&f, "%s", "");
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s   ; footage root", footage);
	cf_line(&f, "catalog = %s   ; default: PATH/catalog.db", catalog);
	cf_line(&f, "fsync_seconds = 5");
	cf_line(&f, "%s", "");
	cf_line(&f, "[retention]");
	cf_line(&f, "retain_days = 90                ; the floor");
	cf_line(&f, "delete_after_days = 90");
	cf_line(&f, "on_full = protect-retention");
	cf_line(&f, "%s", "");
	cf_line(&f, "[mqtt]");
	cf_line(&f, "host = 127.0.0.1");
	cf_line(&f, "port = 1883");
	cf_line(&f, "keepalive = 30");
	cf_line(&f, "prefix = vigil");
	cf_line(&f, "username = recorder");
	cf_line(&f, "password_file = %s", mqtt_pass);
	cf_line(&f, "interval_seconds = 10");
	cf_line(&f, "%s", "");
	cf_line(&f, "[checker]");
	cf_line(&f, "database = %s", tickets);
	cf_line(&f, "grace_seconds = 60              ; outage length before a ticket opens");
	cf_line(&f, "clear_seconds = 120             ; fault must stay clear this long to resolve");
	cf_line(&f, "%s", "");
	cf_line(&f, "[tickets]");
	cf_line(&f, "webhook_url = https://glpi.example/apirest.php");
	cf_line(&f, "webhook_format = glpi           ; json | glpi | zammad | redmine");
	cf_line(&f, "%s", "");
	int cam_line = cf_line(&f, "[camera gate3]");
	cf_line(&f, "url = rtsp://viewer@10.0.3.13/Streaming/Channels/101");
	cf_line(&f, "password_env = VIGIL_TEST_GATE3_PASS");
	cf_line(&f, "segment_seconds = 60");
	cf_line(&f, "expected_fps = 25");
	cf_line(&f, "location = Gate 3 inbound lane");
	char *path = cf_write(&f, "vigil.conf");

	struct config *cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	CHECK_INT(pr.count, 0);
	if (pr.count)
		dump_problems(&pr);
	if (cfg) {
		CHECK_STR(cfg->path, path);
		CHECK_STR(cfg->recorder_id, "zone1-rec1");
		CHECK_STR(cfg->site, "Zone 1 bonded warehouse");
		CHECK_STR(cfg->storage_path, footage);
		CHECK_STR(cfg->catalog_path, catalog);
		CHECK_INT(cfg->fsync_seconds, 5);
		CHECK_INT(cfg->retain_days, 90);
		CHECK_INT(cfg->delete_after_days, 90);
		CHECK_INT(cfg->on_full, ON_FULL_PROTECT_RETENTION);
		CHECK_STR(config_on_full_name(cfg->on_full), "protect-retention");
		CHECK_STR(cfg->mqtt_host, "127.0.0.1");
		CHECK_INT(cfg->mqtt_port, 1883);
		CHECK_INT(cfg->mqtt_keepalive, 30);
		CHECK_STR(cfg->mqtt_prefix, "vigil");
		CHECK_STR(cfg->mqtt_username, "recorder");
		CHECK_STR(cfg->mqtt_password, "mqtt-S3cret"); /* first line, without its end */
		CHECK_INT(cfg->mqtt_interval_seconds, 10);
		CHECK_STR(cfg->checker_database, tickets);
		CHECK_INT(cfg->checker_grace_seconds, 60);
		CHECK_INT(cfg->checker_clear_seconds, 120);
		CHECK_STR(cfg->webhook_url, "https://glpi.example/apirest.php");
		CHECK_INT(cfg->webhook_format, WEBHOOK_GLPI);
		CHECK_STR(config_webhook_format_name(cfg->webhook_format), "glpi");
		CHECK_INT(cfg->ncameras, 1);
		const struct camera_config *cam = config_camera(cfg, "gate3");
		CHECK(cam != NULL);
		CHECK(config_camera(cfg, "gate4") == NULL);
		if (cam) {
			CHECK_STR(cam->id, "gate3");
			CHECK_INT(cam->line, cam_line);
			CHECK_STR(cam->url,
				  "rtsp://viewer:Gate3-Pa55@10.0.3.13/Streaming/Channels/101");
			CHECK_STR(cam->display_url,
				  "rtsp://viewer:***@10.0.3.13/Streaming/Channels/101");
			CHECK_INT(cam->segment_seconds, 60);
			CHECK(cam->expected_fps == 25.0);
			CHECK_STR(cam->location, "Gate 3 inbound lane");
			CHECK_STR(cam->site, "Zone 1 bonded warehouse"); /* from [recorder] */
			CHECK_INT(cam->retain_days, 90);
			CHECK_INT(cam->delete_after_days, 90);
			CHECK_INT(cam->transport, TRANSPORT_TCP);
		}
		/* both secrets are now known to the redaction filter */
		char line[128] = "mqtt-S3cret / Gate3-Pa55";
		CHECK_INT(redact_scrub(line, sizeof(line)), 2);
		CHECK_STR(line, "*** / ***");
	}
	config_free(&cfg);
	CHECK(cfg == NULL);
	config_free(&cfg); /* a second free of NULL is harmless */
	config_problems_release(&pr);
	CHECK_INT(pr.count, 0);
	unsetenv("VIGIL_TEST_GATE3_PASS");
	free(path);
	free(footage);
	free(catalog);
	free(tickets);
	free(mqtt_pass);
	redact_reset();
}

static void defaults(void)
{
	struct cfgfile f;
	struct config_problems pr;
	char *footage = path_in_test_dir("footage"); /* does not exist yet: creatable */
	char want[4096];

	redact_reset();
	cf_init(&f);
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	cf_line(&f, "[camera c1]");
	cf_line(&f, "url = rtsp://10.0.0.1/x");
	char *path = cf_write(&f, "min.conf");

	struct config *cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	CHECK_INT(pr.count, 0);
	if (pr.count)
		dump_problems(&pr);
	if (cfg) {
		CHECK_STR(cfg->recorder_id, "vigil");
		CHECK_STR(cfg->site, "");
		CHECK_INT(cfg->log_level, LOG_LEVEL_INFO);
		CHECK(!cfg->allow_root);
		CHECK(cfg->run_as_user == NULL);
		CHECK_INT(cfg->stall_seconds, 5);
		CHECK_INT(cfg->connect_timeout_seconds, 10);
		CHECK_INT(cfg->reconnect_min_seconds, 1);
		CHECK_INT(cfg->reconnect_max_seconds, 5);
		CHECK_INT(cfg->fsync_seconds, 5);
		snprintf(want, sizeof(want), "%s/catalog.db", footage);
		CHECK_STR(cfg->catalog_path, want);
		snprintf(want, sizeof(want), "%s/tickets.db", footage);
		CHECK_STR(cfg->checker_database, want);
		CHECK_INT(cfg->retain_days, 90);
		CHECK_INT(cfg->delete_after_days, 90);
		CHECK_INT(cfg->on_full, ON_FULL_PROTECT_RETENTION);
		CHECK_INT(cfg->sweep_interval_seconds, 60);
		CHECK_INT(cfg->max_clock_step_seconds, 3600);
		CHECK_STR(cfg->mqtt_host, "127.0.0.1");
		CHECK_INT(cfg->mqtt_port, 1883);
		CHECK_INT(cfg->mqtt_keepalive, 30);
		CHECK_STR(cfg->mqtt_prefix, "vigil");
		CHECK_STR(cfg->mqtt_client_id, "vigil-vigil");
		CHECK(cfg->mqtt_username == NULL);
		CHECK(cfg->mqtt_password == NULL);
		CHECK_INT(cfg->mqtt_interval_seconds, 10);
		CHECK_INT(cfg->checker_grace_seconds, 60);
		CHECK_INT(cfg->checker_clear_seconds, 120);
		CHECK(cfg->webhook_url == NULL);
		CHECK_INT(cfg->webhook_format, WEBHOOK_JSON);
		CHECK_INT(cfg->webhook_timeout_seconds, 10);
		CHECK_INT(cfg->ncameras, 1);
		const struct camera_config *cam = config_camera(cfg, "c1");
		CHECK(cam != NULL);
		if (cam) {
			CHECK_STR(cam->url, "rtsp://10.0.0.1/x");
			CHECK_STR(cam->display_url, "rtsp://10.0.0.1/x");
			CHECK_INT(cam->segment_seconds, 60);
			CHECK_INT(cam->retain_days, 90);
			CHECK_INT(cam->delete_after_days, 90);
			CHECK_INT(cam->transport, TRANSPORT_TCP);
			CHECK(cam->expected_fps == 0);
			CHECK_STR(cam->site, "");
			CHECK_STR(cam->location, "");
			CHECK(cam->username == NULL);
		}
	}
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);

	/* delete_after_days follows a raised retain_days */
	cf_init(&f);
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	cf_line(&f, "[retention]");
	cf_line(&f, "retain_days = 120");
	cf_line(&f, "[camera c1]");
	cf_line(&f, "url = rtsp://10.0.0.1/x");
	path = cf_write(&f, "retain.conf");
	cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK_INT(cfg->retain_days, 120);
		CHECK_INT(cfg->delete_after_days, 120);
		CHECK_INT(cfg->cameras[0].retain_days, 120);
		CHECK_INT(cfg->cameras[0].delete_after_days, 120);
	}
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);

	/* without a camera: usable, with a warning that nothing is recorded */
	cf_init(&f);
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	path = cf_write(&f, "nocam.conf");
	cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	CHECK_INT(pr.errors, 0);
	CHECK_INT(pr.count, 1);
	CHECK_INT(count_problems(&pr, 0, "no [camera ID] section", true), 1);
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);
	free(footage);
	redact_reset();
}

static void camera_overrides(void)
{
	struct cfgfile f;
	struct config_problems pr;
	char *footage = path_in_test_dir("footage");

	redact_reset();
	cf_init(&f);
	cf_line(&f, "[recorder]");
	cf_line(&f, "site = Main site");
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	cf_line(&f, "[retention]");
	cf_line(&f, "retain_days = 100");
	cf_line(&f, "delete_after_days = 120");
	cf_line(&f, "[camera a]");
	cf_line(&f, "url = rtsp://10.0.0.1/a");
	cf_line(&f, "retain_days = 95");
	cf_line(&f, "[camera b]");
	cf_line(&f, "url = rtsp://10.0.0.2/b");
	cf_line(&f, "retain_days = 200");
	cf_line(&f, "[camera c_3]");
	cf_line(&f, "url = rtsps://10.0.0.3/c");
	cf_line(&f, "segment_seconds = 30");
	cf_line(&f, "expected_fps = 12.5");
	cf_line(&f, "site = Annex");
	cf_line(&f, "location = Dock");
	cf_line(&f, "transport = udp");
	cf_line(&f, "delete_after_days = 150");
	cf_line(&f, "[camera D-4]");
	cf_line(&f, "url = rtsp://10.0.0.4/d");
	char *path = cf_write(&f, "over.conf");

	struct config *cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	CHECK_INT(pr.count, 0);
	if (pr.count)
		dump_problems(&pr);
	if (cfg) {
		CHECK_INT(cfg->ncameras, 4);
		const struct camera_config *a = config_camera(cfg, "a");
		const struct camera_config *b = config_camera(cfg, "b");
		const struct camera_config *c = config_camera(cfg, "c_3");
		const struct camera_config *d = config_camera(cfg, "D-4");
		CHECK(a && b && c && d);
		if (a && b && c && d) {
			CHECK_INT(a->retain_days, 95);
			CHECK_INT(a->delete_after_days, 120); /* the global one is later */
			CHECK_INT(a->segment_seconds, 60);
			CHECK_INT(b->retain_days, 200);
			CHECK_INT(b->delete_after_days, 200); /* never below its own floor */
			CHECK_INT(c->retain_days, 100);
			CHECK_INT(c->delete_after_days, 150);
			CHECK_INT(c->segment_seconds, 30);
			CHECK(c->expected_fps == 12.5);
			CHECK_STR(c->site, "Annex");
			CHECK_STR(c->location, "Dock");
			CHECK_INT(c->transport, TRANSPORT_UDP);
			CHECK_STR(d->site, "Main site");
			CHECK_INT(d->retain_days, 100);
			CHECK_INT(d->delete_after_days, 120);
			CHECK_INT(d->transport, TRANSPORT_TCP);
		}
	}
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);
	free(footage);
	redact_reset();
}

#define CANARY "Cn@ry!%/:"
#define CANARY_ENC "Cn%40ry%21%25%2F%3A"

static void credentials(void)
{
	struct cfgfile f;
	struct config_problems pr;
	char *footage = path_in_test_dir("footage");
	char *pwfile = path_in_test_dir("cam.pass");
	char *urlfile = path_in_test_dir("cam.url");
	char *urlfile2 = path_in_test_dir("cam2.url");

	redact_reset();
	setenv("VIGIL_TEST_CANARY", CANARY, 1);
	write_secret("cam.pass", "p@ss word\r\nsecond line ignored\n");
	write_secret("cam.url", "rtsp://admin:s3cr%2Ft@10.0.0.2/stream\n");
	write_secret("cam2.url", "rtsp://op@10.0.0.6/live");

	cf_init(&f);
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	cf_line(&f, "[camera env]");
	cf_line(&f, "url = rtsp://viewer@10.0.3.13/x");
	cf_line(&f, "password_env = VIGIL_TEST_CANARY");
	cf_line(&f, "[camera file]");
	cf_line(&f, "url = rtsp://10.0.0.5/live");
	cf_line(&f, "username = op er");
	cf_line(&f, "password_file = %s", pwfile);
	cf_line(&f, "[camera urlfile]");
	cf_line(&f, "url_file = %s", urlfile);
	cf_line(&f, "[camera both]");
	cf_line(&f, "url_file = %s", urlfile2);
	cf_line(&f, "password_env = VIGIL_TEST_CANARY");
	cf_line(&f, "[camera swap]");
	cf_line(&f, "url = rtsp://olduser:oldpass@10.0.0.7/x");
	cf_line(&f, "username = other");
	cf_line(&f, "password_env = VIGIL_TEST_CANARY");
	char *path = cf_write(&f, "cred.conf");

	struct config *cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	CHECK_INT(pr.count, 0);
	if (pr.count)
		dump_problems(&pr);
	if (cfg) {
		const struct camera_config *c = config_camera(cfg, "env");
		CHECK(c != NULL);
		if (c) {
			CHECK_STR(c->url, "rtsp://viewer:" CANARY_ENC "@10.0.3.13/x");
			CHECK_STR(c->display_url, "rtsp://viewer:***@10.0.3.13/x");
		}
		c = config_camera(cfg, "file");
		CHECK(c != NULL);
		if (c) {
			CHECK_STR(c->url, "rtsp://op%20er:p%40ss%20word@10.0.0.5/live");
			CHECK_STR(c->display_url, "rtsp://op%20er:***@10.0.0.5/live");
		}
		c = config_camera(cfg, "urlfile");
		CHECK(c != NULL);
		if (c) {
			CHECK_STR(c->url, "rtsp://admin:s3cr%2Ft@10.0.0.2/stream");
			CHECK_STR(c->display_url, "rtsp://admin:***@10.0.0.2/stream");
		}
		c = config_camera(cfg, "both");
		CHECK(c != NULL);
		if (c) {
			CHECK_STR(c->url, "rtsp://op:" CANARY_ENC "@10.0.0.6/live");
			CHECK_STR(c->display_url, "rtsp://op:***@10.0.0.6/live");
		}
		c = config_camera(cfg, "swap");
		CHECK(c != NULL);
		if (c) {
			CHECK_STR(c->url, "rtsp://other:" CANARY_ENC "@10.0.0.7/x");
			CHECK_STR(c->display_url, "rtsp://other:***@10.0.0.7/x");
		}
		/* no display_url holds any form of any password */
		for (size_t i = 0; i < cfg->ncameras; i++) {
			const char *d = cfg->cameras[i].display_url;
			CHECK(d != NULL);
			if (!d)
				continue;
			CHECK(!strstr(d, CANARY));
			CHECK(!strstr(d, "Cn%40ry"));
			CHECK(!strstr(d, "Cn%40ry"));
			CHECK(!strstr(d, "p@ss"));
			CHECK(!strstr(d, "p%40ss"));
			CHECK(!strstr(d, "s3cr"));
			CHECK(!strstr(d, "oldpass"));
		}
		/* every password is registered for scrubbing, raw and encoded;
		 * s3cr/t, shorter than REDACT_MIN_ANYWHERE, where a secret stands */
		char line[256] =
			"a " CANARY " b " CANARY_ENC " c p@ss word d pwd=s3cr/t e s3cr%2Ft";
		redact_scrub(line, sizeof(line));
		CHECK_STR(line, "a *** b *** c *** d pwd=*** e ***");
	}
	config_free(&cfg);
	config_problems_release(&pr);
	unsetenv("VIGIL_TEST_CANARY");
	free(path);
	free(footage);
	free(pwfile);
	free(urlfile);
	free(urlfile2);
	redact_reset();
}

struct expect {
	int line;
	const char *text;
};

static void malformed_reports_everything(void)
{
	struct cfgfile f;
	struct config_problems pr;
	struct expect want[40];
	int n = 0;
	char *afile = path_in_test_dir("afile");
	char *missing = path_in_test_dir("missing.pass");
	char longline[6000];

	redact_reset();
	test_write_file("afile", "not a folder\n");
	setenv("VIGIL_TEST_SECRET", "Sup3r-Env-S3cret", 1);
	unsetenv("VIGIL_TEST_UNSET_VAR");
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';

#define EXPECT(l, t) (want[n++] = (struct expect){ (l), (t) })
	cf_init(&f);
	cf_line(&f, "; broken on purpose");
	EXPECT(cf_line(&f, "orphan = 1"), "key outside any section");
	cf_line(&f, "[recorder]");
	cf_line(&f, "id = rec1");
	EXPECT(cf_line(&f, "colour = blue"), "unknown key 'colour' in [recorder]");
	int l_stall = cf_line(&f, "stall_seconds = soon");
	EXPECT(l_stall, "stall_seconds: 'soon' is not a whole number from 1 to 300");
	char dup[80];
	snprintf(dup, sizeof(dup), "duplicate key 'stall_seconds' (first set at line %d)", l_stall);
	EXPECT(cf_line(&f, "stall_seconds = 7"), dup);
	EXPECT(cf_line(&f, "connect_timeout_seconds = 12abc"), "connect_timeout_seconds: '12abc'");
	EXPECT(cf_line(&f, "allow_root = maybe"), "allow_root: 'maybe' is not true or false");
	EXPECT(cf_line(&f, "reconnect_min_seconds ="), "reconnect_min_seconds: empty value");
	cf_line(&f, "[storage]");
	EXPECT(cf_line(&f, "path = %s", afile), "is not a folder");
	EXPECT(cf_line(&f, "fsync_seconds = 99999"),
	       "fsync_seconds: '99999' is not a whole number from 0 to 3600");
	cf_line(&f, "[retention]");
	cf_line(&f, "retain_days = 120");
	EXPECT(cf_line(&f, "delete_after_days = 100"),
	       "delete_after_days (100) is below retain_days (120)");
	EXPECT(cf_line(&f, "on_full = delete-everything"),
	       "on_full: 'delete-everything' is not one of: protect-retention, keep-recording");
	EXPECT(cf_line(&f, "[bogus]"), "unknown section [bogus]");
	cf_line(&f, "whatever = 1"); /* inside an unknown section: not reported again */
	EXPECT(cf_line(&f, "just some words"), "expected 'key = value'");
	EXPECT(cf_line(&f, "[mqtt"), "section header without ']'");
	cf_line(&f, "host = ignored");
	int l_gate3 = cf_line(&f, "[camera gate3]");
	cf_line(&f, "url = rtsp://viewer@10.0.3.13/x");
	EXPECT(cf_line(&f, "password_env = VIGIL_TEST_UNSET_VAR"),
	       "camera 'gate3': environment variable VIGIL_TEST_UNSET_VAR is not set");
	EXPECT(cf_line(&f, "    continued text"), "continuation lines are not supported");
	char dupcam[80];
	snprintf(dupcam, sizeof(dupcam), "duplicate camera 'gate3' (first defined at line %d)",
		 l_gate3);
	EXPECT(cf_line(&f, "[camera gate3]"), dupcam);
	cf_line(&f, "url = rtsp://second/definition");
	EXPECT(cf_line(&f, "[camera nourl]"), "camera 'nourl' has no url");
	cf_line(&f, "location = Somewhere");
	EXPECT(cf_line(&f, "[camera a/b]"), "camera id 'a/b' may hold only");
	cf_line(&f, "url = rtsp://ignored/x");
	EXPECT(cf_line(&f, "[camera a.b]"), "camera id 'a.b' may hold only");
	EXPECT(cf_line(&f, "[camera ../etc]"), "camera id '../etc' may hold only");
	EXPECT(cf_line(&f, "[camera]"), "camera section needs an id");
	cf_line(&f, "[camera pwfile]");
	cf_line(&f, "url = rtsp://viewer@10.0.0.9/x");
	EXPECT(cf_line(&f, "password_file = %s", missing),
	       "camera 'pwfile': password_file: cannot read");
	int l_long = cf_line(&f, "[camera long]");
	EXPECT(l_long, "camera 'long' has no url");
	EXPECT(cf_line(&f, "url = rtsp://10.0.0.1/%s", longline), "line longer than");
	cf_line(&f, "[camera leak]");
	EXPECT(cf_line(&f, "url = http://u:Sup3r-Url-S3cret@h/x"), "is not rtsp:// or rtsps://");
	EXPECT(cf_line(&f, "segment_seconds = 1"),
	       "segment_seconds: '1' is not a whole number from 2");
	EXPECT(cf_line(&f, "transport = carrier-pigeon"),
	       "transport: 'carrier-pigeon' is not one of: udp, tcp");
	cf_line(&f, "[camera envcam]");
	cf_line(&f, "url = rtsp://viewer@10.0.0.10/x");
	cf_line(&f, "password_env = VIGIL_TEST_SECRET");
	cf_line(&f, "retain_days = 120");
	EXPECT(cf_line(&f, "delete_after_days = 100"),
	       "camera 'envcam': delete_after_days (100) is below retain_days (120)");
	EXPECT(cf_line(&f, "expected_fps = fast"), "expected_fps: 'fast' is not a number");
	cf_line(&f, "[mqtt]");
	EXPECT(cf_line(&f, "port = 70000"), "port: '70000' is not a whole number from 1 to 65535");
	cf_line(&f, "username = recorder");
	EXPECT(cf_line(&f, "password_env = VIGIL_TEST_UNSET_VAR"),
	       "[mqtt] environment variable VIGIL_TEST_UNSET_VAR is not set");
#undef EXPECT
	char *path = cf_write(&f, "bad.conf");

	struct config *cfg = config_load(path, &pr);
	CHECK(cfg == NULL);
	config_free(&cfg);
	for (int i = 0; i < n; i++) {
		int got = count_problems(&pr, want[i].line, want[i].text, false);
		if (got != 1)
			test_fail(__FILE__, __LINE__,
				  "expected one error at line %d with \"%s\", got %d", want[i].line,
				  want[i].text, got);
	}
	CHECK_INT(pr.errors, n);
	CHECK_INT(pr.count, n);
	bool mismatch = pr.errors != (size_t)n;
	for (size_t i = 0; i < pr.count; i++) {
		const struct config_problem *p = &pr.items[i];
		CHECK_STR(p->file, path);
		CHECK(p->line > 0); /* every one of these has a line */
		/* no secret, in any form, in any message */
		if (strstr(p->message, "S3cret") || strstr(p->message, "Sup3r")) {
			test_fail(__FILE__, __LINE__, "a password in: %s", p->message);
			mismatch = true;
		}
	}
	if (mismatch)
		dump_problems(&pr);
	/* the leaked URL is shown redacted */
	int shown = 0;
	for (size_t i = 0; i < pr.count; i++)
		shown += strstr(pr.items[i].message, "http://u:***@h/x") != NULL;
	CHECK_INT(shown, 1);
	config_problems_release(&pr);
	unsetenv("VIGIL_TEST_SECRET");
	free(path);
	free(afile);
	free(missing);
	redact_reset();
}

/* Global problems found after parsing still name the line of their key. */
static void global_problems_have_lines(void)
{
	struct cfgfile f;
	struct config_problems pr;
	struct expect want[16];
	int n = 0;
	char *footage = path_in_test_dir("footage");
	char *nofile = path_in_test_dir("no-such-file");

	redact_reset();
	unsetenv("VIGIL_TEST_UNSET_VAR");
#define EXPECT(l, t) (want[n++] = (struct expect){ (l), (t) })
	cf_init(&f);
	cf_line(&f, "[recorder]");
	cf_line(&f, "reconnect_min_seconds = 30");
	EXPECT(cf_line(&f, "reconnect_max_seconds = 10"),
	       "reconnect_max_seconds (10) is below reconnect_min_seconds (30)");
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	cf_line(&f, "[mqtt]");
	EXPECT(cf_line(&f, "prefix = vigil/#"), "[mqtt] prefix 'vigil/#'");
	cf_line(&f, "password = inline-pw");
	int l_pwfile = cf_line(&f, "password_file = %s", nofile);
	EXPECT(l_pwfile, "[mqtt] set only one of password, password_file, password_env");
	EXPECT(l_pwfile, "[mqtt] a password needs a username");
	EXPECT(cf_line(&f, "tls_ca = %s", nofile), "[mqtt] tls_ca: cannot read");
	int l_cert = cf_line(&f, "tls_cert = %s", nofile);
	EXPECT(l_cert, "[mqtt] tls_cert: cannot read");
	cf_line(&f, "[tickets]");
	EXPECT(cf_line(&f, "webhook_url = ftp://example/x"), "webhook_url must start with http");
	EXPECT(cf_line(&f, "token_env = VIGIL_TEST_UNSET_VAR"),
	       "[tickets] environment variable VIGIL_TEST_UNSET_VAR is not set");
	/* a key set again in a repeated section is a duplicate too */
	cf_line(&f, "[storage]");
	EXPECT(cf_line(&f, "path = /elsewhere"), "duplicate key 'path' (first set at line 5)");
	cf_line(&f, "[camera c1]");
	cf_line(&f, "url = rtsp://10.0.0.1/x");
	/* camera problems found after parsing name the later of two keys */
	cf_line(&f, "[camera both_urls]");
	cf_line(&f, "url_file = %s", nofile);
	EXPECT(cf_line(&f, "url = rtsp://10.0.0.2/x"),
	       "camera 'both_urls': set url or url_file, not both");
	cf_line(&f, "[camera both_pw]");
	cf_line(&f, "url = rtsp://10.0.0.3/x");
	cf_line(&f, "password_file = %s", nofile);
	EXPECT(cf_line(&f, "password_env = HOME"),
	       "camera 'both_pw': set password_env or password_file, not both");
	cf_line(&f, "[camera badurlfile]");
	EXPECT(cf_line(&f, "url_file = %s", nofile), "camera 'badurlfile': url_file: cannot read");
	cf_line(&f, "[camera dirpw]");
	cf_line(&f, "url = rtsp://viewer@10.0.0.4/x");
	EXPECT(cf_line(&f, "password_file = %s", test_dir()),
	       "camera 'dirpw': password_file: cannot read");
#undef EXPECT
	char *path = cf_write(&f, "global.conf");
	struct config *cfg = config_load(path, &pr);
	CHECK(cfg == NULL);
	config_free(&cfg);
	/* the tls pair rule adds one more, at the tls_cert line */
	CHECK_INT(count_problems(&pr, l_cert, "tls_cert and tls_key go together", false), 1);
	for (int i = 0; i < n; i++) {
		int got = count_problems(&pr, want[i].line, want[i].text, false);
		if (got != 1)
			test_fail(__FILE__, __LINE__,
				  "expected one error at line %d with \"%s\", got %d", want[i].line,
				  want[i].text, got);
	}
	CHECK_INT(pr.errors, n + 1);
	if (pr.errors != (size_t)n + 1)
		dump_problems(&pr);
	for (size_t i = 0; i < pr.count; i++)
		CHECK(!strstr(pr.items[i].message, "inline-pw"));
	config_problems_release(&pr);
	free(path);
	free(footage);
	free(nofile);
	redact_reset();
}

static void retain_below_floor_is_warning(void)
{
	struct cfgfile f;
	struct config_problems pr;
	char *footage = path_in_test_dir("footage");

	redact_reset();
	cf_init(&f);
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	cf_line(&f, "[retention]");
	int l_retain = cf_line(&f, "retain_days = 30");
	cf_line(&f, "[camera c1]");
	cf_line(&f, "url = rtsp://10.0.0.1/x");
	cf_line(&f, "[camera c2]");
	cf_line(&f, "url = rtsp://10.0.0.2/x");
	cf_line(&f, "retain_days = 95");
	cf_line(&f, "[camera c3]");
	cf_line(&f, "url = rtsp://10.0.0.3/x");
	int l_c3 = cf_line(&f, "retain_days = 7");
	char *path = cf_write(&f, "short.conf");

	struct config *cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	CHECK_INT(pr.errors, 0);
	CHECK(pr.count >= 2);
	CHECK_INT(count_problems(&pr, l_retain, "[retention] retain_days 30 is below the 90-day",
				 true),
		  1);
	CHECK_INT(count_problems(&pr, l_c3, "camera 'c3': retain_days 7 is below the 90-day", true),
		  1);
	for (size_t i = 0; i < pr.count; i++) {
		CHECK(pr.items[i].warning);
		CHECK(!strstr(pr.items[i].message, "'c2'")); /* 95 is fine */
	}
	if (cfg) {
		CHECK_INT(cfg->retain_days, 30);
		CHECK_INT(cfg->delete_after_days, 30);
		CHECK_INT(config_camera(cfg, "c3")->retain_days, 7);
		CHECK_INT(config_camera(cfg, "c3")->delete_after_days, 30);
	}
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);
	free(footage);
	redact_reset();
}

/* Captures config_problems_print output. */
static char *print_problems(const struct config_problems *pr)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return NULL;
	config_problems_print(pr, m);
	fclose(m);
	return text;
}

static void problems_print_format(void)
{
	struct cfgfile f;
	struct config_problems pr;
	char *footage = path_in_test_dir("footage");
	char want[8192];

	redact_reset();
	cf_init(&f);
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	cf_line(&f, "[retention]");
	cf_line(&f, "retain_days = 60");
	cf_line(&f, "[recorder]");
	cf_line(&f, "colour = blue");
	char *path = cf_write(&f, "print.conf");
	struct config *cfg = config_load(path, &pr);
	CHECK(cfg == NULL);
	char *text = print_problems(&pr);
	CHECK(text != NULL);
	snprintf(want, sizeof(want), "%s:6: error: unknown key 'colour' in [recorder]\n", path);
	CHECK_CONTAINS(text, want);
	snprintf(want, sizeof(want),
		 "%s:4: warning: [retention] retain_days 60 is below the 90-day minimum", path);
	CHECK_CONTAINS(text, want);
	snprintf(want, sizeof(want), "%s: warning: no [camera ID] section", path);
	CHECK_CONTAINS(text, want);
	/* one line per problem */
	size_t lines = 0;
	for (const char *c = text ? text : ""; *c; c++)
		lines += *c == '\n';
	CHECK_INT(lines, pr.count);
	free(text);
	config_problems_release(&pr);
	free(path);

	/* a missing file is one clear problem, without a line */
	char *nofile = path_in_test_dir("does-not-exist.conf");
	cfg = config_load(nofile, &pr);
	CHECK(cfg == NULL);
	CHECK_INT(pr.count, 1);
	CHECK_INT(pr.errors, 1);
	if (pr.count == 1) {
		CHECK_INT(pr.items[0].line, 0);
		CHECK_STR(pr.items[0].file, nofile);
		CHECK_CONTAINS(pr.items[0].message, "cannot open config");
		CHECK_CONTAINS(pr.items[0].message, strerror(ENOENT));
	}
	text = print_problems(&pr);
	snprintf(want, sizeof(want), "%s: error: cannot open config: %s\n", nofile,
		 strerror(ENOENT));
	CHECK_STR(text, want);
	free(text);
	config_problems_release(&pr);
	free(nofile);
	free(footage);
	redact_reset();
}

/* Indentation is common in hand-written INI files; an indented key must
 * not be taken for the continuation of the key above it. */
static void indented_keys(void)
{
	struct cfgfile f;
	struct config_problems pr;
	char *footage = path_in_test_dir("footage");

	redact_reset();
	cf_init(&f);
	cf_line(&f, "[recorder]");
	cf_line(&f, "  id = rec-2");
	cf_line(&f, "  site = Site two");
	cf_line(&f, "[storage]");
	cf_line(&f, "\tpath = %s", footage);
	cf_line(&f, "[camera c1]");
	cf_line(&f, "    url = rtsp://10.0.0.1/x");
	cf_line(&f, "    segment_seconds = 30");
	cf_line(&f, "    location = Yard");
	char *path = cf_write(&f, "indent.conf");
	struct config *cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	CHECK_INT(pr.count, 0);
	if (pr.count)
		dump_problems(&pr);
	if (cfg) {
		CHECK_STR(cfg->recorder_id, "rec-2");
		CHECK_STR(cfg->site, "Site two");
		CHECK_STR(cfg->storage_path, footage);
		CHECK_STR(cfg->cameras[0].url, "rtsp://10.0.0.1/x");
		CHECK_INT(cfg->cameras[0].segment_seconds, 30);
		CHECK_STR(cfg->cameras[0].location, "Yard");
	}
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);

	/* a UTF-8 byte order mark before the first section is not an error */
	cf_init(&f);
	cf_line(&f, "\xef\xbb\xbf[recorder]");
	cf_line(&f, "id = bom");
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	cf_line(&f, "[camera c1]");
	cf_line(&f, "url = rtsp://10.0.0.1/x");
	path = cf_write(&f, "bom.conf");
	cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	CHECK_INT(pr.count, 0);
	if (cfg)
		CHECK_STR(cfg->recorder_id, "bom");
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);
	free(footage);
	redact_reset();
}

/*
 * Loads path in a child process that runs as an unprivileged user when we
 * are root (root may write anywhere, which would hide the check), and
 * returns the problems as "LINE\tmessage\n" text (caller frees), or NULL.
 */
static char *load_unprivileged(const char *path, bool *loaded)
{
	int fds[2];
	if (pipe(fds) < 0)
		return NULL;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (pid == 0) {
		close(fds[0]);
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(3);
		struct config_problems pr;
		struct config *cfg = config_load(path, &pr);
		FILE *out = fdopen(fds[1], "w");
		if (!out)
			_exit(3);
		for (size_t i = 0; i < pr.count; i++)
			fprintf(out, "%d\t%s\n", pr.items[i].line, pr.items[i].message);
		fclose(out);
		_exit(cfg ? 0 : 1);
	}
	close(fds[1]);
	struct buf text;
	buf_init(&text, 1 << 16);
	char chunk[1024];
	ssize_t r;
	while ((r = read(fds[0], chunk, sizeof(chunk))) > 0)
		buf_append(&text, chunk, (size_t)r);
	close(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	*loaded = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
		buf_release(&text);
		return NULL;
	}
	buf_append(&text, "", 0);
	return buf_detach(&text);
}

static void storage_not_writable(void)
{
	struct cfgfile f;
	char want[4096];

	redact_reset();
	/* the unprivileged child must reach the files */
	chmod(test_dir(), 0755);
	char *ro = path_in_test_dir("ro");
	char *under = path_in_test_dir("ro/footage");
	CHECK_INT(mkdir(ro, 0555), 0);
	chmod(ro, 0555);

	/* does not exist, under a folder nobody may write */
	cf_init(&f);
	cf_line(&f, "[storage]");
	int l_path = cf_line(&f, "path = %s", under);
	cf_line(&f, "[camera c1]");
	cf_line(&f, "url = rtsp://10.0.0.1/x");
	char *path = cf_write(&f, "ro.conf");
	chmod(path, 0644);
	bool loaded = true;
	char *text = load_unprivileged(path, &loaded);
	CHECK(text != NULL);
	CHECK(!loaded);
	snprintf(want, sizeof(want),
		 "%d\t[storage] path '%s' does not exist and cannot be created under '%s'\n",
		 l_path, under, ro);
	CHECK_CONTAINS(text, want);
	free(text);
	free(path);

	/* exists, but is not writable */
	cf_init(&f);
	cf_line(&f, "[storage]");
	l_path = cf_line(&f, "path = %s", ro);
	cf_line(&f, "[camera c1]");
	cf_line(&f, "url = rtsp://10.0.0.1/x");
	path = cf_write(&f, "ro2.conf");
	chmod(path, 0644);
	loaded = true;
	text = load_unprivileged(path, &loaded);
	CHECK(text != NULL);
	CHECK(!loaded);
	snprintf(want, sizeof(want), "%d\t[storage] path '%s' is not writable", l_path, ro);
	CHECK_CONTAINS(text, want);
	free(text);
	free(path);

	/* a path below a regular file can never be created */
	char *afile = path_in_test_dir("afile");
	char *below = path_in_test_dir("afile/footage");
	test_write_file("afile", "x\n");
	cf_init(&f);
	cf_line(&f, "[storage]");
	l_path = cf_line(&f, "path = %s", below);
	cf_line(&f, "[camera c1]");
	cf_line(&f, "url = rtsp://10.0.0.1/x");
	path = cf_write(&f, "file.conf");
	struct config_problems pr;
	struct config *cfg = config_load(path, &pr);
	CHECK(cfg == NULL);
	CHECK_INT(pr.errors, 1);
	CHECK_INT(count_problems(&pr, l_path, "[storage] path", false), 1);
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);

	/* and a writable, not yet existing path deep below test_dir() is fine */
	char *deep = path_in_test_dir("a/b/c/footage");
	cf_init(&f);
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", deep);
	cf_line(&f, "[camera c1]");
	cf_line(&f, "url = rtsp://10.0.0.1/x");
	path = cf_write(&f, "deep.conf");
	cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	CHECK_INT(pr.count, 0);
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);

	chmod(ro, 0755);
	free(ro);
	free(under);
	free(afile);
	free(below);
	free(deep);
	redact_reset();
}

/* How many problems of the given kind contain needle, at any line. */
static int count_anywhere(const struct config_problems *pr, const char *needle, bool warning)
{
	int n = 0;
	for (size_t i = 0; i < pr->count; i++)
		if (pr->items[i].warning == warning && strstr(pr->items[i].message, needle))
			n++;
	return n;
}

/* Secrets others can read, or that would cross the network in clear, are
 * warned about; the same config kept private and local is not. */
static void exposed_secrets_warned(void)
{
	char *footage = path_in_test_dir("footage");
	char *pwfile = path_in_test_dir("cam.pass");
	mkdir(footage, 0750);
	setenv("VIGIL_TEST_TOKEN", "tok-0123456789", 1);

	for (int exposed = 1; exposed >= 0; exposed--) {
		struct cfgfile f;
		struct config_problems pr;
		redact_reset();
		test_write_file("cam.pass", "Camera-Pa55word\n");
		chmod(pwfile, exposed ? 0644 : 0640);
		cf_init(&f);
		cf_line(&f, "[storage]");
		cf_line(&f, "path = %s", footage);
		cf_line(&f, "[mqtt]");
		cf_line(&f, "host = %s", exposed ? "broker.example.net" : "127.0.0.1");
		cf_line(&f, "username = vigil");
		int mqtt_line = cf_line(&f, "password = Mqtt-Pa55word");
		cf_line(&f, "[tickets]");
		int wh_line = cf_line(&f, "webhook_url = http://%s/hook",
				      exposed ? "tickets.example.net" : "localhost:8080");
		cf_line(&f, "token_env = VIGIL_TEST_TOKEN");
		cf_line(&f, "[camera gate]");
		cf_line(&f, "url = rtsp://10.0.0.5/live");
		cf_line(&f, "username = op");
		int pw_line = cf_line(&f, "password_file = %s", pwfile);
		char *path = cf_write(&f, "exposed.conf");
		chmod(path, exposed ? 0644 : 0640);

		struct config *cfg = config_load(path, &pr);
		CHECK(cfg != NULL);
		CHECK_INT(pr.errors, 0);
		int want = exposed ? 1 : 0;
		CHECK_INT(count_problems(&pr, pw_line, "password_file", true) == 1 &&
				  count_anywhere(&pr, "readable by every user", true) == 2,
			  want);
		CHECK_INT(count_problems(&pr, mqtt_line, "the config (it holds a password)", true),
			  want);
		CHECK_INT(count_problems(&pr, mqtt_line, "sent in clear to 'broker.example.net'",
					 true),
			  want);
		CHECK_INT(count_problems(&pr, wh_line, "sent in clear over http://", true), want);
		CHECK_INT(pr.count, exposed ? 4 : 0);
		if (pr.count != (exposed ? 4u : 0u))
			dump_problems(&pr);
		config_free(&cfg);
		config_problems_release(&pr);
		free(path);
	}
	unsetenv("VIGIL_TEST_TOKEN");
	free(footage);
	free(pwfile);
	redact_reset();
}

/*
 * Fifty cameras with passwords of their own: every password is scrubbed
 * after the load (the old fixed table dropped them past about 34, and the
 * load went on).  A secret that cannot be registered fails the load.
 */
static void every_password_registered(void)
{
	struct cfgfile f;
	struct config_problems pr;
	char *footage = path_in_test_dir("footage");
	mkdir(footage, 0750);

	redact_reset();
	cf_init(&f);
	cf_line(&f, "[storage]");
	cf_line(&f, "path = %s", footage);
	for (int i = 0; i < 50; i++) {
		cf_line(&f, "[camera cam%d]", i);
		cf_line(&f, "url = rtsp://viewer:Cam%02d-Secret-%d@10.0.1.%d/live", i, i * 7919, i);
	}
	char *path = cf_write(&f, "forty.conf");
	struct config *cfg = config_load(path, &pr);
	CHECK(cfg != NULL);
	for (int i = 0; i < 50; i++) {
		char pass[64], line[256];
		snprintf(pass, sizeof(pass), "Cam%02d-Secret-%d", i, i * 7919);
		snprintf(line, sizeof(line), "camera said %s", pass);
		redact_scrub(line, sizeof(line));
		CHECK_STR(line, "camera said ***");
	}
	config_free(&cfg);
	config_problems_release(&pr);

	/* the table cannot take the camera's password: no config */
	redact_reset();
	redact_set_max_forms(2);
	cfg = config_load(path, &pr);
	CHECK(cfg == NULL);
	CHECK(pr.errors >= 1);
	CHECK(count_anywhere(&pr, "camera 'cam0': cannot register the secret for redaction",
			     false) == 1);
	redact_set_max_forms(0);
	config_free(&cfg);
	config_problems_release(&pr);
	free(path);
	free(footage);
	redact_reset();
}

const struct test_case config_tests[] = {
	{ "exposed_secrets_warned", exposed_secrets_warned },
	{ "every_password_registered", every_password_registered },
	{ "design_example", design_example },
	{ "defaults", defaults },
	{ "camera_overrides", camera_overrides },
	{ "credentials", credentials },
	{ "malformed_reports_everything", malformed_reports_everything },
	{ "global_problems_have_lines", global_problems_have_lines },
	{ "retain_below_floor_is_warning", retain_below_floor_is_warning },
	{ "problems_print_format", problems_print_format },
	{ "indented_keys", indented_keys },
	{ "storage_not_writable", storage_not_writable },
	{ NULL, NULL },
};
