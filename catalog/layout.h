/*
 * The files on disk: STORAGE/CAMERA/YYYY/MM/DD/HHMMSS-ID.mp4 (UTC date and
 * time of the segment's start, its catalog id).  One owner for making,
 * parsing and walking that tree: the catalog names new segments with it,
 * start-up recovery and verify parse and walk it.  Part of the catalog's
 * face (catalog.h includes it).
 *
 * Beside the camera folders the storage root holds dot-entries that are not
 * footage: the storage lock and LAYOUT_QUARANTINE, where start-up recovery
 * moves files the catalog does not know.
 */
#ifndef VIGIL_CATALOG_LAYOUT_H
#define VIGIL_CATALOG_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The folder under STORAGE for files the catalog did not know. */
#define LAYOUT_QUARANTINE ".quarantine"
#define LAYOUT_CAMERA_MAX 65

/* "STORAGE-relative" path of a segment: CAMERA/YYYY/MM/DD/HHMMSS-ID.mp4, with
 * the date and time of start_us in UTC.  Returns 0 or -ENAMETOOLONG. */
int catalog_segment_relpath(const char *camera, int64_t start_us, int64_t id, char *out,
			    size_t size);

/* CAMERA/YYYY/MM/DD: the folder where footage starting at us lands.
 * Returns 0 or -ENAMETOOLONG. */
int catalog_layout_day_folder(const char *camera, int64_t us, char *out, size_t size);

/* What a segment's path says. */
struct catalog_layout_name {
	char camera[LAYOUT_CAMERA_MAX]; /* "" when only a file name was parsed */
	bool has_date;			/* false when only a file name was parsed */
	int64_t start_s;		/* UTC seconds since the epoch; with no date,
					 * seconds into the day */
	int64_t id;			/* the catalog id, > 0 */
};

/*
 * Parses a STORAGE-relative path (CAMERA/YYYY/MM/DD/HHMMSS-ID.mp4) or a bare
 * file name (HHMMSS-ID.mp4) into *out.  Only what catalog_segment_relpath
 * writes is accepted: six digits of a real time of day, an id in decimal
 * without sign or leading zero, ".mp4", a real date, and a camera folder
 * that is not a dot-entry.  Returns 0, or -EINVAL for anything else.
 */
int catalog_layout_parse(const char *path, struct catalog_layout_name *out);

/* One entry met by catalog_layout_walk. */
struct catalog_layout_entry {
	const char *relpath; /* relative to STORAGE */
	const char *name;    /* the last component of relpath */
	bool is_dir;
};

/* A non-zero return stops the walk and is returned by it. */
typedef int (*catalog_layout_fn)(const struct catalog_layout_entry *e, void *ctx);

#define LAYOUT_WALK_RECURSE 1u /* descend into the folders met */

/*
 * Walks footage under storage.  rel NULL or "": every camera folder (the
 * top-level folders, not the dot-entries such as LAYOUT_QUARANTINE), with
 * its subfolders; otherwise the folder rel (which may be LAYOUT_QUARANTINE),
 * with its subfolders when flags has LAYOUT_WALK_RECURSE.  fn is called for
 * each folder met (before what it holds) and each footage file (a name
 * ending in ".mp4", whether or not it parses); other files, "." and ".."
 * are skipped, and so is anything deeper than eight folders.  A folder that
 * cannot be opened is skipped.  Returns 0, -ENAMETOOLONG for a rel too long,
 * or what fn returned.
 */
int catalog_layout_walk(const char *storage, const char *rel, unsigned flags, catalog_layout_fn fn,
			void *ctx);

#endif
