/*
 * cli_record.c - `dmarcd record parse TEXT [--json]`: a DMARC record read
 * tag by tag, with the policy a receiver applies and every problem found
 * (src/dns/dmarc_record.c; the codes are in docs/RECORDS.md); and
 * `dmarcd record generate`: the record to publish for a chosen policy,
 * with the domain's report address from the registry, asked for on a
 * terminal when not given.
 *
 * Functions: cli_record.  Exit status: 0 when the record has no error, 1
 * when it has one (or is no DMARC record), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/json.h"
#include "dns/check.h"
#include "dns/dmarc_record.h"
#include "dns/resolver.h"
#include "dns/spf_record.h"
#include "registry/registry.h"
#include "store/store.h"

enum {
	KEY_JSON = 1,
	KEY_DOMAIN,
	KEY_POLICY,
	KEY_SP,
	KEY_NP,
	KEY_ADKIM,
	KEY_ASPF,
	KEY_RUA,
	KEY_RUF,
	KEY_FO,
	KEY_TESTING,
	KEY_SELECTOR,
	KEY_RESOLVER
};

const struct cli_opt cli_record_opts[] = {
        {"json", 0, KEY_JSON, NULL, "print one JSON object"},
        {"domain", 1, KEY_DOMAIN, "DOMAIN", "generate: the domain (its report address is used)"},
        {"policy", 1, KEY_POLICY, "P", "generate: none, quarantine or reject"},
        {"sp", 1, KEY_SP, "P", "generate: the policy for subdomains"},
        {"np", 1, KEY_NP, "P", "generate: the policy for names that do not exist"},
        {"adkim", 1, KEY_ADKIM, "r|s", "generate: DKIM alignment"},
        {"aspf", 1, KEY_ASPF, "r|s", "generate: SPF alignment"},
        {"rua", 1, KEY_RUA, "ADDR", "generate: an aggregate report address (repeatable)"},
        {"ruf", 1, KEY_RUF, "ADDR", "generate: a failure report address (repeatable)"},
        {"fo", 1, KEY_FO, "LIST", "generate: failure report options (0, 1, d, s)"},
        {"testing", 0, KEY_TESTING, NULL, "generate: t=y (one step less is applied)"},
        {"selector", 1, KEY_SELECTOR, "S", "check: a DKIM selector to check (repeatable)"},
        {"resolver", 1, KEY_RESOLVER, "ADDR:PORT", "check: the DNS server (else the config's)"},
        {NULL, 0, 0, NULL, NULL},
};

struct rec_args {
	int json;
	const char *domain;
	struct dm_dmarc_wish w;
	int too_many;
	const char *selectors[DM_CHECK_MAX_SELECTORS];
	size_t nselectors;
	const char *resolver;
};

static int
on_opt(void *arg, int key, const char *value)
{
	struct rec_args *a = arg;
	switch (key) {
	case KEY_JSON:
		a->json = 1;
		break;
	case KEY_DOMAIN:
		a->domain = value;
		break;
	case KEY_POLICY:
		a->w.p = value;
		break;
	case KEY_SP:
		a->w.sp = value;
		break;
	case KEY_NP:
		a->w.np = value;
		break;
	case KEY_ADKIM:
		a->w.adkim = value;
		break;
	case KEY_ASPF:
		a->w.aspf = value;
		break;
	case KEY_RUA:
	case KEY_RUF: {
		const char **v = key == KEY_RUA ? a->w.rua : a->w.ruf;
		size_t *n = key == KEY_RUA ? &a->w.nrua : &a->w.nruf;
		if (*n == DM_DMARC_MAX_URIS)
			a->too_many = 1;
		else
			v[(*n)++] = value;
		break;
	}
	case KEY_FO:
		a->w.fo = value;
		break;
	case KEY_TESTING:
		a->w.testing = 1;
		break;
	case KEY_SELECTOR:
		if (a->nselectors == DM_CHECK_MAX_SELECTORS)
			a->too_many = 1;
		else
			a->selectors[a->nselectors++] = value;
		break;
	case KEY_RESOLVER:
		a->resolver = value;
		break;
	default:
		break;
	}
	return 0;
}

static void
print_uris(const char *tag, const struct dm_report_uri *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		printf("%-6s %s", tag, u[i].uri);
		if (u[i].has_size)
			printf(" (size limit %llu bytes)", (unsigned long long)u[i].size);
		printf("\n");
	}
}

static void
print_text(const struct dm_dmarc_record *r)
{
	printf("record: %s\n", !r->is_dmarc ? "not a DMARC record"
	                       : r->valid   ? "DMARC1, valid"
	                                    : "DMARC1, with errors");
	if (r->is_dmarc) {
		printf("policy: p=%s sp=%s np=%s adkim=%s aspf=%s pct=%d t=%s psd=%s fo=%s\n",
		       r->eff.p[0] ? r->eff.p : "(none applied)", r->eff.sp[0] ? r->eff.sp : "-",
		       r->eff.np[0] ? r->eff.np : "-", r->eff.adkim, r->eff.aspf, r->eff.pct,
		       r->eff.t, r->eff.psd, r->eff.fo);
		print_uris("rua", r->rua, r->nrua);
		print_uris("ruf", r->ruf, r->nruf);
	}
	for (size_t i = 0; i < r->nfindings; i++)
		printf("%-7s %-18s %s\n", dm_finding_severity_name(r->findings[i].severity),
		       r->findings[i].code, r->findings[i].message);
	if (r->findings_dropped)
		printf("(more findings than %d: the rest are not shown)\n", DM_DMARC_MAX_FINDINGS);
}

/* `record parse` of an SPF record: its terms, its own lookups, findings. */
static int
parse_spf(const char *text, int json)
{
	static struct dm_spf_record r;
	dm_spf_record_parse(text, strlen(text), &r);
	if (json) {
		struct dm_buf b;
		struct dm_json j;
		dm_buf_init(&b, 1024 * 1024);
		dm_json_init(&j, &b);
		dm_spf_record_json(&r, &j);
		fwrite(b.data, 1, b.len, stdout);
		fputc('\n', stdout);
		dm_buf_free(&b);
		return r.valid ? CLI_OK : CLI_REJECTED;
	}
	printf("record: %s\n", !r.is_spf ? "not an SPF record"
	                       : r.valid ? "SPF, valid"
	                                 : "SPF, with errors");
	if (r.is_spf)
		printf("lookups: %d of 10 in its own terms (includes and redirects are not"
		       " followed here)\n",
		       r.lookups);
	for (size_t i = 0; i < r.nterms && i < DM_SPF_MAX_TERMS; i++) {
		const struct dm_spf_term *t = &r.terms[i];
		if (t->kind == DM_SPF_UNKNOWN_MODIFIER)
			printf("  %s\n", t->value);
		else if (t->kind >= DM_SPF_REDIRECT)
			printf("  %s=%s%s\n", dm_spf_kind_name(t->kind), t->value,
			       t->lookup ? "   (a lookup)" : "");
		else
			printf("  %c%s%s%s%s\n", t->qualifier, dm_spf_kind_name(t->kind),
			       t->value[0] ? ":" : "", t->value, t->lookup ? "   (a lookup)" : "");
	}
	for (size_t i = 0; i < r.nfindings; i++)
		printf("%-7s %-18s %s\n", dm_finding_severity_name(r.findings[i].severity),
		       r.findings[i].code, r.findings[i].message);
	return r.valid ? CLI_OK : CLI_REJECTED;
}

/* A line from the terminal after a question (the default when empty). */
static const char *
ask(const char *question, const char *def, char *buf, size_t len)
{
	fprintf(stderr, "%s [%s]: ", question, def ? def : "");
	fflush(stderr);
	if (!fgets(buf, (int)len, stdin))
		return def;
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] ? buf : def;
}

/* The report address of domain in the registry, into out. */
struct find_addr {
	const char *domain;
	char *out;
	size_t outlen;
};

static int
addr_of(void *arg, const struct registry_row *r)
{
	struct find_addr *f = arg;
	if (r->domain && r->address && strcasecmp(r->domain, f->domain) == 0 && !f->out[0])
		snprintf(f->out, f->outlen, "%s", r->address);
	return 0;
}

/* Is r's rua i the first of its host? */
static int
first_of_host(const struct dm_dmarc_record *r, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (r->rua[k].mailto && strcmp(r->rua[k].host, r->rua[i].host) == 0)
			return 0;
	return 1;
}

/* Is host the domain or under it?  (The Organizational Domains are
 * compared once the Public Suffix List is read: `record check`.) */
static int
within(const char *host, const char *domain)
{
	size_t h = strlen(host), d = strlen(domain);
	return h >= d && strcasecmp(host + h - d, domain) == 0 &&
	       (h == d || host[h - d - 1] == '.');
}

/* With no --rua, the domain's report address from the registry (none:
 * the record gets no rua, and says so). */
static int
registry_address(struct rec_args *a, const struct dm_config *cfg, char *out, size_t outlen)
{
	if (a->w.nrua > 0)
		return 0;
	char err[512] = "";
	struct find_addr f = {a->domain, out, outlen};
	out[0] = '\0';
	if (registry_list_addresses(cfg->data_dir, addr_of, &f, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd record: %s\n", err);
		return CLI_FAILED;
	}
	if (out[0])
		a->w.rua[a->w.nrua++] = out;
	return 0;
}

static int
generate(const struct cli_cmd *cmd, struct rec_args *a, const struct dm_config *cfg)
{
	static char pbuf[64], abuf[DM_REGISTRY_MAX_ADDRESS + 16],
	        reg_addr[DM_REGISTRY_MAX_ADDRESS + 1];
	int rc;
	if (a->too_many) {
		fprintf(stderr, "dmarcd record: at most %d --rua and %d --ruf\n", DM_DMARC_MAX_URIS,
		        DM_DMARC_MAX_URIS);
		return CLI_FAILED;
	}
	int tty = isatty(0);
	static char dbuf[DM_MAX_DOMAIN_LEN + 2];
	if (tty && !a->json) {
		/* questions for what the flags did not say */
		if (!a->domain) {
			const char *v = ask("Domain", NULL, dbuf, sizeof dbuf);
			a->domain = v && *v ? v : NULL;
		}
		if (!a->w.p)
			a->w.p = ask(
			        "Policy for mail that fails DMARC: none (monitor), quarantine or"
			        " reject",
			        "none", pbuf, sizeof pbuf);
		if (a->domain && (rc = registry_address(a, cfg, reg_addr, sizeof reg_addr)) != 0)
			return rc;
		if (a->w.nrua == 0) {
			const char *v =
			        ask("Address for aggregate reports", NULL, abuf, sizeof abuf);
			if (v && *v)
				a->w.rua[a->w.nrua++] = v;
		}
	}
	if (!a->domain) {
		fprintf(stderr, "dmarcd record: generate needs --domain DOMAIN\n");
		return CLI_FAILED;
	}
	if (!tty || a->json) {
		if ((rc = registry_address(a, cfg, reg_addr, sizeof reg_addr)) != 0)
			return rc;
	}
	if (a->w.nrua == 0)
		fprintf(stderr,
		        "dmarcd record: %s has no report address in the registry (dmarcd domain add"
		        " makes one); the record gets no rua\n",
		        a->domain);
	static char text[DM_DMARC_MAX_RECORD + 1], zone[2 * DM_DMARC_MAX_RECORD];
	if (dm_dmarc_record_generate(&a->w, text, sizeof text) != 0 ||
	    dm_txt_zone_strings(text, zone, sizeof zone) != 0) {
		fprintf(stderr, "dmarcd record: the record would be longer than %d bytes\n",
		        DM_DMARC_MAX_RECORD);
		return CLI_FAILED;
	}
	/* read back: a choice a receiver would not take is an error */
	static struct dm_dmarc_record r;
	dm_dmarc_record_parse(text, strlen(text), &r);
	const char *dom = a->domain;
	(void)cmd;
	if (a->json) {
		struct dm_buf b;
		struct dm_json j;
		dm_buf_init(&b, 1024 * 1024);
		dm_json_init(&j, &b);
		dm_json_obj_begin(&j);
		dm_json_key(&j, "name");
		char name[300];
		snprintf(name, sizeof name, "_dmarc.%.250s", dom);
		dm_json_str(&j, name);
		dm_json_key(&j, "record");
		dm_json_str(&j, text);
		dm_json_key(&j, "zone");
		dm_json_str(&j, zone);
		dm_json_key(&j, "authorize");
		dm_json_arr_begin(&j);
		for (size_t i = 0; i < r.nrua; i++)
			if (r.rua[i].mailto && !within(r.rua[i].host, dom) &&
			    first_of_host(&r, i)) {
				snprintf(name, sizeof name, "%.120s._report._dmarc.%.120s", dom,
				         r.rua[i].host);
				dm_json_str(&j, name);
			}
		dm_json_arr_end(&j);
		dm_json_key(&j, "check");
		dm_dmarc_record_json(&r, &j);
		dm_json_obj_end(&j);
		fwrite(b.data, 1, b.len, stdout);
		fputc('\n', stdout);
		dm_buf_free(&b);
	} else {
		printf("_dmarc.%s. IN TXT %s\n", dom, zone);
		for (size_t i = 0; i < r.nrua; i++)
			if (r.rua[i].mailto && !within(r.rua[i].host, dom) && first_of_host(&r, i))
				printf("%s._report._dmarc.%s. IN TXT \"v=DMARC1\""
				       "   ; in %s's zone: it accepts %s's reports\n",
				       dom, r.rua[i].host, r.rua[i].host, dom);
		for (size_t i = 0; i < r.nfindings; i++)
			printf("; %s %s: %s\n", dm_finding_severity_name(r.findings[i].severity),
			       r.findings[i].code, r.findings[i].message);
	}
	return r.valid ? CLI_OK : CLI_REJECTED;
}

/* The domain's report addresses in the registry (the instance's own). */
static int
our_addr(void *arg, const struct registry_row *r)
{
	struct cli_addrs *o = arg;
	if (r->domain && r->address && strcasecmp(r->domain, o->domain) == 0 &&
	    o->n < DM_DMARC_MAX_URIS)
		snprintf(o->addr[o->n++], sizeof(o->addr[0]), "%s", r->address);
	return 0;
}

void
cli_domain_addresses(const struct dm_config *cfg, const char *domain, struct cli_addrs *out)
{
	char err[512];
	out->domain = domain;
	out->n = 0;
	if (registry_list_addresses(cfg->data_dir, our_addr, out, err, sizeof err) != 0)
		out->n = 0;
}

/* The selectors of dom's DKIM signatures in its stored reports of the
 * last DM_CHECK_SEEN_DAYS days into sel.  Nothing stored yet is none; a
 * store that cannot be read is said on stderr and the check goes on. */
static void
seen_selectors(const struct dm_config *cfg, const char *dom, char sel[][64], size_t *n)
{
	char err[512] = "", path[PATH_MAX];
	struct stat sb;
	*n = 0;
	snprintf(path, sizeof path, "%s/dmarcd.sqlite", cfg->data_dir);
	if (strcmp(cfg->store, "sqlite") == 0 && stat(path, &sb) != 0)
		return;
	struct store *st = store_open_config(cfg, err, sizeof err);
	if (!st) {
		fprintf(stderr, "dmarcd record check: store: %s (DKIM selectors of the reports not read)\n",
		        err);
		return;
	}
	struct store_reader *rd = store_reader_open(st, err, sizeof err);
	struct store_scope admin = {.account = 0, .admin = 1};
	if (!rd)
		fprintf(stderr, "dmarcd record check: store: %s\n", err);
	else if (dm_check_seen_selectors(rd, &admin, dom, DM_CHECK_SEEN_DAYS, sel, n) != 0)
		fprintf(stderr, "dmarcd record check: store: %s\n", store_reader_error(rd));
	store_reader_close(rd);
	store_close(st);
}

/* `record check DOMAIN`: exit 0 without errors, 1 with, 2 when it could
 * not be asked at all. */
static int
check(struct rec_args *a, const struct dm_config *cfg, const char *domain)
{
	static struct dm_check c;
	static struct cli_addrs ours;
	struct dm_check_args ca;
	char dom[DM_CHECK_NAME], err[512] = "";
	if (a->too_many) {
		fprintf(stderr, "dmarcd record: at most %d --selector\n", DM_CHECK_MAX_SELECTORS);
		return CLI_FAILED;
	}
	if (dm_check_domain_name(domain, dom, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd record check: %s\n", err);
		return CLI_FAILED;
	}
	memset(&ca, 0, sizeof ca);
	ca.domain = dom;
	for (size_t i = 0; i < a->nselectors; i++)
		ca.selectors[ca.nselectors++] = a->selectors[i];
	/* and those of the domain's reports, after the ones asked for */
	static char seen[DM_CHECK_MAX_SELECTORS][64];
	size_t nseen = 0;
	seen_selectors(cfg, dom, seen, &nseen);
	for (size_t i = 0; i < nseen && ca.nselectors < DM_CHECK_MAX_SELECTORS; i++) {
		int dup = 0;
		for (size_t k = 0; k < ca.nselectors; k++)
			dup |= strcasecmp(ca.selectors[k], seen[i]) == 0;
		if (!dup)
			ca.selectors[ca.nselectors++] = seen[i];
	}
	/* the registry may not exist yet: then nothing is ours */
	cli_domain_addresses(cfg, dom, &ours);
	for (size_t i = 0; i < ours.n; i++)
		ca.ours[ca.nours++] = ours.addr[i];
	struct dm_dns_cache *cache = dm_dns_cache_new(0);
	struct dm_resolver *r =
	        dm_resolver_new(a->resolver ? a->resolver : cfg->resolver,
	                        (int)dm_config_int(cfg->dns_timeout_ms), cache, err, sizeof err);
	if (!r) {
		fprintf(stderr, "dmarcd record check: %s\n", err);
		dm_dns_cache_free(cache);
		return CLI_FAILED;
	}
	dm_check_run(r, &ca, &c);
	if (a->json) {
		struct dm_buf b;
		struct dm_json j;
		dm_buf_init(&b, 64 * 1024 * 1024);
		dm_json_init(&j, &b);
		dm_check_json(&c, &j);
		fwrite(b.data, 1, b.len, stdout);
		fputc('\n', stdout);
		dm_buf_free(&b);
	} else {
		dm_check_text(&c, stdout);
	}
	int rc = c.nerrors ? CLI_REJECTED : CLI_OK;
	dm_check_free(&c);
	dm_resolver_free(r);
	dm_dns_cache_free(cache);
	return rc;
}

int
cli_record(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct dm_config cfg;
	struct rec_args a;
	int first;
	memset(&a, 0, sizeof a);
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &a, &first) != CLI_OK)
		return CLI_FAILED;
	if (argc - first == 1 && strcmp(argv[first], "generate") == 0)
		return generate(cmd, &a, &cfg);
	if (argc - first == 2 && strcmp(argv[first], "check") == 0)
		return check(&a, &cfg, argv[first + 1]);
	if (argc - first != 2 || strcmp(argv[first], "parse") != 0) {
		cli_usage(cmd, stderr);
		return CLI_FAILED;
	}
	int json = a.json;
	static struct dm_dmarc_record r;
	const char *text = argv[first + 1];
	if (strncasecmp(text, "v=spf1", 6) == 0 && (text[6] == ' ' || text[6] == '\0'))
		return parse_spf(text, json);
	dm_dmarc_record_parse(text, strlen(text), &r);
	if (json) {
		struct dm_buf b;
		struct dm_json j;
		dm_buf_init(&b, 1024 * 1024);
		dm_json_init(&j, &b);
		dm_dmarc_record_json(&r, &j);
		fwrite(b.data, 1, b.len, stdout);
		fputc('\n', stdout);
		dm_buf_free(&b);
	} else {
		print_text(&r);
	}
	return r.valid ? CLI_OK : CLI_REJECTED;
}
