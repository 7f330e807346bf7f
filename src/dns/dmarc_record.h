/*
 * dmarc_record.h - a DMARC policy record (the TXT at _dmarc.DOMAIN) read
 * tag by tag, as RFC 7489 and DMARCbis (RFC 9989) define it, with every
 * problem a domain owner should hear about (../shared/SPECS.md §2).
 *
 * Parsing never fails: whatever the text, the result says what was read,
 * what a receiver would apply (the effective policy, defaults filled in)
 * and one finding per problem, each with a severity, a stable code and a
 * message.  The codes are listed in docs/RECORDS.md.
 */
#ifndef DM_DNS_DMARC_RECORD_H
#define DM_DNS_DMARC_RECORD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

struct dm_json;

enum dm_finding_severity { DM_FINDING_ERROR, DM_FINDING_WARNING, DM_FINDING_INFO };

struct dm_finding {
	enum dm_finding_severity severity;
	const char *code; /* a static string: "unknown_tag", ... */
	char message[256];
};

/* One report destination of rua= or ruf=. */
struct dm_report_uri {
	char uri[DM_DMARC_MAX_URI + 1];     /* without a !size suffix */
	char address[DM_DMARC_MAX_URI + 1]; /* mailto: the address, else "" */
	char host[DM_DMARC_MAX_URI + 1];    /* mailto: its domain, lower case */
	int mailto;                         /* the scheme is mailto */
	int has_size;
	uint64_t size; /* bytes, of the obsolete !size suffix */
};

struct dm_dmarc_record {
	int is_dmarc; /* begins with v=DMARC1: a DMARC record at all */
	int valid;    /* no finding of severity error */
	/* as written ("" when absent), lower case */
	char p[16], sp[16], np[16], adkim[4], aspf[4], fo[16], t[4], psd[4], rf[16];
	int pct;    /* -1 when absent */
	int64_t ri; /* -1 when absent */
	/* what a receiver applies: defaults filled in; p is "none" when the
	 * record has none but a usable rua (both RFCs), "" when no policy */
	struct {
		char p[16], sp[16], np[16], adkim[4], aspf[4], fo[16], t[4], psd[4];
		int pct;
	} eff;
	struct dm_report_uri rua[DM_DMARC_MAX_URIS], ruf[DM_DMARC_MAX_URIS];
	size_t nrua, nruf;
	struct dm_finding findings[DM_DMARC_MAX_FINDINGS];
	size_t nfindings;
	int findings_dropped; /* more than DM_DMARC_MAX_FINDINGS */
	size_t nerrors;       /* findings of severity error, kept or dropped */
};

/* Read text (len bytes; the TXT strings of one record already joined). */
void dm_dmarc_record_parse(const char *text, size_t len, struct dm_dmarc_record *r);

/* The severity's name: "error", "warning", "info". */
const char *dm_finding_severity_name(enum dm_finding_severity s);

/* Shared with spf_record.c: a finding added to v (n kept of at most
 * DM_DMARC_MAX_FINDINGS; errors counted also when dropped); at most
 * DM_FINDING_QUOTE characters of s, printable only, for a message; the
 * findings as a JSON array under the key "findings". */
#define DM_FINDING_QUOTE 40
void dm_finding_vadd(struct dm_finding *v, size_t *n, size_t *nerrors, int *dropped,
                     enum dm_finding_severity s, const char *code, const char *fmt, va_list ap);
const char *dm_finding_quote(char out[DM_FINDING_QUOTE + 4], const char *s, size_t n);
void dm_findings_json(struct dm_json *j, const struct dm_finding *v, size_t n);

/* r as one JSON object: is_dmarc, valid, tags (as written), effective,
 * rua, ruf, findings. */
void dm_dmarc_record_json(const struct dm_dmarc_record *r, struct dm_json *j);

/* What a generated record says; NULL or "" leaves a tag out (its default
 * applies).  rua and ruf: addresses, with or without "mailto:". */
struct dm_dmarc_wish {
	const char *p, *sp, *np, *adkim, *aspf, *fo;
	const char *rua[DM_DMARC_MAX_URIS], *ruf[DM_DMARC_MAX_URIS];
	size_t nrua, nruf;
	int testing; /* t=y */
};

/* The record for w into out (outlen bytes): v=DMARC1 and p first (both
 * RFCs read that), then the other tags, lower case; a tag equal to its
 * default is left out.  0, or -1 when it does not fit. */
int dm_dmarc_record_generate(const struct dm_dmarc_wish *w, char *out, size_t outlen);

/* text as the character-strings of one TXT record in a zone file: each
 * at most 255 bytes, split at tag boundaries where one fits, quoted
 * ("..." "..."), into out.  0, or -1 when it does not fit. */
int dm_txt_zone_strings(const char *text, char *out, size_t outlen);

#endif
