/*
 * test_spool.c - the durable spool: what lands in which folder, in which
 * order, with which bytes, and what happens when writing fails.
 *
 * Each test makes its own data folder under $TMPDIR and looks at the
 * files with plain readdir/open, not through the spool API, so a bug in
 * the API cannot hide itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"

struct fx {
	char dir[4096];
	struct spool *sp;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/spooltest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	char err[256];
	if (spool_open(&f->sp, f->dir, err, sizeof err) != 0) {
		fprintf(stderr, "spool_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	spool_close(f->sp);
	chmod(f->dir, 0700);
	char p[4200];
	snprintf(p, sizeof p, "%s/spool/tmp", f->dir);
	chmod(p, 0750);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Files in <dir>/spool/<sub>, not counting . and .. */
static int
nfiles(const struct fx *f, const char *sub)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/spool/%s", f->dir, sub);
	DIR *d = opendir(p);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int
exists(const struct fx *f, const char *sub, const char *name)
{
	char p[4200];
	struct stat st;
	snprintf(p, sizeof p, "%s/spool/%s/%s", f->dir, sub, name);
	return stat(p, &st) == 0;
}

/* The whole of <dir>/spool/<sub>/<name>; *len gets its size. */
static char *
slurp(const struct fx *f, const char *sub, const char *name, size_t *len)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/spool/%s/%s", f->dir, sub, name);
	FILE *fp = fopen(p, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	b[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return b;
}

static void
write_file(const struct fx *f, const char *sub, const char *name, const char *text)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/spool/%s/%s", f->dir, sub, name);
	FILE *fp = fopen(p, "wb");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static const char *const rcpts2[] = {"dmarc@example.org", "rua@example.net"};

static const struct spool_envelope env_default = {
	.from = "reports@example.com",
	.rcpt = rcpts2,
	.nrcpt = 2,
	.client_ip = "192.0.2.7",
	.helo = "mx.example.com",
	.proto = "ESMTP",
	.received_at = 1764558000,
};

/* Commit one message with body text; id gets its ID. */
static void
put(struct fx *f, const char *body, char id[SPOOL_ID_MAX])
{
	struct spool_msg *m;
	assert_int_equal(spool_msg_begin(f->sp, &env_default, &m), 0);
	assert_int_equal(spool_msg_write(m, body, strlen(body)), 0);
	snprintf(id, SPOOL_ID_MAX, "%s", spool_msg_id(m));
	assert_int_equal(spool_msg_commit(m), 0);
}

/* ---- writing ---------------------------------------------------------------- */

static void
test_commit_envelope_then_body(void **state)
{
	struct fx *f = *state;
	struct spool_msg *m;
	static const char head[] = "Subject: report\r\n\r\n";
	size_t big_len = 200 * 1024 + 17; /* more than the write buffer */
	char *big = malloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(spool_msg_begin(f->sp, &env_default, &m), 0);
	const char *expect_env = "X-Dmarcd-Envelope: 1\n"
				 "X-Dmarcd-From: <reports@example.com>\n"
				 "X-Dmarcd-Rcpt: <dmarc@example.org>\n"
				 "X-Dmarcd-Rcpt: <rua@example.net>\n"
				 "X-Dmarcd-Client: 192.0.2.7 mx.example.com ESMTP 1764558000\n";
	size_t elen = strlen(expect_env);
	assert_int_equal(spool_msg_size(m), elen);
	assert_int_equal(spool_msg_write(m, head, strlen(head)), 0);
	assert_int_equal(spool_msg_write(m, big, 10), 0);
	assert_int_equal(spool_msg_write(m, big + 10, big_len - 10), 0);
	assert_int_equal(spool_msg_size(m), elen + strlen(head) + big_len);

	char id[SPOOL_ID_MAX];
	snprintf(id, sizeof id, "%s", spool_msg_id(m));
	/* "<secs>.<pid>.<counter>.<8 hex>" and only [0-9a-z.] */
	assert_true(spool_id_valid(id));
	char pidpart[32];
	snprintf(pidpart, sizeof pidpart, ".%ld.", (long)getpid());
	assert_non_null(strstr(id, pidpart));
	const char *hex = strrchr(id, '.') + 1;
	assert_int_equal(strlen(hex), 8);
	assert_int_equal(strspn(hex, "0123456789abcdef"), 8);
	assert_true(exists(f, "tmp", id));
	assert_false(exists(f, "new", id));

	assert_int_equal(spool_msg_commit(m), 0);
	assert_false(exists(f, "tmp", id));
	assert_int_equal(nfiles(f, "tmp"), 0);
	assert_int_equal(nfiles(f, "new"), 1);
	size_t len;
	char *got = slurp(f, "new", id, &len);
	assert_int_equal(len, elen + strlen(head) + big_len);
	assert_memory_equal(got, expect_env, elen);
	assert_memory_equal(got + elen, head, strlen(head));
	assert_memory_equal(got + elen + strlen(head), big, big_len);
	free(got);
	free(big);
}

static void
test_abort_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct spool_msg *m;
	assert_int_equal(spool_msg_begin(f->sp, &env_default, &m), 0);
	assert_int_equal(spool_msg_write(m, "x\n", 2), 0);
	assert_int_equal(nfiles(f, "tmp"), 1);
	spool_msg_abort(m);
	spool_msg_abort(NULL);
	assert_int_equal(nfiles(f, "tmp"), 0);
	assert_int_equal(nfiles(f, "new"), 0);
}

static void
test_batch_commit(void **state)
{
	struct fx *f = *state;
	enum { N = 40 };
	struct spool_msg *m[N];
	char ids[N][SPOOL_ID_MAX];
	int rc[N];
	for (int i = 0; i < N; i++) {
		char body[64];
		snprintf(body, sizeof body, "Subject: %d\n\nbody %d\n", i, i);
		assert_int_equal(spool_msg_begin(f->sp, &env_default, &m[i]), 0);
		assert_int_equal(spool_msg_write(m[i], body, strlen(body)), 0);
		snprintf(ids[i], SPOOL_ID_MAX, "%s", spool_msg_id(m[i]));
		rc[i] = 12345;
	}
	assert_int_equal(nfiles(f, "new"), 0);
	assert_int_equal(spool_commit_batch(m, N, rc), 0);
	assert_int_equal(nfiles(f, "new"), N);
	assert_int_equal(nfiles(f, "tmp"), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(rc[i], 0);
		size_t len;
		char *got = slurp(f, "new", ids[i], &len);
		char body[64];
		snprintf(body, sizeof body, "body %d\n", i);
		assert_true(len > strlen(body));
		assert_string_equal(got + len - strlen(body), body);
		free(got);
	}
	unsigned nn = 0, nc = 9, nf = 9;
	assert_int_equal(spool_count(f->sp, &nn, &nc, &nf), 0);
	assert_int_equal(nn, N);
	assert_int_equal(nc, 0);
	assert_int_equal(nf, 0);
}

/* ---- claiming ----------------------------------------------------------------- */

static void
test_claim_order_and_exhaustion(void **state)
{
	struct fx *f = *state;
	enum { N = 25 }; /* the counter passes 9 -> 10: order must be numeric */
	char ids[N][SPOOL_ID_MAX];
	for (int i = 0; i < N; i++)
		put(f, "Subject: x\n\nx\n", ids[i]);
	for (int i = 0; i < N; i++) {
		char id[SPOOL_ID_MAX];
		int fd = -1;
		assert_int_equal(spool_claim(f->sp, id, &fd), 0);
		assert_string_equal(id, ids[i]);
		assert_true(fd >= 0);
		assert_true(exists(f, "cur", id));
		assert_false(exists(f, "new", id));
		char first[22];
		assert_int_equal(read(fd, first, 21), 21);
		first[21] = '\0';
		assert_string_equal(first, "X-Dmarcd-Envelope: 1\n");
		close(fd);
	}
	char id[SPOOL_ID_MAX];
	int fd = 123;
	assert_int_equal(spool_claim(f->sp, id, &fd), DM_ENOTFOUND);
	assert_int_equal(fd, -1);
	/* a later arrival is seen after the list ran out */
	char late[SPOOL_ID_MAX];
	put(f, "Subject: late\n\n", late);
	assert_int_equal(spool_claim(f->sp, id, &fd), 0);
	assert_string_equal(id, late);
	close(fd);
	assert_int_equal(spool_claim(f->sp, id, &fd), DM_ENOTFOUND);
}

struct claimer {
	struct spool *sp;
	char (*got)[SPOOL_ID_MAX];
	int n;
	int err;
};

static void *
claim_all(void *arg)
{
	struct claimer *c = arg;
	for (;;) {
		char id[SPOOL_ID_MAX];
		int fd;
		int rc = spool_claim(c->sp, id, &fd);
		if (rc == DM_ENOTFOUND)
			break;
		if (rc) {
			c->err = rc;
			break;
		}
		close(fd);
		memcpy(c->got[c->n++], id, SPOOL_ID_MAX);
		if (spool_done(c->sp, id) != 0)
			c->err = -100;
	}
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_claim_two_threads(void **state)
{
	struct fx *f = *state;
	enum { N = 1000, G = 100 };
	for (int b = 0; b < N / G; b++) {
		struct spool_msg *m[G];
		int rc[G];
		for (int i = 0; i < G; i++) {
			assert_int_equal(spool_msg_begin(f->sp, &env_default, &m[i]), 0);
			assert_int_equal(spool_msg_write(m[i], "Subject: t\n\n", 12), 0);
		}
		assert_int_equal(spool_commit_batch(m, G, rc), 0);
	}
	assert_int_equal(nfiles(f, "new"), N);
	struct claimer c[2];
	pthread_t t[2];
	for (int i = 0; i < 2; i++) {
		c[i] = (struct claimer){f->sp, calloc(N, SPOOL_ID_MAX), 0, 0};
		assert_int_equal(pthread_create(&t[i], NULL, claim_all, &c[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(c[0].err, 0);
	assert_int_equal(c[1].err, 0);
	assert_int_equal(c[0].n + c[1].n, N);
	char(*all)[SPOOL_ID_MAX] = calloc(N, SPOOL_ID_MAX);
	memcpy(all, c[0].got, (size_t)c[0].n * SPOOL_ID_MAX);
	memcpy(all + c[0].n, c[1].got, (size_t)c[1].n * SPOOL_ID_MAX);
	qsort(all, N, SPOOL_ID_MAX, cmp_str);
	for (int i = 1; i < N; i++)
		assert_string_not_equal(all[i - 1], all[i]);
	assert_int_equal(nfiles(f, "new"), 0);
	assert_int_equal(nfiles(f, "cur"), 0);
	free(all);
	free(c[0].got);
	free(c[1].got);
}

/* ---- done, release, fail, retry, list ---------------------------------------- */

struct seen {
	int n;
	char id[8][SPOOL_ID_MAX];
	char state[8][8];
	char why[8][128];
	int has_why[8];
	uint64_t size[8];
};

static int
on_entry(void *arg, const struct spool_entry *e)
{
	struct seen *s = arg;
	if (s->n < 8) {
		snprintf(s->id[s->n], SPOOL_ID_MAX, "%s", e->id);
		snprintf(s->state[s->n], 8, "%s", e->state);
		s->has_why[s->n] = e->why != NULL;
		snprintf(s->why[s->n], 128, "%s", e->why ? e->why : "");
		s->size[s->n] = e->size;
	}
	s->n++;
	return 0;
}

static void
test_done_release_fail_retry_list(void **state)
{
	struct fx *f = *state;
	char a[SPOOL_ID_MAX], b[SPOOL_ID_MAX], c[SPOOL_ID_MAX], id[SPOOL_ID_MAX];
	int fd;
	put(f, "Subject: a\n\n", a);
	put(f, "Subject: b\n\n", b);
	put(f, "Subject: c\n\n", c);

	/* a: claimed and done -> gone */
	assert_int_equal(spool_claim(f->sp, id, &fd), 0);
	close(fd);
	assert_string_equal(id, a);
	assert_int_equal(spool_done(f->sp, a), 0);
	assert_false(exists(f, "cur", a));
	assert_false(exists(f, "new", a));
	assert_int_equal(spool_done(f->sp, a), DM_ENOTFOUND);

	/* b: claimed and released -> claimed again later */
	assert_int_equal(spool_claim(f->sp, id, &fd), 0);
	close(fd);
	assert_string_equal(id, b);
	assert_int_equal(spool_release(f->sp, b), 0);
	assert_true(exists(f, "new", b));
	assert_false(exists(f, "cur", b));

	/* c: claimed and failed, with a reason that tries to add a line */
	assert_int_equal(spool_claim(f->sp, id, &fd), 0);
	close(fd);
	assert_string_equal(id, c);
	assert_int_equal(spool_fail(f->sp, c, "bad zip\nX-Injected: 1"), 0);
	assert_true(exists(f, "failed", c));
	assert_false(exists(f, "cur", c));
	size_t len;
	char whyname[SPOOL_ID_MAX + 8];
	snprintf(whyname, sizeof whyname, "%s.why", c);
	char *why = slurp(f, "failed", whyname, &len);
	assert_string_equal(why, "bad zip?X-Injected: 1\n");
	free(why);
	assert_int_equal(spool_fail(f->sp, c, "again"), DM_ENOTFOUND);

	/* b comes back after the list ran out */
	assert_int_equal(spool_claim(f->sp, id, &fd), 0);
	close(fd);
	assert_string_equal(id, b);

	unsigned nn, nc, nf;
	assert_int_equal(spool_count(f->sp, &nn, &nc, &nf), 0);
	assert_int_equal(nn, 0);
	assert_int_equal(nc, 1);
	assert_int_equal(nf, 1);

	struct seen s = {0};
	assert_int_equal(spool_list(f->sp, NULL, on_entry, &s), 0);
	assert_int_equal(s.n, 2); /* the .why file is not an entry */
	assert_string_equal(s.id[0], b);
	assert_string_equal(s.state[0], "cur");
	assert_false(s.has_why[0]);
	assert_string_equal(s.id[1], c);
	assert_string_equal(s.state[1], "failed");
	assert_true(s.has_why[1]);
	assert_string_equal(s.why[1], "bad zip?X-Injected: 1");
	assert_true(s.size[1] > 100);

	memset(&s, 0, sizeof s);
	assert_int_equal(spool_list(f->sp, "failed", on_entry, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.id[0], c);
	memset(&s, 0, sizeof s);
	assert_int_equal(spool_list(f->sp, "new", on_entry, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(spool_list(f->sp, "bogus", on_entry, &s), DM_EINVAL);

	/* retry: failed/c -> new/c, its .why gone */
	assert_int_equal(spool_retry(f->sp, c), 0);
	assert_true(exists(f, "new", c));
	assert_false(exists(f, "failed", c));
	assert_false(exists(f, "failed", whyname));
	assert_int_equal(spool_retry(f->sp, c), DM_ENOTFOUND);
	assert_int_equal(spool_count(f->sp, &nn, &nc, &nf), 0);
	assert_int_equal(nn, 1);
	assert_int_equal(nc, 1);
	assert_int_equal(nf, 0);

	/* a retry never replaces an entry waiting under the same name */
	write_file(f, "failed", c, "other bytes\n");
	assert_int_equal(spool_retry(f->sp, c), DM_EEXIST);
	assert_true(exists(f, "failed", c));
	char *kept = slurp(f, "new", c, &len);
	assert_non_null(strstr(kept, "Subject: c"));
	free(kept);
}

static void
test_bad_ids_refused(void **state)
{
	struct fx *f = *state;
	char longid[100];
	memset(longid, '1', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	const char *bad[] = {"../x", "", ".", "..", ".hidden", "a/b", "ABC", "x y",
			     "1.2.3\n", "x.why", longid, "/etc/passwd"};
	/* something to hit if the check were missing */
	write_file(f, "failed", "x.why", "reason\n");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_false(spool_id_valid(bad[i]));
		assert_int_equal(spool_retry(f->sp, bad[i]), DM_EINVAL);
		assert_int_equal(spool_done(f->sp, bad[i]), DM_EINVAL);
		assert_int_equal(spool_release(f->sp, bad[i]), DM_EINVAL);
		assert_int_equal(spool_fail(f->sp, bad[i], "x"), DM_EINVAL);
	}
	assert_true(exists(f, "failed", "x.why"));
	assert_int_equal(nfiles(f, "new"), 0);
	assert_true(spool_id_valid("1764558000.1234.17.a1b2c3d4"));
	assert_int_equal(spool_retry(f->sp, "1764558000.1234.17.a1b2c3d4"), DM_ENOTFOUND);
}

static void
test_recover(void **state)
{
	struct fx *f = *state;
	char a[SPOOL_ID_MAX], b[SPOOL_ID_MAX], c[SPOOL_ID_MAX], id[SPOOL_ID_MAX];
	int fd;
	put(f, "Subject: a\n\n", a);
	put(f, "Subject: b\n\n", b);
	put(f, "Subject: c\n\n", c);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(spool_claim(f->sp, id, &fd), 0);
		close(fd);
	}
	assert_int_equal(nfiles(f, "cur"), 2);
	/* leftovers of a crash: an unfinished message and junk */
	struct spool_msg *m;
	assert_int_equal(spool_msg_begin(f->sp, &env_default, &m), 0);
	assert_int_equal(spool_msg_write(m, "half", 4), 0);
	write_file(f, "tmp", "junk", "junk");
	write_file(f, "tmp", "1.999999999.1.00000000", "dead writer");
	assert_int_equal(nfiles(f, "tmp"), 3);

	unsigned back = 99;
	assert_int_equal(spool_recover(f->sp, &back), 0);
	assert_int_equal(back, 2);
	assert_int_equal(nfiles(f, "cur"), 0);
	assert_int_equal(nfiles(f, "tmp"), 0);
	assert_int_equal(nfiles(f, "new"), 3);
	spool_msg_abort(m); /* its file is already gone: harmless */

	/* the returned entries are claimed first again, oldest first */
	const char *want[] = {a, b, c};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(spool_claim(f->sp, id, &fd), 0);
		close(fd);
		assert_string_equal(id, want[i]);
	}
	assert_int_equal(spool_recover(f->sp, &back), 0);
	assert_int_equal(back, 3);
}

/* ---- envelope ------------------------------------------------------------------- */

static int
open_entry(const struct fx *f, const char *sub, const char *id)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/spool/%s/%s", f->dir, sub, id);
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	return fd;
}

static void
test_envelope_round_trip(void **state)
{
	struct fx *f = *state;
	struct spool_envelope_read r;
	char id[SPOOL_ID_MAX];
	put(f, "Subject: x\n\nbody\n", id);
	int fd = open_entry(f, "new", id);
	lseek(fd, 5, SEEK_SET); /* any position */
	assert_int_equal(spool_envelope_read(fd, &r), 0);
	assert_string_equal(r.from, "reports@example.com");
	assert_int_equal(r.nrcpt, 2);
	assert_string_equal(r.rcpt[0], "dmarc@example.org");
	assert_string_equal(r.rcpt[1], "rua@example.net");
	assert_string_equal(r.client_ip, "192.0.2.7");
	assert_string_equal(r.helo, "mx.example.com");
	assert_string_equal(r.proto, "ESMTP");
	assert_int_equal(r.received_at, 1764558000);
	char body[32] = {0};
	assert_int_equal(pread(fd, body, sizeof body - 1, (off_t)r.header_bytes), 17);
	assert_string_equal(body, "Subject: x\n\nbody\n");
	close(fd);

	/* null sender, no network client, 20 recipients, over-long values */
	char addrs[20][32];
	const char *rc[20];
	for (int i = 0; i < 20; i++) {
		snprintf(addrs[i], sizeof addrs[i], "r%d@example.org", i);
		rc[i] = addrs[i];
	}
	char longhelo[600];
	memset(longhelo, 'h', sizeof longhelo - 1);
	longhelo[sizeof longhelo - 1] = '\0';
	struct spool_envelope e = {"", rc, 20, "", longhelo, "pipe", 42};
	struct spool_msg *m;
	assert_int_equal(spool_msg_begin(f->sp, &e, &m), 0);
	snprintf(id, sizeof id, "%s", spool_msg_id(m));
	assert_int_equal(spool_msg_commit(m), 0);
	size_t len;
	char *raw = slurp(f, "new", id, &len);
	assert_non_null(strstr(raw, "X-Dmarcd-From: <>\n"));
	assert_non_null(strstr(raw, "X-Dmarcd-Client: - hhhh"));
	assert_non_null(strstr(raw, " pipe 42\n"));
	free(raw);
	fd = open_entry(f, "new", id);
	assert_int_equal(spool_envelope_read(fd, &r), 0);
	close(fd);
	assert_string_equal(r.from, "");
	assert_int_equal(r.nrcpt, 20);
	assert_string_equal(r.rcpt[15], "r15@example.org");
	assert_string_equal(r.client_ip, "");
	assert_int_equal(strlen(r.helo), sizeof r.helo - 1);
	assert_string_equal(r.proto, "pipe");
	assert_int_equal(r.received_at, 42);
	assert_int_equal(r.header_bytes, len); /* no body at all */
}

static void
test_envelope_injection(void **state)
{
	struct fx *f = *state;
	const char *rc[] = {"r@example.org\r\nX-Dmarcd-Rcpt: <evil1@example.net>"};
	struct spool_envelope e = {
		.from = "a@example.com>\r\nX-Dmarcd-Rcpt: <evil0@example.net",
		.rcpt = rc,
		.nrcpt = 1,
		.client_ip = "192.0.2.1 fake",
		.helo = "helo\nX-Dmarcd-Rcpt: <evil2@example.net>",
		.proto = "SMTP\x7f",
		.received_at = 7,
	};
	/* the sender's own header tries to look like one more field */
	static const char body[] = "X-Dmarcd-Rcpt: <evil3@example.net>\r\n"
				   "X-Dmarcd-Client: 6.6.6.6 evil SMTP 1\r\n"
				   "Subject: hi\r\n\r\nbody\r\n";
	struct spool_msg *m;
	char id[SPOOL_ID_MAX];
	assert_int_equal(spool_msg_begin(f->sp, &e, &m), 0);
	assert_int_equal(spool_msg_write(m, body, strlen(body)), 0);
	snprintf(id, sizeof id, "%s", spool_msg_id(m));
	assert_int_equal(spool_msg_commit(m), 0);

	size_t len;
	char *raw = slurp(f, "new", id, &len);
	/* exactly four envelope lines, then the body as given */
	const char *p = raw;
	for (int i = 0; i < 4; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	assert_string_equal(p, body);
	assert_int_equal(strchr(raw, '\r') - raw, (long)(p - raw) + 34);
	free(raw);

	struct spool_envelope_read r;
	int fd = open_entry(f, "new", id);
	assert_int_equal(spool_envelope_read(fd, &r), 0);
	close(fd);
	assert_int_equal(r.nrcpt, 1);
	assert_string_equal(r.rcpt[0], "r@example.org??X-Dmarcd-Rcpt: <evil1@example.net>");
	assert_string_equal(r.from, "a@example.com>??X-Dmarcd-Rcpt: <evil0@example.net");
	assert_string_equal(r.client_ip, "192.0.2.1?fake");
	assert_string_equal(r.helo, "helo?X-Dmarcd-Rcpt:?<evil2@example.net>");
	assert_string_equal(r.proto, "SMTP?");
	assert_int_equal(r.received_at, 7);
	assert_int_equal(r.header_bytes, (size_t)(p - raw));
}

static void
test_envelope_not_ours(void **state)
{
	struct fx *f = *state;
	struct spool_envelope_read r;
	const char *texts[] = {
		"",
		"Subject: plain mail\n\nbody\n",
		"X-Dmarcd-Envelope: 2\nX-Dmarcd-From: <a@b>\n",
		" X-Dmarcd-Envelope: 1\n",
		"X-Dmarcd-Envelope: 1", /* no line end */
		"X-Dmarcd-Envelope: 1\nX-Dmarcd-Client: 1.2.3.4 h SMTP notanumber\n",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		write_file(f, "failed", "probe", texts[i]);
		int fd = open_entry(f, "failed", "probe");
		memset(&r, 'x', sizeof r);
		assert_int_equal(spool_envelope_read(fd, &r), DM_EFORMAT);
		assert_int_equal(r.nrcpt, 0);
		assert_int_equal(r.header_bytes, 0);
		assert_string_equal(r.from, "");
		close(fd);
	}
	/* CRLF line ends are read too; an unknown X-Dmarcd- field is skipped */
	write_file(f, "failed", "probe",
		   "X-Dmarcd-Envelope: 1\r\nX-Dmarcd-Future: x\r\nX-Dmarcd-Rcpt: <a@b>\r\n"
		   "Subject: s\r\n");
	int fd = open_entry(f, "failed", "probe");
	assert_int_equal(spool_envelope_read(fd, &r), 0);
	close(fd);
	assert_int_equal(r.nrcpt, 1);
	assert_string_equal(r.rcpt[0], "a@b");
	assert_int_equal(r.header_bytes, 22 + 20 + 22);
}

/* ---- failures -------------------------------------------------------------------- */

static void
test_write_failure_keeps_nothing(void **state)
{
	struct fx *f = *state;
	struct spool_msg *m = NULL;
	if (geteuid() != 0) {
		/* an unwritable tmp/: begin fails, nothing anywhere */
		char p[4200];
		snprintf(p, sizeof p, "%s/spool/tmp", f->dir);
		assert_int_equal(chmod(p, 0500), 0);
		assert_true(spool_msg_begin(f->sp, &env_default, &m) < 0);
		assert_null(m);
		assert_int_equal(chmod(p, 0750), 0);
	}
	/* a file size limit stands in for a full disk (root ignores modes) */
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 100 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	size_t n = 1024 * 1024;
	char *big = calloc(1, n);
	assert_int_equal(spool_msg_begin(f->sp, &env_default, &m), 0);
	int rc = spool_msg_write(m, big, 1000);
	assert_int_equal(rc, 0); /* buffered */
	rc = spool_msg_write(m, big, n);
	int crc = spool_msg_commit(m);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_true(rc < 0);
	assert_true(crc < 0);
	assert_int_equal(nfiles(f, "new"), 0);
	assert_int_equal(nfiles(f, "tmp"), 0);

	/* the same in a group commit: the small one commits, the big one not */
	struct spool_msg *b[2];
	int rcs[2];
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(spool_msg_begin(f->sp, &env_default, &b[0]), 0);
	assert_int_equal(spool_msg_begin(f->sp, &env_default, &b[1]), 0);
	assert_int_equal(spool_msg_write(b[0], "Subject: small\n\n", 16), 0);
	/* two buffers' worth fit under the limit, the third write passes it */
	assert_int_equal(spool_msg_write(b[1], big, 64 * 1024 - 1), 0);
	assert_int_equal(spool_msg_write(b[1], big, 64 * 1024 - 1), 0);
	assert_true(spool_msg_write(b[1], big, n) < 0);
	assert_true(spool_msg_write(b[1], "x", 1) < 0); /* latched */
	char small_id[SPOOL_ID_MAX];
	snprintf(small_id, sizeof small_id, "%s", spool_msg_id(b[0]));
	crc = spool_commit_batch(b, 2, rcs);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_true(crc < 0);
	assert_int_equal(rcs[0], 0);
	assert_true(rcs[1] < 0);
	assert_int_equal(nfiles(f, "new"), 1);
	assert_true(exists(f, "new", small_id));
	assert_int_equal(nfiles(f, "tmp"), 0);
	free(big);
}

static void
test_open_refuses_a_file(void **state)
{
	struct fx *f = *state;
	char p[4200], err[256] = "";
	snprintf(p, sizeof p, "%s/blocked", f->dir);
	assert_int_equal(mkdir(p, 0750), 0);
	snprintf(p, sizeof p, "%s/blocked/spool", f->dir);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(p, sizeof p, "%s/blocked", f->dir);
	struct spool *sp = (struct spool *)1;
	assert_true(spool_open(&sp, p, err, sizeof err) < 0);
	assert_null(sp);
	assert_non_null(strstr(err, "blocked/spool"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_envelope_then_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_order_and_exhaustion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_two_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_release_fail_retry_list, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_ids_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_not_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_keeps_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_a_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
