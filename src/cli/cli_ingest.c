/*
 * cli_ingest.c - `dmarcd ingest [--json] [--jobs N] PATH...`
 *
 * Functions: cli_ingest.
 *
 * Walks the paths (files, folders recursively in name order, "-" for
 * stdin), hands every file to an ingest job (--jobs N worker threads
 * sharing one store and one archive), prints one line per report (JSON
 * with --json) and a summary on stderr.  The archive is synced once at the
 * end (syncfs) instead of once per file.
 *
 * Exit: 0 nothing rejected, 1 something rejected, 2 usage, configuration
 * or storage failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "enrich/enrich.h"
#include "ingest/ingest.h"
#include "registry/registry.h"

enum { KEY_JSON = 1, KEY_JOBS, KEY_ACCOUNT };

const struct cli_opt cli_ingest_opts[] = {
	{"json", 0, KEY_JSON, NULL, "one JSON object per line per report"},
	{"jobs", 1, KEY_JOBS, "N", "worker threads (default 1)"},
	{"account", 1, KEY_ACCOUNT, "NAME",
	 "store the reports for this account (default: unclaimed, seen by the admin)"},
	{NULL, 0, 0, NULL, NULL},
};

/* A result kept until its report's batch is committed: "stored" is only
 * printed once it is true. */
struct held {
	struct ingest_result r;
	uint64_t batch; /* 0: nothing to wait for */
	char *strings[7];
	char **warnings;
};

struct run {
	int json;
	int jobs;
	const char *account;
	struct ingest_env env;
	pthread_mutex_t out_lock;
	/* totals, under out_lock */
	uint64_t files, stored, duplicates, rejected, empty, ignored, records, messages;
	int fatal;                /* the first failure of our own side, and why */
	char why[DM_MAX_ERROR_LEN];
	int progress;
	struct store *store;
	struct held *held;
	size_t nheld, capheld;
	struct timespec t0, last_progress;
	/* the work queue (jobs > 1) */
	pthread_mutex_t q_lock;
	pthread_cond_t q_nonempty, q_nonfull;
	char *queue[256];
	unsigned q_head, q_len;
	int q_closed;
};

static double
since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
print_result(struct run *run, const struct ingest_result *r)
{
	struct dm_buf b;
	dm_buf_init(&b, 1024 * 1024);
	if (run->json) {
		struct dm_json j;
		dm_json_init(&j, &b);
		ingest_result_json(&j, r);
		if (j.rc == 0)
			j.rc = dm_buf_addc(&b, '\n');
	} else {
		/* report text can hold terminal escapes: shown escaped and cut */
		char in[512], org[256], dom[256], id[256], err[700];
		dm_log_escape(in, sizeof in, r->input, strlen(r->input));
		int rc = dm_buf_printf(&b, "%s: %s %s", in, r->status, r->kind);
		if (rc == 0 && r->org_name) {
			dm_log_escape(org, sizeof org, r->org_name, strlen(r->org_name));
			rc = dm_buf_printf(&b, " from %s", org);
		}
		if (rc == 0 && r->policy_domain) {
			dm_log_escape(dom, sizeof dom, r->policy_domain, strlen(r->policy_domain));
			rc = dm_buf_printf(&b, " for %s", dom);
		}
		if (rc == 0 && r->report_id) {
			dm_log_escape(id, sizeof id, r->report_id, strlen(r->report_id));
			rc = dm_buf_printf(&b, " id %s", id);
		}
		if (rc == 0 && (r->records || r->messages))
			rc = dm_buf_printf(&b, ", %" PRIu64 " records, %" PRIu64 " messages",
					   r->records, r->messages);
		if (rc == 0 && r->error) {
			dm_log_escape(err, sizeof err, r->error, strlen(r->error));
			rc = dm_buf_printf(&b, ": %s", err);
		}
		for (unsigned i = 0; rc == 0 && i < r->nwarnings; i++) {
			dm_log_escape(err, sizeof err, r->warnings[i], strlen(r->warnings[i]));
			rc = dm_buf_printf(&b, "\n  warning: %s", err);
		}
		if (rc == 0)
			rc = dm_buf_addc(&b, '\n');
		(void)rc; /* a line cut short by the 1 MiB cap is still printed */
	}
	fwrite(b.data, 1, b.len, stdout);
	dm_buf_free(&b);
}

static void
progress(struct run *run, int final)
{
	if (!run->progress)
		return;
	if (!final && since(&run->last_progress) < 0.2)
		return;
	clock_gettime(CLOCK_MONOTONIC, &run->last_progress);
	fprintf(stderr, "\r\033[K[%6.1fs] %" PRIu64 " files, %" PRIu64 " stored, %" PRIu64
			" duplicates, %" PRIu64 " rejected, %" PRIu64 " records",
		since(&run->t0), run->files, run->stored, run->duplicates, run->rejected,
		run->records);
	if (final)
		fprintf(stderr, "\r\033[K");
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Print (and count) one result. */
static void
release(struct run *run, const struct ingest_result *r)
{
	if (strcmp(r->status, "stored") == 0) {
		run->stored++;
		run->records += r->records;
		run->messages += r->messages;
	} else if (strcmp(r->status, "duplicate") == 0) {
		run->duplicates++;
	} else if (strcmp(r->status, "rejected") == 0) {
		run->rejected++;
	} else if (strcmp(r->status, "ignored") == 0) {
		run->ignored++;
	} else {
		run->empty++;
	}
	print_result(run, r);
	progress(run, 0);
}

static void
held_free(struct held *h)
{
	for (int i = 0; i < 7; i++)
		free(h->strings[i]);
	for (unsigned i = 0; i < h->r.nwarnings; i++)
		free(h->warnings[i]);
	free(h->warnings);
}

/*
 * Print the held results, in order, up to the first whose batch is not
 * committed.  With lost set (the store failed), the rest are printed too,
 * "stored" turned into "rejected": their batch will never be committed.
 */
static void
release_held(struct run *run, int lost, const char *why)
{
	uint64_t durable = store_durable(run->store);
	size_t i = 0;
	for (; i < run->nheld; i++) {
		struct held *h = &run->held[i];
		if (h->batch > durable) {
			if (!lost)
				break;
			if (strcmp(h->r.status, "stored") == 0) {
				h->r.status = "rejected";
				h->r.error = why;
				h->r.records = h->r.messages = 0;
			}
		}
		release(run, &h->r);
		held_free(h);
	}
	memmove(run->held, run->held + i, (run->nheld - i) * sizeof *run->held);
	run->nheld -= i;
}

static void
on_result(void *arg, const struct ingest_result *r)
{
	struct run *run = arg;
	pthread_mutex_lock(&run->out_lock);
	if (run->nheld == run->capheld) {
		run->capheld = run->capheld ? 2 * run->capheld : 256;
		run->held = xrealloc(run->held, run->capheld * sizeof *run->held);
	}
	struct held *h = &run->held[run->nheld++];
	memset(h, 0, sizeof *h);
	h->r = *r;
	h->batch = strcmp(r->status, "stored") == 0 ? store_last_batch() : 0;
	const char *src[7] = {r->input,	      r->org_name,    r->report_id, r->policy_domain,
			      r->archive_key, r->error,	      NULL};
	char **dst[7] = {(char **)&h->r.input,	     (char **)&h->r.org_name,
			 (char **)&h->r.report_id,   (char **)&h->r.policy_domain,
			 (char **)&h->r.archive_key, (char **)&h->r.error,
			 NULL};
	for (int i = 0; i < 6; i++)
		*dst[i] = h->strings[i] = dup_or_null(src[i]);
	if (r->nwarnings) {
		h->warnings = xcalloc(r->nwarnings, sizeof *h->warnings);
		for (unsigned i = 0; i < r->nwarnings; i++)
			h->warnings[i] = xstrdup(r->warnings[i]);
		h->r.warnings = (const char *const *)h->warnings;
	}
	release_held(run, 0, NULL);
	pthread_mutex_unlock(&run->out_lock);
}

static int
ingest_one(struct run *run, struct ingest_job *job, const char *path)
{
	int rc;
	struct stat st;
	if (strcmp(path, "-") == 0) {
		rc = ingest_stream(job, 0, "-");
	} else if (stat(path, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
		/* a pipe such as <(zcat reports.gz): copied like stdin */
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		rc = fd < 0 ? ingest_path(job, path, path) : ingest_stream(job, fd, path);
		if (fd >= 0)
			close(fd);
	} else {
		rc = ingest_path(job, path, path);
	}
	pthread_mutex_lock(&run->out_lock);
	run->files++;
	if (rc && !run->fatal) {
		run->fatal = rc;
		snprintf(run->why, sizeof run->why, "%s", ingest_job_error(job));
	}
	progress(run, 0); /* reports show up as their batches commit */
	pthread_mutex_unlock(&run->out_lock);
	return rc;
}

/* Has a job failed on our side (stop walking, stop taking files)? */
static int
stopped(struct run *run)
{
	pthread_mutex_lock(&run->out_lock);
	int fatal = run->fatal;
	pthread_mutex_unlock(&run->out_lock);
	return fatal;
}

/* ---- the work queue ------------------------------------------------------ */

static void
queue_push(struct run *run, const char *path)
{
	pthread_mutex_lock(&run->q_lock);
	while (run->q_len == sizeof run->queue / sizeof run->queue[0])
		pthread_cond_wait(&run->q_nonfull, &run->q_lock);
	unsigned cap = sizeof run->queue / sizeof run->queue[0];
	run->queue[(run->q_head + run->q_len) % cap] = xstrdup(path);
	run->q_len++;
	pthread_cond_signal(&run->q_nonempty);
	pthread_mutex_unlock(&run->q_lock);
}

static char *
queue_pop(struct run *run)
{
	unsigned cap = sizeof run->queue / sizeof run->queue[0];
	pthread_mutex_lock(&run->q_lock);
	while (run->q_len == 0 && !run->q_closed)
		pthread_cond_wait(&run->q_nonempty, &run->q_lock);
	char *p = NULL;
	if (run->q_len) {
		p = run->queue[run->q_head];
		run->q_head = (run->q_head + 1) % cap;
		run->q_len--;
		pthread_cond_signal(&run->q_nonfull);
	}
	pthread_mutex_unlock(&run->q_lock);
	return p;
}

static void *
worker(void *arg)
{
	struct run *run = arg;
	struct ingest_job *job = ingest_job_new(&run->env);
	char *path;
	while ((path = queue_pop(run))) {
		if (!stopped(run))
			(void)ingest_one(run, job, path);
		free(path);
	}
	ingest_job_free(job);
	return NULL;
}

/* ---- walking ------------------------------------------------------------- */

struct walker {
	struct run *run;
	struct ingest_job *job; /* jobs == 1: process inline */
	/* folders entered so far (device, inode): a symlink loop or a folder
	 * named twice is walked once */
	struct dir_id {
		dev_t dev;
		ino_t ino;
	} *seen;
	size_t nseen, capseen;
};

static int
seen_before(struct walker *w, const struct stat *st)
{
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
			return 1;
	if (w->nseen == w->capseen) {
		w->capseen = w->capseen ? w->capseen * 2 : 64;
		w->seen = xrealloc(w->seen, w->capseen * sizeof *w->seen);
	}
	w->seen[w->nseen].dev = st->st_dev;
	w->seen[w->nseen].ino = st->st_ino;
	w->nseen++;
	return 0;
}

static void
submit(struct walker *w, const char *path)
{
	if (w->job)
		(void)ingest_one(w->run, w->job, path);
	else
		queue_push(w->run, path);
}

static int
skip_name(const struct dirent *e)
{
	return e->d_name[0] != '.'; /* hidden files, ".", ".." */
}

static void
walk(struct walker *w, const char *path, int depth)
{
	struct stat st;
	if (stopped(w->run))
		return;
	int ok = strcmp(path, "-") != 0 && stat(path, &st) == 0;
	if (!ok || !S_ISDIR(st.st_mode)) {
		/* named inputs always (errors are reported by the job); inside
		 * folders only regular files, not sockets or dangling links */
		if (depth == 0 || (ok && S_ISREG(st.st_mode)))
			submit(w, path);
		return;
	}
	if (seen_before(w, &st))
		return;
	if (depth >= DM_MAX_DIR_DEPTH) {
		fprintf(stderr, "dmarcd: ingest: %s: folders nested deeper than %d, skipped\n",
			path, DM_MAX_DIR_DEPTH);
		return;
	}
	struct dirent **list;
	int n = scandir(path, &list, skip_name, alphasort);
	if (n < 0) {
		fprintf(stderr, "dmarcd: ingest: %s: %s\n", path, strerror(errno));
		pthread_mutex_lock(&w->run->out_lock);
		w->run->rejected++;
		pthread_mutex_unlock(&w->run->out_lock);
		return;
	}
	for (int i = 0; i < n; i++) {
		char child[PATH_MAX];
		int len = snprintf(child, sizeof child, "%s%s%s", path,
				   path[strlen(path) - 1] == '/' ? "" : "/", list[i]->d_name);
		if (len > 0 && (size_t)len < sizeof child)
			walk(w, child, depth + 1);
		free(list[i]);
	}
	free(list);
}

/* ---- the command ------------------------------------------------------- */

struct account_find {
	const char *name;
	int64_t id;
};

static int
account_match(void *arg, const struct registry_row *r)
{
	struct account_find *f = arg;
	if (strcasecmp(r->account, f->name) == 0)
		f->id = r->account_id;
	return 0;
}

/* The id of the account called name (any case), with a message when
 * there is none. */
static int
account_by_name(const char *data_dir, const char *name, int64_t *id)
{
	struct account_find f = {.name = name, .id = 0};
	char err[512];
	if (registry_list_accounts(data_dir, account_match, &f, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd ingest: %s\n", err);
		return -1;
	}
	if (f.id <= 0) {
		fprintf(stderr, "dmarcd ingest: no account '%s' (dmarcd account list)\n", name);
		return -1;
	}
	*id = f.id;
	return 0;
}

static int
on_opt(void *arg, int key, const char *value)
{
	struct run *run = arg;
	if (key == KEY_JSON) {
		run->json = 1;
		return 0;
	}
	if (key == KEY_ACCOUNT) {
		run->account = value;
		return 0;
	}
	if (key == KEY_JOBS) {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || *end || v < 1 || v > DM_MAX_JOBS) {
			fprintf(stderr, "dmarcd ingest: --jobs must be 1..%d\n", DM_MAX_JOBS);
			return -1;
		}
		run->jobs = (int)v;
		return 0;
	}
	return -1;
}

int
cli_ingest(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct run run;
	struct dm_config cfg;
	int first;
	char err[512], tmp_dir[PATH_MAX];
	memset(&run, 0, sizeof run);
	run.jobs = 1;
	if (cli_parse(cmd, argc, argv, &cfg, on_opt, &run, &first) != CLI_OK)
		return CLI_FAILED;
	if (first >= argc) {
		fprintf(stderr, "dmarcd ingest: no PATH given\n");
		cli_usage(cmd, stderr);
		return CLI_FAILED;
	}
	snprintf(tmp_dir, sizeof tmp_dir, "%s/tmp", cfg.data_dir);
	if (dm_mkdir_p(tmp_dir, 0750) != 0) {
		fprintf(stderr, "dmarcd: cannot create %s: %s\n", tmp_dir, strerror(errno));
		return CLI_FAILED;
	}
	int64_t account_id = 0;
	if (run.account != NULL && account_by_name(cfg.data_dir, run.account, &account_id) != 0)
		return CLI_FAILED;
	struct store *st = store_open_config(&cfg, err, sizeof err);
	if (!st) {
		fprintf(stderr, "dmarcd: store: %s\n", err);
		return CLI_FAILED;
	}
	struct archive *ar = archive_open(&cfg, 0, err, sizeof err);
	if (!ar) {
		fprintf(stderr, "dmarcd: archive: %s\n", err);
		store_close(st);
		return CLI_FAILED;
	}
	char note[1024];
	struct dm_enrich_shared *enrich =
		dm_enrich_from_config(&cfg, note, sizeof note, err, sizeof err);
	if (!enrich && err[0]) {
		fprintf(stderr, "dmarcd: enrichment: %s (enrich = off stores without it)\n", err);
		archive_close(ar);
		store_close(st);
		return CLI_FAILED;
	}
	if (note[0])
		dm_log(DM_LOG_INFO, "ingest", "enrichment without: %s", note);
	run.env.enrich = enrich;
	run.env.store = st;
	run.store = st;
	run.env.archive = ar;
	run.env.tmp_dir = tmp_dir;
	run.env.data_dir = cfg.data_dir;
	run.env.failure_redact = cfg.failure_redact;
	run.env.account_id = account_id;
	run.env.direct = run.jobs == 1;
	run.env.on_result = on_result;
	run.env.arg = &run;
	run.progress = isatty(2);
	pthread_mutex_init(&run.out_lock, NULL);
	pthread_mutex_init(&run.q_lock, NULL);
	pthread_cond_init(&run.q_nonempty, NULL);
	pthread_cond_init(&run.q_nonfull, NULL);
	clock_gettime(CLOCK_MONOTONIC, &run.t0);

	struct walker w = {.run = &run, .job = NULL};
	pthread_t threads[DM_MAX_JOBS];
	int started = 0;
	if (run.jobs > 1) {
		for (; started < run.jobs; started++) {
			int e = pthread_create(&threads[started], NULL, worker, &run);
			if (e != 0) {
				fprintf(stderr,
					"dmarcd: ingest: cannot start job %d of %d (%s); going on "
					"with %d\n",
					started + 1, run.jobs, strerror(e), started ? started : 1);
				break;
			}
		}
	}
	if (started == 0) { /* --jobs 1, or no thread could start: this one */
		run.env.direct = 1;
		w.job = ingest_job_new(&run.env);
	}
	for (int i = first; i < argc; i++)
		walk(&w, argv[i], 0);
	free(w.seen);
	if (started == 0) {
		ingest_job_free(w.job);
	} else {
		pthread_mutex_lock(&run.q_lock);
		run.q_closed = 1;
		pthread_cond_broadcast(&run.q_nonempty);
		pthread_mutex_unlock(&run.q_lock);
		for (int i = 0; i < started; i++)
			pthread_join(threads[i], NULL);
	}
	char why[DM_MAX_ERROR_LEN] = "";
	int flush_rc = store_flush(st, why, sizeof why);
	if (flush_rc && !run.fatal)
		run.fatal = flush_rc;
	if (!why[0])
		snprintf(why, sizeof why, "%s", run.why[0] ? run.why : dm_strerror(run.fatal));
	char lost[DM_MAX_ERROR_LEN + 80];
	snprintf(lost, sizeof lost, "not stored: the store failed before this report was "
				    "committed (%s)", why);
	pthread_mutex_lock(&run.out_lock);
	release_held(&run, run.fatal != 0, lost);
	pthread_mutex_unlock(&run.out_lock);
	free(run.held);
	int sync_rc = archive_sync(ar);
	double secs = since(&run.t0);
	progress(&run, 1);
	fflush(stdout);
	fprintf(stderr,
		"dmarcd: ingest: %" PRIu64 " files, %" PRIu64 " reports stored, %" PRIu64
		" duplicates, %" PRIu64 " rejected, %" PRIu64 " empty, %" PRIu64
		" records, %" PRIu64 " messages, %.2f seconds, %.0f records/s\n",
		run.files, run.stored, run.duplicates, run.rejected, run.empty, run.records,
		run.messages, secs, secs > 0 ? (double)run.records / secs : 0.0);
	if (run.fatal)
		fprintf(stderr,
			"dmarcd: ingest: stopped: %s; run the same ingest again once that is "
			"fixed (what is stored already is skipped as duplicate)\n",
			dm_strerror(run.fatal));
	if (sync_rc)
		fprintf(stderr, "dmarcd: ingest: archive sync failed: %s\n", dm_strerror(sync_rc));
	archive_close(ar);
	store_close(st);
	dm_enrich_shared_free(enrich); /* after the store: its batch points into it */
	pthread_mutex_destroy(&run.out_lock);
	pthread_mutex_destroy(&run.q_lock);
	pthread_cond_destroy(&run.q_nonempty);
	pthread_cond_destroy(&run.q_nonfull);
	if (run.fatal || sync_rc)
		return CLI_FAILED;
	return run.rejected ? CLI_REJECTED : CLI_OK;
}
