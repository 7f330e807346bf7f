/*
 * cli_record.c - `dmarcd record parse TEXT [--json]`: a DMARC record read
 * tag by tag, with the policy a receiver applies and every problem found
 * (src/dns/dmarc_record.c; the codes are in docs/RECORDS.md).
 *
 * Functions: cli_record.  Exit status: 0 when the record has no error, 1
 * when it has one (or is no DMARC record), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/json.h"
#include "dns/dmarc_record.h"

enum { KEY_JSON = 1 };

const struct cli_opt cli_record_opts[] = {
        {"json", 0, KEY_JSON, NULL, "print one JSON object"},
        {NULL, 0, 0, NULL, NULL},
};

static int
on_opt(void *arg, int key, const char *value)
{
	(void)value;
	if (key == KEY_JSON)
		*(int *)arg = 1;
	return 0;
}

static void
print_uris(const char *tag, const struct dm_report_uri *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		printf("%-6s %s", tag, u[i].uri);
		if (u[i].has_size)
			printf(" (size limit %llu bytes)", (unsigned long long)u[i].size);
		printf("\n");
	}
}

static void
print_text(const struct dm_dmarc_record *r)
{
	printf("record: %s\n", !r->is_dmarc ? "not a DMARC record"
	                       : r->valid   ? "DMARC1, valid"
	                                    : "DMARC1, with errors");
	if (r->is_dmarc) {
		printf("policy: p=%s sp=%s np=%s adkim=%s aspf=%s pct=%d t=%s psd=%s fo=%s\n",
		       r->eff.p[0] ? r->eff.p : "(none applied)", r->eff.sp[0] ? r->eff.sp : "-",
		       r->eff.np[0] ? r->eff.np : "-", r->eff.adkim, r->eff.aspf, r->eff.pct,
		       r->eff.t, r->eff.psd, r->eff.fo);
		print_uris("rua", r->rua, r->nrua);
		print_uris("ruf", r->ruf, r->nruf);
	}
	for (size_t i = 0; i < r->nfindings; i++)
		printf("%-7s %-18s %s\n", dm_finding_severity_name(r->findings[i].severity),
		       r->findings[i].code, r->findings[i].message);
	if (r->findings_dropped)
		printf("(more findings than %d: the rest are not shown)\n", DM_DMARC_MAX_FINDINGS);
}

int
cli_record(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct dm_config cfg;
	int json = 0, first;
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &json, &first) != CLI_OK)
		return CLI_FAILED;
	if (argc - first != 2 || strcmp(argv[first], "parse") != 0) {
		cli_usage(cmd, stderr);
		return CLI_FAILED;
	}
	static struct dm_dmarc_record r;
	const char *text = argv[first + 1];
	dm_dmarc_record_parse(text, strlen(text), &r);
	if (json) {
		struct dm_buf b;
		struct dm_json j;
		dm_buf_init(&b, 1024 * 1024);
		dm_json_init(&j, &b);
		dm_dmarc_record_json(&r, &j);
		fwrite(b.data, 1, b.len, stdout);
		fputc('\n', stdout);
		dm_buf_free(&b);
	} else {
		print_text(&r);
	}
	return r.valid ? CLI_OK : CLI_REJECTED;
}
