/*
 * ingest.c - one input through mime -> archive -> unpack -> parse -> store.
 *
 * Functions: ingest_job_new, ingest_job_free, ingest_job_error, ingest_fd,
 * ingest_path, ingest_stream, ingest_result_json.
 *
 * What is what is decided by content (sniff.h), never by name or label:
 *
 *   input --sniff--> mail | mbox --mime_walk--> leaf parts --+
 *                    anything else (the input is the attachment) --+--> attachment
 *
 *   attachment: copy to the archive (SHA-256 key) while keeping a copy in
 *   memory when small; then read it back (memory or archive) through
 *   unpack_run(); every document it yields is sniffed: XML -> aggregate
 *   parser -> store; JSON -> TLS-RPT parser -> store (SMTP TLS reports
 *   below); anything else -> rejected "not a report (...)".
 *
 * MIME parts that are neither labelled nor shaped like a report (the text
 * body, a signature, a logo) are skipped silently; a part labelled as a
 * report (application/gzip, a .xml.gz name, ...) that is not one is
 * rejected with a reason.  A failure report (message/feedback-report, or
 * the plain-text form some MTAs send) is read as a whole message when the
 * message ends (failure reports below).
 *
 * A report is stored in one store transaction.  Its records are buffered
 * in memory up to DM_MAX_BATCH_RECORDS; past that the transaction opens
 * and records stream into it, so parsing small reports never holds the
 * store's lock and memory never grows with a big one.  A report whose
 * identity is already stored is detected at its first record (no more rows
 * are written) or, at the latest, by the store's claim.
 *
 * The store is given records only once the report's identity (reporter,
 * policy domain, report id, dates) is known, so every backend can claim
 * the report before its first row.  Records that come before the metadata
 * (rare, and for a report without <report_id>, all of them) wait in the
 * memory buffer and, past it, in an unlinked file under tmp_dir, and are
 * handed over in order once the identity is known: the fix-up happens
 * here, once, not in each backend.
 *
 * Logs nothing itself: every outcome is an ingest_result.
 */
#include "ingest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "dns/resolver.h"
#include "enrich/enrich.h"
#include "core/failure.h"
#include "parse/aggregate.h"
#include "parse/arf.h"
#include "parse/mime.h"
#include "parse/sniff.h"
#include "parse/tlsrpt.h"
#include "parse/unpack.h"

#define IOBUF 65536

enum doc_kind { DOC_UNKNOWN, DOC_AGG, DOC_TLS, DOC_OTHER, DOC_NESTED };

/* The document being read out of the current attachment. */
struct doc {
	enum doc_kind kind;
	unsigned char head[DM_SNIFF_BYTES];
	size_t nhead;
	const char *what; /* description for DOC_OTHER */
	struct agg_parser *parser;
	struct tls_parser *tls; /* DOC_TLS */
	int seen_record;
	struct dm_sha256 *hash; /* of the document's bytes, until report_id is seen */
	int dup;     /* identity already stored (found at the first record) */
	int tx_open; /* the store transaction is open: streaming */
	FILE *spill; /* records waiting for the report's identity, past the buffer */
	uint64_t nspill;
	int store_rc;
};

struct ingest_job {
	struct ingest_env env;
	unsigned char *iobuf;
	struct dm_buf mem; /* small attachment kept between archive and parse */
	struct dm_arena batch_arena;
	struct dm_record *batch;
	unsigned nbatch;

	/* the current input */
	const char *display;
	unsigned nreports;
	int saw_failure;
	int fatal;                    /* our side failed: stop */
	char err[DM_MAX_ERROR_LEN];   /* and why (the store's or archive's words) */

	/* the current attachment */
	char key[DM_ARCHIVE_KEY_MAX];
	char hash[DM_SHA256_HEX];
	unsigned ndocs;
	int last_doc_rc;          /* outcome of the last document */
	char last_doc_reason[DM_MAX_ERROR_LEN];
	unsigned char *tail;      /* the last UNPACK_ZIP_TAIL bytes of the attachment */
	size_t ntail;
	struct doc doc;
	struct agg_parser *parser; /* reused for every document */
	struct tls_parser *tls;	   /* the same for TLS reports */
	const struct mime_part_info *part; /* the MIME part being read, or NULL */
	/* the failure report of the current message (failure reports below) */
	int fail_active;		   /* the message is one */
	struct dm_buf fail_fields;	   /* its message/feedback-report part */
	struct dm_buf fail_text;	   /* ... or its plain-text form */
	struct dm_buf fail_orig;	   /* the original message's header block */
	unsigned char fail_key[32];	   /* the installation's redaction key */
	int fail_have_key;
	struct dm_buf tlsbuf;	   /* a TLS report's items until its end (tls_keep) */
	struct dm_enricher *enricher; /* NULL: records are stored without */
	int64_t enrich_until;	      /* the current report's deadline for reverse names */
	int enrich_settled;	      /* ... waited for already */
	int rdns;		      /* reverse names are asked */
	int hold;		      /* records wait for the report's end even when direct */
};

/* ---- results ------------------------------------------------------------ */

void
ingest_result_json(struct dm_json *j, const struct ingest_result *r)
{
	dm_json_obj_begin(j);
	dm_json_key(j, "input");
	dm_json_str(j, r->input);
	dm_json_key(j, "kind");
	dm_json_str(j, r->kind);
	dm_json_key(j, "status");
	dm_json_str(j, r->status);
	dm_json_key(j, "org_name");
	dm_json_str(j, r->org_name);
	dm_json_key(j, "report_id");
	dm_json_str(j, r->report_id);
	dm_json_key(j, "policy_domain");
	dm_json_str(j, r->policy_domain);
	dm_json_key(j, "begin");
	if (r->have_range)
		dm_json_int(j, r->begin);
	else
		dm_json_null(j);
	dm_json_key(j, "end");
	if (r->have_range)
		dm_json_int(j, r->end);
	else
		dm_json_null(j);
	dm_json_key(j, "records");
	dm_json_uint(j, r->records);
	dm_json_key(j, "messages");
	dm_json_uint(j, r->messages);
	dm_json_key(j, "archive_key");
	dm_json_str(j, r->archive_key);
	dm_json_key(j, "error");
	dm_json_str(j, r->error);
	dm_json_obj_end(j);
}

static void
emit(struct ingest_job *job, struct ingest_result *r)
{
	char name[4096];
	if (job->nreports == 0)
		snprintf(name, sizeof name, "%s", job->display);
	else
		snprintf(name, sizeof name, "%s#%u", job->display, job->nreports + 1);
	job->nreports++;
	r->input = name;
	job->env.on_result(job->env.arg, r);
}

static void
emit_simple(struct ingest_job *job, const char *kind, const char *status, const char *key,
	    const char *error)
{
	struct ingest_result r;
	memset(&r, 0, sizeof r);
	r.kind = kind;
	r.status = status;
	r.archive_key = key;
	r.error = error;
	emit(job, &r);
}

static void
emit_report(struct ingest_job *job, struct dm_report *rep, const char *status, const char *error)
{
	struct ingest_result r;
	memset(&r, 0, sizeof r);
	r.kind = "aggregate";
	r.status = status;
	r.org_name = rep->org_name;
	r.report_id = rep->report_id;
	r.policy_domain = rep->policy.domain;
	if ((rep->have & DM_HAVE_BEGIN) && (rep->have & DM_HAVE_END)) {
		r.have_range = 1;
		r.begin = rep->begin;
		r.end = rep->end;
	}
	if (strcmp(status, "stored") == 0 || strcmp(status, "duplicate") == 0) {
		r.records = rep->records;
		r.messages = rep->messages;
	}
	r.archive_key = job->key[0] ? job->key : NULL;
	r.error = error;
	r.nwarnings = rep->nwarnings;
	r.warnings = rep->warnings;
	emit(job, &r);
}

/* ---- the store side of a report ------------------------------------------ */

/* A spilled record: the fixed fields, then every string as a 32-bit
 * length (NONE for NULL) and its bytes. */
#define SPILL_NONE 0xffffffffu

static void
spill_str(FILE *f, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : SPILL_NONE;
	fwrite(&n, sizeof n, 1, f);
	if (s)
		fwrite(s, 1, n, f);
}

static int
spill_add(struct ingest_job *job, const struct dm_record *rec)
{
	struct doc *d = &job->doc;
	if (!d->spill) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/records-XXXXXX",
			 job->env.tmp_dir ? job->env.tmp_dir : "/tmp");
		int fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0 || (d->spill = fdopen(fd, "w+")) == NULL) {
			snprintf(job->err, sizeof job->err,
				 "cannot keep records in tmp/ until the report's metadata: %s",
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			return DM_EIO;
		}
		unlink(path);
		for (unsigned i = 0; i < job->nbatch; i++) /* in order: the buffer first */
			(void)spill_add(job, &job->batch[i]);
		job->nbatch = 0;
		dm_arena_reset(&job->batch_arena);
	}
	FILE *f = d->spill;
	uint32_t fixed[5] = {(uint32_t)rec->ip_family, rec->nreasons, rec->ndkim, rec->nspf, 0};
	fwrite(rec->ip, sizeof rec->ip, 1, f);
	fwrite(fixed, sizeof fixed, 1, f);
	fwrite(&rec->count, sizeof rec->count, 1, f);
	const char *str[] = {rec->ip_text,	 rec->disposition,   rec->dkim,	     rec->spf,
			     rec->header_from, rec->envelope_from, rec->envelope_to};
	for (size_t i = 0; i < sizeof str / sizeof str[0]; i++)
		spill_str(f, str[i]);
	for (unsigned i = 0; i < rec->nreasons; i++) {
		spill_str(f, rec->reasons[i].type);
		spill_str(f, rec->reasons[i].comment);
	}
	for (unsigned i = 0; i < rec->ndkim; i++) {
		const struct dm_auth_dkim *k = &rec->dkim_res[i];
		spill_str(f, k->domain);
		spill_str(f, k->selector);
		spill_str(f, k->result);
		spill_str(f, k->human_result);
	}
	for (unsigned i = 0; i < rec->nspf; i++) {
		const struct dm_auth_spf *k = &rec->spf_res[i];
		spill_str(f, k->domain);
		spill_str(f, k->scope);
		spill_str(f, k->result);
		spill_str(f, k->human_result);
	}
	d->nspill++;
	if (ferror(f)) {
		snprintf(job->err, sizeof job->err, "cannot keep records until the report's metadata: %s",
			 strerror(errno));
		return DM_EIO;
	}
	return 0;
}

/* One string back; 0, or -1 when the file is short. */
static int
unspill_str(struct ingest_job *job, const char **out)
{
	uint32_t n;
	*out = NULL;
	if (fread(&n, sizeof n, 1, job->doc.spill) != 1)
		return -1;
	if (n == SPILL_NONE)
		return 0;
	if (n > DM_MAX_TEXT_LEN)
		return -1;
	char *s = dm_arena_alloc(&job->batch_arena, (size_t)n + 1);
	if (n && fread(s, 1, n, job->doc.spill) != n)
		return -1;
	s[n] = '\0';
	*out = s;
	return 0;
}

/* Store rec with its source's enrichment: the reverse name when it came
 * by the report's deadline (job->enrich_until), else it is left unknown
 * for `dmarcd reenrich` to fill. */
static int
add_record(struct ingest_job *job, const struct dm_report *rep, const struct dm_record *rec)
{
	if (!job->enricher || rec->ip_family == 0)
		return store_record_add(job->env.store, rep, rec, job->err, sizeof job->err);
	struct dm_record r = *rec;
	struct dm_enrichment e;
	const char *dkim[DM_MAX_DKIM_RESULTS];
	size_t nd = 0;
	for (unsigned i = 0; i < rec->ndkim && nd < DM_MAX_DKIM_RESULTS; i++)
		if (rec->dkim_res[i].domain && rec->dkim_res[i].result &&
		    strcmp(rec->dkim_res[i].result, "pass") == 0)
			dkim[nd++] = rec->dkim_res[i].domain;
	/* once per report, before its first record is written: the names
	 * asked by then have until the report's deadline */
	if (!job->enrich_settled) {
		job->enrich_settled = 1;
		if (dm_enricher_pending(job->enricher) > 0)
			dm_enricher_settle(job->enricher, job->enrich_until);
	}
	dm_enricher_get(job->enricher, rec->ip, dkim, nd, &e);
	r.enr = &e;
	return store_record_add(job->env.store, rep, &r, job->err, sizeof job->err);
}

/* Hand the spilled records to the open transaction, in order. */
static int
spill_replay(struct ingest_job *job, const struct dm_report *rep)
{
	struct doc *d = &job->doc;
	FILE *f = d->spill;
	int rc = fflush(f) == 0 && fseeko(f, 0, SEEK_SET) == 0 ? 0 : -1;
	for (uint64_t k = 0; rc == 0 && k < d->nspill; k++) {
		struct dm_record rec;
		uint32_t fixed[5];
		memset(&rec, 0, sizeof rec);
		dm_arena_reset(&job->batch_arena);
		if (fread(rec.ip, sizeof rec.ip, 1, f) != 1 || fread(fixed, sizeof fixed, 1, f) != 1 ||
		    fread(&rec.count, sizeof rec.count, 1, f) != 1 ||
		    fixed[1] > DM_MAX_REASONS || fixed[2] > DM_MAX_DKIM_RESULTS ||
		    fixed[3] > DM_MAX_SPF_RESULTS) {
			rc = -1;
			break;
		}
		rec.ip_family = (int)fixed[0];
		rec.nreasons = fixed[1];
		rec.ndkim = fixed[2];
		rec.nspf = fixed[3];
		const char **str[] = {&rec.ip_text,	&rec.disposition,   &rec.dkim,	      &rec.spf,
				      &rec.header_from, &rec.envelope_from, &rec.envelope_to};
		for (size_t i = 0; rc == 0 && i < sizeof str / sizeof str[0]; i++)
			rc = unspill_str(job, str[i]);
		rec.reasons = dm_arena_alloc(&job->batch_arena, (rec.nreasons + 1) * sizeof *rec.reasons);
		for (unsigned i = 0; rc == 0 && i < rec.nreasons; i++)
			rc = unspill_str(job, &rec.reasons[i].type) ||
			     unspill_str(job, &rec.reasons[i].comment);
		rec.dkim_res = dm_arena_alloc(&job->batch_arena, (rec.ndkim + 1) * sizeof *rec.dkim_res);
		for (unsigned i = 0; rc == 0 && i < rec.ndkim; i++) {
			struct dm_auth_dkim *x = &rec.dkim_res[i];
			rc = unspill_str(job, &x->domain) || unspill_str(job, &x->selector) ||
			     unspill_str(job, &x->result) || unspill_str(job, &x->human_result);
		}
		rec.spf_res = dm_arena_alloc(&job->batch_arena, (rec.nspf + 1) * sizeof *rec.spf_res);
		for (unsigned i = 0; rc == 0 && i < rec.nspf; i++) {
			struct dm_auth_spf *x = &rec.spf_res[i];
			rc = unspill_str(job, &x->domain) || unspill_str(job, &x->scope) ||
			     unspill_str(job, &x->result) || unspill_str(job, &x->human_result);
		}
		if (rc == 0) {
			rc = add_record(job, rep, &rec);
			if (rc)
				goto out;
		}
	}
	if (rc)
		snprintf(job->err, sizeof job->err, "cannot read back the records kept in tmp/: %s",
			 ferror(f) ? strerror(errno) : "the file is short");
	rc = rc ? DM_EIO : 0;
out:
	fclose(f);
	d->spill = NULL;
	d->nspill = 0;
	dm_arena_reset(&job->batch_arena);
	return rc;
}

static int
open_tx(struct ingest_job *job, struct dm_report *rep)
{
	struct doc *d = &job->doc;
	int64_t account = job->env.account_id;
	if (job->env.account_for != NULL)
		account = job->env.account_for(job->env.arg, rep->policy.domain);
	int rc = store_tx_begin(job->env.store, account, job->err, sizeof job->err);
	if (rc)
		return rc;
	d->tx_open = 1;
	if (d->spill)
		rc = spill_replay(job, rep);
	for (unsigned i = 0; i < job->nbatch && rc == 0; i++)
		rc = add_record(job, rep, &job->batch[i]);
	job->nbatch = 0;
	dm_arena_reset(&job->batch_arena);
	return rc;
}

static void
drop_report(struct ingest_job *job)
{
	struct doc *d = &job->doc;
	if (d->tx_open)
		store_tx_abort(job->env.store);
	d->tx_open = 0;
	if (d->spill)
		fclose(d->spill);
	d->spill = NULL;
	d->nspill = 0;
	job->nbatch = 0;
	dm_arena_reset(&job->batch_arena);
}

static int
on_record(void *arg, struct dm_report *rep, const struct dm_record *rec)
{
	struct ingest_job *job = arg;
	struct doc *d = &job->doc;
	int rc;
	if (job->enricher && rec->ip_family != 0) {
		if (!d->seen_record) {
			job->enrich_until = dm_dns_now_ms() + DM_ENRICH_REPORT_WAIT_MS;
			job->enrich_settled = 0;
			/* a job alone on the store holds the report's records
			 * for their names only while the DNS keeps up: in a
			 * bulk import they are written as they come, and the
			 * fill asks later */
			job->hold = job->rdns && dm_enricher_keeping_up(job->enricher);
		}
		dm_enricher_prefetch(job->enricher, rec->ip);
	}
	if (!d->seen_record) {
		d->seen_record = 1;
		int exists = 0;
		rc = store_lookup(job->env.store, rep, &exists, job->err, sizeof job->err);
		if (rc) {
			d->store_rc = rc;
			return rc;
		}
		if (exists) {
			d->dup = 1;
			return DM_ESTOP; /* the parser goes on counting */
		}
	}
	if (!d->tx_open && !dm_report_identity_known(rep)) {
		/* the store gets records only once it can claim the report */
		if (!d->spill && job->nbatch < DM_MAX_BATCH_RECORDS) {
			dm_record_copy(&job->batch_arena, &job->batch[job->nbatch++], rec);
			return 0;
		}
		rc = spill_add(job, rec);
		if (rc)
			d->store_rc = rc;
		return rc;
	}
	/* held (up to DM_MAX_BATCH_RECORDS) until the report ends, also by a
	 * job alone on the store when reverse names are asked: they then
	 * have the whole report's parsing to come in */
	if (!d->tx_open && !d->spill && (!job->env.direct || job->hold) &&
	    job->nbatch < DM_MAX_BATCH_RECORDS) {
		dm_record_copy(&job->batch_arena, &job->batch[job->nbatch++], rec);
		return 0;
	}
	if (!d->tx_open && (rc = open_tx(job, rep)) != 0) {
		d->store_rc = rc;
		return rc;
	}
	rc = add_record(job, rep, rec);
	if (rc)
		d->store_rc = rc;
	return rc;
}

/* The aggregate document parsed completely: store it. */
static void
finish_aggregate(struct ingest_job *job)
{
	struct doc *d = &job->doc;
	struct dm_report *rep = agg_parser_report(d->parser);
	char msg[DM_MAX_ERROR_LEN + 32];

	if (agg_parser_finish(d->parser) != 0) {
		drop_report(job);
		if (d->store_rc)
			goto store_failed;
		emit_report(job, rep, "rejected", agg_parser_error(d->parser));
		return;
	}
	if (!rep->report_id || !*rep->report_id) {
		/* the report's own bytes, so the same report in another
		 * container (xml, gz, zip, mail) gets the same id */
		char hex[DM_SHA256_HEX], id[80];
		if (d->hash) {
			dm_sha256_final_hex(d->hash, hex);
			dm_sha256_free(d->hash);
			d->hash = NULL;
		} else { /* cannot happen: hashing stops only at a report_id */
			snprintf(hex, sizeof hex, "%s", job->hash);
		}
		snprintf(id, sizeof id, "sha256:%.32s", hex);
		rep->report_id = dm_arena_strndup(&rep->arena, id, strlen(id));
		dm_report_warn(rep, "no <report_id>; using %s", id);
	}
	if (d->dup) {
		drop_report(job);
		emit_report(job, rep, "duplicate", NULL);
		return;
	}
	int rc = 0;
	if (!d->tx_open)
		rc = open_tx(job, rep);
	if (rc) {
		d->store_rc = rc;
		drop_report(job);
		goto store_failed;
	}
	struct store_report_info info = {
		.archive_key = job->key,
		.content_hash = job->hash,
		.source = job->display,
		.received_at = (int64_t)time(NULL),
	};
	enum store_outcome out;
	d->tx_open = 0; /* commit ends the transaction whatever happens */
	rc = store_tx_commit(job->env.store, rep, &info, &out, job->err, sizeof job->err);
	if (rc) {
		d->store_rc = rc;
		goto store_failed;
	}
	emit_report(job, rep, out == STORE_STORED ? "stored" : "duplicate", NULL);
	return;

store_failed:
	snprintf(msg, sizeof msg, "store error: %s (%s)", dm_strerror(d->store_rc), job->err);
	emit_report(job, rep, "rejected", msg);
	job->fatal = d->store_rc;
}

/* ---- SMTP TLS reports ---------------------------------------------------- */

/*
 * A TLS report's identity (report-id, organization-name, dates) may come
 * after its policies (JSON keys are in any order), and the store claims a
 * report before its first row.  So its policies and failure details are
 * kept until the document ends: encoded in job->tlsbuf, and past
 * DM_TLS_KEEP_BYTES in an unlinked file under tmp_dir (memory stays
 * bounded whatever the report's size), then handed to store_tls_put() in
 * document order.  Encoding: a tag ('P' or 'F'), the numbers, then every
 * string as a 32-bit length (SPILL_NONE for NULL) and its bytes.
 */
static int
tls_str(struct dm_buf *b, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : SPILL_NONE;
	int rc = dm_buf_add(b, &n, sizeof n);
	return rc == 0 && s ? dm_buf_add(b, s, n) : rc;
}

/* The encoded item in job->tlsbuf is complete: keep it. */
static int
tls_kept(struct ingest_job *job)
{
	struct doc *d = &job->doc;
	if (!d->spill && job->tlsbuf.len <= DM_TLS_KEEP_BYTES)
		return 0;
	if (!d->spill) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/tlsrpt-XXXXXX",
			 job->env.tmp_dir ? job->env.tmp_dir : "/tmp");
		int fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0 || (d->spill = fdopen(fd, "w+")) == NULL) {
			snprintf(job->err, sizeof job->err,
				 "cannot keep a TLS report in tmp/ until its end: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return DM_EIO;
		}
		unlink(path);
	}
	if (fwrite(job->tlsbuf.data, 1, job->tlsbuf.len, d->spill) != job->tlsbuf.len) {
		snprintf(job->err, sizeof job->err, "cannot keep a TLS report in tmp/: %s",
			 strerror(errno));
		return DM_EIO;
	}
	dm_buf_reset(&job->tlsbuf);
	return 0;
}

static int
tls_keep_failed(struct ingest_job *job, int rc)
{
	if (rc == DM_ELIMIT) /* cannot be: every item is bounded by the parser */
		snprintf(job->err, sizeof job->err, "a TLS report item too big to keep");
	job->doc.store_rc = rc;
	return rc;
}

static int
on_tls_policy(void *arg, struct dm_tls_report *rep, const struct dm_tls_policy *pol)
{
	struct ingest_job *job = arg;
	struct dm_buf *b = &job->tlsbuf;
	uint64_t num[3] = {pol->index, pol->success, pol->failure};
	(void)rep;
	int rc = dm_buf_addc(b, 'P');
	if (rc == 0)
		rc = dm_buf_add(b, num, sizeof num);
	const char *str[] = {pol->type, pol->domain, pol->mx_host, pol->policy_string};
	for (size_t i = 0; rc == 0 && i < sizeof str / sizeof str[0]; i++)
		rc = tls_str(b, str[i]);
	if (rc == 0)
		rc = tls_kept(job);
	return rc ? tls_keep_failed(job, rc) : 0;
}

static int
on_tls_failure(void *arg, struct dm_tls_report *rep, const struct dm_tls_failure *f)
{
	struct ingest_job *job = arg;
	struct dm_buf *b = &job->tlsbuf;
	uint64_t num[2] = {f->policy, f->sessions};
	(void)rep;
	int rc = dm_buf_addc(b, 'F');
	if (rc == 0)
		rc = dm_buf_add(b, num, sizeof num);
	const char *str[] = {f->result_type,	   f->sending_mta_ip,	f->receiving_mx_hostname,
			     f->receiving_mx_helo, f->receiving_ip,	f->additional_info,
			     f->failure_reason_code};
	for (size_t i = 0; rc == 0 && i < sizeof str / sizeof str[0]; i++)
		rc = tls_str(b, str[i]);
	if (rc == 0)
		rc = tls_kept(job);
	return rc ? tls_keep_failed(job, rc) : 0;
}

/* Reading the kept items back (store_tls_next_fn). */
struct tls_replay {
	struct ingest_job *job;
	FILE *f;
	struct dm_tls_policy pol;
	struct dm_tls_failure fail;
	int bad;
};

static int
tls_unstr(struct tls_replay *t, const char **out)
{
	uint32_t n;
	*out = NULL;
	if (fread(&n, sizeof n, 1, t->f) != 1)
		return -1;
	if (n == SPILL_NONE)
		return 0;
	if (n > DM_TLS_MAX_TOKEN + DM_TLS_MAX_POLICY_STRING_BYTES + 4096)
		return -1;
	char *s = dm_arena_alloc(&t->job->batch_arena, (size_t)n + 1);
	if (n && fread(s, 1, n, t->f) != n)
		return -1;
	s[n] = '\0';
	*out = s;
	return 0;
}

static int
tls_next(void *arg, struct store_tls_item *it)
{
	struct tls_replay *t = arg;
	memset(it, 0, sizeof *it);
	if (t->f == NULL)
		return 0;
	int tag = fgetc(t->f);
	dm_arena_reset(&t->job->batch_arena);
	if (tag == EOF)
		return ferror(t->f) ? (t->bad = 1, DM_EIO) : 0;
	int rc = -1;
	if (tag == 'P') {
		uint64_t num[3];
		struct dm_tls_policy *p = &t->pol;
		memset(p, 0, sizeof *p);
		if (fread(num, sizeof num, 1, t->f) == 1) {
			p->index = (unsigned)num[0];
			p->success = num[1];
			p->failure = num[2];
			rc = tls_unstr(t, &p->type) || tls_unstr(t, &p->domain) ||
			     tls_unstr(t, &p->mx_host) || tls_unstr(t, &p->policy_string);
		}
		it->pol = p;
	} else if (tag == 'F') {
		uint64_t num[2];
		struct dm_tls_failure *f = &t->fail;
		memset(f, 0, sizeof *f);
		if (fread(num, sizeof num, 1, t->f) == 1) {
			f->policy = (unsigned)num[0];
			f->sessions = num[1];
			rc = tls_unstr(t, &f->result_type) || tls_unstr(t, &f->sending_mta_ip) ||
			     tls_unstr(t, &f->receiving_mx_hostname) ||
			     tls_unstr(t, &f->receiving_mx_helo) || tls_unstr(t, &f->receiving_ip) ||
			     tls_unstr(t, &f->additional_info) ||
			     tls_unstr(t, &f->failure_reason_code);
		}
		it->fail = f;
	}
	if (rc) {
		t->bad = 1;
		return DM_EIO;
	}
	return 1;
}

static void
emit_tls(struct ingest_job *job, struct dm_tls_report *rep, const char *status, const char *error)
{
	struct ingest_result r;
	memset(&r, 0, sizeof r);
	r.kind = "tlsrpt";
	r.status = status;
	r.org_name = rep->org_name;
	r.report_id = rep->report_id;
	r.policy_domain = rep->policy_domain;
	if (rep->have_begin && rep->have_end) {
		r.have_range = 1;
		r.begin = rep->begin;
		r.end = rep->end;
	}
	if (strcmp(status, "stored") == 0 || strcmp(status, "duplicate") == 0) {
		r.records = rep->npolicies;
		r.messages = rep->success + rep->failure;
	}
	r.archive_key = job->key[0] ? job->key : NULL;
	r.error = error;
	r.nwarnings = rep->nwarnings;
	r.warnings = rep->warnings;
	emit(job, &r);
}


/* A domain name of at most DM_MAX_DOMAIN_LEN: letters, digits, '-', '.',
 * with a dot; copied lower case into out.  0 when s[0..n) is one. */
static int
domain_word(const char *s, size_t n, char *out, size_t outlen)
{
	if (n == 0 || n > DM_MAX_DOMAIN_LEN || n >= outlen || !memchr(s, '.', n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '.')
			return -1;
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	return 0;
}

/*
 * A TLS report whose policies name no policy-domain (Postfix's reporter
 * for no-policy-found, SPECS 3.4): the domain is taken from what the mail
 * says of it, with a warning: the file name RFC 8460 recommends
 * (sender!policy-domain!begin!end...), else the subject ("Report Domain:
 * D Submitter: ...").  Both come from the same sender as the report.
 */
static void
tls_domain_hint(struct ingest_job *job, struct dm_tls_report *rep)
{
	char dom[DM_MAX_DOMAIN_LEN + 1];
	const char *name = job->part ? job->part->filename : job->display;
	const char *subject = job->part ? job->part->subject : NULL;
	if (name && strrchr(name, '/'))
		name = strrchr(name, '/') + 1;
	const char *bang = name ? strchr(name, '!') : NULL;
	if (bang) {
		const char *d = bang + 1;
		size_t n = strcspn(d, "!");
		if (d[n] == '!' && domain_word(d, n, dom, sizeof dom) == 0) {
			rep->policy_domain = dm_arena_strndup(&rep->arena, dom, strlen(dom));
			dm_tls_report_warn(rep, "no policy-domain: %s from the file name", dom);
			return;
		}
	}
	const char *at = subject ? strcasestr(subject, "Report Domain:") : NULL;
	if (at) {
		at += 14;
		at += strspn(at, " \t");
		if (domain_word(at, strcspn(at, " \t;"), dom, sizeof dom) == 0) {
			rep->policy_domain = dm_arena_strndup(&rep->arena, dom, strlen(dom));
			dm_tls_report_warn(rep, "no policy-domain: %s from the subject", dom);
			return;
		}
	}
	dm_tls_report_warn(rep, "no policy-domain, and none in the file name or subject");
}

/* The TLS document ended (rc: the unpacker's outcome): store it. */
static void
finish_tls(struct ingest_job *job, int rc, const char *reason)
{
	struct doc *d = &job->doc;
	struct dm_tls_report *rep = tls_parser_report(d->tls);
	char msg[DM_MAX_ERROR_LEN + 32];
	FILE *f = NULL;

	if (d->store_rc) {
		snprintf(msg, sizeof msg, "store error: %s (%s)", dm_strerror(d->store_rc), job->err);
		emit_tls(job, rep, "rejected", msg);
		job->fatal = d->store_rc;
		return;
	}
	if (rc < 0) {
		const char *perr = tls_parser_error(d->tls);
		emit_tls(job, rep, "rejected", *perr ? perr : reason);
		return;
	}
	if (tls_parser_finish(d->tls) != 0) {
		emit_tls(job, rep, "rejected", tls_parser_error(d->tls));
		return;
	}
	if (d->spill) {
		if (tls_kept(job) != 0 || fflush(d->spill) != 0 || fseeko(d->spill, 0, SEEK_SET) != 0)
			goto io;
		f = d->spill;
	} else if (job->tlsbuf.len > 0) {
		f = fmemopen(job->tlsbuf.data, job->tlsbuf.len, "r");
		if (f == NULL)
			goto io;
	} /* else nothing kept: a report without policies */
	if (rep->policy_domain == NULL)
		tls_domain_hint(job, rep);
	int64_t account = job->env.account_id;
	if (job->env.account_for != NULL && rep->policy_domain != NULL)
		account = job->env.account_for(job->env.arg, rep->policy_domain);
	struct store_report_info info = {
		.archive_key = job->key,
		.content_hash = job->hash,
		.source = job->display,
		.received_at = (int64_t)time(NULL),
	};
	struct tls_replay t = {.job = job, .f = f};
	enum store_outcome out;
	rc = store_tls_put(job->env.store, account, rep, &info, tls_next, &t, &out, job->err,
			   sizeof job->err);
	if (f != NULL && f != d->spill)
		fclose(f);
	dm_arena_reset(&job->batch_arena);
	if (t.bad)
		goto io;
	if (rc) {
		snprintf(msg, sizeof msg, "store error: %s (%s)", dm_strerror(rc), job->err);
		emit_tls(job, rep, "rejected", msg);
		job->fatal = rc;
		return;
	}
	emit_tls(job, rep, out == STORE_STORED ? "stored" : "duplicate", NULL);
	return;
io:
	if (f != NULL && f != d->spill)
		fclose(f);
	snprintf(msg, sizeof msg, "cannot read back the TLS report kept in tmp/: %s",
		 errno ? strerror(errno) : "the file is short");
	emit_tls(job, rep, "rejected", msg);
	job->fatal = DM_EIO;
}

/* ---- documents out of the unpacker -------------------------------------- */

static void
doc_reset(struct ingest_job *job)
{
	dm_sha256_free(job->doc.hash);
	if (job->doc.spill)
		fclose(job->doc.spill);
	memset(&job->doc, 0, sizeof job->doc);
}

static int
doc_begin(void *arg, const char *name, const char *layers)
{
	struct ingest_job *job = arg;
	doc_reset(job);
	job->ndocs++;
	return 0;
}

/* Decide what the document is once its head is known. */
static int
doc_classify(struct ingest_job *job)
{
	struct doc *d = &job->doc;
	const char *what = NULL;
	enum sniff_kind k = sniff_bytes(d->head, d->nhead, &what);
	switch (k) {
	case SNIFF_EMPTY: return 0; /* undecided: read on */
	case SNIFF_XML:
		d->kind = DOC_AGG;
		if (job->parser)
			agg_parser_reset(job->parser);
		else
			job->parser = agg_parser_new(on_record, job);
		d->parser = job->parser;
		d->hash = dm_sha256_new();
		return 0;
	case SNIFF_JSON:
		d->kind = DOC_TLS;
		if (job->tls)
			tls_parser_reset(job->tls);
		else
			job->tls = tls_parser_new(on_tls_policy, on_tls_failure, job);
		d->tls = job->tls;
		dm_buf_reset(&job->tlsbuf);
		return 0;
	case SNIFF_GZIP:
	case SNIFF_ZIP:
	case SNIFF_ZLIB: d->kind = DOC_NESTED; return 0;
	default:
		d->kind = DOC_OTHER;
		d->what = what ? what : sniff_kind_name(k);
		return 0;
	}
}

/* Feed the parser; the bytes are hashed too until the report shows a
 * report_id (usually in its first bytes), for reports that have none. */
static int
doc_feed(struct doc *d, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	if (d->kind == DOC_TLS)
		return tls_parser_feed(d->tls, buf, len);
	/* in small slices while hashing, so hashing stops soon after the
	 * report_id (typically in the first few hundred bytes) */
	while (d->hash && len > 0) {
		size_t n = len < 2048 ? len : 2048;
		dm_sha256_update(d->hash, p, n);
		int rc = agg_parser_feed(d->parser, p, n);
		if (rc)
			return rc;
		p += n;
		len -= n;
		if (agg_parser_report(d->parser)->have & DM_HAVE_REPORT_ID) {
			dm_sha256_free(d->hash);
			d->hash = NULL;
		}
	}
	return len ? agg_parser_feed(d->parser, p, len) : 0;
}

static int
doc_data(void *arg, const void *buf, size_t len)
{
	struct ingest_job *job = arg;
	struct doc *d = &job->doc;
	if (d->kind == DOC_UNKNOWN) {
		size_t room = sizeof d->head - d->nhead;
		size_t take = len < room ? len : room;
		memcpy(d->head + d->nhead, buf, take);
		d->nhead += take;
		if (doc_classify(job) != 0)
			return DM_ESTOP;
		if (d->kind == DOC_UNKNOWN) {
			if (d->nhead < sizeof d->head)
				return 0; /* only whitespace so far */
			d->kind = DOC_OTHER;
			d->what = "whitespace";
			return DM_ESTOP;
		}
		if (d->kind != DOC_AGG && d->kind != DOC_TLS)
			return DM_ESTOP;
		/* feed the head, then the rest of this chunk */
		if (doc_feed(d, d->head, d->nhead) != 0)
			return d->store_rc ? d->store_rc : DM_ESTOP;
		buf = (const unsigned char *)buf + take;
		len -= take;
		if (len == 0)
			return 0;
	}
	if (d->kind != DOC_AGG && d->kind != DOC_TLS)
		return DM_ESTOP;
	if (doc_feed(d, buf, len) != 0)
		return d->store_rc ? d->store_rc : DM_ESTOP;
	return 0;
}

static int
doc_end(void *arg, int rc, const char *reason)
{
	struct ingest_job *job = arg;
	struct doc *d = &job->doc;
	char msg[DM_MAX_ERROR_LEN + 64];
	const char *key = job->key[0] ? job->key : NULL;

	job->last_doc_rc = rc;
	snprintf(job->last_doc_reason, sizeof job->last_doc_reason, "%s", rc < 0 && reason ? reason : "");
	switch (d->kind) {
	case DOC_AGG:
		if (d->store_rc) {
			/* the store failed under a callback */
			finish_aggregate(job);
		} else if (rc < 0) {
			struct dm_report *rep = agg_parser_report(d->parser);
			drop_report(job);
			/* a parse error found first is the better reason */
			const char *perr = agg_parser_error(d->parser);
			emit_report(job, rep, "rejected", *perr ? perr : reason);
		} else {
			finish_aggregate(job);
		}
		break;
	case DOC_TLS: finish_tls(job, rc, reason); break;
	case DOC_NESTED:
		emit_simple(job, "none", "rejected", key, rc < 0 && reason ? reason : "nested archive");
		break;
	case DOC_OTHER:
		snprintf(msg, sizeof msg, "not a report (%s)", d->what);
		emit_simple(job, "none", "rejected", key, msg);
		break;
	case DOC_UNKNOWN:
		if (rc < 0)
			emit_simple(job, "none", "rejected", key, reason ? reason : "unreadable");
		else
			emit_simple(job, "none", "rejected", key, "empty document");
		break;
	}
	doc_reset(job);
	return job->fatal ? job->fatal : 0;
}

static void
unpack_warn(void *arg, const char *msg)
{
	(void)arg;
	(void)msg; /* harmless oddities of the container: not kept */
}

/* ---- attachments ------------------------------------------------------- */

static const char *
ext_for(const void *p, size_t n)
{
	switch (sniff_bytes(p, n, NULL)) {
	case SNIFF_GZIP: return "gz";
	case SNIFF_ZIP: return "zip";
	case SNIFF_ZLIB: return "zz";
	case SNIFF_XML: return "xml";
	case SNIFF_JSON: return "json";
	default: return "bin";
	}
}

/* Keep the last UNPACK_ZIP_TAIL bytes seen. */
static void
keep_tail(struct ingest_job *job, const unsigned char *p, size_t n)
{
	if (n >= UNPACK_ZIP_TAIL) {
		memcpy(job->tail, p + n - UNPACK_ZIP_TAIL, UNPACK_ZIP_TAIL);
		job->ntail = UNPACK_ZIP_TAIL;
		return;
	}
	if (job->ntail + n > UNPACK_ZIP_TAIL) {
		size_t drop = job->ntail + n - UNPACK_ZIP_TAIL;
		memmove(job->tail, job->tail + drop, job->ntail - drop);
		job->ntail -= drop;
	}
	memcpy(job->tail + job->ntail, p, n);
	job->ntail += n;
}

/*
 * Archive the attachment read from in, then unpack and parse it.
 * Returns 0, or a negative code when our side failed (job->fatal).
 */
static int
attachment(struct ingest_job *job, struct dm_reader *in)
{
	char err[DM_MAX_ERROR_LEN];
	char ext[8] = "bin";
	uint64_t size = 0;
	int inmem = 1;
	int rc;

	job->key[0] = '\0';
	job->hash[0] = '\0';
	job->ndocs = 0;
	job->ntail = 0;
	job->last_doc_rc = 0;
	dm_buf_reset(&job->mem);

	struct archive_writer *w = archive_put_begin(job->env.archive, time(NULL));
	if (!w) {
		snprintf(job->err, sizeof job->err, "archive error: cannot create a file (%s)",
			 strerror(errno));
		emit_simple(job, "none", "rejected", NULL, job->err);
		return job->fatal = DM_EIO;
	}
	for (;;) {
		ssize_t n = dm_reader_read(in, job->iobuf, IOBUF);
		if (n < 0) {
			archive_put_abort(w);
			emit_simple(job, "none", "rejected", NULL, "cannot read attachment");
			return 0;
		}
		if (n == 0)
			break;
		if (size == 0)
			snprintf(ext, sizeof ext, "%s", ext_for(job->iobuf, (size_t)n));
		if (DM_MAX_ATTACHMENT_BYTES - size < (uint64_t)n) {
			archive_put_abort(w);
			snprintf(err, sizeof err, "attachment larger than %llu bytes",
				 (unsigned long long)DM_MAX_ATTACHMENT_BYTES);
			emit_simple(job, "none", "rejected", NULL, err);
			return 0;
		}
		size += (uint64_t)n;
		rc = archive_put_write(w, job->iobuf, (size_t)n);
		if (rc) {
			archive_put_abort(w);
			snprintf(job->err, sizeof job->err, "archive error: %s", dm_strerror(rc));
			emit_simple(job, "none", "rejected", NULL, job->err);
			return job->fatal = rc;
		}
		if (inmem && dm_buf_add(&job->mem, job->iobuf, (size_t)n) != 0) {
			inmem = 0;
			dm_buf_free(&job->mem);
		}
		keep_tail(job, job->iobuf, (size_t)n);
	}
	if (size == 0) {
		archive_put_abort(w);
		emit_simple(job, "none", "rejected", NULL, "empty attachment");
		return 0;
	}
	rc = archive_put_commit(w, ext, job->key, sizeof job->key, job->hash, err, sizeof err);
	if (rc) {
		job->key[0] = '\0';
		snprintf(job->err, sizeof job->err, "archive error: %s", *err ? err : dm_strerror(rc));
		emit_simple(job, "none", "rejected", NULL, job->err);
		return job->fatal = rc;
	}

	/* A zip with more entries than we take is rejected whole, before any
	 * of its reports is stored (its directory says how many it has). */
	uint64_t entries;
	if (strcmp(ext, "zip") == 0 &&
	    unpack_zip_entries(job->tail, job->ntail, &entries) == 0 &&
	    entries > DM_MAX_ZIP_ENTRIES) {
		snprintf(err, sizeof err, "too many zip entries (%llu, more than %d)",
			 (unsigned long long)entries, DM_MAX_ZIP_ENTRIES);
		emit_simple(job, "none", "rejected", job->key, err);
		return 0;
	}

	/* read it back: from memory, or from the archive */
	struct dm_mem_reader mr;
	struct dm_reader memr;
	struct dm_reader *src;
	struct archive_blob *blob = NULL;
	if (inmem) {
		dm_reader_mem(&memr, &mr, job->mem.data, job->mem.len);
		src = &memr;
	} else {
		rc = archive_blob_open(job->env.archive, job->key, &blob);
		if (rc) {
			snprintf(job->err, sizeof job->err, "archive error: cannot read back %s",
				 job->key);
			emit_simple(job, "none", "rejected", job->key, job->err);
			return job->fatal = rc;
		}
		src = archive_blob_reader(blob);
	}
	struct unpack_limits lim;
	unpack_limits_default(&lim);
	struct unpack_sink sink = {
		.doc_begin = doc_begin,
		.doc_data = doc_data,
		.doc_end = doc_end,
		.warn = unpack_warn,
		.arg = job,
	};
	unsigned before = job->nreports;
	err[0] = '\0';
	rc = unpack_run(src, &lim, &sink, err, sizeof err);
	archive_blob_close(blob);
	doc_reset(job);
	if (job->fatal)
		return job->fatal;
	/* The container's own failure gets a line unless the last document
	 * already said the same (plain, gzip and zlib hold one document, whose
	 * failure is also the container's). */
	if (rc < 0 && (job->nreports == before || job->last_doc_rc >= 0 ||
		       strcmp(err, job->last_doc_reason) != 0))
		emit_simple(job, "none", "rejected", job->key, *err ? err : dm_strerror(rc));
	return 0;
}

/* A reader that first returns a buffered head, then the rest. */
struct prefix_reader {
	const unsigned char *head;
	size_t nhead, off;
	struct dm_reader *rest;
};

static ssize_t
prefix_read(void *ctx, void *buf, size_t len)
{
	struct prefix_reader *p = ctx;
	if (p->off < p->nhead) {
		size_t n = p->nhead - p->off;
		if (n > len)
			n = len;
		memcpy(buf, p->head + p->off, n);
		p->off += n;
		return (ssize_t)n;
	}
	return dm_reader_read(p->rest, buf, len);
}

/* ---- MIME parts ---------------------------------------------------------- */

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Does the part say it is a report (by media type or file name)? */
static int
labelled_as_report(const struct mime_part_info *info)
{
	static const char *const types[] = {
		"application/gzip",	    "application/x-gzip", "application/zip",
		"application/x-zip",	    "application/x-zip-compressed",
		"application/octet-stream", "application/xml",	  "text/xml",
		"application/json",	    "application/tlsrpt+gzip",
		"application/tlsrpt+json",  NULL};
	for (const char *const *t = types; *t; t++)
		if (strcmp(info->content_type, *t) == 0)
			return 1;
	const char *f = info->filename;
	return f && (ends_with(f, ".xml") || ends_with(f, ".gz") || ends_with(f, ".zip") ||
		     ends_with(f, ".json") || ends_with(f, ".zz"));
}

/* The plain-text failure reports of Exim/cPanel and friends, and ARF
 * fields in a part that is not labelled message/feedback-report. */
static int
looks_like_failure(const unsigned char *p, size_t n)
{
	static const char *const marks[] = {"failed the published DMARC policy",
					    "Feedback-Type: auth-failure", NULL};
	for (const char *const *m = marks; *m; m++)
		if (memmem(p, n, *m, strlen(*m)))
			return 1;
	return 0;
}

/* "<html" or "<!doctype html" after optional whitespace. */
static int
looks_like_html(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return (n - i >= 5 && strncasecmp((const char *)p + i, "<html", 5) == 0) ||
	       (n - i >= 14 && strncasecmp((const char *)p + i, "<!doctype html", 14) == 0);
}


/* ---- failure reports ------------------------------------------------------ */

/*
 * A failure report (ARF, RFC 6591, or the plain-text form of Exim/cPanel)
 * is a whole message: its message/feedback-report part (or the text),
 * and the header block of the original message (a message/rfc822 or
 * text/rfc822-headers part).  Those are kept while the message is walked
 * (bounded: DM_ARF_MAX_PART_BYTES, DM_MAX_HEADER_BYTES) and read when it
 * ends (parse/arf.h).  The original message's body is never kept.  What is
 * stored and archived is the report as read, with the original headers
 * redacted as failure_redact says (default: the local part of every
 * address a keyed hash, the key in <data>/redaction.key), and the
 * recipients named by the feedback fields redacted the same way: these
 * reports carry other people's mail.  Its SHA-256 identifies it (the
 * same mail again is a duplicate).  Feedback types other than
 * auth-failure (abuse, fraud, ...) are recognised and counted, not
 * stored: status "ignored".
 */

/* Read a part (head first, then the rest of content) into b, at most cap
 * bytes; the rest is left unread.  Always 0: a part too big is cut (the
 * reader warns). */
static int
read_into(struct dm_reader *content, const unsigned char *head, size_t nhead, struct dm_buf *b,
	  size_t cap)
{
	dm_buf_reset(b);
	size_t take = nhead < cap ? nhead : cap;
	if (take && dm_buf_add(b, head, take) != 0)
		return 0;
	unsigned char buf[8192];
	while (b->len < cap) {
		size_t want = cap - b->len < sizeof buf ? cap - b->len : sizeof buf;
		ssize_t n = dm_reader_read(content, buf, want);
		if (n <= 0 || dm_buf_add(b, buf, (size_t)n) != 0)
			break;
	}
	return 0;
}

static void
failure_clear(struct ingest_job *job)
{
	job->fail_active = 0;
	dm_buf_reset(&job->fail_fields);
	dm_buf_reset(&job->fail_text);
	dm_buf_reset(&job->fail_orig);
}

/* The installation's redaction key: <data>/redaction.key, 32 random
 * bytes made on first use (written whole under another name, then linked
 * into place, so two processes starting at once agree on one). */
static int
failure_key(struct ingest_job *job, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	if (job->fail_have_key)
		return 0;
	if (job->env.data_dir == NULL) {
		snprintf(err, errlen, "no data folder for the redaction key");
		return DM_EINVAL;
	}
	snprintf(path, sizeof path, "%s/redaction.key", job->env.data_dir);
	for (int tries = 0; tries < 2; tries++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, job->fail_key, sizeof job->fail_key);
			close(fd);
			if (n != (ssize_t)sizeof job->fail_key) {
				snprintf(err, errlen, "%.400s: not %zu bytes", path, sizeof job->fail_key);
				return DM_EIO;
			}
			job->fail_have_key = 1;
			return 0;
		}
		if (errno != ENOENT)
			break;
		unsigned char k[sizeof job->fail_key];
		if (getentropy(k, sizeof k) != 0)
			break;
		snprintf(tmp, sizeof tmp, "%s/redaction.key.XXXXXX", job->env.data_dir);
		int t = mkostemp(tmp, O_CLOEXEC);
		if (t < 0)
			break;
		int ok = fchmod(t, 0600) == 0 && write(t, k, sizeof k) == (ssize_t)sizeof k &&
			 fsync(t) == 0;
		close(t);
		if (ok && link(tmp, path) != 0 && errno != EEXIST)
			ok = 0;
		unlink(tmp);
		explicit_bzero(k, sizeof k);
		if (!ok)
			break;
		if (dm_fsync_dir(job->env.data_dir) != 0)
			break;
	}
	snprintf(err, errlen, "cannot read or make %.400s: %s", path, strerror(errno));
	return DM_EIO;
}

static enum arf_redact
redact_mode(const struct ingest_job *job)
{
	const char *m = job->env.failure_redact;
	if (m != NULL && strcmp(m, "headers") == 0)
		return ARF_REDACT_HEADERS;
	if (m != NULL && strcmp(m, "none") == 0)
		return ARF_REDACT_NONE;
	return ARF_REDACT_HASHED;
}

static void
emit_failure(struct ingest_job *job, const struct dm_failure_report *r, const char *status,
	     const char *error)
{
	struct ingest_result res;
	memset(&res, 0, sizeof res);
	res.kind = "failure";
	res.status = status;
	res.policy_domain = r->reported_domain;
	res.org_name = r->user_agent;
	res.report_id = r->message_id;
	if (r->have_arrival_date) {
		res.have_range = 1;
		res.begin = res.end = r->arrival_date;
	}
	if (strcmp(status, "stored") == 0 || strcmp(status, "duplicate") == 0)
		res.records = res.messages = 1;
	res.archive_key = job->key[0] ? job->key : NULL;
	res.error = error;
	res.nwarnings = r->nwarnings;
	res.warnings = r->warnings;
	emit(job, &res);
}

/* One "Name: value" line of the kept document (values are one line). */
static int
kept_field(struct dm_buf *b, const char *name, const char *v)
{
	return v != NULL ? dm_buf_printf(b, "%s: %s\n", name, v) : 0;
}

/* The message ended: read, redact, archive and store its failure report. */
static void
failure_end(struct ingest_job *job)
{
	if (!job->fail_active) {
		failure_clear(job);
		return;
	}
	struct dm_failure_report r;
	struct dm_buf headers, doc, rcpt;
	char err[DM_MAX_ERROR_LEN], msg[DM_MAX_ERROR_LEN + 64];
	enum arf_redact mode = redact_mode(job);
	int rc;

	dm_failure_init(&r);
	dm_buf_init(&headers, DM_ARF_MAX_STORED_HEADERS + 4096);
	dm_buf_init(&doc, DM_ARF_MAX_STORED_HEADERS + DM_ARF_MAX_PART_BYTES + 65536);
	dm_buf_init(&rcpt, 4 * DM_ARF_MAX_VALUE);
	job->key[0] = '\0';
	err[0] = '\0';
	if (job->fail_fields.len > 0) {
		rc = arf_parse_fields(&r, job->fail_fields.data, job->fail_fields.len);
	} else {
		size_t at = job->fail_text.len;
		rc = arf_parse_text(&r, job->fail_text.data ? job->fail_text.data : "",
				    job->fail_text.len, &at);
		if (rc == 0 && job->fail_orig.len == 0 && at < job->fail_text.len &&
		    dm_buf_add(&job->fail_orig, job->fail_text.data + at, job->fail_text.len - at))
			dm_buf_reset(&job->fail_orig); /* cannot be: DM_ARF_MAX_PART_BYTES fits */
	}
	if (rc) {
		snprintf(msg, sizeof msg, "not a failure report: %s", r.error ? r.error : "unreadable");
		emit_failure(job, &r, "rejected", msg);
		goto out;
	}
	if (r.feedback_type == NULL || strcmp(r.feedback_type, "auth-failure") != 0) {
		snprintf(msg, sizeof msg, "feedback type %s: not a DMARC failure report (counted, not"
			 " stored)", r.feedback_type ? r.feedback_type : "(none)");
		emit_failure(job, &r, "ignored", msg);
		goto out;
	}
	if (mode == ARF_REDACT_HASHED && (rc = failure_key(job, err, sizeof err)) != 0) {
		snprintf(msg, sizeof msg, "store error: %s", err);
		emit_failure(job, &r, "rejected", msg);
		job->fatal = rc;
		goto out;
	}
	int bad = 0;
	if (job->fail_orig.len > 0)
		bad |= arf_original_headers(&r, job->fail_orig.data, job->fail_orig.len, mode,
					    job->fail_key, sizeof job->fail_key, &headers);
	else
		dm_failure_warn(&r, "no original message headers");
	bad |= dm_buf_addc(&headers, '\0');
	/* the recipients the feedback fields name are other people's */
	if (r.original_rcpt_to != NULL) {
		if (mode == ARF_REDACT_NONE)
			r.original_rcpt_to = NULL;
		else if (mode == ARF_REDACT_HASHED &&
			 arf_redact_text(&rcpt, r.original_rcpt_to, strlen(r.original_rcpt_to),
					 job->fail_key, sizeof job->fail_key) == 0 &&
			 dm_buf_addc(&rcpt, '\0') == 0)
			r.original_rcpt_to = rcpt.data;
	}

	/* what is kept, as one document: archived, and its hash the identity */
	bad |= kept_field(&doc, "Feedback-Type", r.feedback_type);
	bad |= kept_field(&doc, "Version", r.version);
	bad |= kept_field(&doc, "User-Agent", r.user_agent);
	bad |= kept_field(&doc, "Auth-Failure", r.auth_failure);
	bad |= kept_field(&doc, "Delivery-Result", r.delivery_result);
	bad |= kept_field(&doc, "Reported-Domain", r.reported_domain);
	bad |= kept_field(&doc, "Source-IP", r.source_ip_family ? r.source_ip_text : NULL);
	bad |= kept_field(&doc, "Original-Mail-From", r.original_mail_from);
	bad |= kept_field(&doc, "Original-Rcpt-To", r.original_rcpt_to);
	bad |= kept_field(&doc, "Original-Envelope-Id", r.original_envelope_id);
	bad |= kept_field(&doc, "Reporting-MTA", r.reporting_mta);
	if (r.have_arrival_date)
		bad |= dm_buf_printf(&doc, "Arrival-Date: %lld\n", (long long)r.arrival_date);
	bad |= kept_field(&doc, "Identity-Alignment", r.identity_alignment);
	bad |= kept_field(&doc, "DKIM-Domain", r.dkim_domain);
	bad |= kept_field(&doc, "DKIM-Identity", r.dkim_identity);
	bad |= kept_field(&doc, "DKIM-Selector", r.dkim_selector);
	bad |= kept_field(&doc, "SPF-DNS", r.spf_dns);
	if (r.authentication_results != NULL) {
		/* one field per value (they were joined with newlines) */
		const char *a = r.authentication_results;
		while (*a) {
			size_t n = strcspn(a, "\n");
			bad |= dm_buf_printf(&doc, "Authentication-Results: %.*s\n", (int)n, a);
			a += n + (a[n] == '\n');
		}
	}
	bad |= dm_buf_printf(&doc, "X-Dmarcd-Form: %s\nX-Dmarcd-Redaction: %s\n\n",
			    r.is_arf ? "arf" : "text",
			    mode == ARF_REDACT_HASHED    ? "hashed"
			    : mode == ARF_REDACT_HEADERS ? "headers"
							 : "none");
	bad |= dm_buf_adds(&doc, headers.data);
	if (bad) { /* cannot be: every part is bounded below the buffers' size */
		emit_failure(job, &r, "rejected", "failure report too large to keep");
		goto out;
	}

	struct archive_writer *w = archive_put_begin(job->env.archive, time(NULL));
	rc = w ? archive_put_write(w, doc.data, doc.len) : DM_EIO;
	if (rc == 0)
		rc = archive_put_commit(w, "txt", job->key, sizeof job->key, job->hash, err,
					sizeof err);
	else if (w)
		archive_put_abort(w);
	if (rc) {
		job->key[0] = '\0';
		snprintf(msg, sizeof msg, "archive error: %s", *err ? err : dm_strerror(rc));
		emit_failure(job, &r, "rejected", msg);
		job->fatal = rc;
		goto out;
	}
	int64_t account = job->env.account_id;
	if (job->env.account_for != NULL && r.reported_domain != NULL)
		account = job->env.account_for(job->env.arg, r.reported_domain);
	struct store_report_info info = {
		.archive_key = job->key,
		.content_hash = job->hash,
		.source = job->display,
		.received_at = (int64_t)time(NULL),
	};
	enum store_outcome out;
	rc = store_failure_put(job->env.store, account, &r, headers.data, &info, &out, job->err,
			       sizeof job->err);
	if (rc) {
		snprintf(msg, sizeof msg, "store error: %s (%s)", dm_strerror(rc), job->err);
		emit_failure(job, &r, "rejected", msg);
		job->fatal = rc;
		goto out;
	}
	emit_failure(job, &r, out == STORE_STORED ? "stored" : "duplicate", NULL);
out:
	dm_buf_free(&headers);
	dm_buf_free(&doc);
	dm_buf_free(&rcpt);
	dm_failure_free(&r);
	failure_clear(job);
}

/* The message is a failure report: its parts from here are read as one
 * (failure_part), and it is stored when the message ends. */
static void
failure_report(struct ingest_job *job)
{
	job->saw_failure = 1;
	job->fail_active = 1;
}

static int
on_message(void *arg, unsigned index)
{
	struct ingest_job *job = arg;
	(void)index;
	failure_end(job); /* the previous message of an mbox */
	job->saw_failure = 0;
	return job->fatal;
}

/* The header block of a message inside the one walked: the first one is
 * what a failure report's original message is read from. */
static int
on_message_headers(void *arg, int depth, const char *text, size_t len)
{
	struct ingest_job *job = arg;
	if (depth == 1 && job->fail_orig.len == 0 &&
	    dm_buf_add(&job->fail_orig, text, len < DM_MAX_HEADER_BYTES ? len : DM_MAX_HEADER_BYTES))
		dm_buf_reset(&job->fail_orig); /* cannot be: the buffer holds that much */
	return job->fatal;
}

static int
on_part(void *arg, const struct mime_part_info *info, struct dm_reader *content)
{
	struct ingest_job *job = arg;
	unsigned char head[DM_SNIFF_BYTES];
	size_t nhead = 0;
	if (job->fatal)
		return job->fatal;
	if (strcmp(info->content_type, "message/feedback-report") == 0) {
		failure_report(job);
		return read_into(content, NULL, 0, &job->fail_fields, DM_ARF_MAX_PART_BYTES);
	}
	if (strcmp(info->content_type, "text/rfc822-headers") == 0 &&
	    (job->saw_failure || (info->report_type &&
				  strcmp(info->report_type, "feedback-report") == 0))) {
		failure_report(job);
		dm_buf_reset(&job->fail_orig);
		return read_into(content, NULL, 0, &job->fail_orig, DM_MAX_HEADER_BYTES);
	}
	if (job->saw_failure)
		return 0; /* the rest of a failure report is its sample message */
	if (info->report_type && strcmp(info->report_type, "feedback-report") == 0) {
		failure_report(job); /* its human-readable part: not kept */
		return 0;
	}
	while (nhead < sizeof head) {
		ssize_t n = dm_reader_read(content, head + nhead, sizeof head - nhead);
		if (n <= 0)
			break;
		nhead += (size_t)n;
	}
	enum sniff_kind k = sniff_bytes(head, nhead, NULL);
	int shaped = k == SNIFF_XML || k == SNIFF_JSON || k == SNIFF_GZIP || k == SNIFF_ZIP ||
		     k == SNIFF_ZLIB;
	if (k == SNIFF_XML && (strcmp(info->content_type, "text/html") == 0 || looks_like_html(head, nhead)))
		shaped = 0; /* an HTML body starts with '<' too */
	if (!shaped) {
		if (strncmp(info->content_type, "text/", 5) == 0 &&
		    (looks_like_failure(head, nhead) || arf_sniff(head, nhead))) {
			/* the plain-text form (Exim/cPanel): kept to be read */
			failure_report(job);
			return read_into(content, head, nhead, &job->fail_text,
					 DM_ARF_MAX_PART_BYTES);
		}
		if (!labelled_as_report(info))
			return 0; /* a body text, a signature, a logo */
	}
	struct prefix_reader pr = {.head = head, .nhead = nhead, .rest = content};
	struct dm_reader r = {.read = prefix_read, .ctx = &pr};
	job->part = info;
	int rc = attachment(job, &r);
	job->part = NULL;
	return rc;
}

static int
on_message_failed(void *arg, unsigned index, int rc, const char *reason)
{
	struct ingest_job *job = arg;
	char msg[DM_MAX_ERROR_LEN + 32];
	snprintf(msg, sizeof msg, "message %u: %s", index, reason);
	emit_simple(job, "none", "rejected", NULL, msg);
	return job->fatal;
}

static void
on_mime_warn(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* ---- inputs ------------------------------------------------------------ */

struct ingest_job *
ingest_job_new(const struct ingest_env *env)
{
	struct ingest_job *job = xcalloc(1, sizeof *job);
	job->env = *env;
	job->iobuf = xmalloc(IOBUF);
	job->tail = xmalloc(UNPACK_ZIP_TAIL);
	dm_buf_init(&job->mem, DM_MAX_INMEMORY_ATTACHMENT);
	dm_arena_init(&job->batch_arena);
	dm_buf_init(&job->tlsbuf, DM_TLS_KEEP_BYTES + 2 * DM_TLS_MAX_TOKEN * 8);
	dm_buf_init(&job->fail_fields, DM_ARF_MAX_PART_BYTES);
	dm_buf_init(&job->fail_text, DM_ARF_MAX_PART_BYTES);
	dm_buf_init(&job->fail_orig, DM_MAX_HEADER_BYTES);
	job->batch = xcalloc(DM_MAX_BATCH_RECORDS, sizeof *job->batch);
	if (env->enrich) {
		char err[256];
		job->enricher = dm_enricher_new(env->enrich, err, sizeof err);
		if (!job->enricher)
			dm_log(DM_LOG_WARN, "ingest", "enrichment off for this job: %s", err);
		job->rdns = job->enricher && dm_enrich_rdns(env->enrich);
	}
	return job;
}

void
ingest_job_free(struct ingest_job *job)
{
	if (!job)
		return;
	doc_reset(job);
	agg_parser_free(job->parser);
	tls_parser_free(job->tls);
	dm_buf_free(&job->tlsbuf);
	dm_buf_free(&job->fail_fields);
	dm_buf_free(&job->fail_text);
	dm_buf_free(&job->fail_orig);
	explicit_bzero(job->fail_key, sizeof job->fail_key);
	free(job->iobuf);
	free(job->tail);
	dm_buf_free(&job->mem);
	dm_arena_free(&job->batch_arena);
	free(job->batch);
	dm_enricher_free(job->enricher);
	free(job);
}

const char *
ingest_job_error(const struct ingest_job *job)
{
	return job->err;
}

int
ingest_fd(struct ingest_job *job, int fd, const char *display, uint64_t own_bytes)
{
	char err[DM_MAX_ERROR_LEN];
	unsigned char head[DM_SNIFF_BYTES];
	struct stat st;
	job->display = display;
	job->nreports = 0;
	job->saw_failure = 0;
	job->fatal = 0;
	job->err[0] = '\0';
	job->key[0] = '\0';

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		emit_simple(job, "none", "rejected", NULL, "not a regular file");
		return 0;
	}
	if (st.st_size == 0) {
		emit_simple(job, "none", "rejected", NULL, "empty file");
		return 0;
	}
	ssize_t nhead = pread(fd, head, sizeof head, 0);
	if (nhead < 0) {
		snprintf(err, sizeof err, "cannot read: %s", strerror(errno));
		emit_simple(job, "none", "rejected", NULL, err);
		return 0;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		emit_simple(job, "none", "rejected", NULL, "cannot seek");
		return 0;
	}
	enum sniff_kind k = sniff_bytes(head, (size_t)nhead, NULL);
	int rc = 0;
	if (k == SNIFF_MAIL || k == SNIFF_MBOX) {
		struct mime_sink sink = {
			.message = on_message,
			.message_headers = on_message_headers,
			.part = on_part,
			.warn = on_mime_warn,
			.arg = job,
			.message_failed = on_message_failed,
		};
		err[0] = '\0';
		/* what dmarcd wrote itself (a spool entry's envelope fields) is
		 * not the sender's message and is not counted */
		uint64_t size = (uint64_t)st.st_size;
		size -= own_bytes < size ? own_bytes : size;
		if (k == SNIFF_MAIL && size > DM_MAX_MESSAGE_BYTES) {
			snprintf(err, sizeof err, "message larger than %llu bytes",
				 (unsigned long long)DM_MAX_MESSAGE_BYTES);
			emit_simple(job, "none", "rejected", NULL, err);
			return 0;
		}
		rc = k == SNIFF_MAIL ? mime_walk_fd(fd, &sink, err, sizeof err)
				     : mime_walk_mbox_fd(fd, &sink, err, sizeof err);
		if (!job->fatal)
			failure_end(job); /* the last message's */
		failure_clear(job);
		if (job->fatal)
			return job->fatal;
		if (rc < 0)
			emit_simple(job, "none", "rejected", NULL, *err ? err : dm_strerror(rc));
	} else {
		struct dm_fd_reader fr;
		struct dm_reader r;
		dm_reader_fd(&r, &fr, fd);
		rc = attachment(job, &r);
		if (job->fatal)
			return job->fatal;
	}
	if (job->nreports == 0)
		emit_simple(job, "none", "empty", NULL, "no report found");
	return 0;
}

int
ingest_path(struct ingest_job *job, const char *path, const char *display)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		char err[DM_MAX_ERROR_LEN];
		job->display = display;
		job->nreports = 0;
		snprintf(err, sizeof err, "cannot open: %s", strerror(errno));
		emit_simple(job, "none", "rejected", NULL, err);
		return 0;
	}
	int rc = ingest_fd(job, fd, display, 0);
	close(fd);
	return rc;
}

int
ingest_stream(struct ingest_job *job, int fd, const char *display)
{
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/stdin-XXXXXX", job->env.tmp_dir);
	int tfd = mkostemp(tmpl, O_CLOEXEC);
	if (tfd < 0)
		return DM_EIO;
	unlink(tmpl);
	uint64_t total = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, job->iobuf, IOBUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* the input's fault, not ours: a line, and go on */
			char err[DM_MAX_ERROR_LEN];
			snprintf(err, sizeof err, "cannot read: %s", strerror(errno));
			job->display = display;
			job->nreports = 0;
			emit_simple(job, "none", "rejected", NULL, err);
			close(tfd);
			return 0;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > DM_MAX_ATTACHMENT_BYTES) {
			job->display = display;
			job->nreports = 0;
			emit_simple(job, "none", "rejected", NULL, "input too large");
			close(tfd);
			return 0;
		}
		rc = dm_write_all(tfd, job->iobuf, (size_t)n);
		if (rc)
			break; /* our disk: a storage failure */
	}
	if (rc == 0)
		rc = ingest_fd(job, tfd, display, 0);
	close(tfd);
	return rc;
}
