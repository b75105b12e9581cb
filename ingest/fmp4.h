/*
 * Reading the box structure of a fragmented MP4 file, to find how much of a
 * segment torn by a crash is whole.  Internal to ingest/.
 */
#ifndef VIGIL_INGEST_FMP4_H
#define VIGIL_INGEST_FMP4_H

#include <stdbool.h>
#include <stdint.h>

struct fmp4_scan {
	int64_t file_size;
	int64_t keep_bytes; /* whole header + whole fragments: the part to keep */
	int fragments;	    /* complete moof+mdat pairs */
	bool has_header;    /* ftyp and moov are whole */
};

/*
 * Walks the top-level boxes of the open file fd.  keep_bytes ends after the
 * last complete moof+mdat pair (or after the header when there is none);
 * anything after it is a torn fragment.  Returns 0, or a negative errno for
 * an I/O error.  A file that is not MP4 at all gives has_header = false.
 */
int fmp4_scan_fd(int fd, struct fmp4_scan *scan);

#endif
