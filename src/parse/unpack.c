/*
 * unpack.c - streaming decompression of one attachment into documents.
 *
 * unpack_run() reads the head of the attachment (up to DM_SNIFF_BYTES),
 * picks the outer container by magic bytes (sniff.h) and streams the rest
 * with the head replayed first:
 *
 *   plain  one document, layers "", bytes passed through unchanged
 *   gzip   one document, layers "gzip": all members decoded in turn and
 *          concatenated (RFC 1952 allows several), name = FNAME of the
 *          first member (display only)
 *   zlib   one document, layers "zlib"
 *   zip    one document per regular-file entry, layers "zip", read with
 *          libarchive's streamable zip reader (local headers only)
 *
 * The first 8 bytes of every gzip/zlib output and zip entry are looked at
 * again: gzip or zlib magic there adds one inner layer ("gzip>gzip",
 * "zip>gzip", ...).  Zip magic there, or compression magic in the output
 * of the inner layer, ends that document with DM_EUNSUPP "nested archive"
 * (SPECS ADV-40); so does any inner layer when max_layers is 1.  A
 * document's doc_begin is called once those 8 bytes (or the end of the
 * document) have been seen, so the layers it reports are final.
 *
 *   outer producer --> gate 1 --+--> sink                 (one layer)
 *   (reader / gzip /            +--> inner inflate --> gate 2 --> sink
 *    zlib / zip entry)
 *
 * Memory is fixed whatever the input: a 4 KiB head, a 64 KiB input
 * buffer, 64 KiB of output per layer, two inflate windows and
 * libarchive's own fixed buffers.  ISIZE and the zip size fields are
 * never used for limits; bytes actually produced are counted.
 *
 * Limits (struct unpack_limits), checked before bytes go on to the next
 * stage, so the sink never sees more than max_out bytes:
 *
 *   max_out      every byte produced by every layer counts (gzip>gzip
 *                counts the inner gzip bytes and the XML); plain input
 *                counts its bytes once.  Over it: the document ends with
 *                DM_ELIMIT "decompressed size limit exceeded (N bytes)",
 *                N being max_out, and unpack_run returns DM_ELIMIT with
 *                the same reason: the budget is shared, so nothing after
 *                it could be read anyway.
 *   max_ratio    once the output count is above check_after, output /
 *                attachment bytes consumed must not be above max_ratio;
 *                else DM_ELIMIT "compression ratio above 1100:1", handled
 *                as max_out.  Not applied to plain input.  gzip and zlib
 *                count the bytes inflate consumed; zip counts the bytes
 *                handed to libarchive (it reads ahead at most 64 KiB, so
 *                the check errs on the lenient side by that much).
 *   max_entries  zip entries, directories included, counted as they are
 *                met: entry max_entries + 1 makes unpack_run return
 *                DM_ELIMIT "too many zip entries (more than 16)".  The
 *                entries before it have been delivered; the caller
 *                rejects the attachment as a whole.
 *   max_layers   clamped to 1..2: at most one inner layer is supported.
 *
 * Document outcomes (doc_end rc and reason; reason is NULL when rc is 0):
 *
 *   DM_ETRUNC   "truncated gzip", "truncated zlib", "truncated zip"
 *   DM_EFORMAT  "gzip CRC mismatch", "gzip length mismatch",
 *               "zlib checksum mismatch", "corrupt gzip data (<zlib msg>)",
 *               "corrupt zlib data (<zlib msg>)", "zip CRC mismatch",
 *               "corrupt zip entry (<libarchive msg, escaped>)"
 *   DM_EUNSUPP  "nested archive", "encrypted zip entry",
 *               "unsupported zip compression method" (anything but
 *               stored and deflate, SPECS ADV-44),
 *               "zlib preset dictionary not supported"
 *   DM_ELIMIT   the two limit reasons above
 *   reader's    "read error (<dm_strerror>)"
 *
 * Return value of unpack_run:
 *
 *   plain, gzip, zlib  the outcome of the one document: 0, or its rc with
 *                      its reason copied to err.
 *   zip                0 when the archive was read to its end (the first
 *                      central directory header ends it: a zip cut inside
 *                      its central directory still returns 0), entries
 *                      that failed on their own - encrypted, unsupported
 *                      method, CRC, nested archive, bad inner gzip - only
 *                      got their doc_end; DM_ELIMIT as above;
 *                      DM_ETRUNC "truncated zip" when the input ended
 *                      inside the archive (documents delivered before were
 *                      complete and verified); an entry error libarchive
 *                      cannot go on from: that entry's rc and reason
 *                      ("corrupt zip entry (...)"); DM_EUNSUPP "encrypted
 *                      zip entry" when an encrypted entry cannot even be
 *                      skipped (data descriptor); DM_EFORMAT "not a valid
 *                      zip archive: <libarchive message, escaped, at most
 *                      120 chars>" when libarchive cannot read the first
 *                      header, or a later one without the input having
 *                      ended; a reader error code with "read error
 *                      (...)".  An empty zip returns 0 with no documents.
 *   any                a negative code a sink callback returned, with
 *                      "aborted by sink (<dm_strerror>)" in err.
 *
 * Sink contract: every doc_begin is followed by exactly one doc_end,
 * unless doc_end itself aborted.  When doc_begin or doc_data aborts,
 * doc_end(that code, "aborted by sink") is still called.  DM_ESTOP from
 * doc_begin or doc_data skips the rest of the document: doc_end(0, NULL)
 * if nothing went wrong before, and the next zip entry follows (gzip,
 * zlib and plain input stop reading and return 0).  The rest of a
 * stored or deflate zip entry that ended early (stopped, nested archive)
 * is still read and counted against the limits before the next entry,
 * so skipping cannot be used to inflate a bomb unseen; encrypted and
 * unsupported entries are skipped by libarchive without decoding.
 * Warnings (warn):
 * "trailing garbage after gzip data (N bytes)" (also "zlib data"; the
 * document still succeeds), "zip directory entry skipped", "zip entry
 * skipped (not a regular file)".
 *
 * Zip entry names are display only (cut to DM_MAX_ENTRY_NAME bytes at a
 * UTF-8 boundary); nothing here touches the filesystem.
 *
 * Functions: unpack_limits_default, unpack_run, unpack_zip_entries.  Logs nothing itself:
 * reasons and warnings go to the caller.
 */
#define ZLIB_CONST
#include "parse/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/limits.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "parse/sniff.h"

#define UNPACK_BUF (64 * 1024)
#define GATE_BYTES 8 /* enough for every magic sniff.h knows of */
#define REASON_MAX 192
#define LIBMSG_MAX 121 /* escaped library message: 120 chars + NUL */

/* Internal: the current document ended early (failed or skipped); its
 * outcome is in struct doc.  Never returned by unpack_run. */
#define DOC_DONE 1

enum infl_kind { INFL_GZIP, INFL_ZLIB };
enum infl_state { INFL_MEMBER, INFL_BETWEEN, INFL_TRAILING };

/* One inflate layer, fed by pushing bytes into it. */
struct infl {
	z_stream zs;
	enum infl_kind kind;
	enum infl_state state;
	int level;          /* output goes to gate 1 or gate 2 */
	int outer;          /* consumed bytes count as attachment input */
	int live;           /* inflateInit2 done, inflateEnd due */
	unsigned char pend; /* a lone byte after a member, undecided */
	int npend;
	uint64_t trailing; /* bytes after the last member */
	gz_header gzh;
	char name[DM_MAX_ENTRY_NAME + 1];
	unsigned char out[UNPACK_BUF];
};

/* Clear an inflater's state, not its output buffer. */
static void
infl_clear(struct infl *I)
{
	memset(I, 0, offsetof(struct infl, out));
}

enum gate_route { ROUTE_SINK, ROUTE_INNER };

/* Holds the first bytes of a layer's output until they are sniffed. */
struct gate {
	unsigned char head[GATE_BYTES];
	size_t n;
	int decided;
	enum gate_route route;
};

struct doc {
	int begun;   /* doc_begin called */
	int closed;  /* doc_end called */
	int done;    /* no more bytes wanted: failed or stopped */
	int stopped; /* the sink said DM_ESTOP */
	int rc;      /* outcome when failed */
	int gz_name; /* take the name from the outer gzip header */
	const char *name;
	char namebuf[DM_MAX_ENTRY_NAME + 1];
	char layers[32];
	struct gate g1, g2;
	char reason[REASON_MAX];
};

struct unpack {
	struct dm_reader *in;
	struct unpack_limits lim;
	unsigned max_layers;
	const struct unpack_sink *sink;
	char *err;
	size_t errlen;

	unsigned char head[DM_SNIFF_BYTES];
	size_t headlen;
	int head_given;
	int eof;
	int rd_err;
	uint64_t nread;   /* bytes taken from the reader */
	uint64_t in_used; /* of those, consumed by the outer inflate */
	uint64_t out;     /* bytes produced by all layers */
	int ratio_on;
	int is_zip;

	struct doc doc;
	struct infl outer;
	struct infl inner;
	unsigned char inbuf[UNPACK_BUF];
	unsigned char zbuf[UNPACK_BUF];
};

void
unpack_limits_default(struct unpack_limits *l)
{
	l->max_out = DM_MAX_DECOMPRESSED_BYTES;
	l->max_ratio = DM_MAX_COMPRESSION_RATIO;
	l->check_after = DM_RATIO_CHECK_AFTER;
	l->max_entries = DM_MAX_ZIP_ENTRIES;
	l->max_layers = DM_MAX_ARCHIVE_LAYERS;
}

/* ---- small helpers ----------------------------------------------------- */

static void set_err(struct unpack *u, const char *fmt, ...) DM_PRINTF(2, 3);
static void warnf(struct unpack *u, const char *fmt, ...) DM_PRINTF(2, 3);
static int doc_fail(struct unpack *u, int rc, const char *fmt, ...) DM_PRINTF(3, 4);

static void
set_err(struct unpack *u, const char *fmt, ...)
{
	if (!u->err || u->errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->err, u->errlen, fmt, ap);
	va_end(ap);
}

static void
warnf(struct unpack *u, const char *fmt, ...)
{
	if (!u->sink->warn)
		return;
	char msg[REASON_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	u->sink->warn(u->sink->arg, msg);
}

/* A library message, escaped and cut for a reason string. */
static void
lib_msg(char *out, size_t outlen, const char *msg)
{
	if (!msg)
		msg = "unknown error";
	dm_log_escape(out, outlen, msg, strlen(msg));
}

static void
copy_name(char *dst, const char *src)
{
	size_t n = strnlen(src, DM_MAX_ENTRY_NAME + 1);
	if (n > DM_MAX_ENTRY_NAME) {
		n = DM_MAX_ENTRY_NAME;
		/* do not cut a UTF-8 sequence in two */
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static voidpf
z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	/* zlib does not need zeroed memory (its own default uses malloc) */
	return xmalloc((size_t)items * size);
}

static void
z_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	free(p);
}

/* ---- the current document ---------------------------------------------- */

static void
doc_reset(struct unpack *u, const char *name, const char *layers)
{
	struct doc *d = &u->doc;
	memset(d, 0, sizeof *d);
	if (name) {
		copy_name(d->namebuf, name);
		d->name = d->namebuf;
	}
	snprintf(d->layers, sizeof d->layers, "%s", layers);
}

static int
doc_fail(struct unpack *u, int rc, const char *fmt, ...)
{
	struct doc *d = &u->doc;
	if (!d->done) {
		d->done = 1;
		d->rc = rc;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d->reason, sizeof d->reason, fmt, ap);
		va_end(ap);
	}
	return DOC_DONE;
}

/* A sink callback returned an abort code: close the document, report. */
static int
sink_abort(struct unpack *u, int rc)
{
	struct doc *d = &u->doc;
	set_err(u, "aborted by sink (%s)", dm_strerror(rc));
	if (d->begun && !d->closed) {
		d->closed = 1;
		(void)u->sink->doc_end(u->sink->arg, rc, "aborted by sink");
	}
	return rc;
}

static const char *
doc_name(struct unpack *u)
{
	struct doc *d = &u->doc;
	if (d->name)
		return d->name;
	if (d->gz_name && u->outer.live && u->outer.gzh.done == 1 && u->outer.name[0])
		return u->outer.name;
	return NULL;
}

static int
doc_begin_now(struct unpack *u)
{
	struct doc *d = &u->doc;
	d->begun = 1;
	int r = u->sink->doc_begin(u->sink->arg, doc_name(u), d->layers);
	if (r == DM_ESTOP) {
		if (!d->done) {
			d->done = 1;
			d->stopped = 1;
		}
		return DOC_DONE;
	}
	if (r < 0)
		return sink_abort(u, r);
	return 0;
}

static int
sink_data(struct unpack *u, const void *buf, size_t len)
{
	struct doc *d = &u->doc;
	if (d->done)
		return DOC_DONE;
	if (len == 0)
		return 0;
	int r = u->sink->doc_data(u->sink->arg, buf, len);
	if (r == DM_ESTOP) {
		d->done = 1;
		d->stopped = 1;
		return DOC_DONE;
	}
	if (r < 0)
		return sink_abort(u, r);
	return 0;
}

/* doc_begin if it was not called yet, then doc_end.  0 or an abort. */
static int
doc_close(struct unpack *u)
{
	struct doc *d = &u->doc;
	int r;
	if (d->closed)
		return 0;
	if (!d->begun) {
		r = doc_begin_now(u);
		if (r < 0)
			return r;
	}
	d->closed = 1;
	int rc = d->stopped ? 0 : d->rc;
	r = u->sink->doc_end(u->sink->arg, rc, rc ? d->reason : NULL);
	if (r < 0) {
		set_err(u, "aborted by sink (%s)", dm_strerror(r));
		return r;
	}
	return 0;
}

/* The outcome of a document that is also the whole container. */
static int
doc_result(struct unpack *u)
{
	struct doc *d = &u->doc;
	int rc = d->stopped ? 0 : d->rc;
	if (rc)
		set_err(u, "%s", d->reason);
	return rc;
}

/* ---- limits ------------------------------------------------------------- */

/* Count len more bytes of output; DM_ELIMIT with why filled when a limit
 * would be passed (then nothing is counted). */
static int
over_limit(struct unpack *u, size_t len, char *why, size_t whylen)
{
	const struct unpack_limits *l = &u->lim;
	if (u->out > l->max_out || l->max_out - u->out < len) {
		snprintf(why, whylen, "decompressed size limit exceeded (%" PRIu64 " bytes)",
		         l->max_out);
		return DM_ELIMIT;
	}
	uint64_t out = u->out + len;
	if (u->ratio_on && out > l->check_after) {
		uint64_t in = u->is_zip ? u->nread : u->in_used;
		uint64_t ratio = l->max_ratio;
		if (in == 0)
			in = 1;
		if ((ratio == 0 || in <= UINT64_MAX / ratio) && out > in * ratio) {
			snprintf(why, whylen, "compression ratio above %u:1", l->max_ratio);
			return DM_ELIMIT;
		}
	}
	u->out = out;
	return 0;
}

static int
account(struct unpack *u, size_t len)
{
	char why[REASON_MAX];
	if (over_limit(u, len, why, sizeof why) != 0)
		return doc_fail(u, DM_ELIMIT, "%s", why);
	return 0;
}

/* ---- input --------------------------------------------------------------- */

static int
read_head(struct unpack *u)
{
	while (u->headlen < sizeof u->head) {
		ssize_t n =
		        dm_reader_read(u->in, u->head + u->headlen, sizeof u->head - u->headlen);
		if (n < 0) {
			u->rd_err = (int)n;
			return (int)n;
		}
		if (n == 0) {
			u->eof = 1;
			break;
		}
		if ((size_t)n > sizeof u->head - u->headlen) {
			u->rd_err = DM_EIO;
			return DM_EIO;
		}
		u->headlen += (size_t)n;
		u->nread += (uint64_t)n;
	}
	return 0;
}

/* The next piece of the attachment: the head first, then the reader.
 * Returns its length, 0 at the end, or a negative code. */
static ssize_t
src_next(struct unpack *u, const unsigned char **p)
{
	*p = u->inbuf;
	if (!u->head_given) {
		u->head_given = 1;
		if (u->headlen) {
			*p = u->head;
			return (ssize_t)u->headlen;
		}
	}
	if (u->rd_err)
		return u->rd_err;
	if (u->eof)
		return 0;
	ssize_t n = dm_reader_read(u->in, u->inbuf, sizeof u->inbuf);
	if (n < 0) {
		u->rd_err = (int)n;
		return n;
	}
	if (n == 0) {
		u->eof = 1;
		return 0;
	}
	if ((size_t)n > sizeof u->inbuf) {
		u->rd_err = DM_EIO;
		return DM_EIO;
	}
	u->nread += (uint64_t)n;
	return n;
}

/* ---- inflate layers ----------------------------------------------------- */

static int gate_push(struct unpack *u, int level, const unsigned char *buf, size_t len);

static const char *
infl_name(const struct infl *I)
{
	return I->kind == INFL_GZIP ? "gzip" : "zlib";
}

static int
infl_init(struct unpack *u, struct infl *I, enum infl_kind kind, int level, int outer)
{
	memset(&I->zs, 0, sizeof I->zs);
	I->zs.zalloc = z_alloc;
	I->zs.zfree = z_free;
	I->kind = kind;
	I->state = INFL_MEMBER;
	I->level = level;
	I->outer = outer;
	I->npend = 0;
	I->trailing = 0;
	I->live = 0;
	if (inflateInit2(&I->zs, kind == INFL_GZIP ? 15 + 16 : 15) != Z_OK)
		return doc_fail(u, DM_EINVAL, "%s decoder cannot start", infl_name(I));
	I->live = 1;
	if (kind == INFL_GZIP && outer) {
		memset(&I->gzh, 0, sizeof I->gzh);
		memset(I->name, 0, sizeof I->name);
		I->gzh.name = (Bytef *)I->name;
		I->gzh.name_max = DM_MAX_ENTRY_NAME; /* the last byte stays NUL */
		(void)inflateGetHeader(&I->zs, &I->gzh);
	}
	return 0;
}

static void
infl_end(struct infl *I)
{
	if (I->live)
		(void)inflateEnd(&I->zs);
	I->live = 0;
}

static int
infl_data_error(struct unpack *u, struct infl *I)
{
	const char *m = I->zs.msg ? I->zs.msg : "unknown error";
	if (strcmp(m, "incorrect data check") == 0)
		return doc_fail(u, DM_EFORMAT,
		                I->kind == INFL_GZIP ? "gzip CRC mismatch"
		                                     : "zlib checksum mismatch");
	if (strcmp(m, "incorrect length check") == 0)
		return doc_fail(u, DM_EFORMAT, "gzip length mismatch");
	return doc_fail(u, DM_EFORMAT, "corrupt %s data (%s)", infl_name(I), m);
}

/* Inflate buf while inside a member; *used gets the bytes consumed. */
static int
infl_run(struct unpack *u, struct infl *I, const unsigned char *buf, size_t len, size_t *used,
         int count)
{
	z_stream *zs = &I->zs;
	zs->next_in = buf;
	zs->avail_in = (uInt)len; /* len <= UNPACK_BUF */
	*used = 0;
	for (;;) {
		uInt before = zs->avail_in;
		zs->next_out = I->out;
		zs->avail_out = sizeof I->out;
		int zr = inflate(zs, Z_NO_FLUSH);
		size_t got = sizeof I->out - zs->avail_out;
		*used += before - zs->avail_in;
		if (count)
			u->in_used += before - zs->avail_in;
		if (got) {
			int r = account(u, got);
			if (r)
				return r;
			r = gate_push(u, I->level, I->out, got);
			if (r)
				return r;
		}
		switch (zr) {
		case Z_STREAM_END:
			I->state = I->kind == INFL_GZIP ? INFL_BETWEEN : INFL_TRAILING;
			return 0;
		case Z_OK:
			if (zs->avail_in == 0 && zs->avail_out != 0)
				return 0;
			if (got == 0 && before == zs->avail_in)
				return doc_fail(u, DM_EFORMAT, "corrupt %s data (no progress)",
				                infl_name(I));
			continue;
		case Z_BUF_ERROR:
			return 0; /* wants more input; infl_feed checks */
		case Z_NEED_DICT:
			return doc_fail(u, DM_EUNSUPP, "zlib preset dictionary not supported");
		case Z_DATA_ERROR:
			return infl_data_error(u, I);
		default:
			return doc_fail(u, DM_EFORMAT, "corrupt %s data (error %d)", infl_name(I),
			                zr);
		}
	}
}

/* Push compressed bytes into a layer. */
static int
infl_feed(struct unpack *u, struct infl *I, const unsigned char *buf, size_t len)
{
	int count = I->outer;
	while (len > 0) {
		size_t used;
		int r;
		switch (I->state) {
		case INFL_MEMBER:
			r = infl_run(u, I, buf, len, &used, count);
			buf += used;
			len -= used;
			if (r)
				return r;
			if (I->state == INFL_MEMBER && len > 0)
				return doc_fail(u, DM_EFORMAT, "corrupt %s data (stalled)",
				                infl_name(I));
			break;
		case INFL_BETWEEN:
			/* Another member, or trailing bytes?  Two bytes decide. */
			if (I->npend == 0 && len == 1) {
				I->pend = buf[0];
				I->npend = 1;
				if (count)
					u->in_used++;
				buf++;
				len--;
				break;
			}
			unsigned char b0 = I->npend ? I->pend : buf[0];
			unsigned char b1 = I->npend ? buf[0] : buf[1];
			if (b0 == 0x1f && b1 == 0x8b) {
				(void)inflateReset(&I->zs);
				I->state = INFL_MEMBER;
				if (I->npend) {
					I->npend = 0;
					/* already counted as input when it was kept */
					r = infl_run(u, I, &I->pend, 1, &used, 0);
					if (r)
						return r;
				}
			} else {
				I->state = INFL_TRAILING;
				I->trailing += (uint64_t)I->npend;
				I->npend = 0;
			}
			break;
		case INFL_TRAILING:
			I->trailing += len;
			if (count)
				u->in_used += len;
			len = 0;
			break;
		}
	}
	return 0;
}

/* The layer's input ended. */
static int
infl_finish(struct unpack *u, struct infl *I)
{
	switch (I->state) {
	case INFL_MEMBER:
		return doc_fail(u, DM_ETRUNC, "truncated %s", infl_name(I));
	case INFL_BETWEEN:
		I->trailing += (uint64_t)I->npend;
		I->npend = 0;
		break;
	case INFL_TRAILING:
		break;
	}
	if (I->trailing)
		warnf(u, "trailing garbage after %s data (%" PRIu64 " bytes)", infl_name(I),
		      I->trailing);
	return 0;
}

/* ---- gates: sniff a layer's output, then route it ------------------------ */

static int
gate_route(struct unpack *u, int level, const unsigned char *buf, size_t len)
{
	if (level == 1 && u->doc.g1.route == ROUTE_INNER)
		return infl_feed(u, &u->inner, buf, len);
	return sink_data(u, buf, len);
}

static int
gate_decide(struct unpack *u, int level)
{
	struct doc *d = &u->doc;
	struct gate *g = level == 1 ? &d->g1 : &d->g2;
	g->decided = 1;
	g->route = ROUTE_SINK;
	enum sniff_kind k = sniff_bytes(g->head, g->n, NULL);
	int packed = k == SNIFF_GZIP || k == SNIFF_ZLIB || k == SNIFF_ZIP;
	int r;
	if (level == 1) {
		if (packed && (k == SNIFF_ZIP || u->max_layers < 2))
			return doc_fail(u, DM_EUNSUPP, "nested archive");
		if (packed) {
			enum infl_kind ik = k == SNIFF_GZIP ? INFL_GZIP : INFL_ZLIB;
			size_t l = strlen(d->layers);
			snprintf(d->layers + l, sizeof d->layers - l, ">%s",
			         ik == INFL_GZIP ? "gzip" : "zlib");
			infl_end(&u->inner);
			r = infl_init(u, &u->inner, ik, 2, 0);
			if (r)
				return r;
			g->route = ROUTE_INNER;
		}
		r = doc_begin_now(u);
		if (r)
			return r;
	} else if (packed) {
		return doc_fail(u, DM_EUNSUPP, "nested archive");
	}
	if (g->n == 0)
		return 0;
	return gate_route(u, level, g->head, g->n);
}

static int
gate_push(struct unpack *u, int level, const unsigned char *buf, size_t len)
{
	struct doc *d = &u->doc;
	struct gate *g = level == 1 ? &d->g1 : &d->g2;
	if (d->done)
		return DOC_DONE;
	if (!g->decided) {
		size_t take = GATE_BYTES - g->n;
		if (take > len)
			take = len;
		memcpy(g->head + g->n, buf, take);
		g->n += take;
		buf += take;
		len -= take;
		if (g->n < GATE_BYTES)
			return 0;
		int r = gate_decide(u, level);
		if (r)
			return r;
	}
	if (len == 0)
		return 0;
	return gate_route(u, level, buf, len);
}

/* The outer layer's output for this document ended normally. */
static int
doc_flush(struct unpack *u)
{
	struct doc *d = &u->doc;
	int r;
	if (d->done)
		return DOC_DONE;
	if (!d->g1.decided) {
		r = gate_decide(u, 1);
		if (r)
			return r;
	}
	if (d->g1.route == ROUTE_INNER) {
		r = infl_finish(u, &u->inner);
		if (r)
			return r;
		if (!d->g2.decided) {
			r = gate_decide(u, 2);
			if (r)
				return r;
		}
	}
	return 0;
}

/* ---- containers ---------------------------------------------------------- */

static int
run_plain(struct unpack *u)
{
	struct doc *d = &u->doc;
	doc_reset(u, NULL, "");
	int r = doc_begin_now(u);
	if (r < 0)
		return r;
	while (!d->done) {
		const unsigned char *p;
		ssize_t n = src_next(u, &p);
		if (n < 0) {
			doc_fail(u, (int)n, "read error (%s)", dm_strerror((int)n));
			break;
		}
		if (n == 0)
			break;
		if (account(u, (size_t)n))
			break;
		r = sink_data(u, p, (size_t)n);
		if (r < 0)
			return r;
	}
	r = doc_close(u);
	return r < 0 ? r : doc_result(u);
}

static int
run_infl(struct unpack *u, enum infl_kind kind)
{
	struct doc *d = &u->doc;
	int r;
	u->ratio_on = 1;
	doc_reset(u, NULL, kind == INFL_GZIP ? "gzip" : "zlib");
	d->gz_name = kind == INFL_GZIP;
	r = infl_init(u, &u->outer, kind, 1, 1);
	while (r == 0) {
		const unsigned char *p;
		ssize_t n = src_next(u, &p);
		if (n < 0) {
			r = doc_fail(u, (int)n, "read error (%s)", dm_strerror((int)n));
			break;
		}
		if (n == 0) {
			r = infl_finish(u, &u->outer);
			if (r == 0)
				r = doc_flush(u);
			break;
		}
		r = infl_feed(u, &u->outer, p, (size_t)n);
	}
	if (r < 0)
		return r;
	r = doc_close(u);
	return r < 0 ? r : doc_result(u);
}

static la_ssize_t
zip_read_cb(struct archive *a, void *ctx, const void **buf)
{
	struct unpack *u = ctx;
	const unsigned char *p;
	ssize_t n = src_next(u, &p);
	*buf = p;
	if (n < 0) {
		archive_set_error(a, EIO, "read error");
		return -1;
	}
	return n;
}

/* Did libarchive fail because the input ended?  It says so ("Truncated
 * ZIP file data"), or zlib ran out of input (Z_BUF_ERROR, -5), or it
 * failed without a message after the reader reached its end. */
static int
zip_truncated(struct unpack *u, const char *m)
{
	if (!m || !*m)
		return u->eof;
	return strstr(m, "runcated") != NULL || strstr(m, "failed (-5)") != NULL;
}

/* The archive itself cannot be read on. */
static int
zip_broken(struct unpack *u, struct archive *a, unsigned entries)
{
	const char *m = archive_error_string(a);
	if (u->rd_err) {
		set_err(u, "read error (%s)", dm_strerror(u->rd_err));
		return u->rd_err;
	}
	if (m && (strstr(m, "ncrypt") || strstr(m, "assphrase"))) {
		/* an encrypted entry that cannot even be skipped */
		set_err(u, "encrypted zip entry");
		return DM_EUNSUPP;
	}
	if (entries > 0 && zip_truncated(u, m)) {
		set_err(u, "truncated zip");
		return DM_ETRUNC;
	}
	char msg[LIBMSG_MAX];
	lib_msg(msg, sizeof msg, m);
	set_err(u, "not a valid zip archive: %s", msg);
	return DM_EFORMAT;
}

/* Only stored and deflate are accepted (SPECS ADV-44).  libarchive names
 * the method of the current entry in its format name, "ZIP 2.0
 * (deflation)"; when that name is not in this form, libarchive decides. */
static int
zip_method_ok(struct archive *a)
{
	const char *f = archive_format_name(a);
	if (!f || strncmp(f, "ZIP ", 4) != 0)
		return 1;
	const char *m = strrchr(f, '(');
	if (!m)
		return 1;
	return strcmp(m, "(uncompressed)") == 0 || strcmp(m, "(deflation)") == 0;
}

/* archive_read_data failed with r; 1 when the archive cannot go on. */
static int
zip_data_error(struct unpack *u, struct archive *a, la_ssize_t r)
{
	const char *m = archive_error_string(a);
	char msg[LIBMSG_MAX];
	lib_msg(msg, sizeof msg, m);
	if (u->rd_err) {
		doc_fail(u, u->rd_err, "read error (%s)", dm_strerror(u->rd_err));
		return 1;
	}
	if (zip_truncated(u, m)) {
		doc_fail(u, DM_ETRUNC, "truncated zip");
		return 1;
	}
	if (!m)
		m = "";
	if (r == ARCHIVE_FATAL) {
		doc_fail(u, DM_EFORMAT, "corrupt zip entry (%s)", msg);
		return 1;
	}
	if (strstr(m, "CRC"))
		doc_fail(u, DM_EFORMAT, "zip CRC mismatch");
	else if (strstr(m, "ncrypt"))
		doc_fail(u, DM_EUNSUPP, "encrypted zip entry");
	else if (strstr(m, "ompression method") || strstr(m, "nsupported"))
		doc_fail(u, DM_EUNSUPP, "unsupported zip compression method");
	else
		doc_fail(u, DM_EFORMAT, "corrupt zip entry (%s)", msg);
	return 0;
}

/* Read and drop what is left of a stored or deflate entry whose document
 * ended early.  libarchive's own skip would inflate a deflate entry whose
 * end is only marked by a data descriptor, unseen by the limits; reading
 * it here counts it against max_out and the ratio like any other output.
 * (That costs inflating entries libarchive could have skipped by their
 * compressed size; the limits bound it.) */
static int
zip_drain(struct unpack *u, struct archive *a)
{
	for (;;) {
		la_ssize_t n = archive_read_data(a, u->zbuf, sizeof u->zbuf);
		if (n <= 0)
			return 0; /* next_header tells whether the archive goes on */
		char why[REASON_MAX];
		if (over_limit(u, (size_t)n, why, sizeof why)) {
			set_err(u, "%s", why);
			return DM_ELIMIT;
		}
	}
}

/* The next zip header, and the entry's name into name (NULL when it has
 * none).  libarchive converts names flagged UTF-8 to the locale's
 * charset and gives up on non-ASCII in the C locale the daemon runs in;
 * a UTF-8 LC_CTYPE for this thread during the call (utf8, may be 0)
 * keeps them.  Names without the flag are passed through as bytes. */
static int
zip_next(struct archive *a, struct archive_entry **e, locale_t utf8, char *name, const char **namep)
{
	locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
	int r = archive_read_next_header(a, e);
	*namep = NULL;
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *n = archive_entry_pathname(*e);
		if (!n)
			n = archive_entry_pathname_utf8(*e);
		if (n) {
			copy_name(name, n);
			*namep = name;
		}
	}
	if (utf8)
		(void)uselocale(old);
	return r;
}

/* One regular-file entry: one document. */
static int
zip_entry(struct unpack *u, struct archive *a, struct archive_entry *e, const char *name)
{
	struct doc *d = &u->doc;
	int fatal = 0, at_end = 0, r = 0;
	doc_reset(u, name, "zip");

	/* Entries not read are left to libarchive's skip, which decodes
	 * nothing but deflate: it consumes the compressed size, or scans
	 * for the data descriptor. */
	if (archive_entry_is_encrypted(e)) {
		doc_fail(u, DM_EUNSUPP, "encrypted zip entry");
		at_end = 1;
	} else if (!zip_method_ok(a)) {
		doc_fail(u, DM_EUNSUPP, "unsupported zip compression method");
		at_end = 1;
	}
	while (!d->done) {
		la_ssize_t n = archive_read_data(a, u->zbuf, sizeof u->zbuf);
		if (n == 0) {
			at_end = 1;
			r = doc_flush(u);
			break;
		}
		if (n < 0) {
			at_end = 1;
			fatal = zip_data_error(u, a, n);
			break;
		}
		r = account(u, (size_t)n);
		if (r)
			break;
		r = gate_push(u, 1, u->zbuf, (size_t)n);
		if (r)
			break;
	}
	if (r < 0)
		return r;
	r = doc_close(u);
	if (r < 0)
		return r;
	if (fatal || (!d->stopped && d->rc == DM_ELIMIT)) {
		set_err(u, "%s", d->reason);
		return d->rc;
	}
	if (!at_end)
		return zip_drain(u, a);
	return 0;
}

static int
run_zip(struct unpack *u)
{
	struct archive *a = archive_read_new();
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	char name[DM_MAX_ENTRY_NAME + 1];
	unsigned entries = 0;
	int rc = 0;
	if (!a) {
		fprintf(stderr, "dmarcd: fatal: out of memory (libarchive)\n");
		abort();
	}
	u->ratio_on = 1;
	u->is_zip = 1;
	(void)archive_read_support_format_zip_streamable(a);
	if (archive_read_open(a, u, NULL, zip_read_cb, NULL) != ARCHIVE_OK) {
		rc = zip_broken(u, a, 0);
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		const char *ename;
		int r = zip_next(a, &e, utf8, name, &ename);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = zip_broken(u, a, entries);
			break;
		}
		if (++entries > u->lim.max_entries) {
			set_err(u, "too many zip entries (more than %u)", u->lim.max_entries);
			rc = DM_ELIMIT;
			break;
		}
		mode_t type = archive_entry_filetype(e);
		if (type == AE_IFDIR) {
			warnf(u, "zip directory entry skipped");
			continue;
		}
		if (type != AE_IFREG) {
			warnf(u, "zip entry skipped (not a regular file)");
			continue;
		}
		rc = zip_entry(u, a, e, ename);
		if (rc < 0)
			break;
	}
out:
	archive_read_free(a);
	if (utf8)
		freelocale(utf8);
	return rc;
}

int
unpack_run(struct dm_reader *in, const struct unpack_limits *lim, const struct unpack_sink *sink,
           char *err, size_t errlen)
{
	/* about 200 KiB of buffers: only the bookkeeping is cleared, zeroing
	 * the buffers for every small attachment showed up in profiles */
	struct unpack *u = xmalloc(sizeof *u);
	int rc;
	memset(u, 0, offsetof(struct unpack, doc));
	memset(&u->doc, 0, sizeof u->doc);
	infl_clear(&u->outer);
	infl_clear(&u->inner);
	u->in = in;
	u->lim = *lim;
	u->max_layers = lim->max_layers < 1 ? 1 : lim->max_layers > 2 ? 2 : lim->max_layers;
	u->sink = sink;
	u->err = err;
	u->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';

	rc = read_head(u);
	if (rc < 0) {
		set_err(u, "read error (%s)", dm_strerror(rc));
		goto out;
	}
	switch (sniff_bytes(u->head, u->headlen, NULL)) {
	case SNIFF_GZIP:
		rc = run_infl(u, INFL_GZIP);
		break;
	case SNIFF_ZLIB:
		rc = run_infl(u, INFL_ZLIB);
		break;
	case SNIFF_ZIP:
		rc = run_zip(u);
		break;
	default:
		rc = run_plain(u);
		break;
	}
out:
	infl_end(&u->outer);
	infl_end(&u->inner);
	free(u);
	return rc;
}

int
unpack_zip_entries(const unsigned char *tail, size_t len, uint64_t *count)
{
	/* the record starts with PK\5\6 and its comment runs to the end */
	if (len < 22)
		return DM_ENOTFOUND;
	for (size_t i = len - 22 + 1; i-- > 0;) {
		const unsigned char *p = tail + i;
		if (p[0] != 'P' || p[1] != 'K' || p[2] != 5 || p[3] != 6)
			continue;
		size_t comment = (size_t)p[20] | (size_t)p[21] << 8;
		if (i + 22 + comment != len)
			continue; /* "PK\5\6" inside a comment or data */
		*count = (uint64_t)p[10] | (uint64_t)p[11] << 8; /* total entries */
		return 0;
	}
	return DM_ENOTFOUND;
}
