/*
 * regdb_ch.c - the registry in ClickHouse, for several nodes that share
 * one ClickHouse store: published whole, one generation at a time, and
 * read by every node into a local SQLite copy that regdb.c uses as it
 * uses the file of a single node.
 *
 * Functions: regdb_ch_use, regdb_ch_sync, regdb_ch_publish.
 *
 * ClickHouse 18.16 (without ZooKeeper) has no transaction and no
 * conditional write, but creating a table is atomic: of two CREATE TABLE
 * of one name exactly one succeeds.  So generation N of the registry is
 * the table registry_gen_<N> (12 digits, so names sort as numbers) of the
 * store's database, holding one row: the SQLite file of the whole
 * registry (it is small: accounts, domains, addresses, token hashes) and
 * its SHA-256.  A change is made on a private copy of generation N and
 * published as N + 1:
 *
 *   1. CREATE TABLE registry_gen_<N+1> (Log engine): the claim.  When it
 *      exists, another node's change came first: DM_EBUSY, nothing was
 *      changed, run the command again.  (An empty claim older than
 *      DM_REG_CH_ABANDONED_SECONDS, whose maker died, is dropped first.)
 *   2. INSERT the file and its hash.
 *   3. Read the table's first row back: it is ours, or a slow claimant's
 *      whose empty claim was taken for abandoned wrote first; then ours
 *      lost (DM_EBUSY), and every reader takes the first row too.
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

/* The generations claimed, newest first (at most n), and the age in
 * seconds of each claim. */
static int
claimed(struct call *c, int64_t *gens, int64_t *ages, size_t n, size_t *got)
{
	*got = 0;
	int code;
	int rc = run(c,
	             "SELECT toInt64(substring(name, 14)), toInt64(now()) -"
	             " toInt64(metadata_modification_time) FROM system.tables"
	             " WHERE database = currentDatabase() AND startsWith(name, 'registry_gen_')"
	             " ORDER BY name DESC FORMAT TabSeparated",
	             NULL, 0, &code);
	if (rc)
		return code == 81 ? 0 : rc; /* 81: no database yet, so no registry */
	if (dm_buf_addc(&c->ans, '\0') != 0)
		return DM_ELIMIT;
	char *s = c->ans.data;
	while (s && *s && *got < n) {
		char *t;
		long long g = strtoll(s, &t, 10);
		long long a = *t == '\t' ? strtoll(t + 1, &t, 10) : 0;
		if (g > 0) {
			gens[*got] = g;
			ages[(*got)++] = a;
		}
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
	int code;
	int rc = run(c, sql, NULL, 0, &code);
	if (rc)
		return code == 60 ? 0 : rc; /* dropped meanwhile: not there */
	const char *p = c->ans.data ? c->ans.data : "", *end = p + c->ans.len;
	size_t blen, hlen;
	const char *b = rowbinary_string(&p, end, &blen);
	const char *h = b ? rowbinary_string(&p, end, &hlen) : NULL;
	if (!h || hlen != DM_SHA256_HEX - 1)
		return 0; /* empty: claimed, not written (yet) */
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
	int64_t gens[KEEP_GENERATIONS + 2], ages[KEEP_GENERATIONS + 2];
	size_t n;
	*gen = 0;
	int rc = call_init(&c, err, errlen);
	if (rc == 0)
		rc = claimed(&c, gens, ages, sizeof gens / sizeof gens[0], &n);
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
	/* 1. the claim; an empty one whose maker died long ago is dropped */
	for (int tries = 0; rc == 0 && tries < 2; tries++) {
		snprintf(sql, sizeof sql,
		         "CREATE TABLE registry_gen_%012" PRId64 " (body String, sha String)"
		         " ENGINE = Log",
		         gen);
		rc = run(&c, sql, NULL, 0, &code);
		if (rc == 0 || code != 57) /* 57: the table exists */
			break;
		const char *body;
		size_t len;
		char h[DM_SHA256_HEX];
		int64_t claim_age = -1;
		rc = first_row(&c, gen, &body, &len, h);
		if (rc == 0 && body == NULL) {
			/* claimed, not written: in progress, or abandoned (the
			 * age of its claim) */
			int64_t all[KEEP_GENERATIONS + 2], age[KEEP_GENERATIONS + 2];
			size_t got = 0;
			rc = claimed(&c, all, age, sizeof all / sizeof all[0], &got);
			for (size_t i = 0; rc == 0 && i < got; i++)
				if (all[i] == gen)
					claim_age = age[i];
			if (rc == 0 && claim_age > DM_REG_CH_ABANDONED_SECONDS) {
				snprintf(sql, sizeof sql,
				         "DROP TABLE IF EXISTS registry_gen_%012" PRId64, gen);
				rc = run(&c, sql, NULL, 0, NULL);
				continue;
			}
		}
		if (rc == 0) {
			snprintf(err, errlen,
			         "the registry was changed on another node at the same time:"
			         " nothing was changed, run the command again");
			rc = DM_EBUSY;
		}
		break;
	}
	/* 2. the file and its hash */
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
		snprintf(sql, sizeof sql,
		         "INSERT INTO registry_gen_%012" PRId64 " FORMAT RowBinary", gen);
		rc = bad2 ? DM_ELIMIT : run(&c, sql, row.data, row.len, NULL);
	}
	/* 3. the first row must be ours */
	if (rc == 0) {
		const char *body;
		size_t len;
		char h[DM_SHA256_HEX];
		rc = first_row(&c, gen, &body, &len, h);
		if (rc == 0 && (body == NULL || strcmp(h, hex) != 0)) {
			snprintf(err, errlen,
			         "the registry was changed on another node at the same time:"
			         " nothing was changed, run the command again");
			rc = DM_EBUSY;
		}
	}
	/* the old generations go */
	if (rc == 0) {
		int64_t gens[64], ages[64];
		size_t n = 0;
		if (claimed(&c, gens, ages, 64, &n) == 0)
			for (size_t i = 0; i < n; i++)
				if (gens[i] <= gen - KEEP_GENERATIONS) {
					snprintf(sql, sizeof sql,
					         "DROP TABLE IF EXISTS registry_gen_%012" PRId64,
					         gens[i]);
					(void)run(&c, sql, NULL, 0, NULL);
				}
	}
	dm_buf_free(&row);
	dm_buf_free(&file);
	call_free(&c);
	return rc;
}
