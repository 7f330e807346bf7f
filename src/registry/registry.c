/*
 * registry.c - accounts, their domains and report addresses, in
 * <data_dir>/registry.sqlite; the snapshot the server looks them up in.
 *
 * Functions: registry_load, registry_free, registry_changed,
 * registry_rcpt, registry_claims, registry_account_for,
 * registry_token_check, registry_counts (the snapshot);
 * registry_account_add, registry_domain_add, registry_token_add,
 * registry_token_revoke, registry_list_accounts, registry_list_domains,
 * registry_list_addresses, registry_list_tokens (management);
 * registry_dns_records.
 *
 * The snapshot is four sorted arrays (accounts and live tokens by id,
 * domains and addresses by their lower-case text) searched with bsearch,
 * so an RCPT costs O(log n), a policy domain O(labels * log n) and a
 * token check O(log n) plus one SHA-256.  It is never changed after
 * registry_load, so threads share it without locks.
 *
 * Change detection is a stat() of the database and its -wal file (a WAL
 * commit changes only the -wal; the last writer's close checkpoints into
 * the main file and deletes the -wal).  A write in the same mtime tick as
 * the load, with the same size, would not show ("racy git"), so every
 * write transaction also bumps meta.generation, and a snapshot whose
 * files were modified within DM_REG_RACY_NS of its load reads that
 * counter to decide.  The schema is the one in registry.h plus that meta
 * table; accounts use AUTOINCREMENT so an id, which the analytics store
 * keeps, is never reused, and names are unique without regard to case.
 * Tokens use AUTOINCREMENT too: a revoked token's id is never handed out
 * again, so an old token cannot come back to life with a new secret's row.
 * Every table is created IF NOT EXISTS by each write, so a registry made
 * before tokens existed gains the table on its next write (and reads of
 * such a registry find no tokens).
 *
 * Logs nothing; errors are returned with a one-line reason in err.
 */
#include "registry/registry.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "registry/regdb.h"

/* Files modified this close to a load may have changed again within the
 * same timestamp tick (coarse kernel clock; 1-2 s on some filesystems). */
#define DM_REG_RACY_NS (2LL * 1000 * 1000 * 1000)
/* Generated local parts: "r" and this many characters of RAND_ALPHABET
 * (50 bits: guessing a live address is not practical). */
#define DM_REG_TOKEN_CHARS 10
/* 32 symbols, so a random byte & 31 is uniform; no 0/o, 1/l. */
static const char RAND_ALPHABET[] = "abcdefghijkmnpqrstuvwxyz23456789";
/* Random bytes behind a token's secret: 256 bits, 43 base64url characters
 * (REGISTRY_TOKEN_SECRET). */
#define DM_REG_SECRET_BYTES 32
#define DM_REG_HASH_LEN 32 /* SHA-256 */
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct reg_account {
	int64_t id;
	int catch_all;
};

struct reg_name {
	char *name; /* a domain or an address, lower-case */
	int64_t account;
	char *domain; /* an address's domain (NULL: none, or a domain's row) */
};

/* A live API token: account_id is 0 for an admin token. */
struct reg_token {
	int64_t id;
	int64_t account_id;
	int admin;
	unsigned char hash[DM_REG_HASH_LEN];
};

struct file_id {
	int exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
};

struct registry {
	struct reg_account *accounts; /* by id */
	size_t naccounts;
	struct reg_name *domains; /* by name */
	size_t ndomains;
	struct reg_name *addrs; /* by name */
	size_t naddrs;
	struct reg_token *tokens; /* live ones, by id */
	size_t ntokens;
	int64_t catch_all; /* the lowest catch-all account, or 0 */
	struct file_id db, wal;
	struct timespec stat_at; /* when db and wal were taken */
	int64_t generation;
};

/* ---- small helpers ------------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, ...) DM_PRINTF(3, 4);

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0 || err[0])
		return; /* the first reason is the one that counts */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
clearerr_buf(char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
}

/* Copy untrusted text for a message: printable ASCII only, cut short. */
static const char *
shown(const char *s, char *out, size_t outlen)
{
	size_t i = 0;
	if (!s)
		s = "(null)";
	for (; *s && i + 4 < outlen; s++)
		out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	if (*s && i + 3 < outlen) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > DM_REGISTRY_MAX_NAME)
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return 0;
	return 1;
}

/* Validate a domain and write it lower-case, without one trailing dot,
 * into out (at least DM_MAX_DOMAIN_LEN + 1 bytes).  why says what is
 * wrong. */
static int
norm_domain(const char *in, char *out, size_t outlen, const char **why)
{
	size_t n = strlen(in);
	if (n && in[n - 1] == '.')
		n--;
	if (n == 0) {
		*why = "empty";
		return DM_EINVAL;
	}
	if (n > DM_MAX_DOMAIN_LEN || n >= outlen) {
		*why = "longer than 253 characters";
		return DM_EINVAL;
	}
	memcpy(out, in, n);
	out[n] = '\0';
	lower(out);
	size_t labels = 0, len = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = out[i];
		if (c == '.' || c == '\0') {
			if (len == 0) {
				*why = "has an empty label";
				return DM_EINVAL;
			}
			if (out[i - 1] == '-' || out[i - len] == '-') {
				*why = "has a label that begins or ends with '-'";
				return DM_EINVAL;
			}
			labels++;
			len = 0;
			continue;
		}
		if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '-') {
			*why = "may hold only letters, digits, '-' and '.'";
			return DM_EINVAL;
		}
		if (++len > DM_REGISTRY_MAX_LABEL) {
			*why = "has a label longer than 63 characters";
			return DM_EINVAL;
		}
	}
	if (labels < 2) {
		*why = "needs at least two labels";
		return DM_EINVAL;
	}
	return 0;
}

/* Validate a report address and write it lower-case into out (at least
 * DM_REGISTRY_MAX_ADDRESS + 1 bytes). */
static int
norm_address(const char *in, char *out, size_t outlen, const char **why)
{
	size_t n = strlen(in);
	if (n == 0 || n > DM_REGISTRY_MAX_ADDRESS || n >= outlen) {
		*why = n ? "longer than 256 characters" : "empty";
		return DM_EINVAL;
	}
	memcpy(out, in, n + 1);
	lower(out);
	char *at = strchr(out, '@');
	if (!at || strchr(at + 1, '@')) {
		*why = "needs exactly one '@'";
		return DM_EINVAL;
	}
	size_t local = (size_t)(at - out);
	if (local == 0 || local > DM_REGISTRY_MAX_LOCAL) {
		*why = "local part must be 1-64 characters";
		return DM_EINVAL;
	}
	for (size_t i = 0; i < local; i++) {
		char c = out[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && !strchr("._+-", c)) {
			*why = "local part may hold only a-z 0-9 . _ + -";
			return DM_EINVAL;
		}
		if (c == '.' && (i == 0 || i + 1 == local || out[i + 1] == '.')) {
			*why = "local part has a misplaced '.'";
			return DM_EINVAL;
		}
	}
	*at = '\0';
	if (strcmp(out, "postmaster") == 0) {
		*why = "postmaster is always served and cannot be a report address";
		return DM_EINVAL;
	}
	*at = '@';
	char dom[DM_MAX_DOMAIN_LEN + 1];
	if (norm_domain(at + 1, dom, sizeof dom, why) != 0)
		return DM_EINVAL;
	/* the domain without its trailing dot */
	if (local + 1 + strlen(dom) + 1 > outlen) {
		*why = "too long";
		return DM_EINVAL;
	}
	memcpy(at + 1, dom, strlen(dom) + 1);
	return 0;
}

/* Lower-case, no trailing dot, for a lookup; 0 if it cannot be a name. */
static int
norm_lookup(const char *in, char *out, size_t outlen)
{
	size_t n = in ? strlen(in) : 0;
	if (n && in[n - 1] == '.')
		n--;
	if (n == 0 || n >= outlen)
		return 0;
	memcpy(out, in, n);
	out[n] = '\0';
	lower(out);
	return 1;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct reg_name *)a)->name, ((const struct reg_name *)b)->name);
}

static int
cmp_account(const void *a, const void *b)
{
	int64_t x = ((const struct reg_account *)a)->id, y = ((const struct reg_account *)b)->id;
	return x < y ? -1 : x > y;
}

static int
cmp_token(const void *a, const void *b)
{
	int64_t x = ((const struct reg_token *)a)->id, y = ((const struct reg_token *)b)->id;
	return x < y ? -1 : x > y;
}

static const struct reg_name *
find_name(const struct reg_name *v, size_t n, const char *name)
{
	struct reg_name key = {(char *)name, 0, NULL};
	return n ? bsearch(&key, v, n, sizeof *v, cmp_name) : NULL;
}

static const struct reg_account *
find_account(const struct registry *reg, int64_t id)
{
	struct reg_account key = {id, 0};
	return reg->naccounts
	               ? bsearch(&key, reg->accounts, reg->naccounts, sizeof key, cmp_account)
	               : NULL;
}

static void
path_of(char *out, size_t outlen, const char *data_dir, const char *suffix)
{
	snprintf(out, outlen, "%s/%s%s", data_dir, REGISTRY_FILE, suffix);
}

static int
path_ok(const char *data_dir, char *err, size_t errlen)
{
	if (!data_dir || !*data_dir || strlen(data_dir) + sizeof REGISTRY_FILE + 8 > PATH_MAX) {
		seterr(err, errlen, "bad data folder name");
		return DM_EINVAL;
	}
	return 0;
}

/* An empty -wal holds nothing the main file lacks: readers leave one
 * behind and the next writer's close deletes it, neither is a change,
 * so it counts as absent (empty_is_absent). */
static void
file_stat(const char *path, struct file_id *f, int empty_is_absent)
{
	struct stat sb;
	memset(f, 0, sizeof *f);
	if (stat(path, &sb) != 0 || (empty_is_absent && sb.st_size == 0))
		return;
	f->exists = 1;
	f->dev = sb.st_dev;
	f->ino = sb.st_ino;
	f->size = sb.st_size;
	f->mtim = sb.st_mtim;
}

static int
file_same(const struct file_id *a, const struct file_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtim.tv_sec == b->mtim.tv_sec &&
	       a->mtim.tv_nsec == b->mtim.tv_nsec;
}

static long long
ns_between(const struct timespec *from, const struct timespec *to)
{
	return (long long)(to->tv_sec - from->tv_sec) * 1000000000LL +
	       (to->tv_nsec - from->tv_nsec);
}

/* ---- API tokens: the secret, its text and its hash ----------------------- */

_Static_assert((DM_REG_SECRET_BYTES * 4 + 2) / 3 == REGISTRY_TOKEN_SECRET,
               "a token's secret is its random bytes in unpadded base64url");

/* Fill p with n bytes from the kernel's random source. */
static int
random_bytes(void *p, size_t n, char *err, size_t errlen)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom((unsigned char *)p + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			seterr(err, errlen, "getrandom: %s", strerror(errno));
			return DM_EIO;
		}
		got += (size_t)r;
	}
	return 0;
}

/* n bytes as unpadded base64url (RFC 4648 5) into out, which holds
 * (4n + 2) / 3 characters and a NUL. */
static void
b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		size_t k = n - i < 3 ? n - i : 3;
		uint32_t v = (uint32_t)in[i] << 16;
		if (k > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (k > 2)
			v |= in[i + 2];
		out[o++] = B64URL[(v >> 18) & 63];
		out[o++] = B64URL[(v >> 12) & 63];
		if (k > 1)
			out[o++] = B64URL[(v >> 6) & 63];
		if (k > 2)
			out[o++] = B64URL[v & 63];
	}
	out[o] = '\0';
}

/* Not isalnum(): the C library's idea of a letter depends on the locale. */
static int
is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* SHA-256 of the REGISTRY_TOKEN_SECRET characters of secret, as they
 * are written (the text, not the bytes it encodes: one token, one
 * spelling). */
static int
secret_hash(const char *secret, unsigned char out[DM_REG_HASH_LEN])
{
	unsigned int n = 0;
	if (EVP_Digest(secret, REGISTRY_TOKEN_SECRET, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != DM_REG_HASH_LEN)
		return DM_EIO;
	return 0;
}

/* Split "dmt_<id>_<secret>" strictly: the prefix, a decimal id from 1
 * without leading zeros or sign, '_', exactly REGISTRY_TOKEN_SECRET
 * base64url characters, the end.  The length is bounded before anything
 * else looks at the text.  Returns 1 with *id and *secret (pointing into
 * token), 0 for anything else. */
static int
token_parse(const char *token, int64_t *id, const char **secret)
{
	if (!token)
		return 0;
	size_t n = strnlen(token, REGISTRY_TOKEN_MAX + 1);
	if (n > REGISTRY_TOKEN_MAX || n < 4 || memcmp(token, "dmt_", 4) != 0)
		return 0;
	const char *p = token + 4;
	if (*p < '1' || *p > '9')
		return 0;
	int64_t v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		int d = *p - '0';
		if (v > (INT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	if (*p++ != '_')
		return 0;
	/* stops at the NUL, which is not base64url */
	for (size_t i = 0; i < REGISTRY_TOKEN_SECRET; i++)
		if (!is_b64url(p[i]))
			return 0;
	if (p[REGISTRY_TOKEN_SECRET] != '\0')
		return 0;
	*id = v;
	*secret = p;
	return 1;
}

/* A failed step: why into err, and the code (a constraint is a store
 * failure where none was expected). */
static int
fail(struct regdb *db, int s, char *err, size_t errlen)
{
	seterr(err, errlen, "%s", regdb_error(db));
	return s < 0 ? s : DM_ESTORE;
}

static int
read_generation(struct regdb *db, int64_t *gen, char *err, size_t errlen)
{
	int yes = 0;
	int rc = regdb_has_table(db, "meta", &yes, err, errlen);
	*gen = 0;
	if (rc || !yes)
		return rc;
	struct regdb_stmt *st = NULL;
	rc = regdb_prepare(db, "SELECT value FROM meta WHERE key='generation'", &st, err, errlen);
	if (rc)
		return rc;
	int s = regdb_step(st);
	if (s == REGDB_ROW)
		*gen = regdb_int64(st, 0);
	else if (s != REGDB_DONE)
		rc = fail(db, s, err, errlen);
	regdb_finalize(st);
	return rc;
}

/* ---- the snapshot -------------------------------------------------------- */

static void
free_names(struct reg_name *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].domain);
	}
	free(v);
}

void
registry_free(struct registry *reg)
{
	if (!reg)
		return;
	free(reg->accounts);
	free_names(reg->domains, reg->ndomains);
	free_names(reg->addrs, reg->naddrs);
	free(reg->tokens);
	free(reg);
}

/* Read rows of (text, account[, domain]) into a sorted array. */
static int
load_names(struct regdb *db, const char *sql, int with_domain, struct reg_name **out,
           size_t *nout, char *err, size_t errlen)
{
	struct regdb_stmt *st = NULL;
	size_t n = 0, cap = 0;
	struct reg_name *v = NULL;
	int rc = regdb_prepare(db, sql, &st, err, errlen);
	if (rc)
		goto out;
	int s;
	while ((s = regdb_step(st)) == REGDB_ROW) {
		const char *t = regdb_text(st, 0);
		char name[DM_REGISTRY_MAX_ADDRESS + 1];
		if (!norm_lookup(t, name, sizeof name))
			continue; /* a hand-made row no lookup could match */
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n].name = xstrdup(name);
		v[n].account = regdb_int64(st, 1);
		const char *dom = with_domain ? regdb_text(st, 2) : NULL;
		v[n].domain = dom ? xstrdup(dom) : NULL;
		n++;
	}
	if (s != REGDB_DONE)
		rc = fail(db, s, err, errlen);
out:
	regdb_finalize(st);
	if (rc) {
		free_names(v, n);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof *v, cmp_name);
	*out = v;
	*nout = n;
	return 0;
}

static int
load_accounts(struct regdb *db, struct registry *reg, char *err, size_t errlen)
{
	struct regdb_stmt *st = NULL;
	size_t cap = 0;
	int rc = regdb_prepare(db, "SELECT id, catch_all FROM accounts ORDER BY id", &st, err, errlen);
	if (rc)
		return rc;
	int s;
	while ((s = regdb_step(st)) == REGDB_ROW) {
		if (reg->naccounts == cap) {
			cap = cap ? cap * 2 : 16;
			reg->accounts = xrealloc(reg->accounts, cap * sizeof *reg->accounts);
		}
		struct reg_account *a = &reg->accounts[reg->naccounts++];
		a->id = regdb_int64(st, 0);
		a->catch_all = (int)regdb_int64(st, 1) != 0;
		if (a->catch_all && a->id > 0 && (reg->catch_all == 0 || a->id < reg->catch_all))
			reg->catch_all = a->id;
	}
	if (s != REGDB_DONE)
		rc = fail(db, s, err, errlen);
	regdb_finalize(st);
	return rc;
}

/* The live tokens, sorted by id.  A registry written before tokens
 * existed has no table: no tokens.  A row whose hash is not a SHA-256
 * (made by hand) could never match, so it is left out. */
static int
load_tokens(struct regdb *db, struct registry *reg, char *err, size_t errlen)
{
	struct regdb_stmt *st = NULL;
	size_t cap = 0;
	int yes = 0;
	int rc = regdb_has_table(db, "tokens", &yes, err, errlen);
	if (rc || !yes)
		return rc;
	rc = regdb_prepare(db,
	             "SELECT id, account_id, admin, hash FROM tokens"
	             " WHERE revoked_at IS NULL ORDER BY id",
	             &st, err, errlen);
	if (rc)
		return rc;
	int s;
	while ((s = regdb_step(st)) == REGDB_ROW) {
		size_t hn = 0;
		const void *h = regdb_blob(st, 3, &hn);
		if (!h || hn != DM_REG_HASH_LEN)
			continue;
		if (reg->ntokens == cap) {
			cap = cap ? cap * 2 : 16;
			reg->tokens = xrealloc(reg->tokens, cap * sizeof *reg->tokens);
		}
		struct reg_token *t = &reg->tokens[reg->ntokens++];
		t->id = regdb_int64(st, 0);
		t->account_id = regdb_int64(st, 1);
		t->admin = (int)regdb_int64(st, 2) != 0;
		memcpy(t->hash, h, DM_REG_HASH_LEN);
	}
	if (s != REGDB_DONE)
		rc = fail(db, s, err, errlen);
	regdb_finalize(st);
	return rc;
}

static int
load_once(const char *data_dir, struct registry *reg, char *err, size_t errlen)
{
	struct regdb *db = NULL;
	int rc = regdb_open_read(data_dir, &db, err, errlen);
	if (rc || !db)
		return rc;
	rc = load_accounts(db, reg, err, errlen);
	if (rc == 0)
		rc = load_names(db, "SELECT domain, account_id FROM domains", 0, &reg->domains,
		                &reg->ndomains, err, errlen);
	if (rc == 0)
		rc = load_names(db,
		                "SELECT a.address, a.account_id, d.domain FROM addresses a"
		                " LEFT JOIN domains d ON d.id = a.domain_id",
		                1, &reg->addrs, &reg->naddrs, err, errlen);
	if (rc == 0)
		rc = load_tokens(db, reg, err, errlen);
	if (rc == 0)
		rc = read_generation(db, &reg->generation, err, errlen);
	regdb_close(db);
	return rc;
}

int
registry_load(const char *data_dir, struct registry **out, char *err, size_t errlen)
{
	char db_path[PATH_MAX], wal_path[PATH_MAX];
	struct registry *reg = NULL;
	int rc;
	*out = NULL;
	clearerr_buf(err, errlen);
	rc = path_ok(data_dir, err, errlen);
	if (rc)
		goto out;
	if (regdb_remote()) {
		/* one consistent read; registry_changed() asks the generation */
		reg = xcalloc(1, sizeof *reg);
		rc = load_once(data_dir, reg, err, errlen);
		goto out;
	}
	path_of(db_path, sizeof db_path, data_dir, "");
	path_of(wal_path, sizeof wal_path, data_dir, "-wal");
	/* stat, read, stat again: equal identities mean nothing changed
	 * while we read (opening may itself create an empty -wal, so the
	 * second round is the usual one after a writer's close) */
	for (int tries = 0;; tries++) {
		struct file_id db2, wal2;
		reg = xcalloc(1, sizeof *reg);
		clock_gettime(CLOCK_REALTIME, &reg->stat_at);
		file_stat(db_path, &reg->db, 0);
		file_stat(wal_path, &reg->wal, 1);
		rc = load_once(data_dir, reg, err, errlen);
		if (rc)
			goto out;
		file_stat(db_path, &db2, 0);
		file_stat(wal_path, &wal2, 1);
		if ((file_same(&reg->db, &db2) && file_same(&reg->wal, &wal2)) || tries >= 4)
			break; /* after that, registry_changed() will say so */
		registry_free(reg);
		reg = NULL;
	}
out:
	if (rc) {
		registry_free(reg);
		return rc;
	}
	*out = reg;
	return 0;
}

static int
racy(const struct file_id *f, const struct timespec *at)
{
	return f->exists && ns_between(&f->mtim, at) < DM_REG_RACY_NS;
}

int
registry_changed(const struct registry *reg, const char *data_dir)
{
	char db_path[PATH_MAX], wal_path[PATH_MAX];
	struct file_id db, wal;
	if (!reg || path_ok(data_dir, NULL, 0) != 0)
		return 0;
	if (regdb_remote())
		goto ask;
	path_of(db_path, sizeof db_path, data_dir, "");
	path_of(wal_path, sizeof wal_path, data_dir, "-wal");
	file_stat(db_path, &db, 0);
	file_stat(wal_path, &wal, 1);
	if (!file_same(&db, &reg->db) || !file_same(&wal, &reg->wal))
		return 1;
	if (!racy(&reg->db, &reg->stat_at) && !racy(&reg->wal, &reg->stat_at))
		return 0;
	/* modified close to the load: the generation decides */
ask:;
	struct regdb *d = NULL;
	int64_t gen = 0;
	if (regdb_open_read(data_dir, &d, NULL, 0) != 0 || !d)
		return 0;
	int rc = read_generation(d, &gen, NULL, 0);
	regdb_close(d);
	return rc == 0 && gen != reg->generation;
}

int64_t
registry_rcpt(const struct registry *reg, const char *address)
{
	char a[DM_REGISTRY_MAX_ADDRESS + 1];
	if (!address)
		return 0;
	size_t n = strlen(address);
	if (n >= 2 && address[0] == '<' && address[n - 1] == '>') {
		address++;
		n -= 2;
	}
	if (n == 0 || n > DM_REGISTRY_MAX_ADDRESS)
		return 0;
	memcpy(a, address, n);
	a[n] = '\0';
	lower(a);
	char *at = strchr(a, '@');
	if (!at)
		return strcmp(a, "postmaster") == 0 ? REGISTRY_POSTMASTER : 0;
	if (strchr(at + 1, '@'))
		return 0;
	if ((size_t)(at - a) == strlen("postmaster") && memcmp(a, "postmaster", 10) == 0)
		return REGISTRY_POSTMASTER;
	if (at == a || at[1] == '\0')
		return 0;
	if (!reg)
		return 0;
	const struct reg_name *hit = find_name(reg->addrs, reg->naddrs, a);
	if (hit)
		return hit->account;
	return reg->catch_all;
}

int
registry_claims(const struct registry *reg, int64_t account, const char *policy_domain)
{
	char d[DM_MAX_DOMAIN_LEN + 1];
	if (!reg || account <= 0)
		return 0;
	const struct reg_account *a = find_account(reg, account);
	if (!a)
		return 0;
	if (a->catch_all)
		return 1;
	if (!norm_lookup(policy_domain, d, sizeof d))
		return 0;
	/* the domain itself, then each parent on a label boundary */
	for (const char *p = d; p; p = strchr(p, '.'), p = p ? p + 1 : NULL) {
		const struct reg_name *hit = find_name(reg->domains, reg->ndomains, p);
		if (hit && hit->account == account)
			return 1;
	}
	return 0;
}

size_t
registry_domain_addresses(const struct registry *reg, int64_t account, const char *domain,
                          char out[][DM_REGISTRY_MAX_ADDRESS + 1], size_t max)
{
	size_t n = 0;
	for (size_t i = 0; reg && i < reg->naddrs && n < max; i++) {
		const struct reg_name *x = &reg->addrs[i];
		if (x->domain && strcasecmp(x->domain, domain) == 0 &&
		    (account == 0 || x->account == account))
			snprintf(out[n++], DM_REGISTRY_MAX_ADDRESS + 1, "%s", x->name);
	}
	return n;
}

int64_t
registry_account_for(const struct registry *reg, const char *const *rcpt, size_t nrcpt,
                     const char *policy_domain)
{
	for (size_t i = 0; rcpt && i < nrcpt; i++) {
		int64_t id = registry_rcpt(reg, rcpt[i]);
		if (id > 0 && registry_claims(reg, id, policy_domain))
			return id;
	}
	return 0;
}

int
registry_token_check(const struct registry *reg, const char *token, int64_t *account_id, int *admin,
                     int64_t *token_id)
{
	unsigned char h[DM_REG_HASH_LEN];
	const char *secret = NULL;
	int64_t id = 0;
	if (account_id)
		*account_id = 0;
	if (admin)
		*admin = 0;
	if (token_id)
		*token_id = 0;
	if (!reg || !token_parse(token, &id, &secret) || secret_hash(secret, h) != 0)
		return DM_ENOTFOUND;
	struct reg_token key = {.id = id};
	const struct reg_token *t =
	        reg->ntokens ? bsearch(&key, reg->tokens, reg->ntokens, sizeof key, cmp_token)
	                     : NULL;
	if (!t || CRYPTO_memcmp(t->hash, h, sizeof h) != 0)
		return DM_ENOTFOUND;
	/* an account token is only as good as its account */
	if (!t->admin && (t->account_id <= 0 || !find_account(reg, t->account_id)))
		return DM_ENOTFOUND;
	if (account_id)
		*account_id = t->admin ? 0 : t->account_id;
	if (admin)
		*admin = t->admin;
	if (token_id)
		*token_id = t->id;
	return 0;
}

void
registry_counts(const struct registry *reg, unsigned *accounts, unsigned *domains,
                unsigned *addresses)
{
	if (accounts)
		*accounts = reg ? (unsigned)reg->naccounts : 0;
	if (domains)
		*domains = reg ? (unsigned)reg->ndomains : 0;
	if (addresses)
		*addresses = reg ? (unsigned)reg->naddrs : 0;
}

/* ---- management ---------------------------------------------------------- */

int
registry_account_add(const char *data_dir, const char *name, int catch_all, int64_t *id, char *err,
                     size_t errlen)
{
	struct regdb *db = NULL;
	struct regdb_stmt *st = NULL;
	char show[80];
	int rc;
	clearerr_buf(err, errlen);
	if (id)
		*id = 0;
	rc = path_ok(data_dir, err, errlen);
	if (rc)
		goto out;
	if (!name || !valid_name(name)) {
		seterr(err, errlen,
		       "invalid account name '%s': use 1-64 letters, digits, '.', '_' or '-'",
		       shown(name, show, sizeof show));
		rc = DM_EINVAL;
		goto out;
	}
	rc = regdb_open_write(data_dir, &db, err, errlen);
	if (rc)
		goto out;
	rc = regdb_prepare(db, "INSERT INTO accounts(name, catch_all, created_at) VALUES(?1, ?2, ?3)",
	             &st, err, errlen);
	if (rc)
		goto out;
	regdb_bind_text(st, 1, name);
	regdb_bind_int64(st, 2, catch_all ? 1 : 0);
	regdb_bind_int64(st, 3, time(NULL));
	int s = regdb_step(st);
	if (s == REGDB_CONSTRAINT) {
		seterr(err, errlen, "account '%s' exists already", name);
		rc = DM_EEXIST;
		goto out;
	}
	if (s != REGDB_DONE) {
		rc = fail(db, s, err, errlen);
		goto out;
	}
	int64_t new_id = regdb_last_id(db);
	rc = regdb_commit(db, err, errlen);
	if (rc == 0 && id)
		*id = new_id;
out:
	regdb_finalize(st);
	regdb_close(db);
	return rc;
}

/* One row's first column as an int64: 0 and *found = 0 when no row. */
static int
query_id(struct regdb *db, const char *sql, const char *arg, int64_t *v, int *found, char *err,
         size_t errlen)
{
	struct regdb_stmt *st = NULL;
	int rc = regdb_prepare(db, sql, &st, err, errlen);
	*v = 0;
	*found = 0;
	if (rc)
		return rc;
	regdb_bind_text(st, 1, arg);
	int s = regdb_step(st);
	if (s == REGDB_ROW) {
		*found = 1;
		*v = regdb_int64(st, 0);
	} else if (s != REGDB_DONE) {
		rc = fail(db, s, err, errlen);
	}
	regdb_finalize(st);
	return rc;
}

static int
random_address(const char *host, char *out, size_t outlen, char *err, size_t errlen)
{
	unsigned char r[DM_REG_TOKEN_CHARS];
	int rc = random_bytes(r, sizeof r, err, errlen);
	if (rc)
		return rc;
	char token[DM_REG_TOKEN_CHARS + 2];
	token[0] = 'r';
	for (size_t i = 0; i < sizeof r; i++)
		token[i + 1] = RAND_ALPHABET[r[i] & 31];
	token[sizeof r + 1] = '\0';
	int n = snprintf(out, outlen, "%s@%s", token, host);
	if (n < 0 || (size_t)n >= outlen) {
		seterr(err, errlen, "report address too long");
		return DM_EINVAL;
	}
	return 0;
}

static int
exec_insert(struct regdb *db, const char *sql, const char *text, int64_t account, int64_t ref,
            int64_t *rowid, char *err, size_t errlen)
{
	struct regdb_stmt *st = NULL;
	int rc = regdb_prepare(db, sql, &st, err, errlen);
	if (rc)
		return rc;
	regdb_bind_text(st, 1, text);
	regdb_bind_int64(st, 2, account);
	regdb_bind_int64(st, 3, time(NULL));
	if (ref)
		regdb_bind_int64(st, 4, ref);
	int s = regdb_step(st);
	if (s == REGDB_CONSTRAINT) {
		seterr(err, errlen, "'%s' exists already", text);
		rc = DM_EEXIST;
	} else if (s != REGDB_DONE) {
		rc = fail(db, s, err, errlen);
	} else if (rowid) {
		*rowid = regdb_last_id(db);
	}
	regdb_finalize(st);
	return rc;
}

/* Opens the registry to write on behalf of an existing account and finds its
 * id. An unknown account is DM_ENOTFOUND, and no registry is created for it.
 * The caller closes *db, also on failure. */
static int
open_for_account(const char *data_dir, const char *account, struct regdb **db, int64_t *account_id,
                 char *err, size_t errlen)
{
	char show[80];
	int found = 0, yes = 0, rc;
	if (!account || !valid_name(account)) {
		seterr(err, errlen, "no such account '%s'", shown(account, show, sizeof show));
		return DM_ENOTFOUND;
	}
	/* no registry yet: no account either, and nothing to create */
	rc = regdb_exists(data_dir, &yes, err, errlen);
	if (rc)
		return rc;
	if (!yes) {
		seterr(err, errlen, "no such account '%s'", account);
		return DM_ENOTFOUND;
	}
	rc = regdb_open_write(data_dir, db, err, errlen);
	if (rc)
		return rc;
	rc = query_id(*db, "SELECT id FROM accounts WHERE lower(name) = lower(?1)", account, account_id, &found,
	              err, errlen);
	if (rc == 0 && !found) {
		seterr(err, errlen, "no such account '%s'", account);
		rc = DM_ENOTFOUND;
	}
	return rc;
}

int
registry_domain_add(const char *data_dir, const char *domain, const char *account,
                    const char *address, const char *report_host, char *addr_out, size_t addr_len,
                    char *err, size_t errlen)
{
	char dom[DM_MAX_DOMAIN_LEN + 1], host[DM_MAX_DOMAIN_LEN + 1];
	char addr[DM_REGISTRY_MAX_ADDRESS + 1], show[80];
	const char *why = "";
	struct regdb *db = NULL;
	int64_t account_id = 0, domain_id = 0, v = 0;
	int found = 0, rc;
	clearerr_buf(err, errlen);
	if (addr_out && addr_len)
		addr_out[0] = '\0';
	rc = path_ok(data_dir, err, errlen);
	if (rc)
		goto out;
	if (!domain || norm_domain(domain, dom, sizeof dom, &why) != 0) {
		seterr(err, errlen, "invalid domain '%s': %s", shown(domain, show, sizeof show),
		       why);
		rc = DM_EINVAL;
		goto out;
	}
	if (address && norm_address(address, addr, sizeof addr, &why) != 0) {
		seterr(err, errlen, "invalid address '%s': %s", shown(address, show, sizeof show),
		       why);
		rc = DM_EINVAL;
		goto out;
	}
	if (!address && (!report_host || norm_domain(report_host, host, sizeof host, &why))) {
		seterr(err, errlen, "invalid report_host '%s': %s",
		       shown(report_host, show, sizeof show), why);
		rc = DM_EINVAL;
		goto out;
	}
	rc = open_for_account(data_dir, account, &db, &account_id, err, errlen);
	if (rc)
		goto out;
	rc = query_id(db, "SELECT account_id FROM domains WHERE domain = ?1", dom, &v, &found, err,
	              errlen);
	if (rc)
		goto out;
	if (found) {
		seterr(err, errlen, "domain %s is registered already", dom);
		rc = DM_EEXIST;
		goto out;
	}
	rc = exec_insert(db, "INSERT INTO domains(domain, account_id, created_at) VALUES(?1,?2,?3)",
	                 dom, account_id, 0, &domain_id, err, errlen);
	if (rc)
		goto out;
	int insert_addr = 1;
	if (address) {
		rc = query_id(db, "SELECT account_id FROM addresses WHERE address = ?1", addr, &v,
		              &found, err, errlen);
		if (rc)
			goto out;
		if (found && v != account_id) {
			seterr(err, errlen, "address %s belongs to another account", addr);
			rc = DM_EEXIST;
			goto out;
		}
		insert_addr = !found; /* the account's own address serves one more domain */
	} else {
		for (int tries = 0;; tries++) {
			rc = random_address(host, addr, sizeof addr, err, errlen);
			if (rc)
				goto out;
			rc = query_id(db, "SELECT 1 FROM addresses WHERE address = ?1", addr, &v,
			              &found, err, errlen);
			if (rc)
				goto out;
			if (!found)
				break;
			if (tries >= 8) {
				seterr(err, errlen, "cannot find an unused report address");
				rc = DM_ESTORE;
				goto out;
			}
		}
	}
	if (addr_out && strlen(addr) >= addr_len) {
		seterr(err, errlen, "report address longer than the caller's buffer");
		rc = DM_EINVAL;
		goto out;
	}
	if (insert_addr) {
		rc = exec_insert(db,
		                 "INSERT INTO addresses(address, account_id, created_at, domain_id)"
		                 " VALUES(?1,?2,?3,?4)",
		                 addr, account_id, domain_id, NULL, err, errlen);
		if (rc)
			goto out;
	}
	rc = regdb_commit(db, err, errlen);
	if (rc == 0 && addr_out)
		snprintf(addr_out, addr_len, "%s", addr);
out:
	regdb_close(db);
	return rc;
}

/* ---- API tokens ------------------------------------------------------------ */

int
registry_token_add(const char *data_dir, const char *account, int admin, const char *name,
                   int replace, char *token_out, size_t token_len, int64_t *id, char *err,
                   size_t errlen)
{
	unsigned char raw[DM_REG_SECRET_BYTES], h[DM_REG_HASH_LEN];
	char secret[REGISTRY_TOKEN_SECRET + 1], show[80];
	struct regdb *db = NULL;
	struct regdb_stmt *st = NULL;
	int64_t account_id = 0;
	int rc;
	clearerr_buf(err, errlen);
	if (token_out && token_len)
		token_out[0] = '\0';
	if (id)
		*id = 0;
	rc = path_ok(data_dir, err, errlen);
	if (rc)
		goto out;
	if (!token_out || token_len < REGISTRY_TOKEN_MAX + 1) {
		seterr(err, errlen, "token buffer smaller than %d bytes", REGISTRY_TOKEN_MAX + 1);
		rc = DM_EINVAL;
		goto out;
	}
	if (!name || !valid_name(name)) {
		seterr(err, errlen,
		       "invalid token name '%s': use 1-64 letters, digits, '.', '_' or '-'",
		       shown(name, show, sizeof show));
		rc = DM_EINVAL;
		goto out;
	}
	if (admin ? account != NULL : account == NULL) {
		seterr(err, errlen, "a token is either an account's or an admin token");
		rc = DM_EINVAL;
		goto out;
	}
	if (admin)
		rc = regdb_open_write(data_dir, &db, err, errlen);
	else
		rc = open_for_account(data_dir, account, &db, &account_id, err, errlen);
	if (rc)
		goto out;
	rc = random_bytes(raw, sizeof raw, err, errlen);
	if (rc)
		goto out;
	b64url_encode(raw, sizeof raw, secret);
	if (secret_hash(secret, h) != 0) {
		seterr(err, errlen, "SHA-256 failed");
		rc = DM_EIO;
		goto out;
	}
	if (replace) {
		rc = regdb_prepare(db,
		             "UPDATE tokens SET revoked_at = ?1 WHERE name = ?2 AND account_id = ?3"
		             " AND admin = ?4 AND revoked_at IS NULL",
		             &st, err, errlen);
		if (rc)
			goto out;
		regdb_bind_int64(st, 1, time(NULL));
		regdb_bind_text(st, 2, name);
		regdb_bind_int64(st, 3, account_id);
		regdb_bind_int64(st, 4, admin ? 1 : 0);
		int s = regdb_step(st);
		if (s != REGDB_DONE) {
			rc = fail(db, s, err, errlen);
			goto out;
		}
		regdb_finalize(st);
		st = NULL;
	}
	rc = regdb_prepare(db,
	             "INSERT INTO tokens(account_id, admin, name, hash, created_at)"
	             " VALUES(?1, ?2, ?3, ?4, ?5)",
	             &st, err, errlen);
	if (rc)
		goto out;
	regdb_bind_int64(st, 1, account_id);
	regdb_bind_int64(st, 2, admin ? 1 : 0);
	regdb_bind_text(st, 3, name);
	regdb_bind_blob(st, 4, h, sizeof h);
	regdb_bind_int64(st, 5, time(NULL));
	int s = regdb_step(st);
	if (s != REGDB_DONE) {
		rc = fail(db, s, err, errlen);
		goto out;
	}
	int64_t new_id = regdb_last_id(db);
	int n = snprintf(token_out, token_len, "dmt_%" PRId64 "_%s", new_id, secret);
	if (n < 0 || (size_t)n >= token_len) {
		seterr(err, errlen, "token longer than the caller's buffer");
		rc = DM_EINVAL;
		goto out;
	}
	rc = regdb_commit(db, err, errlen);
	if (rc == 0 && id)
		*id = new_id;
out:
	if (rc && token_out && token_len)
		OPENSSL_cleanse(token_out, token_len);
	OPENSSL_cleanse(raw, sizeof raw);
	OPENSSL_cleanse(secret, sizeof secret);
	regdb_finalize(st);
	regdb_close(db);
	return rc;
}

int
registry_token_revoke(const char *data_dir, int64_t id, char *err, size_t errlen)
{
	struct regdb *db = NULL;
	struct regdb_stmt *st = NULL;
	int rc, yes = 0;
	clearerr_buf(err, errlen);
	rc = path_ok(data_dir, err, errlen);
	if (rc == 0 && id > 0)
		rc = regdb_exists(data_dir, &yes, err, errlen);
	if (rc)
		goto out;
	if (!yes) {
		seterr(err, errlen, "no live token with id %" PRId64, id);
		rc = DM_ENOTFOUND;
		goto out;
	}
	rc = regdb_open_write(data_dir, &db, err, errlen);
	if (rc)
		goto out;
	rc = regdb_prepare(db, "UPDATE tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
	             &st, err, errlen);
	if (rc)
		goto out;
	regdb_bind_int64(st, 1, time(NULL));
	regdb_bind_int64(st, 2, id);
	int s = regdb_step(st);
	if (s != REGDB_DONE) {
		rc = fail(db, s, err, errlen);
		goto out;
	}
	if (regdb_changes(db) == 0) {
		seterr(err, errlen, "no live token with id %" PRId64, id);
		rc = DM_ENOTFOUND; /* close_db rolls back: no change, no new generation */
		goto out;
	}
	rc = regdb_commit(db, err, errlen);
out:
	regdb_finalize(st);
	regdb_close(db);
	return rc;
}

/* ---- listing ------------------------------------------------------------- */

static int
list_rows(const char *data_dir, const char *sql, int kind,
          int (*fn)(void *arg, const struct registry_row *r), void *arg, char *err, size_t errlen)
{
	struct regdb *db = NULL;
	struct regdb_stmt *st = NULL;
	int rc;
	clearerr_buf(err, errlen);
	rc = path_ok(data_dir, err, errlen);
	if (rc)
		goto out;
	rc = regdb_open_read(data_dir, &db, err, errlen);
	if (rc || !db)
		goto out;
	rc = regdb_prepare(db, sql, &st, err, errlen);
	if (rc)
		goto out;
	int s;
	while ((s = regdb_step(st)) == REGDB_ROW) {
		struct registry_row r = {0};
		r.account = regdb_text(st, 0);
		r.account_id = regdb_int64(st, 1);
		r.catch_all = (int)regdb_int64(st, 2) != 0;
		r.created_at = regdb_int64(st, 3);
		if (kind >= 1)
			r.domain = regdb_text(st, 4);
		if (kind == 2)
			r.address = regdb_text(st, 5);
		rc = fn(arg, &r);
		if (rc) {
			if (rc == DM_ESTOP)
				rc = 0;
			goto out;
		}
	}
	if (s != REGDB_DONE)
		rc = fail(db, s, err, errlen);
out:
	regdb_finalize(st);
	regdb_close(db);
	return rc;
}

int
registry_list_accounts(const char *data_dir, int (*fn)(void *arg, const struct registry_row *r),
                       void *arg, char *err, size_t errlen)
{
	return list_rows(data_dir,
	                 "SELECT name, id, catch_all, created_at FROM accounts"
	                 " ORDER BY lower(name) COLLATE BINARY, id",
	                 0, fn, arg, err, errlen);
}

int
registry_list_domains(const char *data_dir, int (*fn)(void *arg, const struct registry_row *r),
                      void *arg, char *err, size_t errlen)
{
	return list_rows(data_dir,
	                 "SELECT a.name, a.id, a.catch_all, d.created_at, d.domain"
	                 " FROM domains d JOIN accounts a ON a.id = d.account_id"
	                 " ORDER BY d.domain COLLATE BINARY",
	                 1, fn, arg, err, errlen);
}

int
registry_list_addresses(const char *data_dir, int (*fn)(void *arg, const struct registry_row *r),
                        void *arg, char *err, size_t errlen)
{
	return list_rows(data_dir,
	                 "SELECT * FROM ("
	                 " SELECT a.name, a.id, a.catch_all, x.created_at, d.domain, x.address"
	                 " FROM addresses x JOIN accounts a ON a.id = x.account_id"
	                 " LEFT JOIN domains d ON d.id = x.domain_id"
	                 " UNION ALL"
	                 " SELECT name, id, catch_all, created_at, NULL, '*' FROM accounts"
	                 " WHERE catch_all <> 0) AS u"
	                 " ORDER BY address COLLATE BINARY, id",
	                 2, fn, arg, err, errlen);
}

int
registry_list_tokens(const char *data_dir, int (*fn)(void *arg, const struct registry_token_row *r),
                     void *arg, char *err, size_t errlen)
{
	struct regdb *db = NULL;
	struct regdb_stmt *st = NULL;
	int yes = 0, rc;
	clearerr_buf(err, errlen);
	rc = path_ok(data_dir, err, errlen);
	if (rc)
		goto out;
	rc = regdb_open_read(data_dir, &db, err, errlen);
	if (rc || !db)
		goto out;
	/* a registry written before tokens existed */
	rc = regdb_has_table(db, "tokens", &yes, err, errlen);
	if (rc || !yes)
		goto out;
	rc = regdb_prepare(db,
	             "SELECT t.id, a.name, t.account_id, t.admin, t.name, t.created_at,"
	             " t.revoked_at FROM tokens t"
	             " LEFT JOIN accounts a ON a.id = t.account_id AND t.admin = 0"
	             " ORDER BY t.id",
	             &st, err, errlen);
	if (rc)
		goto out;
	int s;
	while ((s = regdb_step(st)) == REGDB_ROW) {
		struct registry_token_row r = {0};
		r.id = regdb_int64(st, 0);
		r.account = regdb_text(st, 1);
		r.account_id = regdb_int64(st, 2);
		r.admin = (int)regdb_int64(st, 3) != 0;
		r.name = regdb_text(st, 4);
		r.created_at = regdb_int64(st, 5);
		r.revoked_at = regdb_int64(st, 6); /* NULL reads as 0 */
		if (!r.name)
			r.name = "";
		rc = fn(arg, &r);
		if (rc) {
			if (rc == DM_ESTOP)
				rc = 0;
			goto out;
		}
	}
	if (s != REGDB_DONE)
		rc = fail(db, s, err, errlen);
out:
	regdb_finalize(st);
	regdb_close(db);
	return rc;
}

/* ---- DNS ----------------------------------------------------------------- */

/* Append line to out if the whole of it fits. */
static void
add_line(char *out, size_t outlen, size_t *len, const char *line, int n)
{
	if (n < 0 || (size_t)n >= outlen - *len)
		return;
	memcpy(out + *len, line, (size_t)n + 1);
	*len += (size_t)n;
}

size_t
registry_dns_records(const char *domain, const char *addr, char *out, size_t outlen)
{
	char d[DM_MAX_DOMAIN_LEN + 1], h[DM_MAX_DOMAIN_LEN + 1];
	char line[2 * DM_REGISTRY_MAX_ADDRESS + 2 * DM_MAX_DOMAIN_LEN + 64];
	size_t len = 0;
	if (!out || outlen == 0)
		return 0;
	out[0] = '\0';
	if (!norm_lookup(domain, d, sizeof d) || !addr || !*addr ||
	    strlen(addr) > DM_REGISTRY_MAX_ADDRESS)
		return 0;
	int n = snprintf(line, sizeof line,
	                 "_dmarc.%s. IN TXT \"v=DMARC1; p=none; rua=mailto:%s\"\n", d, addr);
	add_line(out, outlen, &len, line, n);
	const char *at = strrchr(addr, '@');
	if (!at || !norm_lookup(at + 1, h, sizeof h))
		return len;
	size_t hl = strlen(h), dl = strlen(d);
	int inside = strcmp(h, d) == 0 ||
	             (hl > dl && h[hl - dl - 1] == '.' && strcmp(h + hl - dl, d) == 0);
	if (!inside) {
		n = snprintf(line, sizeof line, "%s._report._dmarc.%s. IN TXT \"v=DMARC1\"\n", d,
		             h);
		add_line(out, outlen, &len, line, n);
	}
	return len;
}
