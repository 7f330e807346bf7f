/*
 * services.h - the "sending service" map: which service (Google Workspace,
 * Amazon SES, Mailchimp, Zendesk...) a source of a DMARC report is, from
 * its reverse name, its DKIM signing domains or its AS number, as listed
 * in data/services.conf (format: docs/ENRICH.md, "Sending services").
 *
 * A loaded map is read-only: any number of threads may look up in it at
 * once.  Every lookup is a few hash probes, one per label of the name.
 */
#ifndef DM_ENRICH_SERVICES_H
#define DM_ENRICH_SERVICES_H

#include <stddef.h>
#include <stdint.h>

enum dm_service_type {
	DM_SVC_MAILBOX,
	DM_SVC_ESP,
	DM_SVC_MARKETING,
	DM_SVC_CRM,
	DM_SVC_SUPPORT,
	DM_SVC_FORWARDER,
	DM_SVC_SECURITY,
	DM_SVC_HOSTING,
	DM_SVC_OTHER
};

struct dm_service {
	const char *name; /* as written in the file, at most DM_SERVICE_NAME_MAX bytes */
	enum dm_service_type type;
};

/* "mailbox", "esp", "marketing", "crm", "support", "forwarder",
 * "security", "hosting", "other"; "?" for a value out of range. */
const char *dm_service_type_name(enum dm_service_type t);

struct dm_services;

/* Load path; NULL with "file:line: reason" in err on a bad file (unknown
 * key, unknown type, a section without type, a service name twice, a
 * name listed twice, over the limits of common/limits.h). */
struct dm_services *dm_services_load(const char *path, char *err, size_t errlen);
void dm_services_free(struct dm_services *s);
size_t dm_services_count(const struct dm_services *s);

/* The service whose ptr base domain the name is, or ends with at a label
 * boundary ("mail-sor-f41.google.com" matches google.com;
 * "notgoogle.com" does not); the longest matching base wins.  NULL if
 * none.  Case-insensitive, a trailing dot ignored. */
const struct dm_service *dm_services_by_ptr(const struct dm_services *s, const char *ptr);
/* The service with this AS number; NULL if none or asn is 0. */
const struct dm_service *dm_services_by_asn(const struct dm_services *s, uint32_t asn);
/* SPF include name: exact match (case-insensitive, trailing dot ignored)
 * or the name ends with one of the service's spf names at a label
 * boundary. */
const struct dm_service *dm_services_by_spf(const struct dm_services *s, const char *include);
/* DKIM d= (or envelope) domain: exact or subdomain at a label boundary. */
const struct dm_service *dm_services_by_domain(const struct dm_services *s, const char *domain);
/* The first SPF include name listed for the service called name, into
 * out (empty when it has none, or there is no such service). */
void dm_services_spf_of(const struct dm_services *s, const char *name, char *out, size_t outlen);
/* The service of a source: by ptr (if ptr non-NULL), else by the DKIM
 * domains given (the first that matches), else by asn (0 = unknown). */
const struct dm_service *dm_services_match(const struct dm_services *s, const char *ptr,
                                           uint32_t asn, const char *const *dkim_domains,
                                           size_t ndkim);

#endif
