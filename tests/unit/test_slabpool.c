/* ingest/slabpool: slabs reused newest first, given back once idle, and
 * the memory with them. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ingest/slabpool.h"
#include "tests/unit/test.h"
#include "util/clock.h"

#define SLAB (128 * 1024)
#define IDLE_US (30 * USEC_PER_SEC)
#define BURST 64

static long resident_pages(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident;
}

static void test_reuses_the_slab_that_came_back_last(void)
{
	struct slab_pool *p = slab_pool_new(SLAB, IDLE_US);
	AVBufferRef *a = slab_pool_get(p), *b = slab_pool_get(p);
	CHECK(a && b && a->data != b->data);
	CHECK(a->size >= SLAB);
	uint8_t *bdata = b->data;
	memset(a->data, 1, a->size);
	AVBufferRef *a2 = av_buffer_ref(a);
	av_buffer_unref(&a);
	CHECK_INT(slab_pool_stats(p).in_use, 2); /* a2 still holds it */
	av_buffer_unref(&a2);
	av_buffer_unref(&b);
	struct slab_pool_stats s = slab_pool_stats(p);
	CHECK_INT(s.idle, 2);
	CHECK_INT(s.in_use, 0);
	AVBufferRef *c = slab_pool_get(p);
	CHECK(c && c->data == bdata);
	CHECK_INT(slab_pool_stats(p).idle, 1);
	av_buffer_unref(&c);
	/* within the idle time nothing goes */
	slab_pool_trim(p, clock_mono_us() + IDLE_US / 2);
	CHECK_INT(slab_pool_stats(p).idle, 2);
	slab_pool_free(p);
}

static void test_a_burst_is_given_back_once_idle(void)
{
	struct slab_pool *p = slab_pool_new(SLAB, IDLE_US);
	AVBufferRef *held[BURST];
	long before = resident_pages();
	for (int i = 0; i < BURST; i++) {
		held[i] = slab_pool_get(p);
		CHECK(held[i] != NULL);
		if (held[i])
			memset(held[i]->data, i, held[i]->size);
	}
	long page = sysconf(_SC_PAGESIZE);
	long grown = resident_pages() - before;
	CHECK(grown * page >= BURST * SLAB * 9 / 10);
	/* the steady state keeps two in use; the rest of the burst comes back */
	for (int i = 2; i < BURST; i++)
		av_buffer_unref(&held[i]);
	CHECK_INT(slab_pool_stats(p).idle, BURST - 2);
	long peak = resident_pages();
	slab_pool_trim(p, clock_mono_us() + IDLE_US + 1);
	struct slab_pool_stats s = slab_pool_stats(p);
	CHECK_INT(s.idle, 0);
	CHECK_INT(s.in_use, 2);
	CHECK((peak - resident_pages()) * page >= (BURST - 2) * SLAB * 9 / 10);
	/* the slabs still referenced are untouched */
	CHECK(held[0]->data[0] == 0 && held[1]->data[held[1]->size - 1] == 1);
	av_buffer_unref(&held[0]);
	av_buffer_unref(&held[1]);
	CHECK_INT(slab_pool_stats(p).idle, 2);
	slab_pool_free(p);
}

const struct test_case slabpool_tests[] = {
	{ "reuses_the_slab_that_came_back_last", test_reuses_the_slab_that_came_back_last },
	{ "a_burst_is_given_back_once_idle", test_a_burst_is_given_back_once_idle },
	{ NULL, NULL },
};
