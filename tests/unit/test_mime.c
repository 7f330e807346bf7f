/*
 * test_mime.c - the MIME walker (src/parse/mime.c) on messages written
 * here: decoding, nesting, file names, report types, mbox, limits, and
 * input that is not mail at all.
 *
 * Every message is a C string written to an unlinked file in $TMPDIR
 * (ctest sets it), because the walker wants a seekable descriptor.  The
 * attachment payloads are real gzip and zip bytes (made with Python's
 * gzip and zipfile modules, mtime 0) so a test compares decoded bytes
 * with the original, never with the walker's own output.  Bombs and
 * deep nestings are generated with open_memstream().
 *
 * Decision for input that is not a message (binary garbage, an empty
 * file): mime_walk_fd returns DM_EFORMAT "not a mail message" and
 * delivers no part.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/limits.h"
#include "parse/mime.h"

/* gzip of a tiny aggregate report (101 bytes). */
static const unsigned char report_gz[] = {
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x65, 0xcc, 0x3b, 0x0e, 0x80,
        0x20, 0x10, 0x45, 0xd1, 0x9e, 0x55, 0x18, 0x16, 0x00, 0xda, 0x8f, 0xb0, 0x14, 0x32, 0xca,
        0xd3, 0x18, 0xf9, 0x05, 0x89, 0x61, 0xf9, 0x76, 0x34, 0xb6, 0x37, 0x39, 0x97, 0x6c, 0x8f,
        0x61, 0x7a, 0x51, 0x9f, 0x2b, 0xa7, 0x55, 0x2e, 0x6a, 0x96, 0xd6, 0x08, 0x3a, 0x00, 0xbf,
        0xf1, 0x7e, 0x1b, 0xaa, 0x28, 0xb9, 0x36, 0x17, 0xd1, 0xd8, 0x73, 0x63, 0x43, 0xb9, 0x9e,
        0x2e, 0x71, 0x84, 0x41, 0xe7, 0x58, 0x02, 0x54, 0x42, 0x23, 0x3d, 0x2a, 0xe9, 0x9f, 0xd0,
        0xe3, 0x26, 0x3e, 0x74, 0x66, 0xdf, 0x91, 0x6f, 0x00, 0x00, 0x00,
};

/* report_gz in base64, 76-character lines. */
#define REPORT_GZ_B64                                                                              \
	"H4sIAAAAAAACA2XMOw6AIBBF0Z5VGBYA2o+wFDLK0xj5BYlh+XY0tjc5l2yPYXpRnyunVS5qltYI\n"           \
	"OgC/8X4bqii5NhfR2HNjQ7meLnGEQedYAlRCIz0q6Z/Q4yY+dGbfkW8AAAA=\n"

/* report_gz in quoted-printable (binascii.b2a_qp, istext=False). */
#define REPORT_GZ_QP                                                                               \
	"=1F=8B=08=00=00=00=00=00=02=03e=CC;=0E=80 =10E=D1=9EU=18=16=00=DA=8F=B0=142=\n"           \
	"=CA=D3=18=F9=05=89a=F9v4=B679=97l=8FazQ=9F+=A7U.j=96=D6=08:=00=BF=F1~=1B=AA=\n"           \
	"(=B96=17=D1=D8scC=B9=9E.q=84A=E7X=02TB#=3D*=E9=9F=D0=E3&>tf=DF=91o=00=00=00\n"

/* A zip holding r.xml (191 bytes). */
static const unsigned char report_zip[] = {
        0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x58, 0x74,
        0x66, 0xdf, 0x91, 0x53, 0x00, 0x00, 0x00, 0x6f, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
        0x72, 0x2e, 0x78, 0x6d, 0x6c, 0x65, 0xcc, 0x3b, 0x0e, 0x80, 0x20, 0x10, 0x45, 0xd1, 0x9e,
        0x55, 0x18, 0x16, 0x00, 0xda, 0x8f, 0xb0, 0x14, 0x32, 0xca, 0xd3, 0x18, 0xf9, 0x05, 0x89,
        0x61, 0xf9, 0x76, 0x34, 0xb6, 0x37, 0x39, 0x97, 0x6c, 0x8f, 0x61, 0x7a, 0x51, 0x9f, 0x2b,
        0xa7, 0x55, 0x2e, 0x6a, 0x96, 0xd6, 0x08, 0x3a, 0x00, 0xbf, 0xf1, 0x7e, 0x1b, 0xaa, 0x28,
        0xb9, 0x36, 0x17, 0xd1, 0xd8, 0x73, 0x63, 0x43, 0xb9, 0x9e, 0x2e, 0x71, 0x84, 0x41, 0xe7,
        0x58, 0x02, 0x54, 0x42, 0x23, 0x3d, 0x2a, 0xe9, 0x9f, 0xd0, 0xe3, 0x26, 0x3e, 0x50, 0x4b,
        0x01, 0x02, 0x14, 0x03, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x58, 0x74,
        0x66, 0xdf, 0x91, 0x53, 0x00, 0x00, 0x00, 0x6f, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x72,
        0x2e, 0x78, 0x6d, 0x6c, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
        0x00, 0x33, 0x00, 0x00, 0x00, 0x76, 0x00, 0x00, 0x00, 0x00, 0x00,
};

#define REPORT_ZIP_B64                                                                             \
	"UEsDBBQAAAAIAAAAIVh0Zt+RUwAAAG8AAAAFAAAAci54bWxlzDsOgCAQRdGeVRgWANqPsBQyytMY\n"           \
	"+QWJYfl2NLY3OZdsj2F6UZ8rp1UuapbWCDoAv/F+G6oouTYX0dhzY0O5ni5xhEHnWAJUQiM9Kumf\n"           \
	"0OMmPlBLAQIUAxQAAAAIAAAAIVh0Zt+RUwAAAG8AAAAFAAAAAAAAAAAAAACAAQAAAAByLnhtbFBL\n"           \
	"BQYAAAAAAQABADMAAAB2AAAAAAA=\n"

/* The message INNER_MSG below, base64-encoded (for message/rfc822 with
 * Content-Transfer-Encoding: base64). */
#define INNER_MSG                                                                                  \
	"From: reporter@example.net\n"                                                             \
	"To: dmarc@example.com\n"                                                                  \
	"Subject: Report Domain: example.com Submitter: example.net\n"                             \
	"MIME-Version: 1.0\n"                                                                      \
	"Content-Type: multipart/mixed; boundary=\"inner\"\n"                                      \
	"\n"                                                                                       \
	"--inner\n"                                                                                \
	"Content-Type: text/plain\n"                                                               \
	"\n"                                                                                       \
	"inner text\n"                                                                             \
	"--inner\n"                                                                                \
	"Content-Type: application/gzip\n"                                                         \
	"Content-Disposition: attachment; filename=\"example.net!example.com!1!2.xml.gz\"\n"       \
	"Content-Transfer-Encoding: base64\n"                                                      \
	"\n" REPORT_GZ_B64 "--inner--\n"

#define INNER_MSG_B64                                                                              \
	"RnJvbTogcmVwb3J0ZXJAZXhhbXBsZS5uZXQKVG86IGRtYXJjQGV4YW1wbGUuY29tClN1YmplY3Q6\n"           \
	"IFJlcG9ydCBEb21haW46IGV4YW1wbGUuY29tIFN1Ym1pdHRlcjogZXhhbXBsZS5uZXQKTUlNRS1W\n"           \
	"ZXJzaW9uOiAxLjAKQ29udGVudC1UeXBlOiBtdWx0aXBhcnQvbWl4ZWQ7IGJvdW5kYXJ5PSJpbm5l\n"           \
	"ciIKCi0taW5uZXIKQ29udGVudC1UeXBlOiB0ZXh0L3BsYWluCgppbm5lciB0ZXh0Ci0taW5uZXIK\n"           \
	"Q29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9nemlwCkNvbnRlbnQtRGlzcG9zaXRpb246IGF0dGFj\n"           \
	"aG1lbnQ7IGZpbGVuYW1lPSJleGFtcGxlLm5ldCFleGFtcGxlLmNvbSExITIueG1sLmd6IgpDb250\n"           \
	"ZW50LVRyYW5zZmVyLUVuY29kaW5nOiBiYXNlNjQKCkg0c0lBQUFBQUFBQ0EyWE1PdzZBSUJCRjBa\n"           \
	"NVZHQllBMm8rd0ZETEsweGo1QllsaCtYWTB0amM1bDJ5UFlYcFJueXVuVlM1cWx0WUkKT2dDLzhY\n"           \
	"NGJxaWk1TmhmUjJITmpRN21lTG5HRVFlZFlBbFJDSXowcTZaL1E0eVkrZEdiZmtXOEFBQUE9Ci0t\n"           \
	"aW5uZXItLQo=\n"

#define INNER_SUBJECT "Report Domain: example.com Submitter: example.net"

/* ---- helpers ------------------------------------------------------------ */

struct got_part {
	char *ctype, *filename, *report_type, *subject;
	unsigned index;
	int depth, is_attachment;
	unsigned char *data;
	size_t len;
};

struct got {
	struct got_part *p;
	size_t n, cap;
	unsigned msgs[16];
	size_t nmsgs;
	unsigned last_msg; /* message index at the time of each part */
	unsigned part_msg[64];
	char warnings[8192];
	unsigned stop_at; /* part callback returns DM_ESTOP at this index */
	int stop_message; /* message callback returns DM_ESTOP */
	size_t read_max;  /* read at most this much per part (0: all) */
	int keep_data;    /* 0: only count bytes */
};

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int
on_message(void *arg, unsigned index)
{
	struct got *g = arg;
	if (g->nmsgs < 16)
		g->msgs[g->nmsgs++] = index;
	g->last_msg = index;
	return g->stop_message ? DM_ESTOP : 0;
}

static int
on_part(void *arg, const struct mime_part_info *info, struct dm_reader *content)
{
	struct got *g = arg;
	struct got_part *p;
	unsigned char buf[4096];
	ssize_t n;

	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 16;
		g->p = realloc(g->p, g->cap * sizeof *g->p);
		assert_non_null(g->p);
	}
	p = &g->p[g->n];
	memset(p, 0, sizeof *p);
	assert_non_null(info->content_type);
	p->ctype = strdup(info->content_type);
	p->filename = dup_or_null(info->filename);
	p->report_type = dup_or_null(info->report_type);
	p->subject = dup_or_null(info->subject);
	p->index = info->index;
	p->depth = info->depth;
	p->is_attachment = info->is_attachment;
	if (g->n < 64)
		g->part_msg[g->n] = g->last_msg;
	g->n++;
	for (;;) {
		size_t want = sizeof buf;
		if (g->read_max) {
			if (p->len >= g->read_max)
				break;
			if (want > g->read_max - p->len)
				want = g->read_max - p->len;
		}
		n = dm_reader_read(content, buf, want);
		assert_true(n >= 0);
		if (n == 0)
			break;
		if (g->keep_data) {
			p->data = realloc(p->data, p->len + (size_t)n + 1);
			assert_non_null(p->data);
			memcpy(p->data + p->len, buf, (size_t)n);
			p->data[p->len + (size_t)n] = '\0';
		}
		p->len += (size_t)n;
	}
	if (g->stop_at && info->index == g->stop_at)
		return DM_ESTOP;
	return 0;
}

static void
on_warn(void *arg, const char *msg)
{
	struct got *g = arg;
	size_t used = strlen(g->warnings);
	snprintf(g->warnings + used, sizeof g->warnings - used, "%s\n", msg);
}

static void
got_init(struct got *g)
{
	memset(g, 0, sizeof *g);
	g->keep_data = 1;
}

static void
got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->p[i].ctype);
		free(g->p[i].filename);
		free(g->p[i].report_type);
		free(g->p[i].subject);
		free(g->p[i].data);
	}
	free(g->p);
	memset(g, 0, sizeof *g);
}

/* An unlinked temporary file in $TMPDIR holding len bytes of data. */
static int
tmp_fd(const void *data, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	const unsigned char *p = data;
	int fd;

	snprintf(path, sizeof path, "%s/test_mime-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	while (len > 0) {
		ssize_t k = write(fd, p, len);
		assert_true(k > 0);
		p += k;
		len -= (size_t)k;
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Walk a message (or an mbox) held in memory. */
static int
walk_mem(const void *data, size_t len, int mbox, struct got *g, char *err, size_t errlen)
{
	struct mime_sink sink = {on_message, on_part, on_warn, g, NULL, NULL};
	int fd = tmp_fd(data, len);
	int rc = mbox ? mime_walk_mbox_fd(fd, &sink, err, errlen)
	              : mime_walk_fd(fd, &sink, err, errlen);
	close(fd);
	return rc;
}

static int
walk_str(const char *msg, struct got *g, char *err, size_t errlen)
{
	return walk_mem(msg, strlen(msg), 0, g, err, errlen);
}

static void
assert_bytes(const struct got_part *p, const void *want, size_t len)
{
	assert_int_equal(p->len, len);
	assert_memory_equal(p->data, want, len);
}

/* A tiny base64 encoder, only for generated nestings below. */
static char *
b64_encode(const char *in, size_t len)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(len / 3 * 4 + len / 57 * 2 + 8), *o = out;
	size_t i, col = 0;
	assert_non_null(out);
	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 |
		             (unsigned char)in[i + 2];
		*o++ = a[v >> 18];
		*o++ = a[(v >> 12) & 63];
		*o++ = a[(v >> 6) & 63];
		*o++ = a[v & 63];
		if (++col == 19) {
			*o++ = '\n';
			col = 0;
		}
	}
	if (i < len) {
		unsigned v = (unsigned char)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned char)in[i + 1] << 8;
		*o++ = a[v >> 18];
		*o++ = a[(v >> 12) & 63];
		*o++ = i + 1 < len ? a[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o++ = '\n';
	*o = '\0';
	return out;
}

/* ---- decoding ------------------------------------------------------------ */

/* CRLF throughout, as a real MTA delivers it. */
static void
test_mixed_gzip_attachment(void **state)
{
	const char *msg =
	        "From: noreply-dmarc@example.net\r\n"
	        "To: dmarc@example.com\r\n"
	        "Subject: Report Domain: example.com Submitter: example.net\r\n"
	        "MIME-Version: 1.0\r\n"
	        "Content-Type: multipart/mixed; boundary=\"=_b1\"\r\n"
	        "\r\n"
	        "This is a multi-part message in MIME format.\r\n"
	        "--=_b1\r\n"
	        "Content-Type: text/plain; charset=us-ascii\r\n"
	        "\r\n"
	        "This is an aggregate report.\r\n"
	        "--=_b1\r\n"
	        "Content-Type: application/gzip; name=\"example.net!example.com!1!2.xml.gz\"\r\n"
	        "Content-Disposition: attachment;\r\n"
	        "\tfilename=\"example.net!example.com!1!2.xml.gz\"\r\n"
	        "Content-Transfer-Encoding: base64\r\n"
	        "\r\n"
	        "H4sIAAAAAAACA2XMOw6AIBBF0Z5VGBYA2o+wFDLK0xj5BYlh+XY0tjc5l2yPYXpRnyunVS5qltYI\r\n"
	        "OgC/8X4bqii5NhfR2HNjQ7meLnGEQedYAlRCIz0q6Z/Q4yY+dGbfkW8AAAA=\r\n"
	        "--=_b1--\r\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.nmsgs, 1);
	assert_int_equal(g.msgs[0], 1);
	assert_int_equal(g.n, 2);

	assert_string_equal(g.p[0].ctype, "text/plain");
	assert_null(g.p[0].filename);
	assert_int_equal(g.p[0].is_attachment, 0);
	assert_int_equal(g.p[0].index, 1);
	assert_int_equal(g.p[0].depth, 1);
	/* the CR LF before a delimiter belongs to the delimiter */
	assert_bytes(&g.p[0], "This is an aggregate report.", 28);

	assert_string_equal(g.p[1].ctype, "application/gzip");
	assert_string_equal(g.p[1].filename, "example.net!example.com!1!2.xml.gz");
	assert_int_equal(g.p[1].is_attachment, 1);
	assert_int_equal(g.p[1].index, 2);
	assert_null(g.p[1].report_type);
	assert_string_equal(g.p[1].subject, INNER_SUBJECT);
	assert_bytes(&g.p[1], report_gz, sizeof report_gz);
	assert_string_equal(g.warnings, "");
	got_free(&g);
}

static void
test_qp_attachment(void **state)
{
	const char *msg = "From: a@example.net\n"
	                  "Subject: qp\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/mixed; boundary=QQ\n"
	                  "\n"
	                  "--QQ\n"
	                  "Content-Type: text/plain; charset=utf-8\n"
	                  "Content-Transfer-Encoding: Quoted-Printable\n"
	                  "\n"
	                  "caf=C3=A9 soft=\n"
	                  "break =3d done\n"
	                  "--QQ\n"
	                  "Content-Type: application/x-gzip\n"
	                  "Content-Transfer-Encoding: quoted-printable\n"
	                  "\n" REPORT_GZ_QP "--QQ--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal((char *)g.p[0].data, "caf\xc3\xa9 softbreak = done");
	assert_string_equal(g.p[1].ctype, "application/x-gzip");
	assert_int_equal(g.p[1].is_attachment, 1);
	assert_null(g.p[1].filename);
	assert_bytes(&g.p[1], report_gz, sizeof report_gz);
	got_free(&g);
}

/* The whole body is the report; upper-case transfer encoding. */
static void
test_single_part_zip(void **state)
{
	const char *msg = "From: noreply@example.org\n"
	                  "Subject: Report Domain: example.com Submitter: example.org\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: application/zip\n"
	                  "Content-Transfer-Encoding: BASE64\n"
	                  "\n" REPORT_ZIP_B64;
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.p[0].ctype, "application/zip");
	assert_int_equal(g.p[0].depth, 0);
	assert_int_equal(g.p[0].index, 1);
	assert_int_equal(g.p[0].is_attachment, 1);
	assert_null(g.p[0].filename);
	assert_bytes(&g.p[0], report_zip, sizeof report_zip);
	got_free(&g);
}

/* Lenient base64: garbage skipped (and reported), last group without
 * padding kept, anything after the padding ignored. */
static void
test_base64_lenient(void **state)
{
	const char *msg = "Subject: b64\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/mixed; boundary=B\n"
	                  "\n"
	                  "--B\n"
	                  "Content-Type: application/octet-stream\n"
	                  "Content-Transfer-Encoding: base64\n"
	                  "\n"
	                  "SGVs*bG8g\n"
	                  " d29y!bGQ\n"
	                  "--B\n"
	                  "Content-Type: application/octet-stream\n"
	                  "Content-Transfer-Encoding: base64\n"
	                  "\n"
	                  "SGk=\n"
	                  "QUJD\n"
	                  "--B--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 2);
	assert_bytes(&g.p[0], "Hello world", 11);
	assert_bytes(&g.p[1], "Hi", 2);
	assert_non_null(strstr(g.warnings, "part 1: base64 garbage ignored (2 bytes)"));
	assert_non_null(strstr(g.warnings, "part 2: data after base64 padding ignored"));
	got_free(&g);
}

/* x-uuencode and unknown encodings are opaque (RFC 2045 6.4). */
static void
test_unknown_cte_passed_as_is(void **state)
{
	const char *msg = "Subject: cte\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/mixed; boundary=C\n"
	                  "\n"
	                  "--C\n"
	                  "Content-Type: application/octet-stream\n"
	                  "Content-Transfer-Encoding: x-uuencode\n"
	                  "\n"
	                  "begin 644 a\n"
	                  "#86)C\n"
	                  "end\n"
	                  "--C\n"
	                  "Content-Type: application/octet-stream\n"
	                  "Content-Transfer-Encoding: base-64\n"
	                  "\n"
	                  "SGk=\n"
	                  "--C--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal((char *)g.p[0].data, "begin 644 a\n#86)C\nend");
	assert_string_equal((char *)g.p[1].data, "SGk=");
	got_free(&g);
}

/* ---- structure ----------------------------------------------------------- */

static void
test_nested_rfc822(void **state)
{
	const char *msg = "From: forwarder@example.org\n"
	                  "Subject: Fwd: report\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/mixed; boundary=outer\n"
	                  "\n"
	                  "--outer\n"
	                  "Content-Type: text/plain\n"
	                  "\n"
	                  "see attached\n"
	                  "--outer\n"
	                  "Content-Type: message/rfc822\n"
	                  "\n" INNER_MSG "--outer--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.p[0].subject, "Fwd: report");
	assert_int_equal(g.p[0].depth, 1);
	assert_string_equal(g.p[1].subject, INNER_SUBJECT);
	assert_string_equal((char *)g.p[1].data, "inner text");
	assert_int_equal(g.p[1].depth, 2);
	assert_string_equal(g.p[2].ctype, "application/gzip");
	assert_string_equal(g.p[2].filename, "example.net!example.com!1!2.xml.gz");
	assert_string_equal(g.p[2].subject, INNER_SUBJECT);
	assert_int_equal(g.p[2].index, 3);
	assert_int_equal(g.p[2].depth, 2);
	assert_bytes(&g.p[2], report_gz, sizeof report_gz);
	got_free(&g);
}

/* The same forwarded report, but the message/rfc822 part is base64
 * (not allowed by RFC 2046, seen in practice). */
static void
test_base64_rfc822(void **state)
{
	const char *msg = "From: forwarder@example.org\n"
	                  "Subject: Fwd: report\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/mixed; boundary=outer\n"
	                  "\n"
	                  "--outer\n"
	                  "Content-Type: text/plain\n"
	                  "\n"
	                  "see attached\n"
	                  "--outer\n"
	                  "Content-Type: message/rfc822\n"
	                  "Content-Transfer-Encoding: base64\n"
	                  "\n" INNER_MSG_B64 "--outer--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.p[1].subject, INNER_SUBJECT);
	assert_string_equal((char *)g.p[1].data, "inner text");
	assert_string_equal(g.p[2].ctype, "application/gzip");
	assert_string_equal(g.p[2].filename, "example.net!example.com!1!2.xml.gz");
	assert_int_equal(g.p[2].index, 3);
	assert_int_equal(g.p[2].depth, 2);
	assert_bytes(&g.p[2], report_gz, sizeof report_gz);
	got_free(&g);
}

/* An encoded message/rfc822 that is no message is passed on as a leaf. */
static void
test_base64_rfc822_not_a_message(void **state)
{
	const char *msg = "Subject: odd\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: message/rfc822\n"
	                  "Content-Transfer-Encoding: base64\n"
	                  "\n"
	                  "AAECAwQ=\n";
	const unsigned char want[] = {0, 1, 2, 3, 4};
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.p[0].ctype, "message/rfc822");
	assert_bytes(&g.p[0], want, sizeof want);
	assert_non_null(strstr(g.warnings, "encoded message/rfc822 is not a message"));
	got_free(&g);
}

/* rspamd and others wrap the report in multipart/alternative. */
static void
test_alternative_wrapper(void **state)
{
	const char *msg = "Subject: Report Domain: example.com Submitter: example.org\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/alternative; boundary=\"alt\"\n"
	                  "\n"
	                  "--alt\n"
	                  "Content-Type: text/plain\n"
	                  "\n"
	                  "report\n"
	                  "--alt\n"
	                  "Content-Type: application/gzip\n"
	                  "Content-Disposition: inline\n"
	                  "Content-Transfer-Encoding: base64\n"
	                  "\n" REPORT_GZ_B64 "--alt--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.p[1].ctype, "application/gzip");
	assert_int_equal(g.p[1].is_attachment, 1); /* not text */
	assert_bytes(&g.p[1], report_gz, sizeof report_gz);
	got_free(&g);
}

/* An ARF failure report; unknown multipart subtypes are mixed. */
static void
test_report_feedback(void **state)
{
	const char *msg = "From: abuse@example.net\n"
	                  "Subject: DMARC Failure Report\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/report; report-type=\"Feedback-Report\";\n"
	                  "\tboundary=\"arf\"\n"
	                  "\n"
	                  "--arf\n"
	                  "Content-Type: text/plain\n"
	                  "\n"
	                  "This is an authentication failure report.\n"
	                  "--arf\n"
	                  "Content-Type: message/feedback-report\n"
	                  "\n"
	                  "Feedback-Type: auth-failure\n"
	                  "Version: 1\n"
	                  "Auth-Failure: dmarc\n"
	                  "\n"
	                  "--arf\n"
	                  "Content-Type: text/rfc822-headers\n"
	                  "\n"
	                  "From: someone@example.com\n"
	                  "Subject: original\n"
	                  "--arf\n"
	                  "Content-Type: multipart/x-unheard-of; boundary=xu\n"
	                  "\n"
	                  "--xu\n"
	                  "Content-Type: application/octet-stream\n"
	                  "\n"
	                  "raw\n"
	                  "--xu--\n"
	                  "--arf--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(g.p[i].report_type, "feedback-report");
	assert_string_equal(g.p[1].ctype, "message/feedback-report");
	assert_int_equal(g.p[1].is_attachment, 1);
	assert_string_equal((char *)g.p[1].data,
	                    "Feedback-Type: auth-failure\nVersion: 1\nAuth-Failure: dmarc\n");
	assert_string_equal(g.p[2].ctype, "text/rfc822-headers");
	assert_int_equal(g.p[2].is_attachment, 0);
	assert_string_equal((char *)g.p[2].data, "From: someone@example.com\nSubject: original");
	assert_int_equal(g.p[3].depth, 2);
	assert_string_equal((char *)g.p[3].data, "raw");
	got_free(&g);
}

/* report_type is that of the nearest multipart/report inside the same
 * message: the original mail quoted in an ARF report does not get it. */
static void
test_report_type_scope(void **state)
{
	const char *msg = "Subject: TLS\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/report; report-type=tlsrpt; boundary=r\n"
	                  "\n"
	                  "--r\n"
	                  "Content-Type: multipart/mixed; boundary=m\n"
	                  "\n"
	                  "--m\n"
	                  "Content-Type: application/tlsrpt+gzip\n"
	                  "Content-Transfer-Encoding: base64\n"
	                  "\n" REPORT_GZ_B64 "--m--\n"
	                  "--r\n"
	                  "Content-Type: message/rfc822\n"
	                  "\n"
	                  "Subject: quoted\n"
	                  "\n"
	                  "original body\n"
	                  "--r--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.p[0].report_type, "tlsrpt");
	assert_int_equal(g.p[0].depth, 2);
	assert_bytes(&g.p[0], report_gz, sizeof report_gz);
	assert_null(g.p[1].report_type);
	assert_string_equal(g.p[1].subject, "quoted");
	assert_string_equal((char *)g.p[1].data, "original body");
	got_free(&g);
}

static void
test_filenames(void **state)
{
	const char *msg =
	        "Subject: names\n"
	        "MIME-Version: 1.0\n"
	        "Content-Type: multipart/mixed; boundary=F\n"
	        "\n"
	        "--F\n"
	        "Content-Type: application/zip\n"
	        "Content-Disposition: attachment;\n"
	        " filename*0*=utf-8''google.com%21ex; filename*1=ample.com.zip\n"
	        "\n"
	        "a\n"
	        "--F\n"
	        "Content-Type: application/zip\n"
	        "Content-Disposition: attachment; filename=\"=?UTF-8?Q?google.com!x!1!2.zip?=\"\n"
	        "\n"
	        "b\n"
	        "--F\n"
	        "Content-Type: application/gzip; "
	        "name=\"=?utf-8?B?ZXhhbXBsZS5uZXQhZS5jb20hMSEyLnhtbC5neg==?=\"\n"
	        "\n"
	        "c\n"
	        "--F\n"
	        "Content-Type: application/octet-stream\n"
	        "\n"
	        "d\n"
	        "--F\n"
	        "Content-Type: text/plain\n"
	        "Content-Disposition: ATTACHMENT\n"
	        "\n"
	        "e\n"
	        "--F--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 5);
	assert_string_equal(g.p[0].filename, "google.com!example.com.zip");
	assert_string_equal(g.p[1].filename, "google.com!x!1!2.zip");
	assert_string_equal(g.p[2].filename, "example.net!e.com!1!2.xml.gz");
	assert_null(g.p[3].filename);
	assert_int_equal(g.p[3].is_attachment, 1);
	assert_null(g.p[4].filename);
	assert_int_equal(g.p[4].is_attachment, 1); /* disposition attachment */
	assert_string_equal((char *)g.p[0].data, "a");
	assert_string_equal((char *)g.p[4].data, "e");
	got_free(&g);
}

/* LF-only and CRLF copies of one message decode to the same bytes. */
static void
test_lf_and_crlf(void **state)
{
	const char *lf = "Subject: lf\n"
	                 "MIME-Version: 1.0\n"
	                 "Content-Type: multipart/mixed; boundary=L\n"
	                 "\n"
	                 "--L\n"
	                 "Content-Type: text/plain\n"
	                 "\n"
	                 "line one\n"
	                 "line two\n"
	                 "--L\n"
	                 "Content-Type: application/gzip\n"
	                 "Content-Transfer-Encoding: base64\n"
	                 "\n" REPORT_GZ_B64 "--L--\n";
	char crlf[4096];
	size_t o = 0;
	struct got g;
	char err[256];
	(void)state;

	for (const char *p = lf; *p; p++) {
		if (*p == '\n')
			crlf[o++] = '\r';
		crlf[o++] = *p;
	}
	crlf[o] = '\0';

	got_init(&g);
	assert_int_equal(walk_str(lf, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal((char *)g.p[0].data, "line one\nline two");
	assert_bytes(&g.p[1], report_gz, sizeof report_gz);
	got_free(&g);

	got_init(&g);
	assert_int_equal(walk_str(crlf, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal((char *)g.p[0].data, "line one\r\nline two");
	assert_bytes(&g.p[1], report_gz, sizeof report_gz);
	got_free(&g);
}

static void
test_no_mime_version(void **state)
{
	const char *msg = "From: a@example.net\n"
	                  "Subject: old\n"
	                  "Content-Type: multipart/mixed; boundary=N\n"
	                  "\n"
	                  "--N\n"
	                  "Content-Type: application/gzip\n"
	                  "Content-Transfer-Encoding: base64\n"
	                  "\n" REPORT_GZ_B64 "--N--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 1);
	assert_bytes(&g.p[0], report_gz, sizeof report_gz);
	assert_string_equal(g.warnings, "no MIME-Version header\n");
	got_free(&g);
}

/* Relayed through Exchange: part header lines folded into To:, and the
 * message starts with an mbox From line. */
static void
test_mangled_headers(void **state)
{
	const char *msg = "From reporter@example.net Mon Feb 11 10:00:00 2019\n"
	                  "From: reporter@example.net\n"
	                  "To: <dmarc@example.com>\n"
	                  "\tname=\"example.net!example.com!1!2.zip\"\n"
	                  "\tfilename=\"example.net!example.com!1!2.zip\"\n"
	                  "Subject: Report domain: example.com Submitter: example.net\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/mixed;\n"
	                  "\tboundary=\"mangled\"\n"
	                  "\n"
	                  "--mangled\n"
	                  "Content-Type: application/zip;\n"
	                  "\tname=\"example.net!example.com!1!2.zip\"\n"
	                  "Content-Transfer-Encoding: base64\n"
	                  "\n" REPORT_ZIP_B64 "--mangled--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.p[0].filename, "example.net!example.com!1!2.zip");
	assert_string_equal(g.p[0].subject, "Report domain: example.com Submitter: example.net");
	assert_bytes(&g.p[0], report_zip, sizeof report_zip);
	got_free(&g);
}

/* ---- callbacks ----------------------------------------------------------- */

static void
test_callback_stop_and_partial_read(void **state)
{
	const char *msg = "Subject: three parts\n"
	                  "MIME-Version: 1.0\n"
	                  "Content-Type: multipart/mixed; boundary=S\n"
	                  "\n"
	                  "--S\n"
	                  "Content-Transfer-Encoding: base64\n"
	                  "\n" REPORT_GZ_B64 "--S\n"
	                  "\n"
	                  "second\n"
	                  "--S\n"
	                  "\n"
	                  "third\n"
	                  "--S--\n";
	struct got g;
	char err[256];
	(void)state;

	/* reading only the head of a part does not disturb the next one */
	got_init(&g);
	g.read_max = 3;
	assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 3);
	assert_bytes(&g.p[0], report_gz, 3);
	assert_bytes(&g.p[1], "sec", 3);
	got_free(&g);

	got_init(&g);
	g.stop_at = 2;
	assert_int_equal(walk_str(msg, &g, err, sizeof err), DM_ESTOP);
	assert_int_equal(g.n, 2);
	got_free(&g);

	got_init(&g);
	g.stop_message = 1;
	assert_int_equal(walk_str(msg, &g, err, sizeof err), DM_ESTOP);
	assert_int_equal(g.n, 0);
	got_free(&g);
}

/* ---- mbox ------------------------------------------------------------ */

static void
test_mbox_three(void **state)
{
	const char *mbox = "From a@example.net Mon Jan  1 00:00:00 2024\n"
	                   "Subject: one\n"
	                   "MIME-Version: 1.0\n"
	                   "Content-Type: application/gzip\n"
	                   "Content-Transfer-Encoding: base64\n"
	                   "\n" REPORT_GZ_B64 "\n"
	                   "From b@example.net Mon Jan  1 00:00:01 2024\n"
	                   "Subject: two\n"
	                   "\n"
	                   "body two\n"
	                   ">From the mbox escape\n"
	                   "\n"
	                   "From c@example.net Mon Jan  1 00:00:02 2024\n"
	                   "Subject: three\n"
	                   "MIME-Version: 1.0\n"
	                   "Content-Type: multipart/mixed; boundary=M3\n"
	                   "\n"
	                   "--M3\n"
	                   "Content-Type: application/zip\n"
	                   "Content-Transfer-Encoding: base64\n"
	                   "\n" REPORT_ZIP_B64 "--M3--\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_mem(mbox, strlen(mbox), 1, &g, err, sizeof err), 0);
	assert_int_equal(g.nmsgs, 3);
	assert_int_equal(g.msgs[0], 1);
	assert_int_equal(g.msgs[1], 2);
	assert_int_equal(g.msgs[2], 3);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.part_msg[0], 1);
	assert_string_equal(g.p[0].subject, "one");
	assert_bytes(&g.p[0], report_gz, sizeof report_gz);
	assert_int_equal(g.part_msg[1], 2);
	assert_string_equal(g.p[1].subject, "two");
	assert_string_equal((char *)g.p[1].data, "body two\n>From the mbox escape\n");
	assert_int_equal(g.part_msg[2], 3);
	assert_int_equal(g.p[2].index, 1); /* leaf numbers restart per message */
	assert_bytes(&g.p[2], report_zip, sizeof report_zip);
	assert_non_null(strstr(g.warnings, "message 2: no MIME-Version header"));
	got_free(&g);
}

static char *
nested_multiparts(int levels, size_t *len)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, len);
	assert_non_null(f);
	fprintf(f, "Subject: deep\nMIME-Version: 1.0\n");
	for (int i = 0; i < levels; i++)
		fprintf(f, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
	fprintf(f, "Content-Type: text/plain\n\nleaf\n");
	for (int i = levels - 1; i >= 0; i--)
		fprintf(f, "--b%d--\n", i);
	fclose(f);
	return s;
}

/* A bad message in the middle is skipped with a warning. */
static void
test_mbox_bad_message(void **state)
{
	size_t blen;
	char *bomb = nested_multiparts(DM_MAX_MIME_DEPTH + 1, &blen);
	char *mbox = NULL;
	size_t len;
	FILE *f = open_memstream(&mbox, &len);
	struct got g;
	char err[256];
	(void)state;

	fprintf(f, "junk before the first message\n");
	fprintf(f, "From a@example.net Mon Jan  1 00:00:00 2024\nSubject: one\n\nfirst\n\n");
	fprintf(f, "From b@example.net Mon Jan  1 00:00:00 2024\n%s\n", bomb);
	fprintf(f, "From c@example.net Mon Jan  1 00:00:00 2024\nSubject: three\n\nthird\n");
	fclose(f);

	got_init(&g);
	assert_int_equal(walk_mem(mbox, len, 1, &g, err, sizeof err), 0);
	assert_int_equal(g.nmsgs, 3);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.p[0].subject, "one");
	assert_string_equal(g.p[1].subject, "three");
	assert_string_equal((char *)g.p[1].data, "third\n");
	assert_non_null(strstr(g.warnings, "30 bytes before the first From line ignored\n"));
	assert_non_null(strstr(g.warnings, "message 2: MIME nesting deeper than 16\n"));
	got_free(&g);
	free(bomb);
	free(mbox);
}

static void
test_mbox_not_mbox(void **state)
{
	const char *msg = "Subject: no From line\n\nbody\n";
	struct got g;
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(walk_mem(msg, strlen(msg), 1, &g, err, sizeof err), DM_EFORMAT);
	assert_int_equal(g.n, 0);
	assert_string_equal(err, "not an mbox (no \"From \" line)");
	got_free(&g);
}

/* ---- limits --------------------------------------------------------------- */

/* A multipart whose preamble (pre) or epilogue (!pre) has n bytes of text. */
static char *
gap_message(size_t n, int pre, size_t *len)
{
	static const char head[] = "From: a@example.org\r\nMIME-Version: 1.0\r\n"
				   "Content-Type: multipart/mixed; boundary=\"gap\"\r\n\r\n";
	static const char part[] = "--gap\r\nContent-Type: text/plain\r\n\r\nleaf\r\n--gap--\r\n";
	char *msg = malloc(sizeof head + sizeof part + n + 16);
	size_t off = 0;
	memcpy(msg, head, sizeof head - 1);
	off = sizeof head - 1;
	if (!pre) {
		memcpy(msg + off, part, sizeof part - 1);
		off += sizeof part - 1;
	}
	for (size_t i = 0; i < n; i++) /* 63 letters and a line break */
		msg[off + i] = (i % 64 == 62) ? '\r' : (i % 64 == 63) ? '\n' : 'x';
	off += n;
	if (pre) {
		memcpy(msg + off, "\r\n", 2);
		off += 2;
		memcpy(msg + off, part, sizeof part - 1);
		off += sizeof part - 1;
	}
	*len = off;
	return msg;
}

/* GMime keeps preambles and epilogues in memory: they are bounded. */
static void
test_preamble_epilogue_limit(void **state)
{
	size_t len;
	struct got g;
	char err[256];
	(void)state;
	for (int pre = 0; pre < 2; pre++) {
		char *msg = gap_message(64 * 1024, pre, &len);
		got_init(&g);
		assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), 0);
		assert_int_equal(g.n, 1);
		assert_string_equal((char *)g.p[0].data, "leaf");
		got_free(&g);
		free(msg);

		msg = gap_message(DM_MAX_MIME_PREAMBLE + 4096, pre, &len);
		got_init(&g);
		assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), DM_ELIMIT);
		assert_non_null(strstr(err, "preamble or epilogue"));
		got_free(&g);
		free(msg);
	}
}

static void
test_depth_limit(void **state)
{
	size_t len;
	char *msg;
	struct got g;
	char err[256];
	time_t t0;
	(void)state;

	msg = nested_multiparts(DM_MAX_MIME_DEPTH, &len);
	got_init(&g);
	assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.p[0].depth, DM_MAX_MIME_DEPTH);
	assert_string_equal((char *)g.p[0].data, "leaf");
	got_free(&g);
	free(msg);

	msg = nested_multiparts(DM_MAX_MIME_DEPTH + 1, &len);
	got_init(&g);
	assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "MIME nesting deeper than 16");
	assert_int_equal(g.n, 0);
	got_free(&g);
	free(msg);

	/* ADV-25: 10,000 levels, refused before GMime sees it */
	t0 = time(NULL);
	msg = nested_multiparts(10000, &len);
	got_init(&g);
	assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "MIME nesting deeper than 16");
	assert_int_equal(g.n, 0);
	assert_true(time(NULL) - t0 < 10);
	got_free(&g);
	free(msg);
}

static char *
many_parts(int n, size_t *len)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, len);
	assert_non_null(f);
	fprintf(f,
	        "Subject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=p\n\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "--p\n\n%d\n", i);
	fprintf(f, "--p--\n");
	fclose(f);
	return s;
}

static void
test_parts_limit(void **state)
{
	size_t len;
	char *msg;
	struct got g;
	char err[256];
	(void)state;

	msg = many_parts(DM_MAX_MIME_PARTS, &len);
	got_init(&g);
	assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), 0);
	assert_int_equal(g.n, DM_MAX_MIME_PARTS);
	assert_int_equal(g.p[DM_MAX_MIME_PARTS - 1].index, DM_MAX_MIME_PARTS);
	assert_string_equal((char *)g.p[DM_MAX_MIME_PARTS - 1].data, "999");
	got_free(&g);
	free(msg);

	msg = many_parts(DM_MAX_MIME_PARTS + 1, &len);
	got_init(&g);
	assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "more than 1000 MIME parts");
	got_free(&g);
	free(msg);

	msg = many_parts(100000, &len);
	got_init(&g);
	assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "more than 1000 MIME parts");
	assert_int_equal(g.n, 0);
	got_free(&g);
	free(msg);
}

/* levels message/rfc822 parts inside each other, base64 or not. */
static char *
nested_messages(int levels, int encoded)
{
	char *msg = strdup("Subject: innermost\n\nleaf\n");
	for (int i = 0; i < levels; i++) {
		char *body = encoded ? b64_encode(msg, strlen(msg)) : strdup(msg);
		char *next = NULL;
		size_t len;
		FILE *f = open_memstream(&next, &len);
		fprintf(f,
		        "Subject: level %d\nMIME-Version: 1.0\n"
		        "Content-Type: message/rfc822\n%s\n%s",
		        levels - i - 1, encoded ? "Content-Transfer-Encoding: base64\n" : "", body);
		fclose(f);
		free(body);
		free(msg);
		msg = next;
	}
	return msg;
}

static void
test_rfc822_limit(void **state)
{
	struct got g;
	char err[256];
	(void)state;

	for (int encoded = 0; encoded <= 1; encoded++) {
		char *msg = nested_messages(DM_MAX_RFC822_DEPTH, encoded);
		got_init(&g);
		assert_int_equal(walk_str(msg, &g, err, sizeof err), 0);
		assert_int_equal(g.n, 1);
		assert_string_equal(g.p[0].subject, "innermost");
		assert_string_equal((char *)g.p[0].data, "leaf\n");
		got_free(&g);
		free(msg);

		msg = nested_messages(DM_MAX_RFC822_DEPTH + 1, encoded);
		got_init(&g);
		assert_int_equal(walk_str(msg, &g, err, sizeof err), DM_ELIMIT);
		assert_string_equal(err, "message/rfc822 nesting deeper than 3");
		assert_int_equal(g.n, 0);
		got_free(&g);
		free(msg);
	}
}

static void
test_header_limits(void **state)
{
	char *msg = NULL;
	size_t len;
	FILE *f;
	struct got g;
	char err[256];
	(void)state;

	/* one Subject of 300 KiB */
	f = open_memstream(&msg, &len);
	fprintf(f, "Subject: ");
	for (int i = 0; i < 300 * 1024; i++)
		fputc('a', f);
	fprintf(f, "\n\nbody\n");
	fclose(f);
	got_init(&g);
	assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "header block too large");
	assert_int_equal(g.n, 0);
	got_free(&g);
	free(msg);

	/* DM_MAX_HEADER_FIELDS fields pass, one more does not */
	for (int extra = 0; extra <= 1; extra++) {
		f = open_memstream(&msg, &len);
		for (int i = 0; i < DM_MAX_HEADER_FIELDS + extra; i++)
			fprintf(f, "X-F: %d\n", i);
		fprintf(f, "\nbody\n");
		fclose(f);
		got_init(&g);
		if (extra) {
			assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), DM_ELIMIT);
			assert_string_equal(err, "header block too large");
		} else {
			assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), 0);
			assert_int_equal(g.n, 1);
		}
		got_free(&g);
		free(msg);
	}

	/* the limit holds for a part header too */
	f = open_memstream(&msg, &len);
	fprintf(f, "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=h\n\n"
	           "--h\n");
	for (int i = 0; i <= DM_MAX_HEADER_FIELDS; i++)
		fprintf(f, "X-F: %d\n", i);
	fprintf(f, "\nbody\n--h--\n");
	fclose(f);
	got_init(&g);
	assert_int_equal(walk_mem(msg, len, 0, &g, err, sizeof err), DM_ELIMIT);
	assert_string_equal(err, "header block too large");
	got_free(&g);
	free(msg);
}

/* ---- not mail ---------------------------------------------------------- */

static void
test_not_a_message(void **state)
{
	unsigned char junk[4096];
	struct got g;
	char err[256];
	uint32_t x = 12345;
	(void)state;

	for (size_t i = 0; i < sizeof junk; i++) {
		x = x * 1103515245 + 12345;
		junk[i] = (unsigned char)(x >> 16);
	}
	junk[0] = 0x1f; /* starts like gzip */
	junk[1] = 0x8b;
	got_init(&g);
	assert_int_equal(walk_mem(junk, sizeof junk, 0, &g, err, sizeof err), DM_EFORMAT);
	assert_string_equal(err, "not a mail message");
	assert_int_equal(g.n, 0);
	got_free(&g);

	got_init(&g);
	assert_int_equal(walk_mem("", 0, 0, &g, err, sizeof err), DM_EFORMAT);
	assert_string_equal(err, "not a mail message");
	assert_int_equal(g.n, 0);
	got_free(&g);
}

static void
test_not_seekable(void **state)
{
	int p[2];
	struct got g;
	struct mime_sink sink = {on_message, on_part, on_warn, &g, NULL, NULL};
	char err[256];
	(void)state;

	got_init(&g);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "Subject: x\n\nbody\n", 17), 17);
	close(p[1]);
	assert_int_equal(mime_walk_fd(p[0], &sink, err, sizeof err), DM_EINVAL);
	assert_string_equal(err, "input is not seekable");
	assert_int_equal(g.n, 0);
	close(p[0]);
	got_free(&g);
}


/* The header blocks of nested messages reach message_headers, before
 * their parts, with their depth; the top message's never do. */
struct hdrs_got {
	char text[4096];
	int depths[8];
	int n;
	size_t parts_before[8];
};

static struct hdrs_got hg;

static int
on_hdrs_keep(void *arg, int depth, const char *text, size_t len)
{
	struct got *g = arg;
	if (hg.n < 8) {
		hg.depths[hg.n] = depth;
		hg.parts_before[hg.n] = g->n;
		hg.n++;
	}
	size_t have = strlen(hg.text);
	if (have + len + 2 < sizeof hg.text) {
		memcpy(hg.text + have, text, len);
		hg.text[have + len] = '|';
		hg.text[have + len + 1] = '\0';
	}
	return 0;
}

static void
test_message_headers(void **state)
{
	static const char msg[] =
	        "From: top@example.org\nSubject: top\nMIME-Version: 1.0\n"
	        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\n\n"
	        "--b\nContent-Type: text/plain\n\nhuman\n"
	        "--b\nContent-Type: message/feedback-report\n\nFeedback-Type: auth-failure\n"
	        "--b\nContent-Type: message/rfc822\n\n"
	        "From: orig@example.com\nTo: someone@example.net\nSubject: inner\n"
	        "Content-Type: message/rfc822\n\n"
	        "From: deeper@example.com\nSubject: deepest\n\nbody of the deepest\n"
	        "--b--\n";
	struct got g;
	struct mime_sink sink = {on_message, on_part, on_warn, &g, NULL, on_hdrs_keep};
	char err[256];
	(void)state;
	memset(&hg, 0, sizeof hg);
	got_init(&g);
	int fd = tmp_fd(msg, sizeof msg - 1);
	assert_int_equal(mime_walk_fd(fd, &sink, err, sizeof err), 0);
	close(fd);
	assert_int_equal(hg.n, 2);
	assert_int_equal(hg.depths[0], 1);
	assert_int_equal(hg.depths[1], 2);
	/* the two parts before the attached message came first */
	assert_int_equal(hg.parts_before[0], 2);
	assert_non_null(strstr(hg.text, "From: orig@example.com"));
	assert_non_null(strstr(hg.text, "Subject: inner"));
	assert_non_null(strstr(hg.text, "From: deeper@example.com"));
	assert_null(strstr(hg.text, "top@example.org"));
	assert_null(strstr(hg.text, "body of the deepest"));
	got_free(&g);
}

static int
setup(void **state)
{
	(void)state;
	mime_global_init();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mime_global_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mixed_gzip_attachment),
	        cmocka_unit_test(test_qp_attachment),
	        cmocka_unit_test(test_single_part_zip),
	        cmocka_unit_test(test_base64_lenient),
	        cmocka_unit_test(test_unknown_cte_passed_as_is),
	        cmocka_unit_test(test_nested_rfc822),
	        cmocka_unit_test(test_base64_rfc822),
	        cmocka_unit_test(test_base64_rfc822_not_a_message),
	        cmocka_unit_test(test_alternative_wrapper),
	        cmocka_unit_test(test_report_feedback),
	        cmocka_unit_test(test_report_type_scope),
	        cmocka_unit_test(test_filenames),
	        cmocka_unit_test(test_lf_and_crlf),
	        cmocka_unit_test(test_no_mime_version),
	        cmocka_unit_test(test_mangled_headers),
	        cmocka_unit_test(test_callback_stop_and_partial_read),
	        cmocka_unit_test(test_mbox_three),
	        cmocka_unit_test(test_mbox_bad_message),
	        cmocka_unit_test(test_mbox_not_mbox),
	        cmocka_unit_test(test_depth_limit),
	        cmocka_unit_test(test_parts_limit),
	        cmocka_unit_test(test_rfc822_limit),
	        cmocka_unit_test(test_header_limits),
	        cmocka_unit_test(test_preamble_epilogue_limit),
	        cmocka_unit_test(test_not_a_message),
	        cmocka_unit_test(test_not_seekable),
	        cmocka_unit_test(test_message_headers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
