/*
 * cli_registry.c - `dmarcd account`, `dmarcd domain`, `dmarcd address`
 * and `dmarcd token`: who may send reports to which address, and who may
 * read them through the API (the registry).
 *
 * Functions: cli_account, cli_domain, cli_address, cli_token and their
 * option tables.
 *
 *   dmarcd account add NAME [--catch-all]     dmarcd account list [--json]
 *   dmarcd domain add DOMAIN --account NAME [--address ADDR]
 *   dmarcd domain list [--json]               dmarcd address list [--json]
 *   dmarcd token add (--account NAME | --admin) [--name NAME] [--replace]
 *   dmarcd token list [--json]                dmarcd token revoke ID
 *
 * `domain add` prints the report address and the DNS records to publish.
 * `token add` prints the token alone on stdout (one line, for a script
 * to capture) and, on stderr, that it is shown only this once; the
 * default name is "cli", and --replace first revokes the live tokens of
 * that name for the same account (or admin).  `token list` never shows a
 * secret or a hash.
 * Exit codes: 0 done; 1 refused (exists already, no such account or
 * live token, invalid name, domain or address), with one line on stderr;
 * 2 usage or storage error.  --json prints one JSON object per line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/limits.h"
#include "registry/registry.h"

enum { KEY_JSON = 1, KEY_CATCH_ALL, KEY_ACCOUNT, KEY_ADDRESS, KEY_ADMIN, KEY_NAME, KEY_REPLACE };

/* The name `token add` gives a token without --name. */
#define CLI_TOKEN_NAME "cli"

const struct cli_opt cli_account_opts[] = {
        {"catch-all", 0, KEY_CATCH_ALL, NULL,
         "add: the account accepts any address and claims any domain"},
        {"json", 0, KEY_JSON, NULL, "list: one JSON object per line"},
        {NULL, 0, 0, NULL, NULL},
};

const struct cli_opt cli_domain_opts[] = {
        {"account", 1, KEY_ACCOUNT, "NAME", "add: the account the domain belongs to (required)"},
        {"address", 1, KEY_ADDRESS, "ADDR",
         "add: the report address; default a random one at report_host"},
        {"json", 0, KEY_JSON, NULL, "list: one JSON object per line"},
        {NULL, 0, 0, NULL, NULL},
};

const struct cli_opt cli_address_opts[] = {
        {"json", 0, KEY_JSON, NULL, "one JSON object per line"},
        {NULL, 0, 0, NULL, NULL},
};

const struct cli_opt cli_token_opts[] = {
        {"account", 1, KEY_ACCOUNT, "NAME", "add: a token that reads this account's reports"},
        {"admin", 0, KEY_ADMIN, NULL, "add: a token that reads every account's reports"},
        {"name", 1, KEY_NAME, "NAME", "add: what the token is for; default " CLI_TOKEN_NAME},
        {"replace", 0, KEY_REPLACE, NULL,
         "add: first revoke the live tokens of the same name and account"},
        {"json", 0, KEY_JSON, NULL, "list: one JSON object per line"},
        {NULL, 0, 0, NULL, NULL},
};

struct reg_args {
	int json;
	int catch_all;
	const char *account;
	const char *address;
	int admin;
	const char *name;
	int replace;
	unsigned rows;
};

static int
on_opt(void *arg, int key, const char *value)
{
	struct reg_args *a = arg;
	switch (key) {
	case KEY_JSON:
		a->json = 1;
		break;
	case KEY_CATCH_ALL:
		a->catch_all = 1;
		break;
	case KEY_ACCOUNT:
		a->account = value;
		break;
	case KEY_ADDRESS:
		a->address = value;
		break;
	case KEY_ADMIN:
		a->admin = 1;
		break;
	case KEY_NAME:
		a->name = value;
		break;
	case KEY_REPLACE:
		a->replace = 1;
		break;
	}
	return 0;
}

/* Exit code for a registry error: refusals are 1, the rest 2. */
static int
exit_for(int rc)
{
	return rc == DM_EEXIST || rc == DM_ENOTFOUND || rc == DM_EINVAL ? CLI_REJECTED : CLI_FAILED;
}

static int
usage_error(const struct cli_cmd *cmd, const char *msg, const char *what)
{
	fprintf(stderr, "dmarcd %s: %s%s%s\n", cmd->name, msg, what ? " " : "", what ? what : "");
	cli_usage(cmd, stderr);
	return CLI_FAILED;
}

static void
fmt_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "-");
}

/* One row as a JSON line: the fields that apply to the listing. */
static int
print_json(const struct registry_row *r, int with_domain, int with_address)
{
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 64 * 1024);
	dm_json_init(&j, &b);
	dm_json_obj_begin(&j);
	if (with_address) {
		dm_json_key(&j, "address");
		dm_json_str(&j, r->address);
	}
	if (with_domain) {
		dm_json_key(&j, "domain");
		dm_json_str(&j, r->domain);
	}
	dm_json_key(&j, "account");
	dm_json_str(&j, r->account);
	dm_json_key(&j, "account_id");
	dm_json_int(&j, r->account_id);
	dm_json_key(&j, "catch_all");
	dm_json_bool(&j, r->catch_all);
	dm_json_key(&j, "created_at");
	dm_json_int(&j, r->created_at);
	dm_json_obj_end(&j);
	int rc = j.rc;
	if (rc == 0)
		printf("%s\n", dm_buf_str(&b));
	dm_buf_free(&b);
	return rc;
}

static int
on_account(void *arg, const struct registry_row *r)
{
	struct reg_args *a = arg;
	char when[32];
	if (a->json)
		return print_json(r, 0, 0);
	if (a->rows++ == 0)
		printf("%-24s %6s %-9s %s\n", "account", "id", "catch-all", "created");
	fmt_time(r->created_at, when, sizeof when);
	printf("%-24s %6" PRId64 " %-9s %s\n", r->account, r->account_id,
	       r->catch_all ? "yes" : "no", when);
	return 0;
}

static int
on_domain(void *arg, const struct registry_row *r)
{
	struct reg_args *a = arg;
	char when[32];
	if (a->json)
		return print_json(r, 1, 0);
	if (a->rows++ == 0)
		printf("%-40s %-24s %s\n", "domain", "account", "created");
	fmt_time(r->created_at, when, sizeof when);
	printf("%-40s %-24s %s\n", r->domain, r->account, when);
	return 0;
}

static int
on_address(void *arg, const struct registry_row *r)
{
	struct reg_args *a = arg;
	if (a->json)
		return print_json(r, 1, 1);
	if (a->rows++ == 0)
		printf("%-40s %-24s %s\n", "address", "account", "domain");
	printf("%-40s %-24s %s\n", r->address, r->account,
	       r->domain ? r->domain : (r->catch_all ? "(any)" : "-"));
	return 0;
}

/* Run a listing; an empty registry prints nothing. */
static int
run_list(const struct cli_cmd *cmd, struct reg_args *a, const char *data_dir,
         int (*list)(const char *, int (*)(void *, const struct registry_row *), void *, char *,
                     size_t),
         int (*fn)(void *, const struct registry_row *))
{
	char err[512];
	int rc = list(data_dir, fn, a, err, sizeof err);
	if (rc) {
		fprintf(stderr, "dmarcd %s: %s\n", cmd->name, err[0] ? err : dm_strerror(rc));
		return CLI_FAILED; /* reading never refuses: storage */
	}
	if (fflush(stdout) != 0)
		return CLI_FAILED;
	return CLI_OK;
}

/* Parse and split "VERB [OPERAND]"; returns CLI_OK or the exit code. */
static int
parse(const struct cli_cmd *cmd, int argc, char **argv, struct dm_config *cfg, struct reg_args *a,
      const char **verb, const char **operand)
{
	int first;
	if (cli_parse(cmd, argc, argv, cfg, on_opt, a, &first) != CLI_OK)
		return CLI_FAILED;
	*verb = first < argc ? argv[first] : NULL;
	*operand = first + 1 < argc ? argv[first + 1] : NULL;
	if (!*verb)
		return usage_error(cmd, "missing subcommand", NULL);
	int want = strcmp(*verb, "add") == 0 && strcmp(cmd->name, "address") != 0 ? 2 : 1;
	if (strcmp(*verb, "list") != 0 && want == 1)
		return usage_error(cmd, "unknown subcommand", *verb);
	if (want == 2 && !*operand)
		return usage_error(cmd, "add: missing",
		                   strcmp(cmd->name, "account") == 0 ? "NAME" : "DOMAIN");
	if (first + want < argc)
		return usage_error(cmd, "unexpected argument", argv[first + want]);
	if (want == 2 && a->json)
		return usage_error(cmd, "--json applies to list only", NULL);
	if (want == 1 && (a->catch_all || a->account || a->address))
		return usage_error(cmd, "list takes no option but --json", NULL);
	return CLI_OK;
}

int
cli_account(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct reg_args a = {0};
	struct dm_config cfg;
	const char *verb, *name;
	char err[512];
	int rc = parse(cmd, argc, argv, &cfg, &a, &verb, &name);
	if (rc != CLI_OK)
		return rc;
	if (strcmp(verb, "list") == 0)
		return run_list(cmd, &a, cfg.data_dir, registry_list_accounts, on_account);
	int64_t id = 0;
	rc = registry_account_add(cfg.data_dir, name, a.catch_all, &id, err, sizeof err);
	if (rc) {
		fprintf(stderr, "dmarcd account: %s\n", err[0] ? err : dm_strerror(rc));
		return exit_for(rc);
	}
	printf("account %s (id %" PRId64 ") created\n", name, id);
	if (a.catch_all)
		printf("catch-all: it accepts reports sent to any address and claims any domain\n");
	return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
}

int
cli_domain(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct reg_args a = {0};
	struct dm_config cfg;
	const char *verb, *domain;
	char err[512], addr[DM_REGISTRY_MAX_ADDRESS + 1];
	char dns[2048];
	int rc = parse(cmd, argc, argv, &cfg, &a, &verb, &domain);
	if (rc != CLI_OK)
		return rc;
	if (strcmp(verb, "list") == 0)
		return run_list(cmd, &a, cfg.data_dir, registry_list_domains, on_domain);
	if (!a.account)
		return usage_error(cmd, "add: --account NAME is required", NULL);
	rc = registry_domain_add(cfg.data_dir, domain, a.account, a.address, cfg.report_host, addr,
	                         sizeof addr, err, sizeof err);
	if (rc) {
		fprintf(stderr, "dmarcd domain: %s\n", err[0] ? err : dm_strerror(rc));
		return exit_for(rc);
	}
	/* the stored (normalised) form of the domain */
	char dom[DM_MAX_DOMAIN_LEN + 1];
	size_t n = strlen(domain);
	if (n && domain[n - 1] == '.')
		n--;
	snprintf(dom, sizeof dom, "%.*s", (int)n, domain);
	for (char *p = dom; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	printf("domain %s added to account %s\nreport address: %s\npublish:\n", dom, a.account,
	       addr);
	registry_dns_records(dom, addr, dns, sizeof dns);
	for (char *line = dns, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		printf("  %.*s\n", (int)(nl - line), line);
	}
	return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
}

int
cli_address(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct reg_args a = {0};
	struct dm_config cfg;
	const char *verb, *operand;
	int rc = parse(cmd, argc, argv, &cfg, &a, &verb, &operand);
	if (rc != CLI_OK)
		return rc;
	return run_list(cmd, &a, cfg.data_dir, registry_list_addresses, on_address);
}

/* ---- tokens -------------------------------------------------------------- */

static int
print_token_json(const struct registry_token_row *r)
{
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 64 * 1024);
	dm_json_init(&j, &b);
	dm_json_obj_begin(&j);
	dm_json_key(&j, "id");
	dm_json_int(&j, r->id);
	dm_json_key(&j, "account");
	dm_json_str(&j, r->admin ? NULL : r->account);
	dm_json_key(&j, "account_id");
	dm_json_int(&j, r->account_id);
	dm_json_key(&j, "admin");
	dm_json_bool(&j, r->admin);
	dm_json_key(&j, "name");
	dm_json_str(&j, r->name);
	dm_json_key(&j, "created_at");
	dm_json_int(&j, r->created_at);
	dm_json_key(&j, "revoked_at");
	if (r->revoked_at)
		dm_json_int(&j, r->revoked_at);
	else
		dm_json_null(&j);
	dm_json_obj_end(&j);
	int rc = j.rc;
	if (rc == 0)
		printf("%s\n", dm_buf_str(&b));
	dm_buf_free(&b);
	return rc;
}

static int
on_token(void *arg, const struct registry_token_row *r)
{
	struct reg_args *a = arg;
	char when[32], revoked[32];
	if (a->json)
		return print_token_json(r);
	if (a->rows++ == 0)
		printf("%6s %-24s %-24s %-20s %s\n", "id", "account", "name", "created", "revoked");
	fmt_time(r->created_at, when, sizeof when);
	fmt_time(r->revoked_at, revoked, sizeof revoked);
	/* an account token whose account was deleted shows its id */
	char acct[32];
	const char *who = r->admin ? "admin" : r->account;
	if (!who) {
		snprintf(acct, sizeof acct, "#%" PRId64, r->account_id);
		who = acct;
	}
	printf("%6" PRId64 " %-24s %-24s %-20s %s\n", r->id, who, r->name, when, revoked);
	return 0;
}

static int
run_token_list(const struct cli_cmd *cmd, struct reg_args *a, const char *data_dir)
{
	char err[512];
	int rc = registry_list_tokens(data_dir, on_token, a, err, sizeof err);
	if (rc) {
		fprintf(stderr, "dmarcd %s: %s\n", cmd->name, err[0] ? err : dm_strerror(rc));
		return CLI_FAILED; /* reading never refuses: storage */
	}
	return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
}

/* A token id: decimal, 1 to INT64_MAX, nothing else. */
static int
parse_id(const char *s, int64_t *id)
{
	char *end = NULL;
	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		return 0;
	*id = (int64_t)v;
	return 1;
}

int
cli_token(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct reg_args a = {0};
	struct dm_config cfg;
	char err[512], token[REGISTRY_TOKEN_MAX + 1];
	int first;
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &a, &first) != CLI_OK)
		return CLI_FAILED;
	const char *verb = first < argc ? argv[first] : NULL;
	int adding = verb && strcmp(verb, "add") == 0;
	if (!verb)
		return usage_error(cmd, "missing subcommand", NULL);
	if (!adding && strcmp(verb, "list") != 0 && strcmp(verb, "revoke") != 0)
		return usage_error(cmd, "unknown subcommand", verb);
	if (!adding && (a.account || a.admin || a.name || a.replace))
		return usage_error(
		        cmd, "--account, --admin, --name and --replace apply to add only", NULL);
	if (strcmp(verb, "list") != 0 && a.json)
		return usage_error(cmd, "--json applies to list only", NULL);

	if (strcmp(verb, "revoke") == 0) {
		int64_t id = 0;
		if (first + 1 >= argc)
			return usage_error(cmd, "revoke: missing", "ID");
		if (first + 2 < argc)
			return usage_error(cmd, "unexpected argument", argv[first + 2]);
		if (!parse_id(argv[first + 1], &id))
			return usage_error(cmd, "revoke: not a token id:", argv[first + 1]);
		int rc = registry_token_revoke(cfg.data_dir, id, err, sizeof err);
		if (rc) {
			fprintf(stderr, "dmarcd token: %s\n", err[0] ? err : dm_strerror(rc));
			return exit_for(rc);
		}
		printf("token %" PRId64 " revoked\n", id);
		return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
	}
	if (first + 1 < argc)
		return usage_error(cmd, "unexpected argument", argv[first + 1]);
	if (!adding)
		return run_token_list(cmd, &a, cfg.data_dir);

	if (!a.account == !a.admin)
		return usage_error(cmd, "add: give either --account NAME or --admin", NULL);
	const char *name = a.name ? a.name : CLI_TOKEN_NAME;
	int64_t id = 0;
	int rc = registry_token_add(cfg.data_dir, a.account, a.admin, name, a.replace, token,
	                            sizeof token, &id, err, sizeof err);
	if (rc) {
		fprintf(stderr, "dmarcd token: %s\n", err[0] ? err : dm_strerror(rc));
		return exit_for(rc);
	}
	printf("%s\n", token);
	int ok = fflush(stdout) == 0;
	explicit_bzero(token, sizeof token); /* not left on the stack */
	if (!ok)
		return CLI_FAILED;
	fprintf(stderr,
	        "dmarcd token: token %" PRId64
	        " '%s' for %s%s created; it is shown only this once\n",
	        id, name, a.admin ? "admin" : "account ", a.admin ? "" : a.account);
	return CLI_OK;
}
