/*
 * Fragments written straight from the packets; see fragwriter.h.
 *
 * A fragment is an array of samples, each holding a reference to its
 * packet's buffer, and (for Annex B streams) an array of NAL units, each
 * a pointer into a packet and its length already in big-endian form.  The
 * flush builds the moof and the mdat header into one small buffer and
 * hands write() an iovec list: [boxes] then, per NAL unit, [length][bytes].
 *
 * Thread safety: a writer is used by one thread (its camera's worker).
 */
#include "ingest/fragwriter.h"

#include <errno.h>
#include <libavutil/intreadwrite.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "util/banned.h"

#define SAMPLE_FLAGS_SYNC 0x02000000u	  /* depends on no other sample */
#define SAMPLE_FLAGS_NON_SYNC 0x01010000u /* depends on others, not a sync sample */

#define TFHD_DEFAULT_SAMPLE_FLAGS 0x000020u
#define TFHD_DEFAULT_BASE_IS_MOOF 0x020000u
#define TRUN_DATA_OFFSET 0x001u
#define TRUN_FIRST_SAMPLE_FLAGS 0x004u
#define TRUN_SAMPLE_DURATION 0x100u
#define TRUN_SAMPLE_SIZE 0x200u
#define TRUN_SAMPLE_FLAGS 0x400u
#define TRUN_SAMPLE_CTS 0x800u

struct sample {
	AVBufferRef *buf;
	const uint8_t *data;
	int size;	 /* of the packet */
	uint32_t stored; /* bytes in the mdat */
	int64_t dts;
	int64_t duration;
	int64_t cts; /* pts - dts */
	bool key;
	int first_nal, nals;
};

struct nal {
	const uint8_t *p;
	uint8_t len[4]; /* big-endian, as written */
};

struct fragwriter {
	bool annexb;
	uint32_t sequence;
	struct sample *s;
	int n, cap;
	struct nal *nal;
	int nnal, nalcap;
	struct iovec *iov;
	int iovcap;
	uint8_t *box;
	size_t boxcap;
};

bool fragwriter_fits(const AVCodecParameters *par)
{
	return (par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC) &&
	       par->extradata_size > 0;
}

struct fragwriter *fragwriter_new(const AVCodecParameters *par)
{
	struct fragwriter *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return NULL;
	const uint8_t *x = par->extradata;
	/* when the mp4 muxer converts samples (movenc.c): H.264 whose
	 * extradata is not an avcC record, H.265 whose extradata starts with a
	 * start code */
	if (par->codec_id == AV_CODEC_ID_H264)
		fw->annexb = x[0] != 1;
	else
		fw->annexb = par->extradata_size > 6 && (AV_RB24(x) == 1 || AV_RB32(x) == 1);
	fw->sequence = 1;
	return fw;
}

int fragwriter_samples(const struct fragwriter *fw)
{
	return fw->n;
}

static int grow(void **p, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return 0;
	int ncap = *cap ? *cap : 32;
	while (ncap < need)
		ncap *= 2;
	void *q = realloc(*p, (size_t)ncap * elem);
	if (!q)
		return AVERROR(ENOMEM);
	*p = q;
	*cap = ncap;
	return 0;
}

/*
 * The next Annex B start code (00 00 01) at or after p, one byte earlier
 * when a zero precedes it (a 4-byte start code); end when there is none:
 * the boundaries of libavformat's ff_avc_find_startcode().  Sixteen
 * positions at a time are tested for two zero bytes in a row (GCC vector
 * extensions: SSE2 on x86-64, NEON on arm64), which coded video seldom
 * has outside start codes.
 */
typedef uint8_t u8x16 __attribute__((vector_size(16)));

static const uint8_t *startcode_at(const uint8_t *p, const uint8_t *sc)
{
	return sc > p && sc[-1] == 0 ? sc - 1 : sc;
}

static const uint8_t *find_startcode(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p;

	while (end - q >= 18) {
		u8x16 a, b, zero = { 0 };
		uint64_t w[2];
		memcpy(&a, q, 16);
		memcpy(&b, q + 1, 16);
		u8x16 both = (u8x16)((a == zero) & (b == zero));
		memcpy(w, &both, sizeof(w));
		if (w[0] | w[1]) {
			for (int i = 0; i < 16; i++)
				if (q[i] == 0 && q[i + 1] == 0 && q[i + 2] == 1)
					return startcode_at(p, q + i);
		}
		q += 16;
	}
	for (; end - q >= 3; q++)
		if (q[0] == 0 && q[1] == 0 && q[2] == 1)
			return startcode_at(p, q);
	return end;
}

/* The packet's NAL unit index, if it has a valid one (fragwriter.h). */
static const struct fragwriter_nal_index *nal_index(const AVPacket *pkt)
{
	const struct fragwriter_nal_index *x = pkt->opaque;
	if (!x || !pkt->buf || (const uint8_t *)x < pkt->buf->data || pkt->data < pkt->buf->data ||
	    pkt->data + pkt->size > pkt->buf->data + pkt->buf->size ||
	    (const uint8_t *)x + sizeof(*x) > pkt->buf->data + pkt->buf->size ||
	    (const uint8_t *)(x->at + x->count) > pkt->buf->data + pkt->buf->size ||
	    x->magic != FRAGWRITER_NAL_INDEX_MAGIC || x->size != (uint32_t)pkt->size)
		return NULL;
	for (uint32_t i = 0; i < x->count; i++)
		if (x->at[i] < 4 || x->at[i] > x->size || (i > 0 && x->at[i] < x->at[i - 1] + 4))
			return NULL;
	return x;
}

/* The NAL units of an Annex B packet, as ff_avc_parse_nal_units() splits
 * them (from the packet's index when it has one).  Returns the bytes they
 * take in the mdat, or a negative AVERROR. */
static int64_t split_nals(struct fragwriter *fw, struct sample *s,
			  const struct fragwriter_nal_index *x)
{
	const uint8_t *end = s->data + s->size;
	int64_t bytes = 0;

	s->first_nal = fw->nnal;
	s->nals = 0;
	if (x) {
		if (grow((void **)&fw->nal, &fw->nalcap, fw->nnal + (int)x->count,
			 sizeof(*fw->nal)) < 0)
			return AVERROR(ENOMEM);
		for (uint32_t i = 0; i < x->count; i++) {
			uint32_t len = (i + 1 < x->count ? x->at[i + 1] - 4 : x->size) - x->at[i];
			struct nal *nal = &fw->nal[fw->nnal++];
			nal->p = s->data + x->at[i];
			AV_WB32(nal->len, len);
			bytes += 4 + (int64_t)len;
			s->nals++;
		}
		return bytes;
	}
	const uint8_t *start = find_startcode(s->data, end);
	for (;;) {
		while (start < end && !*(start++))
			;
		if (start == end)
			break;
		const uint8_t *next = find_startcode(start, end);
		if (grow((void **)&fw->nal, &fw->nalcap, fw->nnal + 1, sizeof(*fw->nal)) < 0)
			return AVERROR(ENOMEM);
		struct nal *nal = &fw->nal[fw->nnal++];
		nal->p = start;
		AV_WB32(nal->len, (uint32_t)(next - start));
		bytes += 4 + (next - start);
		s->nals++;
		start = next;
	}
	return bytes;
}

/* Replaces the start codes of an indexed packet with the lengths of their
 * NAL units (FRAGWRITER_NAL_INDEX_REWRITE). */
static void rewrite_in_place(uint8_t *data, const struct fragwriter_nal_index *x)
{
	for (uint32_t i = 0; i < x->count; i++) {
		uint32_t len = (i + 1 < x->count ? x->at[i + 1] - 4 : x->size) - x->at[i];
		AV_WB32(data + x->at[i] - 4, len);
	}
}

int fragwriter_add(struct fragwriter *fw, AVPacket *pkt)
{
	int ret;

	if ((ret = grow((void **)&fw->s, &fw->cap, fw->n + 1, sizeof(*fw->s))) < 0)
		return ret;
	struct sample *s = &fw->s[fw->n];
	memset(s, 0, sizeof(*s));
	const struct fragwriter_nal_index *x = fw->annexb ? nal_index(pkt) : NULL;
	if (pkt->buf) {
		s->buf = pkt->buf; /* taken over */
		pkt->buf = NULL;
		s->data = pkt->data;
	} else {
		/* not refcounted: keep a copy */
		if (!(s->buf = av_buffer_alloc((size_t)pkt->size + AV_INPUT_BUFFER_PADDING_SIZE)))
			return AVERROR(ENOMEM);
		memcpy(s->buf->data, pkt->data, (size_t)pkt->size);
		s->data = s->buf->data;
	}
	s->size = pkt->size;
	s->dts = pkt->dts;
	s->duration = pkt->duration;
	s->cts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts - pkt->dts : 0;
	s->key = pkt->flags & AV_PKT_FLAG_KEY;
	int64_t stored = s->size;
	if (x && (x->flags & FRAGWRITER_NAL_INDEX_REWRITE) && s->data == pkt->data &&
	    x->count > 0 && x->at[0] == 4) {
		/* [start code][NAL]... becomes [length][NAL]...: the same bytes
		 * the muxer would write, in one piece */
		rewrite_in_place((uint8_t *)s->data, x);
		s->nals = -1;
	} else if (fw->annexb && (stored = split_nals(fw, s, x)) < 0) {
		fw->nnal = s->first_nal;
		av_buffer_unref(&s->buf);
		return (int)stored;
	}
	if (stored > UINT32_MAX) {
		fw->nnal = s->first_nal;
		av_buffer_unref(&s->buf);
		return AVERROR(EINVAL);
	}
	s->stored = (uint32_t)stored;
	fw->n++;
	return 0;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	AV_WB32(p, v);
	return p + 4;
}

static uint8_t *put_box(uint8_t *p, uint32_t size, const char *type)
{
	p = put32(p, size);
	memcpy(p, type, 4);
	return p + 4;
}

static void forget_samples(struct fragwriter *fw)
{
	for (int i = 0; i < fw->n; i++)
		av_buffer_unref(&fw->s[i].buf);
	fw->n = 0;
	fw->nnal = 0;
}

/*
 * Builds the fragment's moof and its mdat header into fw->box.  Returns
 * their length, or a negative AVERROR.
 */
static int64_t build_boxes(struct fragwriter *fw)
{
	bool cts = false, later_key = false;
	uint64_t mdat = 8;
	for (int i = 0; i < fw->n; i++) {
		cts |= fw->s[i].cts != 0;
		later_key |= i > 0 && fw->s[i].key;
		mdat += fw->s[i].stored;
	}
	uint32_t flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE;
	if (cts)
		flags |= TRUN_SAMPLE_CTS;
	if (later_key)
		flags |= TRUN_SAMPLE_FLAGS;
	else if (fw->s[0].key)
		flags |= TRUN_FIRST_SAMPLE_FLAGS;
	uint32_t per_sample = 8 + (cts ? 4 : 0) + (later_key ? 4 : 0);
	uint32_t trun = 8 + 4 + 4 + 4 + ((flags & TRUN_FIRST_SAMPLE_FLAGS) ? 4 : 0) +
			per_sample * (uint32_t)fw->n;
	uint32_t tfhd = 8 + 4 + 4 + 4, tfdt = 8 + 4 + 8, mfhd = 8 + 4 + 4;
	uint32_t traf = 8 + tfhd + tfdt + trun;
	uint32_t moof = 8 + mfhd + traf;
	bool large = mdat > UINT32_MAX;
	size_t head = (size_t)moof + (large ? 16 : 8);

	if (head > fw->boxcap) {
		uint8_t *b = realloc(fw->box, head);
		if (!b)
			return AVERROR(ENOMEM);
		fw->box = b;
		fw->boxcap = head;
	}
	uint8_t *p = fw->box;
	p = put_box(p, moof, "moof");
	p = put_box(p, mfhd, "mfhd");
	p = put32(p, 0);
	p = put32(p, fw->sequence);
	p = put_box(p, traf, "traf");
	p = put_box(p, tfhd, "tfhd");
	p = put32(p, TFHD_DEFAULT_BASE_IS_MOOF | TFHD_DEFAULT_SAMPLE_FLAGS);
	p = put32(p, 1); /* track_ID */
	p = put32(p, SAMPLE_FLAGS_NON_SYNC);
	p = put_box(p, tfdt, "tfdt");
	p = put32(p, 1u << 24); /* version 1: 64-bit decode time */
	AV_WB64(p, (uint64_t)(fw->s[0].dts > 0 ? fw->s[0].dts : 0));
	p += 8;
	p = put_box(p, trun, "trun");
	p = put32(p, (cts ? 1u << 24 : 0) | flags); /* version 1: signed offsets */
	p = put32(p, (uint32_t)fw->n);
	p = put32(p, moof + (large ? 16 : 8)); /* data offset from the moof */
	if (flags & TRUN_FIRST_SAMPLE_FLAGS)
		p = put32(p, SAMPLE_FLAGS_SYNC);
	for (int i = 0; i < fw->n; i++) {
		const struct sample *s = &fw->s[i];
		p = put32(p, (uint32_t)s->duration);
		p = put32(p, s->stored);
		if (later_key)
			p = put32(p, s->key ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC);
		if (cts)
			p = put32(p, (uint32_t)(int32_t)s->cts);
	}
	if (large) {
		p = put_box(p, 1, "mdat");
		AV_WB64(p, mdat + 8);
		p += 8;
	} else {
		p = put_box(p, (uint32_t)mdat, "mdat");
	}
	return p - fw->box;
}

/* The iovec list of the fragment: [boxes], then per sample the whole
 * packet, or [length][NAL] pairs.  Returns its length or a negative AVERROR. */
static int build_iov(struct fragwriter *fw, size_t boxes)
{
	int ret, niov = 1 + fw->n + 2 * fw->nnal;
	if ((ret = grow((void **)&fw->iov, &fw->iovcap, niov, sizeof(*fw->iov))) < 0)
		return ret;
	struct iovec *v = fw->iov;
	v->iov_base = fw->box;
	v->iov_len = boxes;
	v++;
	for (int i = 0; i < fw->n; i++) {
		const struct sample *s = &fw->s[i];
		if (!fw->annexb || s->nals < 0) {
			v->iov_base = (void *)s->data;
			v->iov_len = (size_t)s->size;
			v++;
			continue;
		}
		for (int k = s->first_nal; k < s->first_nal + s->nals; k++) {
			struct nal *nal = &fw->nal[k];
			v->iov_base = nal->len;
			v->iov_len = 4;
			v++;
			v->iov_base = (void *)nal->p;
			v->iov_len = AV_RB32(nal->len);
			v++;
		}
	}
	return (int)(v - fw->iov);
}

int fragwriter_flush(struct fragwriter *fw, fragwriter_write_fn write, void *opaque)
{
	int ret;

	if (fw->n == 0)
		return 0;
	int64_t boxes = build_boxes(fw);
	if (boxes < 0)
		return (int)boxes;
	int niov = build_iov(fw, (size_t)boxes);
	if (niov < 0)
		return niov;
	for (int i = 0; i < niov; i += IOV_MAX) {
		int k = niov - i < IOV_MAX ? niov - i : IOV_MAX;
		if ((ret = write(opaque, fw->iov + i, k)) < 0)
			return ret;
	}
	forget_samples(fw);
	fw->sequence++;
	return 0;
}

void fragwriter_free(struct fragwriter **fwp)
{
	struct fragwriter *fw = *fwp;
	if (!fw)
		return;
	forget_samples(fw);
	free(fw->s);
	free(fw->nal);
	free(fw->iov);
	free(fw->box);
	free(fw);
	*fwp = NULL;
}
