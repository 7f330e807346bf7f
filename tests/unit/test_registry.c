/*
 * test_registry.c - the registry: accounts, domains, report addresses.
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
