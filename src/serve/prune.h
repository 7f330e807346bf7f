/*
 * prune.h - retention: what an account keeps, and removing the rest
 * (`dmarcd prune`, and the prune thread of `dmarcd serve`).
 *
 * An account's retention is retention_days of its [account NAME]
 * section (0 or no section: kept forever).  Its cutoff is the UTC
 * midnight retention_days before today's: its aggregate reports that
 * end before it, its rollup rows, TLS reports and failure reports of
 * days before it go, in bounded batches (store_prune), and the archive
 * objects no remaining report references (archive_remove).  Account 0
 * (unclaimed reports) has no section and is never pruned.
 */
#ifndef DM_SERVE_PRUNE_H
#define DM_SERVE_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct dm_config;
struct store;
struct archive;

/* What one account's prune removed (or, dry run, would remove). */
struct prune_totals {
	const char *account;
	int64_t account_id;
	long retention_days; /* 0: kept forever (nothing done) */
	int64_t cutoff;      /* Unix time of the first day kept */
	uint64_t reports, records, rollups, tls_reports, failures;
	uint64_t objects, bytes; /* archive objects removed; bytes where known */
	uint64_t batches;
};

struct prune_opts {
	const char *account; /* only this account (NULL: every one) */
	int dry_run;
	unsigned batch;      /* reports per batch (0: DM_PRUNE_BATCH_REPORTS) */
	int64_t now;         /* 0: time(NULL) */
	/* asked between batches: non-zero stops the run (serve's shutdown) */
	int (*stop)(void *arg);
	/* called once per account, after it */
	void (*done)(void *arg, const struct prune_totals *t);
	void *arg;
};

/* Prune every account of the registry that has a retention (or
 * o->account, DM_ENOTFOUND when the registry has no such account).
 * a may be NULL with dry_run.  The first failure stops the run and
 * says why in err. */
int prune_run(const struct dm_config *cfg, struct store *st, struct archive *a,
              const struct prune_opts *o, char *err, size_t errlen) DM_WUR;

#endif
