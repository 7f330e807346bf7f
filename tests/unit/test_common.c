/*
 * test_common.c - bounded buffer, JSON writer, log escaping, config file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/log.h"
#include "core/config.h"

static void
test_buf_ceiling(void **state)
{
	struct dm_buf b;
	dm_buf_init(&b, 8);
	assert_int_equal(dm_buf_add(&b, "12345", 5), 0);
	assert_int_equal(dm_buf_add(&b, "678", 3), 0);
	assert_int_equal(dm_buf_add(&b, "9", 1), DM_ELIMIT);
	assert_int_equal(b.len, 8);
	assert_string_equal(dm_buf_str(&b), "12345678");
	assert_int_equal(dm_buf_add(&b, "x", SIZE_MAX), DM_ELIMIT); /* no overflow */
	assert_int_equal(dm_buf_printf(&b, "%d", 1), DM_ELIMIT);
	dm_buf_reset(&b);
	assert_int_equal(dm_buf_printf(&b, "%s-%d", "ab", 42), 0);
	assert_string_equal(dm_buf_str(&b), "ab-42");
	dm_buf_free(&b);
}

static void
test_json_escaping(void **state)
{
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 4096);
	dm_json_init(&j, &b);
	dm_json_obj_begin(&j);
	dm_json_key(&j, "s");
	dm_json_str(&j, "a\"b\\c\n\x01\x7f");
	dm_json_key(&j, "bad");
	dm_json_str(&j, "x\x91y\xc3\xa9");
	dm_json_key(&j, "n");
	dm_json_null(&j);
	dm_json_key(&j, "i");
	dm_json_int(&j, -5);
	dm_json_key(&j, "a");
	dm_json_arr_begin(&j);
	dm_json_uint(&j, 1);
	dm_json_bool(&j, 0);
	dm_json_arr_end(&j);
	dm_json_obj_end(&j);
	assert_int_equal(j.rc, 0);
	assert_string_equal(dm_buf_str(&b), "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\u007f\","
					    "\"bad\":\"x\xef\xbf\xbdy\xc3\xa9\",\"n\":null,"
					    "\"i\":-5,\"a\":[1,false]}");
	dm_buf_free(&b);
}

static void
test_log_escape(void **state)
{
	char out[16];
	dm_log_escape(out, sizeof out, "ab\x1b[2J", 6);
	assert_string_equal(out, "ab\\x1b[2J");
	dm_log_escape(out, sizeof out, "0123456789abcdefghij", 20);
	assert_string_equal(out, "0123456789ab...");
}

static void
test_sha256(void **state)
{
	struct dm_sha256 *h = dm_sha256_new();
	char hex[DM_SHA256_HEX];
	dm_sha256_update(h, "abc", 3);
	dm_sha256_final_hex(h, hex);
	dm_sha256_free(h);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
test_config_file(void **state)
{
	char path[256], err[512];
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof path, "%s/dm-config-%d.conf", tmp ? tmp : "/tmp", (int)getpid());
	FILE *f = fopen(path, "w");
	fprintf(f, "# comment\n\ndata_dir = /srv/dmarcd  # trailing comment\nstore=sqlite\n");
	fclose(f);
	struct dm_config c;
	dm_config_defaults(&c);
	assert_string_equal(c.data_dir, "./var");
	assert_int_equal(dm_config_load(&c, path, err, sizeof err), 0);
	assert_string_equal(c.data_dir, "/srv/dmarcd");

	f = fopen(path, "w");
	fprintf(f, "data_dir = /x\nstore = oracle\n");
	fclose(f);
	assert_int_equal(dm_config_load(&c, path, err, sizeof err), DM_EUSAGE);
	char want[600];
	snprintf(want, sizeof want,
	         "%s:2: store: 'oracle' is not sqlite, a postgres:// or a clickhouse:// URL", path);
	assert_string_equal(err, want);

	f = fopen(path, "w");
	fprintf(f, "no equals sign\n");
	fclose(f);
	assert_int_equal(dm_config_load(&c, path, err, sizeof err), DM_EUSAGE);
	assert_non_null(strstr(err, ":1: expected 'name = value'"));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_ceiling),  cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_log_escape),   cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_config_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
