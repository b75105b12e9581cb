/*
 * The build's version: `git describe` when it was built (Makefile).  It is
 * compiled into util/version.c alone, which the Makefile rebuilds whenever
 * the version changes, so an incremental build never reports the commit of
 * an earlier one (in exports' manifests, reports, health, --version).
 */
#ifndef VIGIL_UTIL_VERSION_H
#define VIGIL_UTIL_VERSION_H

extern const char *const vigil_version;
extern const char *const vigil_user_agent; /* "vigil/" and the version: RTSP and HTTP */

#endif
