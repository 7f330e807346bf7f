/*
 * aggregate.h - streaming parser for DMARC aggregate reports (expat SAX).
 *
 * Accepts RFC 7489 Appendix C and RFC 9990 reports and what real
 * reporters make of them (SPECS 1.4, 6.4): elements are matched by local
 * name in no namespace, the 0.1/0.2 drafts or urn:ietf:params:xml:ns:
 * dmarc-2.0; any element order; unknown elements and extensions ignored;
 * UTF-8 BOM, leading whitespace, windows-1252 / ISO-8859-1 / UTF-16;
 * float timestamps; enumerations case-insensitive with aliases.
 * A DOCTYPE is refused (no entity can ever be expanded), depth and field
 * lengths are bounded (limits.h), and expat's own memory is capped.
 *
 * Push interface: feed bytes as they are decompressed; each complete
 * <record> is passed to the callback at once, so memory does not grow
 * with the report.  Usage:
 *
 *     p = agg_parser_new(on_record, arg);
 *     while (data) rc = agg_parser_feed(p, buf, len);   // stop on rc < 0
 *     rc = agg_parser_finish(p);                        // validates
 *     report = agg_parser_report(p);  error = agg_parser_error(p);
 *     agg_parser_free(p);
 */
#ifndef DM_AGGREGATE_H
#define DM_AGGREGATE_H

#include <stddef.h>

#include "common/err.h"
#include "core/report.h"

struct agg_parser;

/* Called for every record with a valid count.  rep holds the metadata
 * parsed so far (usually complete: report_metadata comes first).  Return
 * 0 to go on, DM_ESTOP to get no more callbacks while the parser goes on
 * validating and counting (a duplicate), or a negative code to abort. */
typedef int (*agg_record_fn)(void *arg, struct dm_report *rep,
			     const struct dm_record *rec);

struct agg_parser *agg_parser_new(agg_record_fn fn, void *arg);
void agg_parser_free(struct agg_parser *p);
/* Make p ready for a new document (cheaper than free + new). */
void agg_parser_reset(struct agg_parser *p);

/* Feed the next bytes.  0, or a negative code once the document is known
 * to be bad (then agg_parser_error() says why); feeding after an error is
 * harmless and returns the same code. */
int agg_parser_feed(struct agg_parser *p, const void *buf, size_t len) DM_WUR;

/* End of input: checks well-formedness to the end and the required
 * elements (report_metadata, date_range, policy_published/domain, at least
 * one record).  0 or a negative code. */
int agg_parser_finish(struct agg_parser *p) DM_WUR;

/* One-line reason for the failure ("" when none). */
const char *agg_parser_error(const struct agg_parser *p);

/* The report model (metadata, counters, warnings); owned by the parser. */
struct dm_report *agg_parser_report(struct agg_parser *p);

/* True once the <feedback> root was seen: the document is an aggregate
 * report (used to tell "not a report" from "a broken report"). */
int agg_parser_is_feedback(const struct agg_parser *p);

#endif
