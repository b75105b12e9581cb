/*
 * catbench: what a recorder feels of the catalog.  For SECONDS, every
 * 100 ms, adds one segment (begin + finish, as a camera worker does at each
 * segment boundary) to the catalog at PATH and times it; prints the latency
 * percentiles as JSON.  Run beside a sweep to see whether deleting slows
 * recording down.
 *
 * usage: catbench CATALOG SECONDS [STOPFILE]   (also stops once STOPFILE exists)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "util/clock.h"
#include "util/log.h"

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	char err[512];
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: catbench CATALOG SECONDS [STOPFILE]\n");
		return 2;
	}
	log_init("catbench", LOG_LEVEL_WARN);
	struct catalog *cat = catalog_open(argv[1], CATALOG_READ_WRITE, err, sizeof(err));
	if (!cat) {
		fprintf(stderr, "catbench: %s\n", err);
		return 1;
	}
	int64_t until = clock_mono_us() + atoll(argv[2]) * USEC_PER_SEC;
	int64_t *lat = calloc(100000, sizeof(*lat));
	size_t n = 0;
	while (clock_mono_us() < until && n < 100000) {
		if (argc == 4 && access(argv[3], F_OK) == 0)
			break;
		int64_t t0 = clock_mono_us(), id;
		char rel[CATALOG_PATH_MAX];
		struct segment_result r = { .end_us = clock_wall_us() + 60 * USEC_PER_SEC,
					    .duration_us = 60 * USEC_PER_SEC, .bytes = 1 };
		snprintf(r.sha256, sizeof(r.sha256), "%064d", 0);
		if (catalog_segment_begin(cat, "probe", clock_wall_us(), "h264", 1, 1, false, &id, rel,
					  sizeof(rel)) < 0 ||
		    catalog_segment_finish(cat, id, &r, SEGMENT_COMPLETE) < 0) {
			fprintf(stderr, "catbench: catalog write failed\n");
			return 1;
		}
		lat[n++] = clock_mono_us() - t0;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	qsort(lat, n, sizeof(*lat), cmp);
	printf("{\"writes\": %zu, \"p50\": %.2f, \"p99\": %.2f, \"max\": %.2f}\n", n,
	       n ? lat[n / 2] / 1e3 : 0.0, n ? lat[n * 99 / 100] / 1e3 : 0.0,
	       n ? lat[n - 1] / 1e3 : 0.0);
	catalog_close(&cat);
	free(lat);
	return 0;
}
