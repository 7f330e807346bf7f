/*
 * store.c - backend selection and the store's lock.
 *
 * Functions: store_open, store_open_config, store_close, store_tx_begin, store_record_add,
 * store_tx_commit, store_tx_abort, store_flush, store_sync, store_last_batch,
 * store_durable, store_lookup, store_stats, store_prune, store_key_refs.
 * A transaction holds
 * st->lock from begin to commit or abort; store_lookup takes it only when
 * the caller does not hold it.  A failing call copies the backend's
 * reason into the caller's buffer while it still holds the lock.
 *
 * Reads (store_reader_open, store_domains ... store_export) go through
 * the backend's read table on a reader of their own, after the scope is
 * checked here: a read without a scope that sees something never reaches
 * a backend.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "core/config.h"
#include "store/store_ch.h"
#include "store/store_pg.h"

static const struct {
	const struct store_ops *ops;
	const struct store_read_ops *read_ops;
} backends[] = {{&store_sqlite_ops, &store_sqlite_read_ops}};

struct store *
store_open(const char *backend, const char *data_dir, char *err, size_t errlen)
{
	const struct store_ops *ops = NULL;
	const struct store_read_ops *read_ops = NULL;
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i].ops->name, backend) == 0) {
			ops = backends[i].ops;
			read_ops = backends[i].read_ops;
		}
	if (!ops) {
		snprintf(err, errlen, "unknown store backend '%s'", backend);
		return NULL;
	}
	struct store *st = xcalloc(1, sizeof *st);
	st->ops = ops;
	st->read_ops = read_ops;
	pthread_mutex_init(&st->lock, NULL);
	if (ops->open(st, data_dir, err, errlen) != 0) {
		pthread_mutex_destroy(&st->lock);
		free(st);
		return NULL;
	}
	return st;
}

/* The first line of path into out (the file's other lines ignored). */
static int
first_line(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "cannot read %s", path);
		return DM_EUSAGE;
	}
	int ok = fgets(out, (int)outlen, f) != NULL;
	fclose(f);
	out[ok ? strcspn(out, "\r\n") : 0] = '\0';
	return 0;
}

int
store_config_password(const struct dm_config *cfg, char *out, size_t outlen, char *err,
		      size_t errlen)
{
	snprintf(out, outlen, "%s", cfg->store_password);
	if (!out[0] && cfg->store_password_file[0])
		return first_line(cfg->store_password_file, out, outlen, err, errlen);
	return 0;
}

struct store *
store_open_config(const struct dm_config *cfg, char *err, size_t errlen)
{
	if (strcmp(cfg->store, "sqlite") == 0)
		return store_open("sqlite", cfg->data_dir, err, errlen);
	char password[256];
	if (store_config_password(cfg, password, sizeof password, err, errlen) != 0)
		return NULL;
	struct store *st = xcalloc(1, sizeof *st);
	int ch = strncmp(cfg->store, "clickhouse://", 13) == 0;
	st->ops = ch ? &store_ch_ops : &store_pg_ops;
	st->read_ops = ch ? &store_ch_read_ops : &store_pg_read_ops;
	pthread_mutex_init(&st->lock, NULL);
	int rc = ch ? store_ch_open(st, cfg->store, password, cfg->data_dir, cfg->clickhouse_cluster,
	                            cfg->clickhouse_shards, err, errlen)
	            : store_pg_open(st, cfg->store, password, err, errlen);
	explicit_bzero(password, sizeof password);
	if (rc != 0) {
		pthread_mutex_destroy(&st->lock);
		free(st);
		return NULL;
	}
	return st;
}

void
store_close(struct store *st)
{
	if (!st)
		return;
	st->ops->close(st);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* The store whose transaction this thread holds, if any.  Thread-local,
 * so asking "do I hold the lock?" reads nothing another thread writes. */
static __thread struct store *tx_held;
/* The batch of this thread's last committed report. */
static __thread uint64_t last_batch;

static int
held_by_me(struct store *st)
{
	return tx_held == st;
}

/* rc, with the backend's reason copied to err when rc is a failure.
 * Called with st->lock held by this thread. */
static int
reason(struct store *st, int rc, char *err, size_t errlen)
{
	if (rc != 0 && err != NULL && errlen > 0) {
		const char *msg = st->ops->errmsg(st);
		snprintf(err, errlen, "%s", msg != NULL && *msg ? msg : dm_strerror(rc));
	}
	return rc;
}

int
store_tx_begin(struct store *st, int64_t account_id, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->tx_begin(st, account_id), err, errlen);
	if (rc != 0) {
		pthread_mutex_unlock(&st->lock);
		return rc;
	}
	tx_held = st;
	return 0;
}

int
store_record_add(struct store *st, const struct dm_report *rep, const struct dm_record *rec,
		 char *err, size_t errlen)
{
	return reason(st, st->ops->record_add(st, rep, rec), err, errlen);
}

int
store_tx_commit(struct store *st, struct dm_report *rep, const struct store_report_info *info,
		enum store_outcome *out, char *err, size_t errlen)
{
	last_batch = st->ops->batch(st);
	int rc = reason(st, st->ops->tx_commit(st, rep, info, out), err, errlen);
	tx_held = NULL;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void
store_tx_abort(struct store *st)
{
	st->ops->tx_abort(st);
	tx_held = NULL;
	pthread_mutex_unlock(&st->lock);
}

uint64_t
store_last_batch(void)
{
	return last_batch;
}

uint64_t
store_durable(struct store *st)
{
	/* without the lock: callers may hold other locks, and the value only
	 * grows (backends read it atomically) */
	return st->ops->durable(st);
}

uint64_t
store_failed(struct store *st)
{
	return st->ops->failed(st);
}

int
store_flush(struct store *st, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->flush(st), err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
store_sync(struct store *st, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->sync(st), err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
store_lookup(struct store *st, struct dm_report *rep, int *exists, char *err, size_t errlen)
{
	if (st->ops->lookup == NULL) {
		*exists = 0; /* this backend's claim is the only check */
		return 0;
	}
	if (held_by_me(st))
		return reason(st, st->ops->lookup(st, rep, exists), err, errlen);
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->lookup(st, rep, exists), err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
store_stats(struct store *st, const char *domain, struct store_stats *total,
	    int (*per_domain)(void *arg, const struct store_domain_stats *d), void *arg,
	    char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->stats(st, domain, total, per_domain, arg), err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
store_reenrich(struct store *st, const char *domain, int64_t since, const struct dm_record *src,
	       size_t n, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->reenrich(st, domain, since, src, n), err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- retention ---------------------------------------------------------------- */

int
store_prune(struct store *st, int64_t account, int64_t cutoff, unsigned limit, int dry_run,
	    struct store_prune *res, char *err, size_t errlen)
{
	res->more = res->wait = 0;
	if (account <= 0 || limit == 0) {
		snprintf(err, errlen, "prune: account %lld, limit %u", (long long)account, limit);
		return DM_EINVAL;
	}
	if (st->ops->prune == NULL) {
		snprintf(err, errlen, "the %s store cannot prune", st->ops->name);
		return DM_EINVAL;
	}
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->prune(st, account, cutoff, limit, dry_run, res), err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
store_key_refs(struct store *st, const char *const *keys, size_t n, unsigned char *used,
	       char *err, size_t errlen)
{
	memset(used, 0, n);
	if (n == 0)
		return 0;
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->key_refs(st, keys, n, used), err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void
store_prune_key_add(struct store_prune *res, const char *key)
{
	if (key == NULL || !*key)
		return;
	if (res->nkeys == res->capkeys) {
		res->capkeys = res->capkeys ? res->capkeys * 2 : 256;
		res->keys = xrealloc(res->keys, res->capkeys * sizeof *res->keys);
	}
	res->keys[res->nkeys++] = xstrdup(key);
}

void
store_prune_keys_clear(struct store_prune *res)
{
	for (size_t i = 0; i < res->nkeys; i++)
		free(res->keys[i]);
	free(res->keys);
	res->keys = NULL;
	res->nkeys = res->capkeys = 0;
}

/* ---- reads ---------------------------------------------------------------- */

struct store_reader {
	struct store *st;
	void *impl;
	char err[256];
};

struct store_reader *
store_reader_open(struct store *st, char *err, size_t errlen)
{
	if (st->read_ops == NULL) {
		snprintf(err, errlen,
			 "the %s store answers no API queries yet (serve it with --http none)",
			 st->ops->name);
		return NULL;
	}
	void *impl = st->read_ops->open(st, err, errlen);
	if (impl == NULL)
		return NULL;
	struct store_reader *rd = xcalloc(1, sizeof *rd);
	rd->st = st;
	rd->impl = impl;
	return rd;
}

void
store_reader_close(struct store_reader *rd)
{
	if (rd == NULL)
		return;
	rd->st->read_ops->close(rd->impl);
	free(rd);
}

const char *
store_reader_error(const struct store_reader *rd)
{
	return rd->err[0] ? rd->err : rd->st->read_ops->error(rd->impl);
}

/* A scope that sees nothing cannot reach a backend: account 0 (the
 * unclaimed reports) is visible to the admin only. */
static int
scope_ok(struct store_reader *rd, const struct store_scope *sc)
{
	rd->err[0] = '\0';
	if (sc == NULL || (!sc->admin && sc->account <= 0)) {
		snprintf(rd->err, sizeof rd->err, "no scope");
		return 0;
	}
	return 1;
}

static int
filter_ok(struct store_reader *rd, const struct store_filter *f, int need_domain)
{
	if (need_domain && (f->domain == NULL || !*f->domain)) {
		snprintf(rd->err, sizeof rd->err, "no domain");
		return 0;
	}
	return 1;
}

int
store_reader_ping(struct store_reader *rd)
{
	rd->err[0] = '\0';
	return rd->st->read_ops->ping(rd->impl);
}

int
store_names_add(void *arg, const struct store_domain_row *r)
{
	struct store_names *d = arg;
	d->v = xrealloc(d->v, (d->n + 1) * sizeof *d->v);
	d->v[d->n++] = xstrdup(r->domain);
	return 0;
}

void
store_names_free(struct store_names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->v[i]);
	free(names->v);
	names->v = NULL;
	names->n = 0;
}

int
store_domains(const struct store_scope *sc, struct store_reader *rd,
	      int (*fn)(void *arg, const struct store_domain_row *r), void *arg)
{
	if (!scope_ok(rd, sc))
		return DM_EINVAL;
	return rd->st->read_ops->domains(rd->impl, sc, fn, arg);
}

int
store_summary(const struct store_scope *sc, struct store_reader *rd, const struct store_filter *f,
	      uint64_t *reports, struct store_counts *out)
{
	if (!scope_ok(rd, sc) || !filter_ok(rd, f, 1))
		return DM_EINVAL;
	return rd->st->read_ops->summary(rd->impl, sc, f, reports, out);
}

int
store_timeseries(const struct store_scope *sc, struct store_reader *rd,
		 const struct store_filter *f,
		 int (*fn)(void *arg, const struct store_day_row *r), void *arg)
{
	if (!scope_ok(rd, sc) || !filter_ok(rd, f, 1))
		return DM_EINVAL;
	return rd->st->read_ops->timeseries(rd->impl, sc, f, fn, arg);
}

int
store_sources(const struct store_scope *sc, struct store_reader *rd, const struct store_filter *f,
	      enum store_source_sort sort, unsigned limit, unsigned offset, uint64_t *total,
	      int (*fn)(void *arg, const struct store_source_row *r), void *arg)
{
	if (!scope_ok(rd, sc) || !filter_ok(rd, f, 1))
		return DM_EINVAL;
	return rd->st->read_ops->sources(rd->impl, sc, f, sort, limit, offset, total, fn, arg);
}

int
store_source(const struct store_scope *sc, struct store_reader *rd, const struct store_filter *f,
	     const unsigned char ip[16], struct store_counts *total,
	     int (*day_fn)(void *arg, const struct store_day_row *r),
	     int (*part_fn)(void *arg, const struct store_part_row *r), void *arg)
{
	if (!scope_ok(rd, sc) || !filter_ok(rd, f, 1))
		return DM_EINVAL;
	return rd->st->read_ops->source(rd->impl, sc, f, ip, total, day_fn, part_fn, arg);
}

int
store_ip_info(struct store_reader *rd, const unsigned char ip[16], struct store_ip_info *info)
{
	memset(info, 0, sizeof *info);
	rd->err[0] = '\0';
	return rd->st->read_ops->ip_info(rd->impl, ip, info);
}

int
store_reporters(const struct store_scope *sc, struct store_reader *rd,
		const struct store_filter *f,
		int (*fn)(void *arg, const struct store_reporter_row *r), void *arg)
{
	if (!scope_ok(rd, sc) || !filter_ok(rd, f, 1))
		return DM_EINVAL;
	return rd->st->read_ops->reporters(rd->impl, sc, f, fn, arg);
}

int
store_reports(const struct store_scope *sc, struct store_reader *rd, const struct store_filter *f,
	      unsigned limit, unsigned offset, uint64_t *total,
	      int (*fn)(void *arg, const struct store_report_row *r), void *arg)
{
	if (!scope_ok(rd, sc))
		return DM_EINVAL;
	return rd->st->read_ops->reports(rd->impl, sc, f, limit, offset, total, fn, arg);
}

int
store_report(const struct store_scope *sc, struct store_reader *rd, int64_t id,
	     int (*meta_fn)(void *arg, const struct store_report_row *r),
	     int (*rec_fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
	     void *arg)
{
	if (!scope_ok(rd, sc))
		return DM_EINVAL;
	return rd->st->read_ops->report(rd->impl, sc, id, meta_fn, rec_fn, arg);
}

int
store_export(const struct store_scope *sc, struct store_reader *rd, const struct store_filter *f,
	     int (*fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
	     void *arg)
{
	if (!scope_ok(rd, sc))
		return DM_EINVAL;
	return rd->st->read_ops->export(rd->impl, sc, f, fn, arg);
}

/* ---- SMTP TLS reports --------------------------------------------------------- */

int
store_tls_put(struct store *st, int64_t account_id, struct dm_tls_report *rep,
	      const struct store_report_info *info, store_tls_next_fn next, void *arg,
	      enum store_outcome *out, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->tls_put(st, account_id, rep, info, next, arg, out), err,
			errlen);
	/* the batch the report went into (a put may have opened it) */
	last_batch = st->ops->batch(st);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
store_tls_domains(const struct store_scope *sc, struct store_reader *rd,
		  int (*fn)(void *arg, const struct store_tls_domain_row *r), void *arg)
{
	if (!scope_ok(rd, sc))
		return DM_EINVAL;
	return rd->st->read_ops->tls_domains(rd->impl, sc, fn, arg);
}

int
store_tls_days(const struct store_scope *sc, struct store_reader *rd, const struct store_filter *f,
	       int (*fn)(void *arg, const struct store_tls_day_row *r), void *arg)
{
	if (!scope_ok(rd, sc) || !filter_ok(rd, f, 1))
		return DM_EINVAL;
	return rd->st->read_ops->tls_days(rd->impl, sc, f, fn, arg);
}

int
store_tls_failures(const struct store_scope *sc, struct store_reader *rd,
		   const struct store_filter *f, unsigned limit,
		   int (*fn)(void *arg, const struct store_tls_failure_group *r), void *arg)
{
	if (!scope_ok(rd, sc) || !filter_ok(rd, f, 1))
		return DM_EINVAL;
	return rd->st->read_ops->tls_failures(rd->impl, sc, f, limit, fn, arg);
}

int
store_tls_reports(const struct store_scope *sc, struct store_reader *rd,
		  const struct store_filter *f, unsigned limit, unsigned offset, uint64_t *total,
		  int (*fn)(void *arg, const struct store_tls_report_row *r), void *arg)
{
	if (!scope_ok(rd, sc))
		return DM_EINVAL;
	return rd->st->read_ops->tls_reports(rd->impl, sc, f, limit, offset, total, fn, arg);
}

int
store_tls_report(const struct store_scope *sc, struct store_reader *rd, int64_t id,
		 int (*meta_fn)(void *arg, const struct store_tls_report_row *r),
		 int (*pol_fn)(void *arg, const struct store_tls_policy_row *r),
		 int (*fail_fn)(void *arg, const struct store_tls_failure_row *r), void *arg)
{
	if (!scope_ok(rd, sc))
		return DM_EINVAL;
	return rd->st->read_ops->tls_report(rd->impl, sc, id, meta_fn, pol_fn, fail_fn, arg);
}

/* ---- failure reports ------------------------------------------------------------ */

int
store_failure_put(struct store *st, int64_t account_id, const struct dm_failure_report *r,
		  const char *headers, const struct store_report_info *info,
		  enum store_outcome *out, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	int rc = reason(st, st->ops->failure_put(st, account_id, r, headers, info, out), err,
			errlen);
	last_batch = st->ops->batch(st);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int
store_failures(const struct store_scope *sc, struct store_reader *rd,
	       const struct store_filter *f, const unsigned char *ip, unsigned limit,
	       unsigned offset, uint64_t *total,
	       int (*fn)(void *arg, const struct store_failure_row *r), void *arg)
{
	if (!scope_ok(rd, sc))
		return DM_EINVAL;
	return rd->st->read_ops->failures(rd->impl, sc, f, ip, limit, offset, total, fn, arg);
}

int
store_failure(const struct store_scope *sc, struct store_reader *rd, int64_t id,
	      int (*fn)(void *arg, const struct store_failure_row *r), void *arg)
{
	if (!scope_ok(rd, sc))
		return DM_EINVAL;
	return rd->st->read_ops->failure(rd->impl, sc, id, fn, arg);
}
