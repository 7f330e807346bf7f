/*
 * test_mmdb_write.c - the ASN database writer (src/enrich/mmdb_write.c)
 * and the @ip-location-db CSV reader (src/enrich/asn_csv.c), checked by
 * reading what they wrote with libmaxminddb: ranges and their edges,
 * ranges not on a CIDR boundary, overrides, quoting, the metadata, shared
 * data records, bad lines, and a build of 200,000 random ranges (plus the
 * real asn-ipv4.csv / asn-ipv6.csv when /tmp/npmx/package holds them).
 */

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "enrich/asn_csv.h"
#include "enrich/mmdb_write.h"

#define REAL_V4 "/tmp/npmx/package/asn-ipv4.csv"
#define REAL_V6 "/tmp/npmx/package/asn-ipv6.csv"

static char *
tmp_path(const char *name)
{
	static char paths[8][512];
	static int next;
	const char *dir = getenv("TMPDIR");
	char *p = paths[next++ % 8];
	snprintf(p, sizeof paths[0], "%s/test_mmdb_write.%ld.%s", dir && *dir ? dir : "/tmp",
	         (long)getpid(), name);
	return p;
}

static const char *
write_file(const char *name, const char *text)
{
	const char *path = tmp_path(name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Import the CSV texts (NULL-terminated) in order and write out. */
static void
build(const char *out, const char *const *csvs)
{
	char err[512] = "";
	struct dm_mmdb_writer *w = dm_mmdb_writer_new();
	for (int i = 0; csvs[i]; i++) {
		char name[32];
		size_t rows;
		snprintf(name, sizeof name, "in%d.csv", i);
		const char *path = write_file(name, csvs[i]);
		int rc = dm_asn_csv_import(w, path, &rows, err, sizeof err);
		if (rc != 0)
			print_error("import: %s\n", err);
		assert_int_equal(rc, 0);
		unlink(path);
	}
	int rc = dm_mmdb_write(w, out, "GeoLite2-ASN", "test database", err, sizeof err);
	if (rc != 0)
		print_error("write: %s\n", err);
	assert_int_equal(rc, 0);
	dm_mmdb_writer_free(w);
}

static void
open_db(const char *path, MMDB_s *db)
{
	int rc = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (rc != MMDB_SUCCESS)
		print_error("MMDB_open %s: %s\n", path, MMDB_strerror(rc));
	assert_int_equal(rc, MMDB_SUCCESS);
}

struct hit {
	int found;
	uint32_t asn;
	char org[300];
	uint32_t offset;
};

static struct hit
lookup(MMDB_s *db, const char *addr)
{
	struct hit h = {0};
	int gai = 0, err = 0;
	MMDB_lookup_result_s r = MMDB_lookup_string(db, addr, &gai, &err);
	assert_int_equal(gai, 0);
	assert_int_equal(err, MMDB_SUCCESS);
	if (!r.found_entry)
		return h;
	h.found = 1;
	h.offset = r.entry.offset;
	MMDB_entry_data_s v;
	assert_int_equal(MMDB_get_value(&r.entry, &v, "autonomous_system_number", NULL),
	                 MMDB_SUCCESS);
	assert_true(v.has_data);
	assert_int_equal(v.type, MMDB_DATA_TYPE_UINT32);
	h.asn = v.uint32;
	int rc = MMDB_get_value(&r.entry, &v, "autonomous_system_organization", NULL);
	if (rc == MMDB_SUCCESS && v.has_data) {
		assert_int_equal(v.type, MMDB_DATA_TYPE_UTF8_STRING);
		assert_true(v.data_size < sizeof h.org);
		memcpy(h.org, v.utf8_string, v.data_size);
		h.org[v.data_size] = '\0';
	}
	return h;
}

static void
expect(MMDB_s *db, const char *addr, uint32_t asn, const char *org)
{
	struct hit h = lookup(db, addr);
	if (!h.found || h.asn != asn || strcmp(h.org, org) != 0)
		print_error("%s: expected AS%u \"%s\", got %s AS%u \"%s\"\n", addr, asn, org,
		            h.found ? "found" : "not found", h.asn, h.org);
	assert_true(h.found);
	assert_int_equal(h.asn, asn);
	assert_string_equal(h.org, org);
}

static void
expect_none(MMDB_s *db, const char *addr)
{
	struct hit h = lookup(db, addr);
	if (h.found)
		print_error("%s: expected not found, got AS%u \"%s\"\n", addr, h.asn, h.org);
	assert_false(h.found);
}

static void
test_ranges(void **state)
{
	(void)state;
	const char *out = tmp_path("ranges.mmdb");
	const char *csvs[] = {"1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n"
	                      "10.0.0.3,10.0.0.9,64500,Odd Range\n"
	                      "192.0.2.0,192.0.2.127,201907,\"LLC \"\"SPUTNIK\"\"\"\n"
	                      "198.51.100.0,198.51.100.255,64502,\"accompio SmarTec GmbH\"\"\"\n",
	                      "2001:200::,2001:200:1b9:ffff:ffff:ffff:ffff:ffff,2500,WIDE Project\n"
	                      "2001:db8::5,2001:db8::5,64503,Münchner Straße\n",
	                      NULL};
	build(out, csvs);
	MMDB_s db;
	open_db(out, &db);
	/* IPv4, first and last address, gaps on both sides */
	expect(&db, "1.0.0.0", 13335, "Cloudflare, Inc.");
	expect(&db, "1.0.0.77", 13335, "Cloudflare, Inc.");
	expect(&db, "1.0.0.255", 13335, "Cloudflare, Inc.");
	expect_none(&db, "0.255.255.255");
	expect_none(&db, "1.0.1.0");
	expect_none(&db, "0.0.0.0");
	expect_none(&db, "255.255.255.255");
	/* not on a CIDR boundary: .3/32 .4/30 .8/31 */
	expect_none(&db, "10.0.0.2");
	expect(&db, "10.0.0.3", 64500, "Odd Range");
	expect(&db, "10.0.0.4", 64500, "Odd Range");
	expect(&db, "10.0.0.7", 64500, "Odd Range");
	expect(&db, "10.0.0.8", 64500, "Odd Range");
	expect(&db, "10.0.0.9", 64500, "Odd Range");
	expect_none(&db, "10.0.0.10");
	/* "" inside a quoted field */
	expect(&db, "192.0.2.64", 201907, "LLC \"SPUTNIK\"");
	expect_none(&db, "192.0.2.128");
	expect(&db, "198.51.100.1", 64502, "accompio SmarTec GmbH\"");
	/* IPv6 */
	expect(&db, "2001:200::", 2500, "WIDE Project");
	expect(&db, "2001:200:42::1", 2500, "WIDE Project");
	expect(&db, "2001:200:1b9:ffff:ffff:ffff:ffff:ffff", 2500, "WIDE Project");
	expect_none(&db, "2001:200:1ba::");
	expect_none(&db, "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff");
	expect_none(&db, "2001:db8::4");
	expect(&db, "2001:db8::5", 64503, "Münchner Straße");
	expect_none(&db, "2001:db8::6");
	expect_none(&db, "::1");
	/* IPv4 under ::/96 and through the IPv4-mapped alias */
	expect(&db, "::1.0.0.1", 13335, "Cloudflare, Inc.");
	expect(&db, "::ffff:1.0.0.1", 13335, "Cloudflare, Inc.");
	expect(&db, "::ffff:10.0.0.9", 64500, "Odd Range");
	expect_none(&db, "::ffff:10.0.0.10");
	/* the whole record, as mmdblookup dumps it (keys are pointers) */
	int gai, err;
	MMDB_lookup_result_s r = MMDB_lookup_string(&db, "10.0.0.5", &gai, &err);
	assert_true(r.found_entry);
	MMDB_entry_data_list_s *list = NULL;
	assert_int_equal(MMDB_get_entry_data_list(&r.entry, &list), MMDB_SUCCESS);
	assert_non_null(list);
	assert_int_equal(list->entry_data.type, MMDB_DATA_TYPE_MAP);
	assert_int_equal(list->entry_data.data_size, 2);
	MMDB_free_entry_data_list(list);
	/* the netmask of the block: 10.0.0.4/30 */
	assert_int_equal(r.netmask, 96 + 30);
	MMDB_close(&db);
	unlink(out);
}

static void
test_override(void **state)
{
	(void)state;
	const char *out = tmp_path("override.mmdb");
	const char *csvs[] = {"20.0.0.0,20.0.255.255,100,Big\n"
	                      "20.0.1.0,20.0.1.255,200,Small\n"
	                      "20.0.1.128,20.0.3.3,300,Across\n"
	                      "30.0.0.0,30.0.255.255,1,Net\n"
	                      "30.0.0.0,30.0.0.255,2,Inner\n"
	                      "30.0.0.0,30.0.255.255,1,Net\n",
	                      /* a second file overrides the first */
	                      "20.0.200.0,20.0.200.0,400,Second File\n", NULL};
	build(out, csvs);
	MMDB_s db;
	open_db(out, &db);
	expect(&db, "20.0.0.0", 100, "Big");
	expect(&db, "20.0.0.255", 100, "Big");
	expect(&db, "20.0.1.0", 200, "Small");
	expect(&db, "20.0.1.127", 200, "Small");
	expect(&db, "20.0.1.128", 300, "Across");
	expect(&db, "20.0.2.200", 300, "Across");
	expect(&db, "20.0.3.3", 300, "Across");
	expect(&db, "20.0.3.4", 100, "Big");
	expect(&db, "20.0.199.255", 100, "Big");
	expect(&db, "20.0.200.0", 400, "Second File");
	expect(&db, "20.0.200.1", 100, "Big");
	expect(&db, "20.0.255.255", 100, "Big");
	expect_none(&db, "20.1.0.0");
	/* the duplicate row at the end overrides the inner one again */
	expect(&db, "30.0.0.1", 1, "Net");
	struct hit a = lookup(&db, "30.0.0.1"), b = lookup(&db, "30.0.77.1");
	assert_int_equal(a.offset, b.offset);
	MMDB_close(&db);

	/* the root's two halves (the whole IPv6 space), then a hole in it */
	struct dm_mmdb_writer *w = dm_mmdb_writer_new();
	unsigned char lo[16], hi[16];
	char err[256];
	memset(lo, 0, 16);
	memset(hi, 0xff, 16);
	assert_int_equal(dm_mmdb_insert_range(w, lo, hi, 0, 7, "Everything"), 0);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::", lo), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", hi), 1);
	assert_int_equal(dm_mmdb_insert_range(w, lo, hi, 0, 8, "Hole"), 0);
	/* start after end */
	assert_int_equal(dm_mmdb_insert_range(w, hi, lo, 0, 8, "Hole"), DM_EINVAL);
	assert_int_equal(dm_mmdb_insert_range(w, lo, hi, 0, 8, "\xc3\x28"), DM_EINVAL);
	assert_int_equal(dm_mmdb_write(w, out, "GeoLite2-ASN", "t", err, sizeof err), 0);
	open_db(out, &db);
	expect(&db, "::", 7, "Everything");
	expect(&db, "1.2.3.4", 7, "Everything");
	expect(&db, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 7, "Everything");
	expect(&db, "2001:db8::1", 8, "Hole");
	expect(&db, "2001:db8::2", 7, "Everything");
	MMDB_close(&db);
	/* written again after more ranges: IPv4 everywhere now */
	memset(lo, 0, 16);
	memset(hi, 0xff, 16);
	assert_int_equal(dm_mmdb_insert_range(w, lo, hi, 1, 9, ""), 0);
	assert_int_equal(dm_mmdb_write(w, out, "GeoLite2-ASN", "t", err, sizeof err), 0);
	struct dm_mmdb_stats st;
	dm_mmdb_writer_stats(w, &st);
	assert_int_equal(st.data, 3);
	dm_mmdb_writer_free(w);
	open_db(out, &db);
	expect(&db, "1.2.3.4", 9, ""); /* no organisation */
	expect(&db, "::ffff:255.255.255.255", 9, "");
	expect(&db, "2001:db8::1", 8, "Hole");
	MMDB_close(&db);
	/* no temporary file left */
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s.tmp", out);
	struct stat sb;
	assert_int_not_equal(stat(tmp, &sb), 0);
	unlink(out);
}

static void
test_dedup_and_metadata(void **state)
{
	(void)state;
	const char *out = tmp_path("dedup.mmdb");
	const char *csvs[] = {"40.0.0.0,40.0.0.255,64510,Same Org\n"
	                      "50.0.0.0,50.0.0.255,64510,Same Org\n"
	                      "60.0.0.0,60.0.0.255,64510,Other Org\n"
	                      "70.0.0.0,70.0.0.255,64511,Same Org\n",
	                      "2001:db8:1::,2001:db8:1::ffff,64510,Same Org\n", NULL};
	time_t t0 = time(NULL);
	build(out, csvs);
	MMDB_s db;
	open_db(out, &db);
	struct hit a = lookup(&db, "40.0.0.1"), b = lookup(&db, "50.0.0.1"),
	           c = lookup(&db, "60.0.0.1"), d = lookup(&db, "70.0.0.1"),
	           e = lookup(&db, "2001:db8:1::1");
	assert_true(a.found && b.found && c.found && d.found && e.found);
	assert_int_equal(a.offset, b.offset);
	assert_int_equal(a.offset, e.offset);
	assert_int_not_equal(a.offset, c.offset);
	assert_int_not_equal(a.offset, d.offset);
	assert_int_not_equal(c.offset, d.offset);

	assert_string_equal(db.metadata.database_type, "GeoLite2-ASN");
	assert_int_equal(db.metadata.ip_version, 6);
	assert_int_equal(db.metadata.binary_format_major_version, 2);
	assert_int_equal(db.metadata.binary_format_minor_version, 0);
	assert_int_equal(db.metadata.languages.count, 1);
	assert_string_equal(db.metadata.languages.names[0], "en");
	assert_int_equal(db.metadata.description.count, 1);
	assert_string_equal(db.metadata.description.descriptions[0]->language, "en");
	assert_string_equal(db.metadata.description.descriptions[0]->description, "test database");
	assert_true(db.metadata.record_size == 24 || db.metadata.record_size == 28 ||
	            db.metadata.record_size == 32);
	assert_true(db.metadata.node_count > 0);
	assert_true(db.metadata.build_epoch >= (uint64_t)t0 - 5 &&
	            db.metadata.build_epoch <= (uint64_t)time(NULL) + 5);
	MMDB_close(&db);
	unlink(out);
}

struct bad_case {
	const char *csv;
	int line;
	const char *why;
};

static void
test_bad_lines(void **state)
{
	(void)state;
	char long_org[400], long_line[1200], text[1500];
	memset(long_org, 'x', 300);
	long_org[300] = '\0';
	memset(long_line, ' ', 1100);
	long_line[1100] = '\0';
	static struct bad_case cases[] = {
	        {"1.0.0.0,1.0.0.255,13335\n", 1, "4 fields expected"},
	        {"1.0.0.0,1.0.0.255,13335,A\nx,1.0.0.255,1,B\n", 2, "start is not an IP"},
	        {"1.0.0.0,1.0.0.300,1,A\n", 1, "end is not an IP"},
	        {"1.0.0.9,1.0.0.1,1,A\n", 1, "start is after end"},
	        {"2001:db8::9,2001:db8::1,1,A\n", 1, "start is after end"},
	        {"1.0.0.0,::1,1,A\n", 1, "same address family"},
	        {"1.0.0.0,1.0.0.1,abc,A\n", 1, "AS number"},
	        {"1.0.0.0,1.0.0.1,,A\n", 1, "AS number"},
	        {"1.0.0.0,1.0.0.1,4294967296,A\n", 1, "AS number"},
	        {"1.0.0.0,1.0.0.1,1,\"unterminated\n", 1, "does not end"},
	        {"1.0.0.0,1.0.0.1,1,A,B\n", 1, "more than 4 fields"},
	        {"1.0.0.0,1.0.0.1,1,\"A\"x\n", 1, "after the closing quote"},
	        {"1.0.0.0,1.0.0.1,1,A \"B\"\n", 1, "quote inside"},
	        {"1.0.0.0,1.0.0.1,1,A\n\n2.0.0.0,2.0.0.1,1,B\n", 2, "empty line"},
	        {"1.0.0.0,1.0.0.1,1,A\n1.0.0.0,1.0.0.1,1,\xff\n", 2, "not valid UTF-8"},
	        {"1.0.0.0,1.0.0.1,1,A\n1.0.0.0,1.0.0.1,1,\xed\xa0\x80\n", 2, "not valid UTF-8"},
	        {NULL, 1, "DM_ASN_CSV_MAX_ORG"},  /* long_org */
	        {NULL, 2, "DM_ASN_CSV_MAX_LINE"}, /* long_line */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *csv = cases[i].csv;
		if (!csv && strstr(cases[i].why, "ORG")) {
			snprintf(text, sizeof text, "1.0.0.0,1.0.0.1,1,%s\n", long_org);
			csv = text;
		} else if (!csv) {
			snprintf(text, sizeof text, "1.0.0.0,1.0.0.1,1,A\n1.0.0.0,1.0.0.1,1,A%s\n",
			         long_line);
			csv = text;
		}
		const char *path = write_file("bad.csv", csv);
		char err[512] = "", want[600];
		size_t rows = 99;
		struct dm_mmdb_writer *w = dm_mmdb_writer_new();
		int rc = dm_asn_csv_import(w, path, &rows, err, sizeof err);
		dm_mmdb_writer_free(w);
		snprintf(want, sizeof want, "%s:%d: ", path, cases[i].line);
		if (rc == 0 || strncmp(err, want, strlen(want)) != 0 || !strstr(err, cases[i].why))
			print_error("case %zu: rc %d, err \"%s\", want \"%s...%s\"\n", i, rc, err,
			            want, cases[i].why);
		assert_int_not_equal(rc, 0);
		assert_int_equal(strncmp(err, want, strlen(want)), 0);
		assert_non_null(strstr(err, cases[i].why));
		assert_int_equal(rows, (size_t)cases[i].line - 1);
		unlink(path);
	}

	/* fine: empty lines at the end, CRLF, no newline at the end */
	static const char *const good[] = {
	        "1.0.0.0,1.0.0.1,1,A\n\n",
	        "1.0.0.0,1.0.0.1,1,A\r\n2.0.0.0,2.0.0.1,2,\"B, b\"\r\n",
	        "1.0.0.0,1.0.0.1,1,A\n2.0.0.0,2.0.0.1,2,B",
	        "1.0.0.0,1.0.0.1,1,\n",
	};
	static const size_t good_rows[] = {1, 2, 2, 1};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		const char *path = write_file("good.csv", good[i]);
		char err[512] = "";
		size_t rows = 0;
		struct dm_mmdb_writer *w = dm_mmdb_writer_new();
		int rc = dm_asn_csv_import(w, path, &rows, err, sizeof err);
		if (rc != 0)
			print_error("good %zu: %s\n", i, err);
		assert_int_equal(rc, 0);
		assert_int_equal(rows, good_rows[i]);
		dm_mmdb_writer_free(w);
		unlink(path);
	}

	/* a file that is not there */
	char err[512] = "";
	size_t rows;
	struct dm_mmdb_writer *w = dm_mmdb_writer_new();
	assert_int_not_equal(dm_asn_csv_import(w, tmp_path("absent.csv"), &rows, err, sizeof err),
	                     0);
	assert_non_null(strstr(err, "absent.csv"));
	/* a folder that is not there for the output */
	assert_int_not_equal(
	        dm_mmdb_write(w, "/nonexistent/dir/x.mmdb", "GeoLite2-ASN", "t", err, sizeof err),
	        0);
	assert_non_null(strstr(err, "/nonexistent/dir/x.mmdb.tmp"));
	dm_mmdb_writer_free(w);
}

/* ---- scale --------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct gen_range {
	uint32_t lo, hi, asn;
	int org;
};

static const char *const gen_orgs[] = {
        "Example Networks",
        "Example Networks, Inc.",
        "LLC \"SPUTNIK\"",
        "Fibre \"One\", Ltd.",
        "Tiny ISP",
        "Ärger GmbH",
        "Net 7",
        "Net 8",
        "Net 9",
        "Net 10",
};

#define GEN_RANGES 200000
#define GEN_LOOKUPS 1000

static void
csv_field(FILE *f, const char *s)
{
	if (!strchr(s, ',') && !strchr(s, '"')) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
ip4_text(uint32_t a, char *out, size_t len)
{
	snprintf(out, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* 200,000 random ranges that do not overlap, not aligned to any CIDR
 * boundary, and 1,000 random lookups inside them and in the gaps. */
static void
check_generated(void)
{
	struct gen_range *r = calloc(GEN_RANGES, sizeof *r);
	assert_non_null(r);
	const uint32_t slot = (uint32_t)(0x100000000ull / GEN_RANGES); /* 21474 */
	const char *csv = tmp_path("gen.csv");
	FILE *f = fopen(csv, "w");
	assert_non_null(f);
	for (uint32_t i = 0; i < GEN_RANGES; i++) {
		uint32_t base = i * slot;
		r[i].lo = base + (uint32_t)(next_rand() % 5000);
		r[i].hi = r[i].lo + (uint32_t)(next_rand() % 15000);
		r[i].asn = 1 + (uint32_t)(next_rand() % 3000);
		r[i].org = (int)(next_rand() % (sizeof gen_orgs / sizeof gen_orgs[0]));
		char lo[16], hi[16];
		ip4_text(r[i].lo, lo, sizeof lo);
		ip4_text(r[i].hi, hi, sizeof hi);
		fprintf(f, "%s,%s,%u,", lo, hi, r[i].asn);
		csv_field(f, gen_orgs[r[i].org]);
		fputc('\n', f);
	}
	assert_int_equal(fclose(f), 0);

	const char *out = tmp_path("gen.mmdb");
	struct dm_mmdb_writer *w = dm_mmdb_writer_new();
	char err[512] = "";
	size_t rows = 0;
	int rc = dm_asn_csv_import(w, csv, &rows, err, sizeof err);
	if (rc != 0)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(rows, GEN_RANGES);
	assert_int_equal(dm_mmdb_write(w, out, "GeoLite2-ASN", "generated", err, sizeof err), 0);
	struct dm_mmdb_stats st;
	dm_mmdb_writer_stats(w, &st);
	dm_mmdb_writer_free(w);
	print_message("generated: %u ranges, %llu prefixes, %u nodes, %u data, %llu bytes\n",
	              GEN_RANGES, (unsigned long long)st.prefixes, st.nodes, st.data,
	              (unsigned long long)st.bytes);

	MMDB_s db;
	open_db(out, &db);
	int inside = 0, outside = 0;
	for (int k = 0; k < GEN_LOOKUPS; k++) {
		uint32_t a;
		if (k % 2 == 0) {
			const struct gen_range *g = &r[next_rand() % GEN_RANGES];
			uint32_t span = g->hi - g->lo + 1;
			a = k % 10 == 0 ? g->lo : k % 10 == 2 ? g->hi : g->lo + next_rand() % span;
		} else {
			a = (uint32_t)next_rand();
		}
		/* the range that may hold a: the one of its slot */
		uint32_t i = a / slot;
		const struct gen_range *g = i < GEN_RANGES ? &r[i] : NULL;
		char text[16];
		ip4_text(a, text, sizeof text);
		if (g && a >= g->lo && a <= g->hi) {
			expect(&db, text, g->asn, gen_orgs[g->org]);
			inside++;
		} else {
			expect_none(&db, text);
			outside++;
		}
	}
	print_message("generated: %d lookups inside ranges, %d in gaps\n", inside, outside);
	assert_true(inside >= GEN_LOOKUPS / 2 && outside > 0);
	MMDB_close(&db);
	unlink(out);
	unlink(csv);
	free(r);
}

/* The real files of @ip-location-db/asn, when this machine has them. */
static void
check_real(void)
{
	const char *out = tmp_path("real.mmdb");
	struct dm_mmdb_writer *w = dm_mmdb_writer_new();
	char err[512] = "";
	size_t rows = 0;
	int rc = dm_asn_csv_import(w, REAL_V4, &rows, err, sizeof err);
	if (rc != 0)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_true(rows > 100000);
	int v6 = access(REAL_V6, R_OK) == 0;
	if (v6) {
		rc = dm_asn_csv_import(w, REAL_V6, &rows, err, sizeof err);
		if (rc != 0)
			print_error("%s\n", err);
		assert_int_equal(rc, 0);
	}
	assert_int_equal(dm_mmdb_write(w, out, "GeoLite2-ASN", "real", err, sizeof err), 0);
	struct dm_mmdb_stats st;
	dm_mmdb_writer_stats(w, &st);
	dm_mmdb_writer_free(w);
	print_message("real: %llu ranges, %u nodes, %u data, %llu bytes\n",
	              (unsigned long long)st.ranges, st.nodes, st.data,
	              (unsigned long long)st.bytes);
	MMDB_s db;
	open_db(out, &db);
	expect(&db, "8.8.8.8", 15169, "Google LLC");
	expect(&db, "1.1.1.1", 13335, "Cloudflare, Inc.");
	expect(&db, "::ffff:8.8.8.8", 15169, "Google LLC");
	if (v6)
		expect(&db, "2001:4860:4860::8888", 15169, "Google LLC");
	MMDB_close(&db);
	unlink(out);
}

static void
test_large_csv(void **state)
{
	(void)state;
	check_generated();
	if (access(REAL_V4, R_OK) == 0)
		check_real();
	else
		print_message("%s absent: checked with the generated ranges only\n", REAL_V4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ranges),
	        cmocka_unit_test(test_override),
	        cmocka_unit_test(test_dedup_and_metadata),
	        cmocka_unit_test(test_bad_lines),
	        cmocka_unit_test(test_large_csv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
