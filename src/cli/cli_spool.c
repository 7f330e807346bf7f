/*
 * cli_spool.c - `dmarcd deliver` (one message from an MTA into the spool)
 * and `dmarcd spool list|retry` (the operator's view of the spool).
 *
 * Functions: cli_deliver, cli_spool.
 *
 * deliver speaks the sysexits(3) language MTAs understand (Postfix
 * pipe(8), sendmail/.forward):
 *
 *   0   EX_OK        spooled durably; the MTA may forget the message
 *   65  EX_DATAERR   empty, bigger than DM_SMTP_MAX_SIZE or more than
 *                    SPOOL_MAX_RCPT_READ recipients: retrying cannot
 *                    help, the MTA bounces it; nothing kept
 *   75  EX_TEMPFAIL  could not spool (disk full, permissions, bad
 *                    configuration or command line): the MTA keeps the
 *                    message and tries again later
 *
 * Each failure prints one line on stderr ("dmarcd deliver: ..."), which
 * the MTA puts in its log or bounce.  The message is read in 64 KiB
 * pieces and never held in memory.
 *
 * spool list prints one line per entry (ID, state, size, age, reason) or
 * one JSON object per line with --json, then a summary on stderr.  spool
 * retry moves failed entries back to new/, where `dmarcd serve` picks
 * them up; it exits 1 when an ID is not a failed entry.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/log.h"
#include "spool/spool.h"

/* ---- dmarcd deliver ------------------------------------------------------ */

enum { KEY_FROM = 1, KEY_RCPT, KEY_FAILED, KEY_JSON, KEY_ALL };

const struct cli_opt cli_deliver_opts[] = {
        {"from", 1, KEY_FROM, "ADDR", "envelope sender (MAIL FROM); default <>"},
        {"rcpt", 1, KEY_RCPT, "ADDR", "envelope recipient; repeat for more (also operands)"},
        {NULL, 0, 0, NULL, NULL},
};

struct deliver_args {
	const char *from;
	const char *rcpt[SPOOL_MAX_RCPT_READ];
	size_t nrcpt;
	int too_many; /* more recipients than a spool entry holds */
};

/* Over-long addresses are not refused here: the spool cuts every value
 * to its field size (DM_SMTP_MAX_ADDRESS), as it does for SMTP. */
static void
add_rcpt(struct deliver_args *a, const char *v)
{
	if (a->nrcpt == SPOOL_MAX_RCPT_READ)
		a->too_many = 1;
	else
		a->rcpt[a->nrcpt++] = v;
}

static int
deliver_opt(void *arg, int key, const char *value)
{
	struct deliver_args *a = arg;
	if (key == KEY_FROM)
		a->from = value;
	else if (key == KEY_RCPT)
		add_rcpt(a, value);
	return 0;
}

/* Read stdin to its end and throw it away, so the MTA that writes it
 * sees our exit status rather than a broken pipe. */
static void
drain_stdin(void)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(0, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
		;
}

int
cli_deliver(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct deliver_args a = {.from = ""};
	struct dm_config cfg;
	struct spool *sp = NULL;
	struct spool_msg *m = NULL;
	char err[512];
	int first, rc, status = EX_TEMPFAIL;
	/* a usage or configuration error must not bounce mail: tempfail */
	if (cli_parse(cmd, argc, argv, &cfg, deliver_opt, &a, &first) != CLI_OK)
		return EX_TEMPFAIL;
	for (int i = first; i < argc; i++)
		add_rcpt(&a, argv[i]);
	if (a.too_many) {
		fprintf(stderr, "dmarcd deliver: more than %d recipients\n", SPOOL_MAX_RCPT_READ);
		drain_stdin();
		return EX_DATAERR;
	}
	if (spool_open(&sp, cfg.data_dir, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd deliver: spool: %s\n", err);
		return EX_TEMPFAIL;
	}
	struct spool_envelope env = {
	        .from = a.from,
	        .rcpt = a.rcpt,
	        .nrcpt = a.nrcpt,
	        .client_ip = "",
	        .helo = "",
	        .proto = "pipe",
	        .received_at = (int64_t)time(NULL),
	};
	rc = spool_msg_begin(sp, &env, &m);
	if (rc) {
		fprintf(stderr, "dmarcd deliver: spool: %s\n", dm_strerror(rc));
		goto out;
	}
	uint64_t body = 0;
	char buf[65536];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "dmarcd deliver: reading stdin: %s\n", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (DM_SMTP_MAX_SIZE - body < (uint64_t)n) {
			fprintf(stderr,
			        "dmarcd deliver: message too large (more than %llu bytes)\n",
			        (unsigned long long)DM_SMTP_MAX_SIZE);
			drain_stdin();
			status = EX_DATAERR;
			goto out;
		}
		body += (uint64_t)n;
		rc = spool_msg_write(m, buf, (size_t)n);
		if (rc) {
			fprintf(stderr, "dmarcd deliver: spool %s: %s\n", spool_msg_id(m),
			        dm_strerror(rc));
			goto out;
		}
	}
	if (body == 0) {
		fprintf(stderr, "dmarcd deliver: empty message\n");
		status = EX_DATAERR;
		goto out;
	}
	char id[SPOOL_ID_MAX];
	snprintf(id, sizeof id, "%s", spool_msg_id(m));
	rc = spool_msg_commit(m);
	m = NULL; /* freed by commit whatever happened */
	if (rc) {
		fprintf(stderr, "dmarcd deliver: spool %s: %s\n", id, dm_strerror(rc));
		goto out;
	}
	status = EX_OK;
out:
	spool_msg_abort(m);
	spool_close(sp);
	return status;
}

/* ---- dmarcd spool ----------------------------------------------------------- */

const struct cli_opt cli_spool_opts[] = {
        {"failed", 0, KEY_FAILED, NULL, "list: only the failed entries"},
        {"json", 0, KEY_JSON, NULL, "list: one JSON object per line"},
        {"all", 0, KEY_ALL, NULL, "retry: every failed entry"},
        {NULL, 0, 0, NULL, NULL},
};

struct spool_args {
	int failed, json, all;
	time_t now;
	unsigned n[3]; /* new, cur, failed */
	struct spool *sp;
	int rc;
};

static int
spool_opt(void *arg, int key, const char *value)
{
	struct spool_args *a = arg;
	if (key == KEY_FAILED)
		a->failed = 1;
	else if (key == KEY_JSON)
		a->json = 1;
	else if (key == KEY_ALL)
		a->all = 1;
	return 0;
}

static void
age_str(char *out, size_t len, int64_t secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(out, len, "%llds", (long long)secs);
	else if (secs < 2 * 3600)
		snprintf(out, len, "%lldm", (long long)(secs / 60));
	else if (secs < 2 * 86400)
		snprintf(out, len, "%lldh", (long long)(secs / 3600));
	else
		snprintf(out, len, "%lldd", (long long)(secs / 86400));
}

static int
print_entry(void *arg, const struct spool_entry *e)
{
	struct spool_args *a = arg;
	a->n[e->state[0] == 'n' ? 0 : e->state[0] == 'c' ? 1 : 2]++;
	if (a->json) {
		struct dm_buf b;
		struct dm_json j;
		dm_buf_init(&b, 64 * 1024);
		dm_json_init(&j, &b);
		dm_json_obj_begin(&j);
		dm_json_key(&j, "id");
		dm_json_str(&j, e->id);
		dm_json_key(&j, "state");
		dm_json_str(&j, e->state);
		dm_json_key(&j, "size");
		dm_json_uint(&j, e->size);
		dm_json_key(&j, "mtime");
		dm_json_int(&j, e->mtime);
		dm_json_key(&j, "why");
		dm_json_str(&j, e->why);
		dm_json_obj_end(&j);
		if (j.rc == 0)
			printf("%s\n", dm_buf_str(&b));
		dm_buf_free(&b);
		return j.rc;
	}
	char age[32], why[256];
	age_str(age, sizeof age, (int64_t)a->now - e->mtime);
	why[0] = '\0';
	if (e->why) /* sanitised when written; escape anyway, it is shown raw */
		dm_log_escape(why, sizeof why, e->why, strlen(e->why));
	printf("%-40s %-6s %10" PRIu64 " %6s%s%s\n", e->id, e->state, e->size, age,
	       e->why ? "  " : "", why);
	return 0;
}

static int
retry_one(struct spool_args *a, const char *id)
{
	int rc = spool_retry(a->sp, id);
	if (rc == 0) {
		printf("retried %s\n", id);
		return 0;
	}
	char esc[SPOOL_ID_MAX * 4];
	dm_log_escape(esc, sizeof esc, id, strlen(id));
	if (rc == DM_EINVAL)
		fprintf(stderr, "dmarcd spool: %s: not a spool ID\n", esc);
	else if (rc == DM_ENOTFOUND)
		fprintf(stderr, "dmarcd spool: %s: no such failed entry\n", esc);
	else if (rc == DM_EEXIST)
		fprintf(stderr, "dmarcd spool: %s: already waiting in new/\n", esc);
	else
		fprintf(stderr, "dmarcd spool: %s: %s\n", esc, dm_strerror(rc));
	a->rc = CLI_REJECTED;
	return 0;
}

static int
retry_entry(void *arg, const struct spool_entry *e)
{
	return retry_one(arg, e->id);
}

int
cli_spool(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct spool_args a = {.now = time(NULL)};
	struct dm_config cfg;
	struct stat st;
	char err[512];
	int first, rc;
	if (cli_parse(cmd, argc, argv, &cfg, spool_opt, &a, &first) != CLI_OK)
		return CLI_FAILED;
	const char *action = first < argc ? argv[first] : NULL;
	int is_list = action && strcmp(action, "list") == 0;
	int is_retry = action && strcmp(action, "retry") == 0;
	if (!is_list && !is_retry) {
		fprintf(stderr, "dmarcd spool: %s\n", action ? "unknown action" : "missing action");
		cli_usage(cmd, stderr);
		return CLI_FAILED;
	}
	if (is_list && (a.all || first + 1 < argc)) {
		fprintf(stderr, "dmarcd spool list: takes only --failed and --json\n");
		return CLI_FAILED;
	}
	if (is_retry && (a.failed || a.json || a.all == (first + 1 < argc))) {
		fprintf(stderr, "dmarcd spool retry: give IDs or --all\n");
		return CLI_FAILED;
	}
	if (stat(cfg.data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "dmarcd: no data folder at %s\n", cfg.data_dir);
		return CLI_FAILED;
	}
	if (spool_open(&a.sp, cfg.data_dir, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd spool: %s\n", err);
		return CLI_FAILED;
	}
	a.rc = CLI_OK;
	if (is_list) {
		rc = spool_list(a.sp, a.failed ? "failed" : NULL, print_entry, &a);
		if (rc == 0)
			fprintf(stderr, "spool: %u new, %u cur, %u failed\n", a.n[0], a.n[1],
			        a.n[2]);
	} else if (a.all) {
		rc = spool_list(a.sp, "failed", retry_entry, &a);
	} else {
		rc = 0;
		for (int i = first + 1; i < argc; i++)
			(void)retry_one(&a, argv[i]);
	}
	if (rc) {
		fprintf(stderr, "dmarcd spool: %s\n", dm_strerror(rc));
		a.rc = CLI_FAILED;
	}
	spool_close(a.sp);
	return a.rc;
}
