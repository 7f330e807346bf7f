/*
 * aggregate.c - DMARC aggregate report parser over expat.
 *
 * Functions: agg_parser_new, agg_parser_reset, agg_parser_feed, agg_parser_finish,
 * agg_parser_error, agg_parser_report, agg_parser_is_feedback,
 * agg_parser_free.
 *
 * Elements are identified by (parent, local name) through one table, so
 * any order of siblings works and everything not in the table (extensions,
 * other namespaces, stray markup inside values) is skipped with its text.
 * Character data is collected only inside known leaves, into one bounded
 * buffer.  A record is validated when </record> closes and handed to the
 * callback; its strings live in a per-record arena reset for the next one.
 *
 * Decisions (SPECS 6.4, 6.5):
 *   - any DOCTYPE or entity declaration rejects the document;
 *   - a singleton seen twice: the first wins, a warning is kept;
 *   - a record with a missing or non-integer count is skipped with a
 *     warning; a record with a bad source_ip is kept with an empty IP;
 *   - begin/end may carry a fraction (dropped) or be milliseconds
 *     (values above DM_MAX_PLAUSIBLE_EPOCH are divided by 1000, warned);
 *   - a field longer than its limit rejects the report: cutting it would
 *     corrupt identifiers;
 *   - bytes after the closing </feedback> are ignored.
 * Logs nothing: reasons and warnings go to the caller.
 */
#include "aggregate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <expat.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/xalloc.h"

#define NS_SEP '\x01'

enum el {
	EL_UNKNOWN = 0,
	EL_FEEDBACK,
	EL_VERSION,
	EL_METADATA,
	EL_ORG,
	EL_EMAIL,
	EL_EXTRA,
	EL_REPORT_ID,
	EL_MD_ERROR,
	EL_GENERATOR,
	EL_DATE_RANGE,
	EL_BEGIN,
	EL_END,
	EL_POLICY,
	EL_P_DOMAIN,
	EL_P_ADKIM,
	EL_P_ASPF,
	EL_P_P,
	EL_P_SP,
	EL_P_NP,
	EL_P_PCT,
	EL_P_FO,
	EL_P_TESTING,
	EL_P_DISCOVERY,
	EL_EXTENSION,
	EL_RECORD,
	EL_ROW,
	EL_SOURCE_IP,
	EL_COUNT,
	EL_POLICY_EVAL,
	EL_DISPOSITION,
	EL_PE_DKIM,
	EL_PE_SPF,
	EL_REASON,
	EL_REASON_TYPE,
	EL_REASON_COMMENT,
	EL_IDENTIFIERS,
	EL_ENV_TO,
	EL_ENV_FROM,
	EL_HEADER_FROM,
	EL_AUTH,
	EL_DKIM,
	EL_DKIM_DOMAIN,
	EL_DKIM_SELECTOR,
	EL_DKIM_RESULT,
	EL_DKIM_HUMAN,
	EL_SPF,
	EL_SPF_DOMAIN,
	EL_SPF_SCOPE,
	EL_SPF_RESULT,
	EL_SPF_HUMAN,
	EL_COUNT_ALL
};

/* Value classes: the length limit of a leaf. */
enum vclass { V_NONE, V_DOMAIN, V_ID, V_TEXT };

struct el_def {
	enum el parent;
	const char *name;
	enum el id;
	enum vclass vclass; /* V_NONE: not a leaf */
	int bis_only;
};

static const struct el_def el_table[] = {
	{EL_FEEDBACK, "version", EL_VERSION, V_ID, 0},
	{EL_FEEDBACK, "report_metadata", EL_METADATA, V_NONE, 0},
	{EL_METADATA, "org_name", EL_ORG, V_ID, 0},
	{EL_METADATA, "email", EL_EMAIL, V_ID, 0},
	{EL_METADATA, "extra_contact_info", EL_EXTRA, V_TEXT, 0},
	{EL_METADATA, "report_id", EL_REPORT_ID, V_ID, 0},
	{EL_METADATA, "error", EL_MD_ERROR, V_TEXT, 0},
	{EL_METADATA, "generator", EL_GENERATOR, V_TEXT, 1},
	{EL_METADATA, "date_range", EL_DATE_RANGE, V_NONE, 0},
	{EL_DATE_RANGE, "begin", EL_BEGIN, V_ID, 0},
	{EL_DATE_RANGE, "end", EL_END, V_ID, 0},
	{EL_FEEDBACK, "policy_published", EL_POLICY, V_NONE, 0},
	{EL_POLICY, "domain", EL_P_DOMAIN, V_DOMAIN, 0},
	{EL_POLICY, "adkim", EL_P_ADKIM, V_ID, 0},
	{EL_POLICY, "aspf", EL_P_ASPF, V_ID, 0},
	{EL_POLICY, "p", EL_P_P, V_ID, 0},
	{EL_POLICY, "sp", EL_P_SP, V_ID, 0},
	{EL_POLICY, "np", EL_P_NP, V_ID, 1},
	{EL_POLICY, "pct", EL_P_PCT, V_ID, 0},
	{EL_POLICY, "fo", EL_P_FO, V_ID, 0},
	{EL_POLICY, "testing", EL_P_TESTING, V_ID, 1},
	{EL_POLICY, "discovery_method", EL_P_DISCOVERY, V_ID, 1},
	{EL_FEEDBACK, "extension", EL_EXTENSION, V_NONE, 1},
	{EL_FEEDBACK, "record", EL_RECORD, V_NONE, 0},
	{EL_RECORD, "row", EL_ROW, V_NONE, 0},
	{EL_ROW, "source_ip", EL_SOURCE_IP, V_ID, 0},
	{EL_ROW, "count", EL_COUNT, V_ID, 0},
	{EL_ROW, "policy_evaluated", EL_POLICY_EVAL, V_NONE, 0},
	{EL_POLICY_EVAL, "disposition", EL_DISPOSITION, V_ID, 0},
	{EL_POLICY_EVAL, "dkim", EL_PE_DKIM, V_ID, 0},
	{EL_POLICY_EVAL, "spf", EL_PE_SPF, V_ID, 0},
	{EL_POLICY_EVAL, "reason", EL_REASON, V_NONE, 0},
	{EL_REASON, "type", EL_REASON_TYPE, V_ID, 0},
	{EL_REASON, "comment", EL_REASON_COMMENT, V_TEXT, 0},
	{EL_RECORD, "identifiers", EL_IDENTIFIERS, V_NONE, 0},
	{EL_IDENTIFIERS, "envelope_to", EL_ENV_TO, V_DOMAIN, 0},
	{EL_IDENTIFIERS, "envelope_from", EL_ENV_FROM, V_DOMAIN, 0},
	{EL_IDENTIFIERS, "header_from", EL_HEADER_FROM, V_DOMAIN, 0},
	{EL_RECORD, "auth_results", EL_AUTH, V_NONE, 0},
	{EL_AUTH, "dkim", EL_DKIM, V_NONE, 0},
	{EL_DKIM, "domain", EL_DKIM_DOMAIN, V_DOMAIN, 0},
	{EL_DKIM, "selector", EL_DKIM_SELECTOR, V_ID, 0},
	{EL_DKIM, "result", EL_DKIM_RESULT, V_ID, 0},
	{EL_DKIM, "human_result", EL_DKIM_HUMAN, V_TEXT, 0},
	{EL_AUTH, "spf", EL_SPF, V_NONE, 0},
	{EL_SPF, "domain", EL_SPF_DOMAIN, V_DOMAIN, 0},
	{EL_SPF, "scope", EL_SPF_SCOPE, V_ID, 0},
	{EL_SPF, "result", EL_SPF_RESULT, V_ID, 0},
	{EL_SPF, "human_result", EL_SPF_HUMAN, V_TEXT, 1},
};

/* Namespaces a DMARC element may carry (SPECS AGG-10). */
static const char *const dmarc_ns[] = {
	"http://dmarc.org/dmarc-xml/0.1",
	"http://dmarc.org/dmarc-xml/0.2",
	"urn:ietf:params:xml:ns:dmarc-2.0",
};
#define NS_BIS "urn:ietf:params:xml:ns:dmarc-2.0"

/* Expat's memory is charged to the parser that runs on this thread. */
static __thread size_t *tls_mem_used;

struct mem_hdr {
	size_t size;
	size_t pad;
};

static void *
cap_malloc(size_t n)
{
	if (tls_mem_used) {
		if (DM_MAX_XML_PARSER_MEMORY - *tls_mem_used < n ||
		    n > DM_MAX_XML_PARSER_MEMORY)
			return NULL;
		*tls_mem_used += n;
	}
	struct mem_hdr *h = malloc(sizeof *h + n);
	if (!h) {
		if (tls_mem_used)
			*tls_mem_used -= n;
		return NULL;
	}
	h->size = n;
	return h + 1;
}

static void
cap_free(void *p)
{
	if (!p)
		return;
	struct mem_hdr *h = (struct mem_hdr *)p - 1;
	if (tls_mem_used && *tls_mem_used >= h->size)
		*tls_mem_used -= h->size;
	free(h);
}

static void *
cap_realloc(void *p, size_t n)
{
	if (!p)
		return cap_malloc(n);
	struct mem_hdr *h = (struct mem_hdr *)p - 1;
	size_t old = h->size;
	if (tls_mem_used && n > old) {
		if (DM_MAX_XML_PARSER_MEMORY - *tls_mem_used < n - old ||
		    n > DM_MAX_XML_PARSER_MEMORY)
			return NULL;
	}
	struct mem_hdr *nh = realloc(h, sizeof *nh + n);
	if (!nh)
		return NULL;
	if (tls_mem_used) {
		*tls_mem_used -= old;
		*tls_mem_used += n;
	}
	nh->size = n;
	return nh + 1;
}

static const XML_Memory_Handling_Suite mem_suite = {cap_malloc, cap_realloc, cap_free};

struct agg_parser {
	XML_Parser xp;
	size_t mem_used;
	agg_record_fn fn;
	void *arg;
	int rc;		/* latched: 0 or the first error */
	int quiet;	/* the callback said DM_ESTOP */
	int done;	/* </feedback> seen */
	int started;	/* leading BOM/whitespace skipped */
	int bom_have;	/* bytes of a UTF-8 BOM matched so far */
	int bom_done;
	int final;	/* the last XML_Parse call is running */
	int is_feedback;
	char error[DM_MAX_ERROR_LEN];

	/* element stack */
	int depth;
	enum el stack[DM_MAX_XML_DEPTH + 1];
	int skip_depth;	/* > 0 while inside an unknown element */

	struct dm_buf text;	/* character data of the current leaf */
	struct dm_report rep;

	/* the record being built */
	struct dm_record rec;
	struct dm_arena rec_arena;
	int have_count, count_ok;
	uint64_t record_no;	/* 1-based number of <record> elements seen */
	struct dm_reason reasons[DM_MAX_REASONS];
	struct dm_auth_dkim dkim[DM_MAX_DKIM_RESULTS];
	struct dm_auth_spf spf[DM_MAX_SPF_RESULTS];
	int dkim_open, spf_open, reason_open; /* an entry was started */
};

static void
fail(struct agg_parser *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
fail(struct agg_parser *p, int rc, const char *fmt, ...)
{
	if (p->rc)
		return;
	p->rc = rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof p->error, fmt, ap);
	va_end(ap);
	XML_StopParser(p->xp, XML_FALSE);
}

/* ---- value helpers ----------------------------------------------------- */

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim in place inside the text buffer; returns start, sets *len. */
static char *
trimmed(struct dm_buf *b, size_t *len)
{
	char *s = b->data;
	size_t n = b->len;
	while (n && is_ws((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && is_ws((unsigned char)s[n - 1]))
		n--;
	s[n] = '\0'; /* inside the buffer: it is allocated at creation */
	*len = n;
	return s;
}

/* Short, printable copy of a value for a warning. */
static const char *
shown(char *out, size_t outlen, const char *s)
{
	dm_log_escape(out, outlen, s, strlen(s));
	return out;
}

static const char *
rdup(struct agg_parser *p, const char *s, size_t n)
{
	return dm_arena_strndup(&p->rec_arena, s, n);
}

static const char *
mdup(struct agg_parser *p, const char *s, size_t n)
{
	return dm_arena_strndup(&p->rep.arena, s, n);
}

/* Lower-case domain without a trailing dot. */
static const char *
domain_dup(struct agg_parser *p, struct dm_arena *a, const char *s, size_t n)
{
	if (n && s[n - 1] == '.')
		n--;
	char *d = dm_arena_strndup(a, s, n);
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)d[i]);
	(void)p;
	return d;
}

struct alias {
	const char *from, *to;
};

/*
 * Normalise an enumerated value: lower case, known aliases mapped with a
 * warning, unknown values kept (cut to 64 bytes) with a warning.  Empty
 * gives NULL.
 */
static const char *
norm_enum(struct agg_parser *p, struct dm_arena *a, const char *field, const char *s,
	  size_t n, const char *const *allowed, const struct alias *aliases)
{
	char low[65];
	if (n == 0)
		return NULL;
	size_t m = n < 64 ? n : 64;
	for (size_t i = 0; i < m; i++)
		low[i] = (char)tolower((unsigned char)s[i]);
	low[m] = '\0';
	if (n <= 64) {
		for (const char *const *v = allowed; *v; v++)
			if (strcmp(low, *v) == 0)
				return *v; /* static string */
		for (const struct alias *al = aliases; al && al->from; al++)
			if (strcmp(low, al->from) == 0) {
				dm_report_warn(&p->rep, "%s value '%s' read as '%s'", field,
					       al->from, al->to);
				return al->to;
			}
	}
	char esc[80];
	dm_report_warn(&p->rep, "unknown %s value '%s'", field, shown(esc, sizeof esc, low));
	return dm_arena_strndup(a, low, m);
}

static const char *const v_policy[] = {"none", "quarantine", "reject", NULL};
static const char *const v_disposition[] = {"none", "quarantine", "reject", "pass", NULL};
static const char *const v_passfail[] = {"pass", "fail", NULL};
static const char *const v_align[] = {"r", "s", NULL};
static const char *const v_yn[] = {"n", "y", NULL};
static const char *const v_discovery[] = {"psl", "treewalk", NULL};
static const char *const v_dkim[] = {"none",	  "pass",      "fail",	    "policy",
				     "neutral",	  "temperror", "permerror", NULL};
static const char *const v_spf[] = {"none",	 "neutral",   "pass",	   "fail",
				    "softfail",	 "temperror", "permerror", "policy", NULL};
static const char *const v_scope[] = {"helo", "mfrom", NULL};
static const char *const v_reason[] = {"forwarded",	"sampled_out",	"trusted_forwarder",
				       "mailing_list",	"local_policy", "other",
				       "policy_test_mode", NULL};
static const struct alias a_result[] = {
	{"unknown", "temperror"}, {"error", "permerror"}, {"hardfail", "fail"}, {NULL, NULL}};
static const struct alias a_align[] = {{"relaxed", "r"}, {"strict", "s"}, {NULL, NULL}};

/* Unsigned decimal integer, whitespace already trimmed.  frac_ok allows a
 * fractional part, which is dropped.  Returns 0 or -1. */
static int
parse_u63(const char *s, size_t n, int frac_ok, int64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;
	if (n == 0)
		return -1;
	if (s[0] == '+' && frac_ok)
		i++;
	size_t start = i;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (i == start)
		return -1;
	if (i < n && frac_ok && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
	}
	if (i != n)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* Parse a source IP into rec (ip, ip_family, ip_text). */
static void
set_ip(struct agg_parser *p, const char *s, size_t n)
{
	struct dm_record *rec = &p->rec;
	char tmp[DM_MAX_ID_LEN + 1];
	char esc[80];
	if (n == 0) {
		dm_report_warn(&p->rep, "record %" PRIu64 ": empty source_ip (kept without IP)",
			       p->record_no);
		return;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	char *t = tmp;
	/* tolerate brackets and a trailing comment such as "(host.example)" */
	size_t tl = strcspn(t, " \t\r\n(");
	int trailing = t[tl] != '\0';
	t[tl] = '\0';
	if (t[0] == '[' && tl > 2 && t[tl - 1] == ']') {
		t[tl - 1] = '\0';
		t++;
	}
	unsigned char a4[4];
	unsigned char a6[16];
	char canon[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET, t, a4) == 1) {
		memset(rec->ip, 0, 10);
		rec->ip[10] = rec->ip[11] = 0xff;
		memcpy(rec->ip + 12, a4, 4);
		rec->ip_family = 4;
		inet_ntop(AF_INET, a4, canon, sizeof canon);
	} else if (inet_pton(AF_INET6, t, a6) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		memcpy(rec->ip, a6, 16);
		if (memcmp(a6, mapped, 12) == 0) {
			rec->ip_family = 4;
			inet_ntop(AF_INET, a6 + 12, canon, sizeof canon);
		} else {
			rec->ip_family = 6;
			inet_ntop(AF_INET6, a6, canon, sizeof canon);
		}
	} else {
		dm_report_warn(&p->rep,
			       "record %" PRIu64 ": unparsable source_ip '%s' (kept without IP)",
			       p->record_no, shown(esc, sizeof esc, tmp));
		return;
	}
	if (trailing)
		dm_report_warn(&p->rep, "record %" PRIu64 ": text after source_ip ignored",
			       p->record_no);
	rec->ip_text = rdup(p, canon, strlen(canon));
}

/* ---- element handling ---------------------------------------------------- */

/* Index of el_table by element id and by parent, built once.  A parent's
 * row is as long as the whole table, so no table edit can overflow it; the
 * indexes fit in an unsigned char, which the compiler checks. */
#define EL_TABLE_LEN (sizeof el_table / sizeof el_table[0])
_Static_assert(EL_TABLE_LEN <= 255, "el_table indexes are kept in unsigned char");
_Static_assert(EL_COUNT_ALL <= 255, "element ids are kept in unsigned char");
static const struct el_def *def_by_id[EL_COUNT_ALL];
static unsigned char children[EL_COUNT_ALL][EL_TABLE_LEN];
static unsigned char nchildren[EL_COUNT_ALL];
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void
build_index(void)
{
	for (size_t i = 0; i < EL_TABLE_LEN; i++) {
		const struct el_def *d = &el_table[i];
		def_by_id[d->id] = d;
		children[d->parent][nchildren[d->parent]++] = (unsigned char)i;
	}
}

static const struct el_def *
lookup(enum el parent, const char *local)
{
	for (unsigned i = 0; i < nchildren[parent]; i++) {
		const struct el_def *d = &el_table[children[parent][i]];
		if (strcmp(d->name, local) == 0)
			return d;
	}
	return NULL;
}

static int
known_ns(const char *uri, size_t len)
{
	for (size_t i = 0; i < sizeof dmarc_ns / sizeof dmarc_ns[0]; i++)
		if (strlen(dmarc_ns[i]) == len && memcmp(dmarc_ns[i], uri, len) == 0)
			return 1;
	return 0;
}

/* Is uri the namespace of the report's own <feedback>?  A reporter that
 * mistypes the URI (xmlns="http//dmarc.org/dmarc-xml/0.1" is seen in the
 * wild) puts every element in that namespace: they are the report's. */
static int
own_ns(const struct agg_parser *p, const char *uri, size_t len)
{
	const char *own = p->rep.xmlns;
	return own != NULL && strlen(own) == len && memcmp(own, uri, len) == 0;
}

static void
record_begin(struct agg_parser *p)
{
	p->record_no++;
	dm_arena_reset(&p->rec_arena);
	memset(&p->rec, 0, sizeof p->rec);
	p->rec.ip_text = "";
	p->rec.reasons = p->reasons;
	p->rec.dkim_res = p->dkim;
	p->rec.spf_res = p->spf;
	p->have_count = p->count_ok = 0;
	p->dkim_open = p->spf_open = p->reason_open = 0;
}

static void
record_end(struct agg_parser *p)
{
	struct dm_report *r = &p->rep;
	if (!p->have_count || !p->count_ok) {
		r->skipped++;
		if (!p->have_count)
			dm_report_warn(r, "record %" PRIu64 ": missing count (record skipped)",
				       p->record_no);
		return;
	}
	if (r->records >= DM_MAX_RECORDS) {
		fail(p, DM_ELIMIT, "more than %d records in one report", DM_MAX_RECORDS);
		return;
	}
	if ((uint64_t)INT64_MAX - r->messages < (uint64_t)p->rec.count) {
		/* the store keeps 64-bit signed sums */
		fail(p, DM_ELIMIT, "sum of record counts above 2^63");
		return;
	}
	r->records++;
	r->messages += (uint64_t)p->rec.count;
	if (p->quiet || !p->fn)
		return;
	int rc = p->fn(p->arg, r, &p->rec);
	if (rc == DM_ESTOP)
		p->quiet = 1;
	else if (rc < 0)
		fail(p, rc, "%s", dm_strerror(rc));
}

/* Set a metadata singleton, first wins. */
static void
set_once(struct agg_parser *p, const char **slot, const char *name, const char *v, size_t n)
{
	if (*slot) {
		dm_report_warn(&p->rep, "duplicate <%s> ignored", name);
		return;
	}
	*slot = mdup(p, v, n);
}

static void
set_once_ptr(struct agg_parser *p, const char **slot, const char *name, const char *v)
{
	if (*slot) {
		dm_report_warn(&p->rep, "duplicate <%s> ignored", name);
		return;
	}
	*slot = v;
}

static void
set_time(struct agg_parser *p, enum el id, const char *v, size_t n)
{
	struct dm_report *r = &p->rep;
	const char *name = id == EL_BEGIN ? "begin" : "end";
	unsigned bit = id == EL_BEGIN ? DM_HAVE_BEGIN : DM_HAVE_END;
	int64_t t;
	char esc[80];
	if (r->have & bit) {
		dm_report_warn(r, "duplicate <%s> ignored", name);
		return;
	}
	if (parse_u63(v, n, 1, &t) != 0) {
		fail(p, DM_EFORMAT, "invalid date_range %s '%s'", name, shown(esc, sizeof esc, v));
		return;
	}
	if (t > DM_MAX_PLAUSIBLE_EPOCH) {
		if (t / 1000 > DM_MAX_PLAUSIBLE_EPOCH) {
			fail(p, DM_EFORMAT, "implausible date_range %s '%s'", name,
			     shown(esc, sizeof esc, v));
			return;
		}
		dm_report_warn(r, "date_range %s looks like milliseconds; divided by 1000", name);
		t /= 1000;
	}
	if (id == EL_BEGIN)
		r->begin = t;
	else
		r->end = t;
	r->have |= bit;
}

static void
leaf_end(struct agg_parser *p, const struct el_def *d)
{
	struct dm_report *r = &p->rep;
	struct dm_record *rec = &p->rec;
	struct dm_policy_published *pol = &r->policy;
	size_t n;
	char *v = trimmed(&p->text, &n);
	size_t max = d->vclass == V_DOMAIN ? DM_MAX_DOMAIN_LEN
		     : d->vclass == V_ID   ? DM_MAX_ID_LEN
					   : DM_MAX_TEXT_LEN;
	if (n > max) {
		fail(p, DM_ELIMIT, "<%s> longer than %zu bytes", d->name, max);
		return;
	}
	struct dm_arena *ra = &p->rec_arena;
	struct dm_arena *ma = &r->arena;

	switch (d->id) {
	case EL_VERSION: set_once(p, &r->version, "version", v, n); break;
	case EL_ORG:
		set_once(p, &r->org_name, "org_name", v, n);
		r->have |= DM_HAVE_ORG;
		break;
	case EL_EMAIL: set_once(p, &r->email, "email", v, n); break;
	case EL_EXTRA: set_once(p, &r->extra_contact_info, "extra_contact_info", v, n); break;
	case EL_REPORT_ID:
		set_once(p, &r->report_id, "report_id", v, n);
		if (n)
			r->have |= DM_HAVE_REPORT_ID;
		break;
	case EL_GENERATOR: set_once(p, &r->generator, "generator", v, n); break;
	case EL_MD_ERROR:
		if (n == 0)
			break;
		if (!r->error) {
			r->error = mdup(p, v, n);
		} else if (strlen(r->error) + n + 2 <= DM_MAX_TEXT_LEN) {
			size_t old = strlen(r->error);
			char *j = dm_arena_alloc(ma, old + n + 3);
			memcpy(j, r->error, old);
			memcpy(j + old, "; ", 2);
			memcpy(j + old + 2, v, n);
			j[old + n + 2] = '\0';
			r->error = j;
		}
		break;
	case EL_BEGIN:
	case EL_END: set_time(p, d->id, v, n); break;
	case EL_P_DOMAIN:
		if (pol->domain) {
			dm_report_warn(r, "duplicate <domain> in policy_published ignored");
			break;
		}
		pol->domain = domain_dup(p, ma, v, n);
		if (*pol->domain)
			r->have |= DM_HAVE_DOMAIN;
		break;
	case EL_P_ADKIM:
		set_once_ptr(p, &pol->adkim, "adkim", norm_enum(p, ma, "adkim", v, n, v_align, a_align));
		break;
	case EL_P_ASPF:
		set_once_ptr(p, &pol->aspf, "aspf", norm_enum(p, ma, "aspf", v, n, v_align, a_align));
		break;
	case EL_P_P: set_once_ptr(p, &pol->p, "p", norm_enum(p, ma, "p", v, n, v_policy, NULL)); break;
	case EL_P_SP:
		set_once_ptr(p, &pol->sp, "sp", norm_enum(p, ma, "sp", v, n, v_policy, NULL));
		break;
	case EL_P_NP:
		set_once_ptr(p, &pol->np, "np", norm_enum(p, ma, "np", v, n, v_policy, NULL));
		break;
	case EL_P_TESTING:
		set_once_ptr(p, &pol->testing, "testing",
			     norm_enum(p, ma, "testing", v, n, v_yn, NULL));
		break;
	case EL_P_DISCOVERY:
		set_once_ptr(p, &pol->discovery_method, "discovery_method",
			     norm_enum(p, ma, "discovery_method", v, n, v_discovery, NULL));
		break;
	case EL_P_FO: set_once(p, &pol->fo, "fo", v, n); break;
	case EL_P_PCT: {
		int64_t pct;
		if (n == 0)
			break;
		if (parse_u63(v, n, 0, &pct) != 0 || pct > 100) {
			char esc[80];
			dm_report_warn(r, "invalid pct '%s' ignored", shown(esc, sizeof esc, v));
		} else if (pol->pct >= 0) {
			dm_report_warn(r, "duplicate <pct> ignored");
		} else {
			pol->pct = (int)pct;
		}
		break;
	}
	case EL_SOURCE_IP:
		if (rec->ip_family || *rec->ip_text) {
			dm_report_warn(r, "record %" PRIu64 ": duplicate source_ip ignored", p->record_no);
			break;
		}
		set_ip(p, v, n);
		break;
	case EL_COUNT: {
		int64_t c;
		char esc[80];
		if (p->have_count) {
			dm_report_warn(r, "record %" PRIu64 ": duplicate count ignored", p->record_no);
			break;
		}
		p->have_count = 1;
		if (parse_u63(v, n, 0, &c) == 0) {
			rec->count = c;
			p->count_ok = 1;
		} else {
			dm_report_warn(r, "record %" PRIu64 ": invalid count '%s' (record skipped)",
				       p->record_no, shown(esc, sizeof esc, v));
		}
		break;
	}
	case EL_DISPOSITION:
		if (!rec->disposition)
			rec->disposition =
				norm_enum(p, ra, "disposition", v, n, v_disposition, NULL);
		break;
	case EL_PE_DKIM:
		if (!rec->dkim)
			rec->dkim = norm_enum(p, ra, "policy_evaluated dkim", v, n, v_passfail,
					      a_result);
		break;
	case EL_PE_SPF:
		if (!rec->spf)
			rec->spf = norm_enum(p, ra, "policy_evaluated spf", v, n, v_passfail,
					     a_result);
		break;
	case EL_REASON_TYPE:
		if (p->reason_open)
			rec->reasons[rec->nreasons - 1].type =
				norm_enum(p, ra, "reason type", v, n, v_reason, NULL);
		break;
	case EL_REASON_COMMENT:
		if (p->reason_open)
			rec->reasons[rec->nreasons - 1].comment = rdup(p, v, n);
		break;
	case EL_ENV_TO:
		if (!rec->envelope_to)
			rec->envelope_to = domain_dup(p, ra, v, n);
		break;
	case EL_ENV_FROM:
		if (!rec->envelope_from)
			rec->envelope_from = domain_dup(p, ra, v, n);
		break;
	case EL_HEADER_FROM:
		if (!rec->header_from)
			rec->header_from = domain_dup(p, ra, v, n);
		break;
	case EL_DKIM_DOMAIN:
		if (p->dkim_open)
			rec->dkim_res[rec->ndkim - 1].domain = domain_dup(p, ra, v, n);
		break;
	case EL_DKIM_SELECTOR:
		if (p->dkim_open)
			rec->dkim_res[rec->ndkim - 1].selector = rdup(p, v, n);
		break;
	case EL_DKIM_RESULT:
		if (p->dkim_open)
			rec->dkim_res[rec->ndkim - 1].result =
				norm_enum(p, ra, "dkim result", v, n, v_dkim, a_result);
		break;
	case EL_DKIM_HUMAN:
		if (p->dkim_open)
			rec->dkim_res[rec->ndkim - 1].human_result = rdup(p, v, n);
		break;
	case EL_SPF_DOMAIN:
		if (p->spf_open)
			rec->spf_res[rec->nspf - 1].domain = domain_dup(p, ra, v, n);
		break;
	case EL_SPF_SCOPE:
		if (p->spf_open)
			rec->spf_res[rec->nspf - 1].scope =
				norm_enum(p, ra, "spf scope", v, n, v_scope, NULL);
		break;
	case EL_SPF_RESULT:
		if (p->spf_open)
			rec->spf_res[rec->nspf - 1].result =
				norm_enum(p, ra, "spf result", v, n, v_spf, a_result);
		break;
	case EL_SPF_HUMAN:
		if (p->spf_open)
			rec->spf_res[rec->nspf - 1].human_result = rdup(p, v, n);
		break;
	default: break;
	}
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct agg_parser *p = ud;
	(void)attrs;
	if (p->rc)
		return;
	if (p->depth >= DM_MAX_XML_DEPTH) {
		fail(p, DM_ELIMIT, "XML nested deeper than %d elements", DM_MAX_XML_DEPTH);
		return;
	}
	const char *sep = strchr(name, NS_SEP);
	const char *local = sep ? sep + 1 : name;
	size_t urilen = sep ? (size_t)(sep - name) : 0;

	enum el id = EL_UNKNOWN;
	const struct el_def *d = NULL;
	if (p->depth == 0) {
		if (strcmp(local, "feedback") != 0) {
			char esc[80];
			fail(p, DM_EFORMAT, "not a DMARC aggregate report (root element <%s>)",
			     shown(esc, sizeof esc, local));
			return;
		}
		p->is_feedback = 1;
		id = EL_FEEDBACK;
		p->rep.xmlns = mdup(p, name, urilen);
		if (urilen && strcmp(p->rep.xmlns, NS_BIS) == 0)
			p->rep.bis = 1;
		if (urilen && !known_ns(name, urilen)) {
			char esc[120];
			dm_report_warn(&p->rep,
				       "unknown namespace '%s' on <feedback>; its elements are read "
				       "as DMARC elements",
				       shown(esc, sizeof esc, p->rep.xmlns));
		}
	} else if (p->skip_depth == 0 &&
		   (urilen == 0 || known_ns(name, urilen) || own_ns(p, name, urilen))) {
		d = lookup(p->stack[p->depth - 1], local);
		if (d)
			id = d->id;
	}
	p->stack[p->depth++] = id;
	if (id == EL_UNKNOWN) {
		p->skip_depth++;
		return;
	}
	if (d && d->bis_only)
		p->rep.bis = 1;
	if (d && d->vclass != V_NONE) {
		dm_buf_reset(&p->text);
		return;
	}
	struct dm_record *rec = &p->rec;
	switch (id) {
	case EL_METADATA: p->rep.have |= DM_HAVE_METADATA; break;
	case EL_POLICY: p->rep.have |= DM_HAVE_POLICY; break;
	case EL_DATE_RANGE: p->rep.have |= DM_HAVE_DATE_RANGE; break;
	case EL_RECORD: record_begin(p); break;
	case EL_DKIM:
		p->dkim_open = rec->ndkim < DM_MAX_DKIM_RESULTS;
		if (p->dkim_open)
			memset(&rec->dkim_res[rec->ndkim++], 0, sizeof rec->dkim_res[0]);
		else
			dm_report_warn(&p->rep, "more than %d DKIM results in a record; extra dropped",
				       DM_MAX_DKIM_RESULTS);
		break;
	case EL_SPF:
		p->spf_open = rec->nspf < DM_MAX_SPF_RESULTS;
		if (p->spf_open)
			memset(&rec->spf_res[rec->nspf++], 0, sizeof rec->spf_res[0]);
		else
			dm_report_warn(&p->rep, "more than %d SPF results in a record; extra dropped",
				       DM_MAX_SPF_RESULTS);
		break;
	case EL_REASON:
		p->reason_open = rec->nreasons < DM_MAX_REASONS;
		if (p->reason_open)
			memset(&rec->reasons[rec->nreasons++], 0, sizeof rec->reasons[0]);
		else
			dm_report_warn(&p->rep, "more than %d reasons in a record; extra dropped",
				       DM_MAX_REASONS);
		break;
	default: break;
	}
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
	struct agg_parser *p = ud;
	(void)name;
	if (p->rc || p->depth == 0)
		return;
	enum el id = p->stack[--p->depth];
	if (id == EL_UNKNOWN) {
		p->skip_depth--;
		return;
	}
	if (id == EL_FEEDBACK) {
		p->done = 1;
		/* ignore whatever follows the document element */
		XML_StopParser(p->xp, XML_FALSE);
		return;
	}
	if (id == EL_RECORD) {
		record_end(p);
		return;
	}
	if (id == EL_DKIM)
		p->dkim_open = 0;
	else if (id == EL_SPF)
		p->spf_open = 0;
	else if (id == EL_REASON)
		p->reason_open = 0;
	/* leaves: find the definition again through the parent */
	const struct el_def *d = def_by_id[id];
	if (d && d->vclass != V_NONE)
		leaf_end(p, d);
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
	struct agg_parser *p = ud;
	if (p->rc || p->skip_depth || p->depth == 0)
		return;
	/* text is kept only inside leaves; the buffer was reset when the
	 * leaf opened */
	const struct el_def *d = def_by_id[p->stack[p->depth - 1]];
	if (!d || d->vclass == V_NONE)
		return;
	if (dm_buf_add(&p->text, s, (size_t)len) != 0)
		fail(p, DM_ELIMIT, "<%s> longer than %d bytes", d->name, DM_MAX_TEXT_LEN);
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
	   int has_internal)
{
	struct agg_parser *p = ud;
	fail(p, DM_EFORMAT, "DOCTYPE not allowed in a DMARC report");
}

static void XMLCALL
on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int len,
	  const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
	  const XML_Char *notation)
{
	struct agg_parser *p = ud;
	fail(p, DM_EFORMAT, "entity declaration not allowed in a DMARC report");
}

/* windows-1252 bytes 0x80-0x9f; the rest is ISO-8859-1. */
static const unsigned short cp1252_hi[32] = {
	0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
	0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd, 0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
	0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178};

static int XMLCALL
on_unknown_encoding(void *data, const XML_Char *name, XML_Encoding *info)
{
	int cp1252;
	if (strcasecmp(name, "windows-1252") == 0 || strcasecmp(name, "cp1252") == 0 ||
	    strcasecmp(name, "x-cp1252") == 0)
		cp1252 = 1;
	else if (strcasecmp(name, "latin1") == 0 || strcasecmp(name, "iso8859-1") == 0 ||
		 strcasecmp(name, "iso_8859-1") == 0 || strcasecmp(name, "l1") == 0)
		cp1252 = 0;
	else
		return XML_STATUS_ERROR;
	for (int i = 0; i < 256; i++)
		info->map[i] = (cp1252 && i >= 0x80 && i < 0xa0) ? cp1252_hi[i - 0x80] : i;
	info->data = NULL;
	info->convert = NULL;
	info->release = NULL;
	return XML_STATUS_OK;
}

/* ---- public ------------------------------------------------------------ */

static void
set_handlers(struct agg_parser *p)
{
	XML_SetUserData(p->xp, p);
	XML_SetElementHandler(p->xp, on_start, on_end);
	XML_SetCharacterDataHandler(p->xp, on_text);
	XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
	XML_SetEntityDeclHandler(p->xp, on_entity);
	XML_SetUnknownEncodingHandler(p->xp, on_unknown_encoding, NULL);
	XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
}

struct agg_parser *
agg_parser_new(agg_record_fn fn, void *arg)
{
	pthread_once(&index_once, build_index);
	struct agg_parser *p = xcalloc(1, sizeof *p);
	p->fn = fn;
	p->arg = arg;
	dm_buf_init(&p->text, DM_MAX_TEXT_LEN);
	if (dm_buf_add(&p->text, "", 0) != 0) /* allocate: trimmed() writes a NUL */
		abort();
	dm_report_init(&p->rep);
	dm_arena_init(&p->rec_arena);
	tls_mem_used = &p->mem_used;
	p->xp = XML_ParserCreate_MM(NULL, &mem_suite, "\x01");
	tls_mem_used = NULL;
	if (!p->xp) {
		fprintf(stderr, "dmarcd: fatal: cannot create XML parser\n");
		abort();
	}
	set_handlers(p);
	return p;
}

void
agg_parser_reset(struct agg_parser *p)
{
	tls_mem_used = &p->mem_used;
	XML_Bool ok = XML_ParserReset(p->xp, NULL);
	tls_mem_used = NULL;
	if (!ok) {
		fprintf(stderr, "dmarcd: fatal: cannot reset XML parser\n");
		abort();
	}
	set_handlers(p);
	p->rc = p->quiet = p->done = p->started = p->is_feedback = 0;
	p->bom_have = p->bom_done = p->final = 0;
	p->error[0] = '\0';
	p->depth = p->skip_depth = 0;
	dm_buf_reset(&p->text);
	dm_report_reset(&p->rep);
	dm_arena_reset(&p->rec_arena);
	p->have_count = p->count_ok = 0;
	p->record_no = 0;
	p->dkim_open = p->spf_open = p->reason_open = 0;
}

void
agg_parser_free(struct agg_parser *p)
{
	if (!p)
		return;
	tls_mem_used = &p->mem_used;
	XML_ParserFree(p->xp);
	tls_mem_used = NULL;
	dm_buf_free(&p->text);
	dm_report_free(&p->rep);
	dm_arena_free(&p->rec_arena);
	free(p);
}

static int
run(struct agg_parser *p, const char *buf, size_t len, int final)
{
	tls_mem_used = &p->mem_used;
	enum XML_Status st = XML_Parse(p->xp, buf, (int)len, final);
	tls_mem_used = NULL;
	if (st == XML_STATUS_ERROR && !p->rc && !p->done) {
		enum XML_Error e = XML_GetErrorCode(p->xp);
		if (p->final && (e == XML_ERROR_NO_ELEMENTS || e == XML_ERROR_UNCLOSED_TOKEN ||
				 e == XML_ERROR_PARTIAL_CHAR || e == XML_ERROR_UNCLOSED_CDATA_SECTION))
			fail(p, DM_ETRUNC, "XML document ends before </feedback> (line %lu)",
			     (unsigned long)XML_GetCurrentLineNumber(p->xp));
		else if (e == XML_ERROR_NO_MEMORY)
			fail(p, DM_ELIMIT, "XML token larger than the parser memory limit (%d bytes)",
			     DM_MAX_XML_PARSER_MEMORY);
		else
			fail(p, DM_EFORMAT, "XML not well-formed: %s at line %lu column %lu",
			     XML_ErrorString(e), (unsigned long)XML_GetCurrentLineNumber(p->xp),
			     (unsigned long)XML_GetCurrentColumnNumber(p->xp) + 1);
	}
	return p->rc;
}

int
agg_parser_feed(struct agg_parser *p, const void *buf, size_t len)
{
	const unsigned char *s = buf;
	if (p->rc || p->done)
		return p->rc;
	/* a UTF-8 BOM and whitespace before the declaration occur in real
	 * reports; expat refuses the latter (SPECS ADV-52).  The BOM may be
	 * split across calls, so it is matched byte by byte. */
	static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};
	while (!p->started && len) {
		if (!p->bom_done) {
			if (*s == bom[p->bom_have]) {
				s++;
				len--;
				if (++p->bom_have == 3)
					p->bom_done = 1;
				continue;
			}
			p->bom_done = 1;
			if (p->bom_have) {
				/* not a BOM after all: those bytes are data */
				p->started = 1;
				if (run(p, (const char *)bom, p->bom_have, 0))
					return p->rc;
				break;
			}
			continue;
		}
		if (is_ws(*s)) {
			s++;
			len--;
			continue;
		}
		p->started = 1;
	}
	if (len == 0)
		return p->rc;
	/* XML_Parse takes an int length */
	while (len > 0 && !p->rc && !p->done) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;
		if (run(p, (const char *)s, n, 0))
			break;
		s += n;
		len -= n;
	}
	return p->rc;
}

int
agg_parser_finish(struct agg_parser *p)
{
	struct dm_report *r = &p->rep;
	if (p->rc)
		return p->rc;
	if (!p->done) {
		if (!p->started) {
			fail(p, DM_EFORMAT, "empty document");
			return p->rc;
		}
		p->final = 1;
		if (run(p, "", 0, 1))
			return p->rc;
		if (!p->done) {
			fail(p, DM_ETRUNC, "XML document ends before </feedback>");
			return p->rc;
		}
	}
	if (!(r->have & DM_HAVE_METADATA))
		fail(p, DM_EFORMAT, "invalid report: no <report_metadata>");
	else if (!(r->have & DM_HAVE_BEGIN) || !(r->have & DM_HAVE_END))
		fail(p, DM_EFORMAT, "invalid report: no date_range begin/end");
	else if (r->end < r->begin)
		fail(p, DM_EFORMAT, "invalid report: date_range end %" PRId64 " before begin %" PRId64,
		     r->end, r->begin);
	else if (!(r->have & DM_HAVE_POLICY))
		fail(p, DM_EFORMAT, "invalid report: no <policy_published>");
	else if (!(r->have & DM_HAVE_DOMAIN))
		fail(p, DM_EFORMAT, "invalid report: no policy_published <domain>");
	else if (p->record_no == 0)
		fail(p, DM_EFORMAT, "invalid report: no <record>");
	if (p->rc)
		return p->rc;
	if (!r->org_name) {
		r->org_name = "";
		dm_report_warn(r, "no <org_name>");
	}
	if (!r->email)
		dm_report_warn(r, "no <email>");
	if (!r->policy.p)
		dm_report_warn(r, "no policy_published <p>");
	if (r->skipped)
		dm_report_warn(r, "%" PRIu64 " record(s) skipped", r->skipped);
	return 0;
}

const char *
agg_parser_error(const struct agg_parser *p)
{
	return p->error;
}

struct dm_report *
agg_parser_report(struct agg_parser *p)
{
	return &p->rep;
}

int
agg_parser_is_feedback(const struct agg_parser *p)
{
	return p->is_feedback;
}
