/*
 * test_tlsrpt.c - the TLS-RPT parser on reports written here.
 *
 * The callbacks write every policy and failure detail to a text log
 * ("P0 ...", "F0 ..."), so a test reads like the report it checks.  Each
 * document is parsed whole, byte by byte and in random chunk sizes, and
 * the three must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "parse/tlsrpt.h"

struct got {
	char *log;
	size_t len, cap;
	unsigned npol, nfail;
	int abort_at; /* return DM_ESTORE at this callback, 1-based */
	int calls;
	int id_seen_at_first_policy;
};

static void
logf_(struct got *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (g->len + (size_t)n + 1 > g->cap) {
		g->cap = (g->len + (size_t)n + 1) * 2;
		g->log = realloc(g->log, g->cap);
	}
	va_start(ap, fmt);
	vsnprintf(g->log + g->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	g->len += (size_t)n;
}

#define S(x) ((x) ? (x) : "-")

static int
on_policy(void *arg, struct dm_tls_report *rep, const struct dm_tls_policy *p)
{
	struct got *g = arg;
	if (g->npol == 0)
		g->id_seen_at_first_policy = rep->report_id != NULL;
	g->npol++;
	if (g->len < 8192)
		logf_(g, "P%u %s dom=%s mx=%s ps=%s s=%llu f=%llu\n", p->index, S(p->type),
		      S(p->domain), S(p->mx_host), S(p->policy_string),
		      (unsigned long long)p->success, (unsigned long long)p->failure);
	if (g->abort_at && ++g->calls == g->abort_at)
		return DM_ESTORE;
	return 0;
}

static int
on_failure(void *arg, struct dm_tls_report *rep, const struct dm_tls_failure *f)
{
	struct got *g = arg;
	g->nfail++;
	if (g->len < 8192)
		logf_(g, "F%u %s sip=%s host=%s helo=%s rip=%s add=%s code=%s n=%llu\n", f->policy,
		      S(f->result_type), S(f->sending_mta_ip), S(f->receiving_mx_hostname),
		      S(f->receiving_mx_helo), S(f->receiving_ip), S(f->additional_info),
		      S(f->failure_reason_code), (unsigned long long)f->sessions);
	if (g->abort_at && ++g->calls == g->abort_at)
		return DM_ESTORE;
	return 0;
}

struct result {
	int rc;
	char error[512];
	int is_tlsrpt;
	struct got g;
	char summary[4096]; /* the report and its warnings */
};

static void
result_free(struct result *r)
{
	free(r->g.log);
}

/* chunk 0: random chunk sizes from seed */
static void
parse_with(const char *doc, size_t len, size_t chunk, unsigned seed, int abort_at,
           struct result *res)
{
	memset(res, 0, sizeof *res);
	res->g.abort_at = abort_at;
	logf_(&res->g, "%s", "");
	struct tls_parser *p = tls_parser_new(on_policy, on_failure, &res->g);
	int rc = 0;
	srand(seed);
	for (size_t off = 0; off < len && rc == 0;) {
		size_t n = chunk ? chunk : (size_t)(rand() % 23) + 1;
		if (n > len - off)
			n = len - off;
		rc = tls_parser_feed(p, doc + off, n);
		off += n;
	}
	if (rc == 0)
		rc = tls_parser_finish(p);
	res->rc = rc;
	snprintf(res->error, sizeof res->error, "%s", tls_parser_error(p));
	res->is_tlsrpt = tls_parser_is_tlsrpt(p);
	struct dm_tls_report *r = tls_parser_report(p);
	int n = snprintf(res->summary, sizeof res->summary,
	                 "org=%s id=%s contact=%s begin=%lld/%d end=%lld/%d pd=%s npol=%u "
	                 "nfd=%llu s=%llu f=%llu\n",
	                 S(r->org_name), S(r->report_id), S(r->contact_info), (long long)r->begin,
	                 r->have_begin, (long long)r->end, r->have_end, S(r->policy_domain),
	                 r->npolicies, (unsigned long long)r->failure_details,
	                 (unsigned long long)r->success, (unsigned long long)r->failure);
	for (unsigned i = 0; i < r->nwarnings && n > 0 && (size_t)n < sizeof res->summary; i++)
		n += snprintf(res->summary + n, sizeof res->summary - (size_t)n, "W: %s\n",
		              r->warnings[i]);
	tls_parser_free(p);
}

/* Whole, byte by byte, random chunks: the same result. */
static void
parse3(const char *doc, size_t len, struct result *res)
{
	struct result b, c;
	parse_with(doc, len, len ? len : 1, 1, 0, res);
	parse_with(doc, len, 1, 1, 0, &b);
	parse_with(doc, len, 0, 42, 0, &c);
	assert_int_equal(res->rc, b.rc);
	assert_int_equal(res->rc, c.rc);
	assert_string_equal(res->error, b.error);
	assert_string_equal(res->error, c.error);
	assert_string_equal(res->g.log, b.g.log);
	assert_string_equal(res->g.log, c.g.log);
	assert_string_equal(res->summary, b.summary);
	assert_string_equal(res->summary, c.summary);
	result_free(&b);
	result_free(&c);
}

static void
expect_ok(const char *doc, struct result *res)
{
	parse3(doc, strlen(doc), res);
	if (res->rc != 0)
		print_error("unexpected error: %s\n", res->error);
	assert_int_equal(res->rc, 0);
}

static void
expect_bad(const char *doc, int code, const char *needle)
{
	struct result res;
	parse3(doc, strlen(doc), &res);
	if (res.rc != code || !strstr(res.error, needle))
		print_error("rc %d error '%s', wanted %d '%s'\n", res.rc, res.error, code, needle);
	assert_int_equal(res.rc, code);
	assert_non_null(strstr(res.error, needle));
	result_free(&res);
}

static void
assert_has(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		print_error("'%s' not in:\n%s\n", needle, hay);
	assert_non_null(strstr(hay, needle));
}

static void
assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		print_error("'%s' unexpectedly in:\n%s\n", needle, hay);
	assert_null(strstr(hay, needle));
}

/* The metadata most tests share; HEAD leaves the object open. */
#define HEAD                                                                                       \
	"{\"organization-name\":\"Org\",\"contact-info\":\"tls@org.example\","                     \
	"\"report-id\":\"r-1\",\"date-range\":{\"start-datetime\":\"2024-01-09T00:00:00Z\","       \
	"\"end-datetime\":\"2024-01-09T23:59:59Z\"},"
#define POLICY(inner)                                                                              \
	"{\"policy\":{" inner "},\"summary\":{\"total-successful-session-count\":5,"               \
	"\"total-failure-session-count\":0}}"

/* A report in the shape of RFC 8460's example, written for this test. */
static const char example[] =
        "\xef\xbb\xbf{\n"
        "  \"organization-name\": \"Sender Co\",\n"
        "  \"date-range\": {\"start-datetime\": \"2023-05-01T00:00:00Z\",\n"
        "                 \"end-datetime\": \"2023-05-01T23:59:59Z\"},\n"
        "  \"contact-info\": \"tlsrpt@sender.example\",\n"
        "  \"report-id\": \"2023-05-01T00:00:00Z_rcpt.example\",\n"
        "  \"policies\": [{\n"
        "    \"policy\": {\"policy-type\": \"sts\",\n"
        "      \"policy-string\": [\"version: STSv1\", \"mode: enforce\",\n"
        "                          \"mx: *.mx.rcpt.example\", \"max_age: 604800\"],\n"
        "      \"policy-domain\": \"Rcpt.Example.\",\n"
        "      \"mx-host\": \"*.MX.rcpt.example\"},\n"
        "    \"summary\": {\"total-successful-session-count\": 900,\n"
        "                \"total-failure-session-count\": 35},\n"
        "    \"failure-details\": [\n"
        "      {\"result-type\": \"Certificate-Expired\", \"sending-mta-ip\": "
        "\"2001:db8:abcd:0013::1\",\n"
        "       \"receiving-mx-hostname\": \"MX1.mx.rcpt.example.\", \"failed-session-count\": "
        "30,\n"
        "       \"receiving-mx-helo\": \"mx1 ready\", \"receiving-ip\": \"192.0.2.25\"},\n"
        "      {\"result-type\": \"starttls-not-supported\", \"sending-mta-ip\": "
        "\"198.51.100.7\",\n"
        "       \"receiving-ip\": \"::ffff:192.0.2.26\", \"failed-session-count\": 5,\n"
        "       \"additional-information\": \"https://sender.example/why?id=\\u00e9\",\n"
        "       \"failure-reason-code\": \"  X509_E  \"}\n"
        "    ]\n"
        "  }, {\n"
        "    \"policy\": {\"policy-type\": \"no-policy-found\", \"policy-domain\": "
        "\"other.example\"},\n"
        "    \"summary\": {\"total-successful-session-count\": 10,\n"
        "                \"total-failure-session-count\": 0}\n"
        "  }]\n"
        "}\n";

static void
test_example_every_chunking(void **state)
{
	struct result res;
	expect_ok(example, &res);
	assert_true(res.is_tlsrpt);
	assert_string_equal(
	        res.g.log,
	        "F0 certificate-expired sip=2001:db8:abcd:13::1 host=mx1.mx.rcpt.example "
	        "helo=mx1 ready rip=192.0.2.25 add=- code=- n=30\n"
	        "F0 starttls-not-supported sip=198.51.100.7 host=- helo=- rip=192.0.2.26 "
	        "add=https://sender.example/why?id=\xc3\xa9 code=X509_E n=5\n"
	        "P0 sts dom=rcpt.example mx=*.mx.rcpt.example ps=version: STSv1\nmode: "
	        "enforce\nmx: *.mx.rcpt.example\nmax_age: 604800 s=900 f=35\n"
	        "P1 no-policy-found dom=other.example mx=- ps=- s=10 f=0\n");
	assert_string_equal(res.summary,
	                    "org=Sender Co id=2023-05-01T00:00:00Z_rcpt.example "
	                    "contact=tlsrpt@sender.example begin=1682899200/1 end=1682985599/1 "
	                    "pd=rcpt.example npol=2 nfd=2 s=910 f=35\n");
	result_free(&res);
	/* many more random chunkings */
	for (unsigned seed = 2; seed < 40; seed++) {
		struct result r2;
		parse_with(example, sizeof example - 1, 0, seed, 0, &r2);
		assert_int_equal(r2.rc, 0);
		parse_with(example, sizeof example - 1, sizeof example, 0, 0, &res);
		assert_string_equal(r2.g.log, res.g.log);
		assert_string_equal(r2.summary, res.summary);
		result_free(&r2);
		result_free(&res);
	}
}

/* Keys in reverse order at every level: failure details before the
 * policy and summary, policies before report-id and the dates. */
static void
test_keys_reversed(void **state)
{
	static const char doc[] =
	        "{\"policies\":[{\"failure-details\":[{\"failed-session-count\":2,"
	        "\"receiving-ip\":\"203.0.113.9\",\"sending-mta-ip\":\"192.0.2.1\","
	        "\"result-type\":\"validation-failure\"}],"
	        "\"summary\":{\"total-failure-session-count\":2,\"total-successful-session-count\":"
	        "1},"
	        "\"policy\":{\"mx-host\":[\"mx.b.example\"],\"policy-domain\":\"b.example\","
	        "\"policy-type\":\"TLSA\"}}],"
	        "\"report-id\":\"late\",\"date-range\":{\"end-datetime\":\"2024-01-02T00:00:00Z\","
	        "\"start-datetime\":\"2024-01-01T00:00:00Z\"},\"contact-info\":\"c@x\","
	        "\"organization-name\":\"Rev\"}";
	struct result res;
	expect_ok(doc, &res);
	assert_string_equal(res.g.log,
	                    "F0 validation-failure sip=192.0.2.1 host=- helo=- rip=203.0.113.9 "
	                    "add=- code=- n=2\n"
	                    "P0 tlsa dom=b.example mx=mx.b.example ps=- s=1 f=2\n");
	assert_false(res.g.id_seen_at_first_policy);
	assert_has(res.summary, "org=Rev id=late contact=c@x begin=1704067200/1 end=1704153600/1");
	assert_has(res.summary, "pd=b.example npol=1 nfd=1 s=1 f=2\n");
	assert_lacks(res.summary, "W:");
	result_free(&res);
}

static void
test_mx_host_forms(void **state)
{
	struct result res;
	/* a string, a list, the schema's name; lower case, no trailing dot */
	expect_ok(
	        HEAD "\"policies\":[" POLICY("\"mx-host\":\" MX.A.example. \"") "," POLICY(
	                "\"mx-"
	                "host\":["
	                "\"mx1.A."
	                "example."
	                "\",\" "
	                "\",\"mx2."
	                "a."
	                "example\""
	                "]") "," POLICY("\"mx-host-pattern\":\"*.c.example\"") "," POLICY("\"mx-"
	                                                                                  "host\":["
	                                                                                  "]") "]}",
	        &res);
	assert_has(res.g.log, "P0  dom=- mx=mx.a.example ps=-");
	assert_has(res.g.log, "P1  dom=- mx=mx1.a.example, mx2.a.example ps=-");
	assert_has(res.g.log, "P2  dom=- mx=*.c.example ps=-");
	assert_has(res.g.log, "P3  dom=- mx=- ps=-");
	assert_has(res.summary, "W: 4 polic(ies) without policy-type");
	assert_has(res.summary, "W: 4 polic(ies) without policy-domain");
	result_free(&res);

	/* both spellings in one policy: a duplicate */
	expect_bad(HEAD "\"policies\":[" POLICY("\"mx-host\":\"a\",\"mx-host-pattern\":\"b\"") "]}",
	           DM_EFORMAT, "duplicate key \"mx-host-pattern\"");

	/* more than DM_TLS_MAX_MX_HOSTS entries: cut, with a warning */
	char doc[8192];
	int n = snprintf(doc, sizeof doc, "%s\"policies\":[{\"policy\":{\"mx-host\":[", HEAD);
	for (int i = 0; i < DM_TLS_MAX_MX_HOSTS + 6; i++)
		n += snprintf(doc + n, sizeof doc - (size_t)n, "%s\"m%d\"", i ? "," : "", i);
	snprintf(doc + n, sizeof doc - (size_t)n, "]}}]}");
	expect_ok(doc, &res);
	assert_has(res.g.log, "m62, m63 ps=");
	assert_lacks(res.g.log, "m64");
	assert_has(res.summary, "W: mx-host list cut to 64 entries");
	result_free(&res);
}

static void
test_policy_string(void **state)
{
	struct result res;
	char *doc = malloc(64 * 1024);
	int n = snprintf(doc, 64 * 1024, "%s\"policies\":[{\"policy\":{\"policy-string\":[", HEAD);
	for (int i = 0; i < DM_TLS_MAX_POLICY_STRINGS + 3; i++)
		n += snprintf(doc + n, 64 * 1024 - (size_t)n, "%s\"l%d\"", i ? "," : "", i);
	snprintf(doc + n, 64 * 1024 - (size_t)n, ",7,null]}}]}");
	parse3(doc, strlen(doc), &res);
	assert_int_equal(res.rc, 0);
	assert_has(res.g.log, "ps=l0\nl1\nl2\n");
	assert_has(res.g.log, "\nl63 s=0");
	assert_lacks(res.g.log, "l64");
	assert_has(res.summary, "W: policy-string cut to 64 entries or 16384 bytes");
	assert_has(res.summary, "W: policy-string entry is a number, not a string: ignored");
	result_free(&res);

	/* bytes: two lines of 10 000 bytes do not both fit in 16 KiB */
	n = snprintf(doc, 64 * 1024, "%s\"policies\":[{\"policy\":{\"policy-string\":[\"", HEAD);
	memset(doc + n, 'a', 10000);
	n += 10000;
	n += snprintf(doc + n, 64 * 1024 - (size_t)n, "\",\"");
	memset(doc + n, 'b', 10000);
	n += 10000;
	snprintf(doc + n, 64 * 1024 - (size_t)n, "\",\"c\"]}}]}");
	parse3(doc, strlen(doc), &res);
	assert_int_equal(res.rc, 0);
	assert_has(res.g.log, "aaaa\nc s=0");
	assert_lacks(res.g.log, "b");
	assert_has(res.summary, "W: policy-string cut");
	result_free(&res);
	free(doc);

	/* a single string instead of a list */
	expect_ok(HEAD "\"policies\":[" POLICY("\"policy-string\":\"version: STSv1\"") "]}", &res);
	assert_has(res.g.log, "ps=version: STSv1 s=5");
	assert_has(res.summary, "W: policy-string is a string, not a list");
	result_free(&res);
}

static void
test_ips(void **state)
{
	struct result res;
	char doc[65536];
	/* 200 failure details without sending-mta-ip: one warning */
	int n = snprintf(doc, sizeof doc, "%s\"policies\":[{\"failure-details\":[", HEAD);
	for (int i = 0; i < 200; i++)
		n += snprintf(doc + n, sizeof doc - (size_t)n,
		              "%s{\"result-type\":\"x\",\"receiving-ip\":\"192.0.2.%d\","
		              "\"failed-session-count\":1}",
		              i ? "," : "", i % 250);
	snprintf(doc + n, sizeof doc - (size_t)n,
	         "],\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"a.example\"},"
	         "\"summary\":{\"total-successful-session-count\":0,"
	         "\"total-failure-session-count\":200}}]}");
	expect_ok(doc, &res);
	assert_int_equal(res.g.nfail, 200);
	assert_has(res.summary, "W: 200 failure detail(s) without sending-mta-ip\n");
	assert_has(res.summary, "nfd=200 s=0 f=200");
	/* the summary, the counted warning and nothing else */
	assert_lacks(strstr(res.summary, "W:") + 3, "W:");
	result_free(&res);

	/* invalid, canonical, IPv4-mapped, empty, null, not a string */
	expect_ok(HEAD
	          "\"policies\":[{\"failure-details\":["
	          "{\"sending-mta-ip\":\"2001:DB8:0:0:0:0:0:0001\",\"receiving-ip\":\"999.1.1.1\"},"
	          "{\"sending-mta-ip\":\"::FFFF:198.51.100.1\",\"receiving-ip\":\" 192.0.2.1 \"},"
	          "{\"sending-mta-ip\":\"bogus<script>\",\"receiving-ip\":\"\"},"
	          "{\"sending-mta-ip\":null,\"receiving-ip\":\"fe80::1%eth0\"},"
	          "{\"sending-mta-ip\":17}"
	          "],\"policy\":{\"policy-type\":\"sts\"}}]}",
	          &res);
	assert_has(res.g.log, "sip=2001:db8::1 host=- helo=- rip=- ");
	assert_has(res.g.log, "sip=198.51.100.1 host=- helo=- rip=192.0.2.1 ");
	assert_has(res.g.log, "sip=- host=- helo=- rip=- add");
	assert_has(res.summary, "W: 1 failure detail(s) with an invalid sending-mta-ip (first: "
	                        "'bogus<script>')");
	assert_has(res.summary,
	           "W: 2 failure detail(s) with an invalid receiving-ip (first: '999.1.1.1')");
	assert_has(res.summary, "W: 2 failure detail(s) without sending-mta-ip");
	assert_has(res.summary, "W: 2 failure detail(s) without receiving-ip");
	assert_has(res.summary, "W: sending-mta-ip is a number, not a string: ignored");
	assert_has(res.summary, "W: 5 failure detail(s) without result-type");
	assert_has(res.summary, "W: 5 failure detail(s) without failed-session-count (0 used)");
	assert_has(res.summary, "W: 1 polic(ies) without summary");
	result_free(&res);
}

static void
test_failure_fields_and_case(void **state)
{
	struct result res;
	expect_ok(
	        HEAD
	        "\"policies\":[{\"policy\":{\"policy-type\":\"STS\",\"policy-domain\":\" "
	        "A.Example. \"},\"failure-details\":[{\"result-type\":\"DANE-Required\","
	        "\"additional-info-uri\":\"https://x.example/i\",\"receiving-mx-helo\":\"EHLO.X\","
	        "\"receiving-mx-hostname\":\"Mx.A.Example.\",\"failure-reason-code\":\"E1\","
	        "\"failed-session-count\":1},{\"result-type\":\"Brand-New-Type\"}]},"
	        "{\"policy\":{\"policy-type\":\"Weird\",\"policy-domain\":\"\"}}]}",
	        &res);
	assert_has(res.g.log, "F0 dane-required sip=- host=mx.a.example helo=EHLO.X rip=- "
	                      "add=https://x.example/i code=E1 n=1\n");
	assert_has(res.g.log, "F0 brand-new-type ");
	assert_has(res.g.log, "P0 sts dom=a.example ");
	assert_has(res.g.log, "P1 weird dom=- ");
	assert_has(res.summary, "W: unknown policy-type 'weird' kept");
	assert_has(res.summary, "W: 1 polic(ies) without policy-domain");
	assert_has(res.summary, "pd=a.example ");
	result_free(&res);

	/* additional-information and additional-info-uri are one key */
	expect_bad(HEAD "\"policies\":[{\"failure-details\":[{\"additional-information\":\"a\","
	                "\"additional-info-uri\":\"b\"}]}]}",
	           DM_EFORMAT, "duplicate key \"additional-info-uri\"");
}

static void
test_dates(void **state)
{
	static const struct {
		const char *start, *end;
		long long begin, endt;
		const char *warning; /* NULL: none */
	} cases[] = {
	        {"\"2024-01-09T00:00:00Z\"", "\"2024-01-09T23:59:59Z\"", 1704758400, 1704844799,
	         NULL},
	        {"\"2024-01-09t00:00:00z\"", "\"2024-01-09 23:59:59Z\"", 1704758400, 1704844799,
	         NULL},
	        {"\"2024-01-09T02:00:00+02:00\"", "\"2024-01-09T18:59:59-0500\"", 1704758400,
	         1704844799, NULL},
	        {"\"2024-01-09T00:00:00.123456Z\"", "\"2024-01-09T23:59:59.9+00:00\"", 1704758400,
	         1704844799, NULL},
	        {"\"2024-01-09T00:00:00\"", "\"2024-01-09T23:59:59.5\"", 1704758400, 1704844799,
	         "has no time zone: read as UTC"},
	        {"\"2024-01-09\"", "\"2024-01-09\"", 1704758400, 1704844799,
	         "end-datetime is a date without a time: read as its 23:59:59 UTC"},
	        {"1704758400", "1704844799", 1704758400, 1704844799,
	         "given as a number: read as Unix seconds"},
	        {"1704758400000", "1704844799000", 1704758400, 1704844799,
	         "looks like milliseconds"},
	        {"\"2024-02-29T00:00:00Z\"", "\"2024-12-31T23:59:60Z\"", 1709164800, 1735689599,
	         NULL},
	        {"\" 2024-01-09T00:00:00Z \"", "\"2024-01-09T23:59:59Z\"", 1704758400, 1704844799,
	         NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char doc[1024];
		snprintf(doc, sizeof doc,
		         "{\"organization-name\":\"O\",\"report-id\":\"i\",\"contact-info\":\"c\","
		         "\"date-range\":{\"start-datetime\":%s,\"end-datetime\":%s},\"policies\":["
		         "]}",
		         cases[i].start, cases[i].end);
		struct result res;
		expect_ok(doc, &res);
		char want[128];
		snprintf(want, sizeof want, "begin=%lld/1 end=%lld/1", cases[i].begin,
		         cases[i].endt);
		assert_has(res.summary, want);
		if (cases[i].warning)
			assert_has(res.summary, cases[i].warning);
		else
			assert_lacks(res.summary, "W: start");
		result_free(&res);
	}
	static const char *const bad[] = {
	        "\"yesterday\"",
	        "\"2024-13-01T00:00:00Z\"",
	        "\"2023-02-29T00:00:00Z\"",
	        "\"2024-01-09T24:00:00Z\"",
	        "\"2024-01-09T00:00Z\"",
	        "\"2024-01-09T00:00:00+2\"",
	        "\"2024-01-09T00:00:00.Z\"",
	        "\"2024-01-09T00:00:00ZZ\"",
	        "\"2024/01/09\"",
	        "\"\"",
	        "-5",
	        "1.5e9",
	        "true",
	        "[]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char doc[1024];
		snprintf(doc, sizeof doc,
		         "{\"organization-name\":\"O\",\"report-id\":\"i\",\"date-range\":"
		         "{\"start-datetime\":%s,\"end-datetime\":\"2024-01-09T00:00:00Z\"},"
		         "\"policies\":[]}",
		         bad[i]);
		expect_bad(doc, DM_EFORMAT, "start-datetime is ");
	}
	expect_bad("{\"organization-name\":\"O\",\"report-id\":\"i\",\"date-range\":"
	           "{\"start-datetime\":\"2024-01-09T00:00:00Z\",\"end-datetime\":"
	           "\"2024-01-08T00:00:00Z\"},\"policies\":[]}",
	           DM_EFORMAT, "end-datetime 1704672000 before start-datetime 1704758400");
}

static void
test_counts(void **state)
{
	struct result res;
	/* digits in a string: read, with a warning; 2^63-1 is the largest */
	expect_ok(HEAD "\"policies\":[{\"summary\":{\"total-successful-session-count\":\" 12 \","
	               "\"total-failure-session-count\":9223372036854775807},\"failure-details\":"
	               "[{\"failed-session-count\":\"007\"},{\"failed-session-count\":-0}]}]}",
	          &res);
	assert_has(res.g.log, "n=7\n");
	assert_has(res.g.log, "n=0\n");
	assert_has(res.g.log, "s=12 f=9223372036854775807\n");
	assert_has(res.summary, "W: total-successful-session-count given as a string");
	assert_has(res.summary, "W: failed-session-count given as a string");
	assert_has(res.summary, "summary failure count differs");
	result_free(&res);

	static const struct {
		const char *v;
		int code;
		const char *why;
	} bad[] = {
	        {"1.0", DM_EFORMAT, "is not an integer: 1.0"},
	        {"1e3", DM_EFORMAT, "is not an integer"},
	        {"-1", DM_EFORMAT, "is negative: -1"},
	        {"9223372036854775808", DM_ELIMIT, "above 2^63-1"},
	        {"18446744073709551616", DM_ELIMIT, "above 2^63-1"},
	        {"\"12a\"", DM_EFORMAT, "is not a count: '12a'"},
	        {"\"-3\"", DM_EFORMAT, "is not a count"},
	        {"\"\"", DM_EFORMAT, "is an empty string"},
	        {"true", DM_EFORMAT, "is not a number"},
	        {"{}", DM_EFORMAT, "is not a number"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char doc[1024];
		snprintf(doc, sizeof doc,
		         HEAD
		         "\"policies\":[{\"failure-details\":[{\"failed-session-count\":%s}]}]}",
		         bad[i].v);
		char why[128];
		snprintf(why, sizeof why, "failed-session-count %s", bad[i].why);
		expect_bad(doc, bad[i].code, why);
		snprintf(doc, sizeof doc,
		         HEAD "\"policies\":[{\"summary\":{\"total-failure-session-count\":%s}}]}",
		         bad[i].v);
		snprintf(why, sizeof why, "total-failure-session-count %s", bad[i].why);
		expect_bad(doc, bad[i].code, why);
	}

	/* null or missing: 0 with a warning */
	expect_ok(HEAD "\"policies\":[{\"summary\":{\"total-successful-session-count\":null}}]}",
	          &res);
	assert_has(res.summary, "W: 1 summar(ies) without both session counts (0 used)");
	result_free(&res);
}

static void
test_summary_differs_from_details(void **state)
{
	struct result res;
	/* as mail.ru does: two details of 1 session, a summary of 1 */
	expect_ok(HEAD
	          "\"policies\":[{\"failure-details\":[{\"failed-session-count\":1},"
	          "{\"failed-session-count\":1}],\"policy\":{\"policy-type\":\"sts\"},"
	          "\"summary\":{\"total-failure-session-count\":1,"
	          "\"total-successful-session-count\":0}},"
	          "{\"failure-details\":[{\"failed-session-count\":4}],\"summary\":"
	          "{\"total-failure-session-count\":4,\"total-successful-session-count\":0}}]}",
	          &res);
	assert_has(res.g.log, "P0 sts dom=- mx=- ps=- s=0 f=1\n");
	assert_has(res.summary, "nfd=3 s=0 f=5");
	assert_has(res.summary, "W: 1 polic(ies) whose summary failure count differs from their "
	                        "failure details (first: policy 0: summary 1, details 2)");
	result_free(&res);
}

static void
test_duplicates(void **state)
{
	expect_bad(HEAD "\"report-id\":\"r-2\",\"policies\":[]}", DM_EFORMAT,
	           "duplicate key \"report-id\"");
	expect_bad(HEAD "\"policies\":[],\"policies\":[]}", DM_EFORMAT,
	           "duplicate key \"policies\"");
	expect_bad(HEAD "\"policies\":[{\"failure-details\":[{\"failed-session-count\":1,"
	                "\"failed-session-count\":2}]}]}",
	           DM_EFORMAT, "duplicate key \"failed-session-count\"");
	expect_bad("{\"date-range\":{\"start-datetime\":\"2024-01-09\",\"start-datetime\":"
	           "\"2024-01-10\"}}",
	           DM_EFORMAT, "duplicate key \"start-datetime\"");
	expect_bad(HEAD "\"policies\":[{\"summary\":{},\"summary\":{}}]}", DM_EFORMAT,
	           "duplicate key \"summary\"");
	/* the same key in two objects is no duplicate; unknown keys are skipped */
	struct result res;
	expect_ok(
	        HEAD "\"policies\":[" POLICY("\"policy-type\":\"sts\"") "," POLICY(
	                "\"policy-type\":\"sts\"") "],\"x-ext\":1,\"x-ext\":{\"a\":[1,{\"b\":2}]}}",
	        &res);
	assert_int_equal(res.g.npol, 2);
	result_free(&res);
}

static void
test_required_and_optional(void **state)
{
	static const char *const dates =
	        "\"date-range\":{\"start-datetime\":\"2024-01-09T00:00:00Z\","
	        "\"end-datetime\":\"2024-01-09T23:59:59Z\"}";
	char doc[1024];
	snprintf(doc, sizeof doc, "{\"organization-name\":\"O\",%s,\"policies\":[]}", dates);
	expect_bad(doc, DM_EFORMAT, "no report-id");
	snprintf(doc, sizeof doc,
	         "{\"report-id\":\"  \",\"organization-name\":\"O\",%s,"
	         "\"policies\":[]}",
	         dates);
	expect_bad(doc, DM_EFORMAT, "no report-id");
	snprintf(doc, sizeof doc, "{\"report-id\":\"i\",%s,\"policies\":[]}", dates);
	expect_bad(doc, DM_EFORMAT, "no organization-name");
	snprintf(doc, sizeof doc,
	         "{\"report-id\":\"i\",\"organization-name\":5,%s,\"policies\":[]}", dates);
	expect_bad(doc, DM_EFORMAT, "no organization-name");
	expect_bad("{\"report-id\":\"i\",\"organization-name\":\"O\",\"policies\":[]}", DM_EFORMAT,
	           "no date-range");
	expect_bad("{\"report-id\":\"i\",\"organization-name\":\"O\",\"policies\":[],"
	           "\"date-range\":{\"end-datetime\":\"2024-01-09T23:59:59Z\"}}",
	           DM_EFORMAT, "no date-range start-datetime");
	expect_bad("{\"report-id\":\"i\",\"organization-name\":\"O\",\"policies\":[],"
	           "\"date-range\":{\"start-datetime\":\"2024-01-09T23:59:59Z\"}}",
	           DM_EFORMAT, "no date-range end-datetime");
	snprintf(doc, sizeof doc, "{\"report-id\":\"i\",\"organization-name\":\"O\",%s}", dates);
	expect_bad(doc, DM_EFORMAT, "no policies");
	snprintf(doc, sizeof doc,
	         "{\"report-id\":\"i\",\"organization-name\":\"O\",%s,"
	         "\"policies\":null}",
	         dates);
	expect_bad(doc, DM_EFORMAT, "no policies");

	/* an empty list of policies and no contact-info: warnings */
	struct result res;
	snprintf(doc, sizeof doc,
	         "{\"report-id\":\" id \\t\",\"organization-name\":\" O \",%s,\"policies\":[]}",
	         dates);
	expect_ok(doc, &res);
	assert_has(res.summary, "org=O id=id contact=- ");
	assert_has(res.summary, "W: no contact-info\n");
	assert_has(res.summary, "W: empty policies list\n");
	assert_int_equal(res.g.npol, 0);
	result_free(&res);
}

static void
test_structure(void **state)
{
	expect_bad("[]", DM_EFORMAT, "the top level is an array, not an object");
	expect_bad("\"report\"", DM_EFORMAT, "the top level is a string, not an object");
	expect_bad("42", DM_EFORMAT, "the top level is a number");
	expect_bad(HEAD "\"policies\":{}}", DM_EFORMAT, "policies is an object, not an array");
	expect_bad(HEAD "\"policies\":[1]}", DM_EFORMAT, "policies[0] is a number, not an object");
	expect_bad(HEAD "\"policies\":[{},[]]}", DM_EFORMAT, "policies[1] is an array");
	expect_bad(HEAD "\"policies\":[{\"failure-details\":{}}]}", DM_EFORMAT,
	           "failure-details is an object, not an array");
	expect_bad(HEAD "\"policies\":[{\"failure-details\":[\"x\"]}]}", DM_EFORMAT,
	           "failure-details[0] is a string");
	expect_bad(HEAD "\"policies\":[{\"policy\":\"sts\"}]}", DM_EFORMAT,
	           "policy is a string, not an object");
	expect_bad("{\"date-range\":\"2024\"}", DM_EFORMAT, "date-range is a string");
	expect_bad(HEAD "\"policies\":[]} x", DM_EFORMAT, "after the end of the document");
	expect_bad(HEAD "\"policies\":[]", DM_ETRUNC, "document ends early");
	expect_bad("", DM_EFORMAT, "empty document");

	struct result res;
	/* a string field of another type: ignored with a warning */
	expect_ok(HEAD "\"policies\":[{\"failure-details\":[{\"receiving-mx-helo\":[\"a\"]}]}]}",
	          &res);
	assert_has(res.summary, "W: receiving-mx-helo is an array, not a string: ignored");
	assert_has(res.g.log, "helo=- ");
	result_free(&res);
}

static void
test_is_tlsrpt(void **state)
{
	struct result res;
	parse3("{\"feedback\":1}", 14, &res);
	assert_false(res.is_tlsrpt);
	assert_int_equal(res.rc, DM_EFORMAT);
	result_free(&res);
	parse3("<feedback>", 10, &res);
	assert_false(res.is_tlsrpt);
	result_free(&res);
	/* a broken TLS report is still one */
	static const char broken[] = "{\"x\":0,\"policies\":[{\"summary\":{\"total-failure-"
	                             "session-count\":-1}}]}";
	parse3(broken, sizeof broken - 1, &res);
	assert_true(res.is_tlsrpt);
	assert_int_equal(res.rc, DM_EFORMAT);
	result_free(&res);
	parse3("{\"contact-info\":\"a\"", 19, &res);
	assert_true(res.is_tlsrpt);
	assert_int_equal(res.rc, DM_ETRUNC);
	result_free(&res);
}

static void
test_hostile_json(void **state)
{
	/* a depth bomb inside a report */
	size_t n = 100000;
	char *doc = malloc(n + 64);
	int h = snprintf(doc, 64, "{\"policies\":[{\"x\":");
	memset(doc + h, '[', n);
	struct result res;
	parse3(doc, (size_t)h + n, &res);
	assert_int_equal(res.rc, DM_ELIMIT);
	assert_has(res.error, "nesting deeper than 32");
	result_free(&res);
	free(doc);

	expect_bad(HEAD "\"policies\":[],\"z\":\"\\ud800\"}", DM_EFORMAT, "lone surrogate");
	expect_bad(HEAD "\"policies\":[],\"z\":\"\\udc00\\ud800\"}", DM_EFORMAT, "lone surrogate");
	expect_bad(HEAD "\"policies\":[],\"z\":\"\xc0\xaf\"}", DM_EFORMAT, "invalid UTF-8");
	expect_bad(HEAD "\"policies\":[],\"z\":\"\xed\xa0\x80\"}", DM_EFORMAT, "invalid UTF-8");
	/* U+0000 inside a kept string would cut it short: refused */
	expect_bad("{\"report-id\":\"a\\u0000b\"}", DM_EFORMAT, "report-id contains U+0000");
	/* ... but is harmless in an unknown member */
	struct result ok;
	expect_ok(HEAD "\"policies\":[],\"z\":\"a\\u0000b\"}", &ok);
	result_free(&ok);
	/* the BOM is skipped; not twice */
	expect_ok("\xef\xbb\xbf" HEAD "\"policies\":[]}", &ok);
	result_free(&ok);
	expect_bad("\xef\xbb\xbf\xef\xbb\xbf" HEAD "\"policies\":[]}", DM_EFORMAT, "byte 3");
	/* report-id over DM_MAX_ID_LEN */
	char big[4096];
	int m = snprintf(big, sizeof big, "{\"report-id\":\"");
	memset(big + m, 'x', DM_MAX_ID_LEN + 1);
	snprintf(big + m + DM_MAX_ID_LEN + 1, 16, "\"}");
	expect_bad(big, DM_ELIMIT, "report-id longer than 1024 bytes");
}

/* Document size, policies and failure details over their limits. */
static void
test_limits(void **state)
{
	/* 64 MiB and one byte: refused before parsing the byte */
	struct tls_parser *p = tls_parser_new(NULL, NULL, NULL);
	size_t chunk = 1024 * 1024;
	char *ws = malloc(chunk);
	memset(ws, ' ', chunk);
	assert_int_equal(tls_parser_feed(p, "{", 1), 0);
	int rc = 0;
	for (size_t sent = 1; rc == 0 && sent < DM_TLS_MAX_BYTES; sent += chunk)
		rc = tls_parser_feed(
		        p, ws, sent + chunk <= DM_TLS_MAX_BYTES ? chunk : DM_TLS_MAX_BYTES - sent);
	assert_int_equal(rc, 0);
	assert_int_equal(tls_parser_feed(p, "}", 1), DM_ELIMIT);
	assert_has(tls_parser_error(p), "document larger than 67108864 bytes");
	assert_int_equal(tls_parser_finish(p), DM_ELIMIT);
	free(ws);

	/* policies: DM_TLS_MAX_POLICIES pass, one more is refused */
	tls_parser_reset(p);
	assert_string_equal(tls_parser_error(p), "");
	assert_int_equal(tls_parser_feed(p, HEAD "\"policies\":[{}", strlen(HEAD) + 14), 0);
	for (int i = 1; i < DM_TLS_MAX_POLICIES; i++)
		assert_int_equal(tls_parser_feed(p, ",{}", 3), 0);
	assert_int_equal(tls_parser_report(p)->npolicies, DM_TLS_MAX_POLICIES);
	assert_int_equal(tls_parser_feed(p, ",{}", 3), DM_ELIMIT);
	assert_has(tls_parser_error(p), "more than 10000 policies");

	/* failure details: DM_TLS_MAX_FAILURES pass, one more is refused */
	tls_parser_reset(p);
	static const char head[] = HEAD "\"policies\":[{\"failure-details\":[{}";
	assert_int_equal(tls_parser_feed(p, head, sizeof head - 1), 0);
	char *many = malloc(3 * 1000);
	for (int i = 0; i < 1000; i++)
		memcpy(many + 3 * i, ",{}", 3);
	rc = 0;
	for (int i = 0; rc == 0 && i < DM_TLS_MAX_FAILURES / 1000; i++)
		rc = tls_parser_feed(p, many, i == 0 ? 3 * 999 : 3 * 1000);
	assert_int_equal(rc, 0);
	assert_int_equal(tls_parser_report(p)->failure_details, DM_TLS_MAX_FAILURES);
	assert_int_equal(tls_parser_feed(p, ",{}", 3), DM_ELIMIT);
	assert_has(tls_parser_error(p), "more than 1000000 failure details");
	free(many);

	/* and the parser is reusable */
	tls_parser_reset(p);
	assert_int_equal(tls_parser_feed(p, example, sizeof example - 1), 0);
	assert_int_equal(tls_parser_finish(p), 0);
	assert_string_equal(tls_parser_report(p)->report_id, "2023-05-01T00:00:00Z_rcpt.example");
	assert_int_equal(tls_parser_report(p)->npolicies, 2);
	tls_parser_free(p);
	tls_parser_free(NULL);
}

static void
test_callback_aborts(void **state)
{
	struct result res;
	parse_with(example, sizeof example - 1, 5, 0, 2, &res);
	assert_int_equal(res.rc, DM_ESTORE);
	assert_has(res.error, "failure detail of policy 0:");
	assert_int_equal(res.g.nfail, 2);
	assert_int_equal(res.g.npol, 0);
	result_free(&res);
	parse_with(example, sizeof example - 1, 5, 0, 3, &res);
	assert_int_equal(res.rc, DM_ESTORE);
	assert_has(res.error, "policy 0:");
	assert_int_equal(res.g.npol, 1);
	result_free(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_example_every_chunking),
	        cmocka_unit_test(test_keys_reversed),
	        cmocka_unit_test(test_mx_host_forms),
	        cmocka_unit_test(test_policy_string),
	        cmocka_unit_test(test_ips),
	        cmocka_unit_test(test_failure_fields_and_case),
	        cmocka_unit_test(test_dates),
	        cmocka_unit_test(test_counts),
	        cmocka_unit_test(test_summary_differs_from_details),
	        cmocka_unit_test(test_duplicates),
	        cmocka_unit_test(test_required_and_optional),
	        cmocka_unit_test(test_structure),
	        cmocka_unit_test(test_is_tlsrpt),
	        cmocka_unit_test(test_hostile_json),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_callback_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
