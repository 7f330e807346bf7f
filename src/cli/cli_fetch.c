/*
 * cli_fetch.c - `dmarcd fetch [--json] [URL...]`: one run over the
 * configuration's [fetch] mailboxes (all of them, or those whose url is
 * given), each message into the spool, then flagged, moved or deleted.
 *
 * Functions: cli_fetch.
 *
 * The password, rcpt and after of a mailbox come from its [fetch] section
 * only: a URL given here names a section, and a URL with a password in it
 * is refused.  Prints a line per message and one per mailbox (--json: one
 * object per line, "type" message or mailbox).  Exit 0 when everything
 * went through, 1 when a message could not be fetched or acted upon (it
 * stays in the mailbox), 2 when a mailbox could not be read at all
 * (configuration, connection, login, TLS, spool).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "fetch/fetch.h"
#include "spool/spool.h"

enum { KEY_JSON = 1 };

const struct cli_opt cli_fetch_opts[] = {
        {"json", 0, KEY_JSON, NULL, "one JSON object per line"},
        {NULL, 0, 0, NULL, NULL},
};

struct fetch_args {
	int json;
	const char *url;
};

static int
fetch_opt(void *arg, int key, const char *value)
{
	struct fetch_args *a = arg;
	(void)value;
	if (key == KEY_JSON)
		a->json = 1;
	return 0;
}

static void
json_line(struct dm_buf *b)
{
	fwrite(b->data, 1, b->len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	b->len = 0;
}

static void
on_msg(void *arg, const struct fetch_event *e)
{
	struct fetch_args *a = arg;

	if (a->json) {
		struct dm_buf b;
		struct dm_json j;
		dm_buf_init(&b, 64 * 1024);
		dm_json_init(&j, &b);
		dm_json_obj_begin(&j);
		dm_json_key(&j, "type");
		dm_json_str(&j, "message");
		dm_json_key(&j, "url");
		dm_json_str(&j, a->url);
		dm_json_key(&j, "uid");
		dm_json_uint(&j, e->uid);
		dm_json_key(&j, "status");
		dm_json_str(&j, e->status);
		dm_json_key(&j, "spool_id");
		dm_json_str(&j, e->spool_id[0] ? e->spool_id : NULL);
		dm_json_key(&j, "size");
		dm_json_uint(&j, e->size);
		dm_json_key(&j, "after");
		dm_json_str(&j, e->after[0] ? e->after : NULL);
		dm_json_key(&j, "error");
		dm_json_str(&j, e->error[0] ? e->error : NULL);
		dm_json_obj_end(&j);
		json_line(&b);
		dm_buf_free(&b);
		return;
	}
	if (strcmp(e->status, "spooled") == 0)
		printf("UID %u: spooled as %s (%llu bytes)%s%s%s%s\n", e->uid, e->spool_id,
		       (unsigned long long)e->size, e->after[0] ? ", " : "", e->after,
		       e->error[0] ? ": " : "", e->error);
	else
		printf("UID %u: %s: %s\n", e->uid, e->status, e->error);
	fflush(stdout);
}

static int
one_source(const struct dm_fetch_source *src, const struct dm_config *cfg, struct spool *sp,
           struct fetch_args *a)
{
	struct fetch_hooks hooks = {on_msg, NULL, a};
	struct fetch_totals t;
	char err[1024];

	a->url = src->url;
	if (strcmp(src->insecure, "yes") == 0)
		fprintf(stderr,
		        "dmarcd fetch: %s: WARNING: insecure = yes: the server's TLS"
		        " certificate is NOT verified\n",
		        src->url);
	int rc = fetch_run(src, cfg->data_dir, sp, &hooks, &t, err, sizeof err);
	if (a->json) {
		struct dm_buf b;
		struct dm_json j;
		dm_buf_init(&b, 64 * 1024);
		dm_json_init(&j, &b);
		dm_json_obj_begin(&j);
		dm_json_key(&j, "type");
		dm_json_str(&j, "mailbox");
		dm_json_key(&j, "url");
		dm_json_str(&j, src->url);
		dm_json_key(&j, "spooled");
		dm_json_uint(&j, t.spooled);
		dm_json_key(&j, "failed");
		dm_json_uint(&j, t.failed);
		dm_json_key(&j, "after_failed");
		dm_json_uint(&j, t.after_failed);
		dm_json_key(&j, "bytes");
		dm_json_uint(&j, t.bytes);
		dm_json_key(&j, "uidvalidity");
		dm_json_uint(&j, t.uidvalidity);
		dm_json_key(&j, "restarted");
		dm_json_bool(&j, t.restarted);
		dm_json_key(&j, "more");
		dm_json_bool(&j, t.more);
		dm_json_key(&j, "error");
		dm_json_str(&j, rc != 0 ? err : NULL);
		dm_json_obj_end(&j);
		json_line(&b);
		dm_buf_free(&b);
	} else if (rc == 0) {
		if (t.restarted)
			printf("%s: UIDVALIDITY changed (now %u): read from the start\n", src->url,
			       t.uidvalidity);
		printf("%s: %u spooled (%llu bytes), %u left in the mailbox, %u not %s%s\n",
		       src->url, t.spooled, (unsigned long long)t.bytes, t.failed, t.after_failed,
		       strncmp(src->after, "move:", 5) == 0 ? "moved"
		       : strcmp(src->after, "delete") == 0  ? "deleted"
		                                            : "flagged",
		       t.more ? "; more next run" : "");
	}
	if (rc != 0) {
		fprintf(stderr, "dmarcd fetch: %s\n", err);
		return CLI_FAILED;
	}
	return t.failed || t.after_failed ? CLI_REJECTED : CLI_OK;
}

int
cli_fetch(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct fetch_args a = {0, ""};
	struct dm_config *cfg = xcalloc(1, sizeof *cfg);
	struct spool *sp = NULL;
	char err[1024];
	int first, rc = CLI_FAILED;

	if (cli_parse(cmd, argc, argv, cfg, fetch_opt, &a, &first) != CLI_OK)
		goto out;
	for (int i = first; i < argc; i++) {
		struct dm_fetch_source probe;
		int found = 0;
		memset(&probe, 0, sizeof probe);
		if (dm_config_fetch_set(&probe, "url", argv[i], err, sizeof err) != 0) {
			fprintf(stderr, "dmarcd fetch: %s\n", err);
			goto out;
		}
		for (unsigned k = 0; k < cfg->nfetch; k++)
			found |= strcmp(cfg->fetch[k].url, argv[i]) == 0;
		if (!found) {
			fprintf(stderr,
			        "dmarcd fetch: no [fetch] section with url = %s in the "
			        "configuration"
			        " (its password, rcpt and after come from there)\n",
			        argv[i]);
			goto out;
		}
	}
	if (cfg->nfetch == 0) {
		fprintf(stderr, "dmarcd fetch: no [fetch] section in the configuration"
		                " (docs/FETCH.md)\n");
		goto out;
	}
	if (fetch_global_init() != 0) {
		fprintf(stderr, "dmarcd fetch: cannot start libcurl\n");
		goto out;
	}
	if (spool_open(&sp, cfg->data_dir, err, sizeof err) != 0) {
		fprintf(stderr, "dmarcd fetch: spool: %s\n", err);
		goto out;
	}
	rc = CLI_OK;
	for (unsigned k = 0; k < cfg->nfetch; k++) {
		int wanted = first >= argc;
		for (int i = first; i < argc; i++)
			wanted |= strcmp(cfg->fetch[k].url, argv[i]) == 0;
		if (!wanted)
			continue;
		int r = one_source(&cfg->fetch[k], cfg, sp, &a);
		if (r > rc)
			rc = r;
	}
out:
	spool_close(sp);
	free(cfg);
	return rc;
}
