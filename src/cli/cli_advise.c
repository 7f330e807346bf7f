/*
 * cli_advise.c - `dmarcd advise DOMAIN [--days N] [--json]`: the rollout
 * advice of a domain from its stored reports of the last N days (default
 * 30): who fails DMARC and what to fix, and the next safe step of its
 * policy with the record to publish (src/dns/advise.c, docs/ADVICE.md).
 *
 * Functions: cli_advise.  Exit status: 0 when the next step is safe (or
 * there is none left), 1 when something blocks it or the domain has no
 * data in the window, 2 on a usage error or when the store cannot be
 * read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "dns/advise.h"
#include "dns/check.h"
#include "enrich/services.h"
#include "store/store.h"

enum { KEY_JSON = 1, KEY_DAYS };

const struct cli_opt cli_advise_opts[] = {
        {"days", 1, KEY_DAYS, "N", "the stored reports of the last N days (default 30)"},
        {"json", 0, KEY_JSON, NULL, "print one JSON object"},
        {NULL, 0, 0, NULL, NULL},
};

struct adv_args {
	long days;
	int json, bad;
};

static int
on_opt(void *arg, int key, const char *value)
{
	struct adv_args *a = arg;
	char *end;
	switch (key) {
	case KEY_JSON:
		a->json = 1;
		break;
	case KEY_DAYS:
		a->days = strtol(value, &end, 10);
		if (*end || a->days < 1 || a->days > 3660)
			a->bad = 1;
		break;
	default:
		break;
	}
	return 0;
}

int
cli_advise(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct dm_config cfg;
	struct adv_args a = {.days = 30};
	int first;
	char err[1024] = "", dom[DM_CHECK_NAME];
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &a, &first) != CLI_OK)
		return CLI_FAILED;
	if (argc - first != 1 || a.bad) {
		if (a.bad)
			fprintf(stderr, "dmarcd advise: --days wants 1 to 3660\n");
		cli_usage(cmd, stderr);
		return CLI_FAILED;
	}
	if (dm_check_domain_name(argv[first], dom, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd advise: %s\n", err);
		return CLI_FAILED;
	}
	/* the window: today and the days before it */
	int64_t today = (int64_t)time(NULL) / 86400 * 86400;
	struct store_filter f = {.domain = dom, .from = today - (a.days - 1) * 86400,
	                         .to = today, .reporter = NULL};
	/* the service map, when there is one (a missing default is no map) */
	struct dm_services *map = NULL;
	struct stat sb;
	if (strcmp(cfg.enrich, "off") != 0 && cfg.services_file[0] &&
	    stat(cfg.services_file, &sb) == 0 && !(map = dm_services_load(cfg.services_file, err,
	                                                                   sizeof err))) {
		fprintf(stderr, "dmarcd advise: %s\n", err);
		return CLI_FAILED;
	}
	struct store *st = store_open_config(&cfg, err, sizeof err);
	struct store_reader *rd = st ? store_reader_open(st, err, sizeof err) : NULL;
	if (!rd) {
		fprintf(stderr, "dmarcd advise: store: %s\n", err);
		store_close(st);
		dm_services_free(map);
		return CLI_FAILED;
	}
	struct store_scope admin = {.account = 0, .admin = 1};
	struct dm_advisor *adv = dm_advisor_new(dom, f.from, today);
	int rc = store_export(&admin, rd, &f, dm_advisor_add, adv);
	if (rc == 0 && dm_advisor_reports(adv) == 0)
		rc = DM_ENOTFOUND;
	static struct cli_addrs ours;
	cli_domain_addresses(&cfg, dom, &ours);
	const char *rua[DM_DMARC_MAX_URIS];
	for (size_t i = 0; i < ours.n; i++)
		rua[i] = ours.addr[i];
	if (rc == 0)
		rc = dm_advisor_finish(adv, rd, map, rua, ours.n) == 0 ? rc : DM_ESTORE;
	int out = CLI_FAILED;
	if (rc == DM_ENOTFOUND) {
		fprintf(stderr, "dmarcd advise: no reports of %s in the last %ld days\n", dom, a.days);
		out = CLI_REJECTED;
	} else if (rc != 0) {
		fprintf(stderr, "dmarcd advise: store: %s\n", store_reader_error(rd));
	} else {
		if (a.json) {
			struct dm_buf b;
			struct dm_json j;
			dm_buf_init(&b, 16 * 1024 * 1024);
			dm_json_init(&j, &b);
			dm_advisor_json(adv, &j);
			fwrite(b.data, 1, b.len, stdout);
			fputc('\n', stdout);
			dm_buf_free(&b);
		} else {
			dm_advisor_text(adv, stdout);
		}
		if (ours.n == 0)
			fprintf(stderr,
			        "dmarcd advise: %s has no report address in the registry: the record"
			        " has no rua\n",
			        dom);
		out = dm_advisor_safe(adv) ? CLI_OK : CLI_REJECTED;
	}
	dm_advisor_free(adv);
	store_reader_close(rd);
	store_close(st);
	dm_services_free(map);
	return out;
}
