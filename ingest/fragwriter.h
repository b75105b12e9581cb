/*
 * The fragments of a video-only H.264/H.265 segment, written without the
 * mp4 muxer.  Internal to ingest/ (segwriter.c uses it; libavformat's mp4
 * muxer still writes the file's header, ftyp and the empty moov with its
 * avcC/hvcC, and every segment with audio or another codec).
 *
 * Why: the muxer copies each sample three times on its way to the file
 * (into its fragment buffer, which it grows by reallocation, through a
 * 1 KiB staging buffer, converting Annex B start codes to lengths with a
 * byte-by-byte scan), and allocates as it goes.  Here a fragment is the
 * list of its packets (references, no copy) and one writev(2) puts
 * moof + mdat on disk straight from them: the length prefixes and the
 * boxes are the only bytes built.
 *
 * What is written is what the mp4 muxer writes for the same samples with
 * movflags empty_moov+default_base_moof+frag_custom: a moof (mfhd with
 * the fragment's sequence number from 1; one traf: tfhd with
 * default-base-is-moof and the non-sync default sample flags, tfdt with
 * the first sample's decode time, trun with data offset, durations and
 * sizes, the sync flags of the first sample, and composition offsets when
 * a sample has one) and an mdat holding the samples, Annex B start codes
 * replaced by 4-byte lengths exactly as the muxer does; no mfra at the end
 * (a reader does not need it; recovery keeps every whole fragment).
 */
#ifndef VIGIL_INGEST_FRAGWRITER_H
#define VIGIL_INGEST_FRAGWRITER_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct fragwriter;

/* True when fragwriter handles this video (H.264 or H.265 with extradata;
 * Annex B or not). */
bool fragwriter_fits(const AVCodecParameters *par);

/* A writer for track 1 of a file whose header the mp4 muxer wrote for par.
 * NULL on allocation failure. */
struct fragwriter *fragwriter_new(const AVCodecParameters *par);

/*
 * Where the NAL units of an Annex B packet are, so that they need not be
 * found by scanning for start codes: a packet whose opaque field points to
 * one of these, inside its own buffer, with the magic and its size, is
 * taken at its word.  NAL unit i begins at at[i] (just past its start
 * code) and runs to the next one's start code (at[i + 1] - 4) or to the
 * end; every start code is 4 bytes, and nothing else is in the packet.
 * With FRAGWRITER_NAL_INDEX_REWRITE the packet's bytes are handed over:
 * the writer replaces each start code with its NAL unit's length, in
 * place, and writes the packet as it then is (one piece, hashed once).
 * The lean RTSP client (ingest/rtsp.c) indexes the packets it builds.
 */
#define FRAGWRITER_NAL_INDEX_MAGIC 0x4e414c58u /* "NALX" */
#define FRAGWRITER_NAL_INDEX_REWRITE 1u
struct fragwriter_nal_index {
	uint32_t magic;
	uint32_t size; /* of the packet */
	uint32_t flags;
	uint32_t count;
	uint32_t at[];
};

/* Adds a sample to the fragment being built: pkt's dts, pts and duration
 * are in the track's timescale, counted from the file's origin.  The
 * packet's buffer reference is taken over (pkt->buf is NULL afterwards;
 * the caller still unreferences pkt), its data not copied.  Returns 0 or a
 * negative AVERROR. */
int fragwriter_add(struct fragwriter *fw, AVPacket *pkt);

/* Samples waiting for the next flush. */
int fragwriter_samples(const struct fragwriter *fw);

/* The write function given to fragwriter_flush: writes all of iov (in
 * order) and returns 0, or a negative errno. */
typedef int (*fragwriter_write_fn)(void *opaque, const struct iovec *iov, int iovcnt);

/* Writes the fragment (moof + mdat) through write, as few calls as
 * IOV_MAX allows, then forgets its samples.  Nothing is written when the
 * fragment is empty.  Returns 0 or what write returned. */
int fragwriter_flush(struct fragwriter *fw, fragwriter_write_fn write, void *opaque);

void fragwriter_free(struct fragwriter **fw);

#endif
