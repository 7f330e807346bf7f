/*
 * archive.h - where raw attachments are kept, exactly as received.
 *
 * Every attachment is archived before it is parsed, so a parser fix can
 * replay history and a rejected report is never lost.  The key holds the
 * month it arrived and the SHA-256 of its bytes: "2026/11/<sha256>.gz".
 * Two reporters' report.xml.gz never collide and a re-sent copy lands on
 * the same key (stored once).
 *
 * A backend is a table of functions chosen by the `archive` setting: "fs"
 * (packs under the data folder, archive_fs.c) or "s3" (an S3-compatible
 * bucket, archive_s3.c, the only file that uses libcurl).
 *
 *   w = archive_put_begin(a, received);
 *   archive_put_write(w, buf, len) ...;
 *   archive_put_commit(w, "gz", key, sizeof key, hash, err, errlen);   or _abort(w)
 *
 * archive_blob_open() right after a commit, by the thread that committed
 * (ingest reading back an attachment too big to keep in memory), is
 * served from a local copy where the backend has one: nothing just
 * written is fetched back from a remote store.
 */
#ifndef DM_ARCHIVE_H
#define DM_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/reader.h"
#include "core/config.h"

#define DM_ARCHIVE_KEY_MAX 128

struct archive;
struct archive_writer;
struct archive_blob;

struct archive_ops {
	const char *name;
	int (*open)(struct archive *a, const struct dm_config *cfg, char *err, size_t errlen);
	void (*close)(struct archive *a);
	struct archive_writer *(*put_begin)(struct archive *a, time_t received);
	int (*put_write)(struct archive_writer *w, const void *p, size_t len);
	int (*put_commit)(struct archive_writer *w, const char *ext, char *key,
			  size_t keylen, char hash[DM_SHA256_HEX], char *err, size_t errlen);
	void (*put_abort)(struct archive_writer *w);
	int (*blob_open)(struct archive *a, const char *key, struct archive_blob **out);
	struct dm_reader *(*blob_reader)(struct archive_blob *b);
	void (*blob_close)(struct archive_blob *b);
	int (*sync)(struct archive *a);
	/* dmarcd prune: see archive_remove */
	int (*remove)(struct archive *a, const char *const *keys, size_t n, uint64_t *objects,
		      uint64_t *bytes, char *err, size_t errlen);
};

struct archive {
	const struct archive_ops *ops;
	void *impl;
	int durable; /* fsync each attachment before commit returns */
};

/* Open the backend cfg->archive names, with its settings from cfg. */
struct archive *archive_open(const struct dm_config *cfg, int durable, char *err,
			     size_t errlen);
void archive_close(struct archive *a);

struct archive_writer *archive_put_begin(struct archive *a, time_t received);
int archive_put_write(struct archive_writer *w, const void *p, size_t len) DM_WUR;
/* Finish: the key and the SHA-256 (hex) of what was written.  The writer
 * is freed whatever the result; a failure says why in err (may be NULL). */
int archive_put_commit(struct archive_writer *w, const char *ext, char *key, size_t keylen,
		       char hash[DM_SHA256_HEX], char *err, size_t errlen) DM_WUR;
void archive_put_abort(struct archive_writer *w);

int archive_blob_open(struct archive *a, const char *key, struct archive_blob **out) DM_WUR;
struct dm_reader *archive_blob_reader(struct archive_blob *b);
void archive_blob_close(struct archive_blob *b);

/* Make everything written so far durable (one syncfs for a batch). */
int archive_sync(struct archive *a) DM_WUR;

/* Remove the objects of keys (that no stored report references any
 * more: the caller's check).  A key that is not there counts as removed;
 * *objects and *bytes (where the backend knows sizes cheaply) grow by
 * what went.  Crash-safe: a crash leaves every other object readable
 * (archive_fs.c says how).  Several processes may remove and add at
 * once. */
int archive_remove(struct archive *a, const char *const *keys, size_t n, uint64_t *objects,
		   uint64_t *bytes, char *err, size_t errlen) DM_WUR;

/* Is key "YYYY/MM/<sha256 hex>.<ext>" and nothing else?  0 with its year
 * and month, or -1.  Keys from a client are checked with it before they
 * reach a path or a URL. */
int archive_key_parse(const char *key, int *year, int *month);

extern const struct archive_ops archive_fs_ops;
extern const struct archive_ops archive_s3_ops;

#endif
