/*
 * SHA-256 (OpenSSL's libcrypto), with a hex form for the catalog and
 * reports.
 */
#ifndef VIGIL_UTIL_SHA256_H
#define VIGIL_UTIL_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_SIZE 65

struct sha256;

/* NULL on allocation failure. */
struct sha256 *sha256_new(void);
void sha256_update(struct sha256 *h, const void *data, size_t n);
/* Writes 64 hex digits and a NUL; the context can be reused after. */
void sha256_final_hex(struct sha256 *h, char hex[SHA256_HEX_SIZE]);
void sha256_free(struct sha256 **h);

/* Is s a hash as sha256_final_hex writes one (64 lowercase hex digits)? */
bool sha256_hex_is_valid(const char *s);

/* One-shot hash of a buffer. */
void sha256_hex(const void *data, size_t n, char hex[SHA256_HEX_SIZE]);

/* Hash of a whole file; returns 0 or a negative errno.  If bytes is not NULL
 * it receives the size hashed. */
int sha256_file_hex(const char *path, char hex[SHA256_HEX_SIZE], int64_t *bytes);

#endif
