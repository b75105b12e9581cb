/*
 * File-system helpers for durable writes: folders created with their
 * parents made durable, whole writes, folder fsync.  All return 0 or a
 * negative errno.
 */
#ifndef VIGIL_UTIL_FSUTIL_H
#define VIGIL_UTIL_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"

/* Creates path and any missing parents with mode.  When a folder is
 * created, its parent is fsynced, so the new entry survives a power cut. */
int fs_mkdir_p(const char *path, mode_t mode);

/* fsyncs the folder at path. */
int fs_fsync_dir(const char *path);

/* fsyncs the folder that holds path. */
int fs_fsync_parent(const char *path);

/* Removes path and fsyncs its folder, so the removal survives a power cut.
 * A path that does not exist is already removed: 0. */
int fs_unlink_durable(const char *path);

/* Writes all n bytes, retrying on EINTR and short writes. */
int fs_write_all(int fd, const void *data, size_t n);

/* Reads a whole file of at most max bytes into out (NUL-terminated). */
int fs_read_file(const char *path, struct buf *out, size_t max);

/* Joins a and b with one '/' into out; -ENAMETOOLONG if it does not fit. */
int fs_join(char *out, size_t size, const char *a, const char *b);

#endif
