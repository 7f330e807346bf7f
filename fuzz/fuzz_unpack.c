/*
 * fuzz_unpack.c - libFuzzer target for unpack_run (gzip, zlib, zip, plain).
 *
 * The input is the attachment.  The sink counts bytes, sniffs the head of
 * every document (as the ingest pipeline does), checks the begin/data/end
 * order and the output limit, and asks for DM_ESTOP on some documents so
 * the skip paths run too.  Limits are tight (16 MiB out) so a run stays
 * fast.  Seeds: fuzz/corpus/unpack/, made by fuzz/make_unpack_seeds.py.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/reader.h"
#include "parse/sniff.h"
#include "parse/unpack.h"

#define FUZZ_MAX_OUT (16ULL * 1024 * 1024)

struct fz {
	int in_doc;
	unsigned docs;
	uint64_t total;
	unsigned char head[64];
	size_t headlen;
	int stop_mask; /* bit i: stop document i after its first chunk */
};

static int
fz_begin(void *arg, const char *name, const char *layers)
{
	struct fz *f = arg;
	if (f->in_doc || !layers)
		abort();
	if (name && strlen(name) > DM_MAX_ENTRY_NAME)
		abort();
	f->in_doc = 1;
	f->headlen = 0;
	f->docs++;
	return 0;
}

static int
fz_data(void *arg, const void *buf, size_t len)
{
	struct fz *f = arg;
	if (!f->in_doc || len == 0)
		abort();
	f->total += len;
	if (f->total > FUZZ_MAX_OUT)
		abort(); /* the limit is checked before data reaches the sink */
	if (f->headlen < sizeof f->head) {
		size_t n = sizeof f->head - f->headlen;
		if (n > len)
			n = len;
		memcpy(f->head + f->headlen, buf, n);
		f->headlen += n;
		(void)sniff_bytes(f->head, f->headlen, NULL);
	}
	if (f->docs <= 16 && (f->stop_mask >> (f->docs - 1)) & 1)
		return DM_ESTOP;
	return 0;
}

static int
fz_end(void *arg, int rc, const char *reason)
{
	struct fz *f = arg;
	if (!f->in_doc || rc > 0 || (rc < 0 && (!reason || !*reason)) || (rc == 0 && reason))
		abort();
	f->in_doc = 0;
	return 0;
}

static void
fz_warn(void *arg, const char *msg)
{
	(void)arg;
	if (!msg || !*msg)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f;
	memset(&f, 0, sizeof f);
	/* the last byte picks which documents the sink stops early */
	f.stop_mask = size ? data[size - 1] & 0x5 : 0;

	struct unpack_limits lim;
	unpack_limits_default(&lim);
	lim.max_out = FUZZ_MAX_OUT;

	struct unpack_sink sink = {fz_begin, fz_data, fz_end, fz_warn, &f};
	struct dm_reader rd;
	struct dm_mem_reader m;
	dm_reader_mem(&rd, &m, data, size);
	char err[256];
	int rc = unpack_run(&rd, &lim, &sink, err, sizeof err);
	if (f.in_doc || rc > 0)
		abort();
	if (rc < 0 && (err[0] == '\0' || strlen(err) >= sizeof err))
		abort();
	if (rc == 0 && err[0] != '\0')
		abort();
	return 0;
}
