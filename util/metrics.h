/*
 * Metrics: a small registry of counters, gauges and histograms in the
 * Prometheus data model, its text exposition (format 0.0.4), and an HTTP
 * listener (libmicrohttpd) serving it as GET /metrics.
 *
 * Two kinds of series:
 *  - registered ones (metrics_counter, metrics_gauge, metrics_histogram),
 *    whose values live here and are updated with atomic operations from any
 *    thread, without a lock;
 *  - collected ones: a collector callback writes whole families at each
 *    scrape from figures that live elsewhere (a camera's status copy), so a
 *    series per camera needs no registration and no update on the hot path.
 *
 * Every update function accepts NULL and does nothing, so code that runs
 * with metrics off needs no test.
 *
 * Thread safety: updates from any thread; registration and collectors may
 * run while the listener serves (a mutex guards the lists, never the
 * values).  A collector runs on the listener's thread and must be quick:
 * it reads copies and counters, never a database.
 */
#ifndef VIGIL_UTIL_METRICS_H
#define VIGIL_UTIL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum metric_type {
	METRIC_COUNTER = 0,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

struct metrics;
struct metric;		 /* one counter or gauge series */
struct metric_histogram; /* one histogram series */
struct metrics_writer;	 /* what a collector writes into */

/* NULL on allocation failure. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics **m);

/*
 * The series of family name with these labels (NULL, or a NULL-terminated
 * list of name, value pairs), created on first use: asking again for the
 * same name and labels returns the same series.  NULL when name or a label
 * is not a valid Prometheus name, when the family exists with another
 * type, or on allocation failure.  The registry owns the series.
 */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
			       const char *const *labels);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
			     const char *const *labels);
/* bounds: the buckets' upper bounds, increasing (le="+Inf" is added). */
struct metric_histogram *metrics_histogram(struct metrics *m, const char *name, const char *help,
					   const double *bounds, size_t nbounds,
					   const char *const *labels);

void metric_add(struct metric *c, double v); /* a counter only grows: v >= 0 */
void metric_inc(struct metric *c);
void metric_set(struct metric *g, double v);
double metric_value(const struct metric *s);
void metric_observe(struct metric_histogram *h, double v);

/* Called at each scrape, in the order added, after the registered series. */
typedef void (*metrics_collect_fn)(void *ctx, struct metrics_writer *w);
/* 0 or -ENOMEM. */
int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *ctx);

/* Inside a collector: the header of a family, then its samples (a family's
 * samples must follow its header, before the next family). */
void metrics_family(struct metrics_writer *w, const char *name, enum metric_type type,
		    const char *help);
void metrics_sample(struct metrics_writer *w, const char *name, const char *const *labels,
		    double value);

/* Appends the exposition text of every series to out.  0, -ENOMEM or
 * -E2BIG (out's maximum). */
int metrics_render(struct metrics *m, struct buf *out);

/* ---- the listener -------------------------------------------------------- */

struct metrics_server;

/*
 * Serves m on host (an address or a name; "" for every address) and port
 * (0 picks a free one): GET (and HEAD) /metrics, 404 for any other path,
 * 405 for any other method.  m must outlive the server.  NULL with the
 * reason in err.
 */
struct metrics_server *metrics_server_start(struct metrics *m, const char *host, int port,
					    char *err, size_t errlen);
/* The port it listens on. */
int metrics_server_port(const struct metrics_server *s);
void metrics_server_stop(struct metrics_server **s);

#endif
