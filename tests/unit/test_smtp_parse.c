/*
 * test_smtp_parse.c - the DATA scanner and the path parser of the SMTP
 * intake (src/smtp/smtp_parse.c), without sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/limits.h"
#include "smtp/smtp_parse.h"

struct out {
	char *p;
	size_t n, cap;
};

static void
put(void *arg, const char *p, size_t n)
{
	struct out *o = arg;
	if (o->cap - o->n < n) {
		o->cap = (o->cap + n) * 2;
		o->p = realloc(o->p, o->cap);
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

/* Scan in (len bytes) in chunks of chunk bytes; returns the bytes
 * consumed, or (size_t)-1 when the terminator was not found. */
static size_t
scan(const char *in, size_t len, size_t chunk, struct out *o, int *long_line)
{
	struct smtp_data_scan sc;
	size_t used = 0;
	int end = 0;
	o->n = 0;
	smtp_data_scan_init(&sc, put, o);
	while (!end && used < len) {
		size_t take = len - used < chunk ? len - used : chunk;
		size_t u = smtp_data_scan(&sc, in + used, take, &end);
		assert_true(u <= take);
		if (!end)
			assert_int_equal(u, take);
		used += u;
	}
	if (long_line)
		*long_line = sc.long_line;
	return end ? used : (size_t)-1;
}

/* in must end the message at its first terminator with text want; every
 * split of the input gives the same. */
static void
expect_text(const char *in, const char *want, size_t consumed)
{
	struct out o = {0};
	size_t len = strlen(in);
	for (size_t chunk = 1; chunk <= len; chunk++) {
		size_t used = scan(in, len, chunk, &o, NULL);
		assert_int_equal(used, consumed);
		assert_int_equal(o.n, strlen(want));
		assert_memory_equal(o.p, want, o.n);
	}
	free(o.p);
}

static void
test_plain_and_stuffing(void **state)
{
	(void)state;
	expect_text("a\r\nb\r\n.\r\n", "a\r\nb\r\n", 9);
	expect_text(".\r\n", "", 3); /* an empty message */
	/* RFC 5321 4.5.2: a leading dot is removed; the text after the
	 * terminator is not consumed */
	expect_text("..x\r\n..\r\n.\r\nMAIL", ".x\r\n.\r\n", 12);
	expect_text(".x\r\n.\r\n", "x\r\n", 7);
}

static void
test_only_crlf_dot_crlf_ends(void **state)
{
	(void)state;
	struct out o = {0};
	/* the smuggling forms: none of them ends the message */
	static const char *const not_ends[] = {"a\n.\nMAIL FROM:<x>\n",
	                                       "a\r.\rMAIL",
	                                       "a\n.\r\nb",
	                                       "a\r\n.\nb",
	                                       "a\r\n.\rb",
	                                       "a\r\r\n",
	                                       NULL};
	for (const char *const *p = not_ends; *p; p++)
		for (size_t chunk = 1; chunk <= strlen(*p); chunk++)
			assert_int_equal(scan(*p, strlen(*p), chunk, &o, NULL), (size_t)-1);
	/* bare CR and LF are text, kept as they came */
	expect_text("a\nb\rc\r\n.\r\n", "a\nb\rc\r\n", 10);
	/* ".\rX" at a line start: the dot was stuffing, the CR is text */
	expect_text(".\rX\r\n.\r\n", "\rX\r\n", 8);
	free(o.p);
}

static void
test_long_line_flagged(void **state)
{
	(void)state;
	size_t n = DM_SMTP_MAX_DATA_LINE + 1;
	char *in = malloc(n + 16);
	memset(in, 'x', n);
	memcpy(in + n, "\r\n.\r\n", 5);
	struct out o = {0};
	int long_line = 0;
	assert_int_equal(scan(in, n + 5, 65536, &o, &long_line), n + 5);
	assert_true(long_line);
	/* exactly at the limit is fine */
	memcpy(in + n - 1, "\r\n.\r\n", 5);
	assert_int_equal(scan(in, n + 4, 65536, &o, &long_line), n + 4);
	assert_false(long_line);
	free(in);
	free(o.p);
}

static void
path_ok(const char *arg, const char *kw, const char *want_path, const char *want_params)
{
	char buf[1024];
	char *path, *params;
	snprintf(buf, sizeof buf, "%s", arg);
	assert_int_equal(smtp_parse_path(buf, kw, &path, &params), 0);
	assert_string_equal(path, want_path);
	assert_string_equal(params, want_params);
}

static void
path_bad(const char *arg, const char *kw)
{
	char buf[1024];
	char *path, *params;
	snprintf(buf, sizeof buf, "%s", arg);
	assert_int_equal(smtp_parse_path(buf, kw, &path, &params), -1);
}

static void
test_path(void **state)
{
	(void)state;
	path_ok("FROM:<a@b.test>", "FROM:", "a@b.test", "");
	path_ok("from:<>", "FROM:", "", "");
	path_ok("FROM: <a@b.test> SIZE=10 BODY=8BITMIME", "FROM:", "a@b.test",
	        "SIZE=10 BODY=8BITMIME");
	path_ok("TO:<dmarc@x.test>  NOTIFY=NEVER", "TO:", "dmarc@x.test", "NOTIFY=NEVER");
	path_ok("TO:<\xc3\xa9@x.test>", "TO:", "\xc3\xa9@x.test", ""); /* SMTPUTF8 */
	path_bad("FROM:a@b.test", "FROM:");
	path_bad("FROM:<a@b.test", "FROM:");
	path_bad("FROM:<a@b.test>SIZE=1", "FROM:");
	path_bad("TO:<a b@x>", "TO:");
	path_bad("TO:<a\t@x>", "TO:");
	path_bad("TO:<a\x7f@x>", "TO:");
	path_bad("FROM:<a@b>", "TO:");
	char big[400];
	memset(big, 'a', sizeof big);
	memcpy(big, "TO:<", 4);
	snprintf(big + 4 + DM_SMTP_MAX_ADDRESS + 1, sizeof big - 4 - DM_SMTP_MAX_ADDRESS - 1, ">");
	path_bad(big, "TO:"); /* one byte over */
	snprintf(big + 4 + DM_SMTP_MAX_ADDRESS, sizeof big - 4 - DM_SMTP_MAX_ADDRESS, ">");
	char *path, *params;
	assert_int_equal(smtp_parse_path(big, "TO:", &path, &params), 0);
	assert_int_equal(strlen(path), DM_SMTP_MAX_ADDRESS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_and_stuffing),
	        cmocka_unit_test(test_only_crlf_dot_crlf_ends),
	        cmocka_unit_test(test_long_line_flagged),
	        cmocka_unit_test(test_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
