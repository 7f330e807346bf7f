/*
 * test_aggregate.c - the aggregate XML parser on reports written here.
 *
 * Each test parses an inline document (fed in small chunks, so every
 * boundary case of the streaming parser is exercised) and asserts on the
 * records and metadata that come out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/aggregate.h"

#define MAXREC 8

struct got {
	int n;
	char ip[MAXREC][64];
	int family[MAXREC];
	int64_t count[MAXREC];
	char disp[MAXREC][16];
	char dkim[MAXREC][16];
	char spf[MAXREC][16];
	unsigned ndkim[MAXREC], nspf[MAXREC], nreasons[MAXREC];
	char dkim0_result[MAXREC][16];
	char spf0_result[MAXREC][16];
	char header_from[MAXREC][64];
	int stop_after;
};

static void
cp(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "(null)");
}

static int
on_record(void *arg, struct dm_report *rep, const struct dm_record *rec)
{
	struct got *g = arg;
	if (g->n < MAXREC) {
		int i = g->n;
		cp(g->ip[i], sizeof g->ip[i], rec->ip_text);
		g->family[i] = rec->ip_family;
		g->count[i] = rec->count;
		cp(g->disp[i], sizeof g->disp[i], rec->disposition);
		cp(g->dkim[i], sizeof g->dkim[i], rec->dkim);
		cp(g->spf[i], sizeof g->spf[i], rec->spf);
		g->ndkim[i] = rec->ndkim;
		g->nspf[i] = rec->nspf;
		g->nreasons[i] = rec->nreasons;
		cp(g->dkim0_result[i], 16, rec->ndkim ? rec->dkim_res[0].result : NULL);
		cp(g->spf0_result[i], 16, rec->nspf ? rec->spf_res[0].result : NULL);
		cp(g->header_from[i], 64, rec->header_from);
	}
	g->n++;
	if (g->stop_after && g->n >= g->stop_after)
		return DM_ESTOP;
	return 0;
}

/* Parse doc (len bytes) in chunks of `chunk`; returns rc of finish. */
static int
parse(const char *doc, size_t len, size_t chunk, struct got *g, struct agg_parser **out)
{
	struct agg_parser *p = agg_parser_new(on_record, g);
	int rc = 0;
	for (size_t off = 0; off < len && rc == 0; off += chunk)
		rc = agg_parser_feed(p, doc + off, len - off < chunk ? len - off : chunk);
	if (rc == 0)
		rc = agg_parser_finish(p);
	*out = p;
	return rc;
}

#define META                                                                                      \
	"<report_metadata><org_name>Org</org_name><email>a@org.example</email>"                   \
	"<report_id>r1</report_id><date_range><begin>1700000000</begin><end>1700086399</end>"     \
	"</date_range></report_metadata>"
#define POL "<policy_published><domain>Example.COM.</domain><p>none</p></policy_published>"
#define REC(ip, count)                                                                            \
	"<record><row><source_ip>" ip "</source_ip><count>" count "</count><policy_evaluated>"   \
	"<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>" \
	"<identifiers><header_from>example.com</header_from></identifiers>"                       \
	"<auth_results><dkim><domain>example.com</domain><result>pass</result></dkim>"            \
	"<spf><domain>example.com</domain><result>fail</result></spf></auth_results></record>"

static void
test_basic_every_chunk_size(void **state)
{
	static const char doc[] = "<?xml version=\"1.0\"?>\n<feedback>" META POL REC("192.0.2.1", "7")
		REC("2001:DB8:0:0:0:0:0:1", "3") "</feedback>\n";
	for (size_t chunk = 1; chunk < 40; chunk += 3) {
		struct got g = {0};
		struct agg_parser *p;
		assert_int_equal(parse(doc, sizeof doc - 1, chunk, &g, &p), 0);
		struct dm_report *r = agg_parser_report(p);
		assert_string_equal(r->org_name, "Org");
		assert_string_equal(r->report_id, "r1");
		assert_string_equal(r->policy.domain, "example.com"); /* lower case, no dot */
		assert_int_equal(r->begin, 1700000000);
		assert_int_equal(r->end, 1700086399);
		assert_int_equal(r->records, 2);
		assert_int_equal(r->messages, 10);
		assert_int_equal(g.n, 2);
		assert_string_equal(g.ip[0], "192.0.2.1");
		assert_int_equal(g.family[0], 4);
		assert_string_equal(g.ip[1], "2001:db8::1"); /* RFC 5952 form */
		assert_int_equal(g.family[1], 6);
		assert_string_equal(g.dkim[0], "pass");
		assert_string_equal(g.spf[0], "fail");
		agg_parser_free(p);
	}
}

static void
test_namespaces_and_bis(void **state)
{
	static const char bis[] =
		"<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">" META
		"<policy_published><domain>example.com</domain><p>reject</p><np>quarantine</np>"
		"<testing>y</testing><discovery_method>treewalk</discovery_method></policy_published>"
		REC("198.51.100.2", "1") "</feedback>";
	static const char prefixed[] = "<d:feedback xmlns:d=\"http://dmarc.org/dmarc-xml/0.2\">"
				       "<d:report_metadata><d:org_name>P</d:org_name><d:report_id>x"
				       "</d:report_id><d:date_range><d:begin>5</d:begin><d:end>6"
				       "</d:end></d:date_range></d:report_metadata>"
				       "<d:policy_published><d:domain>ex.org</d:domain>"
				       "</d:policy_published><d:record><d:row><d:source_ip>192.0.2.9"
				       "</d:source_ip><d:count>4</d:count></d:row></d:record>"
				       "</d:feedback>";
	struct got g = {0};
	struct agg_parser *p;
	assert_int_equal(parse(bis, sizeof bis - 1, 7, &g, &p), 0);
	struct dm_report *r = agg_parser_report(p);
	assert_true(r->bis);
	assert_string_equal(r->xmlns, "urn:ietf:params:xml:ns:dmarc-2.0");
	assert_string_equal(r->policy.np, "quarantine");
	assert_string_equal(r->policy.testing, "y");
	assert_string_equal(r->policy.discovery_method, "treewalk");
	agg_parser_free(p);

	memset(&g, 0, sizeof g);
	assert_int_equal(parse(prefixed, sizeof prefixed - 1, 1000, &g, &p), 0);
	r = agg_parser_report(p);
	assert_string_equal(r->xmlns, "http://dmarc.org/dmarc-xml/0.2");
	assert_int_equal(r->messages, 4);
	assert_int_equal(g.n, 1);
	agg_parser_free(p);
}

/* A mistyped default namespace on <feedback> is the report's own; a
 * foreign namespace inside it is still skipped. */
static void
test_unknown_root_namespace(void **state)
{
	static const char doc[] =
		"<feedback xmlns=\"http//dmarc.org/dmarc-xml/0.1\">" META POL
		"<record><row><source_ip>192.0.2.7</source_ip><count>3</count>"
		"<x:count xmlns:x=\"urn:example:ext\">900</x:count></row></record>"
		"<x:record xmlns:x=\"urn:example:ext\"><row><source_ip>192.0.2.8</source_ip>"
		"<count>50</count></row></x:record></feedback>";
	struct got g = {0};
	struct agg_parser *p;
	for (size_t chunk = 1; chunk <= sizeof doc; chunk *= 3) {
		memset(&g, 0, sizeof g);
		assert_int_equal(parse(doc, sizeof doc - 1, chunk, &g, &p), 0);
		struct dm_report *r = agg_parser_report(p);
		assert_string_equal(r->xmlns, "http//dmarc.org/dmarc-xml/0.1");
		assert_string_equal(r->org_name, "Org");
		assert_string_equal(r->policy.domain, "example.com");
		assert_int_equal(r->records, 1);
		assert_int_equal(r->messages, 3);
		assert_int_equal(g.n, 1);
		assert_string_equal(g.ip[0], "192.0.2.7");
		assert_true(r->nwarnings >= 1);
		assert_non_null(strstr(r->warnings[0], "unknown namespace"));
		agg_parser_free(p);
	}
}

static void
test_any_order_and_late_metadata(void **state)
{
	static const char doc[] = "<feedback>" REC("192.0.2.1", "2") POL
		"<report_metadata><date_range><end>1700086399</end><begin>1700000000</begin>"
		"</date_range><report_id>late</report_id><org_name>L</org_name></report_metadata>"
		"</feedback>";
	struct got g = {0};
	struct agg_parser *p;
	assert_int_equal(parse(doc, sizeof doc - 1, 5, &g, &p), 0);
	struct dm_report *r = agg_parser_report(p);
	assert_string_equal(r->report_id, "late");
	assert_int_equal(r->begin, 1700000000);
	assert_int_equal(g.n, 1);
	agg_parser_free(p);
}

static void
test_bad_counts_and_ips(void **state)
{
	static const char doc[] = "<feedback>" META POL REC("192.0.2.1", "-5") REC("192.0.2.2", "1.0")
		REC("192.0.2.3", "abc") REC("nonsense", "4") REC("", "5")
		REC("010.001.002.003", "6") REC(" 192.0.2.7 (mail.example)", " 7 ")
		REC("::ffff:192.0.2.8", "8") "</feedback>";
	struct got g = {0};
	struct agg_parser *p;
	assert_int_equal(parse(doc, sizeof doc - 1, 64, &g, &p), 0);
	struct dm_report *r = agg_parser_report(p);
	assert_int_equal(r->skipped, 3);
	assert_int_equal(r->records, 5);
	assert_int_equal(r->messages, 4 + 5 + 6 + 7 + 8);
	assert_int_equal(g.family[0], 0); /* "nonsense": kept without IP */
	assert_string_equal(g.ip[0], "");
	assert_int_equal(g.family[1], 0); /* empty */
	assert_int_equal(g.family[2], 0); /* leading zeros are not an IPv4 address */
	assert_string_equal(g.ip[3], "192.0.2.7");
	assert_string_equal(g.ip[4], "192.0.2.8"); /* IPv4-mapped shown as IPv4 */
	assert_int_equal(g.family[4], 4);
	assert_true(r->nwarnings >= 4);
	int saw_negative = 0;
	for (unsigned i = 0; i < r->nwarnings; i++)
		if (strstr(r->warnings[i], "invalid count '-5'"))
			saw_negative = 1;
	assert_true(saw_negative);
	agg_parser_free(p);
}

static void
test_enums_aliases_and_multiple_results(void **state)
{
	static const char doc[] =
		"<feedback>" META POL
		"<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>"
		"<disposition> Quarantine </disposition><dkim>PASS</dkim><spf>Fail</spf>"
		"<reason><type/></reason><reason><type>local_policy</type><comment>c</comment></reason>"
		"</policy_evaluated></row><identifiers><header_from>A.Example</header_from>"
		"</identifiers><auth_results>"
		"<dkim><domain>a.example</domain><selector>s1</selector><result>pass</result></dkim>"
		"<dkim><domain>b.example</domain><result>fail</result></dkim>"
		"<dkim><domain>c.example</domain><result>Neutral</result></dkim>"
		"<spf><domain>a.example</domain><scope>mfrom</scope><result>hardfail</result></spf>"
		"<spf><domain>a.example</domain><scope>helo</scope><result>unknown</result></spf>"
		"</auth_results></record></feedback>";
	struct got g = {0};
	struct agg_parser *p;
	assert_int_equal(parse(doc, sizeof doc - 1, 3, &g, &p), 0);
	assert_string_equal(g.disp[0], "quarantine");
	assert_string_equal(g.dkim[0], "pass");
	assert_string_equal(g.spf[0], "fail");
	assert_int_equal(g.ndkim[0], 3);
	assert_int_equal(g.nspf[0], 2);
	assert_int_equal(g.nreasons[0], 2);
	assert_string_equal(g.spf0_result[0], "fail"); /* hardfail read as fail */
	assert_string_equal(g.header_from[0], "a.example");
	agg_parser_free(p);
}

static void
test_encodings_bom_and_whitespace(void **state)
{
	/* BOM, blank lines before the declaration, windows-1252 bytes */
	static const char doc[] = "\xef\xbb\xbf \r\n\r\n<?xml version=\"1.0\" encoding=\"windows-1252\"?>"
				  "\r\n<feedback><report_metadata><org_name>Caf\xe9 \x93Q\x94</org_name>"
				  "<report_id>w</report_id><date_range><begin>1700000000.0</begin>"
				  "<end>1700086399000</end></date_range></report_metadata>" POL
					  REC("192.0.2.1", "1") "</feedback>";
	struct got g = {0};
	struct agg_parser *p;
	assert_int_equal(parse(doc, sizeof doc - 1, 2, &g, &p), 0);
	struct dm_report *r = agg_parser_report(p);
	assert_string_equal(r->org_name, "Caf\xc3\xa9 \xe2\x80\x9cQ\xe2\x80\x9d");
	assert_int_equal(r->begin, 1700000000);
	assert_int_equal(r->end, 1700086399); /* milliseconds divided */
	agg_parser_free(p);
}

static void
test_rejections(void **state)
{
	static const struct {
		const char *doc;
		const char *reason;
	} cases[] = {
		{"<!DOCTYPE feedback [<!ENTITY a \"b\">]><feedback/>", "DOCTYPE"},
		{"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
		 "\"&lol;&lol;&lol;\">]><feedback>&lol2;</feedback>",
		 "DOCTYPE"},
		{"<html><body>hi</body></html>", "not a DMARC aggregate report"},
		{"<feedback>" META POL "</feedback>", "no <record>"},
		{"<feedback>" POL REC("192.0.2.1", "1") "</feedback>", "no <report_metadata>"},
		{"<feedback>" META REC("192.0.2.1", "1") "</feedback>", "no <policy_published>"},
		{"<feedback><report_metadata><date_range><begin>9</begin><end>3</end></date_range>"
		 "</report_metadata>" POL REC("192.0.2.1", "1") "</feedback>",
		 "before begin"},
		{"<feedback>" META POL REC("192.0.2.1", "1"), "ends before"},
		{"<feedback><report_metadata><email><bad@x></email></report_metadata></feedback>",
		 "not well-formed"},
		{"", "empty"},
		{"<feedback><report_metadata><date_range><begin>x</begin></date_range>"
		 "</report_metadata></feedback>",
		 "invalid date_range begin"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct got g = {0};
		struct agg_parser *p;
		int rc = parse(cases[i].doc, strlen(cases[i].doc), 11, &g, &p);
		assert_true(rc < 0);
		if (!strstr(agg_parser_error(p), cases[i].reason))
			fail_msg("case %zu: '%s' does not mention '%s'", i, agg_parser_error(p),
				 cases[i].reason);
		agg_parser_free(p);
	}
}

static void
test_limits(void **state)
{
	/* depth */
	char *deep = malloc(200000);
	size_t n = 0;
	n += (size_t)sprintf(deep + n, "<feedback>");
	for (int i = 0; i < 5000; i++)
		n += (size_t)sprintf(deep + n, "<a>");
	struct got g = {0};
	struct agg_parser *p;
	assert_true(parse(deep, n, 4096, &g, &p) < 0);
	assert_non_null(strstr(agg_parser_error(p), "nested deeper"));
	agg_parser_free(p);

	/* a field longer than its limit (org_name is an identifier: 1 KiB) */
	n = 0;
	n += (size_t)sprintf(deep + n, "<feedback><report_metadata><org_name>");
	memset(deep + n, 'x', 70000);
	n += 70000;
	n += (size_t)sprintf(deep + n, "</org_name></report_metadata></feedback>");
	memset(&g, 0, sizeof g);
	assert_true(parse(deep, n, 1000, &g, &p) < 0);
	assert_non_null(strstr(agg_parser_error(p), "org_name"));
	agg_parser_free(p);

	/* a huge attribute hits expat's memory cap, not our RAM */
	size_t big = 20 * 1024 * 1024;
	char *attr = malloc(big + 100);
	n = (size_t)sprintf(attr, "<feedback a=\"");
	memset(attr + n, 'y', big);
	n += big;
	n += (size_t)sprintf(attr + n, "\"/>");
	memset(&g, 0, sizeof g);
	assert_true(parse(attr, n, 65536, &g, &p) < 0);
	assert_non_null(strstr(agg_parser_error(p), "memory limit"));
	agg_parser_free(p);
	free(attr);
	free(deep);
}

static void
test_count_sum_overflow(void **state)
{
	static const char doc[] = "<feedback>" META POL REC("192.0.2.1", "9223372036854775807")
		REC("192.0.2.2", "1") "</feedback>";
	struct got g = {0};
	struct agg_parser *p;
	assert_true(parse(doc, sizeof doc - 1, 100, &g, &p) < 0);
	assert_non_null(strstr(agg_parser_error(p), "sum of record counts"));
	agg_parser_free(p);
}

static void
test_estop_keeps_counting(void **state)
{
	static const char doc[] = "<feedback>" META POL REC("192.0.2.1", "1") REC("192.0.2.2", "2")
		REC("192.0.2.3", "3") "</feedback>";
	struct got g = {.stop_after = 1};
	struct agg_parser *p;
	assert_int_equal(parse(doc, sizeof doc - 1, 50, &g, &p), 0);
	assert_int_equal(g.n, 1); /* no callback after DM_ESTOP */
	assert_int_equal(agg_parser_report(p)->records, 3);
	assert_int_equal(agg_parser_report(p)->messages, 6);
	agg_parser_free(p);
}

static void
test_trailing_bytes_and_cdata(void **state)
{
	static const char doc[] = "<feedback>" META
		"<policy_published><domain>example.com</domain><p><![CDATA[re]]><!--x-->ject</p>"
		"</policy_published>11" REC("192.0.2.1", "1") "</feedback>\r\n\0\0garbage";
	struct got g = {0};
	struct agg_parser *p;
	assert_int_equal(parse(doc, sizeof doc - 1, 9, &g, &p), 0);
	assert_string_equal(agg_parser_report(p)->policy.p, "reject");
	agg_parser_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_every_chunk_size),
		cmocka_unit_test(test_namespaces_and_bis),
		cmocka_unit_test(test_unknown_root_namespace),
		cmocka_unit_test(test_any_order_and_late_metadata),
		cmocka_unit_test(test_bad_counts_and_ips),
		cmocka_unit_test(test_enums_aliases_and_multiple_results),
		cmocka_unit_test(test_encodings_bom_and_whitespace),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_estop_keeps_counting),
		cmocka_unit_test(test_count_sum_overflow),
		cmocka_unit_test(test_trailing_bytes_and_cdata),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
