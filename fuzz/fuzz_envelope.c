/*
 * fuzz_envelope.c - libFuzzer target for spool_envelope_read(), which reads
 * dmarcd's own X-Dmarcd-* fields back from the head of a spool entry
 * whose message bytes came from the network.
 *
 * The input is the whole file (held in a memfd).  Checked: a success
 * never claims more header bytes than the file has, every value is a
 * NUL-terminated string within its field and holds no line break, and a
 * failure leaves the result zeroed.  A violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spool/spool.h"

static void
check_str(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);
	if (nul == NULL || memchr(s, '\n', (size_t)(nul - s)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0 && (fd = memfd_create("envelope", MFD_CLOEXEC)) < 0)
		abort();
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	struct spool_envelope_read env;
	int rc = spool_envelope_read(fd, &env);
	if (rc != 0) {
		static const struct spool_envelope_read zero;
		if (memcmp(&env, &zero, sizeof env) != 0)
			abort();
		return 0;
	}
	if (env.header_bytes > size || env.header_bytes == 0 || env.nrcpt > SPOOL_MAX_RCPT_READ)
		abort();
	check_str(env.from, sizeof env.from);
	check_str(env.client_ip, sizeof env.client_ip);
	check_str(env.helo, sizeof env.helo);
	check_str(env.proto, sizeof env.proto);
	size_t kept = sizeof env.rcpt / sizeof env.rcpt[0];
	for (size_t i = 0; i < env.nrcpt && i < kept; i++)
		check_str(env.rcpt[i], sizeof env.rcpt[i]);
	return 0;
}
