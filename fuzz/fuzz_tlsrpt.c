/*
 * fuzz_tlsrpt.c - libFuzzer target for the TLS-RPT JSON parser.
 *
 * The first byte picks a chunk size so chunk boundaries fall everywhere
 * (inside strings, escapes, \uXXXX, UTF-8 characters, numbers); the
 * callbacks read every string so ASan sees any pointer that outlived its
 * arena.  The parser is reset and fed the same input again, which must
 * give the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse/tlsrpt.h"

static size_t sink;

static void
touch(const char *s)
{
	if (s)
		sink += strlen(s);
}

static int
on_policy(void *arg, struct dm_tls_report *rep, const struct dm_tls_policy *p)
{
	touch(p->type);
	touch(p->domain);
	touch(p->mx_host);
	touch(p->policy_string);
	touch(rep->org_name);
	touch(rep->report_id);
	touch(rep->contact_info);
	touch(rep->policy_domain);
	sink += p->index + p->success + p->failure;
	return 0;
}

static int
on_failure(void *arg, struct dm_tls_report *rep, const struct dm_tls_failure *f)
{
	touch(f->result_type);
	touch(f->sending_mta_ip);
	touch(f->receiving_mx_hostname);
	touch(f->receiving_mx_helo);
	touch(f->receiving_ip);
	touch(f->additional_info);
	touch(f->failure_reason_code);
	touch(rep->report_id);
	sink += f->policy + f->sessions;
	return 0;
}

static int
run(struct tls_parser *p, const uint8_t *data, size_t size, size_t chunk)
{
	int rc = 0;
	for (size_t off = 0; off < size && rc == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		rc = tls_parser_feed(p, data + off, n);
	}
	if (rc == 0)
		rc = tls_parser_finish(p);
	struct dm_tls_report *rep = tls_parser_report(p);
	touch(tls_parser_error(p));
	touch(rep->org_name);
	touch(rep->report_id);
	touch(rep->contact_info);
	touch(rep->policy_domain);
	for (unsigned i = 0; i < rep->nwarnings; i++)
		touch(rep->warnings[i]);
	return rc;
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
	struct tls_parser *p = tls_parser_new(on_policy, on_failure, NULL);
	int rc1 = run(p, data, size, chunk);
	unsigned npol = tls_parser_report(p)->npolicies;
	tls_parser_reset(p);
	/* whole, after a reset: the same answer */
	int rc2 = run(p, data, size, size ? size : 1);
	if (rc1 != rc2 || npol != tls_parser_report(p)->npolicies)
		abort();
	tls_parser_free(p);
	return 0;
}
