/*
 * One MQTT connection driven by its owner's thread: libmosquitto's
 * non-threaded API behind a loop that (re)connects with backoff from the
 * very first attempt, whatever went wrong (refused, DNS, TLS, credentials,
 * a broker that accepts TCP but never answers).  Publishing is refused
 * while not connected, so nothing queues up during an outage: the owner
 * republishes its current state from the connected callback instead.
 * Used by the health publisher (health/) and the checker (tickets/); it
 * knows no config: its callers fill struct mqtt_options from theirs.
 *
 * Thread safety: every function is called from the owner's thread, and the
 * callbacks run on it, inside mqttc_run().
 */
#ifndef VIGIL_UTIL_MQTT_H
#define VIGIL_UTIL_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mqttc;

/* Where and how to connect; the strings must outlive the connection.
 * NULL username: anonymous; NULL tls_ca and tls_cert: plain MQTT. */
struct mqtt_options {
	const char *host;
	int port;
	int keepalive;
	const char *username, *password;
	const char *tls_ca, *tls_cert, *tls_key;
};

struct mqttc_callbacks {
	/* The broker accepted the connection (the first or a reconnection). */
	void (*connected)(void *ctx);
	/* A message on a subscribed topic. */
	void (*message)(void *ctx, const char *topic, const void *payload, size_t len,
			bool retained);
	void *ctx;
};

/*
 * A connection to the broker of opts (copied) as client_id.  will_topic/will_payload: the
 * retained QoS 1 will, or NULL.  NULL on failure (logged).
 */
struct mqttc *mqttc_new(const struct mqtt_options *opts, const char *client_id,
			const char *will_topic, const char *will_payload,
			const struct mqttc_callbacks *cb);

/* Runs the network for at most timeout_ms: connects when an attempt is
 * due, else reads and writes.  Never blocks longer (DNS aside). */
void mqttc_run(struct mqttc *c, int timeout_ms);

bool mqttc_connected(const struct mqttc *c);
/* How many times the broker has accepted us. */
int64_t mqttc_connections(const struct mqttc *c);

/* QoS 1.  Returns 0, -ENOTCONN when not connected, or another negative
 * errno. */
int mqttc_publish(struct mqttc *c, const char *topic, const void *payload, size_t len, bool retain);
int mqttc_subscribe(struct mqttc *c, const char *pattern);

/* Sends what is queued (up to timeout_ms) and disconnects cleanly. */
void mqttc_close(struct mqttc *c, int timeout_ms);
void mqttc_free(struct mqttc **c);

#endif
