/* tlsauth — who is calling: verifies TLS client certificate chains against one CA and its CRL. */
#ifndef PDGATE_TLSAUTH_H
#define PDGATE_TLSAUTH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "apierr.h"
#include "ident.h"

/* Limits on what a client may send: chain length (leaf included) and size of each DER cert. */
#define TLSAUTH_MAX_CHAIN 4
#define TLSAUTH_MAX_DER 16384

/* The URI SAN prefixes that name a principal; the rest must pass ident_name_ok. */
#define TLSAUTH_PARTNER_PREFIX "urn:pdgate:partner:"
#define TLSAUTH_STAFF_PREFIX "urn:pdgate:staff:"

#define TLSAUTH_ID_MAX IDENT_NAME_MAX

/*
 * A trust store: one CA file (its certificates are the only trust anchors: never the system
 * store) and its CRL, plus the URI prefix its principals carry. Safe to share between threads:
 * verification works on a reference-counted snapshot, a reload swaps the snapshot atomically.
 */
struct tlsauth;

/* One certificate as the client sent it (DER). Borrowed. */
struct tlsauth_der {
	const unsigned char *data;
	size_t len;
};

/* Who a verified certificate names. Plain data: copy it freely. */
struct tlsauth_identity {
	char id[TLSAUTH_ID_MAX + 1]; /* partner id or staff name from the URI SAN */
	char fingerprint[65];        /* lowercase hex SHA-256 of the leaf DER */
	unsigned char x5t[32]; /* the same digest as bytes: RFC 8705 x5t#S256 before base64url */
	time_t not_after;      /* the leaf's notAfter */
	time_t recheck_at;     /* the verdict holds until the first notAfter in the chain or
	                          the CRL's nextUpdate, whichever comes first */
	uint64_t generation;   /* trust generation the verdict was reached under */
};

/*
 * Loads a store: ca_path (PEM, one or more CA certificates), crl_path (PEM, a CRL signed by each
 * of them; NULL disables revocation checking, for stores that are configured without a CRL),
 * uri_prefix (TLSAUTH_PARTNER_PREFIX or TLSAUTH_STAFF_PREFIX), label ("partner", "staff": used in
 * messages). Returns the store (caller frees with tlsauth_free) or NULL with a message in err.
 * The paths are copied: tlsauth_load reads the same files again.
 */
struct tlsauth *tlsauth_new(const char *ca_path, const char *crl_path, const char *uri_prefix,
                            const char *label, char *err, size_t errlen);

/*
 * A reload in two steps, so that it can be all or nothing together with other files: load
 * reads the CA and CRL files again into a snapshot, checked as tlsauth_new checks them, and
 * changes nothing; install then puts it in force (and bumps the generation), or
 * tlsauth_snapshot_free drops it. tlsauth_load returns NULL with a message in err on any error
 * (unreadable, unparsable, a CRL not signed by the CA, a CA without a CRL). A CRL already past
 * its nextUpdate loads (it then refuses every certificate, as it must); see
 * tlsauth_crl_next_update.
 */
struct tlsauth_snapshot;
struct tlsauth_snapshot *tlsauth_load(const struct tlsauth *t, char *err, size_t errlen);
/* Takes s. Verifications under way finish on the snapshot they hold. */
void tlsauth_install(struct tlsauth *t, struct tlsauth_snapshot *s);
/* A snapshot not installed; NULL is a no-op. */
void tlsauth_snapshot_free(struct tlsauth_snapshot *s);

/* The current generation: starts at 1, grows by one on every successful reload. Lock-free. */
uint64_t tlsauth_generation(const struct tlsauth *t);

/* The earliest nextUpdate of the loaded CRLs (0 if the store has no CRL): after it, every
 * certificate is refused until a newer CRL is loaded. */
time_t tlsauth_crl_next_update(const struct tlsauth *t);

/*
 * Verifies a chain as sent by the client (chain[0] the leaf, then any intermediates, used only
 * as untrusted helpers) at the current time. Returns APIERR_NONE with *out filled, or
 * APIERR_CLIENT_CERTIFICATE_REQUIRED (n == 0) or APIERR_CERTIFICATE_INVALID with a precise
 * message in err (expired, not yet valid, revoked, unknown CA, wrong purpose, missing
 * clientAuth extended key usage, no or several principal SANs, stale CRL, over the limits).
 * The clientAuth extended key usage is required: a certificate without any EKU is refused.
 */
enum apierr tlsauth_verify(struct tlsauth *t, const struct tlsauth_der *chain, size_t n,
                           struct tlsauth_identity *out, char *err, size_t errlen);

/* One line for the logs: the CA subjects, the number of revoked serials, the CRL's nextUpdate.
 * Writes into buf (always terminated). */
void tlsauth_describe(struct tlsauth *t, char *buf, size_t len);

/* Frees the store (no verification may be running on it). NULL is a no-op. */
void tlsauth_free(struct tlsauth *t);

#endif
