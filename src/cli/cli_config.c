/*
 * cli_config.c - `dmarcd config check|show|help`.
 *
 * Functions: cli_config.  check: load the file and say it is valid (exit
 * 0) or print "file:line: problem" (exit 2); show: the effective values;
 * help: every option with its default.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

const struct cli_opt cli_config_opts[] = {
	{NULL, 0, 0, NULL, NULL},
};

int
cli_config(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct dm_config cfg;
	int first;
	if (cli_parse(cmd, argc, argv, &cfg, NULL, NULL, &first) != CLI_OK)
		return CLI_FAILED;
	const char *what = first < argc ? argv[first] : "check";
	if (strcmp(what, "check") == 0) {
		printf("configuration ok\n");
		return CLI_OK;
	}
	if (strcmp(what, "show") == 0) {
		dm_config_write(&cfg, stdout);
		return CLI_OK;
	}
	if (strcmp(what, "help") == 0) {
		dm_config_help(stdout);
		return CLI_OK;
	}
	fprintf(stderr, "dmarcd config: unknown action '%s' (check, show or help)\n", what);
	return CLI_FAILED;
}
