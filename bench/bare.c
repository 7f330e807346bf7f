/*
 * bare.c - the "bare expat + zlib" baseline for `make bench`.
 *
 *   bare DIR|FILE...
 *
 * Reads every regular file named, or found under a named directory (dot
 * files skipped), decides its kind by its first bytes - gzip (1F 8B), zip
 * (PK\3\4: the first entry only, stored or deflate, local header parsed
 * here) or anything else as plain XML - inflates it with zlib and feeds
 * the XML to expat in 64 KiB chunks.  It counts <record> elements and sums
 * <count>, nothing more, and prints one line of JSON on stdout:
 *
 *   {"files":N,"reports":N,"records":N,"messages":N,"xml_bytes":N,
 *    "input_bytes":N,"errors":N,"seconds":S,"records_per_s":R}
 *
 * This is the yardstick dmarcd ingest is measured against: a plain,
 * efficient single-threaded pass with no storage, validation or copies, so
 * "ingest reaches X% of bare" says what the rest of the pipeline costs.
 * Timing covers the whole walk (open, read, inflate, parse).
 *
 * A file that fails to inflate or parse is reported on stderr and counted
 * in "errors"; the exit status is then 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <expat.h>
#include <zlib.h>

#define BARE_CHUNK (64 * 1024)

struct bare {
	XML_Parser xp;
	z_stream z;
	int z_mode; /* windowbits the stream was last set up for, 0 = none */
	unsigned char in[BARE_CHUNK];
	unsigned char out[BARE_CHUNK];

	/* per document */
	int in_count;
	uint64_t count;

	/* totals */
	uint64_t files, reports, records, messages, xml_bytes, input_bytes, errors;
};

/* Local name: expat without namespace processing hands "prefix:name". */
static const char *
bare_local(const XML_Char *name)
{
	const char *c = strrchr(name, ':');

	return c != NULL ? c + 1 : name;
}

static void XMLCALL
bare_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct bare *b = ud;
	const char *n = bare_local(name);

	(void)atts;
	if (n[0] == 'r' && strcmp(n, "record") == 0) {
		b->records++;
	} else if (n[0] == 'c' && strcmp(n, "count") == 0) {
		b->in_count = 1;
		b->count = 0;
	}
}

static void XMLCALL
bare_end(void *ud, const XML_Char *name)
{
	struct bare *b = ud;

	if (b->in_count && strcmp(bare_local(name), "count") == 0) {
		b->messages += b->count;
		b->in_count = 0;
	}
}

static void XMLCALL
bare_text(void *ud, const XML_Char *s, int len)
{
	struct bare *b = ud;
	int i;

	if (!b->in_count)
		return;
	for (i = 0; i < len; i++)
		if (s[i] >= '0' && s[i] <= '9')
			b->count = b->count * 10 + (uint64_t)(s[i] - '0');
}

static int
bare_xml(struct bare *b, const char *path, const void *p, size_t n, int final)
{
	b->xml_bytes += n;
	if (XML_Parse(b->xp, p, (int)n, final) == XML_STATUS_OK)
		return 0;
	fprintf(stderr, "bare: %s: XML line %lu: %s\n", path,
	        (unsigned long)XML_GetCurrentLineNumber(b->xp),
	        XML_ErrorString(XML_GetErrorCode(b->xp)));
	return -1;
}

/* (Re)arm the inflater for gzip (31) or raw deflate (-15). */
static void
bare_zreset(struct bare *b, int windowbits)
{
	if (b->z_mode == 0) {
		memset(&b->z, 0, sizeof(b->z));
		if (inflateInit2(&b->z, windowbits) != Z_OK) {
			fputs("bare: inflateInit2 failed\n", stderr);
			exit(1);
		}
	} else if (inflateReset2(&b->z, windowbits) != Z_OK) {
		fputs("bare: inflateReset2 failed\n", stderr);
		exit(1);
	}
	b->z_mode = windowbits;
}

/*
 * Inflate from fd into expat.  The first n bytes of input are already in
 * b->in at offset off.  Stops at the end of the deflate stream, so the
 * zip central directory after a raw deflate entry is never read as data.
 */
static int
bare_inflate(struct bare *b, const char *path, int fd, size_t off, size_t n, int windowbits)
{
	int rc = Z_OK;

	bare_zreset(b, windowbits);
	b->z.next_in = b->in + off;
	b->z.avail_in = (uInt)n;
	for (;;) {
		if (b->z.avail_in == 0) {
			ssize_t r = read(fd, b->in, sizeof(b->in));

			if (r < 0) {
				fprintf(stderr, "bare: %s: read: %s\n", path, strerror(errno));
				return -1;
			}
			if (r == 0)
				break;
			b->input_bytes += (uint64_t)r;
			b->z.next_in = b->in;
			b->z.avail_in = (uInt)r;
		}
		do {
			b->z.next_out = b->out;
			b->z.avail_out = sizeof(b->out);
			rc = inflate(&b->z, Z_NO_FLUSH);
			if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
				fprintf(stderr, "bare: %s: inflate: %s\n", path,
				        b->z.msg ? b->z.msg : "error");
				return -1;
			}
			if (bare_xml(b, path, b->out, sizeof(b->out) - b->z.avail_out, 0) != 0)
				return -1;
		} while (b->z.avail_out == 0 && rc != Z_STREAM_END);
		if (rc == Z_STREAM_END)
			break;
	}
	if (rc != Z_STREAM_END) {
		fprintf(stderr, "bare: %s: truncated compressed data\n", path);
		return -1;
	}
	return bare_xml(b, path, "", 0, 1);
}

static uint32_t
le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
	return le16(p) | le16(p + 2) << 16;
}

/* Plain XML: the first n bytes are in b->in. */
static int
bare_plain(struct bare *b, const char *path, int fd, size_t off, size_t n)
{
	for (;;) {
		ssize_t r;

		if (n > 0 && bare_xml(b, path, b->in + off, n, 0) != 0)
			return -1;
		r = read(fd, b->in, sizeof(b->in));
		if (r < 0) {
			fprintf(stderr, "bare: %s: read: %s\n", path, strerror(errno));
			return -1;
		}
		if (r == 0)
			break;
		b->input_bytes += (uint64_t)r;
		off = 0;
		n = (size_t)r;
	}
	return bare_xml(b, path, "", 0, 1);
}

static int
bare_file(struct bare *b, const char *path)
{
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bare: %s: %s\n", path, strerror(errno));
		b->errors++;
		return -1;
	}
	n = read(fd, b->in, sizeof(b->in));
	if (n < 0) {
		fprintf(stderr, "bare: %s: read: %s\n", path, strerror(errno));
		goto out;
	}
	b->input_bytes += (uint64_t)n;
	b->files++;
	XML_ParserReset(b->xp, NULL);
	XML_SetUserData(b->xp, b);
	XML_SetElementHandler(b->xp, bare_start, bare_end);
	XML_SetCharacterDataHandler(b->xp, bare_text);
	b->in_count = 0;

	if (n >= 2 && b->in[0] == 0x1f && b->in[1] == 0x8b) {
		rc = bare_inflate(b, path, fd, 0, (size_t)n, 15 + 16);
	} else if (n >= 4 && memcmp(b->in, "PK\3\4", 4) == 0) {
		size_t hdr;
		uint32_t method;

		if (n < 30) {
			fprintf(stderr, "bare: %s: short zip header\n", path);
			goto out;
		}
		method = le16(b->in + 8);
		hdr = 30 + le16(b->in + 26) + le16(b->in + 28);
		if ((size_t)n < hdr) {
			fprintf(stderr, "bare: %s: zip header beyond first read\n", path);
			goto out;
		}
		if (method == 8) {
			rc = bare_inflate(b, path, fd, hdr, (size_t)n - hdr, -15);
		} else if (method == 0) {
			uint32_t size = le32(b->in + 22);

			/* stored: the entry is the XML; trailing zip structures are cut */
			if ((size_t)n - hdr < size) {
				fprintf(stderr, "bare: %s: stored entry beyond first read\n", path);
				goto out;
			}
			rc = bare_xml(b, path, b->in + hdr, size, 1);
		} else {
			fprintf(stderr, "bare: %s: zip method %u\n", path, (unsigned)method);
			goto out;
		}
	} else {
		rc = bare_plain(b, path, fd, 0, (size_t)n);
	}
	if (rc == 0)
		b->reports++;
out:
	if (rc != 0)
		b->errors++;
	close(fd);
	return rc;
}

static void
bare_walk(struct bare *b, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "bare: %s: %s\n", path, strerror(errno));
		b->errors++;
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		struct dirent **ents;
		int i, n = scandir(path, &ents, NULL, alphasort);

		if (n < 0) {
			fprintf(stderr, "bare: %s: %s\n", path, strerror(errno));
			b->errors++;
			return;
		}
		for (i = 0; i < n; i++) {
			char sub[4096];

			if (ents[i]->d_name[0] != '.') {
				snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name);
				bare_walk(b, sub);
			}
			free(ents[i]);
		}
		free(ents);
	} else if (S_ISREG(st.st_mode)) {
		(void)bare_file(b, path);
	}
}

int
main(int argc, char **argv)
{
	static struct bare b;
	struct timespec t0, t1;
	double secs;
	int i;

	if (argc < 2) {
		fputs("usage: bare DIR|FILE...\n", stderr);
		return 2;
	}
	b.xp = XML_ParserCreate(NULL);
	if (b.xp == NULL) {
		fputs("bare: XML_ParserCreate failed\n", stderr);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 1; i < argc; i++)
		bare_walk(&b, argv[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("{\"files\":%" PRIu64 ",\"reports\":%" PRIu64 ",\"records\":%" PRIu64
	       ",\"messages\":%" PRIu64 ",\"xml_bytes\":%" PRIu64 ",\"input_bytes\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"seconds\":%.3f,\"records_per_s\":%.0f}\n",
	       b.files, b.reports, b.records, b.messages, b.xml_bytes, b.input_bytes, b.errors,
	       secs, secs > 0 ? (double)b.records / secs : 0.0);
	XML_ParserFree(b.xp);
	if (b.z_mode != 0)
		inflateEnd(&b.z);
	return b.errors ? 1 : 0;
}
