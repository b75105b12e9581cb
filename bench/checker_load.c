/*
 * checker-load: feeds a checker the health of many simulated cameras, the
 * way recorders publish it (retained QoS 1 JSON, one message per camera per
 * interval, spread evenly), makes some of them go down at known times, and
 * measures when each ticket arrives on PREFIX/tickets/#.  Used by
 * bench/checker_bench.py; not part of vigil.
 *
 * usage: checker-load --port P [--recorders R] [--cameras C] [--interval S]
 *                     [--duration S] [--faults N] [--fault-from S] [--fault-to S]
 *                     [--grace S] [--first R] [--site NAME] [--inventory]
 * --first numbers the recorders from R (several generators, one per site
 * broker, feed one central checker); --site names their site; --inventory
 * publishes each recorder's inventory at the start.
 * Prints "sent N", "rate M/s", then one "ticket REC CAM LATENESS_MS" line per
 * ticket opened (lateness: arrival minus fault time minus grace) and
 * "missing N" for faults without a ticket.
 */
#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cam {
	int rec, idx;
	int64_t next_us;  /* next periodic message */
	int64_t fault_us; /* goes down then; 0: never */
	bool down;
	int64_t ticket_us;
};

static struct cam *cams;
static int ncams, nrecorders, per_recorder, first_rec;
static const char *site = "Bench site";
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void rfc3339(int64_t us, char *out, size_t size)
{
	struct tm tm;
	time_t s = (time_t)(us / 1000000);
	gmtime_r(&s, &tm);
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	char rec[64], cam[64];
	const char *p;
	(void)m;
	(void)obj;
	if (!msg->payload || msg->payloadlen <= 0 || !strstr(msg->payload, "\"kind\":\"opened\""))
		return;
	/* "recorder":"rNN","camera":"cNN" */
	if (!(p = strstr(msg->payload, "\"recorder\":\"")) || sscanf(p + 12, "%63[^\"]", rec) != 1)
		return;
	if (!(p = strstr(msg->payload, "\"camera\":\"")) || sscanf(p + 10, "%63[^\"]", cam) != 1)
		return;
	int r = atoi(rec + 1) - first_rec, c = atoi(cam + 1);
	if (r < 0 || r >= nrecorders || c < 0 || c >= per_recorder)
		return;
	pthread_mutex_lock(&lock);
	struct cam *k = &cams[r * per_recorder + c];
	if (!k->ticket_us)
		k->ticket_us = now_us();
	pthread_mutex_unlock(&lock);
}

static void publish_cam(struct mosquitto *m, struct cam *k, int64_t now, int interval)
{
	char topic[128], payload[700], at[64], gap[80];
	rfc3339(now, at, sizeof(at));
	if (k->down) {
		char t[64];
		rfc3339(k->fault_us, t, sizeof(t));
		snprintf(gap, sizeof(gap), "\"%s\"", t);
	} else {
		snprintf(gap, sizeof(gap), "null");
	}
	snprintf(topic, sizeof(topic), "vigil/r%d/camera/c%d/health", first_rec + k->rec, k->idx);
	int n = snprintf(
		payload, sizeof(payload),
		"{\"at\":\"%s\",\"recorder\":\"r%d\",\"camera\":\"c%d\",\"state\":\"%s\","
		"\"since\":\"%s\",\"fps\":%s,\"expected_fps\":25.0,\"kbps\":812.3,"
		"\"last_frame\":\"%s\",\"gap_start\":%s,\"gaps_24h\":0,\"site\":\"%s\","
		"\"location\":\"Lane %d\",\"reconnects\":0,\"last_error\":\"%s\","
		"\"codec\":\"h264\",\"width\":1920,\"height\":1080,\"interval_s\":%d}",
		at, first_rec + k->rec, k->idx, k->down ? "down" : "recording", at, k->down ? "0.0" : "25.0",
		at, gap, site, k->idx, k->down ? "connection closed: End of file" : "", interval);
	mosquitto_publish(m, NULL, topic, n, payload, 1, true);
}

static void publish_recorder(struct mosquitto *m, int r, int64_t now, int interval)
{
	char topic[64], payload[512], at[64];
	rfc3339(now, at, sizeof(at));
	snprintf(topic, sizeof(topic), "vigil/r%d/health", first_rec + r);
	int n = snprintf(
		payload, sizeof(payload),
		"{\"at\":\"%s\",\"recorder\":\"r%d\",\"site\":\"%s\",\"interval_s\":%d,"
		"\"storage_error\":false,\"retention_at_risk\":false,\"forecast_days\":400,"
		"\"retain_days\":90,\"disk\":{\"total_bytes\":1000000000000}}",
		at, first_rec + r, site, interval);
	mosquitto_publish(m, NULL, topic, n, payload, 1, true);
}

/* What a recorder records, as health/publisher.c publishes it. */
static void publish_inventory(struct mosquitto *m, int r, int64_t now)
{
	char topic[64], at[64];
	size_t size = 256 + (size_t)per_recorder * 96, n;
	char *payload = malloc(size);
	if (!payload)
		return;
	rfc3339(now, at, sizeof(at));
	n = (size_t)snprintf(payload, size,
			     "{\"at\":\"%s\",\"recorder\":\"r%d\",\"version\":\"bench\","
			     "\"site\":\"%s\",\"console_url\":null,\"cameras\":[",
			     at, first_rec + r, site);
	for (int c = 0; c < per_recorder && n < size; c++)
		n += (size_t)snprintf(payload + n, size - n,
				      "%s{\"id\":\"c%d\",\"site\":\"%s\",\"location\":\"Lane %d\"}",
				      c ? "," : "", c, site, c);
	if (n < size)
		n += (size_t)snprintf(payload + n, size - n, "]}");
	snprintf(topic, sizeof(topic), "vigil/r%d/inventory", first_rec + r);
	if (n < size)
		mosquitto_publish(m, NULL, topic, (int)n, payload, 1, true);
	free(payload);
}

int main(int argc, char **argv)
{
	bool inventory = false;
	int port = 1883, interval = 10, duration = 60, faults = 100, grace = 10;
	double fault_from = 15, fault_to = 30;
	nrecorders = 100;
	per_recorder = 100;
	for (int i = 1; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(k, "--inventory")) {
			inventory = true;
			i--;
		} else if (!strcmp(k, "--first"))
			first_rec = atoi(v);
		else if (!strcmp(k, "--site"))
			site = v;
		else if (!strcmp(k, "--port"))
			port = atoi(v);
		else if (!strcmp(k, "--recorders"))
			nrecorders = atoi(v);
		else if (!strcmp(k, "--cameras"))
			per_recorder = atoi(v);
		else if (!strcmp(k, "--interval"))
			interval = atoi(v);
		else if (!strcmp(k, "--duration"))
			duration = atoi(v);
		else if (!strcmp(k, "--faults"))
			faults = atoi(v);
		else if (!strcmp(k, "--fault-from"))
			fault_from = atof(v);
		else if (!strcmp(k, "--fault-to"))
			fault_to = atof(v);
		else if (!strcmp(k, "--grace"))
			grace = atoi(v);
		else {
			fprintf(stderr, "checker-load: unknown option '%s'\n", k);
			return 2;
		}
	}
	ncams = nrecorders * per_recorder;
	cams = calloc((size_t)ncams, sizeof(*cams));
	if (!cams || faults > ncams)
		return 2;

	mosquitto_lib_init();
	char client[64];
	snprintf(client, sizeof(client), "checker-load-%d", first_rec);
	struct mosquitto *m = mosquitto_new(client, true, NULL);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_max_inflight_messages_set(m, 0);
	if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "checker-load: cannot connect to 127.0.0.1:%d\n", port);
		return 1;
	}
	mosquitto_subscribe(m, NULL, "vigil/tickets/#", 1);
	mosquitto_loop_start(m);

	int64_t t0 = now_us();
	for (int i = 0; i < ncams; i++) {
		cams[i].rec = i / per_recorder;
		cams[i].idx = i % per_recorder;
		cams[i].next_us = t0 + (int64_t)i * interval * 1000000 / ncams;
	}
	/* faults spread over [from, to), on cameras spread over the recorders */
	for (int f = 0; f < faults; f++) {
		int i = (int)((int64_t)f * ncams / (faults ? faults : 1));
		cams[i].fault_us = t0 + (int64_t)((fault_from + (fault_to - fault_from) * f /
									(faults ? faults : 1)) *
						  1e6);
	}
	for (int r = 0; r < nrecorders; r++) {
		char topic[64];
		snprintf(topic, sizeof(topic), "vigil/r%d/status", first_rec + r);
		mosquitto_publish(m, NULL, topic, 6, "online", 1, true);
		publish_recorder(m, r, t0, interval);
		if (inventory)
			publish_inventory(m, r, t0);
	}
	int64_t sent = 0, next_rec = t0 + (int64_t)interval * 1000000;
	int64_t end = t0 + (int64_t)duration * 1000000;
	while (now_us() < end) {
		int64_t now = now_us();
		for (int i = 0; i < ncams; i++) {
			struct cam *k = &cams[i];
			if (k->fault_us && !k->down && now >= k->fault_us) {
				k->down = true; /* published at once, as a recorder does */
				publish_cam(m, k, now, interval);
				sent++;
			}
			if (now >= k->next_us) {
				publish_cam(m, k, now, interval);
				k->next_us += (int64_t)interval * 1000000;
				sent++;
			}
		}
		if (now >= next_rec) {
			for (int r = 0; r < nrecorders; r++)
				publish_recorder(m, r, now, interval);
			sent += nrecorders;
			next_rec += (int64_t)interval * 1000000;
		}
		usleep(5000);
	}
	printf("sent %" PRId64 "\nrate %.1f\n", sent, (double)sent / duration);
	int missing = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < ncams; i++) {
		struct cam *k = &cams[i];
		if (!k->fault_us)
			continue;
		if (!k->ticket_us) {
			missing++;
			continue;
		}
		printf("ticket r%d c%d %.1f\n", first_rec + k->rec, k->idx,
		       (double)(k->ticket_us - k->fault_us - (int64_t)grace * 1000000) / 1000.0);
	}
	pthread_mutex_unlock(&lock);
	printf("missing %d\n", missing);
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	free(cams);
	return 0;
}
