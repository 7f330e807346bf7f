/*
 * fsutil.h - small filesystem helpers with the project's return convention.
 */
#ifndef DM_FSUTIL_H
#define DM_FSUTIL_H

#include <stddef.h>

#include "err.h"

/* mkdir -p; existing directories are fine. */
int dm_mkdir_p(const char *path, unsigned mode) DM_WUR;
/* fsync a directory so a rename in it is durable. */
int dm_fsync_dir(const char *path) DM_WUR;
/* Write all len bytes (EINTR and short writes handled). */
int dm_write_all(int fd, const void *p, size_t len) DM_WUR;
/* Read exactly len bytes at off (EINTR and short reads handled); a file
 * that ends before is DM_ETRUNC. */
int dm_pread_all(int fd, void *p, size_t len, long long off) DM_WUR;
/* errno after a failed write/fsync as a DM_E* code. */
int dm_errno_code(int err);

#endif
