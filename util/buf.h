/*
 * A growable byte buffer with a hard maximum (curl's dynbuf): appends fail
 * with -E2BIG rather than grow past the limit given at init.  The content is
 * always NUL-terminated.
 */
#ifndef VIGIL_UTIL_BUF_H
#define VIGIL_UTIL_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
/* Frees the content; the buffer can be reused after buf_init. */
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
/* Each returns 0, -ENOMEM or -E2BIG; on failure the content is unchanged. */
int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the content to the caller (to free()) and resets the buffer. */
char *buf_detach(struct buf *b);

/* Makes room in a growable array *items of *cap elements of size bytes for
 * at least need elements, doubling (from 16) as needed.  0 or -ENOMEM, in
 * which case the array is unchanged. */
int array_reserve(void *items, size_t *cap, size_t need, size_t size);

#endif
