/*
 * archive_fs.c - the filesystem archive: month folders of append-only packs.
 *
 * Functions: the archive_fs_ops table.
 *
 * Layout under <data>/archive/:
 *
 *   YYYY/MM/pack-<unixtime>-<pid>-<n>.dpk   attachments, one after the other
 *   YYYY/MM/index                           "<key> <pack> <offset> <length>\n"
 *
 * A key is "YYYY/MM/<sha256>.<ext>": the month the attachment arrived and
 * the SHA-256 of its bytes.  Why packs and not one file per attachment:
 * creating a file costs more than parsing a typical report (a quarter of
 * a millisecond of kernel time on the machines we measured), and a
 * postmaster's backup of millions of 2 KiB files is slow; a pack is a
 * plain append-only file that tar, rsync and S3 handle well.
 * `dmarcd archive get KEY` writes one attachment back out.
 *
 * Each entry in a pack is a 128-byte header ("DPK1", the key, the length;
 * written when the entry is complete, zeros before) followed by the bytes
 * exactly as received.  The index line is appended after the entry is
 * complete, so a crash leaves at most an unindexed tail that is never
 * read.  A writer has a pack to itself while it writes (a small pool, one
 * pack per concurrent writer), so concurrent ingest jobs never interleave.
 * If the key is already in the month's index (the same bytes archived
 * before), the new copy is cut off the pack again.  Names from the input
 * never reach a path.
 *
 * With a->durable the pack and the index are fdatasync'ed before commit
 * returns; otherwise archive_sync() does one syncfs() for a batch.
 *
 * Removing (fs_remove, for `dmarcd prune`).  Packs are never rewritten:
 * a month's index is rewritten without the removed keys, and a pack is
 * deleted once no line of the index names it any more; a pack that still
 * holds a live entry keeps its dead bytes until its last entry goes (no
 * compaction: copying live entries would be a second writer of every
 * pack, and retention removes whole old stretches, so packs empty out).
 * Other processes (`dmarcd ingest`, `serve`) may be appending meanwhile,
 * so two advisory locks (flock) keep them apart:
 *
 *   - the index: a writer takes it exclusively around its one append and
 *     checks that the file it holds is still the index (st_nlink > 0),
 *     reopening it when a remover replaced it; the remover holds it from
 *     reading the old index to the rename of the new one;
 *   - a pack: its writer creates it as new-pack-..., locks it shared and
 *     only then renames it pack-...dpk, and holds the lock until it
 *     closes the pack; a remover deletes only a pack it can lock
 *     exclusively (no writer) and that no line of the new index names.
 *     Writers never reopen a pack, so once the remover holds the lock
 *     no new entry can appear in it.  (A new-pack- file left by a
 *     writer that died is deleted once DM_ARCHIVE_PACK_GRACE old.)
 *
 * Crash safety: the new index is written beside the old one, fsync'ed,
 * renamed over it and the folder fsync'ed before any pack is deleted, so
 * a crash leaves the old index (nothing removed) or the new one with
 * every pack it names; packs left unnamed by a crash are deleted the next
 * time a key of that month is removed.  A remover in this process also
 * forgets the month's keys it holds in memory (the duplicate check);
 * other processes see the index's inode change and load it again before
 * they call an attachment a duplicate.
 * Logs nothing; errors are returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "common/fsutil.h"
#include "common/limits.h"
#include "common/xalloc.h"

#define PACK_HEADER 128
#define PACK_KEY_MAX 96
#define PACK_MAX_BYTES (256ULL * 1024 * 1024) /* start a new pack beyond this */
/* One pack per concurrent writer: every ingest job and (later) every
 * spool worker may be writing at once. */
#define PACK_POOL (DM_MAX_JOBS + 8)
#define INDEX_LINE 256

/* A pack open for appending. */
struct pack {
	int fd;
	int busy;
	int month;	  /* year * 100 + month */
	uint64_t size;
	char name[48];	  /* "pack-....dpk" */
};

/* Keys already indexed in one month, loaded from its index once: an
 * open-addressing hash set (a month holds tens of thousands). */
struct keyset {
	int month;
	char **slots;
	size_t n, cap; /* cap: a power of two, at least twice n */
	int loaded;
	ino_t ino; /* of the index it was loaded from (0: none) */
};

struct fs {
	char root[PATH_MAX - 256];
	pthread_mutex_t lock;
	int index_fd; /* the open index of index_month, O_APPEND */
	int index_month;
	struct pack pool[PACK_POOL];
	unsigned seq;
	struct keyset seen;
};

struct archive_writer {
	struct archive *a; /* first: see archive.c */
	struct pack *pack;
	uint64_t start; /* offset of the entry header */
	uint64_t len;
	struct dm_sha256 *h;
	time_t received;
	int rc;
};

struct archive_blob {
	struct archive *a; /* first: see archive.c */
	int fd;
	struct dm_pread_reader pr;
	struct dm_reader r;
};

static void month_dir(const struct fs *fs, int month, char *out, size_t outlen);

static int
fs_open(struct archive *a, const struct dm_config *cfg, char *err, size_t errlen)
{
	const char *data_dir = cfg->data_dir;
	struct fs *fs = xcalloc(1, sizeof *fs);
	int n = snprintf(fs->root, sizeof fs->root, "%s/archive", data_dir);
	if (n < 0 || (size_t)n >= sizeof fs->root) {
		snprintf(err, errlen, "data directory path too long");
		free(fs);
		return DM_EINVAL;
	}
	if (dm_mkdir_p(fs->root, 0750) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", fs->root, strerror(errno));
		free(fs);
		return DM_EIO;
	}
	for (int i = 0; i < PACK_POOL; i++)
		fs->pool[i].fd = -1;
	fs->index_fd = -1;
	pthread_mutex_init(&fs->lock, NULL);
	a->impl = fs;
	return 0;
}

static void
keyset_clear(struct keyset *k)
{
	for (size_t i = 0; i < k->cap; i++)
		free(k->slots[i]);
	free(k->slots);
	memset(k, 0, sizeof *k);
}

static size_t
key_hash(const char *key)
{
	size_t h = 14695981039346656037ULL;
	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return h;
}

/* The slot of key, or of the empty place where it would go. */
static char **
keyset_slot(const struct keyset *k, const char *key)
{
	size_t mask = k->cap - 1;
	for (size_t i = key_hash(key) & mask;; i = (i + 1) & mask)
		if (!k->slots[i] || strcmp(k->slots[i], key) == 0)
			return &k->slots[i];
}

static int
keyset_has(const struct keyset *k, const char *key)
{
	return k->cap && *keyset_slot(k, key) != NULL;
}

static void
keyset_add(struct keyset *k, const char *key)
{
	if (2 * (k->n + 1) > k->cap) {
		struct keyset bigger = {.month = k->month, .loaded = k->loaded, .ino = k->ino};
		bigger.cap = k->cap ? k->cap * 2 : 1024;
		bigger.slots = xcalloc(bigger.cap, sizeof *bigger.slots);
		for (size_t i = 0; i < k->cap; i++)
			if (k->slots[i])
				*keyset_slot(&bigger, k->slots[i]) = k->slots[i];
		bigger.n = k->n;
		free(k->slots);
		*k = bigger;
	}
	char **slot = keyset_slot(k, key);
	if (*slot)
		return;
	*slot = xstrdup(key);
	k->n++;
}

static void
fs_close(struct archive *a)
{
	struct fs *fs = a->impl;
	char dir[PATH_MAX - 128], path[PATH_MAX];
	for (int i = 0; i < PACK_POOL; i++) {
		struct pack *p = &fs->pool[i];
		if (p->fd < 0)
			continue;
		close(p->fd);
		if (p->size == 0) { /* everything in it was a duplicate */
			month_dir(fs, p->month, dir, sizeof dir);
			snprintf(path, sizeof path, "%s/%s", dir, p->name);
			unlink(path);
		}
	}
	keyset_clear(&fs->seen);
	if (fs->index_fd >= 0)
		close(fs->index_fd);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
	a->impl = NULL;
}

static int
month_of(time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
}

static void
month_dir(const struct fs *fs, int month, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%04d/%02d", fs->root, month / 100, month % 100);
}

/* Take a free pack for this month (opening a new one if needed). */
static struct pack *
pack_take(struct fs *fs, int month)
{
	char dir[PATH_MAX - 128], path[PATH_MAX];
	pthread_mutex_lock(&fs->lock);
	struct pack *p = NULL;
	for (int i = 0; i < PACK_POOL && !p; i++) {
		struct pack *c = &fs->pool[i];
		if (c->fd >= 0 && !c->busy && c->month == month && c->size < PACK_MAX_BYTES)
			p = c;
	}
	for (int i = 0; i < PACK_POOL && !p; i++) {
		struct pack *c = &fs->pool[i];
		if (c->busy)
			continue;
		if (c->fd >= 0) { /* old month or full: retire it */
			close(c->fd);
			if (c->size == 0) {
				month_dir(fs, c->month, dir, sizeof dir);
				snprintf(path, sizeof path, "%s/%s", dir, c->name);
				unlink(path);
			}
		}
		c->fd = -1;
		month_dir(fs, month, dir, sizeof dir);
		if (dm_mkdir_p(dir, 0750) != 0)
			break;
		/* made under another name and locked (shared, while the pack is
		 * open) before it is a pack: fs_remove never sees an unheld
		 * pack that a writer is about to fill.  link(), not rename():
		 * a name taken (another archive of this process, same second)
		 * is never replaced */
		for (int tries = 0; tries < 100 && c->fd < 0; tries++) {
			char tmp[PATH_MAX];
			snprintf(c->name, sizeof c->name, "pack-%lld-%d-%u.dpk", (long long)time(NULL),
				 (int)getpid(), fs->seq++);
			snprintf(path, sizeof path, "%s/%s", dir, c->name);
			snprintf(tmp, sizeof tmp, "%s/new-%s", dir, c->name);
			int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
			if (fd < 0)
				continue;
			int ok = flock(fd, LOCK_SH) == 0 && link(tmp, path) == 0;
			(void)unlink(tmp);
			if (ok)
				c->fd = fd;
			else
				close(fd);
		}
		if (c->fd < 0)
			break;
		c->size = 0;
		c->month = month;
		p = c;
	}
	if (p)
		p->busy = 1;
	pthread_mutex_unlock(&fs->lock);
	return p;
}

static void
pack_give(struct fs *fs, struct pack *p)
{
	pthread_mutex_lock(&fs->lock);
	p->busy = 0;
	pthread_mutex_unlock(&fs->lock);
}

static struct archive_writer *
fs_put_begin(struct archive *a, time_t received)
{
	static const unsigned char zeros[PACK_HEADER];
	struct fs *fs = a->impl;
	struct pack *p = pack_take(fs, month_of(received));
	if (!p)
		return NULL;
	struct archive_writer *w = xcalloc(1, sizeof *w);
	w->a = a;
	w->pack = p;
	w->start = p->size;
	w->received = received;
	w->h = dm_sha256_new();
	w->rc = dm_write_all(p->fd, zeros, sizeof zeros);
	if (w->rc == 0)
		p->size += PACK_HEADER;
	return w;
}

static int
fs_put_write(struct archive_writer *w, const void *p, size_t len)
{
	if (w->rc)
		return w->rc;
	dm_sha256_update(w->h, p, len);
	w->rc = dm_write_all(w->pack->fd, p, len);
	if (w->rc == 0) {
		w->pack->size += len;
		w->len += len;
	}
	return w->rc;
}

/* Cut the pack back to where the writer's entry began. */
static void
pack_rewind(struct archive_writer *w)
{
	struct pack *p = w->pack;
	if (ftruncate(p->fd, (off_t)w->start) == 0 && lseek(p->fd, (off_t)w->start, SEEK_SET) >= 0)
		p->size = w->start;
	else
		p->size = PACK_MAX_BYTES; /* unsure where we are: retire it */
}

static void
fs_put_abort(struct archive_writer *w)
{
	struct fs *fs = w->a->impl;
	pack_rewind(w);
	pack_give(fs, w->pack);
	dm_sha256_free(w->h);
	free(w);
}

/* Load the keys of a month's index (once per month per process). */
static void
keyset_load(struct fs *fs, int month)
{
	struct keyset *k = &fs->seen;
	if (k->loaded && k->month == month)
		return;
	keyset_clear(k);
	k->month = month;
	k->loaded = 1;
	char dir[PATH_MAX - 128], path[PATH_MAX], line[INDEX_LINE];
	month_dir(fs, month, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/index", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	struct stat st;
	if (fstat(fileno(f), &st) == 0)
		k->ino = st.st_ino;
	while (fgets(line, sizeof line, f)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		keyset_add(k, line);
	}
	fclose(f);
}

/* Is the month's index still the file the keys were loaded from?  A
 * remover (another process) may have rewritten it without some keys. */
static int
keyset_current(struct fs *fs, int month)
{
	char dir[PATH_MAX - 128], path[PATH_MAX];
	struct stat st;
	month_dir(fs, month, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/index", dir);
	if (stat(path, &st) != 0)
		return fs->seen.ino == 0;
	return st.st_ino == fs->seen.ino;
}

/* The month's index open for appending and locked (flock, exclusive):
 * the file still named index, not one a remover has just replaced.
 * Called with fs->lock held. */
static int
index_lock(struct fs *fs, int month, const char *path)
{
	for (int tries = 0; tries < 100; tries++) {
		if (fs->index_fd < 0 || fs->index_month != month) {
			if (fs->index_fd >= 0)
				close(fs->index_fd);
			fs->index_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
			fs->index_month = month;
			if (fs->index_fd < 0)
				return dm_errno_code(errno);
		}
		struct stat st;
		if (flock(fs->index_fd, LOCK_EX) != 0 || fstat(fs->index_fd, &st) != 0)
			return dm_errno_code(errno);
		if (st.st_nlink > 0)
			return 0;
		close(fs->index_fd); /* replaced by a remover: open the new one */
		fs->index_fd = -1;
	}
	return DM_EIO;
}

static int
fs_put_commit(struct archive_writer *w, const char *ext, char *key, size_t keylen,
	      char hash[DM_SHA256_HEX], char *err, size_t errlen)
{
	struct fs *fs = w->a->impl;
	struct pack *p = w->pack;
	int month = month_of(w->received);
	int rc = w->rc;
	dm_sha256_final_hex(w->h, hash);
	int n = snprintf(key, keylen, "%04d/%02d/%s.%s", month / 100, month % 100, hash, ext);
	if (rc == 0 && (n < 0 || (size_t)n >= keylen || (size_t)n >= PACK_KEY_MAX))
		rc = DM_EINVAL;
	if (rc) {
		pack_rewind(w);
		goto out;
	}

	pthread_mutex_lock(&fs->lock);
	keyset_load(fs, month);
	int have = keyset_has(&fs->seen, key);
	if (have && !keyset_current(fs, month)) {
		fs->seen.loaded = 0; /* rewritten by a remover: ask it again */
		keyset_load(fs, month);
		have = keyset_has(&fs->seen, key);
	}
	if (!have)
		keyset_add(&fs->seen, key);
	pthread_mutex_unlock(&fs->lock);
	if (have) {
		pack_rewind(w); /* the same bytes are archived already */
		goto out;
	}

	unsigned char hdr[PACK_HEADER];
	memset(hdr, 0, sizeof hdr);
	memcpy(hdr, "DPK1", 4);
	memcpy(hdr + 4, key, (size_t)n);
	for (int i = 0; i < 8; i++)
		hdr[4 + PACK_KEY_MAX + i] = (unsigned char)(w->len >> (8 * i));
	if (pwrite(p->fd, hdr, sizeof hdr, (off_t)w->start) != (ssize_t)sizeof hdr) {
		rc = dm_errno_code(errno);
		pack_rewind(w);
		goto out;
	}
	if (w->a->durable && fdatasync(p->fd) != 0) {
		rc = dm_errno_code(errno);
		goto out;
	}

	char dir[PATH_MAX - 128], path[PATH_MAX], line[INDEX_LINE];
	month_dir(fs, month, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/index", dir);
	int len = snprintf(line, sizeof line, "%s %s %llu %llu\n", key, p->name,
			   (unsigned long long)(w->start + PACK_HEADER),
			   (unsigned long long)w->len);
	pthread_mutex_lock(&fs->lock);
	rc = index_lock(fs, month, path);
	/* one write per line: O_APPEND keeps concurrent writers' lines whole */
	if (rc == 0 && write(fs->index_fd, line, (size_t)len) != len)
		rc = dm_errno_code(errno);
	else if (rc == 0 && w->a->durable && fdatasync(fs->index_fd) != 0)
		rc = dm_errno_code(errno);
	if (fs->index_fd >= 0)
		(void)flock(fs->index_fd, LOCK_UN);
	pthread_mutex_unlock(&fs->lock);
out:
	if (rc)
		snprintf(err, errlen, "%s: %s", fs->root, dm_strerror(rc));
	pack_give(fs, p);
	dm_sha256_free(w->h);
	free(w);
	return rc;
}

static int
fs_blob_open(struct archive *a, const char *key, struct archive_blob **out)
{
	struct fs *fs = a->impl;
	char path[PATH_MAX], line[INDEX_LINE];
	int y, m;
	/* keys are "YYYY/MM/<hex>.<ext>": nothing else may reach a path */
	if (strlen(key) >= PACK_KEY_MAX || archive_key_parse(key, &y, &m) != 0)
		return DM_EINVAL;
	snprintf(path, sizeof path, "%s/%04d/%02d/index", fs->root, y, m);
	FILE *f = fopen(path, "re");
	if (!f)
		return DM_ENOTFOUND;
	char pack[64] = "";
	unsigned long long off = 0, len = 0;
	int found = 0;
	size_t klen = strlen(key);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, klen) != 0 || line[klen] != ' ')
			continue;
		char *p = line + klen + 1;
		char *sp = strchr(p, ' ');
		if (!sp || (size_t)(sp - p) >= sizeof pack)
			continue;
		memcpy(pack, p, (size_t)(sp - p));
		pack[sp - p] = '\0';
		char *end;
		off = strtoull(sp + 1, &end, 10);
		len = strtoull(end, NULL, 10);
		found = 1;
	}
	fclose(f);
	if (!found || strchr(pack, '/') || pack[0] == '.')
		return DM_ENOTFOUND;
	snprintf(path, sizeof path, "%s/%04d/%02d/%s", fs->root, y, m, pack);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? DM_ENOTFOUND : DM_EIO;
	struct archive_blob *b = xcalloc(1, sizeof *b);
	b->a = a;
	b->fd = fd;
	dm_reader_pread(&b->r, &b->pr, fd, off, len);
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

/* ---- removing (dmarcd prune) ------------------------------------------------ */

/* Pack names of a month: those the new index still names (live) and
 * those that lost an entry (touched), as small growable lists. */
struct names {
	char (*v)[64];
	size_t n, cap;
};

static int
names_has(const struct names *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return 1;
	return 0;
}

static void
names_add(struct names *l, const char *name)
{
	if (strlen(name) >= sizeof l->v[0] || names_has(l, name))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	snprintf(l->v[l->n++], sizeof l->v[0], "%s", name);
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Is key (an index line's first word, NUL-ended) one of the sorted
 * keys[0..n)? */
static int
key_listed(const char *const *keys, size_t n, const char *key)
{
	return bsearch(&key, keys, n, sizeof *keys, key_cmp) != NULL;
}

/* Delete the packs of dir that the index no longer names (live), that
 * no writer holds and that are older than the grace period. */
static void
packs_sweep(const char *dir, const struct names *live)
{
	if (strlen(dir) + 66 > PATH_MAX)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	time_t now = time(NULL);
	struct dirent *e;
	char path[PATH_MAX];
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len >= 64)
			continue; /* not a name of ours */
		if (strncmp(e->d_name, "new-pack-", 9) == 0) {
			/* a writer died between creating and naming its pack */
			struct stat st;
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			if (stat(path, &st) == 0 && st.st_mtime + DM_ARCHIVE_PACK_GRACE <= now)
				(void)unlink(path);
			continue;
		}
		if (strncmp(e->d_name, "pack-", 5) != 0 || len < 9 ||
		    strcmp(e->d_name + len - 4, ".dpk") != 0 || names_has(live, e->d_name))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st;
		/* a writer holds its pack (shared) from before it is named so */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0)
			(void)unlink(path);
		close(fd); /* drops the lock */
	}
	closedir(d);
}

/* Remove the sorted keys[0..n) of one month (all "YYYY/MM/..." of it). */
static int
month_remove(struct fs *fs, int month, const char *const *keys, size_t n, uint64_t *objects,
	     uint64_t *bytes)
{
	char dir[PATH_MAX - 128], path[PATH_MAX], tmp[PATH_MAX], line[INDEX_LINE];
	month_dir(fs, month, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/index", dir);
	snprintf(tmp, sizeof tmp, "%s/index.new-%d", dir, (int)getpid());
	int fd = -1, rc = 0;
	for (int tries = 0;; tries++) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? 0 : dm_errno_code(errno); /* nothing archived */
		struct stat st;
		if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0) {
			rc = dm_errno_code(errno);
			close(fd);
			return rc;
		}
		if (st.st_nlink > 0)
			break;
		close(fd); /* another remover replaced it meanwhile */
		if (tries > 100)
			return DM_EIO;
	}
	FILE *in = fdopen(dup(fd), "re");
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	struct names live = {NULL, 0, 0};
	uint64_t gone = 0, gone_bytes = 0;
	if (!in || out < 0)
		rc = dm_errno_code(errno);
	while (rc == 0 && fgets(line, sizeof line, in)) {
		char key[INDEX_LINE], pack[INDEX_LINE];
		unsigned long long off, len;
		char *sp = strchr(line, ' ');
		if (!sp)
			continue; /* not a line of ours: dropped as the reader would */
		size_t kl = (size_t)(sp - line);
		memcpy(key, line, kl);
		key[kl] = '\0';
		char *p = sp + 1, *end;
		char *sp2 = strchr(p, ' ');
		if (!sp2)
			continue;
		memcpy(pack, p, (size_t)(sp2 - p));
		pack[sp2 - p] = '\0';
		off = strtoull(sp2 + 1, &end, 10);
		len = strtoull(end, NULL, 10);
		(void)off;
		if (key_listed(keys, n, key)) {
			gone++;
			gone_bytes += len;
			continue;
		}
		names_add(&live, pack);
		size_t ll = strlen(line);
		rc = dm_write_all(out, line, ll);
	}
	if (in)
		fclose(in);
	if (rc == 0 && gone > 0) {
		/* the new index durable under its name before a pack goes */
		if (fsync(out) != 0 || rename(tmp, path) != 0)
			rc = dm_errno_code(errno);
		else
			rc = dm_fsync_dir(dir) == 0 ? 0 : DM_EIO;
	}
	if (out >= 0)
		close(out);
	if (rc != 0 || gone == 0)
		(void)unlink(tmp);
	if (rc == 0 && gone > 0) {
		/* the keys this process holds for the duplicate check */
		pthread_mutex_lock(&fs->lock);
		if (fs->seen.month == month)
			keyset_clear(&fs->seen);
		pthread_mutex_unlock(&fs->lock);
		*objects += gone;
		*bytes += gone_bytes;
	}
	if (rc == 0 && gone > 0)
		packs_sweep(dir, &live);
	close(fd); /* the index's lock: writers go on, into the new file */
	free(live.v);
	return rc;
}

static int
fs_remove(struct archive *a, const char *const *keys, size_t n, uint64_t *objects,
	  uint64_t *bytes, char *err, size_t errlen)
{
	struct fs *fs = a->impl;
	const char **v = xcalloc(n ? n : 1, sizeof *v);
	size_t m = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		int y, mo;
		if (strlen(keys[i]) < PACK_KEY_MAX && archive_key_parse(keys[i], &y, &mo) == 0)
			v[m++] = keys[i]; /* nothing else is a key of ours */
	}
	qsort(v, m, sizeof *v, key_cmp);
	/* one month at a time: keys sort by "YYYY/MM/" */
	for (size_t i = 0; rc == 0 && i < m;) {
		size_t j = i + 1;
		while (j < m && strncmp(v[i], v[j], 8) == 0)
			j++;
		int y, mo;
		(void)archive_key_parse(v[i], &y, &mo);
		rc = month_remove(fs, y * 100 + mo, v + i, j - i, objects, bytes);
		if (rc)
			snprintf(err, errlen, "%s/%04d/%02d: %s", fs->root, y, mo, dm_strerror(rc));
		i = j;
	}
	free(v);
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
	.remove = fs_remove,
};
