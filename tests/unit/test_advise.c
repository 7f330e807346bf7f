/*
 * test_advise.c - the rollout advisor (src/dns/advise.c) fed records by
 * hand, without a store or a service map: totals, the bound on sources
 * (what is past it counts as not analysed), the forwarding overrides,
 * the unknown sources' top list in order, and the steps of the road to
 * p=reject with their records.  The grouping by service, which needs the
 * map, is tested end to end in tests/dns/test_advise.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/limits.h"
#include "dns/advise.h"

#define DAY 86400

/* A record of count messages from 10.(k>>16).(k>>8).k, passing or not. */
static void
feed(struct dm_advisor *a, struct store_report_row *r, uint32_t k, int64_t count, int pass,
     const char *reason)
{
	struct dm_record rec;
	struct dm_reason why = {reason, NULL};
	memset(&rec, 0, sizeof rec);
	rec.ip[10] = rec.ip[11] = 0xff;
	rec.ip[12] = 10;
	rec.ip[13] = (unsigned char)(k >> 16);
	rec.ip[14] = (unsigned char)(k >> 8);
	rec.ip[15] = (unsigned char)k;
	rec.ip_family = 4;
	rec.count = count;
	rec.dkim = pass ? "pass" : "fail";
	rec.spf = "fail";
	rec.header_from = "shop.test";
	if (reason) {
		rec.reasons = &why;
		rec.nreasons = 1;
	}
	assert_int_equal(dm_advisor_add(a, r, &rec), 0);
}

/* The advisor's JSON, parsed only as far as a test needs: the text. */
static char *
json_of(const struct dm_advisor *a)
{
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 16 * 1024 * 1024);
	dm_json_init(&j, &b);
	dm_advisor_json(a, &j);
	assert_int_equal(dm_buf_addc(&b, '\0'), 0);
	char *s = strdup(b.data);
	dm_buf_free(&b);
	return s;
}

static struct store_report_row
report(int64_t id, int64_t day, const char *p, const char *sp, const char *np)
{
	struct store_report_row r;
	memset(&r, 0, sizeof r);
	r.id = id;
	r.begin = day * DAY;
	r.end = day * DAY + DAY - 1;
	r.policy.p = p;
	r.policy.sp = sp;
	r.policy.np = np;
	r.policy.pct = -1;
	return r;
}

static void
test_bound_and_groups(void **state)
{
	(void)state;
	struct dm_advisor *a = dm_advisor_new("Shop.Test", 20000 * DAY, 20009 * DAY);
	/* ten days, one report each: 2000 passing from one source */
	for (int d = 0; d < 10; d++) {
		struct store_report_row r = report(d + 1, 20000 + d, "none", NULL, NULL);
		feed(a, &r, 1, 2000, 1, NULL);
	}
	struct store_report_row r = report(99, 20009, "none", NULL, NULL);
	/* a mailing list, then more distinct failing sources than kept */
	feed(a, &r, 2, 30, 0, "mailing_list");
	for (uint32_t k = 3; k < 3 + DM_ADVISE_MAX_SOURCES + 100; k++)
		feed(a, &r, k, k < 13 ? 100 + (int64_t)k : 1, 0, NULL);
	assert_int_equal(dm_advisor_reports(a), 11);
	assert_int_equal(dm_advisor_finish(a, NULL, NULL, NULL, 0), 0);
	char *j = json_of(a);
	/* the sources past the bound: 100 + the 2 the forwarder and the
	 * passing one took from it, each 1 failing message */
	uint64_t unknown = 0;
	for (uint32_t k = 3; k < 3 + DM_ADVISE_MAX_SOURCES - 2; k++)
		unknown += k < 13 ? 100 + k : 1;
	char want[256];
	snprintf(want, sizeof want,
	         "\"failing\":{\"messages\":%llu,\"services\":0,\"forwarders\":30,\"unknown\":%llu,"
	         "\"not_analysed\":102}",
	         (unsigned long long)(unknown + 30 + 102), (unsigned long long)unknown);
	if (!strstr(j, want))
		print_error("want %s\nin %.600s\n", want, j);
	assert_non_null(strstr(j, want));
	assert_non_null(strstr(j, "\"domain\":\"shop.test\""));
	/* the largest unknown first: 10.0.0.12 with 112 */
	assert_non_null(strstr(j, "\"top\":[{\"ip\":\"10.0.0.12\",\"messages\":112,\"failing\":112"));
	/* no service fails: quarantine is safe; the failing share is of
	 * the known services only */
	assert_non_null(strstr(j, "\"step\":\"quarantine\",\"safe\":true"));
	assert_non_null(strstr(j, "\"record\":\"v=DMARC1; p=quarantine\""));
	free(j);
	dm_advisor_free(a);
}

/* The step after each published policy, and its record. */
static void
test_steps(void **state)
{
	(void)state;
	static const struct {
		const char *p, *sp, *np;
		const char *step, *record;
	} cases[] = {
	        {NULL, NULL, NULL, "quarantine", "v=DMARC1; p=quarantine"},
	        {"none", "reject", NULL, "quarantine", "v=DMARC1; p=quarantine; sp=reject"},
	        {"quarantine", NULL, NULL, "reject", "v=DMARC1; p=reject"},
	        {"reject", "none", NULL, "sp", "v=DMARC1; p=reject"},
	        {"reject", "quarantine", "none", "sp", "v=DMARC1; p=reject; np=none"},
	        {"reject", "reject", "none", "np", "v=DMARC1; p=reject"},
	        {"reject", NULL, NULL, "done", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dm_advisor *a = dm_advisor_new("shop.test", 0, 9 * DAY);
		for (int d = 0; d < 10; d++) {
			struct store_report_row r = report(d + 1, 20000 + d, cases[i].p, cases[i].sp,
			                                   cases[i].np);
			feed(a, &r, 1, 50, 1, NULL);
		}
		assert_int_equal(dm_advisor_finish(a, NULL, NULL, NULL, 0), 0);
		char *j = json_of(a);
		char want[160];
		snprintf(want, sizeof want, "\"step\":\"%s\",\"safe\":true", cases[i].step);
		if (!strstr(j, want))
			print_error("case %zu: %s\n", i, j);
		assert_non_null(strstr(j, want));
		if (cases[i].record)
			snprintf(want, sizeof want, "\"record\":\"%s\"", cases[i].record);
		else
			snprintf(want, sizeof want, "\"record\":null");
		if (!strstr(j, want))
			print_error("case %zu: want %s in %s\n", i, want, j);
		assert_non_null(strstr(j, want));
		assert_true(dm_advisor_safe(a));
		free(j);
		dm_advisor_free(a);
	}
}

/* Too few days or messages hold the step, whatever passes. */
static void
test_too_little(void **state)
{
	(void)state;
	struct dm_advisor *a = dm_advisor_new("shop.test", 0, 0);
	struct store_report_row r = report(1, 20000, "none", NULL, NULL);
	feed(a, &r, 1, 5000, 1, NULL);
	assert_int_equal(dm_advisor_finish(a, NULL, NULL, NULL, 0), 0);
	char *j = json_of(a);
	assert_non_null(strstr(j, "\"safe\":false"));
	assert_non_null(strstr(j, "\"code\":\"too_little_data\""));
	assert_false(dm_advisor_safe(a));
	free(j);
	dm_advisor_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_bound_and_groups),
	        cmocka_unit_test(test_steps),
	        cmocka_unit_test(test_too_little),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
