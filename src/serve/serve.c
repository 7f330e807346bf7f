/*
 * serve.c - `dmarcd serve`: the SMTP/LMTP listener, the spool and a pool
 * of worker threads in one process.
 *
 * Public: serve_run.
 *
 *   sessions (event loop) --durable--> spool/new --claim--> workers
 *                                                           ingest pipeline
 *                                                           store batch
 *                                         spool entry deleted <-- store_sync
 *
 * Workers run exactly the code of `dmarcd ingest` (ingest_fd) on each
 * claimed entry.  An entry is deleted only after the store has made its
 * reports durable (store_sync, one per group of entries), so a crash at
 * any point leaves the message in the spool and it is processed again;
 * the store's duplicate check makes that harmless.  A message that holds
 * no storable report moves to spool/failed/ with the reasons.  When the
 * store or the archive fails (disk full, locked), the entry goes back to
 * new/ and the worker waits, doubling the wait up to a minute: such
 * errors never cost a message.
 *
 * The registry is a shared snapshot with a reference count: the loop
 * holds it for each RCPT, workers while they decide a report's account.
 * A thread of its own reloads it on SIGHUP and when the file changes
 * (checked every second) and swaps the new snapshot in: opening SQLite
 * may wait seconds for a lock, which the SMTP loop must never do.
 *
 * IMAP pull: with [fetch] sections, a thread of its own (never the SMTP or
 * HTTP loop) runs each mailbox on its interval (src/fetch/fetch.c) into
 * the same spool and wakes the workers; at shutdown it stops between
 * messages (or mid-transfer, dropping the unfinished one) before the
 * workers finish.  Logs under "fetch".
 *
 * Retention: when an [account] section sets retention_days, a thread of
 * its own runs prune_run (src/serve/prune.c) every prune_interval, in
 * bounded batches, and stops between two batches at shutdown.
 *
 * Signals: SIGTERM/SIGINT stop (sessions get 421, pending commits are
 * answered, workers finish their message and sync), SIGHUP reopens the
 * log file (log_file) and reloads the registry.  The start-up lines go to
 * stderr; with log_file set, everything after "ready" goes to the file.  Logs under "serve" and
 * "worker".
 */
#include "serve/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "archive/archive.h"
#include "common/day.h"
#include "common/fsutil.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "enrich/enrich.h"
#include "enrich/reenrich.h"
#include "alert/alert.h"
#include "fetch/fetch.h"
#include "http/http.h"
#include "ingest/ingest.h"
#include "registry/registry.h"
#include "serve/prune.h"
#include "smtp/smtp.h"
#include "spool/spool.h"
#include "store/store.h"

#define SERVE_DONE_MAX 256    /* entries deleted per store_sync */
#define SERVE_DONE_MS 500     /* or after this long */
#define SERVE_BACKOFF_MAX 60  /* seconds between retries of a failing store */
#define SERVE_STOP_SECONDS 30 /* longest wait for sessions at shutdown */

struct reg_ref {
	struct registry *reg;
	unsigned refs;
};

struct serve {
	const struct serve_options *o;
	const struct dm_config *cfg;
	struct event_base *base;
	struct spool *spool;
	struct store *store;
	struct dm_enrich_shared *enrich; /* NULL: enrich = off */
	struct archive *archive;
	struct smtp_server *smtp;
	struct http_server *http;
	char tmp_dir[PATH_MAX];
	/* workers */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;
	pthread_t *thr;
	unsigned nthr;
	/* registry: the snapshot, and the thread that reloads it */
	pthread_mutex_t reg_mu;
	pthread_cond_t reg_cv;
	struct reg_ref *reg;
	pthread_t reg_thr;
	int reg_thr_started;
	int reg_reload; /* SIGHUP asked for a reload (under reg_mu) */
	int reg_quit;   /* under reg_mu */
	/* the reverse names that missed their report's deadline, filled in
	 * every enrich_fill_seconds (fill_main) */
	pthread_mutex_t fill_mu;
	pthread_cond_t fill_cv;
	pthread_t fill_thr;
	int fill_thr_started;
	int fill_quit; /* under fill_mu */
	/* retention: what is past the accounts' retention_days, removed
	 * every prune_interval (prune_main) */
	pthread_mutex_t prune_mu;
	pthread_cond_t prune_cv;
	pthread_t prune_thr;
	int prune_thr_started;
	int prune_quit; /* under prune_mu */
	/* the [fetch] mailboxes, pulled every interval (fetch_main) */
	pthread_mutex_t fetch_mu;
	pthread_cond_t fetch_cv;
	pthread_t fetch_thr;
	int fetch_thr_started;
	int fetch_quit; /* under fetch_mu */
	/* the alert rules, digests and deliveries, every alert_interval */
	pthread_mutex_t alert_mu;
	pthread_cond_t alert_cv;
	pthread_t alert_thr;
	int alert_thr_started;
	int alert_quit;	  /* under alert_mu */
	int alert_poked;  /* reports were stored since the last run (under alert_mu) */
	/* stopping */
	int smtp_done;
	time_t stop_deadline;
	int lock_fd; /* <data_dir>/serve.lock, held while running */
	struct event *ev_term, *ev_int, *ev_hup, *ev_stop;
};

struct worker {
	struct serve *sv;
	unsigned idx;
	struct ingest_job *job;
	/* the message being processed */
	char id[SPOOL_ID_MAX];
	struct spool_envelope_read env;
	const char *rcpt[16];
	size_t nrcpt;
	struct reg_ref *reg;
	unsigned ok, stored, bad;
	char why[DM_MAX_ERROR_LEN + 128]; /* "ID: reason (kind)" */
	/* processed entries whose reports are not yet synced, and the store
	 * batch each one's reports went into (0: nothing new was stored) */
	char (*done)[SPOOL_ID_MAX];
	uint64_t *done_batch;
	double *done_since; /* when each arrived (its spool file's mtime) */
	unsigned ndone;
	struct timespec first_done;
};

/* ---- registry snapshot ------------------------------------------------------ */

static struct reg_ref *
reg_hold(struct serve *sv)
{
	struct reg_ref *r;

	pthread_mutex_lock(&sv->reg_mu);
	r = sv->reg;
	r->refs++;
	pthread_mutex_unlock(&sv->reg_mu);
	return r;
}

static void
reg_release(struct serve *sv, struct reg_ref *r)
{
	int last;

	pthread_mutex_lock(&sv->reg_mu);
	last = --r->refs == 0;
	pthread_mutex_unlock(&sv->reg_mu);
	if (last) {
		registry_free(r->reg);
		free(r);
	}
}

static int
reg_load(struct serve *sv, char *err, size_t errlen)
{
	struct registry *reg;
	struct reg_ref *r, *old;
	unsigned a, d, n;

	if (registry_load(sv->cfg->data_dir, &reg, err, errlen) != 0)
		return DM_ESTORE;
	r = xcalloc(1, sizeof *r);
	r->reg = reg;
	r->refs = 1;
	pthread_mutex_lock(&sv->reg_mu);
	old = sv->reg;
	sv->reg = r;
	pthread_mutex_unlock(&sv->reg_mu);
	if (old != NULL)
		reg_release(sv, old);
	registry_counts(reg, &a, &d, &n);
	dm_log(DM_LOG_INFO, "serve", "registry: %u account(s), %u domain(s), %u address(es)", a, d,
	       n);
	return 0;
}

static int
fill_quitting(struct serve *sv)
{
	pthread_mutex_lock(&sv->fill_mu);
	int q = sv->fill_quit;
	pthread_mutex_unlock(&sv->fill_mu);
	return q;
}

/* One round of filling: the sources of every domain's reports of the
 * last DM_ENRICH_FILL_DAYS days whose reverse name is not known. */
static void
fill_once(struct serve *sv, struct dm_enricher *en)
{
	char err[512];
	struct store_reader *rd = store_reader_open(sv->store, err, sizeof err);
	if (!rd) {
		dm_log(DM_LOG_WARN, "serve", "enrichment fill: %s", err);
		return;
	}
	struct store_names d = {NULL, 0};
	struct store_scope admin = {.account = 0, .admin = 1};
	if (store_domains(&admin, rd, store_names_add, &d) != 0)
		dm_log(DM_LOG_WARN, "serve", "enrichment fill: %s", store_reader_error(rd));
	int64_t since = ((int64_t)time(NULL) / 86400 - DM_ENRICH_FILL_DAYS) * 86400;
	int timeout_ms = (int)dm_config_int(sv->cfg->dns_timeout_ms);
	struct dm_reenrich_totals t;
	memset(&t, 0, sizeof t);
	for (size_t i = 0; i < d.n && !fill_quitting(sv); i++) {
		uint64_t total = 0;
		if (dm_reenrich_domain(en, sv->store, rd, d.v[i], since, 1, timeout_ms, &total, &t, err,
				       sizeof err) != 0)
			dm_log(DM_LOG_WARN, "serve", "enrichment fill: %s", err);
	}
	if (t.sources > 0)
		dm_log(DM_LOG_INFO, "serve",
		       "enrichment fill: %llu sources asked again, %llu confirmed, %llu still unknown",
		       (unsigned long long)t.sources, (unsigned long long)t.confirmed,
		       (unsigned long long)(t.unknown + t.failed));
	store_names_free(&d);
	store_reader_close(rd);
}

static void *
fill_main(void *arg)
{
	struct serve *sv = arg;
	char err[512];
	struct dm_enricher *en = dm_enricher_new(sv->enrich, err, sizeof err);
	if (!en) {
		dm_log(DM_LOG_WARN, "serve", "enrichment fill off: %s", err);
		return NULL;
	}
	long every = dm_config_int(sv->cfg->enrich_fill_seconds);
	pthread_mutex_lock(&sv->fill_mu);
	while (!sv->fill_quit) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += every;
		pthread_cond_timedwait(&sv->fill_cv, &sv->fill_mu, &until);
		if (sv->fill_quit)
			break;
		pthread_mutex_unlock(&sv->fill_mu);
		fill_once(sv, en);
		pthread_mutex_lock(&sv->fill_mu);
	}
	pthread_mutex_unlock(&sv->fill_mu);
	dm_enricher_free(en);
	return NULL;
}

/* ---- retention ------------------------------------------------------------ */

static int
prune_quitting(void *arg)
{
	struct serve *sv = arg;
	pthread_mutex_lock(&sv->prune_mu);
	int q = sv->prune_quit;
	pthread_mutex_unlock(&sv->prune_mu);
	return q;
}

static void
prune_logged(void *arg, const struct prune_totals *t)
{
	(void)arg;
	if (t->retention_days == 0 || t->reports + t->rollups + t->tls_reports + t->failures == 0)
		return;
	char day[11];
	dm_format_day(t->cutoff, day);
	dm_log(DM_LOG_INFO, "serve",
	       "prune: %s: before %s: %llu reports (%llu records), %llu rollup rows, %llu TLS"
	       " reports, %llu failure reports, %llu archive objects removed",
	       t->account, day, (unsigned long long)t->reports, (unsigned long long)t->records,
	       (unsigned long long)t->rollups, (unsigned long long)t->tls_reports,
	       (unsigned long long)t->failures, (unsigned long long)t->objects);
}

/* Every prune_interval (the first a minute after start: not in the way
 * of a start-up's backlog), one prune_run in bounded batches; asks
 * prune_quit between batches so a shutdown waits for one batch. */
static void *
prune_main(void *arg)
{
	struct serve *sv = arg;
	long every = dm_config_int(sv->cfg->prune_interval);
	long first = every < DM_PRUNE_MIN_INTERVAL ? every : DM_PRUNE_MIN_INTERVAL;
	if (first < 1)
		first = 1;
	pthread_mutex_lock(&sv->prune_mu);
	for (long wait = first; !sv->prune_quit; wait = every) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait;
		while (!sv->prune_quit &&
		       pthread_cond_timedwait(&sv->prune_cv, &sv->prune_mu, &until) == 0)
			;
		if (sv->prune_quit)
			break;
		pthread_mutex_unlock(&sv->prune_mu);
		char err[512];
		struct prune_opts o = {.stop = prune_quitting, .done = prune_logged, .arg = sv};
		if (prune_run(sv->cfg, sv->store, sv->archive, &o, err, sizeof err) != 0)
			dm_log(DM_LOG_WARN, "serve", "prune: %s", err);
		pthread_mutex_lock(&sv->prune_mu);
	}
	pthread_mutex_unlock(&sv->prune_mu);
	return NULL;
}

/* The reloading thread: on request (SIGHUP) or when the file changed. */
static void *
reg_main(void *arg)
{
	struct serve *sv = arg;
	char err[512];

	pthread_mutex_lock(&sv->reg_mu);
	while (!sv->reg_quit) {
		struct timespec until;
		int asked;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		if (!sv->reg_reload)
			pthread_cond_timedwait(&sv->reg_cv, &sv->reg_mu, &until);
		if (sv->reg_quit)
			break;
		asked = sv->reg_reload;
		sv->reg_reload = 0;
		pthread_mutex_unlock(&sv->reg_mu);

		struct reg_ref *cur = reg_hold(sv);
		int changed = asked || registry_changed(cur->reg, sv->cfg->data_dir);

		reg_release(sv, cur);
		if (changed && reg_load(sv, err, sizeof err) != 0)
			dm_log(DM_LOG_ERROR, "serve",
			       "registry reload failed, keeping the old one: %s", err);
		else if (asked)
			dm_log(DM_LOG_NOTICE, "serve", "registry reloaded");
		pthread_mutex_lock(&sv->reg_mu);
	}
	pthread_mutex_unlock(&sv->reg_mu);
	return NULL;
}

/* ---- hooks from the HTTP server ------------------------------------------------ */

static int
hook_auth(void *arg, const char *token, struct store_scope *scope, int64_t *token_id)
{
	struct serve *sv = arg;
	struct reg_ref *r = reg_hold(sv);
	int64_t account = 0;
	int admin = 0;
	int rc = registry_token_check(r->reg, token, &account, &admin, token_id);
	reg_release(sv, r);
	if (rc != 0)
		return DM_ENOTFOUND;
	scope->account = account;
	scope->admin = admin;
	return 0;
}

static int64_t
hook_upload_account(void *arg, int64_t account, const char *policy_domain)
{
	struct serve *sv = arg;
	struct reg_ref *r = reg_hold(sv);
	int claims = registry_claims(r->reg, account, policy_domain);
	reg_release(sv, r);
	return claims ? account : 0;
}

static size_t
hook_domain_addresses(void *arg, int64_t account, const char *domain,
                      char out[][DM_REGISTRY_MAX_ADDRESS + 1], size_t max)
{
	struct serve *sv = arg;
	struct reg_ref *r = reg_hold(sv);
	size_t n = registry_domain_addresses(r->reg, account, domain, out, max);
	reg_release(sv, r);
	return n;
}

static void
hook_metrics(void *arg, struct dm_buf *out)
{
	struct serve *sv = arg;
	unsigned nnew = 0, ncur = 0, nfailed = 0;
	if (spool_count(sv->spool, &nnew, &ncur, &nfailed) != 0)
		return;
	if (dm_buf_printf(out,
			  "# HELP dmarcd_spool_entries Messages in the spool, by state.\n"
			  "# TYPE dmarcd_spool_entries gauge\n"
			  "dmarcd_spool_entries{state=\"new\"} %u\n"
			  "dmarcd_spool_entries{state=\"cur\"} %u\n"
			  "dmarcd_spool_entries{state=\"failed\"} %u\n",
			  nnew, ncur, nfailed) != 0)
		return; /* a cut-short scrape is still a scrape */
}

/* ---- hooks from the SMTP loop ---------------------------------------------- */

static int64_t
hook_rcpt(void *arg, const char *address)
{
	struct serve *sv = arg;
	struct reg_ref *r = reg_hold(sv);
	int64_t account = registry_rcpt(r->reg, address);

	reg_release(sv, r);
	return account;
}

static void
wake_workers(struct serve *sv)
{
	pthread_mutex_lock(&sv->mu);
	pthread_cond_broadcast(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
}

static void
hook_spooled(void *arg, const char *id)
{
	(void)id;
	wake_workers(arg);
}

/* ---- IMAP pull ------------------------------------------------------------------ */

struct fetch_ctx {
	struct serve *sv;
	const char *url;
};

static int
fetch_stop(void *arg)
{
	struct fetch_ctx *c = arg;
	pthread_mutex_lock(&c->sv->fetch_mu);
	int q = c->sv->fetch_quit;
	pthread_mutex_unlock(&c->sv->fetch_mu);
	return q;
}

static void
fetch_msg(void *arg, const struct fetch_event *e)
{
	struct fetch_ctx *c = arg;
	if (strcmp(e->status, "spooled") == 0) {
		wake_workers(c->sv);
		dm_log(e->error[0] ? DM_LOG_ERROR : DM_LOG_INFO, "fetch",
		       "%s: %s: UID %u spooled (%llu bytes), %s%s%s", e->spool_id, c->url, e->uid,
		       (unsigned long long)e->size, e->after, e->error[0] ? ": " : "", e->error);
	} else {
		dm_log(DM_LOG_WARN, "fetch", "%s: %s", c->url, e->error);
	}
}

static void *
fetch_main(void *arg)
{
	struct serve *sv = arg;
	const struct dm_config *cfg = sv->cfg;
	time_t due[DM_FETCH_MAX_SOURCES];

	for (unsigned i = 0; i < cfg->nfetch; i++)
		due[i] = time(NULL); /* the first run at once */
	pthread_mutex_lock(&sv->fetch_mu);
	while (!sv->fetch_quit) {
		time_t now = time(NULL), next = 0;
		for (unsigned i = 0; i < cfg->nfetch && !sv->fetch_quit; i++) {
			const struct dm_fetch_source *src = &cfg->fetch[i];
			struct fetch_ctx c = {sv, src->url};
			struct fetch_hooks hooks = {fetch_msg, fetch_stop, &c};
			struct fetch_totals t;
			char err[1024];

			if (due[i] > now)
				continue;
			pthread_mutex_unlock(&sv->fetch_mu);
			if (strcmp(src->insecure, "yes") == 0)
				dm_log(DM_LOG_WARN, "fetch",
				       "%s: insecure = yes: the server's TLS certificate is NOT "
				       "verified",
				       src->url);
			int rc = fetch_run(src, cfg->data_dir, sv->spool, &hooks, &t, err,
			                   sizeof err);
			if (rc != 0 && rc != DM_ESTOP)
				dm_log(DM_LOG_ERROR, "fetch", "%s", err);
			else if (t.spooled || t.failed || t.restarted)
				dm_log(DM_LOG_INFO, "fetch",
				       "%s: %u spooled, %u left in the mailbox%s", src->url,
				       t.spooled, t.failed,
				       t.restarted ? " (UIDVALIDITY changed: read from the start)"
				                   : "");
			now = time(NULL);
			/* more waiting: again soon, not after a whole interval */
			due[i] = now + (rc == 0 && t.more ? 1 : dm_config_int(src->interval));
			pthread_mutex_lock(&sv->fetch_mu);
		}
		for (unsigned i = 0; i < cfg->nfetch; i++)
			if (next == 0 || due[i] < next)
				next = due[i];
		if (sv->fetch_quit)
			break;
		struct timespec until = {next, 0};
		pthread_cond_timedwait(&sv->fetch_cv, &sv->fetch_mu, &until);
	}
	pthread_mutex_unlock(&sv->fetch_mu);
	return NULL;
}

/* ---- alerts ------------------------------------------------------------------- */

/* Is serve stopping?  (alert_run's stop: asked between domains.) */
static int
alert_stop(void *arg)
{
	struct serve *sv = arg;
	pthread_mutex_lock(&sv->alert_mu);
	int q = sv->alert_quit;
	pthread_mutex_unlock(&sv->alert_mu);
	return q;
}

/* The alert rules (src/alert/alert.c) every alert_interval seconds, and
 * after a batch of reports was stored (alert_poke), but not more often
 * than once in DM_ALERT_BATCH_GAP seconds; in a thread of its own: a run
 * reads the store and may wait for a mail relay or a webhook. */
static void *
alert_main(void *arg)
{
	struct serve *sv = arg;
	long every = dm_config_int(sv->cfg->alert_interval);
	long gap = DM_ALERT_BATCH_GAP;
	/* tests only: a shorter gap after a batch (tests/http/test_alerts.py) */
	const char *g = getenv("DMARCD_ALERT_BATCH_GAP");
	char *end = NULL;
	long v = g ? strtol(g, &end, 10) : 0;
	if (g && *g && end && *end == '\0' && v > 0 && v < gap)
		gap = v;
	time_t last = time(NULL); /* the first run: an interval after the start, or a batch */
	pthread_mutex_lock(&sv->alert_mu);
	while (!sv->alert_quit) {
		time_t due = last + every;
		if (sv->alert_poked && last + gap < due)
			due = last + gap;
		if (time(NULL) < due) {
			struct timespec until = {due, 0};
			(void)pthread_cond_timedwait(&sv->alert_cv, &sv->alert_mu, &until);
			continue; /* woken (a batch, the end) or due: look again */
		}
		sv->alert_poked = 0;
		pthread_mutex_unlock(&sv->alert_mu);
		struct alert_totals t;
		char err[512];
		if (alert_run(sv->cfg, sv->store, 0, alert_stop, sv, &t, err, sizeof err) != 0)
			dm_log(DM_LOG_ERROR, "alert", "%s", err);
		else if (t.opened || t.resolved || t.digests || t.sent || t.retried || t.given_up)
			dm_log(DM_LOG_INFO, "alert",
			       "%u opened, %u resolved, %u open; %u digests; %u sent, %u to try again,"
			       " %u given up",
			       t.opened, t.resolved, t.open, t.digests, t.sent, t.retried, t.given_up);
		pthread_mutex_lock(&sv->alert_mu);
		last = time(NULL);
	}
	pthread_mutex_unlock(&sv->alert_mu);
	return NULL;
}

/* Is serve stopping?  (alert_run's stop: asked between domains.) */
/* Reports were stored: the alert thread runs the rules soon. */
static void
alert_poke(struct serve *sv)
{
	pthread_mutex_lock(&sv->alert_mu); /* initialised before any worker starts */
	if (!sv->alert_poked) {
		sv->alert_poked = 1;
		pthread_cond_signal(&sv->alert_cv);
	}
	pthread_mutex_unlock(&sv->alert_mu);
}

/* ---- workers ------------------------------------------------------------------ */

static int64_t
worker_account(void *arg, const char *policy_domain)
{
	struct worker *w = arg;

	if (policy_domain == NULL || w->reg == NULL)
		return 0;
	return registry_account_for(w->reg->reg, w->rcpt, w->nrcpt, policy_domain);
}

/* Report fields come from the sender: escaped and cut short for the log. */
static const char *
esc(char *out, size_t outlen, const char *s)
{
	if (s == NULL)
		return "-";
	dm_log_escape(out, outlen, s, strlen(s));
	return out;
}

static void
worker_result(void *arg, const struct ingest_result *r)
{
	struct worker *w = arg;
	char id[128], org[128], dom[128], why[DM_MAX_ERROR_LEN];

	if (strcmp(r->status, "stored") == 0 || strcmp(r->status, "duplicate") == 0) {
		w->ok++;
		if (r->status[0] == 's') {
			w->stored++;
			dm_metric_add(DM_M_REPORTS_STORED, 1);
			dm_metric_add(DM_M_RECORDS_STORED, (int64_t)r->records);
		} else {
			dm_metric_add(DM_M_REPORTS_DUPLICATE, 1);
		}
		dm_log(DM_LOG_INFO, "worker", "%s: %s %s report %s from %s for %s, %llu records",
		       w->id, r->status, r->kind, esc(id, sizeof id, r->report_id),
		       esc(org, sizeof org, r->org_name), esc(dom, sizeof dom, r->policy_domain),
		       (unsigned long long)r->records);
		return;
	}
	if (strcmp(r->status, "ignored") == 0) {
		/* recognised, counted, nothing to keep: not a failure of ours */
		w->ok++;
		dm_metric_add(DM_M_REPORTS_IGNORED, 1);
		dm_log(DM_LOG_INFO, "worker", "%s: ignored %s: %s", w->id, r->kind,
		       esc(why, sizeof why, r->error != NULL ? r->error : "-"));
		return;
	}
	dm_metric_add(strcmp(r->status, "empty") == 0 ? DM_M_REPORTS_EMPTY
						     : dm_metric_reject_reason(r->kind, r->error),
		      1);
	esc(why, sizeof why, r->error != NULL ? r->error : r->status);
	if (w->bad++ == 0)
		snprintf(w->why, sizeof w->why, "%s: %s (%s)", r->input, why, r->kind);
	dm_log(DM_LOG_WARN, "worker", "%s: %s %s: %s", w->id, r->status, r->kind, why);
}

/* Wall-clock seconds (spool files carry wall-clock times). */
static double
now_real(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1e3 + (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

/* Make the processed entries' reports durable, then forget the entries.
 * An entry whose batch did not commit (this sync failed, or an earlier
 * sync by another worker did) goes back to new/ to be processed again;
 * what was stored after all then comes out as a duplicate. */
static int
worker_sync(struct worker *w)
{
	struct serve *sv = w->sv;
	uint64_t durable, failed;
	unsigned again = 0;
	char why[256] = "";
	int rc;

	if (w->ndone == 0)
		return 0;
	rc = store_sync(sv->store, why, sizeof why);
	if (rc == 0 && (rc = archive_sync(sv->archive)) != 0)
		snprintf(why, sizeof why, "archive: %s", dm_strerror(rc));
	durable = store_durable(sv->store);
	failed = store_failed(sv->store);
	for (unsigned i = 0; i < w->ndone; i++) {
		uint64_t b = w->done_batch[i];
		int keep = rc == 0 && (b == 0 || (b <= durable && b > failed));
		int r = keep ? spool_done(sv->spool, w->done[i])
		             : spool_release(sv->spool, w->done[i]);

		if (keep && r == 0)
			dm_metric_latency(now_real() - w->done_since[i]);
		again += !keep;
		if (r != 0)
			dm_log(DM_LOG_ERROR, "worker", "%s: cannot %s the spool entry: %s",
			       w->done[i], keep ? "delete" : "release", dm_strerror(r));
	}
	if (again > 0)
		dm_log(DM_LOG_ERROR, "worker",
		       "store sync failed (%s): %u message(s) will be processed again",
		       rc != 0 ? why : "an earlier batch was not committed", again);
	else if (rc == 0)
		alert_poke(sv);
	w->ndone = 0;
	return rc != 0 ? rc : again > 0 ? DM_ESTORE : 0;
}

static void
worker_wait(struct serve *sv, unsigned ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sv->mu);
	if (!sv->quit)
		pthread_cond_timedwait(&sv->cv, &sv->mu, &until);
	pthread_mutex_unlock(&sv->mu);
}

static int
quitting(struct serve *sv)
{
	int q;

	pthread_mutex_lock(&sv->mu);
	q = sv->quit;
	pthread_mutex_unlock(&sv->mu);
	return q;
}

/* Process one claimed entry.  Returns 0, or a negative code when our own
 * side failed (the entry was given back). */
static int
worker_one(struct worker *w, int fd)
{
	struct serve *sv = w->sv;
	int rc;

	struct stat st;
	/* the time the 250 was given: the spool file was last written then */
	double arrived = fstat(fd, &st) == 0
	                         ? (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9
	                         : now_real();

	w->ok = w->stored = w->bad = 0;
	w->why[0] = '\0';
	w->nrcpt = 0;
	if (spool_envelope_read(fd, &w->env) == 0) {
		w->nrcpt = w->env.nrcpt < 16 ? w->env.nrcpt : 16;
		for (size_t i = 0; i < w->nrcpt; i++)
			w->rcpt[i] = w->env.rcpt[i];
	}
	w->reg = reg_hold(sv);
	/* env is zeroed when the entry has no envelope: nothing is ours */
	rc = ingest_fd(w->job, fd, w->id, w->env.header_bytes);
	reg_release(sv, w->reg);
	w->reg = NULL;
	if (rc < 0) {
		int r = spool_release(sv->spool, w->id);
		const char *why = ingest_job_error(w->job);

		if (!*why)
			why = dm_strerror(rc);
		if (w->why[0]) /* "ID: what went wrong (kind)" */
			dm_log(DM_LOG_ERROR, "worker", "%s [%s]; the message stays in the spool",
			       w->why, why);
		else
			dm_log(DM_LOG_ERROR, "worker", "%s: %s; the message stays in the spool",
			       w->id, why);
		if (r != 0)
			dm_log(DM_LOG_ERROR, "worker", "%s: cannot release: %s", w->id,
			       dm_strerror(r));
		return rc;
	}
	if (w->bad > 0 || w->ok == 0) {
		char why[DM_MAX_ERROR_LEN + 192];

		if (w->bad > 1)
			snprintf(why, sizeof why, "%s; and %u more", w->why, w->bad - 1);
		else
			snprintf(why, sizeof why, "%s", w->why[0] ? w->why : "no report found");
		rc = spool_fail(sv->spool, w->id, why);
		if (rc != 0)
			dm_log(DM_LOG_ERROR, "worker", "%s: cannot move to failed/: %s", w->id,
			       dm_strerror(rc));
		else
			dm_log(DM_LOG_WARN, "worker", "%s: moved to spool/failed: %s", w->id, why);
		return 0;
	}
	if (w->ndone == 0)
		clock_gettime(CLOCK_MONOTONIC, &w->first_done);
	w->done_batch[w->ndone] = w->stored > 0 ? store_last_batch() : 0;
	w->done_since[w->ndone] = arrived;
	memcpy(w->done[w->ndone++], w->id, SPOOL_ID_MAX);
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct serve *sv = w->sv;
	unsigned backoff = 0;

	while (!quitting(sv)) {
		int fd = -1, rc;

		if (w->ndone >= SERVE_DONE_MAX ||
		    (w->ndone > 0 && ms_since(&w->first_done) >= SERVE_DONE_MS))
			(void)worker_sync(w);
		rc = spool_claim(sv->spool, w->id, &fd);
		if (rc == DM_ENOTFOUND) {
			(void)worker_sync(w);
			worker_wait(sv, 1000);
			continue;
		}
		if (rc != 0) {
			dm_log(DM_LOG_ERROR, "worker", "spool: %s", dm_strerror(rc));
			worker_wait(sv, 1000);
			continue;
		}
		rc = worker_one(w, fd);
		close(fd);
		if (rc < 0) {
			(void)worker_sync(w);
			backoff = backoff == 0 ? 1 : backoff * 2;
			if (backoff > SERVE_BACKOFF_MAX)
				backoff = SERVE_BACKOFF_MAX;
			dm_log(DM_LOG_WARN, "worker", "retrying in %u s", backoff);
			worker_wait(sv, backoff * 1000);
		} else {
			backoff = 0;
		}
	}
	(void)worker_sync(w);
	return NULL;
}

/* ---- loop events ----------------------------------------------------------- */

static void
on_stop_tick(evutil_socket_t fd, short what, void *arg)
{
	struct serve *sv = arg;

	(void)fd;
	(void)what;
	if (sv->smtp_done || time(NULL) >= sv->stop_deadline)
		event_base_loopexit(sv->base, NULL);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct serve *sv = arg;
	struct timeval tv = {0, 100000};

	(void)what;
	if (sv->ev_stop != NULL)
		return;
	dm_log(DM_LOG_NOTICE, "serve", "signal %d, stopping", (int)sig);
	sv->stop_deadline = time(NULL) + SERVE_STOP_SECONDS;
	smtp_server_shutdown(sv->smtp, &sv->smtp_done);
	sv->ev_stop = event_new(sv->base, -1, EV_PERSIST, on_stop_tick, sv);
	event_add(sv->ev_stop, &tv);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct serve *sv = arg;

	(void)sig;
	(void)what;
	if (sv->cfg->log_file[0] && dm_log_reopen(sv->cfg->log_file) != 0)
		dm_log(DM_LOG_ERROR, "serve", "cannot reopen %s; logging on where it was",
		       sv->cfg->log_file);
	pthread_mutex_lock(&sv->reg_mu);
	sv->reg_reload = 1;
	pthread_cond_signal(&sv->reg_cv);
	pthread_mutex_unlock(&sv->reg_mu);
}

/* One server per data folder: a second one would return the first one's
 * claimed spool entries to new/ and process them twice.  The lock goes
 * with the process, also on kill -9. */
static int
serve_lock(struct serve *sv, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (dm_mkdir_p(sv->cfg->data_dir, 0750) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", sv->cfg->data_dir, strerror(errno));
		return DM_EIO;
	}
	snprintf(path, sizeof path, "%s/serve.lock", sv->cfg->data_dir);
	sv->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (sv->lock_fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return DM_EIO;
	}
	if (flock(sv->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "another dmarcd serve is running on %s (%s is locked)",
		         sv->cfg->data_dir, path);
		return DM_EBUSY;
	}
	return 0;
}

/* Each session is a socket: let the soft descriptor limit reach the hard
 * one, so smtp_max_sessions is the limit that counts. */
static void
raise_fd_limit(const struct dm_config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)dm_config_int(cfg->smtp_max_sessions) + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		dm_log(DM_LOG_WARN, "serve",
		       "open file limit %llu is below smtp_max_sessions + 256 = %llu",
		       (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

/* ---- run ------------------------------------------------------------------------ */

int
serve_run(const struct serve_options *o, char *err, size_t errlen)
{
	struct serve sv;
	struct smtp_config sc;
	struct smtp_hooks hooks;
	struct ingest_env env;
	struct worker *workers = NULL;
	char host[256];
	unsigned returned = 0, nnew = 0, ncur = 0, nfailed = 0;
	int rc = 0;

	memset(&sv, 0, sizeof sv);
	sv.lock_fd = -1;
	sv.o = o;
	sv.cfg = o->cfg;
	pthread_mutex_init(&sv.mu, NULL);
	pthread_cond_init(&sv.cv, NULL);
	pthread_mutex_init(&sv.reg_mu, NULL);
	pthread_cond_init(&sv.reg_cv, NULL);
	pthread_mutex_init(&sv.fill_mu, NULL);
	pthread_cond_init(&sv.fill_cv, NULL);
	pthread_mutex_init(&sv.prune_mu, NULL);
	pthread_cond_init(&sv.prune_cv, NULL);
	pthread_mutex_init(&sv.fetch_mu, NULL);
	pthread_cond_init(&sv.fetch_cv, NULL);
	pthread_mutex_init(&sv.alert_mu, NULL);
	pthread_cond_init(&sv.alert_cv, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(sv.cfg);

	if (evthread_use_pthreads() != 0 || (sv.base = event_base_new()) == NULL) {
		snprintf(err, errlen, "cannot set up the event loop");
		rc = DM_EIO;
		goto out;
	}
	if ((rc = serve_lock(&sv, err, errlen)) != 0)
		goto out;
	if ((rc = spool_open(&sv.spool, sv.cfg->data_dir, err, errlen)) != 0)
		goto out;
	if ((rc = spool_recover(sv.spool, &returned)) != 0) {
		snprintf(err, errlen, "spool: cannot recover claimed entries: %s", dm_strerror(rc));
		goto out;
	}
	sv.store = store_open_config(sv.cfg, err, errlen);
	if (sv.store == NULL) {
		rc = DM_ESTORE;
		goto out;
	}
	sv.archive = archive_open(sv.cfg, 0, err, errlen);
	if (sv.archive == NULL) {
		rc = DM_EIO;
		goto out;
	}
	if ((rc = reg_load(&sv, err, errlen)) != 0)
		goto out;
	if (pthread_create(&sv.reg_thr, NULL, reg_main, &sv) != 0) {
		snprintf(err, errlen, "cannot start the registry thread");
		rc = DM_EIO;
		goto out;
	}
	sv.reg_thr_started = 1;

	if (sv.cfg->hostname[0])
		snprintf(host, sizeof host, "%s", sv.cfg->hostname);
	else if (gethostname(host, sizeof host) != 0 || !host[0])
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	memset(&sc, 0, sizeof sc);
	sc.hostname = host;
	sc.max_size = (uint64_t)dm_config_int(sv.cfg->smtp_max_size);
	sc.max_rcpt = (unsigned)dm_config_int(sv.cfg->smtp_max_rcpt);
	sc.max_errors = (unsigned)dm_config_int(sv.cfg->smtp_max_errors);
	sc.timeout = (unsigned)dm_config_int(sv.cfg->smtp_timeout);
	sc.data_timeout = (unsigned)dm_config_int(sv.cfg->smtp_data_timeout);
	sc.max_sessions = (unsigned)dm_config_int(sv.cfg->smtp_max_sessions);
	sc.max_per_ip = (unsigned)dm_config_int(sv.cfg->smtp_max_per_ip);
	sc.tls_cert = sv.cfg->tls_cert;
	sc.tls_key = sv.cfg->tls_key;
	if ((sc.tls_cert[0] != '\0') != (sc.tls_key[0] != '\0')) {
		snprintf(err, errlen, "tls_cert and tls_key must be set together");
		rc = DM_EUSAGE;
		goto out;
	}
	hooks.rcpt = hook_rcpt;
	hooks.spooled = hook_spooled;
	hooks.arg = &sv;
	sv.smtp = smtp_server_new(sv.base, &sc, sv.spool, &hooks, err, errlen);
	if (sv.smtp == NULL) {
		rc = DM_EUSAGE;
		goto out;
	}
	for (size_t i = 0; i < o->nsmtp; i++) {
		char e[256];

		if ((rc = smtp_server_listen(sv.smtp, o->smtp[i], e, sizeof e)) != 0) {
			snprintf(err, errlen, "smtp %s: %s", o->smtp[i], e);
			goto out;
		}
		fprintf(stderr, "dmarcd: serve: smtp listening on %s\n", o->smtp[i]);
	}
	if (o->lmtp != NULL) {
		char e[256];

		if ((rc = smtp_server_listen_lmtp(sv.smtp, o->lmtp, e, sizeof e)) != 0) {
			snprintf(err, errlen, "lmtp %s: %s", o->lmtp, e);
			goto out;
		}
		fprintf(stderr, "dmarcd: serve: lmtp listening on %s\n", o->lmtp);
	}

	/* workers; tmp/ holds what a worker keeps aside (records that came
	 * before their report's metadata) and the API's uploads */
	snprintf(sv.tmp_dir, sizeof sv.tmp_dir, "%s/tmp", sv.cfg->data_dir);
	if (dm_mkdir_p(sv.tmp_dir, 0750) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", sv.tmp_dir, strerror(errno));
		rc = DM_EIO;
		goto out;
	}
	{
		char note[1024], why[512];
		sv.enrich = dm_enrich_from_config(sv.cfg, note, sizeof note, why, sizeof why);
		if (!sv.enrich && why[0]) {
			snprintf(err, errlen, "enrichment: %s (enrich = off stores without it)", why);
			rc = DM_EUSAGE;
			goto out;
		}
		if (sv.enrich) {
			char what[256];
			dm_enrich_describe(sv.enrich, what, sizeof what);
			dm_log(DM_LOG_INFO, "serve", "enrichment: %s%s%s", what, note[0] ? "; " : "",
			       note);
		}
	}
	memset(&env, 0, sizeof env);
	env.enrich = sv.enrich;
	env.store = sv.store;
	env.archive = sv.archive;
	env.tmp_dir = sv.tmp_dir;
	env.data_dir = sv.cfg->data_dir;
	env.failure_redact = sv.cfg->failure_redact;
	env.direct = o->workers == 1;
	env.on_result = worker_result;
	env.account_for = worker_account;
	workers = xcalloc(o->workers, sizeof *workers);
	sv.thr = xcalloc(o->workers, sizeof *sv.thr);
	for (unsigned i = 0; i < o->workers; i++) {
		struct worker *w = &workers[i];

		w->sv = &sv;
		w->idx = i;
		w->done = xcalloc(SERVE_DONE_MAX, sizeof *w->done);
		w->done_batch = xcalloc(SERVE_DONE_MAX, sizeof *w->done_batch);
		w->done_since = xcalloc(SERVE_DONE_MAX, sizeof *w->done_since);
		env.arg = w;
		w->job = ingest_job_new(&env);
		if (pthread_create(&sv.thr[i], NULL, worker_main, w) != 0) {
			snprintf(err, errlen, "cannot start worker %u", i);
			rc = DM_EIO;
			goto out;
		}
		sv.nthr++;
	}
	if (sv.enrich && dm_enrich_rdns(sv.enrich) && dm_config_int(sv.cfg->enrich_fill_seconds) > 0) {
		if (pthread_create(&sv.fill_thr, NULL, fill_main, &sv) == 0)
			sv.fill_thr_started = 1;
		else
			dm_log(DM_LOG_WARN, "serve", "cannot start the enrichment fill thread");
	}
	int retention = 0;
	for (unsigned i = 0; i < sv.cfg->naccounts; i++)
		retention |= dm_config_int(sv.cfg->accounts[i].retention_days) > 0;
	if (retention && dm_config_int(sv.cfg->prune_interval) > 0) {
		if (pthread_create(&sv.prune_thr, NULL, prune_main, &sv) == 0)
			sv.prune_thr_started = 1;
		else
			dm_log(DM_LOG_WARN, "serve", "cannot start the prune thread");
	}

	if (sv.cfg->nfetch > 0) {
		if (fetch_global_init() != 0) {
			snprintf(err, errlen, "fetch: cannot start libcurl");
			rc = DM_EIO;
			goto out;
		}
		if (pthread_create(&sv.fetch_thr, NULL, fetch_main, &sv) != 0) {
			snprintf(err, errlen, "cannot start the fetch thread");
			rc = DM_EIO;
			goto out;
		}
		sv.fetch_thr_started = 1;
		for (unsigned i = 0; i < sv.cfg->nfetch; i++)
			fprintf(stderr, "dmarcd: serve: fetching %s every %s s\n",
			        sv.cfg->fetch[i].url, sv.cfg->fetch[i].interval);
	}

	if (strcmp(sv.cfg->alerts, "on") == 0) {
		if (pthread_create(&sv.alert_thr, NULL, alert_main, &sv) != 0)
			dm_log(DM_LOG_WARN, "serve", "cannot start the alert thread");
		else
			sv.alert_thr_started = 1;
	}

	if (o->nhttp > 0) {
		struct http_config hc = {
			.listen = o->http,
			.nlisten = o->nhttp,
			.web_dir = sv.cfg->web_dir,
			.tmp_dir = sv.tmp_dir,
			.data_dir = sv.cfg->data_dir,
			.failure_redact = sv.cfg->failure_redact,
			.threads = (unsigned)dm_config_int(sv.cfg->http_threads),
			.max_conns = (unsigned)dm_config_int(sv.cfg->http_max_conns),
			.max_per_ip = (unsigned)dm_config_int(sv.cfg->http_max_per_ip),
			.timeout = (unsigned)dm_config_int(sv.cfg->http_timeout),
			.store = sv.store,
			.services = dm_enrich_services(sv.enrich),
			.resolver = sv.cfg->resolver,
			.dns_timeout_ms = (int)dm_config_int(sv.cfg->dns_timeout_ms),
			.archive = sv.archive,
		};
		struct http_hooks hh = {
			.auth = hook_auth,
			.upload_account = hook_upload_account,
			.domain_addresses = hook_domain_addresses,
			.metrics = hook_metrics,
			.arg = &sv,
		};
		sv.http = http_server_start(&hc, &hh, err, errlen);
		if (sv.http == NULL) {
			rc = DM_EUSAGE;
			goto out;
		}
		for (size_t i = 0; i < o->nhttp; i++)
			fprintf(stderr, "dmarcd: serve: http listening on %s\n", o->http[i]);
	}

	sv.ev_term = evsignal_new(sv.base, SIGTERM, on_term, &sv);
	sv.ev_int = evsignal_new(sv.base, SIGINT, on_term, &sv);
	sv.ev_hup = evsignal_new(sv.base, SIGHUP, on_hup, &sv);
	if (!sv.ev_term || !sv.ev_int || !sv.ev_hup || event_add(sv.ev_term, NULL) ||
	    event_add(sv.ev_int, NULL) || event_add(sv.ev_hup, NULL)) {
		snprintf(err, errlen, "cannot set up signal handling");
		rc = DM_EIO;
		goto out;
	}
	if (spool_count(sv.spool, &nnew, &ncur, &nfailed) != 0)
		nnew = nfailed = 0;
	dm_log(DM_LOG_NOTICE, "serve",
	       "ready (%u worker%s; spool: %u waiting, %u returned after a crash, %u failed)",
	       o->workers, o->workers == 1 ? "" : "s", nnew, returned, nfailed);
	fflush(stderr);
	if (sv.cfg->log_file[0]) {
		if ((rc = dm_log_reopen(sv.cfg->log_file)) != 0) {
			snprintf(err, errlen, "log_file %s: %s", sv.cfg->log_file, dm_strerror(rc));
			goto out;
		}
		dm_log(DM_LOG_NOTICE, "serve", "ready (%u workers), logging here", o->workers);
		fflush(stderr);
	}
	event_base_dispatch(sv.base);
	dm_log(DM_LOG_NOTICE, "serve", "stopped accepting; finishing the workers");

out:
	http_server_stop(sv.http); /* its uploads use the store: before it closes */
	if (sv.reg_thr_started) {
		pthread_mutex_lock(&sv.reg_mu);
		sv.reg_quit = 1;
		pthread_cond_signal(&sv.reg_cv);
		pthread_mutex_unlock(&sv.reg_mu);
		pthread_join(sv.reg_thr, NULL);
	}
	if (sv.alert_thr_started) {
		pthread_mutex_lock(&sv.alert_mu);
		sv.alert_quit = 1;
		pthread_cond_signal(&sv.alert_cv);
		pthread_mutex_unlock(&sv.alert_mu);
		pthread_join(sv.alert_thr, NULL);
	}
	if (sv.fetch_thr_started) {
		pthread_mutex_lock(&sv.fetch_mu);
		sv.fetch_quit = 1;
		pthread_cond_signal(&sv.fetch_cv);
		pthread_mutex_unlock(&sv.fetch_mu);
		pthread_join(sv.fetch_thr, NULL);
	}
	if (sv.prune_thr_started) {
		pthread_mutex_lock(&sv.prune_mu);
		sv.prune_quit = 1;
		pthread_cond_signal(&sv.prune_cv);
		pthread_mutex_unlock(&sv.prune_mu);
		pthread_join(sv.prune_thr, NULL);
	}
	if (sv.fill_thr_started) {
		pthread_mutex_lock(&sv.fill_mu);
		sv.fill_quit = 1;
		pthread_cond_signal(&sv.fill_cv);
		pthread_mutex_unlock(&sv.fill_mu);
		pthread_join(sv.fill_thr, NULL);
	}
	pthread_mutex_lock(&sv.mu);
	sv.quit = 1;
	pthread_cond_broadcast(&sv.cv);
	pthread_mutex_unlock(&sv.mu);
	for (unsigned i = 0; i < sv.nthr; i++)
		pthread_join(sv.thr[i], NULL);
	if (workers != NULL) {
		for (unsigned i = 0; i < o->workers; i++) {
			ingest_job_free(workers[i].job);
			free(workers[i].done);
			free(workers[i].done_batch);
			free(workers[i].done_since);
		}
		free(workers);
	}
	free(sv.thr);
	smtp_server_free(sv.smtp);
	if (sv.store != NULL) {
		char why[256];
		int r = store_sync(sv.store, why, sizeof why);

		if (r != 0 && rc == 0) {
			snprintf(err, errlen, "store: %s", why);
			rc = r;
		}
		store_close(sv.store);
	}
	dm_enrich_shared_free(sv.enrich); /* after the store: its batch points into it */
	if (sv.archive != NULL)
		archive_close(sv.archive);
	if (sv.reg != NULL)
		reg_release(&sv, sv.reg);
	if (sv.ev_term)
		event_free(sv.ev_term);
	if (sv.ev_int)
		event_free(sv.ev_int);
	if (sv.ev_hup)
		event_free(sv.ev_hup);
	if (sv.ev_stop)
		event_free(sv.ev_stop);
	spool_close(sv.spool);
	if (sv.base != NULL)
		event_base_free(sv.base);
	pthread_mutex_destroy(&sv.mu);
	pthread_cond_destroy(&sv.cv);
	pthread_mutex_destroy(&sv.reg_mu);
	pthread_cond_destroy(&sv.reg_cv);
	pthread_mutex_destroy(&sv.fetch_mu);
	pthread_cond_destroy(&sv.fetch_cv);
	pthread_mutex_destroy(&sv.prune_mu);
	pthread_cond_destroy(&sv.prune_cv);
	if (sv.lock_fd >= 0)
		close(sv.lock_fd);
	return rc;
}
