/*
 * sniff.h - decide what a byte stream is from its first bytes.
 *
 * Content decides, never a file name or a MIME type (SPECS MAIL-2):
 * real reporters label zip as gzip and send application/octet-stream.
 * The caller passes the head of the stream (up to DM_SNIFF_BYTES).
 */
#ifndef DM_SNIFF_H
#define DM_SNIFF_H

#include <stddef.h>

enum sniff_kind {
	SNIFF_EMPTY,  /* no bytes, or only whitespace */
	SNIFF_GZIP,   /* 1f 8b */
	SNIFF_ZLIB,   /* 78 01|5e|9c|da with a valid FCHECK */
	SNIFF_ZIP,    /* PK\3\4 (or an empty/spanned zip marker) */
	SNIFF_XML,    /* '<' after an optional BOM and whitespace */
	SNIFF_JSON,   /* '{' after an optional BOM and whitespace */
	SNIFF_MBOX,   /* "From " line followed by a header */
	SNIFF_MAIL,   /* RFC 5322 header fields */
	SNIFF_OTHER,  /* anything else; *what names it */
};

/* Classify.  *what (may be NULL) receives a short static description such
 * as "gzip", "PNG image", "PDF document", "UTF-16 text", "text". */
enum sniff_kind sniff_bytes(const void *p, size_t len, const char **what);

const char *sniff_kind_name(enum sniff_kind k);

#endif
