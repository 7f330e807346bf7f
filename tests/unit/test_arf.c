/*
 * test_arf.c - failure reports: ARF fields, the plain-text form, the
 * original headers and their redaction, dates, the sniffer, the limits.
 *
 * Every fixture is written here; none comes from the shared corpus.
 */

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/limits.h"
#include "parse/arf.h"

static const unsigned char key[] = "test-installation-key";
#define KEYLEN (sizeof key - 1)

static int
has_warning(const struct dm_failure_report *r, const char *needle)
{
	for (unsigned i = 0; i < r->nwarnings; i++)
		if (strstr(r->warnings[i], needle))
			return 1;
	return 0;
}

static void
dump_warnings(const struct dm_failure_report *r)
{
	for (unsigned i = 0; i < r->nwarnings; i++)
		print_message("  warning: %s\n", r->warnings[i]);
}

#define ASSERT_WARNING(r, s)                                                                       \
	do {                                                                                       \
		if (!has_warning(r, s))                                                            \
			dump_warnings(r);                                                          \
		assert_true(has_warning(r, s));                                                    \
	} while (0)

/* Parse a literal feedback-report part into r (initialised here). */
static int
fields(struct dm_failure_report *r, const char *text)
{
	dm_failure_init(r);
	return arf_parse_fields(r, text, strlen(text));
}

/* The token the redaction must give for an address (lower-cased). */
static void
token(const char *addr, char out[16])
{
	unsigned char mac[DM_SHA256_LEN];
	dm_hmac_sha256(key, KEYLEN, addr, strlen(addr), mac);
	snprintf(out, 16, "h-%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3]);
}

/* ---- ARF fields ------------------------------------------------------ */

static const char complete[] = "Feedback-Type: auth-failure\n"
                               "User-Agent: ExampleReporter/2.1\n"
                               "Version: 1\n"
                               "Original-Envelope-Id: 4Zq9Q2kx1z\n"
                               "Original-Mail-From: <bounce@mail.example.net>\n"
                               "Original-Rcpt-To: <alice@example.org>\n"
                               "Arrival-Date: Mon, 01 Oct 2018 11:20:27 +0200\n"
                               "Reporting-MTA: dns; mx1.example.org\n"
                               "Source-IP: 192.0.2.25\n"
                               "Incidents: 3\n"
                               "Authentication-Results: mx1.example.org; dmarc=fail "
                               "header.from=example.com\n"
                               "Reported-Domain: Example.COM\n"
                               "Auth-Failure: dmarc\n"
                               "Delivery-Result: reject\n"
                               "Identity-Alignment: none\n";

static void
test_fields_complete(void **state)
{
	(void)state;
	struct dm_failure_report r;
	assert_int_equal(fields(&r, complete), 0);
	dump_warnings(&r);
	assert_int_equal(r.nwarnings, 0);
	assert_null(r.error);
	assert_int_equal(r.is_arf, 1);
	assert_string_equal(r.feedback_type, "auth-failure");
	assert_string_equal(r.user_agent, "ExampleReporter/2.1");
	assert_string_equal(r.version, "1");
	assert_string_equal(r.original_envelope_id, "4Zq9Q2kx1z");
	assert_string_equal(r.original_mail_from, "bounce@mail.example.net");
	assert_string_equal(r.original_rcpt_to, "alice@example.org");
	assert_int_equal(r.rcpt_to_count, 1);
	assert_int_equal(r.have_arrival_date, 1);
	assert_int_equal(r.arrival_date, 1538385627);
	assert_string_equal(r.reporting_mta, "dns; mx1.example.org");
	assert_int_equal(r.source_ip_family, 4);
	assert_string_equal(r.source_ip_text, "192.0.2.25");
	assert_int_equal(r.source_ip[10], 0xff);
	assert_int_equal(r.source_ip[12], 192);
	assert_int_equal(r.incidents, 3);
	assert_string_equal(r.authentication_results,
	                    "mx1.example.org; dmarc=fail header.from=example.com");
	assert_string_equal(r.reported_domain, "example.com");
	assert_string_equal(r.auth_failure, "dmarc");
	assert_string_equal(r.delivery_result, "reject");
	assert_string_equal(r.identity_alignment, "none");
	assert_null(r.subject);
	dm_failure_free(&r);
}

static void
test_fields_syntax(void **state)
{
	(void)state;
	struct dm_failure_report r;
	/* CRLF, folded values, names in any case, comments in values */
	static const char text[] = "\r\n"
	                           "feedback-type: Auth-Failure (with a comment)\r\n"
	                           "USER-AGENT: Gen/1.0 (Linux; x86_64)\r\n"
	                           "version : 1\r\n"
	                           "Source-IP: 54.240.8.61 (a8-61.smtp-out.amazonses.com)\r\n"
	                           "Auth-Failure: Signature (bad (nested) comment)\r\n"
	                           "Authentication-Results: mx.example.org;\r\n"
	                           "\tdkim=fail header.d=example.com\r\n"
	                           "DKIM-Domain: (c) EXAMPLE.com\r\n"
	                           "DKIM-Identity: @Example.com\r\n"
	                           "DKIM-Selector:\r\n"
	                           " Sel1\r\n"
	                           "Reported-Domain: example.com.\r\n"
	                           "X-Extension: anything\r\n"
	                           "Reported-URI: http://example.com/\r\n";
	assert_int_equal(fields(&r, text), 0);
	dump_warnings(&r);
	assert_int_equal(r.nwarnings, 0);
	assert_string_equal(r.feedback_type, "auth-failure");
	assert_string_equal(r.user_agent, "Gen/1.0 (Linux; x86_64)"); /* kept as given */
	assert_string_equal(r.version, "1");
	assert_string_equal(r.source_ip_text, "54.240.8.61");
	assert_string_equal(r.auth_failure, "signature");
	assert_string_equal(r.authentication_results,
	                    "mx.example.org; dkim=fail header.d=example.com");
	assert_string_equal(r.dkim_domain, "example.com");
	assert_string_equal(r.dkim_identity, "@Example.com");
	assert_string_equal(r.dkim_selector, "sel1");
	assert_string_equal(r.reported_domain, "example.com");
	dm_failure_free(&r);
}

static void
test_fields_repeated(void **state)
{
	(void)state;
	struct dm_failure_report r;
	static const char text[] = "Feedback-Type: auth-failure\n"
	                           "Feedback-Type: abuse\n"
	                           "User-Agent: a\nVersion: 1\nAuth-Failure: dmarc\n"
	                           "Identity-Alignment: dkim\n"
	                           "Source-IP: 192.0.2.1\n"
	                           "Source-IP: 192.0.2.2\n"
	                           "Original-Rcpt-To: <one@example.org>\n"
	                           "Original-Rcpt-To: two@example.org\n"
	                           "Original-Rcpt-To: three@example.org\n"
	                           "Reported-Domain: first.example\n"
	                           "Reported-Domain: second.example\n"
	                           "Authentication-Results: a.example; dmarc=fail\n"
	                           "Authentication-Results: b.example; spf=fail\n";
	assert_int_equal(fields(&r, text), 0);
	assert_string_equal(r.feedback_type, "auth-failure");
	ASSERT_WARNING(&r, "repeated Feedback-Type field ignored");
	assert_string_equal(r.source_ip_text, "192.0.2.1");
	ASSERT_WARNING(&r, "repeated Source-IP field ignored");
	assert_string_equal(r.original_rcpt_to, "one@example.org");
	assert_int_equal(r.rcpt_to_count, 3);
	assert_string_equal(r.reported_domain, "first.example");
	assert_string_equal(r.authentication_results, "a.example; dmarc=fail\nb.example; spf=fail");
	assert_int_equal(r.nwarnings, 2);
	dm_failure_free(&r);
}

static void
test_fields_required(void **state)
{
	(void)state;
	struct dm_failure_report r;
	assert_int_equal(fields(&r, "User-Agent: x\nVersion: 1\n"), DM_EFORMAT);
	assert_string_equal(r.error, "no Feedback-Type field");
	assert_int_equal(r.is_arf, 0);
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: (only a comment)\n"), DM_EFORMAT);
	assert_string_equal(r.error, "empty Feedback-Type field");
	dm_failure_free(&r);
	assert_int_equal(fields(&r, ""), DM_EFORMAT);
	dm_failure_free(&r);

	/* Microsoft-like: three fields; the rest are warnings */
	assert_int_equal(fields(&r, "Feedback-Type: auth-failure\nSource-IP: 192.0.2.9\n"
	                            "Reported-Domain: example.com\n"),
	                 0);
	ASSERT_WARNING(&r, "no User-Agent field");
	ASSERT_WARNING(&r, "no Version field");
	ASSERT_WARNING(&r, "no Auth-Failure field");
	ASSERT_WARNING(&r, "no Authentication-Results field");
	assert_false(has_warning(&r, "no Reported-Domain"));
	dm_failure_free(&r);

	/* other feedback types need no auth-failure fields */
	assert_int_equal(fields(&r, "Feedback-Type: Abuse\nUser-Agent: x\nVersion: 1\n"), 0);
	assert_string_equal(r.feedback_type, "abuse");
	assert_int_equal(r.nwarnings, 0);
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: made-up\nUser-Agent: x\nVersion: 2\n"), 0);
	assert_string_equal(r.feedback_type, "made-up");
	ASSERT_WARNING(&r, "unknown Feedback-Type made-up");
	ASSERT_WARNING(&r, "Version 2 is not 1");
	dm_failure_free(&r);

	/* DKIM failures need DKIM-Domain/-Identity/-Selector, SPF ones SPF-DNS */
	assert_int_equal(fields(&r, "Feedback-Type: auth-failure\nAuth-Failure: bodyhash\n"
	                            "DKIM-Domain: example.com\n"),
	                 0);
	assert_false(has_warning(&r, "no DKIM-Domain"));
	ASSERT_WARNING(&r, "no DKIM-Identity field");
	ASSERT_WARNING(&r, "no DKIM-Selector field");
	ASSERT_WARNING(&r, "no Reported-Domain field");
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: auth-failure\nAuth-Failure: spf\n"), 0);
	ASSERT_WARNING(&r, "no SPF-DNS field");
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: auth-failure\nAuth-Failure: spf\n"
	                            "SPF-DNS: txt : example.com : \"v=spf1 -all\"\n"
	                            "SPF-DNS: txt : other.example : \"v=spf1 ~all\"\n"),
	                 0);
	assert_string_equal(r.spf_dns, "txt : example.com : \"v=spf1 -all\"");
	assert_false(has_warning(&r, "SPF-DNS"));
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: auth-failure\nAuth-Failure: dmarc\n"), 0);
	ASSERT_WARNING(&r, "no Identity-Alignment field");
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: auth-failure\nAuth-Failure: Frobnicate\n"), 0);
	assert_string_equal(r.auth_failure, "frobnicate");
	ASSERT_WARNING(&r, "unknown Auth-Failure frobnicate");
	dm_failure_free(&r);
}

static void
test_delivery_result(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want, *warning;
	} cases[] = {
	        {"delivered", "delivered", NULL},
	        {"Spam", "spam", NULL},
	        {"policy (quarantined)", "policy", NULL},
	        {"REJECT", "reject", NULL},
	        {"other", "other", NULL},
	        {"smg-policy-action", "policy", "non-standard Delivery-Result smg-policy-action"},
	        {"Accept", "delivered", "non-standard Delivery-Result accept"},
	        {"frobbed", "frobbed", "unknown Delivery-Result frobbed"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[256];
		snprintf(text, sizeof text,
		         "Feedback-Type: abuse\nUser-Agent: x\nVersion: 1\nDelivery-Result: %s\n",
		         cases[i].in);
		struct dm_failure_report r;
		assert_int_equal(fields(&r, text), 0);
		assert_string_equal(r.delivery_result, cases[i].want);
		if (cases[i].warning)
			ASSERT_WARNING(&r, cases[i].warning);
		else
			assert_int_equal(r.nwarnings, 0);
		dm_failure_free(&r);
	}
}

static void
test_identity_alignment(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want, *warning;
	} cases[] = {
	        {"none", "none", NULL},
	        {"dkim", "dkim", NULL},
	        {"SPF", "spf", NULL},
	        {"spf,dkim", "dkim,spf", NULL},
	        {"dkim , spf (both)", "dkim,spf", NULL},
	        {"dkim,dkim", "dkim", "names a method twice"},
	        {"none, spf", "spf", "none and methods"},
	        {"arc", NULL, "unknown Identity-Alignment method arc"},
	        {"", NULL, "names no method"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[256];
		snprintf(
		        text, sizeof text,
		        "Feedback-Type: abuse\nUser-Agent: x\nVersion: 1\nIdentity-Alignment: %s\n",
		        cases[i].in);
		struct dm_failure_report r;
		assert_int_equal(fields(&r, text), 0);
		if (cases[i].want)
			assert_string_equal(r.identity_alignment, cases[i].want);
		else
			assert_null(r.identity_alignment);
		if (cases[i].warning)
			ASSERT_WARNING(&r, cases[i].warning);
		else
			assert_int_equal(r.nwarnings, 0);
		dm_failure_free(&r);
	}
}

static void
test_source_ip(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
		int family;
	} cases[] = {
	        {"192.0.2.1", "192.0.2.1", 4},
	        {"2001:DB8:0:0::1", "2001:db8::1", 6},
	        {"[198.51.100.7]", "198.51.100.7", 4},
	        {"::ffff:203.0.113.68", "203.0.113.68", 4},
	        {"IPv6:2001:db8::2", "2001:db8::2", 6},
	        {"54.240.8.61 (a8-61.smtp-out.amazonses.com)", "54.240.8.61", 4},
	        {"(comment first) 192.0.2.3", "192.0.2.3", 4},
	        {"mail.example.com", "", 0},
	        {"192.0.2.300", "", 0},
	        {"", "", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[256];
		snprintf(text, sizeof text,
		         "Feedback-Type: abuse\nUser-Agent: x\nVersion: 1\nSource-IP: %s\n",
		         cases[i].in);
		struct dm_failure_report r;
		assert_int_equal(fields(&r, text), 0);
		assert_int_equal(r.source_ip_family, cases[i].family);
		assert_string_equal(r.source_ip_text, cases[i].want);
		if (!cases[i].family)
			ASSERT_WARNING(&r, "Source-IP is not an address");
		dm_failure_free(&r);
	}
}

static void
test_incidents_and_addresses(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int64_t want;
	} cases[] = {
	        {"1", 1},
	        {"4294967295", 4294967295LL},
	        {"4294967296", -1},
	        {"-1", -1},
	        {"12a", -1},
	        {"", -1},
	        {"99999999999999999999999", -1},
	        {"7 (seven)", 7},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[256];
		snprintf(text, sizeof text,
		         "Feedback-Type: abuse\nUser-Agent: x\nVersion: 1\nIncidents: %s\n",
		         cases[i].in);
		struct dm_failure_report r;
		assert_int_equal(fields(&r, text), 0);
		assert_int_equal(r.incidents, cases[i].want);
		if (cases[i].want < 0)
			ASSERT_WARNING(&r, "Incidents is not a 32-bit count");
		dm_failure_free(&r);
	}
	struct dm_failure_report r;
	/* the null sender: empty or <> */
	assert_int_equal(fields(&r, "Feedback-Type: abuse\nOriginal-Mail-From:\n"), 0);
	assert_string_equal(r.original_mail_from, "");
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: abuse\nOriginal-Mail-From: <>\n"), 0);
	assert_string_equal(r.original_mail_from, "");
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: abuse\nReported-Domain: bad domain!\n"
	                            "Reported-Domain: good.example\n"),
	                 0);
	/* the first valid one counts */
	assert_string_equal(r.reported_domain, "good.example");
	ASSERT_WARNING(&r, "Reported-Domain is not a domain name");
	dm_failure_free(&r);
}

/* ---- dates ------------------------------------------------------------ */

static void
test_dates(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int rc;
		int64_t want;
	} cases[] = {
	        {"Mon, 01 Oct 2018 11:20:27 +0200", 0, 1538385627},
	        {"01 Oct 2018 11:20:27 +0200", 0, 1538385627},
	        {"Mon 1 Oct 2018 09:20:27 GMT", 0, 1538385627},
	        {"Mon, 1 Oct 2018 09:20:27 UT", 0, 1538385627},
	        {"Monday, 1 October 2018 09:20:27 Z", 0, 1538385627},
	        {"1 Oct 18 11:20 EST", 0, 1538410800},
	        {"1 Oct 118 16:20 +0000", 0, 1538410800},
	        {"1 Oct 99 00:00 +0000", 0, 938736000},
	        {"Thu, 29 Feb 2024 23:59:60 -0130", 0, 1709256599},
	        {"Fri, 31 Dec 1999 23:59:59 PDT", 0, 946709999},
	        {"01 Jan 1970 00:00:00 -0000", 0, 0},
	        {"01 Jan 1970 00:00:00 A", 0, 0}, /* military zones read as -0000 */
	        {"(c) Mon, (x) 01 Oct 2018 (y) 11 : 20 : 27 (z) +0200 (CEST)", 0, 1538385627},
	        {"Fri, 28 Sep 2018 08:48:36.716 +0000 (UTC)", 0, 1538124516},
	        {"Mon, 01 Oct 2018 11:20:27 +0200 CEST", 0, 1538385627},
	        {"Mon, 01 Oct 2018 09:20:27", 1, 1538385627},
	        {"", -1, 0},
	        {"yesterday", -1, 0},
	        {"30 Feb 2020 00:00 +0000", -1, 0},
	        {"29 Feb 2100 00:00 +0000", -1, 0},
	        {"32 Jan 2020 00:00 +0000", -1, 0},
	        {"1 Jan 2020 24:00 +0000", -1, 0},
	        {"1 Jan 2020 23:60 +0000", -1, 0},
	        {"1 Jan 2020 23:59 +0099", -1, 0},
	        {"1 Jan 2020 23:59 +02", -1, 0},
	        {"1 Jan 2020 23:59 J", -1, 0},
	        {"1 Foo 2020 23:59 +0000", -1, 0},
	        {"1 Jan 20201 23:59 +0000", -1, 0},
	        {"1 Jan 1899 23:59 +0000", -1, 0},
	        {"123 Jan 2020 23:59 +0000", -1, 0},
	        {"1 Jan 2020 23:59 +0000 trailing words", 0, 1577923140},
	        {"1 Jan 2020 23:59 &", -1, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t t = -12345;
		int rc = arf_parse_date(cases[i].in, strlen(cases[i].in), &t);
		if (rc != cases[i].rc || (rc >= 0 && t != cases[i].want))
			print_error("%s: rc %d t %lld\n", cases[i].in, rc, (long long)t);
		assert_int_equal(rc, cases[i].rc);
		if (rc >= 0)
			assert_int_equal(t, cases[i].want);
	}
	/* NUL inside, and a value too long to be a date */
	int64_t t;
	/* a NUL is a space like any control byte */
	assert_int_equal(arf_parse_date("1 Jan 2020\0 23:59 +0000", 23, &t), 0);
	assert_int_equal(t, 1577923140);
	char big[600];
	memset(big, ' ', sizeof big);
	memcpy(big + 500, "1 Jan 2020 00:00 +0000", 22);
	assert_int_equal(arf_parse_date(big, sizeof big, &t), -1);
}

static void
test_arrival_date_fields(void **state)
{
	(void)state;
	struct dm_failure_report r;
	assert_int_equal(fields(&r, "Feedback-Type: abuse\n"
	                            "Received-Date: Mon, 01 Oct 2018 11:20:27 +0200\n"),
	                 0);
	assert_int_equal(r.have_arrival_date, 1);
	assert_int_equal(r.arrival_date, 1538385627);
	dm_failure_free(&r);
	/* both: Arrival-Date wins whatever the order, with a warning */
	assert_int_equal(fields(&r, "Feedback-Type: abuse\n"
	                            "Received-Date: Tue, 02 Oct 2018 11:20:27 +0200\n"
	                            "Arrival-Date: Mon, 01 Oct 2018 11:20:27 +0200\n"),
	                 0);
	assert_int_equal(r.arrival_date, 1538385627);
	ASSERT_WARNING(&r, "both Arrival-Date and Received-Date");
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: abuse\n"
	                            "Arrival-Date: Mon, 01 Oct 2018 11:20:27 +0200\n"
	                            "Received-Date: Tue, 02 Oct 2018 11:20:27 +0200\n"),
	                 0);
	assert_int_equal(r.arrival_date, 1538385627);
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: abuse\nArrival-Date: soon\n"), 0);
	assert_int_equal(r.have_arrival_date, 0);
	ASSERT_WARNING(&r, "Arrival-Date is not a date: soon");
	dm_failure_free(&r);
	assert_int_equal(fields(&r, "Feedback-Type: abuse\nArrival-Date: 1 Jan 2020 00:00\n"), 0);
	assert_int_equal(r.have_arrival_date, 1);
	ASSERT_WARNING(&r, "no time zone");
	dm_failure_free(&r);
}

/* ---- hostile bytes and limits -------------------------------------- */

static void
test_hostile_bytes(void **state)
{
	(void)state;
	struct dm_failure_report r;
	/* NULs and control bytes in values, a NUL in a name, invalid UTF-8 */
	static const char text[] = "Feedback-Type: auth\0-failure\n"
	                           "User-Agent: a\0b\x01\x7f"
	                           "c\xff\xc0\xafz\xc3\xa9\n"
	                           "Vers\0ion: 1\n"
	                           "Reported-Domain: exa\0mple.com\n"
	                           "no colon on this line\n"
	                           ": no name\n"
	                           " continuation without a field\n";
	dm_failure_init(&r);
	assert_int_equal(arf_parse_fields(&r, text, sizeof text - 1), 0);
	assert_string_equal(r.feedback_type, "auth -failure");
	assert_string_equal(r.user_agent, "a b  c???z\xc3\xa9");
	assert_null(r.version);
	assert_null(r.reported_domain);
	ASSERT_WARNING(&r, "a line that is not a header field ignored");
	for (unsigned i = 0; i < r.nwarnings; i++)
		assert_true(strlen(r.warnings[i]) < DM_MAX_ERROR_LEN);
	dm_failure_free(&r);

	/* input that ends inside a field, without a line break, or in a CR */
	dm_failure_init(&r);
	assert_int_equal(arf_parse_fields(&r, "Feedback-Type: abuse\r", 21), 0);
	assert_string_equal(r.feedback_type, "abuse");
	dm_failure_free(&r);
	dm_failure_init(&r);
	assert_int_equal(arf_parse_fields(&r, "Feedback-Type:", 14), DM_EFORMAT);
	dm_failure_free(&r);
	dm_failure_init(&r);
	assert_int_equal(arf_parse_fields(&r, NULL, 0), DM_EFORMAT);
	dm_failure_free(&r);
}

static void
test_limits(void **state)
{
	(void)state;
	struct dm_failure_report r;
	struct dm_buf b;

	/* a value over DM_ARF_MAX_VALUE is cut, one over the raw limit too */
	dm_buf_init(&b, 1 << 20);
	assert_int_equal(dm_buf_adds(&b, "Feedback-Type: abuse\nUser-Agent: "), 0);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(dm_buf_adds(&b, "x"), 0);
	assert_int_equal(dm_buf_adds(&b, "\nOriginal-Envelope-Id: "), 0);
	for (int i = 0; i < DM_ARF_MAX_RAW_VALUE + 100; i++)
		assert_int_equal(dm_buf_adds(&b, i % 70 ? "y" : "\n "), 0);
	assert_int_equal(dm_buf_adds(&b, "\nReported-Domain: "), 0);
	for (int i = 0; i < 300; i++)
		assert_int_equal(dm_buf_adds(&b, "d"), 0);
	assert_int_equal(dm_buf_adds(&b, "\n"), 0);
	dm_failure_init(&r);
	assert_int_equal(arf_parse_fields(&r, b.data, b.len), 0);
	assert_int_equal(strlen(r.user_agent), DM_ARF_MAX_VALUE);
	ASSERT_WARNING(&r, "User-Agent longer than 1024 bytes, cut");
	ASSERT_WARNING(&r, "Original-Envelope-Id longer than 8192 bytes, cut");
	assert_int_equal(strlen(r.original_envelope_id), DM_ARF_MAX_VALUE);
	assert_null(r.reported_domain);
	dm_failure_free(&r);
	dm_buf_free(&b);

	/* Authentication-Results are cut at their limit with "..." */
	dm_buf_init(&b, 1 << 20);
	assert_int_equal(dm_buf_adds(&b, "Feedback-Type: abuse\n"), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(dm_buf_printf(&b,
		                               "Authentication-Results: host%d.example; "
		                               "dmarc=fail header.from=example.com\n",
		                               i),
		                 0);
	dm_failure_init(&r);
	assert_int_equal(arf_parse_fields(&r, b.data, b.len), 0);
	size_t arl = strlen(r.authentication_results);
	assert_true(arl <= DM_ARF_MAX_AUTH_RESULTS);
	assert_true(arl > DM_ARF_MAX_AUTH_RESULTS - 8);
	assert_string_equal(r.authentication_results + arl - 3, "...");
	ASSERT_WARNING(&r, "Authentication-Results longer than");
	dm_failure_free(&r);
	dm_buf_free(&b);

	/* too many fields; more distinct warnings than are kept */
	dm_buf_init(&b, 1 << 20);
	dm_failure_init(&r);
	for (int i = 0; i < 100; i++)
		dm_failure_warn(&r, "warning %d", i);
	dm_failure_warn(&r, "warning %d", 1);
	assert_int_equal(r.nwarnings, DM_MAX_WARNINGS);
	assert_int_equal(r.warnings_dropped, 100 - DM_MAX_WARNINGS + 1);
	dm_failure_free(&r);
	dm_failure_init(&r);
	dm_failure_warn(&r, "same");
	dm_failure_warn(&r, "same");
	assert_int_equal(r.nwarnings, 1);
	dm_failure_free(&r);
	assert_int_equal(dm_buf_adds(&b, "Feedback-Type: abuse\n"), 0);
	for (int i = 0; i < DM_ARF_MAX_FIELDS + 10; i++)
		assert_int_equal(dm_buf_adds(&b, "X-Junk: 1\n"), 0);
	dm_failure_init(&r);
	assert_int_equal(arf_parse_fields(&r, b.data, b.len), 0);
	ASSERT_WARNING(&r, "more than 256 fields");
	dm_failure_free(&r);
	dm_buf_free(&b);

	/* a part over DM_ARF_MAX_PART_BYTES: the start is read */
	size_t big = DM_ARF_MAX_PART_BYTES + 1000;
	char *p = malloc(big);
	memset(p, '\n', big);
	memcpy(p, "Feedback-Type: abuse\n", 21);
	memcpy(p + big - 30, "Source-IP: 192.0.2.1\n", 21);
	dm_failure_init(&r);
	assert_int_equal(arf_parse_fields(&r, p, big), 0);
	ASSERT_WARNING(&r, "feedback-report part longer than");
	assert_int_equal(r.source_ip_family, 0);
	dm_failure_free(&r);
	free(p);

	/* the model can be reset and used again */
	assert_int_equal(fields(&r, complete), 0);
	dm_failure_reset(&r);
	assert_null(r.feedback_type);
	assert_int_equal(r.incidents, -1);
	assert_string_equal(r.source_ip_text, "");
	assert_int_equal(arf_parse_fields(&r, complete, strlen(complete)), 0);
	assert_string_equal(r.reported_domain, "example.com");
	dm_failure_free(&r);
	dm_failure_free(&r); /* harmless twice */
}

/* ---- the plain-text form ------------------------------------------- */

static const char exim_text[] =
        "A message claiming to be from you has failed the published DMARC policy for "
        "your domain.\n"
        "\n"
        "  Sender Domain: Shop.Example\n"
        "  Sender IP Address: 198.51.100.23\n"
        "  Received date: Tue, 08 Apr 2025 10:00:00 +0000\n"
        "  SPF Alignment: yes\n"
        "  DKIM Alignment: no\n"
        "  DMARC Results: Reject, Reject\n"
        "\n"
        "------ This is a copy of the headers that were received before the error was "
        "detected.\n"
        "\n"
        "Received: from [198.51.100.23] (helo=pc)\n"
        "\tby mx.example.net with esmtp\n"
        "\t(envelope-from <bob@shop.example>)\n"
        "From: \"Bob\" <bob@shop.example>\n"
        "To: <carol@example.net>\n"
        "Subject: Your invoice\n"
        "Date: Tue, 08 Apr 2025 09:59:58 +0000\n"
        "\n"
        "body text that is never read\n";

static void
test_text(void **state)
{
	(void)state;
	struct dm_failure_report r;
	size_t at = 0;
	dm_failure_init(&r);
	assert_int_equal(arf_parse_text(&r, exim_text, strlen(exim_text), &at), 0);
	assert_int_equal(r.is_arf, 0);
	assert_string_equal(r.feedback_type, "auth-failure");
	assert_string_equal(r.auth_failure, "dmarc");
	ASSERT_WARNING(&r, "not ARF");
	assert_string_equal(r.reported_domain, "shop.example");
	assert_string_equal(r.source_ip_text, "198.51.100.23");
	assert_int_equal(r.arrival_date, 1744106400);
	assert_string_equal(r.identity_alignment, "spf");
	assert_string_equal(r.delivery_result, "reject");
	assert_true(at < strlen(exim_text));
	assert_memory_equal(exim_text + at, "Received: from", 14);

	struct dm_buf out;
	dm_buf_init(&out, 1 << 20);
	assert_int_equal(arf_original_headers(&r, exim_text + at, strlen(exim_text) - at,
	                                      ARF_REDACT_HEADERS, NULL, 0, &out),
	                 0);
	assert_string_equal(r.subject, "Your invoice");
	assert_string_equal(r.header_from_domain, "shop.example");
	assert_int_equal(r.have_date, 1);
	assert_null(strstr(dm_buf_str(&out), "never read"));
	assert_non_null(strstr(dm_buf_str(&out), "(envelope-from <bob@shop.example>)"));
	dm_buf_free(&out);
	dm_failure_free(&r);

	/* no marker: the headers follow a blank line; alignment both / none */
	static const char plain[] = "A message claiming to be from you has failed the published "
	                            "DMARC policy for your domain.\r\n"
	                            "Sender IP Address: 2001:db8::5 (host.example)\r\n"
	                            "SPF Alignment: yes\r\n"
	                            "DKIM Alignment: YES\r\n"
	                            "DMARC Results: None, Accept\r\n"
	                            "\r\n"
	                            "Return-Path: <x@y.example>\r\n"
	                            "From: x@y.example\r\n";
	dm_failure_init(&r);
	assert_int_equal(arf_parse_text(&r, plain, strlen(plain), &at), 0);
	assert_string_equal(r.source_ip_text, "2001:db8::5");
	assert_string_equal(r.identity_alignment, "dkim,spf");
	assert_string_equal(r.delivery_result, "delivered");
	assert_memory_equal(plain + at, "Return-Path:", 12);
	dm_failure_free(&r);

	static const char neither[] = "Sender IP Address: 192.0.2.1\nSPF Alignment: no\n"
	                              "DKIM Alignment: no\nReceived date: garbage\n";
	dm_failure_init(&r);
	assert_int_equal(arf_parse_text(&r, neither, strlen(neither), &at), 0);
	assert_string_equal(r.identity_alignment, "none");
	assert_int_equal(at, strlen(neither));
	ASSERT_WARNING(&r, "Received date is not a date");
	dm_failure_free(&r);

	/* nothing known: an error with a reason, and no headers */
	dm_failure_init(&r);
	assert_int_equal(arf_parse_text(&r, "Hello\nworld\n", 12, &at), DM_EFORMAT);
	assert_non_null(r.error);
	assert_int_equal(at, 12);
	dm_failure_free(&r);
	dm_failure_init(&r);
	assert_int_equal(arf_parse_text(&r, "Sender IP Address:\0 1.2.3.4\0", 28, NULL), 0);
	assert_string_equal(r.source_ip_text, "1.2.3.4");
	dm_failure_free(&r);
}

static void
test_sniff(void **state)
{
	(void)state;
	assert_true(arf_sniff((const unsigned char *)exim_text, strlen(exim_text)));
	static const char *yes[] = {
	        "a message CLAIMING to be from you has failed the published dmarc policy",
	        "Report\n  Sender IP Address: 1.2.3.4\n  DMARC Results: None, Accept\n",
	};
	static const char *no[] = {
	        "",
	        "This is an email abuse report for an email message received from IP 1.2.3.4",
	        "Sender IP Address: 1.2.3.4\n",
	        "DMARC Results: x\n",
	        "A message claiming to be from you",
	        "<?xml version=\"1.0\"?><feedback>",
	};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		assert_true(arf_sniff((const unsigned char *)yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_false(arf_sniff((const unsigned char *)no[i], strlen(no[i])));
	/* every prefix, in an exact-size allocation (ASan sees overreads) */
	size_t n = strlen(exim_text);
	size_t need = (size_t)(strstr(exim_text, "DMARC policy") - exim_text) + 12;
	for (size_t k = 0; k <= n; k++) {
		unsigned char *p = malloc(k ? k : 1);
		memcpy(p, exim_text, k);
		int got = arf_sniff(p, k);
		assert_int_equal(got, k >= need);
		free(p);
	}
	/* a NUL inside the phrase breaks it */
	static const char nul[] =
	        "A message claiming to be from you has failed the\0published DMARC "
	        "policy";
	assert_false(arf_sniff((const unsigned char *)nul, sizeof nul - 1));
}

/* ---- the original headers -------------------------------------------- */

static const char original[] = "From MAILER-DAEMON Tue Apr  8 10:00:00 2025\n"
                               "Received: from mail.example.com (mail.example.com [192.0.2.10])\n"
                               "\tby mx.example.org with ESMTP id 123\n"
                               "\tfor <Alice@Example.ORG>; Tue, 8 Apr 2025 10:00:00 +0000\n"
                               "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel;\n"
                               "\ti=news@example.com; h=from:to; bh=abc=; b=def=\n"
                               "Authentication-Results: mx.example.org; spf=fail "
                               "smtp.mailfrom=SRS0=ab=cd=other.example=bob@fwd.example;\n"
                               " dkim=pass header.i=@example.com\n"
                               "From: \"alice@example.org\" <news@Example.COM.>\n"
                               "To: \"Alice Doe\"@example.org, Bob <bob@example.net>\n"
                               "Subject: =?UTF-8?B?UmVjaG51bmcgZsO8cg==?= alice@example.org\n"
                               "Message-ID: <1234.abc@mail.example.com>\n"
                               "Date: Tue, 8 Apr 2025 10:00:00 +0000\n"
                               "\n"
                               "Dear alice, the body is never kept.\n";

static void
test_headers_hashed(void **state)
{
	(void)state;
	struct dm_failure_report r;
	struct dm_buf out;
	char t_alice[16], t_news[16], t_bob[16], t_quoted[16], t_msgid[16], t_srs[16];
	token("alice@example.org", t_alice);
	token("news@example.com", t_news);
	token("bob@example.net", t_bob);
	token("\"alice doe\"@example.org", t_quoted);
	token("1234.abc@mail.example.com", t_msgid);
	token("srs0=ab=cd=other.example=bob@fwd.example", t_srs);

	dm_failure_init(&r);
	dm_buf_init(&out, 1 << 20);
	assert_int_equal(arf_original_headers(&r, original, strlen(original), ARF_REDACT_HASHED,
	                                      key, KEYLEN, &out),
	                 0);
	dump_warnings(&r);
	assert_int_equal(r.nwarnings, 0);
	const char *s = dm_buf_str(&out);
	/* no local part survives, every domain does */
	assert_null(strstr(s, "Alice@"));
	assert_null(strstr(s, "alice@"));
	assert_null(strstr(s, "news@"));
	assert_null(strstr(s, "bob@"));
	assert_null(strstr(s, "Alice Doe"));
	assert_null(strstr(s, "1234.abc"));
	assert_null(strstr(s, "other.example"));
	assert_null(strstr(s, "MAILER-DAEMON"));
	assert_null(strstr(s, "body"));
	char want[256];
	snprintf(want, sizeof want, "\tfor <%s@Example.ORG>;", t_alice);
	assert_non_null(strstr(s, want));
	snprintf(want, sizeof want, "\ti=%s@example.com;", t_news);
	assert_non_null(strstr(s, want));
	snprintf(want, sizeof want, "smtp.mailfrom=%s@fwd.example;", t_srs);
	assert_non_null(strstr(s, want));
	assert_non_null(strstr(s, " dkim=pass header.i=@example.com\n"));
	snprintf(want, sizeof want, "From: \"%s@example.org\" <%s@Example.COM.>\n", t_alice,
	         t_news);
	assert_non_null(strstr(s, want));
	snprintf(want, sizeof want, "To: %s@example.org, Bob <%s@example.net>\n", t_quoted, t_bob);
	assert_non_null(strstr(s, want));
	snprintf(want, sizeof want, "Subject: =?UTF-8?B?UmVjaG51bmcgZsO8cg==?= %s@example.org\n",
	         t_alice);
	assert_non_null(strstr(s, want));
	assert_true(s[out.len - 1] == '\n');

	/* the model: the same tokens; the subject decoded */
	snprintf(want, sizeof want, "\"%s@example.org\" <%s@Example.COM.>", t_alice, t_news);
	assert_string_equal(r.from, want);
	assert_string_equal(r.header_from_domain, "example.com");
	snprintf(want, sizeof want, "Rechnung f\xc3\xbcr %s@example.org", t_alice);
	assert_string_equal(r.subject, want);
	snprintf(want, sizeof want, "<%s@mail.example.com>", t_msgid);
	assert_string_equal(r.message_id, want);
	assert_int_equal(r.have_date, 1);
	assert_int_equal(r.date, 1744106400);

	/* another key gives other tokens; the same key the same ones */
	struct dm_failure_report r2;
	struct dm_buf out2;
	dm_failure_init(&r2);
	dm_buf_init(&out2, 1 << 20);
	assert_int_equal(arf_original_headers(&r2, original, strlen(original), ARF_REDACT_HASHED,
	                                      key, KEYLEN, &out2),
	                 0);
	assert_string_equal(dm_buf_str(&out2), s);
	dm_buf_reset(&out2);
	assert_int_equal(arf_original_headers(&r2, original, strlen(original), ARF_REDACT_HASHED,
	                                      (const unsigned char *)"other", 5, &out2),
	                 0);
	assert_null(strstr(dm_buf_str(&out2), t_alice));
	dm_buf_free(&out2);
	dm_failure_free(&r2);

	/* no key: refused */
	assert_int_equal(arf_original_headers(&r, original, strlen(original), ARF_REDACT_HASHED,
	                                      NULL, 0, &out),
	                 DM_EINVAL);
	assert_int_equal(arf_original_headers(&r, original, strlen(original), (enum arf_redact)7,
	                                      key, KEYLEN, &out),
	                 DM_EINVAL);
	dm_buf_free(&out);
	dm_failure_free(&r);
}

static void
test_headers_modes(void **state)
{
	(void)state;
	struct dm_failure_report r;
	struct dm_buf out;

	dm_failure_init(&r);
	dm_buf_init(&out, 1 << 20);
	assert_int_equal(arf_original_headers(&r, original, strlen(original), ARF_REDACT_HEADERS,
	                                      NULL, 0, &out),
	                 0);
	const char *s = dm_buf_str(&out);
	assert_non_null(strstr(s, "\tfor <Alice@Example.ORG>;"));
	assert_non_null(strstr(s, "From: \"alice@example.org\" <news@Example.COM.>\n"));
	assert_null(strstr(s, "body"));
	assert_null(strstr(s, "MAILER-DAEMON"));
	assert_string_equal(r.from, "\"alice@example.org\" <news@Example.COM.>");
	assert_string_equal(r.to, "\"Alice Doe\"@example.org, Bob <bob@example.net>");
	assert_string_equal(r.message_id, "<1234.abc@mail.example.com>");
	assert_string_equal(r.subject, "Rechnung f\xc3\xbcr alice@example.org");
	dm_buf_free(&out);
	dm_failure_free(&r);

	/* NONE: nothing stored, only the domain and the date extracted */
	dm_failure_init(&r);
	dm_buf_init(&out, 1 << 20);
	assert_int_equal(arf_original_headers(&r, original, strlen(original), ARF_REDACT_NONE, NULL,
	                                      0, &out),
	                 0);
	assert_int_equal(out.len, 0);
	assert_null(r.subject);
	assert_null(r.from);
	assert_null(r.to);
	assert_null(r.message_id);
	assert_string_equal(r.header_from_domain, "example.com");
	assert_int_equal(r.have_date, 1);
	dm_buf_free(&out);
	/* out may be NULL */
	assert_int_equal(arf_original_headers(&r, original, strlen(original), ARF_REDACT_HASHED,
	                                      key, KEYLEN, NULL),
	                 0);
	dm_failure_free(&r);
}

static void
test_headers_fields(void **state)
{
	(void)state;
	static const struct {
		const char *from, *domain;
	} cases[] = {
	        {"a@B.Example", "b.example"},
	        {"Name <a@B.Example.>", "b.example"},
	        {"\"x@evil.example\" <a@good.example>", "good.example"},
	        {"a@first.example, b@second.example", "first.example"},
	        {"Joe (joe@comment.example) <a@real.example>", "real.example"},
	        {"<a@open.example", "open.example"},
	        {"undisclosed", NULL},
	        {"a@bad!domain", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[256];
		snprintf(text, sizeof text, "From: %s\nSubject: s\n", cases[i].from);
		struct dm_failure_report r;
		dm_failure_init(&r);
		assert_int_equal(arf_original_headers(&r, text, strlen(text), ARF_REDACT_NONE, NULL,
		                                      0, NULL),
		                 0);
		if (cases[i].domain)
			assert_string_equal(r.header_from_domain, cases[i].domain);
		else
			assert_null(r.header_from_domain);
		dm_failure_free(&r);
	}

	struct dm_failure_report r;
	struct dm_buf out;
	/* two From fields: the first counts, with a warning; a line that is
	 * not a field ends the block (a body without its blank line) */
	static const char two[] = "From: a@one.example\r\n"
	                          "From: b@two.example\r\n"
	                          "Date: not a date\r\n"
	                          "Subject: =?iso-8859-1?q?caf=E9?= \x01 ok\r\n"
	                          "this is body text\r\n"
	                          "X-After: body\r\n";
	dm_failure_init(&r);
	dm_buf_init(&out, 1 << 20);
	assert_int_equal(
	        arf_original_headers(&r, two, strlen(two), ARF_REDACT_HEADERS, NULL, 0, &out), 0);
	assert_string_equal(r.header_from_domain, "one.example");
	ASSERT_WARNING(&r, "more than one From field");
	ASSERT_WARNING(&r, "original Date is not a date");
	ASSERT_WARNING(&r, "not a field");
	assert_int_equal(r.have_date, 0);
	assert_string_equal(r.subject, "caf\xc3\xa9   ok");
	assert_null(strstr(dm_buf_str(&out), "body"));
	assert_null(strchr(dm_buf_str(&out), '\r'));
	assert_null(strchr(dm_buf_str(&out), '\x01'));
	dm_buf_free(&out);
	dm_failure_free(&r);

	/* raw 8-bit subjects come out as valid UTF-8; NULs become spaces */
	static const char raw8[] = "Subject: caf\xe9 \xc3\xa9t\xc3\n";
	dm_failure_init(&r);
	assert_int_equal(
	        arf_original_headers(&r, raw8, sizeof raw8 - 1, ARF_REDACT_HEADERS, NULL, 0, NULL),
	        0);
	assert_non_null(r.subject);
	assert_true(g_utf8_validate(r.subject, -1, NULL));
	dm_failure_free(&r);
	static const char nul[] = "Subject: a\0b\nFrom: x\0y@z.example\n";
	dm_failure_init(&r);
	assert_int_equal(
	        arf_original_headers(&r, nul, sizeof nul - 1, ARF_REDACT_HEADERS, NULL, 0, NULL),
	        0);
	assert_string_equal(r.subject, "a b");
	assert_string_equal(r.header_from_domain, "z.example");
	dm_failure_free(&r);

	/* an empty block */
	dm_failure_init(&r);
	assert_int_equal(arf_original_headers(&r, "\nbody\n", 6, ARF_REDACT_HEADERS, NULL, 0, NULL),
	                 0);
	ASSERT_WARNING(&r, "no original header fields");
	dm_failure_free(&r);
}

static void
test_headers_bounds(void **state)
{
	(void)state;
	struct dm_failure_report r;
	struct dm_buf in, out;

	/* the stored copy is cut at DM_ARF_MAX_STORED_HEADERS with a marker */
	dm_buf_init(&in, 4 << 20);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(dm_buf_printf(&in,
		                               "Received: from host%d.example by mx for "
		                               "<user%d@example.org>; Tue, 8 Apr 2025\n",
		                               i, i),
		                 0);
	dm_failure_init(&r);
	dm_buf_init(&out, 1 << 20);
	assert_int_equal(
	        arf_original_headers(&r, in.data, in.len, ARF_REDACT_HASHED, key, KEYLEN, &out), 0);
	assert_true(out.len <= DM_ARF_MAX_STORED_HEADERS);
	assert_non_null(strstr(dm_buf_str(&out), "\n[... headers cut at "));
	assert_null(strstr(dm_buf_str(&out), "user1@"));
	ASSERT_WARNING(&r, "stored original headers cut");
	dm_buf_free(&out);
	dm_failure_free(&r);

	/* ... and within what out still takes */
	dm_failure_init(&r);
	dm_buf_init(&out, 1000);
	assert_int_equal(dm_buf_adds(&out, "prefix\n"), 0);
	assert_int_equal(
	        arf_original_headers(&r, in.data, in.len, ARF_REDACT_HEADERS, NULL, 0, &out), 0);
	assert_true(out.len <= 1000);
	assert_memory_equal(out.data, "prefix\nReceived: from host0", 27);
	assert_non_null(strstr(dm_buf_str(&out), "[... headers cut at "));
	dm_buf_free(&out);
	/* a buffer with no room at all is left alone */
	dm_buf_init(&out, 10);
	assert_int_equal(
	        arf_original_headers(&r, in.data, in.len, ARF_REDACT_HEADERS, NULL, 0, &out), 0);
	assert_int_equal(out.len, 0);
	dm_buf_free(&out);
	dm_failure_free(&r);

	/* one giant field: its start is kept, then the marker */
	dm_buf_reset(&in);
	assert_int_equal(dm_buf_adds(&in, "X-Big: "), 0);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(dm_buf_adds(&in, "a@b "), 0);
	assert_int_equal(dm_buf_adds(&in, "\nSubject: after\n"), 0);
	dm_failure_init(&r);
	dm_buf_init(&out, 1 << 20);
	assert_int_equal(
	        arf_original_headers(&r, in.data, in.len, ARF_REDACT_HASHED, key, KEYLEN, &out), 0);
	assert_true(out.len <= DM_ARF_MAX_STORED_HEADERS);
	assert_memory_equal(out.data, "X-Big: h-", 9);
	assert_non_null(strstr(dm_buf_str(&out), "[... headers cut at "));
	assert_null(strstr(dm_buf_str(&out), " a@"));
	assert_string_equal(r.subject, "after");
	dm_buf_free(&out);
	dm_failure_free(&r);

	/* a header block over DM_MAX_HEADER_BYTES is read that far */
	dm_buf_reset(&in);
	while (in.len < DM_MAX_HEADER_BYTES + 100)
		assert_int_equal(dm_buf_adds(&in, "X-Pad: 0123456789012345678901234567890123\n"),
		                 0);
	assert_int_equal(dm_buf_adds(&in, "Subject: too late\n"), 0);
	dm_failure_init(&r);
	assert_int_equal(
	        arf_original_headers(&r, in.data, in.len, ARF_REDACT_HEADERS, NULL, 0, NULL), 0);
	ASSERT_WARNING(&r, "original header block longer than");
	assert_null(r.subject);
	dm_failure_free(&r);
	dm_buf_free(&in);
}

static void
test_redaction_edges(void **state)
{
	(void)state;
	static const struct {
		const char *in, *local; /* local: what must not appear; NULL: unchanged */
	} cases[] = {
	        {"X: @example.com", NULL},
	        {"X: plain text without addresses", NULL},
	        {"X: a@", "a@"},
	        {"X: envelope-from=eve@example.com", "eve@"},
	        {"X: prvs=1234abcd=eve@example.com", "eve@"},
	        {"X: bounces+123-eve=example.org@mail.example.com", "eve="},
	        {"X: \"eve smith\"@example.com", "eve"},
	        {"X: a@b@c", "a@"},
	        {"X: \xc3\xa9ve@example.com", "\xc3\xa9ve"},
	        {"X: user@[192.0.2.1]", "user@"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dm_failure_report r;
		struct dm_buf out;
		dm_failure_init(&r);
		dm_buf_init(&out, 1 << 16);
		assert_int_equal(arf_original_headers(&r, cases[i].in, strlen(cases[i].in),
		                                      ARF_REDACT_HASHED, key, KEYLEN, &out),
		                 0);
		const char *s = dm_buf_str(&out);
		if (!cases[i].local) {
			assert_int_equal(out.len, strlen(cases[i].in) + 1);
			assert_memory_equal(s, cases[i].in, out.len - 1);
		} else {
			if (strstr(s, cases[i].local))
				print_error("%s -> %s", cases[i].in, s);
			assert_null(strstr(s, cases[i].local));
			assert_non_null(strstr(s, "h-"));
		}
		dm_buf_free(&out);
		dm_failure_free(&r);
	}
	/* the parameter name is kept, the address hashed case-insensitively */
	char t[16], want[64];
	token("eve@example.com", t);
	struct dm_failure_report r;
	struct dm_buf out;
	dm_failure_init(&r);
	dm_buf_init(&out, 1 << 16);
	static const char mf[] = "X: smtp.mailfrom=EVE@Example.Com\n";
	assert_int_equal(
	        arf_original_headers(&r, mf, strlen(mf), ARF_REDACT_HASHED, key, KEYLEN, &out), 0);
	snprintf(want, sizeof want, "X: smtp.mailfrom=%s@Example.Com\n", t);
	assert_string_equal(dm_buf_str(&out), want);
	dm_buf_free(&out);
	dm_failure_free(&r);
}

static int
setup(void **state)
{
	(void)state;
	g_mime_init();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	g_mime_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fields_complete),
	        cmocka_unit_test(test_fields_syntax),
	        cmocka_unit_test(test_fields_repeated),
	        cmocka_unit_test(test_fields_required),
	        cmocka_unit_test(test_delivery_result),
	        cmocka_unit_test(test_identity_alignment),
	        cmocka_unit_test(test_source_ip),
	        cmocka_unit_test(test_incidents_and_addresses),
	        cmocka_unit_test(test_dates),
	        cmocka_unit_test(test_arrival_date_fields),
	        cmocka_unit_test(test_hostile_bytes),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_text),
	        cmocka_unit_test(test_sniff),
	        cmocka_unit_test(test_headers_hashed),
	        cmocka_unit_test(test_headers_modes),
	        cmocka_unit_test(test_headers_fields),
	        cmocka_unit_test(test_headers_bounds),
	        cmocka_unit_test(test_redaction_edges),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
