/*
 * fuzz_dmarc_record.c - libFuzzer target for the DMARC record parser
 * (dm_dmarc_record_parse) and its JSON.
 *
 * Checked after every input: the findings and URIs stay within their
 * bounds; every message is printable ASCII (record text is quoted into
 * them); a record is valid exactly when no finding is an error (counted
 * also past the kept ones), and only a DMARC record is; the
 * effective policy of a DMARC record is one of the three or empty; the
 * JSON is produced.  A violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "dns/dmarc_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
policy_ok(const char *p)
{
	return !*p || !strcmp(p, "none") || !strcmp(p, "quarantine") || !strcmp(p, "reject");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dm_dmarc_record r;
	dm_dmarc_record_parse((const char *)data, size, &r);
	if (r.nfindings > DM_DMARC_MAX_FINDINGS || r.nrua > DM_DMARC_MAX_URIS ||
	    r.nruf > DM_DMARC_MAX_URIS)
		abort();
	size_t errors = 0;
	for (size_t i = 0; i < r.nfindings; i++) {
		if (r.findings[i].code == NULL)
			abort();
		errors += r.findings[i].severity == DM_FINDING_ERROR;
		for (const char *c = r.findings[i].message; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				abort();
	}
	/* every error counted, also one past the kept findings */
	if (errors > r.nerrors || (!r.findings_dropped && errors != r.nerrors))
		abort();
	if (r.valid != (r.nerrors == 0) || (r.valid && !r.is_dmarc))
		abort();
	if (!policy_ok(r.eff.p) || !policy_ok(r.eff.sp) || !policy_ok(r.eff.np))
		abort();
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 4 * 1024 * 1024);
	dm_json_init(&j, &b);
	dm_dmarc_record_json(&r, &j);
	if (b.len == 0 || b.data[0] != '{')
		abort();
	dm_buf_free(&b);
	return 0;
}
