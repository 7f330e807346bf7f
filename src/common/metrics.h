/*
 * metrics.h - the process's counters, for GET /metrics (Prometheus text).
 *
 * One process-wide table of counters (a named global, as the log level
 * is: STYLE.md habit 10), bumped with relaxed atomics from any thread:
 * the SMTP loop, the spool workers, the HTTP threads.  Gauges that are
 * cheaper to read than to keep (the spool depth) are read when scraped.
 */
#ifndef DM_METRICS_H
#define DM_METRICS_H

#include <stdint.h>

#include "common/buf.h"

enum dm_metric {
	DM_M_SMTP_SESSIONS,      /* sessions accepted, in all */
	DM_M_SMTP_OPEN,          /* sessions open now (gauge) */
	DM_M_SMTP_ACCEPTED,      /* messages answered 250 */
	DM_M_SMTP_REFUSED_SIZE,  /* messages refused: over the size limit */
	DM_M_SMTP_REFUSED_LINE,  /* a line too long */
	DM_M_SMTP_REFUSED_SPOOL, /* 451: the spool could not keep it */
	DM_M_SMTP_REFUSED_RCPT,  /* recipients refused: not served (550) */
	DM_M_SMTP_REFUSED_CONN,  /* connections refused by a session limit */
	DM_M_REPORTS_STORED,
	DM_M_REPORTS_DUPLICATE,
	DM_M_REPORTS_EMPTY,        /* inputs without a report */
	DM_M_REPORTS_IGNORED,      /* feedback reports other than auth-failure */
	DM_M_REJECTED_MALFORMED,   /* not well-formed XML, bad gzip/zip/MIME */
	DM_M_REJECTED_NOT_REPORT,  /* a file that is not a report */
	DM_M_REJECTED_LIMIT,       /* over a limit of limits.h */
	DM_M_REJECTED_UNSUPPORTED, /* a kind of report dmarcd does not read */
	DM_M_REJECTED_STORE,       /* our side: store or archive failed */
	DM_M_REJECTED_OTHER,
	DM_M_RECORDS_STORED,
	DM_M_COUNT
};

/* Processing latency buckets (seconds from the 250 to stored). */
#define DM_METRICS_LATENCY_BUCKETS 10

void dm_metric_add(enum dm_metric m, int64_t n);
/* A message processed t seconds after it was accepted. */
void dm_metric_latency(double seconds);
/* An HTTP answer with this status. */
void dm_metric_http(int status);
/* The rejection reason of an ingest error text (one of the REJECTED_*). */
enum dm_metric dm_metric_reject_reason(const char *kind, const char *error);
/* Every counter as Prometheus text into out. */
void dm_metrics_write(struct dm_buf *out);

#endif
