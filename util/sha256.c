/* SHA-256 helpers over libavutil's AVSHA. */
#include "util/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <libavutil/mem.h>
#include <libavutil/sha.h>
#include <stdio.h>
#include <unistd.h>

struct sha256 {
	struct AVSHA *ctx;
};

struct sha256 *sha256_new(void)
{
	struct sha256 *h = av_mallocz(sizeof(*h));
	if (!h)
		return NULL;
	h->ctx = av_sha_alloc();
	if (!h->ctx) {
		av_free(h);
		return NULL;
	}
	av_sha_init(h->ctx, 256);
	return h;
}

void sha256_update(struct sha256 *h, const void *data, size_t n)
{
	av_sha_update(h->ctx, data, n);
}

void sha256_final_hex(struct sha256 *h, char hex[SHA256_HEX_SIZE])
{
	uint8_t digest[32];
	av_sha_final(h->ctx, digest);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	av_sha_init(h->ctx, 256);
}

void sha256_free(struct sha256 **h)
{
	if (!*h)
		return;
	av_freep(&(*h)->ctx);
	av_freep(h);
}

void sha256_hex(const void *data, size_t n, char hex[SHA256_HEX_SIZE])
{
	struct AVSHA *ctx = av_sha_alloc();
	uint8_t digest[32];
	if (!ctx) {
		hex[0] = '\0';
		return;
	}
	av_sha_init(ctx, 256);
	av_sha_update(ctx, data, n);
	av_sha_final(ctx, digest);
	av_free(ctx);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

int sha256_file_hex(const char *path, char hex[SHA256_HEX_SIZE], int64_t *bytes)
{
	static __thread unsigned char chunk[1 << 16];
	int ret = 0;
	int64_t total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct sha256 *h = sha256_new();
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (r == 0)
			break;
		sha256_update(h, chunk, (size_t)r);
		total += r;
	}
	close(fd);
	if (ret == 0) {
		sha256_final_hex(h, hex);
		if (bytes)
			*bytes = total;
	}
	sha256_free(&h);
	return ret;
}
