/*
 * cli_reenrich.c - `dmarcd reenrich [--domain D] [--since YYYY-MM-DD]
 * [--missing] [--json]`: the enrichment of stored sources made again
 * (docs/ENRICH.md), after the service map or an IP database changed, or
 * to fill in the reverse names that missed their report's deadline.
 *
 * Each domain (or --domain) in turn through dm_reenrich_domain
 * (src/enrich/reenrich.c): its sources of the reports that end on
 * --since or later; --missing takes only the sources whose reverse name
 * is not known (never asked, not answered in time, or the DNS failed).
 *
 * Functions: cli_reenrich.  Exit status: 0, or 2 when the store, the
 * configuration or the enrichment's files cannot be used.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/day.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "core/report.h"
#include "dns/resolver.h"
#include "enrich/enrich.h"
#include "enrich/reenrich.h"
#include "store/store.h"

enum { KEY_JSON = 1, KEY_DOMAIN, KEY_SINCE, KEY_MISSING };

const struct cli_opt cli_reenrich_opts[] = {
        {"domain", 1, KEY_DOMAIN, "D", "only this policy domain"},
        {"since", 1, KEY_SINCE, "YYYY-MM-DD", "only reports that end on this day or later"},
        {"missing", 0, KEY_MISSING, NULL, "only sources whose reverse name is not known"},
        {"json", 0, KEY_JSON, NULL, "print one JSON object"},
        {NULL, 0, 0, NULL, NULL},
};

struct re_args {
	const char *domain, *since;
	int missing, json;
};

static int
on_opt(void *arg, int key, const char *value)
{
	struct re_args *a = arg;
	switch (key) {
	case KEY_JSON:
		a->json = 1;
		break;
	case KEY_DOMAIN:
		a->domain = value;
		break;
	case KEY_SINCE:
		a->since = value;
		break;
	case KEY_MISSING:
		a->missing = 1;
		break;
	default:
		break;
	}
	return 0;
}

int
cli_reenrich(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct dm_config cfg;
	struct re_args a;
	int first;
	char err[1024] = "", note[1024];
	memset(&a, 0, sizeof a);
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &a, &first) != CLI_OK)
		return CLI_FAILED;
	if (argc - first != 0) {
		cli_usage(cmd, stderr);
		return CLI_FAILED;
	}
	int64_t since = STORE_OPEN;
	if (a.since && dm_parse_day(a.since, &since) != 0) {
		fprintf(stderr, "dmarcd reenrich: --since wants YYYY-MM-DD\n");
		return CLI_FAILED;
	}
	struct dm_enrich_shared *sh =
	        dm_enrich_from_config(&cfg, note, sizeof note, err, sizeof err);
	if (!sh) {
		fprintf(stderr, "dmarcd reenrich: %s\n",
		        err[0] ? err : "enrich = off in the configuration: nothing to do");
		return CLI_FAILED;
	}
	if (note[0])
		fprintf(stderr, "dmarcd reenrich: without %s\n", note);
	struct dm_enricher *en = dm_enricher_new(sh, err, sizeof err);
	struct store *st = en ? store_open_config(&cfg, err, sizeof err) : NULL;
	struct store_reader *rd = st ? store_reader_open(st, err, sizeof err) : NULL;
	if (!rd) {
		fprintf(stderr, "dmarcd reenrich: %s\n", err);
		store_close(st);
		dm_enricher_free(en);
		dm_enrich_shared_free(sh);
		return CLI_FAILED;
	}
	struct store_scope admin = {.account = 0, .admin = 1};
	struct store_names doms = {NULL, 0};
	int rc = 0;
	if (a.domain)
		store_names_add(&doms, &(struct store_domain_row){.domain = a.domain});
	else if ((rc = store_domains(&admin, rd, store_names_add, &doms)) != 0)
		snprintf(err, sizeof err, "%s", store_reader_error(rd));
	int timeout_ms = (int)dm_config_int(cfg.dns_timeout_ms);
	struct dm_reenrich_totals t;
	memset(&t, 0, sizeof t);
	struct dm_buf out;
	struct dm_json j;
	dm_buf_init(&out, 64 * 1024 * 1024);
	dm_json_init(&j, &out);
	if (a.json) {
		dm_json_obj_begin(&j);
		dm_json_key(&j, "domains");
		dm_json_arr_begin(&j);
	}
	for (size_t d = 0; rc == 0 && d < doms.n; d++) {
		struct dm_reenrich_totals before = t;
		uint64_t total = 0;
		rc = dm_reenrich_domain(en, st, rd, doms.v[d],
		                        since == STORE_OPEN ? INT64_MIN : since, a.missing,
		                        timeout_ms, &total, &t, err, sizeof err);
		if (rc == 0 && a.json) {
			dm_json_obj_begin(&j);
			dm_json_key(&j, "domain");
			dm_json_str(&j, doms.v[d]);
			dm_json_key(&j, "sources");
			dm_json_uint(&j, total);
			dm_json_key(&j, "enriched");
			dm_json_uint(&j, t.sources - before.sources);
			dm_json_obj_end(&j);
		} else if (rc == 0) {
			printf("%s: %" PRIu64 " sources, %" PRIu64 " enriched again\n", doms.v[d],
			       total, t.sources - before.sources);
		}
	}
	if (rc == 0 && a.json) {
		dm_json_arr_end(&j);
		const char *keys[] = {"enriched",   "ptr_confirmed", "ptr_unconfirmed", "ptr_none",
		                      "ptr_failed", "ptr_unknown",   "with_service"};
		uint64_t vals[] = {t.sources, t.confirmed, t.unconfirmed, t.none,
		                   t.failed,  t.unknown,   t.with_service};
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			dm_json_key(&j, keys[i]);
			dm_json_uint(&j, vals[i]);
		}
		dm_json_obj_end(&j);
		fwrite(out.data, 1, out.len, stdout);
		fputc('\n', stdout);
	} else if (rc == 0) {
		printf("%" PRIu64 " sources enriched again: reverse name confirmed %" PRIu64
		       ", not confirmed %" PRIu64 ", none %" PRIu64 ", DNS failed %" PRIu64
		       ", not asked %" PRIu64 "; %" PRIu64 " with a service\n",
		       t.sources, t.confirmed, t.unconfirmed, t.none, t.failed, t.unknown,
		       t.with_service);
	}
	if (rc)
		fprintf(stderr, "dmarcd reenrich: %s\n", err[0] ? err : dm_strerror(rc));
	dm_buf_free(&out);
	store_names_free(&doms);
	store_reader_close(rd);
	store_close(st);
	dm_enricher_free(en);
	dm_enrich_shared_free(sh);
	return rc ? CLI_FAILED : CLI_OK;
}
