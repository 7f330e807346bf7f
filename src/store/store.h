/*
 * store.h - where analytics rows go: the one interface callers see.
 *
 * A backend is a table of functions chosen by name ("sqlite" today;
 * "postgres", "clickhouse" later).  One report is written in one
 * transaction: store_tx_begin(), store_record_add() per record,
 * store_tx_commit() with the final metadata (which decides stored or
 * duplicate) or store_tx_abort() (nothing of the report remains).
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

struct store_domain_stats {
	const char *domain;
	uint64_t reports, records, messages;
	uint64_t dmarc_pass, dmarc_fail; /* messages */
};

struct store_stats {
	uint64_t reports, records, messages;
	uint64_t dmarc_pass, dmarc_fail;
};

struct store;

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
	int (*lookup)(struct store *st, struct dm_report *rep, int *exists);
	int (*stats)(struct store *st, const char *domain, struct store_stats *total,
		     int (*per_domain)(void *arg, const struct store_domain_stats *d),
		     void *arg);
	/* error text of the last failure; read by store.c under the lock,
	 * right after the failing call */
	const char *(*errmsg)(struct store *st);
};

struct store {
	const struct store_ops *ops;
	void *impl;
	pthread_mutex_t lock; /* held from store_tx_begin to commit/abort */
};

/* Open the named backend over data_dir (creating the schema). */
struct store *store_open(const char *backend, const char *data_dir, char *err, size_t errlen);
void store_close(struct store *st);

/* account_id: the account the report is stored for (0: none/unclaimed);
 * it must be known before the first record so the rollup is right. */
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
 * begin, end) already stored? */
int store_lookup(struct store *st, struct dm_report *rep, int *exists, char *err,
		 size_t errlen) DM_WUR;
int store_stats(struct store *st, const char *domain, struct store_stats *total,
		int (*per_domain)(void *arg, const struct store_domain_stats *d), void *arg,
		char *err, size_t errlen) DM_WUR;

/* Backends. */
extern const struct store_ops store_sqlite_ops;

#endif
