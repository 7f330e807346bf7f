/*
 * test_spf_record.c - dm_spf_record_parse: every mechanism and modifier
 * of RFC 7208, their qualifiers, cidr lengths and macros, the lookups of
 * a record's own terms, and every finding code (docs/RECORDS.md).
 */

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dns/spf_record.h"

static struct dm_spf_record rec;

static const struct dm_spf_record *
parse(const char *text)
{
	dm_spf_record_parse(text, strlen(text), &rec);
	return &rec;
}

static int
count(const char *code, int sev)
{
	int n = 0;
	for (size_t i = 0; i < rec.nfindings; i++)
		if (strcmp(rec.findings[i].code, code) == 0 &&
		    (sev < 0 || (int)rec.findings[i].severity == sev))
			n++;
	return n;
}

static void
expect(const char *text, const char *code, enum dm_finding_severity sev)
{
	parse(text);
	if (count(code, (int)sev) == 0) {
		print_error("%s: no %s %s; findings:\n", text, dm_finding_severity_name(sev), code);
		for (size_t i = 0; i < rec.nfindings; i++)
			print_error("  %s %s\n", rec.findings[i].code, rec.findings[i].message);
	}
	assert_true(count(code, (int)sev) > 0);
}

static void
test_every_term(void **state)
{
	(void)state;
	const struct dm_spf_record *r =
	        parse("v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.7 ip6:2001:db8::/32 a a:x.example/24"
	              " mx:mail.example.com/24//64 mx//48 ptr:example.org include:_spf.google.com"
	              " exists:%{i}._spf.example.com ~all exp=explain.%{d}");
	assert_true(r->is_spf);
	assert_int_equal(r->nterms, 12);
	assert_int_equal(r->terms[0].kind, DM_SPF_IP4);
	assert_string_equal(r->terms[0].value, "192.0.2.0/24");
	assert_int_equal(r->terms[2].kind, DM_SPF_IP6);
	assert_int_equal(r->terms[5].kind, DM_SPF_MX);
	assert_string_equal(r->terms[5].value, "mail.example.com/24//64");
	assert_int_equal(r->terms[10].kind, DM_SPF_ALL);
	assert_int_equal(r->terms[10].qualifier, '~');
	assert_int_equal(r->terms[11].kind, DM_SPF_EXP);
	/* a, a:, mx:, mx, ptr, include, exists: 7 lookups; exp is none */
	assert_int_equal(r->lookups, 7);
	assert_int_equal(count("ptr_used", DM_FINDING_WARNING), 1);
	assert_int_equal(count("softfail_all", DM_FINDING_INFO), 1);
	assert_true(r->valid);
	/* the qualifiers */
	parse("v=spf1 +a -mx ~ptr ?include:x.example -all");
	assert_int_equal(rec.terms[0].qualifier, '+');
	assert_int_equal(rec.terms[1].qualifier, '-');
	assert_int_equal(rec.terms[2].qualifier, '~');
	assert_int_equal(rec.terms[3].qualifier, '?');
	/* case does not matter */
	parse("V=SPF1 IP4:192.0.2.1 Include:X.Example -ALL");
	assert_true(rec.valid);
	assert_int_equal(rec.nterms, 3);
}

static void
test_not_spf(void **state)
{
	(void)state;
	expect("v=spf10 -all", "not_spf", DM_FINDING_ERROR);
	expect("v=DMARC1; p=none", "not_spf", DM_FINDING_ERROR);
	expect("spf1 -all", "not_spf", DM_FINDING_ERROR);
	assert_false(rec.is_spf);
	parse("v=spf1");
	assert_true(rec.is_spf);
	assert_int_equal(count("no_all", DM_FINDING_WARNING), 1);
	char big[DM_SPF_MAX_RECORD + 10];
	memset(big, 'a', sizeof big);
	memcpy(big, "v=spf1 ", 7);
	dm_spf_record_parse(big, sizeof big, &rec);
	assert_int_equal(count("too_long", DM_FINDING_ERROR), 1);
}

static void
test_bad_terms(void **state)
{
	(void)state;
	static const struct {
		const char *text, *code;
	} bad[] = {
	        {"v=spf1 ip4:192.0.2.0/33 -all", "bad_ip"},
	        {"v=spf1 ip4:192.0.2 -all", "bad_ip"},
	        {"v=spf1 ip4:2001:db8::1 -all", "bad_ip"},
	        {"v=spf1 ip6:2001:db8::/129 -all", "bad_ip"},
	        {"v=spf1 ip6:192.0.2.1 -all", "bad_ip"},
	        {"v=spf1 ip4 -all", "bad_ip"},
	        {"v=spf1 ip4:192.0.2.0/024 -all", "bad_ip"},
	        {"v=spf1 include -all", "bad_domain"},
	        {"v=spf1 include:localhost -all", "bad_domain"},
	        {"v=spf1 include:example.123 -all", "bad_domain"},
	        {"v=spf1 a:x.example/33 -all", "bad_domain"},
	        {"v=spf1 mx/24//129 -all", "bad_domain"},
	        {"v=spf1 exists:%{x}.example.com -all", "bad_domain"},
	        {"v=spf1 exists:%{i.example.com -all", "bad_domain"},
	        {"v=spf1 include:x.example% -all", "bad_domain"},
	        {"v=spf1 redirect=nowhere", "bad_domain"},
	        {"v=spf1 -all:x.example", "syntax"},
	        {"v=spf1 include:x.example foo -all", "syntax"},
	        {"v=spf1 allow -all", "syntax"},
	        {"v=spf1 redirect=a.example redirect=b.example", "duplicate_modifier"},
	        {"v=spf1 -all exp=a.example exp=b.example", "duplicate_modifier"},
	        {"v=spf1 +all", "plus_all"},
	        {"v=spf1 all", "plus_all"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		expect(bad[i].text, bad[i].code, DM_FINDING_ERROR);
		assert_false(rec.valid);
	}
	/* macros that are right */
	parse("v=spf1 a:%{ir}.%{v}._spf.%{d2} exists:%{l1r-}.%{o}.x.example"
	      " include:%%.%_.%-.x.example -all");
	assert_true(rec.valid);
	/* exp may use c, r and t; a domain may not */
	parse("v=spf1 -all exp=%{c}.example.com");
	assert_false(rec.valid);
}

static void
test_findings(void **state)
{
	(void)state;
	expect("v=spf1 mx ?all", "neutral_all", DM_FINDING_WARNING);
	expect("v=spf1 mx ~all", "softfail_all", DM_FINDING_INFO);
	expect("v=spf1 mx", "no_all", DM_FINDING_WARNING);
	parse("v=spf1 mx redirect=_spf.example.com");
	assert_int_equal(count("no_all", -1), 0);
	expect("v=spf1 mx redirect=_spf.example.com -all", "redirect_ignored", DM_FINDING_WARNING);
	expect("v=spf1 -all mx", "after_all", DM_FINDING_WARNING);
	expect("v=spf1 ptr -all", "ptr_used", DM_FINDING_WARNING);
	expect("v=spf1 foo=bar -all", "unknown_modifier", DM_FINDING_INFO);
	assert_true(rec.valid);
	/* 11 lookups of its own */
	expect("v=spf1 a mx ptr include:a.example include:b.example include:c.example"
	       " include:d.example exists:e.example a:f.example mx:g.example"
	       " redirect=h.example",
	       "lookups_over_limit", DM_FINDING_ERROR);
	assert_int_equal(rec.lookups, 11);
	/* 10 is the limit, not over it */
	parse("v=spf1 a mx include:a.example include:b.example include:c.example"
	      " include:d.example exists:e.example a:f.example mx:g.example include:h.example "
	      "-all");
	assert_int_equal(rec.lookups, 10);
	assert_int_equal(count("lookups_over_limit", -1), 0);
	char longrec[600] = "v=spf1";
	for (int i = 0; i < 30; i++)
		snprintf(longrec + strlen(longrec), sizeof longrec - strlen(longrec),
		         " ip4:192.0.2.%d", i);
	strcat(longrec, " -all");
	expect(longrec, "long_record", DM_FINDING_WARNING);
	char many[2048] = "v=spf1";
	for (int i = 0; i < DM_SPF_MAX_TERMS + 5; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), " ip4:10.0.0.%d",
		         i % 250);
	expect(many, "too_many_terms", DM_FINDING_ERROR);
	assert_int_equal(count("too_many_terms", -1), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_term),
	        cmocka_unit_test(test_not_spf),
	        cmocka_unit_test(test_bad_terms),
	        cmocka_unit_test(test_findings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
