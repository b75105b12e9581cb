/* Several recorders, one view: the site key a bridge is named by, the
 * topics and payloads of the fleet (bridge state, mosquitto's own $SYS
 * notification, a recorder's inventory, hostile ones refused), and the
 * recorder list the ticket database keeps from them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tickets/parse.h"
#include "tickets/tickets.h"
#include "tests/unit/test.h"

static void site_keys(void)
{
	static const struct {
		const char *site, *key;
	} cases[] = {
		{ "Zone 1 bonded warehouse", "zone-1-bonded-warehouse" },
		{ "  Gate--3 / North  ", "gate-3-north" },
		{ "site-b", "site-b" },
		{ "ABC", "abc" },
		{ "", "" },
		{ "Ünïcode Dock", "n-code-dock" },
	};
	char key[TICKET_ID_MAX];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ticket_site_key(cases[i].site, key, sizeof(key));
		CHECK_STR(key, cases[i].key);
	}
	/* another script: a stable hashed key, itself a valid id */
	char again[TICKET_ID_MAX];
	ticket_site_key("海关监管仓库", key, sizeof(key));
	ticket_site_key("海关监管仓库", again, sizeof(again));
	CHECK_STR(key, again);
	CHECK(strncmp(key, "site-", 5) == 0 && strlen(key) == 13);
	ticket_site_key("海关二号", again, sizeof(again));
	CHECK(strcmp(key, again) != 0);
	/* long names are cut to an id */
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ticket_site_key(longname, key, sizeof(key));
	CHECK_INT(strlen(key), TICKET_ID_MAX - 1);
	CHECK(health_valid_id(key, strlen(key)));
}

static void fleet_topics(void)
{
	struct health_topic t;
	const char *why = NULL;
	char key[TICKET_ID_MAX];
	bool up = true;
	char text[96];

	CHECK_INT(health_topic_parse("vigil", "vigil/bridge/site-a/state", &t, &why), 0);
	CHECK_INT(t.kind, HEALTH_TOPIC_BRIDGE);
	CHECK_STR(t.recorder, "site-a");
	CHECK_INT(health_topic_parse("vigil", "vigil/rec1/inventory", &t, &why), 0);
	CHECK_INT(t.kind, HEALTH_TOPIC_INVENTORY);
	CHECK_STR(t.recorder, "rec1");
	CHECK_INT(health_topic_parse("vigil", "vigil/bridge/site a/state", &t, &why), -EINVAL);
	CHECK_INT(health_topic_parse("vigil", "vigil/bridge/site-a", &t, &why), -EINVAL);
	CHECK_INT(health_topic_parse("vigil", "vigil/bridge/site-a/state/x", &t, &why), -EINVAL);

	CHECK_INT(health_sys_bridge_topic("$SYS/broker/connection/zone1/state", key, sizeof(key)),
		  0);
	CHECK_STR(key, "zone1");
	CHECK_INT(health_sys_bridge_topic("$SYS/broker/connection/gw.example.zone-2/state", key,
					  sizeof(key)),
		  0);
	CHECK_STR(key, "zone-2");
	CHECK_INT(health_sys_bridge_topic("$SYS/broker/connection//state", key, sizeof(key)),
		  -EINVAL);
	CHECK_INT(health_sys_bridge_topic("$SYS/broker/clients/total", key, sizeof(key)), -EINVAL);
	CHECK_INT(health_sys_bridge_topic("$SYS/broker/connection/a b/state", key, sizeof(key)),
		  -EINVAL);

	CHECK_INT(health_parse_bridge("0", 1, &up, text, sizeof(text)), 0);
	CHECK(!up);
	CHECK_INT(health_parse_bridge("1\n", 2, &up, text, sizeof(text)), 0);
	CHECK(up);
	CHECK_INT(health_parse_bridge("2", 1, &up, text, sizeof(text)), -EINVAL);
	CHECK_INT(health_parse_bridge("true", 4, &up, text, sizeof(text)), -EINVAL);
}

static int parse_inv(const char *json, struct ticket_inventory *inv, char *why, size_t whylen)
{
	struct health_topic t = { .kind = HEALTH_TOPIC_INVENTORY };
	snprintf(t.recorder, sizeof(t.recorder), "rec1");
	return health_parse_inventory(&t, json, strlen(json), inv, why, whylen);
}

static void inventories(void)
{
	struct ticket_inventory inv;
	char why[160];

	CHECK_INT(
		parse_inv("{\"at\":\"2026-11-02T06:00:00Z\",\"recorder\":\"rec1\",\"version\":"
			  "\"0.4\",\"site\":\"Zone 1\",\"console_url\":\"https://rec1.example:8443/"
			  "\",\"cameras\":[{\"id\":\"gate3\",\"location\":\"Gate 3\",\"site\":"
			  "\"Zone 1\"},{\"id\":\"yard\"}]}",
			  &inv, why, sizeof(why)),
		0);
	CHECK_STR(inv.recorder, "rec1");
	CHECK_STR(inv.version, "0.4");
	CHECK_STR(inv.site, "Zone 1");
	CHECK_STR(inv.console_url, "https://rec1.example:8443/");
	CHECK_INT(inv.ncameras, 2);
	CHECK_STR(inv.cameras[0].camera, "gate3");
	CHECK_STR(inv.cameras[0].location, "Gate 3");
	CHECK_STR(inv.cameras[1].camera, "yard");
	health_inventory_release(&inv);
	CHECK(inv.cameras == NULL);

	/* null console: none */
	CHECK_INT(parse_inv("{\"console_url\":null,\"cameras\":[]}", &inv, why, sizeof(why)), 0);
	CHECK_STR(inv.console_url, "");
	health_inventory_release(&inv);

	static const char *const bad[] = {
		"{\"recorder\":\"rec2\"}",
		"{\"console_url\":\"javascript:alert(1)\"}",
		"{\"console_url\":\"ftp://x/\"}",
		"{\"cameras\":{}}",
		"{\"cameras\":[1]}",
		"{\"cameras\":[{\"id\":\"a b\"}]}",
		"{\"cameras\":[{\"location\":\"no id\"}]}",
		"{\"version\":7}",
		"[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(parse_inv(bad[i], &inv, why, sizeof(why)), -EINVAL);
		CHECK(inv.cameras == NULL);
	}
}

struct seen {
	int n;
	struct ticket_recorder r[4];
};

static int collect(const struct ticket_recorder *r, void *ctx)
{
	struct seen *s = ctx;
	if (s->n < 4)
		s->r[s->n] = *r;
	s->n++;
	return 0;
}

static int count_cameras(const struct ticket_recorder_camera *c, void *ctx)
{
	int *n = ctx;
	(void)c;
	(*n)++;
	return 0;
}

static int held_of(const struct ticket_fault *f, void *ctx)
{
	*(int64_t *)ctx = f->held_by;
	return 0;
}

static void recorder_list(void)
{
	char err[512];
	struct ticket_db *db =
		ticket_db_open(test_path("tickets.db"), CATALOG_READ_WRITE, NULL, err, sizeof(err));
	CHECK(db != NULL);
	if (!db)
		return;
	struct ticket_inventory_camera cams[2] = { { "gate3", "Zone 1", "Gate 3" },
						   { "yard", "Zone 1", "" } };
	struct ticket_inventory inv = { .recorder = "rec1",
					.site = "Zone 1",
					.version = "0.4",
					.console_url = "http://rec1:8080",
					.at_us = 2000,
					.ncameras = 2,
					.cameras = cams };
	CHECK_INT(ticket_db_recorder_seen(db, "rec2", "Depot", 1000), 0);
	CHECK_INT(ticket_db_recorder_inventory(db, &inv), 0);
	CHECK_INT(ticket_db_recorder_seen(db, "rec1", "", 5000), 0); /* keeps the site */
	struct ticket_observed o = { .recorder = "rec2",
				     .camera = "c9",
				     .state = "down",
				     .since_us = 900,
				     .updated_us = 1000 };
	CHECK_INT(ticket_db_observed_save(db, &o, NULL), 0);
	struct seen s = { 0 };
	CHECK_INT(ticket_db_recorders_each(db, collect, &s), 0);
	CHECK_INT(s.n, 2);
	/* by site: Depot before Zone 1 */
	CHECK_STR(s.r[0].recorder, "rec2");
	CHECK_INT(s.r[0].ncameras, 1); /* no inventory: the cameras heard of */
	CHECK_INT(s.r[0].inventory_us, -1);
	CHECK_STR(s.r[1].recorder, "rec1");
	CHECK_STR(s.r[1].site, "Zone 1");
	CHECK_STR(s.r[1].console_url, "http://rec1:8080");
	CHECK_INT(s.r[1].ncameras, 2);
	CHECK_INT(s.r[1].first_seen_us, 2000);
	CHECK_INT(s.r[1].last_seen_us, 5000);
	int n = 0;
	CHECK_INT(ticket_db_recorder_cameras_each(db, "rec1", count_cameras, &n), 0);
	CHECK_INT(n, 2);
	/* a smaller inventory replaces the cameras */
	inv.ncameras = 1;
	CHECK_INT(ticket_db_recorder_inventory(db, &inv), 0);
	n = 0;
	CHECK_INT(ticket_db_recorder_cameras_each(db, "rec1", count_cameras, &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(ticket_db_recorder_forget(db, "rec1"), 0);
	s.n = 0;
	CHECK_INT(ticket_db_recorders_each(db, collect, &s), 0);
	CHECK_INT(s.n, 1);
	/* a held fault keeps the ticket of its cause */
	struct ticket root = { .kind = TICKET_SITE_UNREACHABLE,
			       .level = 4,
			       .recorder = "zone-1",
			       .fault_start_us = 100 };
	CHECK_INT(ticket_db_open_ticket(db, &root, 200, NULL, NULL), 0);
	struct ticket_fault f = { .kind = TICKET_CAMERA_DOWN,
				  .recorder = "rec1",
				  .camera = "gate3",
				  .active = true,
				  .start_us = 100,
				  .clear_since_us = -1,
				  .operator_resolved_us = -1,
				  .held_by = root.id };
	CHECK_INT(ticket_db_fault_save(db, &f), 0);
	int64_t held = 0;
	CHECK_INT(ticket_db_faults_each(db, held_of, &held), 0);
	CHECK_INT(held, root.id);
	ticket_db_close(&db);
}

/* ---- the checker as a witness of the audit chains ---- */

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct heads_seen {
	int n;
	int64_t seq[256];
	char hash0[256][2]; /* the first character of each hash */
};

static int collect_head(const struct ticket_chain_head *h, void *ctx)
{
	struct heads_seen *c = ctx;
	if (c->n < 256) {
		c->seq[c->n] = h->seq;
		c->hash0[c->n][0] = h->hash[0];
		c->n++;
	}
	return 0;
}

static int witness(struct ticket_db *db, int64_t seq, const char *hash, int64_t at,
		   struct ticket_chain_head *before)
{
	struct ticket_chain_head h = {
		.recorder = "rec1", .camera = "gate3", .seq = seq, .heard_us = at
	};
	snprintf(h.hash, sizeof(h.hash), "%s", hash);
	return ticket_db_witness_head(db, &h, before);
}

static void chain_witness(void)
{
	char err[512];
	struct ticket_db *db =
		ticket_db_open(test_path("witness.db"), CATALOG_READ_WRITE, NULL, err, sizeof(err));
	CHECK(db != NULL);
	if (!db)
		return;
	struct ticket_chain_head before;
	struct heads_seen c = { 0 };
	int64_t t0 = 42 * 24 * HOUR_US; /* a day begins */

	/* within the hour the row goes up with the chain; a new hour, a new row */
	CHECK_INT(witness(db, 10, HASH_A, t0, &before), 0);
	CHECK_INT(witness(db, 12, HASH_A, t0 + HOUR_US / 2, &before), 0);
	CHECK_INT(witness(db, 12, HASH_A, t0 + HOUR_US / 2 + 5, &before), 0); /* heard again */
	CHECK_INT(witness(db, 15, HASH_A, t0 + HOUR_US + 1, &before), 0);
	CHECK_INT(ticket_db_witnessed_each(db, "rec1", collect_head, &c), 0);
	CHECK_INT(c.n, 2);
	CHECK_INT(c.seq[0], 12);
	CHECK_INT(c.seq[1], 15);

	/* behind the last head: a row of its own, and the contradicted one kept */
	CHECK_INT(witness(db, 13, HASH_B, t0 + HOUR_US + 2, &before), 1);
	CHECK_INT(before.seq, 15);
	/* the same entry with another hash is a contradiction too */
	CHECK_INT(witness(db, 13, HASH_A, t0 + HOUR_US + 3, &before), 1);
	CHECK_INT(before.seq, 13);

	/* two weeks of hourly rows, then thinned past a week to one a day, the
	 * contradicted rows kept */
	int64_t seq = 20;
	for (int64_t t = t0 + 2 * HOUR_US; t < t0 + 14 * 24 * HOUR_US; t += HOUR_US)
		CHECK_INT(witness(db, seq++, HASH_A, t, &before), 0);
	c.n = 0;
	CHECK_INT(ticket_db_witnessed_each(db, "rec1", collect_head, &c), 0);
	/* the last heard at day 13, 23:00: the week up to it (day 6, 23:00 on)
	 * keeps its 169 hourly rows; day 6 before that and days 1-5 their
	 * newest row each (6); day 0 its newest and the two contradicted rows
	 * (15, and 13 with B) */
	int kept15 = 0, kept13b = 0;
	for (int i = 0; i < c.n && i < 256; i++) {
		kept15 += c.seq[i] == 15;
		kept13b += c.seq[i] == 13 && c.hash0[i][0] == 'b';
	}
	CHECK_INT(kept15, 1);
	CHECK_INT(kept13b, 1);
	CHECK_INT(c.n, 169 + 6 + 3);
	struct heads_seen none = { 0 };
	CHECK_INT(ticket_db_witnessed_each(db, "rec-other", collect_head, &none), 0);
	CHECK_INT(none.n, 0);
	ticket_db_close(&db);
}

const struct test_case fleet_tests[] = {
	{ "site_keys", site_keys },	    { "fleet_topics", fleet_topics },
	{ "inventories", inventories },	    { "recorder_list", recorder_list },
	{ "chain_witness", chain_witness }, { NULL, NULL },
};
