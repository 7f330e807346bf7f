/*
 * fuzz_arf.c - libFuzzer target for the failure-report reader
 * (src/parse/arf.c).
 *
 * The first byte picks the redaction mode and whether the input is read
 * as a feedback-report part or as a plain-text report; the rest is fed
 * to arf_parse_fields or arf_parse_text, then (from the offset the text
 * reader found, or whole) to arf_original_headers, into a small and a
 * large output buffer.  Every string of the model is read so ASan sees a
 * dangling or unterminated one, and the promises are checked: values
 * within DM_ARF_MAX_VALUE, the stored copy within
 * DM_ARF_MAX_STORED_HEADERS, a reason with every error.
 *
 * Seeds: fuzz/corpus/arf/.
 */
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "parse/arf.h"

static size_t sink;

static void
touch(const char *s, size_t max)
{
	if (!s)
		return;
	size_t n = strlen(s);
	if (n > max)
		abort();
	sink += n;
}

static void
check(const struct dm_failure_report *r)
{
	const char *v[] = {
	        r->feedback_type,
	        r->version,
	        r->user_agent,
	        r->auth_failure,
	        r->delivery_result,
	        r->reported_domain,
	        r->source_ip_text,
	        r->original_mail_from,
	        r->original_rcpt_to,
	        r->original_envelope_id,
	        r->reporting_mta,
	        r->identity_alignment,
	        r->dkim_domain,
	        r->dkim_identity,
	        r->dkim_selector,
	        r->spf_dns,
	        r->subject,
	        r->from,
	        r->header_from_domain,
	        r->to,
	        r->message_id,
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		touch(v[i], DM_ARF_MAX_VALUE);
	touch(r->authentication_results, DM_ARF_MAX_AUTH_RESULTS);
	touch(r->error, DM_MAX_ERROR_LEN);
	if (r->nwarnings > DM_MAX_WARNINGS)
		abort();
	for (unsigned i = 0; i < r->nwarnings; i++)
		touch(r->warnings[i], DM_MAX_ERROR_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	static const unsigned char key[] = "fuzz-key";
	if (!init) {
		g_mime_init();
		init = 1;
	}
	if (size == 0)
		return 0;
	unsigned sel = data[0];
	data++;
	size--;
	/* an exact-size copy, so ASan sees a read past the end */
	char *text = malloc(size ? size : 1);
	if (size)
		memcpy(text, data, size);

	struct dm_failure_report r;
	dm_failure_init(&r);
	size_t at = 0;
	int rc;
	if (sel & 1) {
		rc = arf_parse_text(&r, text, size, &at);
		if (at > size)
			abort();
		(void)arf_sniff((const unsigned char *)text, size);
	} else {
		rc = arf_parse_fields(&r, text, size);
	}
	if (rc < 0 && !r.error)
		abort();
	enum arf_redact mode = (enum arf_redact)((sel >> 1) % 3);
	struct dm_buf small, big;
	dm_buf_init(&small, 200);
	dm_buf_init(&big, 1 << 20);
	if (arf_original_headers(&r, text + at, size - at, mode, key, sizeof key - 1, &big) != 0 ||
	    arf_original_headers(&r, text + at, size - at, mode, key, sizeof key - 1, &small) != 0)
		abort();
	if (big.len > DM_ARF_MAX_STORED_HEADERS || small.len > 200)
		abort();
	if (mode == ARF_REDACT_NONE && (big.len || r.subject || r.from || r.to || r.message_id))
		abort();
	touch(dm_buf_str(&big), big.len);
	check(&r);
	dm_buf_free(&small);
	dm_buf_free(&big);
	dm_failure_free(&r);
	free(text);
	return 0;
}
