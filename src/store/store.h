/*
 * store.h - where analytics rows go: the one interface callers see.
 *
 * A backend is a table of functions chosen by the `store` setting:
 * "sqlite" (store_sqlite.c, store_sqlite_read.c) or a postgres:// URL
 * (store_pg.c, store_pg_read.c).  One report is written in one
 * transaction: store_tx_begin(), store_record_add() per record,
 * store_tx_commit() with the final metadata (stored, or duplicate when
 * the claim found the identity taken) or store_tx_abort() (nothing of
 * the report remains).
 *
 * Backends may group several reports into one commit (store_flush()).
 *
 * A store is shared by the ingest workers: a transaction holds the
 * store's lock from begin to commit/abort, so records of two reports
 * never mix.  store_lookup() may be called with or without the lock.
 *
 * A call that fails writes why into the caller's err (errlen bytes; err
 * may be NULL) before it lets go of the lock, so the reason a thread logs
 * is its own, never another worker's.
 */
#ifndef DM_STORE_H
#define DM_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/report.h"

/* What the pipeline knows about a report beyond its XML. */
struct store_report_info {
	const char *archive_key;
	const char *content_hash; /* SHA-256 hex of the archived attachment */
	const char *source;	  /* input name, for the operator */
	int64_t received_at;
};

enum store_outcome { STORE_STORED, STORE_DUPLICATE };

/* A TLS report's policies and failure details, pulled by the store
 * (store_tls_put below). */
struct dm_failure_report;
struct dm_tls_report;
struct dm_tls_policy;
struct dm_tls_failure;

/* What next() hands over: exactly one of pol or fail is set. */
struct store_tls_item {
	const struct dm_tls_policy *pol;
	const struct dm_tls_failure *fail;
};
/* 1 and *it filled, 0 at the end, or a negative code (the store aborts
 * the report and returns it). */
typedef int (*store_tls_next_fn)(void *arg, struct store_tls_item *it);

/* A failure report as stored (store_failures, store_failure): strings
 * NULL when absent; headers and warnings_json in the detail only. */
struct store_failure_row {
	int64_t id, account_id;
	const char *reported_domain, *feedback_type, *auth_failure, *delivery_result;
	const char *source_ip; /* canonical text, NULL when none */
	const char *original_mail_from, *original_rcpt_to, *reporting_mta, *user_agent;
	const char *identity_alignment, *dkim_domain, *dkim_selector, *spf_dns;
	const char *subject, *header_from, *header_from_domain, *message_id;
	const char *authentication_results;
	int64_t arrival_date, date, received_at; /* 0: unknown (date, arrival) */
	int is_arf;
	/* the detail only */
	const char *headers, *archive_key, *warnings_json, *version, *dkim_identity, *to;
	int64_t incidents;
};

/* TLS report reads (store_tls_domains ... store_tls_report below). */
struct store_tls_domain_row {
	const char *domain;
	uint64_t reports, success, failure;
	int64_t first_day, last_day;
};
struct store_tls_day_row {
	int64_t day;
	uint64_t success, failure;
};
/* Failed sessions of f's domain summed by result type and receiving MX
 * (hostname; "" when the report gave none), most first. */
struct store_tls_failure_group {
	const char *result_type, *mx;
	uint64_t sessions;
};
struct store_tls_report_row {
	int64_t id, account_id;
	const char *org_name, *contact_info, *report_id, *policy_domain;
	int64_t begin, end, received_at;
	uint64_t policies, failure_details, success, failure;
	/* the detail only (NULL in lists) */
	const char *archive_key, *warnings_json;
};
struct store_tls_policy_row {
	unsigned idx;
	const char *type, *domain, *mx_host, *policy_string;
	uint64_t success, failure;
};
struct store_tls_failure_row {
	unsigned policy;
	const char *result_type, *sending_ip, *receiving_mx_hostname, *receiving_mx_helo,
		*receiving_ip, *additional_info, *failure_reason_code;
	uint64_t sessions;
};


struct store_domain_stats {
	const char *domain;
	uint64_t reports, records, messages;
	uint64_t dmarc_pass, dmarc_fail; /* messages */
};

struct store_stats {
	uint64_t reports, records, messages;
	uint64_t dmarc_pass, dmarc_fail;
};

/* ---- reads (the API's query layer) ------------------------------------------
 *
 * Every read takes the caller's scope first: no query runs without one.
 * An account scope sees the reports stored for that account; the admin
 * scope sees every account's and the unclaimed ones (account 0).  Reads
 * run on a struct store_reader, a connection of their own (one thread at
 * a time), so they never wait behind ingestion.  Rows go to callbacks as
 * they are read (bounded memory whatever the result size); strings in a
 * row are valid during the callback only.  A callback returning non-zero
 * stops the read, which then returns that value.  Days are Unix seconds
 * of 00:00 UTC; STORE_OPEN is an open end of a range. */

struct store;

struct store_scope {
	int64_t account; /* the account whose data is visible */
	int admin;       /* 1: every account's data and the unclaimed */
};

#define STORE_OPEN INT64_MIN

struct store_filter {
	const char *domain;   /* policy domain; NULL: every domain in scope */
	int64_t from, to;     /* first and last day, inclusive; STORE_OPEN */
	const char *reporter; /* NULL: any (reporter as in store_reporter_row) */
};

struct store_counts {
	uint64_t messages, dmarc_pass, dmarc_fail, spf_aligned, dkim_aligned;
	uint64_t none, quarantine, reject;
};

struct store_domain_row {
	const char *domain;
	uint64_t reports;
	struct store_counts c;
	int64_t first_day, last_day;
};

struct store_day_row {
	int64_t day;
	struct store_counts c;
};

enum store_source_sort {
	STORE_SORT_MESSAGES,
	STORE_SORT_FAIL,
	STORE_SORT_PASS,
	STORE_SORT_IP
};

/* Lists in a source row hold at most this many values. */
#define STORE_SOURCE_LIST 20

/* Who a source is, as last stored in the ips table (src/enrich/): the
 * strings are NULL when unknown, and live until the reader's next call. */
struct store_ip_info {
	int known;     /* the source has an ips row */
	int ptr_state; /* enum dm_ptr_state */
	const char *ptr, *base_domain, *as_org, *country, *service, *service_type;
	uint32_t asn; /* 0: unknown */
};

struct store_source_row {
	unsigned char ip[16];
	struct store_counts c;
	struct store_ip_info info;
	const char *header_from[STORE_SOURCE_LIST];
	size_t nheader_from;
	const char *reporters[STORE_SOURCE_LIST];
	size_t nreporters;
};

/* One named part of a source's detail: a reporter, a header_from domain,
 * a DKIM result (name = domain, sub = selector) or an SPF result (name =
 * domain, sub = scope). */
enum store_part_kind { STORE_PART_REPORTER, STORE_PART_HEADER_FROM, STORE_PART_DKIM,
		       STORE_PART_SPF };

struct store_part_row {
	enum store_part_kind kind;
	const char *name, *sub, *result;
	uint64_t messages;
};

struct store_reporter_row {
	const char *reporter; /* lower-cased org_name (or email domain) */
	uint64_t reports;
	struct store_counts c;
};

struct store_report_row {
	int64_t id;
	int64_t account_id;
	const char *org_name, *email, *extra_contact_info, *report_id, *policy_domain;
	int64_t begin, end, received_at;
	uint64_t records, messages;
	/* the detail only (NULL in lists) */
	const char *generator, *version, *schema, *xmlns, *report_error, *archive_key;
	const char *warnings_json; /* a JSON array of strings */
	struct dm_policy_published policy;
};

struct store_reader;

/* Domain names gathered by store_domains with store_names_add as its
 * callback (copies); store_names_free frees them. */
struct store_names {
	char **v;
	size_t n;
};
int store_names_add(void *arg, const struct store_domain_row *r);
void store_names_free(struct store_names *names);

/* Domains with data in scope, by name. */
int store_domains(const struct store_scope *sc, struct store_reader *rd,
		  int (*fn)(void *arg, const struct store_domain_row *r), void *arg) DM_WUR;
/* Totals of f (f->domain required; DM_ENOTFOUND when the domain has no
 * data in scope); *reports counts the reports whose range meets f's. */
int store_summary(const struct store_scope *sc, struct store_reader *rd,
		  const struct store_filter *f, uint64_t *reports, struct store_counts *out) DM_WUR;
/* One row per day with data, oldest first (f->domain required). */
int store_timeseries(const struct store_scope *sc, struct store_reader *rd,
		     const struct store_filter *f,
		     int (*fn)(void *arg, const struct store_day_row *r), void *arg) DM_WUR;
/* A page of sources (f->domain required); *total is the number of
 * distinct sources, known before the first row. */
int store_sources(const struct store_scope *sc, struct store_reader *rd,
		  const struct store_filter *f, enum store_source_sort sort, unsigned limit,
		  unsigned offset, uint64_t *total,
		  int (*fn)(void *arg, const struct store_source_row *r), void *arg) DM_WUR;
/* One source's totals, its days, and its parts (reporters, header_from,
 * DKIM and SPF results).  *total is filled before the first callback.
 * DM_ENOTFOUND when it has no data in scope. */
int store_source(const struct store_scope *sc, struct store_reader *rd,
		 const struct store_filter *f, const unsigned char ip[16], struct store_counts *total,
		 int (*day_fn)(void *arg, const struct store_day_row *r),
		 int (*part_fn)(void *arg, const struct store_part_row *r), void *arg) DM_WUR;
/* Reporters of f's domain, most messages first. */
int store_reporters(const struct store_scope *sc, struct store_reader *rd,
		    const struct store_filter *f,
		    int (*fn)(void *arg, const struct store_reporter_row *r), void *arg) DM_WUR;
/* A page of reports, newest first; *total known before the first row. */
int store_reports(const struct store_scope *sc, struct store_reader *rd,
		  const struct store_filter *f, unsigned limit, unsigned offset, uint64_t *total,
		  int (*fn)(void *arg, const struct store_report_row *r), void *arg) DM_WUR;
/* One report: its row (with the detail), then every record.
 * DM_ENOTFOUND when there is no such report in scope. */
int store_report(const struct store_scope *sc, struct store_reader *rd, int64_t id,
		 int (*meta_fn)(void *arg, const struct store_report_row *r),
		 int (*rec_fn)(void *arg, const struct store_report_row *r,
			       const struct dm_record *rec),
		 void *arg) DM_WUR;
/* Every record of the reports matching f (f->domain may be NULL), with
 * its report, in report order. */
int store_export(const struct store_scope *sc, struct store_reader *rd,
		 const struct store_filter *f,
		 int (*fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
		 void *arg) DM_WUR;

/* What the ips table says of ip (info->known = 0 when nothing).  Not
 * scoped: who an address is belongs to no account; callers ask only for
 * sources their scope has shown. */
int store_ip_info(struct store_reader *rd, const unsigned char ip[16],
		  struct store_ip_info *info) DM_WUR;

/* Open and close a reader; errors go to the reader's own message. */
struct store_reader *store_reader_open(struct store *st, char *err, size_t errlen);
void store_reader_close(struct store_reader *rd);
/* Why the reader's last call failed. */
const char *store_reader_error(const struct store_reader *rd);
/* Does the store answer (for /healthz)? */
int store_reader_ping(struct store_reader *rd) DM_WUR;

struct store;
struct store_prune;

struct store_read_ops;

struct store_ops {
	const char *name;
	int (*open)(struct store *st, const char *data_dir, char *err, size_t errlen);
	void (*close)(struct store *st);
	int (*tx_begin)(struct store *st, int64_t account_id);
	int (*record_add)(struct store *st, const struct dm_report *rep,
			  const struct dm_record *rec);
	int (*tx_commit)(struct store *st, struct dm_report *rep,
			 const struct store_report_info *info, enum store_outcome *out);
	void (*tx_abort)(struct store *st);
	int (*flush)(struct store *st);
	/* flush, and make it durable against power loss */
	int (*sync)(struct store *st);
	/* the batch the open transaction belongs to (1, 2, ...) */
	uint64_t (*batch)(struct store *st);
	/* every batch up to this one is committed */
	uint64_t (*durable)(struct store *st);
	/* the newest batch whose commit failed (0: none) */
	uint64_t (*failed)(struct store *st);
	/* may be NULL: see store_lookup */
	int (*lookup)(struct store *st, struct dm_report *rep, int *exists);
	int (*stats)(struct store *st, const char *domain, struct store_stats *total,
		     int (*per_domain)(void *arg, const struct store_domain_stats *d),
		     void *arg);
	/* dmarcd reenrich: the enrichment of n sources written again (ips,
	 * and their records of domain, NULL any, that end at since or later) */
	int (*reenrich)(struct store *st, const char *domain, int64_t since,
			const struct dm_record *src, size_t n);
	/* a failure report (store_failure_put) */
	int (*failure_put)(struct store *st, int64_t account_id, const struct dm_failure_report *r,
			   const char *headers, const struct store_report_info *info,
			   enum store_outcome *out);
	/* a whole TLS report (store_tls_put) */
	int (*tls_put)(struct store *st, int64_t account_id, struct dm_tls_report *rep,
		       const struct store_report_info *info, store_tls_next_fn next, void *arg,
		       enum store_outcome *out);
	/* dmarcd prune: one batch (store_prune) */
	int (*prune)(struct store *st, int64_t account, int64_t cutoff, unsigned limit,
		     int dry_run, struct store_prune *res);
	/* which of keys some stored report still references (store_key_refs) */
	int (*key_refs)(struct store *st, const char *const *keys, size_t n,
			unsigned char *used);
	/* error text of the last failure; read by store.c under the lock,
	 * right after the failing call */
	const char *(*errmsg)(struct store *st);
};

/* A backend's reads: a reader is opened per thread; every query gets the
 * scope (validated by store.c) and the reader's own state. */
struct store_read_ops {
	void *(*open)(struct store *st, char *err, size_t errlen);
	void (*close)(void *impl);
	const char *(*error)(void *impl);
	int (*ping)(void *impl);
	int (*domains)(void *impl, const struct store_scope *sc,
		       int (*fn)(void *arg, const struct store_domain_row *r), void *arg);
	int (*summary)(void *impl, const struct store_scope *sc, const struct store_filter *f,
		       uint64_t *reports, struct store_counts *out);
	int (*timeseries)(void *impl, const struct store_scope *sc, const struct store_filter *f,
			  int (*fn)(void *arg, const struct store_day_row *r), void *arg);
	int (*sources)(void *impl, const struct store_scope *sc, const struct store_filter *f,
		       enum store_source_sort sort, unsigned limit, unsigned offset,
		       uint64_t *total, int (*fn)(void *arg, const struct store_source_row *r),
		       void *arg);
	int (*source)(void *impl, const struct store_scope *sc, const struct store_filter *f,
		      const unsigned char ip[16], struct store_counts *total,
		      int (*day_fn)(void *arg, const struct store_day_row *r),
		      int (*part_fn)(void *arg, const struct store_part_row *r), void *arg);
	int (*ip_info)(void *impl, const unsigned char ip[16], struct store_ip_info *info);
	int (*reporters)(void *impl, const struct store_scope *sc, const struct store_filter *f,
			 int (*fn)(void *arg, const struct store_reporter_row *r), void *arg);
	int (*reports)(void *impl, const struct store_scope *sc, const struct store_filter *f,
		       unsigned limit, unsigned offset, uint64_t *total,
		       int (*fn)(void *arg, const struct store_report_row *r), void *arg);
	int (*report)(void *impl, const struct store_scope *sc, int64_t id,
		      int (*meta_fn)(void *arg, const struct store_report_row *r),
		      int (*rec_fn)(void *arg, const struct store_report_row *r,
				    const struct dm_record *rec),
		      void *arg);
	int (*export)(void *impl, const struct store_scope *sc, const struct store_filter *f,
		      int (*fn)(void *arg, const struct store_report_row *r,
				const struct dm_record *rec),
		      void *arg);
	int (*tls_domains)(void *impl, const struct store_scope *sc,
			   int (*fn)(void *arg, const struct store_tls_domain_row *r), void *arg);
	int (*tls_days)(void *impl, const struct store_scope *sc, const struct store_filter *f,
			int (*fn)(void *arg, const struct store_tls_day_row *r), void *arg);
	int (*tls_failures)(void *impl, const struct store_scope *sc,
			    const struct store_filter *f, unsigned limit,
			    int (*fn)(void *arg, const struct store_tls_failure_group *r),
			    void *arg);
	int (*tls_reports)(void *impl, const struct store_scope *sc, const struct store_filter *f,
			   unsigned limit, unsigned offset, uint64_t *total,
			   int (*fn)(void *arg, const struct store_tls_report_row *r), void *arg);
	int (*tls_report)(void *impl, const struct store_scope *sc, int64_t id,
			  int (*meta_fn)(void *arg, const struct store_tls_report_row *r),
			  int (*pol_fn)(void *arg, const struct store_tls_policy_row *r),
			  int (*fail_fn)(void *arg, const struct store_tls_failure_row *r),
			  void *arg);
	int (*failures)(void *impl, const struct store_scope *sc, const struct store_filter *f,
			const unsigned char *ip, unsigned limit, unsigned offset, uint64_t *total,
			int (*fn)(void *arg, const struct store_failure_row *r), void *arg);
	int (*failure)(void *impl, const struct store_scope *sc, int64_t id,
		       int (*fn)(void *arg, const struct store_failure_row *r), void *arg);
};

struct store {
	const struct store_ops *ops;
	const struct store_read_ops *read_ops;
	void *impl;
	pthread_mutex_t lock; /* held from store_tx_begin to commit/abort */
};

/* Open the named backend over data_dir (creating the schema). */
/* `dmarcd reenrich`: n sources (each src[i]: ip, ip_family and enr set)
 * with their enrichment recomputed.  Their ips rows are written (a
 * reverse name that could not be asked now keeps the one known); their
 * records of domain (NULL: every domain) whose reports end at since or
 * later get it too, where the backend can change stored rows (SQLite,
 * PostgreSQL; ClickHouse keeps records as written: docs/ENRICH.md).
 * A service the records had (by a DKIM signature, say) is kept when the
 * new enrichment names none. */
int store_reenrich(struct store *st, const char *domain, int64_t since, const struct dm_record *src,
		   size_t n, char *err, size_t errlen) DM_WUR;

struct store *store_open(const char *backend, const char *data_dir, char *err, size_t errlen);
struct dm_config;
/* Open the store the configuration names: `store = sqlite` (in data_dir)
 * or a postgres:// URL with store_password or store_password_file. */
struct store *store_open_config(const struct dm_config *cfg, char *err, size_t errlen);
void store_close(struct store *st);
/* The password of a postgres:// store: store_password, or the first line
 * of store_password_file (empty when neither is set). */
int store_config_password(const struct dm_config *cfg, char *out, size_t outlen, char *err,
			  size_t errlen) DM_WUR;

/* account_id: the account the report is stored for (0: none/unclaimed);
 * it must be known before the first record so the rollup is right.
 * store_record_add takes records only once rep's identity (reporter,
 * policy domain, report id, begin, end) is known: the backend claims the
 * report by it before its first row, so a duplicate writes nothing
 * (docs/ARCHITECTURE.md, "Counting each report once").  Records that
 * come before the metadata wait in ingest; a record without the identity
 * is refused (DM_EINVAL). */
int store_tx_begin(struct store *st, int64_t account_id, char *err, size_t errlen) DM_WUR;
int store_record_add(struct store *st, const struct dm_report *rep, const struct dm_record *rec,
		     char *err, size_t errlen) DM_WUR;
int store_tx_commit(struct store *st, struct dm_report *rep,
		    const struct store_report_info *info, enum store_outcome *out, char *err,
		    size_t errlen) DM_WUR;
void store_tx_abort(struct store *st);
/* Reports are committed in batches; this makes every report stored so far
 * durable.  Until it returns 0 a crash may lose the latest reports (their
 * inputs must be kept until then). */
int store_flush(struct store *st, char *err, size_t errlen) DM_WUR;
/* store_flush, and durable against power loss, not only a crash of the
 * process (`dmarcd serve` calls it before deleting spool entries). */
int store_sync(struct store *st, char *err, size_t errlen) DM_WUR;
/* The batch the calling thread's last store_tx_commit went into (0 if
 * none), and the newest batch that is committed.  A report is durable once
 * store_durable() >= its batch: `dmarcd ingest` prints "stored" only then. */
uint64_t store_last_batch(void);
uint64_t store_durable(struct store *st);
/* The newest batch whose commit failed (its reports are not stored), 0 if
 * none.  A report of batch b is durable when b <= store_durable() and
 * b > store_failed() (a report of an older batch may have been lost). */
uint64_t store_failed(struct store *st);

/* Is a report with rep's identity (reporter, policy domain, report id,
 * begin, end) already stored?  An early answer that saves storing work;
 * the claim at the report's first record decides in any case, so a
 * backend where asking costs a round trip has no lookup (*exists = 0). */
int store_lookup(struct store *st, struct dm_report *rep, int *exists, char *err,
		 size_t errlen) DM_WUR;
int store_stats(struct store *st, const char *domain, struct store_stats *total,
		int (*per_domain)(void *arg, const struct store_domain_stats *d), void *arg,
		char *err, size_t errlen) DM_WUR;

/* ---- SMTP TLS reports (RFC 8460) ---------------------------------------------
 *
 * A TLS report is stored whole by one call: its row, one row per policy
 * and one per failure detail, pulled from the caller by next() (ingest
 * keeps them, in memory and past a bound in a temporary file, until the
 * report's identity is known).  The identity is (account, reporter =
 * lower-cased organization-name, report-id); a second copy is a
 * duplicate and writes nothing.  Each policy row is counted on the day its
 * report begins (UTC).  Durability is that of store_tx_commit: the report
 * is durable once store_durable() reaches store_last_batch(). */

int store_tls_put(struct store *st, int64_t account_id, struct dm_tls_report *rep,
		  const struct store_report_info *info, store_tls_next_fn next, void *arg,
		  enum store_outcome *out, char *err, size_t errlen) DM_WUR;

/* Policy domains with TLS reports in scope, by name. */
int store_tls_domains(const struct store_scope *sc, struct store_reader *rd,
		      int (*fn)(void *arg, const struct store_tls_domain_row *r), void *arg) DM_WUR;
/* Sessions per day of f's domain (required), oldest first; DM_ENOTFOUND
 * when the domain has no TLS report in scope. */
int store_tls_days(const struct store_scope *sc, struct store_reader *rd,
		   const struct store_filter *f,
		   int (*fn)(void *arg, const struct store_tls_day_row *r), void *arg) DM_WUR;
/* Failure groups of f's domain, at most limit, most sessions first. */
int store_tls_failures(const struct store_scope *sc, struct store_reader *rd,
		       const struct store_filter *f, unsigned limit,
		       int (*fn)(void *arg, const struct store_tls_failure_group *r),
		       void *arg) DM_WUR;
/* A page of TLS reports (f->domain may be NULL), newest first. */
int store_tls_reports(const struct store_scope *sc, struct store_reader *rd,
		      const struct store_filter *f, unsigned limit, unsigned offset,
		      uint64_t *total,
		      int (*fn)(void *arg, const struct store_tls_report_row *r), void *arg) DM_WUR;
/* One TLS report with its policies and failure details (in document
 * order); DM_ENOTFOUND outside the scope. */
int store_tls_report(const struct store_scope *sc, struct store_reader *rd, int64_t id,
		     int (*meta_fn)(void *arg, const struct store_tls_report_row *r),
		     int (*pol_fn)(void *arg, const struct store_tls_policy_row *r),
		     int (*fail_fn)(void *arg, const struct store_tls_failure_row *r),
		     void *arg) DM_WUR;

/* ---- failure reports (ARF, RFC 6591 / RFC 9991) -------------------------------
 *
 * One row per failure report of feedback type auth-failure, with the
 * fields of core/failure.h and the original message's header block as
 * redacted by ingest (never its body).  A report is identified by the
 * SHA-256 of what is kept of it (its feedback-report part and the
 * redacted headers): the same mail again is a duplicate.  Listed per
 * reported domain, by the day it arrived (its Arrival-Date, else when it
 * was received), and per source address. */

struct dm_failure_report;

int store_failure_put(struct store *st, int64_t account_id, const struct dm_failure_report *r,
		      const char *headers, const struct store_report_info *info,
		      enum store_outcome *out, char *err, size_t errlen) DM_WUR;

/* Filter of the failure lists: f's domain (NULL: every domain in scope)
 * and days, and one source address when ip is not NULL. */
int store_failures(const struct store_scope *sc, struct store_reader *rd,
		   const struct store_filter *f, const unsigned char *ip, unsigned limit,
		   unsigned offset, uint64_t *total,
		   int (*fn)(void *arg, const struct store_failure_row *r), void *arg) DM_WUR;
/* One failure report with its headers; DM_ENOTFOUND outside the scope. */
int store_failure(const struct store_scope *sc, struct store_reader *rd, int64_t id,
		  int (*fn)(void *arg, const struct store_failure_row *r), void *arg) DM_WUR;

/* ---- retention (`dmarcd prune`, docs/ARCHITECTURE.md "Retention") -------------
 *
 * For account A (> 0: the unclaimed reports of account 0 are never
 * pruned) and cutoff C (a UTC midnight): its aggregate reports whose
 * date_end < C with their records, its rollup rows (daily, day_totals,
 * src_day) with day < C, its TLS reports (with their policies and
 * failure details) and failure reports with day < C. */
struct store_prune {
	/* removed, or with dry_run what would go */
	uint64_t reports, records, rollups, tls_reports, failures;
	/* archive keys of what this call removed (dry run: of everything
	 * that would go, less those a report that stays references) */
	char **keys;
	size_t nkeys, capkeys;
	int more; /* call again: there is more, or (wait) the server is busy */
	int wait; /* ClickHouse: mutations still running; call again later */
};

/* One batch of A's prune: at most limit reports of one kind (or
 * DM_PRUNE_BATCH_ROWS rollup rows) in one transaction, counts added to
 * *res, the removed reports' archive keys put in res->keys, res->more
 * set while there is more.  The store's lock is held for this one batch
 * only.  dry_run removes nothing and counts everything at once.
 * ClickHouse removes by mutations, whatever limit says (store_ch.c). */
int store_prune(struct store *st, int64_t account, int64_t cutoff, unsigned limit, int dry_run,
		struct store_prune *res, char *err, size_t errlen) DM_WUR;
/* used[i] = 1 when a stored report (aggregate, TLS, failure) of any
 * account references keys[i]: its archive object must stay. */
int store_key_refs(struct store *st, const char *const *keys, size_t n, unsigned char *used,
		   char *err, size_t errlen) DM_WUR;
/* Add key to res->keys (a copy); empty them. */
void store_prune_key_add(struct store_prune *res, const char *key);
void store_prune_keys_clear(struct store_prune *res);

/* Backends. */
extern const struct store_ops store_sqlite_ops;
extern const struct store_read_ops store_sqlite_read_ops;

#endif
