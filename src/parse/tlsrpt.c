/*
 * tlsrpt.c - SMTP TLS report (RFC 8460) parser over the JSON tokenizer.
 *
 * Functions: tls_parser_new, tls_parser_free, tls_parser_reset,
 * tls_parser_feed, tls_parser_finish, tls_parser_error,
 * tls_parser_report, tls_parser_is_tlsrpt.
 *
 * The tokenizer's events drive a stack of frames, one per open object
 * or array, each knowing what it is (the report, date-range, policies,
 * one policy entry, its policy, summary, failure-details, one failure
 * detail, a policy-string or mx-host list, or something unknown that is
 * skipped whole).  Members are looked up by (frame, key) in one table, so
 * keys come in any order at every level.  A failure detail is handed to
 * its callback when its object closes, a policy when its entry closes;
 * their strings live in two arenas reset after each callback.
 *
 * Decisions (SPECS 3.4, 6.6):
 *   - a key we read that comes twice in one object refuses the report,
 *     naming the key (mx-host and mx-host-pattern, additional-information
 *     and additional-info-uri count as one key); duplicates among unknown
 *     keys are ignored like the keys themselves (finding them would need
 *     memory that grows with the document);
 *   - counts must be non-negative JSON integers below 2^63: a float, a
 *     negative number, a larger one, true/false or an object refuse the
 *     report; a string of digits is read with a warning; null or a
 *     missing count reads as 0 with a warning;
 *   - dates: RFC 3339 ('T' or 't' or a space, 'Z' or 'z' or an offset,
 *     any fractional seconds, dropped); without a time zone UTC is
 *     assumed (warning); a bare YYYY-MM-DD is its 00:00:00Z as a start
 *     and its 23:59:59Z as an end (the whole day, as Google's reports end
 *     at 23:59:59Z; warning); a JSON number is Unix seconds (warning;
 *     milliseconds above DM_MAX_PLAUSIBLE_EPOCH are divided by 1000);
 *     anything else, or an end before the start, refuses the report;
 *   - required: organization-name, report-id, date-range with both dates,
 *     a policies array; an empty policies array is accepted with a
 *     warning (a reporter that saw no session has nothing to say, but its
 *     report is not broken); contact-info missing is a warning;
 *   - missing or invalid IPs, policy-domain, policy-type, result-type,
 *     summary, and a summary failure count that differs from the sum of
 *     its failure details (mail.ru) are counted and told in one warning
 *     each at the end, so a big report cannot flood the warnings;
 *   - an object or array where the report's structure wants another type
 *     (policies not an array, a policy entry not an object) refuses it; a
 *     string field given another type is ignored with a warning;
 *   - identifiers are trimmed; domains lower-cased (ASCII) without a
 *     trailing dot; report-id and organization-name longer than
 *     DM_MAX_ID_LEN refuse the report; a kept string with U+0000 refuses
 *     it (a C string would be cut short silently).
 * Logs nothing: reasons and warnings go to the caller.
 */
#include "tlsrpt.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/ip.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "parse/jsontok.h"

/* What an open object or array is. */
enum ctx {
	C_SKIP, /* unknown: everything inside is ignored */
	C_ROOT,
	C_DATES,
	C_POLICIES,
	C_ITEM, /* one entry of policies */
	C_POLICY,
	C_PSTRINGS,
	C_MXLIST,
	C_SUMMARY,
	C_FAILURES,
	C_FAILURE,
};

enum field {
	F_NONE = 0,
	F_ORG,
	F_CONTACT,
	F_REPORT_ID,
	F_DATES,
	F_POLICIES,
	F_START,
	F_END,
	F_POLICY,
	F_SUMMARY,
	F_FAILURES,
	F_PTYPE,
	F_PSTRING,
	F_PDOMAIN,
	F_MX,
	F_SUCC,
	F_FAILC,
	F_RTYPE,
	F_SIP,
	F_RHOST,
	F_RHELO,
	F_RIP,
	F_FCOUNT,
	F_ADDINFO,
	F_REASON,
	F_COUNT_ALL
};

struct key_def {
	enum ctx ctx;
	const char *name;
	enum field field;
};

static const struct key_def keys[] = {
        {C_ROOT, "organization-name", F_ORG},
        {C_ROOT, "contact-info", F_CONTACT},
        {C_ROOT, "report-id", F_REPORT_ID},
        {C_ROOT, "date-range", F_DATES},
        {C_ROOT, "policies", F_POLICIES},
        {C_DATES, "start-datetime", F_START},
        {C_DATES, "end-datetime", F_END},
        {C_ITEM, "policy", F_POLICY},
        {C_ITEM, "summary", F_SUMMARY},
        {C_ITEM, "failure-details", F_FAILURES},
        {C_POLICY, "policy-type", F_PTYPE},
        {C_POLICY, "policy-string", F_PSTRING},
        {C_POLICY, "policy-domain", F_PDOMAIN},
        {C_POLICY, "mx-host", F_MX},         /* RFC 8460 text and example */
        {C_POLICY, "mx-host-pattern", F_MX}, /* its JSON schema */
        {C_SUMMARY, "total-successful-session-count", F_SUCC},
        {C_SUMMARY, "total-failure-session-count", F_FAILC},
        {C_FAILURE, "result-type", F_RTYPE},
        {C_FAILURE, "sending-mta-ip", F_SIP},
        {C_FAILURE, "receiving-mx-hostname", F_RHOST},
        {C_FAILURE, "receiving-mx-helo", F_RHELO},
        {C_FAILURE, "receiving-ip", F_RIP},
        {C_FAILURE, "failed-session-count", F_FCOUNT},
        {C_FAILURE, "additional-information", F_ADDINFO}, /* RFC 8460 example */
        {C_FAILURE, "additional-info-uri", F_ADDINFO},    /* its JSON schema */
        {C_FAILURE, "failure-reason-code", F_REASON},
};

/* Names for messages (the first spelling of each field). */
static const char *
field_name(enum field f)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].field == f)
			return keys[i].name;
	return "?";
}

struct frame {
	enum ctx ctx;
	enum field field; /* objects: the member whose value comes next */
	uint32_t seen;    /* objects: the fields met, one bit each */
	unsigned n;       /* arrays: elements so far */
};

/* Things counted over the report and told once at the end. */
struct tally {
	uint64_t no_sip, bad_sip, no_rip, bad_rip, no_rtype, no_fcount;
	uint64_t no_domain, no_ptype, no_policy, no_summary, no_counts;
	uint64_t mismatch;
	char bad_sip_ex[64], bad_rip_ex[64];
	unsigned mismatch_pol;
	uint64_t mismatch_summary, mismatch_details;
};

struct tls_parser {
	struct jsontok *tok;
	tls_policy_fn on_policy;
	tls_failure_fn on_failure;
	void *arg;
	int rc; /* latched: 0 or the first error */
	char error[DM_MAX_ERROR_LEN];
	uint64_t bytes;
	int is_tlsrpt;
	int have_policies;

	int depth;
	struct frame fr[DM_TLS_MAX_DEPTH + 1];

	struct dm_tls_report rep;

	/* the policy entry being read */
	unsigned items; /* policy entries started */
	struct dm_tls_policy pol;
	struct dm_arena pol_arena;
	int pol_have_policy, pol_have_summary, pol_have_succ, pol_have_failc;
	uint64_t pol_detail_sum, pol_ndetails;

	/* policy-string lines or mx-host entries being joined */
	struct dm_buf join;
	unsigned join_n;
	int join_cut;

	/* the failure detail being read */
	struct dm_tls_failure fl;
	struct dm_arena fl_arena;
	int fl_have_count;
	int fl_bad_sip, fl_bad_rip; /* an address was there but invalid */

	struct tally tally;
};

/* ---- errors and small helpers ------------------------------------------ */

static int fail(struct tls_parser *p, int rc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Latch the first error, with the byte offset where it was seen; returns
 * rc so an event handler can hand it to the tokenizer. */
static int
fail(struct tls_parser *p, int rc, const char *fmt, ...)
{
	if (p->rc)
		return p->rc;
	char msg[DM_MAX_ERROR_LEN - 40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(p->error, sizeof p->error, "invalid TLS report: %s at byte %llu", msg,
	         (unsigned long long)jsontok_offset(p->tok));
	p->rc = rc;
	return rc;
}

/* Short, printable copy of attacker text for a message. */
static const char *
shown(char *out, size_t outlen, const char *s, size_t n)
{
	dm_log_escape(out, outlen, s, n);
	return out;
}

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
trim(const char **s, size_t *n)
{
	while (*n && is_ws((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_ws((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

static void
lower_ascii(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
}

/* A lower-case copy without a trailing dot. */
static const char *
domain_dup(struct dm_arena *a, const char *s, size_t n)
{
	if (n && s[n - 1] == '.')
		n--;
	char *d = dm_arena_strndup(a, s, n);
	lower_ascii(d, n);
	return d;
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return UINT64_MAX - a < b ? UINT64_MAX : a + b;
}

static void
push(struct tls_parser *p, enum ctx ctx)
{
	/* the tokenizer refuses deeper documents */
	if (p->depth > DM_TLS_MAX_DEPTH)
		abort();
	struct frame *f = &p->fr[p->depth++];
	f->ctx = ctx;
	f->field = F_NONE;
	f->seen = 0;
	f->n = 0;
}

/* ---- counts and dates -------------------------------------------------- */

/* A count: a JSON integer >= 0 and < 2^63, or a string of digits (with
 * a warning).  0 with *out set, or a negative code. */
static int
read_count(struct tls_parser *p, enum field fld, enum jsontok_ev ev, const char *s, size_t n,
           uint64_t *out)
{
	const char *name = field_name(fld);
	char esc[64];
	if (ev == JSONTOK_STRING) {
		trim(&s, &n);
		if (n == 0)
			return fail(p, DM_EFORMAT, "%s is an empty string, not a count", name);
		for (size_t i = 0; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				return fail(p, DM_EFORMAT, "%s is not a count: '%s'", name,
				            shown(esc, sizeof esc, s, n));
		dm_tls_report_warn(&p->rep, "%s given as a string", name);
	} else if (ev == JSONTOK_NUMBER) {
		if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
			return fail(p, DM_EFORMAT, "%s is not an integer: %s", name,
			            shown(esc, sizeof esc, s, n));
		if (s[0] == '-') {
			if (!(n == 2 && s[1] == '0')) /* -0 is 0 */
				return fail(p, DM_EFORMAT, "%s is negative: %s", name,
				            shown(esc, sizeof esc, s, n));
			s++;
			n--;
		}
	} else
		return fail(p, DM_EFORMAT, "%s is not a number", name);
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return fail(p, DM_ELIMIT, "%s above 2^63-1: %s", name,
			            shown(esc, sizeof esc, s, n));
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int
digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

enum { DT_NO_TZ = 1, DT_DATE_ONLY = 2 };

/*
 * RFC 3339 date-time and the forms reporters use instead: 'T', 't' or a
 * space between date and time; fractional seconds of any length
 * (dropped); 'Z', 'z', +HH:MM, -HH:MM or +HHMM; no zone at all
 * (DT_NO_TZ, read as UTC); a date alone (DT_DATE_ONLY: 00:00:00, or
 * 23:59:59 when end_of_day).  0 or -1.
 */
static int
parse_datetime(const char *s, size_t n, int end_of_day, int64_t *out, int *flags)
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	*flags = 0;
	if (n < 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) || digits(s + 5, 2, &mo) ||
	    digits(s + 8, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	int64_t off = 0;
	if (n == 10) {
		*flags = DT_DATE_ONLY;
		if (end_of_day) {
			h = 23;
			mi = 59;
			sec = 59;
		}
	} else {
		if (n < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
		    s[16] != ':' || digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
		    digits(s + 17, 2, &sec))
			return -1;
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (sec == 60) /* a leap second */
			sec = 59;
		size_t i = 19;
		if (i < n && s[i] == '.') {
			size_t start = ++i;
			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
			if (i == start)
				return -1;
		}
		if (i == n)
			*flags = DT_NO_TZ;
		else if (s[i] == 'Z' || s[i] == 'z') {
			if (i + 1 != n)
				return -1;
		} else if (s[i] == '+' || s[i] == '-') {
			unsigned oh, om;
			int neg = s[i] == '-';
			const char *z = s + i + 1;
			size_t zn = n - i - 1;
			if (zn == 5 && z[2] == ':') {
				if (digits(z, 2, &oh) || digits(z + 3, 2, &om))
					return -1;
			} else if (zn == 4) {
				if (digits(z, 2, &oh) || digits(z + 2, 2, &om))
					return -1;
			} else
				return -1;
			if (oh > 23 || om > 59)
				return -1;
			off = (int64_t)(oh * 3600 + om * 60);
			if (neg)
				off = -off;
		} else
			return -1;
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
	return 0;
}

static int
read_date(struct tls_parser *p, enum field fld, enum jsontok_ev ev, const char *s, size_t n)
{
	struct dm_tls_report *r = &p->rep;
	const char *name = field_name(fld);
	int is_end = fld == F_END;
	char esc[80];
	int64_t t;
	if (ev == JSONTOK_STRING) {
		int flags;
		trim(&s, &n);
		if (parse_datetime(s, n, is_end, &t, &flags) != 0)
			return fail(p, DM_EFORMAT, "%s is not a date: '%s'", name,
			            shown(esc, sizeof esc, s, n));
		if (flags & DT_DATE_ONLY)
			dm_tls_report_warn(r, "%s is a date without a time: read as %s UTC", name,
			                   is_end ? "its 23:59:59" : "its 00:00:00");
		else if (flags & DT_NO_TZ)
			dm_tls_report_warn(r, "%s has no time zone: read as UTC", name);
	} else if (ev == JSONTOK_NUMBER) {
		uint64_t v = 0;
		size_t i = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			if (v > (uint64_t)INT64_MAX / 10 - 1)
				break;
			v = v * 10 + (uint64_t)(s[i] - '0');
		}
		size_t j = i < n && s[i] == '.' ? i + 1 : i; /* a fraction is dropped */
		while (j < n && s[j] >= '0' && s[j] <= '9')
			j++;
		if (i == 0 || j != n)
			return fail(p, DM_EFORMAT, "%s is not a date: %s", name,
			            shown(esc, sizeof esc, s, n));
		if (v > (uint64_t)DM_MAX_PLAUSIBLE_EPOCH) {
			if (v / 1000 > (uint64_t)DM_MAX_PLAUSIBLE_EPOCH)
				return fail(p, DM_EFORMAT, "%s is not a plausible time: %s", name,
				            shown(esc, sizeof esc, s, n));
			dm_tls_report_warn(r, "%s looks like milliseconds: divided by 1000", name);
			v /= 1000;
		}
		dm_tls_report_warn(r, "%s given as a number: read as Unix seconds", name);
		t = (int64_t)v;
	} else
		return fail(p, DM_EFORMAT, "%s is not a date", name);
	if (is_end) {
		r->end = t;
		r->have_end = 1;
	} else {
		r->begin = t;
		r->have_begin = 1;
	}
	return 0;
}

/* ---- strings ----------------------------------------------------------- */

static const char *const policy_types[] = {"sts", "tlsa", "no-policy-found", NULL};

/* An address into its canonical text; an invalid one is NULL, counted,
 * the first shown in the warning. */
static void
read_ip(struct tls_parser *p, const char *s, size_t n, const char **slot, int *bad_here,
        uint64_t *bad, char *example, size_t exlen)
{
	unsigned char ip[16];
	char text[DM_IP_TEXT];
	char tmp[DM_IP_TEXT];
	if (n < sizeof tmp) {
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		if (dm_ip_parse(tmp, ip)) {
			dm_ip_format(ip, text, sizeof text);
			*slot = dm_arena_strndup(&p->fl_arena, text, strlen(text));
			return;
		}
	}
	if ((*bad)++ == 0)
		shown(example, exlen, s, n);
	*bad_here = 1;
	*slot = NULL;
}

/* A string member of a known object; s is the unescaped value. */
static int
read_string(struct tls_parser *p, enum field fld, const char *s, size_t n)
{
	struct dm_tls_report *r = &p->rep;
	const char *name = field_name(fld);
	char esc[80];
	trim(&s, &n);
	if (memchr(s, '\0', n))
		return fail(p, DM_EFORMAT, "%s contains U+0000", name);
	if (n == 0)
		return 0; /* as if absent */
	switch (fld) {
	case F_ORG:
	case F_REPORT_ID:
		if (n > DM_MAX_ID_LEN)
			return fail(p, DM_ELIMIT, "%s longer than %d bytes", name, DM_MAX_ID_LEN);
		if (fld == F_ORG)
			r->org_name = dm_arena_strndup(&r->arena, s, n);
		else
			r->report_id = dm_arena_strndup(&r->arena, s, n);
		break;
	case F_CONTACT:
		if (n > DM_MAX_ID_LEN) {
			dm_tls_report_warn(r, "contact-info longer than %d bytes: ignored",
			                   DM_MAX_ID_LEN);
			break;
		}
		r->contact_info = dm_arena_strndup(&r->arena, s, n);
		break;
	case F_PTYPE: {
		char *v = dm_arena_strndup(&p->pol_arena, s, n);
		lower_ascii(v, n);
		for (const char *const *t = policy_types; *t; t++)
			if (strcmp(v, *t) == 0) {
				p->pol.type = *t;
				return 0;
			}
		dm_tls_report_warn(r, "unknown policy-type '%s' kept", shown(esc, 40, v, n));
		p->pol.type = v;
		break;
	}
	case F_PDOMAIN:
		if (n > DM_MAX_DOMAIN_LEN + 1) {
			dm_tls_report_warn(r, "policy-domain longer than %d bytes: ignored",
			                   DM_MAX_DOMAIN_LEN);
			break;
		}
		p->pol.domain = domain_dup(&p->pol_arena, s, n);
		if (!*p->pol.domain)
			p->pol.domain = NULL;
		else if (!r->policy_domain)
			r->policy_domain =
			        dm_arena_strndup(&r->arena, p->pol.domain, strlen(p->pol.domain));
		break;
	case F_MX:
		p->pol.mx_host = domain_dup(&p->pol_arena, s, n);
		break;
	case F_PSTRING:
		/* a string instead of a list: one line */
		dm_tls_report_warn(r, "policy-string is a string, not a list");
		if (n > DM_TLS_MAX_POLICY_STRING_BYTES) {
			dm_tls_report_warn(r, "policy-string longer than %d bytes: dropped",
			                   DM_TLS_MAX_POLICY_STRING_BYTES);
			break;
		}
		p->pol.policy_string = dm_arena_strndup(&p->pol_arena, s, n);
		break;
	case F_RTYPE: {
		char *v = dm_arena_strndup(&p->fl_arena, s, n);
		lower_ascii(v, n);
		p->fl.result_type = v;
		break;
	}
	case F_SIP:
		read_ip(p, s, n, &p->fl.sending_mta_ip, &p->fl_bad_sip, &p->tally.bad_sip,
		        p->tally.bad_sip_ex, sizeof p->tally.bad_sip_ex);
		break;
	case F_RIP:
		read_ip(p, s, n, &p->fl.receiving_ip, &p->fl_bad_rip, &p->tally.bad_rip,
		        p->tally.bad_rip_ex, sizeof p->tally.bad_rip_ex);
		break;
	case F_RHOST:
		p->fl.receiving_mx_hostname = domain_dup(&p->fl_arena, s, n);
		break;
	case F_RHELO:
		p->fl.receiving_mx_helo = dm_arena_strndup(&p->fl_arena, s, n);
		break;
	case F_ADDINFO:
		p->fl.additional_info = dm_arena_strndup(&p->fl_arena, s, n);
		break;
	case F_REASON:
		p->fl.failure_reason_code = dm_arena_strndup(&p->fl_arena, s, n);
		break;
	default:
		break;
	}
	return 0;
}

/* One entry of a policy-string or mx-host list. */
static int
join_add(struct tls_parser *p, enum ctx ctx, const char *s, size_t n)
{
	int mx = ctx == C_MXLIST;
	const char *sep = mx ? ", " : "\n";
	size_t max_n = mx ? DM_TLS_MAX_MX_HOSTS : DM_TLS_MAX_POLICY_STRINGS;
	size_t max_bytes = mx ? DM_TLS_MAX_TOKEN : DM_TLS_MAX_POLICY_STRING_BYTES;
	if (mx) {
		trim(&s, &n);
		if (n && s[n - 1] == '.')
			n--;
		if (n == 0)
			return 0;
	}
	if (memchr(s, '\0', n))
		return fail(p, DM_EFORMAT, "%s contains U+0000", mx ? "mx-host" : "policy-string");
	size_t need = n + (p->join_n ? strlen(sep) : 0);
	if (p->join_n >= max_n || max_bytes - p->join.len < need) {
		p->join_cut = 1;
		return 0;
	}
	size_t at = p->join.len;
	if ((p->join_n && dm_buf_adds(&p->join, sep) != 0) || dm_buf_add(&p->join, s, n) != 0) {
		p->join_cut = 1; /* cannot happen: checked above */
		return 0;
	}
	if (mx)
		lower_ascii(p->join.data + at, p->join.len - at);
	p->join_n++;
	return 0;
}

static void
join_end(struct tls_parser *p, enum ctx ctx)
{
	int mx = ctx == C_MXLIST;
	if (p->join_cut)
		dm_tls_report_warn(&p->rep, "%s cut to %d entries or %d bytes",
		                   mx ? "mx-host list" : "policy-string",
		                   mx ? DM_TLS_MAX_MX_HOSTS : DM_TLS_MAX_POLICY_STRINGS,
		                   mx ? DM_TLS_MAX_TOKEN : DM_TLS_MAX_POLICY_STRING_BYTES);
	const char *v =
	        p->join_n ? dm_arena_strndup(&p->pol_arena, p->join.data, p->join.len) : NULL;
	if (mx)
		p->pol.mx_host = v;
	else
		p->pol.policy_string = v;
	dm_buf_reset(&p->join);
	p->join_n = 0;
	p->join_cut = 0;
}

/* ---- policies and failure details ------------------------------------- */

static int
item_begin(struct tls_parser *p)
{
	if (p->items >= DM_TLS_MAX_POLICIES)
		return fail(p, DM_ELIMIT, "more than %d policies", DM_TLS_MAX_POLICIES);
	dm_arena_reset(&p->pol_arena);
	memset(&p->pol, 0, sizeof p->pol);
	p->pol.index = p->items++;
	p->pol_have_policy = p->pol_have_summary = 0;
	p->pol_have_succ = p->pol_have_failc = 0;
	p->pol_detail_sum = p->pol_ndetails = 0;
	push(p, C_ITEM);
	return 0;
}

static int
item_end(struct tls_parser *p)
{
	struct dm_tls_report *r = &p->rep;
	struct tally *t = &p->tally;
	struct dm_tls_policy *pol = &p->pol;
	if (!p->pol_have_policy)
		t->no_policy++;
	else {
		if (!pol->type)
			t->no_ptype++;
		if (!pol->domain)
			t->no_domain++;
	}
	if (!pol->type)
		pol->type = "";
	if (!p->pol_have_summary)
		t->no_summary++;
	else if (!p->pol_have_succ || !p->pol_have_failc)
		t->no_counts++;
	if (p->pol_ndetails && p->pol_detail_sum != pol->failure) {
		if (t->mismatch++ == 0) {
			t->mismatch_pol = pol->index;
			t->mismatch_summary = pol->failure;
			t->mismatch_details = p->pol_detail_sum;
		}
	}
	r->success = sat_add(r->success, pol->success);
	r->failure = sat_add(r->failure, pol->failure);
	r->npolicies++;
	int rc = p->on_policy ? p->on_policy(p->arg, r, pol) : 0;
	dm_arena_reset(&p->pol_arena);
	if (rc < 0)
		return fail(p, rc, "policy %u: %s", pol->index, dm_strerror(rc));
	return 0;
}

static int
failure_begin(struct tls_parser *p)
{
	if (p->rep.failure_details >= DM_TLS_MAX_FAILURES)
		return fail(p, DM_ELIMIT, "more than %d failure details", DM_TLS_MAX_FAILURES);
	dm_arena_reset(&p->fl_arena);
	memset(&p->fl, 0, sizeof p->fl);
	p->fl.policy = p->pol.index;
	p->fl_have_count = 0;
	p->fl_bad_sip = p->fl_bad_rip = 0;
	push(p, C_FAILURE);
	return 0;
}

static int
failure_end(struct tls_parser *p)
{
	struct dm_tls_report *r = &p->rep;
	struct tally *t = &p->tally;
	struct dm_tls_failure *f = &p->fl;
	/* absent, null or empty; an invalid one is counted apart */
	if (!f->sending_mta_ip && !p->fl_bad_sip)
		t->no_sip++;
	if (!f->receiving_ip && !p->fl_bad_rip)
		t->no_rip++;
	if (!f->result_type) {
		f->result_type = "";
		t->no_rtype++;
	}
	if (!p->fl_have_count)
		t->no_fcount++;
	p->pol_detail_sum = sat_add(p->pol_detail_sum, f->sessions);
	p->pol_ndetails++;
	r->failure_details++;
	int rc = p->on_failure ? p->on_failure(p->arg, r, f) : 0;
	dm_arena_reset(&p->fl_arena);
	if (rc < 0)
		return fail(p, rc, "failure detail of policy %u: %s", f->policy, dm_strerror(rc));
	return 0;
}

/* ---- events ------------------------------------------------------------ */

static int
is_container(enum jsontok_ev ev)
{
	return ev == JSONTOK_OBJ_BEGIN || ev == JSONTOK_ARR_BEGIN;
}

static const char *
ev_type(enum jsontok_ev ev)
{
	switch (ev) {
	case JSONTOK_OBJ_BEGIN:
		return "an object";
	case JSONTOK_ARR_BEGIN:
		return "an array";
	case JSONTOK_STRING:
		return "a string";
	case JSONTOK_NUMBER:
		return "a number";
	case JSONTOK_TRUE:
	case JSONTOK_FALSE:
		return "a boolean";
	case JSONTOK_NULL:
		return "null";
	default:
		return "?";
	}
}

/* The value of member fld of an object of type ctx. */
static int
member_value(struct tls_parser *p, enum field fld, enum jsontok_ev ev, const char *s, size_t n)
{
	struct dm_tls_report *r = &p->rep;
	const char *name = field_name(fld);
	if (fld == F_NONE) {
		if (is_container(ev))
			push(p, C_SKIP);
		return 0;
	}
	/* members whose value is an object or an array */
	enum ctx want = C_SKIP;
	enum jsontok_ev want_ev = JSONTOK_OBJ_BEGIN;
	switch (fld) {
	case F_DATES:
		want = C_DATES;
		break;
	case F_POLICY:
		want = C_POLICY;
		break;
	case F_SUMMARY:
		want = C_SUMMARY;
		break;
	case F_POLICIES:
		want = C_POLICIES;
		want_ev = JSONTOK_ARR_BEGIN;
		break;
	case F_FAILURES:
		want = C_FAILURES;
		want_ev = JSONTOK_ARR_BEGIN;
		break;
	case F_PSTRING:
	case F_MX:
		if (ev == JSONTOK_ARR_BEGIN) {
			dm_buf_reset(&p->join);
			p->join_n = 0;
			p->join_cut = 0;
			push(p, fld == F_MX ? C_MXLIST : C_PSTRINGS);
			return 0;
		}
		break;
	default:
		break;
	}
	if (want != C_SKIP) {
		if (ev == JSONTOK_NULL)
			return 0; /* as if absent */
		if (ev != want_ev)
			return fail(p, DM_EFORMAT, "%s is %s, not %s", name, ev_type(ev),
			            want_ev == JSONTOK_OBJ_BEGIN ? "an object" : "an array");
		if (fld == F_POLICIES)
			p->have_policies = 1;
		else if (fld == F_POLICY)
			p->pol_have_policy = 1;
		else if (fld == F_SUMMARY)
			p->pol_have_summary = 1;
		push(p, want);
		return 0;
	}
	switch (fld) {
	case F_START:
	case F_END:
		if (ev == JSONTOK_NULL)
			return 0;
		if (is_container(ev))
			return fail(p, DM_EFORMAT, "%s is %s, not a date", name, ev_type(ev));
		return read_date(p, fld, ev, s, n);
	case F_SUCC:
	case F_FAILC:
	case F_FCOUNT: {
		uint64_t v = 0;
		if (ev == JSONTOK_NULL)
			return 0;
		if (read_count(p, fld, ev, s, n, &v))
			return p->rc;
		if (fld == F_SUCC) {
			p->pol.success = v;
			p->pol_have_succ = 1;
		} else if (fld == F_FAILC) {
			p->pol.failure = v;
			p->pol_have_failc = 1;
		} else {
			p->fl.sessions = v;
			p->fl_have_count = 1;
		}
		return 0;
	}
	default:
		break;
	}
	/* string members */
	if (ev == JSONTOK_STRING)
		return read_string(p, fld, s, n);
	if (ev == JSONTOK_NULL)
		return 0;
	dm_tls_report_warn(r, "%s is %s, not a string: ignored", name, ev_type(ev));
	if (is_container(ev))
		push(p, C_SKIP);
	return 0;
}

/* An element of an array of type ctx. */
static int
element_value(struct tls_parser *p, struct frame *f, enum jsontok_ev ev, const char *s, size_t n)
{
	unsigned i = f->n++;
	switch (f->ctx) {
	case C_POLICIES:
		if (ev != JSONTOK_OBJ_BEGIN)
			return fail(p, DM_EFORMAT, "policies[%u] is %s, not an object", i,
			            ev_type(ev));
		return item_begin(p);
	case C_FAILURES:
		if (ev != JSONTOK_OBJ_BEGIN)
			return fail(p, DM_EFORMAT, "failure-details[%u] is %s, not an object", i,
			            ev_type(ev));
		return failure_begin(p);
	case C_PSTRINGS:
	case C_MXLIST:
		if (ev == JSONTOK_STRING)
			return join_add(p, f->ctx, s, n);
		dm_tls_report_warn(&p->rep, "%s entry is %s, not a string: ignored",
		                   f->ctx == C_MXLIST ? "mx-host" : "policy-string", ev_type(ev));
		if (is_container(ev))
			push(p, C_SKIP);
		return 0;
	default:
		break;
	}
	if (is_container(ev))
		push(p, C_SKIP);
	return 0;
}

static int
on_key(struct tls_parser *p, struct frame *f, const char *s, size_t n)
{
	char esc[80];
	f->field = F_NONE;
	if (f->ctx == C_SKIP)
		return 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key_def *k = &keys[i];
		if (k->ctx != f->ctx || strlen(k->name) != n || memcmp(k->name, s, n) != 0)
			continue;
		uint32_t bit = 1u << k->field;
		if (f->seen & bit)
			return fail(p, DM_EFORMAT, "duplicate key \"%s\"",
			            shown(esc, sizeof esc, s, n));
		f->seen |= bit;
		f->field = k->field;
		if (f->ctx == C_ROOT)
			p->is_tlsrpt = 1;
		return 0;
	}
	return 0;
}

static int
on_end(struct tls_parser *p)
{
	struct frame *f = &p->fr[--p->depth];
	switch (f->ctx) {
	case C_ITEM:
		return item_end(p);
	case C_FAILURE:
		return failure_end(p);
	case C_PSTRINGS:
	case C_MXLIST:
		join_end(p, f->ctx);
		return 0;
	default:
		return 0;
	}
}

static int
on_event(void *arg, enum jsontok_ev ev, const char *s, size_t n)
{
	struct tls_parser *p = arg;
	if (ev == JSONTOK_OBJ_END || ev == JSONTOK_ARR_END)
		return on_end(p);
	if (p->depth == 0) {
		if (ev != JSONTOK_OBJ_BEGIN)
			return fail(p, DM_EFORMAT, "the top level is %s, not an object",
			            ev_type(ev));
		push(p, C_ROOT);
		return 0;
	}
	struct frame *f = &p->fr[p->depth - 1];
	if (ev == JSONTOK_KEY)
		return on_key(p, f, s, n);
	if (f->ctx == C_SKIP) {
		if (is_container(ev))
			push(p, C_SKIP);
		return 0;
	}
	switch (f->ctx) {
	case C_POLICIES:
	case C_FAILURES:
	case C_PSTRINGS:
	case C_MXLIST:
		return element_value(p, f, ev, s, n);
	default:
		return member_value(p, f->field, ev, s, n);
	}
}

/* ---- public ------------------------------------------------------------ */

struct tls_parser *
tls_parser_new(tls_policy_fn on_policy, tls_failure_fn on_failure, void *arg)
{
	struct tls_parser *p = xcalloc(1, sizeof *p);
	p->on_policy = on_policy;
	p->on_failure = on_failure;
	p->arg = arg;
	p->tok = jsontok_new(on_event, p);
	dm_tls_report_init(&p->rep);
	dm_arena_init(&p->pol_arena);
	dm_arena_init(&p->fl_arena);
	dm_buf_init(&p->join, DM_TLS_MAX_TOKEN);
	return p;
}

void
tls_parser_free(struct tls_parser *p)
{
	if (!p)
		return;
	jsontok_free(p->tok);
	dm_tls_report_free(&p->rep);
	dm_arena_free(&p->pol_arena);
	dm_arena_free(&p->fl_arena);
	dm_buf_free(&p->join);
	free(p);
}

void
tls_parser_reset(struct tls_parser *p)
{
	jsontok_reset(p->tok);
	dm_tls_report_reset(&p->rep);
	dm_arena_reset(&p->pol_arena);
	dm_arena_reset(&p->fl_arena);
	dm_buf_reset(&p->join);
	p->join_n = 0;
	p->join_cut = 0;
	p->rc = 0;
	p->error[0] = '\0';
	p->bytes = 0;
	p->is_tlsrpt = 0;
	p->have_policies = 0;
	p->depth = 0;
	p->items = 0;
	memset(&p->pol, 0, sizeof p->pol);
	memset(&p->fl, 0, sizeof p->fl);
	memset(&p->tally, 0, sizeof p->tally);
}

/* The tokenizer failed: keep our own reason if the failure was ours. */
static int
from_tok(struct tls_parser *p, int rc)
{
	if (!p->rc) {
		p->rc = rc;
		snprintf(p->error, sizeof p->error, "%s", jsontok_error(p->tok));
	}
	return p->rc;
}

int
tls_parser_feed(struct tls_parser *p, const void *buf, size_t len)
{
	if (p->rc)
		return p->rc;
	if (DM_TLS_MAX_BYTES - p->bytes < len)
		return fail(p, DM_ELIMIT, "document larger than %llu bytes",
		            (unsigned long long)DM_TLS_MAX_BYTES);
	p->bytes += len;
	int rc = jsontok_feed(p->tok, buf, len);
	return rc ? from_tok(p, rc) : 0;
}

/* The warnings counted while parsing, one each. */
static void
tell_tally(struct tls_parser *p)
{
	struct dm_tls_report *r = &p->rep;
	struct tally *t = &p->tally;
	if (t->no_policy)
		dm_tls_report_warn(r, "%" PRIu64 " policy entr(ies) without \"policy\"",
		                   t->no_policy);
	if (t->no_ptype)
		dm_tls_report_warn(r, "%" PRIu64 " polic(ies) without policy-type", t->no_ptype);
	if (t->no_domain)
		dm_tls_report_warn(r, "%" PRIu64 " polic(ies) without policy-domain", t->no_domain);
	if (t->no_summary)
		dm_tls_report_warn(r, "%" PRIu64 " polic(ies) without summary", t->no_summary);
	if (t->no_counts)
		dm_tls_report_warn(r,
		                   "%" PRIu64 " summar(ies) without both session counts (0 used)",
		                   t->no_counts);
	if (t->mismatch)
		dm_tls_report_warn(r,
		                   "%" PRIu64 " polic(ies) whose summary failure count differs "
		                   "from their failure details (first: policy %u: summary %" PRIu64
		                   ", details %" PRIu64 ")",
		                   t->mismatch, t->mismatch_pol, t->mismatch_summary,
		                   t->mismatch_details);
	if (t->no_sip)
		dm_tls_report_warn(r, "%" PRIu64 " failure detail(s) without sending-mta-ip",
		                   t->no_sip);
	if (t->bad_sip)
		dm_tls_report_warn(r,
		                   "%" PRIu64 " failure detail(s) with an invalid sending-mta-ip "
		                   "(first: '%s')",
		                   t->bad_sip, t->bad_sip_ex);
	if (t->no_rip)
		dm_tls_report_warn(r, "%" PRIu64 " failure detail(s) without receiving-ip",
		                   t->no_rip);
	if (t->bad_rip)
		dm_tls_report_warn(r,
		                   "%" PRIu64 " failure detail(s) with an invalid receiving-ip "
		                   "(first: '%s')",
		                   t->bad_rip, t->bad_rip_ex);
	if (t->no_rtype)
		dm_tls_report_warn(r, "%" PRIu64 " failure detail(s) without result-type",
		                   t->no_rtype);
	if (t->no_fcount)
		dm_tls_report_warn(r,
		                   "%" PRIu64 " failure detail(s) without failed-session-count "
		                   "(0 used)",
		                   t->no_fcount);
}

int
tls_parser_finish(struct tls_parser *p)
{
	struct dm_tls_report *r = &p->rep;
	if (p->rc)
		return p->rc;
	int rc = jsontok_finish(p->tok);
	if (rc)
		return from_tok(p, rc);
	if (!r->report_id)
		return fail(p, DM_EFORMAT, "no report-id");
	if (!r->org_name)
		return fail(p, DM_EFORMAT, "no organization-name");
	if (!r->have_begin && !r->have_end)
		return fail(p, DM_EFORMAT, "no date-range");
	if (!r->have_begin)
		return fail(p, DM_EFORMAT, "no date-range start-datetime");
	if (!r->have_end)
		return fail(p, DM_EFORMAT, "no date-range end-datetime");
	if (r->end < r->begin)
		return fail(p, DM_EFORMAT,
		            "date-range end-datetime %" PRId64 " before start-datetime %" PRId64,
		            r->end, r->begin);
	if (!p->have_policies)
		return fail(p, DM_EFORMAT, "no policies");
	if (!r->contact_info)
		dm_tls_report_warn(r, "no contact-info");
	if (p->items == 0)
		dm_tls_report_warn(r, "empty policies list");
	tell_tally(p);
	return 0;
}

const char *
tls_parser_error(const struct tls_parser *p)
{
	return p->error;
}

struct dm_tls_report *
tls_parser_report(struct tls_parser *p)
{
	return &p->rep;
}

int
tls_parser_is_tlsrpt(const struct tls_parser *p)
{
	return p->is_tlsrpt;
}
