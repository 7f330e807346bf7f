/*
 * fuzz_mime.c - libFuzzer target for the MIME walker (src/parse/mime.c).
 *
 * Each input is written to a memfd (seekable, never on disk) and walked
 * twice: as one message with mime_walk_fd and as an mbox with
 * mime_walk_mbox_fd.  The sink reads every part to its end in odd-sized
 * chunks, so the base64 and quoted-printable decoders see every split,
 * and checks what the walker promises: a content type, 1-based leaf
 * numbers in order, depth within DM_MAX_MIME_DEPTH, at most
 * DM_MAX_MIME_PARTS leaves, and a reason for every error.
 *
 * Seeds: fuzz/corpus/mime/ (made by fuzz/make_mime_seeds.py).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create (CMake sets it) */
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/limits.h"
#include "parse/mime.h"

struct fuzz_sink {
	unsigned messages;
	unsigned parts;
	unsigned long long bytes;
};

static int
fuzz_message(void *arg, unsigned index)
{
	struct fuzz_sink *s = arg;
	if (index != s->messages + 1)
		abort();
	s->messages = index;
	s->parts = 0;
	return 0;
}

static int
fuzz_part(void *arg, const struct mime_part_info *info, struct dm_reader *content)
{
	struct fuzz_sink *s = arg;
	static const size_t sizes[] = {1, 7, 4096, 65536};
	unsigned char buf[65536];
	unsigned k = 0;
	ssize_t n;

	if (!info->content_type || !strchr(info->content_type, '/'))
		abort();
	if (info->index != s->parts + 1 || info->index > DM_MAX_MIME_PARTS)
		abort();
	if (info->depth < 0 || info->depth > DM_MAX_MIME_DEPTH)
		abort();
	s->parts = info->index;
	if (info->filename)
		(void)strlen(info->filename);
	if (info->subject)
		(void)strlen(info->subject);
	if (info->report_type)
		(void)strlen(info->report_type);
	while ((n = dm_reader_read(content, buf, sizes[k++ % 4])) > 0)
		s->bytes += (unsigned long long)n;
	if (n < 0)
		abort(); /* a memfd cannot fail to read */
	return 0;
}

static void
fuzz_warn(void *arg, const char *msg)
{
	(void)arg;
	if (!msg || !*msg)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int initialized;
	struct fuzz_sink s;
	struct mime_sink sink = {fuzz_message, fuzz_part, fuzz_warn, &s, NULL, NULL};
	char err[DM_MAX_ERROR_LEN];
	const uint8_t *p = data;
	size_t left = size;
	int fd, rc;

	if (!initialized) {
		mime_global_init();
		initialized = 1;
	}
	fd = memfd_create("fuzz_mime", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	while (left > 0) {
		ssize_t k = write(fd, p, left);
		if (k <= 0)
			abort();
		p += k;
		left -= (size_t)k;
	}

	memset(&s, 0, sizeof s);
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	rc = mime_walk_fd(fd, &sink, err, sizeof err);
	if (rc < 0 && err[0] == '\0')
		abort(); /* every failure has a reason */

	memset(&s, 0, sizeof s);
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	rc = mime_walk_mbox_fd(fd, &sink, err, sizeof err);
	if (rc < 0 && err[0] == '\0')
		abort();

	close(fd);
	return 0;
}
