/*
 * store_ch.c - the store in ClickHouse, over its HTTP interface (libcurl),
 * for several intake nodes writing into one server.  The only file that
 * talks to ClickHouse.  Tested against Debian 12's clickhouse-server
 * 18.16; the SQL is the subset current releases also take.
 *
 * Functions: store_ch_open and the store_ch_ops table (write side, lookup
 * and stats; the API's reads are not here yet).
 *
 * Counting each report once without transactions (docs/ARCHITECTURE.md
 * §9).  Every try of a report is an *attempt* (a random 64-bit id).  Its
 * records go to `records` as they come (several INSERTs; rows of an
 * attempt that never commits are never read: reads start from a committed
 * report).  At the batch's end ONE INSERT into `ledger` (a Null table)
 * carries every report's rollup cells and its commit row; materialised
 * views turn them into `cells` (kept per attempt), the SummingMergeTree
 * rollups `daily`, `day_totals` and `src_day`, and `reports`.  ClickHouse
 * writes each of those tables whole, one after the other: an INSERT that
 * fails half-way is completed by repair() before anything else is
 * written, so an attempt counts fully or not at all.
 *
 * A report is *live* through its attempts that have a commit row and no
 * cancel row.  When an identity has more than one live attempt (two nodes
 * stored the same report at once, each before seeing the other's), every
 * attempt but the smallest gets a cancel row, which any node may write:
 * the choice is the same whoever makes it and a second cancel row changes
 * nothing.  Each writer checks its batch's identities after its INSERT;
 * of two writers the later one's check sees both attempts.  A writer that
 * dies between its INSERT and its check is covered by every writer looking,
 * once a second, for identities stored twice in the last
 * DM_CH_RESOLVE_SECONDS.  Reads subtract the cells of cancelled attempts
 * from the rollups (`stats` here).
 *
 * A new report costs no lookup: the identities of the months seen so far
 * are kept in memory (8 bytes each; loaded per month, then polled once a
 * second for what any node stored), and only a report found there is
 * looked up on the server.
 *
 * Identities reach SQL as 64-bit keys (the first bytes of their SHA-256)
 * and are compared in full in C; strings reach it only as unhex('...')
 * literals, and rows only as TabSeparated with its escapes: nothing from a
 * report is ever written into a statement as text.  Logs nothing; errors
 * are returned.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "core/failure.h"
#include "core/tlsrpt.h"
#include "store/backend.h"
#include "store/rollup.h"
#include "store/store.h"
#include "store/store_ch.h"

#define CH_BATCH_REPORTS 1000
#define CH_BATCH_SECONDS 1.0
#define CH_RECORDS_FLUSH (4 * 1024 * 1024) /* send buffered records beyond this */
#define CH_ANSWER_MAX (64 * 1024 * 1024)   /* of an answer read back */
#define CH_STR_(x) #x
#define CH_STR(x) CH_STR_(x)

/* The enrichment of a record (src/enrich/), last in records: added to a
 * database made before them by ALTER TABLE, in the same order. */
#define RECORDS_ENRICH                                                                             \
	", ptr Nullable(String), base_domain Nullable(String), asn Nullable(UInt32),"             \
	" as_name Nullable(String), country Nullable(String), service Nullable(String)"
static const char *const records_enrich_cols[] = {
	"ptr Nullable(String)",	    "base_domain Nullable(String)", "asn Nullable(UInt32)",
	"as_name Nullable(String)", "country Nullable(String)",	    "service Nullable(String)",
	NULL};

/* clang-format off */
#define IDENT "reporter String, policy_domain String, report_id String, date_begin Int64, date_end Int64"
/* Everything one INSERT of a batch's end carries; kind 1 cell, 2 report, 3 cancel. */
#define LEDGER_COLS \
	"kind UInt8, attempt UInt64, ident UInt64, node UInt64, account_id Int64," \
	" month UInt32," \
	IDENT "," \
	" domain String, source_ip String, day Int64, header_from String, disposition String," \
	" dkim_pass UInt8, spf_pass UInt8, n_messages Int64, n_records Int64," \
	" org_name Nullable(String), email Nullable(String), extra_contact_info Nullable(String)," \
	" adkim Nullable(String), aspf Nullable(String), p Nullable(String), sp Nullable(String)," \
	" np Nullable(String), pct Nullable(Int32), fo Nullable(String), testing Nullable(String)," \
	" discovery_method Nullable(String), generator Nullable(String), version Nullable(String)," \
	" xmlns Nullable(String), schema Nullable(String), report_error Nullable(String)," \
	" archive_key Nullable(String), content_hash Nullable(String), source Nullable(String)," \
	" records Int64, messages_total Int64, skipped Int64, received_at Int64, warnings Nullable(String)"

/* The views from the ledger into each derived table: SELECT ... FROM,
 * and what follows the table.  The rollups take kind 1 (cells) and 4
 * (an attempt's marker: account -1, domain '', day = the attempt), the
 * marker telling which of them hold an attempt (repair()). */
#define CELLS_SEL                                                                                  \
	"SELECT attempt, account_id, month, reporter, domain, source_ip, day, header_from,"        \
	" disposition, dkim_pass, spf_pass, n_messages AS messages, n_records AS recs FROM "
#define DAILY_SEL                                                                                  \
	"SELECT domain, source_ip, day, account_id, header_from, reporter, disposition, dkim_pass,"\
	" spf_pass, month, n_messages AS messages, n_records AS records FROM "
#define TOTALS_SEL                                                                                 \
	"SELECT domain, day, account_id, reporter, disposition, dkim_pass, spf_pass, month,"       \
	" sum(n_messages) AS messages, sum(n_records) AS records FROM "
#define TOTALS_TAIL                                                                                \
	" WHERE kind IN (1, 4)"                                                                    \
	" GROUP BY domain, day, account_id, reporter, disposition, dkim_pass, spf_pass, month"
#define SRC_SEL                                                                                    \
	"SELECT domain, source_ip, account_id, day, month, sum(n_messages) AS messages,"           \
	" sum(if(dkim_pass OR spf_pass, n_messages, 0)) AS dmarc_pass,"                            \
	" sum(if(spf_pass = 1, n_messages, 0)) AS spf_aligned,"                                    \
	" sum(if(dkim_pass = 1, n_messages, 0)) AS dkim_aligned,"                                  \
	" sum(if(disposition = 'quarantine', n_messages, 0)) AS quarantine,"                       \
	" sum(if(disposition = 'reject', n_messages, 0)) AS reject, sum(n_records) AS records"     \
	" FROM "
#define SRC_TAIL " WHERE kind IN (1, 4) GROUP BY domain, source_ip, account_id, day, month"
#define REPORTS_SEL                                                                                \
	"SELECT attempt, ident, node, account_id, month, reporter, policy_domain, report_id,"      \
	" date_begin, date_end, org_name, email, extra_contact_info, adkim, aspf, p, sp, np, pct,"  \
	" fo, testing, discovery_method, generator, version, xmlns, schema, report_error,"         \
	" archive_key, content_hash, source, records, messages_total AS messages, skipped,"        \
	" received_at, warnings, now() AS stored_at FROM "
#define VIEW(t, sel, tail)                                                                        \
	"CREATE MATERIALIZED VIEW IF NOT EXISTS " t "_mv TO " t " AS " sel "ledger" tail
#define FEED(t, sel, tail)                                                                        \
	"CREATE MATERIALIZED VIEW IF NOT EXISTS feed_" t "_mv TO " t " AS " sel "feed_" t tail

static const char *const schema_sql[] = {
	"CREATE TABLE IF NOT EXISTS ledger (" LEDGER_COLS ") ENGINE = Null",
	"CREATE TABLE IF NOT EXISTS records (attempt UInt64, n UInt32, account_id Int64, month UInt32,"
	" " IDENT ", source_ip Nullable(String), count Int64, disposition Nullable(String),"
	" dkim Nullable(String), spf Nullable(String), dmarc_pass UInt8, header_from Nullable(String),"
	" envelope_from Nullable(String), envelope_to Nullable(String), reasons Nullable(String),"
	" dkim_results Nullable(String), spf_results Nullable(String)" RECORDS_ENRICH ")"
	" ENGINE = MergeTree PARTITION BY month ORDER BY (policy_domain, date_begin, attempt, n)",
	/* each source's enrichment as it was written; read as the latest
	 * final reverse name (ptr_state 1-3) and the latest of the rest */
	"CREATE TABLE IF NOT EXISTS ips (ip String, ptr_state UInt8, ptr Nullable(String),"
	" base_domain Nullable(String), asn Nullable(UInt32), as_name Nullable(String),"
	" country Nullable(String), service Nullable(String), service_type Nullable(String),"
	" updated Int64) ENGINE = ReplacingMergeTree(updated) ORDER BY (ip, ptr_state)",
	"CREATE TABLE IF NOT EXISTS cells (attempt UInt64, account_id Int64, month UInt32,"
	" reporter String, domain String, source_ip String, day Int64, header_from String,"
	" disposition String, dkim_pass UInt8, spf_pass UInt8, messages Int64, recs Int64)"
	" ENGINE = MergeTree PARTITION BY month ORDER BY (attempt, day)",
	VIEW("cells", CELLS_SEL, " WHERE kind = 1"),
	"CREATE TABLE IF NOT EXISTS daily (domain String, source_ip String, day Int64,"
	" account_id Int64, header_from String, reporter String, disposition String,"
	" dkim_pass UInt8, spf_pass UInt8, month UInt32, messages Int64, records Int64)"
	" ENGINE = SummingMergeTree((messages, records)) PARTITION BY month"
	" ORDER BY (domain, source_ip, day, account_id, header_from, reporter, disposition,"
	" dkim_pass, spf_pass)",
	VIEW("daily", DAILY_SEL, " WHERE kind IN (1, 4)"),
	"CREATE TABLE IF NOT EXISTS day_totals (domain String, day Int64, account_id Int64,"
	" reporter String, disposition String, dkim_pass UInt8, spf_pass UInt8, month UInt32,"
	" messages Int64, records Int64)"
	" ENGINE = SummingMergeTree((messages, records)) PARTITION BY month"
	" ORDER BY (domain, day, account_id, reporter, disposition, dkim_pass, spf_pass)",
	VIEW("day_totals", TOTALS_SEL, TOTALS_TAIL),
	"CREATE TABLE IF NOT EXISTS src_day (domain String, source_ip String, account_id Int64,"
	" day Int64, month UInt32, messages Int64, dmarc_pass Int64, spf_aligned Int64,"
	" dkim_aligned Int64, quarantine Int64, reject Int64, records Int64)"
	" ENGINE = SummingMergeTree((messages, dmarc_pass, spf_aligned, dkim_aligned, quarantine,"
	" reject, records)) PARTITION BY month ORDER BY (domain, source_ip, account_id, day)",
	VIEW("src_day", SRC_SEL, SRC_TAIL),
	"CREATE TABLE IF NOT EXISTS reports (attempt UInt64, ident UInt64, node UInt64, account_id Int64,"
	" month UInt32, " IDENT ", org_name Nullable(String), email Nullable(String),"
	" extra_contact_info Nullable(String), adkim Nullable(String), aspf Nullable(String),"
	" p Nullable(String), sp Nullable(String), np Nullable(String), pct Nullable(Int32),"
	" fo Nullable(String), testing Nullable(String), discovery_method Nullable(String),"
	" generator Nullable(String), version Nullable(String), xmlns Nullable(String),"
	" schema Nullable(String), report_error Nullable(String), archive_key Nullable(String),"
	" content_hash Nullable(String), source Nullable(String), records Int64, messages Int64,"
	" skipped Int64, received_at Int64, warnings Nullable(String),"
	" stored_at DateTime DEFAULT now())"
	" ENGINE = MergeTree PARTITION BY month ORDER BY (policy_domain, date_begin, attempt)",
	VIEW("reports", REPORTS_SEL, " WHERE kind = 2"),
	"CREATE TABLE IF NOT EXISTS cancels (attempt UInt64, node UInt64, at Int64)"
	" ENGINE = MergeTree ORDER BY attempt",
	"CREATE MATERIALIZED VIEW IF NOT EXISTS cancels_mv TO cancels AS SELECT attempt, node,"
	" received_at AS at FROM ledger WHERE kind = 3",
	/* each derived table's feed: the same view from a Null table of its
	 * own, through which repair() writes into that table alone */
	"CREATE TABLE IF NOT EXISTS feed_cells AS ledger",
	FEED("cells", CELLS_SEL, " WHERE kind = 1"),
	"CREATE TABLE IF NOT EXISTS feed_daily AS ledger",
	FEED("daily", DAILY_SEL, " WHERE kind IN (1, 4)"),
	"CREATE TABLE IF NOT EXISTS feed_day_totals AS ledger",
	FEED("day_totals", TOTALS_SEL, TOTALS_TAIL),
	"CREATE TABLE IF NOT EXISTS feed_src_day AS ledger",
	FEED("src_day", SRC_SEL, SRC_TAIL),
	"CREATE TABLE IF NOT EXISTS feed_reports AS ledger",
	FEED("reports", REPORTS_SEL, " WHERE kind = 2"),
	/* SMTP TLS reports (store.h): an attempt's policies and failures,
	 * then its report row, the commit; reads take the smallest committed
	 * attempt of an identity (store_ch_read.c) */
	"CREATE TABLE IF NOT EXISTS tls_reports (attempt UInt64, ident UInt64, account_id Int64,"
	" month UInt32, reporter String, report_id String, policy_domain String,"
	" org_name Nullable(String), contact_info Nullable(String), date_begin Int64,"
	" date_end Int64, day Int64, policies Int64, failure_details Int64, success Int64,"
	" failure Int64, archive_key Nullable(String), content_hash Nullable(String),"
	" source Nullable(String), received_at Int64, warnings Nullable(String))"
	" ENGINE = MergeTree PARTITION BY month ORDER BY (policy_domain, date_begin, attempt)",
	"CREATE TABLE IF NOT EXISTS tls_policies (attempt UInt64, account_id Int64, month UInt32,"
	" domain String, day Int64, idx UInt32, policy_type String, policy_domain Nullable(String),"
	" mx_host Nullable(String), policy_string Nullable(String), success Int64, failure Int64)"
	" ENGINE = MergeTree PARTITION BY month ORDER BY (domain, day, attempt, idx)",
	"CREATE TABLE IF NOT EXISTS tls_failures (attempt UInt64, account_id Int64, month UInt32,"
	" domain String, day Int64, n UInt32, policy UInt32, result_type String,"
	" sending_ip Nullable(String), receiving_mx_hostname Nullable(String),"
	" receiving_mx_helo Nullable(String), receiving_ip Nullable(String),"
	" additional_info Nullable(String), failure_reason_code Nullable(String), sessions Int64)"
	" ENGINE = MergeTree PARTITION BY month ORDER BY (domain, day, attempt, n)",
	/* failure reports: one row per attempt; reads take the smallest
	 * attempt of each content_hash (store_ch_read.c) */
	"CREATE TABLE IF NOT EXISTS failures (attempt UInt64, month UInt32, account_id Int64,"
	" content_hash String, reported_domain String, day Int64, received_at Int64,"
	" archive_key Nullable(String), source Nullable(String), feedback_type String,"
	" is_arf UInt8, version Nullable(String), user_agent Nullable(String),"
	" auth_failure Nullable(String), delivery_result Nullable(String),"
	" source_ip Nullable(String), original_mail_from Nullable(String),"
	" original_rcpt_to Nullable(String), rcpt_to_count Int64,"
	" original_envelope_id Nullable(String), reporting_mta Nullable(String),"
	" incidents Nullable(Int64), arrival_date Nullable(Int64),"
	" authentication_results Nullable(String), identity_alignment Nullable(String),"
	" dkim_domain Nullable(String), dkim_identity Nullable(String),"
	" dkim_selector Nullable(String), spf_dns Nullable(String), subject Nullable(String),"
	" header_from Nullable(String), header_from_domain Nullable(String),"
	" to_addr Nullable(String), message_id Nullable(String), date Nullable(Int64),"
	" headers Nullable(String), warnings Nullable(String))"
	" ENGINE = MergeTree PARTITION BY month ORDER BY (reported_domain, day, attempt)",
	NULL,
};
/* clang-format on */

/* A report of the open batch: its identity and attempt. */
struct chrep {
	uint64_t ident, attempt;
	char *reporter, *domain, *report_id;
	int64_t begin, end;
};

struct ch {
	CURL *h;
	char base[512];   /* http://HOST:PORT/?database=DB */
	char server[512]; /* http://HOST:PORT/ */
	char db[128];
	char user[128], password[256];
	/* sharded (clickhouse_cluster): writes and reads go through the
	 * Distributed tables <table>_d; a subquery that each shard runs on
	 * its own rows names the local table with its database (db.) */
	char sfx[3];      /* "_d" or "" */
	char dbq[130];    /* "DB." */
	const char *sync; /* INSERT settings: synchronous through a Distributed table */
	uint64_t node; /* this node's id in its attempts */
	char err[512];
	struct dm_buf ans; /* the last answer */
	/* the open report */
	int in_report, dup, looked;
	uint64_t attempt;
	uint32_t rec_n;
	int64_t account_id;
	char reporter[DM_MAX_ID_LEN + 1];
	int have_reporter;
	const struct dm_report *rollup_rep;
	struct rollup rollup;
	uint64_t report_fin_start; /* where the open report's rows begin in fin */
	size_t report_recs_start;
	int report_recs_sent;
	struct dm_buf recs; /* record rows not sent yet */
	struct dm_buf fin;  /* the batch's final INSERT: cells and commit rows */
	/* ... whose beginning, past DM_CH_SPILL_BYTES, is on a temp file (a
	 * report of very many sources): fin is then its end */
	FILE *spill;
	uint64_t spilled;
	char tmpdir[4096];
	struct dm_buf json, sql;
	struct backend_ips ips; /* the batch's sources, for the ips table */
	struct dm_buf ipsb;	/* ... as rows to insert */
	struct chrep *reps;
	size_t nreps, capreps;
	/* identities stored (by any node) in the months loaded so far: a
	 * report of such a month that is not here is new, no lookup needed */
	uint64_t *seen; /* open addressing, 0 = empty */
	size_t nseen, capseen;
	uint32_t *months; /* loaded months (YYYYMM of a report's begin) */
	size_t nmonths, capmonths;
	int64_t seen_polled; /* when new reports were last asked for */
	/* a batch whose final INSERT failed: its rows, on a temp file, kept
	 * until what the server applied of them is completed (repair()) */
	FILE *pend;
	char *pend_mem;    /* its rows when they were all in memory */
	char pend_qid[96]; /* that INSERT's query_id */
	/* the batch */
	int batch_open, broken;
	uint64_t batch_id, durable_id, failed_id;
	struct timespec batch_start;
	/* a prune under way (ch_prune): the archive keys its mutations will
	 * leave unreferenced, handed over once they are applied */
	struct store_prune prune_keys;
	int64_t prune_account, prune_cutoff;
};

/* ---- talking to the server ------------------------------------------------ */

static void
set_err(struct ch *c, const char *what, const char *msg, size_t len)
{
	int n = snprintf(c->err, sizeof c->err, "clickhouse: %s: ", what);
	size_t o = n > 0 ? (size_t)n : 0;
	if (len == 0) {
		msg = "failed";
		len = 6;
	}
	for (size_t i = 0; i < len && o + 1 < sizeof c->err; i++)
		c->err[o++] = msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t' ? ' ' : msg[i];
	while (o > 0 && c->err[o - 1] == ' ')
		o--;
	c->err[o] = '\0';
}

static size_t
on_answer(char *p, size_t size, size_t n, void *arg)
{
	struct ch *c = arg;
	size_t len = size * n;
	if (dm_buf_add(&c->ans, p, len) != 0)
		return 0; /* an answer larger than we read: the transfer fails */
	return len;
}

/* POST to url+params: body, or the query itself as the body when body is
 * NULL.  0, or why in c->err. */
static int
send_body(struct ch *c, const char *query, const char *params, const char *body, uint64_t len,
          FILE *f, const char *what)
{
	char url[4096];
	dm_buf_reset(&c->ans);
	if (body || f) {
		char *q = curl_easy_escape(c->h, query, 0);
		int n = snprintf(url, sizeof url, "%s&query=%s%s", c->base, q ? q : "", params);
		curl_free(q);
		if (n < 0 || (size_t)n >= sizeof url) {
			snprintf(c->err, sizeof c->err, "clickhouse: %s: statement too long", what);
			return DM_EINVAL;
		}
	} else {
		snprintf(url, sizeof url, "%s%s", c->base, params);
		body = query;
		len = strlen(query);
	}
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_POST, 1L);
	/* without POSTFIELDS the body comes from the read function (f) */
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, f ? NULL : body);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c->h, CURLOPT_READDATA, f);
	CURLcode cc = curl_easy_perform(c->h);
	long status = 0;
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		const char *m = curl_easy_strerror(cc);
		set_err(c, what, m, strlen(m));
		return DM_EIO;
	}
	if (status != 200) {
		set_err(c, what, c->ans.data ? c->ans.data : "",
		        c->ans.len > 400 ? 400 : c->ans.len);
		return status >= 500 && strstr(c->err, "Too many parts") ? DM_EBUSY : DM_ESTORE;
	}
	return 0;
}

static int
post(struct ch *c, const char *query, const char *params, const char *body, size_t len,
     const char *what)
{
	return send_body(c, query, params, body, len, NULL, what);
}

/* post() of a read of system.tables or system.columns: ClickHouse 18.16
 * fails it with code 60 (no such table) when a table of the database goes
 * during the read (a registry writer's rename: regdb_ch.c), so it is
 * read again. */
static int
post_system(struct ch *c, const char *query, const char *what)
{
	int rc = 0;
	for (int tries = 0; tries < 50; tries++) {
		rc = post(c, query, "", NULL, 0, what);
		if (rc == 0 || strncmp(c->ans.data ? c->ans.data : "", "Code: 60,", 9) != 0)
			break;
		usleep(20 * 1000);
	}
	return rc;
}

static size_t
on_read(char *p, size_t size, size_t n, void *arg)
{
	return arg ? fread(p, 1, size * n, arg) : 0;
}

/* post() with the body read from f (len bytes from where it stands). */
static int
post_file(struct ch *c, const char *query, const char *params, FILE *f, uint64_t len,
          const char *what)
{
	return send_body(c, query, params, NULL, len, f, what);
}

/* The answer's lines: *line is set to each in turn (NUL-terminated in
 * place; fields split by tabs); returns 0 at the end. */
static int
next_line(struct ch *c, size_t *pos, char **line)
{
	if (c->ans.len == 0 || *pos >= c->ans.len)
		return 0;
	char *s = c->ans.data + *pos;
	char *nl = memchr(s, '\n', c->ans.len - *pos);
	if (nl) {
		*nl = '\0';
		*pos = (size_t)(nl - c->ans.data) + 1;
	} else {
		*pos = c->ans.len;
	}
	*line = s;
	return 1;
}

/* ---- rows ------------------------------------------------------------------------- */

static int
hexfield(struct dm_buf *b, const unsigned char *ip, int family, int last)
{
	static const char hex[] = "0123456789abcdef";
	int bad = 0;
	if (!family)
		bad |= dm_buf_add(b, "\\N", 2);
	for (int i = 0; family && i < 16; i++) {
		char h[2] = {hex[ip[i] >> 4], hex[ip[i] & 15]};
		bad |= dm_buf_add(b, h, 2);
	}
	bad |= dm_buf_addc(b, last ? '\n' : '\t');
	return bad;
}

/* The month a report's rows are kept under (partition key): of its
 * begin; a begin more than DM_CH_PARTITION_YEARS back or a month ahead
 * goes under month 0, so hostile dates cannot make partitions without
 * end (ClickHouse refuses an INSERT that spans more than 100). */
static uint32_t
month_of(int64_t t)
{
	int64_t now = (int64_t)time(NULL);
	if (t < now - (int64_t)DM_CH_PARTITION_YEARS * 366 * 86400 || t > now + 31 * 86400)
		return 0;
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	return (uint32_t)((tm.tm_year + 1900) * 100 + tm.tm_mon + 1);
}

/* The identity's 64-bit key: the first 8 bytes of the SHA-256 of its
 * parts (the parts themselves are compared too). */
static uint64_t
ident_of(const char *reporter, const char *domain, const char *report_id, int64_t begin,
         int64_t end)
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	char tail[48];
	int tl = snprintf(tail, sizeof tail, "%lld/%lld", (long long)begin, (long long)end);
	EVP_DigestInit_ex(x, EVP_sha256(), NULL);
	EVP_DigestUpdate(x, reporter, strlen(reporter) + 1);
	EVP_DigestUpdate(x, domain, strlen(domain) + 1);
	EVP_DigestUpdate(x, report_id, strlen(report_id) + 1);
	EVP_DigestUpdate(x, tail, (size_t)tl);
	EVP_DigestFinal_ex(x, md, &n);
	EVP_MD_CTX_free(x);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | md[i];
	return v;
}

/* A new attempt: random, not 0, below 2^53 (it is the report's id in the
 * API, which a JavaScript client reads as a double). */
static uint64_t
new_attempt(void)
{
	uint64_t v = 0;
	while (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v || (v &= DM_CH_ATTEMPT_MASK) == 0)
		;
	return v;
}

/* ---- batches ----------------------------------------------------------------- */

static void
reps_clear(struct ch *c)
{
	for (size_t i = 0; i < c->nreps; i++) {
		free(c->reps[i].reporter);
		free(c->reps[i].domain);
		free(c->reps[i].report_id);
	}
	c->nreps = 0;
}

/* The batch's final INSERT so far: spilled and in memory. */
static uint64_t
fin_len(const struct ch *c)
{
	return c->spilled + c->fin.len;
}

/* The final INSERT cut back to len (a report that is not kept). */
static void
fin_truncate(struct ch *c, uint64_t len)
{
	if (len >= c->spilled) {
		c->fin.len = (size_t)(len - c->spilled);
		return;
	}
	dm_buf_reset(&c->fin);
	if (ftruncate(fileno(c->spill), (off_t)len) == 0 && fseeko(c->spill, (off_t)len, SEEK_SET) == 0)
		c->spilled = len;
	else
		c->broken = 1;
}

/* A temp file in data_dir/tmp, already unlinked. */
static FILE *
temp_file(struct ch *c)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/dmarcd-ch-XXXXXX", c->tmpdir);
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	unlink(path);
	FILE *f = fdopen(fd, "w+");
	if (f == NULL)
		close(fd);
	return f;
}

/* Past DM_CH_SPILL_BYTES in memory, fin goes on to a temp file (in
 * data_dir/tmp), so memory does not grow with a report's sources.  Called
 * between whole rows. */
static int
fin_spill(struct ch *c)
{
	if (c->fin.len < DM_CH_SPILL_BYTES)
		return 0;
	if (c->spill == NULL) {
		c->spill = temp_file(c);
		if (c->spill == NULL) {
			snprintf(c->err, sizeof c->err, "clickhouse: no temp file in %.400s", c->tmpdir);
			return DM_EIO;
		}
	}
	if (c->spilled + c->fin.len > DM_CH_MAX_INSERT_BYTES) {
		snprintf(c->err, sizeof c->err,
		         "clickhouse: a report with more rollup rows than one INSERT may carry");
		return DM_ELIMIT;
	}
	if (fwrite(c->fin.data, 1, c->fin.len, c->spill) != c->fin.len) {
		snprintf(c->err, sizeof c->err, "clickhouse: cannot write the temp file in %.400s",
		         c->tmpdir);
		return DM_EIO;
	}
	c->spilled += c->fin.len;
	dm_buf_reset(&c->fin);
	return 0;
}

static void
fin_reset(struct ch *c)
{
	dm_buf_reset(&c->fin);
	if (c->spill && c->spilled) {
		if (ftruncate(fileno(c->spill), 0) != 0 || fseeko(c->spill, 0, SEEK_SET) != 0) {
			fclose(c->spill); /* a new one next time */
			c->spill = NULL;
		}
	}
	c->spilled = 0;
}

static void
batch_fail(struct ch *c)
{
	if (c->batch_open)
		__atomic_store_n(&c->failed_id, c->batch_id, __ATOMIC_RELEASE);
	c->batch_open = 0;
	c->broken = 0;
	dm_buf_reset(&c->recs);
	fin_reset(c);
	reps_clear(c);
}

static int
recs_flush(struct ch *c)
{
	if (c->recs.len == 0)
		return 0;
	char q[64];
	snprintf(q, sizeof q, "INSERT INTO records%s FORMAT TabSeparated", c->sfx);
	int rc = post(c, q, c->sync, c->recs.data, c->recs.len, "insert records");
	if (rc) {
		c->broken = 1;
		return rc;
	}
	dm_buf_reset(&c->recs);
	c->report_recs_sent = 1;
	return 0;
}

/* Live attempts of the batch's identities (or of one): lines of ident,
 * attempt, node, reporter, policy_domain, report_id (hex), begin, end. */
static int
live_attempts(struct ch *c, const uint64_t *idents, size_t n)
{
	struct dm_buf *q = &c->sql;
	dm_buf_reset(q);
	int bad = dm_buf_printf(q,
	                        "SELECT ident, attempt, node, hex(reporter), hex(policy_domain),"
	                        " hex(report_id), date_begin, date_end FROM reports%s"
	                        " WHERE ident IN (",
	                        c->sfx);
	for (size_t i = 0; i < n; i++)
		bad |= dm_buf_printf(q, "%s%" PRIu64, i ? "," : "", idents[i]);
	bad |= dm_buf_printf(q,
	                     ") AND attempt NOT IN (SELECT attempt FROM %scancels)"
	                     " FORMAT TabSeparated",
	                     c->dbq);
	bad |= dm_buf_addc(q, '\0');
	if (bad) {
		snprintf(c->err, sizeof c->err, "clickhouse: too many reports to look up");
		return DM_ELIMIT;
	}
	return post(c, q->data, "", NULL, 0, "look up reports");
}

/* One line of live_attempts' answer: the identity's key and full text
 * (hex parts and dates, as the answer has them), the attempt. */
struct att {
	uint64_t ident, attempt;
	const char *full;
};

/* The answer's lines as atts (pointing into the answer). */
static size_t
parse_live(struct ch *c, struct att **out)
{
	struct att *v = NULL;
	size_t n = 0, cap = 0, pos = 0;
	char *ln;
	while (next_line(c, &pos, &ln)) {
		char *t, *u;
		uint64_t ident = strtoull(ln, &t, 10);
		if (*t != '\t')
			continue;
		uint64_t attempt = strtoull(t + 1, &u, 10);
		if (*u != '\t' || !(u = strchr(u + 1, '\t')))
			continue; /* past the node */
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n].ident = ident;
		v[n].attempt = attempt;
		v[n++].full = u + 1;
	}
	*out = v;
	return n;
}

/* An identity as live_attempts writes it: hex (upper case) of reporter,
 * domain and report id, then begin and end, tab-separated. */
static int
full_identity(struct dm_buf *b, const char *reporter, const char *domain, const char *report_id,
              int64_t begin, int64_t end)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *part[3] = {reporter, domain, report_id};
	int bad = 0;
	dm_buf_reset(b);
	for (int i = 0; i < 3; i++) {
		for (const unsigned char *p = (const unsigned char *)part[i]; *p; p++) {
			char h[2] = {hex[*p >> 4], hex[*p & 15]};
			bad |= dm_buf_add(b, h, 2);
		}
		bad |= dm_buf_addc(b, '\t');
	}
	bad |= dm_buf_printf(b, "%lld\t%lld", (long long)begin, (long long)end);
	bad |= dm_buf_addc(b, '\0');
	return bad;
}

/* Cancel attempts: a cancel row each.  Idempotent (a cancelled attempt
 * is in `cancels` once or twice, the same), so any node may cancel any
 * attempt. */
static int
cancel(struct ch *c, const uint64_t *attempts, size_t n)
{
	struct dm_buf *q = &c->sql;
	dm_buf_reset(q);
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		bad |= dm_buf_printf(q, "3\t%" PRIu64 "\t%" PRIu64 "\t%lld\n", attempts[i], c->node,
		                     (long long)time(NULL));
	if (bad) {
		snprintf(c->err, sizeof c->err, "clickhouse: too many attempts to cancel");
		return DM_ELIMIT;
	}
	char ins[96];
	snprintf(ins, sizeof ins,
	         "INSERT INTO ledger%s (kind, attempt, node, received_at) FORMAT TabSeparated",
	         c->sfx);
	return post(c, ins, c->sync, q->data, q->len, "cancel an attempt");
}

/* For each identity of v with more than one live attempt, every attempt
 * but the smallest is cancelled (the same choice whoever makes it).  A
 * report counts through its smallest live attempt, so it stays stored
 * whichever attempt goes. */
static int
resolve(struct ch *c, const struct att *v, size_t n)
{
	uint64_t *lose = xcalloc(n ? n : 1, sizeof *lose);
	size_t nlose = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n; k++)
			if (v[k].ident == v[i].ident && v[k].attempt < v[i].attempt &&
			    strcmp(v[k].full, v[i].full) == 0) {
				lose[nlose++] = v[i].attempt;
				break;
			}
	int rc = nlose ? cancel(c, lose, nlose) : 0;
	free(lose);
	return rc;
}

/* After the final INSERT: an identity of the batch with more than one
 * live attempt (another node stored the same report meanwhile) keeps its
 * smallest.  Of two writers at least the later one's check sees both. */
static int
check_batch(struct ch *c)
{
	if (c->nreps == 0)
		return 0;
	uint64_t *ids = xcalloc(c->nreps, sizeof *ids);
	for (size_t i = 0; i < c->nreps; i++)
		ids[i] = c->reps[i].ident;
	int rc = live_attempts(c, ids, c->nreps);
	free(ids);
	if (rc)
		return rc;
	struct att *v;
	size_t n = parse_live(c, &v);
	rc = resolve(c, v, n);
	free(v);
	return rc;
}

/* ---- identities seen ---------------------------------------------------------- */

static int
seen_has(const struct ch *c, uint64_t v)
{
	if (c->capseen == 0 || v == 0)
		return 0;
	for (size_t i = (size_t)(v * 0x9e3779b97f4a7c15ULL) & (c->capseen - 1);;
	     i = (i + 1) & (c->capseen - 1)) {
		if (c->seen[i] == v)
			return 1;
		if (c->seen[i] == 0)
			return 0;
	}
}

static void
seen_add(struct ch *c, uint64_t v)
{
	if (v == 0 || seen_has(c, v))
		return;
	if (2 * (c->nseen + 1) > c->capseen) {
		size_t cap = c->capseen ? 2 * c->capseen : 4096;
		uint64_t *old = c->seen;
		size_t oldcap = c->capseen;
		c->seen = xcalloc(cap, sizeof *c->seen);
		c->capseen = cap;
		c->nseen = 0;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i])
				seen_add(c, old[i]);
		free(old);
	}
	size_t i = (size_t)(v * 0x9e3779b97f4a7c15ULL) & (c->capseen - 1);
	while (c->seen[i])
		i = (i + 1) & (c->capseen - 1);
	c->seen[i] = v;
	c->nseen++;
}

/* Add the idents of the answer's lines (each line starts with one). */
static void
seen_answer(struct ch *c)
{
	size_t pos = 0;
	char *ln;
	while (next_line(c, &pos, &ln))
		seen_add(c, strtoull(ln, NULL, 10));
}

/* The identities of the reports stored since the last poll, by any node
 * (with a few seconds of overlap). */
static int
seen_poll(struct ch *c)
{
	char q[1024];
	int64_t now = (int64_t)time(NULL);
	snprintf(q, sizeof q,
	         "SELECT ident FROM reports%s WHERE stored_at >= toDateTime(%lld)"
	         " FORMAT TabSeparated",
	         c->sfx, (long long)(c->seen_polled ? c->seen_polled - 5 : now - 5));
	int rc = post(c, q, "", NULL, 0, "read the stored reports");
	if (rc)
		return rc;
	seen_answer(c);
	c->seen_polled = now;
	/* and what a writer that died between its commit and its check left
	 * with two live attempts, in the last minutes */
	/* GLOBAL IN: the identities are counted over every shard (the two
	 * attempts of one may be on two) */
	snprintf(q, sizeof q,
	         "SELECT ident, attempt, node, hex(reporter), hex(policy_domain), hex(report_id),"
	         " date_begin, date_end FROM reports%s WHERE ident GLOBAL IN (SELECT ident FROM"
	         " reports%s WHERE stored_at >= now() - %d AND attempt NOT IN (SELECT attempt FROM"
	         " %scancels) GROUP BY ident HAVING count() > 1) AND attempt NOT IN (SELECT"
	         " attempt FROM %scancels) FORMAT TabSeparated",
	         c->sfx, c->sfx, DM_CH_RESOLVE_SECONDS, c->dbq, c->dbq);
	rc = post(c, q, "", NULL, 0, "look for reports stored twice");
	if (rc)
		return rc;
	struct att *v;
	size_t n = parse_live(c, &v);
	rc = resolve(c, v, n);
	free(v);
	return rc;
}

/* Make sure the identities of month m are in the set: loaded once (a
 * report partition, read by its key), then kept current by the polls. */
static int
seen_month(struct ch *c, uint32_t m)
{
	for (size_t i = 0; i < c->nmonths; i++)
		if (c->months[i] == m)
			return 0;
	if (c->seen_polled == 0) {
		int rc = seen_poll(c); /* first: from now on nothing new is missed */
		if (rc)
			return rc;
	}
	char q[256];
	snprintf(q, sizeof q, "SELECT ident FROM reports%s WHERE month = %u FORMAT TabSeparated",
	         c->sfx, m);
	int rc = post(c, q, "", NULL, 0, "read the stored reports");
	if (rc)
		return rc;
	seen_answer(c);
	if (c->nmonths == c->capmonths) {
		c->capmonths = c->capmonths ? 2 * c->capmonths : 16;
		c->months = xrealloc(c->months, c->capmonths * sizeof *c->months);
	}
	c->months[c->nmonths++] = m;
	return 0;
}

static int
field(struct dm_buf *b, const char *s, int last)
{
	return backend_field(b, s, last);
}

static int
field_int(struct dm_buf *b, long long v, int last)
{
	return dm_buf_printf(b, "%lld%c", v, last ? '\n' : '\t') ? DM_ELIMIT : 0;
}

/* The batch's sources into ips (before the batch commits: a failure here
 * fails the batch, which comes again), and empty the table. */
static int
ips_flush(struct ch *c)
{
	if (c->ips.n == 0)
		return 0;
	struct dm_buf *b = &c->ipsb;
	int bad = 0;
	dm_buf_reset(b);
	for (size_t i = 0; i < c->ips.n; i++) {
		const struct backend_ip *x = backend_ips_at(&c->ips, i);
		const struct dm_enrichment *e = &x->e;
		bad |= hexfield(b, x->ip, 6, 0);
		bad |= field_int(b, (long long)e->ptr_state, 0);
		bad |= backend_enrich_fields(b, e, 1, 0);
		bad |= field_int(b, x->updated, 1);
	}
	backend_ips_clear(&c->ips);
	if (bad) {
		snprintf(c->err, sizeof c->err, "clickhouse: the sources' enrichment does not fit");
		return DM_ELIMIT;
	}
	char q[64];
	snprintf(q, sizeof q, "INSERT INTO ips%s FORMAT TabSeparated", c->sfx);
	int rc = post(c, q, c->sync, b->data, b->len, "insert the sources' enrichment");
	dm_buf_reset(b);
	if (rc)
		c->broken = 1;
	return rc;
}

/* ---- a batch whose final INSERT failed ---------------------------------------- */

/* The final INSERT goes through the views of `ledger` one table after the
 * other, each table's rows written whole (an attempt's rows share one
 * partition, its month): a server that dies or fails half-way leaves an
 * attempt in some of the five tables and not in the others, in an order
 * that is the server's business.  The batch's rows are kept (pend) and,
 * before anything else is written, repair() looks up which tables hold
 * each attempt (cells and reports by attempt, the rollups by the
 * attempt's marker row) and completes an attempt found in any of them in
 * the others, through their feed tables: the report then counts once,
 * whole, and comes back as a duplicate.  An attempt found in none is left:
 * nothing of it counts and its report is stored again.  Doing it twice
 * writes nothing twice (a table that holds an attempt is not written). */

static const char *const derived[] = {"cells", "daily", "day_totals", "src_day", "reports"};
#define NDERIVED 5

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The index of x in the sorted v, or -1. */
static long
find_u64(const uint64_t *v, size_t n, uint64_t x)
{
	const uint64_t *p = bsearch(&x, v, n, sizeof *v, cmp_u64);
	return p ? (long)(p - v) : -1;
}

/* A ledger row's kind and attempt (its first two fields). */
static uint64_t
row_attempt(const char *line, int *kind)
{
	*kind = line[0] - '0';
	const char *t = strchr(line, '\t');
	return t ? strtoull(t + 1, NULL, 10) : 0;
}

/* A ledger row's identity key (its third field). */
static uint64_t
row_ident(const char *line)
{
	const char *t = strchr(line, '\t');
	t = t ? strchr(t + 1, '\t') : NULL;
	return t ? strtoull(t + 1, NULL, 10) : 0;
}

/* The batch's final INSERT, which failed, kept as the pending batch: the
 * spill file when it was sent from there, else a copy of fin in memory. */
static void
pend_keep(struct ch *c)
{
	if (c->spill && c->spilled > 0) {
		c->pend = c->spill;
		c->spill = NULL;
		c->spilled = 0;
		return;
	}
	c->pend_mem = xmalloc(c->fin.len + 1);
	memcpy(c->pend_mem, c->fin.data, c->fin.len);
	c->pend = fmemopen(c->pend_mem, c->fin.len, "r");
	if (c->pend == NULL)
		abort(); /* out of memory, like xmalloc */
}

static void
pend_drop(struct ch *c)
{
	if (c->pend)
		fclose(c->pend);
	free(c->pend_mem);
	c->pend = NULL;
	c->pend_mem = NULL;
	c->pend_qid[0] = '\0';
}

/* Which of the n attempts (sorted) each derived table holds: bit t of
 * held[i] for derived[t]. */
static int
attempts_held(struct ch *c, const uint64_t *att, size_t n, unsigned char *held)
{
	/* the key each table holds an attempt by, and the marker's filter */
	static const char *const key[NDERIVED] = {"attempt", "day", "day", "day", "attempt"};
	static const char *const marker[NDERIVED] = {
	        "", "account_id = -1 AND domain = '' AND source_ip = '' AND ",
	        "account_id = -1 AND domain = '' AND ",
	        "account_id = -1 AND domain = '' AND source_ip = '' AND ", ""};
	struct dm_buf *q = &c->sql;
	dm_buf_reset(q);
	int bad = 0;
	for (int t = 0; t < NDERIVED; t++) {
		bad |= dm_buf_printf(q, "%sSELECT toUInt8(%d), toUInt64(%s) FROM %s%s WHERE %s%s IN (",
		                     t ? " UNION ALL " : "", t, key[t], derived[t], c->sfx, marker[t],
		                     key[t]);
		for (size_t i = 0; i < n; i++)
			bad |= dm_buf_printf(q, "%s%" PRIu64, i ? "," : "", att[i]);
		bad |= dm_buf_printf(q, ") GROUP BY %s", key[t]);
	}
	bad |= dm_buf_printf(q, " FORMAT TabSeparated");
	bad |= dm_buf_addc(q, '\0');
	if (bad) {
		snprintf(c->err, sizeof c->err, "clickhouse: too many attempts to look up");
		return DM_ELIMIT;
	}
	int rc = post(c, q->data, "", NULL, 0, "look up the failed batch");
	if (rc)
		return rc;
	memset(held, 0, n);
	size_t pos = 0;
	char *ln, *e;
	while (next_line(c, &pos, &ln)) {
		unsigned long t = strtoul(ln, &e, 10);
		if (*e != '\t' || t >= NDERIVED)
			continue;
		long i = find_u64(att, n, strtoull(e + 1, NULL, 10));
		if (i >= 0)
			held[i] |= (unsigned char)(1u << t);
	}
	return 0;
}

/* Complete what the pending batch left half-applied (above).  0 when
 * there is nothing left to do; DM_EBUSY while its INSERT still runs. */
static int
repair(struct ch *c)
{
	if (c->pend == NULL)
		return 0;
	/* an INSERT the server still runs may yet apply more of it */
	char q[256];
	snprintf(q, sizeof q,
	         "SELECT count() FROM system.processes WHERE query_id = '%s' FORMAT TabSeparated",
	         c->pend_qid);
	int rc = post(c, q, "", NULL, 0, "look for the failed batch's INSERT");
	if (rc)
		return rc;
	if (c->ans.len == 0 || c->ans.data[0] != '0') {
		snprintf(c->err, sizeof c->err,
		         "clickhouse: the failed batch's INSERT still runs on the server");
		return DM_EBUSY;
	}
	/* its attempts, and each report's (attempt, identity) from its
	 * commit row */
	uint64_t *att = NULL, *com = NULL, *ids = NULL;
	size_t n = 0, cap = 0, ncom = 0, capcom = 0, nids = 0;
	unsigned char *held = NULL;
	char *line = NULL;
	size_t lcap = 0;
	FILE *out = NULL;
	rewind(c->pend);
	while (getline(&line, &lcap, c->pend) > 0) {
		int kind;
		uint64_t a = row_attempt(line, &kind);
		if (kind == 2) {
			if (ncom + 2 > capcom) {
				capcom = capcom ? 2 * capcom : 128;
				com = xrealloc(com, capcom * sizeof *com);
			}
			com[ncom++] = a;
			com[ncom++] = row_ident(line);
		}
		if (n && att[n - 1] == a)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			att = xrealloc(att, cap * sizeof *att);
		}
		att[n++] = a;
	}
	if (n > 0) {
		qsort(att, n, sizeof *att, cmp_u64);
		size_t u = 1;
		for (size_t i = 1; i < n; i++)
			if (att[i] != att[u - 1])
				att[u++] = att[i];
		n = u;
		held = xcalloc(n, 1);
		rc = attempts_held(c, att, n, held);
	}
	for (int t = 0; rc == 0 && t < NDERIVED; t++) {
		/* the rows of the attempts found elsewhere but not here */
		uint64_t len = 0;
		if (out == NULL && (out = temp_file(c)) == NULL) {
			snprintf(c->err, sizeof c->err, "clickhouse: no temp file in %.400s", c->tmpdir);
			rc = DM_EIO;
			break;
		}
		if (ftruncate(fileno(out), 0) != 0 || fseeko(out, 0, SEEK_SET) != 0)
			rc = DM_EIO;
		rewind(c->pend);
		ssize_t ll;
		while (rc == 0 && (ll = getline(&line, &lcap, c->pend)) > 0) {
			int kind;
			long i = find_u64(att, n, row_attempt(line, &kind));
			if (i < 0 || held[i] == 0 || (held[i] & (1u << t)))
				continue;
			if (fwrite(line, 1, (size_t)ll, out) != (size_t)ll)
				rc = DM_EIO;
			len += (uint64_t)ll;
		}
		if (rc == 0 && (fflush(out) != 0 || fseeko(out, 0, SEEK_SET) != 0))
			rc = DM_EIO;
		if (rc) {
			snprintf(c->err, sizeof c->err, "clickhouse: cannot write a temp file in %.400s",
			         c->tmpdir);
			break;
		}
		if (len == 0)
			continue;
		char ins[96], params[256];
		snprintf(ins, sizeof ins, "INSERT INTO feed_%s%s FORMAT TabSeparated", derived[t],
		         c->sfx);
		snprintf(params, sizeof params, "&max_insert_block_size=1073741824%s", c->sync);
		rc = post_file(c, ins, params, out, len, "complete the failed batch");
	}
	/* the identities of the reports now committed (whether their commit
	 * row was written then or now): kept once, as after any commit,
	 * which the failed batch never checked */
	if (rc == 0 && ncom > 0) {
		ids = xcalloc(ncom / 2, sizeof *ids);
		for (size_t i = 0; i < ncom; i += 2) {
			long k = find_u64(att, n, com[i]);
			if (k >= 0 && held[k])
				ids[nids++] = com[i + 1];
		}
	}
	if (rc == 0 && nids > 0 && (rc = live_attempts(c, ids, nids)) == 0) {
		struct att *v;
		size_t nv = parse_live(c, &v);
		rc = resolve(c, v, nv);
		free(v);
	}
	free(line);
	free(att);
	free(com);
	free(ids);
	free(held);
	if (out)
		fclose(out);
	if (rc == 0)
		pend_drop(c);
	return rc;
}

static int
batch_commit(struct ch *c)
{
	if (!c->batch_open)
		return 0;
	int rc = c->broken ? DM_ESTORE : repair(c);
	if (rc == 0)
		rc = recs_flush(c);
	if (rc == 0)
		rc = ips_flush(c);
	if (rc == 0 && fin_len(c) > 0) {
		char q[64], params[256];
		uint32_t r = 0;
		(void)getrandom(&r, sizeof r, 0);
		snprintf(c->pend_qid, sizeof c->pend_qid, "dmarcd-%016" PRIx64 "-%" PRIu64 "-%08x",
		         c->node, c->batch_id, r);
		snprintf(q, sizeof q, "INSERT INTO ledger%s FORMAT TabSeparated", c->sfx);
		snprintf(params, sizeof params, "&max_insert_block_size=1073741824&query_id=%s%s",
		         c->pend_qid, c->sync);
		if (c->spilled == 0) {
			rc = post(c, q, params, c->fin.data, c->fin.len, "commit the batch");
		} else {
			/* one INSERT still: the file, then what is in memory */
			if (fwrite(c->fin.data, 1, c->fin.len, c->spill) != c->fin.len ||
			    fflush(c->spill) != 0 || fseeko(c->spill, 0, SEEK_SET) != 0) {
				snprintf(c->err, sizeof c->err, "clickhouse: cannot read back a temp file in %.400s",
				         c->tmpdir);
				rc = DM_EIO;
			} else {
				c->spilled += c->fin.len;
				dm_buf_reset(&c->fin);
				rc = post_file(c, q, params, c->spill, c->spilled, "commit the batch");
			}
		}
		/* the server may have applied part of it: kept for repair() */
		if (rc)
			pend_keep(c);
	}
	if (rc == 0)
		rc = check_batch(c);
	if (rc) {
		if (!c->err[0])
			snprintf(c->err, sizeof c->err, "clickhouse: the batch failed earlier");
		/* what may be on the server now is looked up when it comes again */
		for (size_t i = 0; i < c->nreps; i++)
			seen_add(c, c->reps[i].ident);
		batch_fail(c);
		return rc;
	}
	c->batch_open = 0;
	fin_reset(c);
	for (size_t i = 0; i < c->nreps; i++)
		seen_add(c, c->reps[i].ident);
	reps_clear(c);
	__atomic_store_n(&c->durable_id, c->batch_id, __ATOMIC_RELEASE);
	return 0;
}

/* ---- one report ----------------------------------------------------------------- */


/* The leading columns of a ledger row: kind to the report's identity. */
static int
ledger_head(struct ch *c, struct dm_buf *b, int kind, const struct dm_report *rep, uint64_t ident)
{
	int bad = dm_buf_printf(b, "%d\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%lld\t%u\t", kind,
	                        c->attempt, ident, c->node, (long long)c->account_id,
	                        month_of(rep->begin));
	bad |= field(b, c->reporter, 0);
	bad |= field(b, rep->policy.domain ? rep->policy.domain : "", 0);
	bad |= field(b, rep->report_id ? rep->report_id : "", 0);
	bad |= field_int(b, rep->begin, 0);
	bad |= field_int(b, rep->end, 0);
	return bad;
}

/* The 25 metadata columns of a ledger row left empty (a cell's). */
#define NO_META                                                                                    \
	"\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N" \
	"\t\\N\t\\N\t0\t0\t0\t0\t\\N\n"

/* The open report's cells so far into fin (its rollup is then empty). */
static int
cells_out(struct ch *c)
{
	const struct dm_report *rep = c->rollup_rep;
	uint64_t ident = 0;
	int bad = 0;
	for (size_t i = 0; i < c->rollup.n; i++) {
		const struct rollup_cell *x = rollup_cell(&c->rollup, i);
		bad |= ledger_head(c, &c->fin, 1, rep, ident);
		bad |= field(&c->fin, rep->policy.domain ? rep->policy.domain : "", 0);
		bad |= hexfield(&c->fin, x->ip, x->ip_family ? x->ip_family : 4, 0);
		bad |= field_int(&c->fin, x->day, 0);
		bad |= field(&c->fin, x->header_from ? x->header_from : "", 0);
		bad |= field(&c->fin, x->disposition ? x->disposition : "", 0);
		bad |= dm_buf_printf(&c->fin, "%d\t%d\t%llu\t%llu\t", x->dkim_pass ? 1 : 0,
		                     x->spf_pass ? 1 : 0, (unsigned long long)x->messages,
		                     (unsigned long long)x->records);
		bad |= dm_buf_add(&c->fin, NO_META, sizeof NO_META - 1);
	}
	rollup_clear(&c->rollup);
	if (bad) {
		snprintf(c->err, sizeof c->err, "clickhouse: the batch's rollup is too large");
		return DM_ELIMIT;
	}
	return fin_spill(c);
}

static int
report_flush(void *arg, struct rollup *r)
{
	(void)r;
	return cells_out(arg);
}

static void
set_reporter(struct ch *c, const struct dm_report *rep)
{
	backend_reporter(rep, c->reporter, sizeof c->reporter);
	c->have_reporter = 1;
}

/* Is rep stored already (a live attempt of its identity, or one of this
 * batch's reports)?  Asked of the server only when its identity is among
 * those seen; an identity found with more than one live attempt keeps
 * its smallest on the way (resolve). */
static int
known(struct ch *c, const struct dm_report *rep, int *exists)
{
	*exists = 0;
	if (!c->have_reporter)
		set_reporter(c, rep);
	const char *dom = rep->policy.domain ? rep->policy.domain : "";
	const char *rid = rep->report_id ? rep->report_id : "";
	uint64_t ident = ident_of(c->reporter, dom, rid, rep->begin, rep->end);
	for (size_t i = 0; i < c->nreps; i++) {
		struct chrep *r = &c->reps[i];
		if (r->ident == ident && strcmp(r->reporter, c->reporter) == 0 &&
		    strcmp(r->domain, dom) == 0 && strcmp(r->report_id, rid) == 0 &&
		    r->begin == rep->begin && r->end == rep->end) {
			*exists = 1;
			return 0;
		}
	}
	/* not seen in its month: new, or stored by another node since the
	 * last poll, which the check after the commit finds */
	int rc = seen_month(c, month_of(rep->begin));
	if (rc)
		return rc;
	if (!seen_has(c, ident))
		return 0;
	rc = live_attempts(c, &ident, 1);
	if (rc)
		return rc;
	struct att *v;
	size_t n = parse_live(c, &v);
	if (full_identity(&c->json, c->reporter, dom, rid, rep->begin, rep->end) == 0)
		for (size_t i = 0; i < n && !*exists; i++)
			*exists = strcmp(v[i].full, c->json.data) == 0;
	rc = resolve(c, v, n);
	free(v);
	return rc;
}

static int
ch_tx_begin(struct store *st, int64_t account_id)
{
	struct ch *c = st->impl;
	c->err[0] = '\0';
	if (c->batch_open && c->broken)
		batch_fail(c);
	if (!c->batch_open) {
		int rc = repair(c);
		if (rc == 0 && c->seen_polled && (int64_t)time(NULL) > c->seen_polled)
			rc = seen_poll(c);
		if (rc)
			return rc;
		c->batch_open = 1;
		c->batch_id++;
		clock_gettime(CLOCK_MONOTONIC, &c->batch_start);
	}
	c->in_report = 1;
	c->dup = c->looked = 0;
	c->attempt = new_attempt();
	c->rec_n = 0;
	c->have_reporter = 0;
	c->account_id = account_id;
	c->report_fin_start = fin_len(c);
	c->report_recs_start = c->recs.len;
	c->report_recs_sent = 0;
	rollup_clear(&c->rollup);
	return 0;
}

static int
ch_record_add(struct store *st, const struct dm_report *rep, const struct dm_record *rec)
{
	struct ch *c = st->impl;
	int rc;
	if (!dm_report_claimable(rep)) {
		snprintf(c->err, sizeof c->err, "a record before the report's identity is known");
		return DM_EINVAL;
	}
	if (!c->looked) {
		int exists = 0;
		c->looked = 1;
		if ((rc = known(c, rep, &exists)) != 0) {
			c->broken = 1;
			return rc;
		}
		c->dup = exists;
	}
	if (c->dup)
		return 0;
	size_t off[3], len[3];
	if (backend_record_json(&c->json, rec, off, len) != 0) {
		snprintf(c->err, sizeof c->err, "record results too large");
		return DM_ELIMIT;
	}
	struct dm_buf *b = &c->recs;
	size_t row = b->len;
	int bad = dm_buf_printf(b, "%" PRIu64 "\t%u\t%lld\t%u\t", c->attempt, c->rec_n + 1,
	                        (long long)c->account_id, month_of(rep->begin));
	bad |= field(b, c->reporter, 0);
	bad |= field(b, rep->policy.domain, 0);
	bad |= field(b, rep->report_id, 0);
	bad |= field_int(b, rep->begin, 0);
	bad |= field_int(b, rep->end, 0);
	bad |= hexfield(b, rec->ip, rec->ip_family, 0);
	bad |= field_int(b, rec->count, 0);
	bad |= field(b, rec->disposition, 0);
	bad |= field(b, rec->dkim, 0);
	bad |= field(b, rec->spf, 0);
	bad |= field_int(b, dm_record_dmarc_pass(rec), 0);
	bad |= field(b, rec->header_from, 0);
	bad |= field(b, rec->envelope_from, 0);
	bad |= field(b, rec->envelope_to, 0);
	for (int i = 0; i < 3; i++) {
		if (len[i] <= 2) {
			bad |= field(b, NULL, 0);
		} else {
			char save = c->json.data[off[i] + len[i]];
			c->json.data[off[i] + len[i]] = '\0';
			bad |= field(b, c->json.data + off[i], 0);
			c->json.data[off[i] + len[i]] = save;
		}
	}
	const struct dm_enrichment *e = rec->enr;
	bad |= backend_enrich_fields(b, e, 0, 1);
	if (bad) {
		b->len = row;
		snprintf(c->err, sizeof c->err, "record too large to send");
		return DM_ELIMIT;
	}
	rc = 0; /* no enrichment: nothing for ips */
	if (e && (rc = backend_ips_add(&c->ips, rec, (long long)time(NULL))) == DM_ELIMIT) {
		rc = ips_flush(c);
		if (rc == 0)
			rc = backend_ips_add(&c->ips, rec, (long long)time(NULL));
	}
	if (rc)
		return rc;
	c->rec_n++;
	if (b->len >= CH_RECORDS_FLUSH && (rc = recs_flush(c)) != 0)
		return rc;
	c->rollup_rep = rep;
	return rollup_add(&c->rollup, rep->begin, rep->end, rec, report_flush, c);
}

/* The open report ends: kept (its rows stay in the batch) or not (they
 * go: those not sent are dropped, those sent belong to an attempt that
 * never commits, which nothing reads). */
static int
report_end(struct ch *c, int keep)
{
	if (!c->in_report)
		return 0;
	c->in_report = 0;
	rollup_clear(&c->rollup);
	if (!keep) {
		fin_truncate(c, c->report_fin_start);
		if (!c->report_recs_sent && c->recs.len >= c->report_recs_start)
			c->recs.len = c->report_recs_start;
	}
	if (c->broken) {
		batch_fail(c);
		return DM_ESTORE;
	}
	if (!keep)
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double age = (double)(now.tv_sec - c->batch_start.tv_sec) +
	             (double)(now.tv_nsec - c->batch_start.tv_nsec) / 1e9;
	if (c->nreps >= CH_BATCH_REPORTS || age >= CH_BATCH_SECONDS ||
	    fin_len(c) >= DM_CH_SPILL_BYTES)
		return batch_commit(c);
	return 0;
}

static int
ch_tx_commit(struct store *st, struct dm_report *rep, const struct store_report_info *info,
             enum store_outcome *out)
{
	struct ch *c = st->impl;
	const struct dm_policy_published *pol = &rep->policy;
	int rc = 0;
	if (!c->looked) {
		int exists = 0;
		c->looked = 1;
		rc = known(c, rep, &exists);
		if (rc) {
			c->broken = 1;
			goto fail;
		}
		c->dup = exists;
	}
	if (c->dup) {
		*out = STORE_DUPLICATE;
		return report_end(c, 0);
	}
	if (!c->have_reporter)
		set_reporter(c, rep);
	c->rollup_rep = rep;
	if ((rc = cells_out(c)) != 0 || (rc = backend_warnings_json(&c->json, rep)) != 0)
		goto fail;
	const char *dom = pol->domain ? pol->domain : "";
	const char *rid = rep->report_id ? rep->report_id : "";
	uint64_t ident = ident_of(c->reporter, dom, rid, rep->begin, rep->end);
	char pct[16];
	snprintf(pct, sizeof pct, "%d", pol->pct);
	const char *meta[20] = {
	        rep->org_name,
	        rep->email,
	        rep->extra_contact_info,
	        pol->adkim,
	        pol->aspf,
	        pol->p,
	        pol->sp,
	        pol->np,
	        pol->pct >= 0 ? pct : NULL,
	        pol->fo,
	        pol->testing,
	        pol->discovery_method,
	        rep->generator,
	        rep->version,
	        rep->xmlns,
	        rep->bis ? "rfc9990" : "rfc7489",
	        rep->error,
	        info->archive_key,
	        info->content_hash,
	        info->source,
	};
	struct dm_buf *b = &c->fin;
	int bad = ledger_head(c, b, 2, rep, ident);
	/* the cell's columns, empty: domain, source_ip, day, header_from,
	 * disposition, dkim_pass, spf_pass, messages, recs */
	bad |= field(b, "", 0);
	bad |= field(b, "", 0);
	bad |= field_int(b, 0, 0);
	bad |= field(b, "", 0);
	bad |= field(b, "", 0);
	bad |= dm_buf_printf(b, "0\t0\t0\t0\t");
	for (int i = 0; i < 20; i++)
		bad |= field(b, meta[i], 0);
	bad |= dm_buf_printf(b, "%llu\t%llu\t%llu\t%lld\t", (unsigned long long)rep->records,
	                     (unsigned long long)rep->messages, (unsigned long long)rep->skipped,
	                     (long long)info->received_at);
	bad |= field(b, c->json.data, 1);
	/* the attempt's marker in the rollups (repair()) */
	bad |= dm_buf_printf(b, "4\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t-1\t%u\t", c->attempt,
	                     ident, c->node, month_of(rep->begin));
	bad |= field(b, c->reporter, 0);
	bad |= field(b, dom, 0);
	bad |= field(b, rid, 0);
	bad |= field_int(b, rep->begin, 0);
	bad |= field_int(b, rep->end, 0);
	bad |= dm_buf_printf(b, "\t\t%" PRIu64 "\t\t\t0\t0\t0\t1\t", c->attempt);
	bad |= dm_buf_add(b, NO_META, sizeof NO_META - 1);
	if (bad) {
		snprintf(c->err, sizeof c->err, "report metadata too large");
		rc = DM_ELIMIT;
		goto fail;
	}
	if (c->nreps == c->capreps) {
		c->capreps = c->capreps ? 2 * c->capreps : 64;
		c->reps = xrealloc(c->reps, c->capreps * sizeof *c->reps);
	}
	struct chrep *r = &c->reps[c->nreps++];
	r->ident = ident;
	r->attempt = c->attempt;
	r->reporter = xstrdup(c->reporter);
	r->domain = xstrdup(dom);
	r->report_id = xstrdup(rid);
	r->begin = rep->begin;
	r->end = rep->end;
	*out = STORE_STORED;
	return report_end(c, 1);
fail:
	(void)report_end(c, 0);
	return rc;
}

static void
ch_tx_abort(struct store *st)
{
	(void)report_end(st->impl, 0);
}

static int
ch_flush(struct store *st)
{
	struct ch *c = st->impl;
	c->err[0] = '\0';
	return batch_commit(c);
}

/* An INSERT that answered 200 is on the server's disk (fsync of parts is
 * the server's setting): flushing is all there is. */
static int
ch_sync(struct store *st)
{
	return ch_flush(st);
}

static uint64_t
ch_batch(struct store *st)
{
	return ((struct ch *)st->impl)->batch_id;
}

static uint64_t
ch_durable(struct store *st)
{
	return __atomic_load_n(&((struct ch *)st->impl)->durable_id, __ATOMIC_ACQUIRE);
}

static uint64_t
ch_failed(struct store *st)
{
	return __atomic_load_n(&((struct ch *)st->impl)->failed_id, __ATOMIC_ACQUIRE);
}

static int
ch_lookup(struct store *st, struct dm_report *rep, int *exists)
{
	struct ch *c = st->impl;
	*exists = 0;
	if (!dm_report_claimable(rep))
		return 0;
	c->have_reporter = 0;
	int rc = known(c, rep, exists);
	c->have_reporter = 0;
	return rc;
}


/* ---- SMTP TLS reports ----------------------------------------------------------- */

/*
 * A TLS report is written at once, outside the batches (reports are few
 * and small): its policies and failures (several INSERTs when many), then
 * its tls_reports row, the commit.  Rows of an attempt without its commit
 * row are never read.  An identity already committed is a duplicate (one
 * lookup); two nodes storing the same report at once both commit, and
 * reads take the smallest attempt of each identity, so it counts once.
 * Acknowledged INSERTs are durable as the batches' are.
 */

#define CH_TLS_FLUSH (4 * 1024 * 1024)

static int
tls_send(struct ch *c, const char *table, const char *cols, struct dm_buf *b)
{
	char q[512];
	snprintf(q, sizeof q, "INSERT INTO %s%s (%s) FORMAT TabSeparated", table, c->sfx, cols);
	int rc = b->len ? post(c, q, c->sync, b->data, b->len, "insert a TLS report") : 0;
	dm_buf_reset(b);
	return rc;
}

static int
ch_tls_put(struct store *st, int64_t account_id, struct dm_tls_report *rep,
           const struct store_report_info *info, store_tls_next_fn next, void *arg,
           enum store_outcome *out)
{
	static const char pol_cols[] = "attempt, account_id, month, domain, day, idx, policy_type,"
	                               " policy_domain, mx_host, policy_string, success, failure";
	static const char fail_cols[] =
	        "attempt, account_id, month, domain, day, n, policy, result_type, sending_ip,"
	        " receiving_mx_hostname, receiving_mx_helo, receiving_ip, additional_info,"
	        " failure_reason_code, sessions";
	static const char rep_cols[] =
	        "attempt, ident, account_id, month, reporter, report_id, policy_domain, org_name,"
	        " contact_info, date_begin, date_end, day, policies, failure_details, success,"
	        " failure, archive_key, content_hash, source, received_at, warnings";
	struct ch *c = st->impl;
	c->err[0] = '\0';
	if (!dm_tls_report_claimable(rep)) {
		snprintf(c->err, sizeof c->err, "a TLS report without its identity");
		return DM_EINVAL;
	}
	char reporter[DM_MAX_ID_LEN + 1];
	backend_tls_reporter(rep, reporter, sizeof reporter);
	const char *domain = backend_tls_domain(rep);
	int64_t day = backend_tls_day(rep);
	uint32_t month = month_of(rep->begin);
	uint64_t ident = ident_of(reporter, "tlsrpt", rep->report_id, 0, 0);

	/* stored already? */
	struct dm_buf *q = &c->sql;
	dm_buf_reset(q);
	int bad = dm_buf_printf(q, "SELECT count() FROM tls_reports%s WHERE ident = %" PRIu64
	                           " AND reporter = ", c->sfx, ident);
	bad |= store_ch_literal(q, &c->json, reporter);
	bad |= dm_buf_adds(q, " AND report_id = ");
	bad |= store_ch_literal(q, &c->json, rep->report_id);
	bad |= dm_buf_addc(q, '\0');
	if (bad) {
		snprintf(c->err, sizeof c->err, "clickhouse: a TLS report identity too long");
		return DM_ELIMIT;
	}
	int rc = post(c, q->data, "", NULL, 0, "look a TLS report up");
	if (rc)
		return rc;
	if (c->ans.len > 0 && c->ans.data[0] != '0') {
		*out = STORE_DUPLICATE;
		return 0;
	}

	uint64_t attempt = new_attempt();
	struct dm_buf pol, fl;
	dm_buf_init(&pol, 2 * CH_TLS_FLUSH);
	dm_buf_init(&fl, 2 * CH_TLS_FLUSH);
	long long k = 0;
	struct store_tls_item it;
	while (rc == 0 && (rc = next(arg, &it)) == 1) {
		rc = 0;
		struct dm_buf *b = it.pol ? &pol : &fl;
		bad = field_int(b, (long long)attempt, 0) | field_int(b, account_id, 0) |
		      field_int(b, month, 0);
		if (it.pol) {
			const struct dm_tls_policy *x = it.pol;
			bad |= field(b, x->domain ? x->domain : domain, 0) | field_int(b, day, 0) |
			       field_int(b, x->index, 0) | field(b, x->type ? x->type : "", 0) |
			       field(b, x->domain, 0) | field(b, x->mx_host, 0) |
			       field(b, x->policy_string, 0) | field_int(b, (long long)x->success, 0) |
			       field_int(b, (long long)x->failure, 1);
		} else {
			const struct dm_tls_failure *x = it.fail;
			bad |= field(b, domain, 0) | field_int(b, day, 0) | field_int(b, k++, 0) |
			       field_int(b, x->policy, 0) |
			       field(b, x->result_type ? x->result_type : "", 0) |
			       field(b, x->sending_mta_ip, 0) | field(b, x->receiving_mx_hostname, 0) |
			       field(b, x->receiving_mx_helo, 0) | field(b, x->receiving_ip, 0) |
			       field(b, x->additional_info, 0) | field(b, x->failure_reason_code, 0) |
			       field_int(b, (long long)x->sessions, 1);
		}
		if (bad) {
			snprintf(c->err, sizeof c->err, "clickhouse: a TLS report row too long");
			rc = DM_ELIMIT;
		}
		if (rc == 0 && pol.len >= CH_TLS_FLUSH)
			rc = tls_send(c, "tls_policies", pol_cols, &pol);
		if (rc == 0 && fl.len >= CH_TLS_FLUSH)
			rc = tls_send(c, "tls_failures", fail_cols, &fl);
	}
	if (rc == 0)
		rc = tls_send(c, "tls_policies", pol_cols, &pol);
	if (rc == 0)
		rc = tls_send(c, "tls_failures", fail_cols, &fl);
	dm_buf_free(&fl);
	if (rc == 0 && backend_tls_warnings_json(&c->json, rep) != 0) {
		snprintf(c->err, sizeof c->err, "clickhouse: the report's warnings are too long");
		rc = DM_ELIMIT;
	}
	if (rc == 0) {
		/* the commit */
		struct dm_buf *b = &pol;
		dm_buf_reset(b);
		bad = field_int(b, (long long)attempt, 0) |
		      (dm_buf_printf(b, "%" PRIu64 "\t", ident) ? DM_ELIMIT : 0) |
		      field_int(b, account_id, 0) | field_int(b, month, 0) | field(b, reporter, 0) |
		      field(b, rep->report_id, 0) | field(b, domain, 0) | field(b, rep->org_name, 0) |
		      field(b, rep->contact_info, 0) | field_int(b, rep->begin, 0) |
		      field_int(b, rep->end, 0) | field_int(b, day, 0) |
		      field_int(b, rep->npolicies, 0) | field_int(b, (long long)rep->failure_details, 0) |
		      field_int(b, (long long)rep->success, 0) | field_int(b, (long long)rep->failure, 0) |
		      field(b, info->archive_key, 0) | field(b, info->content_hash, 0) |
		      field(b, info->source, 0) | field_int(b, info->received_at, 0) |
		      field(b, c->json.data, 1);
		if (bad) {
			snprintf(c->err, sizeof c->err, "clickhouse: a TLS report row too long");
			rc = DM_ELIMIT;
		} else {
			rc = tls_send(c, "tls_reports", rep_cols, b);
		}
	}
	dm_buf_free(&pol);
	if (rc)
		return rc;
	*out = STORE_STORED;
	return 0;
}

/* ---- failure reports ------------------------------------------------------------ */

/* One INSERT of one row, after a lookup of its content_hash: stored at
 * once (as TLS reports), two nodes storing the same report at once both
 * write it and reads take the smallest attempt. */
static int
ch_failure_put(struct store *st, int64_t account_id, const struct dm_failure_report *r,
               const char *headers, const struct store_report_info *info,
               enum store_outcome *out)
{
	struct ch *c = st->impl;
	struct backend_failure_vals fv;
	c->err[0] = '\0';
	struct dm_buf *q = &c->sql;
	dm_buf_reset(q);
	int bad = dm_buf_printf(q, "SELECT count() FROM failures%s WHERE content_hash = ", c->sfx);
	bad |= store_ch_literal(q, &c->json, info->content_hash);
	bad |= dm_buf_addc(q, '\0');
	if (bad) {
		snprintf(c->err, sizeof c->err, "clickhouse: a failure report's hash too long");
		return DM_ELIMIT;
	}
	int rc = post(c, q->data, "", NULL, 0, "look a failure report up");
	if (rc)
		return rc;
	if (c->ans.len > 0 && c->ans.data[0] != '0') {
		*out = STORE_DUPLICATE;
		return 0;
	}
	if (backend_failure_warnings_json(&c->json, r) != 0) {
		snprintf(c->err, sizeof c->err, "clickhouse: the report's warnings are too long");
		return DM_ELIMIT;
	}
	backend_failure_values(&fv, account_id, r, headers, info, c->json.data);
	struct dm_buf b;
	dm_buf_init(&b, 8 * DM_MAX_HEADER_BYTES);
	uint64_t attempt = new_attempt();
	int64_t t = r->have_arrival_date ? r->arrival_date : info->received_at;
	bad = dm_buf_printf(&b, "%" PRIu64 "\t%u\t", attempt, (unsigned)month_of(t)) ? 1 : 0;
	for (int i = 0; i < BACKEND_FAILURE_NCOLS; i++)
		bad |= field(&b, fv.v[i], i == BACKEND_FAILURE_NCOLS - 1) != 0;
	if (bad) {
		dm_buf_free(&b);
		snprintf(c->err, sizeof c->err, "clickhouse: a failure report row too long");
		return DM_ELIMIT;
	}
	char sql[1024];
	snprintf(sql, sizeof sql, "INSERT INTO failures%s (attempt, month, " BACKEND_FAILURE_COLS
	         ") FORMAT TabSeparated", c->sfx);
	rc = post(c, sql, c->sync, b.data, b.len, "insert a failure report");
	dm_buf_free(&b);
	if (rc)
		return rc;
	*out = STORE_STORED;
	return 0;
}

/* ---- stats ---------------------------------------------------------------------- */

void
store_ch_unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (*s != '\\' || !s[1]) {
			*o++ = *s;
			continue;
		}
		s++;
		switch (*s) {
		case 'n':
			*o++ = '\n';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case '0':
			*o++ = '\0';
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		default:
			*o++ = *s;
			break;
		}
	}
	*o = '\0';
}

static int
hex_literal(struct dm_buf *q, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	int bad = dm_buf_add(q, "unhex('", 7);
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		char h[2] = {hex[*u >> 4], hex[*u & 15]};
		bad |= dm_buf_add(q, h, 2);
	}
	bad |= dm_buf_add(q, "')", 2);
	return bad;
}

int
store_ch_literal(struct dm_buf *q, struct dm_buf *tmp, const char *s)
{
	dm_buf_reset(tmp);
	if (backend_text(tmp, s, 0) != 0 || dm_buf_addc(tmp, '\0') != 0)
		return DM_ELIMIT;
	return hex_literal(q, tmp->data) ? DM_ELIMIT : 0;
}

void
store_ch_endpoint(struct store *st, char *base, size_t baselen, char *user, size_t userlen,
                  char *password, size_t pwlen, char *sfx, char *dbq, size_t dbqlen)
{
	const struct ch *c = st->impl;
	snprintf(sfx, 3, "%s", c->sfx);
	snprintf(dbq, dbqlen, "%s", c->dbq);
	snprintf(base, baselen, "%s", c->base);
	snprintf(user, userlen, "%s", c->user);
	snprintf(password, pwlen, "%s", c->password);
}

static int
ch_stats(struct store *st, const char *domain, struct store_stats *total,
         int (*per_domain)(void *arg, const struct store_domain_stats *d), void *arg)
{
	struct ch *c = st->impl;
	c->err[0] = '\0';
	memset(total, 0, sizeof *total);
	struct dm_buf *q = &c->sql;
	dm_buf_reset(q);
	int bad = dm_buf_printf(
	        q,
	        "SELECT policy_domain, n, rec, msg, pass, fail FROM"
	        " (SELECT policy_domain, count() AS n, sum(records) AS rec, sum(messages) AS msg"
	        "  FROM reports%s WHERE attempt NOT IN (SELECT attempt FROM %scancels)"
	        "  GROUP BY policy_domain)"
	        " ANY LEFT JOIN"
	        " (SELECT domain AS policy_domain, sum(pa) AS pass, sum(fa) AS fail FROM"
	        "  (SELECT domain, if(dkim_pass OR spf_pass, messages, 0) AS pa,"
	        "   if(dkim_pass OR spf_pass, 0, messages) AS fa FROM day_totals%s"
	        "   UNION ALL"
	        "   SELECT domain, -if(dkim_pass OR spf_pass, messages, 0),"
	        "   -if(dkim_pass OR spf_pass, 0, messages) FROM cells%s"
	        "   WHERE attempt IN (SELECT attempt FROM %scancels))"
	        "  GROUP BY domain) USING policy_domain",
	        c->sfx, c->dbq, c->sfx, c->sfx, c->dbq);
	if (domain) {
		bad |= dm_buf_printf(q, " WHERE policy_domain = ");
		bad |= hex_literal(q, domain);
	}
	bad |= dm_buf_printf(q, " ORDER BY policy_domain FORMAT TabSeparated");
	bad |= dm_buf_addc(q, '\0');
	if (bad) {
		snprintf(c->err, sizeof c->err, "clickhouse: domain name too long");
		return DM_EINVAL;
	}
	int rc = post(c, q->data, "", NULL, 0, "stats");
	if (rc)
		return rc;
	size_t pos = 0;
	char *ln;
	while (next_line(c, &pos, &ln)) {
		char *f[6];
		int n = 0;
		for (char *s = ln; n < 6; n++) {
			f[n] = s;
			char *t = strchr(s, '\t');
			if (!t) {
				n++;
				break;
			}
			*t = '\0';
			s = t + 1;
		}
		if (n != 6)
			continue;
		store_ch_unescape(f[0]);
		struct store_domain_stats d = {
		        .domain = f[0],
		        .reports = strtoull(f[1], NULL, 10),
		        .records = strtoull(f[2], NULL, 10),
		        .messages = strtoull(f[3], NULL, 10),
		        .dmarc_pass = strtoull(f[4], NULL, 10),
		        .dmarc_fail = strtoull(f[5], NULL, 10),
		};
		total->reports += d.reports;
		total->records += d.records;
		total->messages += d.messages;
		total->dmarc_pass += d.dmarc_pass;
		total->dmarc_fail += d.dmarc_fail;
		if (per_domain && per_domain(arg, &d) != 0)
			break;
	}
	return 0;
}

/* ---- retention (store_prune) -------------------------------------------------
 *
 * ClickHouse has no DELETE; ALTER TABLE ... DELETE WHERE (a mutation,
 * 18.16 has them for the MergeTree family) rewrites the parts holding
 * matching rows, in the background.  So a prune is one mutation per
 * table with the account's rows before the cutoff, whatever the batch
 * size: batches of reports would each rewrite the same parts again.
 * The store's lock is held only to count and to submit them; the calls
 * that follow wait (res->wait) until system.mutations has none left
 * unfinished in this database, then count again (new rows from a late
 * report are pruned by another round), and hand over the archive keys
 * that the rows removed left unreferenced (found before the mutations
 * ran: afterwards the rows are gone).
 *
 * What it leaves alone, for the invariants at the top of this file: the
 * markers (account -1) in the rollups, cancels (an attempt's cancel row
 * cancels nothing once its rows are gone, and cancels are tiny), the
 * feed_ and ledger tables (Null), ips.  An attempt's records, cells,
 * rollup cells and report row are removed by the same predicate on
 * (account, day or date_end), so what remains of a cancelled attempt
 * still subtracts exactly what its rollup cells added.  The mutations
 * of the ten tables are not applied at one instant: while they run a
 * read of a day before the cutoff may see it half removed (the day is
 * leaving anyway), and a crash or a server restart leaves them to the
 * server, which finishes them.  Sharded stores (clickhouse_cluster) are
 * not pruned: a mutation must run on each shard's local table (ON
 * CLUSTER needs ZooKeeper); prune says so and stops.
 */
static const struct {
	const char *table, *col;
} ch_prune_tables[] = {
        {"reports", "date_end"}, {"records", "date_end"},     {"cells", "day"},
        {"daily", "day"},        {"day_totals", "day"},       {"src_day", "day"},
        {"tls_reports", "day"},  {"tls_policies", "day"},     {"tls_failures", "day"},
        {"failures", "day"},
};

/* The numbers of the answer's first line, tab separated, into v. */
static int
ch_numbers(struct ch *c, uint64_t *v, size_t n)
{
	size_t pos = 0;
	char *line;
	if (!next_line(c, &pos, &line))
		return DM_ESTORE;
	for (size_t i = 0; i < n; i++) {
		char *end;
		v[i] = strtoull(line, &end, 10);
		line = *end == '\t' ? end + 1 : end;
	}
	return 0;
}

static int
ch_prune_count(struct ch *c, int64_t account, int64_t cutoff, struct store_prune *res,
               uint64_t *rows_left)
{
	char q[1024];
	uint64_t v[2];
	/* live reports (attempts not cancelled) and their records */
	snprintf(q, sizeof q,
	         "SELECT count(), sum(records) FROM reports WHERE account_id = %lld AND date_end < %lld"
	         " AND attempt NOT IN (SELECT attempt FROM cancels)",
	         (long long)account, (long long)cutoff);
	int rc = post(c, q, "", NULL, 0, "prune: count");
	if (rc == 0 && (rc = ch_numbers(c, v, 2)) == 0) {
		res->reports += v[0];
		res->records += v[1];
	}
	snprintf(q, sizeof q,
	         "SELECT uniqExact(ident) FROM tls_reports WHERE account_id = %lld AND day < %lld",
	         (long long)account, (long long)cutoff);
	if (rc == 0)
		rc = post(c, q, "", NULL, 0, "prune: count");
	if (rc == 0 && (rc = ch_numbers(c, v, 1)) == 0)
		res->tls_reports += v[0];
	snprintf(q, sizeof q,
	         "SELECT uniqExact(content_hash) FROM failures WHERE account_id = %lld AND day < %lld",
	         (long long)account, (long long)cutoff);
	if (rc == 0)
		rc = post(c, q, "", NULL, 0, "prune: count");
	if (rc == 0 && (rc = ch_numbers(c, v, 1)) == 0)
		res->failures += v[0];
	/* every table's rows (the rollups' as stored: parts not yet summed) */
	for (size_t i = 0; rc == 0 && i < sizeof ch_prune_tables / sizeof ch_prune_tables[0]; i++) {
		snprintf(q, sizeof q, "SELECT count() FROM %s WHERE account_id = %lld AND %s < %lld",
		         ch_prune_tables[i].table, (long long)account, ch_prune_tables[i].col,
		         (long long)cutoff);
		rc = post(c, q, "", NULL, 0, "prune: count");
		if (rc == 0 && (rc = ch_numbers(c, v, 1)) == 0) {
			rows_left[i] = v[0];
			if (i >= 3 && i <= 5)
				res->rollups += v[0];
		}
	}
	return rc;
}

/* The archive keys of what goes that nothing staying references. */
static int
ch_prune_keys(struct ch *c, int64_t account, int64_t cutoff, struct store_prune *keys)
{
	char q[2048];
	long long a = (long long)account, t = (long long)cutoff;
	snprintf(q, sizeof q,
	         "SELECT DISTINCT k FROM (SELECT archive_key AS k FROM reports WHERE account_id = %lld"
	         " AND date_end < %lld UNION ALL SELECT archive_key AS k FROM tls_reports"
	         " WHERE account_id = %lld AND day < %lld UNION ALL SELECT archive_key AS k"
	         " FROM failures WHERE account_id = %lld AND day < %lld) WHERE isNotNull(k)"
	         " AND k NOT IN (SELECT archive_key FROM reports WHERE isNotNull(archive_key)"
	         "  AND NOT (account_id = %lld AND date_end < %lld))"
	         " AND k NOT IN (SELECT archive_key FROM tls_reports WHERE isNotNull(archive_key)"
	         "  AND NOT (account_id = %lld AND day < %lld))"
	         " AND k NOT IN (SELECT archive_key FROM failures WHERE isNotNull(archive_key)"
	         "  AND NOT (account_id = %lld AND day < %lld))",
	         a, t, a, t, a, t, a, t, a, t, a, t);
	int rc = post(c, q, "", NULL, 0, "prune: archive keys");
	size_t pos = 0;
	char *line;
	while (rc == 0 && next_line(c, &pos, &line)) {
		store_ch_unescape(line);
		if (*line && strcmp(line, "\\N") != 0)
			store_prune_key_add(keys, line);
	}
	return rc;
}

static int
ch_prune(struct store *st, int64_t account, int64_t cutoff, unsigned limit, int dry_run,
         struct store_prune *res)
{
	struct ch *c = st->impl;
	(void)limit; /* one mutation per table: see above */
	c->err[0] = '\0';
	if (c->sfx[0]) {
		snprintf(c->err, sizeof c->err,
		         "clickhouse: prune: not done on a sharded store (clickhouse_cluster): each"
		         " shard's tables need ALTER TABLE ... DELETE of their own (docs/ARCHITECTURE.md)");
		return DM_EINVAL;
	}
	int rc = batch_commit(c); /* ingest's open batch first */
	if (rc)
		return rc;
	uint64_t left[sizeof ch_prune_tables / sizeof ch_prune_tables[0]];
	if (dry_run) {
		rc = ch_prune_count(c, account, cutoff, res, left);
		return rc ? rc : ch_prune_keys(c, account, cutoff, res);
	}
	/* mutations of ours still running: come back later */
	rc = post(c,
	          "SELECT count() FROM system.mutations WHERE database = currentDatabase()"
	          " AND is_done = 0",
	          "", NULL, 0, "prune: mutations");
	uint64_t running = 0;
	if (rc == 0)
		rc = ch_numbers(c, &running, 1);
	if (rc)
		return rc;
	if (running > 0) {
		res->more = res->wait = 1;
		return 0;
	}
	struct store_prune counts;
	memset(&counts, 0, sizeof counts);
	rc = ch_prune_count(c, account, cutoff, &counts, left);
	if (rc)
		return rc;
	int any = 0;
	for (size_t i = 0; i < sizeof left / sizeof left[0]; i++)
		any |= left[i] > 0;
	if (!any) {
		/* done: the keys found before the mutations (this account's) */
		if (c->prune_account == account && c->prune_cutoff == cutoff)
			for (size_t i = 0; i < c->prune_keys.nkeys; i++)
				store_prune_key_add(res, c->prune_keys.keys[i]);
		store_prune_keys_clear(&c->prune_keys);
		c->prune_account = 0;
		return 0;
	}
	res->reports += counts.reports;
	res->records += counts.records;
	res->rollups += counts.rollups;
	res->tls_reports += counts.tls_reports;
	res->failures += counts.failures;
	if (c->prune_account != account || c->prune_cutoff != cutoff)
		store_prune_keys_clear(&c->prune_keys);
	c->prune_account = account;
	c->prune_cutoff = cutoff;
	rc = ch_prune_keys(c, account, cutoff, &c->prune_keys);
	for (size_t i = 0; rc == 0 && i < sizeof left / sizeof left[0]; i++) {
		if (left[i] == 0)
			continue;
		char q[512];
		snprintf(q, sizeof q, "ALTER TABLE %s DELETE WHERE account_id = %lld AND %s < %lld",
		         ch_prune_tables[i].table, (long long)account, ch_prune_tables[i].col,
		         (long long)cutoff);
		rc = post(c, q, "", NULL, 0, "prune: ALTER TABLE ... DELETE");
	}
	if (rc == 0)
		res->more = res->wait = 1;
	return rc;
}

static int
ch_key_refs(struct store *st, const char *const *keys, size_t n, unsigned char *used)
{
	struct ch *c = st->impl;
	c->err[0] = '\0';
	struct dm_buf q, tmp;
	dm_buf_init(&q, 1024 * 1024);
	dm_buf_init(&tmp, 64 * 1024);
	int rc = 0;
	/* 500 keys a query: well below max_query_size (256 KiB) as literals */
	for (size_t from = 0; rc == 0 && from < n; from += 500) {
		size_t to = n - from > 500 ? from + 500 : n;
		dm_buf_reset(&q);
		int bad = dm_buf_printf(&q, "SELECT k FROM (SELECT archive_key AS k FROM reports"
		                            " UNION ALL SELECT archive_key AS k FROM tls_reports"
		                            " UNION ALL SELECT archive_key AS k FROM failures)"
		                            " WHERE k IN (");
		for (size_t i = from; i < to; i++) {
			bad |= i > from ? dm_buf_addc(&q, ',') : 0;
			bad |= store_ch_literal(&q, &tmp, keys[i]) != 0;
		}
		bad |= dm_buf_printf(&q, ") GROUP BY k");
		bad |= dm_buf_addc(&q, '\0');
		rc = bad ? DM_ELIMIT : post(c, q.data, "", NULL, 0, "prune: archive keys");
		size_t pos = 0;
		char *line;
		while (rc == 0 && next_line(c, &pos, &line)) {
			store_ch_unescape(line);
			for (size_t i = from; i < to; i++)
				if (strcmp(keys[i], line) == 0)
					used[i] = 1;
		}
	}
	dm_buf_free(&q);
	dm_buf_free(&tmp);
	return rc;
}

static const char *
ch_errmsg(struct store *st)
{
	struct ch *c = st->impl;
	return c ? c->err : "";
}

/* ---- opening ---------------------------------------------------------------- */

/* Add column (its definition) to table unless it is there. */
static int
add_column(struct ch *c, const char *table, const char *column)
{
	char q[512], name[64];
	size_t n = strcspn(column, " ");
	snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), column);
	snprintf(q, sizeof q,
	         "SELECT count() FROM system.columns WHERE database = currentDatabase()"
	         " AND table = '%s' AND name = '%s'",
	         table, name);
	int rc = post_system(c, q, "check the schema");
	if (rc == 0 && c->ans.len > 0 && c->ans.data[0] == '0') {
		snprintf(q, sizeof q, "ALTER TABLE %s ADD COLUMN %s", table, column);
		rc = post(c, q, "", NULL, 0, "add a column");
	}
	return rc;
}

static int
ch_open_dir(struct store *st, const char *data_dir, char *err, size_t errlen)
{
	(void)st;
	(void)data_dir;
	snprintf(err, errlen,
	         "the clickhouse store is opened by its URL (store = clickhouse://...)");
	return DM_EUSAGE;
}

static void
ch_close(struct store *st)
{
	struct ch *c = st->impl;
	if (!c)
		return;
	(void)batch_commit(c);
	(void)repair(c);
	pend_drop(c);
	curl_easy_cleanup(c->h);
	explicit_bzero(c->password, sizeof c->password);
	rollup_free(&c->rollup);
	dm_buf_free(&c->ans);
	dm_buf_free(&c->recs);
	dm_buf_free(&c->fin);
	if (c->spill)
		fclose(c->spill);
	dm_buf_free(&c->json);
	dm_buf_free(&c->sql);
	dm_buf_free(&c->ipsb);
	backend_ips_free(&c->ips);
	reps_clear(c);
	free(c->reps);
	free(c->seen);
	free(c->months);
	store_prune_keys_clear(&c->prune_keys);
	free(c);
	st->impl = NULL;
}

int
store_ch_parse_url(const char *url, char *server, size_t serverlen, char *base, size_t baselen,
                   char *user, size_t userlen, char *db, size_t dblen, char *err, size_t errlen)
{
	const char *p = url + strlen("clickhouse://");
	const char *at = strchr(p, '@'), *slash = strchr(p, '/');
	if (strncmp(url, "clickhouse://", 13) != 0 || !slash || !slash[1] ||
	    strchr(slash + 1, '/') || strchr(slash + 1, '?')) {
		snprintf(err, errlen, "store: clickhouse://USER@HOST:PORT/DATABASE expected");
		return DM_EUSAGE;
	}
	const char *host = p;
	if (at && at < slash) {
		snprintf(user, userlen, "%.*s", (int)(at - p), p);
		host = at + 1;
	} else {
		snprintf(user, userlen, "default");
	}
	snprintf(db, dblen, "%s", slash + 1);
	for (const char *d = db; *d; d++)
		if (!(*d == '_' || (*d >= 'a' && *d <= 'z') || (*d >= 'A' && *d <= 'Z') ||
		      (*d >= '0' && *d <= '9'))) {
			snprintf(err, errlen,
			         "store: the ClickHouse database name may hold only"
			         " letters, digits and '_'");
			return DM_EUSAGE;
		}
	int n = snprintf(server, serverlen, "http://%.*s/?", (int)(slash - host), host);
	int m = snprintf(base, baselen, "http://%.*s/?database=%s", (int)(slash - host), host, db);
	if (n < 0 || (size_t)n >= serverlen || m < 0 || (size_t)m >= baselen ||
	    strlen(slash + 1) >= dblen) {
		snprintf(err, errlen, "store: URL too long");
		return DM_EUSAGE;
	}
	return 0;
}

int
store_ch_registry_url(const char *url, const char *cluster, const char *shards, char *out,
                      size_t outlen)
{
	snprintf(out, outlen, "%s", url);
	if (!cluster || !*cluster || !shards)
		return 0;
	const char *p = shards + strspn(shards, " \t,");
	size_t n = strcspn(p, " \t,");
	const char *rest = url + strlen("clickhouse://");
	const char *at = strchr(rest, '@'), *slash = strchr(rest, '/');
	if (n == 0 || !slash)
		return 0; /* store_ch_open says what is wrong */
	int k = snprintf(out, outlen, "clickhouse://%.*s%.*s%s",
	                 at && at < slash ? (int)(at - rest + 1) : 0, rest, (int)n, p, slash);
	return k < 0 || (size_t)k >= outlen ? DM_EUSAGE : 0;
}

/* clickhouse://USER@HOST:PORT/DB into c (HTTP on PORT). */
static int
parse_url(struct ch *c, const char *url, char *err, size_t errlen)
{
	return store_ch_parse_url(url, c->server, sizeof c->server, c->base, sizeof c->base,
	                          c->user, sizeof c->user, c->db, sizeof c->db, err, errlen);
}

int
store_ch_open(struct store *st, const char *url, const char *password, const char *data_dir,
              const char *cluster, const char *shards, char *err, size_t errlen)
{
	struct ch *c = xcalloc(1, sizeof *c);
	int rc = parse_url(c, url, err, errlen);
	if (rc) {
		free(c);
		return rc;
	}
	snprintf(c->password, sizeof c->password, "%s", password ? password : "");
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	c->node = ident_of(host, data_dir ? data_dir : "", "node", 0, 0);
	snprintf(c->tmpdir, sizeof c->tmpdir, "%s/tmp", data_dir && *data_dir ? data_dir : ".");
	if (dm_mkdir_p(c->tmpdir, 0750) != 0)
		snprintf(c->tmpdir, sizeof c->tmpdir, "%s", P_tmpdir);
	dm_buf_init(&c->ans, CH_ANSWER_MAX);
	dm_buf_init(&c->recs, 2 * CH_RECORDS_FLUSH);
	dm_buf_init(&c->fin, DM_CH_MAX_BATCH_BYTES);
	dm_buf_init(&c->json, 4 * 1024 * 1024);
	dm_buf_init(&c->sql, 1024 * 1024);
	dm_buf_init(&c->ipsb, 4 * 1024 * 1024 + 2048 * DM_ENRICH_BATCH_IPS);
	backend_ips_init(&c->ips, DM_ENRICH_BATCH_IPS);
	rollup_init(&c->rollup, DM_MAX_ROLLUP_CELLS);
	c->h = curl_easy_init();
	if (!c->h) {
		snprintf(err, errlen, "clickhouse: curl_easy_init failed");
		st->impl = c;
		ch_close(st);
		return DM_EIO;
	}
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_TIME, 300L);
	curl_easy_setopt(c->h, CURLOPT_USERNAME, c->user);
	curl_easy_setopt(c->h, CURLOPT_PASSWORD, c->password);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_READFUNCTION, on_read);
	st->impl = c;
	c->sync = "";
	c->sfx[0] = '\0';
	snprintf(c->dbq, sizeof c->dbq, "%s.", c->db);
	/* every shard's server, then the server of the URL (its base is
	 * c->base again at the end) */
	char endpoints[DM_CH_MAX_SHARDS + 1][sizeof c->server];
	int nend = 0;
	if (cluster && *cluster) {
		for (const char *d = cluster; *d; d++)
			if (!(*d == '_' || (*d >= 'a' && *d <= 'z') || (*d >= 'A' && *d <= 'Z') ||
			      (*d >= '0' && *d <= '9'))) {
				snprintf(err, errlen,
				         "clickhouse_cluster: letters, digits and '_' only");
				ch_close(st);
				return DM_EUSAGE;
			}
		const char *p = shards ? shards : "";
		while (*p) {
			p += strspn(p, " \t,");
			size_t n = strcspn(p, " \t,");
			if (n == 0)
				break;
			if (nend == DM_CH_MAX_SHARDS || n > 255 || memchr(p, '/', n) ||
			    !memchr(p, ':', n)) {
				snprintf(err, errlen,
				         "clickhouse_shards: at most %d HOST:PORT, space-separated",
				         DM_CH_MAX_SHARDS);
				ch_close(st);
				return DM_EUSAGE;
			}
			snprintf(endpoints[nend++], sizeof endpoints[0], "http://%.*s/?", (int)n, p);
			p += n;
		}
		if (nend == 0) {
			snprintf(err, errlen, "clickhouse_cluster needs clickhouse_shards");
			ch_close(st);
			return DM_EUSAGE;
		}
		snprintf(c->sfx, sizeof c->sfx, "_d");
		c->sync = "&insert_distributed_sync=1";
	}
	int url_is_shard = 0;
	for (int i = 0; i < nend; i++)
		url_is_shard |= strcmp(endpoints[i], c->server) == 0;
	if (!url_is_shard)
		memcpy(endpoints[nend++], c->server, sizeof c->server);
	char base[sizeof c->base];
	memcpy(base, c->base, sizeof base);
	for (int e = 0; rc == 0 && e < nend; e++) {
		/* the database, then the tables, each idempotent */
		char create[512];
		snprintf(create, sizeof create, "CREATE DATABASE IF NOT EXISTS %s", c->db);
		memcpy(c->base, endpoints[e], sizeof c->server);
		rc = post(c, create, "", NULL, 0, "create the database");
		snprintf(c->base, sizeof c->base, "%.360sdatabase=%s", endpoints[e], c->db);
		for (int i = 0; rc == 0 && schema_sql[i]; i++)
			rc = post(c, schema_sql[i], "", NULL, 0, "create the schema");
		/* a database made before the rollups took the attempts'
		 * markers (kind 4; a failed batch could not be repaired) is not
		 * taken: its view of daily is not the one made here */
		if (rc == 0 &&
		    (rc = post_system(c,
		                      "SELECT count() FROM system.tables WHERE database ="
		                      " currentDatabase() AND name = 'daily_mv' AND"
		                      " position(create_table_query, 'kind IN (1, 4)') > 0",
		                      "check the schema")) == 0 &&
		    (c->ans.len < 1 || c->ans.data[0] != '1')) {
			snprintf(c->err, sizeof c->err,
			         "clickhouse: database %s was made by an older dmarcd (its rollups have no"
			         " attempt markers): store into a new database",
			         c->db);
			rc = DM_ESTORE;
		}
		/* a database made before src_day counted records (the API's
		 * reads need them) is not taken */
		if (rc == 0 &&
		    (rc = post_system(c,
		                      "SELECT count() FROM system.columns WHERE database ="
		                      " currentDatabase() AND table = 'src_day' AND name = 'records'",
		                      "check the schema")) == 0 &&
		    (c->ans.len < 1 || c->ans.data[0] != '1')) {
			snprintf(c->err, sizeof c->err,
			         "clickhouse: database %s was made by an older dmarcd (src_day has no"
			         " records column): store into a new database",
			         c->db);
			rc = DM_ESTORE;
		}
		/* records of a database made before their enrichment: the
		 * columns added at the end, where the inserts put them */
		for (int i = 0; rc == 0 && records_enrich_cols[i]; i++)
			rc = add_column(c, "records", records_enrich_cols[i]);
		/* the Distributed tables over every shard's: the two written
		 * through are sharded by the attempt, so an attempt's rows,
		 * its commit and its cancel are on one shard; a source's ips
		 * rows by the source */
		static const char *const dist[] = {
		        "ledger",     "records",         "cells",     "daily",        "day_totals",
		        "src_day",    "reports",         "cancels",   "ips",          "feed_cells",
		        "feed_daily", "feed_day_totals", "feed_src_day", "feed_reports",
		        "tls_reports", "tls_policies", "tls_failures", "failures", NULL};
		for (int i = 0; rc == 0 && c->sfx[0] && dist[i]; i++) {
			int keyed = strcmp(dist[i], "ledger") == 0 || strcmp(dist[i], "records") == 0 ||
			            strncmp(dist[i], "feed_", 5) == 0 || strncmp(dist[i], "tls_", 4) == 0 ||
			            strcmp(dist[i], "failures") == 0;
			int by_ip = strcmp(dist[i], "ips") == 0;
			snprintf(create, sizeof create,
			         "CREATE TABLE IF NOT EXISTS %s_d AS %s ENGINE = Distributed(%s, %s, %s%s)",
			         dist[i], dist[i], cluster, c->db, dist[i],
			         keyed ? ", intHash64(attempt)" : by_ip ? ", cityHash64(ip)" : "");
			rc = post(c, create, "", NULL, 0, "create the Distributed tables");
		}
		for (int i = 0; rc == 0 && c->sfx[0] && records_enrich_cols[i]; i++)
			rc = add_column(c, "records_d", records_enrich_cols[i]);
	}
	memcpy(c->base, base, sizeof base);
	if (rc) {
		snprintf(err, errlen, "%s", c->err);
		ch_close(st);
		return rc;
	}
	return 0;
}

/* dmarcd reenrich: new ips rows (the newest wins when read); records are
 * kept as written (rewriting them would be a mutation of every part that
 * holds one: docs/ENRICH.md). */
static int
ch_reenrich(struct store *st, const char *domain, int64_t since, const struct dm_record *src,
            size_t n)
{
	struct ch *c = st->impl;
	(void)domain;
	(void)since;
	int rc = batch_commit(c);
	c->err[0] = '\0';
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = backend_ips_add(&c->ips, &src[i], (long long)time(NULL));
		if (rc == DM_ELIMIT && (rc = ips_flush(c)) == 0)
			rc = backend_ips_add(&c->ips, &src[i], (long long)time(NULL));
	}
	if (rc == 0)
		rc = ips_flush(c);
	c->broken = 0;
	return rc;
}

const struct store_ops store_ch_ops = {
        .name = "clickhouse",
        .open = ch_open_dir,
        .close = ch_close,
        .tx_begin = ch_tx_begin,
        .record_add = ch_record_add,
        .tx_commit = ch_tx_commit,
        .tx_abort = ch_tx_abort,
        .flush = ch_flush,
        .sync = ch_sync,
        .batch = ch_batch,
        .durable = ch_durable,
        .failed = ch_failed,
        .lookup = ch_lookup,
        .stats = ch_stats,
        .reenrich = ch_reenrich,
        .tls_put = ch_tls_put,
        .failure_put = ch_failure_put,
        .prune = ch_prune,
        .key_refs = ch_key_refs,
        .errmsg = ch_errmsg,
};
