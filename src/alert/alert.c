/*
 * alert.c - alert rules, their notices, digests and the delivery queue
 * (alert.h, docs/ALERTS.md).
 *
 * Functions: alert_run, alert_list.
 *
 * A run reads the store through a reader with each account's scope (the
 * store layer keeps the accounts apart, as for the API), so a rule can
 * only ever see the account it is evaluated for.  Conditions found now
 * are reconciled with the open alerts of alerts.sqlite: new ones open
 * (a notice is queued), gone ones resolve (a resolve notice is queued);
 * a rule that was not evaluated this run (dns without a resolver, a
 * store read that failed) leaves its alerts as they are.
 *
 * Everything in a notice that came from a report (reporter names, the
 * DMARC record read from the DNS) is attacker-controlled: it reaches a
 * mail header only with control characters removed and cut, and the
 * webhook's JSON only through the JSON writer.
 *
 * Logs what it opens, resolves and fails to deliver (category "alert").
 */
#include "alert/alert.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/day.h"
#include "common/hash.h"
#include "common/ip.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "core/config.h"
#include "dns/advise.h"
#include "dns/resolver.h"
#include "enrich/services.h"
#include "registry/registry.h"
#include "spool/spool.h"
#include "store/store.h"

#define DAY 86400

static const char state_sql[] =
        "CREATE TABLE IF NOT EXISTS alerts(id INTEGER PRIMARY KEY, key TEXT NOT NULL,"
        " account_id INTEGER NOT NULL, rule TEXT NOT NULL, domain TEXT NOT NULL,"
        " subject TEXT NOT NULL, message TEXT NOT NULL, opened_at INTEGER NOT NULL,"
        " resolved_at INTEGER);"
        "CREATE UNIQUE INDEX IF NOT EXISTS alerts_open ON alerts(key) WHERE resolved_at IS NULL;"
        "CREATE TABLE IF NOT EXISTS outbox(id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,"
        " channel TEXT NOT NULL, target TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, sent_at INTEGER,"
        " given_up INTEGER NOT NULL DEFAULT 0, last_error TEXT);"
        "CREATE TABLE IF NOT EXISTS digests(account_id INTEGER PRIMARY KEY, period TEXT NOT NULL,"
        " sent_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS dns_seen(account_id INTEGER NOT NULL, domain TEXT NOT NULL,"
        " record TEXT NOT NULL, PRIMARY KEY(account_id, domain));";

/* ---- the state file --------------------------------------------------------------- */

static sqlite3 *
state_open(const char *data_dir, int ro, char *err, size_t errlen)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	snprintf(path, sizeof path, "%s/alerts.sqlite", data_dir);
	int flags = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 10000);
		if (!ro)
			rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL);
		if (rc == SQLITE_OK && !ro)
			rc = sqlite3_exec(db, state_sql, NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%.300s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* ---- text for mail and logs ---------------------------------------------------------- */

/* s without control characters (a tab kept in the body), cut at max
 * bytes on a character boundary, into b. */
static int
clean(struct dm_buf *b, const char *s, size_t max, int keep_newlines)
{
	size_t n = 0, start = b->len;
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && n < max; p++, n++) {
		unsigned char c = *p;
		if (c == '\n' && keep_newlines) {
			if (dm_buf_add(b, "\n", 1))
				return DM_ELIMIT;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			c = ' ';
		if (dm_buf_addc(b, (char)c))
			return DM_ELIMIT;
	}
	/* a cut UTF-8 sequence at the end goes */
	while (b->len > start && ((unsigned char)b->data[b->len - 1] & 0xc0) == 0x80)
		b->len--;
	if (b->len > start && ((unsigned char)b->data[b->len - 1] & 0xc0) == 0xc0)
		b->len--;
	return dm_buf_addc(b, '\0') ? DM_ELIMIT : (b->len--, 0);
}

/* ---- one account's rules ---------------------------------------------------------------- */

struct cond {
	char rule[16];
	char domain[DM_MAX_DOMAIN_LEN + 1];
	char subject[DM_ALERT_MAX_SUBJECT + 1];
	char message[DM_ALERT_MAX_MESSAGE + 1];
};

struct run {
	const struct dm_config *cfg;
	struct store *st;
	struct store_reader *rd;
	sqlite3 *db;
	struct registry *reg;
	struct dm_resolver *res;
	struct dm_services *svc;
	int64_t now, day; /* the last complete day */
	struct alert_totals *t;
	int (*stop)(void *arg);
	void *stop_arg;
	/* the account being evaluated */
	int64_t account;
	const char *name;
	struct dm_account_conf conf;
	struct cond *conds;
	size_t nconds, capconds;
	int evaluated[8]; /* which rules ran for it (index: rule_index) */
};

static int stopping(struct run *r);

static const char *const rules[] = {"silent", "rejected", "pass_drop", "new_source", "dns", NULL};

static int
rule_index(const char *r)
{
	for (int i = 0; rules[i]; i++)
		if (strcmp(rules[i], r) == 0)
			return i;
	return -1;
}

static void DM_PRINTF(5, 6)
cond_add(struct run *r, const char *rule, const char *domain, const char *subject,
         const char *fmt, ...)
{
	if (r->nconds == DM_ALERT_MAX_CONDITIONS)
		return; /* more at once than anyone reads: the first ones say it */
	if (r->nconds == r->capconds) {
		r->capconds = r->capconds ? 2 * r->capconds : 16;
		r->conds = xrealloc(r->conds, r->capconds * sizeof *r->conds);
	}
	struct cond *c = &r->conds[r->nconds++];
	va_list ap;
	snprintf(c->rule, sizeof c->rule, "%s", rule);
	snprintf(c->domain, sizeof c->domain, "%s", domain ? domain : "");
	snprintf(c->subject, sizeof c->subject, "%s", subject ? subject : "");
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof c->message, fmt, ap);
	va_end(ap);
}

static struct store_filter
range(const char *domain, int64_t from, int64_t to)
{
	struct store_filter f = {.domain = domain, .from = from, .to = to, .reporter = NULL};
	return f;
}

/* silent: per day, the reporters of the domain. */
struct seen_reporters {
	char (*names)[DM_MAX_ID_LEN + 1];
	unsigned *days; /* bit i: seen on day i */
	size_t n, cap;
	unsigned bit;
};

static int
reporter_seen(void *arg, const struct store_reporter_row *row)
{
	struct seen_reporters *s = arg;
	size_t i = 0;
	while (i < s->n && strcmp(s->names[i], row->reporter) != 0)
		i++;
	if (i == s->n) {
		if (s->n == DM_ALERT_MAX_REPORTERS)
			return 0;
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 16;
			s->names = xrealloc(s->names, s->cap * sizeof *s->names);
			s->days = xrealloc(s->days, s->cap * sizeof *s->days);
		}
		snprintf(s->names[s->n], sizeof s->names[0], "%s", row->reporter);
		s->days[s->n++] = 0;
	}
	s->days[i] |= 1u << s->bit;
	return 0;
}

static int
rule_silent(struct run *r, const struct store_scope *sc, const char *domain)
{
	long silent = dm_config_int(r->conf.silent_days);
	struct seen_reporters s = {0};
	int rc = 0;
	/* bits 0..6: the week before the silence; 7..: the silent days */
	unsigned ndays = 7 + (unsigned)silent;
	for (unsigned i = 0; rc == 0 && i < ndays && i < 31 && !stopping(r); i++) {
		int64_t d = r->day - (int64_t)(ndays - 1 - i) * DAY;
		struct store_filter f = range(domain, d, d);
		s.bit = i;
		rc = store_reporters(sc, r->rd, &f, reporter_seen, &s);
		if (rc == DM_ENOTFOUND)
			rc = 0;
	}
	for (size_t i = 0; rc == 0 && i < s.n; i++) {
		unsigned week = s.days[i] & 0x7f, later = s.days[i] >> 7;
		if (__builtin_popcount(week) >= 5 && later == 0)
			cond_add(r, "silent", domain, s.names[i],
			         "%s sent reports for %s on %d of 7 days, then none for %ld days",
			         s.names[i], domain, __builtin_popcount(week), silent);
	}
	free(s.names);
	free(s.days);
	return rc;
}

static double
rate(const struct store_counts *c)
{
	return c->messages ? 100.0 * (double)c->dmarc_pass / (double)c->messages : 0;
}

static int
rule_pass_drop(struct run *r, const struct store_scope *sc, const char *domain)
{
	struct store_counts last, before;
	uint64_t n;
	struct store_filter f = range(domain, r->day, r->day);
	int rc = store_summary(sc, r->rd, &f, &n, &last);
	if (rc == 0) {
		f = range(domain, r->day - 7 * DAY, r->day - DAY);
		rc = store_summary(sc, r->rd, &f, &n, &before);
	}
	if (rc == DM_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (last.messages < DM_ALERT_MIN_MESSAGES || before.messages < DM_ALERT_MIN_MESSAGES)
		return 0;
	double drop = rate(&before) - rate(&last);
	if (drop >= (double)dm_config_int(r->conf.pass_drop))
		cond_add(r, "pass_drop", domain, "",
		         "DMARC pass rate of %s fell to %.1f%% on %s (%.1f%% over the 7 days before)",
		         domain, rate(&last), "the last day", rate(&before));
	return 0;
}

struct failing {
	unsigned char ip[16];
	uint64_t fail, messages;
};

struct failing_list {
	struct failing v[DM_ALERT_SOURCES];
	size_t n;
};

static int
failing_row(void *arg, const struct store_source_row *row)
{
	struct failing_list *l = arg;
	if (l->n < DM_ALERT_SOURCES) {
		memcpy(l->v[l->n].ip, row->ip, 16);
		l->v[l->n].fail = row->c.dmarc_fail;
		l->v[l->n].messages = row->c.messages;
		l->n++;
	}
	return 0;
}

static int
no_day(void *arg, const struct store_day_row *d)
{
	(void)arg;
	(void)d;
	return 0;
}

static int
no_part(void *arg, const struct store_part_row *p)
{
	(void)arg;
	(void)p;
	return 0;
}

static int
rule_new_source(struct run *r, const struct store_scope *sc, const char *domain)
{
	struct failing_list l = {.n = 0};
	uint64_t total;
	struct store_filter f = range(domain, r->day, r->day);
	int rc = store_sources(sc, r->rd, &f, STORE_SORT_FAIL, DM_ALERT_SOURCES, 0, &total,
	                       failing_row, &l);
	if (rc == DM_ENOTFOUND)
		return 0;
	uint64_t min = (uint64_t)dm_config_int(r->conf.new_source);
	for (size_t i = 0; rc == 0 && i < l.n && l.v[i].fail >= min; i++) {
		struct store_counts before;
		f = range(domain, r->day - 30 * DAY, r->day - DAY);
		int k = store_source(sc, r->rd, &f, l.v[i].ip, &before, no_day, no_part, NULL);
		if (k != 0 && k != DM_ENOTFOUND) {
			rc = k;
			break;
		}
		if (k == DM_ENOTFOUND || before.messages == 0) {
			char ip[DM_IP_TEXT];
			dm_ip_format(l.v[i].ip, ip, sizeof ip);
			cond_add(r, "new_source", domain, ip,
			         "a new source, %s, sent %" PRIu64 " messages failing DMARC as %s"
			         " (not seen in the 30 days before)",
			         ip, l.v[i].fail, domain);
		}
	}
	return rc;
}

/* The DMARC record of domain as the DNS gives it ("" for none). */
static void
dmarc_txt(struct run *r, const char *domain, char *out, size_t outlen, int *ok)
{
	char name[DM_MAX_DOMAIN_LEN + 16];
	snprintf(name, sizeof name, "_dmarc.%s", domain);
	struct dm_dns_answer *a = dm_dns_lookup(r->res, name, DM_DNS_TXT);
	out[0] = '\0';
	*ok = a->status == DM_DNS_OK || a->status == DM_DNS_NODATA || a->status == DM_DNS_NXDOMAIN;
	for (size_t i = 0; a->status == DM_DNS_OK && i < a->n; i++)
		if (a->rr[i].len >= 8 && strncasecmp(a->rr[i].data, "v=DMARC1", 8) == 0) {
			snprintf(out, outlen, "%s", a->rr[i].data);
			break;
		}
	dm_dns_answer_free(a);
}

static int
rule_dns(struct run *r, const char *domain)
{
	char now[DM_ALERT_MAX_RECORD + 1];
	int ok;
	dmarc_txt(r, domain, now, sizeof now, &ok);
	if (!ok)
		return 0; /* the DNS did not answer: nothing is known to have changed */
	sqlite3_stmt *s = NULL;
	char before[DM_ALERT_MAX_RECORD + 1];
	int have = 0;
	if (sqlite3_prepare_v2(r->db, "SELECT record FROM dns_seen WHERE account_id = ?1 AND domain = ?2",
	                       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, r->account);
		bind_text(s, 2, domain);
		if (sqlite3_step(s) == SQLITE_ROW) {
			have = 1;
			snprintf(before, sizeof before, "%s", (const char *)sqlite3_column_text(s, 0));
		}
	}
	sqlite3_finalize(s);
	if (have && strcmp(before, now) == 0)
		return 0;
	if (have) {
		struct dm_buf a, b;
		dm_buf_init(&a, 2 * DM_ALERT_MAX_RECORD);
		dm_buf_init(&b, 2 * DM_ALERT_MAX_RECORD);
		if (clean(&a, before[0] ? before : "(none)", 300, 0) == 0 &&
		    clean(&b, now[0] ? now : "(none)", 300, 0) == 0)
			cond_add(r, "dns", domain, "", "the DMARC record of %s changed from \"%s\" to \"%s\"",
			         domain, a.data ? a.data : "", b.data ? b.data : "");
		dm_buf_free(&a);
		dm_buf_free(&b);
	}
	if (sqlite3_prepare_v2(r->db,
	                       "INSERT INTO dns_seen(account_id, domain, record) VALUES(?1, ?2, ?3)"
	                       " ON CONFLICT DO UPDATE SET record = excluded.record",
	                       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, r->account);
		bind_text(s, 2, domain);
		bind_text(s, 3, now);
		(void)sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return 0;
}

/* rejected: the spool's failed/ entries of the last 24 hours, each
 * counted for the account its first recipient routes to. */
static unsigned
failed_for(struct run *r, int64_t account)
{
	char dir[PATH_MAX];
	unsigned n = 0, seen = 0;
	if (r->reg == NULL)
		return 0;
	snprintf(dir, sizeof dir, "%s/spool/failed", r->cfg->data_dir);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL && seen < DM_ALERT_MAX_FAILED_SCAN) {
		if (e->d_name[0] == '.' || strchr(e->d_name, '.') == NULL ||
		    strstr(e->d_name, ".why") != NULL)
			continue;
		char path[PATH_MAX + 256];
		struct stat sb;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_mtime < r->now - DAY)
			continue;
		seen++;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct spool_envelope_read env;
		if (spool_envelope_read(fd, &env) == 0 && env.nrcpt > 0 &&
		    registry_rcpt(r->reg, env.rcpt[0]) == account)
			n++;
		close(fd);
	}
	if (d)
		closedir(d);
	return n;
}

/* ---- the queue ------------------------------------------------------------------------- */

static void
queue(struct run *r, const char *channel, const char *target, const char *subject,
      const char *body)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db,
	                       "INSERT INTO outbox(account_id, channel, target, subject, body, next_at)"
	                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	                       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, r->account);
		bind_text(s, 2, channel);
		bind_text(s, 3, target);
		bind_text(s, 4, subject);
		bind_text(s, 5, body);
		sqlite3_bind_int64(s, 6, r->now);
		if (sqlite3_step(s) == SQLITE_DONE)
			r->t->queued++;
	}
	sqlite3_finalize(s);
}

/* Each address of a comma-separated list that looks like one. */
static void
each_address(const char *list, void (*fn)(void *arg, const char *addr), void *arg)
{
	char one[DM_REGISTRY_MAX_ADDRESS + 1];
	const char *p = list;
	while (*p) {
		p += strspn(p, " ,\t");
		size_t n = strcspn(p, " ,\t");
		if (n == 0)
			break;
		if (n < sizeof one) {
			memcpy(one, p, n);
			one[n] = '\0';
			const char *at = strchr(one, '@');
			int ok = at && at != one && at[1] && !strpbrk(one, "<>\"()[]\\;:\r\n");
			if (ok)
				fn(arg, one);
		}
		p += n;
	}
}

struct notice {
	struct run *r;
	const char *subject, *body, *json;
};

static void
queue_mail(void *arg, const char *addr)
{
	struct notice *n = arg;
	queue(n->r, "mail", addr, n->subject, n->body);
}

/* A notice to the account's channels: mail (when a relay is set) and
 * the webhook. */
static void
notify(struct run *r, const char *to, const char *subject, const char *body, const char *json)
{
	struct notice n = {r, subject, body, json};
	if (r->cfg->smtp_relay[0] && to && to[0])
		each_address(to, queue_mail, &n);
	if (r->conf.webhook_url[0] && json)
		queue(r, "webhook", r->conf.webhook_url, subject, json);
}

static void
alert_notice(struct run *r, const char *event, const char *rule, const char *domain,
             const char *subject, const char *message, int64_t opened_at)
{
	struct dm_buf subj, body, jb;
	struct dm_json j;
	dm_buf_init(&subj, 1024);
	dm_buf_init(&body, 4096);
	dm_buf_init(&jb, 8192);
	int bad = dm_buf_printf(&subj, "[dmarcd] %s: ", strcmp(event, "open") == 0 ? "alert" : "resolved");
	bad |= clean(&subj, message, 200, 0);
	bad |= dm_buf_printf(&body, "%s\n\naccount: %s\nrule: %s\ndomain: %s\n",
	                     strcmp(event, "open") == 0 ? "A new alert:" : "Resolved:", r->name, rule,
	                     domain);
	bad |= clean(&body, message, DM_ALERT_MAX_MESSAGE, 0);
	bad |= dm_buf_adds(&body, "\n");
	dm_json_init(&j, &jb);
	dm_json_obj_begin(&j);
	dm_json_key(&j, "event");
	dm_json_str(&j, strcmp(event, "open") == 0 ? "alert" : "resolved");
	dm_json_key(&j, "account");
	dm_json_str(&j, r->name);
	dm_json_key(&j, "rule");
	dm_json_str(&j, rule);
	dm_json_key(&j, "domain");
	dm_json_str(&j, domain);
	dm_json_key(&j, "subject");
	dm_json_str(&j, subject);
	dm_json_key(&j, "message");
	dm_json_str(&j, message);
	dm_json_key(&j, "opened_at");
	dm_json_int(&j, opened_at);
	dm_json_key(&j, "at");
	dm_json_int(&j, r->now);
	dm_json_obj_end(&j);
	bad |= j.rc | dm_buf_addc(&jb, '\0');
	if (!bad && dm_buf_addc(&subj, '\0') == 0 && dm_buf_addc(&body, '\0') == 0)
		notify(r, r->conf.alert_to, subj.data, body.data, jb.data);
	dm_buf_free(&subj);
	dm_buf_free(&body);
	dm_buf_free(&jb);
}

/* Open what is new, resolve what is gone, for the account's rules that ran. */
static int
reconcile(struct run *r)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : DM_EIO;
	for (size_t i = 0; rc == 0 && i < r->nconds; i++) {
		struct cond *c = &r->conds[i];
		char key[sizeof c->rule + sizeof c->domain + sizeof c->subject + 32];
		snprintf(key, sizeof key, "%s|%" PRId64 "|%s|%s", c->rule, r->account, c->domain,
		         c->subject);
		if (sqlite3_prepare_v2(r->db,
		                       "INSERT INTO alerts(key, account_id, rule, domain, subject, message,"
		                       " opened_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
		                       -1, &s, NULL) != SQLITE_OK) {
			rc = DM_EIO;
			break;
		}
		bind_text(s, 1, key);
		sqlite3_bind_int64(s, 2, r->account);
		bind_text(s, 3, c->rule);
		bind_text(s, 4, c->domain);
		bind_text(s, 5, c->subject);
		bind_text(s, 6, c->message);
		sqlite3_bind_int64(s, 7, r->now);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : DM_EIO;
		sqlite3_finalize(s);
		if (rc == 0 && sqlite3_changes(r->db) > 0) {
			char esc[2 * DM_ALERT_MAX_MESSAGE];
			dm_log_escape(esc, sizeof esc, c->message, strlen(c->message));
			r->t->opened++;
			dm_log(DM_LOG_WARN, "alert", "%s: %s", r->name, esc);
			alert_notice(r, "open", c->rule, c->domain, c->subject, c->message, r->now);
		}
	}
	/* the open alerts of the rules that ran whose condition is gone */
	if (rc == 0 && sqlite3_prepare_v2(r->db,
	                                  "SELECT id, key, rule, domain, subject, message, opened_at"
	                                  " FROM alerts WHERE account_id = ?1 AND resolved_at IS NULL",
	                                  -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, r->account);
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *rule = (const char *)sqlite3_column_text(s, 2);
			const char *dom = (const char *)sqlite3_column_text(s, 3);
			const char *subj = (const char *)sqlite3_column_text(s, 4);
			int k = rule_index(rule);
			if (k < 0 || !r->evaluated[k]) {
				r->t->open++;
				continue;
			}
			int still = 0;
			for (size_t i = 0; i < r->nconds && !still; i++)
				still = strcmp(r->conds[i].rule, rule) == 0 &&
				        strcmp(r->conds[i].domain, dom) == 0 &&
				        strcmp(r->conds[i].subject, subj) == 0;
			if (still) {
				r->t->open++;
				continue;
			}
			sqlite3_stmt *u = NULL;
			if (sqlite3_prepare_v2(r->db, "UPDATE alerts SET resolved_at = ?1 WHERE id = ?2", -1,
			                       &u, NULL) == SQLITE_OK) {
				sqlite3_bind_int64(u, 1, r->now);
				sqlite3_bind_int64(u, 2, sqlite3_column_int64(s, 0));
				if (sqlite3_step(u) == SQLITE_DONE) {
					const char *msg = (const char *)sqlite3_column_text(s, 5);
					char esc[2 * DM_ALERT_MAX_MESSAGE];
					dm_log_escape(esc, sizeof esc, msg, strlen(msg));
					r->t->resolved++;
					dm_log(DM_LOG_INFO, "alert", "%s: resolved: %s", r->name, esc);
					alert_notice(r, "resolved", rule, dom, subj, msg,
					             sqlite3_column_int64(s, 6));
				}
			}
			sqlite3_finalize(u);
		}
		sqlite3_finalize(s);
	}
	if (rc == 0 && sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = DM_EIO;
	if (rc)
		(void)sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* ---- digests ---------------------------------------------------------------------------- */

/* The period a digest is due for now, its first and last day, or 0 when
 * the account has none. */
static int
digest_period(struct run *r, char *key, size_t keylen, int64_t *from, int64_t *to)
{
	const char *d = r->conf.digest;
	int64_t today = r->day + DAY;
	if (strcmp(d, "daily") == 0) {
		*from = *to = r->day;
	} else if (strcmp(d, "weekly") == 0) {
		/* the ISO week before this one: days since Monday (1970-01-01
		 * was a Thursday) */
		int64_t dow = ((today / DAY) + 3) % 7;
		int64_t monday = today - dow * DAY;
		*from = monday - 7 * DAY;
		*to = monday - DAY;
	} else {
		return 0;
	}
	char a[11];
	dm_format_day(*from, a);
	snprintf(key, keylen, "%s:%s", d, a);
	return 1;
}

struct top_ctx {
	struct dm_buf *b;
	struct run *r;
	int n;
	int64_t from, to; /* the alerts opened or resolved in [from, to] */
};

static int
top_row(void *arg, const struct store_source_row *row)
{
	struct top_ctx *t = arg;
	char ip[DM_IP_TEXT];
	if (row->c.dmarc_fail == 0)
		return 0;
	dm_ip_format(row->ip, ip, sizeof ip);
	int bad = dm_buf_printf(t->b, "    %-39s %10" PRIu64 " failing of %" PRIu64, ip,
	                        row->c.dmarc_fail, row->c.messages);
	struct store_ip_info who;
	if (store_ip_info(t->r->rd, row->ip, &who) == 0 && who.known) {
		const char *name = who.service ? who.service : who.ptr ? who.ptr : who.as_org;
		if (name) {
			bad |= dm_buf_adds(t->b, "  ");
			bad |= clean(t->b, name, 80, 0);
		}
	}
	bad |= dm_buf_adds(t->b, "\n");
	t->n++;
	return bad ? DM_ELIMIT : 0;
}

static int
digest_alert_row(void *arg, const struct alert_row *a)
{
	struct top_ctx *t = arg;
	char d[11];
	int64_t when = a->resolved_at ? a->resolved_at : a->opened_at;
	if (when < t->from || when > t->to)
		return 0;
	dm_format_day(when, d);
	int bad = dm_buf_printf(t->b, "  %s %s: ", d, a->resolved_at ? "resolved" : "opened");
	bad |= clean(t->b, a->message, 300, 0);
	bad |= dm_buf_adds(t->b, "\n");
	t->n++;
	return bad ? DM_ELIMIT : 0;
}

static int
digest(struct run *r, const struct store_scope *sc, const struct store_names *doms)
{
	char key[64];
	int64_t from, to;
	if (!digest_period(r, key, sizeof key, &from, &to))
		return 0;
	const char *to_addr = r->conf.digest_to[0] ? r->conf.digest_to : r->conf.alert_to;
	if (!r->cfg->smtp_relay[0] || !to_addr[0])
		return 0;
	sqlite3_stmt *s = NULL;
	int sent = 0;
	if (sqlite3_prepare_v2(r->db, "SELECT 1 FROM digests WHERE account_id = ?1 AND period = ?2", -1,
	                       &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, r->account);
		bind_text(s, 2, key);
		sent = sqlite3_step(s) == SQLITE_ROW;
	}
	sqlite3_finalize(s);
	if (sent)
		return 0;

	struct dm_buf b;
	dm_buf_init(&b, DM_ALERT_MAX_DIGEST);
	char a[11], z[11];
	dm_format_day(from, a);
	dm_format_day(to, z);
	int bad = dm_buf_printf(&b, "DMARC digest of account %s, %s to %s (UTC)\n\n", r->name, a, z);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < doms->n; i++) {
		const char *dom = doms->v[i];
		struct store_counts c, prev;
		uint64_t nrep = 0, nprev;
		struct store_filter f = range(dom, from, to);
		memset(&c, 0, sizeof c);
		memset(&prev, 0, sizeof prev);
		rc = store_summary(sc, r->rd, &f, &nrep, &c);
		if (rc == DM_ENOTFOUND) {
			rc = 0;
			continue;
		}
		int64_t span = to - from + DAY;
		f = range(dom, from - span, from - DAY);
		int k = store_summary(sc, r->rd, &f, &nprev, &prev);
		if (k && k != DM_ENOTFOUND)
			rc = k;
		bad |= dm_buf_printf(&b, "%s\n  messages %" PRIu64 " in %" PRIu64
		                         " reports, DMARC pass %.1f%%",
		                     dom, c.messages, nrep, rate(&c));
		if (prev.messages)
			bad |= dm_buf_printf(&b, " (%.1f%% the period before)", rate(&prev));
		bad |= dm_buf_printf(&b, "\n  failing %" PRIu64 ", quarantined %" PRIu64
		                         ", rejected %" PRIu64 "\n",
		                     c.dmarc_fail, c.quarantine, c.reject);
		uint64_t total;
		struct top_ctx t = {&b, r, 0, from, to};
		f = range(dom, from, to);
		bad |= dm_buf_adds(&b, "  top failing sources:\n");
		if (rc == 0)
			rc = store_sources(sc, r->rd, &f, STORE_SORT_FAIL, 5, 0, &total, top_row, &t);
		if (t.n == 0)
			bad |= dm_buf_adds(&b, "    none\n");
		/* the rollout advice over 30 days */
		struct store_filter af = range(dom, r->day - 29 * DAY, r->day);
		struct dm_advisor *adv = dm_advisor_new(dom, af.from, r->day);
		if (rc == 0 && store_export(sc, r->rd, &af, dm_advisor_add, adv) == 0 &&
		    dm_advisor_reports(adv) > 0 && dm_advisor_finish(adv, r->rd, r->svc, NULL, 0) == 0) {
			char *text = NULL;
			size_t len = 0;
			FILE *m = open_memstream(&text, &len);
			if (m) {
				dm_advisor_text(adv, m);
				fclose(m);
				bad |= dm_buf_adds(&b, "  advice:\n");
				/* its first lines: the status and the next step */
				size_t lines = 0, o = 0;
				while (o < len && lines < DM_ALERT_DIGEST_ADVICE_LINES) {
					size_t n = strcspn(text + o, "\n");
					bad |= dm_buf_adds(&b, "    ");
					bad |= dm_buf_add(&b, text + o, n);
					bad |= dm_buf_adds(&b, "\n");
					o += n + 1;
					lines++;
				}
			}
			free(text);
		}
		dm_advisor_free(adv);
		bad |= dm_buf_adds(&b, "\n");
	}
	/* what changed: the alerts opened or resolved since the period began */
	struct top_ctx t = {&b, r, 0, from, r->now};
	bad |= dm_buf_adds(&b, "Alerts since the period began:\n");
	char err[256];
	if (rc == 0 && alert_list(r->cfg->data_dir, r->account, 0, 0, 50, digest_alert_row, &t, err,
	                          sizeof err) == 0 &&
	    t.n == 0)
		bad |= dm_buf_adds(&b, "  none\n");
	if (rc == 0 && !bad && dm_buf_addc(&b, '\0') == 0) {
		char subject[128];
		snprintf(subject, sizeof subject, "[dmarcd] %s digest %s to %s", r->name, a, z);
		notify(r, to_addr, subject, b.data, NULL);
		if (sqlite3_prepare_v2(r->db,
		                       "INSERT INTO digests(account_id, period, sent_at) VALUES(?1, ?2, ?3)"
		                       " ON CONFLICT DO UPDATE SET period = excluded.period,"
		                       " sent_at = excluded.sent_at",
		                       -1, &s, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(s, 1, r->account);
			bind_text(s, 2, key);
			sqlite3_bind_int64(s, 3, r->now);
			(void)sqlite3_step(s);
		}
		sqlite3_finalize(s);
		r->t->digests++;
	}
	dm_buf_free(&b);
	return rc == DM_ENOTFOUND ? 0 : rc;
}

/* ---- one account ------------------------------------------------------------------------- */

static int
stopping(struct run *r)
{
	return r->stop != NULL && r->stop(r->stop_arg);
}

static int
run_account(struct run *r)
{
	struct store_scope sc = {.account = r->account, .admin = 0};
	struct store_names doms = {0};
	int rc = store_domains(&sc, r->rd, store_names_add, &doms);
	r->nconds = 0;
	memset(r->evaluated, 0, sizeof r->evaluated);
	if (rc) {
		store_names_free(&doms);
		return rc;
	}
	int ok[5] = {1, 1, 1, 1, r->res != NULL};
	for (size_t i = 0; i < doms.n; i++) {
		const char *d = doms.v[i];
		if (stopping(r)) {
			store_names_free(&doms);
			return DM_ESTOP; /* nothing reconciled: the next run does it */
		}
		if (ok[0] && rule_silent(r, &sc, d) != 0)
			ok[0] = 0;
		if (ok[2] && rule_pass_drop(r, &sc, d) != 0)
			ok[2] = 0;
		if (ok[3] && rule_new_source(r, &sc, d) != 0)
			ok[3] = 0;
		if (ok[4] && rule_dns(r, d) != 0)
			ok[4] = 0;
	}
	unsigned failed = failed_for(r, r->account);
	if (failed >= (unsigned)dm_config_int(r->conf.rejected))
		cond_add(r, "rejected", "", "",
		         "%u report mails for account %s could not be read in the last 24 hours"
		         " (see the spool's failed/ folder)",
		         failed, r->name);
	ok[1] = r->reg != NULL;
	for (int k = 0; k < 5; k++)
		r->evaluated[k] = ok[k];
	rc = reconcile(r);
	if (rc == 0)
		rc = digest(r, &sc, &doms);
	store_names_free(&doms);
	return rc;
}

struct acct_list {
	int64_t id[DM_ALERT_MAX_ACCOUNTS];
	char name[DM_ALERT_MAX_ACCOUNTS][DM_REGISTRY_MAX_NAME + 1];
	size_t n;
};

static int
acct_row(void *arg, const struct registry_row *row)
{
	struct acct_list *l = arg;
	if (l->n < DM_ALERT_MAX_ACCOUNTS) {
		l->id[l->n] = row->account_id;
		snprintf(l->name[l->n], sizeof l->name[0], "%s", row->account);
		l->n++;
	}
	return 0;
}

/* ---- delivery ------------------------------------------------------------------------------ */

struct upload {
	const char *p;
	size_t left;
};

static size_t
up_read(char *buf, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t k = size * n < u->left ? size * n : u->left;
	memcpy(buf, u->p, k);
	u->p += k;
	u->left -= k;
	return k;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int
send_mail(const struct dm_config *cfg, const char *to, const char *subject, const char *body,
          char *err, size_t errlen)
{
	struct dm_buf m;
	char date[64], url[300], from[300], rcpt[300], mid[64];
	time_t now = time(NULL);
	struct tm tm;
	unsigned char rnd[8];
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0, sizeof rnd);
	snprintf(mid, sizeof mid, "%02x%02x%02x%02x%02x%02x%02x%02x.%lld", rnd[0], rnd[1], rnd[2],
	         rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], (long long)now);
	dm_buf_init(&m, DM_ALERT_MAX_DIGEST + 4096);
	int bad = dm_buf_adds(&m, "From: ");
	bad |= clean(&m, cfg->mail_from, 256, 0);
	bad |= dm_buf_adds(&m, "\r\nTo: ");
	bad |= clean(&m, to, 256, 0);
	bad |= dm_buf_adds(&m, "\r\nSubject: ");
	bad |= clean(&m, subject, 250, 0);
	bad |= dm_buf_printf(&m, "\r\nDate: %s\r\nMessage-ID: <%s@dmarcd>\r\nMIME-Version: 1.0\r\n"
	                         "Content-Type: text/plain; charset=utf-8\r\n"
	                         "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n",
	                     date, mid);
	/* the body with CRLF line ends, dots stuffed by libcurl */
	for (const char *p = body; *p && !bad; p++)
		bad |= *p == '\n' ? dm_buf_add(&m, "\r\n", 2) : dm_buf_addc(&m, *p);
	if (bad) {
		dm_buf_free(&m);
		snprintf(err, errlen, "message too long");
		return DM_ELIMIT;
	}
	snprintf(url, sizeof url, "smtp://%s", cfg->smtp_relay);
	snprintf(from, sizeof from, "<%s>", cfg->mail_from);
	snprintf(rcpt, sizeof rcpt, "<%s>", to);
	CURL *h = curl_easy_init();
	struct curl_slist *rl = curl_slist_append(NULL, rcpt);
	struct upload u = {m.data, m.len};
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rl);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, up_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &u);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)DM_ALERT_SEND_TIMEOUT);
	CURLcode cc = curl_easy_perform(h);
	curl_slist_free_all(rl);
	curl_easy_cleanup(h);
	dm_buf_free(&m);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "smtp %s: %s", cfg->smtp_relay, curl_easy_strerror(cc));
		return DM_EIO;
	}
	return 0;
}

/* The first line of path (a webhook secret). */
static int
secret_of(const char *path, char *out, size_t outlen)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int ok = fgets(out, (int)outlen, f) != NULL;
	fclose(f);
	out[ok ? strcspn(out, "\r\n") : 0] = '\0';
	return ok && out[0] ? 0 : -1;
}

static int
send_webhook(const struct dm_account_conf *conf, const char *url, const char *body, char *err,
             size_t errlen)
{
	char sig[128] = "", secret[512];
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
	hd = curl_slist_append(hd, "User-Agent: dmarcd");
	if (conf->webhook_secret_file[0]) {
		if (secret_of(conf->webhook_secret_file, secret, sizeof secret) != 0) {
			curl_slist_free_all(hd);
			snprintf(err, errlen, "cannot read webhook_secret_file %.200s",
			         conf->webhook_secret_file);
			return DM_EUSAGE;
		}
		unsigned char mac[DM_SHA256_LEN];
		dm_hmac_sha256(secret, strlen(secret), body, strlen(body), mac);
		explicit_bzero(secret, sizeof secret);
		int o = snprintf(sig, sizeof sig, "X-Dmarcd-Signature: sha256=");
		for (int i = 0; i < DM_SHA256_LEN; i++)
			o += snprintf(sig + o, sizeof sig - (size_t)o, "%02x", mac[i]);
		hd = curl_slist_append(hd, sig);
	}
	CURL *h = curl_easy_init();
	long status = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)DM_ALERT_SEND_TIMEOUT);
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hd);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "webhook: %s", curl_easy_strerror(cc));
		return DM_EIO;
	}
	if (status < 200 || status > 299) {
		snprintf(err, errlen, "webhook: HTTP status %ld", status);
		return DM_EIO;
	}
	return 0;
}

static const struct dm_account_conf *
conf_of(const struct dm_config *cfg, const struct acct_list *l, int64_t account,
        struct dm_account_conf *def)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->id[i] == account) {
			const struct dm_account_conf *c = dm_config_account(cfg, l->name[i]);
			if (c)
				return c;
		}
	dm_config_account_defaults(def);
	return def;
}

/* Send what is due; a failure is tried again later, with back-off. */
static void
deliver(struct run *r, const struct acct_list *accts)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(r->db,
	                       "SELECT id, account_id, channel, target, subject, body, attempts FROM outbox"
	                       " WHERE sent_at IS NULL AND given_up = 0 AND next_at <= ?1 ORDER BY id"
	                       " LIMIT ?2",
	                       -1, &s, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(s, 1, r->now);
	sqlite3_bind_int(s, 2, DM_ALERT_SEND_BATCH);
	struct pending {
		int64_t id, account;
		char channel[16], target[600];
		char *subject, *body;
		int attempts;
	} p[DM_ALERT_SEND_BATCH];
	size_t n = 0;
	while (n < DM_ALERT_SEND_BATCH && sqlite3_step(s) == SQLITE_ROW) {
		p[n].id = sqlite3_column_int64(s, 0);
		p[n].account = sqlite3_column_int64(s, 1);
		snprintf(p[n].channel, sizeof p[n].channel, "%s", sqlite3_column_text(s, 2));
		snprintf(p[n].target, sizeof p[n].target, "%s", sqlite3_column_text(s, 3));
		p[n].subject = xstrdup((const char *)sqlite3_column_text(s, 4));
		p[n].body = xstrdup((const char *)sqlite3_column_text(s, 5));
		p[n].attempts = sqlite3_column_int(s, 6);
		n++;
	}
	sqlite3_finalize(s);
	for (size_t i = 0; i < n; i++) {
		char err[512] = "";
		struct dm_account_conf def;
		if (stopping(r)) { /* what is left stays queued */
			free(p[i].subject);
			free(p[i].body);
			continue;
		}
		const struct dm_account_conf *conf = conf_of(r->cfg, accts, p[i].account, &def);
		int rc = strcmp(p[i].channel, "mail") == 0
		                 ? (r->cfg->smtp_relay[0]
		                            ? send_mail(r->cfg, p[i].target, p[i].subject, p[i].body,
		                                        err, sizeof err)
		                            : (snprintf(err, sizeof err, "no smtp_relay"), DM_EUSAGE))
		                 : send_webhook(conf, p[i].target, p[i].body, err, sizeof err);
		sqlite3_stmt *u = NULL;
		if (rc == 0) {
			r->t->sent++;
			(void)sqlite3_prepare_v2(r->db, "UPDATE outbox SET sent_at = ?1, attempts = attempts + 1,"
			                                " last_error = NULL WHERE id = ?2",
			                         -1, &u, NULL);
			sqlite3_bind_int64(u, 1, r->now);
			sqlite3_bind_int64(u, 2, p[i].id);
		} else {
			int attempts = p[i].attempts + 1;
			int give_up = attempts >= DM_ALERT_MAX_ATTEMPTS;
			int64_t wait = (int64_t)DM_ALERT_RETRY_FIRST << (attempts - 1 < 10 ? attempts - 1 : 10);
			if (wait > DM_ALERT_RETRY_MAX)
				wait = DM_ALERT_RETRY_MAX;
			if (give_up)
				r->t->given_up++;
			else
				r->t->retried++;
			dm_log(give_up ? DM_LOG_ERROR : DM_LOG_WARN, "alert", "%s to %s: %s%s",
			       p[i].channel, strcmp(p[i].channel, "mail") == 0 ? p[i].target : "the webhook",
			       err, give_up ? " (given up)" : " (tried again later)");
			(void)sqlite3_prepare_v2(r->db,
			                         "UPDATE outbox SET attempts = ?1, next_at = ?2, given_up = ?3,"
			                         " last_error = ?4 WHERE id = ?5",
			                         -1, &u, NULL);
			sqlite3_bind_int(u, 1, attempts);
			sqlite3_bind_int64(u, 2, r->now + wait);
			sqlite3_bind_int(u, 3, give_up);
			bind_text(u, 4, err);
			sqlite3_bind_int64(u, 5, p[i].id);
		}
		(void)sqlite3_step(u);
		sqlite3_finalize(u);
		free(p[i].subject);
		free(p[i].body);
	}
}

/* ---- a run ------------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
alert_run(const struct dm_config *cfg, struct store *st, int64_t now, int (*stop)(void *arg),
          void *stop_arg, struct alert_totals *t, char *err, size_t errlen)
{
	struct run r;
	struct acct_list *accts = xcalloc(1, sizeof *accts);
	memset(&r, 0, sizeof r);
	memset(t, 0, sizeof *t);
	pthread_once(&curl_once, curl_init);
	r.cfg = cfg;
	r.st = st;
	r.t = t;
	r.stop = stop;
	r.stop_arg = stop_arg;
	r.now = now ? now : (int64_t)time(NULL);
	r.day = r.now - (r.now % DAY + DAY) % DAY - DAY;
	int rc = 0;
	r.db = state_open(cfg->data_dir, 0, err, errlen);
	if (!r.db)
		rc = DM_EIO;
	if (rc == 0 && registry_list_accounts(cfg->data_dir, acct_row, accts, err, errlen) != 0)
		rc = DM_ESTORE;
	if (rc == 0 && (r.rd = store_reader_open(st, err, errlen)) == NULL)
		rc = DM_ESTORE;
	if (rc == 0 && registry_load(cfg->data_dir, &r.reg, err, errlen) != 0)
		r.reg = NULL; /* the rejected rule is not evaluated */
	if (rc == 0 && cfg->resolver[0])
		r.res = dm_resolver_new(cfg->resolver, (int)dm_config_int(cfg->dns_timeout_ms), NULL,
		                        err, errlen);
	struct stat sb;
	if (rc == 0 && strcmp(cfg->enrich, "off") != 0 && cfg->services_file[0] &&
	    stat(cfg->services_file, &sb) == 0)
		r.svc = dm_services_load(cfg->services_file, err, errlen);
	for (size_t i = 0; rc == 0 && i < accts->n && !stopping(&r); i++) {
		r.account = accts->id[i];
		r.name = accts->name[i];
		const struct dm_account_conf *c = dm_config_account(cfg, r.name);
		if (c)
			r.conf = *c;
		else
			dm_config_account_defaults(&r.conf);
		int k = run_account(&r);
		if (k == DM_ESTOP)
			break;
		if (k)
			dm_log(DM_LOG_WARN, "alert", "%s: the rules did not all run: %s", r.name,
			       store_reader_error(r.rd));
		t->accounts++;
	}
	if (r.db && !stopping(&r))
		deliver(&r, accts);
	free(r.conds);
	dm_services_free(r.svc);
	if (r.res)
		dm_resolver_free(r.res);
	if (r.reg)
		registry_free(r.reg);
	store_reader_close(r.rd);
	sqlite3_close(r.db);
	free(accts);
	return rc;
}

int
alert_list(const char *data_dir, int64_t account, int admin, int open_only, unsigned limit,
           int (*fn)(void *arg, const struct alert_row *r), void *arg, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat sb;
	snprintf(path, sizeof path, "%s/alerts.sqlite", data_dir);
	if (stat(path, &sb) != 0)
		return 0; /* never run: no alerts */
	sqlite3 *db = state_open(data_dir, 1, err, errlen);
	if (!db)
		return DM_EIO;
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT id, account_id, rule, domain, subject, message, opened_at,"
	                            " resolved_at FROM alerts WHERE (?1 OR account_id = ?2)"
	                            " AND (NOT ?3 OR resolved_at IS NULL)"
	                            " ORDER BY COALESCE(resolved_at, opened_at) DESC, id DESC LIMIT ?4",
	                            -1, &s, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "alerts.sqlite: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return DM_EIO;
	}
	sqlite3_bind_int(s, 1, admin ? 1 : 0);
	sqlite3_bind_int64(s, 2, account);
	sqlite3_bind_int(s, 3, open_only ? 1 : 0);
	sqlite3_bind_int64(s, 4, limit);
	int n = 0;
	while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct alert_row a = {
		        .id = sqlite3_column_int64(s, 0),
		        .account_id = sqlite3_column_int64(s, 1),
		        .rule = (const char *)sqlite3_column_text(s, 2),
		        .domain = (const char *)sqlite3_column_text(s, 3),
		        .subject = (const char *)sqlite3_column_text(s, 4),
		        .message = (const char *)sqlite3_column_text(s, 5),
		        .opened_at = sqlite3_column_int64(s, 6),
		        .resolved_at = sqlite3_column_int64(s, 7),
		};
		n = fn(arg, &a);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n ? n : 0;
}
