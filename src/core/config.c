/*
 * config.c - configuration table, defaults and "name = value" files.
 *
 * Functions: dm_config_defaults, dm_config_load, dm_config_read, dm_config_set,
 * dm_config_fetch_set, dm_config_fetch_check, dm_config_write,
 * dm_config_help.  Reports errors as "file:line: text".
 *
 * The file is flat "name = value" lines, then optional [fetch] sections
 * (one per mailbox to pull, docs/FETCH.md): every line after a [fetch]
 * line belongs to that section until the next one, so the general
 * options come first.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"

_Static_assert(DM_SMTP_MAX_SIZE == 33554432, "smtp_max_size default below must match");
#define DM_STR_(x) #x
#define DM_STR(x) DM_STR_(x)
#define OPT(field) offsetof(struct dm_config, field), sizeof(((struct dm_config *)0)->field)

const struct dm_config_opt dm_config_table[] = {
	{"data_dir", DM_CFG_STR, "./var", NULL, OPT(data_dir),
	 "folder holding the store, the archive and the spool"},
	{"store", DM_CFG_STR, "sqlite", NULL, OPT(store),
	 "analytics store: sqlite (<data_dir>/dmarcd.sqlite), postgres://USER@HOST:PORT/DB or"
	 " clickhouse://USER@HOST:HTTP_PORT/DB"},
	{"store_password", DM_CFG_SECRET, "", NULL, OPT(store_password),
	 "store = postgres:// or clickhouse://: the password (config file only; or"
	 " store_password_file)"},
	{"store_password_file", DM_CFG_STR, "", NULL, OPT(store_password_file),
	 "store = postgres:// or clickhouse://: a file whose first line is the password"},
	{"clickhouse_cluster", DM_CFG_STR, "", NULL, OPT(clickhouse_cluster),
	 "store = clickhouse://: the cluster (remote_servers of the servers' configuration)"
	 " whose shards hold the data, through Distributed tables; empty: one server"},
	{"clickhouse_shards", DM_CFG_STR, "", NULL, OPT(clickhouse_shards),
	 "clickhouse_cluster: every shard's HTTP address, HOST:PORT, space-separated, where"
	 " dmarcd makes its tables; the first also holds the registry"},
	{"archive", DM_CFG_ENUM, "fs", "fs|s3", OPT(archive),
	 "raw report archive backend (fs: <data_dir>/archive/; s3: the s3_* bucket)"},
	{"s3_endpoint", DM_CFG_STR, "", NULL, OPT(s3_endpoint),
	 "archive = s3: the service's URL, https://HOST[:PORT] (or http://, unencrypted)"},
	{"s3_region", DM_CFG_STR, "us-east-1", NULL, OPT(s3_region),
	 "archive = s3: the region requests are signed for (R2: auto)"},
	{"s3_bucket", DM_CFG_STR, "", NULL, OPT(s3_bucket), "archive = s3: the bucket"},
	{"s3_prefix", DM_CFG_STR, "", NULL, OPT(s3_prefix),
	 "archive = s3: put before every key (letters, digits, . _ - /)"},
	{"s3_path_style", DM_CFG_ENUM, "no", "yes|no", OPT(s3_path_style),
	 "archive = s3: yes = HOST/BUCKET/KEY (MinIO, Ceph RGW), no = BUCKET.HOST/KEY"},
	{"s3_access_key", DM_CFG_STR, "", NULL, OPT(s3_access_key),
	 "archive = s3: the access key id"},
	{"s3_secret_key", DM_CFG_SECRET, "", NULL, OPT(s3_secret_key),
	 "archive = s3: the secret key (config file only; or s3_secret_key_file)"},
	{"s3_secret_key_file", DM_CFG_STR, "", NULL, OPT(s3_secret_key_file),
	 "archive = s3: a file whose first line is the secret key"},
	{"log_level", DM_CFG_ENUM, "warn", "error|warn|info|debug", OPT(log_level),
	 "how much dmarcd logs on stderr"},
	{"log_file", DM_CFG_STR, "", NULL, OPT(log_file),
	 "serve: append log lines to this file once started (reopened on SIGHUP); empty = stderr"},
	{"smtp_listen", DM_CFG_STR, "127.0.0.1:2525", NULL, OPT(smtp_listen),
	 "serve: SMTP listen addresses, space separated ADDR:PORT or [V6]:PORT; none = off"},
	{"lmtp_socket", DM_CFG_STR, "", NULL, OPT(lmtp_socket),
	 "serve: path of an LMTP Unix socket (RFC 2033); empty = off"},
	{"workers", DM_CFG_INT, "0", "0..64", OPT(workers),
	 "serve: report processing threads; 0 = one per core"},
	{"hostname", DM_CFG_STR, "", NULL, OPT(hostname),
	 "serve: name in the SMTP greeting and Received headers; empty = the host's name"},
	{"report_host", DM_CFG_STR, "reports.localhost", NULL, OPT(report_host),
	 "domain of the report addresses `dmarcd domain add` creates"},
	{"tls_cert", DM_CFG_STR, "", NULL, OPT(tls_cert),
	 "serve: PEM certificate chain for STARTTLS (with tls_key); empty = no STARTTLS"},
	{"tls_key", DM_CFG_STR, "", NULL, OPT(tls_key), "serve: PEM private key for STARTTLS"},
	{"smtp_max_size", DM_CFG_INT, "33554432", "1024..33554432", OPT(smtp_max_size),
	 "serve: largest message accepted, in bytes (advertised in SIZE)"},
	{"smtp_max_rcpt", DM_CFG_INT, DM_STR(DM_SMTP_MAX_RCPT), "1..1000", OPT(smtp_max_rcpt),
	 "serve: recipients per message"},
	{"smtp_max_errors", DM_CFG_INT, DM_STR(DM_SMTP_MAX_ERRORS), "1..1000",
	 OPT(smtp_max_errors), "serve: bad commands per session before disconnect"},
	{"smtp_timeout", DM_CFG_INT, DM_STR(DM_SMTP_TIMEOUT), "1..3600", OPT(smtp_timeout),
	 "serve: seconds to wait for a command"},
	{"smtp_data_timeout", DM_CFG_INT, DM_STR(DM_SMTP_DATA_TIMEOUT), "1..3600",
	 OPT(smtp_data_timeout), "serve: seconds to wait for more message data"},
	{"smtp_max_sessions", DM_CFG_INT, DM_STR(DM_SMTP_MAX_SESSIONS), "1..100000",
	 OPT(smtp_max_sessions), "serve: concurrent SMTP/LMTP sessions in all"},
	{"smtp_max_per_ip", DM_CFG_INT, DM_STR(DM_SMTP_MAX_PER_IP), "1..100000",
	 OPT(smtp_max_per_ip), "serve: concurrent sessions from one client address"},
	{"http_listen", DM_CFG_STR, "127.0.0.1:8080", NULL, OPT(http_listen),
	 "serve: HTTP (API and dashboard) listen addresses, space separated; none = off"},
	{"web_dir", DM_CFG_STR, DM_WEB_DIR, NULL, OPT(web_dir),
	 "serve: the dashboard's files (index.html, app.js, vendor/...)"},
	{"http_max_conns", DM_CFG_INT, DM_STR(DM_HTTP_MAX_CONNS), "1..100000", OPT(http_max_conns),
	 "serve: open HTTP connections in all"},
	{"http_max_per_ip", DM_CFG_INT, DM_STR(DM_HTTP_MAX_PER_IP), "1..100000",
	 OPT(http_max_per_ip), "serve: open HTTP connections from one client address"},
	{"http_timeout", DM_CFG_INT, DM_STR(DM_HTTP_TIMEOUT), "1..3600", OPT(http_timeout),
	 "serve: seconds an HTTP connection may stay idle or take to send its request"},
	{"http_threads", DM_CFG_INT, DM_STR(DM_HTTP_QUERY_THREADS), "1..64", OPT(http_threads),
	 "serve: query threads, each with its own store connection"},
	{"resolver", DM_CFG_STR, "", NULL, OPT(resolver),
	 "DNS servers asked by record check and enrichment: ADDR:PORT or [V6]:PORT, comma"
	 " separated; empty = the system's (/etc/resolv.conf)"},
	{"dns_timeout_ms", DM_CFG_INT, DM_STR(DM_DNS_TIMEOUT_MS), "100..30000", OPT(dns_timeout_ms),
	 "milliseconds a DNS question waits for its server (asked twice)"},
	{"enrich", DM_CFG_ENUM, "on", "on|off", OPT(enrich),
	 "store each source's AS, country, reverse name and sending service with its rows"},
	{"asn_db", DM_CFG_STR, DM_ASN_DB, NULL, OPT(asn_db),
	 "enrich: an MMDB with GeoLite2-ASN's fields (default: made from @ip-location-db/asn"
	 " by the build); empty = none"},
	{"country_db", DM_CFG_STR, DM_COUNTRY_DB, NULL, OPT(country_db),
	 "enrich: an MMDB with country_code or country.iso_code (default: the npm package"
	 " @ip-location-db/geo-whois-asn-country-mmdb); empty = none"},
	{"services_file", DM_CFG_STR, DM_SERVICES_FILE, NULL, OPT(services_file),
	 "enrich: the sending-service map (data/services.conf); empty = none"},
	{"rdns", DM_CFG_ENUM, "auto", "auto|on|off", OPT(rdns),
	 "enrich: ask each source's reverse name (auto: when resolver is set)"},
	{"rdns_rate", DM_CFG_INT, DM_STR(DM_ENRICH_RDNS_RATE), "1..1000000", OPT(rdns_rate),
	 "enrich: sources whose reverse name is asked per second at most (two questions each);"
	 " the rest wait, or are asked by the fill"},
	{"enrich_fill_seconds", DM_CFG_INT, "300", "0..86400", OPT(enrich_fill_seconds),
	 "serve: how often the reverse names that missed their report's deadline are asked"
	 " again (the last " DM_STR(DM_ENRICH_FILL_DAYS) " days' reports); 0 = never"},
	{"failure_redact", DM_CFG_ENUM, "hashed", "hashed|headers|none", OPT(failure_redact),
	 "failure reports: the original message's header fields with the local part of every"
	 " address a keyed hash (hashed), as they came (headers), or none; its body never"},
	{"smtp_relay", DM_CFG_STR, "", NULL, OPT(smtp_relay),
	 "alerts and digests: HOST:PORT of the SMTP relay their mail goes through; empty ="
	 " no mail"},
	{"mail_from", DM_CFG_STR, "dmarcd@localhost", NULL, OPT(mail_from),
	 "alerts and digests: the sender address of their mail"},
	{"alerts", DM_CFG_ENUM, "on", "on|off", OPT(alerts),
	 "serve: run the alert rules, digests and their deliveries (in a cluster: on one node)"},
	{"alert_interval", DM_CFG_INT, "300", "10..86400", OPT(alert_interval),
	 "serve: seconds between two runs of the alert rules (and of due digests)"},
	{"prune_interval", DM_CFG_INT, "3600", "0..604800", OPT(prune_interval),
	 "serve: seconds between two prunes of what is past the accounts' retention_days"
	 " (first one a minute after start); 0 = never (run `dmarcd prune` instead)"},
	{NULL, 0, NULL, NULL, 0, 0, NULL},
};

#define AOPT(field)                                                                                \
	offsetof(struct dm_account_conf, field), sizeof(((struct dm_account_conf *)0)->field)

const struct dm_config_opt dm_account_table[] = {
        {"retention_days", DM_CFG_INT, "0", "0..36500", AOPT(retention_days),
         "[account]: days the account's reports, rows and archived files are kept; 0 = forever"},
        {"alert_to", DM_CFG_STR, "", NULL, AOPT(alert_to),
         "[account]: addresses alerts are mailed to, comma separated (needs smtp_relay)"},
        {"webhook_url", DM_CFG_STR, "", NULL, AOPT(webhook_url),
         "[account]: http(s) URL alerts are POSTed to as JSON"},
        {"webhook_secret_file", DM_CFG_STR, "", NULL, AOPT(webhook_secret_file),
         "[account]: a file whose first line signs the webhook's body (X-Dmarcd-Signature:"
         " sha256=HMAC)"},
        {"digest", DM_CFG_ENUM, "off", "off|daily|weekly", AOPT(digest),
         "[account]: a summary mail per day or per week"},
        {"digest_to", DM_CFG_STR, "", NULL, AOPT(digest_to),
         "[account]: where the digest goes; empty = alert_to"},
        {"silent_days", DM_CFG_INT, "2", "1..60", AOPT(silent_days),
         "[account]: alert when a reporter that reported daily has been silent this many days"},
        {"pass_drop", DM_CFG_INT, "10", "1..100", AOPT(pass_drop),
         "[account]: alert when a domain's DMARC pass rate of the last day is this many points"
         " below the week before"},
        {"new_source", DM_CFG_INT, "100", "1..1000000000", AOPT(new_source),
         "[account]: alert when a source not seen in 30 days sends this many failing messages"
         " in a day"},
        {"rejected", DM_CFG_INT, "5", "1..1000000", AOPT(rejected),
         "[account]: alert when this many report mails failed to be read in a day (the"
         " spool's failed/)"},
        {NULL, 0, NULL, NULL, 0, 0, NULL},
};

#define FOPT(field)                                                                                \
	offsetof(struct dm_fetch_source, field), sizeof(((struct dm_fetch_source *)0)->field)

const struct dm_config_opt dm_fetch_table[] = {
        {"url", DM_CFG_STR, "", NULL, FOPT(url),
         "[fetch]: the mailbox, imaps://USER@HOST[:PORT]/MAILBOX (or imap://, STARTTLS required);"
         " no password in it"},
        {"password", DM_CFG_SECRET, "", NULL, FOPT(password),
         "[fetch]: the IMAP password (config file only; or password_file)"},
        {"password_file", DM_CFG_STR, "", NULL, FOPT(password_file),
         "[fetch]: a file whose first line is the IMAP password"},
        {"rcpt", DM_CFG_STR, "", NULL, FOPT(rcpt),
         "[fetch]: the recipient address the messages are spooled for (routes them to an"
         " account as for SMTP)"},
        {"after", DM_CFG_STR, "flag", NULL, FOPT(after),
         "[fetch]: what is done to a message once it is durable in the spool: flag (\\Seen),"
         " delete, or move:FOLDER"},
        {"interval", DM_CFG_INT, "300", "10..86400", FOPT(interval),
         "[fetch]: serve: seconds between two runs"},
        {"ca_file", DM_CFG_STR, "", NULL, FOPT(ca_file),
         "[fetch]: PEM CA certificates the server's certificate is verified with; empty = the"
         " system's"},
        {"plain", DM_CFG_ENUM, "no", "yes|no", FOPT(plain),
         "[fetch]: imap:// may go on without TLS when the server offers no STARTTLS"},
        {"insecure", DM_CFG_ENUM, "no", "yes|no", FOPT(insecure),
         "[fetch]: do not verify the server's certificate (logged as a warning at every run)"},
        {NULL, 0, NULL, NULL, 0, 0, NULL},
};

static int
choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, v, n) == 0)
			return 1;
		if (!bar)
			break;
		p = bar + 1;
	}
	return 0;
}

/* store: "sqlite", or a postgres:// or clickhouse:// URL without a
 * password in it. */
static int
store_value_bad(const char *v, char *err, size_t errlen)
{
	const char *rest = NULL;
	if (strcmp(v, "sqlite") == 0)
		return 0;
	if (strncmp(v, "postgres://", 11) == 0)
		rest = v + 11;
	else if (strncmp(v, "postgresql://", 13) == 0)
		rest = v + 13;
	else if (strncmp(v, "clickhouse://", 13) == 0)
		rest = v + 13;
	if (!rest) {
		snprintf(err, errlen, "store: '%s' is not sqlite, a postgres:// or a clickhouse:// URL", v);
		return 1;
	}
	const char *at = strchr(rest, '@'), *slash = strchr(rest, '/');
	if (at && (!slash || at < slash) && memchr(rest, ':', (size_t)(at - rest))) {
		snprintf(err, errlen, "store: no password in the URL: put it in store_password_file");
		return 1;
	}
	return 0;
}

/* Set name in one table's struct at base. */
static int
table_set(const struct dm_config_opt *table, void *base, const char *name, const char *value,
          char *err, size_t errlen)
{
	for (const struct dm_config_opt *o = table; o->name; o++) {
		if (strcmp(o->name, name) != 0)
			continue;
		if (table == dm_config_table && strcmp(name, "store") == 0 &&
		    store_value_bad(value, err, errlen))
			return DM_EUSAGE;
		if (o->type == DM_CFG_ENUM && !choice_ok(o->choices, value)) {
			snprintf(err, errlen, "%s: '%s' is not one of %s", name, value, o->choices);
			return DM_EUSAGE;
		}
		if (o->type == DM_CFG_INT) {
			char *end;
			long lo = strtol(o->choices, &end, 10);
			long hi = strtol(end + 2, NULL, 10);
			errno = 0;
			long v = strtol(value, &end, 10);
			if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi) {
				snprintf(err, errlen, "%s: '%s' is not an integer in %s", name,
					 value, o->choices);
				return DM_EUSAGE;
			}
		}
		size_t n = strlen(value);
		if ((n == 0 && o->def[0] != '\0') || n >= o->size) {
			snprintf(err, errlen, "%s: value empty or too long", name);
			return DM_EUSAGE;
		}
		memcpy((char *)base + o->off, value, n + 1);
		return 0;
	}
	snprintf(err, errlen, "unknown option '%s'", name);
	return DM_EUSAGE;
}

int
dm_config_set(struct dm_config *c, const char *name, const char *value, char *err, size_t errlen)
{
	return table_set(dm_config_table, c, name, value, err, errlen);
}

/* url: imaps:// or imap://, a user, a host, no password. */
static int
fetch_url_bad(const char *v, char *err, size_t errlen)
{
	const char *rest;
	if (strncmp(v, "imaps://", 8) == 0)
		rest = v + 8;
	else if (strncmp(v, "imap://", 7) == 0)
		rest = v + 7;
	else {
		snprintf(err, errlen, "url: '%s' is not an imaps:// or imap:// URL", v);
		return 1;
	}
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(err, errlen,
			         "url: no spaces or control characters (%%20 for a space)");
			return 1;
		}
	const char *slash = strchr(rest, '/');
	size_t auth = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *at = memchr(rest, '@', auth);
	if (at && memchr(rest, ':', (size_t)(at - rest))) {
		snprintf(err, errlen,
		         "url: no password in the URL: put it in password or password_file");
		return 1;
	}
	if (!at || at == rest) {
		snprintf(err, errlen, "url: no user: imaps://USER@HOST/MAILBOX");
		return 1;
	}
	if (at + 1 == rest + auth) {
		snprintf(err, errlen, "url: no host: imaps://USER@HOST/MAILBOX");
		return 1;
	}
	if (slash && strlen(slash + 1) > DM_FETCH_MAX_MAILBOX) {
		snprintf(err, errlen, "url: the mailbox name is longer than %d bytes",
		         DM_FETCH_MAX_MAILBOX);
		return 1;
	}
	if (slash && strchr(slash + 1, ';')) {
		snprintf(err, errlen, "url: no ;UID= or other parameters: name the mailbox only");
		return 1;
	}
	return 0;
}

int
dm_config_fetch_set(struct dm_fetch_source *f, const char *name, const char *value, char *err,
                    size_t errlen)
{
	if (strcmp(name, "url") == 0 && fetch_url_bad(value, err, errlen))
		return DM_EUSAGE;
	return table_set(dm_fetch_table, f, name, value, err, errlen);
}

int
dm_config_fetch_check(const struct dm_fetch_source *f, char *err, size_t errlen)
{
	if (!f->url[0]) {
		snprintf(err, errlen, "[fetch]: no url");
		return DM_EUSAGE;
	}
	if (!f->rcpt[0] || !strchr(f->rcpt, '@') || strpbrk(f->rcpt, " <>\"\r\n")) {
		snprintf(err, errlen,
		         "[fetch] %s: rcpt must be an address (local@domain) the"
		         " registry knows, e.g. rcpt = dmarc@example.com",
		         f->url);
		return DM_EUSAGE;
	}
	if (strcmp(f->after, "flag") != 0 && strcmp(f->after, "delete") != 0) {
		const char *folder = f->after + 5;
		int ok = strncmp(f->after, "move:", 5) == 0 && *folder &&
		         strlen(folder) <= DM_FETCH_MAX_MAILBOX;
		for (const char *p = folder; ok && *p; p++)
			if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7f || *p == '"' ||
			    *p == '\\')
				ok = 0;
		if (!ok) {
			snprintf(err, errlen,
			         "[fetch] %s: after must be flag, delete or move:FOLDER (a"
			         " printable ASCII name without quotes or backslashes)",
			         f->url);
			return DM_EUSAGE;
		}
	}
	if (f->password[0] && f->password_file[0]) {
		snprintf(err, errlen, "[fetch] %s: password and password_file: set one", f->url);
		return DM_EUSAGE;
	}
	return 0;
}

void
dm_config_account_defaults(struct dm_account_conf *a)
{
	memset(a, 0, sizeof *a);
	for (const struct dm_config_opt *o = dm_account_table; o->name; o++)
		snprintf((char *)a + o->off, o->size, "%s", o->def);
}

const struct dm_account_conf *
dm_config_account(const struct dm_config *c, const char *name)
{
	for (unsigned i = 0; i < c->naccounts; i++)
		if (strcmp(c->accounts[i].name, name) == 0)
			return &c->accounts[i];
	return NULL;
}

static void
fetch_defaults(struct dm_fetch_source *f)
{
	char err[128];
	memset(f, 0, sizeof *f);
	for (const struct dm_config_opt *o = dm_fetch_table; o->name; o++)
		if (table_set(dm_fetch_table, f, o->name, o->def, err, sizeof err) != 0)
			abort(); /* a bad default is a bug */
}

void
dm_config_defaults(struct dm_config *c)
{
	char err[128];
	memset(c, 0, sizeof *c);
	for (const struct dm_config_opt *o = dm_config_table; o->name; o++)
		if (dm_config_set(c, o->name, o->def, err, sizeof err) != 0)
			abort(); /* a bad default is a bug */
}

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int
dm_config_load(struct dm_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return DM_EUSAGE;
	}
	int rc = dm_config_read(c, f, path, err, errlen);
	fclose(f);
	return rc;
}

int
dm_config_read(struct dm_config *c, FILE *f, const char *name, char *err, size_t errlen)
{
	char line[DM_MAX_CONFIG_LINE];
	unsigned lineno = 0;
	long total = 0;
	struct dm_fetch_source *sec = NULL; /* the [fetch] section being read */
	struct dm_account_conf *acct = NULL; /* the [account NAME] section being read */
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t n = strlen(line);
		total += (long)n;
		if (total > DM_MAX_CONFIG_BYTES) {
			snprintf(err, errlen, "%s:%u: file too large", name, lineno);
			return DM_EUSAGE;
		}
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			snprintf(err, errlen, "%s:%u: line too long", name, lineno);
			return DM_EUSAGE;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		if (strncmp(s, "[account ", 9) == 0 && s[strlen(s) - 1] == ']') {
			/* [account NAME]: that account's settings, until the next section */
			if (sec && dm_config_fetch_check(sec, err, errlen) != 0)
				goto section_bad;
			sec = NULL;
			char *an = trim(s + 9);
			an[strlen(an) - 1] = '\0';
			an = trim(an);
			size_t al = strlen(an);
			if (al == 0 || al > DM_REGISTRY_MAX_NAME ||
			    strspn(an, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != al) {
				snprintf(err, errlen, "%s:%u: [account NAME]: 1-%d of [A-Za-z0-9._-]", name,
				         lineno, DM_REGISTRY_MAX_NAME);
				return DM_EUSAGE;
			}
			if (dm_config_account(c, an) != NULL) {
				snprintf(err, errlen, "%s:%u: a second [account %s]", name, lineno, an);
				return DM_EUSAGE;
			}
			if (c->naccounts >= DM_CONFIG_MAX_ACCOUNTS) {
				snprintf(err, errlen, "%s:%u: more than %d [account] sections", name,
				         lineno, DM_CONFIG_MAX_ACCOUNTS);
				return DM_EUSAGE;
			}
			acct = &c->accounts[c->naccounts++];
			dm_config_account_defaults(acct);
			snprintf(acct->name, sizeof acct->name, "%s", an);
			acct->line = lineno;
			continue;
		}
		if (*s == '[') {
			if (strcmp(s, "[fetch]") != 0) {
				snprintf(err, errlen,
				         "%s:%u: unknown section %s (only [fetch] and [account NAME])",
				         name, lineno, s);
				return DM_EUSAGE;
			}
			acct = NULL;
			if (sec && dm_config_fetch_check(sec, err, errlen) != 0)
				goto section_bad;
			if (c->nfetch >= DM_FETCH_MAX_SOURCES) {
				snprintf(err, errlen, "%s:%u: more than %d [fetch] sections", name,
				         lineno, DM_FETCH_MAX_SOURCES);
				return DM_EUSAGE;
			}
			sec = &c->fetch[c->nfetch++];
			fetch_defaults(sec);
			sec->line = lineno;
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'name = value'", name, lineno);
			return DM_EUSAGE;
		}
		*eq = '\0';
		char msg[256];
		int rc = sec    ? dm_config_fetch_set(sec, trim(s), trim(eq + 1), msg, sizeof msg)
		         : acct ? table_set(dm_account_table, acct, trim(s), trim(eq + 1), msg,
		                            sizeof msg)
		                : dm_config_set(c, trim(s), trim(eq + 1), msg, sizeof msg);
		if (rc != 0) {
			snprintf(err, errlen, "%s:%u: %s", name, lineno, msg);
			return DM_EUSAGE;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", name);
		return DM_EUSAGE;
	}
	if (sec && dm_config_fetch_check(sec, err, errlen) != 0)
		goto section_bad;
	return 0;
section_bad : {
	char msg[512];
	snprintf(msg, sizeof msg, "%s", err);
	snprintf(err, errlen, "%s:%u: %s", name, sec->line, msg);
	return DM_EUSAGE;
}
}

void
dm_config_write(const struct dm_config *c, FILE *out)
{
	for (const struct dm_config_opt *o = dm_config_table; o->name; o++) {
		const char *v = (const char *)c + o->off;
		if (o->type == DM_CFG_SECRET)
			fprintf(out, "# %s is %s\n", o->name, *v ? "set" : "not set");
		else
			fprintf(out, "%s = %s\n", o->name, v);
	}
	for (unsigned i = 0; i < c->naccounts; i++) {
		fprintf(out, "\n[account %s]\n", c->accounts[i].name);
		for (const struct dm_config_opt *o = dm_account_table; o->name; o++)
			fprintf(out, "%s = %s\n", o->name, (const char *)&c->accounts[i] + o->off);
	}
	for (unsigned i = 0; i < c->nfetch; i++) {
		fprintf(out, "\n[fetch]\n");
		for (const struct dm_config_opt *o = dm_fetch_table; o->name; o++) {
			const char *v = (const char *)&c->fetch[i] + o->off;
			if (o->type == DM_CFG_SECRET)
				fprintf(out, "# %s is %s\n", o->name, *v ? "set" : "not set");
			else
				fprintf(out, "%s = %s\n", o->name, v);
		}
	}
}

long
dm_config_int(const char *value)
{
	return strtol(value, NULL, 10);
}

static void
help_table(const struct dm_config_opt *t, FILE *out)
{
	for (const struct dm_config_opt *o = t; o->name; o++) {
		fprintf(out, "  %-17s %s (default: %s", o->name, o->help,
			o->def[0] ? o->def : "empty");
		if (o->choices)
			fprintf(out, o->type == DM_CFG_INT ? "; %s" : "; one of %s", o->choices);
		fprintf(out, ")\n");
	}
}

void
dm_config_help(FILE *out)
{
	help_table(dm_config_table, out);
	fprintf(out, "\n[fetch] sections (after the options above; one per mailbox to pull):\n");
	help_table(dm_fetch_table, out);
	fprintf(out, "\n[account NAME] sections (after the options above; one per account with"
	             " settings of its own):\n");
	help_table(dm_account_table, out);
}
