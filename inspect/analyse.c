/*
 * The picture checks, as pure functions over a 160x90 luma plane.
 *
 * Every measure is chosen to survive what a real camera adds to a good
 * picture: sensor noise (small after a 12x area downscale, and the change
 * test counts only pixels that moved by more than block_change levels) and
 * an on-screen clock or caption, which covers a few percent of the picture:
 *   - black and covered count shares of pixels (dark; near the median), so
 *     a clock drawn over a black picture leaves it black;
 *   - detail is the mean Laplacian energy of the blocks with the busiest
 *     tenth left out, where a sharp caption would sit;
 *   - frozen is decided per block: the picture is frozen only when nearly
 *     every block is unchanged, the clock's blocks included, so a static
 *     scene whose clock runs is not frozen;
 *   - moved correlates edge maps (gradient magnitude) with the reference's,
 *     taking the best over shifts of a few pixels (vibration, a slightly
 *     different encode), so only a real change of view scores low.
 */
#include "inspect/inspect.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define W INSPECT_W
#define H INSPECT_H
#define BLOCK 10
#define BX (W / BLOCK)
#define BY (H / BLOCK)
#define NBLOCKS (BX * BY)
#define SHIFT 4		 /* pixels searched each way for the moved check */
#define TRIM_SHARE 0.10	 /* busiest blocks left out of the detail */
#define CHANGED_PIXELS 2 /* pixels over block_change that make a block changed */

static const char *const picture_names[PICTURE_STATE_COUNT] = {
	"unknown", "ok", "black", "frozen", "covered", "blurred", "moved",
};

const char *inspect_picture_name(enum picture_state s)
{
	return s >= 0 && s < PICTURE_STATE_COUNT ? picture_names[s] : "unknown";
}

int inspect_picture_parse(const char *name, enum picture_state *out)
{
	for (int i = 0; i < PICTURE_STATE_COUNT; i++) {
		if (strcmp(name, picture_names[i]) == 0) {
			*out = (enum picture_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

void inspect_thresholds_default(struct inspect_thresholds *th)
{
	th->black_luma = 32;
	th->dark_fraction = 0.95;
	th->uniform_fraction = 0.90;
	th->uniform_range = 10;
	th->block_change = 10;
	th->frozen_max_blocks = 0;
	th->covered_ratio = 0.15;
	th->blurred_ratio = 0.45;
	th->moved_match = 0.5;
}

void inspect_thresholds_camera(const struct camera_config *cam, struct inspect_thresholds *th)
{
	inspect_thresholds_default(th);
	if (!cam)
		return;
	th->black_luma = cam->picture_black_luma;
	th->covered_ratio = cam->picture_covered_ratio;
	th->blurred_ratio = cam->picture_blurred_ratio;
	th->moved_match = cam->picture_moved_match;
}

static void luma_stats(const uint8_t *p, const struct inspect_thresholds *th,
		       struct inspect_measures *m)
{
	unsigned hist[256] = { 0 };
	double sum = 0, sq = 0;
	for (int i = 0; i < W * H; i++) {
		hist[p[i]]++;
		sum += p[i];
		sq += (double)p[i] * p[i];
	}
	double n = W * H;
	m->mean = sum / n;
	double var = sq / n - m->mean * m->mean;
	m->spread = var > 0 ? sqrt(var) : 0;

	unsigned dark = 0, acc = 0;
	int median = 0;
	for (int v = 0; v < 256; v++) {
		if (v <= th->black_luma)
			dark += hist[v];
		if (acc < (unsigned)(n / 2))
			median = v;
		acc += hist[v];
	}
	unsigned near = 0;
	for (int v = 0; v < 256; v++)
		if (fabs((double)v - median) <= th->uniform_range)
			near += hist[v];
	m->dark = dark / n;
	m->uniform = near / n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Mean Laplacian energy per block, the busiest TRIM_SHARE left out. */
static double detail_of(const uint8_t *p)
{
	double block[NBLOCKS] = { 0 };
	for (int y = 1; y < H - 1; y++) {
		for (int x = 1; x < W - 1; x++) {
			int c = p[y * W + x];
			int lap = 4 * c - p[y * W + x - 1] - p[y * W + x + 1] - p[(y - 1) * W + x] -
				  p[(y + 1) * W + x];
			int b = (y / BLOCK) * BX + x / BLOCK;
			block[b] += (double)lap * lap;
		}
	}
	qsort(block, NBLOCKS, sizeof(block[0]), cmp_double);
	int keep = NBLOCKS - (int)(NBLOCKS * TRIM_SHARE);
	double sum = 0;
	for (int i = 0; i < keep; i++)
		sum += block[i];
	return sum / ((double)keep * BLOCK * BLOCK);
}

static int changed_blocks(const uint8_t *a, const uint8_t *b, double th)
{
	int count[NBLOCKS] = { 0 };
	for (int y = 0; y < BY * BLOCK; y++)
		for (int x = 0; x < BX * BLOCK; x++)
			if (abs((int)a[y * W + x] - (int)b[y * W + x]) > th)
				count[(y / BLOCK) * BX + x / BLOCK]++;
	int n = 0;
	for (int i = 0; i < NBLOCKS; i++)
		n += count[i] >= CHANGED_PIXELS;
	return n;
}

/* Gradient magnitude, clipped so that a high-contrast caption weighs no
 * more per pixel than the scene's own edges. */
#define EDGE_CLIP 40.0f
static void edges_of(const uint8_t *p, float *e)
{
	memset(e, 0, sizeof(float) * W * H);
	for (int y = 1; y < H - 1; y++) {
		for (int x = 1; x < W - 1; x++) {
			int gx = p[y * W + x + 1] - p[y * W + x - 1];
			int gy = p[(y + 1) * W + x] - p[(y - 1) * W + x];
			float g = (float)sqrt((double)gx * gx + (double)gy * gy);
			e[y * W + x] = g < EDGE_CLIP ? g : EDGE_CLIP;
		}
	}
}

/* Marks the busiest TRIM_SHARE of blocks of e (where a caption sits):
 * they are left out of the correlation, as out of the detail. */
static void busiest_blocks(const float *e, bool *mask)
{
	double energy[NBLOCKS] = { 0 }, sorted[NBLOCKS];
	for (int y = 0; y < BY * BLOCK; y++)
		for (int x = 0; x < BX * BLOCK; x++)
			energy[(y / BLOCK) * BX + x / BLOCK] += e[y * W + x];
	memcpy(sorted, energy, sizeof(sorted));
	qsort(sorted, NBLOCKS, sizeof(sorted[0]), cmp_double);
	double cut = sorted[NBLOCKS - 1 - (int)(NBLOCKS * TRIM_SHARE)];
	for (int i = 0; i < NBLOCKS; i++)
		mask[i] = energy[i] > cut;
}

/* Normalized cross-correlation of a and b shifted by (dx, dy), over their
 * overlap less a border and the masked blocks. */
static double ncc(const float *a, const float *b, const bool *mask, int dx, int dy)
{
	double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
	int n = 0;
	for (int y = SHIFT + 1; y < H - SHIFT - 1; y++) {
		for (int x = SHIFT + 1; x < W - SHIFT - 1; x++) {
			if (y < BY * BLOCK && x < BX * BLOCK && mask[(y / BLOCK) * BX + x / BLOCK])
				continue;
			double va = a[y * W + x], vb = b[(y + dy) * W + x + dx];
			sa += va;
			sb += vb;
			saa += va * va;
			sbb += vb * vb;
			sab += va * vb;
			n++;
		}
	}
	if (n == 0)
		return 0;
	double cov = sab - sa * sb / n;
	double da = saa - sa * sa / n, db = sbb - sb * sb / n;
	if (da <= 1e-9 || db <= 1e-9)
		return 0;
	return cov / sqrt(da * db);
}

static double best_match(const uint8_t *plane, const uint8_t *ref)
{
	float *a = malloc(sizeof(float) * W * H * 2);
	bool mask[NBLOCKS], mask_b[NBLOCKS];
	if (!a)
		return -1;
	float *b = a + W * H;
	edges_of(ref, a);
	edges_of(plane, b);
	busiest_blocks(a, mask);
	busiest_blocks(b, mask_b);
	for (int i = 0; i < NBLOCKS; i++)
		mask[i] = mask[i] || mask_b[i];
	double best = -1;
	for (int dy = -SHIFT; dy <= SHIFT; dy++)
		for (int dx = -SHIFT; dx <= SHIFT; dx++) {
			double v = ncc(a, b, mask, dx, dy);
			if (v > best)
				best = v;
		}
	free(a);
	return best;
}

enum picture_state inspect_analyse(const uint8_t *plane, const uint8_t *prev, const uint8_t *ref,
				   const struct inspect_thresholds *th, struct inspect_measures *m,
				   char *reason, size_t size)
{
	memset(m, 0, sizeof(*m));
	m->detail_ratio = m->match = -1;
	m->changed_blocks = -1;
	if (size)
		reason[0] = '\0';

	luma_stats(plane, th, m);
	m->detail = detail_of(plane);
	if (prev)
		m->changed_blocks = changed_blocks(plane, prev, th->block_change);
	double ref_detail = -1;
	if (ref) {
		ref_detail = detail_of(ref);
		m->detail_ratio = ref_detail > 1e-6 ? m->detail / ref_detail : 1;
		m->match = best_match(plane, ref);
	}

	if (m->dark >= th->dark_fraction) {
		snprintf(reason, size, "%.0f%% of the picture is dark (mean luma %.0f)",
			 m->dark * 100, m->mean);
		return PICTURE_BLACK;
	}
	if (m->uniform >= th->uniform_fraction) {
		snprintf(reason, size, "the picture is uniform (%.0f%% of it within %.0f levels)",
			 m->uniform * 100, th->uniform_range);
		return PICTURE_COVERED;
	}
	if (prev && m->changed_blocks <= th->frozen_max_blocks) {
		snprintf(reason, size, "%d of %d blocks changed since the previous check",
			 m->changed_blocks, NBLOCKS);
		return PICTURE_FROZEN;
	}
	if (ref && m->detail_ratio < th->covered_ratio) {
		snprintf(reason, size, "detail %.0f%% of the reference's", m->detail_ratio * 100);
		return PICTURE_COVERED;
	}
	if (ref && m->detail_ratio < th->blurred_ratio) {
		snprintf(reason, size, "detail %.0f%% of the reference's", m->detail_ratio * 100);
		return PICTURE_BLURRED;
	}
	if (ref && m->match < th->moved_match) {
		snprintf(reason, size, "edges match the reference at %.2f", m->match);
		return PICTURE_MOVED;
	}
	return PICTURE_OK;
}
