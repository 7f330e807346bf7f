/*
 * fsutil.c - filesystem helpers.
 *
 * Functions: dm_mkdir_p, dm_fsync_dir, dm_write_all, dm_errno_code.
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
dm_errno_code(int err)
{
	return err == ENOSPC || err == EDQUOT ? DM_ENOSPC : DM_EIO;
}

int
dm_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof tmp)
		return DM_EINVAL;
	memcpy(tmp, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
			return dm_errno_code(errno);
		tmp[i] = c;
	}
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return DM_EIO;
	return 0;
}

int
dm_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return DM_EIO;
	int rc = fsync(fd) == 0 ? 0 : dm_errno_code(errno);
	close(fd);
	return rc;
}

int
dm_pread_all(int fd, void *p, size_t len, long long off)
{
	char *s = p;
	while (len > 0) {
		ssize_t n = pread(fd, s, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return dm_errno_code(errno);
		}
		if (n == 0)
			return DM_ETRUNC;
		s += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int
dm_write_all(int fd, const void *p, size_t len)
{
	const char *s = p;
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return dm_errno_code(errno);
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}
