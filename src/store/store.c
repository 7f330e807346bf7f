/*
 * store.c - backend selection and the store's lock.
 *
 * Functions: store_open, store_close, store_tx_begin, store_record_add,
 * store_tx_commit, store_tx_abort, store_flush, store_sync, store_last_batch,
 * store_durable, store_lookup, store_stats.  A transaction holds
 * st->lock from begin to commit or abort; store_lookup takes it only when
 * the caller does not hold it.  A failing call copies the backend's
 * reason into the caller's buffer while it still holds the lock.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static const struct store_ops *const backends[] = {&store_sqlite_ops};

struct store *
store_open(const char *backend, const char *data_dir, char *err, size_t errlen)
{
	const struct store_ops *ops = NULL;
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->name, backend) == 0)
			ops = backends[i];
	if (!ops) {
		snprintf(err, errlen, "unknown store backend '%s'", backend);
		return NULL;
	}
	struct store *st = xcalloc(1, sizeof *st);
	st->ops = ops;
	pthread_mutex_init(&st->lock, NULL);
	if (ops->open(st, data_dir, err, errlen) != 0) {
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
