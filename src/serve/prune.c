/*
 * prune.c - retention: each account's data past its retention_days
 * removed from the store, then the archive objects nothing references.
 *
 * Functions: prune_run.
 *
 * Per account: store_prune batch after batch (one transaction each, the
 * store's lock held for that batch only); after each batch the archive
 * keys of the reports it removed are checked against every report that
 * remains (store_key_refs: a zip may hold reports sharing one key, a
 * TLS or failure report may share it too) and only the unreferenced
 * ones go (archive_remove).  Store first, archive after: a crash between
 * leaves archive objects no report names (bytes kept too long, never a
 * report without its raw file).  The stop hook is asked between
 * batches, so a shutdown waits for one batch at most (ClickHouse:
 * mutations are left running on the server and finish by themselves).
 *
 * Test hooks (environment): DMARCD_PRUNE_BATCH lowers the batch size,
 * DMARCD_PRUNE_PAUSE_MS sleeps between batches (tests/http kill a prune
 * mid-way).  Logs at debug level per batch; the callers log the totals.
 */
#include "serve/prune.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archive.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "core/config.h"
#include "registry/registry.h"
#include "store/store.h"

struct acct {
	char *name;
	int64_t id;
};

struct accts {
	struct acct *v;
	size_t n;
};

static int
acct_add(void *arg, const struct registry_row *r)
{
	struct accts *l = arg;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n].name = xstrdup(r->account);
	l->v[l->n].id = r->account_id;
	l->n++;
	return 0;
}

static void
accts_free(struct accts *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

static long
env_long(const char *name, long min, long max, long def)
{
	const char *v = getenv(name);
	if (v == NULL || !*v)
		return def;
	char *end;
	long n = strtol(v, &end, 10);
	return *end == '\0' && n >= min && n <= max ? n : def;
}

static void
pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The batch's keys that no remaining report references, removed from
 * the archive. */
static int
remove_keys(struct store *st, struct archive *a, struct store_prune *res,
            struct prune_totals *t, char *err, size_t errlen)
{
	if (res->nkeys == 0)
		return 0;
	qsort(res->keys, res->nkeys, sizeof *res->keys, str_cmp);
	size_t n = 0; /* unique, in place */
	for (size_t i = 0; i < res->nkeys; i++) {
		if (n > 0 && strcmp(res->keys[n - 1], res->keys[i]) == 0) {
			free(res->keys[i]);
			continue;
		}
		res->keys[n++] = res->keys[i];
	}
	res->nkeys = n;
	unsigned char *used = xcalloc(n, 1);
	int rc = store_key_refs(st, (const char *const *)res->keys, n, used, err, errlen);
	const char **gone = xcalloc(n, sizeof *gone);
	size_t ngone = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!used[i])
			gone[ngone++] = res->keys[i];
	if (rc == 0 && ngone > 0 && a != NULL)
		rc = archive_remove(a, gone, ngone, &t->objects, &t->bytes, err, errlen);
	free(gone);
	free(used);
	return rc;
}

static int
prune_account(struct store *st, struct archive *a, const struct prune_opts *o,
              struct prune_totals *t, unsigned batch, long pause, char *err, size_t errlen)
{
	struct store_prune res;
	memset(&res, 0, sizeof res);
	int rc = 0;
	if (o->dry_run) {
		rc = store_prune(st, t->account_id, t->cutoff, batch, 1, &res, err, errlen);
		t->objects = res.nkeys;
	} else {
		time_t waiting = 0;
		for (;;) {
			if (o->stop && o->stop(o->arg))
				break;
			rc = store_prune(st, t->account_id, t->cutoff, batch, 0, &res, err, errlen);
			if (rc == 0)
				rc = remove_keys(st, a, &res, t, err, errlen);
			store_prune_keys_clear(&res);
			if (rc)
				break;
			t->batches++;
			dm_log(DM_LOG_DEBUG, "prune",
			       "%s: batch %" PRIu64 ": %" PRIu64 " reports, %" PRIu64 " rollup rows so far",
			       t->account, t->batches, res.reports, res.rollups);
			if (!res.more)
				break;
			if (res.wait && waiting == 0)
				waiting = time(NULL);
			if (res.wait && time(NULL) - waiting > DM_CH_PRUNE_WAIT) {
				snprintf(err, errlen, "%s: the store's mutations are still running after"
				         " %d s; they go on, and the next prune finishes",
				         t->account, DM_CH_PRUNE_WAIT);
				rc = DM_EBUSY;
				break;
			}
			if (res.wait)
				pause_ms(200);
			else if (pause > 0)
				pause_ms(pause);
		}
	}
	t->reports = res.reports;
	t->records = res.records;
	t->rollups = res.rollups;
	t->tls_reports = res.tls_reports;
	t->failures = res.failures;
	store_prune_keys_clear(&res);
	return rc;
}

int
prune_run(const struct dm_config *cfg, struct store *st, struct archive *a,
          const struct prune_opts *o, char *err, size_t errlen)
{
	struct accts l = {NULL, 0};
	int rc = registry_list_accounts(cfg->data_dir, acct_add, &l, err, errlen);
	if (rc) {
		accts_free(&l);
		return rc;
	}
	unsigned batch = o->batch ? o->batch : DM_PRUNE_BATCH_REPORTS;
	batch = (unsigned)env_long("DMARCD_PRUNE_BATCH", 1, DM_PRUNE_BATCH_REPORTS, (long)batch);
	long pause = env_long("DMARCD_PRUNE_PAUSE_MS", 0, 10000, 0);
	int64_t now = o->now ? o->now : (int64_t)time(NULL);
	int found = o->account == NULL;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		if (o->account && strcmp(o->account, l.v[i].name) != 0)
			continue;
		found = 1;
		if (o->stop && o->stop(o->arg))
			break;
		const struct dm_account_conf *ac = dm_config_account(cfg, l.v[i].name);
		struct prune_totals t;
		memset(&t, 0, sizeof t);
		t.account = l.v[i].name;
		t.account_id = l.v[i].id;
		t.retention_days = ac ? dm_config_int(ac->retention_days) : 0;
		if (t.retention_days > 0 && t.account_id > 0) {
			t.cutoff = (now / 86400 - t.retention_days) * 86400;
			rc = prune_account(st, a, o, &t, batch, pause, err, errlen);
		}
		if (rc == 0 && o->done)
			o->done(o->arg, &t);
	}
	if (rc == 0 && !found) {
		snprintf(err, errlen, "no account '%s'", o->account);
		rc = DM_ENOTFOUND;
	}
	accts_free(&l);
	return rc;
}
