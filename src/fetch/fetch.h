/*
 * fetch.h - pull report mail from an IMAP mailbox into the spool
 * (`dmarcd fetch`, and the [fetch] sections `dmarcd serve` runs on their
 * interval).  See fetch.c and docs/FETCH.md.
 */
#ifndef DM_FETCH_H
#define DM_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/config.h"

struct spool;

/* What happened to one message of a run. */
struct fetch_event {
	uint32_t uid;
	uint64_t size;        /* bytes of the message (as spooled, or as announced) */
	const char *status;   /* "spooled", "too_large", "gone", "failed" */
	const char *spool_id; /* "spooled": the spool entry */
	const char *after;    /* "flagged", "moved", "deleted", "after_failed", or "" */
	const char *error;    /* a one-line reason, "" when none */
};

struct fetch_totals {
	unsigned spooled;      /* messages made durable in the spool */
	unsigned failed;       /* messages left in the mailbox (too large, gone, refused) */
	unsigned after_failed; /* spooled, but the after action failed */
	uint64_t bytes;        /* of the spooled messages */
	uint32_t uidvalidity;
	int restarted; /* 1: UIDVALIDITY changed, the mailbox was read from the start */
	int more;      /* 1: DM_FETCH_MAX_PER_RUN reached, more waits */
};

struct fetch_hooks {
	/* each message, as it is done (may be NULL) */
	void (*on_msg)(void *arg, const struct fetch_event *e);
	/* nonzero: stop as soon as possible (between messages, or mid-transfer,
	 * the unfinished message is dropped from the spool); may be NULL */
	int (*stop)(void *arg);
	void *arg;
};

/* Call once per process before any fetch_run (libcurl's global init). */
int fetch_global_init(void) DM_WUR;

/* One run over src: every message newer than the last one spooled (by
 * UID) is written into sp, then flagged, moved or deleted as src->after
 * says.  Returns 0 when the run went through (per-message failures are
 * counted in t and reported through hooks), or a negative code with a
 * one-line err: DM_EUSAGE (configuration: password, URL), DM_EBUSY
 * (another fetch of the same URL is running), DM_EIO (connection, login,
 * TLS, the server, the state file), or the spool's error. */
int fetch_run(const struct dm_fetch_source *src, const char *data_dir, struct spool *sp,
              const struct fetch_hooks *hooks, struct fetch_totals *t, char *err,
              size_t errlen) DM_WUR;

#endif
