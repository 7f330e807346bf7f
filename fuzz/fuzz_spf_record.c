/*
 * fuzz_spf_record.c - libFuzzer target for the SPF record parser
 * (dm_spf_record_parse) and its JSON.
 *
 * Checked after every input: terms and findings stay within their bounds,
 * every term's value is a string within its field, the lookups are the
 * count of lookup terms, every message is printable ASCII, a record is
 * valid exactly when no finding is an error (counted also past the kept
 * ones) and only an SPF record is; the JSON is produced.  A violation
 * aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "dns/spf_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dm_spf_record r;
	dm_spf_record_parse((const char *)data, size, &r);
	if (r.nfindings > DM_DMARC_MAX_FINDINGS)
		abort();
	size_t nt = r.nterms < DM_SPF_MAX_TERMS ? r.nterms : DM_SPF_MAX_TERMS;
	int lookups = 0;
	for (size_t i = 0; i < nt; i++) {
		if (memchr(r.terms[i].value, '\0', sizeof r.terms[i].value) == NULL)
			abort();
		lookups += r.terms[i].lookup;
	}
	if (lookups != r.lookups)
		abort();
	size_t errors = 0;
	for (size_t i = 0; i < r.nfindings; i++) {
		errors += r.findings[i].severity == DM_FINDING_ERROR;
		for (const char *c = r.findings[i].message; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				abort();
	}
	if (errors > r.nerrors || (!r.findings_dropped && errors != r.nerrors))
		abort();
	if (r.valid != (r.nerrors == 0) || (r.valid && !r.is_spf))
		abort();
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 4 * 1024 * 1024);
	dm_json_init(&j, &b);
	dm_spf_record_json(&r, &j);
	if (b.len == 0 || b.data[0] != '{')
		abort();
	dm_buf_free(&b);
	return 0;
}
