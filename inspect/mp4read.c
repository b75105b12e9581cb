/*
 * Finding the newest keyframe of a fragmented MP4 segment, as both of
 * ingest's writers make them (ftyp, moov, then moof+mdat pairs), without
 * reading the media: top-level box headers are read one by one, moov and
 * each moof whole (both small), and only the chosen keyframe's bytes.
 *
 * The file may be growing (the segment being written) or torn: a box that
 * runs past the end of the file ends the walk, and a keyframe is taken only
 * when all of its bytes are in the file.  Every size and count comes from
 * the file and is checked against what holds it before it is used.
 */
#include "inspect/inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

#define MOOV_MAX (4 << 20)
#define MOOF_MAX (2 << 20)
#define SAMPLE_MAX (16 << 20)
#define EXTRADATA_MAX (64 << 10)

/* Where the bytes come from: a file descriptor or a memory image. */
struct src {
	int fd;
	const uint8_t *mem;
	int64_t size;
};

static int src_read(const struct src *s, int64_t off, void *buf, size_t len)
{
	if (off < 0 || off > s->size || (int64_t)len > s->size - off)
		return -ENODATA;
	if (s->mem) {
		memcpy(buf, s->mem + off, len);
		return 0;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(s->fd, (uint8_t *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

/* A box inside a buffer: [start, end) of its payload. */
struct box {
	char type[5];
	size_t start, end;
};

/* The next child box of [*pos, end) in b, or false at the end or on a
 * malformed size. */
static bool next_box(const uint8_t *b, size_t *pos, size_t end, struct box *out)
{
	if (*pos + 8 > end)
		return false;
	uint64_t size = rd32(b + *pos);
	size_t head = 8;
	memcpy(out->type, b + *pos + 4, 4);
	out->type[4] = '\0';
	if (size == 1) {
		if (*pos + 16 > end)
			return false;
		size = rd64(b + *pos + 8);
		head = 16;
	} else if (size == 0) {
		size = end - *pos;
	}
	if (size < head || size > end - *pos)
		return false;
	out->start = *pos + head;
	out->end = *pos + (size_t)size;
	*pos = out->end;
	return true;
}

static bool find_child(const uint8_t *b, size_t start, size_t end, const char *type,
		       struct box *out)
{
	size_t pos = start;
	while (next_box(b, &pos, end, out))
		if (memcmp(out->type, type, 4) == 0)
			return true;
	return false;
}

/* What the moov says of the video track. */
struct track {
	uint32_t id;
	uint32_t timescale;
	char codec[8];
	const uint8_t *extradata;
	size_t extradata_len;
	uint32_t def_duration, def_size, def_flags; /* trex */
};

static int parse_video_track(const uint8_t *b, const struct box *trak, struct track *t)
{
	struct box tkhd, mdia, hdlr, mdhd, minf, stbl, stsd;
	if (!find_child(b, trak->start, trak->end, "mdia", &mdia) ||
	    !find_child(b, mdia.start, mdia.end, "hdlr", &hdlr) || hdlr.end - hdlr.start < 12 ||
	    memcmp(b + hdlr.start + 8, "vide", 4) != 0)
		return -ENOENT;
	if (!find_child(b, trak->start, trak->end, "tkhd", &tkhd) || tkhd.end - tkhd.start < 24)
		return -EINVAL;
	t->id = rd32(b + tkhd.start + (b[tkhd.start] == 1 ? 20 : 12));
	if (!find_child(b, mdia.start, mdia.end, "mdhd", &mdhd) || mdhd.end - mdhd.start < 24)
		return -EINVAL;
	t->timescale = rd32(b + mdhd.start + (b[mdhd.start] == 1 ? 20 : 12));
	if (!find_child(b, mdia.start, mdia.end, "minf", &minf) ||
	    !find_child(b, minf.start, minf.end, "stbl", &stbl) ||
	    !find_child(b, stbl.start, stbl.end, "stsd", &stsd) || stsd.end - stsd.start < 8)
		return -EINVAL;
	/* the first sample entry: a visual sample entry is 78 bytes before
	 * its own boxes */
	size_t pos = stsd.start + 8;
	struct box entry, cfg;
	if (!next_box(b, &pos, stsd.end, &entry) || entry.end - entry.start < 78)
		return -EINVAL;
	const char *want;
	if (!memcmp(entry.type, "avc1", 4) || !memcmp(entry.type, "avc3", 4)) {
		snprintf(t->codec, sizeof(t->codec), "h264");
		want = "avcC";
	} else if (!memcmp(entry.type, "hvc1", 4) || !memcmp(entry.type, "hev1", 4)) {
		snprintf(t->codec, sizeof(t->codec), "h265");
		want = "hvcC";
	} else {
		return -ENOTSUP;
	}
	if (find_child(b, entry.start + 78, entry.end, want, &cfg)) {
		t->extradata = b + cfg.start;
		t->extradata_len = cfg.end - cfg.start;
	}
	return 0;
}

static int parse_moov(const uint8_t *b, size_t len, struct track *t, char *err, size_t errlen)
{
	struct box trak, mvex, trex;
	size_t pos = 0;
	int ret = -ENOENT;
	while (next_box(b, &pos, len, &trak)) {
		if (memcmp(trak.type, "trak", 4) != 0)
			continue;
		if ((ret = parse_video_track(b, &trak, t)) != -ENOENT)
			break;
	}
	if (ret < 0) {
		snprintf(err, errlen, "%s",
			 ret == -ENOENT	   ? "no video track"
			 : ret == -ENOTSUP ? "the video is neither H.264 nor H.265"
					   : "malformed video track");
		return ret;
	}
	if (find_child(b, 0, len, "mvex", &mvex)) {
		pos = mvex.start;
		while (next_box(b, &pos, mvex.end, &trex)) {
			if (memcmp(trex.type, "trex", 4) != 0 || trex.end - trex.start < 24 ||
			    rd32(b + trex.start + 4) != t->id)
				continue;
			t->def_duration = rd32(b + trex.start + 12);
			t->def_size = rd32(b + trex.start + 16);
			t->def_flags = rd32(b + trex.start + 20);
		}
	}
	return 0;
}

#define SAMPLE_NON_SYNC 0x00010000u

/* The newest sync sample found so far. */
struct found {
	int64_t offset;
	uint32_t size;
	int64_t dts; /* in the track's timescale */
	bool any;
	int64_t first_dts;
	bool have_first;
};

/* Reads the video traf of one moof (at file offset moof_off). */
static void parse_moof(const uint8_t *b, size_t len, int64_t moof_off, const struct track *t,
		       struct found *f)
{
	struct box traf, tfhd, sub;
	size_t pos = 0;
	while (next_box(b, &pos, len, &traf)) {
		if (memcmp(traf.type, "traf", 4) != 0)
			continue;
		if (!find_child(b, traf.start, traf.end, "tfhd", &tfhd) ||
		    tfhd.end - tfhd.start < 8)
			continue;
		size_t p = tfhd.start, e = tfhd.end;
		uint32_t tf_flags = rd32(b + p) & 0xffffff;
		if (rd32(b + p + 4) != t->id)
			continue;
		p += 8;
		int64_t base = moof_off;
		uint32_t def_dur = t->def_duration, def_size = t->def_size,
			 def_flags = t->def_flags;
		if (tf_flags & 0x1) {
			if (p + 8 > e)
				continue;
			base = (int64_t)rd64(b + p);
			p += 8;
		}
		if (tf_flags & 0x2)
			p += 4;
		if (tf_flags & 0x8) {
			if (p + 4 > e)
				continue;
			def_dur = rd32(b + p);
			p += 4;
		}
		if (tf_flags & 0x10) {
			if (p + 4 > e)
				continue;
			def_size = rd32(b + p);
			p += 4;
		}
		if (tf_flags & 0x20) {
			if (p + 4 > e)
				continue;
			def_flags = rd32(b + p);
		}
		int64_t dts = 0;
		size_t q = traf.start;
		if (find_child(b, traf.start, traf.end, "tfdt", &sub) && sub.end - sub.start >= 8)
			dts = b[sub.start] == 1 && sub.end - sub.start >= 12
				      ? (int64_t)rd64(b + sub.start + 4)
				      : rd32(b + sub.start + 4);
		if (!f->have_first) {
			f->first_dts = dts;
			f->have_first = true;
		}
		int64_t data = base;
		while (next_box(b, &q, traf.end, &sub)) {
			if (memcmp(sub.type, "trun", 4) != 0 || sub.end - sub.start < 8)
				continue;
			size_t r = sub.start, re = sub.end;
			uint32_t flags = rd32(b + r) & 0xffffff;
			uint32_t count = rd32(b + r + 4);
			r += 8;
			uint32_t first_flags = 0;
			bool has_first = false;
			if (flags & 0x1) {
				if (r + 4 > re)
					break;
				data = base + (int32_t)rd32(b + r);
				r += 4;
			}
			if (flags & 0x4) {
				if (r + 4 > re)
					break;
				first_flags = rd32(b + r);
				has_first = true;
				r += 4;
			}
			size_t per = 4u * (((flags & 0x100) != 0) + ((flags & 0x200) != 0) +
					   ((flags & 0x400) != 0) + ((flags & 0x800) != 0));
			if ((per && count > (re - r) / per) || count > (1u << 20))
				break;
			for (uint32_t i = 0; i < count; i++) {
				uint32_t dur = def_dur, size = def_size, sflags = def_flags;
				if (flags & 0x100) {
					dur = rd32(b + r);
					r += 4;
				}
				if (flags & 0x200) {
					size = rd32(b + r);
					r += 4;
				}
				if (flags & 0x400) {
					sflags = rd32(b + r);
					r += 4;
				}
				if (flags & 0x800)
					r += 4;
				if (i == 0 && has_first)
					sflags = first_flags;
				if (!(sflags & SAMPLE_NON_SYNC) && size > 0) {
					f->offset = data;
					f->size = size;
					f->dts = dts;
					f->any = true;
				}
				data += size;
				dts += dur;
			}
		}
	}
}

static int read_keyframe(const struct src *s, struct inspect_keyframe *kf, char *err, size_t errlen)
{
	uint8_t head[16];
	uint8_t *moov = NULL, *moof = NULL;
	struct track t = { 0 };
	struct found f = { 0 };
	bool have_moov = false;
	int64_t off = 0;
	int ret = -EINVAL;

	memset(kf, 0, sizeof(*kf));
	while (off + 8 <= s->size) {
		if ((ret = src_read(s, off, head, 8)) < 0)
			break;
		uint64_t size = rd32(head);
		int64_t hlen = 8;
		if (size == 1) {
			if (src_read(s, off + 8, head + 8, 8) < 0)
				break;
			size = rd64(head + 8);
			hlen = 16;
		} else if (size == 0) {
			size = (uint64_t)(s->size - off);
		}
		if (size < (uint64_t)hlen || size > (uint64_t)(s->size - off))
			break; /* torn or malformed: the walk ends here */
		if (!memcmp(head + 4, "moov", 4) && !have_moov) {
			if (size > MOOV_MAX) {
				snprintf(err, errlen, "moov box of %llu bytes",
					 (unsigned long long)size);
				ret = -EFBIG;
				goto out;
			}
			size_t n = (size_t)size - (size_t)hlen;
			if (!(moov = malloc(n ? n : 1))) {
				ret = -ENOMEM;
				goto out;
			}
			if ((ret = src_read(s, off + hlen, moov, n)) < 0)
				goto io;
			if ((ret = parse_moov(moov, n, &t, err, errlen)) < 0)
				goto out;
			have_moov = true;
		} else if (!memcmp(head + 4, "moof", 4) && have_moov && size <= MOOF_MAX) {
			size_t n = (size_t)size - (size_t)hlen;
			uint8_t *m = realloc(moof, n ? n : 1);
			if (!m) {
				ret = -ENOMEM;
				goto out;
			}
			moof = m;
			if ((ret = src_read(s, off + hlen, moof, n)) < 0)
				goto io;
			/* a sample is whole only if the file holds all of it */
			struct found before = f;
			parse_moof(moof, n, off, &t, &f);
			if (f.any && (f.offset < 0 || f.offset > s->size ||
				      (int64_t)f.size > s->size - f.offset))
				f = before;
		}
		off += (int64_t)size;
	}
	if (!have_moov) {
		snprintf(err, errlen, "no moov box");
		ret = -EINVAL;
		goto out;
	}
	if (!f.any) {
		snprintf(err, errlen, "no keyframe yet");
		ret = -ENOENT;
		goto out;
	}
	if (f.size > SAMPLE_MAX || t.extradata_len > EXTRADATA_MAX) {
		snprintf(err, errlen, "keyframe of %u bytes", f.size);
		ret = -EFBIG;
		goto out;
	}
	ret = -ENOMEM;
	if (!(kf->data = malloc(f.size)))
		goto out;
	if (t.extradata_len && !(kf->extradata = malloc(t.extradata_len)))
		goto out;
	if ((ret = src_read(s, f.offset, kf->data, f.size)) < 0)
		goto io;
	kf->len = f.size;
	if (t.extradata_len)
		memcpy(kf->extradata, t.extradata, t.extradata_len);
	kf->extradata_len = t.extradata_len;
	snprintf(kf->codec, sizeof(kf->codec), "%s", t.codec);
	kf->offset = f.offset;
	kf->media_us = t.timescale ? (f.dts - f.first_dts) * 1000000 / (int64_t)t.timescale : 0;
	ret = 0;
	goto out;
io:
	snprintf(err, errlen, "cannot read: %s", strerror(-ret));
out:
	free(moov);
	free(moof);
	if (ret < 0)
		inspect_keyframe_release(kf);
	return ret;
}

int inspect_read_keyframe(const char *path, struct inspect_keyframe *kf, char *err, size_t errlen)
{
	struct stat st;
	memset(kf, 0, sizeof(*kf));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		snprintf(err, errlen, "cannot stat '%s': %s", path, strerror(e));
		return -e;
	}
	struct src s = { .fd = fd, .size = st.st_size };
	int ret = read_keyframe(&s, kf, err, errlen);
	close(fd);
	return ret;
}

int inspect_read_keyframe_mem(const uint8_t *file, size_t size, struct inspect_keyframe *kf,
			      char *err, size_t errlen)
{
	struct src s = { .fd = -1, .mem = file, .size = (int64_t)size };
	return read_keyframe(&s, kf, err, errlen);
}

void inspect_keyframe_release(struct inspect_keyframe *kf)
{
	free(kf->data);
	free(kf->extradata);
	kf->data = kf->extradata = NULL;
	kf->len = kf->extradata_len = 0;
}
