/*
 * Reading a segment file back with libavformat, to learn what it really
 * holds (recovery of torn segments).  Internal to ingest/.
 */
#ifndef VIGIL_INGEST_PROBE_H
#define VIGIL_INGEST_PROBE_H

#include <stdint.h>

struct probe_result {
	int64_t frames; /* video packets */
	int64_t keyframes;
	int64_t duration_us; /* from the first video dts to the end of the last frame */
};

/* Demuxes every packet of the file.  Returns 0, or a negative errno /
 * AVERROR when the file cannot be read as MP4 with a video stream. */
int probe_segment(const char *path, struct probe_result *r);

#endif
