/* util/metrics: the registry, the text exposition, and the listener over a
 * real loopback socket. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "util/metrics.h"

static char *render(struct metrics *m)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	CHECK_INT(metrics_render(m, &b), 0);
	return buf_detach(&b);
}

static void counters_and_gauges(void)
{
	struct metrics *m = metrics_new();
	const char *l1[] = { "camera", "c1", NULL };
	const char *l2[] = { "camera", "c2", NULL };
	struct metric *a = metrics_counter(m, "vigil_x_bytes_total", "Bytes.", l1);
	struct metric *b = metrics_counter(m, "vigil_x_bytes_total", "Bytes.", l2);
	CHECK(a && b && a != b);
	CHECK(metrics_counter(m, "vigil_x_bytes_total", "Bytes.", l1) == a); /* same series */
	CHECK(metrics_gauge(m, "vigil_x_bytes_total", "x", l1) == NULL);     /* other type */
	CHECK(metrics_gauge(m, "9bad", "x", NULL) == NULL);
	const char *bad[] = { "__x", "y", NULL };
	CHECK(metrics_gauge(m, "vigil_y", "x", bad) == NULL);
	metric_add(a, 1500);
	metric_inc(a);
	metric_add(a, -5); /* a counter never goes down */
	metric_inc(b);
	struct metric *g = metrics_gauge(m, "vigil_free_bytes", "Free.", NULL);
	metric_set(g, 2.5);
	metric_set(NULL, 1); /* metrics off: nothing happens */
	CHECK(metric_value(a) == 1501);
	char *t = render(m);
	CHECK_CONTAINS(t, "# HELP vigil_x_bytes_total Bytes.\n# TYPE vigil_x_bytes_total counter\n"
			  "vigil_x_bytes_total{camera=\"c1\"} 1501\n"
			  "vigil_x_bytes_total{camera=\"c2\"} 1\n");
	CHECK_CONTAINS(t, "# TYPE vigil_free_bytes gauge\nvigil_free_bytes 2.5\n");
	free(t);
	metrics_free(&m);
	CHECK(m == NULL);
}

static void label_values_escaped(void)
{
	struct metrics *m = metrics_new();
	const char *l[] = { "camera", "a\"b\\c\nd", NULL };
	metric_set(metrics_gauge(m, "vigil_g", "Line one\nline \\two", l), 1);
	char *t = render(m);
	CHECK_CONTAINS(t, "# HELP vigil_g Line one\\nline \\\\two\n");
	CHECK_CONTAINS(t, "vigil_g{camera=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(t);
	metrics_free(&m);
}

static void histogram_cumulative(void)
{
	struct metrics *m = metrics_new();
	const double bounds[] = { 0.001, 0.01, 0.1 };
	const double bad_bounds[] = { 0.1, 0.01 };
	CHECK(metrics_histogram(m, "vigil_h_seconds", "x", bad_bounds, 2, NULL) == NULL);
	struct metric_histogram *h = metrics_histogram(m, "vigil_fsync_duration_seconds",
						       "Fsync.", bounds, 3, NULL);
	CHECK(h != NULL);
	metric_observe(h, 0.0005);
	metric_observe(h, 0.001); /* on the bound: le is inclusive */
	metric_observe(h, 0.05);
	metric_observe(h, 3);
	char *t = render(m);
	CHECK_CONTAINS(t, "# TYPE vigil_fsync_duration_seconds histogram\n"
			  "vigil_fsync_duration_seconds_bucket{le=\"0.001\"} 2\n"
			  "vigil_fsync_duration_seconds_bucket{le=\"0.01\"} 2\n"
			  "vigil_fsync_duration_seconds_bucket{le=\"0.1\"} 3\n"
			  "vigil_fsync_duration_seconds_bucket{le=\"+Inf\"} 4\n"
			  "vigil_fsync_duration_seconds_sum 3.0515");
	CHECK_CONTAINS(t, "vigil_fsync_duration_seconds_count 4\n");
	free(t);
	metrics_free(&m);
}

static void collect_two(void *ctx, struct metrics_writer *w)
{
	int *calls = ctx;
	(*calls)++;
	metrics_family(w, "vigil_camera_up", METRIC_GAUGE, "1 recording, 0 not.");
	const char *a[] = { "camera", "c1", NULL }, *b[] = { "camera", "c2", NULL };
	metrics_sample(w, "vigil_camera_up", a, 1);
	metrics_sample(w, "vigil_camera_up", b, 0);
}

static void collectors_after_series(void)
{
	struct metrics *m = metrics_new();
	int calls = 0;
	metric_inc(metrics_counter(m, "vigil_a_total", "A.", NULL));
	CHECK_INT(metrics_add_collector(m, collect_two, &calls), 0);
	char *t = render(m);
	CHECK_INT(calls, 1);
	CHECK_CONTAINS(t, "vigil_a_total 1\n# HELP vigil_camera_up 1 recording, 0 not.\n"
			  "# TYPE vigil_camera_up gauge\nvigil_camera_up{camera=\"c1\"} 1\n"
			  "vigil_camera_up{camera=\"c2\"} 0\n");
	free(t);
	metrics_free(&m);
}

static struct metric *shared;

static void *add_many(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++)
		metric_inc(shared);
	return NULL;
}

static void concurrent_adds_lose_nothing(void)
{
	struct metrics *m = metrics_new();
	pthread_t t[4];
	shared = metrics_counter(m, "vigil_n_total", "N.", NULL);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, add_many, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK(metric_value(shared) == 400000);
	metrics_free(&m);
}

/* One HTTP/1.0 request to 127.0.0.1:port; the reply in out. */
static int http(int port, const char *request, char *out, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (write(fd, request, strlen(request)) < 0) {
		close(fd);
		return -1;
	}
	size_t n = 0;
	ssize_t r;
	while (n + 1 < size && (r = read(fd, out + n, size - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fd);
	return 0;
}

static void listener_serves_metrics_only(void)
{
	struct metrics *m = metrics_new();
	char err[256], reply[8192];
	metric_set(metrics_gauge(m, "vigil_storage_free_bytes", "Free.", NULL), 42);
	struct metrics_server *s = metrics_server_start(m, "127.0.0.1", 0, err, sizeof(err));
	CHECK(s != NULL);
	if (!s) {
		metrics_free(&m);
		return;
	}
	int port = metrics_server_port(s);
	CHECK(port > 0);
	CHECK_INT(http(port, "GET /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply)), 0);
	CHECK_CONTAINS(reply, " 200 OK");
	CHECK_CONTAINS(reply, "text/plain; version=0.0.4");
	CHECK_CONTAINS(reply, "\r\n\r\n# HELP vigil_storage_free_bytes Free.");
	CHECK_CONTAINS(reply, "vigil_storage_free_bytes 42\n");
	CHECK_INT(http(port, "GET /other HTTP/1.0\r\n\r\n", reply, sizeof(reply)), 0);
	CHECK_CONTAINS(reply, " 404 ");
	CHECK_INT(http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", reply,
		       sizeof(reply)),
		  0);
	CHECK_CONTAINS(reply, " 405 ");
	CHECK_CONTAINS(reply, "Allow: GET, HEAD");
	/* the same port twice: the second is refused with a reason */
	struct metrics_server *s2 = metrics_server_start(m, "127.0.0.1", port, err, sizeof(err));
	CHECK(s2 == NULL);
	CHECK_CONTAINS(err, "cannot listen");
	metrics_server_stop(&s);
	CHECK(s == NULL);
	metrics_free(&m);
}

const struct test_case metrics_tests[] = {
	{ "counters_and_gauges", counters_and_gauges },
	{ "label_values_escaped", label_values_escaped },
	{ "histogram_cumulative", histogram_cumulative },
	{ "collectors_after_series", collectors_after_series },
	{ "concurrent_adds_lose_nothing", concurrent_adds_lose_nothing },
	{ "listener_serves_metrics_only", listener_serves_metrics_only },
	{ NULL, NULL },
};
