/*
 * mime.c - walk the leaf parts of a message or an mbox with GMime.
 *
 * A message is read twice.  First a streaming pre-scan (prescan_*) reads
 * the raw bytes once with a fixed buffer and mirrors just enough of
 * GMime's multipart parser to enforce the limits of limits.h *before*
 * GMime builds its tree: GMime keeps every header block and every part
 * object in memory (about 1.4 KiB per part; 100,000 empty parts cost it
 * 135 MB) and only caps nesting at 1024, so a bomb must never reach it.
 * The pre-scan checks, for every header block it finds (the message
 * header, each part header, the header of each unencoded message/rfc822):
 *
 *   - at most DM_MAX_HEADER_BYTES bytes and DM_MAX_HEADER_FIELDS fields
 *     ("header block too large");
 *   - multipart nesting, counted through unencoded message/rfc822 parts,
 *     at most DM_MAX_MIME_DEPTH ("MIME nesting deeper than 16");
 *   - at most DM_MAX_MIME_PARTS leaves ("more than 1000 MIME parts");
 *   - boundaries of at most 998 octets (RFC 2046 allows 70; a longer one
 *     could not be matched with the bounded line buffer).
 *
 * It follows GMime's rules: a header block ends at an empty line or at a
 * delimiter of an open multipart; the last Content-Type of a block wins;
 * a delimiter is "--" boundary ["--"] followed by blanks, matched against
 * the open multiparts innermost first, and a parent's delimiter closes the
 * children; message/rfc822, message/news and message/global parts that
 * are not base64, quoted-printable or uuencoded hold a header block.
 * Content-Type values are parsed by GMime itself.  Where the two could
 * still disagree the walk below checks the same limits again.
 *
 * Then GMime parses the message over a GMimeStreamFs in persist-stream
 * mode, so part content stays in the file, and walk_object() visits the
 * tree in document order.  Each leaf gets a reader that decodes base64
 * (own decoder: lenient like GMime, but it keeps a final group without
 * padding, which GMime 3.2 drops) or quoted-printable (GMime's decoder)
 * while the callee reads, 16 KiB at a time; every other transfer encoding
 * (7bit, 8bit, binary, x-uuencode, unknown) is passed as is.  A
 * message/rfc822 part that GMime leaves as a leaf because it is encoded is
 * decoded into an unlinked temporary file in $TMPDIR (or /tmp) and parsed
 * the same way, pre-scan included.
 *
 * An mbox is cut at every line that starts with "From " (what GMime's
 * GMIME_FORMAT_MBOX does); each message is pre-scanned and then parsed
 * with GMIME_FORMAT_MBOX over a substream that ends where the next message
 * starts, so a bad message is skipped and the walk goes on.
 *
 * Functions: mime_walk_fd, mime_walk_mbox_fd, mime_global_init,
 * mime_global_shutdown.
 *
 * Logs nothing: reasons go to the caller's err buffer, oddities to
 * sink->warn (prefixed "message N: " in an mbox), without attacker bytes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkostemp, O_TMPFILE (CMake sets it) */
#endif
#include "parse/mime.h"

#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/xalloc.h"

/* Bytes read per pre-scan step and per content read. */
#define PRESCAN_CHUNK 65536
#define PART_CHUNK 16384

/* Longest boundary the pre-scan accepts: RFC 5322 lines are at most 998
 * octets and RFC 2046 boundaries at most 70.  Lines are compared through
 * a LINE_KEEP head, which must hold "--" boundary "--". */
#define LINE_KEEP 1024

/* ---- pre-scan ------------------------------------------------------- */

enum { FIELD_OTHER, FIELD_CTYPE, FIELD_CTE };

struct prescan {
	int fd;
	int mbox;            /* stop at the next line starting "From " */
	int skip;            /* only look for "From " lines */
	int depth_base;      /* multipart depth of the enclosing parts */
	unsigned max_leaves; /* leaves still allowed */
	int rc;              /* first failure, latched */
	char reason[128];
	off_t start;    /* offset of the first byte */
	off_t pos;      /* offset of the next byte */
	off_t line_off; /* offset of the current line */
	off_t end;      /* result: where this message ends */
	off_t next;     /* result: where the next one starts */
	int at_eof;     /* result: it ends at end of file */
	int prev_cr;    /* the previous line ended in CR LF */
	int first_line; /* the current line is the mbox From line */
	/* the current line */
	unsigned char head[LINE_KEEP];
	size_t headlen;      /* bytes kept in head */
	size_t linelen;      /* bytes seen, without the LF */
	size_t nonws;        /* length up to the last non-blank byte */
	int dash;            /* the line starts with '-' */
	unsigned char last;  /* its last byte so far */
	struct dm_buf hline; /* a whole header line */
	/* the current header block */
	int in_header;
	size_t hdr_bytes;
	unsigned hdr_fields;
	int field;
	struct dm_buf ctype; /* last Content-Type value, unfolded */
	struct dm_buf cte;   /* last Content-Transfer-Encoding value */
	/* open multiparts, outermost first */
	char *bound[DM_MAX_MIME_DEPTH];
	size_t boundlen[DM_MAX_MIME_DEPTH];
	int nbound;
	unsigned leaves;
	/* in a multipart's preamble or epilogue, which GMime keeps in memory */
	int in_gap;
	size_t gap_bytes;
	unsigned char buf[PRESCAN_CHUNK];
};

static int
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static void DM_PRINTF(3, 4) prescan_fail(struct prescan *ps, int code, const char *fmt, ...)
{
	va_list ap;
	if (ps->rc)
		return;
	ps->rc = code;
	va_start(ap, fmt);
	vsnprintf(ps->reason, sizeof ps->reason, fmt, ap);
	va_end(ap);
}

static void
prescan_new_block(struct prescan *ps)
{
	ps->in_header = 1;
	ps->hdr_bytes = 0;
	ps->hdr_fields = 0;
	ps->field = FIELD_OTHER;
	dm_buf_reset(&ps->ctype);
	dm_buf_reset(&ps->cte);
}

/* Which open multipart, innermost first, the line p[0..len) (trailing
 * blanks removed) delimits; -1 for none.  *close is set for "--b--". */
static int
prescan_match(const struct prescan *ps, const unsigned char *p, size_t len, int *close)
{
	if (ps->nbound == 0 || len < 2 || p[0] != '-' || p[1] != '-')
		return -1;
	for (int i = ps->nbound - 1; i >= 0; i--) {
		size_t bl = ps->boundlen[i];
		if (len == bl + 4 && memcmp(p + 2, ps->bound[i], bl) == 0 && p[bl + 2] == '-' &&
		    p[bl + 3] == '-') {
			*close = 1;
			return i;
		}
		if (len == bl + 2 && memcmp(p + 2, ps->bound[i], bl) == 0) {
			*close = 0;
			return i;
		}
	}
	return -1;
}

/* A delimiter of open multipart i: children end; a close delimiter ends
 * i too (its epilogue follows), any other starts a part header block. */
static void
prescan_delimiter(struct prescan *ps, int i, int close)
{
	int keep = close ? i : i + 1;
	while (ps->nbound > keep) {
		ps->nbound--;
		free(ps->bound[ps->nbound]);
	}
	if (close)
		ps->in_header = 0;
	else
		prescan_new_block(ps);
	ps->in_gap = close; /* an epilogue follows a close delimiter */
	ps->gap_bytes = 0;
}

static int
is_message_type(GMimeContentType *ct)
{
	return g_mime_content_type_is_type(ct, "message", "rfc822") ||
	       g_mime_content_type_is_type(ct, "message", "news") ||
	       g_mime_content_type_is_type(ct, "message", "global");
}

/* The header block is complete: decide what its body is. */
static void
prescan_end_block(struct prescan *ps)
{
	GMimeContentType *ct = NULL;
	const char *boundary = NULL;
	int nested = 0;

	ps->in_header = 0;
	if (ps->ctype.len > 0)
		ct = g_mime_content_type_parse(NULL, dm_buf_str(&ps->ctype));
	if (ct && g_mime_content_type_is_type(ct, "multipart", "*"))
		boundary = g_mime_content_type_get_parameter(ct, "boundary");
	if (ct && !boundary && is_message_type(ct)) {
		GMimeContentEncoding enc =
		        g_mime_content_encoding_from_string(dm_buf_str(&ps->cte));
		nested = enc != GMIME_CONTENT_ENCODING_BASE64 &&
		         enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
		         enc != GMIME_CONTENT_ENCODING_UUENCODE;
	}
	if (boundary) {
		size_t bl = strlen(boundary);
		if (bl > DM_MAX_MIME_BOUNDARY)
			prescan_fail(ps, DM_EFORMAT, "MIME boundary longer than %d octets",
			             DM_MAX_MIME_BOUNDARY);
		else if (ps->depth_base + ps->nbound + 1 > DM_MAX_MIME_DEPTH)
			prescan_fail(ps, DM_ELIMIT, "MIME nesting deeper than %d",
			             DM_MAX_MIME_DEPTH);
		else {
			ps->bound[ps->nbound] = xstrndup(boundary, bl);
			ps->boundlen[ps->nbound] = bl;
			ps->nbound++;
			ps->in_gap = 1; /* the preamble */
			ps->gap_bytes = 0;
		}
	} else if (nested) {
		prescan_new_block(ps); /* the enclosed message's header */
	} else if (++ps->leaves > ps->max_leaves) {
		prescan_fail(ps, DM_ELIMIT, "more than %d MIME parts", DM_MAX_MIME_PARTS);
	}
	if (ct)
		g_object_unref(ct);
}

/* "Content-Type" [blanks] ":" -> the value after the colon. */
static int
field_is(const char *line, size_t len, const char *name, size_t *value_off)
{
	size_t n = strlen(name), i;
	if (len < n || g_ascii_strncasecmp(line, name, n) != 0)
		return 0;
	for (i = n; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i == len || line[i] != ':')
		return 0;
	*value_off = i + 1;
	return 1;
}

static void
prescan_header_line(struct prescan *ps)
{
	const char *l = dm_buf_str(&ps->hline);
	size_t len = ps->hline.len, trimmed = len, off;
	int close, i;

	if (ps->hdr_bytes >= DM_MAX_HEADER_BYTES - ps->linelen) {
		prescan_fail(ps, DM_ELIMIT, "header block too large");
		return;
	}
	ps->hdr_bytes += ps->linelen + 1;
	if (len > 0 && l[len - 1] == '\r')
		len--;
	if (len == 0) {
		prescan_end_block(ps);
		return;
	}
	while (trimmed > 0 && is_blank((unsigned char)l[trimmed - 1]))
		trimmed--;
	i = prescan_match(ps, (const unsigned char *)l, trimmed, &close);
	if (i >= 0) {
		/* headers cut short by a delimiter (GMime: part without
		 * content) */
		prescan_end_block(ps);
		if (!ps->rc)
			prescan_delimiter(ps, i, close);
		return;
	}
	if (l[0] == ' ' || l[0] == '\t') {
		struct dm_buf *b = ps->field == FIELD_CTYPE ? &ps->ctype
		                   : ps->field == FIELD_CTE ? &ps->cte
		                                            : NULL;
		/* cannot fail: the block, hence the field, fits the maximum */
		if (b && dm_buf_add(b, l, len) != 0)
			prescan_fail(ps, DM_ELIMIT, "header block too large");
		return;
	}
	if (++ps->hdr_fields > DM_MAX_HEADER_FIELDS) {
		prescan_fail(ps, DM_ELIMIT, "header block too large");
		return;
	}
	ps->field = FIELD_OTHER;
	if (field_is(l, len, "Content-Type", &off)) {
		ps->field = FIELD_CTYPE;
		dm_buf_reset(&ps->ctype);
		if (dm_buf_add(&ps->ctype, l + off, len - off) != 0)
			prescan_fail(ps, DM_ELIMIT, "header block too large");
	} else if (field_is(l, len, "Content-Transfer-Encoding", &off)) {
		ps->field = FIELD_CTE;
		dm_buf_reset(&ps->cte);
		if (dm_buf_add(&ps->cte, l + off, len - off) != 0)
			prescan_fail(ps, DM_ELIMIT, "header block too large");
	}
}

static void
prescan_body_line(struct prescan *ps)
{
	int close, i;
	if (ps->in_gap) {
		ps->gap_bytes += ps->linelen + 1;
		if (ps->gap_bytes > DM_MAX_MIME_PREAMBLE) {
			prescan_fail(ps, DM_ELIMIT, "MIME preamble or epilogue larger than %d bytes",
			             DM_MAX_MIME_PREAMBLE);
			return;
		}
	}
	if (!ps->dash || ps->nonws > ps->headlen)
		return;
	i = prescan_match(ps, ps->head, ps->nonws, &close);
	if (i >= 0)
		prescan_delimiter(ps, i, close);
}

static int
is_from_line(const struct prescan *ps)
{
	return ps->headlen >= 5 && memcmp(ps->head, "From ", 5) == 0;
}

/* Part of the current line (no LF in it). */
static void
prescan_bytes(struct prescan *ps, const unsigned char *p, size_t n)
{
	if (n == 0)
		return;
	if (ps->linelen == 0)
		ps->dash = p[0] == '-';
	ps->last = p[n - 1];
	if (ps->headlen < LINE_KEEP) {
		size_t k = n < LINE_KEEP - ps->headlen ? n : LINE_KEEP - ps->headlen;
		memcpy(ps->head + ps->headlen, p, k);
		ps->headlen += k;
	}
	if (ps->dash && !ps->rc && !ps->skip) {
		for (size_t i = 0; i < n; i++)
			if (!is_blank(p[i]))
				ps->nonws = ps->linelen + i + 1;
	}
	ps->linelen += n;
	if (!ps->in_header || ps->rc || ps->skip || ps->first_line)
		return;
	if (ps->linelen >= DM_MAX_HEADER_BYTES - ps->hdr_bytes) {
		/* in an mbox this may be the next message's From line */
		if (!(ps->mbox && is_from_line(ps)))
			prescan_fail(ps, DM_ELIMIT, "header block too large");
		return;
	}
	if (dm_buf_add(&ps->hline, p, n) != 0)
		prescan_fail(ps, DM_ELIMIT, "header block too large");
}

/* The current line is complete.  Returns 1 when an mbox message ends
 * before it. */
static int
prescan_eol(struct prescan *ps)
{
	if (ps->mbox && !ps->first_line && is_from_line(ps)) {
		/* the line break before "From " belongs to the separator, as
		 * the CR LF before a MIME delimiter belongs to the delimiter */
		ps->next = ps->line_off;
		ps->end = ps->line_off - (ps->prev_cr ? 2 : 1);
		if (ps->end < ps->start)
			ps->end = ps->start;
		return 1;
	}
	if (!ps->first_line && !ps->rc && !ps->skip) {
		if (ps->in_header)
			prescan_header_line(ps);
		else
			prescan_body_line(ps);
	}
	ps->first_line = 0;
	ps->prev_cr = ps->linelen > 0 && ps->last == '\r';
	ps->headlen = ps->linelen = ps->nonws = 0;
	ps->dash = 0;
	dm_buf_reset(&ps->hline);
	ps->line_off = ps->pos;
	return 0;
}

static void
prescan_init(struct prescan *ps, int fd, off_t start, int mbox, int depth_base, unsigned max_leaves)
{
	memset(ps, 0, offsetof(struct prescan, buf));
	ps->fd = fd;
	ps->mbox = mbox;
	ps->first_line = mbox;
	ps->depth_base = depth_base;
	ps->max_leaves = max_leaves;
	ps->start = ps->pos = ps->line_off = start;
	dm_buf_init(&ps->hline, DM_MAX_HEADER_BYTES);
	dm_buf_init(&ps->ctype, DM_MAX_HEADER_BYTES);
	dm_buf_init(&ps->cte, DM_MAX_HEADER_BYTES);
	prescan_new_block(ps);
}

static void
prescan_free(struct prescan *ps)
{
	dm_buf_free(&ps->hline);
	dm_buf_free(&ps->ctype);
	dm_buf_free(&ps->cte);
	while (ps->nbound > 0)
		free(ps->bound[--ps->nbound]);
}

/* Scan from ps->pos to the end of the message (EOF, or in an mbox the
 * next From line).  Returns 0, or DM_EIO; limit failures are in ps->rc.
 * After a failure a single message stops at once, an mbox message is
 * read on to its end so the next one can be found. */
static int
prescan_run(struct prescan *ps)
{
	for (;;) {
		ssize_t n = pread(ps->fd, ps->buf, sizeof ps->buf, ps->pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(ps->reason, sizeof ps->reason, "read error: %s", strerror(errno));
			return DM_EIO;
		}
		if (n == 0)
			break;
		const unsigned char *p = ps->buf, *e = ps->buf + n;
		while (p < e) {
			const unsigned char *nl = memchr(p, '\n', (size_t)(e - p));
			size_t seg = nl ? (size_t)(nl - p) : (size_t)(e - p);
			prescan_bytes(ps, p, seg);
			ps->pos += (off_t)seg;
			p += seg;
			if (!nl)
				break;
			ps->pos++;
			p++;
			if (prescan_eol(ps))
				return 0;
			if (ps->rc && !ps->mbox)
				return 0;
		}
		if (ps->rc && !ps->mbox)
			return 0;
	}
	if (ps->linelen > 0 && prescan_eol(ps))
		return 0; /* a last line without LF that starts a message */
	if (ps->in_header && !ps->rc && !ps->skip)
		prescan_end_block(ps);
	ps->end = ps->next = ps->pos;
	ps->at_eof = 1;
	return 0;
}

/* ---- decoding reader ------------------------------------------------- */

enum { READ_RAW, READ_BASE64, READ_QP };

struct part_reader {
	GMimeStream *raw; /* borrowed: the part's encoded content */
	int mode;
	int eof;
	int ioerr;
	GMimeEncoding qp;
	guint32 acc;             /* base64 bits not yet output */
	int nacc;                /* base64 characters in acc (0-3) */
	int padded;              /* base64 padding seen: the data ended */
	unsigned long garbage;   /* base64 bytes outside the alphabet */
	unsigned long after_pad; /* base64 characters after the padding */
	size_t out_pos, out_len;
	unsigned char in[PART_CHUNK];
	unsigned char out[PART_CHUNK + 64];
};

/* 0-63 for the alphabet, 64 blank, 65 '=', 66 anything else. */
static unsigned
b64_class(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	switch (c) {
	case '+':
		return 62;
	case '/':
		return 63;
	case ' ':
	case '\t':
	case '\r':
	case '\n':
		return 64;
	case '=':
		return 65;
	}
	return 66;
}

/* Write the bytes of a group of 2 or 3 characters (12 or 18 bits). */
static size_t
b64_partial(struct part_reader *r, unsigned char *out)
{
	size_t o = 0;
	if (r->nacc == 2) {
		out[o++] = (unsigned char)(r->acc >> 4);
	} else if (r->nacc == 3) {
		out[o++] = (unsigned char)(r->acc >> 10);
		out[o++] = (unsigned char)(r->acc >> 2);
	}
	r->acc = 0;
	r->nacc = 0;
	return o;
}

/* Lenient base64 (RFC 2045 6.8): blanks are skipped, other bytes outside
 * the alphabet are skipped and counted, padding ends the data (what
 * follows it is counted, not decoded, as GMime does). */
static size_t
b64_step(struct part_reader *r, const unsigned char *in, size_t n, unsigned char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v = b64_class(in[i]);
		if (v == 64)
			continue;
		if (r->padded) {
			if (v != 65)
				r->after_pad++;
		} else if (v < 64) {
			r->acc = (r->acc << 6) | v;
			if (++r->nacc == 4) {
				out[o++] = (unsigned char)(r->acc >> 16);
				out[o++] = (unsigned char)(r->acc >> 8);
				out[o++] = (unsigned char)r->acc;
				r->acc = 0;
				r->nacc = 0;
			}
		} else if (v == 65 && r->nacc >= 2) {
			o += b64_partial(r, out + o);
			r->padded = 1;
		} else {
			r->garbage++; /* '=' in the wrong place counts too */
		}
	}
	return o;
}

/* End of input: a last group without padding still counts (GMime 3.2
 * drops it); a single character cannot make a byte. */
static size_t
b64_flush(struct part_reader *r, unsigned char *out)
{
	if (r->nacc == 1)
		r->garbage++;
	return b64_partial(r, out);
}

/* GMime streams answer -1, not 0, for a read at the end of their bounds. */
static ssize_t
raw_read(struct part_reader *r, void *buf, size_t len)
{
	ssize_t n;
	if (!r->raw || g_mime_stream_eos(r->raw))
		return 0;
	n = g_mime_stream_read(r->raw, buf, len);
	if (n < 0) {
		if (g_mime_stream_eos(r->raw))
			return 0;
		r->ioerr = 1;
		return DM_EIO;
	}
	return n;
}

static ssize_t
part_read(void *ctx, void *buf, size_t len)
{
	struct part_reader *r = ctx;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (r->ioerr)
		return DM_EIO;
	if (r->mode == READ_RAW)
		return raw_read(r, buf, len);
	while (r->out_pos == r->out_len) {
		if (r->eof)
			return 0;
		ssize_t n = raw_read(r, r->in, sizeof r->in);
		if (n < 0)
			return n;
		r->out_pos = 0;
		if (n == 0) {
			r->eof = 1;
			r->out_len = r->mode == READ_BASE64
			                     ? b64_flush(r, r->out)
			                     : g_mime_encoding_flush(&r->qp, "", 0, (char *)r->out);
		} else if (r->mode == READ_BASE64) {
			r->out_len = b64_step(r, r->in, (size_t)n, r->out);
		} else {
			r->out_len = g_mime_encoding_step(&r->qp, (const char *)r->in, (size_t)n,
			                                  (char *)r->out);
		}
	}
	size_t k = r->out_len - r->out_pos;
	if (k > len)
		k = len;
	memcpy(buf, r->out + r->out_pos, k);
	r->out_pos += k;
	return (ssize_t)k;
}

/* A reader over the decoded content of part (empty if it has none); the
 * caller frees the returned state after the reader's last use. */
static struct part_reader *
part_reader_new(GMimePart *part, struct dm_reader *rd)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *raw = w ? g_mime_data_wrapper_get_stream(w) : NULL;
	struct part_reader *r = xmalloc(sizeof *r);
	/* the buffers need no clearing: zeroing 32 KiB per part showed up in
	 * profiles of many small report mails */
	memset(r, 0, offsetof(struct part_reader, in));

	r->raw = raw;
	if (!raw) {
		r->mode = READ_BASE64; /* with eof set: reads nothing */
		r->eof = 1;
	} else {
		g_mime_stream_reset(raw);
		switch (g_mime_data_wrapper_get_encoding(w)) {
		case GMIME_CONTENT_ENCODING_BASE64:
			r->mode = READ_BASE64;
			break;
		case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
			r->mode = READ_QP;
			g_mime_encoding_init_decode(&r->qp, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
			/* the decoder may write a few bytes more than it reads */
			g_assert(g_mime_encoding_outlen(&r->qp, sizeof r->in) <= sizeof r->out);
			break;
		default:
			r->mode = READ_RAW; /* 7bit, 8bit, binary, uuencode, unknown */
			break;
		}
	}
	rd->read = part_read;
	rd->ctx = r;
	return r;
}

/* ---- the walk -------------------------------------------------------- */

struct walk {
	const struct mime_sink *sink;
	unsigned msgno;       /* mbox message number; 0 for one message */
	unsigned leaves;      /* leaves delivered for this message */
	int stopped;          /* a callback returned a negative code */
	int overflow;         /* GMime's own nesting limit was hit */
	unsigned long warned; /* GMime warnings already passed on */
	char reason[DM_MAX_ERROR_LEN];
};

struct scope {
	const char *subject;     /* of the innermost enclosing message */
	const char *report_type; /* of the nearest multipart/report in it */
	int depth;               /* multipart nesting */
	int rfc822;              /* message/rfc822 nesting */
};

static int walk_object(struct walk *w, GMimeObject *obj, const struct scope *sc) DM_WUR;

static int DM_PRINTF(3, 4) walk_fail(struct walk *w, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->reason, sizeof w->reason, fmt, ap);
	va_end(ap);
	return code;
}

static void DM_PRINTF(2, 3) walk_warn(struct walk *w, const char *fmt, ...)
{
	char msg[DM_MAX_ERROR_LEN];
	int n = 0;
	va_list ap;

	if (!w->sink->warn)
		return;
	if (w->msgno)
		n = snprintf(msg, sizeof msg, "message %u: ", w->msgno);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	w->sink->warn(w->sink->arg, msg);
}

/* GMime's parser warnings worth passing on, once per kind and message.
 * The offending bytes (item) are not repeated. */
static void
gmime_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer data)
{
	struct walk *w = data;
	const char *what = NULL;

	(void)item;
	switch (code) {
	case GMIME_WARN_INVALID_CONTENT_TYPE:
		what = "invalid Content-Type, application/octet-stream assumed";
		break;
	case GMIME_WARN_MALFORMED_MULTIPART:
		what = "multipart without parts";
		break;
	case GMIME_WARN_TRUNCATED_MESSAGE:
		what = "truncated message (a closing MIME boundary is missing)";
		break;
	case GMIME_WARN_MALFORMED_MESSAGE:
		what = "malformed message";
		break;
	case GMIME_CRIT_INVALID_HEADER_NAME:
		what = "invalid header line ignored";
		break;
	case GMIME_CRIT_CONFLICTING_HEADER:
		what = "conflicting header fields, the last one used";
		break;
	case GMIME_CRIT_CONFLICTING_PARAMETER:
		what = "conflicting header parameters";
		break;
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		what = "multipart without boundary, its content is ignored";
		break;
	case GMIME_CRIT_NESTING_OVERFLOW:
		w->overflow = 1;
		break;
	case GMIME_WARN_PART_WITHOUT_CONTENT:
		what = "MIME part without content";
		break;
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		what = "MIME part without headers or content";
		break;
	default:
		break; /* 8-bit headers, duplicates, bad addresses: common */
	}
	if (!what || (unsigned)code >= sizeof w->warned * CHAR_BIT)
		return;
	if (w->warned & (1UL << code))
		return;
	w->warned |= 1UL << code;
	if (offset >= 0)
		walk_warn(w, "%s (at byte %lld)", what, (long long)offset);
	else
		walk_warn(w, "%s", what);
}

static char *
lower_mime_type(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *t = ct ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *s = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	char *mt = g_strdup_printf("%s/%s", t ? t : "application", s ? s : "octet-stream");
	char *lower = g_ascii_strdown(mt, -1);
	g_free(mt);
	return lower;
}

static int DM_WUR
walk_leaf(struct walk *w, GMimePart *part, const struct scope *sc)
{
	struct mime_part_info info;
	struct dm_reader rd;
	struct part_reader *r;
	const char *fn, *disp;
	char *ctype, *filename;
	int rc;

	if (w->leaves >= DM_MAX_MIME_PARTS)
		return walk_fail(w, DM_ELIMIT, "more than %d MIME parts", DM_MAX_MIME_PARTS);
	ctype = lower_mime_type((GMimeObject *)part);
	fn = g_mime_part_get_filename(part);
	filename = fn ? xstrdup(fn) : NULL;
	disp = g_mime_object_get_disposition((GMimeObject *)part);

	memset(&info, 0, sizeof info);
	info.content_type = ctype;
	info.filename = filename;
	info.report_type = sc->report_type;
	info.subject = sc->subject;
	info.index = ++w->leaves;
	info.depth = sc->depth;
	info.is_attachment = filename != NULL ||
	                     (disp && g_ascii_strcasecmp(disp, "attachment") == 0) ||
	                     strncmp(ctype, "text/", 5) != 0;

	r = part_reader_new(part, &rd);
	rc = w->sink->part(w->sink->arg, &info, &rd);
	if (rc < 0)
		w->stopped = 1;
	else
		rc = 0;
	if (r->garbage)
		walk_warn(w, "part %u: base64 garbage ignored (%lu bytes)", info.index, r->garbage);
	if (r->after_pad)
		walk_warn(w, "part %u: data after base64 padding ignored (%lu bytes)", info.index,
		          r->after_pad);
	free(r);
	free(filename);
	g_free(ctype);
	return rc;
}

/* An unlinked temporary file in $TMPDIR or /tmp, or -1. */
static int
tmpfile_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	if ((size_t)snprintf(path, sizeof path, "%s/dmarcd-mime-XXXXXX", dir) >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static int DM_WUR
write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno == ENOSPC ? DM_ENOSPC : DM_EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int parse_walk(struct walk *w, GMimeStream *stream, GMimeFormat format, int depth,
                      int rfc822) DM_WUR;
static int prescan_fd(struct walk *w, int fd, off_t start, int mbox, int depth_base,
                      unsigned max_leaves, off_t *end, off_t *next, int *at_eof) DM_WUR;

/* A message/rfc822 part GMime left as a leaf because it is encoded:
 * decode it into a temporary file and walk the message in it. */
static int DM_WUR
walk_encoded_message(struct walk *w, GMimePart *part, const struct scope *sc)
{
	unsigned char buf[PART_CHUNK];
	struct dm_reader rd;
	struct part_reader *r;
	unsigned before = w->leaves;
	ssize_t n;
	int fd, rc = 0;

	if (sc->rfc822 >= DM_MAX_RFC822_DEPTH)
		return walk_fail(w, DM_ELIMIT, "message/rfc822 nesting deeper than %d",
		                 DM_MAX_RFC822_DEPTH);
	fd = tmpfile_open();
	if (fd < 0)
		return walk_fail(w, DM_EIO, "cannot create a temporary file: %s", strerror(errno));
	r = part_reader_new(part, &rd);
	while ((n = dm_reader_read(&rd, buf, sizeof buf)) > 0)
		if ((rc = write_all(fd, buf, (size_t)n)) != 0)
			break;
	free(r);
	if (n < 0)
		rc = walk_fail(w, (int)n, "cannot read a message/rfc822 part");
	else if (rc)
		rc = walk_fail(w, rc, "cannot write a temporary file: %s", strerror(errno));
	else if (lseek(fd, 0, SEEK_SET) != 0)
		rc = walk_fail(w, DM_EIO, "cannot rewind a temporary file: %s", strerror(errno));
	if (rc) {
		close(fd);
		return rc;
	}
	rc = prescan_fd(w, fd, 0, 0, sc->depth, DM_MAX_MIME_PARTS - w->leaves, NULL, NULL, NULL);
	if (rc == 0) {
		GMimeStream *s = g_mime_stream_fs_new(fd); /* owns fd */
		rc = parse_walk(w, s, GMIME_FORMAT_MESSAGE, sc->depth, sc->rfc822 + 1);
		g_object_unref(s);
	} else {
		close(fd);
	}
	if (rc == DM_EFORMAT && !w->stopped && w->leaves == before) {
		/* not a message after all: hand it on as it is */
		walk_warn(w, "part %u: encoded message/rfc822 is not a message", before + 1);
		return walk_leaf(w, part, sc);
	}
	return rc;
}

static int DM_WUR
walk_message(struct walk *w, GMimeMessage *msg, int depth, int rfc822)
{
	struct scope sc;
	GMimeObject *top = g_mime_message_get_mime_part(msg);

	if (rfc822 > 0 && w->sink->message_headers != NULL) {
		char *h = g_mime_object_get_headers((GMimeObject *)msg, NULL);
		int rc = h ? w->sink->message_headers(w->sink->arg, rfc822, h, strlen(h)) : 0;
		g_free(h);
		if (rc < 0) {
			w->stopped = 1;
			return rc;
		}
	}
	if (!top)
		return 0;
	sc.subject = g_mime_message_get_subject(msg);
	sc.report_type = NULL;
	sc.depth = depth;
	sc.rfc822 = rfc822;
	return walk_object(w, top, &sc);
}

static int
walk_object(struct walk *w, GMimeObject *obj, const struct scope *sc)
{
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = (GMimeMultipart *)obj;
		GMimeContentType *ct = g_mime_object_get_content_type(obj);
		struct scope in = *sc;
		char *rt = NULL;
		int rc = 0;

		if (sc->depth >= DM_MAX_MIME_DEPTH)
			return walk_fail(w, DM_ELIMIT, "MIME nesting deeper than %d",
			                 DM_MAX_MIME_DEPTH);
		in.depth++;
		if (ct && g_mime_content_type_is_type(ct, "multipart", "report")) {
			const char *v = g_mime_content_type_get_parameter(ct, "report-type");
			rt = v ? g_ascii_strdown(v, -1) : NULL;
			in.report_type = rt;
		}
		for (int i = 0; i < g_mime_multipart_get_count(mp) && rc == 0; i++)
			rc = walk_object(w, g_mime_multipart_get_part(mp, i), &in);
		g_free(rt);
		return rc;
	}
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *msg = g_mime_message_part_get_message((GMimeMessagePart *)obj);
		if (sc->rfc822 >= DM_MAX_RFC822_DEPTH)
			return walk_fail(w, DM_ELIMIT, "message/rfc822 nesting deeper than %d",
			                 DM_MAX_RFC822_DEPTH);
		return msg ? walk_message(w, msg, sc->depth, sc->rfc822 + 1) : 0;
	}
	if (GMIME_IS_PART(obj)) {
		GMimeContentType *ct = g_mime_object_get_content_type(obj);
		if (ct && is_message_type(ct))
			return walk_encoded_message(w, (GMimePart *)obj, sc);
		return walk_leaf(w, (GMimePart *)obj, sc);
	}
	return 0;
}

/* Parse one message from stream (already pre-scanned) and walk it. */
static int
parse_walk(struct walk *w, GMimeStream *stream, GMimeFormat format, int depth, int rfc822)
{
	GMimeParserOptions *opt = g_mime_parser_options_new();
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *msg;
	int rc;

	g_mime_parser_options_set_warning_callback(opt, gmime_warning, w);
	g_mime_parser_set_persist_stream(parser, TRUE);
	g_mime_parser_set_format(parser, format);
	msg = g_mime_parser_construct_message(parser, opt);
	if (!msg) {
		rc = walk_fail(w, DM_EFORMAT, "not a mail message");
	} else {
		if (rfc822 == 0 && !g_mime_object_get_header((GMimeObject *)msg, "MIME-Version"))
			walk_warn(w, "no MIME-Version header");
		rc = walk_message(w, msg, depth, rfc822);
		/* GMime stopped at its own depth (1024 multiparts or 512
		 * messages): our limits, far lower, were hit first in the
		 * walk unless the pre-scan and GMime disagreed. */
		if (rc == 0 && w->overflow)
			rc = walk_fail(w, DM_ELIMIT, "MIME nesting deeper than %d",
			               DM_MAX_MIME_DEPTH);
	}
	if (msg)
		g_object_unref(msg);
	g_object_unref(parser);
	/* after the message: its header lists keep a pointer to opt */
	g_mime_parser_options_free(opt);
	return rc;
}

static int
prescan_fd(struct walk *w, int fd, off_t start, int mbox, int depth_base, unsigned max_leaves,
           off_t *end, off_t *next, int *at_eof)
{
	struct prescan *ps = xmalloc(sizeof *ps);
	int rc;

	prescan_init(ps, fd, start, mbox, depth_base, max_leaves);
	rc = prescan_run(ps);
	if (rc == 0)
		rc = ps->rc;
	if (rc)
		walk_fail(w, rc, "%s", ps->reason);
	if (end)
		*end = ps->end;
	if (next)
		*next = ps->next;
	if (at_eof)
		*at_eof = ps->at_eof;
	prescan_free(ps);
	free(ps);
	return rc;
}

static void
copy_reason(const struct walk *w, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", w->reason);
}

/* A GMimeStreamFs on a duplicate of fd, so GMime closes only its copy. */
static GMimeStream *
open_stream(int fd, struct walk *w)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		walk_fail(w, DM_EIO, "cannot duplicate the input descriptor: %s", strerror(errno));
		return NULL;
	}
	return g_mime_stream_fs_new(dfd);
}

int
mime_walk_fd(int fd, const struct mime_sink *sink, char *err, size_t errlen)
{
	struct walk w;
	GMimeStream *s;
	off_t start;
	int rc;

	memset(&w, 0, sizeof w);
	w.sink = sink;
	if (err && errlen)
		err[0] = '\0';
	start = lseek(fd, 0, SEEK_CUR);
	if (start < 0) {
		snprintf(err ? err : w.reason, err ? errlen : sizeof w.reason,
		         "input is not seekable");
		return DM_EINVAL;
	}
	if (sink->message && (rc = sink->message(sink->arg, 1)) < 0)
		return rc;
	rc = prescan_fd(&w, fd, start, 0, 0, DM_MAX_MIME_PARTS, NULL, NULL, NULL);
	if (rc == 0) {
		if (!(s = open_stream(fd, &w))) {
			rc = DM_EIO;
		} else {
			rc = parse_walk(&w, s, GMIME_FORMAT_MESSAGE, 0, 0);
			g_object_unref(s);
		}
	}
	if (rc && !w.stopped)
		copy_reason(&w, err, errlen);
	(void)lseek(fd, start, SEEK_SET);
	return rc;
}

int
mime_walk_mbox_fd(int fd, const struct mime_sink *sink, char *err, size_t errlen)
{
	struct walk w;
	GMimeStream *top = NULL;
	off_t start, off, end, next;
	int at_eof = 0, rc = 0;
	unsigned index;

	memset(&w, 0, sizeof w);
	w.sink = sink;
	if (err && errlen)
		err[0] = '\0';
	start = lseek(fd, 0, SEEK_CUR);
	if (start < 0) {
		snprintf(err ? err : w.reason, err ? errlen : sizeof w.reason,
		         "input is not seekable");
		return DM_EINVAL;
	}

	/* Skip to the first From line, as GMime does. */
	{
		struct prescan *ps = xmalloc(sizeof *ps);
		prescan_init(ps, fd, start, 1, 0, 0);
		ps->first_line = 0;
		ps->skip = 1;
		rc = prescan_run(ps);
		off = ps->next;
		at_eof = ps->at_eof;
		if (rc)
			walk_fail(&w, rc, "%s", ps->reason);
		prescan_free(ps);
		free(ps);
	}
	if (rc)
		goto out;
	if (at_eof) {
		rc = walk_fail(&w, DM_EFORMAT, "not an mbox (no \"From \" line)");
		goto out;
	}
	if (off > start)
		walk_warn(&w, "%lld bytes before the first From line ignored",
		          (long long)(off - start));
	if (!(top = open_stream(fd, &w))) {
		rc = DM_EIO;
		goto out;
	}

	for (index = 1;; index++) {
		if (index > DM_MAX_MBOX_MESSAGES) {
			w.msgno = 0;
			walk_warn(&w, "more than %d messages in the mbox, the rest is ignored",
			          DM_MAX_MBOX_MESSAGES);
			break;
		}
		w.msgno = index;
		w.leaves = 0;
		w.warned = 0;
		w.overflow = 0;
		if (sink->message && (rc = sink->message(sink->arg, index)) < 0) {
			w.stopped = 1;
			goto out;
		}
		rc = prescan_fd(&w, fd, off, 1, 0, DM_MAX_MIME_PARTS, &end, &next, &at_eof);
		if (rc == 0) {
			GMimeStream *sub = g_mime_stream_substream(top, off, end);
			rc = parse_walk(&w, sub, GMIME_FORMAT_MBOX, 0, 0);
			g_object_unref(sub);
		}
		if (w.stopped || rc == DM_EIO || rc == DM_ENOSPC)
			goto out; /* the callee stopped, or the system failed */
		if (rc && sink->message_failed) {
			rc = sink->message_failed(sink->arg, index, rc, w.reason);
			if (rc < 0) {
				w.stopped = 1;
				goto out;
			}
		} else if (rc) {
			walk_warn(&w, "%s", w.reason);
		}
		rc = 0;
		if (at_eof || next <= off)
			break;
		off = next;
	}
out:
	if (top)
		g_object_unref(top);
	if (rc && !w.stopped)
		copy_reason(&w, err, errlen);
	(void)lseek(fd, start, SEEK_SET);
	return rc;
}

void
mime_global_init(void)
{
	g_mime_init();
}

void
mime_global_shutdown(void)
{
	g_mime_shutdown();
}
