/*
 * buf.h - a growable byte buffer with a mandatory ceiling (curl's dynbuf).
 *
 * Every buffer that holds untrusted bytes is created with its maximum;
 * an append that would pass it fails with DM_ELIMIT and leaves the buffer
 * unchanged.  The content is always NUL-terminated (not counted in len),
 * so text can be used as a C string once the caller knows it has no NUL.
 */
#ifndef DM_BUF_H
#define DM_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

struct dm_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void dm_buf_init(struct dm_buf *b, size_t max);
void dm_buf_free(struct dm_buf *b);
void dm_buf_reset(struct dm_buf *b);
int dm_buf_add(struct dm_buf *b, const void *p, size_t len) DM_WUR;
int dm_buf_addc(struct dm_buf *b, char c) DM_WUR;
int dm_buf_adds(struct dm_buf *b, const char *s) DM_WUR;
int dm_buf_printf(struct dm_buf *b, const char *fmt, ...) DM_WUR DM_PRINTF(2, 3);
int dm_buf_vprintf(struct dm_buf *b, const char *fmt, va_list ap) DM_WUR;
/* The content as a string ("" for an empty buffer). */
const char *dm_buf_str(const struct dm_buf *b);

#endif
