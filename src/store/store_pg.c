/*
 * store_pg.c - the store in PostgreSQL (libpq), for several intake nodes
 * writing into one database.  With store_pg_read.c the only files that
 * use libpq.
 *
 * Functions: the store_pg_ops table (write side and stats; no lookup: the
 * claim decides, see store_lookup), store_pg_open, store_pg_connect and
 * store_pg_text for the read side (store_pg_read.c).  Records carry their
 * number n within their report, the order the API gives them in.
 *
 * The same logical schema as SQLite (store_sqlite.c), created on first
 * use under an advisory lock, so nodes that start together do not race.
 * Writes come in batches as there: one transaction of up to
 * STORE_BATCH_REPORTS reports or STORE_BATCH_SECONDS, made durable by its
 * COMMIT (synchronous_commit on).
 *
 * Counting each report once (docs/ARCHITECTURE.md): the report is claimed
 * at its first record (at commit when it has none) by
 *
 *   INSERT INTO reports(id, <identity>) ... ON CONFLICT DO NOTHING RETURNING id
 *
 * in the batch's transaction.  No row back: a duplicate (stored before, or
 * claimed by a writer whose transaction then committed; PostgreSQL makes
 * the second claim wait for the first transaction to end), and none of
 * its records is written.  Records go out by COPY (buffered, several
 * reports per COPY); the rollup cells of the batch's reports are summed in
 * memory (rollup.c) and upserted at the batch's end from temporary tables
 * filled by COPY, in key order, so concurrent writers take row locks in
 * the same order.  An aborted report is undone by DELETE on its id (or by
 * dropping its rows from the COPY buffer before they are sent); a report
 * whose own rollup outgrows memory writes its cells after a savepoint.
 * Any failure fails the whole batch (PostgreSQL aborts the transaction),
 * and its reports are reported as not stored, to be tried again.
 *
 * Text from reports is valid UTF-8 (expat's output); other strings (an
 * input's name) are made valid before they reach the server, which would
 * refuse the whole batch otherwise.  Logs nothing; errors are returned.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "core/tlsrpt.h"
#include "store/backend.h"
#include "store/rollup.h"
#include "store/store.h"
#include "store/store_pg.h"

#define PG_SCHEMA_VERSION 4
#define PG_STR_(x) #x
#define PG_STR(x) PG_STR_(x)
#define STORE_BATCH_REPORTS 1000
#define STORE_BATCH_SECONDS 1.0
#define PG_COPY_FLUSH (4 * 1024 * 1024) /* send buffered records beyond this */
#define PG_LOCK_KEY "4242001"           /* advisory lock around schema set-up */

/* Each source's latest enrichment (src/enrich/), what source lists show;
 * ptr_state as enum dm_ptr_state.  Version 3. */
#define IPS_SQL                                                                                    \
	"CREATE TABLE IF NOT EXISTS ips("                                                          \
	" ip bytea PRIMARY KEY, ptr_state smallint NOT NULL, ptr text, base_domain text,"          \
	" asn bigint, as_name text, country text, service text, service_type text,"               \
	" updated bigint NOT NULL);"

/* SMTP TLS reports and failure reports (store.h), as in SQLite.  Version 4. */
#define TLS_SQL                                                                                    \
        "CREATE TABLE IF NOT EXISTS tls_reports("                                                  \
        " id bigserial PRIMARY KEY, account_id bigint NOT NULL, reporter text NOT NULL,"           \
        " org_name text, contact_info text, report_id text NOT NULL,"                              \
        " policy_domain text NOT NULL, date_begin bigint NOT NULL, date_end bigint NOT NULL,"      \
        " day bigint NOT NULL, policies bigint NOT NULL, failure_details bigint NOT NULL,"         \
        " success bigint NOT NULL, failure bigint NOT NULL, archive_key text,"                     \
        " content_hash text, source text, received_at bigint NOT NULL, warnings text,"             \
        " UNIQUE(reporter, report_id));"                                                           \
        "CREATE INDEX IF NOT EXISTS tls_reports_domain ON tls_reports(policy_domain, date_begin);" \
        "CREATE TABLE IF NOT EXISTS tls_policies("                                                 \
        " report bigint NOT NULL, idx integer NOT NULL, account_id bigint NOT NULL,"               \
        " domain text NOT NULL, day bigint NOT NULL, policy_type text NOT NULL,"                   \
        " policy_domain text, mx_host text, policy_string text, success bigint NOT NULL,"          \
        " failure bigint NOT NULL, PRIMARY KEY(report, idx));"                                     \
        "CREATE INDEX IF NOT EXISTS tls_policies_domain ON tls_policies(domain, day);"             \
        "CREATE TABLE IF NOT EXISTS tls_failures("                                                 \
        " report bigint NOT NULL, n integer NOT NULL, policy integer NOT NULL,"                    \
        " account_id bigint NOT NULL, domain text NOT NULL, day bigint NOT NULL,"                  \
        " result_type text NOT NULL, sending_ip text, receiving_mx_hostname text,"                 \
        " receiving_mx_helo text, receiving_ip text, additional_info text,"                        \
        " failure_reason_code text, sessions bigint NOT NULL, PRIMARY KEY(report, n));"            \
        "CREATE INDEX IF NOT EXISTS tls_failures_domain ON tls_failures(domain, day);"          \
        "CREATE TABLE IF NOT EXISTS failures("                                                     \
        " id bigserial PRIMARY KEY, account_id bigint NOT NULL, content_hash text NOT NULL UNIQUE," \
        " reported_domain text NOT NULL, day bigint NOT NULL, received_at bigint NOT NULL,"        \
        " archive_key text, source text, feedback_type text NOT NULL, is_arf smallint NOT NULL,"   \
        " version text, user_agent text, auth_failure text, delivery_result text, source_ip text," \
        " original_mail_from text, original_rcpt_to text, rcpt_to_count integer,"                  \
        " original_envelope_id text, reporting_mta text, incidents bigint, arrival_date bigint,"   \
        " authentication_results text, identity_alignment text, dkim_domain text,"                 \
        " dkim_identity text, dkim_selector text, spf_dns text, subject text, header_from text,"   \
        " header_from_domain text, to_addr text, message_id text, date bigint, headers text,"      \
        " warnings text);"                                                                         \
        "CREATE INDEX IF NOT EXISTS failures_domain ON failures(reported_domain, day);"            \
        "CREATE INDEX IF NOT EXISTS failures_ip ON failures(source_ip, day);"

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS dmarcd_schema(version integer NOT NULL);"
        "CREATE SEQUENCE IF NOT EXISTS reports_id_seq;"
        "CREATE TABLE IF NOT EXISTS accounts("
        " id bigint PRIMARY KEY, name text NOT NULL UNIQUE, created_at bigint NOT NULL);"
        "CREATE TABLE IF NOT EXISTS reports("
        " id bigint PRIMARY KEY, kind text NOT NULL DEFAULT 'aggregate',"
        " account_id bigint NOT NULL DEFAULT 0,"
        " reporter text, org_name text, email text, extra_contact_info text,"
        " report_id text, policy_domain text, date_begin bigint, date_end bigint,"
        " adkim text, aspf text, p text, sp text, np text, pct integer, fo text,"
        " testing text, discovery_method text,"
        " generator text, version text, xmlns text, schema text, report_error text,"
        " archive_key text, content_hash text, source text,"
        " records bigint NOT NULL DEFAULT 0, messages bigint NOT NULL DEFAULT 0,"
        " skipped bigint NOT NULL DEFAULT 0, received_at bigint NOT NULL, warnings text,"
        " UNIQUE(reporter, policy_domain, report_id, date_begin, date_end));"
        "CREATE INDEX IF NOT EXISTS reports_hash ON reports(content_hash);"
        "CREATE INDEX IF NOT EXISTS reports_domain ON reports(policy_domain, date_begin);"
        "CREATE TABLE IF NOT EXISTS records("
        " report bigint NOT NULL, n integer NOT NULL, account_id bigint NOT NULL DEFAULT 0,"
        " policy_domain text, date_begin bigint, date_end bigint,"
        " source_ip bytea, count bigint NOT NULL, disposition text,"
        " dkim text, spf text, dmarc_pass smallint NOT NULL,"
        " header_from text, envelope_from text, envelope_to text,"
        " reasons text, dkim_results text, spf_results text,"
        " ptr text, base_domain text, asn integer, as_name text, country text, service text);"
        "CREATE INDEX IF NOT EXISTS records_report_n ON records(report, n);"
        "CREATE TABLE IF NOT EXISTS daily("
        " domain text NOT NULL, source_ip bytea NOT NULL, day bigint NOT NULL,"
        " account_id bigint NOT NULL, header_from text NOT NULL, reporter text NOT NULL,"
        " disposition text NOT NULL, dkim_pass smallint NOT NULL, spf_pass smallint NOT NULL,"
        " messages bigint NOT NULL, records bigint NOT NULL,"
        " PRIMARY KEY(domain, source_ip, day, account_id, header_from, reporter, disposition,"
        "  dkim_pass, spf_pass));"
        "CREATE TABLE IF NOT EXISTS day_totals("
        " domain text NOT NULL, day bigint NOT NULL, account_id bigint NOT NULL,"
        " reporter text NOT NULL, disposition text NOT NULL, dkim_pass smallint NOT NULL,"
        " spf_pass smallint NOT NULL, messages bigint NOT NULL, records bigint NOT NULL,"
        " PRIMARY KEY(domain, day, account_id, reporter, disposition, dkim_pass, spf_pass));"
        "CREATE TABLE IF NOT EXISTS src_day("
        " domain text NOT NULL, source_ip bytea NOT NULL, account_id bigint NOT NULL,"
        " day bigint NOT NULL, messages bigint NOT NULL, dmarc_pass bigint NOT NULL,"
        " spf_aligned bigint NOT NULL, dkim_aligned bigint NOT NULL,"
        " quarantine bigint NOT NULL, reject bigint NOT NULL,"
        " PRIMARY KEY(domain, source_ip, account_id, day));" IPS_SQL TLS_SQL;

/* From version 1 (records without their order within the report). */
static const char upgrade1_sql[] =
        "ALTER TABLE records ADD COLUMN IF NOT EXISTS n integer NOT NULL DEFAULT 0;"
        "DROP INDEX IF EXISTS records_report;"
        "CREATE INDEX IF NOT EXISTS records_report_n ON records(report, n);"
        "UPDATE dmarcd_schema SET version = 2;";

/* From version 2: the ips table. */
static const char upgrade2_sql[] = IPS_SQL "UPDATE dmarcd_schema SET version = 3;";

/* From version 3: the TLS report tables. */
static const char upgrade3_sql[] = TLS_SQL "UPDATE dmarcd_schema SET version = 4;";

/* Per connection: where a batch's rollup cells wait for their upsert. */
static const char temp_sql[] =
        "CREATE TEMP TABLE daily_in (LIKE daily) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE day_totals_in (LIKE day_totals) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE src_day_in (LIKE src_day) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE reports_in (LIKE reports INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE ips_in (LIKE ips) ON COMMIT DELETE ROWS;";

/* A reverse name not known now (ptr_state 0, or 4: the DNS failed) leaves
 * the one known before, and the service found with it. */
#define IPS_KEEP "excluded.ptr_state IN (0, 4) AND ips.ptr_state NOT IN (0, 4)"
static const char ips_upsert_sql[] =
        "INSERT INTO ips SELECT * FROM ips_in ORDER BY ip ON CONFLICT (ip) DO UPDATE SET"
        " asn = excluded.asn, as_name = excluded.as_name, country = excluded.country,"
        " updated = excluded.updated,"
        " ptr_state = CASE WHEN " IPS_KEEP " THEN ips.ptr_state ELSE excluded.ptr_state END,"
        " ptr = CASE WHEN " IPS_KEEP " THEN ips.ptr ELSE excluded.ptr END,"
        " base_domain = CASE WHEN " IPS_KEEP " THEN ips.base_domain ELSE excluded.base_domain END,"
        " service = CASE WHEN " IPS_KEEP " THEN ips.service ELSE excluded.service END,"
        " service_type = CASE WHEN " IPS_KEEP " THEN ips.service_type"
        "  ELSE excluded.service_type END;"
        "TRUNCATE ips_in;";

static const char upsert_sql[] =
        "INSERT INTO daily SELECT * FROM daily_in ORDER BY domain, source_ip, day, account_id,"
        " header_from, reporter, disposition, dkim_pass, spf_pass"
        " ON CONFLICT (domain, source_ip, day, account_id, header_from, reporter, disposition,"
        " dkim_pass, spf_pass) DO UPDATE SET messages = daily.messages + excluded.messages,"
        " records = daily.records + excluded.records;"
        "INSERT INTO src_day SELECT * FROM src_day_in ORDER BY domain, source_ip, account_id, day"
        " ON CONFLICT (domain, source_ip, account_id, day) DO UPDATE SET"
        " messages = src_day.messages + excluded.messages,"
        " dmarc_pass = src_day.dmarc_pass + excluded.dmarc_pass,"
        " spf_aligned = src_day.spf_aligned + excluded.spf_aligned,"
        " dkim_aligned = src_day.dkim_aligned + excluded.dkim_aligned,"
        " quarantine = src_day.quarantine + excluded.quarantine,"
        " reject = src_day.reject + excluded.reject;"
        "INSERT INTO day_totals SELECT * FROM day_totals_in ORDER BY domain, day, account_id,"
        " reporter, disposition, dkim_pass, spf_pass"
        " ON CONFLICT (domain, day, account_id, reporter, disposition, dkim_pass, spf_pass)"
        " DO UPDATE SET messages = day_totals.messages + excluded.messages,"
        " records = day_totals.records + excluded.records;"
        "TRUNCATE daily_in, src_day_in, day_totals_in;";

static const char claim_sql[] =
        "INSERT INTO reports(id, reporter, policy_domain, report_id, date_begin, date_end,"
        " account_id, received_at) VALUES(nextval('reports_id_seq'), $1, $2, $3, $4, $5, $6, 0)"
        " ON CONFLICT (reporter, policy_domain, report_id, date_begin, date_end) DO NOTHING"
        " RETURNING id";

/* The metadata of the batch's stored reports, sent with one COPY and one
 * UPDATE when the batch ends (not a round trip per report). */
static const char meta_copy_sql[] =
        "COPY reports_in(id, org_name, email, extra_contact_info, adkim, aspf, p, sp, np, pct,"
        " fo, testing, discovery_method, generator, version, xmlns, schema, report_error,"
        " archive_key, content_hash, source, records, messages, skipped, received_at, warnings)"
        " FROM STDIN";
static const char meta_update_sql[] =
        "UPDATE reports r SET org_name=i.org_name, email=i.email,"
        " extra_contact_info=i.extra_contact_info, adkim=i.adkim, aspf=i.aspf, p=i.p, sp=i.sp,"
        " np=i.np, pct=i.pct, fo=i.fo, testing=i.testing, discovery_method=i.discovery_method,"
        " generator=i.generator, version=i.version, xmlns=i.xmlns, schema=i.schema,"
        " report_error=i.report_error, archive_key=i.archive_key, content_hash=i.content_hash,"
        " source=i.source, records=i.records, messages=i.messages, skipped=i.skipped,"
        " received_at=i.received_at, warnings=i.warnings FROM reports_in i WHERE r.id = i.id;"
        "TRUNCATE reports_in;";

static const char records_copy_sql[] =
        "COPY records(report, n, account_id, policy_domain, date_begin, date_end, source_ip, count,"
        " disposition, dkim, spf, dmarc_pass, header_from, envelope_from, envelope_to, reasons,"
        " dkim_results, spf_results, ptr, base_domain, asn, as_name, country, service) FROM STDIN";

static const char tls_claim_sql[] =
        "INSERT INTO tls_reports(account_id, reporter, org_name, contact_info, report_id,"
        " policy_domain, date_begin, date_end, day, policies, failure_details, success, failure,"
        " archive_key, content_hash, source, received_at, warnings) VALUES($1, $2, $3, $4, $5,"
        " $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        " ON CONFLICT (reporter, report_id) DO NOTHING RETURNING id";
static const char tls_policies_copy_sql[] =
        "COPY tls_policies(report, idx, account_id, domain, day, policy_type, policy_domain,"
        " mx_host, policy_string, success, failure) FROM STDIN";
static const char tls_failures_copy_sql[] =
        "COPY tls_failures(report, n, policy, account_id, domain, day, result_type, sending_ip,"
        " receiving_mx_hostname, receiving_mx_helo, receiving_ip, additional_info,"
        " failure_reason_code, sessions) FROM STDIN";

static const char failure_sql[] =
        "INSERT INTO failures(" BACKEND_FAILURE_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        " $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27,"
        " $28, $29, $30, $31, $32, $33, $34, $35) ON CONFLICT (content_hash) DO NOTHING RETURNING id";

static const char stats_sql[] =
        "SELECT r.policy_domain, r.n, r.rec, r.msg, COALESCE(d.pass, 0), COALESCE(d.fail, 0) FROM"
        " (SELECT policy_domain, COUNT(*) AS n, SUM(records) AS rec, SUM(messages) AS msg"
        "  FROM reports WHERE policy_domain IS NOT NULL GROUP BY policy_domain) AS r"
        " LEFT JOIN (SELECT domain,"
        "  SUM(CASE WHEN dkim_pass <> 0 OR spf_pass <> 0 THEN messages ELSE 0 END) AS pass,"
        "  SUM(CASE WHEN dkim_pass <> 0 OR spf_pass <> 0 THEN 0 ELSE messages END) AS fail"
        "  FROM day_totals GROUP BY domain) AS d ON d.domain = r.policy_domain"
        " WHERE $1::text IS NULL OR r.policy_domain = $1 ORDER BY r.policy_domain";

struct pg {
	PGconn *c;
	char err[512];
	char *url, password[256]; /* for the readers' connections */
	/* the open report */
	int in_report, claimed, dup, sp_open;
	long long report_id;
	size_t report_copy_start; /* its first row in copy, while none was sent */
	int report_rows_sent;
	struct rollup rollup;
	char reporter[DM_MAX_ID_LEN + 1];
	int have_reporter;
	const struct dm_report *rollup_rep;
	int64_t account_id;
	long long rec_n; /* the open report's records so far: their order */
	struct rollup bdaily, btotals;
	struct backend_ips ips; /* the batch's sources, for the ips table */
	struct dm_buf copy; /* records rows not sent yet (COPY text format) */
	struct dm_buf rows; /* rollup rows of one flush */
	struct dm_buf meta; /* the metadata rows of the batch's stored reports */
	struct dm_buf json;
	/* the batch */
	int batch_open, broken;
	uint64_t batch_id, durable_id, failed_id;
	unsigned batch_reports;
	struct timespec batch_start;
	int prune_indexed; /* prune_index_sql ran on this connection */
};

/* ---- talking to the server ------------------------------------------------ */

void
store_pg_words(char *out, size_t outlen, const char *who, const char *what, const char *msg)
{
	snprintf(out, outlen, "%s: %s: %s", who, what, msg && *msg ? msg : "failed");
	for (char *s = out; *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
	size_t n = strlen(out);
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = '\0';
}

static void
set_err(struct pg *p, const char *what, const char *msg)
{
	store_pg_words(p->err, sizeof p->err, "postgres", what, msg);
}

static int
fail(struct pg *p, PGresult *r, const char *what)
{
	p->broken = 1;
	if (!p->err[0])
		set_err(p, what, r ? PQresultErrorMessage(r) : PQerrorMessage(p->c));
	/* another writer's transaction was in the way (deadlock, serialization):
	 * the batch can simply be tried again */
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	int busy = state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0);
	if (r)
		PQclear(r);
	if (busy)
		return DM_EBUSY;
	return PQstatus(p->c) == CONNECTION_OK ? DM_ESTORE : DM_EIO;
}

/* Run sql (one or more statements, no parameters). */
static int
ex(struct pg *p, const char *sql, const char *what)
{
	PGresult *r = PQexec(p->c, sql);
	ExecStatusType s = PQresultStatus(r);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		return fail(p, r, what);
	PQclear(r);
	return 0;
}

/* Send data with a COPY ... FROM STDIN. */
static int
copy_in(struct pg *p, const char *sql, const char *data, size_t len, const char *what)
{
	PGresult *r = PQexec(p->c, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN)
		return fail(p, r, what);
	PQclear(r);
	int ok = 1;
	for (size_t off = 0; ok && off < len;) {
		size_t n = len - off > (1u << 20) ? (1u << 20) : len - off;
		ok = PQputCopyData(p->c, data + off, (int)n) == 1;
		off += n;
	}
	if (PQputCopyEnd(p->c, ok ? NULL : "client failed") != 1)
		ok = 0;
	int rc = 0;
	while ((r = PQgetResult(p->c)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
			rc = fail(p, r, what);
			continue;
		}
		PQclear(r);
	}
	if (rc == 0 && !ok)
		rc = fail(p, NULL, what);
	return rc;
}

/* ---- text as the server takes it ------------------------------------------ */

int
store_pg_text(struct dm_buf *b, const char *s)
{
	int bad = backend_text(b, s, 0);
	bad |= dm_buf_addc(b, '\0');
	return bad ? DM_ELIMIT : 0;
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

static int
field_ip(struct dm_buf *b, const unsigned char ip[16], int family, int nul_if_none, int last)
{
	static const char hex[] = "0123456789abcdef";
	if (!family && nul_if_none)
		return field(b, NULL, last);
	int bad = dm_buf_add(b, "\\\\x", 3); /* bytea hex, its backslash escaped for COPY */
	for (int i = 0; family && i < 16; i++) {
		char h[2] = {hex[ip[i] >> 4], hex[ip[i] & 15]};
		bad |= dm_buf_add(b, h, 2);
	}
	bad |= dm_buf_addc(b, last ? '\n' : '\t');
	return bad ? DM_ELIMIT : 0;
}

/* ---- opening ---------------------------------------------------------------- */

static int
pg_setup(struct pg *p)
{
	int rc = ex(p, "SELECT pg_advisory_lock(" PG_LOCK_KEY ")", "lock for set-up");
	if (rc)
		return rc;
	PGresult *r = PQexec(p->c, "SELECT to_regclass('dmarcd_schema') IS NOT NULL");
	int have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	           strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (have) {
		r = PQexec(p->c, "SELECT max(version) FROM dmarcd_schema");
		long v = -1;
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		    !PQgetisnull(r, 0, 0)) {
			char *end;
			errno = 0;
			v = strtol(PQgetvalue(r, 0, 0), &end, 10);
			if (errno || *end || v < 0 || v > 1000000)
				v = -1;
		}
		PQclear(r);
		if (v >= 1 && v <= 3) {
			rc = ex(p, "BEGIN", "upgrade the schema");
			if (rc == 0 && v == 1)
				rc = ex(p, upgrade1_sql, "upgrade the schema from version 1");
			if (rc == 0 && v <= 2)
				rc = ex(p, upgrade2_sql, "upgrade the schema from version 2");
			if (rc == 0)
				rc = ex(p, upgrade3_sql, "upgrade the schema from version 3");
			if (rc == 0)
				rc = ex(p, "COMMIT", "upgrade the schema");
			if (rc)
				PQclear(PQexec(p->c, "ROLLBACK"));
			else
				v = PG_SCHEMA_VERSION;
		}
		if (rc == 0 && v > PG_SCHEMA_VERSION)
			snprintf(p->err, sizeof p->err,
			         "postgres: schema %ld is newer than this dmarcd's %d", v,
			         PG_SCHEMA_VERSION);
		else if (rc == 0 && v != PG_SCHEMA_VERSION)
			snprintf(p->err, sizeof p->err, "postgres: unknown schema version %ld", v);
		if (rc == 0)
			rc = p->err[0] ? DM_ESTORE : 0;
	} else {
		rc = ex(p, "BEGIN", "set-up");
		if (rc == 0)
			rc = ex(p, schema_sql, "create the schema");
		if (rc == 0)
			rc = ex(p, "INSERT INTO dmarcd_schema VALUES(" PG_STR(PG_SCHEMA_VERSION) "); COMMIT",
			        "create the schema");
		if (rc)
			(void)PQexec(p->c, "ROLLBACK");
	}
	PGresult *u = PQexec(p->c, "SELECT pg_advisory_unlock(" PG_LOCK_KEY ")");
	PQclear(u);
	if (rc == 0)
		rc = ex(p, temp_sql, "create the temporary tables");
	p->broken = 0;
	return rc;
}

/* A connection to url (its password apart, never in the URL). */
static PGconn *
connect_url(const char *url, const char *password)
{
	const char *const keys[] = {"dbname",           "password",        "connect_timeout",
	                            "application_name", "client_encoding", NULL};
	const char *const vals[] = {
	        url, password && *password ? password : NULL, "10", "dmarcd", "UTF8", NULL};
	/* keys after a NULL value are not read: the password goes last */
	const char *k2[6], *v2[6];
	int n = 0;
	for (int i = 0; keys[i]; i++)
		if (vals[i]) {
			k2[n] = keys[i];
			v2[n++] = vals[i];
		}
	k2[n] = v2[n] = NULL;
	return PQconnectdbParams(k2, v2, 1);
}

struct pg_conn *
store_pg_connect(struct store *st, char *err, size_t errlen)
{
	struct pg *p = st->impl;
	PGconn *c = connect_url(p->url, p->password);
	if (PQstatus(c) != CONNECTION_OK) {
		struct pg e;
		e.err[0] = '\0';
		set_err(&e, "cannot connect", PQerrorMessage(c));
		snprintf(err, errlen, "%s", e.err);
		PQfinish(c);
		return NULL;
	}
	return c;
}

int
store_pg_open(struct store *st, const char *url, const char *password, char *err, size_t errlen)
{
	struct pg *p = xcalloc(1, sizeof *p);
	p->c = connect_url(url, password);
	int rc = 0;
	if (PQstatus(p->c) != CONNECTION_OK) {
		set_err(p, "cannot connect", PQerrorMessage(p->c));
		rc = DM_EIO;
	}
	if (rc == 0)
		rc = pg_setup(p);
	if (rc) {
		snprintf(err, errlen, "%s", p->err);
		PQfinish(p->c);
		free(p);
		return rc;
	}
	p->url = xstrdup(url);
	snprintf(p->password, sizeof p->password, "%s", password ? password : "");
	rollup_init(&p->rollup, DM_MAX_ROLLUP_CELLS);
	rollup_init(&p->bdaily, DM_MAX_BATCH_ROLLUP_CELLS);
	rollup_init(&p->btotals, DM_MAX_BATCH_TOTAL_CELLS);
	backend_ips_init(&p->ips, DM_ENRICH_BATCH_IPS);
	dm_buf_init(&p->copy, 2 * PG_COPY_FLUSH);
	dm_buf_init(&p->rows, 64 * 1024 * 1024);
	dm_buf_init(&p->meta, 64 * 1024 * 1024);
	dm_buf_init(&p->json, 4 * 1024 * 1024);
	st->impl = p;
	return 0;
}

static int
pg_open(struct store *st, const char *data_dir, char *err, size_t errlen)
{
	(void)st;
	(void)data_dir;
	snprintf(err, errlen, "the postgres store is opened by its URL (store = postgres://...)");
	return DM_EUSAGE;
}

static int batch_commit(struct pg *p);

static void
pg_close(struct store *st)
{
	struct pg *p = st->impl;
	if (!p)
		return;
	(void)batch_commit(p);
	PQfinish(p->c);
	free(p->url);
	explicit_bzero(p->password, sizeof p->password);
	rollup_free(&p->rollup);
	rollup_free(&p->bdaily);
	rollup_free(&p->btotals);
	backend_ips_free(&p->ips);
	dm_buf_free(&p->copy);
	dm_buf_free(&p->rows);
	dm_buf_free(&p->meta);
	dm_buf_free(&p->json);
	free(p);
	st->impl = NULL;
}

/* ---- batches ----------------------------------------------------------------- */

static void
batch_fail(struct pg *p)
{
	if (p->batch_open) {
		PGresult *r = PQexec(p->c, "ROLLBACK");
		PQclear(r);
		__atomic_store_n(&p->failed_id, p->batch_id, __ATOMIC_RELEASE);
	}
	p->batch_open = 0;
	p->batch_reports = 0;
	p->broken = 0;
	dm_buf_reset(&p->copy);
	dm_buf_reset(&p->meta);
	rollup_clear(&p->bdaily);
	rollup_clear(&p->btotals);
}

/* Send the batch's report metadata (see meta_copy_sql). */
static int
meta_flush(struct pg *p)
{
	if (p->meta.len == 0)
		return 0;
	int rc = copy_in(p, meta_copy_sql, p->meta.data, p->meta.len, "COPY the reports");
	dm_buf_reset(&p->meta);
	return rc ? rc : ex(p, meta_update_sql, "store the reports");
}

static int
copy_flush(struct pg *p)
{
	if (p->copy.len == 0)
		return 0;
	int rc = copy_in(p, records_copy_sql, p->copy.data, p->copy.len, "COPY records");
	dm_buf_reset(&p->copy);
	if (p->in_report)
		p->report_rows_sent = 1;
	return rc;
}

/* One src_day row in COPY's text format (backend_src_days' callback). */
static int
src_row(void *arg, const struct backend_src_day *a)
{
	struct dm_buf *b = arg;
	int bad = 0;
	bad |= field(b, a->domain, 0);
	bad |= field_ip(b, a->ip, a->ip_family, 0, 0);
	bad |= field_int(b, a->account, 0);
	bad |= field_int(b, a->day, 0);
	bad |= field_int(b, (long long)a->messages, 0);
	bad |= field_int(b, (long long)a->pass, 0);
	bad |= field_int(b, (long long)a->spf, 0);
	bad |= field_int(b, (long long)a->dkim, 0);
	bad |= field_int(b, (long long)a->quarantine, 0);
	bad |= field_int(b, (long long)a->reject, 1);
	return bad;
}

/* Upsert the batch's sources into ips (COPY into ips_in, one upsert), and
 * empty the table. */
static int
ips_write(struct pg *p)
{
	if (p->ips.n == 0)
		return 0;
	int bad = 0, rc;
	dm_buf_reset(&p->rows);
	for (size_t i = 0; i < p->ips.n; i++) {
		const struct backend_ip *x = backend_ips_at(&p->ips, i);
		const struct dm_enrichment *e = &x->e;
		bad |= field_ip(&p->rows, x->ip, 6, 0, 0);
		bad |= field_int(&p->rows, (long long)e->ptr_state, 0);
		bad |= backend_enrich_fields(&p->rows, e, 1, 0);
		bad |= field_int(&p->rows, x->updated, 1);
	}
	backend_ips_clear(&p->ips);
	rc = bad ? DM_ELIMIT
	         : copy_in(p, "COPY ips_in FROM STDIN", p->rows.data, p->rows.len, "COPY ips");
	dm_buf_reset(&p->rows);
	if (rc == 0)
		rc = ex(p, ips_upsert_sql, "upsert the sources' enrichment");
	return rc;
}

/* Upsert the batch's cells (daily, src_day from daily's runs, day_totals)
 * and empty the tables: at the batch's end, or when a table is full. */
static int
batch_write(void *arg, struct rollup *unused)
{
	struct pg *p = arg;
	(void)unused;
	int rc = 0, bad = 0;
	struct rollup *r = &p->bdaily;
	if (r->n == 0 && p->btotals.n == 0)
		return 0;
	rollup_sort(r);
	dm_buf_reset(&p->rows);
	for (size_t i = 0; i < r->n; i++) {
		const struct rollup_cell *c = rollup_cell(r, i);
		bad |= field(&p->rows, c->domain, 0);
		bad |= field_ip(&p->rows, c->ip, c->ip_family, 0, 0);
		bad |= field_int(&p->rows, c->day, 0);
		bad |= field_int(&p->rows, c->account, 0);
		bad |= field(&p->rows, c->header_from, 0);
		bad |= field(&p->rows, c->reporter, 0);
		bad |= field(&p->rows, c->disposition, 0);
		bad |= field_int(&p->rows, c->dkim_pass, 0);
		bad |= field_int(&p->rows, c->spf_pass, 0);
		bad |= field_int(&p->rows, (long long)c->messages, 0);
		bad |= field_int(&p->rows, (long long)c->records, 1);
	}
	rc = bad ? DM_ELIMIT
	         : copy_in(p, "COPY daily_in FROM STDIN", p->rows.data, p->rows.len, "COPY daily");
	dm_buf_reset(&p->rows);
	if (rc == 0 && backend_src_days(r, src_row, &p->rows) != 0)
		bad = 1;
	if (rc == 0 && bad)
		rc = DM_ELIMIT;
	if (rc == 0)
		rc = copy_in(p, "COPY src_day_in FROM STDIN", p->rows.data, p->rows.len,
		             "COPY src_day");
	r = &p->btotals;
	dm_buf_reset(&p->rows);
	for (size_t i = 0; i < r->n; i++) {
		const struct rollup_cell *c = rollup_cell(r, i);
		bad |= field(&p->rows, c->domain, 0);
		bad |= field_int(&p->rows, c->day, 0);
		bad |= field_int(&p->rows, c->account, 0);
		bad |= field(&p->rows, c->reporter, 0);
		bad |= field(&p->rows, c->disposition, 0);
		bad |= field_int(&p->rows, c->dkim_pass, 0);
		bad |= field_int(&p->rows, c->spf_pass, 0);
		bad |= field_int(&p->rows, (long long)c->messages, 0);
		bad |= field_int(&p->rows, (long long)c->records, 1);
	}
	if (rc == 0 && bad)
		rc = DM_ELIMIT;
	if (rc == 0)
		rc = copy_in(p, "COPY day_totals_in FROM STDIN", p->rows.data, p->rows.len,
		             "COPY day_totals");
	if (rc == 0)
		rc = ex(p, upsert_sql, "upsert the rollups");
	if (rc == 0)
		rc = ips_write(p);
	rollup_clear(&p->bdaily);
	rollup_clear(&p->btotals);
	return rc;
}

static int
batch_commit(struct pg *p)
{
	if (!p->batch_open)
		return 0;
	int rc = p->broken ? DM_ESTORE : copy_flush(p);
	if (rc == 0)
		rc = meta_flush(p);
	if (rc == 0)
		rc = batch_write(p, NULL);
	if (rc == 0)
		rc = ex(p, "COMMIT", "commit");
	if (rc) {
		if (!p->err[0])
			snprintf(p->err, sizeof p->err, "postgres: the batch failed earlier");
		batch_fail(p);
		return rc;
	}
	p->batch_open = 0;
	p->batch_reports = 0;
	__atomic_store_n(&p->durable_id, p->batch_id, __ATOMIC_RELEASE);
	return 0;
}

/* Open a batch unless one is open (and not broken). */
static int
batch_open(struct pg *p)
{
	if (p->batch_open && p->broken)
		batch_fail(p);
	if (p->batch_open)
		return 0;
	if (PQstatus(p->c) != CONNECTION_OK) {
		PQreset(p->c); /* the server came back, or not */
		if (PQstatus(p->c) != CONNECTION_OK) {
			set_err(p, "cannot connect", PQerrorMessage(p->c));
			return DM_EIO;
		}
		int rc = ex(p, temp_sql, "create the temporary tables");
		if (rc) {
			p->broken = 0;
			return rc;
		}
	}
	int rc = ex(p, "BEGIN", "begin");
	if (rc) {
		p->broken = 0;
		return rc;
	}
	p->batch_open = 1;
	p->batch_id++;
	clock_gettime(CLOCK_MONOTONIC, &p->batch_start);
	return 0;
}

static int
pg_tx_begin(struct store *st, int64_t account_id)
{
	struct pg *p = st->impl;
	p->err[0] = '\0';
	int rc = batch_open(p);
	if (rc)
		return rc;
	p->in_report = 1;
	p->claimed = p->dup = p->sp_open = 0;
	p->rec_n = 0;
	p->report_id = 0;
	p->report_copy_start = p->copy.len;
	p->report_rows_sent = 0;
	p->have_reporter = 0;
	p->account_id = account_id;
	rollup_clear(&p->rollup);
	return 0;
}

/* ---- one report ----------------------------------------------------------------- */

static void
set_reporter(struct pg *p, const struct dm_report *rep)
{
	backend_reporter(rep, p->reporter, sizeof p->reporter);
	p->have_reporter = 1;
}

static int
report_merge(struct pg *p, const struct dm_report *rep)
{
	if (!p->have_reporter)
		set_reporter(p, rep);
	return backend_merge(&p->rollup, &p->bdaily, &p->btotals, rep->policy.domain, p->reporter,
	                     p->account_id, batch_write, p);
}

/* The report's own rollup is full: its cells go out now, after a
 * savepoint, so an abort can still undo them (see the top). */
static int
report_flush(void *arg, struct rollup *r)
{
	struct pg *p = arg;
	int rc;
	(void)r;
	if (!p->sp_open) {
		rc = batch_write(p, NULL);
		if (rc == 0)
			rc = copy_flush(p);
		if (rc == 0)
			rc = ex(p, "SAVEPOINT report", "savepoint");
		if (rc)
			return rc;
		p->sp_open = 1;
	}
	rc = report_merge(p, p->rollup_rep);
	if (rc == 0)
		rc = batch_write(p, NULL);
	return rc;
}

/* Claim the report: its row with the identity, or nothing (p->dup). */
static int
claim(struct pg *p, const struct dm_report *rep)
{
	char begin[24], end[24], account[24];
	if (!p->have_reporter)
		set_reporter(p, rep);
	snprintf(begin, sizeof begin, "%lld", (long long)rep->begin);
	snprintf(end, sizeof end, "%lld", (long long)rep->end);
	snprintf(account, sizeof account, "%lld", (long long)p->account_id);
	struct dm_buf ids[3];
	const char *v[6];
	int bad = 0;
	const char *src[3] = {p->reporter, rep->policy.domain, rep->report_id};
	for (int i = 0; i < 3; i++) {
		dm_buf_init(&ids[i], 4 * DM_MAX_ID_LEN);
		bad |= backend_text(&ids[i], src[i] ? src[i] : "", 0);
		bad |= dm_buf_addc(&ids[i], '\0');
		v[i] = ids[i].data;
	}
	v[3] = begin;
	v[4] = end;
	v[5] = account;
	PGresult *r = bad ? NULL : PQexecParams(p->c, claim_sql, 6, NULL, v, NULL, NULL, 0);
	for (int i = 0; i < 3; i++)
		dm_buf_free(&ids[i]);
	if (bad) {
		snprintf(p->err, sizeof p->err, "report identity too long");
		return DM_ELIMIT;
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(p, r, "claim the report");
	p->claimed = 1;
	if (PQntuples(r) == 0)
		p->dup = 1;
	else
		p->report_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

static int
pg_record_add(struct store *st, const struct dm_report *rep, const struct dm_record *rec)
{
	struct pg *p = st->impl;
	int rc;
	if (!dm_report_claimable(rep)) {
		snprintf(p->err, sizeof p->err, "a record before the report's identity is known");
		return DM_EINVAL;
	}
	if (!p->claimed && (rc = claim(p, rep)) != 0)
		return rc;
	if (p->dup)
		return 0;
	size_t off[3], len[3];
	if (backend_record_json(&p->json, rec, off, len) != 0) {
		snprintf(p->err, sizeof p->err, "record results too large");
		return DM_ELIMIT;
	}
	struct dm_buf *b = &p->copy;
	size_t row = b->len;
	int bad = 0;
	bad |= field_int(b, p->report_id, 0);
	bad |= field_int(b, p->rec_n + 1, 0);
	bad |= field_int(b, p->account_id, 0);
	bad |= field(b, rep->policy.domain, 0);
	bad |= field_int(b, rep->begin, 0);
	bad |= field_int(b, rep->end, 0);
	bad |= field_ip(b, rec->ip, rec->ip_family, 1, 0);
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
			char save = p->json.data[off[i] + len[i]];
			p->json.data[off[i] + len[i]] = '\0';
			bad |= field(b, p->json.data + off[i], 0);
			p->json.data[off[i] + len[i]] = save;
		}
	}
	const struct dm_enrichment *e = rec->enr;
	bad |= backend_enrich_fields(b, e, 0, 1);
	if (bad) {
		b->len = row; /* the row is not sent half */
		snprintf(p->err, sizeof p->err, "record too large to send");
		return DM_ELIMIT;
	}
	p->rec_n++;
	if (b->len >= PG_COPY_FLUSH && (rc = copy_flush(p)) != 0)
		return rc;
	rc = 0; /* no enrichment: nothing for ips */
	if (e && (rc = backend_ips_add(&p->ips, rec, (long long)time(NULL))) == DM_ELIMIT) {
		rc = ips_write(p);
		if (rc == 0)
			rc = backend_ips_add(&p->ips, rec, (long long)time(NULL));
	}
	if (rc)
		return rc;
	p->rollup_rep = rep;
	return rollup_add(&p->rollup, rep->begin, rep->end, rec, report_flush, p);
}

/* Undo the open report: its cells (savepoint), its rows, its claim. */
static int
report_undo(struct pg *p)
{
	int rc = 0;
	if (p->sp_open) {
		rc = ex(p, "ROLLBACK TO SAVEPOINT report; RELEASE SAVEPOINT report", "undo");
		p->sp_open = 0;
	}
	if (!p->report_rows_sent && p->copy.len >= p->report_copy_start)
		p->copy.len = p->report_copy_start; /* its rows were never sent */
	if (rc == 0 && p->claimed && !p->dup) {
		char id[24];
		const char *v[1] = {id};
		snprintf(id, sizeof id, "%lld", p->report_id);
		if (p->report_rows_sent)
			rc = copy_flush(p);
		PGresult *r = rc ? NULL
		                 : PQexecParams(p->c, "DELETE FROM records WHERE report = $1;", 1,
		                                NULL, v, NULL, NULL, 0);
		if (r && PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = fail(p, r, "undo the report's records");
		else if (r)
			PQclear(r);
		if (rc == 0) {
			r = PQexecParams(p->c, "DELETE FROM reports WHERE id = $1", 1, NULL, v,
			                 NULL, NULL, 0);
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				rc = fail(p, r, "undo the claim");
			else
				PQclear(r);
		}
	}
	return rc;
}

/* A report was kept: commit the batch when it is full or old enough. */
static int
batch_counted(struct pg *p)
{
	p->batch_reports++;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double age = (double)(now.tv_sec - p->batch_start.tv_sec) +
	             (double)(now.tv_nsec - p->batch_start.tv_nsec) / 1e9;
	if (p->batch_reports >= STORE_BATCH_REPORTS || age >= STORE_BATCH_SECONDS)
		return batch_commit(p);
	return 0;
}

static int
report_end(struct pg *p, int keep)
{
	int rc = 0;
	if (!p->in_report)
		return 0;
	if (!keep)
		rc = report_undo(p);
	else if (p->sp_open)
		rc = ex(p, "RELEASE SAVEPOINT report", "release");
	p->in_report = 0;
	p->sp_open = 0;
	rollup_clear(&p->rollup);
	if (p->broken) {
		batch_fail(p);
		return rc ? rc : DM_ESTORE;
	}
	if (rc || !keep)
		return rc;
	return batch_counted(p);
}

static int
pg_tx_commit(struct store *st, struct dm_report *rep, const struct store_report_info *info,
             enum store_outcome *out)
{
	struct pg *p = st->impl;
	const struct dm_policy_published *pol = &rep->policy;
	int rc = p->claimed ? 0 : claim(p, rep);
	if (rc)
		goto fail;
	if (p->dup) {
		*out = STORE_DUPLICATE;
		return report_end(p, 0);
	}
	if (backend_warnings_json(&p->json, rep) != 0) {
		rc = DM_ELIMIT;
		goto fail;
	}
	char id[24], pct[16], recs[24], msgs[24], skipped[24], received[24];
	snprintf(id, sizeof id, "%lld", p->report_id);
	snprintf(pct, sizeof pct, "%d", pol->pct);
	snprintf(recs, sizeof recs, "%llu", (unsigned long long)rep->records);
	snprintf(msgs, sizeof msgs, "%llu", (unsigned long long)rep->messages);
	snprintf(skipped, sizeof skipped, "%llu", (unsigned long long)rep->skipped);
	snprintf(received, sizeof received, "%lld", (long long)info->received_at);
	const char *src[26] = {
	        id,
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
	        recs,
	        msgs,
	        skipped,
	        received,
	        p->json.data,
	};
	/* a COPY row, sent when the batch ends; every text made valid UTF-8
	 * (an input's name may not be) */
	size_t row = p->meta.len;
	int bad = 0;
	for (int i = 0; i < 26; i++)
		bad |= field(&p->meta, src[i], i == 25);
	if (bad) {
		p->meta.len = row;
		snprintf(p->err, sizeof p->err, "report metadata too large");
		rc = DM_ELIMIT;
		goto fail;
	}
	if (p->meta.len >= PG_COPY_FLUSH && (rc = meta_flush(p)) != 0)
		goto fail;
	/* last: once merged, the cells are the batch's */
	rc = report_merge(p, rep);
	if (rc)
		goto fail;
	*out = STORE_STORED;
	return report_end(p, 1);
fail:
	(void)report_end(p, 0);
	return rc;
}


/* ---- failure reports ------------------------------------------------------------ */

static int
pg_failure_put(struct store *st, int64_t account_id, const struct dm_failure_report *r,
               const char *headers, const struct store_report_info *info,
               enum store_outcome *out)
{
	struct pg *p = st->impl;
	struct backend_failure_vals fv;
	struct dm_buf t[BACKEND_FAILURE_NCOLS];
	const char *v[BACKEND_FAILURE_NCOLS];
	p->err[0] = '\0';
	if (backend_failure_warnings_json(&p->json, r) != 0) {
		snprintf(p->err, sizeof p->err, "the report's warnings are too long");
		return DM_ELIMIT;
	}
	int rc = batch_open(p);
	if (rc)
		return rc;
	backend_failure_values(&fv, account_id, r, headers, info, p->json.data);
	int bad = 0;
	for (int i = 0; i < BACKEND_FAILURE_NCOLS; i++) {
		/* text made valid UTF-8 for the server (the source's name may
		 * not be) */
		dm_buf_init(&t[i], 4 * DM_MAX_HEADER_BYTES);
		bad |= fv.v[i] ? store_pg_text(&t[i], fv.v[i]) : 0;
		v[i] = fv.v[i] ? t[i].data : NULL;
	}
	PGresult *res = bad ? NULL : PQexecParams(p->c, failure_sql, BACKEND_FAILURE_NCOLS, NULL, v,
	                                          NULL, NULL, 0);
	for (int i = 0; i < BACKEND_FAILURE_NCOLS; i++)
		dm_buf_free(&t[i]);
	if (bad) {
		snprintf(p->err, sizeof p->err, "a failure report field too long");
		return DM_ELIMIT;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = fail(p, res, "store the failure report");
		batch_fail(p);
		return rc;
	}
	int stored = PQntuples(res) > 0;
	PQclear(res);
	*out = stored ? STORE_STORED : STORE_DUPLICATE;
	return stored ? batch_counted(p) : 0;
}

/* ---- SMTP TLS reports ----------------------------------------------------------- */

/* The report's row (its claim: no row back, a duplicate), then its
 * policies and failures by COPY. */
static int
tls_rows(struct pg *p, int64_t account_id, struct dm_tls_report *rep,
         const struct store_report_info *info, store_tls_next_fn next, void *arg,
         enum store_outcome *out)
{
	enum { NP = 18 };
	char reporter[DM_MAX_ID_LEN + 1], num[9][24];
	struct dm_buf t[8];
	const char *v[NP];
	const char *domain = backend_tls_domain(rep);
	int64_t day = backend_tls_day(rep);
	backend_tls_reporter(rep, reporter, sizeof reporter);
	if (backend_tls_warnings_json(&p->json, rep) != 0) {
		snprintf(p->err, sizeof p->err, "the report's warnings are too long");
		return DM_ELIMIT;
	}
	const char *txt[8] = {reporter, rep->org_name, rep->contact_info, rep->report_id, domain,
	                      info->archive_key, info->content_hash, info->source};
	int bad = 0;
	for (int i = 0; i < 8; i++) {
		dm_buf_init(&t[i], 4 * DM_MAX_TEXT_LEN);
		bad |= txt[i] ? store_pg_text(&t[i], txt[i]) : 0;
	}
	long long n[9] = {account_id, rep->begin, rep->end, day, rep->npolicies,
	                  (long long)rep->failure_details, (long long)rep->success,
	                  (long long)rep->failure, info->received_at};
	for (int i = 0; i < 9; i++)
		snprintf(num[i], sizeof num[i], "%lld", n[i]);
	v[0] = num[0];
	for (int i = 0; i < 5; i++) /* reporter ... policy_domain */
		v[1 + i] = txt[i] ? t[i].data : NULL;
	for (int i = 0; i < 7; i++) /* date_begin ... failure */
		v[6 + i] = num[1 + i];
	for (int i = 5; i < 8; i++) /* archive_key, content_hash, source */
		v[8 + i] = txt[i] ? t[i].data : NULL;
	v[16] = num[8];
	v[17] = p->json.data;
	PGresult *r = bad ? NULL : PQexecParams(p->c, tls_claim_sql, NP, NULL, v, NULL, NULL, 0);
	for (int i = 0; i < 8; i++)
		dm_buf_free(&t[i]);
	if (bad) {
		snprintf(p->err, sizeof p->err, "a TLS report field too long");
		return DM_ELIMIT;
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail(p, r, "store the TLS report");
	if (PQntuples(r) == 0) {
		PQclear(r);
		*out = STORE_DUPLICATE;
		return 0;
	}
	long long id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);

	struct dm_buf pol, fl;
	dm_buf_init(&pol, 2 * PG_COPY_FLUSH);
	dm_buf_init(&fl, 2 * PG_COPY_FLUSH);
	long long k = 0;
	struct store_tls_item it;
	int rc = 0;
	while (rc == 0 && (rc = next(arg, &it)) == 1) {
		rc = 0;
		if (it.pol) {
			const struct dm_tls_policy *x = it.pol;
			bad = field_int(&pol, id, 0) | field_int(&pol, x->index, 0) |
			      field_int(&pol, account_id, 0) |
			      field(&pol, x->domain ? x->domain : domain, 0) | field_int(&pol, day, 0) |
			      field(&pol, x->type ? x->type : "", 0) | field(&pol, x->domain, 0) |
			      field(&pol, x->mx_host, 0) | field(&pol, x->policy_string, 0) |
			      field_int(&pol, (long long)x->success, 0) |
			      field_int(&pol, (long long)x->failure, 1);
		} else {
			const struct dm_tls_failure *x = it.fail;
			bad = field_int(&fl, id, 0) | field_int(&fl, k++, 0) |
			      field_int(&fl, x->policy, 0) | field_int(&fl, account_id, 0) |
			      field(&fl, domain, 0) | field_int(&fl, day, 0) |
			      field(&fl, x->result_type ? x->result_type : "", 0) |
			      field(&fl, x->sending_mta_ip, 0) | field(&fl, x->receiving_mx_hostname, 0) |
			      field(&fl, x->receiving_mx_helo, 0) | field(&fl, x->receiving_ip, 0) |
			      field(&fl, x->additional_info, 0) | field(&fl, x->failure_reason_code, 0) |
			      field_int(&fl, (long long)x->sessions, 1);
		}
		if (bad) {
			snprintf(p->err, sizeof p->err, "a TLS report row too long");
			rc = DM_ELIMIT;
		}
		if (rc == 0 && pol.len >= PG_COPY_FLUSH) {
			rc = copy_in(p, tls_policies_copy_sql, pol.data, pol.len, "COPY TLS policies");
			dm_buf_reset(&pol);
		}
		if (rc == 0 && fl.len >= PG_COPY_FLUSH) {
			rc = copy_in(p, tls_failures_copy_sql, fl.data, fl.len, "COPY TLS failures");
			dm_buf_reset(&fl);
		}
	}
	if (rc == 0 && pol.len)
		rc = copy_in(p, tls_policies_copy_sql, pol.data, pol.len, "COPY TLS policies");
	if (rc == 0 && fl.len)
		rc = copy_in(p, tls_failures_copy_sql, fl.data, fl.len, "COPY TLS failures");
	dm_buf_free(&pol);
	dm_buf_free(&fl);
	if (rc)
		return rc;
	*out = STORE_STORED;
	return 0;
}

static int
pg_tls_put(struct store *st, int64_t account_id, struct dm_tls_report *rep,
           const struct store_report_info *info, store_tls_next_fn next, void *arg,
           enum store_outcome *out)
{
	struct pg *p = st->impl;
	p->err[0] = '\0';
	if (!dm_tls_report_claimable(rep)) {
		snprintf(p->err, sizeof p->err, "a TLS report without its identity");
		return DM_EINVAL;
	}
	int rc = batch_open(p);
	if (rc)
		return rc;
	rc = ex(p, "SAVEPOINT tls", "savepoint");
	if (rc == 0)
		rc = tls_rows(p, account_id, rep, info, next, arg, out);
	if (rc == 0) {
		rc = ex(p, "RELEASE SAVEPOINT tls", "release");
	} else if (!p->broken) {
		/* our side failed (the kept rows): the report's rows go */
		char why[sizeof p->err];
		snprintf(why, sizeof why, "%s", p->err);
		if (ex(p, "ROLLBACK TO SAVEPOINT tls", "roll back") == 0)
			(void)ex(p, "RELEASE SAVEPOINT tls", "release");
		snprintf(p->err, sizeof p->err, "%s", why);
	}
	if (p->broken) {
		/* the server's transaction is gone: the batch with it */
		batch_fail(p);
		return rc ? rc : DM_ESTORE;
	}
	if (rc)
		return rc;
	return *out == STORE_STORED ? batch_counted(p) : 0;
}

static void
pg_tx_abort(struct store *st)
{
	(void)report_end(st->impl, 0);
}

static int
pg_flush(struct store *st)
{
	struct pg *p = st->impl;
	p->err[0] = '\0';
	return batch_commit(p);
}

static uint64_t
pg_batch(struct store *st)
{
	return ((struct pg *)st->impl)->batch_id;
}

static uint64_t
pg_durable(struct store *st)
{
	return __atomic_load_n(&((struct pg *)st->impl)->durable_id, __ATOMIC_ACQUIRE);
}

static uint64_t
pg_failed(struct store *st)
{
	return __atomic_load_n(&((struct pg *)st->impl)->failed_id, __ATOMIC_ACQUIRE);
}

/* dmarcd reenrich: the sources by COPY into a temporary table, one
 * UPDATE ... FROM over the records, the ips upsert; one transaction. */
static int
pg_reenrich(struct store *st, const char *domain, int64_t since, const struct dm_record *src,
            size_t n)
{
	struct pg *p = st->impl;
	int rc = batch_commit(p);
	if (rc)
		return rc;
	p->err[0] = '\0';
	rc = ex(p,
	        "BEGIN; CREATE TEMP TABLE IF NOT EXISTS reenrich(ip bytea PRIMARY KEY,"
	        " keep_ptr boolean, ptr text, base_domain text, asn bigint, as_name text,"
	        " country text, service text) ON COMMIT DELETE ROWS",
	        "reenrich");
	int bad = 0;
	dm_buf_reset(&p->rows);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct dm_enrichment *e = src[i].enr;
		if (!e || !src[i].ip_family)
			continue;
		bad |= field_ip(&p->rows, src[i].ip, 6, 0, 0);
		bad |= field(&p->rows, backend_ptr_final(e->ptr_state) ? "f" : "t", 0);
		bad |= backend_enrich_fields(&p->rows, e, 0, 1);
	}
	if (rc == 0 && bad) {
		snprintf(p->err, sizeof p->err, "reenrich: the sources do not fit");
		rc = DM_ELIMIT;
	}
	if (rc == 0 && p->rows.len)
		rc = copy_in(p, "COPY reenrich FROM STDIN", p->rows.data, p->rows.len, "reenrich");
	dm_buf_reset(&p->rows);
	if (rc == 0) {
		char since_s[24];
		snprintf(since_s, sizeof since_s, "%lld", (long long)since);
		const char *v[2] = {domain, since_s};
		PGresult *r = PQexecParams(
		        p->c,
		        "UPDATE records r SET"
		        " ptr = CASE WHEN e.keep_ptr THEN r.ptr ELSE e.ptr END,"
		        " base_domain = CASE WHEN e.keep_ptr THEN r.base_domain ELSE e.base_domain END,"
		        " asn = e.asn, as_name = e.as_name, country = e.country,"
		        " service = COALESCE(e.service, r.service)"
		        " FROM reenrich e WHERE r.source_ip = e.ip"
		        /* the records of the reports in question (records_report_n) */
		        " AND r.report IN (SELECT id FROM reports WHERE"
		        "  ($1::text IS NULL OR policy_domain = $1::text) AND date_end >= $2::bigint)",
		        2, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = fail(p, r, "reenrich the records");
		else
			PQclear(r);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = backend_ips_add(&p->ips, &src[i], (long long)time(NULL));
		if (rc == DM_ELIMIT && (rc = ips_write(p)) == 0)
			rc = backend_ips_add(&p->ips, &src[i], (long long)time(NULL));
	}
	if (rc == 0)
		rc = ips_write(p);
	if (rc == 0)
		rc = ex(p, "COMMIT", "reenrich");
	if (rc) {
		PQclear(PQexec(p->c, "ROLLBACK"));
		backend_ips_clear(&p->ips);
	}
	return rc;
}

static int
pg_stats(struct store *st, const char *domain, struct store_stats *total,
         int (*per_domain)(void *arg, const struct store_domain_stats *d), void *arg)
{
	struct pg *p = st->impl;
	p->err[0] = '\0';
	memset(total, 0, sizeof *total);
	const char *v[1] = {domain};
	PGresult *r = PQexecParams(p->c, stats_sql, 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		int rc = fail(p, r, "stats");
		if (!p->batch_open)
			p->broken = 0;
		return rc;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		struct store_domain_stats d;
		d.domain = PQgetvalue(r, i, 0);
		d.reports = strtoull(PQgetvalue(r, i, 1), NULL, 10);
		d.records = strtoull(PQgetvalue(r, i, 2), NULL, 10);
		d.messages = strtoull(PQgetvalue(r, i, 3), NULL, 10);
		d.dmarc_pass = strtoull(PQgetvalue(r, i, 4), NULL, 10);
		d.dmarc_fail = strtoull(PQgetvalue(r, i, 5), NULL, 10);
		total->reports += d.reports;
		total->records += d.records;
		total->messages += d.messages;
		total->dmarc_pass += d.dmarc_pass;
		total->dmarc_fail += d.dmarc_fail;
		if (per_domain && per_domain(arg, &d) != 0)
			break;
	}
	PQclear(r);
	return 0;
}

/* ---- retention (store_prune) ------------------------------------------------- */

/* The indexes a prune needs and ingest does not, made by the first prune
 * (store_sqlite.c says why). */
static const char pg_prune_index_sql[] =
        "CREATE INDEX IF NOT EXISTS reports_account_end ON reports(account_id, date_end);"
        "CREATE INDEX IF NOT EXISTS reports_archive ON reports(archive_key);"
        "CREATE INDEX IF NOT EXISTS tls_reports_archive ON tls_reports(archive_key);"
        "CREATE INDEX IF NOT EXISTS failures_archive ON failures(archive_key);"
        "CREATE INDEX IF NOT EXISTS tls_reports_account_day ON tls_reports(account_id, day);"
        "CREATE INDEX IF NOT EXISTS failures_account_day ON failures(account_id, day);";

#define PG_PRUNE_AGG "account_id = $1::bigint AND date_end < $2::bigint"
#define PG_PRUNE_DAY "account_id = $1::bigint AND day < $2::bigint"

/* Run sql with $1 account, $2 cutoff, $3 limit (as many as it uses);
 * with keys, column col of each row (unless NULL) into keys; *rows gets
 * the number of rows returned, or with sum the first column summed, or
 * with changed the rows the command changed. */
enum pg_prune_count { PC_ROWS, PC_SUM, PC_CHANGED };

static int
pg_prune_q(struct pg *p, const char *sql, int nparams, int64_t account, int64_t cutoff,
           unsigned limit, struct store_prune *keys, int col, enum pg_prune_count how,
           uint64_t *n)
{
	char a[24], c[24], l[24];
	snprintf(a, sizeof a, "%lld", (long long)account);
	snprintf(c, sizeof c, "%lld", (long long)cutoff);
	snprintf(l, sizeof l, "%u", limit);
	const char *v[3] = {a, c, l};
	PGresult *r = PQexecParams(p->c, sql, nparams, NULL, v, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		return fail(p, r, "prune");
	int rows = PQntuples(r);
	for (int i = 0; keys && i < rows; i++)
		if (!PQgetisnull(r, i, col))
			store_prune_key_add(keys, PQgetvalue(r, i, col));
	if (keys && col == 0 && PQnfields(r) > 1) /* (a report's records, summed) */
		for (int i = 0; i < rows; i++)
			keys->records += strtoull(PQgetvalue(r, i, 1), NULL, 10);
	if (how == PC_SUM && rows > 0)
		*n += strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	else if (how == PC_CHANGED)
		*n += strtoull(PQcmdTuples(r), NULL, 10);
	else if (how == PC_ROWS)
		*n += (uint64_t)rows;
	PQclear(r);
	return 0;
}

static int
pg_prune(struct store *st, int64_t account, int64_t cutoff, unsigned limit, int dry_run,
         struct store_prune *res)
{
	struct pg *p = st->impl;
	int rc = batch_commit(p); /* ingest's open batch first */
	if (rc)
		return rc;
	p->err[0] = '\0';
	p->broken = 0;
	if (!p->prune_indexed) {
		if ((rc = ex(p, pg_prune_index_sql, "prune: indexes")) != 0) {
			p->broken = 0;
			return rc;
		}
		p->prune_indexed = 1;
	}
	uint64_t unused = 0;
	if (dry_run) {
		rc = pg_prune_q(p, "SELECT count(*), COALESCE(sum(records), 0) FROM reports WHERE "
		                PG_PRUNE_AGG, 2, account, cutoff, 0, NULL, 0, PC_SUM, &res->reports);
		if (rc == 0)
			rc = pg_prune_q(p, "SELECT COALESCE(sum(records), 0) FROM reports WHERE "
			                PG_PRUNE_AGG, 2, account, cutoff, 0, NULL, 0, PC_SUM,
			                &res->records);
		static const char *const counts[] = {
		        "SELECT count(*) FROM daily WHERE " PG_PRUNE_DAY,
		        "SELECT count(*) FROM day_totals WHERE " PG_PRUNE_DAY,
		        "SELECT count(*) FROM src_day WHERE " PG_PRUNE_DAY,
		};
		for (size_t i = 0; rc == 0 && i < 3; i++)
			rc = pg_prune_q(p, counts[i], 2, account, cutoff, 0, NULL, 0, PC_SUM,
			                &res->rollups);
		if (rc == 0)
			rc = pg_prune_q(p, "SELECT count(*) FROM tls_reports WHERE " PG_PRUNE_DAY, 2,
			                account, cutoff, 0, NULL, 0, PC_SUM, &res->tls_reports);
		if (rc == 0)
			rc = pg_prune_q(p, "SELECT count(*) FROM failures WHERE " PG_PRUNE_DAY, 2,
			                account, cutoff, 0, NULL, 0, PC_SUM, &res->failures);
		if (rc == 0)
			rc = pg_prune_q(
			        p,
			        "SELECT DISTINCT k FROM (SELECT archive_key AS k FROM reports WHERE "
			        PG_PRUNE_AGG " UNION ALL SELECT archive_key FROM tls_reports WHERE "
			        PG_PRUNE_DAY " UNION ALL SELECT archive_key FROM failures WHERE "
			        PG_PRUNE_DAY ") g WHERE k IS NOT NULL"
			        " AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.archive_key = g.k"
			        "  AND NOT (r.account_id = $1::bigint AND r.date_end < $2::bigint))"
			        " AND NOT EXISTS (SELECT 1 FROM tls_reports r WHERE r.archive_key = g.k"
			        "  AND NOT (r.account_id = $1::bigint AND r.day < $2::bigint))"
			        " AND NOT EXISTS (SELECT 1 FROM failures r WHERE r.archive_key = g.k"
			        "  AND NOT (r.account_id = $1::bigint AND r.day < $2::bigint))",
			        2, account, cutoff, 0, res, 0, PC_ROWS, &unused);
		p->broken = 0;
		return rc;
	}
	if ((rc = ex(p, "BEGIN", "prune")) != 0) {
		p->broken = 0;
		return rc;
	}
	uint64_t n = 0;
	/* aggregate reports with their records (records_report_n) */
	rc = pg_prune_q(p,
	                "WITH d AS (SELECT id FROM reports WHERE " PG_PRUNE_AGG
	                " LIMIT $3::bigint),"
	                " r AS (DELETE FROM records WHERE report IN (SELECT id FROM d)),"
	                " x AS (DELETE FROM reports WHERE id IN (SELECT id FROM d)"
	                " RETURNING archive_key, records)"
	                " SELECT archive_key, records FROM x",
	                3, account, cutoff, limit, res, 0, PC_ROWS, &n);
	res->reports += n;
	if (rc == 0 && n == 0) {
		rc = pg_prune_q(p,
		                "WITH d AS (SELECT id FROM tls_reports WHERE " PG_PRUNE_DAY
		                " ORDER BY id LIMIT $3::bigint),"
		                " a AS (DELETE FROM tls_policies WHERE report IN (SELECT id FROM d)),"
		                " b AS (DELETE FROM tls_failures WHERE report IN (SELECT id FROM d))"
		                " DELETE FROM tls_reports WHERE id IN (SELECT id FROM d)"
		                " RETURNING archive_key",
		                3, account, cutoff, limit, res, 0, PC_ROWS, &n);
		res->tls_reports += n;
	}
	if (rc == 0 && n == 0) {
		rc = pg_prune_q(p,
		                "DELETE FROM failures WHERE id IN (SELECT id FROM failures WHERE "
		                PG_PRUNE_DAY " LIMIT $3::bigint) RETURNING archive_key",
		                3, account, cutoff, limit, res, 0, PC_ROWS, &n);
		res->failures += n;
	}
	static const char *const rollups[] = {
	        "DELETE FROM daily WHERE ctid IN (SELECT ctid FROM daily WHERE " PG_PRUNE_DAY
	        " LIMIT $3::bigint)",
	        "DELETE FROM day_totals WHERE ctid IN (SELECT ctid FROM day_totals WHERE "
	        PG_PRUNE_DAY " LIMIT $3::bigint)",
	        "DELETE FROM src_day WHERE ctid IN (SELECT ctid FROM src_day WHERE " PG_PRUNE_DAY
	        " LIMIT $3::bigint)",
	};
	for (size_t i = 0; rc == 0 && n == 0 && i < 3; i++) {
		rc = pg_prune_q(p, rollups[i], 3, account, cutoff, DM_PRUNE_BATCH_ROWS, NULL, 0,
		                PC_CHANGED, &n);
		res->rollups += n;
	}
	if (rc == 0)
		rc = ex(p, "COMMIT", "prune");
	if (rc) {
		PQclear(PQexec(p->c, "ROLLBACK"));
		p->broken = 0;
		return rc;
	}
	res->more = n > 0;
	return 0;
}

static int
pg_key_refs(struct store *st, const char *const *keys, size_t n, unsigned char *used)
{
	struct pg *p = st->impl;
	p->err[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *v[1] = {keys[i]};
		PGresult *r = PQexecParams(
		        p->c,
		        "SELECT EXISTS(SELECT 1 FROM reports WHERE archive_key = $1)"
		        " OR EXISTS(SELECT 1 FROM tls_reports WHERE archive_key = $1)"
		        " OR EXISTS(SELECT 1 FROM failures WHERE archive_key = $1)",
		        1, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			int rc = fail(p, r, "prune: archive keys");
			p->broken = 0;
			return rc;
		}
		used[i] = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
		PQclear(r);
	}
	return 0;
}

static const char *
pg_errmsg(struct store *st)
{
	struct pg *p = st->impl;
	return p ? p->err : "";
}

/* COMMIT returned: durable (synchronous_commit on). */
static int
pg_sync(struct store *st)
{
	return pg_flush(st);
}

const struct store_ops store_pg_ops = {
        .name = "postgres",
        .open = pg_open,
        .close = pg_close,
        .tx_begin = pg_tx_begin,
        .record_add = pg_record_add,
        .tx_commit = pg_tx_commit,
        .tx_abort = pg_tx_abort,
        .flush = pg_flush,
        .sync = pg_sync,
        .batch = pg_batch,
        .durable = pg_durable,
        .failed = pg_failed,
        .lookup = NULL, /* a round trip per report: the claim decides alone */
        .stats = pg_stats,
        .reenrich = pg_reenrich,
        .tls_put = pg_tls_put,
        .failure_put = pg_failure_put,
        .prune = pg_prune,
        .key_refs = pg_key_refs,
        .errmsg = pg_errmsg,
};
