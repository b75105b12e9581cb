/*
 * Top-level box walk of fragmented MP4.  A box is a 32-bit big-endian size
 * and a 4-character type; size 1 means a 64-bit size follows, size 0 means
 * "to the end of the file" (never written by our muxer, so treated as torn).
 */
#include "ingest/fmp4.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/banned.h"

static int read_at(int fd, void *buf, size_t n, int64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, off + (int64_t)got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return 0; /* short: end of file */
		got += (size_t)r;
	}
	return 1;
}

static uint64_t be32(const unsigned char *p)
{
	return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

int fmp4_scan_fd(int fd, struct fmp4_scan *scan)
{
	struct stat st;
	unsigned char hdr[16];
	int64_t off = 0;
	bool have_ftyp = false;
	bool pending_moof = false;

	memset(scan, 0, sizeof(*scan));
	if (fstat(fd, &st) < 0)
		return -errno;
	scan->file_size = st.st_size;

	while (off + 8 <= st.st_size) {
		int ret = read_at(fd, hdr, 8, off);
		if (ret < 0)
			return ret;
		if (ret == 0)
			break;
		uint64_t size = be32(hdr);
		int64_t header_len = 8;
		if (size == 1) {
			if ((ret = read_at(fd, hdr + 8, 8, off + 8)) <= 0) {
				if (ret < 0)
					return ret;
				break;
			}
			size = be32(hdr + 8) << 32 | be32(hdr + 12);
			header_len = 16;
		}
		if (size < (uint64_t)header_len || size > (uint64_t)(st.st_size - off))
			break; /* size 0, nonsense, or running past the end: torn */
		const char *type = (const char *)hdr + 4;
		int64_t end = off + (int64_t)size;

		if (memcmp(type, "ftyp", 4) == 0) {
			have_ftyp = true;
		} else if (memcmp(type, "moov", 4) == 0) {
			if (have_ftyp) {
				scan->has_header = true;
				scan->keep_bytes = end;
			}
		} else if (memcmp(type, "moof", 4) == 0) {
			pending_moof = true;
		} else if (memcmp(type, "mdat", 4) == 0) {
			if (pending_moof && scan->has_header) {
				scan->fragments++;
				scan->keep_bytes = end;
			}
			pending_moof = false;
		} else if (memcmp(type, "mfra", 4) == 0 && scan->has_header && !pending_moof) {
			scan->keep_bytes = end; /* the trailer of a finished file */
		}
		off = end;
	}
	return 0;
}
