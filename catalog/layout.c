/*
 * The layout of footage on disk: STORAGE/CAMERA/YYYY/MM/DD/HHMMSS-ID.mp4.
 * This file is its one owner: the catalog names new segments with it,
 * recovery and verify parse and walk the tree with it.
 *
 * Parsing accepts exactly what making writes: a parsed path is made again
 * and compared, so a date that does not exist, a leading zero or a sign in
 * the id never passes for a segment's name.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/layout.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/banned.h"

#define WALK_MAX_DEPTH 8

static int64_t floor_seconds(int64_t us)
{
	return us / USEC_PER_SEC - (us % USEC_PER_SEC < 0);
}

int catalog_segment_relpath(const char *camera, int64_t start_us, int64_t id, char *out,
			    size_t size)
{
	struct tm tm;
	time_t s = (time_t)floor_seconds(start_us);

	gmtime_r(&s, &tm);
	int n = snprintf(out, size, "%s/%04d/%02d/%02d/%02d%02d%02d-%" PRId64 ".mp4", camera,
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, id);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int catalog_layout_day_folder(const char *camera, int64_t us, char *out, size_t size)
{
	struct tm tm;
	time_t s = (time_t)floor_seconds(us);

	gmtime_r(&s, &tm);
	int n = snprintf(out, size, "%s/%04d/%02d/%02d", camera, tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* ---- parsing ------------------------------------------------------------- */

/* n decimal digits at s into *v; false if any is not a digit. */
static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil); the date need not exist, the caller checks it. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "HHMMSS-ID.mp4": seconds into the day and the id. */
static int parse_file_name(const char *name, int64_t *day_s, int64_t *id)
{
	int hh, mm, ss;

	if (!digits(name, 2, &hh) || !digits(name + 2, 2, &mm) || !digits(name + 4, 2, &ss) ||
	    name[6] != '-' || hh > 23 || mm > 59 || ss > 59)
		return -EINVAL;
	const char *p = name + 7;
	if (*p < '1' || *p > '9') /* no sign, no leading zero, not empty */
		return -EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(p, &end, 10);
	if (errno || strcmp(end, ".mp4") != 0)
		return -EINVAL;
	*day_s = (int64_t)hh * 3600 + mm * 60 + ss;
	*id = v;
	return 0;
}

int catalog_layout_parse(const char *path, struct catalog_layout_name *out)
{
	const char *slash = strchr(path, '/');
	int64_t day_s, id;

	memset(out, 0, sizeof(*out));
	if (!slash) {
		if (parse_file_name(path, &day_s, &id) < 0)
			return -EINVAL;
		out->start_s = day_s;
		out->id = id;
		return 0;
	}
	/* CAMERA/YYYY/MM/DD/NAME */
	size_t clen = (size_t)(slash - path);
	const char *date = slash + 1;
	int y, m, d;
	if (clen == 0 || clen >= sizeof(out->camera) || path[0] == '.' || !digits(date, 4, &y) ||
	    date[4] != '/' || !digits(date + 5, 2, &m) || date[7] != '/' ||
	    !digits(date + 8, 2, &d) || date[10] != '/' || m < 1 || m > 12 || d < 1 || d > 31)
		return -EINVAL;
	if (parse_file_name(date + 11, &day_s, &id) < 0)
		return -EINVAL;
	memcpy(out->camera, path, clen);
	out->camera[clen] = '\0';
	out->has_date = true;
	out->start_s = days_from_civil(y, m, d) * 86400 + day_s;
	out->id = id;
	/* 2026/02/30 would have been made as 2026/03/02 */
	char again[PATH_MAX];
	if (catalog_segment_relpath(out->camera, out->start_s * USEC_PER_SEC, id, again,
				    sizeof(again)) < 0 ||
	    strcmp(again, path) != 0) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	return 0;
}

/* ---- walking ------------------------------------------------------------- */

static bool is_footage_name(const char *name)
{
	size_t len = strlen(name);
	return len >= 5 && strcmp(name + len - 4, ".mp4") == 0;
}

static bool entry_is_dir(const char *storage, const char *rel, const struct dirent *de)
{
	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	char full[PATH_MAX];
	struct stat st;
	return fs_join(full, sizeof(full), storage, rel) == 0 && stat(full, &st) == 0 &&
	       S_ISDIR(st.st_mode);
}

static int walk_folder(const char *storage, const char *rel, int depth, bool recurse,
		       catalog_layout_fn fn, void *ctx)
{
	char dir[PATH_MAX];
	int ret = 0;

	if (depth > WALK_MAX_DEPTH || fs_join(dir, sizeof(dir), storage, rel) < 0)
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		char child[PATH_MAX];
		int n = snprintf(child, sizeof(child), "%s/%s", rel, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(child))
			continue;
		struct catalog_layout_entry e = { child, child + (n - strlen(de->d_name)), false };
		if (entry_is_dir(storage, child, de)) {
			e.is_dir = true;
			if ((ret = fn(&e, ctx)) == 0 && recurse)
				ret = walk_folder(storage, child, depth + 1, true, fn, ctx);
			continue;
		}
		if (is_footage_name(de->d_name))
			ret = fn(&e, ctx);
	}
	closedir(d);
	return ret;
}

int catalog_layout_walk(const char *storage, const char *rel, unsigned flags, catalog_layout_fn fn,
			void *ctx)
{
	if (rel && *rel) {
		char dir[PATH_MAX];
		if (fs_join(dir, sizeof(dir), storage, rel) < 0)
			return -ENAMETOOLONG;
		return walk_folder(storage, rel, 0, flags & LAYOUT_WALK_RECURSE, fn, ctx);
	}
	/* the camera folders: what is not a dot-entry and is a folder */
	DIR *d = opendir(storage);
	struct dirent *de;
	int ret = 0;
	while (ret == 0 && d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char full[PATH_MAX];
		struct stat st;
		if (fs_join(full, sizeof(full), storage, de->d_name) < 0 || stat(full, &st) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		struct catalog_layout_entry e = { de->d_name, de->d_name, true };
		if ((ret = fn(&e, ctx)) == 0)
			ret = walk_folder(storage, de->d_name, 0, true, fn, ctx);
	}
	if (d)
		closedir(d);
	return ret;
}
