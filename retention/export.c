/*
 * vigil export: the footage of one camera over a window, as one MP4 that
 * any player opens, with a manifest that lets anyone check it later.
 *
 * Packets are copied, never transcoded.  The export starts at the last
 * keyframe at or before the window's start (so the first instant asked for
 * is there and decodable) and ends with the last frame before the window's
 * end.  Its timeline is wall time: frame t of the export was recorded at
 * first_frame + t, and a gap inside the window shows as a jump (the frame
 * before it stays on screen), listed in the manifest.
 *
 * The manifest (OUT.mp4.manifest.json) names the camera, the window, every
 * source segment with its SHA-256 from the catalog, the gaps, and the
 * SHA-256 of OUT.mp4 itself.
 *
 * Both files are created with O_EXCL|O_NOFOLLOW, and the MP4 is written,
 * re-read for faststart and hashed through the descriptor created, never
 * reopened by name: a link planted in the output folder cannot make the
 * export write over another file, nor hash another file than it wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libavformat/avformat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "retention/retention.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/version.h"
#include "util/banned.h"

struct seg_list {
	struct catalog_segment *v;
	size_t n, cap;
};

static int collect_live(const struct catalog_segment *seg, void *ctx)
{
	struct seg_list *l = ctx;
	if (seg->state != SEGMENT_COMPLETE && seg->state != SEGMENT_RECOVERED)
		return 0;
	if (array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0)
		return -ENOMEM;
	l->v[l->n++] = *seg;
	return 0;
}

/* libavformat I/O over a descriptor we own; each context keeps its own
 * offset (pread/pwrite), since faststart reads and writes at once. */
struct fdio {
	int fd;
	int64_t pos;
};

static int fdio_read(void *opaque, uint8_t *buf, int n)
{
	struct fdio *f = opaque;
	ssize_t r;
	do
		r = pread(f->fd, buf, (size_t)n, f->pos);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return AVERROR(errno);
	if (r == 0)
		return AVERROR_EOF;
	f->pos += r;
	return (int)r;
}

/* libavformat 61 made the buffer const */
#if LIBAVFORMAT_VERSION_MAJOR >= 61
#define FDIO_WRITE_CONST const
#else
#define FDIO_WRITE_CONST
#endif

static int fdio_write(void *opaque, FDIO_WRITE_CONST uint8_t *buf, int n)
{
	struct fdio *f = opaque;
	int done = 0;
	while (done < n) {
		ssize_t w = pwrite(f->fd, buf + done, (size_t)(n - done), f->pos);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return AVERROR(w < 0 ? errno : EIO);
		done += (int)w;
		f->pos += w;
	}
	return n;
}

static int64_t fdio_seek(void *opaque, int64_t offset, int whence)
{
	struct fdio *f = opaque;
	struct stat st;
	whence &= ~AVSEEK_FORCE;
	if (whence == AVSEEK_SIZE || whence == SEEK_END) {
		if (fstat(f->fd, &st) < 0)
			return AVERROR(errno);
		if (whence == AVSEEK_SIZE)
			return st.st_size;
		offset += st.st_size;
	} else if (whence == SEEK_CUR) {
		offset += f->pos;
	} else if (whence != SEEK_SET) {
		return AVERROR(EINVAL);
	}
	if (offset < 0)
		return AVERROR(EINVAL);
	f->pos = offset;
	return offset;
}

static int fdio_open(int fd, bool write, AVIOContext **pb)
{
	const int size = 64 * 1024;
	struct fdio *f = av_mallocz(sizeof(*f));
	unsigned char *buf = av_malloc(size);
	if (!f || !buf) {
		av_free(f);
		av_free(buf);
		return AVERROR(ENOMEM);
	}
	f->fd = fd;
	*pb = avio_alloc_context(buf, size, write, f, fdio_read, write ? fdio_write : NULL,
				 fdio_seek);
	if (!*pb) {
		av_free(f);
		av_free(buf);
		return AVERROR(ENOMEM);
	}
	return 0;
}

static int fdio_close(AVIOContext **pb)
{
	if (!*pb)
		return 0;
	avio_flush(*pb);
	int ret = (*pb)->error;
	av_freep(&(*pb)->opaque);
	av_freep(&(*pb)->buffer);
	avio_context_free(pb);
	return ret;
}

/* faststart reopens the output by name to move the index: it gets our
 * descriptor instead (the muxer's opaque) */
static int reopen_own(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
		      AVDictionary **options)
{
	(void)url;
	(void)options;
	if (flags & AVIO_FLAG_WRITE)
		return AVERROR(EPERM);
	return fdio_open(*(int *)s->opaque, false, pb);
}

static int close_own(struct AVFormatContext *s, AVIOContext *pb)
{
	(void)s;
	return fdio_close(&pb);
}

struct muxer {
	AVFormatContext *oc;
	int fd;		  /* the output, created by us */
	int out_index[2]; /* output stream for input video, audio; -1 none */
	AVRational out_tb[2];
	int64_t last_dts[2]; /* in the output time base */
	int64_t t0_us;	     /* wall time of the export's zero */
	int64_t first_us, last_us;
	bool started;
};

static int open_muxer(struct muxer *m, const char *path, AVFormatContext *first, int vidx, int aidx,
		      char *err, size_t errlen)
{
	int ret;
	int idx[2] = { vidx, aidx };

	m->out_index[0] = m->out_index[1] = -1;
	m->last_dts[0] = m->last_dts[1] = AV_NOPTS_VALUE;
	if ((ret = avformat_alloc_output_context2(&m->oc, NULL, "mp4", path)) < 0) {
		snprintf(err, errlen, "cannot set up the MP4 writer: %s", av_err2str(ret));
		return ret;
	}
	for (int k = 0; k < 2; k++) {
		if (idx[k] < 0)
			continue;
		AVStream *in = first->streams[idx[k]];
		AVStream *st = avformat_new_stream(m->oc, NULL);
		if (!st || avcodec_parameters_copy(st->codecpar, in->codecpar) < 0) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		st->codecpar->codec_tag = 0;
		st->time_base = in->time_base;
		m->out_index[k] = st->index;
	}
	if ((ret = fdio_open(m->fd, true, &m->oc->pb)) < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", path, av_err2str(ret));
		return ret;
	}
	m->oc->opaque = &m->fd;
	m->oc->io_open = reopen_own;
	m->oc->io_close2 = close_own;
	AVDictionary *opts = NULL;
	av_dict_set(&opts, "movflags", "+faststart", 0);
	ret = avformat_write_header(m->oc, &opts);
	av_dict_free(&opts);
	if (ret < 0) {
		snprintf(err, errlen, "cannot write the MP4 header: %s", av_err2str(ret));
		return ret;
	}
	for (int k = 0; k < 2; k++)
		if (m->out_index[k] >= 0)
			m->out_tb[k] = m->oc->streams[m->out_index[k]]->time_base;
	return 0;
}

/* Copies the packets of one segment that fall in the window. */
static int copy_segment(struct muxer *m, const char *path, const struct catalog_segment *seg,
			const struct export_request *req, bool first, char *err, size_t errlen)
{
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();
	int ret;

	if (!pkt)
		return -ENOMEM;
	if ((ret = avformat_open_input(&ic, path, NULL, NULL)) < 0 ||
	    (ret = avformat_find_stream_info(ic, NULL)) < 0) {
		snprintf(err, errlen, "cannot read segment %" PRId64 " '%s': %s", seg->id, path,
			 av_err2str(ret));
		goto out;
	}
	int vidx = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	int aidx = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, vidx, NULL, 0);
	if (vidx < 0) {
		snprintf(err, errlen, "segment %" PRId64 " has no video", seg->id);
		ret = AVERROR_INVALIDDATA;
		goto out;
	}
	if (!m->oc && (ret = open_muxer(m, req->out_path, ic, vidx, aidx, err, errlen)) < 0)
		goto out;
	AVRational vtb = ic->streams[vidx]->time_base;
	/* the segment's media time 0 is its wall start */
	if (first && req->from_us > seg->start_us) {
		int64_t target = av_rescale_q(req->from_us - seg->start_us, AV_TIME_BASE_Q, vtb);
		av_seek_frame(ic, vidx, target, AVSEEK_FLAG_BACKWARD);
	}
	bool waiting_key = true;
	while ((ret = av_read_frame(ic, pkt)) >= 0) {
		int k = pkt->stream_index == vidx ? 0 : pkt->stream_index == aidx ? 1 : -1;
		if (k < 0 || m->out_index[k] < 0) {
			av_packet_unref(pkt);
			continue;
		}
		AVRational tb = ic->streams[pkt->stream_index]->time_base;
		int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
		int64_t wall = seg->start_us + av_rescale_q(ts, tb, AV_TIME_BASE_Q);
		if (wall >= req->to_us) {
			av_packet_unref(pkt);
			if (k == 0)
				break;
			continue;
		}
		if (k == 0 && waiting_key) {
			if (!(pkt->flags & AV_PKT_FLAG_KEY)) {
				av_packet_unref(pkt);
				continue;
			}
			waiting_key = false;
		}
		if (k == 1 && (waiting_key || !m->started)) {
			av_packet_unref(pkt);
			continue;
		}
		if (!m->started) {
			m->t0_us = wall;
			m->first_us = wall;
			m->started = true;
		}
		if (k == 0)
			m->last_us = wall;
		/* export time = wall time since the first frame */
		int64_t shift =
			av_rescale_q(seg->start_us - m->t0_us, AV_TIME_BASE_Q, m->out_tb[k]);
		pkt->pts = pkt->pts != AV_NOPTS_VALUE
				   ? av_rescale_q(pkt->pts, tb, m->out_tb[k]) + shift
				   : AV_NOPTS_VALUE;
		pkt->dts = pkt->dts != AV_NOPTS_VALUE
				   ? av_rescale_q(pkt->dts, tb, m->out_tb[k]) + shift
				   : pkt->pts;
		pkt->duration = av_rescale_q(pkt->duration, tb, m->out_tb[k]);
		if (m->last_dts[k] != AV_NOPTS_VALUE && pkt->dts <= m->last_dts[k]) {
			int64_t bump = m->last_dts[k] + 1 - pkt->dts;
			pkt->dts += bump;
			if (pkt->pts != AV_NOPTS_VALUE && pkt->pts < pkt->dts)
				pkt->pts = pkt->dts;
		}
		m->last_dts[k] = pkt->dts;
		pkt->stream_index = m->out_index[k];
		pkt->pos = -1;
		if ((ret = av_interleaved_write_frame(m->oc, pkt)) < 0) {
			snprintf(err, errlen, "cannot write the export: %s", av_err2str(ret));
			goto out;
		}
	}
	ret = ret == AVERROR_EOF ? 0 : ret;
	if (ret < 0)
		snprintf(err, errlen, "cannot read segment %" PRId64 ": %s", seg->id,
			 av_err2str(ret));
out:
	av_packet_free(&pkt);
	avformat_close_input(&ic);
	return ret;
}

/* The SHA-256 of what the descriptor holds, read from its start. */
static int hash_fd(int fd, char hex[SHA256_HEX_SIZE], int64_t *bytes)
{
	const size_t size = 1 << 16;
	unsigned char *chunk = malloc(size);
	struct sha256 *h = sha256_new();
	int64_t total = 0;
	int ret = 0;

	if (!h || !chunk) {
		free(chunk);
		sha256_free(&h);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r = pread(fd, chunk, size, total);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			break;
		}
		if (r == 0)
			break;
		sha256_update(h, chunk, (size_t)r);
		total += r;
	}
	if (ret == 0) {
		sha256_final_hex(h, hex);
		*bytes = total;
	}
	sha256_free(&h);
	free(chunk);
	return ret;
}

static int write_manifest(const struct config *cfg, const struct export_request *req,
			  const struct seg_list *segs, const struct continuity_report *cont,
			  const struct export_result *res, char *err, size_t errlen)
{
	const struct camera_config *cam = config_camera(cfg, req->camera);
	struct buf b;
	struct json_writer w;
	char tmp[sizeof(res->manifest_path) + 8];
	int ret;

	buf_init(&b, 64 * 1024 * 1024);
	jw_init_buf(&w, &b);
	w.pretty = true;
	jw_begin_object(&w);
	jw_kv_int(&w, "manifest_version", 1);
	jw_kv_string(&w, "camera", req->camera);
	jw_kv_string(&w, "recorder", cfg->recorder_id);
	jw_kv_string(&w, "site", cam && *cam->site ? cam->site : cfg->site);
	jw_kv_string(&w, "location", cam ? cam->location : "");
	jw_kv_time(&w, "from", req->from_us);
	jw_kv_time(&w, "to", req->to_us);
	jw_kv_time(&w, "generated", clock_wall_us());
	jw_kv_string(&w, "vigil_version", vigil_version);
	jw_key(&w, "output");
	jw_begin_object(&w);
	const char *base = strrchr(req->out_path, '/');
	jw_kv_string(&w, "file", base ? base + 1 : req->out_path);
	jw_kv_int(&w, "bytes", res->bytes);
	jw_kv_string(&w, "sha256", res->sha256);
	jw_kv_time(&w, "first_frame", res->first_us);
	jw_kv_time(&w, "last_frame", res->last_us);
	jw_kv_double(&w, "duration_s", res->duration_s, 3);
	jw_end_object(&w);
	jw_key(&w, "segments");
	jw_begin_array(&w);
	for (size_t i = 0; i < segs->n; i++) {
		const struct catalog_segment *s = &segs->v[i];
		jw_begin_object(&w);
		jw_kv_int(&w, "id", s->id);
		jw_kv_string(&w, "path", s->path);
		jw_kv_time(&w, "start", s->start_us);
		jw_kv_time(&w, "end", s->end_us);
		jw_kv_int(&w, "bytes", s->bytes);
		jw_kv_string(&w, "sha256", s->sha256);
		jw_kv_string(&w, "state", catalog_segment_state_name(s->state));
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_key(&w, "gaps");
	jw_begin_array(&w);
	for (size_t c = 0; c < cont->ncameras; c++) {
		for (size_t g = 0; g < cont->cameras[c].ngaps; g++) {
			const struct continuity_gap *x = &cont->cameras[c].gaps[g];
			jw_begin_object(&w);
			jw_kv_time(&w, "start", x->start_us);
			jw_kv_time(&w, "end", x->end_us);
			jw_kv_double(&w, "seconds", (double)(x->end_us - x->start_us) / 1e6, 3);
			jw_kv_string(&w, "reason", x->reason);
			jw_kv_string(&w, "detail", x->detail);
			jw_end_object(&w);
		}
	}
	jw_end_array(&w);
	jw_end_object(&w);
	if (w.error || buf_append(&b, "\n", 1) < 0) {
		buf_release(&b);
		snprintf(err, errlen, "out of memory writing the manifest");
		return -ENOMEM;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", res->manifest_path);
	/* a link planted at the temporary's name is not followed */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
		buf_release(&b);
		return ret;
	}
	ret = fs_write_all(fd, b.data, b.len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	buf_release(&b);
	/* link, not rename: a manifest that appeared meanwhile is not replaced */
	if (ret == 0 && link(tmp, res->manifest_path) < 0)
		ret = -errno;
	unlink(tmp);
	if (ret < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", res->manifest_path, strerror(-ret));
	}
	return ret;
}

int retention_export(const struct config *cfg, struct catalog *cat,
		     const struct export_request *req, struct export_result *res, char *err,
		     size_t errlen)
{
	struct seg_list segs = { 0 };
	struct muxer m = { 0 };
	struct continuity_report cont = { 0 };
	char path[PATH_MAX];
	int ret;

	memset(res, 0, sizeof(*res));
	if (snprintf(res->manifest_path, sizeof(res->manifest_path), "%s.manifest.json",
		     req->out_path) >= (int)sizeof(res->manifest_path)) {
		snprintf(err, errlen, "output path too long");
		return -ENAMETOOLONG;
	}
	/* exports are evidence: never overwrite one */
	m.fd = open(req->out_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (m.fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", req->out_path, strerror(errno));
		return ret;
	}
	if (faccessat(AT_FDCWD, res->manifest_path, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		unlink(req->out_path);
		close(m.fd);
		snprintf(err, errlen, "'%s' already exists", res->manifest_path);
		return -EEXIST;
	}

	struct catalog_filter f = { .camera = req->camera,
				    .from_us = req->from_us,
				    .to_us = req->to_us };
	if ((ret = catalog_segments_each(cat, &f, collect_live, &segs)) < 0) {
		snprintf(err, errlen, "cannot read the catalog: %s", db_errmsg(ret));
		goto fail;
	}
	if (segs.n == 0) {
		snprintf(err, errlen, "no footage of camera '%s' in that window", req->camera);
		ret = -ENOENT;
		goto fail;
	}
	for (size_t i = 0; i < segs.n; i++) {
		if ((ret = fs_join(path, sizeof(path), cfg->storage_path, segs.v[i].path)) < 0 ||
		    (ret = copy_segment(&m, path, &segs.v[i], req, i == 0, err, errlen)) < 0)
			goto fail;
	}
	if (!m.started) {
		snprintf(err, errlen, "no keyframe of camera '%s' in that window", req->camera);
		ret = -ENOENT;
		goto fail;
	}
	if ((ret = av_write_trailer(m.oc)) < 0) {
		snprintf(err, errlen, "cannot finish the export: %s", av_err2str(ret));
		goto fail;
	}
	if ((ret = fdio_close(&m.oc->pb)) < 0 || (ret = fsync(m.fd) < 0 ? AVERROR(errno) : 0) < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", req->out_path, av_err2str(ret));
		goto fail;
	}
	if ((ret = hash_fd(m.fd, res->sha256, &res->bytes)) < 0) {
		snprintf(err, errlen, "cannot read back '%s': %s", req->out_path, strerror(-ret));
		goto fail;
	}
	res->segments = (int)segs.n;
	res->first_us = m.first_us;
	res->last_us = m.last_us;
	res->duration_s = (double)(m.last_us - m.first_us) / 1e6;
	if ((ret = continuity_compute(cfg, cat, req->camera, req->from_us, req->to_us,
				      clock_wall_us(), &cont)) < 0) {
		snprintf(err, errlen, "cannot compute the gaps of the window");
		goto fail;
	}
	for (size_t c = 0; c < cont.ncameras; c++)
		res->gaps += (int)cont.cameras[c].ngaps;
	if ((ret = write_manifest(cfg, req, &segs, &cont, res, err, errlen)) < 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	unlink(req->out_path);
out:
	if (m.oc) {
		fdio_close(&m.oc->pb);
		avformat_free_context(m.oc);
	}
	close(m.fd);
	continuity_release(&cont);
	free(segs.v);
	return ret;
}
