/*
 * The files on disk: STORAGE/CAMERA/YYYY/MM/DD/HHMMSS-ID.mp4 (UTC date and
 * time of the segment's start, its catalog id).  One owner for making,
 * parsing and walking that tree: the catalog names new segments with it,
 * start-up recovery and verify parse and walk it.  Part of the catalog's
 * face (catalog.h includes it).
 */
#ifndef VIGIL_CATALOG_LAYOUT_H
#define VIGIL_CATALOG_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* "STORAGE-relative" path of a segment: CAMERA/YYYY/MM/DD/HHMMSS-ID.mp4, with
 * the date and time of start_us in UTC.  Returns 0 or -ENAMETOOLONG. */
int catalog_segment_relpath(const char *camera, int64_t start_us, int64_t id, char *out,
			    size_t size);

#endif
