/*
 * tlsrpt.h - streaming parser for SMTP TLS reports (RFC 8460 JSON).
 *
 * A push parser over a streaming JSON tokenizer of its own (parse/jsontok.h):
 * the document is never held whole, so memory does not grow with the
 * report (jansson, the JSON library of DESIGN.md, builds a whole tree and
 * is not used for input that can be 64 MiB).  Limits (limits.h): document
 * size, nesting depth, string length, policies, failure details.
 *
 * What real reporters send is accepted (SPECS 3.4, 6.6): keys in any
 * order, unknown keys ignored, mx-host a string or a list, no
 * sending-mta-ip, no policy-domain, no failure-details, dates as RFC 3339
 * with or without fractional seconds and offsets, without a time zone
 * (UTC assumed, with a warning) or as a bare date.  Refused with a
 * reason: invalid JSON or UTF-8, a lone surrogate escape, trailing
 * garbage after the document, a document over the limits, a top level
 * that is not an object, a count that is not a non-negative integer, a
 * missing report-id, organization-name or date-range, a duplicate key in
 * one object (which of two values would be true cannot be known).
 * A UTF-8 BOM is skipped.  The decisions in detail (dates as bare days
 * or numbers, counts as strings, an empty policies list) are listed at
 * the top of tlsrpt.c.
 *
 * Usage:
 *
 *     p = tls_parser_new(on_policy, on_failure, arg);
 *     while (data) rc = tls_parser_feed(p, buf, len);   // stop on rc < 0
 *     rc = tls_parser_finish(p);                        // validates
 *     report = tls_parser_report(p);  error = tls_parser_error(p);
 *     tls_parser_free(p);
 */
#ifndef DM_TLSRPT_H
#define DM_TLSRPT_H

#include <stddef.h>

#include "common/err.h"
#include "core/tlsrpt.h"

struct tls_parser;

/* Called at the end of each policy object and of each failure-detail
 * object.  rep holds the metadata parsed so far (keys are in any order:
 * it may still lack the report-id).  Return 0 to go on or a negative code
 * to abort (the parser then fails with that code). */
typedef int (*tls_policy_fn)(void *arg, struct dm_tls_report *rep,
			     const struct dm_tls_policy *pol);
typedef int (*tls_failure_fn)(void *arg, struct dm_tls_report *rep,
			      const struct dm_tls_failure *f);

struct tls_parser *tls_parser_new(tls_policy_fn on_policy, tls_failure_fn on_failure, void *arg);
void tls_parser_free(struct tls_parser *p);
/* Make p ready for a new document. */
void tls_parser_reset(struct tls_parser *p);

/* Feed the next bytes: 0, or a negative code once the document is known
 * to be bad (tls_parser_error() says why).  Feeding after an error is
 * harmless and returns the same code. */
int tls_parser_feed(struct tls_parser *p, const void *buf, size_t len) DM_WUR;

/* End of input: the document must be complete, with the required
 * members.  0 or a negative code. */
int tls_parser_finish(struct tls_parser *p) DM_WUR;

/* One-line reason for the failure ("" when none). */
const char *tls_parser_error(const struct tls_parser *p);

/* The report (metadata, totals, warnings); owned by the parser. */
struct dm_tls_report *tls_parser_report(struct tls_parser *p);

/* True once the document is seen to be a TLS report: a top-level object
 * with a "policies", "organization-name", "report-id", "date-range" or
 * "contact-info" member (used to tell "not a TLS report" from "a broken
 * one"). */
int tls_parser_is_tlsrpt(const struct tls_parser *p);

#endif
