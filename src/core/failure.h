/*
 * failure.h - the in-memory model of one DMARC failure report.
 *
 * A failure (forensic, ruf) report is an ARF message (RFC 5965) of
 * feedback type auth-failure (RFC 6591, with the DMARC additions of RFC
 * 7489 7.3.1 / RFC 9991), or one of the plain-text forms real generators
 * send instead (Exim/cPanel, SPECS 3.3).  The parser (parse/arf.h) fills
 * a struct dm_failure_report from the machine-readable part and from the
 * original message's header block; every string lives in the report's
 * arena.  A field that was not in the report is NULL (an int64 field has
 * its have_ flag at 0).
 *
 * Enumerated values (feedback_type, auth_failure, delivery_result,
 * identity_alignment) are lower case with comments removed; values the
 * RFCs do not name are kept as they came, with a warning.  Nothing here
 * is trusted: the RFC says a receiver MUST NOT assume the asserted
 * fields are accurate.
 */
#ifndef DM_FAILURE_H
#define DM_FAILURE_H

#include <stdint.h>

#include "common/limits.h"
#include "core/arena.h"

struct dm_failure_report {
	struct dm_arena arena;
	/* why the report could not be read (only set with an error return:
	 * "no Feedback-Type field"); NULL otherwise */
	const char *error;

	/* ---- the message/feedback-report part (or the text form) ---- */
	const char *feedback_type;      /* "auth-failure", "abuse", "fraud"... lower case */
	int is_arf;                     /* 1: a feedback-report part was read; 0: text form */
	const char *version;            /* Version ("1"; "1.0" is common) */
	const char *user_agent;         /* User-Agent, as given */
	const char *auth_failure;       /* "dmarc" "spf" "dkim" "signature" "bodyhash"
	                                   "revoked" "adsp"... lower case */
	const char *delivery_result;    /* delivered | spam | policy | reject | other,
	                                   or an unknown value as given (lower case) */
	const char *reported_domain;    /* the first valid Reported-Domain, lower case */
	unsigned char source_ip[16];    /* IPv6, or IPv4-mapped IPv6 */
	int source_ip_family;           /* 0: missing or unparsable, 4 or 6 */
	const char *source_ip_text;     /* canonical text, "" when family is 0 */
	const char *original_mail_from; /* without <>; "" for the null sender */
	const char *original_rcpt_to;   /* the first one, without <> */
	unsigned rcpt_to_count;         /* Original-Rcpt-To fields seen */
	const char *original_envelope_id;
	int64_t arrival_date; /* Arrival-Date (or Received-Date), Unix seconds */
	int have_arrival_date;
	const char *reporting_mta; /* as given ("dns; mta.example.net") */
	int64_t incidents;         /* -1 when absent or invalid */
	/* every Authentication-Results value, joined with "\n", cut at
	 * DM_ARF_MAX_AUTH_RESULTS with "..." */
	const char *authentication_results;
	/* "none", "dkim", "spf" or "dkim,spf".  RFC 7489: the mechanisms that
	 * produced an aligned identity; RFC 9991: those that failed to (the
	 * meaning is inverted: SPECS 3.3) */
	const char *identity_alignment;
	const char *dkim_domain;   /* lower case */
	const char *dkim_identity; /* as given */
	const char *dkim_selector; /* lower case */
	const char *spf_dns;       /* the first SPF-DNS, as given */

	/* ---- the original message's header fields (arf_original_headers) ----
	 * Under ARF_REDACT_HASHED the local parts of the addresses in them are
	 * keyed hashes; under ARF_REDACT_NONE only header_from_domain and
	 * date are kept. */
	const char *subject;            /* RFC 2047 decoded, UTF-8 */
	const char *from;               /* the From value, unfolded */
	const char *header_from_domain; /* domain of the first From address, lower case */
	const char *to;
	const char *message_id;
	int64_t date; /* Date, Unix seconds */
	int have_date;

	unsigned nwarnings;
	unsigned warnings_dropped;
	const char *warnings[DM_MAX_WARNINGS];
};

void dm_failure_init(struct dm_failure_report *r);
void dm_failure_free(struct dm_failure_report *r);
/* Empty r for the next report, keeping its arena's first block. */
void dm_failure_reset(struct dm_failure_report *r);
/* Add a warning (formatted, cut to DM_MAX_ERROR_LEN, each text once);
 * past DM_MAX_WARNINGS they are only counted. */
void dm_failure_warn(struct dm_failure_report *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

#endif
