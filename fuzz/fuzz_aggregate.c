/*
 * fuzz_aggregate.c - libFuzzer target for the aggregate XML parser.
 *
 * The first byte picks a chunk size so chunk boundaries fall everywhere
 * (inside tags, BOMs, multi-byte characters); the record callback reads
 * every field so ASan sees any dangling pointer.
 */
#include <stdint.h>
#include <string.h>

#include "parse/aggregate.h"

static size_t sink;

static void
touch(const char *s)
{
	if (s)
		sink += strlen(s);
}

static int
on_record(void *arg, struct dm_report *rep, const struct dm_record *rec)
{
	touch(rec->ip_text);
	touch(rec->disposition);
	touch(rec->dkim);
	touch(rec->spf);
	touch(rec->header_from);
	touch(rec->envelope_from);
	touch(rec->envelope_to);
	for (unsigned i = 0; i < rec->ndkim; i++) {
		touch(rec->dkim_res[i].domain);
		touch(rec->dkim_res[i].selector);
		touch(rec->dkim_res[i].result);
		touch(rec->dkim_res[i].human_result);
	}
	for (unsigned i = 0; i < rec->nspf; i++) {
		touch(rec->spf_res[i].domain);
		touch(rec->spf_res[i].scope);
		touch(rec->spf_res[i].result);
	}
	for (unsigned i = 0; i < rec->nreasons; i++) {
		touch(rec->reasons[i].type);
		touch(rec->reasons[i].comment);
	}
	touch(rep->org_name);
	touch(rep->report_id);
	/* stop callbacks after a few records, as a duplicate would */
	return rep->records > 3 ? DM_ESTOP : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t chunk = (size_t)(data[0] % 64) + 1;
	data++;
	size--;
	struct agg_parser *p = agg_parser_new(on_record, NULL);
	int rc = 0;
	for (size_t off = 0; off < size && rc == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		rc = agg_parser_feed(p, data + off, n);
	}
	if (rc == 0)
		rc = agg_parser_finish(p);
	struct dm_report *rep = agg_parser_report(p);
	touch(agg_parser_error(p));
	for (unsigned i = 0; i < rep->nwarnings; i++)
		touch(rep->warnings[i]);
	agg_parser_free(p);
	return 0;
}
