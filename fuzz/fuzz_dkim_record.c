/*
 * fuzz_dkim_record.c - libFuzzer target for the DKIM key record parser
 * (dm_dkim_record_parse) and its JSON.
 *
 * Checked after every input: findings stay within their bounds, every
 * kept tag and the key type are strings within their fields, every
 * message is printable ASCII, a record is valid exactly when no finding
 * is an error (counted also past the kept ones) and only a DKIM record
 * is; a revoked record has no key, a key has a size only with a type;
 * the JSON is produced.  A violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "dns/dkim_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
printable(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL)
		abort();
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dm_dkim_record r;
	dm_dkim_record_parse((const char *)data, size, &r);
	if (r.nfindings > DM_DMARC_MAX_FINDINGS)
		abort();
	printable(r.v, sizeof r.v);
	printable(r.k, sizeof r.k);
	printable(r.h, sizeof r.h);
	printable(r.s, sizeof r.s);
	printable(r.t, sizeof r.t);
	printable(r.key_type, sizeof r.key_type);
	size_t errors = 0;
	for (size_t i = 0; i < r.nfindings; i++) {
		errors += r.findings[i].severity == DM_FINDING_ERROR;
		printable(r.findings[i].message, sizeof r.findings[i].message);
	}
	if (errors > r.nerrors || (!r.findings_dropped && errors != r.nerrors))
		abort();
	if (r.valid != (r.nerrors == 0) || (r.valid && !r.is_dkim))
		abort();
	if (r.bits < 0 || (r.bits > 0 && !r.key_type[0]) || (r.revoked && r.key_type[0]))
		abort();
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 4 * 1024 * 1024);
	dm_json_init(&j, &b);
	dm_dkim_record_json(&r, &j);
	if (b.len == 0 || b.data[0] != '{')
		abort();
	dm_buf_free(&b);
	return 0;
}
