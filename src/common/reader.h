/*
 * reader.h - a pull source of bytes, the glue between pipeline stages.
 *
 * A MIME part's decoded content, a file, an archived attachment and a
 * memory buffer are all read through this one interface, so the unpacker
 * and the archive never care where bytes come from.
 *
 *   dm_reader_read()  returns the number of bytes read (> 0), 0 at the
 *                     end, or a negative DM_E* code.  Short reads are
 *                     normal.
 *
 * dm_reader_mem(), dm_reader_fd() and dm_reader_pread() build readers over
 * borrowed memory, a borrowed file descriptor and a range of one.
 */
#ifndef DM_READER_H
#define DM_READER_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct dm_reader {
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *ctx;
};

static inline ssize_t
dm_reader_read(struct dm_reader *r, void *buf, size_t len)
{
	return r->read(r->ctx, buf, len);
}

/* A reader over borrowed memory. */
struct dm_mem_reader {
	const unsigned char *p;
	size_t len;
	size_t off;
};
void dm_reader_mem(struct dm_reader *r, struct dm_mem_reader *m, const void *p,
		   size_t len);

/* A reader over a borrowed file descriptor (read(2), EINTR retried). */
struct dm_fd_reader {
	int fd;
};
void dm_reader_fd(struct dm_reader *r, struct dm_fd_reader *f, int fd);

/* A reader over bytes [off, off + len) of a borrowed file descriptor
 * (pread(2), EINTR retried); a file shorter than that is DM_ETRUNC. */
struct dm_pread_reader {
	int fd;
	unsigned long long off, left;
};
void dm_reader_pread(struct dm_reader *r, struct dm_pread_reader *f, int fd,
		     unsigned long long off, unsigned long long len);

#endif
