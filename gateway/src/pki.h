/* pki — keys and certificates of a pdgate installation, made with the OpenSSL 3 API. */
#ifndef PDGATE_PKI_H
#define PDGATE_PKI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Lifetimes in days; certs/README.md explains the choice. */
#define PKI_DAYS_CA 3650    /* 10 years: CAs are replaced deliberately, not by expiry */
#define PKI_DAYS_SERVER 730 /* 2 years */
#define PKI_DAYS_CLIENT 397 /* the CA/Browser Forum ceiling, a habit worth keeping */
#define PKI_DAYS_CRL 30     /* nextUpdate of a freshly signed CRL */

/* "sha256:" + 64 lowercase hex digits + NUL. */
#define PKI_FINGERPRINT_LEN 72
/* A serial of up to 20 octets (RFC 5280) in hex, a sign, NUL. */
#define PKI_SERIAL_HEX_LEN 43
/* A partner id or staff name and its NUL. */
#define PKI_NAME_LEN 64
/* The certificate profiles. certs/profiles.cnf spells the same ones as OpenSSL sections. */
enum pki_profile {
	PKI_PROFILE_CA,      /* v3_ca: CA:true pathlen:0, keyCertSign + cRLSign */
	PKI_PROFILE_SERVER,  /* v3_server: serverAuth, DNS:localhost, IP:127.0.0.1, IP:::1 (or the
	                        hosts of pki_make_server) */
	PKI_PROFILE_PARTNER, /* v3_partner_client: clientAuth, URI:urn:pdgate:partner:NAME */
	PKI_PROFILE_STAFF,   /* v3_staff_client: clientAuth, URI:urn:pdgate:staff:NAME */
};

/* A new EC P-256 key (CAs, certificates, the token key), or NULL. Caller frees (EVP_PKEY_free). */
EVP_PKEY *pki_key_ec(void);
/* A new Ed25519 key (the ledger key), or NULL. Caller frees. */
EVP_PKEY *pki_key_ed25519(void);

/*
 * Writes the private key as unencrypted PKCS#8 PEM into a new file created with mode 0600
 * (O_EXCL: an existing file is an error, never overwritten). Returns 0, or -1 with err set.
 */
int pki_key_write(const char *path, EVP_PKEY *key, char *err, size_t errlen);
/* Writes the public half as SubjectPublicKeyInfo PEM into a new file (mode 0644). 0 or -1. */
int pki_pub_write(const char *path, EVP_PKEY *key, char *err, size_t errlen);
/* Reads a PEM private key; refuses a file that group or others may read or write. Caller frees. */
EVP_PKEY *pki_key_read(const char *path, char *err, size_t errlen);

/* Reads a certificate (PEM, or DER), at most 1 MiB. NULL with err on failure. Caller frees. */
X509 *pki_cert_read(const char *path, char *err, size_t errlen);

/* Writes the certificate as PEM into a new file (mode 0644, O_EXCL). 0 or -1. */
int pki_cert_write(const char *path, X509 *cert, char *err, size_t errlen);

/* A self-signed CA certificate "CN=<cn>" for key, valid `days` days. Caller frees (X509_free). */
X509 *pki_ca_new(const char *cn, EVP_PKEY *key, unsigned days, char *err, size_t errlen);

/*
 * Issues a leaf certificate of `profile` (not PKI_PROFILE_CA) for the public key of `key`,
 * signed by ca/ca_key, with a random 128-bit serial. `name` is the CN (partner id, staff name,
 * or the server's host name) and, for client profiles, the URN in the URI SAN; client names
 * must pass ident_name_ok. Caller frees.
 */
X509 *pki_issue(enum pki_profile profile, const char *name, EVP_PKEY *key, X509 *ca,
                EVP_PKEY *ca_key, unsigned days, char *err, size_t errlen);

/*
 * Makes a CA in PREFIX.key and PREFIX.pem (and PREFIX.crl, an empty CRL, when with_crl:
 * pki_crl_create).
 * New files only. On success returns 0 and, when ca_out/key_out are not NULL, the certificate
 * and key (caller frees). On failure -1 with err, and the files it created are removed.
 */
int pki_make_ca(const char *prefix, const char *cn, int with_crl, X509 **ca_out, EVP_PKEY **key_out,
                char *err, size_t errlen);

/*
 * Makes a fresh key and a leaf certificate of `profile` in PREFIX.key (0600) and PREFIX.pem.
 * Refuses when either file exists. Writes the certificate's fingerprint ("sha256:…") into
 * fingerprint when not NULL. 0, or -1 with err and nothing left behind.
 */
int pki_make_leaf(const char *prefix, enum pki_profile profile, const char *name, X509 *ca,
                  EVP_PKEY *ca_key, unsigned days, char fingerprint[PKI_FINGERPRINT_LEN], char *err,
                  size_t errlen);

/* A server certificate names at most this many hosts. */
#define PKI_MAX_HOSTS 32

/* What a server's name is, for its certificate's subjectAltName. */
enum pki_host {
	PKI_HOST_BAD = 0, /* neither: refused */
	PKI_HOST_DNS,     /* a lower-case RFC 1123 host name, no wildcard, no trailing dot */
	PKI_HOST_IP,      /* an IPv4 or IPv6 address as inet_pton(3) reads it */
};
enum pki_host pki_host_kind(const char *s);
/* NULL if s is a host a server certificate may name (not PKI_HOST_BAD), else why not ("upper-case
 * letters: …", "a wildcard: …", "the unspecified address names no server", …). */
const char *pki_host_problem(const char *s);

/*
 * Makes a fresh key and a server certificate (PKI_PROFILE_SERVER, CN cn) in PREFIX.key and
 * PREFIX.pem whose subjectAltName is exactly hosts[0..nhosts), 1 <= nhosts <= PKI_MAX_HOSTS,
 * in that order: a DNS name as dNSName, an address as iPAddress (each must pass
 * pki_host_kind). Otherwise as pki_make_leaf. 0, or -1 with err and nothing left behind.
 */
int pki_make_server(const char *prefix, const char *cn, const char *const *hosts, size_t nhosts,
                    X509 *ca, EVP_PKEY *ca_key, unsigned days, char *err, size_t errlen);

/* The certificate of pki_make_server for the public key of key, in memory (no file): for a
 * caller that records it before writing it. Each host once. Caller frees; NULL with err. */
X509 *pki_issue_server(EVP_PKEY *key, const char *cn, const char *const *hosts, size_t nhosts,
                       X509 *ca, EVP_PKEY *ca_key, unsigned days, char *err, size_t errlen);

/*
 * Writes key into PREFIX.key (0600; skipped when key is NULL) and cert into PREFIX.pem, new
 * files only (O_EXCL). 0, or -1 with err and neither file left behind.
 */
int pki_leaf_write(const char *prefix, X509 *cert, EVP_PKEY *key, char *err, size_t errlen);

/* The serial of cert in upper-case hex, as `openssl x509 -serial` shows it. 0 or -1. */
int pki_serial_hex(X509 *cert, char out[PKI_SERIAL_HEX_LEN]);
/* The id of cert's one URI SAN that begins with prefix ("urn:pdgate:partner:"), if it passes
 * ident_name_ok, into out. 0, or -1 (none, several, malformed) with out empty. */
int pki_uri_id(X509 *cert, const char *prefix, char out[PKI_NAME_LEN]);
/* The DNS and IP subjectAltNames of cert, comma-separated, into out. 0, or -1 if it has none or
 * they do not fit. */
int pki_san_text(X509 *cert, char *out, size_t outlen);
/* t as Unix seconds. 0 or -1. */
int pki_time_unix(const ASN1_TIME *t, int64_t *out);

/* "sha256:" and the lowercase hex of SHA-256 of the DER certificate. 0 or -1. */
int pki_fingerprint(X509 *cert, char out[PKI_FINGERPRINT_LEN]);

/*
 * Writes the C2SP signed-note verifier key of an Ed25519 key and a newline into a new file (mode
 * 0644): "<name>+<8 hex key id>+<base64(0x01 || public key)>", key id = first 4 bytes of
 * SHA-256(name || "\n" || 0x01 || public key). name must be printable ASCII without spaces or
 * '+'. 0 or -1.
 */
int pki_vkey_write(const char *path, const char *name, EVP_PKEY *key, char *err, size_t errlen);

/* Writes 32 random bytes as 64 hex digits and a newline into a new file of mode 0600. 0 or -1. */
int pki_secret_write(const char *path, char *err, size_t errlen);

#endif
