/*
 * cli_archive.c - `dmarcd archive get KEY`: one raw attachment to stdout.
 *
 * Functions: cli_archive.  The bytes are exactly those received (still
 * compressed); `dmarcd archive get K | sha256sum` gives the hash in K.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive.h"
#include "cli/cli.h"
#include "common/fsutil.h"

const struct cli_opt cli_archive_opts[] = {
	{NULL, 0, 0, NULL, NULL},
};

int
cli_archive(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct dm_config cfg;
	int first;
	char err[512];
	if (cli_parse(cmd, argc, argv, &cfg, NULL, NULL, &first) != CLI_OK)
		return CLI_FAILED;
	if (argc - first != 2 || strcmp(argv[first], "get") != 0) {
		cli_usage(cmd, stderr);
		return CLI_FAILED;
	}
	struct archive *ar = archive_open(&cfg, 0, err, sizeof err);
	if (!ar) {
		fprintf(stderr, "dmarcd: archive: %s\n", err);
		return CLI_FAILED;
	}
	struct archive_blob *b;
	int rc = archive_blob_open(ar, argv[first + 1], &b);
	if (rc) {
		fprintf(stderr, "dmarcd: archive: %s: %s\n", argv[first + 1], dm_strerror(rc));
		archive_close(ar);
		return CLI_REJECTED;
	}
	char buf[65536];
	ssize_t n;
	struct dm_reader *r = archive_blob_reader(b);
	while ((n = dm_reader_read(r, buf, sizeof buf)) > 0) {
		if (dm_write_all(1, buf, (size_t)n) != 0) {
			n = DM_EIO;
			break;
		}
	}
	archive_blob_close(b);
	archive_close(ar);
	if (n < 0) {
		fprintf(stderr, "dmarcd: archive: %s: %s\n", argv[first + 1], dm_strerror((int)n));
		return CLI_FAILED;
	}
	return CLI_OK;
}
