/*
 * SHA-256 helpers over OpenSSL's libcrypto, which uses the CPU's SHA
 * instructions where there are some: every byte of footage is hashed as it
 * is written, and libavutil's portable AVSHA (used before) cost a recorder
 * more CPU than everything else it does for a camera (bench/README.md).
 */
#include "util/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util/banned.h"

struct sha256 {
	EVP_MD_CTX *ctx;
};

static void to_hex(const unsigned char digest[32], char hex[SHA256_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[64] = '\0';
}

bool sha256_hex_is_valid(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

struct sha256 *sha256_new(void)
{
	struct sha256 *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

void sha256_update(struct sha256 *h, const void *data, size_t n)
{
	EVP_DigestUpdate(h->ctx, data, n);
}

void sha256_final_hex(struct sha256 *h, char hex[SHA256_HEX_SIZE])
{
	unsigned char digest[32];
	EVP_DigestFinal_ex(h->ctx, digest, NULL);
	to_hex(digest, hex);
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void sha256_free(struct sha256 **h)
{
	if (!*h)
		return;
	EVP_MD_CTX_free((*h)->ctx);
	free(*h);
	*h = NULL;
}

void sha256_hex(const void *data, size_t n, char hex[SHA256_HEX_SIZE])
{
	unsigned char digest[32];
	if (EVP_Digest(data, n, digest, NULL, EVP_sha256(), NULL) != 1) {
		hex[0] = '\0';
		return;
	}
	to_hex(digest, hex);
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
