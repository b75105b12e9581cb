/*
 * vigil verify: the catalog against its audit chain (catalog_verify), and
 * the files against the catalog.  Every footage file is re-hashed (SHA-256)
 * unless asked not to, so a changed byte anywhere is found; the storage
 * tree is walked for footage files the catalog does not know; files
 * quarantined at start-up are reported until someone deals with them.
 *
 * Exports are checked against their manifest: the MP4's own hash, and each
 * source segment against the catalog and its file.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "retention/retention.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/timefmt.h"
#include "util/banned.h"

struct verify_ctx {
	const struct config *cfg;
	struct catalog *cat;
	const struct verify_options *opts;
	catalog_problem_fn fn;
	void *ctx;
	struct verify_counts *counts;
};

static int problem(struct verify_ctx *v, const char *kind, const char *camera, int64_t segment,
		   const char *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int problem(struct verify_ctx *v, const char *kind, const char *camera, int64_t segment,
		   const char *path, const char *fmt, ...)
{
	struct catalog_problem p = { .kind = kind, .segment_id = segment };
	va_list ap;

	snprintf(p.camera, sizeof(p.camera), "%s", camera ? camera : "");
	snprintf(p.path, sizeof(p.path), "%s", path ? path : "");
	va_start(ap, fmt);
	vsnprintf(p.detail, sizeof(p.detail), fmt, ap);
	va_end(ap);
	v->counts->problems++;
	return v->fn(&p, v->ctx);
}

static int count_catalog_problem(const struct catalog_problem *p, void *opaque)
{
	struct verify_ctx *v = opaque;
	v->counts->problems++;
	return v->fn(p, v->ctx);
}

/* A live segment's file: there, the right size, the right hash. */
static int check_file(const struct catalog_segment *seg, void *opaque)
{
	struct verify_ctx *v = opaque;
	char path[PATH_MAX], hex[SHA256_HEX_SIZE];
	struct stat st;
	int64_t bytes;

	if (seg->state != SEGMENT_COMPLETE && seg->state != SEGMENT_RECOVERED)
		return 0;
	v->counts->segments++;
	if (fs_join(path, sizeof(path), v->cfg->storage_path, seg->path) < 0)
		return 0;
	if (stat(path, &st) < 0)
		return problem(v, "missing-file", seg->camera, seg->id, seg->path,
			       "segment %" PRId64 ": %s", seg->id, strerror(errno));
	if (st.st_size != seg->bytes)
		return problem(v, "changed-file", seg->camera, seg->id, seg->path,
			       "segment %" PRId64 ": %lld bytes on disk, %" PRId64
			       " in the catalog",
			       seg->id, (long long)st.st_size, seg->bytes);
	if (!v->opts->hash_files)
		return 0;
	int ret = sha256_file_hex(path, hex, &bytes);
	if (ret < 0)
		return problem(v, "missing-file", seg->camera, seg->id, seg->path,
			       "segment %" PRId64 ": cannot read: %s", seg->id, strerror(-ret));
	if (strcmp(hex, seg->sha256) != 0)
		return problem(v, "changed-file", seg->camera, seg->id, seg->path,
			       "segment %" PRId64 ": SHA-256 %s, catalog says %s", seg->id, hex,
			       seg->sha256);
	return 0;
}

/* A footage file met walking the camera folders: the catalog must know it. */
static int check_known(const struct catalog_layout_entry *e, void *opaque)
{
	struct verify_ctx *v = opaque;
	struct catalog_layout_name name;
	struct catalog_segment seg;

	if (e->is_dir)
		return 0;
	v->counts->files++;
	bool known = catalog_layout_parse(e->relpath, &name) == 0 &&
		     catalog_segment_get(v->cat, name.id, &seg) == 0 &&
		     strcmp(seg.path, e->relpath) == 0 && seg.state != SEGMENT_DELETED;
	if (!known)
		return problem(v, "unknown-file", "", -1, e->relpath,
			       "a footage file the catalog does not know");
	return 0;
}

/* A footage file in the quarantine folder: reported until someone deals
 * with it. */
static int report_quarantined(const struct catalog_layout_entry *e, void *opaque)
{
	struct verify_ctx *v = opaque;

	if (e->is_dir)
		return 0;
	v->counts->files++;
	return problem(v, "quarantined-file", "", -1, e->relpath,
		       "moved aside at start-up: the catalog did not know it");
}

int retention_verify(const struct config *cfg, struct catalog *cat,
		     const struct verify_options *opts, catalog_problem_fn fn, void *ctx,
		     struct verify_counts *counts)
{
	struct verify_ctx v = { cfg, cat, opts, fn, ctx, counts };
	int ret;

	memset(counts, 0, sizeof(*counts));
	if ((ret = catalog_verify(cat, opts->camera, count_catalog_problem, &v, &counts->entries)) <
	    0)
		return ret;
	struct catalog_filter f = { .camera = opts->camera,
				    .from_us = opts->from_us,
				    .to_us = opts->to_us };
	if ((ret = catalog_segments_each(cat, &f, check_file, &v)) < 0)
		return ret;
	/* the whole tree is walked unless a window narrows the question */
	if (opts->from_us == 0 && opts->to_us == 0) {
		ret = catalog_layout_walk(cfg->storage_path, opts->camera, LAYOUT_WALK_RECURSE,
					  check_known, &v);
		if (ret < 0)
			return ret;
		ret = catalog_layout_walk(cfg->storage_path, LAYOUT_QUARANTINE, LAYOUT_WALK_RECURSE,
					  report_quarantined, &v);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- exports ------------------------------------------------------------------ */

int retention_verify_export(const struct config *cfg, struct catalog *cat, const char *out_path,
			    catalog_problem_fn fn, void *ctx, struct verify_counts *counts)
{
	struct verify_options opts = { .hash_files = true };
	struct verify_ctx v = { cfg, cat, &opts, fn, ctx, counts };
	char manifest_path[PATH_MAX], hex[SHA256_HEX_SIZE];
	json_error_t jerr;
	int64_t bytes;
	int ret;

	memset(counts, 0, sizeof(*counts));
	if (snprintf(manifest_path, sizeof(manifest_path), "%s.manifest.json", out_path) >=
	    (int)sizeof(manifest_path))
		return -ENAMETOOLONG;
	json_t *m = json_load_file(manifest_path, 0, &jerr);
	if (!m)
		return problem(&v, "export-manifest-unreadable", "", -1, manifest_path, "%s:%d: %s",
			       manifest_path, jerr.line, jerr.text) < 0
			       ? -EIO
			       : 0;
	const char *camera = json_string_value(json_object_get(m, "camera"));
	json_t *output = json_object_get(m, "output");
	const char *want = json_string_value(json_object_get(output, "sha256"));
	json_int_t want_bytes = json_integer_value(json_object_get(output, "bytes"));

	if ((ret = sha256_file_hex(out_path, hex, &bytes)) < 0) {
		problem(&v, "export-missing", camera, -1, out_path, "cannot read the export: %s",
			strerror(-ret));
	} else if (!want || strcmp(hex, want) != 0 || bytes != want_bytes) {
		problem(&v, "export-changed", camera, -1, out_path,
			"the export's SHA-256 is %s, its manifest says %s", hex,
			want ? want : "nothing");
	}
	counts->files++;

	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(m, "segments"), i, s)
	{
		struct catalog_segment seg;
		json_int_t id = json_integer_value(json_object_get(s, "id"));
		const char *sha = json_string_value(json_object_get(s, "sha256"));
		const char *rel = json_string_value(json_object_get(s, "path"));
		if (catalog_segment_get(cat, id, &seg) < 0) {
			problem(&v, "export-source-missing", camera, id, rel,
				"source segment %lld is not in the catalog", (long long)id);
			continue;
		}
		if (!sha || strcmp(seg.sha256, sha) != 0 || !rel || strcmp(seg.path, rel) != 0) {
			problem(&v, "export-source-changed", seg.camera, id, seg.path,
				"source segment %lld does not match the catalog", (long long)id);
			continue;
		}
		if (seg.state == SEGMENT_DELETED || seg.state == SEGMENT_DELETING)
			continue; /* removed since, under the rule: the catalog keeps its hash */
		check_file(&seg, &v);
	}
	json_decref(m);
	return 0;
}
