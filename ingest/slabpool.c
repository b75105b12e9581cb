#include "ingest/slabpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/banned.h"

struct idle_slab {
	void *data;
	int64_t since_us; /* when it came back */
};

struct slab_pool {
	pthread_mutex_t lock;
	size_t size;
	int64_t idle_us;
	/* a ring, oldest first: slabs are taken from and put back at the
	 * newest end, and given back from the oldest */
	struct idle_slab *ring;
	size_t cap, oldest, n;
	size_t in_use;
};

struct slab_pool *slab_pool_new(size_t size, int64_t idle_us)
{
	struct slab_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	p->size = (size + page - 1) / page * page;
	p->idle_us = idle_us;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

static struct idle_slab *at(struct slab_pool *p, size_t i)
{
	return &p->ring[(p->oldest + i) % p->cap];
}

void slab_pool_free(struct slab_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		munmap(at(p, i)->data, p->size);
	free(p->ring);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Under the lock: the slabs idle too long go back to the system. */
static void trim_locked(struct slab_pool *p, int64_t now_us)
{
	while (p->n > 0 && now_us - at(p, 0)->since_us > p->idle_us) {
		munmap(at(p, 0)->data, p->size);
		p->oldest = (p->oldest + 1) % p->cap;
		p->n--;
	}
}

/* Under the lock: room for one more idle slab. */
static bool make_room(struct slab_pool *p)
{
	if (p->n < p->cap)
		return true;
	size_t cap = p->cap ? 2 * p->cap : 64;
	struct idle_slab *ring = malloc(cap * sizeof(*ring));
	if (!ring)
		return false;
	for (size_t i = 0; i < p->n; i++)
		ring[i] = *at(p, i);
	free(p->ring);
	p->ring = ring;
	p->cap = cap;
	p->oldest = 0;
	return true;
}

static void slab_release(void *opaque, uint8_t *data)
{
	struct slab_pool *p = opaque;
	int64_t now = clock_mono_us();

	pthread_mutex_lock(&p->lock);
	p->in_use--;
	trim_locked(p, now);
	if (make_room(p)) {
		*at(p, p->n++) = (struct idle_slab){ data, now };
		data = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (data)
		munmap(data, p->size);
}

AVBufferRef *slab_pool_get(struct slab_pool *p)
{
	void *data = NULL;

	pthread_mutex_lock(&p->lock);
	trim_locked(p, clock_mono_us());
	if (p->n > 0)
		data = at(p, --p->n)->data;
	p->in_use++;
	pthread_mutex_unlock(&p->lock);
	if (!data) {
		data = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			    0);
		if (data == MAP_FAILED)
			data = NULL;
	}
	AVBufferRef *ref = data ? av_buffer_create(data, p->size, slab_release, p, 0) : NULL;
	if (!ref) {
		if (data)
			munmap(data, p->size);
		pthread_mutex_lock(&p->lock);
		p->in_use--;
		pthread_mutex_unlock(&p->lock);
	}
	return ref;
}

void slab_pool_trim(struct slab_pool *p, int64_t now_us)
{
	pthread_mutex_lock(&p->lock);
	trim_locked(p, now_us);
	pthread_mutex_unlock(&p->lock);
}

struct slab_pool_stats slab_pool_stats(struct slab_pool *p)
{
	pthread_mutex_lock(&p->lock);
	struct slab_pool_stats s = { p->n, p->in_use };
	pthread_mutex_unlock(&p->lock);
	return s;
}
