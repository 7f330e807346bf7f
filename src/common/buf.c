/*
 * buf.c - bounded growable buffer.
 *
 * Functions: dm_buf_init, dm_buf_free, dm_buf_reset, dm_buf_add,
 * dm_buf_addc, dm_buf_adds, dm_buf_printf, dm_buf_vprintf, dm_buf_str.
 * Logs nothing; a full buffer is reported as DM_ELIMIT.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void
dm_buf_init(struct dm_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
dm_buf_free(struct dm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
dm_buf_reset(struct dm_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Make room for len more bytes plus the NUL. */
static int
grow(struct dm_buf *b, size_t len)
{
	if (b->max - b->len < len) /* written so it cannot overflow */
		return DM_ELIMIT;
	size_t need = b->len + len + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int
dm_buf_add(struct dm_buf *b, const void *p, size_t len)
{
	/* fast path: room for len bytes and the NUL, within the ceiling
	 * (cap never exceeds max + 1) */
	if (b->data && len < b->cap - b->len) {
		memcpy(b->data + b->len, p, len);
		b->len += len;
		b->data[b->len] = '\0';
		return 0;
	}
	int rc = grow(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
dm_buf_addc(struct dm_buf *b, char c)
{
	return dm_buf_add(b, &c, 1);
}

int
dm_buf_adds(struct dm_buf *b, const char *s)
{
	return dm_buf_add(b, s, strlen(s));
}

int
dm_buf_vprintf(struct dm_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return DM_EINVAL;
	int rc = grow(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
dm_buf_printf(struct dm_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = dm_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

const char *
dm_buf_str(const struct dm_buf *b)
{
	return b->data ? b->data : "";
}
