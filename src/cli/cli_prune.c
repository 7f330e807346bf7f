/*
 * cli_prune.c - `dmarcd prune [--dry-run] [--account NAME] [--json]`:
 * remove what is past each account's retention_days (its [account NAME]
 * section; docs/CONFIG.md), or with --dry-run say what would go.
 *
 * Functions: cli_prune.  One line per account (or one JSON object with
 * an "accounts" array): its retention, the first day kept, the reports,
 * records, rollup rows, TLS and failure reports and archive objects
 * removed (would be removed).  Accounts kept forever are listed with
 * retention 0 and nothing removed.  Exit status: 0, or 2 when the
 * store, the archive or the configuration cannot be used, or an
 * --account that does not exist.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "cli/cli.h"
#include "common/buf.h"
#include "common/day.h"
#include "common/json.h"
#include "serve/prune.h"
#include "store/store.h"

enum { KEY_JSON = 1, KEY_DRY, KEY_ACCOUNT };

const struct cli_opt cli_prune_opts[] = {
        {"dry-run", 0, KEY_DRY, NULL, "remove nothing: print what would go"},
        {"account", 1, KEY_ACCOUNT, "NAME", "only this account"},
        {"json", 0, KEY_JSON, NULL, "print one JSON object"},
        {NULL, 0, 0, NULL, NULL},
};

struct pr_args {
	const char *account;
	int dry, json;
	struct dm_json j;
};

static int
on_opt(void *arg, int key, const char *value)
{
	struct pr_args *a = arg;
	switch (key) {
	case KEY_JSON: a->json = 1; break;
	case KEY_DRY: a->dry = 1; break;
	case KEY_ACCOUNT: a->account = value; break;
	default: break;
	}
	return 0;
}

static void
on_done(void *arg, const struct prune_totals *t)
{
	struct pr_args *a = arg;
	char day[11] = "";
	if (t->retention_days > 0)
		dm_format_day(t->cutoff, day);
	if (a->json) {
		struct dm_json *j = &a->j;
		dm_json_obj_begin(j);
		dm_json_key(j, "account");
		dm_json_str(j, t->account);
		dm_json_key(j, "retention_days");
		dm_json_int(j, t->retention_days);
		dm_json_key(j, "first_day_kept");
		if (t->retention_days > 0)
			dm_json_str(j, day);
		else
			dm_json_null(j);
		const char *keys[] = {"reports",         "records",         "rollup_rows",
		                      "tls_reports",     "failure_reports", "archive_objects",
		                      "archive_bytes"};
		uint64_t vals[] = {t->reports,  t->records, t->rollups, t->tls_reports,
		                   t->failures, t->objects, t->bytes};
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			dm_json_key(j, keys[i]);
			dm_json_uint(j, vals[i]);
		}
		dm_json_obj_end(j);
		return;
	}
	if (t->retention_days == 0) {
		printf("%s: kept forever (no retention_days)\n", t->account);
		return;
	}
	printf("%s: retention %ld days, first day kept %s: %s %" PRIu64 " reports (%" PRIu64
	       " records), %" PRIu64 " rollup rows, %" PRIu64 " TLS reports, %" PRIu64
	       " failure reports, %" PRIu64 " archive objects",
	       t->account, t->retention_days, day, a->dry ? "would remove" : "removed", t->reports,
	       t->records, t->rollups, t->tls_reports, t->failures, t->objects);
	if (t->bytes)
		printf(" (%" PRIu64 " bytes)", t->bytes);
	printf("\n");
}

int
cli_prune(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct dm_config cfg;
	struct pr_args a;
	int first;
	char err[1024] = "";
	memset(&a, 0, sizeof a);
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &a, &first) != CLI_OK)
		return CLI_FAILED;
	if (argc - first != 0) {
		cli_usage(cmd, stderr);
		return CLI_FAILED;
	}
	struct store *st = store_open_config(&cfg, err, sizeof err);
	struct archive *ar = NULL;
	if (st && !a.dry)
		ar = archive_open(&cfg, 1, err, sizeof err);
	if (!st || (!a.dry && !ar)) {
		fprintf(stderr, "dmarcd prune: %s\n", err);
		store_close(st);
		return CLI_FAILED;
	}
	struct dm_buf out;
	dm_buf_init(&out, 16 * 1024 * 1024);
	dm_json_init(&a.j, &out);
	if (a.json) {
		dm_json_obj_begin(&a.j);
		dm_json_key(&a.j, "dry_run");
		dm_json_bool(&a.j, a.dry);
		dm_json_key(&a.j, "accounts");
		dm_json_arr_begin(&a.j);
	}
	struct prune_opts o = {
	        .account = a.account, .dry_run = a.dry, .done = on_done, .arg = &a};
	int rc = prune_run(&cfg, st, ar, &o, err, sizeof err);
	if (rc == 0 && a.json) {
		dm_json_arr_end(&a.j);
		dm_json_obj_end(&a.j);
		fwrite(out.data, 1, out.len, stdout);
		fputc('\n', stdout);
	}
	if (rc)
		fprintf(stderr, "dmarcd prune: %s\n", err[0] ? err : dm_strerror(rc));
	dm_buf_free(&out);
	archive_close(ar);
	store_close(st);
	return rc ? CLI_FAILED : CLI_OK;
}
