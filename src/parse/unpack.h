/*
 * unpack.h - streaming decompression of one attachment into documents.
 *
 * An attachment (the bytes a reporter attached, or a file given to
 * `dmarcd ingest`) is one of: plain bytes, gzip (possibly several members,
 * possibly gzip inside gzip), raw zlib, or a zip with one or more entries
 * (possibly in sub-folders, possibly each gzip-compressed).  The container
 * is chosen by magic bytes only (sniff.h).
 *
 * unpack_run() pulls the attachment from a dm_reader and pushes every
 * document it holds (a decompressed zip entry, the inflated gzip stream,
 * or the plain bytes) to a sink, in order:
 *
 *     doc_begin(name) doc_data()* doc_end(rc, reason)   per document
 *
 * Memory is bounded (a fixed window per layer) whatever the sizes.  All
 * limits come from struct unpack_limits (defaults from limits.h): total
 * decompressed bytes over all documents and layers, compression ratio,
 * zip entries, layers.  A document that breaks a limit or is corrupt ends
 * with doc_end(rc < 0, "one-line reason"); the sink must then discard
 * whatever it made of that document.  Zip entry names are for display
 * only: nothing is ever written to the filesystem by this module.
 */
#ifndef DM_UNPACK_H
#define DM_UNPACK_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/reader.h"

struct unpack_limits {
	uint64_t max_out;      /* decompressed bytes, all documents together */
	unsigned max_ratio;    /* out/in ratio allowed once out > check_after */
	uint64_t check_after;  /* bytes of output before the ratio is checked */
	unsigned max_entries;  /* zip entries (directories included) */
	unsigned max_layers;   /* compression layers, outermost included */
};

/* Fill with the defaults of limits.h. */
void unpack_limits_default(struct unpack_limits *l);

struct unpack_sink {
	/* A document starts.  name: the zip entry name or the gzip FNAME
	 * (display only, may be NULL); layers: "", "gzip", "zip", "zip>gzip",
	 * "gzip>gzip", "zlib".  Return 0, or DM_ESTOP to skip the document
	 * (doc_end is still called), or another negative code to abort. */
	int (*doc_begin)(void *arg, const char *name, const char *layers);
	/* Decompressed bytes of the current document, in order.  Return 0,
	 * DM_ESTOP to skip the rest of this document (the unpacker goes on
	 * with the next one), or another negative code to abort. */
	int (*doc_data)(void *arg, const void *buf, size_t len);
	/* The document ended: rc 0 when it was read completely and verified
	 * (CRC, length), else a negative DM_E* code with a one-line reason
	 * such as "truncated gzip", "gzip CRC mismatch", "decompressed size
	 * limit exceeded (4294967296 bytes)", "compression ratio above 1100:1",
	 * "nested archive", "encrypted zip entry", "unsupported zip
	 * compression method" (unpack.c lists them all).  reason is NULL
	 * when rc is 0; a document the sink stopped with DM_ESTOP ends with
	 * rc 0 unless it had failed before.
	 * Return 0 or a negative code to abort. */
	int (*doc_end)(void *arg, int rc, const char *reason);
	/* Something odd but harmless: "trailing garbage after gzip data
	 * (2 bytes)", "zip directory entry skipped".  May be NULL. */
	void (*warn)(void *arg, const char *msg);
	void *arg;
};

/*
 * Read the whole attachment from in and emit its documents.
 * Returns 0 when the container was read to its end (each document's own
 * outcome went to doc_end), or a negative DM_E* with a one-line reason in
 * err when the container itself is unusable ("not a valid zip archive:
 * ...", "too many zip entries (more than 16)", "truncated zip", read
 * error) or a sink callback aborted.  For plain, gzip and zlib input the
 * one document is the container: its negative outcome is returned too.
 * A document open at that moment gets doc_end(rc < 0) first.  The reader
 * is not necessarily read to its end.
 */
int unpack_run(struct dm_reader *in, const struct unpack_limits *lim,
	       const struct unpack_sink *sink, char *err, size_t errlen) DM_WUR;

/*
 * Count the entries of a zip from its end-of-central-directory record,
 * given the last bytes of the archive (up to 65,557 are enough: the record
 * is 22 bytes plus a comment of at most 65,535).  Lets the caller reject
 * a zip with too many entries before it stores any of them.  Returns 0
 * and the count, or DM_ENOTFOUND when there is no such record in tail.
 * A ZIP64 archive (count 0xffff) reports 0xffff.
 */
#define UNPACK_ZIP_TAIL (22 + 65535)
int unpack_zip_entries(const unsigned char *tail, size_t len, uint64_t *count) DM_WUR;

#endif
