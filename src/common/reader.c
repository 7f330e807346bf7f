/*
 * reader.c - readers over memory and file descriptors.
 *
 * Functions: dm_reader_mem, dm_reader_fd, dm_reader_pread.
 */
#include "reader.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static ssize_t
mem_read(void *ctx, void *buf, size_t len)
{
	struct dm_mem_reader *m = ctx;
	size_t left = m->len - m->off;
	if (len > left)
		len = left;
	memcpy(buf, m->p + m->off, len);
	m->off += len;
	return (ssize_t)len;
}

void
dm_reader_mem(struct dm_reader *r, struct dm_mem_reader *m, const void *p,
	      size_t len)
{
	m->p = p;
	m->len = len;
	m->off = 0;
	r->read = mem_read;
	r->ctx = m;
}

static ssize_t
fd_read(void *ctx, void *buf, size_t len)
{
	struct dm_fd_reader *f = ctx;
	for (;;) {
		ssize_t n = read(f->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return DM_EIO;
	}
}

void
dm_reader_fd(struct dm_reader *r, struct dm_fd_reader *f, int fd)
{
	f->fd = fd;
	r->read = fd_read;
	r->ctx = f;
}

static ssize_t
pread_read(void *ctx, void *buf, size_t len)
{
	struct dm_pread_reader *f = ctx;
	if (len > f->left)
		len = (size_t)f->left;
	if (len == 0)
		return 0;
	ssize_t n;
	do
		n = pread(f->fd, buf, len, (off_t)f->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return DM_EIO;
	if (n == 0)
		return DM_ETRUNC;
	f->off += (unsigned long long)n;
	f->left -= (unsigned long long)n;
	return n;
}

void
dm_reader_pread(struct dm_reader *r, struct dm_pread_reader *f, int fd, unsigned long long off,
		unsigned long long len)
{
	f->fd = fd;
	f->off = off;
	f->left = len;
	r->read = pread_read;
	r->ctx = f;
}
