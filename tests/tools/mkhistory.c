/*
 * mkhistory: builds a synthetic recording history through the catalog API,
 * for tests and benchmarks of retention: months of segments in minutes.
 *
 *   mkhistory -c CONFIG --camera ID --from T --to T [--segment-seconds N]
 *             [--bytes N] [--gap FROM/TO/REASON]... [--no-files] [--bulk]
 *
 * Segments cover [from, to) back to back, except the gaps, which are
 * recorded as gap rows with their reason.  Each segment gets a small real
 * file (deterministic content of --bytes bytes) at its catalog path, so
 * sizes and hashes are real and verify can check them; --no-files skips the
 * files (report benchmarks).  The clock is set to each segment's end while
 * it is catalogued, so audit times look like a real recording's.  --bulk
 * trades durability for speed (one transaction per thousands of rows).
 * Prints the number of segments made.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/timefmt.h"

#define MAX_GAPS 64

struct gap_spec {
	int64_t from, to;
	enum gap_reason reason;
};

static int parse_gap(const char *s, struct gap_spec *g)
{
	char a[64], b[64], r[64];
	if (sscanf(s, "%63[^/]/%63[^/]/%63s", a, b, r) != 3)
		return -1;
	if (time_parse(a, &g->from) < 0 || time_parse(b, &g->to) < 0 || g->to <= g->from ||
	    catalog_gap_reason_parse(r, &g->reason) < 0)
		return -1;
	return 0;
}

static int write_segment_file(const char *path, int64_t id, int64_t bytes, char *hex)
{
	char dir[PATH_MAX];
	static char data[1 << 20];
	int ret;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	if ((ret = fs_mkdir_p(dir, 0750)) < 0)
		return ret;
	if (bytes > (int64_t)sizeof(data))
		bytes = sizeof(data);
	int n = snprintf(data, sizeof(data), "synthetic segment %" PRId64 "\n", id);
	for (int64_t i = n; i < bytes; i++)
		data[i] = (char)('a' + (id + i) % 26);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	ret = fs_write_all(fd, data, (size_t)bytes);
	close(fd);
	if (ret == 0)
		sha256_hex(data, (size_t)bytes, hex);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "camera", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'f' },   { "to", required_argument, NULL, 't' },
		{ "segment-seconds", required_argument, NULL, 's' },
		{ "bytes", required_argument, NULL, 'b' },  { "gap", required_argument, NULL, 'g' },
		{ "no-files", no_argument, NULL, 'N' },	    { "bulk", no_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *camera = NULL;
	int64_t from = 0, to = 0, seg_len = 60 * USEC_PER_SEC, bytes = 4096;
	struct gap_spec gaps[MAX_GAPS];
	int ngaps = 0, c;
	bool files = true, bulk = false;

	log_init("mkhistory", LOG_LEVEL_WARN);
	while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'C': camera = optarg; break;
		case 'f':
			if (time_parse(optarg, &from) < 0)
				goto usage;
			break;
		case 't':
			if (time_parse(optarg, &to) < 0)
				goto usage;
			break;
		case 's': seg_len = strtoll(optarg, NULL, 10) * USEC_PER_SEC; break;
		case 'b': bytes = strtoll(optarg, NULL, 10); break;
		case 'g':
			if (ngaps == MAX_GAPS || parse_gap(optarg, &gaps[ngaps++]) < 0) {
				fprintf(stderr, "mkhistory: bad --gap '%s' (FROM/TO/REASON)\n", optarg);
				return 2;
			}
			break;
		case 'N': files = false; break;
		case 'B': bulk = true; break;
		default: goto usage;
		}
	}
	if (!config_path || !camera || to <= from || seg_len <= 0 || bytes < 64)
		goto usage;

	struct config_problems problems;
	struct config *cfg = config_load_flags(config_path, CONFIG_SKIP_CREDENTIALS, &problems);
	if (!cfg) {
		config_problems_print(&problems, stderr);
		return 2;
	}
	config_problems_release(&problems);
	fs_mkdir_p(cfg->storage_path, 0750);
	char err[512];
	struct catalog *cat = catalog_open(cfg->catalog_path, CATALOG_READ_WRITE, err, sizeof(err));
	if (!cat) {
		fprintf(stderr, "mkhistory: %s\n", err);
		return 1;
	}
	if (bulk && catalog_bulk_load(cat, true) < 0)
		return 1;

	int64_t made = 0;
	for (int64_t t = from; t < to;) {
		int64_t end = t + seg_len < to ? t + seg_len : to;
		bool in_gap = false;
		for (int g = 0; g < ngaps; g++) {
			if (t >= gaps[g].from && t < gaps[g].to) {
				clock_set_now(gaps[g].to);
				catalog_gap_add(cat, camera, gaps[g].from, gaps[g].to, gaps[g].reason,
						"synthetic outage");
				t = gaps[g].to;
				in_gap = true;
				break;
			}
			if (gaps[g].from > t && gaps[g].from < end)
				end = gaps[g].from;
		}
		if (in_gap)
			continue;
		int64_t id;
		char rel[CATALOG_PATH_MAX], path[PATH_MAX];
		struct segment_result r = { .end_us = end, .duration_us = end - t };
		clock_set_now(t);
		if (catalog_segment_begin(cat, camera, t, "h264", 640, 360, false, &id, rel,
					  sizeof(rel)) < 0)
			return 1;
		if (files) {
			fs_join(path, sizeof(path), cfg->storage_path, rel);
			if (write_segment_file(path, id, bytes, r.sha256) < 0) {
				fprintf(stderr, "mkhistory: cannot write '%s'\n", path);
				return 1;
			}
		} else {
			snprintf(r.sha256, sizeof(r.sha256), "%064" PRId64, id);
		}
		r.bytes = bytes;
		r.frames = (end - t) / 40000;
		r.keyframes = (end - t) / (2 * USEC_PER_SEC) + 1;
		clock_set_now(end);
		if (catalog_segment_finish(cat, id, &r, SEGMENT_COMPLETE) < 0)
			return 1;
		made++;
		t = end;
	}
	if (bulk)
		catalog_bulk_load(cat, false);
	catalog_close(&cat);
	config_free(&cfg);
	printf("%" PRId64 "\n", made);
	return 0;
usage:
	fprintf(stderr, "usage: mkhistory -c CONFIG --camera ID --from T --to T "
			"[--segment-seconds N] [--bytes N] [--gap FROM/TO/REASON]... [--no-files] "
			"[--bulk]\n");
	return 2;
}
