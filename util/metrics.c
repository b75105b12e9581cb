/*
 * The metrics registry, its text exposition and the /metrics listener
 * (util/metrics.h).
 *
 * Values are doubles kept as their bit patterns in 64-bit atomics: a set is
 * a store, an add a compare-and-swap loop, so updating a counter costs a
 * few nanoseconds and never blocks a camera thread.  A histogram keeps one
 * atomic count per bucket (not cumulative, so an observation touches one
 * bucket); the exposition adds them up, and derives _count from the same
 * sum so that _count always equals the +Inf bucket even while observations
 * land during a scrape.
 *
 * Families keep their registration order; the text is rendered into one
 * buffer per scrape and handed to libmicrohttpd as a copy.
 *
 * Thread safety: m->lock guards the family and collector lists (appended at
 * start-up, walked by each scrape); values are atomics.  The listener runs
 * libmicrohttpd's one internal thread, so scrapes are serialised.
 */
#include "util/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/banned.h"

#define NAME_MAX_LEN 128
#define LABELS_MAX_LEN 1024
/* a scrape's text: 256 cameras take about 440 kB (bench/bench_metrics.py) */
#define BODY_MAX (64 * 1024 * 1024)

struct series {
	struct series *next;
	char *labels; /* rendered: a="x",b="y" (no braces), "" for none */
	_Atomic uint64_t bits;
	/* histograms */
	double *bounds;
	size_t nbounds;
	_Atomic uint64_t *buckets; /* nbounds + 1, the last is +Inf */
	_Atomic uint64_t sum_bits;
};

struct family {
	struct family *next;
	char name[NAME_MAX_LEN];
	char *help;
	enum metric_type type;
	struct series *series, **tail;
};

struct collector {
	struct collector *next;
	metrics_collect_fn fn;
	void *ctx;
};

struct metrics {
	pthread_mutex_t lock;
	struct family *families, **ftail;
	struct collector *collectors, **ctail;
};

struct metrics_writer {
	struct buf *out;
	int error;
};

/* ---- values ------------------------------------------------------------- */

static uint64_t to_bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

static double from_bits(uint64_t b)
{
	double v;
	memcpy(&v, &b, sizeof(v));
	return v;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(p, &old, to_bits(from_bits(old) + v),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

void metric_add(struct metric *c, double v)
{
	if (c && v > 0)
		atomic_add_double(&((struct series *)c)->bits, v);
}

void metric_inc(struct metric *c)
{
	metric_add(c, 1);
}

void metric_set(struct metric *g, double v)
{
	if (g)
		atomic_store_explicit(&((struct series *)g)->bits, to_bits(v),
				      memory_order_relaxed);
}

double metric_value(const struct metric *s)
{
	if (!s)
		return 0;
	return from_bits(
		atomic_load_explicit(&((struct series *)(uintptr_t)s)->bits, memory_order_relaxed));
}

void metric_observe(struct metric_histogram *h, double v)
{
	struct series *s = (struct series *)h;
	if (!s || isnan(v))
		return;
	size_t i = 0;
	while (i < s->nbounds && v > s->bounds[i])
		i++;
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	atomic_add_double(&s->sum_bits, v);
}

/* ---- names, labels, text ------------------------------------------------- */

static bool valid_name(const char *s, bool label)
{
	if (!s || !*s || strlen(s) >= NAME_MAX_LEN)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (!label && c == ':') || (p > s && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return !label || strncmp(s, "__", 2) != 0;
}

/* Appends s escaped for a label value (\\, \", \n) or, help, for HELP text
 * (\\ and \n only). */
static int append_escaped(struct buf *b, const char *s, bool help)
{
	int ret = 0;
	for (const char *p = s; *p && ret == 0; p++) {
		if (*p == '\\')
			ret = buf_append(b, "\\\\", 2);
		else if (*p == '\n')
			ret = buf_append(b, "\\n", 2);
		else if (*p == '"' && !help)
			ret = buf_append(b, "\\\"", 2);
		else
			ret = buf_append(b, p, 1);
	}
	return ret;
}

/* The labels as a="x",b="y" into b; -EINVAL for a bad label name. */
static int render_labels(struct buf *b, const char *const *labels)
{
	int ret = 0;
	for (size_t i = 0; labels && labels[i] && ret == 0; i += 2) {
		if (!valid_name(labels[i], true) || !labels[i + 1])
			return -EINVAL;
		if (i > 0)
			ret = buf_append(b, ",", 1);
		if (ret == 0)
			ret = buf_printf(b, "%s=\"", labels[i]);
		if (ret == 0)
			ret = append_escaped(b, labels[i + 1], false);
		if (ret == 0)
			ret = buf_append(b, "\"", 1);
	}
	return ret;
}

/* A sample value as Prometheus reads it: integers without a fraction. */
static int append_value(struct buf *b, double v)
{
	if (isnan(v))
		return buf_append_str(b, "NaN");
	if (isinf(v))
		return buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
	if (v == floor(v) && fabs(v) < 1e15)
		return buf_printf(b, "%.0f", v);
	/* the shortest of the two that reads back as v */
	char t[40];
	snprintf(t, sizeof(t), "%.15g", v);
	if (strtod(t, NULL) != v)
		snprintf(t, sizeof(t), "%.17g", v);
	return buf_append_str(b, t);
}

static int append_sample(struct buf *b, const char *name, const char *suffix, const char *labels,
			 const char *extra, double v)
{
	int ret = buf_printf(b, "%s%s", name, suffix);
	bool any = labels[0] || extra;
	if (ret == 0 && any)
		ret = buf_printf(b, "{%s%s%s}", labels, labels[0] && extra ? "," : "",
				 extra ? extra : "");
	if (ret == 0)
		ret = buf_append(b, " ", 1);
	if (ret == 0)
		ret = append_value(b, v);
	if (ret == 0)
		ret = buf_append(b, "\n", 1);
	return ret;
}

static const char *type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER: return "counter";
	case METRIC_GAUGE: return "gauge";
	case METRIC_HISTOGRAM: return "histogram";
	}
	return "untyped";
}

static int append_header(struct buf *b, const char *name, enum metric_type type, const char *help)
{
	int ret = buf_printf(b, "# HELP %s ", name);
	if (ret == 0)
		ret = append_escaped(b, help ? help : "", true);
	if (ret == 0)
		ret = buf_printf(b, "\n# TYPE %s %s\n", name, type_name(type));
	return ret;
}

/* ---- the registry --------------------------------------------------------- */

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	m->ftail = &m->families;
	m->ctail = &m->collectors;
	return m;
}

static void series_free(struct series *s)
{
	free(s->labels);
	free(s->bounds);
	free(s->buckets);
	free(s);
}

void metrics_free(struct metrics **mp)
{
	struct metrics *m = *mp;
	if (!m)
		return;
	while (m->families) {
		struct family *f = m->families;
		m->families = f->next;
		while (f->series) {
			struct series *s = f->series;
			f->series = s->next;
			series_free(s);
		}
		free(f->help);
		free(f);
	}
	while (m->collectors) {
		struct collector *c = m->collectors;
		m->collectors = c->next;
		free(c);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
	*mp = NULL;
}

/* Finds or creates the family (m->lock held). */
static struct family *family_get(struct metrics *m, const char *name, enum metric_type type,
				 const char *help)
{
	struct family *f;
	for (f = m->families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f->type == type ? f : NULL;
	if (!(f = calloc(1, sizeof(*f))))
		return NULL;
	if (!(f->help = strdup(help ? help : ""))) {
		free(f);
		return NULL;
	}
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->type = type;
	f->tail = &f->series;
	*m->ftail = f;
	m->ftail = &f->next;
	return f;
}

static struct series *series_get(struct metrics *m, const char *name, enum metric_type type,
				 const char *help, const char *const *labels, const double *bounds,
				 size_t nbounds)
{
	struct buf lb;
	struct series *s = NULL;

	if (!m || !valid_name(name, false))
		return NULL;
	buf_init(&lb, LABELS_MAX_LEN);
	if (render_labels(&lb, labels) < 0 || buf_append(&lb, "", 0) < 0)
		goto out;
	pthread_mutex_lock(&m->lock);
	struct family *f = family_get(m, name, type, help);
	if (f) {
		for (s = f->series; s; s = s->next)
			if (strcmp(s->labels, lb.data) == 0)
				break;
		if (!s && (s = calloc(1, sizeof(*s)))) {
			s->labels = buf_detach(&lb);
			if (type == METRIC_HISTOGRAM) {
				s->nbounds = nbounds;
				s->bounds = calloc(nbounds ? nbounds : 1, sizeof(*s->bounds));
				s->buckets = calloc(nbounds + 1, sizeof(*s->buckets));
				if (s->bounds)
					memcpy(s->bounds, bounds, nbounds * sizeof(*bounds));
			}
			if (!s->labels ||
			    (type == METRIC_HISTOGRAM && (!s->bounds || !s->buckets))) {
				series_free(s);
				s = NULL;
			} else {
				*f->tail = s;
				f->tail = &s->next;
			}
		}
	}
	pthread_mutex_unlock(&m->lock);
out:
	buf_release(&lb);
	return s;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
			       const char *const *labels)
{
	return (struct metric *)series_get(m, name, METRIC_COUNTER, help, labels, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
			     const char *const *labels)
{
	return (struct metric *)series_get(m, name, METRIC_GAUGE, help, labels, NULL, 0);
}

struct metric_histogram *metrics_histogram(struct metrics *m, const char *name, const char *help,
					   const double *bounds, size_t nbounds,
					   const char *const *labels)
{
	for (size_t i = 1; i < nbounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			return NULL;
	return (struct metric_histogram *)series_get(m, name, METRIC_HISTOGRAM, help, labels,
						     bounds, nbounds);
}

int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *ctx)
{
	struct collector *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->ctx = ctx;
	pthread_mutex_lock(&m->lock);
	*m->ctail = c;
	m->ctail = &c->next;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* ---- exposition ----------------------------------------------------------- */

void metrics_family(struct metrics_writer *w, const char *name, enum metric_type type,
		    const char *help)
{
	if (w->error == 0)
		w->error = append_header(w->out, name, type, help);
}

void metrics_sample(struct metrics_writer *w, const char *name, const char *const *labels,
		    double value)
{
	char lbuf[LABELS_MAX_LEN];

	if (w->error)
		return;
	/* labels rendered on the stack: a collector writes thousands of these */
	size_t n = 0;
	lbuf[0] = '\0';
	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		int k = snprintf(lbuf + n, sizeof(lbuf) - n, "%s%s=\"", i ? "," : "", labels[i]);
		if (k < 0 || (size_t)k >= sizeof(lbuf) - n)
			goto too_long;
		n += (size_t)k;
		for (const char *p = labels[i + 1]; *p; p++) {
			const char *esc = *p == '\\'   ? "\\\\"
					  : *p == '"'  ? "\\\""
					  : *p == '\n' ? "\\n"
						       : NULL;
			size_t len = esc ? 2 : 1;
			if (n + len + 2 >= sizeof(lbuf))
				goto too_long;
			memcpy(lbuf + n, esc ? esc : p, len);
			n += len;
		}
		lbuf[n++] = '"';
		lbuf[n] = '\0';
	}
	w->error = append_sample(w->out, name, "", lbuf, NULL, value);
	return;
too_long:
	w->error = -E2BIG;
}

static int render_family(struct buf *out, const struct family *f)
{
	int ret = append_header(out, f->name, f->type, f->help);
	for (const struct series *s = f->series; s && ret == 0; s = s->next) {
		if (f->type != METRIC_HISTOGRAM) {
			double v = from_bits(atomic_load_explicit(
				&((struct series *)(uintptr_t)s)->bits, memory_order_relaxed));
			ret = append_sample(out, f->name, "", s->labels, NULL, v);
			continue;
		}
		uint64_t cum = 0;
		char le[64];
		for (size_t i = 0; i <= s->nbounds && ret == 0; i++) {
			cum += atomic_load_explicit(&((struct series *)(uintptr_t)s)->buckets[i],
						    memory_order_relaxed);
			if (i == s->nbounds) {
				snprintf(le, sizeof(le), "le=\"+Inf\"");
			} else {
				/* the shortest text that reads back as the bound */
				snprintf(le, sizeof(le), "le=\"%.15g\"", s->bounds[i]);
			}
			ret = append_sample(out, f->name, "_bucket", s->labels, le, (double)cum);
		}
		double sum = from_bits(atomic_load_explicit(
			&((struct series *)(uintptr_t)s)->sum_bits, memory_order_relaxed));
		if (ret == 0)
			ret = append_sample(out, f->name, "_sum", s->labels, NULL, sum);
		if (ret == 0)
			ret = append_sample(out, f->name, "_count", s->labels, NULL, (double)cum);
	}
	return ret;
}

int metrics_render(struct metrics *m, struct buf *out)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	for (const struct family *f = m->families; f && ret == 0; f = f->next)
		if (f->series)
			ret = render_family(out, f);
	struct metrics_writer w = { .out = out, .error = ret };
	for (const struct collector *c = m->collectors; c && w.error == 0; c = c->next)
		c->fn(c->ctx, &w);
	ret = w.error;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* ---- the listener ---------------------------------------------------------- */

struct metrics_server {
	struct MHD_Daemon *d;
	struct metrics *m;
	int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const char *body, size_t len, bool allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **req)
{
	struct metrics_server *s = cls;
	static const char text[] = "text/plain; charset=utf-8";
	(void)version;
	(void)upload;
	(void)req;

	/* a body is not wanted: drop it unread */
	*upload_size = 0;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "method not allowed\n", 19,
			     true);
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, text, "not found: try /metrics\n", 24, false);

	struct buf out;
	buf_init(&out, BODY_MAX);
	int ret = metrics_render(s->m, &out);
	enum MHD_Result r;
	if (ret < 0)
		r = reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "cannot render the metrics\n",
			  26, false);
	else
		r = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
			  out.data ? out.data : "", out.len, false);
	buf_release(&out);
	return r;
}

struct metrics_server *metrics_server_start(struct metrics *m, const char *host, int port,
					    char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;

	int gai = getaddrinfo(host[0] ? host : NULL, NULL, &hints, &ai);
	if (gai != 0 || !ai) {
		snprintf(err, errlen, "metrics: cannot resolve '%s': %s", host, gai_strerror(gai));
		return NULL;
	}
	struct sockaddr_storage sa;
	memset(&sa, 0, sizeof(sa));
	memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
	bool v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	if (v6)
		((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);

	struct metrics_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->m = m;
	/* a scraper needs one connection; a slow or hostile client costs
	 * little: few connections, short timeouts, small requests */
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | (v6 ? MHD_USE_IPv6 : 0),
				(uint16_t)port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)8,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen, "metrics: cannot listen on %s%s%s:%d (address in use?)",
			 v6 ? "[" : "", host, v6 ? "]" : "", port);
		free(s);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : port;
	return s;
}

int metrics_server_port(const struct metrics_server *s)
{
	return s ? s->port : -1;
}

void metrics_server_stop(struct metrics_server **sp)
{
	struct metrics_server *s = *sp;
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s);
	*sp = NULL;
}
