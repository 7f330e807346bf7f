/*
 * spool.h - the durable queue between intake (SMTP, LMTP, `dmarcd
 * deliver`) and the workers that run the ingest pipeline.
 *
 *   <data_dir>/spool/tmp/     being written; junk after a crash, removed by spool_recover()
 *   <data_dir>/spool/new/     durable, waiting for a worker
 *   <data_dir>/spool/cur/     claimed by a worker (renamed from new/);
 *                             returned to new/ by spool_recover()
 *   <data_dir>/spool/failed/  could not be processed: ID and ID.why
 *
 * An entry is one file named by its ID: "<unix seconds>.<pid>.<counter>"
 * plus 8 random hex digits, only [0-9a-z.] (so IDs sort by arrival and
 * are safe in paths and replies).  Its content is an RFC 5322 message
 * preceded by dmarcd's own envelope header fields, written by
 * spool_msg_begin():
 *
 *   X-Dmarcd-Envelope: 1
 *   X-Dmarcd-From: <sender>          (MAIL FROM; <> for the null path)
 *   X-Dmarcd-Rcpt: <address>         one per accepted recipient
 *   X-Dmarcd-Client: <ip> <helo> <proto> <unix seconds>
 *
 * so a spool file is itself a mail that `dmarcd ingest` can read.  Only
 * these leading fields are trusted (a sender cannot put a field before
 * them); spool_envelope_read() stops at the first other field.
 *
 * Durability: an entry is in new/ only after its data was fdatasync'ed,
 * it was renamed from tmp/, and new/ itself was fsync'ed.  Until
 * spool_msg_commit() or spool_commit_batch() returns 0 for a message,
 * nothing may be acknowledged.  spool_commit_batch() commits many
 * messages with one directory fsync (group commit).
 *
 * Thread safety: one struct spool may be shared by threads; each
 * struct spool_msg belongs to one thread at a time.
 */
#ifndef DM_SPOOL_H
#define DM_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SPOOL_ID_MAX 64 /* bytes, NUL included */

struct spool;
struct spool_msg;

struct spool_envelope {
	const char *from;        /* MAIL FROM address, "" for <> */
	const char *const *rcpt; /* accepted recipients */
	size_t nrcpt;
	const char *client_ip; /* "" when not from the network */
	const char *helo;      /* "" when none */
	const char *proto;     /* "SMTP", "ESMTP", "ESMTPS", "LMTP", "pipe" */
	int64_t received_at;   /* unix seconds */
};

/* What spool_envelope_read() found; strings point into the struct. */
#define SPOOL_MAX_RCPT_READ 1000
struct spool_envelope_read {
	char from[257];
	size_t nrcpt;
	char rcpt[16][257]; /* the first 16 recipients (more are counted only) */
	char client_ip[64];
	char helo[257];
	char proto[16];
	int64_t received_at;
	size_t header_bytes; /* bytes of the envelope fields at the start */
};

/* Open (creating the folders) <data_dir>/spool. */
int spool_open(struct spool **out, const char *data_dir, char *err, size_t errlen) DM_WUR;
void spool_close(struct spool *sp);

/* Move every claimed entry (cur/) back to new/ and delete tmp/ leftovers;
 * call once at start, before any worker claims. *returned = entries
 * moved back. */
int spool_recover(struct spool *sp, unsigned *returned) DM_WUR;

/* ---- writing ---------------------------------------------------------- */

/* Start a message in tmp/ and write env's header fields into it.
 * Addresses and names are written sanitised (no CR, LF or controls). */
int spool_msg_begin(struct spool *sp, const struct spool_envelope *env,
                    struct spool_msg **out) DM_WUR;
/* Append message bytes (buffered). */
int spool_msg_write(struct spool_msg *m, const void *data, size_t len) DM_WUR;
/* Bytes written so far (envelope included). */
uint64_t spool_msg_size(const struct spool_msg *m);
/* The ID the message will have. */
const char *spool_msg_id(const struct spool_msg *m);
/* Make it durable in new/ (fdatasync, rename, fsync new/) and free m.
 * On failure the temp file is removed and m freed: nothing was kept. */
int spool_msg_commit(struct spool_msg *m) DM_WUR;
/* Group commit: fdatasync each file, rename each, one fsync of new/.
 * rc[i] gets each message's result; every m[i] is freed.  Returns 0 when
 * all were committed, else the first failure. */
int spool_commit_batch(struct spool_msg **m, size_t n, int *rc) DM_WUR;
/* Drop an unfinished message (temp file removed). */
void spool_msg_abort(struct spool_msg *m);

/* ---- processing --------------------------------------------------------- */

/* Claim the oldest waiting entry: rename new/ID to cur/ID, open it.
 * Returns 0 with *fd open (read-only, at offset 0) and id filled, or
 * DM_ENOTFOUND when nothing waits.  Entries another process adds to new/
 * (`dmarcd deliver`) are seen by later calls. */
int spool_claim(struct spool *sp, char id[SPOOL_ID_MAX], int *fd) DM_WUR;
/* The claimed entry is processed and its results are durable: delete it. */
int spool_done(struct spool *sp, const char *id) DM_WUR;
/* Give a claimed entry back (it will be claimed again later). */
int spool_release(struct spool *sp, const char *id) DM_WUR;
/* Move a claimed entry to failed/ with why (one line, sanitised) in
 * failed/ID.why. */
int spool_fail(struct spool *sp, const char *id, const char *why) DM_WUR;

/* Read the envelope fields at the start of fd (any position; fd's offset
 * is left unspecified).  DM_EFORMAT when the file does not start with
 * X-Dmarcd-Envelope (then env is zeroed). */
int spool_envelope_read(int fd, struct spool_envelope_read *env) DM_WUR;

/* ---- operator ------------------------------------------------------------ */

struct spool_entry {
	const char *id;
	const char *state; /* "new", "cur" or "failed" */
	uint64_t size;
	int64_t mtime;
	const char *why; /* failed only, else NULL */
};

/* Every entry of the given state ("new", "cur", "failed" or NULL for
 * all), sorted by ID. */
int spool_list(struct spool *sp, const char *state,
               int (*fn)(void *arg, const struct spool_entry *e), void *arg) DM_WUR;
/* Move failed/ID back to new/ (its .why removed).  DM_ENOTFOUND if no
 * such failed entry.  IDs are validated ([0-9a-z.] only). */
int spool_retry(struct spool *sp, const char *id) DM_WUR;
/* 1 when id has the shape of a spool ID: 1 to SPOOL_ID_MAX-1 bytes of
 * [0-9a-z.], not starting with '.', not ending in ".why" (so it names a
 * file inside one folder and never a reason file). */
int spool_id_valid(const char *id);
/* Counts per state. */
int spool_count(struct spool *sp, unsigned *nnew, unsigned *ncur, unsigned *nfailed) DM_WUR;

#endif
