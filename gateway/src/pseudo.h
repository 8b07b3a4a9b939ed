/* pseudo — pseudonyms per contract and ledger subject references, keyed by the pseudonym secret. */
#ifndef PDGATE_PSEUDO_H
#define PDGATE_PSEUDO_H

#include <stddef.h>

#define PSEUDO_MIN_SECRET 16 /* bytes */
#define PSEUDO_HEX 32        /* hex digits of a pseudonym: 128 bits */
#define PSEUDO_SUBJECT_HEX 64

/*
 * Key derivation (documented in docs/contracts.md, fixed: changing it changes every pseudonym
 * and every subject reference already in the ledger):
 *   contract key  K_c = HMAC-SHA256(secret, "pdgate pseudonym v1" 0x00 contract_id)
 *   pseudonym         = first 32 hex digits of HMAC-SHA256(K_c, value)
 *   subject key   K_s = HMAC-SHA256(secret, "pdgate subject v1" 0x00)
 *   subject           = 64 hex digits of HMAC-SHA256(K_s, member_id)
 * Lowercase hex. Stable for one contract, unlinkable across contracts without the secret.
 */

struct pseudo;

/* Holds a copy of the secret (the whole content of keys/pseudonym.key, as is). NULL if it is
 * shorter than PSEUDO_MIN_SECRET bytes or memory runs out. Caller frees with pseudo_free,
 * which wipes it. */
struct pseudo *pseudo_new(const void *secret, size_t len);
void pseudo_free(struct pseudo *p);

/* The secret read from its key file (at most PSEUDO_MAX_SECRET bytes, refused if group or others
 * may read it) into pseudo_new; the copy read is wiped. NULL with the reason in err. */
#define PSEUDO_MAX_SECRET 4096
struct pseudo *pseudo_load(const char *path, char *err, size_t errlen);

/* A contract's pseudonym key; wipe it with pseudo_key_wipe when done. */
struct pseudo_key {
	unsigned char k[32];
};

/* Derives K_c for a contract id. Returns 0 / -1. */
int pseudo_contract_key(const struct pseudo *p, const char *contract_id, struct pseudo_key *out);
void pseudo_key_wipe(struct pseudo_key *k);

/* The pseudonym of value[0..len) under k into out (NUL-terminated). Returns 0 / -1. */
int pseudo_apply(const struct pseudo_key *k, const char *value, size_t len,
                 char out[PSEUDO_HEX + 1]);

/*
 * A contract's pseudonyms from a context keyed once with K_c: each pseudonym then costs a copy
 * of that context and one HMAC pass, not a key schedule. The same values as pseudo_apply.
 * pseudo_mac_new returns NULL if the id is over 128 bytes or memory runs out; caller frees with
 * pseudo_mac_free (NULL is a no-op), which wipes the keyed state. pseudo_mac_apply may run on
 * many threads at once on one context; returns 0 / -1.
 */
struct pseudo_mac;
struct pseudo_mac *pseudo_mac_new(const struct pseudo *p, const char *contract_id);
void pseudo_mac_free(struct pseudo_mac *m);
int pseudo_mac_apply(const struct pseudo_mac *m, const char *value, size_t len,
                     char out[PSEUDO_HEX + 1]);

/* The ledger's subject reference of a member id into out (NUL-terminated). Returns 0 / -1. */
int pseudo_subject(const struct pseudo *p, const char *member_id, char out[PSEUDO_SUBJECT_HEX + 1]);

#endif
