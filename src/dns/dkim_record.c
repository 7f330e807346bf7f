/*
 * dkim_record.c - a DKIM key record read tag by tag (dkim_record.h), as
 * RFC 6376 §3.2 (tag lists) and §3.6.1 (key records), RFC 8301 (key
 * sizes, no sha1) and RFC 8463 (Ed25519) define it.
 *
 * Functions: dm_dkim_record_parse, dm_dkim_record_json.  Nothing is
 * logged: problems are findings.
 *
 * The text is split at ';' (a value never holds one); each part is
 * "tag = value" with whitespace allowed around both, a tag name ALPHA
 * *(ALPHA / DIGIT / "_") and a value printable ASCII.  Tag names compare
 * with case, as §3.2 says; keyword values without.  Every tag is read
 * first, then judged: the key in p= is read as k= says, with OpenSSL (a
 * SubjectPublicKeyInfo, or a bare PKCS#1 RSAPublicKey, for rsa; 32 raw
 * bytes for ed25519).  A tag given twice makes the record invalid (§3.2);
 * the first is read.  A text that has neither v=DKIM1 first nor a p= tag
 * is no key record: it gets the finding not_dkim alone; one whose first
 * tag is v= with another value is discarded by verifiers, and gets
 * bad_version alone.  Messages quote record text only as
 * dm_finding_quote allows.
 */
#include "dns/dkim_record.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/json.h"

static void DM_PRINTF(4, 5) finding(struct dm_dkim_record *r, enum dm_finding_severity s,
                                    const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dm_finding_vadd(r->findings, &r->nfindings, &r->nerrors, &r->findings_dropped, s, code, fmt,
	                ap);
	va_end(ap);
}

/* Whitespace of a tag list: WSP, and the CR LF of FWS. */
static int
wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* s[0..n) equals the keyword kw, without case. */
static int
word_is(const char *s, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(s, kw, n) == 0;
}

/* s[0..n) into out (outlen bytes) lower-cased, printable only (other
 * whitespace as ' ', other bytes as '?'); cut with "..." when it does not
 * fit. */
static void
keep(char *out, size_t outlen, const char *s, size_t n)
{
	size_t k = n < outlen ? n : outlen - 4;
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c >= 0x20 && c < 0x7f ? (char)tolower(c) : wsp((char)c) ? ' ' : '?';
	}
	if (k < n) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

/* The next item of the colon list v[0..n) from *at, whitespace trimmed;
 * 0 when the list is done.  An empty value is one empty item. */
static int
list_item(const char *v, size_t n, size_t *at, const char **item, size_t *ilen)
{
	if (*at > n)
		return 0;
	size_t s = *at, e = s;
	while (e < n && v[e] != ':')
		e++;
	*at = e + 1;
	size_t t = e;
	while (s < t && wsp(v[s]))
		s++;
	while (t > s && wsp(v[t - 1]))
		t--;
	*item = v + s;
	*ilen = t - s;
	return 1;
}

enum { TAG_V, TAG_H, TAG_K, TAG_N, TAG_P, TAG_S, TAG_T, TAG_COUNT };
static const char *const tag_names[TAG_COUNT] = {"v", "h", "k", "n", "p", "s", "t"};

/* What the first pass keeps of each known tag: its value (trimmed), its
 * place among the record's tags, and whether its bytes are all allowed. */
struct tags {
	int seen[TAG_COUNT];
	int ok[TAG_COUNT];
	size_t index[TAG_COUNT];
	const char *val[TAG_COUNT];
	size_t vlen[TAG_COUNT];
};

/* h=: sha256 and sha1 are the algorithms RFC 6376 and RFC 8463 know. */
static void
hash_list(struct dm_dkim_record *r, const char *v, size_t n)
{
	char q[DM_FINDING_QUOTE + 4];
	int sha1 = 0, sha256 = 0, other = 0, empty = 0;
	const char *item;
	size_t at = 0, il;
	while (list_item(v, n, &at, &item, &il)) {
		if (il == 0)
			empty = 1;
		else if (word_is(item, il, "sha256"))
			sha256 = 1;
		else if (word_is(item, il, "sha1"))
			sha1 = 1;
		else
			other = 1;
	}
	if (empty)
		finding(r, DM_FINDING_ERROR, "syntax", "h=%s: an empty item in the colon list",
		        dm_finding_quote(q, v, n));
	if (sha1 && !sha256)
		finding(r, DM_FINDING_ERROR, "sha1_only",
		        "h=%s: only sha1, which RFC 8301 forbids; verifiers fail every signature",
		        dm_finding_quote(q, v, n));
	else if (sha1)
		finding(r, DM_FINDING_INFO, "sha1_listed",
		        "h=%s: sha1 is listed; RFC 8301 forbids signing with it",
		        dm_finding_quote(q, v, n));
	else if (!sha256 && other)
		finding(r, DM_FINDING_WARNING, "unknown_hash",
		        "h=%s: neither sha256 nor sha1; no verifier can use this key",
		        dm_finding_quote(q, v, n));
}

/* s=: a colon list of service types; * or email lets it sign mail. */
static void
service_list(struct dm_dkim_record *r, const char *v, size_t n)
{
	char q[DM_FINDING_QUOTE + 4];
	int mail = 0, empty = 0;
	const char *item;
	size_t at = 0, il;
	while (list_item(v, n, &at, &item, &il)) {
		if (il == 0)
			empty = 1;
		else if (word_is(item, il, "*") || word_is(item, il, "email"))
			mail = 1;
	}
	if (empty && n > 0)
		finding(r, DM_FINDING_ERROR, "syntax", "s=%s: an empty item in the colon list",
		        dm_finding_quote(q, v, n));
	if (!mail)
		finding(r, DM_FINDING_ERROR, "service_not_email",
		        "s=%s: neither * nor email; verifiers do not use this key for mail",
		        dm_finding_quote(q, v, n));
}

/* t=: a colon list of flags, y (testing) and s (strict). */
static void
flag_list(struct dm_dkim_record *r, const char *v, size_t n)
{
	char q[DM_FINDING_QUOTE + 4];
	int strict = 0, empty = 0;
	const char *item;
	size_t at = 0, il;
	while (list_item(v, n, &at, &item, &il)) {
		if (il == 0)
			empty = 1;
		else if (word_is(item, il, "y"))
			r->testing = 1;
		else if (word_is(item, il, "s"))
			strict = 1;
		else
			finding(r, DM_FINDING_WARNING, "bad_flag",
			        "t: '%s' is not a flag RFC 6376 defines (y, s); ignored",
			        dm_finding_quote(q, item, il));
	}
	if (empty)
		finding(r, DM_FINDING_ERROR, "syntax", "t=%s: an empty item in the colon list",
		        dm_finding_quote(q, v, n));
	if (r->testing)
		finding(r, DM_FINDING_INFO, "testing",
		        "t=y: the domain is testing DKIM; verifiers may treat failures as "
		        "unsigned");
	if (strict)
		finding(r, DM_FINDING_INFO, "strict",
		        "t=s: the i= domain of a signature must equal d=, no subdomain");
}

static int
b64_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Base64 s[0..n) (no whitespace, padded to a multiple of 4) into out (at
 * least n / 4 * 3 bytes); the length, or -1 when it is not base64. */
static long
base64_decode(const char *s, size_t n, unsigned char *out)
{
	if (n == 0 || n % 4 != 0)
		return -1;
	size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		uint32_t acc = 0;
		for (size_t k = 0; k < 4; k++) {
			int d = last && k >= 4 - pad ? 0 : b64_digit((unsigned char)s[i + k]);
			if (d < 0)
				return -1;
			acc = acc << 6 | (uint32_t)d;
		}
		out[o++] = (unsigned char)(acc >> 16);
		if (!last || pad < 2)
			out[o++] = (unsigned char)(acc >> 8);
		if (!last || pad < 1)
			out[o++] = (unsigned char)acc;
	}
	return (long)o;
}

/* The name of a key OpenSSL read, for a message. */
static const char *
key_name(const EVP_PKEY *pk)
{
	const char *name = EVP_PKEY_get0_type_name(pk);
	return name ? name : "unknown";
}

/* An RSA key: a SubjectPublicKeyInfo as RFC 6376 says, or the bare
 * PKCS#1 RSAPublicKey some publish (d2i_PublicKey reads that for RSA; the
 * older d2i_RSAPublicKey is deprecated in OpenSSL 3). */
static void
rsa_key(struct dm_dkim_record *r, const unsigned char *der, long n)
{
	const unsigned char *p = der;
	int pkcs1 = 0;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, n);
	if (!pk) {
		p = der;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, n);
		pkcs1 = pk != NULL;
	}
	ERR_clear_error(); /* a failed decode leaves errors in the thread's queue */
	if (!pk) {
		finding(r, DM_FINDING_ERROR, "bad_key",
		        "p= (%ld bytes) is not an RSA public key (SubjectPublicKeyInfo)", n);
		return;
	}
	if (!EVP_PKEY_is_a(pk, "RSA")) {
		finding(r, DM_FINDING_ERROR, "bad_key",
		        "p= holds a key of type %.20s, but k= says rsa", key_name(pk));
		EVP_PKEY_free(pk);
		return;
	}
	r->bits = EVP_PKEY_get_bits(pk);
	EVP_PKEY_free(pk);
	if (r->bits < 0)
		r->bits = 0;
	if (pkcs1)
		finding(r, DM_FINDING_INFO, "pkcs1_key",
		        "p= is a bare PKCS#1 RSAPublicKey, not the SubjectPublicKeyInfo RFC 6376 "
		        "asks for; some verifiers reject it");
	if (r->bits < 1024)
		finding(r, DM_FINDING_ERROR, "rsa_too_short",
		        "RSA key of %d bits: RFC 8301 verifiers must not accept keys below 1024",
		        r->bits);
	else if (r->bits < 2048)
		finding(r, DM_FINDING_WARNING, "rsa_1024",
		        "RSA key of %d bits: RFC 8301 recommends 2048 or more; many receivers "
		        "treat shorter keys as weak",
		        r->bits);
}

/* An Ed25519 key: its 32 raw bytes (RFC 8463 §4.2). */
static void
ed25519_key(struct dm_dkim_record *r, const unsigned char *der, long n)
{
	if (n == 32) {
		r->bits = 256;
		return;
	}
	/* a common mistake: the key as a SubjectPublicKeyInfo */
	const unsigned char *p = der;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, n);
	ERR_clear_error();
	if (pk && EVP_PKEY_is_a(pk, "ED25519"))
		finding(r, DM_FINDING_ERROR, "bad_key",
		        "p= is an Ed25519 SubjectPublicKeyInfo of %ld bytes; RFC 8463 publishes "
		        "the 32 raw bytes of the key",
		        n);
	else
		finding(r, DM_FINDING_ERROR, "bad_key",
		        "p= is %ld bytes; an Ed25519 key is 32 (RFC 8463)", n);
	EVP_PKEY_free(pk);
}

/* p= and k= together: the key, as the type k= names. */
static void
key(struct dm_dkim_record *r, const struct tags *tg)
{
	char q[DM_FINDING_QUOTE + 4];
	const char *v = tg->val[TAG_P];
	size_t n = tg->vlen[TAG_P];
	if (!tg->seen[TAG_P]) {
		finding(r, DM_FINDING_ERROR, "missing_p",
		        "no p= tag: RFC 6376 requires it; verifiers find no key here");
		return;
	}
	if (!tg->ok[TAG_P] || (tg->seen[TAG_K] && !tg->ok[TAG_K]))
		return; /* said as syntax */
	if (n == 0) {
		r->revoked = 1;
		finding(r, DM_FINDING_WARNING, "revoked",
		        "p= is empty: the key is revoked; mail signed with this selector fails "
		        "DKIM");
		return;
	}
	const char *kt = tg->seen[TAG_K] ? tg->val[TAG_K] : "rsa";
	size_t kn = tg->seen[TAG_K] ? tg->vlen[TAG_K] : 3;
	int rsa = word_is(kt, kn, "rsa"), ed = word_is(kt, kn, "ed25519");
	keep(r->key_type, sizeof r->key_type, kt, kn);
	if (!rsa && !ed) {
		finding(r, DM_FINDING_ERROR, "unknown_key_type",
		        "k=%s: neither rsa nor ed25519; verifiers cannot use this key",
		        dm_finding_quote(q, kt, kn));
		return;
	}
	/* whitespace in p= is ignored: long keys come in several strings */
	char b64[DM_DKIM_MAX_RECORD];
	unsigned char der[DM_DKIM_MAX_RECORD / 4 * 3 + 3];
	size_t bn = 0;
	for (size_t i = 0; i < n; i++)
		if (!wsp(v[i]))
			b64[bn++] = v[i];
	long dn = base64_decode(b64, bn, der);
	if (dn < 0) {
		finding(r, DM_FINDING_ERROR, "bad_base64", "p=%s: not base64",
		        dm_finding_quote(q, v, n));
		return;
	}
	if (rsa)
		rsa_key(r, der, dn);
	else
		ed25519_key(r, der, dn);
}

/* The second pass: every known tag judged, in an order that does not
 * depend on the record's. */
static void
judge(struct dm_dkim_record *r, const struct tags *tg)
{
	char q[DM_FINDING_QUOTE + 4];
	if (tg->seen[TAG_V]) {
		const char *v = tg->val[TAG_V];
		size_t n = tg->vlen[TAG_V];
		if (tg->ok[TAG_V])
			keep(r->v, sizeof r->v, v, n);
		if (tg->index[TAG_V] != 0)
			finding(r, DM_FINDING_ERROR, "v_not_first",
			        "v= is not the first tag: RFC 6376 requires it there");
		if (tg->ok[TAG_V] && (n != 5 || memcmp(v, "DKIM1", 5) != 0))
			finding(r, DM_FINDING_ERROR, "bad_version",
			        "v=%s: not DKIM1; verifiers discard the record",
			        dm_finding_quote(q, v, n));
	}
	if (tg->seen[TAG_K] && tg->ok[TAG_K])
		keep(r->k, sizeof r->k, tg->val[TAG_K], tg->vlen[TAG_K]);
	if (tg->seen[TAG_H] && tg->ok[TAG_H]) {
		keep(r->h, sizeof r->h, tg->val[TAG_H], tg->vlen[TAG_H]);
		hash_list(r, tg->val[TAG_H], tg->vlen[TAG_H]);
	}
	if (tg->seen[TAG_S] && tg->ok[TAG_S]) {
		keep(r->s, sizeof r->s, tg->val[TAG_S], tg->vlen[TAG_S]);
		service_list(r, tg->val[TAG_S], tg->vlen[TAG_S]);
	}
	if (tg->seen[TAG_T] && tg->ok[TAG_T]) {
		keep(r->t, sizeof r->t, tg->val[TAG_T], tg->vlen[TAG_T]);
		flag_list(r, tg->val[TAG_T], tg->vlen[TAG_T]);
	}
	key(r, tg);
}

/* A tag that is not one of tag_names: said, and ignored as RFC 6376
 * says. */
static void
unknown_tag(struct dm_dkim_record *r, const char *name, size_t n)
{
	char q[DM_FINDING_QUOTE + 4];
	dm_finding_quote(q, name, n);
	int known_lower = 0;
	for (int k = 0; k < TAG_COUNT; k++)
		known_lower |= n == 1 && tolower((unsigned char)name[0]) == tag_names[k][0];
	if (n == 1 && name[0] == 'g')
		finding(r, DM_FINDING_INFO, "unknown_tag",
		        "g= (the granularity of RFC 4871) was removed by RFC 6376; ignored");
	else if (known_lower)
		finding(r, DM_FINDING_INFO, "unknown_tag",
		        "%s= is no tag of RFC 6376, whose tag names are case-sensitive (%c= is "
		        "meant?); ignored",
		        q, tolower((unsigned char)name[0]));
	else
		finding(r, DM_FINDING_INFO, "unknown_tag",
		        "%s= is a tag RFC 6376 does not define; ignored", q);
}

void
dm_dkim_record_parse(const char *text, size_t len, struct dm_dkim_record *r)
{
	char q[DM_FINDING_QUOTE + 4];
	memset(r, 0, sizeof *r);
	if (len > DM_DKIM_MAX_RECORD) {
		finding(r, DM_FINDING_ERROR, "too_long",
		        "the record is %zu bytes long; no DKIM key record is over %d", len,
		        DM_DKIM_MAX_RECORD);
		return;
	}
	struct tags tg;
	memset(&tg, 0, sizeof tg);
	/* the names of unknown tags, to find one given twice: a tag takes 3
	 * bytes at least ("x=;"), so there are fewer than this */
	uint16_t uoff[DM_DKIM_MAX_RECORD / 2 + 1], ulen[DM_DKIM_MAX_RECORD / 2 + 1];
	size_t nunknown = 0, index = 0;
	for (size_t i = 0; i <= len;) {
		size_t e = i;
		while (e < len && text[e] != ';')
			e++;
		int semi = e < len;
		size_t s = i, t = e;
		i = e + 1;
		while (s < t && wsp(text[s]))
			s++;
		while (t > s && wsp(text[t - 1]))
			t--;
		if (s == t) {
			/* only the part after a trailing ';' may be empty */
			if (semi)
				finding(r, DM_FINDING_ERROR, "syntax",
				        "an empty tag between two ';' (or before the first)");
			continue;
		}
		/* the name: ALPHA *(ALPHA / DIGIT / "_") */
		size_t ne = s;
		if (isalpha((unsigned char)text[s])) {
			ne++;
			while (ne < t && (isalnum((unsigned char)text[ne]) || text[ne] == '_'))
				ne++;
		}
		size_t eq = ne;
		while (eq < t && wsp(text[eq]))
			eq++;
		if (ne == s || eq == t || text[eq] != '=') {
			finding(r, DM_FINDING_ERROR, "syntax", "'%s' is not tag=value",
			        dm_finding_quote(q, text + s, t - s));
			index++;
			continue;
		}
		size_t vs = eq + 1;
		while (vs < t && wsp(text[vs]))
			vs++;
		const char *name = text + s, *v = text + vs;
		size_t nn = ne - s, vn = t - vs;
		int ok = 1;
		for (size_t k = 0; k < vn && ok; k++) {
			unsigned char c = (unsigned char)v[k];
			ok = (c > 0x20 && c < 0x7f) || wsp((char)c);
		}
		if (!ok)
			finding(r, DM_FINDING_ERROR, "syntax",
			        "%s: a value with bytes that are not printable ASCII",
			        dm_finding_quote(q, name, nn));
		int tag = TAG_COUNT;
		for (int k = 0; k < TAG_COUNT; k++)
			if (nn == 1 && name[0] == tag_names[k][0])
				tag = k;
		if (tag == TAG_COUNT) {
			int twice = 0;
			for (size_t k = 0; k < nunknown && !twice; k++)
				twice = ulen[k] == nn && memcmp(text + uoff[k], name, nn) == 0;
			if (twice) {
				finding(r, DM_FINDING_ERROR, "duplicate_tag",
				        "%s= is given twice: RFC 6376 makes the record invalid",
				        dm_finding_quote(q, name, nn));
			} else {
				if (nunknown < sizeof uoff / sizeof uoff[0]) {
					uoff[nunknown] = (uint16_t)s;
					ulen[nunknown++] = (uint16_t)nn;
				}
				unknown_tag(r, name, nn);
			}
		} else if (tg.seen[tag]) {
			finding(r, DM_FINDING_ERROR, "duplicate_tag",
			        "%s= is given twice: RFC 6376 makes the record invalid (the first "
			        "is read)",
			        tag_names[tag]);
		} else {
			tg.seen[tag] = 1;
			tg.ok[tag] = ok;
			tg.index[tag] = index;
			tg.val[tag] = v;
			tg.vlen[tag] = vn;
		}
		index++;
	}
	int v_first = tg.seen[TAG_V] && tg.index[TAG_V] == 0 && tg.ok[TAG_V] &&
	              tg.vlen[TAG_V] == 5 && memcmp(tg.val[TAG_V], "DKIM1", 5) == 0;
	if (!v_first && !tg.seen[TAG_P]) {
		memset(r, 0, sizeof *r);
		finding(r, DM_FINDING_ERROR, "not_dkim",
		        "neither v=DKIM1 first nor a p= tag: not a DKIM key record");
		return;
	}
	if (tg.seen[TAG_V] && tg.index[TAG_V] == 0 && !v_first) {
		/* verifiers discard it (§3.6.1): nothing else matters */
		memset(r, 0, sizeof *r);
		if (tg.ok[TAG_V])
			keep(r->v, sizeof r->v, tg.val[TAG_V], tg.vlen[TAG_V]);
		finding(r, DM_FINDING_ERROR, "bad_version",
		        "v=%s: not DKIM1; verifiers discard the record",
		        dm_finding_quote(q, tg.val[TAG_V], tg.vlen[TAG_V]));
		return;
	}
	r->is_dkim = v_first || !tg.seen[TAG_V];
	judge(r, &tg);
	r->valid = r->nerrors == 0;
}

void
dm_dkim_record_json(const struct dm_dkim_record *r, struct dm_json *j)
{
	dm_json_obj_begin(j);
	dm_json_key(j, "is_dkim");
	dm_json_bool(j, r->is_dkim);
	dm_json_key(j, "valid");
	dm_json_bool(j, r->valid);
	dm_json_key(j, "tags");
	dm_json_obj_begin(j);
	dm_json_key_str_or_null(j, "v", r->v);
	dm_json_key_str_or_null(j, "k", r->k);
	dm_json_key_str_or_null(j, "h", r->h);
	dm_json_key_str_or_null(j, "s", r->s);
	dm_json_key_str_or_null(j, "t", r->t);
	dm_json_obj_end(j);
	dm_json_key_str_or_null(j, "key_type", r->key_type);
	dm_json_key(j, "bits");
	if (r->bits > 0)
		dm_json_int(j, r->bits);
	else
		dm_json_null(j);
	dm_json_key(j, "revoked");
	dm_json_bool(j, r->revoked);
	dm_json_key(j, "testing");
	dm_json_bool(j, r->testing);
	dm_findings_json(j, r->findings, r->nfindings);
	dm_json_obj_end(j);
}
