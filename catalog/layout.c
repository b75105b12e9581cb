/*
 * The layout of footage on disk: STORAGE/CAMERA/YYYY/MM/DD/HHMMSS-ID.mp4.
 * This file is its one owner: the catalog names new segments with it,
 * recovery and verify parse and walk the tree with it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "catalog/layout.h"
#include "util/clock.h"

int catalog_segment_relpath(const char *camera, int64_t start_us, int64_t id, char *out,
			    size_t size)
{
	struct tm tm;
	time_t s = (time_t)(start_us / USEC_PER_SEC - (start_us % USEC_PER_SEC < 0));

	gmtime_r(&s, &tm);
	int n = snprintf(out, size, "%s/%04d/%02d/%02d/%02d%02d%02d-%" PRId64 ".mp4", camera,
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, id);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
