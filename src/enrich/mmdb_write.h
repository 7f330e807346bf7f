/*
 * mmdb_write.h - a small writer of MaxMind DB files (format 2.0) that map
 * address ranges to an AS number and organisation, in the layout of
 * MaxMind's GeoLite2-ASN: {"autonomous_system_number": uint32,
 * "autonomous_system_organization": utf8_string}, an IPv6 tree with IPv4
 * under ::/96 and ::ffff:0:0/96 pointing to the same IPv4 subtree.
 *
 * Ranges go into a binary trie held in flat arrays; a later range
 * overrides an earlier one for the addresses it covers.  Equal asn+org
 * pairs share one data record.  dm_mmdb_write() lays out the file and
 * replaces path atomically (path.tmp, fsync, rename).
 */
#ifndef DM_ENRICH_MMDB_WRITE_H
#define DM_ENRICH_MMDB_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct dm_mmdb_writer;

/* What the writer holds, and what its last dm_mmdb_write() wrote. */
struct dm_mmdb_stats {
	uint64_t ranges;     /* dm_mmdb_insert_range calls that succeeded */
	uint64_t prefixes;   /* CIDR prefixes they were split into */
	uint32_t trie_nodes; /* nodes allocated, overridden ones included */
	uint32_t data_seen;  /* distinct asn+org pairs inserted */
	/* after dm_mmdb_write: */
	uint32_t nodes;       /* search-tree nodes written */
	uint32_t data;        /* data records written (the ones still reachable) */
	uint32_t record_size; /* 24, 28 or 32 */
	uint64_t bytes;       /* file size */
};

struct dm_mmdb_writer *dm_mmdb_writer_new(void);
void dm_mmdb_writer_free(struct dm_mmdb_writer *w);

/* Map the inclusive range lo..hi to asn and org (UTF-8, at most
 * DM_ASN_CSV_MAX_ORG bytes).  With is_v4 the addresses are IPv4 in the
 * last 4 bytes of lo and hi (as dm_ip_parse keeps them, ::ffff:a.b.c.d;
 * the first 12 bytes are not read) and go under ::/96; otherwise they are
 * IPv6.  DM_EINVAL when lo > hi or org is not valid UTF-8, DM_ELIMIT when
 * org is too long or the trie would pass DM_MMDB_MAX_NODES.  DM_EINVAL
 * leaves the addresses as they were; after DM_ELIMIT the range may be in
 * in part (the caller gives up on the whole build). */
int dm_mmdb_insert_range(struct dm_mmdb_writer *w, const unsigned char lo[16],
                         const unsigned char hi[16], int is_v4, uint32_t asn,
                         const char *org) DM_WUR;

/* Write the database to path (through path.tmp, fsync and rename, then
 * fsync of the folder).  db_type: the metadata's database_type (e.g.
 * "GeoLite2-ASN"); description: its "en" description.  On failure err
 * says why and path is untouched.  The writer may be written again. */
int dm_mmdb_write(struct dm_mmdb_writer *w, const char *path, const char *db_type,
                  const char *description, char *err, size_t errlen) DM_WUR;

void dm_mmdb_writer_stats(const struct dm_mmdb_writer *w, struct dm_mmdb_stats *st);

#endif
