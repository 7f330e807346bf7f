/*
 * test_sniff.c - sniff_bytes on the heads of every kind of input.
 */

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "parse/sniff.h"

static void
check(const void *p, size_t len, enum sniff_kind want, const char *what)
{
	const char *w = NULL;
	enum sniff_kind k = sniff_bytes(p, len, &w);
	if (k != want || (what && (!w || strcmp(w, what) != 0)))
		print_error("input \"%.*s\": got %s/%s, want %s/%s\n", (int)(len > 40 ? 40 : len),
		            (const char *)p, sniff_kind_name(k), w ? w : "(null)",
		            sniff_kind_name(want), what ? what : "*");
	assert_int_equal(k, want);
	assert_non_null(w);
	if (what)
		assert_string_equal(w, what);
	/* what may be NULL */
	assert_int_equal(sniff_bytes(p, len, NULL), want);
}

#define CHECK(lit, kind, what) check(lit, sizeof(lit) - 1, kind, what)

static void
test_empty(void **state)
{
	(void)state;
	check("", 0, SNIFF_EMPTY, "empty");
	CHECK("   \r\n\t  \n", SNIFF_EMPTY, "empty");
	CHECK("\xef\xbb\xbf", SNIFF_EMPTY, "empty");
	CHECK("\xef\xbb\xbf \n", SNIFF_EMPTY, "empty");
}

static void
test_compressed(void **state)
{
	(void)state;
	CHECK("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", SNIFF_GZIP, "gzip");
	CHECK("\x1f\x8b", SNIFF_GZIP, "gzip");
	CHECK("\x78\x9c\xb3\x49", SNIFF_ZLIB, "zlib");
	CHECK("\x78\x01\x01\x00", SNIFF_ZLIB, "zlib");
	CHECK("\x78\xda\x01\x00", SNIFF_ZLIB, "zlib");
	CHECK("\x78\x5e\x01\x00", SNIFF_ZLIB, "zlib");
	/* 0x78 with a bad FCHECK is not zlib */
	CHECK("\x78\x9d\x01\x00", SNIFF_OTHER, NULL);
	CHECK("xml is fun", SNIFF_OTHER, "text");
	CHECK("PK\3\4\x14\0\0\0\x08\0", SNIFF_ZIP, "zip");
	CHECK("PK\5\6\0\0\0\0", SNIFF_ZIP, "zip");
	CHECK("PK\7\10PK\3\4", SNIFF_ZIP, "zip");
	CHECK("PK00PK\3\4", SNIFF_ZIP, "zip");
	CHECK("PK\1\2", SNIFF_OTHER, "binary data");
	CHECK("PKZIP is a program", SNIFF_OTHER, "text");
}

static void
test_other_binary(void **state)
{
	(void)state;
	CHECK("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", SNIFF_OTHER, "PNG image");
	CHECK("\xff\xd8\xff\xe0\0\x10JFIF", SNIFF_OTHER, "JPEG image");
	CHECK("GIF89a\x01\0\x01\0", SNIFF_OTHER, "GIF image");
	CHECK("GIF87a", SNIFF_OTHER, "GIF image");
	CHECK("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", SNIFF_OTHER, "PDF document");
	CHECK("BZh91AY&SY", SNIFF_OTHER, "bzip2 data");
	CHECK("\xfd\x37\x7a\x58\x5a\x00\x00\x04", SNIFF_OTHER, "xz data");
	CHECK("\x28\xb5\x2f\xfd\x04\x58", SNIFF_OTHER, "zstd data");
	CHECK("7z\xbc\xaf\x27\x1c\x00\x04", SNIFF_OTHER, "7z archive");
	CHECK("Rar!\x1a\x07\x01\x00", SNIFF_OTHER, "rar archive");
	CHECK("\x00\x01\x02\x03garbage", SNIFF_OTHER, "binary data");
	CHECK("\x7f"
	      "ELF\x02\x01\x01",
	      SNIFF_OTHER, "binary data");
}

static void
test_xml(void **state)
{
	(void)state;
	CHECK("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>", SNIFF_XML, "XML");
	CHECK("<feedback><report_metadata>", SNIFF_XML, "XML");
	CHECK("\xef\xbb\xbf<?xml version=\"1.0\"?>", SNIFF_XML, "XML");
	CHECK("\r\n\r\n   \t<?xml version=\"1.0\"?>", SNIFF_XML, "XML");
	CHECK("\xef\xbb\xbf\n\n  <feedback>", SNIFF_XML, "XML");
	/* HTML is told apart by the XML parser, later */
	CHECK("<!DOCTYPE html><html><body>unused</body></html>", SNIFF_XML, "XML");
	/* UTF-16, both byte orders, with and without leading whitespace */
	CHECK("\xff\xfe<\0?\0x\0m\0l\0", SNIFF_XML, "UTF-16 XML");
	CHECK("\xfe\xff\0<\0?\0x\0m\0l", SNIFF_XML, "UTF-16 XML");
	CHECK("\xff\xfe \0\n\0<\0f\0", SNIFF_XML, "UTF-16 XML");
	CHECK("\xff\xfeh\0i\0", SNIFF_OTHER, "UTF-16 text");
	CHECK("\xfe\xff", SNIFF_OTHER, "UTF-16 text");
}

static void
test_json(void **state)
{
	(void)state;
	CHECK("{\"organization-name\":\"Google Inc.\"", SNIFF_JSON, "JSON");
	CHECK("\xef\xbb\xbf  \n{ \"policies\": [", SNIFF_JSON, "JSON");
	CHECK("[1,2,3]", SNIFF_OTHER, "text");
}

static void
test_mail(void **state)
{
	(void)state;
	CHECK("Return-Path: <noreply-dmarc-support@google.com>\r\nReceived: by x\r\n", SNIFF_MAIL,
	      "mail");
	/* well-known names alone are enough */
	CHECK("Received: from mail.example.net", SNIFF_MAIL, "mail");
	CHECK("From: a@example.net", SNIFF_MAIL, "mail");
	CHECK("subject: Report Domain: example.com", SNIFF_MAIL, "mail");
	CHECK("X-Spam-Flag: NO", SNIFF_MAIL, "mail");
	CHECK("ARC-Seal: i=1; a=rsa-sha256", SNIFF_MAIL, "mail");
	CHECK("DKIM-Signature: v=1; a=rsa-sha256;", SNIFF_MAIL, "mail");
	CHECK("Authentication-Results: mx.example.net; spf=pass", SNIFF_MAIL, "mail");
	/* an unknown first name needs a second field, maybe after folding */
	CHECK("Foo-Bar: baz\nQux: 1\n\nbody", SNIFF_MAIL, "mail");
	CHECK("Foo-Bar: baz\r\n  folded\r\n\tagain\r\nQux: 1\r\n", SNIFF_MAIL, "mail");
	CHECK("Foo-Bar: baz\nthis is text\n", SNIFF_OTHER, "text");
	CHECK("Foo-Bar: baz", SNIFF_OTHER, "text");
	CHECK("Note: this is a note\n", SNIFF_OTHER, "text");
	/* a space in the name or a missing colon: not a header field */
	CHECK("Dear user: hello\nFrom: x\n", SNIFF_OTHER, "text");
	CHECK(": empty name\nFrom: x\n", SNIFF_OTHER, "text");
	CHECK(" From: x\n", SNIFF_OTHER, "text");
}

static void
test_mbox(void **state)
{
	(void)state;
	CHECK("From MAILER-DAEMON Thu Jan  1 00:00:00 2026\nReturn-Path: <a@b>\n", SNIFF_MBOX,
	      "mbox");
	CHECK("From a@example.net Mon Nov  3 10:00:00 2025\r\nX-Foo: bar\r\n", SNIFF_MBOX, "mbox");
	/* no header line after it */
	CHECK("From here on, things change.\nReally.\n", SNIFF_OTHER, "text");
	CHECK("From a@example.net Mon Nov  3 10:00:00 2025", SNIFF_OTHER, "text");
}

static void
test_text(void **state)
{
	(void)state;
	CHECK("unused", SNIFF_OTHER, "text");
	CHECK("Hello,\r\nthis is a report.\r\n", SNIFF_OTHER, "text");
	CHECK("caf\xc3\xa9 \xe2\x82\xac", SNIFF_OTHER, "text");
	CHECK("text\0with nul", SNIFF_OTHER, "binary data");
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(sniff_kind_name(SNIFF_EMPTY), "empty");
	assert_string_equal(sniff_kind_name(SNIFF_GZIP), "gzip");
	assert_string_equal(sniff_kind_name(SNIFF_ZLIB), "zlib");
	assert_string_equal(sniff_kind_name(SNIFF_ZIP), "zip");
	assert_string_equal(sniff_kind_name(SNIFF_XML), "xml");
	assert_string_equal(sniff_kind_name(SNIFF_JSON), "json");
	assert_string_equal(sniff_kind_name(SNIFF_MBOX), "mbox");
	assert_string_equal(sniff_kind_name(SNIFF_MAIL), "mail");
	assert_string_equal(sniff_kind_name(SNIFF_OTHER), "other");
	assert_string_equal(sniff_kind_name((enum sniff_kind)99), "other");
}

/* Every prefix of every sample is classified without reading past it
 * (ASan checks the bounds). */
static void
test_prefixes(void **state)
{
	(void)state;
	static const char *samples[] = {
	        "From MAILER-DAEMON Thu Jan  1 00:00:00 2026\nReturn-Path: <a@b>\n",
	        "Foo-Bar: baz\r\n  folded\r\n\tagain\r\nQux: 1\r\n",
	        "\xff\xfe \0\n\0<\0f\0",
	        "\xef\xbb\xbf  <x/>",
	        "\x89PNG\r\n\x1a\n",
	        "PK00PK\3\4",
	};
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		size_t len = strlen(samples[i]);
		if (i == 2)
			len = 10;
		for (size_t n = 0; n <= len; n++) {
			char *copy = test_malloc(n ? n : 1);
			memcpy(copy, samples[i], n);
			const char *w = NULL;
			enum sniff_kind k = sniff_bytes(copy, n, &w);
			assert_non_null(w);
			assert_non_null(sniff_kind_name(k));
			test_free(copy);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_empty),        cmocka_unit_test(test_compressed),
	        cmocka_unit_test(test_other_binary), cmocka_unit_test(test_xml),
	        cmocka_unit_test(test_json),         cmocka_unit_test(test_mail),
	        cmocka_unit_test(test_mbox),         cmocka_unit_test(test_text),
	        cmocka_unit_test(test_names),        cmocka_unit_test(test_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
