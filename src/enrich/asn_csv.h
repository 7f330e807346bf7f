/*
 * asn_csv.h - read the @ip-location-db/asn CSV files (asn-ipv4.csv,
 * asn-ipv6.csv) into an MMDB writer.
 *
 * A line is `start,end,asn,org`: an inclusive range of addresses, the AS
 * number, and its organisation, quoted with "..." when it holds a comma
 * or a quote (a quote inside is written "").  For example:
 *
 *   1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."
 *   2001:200::,2001:200:1b9:ffff:ffff:ffff:ffff:ffff,2500,WIDE Project
 */
#ifndef DM_ENRICH_ASN_CSV_H
#define DM_ENRICH_ASN_CSV_H

#include <stddef.h>

#include "common/err.h"
#include "enrich/mmdb_write.h"

/* Read path line by line into w; a later row overrides an earlier one.
 * *rows is set to the rows read.  A bad line is an error that names
 * path:line in err (DM_EFORMAT; DM_ELIMIT for a limit of limits.h); the
 * rows before it are in w.  Empty lines are allowed at the end only. */
int dm_asn_csv_import(struct dm_mmdb_writer *w, const char *path, size_t *rows, char *err,
                      size_t errlen) DM_WUR;

#endif
