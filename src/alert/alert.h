/*
 * alert.h - being told when something changes: alert rules over the
 * stored reports, their notices by mail and webhook, and the digests
 * (docs/ALERTS.md).
 *
 * One run (alert_run) does, for every account of the registry:
 *   - evaluates the rules, with the thresholds of its [account NAME]
 *     section (core/config.h):
 *       silent      a reporter that reported on 5 of 7 days went silent
 *                   for silent_days days;
 *       rejected    rejected report mails for the account (the spool's
 *                   failed/ entries of the last day) reached `rejected`;
 *       pass_drop   a domain's DMARC pass rate of the last day is
 *                   pass_drop points below the 7 days before;
 *       new_source  a source unseen in the 30 days before sent
 *                   new_source or more failing messages in the last day;
 *       dns         a domain's DMARC record changed (when `resolver` is
 *                   set: the DNS is not asked otherwise);
 *     an alert opens once (one notice) and resolves once (one resolve
 *     notice) when its condition is gone;
 *   - queues a digest when one is due (daily: once per UTC day; weekly:
 *     once per ISO week);
 *   - delivers what is queued: mail through smtp_relay to alert_to (or
 *     digest_to), JSON POSTed to webhook_url signed with
 *     X-Dmarcd-Signature: sha256=HMAC-SHA256(secret, body); a delivery
 *     that fails is tried again with back-off, DM_ALERT_MAX_ATTEMPTS times.
 *
 * State (alerts, the queue, the last digests, the DMARC records seen)
 * lives in <data_dir>/alerts.sqlite, on the node that runs the rules (in
 * a cluster, one node: `alerts = on` on it only).  Days are UTC; "the last
 * day" is the last complete day before now.
 */
#ifndef DM_ALERT_H
#define DM_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct dm_config;
struct store;

struct alert_totals {
	unsigned accounts, opened, resolved, open, digests, queued, sent, retried, given_up;
};

/* One run over every account.  now: Unix seconds (0: the clock).  Each
 * opened or resolved alert is logged (category "alert").  stop (may be
 * NULL) is asked between domains and accounts: when it says 1 the run
 * ends there (serve's shutdown), what it did so far kept, the rules of
 * the account it was in not reconciled.  0, or a code with why in err
 * (the store or the state file cannot be read). */
int alert_run(const struct dm_config *cfg, struct store *st, int64_t now, int (*stop)(void *arg),
              void *stop_arg, struct alert_totals *t, char *err, size_t errlen) DM_WUR;

/* An alert as kept (alert_list). */
struct alert_row {
	int64_t id, account_id;
	const char *rule, *domain, *subject, *message;
	int64_t opened_at, resolved_at; /* resolved_at 0: open */
};

/* The alerts of account (all accounts when admin), newest first, at most
 * limit; open only when open_only.  DM_ENOTFOUND never: no state file is
 * no alerts. */
int alert_list(const char *data_dir, int64_t account, int admin, int open_only, unsigned limit,
               int (*fn)(void *arg, const struct alert_row *r), void *arg, char *err,
               size_t errlen) DM_WUR;

#endif
