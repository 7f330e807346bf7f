/*
 * test_registry.c - the registry: accounts, domains, report addresses,
 * API tokens.
 *
 * A real registry.sqlite in a temporary folder per test, written through
 * the management functions and read back through a loaded snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry.h"

static char dir[256];

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/dmreg-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static int64_t
account(const char *name, int catch_all)
{
	char err[256];
	int64_t id = -5;
	int rc = registry_account_add(dir, name, catch_all, &id, err, sizeof err);
	if (rc)
		fail_msg("account_add %s: %d %s", name, rc, err);
	assert_true(id >= 1);
	return id;
}

/* Add domain; addr_out receives the address. */
static int
domain(const char *d, const char *acct, const char *addr, char *addr_out, size_t len)
{
	char err[256], tmp[300];
	if (!addr_out) {
		addr_out = tmp;
		len = sizeof tmp;
	}
	int rc = registry_domain_add(dir, d, acct, addr, "reports.example.net", addr_out, len, err,
				     sizeof err);
	if (rc)
		assert_true(err[0] != '\0'); /* every refusal says why */
	return rc;
}

static struct registry *
load(void)
{
	struct registry *reg = NULL;
	char err[256];
	int rc = registry_load(dir, &reg, err, sizeof err);
	if (rc)
		fail_msg("registry_load: %d %s", rc, err);
	assert_non_null(reg);
	return reg;
}

static int
file_exists(const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

/* ---- listing into one string ---------------------------------------------- */

struct collect {
	char text[4096];
	size_t len;
	unsigned rows;
};

static int
collect(void *arg, const struct registry_row *r)
{
	struct collect *c = arg;
	int n = snprintf(c->text + c->len, sizeof c->text - c->len, "%s|%lld|%d|%s|%s;",
			 r->account, (long long)r->account_id, r->catch_all,
			 r->domain ? r->domain : "-", r->address ? r->address : "-");
	assert_true(n > 0 && (size_t)n < sizeof c->text - c->len);
	c->len += (size_t)n;
	c->rows++;
	return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void
test_missing_registry(void **state)
{
	struct registry *reg = load();
	unsigned a = 9, d = 9, x = 9;
	registry_counts(reg, &a, &d, &x);
	assert_int_equal(a, 0);
	assert_int_equal(d, 0);
	assert_int_equal(x, 0);
	assert_int_equal(registry_rcpt(reg, "dmarc@example.com"), 0);
	assert_int_equal(registry_rcpt(reg, "<dmarc@example.com>"), 0);
	assert_int_equal(registry_rcpt(reg, "postmaster"), REGISTRY_POSTMASTER);
	assert_int_equal(registry_rcpt(reg, "<PostMaster>"), REGISTRY_POSTMASTER);
	assert_int_equal(registry_rcpt(reg, "POSTMASTER@anything.example"), REGISTRY_POSTMASTER);
	assert_int_equal(registry_rcpt(reg, "<postmaster@x.org>"), REGISTRY_POSTMASTER);
	assert_int_equal(registry_rcpt(reg, "postmasterx@x.org"), 0);
	assert_int_equal(registry_rcpt(reg, ""), 0);
	assert_int_equal(registry_rcpt(reg, NULL), 0);
	assert_int_equal(registry_claims(reg, 1, "example.com"), 0);
	const char *rcpt[] = {"postmaster", "dmarc@example.com"};
	assert_int_equal(registry_account_for(reg, rcpt, 2, "example.com"), 0);
	/* loading did not create the file, and nothing changed since */
	assert_false(file_exists(REGISTRY_FILE));
	assert_int_equal(registry_changed(reg, dir), 0);
	registry_free(reg);

	/* listing a missing registry lists nothing */
	struct collect c = {0};
	char err[256];
	assert_int_equal(registry_list_accounts(dir, collect, &c, err, sizeof err), 0);
	assert_int_equal(registry_list_domains(dir, collect, &c, err, sizeof err), 0);
	assert_int_equal(registry_list_addresses(dir, collect, &c, err, sizeof err), 0);
	assert_int_equal(c.rows, 0);
	assert_false(file_exists(REGISTRY_FILE));

	/* a domain for an account that cannot exist does not create it either */
	assert_int_equal(domain("example.com", "acme", NULL, NULL, 0), DM_ENOTFOUND);
	assert_false(file_exists(REGISTRY_FILE));

	/* nor does a folder that does not exist */
	char sub[300];
	snprintf(sub, sizeof sub, "%s/not/there", dir);
	reg = NULL;
	assert_int_equal(registry_load(sub, &reg, err, sizeof err), 0);
	assert_int_equal(registry_rcpt(reg, "x@example.com"), 0);
	registry_free(reg);
	registry_free(NULL);
}

static void
test_lookup(void **state)
{
	char addr[300];
	int64_t acme = account("acme", 0);
	int64_t other = account("other", 0);
	assert_int_equal(acme, 1);
	assert_int_equal(other, 2);
	assert_int_equal(domain("Example.COM.", "acme", "DMARC-Reports@Mail.Example.NET", addr,
				sizeof addr),
			 0);
	assert_string_equal(addr, "dmarc-reports@mail.example.net");
	assert_int_equal(domain("other.org", "other", "rua@other.org", addr, sizeof addr), 0);
	assert_string_equal(addr, "rua@other.org");
	assert_true(file_exists(REGISTRY_FILE));

	struct registry *reg = load();
	unsigned a, d, x;
	registry_counts(reg, &a, &d, &x);
	assert_int_equal(a, 2);
	assert_int_equal(d, 2);
	assert_int_equal(x, 2);

	/* rcpt: exact, case-insensitive, with or without <> */
	assert_int_equal(registry_rcpt(reg, "dmarc-reports@mail.example.net"), acme);
	assert_int_equal(registry_rcpt(reg, "DMARC-Reports@MAIL.example.net"), acme);
	assert_int_equal(registry_rcpt(reg, "<dmarc-reports@mail.example.net>"), acme);
	assert_int_equal(registry_rcpt(reg, "<RUA@Other.Org>"), other);
	assert_int_equal(registry_rcpt(reg, "rua@other.org"), other);
	/* unknown, near misses, malformed */
	assert_int_equal(registry_rcpt(reg, "rua@example.com"), 0);
	assert_int_equal(registry_rcpt(reg, "dmarc-reports@example.net"), 0);
	assert_int_equal(registry_rcpt(reg, "rua@other.org.evil"), 0);
	assert_int_equal(registry_rcpt(reg, "rua@other.org@x.com"), 0);
	assert_int_equal(registry_rcpt(reg, "rua"), 0);
	assert_int_equal(registry_rcpt(reg, "<rua@other.org"), 0);
	assert_int_equal(registry_rcpt(reg, "postmaster@other.org"), REGISTRY_POSTMASTER);
	char longaddr[400];
	memset(longaddr, 'a', 300);
	memcpy(longaddr + 300, "@other.org", 11);
	assert_int_equal(registry_rcpt(reg, longaddr), 0);

	/* claims: the domain, its subdomains, on a label boundary only */
	assert_int_equal(registry_claims(reg, acme, "example.com"), 1);
	assert_int_equal(registry_claims(reg, acme, "EXAMPLE.com."), 1);
	assert_int_equal(registry_claims(reg, acme, "mail.example.com"), 1);
	assert_int_equal(registry_claims(reg, acme, "a.b.Mail.Example.com"), 1);
	assert_int_equal(registry_claims(reg, acme, "badexample.com"), 0);
	assert_int_equal(registry_claims(reg, acme, "example.com.evil"), 0);
	assert_int_equal(registry_claims(reg, acme, "com"), 0);
	assert_int_equal(registry_claims(reg, acme, "other.org"), 0);
	assert_int_equal(registry_claims(reg, acme, ""), 0);
	assert_int_equal(registry_claims(reg, acme, NULL), 0);
	assert_int_equal(registry_claims(reg, other, "other.org"), 1);
	assert_int_equal(registry_claims(reg, other, "example.com"), 0);
	assert_int_equal(registry_claims(reg, 0, "example.com"), 0);
	assert_int_equal(registry_claims(reg, 99, "example.com"), 0);

	/* account_for: the first recipient whose account claims the domain */
	const char *r1[] = {"postmaster@example.com", "nobody@example.com",
			    "<DMARC-reports@mail.example.net>"};
	assert_int_equal(registry_account_for(reg, r1, 3, "sub.example.com"), acme);
	assert_int_equal(registry_account_for(reg, r1, 3, "foreign.example"), 0);
	assert_int_equal(registry_account_for(reg, r1, 3, "badexample.com"), 0);
	assert_int_equal(registry_account_for(reg, r1, 2, "example.com"), 0);
	const char *r2[] = {"dmarc-reports@mail.example.net", "rua@other.org"};
	assert_int_equal(registry_account_for(reg, r2, 2, "other.org"), other);
	assert_int_equal(registry_account_for(reg, r2, 2, "example.com"), acme);
	assert_int_equal(registry_account_for(reg, r2, 0, "example.com"), 0);
	registry_free(reg);
}

static void
test_catch_all(void **state)
{
	char addr[300];
	int64_t acme = account("acme", 0);
	assert_int_equal(domain("example.com", "acme", "rua@example.com", addr, sizeof addr), 0);
	int64_t all = account("all", 1);
	int64_t all2 = account("all2", 1);
	assert_true(all < all2);
	struct registry *reg = load();
	/* an exact address first, then the lowest catch-all */
	assert_int_equal(registry_rcpt(reg, "rua@example.com"), acme);
	assert_int_equal(registry_rcpt(reg, "anything@anywhere.example"), all);
	assert_int_equal(registry_rcpt(reg, "<X@Y.Z>"), all);
	/* malformed stays unserved, postmaster stays postmaster */
	assert_int_equal(registry_rcpt(reg, "a@b@c"), 0);
	assert_int_equal(registry_rcpt(reg, "nodomain"), 0);
	assert_int_equal(registry_rcpt(reg, "postmaster@example.com"), REGISTRY_POSTMASTER);
	/* a catch-all account claims any domain */
	assert_int_equal(registry_claims(reg, all, "whatever.example"), 1);
	assert_int_equal(registry_claims(reg, all2, "example.com"), 1);
	assert_int_equal(registry_claims(reg, acme, "whatever.example"), 0);
	const char *r[] = {"rua@example.com", "someone@else.example"};
	/* acme's address comes first but acme does not claim it: catch-all */
	assert_int_equal(registry_account_for(reg, r, 2, "foreign.example"), all);
	assert_int_equal(registry_account_for(reg, r, 2, "example.com"), acme);
	registry_free(reg);

	struct collect c = {0};
	char err[256];
	assert_int_equal(registry_list_addresses(dir, collect, &c, err, sizeof err), 0);
	assert_string_equal(c.text, "all|2|1|-|*;all2|3|1|-|*;acme|1|0|example.com|rua@example.com;");
}

static void
test_duplicates(void **state)
{
	char err[256], addr[300];
	int64_t id = 0;
	account("acme", 0);
	account("other", 0);
	assert_int_equal(registry_account_add(dir, "acme", 0, &id, err, sizeof err), DM_EEXIST);
	assert_non_null(strstr(err, "acme"));
	assert_int_equal(registry_account_add(dir, "ACME", 1, &id, err, sizeof err), DM_EEXIST);
	assert_int_equal(domain("example.com", "acme", "rua@example.com", addr, sizeof addr), 0);
	assert_int_equal(domain("example.com", "acme", NULL, NULL, 0), DM_EEXIST);
	assert_int_equal(domain("EXAMPLE.COM.", "other", NULL, NULL, 0), DM_EEXIST);
	/* another account's address */
	assert_int_equal(domain("other.org", "other", "RUA@example.com", addr, sizeof addr),
			 DM_EEXIST);
	/* the same account may use its address for another domain */
	assert_int_equal(domain("example.org", "acme", "rua@example.com", addr, sizeof addr), 0);
	assert_string_equal(addr, "rua@example.com");
	assert_int_equal(domain("other.org", "nobody", NULL, NULL, 0), DM_ENOTFOUND);
	assert_int_equal(domain("other.org", "bad name", NULL, NULL, 0), DM_ENOTFOUND);

	/* the refusals left nothing behind */
	struct collect c = {0};
	assert_int_equal(registry_list_domains(dir, collect, &c, err, sizeof err), 0);
	assert_string_equal(c.text, "acme|1|0|example.com|-;acme|1|0|example.org|-;");
	memset(&c, 0, sizeof c);
	assert_int_equal(registry_list_accounts(dir, collect, &c, err, sizeof err), 0);
	assert_string_equal(c.text, "acme|1|0|-|-;other|2|0|-|-;");
	struct registry *reg = load();
	assert_int_equal(registry_claims(reg, 1, "www.example.org"), 1);
	assert_int_equal(registry_claims(reg, 2, "other.org"), 0);
	registry_free(reg);
}

static void
test_invalid(void **state)
{
	char err[256], big[400];
	int64_t id = 0;
	static const char *const names[] = {"", "a b", "caf\xc3\xa9", "x/y", "a;drop", "a@b"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		err[0] = '\0';
		assert_int_equal(registry_account_add(dir, names[i], 0, &id, err, sizeof err),
				 DM_EINVAL);
		assert_non_null(strstr(err, "invalid account name"));
	}
	memset(big, 'a', 65);
	big[65] = '\0';
	assert_int_equal(registry_account_add(dir, big, 0, &id, err, sizeof err), DM_EINVAL);
	big[64] = '\0';
	assert_int_equal(registry_account_add(dir, big, 0, &id, err, sizeof err), 0);
	account("Acme_1.x-y", 0);

	static const char *const domains[] = {
		"", ".", "com", "com.", "-a.example", "a-.example", "a..example", ".a.example",
		"a_b.example", "a b.example", "ex\xc3\xa4mple.com", "example.com..", "*.example.com",
	};
	for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++) {
		if (domain(domains[i], "Acme_1.x-y", NULL, NULL, 0) != DM_EINVAL)
			fail_msg("domain '%s' was not refused", domains[i]);
	}
	/* a 64-character label; a 254-character name */
	memset(big, 'a', 64);
	memcpy(big + 64, ".example", 9);
	assert_int_equal(domain(big, "Acme_1.x-y", NULL, NULL, 0), DM_EINVAL);
	big[0] = '.';
	assert_int_equal(domain(big + 1, "Acme_1.x-y", NULL, NULL, 0), 0); /* 63: fine */
	for (int i = 0; i < 254; i += 2) {
		big[i] = 'a';
		big[i + 1] = '.';
	}
	big[253] = 'a';
	big[254] = '\0';
	assert_int_equal(domain(big, "Acme_1.x-y", NULL, NULL, 0), DM_EINVAL);
	big[252] = '\0'; /* "a.a. ... a.a" without the trailing '.': 251 */
	big[251] = '\0';
	assert_int_equal(domain(big, "Acme_1.x-y", NULL, NULL, 0), 0);

	static const char *const addrs[] = {
		"noat", "a@@example.com", "a@b@example.com", "a b@example.com", "@example.com",
		"a@", "a@com", "a@-x.example", "<a@example.com>", "a..b@example.com",
		".a@example.com", "a.@example.com", "a%b@example.com", "Postmaster@example.com",
		"a\"b@example.com",
	};
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		err[0] = '\0';
		if (registry_domain_add(dir, "valid.example", "Acme_1.x-y", addrs[i], "r.example",
					big, sizeof big, err, sizeof err) != DM_EINVAL)
			fail_msg("address '%s' was not refused", addrs[i]);
		assert_non_null(strstr(err, "invalid address"));
	}
	memset(big, 'b', 65);
	memcpy(big + 65, "@example.com", 13);
	assert_int_equal(domain("valid.example", "Acme_1.x-y", big, NULL, 0), DM_EINVAL);
	assert_int_equal(domain("valid.example", "Acme_1.x-y", big + 1, NULL, 0), 0);
	/* a bad report_host when an address is to be generated */
	assert_int_equal(registry_domain_add(dir, "valid2.example", "Acme_1.x-y", NULL, "local",
					     big, sizeof big, err, sizeof err),
			 DM_EINVAL);
	assert_non_null(strstr(err, "report_host"));
	assert_int_equal(registry_domain_add(dir, "valid2.example", "Acme_1.x-y", NULL, NULL, big,
					     sizeof big, err, sizeof err),
			 DM_EINVAL);

	/* only the valid ones were stored */
	struct collect c = {0};
	assert_int_equal(registry_list_domains(dir, collect, &c, err, sizeof err), 0);
	assert_int_equal(c.rows, 3);
	/* and lookups of junk do not match anything */
	struct registry *reg = load();
	assert_int_equal(registry_claims(reg, 2, "a b.example"), 0);
	registry_free(reg);
}

static void
test_changed(void **state)
{
	struct registry *reg = load();
	account("acme", 0);
	/* the file appeared */
	assert_int_equal(registry_changed(reg, dir), 1);
	registry_free(reg);
	reg = load();
	assert_int_equal(registry_changed(reg, dir), 0);
	assert_int_equal(registry_changed(reg, dir), 0); /* asking changes nothing */
	assert_int_equal(domain("example.com", "acme", NULL, NULL, 0), 0);
	assert_int_equal(registry_changed(reg, dir), 1);
	struct registry *reg2 = load();
	assert_int_equal(registry_changed(reg2, dir), 0);
	assert_int_equal(registry_changed(reg, dir), 1);
	/* a refused write is no change */
	assert_int_equal(domain("example.com", "acme", NULL, NULL, 0), DM_EEXIST);
	assert_int_equal(registry_changed(reg2, dir), 0);
	/* several changes in a row, each seen */
	for (int i = 0; i < 5; i++) {
		char d[64];
		snprintf(d, sizeof d, "d%d.example", i);
		assert_int_equal(domain(d, "acme", NULL, NULL, 0), 0);
		assert_int_equal(registry_changed(reg2, dir), 1);
		registry_free(reg2);
		reg2 = load();
		assert_int_equal(registry_changed(reg2, dir), 0);
		unsigned nd = 0;
		registry_counts(reg2, NULL, &nd, NULL);
		assert_int_equal(nd, (unsigned)(i + 2));
	}
	registry_free(reg2);
	registry_free(reg);
}

/* A write in the same timestamp tick as the load, that leaves the size
 * alone, looks like no change to stat(): the generation catches it. */
static void
test_changed_same_stat(void **state)
{
	char p[512];
	struct stat before, after;
	account("acme", 0);
	snprintf(p, sizeof p, "%s/%s", dir, REGISTRY_FILE);
	struct registry *reg = load();
	assert_int_equal(stat(p, &before), 0);
	assert_int_equal(domain("example.com", "acme", "rua@example.com", NULL, 0), 0);
	assert_int_equal(stat(p, &after), 0);
	/* this test is about an unchanged size; a new page would defeat it */
	assert_int_equal(after.st_size, before.st_size);
	struct timespec times[2] = {before.st_atim, before.st_mtim};
	assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
	assert_int_equal(registry_changed(reg, dir), 1);
	registry_free(reg);
	reg = load();
	assert_int_equal(registry_changed(reg, dir), 0);
	assert_int_equal(registry_rcpt(reg, "rua@example.com"), 1);
	registry_free(reg);
}

static void
test_generated(void **state)
{
	char addrs[20][300];
	account("acme", 0);
	for (int i = 0; i < 20; i++) {
		char d[64];
		snprintf(d, sizeof d, "g%d.example.com", i);
		assert_int_equal(domain(d, "acme", NULL, addrs[i], sizeof addrs[i]), 0);
		/* "r" + 10 of [a-z2-9] @ report_host */
		const char *at = strchr(addrs[i], '@');
		assert_non_null(at);
		assert_int_equal(at - addrs[i], 11);
		assert_int_equal(addrs[i][0], 'r');
		for (const char *p = addrs[i] + 1; p < at; p++)
			assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz23456789", *p));
		assert_string_equal(at + 1, "reports.example.net");
		for (int k = 0; k < i; k++)
			assert_string_not_equal(addrs[i], addrs[k]);
	}
	/* the report host is normalised too */
	char a[300], err[256];
	assert_int_equal(registry_domain_add(dir, "h.example.com", "acme", NULL, "Reports.Example.",
					     a, sizeof a, err, sizeof err),
			 0);
	assert_non_null(strstr(a, "@reports.example"));
	assert_int_equal(strlen(a), strlen("r0123456789@reports.example"));
	/* too small a buffer for the address: refused, nothing stored */
	assert_int_equal(registry_domain_add(dir, "small.example.com", "acme", NULL,
					     "reports.example.net", a, 8, err, sizeof err),
			 DM_EINVAL);
	struct registry *reg = load();
	for (int i = 0; i < 20; i++)
		assert_int_equal(registry_rcpt(reg, addrs[i]), 1);
	unsigned nd = 0, nx = 0;
	registry_counts(reg, NULL, &nd, &nx);
	assert_int_equal(nd, 21);
	assert_int_equal(nx, 21);
	registry_free(reg);
}

static void
test_lists_sorted(void **state)
{
	char addr[300];
	account("zeta", 0);
	account("alpha", 0);
	account("Mid", 1);
	assert_int_equal(domain("zz.example", "alpha", "b@x.example", addr, sizeof addr), 0);
	assert_int_equal(domain("aa.example", "zeta", "c@x.example", addr, sizeof addr), 0);
	assert_int_equal(domain("mm.example", "alpha", "a@x.example", addr, sizeof addr), 0);
	struct collect c = {0};
	char err[256];
	assert_int_equal(registry_list_accounts(dir, collect, &c, err, sizeof err), 0);
	assert_string_equal(c.text, "alpha|2|0|-|-;Mid|3|1|-|-;zeta|1|0|-|-;");
	memset(&c, 0, sizeof c);
	assert_int_equal(registry_list_domains(dir, collect, &c, err, sizeof err), 0);
	assert_string_equal(c.text,
			    "zeta|1|0|aa.example|-;alpha|2|0|mm.example|-;alpha|2|0|zz.example|-;");
	memset(&c, 0, sizeof c);
	assert_int_equal(registry_list_addresses(dir, collect, &c, err, sizeof err), 0);
	assert_string_equal(c.text, "Mid|3|1|-|*;alpha|2|0|mm.example|a@x.example;"
				    "alpha|2|0|zz.example|b@x.example;zeta|1|0|aa.example|c@x.example;");
}

static int
stop_after_one(void *arg, const struct registry_row *r)
{
	(*(int *)arg)++;
	return DM_ESTOP;
}

static int
fail_cb(void *arg, const struct registry_row *r)
{
	return DM_EIO;
}

static void
test_list_callback_stops(void **state)
{
	account("a1", 0);
	account("a2", 0);
	int n = 0;
	char err[256];
	assert_int_equal(registry_list_accounts(dir, stop_after_one, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(registry_list_accounts(dir, fail_cb, NULL, err, sizeof err), DM_EIO);
}

static void
test_dns_records(void **state)
{
	char out[1024];
	size_t n = registry_dns_records("example.com", "rua@reports.example.net", out, sizeof out);
	const char *ext = "_dmarc.example.com. IN TXT \"v=DMARC1; p=none; "
			  "rua=mailto:rua@reports.example.net\"\n"
			  "example.com._report._dmarc.reports.example.net. IN TXT \"v=DMARC1\"\n";
	assert_string_equal(out, ext);
	assert_int_equal(n, strlen(ext));

	/* the domain itself and its subdomains need no authorisation */
	n = registry_dns_records("example.com", "rua@example.com", out, sizeof out);
	assert_string_equal(out, "_dmarc.example.com. IN TXT \"v=DMARC1; p=none; "
				 "rua=mailto:rua@example.com\"\n");
	assert_int_equal(n, strlen(out));
	registry_dns_records("example.com", "rua@Reports.Example.com.", out, sizeof out);
	assert_null(strstr(out, "_report"));
	/* but a look-alike does */
	registry_dns_records("example.com", "rua@badexample.com", out, sizeof out);
	assert_non_null(strstr(out, "example.com._report._dmarc.badexample.com. IN TXT"));
	registry_dns_records("example.com.", "rua@reports.localhost", out, sizeof out);
	assert_non_null(strstr(out, "_dmarc.example.com. IN"));
	assert_non_null(strstr(out, "\nexample.com._report._dmarc.reports.localhost. IN TXT"));

	/* truncation keeps whole lines only */
	size_t first = strlen("_dmarc.example.com. IN TXT \"v=DMARC1; p=none; "
			      "rua=mailto:rua@reports.example.net\"\n");
	n = registry_dns_records("example.com", "rua@reports.example.net", out, first + 5);
	assert_int_equal(n, first);
	assert_int_equal(strlen(out), first);
	n = registry_dns_records("example.com", "rua@reports.example.net", out, 10);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	assert_int_equal(registry_dns_records("example.com", "x@y.example", out, 0), 0);
	assert_int_equal(registry_dns_records(NULL, "x@y.example", out, sizeof out), 0);
}

/* ---- API tokens ------------------------------------------------------------ */

/* Make a token; fails the test on an error. */
static int64_t
token(const char *acct, int admin, const char *name, int replace, char *out, size_t len)
{
	char err[256];
	int64_t id = -5;
	int rc =
	        registry_token_add(dir, acct, admin, name, replace, out, len, &id, err, sizeof err);
	if (rc)
		fail_msg("token_add %s: %d %s", name, rc, err);
	assert_true(id >= 1);
	return id;
}

/* ^dmt_<id>_[A-Za-z0-9_-]{43}$ with the id given */
static void
assert_token_form(const char *t, int64_t id)
{
	char head[64];
	snprintf(head, sizeof head, "dmt_%lld_", (long long)id);
	assert_int_equal(strncmp(t, head, strlen(head)), 0);
	const char *sec = t + strlen(head);
	assert_int_equal(strlen(sec), REGISTRY_TOKEN_SECRET);
	for (const char *p = sec; *p; p++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                       "0123456789-_",
		                       *p));
}

/* Run SQL on the registry behind the library's back. */
static void
sql(const char *q)
{
	char p[512];
	sqlite3 *db = NULL;
	snprintf(p, sizeof p, "%s/%s", dir, REGISTRY_FILE);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", q, msg ? msg : "?");
	sqlite3_close(db);
}

struct token_list {
	char text[4096];
	size_t len;
	unsigned rows;
	unsigned live;
};

static int
collect_tokens(void *arg, const struct registry_token_row *r)
{
	struct token_list *c = arg;
	int n = snprintf(c->text + c->len, sizeof c->text - c->len, "%lld|%s|%lld|%d|%s|%s;",
	                 (long long)r->id, r->account ? r->account : "-", (long long)r->account_id,
	                 r->admin, r->name, r->revoked_at ? "revoked" : "live");
	assert_true(n > 0 && (size_t)n < sizeof c->text - c->len);
	assert_true(r->created_at > 0);
	c->len += (size_t)n;
	c->rows++;
	c->live += r->revoked_at == 0;
	return 0;
}

static void
test_token_check(void **state)
{
	char t1[REGISTRY_TOKEN_MAX + 1], t2[REGISTRY_TOKEN_MAX + 1], ta[REGISTRY_TOKEN_MAX + 1];
	int64_t acme = account("acme", 0);
	int64_t other = account("other", 0);
	int64_t id1 = token("acme", 0, "cli", 0, t1, sizeof t1);
	int64_t id2 = token("other", 0, "cli", 0, t2, sizeof t2);
	int64_t ida = token(NULL, 1, "cli", 0, ta, sizeof ta);
	assert_int_equal(id1, 1);
	assert_int_equal(id2, 2);
	assert_int_equal(ida, 3);
	assert_token_form(t1, id1);
	assert_token_form(t2, id2);
	assert_token_form(ta, ida);
	assert_string_not_equal(t1 + 6, t2 + 6);

	struct registry *reg = load();
	int64_t acct = -1, tid = -1;
	int admin = -1;
	assert_int_equal(registry_token_check(reg, t1, &acct, &admin, &tid), 0);
	assert_int_equal(acct, acme);
	assert_int_equal(admin, 0);
	assert_int_equal(tid, id1);
	assert_int_equal(registry_token_check(reg, t2, &acct, &admin, &tid), 0);
	assert_int_equal(acct, other);
	assert_int_equal(admin, 0);
	assert_int_equal(tid, id2);
	assert_int_equal(registry_token_check(reg, ta, &acct, &admin, &tid), 0);
	assert_int_equal(acct, 0);
	assert_int_equal(admin, 1);
	assert_int_equal(tid, ida);
	assert_int_equal(registry_token_check(reg, ta, NULL, NULL, NULL), 0);

	/* the right id with another token's secret, or one character off */
	char wrong[REGISTRY_TOKEN_MAX + 1];
	snprintf(wrong, sizeof wrong, "dmt_1_%s", strchr(t2 + 4, '_') + 1);
	assert_int_equal(registry_token_check(reg, wrong, &acct, &admin, &tid), DM_ENOTFOUND);
	assert_int_equal(acct, 0); /* a refusal leaves nothing behind */
	assert_int_equal(admin, 0);
	assert_int_equal(tid, 0);
	snprintf(wrong, sizeof wrong, "%s", t1);
	size_t last = strlen(wrong) - 1;
	wrong[last] = wrong[last] == 'A' ? 'B' : 'A';
	assert_int_equal(registry_token_check(reg, wrong, NULL, NULL, NULL), DM_ENOTFOUND);
	/* an unknown id with a valid secret */
	snprintf(wrong, sizeof wrong, "dmt_99_%s", strchr(t1 + 4, '_') + 1);
	assert_int_equal(registry_token_check(reg, wrong, NULL, NULL, NULL), DM_ENOTFOUND);
	/* no snapshot */
	assert_int_equal(registry_token_check(NULL, t1, NULL, NULL, NULL), DM_ENOTFOUND);

	/* revoking is a change; the old snapshot is immutable, a new one refuses */
	char err[256];
	assert_int_equal(registry_changed(reg, dir), 0);
	assert_int_equal(registry_token_revoke(dir, id1, err, sizeof err), 0);
	assert_int_equal(registry_changed(reg, dir), 1);
	assert_int_equal(registry_token_check(reg, t1, NULL, NULL, NULL), 0);
	struct registry *reg2 = load();
	assert_int_equal(registry_token_check(reg2, t1, &acct, &admin, &tid), DM_ENOTFOUND);
	assert_int_equal(registry_token_check(reg2, t2, NULL, NULL, NULL), 0);
	assert_int_equal(registry_token_check(reg2, ta, NULL, NULL, NULL), 0);
	/* twice, unknown, nonsense ids: refused, and no change */
	err[0] = '\0';
	assert_int_equal(registry_token_revoke(dir, id1, err, sizeof err), DM_ENOTFOUND);
	assert_non_null(strstr(err, "no live token"));
	assert_int_equal(registry_token_revoke(dir, 42, err, sizeof err), DM_ENOTFOUND);
	assert_int_equal(registry_token_revoke(dir, 0, err, sizeof err), DM_ENOTFOUND);
	assert_int_equal(registry_token_revoke(dir, -1, err, sizeof err), DM_ENOTFOUND);
	assert_int_equal(registry_changed(reg2, dir), 0);
	registry_free(reg2);
	registry_free(reg);

	/* the list: every token, revoked ones too, by id */
	struct token_list c = {0};
	assert_int_equal(registry_list_tokens(dir, collect_tokens, &c, err, sizeof err), 0);
	assert_string_equal(c.text,
	                    "1|acme|1|0|cli|revoked;2|other|2|0|cli|live;3|-|0|1|cli|live;");
	/* a new token never reuses a revoked one's id */
	assert_int_equal(registry_token_revoke(dir, ida, err, sizeof err), 0);
	assert_int_equal(token(NULL, 1, "cli", 0, ta, sizeof ta), 4);
}

/* Only SHA-256 of the secret is stored: neither the secret nor the token
 * is anywhere in the files. */
static void
test_token_stored_hash(void **state)
{
	char t[REGISTRY_TOKEN_MAX + 1], p[512];
	int64_t id = token(NULL, 1, "ops", 0, t, sizeof t);
	const char *secret = strchr(t + 4, '_') + 1;
	unsigned char want[32];
	unsigned int n = 0;
	assert_int_equal(EVP_Digest(secret, strlen(secret), want, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, 32);

	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	snprintf(p, sizeof p, "%s/%s", dir, REGISTRY_FILE);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT hash, account_id, admin, name, revoked_at"
	                                    " FROM tokens WHERE id = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), 32);
	assert_memory_equal(sqlite3_column_blob(st, 0), want, 32);
	assert_int_equal(sqlite3_column_int64(st, 1), 0);
	assert_int_equal(sqlite3_column_int(st, 2), 1);
	assert_string_equal((const char *)sqlite3_column_text(st, 3), "ops");
	assert_int_equal(sqlite3_column_type(st, 4), SQLITE_NULL);
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* the whole of every file, main and -wal, holds no secret */
	static const char *const files[] = {REGISTRY_FILE, REGISTRY_FILE "-wal"};
	for (size_t i = 0; i < 2; i++) {
		char buf[1 << 16];
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		FILE *f = fopen(p, "rb");
		if (!f)
			continue;
		size_t got;
		while ((got = fread(buf, 1, sizeof buf, f)) > 0)
			assert_null(memmem(buf, got, secret, 16));
		fclose(f);
	}
}

static void
test_token_malformed(void **state)
{
	char t[REGISTRY_TOKEN_MAX + 1], bad[2048];
	account("acme", 0);
	int64_t id = token("acme", 0, "cli", 0, t, sizeof t);
	assert_int_equal(id, 1);
	const char *secret = t + 6; /* after "dmt_1_" */
	assert_int_equal(strlen(secret), 43);
	struct registry *reg = load();
	assert_int_equal(registry_token_check(reg, t, NULL, NULL, NULL), 0);

#define REFUSED(...)                                                                               \
	do {                                                                                       \
		snprintf(bad, sizeof bad, __VA_ARGS__);                                            \
		if (registry_token_check(reg, bad, NULL, NULL, NULL) != DM_ENOTFOUND)              \
			fail_msg("token '%s' was accepted", bad);                                  \
	} while (0)
	REFUSED("%s", "");
	REFUSED("dmt_");
	REFUSED("dmt_1");
	REFUSED("dmt_1_");
	REFUSED("DMT_1_%s", secret);
	REFUSED("dmt-1_%s", secret);
	REFUSED("xdmt_1_%s", secret);
	REFUSED(" dmt_1_%s", secret);
	REFUSED("dmt__%s", secret);
	REFUSED("dmt_x_%s", secret);
	REFUSED("dmt_1x_%s", secret);
	REFUSED("dmt_01_%s", secret);
	REFUSED("dmt_0_%s", secret);
	REFUSED("dmt_+1_%s", secret);
	REFUSED("dmt_-1_%s", secret);
	REFUSED("dmt_ 1_%s", secret);
	REFUSED("dmt_1%s", secret);
	REFUSED("dmt_1-%s", secret);
	REFUSED("dmt_99999999999999999999_%s", secret); /* beyond int64 */
	REFUSED("dmt_18446744073709551617_%s", secret); /* 2^64 + 1: wraps to 1 */
	REFUSED("dmt_1_%.42s", secret);
	REFUSED("dmt_1_%sA", secret);
	REFUSED("dmt_1_%s\n", secret);
	REFUSED("dmt_1_%s ", secret);
	REFUSED("dmt_1_%s=", secret);
	REFUSED("dmt_1_%.42s=", secret);
	REFUSED("dmt_1_%.42s+", secret);
	REFUSED("dmt_1_%.42s/", secret);
	REFUSED("dmt_1_%.42s.", secret);
	REFUSED("dmt_1_%.42s\xc3", secret);
	REFUSED("dmt_1_/%.42s", secret);
	/* too long: refused before it is looked at, whatever follows */
	memset(bad, 'A', sizeof bad - 1);
	bad[sizeof bad - 1] = '\0';
	memcpy(bad, t, strlen(t));
	assert_int_equal(registry_token_check(reg, bad, NULL, NULL, NULL), DM_ENOTFOUND);
	assert_int_equal(registry_token_check(reg, NULL, NULL, NULL, NULL), DM_ENOTFOUND);
	/* and the real one still passes */
	assert_int_equal(registry_token_check(reg, t, NULL, NULL, NULL), 0);
	/* the longest id that can be written is parsed, and simply unknown */
	REFUSED("dmt_9223372036854775807_%s", secret);
	assert_int_equal(strlen(bad), REGISTRY_TOKEN_MAX);
#undef REFUSED
	registry_free(reg);
}

/* An account token is only as good as its account; an admin token has none. */
static void
test_token_account_gone(void **state)
{
	char t[REGISTRY_TOKEN_MAX + 1], ta[REGISTRY_TOKEN_MAX + 1], tb[REGISTRY_TOKEN_MAX + 1];
	account("acme", 0);
	int64_t beta = account("beta", 0);
	token("acme", 0, "cli", 0, t, sizeof t);
	token("beta", 0, "cli", 0, tb, sizeof tb);
	token(NULL, 1, "cli", 0, ta, sizeof ta);
	sql("DELETE FROM accounts WHERE name = 'acme'");
	struct registry *reg = load();
	assert_int_equal(registry_token_check(reg, t, NULL, NULL, NULL), DM_ENOTFOUND);
	int64_t acct = -1;
	assert_int_equal(registry_token_check(reg, tb, &acct, NULL, NULL), 0);
	assert_int_equal(acct, beta);
	assert_int_equal(registry_token_check(reg, ta, NULL, NULL, NULL), 0);
	registry_free(reg);
	/* the list still shows it, by account id */
	struct token_list c = {0};
	char err[256];
	assert_int_equal(registry_list_tokens(dir, collect_tokens, &c, err, sizeof err), 0);
	assert_string_equal(c.text, "1|-|1|0|cli|live;2|beta|2|0|cli|live;3|-|0|1|cli|live;");
}

static void
test_token_replace(void **state)
{
	char t[6][REGISTRY_TOKEN_MAX + 1], err[256];
	account("acme", 0);
	account("beta", 0);
	token("acme", 0, "run", 0, t[0], sizeof t[0]);   /* 1 */
	token("acme", 0, "run", 0, t[1], sizeof t[1]);   /* 2: same name, no replace: both live */
	token("acme", 0, "other", 0, t[2], sizeof t[2]); /* 3 */
	token("beta", 0, "run", 0, t[3], sizeof t[3]);   /* 4 */
	token(NULL, 1, "run", 0, t[4], sizeof t[4]);     /* 5 */
	struct token_list c = {0};
	assert_int_equal(registry_list_tokens(dir, collect_tokens, &c, err, sizeof err), 0);
	assert_int_equal(c.live, 5);

	/* replace: acme's "run" tokens go, nobody else's */
	assert_int_equal(token("acme", 0, "run", 1, t[5], sizeof t[5]), 6);
	memset(&c, 0, sizeof c);
	assert_int_equal(registry_list_tokens(dir, collect_tokens, &c, err, sizeof err), 0);
	assert_string_equal(c.text, "1|acme|1|0|run|revoked;2|acme|1|0|run|revoked;"
	                            "3|acme|1|0|other|live;4|beta|2|0|run|live;5|-|0|1|run|live;"
	                            "6|acme|1|0|run|live;");
	struct registry *reg = load();
	assert_int_equal(registry_token_check(reg, t[0], NULL, NULL, NULL), DM_ENOTFOUND);
	assert_int_equal(registry_token_check(reg, t[1], NULL, NULL, NULL), DM_ENOTFOUND);
	for (int i = 2; i < 6; i++)
		assert_int_equal(registry_token_check(reg, t[i], NULL, NULL, NULL), 0);
	registry_free(reg);

	/* admin replace touches the admin's only; with nothing to replace it just adds */
	assert_int_equal(token(NULL, 1, "run", 1, t[4], sizeof t[4]), 7);
	assert_int_equal(token(NULL, 1, "fresh", 1, t[0], sizeof t[0]), 8);
	memset(&c, 0, sizeof c);
	assert_int_equal(registry_list_tokens(dir, collect_tokens, &c, err, sizeof err), 0);
	assert_int_equal(c.rows, 8);
	assert_int_equal(c.live, 5); /* 3, 4, 6, 7, 8 */
	assert_non_null(strstr(c.text, "5|-|0|1|run|revoked;"));
	assert_non_null(strstr(c.text, "4|beta|2|0|run|live;"));
}

static void
test_token_invalid(void **state)
{
	char t[REGISTRY_TOKEN_MAX + 1], err[256], big[80];
	int64_t id = 7;
	/* an account that cannot exist creates no registry */
	assert_int_equal(
	        registry_token_add(dir, "acme", 0, "cli", 0, t, sizeof t, &id, err, sizeof err),
	        DM_ENOTFOUND);
	assert_non_null(strstr(err, "no such account 'acme'"));
	assert_int_equal(id, 0);
	assert_false(file_exists(REGISTRY_FILE));
	assert_int_equal(registry_token_revoke(dir, 1, err, sizeof err), DM_ENOTFOUND);
	assert_false(file_exists(REGISTRY_FILE));
	struct token_list c = {0};
	assert_int_equal(registry_list_tokens(dir, collect_tokens, &c, err, sizeof err), 0);
	assert_int_equal(c.rows, 0);

	account("acme", 0);
	assert_int_equal(
	        registry_token_add(dir, "nobody", 0, "cli", 0, t, sizeof t, &id, err, sizeof err),
	        DM_ENOTFOUND);
	assert_int_equal(
	        registry_token_add(dir, "bad name", 0, "cli", 0, t, sizeof t, &id, err, sizeof err),
	        DM_ENOTFOUND);
	/* an account and admin, or neither */
	assert_int_equal(
	        registry_token_add(dir, "acme", 1, "cli", 0, t, sizeof t, &id, err, sizeof err),
	        DM_EINVAL);
	assert_int_equal(
	        registry_token_add(dir, NULL, 0, "cli", 0, t, sizeof t, &id, err, sizeof err),
	        DM_EINVAL);
	/* names */
	static const char *const names[] = {"", "a b", "x/y", "caf\xc3\xa9", "a;b"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		err[0] = '\0';
		assert_int_equal(registry_token_add(dir, "acme", 0, names[i], 0, t, sizeof t, &id,
		                                    err, sizeof err),
		                 DM_EINVAL);
		assert_non_null(strstr(err, "invalid token name"));
	}
	assert_int_equal(
	        registry_token_add(dir, "acme", 0, NULL, 0, t, sizeof t, &id, err, sizeof err),
	        DM_EINVAL);
	memset(big, 'n', 65);
	big[65] = '\0';
	assert_int_equal(
	        registry_token_add(dir, "acme", 0, big, 0, t, sizeof t, &id, err, sizeof err),
	        DM_EINVAL);
	big[64] = '\0';
	token("acme", 0, big, 0, t, sizeof t);
	/* a buffer that could not hold every token, even if this one would fit */
	assert_int_equal(registry_token_add(dir, "acme", 0, "cli", 0, t, REGISTRY_TOKEN_MAX, &id,
	                                    err, sizeof err),
	                 DM_EINVAL);
	assert_int_equal(
	        registry_token_add(dir, "acme", 0, "cli", 0, NULL, 0, &id, err, sizeof err),
	        DM_EINVAL);
	/* account names match as for domains: whatever the case */
	token("ACME", 0, "cli", 0, t, sizeof t);
	memset(&c, 0, sizeof c);
	assert_int_equal(registry_list_tokens(dir, collect_tokens, &c, err, sizeof err), 0);
	assert_int_equal(c.rows, 2);
}

/* A registry written before tokens existed: read as having none; the
 * next write adds the table. */
static void
test_token_old_registry(void **state)
{
	char t[REGISTRY_TOKEN_MAX + 1], err[256];
	account("acme", 0);
	sql("DROP TABLE tokens");
	struct registry *reg = load();
	assert_int_equal(registry_token_check(reg,
	                                      "dmt_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	                                      NULL, NULL, NULL),
	                 DM_ENOTFOUND);
	struct token_list c = {0};
	assert_int_equal(registry_list_tokens(dir, collect_tokens, &c, err, sizeof err), 0);
	assert_int_equal(c.rows, 0);
	assert_int_equal(registry_token_revoke(dir, 1, err, sizeof err), DM_ENOTFOUND);
	int64_t id = token("acme", 0, "cli", 0, t, sizeof t);
	assert_int_equal(registry_changed(reg, dir), 1);
	registry_free(reg);
	reg = load();
	int64_t acct = 0;
	assert_int_equal(registry_token_check(reg, t, &acct, NULL, NULL), 0);
	assert_int_equal(acct, 1);
	assert_int_equal(id, 1);
	registry_free(reg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catch_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_same_stat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lists_sorted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_callback_stops, setup, teardown),
		cmocka_unit_test(test_dns_records),
		cmocka_unit_test_setup_teardown(test_token_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_stored_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_account_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_old_registry, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
