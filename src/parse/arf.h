/*
 * arf.h - read DMARC failure reports: ARF fields, the plain-text form
 * some generators send instead, and the original message's header block.
 *
 * A pure module: bytes in, struct dm_failure_report (core/failure.h) out;
 * no I/O, no store, no logging.  The MIME walk (parse/mime.h) finds the
 * parts; the caller hands each one to the matching function:
 *
 *   message/feedback-report      -> arf_parse_fields
 *   text/plain, when arf_sniff() -> arf_parse_text (no feedback-report part)
 *   message/rfc822 or text/rfc822-headers, or the text form's tail
 *                                -> arf_original_headers
 *
 * Everything is attacker-controlled (SPECS 6.6 #80): input is read as
 * (pointer, length), NUL bytes and control characters become spaces,
 * invalid UTF-8 becomes '?', every value and the stored copy are bounded
 * (limits.h, failure-report section).  Deviations are warnings in the
 * model, never a rejection, except a feedback-report part with no
 * Feedback-Type (then it is not ARF at all).
 *
 * The Subject of the original message is decoded (RFC 2047 encoded words,
 * raw 8-bit text) with GMime's g_mime_utils_header_decode_text, so
 * g_mime_init() (mime_global_init()) must have run before
 * arf_original_headers is called, as for every GMime user in dmarcd.
 */
#ifndef DM_ARF_H
#define DM_ARF_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "core/failure.h"

/* What of the original message is kept (arf_original_headers).  The body
 * of the original message is never kept, in any mode. */
enum arf_redact {
	/* Default.  The header fields, with the local part of every address
	 * in every value (Received, DKIM-Signature, ARC-*, Message-ID and
	 * Subject included) replaced by "h-" and 8 hex digits of
	 * HMAC-SHA256(key, lower-cased local@domain): the same address gives
	 * the same token within an installation (so reports can be grouped
	 * and an operator who knows an address can find it) and cannot be
	 * reversed without the key.  The extracted from, to, message_id and
	 * subject are redacted the same way; the subject is otherwise kept,
	 * as it is what tells a phish from a forwarded newsletter.  Display
	 * names are kept (see the report for this choice). */
	ARF_REDACT_HASHED = 0,
	/* The header fields as they came (cleaned of control characters). */
	ARF_REDACT_HEADERS,
	/* Nothing of the original is stored: out stays empty, and of the
	 * extracted fields only header_from_domain and date are set (the
	 * subject, from, to and message_id are personal data). */
	ARF_REDACT_NONE,
};

/* Read the body of a message/feedback-report part into r (is_arf = 1).
 * Fields in any order, folded or not, CRLF or LF, names in any case,
 * comments removed from the values that are tokens; a repeated
 * single-valued field keeps its first value (warning); unknown and
 * extension fields are ignored.  Missing required fields (RFC 5965,
 * 6591, 7489) are warnings.  Returns 0, or DM_EFORMAT with r->error set
 * when there is no (non-empty) Feedback-Type field. */
int arf_parse_fields(struct dm_failure_report *r, const char *text, size_t len) DM_WUR;

/* Read a plain-text failure report (Exim/cPanel: "A message claiming to
 * be from you has failed the published DMARC policy...", then "Sender IP
 * Address:", "Received date:", "SPF Alignment:", "DKIM Alignment:",
 * "DMARC Results:" lines, then the original headers).  Sets is_arf = 0,
 * feedback_type "auth-failure", auth_failure "dmarc" and the warning
 * "not ARF: read from a plain-text report".  *headers_at (may be NULL)
 * receives the offset of the copied header block in text, or len when
 * none was found; pass text + *headers_at to arf_original_headers.
 * Returns 0, or DM_EFORMAT (r->error set) when no known line was found. */
int arf_parse_text(struct dm_failure_report *r, const char *text, size_t len,
                   size_t *headers_at) DM_WUR;

/* Read the header block of the original message (reading stops at the
 * first empty line: a body is never read).  Sets subject, from,
 * header_from_domain, to, message_id and date as mode allows, and
 * appends the stored copy of the header fields to out (may be NULL),
 * one field per line with LF line ends, at most DM_ARF_MAX_STORED_HEADERS
 * bytes (nor more than out's own maximum) and cut with the line
 * "[... headers cut at N bytes]".  key/keylen is the installation's
 * redaction key; ARF_REDACT_HASHED without a key is DM_EINVAL.
 * Returns 0 or DM_EINVAL. */
int arf_original_headers(struct dm_failure_report *r, const char *text, size_t len,
                         enum arf_redact mode, const unsigned char *key, size_t keylen,
                         struct dm_buf *out) DM_WUR;

/* Append s[0..n) to out with the local part of every address in it
 * replaced by its keyed token, as ARF_REDACT_HASHED does to the original
 * headers (the feedback fields that name other people's addresses,
 * Original-Rcpt-To, get the same).  0, DM_EINVAL without a key, or
 * DM_ELIMIT when out is full. */
int arf_redact_text(struct dm_buf *out, const char *s, size_t n, const unsigned char *key,
                    size_t keylen) DM_WUR;

/* Does the head of a text/plain part look like a plain-text failure
 * report?  Conservative: 1 only for the Exim/cPanel opening sentence, or
 * for both its "Sender IP Address:" and "DMARC Results:" lines. */
int arf_sniff(const unsigned char *head, size_t n);

/* An RFC 5322 date-time, obsolete forms included (two- and three-digit
 * years, named zones, military zones as -0000, no day of week, comments,
 * fractional seconds).  0: *t set; 1: *t set but there was no zone (UTC
 * assumed); -1: not a date. */
int arf_parse_date(const char *s, size_t len, int64_t *t);

#endif
