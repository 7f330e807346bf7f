/*
 * cli_stats.c - `dmarcd stats [--json] [--domain D]`: the stored totals.
 *
 * Functions: cli_stats.  Prints reports, records and messages in all and
 * per policy domain, with DMARC pass/fail message counts (from the daily
 * rollup).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/json.h"
#include "store/store.h"

enum { KEY_JSON = 1, KEY_DOMAIN };

const struct cli_opt cli_stats_opts[] = {
	{"json", 0, KEY_JSON, NULL, "print one JSON object"},
	{"domain", 1, KEY_DOMAIN, "D", "only this policy domain"},
	{NULL, 0, 0, NULL, NULL},
};

struct stats_args {
	int json;
	const char *domain;
	struct dm_json *j;
};

static int
on_opt(void *arg, int key, const char *value)
{
	struct stats_args *a = arg;
	if (key == KEY_JSON)
		a->json = 1;
	else if (key == KEY_DOMAIN)
		a->domain = value;
	return 0;
}

static void
json_counts(struct dm_json *j, uint64_t reports, uint64_t records, uint64_t messages,
	    uint64_t pass, uint64_t fail)
{
	dm_json_key(j, "reports");
	dm_json_uint(j, reports);
	dm_json_key(j, "records");
	dm_json_uint(j, records);
	dm_json_key(j, "messages");
	dm_json_uint(j, messages);
	dm_json_key(j, "dmarc_pass");
	dm_json_uint(j, pass);
	dm_json_key(j, "dmarc_fail");
	dm_json_uint(j, fail);
}

static int
per_domain(void *arg, const struct store_domain_stats *d)
{
	struct stats_args *a = arg;
	if (a->json) {
		dm_json_obj_begin(a->j);
		dm_json_key(a->j, "domain");
		dm_json_str(a->j, d->domain);
		json_counts(a->j, d->reports, d->records, d->messages, d->dmarc_pass,
			    d->dmarc_fail);
		dm_json_obj_end(a->j);
	} else {
		printf("%-40.253s %10" PRIu64 " %12" PRIu64 " %14" PRIu64 " %14" PRIu64
		       " %14" PRIu64 "\n",
		       d->domain, d->reports, d->records, d->messages, d->dmarc_pass,
		       d->dmarc_fail);
	}
	return 0;
}

int
cli_stats(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct stats_args a = {0};
	struct dm_config cfg;
	int first;
	char err[512], path[PATH_MAX];
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &a, &first) != CLI_OK)
		return CLI_FAILED;
	if (first < argc) {
		fprintf(stderr, "dmarcd stats: unexpected argument '%s'\n", argv[first]);
		return CLI_FAILED;
	}
	struct stat sb;
	snprintf(path, sizeof path, "%s", cfg.data_dir);
	/* SQLite's store is a file in the data folder: none, nothing stored */
	if (strcmp(cfg.store, "sqlite") == 0 && (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
		fprintf(stderr, "dmarcd: no data folder at %s (nothing ingested yet?)\n", path);
		return CLI_FAILED;
	}
	struct store *st = store_open_config(&cfg, err, sizeof err);
	if (!st) {
		fprintf(stderr, "dmarcd: store: %s\n", err);
		return CLI_FAILED;
	}
	struct store_stats total;
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 256 * 1024 * 1024);
	dm_json_init(&j, &b);
	a.j = &j;
	int rc;
	if (a.json) {
		dm_json_obj_begin(&j);
		dm_json_key(&j, "domains");
		dm_json_arr_begin(&j);
	} else {
		printf("%-40s %10s %12s %14s %14s %14s\n", "policy domain", "reports", "records",
		       "messages", "dmarc pass", "dmarc fail");
	}
	rc = store_stats(st, a.domain, &total, per_domain, &a, err, sizeof err);
	if (rc) {
		fprintf(stderr, "dmarcd: store: %s\n", err);
		store_close(st);
		dm_buf_free(&b);
		return CLI_FAILED;
	}
	if (a.json) {
		dm_json_arr_end(&j);
		json_counts(&j, total.reports, total.records, total.messages, total.dmarc_pass,
			    total.dmarc_fail);
		dm_json_obj_end(&j);
		if (j.rc == 0)
			printf("%s\n", dm_buf_str(&b));
	} else {
		printf("%-40s %10" PRIu64 " %12" PRIu64 " %14" PRIu64 " %14" PRIu64 " %14" PRIu64
		       "\n",
		       "total", total.reports, total.records, total.messages, total.dmarc_pass,
		       total.dmarc_fail);
	}
	dm_buf_free(&b);
	store_close(st);
	return j.rc ? CLI_FAILED : CLI_OK;
}
