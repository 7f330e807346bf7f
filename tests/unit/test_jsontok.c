/*
 * test_jsontok.c - the streaming JSON tokenizer on documents written here.
 *
 * Every event is written to a small text log ("{ K:a S:b N:1 }"), so a
 * test compares one string; each document is also fed byte by byte and
 * in random chunk sizes, which must give the same log.
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
#include "parse/jsontok.h"

struct log {
	char text[4096];
	size_t len;
	int stop_at; /* stop (DM_ESTOP) at this event number, 1-based; 0: never */
	int events;
	size_t max_string; /* longest string or key seen */
};

static void
logf_(struct log *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(l->text + l->len, sizeof l->text - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < sizeof l->text - l->len ? (size_t)n
		                                              : sizeof l->text - l->len - 1;
}

/* Strings are logged with bytes outside printable ASCII as \xNN. */
static void
log_bytes(struct log *l, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			logf_(l, "%c", c);
		else
			logf_(l, "\\x%02x", c);
	}
}

static int
on_event(void *arg, enum jsontok_ev ev, const char *s, size_t n)
{
	struct log *l = arg;
	l->events++;
	if (l->len)
		logf_(l, " ");
	switch (ev) {
	case JSONTOK_OBJ_BEGIN:
		logf_(l, "{");
		break;
	case JSONTOK_OBJ_END:
		logf_(l, "}");
		break;
	case JSONTOK_ARR_BEGIN:
		logf_(l, "[");
		break;
	case JSONTOK_ARR_END:
		logf_(l, "]");
		break;
	case JSONTOK_KEY:
	case JSONTOK_STRING:
	case JSONTOK_NUMBER:
		assert_non_null(s);
		assert_int_equal(s[n], '\0');
		if (n > l->max_string)
			l->max_string = n;
		logf_(l, "%s:", ev == JSONTOK_KEY ? "K" : ev == JSONTOK_STRING ? "S" : "N");
		if (n < 200)
			log_bytes(l, s, n);
		else
			logf_(l, "<%zu bytes>", n);
		break;
	case JSONTOK_TRUE:
		logf_(l, "T");
		break;
	case JSONTOK_FALSE:
		logf_(l, "F");
		break;
	case JSONTOK_NULL:
		logf_(l, "Z");
		break;
	}
	if (l->stop_at && l->events >= l->stop_at)
		return DM_ESTOP;
	return 0;
}

/* Feed doc in chunks of `chunk` bytes (0: random sizes from seed);
 * returns the code of feed or finish and fills l and err. */
static int
run(const char *doc, size_t len, size_t chunk, unsigned seed, struct log *l, char *err,
    size_t errlen)
{
	struct jsontok *t = jsontok_new(on_event, l);
	int rc = 0;
	srand(seed);
	for (size_t off = 0; off < len && rc == 0;) {
		size_t n = chunk ? chunk : (size_t)(rand() % 17) + 1;
		if (n > len - off)
			n = len - off;
		rc = jsontok_feed(t, doc + off, n);
		off += n;
	}
	if (rc == 0)
		rc = jsontok_finish(t);
	if (err)
		snprintf(err, errlen, "%s", jsontok_error(t));
	jsontok_free(t);
	return rc;
}

/* Parse doc whole, byte by byte and in random chunks: all three must
 * agree; returns the code, the log in out. */
static int
tok3(const char *doc, size_t len, char *out, size_t outlen, char *err, size_t errlen)
{
	struct log a = {0}, b = {0}, c = {0};
	char ea[512], eb[512], ec[512];
	int ra = run(doc, len, len ? len : 1, 1, &a, ea, sizeof ea);
	int rb = run(doc, len, 1, 1, &b, eb, sizeof eb);
	int rc = run(doc, len, 0, 7, &c, ec, sizeof ec);
	assert_int_equal(ra, rb);
	assert_int_equal(ra, rc);
	assert_string_equal(a.text, b.text);
	assert_string_equal(a.text, c.text);
	assert_string_equal(ea, eb);
	assert_string_equal(ea, ec);
	if (out)
		snprintf(out, outlen, "%s", a.text);
	if (err)
		snprintf(err, errlen, "%s", ea);
	return ra;
}

#define OK(doc, expect)                                                                            \
	do {                                                                                       \
		char out_[4096], err_[512];                                                        \
		int rc_ = tok3(doc, sizeof(doc) - 1, out_, sizeof out_, err_, sizeof err_);        \
		if (rc_ != 0)                                                                      \
			print_error("%s\n", err_);                                                 \
		assert_int_equal(rc_, 0);                                                          \
		assert_string_equal(out_, expect);                                                 \
	} while (0)

#define BAD(doc, code, needle)                                                                     \
	do {                                                                                       \
		char err_[512];                                                                    \
		int rc_ = tok3(doc, sizeof(doc) - 1, NULL, 0, err_, sizeof err_);                  \
		assert_int_equal(rc_, code);                                                       \
		if (!strstr(err_, needle))                                                         \
			print_error("error '%s' lacks '%s'\n", err_, needle);                      \
		assert_non_null(strstr(err_, needle));                                             \
	} while (0)

static void
test_every_event(void **state)
{
	OK("{\"a\": [1, -2.5e+3, \"x\", true, false, null, {}, []], \"b\" : {\"c\":0}}",
	   "{ K:a [ N:1 N:-2.5e+3 S:x T F Z { } [ ] ] K:b { K:c N:0 } }");
	OK("  [ ]  \r\n\t", "[ ]");
	OK("\"top\"", "S:top");
	OK("123", "N:123"); /* a number ends with the input */
	OK("-0", "N:-0");
	OK("true", "T");
	OK("null ", "Z");
	OK("{\"\":\"\"}", "{ K: S: }");
}

static void
test_escapes_and_utf8(void **state)
{
	OK("[\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"]",
	   "[ S:\" \\x5c / \\x08 \\x0c \\x0a \\x0d \\x09 ]");
	OK("[\"\\u00e9\\u00C9\\u20ac\"]", "[ S:\\xc3\\xa9\\xc3\\x89\\xe2\\x82\\xac ]");
	/* a surrogate pair becomes one 4-byte character */
	OK("[\"\\ud83d\\ude00\"]", "[ S:\\xf0\\x9f\\x98\\x80 ]");
	OK("[\"\\uDBFF\\uDFFF\"]", "[ S:\\xf4\\x8f\\xbf\\xbf ]");
	/* U+0000 is allowed by JSON: the length tells */
	OK("[\"a\\u0000b\"]", "[ S:a\\x00b ]");
	/* raw UTF-8 of every length, and DEL */
	OK("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\"]",
	   "[ S:\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80\\x7f ]");
	OK("{\"k\xc3\xa9y\":1}", "{ K:k\\xc3\\xa9y N:1 }");
}

/* Every split of a document into two chunks gives the same events. */
static void
test_every_split_point(void **state)
{
	static const char doc[] = "\xef\xbb\xbf{\"k\\u00e9\":[\"\\ud83d\\ude00\xe2\x82\xac\","
	                          "-12.5e-3,0,true,null,\"\\n\"],\"z\":{\"y\":false}} ";
	struct log whole = {0};
	assert_int_equal(run(doc, sizeof doc - 1, sizeof doc, 0, &whole, NULL, 0), 0);
	for (size_t cut = 0; cut <= sizeof doc - 1; cut++) {
		struct log l = {0};
		struct jsontok *t = jsontok_new(on_event, &l);
		assert_int_equal(jsontok_feed(t, doc, cut), 0);
		assert_int_equal(jsontok_feed(t, doc + cut, sizeof doc - 1 - cut), 0);
		assert_int_equal(jsontok_finish(t), 0);
		assert_string_equal(l.text, whole.text);
		jsontok_free(t);
	}
	for (unsigned seed = 1; seed < 50; seed++) {
		struct log l = {0};
		assert_int_equal(run(doc, sizeof doc - 1, 0, seed, &l, NULL, 0), 0);
		assert_string_equal(l.text, whole.text);
	}
}

static void
test_bom(void **state)
{
	OK("\xef\xbb\xbf{}", "{ }");
	OK("\xef\xbb\xbf  [1]", "[ N:1 ]");
	/* only at the very start */
	BAD(" \xef\xbb\xbf{}", DM_EFORMAT, "byte 1");
	BAD("{}\xef\xbb\xbf", DM_EFORMAT, "after the end");
	BAD("\xef\xbb{}", DM_EFORMAT, "not a BOM");
	BAD("\xef\xbb\xbf", DM_EFORMAT, "empty document");
}

static void
test_depth(void **state)
{
	char doc[2 * DM_TLS_MAX_DEPTH + 3];
	size_t n = 0;
	for (int i = 0; i < DM_TLS_MAX_DEPTH; i++)
		doc[n++] = '[';
	for (int i = 0; i < DM_TLS_MAX_DEPTH; i++)
		doc[n++] = ']';
	struct log l = {0};
	assert_int_equal(run(doc, n, n, 0, &l, NULL, 0), 0);

	/* one more is refused */
	memset(doc, '[', DM_TLS_MAX_DEPTH + 1);
	char err[512];
	assert_int_equal(run(doc, DM_TLS_MAX_DEPTH + 1, 1, 0, &l, err, sizeof err), DM_ELIMIT);
	assert_non_null(strstr(err, "nesting deeper than 32"));
	assert_non_null(strstr(err, "at byte 32"));

	/* a depth bomb stops early, whatever its size */
	size_t big = 100000;
	char *bomb = malloc(big);
	memset(bomb, '[', big);
	struct log l2 = {0};
	assert_int_equal(run(bomb, big, big, 0, &l2, err, sizeof err), DM_ELIMIT);
	memset(bomb, '{', big);
	for (size_t i = 0; i + 5 < big; i += 5)
		memcpy(bomb + i, "{\"a\":", 5);
	struct log l3 = {0};
	assert_int_equal(run(bomb, big, 4096, 0, &l3, err, sizeof err), DM_ELIMIT);
	free(bomb);
}

static void
test_lone_surrogates(void **state)
{
	BAD("[\"\\ud800\"]", DM_EFORMAT, "lone surrogate \\uD800");
	BAD("[\"\\ud800x\"]", DM_EFORMAT, "lone surrogate");
	BAD("[\"\\ud800\\u0041\"]", DM_EFORMAT, "lone surrogate \\uD800");
	BAD("[\"\\ud800\\n\"]", DM_EFORMAT, "lone surrogate");
	BAD("[\"\\ud800\\ud800\"]", DM_EFORMAT, "lone surrogate");
	BAD("[\"\\udc00\"]", DM_EFORMAT, "lone surrogate \\uDC00");
	BAD("[\"a\\uDFFFb\"]", DM_EFORMAT, "lone surrogate");
	BAD("[\"\\u12\"]", DM_EFORMAT, "not a hex digit");
	BAD("[\"\\x41\"]", DM_EFORMAT, "invalid escape");
}

static void
test_invalid_utf8(void **state)
{
	BAD("[\"\xc0\x80\"]", DM_EFORMAT, "invalid UTF-8");         /* overlong NUL */
	BAD("[\"\xc1\xbf\"]", DM_EFORMAT, "invalid UTF-8");         /* overlong */
	BAD("[\"\xe0\x80\x80\"]", DM_EFORMAT, "invalid UTF-8");     /* overlong */
	BAD("[\"\xed\xa0\x80\"]", DM_EFORMAT, "invalid UTF-8");     /* surrogate */
	BAD("[\"\xf0\x80\x80\x80\"]", DM_EFORMAT, "invalid UTF-8"); /* overlong */
	BAD("[\"\xf4\x90\x80\x80\"]", DM_EFORMAT, "invalid UTF-8"); /* > U+10FFFF */
	BAD("[\"\xf5\x80\x80\x80\"]", DM_EFORMAT, "invalid UTF-8");
	BAD("[\"\x80\"]", DM_EFORMAT, "invalid UTF-8"); /* a lone continuation */
	BAD("[\"\xc3\"]", DM_EFORMAT, "invalid UTF-8"); /* cut short by the quote */
	BAD("[\"\xe2\x82\"]", DM_EFORMAT, "invalid UTF-8");
	BAD("[\"\xff\"]", DM_EFORMAT, "invalid UTF-8");
	BAD("{\"\xfe\":1}", DM_EFORMAT, "invalid UTF-8");
	/* outside strings any byte >= 0x80 is a syntax error */
	BAD("[\xc3\xa9]", DM_EFORMAT, "0xc3");
}

static void
test_control_characters(void **state)
{
	BAD("[\"a\nb\"]", DM_EFORMAT, "control character 0x0a");
	BAD("[\"a\tb\"]", DM_EFORMAT, "control character 0x09");
	BAD("[\"\x1f\"]", DM_EFORMAT, "control character 0x1f");
	static const char nul[] = "[\"a\0\"]";
	char err[512];
	struct log l = {0};
	assert_int_equal(run(nul, sizeof nul - 1, 1, 0, &l, err, sizeof err), DM_EFORMAT);
	assert_non_null(strstr(err, "control character 0x00"));
}

static void
test_numbers(void **state)
{
	OK("[0,-0,1,10,123456789012345678901234567890,1.5,0.25,-0.0,1e5,1E+5,2e-3,-1.25E-03]",
	   "[ N:0 N:-0 N:1 N:10 N:123456789012345678901234567890 N:1.5 N:0.25 N:-0.0 N:1e5 "
	   "N:1E+5 N:2e-3 N:-1.25E-03 ]");
	BAD("[01]", DM_EFORMAT, "leading zero");
	BAD("[-01]", DM_EFORMAT, "leading zero");
	BAD("[00]", DM_EFORMAT, "leading zero");
	BAD("[1.]", DM_EFORMAT, "after '.'");
	BAD("[.5]", DM_EFORMAT, "where a value should be");
	BAD("[-]", DM_EFORMAT, "'-' not followed by a digit");
	BAD("[1e]", DM_EFORMAT, "exponent");
	BAD("[1e+]", DM_EFORMAT, "exponent");
	BAD("[+1]", DM_EFORMAT, "where a value should be");
	BAD("[0x1]", DM_EFORMAT, "'x'");
	BAD("[1.e5]", DM_EFORMAT, "after '.'");
	BAD("[NaN]", DM_EFORMAT, "'N'");
	BAD("[Infinity]", DM_EFORMAT, "'I'");
	BAD("[1 2]", DM_EFORMAT, "where ',' or ']' should be");
	BAD("12 3", DM_EFORMAT, "after the end");
	BAD("-", DM_ETRUNC, "inside a number");
	BAD("1.", DM_ETRUNC, "inside a number");
}

static void
test_trailing_garbage(void **state)
{
	OK("{} \n\t\r ", "{ }");
	BAD("{} x", DM_EFORMAT, "after the end of the document at byte 3");
	BAD("{}{}", DM_EFORMAT, "after the end");
	BAD("[1]]", DM_EFORMAT, "after the end");
	BAD("true false", DM_EFORMAT, "after the end");
	BAD("\"a\"\"b\"", DM_EFORMAT, "after the end");
	BAD("{}\x00", DM_EFORMAT, "0x00");
}

static void
test_literals_and_syntax(void **state)
{
	BAD("[tru]", DM_EFORMAT, "literal true");
	BAD("[True]", DM_EFORMAT, "'T'");
	BAD("[nul l]", DM_EFORMAT, "literal null");
	BAD("[truex]", DM_EFORMAT, "'x'");
	BAD("{\"a\":1,}", DM_EFORMAT, "where a key should be");
	BAD("[1,]", DM_EFORMAT, "where a value should be");
	BAD("[,1]", DM_EFORMAT, "where a value should be");
	BAD("{\"a\" 1}", DM_EFORMAT, "where ':' should be");
	BAD("{\"a\":1 \"b\":2}", DM_EFORMAT, "where ',' or '}' should be");
	BAD("{'a':1}", DM_EFORMAT, "key or '}'");
	BAD("{a:1}", DM_EFORMAT, "key or '}'");
	BAD("{1:1}", DM_EFORMAT, "key or '}'");
	BAD("[1}", DM_EFORMAT, "where ',' or ']' should be");
	BAD("{\"a\":1]", DM_EFORMAT, "where ',' or '}' should be");
	BAD("", DM_EFORMAT, "empty document");
	BAD(" \n ", DM_EFORMAT, "empty document");
	BAD("{\"a\":[1,2", DM_ETRUNC, "document ends early (2 container(s) open)");
	BAD("{\"a", DM_ETRUNC, "inside a string");
	BAD("[\"\\u12", DM_ETRUNC, "inside a string");
	BAD("[\"\xe2\x82", DM_ETRUNC, "inside a string");
	BAD("[nu", DM_ETRUNC, "inside a literal");
	BAD("{\"a\":", DM_ETRUNC, "document ends early");
}

static void
test_token_limit(void **state)
{
	size_t n = DM_TLS_MAX_TOKEN;
	char *doc = malloc(n + 8);
	doc[0] = '[';
	doc[1] = '"';
	memset(doc + 2, 'a', n);
	memcpy(doc + 2 + n, "\"]", 2);
	struct log l = {0};
	char err[512];
	assert_int_equal(run(doc, n + 4, 1000, 0, &l, err, sizeof err), 0);
	assert_int_equal(l.max_string, n);
	/* one byte more: refused, through escapes as well */
	doc = realloc(doc, n + 16);
	doc[0] = '[';
	doc[1] = '"';
	memset(doc + 2, 'a', n - 1);
	memcpy(doc + 1 + n, "\\u00e9\"]", 8);
	struct log l2 = {0};
	assert_int_equal(run(doc, n + 9, 333, 0, &l2, err, sizeof err), DM_ELIMIT);
	assert_non_null(strstr(err, "string longer than 65536 bytes"));
	/* and a number */
	doc[0] = '[';
	memset(doc + 1, '7', n + 1);
	doc[n + 2] = ']';
	struct log l3 = {0};
	assert_int_equal(run(doc, n + 3, 4096, 0, &l3, err, sizeof err), DM_ELIMIT);
	assert_non_null(strstr(err, "number longer than"));
	free(doc);
}

static void
test_callback_stops(void **state)
{
	static const char doc[] = "[1,2,3,4]";
	struct log l = {.stop_at = 3};
	char err[512];
	assert_int_equal(run(doc, sizeof doc - 1, 1, 0, &l, err, sizeof err), DM_ESTOP);
	assert_string_equal(l.text, "[ N:1 N:2");
	assert_string_equal(err, ""); /* the caller keeps its own reason */
}

static void
test_feed_after_error_and_reset(void **state)
{
	struct log l = {0};
	struct jsontok *t = jsontok_new(on_event, &l);
	assert_int_equal(jsontok_feed(t, "[x", 2), DM_EFORMAT);
	assert_int_equal(jsontok_feed(t, "]", 1), DM_EFORMAT);
	assert_int_equal(jsontok_finish(t), DM_EFORMAT);
	assert_non_null(strstr(jsontok_error(t), "at byte 1"));
	jsontok_reset(t);
	l.len = 0;
	l.text[0] = '\0';
	assert_string_equal(jsontok_error(t), "");
	assert_int_equal(jsontok_feed(t, "{\"a\":[", 6), 0);
	assert_int_equal(jsontok_depth(t), 2);
	assert_int_equal(jsontok_feed(t, "]}", 2), 0);
	assert_int_equal(jsontok_finish(t), 0);
	assert_int_equal(jsontok_offset(t), 8);
	assert_string_equal(l.text, "{ K:a [ ] }");
	jsontok_free(t);
	jsontok_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_event),
	        cmocka_unit_test(test_escapes_and_utf8),
	        cmocka_unit_test(test_every_split_point),
	        cmocka_unit_test(test_bom),
	        cmocka_unit_test(test_depth),
	        cmocka_unit_test(test_lone_surrogates),
	        cmocka_unit_test(test_invalid_utf8),
	        cmocka_unit_test(test_control_characters),
	        cmocka_unit_test(test_numbers),
	        cmocka_unit_test(test_trailing_garbage),
	        cmocka_unit_test(test_literals_and_syntax),
	        cmocka_unit_test(test_token_limit),
	        cmocka_unit_test(test_callback_stops),
	        cmocka_unit_test(test_feed_after_error_and_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
