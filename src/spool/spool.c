/*
 * spool.c - the durable spool between intake and the ingest workers.
 *
 * Functions: spool_open, spool_close, spool_recover, spool_msg_begin,
 * spool_msg_write, spool_msg_size, spool_msg_id, spool_msg_commit,
 * spool_commit_batch, spool_msg_abort, spool_claim, spool_done,
 * spool_release, spool_fail, spool_envelope_read, spool_list,
 * spool_retry, spool_count, spool_id_valid.
 *
 * A Maildir-like layout under <data_dir>/spool (see spool.h).  An entry
 * moves between the folders only by rename(2), so at every instant it is
 * in exactly one of them:
 *
 *   begin -> tmp/ID --commit--> new/ID --claim--> cur/ID --done--> (gone)
 *              |                  ^  ^              |  |
 *         abort/error             |  +--release-----+  |
 *              v                  |  +--recover-----+  |
 *            (gone)               +--retry-- failed/ID <--fail--+
 *                                            failed/ID.why
 *
 * A commit is durable before it returns 0: the data is fdatasync'ed,
 * renamed into new/, and new/ is fsync'ed.  The folders are held open as
 * directory descriptors, so every operation is a *at() call on a name
 * that was validated (spool_id_valid) and can never leave its folder.
 *
 * spool_claim keeps the sorted names of one scan of new/ and hands them
 * out under a mutex, rescanning only when they run out: with a backlog of
 * N entries a claim costs O(1) amortised instead of a readdir each.  Two
 * claimers racing for one name are decided by rename(2): the loser gets
 * ENOENT and moves on.
 *
 * Nothing is logged here; callers log with the ID and the returned code.
 */
#include "spool/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

/* I/O buffer sizes (performance, not limits): one write(2) per 64 KiB of
 * message, one pread(2) per 64 KiB of envelope. */
#define SPOOL_WBUF (64 * 1024)
#define SPOOL_RBUF (64 * 1024)

/* Longest field values written, from struct spool_envelope_read. */
#define ADDR_MAX (sizeof(((struct spool_envelope_read *)0)->from) - 1)
#define IP_MAX (sizeof(((struct spool_envelope_read *)0)->client_ip) - 1)
#define HELO_MAX (sizeof(((struct spool_envelope_read *)0)->helo) - 1)
#define PROTO_MAX (sizeof(((struct spool_envelope_read *)0)->proto) - 1)

_Static_assert(sizeof "X-Dmarcd-Client: " + IP_MAX + HELO_MAX + PROTO_MAX + 24 + 4 <
                       DM_SPOOL_MAX_ENVELOPE_LINE,
               "an envelope line we write must be one we can read back");
_Static_assert(DM_SPOOL_MAX_ENVELOPE_LINE < SPOOL_RBUF, "a line fits the read buffer");

enum { D_TMP, D_NEW, D_CUR, D_FAILED, D_N };
static const char *const dir_name[D_N] = {"tmp", "new", "cur", "failed"};

/* A list of entry names read from one folder. */
struct namelist {
	char (*v)[SPOOL_ID_MAX];
	size_t n, cap;
};

struct spool {
	int dfd[D_N];
	pthread_mutex_t mu;  /* guards ids and next */
	struct namelist ids; /* new/ as of the last scan, sorted */
	size_t next;         /* ids.v[next] is the next to try */
};

struct spool_msg {
	struct spool *sp;
	char id[SPOOL_ID_MAX];
	int fd;
	int err; /* first write error, latched */
	size_t blen;
	uint64_t size;
	char buf[SPOOL_WBUF];
};

/* The one process-wide state: makes IDs of one second and pid distinct. */
static atomic_ulong spool_counter;

/* err gets "what: why" (the caller's buffer may be absent). */
static void
set_err(char *err, size_t errlen, const char *what, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", what, why);
}

int
spool_id_valid(const char *id)
{
	size_t len = strnlen(id, SPOOL_ID_MAX);
	if (len == 0 || len >= SPOOL_ID_MAX || id[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.'))
			return 0;
	}
	/* ID.why is the reason file next to a failed entry, never an entry */
	if (len >= 4 && memcmp(id + len - 4, ".why", 4) == 0)
		return 0;
	return 1;
}

static int
cmp_id(const void *a, const void *b)
{
	/* version order: "...5.x" before "...17.x", so IDs sort by arrival */
	return strverscmp(a, b);
}

/* The valid entry names in folder d, sorted. */
static int
read_names(struct spool *sp, int d, struct namelist *nl)
{
	nl->n = 0;
	int fd = openat(sp->dfd[d], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return dm_errno_code(errno);
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return DM_EIO;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (!spool_id_valid(de->d_name))
			continue;
		if (nl->n == nl->cap) {
			nl->cap = nl->cap ? nl->cap * 2 : 256;
			nl->v = xrealloc(nl->v, nl->cap * sizeof nl->v[0]);
		}
		memcpy(nl->v[nl->n++], de->d_name, strlen(de->d_name) + 1);
	}
	int rc = errno ? DM_EIO : 0;
	closedir(dir);
	if (rc == 0 && nl->n > 1)
		qsort(nl->v, nl->n, sizeof nl->v[0], cmp_id);
	return rc;
}

int
spool_open(struct spool **out, const char *data_dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int rc = 0;
	struct spool *sp = xcalloc(1, sizeof *sp);
	*out = NULL;
	for (int i = 0; i < D_N; i++)
		sp->dfd[i] = -1;
	pthread_mutex_init(&sp->mu, NULL);
	for (int i = 0; i < D_N; i++) {
		int n = snprintf(path, sizeof path, "%s/spool/%s", data_dir, dir_name[i]);
		if (n < 0 || (size_t)n >= sizeof path) {
			set_err(err, errlen, data_dir, "spool path too long");
			rc = DM_EINVAL;
			goto fail;
		}
		rc = dm_mkdir_p(path, 0750);
		if (rc == 0) {
			sp->dfd[i] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sp->dfd[i] < 0)
				rc = dm_errno_code(errno);
		}
		if (rc) {
			set_err(err, errlen, path, strerror(errno));
			goto fail;
		}
	}
	/* the folders themselves must survive a crash, not only the files */
	snprintf(path, sizeof path, "%s/spool", data_dir);
	rc = dm_fsync_dir(path);
	if (rc == 0)
		rc = dm_fsync_dir(data_dir);
	if (rc) {
		set_err(err, errlen, path, dm_strerror(rc));
		goto fail;
	}
	*out = sp;
	return 0;
fail:
	spool_close(sp);
	return rc;
}

void
spool_close(struct spool *sp)
{
	if (!sp)
		return;
	for (int i = 0; i < D_N; i++)
		if (sp->dfd[i] >= 0)
			close(sp->dfd[i]);
	pthread_mutex_destroy(&sp->mu);
	free(sp->ids.v);
	free(sp);
}

/* Whether tmp/NAME may belong to a live writer in another process: its
 * ID names the writer's pid (second component). */
static int
tmp_in_use(const char *name, int64_t mtime)
{
	if (time(NULL) - mtime > DM_SPOOL_TMP_MAX_AGE)
		return 0;
	const char *p = strchr(name, '.');
	if (!p)
		return 0;
	char *end;
	errno = 0;
	long pid = strtol(p + 1, &end, 10);
	if (errno || end == p + 1 || *end != '.' || pid <= 1 || pid > INT_MAX)
		return 0;
	if ((pid_t)pid == getpid())
		return 0; /* ours: recover runs before this process writes */
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int
spool_recover(struct spool *sp, unsigned *returned)
{
	struct namelist nl = {0};
	unsigned moved = 0;
	int rc = read_names(sp, D_CUR, &nl);
	if (rc)
		goto out;
	for (size_t i = 0; i < nl.n; i++) {
		if (renameat(sp->dfd[D_CUR], nl.v[i], sp->dfd[D_NEW], nl.v[i]) == 0)
			moved++;
		else if (errno != ENOENT) {
			rc = dm_errno_code(errno);
			goto out;
		}
	}
	/* tmp/ holds unfinished writes (any name, ID.why included) */
	int fd = openat(sp->dfd[D_TMP], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		rc = DM_EIO;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(sp->dfd[D_TMP], de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || tmp_in_use(de->d_name, st.st_mtime))
			continue;
		if (unlinkat(sp->dfd[D_TMP], de->d_name, 0) != 0 && errno != ENOENT) {
			rc = dm_errno_code(errno);
			break;
		}
	}
	closedir(dir);
	if (rc)
		goto out;
	if (fsync(sp->dfd[D_NEW]) != 0 || fsync(sp->dfd[D_CUR]) != 0 || fsync(sp->dfd[D_TMP]) != 0)
		rc = dm_errno_code(errno);
	pthread_mutex_lock(&sp->mu);
	sp->ids.n = sp->next = 0; /* rescan: the returned entries are older */
	pthread_mutex_unlock(&sp->mu);
out:
	free(nl.v);
	if (returned)
		*returned = moved;
	return rc;
}

/* ---- writing ------------------------------------------------------------ */

static int
msg_flush(struct spool_msg *m)
{
	if (m->err == 0 && m->blen) {
		m->err = dm_write_all(m->fd, m->buf, m->blen);
		m->blen = 0;
	}
	return m->err;
}

static int
msg_append(struct spool_msg *m, const void *p, size_t len)
{
	if (m->err)
		return m->err;
	if (SPOOL_WBUF - m->blen < len) {
		if (msg_flush(m))
			return m->err;
		if (len >= SPOOL_WBUF) {
			m->err = dm_write_all(m->fd, p, len);
			if (m->err == 0)
				m->size += len;
			return m->err;
		}
	}
	memcpy(m->buf + m->blen, p, len);
	m->blen += len;
	m->size += len;
	return 0;
}

/* One envelope line being built. */
struct line {
	char b[DM_SPOOL_MAX_ENVELOPE_LINE];
	size_t n;
};

static void
line_raw(struct line *l, const char *s)
{
	size_t len = strlen(s);
	if (sizeof l->b - l->n <= len)
		len = sizeof l->b - l->n - 1;
	memcpy(l->b + l->n, s, len);
	l->n += len;
}

/* Append at most max bytes of s, each control byte (and a space when
 * nospace, since the field is space separated) replaced by '?'.  An empty
 * value is written as dash when it is not NULL. */
static void
line_clean(struct line *l, const char *s, size_t max, int nospace, const char *dash)
{
	if (!s)
		s = "";
	if (!*s && dash) {
		line_raw(l, dash);
		return;
	}
	for (size_t i = 0; s[i] && i < max && l->n < sizeof l->b - 1; i++) {
		unsigned char c = (unsigned char)s[i];
		l->b[l->n++] = c < 0x20 || c == 0x7f || (nospace && c == ' ') ? '?' : (char)c;
	}
}

static int
line_put(struct spool_msg *m, struct line *l)
{
	l->b[l->n++] = '\n';
	int rc = msg_append(m, l->b, l->n);
	l->n = 0;
	return rc;
}

static int
make_id(char id[SPOOL_ID_MAX])
{
	unsigned char r[4];
	ssize_t n;
	do
		n = getrandom(r, sizeof r, 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof r)
		return DM_EIO;
	unsigned long c = atomic_fetch_add(&spool_counter, 1) + 1;
	int len = snprintf(id, SPOOL_ID_MAX, "%lld.%ld.%lu.%02x%02x%02x%02x", (long long)time(NULL),
	                   (long)getpid(), c, r[0], r[1], r[2], r[3]);
	return len > 0 && len < SPOOL_ID_MAX ? 0 : DM_EINVAL;
}

int
spool_msg_begin(struct spool *sp, const struct spool_envelope *env, struct spool_msg **out)
{
	int rc;
	struct line l = {.n = 0};
	*out = NULL;
	if (env->nrcpt > SPOOL_MAX_RCPT_READ)
		return DM_ELIMIT;
	struct spool_msg *m = xmalloc(sizeof *m);
	m->sp = sp;
	m->fd = -1;
	m->err = 0;
	m->blen = 0;
	m->size = 0;
	for (int tries = 0;; tries++) {
		rc = make_id(m->id);
		if (rc)
			goto fail;
		m->fd = openat(sp->dfd[D_TMP], m->id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		               0640);
		if (m->fd >= 0)
			break;
		if (errno != EEXIST || tries == 3) {
			rc = dm_errno_code(errno);
			goto fail;
		}
	}
	line_raw(&l, "X-Dmarcd-Envelope: 1");
	(void)line_put(m, &l);
	line_raw(&l, "X-Dmarcd-From: <");
	line_clean(&l, env->from, ADDR_MAX, 0, NULL);
	line_raw(&l, ">");
	(void)line_put(m, &l);
	for (size_t i = 0; i < env->nrcpt; i++) {
		line_raw(&l, "X-Dmarcd-Rcpt: <");
		line_clean(&l, env->rcpt[i], ADDR_MAX, 0, NULL);
		line_raw(&l, ">");
		(void)line_put(m, &l);
	}
	char secs[24];
	snprintf(secs, sizeof secs, "%lld", (long long)env->received_at);
	line_raw(&l, "X-Dmarcd-Client: ");
	line_clean(&l, env->client_ip, IP_MAX, 1, "-");
	line_raw(&l, " ");
	line_clean(&l, env->helo, HELO_MAX, 1, "-");
	line_raw(&l, " ");
	line_clean(&l, env->proto, PROTO_MAX, 1, "-");
	line_raw(&l, " ");
	line_raw(&l, secs);
	rc = line_put(m, &l); /* errors latch: the last call reports them */
	if (rc) {
		spool_msg_abort(m);
		return rc;
	}
	*out = m;
	return 0;
fail:
	free(m);
	return rc;
}

int
spool_msg_write(struct spool_msg *m, const void *data, size_t len)
{
	return msg_append(m, data, len);
}

uint64_t
spool_msg_size(const struct spool_msg *m)
{
	return m->size;
}

const char *
spool_msg_id(const struct spool_msg *m)
{
	return m->id;
}

void
spool_msg_abort(struct spool_msg *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	(void)unlinkat(m->sp->dfd[D_TMP], m->id, 0);
	free(m);
}

/* Flush, fdatasync and close m's file; the fd is closed whatever happens. */
static int
msg_sync(struct spool_msg *m)
{
	int rc = msg_flush(m);
	if (rc == 0 && fdatasync(m->fd) != 0)
		rc = dm_errno_code(errno);
	if (close(m->fd) != 0 && rc == 0)
		rc = dm_errno_code(errno);
	m->fd = -1;
	return rc;
}

int
spool_msg_commit(struct spool_msg *m)
{
	int rc;
	return spool_commit_batch(&m, 1, &rc);
}

int
spool_commit_batch(struct spool_msg **m, size_t n, int *rc)
{
	int first = 0;
	size_t renamed = 0;
	struct spool *sp = n ? m[0]->sp : NULL;
	char *in_new = xcalloc(n ? n : 1, 1);
	for (size_t i = 0; i < n; i++)
		rc[i] = msg_sync(m[i]);
	for (size_t i = 0; i < n; i++) {
		if (rc[i])
			continue;
		if (renameat(sp->dfd[D_TMP], m[i]->id, sp->dfd[D_NEW], m[i]->id) == 0) {
			in_new[i] = 1;
			renamed++;
		} else {
			rc[i] = dm_errno_code(errno);
		}
	}
	if (renamed && fsync(sp->dfd[D_NEW]) != 0) {
		/* not durable, so not committed: take them back out of new/ */
		int e = dm_errno_code(errno);
		for (size_t i = 0; i < n; i++) {
			if (in_new[i]) {
				(void)unlinkat(sp->dfd[D_NEW], m[i]->id, 0);
				rc[i] = e;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (rc[i]) {
			if (!in_new[i])
				(void)unlinkat(sp->dfd[D_TMP], m[i]->id, 0);
			if (!first)
				first = rc[i];
		}
		free(m[i]);
	}
	free(in_new);
	return first;
}

/* ---- processing --------------------------------------------------------- */

int
spool_claim(struct spool *sp, char id[SPOOL_ID_MAX], int *fd)
{
	char name[SPOOL_ID_MAX];
	*fd = -1;
	for (;;) {
		pthread_mutex_lock(&sp->mu);
		if (sp->next == sp->ids.n) {
			int rc = read_names(sp, D_NEW, &sp->ids);
			sp->next = 0;
			if (rc || sp->ids.n == 0) {
				sp->ids.n = 0;
				pthread_mutex_unlock(&sp->mu);
				return rc ? rc : DM_ENOTFOUND;
			}
		}
		memcpy(name, sp->ids.v[sp->next++], SPOOL_ID_MAX);
		pthread_mutex_unlock(&sp->mu);
		if (renameat(sp->dfd[D_NEW], name, sp->dfd[D_CUR], name) != 0) {
			if (errno == ENOENT)
				continue; /* another claimer was first */
			return dm_errno_code(errno);
		}
		int f = openat(sp->dfd[D_CUR], name, O_RDONLY | O_CLOEXEC);
		if (f < 0) {
			int e = errno;
			(void)renameat(sp->dfd[D_CUR], name, sp->dfd[D_NEW], name);
			return dm_errno_code(e);
		}
		memcpy(id, name, SPOOL_ID_MAX);
		*fd = f;
		return 0;
	}
}

int
spool_done(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id))
		return DM_EINVAL;
	/* no fsync of cur/: after a crash the entry comes back and is
	 * ingested again, which the store recognises as a duplicate */
	if (unlinkat(sp->dfd[D_CUR], id, 0) != 0)
		return errno == ENOENT ? DM_ENOTFOUND : dm_errno_code(errno);
	return 0;
}

int
spool_release(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id))
		return DM_EINVAL;
	if (renameat(sp->dfd[D_CUR], id, sp->dfd[D_NEW], id) != 0)
		return errno == ENOENT ? DM_ENOTFOUND : dm_errno_code(errno);
	return 0;
}

int
spool_fail(struct spool *sp, const char *id, const char *why)
{
	char name[SPOOL_ID_MAX + 8];
	char line[DM_SPOOL_MAX_WHY + 2];
	struct stat st;
	size_t n = 0;
	int rc = 0, fd = -1;
	if (!spool_id_valid(id))
		return DM_EINVAL;
	if (fstatat(sp->dfd[D_CUR], id, &st, 0) != 0)
		return errno == ENOENT ? DM_ENOTFOUND : dm_errno_code(errno);
	snprintf(name, sizeof name, "%s.why", id);
	for (const char *p = why ? why : ""; *p && n < DM_SPOOL_MAX_WHY; p++) {
		unsigned char c = (unsigned char)*p;
		line[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	line[n++] = '\n';
	/* the reason is durable in failed/ before the entry moves there */
	fd = openat(sp->dfd[D_TMP], name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return dm_errno_code(errno);
	rc = dm_write_all(fd, line, n);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = dm_errno_code(errno);
	if (close(fd) != 0 && rc == 0)
		rc = dm_errno_code(errno);
	if (rc)
		goto out;
	if (renameat(sp->dfd[D_TMP], name, sp->dfd[D_FAILED], name) != 0) {
		rc = dm_errno_code(errno);
		goto out;
	}
	if (fsync(sp->dfd[D_FAILED]) != 0 ||
	    renameat(sp->dfd[D_CUR], id, sp->dfd[D_FAILED], id) != 0 ||
	    fsync(sp->dfd[D_FAILED]) != 0) {
		rc = errno == ENOENT ? DM_ENOTFOUND : dm_errno_code(errno);
		(void)unlinkat(sp->dfd[D_FAILED], name, 0);
	}
out:
	if (rc)
		(void)unlinkat(sp->dfd[D_TMP], name, 0);
	return rc;
}

/* Copy the value of one envelope field (after "Name: "), without the
 * angle brackets of an address, cut to cap-1 bytes. */
static void
copy_value(char *dst, size_t cap, const char *v, size_t len, int addr)
{
	if (addr && len >= 2 && v[0] == '<' && v[len - 1] == '>') {
		v++;
		len -= 2;
	}
	if (len > cap - 1)
		len = cap - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

/* X-Dmarcd-Client: <ip> <helo> <proto> <unix seconds>; "-" for empty. */
static int
parse_client(struct spool_envelope_read *env, const char *v, size_t len)
{
	const char *tok[4];
	size_t tlen[4];
	size_t i = 0;
	for (int t = 0; t < 4; t++) {
		if (i >= len)
			return DM_EFORMAT;
		tok[t] = v + i;
		while (i < len && v[i] != ' ')
			i++;
		tlen[t] = (size_t)(v + i - tok[t]);
		if (tlen[t] == 0)
			return DM_EFORMAT;
		i++; /* the space */
	}
	if (i < len + 1)
		return DM_EFORMAT; /* more than four values */
	char *dst[3] = {env->client_ip, env->helo, env->proto};
	size_t cap[3] = {sizeof env->client_ip, sizeof env->helo, sizeof env->proto};
	for (int t = 0; t < 3; t++) {
		if (tlen[t] == 1 && tok[t][0] == '-')
			dst[t][0] = '\0';
		else
			copy_value(dst[t], cap[t], tok[t], tlen[t], 0);
	}
	char num[24];
	if (tlen[3] >= sizeof num)
		return DM_EFORMAT;
	memcpy(num, tok[3], tlen[3]);
	num[tlen[3]] = '\0';
	char *end;
	errno = 0;
	long long secs = strtoll(num, &end, 10);
	if (errno || *end || end == num)
		return DM_EFORMAT;
	env->received_at = (int64_t)secs;
	return 0;
}

static int
has_prefix(const char *s, size_t len, const char *prefix, size_t *plen)
{
	*plen = strlen(prefix);
	return len >= *plen && strncasecmp(s, prefix, *plen) == 0;
}

int
spool_envelope_read(int fd, struct spool_envelope_read *env)
{
	char *buf = xmalloc(SPOOL_RBUF);
	size_t have = 0, pos = 0, plen;
	off_t base = 0; /* file offset of buf[0] */
	int rc = 0, eof = 0, nline = 0, from_seen = 0;
	memset(env, 0, sizeof *env);
	for (;;) {
		char *nl = memchr(buf + pos, '\n', have - pos);
		if (!nl) {
			if (eof || have - pos >= DM_SPOOL_MAX_ENVELOPE_LINE)
				break; /* no complete line: not one of ours */
			memmove(buf, buf + pos, have - pos);
			base += (off_t)pos;
			have -= pos;
			pos = 0;
			ssize_t n = pread(fd, buf + have, SPOOL_RBUF - have, base + (off_t)have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = DM_EIO;
				goto out;
			}
			if (n == 0)
				eof = 1;
			have += (size_t)n;
			continue;
		}
		const char *s = buf + pos;
		size_t len = (size_t)(nl - s);
		size_t next = pos + len + 1;
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (len >= DM_SPOOL_MAX_ENVELOPE_LINE)
			break;
		if (nline == 0) {
			if (!(len == 20 && memcmp(s, "X-Dmarcd-Envelope: 1", 20) == 0))
				break;
		} else if (has_prefix(s, len, "X-Dmarcd-From: ", &plen)) {
			if (!from_seen)
				copy_value(env->from, sizeof env->from, s + plen, len - plen, 1);
			from_seen = 1;
		} else if (has_prefix(s, len, "X-Dmarcd-Rcpt: ", &plen)) {
			if (env->nrcpt == SPOOL_MAX_RCPT_READ) {
				rc = DM_EFORMAT; /* more than we ever write */
				goto out;
			}
			if (env->nrcpt < sizeof env->rcpt / sizeof env->rcpt[0])
				copy_value(env->rcpt[env->nrcpt], sizeof env->rcpt[0], s + plen,
				           len - plen, 1);
			env->nrcpt++;
		} else if (has_prefix(s, len, "X-Dmarcd-Client: ", &plen)) {
			rc = parse_client(env, s + plen, len - plen);
			if (rc)
				goto out;
			pos = next;
			env->header_bytes = (size_t)base + pos;
			break; /* the last field we write: what follows is the message's */
		} else if (!has_prefix(s, len, "X-Dmarcd-", &plen)) {
			break;
		}
		pos = next;
		nline++;
		env->header_bytes = (size_t)base + pos;
	}
	if (nline == 0)
		rc = DM_EFORMAT;
out:
	if (rc)
		memset(env, 0, sizeof *env);
	free(buf);
	return rc;
}

/* ---- operator ------------------------------------------------------------ */

struct listed {
	char id[SPOOL_ID_MAX];
	int state;
	uint64_t size;
	int64_t mtime;
	char *why;
};

static int
cmp_listed(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	int c = strverscmp(x->id, y->id);
	return c ? c : x->state - y->state;
}

/* The first line of failed/ID.why, or NULL. */
static char *
read_why(struct spool *sp, const char *id)
{
	char name[SPOOL_ID_MAX + 8], line[DM_SPOOL_MAX_WHY + 1];
	snprintf(name, sizeof name, "%s.why", id);
	int fd = openat(sp->dfd[D_FAILED], name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	ssize_t n;
	do
		n = pread(fd, line, sizeof line - 1, 0);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return NULL;
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	return xstrdup(line);
}

int
spool_list(struct spool *sp, const char *state, int (*fn)(void *arg, const struct spool_entry *e),
           void *arg)
{
	struct namelist nl = {0};
	struct listed *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	if (state && strcmp(state, "new") && strcmp(state, "cur") && strcmp(state, "failed")) {
		rc = DM_EINVAL;
		goto out;
	}
	for (int d = D_NEW; d < D_N; d++) {
		if (state && strcmp(state, dir_name[d]) != 0)
			continue;
		rc = read_names(sp, d, &nl);
		if (rc)
			goto out;
		for (size_t i = 0; i < nl.n; i++) {
			struct stat st;
			if (fstatat(sp->dfd[d], nl.v[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
				continue; /* moved on while we looked */
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = xrealloc(v, cap * sizeof *v);
			}
			memcpy(v[n].id, nl.v[i], SPOOL_ID_MAX);
			v[n].state = d;
			v[n].size = (uint64_t)st.st_size;
			v[n].mtime = (int64_t)st.st_mtime;
			v[n].why = d == D_FAILED ? read_why(sp, nl.v[i]) : NULL;
			n++;
		}
	}
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_listed);
	for (size_t i = 0; i < n; i++) {
		struct spool_entry e = {v[i].id, dir_name[v[i].state], v[i].size, v[i].mtime,
		                        v[i].state == D_FAILED ? (v[i].why ? v[i].why : "") : NULL};
		rc = fn(arg, &e);
		if (rc)
			break;
	}
	if (rc == DM_ESTOP)
		rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(v[i].why);
	free(v);
	free(nl.v);
	return rc;
}

int
spool_retry(struct spool *sp, const char *id)
{
	char name[SPOOL_ID_MAX + 8];
	if (!spool_id_valid(id))
		return DM_EINVAL;
	/* never replace an entry waiting in new/ under the same name */
	int r = renameat2(sp->dfd[D_FAILED], id, sp->dfd[D_NEW], id, RENAME_NOREPLACE);
	if (r != 0 && (errno == EINVAL || errno == ENOSYS)) {
		struct stat st; /* a filesystem without RENAME_NOREPLACE */
		if (fstatat(sp->dfd[D_FAILED], id, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    fstatat(sp->dfd[D_NEW], id, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return DM_EEXIST;
		r = renameat(sp->dfd[D_FAILED], id, sp->dfd[D_NEW], id);
	}
	if (r != 0)
		return errno == ENOENT   ? DM_ENOTFOUND
		       : errno == EEXIST ? DM_EEXIST
		                         : dm_errno_code(errno);
	if (fsync(sp->dfd[D_NEW]) != 0)
		return dm_errno_code(errno);
	snprintf(name, sizeof name, "%s.why", id);
	if (unlinkat(sp->dfd[D_FAILED], name, 0) != 0 && errno != ENOENT)
		return dm_errno_code(errno);
	return 0;
}

int
spool_count(struct spool *sp, unsigned *nnew, unsigned *ncur, unsigned *nfailed)
{
	struct namelist nl = {0};
	unsigned *out[D_N] = {NULL, nnew, ncur, nfailed};
	int rc = 0;
	for (int d = D_NEW; d < D_N; d++) {
		if (!out[d])
			continue;
		rc = read_names(sp, d, &nl);
		if (rc)
			break;
		*out[d] = (unsigned)nl.n;
	}
	free(nl.v);
	return rc;
}
