/*
 * config.h - the configuration table and file.
 *
 * One row per option (name, type, default, range, help), so the file
 * parser, `dmarcd config check` and the documentation come from the same
 * place (STYLE.md habit 8).  The file is "name = value" lines with #
 * comments; errors say "file:line: ...".  Command-line flags override it.
 */
#ifndef DM_CONFIG_H
#define DM_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"
#include "common/limits.h"

/* One [fetch] section: a mailbox `dmarcd fetch` and `dmarcd serve` pull
 * report mail from (src/fetch/fetch.c, docs/FETCH.md). */
struct dm_fetch_source {
	char url[512];      /* imaps://USER@HOST[:PORT]/MAILBOX (no password) */
	char password[256]; /* never printed */
	char password_file[PATH_MAX - 256];
	char rcpt[257];   /* the envelope recipient written into the spool */
	char after[256];  /* "flag", "delete" or "move:FOLDER" */
	char interval[8]; /* serve: seconds between runs */
	char ca_file[PATH_MAX - 256];
	char plain[8];    /* imap:// without STARTTLS allowed: yes|no */
	char insecure[8]; /* no TLS verification: yes|no (logged loudly) */
	unsigned line;    /* of its [fetch] line, for errors */
};

/* One [account NAME] section: what the operator wants for an account of
 * the registry (its retention, alerts and digests: src/alert/, docs/ALERTS.md). */
struct dm_account_conf {
	char name[DM_REGISTRY_MAX_NAME + 1];
	char retention_days[8]; /* 0: keep forever */
	char alert_to[512];	/* mail addresses, comma separated; empty: none */
	char webhook_url[512];	/* http(s) URL the alerts are POSTed to; empty: none */
	char webhook_secret_file[512]; /* its HMAC key: first line */
	char digest[8];		/* off | daily | weekly */
	char digest_to[512];	/* empty: alert_to */
	char silent_days[8];	/* a daily reporter silent this long */
	char pass_drop[8];	/* DMARC pass rate points lost, day over week */
	char new_source[16];	/* failing messages of a new source */
	char rejected[8];	/* reports rejected (spool/failed) in a day */
	unsigned line;
};

struct dm_config {
	char data_dir[PATH_MAX - 256];
	char store[512]; /* "sqlite" or "postgres://USER@HOST:PORT/DB" */
	char store_password[256];		/* never printed */
	char store_password_file[PATH_MAX - 256]; /* or read from here */
	/* store = clickhouse://: a cluster of shards (docs/CONFIG.md) */
	char clickhouse_cluster[64];
	char clickhouse_shards[1024]; /* "HOST:PORT HOST:PORT ..." (HTTP) */
	char archive[32];
	/* archive = s3: an S3-compatible bucket (docs/CONFIG.md) */
	char s3_endpoint[512]; /* "https://HOST[:PORT]" */
	char s3_region[64];
	char s3_bucket[64];
	char s3_prefix[256]; /* put before every key */
	char s3_path_style[8];
	char s3_access_key[256];
	char s3_secret_key[256];		/* never printed */
	char s3_secret_key_file[PATH_MAX - 256]; /* or the key read from here */
	char log_level[16];
	char log_file[PATH_MAX - 256]; /* "" = stderr */
	/* dmarcd serve */
	char smtp_listen[512]; /* "ADDR:PORT ..." ([v6]:port); "none" = no SMTP */
	char lmtp_socket[PATH_MAX - 256]; /* "" = no LMTP */
	char workers[8];		   /* 0 = one per core */
	char hostname[256];		   /* "" = gethostname() */
	char report_host[256];		   /* host part of new report addresses */
	char tls_cert[PATH_MAX - 256];	   /* both set: STARTTLS offered */
	char tls_key[PATH_MAX - 256];
	/* SMTP limits; defaults and reasons in common/limits.h */
	char smtp_max_size[16];
	char smtp_max_rcpt[8];
	char smtp_max_errors[8];
	char smtp_timeout[8];
	char smtp_data_timeout[8];
	char smtp_max_sessions[8];
	char smtp_max_per_ip[8];
	/* HTTP: the API and the dashboard */
	char http_listen[512]; /* "ADDR:PORT ..."; "none" = no HTTP */
	char web_dir[PATH_MAX - 256];
	char http_max_conns[8];
	char http_max_per_ip[8];
	char http_timeout[8];
	char http_threads[8];
	/* DNS (src/dns/) */
	char resolver[512];	 /* "ADDR:PORT,..."; "" = the system's */
	char dns_timeout_ms[8];
	/* enrichment (src/enrich/) */
	char enrich[8];
	char asn_db[PATH_MAX - 256];
	char country_db[PATH_MAX - 256];
	char services_file[PATH_MAX - 256];
	char rdns[8];
	char enrich_fill_seconds[8];
	char rdns_rate[8];
	/* failure reports: what of the original message is kept */
	char failure_redact[8];
	/* alerts and digests: how mail is sent and how often rules run */
	char smtp_relay[256]; /* HOST:PORT of the relay alert mail goes through */
	char mail_from[257];  /* the sender of alert and digest mail */
	char alert_interval[8];
	char alerts[8]; /* on | off: serve runs the rules (one node of a cluster) */
	/* retention: serve's prune thread (src/serve/prune.c) */
	char prune_interval[8];
	/* [account NAME] sections, in file order */
	struct dm_account_conf accounts[DM_CONFIG_MAX_ACCOUNTS];
	unsigned naccounts;
	/* [fetch] sections, in file order */
	struct dm_fetch_source fetch[DM_FETCH_MAX_SOURCES];
	unsigned nfetch;
};

/* DM_CFG_INT: decimal, choices is "MIN..MAX"; the value stays a string
 * (dm_config_int() reads it).  DM_CFG_SECRET: a string that is never
 * printed (dm_config_write shows whether it is set). */
enum dm_config_type { DM_CFG_STR, DM_CFG_ENUM, DM_CFG_INT, DM_CFG_SECRET };

struct dm_config_opt {
	const char *name;
	enum dm_config_type type;
	const char *def;
	const char *choices; /* "a|b|c" for DM_CFG_ENUM */
	size_t off, size;
	const char *help;
};

extern const struct dm_config_opt dm_config_table[];
/* The options of a [fetch] section (offsets into struct dm_fetch_source). */
extern const struct dm_config_opt dm_fetch_table[];
/* The options of an [account NAME] section (struct dm_account_conf). */
extern const struct dm_config_opt dm_account_table[];
/* An [account] section's defaults (what an account without one gets). */
void dm_config_account_defaults(struct dm_account_conf *a);
/* The [account NAME] section of name, or NULL. */
const struct dm_account_conf *dm_config_account(const struct dm_config *c, const char *name);

void dm_config_defaults(struct dm_config *c);
/* Load path over the current values. */
int dm_config_load(struct dm_config *c, const char *path, char *err, size_t errlen) DM_WUR;
/* The same from an open stream; name is what errors call it. */
int dm_config_read(struct dm_config *c, FILE *f, const char *name, char *err,
		   size_t errlen) DM_WUR;
/* Set one option by name (used by the file parser and by flags). */
int dm_config_set(struct dm_config *c, const char *name, const char *value, char *err,
		  size_t errlen) DM_WUR;
/* Set one option of a [fetch] section. */
int dm_config_fetch_set(struct dm_fetch_source *f, const char *name, const char *value, char *err,
			size_t errlen) DM_WUR;
/* Check a [fetch] section once read (url, rcpt and after are well formed). */
int dm_config_fetch_check(const struct dm_fetch_source *f, char *err, size_t errlen) DM_WUR;
void dm_config_write(const struct dm_config *c, FILE *out);
void dm_config_help(FILE *out);
/* The integer value of a DM_CFG_INT option (validated when set). */
long dm_config_int(const char *value);

#endif
