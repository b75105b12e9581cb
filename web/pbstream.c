/*
 * Playback streams from the segment files; see playback.h.
 *
 * A segment file (ingest/segwriter.c, ingest/fragwriter.c) is ftyp, a moov
 * with no samples and an mvex, then one moof + mdat per fragment of at
 * most a second; a fragment closes at every keyframe, so a keyframe always
 * starts a fragment, but a fragment may start without one (a GOP longer
 * than a second).  Files written by libavformat's muxer (audio, other
 * codecs) have the same shape with one traf per track, and may end with an
 * mfra.  Every moof uses default-base-is-moof, so its data offsets are
 * relative to itself and a fragment can be moved as one piece.
 *
 * Laying out a stream reads only the boxes' headers and the moofs (a few
 * hundred bytes each, found with one pread of a small window per
 * fragment), and keeps per fragment where it lies in its file and where
 * it lies in the stream.  Serving reads the moof again, patches its
 * sequence number and decode times in a copy, and copies the rest of the
 * fragment straight from the file: the footage is never held in memory.
 *
 * Decode times: each file's samples count from 0 at the segment's start.
 * The first file is shifted so the stream starts at 0; every later file
 * so that its first video sample follows the last one of the file before
 * (end = decode time + durations), other tracks by the same time in their
 * own timescale, which keeps them in step with the video.
 */
#include "web/playback.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libavutil/mathematics.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/banned.h"

#define FCC(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

#define INIT_MAX (1024 * 1024) /* ftyp + an empty moov: a few KiB */
#define MOOF_MAX (1024 * 1024) /* 8-16 bytes a sample */
#define WINDOW 8192	       /* one read finds a moof and the mdat after it */
#define TRACKS_MAX 8

#define TFHD_BASE_DATA_OFFSET 0x000001u
#define TFHD_SAMPLE_DESCRIPTION 0x000002u
#define TFHD_DEFAULT_DURATION 0x000008u
#define TFHD_DEFAULT_SIZE 0x000010u
#define TFHD_DEFAULT_FLAGS 0x000020u
#define TRUN_DATA_OFFSET 0x001u
#define TRUN_FIRST_SAMPLE_FLAGS 0x004u
#define TRUN_SAMPLE_DURATION 0x100u
#define TRUN_SAMPLE_SIZE 0x200u
#define TRUN_SAMPLE_FLAGS 0x400u
#define TRUN_SAMPLE_CTS 0x800u
#define SAMPLE_NON_SYNC 0x00010000u

/* ---- reading boxes ------------------------------------------------------ */

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)(v >> 32));
	wr32(p + 4, (uint32_t)v);
}

struct box {
	uint32_t type;
	uint8_t *body;
	size_t len; /* of the body */
};

/* The child box at *pos of [p, p + len): 1 and *b, 0 at the end, -EINVAL
 * for a box that does not fit. */
static int box_next(uint8_t *p, size_t len, size_t *pos, struct box *b)
{
	if (*pos >= len)
		return 0;
	if (len - *pos < 8)
		return -EINVAL;
	uint8_t *h = p + *pos;
	uint64_t size = rd32(h);
	size_t hl = 8;
	if (size == 1) {
		if (len - *pos < 16)
			return -EINVAL;
		size = rd64(h + 8);
		hl = 16;
	} else if (size == 0) {
		size = len - *pos;
	}
	if (size < hl || size > len - *pos)
		return -EINVAL;
	b->type = rd32(h + 4);
	b->body = h + hl;
	b->len = (size_t)size - hl;
	*pos += (size_t)size;
	return 1;
}

/* The first child of type in [p, p + len), or NULL. */
static uint8_t *box_find(uint8_t *p, size_t len, uint32_t type, size_t *blen)
{
	size_t pos = 0;
	struct box b;
	while (box_next(p, len, &pos, &b) == 1)
		if (b.type == type) {
			*blen = b.len;
			return b.body;
		}
	return NULL;
}

/* ---- the init segment --------------------------------------------------- */

struct track {
	uint32_t id;
	uint32_t timescale;
	uint32_t handler;
	uint32_t trex_duration, trex_flags;
	const uint8_t *stsd; /* inside init.bytes */
	size_t stsd_len;
};

struct init {
	uint8_t *bytes; /* ftyp .. moov, as in the file */
	size_t len;
	struct track t[TRACKS_MAX];
	int ntracks;
	int video; /* index in t */
	char codec[PB_CODEC_MAX];
	bool hevc;
};

static void init_release(struct init *in)
{
	free(in->bytes);
	memset(in, 0, sizeof(*in));
}

static int track_index(const struct init *in, uint32_t id)
{
	for (int i = 0; i < in->ntracks; i++)
		if (in->t[i].id == id)
			return i;
	return -1;
}

static void hex_append(char *out, size_t size, const char *fmt, unsigned v)
{
	size_t n = strlen(out);
	if (n < size)
		snprintf(out + n, size - n, fmt, v);
}

/* RFC 6381 (and ISO/IEC 14496-15 annex E) name of a sample entry. */
static void codec_name(const struct track *t, char *out, size_t size)
{
	out[0] = '\0';
	if (t->stsd_len < 8 + 8)
		return;
	const uint8_t *e = t->stsd + 8; /* version/flags, entry_count */
	uint32_t esize = rd32(e), type = rd32(e + 4);
	if (esize < 8 || esize > t->stsd_len - 8)
		return;
	char fcc[5] = { (char)(type >> 24), (char)(type >> 16), (char)(type >> 8), (char)type, 0 };
	uint8_t *body = (uint8_t *)e + 8;
	size_t blen = esize - 8, clen;
	uint8_t *c;

	if (type == FCC('a', 'v', 'c', '1') || type == FCC('a', 'v', 'c', '3')) {
		if (blen > 78 &&
		    (c = box_find(body + 78, blen - 78, FCC('a', 'v', 'c', 'C'), &clen)) &&
		    clen >= 4) {
			snprintf(out, size, "%s.%02x%02x%02x", fcc, c[1], c[2], c[3]);
			return;
		}
	} else if (type == FCC('h', 'v', 'c', '1') || type == FCC('h', 'e', 'v', '1')) {
		if (blen > 78 &&
		    (c = box_find(body + 78, blen - 78, FCC('h', 'v', 'c', 'C'), &clen)) &&
		    clen >= 13) {
			static const char *space[] = { "", "A", "B", "C" };
			uint32_t compat = rd32(c + 2), rev = 0;
			for (int i = 0; i < 32; i++)
				if (compat & (1u << i))
					rev |= 1u << (31 - i);
			snprintf(out, size, "%s.%s%u.%x.%c%u", fcc, space[c[1] >> 6],
				 (unsigned)(c[1] & 0x1fu), rev, (c[1] & 0x20) ? 'H' : 'L',
				 (unsigned)c[12]);
			int last = 5;
			while (last >= 0 && c[6 + last] == 0)
				last--;
			for (int i = 0; i <= last; i++)
				hex_append(out, size, ".%X", c[6 + i]);
			return;
		}
	} else if (type == FCC('m', 'p', '4', 'a')) {
		/* esds: ES_Descriptor (3) > DecoderConfigDescriptor (4) >
		 * DecoderSpecificInfo (5), whose first 5 bits are the audio
		 * object type */
		unsigned oti = 0x40, aot = 2;
		if (blen > 28 &&
		    (c = box_find(body + 28, blen - 28, FCC('e', 's', 'd', 's'), &clen)) &&
		    clen > 4) {
			const uint8_t *p = c + 4, *end = c + clen;
			while (p + 2 <= end) {
				unsigned tag = *p++;
				size_t dlen = 0;
				for (int i = 0; i < 4 && p < end; i++) {
					uint8_t v = *p++;
					dlen = dlen << 7 | (v & 0x7f);
					if (!(v & 0x80))
						break;
				}
				if (tag == 3) {
					if (p + 3 > end)
						break;
					uint8_t fl = p[2];
					p += 3 + ((fl & 0x80) ? 2 : 0) + ((fl & 0x20) ? 2 : 0);
					if ((fl & 0x40) && p < end)
						p += 1 + *p;
				} else if (tag == 4) {
					if (p + 13 > end)
						break;
					oti = p[0];
					p += 13;
				} else if (tag == 5) {
					if (p < end && dlen > 0) {
						aot = p[0] >> 3;
						if (aot == 31 && p + 1 < end)
							aot = 32 + ((p[0] & 7) << 3 | p[1] >> 5);
					}
					break;
				} else {
					p += dlen;
				}
			}
		}
		if (oti == 0x40)
			snprintf(out, size, "mp4a.40.%u", aot);
		else
			snprintf(out, size, "mp4a.%02x", oti);
		return;
	}
	snprintf(out, size, "%s", fcc);
}

static int parse_trak(uint8_t *p, size_t len, struct track *t)
{
	size_t pos = 0, n;
	struct box b;
	int ret;
	while ((ret = box_next(p, len, &pos, &b)) == 1) {
		if (b.type == FCC('t', 'k', 'h', 'd')) {
			size_t at = b.len > 0 && b.body[0] == 1 ? 4 + 16 : 4 + 8;
			if (b.len < at + 4)
				return -EINVAL;
			t->id = rd32(b.body + at);
		} else if (b.type == FCC('m', 'd', 'i', 'a')) {
			uint8_t *q;
			if ((q = box_find(b.body, b.len, FCC('m', 'd', 'h', 'd'), &n))) {
				size_t at = n > 0 && q[0] == 1 ? 4 + 16 : 4 + 8;
				if (n < at + 4)
					return -EINVAL;
				t->timescale = rd32(q + at);
			}
			if ((q = box_find(b.body, b.len, FCC('h', 'd', 'l', 'r'), &n)) && n >= 12)
				t->handler = rd32(q + 8);
			uint8_t *minf = box_find(b.body, b.len, FCC('m', 'i', 'n', 'f'), &n);
			uint8_t *stbl =
				minf ? box_find(minf, n, FCC('s', 't', 'b', 'l'), &n) : NULL;
			uint8_t *stsd =
				stbl ? box_find(stbl, n, FCC('s', 't', 's', 'd'), &n) : NULL;
			if (stsd) {
				t->stsd = stsd;
				t->stsd_len = n;
			}
		}
	}
	return ret;
}

/* Parses in->bytes (ftyp .. moov): the tracks, their defaults, the codec. */
static int parse_init(struct init *in, char *err, size_t errlen)
{
	size_t pos = 0, mlen = 0;
	struct box b;
	uint8_t *moov = NULL;
	int ret;

	while ((ret = box_next(in->bytes, in->len, &pos, &b)) == 1)
		if (b.type == FCC('m', 'o', 'o', 'v')) {
			moov = b.body;
			mlen = b.len;
		}
	if (ret < 0 || !moov) {
		snprintf(err, errlen, "no moov");
		return -EINVAL;
	}
	pos = 0;
	in->ntracks = 0;
	in->video = -1;
	while ((ret = box_next(moov, mlen, &pos, &b)) == 1) {
		if (b.type == FCC('t', 'r', 'a', 'k')) {
			if (in->ntracks == TRACKS_MAX) {
				snprintf(err, errlen, "more than %d tracks", TRACKS_MAX);
				return -EINVAL;
			}
			struct track *t = &in->t[in->ntracks];
			memset(t, 0, sizeof(*t));
			if ((ret = parse_trak(b.body, b.len, t)) < 0 || t->timescale == 0 ||
			    !t->stsd) {
				snprintf(err, errlen, "a trak without a timescale or stsd");
				return -EINVAL;
			}
			if (t->handler == FCC('v', 'i', 'd', 'e') && in->video < 0)
				in->video = in->ntracks;
			in->ntracks++;
		} else if (b.type == FCC('m', 'v', 'e', 'x')) {
			size_t p2 = 0;
			struct box x;
			while (box_next(b.body, b.len, &p2, &x) == 1) {
				if (x.type != FCC('t', 'r', 'e', 'x') || x.len < 24)
					continue;
				int k = track_index(in, rd32(x.body + 4));
				if (k >= 0) {
					in->t[k].trex_duration = rd32(x.body + 12);
					in->t[k].trex_flags = rd32(x.body + 20);
				}
			}
		}
	}
	if (ret < 0 || in->video < 0) {
		snprintf(err, errlen, "no video track");
		return -EINVAL;
	}
	codec_name(&in->t[in->video], in->codec, sizeof(in->codec));
	uint32_t vt = in->t[in->video].stsd_len >= 16 ? rd32(in->t[in->video].stsd + 12) : 0;
	in->hevc = vt == FCC('h', 'v', 'c', '1') || vt == FCC('h', 'e', 'v', '1');
	for (int i = 0; i < in->ntracks; i++) {
		char c[32];
		if (i == in->video || in->t[i].handler != FCC('s', 'o', 'u', 'n'))
			continue;
		codec_name(&in->t[i], c, sizeof(c));
		size_t n = strlen(in->codec);
		snprintf(in->codec + n, sizeof(in->codec) - n, ",%s", c);
	}
	return 0;
}

/* Whether a stream that began with a's init segment can go on with b's
 * fragments: the same tracks with the same sample descriptions and
 * defaults (the codec, its parameter sets, the picture size). */
static bool same_format(const struct init *a, const struct init *b)
{
	if (a->ntracks != b->ntracks || a->video != b->video)
		return false;
	for (int i = 0; i < a->ntracks; i++) {
		const struct track *x = &a->t[i], *y = &b->t[i];
		if (x->id != y->id || x->timescale != y->timescale || x->handler != y->handler ||
		    x->trex_duration != y->trex_duration || x->trex_flags != y->trex_flags ||
		    x->stsd_len != y->stsd_len || memcmp(x->stsd, y->stsd, x->stsd_len) != 0)
			return false;
	}
	return true;
}

/* ---- files -------------------------------------------------------------- */

/* A window on a file: reads come from one small buffer refilled with
 * pread, so walking a file costs about one system call per fragment. */
struct reader {
	int fd;
	int64_t size; /* of the file when opened (a growing one: refreshed) */
	uint8_t *buf;
	size_t cap;
	int64_t at; /* file offset of buf[0] */
	size_t have;
};

static int pread_all(int fd, void *buf, size_t n, int64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ENODATA; /* shorter than it was */
		got += (size_t)r;
	}
	return 0;
}

static void reader_close(struct reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static int reader_refresh(struct reader *r)
{
	struct stat st;
	if (fstat(r->fd, &st) < 0)
		return -errno;
	r->size = st.st_size;
	return 0;
}

/* Whether a catalog path stays inside the storage: relative, no "..". */
static bool path_inside(const char *rel)
{
	if (rel[0] == '/' || rel[0] == '\0')
		return false;
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		p += *p == '/';
	}
	return true;
}

/* Opens STORAGE/rel, refusing a path that climbs out of the storage. */
static int reader_open(struct reader *r, const char *storage, const char *rel)
{
	char path[PATH_MAX];
	int ret;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (!path_inside(rel))
		return -EINVAL;
	if ((ret = fs_join(path, sizeof(path), storage, rel)) < 0)
		return ret;
	if ((r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	if ((ret = reader_refresh(r)) < 0) {
		reader_close(r);
		return ret;
	}
	return 0;
}

/* n bytes at off, or NULL (-ENODATA past the end of the file). */
static const uint8_t *reader_get(struct reader *r, int64_t off, size_t n, int *err)
{
	*err = 0;
	if (off < 0 || off + (int64_t)n > r->size) {
		*err = -ENODATA;
		return NULL;
	}
	if (off >= r->at && off + (int64_t)n <= r->at + (int64_t)r->have)
		return r->buf + (off - r->at);
	size_t want = n > WINDOW ? n : WINDOW;
	if (off + (int64_t)want > r->size)
		want = (size_t)(r->size - off);
	if (want > r->cap) {
		uint8_t *b = realloc(r->buf, want);
		if (!b) {
			*err = -ENOMEM;
			return NULL;
		}
		r->buf = b;
		r->cap = want;
	}
	r->have = 0;
	if ((*err = pread_all(r->fd, r->buf, want, off)) < 0)
		return NULL;
	r->at = off;
	r->have = want;
	return r->buf;
}

/* A top-level box header at off: its type, size and header length.
 * -ENODATA when the box is not whole in the file (torn, or still being
 * written). */
static int top_box(struct reader *r, int64_t off, uint32_t *type, int64_t *size)
{
	int err;
	const uint8_t *h = reader_get(r, off, 8, &err);
	if (!h)
		return err;
	uint64_t sz = rd32(h);
	*type = rd32(h + 4);
	if (sz == 1) {
		if (!(h = reader_get(r, off, 16, &err)))
			return err;
		sz = rd64(h + 8);
	}
	if (sz < 8 || sz > (uint64_t)(r->size - off))
		return -ENODATA;
	*size = (int64_t)sz;
	return 0;
}

/* Reads the init segment (every top-level box up to the end of moov) into
 * in and parses it; *after is where the first fragment may start. */
static int read_init(struct reader *r, struct init *in, int64_t *after, char *err, size_t errlen)
{
	int64_t off = 0, size;
	uint32_t type;
	int ret;

	memset(in, 0, sizeof(*in));
	for (;;) {
		if ((ret = top_box(r, off, &type, &size)) < 0) {
			snprintf(err, errlen, "no whole moov");
			return ret == -ENODATA ? -EINVAL : ret;
		}
		off += size;
		if (off > INIT_MAX) {
			snprintf(err, errlen, "the header is larger than %d bytes", INIT_MAX);
			return -EINVAL;
		}
		if (type == FCC('m', 'o', 'o', 'v'))
			break;
		if (type == FCC('m', 'o', 'o', 'f')) {
			snprintf(err, errlen, "a moof before the moov");
			return -EINVAL;
		}
	}
	if (!(in->bytes = malloc((size_t)off)))
		return -ENOMEM;
	in->len = (size_t)off;
	if ((ret = pread_all(r->fd, in->bytes, in->len, 0)) < 0 ||
	    (ret = parse_init(in, err, errlen)) < 0) {
		if (!err[0])
			snprintf(err, errlen, "cannot read the header: %s", strerror(-ret));
		init_release(in);
		return ret;
	}
	*after = off;
	return 0;
}

/* ---- fragments ---------------------------------------------------------- */

struct frag_info {
	int64_t vtime; /* video decode time of the first sample, -1 with no video */
	int64_t vdur;  /* of the video samples */
	bool key;      /* the first video sample is a sync sample */
};

/*
 * Walks a moof (its body) against init: fills fi, and when shift is not
 * NULL patches the copy in place, the mfhd sequence to seq and each tfdt
 * by shift[track index] (never below 0).  -EINVAL for a moof this cannot
 * move (an absolute base data offset, an unknown track, a decode time
 * that no longer fits its field).
 */
static int walk_moof(uint8_t *p, size_t len, const struct init *in, struct frag_info *fi,
		     const int64_t *shift, uint32_t seq)
{
	size_t pos = 0;
	struct box b;
	int ret;

	fi->vtime = -1;
	fi->vdur = 0;
	fi->key = false;
	while ((ret = box_next(p, len, &pos, &b)) == 1) {
		if (b.type == FCC('m', 'f', 'h', 'd')) {
			if (b.len < 8)
				return -EINVAL;
			if (shift)
				wr32(b.body + 4, seq);
			continue;
		}
		if (b.type != FCC('t', 'r', 'a', 'f'))
			continue;
		size_t tp = 0;
		struct box c;
		const struct track *t = NULL;
		int k = -1;
		uint32_t def_dur = 0, def_flags = 0;
		int64_t tfdt = -1, dur = 0;
		bool first = true, key = false;
		while ((ret = box_next(b.body, b.len, &tp, &c)) == 1) {
			if (c.type == FCC('t', 'f', 'h', 'd')) {
				if (c.len < 8)
					return -EINVAL;
				uint32_t fl = rd32(c.body) & 0xffffff;
				if (fl & TFHD_BASE_DATA_OFFSET)
					return -EINVAL;
				if ((k = track_index(in, rd32(c.body + 4))) < 0)
					return -EINVAL;
				t = &in->t[k];
				def_dur = t->trex_duration;
				def_flags = t->trex_flags;
				size_t at = 8 + ((fl & TFHD_SAMPLE_DESCRIPTION) ? 4 : 0);
				if (fl & TFHD_DEFAULT_DURATION) {
					if (c.len < at + 4)
						return -EINVAL;
					def_dur = rd32(c.body + at);
					at += 4;
				}
				at += (fl & TFHD_DEFAULT_SIZE) ? 4 : 0;
				if (fl & TFHD_DEFAULT_FLAGS) {
					if (c.len < at + 4)
						return -EINVAL;
					def_flags = rd32(c.body + at);
				}
			} else if (c.type == FCC('t', 'f', 'd', 't')) {
				if (!t || c.len < 8)
					return -EINVAL;
				bool v1 = c.body[0] == 1;
				if (v1 && c.len < 12)
					return -EINVAL;
				tfdt = v1 ? (int64_t)rd64(c.body + 4) : (int64_t)rd32(c.body + 4);
				if (shift) {
					int64_t nt = tfdt + shift[k];
					if (nt < 0)
						nt = 0;
					if (v1)
						wr64(c.body + 4, (uint64_t)nt);
					else if (nt > UINT32_MAX)
						return -EINVAL;
					else
						wr32(c.body + 4, (uint32_t)nt);
				}
			} else if (c.type == FCC('t', 'r', 'u', 'n')) {
				if (!t || c.len < 8)
					return -EINVAL;
				uint32_t fl = rd32(c.body) & 0xffffff, count = rd32(c.body + 4);
				size_t at = 8;
				uint32_t first_flags = def_flags;
				bool has_first = false;
				if (fl & TRUN_DATA_OFFSET)
					at += 4;
				if (fl & TRUN_FIRST_SAMPLE_FLAGS) {
					if (c.len < at + 4)
						return -EINVAL;
					first_flags = rd32(c.body + at);
					has_first = true;
					at += 4;
				}
				size_t per = 0, flags_at = 0;
				if (fl & TRUN_SAMPLE_DURATION)
					per += 4;
				if (fl & TRUN_SAMPLE_SIZE)
					per += 4;
				flags_at = per;
				if (fl & TRUN_SAMPLE_FLAGS)
					per += 4;
				if (fl & TRUN_SAMPLE_CTS)
					per += 4;
				if (count > 0 && (c.len - at) / count < per)
					return -EINVAL;
				if (first && count > 0) {
					uint32_t f0 = first_flags;
					if (!has_first && (fl & TRUN_SAMPLE_FLAGS))
						f0 = rd32(c.body + at + flags_at);
					key = !(f0 & SAMPLE_NON_SYNC);
					first = false;
				}
				if (!(fl & TRUN_SAMPLE_DURATION))
					dur += (int64_t)count * def_dur;
				else
					for (uint32_t i = 0; i < count; i++)
						dur += rd32(c.body + at + (size_t)i * per);
			}
		}
		if (ret < 0)
			return ret;
		if (k < 0 || tfdt < 0)
			return -EINVAL; /* no track, or no decode time to move */
		if (k == in->video && fi->vtime < 0) {
			fi->vtime = tfdt;
			fi->vdur = dur;
			fi->key = key;
		}
	}
	return ret;
}

/* One fragment of a file: the moof at moof_off, and everything up to the
 * end of its mdat (moof, anything between, mdat: one piece, since the
 * moof's data offsets count from its own start). */
struct frag_at {
	int64_t moof_off, end;
	uint32_t moof_len;
	struct frag_info fi;
};

/*
 * The fragment at *off: 1 and *f (and *off moved past it), 0 when the file
 * has no more whole fragments from *off (the end, a torn tail, a fragment
 * still being written, an mfra), or a negative errno.  Boxes other than
 * moof and mdat are stepped over.
 */
static int next_frag(struct reader *r, const struct init *in, int64_t *off, struct frag_at *f)
{
	int64_t at = *off, size, moof_off = -1;
	uint32_t type, moof_len = 0;
	int ret;

	for (;;) {
		if ((ret = top_box(r, at, &type, &size)) < 0)
			return ret == -ENODATA ? 0 : ret;
		if (type == FCC('m', 'f', 'r', 'a'))
			return 0;
		if (type == FCC('m', 'o', 'o', 'f')) {
			if (size > MOOF_MAX)
				return -EINVAL;
			moof_off = at;
			moof_len = (uint32_t)size;
		} else if (type == FCC('m', 'd', 'a', 't') && moof_off >= 0) {
			break;
		}
		at += size;
	}
	const uint8_t *m = reader_get(r, moof_off, moof_len, &ret);
	if (!m)
		return ret == -ENODATA ? 0 : ret;
	/* walk_moof wants a writable buffer; without shift it writes nothing */
	size_t hl = rd32(m) == 1 ? 16 : 8;
	if ((ret = walk_moof((uint8_t *)m + hl, moof_len - hl, in, &f->fi, NULL, 0)) < 0)
		return ret;
	f->moof_off = moof_off;
	f->moof_len = moof_len;
	f->end = at + size;
	*off = f->end;
	return 1;
}

static int64_t rescale(int64_t v, int64_t num, int64_t den)
{
	return av_rescale(v, num, den);
}

/* The shift of each track of a file whose video shift is vshift. */
static void track_shifts(const struct init *in, int64_t vshift, int64_t *shift)
{
	uint32_t vts = in->t[in->video].timescale;
	for (int i = 0; i < in->ntracks; i++)
		shift[i] = i == in->video ? vshift : rescale(vshift, in->t[i].timescale, vts);
}

/* Patches a copy of a moof (whole box, header included). */
static int patch_moof(uint8_t *moof, size_t len, const struct init *in, int64_t vshift,
		      uint32_t seq)
{
	int64_t shift[TRACKS_MAX];
	struct frag_info fi;
	size_t hl = rd32(moof) == 1 ? 16 : 8;
	track_shifts(in, vshift, shift);
	return walk_moof(moof + hl, len - hl, in, &fi, shift, seq);
}

/* ---- a stream over an interval ------------------------------------------ */

struct pb_file {
	char *path; /* relative to the storage */
	int64_t vshift;
};

struct pb_frag {
	int64_t moof_off; /* in its file */
	int64_t end;	  /* in its file */
	int64_t out;	  /* in the stream */
	uint32_t moof_len;
	uint32_t file;
};

struct pb_stream {
	char *storage;
	struct init init;
	struct pb_file *files;
	size_t nfiles, files_cap;
	struct pb_frag *frags;
	size_t nfrags, frags_cap;
	struct pb_info info;
	/* serving */
	struct reader rd;
	uint32_t rd_file; /* open in rd, when rd.fd >= 0 */
	size_t last;	  /* the fragment read last, where the next read looks first */
	uint8_t *moof;	  /* the patched copy of frags[moof_of].moof */
	size_t moof_cap;
	int64_t moof_of;
};

const char *pb_end_name(enum pb_end e)
{
	switch (e) {
	case PB_END_END: return "end";
	case PB_END_GAP: return "gap";
	case PB_END_FORMAT: return "format-change";
	case PB_END_LIVE: return "live";
	}
	return "end";
}

/* What the catalog says of a segment, kept while the layout is built. */
struct seg {
	int64_t id, start_us, end_us;
	enum segment_state state;
	char *path;
};

struct seg_list {
	struct seg *s;
	size_t n, cap;
	int ret;
};

static int collect_seg(const struct catalog_segment *cs, void *ctx)
{
	struct seg_list *l = ctx;
	if (cs->state != SEGMENT_WRITING && cs->state != SEGMENT_COMPLETE &&
	    cs->state != SEGMENT_RECOVERED)
		return 0;
	if (array_reserve(&l->s, &l->cap, l->n + 1, sizeof(*l->s)) < 0)
		return -ENOMEM;
	struct seg *s = &l->s[l->n];
	if (!(s->path = strdup(cs->path)))
		return -ENOMEM;
	s->id = cs->id;
	s->start_us = cs->start_us;
	s->end_us = cs->end_us;
	s->state = cs->state;
	l->n++;
	return 0;
}

static void seg_list_release(struct seg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i].path);
	free(l->s);
	memset(l, 0, sizeof(*l));
}

void pb_stream_free(struct pb_stream **sp)
{
	struct pb_stream *s = *sp;
	if (!s)
		return;
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i].path);
	free(s->files);
	free(s->frags);
	free(s->storage);
	init_release(&s->init);
	reader_close(&s->rd);
	free(s->moof);
	free(s);
	*sp = NULL;
}

static int64_t wall_of(int64_t start_us, const struct init *in, int64_t t)
{
	return start_us + rescale(t, USEC_PER_SEC, in->t[in->video].timescale);
}

static int add_frag(struct pb_stream *s, const struct frag_at *f, uint32_t file)
{
	if (array_reserve(&s->frags, &s->frags_cap, s->nfrags + 1, sizeof(*s->frags)) < 0)
		return -ENOMEM;
	s->frags[s->nfrags++] = (struct pb_frag){
		.moof_off = f->moof_off, .end = f->end, .moof_len = f->moof_len, .file = file
	};
	return 0;
}

/* What one file gave the stream. */
struct file_part {
	int64_t vfirst;	  /* its first video decode time kept, -1: nothing kept */
	int64_t vend;	  /* where its last kept video sample ends */
	int64_t wall_end; /* the same on the wall clock */
	bool stop;	  /* reached to_us or the fragment limit */
};

/*
 * Adds the fragments of one file that begin before to_us.  In the
 * stream's first file (choose), the stream starts at the last keyframe
 * fragment at or before from_us, else at the first keyframe fragment; a
 * later file is taken from its start (it begins with a keyframe).
 */
static int add_file(struct pb_stream *s, struct reader *r, const struct init *in, int64_t off,
		    int64_t seg_start, bool choose, int64_t from_us, int64_t to_us, uint32_t file,
		    struct file_part *fp)
{
	struct frag_at f;
	size_t base = s->nfrags;
	size_t start = SIZE_MAX; /* index in frags of the chosen start */
	int64_t start_wall = -1, start_vtime = -1;
	int ret;

	*fp = (struct file_part){ .vfirst = -1, .vend = 0, .wall_end = -1 };
	while ((ret = next_frag(r, in, &off, &f)) == 1) {
		int64_t wall = wall_of(seg_start, in, f.fi.vtime >= 0 ? f.fi.vtime : 0);
		if (choose && f.fi.key && f.fi.vtime >= 0 &&
		    (start == SIZE_MAX || wall <= from_us)) {
			if (wall >= to_us)
				break; /* the first keyframe is past the interval */
			start = s->nfrags;
			start_wall = wall;
			start_vtime = f.fi.vtime;
		}
		if (choose && start == SIZE_MAX)
			continue; /* nothing to start from yet */
		if (wall >= to_us || s->nfrags >= PB_FRAGMENTS_MAX) {
			fp->stop = true;
			break;
		}
		if ((ret = add_frag(s, &f, file)) < 0)
			return ret;
		if (f.fi.vtime >= 0) {
			if (fp->vfirst < 0)
				fp->vfirst = f.fi.vtime;
			fp->vend = f.fi.vtime + f.fi.vdur;
			fp->wall_end = wall_of(seg_start, in, fp->vend);
		}
	}
	if (ret < 0)
		return ret;
	if (!choose)
		return 0;
	if (start == SIZE_MAX) {
		s->nfrags = base;
		fp->vfirst = -1;
		return 0;
	}
	/* drop what came before the chosen keyframe */
	memmove(s->frags + base, s->frags + start, (s->nfrags - start) * sizeof(*s->frags));
	s->nfrags -= start - base;
	s->info.start_us = start_wall;
	fp->vfirst = start_vtime;
	return 0;
}

int pb_stream_build(struct catalog *cat, const char *storage, const char *camera, int64_t from_us,
		    int64_t to_us, struct pb_stream **out, char *err, size_t errlen)
{
	struct seg_list l = { 0 };
	struct pb_stream *s = calloc(1, sizeof(*s));
	struct reader r = { .fd = -1 };
	struct init in = { 0 };
	int ret = -ENOMEM;

	err[0] = '\0';
	*out = NULL;
	if (!s || !(s->storage = strdup(storage)))
		goto out;
	s->rd.fd = -1;
	s->moof_of = -1;
	struct catalog_filter flt = { .camera = camera, .from_us = from_us, .to_us = to_us };
	if ((ret = catalog_segments_each(cat, &flt, collect_seg, &l)) < 0) {
		snprintf(err, errlen, "cannot list the segments");
		goto out;
	}
	int64_t out_vend = 0;  /* stream decode time where the last file ended */
	int64_t wall_end = -1; /* where the footage so far ends */
	int64_t media_end = -1;
	bool started = false;
	s->info.end_reason = PB_END_GAP;
	for (size_t i = 0; i < l.n; i++) {
		const struct seg *sg = &l.s[i];
		struct file_part fp;
		int64_t off;
		char why[128] = "";

		if (started && sg->start_us - wall_end > CATALOG_RUN_TOLERANCE_US) {
			s->info.end_reason = PB_END_GAP;
			break;
		}
		if ((ret = reader_open(&r, storage, sg->path)) < 0) {
			snprintf(err, errlen, "cannot open segment %" PRId64 " '%s': %s", sg->id,
				 sg->path, strerror(-ret));
			goto out;
		}
		if ((ret = read_init(&r, &in, &off, why, sizeof(why))) < 0) {
			reader_close(&r);
			if (sg->state == SEGMENT_WRITING && ret == -EINVAL) {
				/* its header is not all written yet */
				s->info.end_reason = PB_END_LIVE;
				break;
			}
			snprintf(err, errlen, "segment %" PRId64 " '%s': %s", sg->id, sg->path,
				 why);
			goto out;
		}
		if (started && !same_format(&s->init, &in)) {
			s->info.end_reason = PB_END_FORMAT;
			break;
		}
		if (array_reserve(&s->files, &s->files_cap, s->nfiles + 1, sizeof(*s->files)) < 0 ||
		    !(s->files[s->nfiles].path = strdup(sg->path))) {
			ret = -ENOMEM;
			goto out;
		}
		uint32_t fidx = (uint32_t)s->nfiles++;
		ret = add_file(s, &r, &in, off, sg->start_us, !started, from_us, to_us, fidx, &fp);
		reader_close(&r);
		if (ret < 0) {
			snprintf(err, errlen, "segment %" PRId64 " '%s': %s", sg->id, sg->path,
				 ret == -EINVAL ? "a fragment that cannot be served"
						: strerror(-ret));
			goto out;
		}
		if (fp.vfirst < 0) {
			/* nothing of it: still empty, or no keyframe in the interval */
			free(s->files[--s->nfiles].path);
			init_release(&in);
			if (sg->state == SEGMENT_WRITING) {
				s->info.end_reason = PB_END_LIVE;
				break;
			}
			continue;
		}
		if (!started) {
			s->init = in;
			memset(&in, 0, sizeof(in));
			s->files[fidx].vshift = -fp.vfirst;
			started = true;
		} else {
			init_release(&in);
			s->files[fidx].vshift = out_vend - fp.vfirst;
		}
		out_vend = fp.vend + s->files[fidx].vshift;
		media_end = fp.wall_end;
		/* gaps are judged by the catalog's times, as continuity is */
		wall_end = sg->end_us > 0 ? sg->end_us : fp.wall_end;
		s->info.segments++;
		if (fp.stop) {
			s->info.end_reason = PB_END_END;
			break;
		}
		if (sg->state == SEGMENT_WRITING) {
			s->info.end_reason = PB_END_LIVE;
			break;
		}
		s->info.end_reason =
			wall_end >= to_us - CATALOG_RUN_TOLERANCE_US ? PB_END_END : PB_END_GAP;
	}
	if (!started) {
		snprintf(err, errlen, "no footage of camera '%s' in the interval", camera);
		ret = -ENOENT;
		goto out;
	}
	int64_t pos = (int64_t)s->init.len;
	for (size_t i = 0; i < s->nfrags; i++) {
		s->frags[i].out = pos;
		pos += s->frags[i].end - s->frags[i].moof_off;
	}
	s->info.size = pos;
	s->info.end_us = media_end;
	s->info.fragments = (int64_t)s->nfrags;
	snprintf(s->info.codec, sizeof(s->info.codec), "%s", s->init.codec);
	s->info.hevc = s->init.hevc;
	*out = s;
	s = NULL;
	ret = 0;
out:
	init_release(&in);
	reader_close(&r);
	seg_list_release(&l);
	pb_stream_free(&s);
	return ret;
}

const struct pb_info *pb_stream_info(const struct pb_stream *s)
{
	return &s->info;
}

/* The fragment holding stream offset pos (>= the init segment). */
static size_t find_frag(struct pb_stream *s, int64_t pos)
{
	size_t i = s->last;
	if (i < s->nfrags && s->frags[i].out <= pos &&
	    (i + 1 == s->nfrags || s->frags[i + 1].out > pos))
		return i;
	if (i + 1 < s->nfrags && s->frags[i + 1].out <= pos &&
	    (i + 2 == s->nfrags || s->frags[i + 2].out > pos))
		return i + 1;
	size_t lo = 0, hi = s->nfrags;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->frags[mid].out <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int use_file(struct pb_stream *s, uint32_t file)
{
	if (s->rd.fd >= 0 && s->rd_file == file)
		return 0;
	reader_close(&s->rd);
	int ret = reader_open(&s->rd, s->storage, s->files[file].path);
	if (ret == 0)
		s->rd_file = file;
	return ret;
}

ssize_t pb_stream_read(struct pb_stream *s, int64_t pos, void *buf, size_t n)
{
	uint8_t *dst = buf;
	size_t done = 0;
	int ret;

	while (done < n && pos < s->info.size) {
		size_t want = n - done;
		if (pos < (int64_t)s->init.len) {
			size_t k = (size_t)((int64_t)s->init.len - pos);
			k = k < want ? k : want;
			memcpy(dst + done, s->init.bytes + pos, k);
			done += k;
			pos += (int64_t)k;
			continue;
		}
		size_t i = find_frag(s, pos);
		const struct pb_frag *f = &s->frags[i];
		int64_t in = pos - f->out;
		int64_t flen = f->end - f->moof_off;
		s->last = i;
		if ((ret = use_file(s, f->file)) < 0)
			return ret;
		if (in < f->moof_len) {
			if (s->moof_of != (int64_t)i) {
				if (f->moof_len > s->moof_cap) {
					uint8_t *m = realloc(s->moof, f->moof_len);
					if (!m)
						return -ENOMEM;
					s->moof = m;
					s->moof_cap = f->moof_len;
				}
				s->moof_of = -1;
				if ((ret = pread_all(s->rd.fd, s->moof, f->moof_len, f->moof_off)) <
					    0 ||
				    (ret = patch_moof(s->moof, f->moof_len, &s->init,
						      s->files[f->file].vshift, (uint32_t)i + 1)) <
					    0)
					return ret;
				s->moof_of = (int64_t)i;
			}
			size_t k = (size_t)(f->moof_len - in);
			k = k < want ? k : want;
			memcpy(dst + done, s->moof + in, k);
			done += k;
			pos += (int64_t)k;
			continue;
		}
		size_t k = (size_t)(flen - in);
		k = k < want ? k : want;
		if ((ret = pread_all(s->rd.fd, dst + done, k, f->moof_off + in)) < 0)
			return ret;
		done += k;
		pos += (int64_t)k;
	}
	return (ssize_t)done;
}

/* ---- Range -------------------------------------------------------------- */

static int parse_pos(const char **p, int64_t *v)
{
	const char *s = *p;
	int64_t x = 0;
	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		if (x > (INT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (*s++ - '0');
	}
	*v = x;
	*p = s;
	return 0;
}

int pb_parse_range(const char *h, int64_t size, int64_t *first, int64_t *last)
{
	if (!h)
		return 0;
	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "bytes", 5) != 0)
		return 0; /* another unit: ignored (RFC 9110 14.2) */
	h += 5;
	while (*h == ' ')
		h++;
	if (*h++ != '=')
		return -ERANGE;
	while (*h == ' ')
		h++;
	if (strchr(h, ','))
		return 0; /* several ranges: sending the whole is allowed */
	int64_t a, b;
	if (*h == '-') {
		h++;
		if (parse_pos(&h, &b) < 0 || b == 0)
			return -ERANGE;
		a = b >= size ? 0 : size - b;
		b = size - 1;
	} else {
		if (parse_pos(&h, &a) < 0 || *h++ != '-')
			return -ERANGE;
		if (*h >= '0' && *h <= '9') {
			if (parse_pos(&h, &b) < 0 || b < a)
				return -ERANGE;
			if (b >= size)
				b = size - 1;
		} else {
			b = size - 1;
		}
	}
	while (*h == ' ' || *h == '\t')
		h++;
	if (*h != '\0' || a >= size || size == 0)
		return -ERANGE;
	*first = a;
	*last = b;
	return 1;
}

/* ---- live --------------------------------------------------------------- */

#define LIVE_POLL_US 100000
/* After its segment is finished, how long live waits for the next. */
#define LIVE_NEXT_WAIT_US (10 * USEC_PER_SEC)

struct pb_live {
	struct catalog *cat;
	char *storage;
	char camera[CATALOG_CAMERA_MAX];
	struct pb_info info;
	struct init init; /* the stream's (the first file's) */
	struct init cur;  /* the current file's, once it is not the first */
	struct catalog_segment seg;
	struct reader rd;
	int64_t scan; /* where the next fragment of the file is looked for */
	bool have_shift;
	int64_t vshift;
	int64_t out_vend; /* where the stream's decode time has reached */
	uint32_t seq;
	/* what is to be sent next: bytes in memory, then a range of the file */
	uint8_t *mem;
	size_t mem_cap, mem_len, mem_pos;
	int64_t file_off, file_left;
	bool sent_init;
	int64_t finished_mono; /* when the segment was seen finished, or 0 */
	bool ended;
};

struct newest {
	struct catalog_segment seg;
	bool found;
	int64_t after_id, after_start; /* for the next segment: after this one */
};

static int newest_writing(const struct catalog_segment *cs, void *ctx)
{
	struct newest *n = ctx;
	if (cs->state == SEGMENT_WRITING) {
		n->seg = *cs;
		n->found = true;
	}
	return 0;
}

static int next_after(const struct catalog_segment *cs, void *ctx)
{
	struct newest *n = ctx;
	if (cs->id == n->after_id || cs->start_us < n->after_start ||
	    (cs->state != SEGMENT_WRITING && cs->state != SEGMENT_COMPLETE &&
	     cs->state != SEGMENT_RECOVERED))
		return 0;
	n->seg = *cs;
	n->found = true;
	return 1;
}

void pb_live_free(struct pb_live **lp)
{
	struct pb_live *l = *lp;
	if (!l)
		return;
	init_release(&l->init);
	init_release(&l->cur);
	reader_close(&l->rd);
	free(l->mem);
	free(l->storage);
	free(l);
	*lp = NULL;
}

static int mem_set(struct pb_live *l, const void *p, size_t n)
{
	if (n > l->mem_cap) {
		uint8_t *m = realloc(l->mem, n);
		if (!m)
			return -ENOMEM;
		l->mem = m;
		l->mem_cap = n;
	}
	memcpy(l->mem, p, n);
	l->mem_len = n;
	l->mem_pos = 0;
	return 0;
}

/* Opens segment cs: its reader and init into *r and *in, and where its
 * fragments begin.  -EINVAL when its header is not (yet) whole. */
static int live_open_file(struct pb_live *l, const struct catalog_segment *cs, struct reader *r,
			  struct init *in, int64_t *off, char *err, size_t errlen)
{
	char why[128] = "";
	int ret;

	if ((ret = reader_open(r, l->storage, cs->path)) < 0) {
		snprintf(err, errlen, "cannot open segment %" PRId64 ": %s", cs->id,
			 strerror(-ret));
		return ret;
	}
	if ((ret = read_init(r, in, off, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "segment %" PRId64 ": %s", cs->id, why);
		reader_close(r);
		return ret;
	}
	return 0;
}

int pb_live_open(struct catalog *cat, const char *storage, const char *camera, struct pb_live **out,
		 char *err, size_t errlen)
{
	struct pb_live *l = calloc(1, sizeof(*l));
	struct newest n = { 0 };
	int64_t covered = -1, off;
	int ret = -ENOMEM;

	err[0] = '\0';
	*out = NULL;
	if (!l || !(l->storage = strdup(storage)))
		goto fail;
	l->rd.fd = -1;
	l->cat = cat;
	snprintf(l->camera, sizeof(l->camera), "%s", camera);
	/* the segment being written begins where the last finished one ended */
	if ((ret = catalog_camera_last_covered(cat, camera, &covered)) < 0) {
		snprintf(err, errlen, "cannot read the catalog");
		goto fail;
	}
	struct catalog_filter f = { .camera = camera, .from_us = covered > 0 ? covered - 1 : 0 };
	if ((ret = catalog_segments_each(cat, &f, newest_writing, &n)) < 0) {
		snprintf(err, errlen, "cannot list the segments");
		goto fail;
	}
	if (!n.found) {
		snprintf(err, errlen, "camera '%s' is not recording", camera);
		ret = -ENOENT;
		goto fail;
	}
	l->seg = n.seg;
	if ((ret = live_open_file(l, &l->seg, &l->rd, &l->init, &off, err, errlen)) < 0) {
		if (ret == -EINVAL) {
			snprintf(err, errlen, "camera '%s' has no footage yet", camera);
			ret = -ENOENT;
		}
		goto fail;
	}
	/* start at the newest whole keyframe fragment */
	struct frag_at fa;
	int64_t start_vtime = 0;
	l->scan = off;
	while ((ret = next_frag(&l->rd, &l->init, &off, &fa)) == 1)
		if (fa.fi.key && fa.fi.vtime >= 0) {
			l->scan = fa.moof_off;
			start_vtime = fa.fi.vtime;
		}
	if (ret < 0) {
		snprintf(err, errlen, "segment %" PRId64 ": %s", l->seg.id, strerror(-ret));
		goto fail;
	}
	l->info.start_us = wall_of(l->seg.start_us, &l->init, start_vtime);
	l->info.end_us = -1;
	l->info.end_reason = PB_END_LIVE;
	snprintf(l->info.codec, sizeof(l->info.codec), "%s", l->init.codec);
	l->info.hevc = l->init.hevc;
	l->info.size = -1;
	l->info.segments = 1;
	if ((ret = mem_set(l, l->init.bytes, l->init.len)) < 0)
		goto fail;
	*out = l;
	return 0;
fail:
	pb_live_free(&l);
	return ret;
}

const struct pb_info *pb_live_info(const struct pb_live *l)
{
	return &l->info;
}

/* The next whole fragment of the current file into mem and the file
 * range: 1, 0 when there is none yet, or a negative errno. */
static int live_next_frag(struct pb_live *l)
{
	struct frag_at f;
	const struct init *in = l->cur.bytes ? &l->cur : &l->init;
	int ret;

	if ((ret = reader_refresh(&l->rd)) < 0)
		return ret;
	int64_t off = l->scan;
	if ((ret = next_frag(&l->rd, in, &off, &f)) <= 0)
		return ret;
	if (!l->have_shift) {
		int64_t vfirst = f.fi.vtime >= 0 ? f.fi.vtime : 0;
		l->vshift = l->seq == 0 ? -vfirst : l->out_vend - vfirst;
		l->have_shift = true;
		if (l->seq == 0)
			l->info.start_us = wall_of(l->seg.start_us, in, vfirst);
	}
	if (l->mem_cap < f.moof_len) {
		uint8_t *m = realloc(l->mem, f.moof_len);
		if (!m)
			return -ENOMEM;
		l->mem = m;
		l->mem_cap = f.moof_len;
	}
	if ((ret = pread_all(l->rd.fd, l->mem, f.moof_len, f.moof_off)) < 0 ||
	    (ret = patch_moof(l->mem, f.moof_len, in, l->vshift, l->seq + 1)) < 0)
		return ret;
	l->seq++;
	l->mem_len = f.moof_len;
	l->mem_pos = 0;
	l->file_off = f.moof_off + f.moof_len;
	l->file_left = f.end - l->file_off;
	l->scan = f.end;
	if (f.fi.vtime >= 0) {
		l->out_vend = f.fi.vtime + f.fi.vdur + l->vshift;
		l->info.end_us = wall_of(l->seg.start_us, in, f.fi.vtime + f.fi.vdur);
	}
	l->info.fragments++;
	return 1;
}

/* After the current segment was finished: moves to the camera's next one
 * when it exists and has the same format.  1 moved, 0 not yet, -EPIPE
 * the stream ends (info.end_reason says why). */
static int live_advance(struct pb_live *l)
{
	struct newest n = { .after_id = l->seg.id, .after_start = l->seg.start_us };
	struct catalog_filter f = { .camera = l->camera, .from_us = l->seg.start_us };
	struct reader r = { .fd = -1 };
	struct init in = { 0 };
	int64_t off;
	char err[160];
	int ret;

	if ((ret = catalog_segments_each(l->cat, &f, next_after, &n)) < 0)
		return ret;
	if (n.found && (ret = live_open_file(l, &n.seg, &r, &in, &off, err, sizeof(err))) < 0) {
		if (ret != -EINVAL || n.seg.state != SEGMENT_WRITING)
			return ret;
		n.found = false; /* its header is not all written yet */
	}
	if (!n.found) {
		if (clock_mono_us() - l->finished_mono > LIVE_NEXT_WAIT_US) {
			l->info.end_reason = PB_END_GAP;
			return -EPIPE;
		}
		return 0;
	}
	if (!same_format(&l->init, &in)) {
		l->info.end_reason = PB_END_FORMAT;
		ret = -EPIPE;
	} else if (l->info.end_us >= 0 &&
		   n.seg.start_us - l->info.end_us > CATALOG_RUN_TOLERANCE_US) {
		l->info.end_reason = PB_END_GAP;
		ret = -EPIPE;
	}
	if (ret == -EPIPE) {
		init_release(&in);
		reader_close(&r);
		return ret;
	}
	reader_close(&l->rd);
	l->rd = r;
	init_release(&l->cur);
	l->cur = in;
	l->seg = n.seg;
	l->scan = off;
	l->have_shift = false;
	l->finished_mono = 0;
	l->info.segments++;
	return 1;
}

ssize_t pb_live_read(struct pb_live *l, void *buf, size_t n, int64_t wait_us)
{
	int64_t deadline = clock_mono_us() + wait_us;
	int ret;

	for (;;) {
		if (l->ended)
			return 0;
		if (l->mem_pos < l->mem_len) {
			size_t k = l->mem_len - l->mem_pos;
			k = k < n ? k : n;
			memcpy(buf, l->mem + l->mem_pos, k);
			l->mem_pos += k;
			return (ssize_t)k;
		}
		if (l->file_left > 0) {
			size_t k = l->file_left < (int64_t)n ? (size_t)l->file_left : n;
			if ((ret = pread_all(l->rd.fd, buf, k, l->file_off)) < 0)
				return ret;
			l->file_off += (int64_t)k;
			l->file_left -= (int64_t)k;
			return (ssize_t)k;
		}
		if ((ret = live_next_frag(l)) < 0)
			return ret;
		if (ret == 1)
			continue;
		/* nothing new in the file: is it still being written? */
		struct catalog_segment cs;
		if ((ret = catalog_segment_get(l->cat, l->seg.id, &cs)) < 0 && ret != -ENOENT)
			return ret;
		if (ret == -ENOENT || cs.state != SEGMENT_WRITING) {
			if (l->finished_mono == 0) {
				/* fragments may have landed before it finished */
				l->finished_mono = clock_mono_us();
				continue;
			}
			ret = live_advance(l);
			if (ret == -EPIPE) {
				l->ended = true;
				return 0;
			}
			if (ret < 0)
				return ret;
			if (ret == 1)
				continue;
		}
		int64_t now = clock_mono_us();
		if (now >= deadline)
			return -EAGAIN;
		int64_t sl = deadline - now < LIVE_POLL_US ? deadline - now : LIVE_POLL_US;
		struct timespec ts = { .tv_sec = sl / USEC_PER_SEC,
				       .tv_nsec = (long)(sl % USEC_PER_SEC) * 1000 };
		nanosleep(&ts, NULL);
	}
}
