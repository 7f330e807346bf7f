/*
 * ingest.h - the processing pipeline: one input in, reports stored.
 *
 * The same code runs for `dmarcd ingest` and (later) for the workers of
 * `dmarcd serve`.  An input is a file: an RFC 5322 message, an mbox, or a
 * bare attachment (XML, gzip, zlib, zip).  For each attachment found:
 *
 *   archive the bytes as received (hash -> key)  ->  unpack (gzip/zip)
 *   ->  sniff each document  ->  parse (expat, streaming)  ->  store
 *
 * and one struct ingest_result per report found (or per input that held
 * none) goes to the caller's callback.  Records are buffered per report
 * up to DM_MAX_BATCH_RECORDS so parsing runs outside the store's lock;
 * a bigger report opens its transaction early and streams into it.
 */
#ifndef DM_INGEST_H
#define DM_INGEST_H

#include <stdint.h>

#include "archive/archive.h"
#include "common/err.h"
#include "store/store.h"

struct ingest_result {
	const char *input;	/* display name, "name#N" for the Nth report */
	const char *kind;	/* aggregate | tlsrpt | failure | none */
	const char *status;	/* stored | duplicate | rejected | empty */
	const char *org_name, *report_id, *policy_domain; /* NULL if unknown */
	int have_range;
	int64_t begin, end;
	uint64_t records, messages;
	const char *archive_key; /* NULL if nothing was archived */
	const char *error;	 /* reason when rejected/empty, else NULL */
	unsigned nwarnings;
	const char *const *warnings;
};

typedef void (*ingest_result_fn)(void *arg, const struct ingest_result *r);

struct dm_json;
/* r as the JSON object of `dmarcd ingest --json` (input, kind, status,
 * org_name, report_id, policy_domain, begin, end, records, messages,
 * archive_key, error); the upload API answers with the same. */
void ingest_result_json(struct dm_json *j, const struct ingest_result *r);

struct ingest_env {
	struct store *store;
	struct archive *archive;
	const char *tmp_dir;	/* for stdin spooling */
	/* the data folder: its redaction.key makes the keyed hashes of
	 * failure reports (NULL: failure reports are rejected) */
	const char *data_dir;
	const char *failure_redact; /* failure_redact: hashed | headers | none */
	int64_t account_id;
	/* One job alone on the store: records go straight into the report's
	 * transaction instead of a batch (no one waits for the lock). */
	int direct;
	ingest_result_fn on_result;
	void *arg;
	/* When set, the account a report is stored for, from its policy
	 * domain (NULL when the report has none); overrides account_id.
	 * Called once per report, before its first record is stored, with
	 * the same arg as on_result. */
	int64_t (*account_for)(void *arg, const char *policy_domain);
	/* When set, every record is stored with its source's enrichment
	 * (src/enrich/): each job makes an enricher of its own from it. */
	struct dm_enrich_shared *enrich;
};

struct ingest_job;
struct dm_enrich_shared;

/* One per thread. */
struct ingest_job *ingest_job_new(const struct ingest_env *env);
void ingest_job_free(struct ingest_job *job);

/*
 * Process one input read from fd (seekable, any position) shown as
 * display.  Results go to env->on_result.  Returns 0 when the input was
 * handled (whatever its reports' fate), or a negative code for a failure
 * of our own side (store or archive unusable): the caller should stop,
 * and ingest_job_error() says why.  own_bytes: how many bytes at the
 * start of the file dmarcd wrote itself (a spool entry's envelope fields),
 * which do not count against the message size limit.
 */
int ingest_fd(struct ingest_job *job, int fd, const char *display, uint64_t own_bytes) DM_WUR;

/* Why the last ingest_fd/ingest_path/ingest_stream failed on our side
 * (the store's or the archive's reason); "" when it did not. */
const char *ingest_job_error(const struct ingest_job *job);

/* Open path and process it (a regular file). */
int ingest_path(struct ingest_job *job, const char *path, const char *display) DM_WUR;

/* Copy a stream (stdin) to an unlinked temp file in env->tmp_dir and
 * process it. */
int ingest_stream(struct ingest_job *job, int fd, const char *display) DM_WUR;

#endif
