/*
 * test_archive_fs.c - removing from the filesystem archive (archive_fs.c,
 * `dmarcd prune`): removed keys are gone, every other key still reads
 * back its bytes, a pack goes only once no index line names it and no
 * writer holds it, and a writer whose index was replaced under it
 * appends to the new one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "core/config.h"

struct fx {
	char dir[4096];
	struct dm_config cfg;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/dm-archive-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	dm_config_defaults(&f->cfg);
	assert_true(strlen(f->dir) < sizeof f->cfg.data_dir);
	memcpy(f->cfg.data_dir, f->dir, strlen(f->dir) + 1);
	snprintf(f->cfg.archive, sizeof f->cfg.archive, "fs");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct archive *
open_fs(struct fx *f)
{
	char err[256];
	struct archive *a = archive_open(&f->cfg, 0, err, sizeof err);
	assert_non_null(a);
	return a;
}

#define T0 ((time_t)1796601600) /* 2026-12-07 */

static void
put(struct archive *a, const char *body, char key[DM_ARCHIVE_KEY_MAX])
{
	char hash[DM_SHA256_HEX], err[256];
	struct archive_writer *w = archive_put_begin(a, T0);
	assert_non_null(w);
	assert_int_equal(archive_put_write(w, body, strlen(body)), 0);
	assert_int_equal(archive_put_commit(w, "xml", key, DM_ARCHIVE_KEY_MAX, hash, err, sizeof err), 0);
}

/* 1: key reads back body; 0: not there. */
static int
reads(struct fx *f, const char *key, const char *body)
{
	struct archive *a = open_fs(f);
	struct archive_blob *b;
	int rc = archive_blob_open(a, key, &b);
	if (rc) {
		archive_close(a);
		return 0;
	}
	char buf[256];
	ssize_t n = dm_reader_read(archive_blob_reader(b), buf, sizeof buf - 1);
	archive_blob_close(b);
	archive_close(a);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, body);
	return 1;
}

static int
packs(struct fx *f)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/archive/2026/12", f->dir);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "pack-", 5) == 0;
	closedir(d);
	return n;
}

static void
rm(struct archive *a, const char *key, uint64_t want)
{
	uint64_t objects = 0, bytes = 0;
	char err[256];
	const char *keys[1] = {key};
	assert_int_equal(archive_remove(a, keys, 1, &objects, &bytes, err, sizeof err), 0);
	assert_int_equal(objects, want);
}

static void
test_remove_keeps_the_rest(void **state)
{
	struct fx *f = *state;
	char ka[DM_ARCHIVE_KEY_MAX], kb[DM_ARCHIVE_KEY_MAX], kc[DM_ARCHIVE_KEY_MAX],
	        kd[DM_ARCHIVE_KEY_MAX], ke[DM_ARCHIVE_KEY_MAX];
	struct archive *a1 = open_fs(f), *a2 = open_fs(f);
	put(a1, "<a/>", ka);
	put(a1, "<b/>", kb);
	put(a2, "<d/>", kd);
	assert_int_equal(packs(f), 2);
	/* a1 keeps its index open; a2 replaces the index under it */
	rm(a2, ka, 1);
	put(a1, "<c/>", kc); /* appended to the new index, not the old file */
	assert_false(reads(f, ka, "<a/>"));
	assert_true(reads(f, kb, "<b/>"));
	assert_true(reads(f, kc, "<c/>"));
	assert_true(reads(f, kd, "<d/>"));
	/* a1's pack has no live entry left but a1 still holds it: it stays */
	rm(a2, kb, 1);
	rm(a2, kc, 1);
	assert_int_equal(packs(f), 2);
	rm(a2, kc, 0); /* gone already: nothing, no error */
	/* a1 gone: the next removal in the month sweeps its pack */
	archive_close(a1);
	put(a2, "<e/>", ke);
	rm(a2, ke, 1);
	assert_int_equal(packs(f), 1);
	assert_true(reads(f, kd, "<d/>"));
	/* the same bytes again are archived again after their removal */
	put(a2, "<a/>", ka);
	assert_true(reads(f, ka, "<a/>"));
	/* not a key of ours: ignored */
	rm(a2, "../../etc/passwd", 0);
	archive_close(a2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_remove_keeps_the_rest, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
