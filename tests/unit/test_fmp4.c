/* ingest/fmp4: the top-level box walk that finds the whole part of a torn
 * fragmented MP4 file.  Files are built box by box in test_dir(). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ingest/fmp4.h"
#include "tests/unit/test.h"
#include "util/buf.h"

static void put32(struct buf *b, uint64_t v)
{
	unsigned char p[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };
	buf_append(b, p, 4);
}

static void payload(struct buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)(i * 7 + 3);
		buf_append(b, &c, 1);
	}
}

/* Appends a box with a 32-bit size; returns the offset just past it. */
static int64_t box(struct buf *b, const char *type, size_t n)
{
	put32(b, 8 + n);
	buf_append(b, type, 4);
	payload(b, n);
	return (int64_t)b->len;
}

/* Appends a box with size 1 and a 64-bit largesize. */
static int64_t box64(struct buf *b, const char *type, size_t n)
{
	uint64_t size = 16 + n;
	put32(b, 1);
	buf_append(b, type, 4);
	put32(b, size >> 32);
	put32(b, size & 0xffffffffu);
	payload(b, n);
	return (int64_t)b->len;
}

/* Appends a box header with an explicit size field, and n payload bytes. */
static int64_t raw_box(struct buf *b, uint32_t size, const char *type, size_t n)
{
	put32(b, size);
	buf_append(b, type, 4);
	payload(b, n);
	return (int64_t)b->len;
}

/* Writes len bytes of data to a file and scans it. */
static int scan_bytes(const void *data, size_t len, struct fmp4_scan *scan)
{
	const char *path = test_path("seg.mp4");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0) {
		test_fail(__FILE__, __LINE__, "cannot create %s", path);
		return -errno;
	}
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		test_fail(__FILE__, __LINE__, "short write");
	memset(scan, 0x5a, sizeof(*scan)); /* the scan must fill every field */
	int ret = fmp4_scan_fd(fd, scan);
	close(fd);
	return ret;
}

static void expect_scan(int line, const struct buf *b, size_t len, int64_t keep, int fragments,
			bool has_header)
{
	struct fmp4_scan s;
	int ret = scan_bytes(b->data, len, &s);
	if (ret != 0 || s.file_size != (int64_t)len || s.keep_bytes != keep ||
	    s.fragments != fragments || s.has_header != has_header)
		test_fail(__FILE__, line,
			  "%zu bytes: ret %d size %lld keep %lld fragments %d header %d; "
			  "want keep %lld fragments %d header %d",
			  len, ret, (long long)s.file_size, (long long)s.keep_bytes, s.fragments,
			  s.has_header, (long long)keep, fragments, has_header);
}

/* ftyp, moov, three moof+mdat fragments; offsets of each end returned. */
struct layout {
	int64_t ftyp_end, header_end;
	int64_t moof_end[3], frag_end[3];
};

static struct layout build_file(struct buf *b, bool large)
{
	struct layout l;
	buf_init(b, 1 << 20);
	l.ftyp_end = box(b, "ftyp", 16);
	l.header_end = large ? box64(b, "moov", 300) : box(b, "moov", 300);
	for (int i = 0; i < 3; i++) {
		l.moof_end[i] = box(b, "moof", 90 + (size_t)i);
		l.frag_end[i] = large && i == 1 ? box64(b, "mdat", 1500) : box(b, "mdat", 1000 + 100 * (size_t)i);
	}
	return l;
}

static void whole_file(void)
{
	struct buf b;
	struct layout l = build_file(&b, false);
	expect_scan(__LINE__, &b, b.len, (int64_t)b.len, 3, true);
	CHECK_INT(l.frag_end[2], b.len);
	/* with the trailer a finished file carries */
	int64_t end = box(&b, "mfra", 40);
	expect_scan(__LINE__, &b, b.len, end, 3, true);
	buf_release(&b);
}

static void sizes_64bit(void)
{
	struct buf b;
	struct layout l = build_file(&b, true);
	expect_scan(__LINE__, &b, b.len, (int64_t)b.len, 3, true);
	/* torn inside the 64-bit mdat, and inside its 16-byte header */
	expect_scan(__LINE__, &b, (size_t)l.frag_end[1] - 1, l.frag_end[0], 1, true);
	expect_scan(__LINE__, &b, (size_t)l.moof_end[1] + 12, l.frag_end[0], 1, true);
	expect_scan(__LINE__, &b, (size_t)l.moof_end[1] + 8, l.frag_end[0], 1, true);
	expect_scan(__LINE__, &b, (size_t)l.header_end - 5, 0, 0, false);
	buf_release(&b);

	/* a largesize smaller than its own header is nonsense: torn there */
	buf_init(&b, 4096);
	box(&b, "ftyp", 16);
	int64_t header = box(&b, "moov", 100);
	int64_t f1 = box(&b, "moof", 50);
	f1 = box(&b, "mdat", 100);
	box(&b, "moof", 50);
	put32(&b, 1);
	buf_append(&b, "mdat", 4);
	put32(&b, 0);
	put32(&b, 12);
	payload(&b, 64);
	expect_scan(__LINE__, &b, b.len, f1, 1, true);
	(void)header;
	buf_release(&b);
}

static void torn_files(void)
{
	struct buf b;
	struct layout l = build_file(&b, false);

	/* inside the last mdat */
	expect_scan(__LINE__, &b, (size_t)l.frag_end[2] - 1, l.frag_end[1], 2, true);
	expect_scan(__LINE__, &b, (size_t)l.moof_end[2] + 500, l.frag_end[1], 2, true);
	/* inside the mdat header */
	expect_scan(__LINE__, &b, (size_t)l.moof_end[2] + 4, l.frag_end[1], 2, true);
	/* a moof without its mdat */
	expect_scan(__LINE__, &b, (size_t)l.moof_end[2], l.frag_end[1], 2, true);
	/* inside a moof, and inside its header */
	expect_scan(__LINE__, &b, (size_t)l.moof_end[2] - 10, l.frag_end[1], 2, true);
	expect_scan(__LINE__, &b, (size_t)l.frag_end[1] + 5, l.frag_end[1], 2, true);
	expect_scan(__LINE__, &b, (size_t)l.frag_end[1] + 8, l.frag_end[1], 2, true);
	/* the first fragment torn: only the header is kept */
	expect_scan(__LINE__, &b, (size_t)l.frag_end[0] - 1, l.header_end, 0, true);
	expect_scan(__LINE__, &b, (size_t)l.header_end, l.header_end, 0, true);
	/* the header torn: nothing is kept */
	expect_scan(__LINE__, &b, (size_t)l.header_end - 1, 0, 0, false);
	expect_scan(__LINE__, &b, (size_t)l.ftyp_end, 0, 0, false); /* only ftyp */
	expect_scan(__LINE__, &b, 7, 0, 0, false);
	expect_scan(__LINE__, &b, 0, 0, 0, false); /* empty */
	buf_release(&b);
}

/* Every truncation length of a file agrees with its layout. */
static void every_truncation(void)
{
	for (int large = 0; large < 2; large++) {
		struct buf b;
		struct layout l = build_file(&b, large);
		int bad = 0;
		for (size_t len = 0; len <= b.len && bad < 5; len++) {
			int64_t keep = 0;
			int frags = 0;
			bool header = (int64_t)len >= l.header_end;
			if (header)
				keep = l.header_end;
			for (int i = 0; i < 3; i++)
				if ((int64_t)len >= l.frag_end[i]) {
					keep = l.frag_end[i];
					frags = i + 1;
				}
			struct fmp4_scan s;
			if (scan_bytes(b.data, len, &s) != 0 || s.keep_bytes != keep ||
			    s.fragments != frags || s.has_header != header ||
			    s.file_size != (int64_t)len) {
				test_fail(__FILE__, __LINE__,
					  "%s sizes, %zu bytes: keep %lld fragments %d header %d",
					  large ? "64-bit" : "32-bit", len, (long long)s.keep_bytes,
					  s.fragments, s.has_header);
				bad++;
			}
		}
		buf_release(&b);
	}
}

static void size_zero_box(void)
{
	struct buf b;
	struct layout l = build_file(&b, false);
	size_t torn = (size_t)l.frag_end[1];
	b.len = torn; /* drop the third fragment */
	raw_box(&b, 0, "moof", 200); /* "to the end of the file" */
	expect_scan(__LINE__, &b, b.len, l.frag_end[1], 2, true);
	b.len = torn;
	box(&b, "moof", 50);
	raw_box(&b, 0, "mdat", 400);
	expect_scan(__LINE__, &b, b.len, l.frag_end[1], 2, true);
	buf_release(&b);
}

static void garbage(void)
{
	struct buf b;
	struct layout l = build_file(&b, false);
	b.len = (size_t)l.frag_end[1];
	/* bytes that read as a huge box */
	static const unsigned char junk[] = { 0xde, 0xad, 0xbe, 0xef, 'j', 'u', 'n', 'k',
					      1,    2,	  3,    4,    5,   6,	7,   8 };
	buf_append(&b, junk, sizeof(junk));
	payload(&b, 300);
	expect_scan(__LINE__, &b, b.len, l.frag_end[1], 2, true);
	/* a size too small to hold the box header */
	b.len = (size_t)l.frag_end[1];
	raw_box(&b, 4, "moof", 100);
	expect_scan(__LINE__, &b, b.len, l.frag_end[1], 2, true);
	/* a few stray bytes, shorter than a box header */
	b.len = (size_t)l.frag_end[1];
	buf_append(&b, "\0\0\0", 3);
	expect_scan(__LINE__, &b, b.len, l.frag_end[1], 2, true);
	buf_release(&b);

	/* not MP4 at all */
	buf_init(&b, 4096);
	buf_append_str(&b, "GIF89a this is a picture, not a video segment at all....");
	payload(&b, 500);
	expect_scan(__LINE__, &b, b.len, 0, 0, false);
	buf_release(&b);
}

static void unknown_boxes_pass(void)
{
	struct buf b;
	buf_init(&b, 1 << 16);
	box(&b, "ftyp", 16);
	box(&b, "free", 10);
	int64_t header = box(&b, "moov", 200);
	box(&b, "styp", 12);
	box(&b, "sidx", 40);
	box(&b, "moof", 80);
	int64_t f1 = box(&b, "mdat", 500);
	box(&b, "free", 30); /* not part of a fragment: not kept on its own */
	expect_scan(__LINE__, &b, b.len, f1, 1, true);
	box(&b, "moof", 80);
	int64_t f2 = box(&b, "mdat", 500);
	expect_scan(__LINE__, &b, b.len, f2, 2, true);
	(void)header;
	buf_release(&b);
}

static void out_of_order(void)
{
	struct buf b;
	/* moov without ftyp: no header, so no fragment counts */
	buf_init(&b, 1 << 16);
	box(&b, "moov", 200);
	box(&b, "moof", 80);
	box(&b, "mdat", 500);
	expect_scan(__LINE__, &b, b.len, 0, 0, false);
	buf_release(&b);

	/* an mdat without a moof before it is not a fragment */
	buf_init(&b, 1 << 16);
	box(&b, "ftyp", 16);
	int64_t header = box(&b, "moov", 200);
	box(&b, "mdat", 500);
	expect_scan(__LINE__, &b, b.len, header, 0, true);
	box(&b, "moof", 80);
	int64_t f1 = box(&b, "mdat", 500);
	expect_scan(__LINE__, &b, b.len, f1, 1, true);
	/* an mfra after a moof without its mdat is not a clean end */
	box(&b, "moof", 80);
	box(&b, "mfra", 40);
	expect_scan(__LINE__, &b, b.len, f1, 1, true);
	buf_release(&b);

	/* a fragment before the header does not count either */
	buf_init(&b, 1 << 16);
	box(&b, "ftyp", 16);
	box(&b, "moof", 80);
	box(&b, "mdat", 500);
	header = box(&b, "moov", 200);
	expect_scan(__LINE__, &b, b.len, header, 0, true);
	buf_release(&b);
}

static void bad_descriptor(void)
{
	struct fmp4_scan s;
	CHECK_INT(fmp4_scan_fd(-1, &s), -EBADF);
	/* a write-only descriptor cannot be read */
	int fd = open(test_path("wo.mp4"), O_WRONLY | O_CREAT, 0640);
	CHECK(fd >= 0);
	if (fd >= 0) {
		struct buf b;
		build_file(&b, false);
		CHECK_INT(write(fd, b.data, b.len), b.len);
		CHECK_INT(fmp4_scan_fd(fd, &s), -EBADF);
		close(fd);
		buf_release(&b);
	}
}

const struct test_case fmp4_tests[] = {
	{ "whole_file", whole_file },
	{ "sizes_64bit", sizes_64bit },
	{ "torn_files", torn_files },
	{ "every_truncation", every_truncation },
	{ "size_zero_box", size_zero_box },
	{ "garbage", garbage },
	{ "unknown_boxes_pass", unknown_boxes_pass },
	{ "out_of_order", out_of_order },
	{ "bad_descriptor", bad_descriptor },
	{ NULL, NULL },
};
