/*
 * registry.h - who may send to whom: accounts, their domains and the
 * report addresses that receive for them.
 *
 * Kept in its own small SQLite file, <data_dir>/registry.sqlite, apart
 * from the analytics store; or, when the store is PostgreSQL
 * (registry_use_postgres), in the schema dmarcd_registry of the store's
 * database, so that every node writing into it serves the same tenants
 * (the data_dir arguments are then not read); or, when the store is
 * ClickHouse (registry_use_clickhouse), published whole in the store's
 * database and read from a local copy, <data_dir>/registry.ch.sqlite,
 * kept up to date.  Tables:
 *
 *   accounts(id INTEGER PRIMARY KEY, name TEXT UNIQUE, catch_all INT, created_at INT)
 *   domains(id INTEGER PRIMARY KEY, domain TEXT UNIQUE, account_id INT, created_at INT)
 *   addresses(id INTEGER PRIMARY KEY, address TEXT UNIQUE, account_id INT,
 *             domain_id INT NULL, created_at INT)
 *   tokens(id INTEGER PRIMARY KEY, account_id INT (0 for admin), admin INT,
 *          name TEXT, hash BLOB (SHA-256 of the secret), created_at INT,
 *          revoked_at INT NULL)
 *
 * Account ids start at 1; id 0 means "unclaimed" (stored, counted, seen
 * by the admin only).  Domains and addresses are stored lower-case (an
 * address's local part too: report addresses are ours to choose, and
 * postmasters expect case not to matter).
 *
 * API tokens authenticate the read API.  A token is
 * "dmt_<id>_<secret>": the row id in decimal and 43 characters of
 * base64url (32 random bytes, no padding).  Only the SHA-256 of the 43
 * secret characters is stored, so a token is shown once, when it is
 * made.  An admin token sees every account; an account token its own.
 * Tokens are revoked, never deleted (the list keeps who had access).
 *
 * The server reads a snapshot (struct registry, immutable, safe to share
 * between threads) and replaces it when the file changes (in PostgreSQL:
 * when the generation that every write bumps changed) or on SIGHUP.
 */
#ifndef DM_REGISTRY_H
#define DM_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/limits.h"

#define REGISTRY_FILE "registry.sqlite"

/* The longest token: "dmt_", 19 digits of id, "_", 43 characters of
 * secret.  token_out buffers are at least REGISTRY_TOKEN_MAX + 1. */
#define REGISTRY_TOKEN_SECRET 43
#define REGISTRY_TOKEN_MAX (4 + 19 + 1 + REGISTRY_TOKEN_SECRET)

struct registry;

/* Keep the registry in PostgreSQL (url as the store's `store` setting,
 * password apart) for the rest of the process: called once, before any
 * other registry call (the commands do it when the configuration's store
 * is a postgres:// URL). */
int registry_use_postgres(const char *url, const char *password) DM_WUR;
/* Keep it in ClickHouse (the store's clickhouse:// URL) likewise: each
 * node reads a local copy kept up to date, a change is published whole
 * as the next generation (src/registry/regdb_ch.c). */
int registry_use_clickhouse(const char *url, const char *password, char *err,
                            size_t errlen) DM_WUR;

/* ---- the snapshot the server uses ---------------------------------------- */

/* Load <data_dir>/registry.sqlite (an empty registry when the file does
 * not exist yet: nothing is served). */
int registry_load(const char *data_dir, struct registry **out, char *err, size_t errlen) DM_WUR;
void registry_free(struct registry *reg);
/* 1 when <data_dir>/registry.sqlite changed since reg was loaded. */
int registry_changed(const struct registry *reg, const char *data_dir);

/* The account behind a recipient address (>= 1), or 0 when the address
 * is not served.  Exact address first, then a catch-all account.
 * "postmaster" (any case, with or without a domain) is always served:
 * it returns REGISTRY_POSTMASTER. */
#define REGISTRY_POSTMASTER (-1)
int64_t registry_rcpt(const struct registry *reg, const char *address);

/* 1 when account claims policy_domain: it is one of the account's
 * domains or a subdomain of one, or the account is catch-all. */
int registry_claims(const struct registry *reg, int64_t account, const char *policy_domain);

/* The account a report goes to: the first recipient's account that
 * claims policy_domain, else 0 (unclaimed). */
/* The report addresses of domain (as added) in the snapshot, of account
 * (0: of any), in address order, at most max into out; their number. */
size_t registry_domain_addresses(const struct registry *reg, int64_t account, const char *domain,
                                 char out[][DM_REGISTRY_MAX_ADDRESS + 1], size_t max);
int64_t registry_account_for(const struct registry *reg, const char *const *rcpt, size_t nrcpt,
                             const char *policy_domain);

/* Check an API token against the live tokens of the snapshot: 0 with
 * *account_id (0 for an admin token), *admin and *token_id set, or
 * DM_ENOTFOUND whatever is wrong (malformed, unknown id, revoked, wrong
 * secret, or the account it belongs to is gone) so a caller cannot tell
 * which.  The secret is compared in constant time.  Out pointers may be
 * NULL. */
int registry_token_check(const struct registry *reg, const char *token, int64_t *account_id,
                         int *admin, int64_t *token_id) DM_WUR;

/* Counts, for logs. */
void registry_counts(const struct registry *reg, unsigned *accounts, unsigned *domains,
                     unsigned *addresses);

/* ---- management (the CLI) ------------------------------------------------ */

/* Create an account.  DM_EEXIST if the name is taken.  Names: 1-64 of
 * [A-Za-z0-9._-]. */
int registry_account_add(const char *data_dir, const char *name, int catch_all, int64_t *id,
                         char *err, size_t errlen) DM_WUR;

/* Add domain to account (by name) and create its report address:
 * address if given, else "<token>@<report_host>" with a random token.
 * The address is written to addr_out.  DM_EEXIST if the domain is
 * registered already, DM_ENOTFOUND if there is no such account,
 * DM_EINVAL for a malformed domain or address. */
int registry_domain_add(const char *data_dir, const char *domain, const char *account,
                        const char *address, const char *report_host, char *addr_out,
                        size_t addr_len, char *err, size_t errlen) DM_WUR;

struct registry_row {
	const char *account;
	int64_t account_id;
	int catch_all;
	const char *domain;  /* NULL for account rows / catch-all addresses */
	const char *address; /* NULL for account and domain rows */
	int64_t created_at;
};

int registry_list_accounts(const char *data_dir, int (*fn)(void *arg, const struct registry_row *r),
                           void *arg, char *err, size_t errlen) DM_WUR;
int registry_list_domains(const char *data_dir, int (*fn)(void *arg, const struct registry_row *r),
                          void *arg, char *err, size_t errlen) DM_WUR;
int registry_list_addresses(const char *data_dir,
                            int (*fn)(void *arg, const struct registry_row *r), void *arg,
                            char *err, size_t errlen) DM_WUR;

/* Make an API token for account (by name; NULL with admin = 1 for an
 * admin token) and write it to token_out (at least REGISTRY_TOKEN_MAX + 1
 * bytes, else DM_EINVAL); *id is its row id.  The token is not stored,
 * only its hash: the caller shows it once.  name: 1-64 of [A-Za-z0-9._-].
 * replace = 1 first revokes the live tokens of the same name, account and
 * admin-ness (so a script that makes one each run leaves one).
 * DM_ENOTFOUND if there is no such account, DM_EINVAL for a bad name or
 * an account given with admin (or neither). */
int registry_token_add(const char *data_dir, const char *account, int admin, const char *name,
                       int replace, char *token_out, size_t token_len, int64_t *id, char *err,
                       size_t errlen) DM_WUR;

/* Revoke the token with this id.  DM_ENOTFOUND if there is no such live
 * token (unknown or revoked already). */
int registry_token_revoke(const char *data_dir, int64_t id, char *err, size_t errlen) DM_WUR;

struct registry_token_row {
	int64_t id;
	const char *account; /* NULL for an admin token (or a deleted account) */
	int64_t account_id;  /* 0 for an admin token */
	int admin;
	const char *name;
	int64_t created_at;
	int64_t revoked_at; /* 0 while live */
};

/* Every token, live and revoked, by id; never the hash. */
int registry_list_tokens(const char *data_dir,
                         int (*fn)(void *arg, const struct registry_token_row *r), void *arg,
                         char *err, size_t errlen) DM_WUR;

/* The DNS records to publish for domain with report address addr:
 * the DMARC record, and (when addr's host is outside domain) the
 * "<domain>._report._dmarc.<addr host>" authorisation record (RFC 7489
 * 7.1).  Written as zone-file lines into out; returns the length. */
size_t registry_dns_records(const char *domain, const char *addr, char *out, size_t outlen);

#endif
