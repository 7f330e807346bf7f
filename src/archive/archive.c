/*
 * archive.c - backend selection for the raw-report archive.
 *
 * Functions: archive_open, archive_close, archive_put_begin,
 * archive_put_write, archive_put_commit, archive_put_abort,
 * archive_blob_open, archive_blob_reader, archive_blob_close, archive_sync,
 * archive_remove, archive_key_parse.
 * Writers and blobs remember their archive through their first member,
 * so the front end can dispatch without a back pointer argument.
 */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static const struct archive_ops *const backends[] = {&archive_fs_ops, &archive_s3_ops};

/* Every backend's writer and blob structs start with this. */
struct archive_handle {
	struct archive *a;
};

struct archive *
archive_open(const struct dm_config *cfg, int durable, char *err, size_t errlen)
{
	const char *backend = cfg->archive;
	const struct archive_ops *ops = NULL;
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->name, backend) == 0)
			ops = backends[i];
	if (!ops) {
		snprintf(err, errlen, "unknown archive backend '%s'", backend);
		return NULL;
	}
	struct archive *a = xcalloc(1, sizeof *a);
	a->ops = ops;
	a->durable = durable;
	if (ops->open(a, cfg, err, errlen) != 0) {
		free(a);
		return NULL;
	}
	return a;
}

void
archive_close(struct archive *a)
{
	if (!a)
		return;
	a->ops->close(a);
	free(a);
}

struct archive_writer *
archive_put_begin(struct archive *a, time_t received)
{
	return a->ops->put_begin(a, received);
}

static struct archive *
owner(const void *h)
{
	return ((const struct archive_handle *)h)->a;
}

int
archive_put_write(struct archive_writer *w, const void *p, size_t len)
{
	return owner(w)->ops->put_write(w, p, len);
}

int
archive_put_commit(struct archive_writer *w, const char *ext, char *key, size_t keylen,
		   char hash[DM_SHA256_HEX], char *err, size_t errlen)
{
	char none[8];
	if (err == NULL) {
		err = none;
		errlen = sizeof none;
	}
	err[0] = '\0';
	return owner(w)->ops->put_commit(w, ext, key, keylen, hash, err, errlen);
}

void
archive_put_abort(struct archive_writer *w)
{
	if (w)
		owner(w)->ops->put_abort(w);
}

int
archive_blob_open(struct archive *a, const char *key, struct archive_blob **out)
{
	return a->ops->blob_open(a, key, out);
}

struct dm_reader *
archive_blob_reader(struct archive_blob *b)
{
	return owner(b)->ops->blob_reader(b);
}

void
archive_blob_close(struct archive_blob *b)
{
	if (b)
		owner(b)->ops->blob_close(b);
}

int
archive_sync(struct archive *a)
{
	return a->ops->sync(a);
}

int
archive_remove(struct archive *a, const char *const *keys, size_t n, uint64_t *objects,
	       uint64_t *bytes, char *err, size_t errlen)
{
	return a->ops->remove(a, keys, n, objects, bytes, err, errlen);
}

int
archive_key_parse(const char *key, int *y, int *m)
{
	for (int i = 0; i < 7; i++) {
		if (i == 4 ? key[i] != '/' : (key[i] < '0' || key[i] > '9'))
			return -1;
	}
	if (key[7] != '/')
		return -1;
	*y = (key[0] - '0') * 1000 + (key[1] - '0') * 100 + (key[2] - '0') * 10 + (key[3] - '0');
	*m = (key[5] - '0') * 10 + (key[6] - '0');
	const char *p = key + 8;
	size_t hex = strspn(p, "0123456789abcdef");
	if (hex != DM_SHA256_HEX - 1 || p[hex] != '.')
		return -1;
	p += hex + 1;
	size_t ext = strspn(p, "abcdefghijklmnopqrstuvwxyz");
	return ext > 0 && ext <= 8 && p[ext] == '\0' && *m >= 1 && *m <= 12 ? 0 : -1;
}
