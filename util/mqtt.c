/*
 * The MQTT connection loop (see mqtt.h).  libmosquitto's own threaded loop
 * gives up for good on some errors (a failed DNS lookup, TLS, refused
 * credentials), and a recorder must keep trying whatever happened, so the
 * loop is ours: connect_async when an attempt is due, mosquitto_loop while
 * connected or connecting, and on any error a new attempt after a backoff
 * of 0.5 s doubling to 5 s.  Each attempt re-initialises the connection, and
 * libmosquitto drops its queued packets then, so an outage never grows a
 * queue.
 *
 * Thread safety: single-threaded by contract (mqtt.h).
 */
#include "util/mqtt.h"

#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/banned.h"

#define BACKOFF_MIN_US (500 * INT64_C(1000))
#define BACKOFF_MAX_US (5 * USEC_PER_SEC)
/* A broker that accepts TCP but sends no CONNACK within this is dead. */
#define HANDSHAKE_US (10 * USEC_PER_SEC)
/* While the broker stays away, say so again this often. */
#define REMIND_US (60 * USEC_PER_SEC)

enum mq_state { MQ_IDLE, MQ_CONNECTING, MQ_CONNECTED };

struct mqttc {
	struct mosquitto *mosq;
	struct mqtt_options opts;
	struct mqttc_callbacks cb;
	char where[300]; /* host:port, for messages */
	enum mq_state state;
	int64_t next_attempt_mono;
	int64_t attempt_mono;
	int64_t backoff_us;
	int64_t failures;      /* attempts failed since the last success */
	int64_t reminded_mono; /* last "still cannot reach" line */
	int64_t connections;
	int64_t unacked; /* QoS 1 messages the broker has not acknowledged */
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
	mosquitto_lib_init();
}

static void sleep_us(int64_t us)
{
	if (us <= 0)
		return;
	struct timespec ts = { .tv_sec = us / USEC_PER_SEC, .tv_nsec = (us % USEC_PER_SEC) * 1000 };
	nanosleep(&ts, NULL);
}

/* An attempt failed or the connection was lost: schedule the next one. */
static void set_down(struct mqttc *c, const char *why)
{
	int64_t now = clock_mono_us();
	if (c->state == MQ_CONNECTED) {
		log_warnx("mqtt: lost the connection to broker '%s': %s; reconnecting", c->where,
			  why);
		c->backoff_us = BACKOFF_MIN_US;
		c->failures = 0;
	} else {
		c->failures++;
		if (c->failures == 1) {
			log_warnx("mqtt: cannot connect to broker '%s': %s; retrying", c->where,
				  why);
			c->reminded_mono = now;
		} else if (now - c->reminded_mono >= REMIND_US) {
			log_warnx("mqtt: still cannot connect to broker '%s' (%" PRId64
				  " attempts): %s",
				  c->where, c->failures, why);
			c->reminded_mono = now;
		} else {
			log_debug("mqtt: cannot connect to broker '%s': %s", c->where, why);
		}
	}
	c->state = MQ_IDLE;
	c->unacked = 0; /* a new connection starts afresh */
	c->next_attempt_mono = now + c->backoff_us;
	c->backoff_us = c->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : c->backoff_us * 2;
}

static const char *error_text(int rc, int err)
{
	if (rc == MOSQ_ERR_ERRNO)
		return strerror(err);
	return mosquitto_strerror(rc);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqttc *c = obj;
	(void)mosq;
	if (rc != 0) {
		/* the loop returns an error next and set_down() runs then */
		log_debug("mqtt: broker '%s' refused the connection: %s", c->where,
			  mosquitto_connack_string(rc));
		return;
	}
	if (c->failures > 1)
		log_info("mqtt: connected to broker '%s' after %" PRId64 " failed attempts",
			 c->where, c->failures);
	else
		log_info("mqtt: connected to broker '%s'", c->where);
	c->state = MQ_CONNECTED;
	c->unacked = 0;
	c->failures = 0;
	c->backoff_us = BACKOFF_MIN_US;
	c->connections++;
	if (c->cb.connected)
		c->cb.connected(c->cb.ctx);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct mqttc *c = obj;
	(void)mosq;
	(void)mid;
	if (c->unacked > 0)
		c->unacked--;
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
	struct mqttc *c = obj;
	(void)mosq;
	if (c->cb.message && m->topic)
		c->cb.message(c->cb.ctx, m->topic, m->payload ? m->payload : "",
			      m->payloadlen > 0 ? (size_t)m->payloadlen : 0, m->retain);
}

struct mqttc *mqttc_new(const struct mqtt_options *opts, const char *client_id,
			const char *will_topic, const char *will_payload,
			const struct mqttc_callbacks *cb)
{
	struct mqttc *c = calloc(1, sizeof(*c));
	int rc;

	if (!c) {
		log_warnx("mqtt: out of memory");
		return NULL;
	}
	pthread_once(&lib_once, lib_init);
	c->opts = *opts;
	if (cb)
		c->cb = *cb;
	c->backoff_us = BACKOFF_MIN_US;
	snprintf(c->where, sizeof(c->where), "%s:%d", opts->host, opts->port);
	c->mosq = mosquitto_new(client_id, true, c);
	if (!c->mosq) {
		log_warnx("mqtt: cannot create client '%s': %s", client_id, strerror(errno));
		goto fail;
	}
	mosquitto_connect_callback_set(c->mosq, on_connect);
	mosquitto_message_callback_set(c->mosq, on_message);
	mosquitto_publish_callback_set(c->mosq, on_publish);
	if (will_topic && (rc = mosquitto_will_set(c->mosq, will_topic, (int)strlen(will_payload),
						   will_payload, 1, true)) != MOSQ_ERR_SUCCESS) {
		log_warnx("mqtt: cannot set the will on '%s': %s", will_topic,
			  mosquitto_strerror(rc));
		goto fail;
	}
	if (opts->username &&
	    (rc = mosquitto_username_pw_set(c->mosq, opts->username, opts->password)) !=
		    MOSQ_ERR_SUCCESS) {
		log_warnx("mqtt: cannot set the username: %s", mosquitto_strerror(rc));
		goto fail;
	}
	if (opts->tls_ca || opts->tls_cert) {
		rc = mosquitto_tls_set(c->mosq, opts->tls_ca,
				       opts->tls_ca ? NULL : "/etc/ssl/certs", opts->tls_cert,
				       opts->tls_key, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			log_warnx("mqtt: cannot set up TLS (tls_ca '%s', tls_cert '%s'): %s",
				  opts->tls_ca ? opts->tls_ca : "-",
				  opts->tls_cert ? opts->tls_cert : "-", mosquitto_strerror(rc));
			goto fail;
		}
	}
	return c;
fail:
	mqttc_free(&c);
	return NULL;
}

void mqttc_run(struct mqttc *c, int timeout_ms)
{
	int64_t now = clock_mono_us();
	int rc, err;

	if (c->state == MQ_IDLE) {
		if (now < c->next_attempt_mono) {
			int64_t wait = c->next_attempt_mono - now;
			sleep_us(wait < timeout_ms * INT64_C(1000) ? wait
								   : timeout_ms * INT64_C(1000));
			return;
		}
		c->attempt_mono = now;
		errno = 0;
		rc = mosquitto_connect_async(c->mosq, c->opts.host, c->opts.port,
					     c->opts.keepalive);
		err = errno;
		if (rc != MOSQ_ERR_SUCCESS) {
			set_down(c, error_text(rc, err));
			return;
		}
		c->state = MQ_CONNECTING;
	}
	errno = 0;
	rc = mosquitto_loop(c->mosq, timeout_ms, 1);
	err = errno;
	if (rc != MOSQ_ERR_SUCCESS) {
		set_down(c, rc == MOSQ_ERR_CONN_LOST && err ? strerror(err) : error_text(rc, err));
		return;
	}
	if (c->state == MQ_CONNECTING && clock_mono_us() - c->attempt_mono > HANDSHAKE_US)
		set_down(c, "the broker did not answer the connection");
}

bool mqttc_connected(const struct mqttc *c)
{
	return c->state == MQ_CONNECTED;
}

int64_t mqttc_connections(const struct mqttc *c)
{
	return c->connections;
}

int mqttc_publish(struct mqttc *c, const char *topic, const void *payload, size_t len, bool retain)
{
	if (c->state != MQ_CONNECTED)
		return -ENOTCONN;
	int rc = mosquitto_publish(c->mosq, NULL, topic, (int)len, payload, 1, retain);
	switch (rc) {
	case MOSQ_ERR_SUCCESS: c->unacked++; return 0;
	case MOSQ_ERR_NOMEM: return -ENOMEM;
	case MOSQ_ERR_NO_CONN: return -ENOTCONN;
	case MOSQ_ERR_PAYLOAD_SIZE: return -E2BIG;
	default:
		log_debug("mqtt: cannot publish on '%s': %s", topic, mosquitto_strerror(rc));
		return -EIO;
	}
}

int mqttc_subscribe(struct mqttc *c, const char *pattern)
{
	int rc = mosquitto_subscribe(c->mosq, NULL, pattern, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warnx("mqtt: cannot subscribe to '%s': %s", pattern, mosquitto_strerror(rc));
		return -EIO;
	}
	return 0;
}

void mqttc_close(struct mqttc *c, int timeout_ms)
{
	if (!c || c->state != MQ_CONNECTED)
		return;
	/* wait for the broker to acknowledge what was sent: closing with its
	 * acknowledgements unread would reset the connection, and the broker
	 * could lose the last messages */
	int64_t deadline = clock_mono_us() + timeout_ms * INT64_C(1000);
	while (c->unacked > 0 && c->state == MQ_CONNECTED && clock_mono_us() < deadline)
		if (mosquitto_loop(c->mosq, 50, 1) != MOSQ_ERR_SUCCESS)
			break;
	mosquitto_disconnect(c->mosq);
	while (clock_mono_us() < deadline) {
		if (mosquitto_loop(c->mosq, 100, 1) != MOSQ_ERR_SUCCESS)
			break;
		if (mosquitto_socket(c->mosq) < 0)
			break;
	}
	c->state = MQ_IDLE;
}

void mqttc_free(struct mqttc **cp)
{
	struct mqttc *c = *cp;
	if (!c)
		return;
	if (c->mosq)
		mosquitto_destroy(c->mosq);
	free(c);
	*cp = NULL;
}
