/*
 * regdb_ch.c - the registry in ClickHouse, for several nodes that share
 * one ClickHouse store: published whole, one generation at a time, and
 * read by every node into a local SQLite copy that regdb.c uses as it
 * uses the file of a single node.
 *
 * Functions: regdb_ch_use, regdb_ch_sync, regdb_ch_publish.
 *
 * ClickHouse 18.16 (without ZooKeeper) has no transaction and no
 * conditional write, but renaming a table is atomic and fails when the
 * new name is taken.  So generation N of the registry is the table
 * registry_gen_<N> (12 digits, so names sort as numbers) of the store's
 * database, holding one row: the SQLite file of the whole registry (it
 * is small: accounts, domains, addresses, token hashes) and its SHA-256.
 * A change is made on a private copy of generation N and published as
 * N + 1:
 *
 *   1. CREATE TABLE registry_new_<time>_<random> (Log engine), a name no
 *      other writer uses, and INSERT the file and its hash into it.
 *   2. RENAME it to registry_gen_<N+1>.  When that name is taken, another
 *      node's change came first: DM_EBUSY, the table is dropped, nothing
 *      was changed, run the command again.
 *
 * A generation is therefore never seen empty or half-written, and holds
 * exactly one row, written by the one writer whose rename succeeded.  (An
 * earlier protocol created registry_gen_<N+1> first and wrote it after:
 * a second writer, seeing it empty at the instant ClickHouse lists a new
 * table with no metadata time, took it for abandoned, dropped it and
 * wrote its own, and both could read their own row back as the first.)
 * A writer that dies leaves only its registry_new_ table, dropped by the
 * next writer once older than DM_REG_CH_ABANDONED_SECONDS (its name says
 * when it was made).
 *
 * A reader takes the newest generation whose first row's hash matches its
 * body.  The ten newest generations are kept; older tables are dropped by
 * the publisher.  The nodes' copies (registry.ch.sqlite in each data
 * folder) are replaced by rename, so a reader open on the old one keeps a
 * consistent snapshot.  Logs nothing.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/limits.h"
#include "registry/regdb.h"
#include "store/store_ch.h"

#define KEEP_GENERATIONS 10

static char ch_server[600], ch_base[600], ch_user[128], ch_password[256], ch_db[128];

int
regdb_ch_use(const char *url, const char *password, char *err, size_t errlen)
{
	int rc = store_ch_parse_url(url, ch_server, sizeof ch_server, ch_base, sizeof ch_base,
	                            ch_user, sizeof ch_user, ch_db, sizeof ch_db, err, errlen);
	if (rc == 0)
		snprintf(ch_password, sizeof ch_password, "%s", password ? password : "");
	return rc;
}

struct call {
	CURL *h;
	struct dm_buf ans;
	char *err;
	size_t errlen;
};

static size_t
on_answer(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	return dm_buf_add(&c->ans, p, size * n) == 0 ? size * n : 0;
}

static int
call_init(struct call *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->err = err;
	c->errlen = errlen;
	dm_buf_init(&c->ans, DM_REG_CH_MAX_BYTES + 4096);
	c->h = curl_easy_init();
	if (!c->h) {
		snprintf(err, errlen, "clickhouse: curl_easy_init failed");
		return DM_EIO;
	}
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c->h, CURLOPT_USERNAME, ch_user);
	curl_easy_setopt(c->h, CURLOPT_PASSWORD, ch_password);
	curl_easy_setopt(c->h, CURLOPT_POST, 1L);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	return 0;
}

static void
call_free(struct call *c)
{
	if (c->h)
		curl_easy_cleanup(c->h);
	dm_buf_free(&c->ans);
}

/* Run sql (or, with body, sql in the URL and body as its data).  0, or
 * the failure with why in the caller's err; *code: ClickHouse's error
 * code when it answered one. */
static int
run(struct call *c, const char *sql, const void *body, size_t len, int *code)
{
	char url[4096];
	dm_buf_reset(&c->ans);
	if (code)
		*code = 0;
	if (body) {
		char *q = curl_easy_escape(c->h, sql, 0);
		snprintf(url, sizeof url, "%s&query=%s", ch_base, q ? q : "");
		curl_free(q);
	} else {
		snprintf(url, sizeof url, "%s", ch_base);
		body = sql;
		len = strlen(sql);
	}
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	CURLcode cc = curl_easy_perform(c->h);
	long status = 0;
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		snprintf(c->err, c->errlen, "clickhouse: registry: %s", curl_easy_strerror(cc));
		return DM_EIO;
	}
	if (status != 200) {
		const char *a = c->ans.data ? c->ans.data : "";
		if (code && strncmp(a, "Code: ", 6) == 0)
			*code = (int)strtol(a + 6, NULL, 10);
		int n = (int)(c->ans.len > 300 ? 300 : c->ans.len);
		snprintf(c->err, c->errlen, "clickhouse: registry: %.*s", n, a);
		for (char *p = c->err; *p; p++)
			if (*p == '\n' || *p == '\r' || *p == '\t')
				*p = ' ';
		return DM_ESTORE;
	}
	return 0;
}

/* The generations published, newest first (at most n).  ClickHouse 18.16
 * fails a read of system.tables with 60 (no such table) when a table of
 * the database goes during the read (another writer's rename or drop):
 * read again. */
static int
generations(struct call *c, int64_t *gens, size_t n, size_t *got)
{
	*got = 0;
	int code = 0, rc = 0;
	for (int tries = 0; tries < 50; tries++) {
		rc = run(c,
		         "SELECT toInt64(substring(name, 14)) FROM system.tables"
		         " WHERE database = currentDatabase() AND startsWith(name, 'registry_gen_')"
		         " ORDER BY name DESC FORMAT TabSeparated",
		         NULL, 0, &code);
		if (rc == 0 || code != 60)
			break;
		usleep(20 * 1000);
	}
	if (rc)
		return code == 81 ? 0 : rc; /* 81: no database yet, so no registry */
	if (dm_buf_addc(&c->ans, '\0') != 0)
		return DM_ELIMIT;
	char *s = c->ans.data;
	while (s && *s && *got < n) {
		char *t;
		long long g = strtoll(s, &t, 10);
		if (g > 0)
			gens[(*got)++] = g;
		s = strchr(t, '\n');
		if (s)
			s++;
	}
	return 0;
}

/* A RowBinary String at *p (LEB128 length, bytes): its bytes and length. */
static const char *
rowbinary_string(const char **p, const char *end, size_t *len)
{
	uint64_t v = 0;
	int shift = 0;
	while (*p < end) {
		unsigned char b = (unsigned char)*(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
		if (shift > 56)
			return NULL;
	}
	if (v > (uint64_t)(end - *p))
		return NULL;
	const char *s = *p;
	*p += v;
	*len = (size_t)v;
	return s;
}

/* Generation g's first row: its body (in c->ans) when its hash checks. */
static int
first_row(struct call *c, int64_t g, const char **body, size_t *len, char hex[DM_SHA256_HEX])
{
	char sql[160];
	*body = NULL;
	snprintf(sql, sizeof sql,
	         "SELECT body, sha FROM registry_gen_%012" PRId64 " LIMIT 1 FORMAT RowBinary", g);
	int code = 0, rc = 0;
	/* 60 (no such table) also comes, in 18.16, when another table of the
	 * database is renamed or dropped during the read (generations()):
	 * asked again before the generation is taken as dropped, else a
	 * reader would take an older generation for the newest */
	for (int tries = 0; tries < 50; tries++) {
		rc = run(c, sql, NULL, 0, &code);
		if (rc == 0 || code != 60)
			break;
		usleep(20 * 1000);
	}
	if (rc)
		return code == 60 ? 0 : rc; /* dropped meanwhile: not there */
	const char *p = c->ans.data ? c->ans.data : "", *end = p + c->ans.len;
	size_t blen, hlen;
	const char *b = rowbinary_string(&p, end, &blen);
	const char *h = b ? rowbinary_string(&p, end, &hlen) : NULL;
	if (!h || hlen != DM_SHA256_HEX - 1)
		return 0; /* empty (made by hand, or by an older dmarcd): not one */
	struct dm_sha256 *x = dm_sha256_new();
	dm_sha256_update(x, b, blen);
	dm_sha256_final_hex(x, hex);
	dm_sha256_free(x);
	if (memcmp(hex, h, hlen) != 0)
		return 0;
	*body = b;
	*len = blen;
	return 0;
}

int
regdb_ch_sync(const char *path, int64_t have, int64_t *gen, char *err, size_t errlen)
{
	struct call c;
	int64_t gens[KEEP_GENERATIONS + 2];
	size_t n;
	*gen = 0;
	int rc = call_init(&c, err, errlen);
	if (rc == 0)
		rc = generations(&c, gens, sizeof gens / sizeof gens[0], &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (gens[i] == have) {
			*gen = have; /* what we have is the newest there is */
			break;
		}
		const char *body;
		size_t len;
		char hex[DM_SHA256_HEX];
		if ((rc = first_row(&c, gens[i], &body, &len, hex)) != 0 || body == NULL)
			continue;
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
		FILE *f = fopen(tmp, "wbe");
		int ok = f && fwrite(body, 1, len, f) == len;
		ok = (f && fclose(f) == 0) && ok;
		if (!ok || rename(tmp, path) != 0) {
			unlink(tmp);
			snprintf(err, errlen, "cannot write %s", path);
			rc = DM_EIO;
			break;
		}
		*gen = gens[i];
		break;
	}
	call_free(&c);
	return rc;
}

/* Drop the registry_new_ tables made more than DM_REG_CH_ABANDONED_SECONDS
 * ago: their writers died before renaming them (best effort). */
static void
drop_leftovers(struct call *c)
{
	char sql[256];
	snprintf(sql, sizeof sql,
	         "SELECT name FROM system.tables WHERE database = currentDatabase() AND"
	         " startsWith(name, 'registry_new_') AND toInt64(substring(name, 14, 12)) < %lld"
	         " FORMAT TabSeparated",
	         (long long)time(NULL) - DM_REG_CH_ABANDONED_SECONDS);
	if (run(c, sql, NULL, 0, NULL) != 0 || dm_buf_addc(&c->ans, '\0') != 0)
		return;
	char names[16][64];
	int n = 0;
	for (char *s = c->ans.data; s && *s && n < 16;) {
		size_t k = strcspn(s, "\n");
		if (k > 0 && k < sizeof names[0] && strspn(s, "abcdefghijklmnopqrstuvwxyz_0123456789") >= k)
			snprintf(names[n++], sizeof names[0], "%.*s", (int)k, s);
		s += k;
		if (*s)
			s++;
	}
	for (int i = 0; i < n; i++) {
		snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %.63s", names[i]);
		(void)run(c, sql, NULL, 0, NULL);
	}
}

int
regdb_ch_publish(int64_t gen, const char *path, char *err, size_t errlen)
{
	struct dm_buf file;
	dm_buf_init(&file, DM_REG_CH_MAX_BYTES);
	FILE *f = fopen(path, "rbe");
	char chunk[65536];
	size_t k;
	int bad = f == NULL;
	while (f && (k = fread(chunk, 1, sizeof chunk, f)) > 0)
		bad |= dm_buf_add(&file, chunk, k);
	if (f)
		fclose(f);
	if (bad) {
		dm_buf_free(&file);
		snprintf(err, errlen, "registry: cannot read %s (or larger than %u bytes)", path,
		         DM_REG_CH_MAX_BYTES);
		return DM_EIO;
	}
	char hex[DM_SHA256_HEX];
	struct dm_sha256 *x = dm_sha256_new();
	dm_sha256_update(x, file.data ? file.data : "", file.len);
	dm_sha256_final_hex(x, hex);
	dm_sha256_free(x);

	struct call c;
	int rc = call_init(&c, err, errlen);
	char sql[256];
	int code = 0;
	/* the database, if the store has not made it yet */
	if (rc == 0) {
		char base[sizeof ch_base];
		memcpy(base, ch_base, sizeof base);
		memcpy(ch_base, ch_server, sizeof ch_base);
		snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS %s", ch_db);
		rc = run(&c, sql, NULL, 0, NULL);
		memcpy(ch_base, base, sizeof base);
	}
	/* 1. the new generation under a name of its own */
	char tmp[96];
	uint64_t r = 0;
	if (rc == 0 && getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
		snprintf(err, errlen, "registry: no random bytes");
		rc = DM_EIO;
	}
	snprintf(tmp, sizeof tmp, "registry_new_%012lld_%016" PRIx64, (long long)time(NULL), r);
	if (rc == 0) {
		snprintf(sql, sizeof sql, "CREATE TABLE %s (body String, sha String) ENGINE = Log", tmp);
		rc = run(&c, sql, NULL, 0, NULL);
	}
	int made = rc == 0;
	struct dm_buf row;
	dm_buf_init(&row, DM_REG_CH_MAX_BYTES + 128);
	if (rc == 0) {
		unsigned char len[10];
		int bad2 = 0;
		size_t ll = 0;
		for (uint64_t v = file.len;; v >>= 7) {
			len[ll++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
			if (v < 0x80)
				break;
		}
		bad2 |= dm_buf_add(&row, len, ll);
		bad2 |= dm_buf_add(&row, file.data ? file.data : "", file.len);
		bad2 |= dm_buf_addc(&row, (char)(DM_SHA256_HEX - 1));
		bad2 |= dm_buf_add(&row, hex, DM_SHA256_HEX - 1);
		snprintf(sql, sizeof sql, "INSERT INTO %s FORMAT RowBinary", tmp);
		rc = bad2 ? DM_ELIMIT : run(&c, sql, row.data, row.len, NULL);
	}
	/* 2. published by its rename, which fails when another came first */
	if (rc == 0) {
		snprintf(sql, sizeof sql, "RENAME TABLE %s TO registry_gen_%012" PRId64, tmp, gen);
		rc = run(&c, sql, NULL, 0, &code);
		if (rc == 0) {
			made = 0;
		} else if (code == 57) { /* the table exists */
			snprintf(err, errlen,
			         "the registry was changed on another node at the same time:"
			         " nothing was changed, run the command again");
			rc = DM_EBUSY;
		} else if (code == 0) {
			/* no answer: renamed or not, the generation says */
			const char *body;
			size_t blen;
			char h[DM_SHA256_HEX];
			char keep[512];
			snprintf(keep, sizeof keep, "%s", err);
			if (first_row(&c, gen, &body, &blen, h) == 0 && body &&
			    strcmp(h, hex) == 0) {
				rc = 0;
				made = 0;
			} else {
				snprintf(err, errlen, "%s", keep);
			}
		}
	}
	if (made) {
		snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", tmp);
		char keep[512];
		snprintf(keep, sizeof keep, "%s", err);
		(void)run(&c, sql, NULL, 0, NULL);
		snprintf(err, errlen, "%s", keep);
	}
	/* the old generations go */
	if (rc == 0) {
		int64_t gens[64];
		size_t n = 0;
		if (generations(&c, gens, 64, &n) == 0)
			for (size_t i = 0; i < n; i++)
				if (gens[i] <= gen - KEEP_GENERATIONS) {
					snprintf(sql, sizeof sql,
					         "DROP TABLE IF EXISTS registry_gen_%012" PRId64,
					         gens[i]);
					(void)run(&c, sql, NULL, 0, NULL);
				}
	}
	/* and what writers that died left (their names say when) */
	if (rc == 0)
		drop_leftovers(&c);
	dm_buf_free(&row);
	dm_buf_free(&file);
	call_free(&c);
	return rc;
}
