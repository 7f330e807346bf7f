/*
 * spf_record.c - an SPF record read term by term (spf_record.h), as RFC
 * 7208 §4.6 and §12 define its syntax.
 *
 * Functions: dm_spf_record_parse, dm_spf_kind_name, dm_spf_record_json.
 *
 * The text must begin with "v=spf1" (any case) followed by a space or its
 * end.  Terms are separated by spaces.  A term whose name is followed by
 * '=' is a modifier (redirect, exp, or one RFC 7208 says to ignore); any
 * other is a directive: an optional qualifier and a mechanism.  Domain
 * specifications are checked with their macros (§7.1); addresses with
 * inet_pton.  Messages quote record text only as dm_finding_quote allows.
 */
#include "dns/spf_record.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/json.h"

static void DM_PRINTF(4, 5) finding(struct dm_spf_record *r, enum dm_finding_severity s,
                                    const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dm_finding_vadd(r->findings, &r->nfindings, &r->nerrors, &r->findings_dropped, s, code, fmt,
	                ap);
	va_end(ap);
}

static const char *const kind_names[] = {
        [DM_SPF_ALL] = "all",
        [DM_SPF_INCLUDE] = "include",
        [DM_SPF_A] = "a",
        [DM_SPF_MX] = "mx",
        [DM_SPF_PTR] = "ptr",
        [DM_SPF_IP4] = "ip4",
        [DM_SPF_IP6] = "ip6",
        [DM_SPF_EXISTS] = "exists",
        [DM_SPF_REDIRECT] = "redirect",
        [DM_SPF_EXP] = "exp",
        [DM_SPF_UNKNOWN_MODIFIER] = "modifier",
};

const char *
dm_spf_kind_name(enum dm_spf_kind k)
{
	return (unsigned)k < sizeof kind_names / sizeof kind_names[0] ? kind_names[k] : "?";
}

/* A macro-string (§7.1): literals are visible ASCII but '%'; '%' starts
 * %{letter digits [r] delimiters}, %%, %_ or %-.  exp allows c, r, t.
 * *ends_macro: the string ends with a macro-expand. */
static int
macro_string(const char *s, size_t n, int exp, int *ends_macro)
{
	*ends_macro = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		*ends_macro = 0;
		if (c != '%') {
			if (c < 0x21 || c > 0x7e)
				return 0;
			continue;
		}
		if (i + 1 >= n)
			return 0;
		char t = s[++i];
		if (t == '%' || t == '_' || t == '-') {
			*ends_macro = 1;
			continue;
		}
		if (t != '{' || ++i >= n)
			return 0;
		char letter = (char)tolower((unsigned char)s[i]);
		if (!strchr(exp ? "slodiphcrtv" : "slodiphv", letter) || letter == '\0')
			return 0;
		i++;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		if (i < n && (s[i] == 'r' || s[i] == 'R'))
			i++;
		while (i < n && strchr(".-+,/_=", s[i]) && s[i])
			i++;
		if (i >= n || s[i] != '}')
			return 0;
		*ends_macro = 1;
	}
	return 1;
}

/* A domain-spec: a macro-string ending in a macro or in "." toplabel
 * [.], a toplabel not all digits (RFC 7208 §7.1, domain-end). */
static int
domain_spec(const char *s, size_t n)
{
	int ends_macro;
	if (n == 0 || n > 253 + 1 || !macro_string(s, n, 0, &ends_macro))
		return 0;
	if (ends_macro)
		return 1;
	if (s[n - 1] == '.')
		n--;
	size_t k = n;
	while (k > 0 && s[k - 1] != '.')
		k--;
	if (k == 0 || k == n)
		return 0; /* no dot, or an empty last label */
	int alpha = 0;
	for (size_t i = k; i < n; i++) {
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-'))
			return 0;
		alpha |= isalpha((unsigned char)s[i]);
	}
	return alpha && s[k] != '-' && s[n - 1] != '-';
}

/* "/N" with 0 <= N <= max at s (n bytes); its length, or -1. */
static int
cidr(const char *s, size_t n, int max)
{
	if (n < 2 || s[0] != '/' || !isdigit((unsigned char)s[1]))
		return -1;
	int v = 0;
	size_t i = 1;
	for (; i < n && isdigit((unsigned char)s[i]); i++) {
		v = v * 10 + (s[i] - '0');
		if (v > max || i > 3)
			return -1;
	}
	if (s[1] == '0' && i > 2)
		return -1; /* no leading zero */
	return (int)i;
}

/* The tail of a and mx: [ "/" ip4-cidr ] [ "//" ip6-cidr ]. */
static int
dual_cidr(const char *s, size_t n)
{
	if (n == 0)
		return 1;
	if (n >= 2 && s[0] == '/' && s[1] == '/') {
		int k = cidr(s + 1, n - 1, 128);
		return k > 0 && (size_t)k + 1 == n;
	}
	int k = cidr(s, n, 32);
	if (k < 0)
		return 0;
	if ((size_t)k == n)
		return 1;
	s += k;
	n -= (size_t)k;
	if (n < 2 || s[0] != '/' || s[1] != '/')
		return 0;
	int k6 = cidr(s + 1, n - 1, 128);
	return k6 > 0 && (size_t)k6 + 1 == n;
}

/* The value of ip4: or ip6: (network and optional cidr). */
static int
ip_network(const char *s, size_t n, int v6)
{
	const char *slash = memchr(s, '/', n);
	size_t an = slash ? (size_t)(slash - s) : n;
	char addr[64];
	if (an == 0 || an >= sizeof addr)
		return 0;
	memcpy(addr, s, an);
	addr[an] = '\0';
	unsigned char buf[16];
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) != 1)
		return 0;
	if (!slash)
		return 1;
	int k = cidr(slash, n - an, v6 ? 128 : 32);
	return k > 0 && (size_t)k == n - an;
}

/* One term s[0..n). */
static void
term(struct dm_spf_record *r, const char *s, size_t n, int *seen_all, int *seen_redirect,
     int *seen_exp)
{
	char q[DM_FINDING_QUOTE + 4];
	if (r->nterms == DM_SPF_MAX_TERMS) {
		if (r->nterms == DM_SPF_MAX_TERMS && !r->findings_dropped)
			finding(r, DM_FINDING_ERROR, "too_many_terms",
			        "more than %d terms: the rest are not read", DM_SPF_MAX_TERMS);
		r->nterms++; /* said once */
		return;
	}
	if (r->nterms > DM_SPF_MAX_TERMS)
		return;
	if (n > DM_SPF_MAX_TERM) {
		finding(r, DM_FINDING_ERROR, "syntax", "a term of %zu bytes: '%s'", n,
		        dm_finding_quote(q, s, n));
		return;
	}
	struct dm_spf_term t;
	memset(&t, 0, sizeof t);
	/* a modifier: name "=" (before any ':' or '/') */
	size_t nl = 0;
	while (nl < n && (isalnum((unsigned char)s[nl]) || strchr("-_.", s[nl])) && s[nl])
		nl++;
	if (nl > 0 && nl < n && s[nl] == '=' && isalpha((unsigned char)s[0])) {
		const char *v = s + nl + 1;
		size_t vn = n - nl - 1;
		memcpy(t.value, v, vn);
		if (nl == 8 && strncasecmp(s, "redirect", 8) == 0) {
			t.kind = DM_SPF_REDIRECT;
			t.lookup = 1;
			if ((*seen_redirect)++)
				finding(r, DM_FINDING_ERROR, "duplicate_modifier",
				        "redirect is given twice");
			if (!domain_spec(v, vn))
				finding(r, DM_FINDING_ERROR, "bad_domain",
				        "redirect=%s: not a domain", dm_finding_quote(q, v, vn));
		} else if (nl == 3 && strncasecmp(s, "exp", 3) == 0) {
			t.kind = DM_SPF_EXP;
			if ((*seen_exp)++)
				finding(r, DM_FINDING_ERROR, "duplicate_modifier",
				        "exp is given twice");
			if (!domain_spec(v, vn))
				finding(r, DM_FINDING_ERROR, "bad_domain", "exp=%s: not a domain",
				        dm_finding_quote(q, v, vn));
		} else {
			int em;
			t.kind = DM_SPF_UNKNOWN_MODIFIER;
			memcpy(t.value, s, n);
			t.value[n] = '\0';
			if (!macro_string(v, vn, 0, &em))
				finding(r, DM_FINDING_ERROR, "syntax", "'%s': a bad modifier value",
				        dm_finding_quote(q, s, n));
			else
				finding(r, DM_FINDING_INFO, "unknown_modifier",
				        "'%s': a modifier RFC 7208 does not define, ignored",
				        dm_finding_quote(q, s, nl));
		}
		r->terms[r->nterms++] = t;
		return;
	}
	/* a directive: [qualifier] mechanism */
	t.qualifier = '+';
	size_t i = 0;
	if (strchr("+-~?", s[0]) && s[0]) {
		t.qualifier = s[0];
		i = 1;
	}
	size_t ms = i;
	while (i < n && isalnum((unsigned char)s[i]))
		i++;
	size_t ml = i - ms;
	const char *rest = s + i;
	size_t rn = n - i;
	static const struct {
		const char *name;
		enum dm_spf_kind kind;
	} mech[] = {{"all", DM_SPF_ALL}, {"include", DM_SPF_INCLUDE}, {"a", DM_SPF_A},
	            {"mx", DM_SPF_MX},   {"ptr", DM_SPF_PTR},         {"ip4", DM_SPF_IP4},
	            {"ip6", DM_SPF_IP6}, {"exists", DM_SPF_EXISTS}};
	int found = -1;
	for (size_t k = 0; k < sizeof mech / sizeof mech[0]; k++)
		if (strlen(mech[k].name) == ml && strncasecmp(s + ms, mech[k].name, ml) == 0)
			found = (int)k;
	if (found < 0) {
		finding(r, DM_FINDING_ERROR, "syntax",
		        "'%s' is no mechanism or modifier: receivers answer permerror",
		        dm_finding_quote(q, s, n));
		return;
	}
	t.kind = mech[found].kind;
	memcpy(t.value, rest + (rn && (rest[0] == ':') ? 1 : 0),
	       rn - (rn && rest[0] == ':' ? 1 : 0));
	int ok = 1;
	const char *v = rest + 1;
	size_t vn = rn ? rn - 1 : 0;
	switch (t.kind) {
	case DM_SPF_ALL:
		ok = rn == 0;
		break;
	case DM_SPF_INCLUDE:
	case DM_SPF_EXISTS:
		ok = rn > 1 && rest[0] == ':' && domain_spec(v, vn);
		t.lookup = 1;
		break;
	case DM_SPF_A:
	case DM_SPF_MX:
		t.lookup = 1;
		if (rn > 0 && rest[0] == ':') {
			const char *slash = memchr(v, '/', vn);
			size_t dn = slash ? (size_t)(slash - v) : vn;
			ok = domain_spec(v, dn) && dual_cidr(v + dn, vn - dn);
		} else {
			ok = dual_cidr(rest, rn);
		}
		break;
	case DM_SPF_PTR:
		t.lookup = 1;
		ok = rn == 0 || (rest[0] == ':' && domain_spec(v, vn));
		finding(r, DM_FINDING_WARNING, "ptr_used",
		        "ptr is slow and unreliable; RFC 7208 section 5.5 says not to use it");
		break;
	case DM_SPF_IP4:
	case DM_SPF_IP6:
		ok = rn > 1 && rest[0] == ':' && ip_network(v, vn, t.kind == DM_SPF_IP6);
		break;
	default:
		break;
	}
	if (!ok)
		finding(r, DM_FINDING_ERROR,
		        t.kind == DM_SPF_IP4 || t.kind == DM_SPF_IP6 ? "bad_ip"
		        : t.kind == DM_SPF_ALL                       ? "syntax"
		                                                     : "bad_domain",
		        "'%s': not what %s takes", dm_finding_quote(q, s, n), mech[found].name);
	if (*seen_all && *seen_all == 1) {
		finding(r, DM_FINDING_WARNING, "after_all",
		        "'%s' comes after all and is never evaluated", dm_finding_quote(q, s, n));
		(*seen_all)++;
	}
	if (t.kind == DM_SPF_ALL && !*seen_all)
		*seen_all = 1;
	r->terms[r->nterms++] = t;
}

void
dm_spf_record_parse(const char *text, size_t len, struct dm_spf_record *r)
{
	memset(r, 0, sizeof *r);
	if (len > DM_SPF_MAX_RECORD) {
		finding(r, DM_FINDING_ERROR, "too_long",
		        "the record is %zu bytes long; no SPF record"
		        " is over %d",
		        len, DM_SPF_MAX_RECORD);
		return;
	}
	if (len < 6 || strncasecmp(text, "v=spf1", 6) != 0 || (len > 6 && text[6] != ' ')) {
		finding(r, DM_FINDING_ERROR, "not_spf", "the record does not begin with v=spf1");
		return;
	}
	r->is_spf = 1;
	int seen_all = 0, seen_redirect = 0, seen_exp = 0;
	for (size_t i = 6; i < len;) {
		while (i < len && text[i] == ' ')
			i++;
		size_t s = i;
		while (i < len && text[i] != ' ')
			i++;
		if (i > s)
			term(r, text + s, i - s, &seen_all, &seen_redirect, &seen_exp);
	}
	size_t nt = r->nterms < DM_SPF_MAX_TERMS ? r->nterms : DM_SPF_MAX_TERMS;
	const struct dm_spf_term *all = NULL;
	for (size_t i = 0; i < nt; i++) {
		r->lookups += r->terms[i].lookup;
		if (r->terms[i].kind == DM_SPF_ALL && !all)
			all = &r->terms[i];
	}
	if (r->lookups > 10)
		finding(r, DM_FINDING_ERROR, "lookups_over_limit",
		        "%d DNS lookups in this record alone; over 10 receivers answer permerror",
		        r->lookups);
	if (all && all->qualifier == '+')
		finding(r, DM_FINDING_ERROR, "plus_all",
		        "+all: every server on the Internet passes SPF for this domain");
	else if (all && all->qualifier == '?')
		finding(r, DM_FINDING_WARNING, "neutral_all",
		        "?all: mail from anywhere else is neutral, which protects nothing");
	else if (all && all->qualifier == '~')
		finding(r, DM_FINDING_INFO, "softfail_all",
		        "~all: mail from anywhere else soft-fails (DMARC decides what happens)");
	if (!all && !seen_redirect)
		finding(r, DM_FINDING_WARNING, "no_all",
		        "no all and no redirect: mail from anywhere else is neutral");
	if (all && seen_redirect)
		finding(r, DM_FINDING_WARNING, "redirect_ignored",
		        "redirect is ignored when the record has all");
	if (len > 450)
		finding(r, DM_FINDING_WARNING, "long_record",
		        "%zu bytes: RFC 7208 section 3.4 asks for 450 at most, to fit one DNS "
		        "answer",
		        len);
	r->valid = r->nerrors == 0;
}

void
dm_spf_record_json(const struct dm_spf_record *r, struct dm_json *j)
{
	dm_json_obj_begin(j);
	dm_json_key(j, "is_spf");
	dm_json_bool(j, r->is_spf);
	dm_json_key(j, "valid");
	dm_json_bool(j, r->valid);
	dm_json_key(j, "lookups");
	dm_json_int(j, r->lookups);
	dm_json_key(j, "terms");
	dm_json_arr_begin(j);
	size_t nt = r->nterms < DM_SPF_MAX_TERMS ? r->nterms : DM_SPF_MAX_TERMS;
	for (size_t i = 0; i < nt; i++) {
		const struct dm_spf_term *t = &r->terms[i];
		dm_json_obj_begin(j);
		dm_json_key(j, "kind");
		dm_json_str(j, dm_spf_kind_name(t->kind));
		if (t->kind < DM_SPF_REDIRECT) {
			char qual[2] = {t->qualifier, '\0'};
			dm_json_key(j, "qualifier");
			dm_json_str(j, qual);
		}
		dm_json_key(j, "value");
		dm_json_str(j, t->value[0] ? t->value : NULL);
		dm_json_key(j, "lookup");
		dm_json_bool(j, t->lookup);
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);
	dm_findings_json(j, r->findings, r->nfindings);
	dm_json_obj_end(j);
}
