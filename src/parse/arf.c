/*
 * arf.c - DMARC failure reports: ARF fields (RFC 5965, 6591, 7489 7.3.1),
 * the Exim/cPanel plain-text form, and the original message's header
 * block with its redacted stored copy.
 *
 * Functions: arf_parse_fields, arf_parse_text, arf_original_headers,
 * arf_sniff, arf_parse_date.  Logs nothing: what is odd becomes a warning
 * in the struct dm_failure_report.
 *
 * Input is never treated as a C string: a header block is walked line by
 * line with memchr, each field value is unfolded into a bounded scratch
 * buffer (DM_ARF_MAX_RAW_VALUE) where NUL and control bytes become spaces
 * and invalid UTF-8 becomes '?', and only then cleaned (comments removed,
 * trimmed, lower-cased) and copied into the report's arena, cut at
 * DM_ARF_MAX_VALUE.  Nothing grows with the input beyond the limits of
 * limits.h.
 *
 * Redaction (ARF_REDACT_HASHED): every '@' with a local part before it
 * (a run of atext, dots and 8-bit bytes, or a quoted string) has that
 * local part replaced by "h-" and 8 hex digits of HMAC-SHA256(key,
 * lower-cased local@domain).  A parameter name before the address
 * ("smtp.mailfrom=", "envelope-from=") is kept; any other '=' belongs to
 * the local part (SRS and BATV addresses hide the real one after it), so
 * it is hashed too: redaction errs toward hiding more.
 */
#include "arf.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <string.h>

#include "common/hash.h"
#include "common/ip.h"

/* ---- bytes ---------------------------------------------------------- */

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static int
lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* A byte of a domain name (8-bit for IDNs in UTF-8, '_' as in DKIM
 * and SRV names). */
static int
is_dom(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c >= 0x80 ||
	       c == '.' || c == '-' || c == '_';
}

static int
ci_eq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
			return 0;
	return 1;
}

static int
ci_prefix(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	return alen >= blen && ci_eq(a, blen, b);
}

/* Case-insensitive search of needle (ASCII, NUL-terminated) in h[0..n). */
static const char *
ci_find(const char *h, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; m <= n && i <= n - m; i++)
		if (ci_eq(h + i, m, needle))
			return h + i;
	return NULL;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)lc((unsigned char)*s);
}

/* Replace every byte that does not belong to a valid UTF-8 sequence
 * (overlongs, surrogates and code points above U+10FFFF included) by '?'. */
static void
utf8_clean(char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3, cp = c & 0x07;
		} else {
			s[i++] = '?';
			continue;
		}
		size_t j = 1;
		for (; j <= k && i + j < n; j++) {
			unsigned char d = (unsigned char)s[i + j];
			if ((d & 0xc0) != 0x80)
				break;
			cp = (cp << 6) | (d & 0x3f);
		}
		int ok = j == k + 1 &&
		         !(k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) &&
		         !(k == 3 && (cp < 0x10000 || cp > 0x10ffff));
		if (!ok) {
			s[i++] = '?';
			continue;
		}
		i += k + 1;
	}
}

/* Cut s (NUL-terminated, length n) to at most max bytes without splitting
 * a UTF-8 sequence; returns the new length. */
static size_t
utf8_cut(char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t m = max;
	while (m > 0 && ((unsigned char)s[m] & 0xc0) == 0x80)
		m--;
	s[m] = '\0';
	return m;
}

/* ---- header fields -------------------------------------------------- */

struct field {
	const char *name;
	size_t namelen;
	const char *val; /* raw: from after the colon to the end of its last
	                    continuation line, line breaks included */
	size_t vallen;
};

enum {
	FLD_END,   /* no more input */
	FLD_FIELD, /* a header field */
	FLD_BLANK, /* an empty (or white) line */
	FLD_OTHER, /* a line that is not a field; f->val is the line */
};

/* End of the line at p (before CR LF or LF) and the start of the next. */
static const char *
line_end(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl ? nl : end;
	*next = nl ? nl + 1 : end;
	if (e > p && e[-1] == '\r')
		e--;
	return e;
}

static int
white_line(const char *p, const char *e)
{
	for (; p < e; p++)
		if (!is_wsp((unsigned char)*p) && *p != '\r')
			return 0;
	return 1;
}

/* The next header field, blank line or other line at *pp. */
static int
next_field(const char **pp, const char *end, struct field *f)
{
	const char *p = *pp, *next;
	if (p >= end)
		return FLD_END;
	const char *e = line_end(p, end, &next);
	memset(f, 0, sizeof *f);
	if (white_line(p, e)) {
		*pp = next;
		return FLD_BLANK;
	}
	const char *q = p;
	while (q < e && *q != ':' && (unsigned char)*q > 32 && (unsigned char)*q < 127)
		q++;
	const char *name_end = q;
	while (q < e && is_wsp((unsigned char)*q)) /* obs-optional "Name :" */
		q++;
	if (name_end == p || q >= e || *q != ':') {
		f->val = p;
		f->vallen = (size_t)(e - p);
		*pp = next;
		return FLD_OTHER;
	}
	f->name = p;
	f->namelen = (size_t)(name_end - p);
	f->val = q + 1;
	/* continuation lines: start with WSP and are not white */
	while (next < end && is_wsp((unsigned char)*next)) {
		const char *n2;
		const char *e2 = line_end(next, end, &n2);
		if (white_line(next, e2))
			break;
		e = e2;
		next = n2;
	}
	f->vallen = (size_t)(e - f->val);
	*pp = next;
	return FLD_FIELD;
}

/* Unfold a raw value into out (cap bytes, NUL included): line breaks go,
 * NUL, control bytes and tabs become spaces, invalid UTF-8 becomes '?',
 * the ends are trimmed.  Returns the length; *cut is set when the value
 * did not fit. */
static size_t
unfold(const char *v, size_t n, char *out, size_t cap, int *cut)
{
	size_t o = 0;
	*cut = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c < 32 || c == 127)
			c = ' ';
		if (o + 1 >= cap) {
			*cut = 1;
			break;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	utf8_clean(out, o);
	size_t s = 0;
	while (s < o && out[s] == ' ')
		s++;
	while (o > s && out[o - 1] == ' ')
		o--;
	memmove(out, out + s, o - s);
	o -= s;
	out[o] = '\0';
	return o;
}

/* Remove RFC 5322 comments (nested, with quoted pairs), leaving quoted
 * strings alone; each comment becomes one space; then trim. */
static size_t
strip_comments(char *s, size_t n)
{
	size_t o = 0;
	int depth = 0, quoted = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (depth > 0) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				s[o++] = ' ';
			continue;
		}
		if (quoted) {
			s[o++] = c;
			if (c == '\\' && i + 1 < n)
				s[o++] = s[++i];
			else if (c == '"')
				quoted = 0;
			continue;
		}
		if (c == '(') {
			depth = 1;
			continue;
		}
		if (c == '"')
			quoted = 1;
		s[o++] = c;
	}
	size_t b = 0;
	while (b < o && s[b] == ' ')
		b++;
	while (o > b && s[o - 1] == ' ')
		o--;
	memmove(s, s + b, o - b);
	o -= b;
	s[o] = '\0';
	return o;
}

/* Remove one pair of angle brackets around an address. */
static size_t
strip_angles(char *s, size_t n)
{
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		memmove(s, s + 1, n - 2);
		n -= 2;
		s[n] = '\0';
		while (n > 0 && s[n - 1] == ' ')
			s[--n] = '\0';
	}
	return n;
}

/* Copy a cleaned value into the arena, cut at DM_ARF_MAX_VALUE. */
static const char *
keep(struct dm_failure_report *r, const char *what, char *s, size_t n)
{
	if (n > DM_ARF_MAX_VALUE) {
		n = utf8_cut(s, n, DM_ARF_MAX_VALUE);
		dm_failure_warn(r, "%s longer than %d bytes, cut", what, DM_ARF_MAX_VALUE);
	}
	return dm_arena_strndup(&r->arena, s, n);
}

/* A domain: lower case, no trailing dot, at most DM_MAX_DOMAIN_LEN bytes
 * and no space; NULL (with a warning) otherwise. */
static const char *
keep_domain(struct dm_failure_report *r, const char *what, char *s, size_t n)
{
	while (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	int bad = n == 0 || n > DM_MAX_DOMAIN_LEN;
	for (size_t i = 0; i < n && !bad; i++)
		bad = !is_dom((unsigned char)s[i]);
	if (bad) {
		dm_failure_warn(r, "%s is not a domain name", what);
		return NULL;
	}
	lower(s);
	return dm_arena_strndup(&r->arena, s, n);
}

/* ---- dates (RFC 5322 3.3 and 4.3) ----------------------------------- */

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
read_num(const char *s, size_t n, size_t *i, unsigned maxdigits, unsigned *v)
{
	unsigned d = 0, x = 0;
	while (*i < n && is_digit((unsigned char)s[*i]) && d < maxdigits) {
		x = x * 10 + (unsigned)(s[*i] - '0');
		(*i)++;
		d++;
	}
	if (d == 0 || (*i < n && is_digit((unsigned char)s[*i])))
		return -1;
	*v = x;
	return (int)d;
}

static void
skip_ws(const char *s, size_t n, size_t *i)
{
	while (*i < n && (s[*i] == ' ' || s[*i] == '\t'))
		(*i)++;
}

static int
zone_name(const char *w, size_t n, int *off)
{
	static const struct {
		const char *name;
		int hours;
	} zones[] = {
	        {"ut", 0},   {"utc", 0},  {"gmt", 0},  {"z", 0},    {"est", -5}, {"edt", -4},
	        {"cst", -6}, {"cdt", -5}, {"mst", -7}, {"mdt", -6}, {"pst", -8}, {"pdt", -7},
	};
	for (size_t k = 0; k < sizeof zones / sizeof zones[0]; k++)
		if (ci_eq(w, n, zones[k].name)) {
			*off = zones[k].hours * 3600;
			return 0;
		}
	/* military zones: RFC 5322 4.3 says to read them as -0000 */
	if (n == 1 && is_alpha((unsigned char)w[0]) && lc((unsigned char)w[0]) != 'j') {
		*off = 0;
		return 0;
	}
	return -1;
}

int
arf_parse_date(const char *in, size_t len, int64_t *t)
{
	char s[256];
	int cut;
	if (len >= sizeof s)
		return -1;
	size_t n = unfold(in, len, s, sizeof s, &cut);
	n = strip_comments(s, n);
	size_t i = 0;
	skip_ws(s, n, &i);
	/* day of week, with or without its comma */
	if (i < n && is_alpha((unsigned char)s[i])) {
		while (i < n && is_alpha((unsigned char)s[i]))
			i++;
		skip_ws(s, n, &i);
		if (i < n && s[i] == ',')
			i++;
		skip_ws(s, n, &i);
	}
	unsigned day, year, hour, min, sec = 0, mon = 0;
	if (read_num(s, n, &i, 2, &day) < 0)
		return -1;
	skip_ws(s, n, &i);
	size_t w = i;
	while (i < n && is_alpha((unsigned char)s[i]))
		i++;
	static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
	                                     "jul", "aug", "sep", "oct", "nov", "dec"};
	/* "Oct", "October", "Sept" */
	if (i - w >= 3 && i - w <= 9)
		for (unsigned k = 0; k < 12; k++)
			if (ci_eq(s + w, 3, months[k]))
				mon = k + 1;
	if (mon == 0)
		return -1;
	skip_ws(s, n, &i);
	int yd = read_num(s, n, &i, 4, &year);
	if (yd < 2)
		return -1;
	if (yd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (yd == 3)
		year += 1900;
	skip_ws(s, n, &i);
	if (read_num(s, n, &i, 2, &hour) < 0)
		return -1;
	skip_ws(s, n, &i);
	if (i >= n || s[i] != ':')
		return -1;
	i++;
	skip_ws(s, n, &i);
	if (read_num(s, n, &i, 2, &min) < 0)
		return -1;
	size_t save = i;
	skip_ws(s, n, &i);
	if (i < n && s[i] == ':') {
		i++;
		skip_ws(s, n, &i);
		if (read_num(s, n, &i, 2, &sec) < 0)
			return -1;
		if (i < n && s[i] == '.') { /* fractional seconds (not RFC) */
			i++;
			while (i < n && is_digit((unsigned char)s[i]))
				i++;
		}
	} else {
		i = save;
	}
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (year < 1900 || day < 1 || day > mdays[mon - 1] || (mon == 2 && day == 29 && !leap) ||
	    hour > 23 || min > 59 || sec > 60)
		return -1;
	if (sec == 60)
		sec = 59;
	skip_ws(s, n, &i);
	int off = 0, nozone = 0;
	if (i < n && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i] == '-' ? -1 : 1;
		i++;
		unsigned z;
		if (read_num(s, n, &i, 4, &z) != 4 || z % 100 > 59 || z / 100 > 99)
			return -1;
		off = sign * (int)((z / 100) * 3600 + (z % 100) * 60);
	} else if (i < n && is_alpha((unsigned char)s[i])) {
		size_t zw = i;
		while (i < n && is_alpha((unsigned char)s[i]))
			i++;
		if (zone_name(s + zw, i - zw, &off) < 0)
			return -1;
	} else if (i < n) {
		return -1;
	} else {
		nozone = 1;
	}
	/* anything after the zone ("+0200 CEST" without parentheses) is
	 * ignored */
	*t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - off;
	return nozone;
}

/* ---- ARF fields ----------------------------------------------------- */

enum fid {
	F_FEEDBACK_TYPE,
	F_USER_AGENT,
	F_VERSION,
	F_ENVELOPE_ID,
	F_MAIL_FROM,
	F_ARRIVAL_DATE,
	F_RECEIVED_DATE,
	F_REPORTING_MTA,
	F_SOURCE_IP,
	F_INCIDENTS,
	F_AUTH_RESULTS,
	F_RCPT_TO,
	F_REPORTED_DOMAIN,
	F_AUTH_FAILURE,
	F_DELIVERY_RESULT,
	F_IDENTITY_ALIGNMENT,
	F_DKIM_DOMAIN,
	F_DKIM_IDENTITY,
	F_DKIM_SELECTOR,
	F_SPF_DNS,
	F_COUNT,
};

enum {
	FF_SINGLE = 1,   /* at most once: a repeat is ignored with a warning */
	FF_COMMENTS = 2, /* a token value: comments are removed */
	FF_LOWER = 4,    /* compared in lower case */
};

static const struct {
	const char *name;
	unsigned flags;
} arf_fields[F_COUNT] = {
        [F_FEEDBACK_TYPE] = {"Feedback-Type", FF_SINGLE | FF_COMMENTS | FF_LOWER},
        [F_USER_AGENT] = {"User-Agent", FF_SINGLE},
        [F_VERSION] = {"Version", FF_SINGLE | FF_COMMENTS},
        [F_ENVELOPE_ID] = {"Original-Envelope-Id", FF_SINGLE},
        [F_MAIL_FROM] = {"Original-Mail-From", FF_SINGLE | FF_COMMENTS},
        [F_ARRIVAL_DATE] = {"Arrival-Date", FF_SINGLE},
        [F_RECEIVED_DATE] = {"Received-Date", FF_SINGLE},
        [F_REPORTING_MTA] = {"Reporting-MTA", FF_SINGLE},
        [F_SOURCE_IP] = {"Source-IP", FF_SINGLE | FF_COMMENTS},
        [F_INCIDENTS] = {"Incidents", FF_SINGLE | FF_COMMENTS},
        [F_AUTH_RESULTS] = {"Authentication-Results", 0},
        [F_RCPT_TO] = {"Original-Rcpt-To", FF_COMMENTS},
        [F_REPORTED_DOMAIN] = {"Reported-Domain", FF_COMMENTS},
        [F_AUTH_FAILURE] = {"Auth-Failure", FF_SINGLE | FF_COMMENTS | FF_LOWER},
        [F_DELIVERY_RESULT] = {"Delivery-Result", FF_SINGLE | FF_COMMENTS | FF_LOWER},
        [F_IDENTITY_ALIGNMENT] = {"Identity-Alignment", FF_SINGLE | FF_COMMENTS | FF_LOWER},
        [F_DKIM_DOMAIN] = {"DKIM-Domain", FF_SINGLE | FF_COMMENTS},
        [F_DKIM_IDENTITY] = {"DKIM-Identity", FF_SINGLE | FF_COMMENTS},
        [F_DKIM_SELECTOR] = {"DKIM-Selector", FF_SINGLE | FF_COMMENTS},
        [F_SPF_DNS] = {"SPF-DNS", 0},
};

static int
in_list(const char *v, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(v, *list) == 0)
			return 1;
	return 0;
}

static void
set_source_ip(struct dm_failure_report *r, char *v, size_t n)
{
	if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
		v[n - 1] = '\0';
		v++;
		n -= 2;
	}
	if (ci_prefix(v, n, "ipv6:")) {
		v += 5;
		n -= 5;
	}
	int fam = dm_ip_parse(v, r->source_ip);
	if (fam == 0) {
		memset(r->source_ip, 0, sizeof r->source_ip);
		dm_failure_warn(r, "Source-IP is not an address: %.64s", v);
		return;
	}
	char text[DM_IP_TEXT];
	dm_ip_format(r->source_ip, text, sizeof text);
	r->source_ip_family = fam;
	r->source_ip_text = dm_arena_strndup(&r->arena, text, strlen(text));
}

static void
set_delivery_result(struct dm_failure_report *r, char *v, size_t n)
{
	static const char *const rfc[] = {"delivered", "spam", "policy", "reject", "other", NULL};
	static const struct {
		const char *alias, *value;
	} aliases[] = {
	        {"accept", "delivered"}, {"accepted", "delivered"}, {"quarantine", "spam"},
	        {"quarantined", "spam"}, {"junk", "spam"},
	};
	if (in_list(v, rfc)) {
		r->delivery_result = keep(r, "Delivery-Result", v, n);
		return;
	}
	for (size_t k = 0; k < sizeof aliases / sizeof aliases[0]; k++)
		if (strcmp(v, aliases[k].alias) == 0) {
			dm_failure_warn(r, "non-standard Delivery-Result %.64s read as %s", v,
			                aliases[k].value);
			r->delivery_result = aliases[k].value;
			return;
		}
	/* parsedmarc's rule: a value that contains a standard one
	 * ("smg-policy-action") is that one */
	for (size_t k = 0; rfc[k]; k++)
		if (strstr(v, rfc[k])) {
			dm_failure_warn(r, "non-standard Delivery-Result %.64s read as %s", v,
			                rfc[k]);
			r->delivery_result = rfc[k];
			return;
		}
	dm_failure_warn(r, "unknown Delivery-Result %.64s", v);
	r->delivery_result = keep(r, "Delivery-Result", v, n);
}

static void
set_identity_alignment(struct dm_failure_report *r, char *v)
{
	int none = 0, dkim = 0, spf = 0, other = 0, repeat = 0;
	char *tok = v;
	while (*tok) {
		while (*tok == ',' || *tok == ' ')
			tok++;
		if (!*tok)
			break;
		char *e = tok;
		while (*e && *e != ',' && *e != ' ')
			e++;
		char save = *e;
		*e = '\0';
		if (strcmp(tok, "none") == 0) {
			repeat |= none++;
		} else if (strcmp(tok, "dkim") == 0) {
			repeat |= dkim++;
		} else if (strcmp(tok, "spf") == 0) {
			repeat |= spf++;
		} else if (!other++) {
			dm_failure_warn(r, "unknown Identity-Alignment method %.64s ignored", tok);
		}
		*e = save;
		tok = e;
	}
	if (repeat)
		dm_failure_warn(r, "Identity-Alignment names a method twice");
	if (none && (dkim || spf))
		dm_failure_warn(r, "Identity-Alignment has none and methods; none ignored");
	if (dkim && spf)
		r->identity_alignment = "dkim,spf";
	else if (dkim)
		r->identity_alignment = "dkim";
	else if (spf)
		r->identity_alignment = "spf";
	else if (none)
		r->identity_alignment = "none";
	else
		dm_failure_warn(r, "Identity-Alignment names no method");
}

static void
add_auth_results(struct dm_failure_report *r, const char *v, size_t n, int *full)
{
	if (*full || n == 0)
		return;
	size_t old = r->authentication_results ? strlen(r->authentication_results) : 0;
	size_t sep = old ? 1 : 0;
	size_t total = old + sep + n;
	if (total > DM_ARF_MAX_AUTH_RESULTS) {
		*full = 1;
		dm_failure_warn(r, "Authentication-Results longer than %d bytes, cut",
		                DM_ARF_MAX_AUTH_RESULTS);
		total = DM_ARF_MAX_AUTH_RESULTS;
	}
	char *s = dm_arena_alloc(&r->arena, total + 4);
	if (old)
		memcpy(s, r->authentication_results, old);
	if (sep)
		s[old] = '\n';
	memcpy(s + old + sep, v, total - old - sep);
	s[total] = '\0';
	if (*full) {
		total = utf8_cut(s, total, total - 3);
		memcpy(s + total, "...", 4);
	}
	r->authentication_results = s;
}

static void
set_field(struct dm_failure_report *r, enum fid id, char *v, size_t n, int *ar_full)
{
	static const char *const feedback_types[] = {"abuse",    "fraud",        "virus", "other",
	                                             "not-spam", "auth-failure", NULL};
	static const char *const auth_failures[] = {"adsp", "bodyhash", "revoked", "signature",
	                                            "spf",  "dmarc",    "dkim",    NULL};
	const char *name = arf_fields[id].name;
	int64_t t;

	switch (id) {
	case F_FEEDBACK_TYPE:
		if (n == 0)
			return;
		if (!in_list(v, feedback_types))
			dm_failure_warn(r, "unknown Feedback-Type %.64s", v);
		r->feedback_type = keep(r, name, v, n);
		break;
	case F_USER_AGENT:
		r->user_agent = keep(r, name, v, n);
		break;
	case F_VERSION:
		if (strcmp(v, "1") != 0 && strcmp(v, "1.0") != 0)
			dm_failure_warn(r, "Version %.32s is not 1", v);
		r->version = keep(r, name, v, n);
		break;
	case F_ENVELOPE_ID:
		r->original_envelope_id = keep(r, name, v, n);
		break;
	case F_MAIL_FROM:
		n = strip_angles(v, n);
		r->original_mail_from = keep(r, name, v, n);
		break;
	case F_ARRIVAL_DATE:
	case F_RECEIVED_DATE: {
		int rc = arf_parse_date(v, n, &t);
		if (rc < 0) {
			dm_failure_warn(r, "%s is not a date: %.64s", name, v);
			return;
		}
		if (rc == 1)
			dm_failure_warn(r, "%s has no time zone; UTC assumed", name);
		/* Arrival-Date wins over its historic alias */
		if (id == F_RECEIVED_DATE && r->have_arrival_date)
			return;
		r->arrival_date = t;
		r->have_arrival_date = 1;
		break;
	}
	case F_REPORTING_MTA:
		r->reporting_mta = keep(r, name, v, n);
		break;
	case F_SOURCE_IP:
		set_source_ip(r, v, n);
		break;
	case F_INCIDENTS: {
		uint64_t x = 0;
		size_t k = 0;
		for (; k < n && is_digit((unsigned char)v[k]) && x <= UINT32_MAX; k++)
			x = x * 10 + (uint64_t)(v[k] - '0');
		if (n == 0 || k != n || x > UINT32_MAX) {
			dm_failure_warn(r, "Incidents is not a 32-bit count: %.32s", v);
			return;
		}
		r->incidents = (int64_t)x;
		break;
	}
	case F_AUTH_RESULTS:
		add_auth_results(r, v, n, ar_full);
		break;
	case F_RCPT_TO:
		r->rcpt_to_count++;
		if (!r->original_rcpt_to) {
			n = strip_angles(v, n);
			r->original_rcpt_to = keep(r, name, v, n);
		}
		break;
	case F_REPORTED_DOMAIN:
		if (!r->reported_domain)
			r->reported_domain = keep_domain(r, name, v, n);
		break;
	case F_AUTH_FAILURE:
		if (!in_list(v, auth_failures))
			dm_failure_warn(r, "unknown Auth-Failure %.64s", v);
		r->auth_failure = keep(r, name, v, n);
		break;
	case F_DELIVERY_RESULT:
		set_delivery_result(r, v, n);
		break;
	case F_IDENTITY_ALIGNMENT:
		set_identity_alignment(r, v);
		break;
	case F_DKIM_DOMAIN:
		r->dkim_domain = keep_domain(r, name, v, n);
		break;
	case F_DKIM_IDENTITY:
		r->dkim_identity = keep(r, name, v, n);
		break;
	case F_DKIM_SELECTOR:
		lower(v);
		r->dkim_selector = keep(r, name, v, n);
		break;
	case F_SPF_DNS:
		if (!r->spf_dns)
			r->spf_dns = keep(r, name, v, n);
		break;
	case F_COUNT:
		break;
	}
}

/* The required fields (RFC 5965 3.1, RFC 6591 3.1, RFC 7489 7.3.1). */
static void
check_required(struct dm_failure_report *r, const unsigned *seen)
{
	if (!seen[F_USER_AGENT])
		dm_failure_warn(r, "no User-Agent field");
	if (!seen[F_VERSION])
		dm_failure_warn(r, "no Version field");
	if (seen[F_ARRIVAL_DATE] && seen[F_RECEIVED_DATE])
		dm_failure_warn(r, "both Arrival-Date and Received-Date; Arrival-Date used");
	if (strcmp(r->feedback_type, "auth-failure") != 0)
		return;
	if (!seen[F_AUTH_FAILURE])
		dm_failure_warn(r, "no Auth-Failure field");
	if (!seen[F_AUTH_RESULTS])
		dm_failure_warn(r, "no Authentication-Results field");
	if (!seen[F_REPORTED_DOMAIN])
		dm_failure_warn(r, "no Reported-Domain field");
	const char *af = r->auth_failure ? r->auth_failure : "";
	if (!strcmp(af, "signature") || !strcmp(af, "bodyhash") || !strcmp(af, "revoked") ||
	    !strcmp(af, "dkim")) {
		if (!seen[F_DKIM_DOMAIN])
			dm_failure_warn(r, "no DKIM-Domain field (a DKIM failure)");
		if (!seen[F_DKIM_IDENTITY])
			dm_failure_warn(r, "no DKIM-Identity field (a DKIM failure)");
		if (!seen[F_DKIM_SELECTOR])
			dm_failure_warn(r, "no DKIM-Selector field (a DKIM failure)");
	}
	if (!strcmp(af, "spf") && !seen[F_SPF_DNS])
		dm_failure_warn(r, "no SPF-DNS field (an SPF failure)");
	if (!strcmp(af, "dmarc") && !seen[F_IDENTITY_ALIGNMENT])
		dm_failure_warn(r, "no Identity-Alignment field (RFC 7489)");
}

int
arf_parse_fields(struct dm_failure_report *r, const char *text, size_t len)
{
	unsigned seen[F_COUNT] = {0};
	unsigned nfields = 0;
	int ar_full = 0;
	char v[DM_ARF_MAX_RAW_VALUE + 1];
	struct field f;
	int kind;

	if (!text)
		text = "", len = 0;
	if (len > DM_ARF_MAX_PART_BYTES) {
		dm_failure_warn(r, "feedback-report part longer than %d bytes; the rest ignored",
		                DM_ARF_MAX_PART_BYTES);
		len = DM_ARF_MAX_PART_BYTES;
	}
	const char *p = text, *end = text + len;
	while ((kind = next_field(&p, end, &f)) != FLD_END) {
		if (kind == FLD_BLANK)
			continue;
		if (kind == FLD_OTHER) {
			dm_failure_warn(r, "a line that is not a header field ignored");
			continue;
		}
		if (++nfields > DM_ARF_MAX_FIELDS) {
			dm_failure_warn(r, "more than %d fields; the rest ignored",
			                DM_ARF_MAX_FIELDS);
			break;
		}
		enum fid id = F_COUNT;
		for (unsigned k = 0; k < F_COUNT; k++)
			if (ci_eq(f.name, f.namelen, arf_fields[k].name))
				id = (enum fid)k;
		if (id == F_COUNT)
			continue; /* extension or unknown field */
		unsigned flags = arf_fields[id].flags;
		if (seen[id]++ && (flags & FF_SINGLE)) {
			dm_failure_warn(r, "repeated %s field ignored", arf_fields[id].name);
			continue;
		}
		int cut;
		size_t n = unfold(f.val, f.vallen, v, sizeof v, &cut);
		if (cut)
			dm_failure_warn(r, "%s longer than %d bytes, cut", arf_fields[id].name,
			                DM_ARF_MAX_RAW_VALUE);
		if (flags & FF_COMMENTS)
			n = strip_comments(v, n);
		if (flags & FF_LOWER)
			lower(v);
		set_field(r, id, v, n, &ar_full);
	}
	if (!r->feedback_type) {
		r->error = seen[F_FEEDBACK_TYPE] ? "empty Feedback-Type field"
		                                 : "no Feedback-Type field";
		return DM_EFORMAT;
	}
	r->is_arf = 1;
	check_required(r, seen);
	return 0;
}

/* ---- the plain-text form (Exim, cPanel) ------------------------------ */

int
arf_sniff(const unsigned char *head, size_t n)
{
	const char *h = (const char *)head;
	if (ci_find(h, n, "claiming to be from you has failed the published DMARC policy"))
		return 1;
	return ci_find(h, n, "Sender IP Address:") && ci_find(h, n, "DMARC Results:");
}

/* Does the line [p, e) start a header field ("Name: ...", not indented)? */
static int
looks_like_field(const char *p, const char *e)
{
	const char *q = p;
	while (q < e && *q != ':' && (unsigned char)*q > 32 && (unsigned char)*q < 127)
		q++;
	return q > p && q < e && *q == ':';
}

int
arf_parse_text(struct dm_failure_report *r, const char *text, size_t len, size_t *headers_at)
{
	static const char *const keys[] = {
	        "Sender Domain", "Sender IP Address", "Received date",
	        "SPF Alignment", "DKIM Alignment",    "DMARC Results",
	};
	char v[DM_ARF_MAX_RAW_VALUE + 1];
	int nkeys = 0, blank_before = 0, aligned_seen = 0, dkim = 0, spf = 0;
	size_t hdr = len;

	if (!text)
		text = "", len = 0;
	if (len > DM_ARF_MAX_PART_BYTES) {
		dm_failure_warn(r, "text report longer than %d bytes; the rest ignored",
		                DM_ARF_MAX_PART_BYTES);
		len = DM_ARF_MAX_PART_BYTES;
		hdr = len;
	}
	const char *p = text, *end = text + len, *next;
	for (; p < end; p = next) {
		const char *e = line_end(p, end, &next);
		if (white_line(p, e)) {
			blank_before = 1;
			continue;
		}
		/* the copied headers: after Exim's marker line, or the first
		 * header field after a blank line once the summary was read */
		if (ci_find(p, (size_t)(e - p), "copy of the headers") ||
		    (ci_prefix(p, (size_t)(e - p), "------") &&
		     ci_find(p, (size_t)(e - p), "header"))) {
			/* the marker may wrap ("...before the error\n       was
			 * detected."): skip blank lines and up to 3 lines of its
			 * text, to the first header field */
			const char *q = next;
			unsigned text_lines = 0;
			while (q < end) {
				const char *n2;
				const char *e2 = line_end(q, end, &n2);
				if (!white_line(q, e2)) {
					if (looks_like_field(q, e2) || ++text_lines > 3)
						break;
				}
				q = n2;
			}
			hdr = (size_t)(q - text);
			break;
		}
		if (nkeys && blank_before && looks_like_field(p, e)) {
			hdr = (size_t)(p - text);
			break;
		}
		blank_before = 0;
		const char *s = p;
		while (s < e && is_wsp((unsigned char)*s))
			s++;
		for (unsigned k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			size_t kl = strlen(keys[k]);
			if (!ci_prefix(s, (size_t)(e - s), keys[k]))
				continue;
			const char *c = s + kl;
			while (c < e && is_wsp((unsigned char)*c))
				c++;
			if (c >= e || *c != ':')
				continue;
			int cut;
			size_t n = unfold(c + 1, (size_t)(e - c - 1), v, sizeof v, &cut);
			nkeys++;
			switch (k) {
			case 0:
				if (!r->reported_domain)
					r->reported_domain = keep_domain(r, "Sender Domain", v, n);
				break;
			case 1:
				if (r->source_ip_family == 0) {
					n = strip_comments(v, n);
					set_source_ip(r, v, n);
				}
				break;
			case 2: {
				int64_t t;
				int rc = arf_parse_date(v, n, &t);
				if (rc < 0) {
					dm_failure_warn(r, "Received date is not a date: %.64s", v);
				} else if (!r->have_arrival_date) {
					r->arrival_date = t;
					r->have_arrival_date = 1;
				}
				break;
			}
			case 3:
			case 4: {
				lower(v);
				int yes = !strcmp(v, "yes") || !strcmp(v, "pass") ||
				          !strcmp(v, "true");
				aligned_seen = 1;
				if (k == 3)
					spf = yes;
				else
					dkim = yes;
				break;
			}
			case 5: {
				/* "None, Accept": the policy, then what was done */
				lower(v);
				const char *act = strrchr(v, ',');
				act = act ? act + 1 : v;
				while (*act == ' ')
					act++;
				if (!strcmp(act, "accept"))
					r->delivery_result = "delivered";
				else if (!strcmp(act, "reject"))
					r->delivery_result = "reject";
				else if (!strcmp(act, "quarantine"))
					r->delivery_result = "spam";
				break;
			}
			}
			break;
		}
	}
	if (aligned_seen) /* RFC 7489 meaning: what produced an aligned identity */
		r->identity_alignment = dkim && spf ? "dkim,spf"
		                        : dkim      ? "dkim"
		                        : spf       ? "spf"
		                                    : "none";
	if (headers_at)
		*headers_at = hdr;
	r->is_arf = 0;
	r->feedback_type = "auth-failure";
	r->auth_failure = "dmarc";
	dm_failure_warn(r, "not ARF: read from a plain-text report");
	if (nkeys == 0) {
		r->error = "no failure-report line in the text";
		return DM_EFORMAT;
	}
	return 0;
}

/* ---- the original message's headers --------------------------------- */

static int
is_local(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c >= 0x80 ||
	       (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

/* Parameter names that may stand before an address with '=' and are kept. */
static int
param_name(const char *s, size_t n)
{
	static const char *const names[] = {
	        "smtp.mailfrom", "smtp.rcptto", "smtp.helo", "header.from",
	        "header.sender", "header.i",    "header.d",  "header.to",
	        "envelope-from", "envelope-to", "i",         "x-sender",
	        "x-receiver",    "sender",      "from",      "to",
	        "for",           "mailfrom",    "rcptto",    "identity",
	        "policy.auth",   NULL,
	};
	for (size_t k = 0; names[k]; k++)
		if (ci_eq(s, n, names[k]))
			return 1;
	return 0;
}

struct hasher {
	const unsigned char *key;
	size_t keylen;
};

/* Append s[0..n) to o with every address's local part replaced by its
 * token.  DM_ELIMIT when o is full. */
static int
redact(struct dm_buf *o, const char *s, size_t n, const struct hasher *h)
{
	size_t emitted = 0;
	int rc;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '@')
			continue;
		size_t ls = i;
		if (i > emitted && s[i - 1] == '"') { /* "quoted local"@domain */
			size_t q = i - 1;
			while (q > emitted && s[q - 1] != '"')
				q--;
			if (q > emitted)
				ls = q - 1;
		}
		if (ls == i) {
			while (ls > emitted && is_local((unsigned char)s[ls - 1]))
				ls--;
			const char *eq = memchr(s + ls, '=', i - ls);
			if (eq && param_name(s + ls, (size_t)(eq - (s + ls))))
				ls = (size_t)(eq - s) + 1;
		}
		if (ls == i)
			continue;
		size_t de = i + 1;
		while (de < n && is_dom((unsigned char)s[de]))
			de++;
		size_t dl = de;
		while (dl > i + 1 && s[dl - 1] == '.')
			dl--;
		/* HMAC input: lower-cased local@domain */
		char in[2 * DM_ARF_MAX_VALUE];
		size_t m = 0;
		for (size_t k = ls; k < dl && m < sizeof in; k++)
			in[m++] = (char)lc((unsigned char)s[k]);
		unsigned char mac[DM_SHA256_LEN];
		dm_hmac_sha256(h->key, h->keylen, in, m, mac);
		if ((rc = dm_buf_add(o, s + emitted, ls - emitted)) < 0 ||
		    (rc = dm_buf_printf(o, "h-%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3])) <
		            0)
			return rc;
		emitted = i;
	}
	return dm_buf_add(o, s + emitted, n - emitted);
}

int
arf_redact_text(struct dm_buf *out, const char *s, size_t n, const unsigned char *key,
                size_t keylen)
{
	if (key == NULL || keylen == 0)
		return DM_EINVAL;
	struct hasher h = {key, keylen};
	return redact(out, s, n, &h) < 0 ? DM_ELIMIT : 0;
}

/* The domain of the first mailbox of an address list (From), lower case,
 * or NULL. */
static const char *
from_domain(struct dm_failure_report *r, const char *val, size_t n)
{
	char s[DM_ARF_MAX_RAW_VALUE + 1];
	if (n >= sizeof s)
		n = sizeof s - 1;
	memcpy(s, val, n);
	s[n] = '\0';
	n = strip_comments(s, n);
	/* the first mailbox: up to a ',' outside quotes and angles */
	size_t b = 0, e = n, lt = n;
	int quoted = 0, angle = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (quoted) {
			if (c == '\\')
				i++;
			else if (c == '"')
				quoted = 0;
		} else if (c == '"') {
			quoted = 1;
		} else if (c == '<' && !angle) {
			angle = 1;
			lt = i;
		} else if (c == '>' && angle) {
			b = lt + 1;
			e = i;
			break;
		} else if (c == ',' && !angle) {
			e = i;
			break;
		}
	}
	if (angle && lt < n && b == 0) /* "<a@b" without '>' */
		b = lt + 1;
	const char *at = NULL;
	for (size_t i = b; i < e; i++)
		if (s[i] == '@')
			at = s + i;
	if (!at)
		return NULL;
	size_t ds = (size_t)(at - s) + 1, de = ds;
	while (de < e && s[de] != ' ' && s[de] != '>' && s[de] != ';')
		de++;
	return keep_domain(r, "From domain", s + ds, de - ds);
}

/* Write the stored copy of one field into o (mode HEADERS or HASHED). */
static int
store_field(struct dm_buf *o, const struct field *f, enum arf_redact mode, const struct hasher *h,
            struct dm_buf *tmp)
{
	int rc;
	dm_buf_reset(tmp);
	/* line ends become LF; NUL and other control bytes spaces */
	for (size_t i = 0; i < f->vallen; i++) {
		unsigned char c = (unsigned char)f->val[i];
		if (c == '\r')
			continue;
		if ((c < 32 && c != '\t' && c != '\n') || c == 127)
			c = ' ';
		if ((rc = dm_buf_addc(tmp, (char)c)) < 0)
			return rc;
	}
	utf8_clean(tmp->data ? tmp->data : (char *)"", tmp->len);
	if ((rc = dm_buf_add(o, f->name, f->namelen)) < 0 || (rc = dm_buf_addc(o, ':')) < 0)
		return rc;
	if (mode == ARF_REDACT_HASHED)
		rc = redact(o, dm_buf_str(tmp), tmp->len, h);
	else
		rc = dm_buf_add(o, dm_buf_str(tmp), tmp->len);
	if (rc < 0)
		return rc;
	return dm_buf_addc(o, '\n');
}

/* An extracted value (From, To, Message-ID, Subject) as mode wants it. */
static const char *
keep_redacted(struct dm_failure_report *r, const char *what, char *v, size_t n,
              enum arf_redact mode, const struct hasher *h)
{
	if (mode != ARF_REDACT_HASHED)
		return keep(r, what, v, n);
	struct dm_buf b;
	dm_buf_init(&b, 6 * DM_ARF_MAX_RAW_VALUE); /* "a@" becomes 11 bytes */
	const char *res;
	if (redact(&b, v, n, h) < 0) /* cannot happen: see the maximum */
		res = NULL;
	else
		res = keep(r, what, b.data ? b.data : (char *)"", b.len);
	dm_buf_free(&b);
	return res;
}

static const char *
decode_subject(struct dm_failure_report *r, char *v, size_t n, enum arf_redact mode,
               const struct hasher *h)
{
	char *dec = g_mime_utils_header_decode_text(NULL, v);
	const char *res;
	if (!dec) {
		res = keep_redacted(r, "Subject", v, n, mode, h);
	} else {
		char d[DM_ARF_MAX_RAW_VALUE + 1];
		int cut;
		/* the decoded text may hold control characters again */
		size_t dn = unfold(dec, strlen(dec), d, sizeof d, &cut);
		g_free(dec);
		res = keep_redacted(r, "Subject", d, dn, mode, h);
	}
	return res;
}

int
arf_original_headers(struct dm_failure_report *r, const char *text, size_t len,
                     enum arf_redact mode, const unsigned char *key, size_t keylen,
                     struct dm_buf *out)
{
	struct hasher h = {key, keylen};
	char v[DM_ARF_MAX_RAW_VALUE + 1];
	struct field f;
	int kind, nfrom = 0, first = 1, full = 0;
	unsigned nfields = 0;

	if (mode == ARF_REDACT_HASHED && (!key || keylen == 0))
		return DM_EINVAL;
	if (mode != ARF_REDACT_HASHED && mode != ARF_REDACT_HEADERS && mode != ARF_REDACT_NONE)
		return DM_EINVAL;
	if (!text)
		text = "", len = 0;
	if (len > DM_MAX_HEADER_BYTES) {
		dm_failure_warn(r, "original header block longer than %d bytes; the rest ignored",
		                DM_MAX_HEADER_BYTES);
		len = DM_MAX_HEADER_BYTES;
	}
	/* the stored copy: at most DM_ARF_MAX_STORED_HEADERS bytes and what
	 * out still takes, the marker line included */
	size_t room = 0;
	struct dm_buf copy, tmp;
	if (out && mode != ARF_REDACT_NONE && out->max - out->len > 128) {
		room = out->max - out->len;
		if (room > DM_ARF_MAX_STORED_HEADERS)
			room = DM_ARF_MAX_STORED_HEADERS;
	}
	dm_buf_init(&copy, room > 64 ? room - 64 : 0);
	dm_buf_init(&tmp, DM_MAX_HEADER_BYTES);

	const char *p = text, *end = text + len;
	while ((kind = next_field(&p, end, &f)) != FLD_END) {
		if (kind == FLD_BLANK)
			break; /* the body is never read */
		if (kind == FLD_OTHER) {
			if (first && ci_prefix(f.val, f.vallen, "From ")) { /* mbox line */
				first = 0;
				continue;
			}
			dm_failure_warn(r, "original headers end at a line that is not a field");
			break;
		}
		first = 0;
		if (++nfields > DM_MAX_HEADER_FIELDS) {
			dm_failure_warn(r, "original message has more than %d header fields",
			                DM_MAX_HEADER_FIELDS);
			break;
		}
		/* a field that does not fit is kept as far as it went (its
		 * pieces are appended whole, so a local part never shows) */
		if (room && !full && store_field(&copy, &f, mode, &h, &tmp) < 0)
			full = 1;
		const char *what = NULL;
		if (ci_eq(f.name, f.namelen, "Subject"))
			what = "Subject";
		else if (ci_eq(f.name, f.namelen, "From"))
			what = "From";
		else if (ci_eq(f.name, f.namelen, "To"))
			what = "To";
		else if (ci_eq(f.name, f.namelen, "Message-ID"))
			what = "Message-ID";
		else if (ci_eq(f.name, f.namelen, "Date"))
			what = "Date";
		if (!what)
			continue;
		int cut;
		size_t n = unfold(f.val, f.vallen, v, sizeof v, &cut);
		if (what[0] == 'F') {
			if (nfrom++ == 1)
				dm_failure_warn(r, "original message has more than one From field");
			if (nfrom > 1)
				continue;
			r->header_from_domain = from_domain(r, v, n);
			if (mode != ARF_REDACT_NONE)
				r->from = keep_redacted(r, what, v, n, mode, &h);
		} else if (what[0] == 'S') {
			if (!r->subject && mode != ARF_REDACT_NONE)
				r->subject = decode_subject(r, v, n, mode, &h);
		} else if (what[0] == 'T') {
			if (!r->to && mode != ARF_REDACT_NONE)
				r->to = keep_redacted(r, what, v, n, mode, &h);
		} else if (what[0] == 'M') {
			if (!r->message_id && mode != ARF_REDACT_NONE)
				r->message_id = keep_redacted(r, what, v, n, mode, &h);
		} else if (!r->have_date) {
			int64_t t;
			int rc = arf_parse_date(v, n, &t);
			if (rc < 0) {
				dm_failure_warn(r, "original Date is not a date: %.64s", v);
			} else {
				r->date = t;
				r->have_date = 1;
			}
		}
	}
	if (nfields == 0)
		dm_failure_warn(r, "no original header fields");
	if (room) {
		int rc = dm_buf_add(out, copy.data ? copy.data : "", copy.len);
		if (rc == 0 && full && copy.len && copy.data[copy.len - 1] != '\n')
			rc = dm_buf_addc(out, '\n');
		if (rc == 0 && full)
			rc = dm_buf_printf(out, "[... headers cut at %zu bytes]\n", copy.len);
		if (rc < 0) /* cannot happen: room was measured */
			dm_failure_warn(r, "stored headers did not fit");
		if (full)
			dm_failure_warn(r, "stored original headers cut at %zu bytes", copy.len);
	}
	dm_buf_free(&copy);
	dm_buf_free(&tmp);
	return 0;
}
