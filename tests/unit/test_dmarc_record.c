/*
 * test_dmarc_record.c - dm_dmarc_record_parse: every tag of RFC 7489 and
 * RFC 9989, the effective policy with its defaults, and every finding
 * code (docs/RECORDS.md), each from a record that shows it; the
 * generator and the zone file's character-strings.
 */

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "dns/dmarc_record.h"

static struct dm_dmarc_record rec;

static const struct dm_dmarc_record *
parse(const char *text)
{
	dm_dmarc_record_parse(text, strlen(text), &rec);
	return &rec;
}

/* How many findings of code r has (of severity sev, or any when -1). */
static int
count(const struct dm_dmarc_record *r, const char *code, int sev)
{
	int n = 0;
	for (size_t i = 0; i < r->nfindings; i++)
		if (strcmp(r->findings[i].code, code) == 0 &&
		    (sev < 0 || (int)r->findings[i].severity == sev))
			n++;
	return n;
}

static void
expect(const char *text, const char *code, enum dm_finding_severity sev)
{
	const struct dm_dmarc_record *r = parse(text);
	if (count(r, code, (int)sev) == 0) {
		print_error("%s: no %s %s; findings:\n", text, dm_finding_severity_name(sev), code);
		for (size_t i = 0; i < r->nfindings; i++)
			print_error("  %s %s %s\n",
			            dm_finding_severity_name(r->findings[i].severity),
			            r->findings[i].code, r->findings[i].message);
	}
	assert_int_equal(count(r, code, (int)sev) > 0, 1);
}

static void
test_minimal_and_defaults(void **state)
{
	(void)state;
	const struct dm_dmarc_record *r = parse("v=DMARC1; p=reject; rua=mailto:d@example.com");
	assert_true(r->is_dmarc);
	assert_true(r->valid);
	assert_string_equal(r->eff.p, "reject");
	assert_string_equal(r->eff.sp, "reject"); /* sp defaults to p */
	assert_string_equal(r->eff.np, "reject"); /* np to sp */
	assert_string_equal(r->eff.adkim, "r");
	assert_string_equal(r->eff.aspf, "r");
	assert_string_equal(r->eff.fo, "0");
	assert_string_equal(r->eff.t, "n");
	assert_string_equal(r->eff.psd, "u");
	assert_int_equal(r->eff.pct, 100);
	assert_int_equal(r->nrua, 1);
	assert_string_equal(r->rua[0].address, "d@example.com");
	assert_string_equal(r->rua[0].host, "example.com");
	assert_int_equal(r->nfindings, 0);
	/* np falls back to an explicit sp */
	r = parse("v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com");
	assert_string_equal(r->eff.np, "quarantine");
}

static void
test_every_tag(void **state)
{
	(void)state;
	const struct dm_dmarc_record *r = parse(
	        "v=DMARC1; p=Quarantine; sp=REJECT; np=reject; adkim=s; aspf=S; fo=1:d:s;"
	        " rua=mailto:a@rep.example.net, mailto:b@example.com; ruf=mailto:f@example.com;"
	        " pct=100; rf=afrf; ri=3600; t=n; psd=n;");
	assert_true(r->valid);
	assert_string_equal(r->p, "quarantine");
	assert_string_equal(r->sp, "reject");
	assert_string_equal(r->np, "reject");
	assert_string_equal(r->adkim, "s");
	assert_string_equal(r->aspf, "s");
	assert_string_equal(r->fo, "1:d:s");
	assert_int_equal(r->nrua, 2);
	assert_string_equal(r->rua[0].host, "rep.example.net");
	assert_int_equal(r->nruf, 1);
	assert_int_equal(r->pct, 100);
	assert_string_equal(r->rf, "afrf");
	assert_int_equal(r->ri, 3600);
	assert_string_equal(r->t, "n");
	assert_string_equal(r->psd, "n");
	/* the historic tags are named, nothing else */
	assert_int_equal(count(r, "historic_tag", DM_FINDING_INFO), 3);
	assert_int_equal(r->nfindings, 3);
}

static void
test_syntax_freedom(void **state)
{
	(void)state;
	/* spaces and tabs around '=' and ';', upper-case tags and keywords,
	 * a trailing ';', empty parts */
	const struct dm_dmarc_record *r =
	        parse("V = DMARC1 ;\tP\t=\tReject ;; RUA = mailto:d@example.com ; ");
	assert_true(r->valid);
	assert_string_equal(r->eff.p, "reject");
	assert_int_equal(r->nfindings, 0);
	/* not NUL-terminated: only len bytes are read */
	char buf[64];
	memcpy(buf, "v=DMARC1; p=reject; rua=mailto:d@example.comXXXX", 48);
	dm_dmarc_record_parse(buf, 44, &rec);
	assert_true(rec.valid);
	assert_string_equal(rec.rua[0].address, "d@example.com");
}

static void
test_not_dmarc(void **state)
{
	(void)state;
	expect("v=spf1 -all", "not_dmarc", DM_FINDING_ERROR);
	expect("v=dmarc1; p=reject", "not_dmarc", DM_FINDING_ERROR); /* DMARC1 is case-sensitive */
	expect("p=reject; v=DMARC1", "not_dmarc", DM_FINDING_ERROR); /* v first */
	expect("", "not_dmarc", DM_FINDING_ERROR);
	expect("DMARC1", "not_dmarc", DM_FINDING_ERROR);
	assert_false(parse("v=DMARC1x; p=none")->is_dmarc);
	char big[DM_DMARC_MAX_RECORD + 10];
	memset(big, 'a', sizeof big);
	memcpy(big, "v=DMARC1; p=none; x=", 20);
	dm_dmarc_record_parse(big, sizeof big, &rec);
	assert_int_equal(count(&rec, "too_long", DM_FINDING_ERROR), 1);
	assert_false(rec.valid);
}

static void
test_bad_values(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "v=DMARC1; p=block; rua=mailto:d@example.com",
	        "v=DMARC1; p=reject; sp=maybe",
	        "v=DMARC1; p=reject; np=1",
	        "v=DMARC1; p=reject; adkim=x",
	        "v=DMARC1; p=reject; aspf=relaxed",
	        "v=DMARC1; p=reject; fo=2",
	        "v=DMARC1; p=reject; fo=0:x",
	        "v=DMARC1; p=reject; pct=101",
	        "v=DMARC1; p=reject; pct=-1",
	        "v=DMARC1; p=reject; pct=1000",
	        "v=DMARC1; p=reject; rf=iodef",
	        "v=DMARC1; p=reject; ri=4294967296",
	        "v=DMARC1; p=reject; ri=1h",
	        "v=DMARC1; p=reject; t=yes",
	        "v=DMARC1; p=reject; psd=x",
	        "v=DMARC1; p=reject; sp=",
	        "v=DMARC1; p=reject; sp=\x01",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		expect(bad[i], "bad_value", DM_FINDING_ERROR);
		assert_false(rec.valid);
		assert_true(rec.is_dmarc);
	}
	/* a bad value is ignored: the default stays */
	parse("v=DMARC1; p=reject; adkim=x; rua=mailto:d@example.com");
	assert_string_equal(rec.eff.adkim, "r");
	/* fo: 0 and 1 together, and a repeat, are warnings */
	expect("v=DMARC1; p=reject; fo=0:1; ruf=mailto:f@example.com", "bad_value",
	       DM_FINDING_WARNING);
	expect("v=DMARC1; p=reject; fo=d:d; ruf=mailto:f@example.com", "bad_value",
	       DM_FINDING_WARNING);
}

static void
test_tags(void **state)
{
	(void)state;
	expect("v=DMARC1; p=reject; rua=mailto:d@example.com; x=1", "unknown_tag",
	       DM_FINDING_WARNING);
	assert_true(rec.valid); /* unknown tags are ignored */
	expect("v=DMARC1; p=reject; p=none; rua=mailto:d@example.com", "duplicate_tag",
	       DM_FINDING_ERROR);
	assert_string_equal(rec.eff.p, "reject"); /* the first is read */
	expect("v=DMARC1; v=DMARC1; p=reject", "duplicate_tag", DM_FINDING_ERROR);
	expect("v=DMARC1; rua=mailto:d@example.com; p=reject", "p_not_second", DM_FINDING_WARNING);
	expect("v=DMARC1; p=reject; garbage", "syntax", DM_FINDING_ERROR);
	expect("v=DMARC1; p=reject; 1x=2", "syntax", DM_FINDING_ERROR);
}

static void
test_policy_findings(void **state)
{
	(void)state;
	/* no p, a usable rua: p=none implied */
	expect("v=DMARC1; rua=mailto:d@example.com", "missing_p", DM_FINDING_WARNING);
	assert_true(rec.valid);
	assert_string_equal(rec.eff.p, "none");
	assert_int_equal(count(&rec, "p_none", DM_FINDING_WARNING), 1);
	/* an invalid p with a rua: the same */
	expect("v=DMARC1; p=strict; rua=mailto:d@example.com", "missing_p", DM_FINDING_WARNING);
	assert_string_equal(rec.eff.p, "none");
	/* neither: no DMARC at all */
	expect("v=DMARC1; adkim=s", "no_policy", DM_FINDING_ERROR);
	assert_string_equal(rec.eff.p, "");
	expect("v=DMARC1; p=none; rua=mailto:d@example.com", "p_none", DM_FINDING_WARNING);
	expect("v=DMARC1; p=reject; sp=none; rua=mailto:d@example.com", "sp_weaker",
	       DM_FINDING_WARNING);
	expect("v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com", "sp_weaker",
	       DM_FINDING_WARNING);
	expect("v=DMARC1; p=quarantine; np=none; rua=mailto:d@example.com", "np_weaker",
	       DM_FINDING_WARNING);
	parse("v=DMARC1; p=quarantine; sp=reject; np=reject; rua=mailto:d@example.com");
	assert_int_equal(count(&rec, "sp_weaker", -1) + count(&rec, "np_weaker", -1), 0);
	expect("v=DMARC1; p=reject; pct=20; rua=mailto:d@example.com", "pct_below_100",
	       DM_FINDING_WARNING);
	assert_int_equal(rec.eff.pct, 20);
	expect("v=DMARC1; p=reject; pct=20; rua=mailto:d@example.com", "historic_tag",
	       DM_FINDING_INFO);
	expect("v=DMARC1; p=reject", "no_rua", DM_FINDING_WARNING);
	expect("v=DMARC1; p=reject; fo=1; rua=mailto:d@example.com", "fo_without_ruf",
	       DM_FINDING_INFO);
	expect("v=DMARC1; p=reject; psd=y; rua=mailto:d@example.com; ruf=mailto:f@example.com",
	       "ruf_with_psd", DM_FINDING_WARNING);
	expect("v=DMARC1; p=reject; t=y; rua=mailto:d@example.com", "testing", DM_FINDING_INFO);
}

static void
test_uris(void **state)
{
	(void)state;
	const struct dm_dmarc_record *r =
	        parse("v=DMARC1; p=reject; rua=mailto:a@example.com!10m , mailto:b@example.com!512,"
	              " mailto:c@Example.COM?subject=x");
	assert_int_equal(r->nrua, 3);
	assert_true(r->rua[0].has_size);
	assert_int_equal(r->rua[0].size, 10u << 20);
	assert_string_equal(r->rua[0].uri, "mailto:a@example.com");
	assert_int_equal(r->rua[1].size, 512);
	assert_false(r->rua[2].has_size);
	assert_string_equal(r->rua[2].address, "c@Example.COM");
	assert_string_equal(r->rua[2].host, "example.com");
	assert_int_equal(count(r, "size_suffix", DM_FINDING_INFO), 2);
	assert_int_equal(count(r, "more_than_two_uris", DM_FINDING_INFO), 1);
	expect("v=DMARC1; p=reject; rua=https://r.example/in", "not_mailto", DM_FINDING_WARNING);
	assert_int_equal(rec.nrua, 1);
	assert_int_equal(count(&rec, "no_rua", -1), 0);
	static const char *const bad[] = {
	        "v=DMARC1; p=reject; rua=d@example.com",
	        "v=DMARC1; p=reject; rua=mailto:",
	        "v=DMARC1; p=reject; rua=mailto:@example.com",
	        "v=DMARC1; p=reject; rua=mailto:d@localhost",
	        "v=DMARC1; p=reject; rua=mailto:d@-x.example",
	        "v=DMARC1; p=reject; rua=mailto:d@x..example",
	        "v=DMARC1; p=reject; rua=mailto:d@example.com!",
	        "v=DMARC1; p=reject; rua=mailto:d@example.com!10x",
	        "v=DMARC1; p=reject; rua=mailto:d@example.com!99999999999999999999",
	        "v=DMARC1; p=reject; rua=mailto:d@example.com!99999999999999t",
	        "v=DMARC1; p=reject; rua=mailto:d@example.com,,mailto:e@example.com",
	        "v=DMARC1; p=reject; rua=:x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		expect(bad[i], "bad_uri", DM_FINDING_ERROR);
		assert_false(rec.valid);
	}
	/* no usable rua, no p: no DMARC */
	expect("v=DMARC1; rua=mailto:nobody", "no_policy", DM_FINDING_ERROR);
	/* many URIs: the first DM_DMARC_MAX_URIS are read */
	char many[4096] = "v=DMARC1; p=reject; rua=";
	for (int i = 0; i < DM_DMARC_MAX_URIS + 3; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many),
		         "%smailto:r%d@example.com", i ? "," : "", i);
	expect(many, "too_many_uris", DM_FINDING_WARNING);
	assert_int_equal(rec.nrua, DM_DMARC_MAX_URIS);
}

static void
test_json_and_hostile_text(void **state)
{
	(void)state;
	/* quoted text in messages is printable and bounded */
	parse("v=DMARC1; p=\"<script>\x7f\x1b[31m; rua=mailto:d@example.com");
	for (size_t i = 0; i < rec.nfindings; i++)
		for (const char *c = rec.findings[i].message; *c; c++)
			assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 1 << 20);
	dm_json_init(&j, &b);
	dm_dmarc_record_json(&rec, &j);
	assert_non_null(b.data);
	assert_non_null(strstr(b.data, "\"code\":\"bad_value\""));
	assert_non_null(strstr(b.data, "\"is_dmarc\":true"));
	assert_null(strstr(b.data, "\x1b"));
	dm_buf_free(&b);
}

static void
test_generate(void **state)
{
	(void)state;
	char out[DM_DMARC_MAX_RECORD + 1];
	struct dm_dmarc_wish w = {.p = "reject",
	                          .sp = "reject",
	                          .np = "quarantine",
	                          .adkim = "s",
	                          .aspf = "r",
	                          .fo = "1",
	                          .testing = 1};
	w.rua[w.nrua++] = "d@example.com";
	w.rua[w.nrua++] = "mailto:e@example.net";
	w.ruf[w.nruf++] = "f@example.com";
	assert_int_equal(dm_dmarc_record_generate(&w, out, sizeof out), 0);
	/* v and p first; sp equal to p and aspf=r left out */
	assert_string_equal(out, "v=DMARC1; p=reject; np=quarantine; adkim=s; t=y;"
	                         " rua=mailto:d@example.com,mailto:e@example.net;"
	                         " ruf=mailto:f@example.com; fo=1");
	/* what is generated reads back as meant */
	parse(out);
	assert_true(rec.valid);
	assert_string_equal(rec.eff.np, "quarantine");
	assert_int_equal(rec.nrua, 2);
	/* no policy given: p=none */
	struct dm_dmarc_wish none = {0};
	assert_int_equal(dm_dmarc_record_generate(&none, out, sizeof out), 0);
	assert_string_equal(out, "v=DMARC1; p=none");
	/* fo only with a ruf */
	struct dm_dmarc_wish fo = {.p = "none", .fo = "1"};
	assert_int_equal(dm_dmarc_record_generate(&fo, out, sizeof out), 0);
	assert_string_equal(out, "v=DMARC1; p=none");
	/* too small a buffer */
	assert_int_equal(dm_dmarc_record_generate(&w, out, 20), -1);
}

static void
test_zone_strings(void **state)
{
	(void)state;
	char out[4 * DM_DMARC_MAX_RECORD];
	assert_int_equal(dm_txt_zone_strings("v=DMARC1; p=none", out, sizeof out), 0);
	assert_string_equal(out, "\"v=DMARC1; p=none\"");
	assert_int_equal(dm_txt_zone_strings("a\"b\\c", out, sizeof out), 0);
	assert_string_equal(out, "\"a\\\"b\\\\c\"");
	/* long: strings of at most 255 bytes, split after "; " where one fits,
	 * joined again they are the text */
	char text[1200] = "v=DMARC1; p=reject; rua=";
	for (int i = 0; i < 12; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text),
		         "%smailto:reports-%d-long-mailbox@aggregate.example.net", i ? "," : "", i);
	strcat(text, "; ruf=mailto:f@example.com; fo=1");
	assert_int_equal(dm_txt_zone_strings(text, out, sizeof out), 0);
	char joined[1200] = "";
	size_t nstr = 0;
	for (const char *p = out; *p;) {
		assert_int_equal(*p, '"');
		const char *e = strchr(p + 1, '"');
		assert_non_null(e);
		assert_true(e - p - 1 <= 255);
		strncat(joined, p + 1, (size_t)(e - p - 1));
		nstr++;
		p = e + 1;
		if (*p == ' ')
			p++;
	}
	assert_string_equal(joined, text);
	assert_true(nstr >= 3);
	/* the first string ends at a tag boundary */
	assert_non_null(strstr(out, "; \" \""));
	assert_int_equal(dm_txt_zone_strings(text, out, 100), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_minimal_and_defaults),
	        cmocka_unit_test(test_every_tag),
	        cmocka_unit_test(test_syntax_freedom),
	        cmocka_unit_test(test_not_dmarc),
	        cmocka_unit_test(test_bad_values),
	        cmocka_unit_test(test_tags),
	        cmocka_unit_test(test_policy_findings),
	        cmocka_unit_test(test_uris),
	        cmocka_unit_test(test_json_and_hostile_text),
	        cmocka_unit_test(test_generate),
	        cmocka_unit_test(test_zone_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
