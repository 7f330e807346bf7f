/*
 * cli.h - subcommands and their option tables.
 *
 * Every subcommand is a row of a table with its options; --help output
 * is generated from the same rows.  Common options (--data, --config,
 * --help) are added to every subcommand by cli_parse().
 */
#ifndef DM_CLI_H
#define DM_CLI_H

#include "common/limits.h"
#include "core/config.h"

/* Exit codes of `dmarcd ingest` and friends. */
enum { CLI_OK = 0, CLI_REJECTED = 1, CLI_FAILED = 2 };

struct cli_opt {
	const char *name;
	int has_arg;
	int key; /* returned by cli_parse for this option */
	const char *argname;
	const char *help;
};

struct cli_cmd {
	const char *name;
	const char *usage; /* after "dmarcd NAME " */
	const char *summary;
	const struct cli_opt *opts; /* NULL-terminated by name */
	int (*run)(const struct cli_cmd *cmd, int argc, char **argv);
};

/* Parse argv for cmd.  Returns CLI_OK, or exits for --help; usage errors
 * return CLI_FAILED after printing.  on_opt gets each of cmd's options.
 * After it, cfg holds defaults < config file < --data; *first_arg is the
 * index of the first operand. */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct dm_config *cfg,
	      int (*on_opt)(void *arg, int key, const char *value), void *arg, int *first_arg);
void cli_usage(const struct cli_cmd *cmd, FILE *out);

/* The report addresses of a domain in the registry (none when there is
 * no registry yet): `record check` and `advise`. */
struct cli_addrs {
	const char *domain;
	char addr[DM_DMARC_MAX_URIS][DM_REGISTRY_MAX_ADDRESS + 1];
	size_t n;
};
void cli_domain_addresses(const struct dm_config *cfg, const char *domain, struct cli_addrs *out);

int cli_ingest(const struct cli_cmd *cmd, int argc, char **argv);
int cli_stats(const struct cli_cmd *cmd, int argc, char **argv);
int cli_reenrich(const struct cli_cmd *cmd, int argc, char **argv);
int cli_prune(const struct cli_cmd *cmd, int argc, char **argv);
int cli_config(const struct cli_cmd *cmd, int argc, char **argv);
int cli_archive(const struct cli_cmd *cmd, int argc, char **argv);
int cli_serve(const struct cli_cmd *cmd, int argc, char **argv);
int cli_deliver(const struct cli_cmd *cmd, int argc, char **argv);
int cli_spool(const struct cli_cmd *cmd, int argc, char **argv);
int cli_account(const struct cli_cmd *cmd, int argc, char **argv);
int cli_token(const struct cli_cmd *cmd, int argc, char **argv);
int cli_domain(const struct cli_cmd *cmd, int argc, char **argv);
int cli_address(const struct cli_cmd *cmd, int argc, char **argv);
int cli_record(const struct cli_cmd *cmd, int argc, char **argv);
int cli_geoip(const struct cli_cmd *cmd, int argc, char **argv);
int cli_advise(const struct cli_cmd *cmd, int argc, char **argv);
int cli_alerts(const struct cli_cmd *cmd, int argc, char **argv);
extern const struct cli_opt cli_alerts_opts[];
int cli_fetch(const struct cli_cmd *cmd, int argc, char **argv);
extern const struct cli_opt cli_fetch_opts[];
extern const struct cli_opt cli_advise_opts[];

extern const struct cli_opt cli_ingest_opts[];
extern const struct cli_opt cli_stats_opts[];
extern const struct cli_opt cli_reenrich_opts[];
extern const struct cli_opt cli_prune_opts[];
extern const struct cli_opt cli_config_opts[];
extern const struct cli_opt cli_archive_opts[];
extern const struct cli_opt cli_serve_opts[];
extern const struct cli_opt cli_deliver_opts[];
extern const struct cli_opt cli_spool_opts[];
extern const struct cli_opt cli_account_opts[];
extern const struct cli_opt cli_token_opts[];
extern const struct cli_opt cli_record_opts[];
extern const struct cli_opt cli_geoip_opts[];
extern const struct cli_opt cli_domain_opts[];
extern const struct cli_opt cli_address_opts[];

#endif
