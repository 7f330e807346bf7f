/*
 * test_dkim_record.c - dm_dkim_record_parse: every tag of RFC 6376
 * §3.6.1, keys of RFC 8301 sizes and RFC 8463 Ed25519 (made with OpenSSL
 * as the test runs), and every finding code, each from a record that shows
 * it; the JSON, read back with jansson.
 */

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "dns/dkim_record.h"

static struct dm_dkim_record rec;

/* base64 keys made once for all tests */
static char *rsa512, *rsa1024, *rsa2048, *rsa2048_pkcs1, *ed_raw, *ed_spki, *ec_spki;

static char *
b64(const unsigned char *der, int n)
{
	char *out = malloc((size_t)(4 * ((n + 2) / 3) + 1));
	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, der, n);
	return out;
}

/* A public key in base64: its SubjectPublicKeyInfo, or with pkcs1 the
 * bare PKCS#1 RSAPublicKey. */
static char *
pub_b64(EVP_PKEY *pk, int pkcs1)
{
	unsigned char *der = NULL;
	int n = pkcs1 ? i2d_PublicKey(pk, &der) : i2d_PUBKEY(pk, &der);
	assert_true(n > 0);
	char *out = b64(der, n);
	OPENSSL_free(der);
	return out;
}

static int
setup(void **state)
{
	(void)state;
	EVP_PKEY *pk = EVP_RSA_gen(512);
	rsa512 = pub_b64(pk, 0);
	EVP_PKEY_free(pk);
	pk = EVP_RSA_gen(1024);
	rsa1024 = pub_b64(pk, 0);
	EVP_PKEY_free(pk);
	pk = EVP_RSA_gen(2048);
	rsa2048 = pub_b64(pk, 0);
	rsa2048_pkcs1 = pub_b64(pk, 1);
	EVP_PKEY_free(pk);
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	unsigned char raw[32];
	size_t rawlen = sizeof raw;
	if (!pk || EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) != 1 || rawlen != 32)
		return -1;
	ed_raw = b64(raw, 32);
	ed_spki = pub_b64(pk, 0);
	EVP_PKEY_free(pk);
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!pk)
		return -1;
	ec_spki = pub_b64(pk, 0);
	EVP_PKEY_free(pk);
	return rsa512 && rsa1024 && rsa2048 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	free(rsa512);
	free(rsa1024);
	free(rsa2048);
	free(rsa2048_pkcs1);
	free(ed_raw);
	free(ed_spki);
	free(ec_spki);
	return 0;
}

static const struct dm_dkim_record *
parse(const char *text)
{
	dm_dkim_record_parse(text, strlen(text), &rec);
	return &rec;
}

/* fmt with its first "%s" replaced by key, parsed (no printf: the
 * records hold other '%' signs) */
static const struct dm_dkim_record *
parsef(const char *fmt, const char *key)
{
	char text[DM_DKIM_MAX_RECORD + 1];
	const char *at = strstr(fmt, "%s");
	assert_non_null(at);
	size_t a = (size_t)(at - fmt), k = strlen(key), z = strlen(at + 2);
	assert_true(a + k + z < sizeof text);
	memcpy(text, fmt, a);
	memcpy(text + a, key, k);
	memcpy(text + a + k, at + 2, z + 1);
	return parse(text);
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
show(const char *text)
{
	print_error("%s: findings:\n", text);
	for (size_t i = 0; i < rec.nfindings; i++)
		print_error("  %s %s %s\n", dm_finding_severity_name(rec.findings[i].severity),
		            rec.findings[i].code, rec.findings[i].message);
}

/* fmt (with key for its %s) has the finding code of severity sev. */
static void
expectf(const char *fmt, const char *key, const char *code, enum dm_finding_severity sev)
{
	parsef(fmt, key);
	if (count(code, (int)sev) == 0) {
		print_error("no %s %s\n", dm_finding_severity_name(sev), code);
		show(fmt);
	}
	assert_true(count(code, (int)sev) > 0);
	assert_int_equal(rec.valid, rec.nerrors == 0);
}

static void
expect(const char *text, const char *code, enum dm_finding_severity sev)
{
	expectf("%s", text, code, sev);
}

static void
clean(const char *fmt, const char *key)
{
	parsef(fmt, key);
	if (rec.nfindings != 0)
		show(fmt);
	assert_int_equal(rec.nfindings, 0);
	assert_true(rec.valid);
	assert_true(rec.is_dkim);
}

static void
test_clean_keys(void **state)
{
	(void)state;
	clean("v=DKIM1; k=rsa; p=%s", rsa2048);
	assert_string_equal(rec.v, "dkim1");
	assert_string_equal(rec.k, "rsa");
	assert_string_equal(rec.key_type, "rsa");
	assert_int_equal(rec.bits, 2048);
	assert_false(rec.revoked);
	assert_false(rec.testing);
	/* k= defaults to rsa, v= may be left out */
	clean("p=%s", rsa2048);
	assert_string_equal(rec.k, "");
	assert_string_equal(rec.v, "");
	assert_string_equal(rec.key_type, "rsa");
	assert_int_equal(rec.bits, 2048);
	/* every tag, whitespace around them, a trailing ';' */
	clean(" v = DKIM1 ;\th=sha256 ; k=RSA; n=a note, with words; s=email:*; p=%s ; ", rsa2048);
	assert_string_equal(rec.h, "sha256");
	assert_string_equal(rec.k, "rsa");
	assert_string_equal(rec.s, "email:*");
	/* Ed25519: the 32 raw bytes */
	clean("v=DKIM1; k=ed25519; p=%s", ed_raw);
	assert_string_equal(rec.key_type, "ed25519");
	assert_string_equal(rec.k, "ed25519");
	assert_int_equal(rec.bits, 256);
	clean("v=DKIM1; h=sha256; k=ed25519; s=*; p=%s;", ed_raw);
}

static void
test_split_key(void **state)
{
	(void)state;
	/* a key over several TXT strings, joined with spaces and tabs */
	char split[DM_DKIM_MAX_RECORD];
	size_t n = 0, kl = strlen(rsa2048);
	for (size_t i = 0; i < kl; i++) {
		if (i > 0 && i % 50 == 0)
			split[n++] = i % 100 ? ' ' : '\t';
		split[n++] = rsa2048[i];
	}
	split[n] = '\0';
	clean("v=DKIM1; k=rsa; p=%s", split);
	assert_int_equal(rec.bits, 2048);
	/* a CR LF and spaces (the FWS of RFC 6376) */
	char fws[DM_DKIM_MAX_RECORD];
	snprintf(fws, sizeof fws, "%.100s\r\n  %s", rsa2048, rsa2048 + 100);
	clean("v=DKIM1; p=%s", fws);
	assert_int_equal(rec.bits, 2048);
}

static void
test_key_sizes(void **state)
{
	(void)state;
	expectf("v=DKIM1; k=rsa; p=%s", rsa1024, "rsa_1024", DM_FINDING_WARNING);
	assert_int_equal(rec.bits, 1024);
	assert_true(rec.valid);
	assert_int_equal(rec.nfindings, 1);
	expectf("v=DKIM1; k=rsa; p=%s", rsa512, "rsa_too_short", DM_FINDING_ERROR);
	assert_int_equal(rec.bits, 512);
	assert_false(rec.valid);
	/* the bare PKCS#1 form is read, and said */
	expectf("v=DKIM1; p=%s", rsa2048_pkcs1, "pkcs1_key", DM_FINDING_INFO);
	assert_int_equal(rec.bits, 2048);
	assert_true(rec.valid);
}

static void
test_revoked(void **state)
{
	(void)state;
	expect("v=DKIM1; p=", "revoked", DM_FINDING_WARNING);
	assert_true(rec.revoked);
	assert_true(rec.is_dkim);
	assert_true(rec.valid);
	assert_string_equal(rec.key_type, "");
	assert_int_equal(rec.bits, 0);
	expect("v=DKIM1; k=rsa; p= ;", "revoked", DM_FINDING_WARNING);
	assert_true(rec.revoked);
	/* no v=: p= alone is enough to be a key record */
	expect("p=", "revoked", DM_FINDING_WARNING);
	assert_true(rec.is_dkim);
}

static void
test_not_dkim(void **state)
{
	(void)state;
	static const char *const texts[] = {
	        "v=spf1 include:_spf.google.com ~all",
	        "google-site-verification=abc",
	        "",
	        "   ",
	        "hello world",
	        "V=DKIM1; P=abc", /* tag names are case-sensitive */
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		expect(texts[i], "not_dkim", DM_FINDING_ERROR);
		assert_false(rec.is_dkim);
		assert_false(rec.valid);
		/* the one finding: nothing else is said of a text that is not one */
		assert_int_equal(rec.nfindings, 1);
	}
	/* v=DKIM1 first makes it one, even without p= */
	expect("v=DKIM1; k=rsa", "missing_p", DM_FINDING_ERROR);
	assert_true(rec.is_dkim);
	assert_int_equal(count("not_dkim", -1), 0);
	/* too long */
	char big[DM_DKIM_MAX_RECORD + 10];
	memset(big, 'A', sizeof big);
	memcpy(big, "v=DKIM1; p=", 11);
	dm_dkim_record_parse(big, sizeof big, &rec);
	assert_int_equal(count("too_long", DM_FINDING_ERROR), 1);
	assert_false(rec.valid);
	assert_false(rec.is_dkim);
	/* exactly the limit is read */
	dm_dkim_record_parse(big, DM_DKIM_MAX_RECORD, &rec);
	assert_int_equal(count("too_long", -1), 0);
	assert_true(rec.is_dkim);
}

static void
test_version(void **state)
{
	(void)state;
	/* v= not first: the record is invalid and not taken for one */
	expectf("k=rsa; v=DKIM1; p=%s", rsa2048, "v_not_first", DM_FINDING_ERROR);
	assert_false(rec.is_dkim);
	assert_int_equal(rec.bits, 2048); /* the key is still judged */
	expectf("v=DKIM2; p=%s", rsa2048, "bad_version", DM_FINDING_ERROR);
	assert_false(rec.is_dkim);
	assert_string_equal(rec.v, "dkim2");
	/* DKIM1 is written in upper case (RFC 6376 ABNF) */
	/* nothing else is said: verifiers discard the record */
	assert_int_equal(rec.nfindings, 1);
	assert_int_equal(rec.bits, 0);
	expect("v=DMARC1; p=none; rua=mailto:d@example.com", "bad_version", DM_FINDING_ERROR);
	assert_int_equal(rec.nfindings, 1);
	assert_false(rec.is_dkim);
	expectf("v=dkim1; p=%s", rsa2048, "bad_version", DM_FINDING_ERROR);
	expectf("v=; p=%s", rsa2048, "bad_version", DM_FINDING_ERROR);
}

static void
test_syntax(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "v=DKIM1; k=rsa; p=%s; garbage",
	        "v=DKIM1; k=rsa;; p=%s",
	        "v=DKIM1; ; p=%s",
	        "v=DKIM1; =rsa; p=%s",
	        "v=DKIM1; 1k=rsa; p=%s",
	        "v=DKIM1; k-x=rsa; p=%s",
	        "v=DKIM1; n=caf\xc3\xa9; p=%s",
	        "v=DKIM1; n=a\x01z; p=%s",
	        "v=DKIM1; h=sha256:; p=%s",
	        "v=DKIM1; t=y::s; p=%s",
	        "v=DKIM1; s=email:; p=%s",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		expectf(bad[i], rsa2048, "syntax", DM_FINDING_ERROR);
		assert_false(rec.valid);
		assert_int_equal(rec.bits, 2048);
	}
	/* names may hold digits and '_' after a letter */
	expectf("v=DKIM1; x_1=2; p=%s", rsa2048, "unknown_tag", DM_FINDING_INFO);
	assert_true(rec.valid);
	/* '=' in a value is fine (padding, notes) */
	clean("v=DKIM1; n=a=b; p=%s", rsa2048);
}

static void
test_duplicates(void **state)
{
	(void)state;
	expectf("v=DKIM1; k=rsa; k=ed25519; p=%s", rsa2048, "duplicate_tag", DM_FINDING_ERROR);
	assert_string_equal(rec.k, "rsa"); /* the first is read */
	assert_int_equal(rec.bits, 2048);
	expectf("v=DKIM1; p=%s; p=", rsa2048, "duplicate_tag", DM_FINDING_ERROR);
	assert_false(rec.revoked);
	expectf("v=DKIM1; v=DKIM1; p=%s", rsa2048, "duplicate_tag", DM_FINDING_ERROR);
	/* unknown tags given twice too */
	expectf("v=DKIM1; x=1; x=2; p=%s", rsa2048, "duplicate_tag", DM_FINDING_ERROR);
	/* ... but different ones are not */
	parsef("v=DKIM1; x=1; X=2; xy=3; p=%s", rsa2048);
	assert_int_equal(count("duplicate_tag", -1), 0);
	assert_int_equal(count("unknown_tag", DM_FINDING_INFO), 3);
}

static void
test_bad_keys(void **state)
{
	(void)state;
	expect("v=DKIM1; k=rsa", "missing_p", DM_FINDING_ERROR);
	expect("v=DKIM1; p=MIGf!MA0G", "bad_base64", DM_FINDING_ERROR);
	expect("v=DKIM1; p=MIGfMA0", "bad_base64", DM_FINDING_ERROR);       /* not 4n */
	expect("v=DKIM1; p=MI=fMA0G", "bad_base64", DM_FINDING_ERROR);      /* '=' inside */
	expect("v=DKIM1; p=MIGfM===", "bad_base64", DM_FINDING_ERROR);      /* three '=' */
	expect("v=DKIM1; p=aGVsbG8gd29ybGQ=", "bad_key", DM_FINDING_ERROR); /* "hello world" */
	assert_int_equal(rec.bits, 0);
	assert_string_equal(rec.key_type, "rsa");
	/* a key of another type than k= says */
	expectf("v=DKIM1; k=rsa; p=%s", ec_spki, "bad_key", DM_FINDING_ERROR);
	expectf("v=DKIM1; k=rsa; p=%s", ed_spki, "bad_key", DM_FINDING_ERROR);
	expectf("v=DKIM1; k=ed25519; p=%s", rsa2048, "bad_key", DM_FINDING_ERROR);
	assert_int_equal(rec.bits, 0);
	/* Ed25519 as a SubjectPublicKeyInfo instead of its raw bytes */
	expectf("v=DKIM1; k=ed25519; p=%s", ed_spki, "bad_key", DM_FINDING_ERROR);
	assert_non_null(strstr(rec.findings[0].message, "32 raw bytes"));
	expectf("v=DKIM1; k=dsa; p=%s", rsa2048, "unknown_key_type", DM_FINDING_ERROR);
	assert_string_equal(rec.key_type, "dsa");
	assert_int_equal(rec.bits, 0);
	/* an unknown k= kept short and printable */
	expectf("v=DKIM1; k=\"<script>alert(1)</script>\"; p=%s", rsa2048, "unknown_key_type",
	        DM_FINDING_ERROR);
	assert_true(strlen(rec.key_type) < sizeof rec.key_type);
	assert_string_equal(rec.key_type, "\"<script>ale...");
}

static void
test_hashes(void **state)
{
	(void)state;
	expectf("v=DKIM1; h=sha1; p=%s", rsa2048, "sha1_only", DM_FINDING_ERROR);
	assert_string_equal(rec.h, "sha1");
	expectf("v=DKIM1; h=SHA1:foo; p=%s", rsa2048, "sha1_only", DM_FINDING_ERROR);
	expectf("v=DKIM1; h=sha1:sha256; p=%s", rsa2048, "sha1_listed", DM_FINDING_INFO);
	assert_true(rec.valid);
	expectf("v=DKIM1; h= sha256 : sha1 ; p=%s", rsa2048, "sha1_listed", DM_FINDING_INFO);
	expectf("v=DKIM1; h=sha512; p=%s", rsa2048, "unknown_hash", DM_FINDING_WARNING);
	expectf("v=DKIM1; h=md5:sha3; p=%s", rsa2048, "unknown_hash", DM_FINDING_WARNING);
	/* sha256 with an unknown one is fine */
	clean("v=DKIM1; h=sha256:sha512; p=%s", rsa2048);
}

static void
test_service_and_flags(void **state)
{
	(void)state;
	expectf("v=DKIM1; s=tlsrpt; p=%s", rsa2048, "service_not_email", DM_FINDING_ERROR);
	assert_string_equal(rec.s, "tlsrpt");
	expectf("v=DKIM1; s=; p=%s", rsa2048, "service_not_email", DM_FINDING_ERROR);
	clean("v=DKIM1; s=Email; p=%s", rsa2048);
	clean("v=DKIM1; s=tlsrpt:*; p=%s", rsa2048);

	expectf("v=DKIM1; t=y; p=%s", rsa2048, "testing", DM_FINDING_INFO);
	assert_true(rec.testing);
	assert_string_equal(rec.t, "y");
	expectf("v=DKIM1; t=s; p=%s", rsa2048, "strict", DM_FINDING_INFO);
	assert_false(rec.testing);
	expectf("v=DKIM1; t=y:s; p=%s", rsa2048, "strict", DM_FINDING_INFO);
	assert_true(rec.testing);
	assert_int_equal(count("testing", DM_FINDING_INFO), 1);
	assert_true(rec.valid);
	expectf("v=DKIM1; t=y:x; p=%s", rsa2048, "bad_flag", DM_FINDING_WARNING);
	assert_true(rec.testing);
	assert_true(rec.valid);

	expectf("v=DKIM1; g=*; p=%s", rsa2048, "unknown_tag", DM_FINDING_INFO);
	assert_non_null(strstr(rec.findings[0].message, "RFC 4871"));
	expectf("v=DKIM1; K=rsa; p=%s", rsa2048, "unknown_tag", DM_FINDING_INFO);
	assert_non_null(strstr(rec.findings[0].message, "case-sensitive"));
	assert_string_equal(rec.k, "");
}

static void
test_json_and_hostile_text(void **state)
{
	(void)state;
	parsef("v=DKIM1; h=sha1:sha256; k=rsa; s=email; t=y:s; p=%s", rsa1024);
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 1 << 20);
	dm_json_init(&j, &b);
	dm_dkim_record_json(&rec, &j);
	json_error_t err;
	json_t *o = json_loadb(b.data, b.len, 0, &err);
	dm_buf_free(&b);
	assert_non_null(o);
	assert_true(json_is_true(json_object_get(o, "is_dkim")));
	assert_true(json_is_true(json_object_get(o, "valid")));
	json_t *tags = json_object_get(o, "tags");
	assert_string_equal(json_string_value(json_object_get(tags, "v")), "dkim1");
	assert_string_equal(json_string_value(json_object_get(tags, "k")), "rsa");
	assert_string_equal(json_string_value(json_object_get(tags, "h")), "sha1:sha256");
	assert_string_equal(json_string_value(json_object_get(tags, "s")), "email");
	assert_string_equal(json_string_value(json_object_get(tags, "t")), "y:s");
	assert_string_equal(json_string_value(json_object_get(o, "key_type")), "rsa");
	assert_int_equal(json_integer_value(json_object_get(o, "bits")), 1024);
	assert_true(json_is_false(json_object_get(o, "revoked")));
	assert_true(json_is_true(json_object_get(o, "testing")));
	json_t *f = json_object_get(o, "findings");
	assert_int_equal(json_array_size(f), rec.nfindings);
	int saw_1024 = 0;
	for (size_t i = 0; i < json_array_size(f); i++) {
		json_t *x = json_array_get(f, i);
		assert_non_null(json_string_value(json_object_get(x, "message")));
		if (strcmp(json_string_value(json_object_get(x, "code")), "rsa_1024") == 0) {
			saw_1024 = 1;
			assert_string_equal(json_string_value(json_object_get(x, "severity")),
			                    "warning");
		}
	}
	assert_true(saw_1024);
	json_decref(o);

	/* a revoked record: absent tags and key are null */
	parse("v=DKIM1; p=");
	dm_buf_init(&b, 1 << 20);
	dm_json_init(&j, &b);
	dm_dkim_record_json(&rec, &j);
	o = json_loadb(b.data, b.len, 0, &err);
	dm_buf_free(&b);
	assert_non_null(o);
	assert_true(json_is_null(json_object_get(json_object_get(o, "tags"), "k")));
	assert_true(json_is_null(json_object_get(o, "key_type")));
	assert_true(json_is_null(json_object_get(o, "bits")));
	assert_true(json_is_true(json_object_get(o, "revoked")));
	json_decref(o);

	/* quoted text in messages is printable and bounded */
	parse("v=DKIM1; k=\x1b[31m<b>; h=\x7f\xff; \xfe\xfd=1; t=\x1b[0m; p=\x01");
	for (size_t i = 0; i < rec.nfindings; i++)
		for (const char *c = rec.findings[i].message; *c; c++)
			assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
	char longname[600];
	memset(longname, 'x', sizeof longname);
	memcpy(longname + sizeof longname - 6, "=1; p=", 6);
	dm_dkim_record_parse(longname, sizeof longname, &rec);
	assert_int_equal(count("unknown_tag", DM_FINDING_INFO), 1);
	assert_true(strlen(rec.findings[0].message) < 200);
	/* many unknown tags: findings are capped, errors still counted */
	char many[DM_DKIM_MAX_RECORD];
	size_t n = (size_t)snprintf(many, sizeof many, "v=DKIM1; p=;");
	for (int i = 0; n + 16 < sizeof many; i++)
		n += (size_t)snprintf(many + n, sizeof many - n, "x%d=1;x%d=1;", i, i);
	parse(many);
	assert_int_equal(rec.nfindings, DM_DMARC_MAX_FINDINGS);
	assert_true(rec.findings_dropped);
	assert_false(rec.valid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_clean_keys),
	        cmocka_unit_test(test_split_key),
	        cmocka_unit_test(test_key_sizes),
	        cmocka_unit_test(test_revoked),
	        cmocka_unit_test(test_not_dkim),
	        cmocka_unit_test(test_version),
	        cmocka_unit_test(test_syntax),
	        cmocka_unit_test(test_duplicates),
	        cmocka_unit_test(test_bad_keys),
	        cmocka_unit_test(test_hashes),
	        cmocka_unit_test(test_service_and_flags),
	        cmocka_unit_test(test_json_and_hostile_text),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
