/* inspect/: the picture checks on synthetic luma planes, and hostile input
 * to the keyframe reader and the decoder. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/inspect.h"
#include "tests/unit/test.h"

#define W INSPECT_W
#define H INSPECT_H

static uint32_t rng = 1;
static int rnd(int n)
{
	rng = rng * 1103515245u + 12345u;
	return (int)((rng >> 16) % (uint32_t)n);
}

static uint8_t clamp(int v)
{
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* A scene: rectangles of different luma over a gradient, from seed. */
static void scene(uint8_t *p, uint32_t seed)
{
	rng = seed;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			p[y * W + x] = (uint8_t)(60 + x / 2 + y / 3);
	for (int r = 0; r < 40; r++) {
		int x0 = rnd(W - 10), y0 = rnd(H - 8), w = 4 + rnd(30), h = 3 + rnd(20);
		int v = rnd(256);
		for (int y = y0; y < y0 + h && y < H; y++)
			for (int x = x0; x < x0 + w && x < W; x++)
				p[y * W + x] = (uint8_t)v;
	}
}

/* A caption in the top right corner: digits drawn from value. */
static void clock_overlay(uint8_t *p, int value)
{
	for (int d = 0; d < 6; d++) {
		int digit = value % 10;
		value /= 10;
		for (int y = 2; y < 9; y++)
			for (int x = 0; x < 4; x++) {
				bool on = ((digit * 7 + y * 3 + x) % 5) < 2;
				p[y * W + W - 6 - d * 5 - x] = on ? 250 : 20;
			}
	}
}

static void noise(uint8_t *p, int amp, uint32_t seed)
{
	rng = seed;
	for (int i = 0; i < W * H; i++)
		p[i] = clamp(p[i] + rnd(2 * amp + 1) - amp);
}

static void shift(const uint8_t *in, uint8_t *out, int dx, int dy)
{
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			int sx = x - dx, sy = y - dy;
			sx = sx < 0 ? 0 : sx >= W ? W - 1 : sx;
			sy = sy < 0 ? 0 : sy >= H ? H - 1 : sy;
			out[y * W + x] = in[sy * W + sx];
		}
}

static void box_blur(uint8_t *p, int r)
{
	static uint8_t tmp[W * H];
	for (int pass = 0; pass < 2; pass++) {
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++) {
				int sum = 0, n = 0;
				for (int k = -r; k <= r; k++) {
					int xx = pass ? x : x + k, yy = pass ? y + k : y;
					if (xx < 0 || xx >= W || yy < 0 || yy >= H)
						continue;
					sum += p[yy * W + xx];
					n++;
				}
				tmp[y * W + x] = (uint8_t)(sum / n);
			}
		memcpy(p, tmp, sizeof(tmp));
	}
}

static enum picture_state judge(const uint8_t *p, const uint8_t *prev, const uint8_t *ref,
				struct inspect_measures *m)
{
	struct inspect_thresholds th;
	char reason[160];
	inspect_thresholds_default(&th);
	enum picture_state s = inspect_analyse(p, prev, ref, &th, m, reason, sizeof(reason));
	CHECK((s == PICTURE_OK) == (reason[0] == '\0'));
	return s;
}

static uint8_t ref[W * H], cur[W * H], prev[W * H];

static void healthy_scene_with_noise_and_clock(void)
{
	struct inspect_measures m;
	scene(ref, 7);
	clock_overlay(ref, 120000);
	memcpy(prev, ref, sizeof(ref));
	noise(prev, 3, 11);
	memcpy(cur, ref, sizeof(ref));
	clock_overlay(cur, 120002);
	noise(cur, 3, 12);
	CHECK_INT(judge(cur, prev, ref, &m), PICTURE_OK);
	CHECK(m.match > 0.9);
	CHECK(m.detail_ratio > 0.8 && m.detail_ratio < 1.25);
	/* a static scene whose only motion is its clock is not frozen */
	CHECK(m.changed_blocks >= 1 && m.changed_blocks <= 4);
}

static void frozen_despite_noise(void)
{
	struct inspect_measures m;
	scene(ref, 7);
	clock_overlay(ref, 5);
	memcpy(prev, ref, sizeof(ref));
	memcpy(cur, ref, sizeof(ref));
	noise(prev, 3, 1);
	noise(cur, 3, 2); /* re-encoding noise, the clock stopped too */
	CHECK_INT(judge(cur, prev, ref, &m), PICTURE_FROZEN);
	CHECK_INT(m.changed_blocks, 0);
	/* no previous check: cannot be frozen */
	CHECK_INT(judge(cur, NULL, ref, &m), PICTURE_OK);
}

static void black_with_a_clock(void)
{
	struct inspect_measures m;
	memset(cur, 6, sizeof(cur));
	noise(cur, 4, 3);
	clock_overlay(cur, 424242);
	scene(ref, 7);
	CHECK_INT(judge(cur, NULL, ref, &m), PICTURE_BLACK);
	CHECK_INT(judge(cur, NULL, NULL, &m), PICTURE_BLACK);
	/* a dark scene with bright parts is not black */
	scene(cur, 9);
	for (int i = 0; i < W * H; i++)
		cur[i] = (uint8_t)(cur[i] / 6);
	for (int y = 20; y < 40; y++)
		for (int x = 30; x < 60; x++)
			cur[y * W + x] = 200;
	CHECK(judge(cur, NULL, NULL, &m) != PICTURE_BLACK);
}

static void covered_uniform_or_detail_gone(void)
{
	struct inspect_measures m;
	memset(cur, 90, sizeof(cur));
	noise(cur, 2, 4);
	clock_overlay(cur, 1);
	CHECK_INT(judge(cur, NULL, NULL, &m), PICTURE_COVERED);
	/* against the reference: most detail gone */
	scene(ref, 7);
	memcpy(cur, ref, sizeof(ref));
	box_blur(cur, 8);
	CHECK_INT(judge(cur, NULL, ref, &m), PICTURE_COVERED);
	CHECK(m.detail_ratio < 0.15);
}

static void blurred_against_the_reference(void)
{
	struct inspect_measures m;
	scene(ref, 7);
	/* slightly out of focus: half the picture blurred over the other */
	memcpy(cur, ref, sizeof(ref));
	box_blur(cur, 1);
	for (int i = 0; i < W * H; i++)
		cur[i] = (uint8_t)((cur[i] * 2 + ref[i]) / 3);
	enum picture_state s = judge(cur, NULL, ref, &m);
	CHECK_INT(s, PICTURE_BLURRED);
	CHECK(m.detail_ratio >= 0.15 && m.detail_ratio < 0.45);
	/* no reference: nothing to compare the detail with */
	CHECK_INT(judge(cur, NULL, NULL, &m), PICTURE_OK);
}

static void moved_view(void)
{
	struct inspect_measures m;
	scene(ref, 7);
	/* a shake of two pixels is the same view */
	shift(ref, cur, 2, -1);
	CHECK_INT(judge(cur, NULL, ref, &m), PICTURE_OK);
	CHECK(m.match > 0.8);
	/* knocked: the view slid by a fifth */
	shift(ref, cur, 32, 10);
	CHECK_INT(judge(cur, NULL, ref, &m), PICTURE_MOVED);
	CHECK(m.match < 0.5);
	/* another scene altogether, the same caption on both */
	scene(cur, 99);
	clock_overlay(cur, 3);
	clock_overlay(ref, 3);
	CHECK_INT(judge(cur, NULL, ref, &m), PICTURE_MOVED);
}

static void names(void)
{
	for (int s = 0; s < PICTURE_STATE_COUNT; s++) {
		enum picture_state back;
		CHECK_INT(inspect_picture_parse(inspect_picture_name((enum picture_state)s), &back),
			  0);
		CHECK_INT(back, s);
	}
	enum picture_state x;
	CHECK_INT(inspect_picture_parse("dark", &x), -EINVAL);
	CHECK_STR(inspect_picture_name(PICTURE_COVERED), "covered");
}

static void hostile_files_and_keyframes(void)
{
	struct inspect_keyframe kf;
	struct inspect_picture pic;
	char err[200];
	uint8_t junk[4096];
	rng = 5;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rnd(256);
	CHECK(inspect_read_keyframe_mem(junk, sizeof(junk), &kf, err, sizeof(err)) < 0);
	CHECK(err[0]);
	/* a moov box claiming more than the file */
	static const uint8_t torn[] = { 0, 0, 0, 16, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm',
					0, 0, 0, 0,  0,	  1,   0,   0,	 'm', 'o', 'o', 'v' };
	CHECK(inspect_read_keyframe_mem(torn, sizeof(torn), &kf, err, sizeof(err)) < 0);
	CHECK(inspect_read_keyframe(test_path("missing.mp4"), &kf, err, sizeof(err)) == -ENOENT);
	/* garbage as a keyframe: a failed check with a reason */
	CHECK(inspect_decode("h264", NULL, 0, junk, sizeof(junk), &pic, err, sizeof(err)) < 0);
	CHECK(err[0]);
	CHECK(inspect_decode("h265", junk, 64, junk, sizeof(junk), &pic, err, sizeof(err)) < 0);
	CHECK(inspect_decode("mjpeg", NULL, 0, junk, 10, &pic, err, sizeof(err)) == -ENOTSUP);
	CHECK(pic.jpeg == NULL);
}

const struct test_case inspect_tests[] = {
	{ "healthy_scene_with_noise_and_clock", healthy_scene_with_noise_and_clock },
	{ "frozen_despite_noise", frozen_despite_noise },
	{ "black_with_a_clock", black_with_a_clock },
	{ "covered_uniform_or_detail_gone", covered_uniform_or_detail_gone },
	{ "blurred_against_the_reference", blurred_against_the_reference },
	{ "moved_view", moved_view },
	{ "names", names },
	{ "hostile_files_and_keyframes", hostile_files_and_keyframes },
	{ NULL, NULL },
};
