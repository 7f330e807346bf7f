/*
 * cli_geoip.c - `dmarcd geoip build-asn --out FILE CSV...`: the ASN
 * database (an MMDB file laid out as MaxMind's GeoLite2-ASN) made from the
 * @ip-location-db/asn CSVs, in the order given (a later row overrides an
 * earlier one); and `dmarcd geoip lookup --db FILE ADDR... [--json]`: what
 * libmaxminddb reads from such a file (or a GeoLite2-ASN / GeoIP2-ISP
 * one) for each address.
 *
 * Functions: cli_geoip.  Exit status: build-asn 0, or 2 on a bad CSV line,
 * a write error or a usage error; lookup 0 when every address was looked
 * up (found or not), 1 when one is not an address, 2 when the database
 * cannot be read or on a usage error.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <maxminddb.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/json.h"
#include "enrich/asn_csv.h"
#include "enrich/mmdb_write.h"

enum { KEY_OUT = 1, KEY_DB, KEY_JSON };

const struct cli_opt cli_geoip_opts[] = {
        {"out", 1, KEY_OUT, "FILE", "build-asn: the MMDB file to write (replaced atomically)"},
        {"db", 1, KEY_DB, "FILE", "lookup: the MMDB file to read"},
        {"json", 0, KEY_JSON, NULL, "lookup: one JSON object per address and line"},
        {NULL, 0, 0, NULL, NULL},
};

struct geoip_args {
	const char *out;
	const char *db;
	int json;
};

static int
on_opt(void *arg, int key, const char *value)
{
	struct geoip_args *a = arg;
	switch (key) {
	case KEY_OUT:
		a->out = value;
		break;
	case KEY_DB:
		a->db = value;
		break;
	case KEY_JSON:
		a->json = 1;
		break;
	default:
		break;
	}
	return 0;
}

static double
now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
build_asn(const struct geoip_args *a, int nfiles, char **files)
{
	char err[1024];
	size_t total = 0;
	double t0 = now_seconds();
	struct dm_mmdb_writer *w = dm_mmdb_writer_new();
	int rc = 0;
	for (int i = 0; i < nfiles && rc == 0; i++) {
		size_t rows = 0;
		rc = dm_asn_csv_import(w, files[i], &rows, err, sizeof err);
		total += rows;
		if (rc == 0)
			printf("%s: %zu rows\n", files[i], rows);
	}
	if (rc == 0) {
		char desc[256];
		snprintf(desc, sizeof desc,
		         "AS numbers and organisations from @ip-location-db/asn (RouteViews, "
		         "DB-IP, NRO; CC BY 4.0), %zu ranges, converted by dmarcd %s",
		         total, DM_VERSION);
		rc = dm_mmdb_write(w, a->out, "GeoLite2-ASN", desc, err, sizeof err);
	}
	if (rc != 0) {
		fprintf(stderr, "dmarcd geoip: %s\n", err);
		dm_mmdb_writer_free(w);
		return CLI_FAILED;
	}
	struct dm_mmdb_stats st;
	dm_mmdb_writer_stats(w, &st);
	dm_mmdb_writer_free(w);
	printf("rows read:    %zu\n", total);
	printf("prefixes:     %llu\n", (unsigned long long)st.prefixes);
	printf("nodes:        %u (record size %u bits; %u in the trie)\n", st.nodes, st.record_size,
	       st.trie_nodes);
	printf("data entries: %u (%u distinct AS number and organisation pairs read)\n", st.data,
	       st.data_seen);
	printf("bytes:        %llu\n", (unsigned long long)st.bytes);
	printf("seconds:      %.2f\n", now_seconds() - t0);
	printf("wrote %s\n", a->out);
	return CLI_OK;
}

/* addr's network of prefix length bits (of the address's own family) as
 * text into out; "" when addr does not parse. */
static void
network_text(const char *addr, unsigned bits, char *out, size_t outlen)
{
	unsigned char ip[16];
	char text[INET6_ADDRSTRLEN];
	int af = AF_INET6, nbytes = 16;
	out[0] = '\0';
	if (inet_pton(AF_INET, addr, ip) == 1)
		af = AF_INET, nbytes = 4;
	else if (inet_pton(AF_INET6, addr, ip) != 1)
		return;
	if (bits > (unsigned)nbytes * 8)
		return;
	for (int i = 0; i < nbytes; i++) {
		unsigned keep = bits >= (unsigned)(i + 1) * 8 ? 8
		                : bits > (unsigned)i * 8      ? bits - (unsigned)i * 8
		                                              : 0;
		ip[i] &= (unsigned char)(0xff00u >> keep);
	}
	if (inet_ntop(af, ip, text, sizeof text))
		snprintf(out, outlen, "%s/%u", text, bits);
}

/* One address: a line of text or JSON.  CLI_OK, CLI_REJECTED (not an
 * address) or CLI_FAILED (the database is damaged). */
static int
lookup_one(MMDB_s *db, const char *addr, int json, struct dm_buf *b)
{
	int gai = 0, mmerr = MMDB_SUCCESS, rc = CLI_OK;
	MMDB_lookup_result_s res = MMDB_lookup_string(db, addr, &gai, &mmerr);
	struct dm_json j;
	const char *error = NULL;
	uint32_t asn = 0;
	const char *org = NULL;
	size_t orglen = 0;
	int has_asn = 0;
	char net[INET6_ADDRSTRLEN + 8] = "";

	if (gai != 0) {
		error = "not an IP address";
		rc = CLI_REJECTED;
	} else if (mmerr != MMDB_SUCCESS) {
		error = MMDB_strerror(mmerr);
		rc = CLI_FAILED;
	} else if (res.found_entry) {
		MMDB_entry_data_s v;
		int e = MMDB_get_value(&res.entry, &v, "autonomous_system_number", NULL);
		if (e == MMDB_SUCCESS && v.has_data && v.type == MMDB_DATA_TYPE_UINT32) {
			asn = v.uint32;
			has_asn = 1;
		} else if (e != MMDB_SUCCESS && e != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
			error = MMDB_strerror(e);
			rc = CLI_FAILED;
		}
		e = MMDB_get_value(&res.entry, &v, "autonomous_system_organization", NULL);
		if (e == MMDB_SUCCESS && v.has_data && v.type == MMDB_DATA_TYPE_UTF8_STRING) {
			org = v.utf8_string;
			orglen = v.data_size;
		} else if (e != MMDB_SUCCESS && e != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
			error = MMDB_strerror(e);
			rc = CLI_FAILED;
		}
		/* libmaxminddb counts the bits of an IPv4 address from ::/96 */
		unsigned bits = res.netmask;
		unsigned char v4[4];
		if (inet_pton(AF_INET, addr, v4) == 1 && db->metadata.ip_version == 6 && bits >= 96)
			bits -= 96;
		network_text(addr, bits, net, sizeof net);
	}

	if (!json) {
		if (error)
			printf("%s: %s\n", addr, error);
		else if (!res.found_entry)
			printf("%s not found\n", addr);
		else
			printf("%s %s AS%u %.*s\n", addr, net, asn, (int)orglen, org ? org : "");
		return rc;
	}
	dm_buf_reset(b);
	dm_json_init(&j, b);
	dm_json_obj_begin(&j);
	dm_json_key(&j, "address");
	dm_json_str(&j, addr);
	if (error) {
		dm_json_key(&j, "error");
		dm_json_str(&j, error);
	} else {
		dm_json_key(&j, "found");
		dm_json_bool(&j, res.found_entry);
		if (res.found_entry) {
			dm_json_key_str_or_null(&j, "network", net);
			dm_json_key(&j, "asn");
			if (has_asn)
				dm_json_uint(&j, asn);
			else
				dm_json_null(&j);
			dm_json_key(&j, "org");
			if (org)
				dm_json_strn(&j, org, orglen);
			else
				dm_json_null(&j);
		}
	}
	dm_json_obj_end(&j);
	if (j.rc == 0) {
		fwrite(b->data, 1, b->len, stdout);
		fputc('\n', stdout);
	}
	return rc;
}

static int
lookup(const struct geoip_args *a, int naddrs, char **addrs)
{
	MMDB_s db;
	int e = MMDB_open(a->db, MMDB_MODE_MMAP, &db);
	if (e != MMDB_SUCCESS) {
		fprintf(stderr, "dmarcd geoip: %s: %s\n", a->db, MMDB_strerror(e));
		return CLI_FAILED;
	}
	struct dm_buf b;
	dm_buf_init(&b, 64 * 1024);
	int rc = CLI_OK;
	for (int i = 0; i < naddrs; i++) {
		int r = lookup_one(&db, addrs[i], a->json, &b);
		if (r > rc)
			rc = r;
	}
	dm_buf_free(&b);
	MMDB_close(&db);
	return rc;
}

int
cli_geoip(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct dm_config cfg;
	struct geoip_args a;
	int first;
	memset(&a, 0, sizeof a);
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &a, &first) != CLI_OK)
		return CLI_FAILED;
	int nargs = argc - first - 1;
	if (nargs >= 1 && strcmp(argv[first], "build-asn") == 0 && a.out && !a.db && !a.json)
		return build_asn(&a, nargs, argv + first + 1);
	if (nargs >= 1 && strcmp(argv[first], "lookup") == 0 && a.db && !a.out)
		return lookup(&a, nargs, argv + first + 1);
	cli_usage(cmd, stderr);
	return CLI_FAILED;
}
