/*
 * archive_fs.c - the filesystem archive: <data>/archive/YYYY/MM/<sha256>.<ext>
 *
 * Functions: the archive_fs_ops table.
 *
 * An attachment is written to <data>/archive/.tmp/ (O_EXCL temp file),
 * hashed on the way, then renamed to its key.  If the key exists, the
 * bytes are already archived (same content) and the temp file is
 * dropped.  With a->durable the file and its directory are fsynced
 * before commit returns; otherwise archive_sync() does one syncfs() for
 * a whole batch (dmarcd ingest).  Names from the input never reach a
 * path: keys are built from the date and the hash only.
 * Logs nothing; errors are returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

struct fs {
	char root[PATH_MAX - 128];
	char tmpdir[PATH_MAX - 64];
};

struct archive_writer {
	struct archive *a; /* first: see archive.c */
	int fd;
	char tmp[PATH_MAX];
	struct dm_sha256 *h;
	time_t received;
	int rc;
};

struct archive_blob {
	struct archive *a; /* first: see archive.c */
	int fd;
	struct dm_fd_reader fr;
	struct dm_reader r;
};

static int
fs_open(struct archive *a, const char *data_dir, char *err, size_t errlen)
{
	struct fs *fs = xcalloc(1, sizeof *fs);
	int n = snprintf(fs->root, sizeof fs->root, "%s/archive", data_dir);
	if (n < 0 || (size_t)n >= sizeof fs->root) {
		snprintf(err, errlen, "data directory path too long");
		free(fs);
		return DM_EINVAL;
	}
	snprintf(fs->tmpdir, sizeof fs->tmpdir, "%s/.tmp", fs->root);
	if (dm_mkdir_p(fs->tmpdir, 0750) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", fs->tmpdir, strerror(errno));
		free(fs);
		return DM_EIO;
	}
	a->impl = fs;
	return 0;
}

static void
fs_close(struct archive *a)
{
	free(a->impl);
	a->impl = NULL;
}

static struct archive_writer *
fs_put_begin(struct archive *a, time_t received)
{
	struct fs *fs = a->impl;
	struct archive_writer *w = xcalloc(1, sizeof *w);
	w->a = a;
	w->received = received;
	snprintf(w->tmp, sizeof w->tmp, "%s/in-XXXXXX", fs->tmpdir);
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		free(w);
		return NULL;
	}
	w->h = dm_sha256_new();
	return w;
}

static int
fs_put_write(struct archive_writer *w, const void *p, size_t len)
{
	if (w->rc)
		return w->rc;
	dm_sha256_update(w->h, p, len);
	w->rc = dm_write_all(w->fd, p, len);
	return w->rc;
}

static void
fs_put_abort(struct archive_writer *w)
{
	close(w->fd);
	unlink(w->tmp);
	dm_sha256_free(w->h);
	free(w);
}

static int
fs_put_commit(struct archive_writer *w, const char *ext, char *key, size_t keylen,
	      char hash[DM_SHA256_HEX])
{
	struct fs *fs = w->a->impl;
	int rc = w->rc;
	struct tm tm;
	char dir[PATH_MAX], path[PATH_MAX];
	dm_sha256_final_hex(w->h, hash);
	gmtime_r(&w->received, &tm);
	int n = snprintf(key, keylen, "%04d/%02d/%s.%s", tm.tm_year + 1900, tm.tm_mon + 1, hash,
			 ext);
	if (rc == 0 && (n < 0 || (size_t)n >= keylen))
		rc = DM_EINVAL;
	if (rc == 0 && w->a->durable && fsync(w->fd) != 0)
		rc = dm_errno_code(errno);
	if (rc == 0) {
		snprintf(dir, sizeof dir, "%s/%04d/%02d", fs->root, tm.tm_year + 1900,
			 tm.tm_mon + 1);
		snprintf(path, sizeof path, "%s/%s", fs->root, key);
		rc = dm_mkdir_p(dir, 0750);
	}
	if (rc == 0) {
		struct stat st;
		if (stat(path, &st) == 0) {
			unlink(w->tmp); /* same bytes already archived */
		} else if (rename(w->tmp, path) != 0) {
			rc = dm_errno_code(errno);
		} else if (w->a->durable) {
			rc = dm_fsync_dir(dir);
		}
	}
	if (rc)
		unlink(w->tmp);
	close(w->fd);
	dm_sha256_free(w->h);
	free(w);
	return rc;
}

static int
fs_blob_open(struct archive *a, const char *key, struct archive_blob **out)
{
	struct fs *fs = a->impl;
	char path[PATH_MAX];
	if (strstr(key, "..") || key[0] == '/')
		return DM_EINVAL;
	snprintf(path, sizeof path, "%s/%s", fs->root, key);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? DM_ENOTFOUND : DM_EIO;
	struct archive_blob *b = xcalloc(1, sizeof *b);
	b->a = a;
	b->fd = fd;
	dm_reader_fd(&b->r, &b->fr, fd);
	*out = b;
	return 0;
}

static struct dm_reader *
fs_blob_reader(struct archive_blob *b)
{
	return &b->r;
}

static void
fs_blob_close(struct archive_blob *b)
{
	close(b->fd);
	free(b);
}

static int
fs_sync(struct archive *a)
{
	struct fs *fs = a->impl;
	int fd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return DM_EIO;
	int rc = syncfs(fd) == 0 ? 0 : dm_errno_code(errno);
	close(fd);
	return rc;
}

const struct archive_ops archive_fs_ops = {
	.name = "fs",
	.open = fs_open,
	.close = fs_close,
	.put_begin = fs_put_begin,
	.put_write = fs_put_write,
	.put_commit = fs_put_commit,
	.put_abort = fs_put_abort,
	.blob_open = fs_blob_open,
	.blob_reader = fs_blob_reader,
	.blob_close = fs_blob_close,
	.sync = fs_sync,
};
