/*
 * test_unpack.c - unpack_run over gzip, zlib, zip and plain inputs.
 *
 * Every fixture is made here in memory: gzip and zlib with zlib's own
 * deflate, zip with libarchive's writer (stored or deflate, data
 * descriptors, zipcrypt), then patched where a test needs a broken one.
 * A recording sink keeps what unpack_run delivered and checks the
 * begin/data/end order.  Nothing is written outside TMPDIR.
 */

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/err.h"
#include "common/limits.h"
#include "common/reader.h"
#include "parse/unpack.h"

/* ---- recording sink ------------------------------------------------------ */

#define MAX_DOCS 40
#define KEEP_BYTES (1024 * 1024)

struct rdoc {
	char name[DM_MAX_ENTRY_NAME + 1];
	int has_name;
	char layers[32];
	unsigned char *data; /* first KEEP_BYTES bytes */
	size_t kept;
	uint64_t total;
	int ndata;
	int rc;
	char reason[256];
	int ended;
};

struct rec {
	struct rdoc docs[MAX_DOCS];
	int ndocs;
	char warns[8][256];
	int nwarn;
	int in_doc;
	int stop_begin_at; /* doc index whose doc_begin says DM_ESTOP, or -1 */
	int stop_data_at;  /* doc index whose first doc_data says DM_ESTOP */
	int abort_data;    /* code doc_data returns, 0 for none */
	int data_after_stop;
};

static int
rec_begin(void *arg, const char *name, const char *layers)
{
	struct rec *r = arg;
	assert_false(r->in_doc);
	assert_true(r->ndocs < MAX_DOCS);
	struct rdoc *d = &r->docs[r->ndocs++];
	memset(d, 0, sizeof *d);
	if (name) {
		assert_true(strlen(name) <= DM_MAX_ENTRY_NAME);
		snprintf(d->name, sizeof d->name, "%s", name);
		d->has_name = 1;
	}
	snprintf(d->layers, sizeof d->layers, "%s", layers);
	r->in_doc = 1;
	if (r->stop_begin_at == r->ndocs - 1)
		return DM_ESTOP;
	return 0;
}

static int
rec_data(void *arg, const void *buf, size_t len)
{
	struct rec *r = arg;
	assert_true(r->in_doc);
	assert_true(len > 0);
	struct rdoc *d = &r->docs[r->ndocs - 1];
	if (r->stop_data_at == r->ndocs - 1 && d->ndata > 0)
		r->data_after_stop++;
	if (r->stop_begin_at == r->ndocs - 1)
		r->data_after_stop++;
	d->ndata++;
	if (d->kept < KEEP_BYTES) {
		size_t n = len < KEEP_BYTES - d->kept ? len : KEEP_BYTES - d->kept;
		if (!d->data)
			d->data = malloc(KEEP_BYTES);
		assert_non_null(d->data);
		memcpy(d->data + d->kept, buf, n);
		d->kept += n;
	}
	d->total += len;
	if (r->abort_data)
		return r->abort_data;
	if (r->stop_data_at == r->ndocs - 1)
		return DM_ESTOP;
	return 0;
}

static int
rec_end(void *arg, int rc, const char *reason)
{
	struct rec *r = arg;
	assert_true(r->in_doc);
	struct rdoc *d = &r->docs[r->ndocs - 1];
	d->rc = rc;
	d->ended = 1;
	if (rc == 0)
		assert_null(reason);
	else
		assert_non_null(reason);
	if (reason)
		snprintf(d->reason, sizeof d->reason, "%s", reason);
	r->in_doc = 0;
	return 0;
}

static void
rec_warn(void *arg, const char *msg)
{
	struct rec *r = arg;
	if (r->nwarn < 8)
		snprintf(r->warns[r->nwarn], sizeof r->warns[0], "%s", msg);
	r->nwarn++;
}

static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof *r);
	r->stop_begin_at = -1;
	r->stop_data_at = -1;
}

static void
rec_free(struct rec *r)
{
	for (int i = 0; i < r->ndocs; i++)
		free(r->docs[i].data);
}

/* A reader over memory that hands out at most `step` bytes per call and
 * can fail with `fail_code` after `fail_after` bytes. */
struct step_reader {
	const unsigned char *p;
	size_t len, off, step, fail_after;
	int fail_code;
};

static ssize_t
step_read(void *ctx, void *buf, size_t len)
{
	struct step_reader *s = ctx;
	if (s->fail_code && s->off >= s->fail_after)
		return s->fail_code;
	size_t n = s->len - s->off;
	if (n > len)
		n = len;
	if (n > s->step)
		n = s->step;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static int
run_with(struct dm_reader *rd, const struct unpack_limits *lim, struct rec *r, char *err,
         size_t errlen)
{
	struct unpack_limits def;
	struct unpack_sink sink = {rec_begin, rec_data, rec_end, rec_warn, r};
	if (!lim) {
		unpack_limits_default(&def);
		lim = &def;
	}
	int rc = unpack_run(rd, lim, &sink, err, errlen);
	assert_false(r->in_doc); /* every doc_begin got its doc_end */
	if (rc == 0)
		assert_string_equal(err, "");
	else
		assert_true(err[0] != '\0');
	return rc;
}

static int
run_mem(const void *p, size_t len, const struct unpack_limits *lim, struct rec *r, char *err,
        size_t errlen)
{
	struct dm_reader rd;
	struct dm_mem_reader m;
	dm_reader_mem(&rd, &m, p, len);
	return run_with(&rd, lim, r, err, errlen);
}

static void
assert_doc(const struct rdoc *d, const char *name, const char *layers, const void *data, size_t len,
           int rc)
{
	if (name) {
		assert_true(d->has_name);
		assert_string_equal(d->name, name);
	} else {
		assert_false(d->has_name);
	}
	assert_string_equal(d->layers, layers);
	assert_true(d->ended);
	assert_int_equal(d->rc, rc);
	if (data) {
		assert_int_equal(d->total, len);
		assert_memory_equal(d->data ? d->data : (const unsigned char *)"", data, len);
	}
}

/* ---- fixtures ------------------------------------------------------------ */

struct blob {
	unsigned char *p;
	size_t len, cap;
};

static void
blob_add(struct blob *b, const void *p, size_t len)
{
	if (len == 0)
		return;
	if (b->cap - b->len < len) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

/* Deflate `total` bytes made of `len`-byte pieces of p (repeated). */
static void
deflate_to(struct blob *out, const void *p, size_t len, uint64_t total, int window,
           const char *fname)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, window, 9, Z_DEFAULT_STRATEGY), Z_OK);
	gz_header h;
	if (fname) {
		memset(&h, 0, sizeof h);
		h.name = (Bytef *)fname;
		assert_int_equal(deflateSetHeader(&zs, &h), Z_OK);
	}
	unsigned char obuf[65536];
	uint64_t left = total;
	for (;;) {
		size_t n = len;
		if (n > left)
			n = (size_t)left;
		left -= n;
		zs.next_in = (Bytef *)p;
		zs.avail_in = (uInt)n;
		int flush = left ? Z_NO_FLUSH : Z_FINISH;
		int zr;
		do {
			zs.next_out = obuf;
			zs.avail_out = sizeof obuf;
			zr = deflate(&zs, flush);
			assert_true(zr == Z_OK || zr == Z_STREAM_END || zr == Z_BUF_ERROR);
			blob_add(out, obuf, sizeof obuf - zs.avail_out);
		} while (zs.avail_out == 0);
		if (flush == Z_FINISH) {
			assert_int_equal(zr, Z_STREAM_END);
			break;
		}
	}
	deflateEnd(&zs);
}

static struct blob
gz(const void *p, size_t len, const char *fname)
{
	struct blob b = {0};
	deflate_to(&b, p, len, len, 15 + 16, fname);
	return b;
}

static struct blob
gzs(const char *s)
{
	return gz(s, strlen(s), NULL);
}

static struct blob
zlibs(const char *s)
{
	struct blob b = {0};
	deflate_to(&b, s, strlen(s), strlen(s), 15, NULL);
	return b;
}

/* zip writer over libarchive */
struct zipw {
	struct archive *a;
	unsigned char *buf;
	size_t cap, used;
};

static void
zip_open(struct zipw *z, int stored, const char *options)
{
	z->cap = 4 * 1024 * 1024;
	z->buf = malloc(z->cap);
	assert_non_null(z->buf);
	z->used = 0;
	z->a = archive_write_new();
	assert_int_equal(archive_write_set_format_zip(z->a), ARCHIVE_OK);
	if (stored)
		assert_int_equal(archive_write_zip_set_compression_store(z->a), ARCHIVE_OK);
	if (options)
		assert_int_equal(archive_write_set_options(z->a, options), ARCHIVE_OK);
	if (options && strstr(options, "encryption"))
		assert_int_equal(archive_write_set_passphrase(z->a, "secret"), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(z->a, z->buf, z->cap, &z->used), ARCHIVE_OK);
}

static void
zip_add(struct zipw *z, const char *name, const void *p, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	size_t nl = strlen(name);
	if (nl && name[nl - 1] == '/') {
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, 0755);
		archive_entry_set_size(e, 0);
	} else {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)len);
	}
	assert_int_equal(archive_write_header(z->a, e), ARCHIVE_OK);
	if (len)
		assert_int_equal(archive_write_data(z->a, p, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void
zip_adds(struct zipw *z, const char *name, const char *s)
{
	zip_add(z, name, s, strlen(s));
}

static struct blob
zip_close(struct zipw *z)
{
	assert_int_equal(archive_write_close(z->a), ARCHIVE_OK);
	archive_write_free(z->a);
	struct blob b = {z->buf, z->used, z->cap};
	return b;
}

/* A zip written by hand: sizes and CRC in the local headers (no data
 * descriptors), so tests can set any method or flag and break any field.
 * method 0 stores, 8 deflates; any other number stores the bytes and
 * writes that number. */
struct rawent {
	const char *name;
	const void *data;
	size_t len;
	unsigned method;
	unsigned flags;
};

static void
put16(struct blob *b, unsigned v)
{
	unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
	blob_add(b, x, 2);
}

static void
put32(struct blob *b, uint32_t v)
{
	put16(b, v & 0xffff);
	put16(b, v >> 16);
}

static struct blob
raw_zip(const struct rawent *ents, size_t n)
{
	struct blob b = {0}, cd = {0};
	for (size_t i = 0; i < n; i++) {
		const struct rawent *e = &ents[i];
		struct blob data = {0};
		if (e->method == 8) {
			deflate_to(&data, e->data, e->len, e->len, -15, NULL);
		} else {
			blob_add(&data, e->data, e->len);
		}
		uint32_t crc = (uint32_t)crc32(0, e->data, (uInt)e->len);
		uint32_t off = (uint32_t)b.len;
		size_t nl = strlen(e->name);
		for (int c = 0; c < 2; c++) {
			struct blob *t = c ? &cd : &b;
			put32(t, c ? 0x02014b50 : 0x04034b50);
			if (c)
				put16(t, 20); /* made by */
			put16(t, 20);
			put16(t, e->flags);
			put16(t, e->method);
			put16(t, 0);    /* time */
			put16(t, 0x21); /* date: 1980-01-01 */
			put32(t, crc);
			put32(t, (uint32_t)data.len);
			put32(t, (uint32_t)e->len);
			put16(t, (unsigned)nl);
			put16(t, 0); /* extra */
			if (c) {
				put16(t, 0); /* comment */
				put16(t, 0); /* disk */
				put16(t, 0); /* internal attributes */
				put32(t, 0); /* external attributes */
				put32(t, off);
			}
			blob_add(t, e->name, nl);
		}
		blob_add(&b, data.p, data.len);
		free(data.p);
	}
	uint32_t cdoff = (uint32_t)b.len;
	blob_add(&b, cd.p, cd.len);
	put32(&b, 0x06054b50);
	put16(&b, 0);
	put16(&b, 0);
	put16(&b, (unsigned)n);
	put16(&b, (unsigned)n);
	put32(&b, (uint32_t)cd.len);
	put32(&b, cdoff);
	put16(&b, 0);
	free(cd.p);
	return b;
}

/* Bytes that do not compress: a fixed pseudo-random sequence. */
static void
fill_random(void *p, size_t len, uint32_t seed)
{
	unsigned char *c = p;
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		c[i] = (unsigned char)(seed >> 16);
	}
}

static const char XML1[] = "<?xml version=\"1.0\"?>\n<feedback><report_metadata>"
                           "<org_name>example.net</org_name></report_metadata></feedback>\n";
static const char XML2[] = "<feedback><record>two</record></feedback>";
static const char XML3[] = "<feedback><record>three</record></feedback>";

/* ---- plain, gzip, zlib ----------------------------------------------------- */

static void
test_plain(void **state)
{
	(void)state;
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(XML1, strlen(XML1), NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 1);
	assert_doc(&r.docs[0], NULL, "", XML1, strlen(XML1), 0);
	rec_free(&r);

	/* byte by byte: the head is replayed, nothing lost */
	rec_init(&r);
	struct step_reader s = {(const unsigned char *)XML1, strlen(XML1), 0, 1, 0, 0};
	struct dm_reader rd = {step_read, &s};
	assert_int_equal(run_with(&rd, NULL, &r, err, sizeof err), 0);
	assert_doc(&r.docs[0], NULL, "", XML1, strlen(XML1), 0);
	rec_free(&r);

	/* more than DM_SNIFF_BYTES, which is only the head */
	size_t big = 3 * DM_SNIFF_BYTES + 17;
	char *p = malloc(big);
	for (size_t i = 0; i < big; i++)
		p[i] = (char)('a' + i % 26);
	rec_init(&r);
	assert_int_equal(run_mem(p, big, NULL, &r, err, sizeof err), 0);
	assert_doc(&r.docs[0], NULL, "", p, big, 0);
	rec_free(&r);

	/* the output limit holds for plain bytes too */
	struct unpack_limits lim;
	unpack_limits_default(&lim);
	lim.max_out = 100;
	rec_init(&r);
	assert_int_equal(run_mem(p, big, &lim, &r, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "decompressed size limit exceeded (100 bytes)");
	assert_int_equal(r.docs[0].rc, DM_ELIMIT);
	assert_true(r.docs[0].total <= 100);
	rec_free(&r);
	free(p);
}

static void
test_empty_input(void **state)
{
	(void)state;
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem("", 0, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 1);
	assert_doc(&r.docs[0], NULL, "", "", 0, 0);
	assert_int_equal(r.docs[0].ndata, 0);
	rec_free(&r);
}

static void
test_gzip(void **state)
{
	(void)state;
	struct rec r;
	char err[256];
	struct blob g = gz(XML1, strlen(XML1), "example.net!example.com!1!2.xml");
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 1);
	assert_doc(&r.docs[0], "example.net!example.com!1!2.xml", "gzip", XML1, strlen(XML1), 0);
	assert_int_equal(r.nwarn, 0);
	rec_free(&r);

	/* one byte at a time */
	rec_init(&r);
	struct step_reader s = {g.p, g.len, 0, 1, 0, 0};
	struct dm_reader rd = {step_read, &s};
	assert_int_equal(run_with(&rd, NULL, &r, err, sizeof err), 0);
	assert_doc(&r.docs[0], "example.net!example.com!1!2.xml", "gzip", XML1, strlen(XML1), 0);
	rec_free(&r);
	free(g.p);

	/* no FNAME: no name */
	g = gzs(XML2);
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), 0);
	assert_doc(&r.docs[0], NULL, "gzip", XML2, strlen(XML2), 0);
	rec_free(&r);
	free(g.p);
}

static void
test_gzip_multi_member(void **state)
{
	(void)state;
	struct blob a = gzs("<feedback>"), b = gzs("<record>x</record>"), c = gzs("</feedback>");
	struct blob all = {0};
	blob_add(&all, a.p, a.len);
	blob_add(&all, b.p, b.len);
	blob_add(&all, c.p, c.len);
	const char *want = "<feedback><record>x</record></feedback>";
	for (size_t step = 1; step <= 3; step++) {
		struct rec r;
		char err[256];
		rec_init(&r);
		struct step_reader s = {all.p, all.len, 0, step == 3 ? 65536 : step, 0, 0};
		struct dm_reader rd = {step_read, &s};
		assert_int_equal(run_with(&rd, NULL, &r, err, sizeof err), 0);
		assert_int_equal(r.ndocs, 1);
		assert_doc(&r.docs[0], NULL, "gzip", want, strlen(want), 0);
		assert_int_equal(r.nwarn, 0);
		rec_free(&r);
	}
	free(a.p);
	free(b.p);
	free(c.p);
	free(all.p);
}

static void
test_gzip_trailing_crlf(void **state)
{
	(void)state;
	struct blob g = gzs(XML1);
	blob_add(&g, "\r\n", 2);
	for (size_t step = 1; step <= 2; step++) {
		struct rec r;
		char err[256];
		rec_init(&r);
		struct step_reader s = {g.p, g.len, 0, step == 1 ? 1 : 65536, 0, 0};
		struct dm_reader rd = {step_read, &s};
		assert_int_equal(run_with(&rd, NULL, &r, err, sizeof err), 0);
		assert_doc(&r.docs[0], NULL, "gzip", XML1, strlen(XML1), 0);
		assert_int_equal(r.nwarn, 1);
		assert_string_equal(r.warns[0], "trailing garbage after gzip data (2 bytes)");
		rec_free(&r);
	}
	/* one stray byte, then more garbage that starts like nothing */
	g.len -= 2;
	blob_add(&g, "\x1f", 1);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), 0);
	assert_string_equal(r.warns[0], "trailing garbage after gzip data (1 bytes)");
	rec_free(&r);
	free(g.p);
}

static void
test_gzip_in_gzip(void **state)
{
	(void)state;
	struct blob in = gzs(XML1);
	struct blob out = gz(in.p, in.len, "report.xml.gz");
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(out.p, out.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 1);
	assert_doc(&r.docs[0], "report.xml.gz", "gzip>gzip", XML1, strlen(XML1), 0);
	rec_free(&r);

	/* max_layers 1: the inner layer is a nested archive */
	struct unpack_limits lim;
	unpack_limits_default(&lim);
	lim.max_layers = 1;
	rec_init(&r);
	assert_int_equal(run_mem(out.p, out.len, &lim, &r, err, sizeof err), DM_EUNSUPP);
	assert_string_equal(err, "nested archive");
	assert_doc(&r.docs[0], "report.xml.gz", "gzip", NULL, 0, DM_EUNSUPP);
	assert_int_equal(r.docs[0].total, 0);
	rec_free(&r);

	/* zlib inside gzip */
	struct blob z = zlibs(XML2);
	struct blob gz2 = gz(z.p, z.len, NULL);
	rec_init(&r);
	assert_int_equal(run_mem(gz2.p, gz2.len, NULL, &r, err, sizeof err), 0);
	assert_doc(&r.docs[0], NULL, "gzip>zlib", XML2, strlen(XML2), 0);
	rec_free(&r);
	free(z.p);
	free(gz2.p);
	free(in.p);
	free(out.p);
}

static void
test_gzip_three_layers(void **state)
{
	(void)state;
	struct blob a = gzs(XML1);
	struct blob b = gz(a.p, a.len, NULL);
	struct blob c = gz(b.p, b.len, NULL);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(c.p, c.len, NULL, &r, err, sizeof err), DM_EUNSUPP);
	assert_string_equal(err, "nested archive");
	assert_int_equal(r.ndocs, 1);
	assert_doc(&r.docs[0], NULL, "gzip>gzip", NULL, 0, DM_EUNSUPP);
	assert_string_equal(r.docs[0].reason, "nested archive");
	assert_int_equal(r.docs[0].total, 0);
	rec_free(&r);
	free(a.p);
	free(b.p);
	free(c.p);
}

static void
test_zlib(void **state)
{
	(void)state;
	struct blob z = zlibs(XML1);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(z.p, z.len, NULL, &r, err, sizeof err), 0);
	assert_doc(&r.docs[0], NULL, "zlib", XML1, strlen(XML1), 0);
	rec_free(&r);

	/* truncated */
	rec_init(&r);
	assert_int_equal(run_mem(z.p, z.len - 3, NULL, &r, err, sizeof err), DM_ETRUNC);
	assert_string_equal(err, "truncated zlib");
	assert_int_equal(r.docs[0].rc, DM_ETRUNC);
	rec_free(&r);

	/* Adler-32 broken */
	z.p[z.len - 1] ^= 0x55;
	rec_init(&r);
	assert_int_equal(run_mem(z.p, z.len, NULL, &r, err, sizeof err), DM_EFORMAT);
	assert_string_equal(err, "zlib checksum mismatch");
	rec_free(&r);
	free(z.p);
}

static void
test_gzip_truncated(void **state)
{
	(void)state;
	struct blob g = gzs(XML1);
	/* trailer cut, and cut inside the deflate data, and header only */
	size_t cuts[] = {g.len - 4, g.len - 8, g.len / 2, 12, 2};
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		struct rec r;
		char err[256];
		rec_init(&r);
		assert_int_equal(run_mem(g.p, cuts[i], NULL, &r, err, sizeof err), DM_ETRUNC);
		assert_string_equal(err, "truncated gzip");
		assert_int_equal(r.ndocs, 1);
		assert_int_equal(r.docs[0].rc, DM_ETRUNC);
		assert_string_equal(r.docs[0].reason, "truncated gzip");
		rec_free(&r);
	}
	free(g.p);
}

static void
test_gzip_bad_crc(void **state)
{
	(void)state;
	struct blob g = gzs(XML1);
	g.p[g.len - 8] ^= 0xff; /* CRC32 */
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), DM_EFORMAT);
	assert_string_equal(err, "gzip CRC mismatch");
	assert_int_equal(r.docs[0].rc, DM_EFORMAT);
	assert_string_equal(r.docs[0].reason, "gzip CRC mismatch");
	rec_free(&r);
	g.p[g.len - 8] ^= 0xff;

	g.p[g.len - 4] ^= 0x01; /* ISIZE */
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), DM_EFORMAT);
	assert_string_equal(err, "gzip length mismatch");
	rec_free(&r);
	g.p[g.len - 4] ^= 0x01;

	g.p[3] = 0xe0; /* reserved FLG bits */
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), DM_EFORMAT);
	assert_true(strncmp(err, "corrupt gzip data (", 19) == 0);
	rec_free(&r);
	free(g.p);
}

static const unsigned char zeros[65536];

static void
test_gzip_bomb_size(void **state)
{
	(void)state;
	struct blob g = {0};
	deflate_to(&g, zeros, sizeof zeros, 64ULL * 1024 * 1024, 15 + 16, NULL);
	assert_true(g.len < 128 * 1024);
	struct unpack_limits lim;
	unpack_limits_default(&lim);
	lim.max_out = 8 * 1024 * 1024;
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, &lim, &r, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "decompressed size limit exceeded (8388608 bytes)");
	assert_int_equal(r.ndocs, 1);
	assert_int_equal(r.docs[0].rc, DM_ELIMIT);
	assert_string_equal(r.docs[0].reason, err);
	assert_true(r.docs[0].total <= lim.max_out);
	assert_true(r.docs[0].total > lim.max_out - 65536);
	rec_free(&r);

	/* one deflate layer stays under 1100:1: default limits accept it */
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.docs[0].total, 64ULL * 1024 * 1024);
	rec_free(&r);
	free(g.p);
}

static void
test_gzip_bomb_ratio(void **state)
{
	(void)state;
	struct blob in = {0};
	deflate_to(&in, zeros, sizeof zeros, 64ULL * 1024 * 1024, 15 + 16, NULL);
	struct blob g = gz(in.p, in.len, NULL);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "compression ratio above 1100:1");
	assert_int_equal(r.docs[0].rc, DM_ELIMIT);
	assert_string_equal(r.docs[0].layers, "gzip>gzip");
	/* stopped soon after the check starts (1 MiB), not at 64 MiB */
	assert_true(r.docs[0].total <= 2 * DM_RATIO_CHECK_AFTER);
	rec_free(&r);

	/* the same through zip>gzip */
	struct zipw z;
	zip_open(&z, 0, NULL);
	zip_add(&z, "bomb.xml.gz", in.p, in.len);
	struct blob zb = zip_close(&z);
	rec_init(&r);
	assert_int_equal(run_mem(zb.p, zb.len, NULL, &r, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "compression ratio above 1100:1");
	assert_string_equal(r.docs[0].layers, "zip>gzip");
	rec_free(&r);
	free(zb.p);
	free(in.p);
	free(g.p);
}

/* ---- zip ------------------------------------------------------------------- */

static void
test_zip_one(void **state)
{
	(void)state;
	for (int stored = 0; stored <= 1; stored++) {
		struct zipw z;
		zip_open(&z, stored, NULL);
		zip_adds(&z, "google.com!example.com!1700000000!1700086399.xml", XML1);
		struct blob b = zip_close(&z);
		struct rec r;
		char err[256];
		rec_init(&r);
		assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
		assert_int_equal(r.ndocs, 1);
		assert_doc(&r.docs[0], "google.com!example.com!1700000000!1700086399.xml", "zip",
		           XML1, strlen(XML1), 0);
		rec_free(&r);

		/* one byte at a time */
		rec_init(&r);
		struct step_reader s = {b.p, b.len, 0, 1, 0, 0};
		struct dm_reader rd = {step_read, &s};
		assert_int_equal(run_with(&rd, NULL, &r, err, sizeof err), 0);
		assert_int_equal(r.ndocs, 1);
		assert_doc(&r.docs[0], "google.com!example.com!1700000000!1700086399.xml", "zip",
		           XML1, strlen(XML1), 0);
		rec_free(&r);
		free(b.p);
	}
}

static void
test_zip_three_with_dir(void **state)
{
	(void)state;
	struct zipw z;
	zip_open(&z, 0, NULL);
	zip_adds(&z, "one.xml", XML1);
	zip_add(&z, "a/", NULL, 0);
	zip_add(&z, "a/b/", NULL, 0);
	zip_adds(&z, "a/b/report.xml", XML2);
	zip_adds(&z, "three.xml", XML3);
	struct blob b = zip_close(&z);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 3);
	assert_doc(&r.docs[0], "one.xml", "zip", XML1, strlen(XML1), 0);
	assert_doc(&r.docs[1], "a/b/report.xml", "zip", XML2, strlen(XML2), 0);
	assert_doc(&r.docs[2], "three.xml", "zip", XML3, strlen(XML3), 0);
	assert_int_equal(r.nwarn, 2);
	assert_string_equal(r.warns[0], "zip directory entry skipped");
	rec_free(&r);
	free(b.p);
}

static void
test_zip_empty(void **state)
{
	(void)state;
	struct zipw z;
	zip_open(&z, 0, NULL);
	struct blob b = zip_close(&z);
	assert_memory_equal(b.p, "PK\5\6", 4);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 0);
	rec_free(&r);
	free(b.p);
}

static void
test_zip_gz_entry(void **state)
{
	(void)state;
	struct blob g = gz(XML1, strlen(XML1), "inner-name.xml");
	struct zipw z;
	zip_open(&z, 1, NULL);
	zip_add(&z, "report.xml.gz", g.p, g.len);
	zip_adds(&z, "plain.xml", XML2);
	struct blob b = zip_close(&z);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 2);
	assert_doc(&r.docs[0], "report.xml.gz", "zip>gzip", XML1, strlen(XML1), 0);
	assert_doc(&r.docs[1], "plain.xml", "zip", XML2, strlen(XML2), 0);
	rec_free(&r);
	free(b.p);

	/* a broken gzip inside only fails its own entry */
	g.p[g.len - 8] ^= 0xff;
	zip_open(&z, 1, NULL);
	zip_add(&z, "bad.xml.gz", g.p, g.len);
	zip_adds(&z, "plain.xml", XML2);
	b = zip_close(&z);
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 2);
	assert_doc(&r.docs[0], "bad.xml.gz", "zip>gzip", NULL, 0, DM_EFORMAT);
	assert_string_equal(r.docs[0].reason, "gzip CRC mismatch");
	assert_doc(&r.docs[1], "plain.xml", "zip", XML2, strlen(XML2), 0);
	rec_free(&r);
	free(b.p);
	free(g.p);
}

static void
test_zip_in_zip(void **state)
{
	(void)state;
	struct zipw z;
	zip_open(&z, 0, NULL);
	zip_adds(&z, "report.xml", XML1);
	struct blob inner = zip_close(&z);
	zip_open(&z, 0, NULL);
	zip_add(&z, "inner.zip", inner.p, inner.len);
	zip_adds(&z, "after.xml", XML2);
	struct blob b = zip_close(&z);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 2);
	assert_doc(&r.docs[0], "inner.zip", "zip", NULL, 0, DM_EUNSUPP);
	assert_string_equal(r.docs[0].reason, "nested archive");
	assert_int_equal(r.docs[0].total, 0);
	assert_doc(&r.docs[1], "after.xml", "zip", XML2, strlen(XML2), 0);
	rec_free(&r);
	free(b.p);

	/* zip inside gzip */
	struct blob g = gz(inner.p, inner.len, NULL);
	rec_init(&r);
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), DM_EUNSUPP);
	assert_string_equal(err, "nested archive");
	assert_doc(&r.docs[0], NULL, "gzip", NULL, 0, DM_EUNSUPP);
	rec_free(&r);
	free(g.p);

	/* gzip>gzip inside zip: a third layer */
	struct blob g1 = gzs(XML1);
	struct blob g2 = gz(g1.p, g1.len, NULL);
	zip_open(&z, 0, NULL);
	zip_add(&z, "x.xml.gz.gz", g2.p, g2.len);
	b = zip_close(&z);
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
	assert_doc(&r.docs[0], "x.xml.gz.gz", "zip>gzip", NULL, 0, DM_EUNSUPP);
	assert_string_equal(r.docs[0].reason, "nested archive");
	rec_free(&r);
	free(b.p);
	free(g1.p);
	free(g2.p);
	free(inner.p);
}

static void
test_zip_too_many_entries(void **state)
{
	(void)state;
	struct zipw z;
	zip_open(&z, 0, NULL);
	for (int i = 0; i < 20; i++) {
		char name[32];
		snprintf(name, sizeof name, "r%02d.xml", i);
		zip_adds(&z, name, XML2);
	}
	struct blob b = zip_close(&z);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "too many zip entries (more than 16)");
	/* streaming: the first 16 were met and delivered before the 17th */
	assert_int_equal(r.ndocs, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(r.docs[i].rc, 0);
	rec_free(&r);

	/* directories count as entries */
	struct unpack_limits lim;
	unpack_limits_default(&lim);
	lim.max_entries = 2;
	zip_open(&z, 0, NULL);
	zip_add(&z, "d/", NULL, 0);
	zip_adds(&z, "d/a.xml", XML2);
	zip_adds(&z, "d/b.xml", XML2);
	free(b.p);
	b = zip_close(&z);
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, &lim, &r, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "too many zip entries (more than 2)");
	assert_int_equal(r.ndocs, 1);
	rec_free(&r);
	free(b.p);
}

static int
dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n == 0;
}

static void
test_zip_hostile_names(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	char dir[1024], sub[1100], old[4096], absname[1200];
	snprintf(dir, sizeof dir, "%s/test_unpack.%ld", tmp, (long)getpid());
	snprintf(sub, sizeof sub, "%s/cwd", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_non_null(getcwd(old, sizeof old));
	assert_int_equal(chdir(sub), 0);
	snprintf(absname, sizeof absname, "%s/abs-evil.xml", dir);

	struct zipw z;
	zip_open(&z, 0, NULL);
	zip_adds(&z, "../evil.xml", XML1);
	zip_adds(&z, "../../../../../../../tmp/evil2.xml", XML1);
	zip_adds(&z, absname, XML2);
	zip_adds(&z, "C:\\Windows\\evil.xml", XML3);
	struct blob b = zip_close(&z);

	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 4);
	assert_doc(&r.docs[0], "../evil.xml", "zip", XML1, strlen(XML1), 0);
	assert_doc(&r.docs[1], "../../../../../../../tmp/evil2.xml", "zip", XML1, strlen(XML1), 0);
	assert_doc(&r.docs[2], absname, "zip", XML2, strlen(XML2), 0);
	/* libarchive shows DOS separators as '/': display only either way */
	assert_true(strcmp(r.docs[3].name, "C:\\Windows\\evil.xml") == 0 ||
	            strcmp(r.docs[3].name, "C:/Windows/evil.xml") == 0);
	assert_int_equal(r.docs[3].rc, 0);
	rec_free(&r);
	free(b.p);

	/* nothing was written: not in the cwd, not beside it, not by path */
	struct stat st;
	assert_true(dir_is_empty(sub));
	assert_int_not_equal(stat("../evil.xml", &st), 0);
	assert_int_not_equal(stat(absname, &st), 0);
	assert_int_equal(chdir(old), 0);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_zip_long_name(void **state)
{
	(void)state;
	char name[600];
	/* "é" is two bytes: the cut must not split it */
	size_t n = 0;
	name[n++] = 'x';
	while (n + 2 < sizeof name - 1) {
		name[n++] = (char)0xc3;
		name[n++] = (char)0xa9;
	}
	name[n] = '\0';
	struct rawent e = {name, XML2, strlen(XML2), 8, 0x800};
	struct blob b = raw_zip(&e, 1);
	struct rec r;
	char err[256];
	rec_init(&r);
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 1);
	assert_true(r.docs[0].has_name);
	size_t got = strlen(r.docs[0].name);
	assert_true(got <= DM_MAX_ENTRY_NAME && got >= DM_MAX_ENTRY_NAME - 1);
	assert_int_equal(got % 2, 1); /* 'x' then whole two-byte characters */
	rec_free(&r);
	free(b.p);
}

static void
test_zip_garbage(void **state)
{
	(void)state;
	unsigned char g[300];
	memcpy(g, "PK\3\4", 4);
	for (size_t i = 4; i < sizeof g; i++)
		g[i] = (unsigned char)(i * 131 + 7);
	struct rec r;
	char err[256];
	rec_init(&r);
	int rc = run_mem(g, sizeof g, NULL, &r, err, sizeof err);
	assert_int_equal(rc, DM_EFORMAT);
	assert_true(strncmp(err, "not a valid zip archive: ", 25) == 0);
	assert_true(strlen(err) <= 25 + 120);
	assert_int_equal(r.ndocs, 0);
	rec_free(&r);

	/* all 0xff after the magic */
	memset(g + 4, 0xff, sizeof g - 4);
	rec_init(&r);
	rc = run_mem(g, sizeof g, NULL, &r, err, sizeof err);
	assert_int_equal(rc, DM_EFORMAT);
	assert_true(strncmp(err, "not a valid zip archive: ", 25) == 0);
	rec_free(&r);

	/* only the magic */
	rec_init(&r);
	rc = run_mem("PK\3\4", 4, NULL, &r, err, sizeof err);
	assert_int_equal(rc, DM_EFORMAT);
	assert_true(strncmp(err, "not a valid zip archive: ", 25) == 0);
	rec_free(&r);
}

static void
test_zip_truncated(void **state)
{
	(void)state;
	char big[20000];
	fill_random(big, sizeof big, 7);
	for (int stored = 0; stored <= 1; stored++) {
		struct zipw z;
		zip_open(&z, stored, NULL);
		zip_adds(&z, "one.xml", XML1);
		zip_add(&z, "two.xml", big, sizeof big);
		struct blob b = zip_close(&z);
		struct rec r;
		char err[256];
		rec_init(&r);
		/* cut inside the second entry's data */
		assert_int_equal(run_mem(b.p, b.len - 2000, NULL, &r, err, sizeof err), DM_ETRUNC);
		assert_string_equal(err, "truncated zip");
		assert_int_equal(r.ndocs, 2);
		assert_doc(&r.docs[0], "one.xml", "zip", XML1, strlen(XML1), 0);
		assert_int_equal(r.docs[1].rc, DM_ETRUNC);
		assert_string_equal(r.docs[1].reason, "truncated zip");
		rec_free(&r);
		free(b.p);
	}
}

static void
test_zip_bad_crc(void **state)
{
	(void)state;
	for (unsigned method = 0; method <= 8; method += 8) {
		struct rawent e[2] = {{"a.xml", XML1, strlen(XML1), method, 0},
		                      {"b.xml", XML2, strlen(XML2), method, 0}};
		struct blob b = raw_zip(e, 2);
		struct rec r;
		char err[256];
		rec_init(&r);
		assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
		assert_doc(&r.docs[0], "a.xml", "zip", XML1, strlen(XML1), 0);
		rec_free(&r);
		b.p[14] ^= 0x40; /* CRC-32 in the first local header */
		rec_init(&r);
		assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
		assert_int_equal(r.ndocs, 2);
		assert_int_equal(r.docs[0].rc, DM_EFORMAT);
		assert_string_equal(r.docs[0].reason, "zip CRC mismatch");
		assert_doc(&r.docs[1], "b.xml", "zip", XML2, strlen(XML2), 0);
		rec_free(&r);
		free(b.p);
	}
}

static void
test_zip_unsupported_method(void **state)
{
	(void)state;
	/* bzip2, deflate64, LZMA, zstd, xz, PPMd, and an unknown number */
	unsigned methods[] = {12, 9, 14, 93, 95, 98, 200};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		struct rawent e[2] = {{"a.xml", XML1, strlen(XML1), methods[i], 0},
		                      {"b.xml", XML2, strlen(XML2), 0, 0}};
		struct blob b = raw_zip(e, 2);
		struct rec r;
		char err[256];
		rec_init(&r);
		assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
		assert_int_equal(r.ndocs, 2);
		assert_doc(&r.docs[0], "a.xml", "zip", NULL, 0, DM_EUNSUPP);
		assert_string_equal(r.docs[0].reason, "unsupported zip compression method");
		assert_int_equal(r.docs[0].total, 0);
		assert_doc(&r.docs[1], "b.xml", "zip", XML2, strlen(XML2), 0);
		rec_free(&r);
		free(b.p);
	}
}

static void
test_zip_encrypted(void **state)
{
	(void)state;
	/* stored: the entry has sizes and is skipped; deflate: a data
	 * descriptor hides the end, so the archive cannot go on */
	for (int stored = 1; stored >= 0; stored--) {
		struct zipw z;
		zip_open(&z, stored, "zip:encryption=zipcrypt");
		zip_adds(&z, "secret.xml", XML1);
		zip_adds(&z, "secret2.xml", XML2);
		struct blob b = zip_close(&z);
		assert_true(b.p[6] & 1); /* the encryption flag is set */
		struct rec r;
		char err[256];
		rec_init(&r);
		int rc = run_mem(b.p, b.len, NULL, &r, err, sizeof err);
		assert_doc(&r.docs[0], "secret.xml", "zip", NULL, 0, DM_EUNSUPP);
		assert_string_equal(r.docs[0].reason, "encrypted zip entry");
		assert_int_equal(r.docs[0].total, 0);
		if (rc == 0) {
			assert_int_equal(r.ndocs, 2);
			assert_doc(&r.docs[1], "secret2.xml", "zip", NULL, 0, DM_EUNSUPP);
		} else {
			assert_int_equal(rc, DM_EUNSUPP);
			assert_string_equal(err, "encrypted zip entry");
			assert_int_equal(r.ndocs, 1);
		}
		if (stored)
			assert_int_equal(rc, 0);
		rec_free(&r);
		free(b.p);
	}
}

/* ---- sink control ---------------------------------------------------------- */

static void
test_stop(void **state)
{
	(void)state;
	char big[200000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + (i * 31) % 26);
	struct rec r;
	char err[256];

	/* gzip: stop after the first chunk; no error, reading stops */
	struct blob g = gz(big, sizeof big, NULL);
	rec_init(&r);
	r.stop_data_at = 0;
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 1);
	assert_int_equal(r.docs[0].ndata, 1);
	assert_int_equal(r.docs[0].rc, 0);
	assert_int_equal(r.data_after_stop, 0);
	rec_free(&r);

	/* gzip: stop at doc_begin */
	rec_init(&r);
	r.stop_begin_at = 0;
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.docs[0].ndata, 0);
	assert_int_equal(r.docs[0].rc, 0);
	rec_free(&r);
	free(g.p);

	/* zip, deflate with data descriptors and stored with sizes: a stopped
	 * entry is skipped and the next ones follow */
	for (int stored = 0; stored <= 1; stored++) {
		struct zipw z;
		zip_open(&z, stored, NULL);
		zip_add(&z, "big.xml", big, sizeof big);
		zip_adds(&z, "two.xml", XML2);
		zip_add(&z, "big2.xml", big, sizeof big);
		zip_adds(&z, "four.xml", XML3);
		struct blob b = zip_close(&z);
		rec_init(&r);
		r.stop_data_at = 0;
		assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
		assert_int_equal(r.ndocs, 4);
		assert_int_equal(r.docs[0].ndata, 1);
		assert_int_equal(r.docs[0].rc, 0);
		assert_doc(&r.docs[1], "two.xml", "zip", XML2, strlen(XML2), 0);
		assert_doc(&r.docs[2], "big2.xml", "zip", big, sizeof big, 0);
		assert_doc(&r.docs[3], "four.xml", "zip", XML3, strlen(XML3), 0);
		assert_int_equal(r.data_after_stop, 0);
		rec_free(&r);

		rec_init(&r);
		r.stop_begin_at = 2;
		assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
		assert_int_equal(r.ndocs, 4);
		assert_int_equal(r.docs[2].ndata, 0);
		assert_int_equal(r.docs[2].rc, 0);
		assert_doc(&r.docs[3], "four.xml", "zip", XML3, strlen(XML3), 0);
		rec_free(&r);
		free(b.p);
	}
}

/* A skipped entry still counts: draining a bomb the sink did not want
 * stops at the limit instead of inflating it all. */
static void
test_zip_stop_bomb(void **state)
{
	(void)state;
	struct zipw z;
	zip_open(&z, 0, NULL);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "bomb.xml");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(z.a, e), ARCHIVE_OK);
	for (int i = 0; i < 1024; i++)
		assert_int_equal(archive_write_data(z.a, zeros, sizeof zeros),
		                 (la_ssize_t)sizeof zeros);
	archive_entry_free(e);
	zip_adds(&z, "after.xml", XML2);
	struct blob b = zip_close(&z);
	assert_true(b.len < 256 * 1024);

	struct unpack_limits lim;
	unpack_limits_default(&lim);
	lim.max_out = 8 * 1024 * 1024;
	struct rec r;
	char err[256];
	rec_init(&r);
	r.stop_data_at = 0;
	assert_int_equal(run_mem(b.p, b.len, &lim, &r, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "decompressed size limit exceeded (8388608 bytes)");
	assert_int_equal(r.ndocs, 1);
	assert_int_equal(r.docs[0].rc, 0); /* it was stopped, not failed */
	assert_int_equal(r.docs[0].ndata, 1);
	rec_free(&r);

	/* with room for it, the next entry follows */
	rec_init(&r);
	r.stop_data_at = 0;
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.ndocs, 2);
	assert_doc(&r.docs[1], "after.xml", "zip", XML2, strlen(XML2), 0);
	rec_free(&r);
	free(b.p);
}

static void
test_abort(void **state)
{
	(void)state;
	struct rec r;
	char err[256];
	struct zipw z;
	zip_open(&z, 0, NULL);
	zip_adds(&z, "a.xml", XML1);
	zip_adds(&z, "b.xml", XML2);
	struct blob b = zip_close(&z);
	rec_init(&r);
	r.abort_data = DM_ESTORE;
	assert_int_equal(run_mem(b.p, b.len, NULL, &r, err, sizeof err), DM_ESTORE);
	assert_string_equal(err, "aborted by sink (store error)");
	assert_int_equal(r.ndocs, 1);
	assert_int_equal(r.docs[0].rc, DM_ESTORE);
	rec_free(&r);
	free(b.p);

	struct blob g = gzs(XML1);
	rec_init(&r);
	r.abort_data = DM_ENOSPC;
	assert_int_equal(run_mem(g.p, g.len, NULL, &r, err, sizeof err), DM_ENOSPC);
	assert_int_equal(r.docs[0].rc, DM_ENOSPC);
	rec_free(&r);
	free(g.p);
}

static void
test_read_error(void **state)
{
	(void)state;
	static char big[100000];
	fill_random(big, sizeof big, 3);
	struct blob g = gz(big, sizeof big, NULL);
	struct rec r;
	char err[256];

	/* in the head: no document */
	rec_init(&r);
	struct step_reader s = {g.p, g.len, 0, 100, 10, DM_EIO};
	struct dm_reader rd = {step_read, &s};
	assert_int_equal(run_with(&rd, NULL, &r, err, sizeof err), DM_EIO);
	assert_string_equal(err, "read error (i/o error)");
	assert_int_equal(r.ndocs, 0);
	rec_free(&r);

	/* later: the open document fails with it */
	rec_init(&r);
	struct step_reader s2 = {g.p, g.len, 0, 65536, 5000, DM_EIO};
	rd.ctx = &s2;
	assert_int_equal(run_with(&rd, NULL, &r, err, sizeof err), DM_EIO);
	assert_string_equal(err, "read error (i/o error)");
	assert_int_equal(r.ndocs, 1);
	assert_int_equal(r.docs[0].rc, DM_EIO);
	rec_free(&r);

	/* zip */
	struct zipw z;
	zip_open(&z, 0, NULL);
	zip_add(&z, "big.xml", big, sizeof big);
	struct blob b = zip_close(&z);
	rec_init(&r);
	struct step_reader s3 = {b.p, b.len, 0, 65536, 5000, DM_EIO};
	rd.ctx = &s3;
	assert_int_equal(run_with(&rd, NULL, &r, err, sizeof err), DM_EIO);
	assert_string_equal(err, "read error (i/o error)");
	rec_free(&r);
	free(b.p);
	free(g.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain),
	        cmocka_unit_test(test_empty_input),
	        cmocka_unit_test(test_gzip),
	        cmocka_unit_test(test_gzip_multi_member),
	        cmocka_unit_test(test_gzip_trailing_crlf),
	        cmocka_unit_test(test_gzip_in_gzip),
	        cmocka_unit_test(test_gzip_three_layers),
	        cmocka_unit_test(test_zlib),
	        cmocka_unit_test(test_gzip_truncated),
	        cmocka_unit_test(test_gzip_bad_crc),
	        cmocka_unit_test(test_gzip_bomb_size),
	        cmocka_unit_test(test_gzip_bomb_ratio),
	        cmocka_unit_test(test_zip_one),
	        cmocka_unit_test(test_zip_three_with_dir),
	        cmocka_unit_test(test_zip_empty),
	        cmocka_unit_test(test_zip_gz_entry),
	        cmocka_unit_test(test_zip_in_zip),
	        cmocka_unit_test(test_zip_too_many_entries),
	        cmocka_unit_test(test_zip_hostile_names),
	        cmocka_unit_test(test_zip_long_name),
	        cmocka_unit_test(test_zip_garbage),
	        cmocka_unit_test(test_zip_truncated),
	        cmocka_unit_test(test_zip_bad_crc),
	        cmocka_unit_test(test_zip_unsupported_method),
	        cmocka_unit_test(test_zip_encrypted),
	        cmocka_unit_test(test_stop),
	        cmocka_unit_test(test_zip_stop_bomb),
	        cmocka_unit_test(test_abort),
	        cmocka_unit_test(test_read_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
