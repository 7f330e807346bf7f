/*
 * cli_serve.c - `dmarcd serve`: options over the configuration, then
 * serve_run().
 *
 * Flags override the file: --smtp (repeatable; replaces smtp_listen),
 * --lmtp (lmtp_socket), --workers (workers; 0 = one per core).
 * Exit 0 after a clean stop (SIGTERM), 2 when it cannot start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "serve/serve.h"

#define SERVE_MAX_LISTEN 16

enum { OPT_SMTP = 1, OPT_LMTP, OPT_WORKERS, OPT_HTTP };

const struct cli_opt cli_serve_opts[] = {
        {"smtp", 1, OPT_SMTP, "ADDR:PORT",
         "listen for SMTP here (repeatable; [V6]:PORT for IPv6; 'none' for no SMTP); "
         "default from smtp_listen, 127.0.0.1:2525"},
        {"lmtp", 1, OPT_LMTP, "PATH", "listen for LMTP on this Unix socket (default: lmtp_socket)"},
        {"workers", 1, OPT_WORKERS, "N", "report processing threads, 1-64 (default: one per core)"},
        {"http", 1, OPT_HTTP, "ADDR:PORT",
         "serve the API and the dashboard here (repeatable; 'none' for no HTTP); default from "
         "http_listen, 127.0.0.1:8080"},
        {NULL, 0, 0, NULL, NULL},
};

struct serve_args {
	char *smtp[SERVE_MAX_LISTEN];
	size_t nsmtp;
	int smtp_given;
	const char *lmtp;
	long workers;
	char *http[SERVE_MAX_LISTEN];
	size_t nhttp;
	int http_given;
};

static int
on_opt(void *arg, int key, const char *value)
{
	struct serve_args *a = arg;
	char *end;

	switch (key) {
	case OPT_SMTP:
		a->smtp_given = 1;
		if (strcmp(value, "none") == 0)
			return 0;
		if (a->nsmtp >= SERVE_MAX_LISTEN) {
			fprintf(stderr, "dmarcd serve: at most %d --smtp addresses\n",
			        SERVE_MAX_LISTEN);
			return -1;
		}
		a->smtp[a->nsmtp++] = xstrdup(value);
		return 0;
	case OPT_LMTP:
		a->lmtp = value;
		return 0;
	case OPT_HTTP:
		a->http_given = 1;
		if (strcmp(value, "none") == 0)
			return 0;
		if (a->nhttp >= SERVE_MAX_LISTEN) {
			fprintf(stderr, "dmarcd serve: at most %d --http addresses\n",
			        SERVE_MAX_LISTEN);
			return -1;
		}
		a->http[a->nhttp++] = xstrdup(value);
		return 0;
	case OPT_WORKERS:
		a->workers = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || a->workers < 1 || a->workers > DM_MAX_JOBS) {
			fprintf(stderr, "dmarcd serve: --workers must be 1-%d\n", DM_MAX_JOBS);
			return -1;
		}
		return 0;
	}
	return -1;
}

/* "ADDR:PORT ADDR:PORT" (or commas) of a config option into list; "none"
 * is an empty list. */
static int
split_list(const char *name, const char *value, char **list, size_t *n)
{
	const char *p = value;

	if (strcmp(value, "none") == 0)
		return 0;
	while (*p) {
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, " ,");
		if (len == 0)
			break;
		if (*n >= SERVE_MAX_LISTEN) {
			fprintf(stderr, "dmarcd serve: %s: at most %d addresses\n", name,
			        SERVE_MAX_LISTEN);
			return -1;
		}
		list[(*n)++] = xstrndup(p, len);
		p += len;
	}
	return 0;
}

int
cli_serve(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct serve_args a;
	struct serve_options o;
	struct dm_config *cfg = xcalloc(1, sizeof *cfg);
	char err[1024];
	int first, rc = CLI_FAILED;

	memset(&a, 0, sizeof a);
	if (cli_parse(cmd, argc, argv, cfg, on_opt, &a, &first) != CLI_OK)
		goto out;
	if (first < argc) {
		fprintf(stderr, "dmarcd serve: unexpected argument '%s'\n", argv[first]);
		goto out;
	}
	if (!a.smtp_given && split_list("smtp_listen", cfg->smtp_listen, a.smtp, &a.nsmtp) != 0)
		goto out;
	if (!a.http_given && split_list("http_listen", cfg->http_listen, a.http, &a.nhttp) != 0)
		goto out;
	if (a.lmtp == NULL && cfg->lmtp_socket[0])
		a.lmtp = cfg->lmtp_socket;
	if (a.workers == 0)
		a.workers = dm_config_int(cfg->workers);
	if (a.workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		a.workers = n < 1 ? 1 : n > DM_MAX_JOBS ? DM_MAX_JOBS : n;
	}
	if (a.nsmtp == 0 && a.lmtp == NULL && a.nhttp == 0 && cfg->nfetch == 0) {
		fprintf(stderr, "dmarcd serve: nothing to listen on (no SMTP address, no LMTP "
		                "socket, no HTTP address) and no [fetch] mailbox\n");
		goto out;
	}
	memset(&o, 0, sizeof o);
	o.cfg = cfg;
	o.smtp = (const char *const *)a.smtp;
	o.nsmtp = a.nsmtp;
	o.lmtp = a.lmtp;
	o.http = (const char *const *)a.http;
	o.nhttp = a.nhttp;
	o.workers = (unsigned)a.workers;
	if (serve_run(&o, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd serve: %s\n", err);
		goto out;
	}
	rc = CLI_OK;
out:
	for (size_t i = 0; i < a.nsmtp; i++)
		free(a.smtp[i]);
	for (size_t i = 0; i < a.nhttp; i++)
		free(a.http[i]);
	free(cfg);
	return rc;
}
