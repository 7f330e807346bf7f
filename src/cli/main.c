/*
 * main.c - dmarcd's entry point: the subcommand table and option parsing.
 *
 * Functions: main, cli_parse, cli_usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "parse/mime.h"
#include "registry/registry.h"
#include "store/store.h"
#include "store/store_ch.h"

static const struct cli_cmd commands[] = {
	{"ingest", "[--json] [--jobs N] [--account NAME] PATH...",
	 "store the reports in files, folders, mails, mboxes, Maildirs or - (stdin)",
	 cli_ingest_opts, cli_ingest},
	{"stats", "[--json] [--domain D]", "print the stored totals", cli_stats_opts, cli_stats},
	{"reenrich", "[--domain D] [--since YYYY-MM-DD] [--missing] [--json]",
	 "make the stored sources' enrichment again (reverse names, AS, country, service)",
	 cli_reenrich_opts, cli_reenrich},
	{"prune", "[--dry-run] [--account NAME] [--json]",
	 "remove what is past each account's retention_days (reports, rollups, archive)",
	 cli_prune_opts, cli_prune},
	{"archive", "get KEY", "write one archived raw attachment to stdout", cli_archive_opts,
	 cli_archive},
	{"serve", "[--smtp ADDR:PORT]... [--lmtp PATH] [--workers N]",
	 "receive reports by SMTP and LMTP into the spool and store them", cli_serve_opts,
	 cli_serve},
	{"deliver", "[--from ADDR] [--rcpt ADDR]... [RCPT...]",
	 "spool one message read on stdin (MTA pipe transport); exit 75 to retry", cli_deliver_opts,
	 cli_deliver},
	{"fetch", "[--json] [URL...]",
	 "pull report mail from the [fetch] IMAP mailboxes into the spool (all, or those named)",
	 cli_fetch_opts, cli_fetch},
	{"spool", "list [--failed] [--json] | retry ID... | retry --all",
	 "show spooled messages, replay failed ones", cli_spool_opts, cli_spool},
	{"account", "add NAME [--catch-all] | list [--json]", "manage accounts", cli_account_opts,
	 cli_account},
	{"domain", "add DOMAIN --account NAME [--address ADDR] | list [--json]",
	 "manage the domains reports are accepted for", cli_domain_opts, cli_domain},
	{"address", "list [--json]", "show the report addresses served", cli_address_opts, cli_address},
	{"token",
	 "add (--account NAME | --admin) [--name NAME] [--replace] | list [--json] | revoke ID",
	 "manage the API tokens that read reports", cli_token_opts, cli_token},
	{"record",
	 "parse TEXT [--json] | generate [--domain D] [--policy P] [--rua ADDR]... [--json] |"
	 " check DOMAIN [--selector S]... [--json]",
	 "read a DMARC record tag by tag, make one to publish, or check what a domain publishes",
	 cli_record_opts, cli_record},
	{"advise", "DOMAIN [--days N] [--json]",
	 "who fails DMARC and what to fix, and the next safe step toward p=reject",
	 cli_advise_opts, cli_advise},
	{"geoip", "build-asn --out FILE CSV... | lookup --db FILE ADDR... [--json]",
	 "make the ASN database from the @ip-location-db CSVs, or look addresses up", cli_geoip_opts,
	 cli_geoip},
	{"alerts", "run [--now YYYY-MM-DD[THH:MM]] [--json] | list [--account NAME] [--open] [--json]",
	 "run the alert rules, due digests and deliveries once, or show the alerts",
	 cli_alerts_opts, cli_alerts},
	{"config", "check|show|help", "validate or show the configuration", cli_config_opts,
	 cli_config},
	{NULL, NULL, NULL, NULL, NULL},
};

enum { KEY_DATA = 1000, KEY_CONFIG, KEY_HELP };

static const struct cli_opt common_opts[] = {
	{"data", 1, KEY_DATA, "DIR", "data folder (store, archive, spool); default ./var"},
	{"config", 1, KEY_CONFIG, "FILE", "configuration file (also -c FILE, $DMARCD_CONFIG)"},
	{"help", 0, KEY_HELP, NULL, "show this help"},
	{NULL, 0, 0, NULL, NULL},
};

static void
print_opts(const struct cli_opt *o, FILE *out)
{
	for (; o && o->name; o++) {
		char left[64];
		snprintf(left, sizeof left, "--%s%s%s", o->name, o->has_arg ? " " : "",
			 o->has_arg ? o->argname : "");
		fprintf(out, "  %-22s %s\n", left, o->help);
	}
}

void
cli_usage(const struct cli_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: dmarcd %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->usage,
		cmd->summary);
	print_opts(cmd->opts, out);
	print_opts(common_opts, out);
}

static void
main_usage(FILE *out)
{
	fprintf(out, "usage: dmarcd [--version] [--help] COMMAND [options]\n\n"
		     "dmarcd receives, archives, parses and stores DMARC reports.\n\n"
		     "commands:\n");
	for (const struct cli_cmd *c = commands; c->name; c++)
		fprintf(out, "  %-8s %s\n", c->name, c->summary);
	fprintf(out, "\n'dmarcd COMMAND --help' describes a command's options.\n"
		     "Every command takes --data DIR and --config FILE.\n");
}

int
cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct dm_config *cfg,
	  int (*on_opt)(void *arg, int key, const char *value), void *arg, int *first_arg)
{
	struct option lopts[64];
	size_t n = 0;
	const struct cli_opt *tables[2] = {cmd->opts, common_opts};
	for (int t = 0; t < 2; t++)
		for (const struct cli_opt *o = tables[t]; o && o->name && n < 63; o++) {
			lopts[n].name = o->name;
			lopts[n].has_arg = o->has_arg ? required_argument : no_argument;
			lopts[n].flag = NULL;
			lopts[n].val = o->key;
			n++;
		}
	memset(&lopts[n], 0, sizeof lopts[n]);

	const char *data = NULL;
	const char *config = getenv("DMARCD_CONFIG");
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "c:", lopts, NULL)) != -1) {
		switch (c) {
		case KEY_DATA: data = optarg; break;
		case 'c':
		case KEY_CONFIG: config = optarg; break;
		case KEY_HELP: cli_usage(cmd, stdout); exit(CLI_OK);
		case '?':
			fprintf(stderr, "dmarcd %s: unknown or incomplete option '%s'\n", cmd->name,
				argv[optind - 1]);
			cli_usage(cmd, stderr);
			return CLI_FAILED;
		default:
			if (on_opt && on_opt(arg, c, optarg) != 0) {
				cli_usage(cmd, stderr);
				return CLI_FAILED;
			}
		}
	}
	char err[512];
	dm_config_defaults(cfg);
	if (config && *config && dm_config_load(cfg, config, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd: %s\n", err);
		return CLI_FAILED;
	}
	if (data && dm_config_set(cfg, "data_dir", data, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd: --data: %s\n", err);
		return CLI_FAILED;
	}
	/* a shared store shares its registry: every node serves the same
	 * tenants */
	if (strncmp(cfg->store, "postgres://", 11) == 0 ||
	    strncmp(cfg->store, "postgresql://", 13) == 0) {
		char password[256];
		int rc = store_config_password(cfg, password, sizeof password, err, sizeof err);
		if (rc == 0)
			rc = registry_use_postgres(cfg->store, password);
		explicit_bzero(password, sizeof password);
		if (rc != 0) {
			fprintf(stderr, "dmarcd: %s\n", err);
			return CLI_FAILED;
		}
	}
	if (strncmp(cfg->store, "clickhouse://", 13) == 0) {
		char password[256];
		int rc = store_config_password(cfg, password, sizeof password, err, sizeof err);
		char url[sizeof cfg->store + sizeof cfg->clickhouse_shards];
		if (rc == 0 && store_ch_registry_url(cfg->store, cfg->clickhouse_cluster,
		                                     cfg->clickhouse_shards, url, sizeof url) != 0) {
			snprintf(err, sizeof err, "clickhouse_shards: the first shard's URL is too long");
			rc = DM_EUSAGE;
		}
		if (rc == 0)
			rc = registry_use_clickhouse(url, password, err, sizeof err);
		explicit_bzero(password, sizeof password);
		if (rc != 0) {
			fprintf(stderr, "dmarcd: %s\n", err);
			return CLI_FAILED;
		}
	}
	static const struct {
		const char *name;
		enum dm_log_level level;
	} levels[] = {{"error", DM_LOG_ERROR},
		      {"warn", DM_LOG_WARN},
		      {"info", DM_LOG_INFO},
		      {"debug", DM_LOG_DEBUG}};
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
		if (strcmp(cfg->log_level, levels[i].name) == 0)
			dm_log_set_level(levels[i].level);
	*first_arg = optind;
	return CLI_OK;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return CLI_FAILED;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("dmarcd %s\n", DM_VERSION);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		main_usage(stdout);
		return CLI_OK;
	}
	for (const struct cli_cmd *c = commands; c->name; c++) {
		if (strcmp(c->name, argv[1]) == 0) {
			mime_global_init();
			int rc = c->run(c, argc - 1, argv + 1);
			mime_global_shutdown();
			return rc;
		}
	}
	fprintf(stderr, "dmarcd: unknown command '%s'\n\n", argv[1]);
	main_usage(stderr);
	return CLI_FAILED;
}
