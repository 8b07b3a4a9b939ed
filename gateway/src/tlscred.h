/* tlscred — a listener's own certificate chain and private key, checked, shared by reference. */
#ifndef PDGATE_TLSCRED_H
#define PDGATE_TLSCRED_H

#include <stddef.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

/* At most this many certificates in a chain file (the leaf and its intermediates). */
#define TLSCRED_MAX_CHAIN 8

/*
 * Immutable once loaded. A listener holds one for its new handshakes, and each connection
 * holds the one its handshake was given until it closes: replacing a listener's (SIGHUP)
 * never pulls a certificate from under a connection, and frees nothing that is in use.
 */
struct tlscred;

/*
 * Reads cert_path (PEM: the leaf first, then each certificate's issuer in turn) and key_path
 * (PEM, unencrypted, a file only its owner may read or write) and checks them: every
 * certificate parses, the chain is in order, the key is the leaf's, and every certificate is
 * valid now. Returns the credential holding one reference (tlscred_release), or NULL with
 * "FILE: reason" in err. The key file's bytes are wiped once parsed.
 */
struct tlscred *tlscred_load(const char *cert_path, const char *key_path, char *err, size_t errlen);

/* Takes another reference to c and returns c. Lock-free. */
struct tlscred *tlscred_ref(struct tlscred *c);

/* Drops a reference; the last one frees. NULL is a no-op. */
void tlscred_release(struct tlscred *c);

/* The earliest notAfter of the chain: when clients start refusing it. */
time_t tlscred_not_after(const struct tlscred *c);

/* Lowercase hex SHA-256 of the leaf's DER (64 digits), for the log. Borrowed. */
const char *tlscred_fingerprint(const struct tlscred *c);

/*
 * The chain and key as a GnuTLS certificate callback hands them over (retrieve_function2):
 * borrowed, valid while the caller holds a reference to c. GnuTLS only reads them, and may
 * do so from several handshakes at once.
 */
void tlscred_gnutls(struct tlscred *c, gnutls_pcert_st **chain, unsigned *n, gnutls_privkey_t *key);

#endif
