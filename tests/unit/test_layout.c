/* catalog/layout: segment names made, parsed back (and refused), the tree
 * walked. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/layout.h"
#include "tests/unit/test.h"
#include "util/clock.h"
#include "util/fsutil.h"

#define SEC USEC_PER_SEC
#define T0 (INT64_C(1793599200) * SEC) /* 2026-11-02T06:00:00Z */

static void make_then_parse(void)
{
	static const struct {
		const char *camera;
		int64_t start_us, id;
	} cases[] = {
		{ "gate3", T0, 1 },
		{ "gate3", T0 + 123456, 7 },
		{ "gate3", INT64_C(1793664000) * SEC - 1, 9 }, /* 23:59:59.999999 */
		{ "yard", INT64_C(1767225600) * SEC, 2 },      /* new year */
		{ "c-1", INT64_C(1835440496) * SEC, 3 },       /* 2028-02-29 */
		{ "epoch", 0, 5 },
		{ "big", T0, INT64_C(9223372036854775807) },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[PATH_MAX];
		struct catalog_layout_name n;
		CHECK_INT(catalog_segment_relpath(cases[i].camera, cases[i].start_us, cases[i].id,
						  path, sizeof(path)),
			  0);
		CHECK_INT(catalog_layout_parse(path, &n), 0);
		CHECK_STR(n.camera, cases[i].camera);
		CHECK(n.has_date);
		CHECK_INT(n.start_s, cases[i].start_us / SEC);
		CHECK_INT(n.id, cases[i].id);
	}
}

static void parse_file_name(void)
{
	struct catalog_layout_name n;
	CHECK_INT(catalog_layout_parse("235959-42.mp4", &n), 0);
	CHECK_STR(n.camera, "");
	CHECK(!n.has_date);
	CHECK_INT(n.start_s, 23 * 3600 + 59 * 60 + 59);
	CHECK_INT(n.id, 42);
	CHECK_INT(catalog_layout_parse("000000-1.mp4", &n), 0);
	CHECK_INT(n.start_s, 0);
	CHECK_INT(n.id, 1);
}

static void refused(void)
{
	static const char *const bad[] = {
		"",
		"060000.mp4",
		"060000-.mp4",
		"060000-0.mp4",	 /* ids start at 1 */
		"060000-07.mp4", /* a leading zero: never made so */
		"060000--7.mp4", /* a sign */
		"060000-+7.mp4",
		"060000-7.mp4.part",
		"060000-7.MP4",
		"060000-7.mkv",
		"060000-7",
		"060000-7x.mp4",
		"060000-9223372036854775808.mp4", /* past int64 */
		"06000-7.mp4",
		"0600000-7.mp4",
		"ab0000-7.mp4",
		"240000-7.mp4",
		"066000-7.mp4",
		"060060-7.mp4",
		"gate3/2026/11/02/060000-07.mp4",
		"gate3/2026/02/30/060000-7.mp4", /* a day that does not exist */
		"gate3/2026/13/02/060000-7.mp4",
		"gate3/2026/00/02/060000-7.mp4",
		"gate3/2026/11/00/060000-7.mp4",
		"gate3/2026/11/2/060000-7.mp4",
		"gate3/26/11/02/060000-7.mp4",
		"gate3/2026/11/02/x/060000-7.mp4",
		"gate3/2026/11/060000-7.mp4",
		"/2026/11/02/060000-7.mp4",
		".quarantine/2026/11/02/060000-7.mp4", /* a dot-entry is no camera */
		"gate3//2026/11/02/060000-7.mp4",
		"gate3/2026/11/02/",
		"gate3/2026/11/02/060000-7.mp4/",
		"a-camera-name-longer-than-sixty-four-characters-is-not-one-vigil-names/"
		"2026/11/02/060000-7.mp4",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct catalog_layout_name n;
		int ret = catalog_layout_parse(bad[i], &n);
		if (ret != -EINVAL)
			test_fail(__FILE__, __LINE__, "'%s' parsed as a segment name (%d)", bad[i],
				  ret);
		CHECK_INT(n.id, 0);
	}
}

static void day_folder(void)
{
	char out[64];
	CHECK_INT(catalog_layout_day_folder("gate3", T0, out, sizeof(out)), 0);
	CHECK_STR(out, "gate3/2026/11/02");
	CHECK_INT(
		catalog_layout_day_folder("gate3", INT64_C(1793664000) * SEC - 1, out, sizeof(out)),
		0);
	CHECK_STR(out, "gate3/2026/11/02");
	CHECK_INT(catalog_layout_day_folder("gate3", T0, out, 10), -ENAMETOOLONG);
}

static void touch(const char *rel)
{
	char path[PATH_MAX], dir[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", test_dir(), rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	CHECK_INT(fs_mkdir_p(dir, 0750), 0);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
}

struct seen {
	char files[16][128];
	char dirs[16][128];
	int nfiles, ndirs;
	int stop_after;
};

static int record(const struct catalog_layout_entry *e, void *ctx)
{
	struct seen *s = ctx;
	if (e->is_dir) {
		if (s->ndirs < 16)
			snprintf(s->dirs[s->ndirs++], 128, "%s", e->relpath);
	} else {
		CHECK(strcmp(e->name, strrchr(e->relpath, '/') + 1) == 0);
		if (s->nfiles < 16)
			snprintf(s->files[s->nfiles++], 128, "%s", e->relpath);
	}
	return s->stop_after && s->nfiles == s->stop_after ? 7 : 0;
}

static bool has(char (*v)[128], int n, const char *want)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i], want) == 0)
			return true;
	return false;
}

static void walk_tree(void)
{
	touch("gate3/2026/11/02/060000-1.mp4");
	touch("gate3/2026/11/02/060100-2.mp4");
	touch("gate3/2026/11/02/notes.txt"); /* not footage */
	touch("gate3/2026/11/02/stray.mp4"); /* footage, though no segment name */
	touch("yard/2026/11/03/000000-3.mp4");
	touch(".quarantine/gate3/2026/11/01/235959-9.mp4");
	touch(".vigil.lock");
	touch("top.mp4"); /* not in a camera folder */

	struct seen all = { 0 };
	CHECK_INT(catalog_layout_walk(test_dir(), NULL, LAYOUT_WALK_RECURSE, record, &all), 0);
	CHECK_INT(all.nfiles, 4);
	CHECK(has(all.files, all.nfiles, "gate3/2026/11/02/060000-1.mp4"));
	CHECK(has(all.files, all.nfiles, "gate3/2026/11/02/060100-2.mp4"));
	CHECK(has(all.files, all.nfiles, "gate3/2026/11/02/stray.mp4"));
	CHECK(has(all.files, all.nfiles, "yard/2026/11/03/000000-3.mp4"));
	CHECK(has(all.dirs, all.ndirs, "gate3"));
	CHECK(has(all.dirs, all.ndirs, "gate3/2026/11/02"));
	CHECK(has(all.dirs, all.ndirs, "yard/2026/11/03"));
	CHECK_INT(all.ndirs, 8);

	struct seen one = { 0 };
	CHECK_INT(catalog_layout_walk(test_dir(), "gate3/2026/11/02", 0, record, &one), 0);
	CHECK_INT(one.nfiles, 3);
	CHECK_INT(one.ndirs, 0);

	struct seen cam = { 0 };
	CHECK_INT(catalog_layout_walk(test_dir(), "yard", LAYOUT_WALK_RECURSE, record, &cam), 0);
	CHECK_INT(cam.nfiles, 1);
	CHECK_INT(cam.ndirs, 3);

	struct seen q = { 0 };
	CHECK_INT(
		catalog_layout_walk(test_dir(), LAYOUT_QUARANTINE, LAYOUT_WALK_RECURSE, record, &q),
		0);
	CHECK_INT(q.nfiles, 1);
	CHECK_STR(q.files[0], ".quarantine/gate3/2026/11/01/235959-9.mp4");

	/* a folder that is not there is nothing to walk */
	struct seen none = { 0 };
	CHECK_INT(catalog_layout_walk(test_dir(), "nobody/2026/11/02", 0, record, &none), 0);
	CHECK_INT(none.nfiles + none.ndirs, 0);

	/* the callback stops the walk, and its value comes back */
	struct seen stop = { .stop_after = 1 };
	CHECK_INT(catalog_layout_walk(test_dir(), NULL, LAYOUT_WALK_RECURSE, record, &stop), 7);
	CHECK_INT(stop.nfiles, 1);
}

const struct test_case layout_tests[] = {
	{ "make_then_parse", make_then_parse },
	{ "parse_file_name", parse_file_name },
	{ "refused", refused },
	{ "day_folder", day_folder },
	{ "walk_tree", walk_tree },
	{ NULL, NULL },
};
