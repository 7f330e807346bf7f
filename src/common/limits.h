/*
 * limits.h - every limit dmarcd applies to untrusted input, with its reason.
 *
 * This is the only place where such numbers live (as sqliteLimit.h is for
 * SQLite).  Configuration may lower them, never raise them above what the
 * code was tested with.  Exceeding a limit is never fatal: the input is
 * rejected (or the SMTP client answered) with a one-line reason that names
 * the limit, and processing goes on with the next input.
 *
 * Reference points are in ../shared/SPECS.md section 6.8.
 */
#ifndef DM_LIMITS_H
#define DM_LIMITS_H

/* ---- files and inputs ------------------------------------------------ */

/* Directory recursion depth for `dmarcd ingest DIR`: deeper trees are
 * almost always symlink loops or mistakes; Maildir++ is 3 levels deep. */
#define DM_MAX_DIR_DEPTH 32

/* Bytes read at the head of an input to decide what it is (mail, mbox,
 * gzip, zip, XML, JSON).  Enough for a BOM, an XML declaration and a
 * comment, or a few header lines. */
#define DM_SNIFF_BYTES 4096

/* ---- MIME (RFC 2045-2049) --------------------------------------------- */

/* Size of one input message or file that is parsed as RFC 5322.  Matches
 * the SMTP SIZE we advertise (SPECS 6.8: 32 MiB; Postfix 10 MB, OpenSMTPD
 * 35 MB); a report mail is rarely above 10 MB. */
#define DM_MAX_MESSAGE_BYTES (32ULL * 1024 * 1024)

/* Multipart nesting.  Reports need 2 (multipart/mixed > attachment); a
 * forwarded report 4.  Deeper nesting is a parser attack (SPECS ADV-25). */
#define DM_MAX_MIME_DEPTH 16

/* MIME leaf parts per message.  A report mail has 1-3 (ADV-25). */
#define DM_MAX_MIME_PARTS 1000

/* Nested message/rfc822 levels: a report forwarded twice (ADV-26). */
#define DM_MAX_RFC822_DEPTH 3

/* Header block of one message or part (Postfix header_size_limit is
 * 100 KiB; SPECS 6.8 suggests 256 KiB) and header fields per block. */
#define DM_MAX_HEADER_BYTES (256 * 1024)
#define DM_MAX_HEADER_FIELDS 10000

/* A MIME boundary parameter.  RFC 2046 allows 70 characters; a longer one
 * than a header line may be (RFC 5322: 998) is an attack on the parser. */
#define DM_MAX_MIME_BOUNDARY 998

/* Text before the first and after the last part of a multipart.  GMime
 * keeps it in memory; real mail has a line or two ("This is a multi-part
 * message in MIME format."). */
#define DM_MAX_MIME_PREAMBLE (1024 * 1024)

/* Messages in one mbox file: a bound on work per input, not a real
 * limit on any mailbox we expect; a bigger mbox can be split. */
#define DM_MAX_MBOX_MESSAGES 1000000

/* ---- compression (gzip, zlib, zip) ---------------------------------- */

/* Size of one attachment as received (compressed), which is also what
 * the archive keeps.  Reports compress ~20:1, so 256 MiB covers a 5 GB
 * report; raw XML inputs are bounded by DM_MAX_DECOMPRESSED_BYTES. */
#define DM_MAX_ATTACHMENT_BYTES (2ULL * 1024 * 1024 * 1024)

/* Decompressed bytes per attachment, all entries and layers together.
 * The parser streams, so memory does not depend on it; it bounds time
 * and disk.  2,000,000 records are about 1.5 GB of XML, so 4 GiB leaves
 * room (SPECS 6.8 suggests 256 MiB for non-streaming peers). */
#define DM_MAX_DECOMPRESSED_BYTES (4ULL * 1024 * 1024 * 1024)

/* Ratio of decompressed to compressed bytes, checked once the output
 * passes DM_RATIO_CHECK_AFTER.  One deflate layer cannot exceed about
 * 1032:1; a typical report is 10-30:1.  Above this it is a bomb (ADV-37). */
#define DM_MAX_COMPRESSION_RATIO 1100
#define DM_RATIO_CHECK_AFTER (1024 * 1024)

/* Compression layers: zip > xml.gz or gz > gz occur in the wild; a third
 * layer does not (ADV-40). */
#define DM_MAX_ARCHIVE_LAYERS 2

/* Entries in one zip.  A report zip holds one; 16 allows a few reports
 * plus a readme (ADV-39, ADV-41).  More is rejected, not truncated. */
#define DM_MAX_ZIP_ENTRIES 16

/* Length of a zip entry name kept for display (never used as a path). */
#define DM_MAX_ENTRY_NAME 255

/* ---- aggregate XML (RFC 7489 Appendix C, RFC 9990) ------------------ */

/* Element depth.  A DMARC report is 6 levels deep; extensions add a few.
 * 100,000-deep nesting is an attack (ADV-58). */
#define DM_MAX_XML_DEPTH 32

/* Character data kept per field.  Domains are at most 253 octets (RFC
 * 1035), identifiers 1 KiB, free text 64 KiB (ADV-58).  A longer field
 * rejects the report: silently cutting an identifier would corrupt keys. */
#define DM_MAX_DOMAIN_LEN 253
#define DM_MAX_ID_LEN 1024
#define DM_MAX_TEXT_LEN (64 * 1024)

/* Text outside the fields we keep (unknown elements, text between
 * elements) is not buffered at all: expat hands it over in pieces and the
 * parser drops them, so it needs no limit of its own. */

/* Memory expat may allocate for one document: its input buffer must hold
 * a whole tag or attribute, so this bounds a 100 MB attribute or name.
 * Real reports need a few KiB. */
#define DM_MAX_XML_PARSER_MEMORY (8 * 1024 * 1024)

/* Records per report.  Generous on purpose (streaming makes it cheap);
 * one-record-per-message generators inflate counts (SPECS 6.8). */
#define DM_MAX_RECORDS 5000000

/* DKIM and SPF results per record (RFC 9990 SHOULD <= 100) and override
 * reasons per record.  Excess results are dropped with a warning. */
#define DM_MAX_DKIM_RESULTS 128
#define DM_MAX_SPF_RESULTS 16
#define DM_MAX_REASONS 16

/* Warnings kept with one report; later ones are counted, not stored. */
#define DM_MAX_WARNINGS 32

/* Length of one warning or error message. */
#define DM_MAX_ERROR_LEN 512

/* Timestamps: 10^11 s is the year 5138; a larger value is almost always
 * milliseconds (ADV-67) and is converted with a warning. */
#define DM_MAX_PLAUSIBLE_EPOCH 100000000000LL

/* ---- SMTP TLS reports (src/parse/tlsrpt.c, jsontok.c) ----------------- */

/* Bytes of one TLS-RPT JSON document after decompression: mox caps TLS-RPT
 * JSON at 20 MB; real reports are a few KiB (SPECS 6.8 suggests 64 MiB). */
#define DM_TLS_MAX_BYTES (64ULL * 1024 * 1024)
/* JSON nesting: a TLS report is 5 levels deep (report, policies, policy,
 * failure-details, detail); the cap stops a depth bomb (SPECS 6.6 #77). */
#define DM_TLS_MAX_DEPTH 32
/* One JSON string or number token in bytes: the longest field worth
 * keeping is a policy-string line or an additional-information URI. */
#define DM_TLS_MAX_TOKEN (64 * 1024)
/* Policies in one report: a reporter sends one per policy domain and MX
 * pattern it met, a handful in practice. */
#define DM_TLS_MAX_POLICIES 10000
/* Failure details in one report: one per result type, sending address,
 * MX and receiving address; a big sender with broken TLS at the receiver
 * can send thousands.  They stream to the store, so this bounds time, not
 * memory. */
#define DM_TLS_MAX_FAILURES 1000000
/* policy-string lines kept per policy, and their bytes together: an STS
 * policy is a few lines, a TLSA set a few records; the rest is dropped
 * with a warning. */
#define DM_TLS_MAX_POLICY_STRINGS 64
#define DM_TLS_MAX_POLICY_STRING_BYTES (16 * 1024)
/* mx-host entries kept per policy (joined with ", "). */
#define DM_TLS_MAX_MX_HOSTS 64
/* A TLS report's policies and failure details wait for its end (its
 * identity may come last): in memory up to this, then in a temporary
 * file, so memory does not grow with the report. */
#define DM_TLS_KEEP_BYTES (256 * 1024)

/* ---- failure reports (src/parse/arf.c, RFC 5965 / 6591) ---------------- */

/* Bytes of one message/feedback-report part (or of a plain-text failure
 * report) that are read: a real one is under 2 KiB, DKIM-Canonicalized-
 * Header/-Body (base64) make it a few KiB.  The rest is ignored with a
 * warning. */
#define DM_ARF_MAX_PART_BYTES (64 * 1024)
/* Header fields read from one feedback-report part: RFC 6591 defines
 * about 20, a report has 10-15; a part of thousands of fields is junk. */
#define DM_ARF_MAX_FIELDS 256
/* Bytes of one field value read (unfolded) before it is cleaned: a long
 * folded Authentication-Results or an encoded Subject fits; more is cut
 * with a warning. */
#define DM_ARF_MAX_RAW_VALUE (8 * 1024)
/* Bytes of one value kept in the model (subject, addresses, ids, user
 * agent): RFC 5322 lines are at most 998 octets; a longer value is cut
 * with a warning (domains are bounded by DM_MAX_DOMAIN_LEN and dropped
 * when longer, a cut domain being wrong). */
#define DM_ARF_MAX_VALUE 1024
/* Authentication-Results values kept, joined with newlines: one result
 * is a few hundred bytes, a report rarely has more than two. */
#define DM_ARF_MAX_AUTH_RESULTS (4 * 1024)
/* Bytes of the original message's header block kept (redacted) with a
 * failure report, cut with a marker: a typical block is 2-8 KiB, one
 * with many Received and ARC fields 20 KiB.  The block itself is read up
 * to DM_MAX_HEADER_BYTES and DM_MAX_HEADER_FIELDS. */
#define DM_ARF_MAX_STORED_HEADERS (32 * 1024)

/* ---- alerts and digests (src/alert/alert.c) ------------------------------ */

/* An alert's subject (a reporter, a source) and message, as kept and
 * sent: a line a person reads; what is longer is cut. */
#define DM_ALERT_MAX_SUBJECT 256
#define DM_ALERT_MAX_MESSAGE 1024
/* Conditions found in one account at once: more than anyone reads in a
 * mailbox; the first ones are kept. */
#define DM_ALERT_MAX_CONDITIONS 1000
/* Reporters of one domain tracked by the silence rule (a few dozen real). */
#define DM_ALERT_MAX_REPORTERS 1000
/* Messages a day (and in the week before) under which the pass rate is
 * not compared: a few messages make any percentage. */
#define DM_ALERT_MIN_MESSAGES 100
/* The worst sources of a day looked at by the new-source rule, and the
 * digest's list. */
#define DM_ALERT_SOURCES 20
/* A DMARC record compared by the dns rule (a record is under 300 bytes). */
#define DM_ALERT_MAX_RECORD 1024
/* Entries of the spool's failed/ read per run by the rejected rule. */
#define DM_ALERT_MAX_FAILED_SCAN 100000
/* A digest mail's body, and the advice lines it quotes. */
#define DM_ALERT_MAX_DIGEST (256 * 1024)
#define DM_ALERT_DIGEST_ADVICE_LINES 12
/* serve runs the rules after a batch of reports is stored, but not more
 * often than this (seconds): a stream of reports is one run a minute. */
#define DM_ALERT_BATCH_GAP 60
/* Accounts evaluated per run. */
#define DM_ALERT_MAX_ACCOUNTS 4096
/* Delivery: seconds one mail or POST may take, deliveries per run, tries
 * before giving up, and the back-off (doubling from the first, at most
 * the last): ten tries span about 4 hours. */
#define DM_ALERT_SEND_TIMEOUT 30
#define DM_ALERT_SEND_BATCH 50
#define DM_ALERT_MAX_ATTEMPTS 10
#define DM_ALERT_RETRY_FIRST 60
#define DM_ALERT_RETRY_MAX 3600

/* ---- pipeline -------------------------------------------------------- */

/* Attachments smaller than this are kept in memory between archiving and
 * parsing; bigger ones are read back from the archive. */
#define DM_MAX_INMEMORY_ATTACHMENT (4 * 1024 * 1024)

/* Records buffered per report before the writer streams them into an open
 * transaction; bounds memory per ingest job. */
#define DM_MAX_BATCH_RECORDS 4096

/* ---- S3-compatible archive (archive_s3.c) ------------------------------- */

/* An attachment up to this size is kept in memory until its key (its
 * SHA-256) is known and sent in one PUT; a bigger one waits in a
 * temporary file and goes as a multipart upload in parts of this size
 * (S3's parts are 5 MiB at least, 10,000 at most: 8 MiB parts carry up to
 * 78 GiB, far above DM_MAX_ATTACHMENT_BYTES). */
#define DM_S3_PART_BYTES (8u * 1024 * 1024)
/* Temporary files of big attachments kept after their upload, so ingest
 * reads them back locally instead of fetching what it just sent. */
#define DM_S3_KEEP 16
/* Seconds to connect, and seconds without a byte moving before a request
 * is given up (the input stays in the spool and is tried again). */
#define DM_S3_CONNECT_TIMEOUT 10
#define DM_S3_STALL_TIMEOUT 60

/* Daily rollup cells kept in memory per report before they are merged
 * into the store; bounds memory for reports with millions of sources. */
#define DM_MAX_ROLLUP_CELLS 16384

/* Rollup cells a store's write batch sums in memory before it upserts them
 * (the batch's reports together: DESIGN.md 5).  A full table is written
 * out and started again, so this bounds memory, not correctness; 32768
 * cells (about 4 MiB) hold a batch of 1,000 typical reports. */
#define DM_MAX_BATCH_ROLLUP_CELLS 32768
/* The same for the batch's day_totals cells (no source). */
#define DM_MAX_BATCH_TOTAL_CELLS 4096

/* Days one report's counts are spread over in the daily rollup.  A
 * report covers one day, sometimes a week (Trustwave); a range of years
 * is an error in the report: its counts go to the day of <begin>. */
#define DM_MAX_REPORT_DAYS 31

/* Ingest worker threads. */
#define DM_MAX_JOBS 64

/* Config file: line length and size. */
#define DM_MAX_CONFIG_LINE 4096
#define DM_MAX_CONFIG_BYTES (1024 * 1024)

/* ---- SMTP / LMTP intake (dmarcd serve) ----------------------------------
 * Defaults; the config file may lower (or, within the ranges in
 * config.c, raise) the ones marked "config". */

/* A command line, CRLF included: RFC 5321 4.5.3.1.4 says 512 octets; we
 * allow room for SMTPUTF8 addresses and ESMTP parameters.  Longer: 500. */
#define DM_SMTP_MAX_COMMAND_LINE 2048
/* A line of message text: RFC 5321 4.5.3.1.6 says 1000 octets, real
 * reporters send long base64 and XML lines; above this the message is
 * refused with 552 at the end of DATA (we never cut a line). */
#define DM_SMTP_MAX_DATA_LINE (1024 * 1024)
/* Message size advertised in SIZE (config smtp_max_size): the largest
 * message the ingest pipeline reads (DM_MAX_MESSAGE_BYTES).  The Received
 * field dmarcd puts on top counts toward it, as the worker reads the
 * message with it: whatever SMTP accepts, the worker takes. */
#define DM_SMTP_MAX_SIZE DM_MAX_MESSAGE_BYTES
/* Recipients per message (config smtp_max_rcpt): RFC 5321 4.5.3.1.8
 * requires accepting at least 100; more gets 452 4.5.3. */
#define DM_SMTP_MAX_RCPT 100
/* Bad commands per session before 421 and disconnect (config
 * smtp_max_errors): stops a client from probing forever. */
#define DM_SMTP_MAX_ERRORS 10
/* Seconds to wait for a command (config smtp_timeout): RFC 5321
 * 4.5.3.2.7 says at least 5 minutes. */
#define DM_SMTP_TIMEOUT 300
/* Seconds to wait for each chunk of DATA (config smtp_data_timeout):
 * RFC 5321 4.5.3.2.5 says 3 minutes per block. */
#define DM_SMTP_DATA_TIMEOUT 180
/* Concurrent sessions in all (config smtp_max_sessions): each idle
 * session costs a socket and about 3 KiB (make bench measures it); over
 * this, 421 4.3.2. */
#define DM_SMTP_MAX_SESSIONS 2000
/* Concurrent sessions from one client address (config
 * smtp_max_per_ip): one busy reporter cannot starve the others. */
#define DM_SMTP_MAX_PER_IP 100
/* Envelope address length (RFC 5321 4.5.3.1.3 path: 256 octets). */
#define DM_SMTP_MAX_ADDRESS 256
/* Messages committed by one group commit (one fsync of spool/new). */
#define DM_SPOOL_MAX_GROUP 256
/* One envelope field line in a spool file (X-Dmarcd-Client is the
 * longest: a 63-byte address, a 256-byte HELO, the protocol and a time).
 * spool_envelope_read() refuses a longer line as not written by us. */
#define DM_SPOOL_MAX_ENVELOPE_LINE 1024
/* The reason kept in spool/failed/ID.why: one line, cut beyond this; it
 * is shown by `dmarcd spool list`, not parsed. */
#define DM_SPOOL_MAX_WHY 1024
/* Seconds after which spool_recover() deletes a file in spool/tmp even
 * when the process named in its ID still runs (the pid may have been
 * reused).  Writing one message never takes this long: the SMTP timeouts
 * above end a stalled transfer within minutes. */
#define DM_SPOOL_TMP_MAX_AGE (24 * 60 * 60)

/* ---- the registry (accounts, domains, report addresses) -------------------
 * Written by the administrator through the CLI, read by the server for
 * every RCPT; these bound what is stored and what a lookup looks at. */

/* An account name: short enough for a table column and a log line. */
#define DM_REGISTRY_MAX_NAME 64
/* A recipient looked up or an address stored: the RFC 5321 4.5.3.1.3
 * path limit, the same as the SMTP intake's (DM_SMTP_MAX_ADDRESS). */
#define DM_REGISTRY_MAX_ADDRESS 256
/* Local part of a report address: RFC 5321 4.5.3.1.1. */
#define DM_REGISTRY_MAX_LOCAL 64
/* One label of a domain: RFC 1035 2.3.4 (the whole name is
 * DM_MAX_DOMAIN_LEN). */
#define DM_REGISTRY_MAX_LABEL 63

/* ---- the HTTP API and dashboard (dmarcd serve) ---------------------------- */

/* Request body: an uploaded report file or mail, the same bound as a
 * message by SMTP (DM_MAX_MESSAGE_BYTES); every other request has none.
 * Bigger: 413, read no further. */
#define DM_HTTP_MAX_BODY DM_MAX_MESSAGE_BYTES
/* Request line and header fields together: browsers send 1-4 KiB; 16
 * KiB takes long cookies and still bounds what one client pins. */
#define DM_HTTP_MAX_HEADERS (16 * 1024)
/* Open connections in all and from one address (config http_max_conns,
 * http_max_per_ip): a dashboard opens 6, a scraper 1. */
#define DM_HTTP_MAX_CONNS 512
#define DM_HTTP_MAX_PER_IP 32
/* Seconds a connection may sit idle or take to send its request. */
#define DM_HTTP_TIMEOUT 30
/* Requests per second and burst, per token and per client address
 * (token buckets; over them: 429 with Retry-After).  A dashboard view
 * makes about 6 requests; an export is one. */
#define DM_HTTP_RATE_TOKEN 20
#define DM_HTTP_BURST_TOKEN 100
#define DM_HTTP_RATE_IP 50
#define DM_HTTP_BURST_IP 200
/* Clients tracked by the rate limiter; the least recently seen is
 * forgotten beyond this (it then starts with a full bucket). */
#define DM_HTTP_RATE_CLIENTS 4096
/* Query threads, each with its own store connection: reads never wait
 * behind ingestion, and a slow export holds one of them only. */
#define DM_HTTP_QUERY_THREADS 4
/* Requests waiting for a query thread; more get 503 at once. */
#define DM_HTTP_MAX_QUEUED 256
/* Output of one streamed answer (export, report detail, raw file) that
 * may wait unsent: the query pauses until the client took it, so memory
 * does not grow with the result. */
#define DM_HTTP_MAX_PENDING_OUT (512 * 1024)
/* A query parameter value (a domain is 253, a date 10). */
#define DM_HTTP_MAX_PARAM 256
/* A source's records read to gather its DKIM and SPF results (among the
 * records of its domain on the days it sent); past this the results are
 * those of the first ones: it bounds the time of one drill-down. */
#define DM_HTTP_MAX_SOURCE_SCAN 2000000
/* Sources kept while the sources of a domain are summed in one pass (a
 * page must end within this many); a deeper page is sorted by SQLite
 * instead, on disk if need be.  80 bytes each. */
#define DM_HTTP_SOURCES_HEAP 10000
/* Distinct DKIM and SPF results kept for one source. */
#define DM_HTTP_MAX_SOURCE_PARTS 1000
/* PostgreSQL's work_mem for an API reader's connection (one per HTTP
 * thread): a domain's sources (80,000 of them in bench/query.py) are
 * summed by hash in memory rather than sorted on disk; 30% off the
 * sources query there.  The server may use this much per sort or hash of
 * each running query. */
#define DM_PG_READ_WORK_MEM "32MB"
/* The ClickHouse store's last INSERT of a batch (its reports' rollup cells
 * and commit rows, one block so it counts whole) is kept in memory up to
 * DM_CH_SPILL_BYTES (a batch of many reports ends there), then a report
 * of very many sources goes on into a temp file in data_dir/tmp, so
 * memory does not grow with it; the buffer in memory is bounded by
 * DM_CH_MAX_BATCH_BYTES (the spill threshold, one rollup flush of
 * DM_MAX_ROLLUP_CELLS cells and a commit row fit well under it).  One
 * INSERT is never more than DM_CH_MAX_INSERT_BYTES (a report of some ten
 * million distinct sources): ClickHouse builds it as one block in its
 * memory. */
#define DM_CH_SPILL_BYTES (32u * 1024 * 1024)
#define DM_CH_MAX_BATCH_BYTES (128u * 1024 * 1024)
#define DM_CH_MAX_INSERT_BYTES (UINT64_C(4) * 1024 * 1024 * 1024)
/* Each ClickHouse writer looks, once a second, for reports stored twice
 * within this many seconds (a writer that died between its commit and its
 * check leaves that) and keeps one.  Longer than any batch takes. */
#define DM_CH_RESOLVE_SECONDS 600
/* A report beginning more than this many years ago (or more than a month
 * ahead) is kept in ClickHouse under one catch-all month: a batch then
 * spans at most 5 * 12 + 2 monthly partitions, under ClickHouse's limit
 * of 100 per INSERT, whatever dates reports claim. */
#define DM_CH_PARTITION_YEARS 5
/* A ClickHouse attempt (one try at storing a report, and its id in the
 * API) is a random number below 2^53: a JavaScript client reads JSON
 * numbers as doubles, exact only that far.  Two of an account's n reports
 * share an id with a probability near n^2 / 2^54 (0.5% at 10 million):
 * their records never mix (read by id and whole identity), but one detail
 * page answers for both. */
#define DM_CH_ATTEMPT_MASK ((UINT64_C(1) << 53) - 1)
/* A DMARC record (src/dns/dmarc_record.c): real ones are a few hundred
 * bytes; a text longer than this is not read as one.  A rua= or ruf=
 * list is read up to DM_DMARC_MAX_URIS URIs (RFC 7489 receivers need
 * honour only two) of at most DM_DMARC_MAX_URI bytes each; at most
 * DM_DMARC_MAX_FINDINGS findings are kept (one per tag and URI and a few
 * for the record leaves room). */
#define DM_DMARC_MAX_RECORD 4096
#define DM_DMARC_MAX_URIS 16
#define DM_DMARC_MAX_URI 512
#define DM_DMARC_MAX_FINDINGS 64
/* An SPF record (src/dns/spf_record.c): RFC 7208 §3.4 asks for 450 bytes
 * at most, and its 10-lookup limit keeps real ones short; a text longer
 * than DM_SPF_MAX_RECORD, more than DM_SPF_MAX_TERMS terms or a term
 * over DM_SPF_MAX_TERM bytes is an error, not read on. */
#define DM_SPF_MAX_RECORD 4096
#define DM_SPF_MAX_TERMS 64
#define DM_SPF_MAX_TERM 255
/* A DKIM key record (src/dns/dkim_record.c): an RSA 4096 key is about
 * 750 bytes of base64, an 8192 one about 1,400; a text longer than this
 * is not read as one (its key decodes into at most 3/4 of it). */
#define DM_DKIM_MAX_RECORD 4096
/* The registry in ClickHouse is published whole (src/registry/regdb_ch.c):
 * a registry file larger than this (about a million tokens) is refused
 * rather than sent. */
#define DM_REG_CH_MAX_BYTES (64u * 1024 * 1024)
/* A registry generation in ClickHouse written this long ago under its
 * temporary name and never renamed was left by a node that died; the
 * next writer drops it.  Far longer than writing a registry file takes. */
#define DM_REG_CH_ABANDONED_SECONDS 60
/* Shards of a ClickHouse cluster dmarcd makes its tables on
 * (clickhouse_shards): a bound on the list, far above what one
 * deployment of report storage needs. */
#define DM_CH_MAX_SHARDS 64
/* One line of a ClickHouse answer the API reads (a record with its JSON
 * columns, or a report row): longer means the answer is not ours. */
#define DM_CH_READ_LINE_MAX (16u * 1024 * 1024)

/* ---- DNS (src/dns/resolver.c, src/dns/check.c) -------------------------- */

/* One DNS question waits this long for its server by default (the config's
 * dns_timeout_ms may change it) and is asked DM_DNS_TRIES times: a server
 * on the path of `dmarcd record check` that never answers costs seconds,
 * not minutes. */
#define DM_DNS_TIMEOUT_MS 2000
#define DM_DNS_TRIES 2
/* Answers the resolver cache keeps (least recently used go first): a few
 * MiB at most, far more than the names one check or one batch of reports
 * asks about. */
#define DM_DNS_CACHE_MAX 20000
/* An answer is kept no longer than its TTL, and never longer than this
 * (a TTL of weeks would freeze a fixed record); a "no such name" answer
 * no longer than DM_DNS_NEG_TTL_MAX (RFC 2308 §5 suggests 1 to 3 hours)
 * and DM_DNS_NEG_TTL when the answer carries no SOA to say. */
#define DM_DNS_TTL_MAX 86400
#define DM_DNS_NEG_TTL_MAX 3600
#define DM_DNS_NEG_TTL 60
/* Records of one answer that are read, and bytes of one record (a TXT's
 * strings joined): a name with more is read that far.  DNS over TCP
 * allows 64 KiB per answer. */
#define DM_DNS_MAX_RRS 64
#define DM_DNS_MAX_RDATA 8192
/* Questions one `record check` asks in all, and how deep it follows SPF
 * include and redirect: RFC 7208 stops at 10 lookups; dmarcd walks on to
 * show where an over-limit record spends them, up to these bounds, so a
 * record that includes itself or fans out costs a bounded number of
 * questions. */
#define DM_CHECK_MAX_QUERIES 200
#define DM_SPF_WALK_DEPTH 10
/* A whole `record check` ends after this long: what is not answered by
 * then is reported as a timeout. */
#define DM_CHECK_DEADLINE_MS 30000
/* DKIM selectors checked for one domain (those seen in its reports of the
 * last 90 days, most used first): senders rarely use more than a few. */
#define DM_CHECK_MAX_SELECTORS 32
#define DM_CHECK_SEEN_DAYS 90
/* The rollout advice (dmarcd advise, src/dns/advise.c).  Sources of the
 * domain's records kept per question: the classification needs each
 * one's counts and a few of its failing results (about 600 bytes); a
 * domain with more distinct sources in its window counts the rest in the
 * totals as "not analysed", which blocks a step only by their volume. */
#define DM_ADVISE_MAX_SOURCES 50000
/* Distinct services named in the advice; beyond, they are summed as
 * other services (no domain uses that many). */
#define DM_ADVISE_MAX_SERVICES 64
/* Unknown sources listed, by failing volume. */
#define DM_ADVISE_TOP_UNKNOWN 10
/* No step is advised on less data: a window of fewer days or messages
 * says too little about the senders that mail rarely (a monthly
 * newsletter). */
#define DM_ADVISE_MIN_DAYS 7
#define DM_ADVISE_MIN_MESSAGES 100
/* The failing share of legitimate mail (passing, plus failing mail of
 * known services) a step tolerates, per 100,000 messages: 1% for
 * quarantine (that mail goes to spam, and the reports keep showing it),
 * 0.1% for reject and sp=reject (that mail is lost). */
#define DM_ADVISE_QUARANTINE_PER_100K 1000
#define DM_ADVISE_REJECT_PER_100K 100

/* ---- enrichment (src/enrich/) ------------------------------------------ */

/* An AS organisation name as stored: real ones are under 100 bytes. */
#define DM_ENRICH_ORG_MAX 255
/* Addresses whose AS and country an ingest thread keeps (direct-mapped,
 * a power of two; 40 bytes each, so 2.5 MiB): a domain's sources repeat
 * record after record and day after day, a few thousand per domain, and
 * a store of tens of domains keeps them all. */
#define DM_ENRICH_MEMO 65536
/* Addresses the process remembers with their reverse names: about 150
 * bytes each with the names, so about 10 MiB. */
#define DM_ENRICH_IP_CACHE 65536
/* Addresses waiting for the reverse-DNS thread: more are left unknown
 * (for the fill) rather than queued without end. */
#define DM_ENRICH_QUEUE 16384
/* Addresses queued before the reverse-DNS thread is woken for them (or
 * 10 ms, or an ingest thread waiting): one wake-up per batch. */
#define DM_ENRICH_KICK 64
/* An ingest thread waits for reverse names at most this percent of its
 * time (beside the per-report deadline; its first report may wait that
 * deadline): a stream of reports of sources never seen is not slowed more
 * than that by their names, which the fill asks again later.  The rest of
 * the enrichment costs about 15% of an ingest of new sources, and the
 * two together stay within the 0.8x of the enrichment goal; a server
 * that receives reports one by one has time enough between them. */
#define DM_ENRICH_WAIT_SHARE 5
/* A report whose budget leaves less than this does not wait at all. */
#define DM_ENRICH_MIN_WAIT_MS 5
/* The reverse-DNS thread's nice value: below the ingest threads, so that
 * on a busy machine its work waits rather than theirs. */
#define DM_ENRICH_DNS_NICE 19
/* Sources whose reverse name is asked per second by default (rdns_rate;
 * two questions each): an import of years of reports does not flood the
 * site's resolver (public ones limit a client to about a thousand
 * questions a second) nor take the CPU from the parsing; what is not
 * asked in time is asked by the fill. */
#define DM_ENRICH_RDNS_RATE 1000
/* The reverse-DNS thread asks in batches of this many milliseconds'
 * worth of rdns_rate: a wake-up per batch, not per question. */
#define DM_ENRICH_BATCH_MS 50
/* A reverse name is asked again after its TTL, but not sooner than this
 * (names with TTLs of seconds would be asked for every report), and a
 * DNS failure after DM_ENRICH_RETRY_TTL seconds. */
#define DM_ENRICH_MIN_TTL 300
#define DM_ENRICH_RETRY_TTL 60
/* How long a report waits for the reverse names of its sources, from its
 * first record: what comes later is left for `dmarcd reenrich`, so a slow
 * or dead DNS server costs each report at most this. */
#define DM_ENRICH_REPORT_WAIT_MS 1000
/* Sources whose ips row a SQLite writer remembers writing (32 bytes
 * each, direct-mapped, a power of two: 2 MiB): a source that comes back
 * batch after batch with the same enrichment is not written again, for
 * DM_STORE_IPS_SEEN_SECS; after that it is written anyway, so a row that
 * another process changed or removed (a pruning, by hand) comes back
 * within that time. */
#define DM_STORE_IPS_SEEN 65536
#define DM_STORE_IPS_SEEN_SECS 3600
/* Sources of one write batch held for the ips table before they are
 * written (about 1 KiB each). */
#define DM_ENRICH_BATCH_IPS 4096
/* Reverse-name questions the DNS thread has out at once: a report of a
 * million sources is asked as fast as the answers come, not a million at
 * once. */
#define DM_ENRICH_MAX_PENDING 512
/* Sources `dmarcd reenrich` asks about at once and writes in one
 * transaction: the DNS questions of a chunk are all out together. */
#define DM_REENRICH_CHUNK 2000
/* `dmarcd serve` fills in the reverse names of the reports of the last
 * days this many days back (older ones: `dmarcd reenrich --missing`), so
 * its rounds stay short however much is stored. */
#define DM_ENRICH_FILL_DAYS 2

/* ---- the ASN database (src/enrich/asn_csv.c, mmdb_write.c) --------------- */

/* A line of an @ip-location-db ASN CSV: two IPv6 addresses (39 bytes
 * each), a 10-digit ASN and an organisation of DM_ASN_CSV_MAX_ORG bytes
 * with its quotes doubled fit; a longer line is an error, not read on. */
#define DM_ASN_CSV_MAX_LINE 1024
/* An AS organisation name in bytes: the longest in the data is 167; a
 * longer one is an error rather than a name cut in the middle.  The same
 * as DM_ENRICH_ORG_MAX, so every name written is stored whole. */
#define DM_ASN_CSV_MAX_ORG 255
/* Rows (address ranges) of one CSV file: the IPv4 file has 412,000, so
 * this leaves tenfold room and bounds what one file makes the writer do. */
#define DM_ASN_CSV_MAX_ROWS 4000000
/* Search-tree nodes the MMDB writer holds (8 bytes each: 256 MiB at the
 * cap); both CSVs together need 1.2 million, 200,000 random unaligned
 * ranges 5.2 million. */
#define DM_MMDB_MAX_NODES (32u * 1024 * 1024)

/* ---- sending services (src/enrich/services.c, data/services.conf) -------- */

/* Services in a services file: the shipped one lists a few hundred; the
 * bound keeps a mistaken or hostile file from costing unbounded memory. */
#define DM_SERVICES_MAX 4096
/* Names of all kinds (ptr, spf and dkim domains, AS numbers) in all
 * services together: a few thousand are real, 16 per service on average
 * leaves room; each costs about 40 bytes of entry and table. */
#define DM_SERVICES_MAX_NAMES 65536
/* Bytes of a services file, which is read whole and kept (names point
 * into it): the shipped one is some tens of KiB. */
#define DM_SERVICES_MAX_FILE (4 * 1024 * 1024)
/* A service name in bytes: short enough for a table column, a log line
 * and a dashboard label. */
#define DM_SERVICE_NAME_MAX 64

/* ---- IMAP pull (src/fetch/fetch.c, `dmarcd fetch`, [fetch]) -------------- */

/* [fetch] sections in one configuration file: a few mailboxes per site;
 * each costs about 9 KiB of struct dm_config. */
/* [account NAME] sections of a configuration file: one per account
 * with settings of its own (retention, alerts, digests; 1.6 KiB each in
 * struct dm_config); accounts without one get the defaults. */
#define DM_CONFIG_MAX_ACCOUNTS 64
#define DM_FETCH_MAX_SOURCES 8
/* Messages fetched from one mailbox in one run; the rest come in the next
 * run.  It bounds the UID list held (8 bytes each plus 16 for its size and
 * flags) and the time one run takes, so a shutdown or the next mailbox
 * does not wait behind a mailbox of a million messages. */
#define DM_FETCH_MAX_PER_RUN 5000
/* One line of an IMAP answer dmarcd parses itself (SEARCH numbers are
 * read as a stream; this bounds FETCH attribute lines and the lines
 * searched for UIDVALIDITY): longer lines are not read further. */
#define DM_FETCH_MAX_LINE 4096
/* Seconds to connect (TCP and TLS), and the longest a transfer may stall
 * (less than 1 byte/s) before the run is given up; the next run goes on
 * from the last message made durable. */
#define DM_FETCH_CONNECT_TIMEOUT 15
#define DM_FETCH_STALL_TIMEOUT 60
/* A mailbox or folder name in a URL or after = move:: real ones are short;
 * it goes into IMAP commands as a quoted string. */
#define DM_FETCH_MAX_MAILBOX 200

/* ---- retention (`dmarcd prune`, serve's prune thread) ---------------------- */

/* Aggregate reports (with their records), TLS reports or failure reports
 * removed per store transaction: the store's lock is held for one batch,
 * so ingestion waits for at most this much work (some tens of
 * milliseconds for 1,000 reports of a few records in SQLite), and a crash
 * loses at most one batch's work, never a report that should stay.
 * DMARCD_PRUNE_BATCH may lower it (tests interrupt a prune mid-way). */
#define DM_PRUNE_BATCH_REPORTS 1000
/* Rollup rows (daily, day_totals, src_day) removed per transaction: rows
 * are small, and a busy domain has tens of thousands per day. */
#define DM_PRUNE_BATCH_ROWS 20000
/* Seconds between prune runs of `dmarcd serve` (prune_interval): at
 * least a minute, since each run scans the reports of every account with
 * a retention. */
#define DM_PRUNE_MIN_INTERVAL 60
/* A half-made pack of the fs archive (new-pack-*: created, not yet locked
 * and named by its writer) is deleted by a prune only once this old
 * (seconds): a writer that lives names it within microseconds. */
#define DM_ARCHIVE_PACK_GRACE 60
/* ClickHouse: the longest a prune waits for its mutations (ALTER TABLE
 * ... DELETE) to be applied before it says so and leaves them running. */
#define DM_CH_PRUNE_WAIT 600

#endif
