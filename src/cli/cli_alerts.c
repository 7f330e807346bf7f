/*
 * cli_alerts.c - `dmarcd alerts run [--now YYYY-MM-DD[THH:MM]] [--json]` and
 * `dmarcd alerts list [--account NAME] [--open] [--json]`: run the alert
 * rules, due digests and deliveries once (what `dmarcd serve` does every
 * alert_interval seconds: src/alert/alert.h), or show the alerts kept.
 *
 * Functions: cli_alerts.  --now evaluates as of another moment (to look
 * back, and for tests).  Exit status: 0, 2 on a usage error or when the
 * store or the state cannot be read.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "cli/cli.h"
#include "common/buf.h"
#include "common/day.h"
#include "common/json.h"
#include "common/log.h"
#include "registry/registry.h"
#include "store/store.h"

enum { KEY_JSON = 1, KEY_NOW, KEY_ACCOUNT, KEY_OPEN };

const struct cli_opt cli_alerts_opts[] = {
        {"now", 1, KEY_NOW, "YYYY-MM-DD[THH:MM]", "run: evaluate as of this moment (UTC)"},
        {"account", 1, KEY_ACCOUNT, "NAME", "list: the alerts of this account only"},
        {"open", 0, KEY_OPEN, NULL, "list: open alerts only"},
        {"json", 0, KEY_JSON, NULL, "one JSON object per line"},
        {NULL, 0, 0, NULL, NULL},
};

struct args {
	int json, open, bad;
	int64_t now;
	const char *account;
};

static int
on_opt(void *arg, int key, const char *value)
{
	struct args *a = arg;
	int64_t day;
	unsigned hh = 0, mm = 0;
	char d[11];
	switch (key) {
	case KEY_JSON: a->json = 1; break;
	case KEY_OPEN: a->open = 1; break;
	case KEY_ACCOUNT: a->account = value; break;
	case KEY_NOW:
		snprintf(d, sizeof d, "%.10s", value);
		/* YYYY-MM-DD, or YYYY-MM-DDTHH:MM */
		if (strlen(value) == 16 && value[10] == 'T' && value[13] == ':' &&
		    isdigit((unsigned char)value[11]) && isdigit((unsigned char)value[12]) &&
		    isdigit((unsigned char)value[14]) && isdigit((unsigned char)value[15])) {
			hh = (unsigned)(value[11] - '0') * 10 + (unsigned)(value[12] - '0');
			mm = (unsigned)(value[14] - '0') * 10 + (unsigned)(value[15] - '0');
		} else if (strlen(value) != 10) {
			a->bad = 1;
		}
		if (a->bad || dm_parse_day(d, &day) != 0 || hh > 23 || mm > 59)
			a->bad = 1;
		else
			a->now = day + hh * 3600 + mm * 60;
		break;
	default: break;
	}
	return 0;
}

struct acct_find {
	const char *name;
	int64_t id;
};

static int
acct_find(void *arg, const struct registry_row *r)
{
	struct acct_find *f = arg;
	if (strcmp(r->account, f->name) == 0)
		f->id = r->account_id;
	return 0;
}

static int
print_alert(void *arg, const struct alert_row *r)
{
	struct args *a = arg;
	char o[11], z[11] = "";
	dm_format_day(r->opened_at, o);
	if (r->resolved_at)
		dm_format_day(r->resolved_at, z);
	if (!a->json) {
		/* the message may hold a report's words: shown escaped */
		char esc[4096];
		dm_log_escape(esc, sizeof esc, r->message, strlen(r->message));
		printf("%s  %-10s %-8s %s", o, r->rule, r->resolved_at ? "resolved" : "open", esc);
		if (r->resolved_at)
			printf("  (resolved %s)", z);
		printf("\n");
		return 0;
	}
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 64 * 1024);
	dm_json_init(&j, &b);
	dm_json_obj_begin(&j);
	dm_json_key(&j, "id");
	dm_json_int(&j, r->id);
	dm_json_key(&j, "account_id");
	dm_json_int(&j, r->account_id);
	dm_json_key(&j, "rule");
	dm_json_str(&j, r->rule);
	dm_json_key(&j, "domain");
	dm_json_str(&j, r->domain);
	dm_json_key(&j, "subject");
	dm_json_str(&j, r->subject);
	dm_json_key(&j, "message");
	dm_json_str(&j, r->message);
	dm_json_key(&j, "opened_at");
	dm_json_int(&j, r->opened_at);
	dm_json_key(&j, "resolved_at");
	if (r->resolved_at)
		dm_json_int(&j, r->resolved_at);
	else
		dm_json_null(&j);
	dm_json_obj_end(&j);
	if (j.rc == 0)
		printf("%.*s\n", (int)b.len, b.data);
	dm_buf_free(&b);
	return 0;
}

int
cli_alerts(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct dm_config cfg;
	struct args a = {0};
	int first;
	char err[1024] = "";
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &a, &first) != CLI_OK)
		return CLI_FAILED;
	const char *what = first < argc ? argv[first] : "";
	if (a.bad || argc - first != 1 || (strcmp(what, "run") != 0 && strcmp(what, "list") != 0)) {
		if (a.bad)
			fprintf(stderr, "dmarcd alerts: --now wants YYYY-MM-DD or YYYY-MM-DDTHH:MM\n");
		cli_usage(cmd, stderr);
		return CLI_FAILED;
	}
	if (strcmp(what, "list") == 0) {
		struct acct_find f = {a.account, -1};
		if (a.account &&
		    (registry_list_accounts(cfg.data_dir, acct_find, &f, err, sizeof err) != 0 ||
		     f.id < 0)) {
			fprintf(stderr, "dmarcd alerts: no account %s\n", a.account);
			return CLI_FAILED;
		}
		if (alert_list(cfg.data_dir, f.id, a.account == NULL, a.open, 100000, print_alert, &a,
		               err, sizeof err) != 0) {
			fprintf(stderr, "dmarcd alerts: %s\n", err);
			return CLI_FAILED;
		}
		return CLI_OK;
	}
	struct store *st = store_open_config(&cfg, err, sizeof err);
	if (!st) {
		fprintf(stderr, "dmarcd alerts: store: %s\n", err);
		return CLI_FAILED;
	}
	struct alert_totals t;
	int rc = alert_run(&cfg, st, a.now, NULL, NULL, &t, err, sizeof err);
	store_close(st);
	if (rc) {
		fprintf(stderr, "dmarcd alerts: %s\n", err);
		return CLI_FAILED;
	}
	if (a.json)
		printf("{\"accounts\":%u,\"opened\":%u,\"resolved\":%u,\"open\":%u,\"digests\":%u,"
		       "\"queued\":%u,\"sent\":%u,\"retried\":%u,\"given_up\":%u}\n",
		       t.accounts, t.opened, t.resolved, t.open, t.digests, t.queued, t.sent, t.retried,
		       t.given_up);
	else
		printf("alerts: %u accounts, %u opened, %u resolved, %u open; %u digests; %u queued,"
		       " %u sent, %u to try again, %u given up\n",
		       t.accounts, t.opened, t.resolved, t.open, t.digests, t.queued, t.sent, t.retried,
		       t.given_up);
	return CLI_OK;
}
