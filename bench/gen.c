/*
 * gen.c - deterministic DMARC aggregate report generator for `make bench`.
 *
 *   gen typical DIR [--mails N] [--seed S]
 *   gen big     DIR [--reports R] [--records N] [--seed S]
 *   gen huge    DIR [--records N] [--seed S]
 *   gen history DIR [--records N] [--days D] [--domains K] [--end YYYY-MM-DD] [--seed S]
 *   gen --version
 *
 * typical writes N report mails (RFC 5322, CRLF, multipart/mixed: a text
 * part and one base64 attachment, gzip or - mostly for Google and Seznam -
 * zip) to DIR/mails/NNNNNN.eml, the attachment bytes exactly as attached to
 * DIR/attachments/NNNNNN.xml.gz|.zip, and DIR/expected.json.  Each report
 * has 1-50 records (uniform).  big writes R reports of N records each to
 * DIR/reports/big-NN.xml.gz; huge writes one report of N records (about
 * 750 bytes of XML a record) to DIR/huge.xml.gz.
 *
 * history is what a store looks like after D days of reports for K
 * domains (the query benchmarks and the API tests): for every day and
 * domain, reports from several reporters (DIR/reports/DDD/KK-RR.xml.gz),
 * N records in all, the last day being --end (default 2026-12-31).  Its sources are not
 * all new: each domain has a pool of its own senders and ESPs (400 IPs)
 * and of forwarders (3,000 IPs) that come back day after day, and only
 * spoofers are fresh addresses.  expected.json adds, per domain and per
 * day, the reports, records, messages and DMARC-passing messages
 * (policy_evaluated dkim or spf pass).
 *
 * expected.json holds the totals a correct ingest must store: mails,
 * reports, records, messages (sum of <count>), and xml_bytes (uncompressed
 * XML).  The XML follows RFC 7489 Appendix C; one reporter (GMX) uses the
 * RFC 9990 namespace, as GMX does in the wild (SPECS 1.1).
 *
 * Output is a pure function of the arguments: the PRNG is splitmix64,
 * seeded per report from (seed, set, index), gzip headers carry no time,
 * zip entries carry the report's date, and every PRNG draw is its own
 * statement (argument evaluation order differs between compilers).  Same
 * arguments and zlib version, same bytes (checked: gcc -O0/-O2, clang).
 *
 * Diagnostics go to stderr; any I/O failure exits with status 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <zlib.h>

/* Bump when the output for the same arguments changes: run.sh keys its
 * cache of generated sets by this string. */
#define GEN_VERSION "dmarcd-bench-gen 3"

#define GEN_DAY0 1767225600LL /* 2026-01-01T00:00:00Z */
#define GEN_FLUSH (1u << 20)  /* stream XML to the compressor per MiB */

/* ---- small helpers ---------------------------------------------------- */

static void
gen_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("gen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *
gen_realloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		gen_die("out of memory (%zu bytes)", n);
	return p;
}

/* splitmix64 (Steele, Lea, Flood 2014): tiny, fast, good enough for test
 * data, and its finaliser is a bijection, which gen_uniq relies on. */
struct gen_rng {
	uint64_t s;
};

static uint64_t
gen_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rng_next(struct gen_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return gen_mix(r->s);
}

/* Uniform in [0, n) (multiply-shift; the bias is below 2^-32). */
static uint32_t
rng_below(struct gen_rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static uint32_t
rng_range(struct gen_rng *r, uint32_t lo, uint32_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

/* True with probability pct/100. */
static int
rng_pct(struct gen_rng *r, uint32_t pct)
{
	return rng_below(r, 100) < pct;
}

#define PICK(r, arr) ((arr)[rng_below((r), (uint32_t)(sizeof(arr) / sizeof((arr)[0])))])

/* ---- growable buffer -------------------------------------------------- */

struct gen_buf {
	char *p;
	size_t len;
	size_t cap;
};

static void
buf_reserve(struct gen_buf *b, size_t n)
{
	size_t cap;

	if (b->cap - b->len > n)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len <= n)
		cap *= 2;
	b->p = gen_realloc(b->p, cap);
	b->cap = cap;
}

static void
buf_add(struct gen_buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
buf_puts(struct gen_buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_printf(struct gen_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
buf_printf(struct gen_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	buf_reserve(b, 256);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		gen_die("vsnprintf failed");
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Character data and attribute values: escape the five XML specials. */
static void
buf_esc(struct gen_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&apos;"); break;
		default: buf_add(b, s, 1); break;
		}
	}
}

static void
buf_free(struct gen_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- files -------------------------------------------------------------- */

/* mkdir -p */
static void
gen_mkdir(const char *path)
{
	char tmp[4096];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		gen_die("bad directory name '%s'", path);
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			gen_die("mkdir %s: %s", tmp, strerror(errno));
		tmp[i] = path[i];
	}
}

static FILE *
gen_fopen(const char *path)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		gen_die("%s: %s", path, strerror(errno));
	return f;
}

static void
gen_fwrite(FILE *f, const char *path, const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, f) != n)
		gen_die("%s: write: %s", path, strerror(errno));
}

static void
gen_fclose(FILE *f, const char *path)
{
	if (fclose(f) != 0)
		gen_die("%s: close: %s", path, strerror(errno));
}

static void
gen_write_file(const char *path, const void *p, size_t n)
{
	FILE *f = gen_fopen(path);

	gen_fwrite(f, path, p, n);
	gen_fclose(f, path);
}

/* ---- deflate stream: gzip or raw, into memory or a file -------------- */

struct gen_z {
	z_stream z;
	FILE *f;             /* file sink, or NULL */
	const char *path;
	struct gen_buf *mem; /* memory sink, or NULL */
	uint64_t in_bytes;
	unsigned char out[1 << 16];
};

/* windowbits: 15 + 16 for gzip, -15 for raw deflate (zip). */
static void
z_open(struct gen_z *g, int windowbits, FILE *f, const char *path, struct gen_buf *mem)
{
	memset(&g->z, 0, sizeof(g->z));
	if (deflateInit2(&g->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowbits, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		gen_die("deflateInit2 failed");
	g->f = f;
	g->path = path;
	g->mem = mem;
	g->in_bytes = 0;
}

static void
z_write(struct gen_z *g, const void *p, size_t n, int finish)
{
	int rc;

	g->z.next_in = (unsigned char *)(uintptr_t)p;
	g->z.avail_in = (uInt)n;
	g->in_bytes += n;
	do {
		size_t have;

		g->z.next_out = g->out;
		g->z.avail_out = sizeof(g->out);
		rc = deflate(&g->z, finish ? Z_FINISH : Z_NO_FLUSH);
		if (rc == Z_STREAM_ERROR)
			gen_die("deflate failed");
		have = sizeof(g->out) - g->z.avail_out;
		if (g->f != NULL)
			gen_fwrite(g->f, g->path, g->out, have);
		else
			buf_add(g->mem, g->out, have);
	} while (g->z.avail_out == 0 || (finish && rc != Z_STREAM_END));
	if (finish)
		deflateEnd(&g->z);
}

/* ---- reporters and domains -------------------------------------------- */

enum gen_container { GEN_GZIP, GEN_ZIP };

/* One row per reporting organisation.  Field values follow what these
 * reporters send (org_name, contact, report-id shape, indentation,
 * attachment type); the weights give a plausible mix with ~1/3 zip. */
struct gen_reporter {
	const char *org;       /* report_metadata/org_name */
	const char *email;     /* report_metadata/email, From: */
	const char *extra;     /* extra_contact_info, or NULL */
	const char *submitter; /* Subject Submitter: and filename receiver */
	const char *indent;    /* one indentation level, "" = none */
	const char *ctype;     /* attachment media type */
	enum gen_container container;
	int idstyle;           /* 0 decimal, 1 hex, 2 uuid, 3 dotted, 4 <..@..> */
	int flavour;           /* 0 plain 7489, 1 xsi attrs, 2 RFC 9990 namespace */
	int envelope_to;       /* emits identifiers/envelope_to */
	unsigned weight;
};

static const struct gen_reporter gen_reporters[] = {
	{"google.com", "noreply-dmarc-support@google.com",
	 "https://support.google.com/a/answer/2466580", "google.com", "  ",
	 "application/zip", GEN_ZIP, 0, 0, 0, 30},
	{"Outlook.com", "dmarcreport@microsoft.com", NULL, "protection.outlook.com", "  ",
	 "application/gzip", GEN_GZIP, 1, 1, 1, 18},
	{"Enterprise Outlook", "dmarcreport@microsoft.com", NULL,
	 "enterprise.protection.outlook.com", "  ", "application/gzip", GEN_GZIP, 1, 1, 1, 8},
	{"Yahoo", "dmarchelp@yahooinc.com", NULL, "yahoo.com", "  ",
	 "application/x-gzip", GEN_GZIP, 3, 0, 0, 10},
	{"Mail.Ru", "dmarc_support@corp.mail.ru", "http://help.mail.ru/mail-help",
	 "mail.ru", "\t", "application/gzip", GEN_GZIP, 0, 0, 0, 5},
	{"Yandex", "dmarchelp@yandex.ru", "https://yandex.ru/support/mail/",
	 "yandex.ru", "    ", "application/gzip", GEN_GZIP, 0, 0, 0, 4},
	{"GMX", "noreply-dmarc@gmx.net", "https://www.gmx.net/", "gmx.net", "  ",
	 "application/gzip", GEN_GZIP, 1, 2, 0, 4},
	{"AMAZON-SES", "postmaster@amazonses.com", NULL, "amazonses.com", "",
	 "application/octet-stream", GEN_GZIP, 2, 0, 0, 5},
	{"Seznam.cz a.s.", "dmarc@seznam.cz", "https://napoveda.seznam.cz/?a=dmarc&lang=cs",
	 "seznam.cz", "\t", "application/zip", GEN_ZIP, 0, 0, 0, 3},
	{"Fastmail Pty Ltd", "dmarc-reports@fastmail.com", NULL, "fastmail.com", "  ",
	 "application/gzip", GEN_GZIP, 0, 0, 1, 3},
	{"Comcast", "dmarc_reports@comcast.net", NULL, "comcast.net", "    ",
	 "application/gzip", GEN_GZIP, 4, 0, 0, 3},
	{"AT&T Services, Inc.", "dmarc@att.net", NULL, "att.net", "  ",
	 "application/gzip", GEN_GZIP, 4, 0, 0, 2},
	{"Zoho Corporation", "noreply-dmarc-support@zoho.com", NULL, "zoho.com", "  ",
	 "application/gzip", GEN_GZIP, 0, 0, 1, 2},
	{"protonmail.ch", "postmaster@protonmail.ch", NULL, "protonmail.ch", "\t",
	 "application/gzip", GEN_GZIP, 2, 0, 0, 2},
	{"Mimecast", "dmarc-reports@mimecast.org", NULL, "mimecast.org", "  ",
	 "application/gzip", GEN_GZIP, 1, 0, 1, 1},
};
#define GEN_NREPORTERS (sizeof(gen_reporters) / sizeof(gen_reporters[0]))

static const struct gen_reporter *
gen_pick_reporter(struct gen_rng *r)
{
	unsigned total = 0, x;
	size_t i;

	for (i = 0; i < GEN_NREPORTERS; i++)
		total += gen_reporters[i].weight;
	x = rng_below(r, total);
	for (i = 0; i < GEN_NREPORTERS; i++) {
		if (x < gen_reporters[i].weight)
			return &gen_reporters[i];
		x -= gen_reporters[i].weight;
	}
	return &gen_reporters[0];
}

#define GEN_NDOMAINS 50
static const char *const gen_words[] = {
	"acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne",
	"wonka", "soylent", "cyberdyne", "tyrell", "aperture", "massive", "oceanic", "nakatomi",
	"gringotts", "monarch", "pied-piper", "dunder", "bluth", "krusty", "sterling", "prestige",
	"blackmesa",
};
static const char *const gen_tlds[] = {"com", "net", "de", "org", "co.uk", "io", "fr", "nl"};

struct gen_domain {
	char name[64];
	const char *p, *sp; /* published policy */
	char adkim, aspf;
	int pct;
	const char *fo; /* or NULL */
};

static struct gen_domain gen_domains[GEN_NDOMAINS];

/* The policy-domain pool: fixed names and policies from a fixed seed. */
static void
gen_domains_init(void)
{
	static const char *const pol[] = {"none", "none", "quarantine", "reject"};
	static const char *const fo[] = {NULL, NULL, "0", "1", "d:s"};
	struct gen_rng r = {0x646d61726364ULL};
	size_t nw = sizeof(gen_words) / sizeof(gen_words[0]);
	size_t nt = sizeof(gen_tlds) / sizeof(gen_tlds[0]);
	int i;

	for (i = 0; i < GEN_NDOMAINS; i++) {
		struct gen_domain *d = &gen_domains[i];

		snprintf(d->name, sizeof(d->name), "%s%s.%s", gen_words[(size_t)i % nw],
		         (size_t)i < nw ? "" : "-mail", gen_tlds[((size_t)i * 7 + (size_t)i / nw) % nt]);
		d->p = PICK(&r, pol);
		d->sp = rng_pct(&r, 70) ? d->p : PICK(&r, pol);
		d->adkim = rng_pct(&r, 80) ? 'r' : 's';
		d->aspf = rng_pct(&r, 80) ? 'r' : 's';
		d->pct = rng_pct(&r, 90) ? 100 : 10 * (int)rng_range(&r, 1, 9);
		d->fo = PICK(&r, fo);
	}
}

/* ---- XML writer ------------------------------------------------------- */

struct gen_xml {
	struct gen_buf *b;
	const char *indent; /* "" writes everything on one line per record */
};

static void
x_nl(struct gen_xml *x, int depth)
{
	if (x->indent[0] == '\0')
		return;
	buf_add(x->b, "\n", 1);
	while (depth-- > 0)
		buf_puts(x->b, x->indent);
}

static void
x_open(struct gen_xml *x, int depth, const char *name)
{
	x_nl(x, depth);
	buf_printf(x->b, "<%s>", name);
}

static void
x_close(struct gen_xml *x, int depth, const char *name)
{
	x_nl(x, depth);
	buf_printf(x->b, "</%s>", name);
}

static void
x_leaf(struct gen_xml *x, int depth, const char *name, const char *value)
{
	x_nl(x, depth);
	buf_printf(x->b, "<%s>", name);
	buf_esc(x->b, value);
	buf_printf(x->b, "</%s>", name);
}

static void
x_leaf_u(struct gen_xml *x, int depth, const char *name, uint64_t v)
{
	x_nl(x, depth);
	buf_printf(x->b, "<%s>%" PRIu64 "</%s>", name, v, name);
}

/* ---- one report --------------------------------------------------------- */

struct gen_report {
	const struct gen_reporter *rep;
	const struct gen_domain *dom;
	char report_id[96];
	int64_t begin, end;
	uint32_t nrecords;
	int verbose; /* huge set: tab indentation, some DKIM human_result */
	uint64_t messages;
	uint64_t pass; /* messages whose policy_evaluated dkim or spf is pass */
	/* history set: sources come from the domain's pools (seeded by this) */
	uint64_t pool;
};

static const char *const gen_esps[] = {
	"sendgrid.net", "mailchimpapp.net", "amazonses.com", "mktomail.com", "salesforce.com",
	"zendesk.com", "mailgun.org", "sparkpostmail.com", "hubspotemail.net", "freshdesk.com",
};
static const char *const gen_forwarders[] = {
	"lists.debian.org", "googlegroups.com", "mailman.example.net", "forward.uni-example.de",
	"relay.mail-archive.example",
};
static const char *const gen_selectors[] = {
	"google", "selector1", "selector2", "s1", "s2", "k1", "mail", "dkim", "default",
	"mx", "20230601", "scph0124", "smtpapi", "mte1", "pm",
};
static const char *const gen_subs[] = {"", "", "", "mail.", "news.", "info.", "billing."};

static void
gen_ip(struct gen_rng *r, char *out, size_t n)
{
	static const unsigned v4first[] = {209, 40, 52, 104, 198, 185, 91, 66, 74, 17,
	                                   212, 217, 77, 94, 146, 162, 178, 193, 203, 23};
	static const char *const v6pre[] = {"2a00:1450:4864:20::", "2607:f8b0:4864:20::",
	                                    "2a01:111:f400:7e1b::", "2a01:4f8:c0c:1a2b:",
	                                    "2001:db8:85a3:8d3:"};

	uint32_t v[4];

	/* Draw into locals first: the order in which function arguments are
	 * evaluated is unspecified, and gcc and clang differ. */
	if (rng_pct(r, 12)) {
		const char *p = PICK(r, v6pre);

		if (p[strlen(p) - 1] == ':' && p[strlen(p) - 2] == ':') {
			snprintf(out, n, "%s%x", p, rng_range(r, 1, 0xffff));
		} else {
			v[0] = rng_below(r, 0x10000);
			v[1] = rng_below(r, 0x10000);
			v[2] = rng_below(r, 0x10000);
			v[3] = rng_range(r, 1, 0xffff);
			snprintf(out, n, "%s%x:%x:%x:%x", p, v[0], v[1], v[2], v[3]);
		}
		return;
	}
	v[0] = PICK(r, v4first);
	v[1] = rng_below(r, 256);
	v[2] = rng_below(r, 256);
	v[3] = rng_range(r, 1, 254);
	snprintf(out, n, "%u.%u.%u.%u", v[0], v[1], v[2], v[3]);
}

/* A source of the history set: direct and ESP mail (scen < 75) from the
 * domain's 400 own addresses, forwarded mail (< 85) from its 3,000
 * forwarders, spoofing from anywhere.  A pool address is a pure function
 * of (pool, index), so it comes back on other days and in other reports. */
static void
gen_pool_ip(struct gen_rng *r, uint64_t pool, uint32_t scen, char *out, size_t n)
{
	uint64_t h;

	if (scen >= 85) {
		gen_ip(r, out, n);
		return;
	}
	if (scen < 75)
		h = gen_mix(pool ^ rng_below(r, 400));
	else
		h = gen_mix(pool + 0x10000 + rng_below(r, 3000));
	if ((h & 15) == 0) /* one in 16 an IPv6 address */
		snprintf(out, n, "2a01:4f8:%x:%x::%x", (unsigned)(h >> 16) & 0xffff,
		         (unsigned)(h >> 32) & 0xffff, (unsigned)(h >> 48) | 1);
	else
		snprintf(out, n, "%u.%u.%u.%u", 20 + (unsigned)((h >> 8) % 200),
		         (unsigned)(h >> 16) & 255, (unsigned)(h >> 24) & 255,
		         1 + (unsigned)((h >> 32) % 254));
}

static uint32_t
gen_count(struct gen_rng *r)
{
	uint32_t x = rng_below(r, 100);

	if (x < 55)
		return rng_range(r, 1, 5);
	if (x < 85)
		return rng_range(r, 1, 100);
	return rng_range(r, 1, 1000);
}

static void
gen_dkim(struct gen_xml *x, int d, const char *domain, const char *selector,
         const char *result, const char *human)
{
	x_open(x, d, "dkim");
	x_leaf(x, d + 1, "domain", domain);
	x_leaf(x, d + 1, "selector", selector);
	x_leaf(x, d + 1, "result", result);
	if (human != NULL)
		x_leaf(x, d + 1, "human_result", human);
	x_close(x, d, "dkim");
}

/* One <record>, depth 1.  Four scenarios: direct mail (aligned DKIM and
 * SPF), a third-party sender (ESP signature next to ours, SPF unaligned),
 * forwarded mail (DKIM survives, SPF breaks) and spoofing (both fail, the
 * policy applies). */
static void
gen_record(struct gen_xml *x, struct gen_rng *r, struct gen_report *rp)
{
	const char *dom = rp->dom->name;
	char ip[48], hfrom[96], efrom[96], spfdom[96], fwd_sig[96];
	const char *disp = "none", *pe_dkim, *pe_spf, *spf_res;
	const char *reason = NULL, *comment = NULL;
	const char *esp = PICK(r, gen_esps);
	const char *human = NULL;
	uint32_t count = gen_count(r), scen = rng_below(r, 100);
	int ndkim = (int)rng_range(r, 1, 3), i, d;

	if (rp->pool == 0)
		gen_ip(r, ip, sizeof(ip));
	else
		gen_pool_ip(r, rp->pool, scen, ip, sizeof(ip));
	snprintf(hfrom, sizeof(hfrom), "%s%s", PICK(r, gen_subs), dom);
	rp->messages += count;

	if (scen < 60) { /* direct */
		pe_dkim = "pass";
		pe_spf = rng_pct(r, 95) ? "pass" : "fail";
		spf_res = pe_spf[0] == 'p' ? "pass" : "softfail";
		snprintf(efrom, sizeof(efrom), "%s", hfrom);
	} else if (scen < 75) { /* ESP */
		pe_dkim = "pass";
		pe_spf = "fail";
		spf_res = "pass";
		snprintf(efrom, sizeof(efrom), "bounces.%s", esp);
	} else if (scen < 85) { /* forwarded */
		pe_dkim = rng_pct(r, 85) ? "pass" : "fail";
		pe_spf = "fail";
		spf_res = rng_pct(r, 50) ? "fail" : "softfail";
		snprintf(efrom, sizeof(efrom), "%s", PICK(r, gen_forwarders));
		if (rng_pct(r, 60)) {
			reason = rng_pct(r, 70) ? "forwarded" : "mailing_list";
			if (rng_pct(r, 30))
				comment = "arc=pass as.1.google.com=pass";
		}
	} else { /* spoof */
		pe_dkim = "fail";
		pe_spf = "fail";
		spf_res = rng_pct(r, 50) ? "fail" : (rng_pct(r, 50) ? "softfail" : "none");
		snprintf(efrom, sizeof(efrom), "%s", rng_pct(r, 50) ? hfrom : "bulk-sender.example");
		disp = rp->dom->p;
		if (rng_pct(r, 20) && strcmp(disp, "none") != 0) {
			disp = "none";
			reason = rng_pct(r, 50) ? "sampled_out" : "local_policy";
			if (rng_pct(r, 40))
				comment = "policy override: \"trusted\" <list> & co";
		}
	}
	snprintf(spfdom, sizeof(spfdom), "%s", efrom);
	if (pe_dkim[0] == 'p' || pe_spf[0] == 'p')
		rp->pass += count;

	x_open(x, 1, "record");
	x_open(x, 2, "row");
	x_leaf(x, 3, "source_ip", ip);
	x_leaf_u(x, 3, "count", count);
	x_open(x, 3, "policy_evaluated");
	x_leaf(x, 4, "disposition", disp);
	x_leaf(x, 4, "dkim", pe_dkim);
	x_leaf(x, 4, "spf", pe_spf);
	if (reason != NULL) {
		x_open(x, 4, "reason");
		x_leaf(x, 5, "type", reason);
		if (comment != NULL)
			x_leaf(x, 5, "comment", comment);
		x_close(x, 4, "reason");
	}
	x_close(x, 3, "policy_evaluated");
	x_close(x, 2, "row");
	x_open(x, 2, "identifiers");
	if (rp->rep->envelope_to)
		x_leaf(x, 3, "envelope_to", rp->rep->submitter);
	x_leaf(x, 3, "envelope_from", efrom);
	x_leaf(x, 3, "header_from", hfrom);
	x_close(x, 2, "identifiers");
	x_open(x, 2, "auth_results");
	d = 3;
	for (i = 0; i < ndkim; i++) {
		const char *res, *sdom;

		if (rp->verbose && rng_pct(r, 10))
			human = rng_pct(r, 50) ? "signature verified" : "2048-bit key";
		else
			human = NULL;
		if (i == 0) {
			sdom = hfrom;
			res = pe_dkim[0] == 'p' ? "pass" : (rng_pct(r, 50) ? "fail" : "none");
		} else if (i == 1) {
			sdom = esp;
			res = rng_pct(r, 90) ? "pass" : "temperror";
		} else {
			snprintf(fwd_sig, sizeof(fwd_sig), "%s", PICK(r, gen_forwarders));
			sdom = fwd_sig;
			res = rng_pct(r, 80) ? "pass" : "neutral";
		}
		gen_dkim(x, d, sdom, PICK(r, gen_selectors), res, human);
	}
	x_open(x, d, "spf");
	x_leaf(x, d + 1, "domain", spfdom);
	x_leaf(x, d + 1, "scope", "mfrom");
	x_leaf(x, d + 1, "result", spf_res);
	x_close(x, d, "spf");
	x_close(x, 2, "auth_results");
	x_close(x, 1, "record");
}

/* Everything up to and including </policy_published>. */
static void
gen_head(struct gen_xml *x, const struct gen_report *rp)
{
	const struct gen_reporter *rep = rp->rep;
	const struct gen_domain *dom = rp->dom;
	char v[8];

	buf_puts(x->b, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n");
	if (rep->flavour == 2)
		buf_puts(x->b, "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">");
	else if (rep->flavour == 1)
		buf_puts(x->b, "<feedback xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
		               "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">");
	else
		buf_puts(x->b, "<feedback>");
	x_leaf(x, 1, "version", "1.0");
	x_open(x, 1, "report_metadata");
	x_leaf(x, 2, "org_name", rep->org);
	x_leaf(x, 2, "email", rep->email);
	if (rep->extra != NULL)
		x_leaf(x, 2, "extra_contact_info", rep->extra);
	x_leaf(x, 2, "report_id", rp->report_id);
	x_open(x, 2, "date_range");
	x_leaf_u(x, 3, "begin", (uint64_t)rp->begin);
	x_leaf_u(x, 3, "end", (uint64_t)rp->end);
	x_close(x, 2, "date_range");
	if (rep->flavour == 2)
		x_leaf(x, 2, "generator", "GMX DMARC reporter 2.1");
	x_close(x, 1, "report_metadata");
	x_open(x, 1, "policy_published");
	x_leaf(x, 2, "domain", dom->name);
	v[0] = dom->adkim, v[1] = '\0';
	x_leaf(x, 2, "adkim", v);
	v[0] = dom->aspf;
	x_leaf(x, 2, "aspf", v);
	x_leaf(x, 2, "p", dom->p);
	x_leaf(x, 2, "sp", dom->sp);
	if (rep->flavour == 2) {
		x_leaf(x, 2, "testing", "n");
		x_leaf(x, 2, "discovery_method", "treewalk");
	} else {
		x_leaf_u(x, 2, "pct", (uint64_t)dom->pct);
	}
	if (dom->fo != NULL)
		x_leaf(x, 2, "fo", dom->fo);
	x_close(x, 1, "policy_published");
}

static void
gen_tail(struct gen_xml *x)
{
	x_nl(x, 0);
	buf_puts(x->b, "</feedback>\n");
}

static void gen_report_id(struct gen_report *rp, struct gen_rng *r, uint64_t uniq);

/* Report metadata from the report's own PRNG; uniq is unique per report
 * in a set (gen_mix is a bijection), so report_ids never collide. */
static void
gen_report_init(struct gen_report *rp, struct gen_rng *r, uint64_t uniq)
{
	int64_t day;

	rp->rep = gen_pick_reporter(r);
	rp->dom = &gen_domains[rng_below(r, GEN_NDOMAINS)];
	day = rng_below(r, 365);
	rp->begin = GEN_DAY0 + day * 86400;
	rp->end = rp->begin + 86399;
	rp->messages = 0;
	rp->pass = 0;
	rp->pool = 0;
	rp->verbose = 0;
	gen_report_id(rp, r, uniq);
}

/* The report_id in the reporter's style; uniq makes it unique in a set. */
static void
gen_report_id(struct gen_report *rp, struct gen_rng *r, uint64_t uniq)
{
	switch (rp->rep->idstyle) {
	case 0:
		snprintf(rp->report_id, sizeof(rp->report_id), "%" PRIu64, uniq);
		break;
	case 1:
		snprintf(rp->report_id, sizeof(rp->report_id), "%016" PRIx64 "%016" PRIx64, uniq,
		         rng_next(r));
		break;
	case 2: {
		uint64_t b = rng_next(r);

		snprintf(rp->report_id, sizeof(rp->report_id),
		         "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
		         uniq >> 32, (uniq >> 16) & 0xffff, uniq & 0xffff, b >> 48,
		         b & UINT64_C(0xffffffffffff));
		break;
	}
	case 3:
		snprintf(rp->report_id, sizeof(rp->report_id), "%" PRId64 ".%" PRIu64, rp->begin, uniq);
		break;
	default:
		snprintf(rp->report_id, sizeof(rp->report_id), "<%" PRIx64 ".%" PRId64 "@%s>", uniq,
		         rp->begin, rp->rep->submitter);
		break;
	}
}

/* ---- base64, zip, mail --------------------------------------------------- */

/* Base64 (RFC 2045) in 76-column lines, CRLF after each line. */
static void
gen_base64(struct gen_buf *out, const unsigned char *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, col = 0;

	buf_reserve(out, n / 57 * 78 + 80);
	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		buf_add(out, q, 4);
		col += 4;
		if (col == 76) {
			buf_add(out, "\r\n", 2);
			col = 0;
		}
	}
	if (col > 0)
		buf_add(out, "\r\n", 2);
}

static void
put16(struct gen_buf *b, unsigned v)
{
	unsigned char c[2] = {(unsigned char)v, (unsigned char)(v >> 8)};

	buf_add(b, c, 2);
}

static void
put32(struct gen_buf *b, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};

	buf_add(b, c, 4);
}

/* A one-entry zip archive (APPNOTE 4.3.7, 4.3.12, 4.3.16): local header,
 * raw deflate data, central directory, end record.  Sizes are known up
 * front, so no data descriptor. */
static void
gen_zip(struct gen_buf *out, const char *name, const struct gen_buf *xml, int64_t when)
{
	struct gen_buf raw = {0};
	struct gen_z *z = gen_realloc(NULL, sizeof(*z));
	uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)xml->p, (uInt)xml->len);
	size_t nlen = strlen(name);
	time_t t = (time_t)when;
	struct tm tm;
	unsigned dtime, ddate;
	size_t cd_off;

	z_open(z, -15, NULL, NULL, &raw);
	z_write(z, xml->p, xml->len, 1);
	free(z);
	gmtime_r(&t, &tm);
	dtime = (unsigned)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
	ddate = (unsigned)((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);

	out->len = 0;
	put32(out, 0x04034b50); /* local file header */
	put16(out, 20);         /* version needed: 2.0 (deflate) */
	put16(out, 0);          /* flags */
	put16(out, 8);          /* method: deflate */
	put16(out, dtime);
	put16(out, ddate);
	put32(out, crc);
	put32(out, (uint32_t)raw.len);
	put32(out, (uint32_t)xml->len);
	put16(out, (unsigned)nlen);
	put16(out, 0); /* extra length */
	buf_add(out, name, nlen);
	buf_add(out, raw.p, raw.len);

	cd_off = out->len;
	put32(out, 0x02014b50); /* central directory header */
	put16(out, 0x0314);     /* made by: Unix, 2.0 */
	put16(out, 20);
	put16(out, 0);
	put16(out, 8);
	put16(out, dtime);
	put16(out, ddate);
	put32(out, crc);
	put32(out, (uint32_t)raw.len);
	put32(out, (uint32_t)xml->len);
	put16(out, (unsigned)nlen);
	put16(out, 0);             /* extra */
	put16(out, 0);             /* comment */
	put16(out, 0);             /* disk number */
	put16(out, 0);             /* internal attributes */
	put32(out, 0100644u << 16); /* external: regular file, rw-r--r-- */
	put32(out, 0);             /* local header offset */
	buf_add(out, name, nlen);

	put32(out, 0x06054b50); /* end of central directory */
	put16(out, 0);
	put16(out, 0);
	put16(out, 1);
	put16(out, 1);
	put32(out, (uint32_t)(out->len - cd_off - 4 - 2 * 4));
	put32(out, (uint32_t)cd_off);
	put16(out, 0);
	buf_free(&raw);
}

static void
gen_date(char *out, size_t n, int64_t when)
{
	time_t t = (time_t)when;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* The mail around one attachment. */
static void
gen_mail(struct gen_buf *m, struct gen_rng *r, const struct gen_report *rp, const char *fname,
         const struct gen_buf *att, uint32_t idx)
{
	const struct gen_reporter *rep = rp->rep;
	int64_t sent = rp->end + 1 + rng_range(r, 60, 6 * 3600);
	char date[64], boundary[64];
	const char *rid = rp->report_id;
	int bracket = rid[0] != '<';
	uint32_t host, ip[4];
	unsigned smtp_id;

	gen_date(date, sizeof(date), sent);
	snprintf(boundary, sizeof(boundary), "----=_Part_%u_%08x", idx, (unsigned)rng_next(r));
	m->len = 0;
	buf_printf(m, "Return-Path: <%s>\r\n", rep->email);
	/* one draw per statement: argument evaluation order is unspecified */
	host = rng_range(r, 1, 40);
	ip[0] = rng_range(r, 11, 220);
	ip[1] = rng_below(r, 256);
	ip[2] = rng_below(r, 256);
	ip[3] = rng_range(r, 1, 254);
	smtp_id = (unsigned)rng_next(r);
	buf_printf(m,
	           "Received: from mail-out%u.%s (mail-out%u.%s [%u.%u.%u.%u])\r\n"
	           "\tby mx.%s (dmarcd-bench) with ESMTPS id %08X\r\n"
	           "\tfor <dmarc-rua@%s>; %s\r\n",
	           host, rep->submitter, host, rep->submitter, ip[0], ip[1], ip[2], ip[3],
	           rp->dom->name, smtp_id, rp->dom->name, date);
	buf_printf(m, "Date: %s\r\n", date);
	buf_printf(m, "From: \"%s\" <%s>\r\n", rep->org, rep->email);
	buf_printf(m, "To: dmarc-rua@%s\r\n", rp->dom->name);
	if (rep->idstyle == 0 && rep->container == GEN_ZIP)
		buf_printf(m, "Subject: Report domain: %s Submitter: %s Report-ID: %s\r\n",
		           rp->dom->name, rep->submitter, rid);
	else
		buf_printf(m, "Subject: Report Domain: %s Submitter: %s\r\n Report-ID: %s%s%s\r\n",
		           rp->dom->name, rep->submitter, bracket ? "<" : "", rid, bracket ? ">" : "");
	buf_printf(m, "Message-ID: <%08x.%u.dmarc@%s>\r\n", (unsigned)rng_next(r), idx,
	           rep->submitter);
	buf_puts(m, "MIME-Version: 1.0\r\n");
	buf_printf(m, "Content-Type: multipart/mixed;\r\n\tboundary=\"%s\"\r\n", boundary);
	buf_puts(m, "\r\nThis is a multi-part message in MIME format.\r\n\r\n");
	buf_printf(m, "--%s\r\n", boundary);
	buf_puts(m, "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
	            "Content-Transfer-Encoding: 7bit\r\n\r\n");
	buf_printf(m, "This is an aggregate report from %s.\r\n\r\n"
	              "Report domain: %s\r\nSubmitter: %s\r\nReport-ID: %s\r\n\r\n",
	           rep->org, rp->dom->name, rep->submitter, rid);
	buf_printf(m, "--%s\r\n", boundary);
	buf_printf(m, "Content-Type: %s;\r\n\tname=\"%s\"\r\n", rep->ctype, fname);
	buf_printf(m, "Content-Disposition: attachment;\r\n\tfilename=\"%s\"\r\n", fname);
	buf_puts(m, "Content-Transfer-Encoding: base64\r\n\r\n");
	gen_base64(m, (const unsigned char *)att->p, att->len);
	buf_printf(m, "\r\n--%s--\r\n", boundary);
}

/* ---- sets ----------------------------------------------------------------- */

struct gen_totals {
	uint64_t mails, reports, records, messages, xml_bytes, att_bytes, gzip, zip;
};

static void
gen_expected(const char *dir, const char *set, const struct gen_totals *t, const char *args)
{
	char path[4096];
	struct gen_buf b = {0};

	snprintf(path, sizeof(path), "%s/expected.json", dir);
	buf_printf(&b,
	           "{\"set\":\"%s\",\"generator\":\"%s\",\"args\":\"%s\",\"mails\":%" PRIu64
	           ",\"reports\":%" PRIu64 ",\"records\":%" PRIu64 ",\"messages\":%" PRIu64
	           ",\"xml_bytes\":%" PRIu64 ",\"attachment_bytes\":%" PRIu64
	           ",\"gzip\":%" PRIu64 ",\"zip\":%" PRIu64 "}\n",
	           set, GEN_VERSION, args, t->mails, t->reports, t->records, t->messages,
	           t->xml_bytes, t->att_bytes, t->gzip, t->zip);
	gen_write_file(path, b.p, b.len);
	buf_free(&b);
}

/* The receiver!domain!begin!end[!id].ext filename of RFC 7489 7.2.1.1. */
static void
gen_fname(char *out, size_t n, const struct gen_report *rp, const char *ext)
{
	snprintf(out, n, "%s!%s!%" PRId64 "!%" PRId64 "%s", rp->rep->submitter, rp->dom->name,
	         rp->begin, rp->end, ext);
}

static void
gen_typical(const char *dir, uint32_t nmails, uint64_t seed)
{
	struct gen_buf xml = {0}, att = {0}, mail = {0};
	struct gen_xml x = {&xml, ""};
	struct gen_totals t = {0};
	struct gen_z *z = gen_realloc(NULL, sizeof(*z));
	char path[4096], fname[512], args[64];
	uint32_t i, j;

	snprintf(path, sizeof(path), "%s/mails", dir);
	gen_mkdir(path);
	snprintf(path, sizeof(path), "%s/attachments", dir);
	gen_mkdir(path);
	for (i = 0; i < nmails; i++) {
		struct gen_rng r = {gen_mix(seed ^ 0x7479706963616cULL) + (uint64_t)i * 0x632be59bd9b4e019ULL};
		struct gen_report rp;
		int zip;

		gen_report_init(&rp, &r, gen_mix(seed * 0x100000001b3ULL + i));
		rp.nrecords = rng_range(&r, 1, 50);
		x.indent = rp.rep->indent;
		xml.len = 0;
		gen_head(&x, &rp);
		for (j = 0; j < rp.nrecords; j++)
			gen_record(&x, &r, &rp);
		gen_tail(&x);

		zip = rp.rep->container == GEN_ZIP;
		att.len = 0;
		if (zip) {
			char entry[512];

			gen_fname(entry, sizeof(entry), &rp, ".xml");
			gen_fname(fname, sizeof(fname), &rp, rp.rep->submitter[0] == 's' ? ".xml.zip" : ".zip");
			gen_zip(&att, entry, &xml, rp.end + 1);
			t.zip++;
		} else {
			char ext[64];

			if (rp.rep->idstyle == 1)
				snprintf(ext, sizeof(ext), "!%.8s.xml.gz", rp.report_id);
			else
				snprintf(ext, sizeof(ext), ".xml.gz");
			gen_fname(fname, sizeof(fname), &rp, ext);
			z_open(z, 15 + 16, NULL, NULL, &att);
			z_write(z, xml.p, xml.len, 1);
			t.gzip++;
		}
		snprintf(path, sizeof(path), "%s/attachments/%06u.%s", dir, i, zip ? "zip" : "xml.gz");
		gen_write_file(path, att.p, att.len);
		gen_mail(&mail, &r, &rp, fname, &att, i);
		snprintf(path, sizeof(path), "%s/mails/%06u.eml", dir, i);
		gen_write_file(path, mail.p, mail.len);

		t.mails++;
		t.reports++;
		t.records += rp.nrecords;
		t.messages += rp.messages;
		t.xml_bytes += xml.len;
		t.att_bytes += att.len;
	}
	snprintf(args, sizeof(args), "--mails %u --seed %" PRIu64, nmails, seed);
	gen_expected(dir, "typical", &t, args);
	fprintf(stderr, "gen: typical: %" PRIu64 " mails, %" PRIu64 " records, %" PRIu64
	                " messages, %" PRIu64 " bytes of XML (%" PRIu64 " gzip, %" PRIu64 " zip)\n",
	        t.mails, t.records, t.messages, t.xml_bytes, t.gzip, t.zip);
	free(z);
	buf_free(&xml);
	buf_free(&att);
	buf_free(&mail);
}

/* One large report streamed through gzip into PATH.  The report's
 * metadata and records come from its own PRNG stream. */
static void
gen_stream_report(const char *path, struct gen_report *rp, struct gen_rng *r,
                  struct gen_totals *t)
{
	struct gen_buf xml = {0};
	struct gen_xml x = {&xml, rp->rep->indent};
	struct gen_z *z = gen_realloc(NULL, sizeof(*z));
	FILE *f = gen_fopen(path);
	uint32_t j;
	long size = 0;

	if (x.indent[0] == '\0')
		x.indent = "  ";
	if (rp->verbose)
		x.indent = "\t";
	z_open(z, 15 + 16, f, path, NULL);
	gen_head(&x, rp);
	for (j = 0; j < rp->nrecords; j++) {
		gen_record(&x, r, rp);
		if (xml.len >= GEN_FLUSH) {
			z_write(z, xml.p, xml.len, 0);
			xml.len = 0;
		}
	}
	gen_tail(&x);
	z_write(z, xml.p, xml.len, 1);
	if (fflush(f) != 0 || (size = ftell(f)) < 0)
		gen_die("%s: %s", path, strerror(errno));
	gen_fclose(f, path);

	t->mails++;
	t->reports++;
	t->records += rp->nrecords;
	t->messages += rp->messages;
	t->xml_bytes += z->in_bytes;
	t->att_bytes += (uint64_t)size;
	t->gzip++;
	free(z);
	buf_free(&xml);
}

static void
gen_big(const char *dir, uint32_t nreports, uint32_t nrecords, uint64_t seed)
{
	struct gen_totals t = {0};
	char path[4096], args[96];
	uint32_t i;

	snprintf(path, sizeof(path), "%s/reports", dir);
	gen_mkdir(path);
	for (i = 0; i < nreports; i++) {
		struct gen_rng r = {gen_mix(seed ^ 0x626967ULL) + (uint64_t)i * 0x632be59bd9b4e019ULL};
		struct gen_report rp;

		gen_report_init(&rp, &r, gen_mix(seed * 0x100000001b3ULL + 0x1000000ULL + i));
		rp.nrecords = nrecords;
		snprintf(path, sizeof(path), "%s/reports/big-%02u.xml.gz", dir, i);
		gen_stream_report(path, &rp, &r, &t);
	}
	snprintf(args, sizeof(args), "--reports %u --records %u --seed %" PRIu64, nreports,
	         nrecords, seed);
	t.mails = 0; /* files, not mails */
	gen_expected(dir, "big", &t, args);
	fprintf(stderr, "gen: big: %" PRIu64 " reports, %" PRIu64 " records, %" PRIu64
	                " messages, %" PRIu64 " bytes of XML, %" PRIu64 " gzip bytes\n",
	        t.reports, t.records, t.messages, t.xml_bytes, t.att_bytes);
}

static void
gen_huge(const char *dir, uint32_t nrecords, uint64_t seed)
{
	struct gen_totals t = {0};
	struct gen_rng r = {gen_mix(seed ^ 0x68756765ULL)};
	struct gen_report rp;
	char path[4096], args[96];

	gen_report_init(&rp, &r, gen_mix(seed * 0x100000001b3ULL + 0x2000000ULL));
	rp.nrecords = nrecords;
	rp.verbose = 1;
	snprintf(path, sizeof(path), "%s/huge.xml.gz", dir);
	gen_stream_report(path, &rp, &r, &t);
	snprintf(args, sizeof(args), "--records %u --seed %" PRIu64, nrecords, seed);
	t.mails = 0;
	gen_expected(dir, "huge", &t, args);
	fprintf(stderr, "gen: huge: %" PRIu64 " records, %" PRIu64 " messages, %" PRIu64
	                " bytes of XML (%.0f a record), %" PRIu64 " gzip bytes\n",
	        t.records, t.messages, t.xml_bytes, (double)t.xml_bytes / (double)t.records,
	        t.att_bytes);
}

/* Per domain and day of the history set: reports, records, messages,
 * DMARC-passing messages. */
struct gen_cell {
	uint64_t reports, records, messages, pass;
};

static void
gen_history(const char *dir, uint64_t nrecords, uint32_t ndays, uint32_t ndomains,
            int64_t last_day, uint64_t seed)
{
	struct gen_totals t = {0};
	struct gen_cell *cell = gen_realloc(NULL, sizeof(*cell) * ndays * ndomains);
	uint64_t per_day = ndays * (uint64_t)ndomains;
	uint32_t nrep = nrecords / per_day >= 8 ? 8 : (uint32_t)(nrecords / per_day);
	uint64_t nreports, i = 0;
	int64_t day0 = last_day - (int64_t)(ndays - 1) * 86400;
	char path[4096], args[128];
	struct gen_buf b = {0};

	if (nrep == 0)
		gen_die("history: --records must be at least --days x --domains (%" PRIu64 ")",
		        per_day);
	nreports = per_day * nrep;
	memset(cell, 0, sizeof(*cell) * ndays * ndomains);
	snprintf(path, sizeof(path), "%s/reports", dir);
	gen_mkdir(path);
	for (uint32_t day = 0; day < ndays; day++) {
		snprintf(path, sizeof(path), "%s/reports/%03u", dir, day);
		gen_mkdir(path);
		for (uint32_t k = 0; k < ndomains; k++) {
			struct gen_cell *c = &cell[(size_t)k * ndays + day];

			for (uint32_t j = 0; j < nrep; j++, i++) {
				struct gen_rng r = {gen_mix(seed ^ 0x686973746f7279ULL) +
				                    i * 0x632be59bd9b4e019ULL};
				struct gen_report rp;
				uint64_t before = t.records;

				gen_report_init(&rp, &r, gen_mix(seed * 0x100000001b3ULL + 0x3000000ULL + i));
				/* this day, this domain, the day's j-th reporter */
				rp.rep = &gen_reporters[(day * 7 + k * 3 + j) % GEN_NREPORTERS];
				rp.dom = &gen_domains[k];
				rp.begin = day0 + (int64_t)day * 86400;
				rp.end = rp.begin + 86399;
				rp.pool = gen_mix(seed + 0x706f6f6cULL + k);
				gen_report_id(&rp, &r, gen_mix(seed * 0x100000001b3ULL + 0x3000000ULL + i));
				/* N records in all, spread evenly over the reports */
				rp.nrecords = (uint32_t)(nrecords * (i + 1) / nreports - nrecords * i / nreports);
				snprintf(path, sizeof(path), "%s/reports/%03u/%02u-%02u.xml.gz", dir, day, k, j);
				gen_stream_report(path, &rp, &r, &t);
				c->reports++;
				c->records += t.records - before;
				c->messages += rp.messages;
				c->pass += rp.pass;
			}
		}
	}
	{
		char end[16];
		time_t tt = (time_t)last_day;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(end, sizeof(end), "%Y-%m-%d", &tm);
		snprintf(args, sizeof(args),
		         "--records %" PRIu64 " --days %u --domains %u --end %s --seed %" PRIu64,
		         nrecords, ndays, ndomains, end, seed);
	}
	t.mails = 0;
	snprintf(path, sizeof(path), "%s/expected.json", dir);
	buf_printf(&b,
	           "{\"set\":\"history\",\"generator\":\"%s\",\"args\":\"%s\",\"reports\":%" PRIu64
	           ",\"records\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"xml_bytes\":%" PRIu64
	           ",\"attachment_bytes\":%" PRIu64 ",\"first_day\":\"",
	           GEN_VERSION, args, t.reports, t.records, t.messages, t.xml_bytes, t.att_bytes);
	{
		char d[16];
		time_t tt = (time_t)day0;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(d, sizeof(d), "%Y-%m-%d", &tm);
		buf_printf(&b, "%s\",\"domains\":{", d);
	}
	for (uint32_t k = 0; k < ndomains; k++) {
		struct gen_cell sum = {0};

		for (uint32_t day = 0; day < ndays; day++) {
			const struct gen_cell *c = &cell[(size_t)k * ndays + day];

			sum.reports += c->reports;
			sum.records += c->records;
			sum.messages += c->messages;
			sum.pass += c->pass;
		}
		buf_printf(&b,
		           "%s\"%s\":{\"reports\":%" PRIu64 ",\"records\":%" PRIu64
		           ",\"messages\":%" PRIu64 ",\"dmarc_pass\":%" PRIu64 ",\"days\":[",
		           k ? "," : "", gen_domains[k].name, sum.reports, sum.records, sum.messages,
		           sum.pass);
		for (uint32_t day = 0; day < ndays; day++) {
			const struct gen_cell *c = &cell[(size_t)k * ndays + day];

			buf_printf(&b, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", day ? "," : "",
			           c->reports, c->records, c->messages, c->pass);
		}
		buf_puts(&b, "]}");
	}
	buf_puts(&b, "}}\n");
	gen_write_file(path, b.p, b.len);
	fprintf(stderr, "gen: history: %" PRIu64 " reports, %" PRIu64 " records, %" PRIu64
	                " messages over %u days and %u domains, %" PRIu64 " gzip bytes\n",
	        t.reports, t.records, t.messages, ndays, ndomains, t.att_bytes);
	buf_free(&b);
	free(cell);
}

/* ---- main ------------------------------------------------------------------ */

static void
gen_usage(void)
{
	fputs("usage: gen typical DIR [--mails N] [--seed S]\n"
	      "       gen big DIR [--reports R] [--records N] [--seed S]\n"
	      "       gen huge DIR [--records N] [--seed S]\n"
	      "       gen history DIR [--records N] [--days D] [--domains K] [--end YYYY-MM-DD] "
	      "[--seed S]\n"
	      "       gen --version\n",
	      stderr);
	exit(2);
}

/* YYYY-MM-DD into the Unix seconds of its 00:00 UTC. */
static int64_t
gen_day(const char *s)
{
	struct tm tm;
	unsigned y, m, d;
	char *end;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		gen_die("--end: expected YYYY-MM-DD, got '%s'", s);
	y = (unsigned)strtoul(s, &end, 10);
	m = (unsigned)strtoul(s + 5, &end, 10);
	d = (unsigned)strtoul(s + 8, &end, 10);
	if (y < 1971 || m < 1 || m > 12 || d < 1 || d > 31)
		gen_die("--end: expected YYYY-MM-DD, got '%s'", s);
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)m - 1;
	tm.tm_mday = (int)d;
	return (int64_t)timegm(&tm);
}

static uint64_t
gen_number(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
		gen_die("%s: expected a number in %" PRIu64 "..%" PRIu64 ", got '%s'", opt, min,
		        max, s);
	return v;
}

int
main(int argc, char **argv)
{
	uint64_t mails = 10000, reports = 5, records = 0, seed = 1, days = 90, domains = 20;
	int64_t last_day = GEN_DAY0 + 364 * 86400; /* 2026-12-31 */
	const char *set, *dir;
	int i;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		puts(GEN_VERSION);
		return 0;
	}
	if (argc < 3)
		gen_usage();
	set = argv[1];
	dir = argv[2];
	for (i = 3; i < argc; i++) {
		if (i + 1 >= argc)
			gen_usage();
		if (strcmp(argv[i], "--mails") == 0)
			mails = gen_number("--mails", argv[++i], 1, 10000000);
		else if (strcmp(argv[i], "--reports") == 0)
			reports = gen_number("--reports", argv[++i], 1, 100);
		else if (strcmp(argv[i], "--records") == 0)
			records = gen_number("--records", argv[++i], 1, 100000000);
		else if (strcmp(argv[i], "--days") == 0)
			days = gen_number("--days", argv[++i], 1, 365);
		else if (strcmp(argv[i], "--end") == 0)
			last_day = gen_day(argv[++i]);
		else if (strcmp(argv[i], "--domains") == 0)
			domains = gen_number("--domains", argv[++i], 1, GEN_NDOMAINS);
		else if (strcmp(argv[i], "--seed") == 0)
			seed = gen_number("--seed", argv[++i], 0, UINT64_MAX);
		else
			gen_usage();
	}
	gen_domains_init();
	gen_mkdir(dir);
	if (strcmp(set, "typical") == 0)
		gen_typical(dir, (uint32_t)mails, seed);
	else if (strcmp(set, "big") == 0)
		gen_big(dir, (uint32_t)reports, records ? (uint32_t)records : 100000, seed);
	else if (strcmp(set, "history") == 0)
		gen_history(dir, records ? records : 1000000, (uint32_t)days, (uint32_t)domains,
		            last_day, seed);
	else if (strcmp(set, "huge") == 0)
		gen_huge(dir, records ? (uint32_t)records : 2000000, seed);
	else
		gen_usage();
	return 0;
}
