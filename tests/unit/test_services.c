/*
 * test_services.c - the sending-service map (src/enrich/services.c): the
 * shipped data/services.conf loads and names well-known senders right;
 * suffix matching stops at label boundaries and prefers the longest base;
 * case and trailing dots do not matter; every loader error says
 * file:line.  Small files are written under $TMPDIR.
 */

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/limits.h"
#include "enrich/services.h"

static struct dm_services *real;

/* The shipped file: DM_TESTDATA is <repo>/tests/data.  "/../../data"
 * needs tests/data to exist, so the path is also made by cutting
 * "/tests/data" off. */
static int
load_real(void **state)
{
	(void)state;
	const char *data = getenv("DM_TESTDATA");
	if (!data)
		data = "tests/data";
	char path[1024];
	snprintf(path, sizeof path, "%s/../../data/services.conf", data);
	size_t n = strlen(data);
	if (access(path, R_OK) != 0 && n >= 11 && strcmp(data + n - 11, "/tests/data") == 0)
		snprintf(path, sizeof path, "%.*s/data/services.conf", (int)(n - 11), data);
	char err[512] = "";
	real = dm_services_load(path, err, sizeof err);
	if (!real)
		print_error("%s\n", err);
	return real ? 0 : -1;
}

static int
free_real(void **state)
{
	(void)state;
	dm_services_free(real);
	return 0;
}

/* Load n bytes written to a file under $TMPDIR; NULL with the error in err. */
static struct dm_services *
load_bytes(const char *text, size_t n, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/dmsvc-XXXXXX", tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	struct dm_services *s = dm_services_load(path, err, errlen);
	unlink(path);
	return s;
}

static struct dm_services *
load_text(const char *text, char *err, size_t errlen)
{
	return load_bytes(text, strlen(text), err, errlen);
}

/* text must fail to load with an error at line `line` containing `what` */
static void
expect_error(const char *text, unsigned line, const char *what)
{
	char err[512] = "";
	struct dm_services *s = load_text(text, err, sizeof err);
	if (s)
		print_error("loaded, expected line %u: %s\n", line, what);
	assert_null(s);
	char at[32];
	snprintf(at, sizeof at, ":%u: ", line);
	if (!strstr(err, at) || !strstr(err, what))
		print_error("error '%s', expected line %u and '%s'\n", err, line, what);
	assert_non_null(strstr(err, at));
	assert_non_null(strstr(err, what));
	assert_non_null(strstr(err, "dmsvc-"));
}

static void
expect_name(const struct dm_service *svc, const char *name, enum dm_service_type type)
{
	if (!svc || strcmp(svc->name, name) != 0)
		print_error("expected %s, got %s\n", name, svc ? svc->name : "NULL");
	assert_non_null(svc);
	assert_string_equal(svc->name, name);
	assert_int_equal(svc->type, type);
}

static void
test_real_file(void **state)
{
	(void)state;
	assert_true(dm_services_count(real) >= 120);
	/* every type has services: look for one of each among known senders */
	static const struct {
		const char *ptr;
		enum dm_service_type type;
	} each[] = {
	        {"mail-sor-f41.google.com", DM_SVC_MAILBOX},
	        {"a48-30.smtp-out.amazonses.com", DM_SVC_ESP},
	        {"mail123.atl11.rsgsv.net", DM_SVC_MARKETING},
	        {"smtp05-ia4-sp3.mta.salesforce.com", DM_SVC_CRM},
	        {"outbyoip1.pod18.iad1.zdsys.com", DM_SVC_SUPPORT},
	        {"mail02.groups.io", DM_SVC_FORWARDER},
	        {"mx0b-00123401.pphosted.com", DM_SVC_SECURITY},
	        {"p3plsmtpa09-01.prod.phx3.secureserver.net", DM_SVC_HOSTING},
	        {"out-21.smtp.github.com", DM_SVC_OTHER},
	};
	int seen[DM_SVC_OTHER + 1] = {0};
	for (size_t i = 0; i < sizeof each / sizeof each[0]; i++) {
		const struct dm_service *svc = dm_services_by_ptr(real, each[i].ptr);
		assert_non_null(svc);
		assert_int_equal(svc->type, each[i].type);
		seen[svc->type] = 1;
	}
	for (int t = 0; t <= DM_SVC_OTHER; t++)
		assert_true(seen[t]);
	assert_string_equal(dm_service_type_name(DM_SVC_MAILBOX), "mailbox");
	assert_string_equal(dm_service_type_name(DM_SVC_ESP), "esp");
	assert_string_equal(dm_service_type_name(DM_SVC_MARKETING), "marketing");
	assert_string_equal(dm_service_type_name(DM_SVC_CRM), "crm");
	assert_string_equal(dm_service_type_name(DM_SVC_SUPPORT), "support");
	assert_string_equal(dm_service_type_name(DM_SVC_FORWARDER), "forwarder");
	assert_string_equal(dm_service_type_name(DM_SVC_SECURITY), "security");
	assert_string_equal(dm_service_type_name(DM_SVC_HOSTING), "hosting");
	assert_string_equal(dm_service_type_name(DM_SVC_OTHER), "other");
	assert_string_equal(dm_service_type_name((enum dm_service_type)99), "?");
}

static void
test_known_senders(void **state)
{
	(void)state;
	/* by reverse name */
	expect_name(dm_services_by_ptr(real, "mail-sor-f41.google.com"), "Google Workspace",
	            DM_SVC_MAILBOX);
	expect_name(dm_services_by_ptr(real, "a48-30.smtp-out.amazonses.com"), "Amazon SES",
	            DM_SVC_ESP);
	expect_name(dm_services_by_ptr(real, "o1.ptr1234.sendgrid.net"), "SendGrid", DM_SVC_ESP);
	expect_name(dm_services_by_ptr(real, "mail-am6eur05on2070.outbound.protection.outlook.com"),
	            "Microsoft 365", DM_SVC_MAILBOX);
	expect_name(dm_services_by_ptr(real, "mail123.us4.mandrillapp.com"),
	            "Mandrill (Mailchimp Transactional)", DM_SVC_ESP);
	expect_name(dm_services_by_ptr(real, "mail155.atl221.mcsv.net"), "Mailchimp",
	            DM_SVC_MARKETING);
	expect_name(dm_services_by_ptr(real, "m228-4.mailgun.net"), "Mailgun", DM_SVC_ESP);
	expect_name(dm_services_by_ptr(real, "mta200a-ord.mtasv.net"), "Postmark", DM_SVC_ESP);
	expect_name(dm_services_by_ptr(real, "mta-72-1.sparkpostmail.com"), "SparkPost",
	            DM_SVC_ESP);
	expect_name(dm_services_by_ptr(real, "mail12-sj1.mktomail.com"), "Adobe Marketo Engage",
	            DM_SVC_MARKETING);
	expect_name(dm_services_by_ptr(real, "ccm27.constantcontact.com"), "Constant Contact",
	            DM_SVC_MARKETING);
	expect_name(dm_services_by_ptr(real, "us-smtp-delivery-1.mimecast.com"), "Mimecast",
	            DM_SVC_SECURITY);
	expect_name(dm_services_by_ptr(real, "esa1.example.iphmx.com"),
	            "Cisco Secure Email (IronPort)", DM_SVC_SECURITY);
	expect_name(dm_services_by_ptr(real, "ec2-54-240-1-2.compute-1.amazonaws.com"),
	            "Amazon AWS (EC2)", DM_SVC_HOSTING);
	expect_name(dm_services_by_ptr(real, "2.1.0.192.bc.googleusercontent.com"), "Google Cloud",
	            DM_SVC_HOSTING);
	expect_name(dm_services_by_ptr(real, "out1-smtp.messagingengine.com"), "Fastmail",
	            DM_SVC_MAILBOX);
	expect_name(dm_services_by_ptr(real, "mo4-p00-ob.smtp.rzone.de"), "Strato", DM_SVC_HOSTING);
	/* OVH's mail servers, longer than OVH's hosting base */
	expect_name(dm_services_by_ptr(real, "mo1.mail-out.ovh.net"), "OVHcloud Email",
	            DM_SVC_MAILBOX);
	expect_name(dm_services_by_ptr(real, "vps-1234abcd.vps.ovh.net"), "OVHcloud",
	            DM_SVC_HOSTING);
	/* by AS number */
	expect_name(dm_services_by_asn(real, 15169), "Google Workspace", DM_SVC_MAILBOX);
	expect_name(dm_services_by_asn(real, 8075), "Microsoft 365", DM_SVC_MAILBOX);
	expect_name(dm_services_by_asn(real, 16509), "Amazon AWS (EC2)", DM_SVC_HOSTING);
	expect_name(dm_services_by_asn(real, 396982), "Google Cloud", DM_SVC_HOSTING);
	expect_name(dm_services_by_asn(real, 24940), "Hetzner", DM_SVC_HOSTING);
	assert_null(dm_services_by_asn(real, 0));
	assert_null(dm_services_by_asn(real, 64512)); /* private use */
	/* by SPF include */
	expect_name(dm_services_by_spf(real, "servers.mcsv.net"), "Mailchimp", DM_SVC_MARKETING);
	expect_name(dm_services_by_spf(real, "_spf.google.com"), "Google Workspace",
	            DM_SVC_MAILBOX);
	expect_name(dm_services_by_spf(real, "spf.protection.outlook.com"), "Microsoft 365",
	            DM_SVC_MAILBOX);
	expect_name(dm_services_by_spf(real, "amazonses.com"), "Amazon SES", DM_SVC_ESP);
	expect_name(dm_services_by_spf(real, "sendgrid.net"), "SendGrid", DM_SVC_ESP);
	expect_name(dm_services_by_spf(real, "u1234567.wl.sendgrid.net"), "SendGrid", DM_SVC_ESP);
	expect_name(dm_services_by_spf(real, "mail.zendesk.com"), "Zendesk", DM_SVC_SUPPORT);
	expect_name(dm_services_by_spf(real, "mktomail.com"), "Adobe Marketo Engage",
	            DM_SVC_MARKETING);
	expect_name(dm_services_by_spf(real, "_spf.salesforce.com"), "Salesforce", DM_SVC_CRM);
	expect_name(dm_services_by_spf(real, "spf.mandrillapp.com"),
	            "Mandrill (Mailchimp Transactional)", DM_SVC_ESP);
	expect_name(dm_services_by_spf(real, "mailgun.org"), "Mailgun", DM_SVC_ESP);
	expect_name(dm_services_by_spf(real, "spf.mtasv.net"), "Postmark", DM_SVC_ESP);
	expect_name(dm_services_by_spf(real, "123456.spf01.hubspotemail.net"), "HubSpot",
	            DM_SVC_CRM);
	/* the Salesforce include is exact: a sibling name is not it */
	assert_null(dm_services_by_spf(real, "other.salesforce.com"));
	/* by DKIM domain */
	expect_name(dm_services_by_domain(real, "mcsv.net"), "Mailchimp", DM_SVC_MARKETING);
	expect_name(dm_services_by_domain(real, "mailchimpapp.net"), "Mailchimp", DM_SVC_MARKETING);
	expect_name(dm_services_by_domain(real, "amazonses.com"), "Amazon SES", DM_SVC_ESP);
	expect_name(dm_services_by_domain(real, "sendgrid.net"), "SendGrid", DM_SVC_ESP);
	expect_name(dm_services_by_domain(real, "example-com.20230601.gappssmtp.com"),
	            "Google Workspace", DM_SVC_MAILBOX);
	expect_name(dm_services_by_domain(real, "contoso.onmicrosoft.com"), "Microsoft 365",
	            DM_SVC_MAILBOX);
	expect_name(dm_services_by_domain(real, "zendesk.com"), "Zendesk", DM_SVC_SUPPORT);
	expect_name(dm_services_by_domain(real, "hubspotemail.net"), "HubSpot", DM_SVC_CRM);
	expect_name(dm_services_by_domain(real, "pm.mtasv.net"), "Postmark", DM_SVC_ESP);
	expect_name(dm_services_by_domain(real, "googlegroups.com"), "Google Groups",
	            DM_SVC_FORWARDER);
	assert_null(dm_services_by_domain(real, "example.com"));
}

static void
test_boundaries(void **state)
{
	(void)state;
	assert_null(dm_services_by_ptr(real, "notgoogle.com"));
	assert_null(dm_services_by_ptr(real, "google.com.evil.test"));
	assert_null(dm_services_by_ptr(real, "com"));
	assert_null(dm_services_by_ptr(real, ""));
	assert_null(dm_services_by_ptr(real, "."));
	assert_null(dm_services_by_ptr(real, NULL));
	assert_null(dm_services_by_ptr(NULL, "google.com"));
	assert_null(dm_services_by_spf(real, "x_spf.google.com"));
	assert_null(dm_services_by_domain(real, "evilmcsv.net"));
	assert_null(dm_services_by_domain(real, "mcsv.net.example"));
	/* the base itself matches, and one dot at the end is ignored */
	expect_name(dm_services_by_ptr(real, "google.com"), "Google Workspace", DM_SVC_MAILBOX);
	expect_name(dm_services_by_ptr(real, "mail-sor-f41.google.com."), "Google Workspace",
	            DM_SVC_MAILBOX);
	assert_null(dm_services_by_ptr(real, "mail-sor-f41.google.com.."));
	/* case */
	expect_name(dm_services_by_ptr(real, "MAIL-SOR-F41.Google.COM"), "Google Workspace",
	            DM_SVC_MAILBOX);
	expect_name(dm_services_by_spf(real, "Servers.MCSV.Net."), "Mailchimp", DM_SVC_MARKETING);
	expect_name(dm_services_by_domain(real, "SendGrid.NET"), "SendGrid", DM_SVC_ESP);
	/* a name longer than a domain may be is nobody's */
	char longname[DM_MAX_DOMAIN_LEN + 32];
	memset(longname, 'a', sizeof longname);
	memcpy(longname + sizeof longname - 12, ".google.com", 12);
	assert_null(dm_services_by_ptr(real, longname));
}

static void
test_match(void **state)
{
	(void)state;
	const char *dkim[] = {"example.com", "mcsv.net"};
	/* ptr first */
	expect_name(dm_services_match(real, "o1.ptr1234.sendgrid.net", 15169, dkim, 2), "SendGrid",
	            DM_SVC_ESP);
	/* no ptr, or one that is nobody's: the first DKIM domain that is someone's */
	expect_name(dm_services_match(real, NULL, 15169, dkim, 2), "Mailchimp", DM_SVC_MARKETING);
	expect_name(dm_services_match(real, "host.example.net", 15169, dkim, 2), "Mailchimp",
	            DM_SVC_MARKETING);
	/* then the AS number */
	expect_name(dm_services_match(real, "host.example.net", 15169, dkim, 1), "Google Workspace",
	            DM_SVC_MAILBOX);
	expect_name(dm_services_match(real, NULL, 16509, NULL, 0), "Amazon AWS (EC2)",
	            DM_SVC_HOSTING);
	assert_null(dm_services_match(real, NULL, 0, NULL, 0));
	assert_null(dm_services_match(real, "host.example.net", 0, dkim, 1));
}

static void
test_longest_wins(void **state)
{
	(void)state;
	char err[512] = "";
	struct dm_services *s = load_text("# two bases, one inside the other\n"
	                                  "[A]\ntype = hosting\nptr = example.com\n"
	                                  "dkim = example.com\n\n"
	                                  "[B]\r\ntype = ESP\r\nptr = Mail.Example.COM.\r\n"
	                                  "dkim = mail.example.com\r\n"
	                                  "asn = AS64500 64501\r\n",
	                                  err, sizeof err);
	if (!s)
		print_error("%s\n", err);
	assert_non_null(s);
	assert_int_equal(dm_services_count(s), 2);
	expect_name(dm_services_by_ptr(s, "example.com"), "A", DM_SVC_HOSTING);
	expect_name(dm_services_by_ptr(s, "x.example.com"), "A", DM_SVC_HOSTING);
	expect_name(dm_services_by_ptr(s, "mail.example.com"), "B", DM_SVC_ESP);
	expect_name(dm_services_by_ptr(s, "out1.MAIL.example.com."), "B", DM_SVC_ESP);
	expect_name(dm_services_by_ptr(s, "a.b.mail.example.com"), "B", DM_SVC_ESP);
	expect_name(dm_services_by_ptr(s, "xmail.example.com"), "A", DM_SVC_HOSTING);
	expect_name(dm_services_by_domain(s, "sub.mail.example.com"), "B", DM_SVC_ESP);
	expect_name(dm_services_by_asn(s, 64500), "B", DM_SVC_ESP);
	expect_name(dm_services_by_asn(s, 64501), "B", DM_SVC_ESP);
	assert_null(dm_services_by_spf(s, "example.com"));
	dm_services_free(s);
}

static void
test_many(void **state)
{
	(void)state;
	/* enough services and names for the tables to grow several times */
	size_t cap = 1024 * 1024, n = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	for (int i = 0; i < 3000; i++)
		n += (size_t)snprintf(text + n, cap - n,
		                      "[Service %d]\ntype = other\nptr = s%d.example\nasn = %d\n"
		                      "dkim = d%d.example e%d.example\n",
		                      i, i, 100000 + i, i, i);
	assert_true(n < cap);
	char err[512] = "";
	struct dm_services *s = load_text(text, err, sizeof err);
	free(text);
	if (!s)
		print_error("%s\n", err);
	assert_non_null(s);
	assert_int_equal(dm_services_count(s), 3000);
	for (int i = 0; i < 3000; i += 7) {
		char name[64], ptr[64], want[32];
		snprintf(want, sizeof want, "Service %d", i);
		snprintf(ptr, sizeof ptr, "host.s%d.example", i);
		expect_name(dm_services_by_ptr(s, ptr), want, DM_SVC_OTHER);
		snprintf(name, sizeof name, "E%d.example", i);
		expect_name(dm_services_by_domain(s, name), want, DM_SVC_OTHER);
		expect_name(dm_services_by_asn(s, (uint32_t)(100000 + i)), want, DM_SVC_OTHER);
	}
	assert_null(dm_services_by_ptr(s, "s3000.example"));
	dm_services_free(s);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error("[A]\ntype = esp\ncolour = blue\n", 3, "unknown key 'colour'");
	expect_error("# c\n\n[A]\ntype = postal\n", 4, "unknown type 'postal'");
	/* a section without type: said at its own line */
	expect_error("[A]\nptr = a.example\n[B]\ntype = esp\n", 1, "[A] has no type");
	expect_error("[A]\ntype = esp\n\n[B]\nptr = b.example\n", 4, "[B] has no type");
	expect_error("[Mailgun]\ntype = esp\n[mailgun]\ntype = esp\n", 3, "listed twice");
	char longname[200];
	snprintf(longname, sizeof longname, "[%0*d]\ntype = esp\n", DM_SERVICE_NAME_MAX + 1, 0);
	expect_error(longname, 1, "over 64 bytes");
	snprintf(longname, sizeof longname, "[%0*d]\ntype = esp\n", DM_SERVICE_NAME_MAX, 0);
	char err[512];
	struct dm_services *s = load_text(longname, err, sizeof err);
	assert_non_null(s); /* 64 bytes is allowed */
	dm_services_free(s);
	expect_error("# services\nptr = a.example\n[A]\ntype = esp\n", 2,
	             "outside a [service] section");
	expect_error("[A]\ntype = esp\nptr a.example\n", 3, "expected");
	expect_error("[A]\ntype = esp\ntype = crm\n", 3, "a second type");
	expect_error("[A]\ntype = esp\nptr =\n", 3, "without a value");
	expect_error("[A]\ntype = esp\nptr = com\n", 3, "not a domain");
	expect_error("[A]\ntype = esp\nptr = a..example\n", 3, "not a domain");
	expect_error("[A]\ntype = esp\nptr = a.example/x\n", 3, "not a domain");
	expect_error("[A]\ntype = esp\nasn = 0\n", 3, "not an AS number");
	expect_error("[A]\ntype = esp\nasn = 4294967296\n", 3, "not an AS number");
	expect_error("[A]\ntype = esp\nasn = 12x\n", 3, "not an AS number");
	expect_error("[]\ntype = esp\n", 1, "empty service name");
	expect_error("[A\ntype = esp\n", 1, "expected '[service name]'");
	expect_error("[A]\ntype = esp\nptr = a.example\n[B]\ntype = crm\nptr = A.Example.\n", 6,
	             "is already listed for [A] at line 3");
	expect_error("[A]\ntype = esp\nasn = 1 2 1\n", 3, "is already listed");
	/* a NUL byte */
	static const char nul[] = "[A]\ntype = esp\nptr = a.example\0b.example\n";
	err[0] = '\0';
	assert_null(load_bytes(nul, sizeof nul - 1, err, sizeof err));
	assert_non_null(strstr(err, ":3: a NUL byte"));
	/* no err buffer: still NULL, nothing written */
	assert_null(load_text("[A]\n", NULL, 0));
	/* a missing file */
	err[0] = '\0';
	assert_null(dm_services_load("/nonexistent/services.conf", err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/services.conf"));
}

static void
test_empty_and_limits(void **state)
{
	(void)state;
	char err[512] = "";
	struct dm_services *s = load_text("", err, sizeof err);
	assert_non_null(s);
	assert_int_equal(dm_services_count(s), 0);
	assert_null(dm_services_by_ptr(s, "mail.google.com"));
	assert_null(dm_services_by_asn(s, 15169));
	assert_null(dm_services_by_spf(s, "_spf.google.com"));
	assert_null(dm_services_by_domain(s, "gappssmtp.com"));
	assert_null(dm_services_match(s, "mail.google.com", 15169, NULL, 0));
	dm_services_free(s);
	s = load_text("# only comments\n   \n\t# and blanks\n", err, sizeof err);
	assert_non_null(s);
	assert_int_equal(dm_services_count(s), 0);
	dm_services_free(s);
	dm_services_free(NULL);
	assert_int_equal(dm_services_count(NULL), 0);

	/* more services than DM_SERVICES_MAX */
	size_t cap = 2 * 1024 * 1024, n = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	for (int i = 0; i <= DM_SERVICES_MAX; i++)
		n += (size_t)snprintf(text + n, cap - n, "[S%d]\ntype = other\n", i);
	assert_true(n < cap);
	char what[64];
	snprintf(what, sizeof what, "more than %d services", DM_SERVICES_MAX);
	expect_error(text, 2 * DM_SERVICES_MAX + 1, what);
	/* more names than DM_SERVICES_MAX_NAMES, on one line */
	n = (size_t)snprintf(text, cap, "[A]\ntype = other\nasn =");
	for (int i = 1; i <= DM_SERVICES_MAX_NAMES + 1; i++)
		n += (size_t)snprintf(text + n, cap - n, " %d", i);
	assert_true(n < cap);
	snprintf(what, sizeof what, "more than %d names", DM_SERVICES_MAX_NAMES);
	expect_error(text, 3, what);
	free(text);
	/* a file over DM_SERVICES_MAX_FILE */
	text = malloc(DM_SERVICES_MAX_FILE + 2);
	assert_non_null(text);
	memset(text, '#', DM_SERVICES_MAX_FILE + 1);
	text[DM_SERVICES_MAX_FILE + 1] = '\0';
	assert_null(load_text(text, err, sizeof err));
	assert_non_null(strstr(err, "larger than"));
	text[DM_SERVICES_MAX_FILE] = '\0'; /* at the limit: one long comment */
	s = load_text(text, err, sizeof err);
	assert_non_null(s);
	dm_services_free(s);
	free(text);
}

/* The SPF include advised for a service: its first in the file. */
static void
test_spf_of(void **state)
{
	(void)state;
	char err[512] = "", out[128];
	struct dm_services *s = load_text("[A]\ntype = esp\nspf = first.example second.example\n"
	                                  "spf = third.example\n\n[B]\ntype = crm\nptr = b.example\n",
	                                  err, sizeof err);
	if (!s)
		print_error("%s\n", err);
	assert_non_null(s);
	dm_services_spf_of(s, "A", out, sizeof out);
	assert_string_equal(out, "first.example");
	dm_services_spf_of(s, "a", out, sizeof out); /* the name's case does not matter */
	assert_string_equal(out, "first.example");
	dm_services_spf_of(s, "B", out, sizeof out);
	assert_string_equal(out, "");
	dm_services_spf_of(s, "nobody", out, sizeof out);
	assert_string_equal(out, "");
	dm_services_spf_of(s, "A", out, 6); /* cut to the room there is */
	assert_string_equal(out, "first");
	dm_services_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_real_file),    cmocka_unit_test(test_known_senders),
	        cmocka_unit_test(test_boundaries),   cmocka_unit_test(test_match),
	        cmocka_unit_test(test_longest_wins), cmocka_unit_test(test_many),
	        cmocka_unit_test(test_errors),       cmocka_unit_test(test_empty_and_limits),
	        cmocka_unit_test(test_spf_of),
	};
	return cmocka_run_group_tests(tests, load_real, free_real);
}
