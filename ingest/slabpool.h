/*
 * A pool of equal buffers ("slabs") handed out as refcounted AVBufferRefs,
 * for the access units the lean RTSP clients build (ingest/rtsp.c).  A
 * slab comes back to the pool when its last reference goes; the slab
 * handed out next is the one that came back last (still in the cache),
 * and a slab left unused in the pool for longer than the pool's idle time
 * is given back to the system.  So a burst (a slow disk holding a few
 * seconds of fragments, keyframes of many cameras at once) does not leave
 * its peak in the process for good, as libavutil's AVBufferPool, which
 * never frees, would.  Slabs are their own mappings (mmap), so giving one
 * back lowers the resident memory at once, whatever malloc would keep.
 *
 * Internal to ingest/.  Thread safety: any thread may get and release;
 * the pool's lock is held only to take or put back a slab.  A pool is
 * freed only once none of its slabs is referenced (the process's lives as
 * long as the process).
 */
#ifndef VIGIL_INGEST_SLABPOOL_H
#define VIGIL_INGEST_SLABPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <libavutil/buffer.h>

struct slab_pool;

/* A pool of slabs of size bytes (rounded up to whole pages), each given
 * back after idle_us unused in the pool.  NULL when out of memory. */
struct slab_pool *slab_pool_new(size_t size, int64_t idle_us);

/* Gives back the idle slabs and the pool.  Every slab it handed out must
 * have come back. */
void slab_pool_free(struct slab_pool *p);

/* A slab, or NULL when out of memory. */
AVBufferRef *slab_pool_get(struct slab_pool *p);

/* Gives back what has been idle longer than the pool's idle time by
 * now_us (monotonic).  Gets and releases do it too; this is for a pool
 * that has gone quiet, and for tests. */
void slab_pool_trim(struct slab_pool *p, int64_t now_us);

struct slab_pool_stats {
	size_t idle;   /* slabs in the pool */
	size_t in_use; /* slabs handed out and still referenced */
};
struct slab_pool_stats slab_pool_stats(struct slab_pool *p);

#endif
