/*
 * metrics.c - the counters behind GET /metrics.
 *
 * Functions: dm_metric_add, dm_metric_latency, dm_metric_http,
 * dm_metric_reject_reason, dm_metrics_write.  Logs nothing.
 */
#include "metrics.h"

#include <string.h>

static int64_t counters[DM_M_COUNT];
static const double latency_le[DM_METRICS_LATENCY_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1,
                                                              2.5,  5,   10,   30,  60};
static uint64_t latency_count[DM_METRICS_LATENCY_BUCKETS + 1];
static uint64_t latency_n;
static uint64_t latency_sum_ms;
static uint64_t http_status[600];

void
dm_metric_add(enum dm_metric m, int64_t n)
{
	__atomic_add_fetch(&counters[m], n, __ATOMIC_RELAXED);
}

void
dm_metric_latency(double seconds)
{
	int i = 0;
	while (i < DM_METRICS_LATENCY_BUCKETS && seconds > latency_le[i])
		i++;
	__atomic_add_fetch(&latency_count[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&latency_n, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&latency_sum_ms, (uint64_t)(seconds > 0 ? seconds * 1000 : 0),
	                   __ATOMIC_RELAXED);
}

void
dm_metric_http(int status)
{
	if (status >= 100 && status < 600)
		__atomic_add_fetch(&http_status[status], 1, __ATOMIC_RELAXED);
}

enum dm_metric
dm_metric_reject_reason(const char *kind, const char *error)
{
	if (error == NULL)
		return DM_M_REJECTED_OTHER;
	if (strstr(error, "not supported yet"))
		return DM_M_REJECTED_UNSUPPORTED;
	if (strncmp(error, "store error", 11) == 0 || strncmp(error, "archive error", 13) == 0 ||
	    strncmp(error, "not stored", 10) == 0)
		return DM_M_REJECTED_STORE;
	if (strncmp(error, "not a report", 12) == 0 || strstr(error, "root element"))
		return DM_M_REJECTED_NOT_REPORT;
	if (strstr(error, "larger than") || strstr(error, "too many") ||
	    strstr(error, "more than") || strstr(error, "deeper than") ||
	    strstr(error, "too long") || strstr(error, "limit"))
		return DM_M_REJECTED_LIMIT;
	if (kind != NULL && strcmp(kind, "aggregate") == 0)
		return DM_M_REJECTED_MALFORMED;
	if (strstr(error, "gzip") || strstr(error, "zip") || strstr(error, "XML") ||
	    strstr(error, "truncated") || strstr(error, "message") || strstr(error, "MIME"))
		return DM_M_REJECTED_MALFORMED;
	return DM_M_REJECTED_OTHER;
}

static int64_t
get(enum dm_metric m)
{
	return __atomic_load_n(&counters[m], __ATOMIC_RELAXED);
}

void
dm_metrics_write(struct dm_buf *out)
{
	static const struct {
		enum dm_metric m;
		const char *reason;
	} refused[] = {{DM_M_SMTP_REFUSED_SIZE, "size"},
	               {DM_M_SMTP_REFUSED_LINE, "line"},
	               {DM_M_SMTP_REFUSED_SPOOL, "spool"},
	               {DM_M_SMTP_REFUSED_RCPT, "recipient"},
	               {DM_M_SMTP_REFUSED_CONN, "connection_limit"}},
	  rejected[] = {{DM_M_REJECTED_MALFORMED, "malformed"},
	                {DM_M_REJECTED_NOT_REPORT, "not_a_report"},
	                {DM_M_REJECTED_LIMIT, "limit"},
	                {DM_M_REJECTED_UNSUPPORTED, "unsupported"},
	                {DM_M_REJECTED_STORE, "store"},
	                {DM_M_REJECTED_OTHER, "other"}};
	int rc = 0;
#define P(...) (rc |= dm_buf_printf(out, __VA_ARGS__))
	P("# HELP dmarcd_smtp_sessions_total SMTP and LMTP sessions accepted.\n"
	  "# TYPE dmarcd_smtp_sessions_total counter\ndmarcd_smtp_sessions_total %lld\n",
	  (long long)get(DM_M_SMTP_SESSIONS));
	P("# HELP dmarcd_smtp_sessions_open SMTP and LMTP sessions open now.\n"
	  "# TYPE dmarcd_smtp_sessions_open gauge\ndmarcd_smtp_sessions_open %lld\n",
	  (long long)get(DM_M_SMTP_OPEN));
	P("# HELP dmarcd_smtp_messages_accepted_total Messages answered 250 (durable in the "
	  "spool).\n# TYPE dmarcd_smtp_messages_accepted_total counter\n"
	  "dmarcd_smtp_messages_accepted_total %lld\n",
	  (long long)get(DM_M_SMTP_ACCEPTED));
	P("# HELP dmarcd_smtp_refused_total Messages, recipients and connections refused, by "
	  "reason.\n# TYPE dmarcd_smtp_refused_total counter\n");
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		P("dmarcd_smtp_refused_total{reason=\"%s\"} %lld\n", refused[i].reason,
		  (long long)get(refused[i].m));
	P("# HELP dmarcd_reports_total Reports processed, by outcome (rejected by reason).\n"
	  "# TYPE dmarcd_reports_total counter\n"
	  "dmarcd_reports_total{status=\"stored\"} %lld\n"
	  "dmarcd_reports_total{status=\"duplicate\"} %lld\n"
	  "dmarcd_reports_total{status=\"empty\"} %lld\n"
	  "dmarcd_reports_total{status=\"ignored\"} %lld\n",
	  (long long)get(DM_M_REPORTS_STORED), (long long)get(DM_M_REPORTS_DUPLICATE),
	  (long long)get(DM_M_REPORTS_EMPTY), (long long)get(DM_M_REPORTS_IGNORED));
	for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++)
		P("dmarcd_reports_total{status=\"rejected\",reason=\"%s\"} %lld\n",
		  rejected[i].reason, (long long)get(rejected[i].m));
	P("# HELP dmarcd_records_stored_total Records of stored reports.\n"
	  "# TYPE dmarcd_records_stored_total counter\ndmarcd_records_stored_total %lld\n",
	  (long long)get(DM_M_RECORDS_STORED));
	P("# HELP dmarcd_processing_seconds From the 250 to the reports being durable in the "
	  "store.\n# TYPE dmarcd_processing_seconds histogram\n");
	uint64_t cum = 0;
	for (int i = 0; i < DM_METRICS_LATENCY_BUCKETS; i++) {
		cum += __atomic_load_n(&latency_count[i], __ATOMIC_RELAXED);
		P("dmarcd_processing_seconds_bucket{le=\"%g\"} %llu\n", latency_le[i],
		  (unsigned long long)cum);
	}
	cum += __atomic_load_n(&latency_count[DM_METRICS_LATENCY_BUCKETS], __ATOMIC_RELAXED);
	P("dmarcd_processing_seconds_bucket{le=\"+Inf\"} %llu\n"
	  "dmarcd_processing_seconds_sum %.3f\ndmarcd_processing_seconds_count %llu\n",
	  (unsigned long long)cum,
	  (double)__atomic_load_n(&latency_sum_ms, __ATOMIC_RELAXED) / 1000.0,
	  (unsigned long long)__atomic_load_n(&latency_n, __ATOMIC_RELAXED));
	P("# HELP dmarcd_http_requests_total HTTP requests answered, by status.\n"
	  "# TYPE dmarcd_http_requests_total counter\n");
	for (int s = 100; s < 600; s++) {
		uint64_t n = __atomic_load_n(&http_status[s], __ATOMIC_RELAXED);
		if (n)
			P("dmarcd_http_requests_total{status=\"%d\"} %llu\n", s,
			  (unsigned long long)n);
	}
#undef P
	(void)rc; /* a cut-short scrape is still a scrape */
}
