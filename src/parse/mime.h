/*
 * mime.h - walk the leaf parts of an RFC 5322 message or an mbox (GMime).
 *
 * The walker hands each leaf part to a callback together with a reader
 * over its *decoded* content (base64 / quoted-printable removed, nothing
 * else changed), so a report attachment is never held in memory: GMime
 * parses the message structure over a seekable file descriptor and reads
 * part content from the file on demand.
 *
 * Every leaf is visited in document order, including the parts of nested
 * message/rfc822 messages (base64-encoded ones too) and of any multipart
 * subtype.  Depth, part count, rfc822 nesting and header blocks are bounded
 * by limits.h; exceeding one stops the walk with an error.  A streaming
 * pre-scan refuses most such messages before any part is delivered; if the
 * walk itself hits a limit, the parts seen so far have already been
 * delivered.  Media types and file names are passed only as hints: the
 * caller decides by content.
 */
#ifndef DM_MIME_H
#define DM_MIME_H

#include <stddef.h>

#include "common/err.h"
#include "common/reader.h"

struct mime_part_info {
	const char *content_type; /* "type/subtype", lower case, never NULL */
	const char *filename;	  /* Content-Disposition filename or Content-Type
				     name, RFC 2047/2231 decoded; NULL if none */
	const char *report_type;  /* report-type of the nearest enclosing
				     multipart/report within the innermost
				     enclosing message (a quoted original in
				     an ARF report does not inherit it), lower
				     case, or NULL */
	const char *subject;	  /* Subject of the innermost enclosing message,
				     decoded, or NULL (a hint only) */
	unsigned index;		  /* 1-based leaf number within the message,
				     nested message/rfc822 parts included */
	int depth;		  /* multipart nesting depth of this leaf,
				     counted through message/rfc822 (0 for a
				     single-part message) */
	int is_attachment;	  /* has a filename or Content-Disposition:
				     attachment, or is not a text type */
};

struct mime_sink {
	/* Called for each message of an mbox before its parts (index is
	 * 1-based); for a single message, called once with index 1.
	 * May be NULL.  Return 0 or a negative code to stop the walk. */
	int (*message)(void *arg, unsigned index);
	/* Called for each leaf part.  content reads the decoded bytes and is
	 * valid only during the call; the callee need not read it to the end.
	 * Return 0 to go on or a negative code to stop the walk. */
	int (*part)(void *arg, const struct mime_part_info *info,
		    struct dm_reader *content);
	/* Something odd but survivable: "no MIME-Version header", "base64
	 * garbage ignored".  May be NULL. */
	void (*warn)(void *arg, const char *msg);
	void *arg;
	/* mbox only: message `index` could not be walked (rc, one-line
	 * reason such as "MIME nesting deeper than 16"); the walk goes on
	 * with the next message unless this returns a negative code.  May be
	 * NULL: the failure then goes to warn as "message N: reason". */
	int (*message_failed)(void *arg, unsigned index, int rc, const char *reason);
	/* The header block of each message nested in the one walked (a
	 * message/rfc822 part, encoded or not), before its parts: the fields
	 * as GMime keeps them ("Name: value" lines, folded as they came),
	 * len bytes, bounded by the pre-scan (DM_MAX_HEADER_BYTES).  The
	 * original message of a failure report is read from it.  depth is its
	 * message/rfc822 nesting (1 for a message attached to the top one).
	 * May be NULL.  Return 0 or a negative code to stop the walk. */
	int (*message_headers)(void *arg, int depth, const char *text, size_t len);
};

/* Parse one message from fd, which must be seekable and positioned at the
 * start of the message; its offset is restored on return.  Returns 0, the
 * first negative code a callback returned, or a negative DM_E* with a
 * one-line reason in err ("MIME nesting deeper than 16", "more than 1000
 * MIME parts", "message/rfc822 nesting deeper than 3", "header block too
 * large", DM_EFORMAT "not a mail message" for input GMime cannot read as
 * a message, e.g. binary data or an empty file, DM_EINVAL "input is not
 * seekable").  sink->message(1) is called before anything is parsed. */
int mime_walk_fd(int fd, const struct mime_sink *sink, char *err,
		 size_t errlen) DM_WUR;

/* The same for an mbox file: every message in turn, cut at each line that
 * starts with "From " (as GMime's mbox parser does); the line break before
 * such a line is not part of the message.  A message that fails is
 * reported through warn as "message N: <reason>" and the walk goes on, so
 * the result is 0 even then; it stops only when a callback returns a
 * negative code or on DM_EIO/DM_ENOSPC.  DM_EFORMAT if there is no From
 * line at all; after DM_MAX_MBOX_MESSAGES messages it stops with a warning. */
int mime_walk_mbox_fd(int fd, const struct mime_sink *sink, char *err,
		      size_t errlen) DM_WUR;

/* Process-wide GMime setup and teardown (call once from main, init before
 * any walk). */
void mime_global_init(void);
void mime_global_shutdown(void);

#endif
