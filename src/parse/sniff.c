/*
 * sniff.c - decide what a byte stream is from its first bytes.
 *
 * Content decides, never a name or a media type (SPECS MAIL-2).  The
 * checks run in this order, first match wins:
 *
 *   1. no bytes                                  -> SNIFF_EMPTY
 *   2. 1f 8b                                     -> SNIFF_GZIP
 *   3. 78 xx, (78xx % 31) == 0, FDICT clear      -> SNIFF_ZLIB
 *      (that is 78 01, 78 5e, 78 9c, 78 da)
 *   4. "PK\3\4", "PK\5\6" (empty zip), or a spanning marker
 *      "PK\7\10" / "PK00" followed by "PK\3\4"   -> SNIFF_ZIP
 *   5. other binary magic (PNG, JPEG, GIF, PDF, bzip2, xz, zstd, 7z,
 *      rar)                                      -> SNIFF_OTHER
 *   6. UTF-16 BOM (ff fe / fe ff) and then '<' in that encoding, after
 *      optional UTF-16 whitespace               -> SNIFF_XML "UTF-16 XML"
 *      any other UTF-16 BOM                      -> SNIFF_OTHER "UTF-16 text"
 *   7. optional UTF-8 BOM and ASCII whitespace, then:
 *      nothing left                              -> SNIFF_EMPTY
 *      '<'                                       -> SNIFF_XML (HTML too: the
 *                                                   XML parser tells them apart)
 *      '{'                                       -> SNIFF_JSON
 *   8. "From " line and a header field next      -> SNIFF_MBOX
 *   9. a header field on the first line, and a header field after it (past
 *      any folded lines) or a well-known field name -> SNIFF_MAIL
 *  10. printable text (no control bytes but TAB, LF, VT, FF, CR, ESC)
 *                                                -> SNIFF_OTHER "text"
 *      else                                      -> SNIFF_OTHER "binary data"
 *
 * Only the bytes passed in are looked at: a mail whose first header line
 * is cut by the end of the buffer is judged on what is there.
 *
 * Functions: sniff_bytes, sniff_kind_name.  Logs nothing.
 */
#include "parse/sniff.h"

#include <stdint.h>
#include <string.h>

struct magic {
	const char *bytes;
	size_t len;
	const char *what;
};

/* Binary formats that are certainly not reports; named for the status. */
static const struct magic other_magic[] = {
        {"\x89PNG\r\n\x1a\n", 8, "PNG image"},
        {"\xff\xd8\xff", 3, "JPEG image"},
        {"GIF87a", 6, "GIF image"},
        {"GIF89a", 6, "GIF image"},
        {"%PDF-", 5, "PDF document"},
        {"\xfd"
         "7zXZ\0",
         6, "xz data"},
        {"\x28\xb5\x2f\xfd", 4, "zstd data"},
        {"7z\xbc\xaf\x27\x1c", 6, "7z archive"},
        {"Rar!\x1a\x07", 6, "rar archive"},
};

static int
has_prefix(const unsigned char *p, size_t len, const char *pfx, size_t plen)
{
	return len >= plen && memcmp(p, pfx, plen) == 0;
}

static int
is_zip(const unsigned char *p, size_t len)
{
	if (has_prefix(p, len, "PK\3\4", 4) || has_prefix(p, len, "PK\5\6", 4))
		return 1;
	/* Split/spanned archive marker, then the first local header. */
	if (has_prefix(p, len, "PK\7\10PK\3\4", 8) || has_prefix(p, len, "PK00PK\3\4", 8))
		return 1;
	return 0;
}

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* UTF-16 after its BOM: skip whitespace code units, then '<'? */
static int
utf16_xml(const unsigned char *p, size_t len, int big_endian)
{
	for (size_t i = 2; i + 1 < len; i += 2) {
		unsigned hi = big_endian ? p[i] : p[i + 1];
		unsigned lo = big_endian ? p[i + 1] : p[i];
		if (hi != 0)
			return 0;
		if (is_ws((unsigned char)lo))
			continue;
		return lo == '<';
	}
	return 0;
}

/* Length of a header field name at p (RFC 5322 ftext: 33-126 but ':'),
 * when the name is followed by ':'; else 0. */
static size_t
field_name_len(const unsigned char *p, size_t len)
{
	size_t i = 0;
	while (i < len && p[i] >= 33 && p[i] <= 126 && p[i] != ':')
		i++;
	if (i == 0 || i >= len || p[i] != ':')
		return 0;
	return i;
}

/* Offset just past the LF that ends the line starting at off, or 0 when
 * the line is not complete in the buffer. */
static size_t
next_line(const unsigned char *p, size_t len, size_t off)
{
	const unsigned char *nl = memchr(p + off, '\n', len - off);
	return nl ? (size_t)(nl - p) + 1 : 0;
}

static int
name_is(const unsigned char *p, size_t n, const char *name)
{
	size_t l = strlen(name);
	if (n != l)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char a = p[i], b = (unsigned char)name[i];
		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (unsigned char)(b - 'A' + 'a');
		if (a != b)
			return 0;
	}
	return 1;
}

static int
name_has_prefix(const unsigned char *p, size_t n, const char *pfx)
{
	size_t l = strlen(pfx);
	return n > l && name_is(p, l, pfx);
}

static int
well_known_field(const unsigned char *p, size_t n)
{
	static const char *const names[] = {
	        "Received",     "Return-Path",  "From",           "To",
	        "Subject",      "Date",         "Message-ID",     "MIME-Version",
	        "Content-Type", "Delivered-To", "DKIM-Signature", "Authentication-Results",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (name_is(p, n, names[i]))
			return 1;
	return name_has_prefix(p, n, "X-") || name_has_prefix(p, n, "ARC-");
}

/* Does a header field start the line at off, after any folded
 * continuation lines of the previous field? */
static int
field_follows(const unsigned char *p, size_t len, size_t off)
{
	while (off && off < len && (p[off] == ' ' || p[off] == '\t'))
		off = next_line(p, len, off);
	return off && off < len && field_name_len(p + off, len - off) > 0;
}

static int
looks_like_mail(const unsigned char *p, size_t len)
{
	size_t n = field_name_len(p, len);
	if (n == 0)
		return 0;
	if (well_known_field(p, n))
		return 1;
	return field_follows(p, len, next_line(p, len, 0));
}

static int
looks_like_mbox(const unsigned char *p, size_t len)
{
	if (!has_prefix(p, len, "From ", 5))
		return 0;
	size_t off = next_line(p, len, 0);
	return off && off < len && field_name_len(p + off, len - off) > 0;
}

static int
looks_like_text(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c == 0x7f)
			return 0;
		if (c < 0x20 && !is_ws(c) && c != 0x1b)
			return 0;
	}
	return 1;
}

enum sniff_kind
sniff_bytes(const void *vp, size_t len, const char **what)
{
	const unsigned char *p = vp;
	const char *w_dummy;
	if (!what)
		what = &w_dummy;

	if (len == 0) {
		*what = "empty";
		return SNIFF_EMPTY;
	}
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
		*what = "gzip";
		return SNIFF_GZIP;
	}
	if (len >= 2 && p[0] == 0x78 && ((p[0] << 8) | p[1]) % 31 == 0 && !(p[1] & 0x20)) {
		*what = "zlib";
		return SNIFF_ZLIB;
	}
	if (is_zip(p, len)) {
		*what = "zip";
		return SNIFF_ZIP;
	}
	for (size_t i = 0; i < sizeof other_magic / sizeof other_magic[0]; i++) {
		if (has_prefix(p, len, other_magic[i].bytes, other_magic[i].len)) {
			*what = other_magic[i].what;
			return SNIFF_OTHER;
		}
	}
	if (len >= 4 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h' && p[3] >= '1' && p[3] <= '9') {
		*what = "bzip2 data";
		return SNIFF_OTHER;
	}
	if (len >= 2 && ((p[0] == 0xff && p[1] == 0xfe) || (p[0] == 0xfe && p[1] == 0xff))) {
		if (utf16_xml(p, len, p[0] == 0xfe)) {
			*what = "UTF-16 XML";
			return SNIFF_XML;
		}
		*what = "UTF-16 text";
		return SNIFF_OTHER;
	}

	size_t i = 0;
	if (has_prefix(p, len, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len && is_ws(p[i]))
		i++;
	if (i == len) {
		*what = "empty";
		return SNIFF_EMPTY;
	}
	if (p[i] == '<') {
		*what = "XML";
		return SNIFF_XML;
	}
	if (p[i] == '{') {
		*what = "JSON";
		return SNIFF_JSON;
	}
	if (looks_like_mbox(p, len)) {
		*what = "mbox";
		return SNIFF_MBOX;
	}
	if (looks_like_mail(p, len)) {
		*what = "mail";
		return SNIFF_MAIL;
	}
	*what = looks_like_text(p, len) ? "text" : "binary data";
	return SNIFF_OTHER;
}

const char *
sniff_kind_name(enum sniff_kind k)
{
	switch (k) {
	case SNIFF_EMPTY:
		return "empty";
	case SNIFF_GZIP:
		return "gzip";
	case SNIFF_ZLIB:
		return "zlib";
	case SNIFF_ZIP:
		return "zip";
	case SNIFF_XML:
		return "xml";
	case SNIFF_JSON:
		return "json";
	case SNIFF_MBOX:
		return "mbox";
	case SNIFF_MAIL:
		return "mail";
	case SNIFF_OTHER:
		return "other";
	}
	return "other";
}
