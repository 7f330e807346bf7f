/*
 * dmarc_record.c - a DMARC record read tag by tag (dmarc_record.h).
 *
 * Functions: dm_dmarc_record_parse, dm_finding_severity_name,
 * dm_dmarc_record_json, dm_dmarc_record_generate, dm_txt_zone_strings,
 * and for spf_record.c dm_finding_vadd, dm_finding_quote,
 * dm_findings_json.
 *
 * The text is split at ';' (a value never holds one); each part is
 * "tag = value" with spaces and tabs allowed around both.  The first part
 * must be v=DMARC1 (DMARC1 in upper case, as both RFCs require), or the
 * text is no DMARC record and nothing more is read.  Tag names and keyword
 * values compare without case; unknown tags are reported and ignored, as
 * receivers ignore them; a tag given twice keeps its first value.  The
 * record's text is the sender's or the DNS's: a message quotes at most
 * QUOTE printable characters of it.
 */
#include "dns/dmarc_record.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"

#define QUOTE DM_FINDING_QUOTE

void
dm_finding_vadd(struct dm_finding *v, size_t *n, size_t *nerrors, int *dropped,
                enum dm_finding_severity s, const char *code, const char *fmt, va_list ap)
{
	if (s == DM_FINDING_ERROR)
		(*nerrors)++;
	if (*n == DM_DMARC_MAX_FINDINGS) {
		*dropped = 1;
		return;
	}
	struct dm_finding *f = &v[(*n)++];
	f->severity = s;
	f->code = code;
	vsnprintf(f->message, sizeof f->message, fmt, ap);
}

static void DM_PRINTF(4, 5) finding(struct dm_dmarc_record *r, enum dm_finding_severity s,
                                    const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dm_finding_vadd(r->findings, &r->nfindings, &r->nerrors, &r->findings_dropped, s, code, fmt,
	                ap);
	va_end(ap);
}

/* At most QUOTE characters of s[0..n), printable ASCII only (others as
 * '?'), for a message. */
const char *
dm_finding_quote(char out[QUOTE + 4], const char *s, size_t n)
{
	size_t k = 0;
	for (; k < n && k < QUOTE; k++) {
		unsigned char c = (unsigned char)s[k];
		out[k] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (k < n) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

static const char *
quote(char out[QUOTE + 4], const char *s, size_t n)
{
	return dm_finding_quote(out, s, n);
}

static int
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* s[0..n) lower-cased into out (outlen bytes); 0 when it fits. */
static int
lower(char *out, size_t outlen, const char *s, size_t n)
{
	if (n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return 0;
}

static int
is_policy(const char *v)
{
	return strcmp(v, "none") == 0 || strcmp(v, "quarantine") == 0 || strcmp(v, "reject") == 0;
}

/* none 0, quarantine 1, reject 2 */
static int
strength(const char *p)
{
	return strcmp(p, "reject") == 0 ? 2 : strcmp(p, "quarantine") == 0 ? 1 : 0;
}

/* One keyword tag: v (lower case) must be one of choices ("a|b|c"). */
static int
keyword(const char *v, const char *choices)
{
	size_t n = strlen(v);
	for (const char *c = choices; *c;) {
		size_t k = strcspn(c, "|");
		if (k == n && strncmp(c, v, n) == 0)
			return 1;
		c += k + (c[k] == '|');
	}
	return 0;
}

/* A mailto address: local@domain, the domain of LDH labels with a dot. */
static int
mail_address(const char *a, char *host, size_t hostlen)
{
	const char *at = strrchr(a, '@');
	if (!at || at == a || !at[1])
		return 0;
	for (const char *p = a; p < at; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '<' ||
		    *p == '>')
			return 0;
	const char *d = at + 1;
	size_t dl = strlen(d);
	if (dl > 253 || !strchr(d, '.'))
		return 0;
	size_t label = 0;
	for (const char *p = d;; p++) {
		if (*p == '.' || !*p) {
			if (label == 0 || label > 63 || p[-1] == '-')
				return 0;
			if (!*p)
				break;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)*p) || *p == '-') || (label == 0 && *p == '-'))
			return 0;
		label++;
	}
	return lower(host, hostlen, d, dl) == 0;
}

/* rua= or ruf= (tag): a comma list of URIs, each with an optional !size. */
static void
uri_list(struct dm_dmarc_record *r, const char *tag, const char *v, size_t n,
         struct dm_report_uri *out, size_t *nout)
{
	char q[QUOTE + 4];
	size_t count = 0;
	const char *end = v + n;
	for (const char *p = v; p <= end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		const char *s = p;
		while (s < e && wsp(*s))
			s++;
		const char *t = e;
		while (t > s && wsp(t[-1]))
			t--;
		p = e + 1;
		count++;
		if (s == t) {
			finding(r, DM_FINDING_ERROR, "bad_uri", "%s: an empty URI in the list",
			        tag);
			if (!comma)
				break;
			continue;
		}
		if (*nout == DM_DMARC_MAX_URIS) {
			finding(r, DM_FINDING_WARNING, "too_many_uris",
			        "%s: more than %d URIs; the rest are not read", tag,
			        DM_DMARC_MAX_URIS);
			break;
		}
		struct dm_report_uri u;
		memset(&u, 0, sizeof u);
		/* the obsolete size suffix: a '!' in the URI itself is
		 * percent-encoded, so the first one starts it */
		const char *bang = memchr(s, '!', (size_t)(t - s));
		const char *ue = bang ? bang : t;
		if (bang) {
			const char *d = bang + 1;
			uint64_t size = 0;
			int ok = d < t && isdigit((unsigned char)*d);
			for (; ok && d < t && isdigit((unsigned char)*d); d++) {
				unsigned digit = (unsigned)(*d - '0');
				if (size > (UINT64_MAX - digit) / 10)
					ok = 0;
				else
					size = size * 10 + digit;
			}
			int shift = 0;
			if (ok && d < t) {
				char unit = (char)tolower((unsigned char)*d++);
				shift = unit == 'k'   ? 10
				        : unit == 'm' ? 20
				        : unit == 'g' ? 30
				        : unit == 't' ? 40
				                      : -1;
				ok = shift >= 0;
			}
			if (ok && d != t)
				ok = 0;
			if (ok && shift && size > (UINT64_MAX >> shift))
				ok = 0;
			if (!ok) {
				finding(r, DM_FINDING_ERROR, "bad_uri",
				        "%s: bad size suffix in '%s'", tag,
				        quote(q, s, (size_t)(t - s)));
				if (!comma)
					break;
				continue;
			}
			u.has_size = 1;
			u.size = size << shift;
			finding(r, DM_FINDING_INFO, "size_suffix",
			        "%s: the !size suffix of '%s' is obsolete (RFC 9989): reporters "
			        "ignore it",
			        tag, quote(q, s, (size_t)(t - s)));
		}
		size_t ul = (size_t)(ue - s);
		const char *colon = memchr(s, ':', ul);
		int scheme_ok = colon && colon > s && isalpha((unsigned char)*s);
		for (const char *c = s; scheme_ok && c < colon; c++)
			scheme_ok =
			        isalnum((unsigned char)*c) || *c == '+' || *c == '-' || *c == '.';
		if (!scheme_ok || ul > DM_DMARC_MAX_URI) {
			finding(r, DM_FINDING_ERROR, "bad_uri", "%s: '%s' is not a URI", tag,
			        quote(q, s, ul));
			if (!comma)
				break;
			continue;
		}
		memcpy(u.uri, s, ul);
		u.uri[ul] = '\0';
		u.mailto = (size_t)(colon - s) == 6 && strncasecmp(s, "mailto", 6) == 0;
		if (u.mailto) {
			/* the address, without the URI's ?headers */
			const char *qm = memchr(colon + 1, '?', (size_t)(ue - colon - 1));
			size_t al = (size_t)((qm ? qm : ue) - colon - 1);
			memcpy(u.address, colon + 1, al);
			u.address[al] = '\0';
			if (!mail_address(u.address, u.host, sizeof u.host)) {
				finding(r, DM_FINDING_ERROR, "bad_uri",
				        "%s: '%s' is not a mail address", tag,
				        quote(q, u.address, al));
				if (!comma)
					break;
				continue;
			}
		} else {
			finding(r, DM_FINDING_WARNING, "not_mailto",
			        "%s: '%s' is not a mailto: URI; receivers send reports by mail",
			        tag, quote(q, s, ul));
		}
		out[(*nout)++] = u;
		if (!comma)
			break;
	}
	if (count > 2)
		finding(r, DM_FINDING_INFO, "more_than_two_uris",
		        "%s: %zu URIs; RFC 7489 receivers need honour only two", tag, count);
}

/* fo=: a colon list of 0, 1, d, s. */
static void
fo_list(struct dm_dmarc_record *r, const char *v)
{
	char q[QUOTE + 4], norm[16] = "";
	int seen[4] = {0, 0, 0, 0};
	size_t len = 0;
	for (const char *p = v;;) {
		size_t k = strcspn(p, ":");
		const char *s = p, *e = p + k;
		while (s < e && wsp(*s))
			s++;
		while (e > s && wsp(e[-1]))
			e--;
		const char *opts = "01ds";
		const char *o = e - s == 1 ? strchr(opts, tolower((unsigned char)*s)) : NULL;
		if (!o || !*o) {
			finding(r, DM_FINDING_ERROR, "bad_value",
			        "fo: '%s' is not 0, 1, d or s (a colon list of them)",
			        quote(q, v, strlen(v)));
			return;
		}
		int i = (int)(o - opts);
		if (seen[i]++)
			finding(r, DM_FINDING_WARNING, "bad_value", "fo: '%c' given twice", *o);
		else if (len + 2 < sizeof norm) {
			if (len)
				norm[len++] = ':';
			norm[len++] = *o;
			norm[len] = '\0';
		}
		if (!p[k])
			break;
		p += k + 1;
	}
	if (seen[0] && seen[1])
		finding(r, DM_FINDING_WARNING, "bad_value",
		        "fo: 0 and 1 together (RFC 9989 makes them exclusive; 1 includes 0)");
	snprintf(r->fo, sizeof r->fo, "%s", norm);
}

/* A number of 1 to maxdigits digits no larger than max; -1 when not. */
static int64_t
number(const char *v, int maxdigits, int64_t max)
{
	int64_t n = 0;
	int d = 0;
	for (; isdigit((unsigned char)*v); v++, d++) {
		if (d == maxdigits)
			return -1;
		n = n * 10 + (*v - '0');
	}
	return d == 0 || *v || n > max ? -1 : n;
}

enum {
	T_V,
	T_P,
	T_SP,
	T_NP,
	T_ADKIM,
	T_ASPF,
	T_FO,
	T_RUA,
	T_RUF,
	T_PCT,
	T_RF,
	T_RI,
	T_T,
	T_PSD,
	T_N
};
static const char *const tag_names[T_N] = {"v",   "p",   "sp",  "np", "adkim", "aspf", "fo",
                                           "rua", "ruf", "pct", "rf", "ri",    "t",    "psd"};

/* One tag; index: its place in the record (v is 0). */
static void
one_tag(struct dm_dmarc_record *r, int tag, const char *name, const char *v, size_t n, int index)
{
	char q[QUOTE + 4], low[32];
	int lowered = lower(low, sizeof low, v, n) == 0;
	const char *bad = NULL;
	switch (tag) {
	case T_V:
		break; /* only as the first tag, read before */
	case T_P:
	case T_SP:
	case T_NP: {
		char *dst = tag == T_P ? r->p : tag == T_SP ? r->sp : r->np;
		if (lowered && is_policy(low))
			snprintf(dst, 16, "%.15s", low);
		else
			bad = "none, quarantine or reject";
		if (tag == T_P && index != 1)
			finding(r, DM_FINDING_WARNING, "p_not_second",
			        "p is not right after v: RFC 7489 receivers expect it there");
		break;
	}
	case T_ADKIM:
	case T_ASPF:
		if (lowered && keyword(low, "r|s"))
			snprintf(tag == T_ADKIM ? r->adkim : r->aspf, 4, "%.3s", low);
		else
			bad = "r or s";
		break;
	case T_T:
		if (lowered && keyword(low, "y|n"))
			snprintf(r->t, sizeof r->t, "%.3s", low);
		else
			bad = "y or n";
		break;
	case T_PSD:
		if (lowered && keyword(low, "y|n|u"))
			snprintf(r->psd, sizeof r->psd, "%.3s", low);
		else
			bad = "y, n or u";
		break;
	case T_FO: {
		char fo[64];
		if (n >= sizeof fo)
			bad = "a colon list of 0, 1, d, s";
		else {
			memcpy(fo, v, n);
			fo[n] = '\0';
			fo_list(r, fo);
		}
		break;
	}
	case T_RUA:
		uri_list(r, "rua", v, n, r->rua, &r->nrua);
		break;
	case T_RUF:
		uri_list(r, "ruf", v, n, r->ruf, &r->nruf);
		break;
	case T_PCT: {
		char num[8];
		int64_t x = n < sizeof num && lower(num, sizeof num, v, n) == 0
		                    ? number(num, 3, 100)
		                    : -1;
		if (x < 0)
			bad = "a whole number from 0 to 100";
		else
			r->pct = (int)x;
		finding(r, DM_FINDING_INFO, "historic_tag",
		        "pct was removed by RFC 9989 (t=y replaces pct=0); RFC 7489 receivers still"
		        " apply it");
		break;
	}
	case T_RF: {
		char rf[16];
		if (lowered && n < sizeof rf) {
			/* a colon list of report formats; afrf is the only one */
			memcpy(rf, low, n + 1);
			char *save = NULL;
			for (char *s = strtok_r(rf, ":", &save); s && !bad;
			     s = strtok_r(NULL, ":", &save)) {
				while (wsp(*s))
					s++;
				size_t k = strlen(s);
				while (k && wsp(s[k - 1]))
					s[--k] = '\0';
				if (strcmp(s, "afrf") != 0)
					bad = "afrf";
			}
			if (!bad)
				snprintf(r->rf, sizeof r->rf, "%.15s", low);
		} else {
			bad = "afrf";
		}
		finding(r, DM_FINDING_INFO, "historic_tag", "rf was removed by RFC 9989");
		break;
	}
	case T_RI: {
		char num[16];
		int64_t x = n < sizeof num && lower(num, sizeof num, v, n) == 0
		                    ? number(num, 10, 4294967295LL)
		                    : -1;
		if (x < 0)
			bad = "seconds, a whole number below 2^32";
		else
			r->ri = x;
		finding(r, DM_FINDING_INFO, "historic_tag", "ri was removed by RFC 9989");
		break;
	}
	default:
		break;
	}
	if (bad)
		finding(r, DM_FINDING_ERROR, "bad_value", "%s=%s: not %s; receivers ignore it",
		        name, quote(q, v, n), bad);
}

void
dm_dmarc_record_parse(const char *text, size_t len, struct dm_dmarc_record *r)
{
	char q[QUOTE + 4];
	memset(r, 0, sizeof *r);
	r->pct = -1;
	r->ri = -1;
	if (len > DM_DMARC_MAX_RECORD) {
		finding(r, DM_FINDING_ERROR, "too_long",
		        "the record is %zu bytes long; no DMARC record is over %d", len,
		        DM_DMARC_MAX_RECORD);
		return;
	}
	int seen[T_N] = {0};
	int index = 0;
	const char *end = text + len;
	for (const char *p = text; p <= end;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi ? semi : end;
		const char *s = p;
		p = e + 1;
		while (s < e && wsp(*s))
			s++;
		const char *t = e;
		while (t > s && wsp(t[-1]))
			t--;
		if (s == t) {
			if (!semi)
				break;
			continue; /* an empty part: a trailing ';' is allowed */
		}
		const char *eq = memchr(s, '=', (size_t)(t - s));
		const char *ne = eq ? eq : t;
		while (ne > s && wsp(ne[-1]))
			ne--;
		int name_ok = eq && ne > s;
		for (const char *c = s; name_ok && c < ne; c++)
			name_ok = isalpha((unsigned char)*c);
		const char *v = eq ? eq + 1 : t;
		while (v < t && wsp(*v))
			v++;
		size_t vn = (size_t)(t - v);
		char name[16];
		if (!name_ok || lower(name, sizeof name, s, (size_t)(ne - s)) != 0) {
			if (index == 0) {
				finding(r, DM_FINDING_ERROR, "not_dmarc",
				        "the record does not begin with v=DMARC1");
				return;
			}
			finding(r, DM_FINDING_ERROR, "syntax", "'%s' is not tag=value; ignored",
			        quote(q, s, (size_t)(t - s)));
			index++;
			if (!semi)
				break;
			continue;
		}
		if (index == 0) {
			if (strcmp(name, "v") != 0 || vn != 6 || memcmp(v, "DMARC1", 6) != 0) {
				finding(r, DM_FINDING_ERROR, "not_dmarc",
				        "the record does not begin with v=DMARC1 (it begins '%s')",
				        quote(q, s, (size_t)(t - s)));
				return;
			}
			r->is_dmarc = 1;
			seen[T_V] = 1;
			index++;
			if (!semi)
				break;
			continue;
		}
		int tag = T_N;
		for (int i = 0; i < T_N; i++)
			if (strcmp(name, tag_names[i]) == 0)
				tag = i;
		int printable = vn > 0;
		for (size_t i = 0; i < vn; i++)
			printable &= (unsigned char)v[i] >= 0x20 && (unsigned char)v[i] < 0x7f;
		if (tag == T_N) {
			finding(r, DM_FINDING_WARNING, "unknown_tag", "unknown tag '%s': ignored",
			        quote(q, name, strlen(name)));
		} else if (seen[tag]) {
			finding(r, DM_FINDING_ERROR, "duplicate_tag",
			        "%s is given twice; the first is read", name);
		} else if (!printable) {
			finding(r, DM_FINDING_ERROR, "bad_value",
			        "%s: an empty or unprintable value", name);
			seen[tag] = 1;
		} else {
			seen[tag] = 1;
			one_tag(r, tag, name, v, vn, index);
		}
		index++;
		if (!semi)
			break;
	}
	if (!r->is_dmarc) {
		finding(r, DM_FINDING_ERROR, "not_dmarc",
		        "the record does not begin with v=DMARC1");
		return;
	}

	/* what a receiver applies */
	if (r->p[0]) {
		snprintf(r->eff.p, sizeof r->eff.p, "%s", r->p);
	} else if (r->nrua > 0) {
		snprintf(r->eff.p, sizeof r->eff.p, "none");
		finding(r, DM_FINDING_WARNING, "missing_p",
		        seen[T_P] ? "p is not valid: receivers act as if p=none"
		                  : "no p: RFC 9989 receivers act as if p=none, RFC 7489 ones"
		                    " require p");
	} else {
		finding(r, DM_FINDING_ERROR, "no_policy",
		        "no valid p and no usable rua: receivers apply no DMARC to this domain");
	}
	if (r->eff.p[0]) {
		snprintf(r->eff.sp, sizeof r->eff.sp, "%s", r->sp[0] ? r->sp : r->eff.p);
		snprintf(r->eff.np, sizeof r->eff.np, "%s", r->np[0] ? r->np : r->eff.sp);
	}
	snprintf(r->eff.adkim, sizeof r->eff.adkim, "%s", r->adkim[0] ? r->adkim : "r");
	snprintf(r->eff.aspf, sizeof r->eff.aspf, "%s", r->aspf[0] ? r->aspf : "r");
	snprintf(r->eff.fo, sizeof r->eff.fo, "%s", r->fo[0] ? r->fo : "0");
	snprintf(r->eff.t, sizeof r->eff.t, "%s", r->t[0] ? r->t : "n");
	snprintf(r->eff.psd, sizeof r->eff.psd, "%s", r->psd[0] ? r->psd : "u");
	r->eff.pct = r->pct >= 0 ? r->pct : 100;

	if (strcmp(r->eff.p, "none") == 0)
		finding(r, DM_FINDING_WARNING, "p_none",
		        "p=none: monitoring only, mail that fails DMARC is delivered as usual");
	if (r->eff.p[0] && strength(r->eff.sp) < strength(r->eff.p))
		finding(r, DM_FINDING_WARNING, "sp_weaker",
		        "sp=%s is weaker than p=%s: subdomains are less protected", r->eff.sp,
		        r->eff.p);
	if (r->eff.p[0] && strength(r->eff.np) < strength(r->eff.p))
		finding(r, DM_FINDING_WARNING, "np_weaker",
		        "np=%s is weaker than p=%s: names that do not exist are less protected",
		        r->eff.np, r->eff.p);
	if (r->pct >= 0 && r->pct < 100)
		finding(r, DM_FINDING_WARNING, "pct_below_100",
		        "pct=%d: RFC 7489 receivers apply the policy to only %d%% of failing mail",
		        r->pct, r->pct);
	if (r->nrua == 0)
		finding(r, DM_FINDING_WARNING, "no_rua",
		        "no usable rua: nobody sends aggregate reports for this domain");
	if (r->fo[0] && r->nruf == 0)
		finding(r, DM_FINDING_INFO, "fo_without_ruf", "fo has no effect without ruf");
	if (r->nruf > 0 && strcmp(r->eff.psd, "y") == 0)
		finding(r, DM_FINDING_WARNING, "ruf_with_psd",
		        "ruf on a psd=y record: RFC 9991 receivers must not send failure reports");
	if (strcmp(r->eff.t, "y") == 0)
		finding(r, DM_FINDING_INFO, "testing",
		        "t=y: receivers apply one step less than the policy (RFC 9989)");
	r->valid = r->nerrors == 0;
}

const char *
dm_finding_severity_name(enum dm_finding_severity s)
{
	return s == DM_FINDING_ERROR ? "error" : s == DM_FINDING_WARNING ? "warning" : "info";
}

static void
uris_json(struct dm_json *j, const char *key, const struct dm_report_uri *u, size_t n)
{
	dm_json_key(j, key);
	dm_json_arr_begin(j);
	for (size_t i = 0; i < n; i++) {
		dm_json_obj_begin(j);
		dm_json_key_str_or_null(j, "uri", u[i].uri);
		dm_json_key_str_or_null(j, "address", u[i].address);
		dm_json_key_str_or_null(j, "host", u[i].host);
		dm_json_key(j, "size");
		if (u[i].has_size)
			dm_json_uint(j, u[i].size);
		else
			dm_json_null(j);
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);
}

void
dm_dmarc_record_json(const struct dm_dmarc_record *r, struct dm_json *j)
{
	dm_json_obj_begin(j);
	dm_json_key(j, "is_dmarc");
	dm_json_bool(j, r->is_dmarc);
	dm_json_key(j, "valid");
	dm_json_bool(j, r->valid);
	dm_json_key(j, "tags");
	dm_json_obj_begin(j);
	dm_json_key_str_or_null(j, "p", r->p);
	dm_json_key_str_or_null(j, "sp", r->sp);
	dm_json_key_str_or_null(j, "np", r->np);
	dm_json_key_str_or_null(j, "adkim", r->adkim);
	dm_json_key_str_or_null(j, "aspf", r->aspf);
	dm_json_key_str_or_null(j, "fo", r->fo);
	dm_json_key_str_or_null(j, "t", r->t);
	dm_json_key_str_or_null(j, "psd", r->psd);
	dm_json_key(j, "pct");
	if (r->pct >= 0)
		dm_json_int(j, r->pct);
	else
		dm_json_null(j);
	dm_json_key_str_or_null(j, "rf", r->rf);
	dm_json_key(j, "ri");
	if (r->ri >= 0)
		dm_json_int(j, r->ri);
	else
		dm_json_null(j);
	dm_json_obj_end(j);
	dm_json_key(j, "effective");
	dm_json_obj_begin(j);
	dm_json_key_str_or_null(j, "p", r->eff.p);
	dm_json_key_str_or_null(j, "sp", r->eff.sp);
	dm_json_key_str_or_null(j, "np", r->eff.np);
	dm_json_key_str_or_null(j, "adkim", r->eff.adkim);
	dm_json_key_str_or_null(j, "aspf", r->eff.aspf);
	dm_json_key_str_or_null(j, "fo", r->eff.fo);
	dm_json_key_str_or_null(j, "t", r->eff.t);
	dm_json_key_str_or_null(j, "psd", r->eff.psd);
	dm_json_key(j, "pct");
	dm_json_int(j, r->is_dmarc ? r->eff.pct : 100);
	dm_json_obj_end(j);
	uris_json(j, "rua", r->rua, r->nrua);
	uris_json(j, "ruf", r->ruf, r->nruf);
	dm_findings_json(j, r->findings, r->nfindings);
	dm_json_obj_end(j);
}

void
dm_findings_json(struct dm_json *j, const struct dm_finding *v, size_t n)
{
	dm_json_key(j, "findings");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < n; i++) {
		dm_json_obj_begin(j);
		dm_json_key(j, "severity");
		dm_json_str(j, dm_finding_severity_name(v[i].severity));
		dm_json_key(j, "code");
		dm_json_str(j, v[i].code);
		dm_json_key(j, "message");
		dm_json_str(j, v[i].message);
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);
}

/* Append to out at *len: the text of fmt, or -1 when it does not fit. */
static int DM_PRINTF(4, 5) append(char *out, size_t outlen, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *len, outlen - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

static int
uris_out(char *out, size_t outlen, size_t *len, const char *tag, const char *const *u, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0)
			bad |= append(out, outlen, len, "; %s=", tag);
		else
			bad |= append(out, outlen, len, ",");
		int scheme = strncasecmp(u[i], "mailto:", 7) == 0;
		bad |= append(out, outlen, len, "%s%s", scheme ? "" : "mailto:", u[i]);
	}
	return bad;
}

int
dm_dmarc_record_generate(const struct dm_dmarc_wish *w, char *out, size_t outlen)
{
	size_t len = 0;
	const char *p = w->p && *w->p ? w->p : "none";
	int bad = append(out, outlen, &len, "v=DMARC1; p=%s", p);
	/* sp and np only where they differ from what they default to */
	const char *sp = w->sp && *w->sp && strcmp(w->sp, p) != 0 ? w->sp : NULL;
	const char *eff_sp = sp ? sp : p;
	if (sp)
		bad |= append(out, outlen, &len, "; sp=%s", sp);
	if (w->np && *w->np && strcmp(w->np, eff_sp) != 0)
		bad |= append(out, outlen, &len, "; np=%s", w->np);
	if (w->adkim && strcmp(w->adkim, "s") == 0)
		bad |= append(out, outlen, &len, "; adkim=s");
	if (w->aspf && strcmp(w->aspf, "s") == 0)
		bad |= append(out, outlen, &len, "; aspf=s");
	if (w->testing)
		bad |= append(out, outlen, &len, "; t=y");
	bad |= uris_out(out, outlen, &len, "rua", w->rua, w->nrua);
	bad |= uris_out(out, outlen, &len, "ruf", w->ruf, w->nruf);
	if (w->nruf > 0 && w->fo && *w->fo && strcmp(w->fo, "0") != 0)
		bad |= append(out, outlen, &len, "; fo=%s", w->fo);
	return bad ? -1 : 0;
}

int
dm_txt_zone_strings(const char *text, char *out, size_t outlen)
{
	size_t len = 0, n = strlen(text);
	int bad = 0;
	for (size_t at = 0; at < n;) {
		size_t take = n - at;
		if (take > 255) {
			/* the last tag boundary ("; ") that keeps it within 255 */
			take = 255;
			for (size_t k = 255; k > 0; k--)
				if (text[at + k - 1] == ' ' && k >= 2 && text[at + k - 2] == ';') {
					take = k;
					break;
				}
		}
		bad |= append(out, outlen, &len, "%s\"", at ? " " : "");
		for (size_t k = 0; k < take; k++) {
			char c = text[at + k];
			if (c == '"' || c == '\\')
				bad |= append(out, outlen, &len, "\\%c", c);
			else
				bad |= append(out, outlen, &len, "%c", c);
		}
		bad |= append(out, outlen, &len, "\"");
		at += take;
	}
	if (n == 0)
		bad |= append(out, outlen, &len, "\"\"");
	return bad ? -1 : 0;
}
